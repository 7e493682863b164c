/* The claims of a verified token, flattened into one immutable allocation.
 *
 * jansson is used only inside vk_claims_build: the payload's members are copied out as C strings
 * (the value of a string member, and every value as compact JSON text), so a claims object never
 * holds jansson memory. That keeps jansson allocations inside a call (docs/architecture.md, "The
 * allocator") and makes a cache hit free of allocation: it hands out another reference to the
 * same block. */
#include "verify/verify.h"

#include <string.h>

#include "base/crypto.h"
#include "base/mem.h"

#define JTI_MAX 255  /* bounds the revocation key input; RFC 9068 jtis are short */
#define JKT_LEN 43   /* base64url of a SHA-256 thumbprint (RFC 7638 §3, RFC 9449 §6.1) */

static const size_t dump_flags = JSON_ENCODE_ANY | JSON_COMPACT;

static bool is_b64url(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_'))
            return false;
    }
    return true;
}

/* A string member usable from C: a JSON string holding no NUL. */
static const char *c_string(const json_t *v, size_t *len)
{
    if (!json_is_string(v))
        return NULL;
    const char *s = json_string_value(v);
    *len = json_string_length(v);
    return strlen(s) == *len ? s : NULL;
}

/* RFC 9068 §2.2: jti, sub and client_id are required strings; RFC 9449 §6.1: cnf.jkt;
 * RFC 8705 §3.1: cnf.x5t#S256. */
static int check_required(const json_t *payload)
{
    size_t len = 0;
    const json_t *cnf;

    if (c_string(json_object_get(payload, "jti"), &len) == NULL || len == 0 || len > JTI_MAX)
        return VALETKEY_TOKEN_CLAIMS;
    if (c_string(json_object_get(payload, "sub"), &len) == NULL || len == 0)
        return VALETKEY_TOKEN_CLAIMS;
    if (c_string(json_object_get(payload, "client_id"), &len) == NULL || len == 0)
        return VALETKEY_TOKEN_CLAIMS;
    const json_t *scope = json_object_get(payload, "scope");
    if (scope != NULL && c_string(scope, &len) == NULL)
        return VALETKEY_TOKEN_CLAIMS;
    cnf = json_object_get(payload, "cnf");
    if (cnf != NULL) {
        /* RFC 7800 §3.1: a confirmation method we cannot check (jwk, jku, kid, ...) means the
         * token must not be accepted, rather than accepted as a bearer token. Both thumbprints
         * are base64url SHA-256 (43 characters). */
        const char *key;
        const json_t *value;
        if (!json_is_object(cnf) || json_object_size(cnf) == 0)
            return VALETKEY_TOKEN_CLAIMS;
        json_object_foreach((json_t *)cnf, key, value) {
            const char *t = c_string(value, &len);
            if ((strcmp(key, "jkt") != 0 && strcmp(key, "x5t#S256") != 0) || t == NULL ||
                len != JKT_LEN || !is_b64url(t, len))
                return VALETKEY_TOKEN_CLAIMS;
        }
    }
    return VALETKEY_OK;
}

static int64_t exp_of(const json_t *payload)
{
    const json_t *v = json_object_get(payload, "exp");
    if (json_is_integer(v))
        return (int64_t)json_integer_value(v);
    if (json_is_real(v)) {
        double d = json_real_value(v);
        int64_t t = (int64_t)d; /* vk_jwt_check bounded it to year 9999 */
        return (double)t > d ? t - 1 : t;
    }
    return 0;
}

static size_t add_size(size_t *total, size_t n, bool *overflow)
{
    if (__builtin_add_overflow(*total, n, total))
        *overflow = true;
    return *total;
}

int vk_claims_build(const json_t *payload, const uint8_t rev_keys[VK_REVOKE_KINDS][16],
                    struct valetkey_claims **out)
{
    struct valetkey_claims *c = NULL;
    const char *key;
    json_t *value;
    size_t n = 0, total, len;
    bool overflow = false;
    char *p;
    int rc;

