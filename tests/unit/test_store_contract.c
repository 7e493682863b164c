/* The store contract, run against the SQLite back end in a fresh temporary directory. The same
 * tests are meant to run against every back end (the PostgreSQL one when it exists). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "base/crypto.h"
#include "store/store.h"

#define NOW 1800000000

struct fx {
    char dir[64];
    struct vk_store *st;
    struct vk_arena a;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    struct vk_err err = {{0}};
    snprintf(f->dir, sizeof f->dir, "/tmp/vk-store-test-XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        return -1;
    if (vk_store_open(f->dir, &f->st, &err) != VK_OK) {
        fprintf(stderr, "open: %s\n", err.msg);
        return -1;
    }
    vk_arena_init(&f->a, 1 << 22);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    char cmd[128];
    vk_store_close(f->st);
    vk_arena_clear(&f->a);
    snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
    if (system(cmd) != 0)
        return -1;
    free(f);
    return 0;
}

static struct vk_client client(const char *id)
{
    struct vk_client c = {.id = id, .name = "n", .auth_method = "client_secret_basic",
                          .grant_types = "authorization_code refresh_token", .scope = "openid",
                          .redirect_uris = "https://a.example/cb", .created_at = NOW,
                          .id_token_alg = "RS256", .has_secret = true};
    vk_sha256("secret", 6, c.secret_digest);
    return c;
}

static void client_round_trip_and_generation(void **state)
{
    struct fx *f = *state;
    struct vk_store *st = f->st;
    struct vk_err err = {{0}};
    int64_t g0, g1, g2;
    assert_int_equal(vk_store_clients_generation(st, &g0), VK_OK);
    struct vk_client c = client("vk_c_1"), out;
    assert_int_equal(vk_store_client_put(st, &c, &err), VK_OK);
    assert_int_equal(vk_store_client_put(st, &c, &err), VK_EEXIST);
    assert_int_equal(vk_store_client_get(st, &f->a, VK_STR("vk_c_1"), &out), VK_OK);
    assert_string_equal(out.redirect_uris, "https://a.example/cb");
    assert_false(out.introspect);
    assert_true(out.has_secret);
    assert_memory_equal(out.secret_digest, c.secret_digest, VK_DIGEST_LEN);
    assert_int_equal(vk_store_clients_generation(st, &g1), VK_OK);
    assert_true(g1 != g0);
    uint8_t d[VK_DIGEST_LEN];
    vk_sha256("other", 5, d);
    assert_int_equal(vk_store_client_set_secret(st, VK_STR("vk_c_1"), d), VK_OK);
    assert_int_equal(vk_store_clients_generation(st, &g2), VK_OK);
    assert_true(g2 != g1);
    struct vk_client rs = client("vk_c_rs");
    rs.introspect = true;
    assert_int_equal(vk_store_client_put(st, &rs, &err), VK_OK);
    assert_int_equal(vk_store_client_get(st, &f->a, VK_STR("vk_c_rs"), &out), VK_OK);
    assert_true(out.introspect);
    assert_string_equal(out.jwks, "");
    assert_string_equal(out.tls_auth_kind, "");
    assert_false(out.tls_bound_tokens);
    /* RFC 8705 clients: no secret, a registered name or JWK Set, bound tokens */
    struct vk_client mt = client("vk_c_mtls");
    mt.has_secret = false;
    mt.auth_method = "tls_client_auth";
    mt.tls_auth_kind = "subject_dn";
    mt.tls_auth_value = "CN=client-a,O=Example";
    mt.jwks = "{\"keys\":[]}";
    mt.tls_bound_tokens = true;
    assert_int_equal(vk_store_client_put(st, &mt, &err), VK_OK);
    assert_int_equal(vk_store_client_get(st, &f->a, VK_STR("vk_c_mtls"), &out), VK_OK);
    assert_false(out.has_secret);
    assert_string_equal(out.auth_method, "tls_client_auth");
    assert_string_equal(out.tls_auth_kind, "subject_dn");
    assert_string_equal(out.tls_auth_value, "CN=client-a,O=Example");
    assert_string_equal(out.jwks, "{\"keys\":[]}");
    assert_true(out.tls_bound_tokens);
    assert_int_equal(vk_store_client_delete(st, VK_STR("vk_c_1")), VK_OK);
    assert_int_equal(vk_store_client_get(st, &f->a, VK_STR("vk_c_1"), &out), VK_ENOTFOUND);
    assert_int_equal(vk_store_client_delete(st, VK_STR("vk_c_1")), VK_ENOTFOUND);
}

static void generation_seen_across_connections(void **state)
{
    /* A change made through another handle (as the CLI does, from another process) must be
     * seen by the next generation read, even right after a cached read. */
    struct fx *f = *state;
    struct vk_store *other = NULL;
    struct vk_err err = {{0}};
    int64_t g0, g1;
    assert_int_equal(vk_store_open(f->dir, &other, &err), VK_OK);
    /* read twice: nothing may answer the second read from a stale cache */
    assert_int_equal(vk_store_clients_generation(f->st, &g0), VK_OK);
    assert_int_equal(vk_store_clients_generation(f->st, &g0), VK_OK);
    struct vk_client c = client("vk_c_2");
    assert_int_equal(vk_store_client_put(other, &c, &err), VK_OK);
    assert_int_equal(vk_store_clients_generation(f->st, &g1), VK_OK);
    assert_true(g1 != g0);
    vk_store_close(other);
}

/* Whether a process other than this one holds a POSIX lock on `path` (asked from a child: a
 * process never conflicts with its own locks). */
static bool locked_by_another_process(const char *path)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open(path, O_RDWR | O_CLOEXEC);
        struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
        if (fd < 0 || fcntl(fd, F_GETLK, &fl) != 0)
            _exit(2);
        _exit(fl.l_type != F_UNLCK && fl.l_pid == getppid() ? 0 : 1);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_not_equal(WEXITSTATUS(status), 2);
    return WEXITSTATUS(status) == 0;
}

