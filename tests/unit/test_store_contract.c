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
    assert_int_equal(st->ops->clients_generation(st, &g0), VK_OK);
    struct vk_client c = client("vk_c_1"), out;
    assert_int_equal(st->ops->client_put(st, &c, &err), VK_OK);
    assert_int_equal(st->ops->client_put(st, &c, &err), VK_EEXIST);
    assert_int_equal(st->ops->client_get(st, &f->a, VK_STR("vk_c_1"), &out), VK_OK);
    assert_string_equal(out.redirect_uris, "https://a.example/cb");
    assert_false(out.introspect);
    assert_true(out.has_secret);
    assert_memory_equal(out.secret_digest, c.secret_digest, VK_DIGEST_LEN);
    assert_int_equal(st->ops->clients_generation(st, &g1), VK_OK);
    assert_true(g1 != g0);
    uint8_t d[VK_DIGEST_LEN];
    vk_sha256("other", 5, d);
    assert_int_equal(st->ops->client_set_secret(st, VK_STR("vk_c_1"), d), VK_OK);
    assert_int_equal(st->ops->clients_generation(st, &g2), VK_OK);
    assert_true(g2 != g1);
    struct vk_client rs = client("vk_c_rs");
    rs.introspect = true;
    assert_int_equal(st->ops->client_put(st, &rs, &err), VK_OK);
    assert_int_equal(st->ops->client_get(st, &f->a, VK_STR("vk_c_rs"), &out), VK_OK);
    assert_true(out.introspect);
    assert_int_equal(st->ops->client_delete(st, VK_STR("vk_c_1")), VK_OK);
    assert_int_equal(st->ops->client_get(st, &f->a, VK_STR("vk_c_1"), &out), VK_ENOTFOUND);
    assert_int_equal(st->ops->client_delete(st, VK_STR("vk_c_1")), VK_ENOTFOUND);
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
    assert_int_equal(f->st->ops->clients_generation(f->st, &g0), VK_OK);
    assert_int_equal(f->st->ops->clients_generation(f->st, &g0), VK_OK);
    struct vk_client c = client("vk_c_2");
    assert_int_equal(other->ops->client_put(other, &c, &err), VK_OK);
    assert_int_equal(f->st->ops->clients_generation(f->st, &g1), VK_OK);
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
    /* SQLite marks a WAL database as in use with a lock on its -shm file. Closing any descriptor
     * of that file drops all of the process's locks on it; the next process to open the database
     * then takes itself for the only user, reinitialises the -shm under the server, and the
     * server dies of SIGBUS. After every kind of operation the lock must still be held. */
    struct fx *f = *state;
    struct vk_store *st = f->st;
    struct vk_err err = {{0}};
    char shm[128];
    int64_t gen;
    snprintf(shm, sizeof shm, "%s/valetkey.db-shm", f->dir);
    assert_true(locked_by_another_process(shm));
    assert_int_equal(st->ops->clients_generation(st, &gen), VK_OK);
    assert_int_equal(st->ops->keys_generation(st, &gen), VK_OK);
    struct vk_client c = client("vk_c_locks"), out;
    assert_int_equal(st->ops->client_put(st, &c, &err), VK_OK);
    assert_int_equal(st->ops->client_get(st, &f->a, VK_STR("vk_c_locks"), &out), VK_OK);
    assert_int_equal(st->ops->purge_expired(st, NOW), VK_OK);
    assert_int_equal(st->ops->clients_generation(st, &gen), VK_OK);
    assert_true(locked_by_another_process(shm));
    /* and a second handle on the same directory (what the CLI opens) changes nothing */
    struct vk_store *other = NULL;
    assert_int_equal(vk_store_open(f->dir, &other, &err), VK_OK);
    assert_int_equal(other->ops->clients_generation(other, &gen), VK_OK);
    vk_store_close(other);
    assert_true(locked_by_another_process(shm));
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
    assert_int_equal(st->ops->code_put(st, &c), VK_OK);
}

