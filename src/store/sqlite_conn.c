/* The SQLite back end's connection machinery: see sqlite_conn.h. Nothing here opens SQLite's
 * files behind its back (private_files creates the database file only while it does not exist):
 * closing any descriptor of a file drops every POSIX lock the process holds on it, SQLite's
 * included. */
#include "store/sqlite_conn.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/fsperm.h"
#include "base/log.h"
#include "migrations.h"

/* --- connections ------------------------------------------------------------------------------ */

static void conn_close(struct sq_conn *c)
{
    for (int i = 0; c->stmt != NULL && i < c->nsql; i++)
        sqlite3_finalize(c->stmt[i]);
    for (int i = 0; i < 3; i++)
        sqlite3_finalize(c->tx[i]);
    free(c->stmt);
    sqlite3_close_v2(c->db);
    free(c);
}

/* Waits for another process's write lock in short steps (20 µs at first, then 200 µs) for up to
 * about 5 s, instead of SQLite's default sleeps of up to 100 ms. */
static int busy_wait(void *arg, int count)
{
    (void)arg;
    if (count > 25000)
        return 0;
    struct timespec ts = {0, count < 10 ? 20 * 1000 : 200 * 1000};
    nanosleep(&ts, NULL);
    return 1;
}

static int conn_open(struct sq_db *d, const char *const *sql, int nsql, struct sq_conn **out,
                     struct vk_err *err)
{
    const char *path = d->path;
    struct sq_conn *c = calloc(1, sizeof *c);
    *out = NULL;
    if (c == NULL)
        return vk_err_set(err, VK_ENOMEM, "out of memory");
    c->sql = sql;
    c->nsql = nsql;
    c->health = &d->health;
    if (nsql > 0 && (c->stmt = calloc((size_t)nsql, sizeof *c->stmt)) == NULL) {
        free(c);
        return vk_err_set(err, VK_ENOMEM, "out of memory");
    }
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    if (sqlite3_open_v2(path, &c->db, flags, NULL) != SQLITE_OK) {
        vk_err_set(err, VK_ESTORE, "cannot open %s: %s", path,
                   c->db ? sqlite3_errmsg(c->db) : "out of memory");
        conn_close(c);
        return VK_ESTORE;
    }
    c->write_mu = &d->write_mu;
    sqlite3_busy_handler(c->db, busy_wait, NULL);
    sqlite3_extended_result_codes(c->db, 1);
    char *msg = NULL;
    if (sqlite3_exec(c->db,
                     "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA journal_size_limit=16777216; "
                     "PRAGMA foreign_keys=ON; PRAGMA trusted_schema=OFF;",
                     NULL, NULL, &msg) != SQLITE_OK) {
        vk_err_set(err, VK_ESTORE, "cannot configure %s: %s", path, msg ? msg : "?");
        sqlite3_free(msg);
        conn_close(c);
        return VK_ESTORE;
    }
    *out = c;
    return VK_OK;
}

sqlite3_stmt *sq_stmt(struct sq_conn *c, int id)
{
    if (id < 0 || id >= c->nsql)
        return NULL;
    if (c->stmt[id] == NULL) {
        if (sqlite3_prepare_v3(c->db, c->sql[id], -1, SQLITE_PREPARE_PERSISTENT, &c->stmt[id],
                               NULL) != SQLITE_OK) {
            vk_log_error("event=store.prepare_failed stmt=%d err=\"%s\"", (int)id,
                         sqlite3_errmsg(c->db));
            return NULL;
        }
    }
    return c->stmt[id];
}

int sq_step_done(sqlite3_stmt *st)
{
    int r = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (r == SQLITE_DONE || r == SQLITE_ROW)
        return VK_OK;
    if ((r & 0xff) == SQLITE_CONSTRAINT)
        return VK_EEXIST;
    return VK_ESTORE;
}

void sq_finish(sqlite3_stmt *st)
{
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
}