static void the_store_keeps_sqlite_locks(void **state)
{
    /* SQLite marks a WAL database as in use with locks on the database and its -shm file. Closing
     * any descriptor of such a file drops all of the process's locks on it; the next process to
     * open the database then takes itself for the only user, reinitialises the -shm under the
     * server, and the server dies of SIGBUS. After every kind of operation the locks must still
     * be held (whoever adds code that opens these files: use the path, never open and close). */
    struct fx *f = *state;
    struct vk_store *st = f->st;
    struct vk_err err = {{0}};
    char shm[128], db[128];
    int64_t gen;
    snprintf(shm, sizeof shm, "%s/valetkey.db-shm", f->dir);
    snprintf(db, sizeof db, "%s/valetkey.db", f->dir);
    assert_true(locked_by_another_process(shm));
    assert_true(locked_by_another_process(db)); /* WAL mode: a shared lock while connected */
    assert_int_equal(vk_store_clients_generation(st, &gen), VK_OK);
    assert_int_equal(vk_store_keys_generation(st, &gen), VK_OK);
    struct vk_client c = client("vk_c_locks"), out;
    assert_int_equal(vk_store_client_put(st, &c, &err), VK_OK);
    assert_int_equal(vk_store_client_get(st, &f->a, VK_STR("vk_c_locks"), &out), VK_OK);
    assert_int_equal(vk_store_purge_expired(st, NOW, &vk_store_retention_default), VK_OK);
    assert_int_equal(vk_store_clients_generation(st, &gen), VK_OK);
    assert_true(locked_by_another_process(shm));
    /* and a second handle on the same directory (what the CLI opens) changes nothing */
    struct vk_store *other = NULL;
    assert_int_equal(vk_store_open(f->dir, &other, &err), VK_OK);
    assert_int_equal(vk_store_clients_generation(other, &gen), VK_OK);
    vk_store_close(other);
    assert_true(locked_by_another_process(shm));
    assert_true(locked_by_another_process(db));
}

static void put_code(struct vk_store *st, const char *seed, const char *grant_id, uint8_t d[32])
{
    struct vk_code c = {.client_id = "vk_c_1", .user_id = "vk_u_1",
                        .redirect_uri = "https://a.example/cb", .code_challenge = "x",
                        .scope = "openid", .nonce = "", .resources = "", .session_id = "",
                        .auth_time = NOW, .created_at = NOW, .expires_at = NOW + 60,
                        .grant_id = grant_id};
    vk_sha256(seed, strlen(seed), c.digest);
    memcpy(d, c.digest, VK_DIGEST_LEN);
    assert_int_equal(vk_store_code_put(st, &c), VK_OK);
}

static struct vk_grant grant(const char *id);

static void code_is_redeemed_once(void **state)
{
    struct fx *f = *state;
    struct vk_store *st = f->st;
    uint8_t d[VK_DIGEST_LEN];
    put_code(st, "code", "vk_g_1", d);
    struct vk_code out;
    assert_int_equal(vk_store_code_get(st, &f->a, d, &out), VK_OK);
    assert_int_equal(out.used_at, 0);
    assert_string_equal(out.grant_id, "vk_g_1");
    struct vk_grant g = grant("vk_g_1");
    assert_int_equal(vk_store_code_redeem(st, d, NOW + 1, &g, NULL, "jti-c1", NOW + 600), VK_OK);
    assert_int_equal(vk_store_code_get(st, &f->a, d, &out), VK_OK);
    assert_int_equal(out.used_at, NOW + 1);
    /* a second redemption writes nothing */
    struct vk_grant g2 = grant("vk_g_1b");
    assert_int_equal(vk_store_code_redeem(st, d, NOW + 2, &g2, NULL, "jti-c2", NOW + 600),
                     VK_EEXIST);
    struct vk_grant gout;
    assert_int_equal(vk_store_grant_get(st, &f->a, "vk_g_1b", &gout), VK_ENOTFOUND);
    uint8_t none[VK_DIGEST_LEN] = {0};
    assert_int_equal(vk_store_code_get(st, &f->a, none, &out), VK_ENOTFOUND);
}

static struct vk_grant grant(const char *id)
{
    struct vk_grant g = {.id = id, .client_id = "vk_c_1", .user_id = "vk_u_1", .scope = "openid",
                         .resources = "", .session_id = "", .auth_time = NOW, .created_at = NOW,
                         .expires_at = NOW + 1000};
    return g;
}

static void revoking_a_grant_revokes_its_refresh_and_access_tokens(void **state)
{
    struct fx *f = *state;
    struct vk_store *st = f->st;
    struct vk_grant g = grant("vk_g_2"), gout;
    g.cnf_x5t = "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2"; /* RFC 8705 §4: a bound family */
    struct vk_refresh rt = {.grant_id = "vk_g_2", .created_at = NOW, .expires_at = NOW + 500};
    vk_sha256("rt1", 3, rt.digest);
    uint8_t code[VK_DIGEST_LEN];
    put_code(st, "c2", "vk_g_2", code);
    assert_int_equal(vk_store_code_redeem(st, code, NOW, &g, &rt, "jti-1", NOW + 600), VK_OK);
    struct vk_refresh next = {.grant_id = "vk_g_2", .created_at = NOW, .expires_at = NOW + 500};
    vk_sha256("rt2", 3, next.digest);
    assert_int_equal(
        vk_store_refresh_rotate(st, rt.digest, NOW + 1, NULL, 0, 0, &next, "jti-2", NOW + 600),
        VK_OK);
    /* a second rotation of the same token loses */
    struct vk_refresh next2 = next;
    vk_sha256("rt3", 3, next2.digest);
    assert_int_equal(
        vk_store_refresh_rotate(st, rt.digest, NOW + 2, NULL, 0, 0, &next2, "jti-3", NOW + 600),
        VK_EEXIST);
    bool revoked = true;
    assert_int_equal(vk_store_token_is_revoked(st, "jti-2", &revoked), VK_OK);
    assert_false(revoked);
    assert_int_equal(vk_store_grant_revoke(st, "vk_g_2", NOW + 3), VK_OK);
    assert_int_equal(vk_store_grant_get(st, &f->a, "vk_g_2", &gout), VK_OK);
    assert_true(gout.revoked_at != 0);
    assert_string_equal(gout.cnf_x5t, "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2");
    assert_int_equal(vk_store_token_is_revoked(st, "jti-1", &revoked), VK_OK);
    assert_true(revoked);
    assert_int_equal(vk_store_token_is_revoked(st, "jti-2", &revoked), VK_OK);
    assert_true(revoked);
    struct vk_refresh r;
    assert_int_equal(vk_store_refresh_get(st, &f->a, next.digest, &r), VK_OK);
    assert_true(r.used_at != 0);
    /* idempotent */
    assert_int_equal(vk_store_grant_revoke(st, "vk_g_2", NOW + 4), VK_OK);
}

static void revoked_code_grant_cannot_start_later(void **state)
{
    /* A replayed code revokes its grant id before the first redemption has stored it: the
     * tombstone makes that redemption fail. */
    struct fx *f = *state;
    struct vk_store *st = f->st;
    assert_int_equal(vk_store_grant_revoke(st, "vk_g_3", NOW), VK_OK);
    struct vk_grant g = grant("vk_g_3");
    uint8_t code[VK_DIGEST_LEN];
    put_code(st, "c3", "vk_g_3", code);
    assert_int_equal(vk_store_code_redeem(st, code, NOW, &g, NULL, "jti-x", NOW + 600), VK_EEXIST);
    /* nothing was written: the code is still unused */
    struct vk_code out;
    assert_int_equal(vk_store_code_get(st, &f->a, code, &out), VK_OK);
    assert_int_equal(out.used_at, 0);
}

