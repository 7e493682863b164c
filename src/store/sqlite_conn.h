/* The SQLite back end's connection machinery (sqlite_conn.c), shared by sqlite.c only: the
 * database's files and connections, the per-connection statement cache, transactions, the
 * checkpoint thread, the migration runner, how writes are going (for /healthz), and helpers for
 * the row-reading shapes every operation repeats. sqlite.c holds the statements and the
 * operations. */
#ifndef VK_STORE_SQLITE_CONN_H
#define VK_STORE_SQLITE_CONN_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <sqlite3.h>

#include "store/store.h"

/* How the store's writes are going, for /healthz and the error log: a full or failing disk must
 * be visible to monitoring. Written by whichever thread saw a write end, read by health():
 * atomics. */
struct sq_health {
    int64_t failing_since_ms; /* 0 while writes succeed: set by the first failure after a success */
    int64_t failures;         /* since failing_since_ms */
    int64_t logged_ms;        /* last error line about it (at most one a minute) */
    int64_t probed_ms;        /* last probe write by health() */
    int code;                 /* SQLite's extended result code of the last failure */
};

/* One connection with its cache of prepared statements (the operations' statement table). */
struct sq_conn {
    pthread_mutex_t *write_mu; /* the store's: one writing transaction per process at a time */
    struct sq_health *health;  /* the store's */
    sqlite3 *db;
    const char *const *sql;    /* statement table, indexed by the operations' ids */
    int nsql;
    sqlite3_stmt **stmt;       /* nsql cached statements */
    sqlite3_stmt *tx[3];       /* BEGIN IMMEDIATE, COMMIT, ROLLBACK */
};

/* The database of one data directory as a process uses it: the connection every operation
 * runs on (op_mu), a second one that only reads the generation counters (gen_mu), and a third on
 * the checkpoint thread. */
struct sq_db {
    char *path;
    pthread_mutex_t write_mu;
    pthread_mutex_t op_mu;   /* one operation at a time on conn */
    pthread_mutex_t gen_mu;  /* one generation read at a time on gen_conn */
    struct sq_conn *conn;
    struct sq_conn *gen_conn;
    struct sq_health health;
    /* Checkpoints run on their own thread and connection, so the fsyncs they need never stall a
     * request (SQLite's automatic checkpoint would run inside some unlucky commit). */
    pthread_t ckpt_thread;
    pthread_mutex_t ckpt_mu;
    pthread_cond_t ckpt_cv;
    bool ckpt_running;
    bool ckpt_stop;
    bool ckpt_wanted;
};

/* Opens the database in data directory `dir` (created private to this user, refused when others
 * can reach it), applies the embedded migrations, opens the generation connection and starts the
 * checkpoint thread. `sql` (nsql statements) is the operations' statement table, borrowed for
 * the life of d. On error everything is released and err says why. */
int sq_db_open(struct sq_db *d, const char *dir, const char *const *sql, int nsql,
               struct vk_err *err);
void sq_db_close(struct sq_db *d);

/* The cached statement `id` of c, prepared on first use; NULL (logged) if it does not prepare. */
sqlite3_stmt *sq_stmt(struct sq_conn *c, int id);
/* Steps a statement to its end and resets it: VK_OK (done or a row), VK_EEXIST for a
 * constraint, VK_ESTORE otherwise. */
int sq_step_done(sqlite3_stmt *st);
/* Resets a statement and clears its bindings (after reading its rows). */
void sq_finish(sqlite3_stmt *st);
/* sq_step_done of the cached statement `id`. */
int sq_exec(struct sq_conn *c, int id);

/* Records how a write ended (rc of the operation; SQLite's error code is still the connection's
 * last one) and returns rc: a failure of the I/O kind marks writes as failing, a success clears
 * it. */
int sq_note_write(struct sq_conn *c, int rc);
/* Marks writes as failing with SQLite result `code` (the checkpointer's failures). */
void sq_write_failed(struct sq_health *h, int code);

/* BEGIN IMMEDIATE under the store's write mutex; sq_tx_end commits when rc is VK_OK (else rolls
 * back), releases the mutex, and returns the outcome. */
int sq_tx_begin(struct sq_conn *c);
int sq_tx_end(struct sq_conn *c, int rc);

/* Binds NUL-terminated text (NULL binds SQL NULL). */
void sq_bind_text(sqlite3_stmt *st, int i, const char *s);
/* Column i as a NUL-terminated copy in the arena ("" for NULL); *oom set on failure. */
const char *sq_col_text(struct vk_arena *a, sqlite3_stmt *st, int i, int *oom);
/* Column i as bytes copied into the arena; NULL with *len 0 for NULL or empty. */
const uint8_t *sq_col_blob(struct vk_arena *a, sqlite3_stmt *st, int i, size_t *len, int *oom);

/* Reads one row of a statement into `out` (the arena holds its strings). */
typedef int (*sq_row_fn)(struct vk_arena *a, sqlite3_stmt *st, void *out);
/* Steps a bound statement once: a row goes through read(), no row is VK_ENOTFOUND, an error
 * VK_ESTORE; the statement is reset. */
int sq_get_one(sqlite3_stmt *st, struct vk_arena *a, sq_row_fn read, void *out);
/* Steps a bound statement to its end, reading each row into a new element of `size` bytes of an
 * arena array (*v, *n); the statement is reset. */
int sq_get_all(sqlite3_stmt *st, struct vk_arena *a, sq_row_fn read, size_t size, void **v,
               size_t *n);

#endif
