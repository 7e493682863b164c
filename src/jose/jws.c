/* JWS Compact Serialization (RFC 7515 §3.1, §5.1, §5.2, §7.1).
 *
 * Signing is on the token-issuance hot path, so it uses no jansson and no heap: the protected
 * header is a few memcpy()s (the kid was checked to need no JSON escaping), and the whole JWS is
 * built in one stack buffer of VK_MAX_JWT_LEN bytes and appended to the caller's vk_buf once.
 * The signature itself is vk_jwk_sign_input(), which reuses per-key EVP state (see jwk.c).
 *
 * Verification does the cheap structural checks, parses only the protected header, pins the
 * algorithm to the key's (RFC 8725 §3.1), and checks the signature before it parses a byte of the
 * payload: unauthenticated JSON never reaches the payload parser. */
#include "jose/jose.h"

#include <string.h>

#include "base/b64url.h"
#include "base/crypto.h"
#include "base/limits.h"

#define SIG_MAX      512 /* RSA-4096; see RSA_MAX_BITS in jwk.c */
#define TYP_MAX      64
/* {"alg":"","typ":"","kid":""} around the longest alg name, typ and kid */
#define HEADER_MAX   (sizeof "{'alg':'','typ':'','kid':''}" + 8 + TYP_MAX + VK_MAX_ID_LEN)
#define DECODED_MAX  (VK_MAX_JWT_LEN / 4 * 3 + 3)

/* True when s can sit between JSON quotes as is: visible ASCII except '"' and '\'. */
static bool json_plain(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x21 || c > 0x7e || c == '"' || c == '\\')
            return false;
    }
    return true;
}

static size_t put(char *dst, size_t off, const char *s, size_t n)
{
    memcpy(dst + off, s, n);
    return off + n;
}

/* {"alg":"ES256","typ":"at+jwt","kid":"..."}: RFC 7515 §4.1.1, §4.1.9, §4.1.4. */
static int build_header(const struct vk_jwk *k, const char *typ, char *hdr, size_t *hlen,
                        struct vk_err *err)
{
    const char *alg = vk_alg_name(vk_jwk_alg(k));
    const char *kid = vk_jwk_kid(k);
    size_t alen = strlen(alg), klen = strlen(kid), tlen = typ != NULL ? strlen(typ) : 0;
    size_t o = 0;

    if (typ != NULL && (tlen == 0 || tlen > TYP_MAX || !json_plain(typ, tlen)))
        return vk_err_set(err, VK_EINVAL, "jws: typ must be 1..%d plain characters", TYP_MAX);
    if (klen > VK_MAX_ID_LEN || !json_plain(kid, klen))
        return vk_err_set(err, VK_EINVAL, "jws: the key's kid cannot be used in a header");
    o = put(hdr, o, "{\"alg\":\"", 8);
    o = put(hdr, o, alg, alen);
    if (typ != NULL) {
        o = put(hdr, o, "\",\"typ\":\"", 9);
        o = put(hdr, o, typ, tlen);
    }
    if (klen > 0) {
        o = put(hdr, o, "\",\"kid\":\"", 9);
        o = put(hdr, o, kid, klen);
    }
    o = put(hdr, o, "\"}", 2);
    *hlen = o;
    return VK_OK;
}

int vk_jws_sign(const struct vk_jwk *k, const char *typ, vk_str payload, struct vk_buf *out,
                struct vk_err *err)
{
    char hdr[HEADER_MAX];
    char jws[VK_MAX_JWT_LEN + 1];
    uint8_t sig[SIG_MAX];
    size_t hlen = 0, hb, pb, sb, total = 0, siglen = 0;
    int rc;