static void grace_blob_is_kept_on_the_spent_token(void **state)
{
    struct fx *f = *state;
    struct vk_store *st = f->st;
    struct vk_grant g = grant("vk_g_4");
    struct vk_refresh rt = {.grant_id = "vk_g_4", .created_at = NOW, .expires_at = NOW + 500};
    vk_sha256("g-rt1", 5, rt.digest);
    uint8_t code[VK_DIGEST_LEN];
    put_code(st, "c4", "vk_g_4", code);
    assert_int_equal(vk_store_code_redeem(st, code, NOW, &g, &rt, "jti-g1", NOW + 600), VK_OK);
    struct vk_refresh next = {.grant_id = "vk_g_4", .created_at = NOW, .expires_at = NOW + 500};
    vk_sha256("g-rt2", 5, next.digest);
    const uint8_t blob[] = {9, 8, 7, 6, 5};
    assert_int_equal(vk_store_refresh_rotate(st, rt.digest, NOW + 1, blob, sizeof blob,
                                             NOW * 1000LL + 4500, &next, "jti-g2", NOW + 600),
                     VK_OK);
    struct vk_refresh r;
    assert_int_equal(vk_store_refresh_get(st, &f->a, rt.digest, &r), VK_OK);
    assert_int_equal(r.grace_len, sizeof blob);
    assert_memory_equal(r.grace_blob, blob, sizeof blob);
    assert_int_equal(r.grace_until_ms, NOW * 1000LL + 4500);
}

static void password_change_ends_sessions_and_grants(void **state)
{
    struct fx *f = *state;
    struct vk_store *st = f->st;
    struct vk_err err = {{0}};
    struct vk_user u = {.id = "vk_u_9", .username = "bob", .password_hash = "h1", .claims = "{}",
                        .created_at = NOW, .password_changed_at = NOW}, out;
    assert_int_equal(vk_store_user_put(st, &u, &err), VK_OK);
    assert_int_equal(vk_store_user_put(st, &u, &err), VK_EEXIST);
    struct vk_session se = {.user_id = "vk_u_9", .auth_time = NOW, .expires_at = NOW + 100};
    vk_sha256("sess", 4, se.digest);
    assert_int_equal(vk_store_session_put(st, &se), VK_OK);
    struct vk_session sout;
    assert_int_equal(vk_store_session_get(st, &f->a, se.digest, NOW, &sout), VK_OK);
    assert_int_equal(vk_store_session_get(st, &f->a, se.digest, NOW + 100, &sout), VK_ENOTFOUND);
    struct vk_grant g = grant("vk_g_9");
    g.user_id = "vk_u_9";
    uint8_t code[VK_DIGEST_LEN];
    put_code(st, "c9", "vk_g_9", code);
    assert_int_equal(vk_store_code_redeem(st, code, NOW, &g, NULL, "jti-9", NOW + 600), VK_OK);
    assert_int_equal(vk_store_user_set_password(st, VK_STR("bob"), "h2", NOW + 1), VK_OK);
    assert_int_equal(vk_store_session_get(st, &f->a, se.digest, NOW, &sout), VK_ENOTFOUND);
    struct vk_grant gout;
    assert_int_equal(vk_store_grant_get(st, &f->a, "vk_g_9", &gout), VK_OK);
    assert_true(gout.revoked_at != 0);
    assert_int_equal(vk_store_user_get_by_name(st, &f->a, VK_STR("bob"), &out), VK_OK);
    assert_string_equal(out.password_hash, "h2");
    assert_int_equal(vk_store_user_upgrade_hash(st, "vk_u_9", "h2", "h3"), VK_OK);
    assert_int_equal(vk_store_user_delete(st, VK_STR("bob"), NOW + 2), VK_OK);
    assert_int_equal(vk_store_user_get(st, &f->a, VK_STR("vk_u_9"), &out), VK_ENOTFOUND);
    assert_int_equal(vk_store_user_delete(st, VK_STR("bob"), NOW + 2), VK_ENOTFOUND);
}

/* --- retention: every table is bounded ------------------------------------------------------ */