int sq_exec(struct sq_conn *c, int id)
{
    sqlite3_stmt *st = sq_stmt(c, id);
    return st != NULL ? sq_step_done(st) : VK_ESTORE;
}

/* BEGIN IMMEDIATE, COMMIT or ROLLBACK (k = 0, 1, 2), prepared once per connection. */
static int tx_exec(struct sq_conn *c, int k)
{
    static const char *const sql[3] = {"BEGIN IMMEDIATE", "COMMIT", "ROLLBACK"};
    if (c->tx[k] == NULL && sqlite3_prepare_v3(c->db, sql[k], -1, SQLITE_PREPARE_PERSISTENT,
                                               &c->tx[k], NULL) != SQLITE_OK)
        return VK_ESTORE;
    return sq_step_done(c->tx[k]);
}

/* --- write health ----------------------------------------------------------------------------- */

/* Result codes that say the store cannot write (disk full or failing, file gone or read-only,
 * locked by another process for longer than the busy handler waits), as opposed to a refused
 * change (a constraint) that the caller answers itself. */
static bool store_failure(int code)
{
    switch (code & 0xff) {
    case SQLITE_FULL:
    case SQLITE_IOERR:
    case SQLITE_READONLY:
    case SQLITE_CANTOPEN:
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_PROTOCOL:
    case SQLITE_NOMEM:
    case SQLITE_NOLFS:
    case SQLITE_PERM:
        return true;
    default:
        return false;
    }
}

void sq_write_failed(struct sq_health *h, int code)
{
    int64_t now = vk_now_ms(), ok = 0;
    __atomic_store_n(&h->code, code, __ATOMIC_RELAXED);
    int64_t n = __atomic_add_fetch(&h->failures, 1, __ATOMIC_RELAXED);
    if (__atomic_compare_exchange_n(&h->failing_since_ms, &ok, now, false, __ATOMIC_ACQ_REL,
                                    __ATOMIC_ACQUIRE)) {
        __atomic_store_n(&h->failures, 1, __ATOMIC_RELAXED);
        __atomic_store_n(&h->logged_ms, now, __ATOMIC_RELAXED);
        vk_log_error("event=store.write_failed code=%d err=\"%s\" note=\"changes are refused "
                     "(503) and /healthz reports degraded until a write succeeds\"",
                     code, sqlite3_errstr(code));
        return;
    }
    int64_t last = __atomic_load_n(&h->logged_ms, __ATOMIC_RELAXED);
    int64_t since = __atomic_load_n(&h->failing_since_ms, __ATOMIC_RELAXED);
    if (now - last >= 60000 && __atomic_compare_exchange_n(&h->logged_ms, &last, now, false,
                                                           __ATOMIC_RELAXED, __ATOMIC_RELAXED))
        vk_log_error("event=store.write_failing failures=%lld for_s=%lld code=%d err=\"%s\"",
                     (long long)n, (long long)(now - since) / 1000, code, sqlite3_errstr(code));
}

static void write_succeeded(struct sq_health *h)
{
    int64_t since = __atomic_load_n(&h->failing_since_ms, __ATOMIC_ACQUIRE);
    if (since == 0)
        return; /* the usual case: one load */
    if (__atomic_compare_exchange_n(&h->failing_since_ms, &since, 0, false, __ATOMIC_ACQ_REL,
                                    __ATOMIC_ACQUIRE))
        vk_log_warn("event=store.write_recovered failures=%lld after_s=%lld",
                    (long long)__atomic_exchange_n(&h->failures, 0, __ATOMIC_RELAXED),
                    (long long)(vk_now_ms() - since) / 1000);
}

int sq_note_write(struct sq_conn *c, int rc)
{
    if (rc == VK_OK)
        write_succeeded(c->health);
    else if (rc == VK_ESTORE && store_failure(sqlite3_extended_errcode(c->db)))
        sq_write_failed(c->health, sqlite3_extended_errcode(c->db));
    return rc;
}

/* --- transactions ----------------------------------------------------------------------------- */

