/* The keyring over a real SQLite store in a fresh temporary directory: signing keys wrapped at
 * rest under a master key (never stored in clear, never loaded without the right master key,
 * not movable between rows), rewrapping to a new master key, and the publication limit (a
 * rotation that would unpublish a key that may have signed a live token is refused; a store
 * that holds too many anyway keeps the active keys and says so). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "base/crypto.h"
#include "oauth/app.h"
#include "token/token.h"

#define NOW 1800000000
#define TTL 600
#define WINDOW (TTL + 300) /* vk_keyring_publish_window with no clients: TTL + leeway */

struct fx {
    char dir[64];
    struct vk_store *st;
    struct vk_arena a;
    struct vk_kek k1, k2;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    struct vk_err err = {{0}};
    snprintf(f->dir, sizeof f->dir, "/tmp/vk-keyring-test-XXXXXX");
    if (f == NULL || mkdtemp(f->dir) == NULL)
        return -1;
    if (vk_store_open(f->dir, &f->st, &err) != VK_OK) {
        fprintf(stderr, "open: %s\n", err.msg);
        return -1;
    }
    if (vk_kek_generate(&f->k1) != VK_OK || vk_kek_generate(&f->k2) != VK_OK)
        return -1;
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

static struct vk_key_list list_keys(struct fx *f)
{
    struct vk_key_list kl;
    assert_int_equal(vk_store_key_list(f->st, &f->a, &kl), VK_OK);
    return kl;
}

/* Whether `needle` occurs in the database file or its write-ahead log. */
static bool store_files_contain(struct fx *f, const char *needle)
{
    const char *suffix[] = {"", "-wal"};
    size_t m = strlen(needle);
    for (size_t s = 0; s < 2; s++) {
        char path[128];
        snprintf(path, sizeof path, "%s/valetkey.db%s", f->dir, suffix[s]);
        FILE *fp = fopen(path, "rb");
        if (fp == NULL)
            continue;
        static char buf[4 << 20];
        size_t n = fread(buf, 1, sizeof buf, fp);
        fclose(fp);
        for (size_t i = 0; i + m <= n; i++)
            if (memcmp(buf + i, needle, m) == 0)
                return true;
    }
    return false;
}

static int open_kr(struct fx *f, const struct vk_kek *kek, int64_t now, struct vk_keyring **kr,
                   struct vk_err *err)
{
    memset(err, 0, sizeof *err);
    return vk_keyring_open(f->st, kek, TTL, now, true, kr, err);
}

/* Runs `fn` with stderr (where the log goes) sent to a file; returns what was written. */
static char *capture_stderr(struct fx *f, void (*fn)(void *), void *arg)
{
    char path[128];
    snprintf(path, sizeof path, "%s/stderr.txt", f->dir);
    fflush(stderr);
    int saved = dup(2);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(saved >= 0 && fd >= 0);
    dup2(fd, 2);
    close(fd);
    fn(arg);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    char *out = calloc(1, 64 * 1024);
    size_t n = fread(out, 1, 64 * 1024 - 1, fp);
    out[n] = '\0';
    fclose(fp);
    unlink(path);
    return out;
}

static void keys_made_under_a_master_key_are_never_stored_in_clear(void **state)
{
    struct fx *f = *state;
    struct vk_keyring *kr = NULL;
    struct vk_err err;
    assert_int_equal(open_kr(f, &f->k1, NOW, &kr, &err), VK_OK);
    struct vk_keyset *ks = vk_keyring_acquire(kr, NOW);
    assert_non_null(ks->access);
    assert_non_null(ks->id);
    vk_keyset_release(ks);
    vk_keyring_free(kr);
    int64_t retry = 0;
    assert_int_equal(vk_keyring_rotate(f->st, &f->k1, TTL, NOW + 1, &retry, &err), VK_OK);

    struct vk_key_list kl = list_keys(f);
    assert_int_equal(kl.n, 4);
    for (size_t i = 0; i < kl.n; i++) {
        assert_string_equal(kl.v[i].kek_id, f->k1.id);
        assert_string_equal(kl.v[i].private_pem, "");
        assert_non_null(kl.v[i].wrapped);
        assert_true(kl.v[i].wrapped_len > VK_WRAP_OVERHEAD);
    }
    assert_false(store_files_contain(f, "PRIVATE KEY"));
    assert_false(store_files_contain(f, "MII")); /* nor a bare base64 DER */
}

static void a_wrapped_store_needs_its_own_master_key(void **state)
{
    struct fx *f = *state;
    struct vk_keyring *kr = NULL;
    struct vk_err err;
    assert_int_equal(open_kr(f, &f->k1, NOW, &kr, &err), VK_OK);
    vk_keyring_free(kr);

    /* No master key: a clear error naming the master key, and no new keys (no fallback). */
    assert_int_equal(open_kr(f, NULL, NOW, &kr, &err), VK_ECRYPTO);
    assert_null(kr);
    assert_non_null(strstr(err.msg, f->k1.id));
    assert_non_null(strstr(err.msg, "--master-key-file"));
    /* Another master key: named both ways. */
    assert_int_equal(open_kr(f, &f->k2, NOW, &kr, &err), VK_ECRYPTO);
    assert_null(kr);
    assert_non_null(strstr(err.msg, f->k1.id));
    assert_non_null(strstr(err.msg, f->k2.id));
    /* Nothing was added or changed by the failed starts. */
    struct vk_key_list kl = list_keys(f);
    assert_int_equal(kl.n, 2);
    for (size_t i = 0; i < kl.n; i++)
        assert_string_equal(kl.v[i].kek_id, f->k1.id);
    /* A rotation without the master key (or with another) is refused too. */
    int64_t retry = 0;
    assert_int_equal(vk_keyring_rotate(f->st, NULL, TTL, NOW, &retry, &err), VK_ECRYPTO);
    assert_int_equal(vk_keyring_rotate(f->st, &f->k2, TTL, NOW, &retry, &err), VK_ECRYPTO);
    assert_int_equal(list_keys(f).n, 2);
}

/* Exchanges the wrapped blobs of two rows, as someone with write access to the file could. */
static void swap_wrapped(struct fx *f, const char *kid_a, const char *kid_b)
{
    char path[128];
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    void *blob[2] = {NULL, NULL};
    int len[2] = {0, 0};
    const char *kid[2] = {kid_a, kid_b};
    snprintf(path, sizeof path, "%s/valetkey.db", f->dir);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(sqlite3_prepare_v2(db, "SELECT wrapped FROM keys WHERE kid = ?", -1, &st,
                                            NULL),
                         SQLITE_OK);
        sqlite3_bind_text(st, 1, kid[i], -1, SQLITE_STATIC);
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        len[i] = sqlite3_column_bytes(st, 0);
        blob[i] = malloc((size_t)len[i]);
        memcpy(blob[i], sqlite3_column_blob(st, 0), (size_t)len[i]);
        sqlite3_finalize(st);
    }
    for (int i = 0; i < 2; i++) {
        assert_int_equal(sqlite3_prepare_v2(db, "UPDATE keys SET wrapped = ? WHERE kid = ?", -1,
                                            &st, NULL),
                         SQLITE_OK);
        sqlite3_bind_blob(st, 1, blob[1 - i], len[1 - i], SQLITE_STATIC);
        sqlite3_bind_text(st, 2, kid[i], -1, SQLITE_STATIC);
        assert_int_equal(sqlite3_step(st), SQLITE_DONE);
        assert_int_equal(sqlite3_changes(db), 1);
        sqlite3_finalize(st);
    }
    free(blob[0]);
    free(blob[1]);
    sqlite3_close(db);
}

