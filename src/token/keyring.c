#include "token/token.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/limits.h"
#include "base/log.h"

#define PUBLISH_LEEWAY 300 /* seconds a retired key outlives the longest token it signed */
#define CHECK_INTERVAL 1   /* seconds between looks at the store's key generation */
#define REWRAP_TRIES   5   /* a concurrent rotation makes a rewrap start over; bounded */

struct vk_keyring {
    struct vk_store *st;
    int64_t min_ttl;
    bool has_kek;
    struct vk_kek kek;      /* wiped in vk_keyring_free */
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
    /* Unknown values: be generous, a key published too long is harmless. */
    int64_t recorded = 0, max_client = 0;
    if (vk_store_key_ttl_raise(st, min_ttl, &recorded) != VK_OK)
        recorded = 86400;
    if (vk_store_client_max_ttl(st, &max_client) != VK_OK)
        max_client = 86400;
    int64_t ttl = min_ttl;
    if (recorded > ttl)
        ttl = recorded;
    if (max_client > ttl)
        ttl = max_client;
    return ttl + PUBLISH_LEEWAY;
}

/* --- keys at rest -----------------------------------------------------------------------------
 * A wrapped key is AES-256-GCM of its PKCS#8 PEM under the master key (base/crypto.c), with
 * associated data that names the row: a blob copied into another row -- another kid, use or
 * algorithm, or a row claiming another master key -- does not decrypt. */

static int key_aad(const char *kid, const char *alg, enum vk_key_use use, const char *kek_id,
                   char buf[256], vk_str *out)
{
    char u[8];
    snprintf(u, sizeof u, "%d", (int)use);
    const char *parts[] = {"valetkey/signing-key/v1", kid, alg, u, kek_id};
    size_t o = 0;
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        size_t len = strlen(parts[i]);
        if (o + len + 1 > 256)
            return VK_ETOOBIG;
        memcpy(buf + o, parts[i], len);
        o += len;
        buf[o++] = '\0'; /* kids are visible ASCII: the separator cannot occur inside a part */
    }
    *out = (vk_str){buf, o};
    return VK_OK;
}

/* Appends the clear PEM of r to pem (the caller wipes it with vk_buf_clear). */
static int key_pem(const struct vk_key_rec *r, const struct vk_kek *kek, struct vk_buf *pem,
                   struct vk_err *err)
{
    char aadbuf[256];
    vk_str aad;
    if (r->kek_id == NULL || r->kek_id[0] == '\0') {
        if (r->private_pem == NULL || r->private_pem[0] == '\0')
            return vk_err_set(err, VK_EINVAL, "signing key %s has no private key in the store",
                              r->kid);
        return vk_buf_append_str(pem, r->private_pem);
    }
    /* Never a fallback (new keys, clear keys): without the right master key, stop here. */
    if (kek == NULL)
        return vk_err_set(err, VK_ECRYPTO,
                          "signing key %s is encrypted with master key %s, and no master key is "
                          "configured: give its file with --master-key-file FILE (or "
                          "VALETKEY_MASTER_KEY_FILE, or master_key_file in the config file)",
                          r->kid, r->kek_id);
    if (strcmp(kek->id, r->kek_id) != 0)
        return vk_err_set(err, VK_ECRYPTO,
                          "signing key %s is encrypted with master key %s, but the configured "
                          "master key is %s: give the file of master key %s",
                          r->kid, r->kek_id, kek->id, r->kek_id);
    if (r->wrapped == NULL || r->wrapped_len <= VK_WRAP_OVERHEAD ||
        r->wrapped_len > 16 * 1024 + VK_WRAP_OVERHEAD ||
        key_aad(r->kid, r->alg, r->use, r->kek_id, aadbuf, &aad) != VK_OK)
        return vk_err_set(err, VK_EINVAL, "signing key %s: the encrypted key in the store is "
                                          "missing or malformed", r->kid);
    size_t m = r->wrapped_len - VK_WRAP_OVERHEAD, got = 0;
    uint8_t *clear = malloc(m);
    if (clear == NULL)
        return vk_err_set(err, VK_ENOMEM, "out of memory");
    int rc = vk_kek_unwrap(kek, aad, r->wrapped, r->wrapped_len, clear, m, &got);
    if (rc == VK_OK)
        rc = vk_buf_append(pem, clear, got);
    else
        vk_err_set(err, VK_ECRYPTO,
                   "signing key %s does not decrypt with master key %s: the stored key was "
                   "altered or copied from another row",
                   r->kid, r->kek_id);
    vk_wipe(clear, m);
    free(clear);
    return rc;
}

