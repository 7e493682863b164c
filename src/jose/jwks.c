/* JWK Sets (RFC 7517 §5): parse, hold, look up; reference-counted with C11 atomics.
 *
 * What a set skips and what it rejects. RFC 7517 §5 says to ignore keys we do not understand, so
 * a key is skipped when its kty or alg is one we do not implement, its curve is not P-256 or
 * Ed25519, or it is not meant for signatures (use other than "sig", key_ops without "verify").
 * A key that claims to be one we implement but is broken or unsafe rejects the WHOLE set: a
 * private member (`d`), an RSA modulus below 2048 bits, a point off the curve, a kty/alg
 * mismatch. Those are publisher mistakes worth an error, not a silent shrink of the set. */
#include "jose/jose.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "base/limits.h"
#include "base/mem.h"

struct vk_jwks {
    atomic_size_t refs;
    size_t n;
    struct vk_jwk *keys[VK_MAX_JWKS_KEYS];
};

static void free_keys(struct vk_jwk **keys, size_t n)
{
    for (size_t i = 0; i < n; i++)
        vk_jwk_free(keys[i]);
}

static bool member_is(const json_t *o, const char *name, const char *value)
{
    const json_t *v = json_object_get(o, name);
    return json_is_string(v) && strcmp(json_string_value(v), value) == 0;
}

/* RFC 7517 §5: decides whether a key is one we should ignore, and which alg it gets when it does
 * not name one (EC P-256 -> ES256, OKP Ed25519 -> EdDSA, RSA -> RS256, the OIDC default). */
static bool skip_key(const json_t *o, enum vk_alg *default_alg)
{
    const json_t *use = json_object_get(o, "use");
    const json_t *ops = json_object_get(o, "key_ops");
    const json_t *alg = json_object_get(o, "alg");

    *default_alg = VK_ALG_INVALID;
    if (use != NULL && json_is_string(use) && !member_is(o, "use", "sig"))
        return true; /* e.g. "enc" */
    if (ops != NULL && json_is_array(ops)) {
        bool verify = false;
        size_t i;
        json_t *v;
        json_array_foreach(ops, i, v)
            if (json_is_string(v) && strcmp(json_string_value(v), "verify") == 0)
                verify = true;
        if (!verify)
            return true;
    }
    if (alg != NULL && json_is_string(alg) &&
        vk_alg_from_name(vk_str_c(json_string_value(alg))) == VK_ALG_INVALID)
        return true; /* an algorithm we do not implement (HS256, ES384, RSA-OAEP, ...) */
    if (member_is(o, "kty", "EC")) {
        *default_alg = VK_ALG_ES256;
        return !member_is(o, "crv", "P-256");
    }
    if (member_is(o, "kty", "OKP")) {
        *default_alg = VK_ALG_EDDSA;
        return !member_is(o, "crv", "Ed25519");
    }
    if (member_is(o, "kty", "RSA")) {
        *default_alg = VK_ALG_RS256;
        return false;
    }
    return true; /* oct, unknown or missing kty */
}

/* RFC 7517 §4.5: distinct kids within a set. Two keys may share a kid only if they have
 * different algorithms, because a verifier selects by (kid, alg). */
static int check_unique(struct vk_jwk *const *keys, size_t n, struct vk_err *err)
{
    for (size_t i = 0; i < n; i++) {
        const char *kid = vk_jwk_kid(keys[i]);
        if (kid[0] == '\0')
            continue; /* keys without a kid are found by alg alone, see vk_jws_verify */
        for (size_t j = i + 1; j < n; j++)
            if (vk_jwk_alg(keys[i]) == vk_jwk_alg(keys[j]) &&
                strcmp(kid, vk_jwk_kid(keys[j])) == 0)
                return vk_err_set(err, VK_EINVAL, "jwks: two %s keys share a kid",
                                  vk_alg_name(vk_jwk_alg(keys[i])));
    }
    return VK_OK;
}