static void a_wrapped_key_copied_to_another_row_does_not_decrypt(void **state)
{
    struct fx *f = *state;
    struct vk_keyring *kr = NULL;
    struct vk_err err;
    int64_t retry = 0;
    assert_int_equal(open_kr(f, &f->k1, NOW, &kr, &err), VK_OK);
    vk_keyring_free(kr);
    assert_int_equal(vk_keyring_rotate(f->st, &f->k1, TTL, NOW + 1, &retry, &err), VK_OK);
    /* Two ES256 access keys now (one retired): same algorithm, same use, same master key --
     * only the kid in the associated data tells their blobs apart. */
    struct vk_key_list kl = list_keys(f);
    const char *es[2] = {NULL, NULL};
    size_t n = 0;
    for (size_t i = 0; i < kl.n; i++)
        if (kl.v[i].use == VK_KEY_USE_ACCESS && n < 2)
            es[n++] = kl.v[i].kid;
    assert_int_equal(n, 2);
    swap_wrapped(f, es[0], es[1]);
    assert_int_equal(open_kr(f, &f->k1, NOW + 2, &kr, &err), VK_ECRYPTO);
    assert_null(kr);
    assert_non_null(strstr(err.msg, "does not decrypt"));
    swap_wrapped(f, es[0], es[1]); /* put back: opens again */
    assert_int_equal(open_kr(f, &f->k1, NOW + 2, &kr, &err), VK_OK);
    vk_keyring_free(kr);

    /* An access key's blob in the id-token key's row: different use and algorithm. */
    const char *id_kid = NULL;
    for (size_t i = 0; i < kl.n; i++)
        if (kl.v[i].use == VK_KEY_USE_ID && kl.v[i].retired_at == 0)
            id_kid = kl.v[i].kid;
    assert_non_null(id_kid);
    swap_wrapped(f, es[0], id_kid);
    assert_int_equal(open_kr(f, &f->k1, NOW + 2, &kr, &err), VK_ECRYPTO);
    assert_null(kr);
}

