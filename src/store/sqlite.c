/* The SQLite back end: the embedded default. One connection per thread (SQLite connections are
 * not to be shared between threads without serialization), WAL mode so readers never block the
 * writer, prepared statements cached per connection, and BEGIN IMMEDIATE for every change so a
 * decision and its effects commit together or not at all. */
#include "store/store.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sqlite3.h>

#include "base/log.h"
#include "migrations.h"

enum stmt_id {
    S_CLIENT_PUT,
    S_CLIENT_GET,
    S_CLIENT_LIST,
    S_CLIENT_DELETE,
    S_CLIENT_SET_SECRET,
    S_CLIENT_MAX_TTL,
    S_KEY_PUT,
    S_KEY_LIST,
    S_KEY_RETIRE,
    S_KEY_DELETE,
    S_KEYS_GEN,
    S_KEYS_GEN_BUMP,
    S_CLIENTS_GEN,
    S_CLIENTS_GEN_BUMP,
    S_REVOKE_JTI,
    S_REVOKE_EVENT,
    S_IS_REVOKED,
    S_PURGE_REVOKED,
    S_BEGIN,
    S_COMMIT,
    S_ROLLBACK,
    S_COUNT
};

#define CLIENT_COLS                                                                                \
    "id, name, secret_digest, auth_method, grant_types, scope, redirect_uris, "                    \
    "post_logout_redirect_uris, resources, access_token_ttl, first_party, created_at"

static const char *const stmt_sql[S_COUNT] = {
    [S_CLIENT_PUT] = "INSERT INTO clients (" CLIENT_COLS ") VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
    [S_CLIENT_GET] = "SELECT " CLIENT_COLS " FROM clients WHERE id = ?",
    [S_CLIENT_LIST] = "SELECT " CLIENT_COLS " FROM clients ORDER BY created_at, id",
    [S_CLIENT_DELETE] = "DELETE FROM clients WHERE id = ?",
    [S_CLIENT_SET_SECRET] = "UPDATE clients SET secret_digest = ? WHERE id = ? AND "
                            "secret_digest IS NOT NULL",
    [S_CLIENT_MAX_TTL] = "SELECT COALESCE(MAX(access_token_ttl), 0) FROM clients",
    [S_KEY_PUT] = "INSERT INTO keys (kid, alg, use, private_pem, created_at, retired_at) "
                  "VALUES (?,?,?,?,?,?)",
    [S_KEY_LIST] = "SELECT kid, alg, use, private_pem, created_at, retired_at FROM keys "
                   "ORDER BY created_at DESC, rowid DESC",
    [S_KEY_RETIRE] = "UPDATE keys SET retired_at = ? WHERE use = ? AND retired_at = 0",
    [S_KEY_DELETE] = "DELETE FROM keys WHERE kid = ?",
    [S_KEYS_GEN] = "SELECT value FROM meta WHERE name = 'keys_gen'",
    [S_KEYS_GEN_BUMP] = "UPDATE meta SET value = value + 1 WHERE name = 'keys_gen'",
    [S_CLIENTS_GEN] = "SELECT value FROM meta WHERE name = 'clients_gen'",
    [S_CLIENTS_GEN_BUMP] = "UPDATE meta SET value = value + 1 WHERE name = 'clients_gen'",
    [S_REVOKE_JTI] = "INSERT INTO revoked_tokens (jti, client_id, expires_at) VALUES (?,?,?) "
                     "ON CONFLICT (jti) DO NOTHING",
    [S_REVOKE_EVENT] = "INSERT INTO revocation_events (kind, subject, client_id, expires_at, at) "
                       "VALUES (?,?,?,?,?)",
    [S_IS_REVOKED] = "SELECT 1 FROM revoked_tokens WHERE jti = ?",
    [S_PURGE_REVOKED] = "DELETE FROM revoked_tokens WHERE expires_at < ?",
    [S_BEGIN] = "BEGIN IMMEDIATE",
    [S_COMMIT] = "COMMIT",
    [S_ROLLBACK] = "ROLLBACK",
};