/* Fills the private-key fields of rec from the clear pem: wrapped under kek, or in clear
 * without one. Copies live in the arena (wiped when it is cleared). */
static int key_seal(struct vk_key_rec *rec, vk_str pem, const struct vk_kek *kek,
                    struct vk_arena *a, struct vk_err *err)
{
    char aadbuf[256];
    vk_str aad;
    rec->wrapped = NULL;
    rec->wrapped_len = 0;
    if (kek == NULL) {
        rec->kek_id = "";
        rec->private_pem = vk_arena_strdup(a, pem);
        return rec->private_pem != NULL ? VK_OK : vk_err_set(err, VK_ENOMEM, "out of memory");
    }
    rec->private_pem = "";
    rec->kek_id = vk_arena_strdup(a, vk_str_c(kek->id));
    uint8_t *blob = vk_arena_alloc(a, pem.len + VK_WRAP_OVERHEAD);
    if (rec->kek_id == NULL || blob == NULL)
        return vk_err_set(err, VK_ENOMEM, "out of memory");
    int rc = key_aad(rec->kid, rec->alg, rec->use, rec->kek_id, aadbuf, &aad);
    if (rc == VK_OK)
        rc = vk_kek_wrap(kek, aad, (const uint8_t *)pem.p, pem.len, blob,
                         pem.len + VK_WRAP_OVERHEAD, &rec->wrapped_len);
    if (rc != VK_OK)
        return vk_err_set(err, rc, "cannot encrypt signing key %s", rec->kid);
    rec->wrapped = blob;
    return VK_OK;
}

/* New keys are stored like the existing ones: refuse to add a key when the store's keys are
 * encrypted and no master key, or another one, is configured -- a clear key beside wrapped
 * ones, or keys under two master keys, would leave servers unable to load them all. */
static int kek_matches_store(const struct vk_key_list *kl, const struct vk_kek *kek,
                             struct vk_err *err)
{
    for (size_t i = 0; i < kl->n; i++) {
        const struct vk_key_rec *r = &kl->v[i];
        if (r->kek_id[0] == '\0')
            continue;
        if (kek == NULL)
            return vk_err_set(err, VK_ECRYPTO,
                              "the signing keys are encrypted with master key %s: give its file "
                              "with --master-key-file FILE (or VALETKEY_MASTER_KEY_FILE)",
                              r->kek_id);
        if (strcmp(r->kek_id, kek->id) != 0)
            return vk_err_set(err, VK_ECRYPTO,
                              "signing key %s is encrypted with master key %s, not with the "
                              "given master key %s",
                              r->kid, r->kek_id, kek->id);
    }
    return VK_OK;
}

static int make_key(enum vk_key_use use, const struct vk_kek *kek, int64_t now,
                    struct vk_arena *a, struct vk_key_rec *rec, struct vk_err *err)
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
        rec->created_at = now;
        rec->retired_at = 0;
        rc = rec->kid != NULL ? key_seal(rec, vk_buf_str(&pem), kek, a, err) : VK_ENOMEM;
    }
    vk_buf_clear(&pem);
    vk_jwk_free(k);
    return rc;
}