static void clear_keys_are_wrapped_once_a_master_key_is_configured(void **state)
{
    struct fx *f = *state;
    struct vk_keyring *kr = NULL;
    struct vk_err err;
    assert_int_equal(open_kr(f, NULL, NOW, &kr, &err), VK_OK);
    struct vk_keyset *ks = vk_keyring_acquire(kr, NOW);
    char *jwks = strdup(ks->jwks_json);
    vk_keyset_release(ks);
    vk_keyring_free(kr);
    struct vk_key_list kl = list_keys(f);
    for (size_t i = 0; i < kl.n; i++)
        assert_string_equal(kl.v[i].kek_id, "");
    assert_true(store_files_contain(f, "PRIVATE KEY")); /* the state this fixes */

    assert_int_equal(open_kr(f, &f->k1, NOW, &kr, &err), VK_OK);
    ks = vk_keyring_acquire(kr, NOW);
    assert_string_equal(ks->jwks_json, jwks); /* the same keys, still published */
    vk_keyset_release(ks);
    vk_keyring_free(kr);
    free(jwks);
    kl = list_keys(f);
    assert_int_equal(kl.n, 2);
    for (size_t i = 0; i < kl.n; i++) {
        assert_string_equal(kl.v[i].kek_id, f->k1.id);
        assert_string_equal(kl.v[i].private_pem, "");
    }
    /* The rewrap zeroed the replaced rows and truncated the log: no clear copy is left. */
    assert_false(store_files_contain(f, "PRIVATE KEY"));
}