struct conn {
    sqlite3 *db;
    sqlite3_stmt *stmt[S_COUNT];
    struct conn *next;
};

struct sqlite_store {
    struct vk_store base; /* first: the ops table */
    char *path;
    pthread_key_t tls;
    pthread_mutex_t mu; /* guards conns */
    struct conn *conns;
};

static void conn_close(struct conn *c)
{
    for (int i = 0; i < S_COUNT; i++)
        sqlite3_finalize(c->stmt[i]);
    sqlite3_close_v2(c->db);
    free(c);
}

static int conn_open(const char *path, struct conn **out, struct vk_err *err)
{
    struct conn *c = calloc(1, sizeof *c);
    *out = NULL;
    if (c == NULL)
        return vk_err_set(err, VK_ENOMEM, "out of memory");
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    if (sqlite3_open_v2(path, &c->db, flags, NULL) != SQLITE_OK) {
        vk_err_set(err, VK_ESTORE, "cannot open %s: %s", path,
                   c->db ? sqlite3_errmsg(c->db) : "out of memory");
        conn_close(c);
        return VK_ESTORE;
    }
    sqlite3_busy_timeout(c->db, 5000);
    sqlite3_extended_result_codes(c->db, 1);
    char *msg = NULL;
    if (sqlite3_exec(c->db,
                     "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
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

static sqlite3_stmt *stmt(struct conn *c, enum stmt_id id)
{
    if (c->stmt[id] == NULL) {
        if (sqlite3_prepare_v3(c->db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT, &c->stmt[id],
                               NULL) != SQLITE_OK) {
            vk_log_error("event=store.prepare_failed stmt=%d err=\"%s\"", (int)id,
                         sqlite3_errmsg(c->db));
            return NULL;
        }
    }
    return c->stmt[id];
}

/* The calling thread's connection, opened on first use. */
static struct conn *get_conn(struct sqlite_store *s)
{
    struct conn *c = pthread_getspecific(s->tls);
    if (c != NULL)
        return c;
    struct vk_err err = {{0}};
    if (conn_open(s->path, &c, &err) != VK_OK) {
        vk_log_error("event=store.open_failed err=\"%s\"", err.msg);
        return NULL;
    }
    pthread_mutex_lock(&s->mu);
    c->next = s->conns;
    s->conns = c;
    pthread_mutex_unlock(&s->mu);
    pthread_setspecific(s->tls, c);
    return c;
}

static int step_done(sqlite3_stmt *st)
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

static void finish(sqlite3_stmt *st)
{
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
}

static int exec_simple(struct conn *c, enum stmt_id id)
{
    sqlite3_stmt *st = stmt(c, id);
    return st != NULL ? step_done(st) : VK_ESTORE;
}

static int tx_begin(struct conn *c)
{
    return exec_simple(c, S_BEGIN);
}

static int tx_end(struct conn *c, int rc)
{
    if (rc == VK_OK) {
        rc = exec_simple(c, S_COMMIT);
        if (rc == VK_OK)
            return VK_OK;
    }
    exec_simple(c, S_ROLLBACK);
    return rc;
}

static void bind_text(sqlite3_stmt *st, int i, const char *s)
{
    if (s == NULL)
        sqlite3_bind_null(st, i);
    else
        sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
}

static const char *col_text(struct vk_arena *a, sqlite3_stmt *st, int i, int *oom)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    int n = sqlite3_column_bytes(st, i);
    char *p = vk_arena_strdup(a, (vk_str){t != NULL ? (const char *)t : "", (size_t)n});
    if (p == NULL)
        *oom = 1;
    return p;
}

/* --- migrations --------------------------------------------------------------------------- */

static int migrate(struct conn *c, struct vk_err *err)
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

/* --- open/close --------------------------------------------------------------------------- */

static void s_close(struct vk_store *st);

static int s_open(const char *dir, struct vk_store **out, struct vk_err *err)
{
    *out = NULL;
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return vk_err_set(err, VK_EIO, "cannot create data directory %s: %s", dir,
                          strerror(errno));
    struct sqlite_store *s = calloc(1, sizeof *s);
    if (s == NULL)
        return vk_err_set(err, VK_ENOMEM, "out of memory");
    s->base.ops = &vk_store_sqlite;
    size_t n = strlen(dir) + sizeof "/valetkey.db";
    s->path = malloc(n);
    if (s->path == NULL) {
        free(s);
        return vk_err_set(err, VK_ENOMEM, "out of memory");
    }
    snprintf(s->path, n, "%s/valetkey.db", dir);
    pthread_mutex_init(&s->mu, NULL);
    if (pthread_key_create(&s->tls, NULL) != 0) {
        free(s->path);
        free(s);
        return vk_err_set(err, VK_ENOMEM, "cannot create thread key");
    }
    struct conn *c = NULL;
    int rc = conn_open(s->path, &c, err);
    if (rc == VK_OK) {
        s->conns = c;
        pthread_setspecific(s->tls, c);
        rc = migrate(c, err);
    }
    if (rc != VK_OK) {
        s_close(&s->base);
        return rc;
    }
    *out = &s->base;
    return VK_OK;
}

static void s_close(struct vk_store *st)
{
    struct sqlite_store *s = (struct sqlite_store *)st;
    if (s == NULL)
        return;
    struct conn *c = s->conns;
    while (c != NULL) {
        struct conn *next = c->next;
        conn_close(c);
        c = next;
    }
    pthread_key_delete(s->tls);
    pthread_mutex_destroy(&s->mu);
    free(s->path);
    free(s);
}

#define CONN_OR_FAIL(s, c)                                                                         \
    struct conn *c = get_conn((struct sqlite_store *)(s));                                         \
    if (c == NULL)                                                                                 \
    return VK_ESTORE

/* --- clients ------------------------------------------------------------------------------ */

static int s_client_put(struct vk_store *s, const struct vk_client *cl, struct vk_err *err)
{
    CONN_OR_FAIL(s, c);
    sqlite3_stmt *st = stmt(c, S_CLIENT_PUT);
    if (st == NULL)
        return vk_err_set(err, VK_ESTORE, "store error");
    bind_text(st, 1, cl->id);
    bind_text(st, 2, cl->name);
    if (cl->has_secret)
        sqlite3_bind_blob(st, 3, cl->secret_digest, VK_DIGEST_LEN, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, 3);
    bind_text(st, 4, cl->auth_method);
    bind_text(st, 5, cl->grant_types);
    bind_text(st, 6, cl->scope);
    bind_text(st, 7, cl->redirect_uris ? cl->redirect_uris : "");
    bind_text(st, 8, cl->post_logout_redirect_uris ? cl->post_logout_redirect_uris : "");
    bind_text(st, 9, cl->resources ? cl->resources : "");
    sqlite3_bind_int64(st, 10, cl->access_token_ttl);
    sqlite3_bind_int(st, 11, cl->first_party ? 1 : 0);
    sqlite3_bind_int64(st, 12, cl->created_at);
    int rc = tx_begin(c);
    if (rc == VK_OK) {
        rc = step_done(st);
        if (rc == VK_OK)
            rc = exec_simple(c, S_CLIENTS_GEN_BUMP);
        rc = tx_end(c, rc);
    } else {
        finish(st);
    }
    if (rc == VK_EEXIST)
        return vk_err_set(err, rc, "a client with that id exists");
    if (rc != VK_OK)
        return vk_err_set(err, rc, "cannot store the client: %s", sqlite3_errmsg(c->db));
    return VK_OK;
}

static int read_client(struct vk_arena *a, sqlite3_stmt *st, struct vk_client *out)
{
    int oom = 0;
    memset(out, 0, sizeof *out);
    out->id = col_text(a, st, 0, &oom);
    out->name = col_text(a, st, 1, &oom);
    if (sqlite3_column_type(st, 2) == SQLITE_BLOB && sqlite3_column_bytes(st, 2) == VK_DIGEST_LEN) {
        out->has_secret = true;
        memcpy(out->secret_digest, sqlite3_column_blob(st, 2), VK_DIGEST_LEN);
    }
    out->auth_method = col_text(a, st, 3, &oom);
    out->grant_types = col_text(a, st, 4, &oom);
    out->scope = col_text(a, st, 5, &oom);
    out->redirect_uris = col_text(a, st, 6, &oom);
    out->post_logout_redirect_uris = col_text(a, st, 7, &oom);
    out->resources = col_text(a, st, 8, &oom);
    out->access_token_ttl = sqlite3_column_int64(st, 9);
    out->first_party = sqlite3_column_int(st, 10) != 0;
    out->created_at = sqlite3_column_int64(st, 11);
    return oom ? VK_ENOMEM : VK_OK;
}

static int s_client_get(struct vk_store *s, struct vk_arena *a, vk_str id, struct vk_client *out)
{
    CONN_OR_FAIL(s, c);
    memset(out, 0, sizeof *out);
    sqlite3_stmt *st = stmt(c, S_CLIENT_GET);
    if (st == NULL)
        return VK_ESTORE;
    sqlite3_bind_text(st, 1, id.p, (int)id.len, SQLITE_STATIC);
    int r = sqlite3_step(st), rc;
    if (r == SQLITE_ROW)
        rc = read_client(a, st, out);
    else
        rc = r == SQLITE_DONE ? VK_ENOTFOUND : VK_ESTORE;
    finish(st);
    return rc;
}

static int s_client_list(struct vk_store *s, struct vk_arena *a, struct vk_client_list *out)
{
    CONN_OR_FAIL(s, c);
    out->v = NULL;
    out->n = 0;
    sqlite3_stmt *st = stmt(c, S_CLIENT_LIST);
    if (st == NULL)
        return VK_ESTORE;
    size_t cap = 0;
    int rc = VK_OK, r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        if (out->n == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            struct vk_client *nv = vk_arena_alloc(a, ncap * sizeof *nv);
            if (nv == NULL) {
                rc = VK_ENOMEM;
                break;
            }
            if (out->n > 0)
                memcpy(nv, out->v, out->n * sizeof *nv);
            out->v = nv;
            cap = ncap;
        }
        rc = read_client(a, st, &out->v[out->n]);
        if (rc != VK_OK)
            break;
        out->n++;
    }
    if (rc == VK_OK && r != SQLITE_DONE)
        rc = VK_ESTORE;
    finish(st);
    return rc;
}

static int s_client_delete(struct vk_store *s, vk_str id)
{
    CONN_OR_FAIL(s, c);
    sqlite3_stmt *st = stmt(c, S_CLIENT_DELETE);
    if (st == NULL)
        return VK_ESTORE;
    int rc = tx_begin(c);
    if (rc != VK_OK)
        return rc;
    sqlite3_bind_text(st, 1, id.p, (int)id.len, SQLITE_STATIC);
    rc = step_done(st);
    if (rc == VK_OK && sqlite3_changes(c->db) == 0)
        rc = VK_ENOTFOUND;
    if (rc == VK_OK)
        rc = exec_simple(c, S_CLIENTS_GEN_BUMP);
    return tx_end(c, rc);
}

static int s_client_set_secret(struct vk_store *s, vk_str id, const uint8_t digest[VK_DIGEST_LEN])
{
    CONN_OR_FAIL(s, c);
    sqlite3_stmt *st = stmt(c, S_CLIENT_SET_SECRET);
    if (st == NULL)
        return VK_ESTORE;
    int rc = tx_begin(c);
    if (rc != VK_OK)
        return rc;
    sqlite3_bind_blob(st, 1, digest, VK_DIGEST_LEN, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, id.p, (int)id.len, SQLITE_STATIC);
    rc = step_done(st);
    if (rc == VK_OK && sqlite3_changes(c->db) == 0)
        rc = VK_ENOTFOUND;
    if (rc == VK_OK)
        rc = exec_simple(c, S_CLIENTS_GEN_BUMP);
    return tx_end(c, rc);
}

static int s_client_max_ttl(struct vk_store *s, int64_t *out)
{
    CONN_OR_FAIL(s, c);
    *out = 0;
    sqlite3_stmt *st = stmt(c, S_CLIENT_MAX_TTL);
    if (st == NULL)
        return VK_ESTORE;
    int rc = VK_ESTORE;
    if (sqlite3_step(st) == SQLITE_ROW) {
        *out = sqlite3_column_int64(st, 0);
        rc = VK_OK;
    }
    finish(st);
    return rc;
}

/* --- keys --------------------------------------------------------------------------------- */

static int key_insert(struct conn *c, const struct vk_key_rec *k)
{
    sqlite3_stmt *st = stmt(c, S_KEY_PUT);
    if (st == NULL)
        return VK_ESTORE;
    bind_text(st, 1, k->kid);
    bind_text(st, 2, k->alg);
    sqlite3_bind_int(st, 3, (int)k->use);
    bind_text(st, 4, k->private_pem);
    sqlite3_bind_int64(st, 5, k->created_at);
    sqlite3_bind_int64(st, 6, k->retired_at);
    int rc = step_done(st);
    if (rc == VK_OK)
        rc = exec_simple(c, S_KEYS_GEN_BUMP);
    return rc;
}

static int s_key_put(struct vk_store *s, const struct vk_key_rec *k)
{
    CONN_OR_FAIL(s, c);
    int rc = tx_begin(c);
    if (rc != VK_OK)
        return rc;
    return tx_end(c, key_insert(c, k));
}

static int s_key_rotate(struct vk_store *s, const struct vk_key_rec *k, int64_t now)
{
    CONN_OR_FAIL(s, c);
    int rc = tx_begin(c);
    if (rc != VK_OK)
        return rc;
    sqlite3_stmt *st = stmt(c, S_KEY_RETIRE);
    if (st == NULL)
        return tx_end(c, VK_ESTORE);
    sqlite3_bind_int64(st, 1, now);
    sqlite3_bind_int(st, 2, (int)k->use);
    rc = step_done(st);
    if (rc == VK_OK)
        rc = key_insert(c, k);
    return tx_end(c, rc);
}

static int s_key_delete(struct vk_store *s, const char *kid)
{
    CONN_OR_FAIL(s, c);
    int rc = tx_begin(c);
    if (rc != VK_OK)
        return rc;
    sqlite3_stmt *st = stmt(c, S_KEY_DELETE);
    if (st == NULL)
        return tx_end(c, VK_ESTORE);
    bind_text(st, 1, kid);
    rc = step_done(st);
    if (rc == VK_OK)
        rc = exec_simple(c, S_KEYS_GEN_BUMP);
    return tx_end(c, rc);
}

static int s_key_list(struct vk_store *s, struct vk_arena *a, struct vk_key_list *out)
{
    CONN_OR_FAIL(s, c);
    out->v = NULL;
    out->n = 0;
    sqlite3_stmt *st = stmt(c, S_KEY_LIST);
    if (st == NULL)
        return VK_ESTORE;
    size_t cap = 0;
    int rc = VK_OK, r, oom = 0;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        if (out->n == cap) {
            size_t ncap = cap ? cap * 2 : 8;
            struct vk_key_rec *nv = vk_arena_alloc(a, ncap * sizeof *nv);
            if (nv == NULL) {
                rc = VK_ENOMEM;
                break;
            }
            if (out->n > 0)
                memcpy(nv, out->v, out->n * sizeof *nv);
            out->v = nv;
            cap = ncap;
        }
        struct vk_key_rec *k = &out->v[out->n];
        k->kid = col_text(a, st, 0, &oom);
        k->alg = col_text(a, st, 1, &oom);
        k->use = (enum vk_key_use)sqlite3_column_int(st, 2);
        k->private_pem = col_text(a, st, 3, &oom);
        k->created_at = sqlite3_column_int64(st, 4);
        k->retired_at = sqlite3_column_int64(st, 5);
        if (oom) {
            rc = VK_ENOMEM;
            break;
        }
        out->n++;
    }
    if (rc == VK_OK && r != SQLITE_DONE)
        rc = VK_ESTORE;
    finish(st);
    return rc;
}