    *out = NULL;
    if (!json_is_object(payload))
        return VALETKEY_TOKEN_CLAIMS;
    rc = check_required(payload);
    if (rc != VALETKEY_OK)
        return rc;

    /* Pass 1: the size of everything. json_dumpb with no buffer returns the length. */
    total = sizeof *c;
    json_object_foreach((json_t *)payload, key, value) {
        size_t jlen = json_dumpb(value, NULL, 0, dump_flags);
        if (jlen == 0)
            return VALETKEY_ENOMEM; /* a parsed value always dumps, unless memory ran out */
        add_size(&total, sizeof(struct vk_claim), &overflow);
        add_size(&total, strlen(key) + 1, &overflow);
        add_size(&total, jlen + 1, &overflow);
        if (c_string(value, &len) != NULL)
            add_size(&total, len + 1, &overflow);
        n++;
    }
    if (overflow)
        return VALETKEY_TOKEN_CLAIMS;
    c = vk_malloc(total);
    if (c == NULL)
        return VALETKEY_ENOMEM;

    /* Pass 2: fill it in. */
    atomic_init(&c->refs, 1);
    c->size = total;
    c->n = 0;
    c->exp = exp_of(payload);
    c->sub = c->client_id = c->scope = c->jti = c->cnf_jkt = c->cnf_x5t = NULL;
    p = (char *)&c->members[n];
    json_object_foreach((json_t *)payload, key, value) {
        struct vk_claim *m = &c->members[c->n];
        size_t klen = strlen(key), jlen;
        const char *s;

        if (c->n == n) /* the object cannot change between the passes; guards members[] */
            break;
        memcpy(p, key, klen + 1);
        m->name = p;
        p += klen + 1;
        jlen = json_dumpb(value, p, (size_t)((char *)c + total - p), dump_flags);
        if (jlen == 0 || jlen >= (size_t)((char *)c + total - p)) {
            rc = VALETKEY_ENOMEM;
            goto out;
        }
        p[jlen] = '\0';
        m->json = p;
        p += jlen + 1;
        m->str = NULL;
        s = c_string(value, &len);
        if (s != NULL) {
            memcpy(p, s, len + 1);
            m->str = p;
            p += len + 1;
        }
        if (strcmp(key, "sub") == 0)
            c->sub = m->str;
        else if (strcmp(key, "client_id") == 0)
            c->client_id = m->str;
        else if (strcmp(key, "scope") == 0)
            c->scope = m->str;
        else if (strcmp(key, "jti") == 0)
            c->jti = m->str;
        c->n++;
    }
    {
        /* check_required made sure it is 43 base64url characters. */
        const char *jkt = c_string(json_object_get(json_object_get(payload, "cnf"), "jkt"), &len);
        if (jkt != NULL && len == JKT_LEN) {
            memcpy(c->jkt, jkt, JKT_LEN + 1);
            c->cnf_jkt = c->jkt;
        }
        const char *x5t =
            c_string(json_object_get(json_object_get(payload, "cnf"), "x5t#S256"), &len);
        if (x5t != NULL && len == JKT_LEN) {
            memcpy(c->x5t, x5t, JKT_LEN + 1);
            c->cnf_x5t = c->x5t;
        }
    }
    if (c->jti == NULL || c->sub == NULL || c->client_id == NULL || c->n != n) {
        rc = VALETKEY_TOKEN_CLAIMS;
        goto out;
    }
    /* One name per kind of revocation, each under its own key, so a client id can never
     * collide with a jti or a subject on the one revocation list. */
    vk_siphash24_128(rev_keys[VK_REVOKE_JTI], c->jti, strlen(c->jti), c->rev_key[VK_REVOKE_JTI]);
    vk_siphash24_128(rev_keys[VK_REVOKE_CLIENT], c->client_id, strlen(c->client_id),
                     c->rev_key[VK_REVOKE_CLIENT]);
    vk_siphash24_128(rev_keys[VK_REVOKE_SUB], c->sub, strlen(c->sub), c->rev_key[VK_REVOKE_SUB]);
    atomic_fetch_add_explicit(&vk_verify_live_objects, 1, memory_order_relaxed);
    *out = c;
    c = NULL;
    rc = VALETKEY_OK;
out:
    vk_free(c);
    return rc;
}