/* A count read straight from the database file (what the store keeps, whatever its API shows). */
static long long count_rows(const struct fx *f, const char *sql)
{
    char path[128];
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    snprintf(path, sizeof path, "%s/valetkey.db", f->dir);
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    long long n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

static void add_user(struct vk_store *st, const char *id, const char *name)
{
    struct vk_err err = {{0}};
    struct vk_user u = {.id = id, .username = name, .password_hash = "h", .claims = "{}",
                        .created_at = NOW, .password_changed_at = NOW};
    assert_int_equal(vk_store_user_put(st, &u, &err), VK_OK);
}

static void sessions_are_capped_per_user(void **state)
{
    struct fx *f = *state;
    struct vk_store *st = f->st;
    struct vk_session out;
    add_user(st, "vk_u_s", "sam");
    add_user(st, "vk_u_t", "tia");
    struct vk_session other = {.user_id = "vk_u_t", .auth_time = NOW, .expires_at = NOW + 1000};
    vk_sha256("tia", 3, other.digest);
    assert_int_equal(vk_store_session_put(st, &other), VK_OK);
    /* a login flood: 40 sessions, one second apart */
    uint8_t d[40][VK_DIGEST_LEN];
    for (int i = 0; i < 40; i++) {
        char seed[16];
        int n = snprintf(seed, sizeof seed, "s%d", i);
        struct vk_session se = {.user_id = "vk_u_s", .auth_time = NOW + i,
                                .expires_at = NOW + 1000 + i};
        vk_sha256(seed, (size_t)n, se.digest);
        memcpy(d[i], se.digest, VK_DIGEST_LEN);
        assert_int_equal(vk_store_session_put(st, &se), VK_OK);
    }
    assert_int_equal(count_rows(f, "SELECT count(*) FROM sessions WHERE user_id = 'vk_u_s'"),
                     VK_STORE_SESSIONS_PER_USER);
    /* the oldest ended, the newest (the one just started above all) live */
    for (int i = 0; i < 40; i++)
        assert_int_equal(vk_store_session_get(st, &f->a, d[i], NOW, &out),
                         i < 40 - VK_STORE_SESSIONS_PER_USER ? VK_ENOTFOUND : VK_OK);
    /* another user's session is not counted against this one */
    assert_int_equal(vk_store_session_get(st, &f->a, other.digest, NOW, &out), VK_OK);
}

/* Starts grant `id` with refresh token 0 and rotates it `n` times, one second apart; rotation i
 * issues token i with an access token that expires `access_ttl` seconds later. */
static void rotate_family(struct vk_store *st, const char *id, int n, int64_t access_ttl,
                          uint8_t (*d)[VK_DIGEST_LEN])
{
    char code_seed[32], seed[48], jti[48];
    uint8_t code[VK_DIGEST_LEN];
    snprintf(code_seed, sizeof code_seed, "code-%s", id);
    put_code(st, code_seed, id, code);
    struct vk_grant g = grant(id);
    g.expires_at = NOW + 100000;
    struct vk_refresh rt = {.grant_id = id, .created_at = NOW, .expires_at = NOW + 100000};
    snprintf(seed, sizeof seed, "%s-rt-0", id);
    vk_sha256(seed, strlen(seed), rt.digest);
    memcpy(d[0], rt.digest, VK_DIGEST_LEN);
    assert_int_equal(vk_store_code_redeem(st, code, NOW, &g, &rt, "", 0), VK_OK);
    for (int i = 1; i <= n; i++) {
        struct vk_refresh next = {.grant_id = id, .created_at = NOW + i,
                                  .expires_at = NOW + 100000};
        snprintf(seed, sizeof seed, "%s-rt-%d", id, i);
        vk_sha256(seed, strlen(seed), next.digest);
        memcpy(d[i], next.digest, VK_DIGEST_LEN);
        snprintf(jti, sizeof jti, "%s-jti-%d", id, i);
        assert_int_equal(vk_store_refresh_rotate(st, d[i - 1], NOW + i, NULL, 0, 0, &next, jti,
                                                 NOW + i + access_ttl),
                         VK_OK);
    }
}

static void a_family_keeps_its_newest_spent_refresh_tokens(void **state)
{
    struct fx *f = *state;
    struct vk_store *st = f->st;
    struct vk_refresh r;
    enum { N = 150 };
    static uint8_t d[N + 1][VK_DIGEST_LEN];
    rotate_family(st, "vk_g_long", N, 5, d);
    /* the live token and the newest spent ones stay (a replay of them is recognised as reuse);
     * older spent ones went once their access tokens had expired */
    assert_int_equal(count_rows(f, "SELECT count(*) FROM refresh_tokens "
                                   "WHERE grant_id = 'vk_g_long'"),
                     VK_STORE_SPENT_REFRESH_PER_GRANT + 1);
    for (int i = 0; i <= N; i++) {
        int rc = vk_store_refresh_get(st, &f->a, d[i], &r);
        if (i < N - VK_STORE_SPENT_REFRESH_PER_GRANT) {
            assert_int_equal(rc, VK_ENOTFOUND);
        } else {
            assert_int_equal(rc, VK_OK);
            assert_true(i == N ? r.used_at == 0 : r.used_at != 0);
        }
    }
}

static void spent_refresh_tokens_with_live_access_tokens_are_kept(void **state)
{
    /* Rotating faster than access tokens expire: every row still names a live access token, and
     * revoking the grant must reach all of them. */
    struct fx *f = *state;
    struct vk_store *st = f->st;
    enum { N = 120 };
    static uint8_t d[N + 1][VK_DIGEST_LEN];
    rotate_family(st, "vk_g_fast", N, 100000, d);
    /* (all but token 0: the access token of the code exchange is recorded on the grant) */
    assert_int_equal(count_rows(f, "SELECT count(*) FROM refresh_tokens "
                                   "WHERE grant_id = 'vk_g_fast'"),
                     N);
    assert_int_equal(vk_store_grant_revoke(st, "vk_g_fast", NOW + N + 1), VK_OK);
    bool revoked = false;
    assert_int_equal(vk_store_token_is_revoked(st, "vk_g_fast-jti-1", &revoked), VK_OK);
    assert_true(revoked);
    /* the grant's event lives as long as the last access token it revoked */
    assert_int_equal(count_rows(f, "SELECT expires_at FROM revocation_events WHERE "
                                   "kind = 'grant' AND subject = 'vk_g_fast'"),
                     NOW + N + 100000);
}

static void purge_keeps_what_retention_requires(void **state)
{
    struct fx *f = *state;
    struct vk_store *st = f->st;
    const struct vk_store_retention *r = &vk_store_retention_default;
    const int64_t T = NOW + 200000; /* the purge runs at T */
    bool revoked;
    /* revocation list: entries end with their tokens */
    assert_int_equal(vk_store_token_revoke(st, "jti-old", "c", T - r->events_after_expiry - 1, NOW),
                     VK_OK);
    assert_int_equal(vk_store_token_revoke(st, "jti-live", "c", T + 100, NOW), VK_OK);
    /* sessions */
    add_user(st, "vk_u_p", "pat");
    struct vk_session s_old = {.user_id = "vk_u_p", .auth_time = NOW, .expires_at = T - 1};
    struct vk_session s_live = {.user_id = "vk_u_p", .auth_time = NOW + 1, .expires_at = T + 1};
    vk_sha256("s-old", 5, s_old.digest);
    vk_sha256("s-live", 6, s_live.digest);
    assert_int_equal(vk_store_session_put(st, &s_old), VK_OK);
    assert_int_equal(vk_store_session_put(st, &s_live), VK_OK);
    /* codes: kept a day past expiry (a late replay still revokes) */
    struct vk_code c_old = {.client_id = "c", .user_id = "u", .redirect_uri = "r",
                            .code_challenge = "x", .scope = "s", .auth_time = NOW,
                            .created_at = NOW, .expires_at = T - r->codes_after_expiry - 1,
                            .grant_id = "vk_g_c1"};
    struct vk_code c_recent = c_old;
    c_recent.expires_at = T - 10;
    c_recent.grant_id = "vk_g_c2";
    vk_sha256("c-old", 5, c_old.digest);
    vk_sha256("c-recent", 8, c_recent.digest);
    assert_int_equal(vk_store_code_put(st, &c_old), VK_OK);
    assert_int_equal(vk_store_code_put(st, &c_recent), VK_OK);
    /* grants: a family that ended more than a day ago goes with its refresh tokens; one that
     * ended recently stays, its spent token too (reuse is still recognised) */
    uint8_t code[VK_DIGEST_LEN];
    struct vk_grant g_old = grant("vk_g_old"), g_recent = grant("vk_g_recent");
    g_old.expires_at = T - r->grants_after_expiry - 1;
    g_recent.expires_at = T - 10;
    struct vk_refresh rt_old = {.grant_id = "vk_g_old", .created_at = NOW, .expires_at = T - 5};
    struct vk_refresh rt_spent = {.grant_id = "vk_g_recent", .created_at = NOW,
                                  .expires_at = T - 5};
    struct vk_refresh rt_next = {.grant_id = "vk_g_recent", .created_at = NOW + 1,
                                 .expires_at = T - 5};
    vk_sha256("rt-old", 6, rt_old.digest);
    vk_sha256("rt-spent", 8, rt_spent.digest);
    vk_sha256("rt-next", 7, rt_next.digest);
    put_code(st, "p-c1", "vk_g_old", code);
    assert_int_equal(vk_store_code_redeem(st, code, NOW, &g_old, &rt_old, "j", NOW + 600), VK_OK);
    put_code(st, "p-c2", "vk_g_recent", code);
    assert_int_equal(vk_store_code_redeem(st, code, NOW, &g_recent, &rt_spent, "j2", NOW + 600),
                     VK_OK);
    /* rotated with a grace pair whose window closes long before T */
    const uint8_t blob[] = {1, 2, 3};
    assert_int_equal(vk_store_refresh_rotate(st, rt_spent.digest, NOW + 1, blob, sizeof blob,
                                             (NOW + 3) * 1000LL, &rt_next, "j3", NOW + 600),
                     VK_OK);
    /* a tombstone: a grant id revoked before anything stored it */
    assert_int_equal(vk_store_grant_revoke(st, "vk_g_never", NOW), VK_OK);

    assert_int_equal(vk_store_purge_expired(st, T, r), VK_OK);

    assert_int_equal(vk_store_token_is_revoked(st, "jti-old", &revoked), VK_OK);
    assert_false(revoked);
    assert_int_equal(vk_store_token_is_revoked(st, "jti-live", &revoked), VK_OK);
    assert_true(revoked);
    struct vk_session so;
    assert_int_equal(count_rows(f, "SELECT count(*) FROM sessions WHERE user_id = 'vk_u_p'"), 1);
    assert_int_equal(vk_store_session_get(st, &f->a, s_live.digest, NOW, &so), VK_OK);
    struct vk_code co;
    assert_int_equal(vk_store_code_get(st, &f->a, c_old.digest, &co), VK_ENOTFOUND);
    assert_int_equal(vk_store_code_get(st, &f->a, c_recent.digest, &co), VK_OK);
    struct vk_grant go;
    struct vk_refresh ro;
    assert_int_equal(vk_store_grant_get(st, &f->a, "vk_g_old", &go), VK_ENOTFOUND);
    assert_int_equal(vk_store_refresh_get(st, &f->a, rt_old.digest, &ro), VK_ENOTFOUND);
    assert_int_equal(vk_store_grant_get(st, &f->a, "vk_g_recent", &go), VK_OK);
    assert_int_equal(vk_store_grant_get(st, &f->a, "vk_g_never", &go), VK_ENOTFOUND);
    /* the spent token stays with its family; the unused one past its expiry went */
    assert_int_equal(vk_store_refresh_get(st, &f->a, rt_spent.digest, &ro), VK_OK);
    assert_true(ro.used_at != 0);
    assert_int_equal(ro.grace_len, 0); /* the closed window's sealed pair is gone */
    assert_int_equal(vk_store_refresh_get(st, &f->a, rt_next.digest, &ro), VK_ENOTFOUND);
    /* events: kept events_after_expiry past what they revoke; a tombstone's names no token */
    assert_int_equal(count_rows(f, "SELECT count(*) FROM revocation_events WHERE "
                                   "subject = 'jti-old'"),
                     0);
    assert_int_equal(count_rows(f, "SELECT count(*) FROM revocation_events WHERE "
                                   "subject = 'jti-live'"),
                     1);
    assert_int_equal(count_rows(f, "SELECT count(*) FROM revocation_events WHERE "
                                   "subject = 'vk_g_never'"),
                     0);
}

static void revocation_events_are_capped(void **state)
{
    struct fx *f = *state;
    struct vk_store *st = f->st;
    struct vk_store_retention r = vk_store_retention_default;
    r.max_events = 5;
    for (int i = 0; i < 8; i++) {
        char jti[16];
        snprintf(jti, sizeof jti, "cap-%d", i);
        assert_int_equal(vk_store_token_revoke(st, jti, "c", NOW + 1000, NOW), VK_OK);
    }
    assert_int_equal(vk_store_purge_expired(st, NOW, &r), VK_OK);
    assert_int_equal(count_rows(f, "SELECT count(*) FROM revocation_events"), 5);
    /* the newest stay; the revocations themselves are untouched */
    assert_int_equal(count_rows(f, "SELECT count(*) FROM revocation_events WHERE "
                                   "subject IN ('cap-0', 'cap-1', 'cap-2')"),
                     0);
    bool revoked = false;
    assert_int_equal(vk_store_token_is_revoked(st, "cap-0", &revoked), VK_OK);
    assert_true(revoked);
}

static void removing_a_client_removes_consents_to_it(void **state)
{
    struct fx *f = *state;
    struct vk_store *st = f->st;
    struct vk_err err = {{0}};
    const char *scope = NULL;
    add_user(st, "vk_u_c", "cid");
    struct vk_client c = client("vk_c_consented");
    assert_int_equal(vk_store_client_put(st, &c, &err), VK_OK);
    assert_int_equal(vk_store_consent_put(st, "vk_u_c", "vk_c_consented", "openid", NOW), VK_OK);
    assert_int_equal(vk_store_consent_put(st, "vk_u_c", "vk_c_kept", "openid", NOW), VK_OK);
    assert_int_equal(vk_store_client_delete(st, VK_STR("vk_c_consented")), VK_OK);
    assert_int_equal(vk_store_consent_get(st, &f->a, "vk_u_c", "vk_c_consented", &scope),
                     VK_ENOTFOUND);
    assert_int_equal(vk_store_consent_get(st, &f->a, "vk_u_c", "vk_c_kept", &scope), VK_OK);
}

static void csrf_secret_is_stable(void **state)
{
    struct fx *f = *state;
    uint8_t a[VK_DIGEST_LEN], b[VK_DIGEST_LEN];
    assert_int_equal(vk_store_secret_get_or_create(f->st, "csrf", a), VK_OK);
    assert_int_equal(vk_store_secret_get_or_create(f->st, "csrf", b), VK_OK);
    assert_memory_equal(a, b, VK_DIGEST_LEN);
}

/* --- the account page: every operation stays with the user it names ------------------------- */

static struct vk_session session_of(const char *user_id, const char *seed, const char *handle,
                                    int64_t auth_time)
{
    struct vk_session se = {.user_id = user_id, .auth_time = auth_time,
                            .expires_at = auth_time + 1000, .handle = handle,
                            .user_agent = "Firefox on Linux", .address = "192.0.2.0/24"};
    vk_sha256(seed, strlen(seed), se.digest);
    return se;
}

static void account_sessions_are_listed_touched_and_ended_per_user(void **state)
{
    struct fx *f = *state;
    struct vk_store *st = f->st;
    struct vk_session_list sl;
    struct vk_session out;
    struct vk_handle_list ended;
    add_user(st, "vk_u_a", "ann");
    add_user(st, "vk_u_b", "ben");
    struct vk_session a1 = session_of("vk_u_a", "a1", "h-a1", NOW);
    struct vk_session a2 = session_of("vk_u_a", "a2", NULL, NOW + 1); /* the store makes one */
    struct vk_session a3 = session_of("vk_u_a", "a3", "h-a3", NOW + 2);
    struct vk_session b1 = session_of("vk_u_b", "b1", "h-b1", NOW);
    assert_int_equal(vk_store_session_put(st, &a1), VK_OK);
    assert_int_equal(vk_store_session_put(st, &a2), VK_OK);
    assert_int_equal(vk_store_session_put(st, &a3), VK_OK);
    assert_int_equal(vk_store_session_put(st, &b1), VK_OK);
    assert_int_equal(vk_store_session_list(st, &f->a, "vk_u_a", NOW, &sl), VK_OK);
    assert_int_equal(sl.n, 3);
    /* newest sign-in first, every field round-trips, last_seen starts at auth_time */
    assert_string_equal(sl.v[0].handle, "h-a3");
    assert_memory_equal(sl.v[0].digest, a3.digest, VK_DIGEST_LEN);
    assert_string_equal(sl.v[0].user_agent, "Firefox on Linux");
    assert_string_equal(sl.v[0].address, "192.0.2.0/24");
    assert_int_equal(sl.v[0].last_seen, NOW + 2);
    assert_int_equal(strlen(sl.v[1].handle), 32);
    assert_string_not_equal(sl.v[1].handle, sl.v[2].handle);
    const char *a2_handle = sl.v[1].handle;
    /* expired sessions are not listed */
    assert_int_equal(vk_store_session_list(st, &f->a, "vk_u_a", NOW + 1000, &sl), VK_OK);
    assert_int_equal(sl.n, 2);
    /* "last seen": written only once the interval has passed */
    assert_int_equal(vk_store_session_touch(st, a1.digest, NOW + 100, "198.51.100.0/24", 300),
                     VK_OK);
    assert_int_equal(vk_store_session_get(st, &f->a, a1.digest, NOW, &out), VK_OK);
    assert_int_equal(out.last_seen, NOW);
    assert_string_equal(out.address, "192.0.2.0/24");
    assert_int_equal(vk_store_session_touch(st, a1.digest, NOW + 300, "198.51.100.0/24", 300),
                     VK_OK);
    assert_int_equal(vk_store_session_get(st, &f->a, a1.digest, NOW, &out), VK_OK);
    assert_int_equal(out.last_seen, NOW + 300);
    assert_string_equal(out.address, "198.51.100.0/24");
    assert_string_equal(out.handle, "h-a1");
    /* another user's handle is not found, and that session lives on */
    assert_int_equal(vk_store_session_end(st, "vk_u_a", "h-b1"), VK_ENOTFOUND);
    assert_int_equal(vk_store_session_get(st, &f->a, b1.digest, NOW, &out), VK_OK);
    assert_int_equal(vk_store_session_end(st, "vk_u_b", ""), VK_ENOTFOUND);
    assert_int_equal(vk_store_session_end(st, "vk_u_a", a2_handle), VK_OK);
    assert_int_equal(vk_store_session_get(st, &f->a, a2.digest, NOW, &out), VK_ENOTFOUND);
    assert_int_equal(vk_store_session_end(st, "vk_u_a", a2_handle), VK_ENOTFOUND);
    /* all others: this user's only, the kept one stays */
    assert_int_equal(vk_store_session_end_others(st, &f->a, "vk_u_a", a3.digest, &ended), VK_OK);
    assert_int_equal(ended.n, 1);
    assert_string_equal(ended.v[0], "h-a1");
    assert_int_equal(vk_store_session_get(st, &f->a, a3.digest, NOW, &out), VK_OK);
    assert_int_equal(vk_store_session_get(st, &f->a, a1.digest, NOW, &out), VK_ENOTFOUND);
    assert_int_equal(vk_store_session_get(st, &f->a, b1.digest, NOW, &out), VK_OK);
    assert_int_equal(vk_store_session_end_others(st, &f->a, "vk_u_a", a3.digest, &ended), VK_OK);
    assert_int_equal(ended.n, 0);
}

/* Starts a grant of (user, client) by redeeming a code; with a refresh token unless rt_seed is
 * NULL; the access token's jti expires at access_exp. */
static void start_grant(struct vk_store *st, const char *id, const char *user_id,
                        const char *client_id, const char *rt_seed, int64_t access_exp)
{
    char seed[64];
    struct vk_code c = {.client_id = client_id, .user_id = user_id,
                        .redirect_uri = "https://a.example/cb", .code_challenge = "x",
                        .scope = "openid email", .nonce = "", .resources = "", .session_id = "",
                        .auth_time = NOW, .created_at = NOW, .expires_at = NOW + 60,
                        .grant_id = id};
    snprintf(seed, sizeof seed, "code-%s", id);
    vk_sha256(seed, strlen(seed), c.digest);
    assert_int_equal(vk_store_code_put(st, &c), VK_OK);
    struct vk_grant g = grant(id);
    g.user_id = user_id;
    g.client_id = client_id;
    g.scope = "openid email";
    struct vk_refresh rt = {.grant_id = id, .created_at = NOW, .expires_at = NOW + 500};
    if (rt_seed != NULL)
        vk_sha256(rt_seed, strlen(rt_seed), rt.digest);
    snprintf(seed, sizeof seed, "jti-%s", id);
    assert_int_equal(vk_store_code_redeem(st, c.digest, NOW, &g, rt_seed != NULL ? &rt : NULL,
                                          seed, access_exp),
                     VK_OK);
}

static bool jti_revoked(struct vk_store *st, const char *grant_id)
{
    char jti[64];
    bool revoked = false;
    snprintf(jti, sizeof jti, "jti-%s", grant_id);
    assert_int_equal(vk_store_token_is_revoked(st, jti, &revoked), VK_OK);
    return revoked;
}

static void account_removal_takes_back_one_clients_access_of_one_user(void **state)
{
    struct fx *f = *state;
    struct vk_store *st = f->st;
    struct vk_err err = {{0}};
    struct vk_user_grant_list gl;
    struct vk_consent_list cl;
    struct vk_grant gout;
    struct vk_code cout;
    const char *scope;
    int n = -1;
    add_user(st, "vk_u_a", "ann");
    add_user(st, "vk_u_b", "ben");
    struct vk_client c1 = client("vk_c_one");
    c1.name = "One";
    assert_int_equal(vk_store_client_put(st, &c1, &err), VK_OK);
    start_grant(st, "g-a1", "vk_u_a", "vk_c_one", "rt-a1", NOW + 600);
    start_grant(st, "g-a2", "vk_u_a", "vk_c_one", NULL, NOW + 600);    /* access token only */
    start_grant(st, "g-a3", "vk_u_a", "vk_c_two", NULL, NOW - 1);      /* nothing usable left */
    start_grant(st, "g-a4", "vk_u_a", "vk_c_two", "rt-a4", NOW + 600);
    start_grant(st, "g-b1", "vk_u_b", "vk_c_one", "rt-b1", NOW + 600);
    assert_int_equal(vk_store_grant_revoke(st, "g-a4", NOW), VK_OK);   /* revoked */
    /* a rotation: "last used" moves */
    struct vk_refresh next = {.grant_id = "g-a1", .created_at = NOW + 5, .expires_at = NOW + 500};
    uint8_t old[VK_DIGEST_LEN];
    vk_sha256("rt-a1", 5, old);
    vk_sha256("rt-a1-2", 7, next.digest);
    assert_int_equal(vk_store_refresh_rotate(st, old, NOW + 5, NULL, 0, 0, &next, "jti-a1-2",
                                             NOW + 605),
                     VK_OK);
    assert_int_equal(vk_store_consent_put(st, "vk_u_a", "vk_c_one", "openid email", NOW), VK_OK);
    assert_int_equal(vk_store_consent_put(st, "vk_u_a", "vk_c_three", "openid", NOW + 7), VK_OK);
    assert_int_equal(vk_store_consent_put(st, "vk_u_b", "vk_c_one", "openid", NOW), VK_OK);
    /* a code issued to ann for One and not yet redeemed, and one for another client */
    uint8_t pending[VK_DIGEST_LEN], other[VK_DIGEST_LEN];
    struct vk_code pc = {.client_id = "vk_c_one", .user_id = "vk_u_a",
                         .redirect_uri = "https://a.example/cb", .code_challenge = "x",
                         .scope = "openid", .nonce = "", .resources = "", .session_id = "",
                         .auth_time = NOW, .created_at = NOW, .expires_at = NOW + 60,
                         .grant_id = "g-a5"};
    vk_sha256("pending", 7, pc.digest);
    memcpy(pending, pc.digest, VK_DIGEST_LEN);
    assert_int_equal(vk_store_code_put(st, &pc), VK_OK);
    pc.client_id = "vk_c_three";
    pc.grant_id = "g-a6";
    vk_sha256("other", 5, pc.digest);
    memcpy(other, pc.digest, VK_DIGEST_LEN);
    assert_int_equal(vk_store_code_put(st, &pc), VK_OK);

    /* the live grants: revoked and spent ones are not listed; the client's name is joined */
    assert_int_equal(vk_store_user_grants(st, &f->a, "vk_u_a", NOW + 10, &gl), VK_OK);
    assert_int_equal(gl.n, 2);
    assert_string_equal(gl.v[0].id, "g-a1");
    assert_string_equal(gl.v[0].client_name, "One");
    assert_string_equal(gl.v[0].scope, "openid email");
    assert_int_equal(gl.v[0].created_at, NOW);
    assert_int_equal(gl.v[0].last_used, NOW + 5);
    assert_string_equal(gl.v[1].id, "g-a2");
    assert_int_equal(gl.v[1].last_used, NOW);
    /* g-a2 is live only while its access token is */
    assert_int_equal(vk_store_user_grants(st, &f->a, "vk_u_a", NOW + 700, &gl), VK_OK);
    assert_int_equal(gl.n, 0); /* and g-a1's refresh tokens are past their expiry then */
    assert_int_equal(vk_store_consent_list(st, &f->a, "vk_u_a", &cl), VK_OK);
    assert_int_equal(cl.n, 2);
    assert_string_equal(cl.v[0].client_id, "vk_c_one");
    assert_string_equal(cl.v[0].client_name, "One");
    assert_string_equal(cl.v[1].client_id, "vk_c_three");
    assert_string_equal(cl.v[1].client_name, ""); /* not registered */
    assert_int_equal(cl.v[1].created_at, NOW + 7);

    /* another user's grant id, a client ben has nothing of: nothing found, nothing changed */
    assert_int_equal(vk_store_user_client_revoke(st, "vk_u_a", "g-b1", NOW + 20, &n),
                     VK_ENOTFOUND);
    assert_int_equal(n, 0);
    assert_int_equal(vk_store_user_client_revoke(st, "vk_u_b", "vk_c_three", NOW + 20, &n),
                     VK_ENOTFOUND);
    assert_int_equal(vk_store_consent_get(st, &f->a, "vk_u_a", "vk_c_three", &scope), VK_OK);

    assert_int_equal(vk_store_user_client_revoke(st, "vk_u_a", "vk_c_one", NOW + 20, &n), VK_OK);
    assert_int_equal(n, 2);
    assert_int_equal(vk_store_grant_get(st, &f->a, "g-a1", &gout), VK_OK);
    assert_int_equal(gout.revoked_at, NOW + 20);
    assert_int_equal(vk_store_grant_get(st, &f->a, "g-a2", &gout), VK_OK);
    assert_int_equal(gout.revoked_at, NOW + 20);
    assert_true(jti_revoked(st, "g-a1"));
    assert_true(jti_revoked(st, "g-a2"));
    bool revoked = false;
    assert_int_equal(vk_store_token_is_revoked(st, "jti-a1-2", &revoked), VK_OK);
    assert_true(revoked);
    struct vk_refresh r;
    assert_int_equal(vk_store_refresh_get(st, &f->a, next.digest, &r), VK_OK);
    assert_true(r.used_at != 0);
    assert_int_equal(vk_store_consent_get(st, &f->a, "vk_u_a", "vk_c_one", &scope),
                     VK_ENOTFOUND);
    assert_int_equal(vk_store_code_get(st, &f->a, pending, &cout), VK_OK);
    assert_int_equal(cout.used_at, NOW + 20);
    /* ann's other clients and everything of ben's are untouched */
    assert_int_equal(vk_store_code_get(st, &f->a, other, &cout), VK_OK);
    assert_int_equal(cout.used_at, 0);
    assert_int_equal(vk_store_consent_get(st, &f->a, "vk_u_a", "vk_c_three", &scope), VK_OK);
    assert_int_equal(vk_store_grant_get(st, &f->a, "g-b1", &gout), VK_OK);
    assert_int_equal(gout.revoked_at, 0);
    assert_false(jti_revoked(st, "g-b1"));
    assert_int_equal(vk_store_consent_get(st, &f->a, "vk_u_b", "vk_c_one", &scope), VK_OK);
    assert_int_equal(vk_store_user_grants(st, &f->a, "vk_u_b", NOW + 20, &gl), VK_OK);
    assert_int_equal(gl.n, 1);
    /* done once: the second time there is nothing left */
    assert_int_equal(vk_store_user_client_revoke(st, "vk_u_a", "vk_c_one", NOW + 21, &n),
                     VK_ENOTFOUND);
    /* an approval alone can be taken back */
    assert_int_equal(vk_store_user_client_revoke(st, "vk_u_a", "vk_c_three", NOW + 22, &n),
                     VK_OK);
    assert_int_equal(n, 0);
    assert_int_equal(vk_store_consent_get(st, &f->a, "vk_u_a", "vk_c_three", &scope),
                     VK_ENOTFOUND);
}

static void account_password_change_keeps_the_session_it_came_from(void **state)
{
    struct fx *f = *state;
    struct vk_store *st = f->st;
    struct vk_err err = {{0}};
    struct vk_handle_list ended;
    struct vk_session out;
    struct vk_user u = {.id = "vk_u_p", .username = "pam", .password_hash = "old-hash",
                        .claims = "{}", .created_at = NOW, .password_changed_at = NOW}, uout;
    struct vk_grant gout;
    struct vk_code cout;
    assert_int_equal(vk_store_user_put(st, &u, &err), VK_OK);
    add_user(st, "vk_u_q", "quin");
    struct vk_session keep = session_of("vk_u_p", "p-keep", "h-keep", NOW);
    struct vk_session gone = session_of("vk_u_p", "p-gone", "h-gone", NOW);
    struct vk_session theirs = session_of("vk_u_q", "q-1", "h-q", NOW);
    assert_int_equal(vk_store_session_put(st, &keep), VK_OK);
    assert_int_equal(vk_store_session_put(st, &gone), VK_OK);
    assert_int_equal(vk_store_session_put(st, &theirs), VK_OK);
    start_grant(st, "g-p1", "vk_u_p", "vk_c_one", "rt-p1", NOW + 600);
    start_grant(st, "g-q1", "vk_u_q", "vk_c_one", "rt-q1", NOW + 600);
    uint8_t pending[VK_DIGEST_LEN];
    struct vk_code pc = {.client_id = "vk_c_one", .user_id = "vk_u_p",
                         .redirect_uri = "https://a.example/cb", .code_challenge = "x",
                         .scope = "openid", .nonce = "", .resources = "", .session_id = "",
                         .auth_time = NOW, .created_at = NOW, .expires_at = NOW + 60,
                         .grant_id = "g-p2"};
    vk_sha256("p-pending", 9, pc.digest);
    memcpy(pending, pc.digest, VK_DIGEST_LEN);
    assert_int_equal(vk_store_code_put(st, &pc), VK_OK);
    /* a stale hash (changed meanwhile): nothing is written */
    assert_int_equal(vk_store_user_change_password(st, &f->a, "vk_u_p", "not-the-hash", "new-hash",
                                                   keep.digest, NOW + 1, &ended),
                     VK_EEXIST);
    assert_int_equal(ended.n, 0);
    assert_int_equal(vk_store_user_get(st, &f->a, VK_STR("vk_u_p"), &uout), VK_OK);
    assert_string_equal(uout.password_hash, "old-hash");
    assert_int_equal(vk_store_session_get(st, &f->a, gone.digest, NOW, &out), VK_OK);
    assert_int_equal(vk_store_grant_get(st, &f->a, "g-p1", &gout), VK_OK);
    assert_int_equal(gout.revoked_at, 0);
    /* another user's id with this user's hash: no such row */
    assert_int_equal(vk_store_user_change_password(st, &f->a, "vk_u_q", "old-hash", "new-hash",
                                                   keep.digest, NOW + 1, &ended),
                     VK_EEXIST);
    assert_int_equal(vk_store_user_change_password(st, &f->a, "vk_u_p", "old-hash", "new-hash",
                                                   keep.digest, NOW + 2, &ended),
                     VK_OK);
    assert_int_equal(vk_store_user_get(st, &f->a, VK_STR("vk_u_p"), &uout), VK_OK);
    assert_string_equal(uout.password_hash, "new-hash");
    assert_int_equal(uout.password_changed_at, NOW + 2);
    assert_int_equal(ended.n, 1);
    assert_string_equal(ended.v[0], "h-gone");
    assert_int_equal(vk_store_session_get(st, &f->a, keep.digest, NOW + 2, &out), VK_OK);
    assert_int_equal(vk_store_session_get(st, &f->a, gone.digest, NOW + 2, &out), VK_ENOTFOUND);
    assert_int_equal(vk_store_grant_get(st, &f->a, "g-p1", &gout), VK_OK);
    assert_int_equal(gout.revoked_at, NOW + 2);
    assert_true(jti_revoked(st, "g-p1"));
    assert_int_equal(vk_store_code_get(st, &f->a, pending, &cout), VK_OK);
    assert_int_equal(cout.used_at, NOW + 2);
    /* the other user: untouched */
    assert_int_equal(vk_store_session_get(st, &f->a, theirs.digest, NOW + 2, &out), VK_OK);
    assert_int_equal(vk_store_grant_get(st, &f->a, "g-q1", &gout), VK_OK);
    assert_int_equal(gout.revoked_at, 0);
    assert_int_equal(vk_store_user_get(st, &f->a, VK_STR("vk_u_q"), &uout), VK_OK);
    assert_string_equal(uout.password_hash, "h");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(client_round_trip_and_generation, setup, teardown),
        cmocka_unit_test_setup_teardown(generation_seen_across_connections, setup, teardown),
        cmocka_unit_test_setup_teardown(the_store_keeps_sqlite_locks, setup, teardown),
        cmocka_unit_test_setup_teardown(code_is_redeemed_once, setup, teardown),
        cmocka_unit_test_setup_teardown(revoking_a_grant_revokes_its_refresh_and_access_tokens,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(revoked_code_grant_cannot_start_later, setup, teardown),
        cmocka_unit_test_setup_teardown(grace_blob_is_kept_on_the_spent_token, setup, teardown),
        cmocka_unit_test_setup_teardown(password_change_ends_sessions_and_grants, setup, teardown),
        cmocka_unit_test_setup_teardown(csrf_secret_is_stable, setup, teardown),
        cmocka_unit_test_setup_teardown(sessions_are_capped_per_user, setup, teardown),
        cmocka_unit_test_setup_teardown(a_family_keeps_its_newest_spent_refresh_tokens, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(spent_refresh_tokens_with_live_access_tokens_are_kept,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(purge_keeps_what_retention_requires, setup, teardown),
        cmocka_unit_test_setup_teardown(revocation_events_are_capped, setup, teardown),
        cmocka_unit_test_setup_teardown(removing_a_client_removes_consents_to_it, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(account_sessions_are_listed_touched_and_ended_per_user,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(account_removal_takes_back_one_clients_access_of_one_user,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(account_password_change_keeps_the_session_it_came_from,
                                        setup, teardown),
    };
    return cmocka_run_group_tests_name("store_contract", tests, NULL, NULL);
}