int vk_keyring_ensure(struct vk_store *st, const struct vk_kek *kek, int64_t now,
                      struct vk_err *err)
{
    struct vk_arena a;
    struct vk_key_list kl;
    vk_arena_init(&a, 4 * 1024 * 1024);
    int rc = vk_store_key_list(st, &a, &kl);
    if (rc == VK_OK)
        rc = kek_matches_store(&kl, kek, err);
    for (int use = VK_KEY_USE_ACCESS; rc == VK_OK && use <= VK_KEY_USE_ID; use++) {
        bool have = false;
        for (size_t i = 0; i < kl.n; i++)
            if ((int)kl.v[i].use == use && kl.v[i].retired_at == 0)
                have = true;
        if (have)
            continue;
        struct vk_key_rec rec;
        rc = make_key((enum vk_key_use)use, kek, now, &a, &rec, err);
        if (rc == VK_OK)
            rc = vk_store_key_put(st, &rec);
        if (rc == VK_OK)
            vk_log_info("event=key.created kid=%s alg=%s kek=%s", rec.kid, rec.alg,
                        rec.kek_id[0] != '\0' ? rec.kek_id : "none");
    }
    vk_arena_clear(&a);
    if (rc != VK_OK && err != NULL && err->msg[0] == '\0')
        vk_err_set(err, rc, "cannot create signing keys: %s", vk_strerror(rc));
    return rc;
}

int vk_keyring_rewrap(struct vk_store *st, const struct vk_kek *cur, const struct vk_kek *next,
                      size_t *changed, struct vk_err *err)
{
    int rc = VK_EEXIST;
    if (changed != NULL)
        *changed = 0;
    for (int attempt = 0; rc == VK_EEXIST && attempt < REWRAP_TRIES; attempt++) {
        struct vk_arena a;
        struct vk_key_list kl;
        vk_arena_init(&a, 4 * 1024 * 1024);
        rc = vk_store_key_list(st, &a, &kl);
        struct vk_key_rec *recs = NULL;
        const char **prev = NULL;
        size_t m = 0;
        if (rc == VK_OK && kl.n > 0) {
            recs = vk_arena_calloc(&a, kl.n * sizeof *recs);
            prev = vk_arena_calloc(&a, kl.n * sizeof *prev);
            if (recs == NULL || prev == NULL)
                rc = VK_ENOMEM;
        }
        for (size_t i = 0; rc == VK_OK && i < kl.n; i++) {
            const struct vk_key_rec *r = &kl.v[i];
            if (strcmp(r->kek_id, next->id) == 0)
                continue; /* already there */
            /* In clear, or under `cur`; under anything else key_pem refuses, naming both. */
            struct vk_buf pem;
            vk_buf_init(&pem, 16 * 1024);
            rc = key_pem(r, cur, &pem, err);
            recs[m] = *r;
            if (rc == VK_OK)
                rc = key_seal(&recs[m], vk_buf_str(&pem), next, &a, err);
            vk_buf_clear(&pem);
            prev[m++] = r->kek_id;
        }
        if (rc == VK_OK)
            rc = vk_store_key_rewrap(st, recs, prev, m);
        if (rc == VK_OK && changed != NULL)
            *changed = m;
        vk_arena_clear(&a);
    }
    if (rc == VK_EEXIST)
        vk_err_set(err, rc, "the signing keys kept changing during the rewrap; try again");
    else if (rc != VK_OK && err != NULL && err->msg[0] == '\0')
        vk_err_set(err, rc, "cannot rewrap the signing keys: %s", vk_strerror(rc));
    return rc;
}

