/* Fuzz driver: compact JWS verification and JWT claim checks (src/jose/jws.c, jwt.c), the code
 * that /introspect, private_key_jwt and DPoP run on attacker-supplied tokens.
 *
 * A key set of four keys (ES256, EdDSA, RS256, PS256) is generated at start-up, so no input,
 * seed or dictionary entry can have been signed by it. Each input is used three ways:
 *
 * A. Forgery: the input as a compact JWS against the set (vk_jws_verify) and against the ES256
 *    key alone (vk_jws_verify_key). VK_OK would mean a forged signature verified: abort. Any
 *    other result must be one of the documented codes and leave *out empty; VK_ETOOBIG exactly
 *    when the input is longer than VK_MAX_JWT_LEN.
 * B. Round trip: the claims (the decoded middle part when the input is a JWS, else the input
 *    itself) are signed with our ES256 key, with the input header's typ when it has a usable one.
 *    Verifying that must give VK_OK exactly when the claims are a JSON object without duplicate
 *    names, with the same claims; a one-character change anywhere in the token must not verify;
 *    vk_jwt_check on the result must agree with a reference written from jose.h.
 * C. Claim checks on arbitrary headers: when the input's header and payload decode to JSON
 *    objects, vk_jwt_check runs on them directly (it only reads JSON) and must agree with the
 *    reference, including the typ comparison (RFC 7515 §4.1.9). */
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "base/b64url.h"
#include "base/buf.h"
#include "base/err.h"
#include "base/limits.h"
#include "jose/jose.h"

#include "fuzz_common.h"

#define NOW       INT64_C(1700000000) /* 2023-11-14T22:13:20Z */
#define ISSUER    "https://issuer.example"
#define DATE_MAX  253402300799.0

static struct vk_jwks *keys;      /* public halves, as a verifier would hold them */
static struct vk_jwk *es256_priv; /* signs the round-trip tokens */
static const struct vk_jwk *es256_pub;

static struct vk_jwk *public_copy(const struct vk_jwk *priv)
{
    struct vk_err err = {{0}};
    struct vk_jwk *pub = NULL;
    json_t *j = vk_jwk_public_json(priv);
    CHECK(j != NULL);
    int rc = vk_jwk_from_json(j, VK_ALG_INVALID, &pub, &err);
    CHECKF(rc == VK_OK, "public JWK does not load: %s", err.msg);
    json_decref(j);
    return pub;
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    static const enum vk_alg algs[] = {VK_ALG_ES256, VK_ALG_EDDSA, VK_ALG_RS256, VK_ALG_PS256};
    struct vk_jwk *pubs[4];
    struct vk_err err = {{0}};
    (void)argc;
    (void)argv;
    for (size_t i = 0; i < 4; i++) {
        struct vk_jwk *priv = NULL;
        int rc = vk_jwk_generate(algs[i], &priv, &err);
        CHECKF(rc == VK_OK, "key generation: %s", err.msg);
        pubs[i] = public_copy(priv);
        if (i == 0)
            es256_priv = priv;
        else
            vk_jwk_free(priv);
    }
    CHECK(vk_jwks_from_keys(pubs, 4, &keys) == VK_OK);
    es256_pub = vk_jwks_get(keys, 0);
    CHECK(vk_jwk_alg(es256_pub) == VK_ALG_ES256);
    return 0;
}

/* ---- reference claim checks, from the vk_jwt_check comment in jose.h ---- */

/* 0 absent, 1 valid (in *out), -1 not a NumericDate. Fractions round to the stricter side. */
static int ref_date(const json_t *claims, const char *name, bool up, int64_t *out)
{
    const json_t *v = json_object_get(claims, name);
    if (v == NULL)
        return 0;
    if (json_is_integer(v)) {
        *out = (int64_t)json_integer_value(v);
        return 1;
    }
    if (!json_is_real(v))
        return -1;
    double d = json_real_value(v);
    if (!(d >= -DATE_MAX && d <= DATE_MAX))
        return -1;
    int64_t t = (int64_t)d;
    if (!up && (double)t > d)
        t--;
    if (up && (double)t < d)
        t++;
    *out = t;
    return 1;
}

static bool ref_typ(const json_t *header)
{
    const json_t *v = json_object_get(header, "typ");
    if (!json_is_string(v))
        return false;
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    if (n > 12 && strncasecmp(s, "application/", 12) == 0) {
        s += 12;
        n -= 12;
    }
    return n == 6 && strncasecmp(s, "at+jwt", 6) == 0;
}