static struct vk_grant grant(const char *id);

static void code_is_redeemed_once(void **state)
{
    struct fx *f = *state;
    struct vk_store *st = f->st;
    uint8_t d[VK_DIGEST_LEN];
    put_code(st, "code", "vk_g_1", d);
    struct vk_code out;
    assert_int_equal(st->ops->code_get(st, &f->a, d, &out), VK_OK);
    assert_int_equal(out.used_at, 0);
    assert_string_equal(out.grant_id, "vk_g_1");
    struct vk_grant g = grant("vk_g_1");
    assert_int_equal(st->ops->code_redeem(st, d, NOW + 1, &g, NULL, "jti-c1", NOW + 600), VK_OK);
    assert_int_equal(st->ops->code_get(st, &f->a, d, &out), VK_OK);
    assert_int_equal(out.used_at, NOW + 1);
    /* a second redemption writes nothing */
    struct vk_grant g2 = grant("vk_g_1b");
    assert_int_equal(st->ops->code_redeem(st, d, NOW + 2, &g2, NULL, "jti-c2", NOW + 600),
                     VK_EEXIST);
    struct vk_grant gout;
    assert_int_equal(st->ops->grant_get(st, &f->a, "vk_g_1b", &gout), VK_ENOTFOUND);
    uint8_t none[VK_DIGEST_LEN] = {0};
    assert_int_equal(st->ops->code_get(st, &f->a, none, &out), VK_ENOTFOUND);
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
    struct vk_refresh rt = {.grant_id = "vk_g_2", .created_at = NOW, .expires_at = NOW + 500};
    vk_sha256("rt1", 3, rt.digest);
    uint8_t code[VK_DIGEST_LEN];
    put_code(st, "c2", "vk_g_2", code);
    assert_int_equal(st->ops->code_redeem(st, code, NOW, &g, &rt, "jti-1", NOW + 600), VK_OK);
    struct vk_refresh next = {.grant_id = "vk_g_2", .created_at = NOW, .expires_at = NOW + 500};
    vk_sha256("rt2", 3, next.digest);
    assert_int_equal(st->ops->refresh_rotate(st, rt.digest, NOW + 1, NULL, 0, 0, &next, "jti-2",
                                             NOW + 600),
                     VK_OK);
    /* a second rotation of the same token loses */
    struct vk_refresh next2 = next;
    vk_sha256("rt3", 3, next2.digest);
    assert_int_equal(st->ops->refresh_rotate(st, rt.digest, NOW + 2, NULL, 0, 0, &next2, "jti-3",
                                             NOW + 600),
                     VK_EEXIST);
    bool revoked = true;
    assert_int_equal(st->ops->token_is_revoked(st, "jti-2", &revoked), VK_OK);
    assert_false(revoked);
    assert_int_equal(st->ops->grant_revoke(st, "vk_g_2", NOW + 3), VK_OK);
    assert_int_equal(st->ops->grant_get(st, &f->a, "vk_g_2", &gout), VK_OK);
    assert_true(gout.revoked_at != 0);
    assert_int_equal(st->ops->token_is_revoked(st, "jti-1", &revoked), VK_OK);
    assert_true(revoked);
    assert_int_equal(st->ops->token_is_revoked(st, "jti-2", &revoked), VK_OK);
    assert_true(revoked);
    struct vk_refresh r;
    assert_int_equal(st->ops->refresh_get(st, &f->a, next.digest, &r), VK_OK);
    assert_true(r.used_at != 0);
    /* idempotent */
    assert_int_equal(st->ops->grant_revoke(st, "vk_g_2", NOW + 4), VK_OK);
}