static void rewrap_moves_every_key_to_the_new_master_key(void **state)
{
    struct fx *f = *state;
    struct vk_keyring *kr = NULL;
    struct vk_err err;
    size_t changed = 0;
    int64_t retry = 0;
    assert_int_equal(open_kr(f, &f->k1, NOW, &kr, &err), VK_OK);
    vk_keyring_free(kr);
    assert_int_equal(vk_keyring_rotate(f->st, &f->k1, TTL, NOW + 1, &retry, &err), VK_OK);

    /* Without the current master key nothing can be decrypted: refused, nothing changed. */
    memset(&err, 0, sizeof err);
    assert_int_equal(vk_keyring_rewrap(f->st, NULL, &f->k2, &changed, &err), VK_ECRYPTO);
    assert_non_null(strstr(err.msg, f->k1.id));
    struct vk_key_list kl = list_keys(f);
    for (size_t i = 0; i < kl.n; i++)
        assert_string_equal(kl.v[i].kek_id, f->k1.id);

    assert_int_equal(vk_keyring_rewrap(f->st, &f->k1, &f->k2, &changed, &err), VK_OK);
    assert_int_equal(changed, 4);
    kl = list_keys(f);
    for (size_t i = 0; i < kl.n; i++)
        assert_string_equal(kl.v[i].kek_id, f->k2.id);
    assert_int_equal(open_kr(f, &f->k2, NOW + 2, &kr, &err), VK_OK);
    vk_keyring_free(kr);
    assert_int_equal(open_kr(f, &f->k1, NOW + 2, &kr, &err), VK_ECRYPTO);
    assert_null(kr);
    /* Again with the same keys: nothing left to do. */
    assert_int_equal(vk_keyring_rewrap(f->st, &f->k2, &f->k2, &changed, &err), VK_OK);
    assert_int_equal(changed, 0);
}

/* --- the publication limit ------------------------------------------------------------------ */

struct race {
    struct vk_store *st;
    int64_t now;
    int rc;
};

static void *rotate_thread(void *arg)
{
    struct race *r = arg;
    struct vk_err err = {{0}};
    int64_t retry = 0;
    r->rc = vk_keyring_rotate(r->st, NULL, TTL, r->now, &retry, &err);
    return NULL;
}

static void rotation_is_refused_before_a_live_key_would_leave_the_jwks(void **state)
{
    struct fx *f = *state;
    struct vk_keyring *kr = NULL;
    struct vk_err err;
    int64_t retry = 0;
    assert_int_equal(open_kr(f, NULL, NOW, &kr, &err), VK_OK);
    struct vk_keyset *ks = vk_keyring_acquire(kr, NOW);
    char first_kid[VK_MAX_ID_LEN + 1];
    snprintf(first_kid, sizeof first_kid, "%s", vk_jwk_kid(ks->access));
    vk_keyset_release(ks);
    vk_keyring_free(kr);

    /* Each rotation adds two keys (ES256 + RS256); 2 + 14 * 2 = 30 published after 14. */
    for (int i = 0; i < 14; i++)
        assert_int_equal(vk_keyring_rotate(f->st, NULL, TTL, NOW + i, &retry, &err), VK_OK);
    /* Two rotations at once with room for one: the count is taken inside the transaction, so
     * exactly one passes. */
    struct race r[2] = {{f->st, NOW + 20, -1}, {f->st, NOW + 20, -1}};
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&t[i], NULL, rotate_thread, &r[i]), 0);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    assert_true((r[0].rc == VK_OK && r[1].rc == VK_ETOOBIG) ||
                (r[0].rc == VK_ETOOBIG && r[1].rc == VK_OK));

    /* 32 published: the next one is refused, with the time it becomes possible -- when the two
     * keys retired first (at NOW) leave the window. */
    memset(&err, 0, sizeof err);
    assert_int_equal(vk_keyring_rotate(f->st, NULL, TTL, NOW + 30, &retry, &err), VK_ETOOBIG);
    assert_int_equal(retry, NOW + WINDOW);
    assert_non_null(strstr(err.msg, "refused"));
    assert_non_null(strstr(err.msg, "2027-01-15T08:")); /* NOW + WINDOW as ISO 8601 UTC */
    assert_int_equal(list_keys(f).n, 32);

    /* Every key is still published, the first one included, and tokens verify with it. */
    assert_int_equal(open_kr(f, NULL, NOW + 30, &kr, &err), VK_OK);
    ks = vk_keyring_acquire(kr, NOW + 30);
    assert_int_equal(vk_jwks_count(ks->verify), 32);
    assert_non_null(vk_jwks_find(ks->verify, vk_str_c(first_kid)));
    assert_non_null(strstr(ks->jwks_json, first_kid));
    vk_keyset_release(ks);
    vk_keyring_free(kr);

    assert_int_equal(vk_keyring_rotate(f->st, NULL, TTL, NOW + WINDOW - 1, &retry, &err),
                     VK_ETOOBIG);
    assert_int_equal(vk_keyring_rotate(f->st, NULL, TTL, NOW + WINDOW, &retry, &err), VK_OK);
}

