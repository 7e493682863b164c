#include "token/token.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "base/limits.h"
#include "base/log.h"

#define PUBLISH_LEEWAY 300 /* seconds a retired key outlives the longest token it signed */
#define CHECK_INTERVAL 1   /* seconds between looks at the store's key generation */

struct vk_keyring {
    struct vk_store *st;
    int64_t min_ttl;
    pthread_mutex_t mu;     /* guards cur and serializes rebuilds */
    struct vk_keyset *cur;
    int64_t next_check;     /* atomic */
};

static const enum vk_alg use_alg[] = {[VK_KEY_USE_ACCESS] = VK_ALG_ES256,
                                      [VK_KEY_USE_ID] = VK_ALG_RS256};

static void keyset_free(struct vk_keyset *ks)
{
    if (ks == NULL)
        return;
    vk_jwks_unref(ks->verify);
    free(ks->jwks_json);
    free(ks);
}

void vk_keyset_release(struct vk_keyset *ks)
{
    if (ks != NULL && __atomic_sub_fetch(&ks->refs, 1, __ATOMIC_ACQ_REL) == 0)
        keyset_free(ks);
}

int64_t vk_keyring_publish_window(struct vk_store *st, int64_t min_ttl)
{
    int64_t max_client = 0;
    if (st->ops->client_max_ttl(st, &max_client) != VK_OK)
        max_client = 86400; /* unknown: be generous, a key published too long is harmless */
    return (max_client > min_ttl ? max_client : min_ttl) + PUBLISH_LEEWAY;
}

static int make_key(enum vk_key_use use, int64_t now, struct vk_arena *a, struct vk_key_rec *rec,
                    struct vk_err *err)
{
    struct vk_jwk *k = NULL;
    struct vk_buf pem;
    vk_buf_init(&pem, 16 * 1024);
    int rc = vk_jwk_generate(use_alg[use], &k, err);
    if (rc == VK_OK)
        rc = vk_jwk_private_pem(k, &pem, err);
    if (rc == VK_OK) {
        rec->kid = vk_arena_strdup(a, vk_str_c(vk_jwk_kid(k)));
        rec->alg = vk_alg_name(use_alg[use]);
        rec->use = use;
        rec->private_pem = vk_arena_strdup(a, vk_buf_str(&pem));
        rec->created_at = now;
        rec->retired_at = 0;
        if (rec->kid == NULL || rec->private_pem == NULL)
            rc = VK_ENOMEM;
    }
    vk_buf_clear(&pem);
    vk_jwk_free(k);
    return rc;
}

int vk_keyring_ensure(struct vk_store *st, int64_t now, struct vk_err *err)
{
    struct vk_arena a;
    struct vk_key_list kl;
    vk_arena_init(&a, 4 * 1024 * 1024);
    int rc = st->ops->key_list(st, &a, &kl);
    for (int use = VK_KEY_USE_ACCESS; rc == VK_OK && use <= VK_KEY_USE_ID; use++) {
        bool have = false;
        for (size_t i = 0; i < kl.n; i++)
            if ((int)kl.v[i].use == use && kl.v[i].retired_at == 0)
                have = true;
        if (have)
            continue;
        struct vk_key_rec rec;
        rc = make_key((enum vk_key_use)use, now, &a, &rec, err);
        if (rc == VK_OK)
            rc = st->ops->key_put(st, &rec);
        if (rc == VK_OK)
            vk_log_info("event=key.created kid=%s alg=%s", rec.kid, rec.alg);
    }
    vk_arena_clear(&a);
    if (rc != VK_OK && err != NULL && err->msg[0] == '\0')
        vk_err_set(err, rc, "cannot create signing keys: %s", vk_strerror(rc));
    return rc;
}

int vk_keyring_rotate(struct vk_store *st, int64_t now, struct vk_err *err)
{
    struct vk_arena a;
    vk_arena_init(&a, 4 * 1024 * 1024);
    int rc = VK_OK;
    for (int use = VK_KEY_USE_ACCESS; rc == VK_OK && use <= VK_KEY_USE_ID; use++) {
        struct vk_key_rec rec;
        rc = make_key((enum vk_key_use)use, now, &a, &rec, err);
        if (rc == VK_OK)
            rc = st->ops->key_rotate(st, &rec, now);
        if (rc != VK_OK && err != NULL && err->msg[0] == '\0')
            vk_err_set(err, rc, "cannot store the new key: %s", vk_strerror(rc));
    }
    vk_arena_clear(&a);
    return rc;
}

/* Builds a keyset from the store. Keys retired longer ago than the publish window are skipped
 * (and deleted, so the table does not grow without end). */