/* Writers of this process queue on a mutex instead of meeting in SQLite's busy handler, whose
 * millisecond sleeps would dominate the tail latency of the token endpoint. Other processes (the
 * CLI) still meet them at the file locks. */
int sq_tx_begin(struct sq_conn *c)
{
    pthread_mutex_lock(c->write_mu);
    int rc = tx_exec(c, 0);
    if (rc != VK_OK) {
        sq_note_write(c, rc); /* BEGIN IMMEDIATE: another process held the write lock too long */
        pthread_mutex_unlock(c->write_mu);
    }
    return rc;
}

int sq_tx_end(struct sq_conn *c, int rc)
{
    if (rc == VK_OK)
        rc = tx_exec(c, 1);
    /* before the ROLLBACK, which resets the connection's error code */
    sq_note_write(c, rc);
    if (rc != VK_OK)
        tx_exec(c, 2);
    pthread_mutex_unlock(c->write_mu);
    return rc;
}

void sq_bind_text(sqlite3_stmt *st, int i, const char *s)
{
    if (s == NULL)
        sqlite3_bind_null(st, i);
    else
        sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
}

const char *sq_col_text(struct vk_arena *a, sqlite3_stmt *st, int i, int *oom)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    int n = sqlite3_column_bytes(st, i);
    char *p = vk_arena_strdup(a, (vk_str){t != NULL ? (const char *)t : "", (size_t)n});
    if (p == NULL)
        *oom = 1;
    return p;
}

const uint8_t *sq_col_blob(struct vk_arena *a, sqlite3_stmt *st, int i, size_t *len, int *oom)
{
    *len = 0;
    int n = sqlite3_column_bytes(st, i);
    if (sqlite3_column_type(st, i) != SQLITE_BLOB || n <= 0)
        return NULL;
    uint8_t *b = vk_arena_alloc(a, (size_t)n);
    if (b == NULL) {
        *oom = 1;
        return NULL;
    }
    memcpy(b, sqlite3_column_blob(st, i), (size_t)n);
    *len = (size_t)n;
    return b;
}

/* --- the shapes of reading rows ------------------------------------------------------------------ */

int sq_get_one(sqlite3_stmt *st, struct vk_arena *a, sq_row_fn read, void *out)
{
    int r = sqlite3_step(st), rc;
    if (r == SQLITE_ROW)
        rc = read(a, st, out);
    else
        rc = r == SQLITE_DONE ? VK_ENOTFOUND : VK_ESTORE;
    sq_finish(st);
    return rc;
}

int sq_get_all(sqlite3_stmt *st, struct vk_arena *a, sq_row_fn read, size_t size, void **v,
               size_t *n)
{
    size_t cap = 0;
    int rc = VK_OK, r;
    *v = NULL;
    *n = 0;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        uint8_t *nv = vk_arena_grow(a, *v, *n, &cap, size);
        if (nv == NULL) {
            rc = VK_ENOMEM;
            break;
        }
        *v = nv;
        memset(nv + *n * size, 0, size);
        rc = read(a, st, nv + *n * size);
        if (rc != VK_OK)
            break;
        (*n)++;
    }
    if (rc == VK_OK && r != SQLITE_DONE)
        rc = VK_ESTORE;
    sq_finish(st);
    return rc;
}

/* --- migrations --------------------------------------------------------------------------- */