int vk_keyring_rotate(struct vk_store *st, const struct vk_kek *kek, int64_t min_ttl,
                      int64_t now, int64_t *retry_at, struct vk_err *err)
{
    struct vk_arena a;
    struct vk_key_list kl;
    struct vk_key_rec rec[2];
    *retry_at = 0;
    /* With a master key, keys still in clear are wrapped first: a command given the master key
     * leaves none in clear. */
    int rc = kek != NULL ? vk_keyring_rewrap(st, kek, kek, NULL, err) : VK_OK;
    if (rc != VK_OK)
        return rc;
    vk_arena_init(&a, 4 * 1024 * 1024);
    rc = vk_store_key_list(st, &a, &kl);
    if (rc == VK_OK)
        rc = kek_matches_store(&kl, kek, err);
    for (int i = 0; rc == VK_OK && i < 2; i++)
        rc = make_key(i == 0 ? VK_KEY_USE_ACCESS : VK_KEY_USE_ID, kek, now, &a, &rec[i], err);
    int64_t window = vk_keyring_publish_window(st, min_ttl);
    if (rc == VK_OK)
        rc = vk_store_key_rotate(st, rec, 2, now, window, VK_MAX_JWKS_KEYS, retry_at);
    if (rc == VK_ETOOBIG) {
        /* Every key that may have signed a live token must stay published (and a key set holds
         * at most VK_MAX_JWKS_KEYS): refuse rather than drop one. */
        char when[32] = "(never: too many active keys)";
        struct tm tm;
        time_t t = (time_t)*retry_at;
        if (*retry_at > 0 && gmtime_r(&t, &tm) != NULL)
            strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
        vk_err_set(err, rc,
                   "key rotation refused: it would publish more than %d signing keys (a rotation "
                   "adds 2, and a retired key stays published for %lld s, until every token it "
                   "signed has expired). The next rotation is possible at %s (in %lld s)",
                   VK_MAX_JWKS_KEYS, (long long)window, when,
                   (long long)(*retry_at > now ? *retry_at - now : 0));
    } else if (rc != VK_OK && err != NULL && err->msg[0] == '\0') {
        vk_err_set(err, rc, "cannot store the new keys: %s", vk_strerror(rc));
    }
    if (rc == VK_OK)
        vk_log_info("event=key.rotated access=%s id=%s kek=%s", rec[0].kid, rec[1].kid,
                    kek != NULL ? kek->id : "none");
    vk_arena_clear(&a);
    return rc;
}

/* Builds a keyset from the store. Keys retired longer ago than the publish window are skipped
 * (and deleted, so the table does not grow without end). Every other key is published -- key
 * rotation refuses to go past VK_MAX_JWKS_KEYS -- and if the store holds more anyway (keys
 * added around that check, a window that grew), the active keys and the newest retired ones
 * are kept and the others named in an error line: never dropped silently. */