static int build(struct vk_keyring *kr, int64_t now, struct vk_keyset **out, struct vk_err *err)
{
    struct vk_arena a;
    struct vk_key_list kl;
    struct vk_jwk *keys[VK_MAX_JWKS_KEYS];
    size_t n = 0;
    int64_t gen = 0;
    *out = NULL;
    vk_arena_init(&a, 4 * 1024 * 1024);
    int64_t window = vk_keyring_publish_window(kr->st, kr->min_ttl);
    int rc = kr->st->ops->keys_generation(kr->st, &gen);
    if (rc == VK_OK)
        rc = kr->st->ops->key_list(kr->st, &a, &kl);
    if (rc != VK_OK) {
        vk_arena_clear(&a);
        return vk_err_set(err, rc, "cannot read keys from the store");
    }
    struct vk_keyset *ks = calloc(1, sizeof *ks);
    if (ks == NULL) {
        vk_arena_clear(&a);
        return VK_ENOMEM;
    }
    ks->refs = 1;
    ks->generation = gen;
    ks->valid_until = INT64_MAX;
    const char *active_kid[3] = {NULL, NULL, NULL};
    for (size_t i = 0; i < kl.n && rc == VK_OK; i++) {
        const struct vk_key_rec *r = &kl.v[i];
        if (r->use != VK_KEY_USE_ACCESS && r->use != VK_KEY_USE_ID)
            continue;
        if (r->retired_at != 0) {
            int64_t until = r->retired_at + window;
            if (now >= until) {
                kr->st->ops->key_delete(kr->st, r->kid);
                continue;
            }
            if (until < ks->valid_until)
                ks->valid_until = until;
        } else if (active_kid[r->use] == NULL) {
            active_kid[r->use] = r->kid;
        }
        if (n == VK_MAX_JWKS_KEYS)
            break;
        enum vk_alg alg = vk_alg_from_name(vk_str_c(r->alg));
        rc = vk_jwk_from_private_pem(alg, r->kid, vk_str_c(r->private_pem), &keys[n], err);
        if (rc == VK_OK)
            n++;
    }
    if (rc == VK_OK)
        rc = vk_jwks_from_keys(keys, n, &ks->verify);
    else
        for (size_t i = 0; i < n; i++)
            vk_jwk_free(keys[i]);
    if (rc == VK_OK) {
        for (size_t i = 0; i < vk_jwks_count(ks->verify); i++) {
            const struct vk_jwk *k = vk_jwks_get(ks->verify, i);
            for (int use = VK_KEY_USE_ACCESS; use <= VK_KEY_USE_ID; use++)
                if (active_kid[use] != NULL && strcmp(vk_jwk_kid(k), active_kid[use]) == 0) {
                    if (use == VK_KEY_USE_ACCESS)
                        ks->access = k;
                    else
                        ks->id = k;
                }
        }
        if (ks->access == NULL || ks->id == NULL)
            rc = vk_err_set(err, VK_ENOTFOUND, "no active signing key in the store");
    }
    if (rc == VK_OK) {
        json_t *doc = json_object(), *arr = json_array();
        for (size_t i = 0; doc != NULL && arr != NULL && i < vk_jwks_count(ks->verify); i++)
            json_array_append_new(arr, vk_jwk_public_json(vk_jwks_get(ks->verify, i)));
        if (doc != NULL && arr != NULL && json_object_set_new(doc, "keys", arr) == 0) {
            arr = NULL;
            ks->jwks_json = json_dumps(doc, JSON_COMPACT);
        }
        json_decref(arr);
        json_decref(doc);
        if (ks->jwks_json == NULL)
            rc = VK_ENOMEM;
        else
            ks->jwks_len = strlen(ks->jwks_json);
    }
    vk_arena_clear(&a);
    if (rc != VK_OK) {
        keyset_free(ks);
        return rc;
    }
    *out = ks;
    return VK_OK;
}

int vk_keyring_open(struct vk_store *st, int64_t min_ttl, int64_t now, bool create_missing,
                    struct vk_keyring **out, struct vk_err *err)
{
    *out = NULL;
    int rc = create_missing ? vk_keyring_ensure(st, now, err) : VK_OK;
    if (rc != VK_OK)
        return rc;
    struct vk_keyring *kr = calloc(1, sizeof *kr);
    if (kr == NULL)
        return vk_err_set(err, VK_ENOMEM, "out of memory");
    kr->st = st;
    kr->min_ttl = min_ttl;
    pthread_mutex_init(&kr->mu, NULL);
    rc = build(kr, now, &kr->cur, err);
    if (rc != VK_OK) {
        vk_keyring_free(kr);
        return rc;
    }
    kr->next_check = now + CHECK_INTERVAL;
    *out = kr;
    return VK_OK;
}

void vk_keyring_free(struct vk_keyring *kr)
{
    if (kr == NULL)
        return;
    vk_keyset_release(kr->cur);
    pthread_mutex_destroy(&kr->mu);
    free(kr);
}

static void maybe_reload(struct vk_keyring *kr, int64_t now)
{
    int64_t next = __atomic_load_n(&kr->next_check, __ATOMIC_ACQUIRE);
    if (now < next)
        return;
    /* One thread wins the right to look; the others go on with the current set. */
    if (!__atomic_compare_exchange_n(&kr->next_check, &next, now + CHECK_INTERVAL, false,
                                     __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
        return;
    int64_t gen = 0;
    if (kr->st->ops->keys_generation(kr->st, &gen) != VK_OK)
        return;
    pthread_mutex_lock(&kr->mu);
    bool stale = gen != kr->cur->generation || now >= kr->cur->valid_until;
    pthread_mutex_unlock(&kr->mu);
    if (!stale)
        return;
    struct vk_keyset *ks = NULL;
    struct vk_err err = {{0}};
    if (build(kr, now, &ks, &err) != VK_OK) {
        vk_log_error("event=keys.reload_failed err=\"%s\"", err.msg);
        return;
    }
    pthread_mutex_lock(&kr->mu);
    struct vk_keyset *old = kr->cur;
    kr->cur = ks;
    pthread_mutex_unlock(&kr->mu);
    vk_keyset_release(old);
    vk_log_info("event=keys.reloaded generation=%lld keys=%zu", (long long)ks->generation,
                vk_jwks_count(ks->verify));
}

struct vk_keyset *vk_keyring_acquire(struct vk_keyring *kr, int64_t now)
{
    maybe_reload(kr, now);
    pthread_mutex_lock(&kr->mu);
    struct vk_keyset *ks = kr->cur;
    __atomic_add_fetch(&ks->refs, 1, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&kr->mu);
    return ks;
}