static bool ref_claims_ok(const json_t *header, const json_t *claims, int64_t leeway)
{
    int64_t exp = 0, nbf = 0, iat = 0;
    const json_t *iss = json_object_get(claims, "iss");
    if (!ref_typ(header))
        return false;
    if (!json_is_string(iss) || json_string_length(iss) != strlen(ISSUER) ||
        memcmp(json_string_value(iss), ISSUER, strlen(ISSUER)) != 0)
        return false;
    if (ref_date(claims, "exp", false, &exp) != 1)
        return false;
    int has_nbf = ref_date(claims, "nbf", true, &nbf);
    int has_iat = ref_date(claims, "iat", true, &iat);
    if (has_nbf < 0 || has_iat < 0)
        return false;
    return exp > NOW - leeway && (has_nbf == 0 || nbf <= NOW + leeway) &&
           (has_iat == 0 || iat <= NOW + leeway);
}

static void check_claims(const struct vk_jws *j)
{
    static const int64_t leeways[] = {0, 60};
    for (size_t i = 0; i < 2; i++) {
        struct vk_err err = {{0}};
        int rc = vk_jwt_check(j, NOW, leeways[i], "at+jwt", ISSUER, &err);
        CHECKF(rc == VK_OK || rc == VK_EEXPIRED || rc == VK_EINVAL, "vk_jwt_check gave %d", rc);
        bool want = ref_claims_ok(j->header, j->payload, leeways[i]);
        CHECKF((rc == VK_OK) == want, "vk_jwt_check gave %d (%s), reference says %s", rc,
               err.msg, want ? "valid" : "invalid");
    }
    /* Without typ and iss requirements it must not crash either. */
    struct vk_err err = {{0}};
    (void)vk_jwt_check(j, NOW, 0, NULL, NULL, &err);
    CHECK(vk_jwt_check(j, NOW, -1, NULL, NULL, &err) == VK_EINVAL);
    CHECK(vk_jwt_check(j, INT64_MIN, 1, NULL, NULL, &err) == VK_EINVAL);
}

/* ---- helpers ---- */

struct parts {
    const char *p[3];
    size_t n[3];
};

static bool split3(const char *s, size_t n, struct parts *out)
{
    const char *d1 = memchr(s, '.', n);
    if (d1 == NULL)
        return false;
    const char *d2 = memchr(d1 + 1, '.', n - (size_t)(d1 + 1 - s));
    if (d2 == NULL || memchr(d2 + 1, '.', n - (size_t)(d2 + 1 - s)) != NULL)
        return false;
    out->p[0] = s;
    out->n[0] = (size_t)(d1 - s);
    out->p[1] = d1 + 1;
    out->n[1] = (size_t)(d2 - d1 - 1);
    out->p[2] = d2 + 1;
    out->n[2] = n - (size_t)(d2 + 1 - s);
    return true;
}

/* Decodes base64url into a new buffer (caller frees); NULL when not valid base64url. */
static uint8_t *b64url_dup(const char *p, size_t n, size_t *outlen)
{
    size_t cap = n / 4 * 3 + 3;
    uint8_t *buf = malloc(cap);
    CHECK(buf != NULL);
    if (vk_b64url_decode((vk_str){p, n}, buf, cap, outlen) != VK_OK) {
        free(buf);
        return NULL;
    }
    return buf;
}

static json_t *load_object(const uint8_t *p, size_t n)
{
    json_error_t jerr;
    json_t *j = json_loadb((const char *)p, n, JSON_REJECT_DUPLICATES, &jerr);
    if (j != NULL && !json_is_object(j)) {
        json_decref(j);
        j = NULL;
    }
    return j;
}

static bool typ_plain(const char *s, size_t n)
{
    if (n == 0 || n > 64)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e || s[i] == '"' ||
            s[i] == '\\')
            return false;
    return true;
}

/* ---- A: forgery ---- */

static void check_rejected(int rc, const struct vk_jws *out, size_t size, const char *fn)
{
    CHECKF(rc != VK_OK, "%s: a token not signed by our keys verified", fn);
    CHECKF(rc == VK_EINVAL || rc == VK_ETOOBIG || rc == VK_ECRYPTO || rc == VK_ENOTFOUND,
           "%s: unexpected return code %d", fn, rc);
    CHECKF((rc == VK_ETOOBIG) == (size > VK_MAX_JWT_LEN), "%s: VK_ETOOBIG is about length", fn);
    CHECK(out->header == NULL && out->payload == NULL && out->key == NULL);
}

