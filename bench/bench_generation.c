/* bench_generation: what it costs to learn whether another connection committed, per call — the
 * question the client cache asks the store on every token request (docs/architecture.md, "Client
 * records are cached").
 *
 * Build and run from the repository root after `make` (no Makefile target needed):
 *
 *   cc -std=c11 -O2 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -Isrc -Iinclude \
 *      bench/bench_generation.c build/libvkcore.a \
 *      $(pkg-config --libs libmicrohttpd libcrypto jansson sqlite3 libcurl inih) -largon2 \
 *      -lpthread -o /tmp/bench_generation && /tmp/bench_generation
 *
 * Variants, each on a WAL database configured like the store's:
 *   store       clients_generation() of the SQLite back end, as shipped
 *   select      SELECT value FROM meta WHERE name = ... (an autocommit read transaction)
 *   data_ver    PRAGMA data_version (also a read transaction)
 *   fcntl+txn   step a read statement, then sqlite3_file_control(SQLITE_FCNTL_DATA_VERSION)
 *   fcntl       SQLITE_FCNTL_DATA_VERSION alone: cheap but stale (it is refreshed only when a
 *               read transaction starts), shown for reference
 * first with nothing committed between calls, then with one commit by another connection before
 * every call (the commit itself not counted). Thread CPU time, not wall time: the variants run in
 * alternating slices and each keeps its best slice, so a busy neighbour disturbs all alike. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "store/store.h"

#define SLICES 7

static double cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static sqlite3 *open_raw(const char *path)
{
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK)
        exit(2);
    sqlite3_busy_timeout(db, 5000);
    sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;", NULL, NULL, NULL);
    return db;
}

static sqlite3_stmt *prep(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK)
        exit(2);
    return st;
}

enum { V_STORE, V_SELECT, V_DATAVER, V_FCNTL_TXN, V_FCNTL, NV };
static const char *const names[NV] = {"store", "select", "data_ver", "fcntl+txn", "fcntl"};

struct ctx {
    struct vk_store *st;
    sqlite3 *db, *writer;
    sqlite3_stmt *sel, *dv, *one, *ins;
    long long sink;
};

static void call(struct ctx *c, int v)
{
    int64_t g = 0;
    unsigned int ver = 0;
    switch (v) {
    case V_STORE:
        vk_store_clients_generation(c->st, &g);
        break;
    case V_SELECT:
        if (sqlite3_step(c->sel) == SQLITE_ROW)
            g = sqlite3_column_int64(c->sel, 0);
        sqlite3_reset(c->sel);
        break;
    case V_DATAVER:
        if (sqlite3_step(c->dv) == SQLITE_ROW)
            g = sqlite3_column_int64(c->dv, 0);
        sqlite3_reset(c->dv);
        break;
    case V_FCNTL_TXN:
        sqlite3_step(c->one);
        sqlite3_file_control(c->db, "main", SQLITE_FCNTL_DATA_VERSION, &ver);
        sqlite3_reset(c->one);
        break;
    default:
        sqlite3_file_control(c->db, "main", SQLITE_FCNTL_DATA_VERSION, &ver);
        break;
    }
    c->sink += g + ver;
}

static void commit(struct ctx *c)
{
    sqlite3_step(c->ins);
    sqlite3_reset(c->ins);
}

int main(void)
{
    char dir[] = "/tmp/bench-generation-XXXXXX", path[64], cmd[96];
    struct vk_err err = {{0}};
    struct ctx c = {0};
    if (mkdtemp(dir) == NULL || vk_store_open(dir, &c.st, &err) != VK_OK) {
        fprintf(stderr, "cannot open a store: %s\n", err.msg);
        return 2;
    }
    snprintf(path, sizeof path, "%s/valetkey.db", dir);
    c.db = open_raw(path);
    c.writer = open_raw(path);
    sqlite3_exec(c.writer, "CREATE TABLE bench (v BLOB)", NULL, NULL, NULL);
    c.sel = prep(c.db, "SELECT value FROM meta WHERE name = 'clients_gen'");
    c.dv = prep(c.db, "PRAGMA data_version");
    c.one = prep(c.db, "SELECT 1 FROM meta LIMIT 1");
    c.ins = prep(c.writer, "INSERT INTO bench (v) VALUES (randomblob(200))");
    printf("ns of thread CPU per call (best of %d slices)\n", SLICES);
    printf("%-10s | %12s | %20s\n", "variant", "no commits", "commit before each");
    double best[2][NV];
    for (int with = 0; with < 2; with++) {
        int n = with ? 2000 : 50000;
        for (int v = 0; v < NV; v++)
            best[with][v] = 1e18;
        for (int s = 0; s < SLICES; s++) {
            for (int v = 0; v < NV; v++) {
                double spent = 0;
                for (int i = 0; i < n; i++) {
                    if (with)
                        commit(&c);
                    double t0 = cpu_ns();
                    call(&c, v);
                    spent += cpu_ns() - t0;
                }
                if (spent / n < best[with][v])
                    best[with][v] = spent / n;
            }
        }
    }
    for (int v = 0; v < NV; v++)
        printf("%-10s | %12.0f | %20.0f\n", names[v], best[0][v], best[1][v]);
    double clock_cost = 1e18;
    for (int s = 0; s < SLICES; s++) {
        double spent = 0;
        for (int i = 0; i < 50000; i++) {
            double t0 = cpu_ns();
            spent += cpu_ns() - t0;
        }
        if (spent / 50000 < clock_cost)
            clock_cost = spent / 50000;
    }
    printf("(included in each figure: the clock reads around the call, %.0f ns)\n", clock_cost);
    sqlite3_finalize(c.sel);
    sqlite3_finalize(c.dv);
    sqlite3_finalize(c.one);
    sqlite3_finalize(c.ins);
    sqlite3_close(c.db);
    sqlite3_close(c.writer);
    vk_store_close(c.st);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 && c.sink != 1 ? 0 : 1;
}