static int build(struct vk_keyring *kr, int64_t now, struct vk_keyset **out, bool *clear_keys,
                 struct vk_err *err)
{
    struct vk_arena a;
    struct vk_key_list kl;
    struct vk_jwk *keys[VK_MAX_JWKS_KEYS];
    size_t n = 0;
    int64_t gen = 0;
    const struct vk_kek *kek = kr->has_kek ? &kr->kek : NULL;
    *out = NULL;
    *clear_keys = false;
    vk_arena_init(&a, 4 * 1024 * 1024);
    int64_t window = vk_keyring_publish_window(kr->st, kr->min_ttl);
    int rc = vk_store_keys_generation(kr->st, &gen);
    if (rc == VK_OK)
        rc = vk_store_key_list(kr->st, &a, &kl);
    const struct vk_key_rec **pub = NULL;
    if (rc == VK_OK && kl.n > 0 && (pub = vk_arena_calloc(&a, kl.n * sizeof *pub)) == NULL)
        rc = VK_ENOMEM;
    if (rc != VK_OK) {
        vk_arena_clear(&a);
        return vk_err_set(err, rc, "cannot read keys from the store");
    }
    /* The published keys: active ones first, then retired ones, each newest first (the list's
     * order). */
    size_t npub = 0;
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < kl.n; i++) {
            const struct vk_key_rec *r = &kl.v[i];
            if (r->use != VK_KEY_USE_ACCESS && r->use != VK_KEY_USE_ID)
                continue;
            if ((pass == 0) != (r->retired_at == 0))
                continue;
            if (r->retired_at != 0 && now >= r->retired_at + window) {
                vk_store_key_delete(kr->st, r->kid);
                continue;
            }
            pub[npub++] = r;
        }
    if (npub > VK_MAX_JWKS_KEYS) {
        char dropped[256] = "";
        size_t o = 0;
        for (size_t i = VK_MAX_JWKS_KEYS; i < npub && o + 2 < sizeof dropped; i++)
            o += (size_t)snprintf(dropped + o, sizeof dropped - o, "%s%s", o ? "," : "",
                                  pub[i]->kid);
        vk_log_error("event=keys.over_limit published=%zu limit=%d dropped=%s "
                     "msg=\"tokens signed by the dropped keys no longer verify\"",
                     npub, VK_MAX_JWKS_KEYS, dropped);
        npub = VK_MAX_JWKS_KEYS;
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
    for (size_t i = 0; i < npub && rc == VK_OK; i++) {
        const struct vk_key_rec *r = pub[i];
        if (r->retired_at != 0) {
            if (r->retired_at + window < ks->valid_until)
                ks->valid_until = r->retired_at + window;
        } else if (active_kid[r->use] == NULL) {
            active_kid[r->use] = r->kid;
        }
        if (r->kek_id[0] == '\0')
            *clear_keys = true;
        struct vk_buf pem;
        vk_buf_init(&pem, 16 * 1024);
        rc = key_pem(r, kek, &pem, err);
        enum vk_alg alg = vk_alg_from_name(vk_str_c(r->alg));
        if (rc == VK_OK)
            rc = vk_jwk_from_private_pem(alg, r->kid, vk_buf_str(&pem), &keys[n], err);
        vk_buf_clear(&pem);
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

int vk_keyring_open(struct vk_store *st, const struct vk_kek *kek, int64_t min_ttl, int64_t now,
                    bool create_missing, struct vk_keyring **out, struct vk_err *err)
{
    size_t wrapped = 0;
    bool clear_keys = false;
    *out = NULL;
    /* With a master key, keys still in clear (a store from before, or from a start without
     * one) are wrapped now, so the store never keeps them in clear again. */
    int rc = kek != NULL ? vk_keyring_rewrap(st, kek, kek, &wrapped, err) : VK_OK;
    if (rc == VK_OK && wrapped > 0)
        vk_log_info("event=keys.wrapped count=%zu kek=%s", wrapped, kek->id);
    if (rc == VK_OK && create_missing)
        rc = vk_keyring_ensure(st, kek, now, err);
    if (rc != VK_OK)
        return rc;
    struct vk_keyring *kr = calloc(1, sizeof *kr);
    if (kr == NULL)
        return vk_err_set(err, VK_ENOMEM, "out of memory");
    kr->st = st;
    kr->min_ttl = min_ttl;
    if (kek != NULL) {
        kr->kek = *kek;
        kr->has_kek = true;
    }
    pthread_mutex_init(&kr->mu, NULL);
    rc = build(kr, now, &kr->cur, &clear_keys, err);
    if (rc != VK_OK) {
        vk_keyring_free(kr);
        return rc;
    }
    if (clear_keys)
        vk_log_warn("event=keys.unencrypted msg=\"the signing keys are stored unencrypted in the "
                    "data store; configure a master key (--master-key-file, docs/security.md)\"");
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
    vk_kek_clear(&kr->kek);
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
    if (vk_store_keys_generation(kr->st, &gen) != VK_OK)
        return;
    pthread_mutex_lock(&kr->mu);
    bool stale = gen != kr->cur->generation || now >= kr->cur->valid_until;
    pthread_mutex_unlock(&kr->mu);
    if (!stale)
        return;
    struct vk_keyset *ks = NULL;
    struct vk_err err = {{0}};
    bool clear_keys = false;
    if (build(kr, now, &ks, &clear_keys, &err) != VK_OK) {
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