static int read_counter(struct vk_store *s, enum stmt_id id, int64_t *out)
{
    CONN_OR_FAIL(s, c);
    *out = 0;
    sqlite3_stmt *st = stmt(c, id);
    if (st == NULL)
        return VK_ESTORE;
    int rc = VK_ESTORE;
    if (sqlite3_step(st) == SQLITE_ROW) {
        *out = sqlite3_column_int64(st, 0);
        rc = VK_OK;
    }
    finish(st);
    return rc;
}

static int s_keys_generation(struct vk_store *s, int64_t *out)
{
    return read_counter(s, S_KEYS_GEN, out);
}

static int s_clients_generation(struct vk_store *s, int64_t *out)
{
    return read_counter(s, S_CLIENTS_GEN, out);
}

/* --- revocation --------------------------------------------------------------------------- */

static int s_token_revoke(struct vk_store *s, const char *jti, const char *client_id,
                          int64_t expires_at, int64_t now)
{
    CONN_OR_FAIL(s, c);
    int rc = tx_begin(c);
    if (rc != VK_OK)
        return rc;
    sqlite3_stmt *st = stmt(c, S_REVOKE_JTI);
    if (st == NULL)
        return tx_end(c, VK_ESTORE);
    bind_text(st, 1, jti);
    bind_text(st, 2, client_id);
    sqlite3_bind_int64(st, 3, expires_at);
    rc = step_done(st);
    if (rc == VK_OK && sqlite3_changes(c->db) > 0) {
        st = stmt(c, S_REVOKE_EVENT);
        if (st == NULL)
            return tx_end(c, VK_ESTORE);
        bind_text(st, 1, "jti");
        bind_text(st, 2, jti);
        bind_text(st, 3, client_id);
        sqlite3_bind_int64(st, 4, expires_at);
        sqlite3_bind_int64(st, 5, now);
        rc = step_done(st);
    }
    return tx_end(c, rc);
}