static void revoked_code_grant_cannot_start_later(void **state)
{
    /* A replayed code revokes its grant id before the first redemption has stored it: the
     * tombstone makes that redemption fail. */
    struct fx *f = *state;
    struct vk_store *st = f->st;
    assert_int_equal(st->ops->grant_revoke(st, "vk_g_3", NOW), VK_OK);
    struct vk_grant g = grant("vk_g_3");
    uint8_t code[VK_DIGEST_LEN];
    put_code(st, "c3", "vk_g_3", code);
    assert_int_equal(st->ops->code_redeem(st, code, NOW, &g, NULL, "jti-x", NOW + 600), VK_EEXIST);
    /* nothing was written: the code is still unused */
    struct vk_code out;
    assert_int_equal(st->ops->code_get(st, &f->a, code, &out), VK_OK);
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
    assert_int_equal(st->ops->code_redeem(st, code, NOW, &g, &rt, "jti-g1", NOW + 600), VK_OK);
    struct vk_refresh next = {.grant_id = "vk_g_4", .created_at = NOW, .expires_at = NOW + 500};
    vk_sha256("g-rt2", 5, next.digest);
    const uint8_t blob[] = {9, 8, 7, 6, 5};
    assert_int_equal(st->ops->refresh_rotate(st, rt.digest, NOW + 1, blob, sizeof blob,
                                             NOW * 1000LL + 4500, &next, "jti-g2", NOW + 600),
                     VK_OK);
    struct vk_refresh r;
    assert_int_equal(st->ops->refresh_get(st, &f->a, rt.digest, &r), VK_OK);
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
    assert_int_equal(st->ops->user_put(st, &u, &err), VK_OK);
    assert_int_equal(st->ops->user_put(st, &u, &err), VK_EEXIST);
    struct vk_session se = {.user_id = "vk_u_9", .auth_time = NOW, .expires_at = NOW + 100};
    vk_sha256("sess", 4, se.digest);
    assert_int_equal(st->ops->session_put(st, &se), VK_OK);
    struct vk_session sout;
    assert_int_equal(st->ops->session_get(st, &f->a, se.digest, NOW, &sout), VK_OK);
    assert_int_equal(st->ops->session_get(st, &f->a, se.digest, NOW + 100, &sout), VK_ENOTFOUND);
    struct vk_grant g = grant("vk_g_9");
    g.user_id = "vk_u_9";
    uint8_t code[VK_DIGEST_LEN];
    put_code(st, "c9", "vk_g_9", code);
    assert_int_equal(st->ops->code_redeem(st, code, NOW, &g, NULL, "jti-9", NOW + 600), VK_OK);
    assert_int_equal(st->ops->user_set_password(st, VK_STR("bob"), "h2", NOW + 1), VK_OK);
    assert_int_equal(st->ops->session_get(st, &f->a, se.digest, NOW, &sout), VK_ENOTFOUND);
    struct vk_grant gout;
    assert_int_equal(st->ops->grant_get(st, &f->a, "vk_g_9", &gout), VK_OK);
    assert_true(gout.revoked_at != 0);
    assert_int_equal(st->ops->user_get_by_name(st, &f->a, VK_STR("bob"), &out), VK_OK);
    assert_string_equal(out.password_hash, "h2");
    assert_int_equal(st->ops->user_upgrade_hash(st, "vk_u_9", "h2", "h3"), VK_OK);
    assert_int_equal(st->ops->user_delete(st, VK_STR("bob"), NOW + 2), VK_OK);
    assert_int_equal(st->ops->user_get(st, &f->a, VK_STR("vk_u_9"), &out), VK_ENOTFOUND);
    assert_int_equal(st->ops->user_delete(st, VK_STR("bob"), NOW + 2), VK_ENOTFOUND);
}

static void csrf_secret_is_stable(void **state)
{
    struct fx *f = *state;
    uint8_t a[VK_DIGEST_LEN], b[VK_DIGEST_LEN];
    assert_int_equal(f->st->ops->secret_get_or_create(f->st, "csrf", a), VK_OK);
    assert_int_equal(f->st->ops->secret_get_or_create(f->st, "csrf", b), VK_OK);
    assert_memory_equal(a, b, VK_DIGEST_LEN);
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
    };
    return cmocka_run_group_tests_name("store_contract", tests, NULL, NULL);
}