/* ---- public: getters, scope check, references ---- */

const char *valetkey_claims_sub(const valetkey_claims *c)
{
    return c != NULL ? c->sub : NULL;
}

const char *valetkey_claims_client_id(const valetkey_claims *c)
{
    return c != NULL ? c->client_id : NULL;
}

const char *valetkey_claims_scope(const valetkey_claims *c)
{
    return c != NULL ? c->scope : NULL;
}

const char *valetkey_claims_jti(const valetkey_claims *c)
{
    return c != NULL ? c->jti : NULL;
}

const char *valetkey_claims_cnf_jkt(const valetkey_claims *c)
{
    return c != NULL ? c->cnf_jkt : NULL;
}

const char *valetkey_claims_cnf_x5t(const valetkey_claims *c)
{
    return c != NULL ? c->cnf_x5t : NULL;
}

int64_t valetkey_claims_exp(const valetkey_claims *c)
{
    return c != NULL ? c->exp : 0;
}

static const struct vk_claim *find(const valetkey_claims *c, const char *name)
{
    if (c == NULL || name == NULL)
        return NULL;
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->members[i].name, name) == 0)
            return &c->members[i];
    return NULL;
}

const char *valetkey_claims_get(const valetkey_claims *c, const char *name)
{
    const struct vk_claim *m = find(c, name);
    return m != NULL ? m->str : NULL;
}

const char *valetkey_claims_get_json(const valetkey_claims *c, const char *name)
{
    const struct vk_claim *m = find(c, name);
    return m != NULL ? m->json : NULL;
}

int valetkey_claims_require_scope(const valetkey_claims *c, const char *required)
{
    if (c == NULL || required == NULL)
        return VALETKEY_EINVAL;
    if (!vk_policy_scopes_cover(vk_str_c(c->scope), vk_str_c(required)))
        return VALETKEY_INSUFFICIENT_SCOPE;
    return VALETKEY_OK;
}

int valetkey_claims_require_audience(const valetkey_claims *c, const char *audience)
{
    const struct vk_claim *m;
    const char *const accepted[] = {audience, NULL};
    json_t *aud;
    int rc;

    if (c == NULL || audience == NULL)
        return VALETKEY_EINVAL;
    m = find(c, "aud");
    if (m == NULL)
        return VALETKEY_TOKEN_AUDIENCE;
    if (m->str != NULL) /* the common case: one audience, no parsing */
        return strcmp(m->str, audience) == 0 ? VALETKEY_OK : VALETKEY_TOKEN_AUDIENCE;
    /* An array: the claims keep it as the compact JSON the verified token held. */
    aud = vk_json_load(m->json, strlen(m->json), &rc);
    if (aud == NULL)
        return rc == VK_ENOMEM ? VALETKEY_ENOMEM : VALETKEY_TOKEN_AUDIENCE;
    rc = vk_policy_audience_ok(aud, accepted) ? VALETKEY_OK : VALETKEY_TOKEN_AUDIENCE;
    json_decref(aud);
    return rc;
}

valetkey_claims *valetkey_claims_ref(valetkey_claims *c)
{
    /* The caller holds a reference, so no ordering is needed to take another. */
    if (c != NULL)
        atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
    return c;
}

void valetkey_claims_free(valetkey_claims *c)
{
    if (c == NULL)
        return;
    /* acq_rel: every use by another thread happens-before the free. (A release decrement and an
     * acquire fence would do the same; ThreadSanitizer does not model fences, and on x86 the
     * locked decrement costs the same either way.) */
    if (atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) != 1)
        return;
    vk_wipe(c, c->size); /* claims are personal data */
    vk_free(c);
    atomic_fetch_sub_explicit(&vk_verify_live_objects, 1, memory_order_relaxed);
}