static int migrate(struct sq_conn *c, struct vk_err *err)
{
    sqlite3_stmt *st = NULL;
    int version = 0;
    if (sqlite3_prepare_v2(c->db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
        return vk_err_set(err, VK_ESTORE, "cannot read the schema version");
    if (sqlite3_step(st) == SQLITE_ROW)
        version = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    size_t n = sizeof sqlite_migrations / sizeof sqlite_migrations[0];
    int latest = (int)n > 0 ? sqlite_migrations[n - 1].version : 0;
    if (version > latest)
        return vk_err_set(err, VK_ESTORE,
                          "the data store has schema %d, newer than this binary knows (%d)",
                          version, latest);
    for (size_t i = 0; i < n; i++) {
        if (sqlite_migrations[i].version <= version)
            continue;
        char *msg = NULL;
        char pragma[64];
        snprintf(pragma, sizeof pragma, "PRAGMA user_version = %d;", sqlite_migrations[i].version);
        int r = sqlite3_exec(c->db, "BEGIN IMMEDIATE", NULL, NULL, &msg);
        if (r == SQLITE_OK)
            r = sqlite3_exec(c->db, sqlite_migrations[i].sql, NULL, NULL, &msg);
        if (r == SQLITE_OK)
            r = sqlite3_exec(c->db, pragma, NULL, NULL, &msg);
        if (r == SQLITE_OK)
            r = sqlite3_exec(c->db, "COMMIT", NULL, NULL, &msg);
        if (r != SQLITE_OK) {
            vk_err_set(err, VK_ESTORE, "migration %s failed: %s", sqlite_migrations[i].name,
                       msg ? msg : sqlite3_errmsg(c->db));
            sqlite3_free(msg);
            sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
            return VK_ESTORE;
        }
        vk_log_info("event=store.migrated version=%d name=%s", sqlite_migrations[i].version,
                    sqlite_migrations[i].name);
    }
    return VK_OK;
}

/* --- checkpoints --------------------------------------------------------------------------- */

#define CKPT_FRAMES 1000 /* ask for a checkpoint when the WAL holds this many frames */

static int wal_hook(void *arg, sqlite3 *db, const char *name, int frames)
{
    struct sq_db *s = arg;
    (void)db;
    (void)name;
    if (frames >= CKPT_FRAMES) {
        pthread_mutex_lock(&s->ckpt_mu);
        s->ckpt_wanted = true;
        pthread_cond_signal(&s->ckpt_cv);
        pthread_mutex_unlock(&s->ckpt_mu);
    }
    return SQLITE_OK;
}

static void *checkpointer(void *arg)
{
    struct sq_db *s = arg;
    struct sq_conn *c = NULL;
    struct vk_err err = {{0}};
    if (conn_open(s, NULL, 0, &c, &err) != VK_OK) {
        vk_log_error("event=store.checkpointer_failed err=\"%s\"", err.msg);
        return NULL;
    }
    for (;;) {
        pthread_mutex_lock(&s->ckpt_mu);
        while (!s->ckpt_wanted && !s->ckpt_stop) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += 5; /* and at least every few seconds */
            if (pthread_cond_timedwait(&s->ckpt_cv, &s->ckpt_mu, &ts) != 0)
                break;
        }
        bool stop = s->ckpt_stop;
        s->ckpt_wanted = false;
        pthread_mutex_unlock(&s->ckpt_mu);
        /* PASSIVE copies what it can without blocking anyone; the fsyncs happen here. Under a
         * steady stream of commits it never quite catches up, and SQLite restarts the WAL only
         * after a checkpoint that caught up: so finish with a second, short pass while this
         * process's writers wait, or the WAL would grow without end. */
        int log = 0, done = 0;
        int r = sqlite3_wal_checkpoint_v2(c->db, NULL, SQLITE_CHECKPOINT_PASSIVE, &log, &done);
        if (r == SQLITE_OK && log > 0 && done < log) {
            pthread_mutex_lock(&s->write_mu);
            r = sqlite3_wal_checkpoint_v2(c->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
            pthread_mutex_unlock(&s->write_mu);
        }
        /* A checkpoint writes the database file: its failure is a write failure (BUSY only means
         * another process is checkpointing). */
        if (r != SQLITE_OK && (r & 0xff) != SQLITE_BUSY && store_failure(r))
            sq_write_failed(&s->health, r);
        if (stop)
            break;
    }
    conn_close(c);
    return NULL;
}

/* --- open/close --------------------------------------------------------------------------- */

/* The data directory holds the signing keys, the CSRF key and password hashes: it and every
 * file in it must be private to this user (docs/security.md). Refuses to go on otherwise, so a
 * store is never opened -- by the server or by the CLI, which reads and writes the same
 * secrets -- where others can read it. The database file is created 0600 before SQLite opens it:
 * SQLite gives the -wal and -shm files it creates the database file's mode, so all three stay
 * private whatever the process umask. */
static int private_files(const char *dir, const char *db_path, struct vk_err *err)
{
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return vk_err_set(err, VK_EIO, "cannot create data directory %s: %s", dir,
                          strerror(errno));
    int rc = vk_fs_check_private_dir(dir, "valetkey.db", err);
    if (rc != VK_OK)
        return rc;
    /* Only a file that does not exist yet is opened (O_EXCL) and closed here: closing a
     * descriptor of the database drops every POSIX lock this process holds on it, including
     * those of a connection another store in this process may have open. */
    struct stat sb;
    if (stat(db_path, &sb) == 0)
        return VK_OK;
    int fd = open(db_path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOCTTY, 0600);
    if (fd < 0 && errno != EEXIST)
        return vk_err_set(err, VK_EIO, "cannot create %s: %s", db_path, strerror(errno));
    if (fd >= 0)
        close(fd);
    return VK_OK;
}

int sq_db_open(struct sq_db *s, const char *dir, const char *const *sql, int nsql,
               struct vk_err *err)
{
    memset(s, 0, sizeof *s);
    size_t n = strlen(dir) + sizeof "/valetkey.db";
    s->path = malloc(n);
    if (s->path == NULL)
        return vk_err_set(err, VK_ENOMEM, "out of memory");
    snprintf(s->path, n, "%s/valetkey.db", dir);
    pthread_mutex_init(&s->write_mu, NULL);
    pthread_mutex_init(&s->op_mu, NULL);
    pthread_mutex_init(&s->gen_mu, NULL);
    pthread_mutex_init(&s->ckpt_mu, NULL);
    pthread_cond_init(&s->ckpt_cv, NULL);
    struct sq_conn *c = NULL;
    int rc = private_files(dir, s->path, err);
    if (rc == VK_OK)
        rc = conn_open(s, sql, nsql, &c, err);
    if (rc == VK_OK) {
        s->conn = c;
        rc = migrate(c, err);
    }
    if (rc == VK_OK)
        rc = conn_open(s, sql, nsql, &s->gen_conn, err);
    if (rc == VK_OK && sqlite3_exec(s->gen_conn->db, "PRAGMA query_only=ON", NULL, NULL, NULL) !=
                           SQLITE_OK)
        rc = vk_err_set(err, VK_ESTORE, "cannot configure %s", s->path);
    if (rc == VK_OK) {
        sqlite3_wal_autocheckpoint(c->db, 0);
        sqlite3_wal_hook(c->db, wal_hook, s);
        s->ckpt_running = pthread_create(&s->ckpt_thread, NULL, checkpointer, s) == 0;
        if (!s->ckpt_running)
            sqlite3_wal_autocheckpoint(c->db, CKPT_FRAMES); /* fall back to inline ones */
    }
    if (rc != VK_OK)
        sq_db_close(s);
    return rc;
}

void sq_db_close(struct sq_db *s)
{
    if (s->ckpt_running) {
        pthread_mutex_lock(&s->ckpt_mu);
        s->ckpt_stop = true;
        pthread_cond_signal(&s->ckpt_cv);
        pthread_mutex_unlock(&s->ckpt_mu);
        pthread_join(s->ckpt_thread, NULL);
        s->ckpt_running = false;
    }
    if (s->conn != NULL)
        conn_close(s->conn);
    if (s->gen_conn != NULL)
        conn_close(s->gen_conn);
    s->conn = s->gen_conn = NULL;
    pthread_mutex_destroy(&s->ckpt_mu);
    pthread_cond_destroy(&s->ckpt_cv);
    pthread_mutex_destroy(&s->write_mu);
    pthread_mutex_destroy(&s->op_mu);
    pthread_mutex_destroy(&s->gen_mu);
    free(s->path);
    s->path = NULL;
}