int vk_jwks_parse(const char *json, size_t len, struct vk_jwks **out, struct vk_err *err)
{
    struct vk_jwk *keys[VK_MAX_JWKS_KEYS];
    size_t n = 0, i;
    json_t *root = NULL, *arr, *el;
    int rc;

    *out = NULL;
    if (json == NULL)
        return vk_err_set(err, VK_EINVAL, "jwks: no input");
    if (len > VK_MAX_JSON_INPUT)
        return vk_err_set(err, VK_ETOOBIG, "jwks: longer than %d bytes", VK_MAX_JSON_INPUT);
    root = vk_json_load(json, len, &rc);
    if (root == NULL && rc == VK_ENOMEM) {
        rc = vk_err_set(err, VK_ENOMEM, "jwks: out of memory");
        goto out;
    }
    if (root == NULL) {
        rc = vk_err_set(err, VK_EINVAL, "jwks: not valid JSON");
        goto out;
    }
    arr = json_object_get(root, "keys");
    if (!json_is_object(root) || !json_is_array(arr)) {
        rc = vk_err_set(err, VK_EINVAL, "jwks: no \"keys\" array"); /* RFC 7517 §5.1 */
        goto out;
    }
    /* Counted before any key is looked at, skipped ones included: the work is bounded. */
    if (json_array_size(arr) > VK_MAX_JWKS_KEYS) {
        rc = vk_err_set(err, VK_ETOOBIG, "jwks: more than %d keys", VK_MAX_JWKS_KEYS);
        goto out;
    }
    json_array_foreach(arr, i, el) {
        enum vk_alg def;
        if (!json_is_object(el)) {
            rc = vk_err_set(err, VK_EINVAL, "jwks: key %zu is not an object", i);
            goto out;
        }
        if (skip_key(el, &def))
            continue;
        if (n == VK_MAX_JWKS_KEYS) { /* unreachable after the check above; guards keys[] */
            rc = vk_err_set(err, VK_ETOOBIG, "jwks: more than %d keys", VK_MAX_JWKS_KEYS);
            goto out;
        }
        rc = vk_jwk_from_json(el, def, &keys[n], err);
        if (rc != VK_OK)
            goto out;
        n++;
    }
    rc = check_unique(keys, n, err);
    if (rc != VK_OK)
        goto out;
    rc = vk_jwks_from_keys(keys, n, out);
    n = 0; /* consumed, even on error */
    if (rc != VK_OK)
        rc = vk_err_set(err, rc, "jwks: %s", vk_strerror(rc));
out:
    free_keys(keys, n);
    json_decref(root);
    return rc;
}

int vk_jwks_from_keys(struct vk_jwk **keys, size_t n, struct vk_jwks **out)
{
    struct vk_jwks *s = NULL;
    int rc;

    *out = NULL;
    if (keys == NULL && n > 0)
        return VK_EINVAL;
    if (n > VK_MAX_JWKS_KEYS) {
        rc = VK_ETOOBIG;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        if (keys[i] == NULL) {
            rc = VK_EINVAL;
            goto out;
        }
    }
    rc = check_unique(keys, n, NULL);
    if (rc != VK_OK)
        goto out;
    s = vk_calloc(1, sizeof *s);
    if (s == NULL) {
        rc = VK_ENOMEM;
        goto out;
    }
    atomic_init(&s->refs, 1);
    s->n = n;
    if (n > 0)
        memcpy(s->keys, keys, n * sizeof keys[0]);
    *out = s;
    return VK_OK;
out:
    free_keys(keys, n);
    return rc;
}

struct vk_jwks *vk_jwks_ref(struct vk_jwks *s)
{
    /* Taking a reference needs no ordering: the caller already holds one. */
    if (s != NULL)
        atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
    return s;
}

void vk_jwks_unref(struct vk_jwks *s)
{
    if (s == NULL)
        return;
    /* acq_rel: every use by another thread happens-before the free. (A release decrement and an
     * acquire fence would do the same; ThreadSanitizer does not model fences, and on x86 the
     * locked decrement costs the same either way.) */
    if (atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1)
        return;
    free_keys(s->keys, s->n);
    vk_free(s);
}

size_t vk_jwks_count(const struct vk_jwks *s)
{
    return s != NULL ? s->n : 0;
}

const struct vk_jwk *vk_jwks_get(const struct vk_jwks *s, size_t i)
{
    return s != NULL && i < s->n ? s->keys[i] : NULL;
}

const struct vk_jwk *vk_jwks_find(const struct vk_jwks *s, vk_str kid)
{
    if (s == NULL || kid.len == 0)
        return NULL;
    for (size_t i = 0; i < s->n; i++)
        if (vk_str_eq_lit(kid, vk_jwk_kid(s->keys[i])))
            return s->keys[i];
    return NULL;
}