    if (k == NULL || out == NULL || !vk_jwk_is_private(k))
        return vk_err_set(err, VK_EINVAL, "jws: signing needs a private key");
    if (payload.p == NULL && payload.len > 0)
        return vk_err_set(err, VK_EINVAL, "jws: no payload");
    rc = build_header(k, typ, hdr, &hlen, err);
    if (rc != VK_OK)
        return rc;
    /* Nothing longer than we would accept ourselves (VK_MAX_JWT_LEN) is ever produced. */
    if (payload.len > VK_MAX_JWT_LEN || vk_jwk_sig_len(k) > sizeof sig)
        return vk_err_set(err, VK_ETOOBIG, "jws: longer than %d bytes", VK_MAX_JWT_LEN);
    hb = vk_b64url_enc_len(hlen);
    pb = vk_b64url_enc_len(payload.len);
    sb = vk_b64url_enc_len(vk_jwk_sig_len(k));
    if (hb + 1 + pb + 1 + sb > VK_MAX_JWT_LEN)
        return vk_err_set(err, VK_ETOOBIG, "jws: longer than %d bytes", VK_MAX_JWT_LEN);

    /* RFC 7515 §5.1 steps 1-8: BASE64URL(header) '.' BASE64URL(payload) is the signing input. */
    vk_b64url_encode((const uint8_t *)hdr, hlen, jws);
    jws[hb] = '.';
    vk_b64url_encode((const uint8_t *)payload.p, payload.len, jws + hb + 1);
    total = hb + 1 + pb;
    rc = vk_jwk_sign_input(k, jws, total, sig, sizeof sig, &siglen);
    if (rc != VK_OK) {
        rc = vk_err_set(err, rc, "jws: signing failed");
        goto out;
    }
    jws[total++] = '.';
    vk_b64url_encode(sig, siglen, jws + total);
    total += sb;
    rc = vk_buf_append(out, jws, total);
    if (rc != VK_OK)
        rc = vk_err_set(err, rc, "jws: output buffer full");
out:
    /* The JWS is a bearer token: leave no copy of it on the stack. */
    vk_wipe(jws, total + 1 < sizeof jws ? total + 1 : sizeof jws);
    vk_wipe(sig, siglen);
    return rc;
}

void vk_jws_clear(struct vk_jws *j)
{
    if (j == NULL)
        return;
    json_decref(j->header);
    json_decref(j->payload);
    j->header = NULL;
    j->payload = NULL;
    j->key = NULL;
}

/* ---- verification ---- */

struct parts {
    vk_str header, payload, sig;
    vk_str input; /* header '.' payload: the JWS Signing Input */
};

/* A protected header that passed the checks that need no key. */
struct header {
    json_t *json;
    enum vk_alg alg;
    vk_str kid; /* points into json; empty when absent */
};

/* RFC 7515 §7.1: exactly three parts separated by two periods. */
static int split(vk_str c, struct parts *p, struct vk_err *err)
{
    const char *d1, *d2;

    if (c.p == NULL || c.len == 0)
        return vk_err_set(err, VK_EINVAL, "jws: empty");
    if (c.len > VK_MAX_JWT_LEN)
        return vk_err_set(err, VK_ETOOBIG, "jws: longer than %d bytes", VK_MAX_JWT_LEN);
    d1 = memchr(c.p, '.', c.len);
    if (d1 == NULL)
        return vk_err_set(err, VK_EINVAL, "jws: not three parts");
    d2 = memchr(d1 + 1, '.', c.len - (size_t)(d1 + 1 - c.p));
    if (d2 == NULL || memchr(d2 + 1, '.', c.len - (size_t)(d2 + 1 - c.p)) != NULL)
        return vk_err_set(err, VK_EINVAL, "jws: not three parts");
    p->header = (vk_str){c.p, (size_t)(d1 - c.p)};
    p->payload = (vk_str){d1 + 1, (size_t)(d2 - d1 - 1)};
    p->sig = (vk_str){d2 + 1, c.len - (size_t)(d2 + 1 - c.p)};
    p->input = (vk_str){c.p, (size_t)(d2 - c.p)};
    if (p->header.len == 0 || p->sig.len == 0)
        return vk_err_set(err, VK_EINVAL, "jws: empty header or signature");
    return VK_OK;
}

/* RFC 7515 §5.2 steps 3-4, §7.2.1: the part must be a JSON object. Duplicate member names are
 * rejected (§5.2 allows only that or last-wins; disagreement between parsers is an attack
 * surface). NUL bytes in strings and trailing data are rejected by jansson's defaults. */