static void forgery(const uint8_t *data, size_t size)
{
    struct vk_jws out;
    struct vk_err err = {{0}};
    vk_str in = {(const char *)data, size};

    memset(&out, 0xA5, sizeof out); /* must be zeroed by the callee */
    int rc = vk_jws_verify(keys, in, &out, &err);
    if (rc == VK_OK)
        vk_jws_clear(&out);
    check_rejected(rc, &out, size, "vk_jws_verify");

    memset(&out, 0xA5, sizeof out);
    rc = vk_jws_verify_key(es256_pub, in, &out, &err);
    if (rc == VK_OK)
        vk_jws_clear(&out);
    check_rejected(rc, &out, size, "vk_jws_verify_key");
}

/* ---- B: round trip through our own signer ---- */

static void roundtrip(const uint8_t *claims, size_t claims_len, const char *typ, uint64_t h)
{
    struct vk_buf tok;
    struct vk_jws out;
    struct vk_err err = {{0}};

    vk_buf_init(&tok, 4 * VK_MAX_JWT_LEN);
    int rc = vk_jws_sign(es256_priv, typ, (vk_str){(const char *)claims, claims_len}, &tok, &err);
    size_t hdr_b64 = 0;
    if (rc != VK_OK) {
        /* Only an oversized result may be refused. */
        CHECKF(rc == VK_ETOOBIG, "vk_jws_sign: %d %s", rc, err.msg);
        CHECK(vk_b64url_enc_len(claims_len) + 300 > VK_MAX_JWT_LEN);
        vk_buf_clear(&tok);
        return;
    }
    CHECK(tok.len <= VK_MAX_JWT_LEN);
    hdr_b64 = (size_t)((const char *)memchr(tok.p, '.', tok.len) - tok.p);

    json_t *want = load_object(claims, claims_len);
    rc = vk_jws_verify(keys, vk_buf_str(&tok), &out, &err);
    if (want == NULL) {
        CHECKF(rc == VK_EINVAL, "claims that are not a JSON object gave %d", rc);
    } else {
        CHECKF(rc == VK_OK, "our own token did not verify: %d %s", rc, err.msg);
        CHECK(out.key == es256_pub && json_equal(out.payload, want));
        CHECK(json_is_object(out.header));
        check_claims(&out);
        vk_jws_clear(&out);
        json_decref(want);
    }

    /* One character changed, at a position chosen by the input. '.' stays put: the number of
     * parts is tested by A. Flipping the low bit maps base64url characters to others or to
     * non-alphabet bytes, never to '.'. */
    size_t pos = (size_t)(h % tok.len);
    if (tok.p[pos] == '.')
        pos = hdr_b64 - 1;
    tok.p[pos] ^= 1;
    rc = vk_jws_verify(keys, vk_buf_str(&tok), &out, &err);
    if (rc == VK_OK)
        vk_jws_clear(&out);
    CHECKF(rc != VK_OK, "token verified with byte %zu changed", pos);
    vk_buf_clear(&tok);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct parts pt;
    uint64_t h = 1469598103934665603ULL; /* FNV-1a: picks the tampered position */
    for (size_t i = 0; i < size; i++)
        h = (h ^ data[i]) * 1099511628211ULL;

    if (keys == NULL)
        LLVMFuzzerInitialize(NULL, NULL);

    forgery(data, size);

    const uint8_t *claims = data;
    size_t claims_len = size;
    uint8_t *hdr_raw = NULL, *pay_raw = NULL;
    size_t hlen = 0, plen = 0;
    json_t *hdr = NULL;
    const char *typ = "at+jwt";
    if (split3((const char *)data, size, &pt)) {
        hdr_raw = b64url_dup(pt.p[0], pt.n[0], &hlen);
        pay_raw = b64url_dup(pt.p[1], pt.n[1], &plen);
        if (hdr_raw != NULL)
            hdr = load_object(hdr_raw, hlen);
        const json_t *t = json_object_get(hdr, "typ");
        if (json_is_string(t) && typ_plain(json_string_value(t), json_string_length(t)))
            typ = json_string_value(t);
        if (pay_raw != NULL) {
            claims = pay_raw;
            claims_len = plen;
        }
    }

    roundtrip(claims, claims_len, typ, h);

    /* C: claim checks straight on the decoded parts. */
    if (hdr != NULL && pay_raw != NULL) {
        json_t *pay = load_object(pay_raw, plen);
        if (pay != NULL) {
            struct vk_jws j = {.header = hdr, .payload = pay, .key = NULL};
            check_claims(&j);
            json_decref(pay);
        }
    }
    json_decref(hdr);
    free(hdr_raw);
    free(pay_raw);
    return 0;
}