static const char *es256_pem(struct vk_arena *a)
{
    struct vk_jwk *k = NULL;
    struct vk_buf b;
    struct vk_err err = {{0}};
    vk_buf_init(&b, 16 * 1024);
    assert_int_equal(vk_jwk_generate(VK_ALG_ES256, &k, &err), VK_OK);
    assert_int_equal(vk_jwk_private_pem(k, &b, &err), VK_OK);
    const char *pem = vk_arena_strdup(a, vk_buf_str(&b));
    vk_buf_clear(&b);
    vk_jwk_free(k);
    return pem;
}

struct open_args {
    struct fx *f;
    struct vk_keyring *kr;
    int rc;
    struct vk_err err;
};

static void open_for_capture(void *arg)
{
    struct open_args *o = arg;
    o->rc = open_kr(o->f, NULL, NOW, &o->kr, &o->err);
}

static void a_store_with_too_many_keys_keeps_the_active_ones_and_says_so(void **state)
{
    struct fx *f = *state;
    const char *pem = es256_pem(&f->a);
    /* Put in directly (as concurrent starts, or a window that grew, could leave them): two
     * active keys older than 32 retired keys that are all still inside the window. */
    for (int i = 0; i < 34; i++) {
        char *kid = vk_arena_printf(&f->a, "k%02d", i);
        struct vk_key_rec r = {.kid = kid, .alg = "ES256", .private_pem = pem, .kek_id = ""};
        r.use = i % 2 == 0 ? VK_KEY_USE_ACCESS : VK_KEY_USE_ID;
        r.created_at = i < 2 ? NOW - 800 : NOW - 700 + i;
        r.retired_at = i < 2 ? 0 : NOW - 600 + i;
        assert_int_equal(vk_store_key_put(f->st, &r), VK_OK);
    }
    struct open_args o = {.f = f};
    char *log = capture_stderr(f, open_for_capture, &o);
    assert_int_equal(o.rc, VK_OK);
    struct vk_keyset *ks = vk_keyring_acquire(o.kr, NOW);
    assert_int_equal(vk_jwks_count(ks->verify), 32);
    assert_string_equal(vk_jwk_kid(ks->access), "k00");
    assert_string_equal(vk_jwk_kid(ks->id), "k01");
    assert_non_null(vk_jwks_find(ks->verify, VK_STR("k33"))); /* newest retired kept */
    assert_null(vk_jwks_find(ks->verify, VK_STR("k02")));     /* oldest retired dropped */
    assert_null(vk_jwks_find(ks->verify, VK_STR("k03")));
    vk_keyset_release(ks);
    vk_keyring_free(o.kr);
    /* ... and never silently: */
    assert_non_null(strstr(log, "level=error event=keys.over_limit published=34 limit=32"));
    assert_non_null(strstr(log, "dropped=k03,k02"));
    free(log);
}

static void the_publish_window_follows_the_longest_lifetime_recorded(void **state)
{
    struct fx *f = *state;
    /* A server with 2-hour tokens records that; a CLI with the defaults then still counts with
     * it, and so do servers with shorter lifetimes. */
    assert_int_equal(vk_keyring_publish_window(f->st, 7200), 7200 + 300);
    assert_int_equal(vk_keyring_publish_window(f->st, 600), 7200 + 300);
    int64_t rec = 0;
    assert_int_equal(vk_store_key_ttl_raise(f->st, 0, &rec), VK_OK);
    assert_int_equal(rec, 7200);
    /* A client with a longer TTL widens it too. */
    struct vk_client c = {.id = "vk_c_long", .name = "n", .auth_method = "client_secret_basic",
                          .grant_types = "client_credentials", .scope = "a",
                          .redirect_uris = "", .post_logout_redirect_uris = "", .resources = "",
                          .access_token_ttl = 86400, .created_at = NOW, .id_token_alg = "RS256"};
    struct vk_err err = {{0}};
    assert_int_equal(vk_store_client_put(f->st, &c, &err), VK_OK);
    assert_int_equal(vk_keyring_publish_window(f->st, 600), 86400 + 300);
}