static json_t *load_object(const uint8_t *buf, size_t n, bool *oom)
{
    int rc;
    json_t *j = vk_json_load((const char *)buf, n, &rc);
    /* An allocation failure is not malformed input: callers report it as VK_ENOMEM. */
    *oom = rc == VK_ENOMEM;
    if (j != NULL && !json_is_object(j)) {
        json_decref(j);
        j = NULL;
    }
    return j;
}

/* The header as a JSON object without crit; h->json is set (or NULL) either way. */
static int parse_header_object(vk_str b64, uint8_t *buf, size_t bufsz, struct header *h,
                               struct vk_err *err)
{
    size_t n = 0;
    bool oom;

    if (vk_b64url_decode(b64, buf, bufsz, &n) != VK_OK)
        return vk_err_set(err, VK_EINVAL, "jws: header is not base64url");
    h->json = load_object(buf, n, &oom);
    if (h->json == NULL && oom)
        return vk_err_set(err, VK_ENOMEM, "jws: out of memory");
    if (h->json == NULL)
        return vk_err_set(err, VK_EINVAL, "jws: header is not a JSON object");
    /* RFC 7515 §4.1.11: we understand no extension, so any crit makes the JWS invalid. */
    if (json_object_get(h->json, "crit") != NULL)
        return vk_err_set(err, VK_EINVAL, "jws: crit header not supported");
    return VK_OK;
}

static int parse_header(vk_str b64, uint8_t *buf, size_t bufsz, struct header *h,
                        struct vk_err *err)
{
    const json_t *v;
    int rc = parse_header_object(b64, buf, bufsz, h, err);

    if (rc != VK_OK)
        return rc;
    /* RFC 7515 §4.1.1: alg is required. Only our four names map to an algorithm; "none" and
     * HS256 are VK_ALG_INVALID and end here, before any key is consulted (RFC 8725 §3.1). */
    v = json_object_get(h->json, "alg");
    if (!json_is_string(v))
        return vk_err_set(err, VK_EINVAL, "jws: alg missing or not a string");
    h->alg = vk_alg_from_name((vk_str){json_string_value(v), json_string_length(v)});
    if (h->alg == VK_ALG_INVALID)
        return vk_err_set(err, VK_EINVAL, "jws: alg not accepted");
    v = json_object_get(h->json, "kid");
    if (v != NULL && !json_is_string(v))
        return vk_err_set(err, VK_EINVAL, "jws: kid is not a string");
    h->kid = v != NULL ? (vk_str){json_string_value(v), json_string_length(v)} : VK_STR_NULL;
    return VK_OK;
}

/* On VK_OK, h->json moves into out->header (h->json becomes NULL); on error the caller still
 * owns it. buf is scratch space of bufsz bytes. */
static int verify_parts(const struct vk_jwk *k, const struct parts *p, struct header *h,
                        uint8_t *buf, size_t bufsz, struct vk_jws *out, struct vk_err *err)
{
    uint8_t sig[SIG_MAX];
    size_t siglen = 0, plen = 0;
    json_t *payload = NULL;
    bool oom;
    int rc;

    /* RFC 8725 §3.1: the key decides the algorithm; a header that disagrees is rejected before
     * any cryptographic operation. */
    if (h->alg != vk_jwk_alg(k))
        return vk_err_set(err, VK_EINVAL, "jws: alg does not match the key");
    rc = vk_b64url_decode(p->sig, sig, sizeof sig, &siglen);
    if (rc == VK_ETOOBIG || (rc == VK_OK && siglen != vk_jwk_sig_len(k)))
        return vk_err_set(err, VK_EINVAL, "jws: signature has the wrong length");
    if (rc != VK_OK)
        return vk_err_set(err, VK_EINVAL, "jws: signature is not base64url");
    if (vk_b64url_decode(p->payload, buf, bufsz, &plen) != VK_OK)
        return vk_err_set(err, VK_EINVAL, "jws: payload is not base64url");
    rc = vk_jwk_verify_input(k, p->input.p, p->input.len, sig, siglen);
    if (rc == VK_ENOMEM) {
        rc = vk_err_set(err, VK_ENOMEM, "jws: out of memory");
        goto out;
    }
    if (rc != VK_OK) {
        rc = vk_err_set(err, VK_ECRYPTO, "jws: signature does not verify");
        goto out;
    }
    /* Only now, authenticated, is the payload parsed. */
    payload = load_object(buf, plen, &oom);
    if (payload == NULL && oom) {
        rc = vk_err_set(err, VK_ENOMEM, "jws: out of memory");
        goto out;
    }
    if (payload == NULL) {
        rc = vk_err_set(err, VK_EINVAL, "jws: payload is not a JSON object");
        goto out;
    }
    out->header = h->json;
    out->payload = payload;
    out->key = k;
    h->json = NULL;
out:
    vk_wipe(buf, plen); /* claims are personal data */
    return rc;
}