static int s_token_is_revoked(struct vk_store *s, const char *jti, bool *revoked)
{
    CONN_OR_FAIL(s, c);
    *revoked = false;
    sqlite3_stmt *st = stmt(c, S_IS_REVOKED);
    if (st == NULL)
        return VK_ESTORE;
    bind_text(st, 1, jti);
    int r = sqlite3_step(st);
    finish(st);
    if (r == SQLITE_ROW)
        *revoked = true;
    else if (r != SQLITE_DONE)
        return VK_ESTORE;
    return VK_OK;
}

static int s_purge_expired(struct vk_store *s, int64_t now)
{
    CONN_OR_FAIL(s, c);
    sqlite3_stmt *st = stmt(c, S_PURGE_REVOKED);
    if (st == NULL)
        return VK_ESTORE;
    sqlite3_bind_int64(st, 1, now);
    return step_done(st);
}

const struct vk_store_ops vk_store_sqlite = {
    .name = "sqlite",
    .open = s_open,
    .close = s_close,
    .client_put = s_client_put,
    .client_get = s_client_get,
    .client_list = s_client_list,
    .client_delete = s_client_delete,
    .client_set_secret = s_client_set_secret,
    .client_max_ttl = s_client_max_ttl,
    .clients_generation = s_clients_generation,
    .key_put = s_key_put,
    .key_list = s_key_list,
    .key_rotate = s_key_rotate,
    .key_delete = s_key_delete,
    .keys_generation = s_keys_generation,
    .token_revoke = s_token_revoke,
    .token_is_revoked = s_token_is_revoked,
    .purge_expired = s_purge_expired,
};