static void the_csrf_and_device_keys_are_derived_from_the_master_key(void **state)
{
    struct fx *f = *state;
    struct vk_config cfg;
    struct vk_app app;
    struct vk_err err = {{0}};
    uint8_t stored[VK_DIGEST_LEN];
    vk_config_defaults(&cfg);

    uint8_t stored_dev[VK_DIGEST_LEN];
    assert_int_equal(vk_app_init(&app, &cfg, f->st, "https://as.example", NOW, &err), VK_OK);
    assert_int_equal(vk_store_secret_get_or_create(f->st, "csrf", stored), VK_OK);
    assert_int_equal(vk_store_secret_get_or_create(f->st, "device", stored_dev), VK_OK);
    assert_memory_equal(app.csrf_key, stored, VK_DIGEST_LEN); /* no master key: as stored */
    assert_memory_equal(app.device_key, stored_dev, VK_DIGEST_LEN);
    vk_app_clear(&app);

    char path[128], line[64];
    snprintf(path, sizeof path, "%s/master.key", f->dir);
    vk_kek_encode(&f->k1, line);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, line, strlen(line)), (ssize_t)strlen(line));
    close(fd);
    snprintf(cfg.master_key_file, sizeof cfg.master_key_file, "%s", path);
    assert_int_equal(vk_app_init(&app, &cfg, f->st, "https://as.example", NOW, &err), VK_OK);
    /* The database's value alone no longer gives the CSRF key. */
    assert_memory_not_equal(app.csrf_key, stored, VK_DIGEST_LEN);
    uint8_t want[VK_DIGEST_LEN];
    vk_kek_derive(&f->k1, "valetkey/csrf/v1", stored, sizeof stored, want);
    assert_memory_equal(app.csrf_key, want, VK_DIGEST_LEN);
    /* the device-cookie key (it lifts login lockouts) likewise, under its own label */
    assert_memory_not_equal(app.device_key, stored_dev, VK_DIGEST_LEN);
    vk_kek_derive(&f->k1, "valetkey/device-cookie/v1", stored_dev, sizeof stored_dev, want);
    assert_memory_equal(app.device_key, want, VK_DIGEST_LEN);
    vk_app_clear(&app);
    /* ... and the app's keyring wrapped the keys the first start left in clear. */
    struct vk_key_list kl = list_keys(f);
    for (size_t i = 0; i < kl.n; i++)
        assert_string_equal(kl.v[i].kek_id, f->k1.id);
    /* A master-key file others can read is refused before anything happens. */
    assert_int_equal(chmod(path, 0644), 0);
    assert_int_equal(vk_app_init(&app, &cfg, f->st, "https://as.example", NOW, &err), VK_EINVAL);
    assert_non_null(strstr(err.msg, path));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(keys_made_under_a_master_key_are_never_stored_in_clear,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(a_wrapped_store_needs_its_own_master_key, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_wrapped_key_copied_to_another_row_does_not_decrypt,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(clear_keys_are_wrapped_once_a_master_key_is_configured,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(rewrap_moves_every_key_to_the_new_master_key, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            rotation_is_refused_before_a_live_key_would_leave_the_jwks, setup, teardown),
        cmocka_unit_test_setup_teardown(
            a_store_with_too_many_keys_keeps_the_active_ones_and_says_so, setup, teardown),
        cmocka_unit_test_setup_teardown(the_publish_window_follows_the_longest_lifetime_recorded,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            the_csrf_and_device_keys_are_derived_from_the_master_key, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