int vk_jws_verify_key(const struct vk_jwk *k, vk_str compact, struct vk_jws *out,
                      struct vk_err *err)
{
    uint8_t buf[DECODED_MAX];
    struct parts p;
    struct header h = {0};
    int rc;

    memset(out, 0, sizeof *out);
    if (k == NULL)
        return vk_err_set(err, VK_EINVAL, "jws: no key");
    rc = split(compact, &p, err);
    if (rc != VK_OK)
        return rc;
    rc = parse_header(p.header, buf, sizeof buf, &h, err);
    if (rc != VK_OK)
        goto out;
    rc = verify_parts(k, &p, &h, buf, sizeof buf, out, err);
out:
    json_decref(h.json);
    return rc;
}

int vk_jws_header_peek(vk_str compact, json_t **out, struct vk_err *err)
{
    uint8_t buf[DECODED_MAX];
    struct parts p;
    struct header h = {0};
    int rc;

    *out = NULL;
    rc = split(compact, &p, err);
    if (rc != VK_OK)
        return rc;
    rc = parse_header_object(p.header, buf, sizeof buf, &h, err);
    if (rc == VK_OK) {
        *out = h.json;
        h.json = NULL;
    }
    json_decref(h.json);
    return rc;
}

/* Picks the key for a header: by (kid, alg) when the header names a kid, else the only key of
 * that alg. */
static int select_key(const struct vk_jwks *keys, const struct header *h,
                      const struct vk_jwk **out, struct vk_err *err)
{
    const struct vk_jwk *found = NULL;
    bool kid_seen = false;
    size_t n = 0;

    *out = NULL;
    for (size_t i = 0; i < vk_jwks_count(keys); i++) {
        const struct vk_jwk *k = vk_jwks_get(keys, i);
        if (h->kid.p != NULL) {
            if (!vk_str_eq_lit(h->kid, vk_jwk_kid(k)) || h->kid.len == 0)
                continue;
            kid_seen = true;
        }
        if (vk_jwk_alg(k) == h->alg) {
            found = k;
            n++;
        }
    }
    if (n == 1) {
        *out = found;
        return VK_OK;
    }
    if (n > 1) /* only possible without a kid: vk_jwks_* keeps (kid, alg) unique */
        return vk_err_set(err, VK_EINVAL, "jws: no kid and several %s keys",
                          vk_alg_name(h->alg));
    if (kid_seen)
        return vk_err_set(err, VK_EINVAL, "jws: alg does not match the key");
    return vk_err_set(err, VK_ENOTFOUND, "jws: no %s key%s", vk_alg_name(h->alg),
                      h->kid.p != NULL ? " with that kid" : "");
}

int vk_jws_verify(const struct vk_jwks *keys, vk_str compact, struct vk_jws *out,
                  struct vk_err *err)
{
    uint8_t buf[DECODED_MAX];
    const struct vk_jwk *k = NULL;
    struct parts p;
    struct header h = {0};
    int rc;

    memset(out, 0, sizeof *out);
    if (keys == NULL)
        return vk_err_set(err, VK_EINVAL, "jws: no key set");
    rc = split(compact, &p, err);
    if (rc != VK_OK)
        return rc;
    rc = parse_header(p.header, buf, sizeof buf, &h, err);
    if (rc != VK_OK)
        goto out;
    rc = select_key(keys, &h, &k, err);
    if (rc != VK_OK)
        goto out;
    rc = verify_parts(k, &p, &h, buf, sizeof buf, out, err);
out:
    json_decref(h.json);
    return rc;
}
