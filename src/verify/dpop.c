/* DPoP proofs (RFC 9449): one check for the library's resource requests and, later, the server's
 * token endpoint. vk_dpop_verify follows RFC 9449 §4.3 step by step; the step numbers are in the
 * comments. The proof's own header carries the key, so the header is read before anything is
 * authenticated -- but only to pick that key: every claim is read after the signature verified. */
#include "verify/verify.h"

#include <string.h>

#include "base/b64url.h"
#include "base/crypto.h"
#include "base/limits.h"
#include "base/mem.h"

#define PROOF_JTI_MAX 256 /* bounds what a client makes us hash and remember */

struct vk_dpop_replay {
    struct vk_expset *set;
    uint8_t key[16];
};

int vk_dpop_replay_new(size_t capacity, struct vk_dpop_replay **out)
{
    struct vk_dpop_replay *r = vk_calloc(1, sizeof *r);
    int rc = VK_ENOMEM;

    *out = NULL;
    if (r == NULL)
        return VK_ENOMEM;
    rc = vk_rand(r->key, sizeof r->key);
    if (rc == VK_OK)
        rc = vk_expset_new(capacity, &r->set);
    if (rc != VK_OK) {
        vk_dpop_replay_free(r);
        return rc;
    }
    *out = r;
    return VK_OK;
}

void vk_dpop_replay_free(struct vk_dpop_replay *r)
{
    if (r == NULL)
        return;
    vk_expset_free(r->set);
    vk_wipe(r->key, sizeof r->key);
    vk_free(r);
}

/* ---- nonces ---- */

#define NONCE_RAW   32 /* 8-byte counter + 24 bytes of HMAC */
#define NONCE_MAC   24

int vk_dpop_nonce_init(struct vk_dpop_nonce *n, const char *secret, int64_t lifetime)
{
    if (lifetime <= 0)
        return VK_EINVAL;
    n->lifetime = lifetime;
    if (secret == NULL)
        return vk_rand(n->key, sizeof n->key);
    if (strlen(secret) < 32)
        return VK_EINVAL;
    vk_sha256(secret, strlen(secret), n->key);
    return VK_OK;
}

static void nonce_raw(const struct vk_dpop_nonce *n, uint64_t counter, uint8_t raw[NONCE_RAW])
{
    uint8_t mac[VK_DIGEST_LEN];
    for (int i = 0; i < 8; i++)
        raw[i] = (uint8_t)(counter >> (56 - 8 * i));
    vk_hmac_sha256(n->key, sizeof n->key, raw, 8, mac);
    memcpy(raw + 8, mac, NONCE_MAC);
}

void vk_dpop_nonce_make(const struct vk_dpop_nonce *n, int64_t now,
                        char out[VK_DPOP_NONCE_LEN + 1])
{
    uint8_t raw[NONCE_RAW];
    nonce_raw(n, (uint64_t)(now / n->lifetime), raw);
    vk_b64url_encode(raw, sizeof raw, out);
}

bool vk_dpop_nonce_ok(const struct vk_dpop_nonce *n, vk_str nonce, int64_t now)
{
    uint8_t got[NONCE_RAW], want[NONCE_RAW];
    size_t len = 0;
    uint64_t counter = 0, cur = (uint64_t)(now / n->lifetime);
    uint8_t d = 0;

    if (nonce.len != VK_DPOP_NONCE_LEN ||
        vk_b64url_decode(nonce, got, sizeof got, &len) != VK_OK || len != NONCE_RAW)
        return false;
    for (int i = 0; i < 8; i++)
        counter = counter << 8 | got[i];
    /* The current counter or the one before: a nonce lives one to two lifetimes. */
    if (counter != cur && counter + 1 != cur)
        return false;
    nonce_raw(n, counter, want);
    for (size_t i = 8; i < NONCE_RAW; i++)
        d |= (uint8_t)(got[i] ^ want[i]);
    return d == 0;
}

/* ---- htu normalisation (RFC 9449 §4.3 step 9; RFC 3986 §6.2.2, §6.2.3) ---- */

struct out {
    char *p;
    size_t len, cap;
    bool overflow;
};

static void put(struct out *o, const char *s, size_t n)
{
    if (o->overflow || n >= o->cap - o->len) {
        o->overflow = true;
        return;
    }
    memcpy(o->p + o->len, s, n);
    o->len += n;
    o->p[o->len] = '\0';
}

static char lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = lower(c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

static bool unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '.' || c == '_' || c == '~';
}

/* RFC 3986 §5.2.4, on a path that starts with '/'. In place: the output never outgrows the
 * input. */
static size_t remove_dot_segments(char *path, size_t n)
{
    size_t in = 0, out = 0;
    while (in < n) {
        const char *s = path + in;
        size_t left = n - in;
        if (left >= 3 && memcmp(s, "/./", 3) == 0) {
            in += 2; /* "/./" -> "/" */
        } else if (left == 2 && memcmp(s, "/.", 2) == 0) {
            path[in + 1] = '/'; /* "/." -> "/" */
            in += 1;
        } else if ((left >= 4 && memcmp(s, "/../", 4) == 0) ||
                   (left == 3 && memcmp(s, "/..", 3) == 0)) {
            /* "/../" -> "/" (or "/.." -> "/"), and the last output segment goes */
            if (left == 3)
                path[in + 2] = '/';
            in += left == 3 ? 2 : 3;
            while (out > 0 && path[out - 1] != '/')
                out--;
            if (out > 0)
                out--;
        } else {
            size_t seg = 1;
            while (seg < left && s[seg] != '/')
                seg++;
            memmove(path + out, s, seg);
            out += seg;
            in += seg;
        }
    }
    return out;
}

int vk_dpop_htu_normalize(vk_str url, char *outbuf, size_t outsz)
{
    struct out o = {outbuf, 0, outsz, false};
    char path[VK_MAX_JWT_LEN];
    size_t i = 0, n = url.len, plen = 0;
    bool https;

    if (outsz == 0)
        return VK_ETOOBIG;
    outbuf[0] = '\0';
    if (url.p == NULL || n == 0 || n > VK_MAX_JWT_LEN)
        return VK_EINVAL;
    for (size_t k = 0; k < n; k++)
        if ((unsigned char)url.p[k] <= 0x20 || (unsigned char)url.p[k] >= 0x7f)
            return VK_EINVAL;
    /* scheme: case-insensitive (§6.2.2.1), http or https only */
    while (i < n && url.p[i] != ':')
        i++;
    vk_str scheme = {url.p, i};
    if (vk_str_eq_nocase_lit(scheme, "https"))
        https = true;
    else if (vk_str_eq_nocase_lit(scheme, "http"))
        https = false;
    else
        return VK_EINVAL;
    if (n - i < 3 || memcmp(url.p + i, "://", 3) != 0)
        return VK_EINVAL;
    i += 3;
    put(&o, https ? "https://" : "http://", https ? 8 : 7);

    /* authority: host (case-insensitive, §6.2.2.1) and port (default dropped, §6.2.3) */
    size_t a = i;
    while (i < n && url.p[i] != '/' && url.p[i] != '?' && url.p[i] != '#')
        i++;
    vk_str auth = {url.p + a, i - a};
    if (auth.len == 0 || memchr(auth.p, '@', auth.len) != NULL || memchr(auth.p, '%', auth.len))
        return VK_EINVAL; /* no userinfo in an htu; no percent-encoded host names */
    size_t hend = auth.len;
    if (auth.p[0] == '[') {
        const char *rb = memchr(auth.p, ']', auth.len);
        if (rb == NULL)
            return VK_EINVAL;
        hend = (size_t)(rb - auth.p) + 1;
        if (hend < auth.len && auth.p[hend] != ':')
            return VK_EINVAL;
    } else {
        const char *colon = memchr(auth.p, ':', auth.len);
        if (colon != NULL)
            hend = (size_t)(colon - auth.p);
    }
    if (hend == 0)
        return VK_EINVAL;
    for (size_t k = 0; k < hend; k++) {
        char c = lower(auth.p[k]);
        put(&o, &c, 1);
    }
    if (hend < auth.len) {
        vk_str port = {auth.p + hend + 1, auth.len - hend - 1};
        uint64_t pn = 0;
        if (port.len > 0) { /* "host:" is "host" (§6.2.3) */
            if (vk_parse_u64(port, 0, 65535, &pn) != VK_OK)
                return VK_EINVAL;
            if (pn != (https ? 443u : 80u)) {
                char num[8];
                size_t k = sizeof num;
                do {
                    num[--k] = (char)('0' + pn % 10);
                    pn /= 10;
                } while (pn > 0);
                put(&o, ":", 1);
                put(&o, num + k, sizeof num - k);
            }
        }
    }

    /* path: percent-encoding normalised (§6.2.2.1, §6.2.2.2), dot segments removed
     * (§6.2.2.3), empty as "/" (§6.2.3); the query and fragment are not part of htu */
    path[plen++] = '/';
    if (i < n && url.p[i] == '/')
        i++;
    for (; i < n && url.p[i] != '?' && url.p[i] != '#'; i++) {
        char c = url.p[i];
        if (plen + 3 > sizeof path)
            return VK_ETOOBIG;
        if (c == '%') {
            int hi = i + 2 < n ? hexval(url.p[i + 1]) : -1;
            int lo = i + 2 < n ? hexval(url.p[i + 2]) : -1;
            if (hi < 0 || lo < 0)
                return VK_EINVAL;
            unsigned char v = (unsigned char)(hi << 4 | lo);
            if (unreserved(v)) {
                path[plen++] = (char)v;
            } else {
                static const char hx[] = "0123456789ABCDEF";
                path[plen++] = '%';
                path[plen++] = hx[v >> 4];
                path[plen++] = hx[v & 15];
            }
            i += 2;
        } else {
            path[plen++] = c;
        }
    }
    plen = remove_dot_segments(path, plen);
    if (plen == 0)
        path[plen++] = '/';
    put(&o, path, plen);
    return o.overflow ? VK_ETOOBIG : VK_OK;
}

void vk_dpop_ath(vk_str token, char out[44])
{
    uint8_t d[VK_DIGEST_LEN];
    vk_sha256(token.p, token.len, d);
    vk_b64url_encode(d, sizeof d, out);
}

/* ---- the proof ---- */

static bool str_member(const json_t *o, const char *name, vk_str *out)
{
    const json_t *v = json_object_get(o, name);
    if (!json_is_string(v))
        return false;
    out->p = json_string_value(v);
    out->len = json_string_length(v);
    return true;
}

static bool ct_str_eq(vk_str a, const char *b)
{
    size_t n = strlen(b);
    uint8_t d = 0;
    if (a.len != n)
        return false;
    for (size_t i = 0; i < n; i++)
        d |= (uint8_t)(a.p[i] ^ b[i]);
    return d == 0;
}

/* RFC 9449 §4.3 step 7: the jwk must not contain a private key. RFC 7518 §6.2.2, §6.3.2,
 * §6.4.1 and RFC 8037 §2 name the private members. */
static bool has_private_member(const json_t *jwk)
{
    static const char *const priv[] = {"d", "p", "q", "dp", "dq", "qi", "oth", "k", NULL};
    for (size_t i = 0; priv[i] != NULL; i++)
        if (json_object_get(jwk, priv[i]) != NULL)
            return true;
    return false;
}

static bool numeric_date(const json_t *v, int64_t *out)
{
    if (json_is_integer(v)) {
        *out = (int64_t)json_integer_value(v);
        return true;
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (!(d > -253402300799.0 && d < 253402300799.0))
            return false;
        *out = (int64_t)d;
        return true;
    }
    return false;
}

static int map_jose(int rc, int otherwise)
{
    return rc == VK_ENOMEM ? VALETKEY_ENOMEM : otherwise;
}

int vk_dpop_verify(const struct vk_dpop_check *c, struct vk_dpop_result *out,
                   struct vk_err *err)
{
    char want[VK_MAX_JWT_LEN + 1], got[VK_MAX_JWT_LEN + 1], thumb[44];
    json_t *hdr = NULL;
    struct vk_jwk *key = NULL;
    struct vk_jws jws = {0};
    const json_t *jwk, *p;
    vk_str s, jti, htm, htu;
    enum vk_alg alg;
    int64_t iat = 0, earliest, latest;
    int rc;

    memset(out, 0, sizeof *out);
    if (c->proof.p == NULL || c->proof.len == 0) {
        vk_err_set(err, VK_EINVAL, "dpop: no proof");
        return VALETKEY_DPOP_MISSING;
    }
    if (__builtin_sub_overflow(c->now, c->max_age, &earliest) ||
        __builtin_add_overflow(c->now, c->leeway, &latest) || c->max_age < 0 || c->leeway < 0)
        return VALETKEY_EINVAL;

    /* Step 2: a well-formed JWT (RFC 7519 §7.2). The header is read now, unauthenticated, only
     * to find the key that must then verify the whole proof. */
    rc = vk_jws_header_peek(c->proof, &hdr, err);
    if (rc != VK_OK) {
        rc = map_jose(rc, VALETKEY_DPOP_MALFORMED);
        goto out;
    }
    /* Step 4: typ is dpop+jwt (explicit typing keeps any other JWT out). */
    if (!vk_jwt_typ_is(hdr, "dpop+jwt")) {
        rc = VALETKEY_DPOP_MALFORMED;
        vk_err_set(err, VK_EINVAL, "dpop: typ is not dpop+jwt");
        goto out;
    }
    /* Step 5: an asymmetric algorithm we support and allow; never none, never a MAC. */
    if (!str_member(hdr, "alg", &s) || (alg = vk_alg_from_name(s)) == VK_ALG_INVALID ||
        (c->alg_mask & (1u << alg)) == 0) {
        rc = VALETKEY_DPOP_ALG;
        vk_err_set(err, VK_EINVAL, "dpop: alg not accepted");
        goto out;
    }
    /* Step 7: a public key, and nothing private. */
    jwk = json_object_get(hdr, "jwk");
    if (!json_is_object(jwk) || has_private_member(jwk)) {
        rc = VALETKEY_DPOP_KEY;
        vk_err_set(err, VK_EINVAL, "dpop: jwk missing or not a public key");
        goto out;
    }
    rc = vk_jwk_from_json(jwk, alg, &key, err);
    if (rc != VK_OK) {
        rc = map_jose(rc, VALETKEY_DPOP_KEY);
        goto out;
    }
    if (vk_jwk_alg(key) != alg) { /* the jwk's own alg member disagrees with the header */
        rc = VALETKEY_DPOP_ALG;
        vk_err_set(err, VK_EINVAL, "dpop: alg does not match the jwk");
        goto out;
    }
    /* Step 6: the signature verifies with that key. */
    rc = vk_jws_verify_key(key, c->proof, &jws, err);
    if (rc != VK_OK) {
        rc = map_jose(rc, rc == VK_ECRYPTO ? VALETKEY_DPOP_SIGNATURE : VALETKEY_DPOP_MALFORMED);
        goto out;
    }
    p = jws.payload;
    /* Step 3: the required claims (RFC 9449 §4.2). */
    if (!str_member(p, "jti", &jti) || jti.len == 0 || jti.len > PROOF_JTI_MAX ||
        !str_member(p, "htm", &htm) || !str_member(p, "htu", &htu) ||
        !numeric_date(json_object_get(p, "iat"), &iat)) {
        rc = VALETKEY_DPOP_MALFORMED;
        vk_err_set(err, VK_EINVAL, "dpop: jti, htm, htu or iat missing or malformed");
        goto out;
    }
    /* Step 8: htm is the request's method (methods are case-sensitive, RFC 9110 §9.1). */
    if (!vk_str_eq(htm, c->method)) {
        rc = VALETKEY_DPOP_METHOD;
        vk_err_set(err, VK_EINVAL, "dpop: htm does not match the request method");
        goto out;
    }
    /* Step 9: htu is the request's URI without query and fragment, both normalised. */
    if (vk_dpop_htu_normalize(htu, got, sizeof got) != VK_OK ||
        vk_dpop_htu_normalize(c->url, want, sizeof want) != VK_OK || strcmp(got, want) != 0) {
        rc = VALETKEY_DPOP_URL;
        vk_err_set(err, VK_EINVAL, "dpop: htu does not match the request URL");
        goto out;
    }
    /* Step 11: iat within the window: not older than max_age, not further ahead than the
     * allowed clock skew. */
    if (iat < earliest || iat > latest) {
        rc = VALETKEY_DPOP_IAT;
        vk_err_set(err, VK_EINVAL, "dpop: iat outside the accepted window");
        goto out;
    }
    /* Step 12: with an access token, ath is the hash of exactly that token. */
    if (c->access_token.len > 0) {
        char ath[44];
        vk_dpop_ath(c->access_token, ath);
        if (!str_member(p, "ath", &s) || !ct_str_eq(s, ath)) {
            rc = VALETKEY_DPOP_ATH;
            vk_err_set(err, VK_EINVAL, "dpop: ath missing or not the hash of the access token");
            goto out;
        }
    }
    /* Step 12 (key binding): the proof key is the key the token is bound to (RFC 7638
     * thumbprint against cnf.jkt, RFC 9449 §6.1). */
    if (vk_jwk_thumbprint(key, thumb) != VK_OK) {
        rc = VALETKEY_EINTERNAL;
        goto out;
    }
    if (c->jkt != NULL && !ct_str_eq(vk_str_c(thumb), c->jkt)) {
        rc = VALETKEY_DPOP_KEY_MISMATCH;
        vk_err_set(err, VK_EINVAL, "dpop: the proof key is not the key the token is bound to");
        goto out;
    }
    /* Step 10: a server-provided nonce, when the server requires one (RFC 9449 §8, §9). */
    if (c->nonce != NULL && (!str_member(p, "nonce", &s) || !vk_dpop_nonce_ok(c->nonce, s,
                                                                                c->now))) {
        rc = VALETKEY_DPOP_USE_NONCE;
        vk_err_set(err, VK_EINVAL, "dpop: a current server nonce is required");
        goto out;
    }
    /* Step 11 (replay): the jti was not used before within the window. Recorded last, so a
     * proof that fails any other check uses no room. The entry lives as long as a proof with
     * this iat could be accepted. */
    if (c->replay_fn != NULL) {
        int64_t until;
        if (__builtin_add_overflow(iat, c->max_age + 1, &until))
            until = INT64_MAX;
        rc = c->replay_fn(c->replay_arg, jti.p, jti.len, until);
        if (rc != VALETKEY_OK) {
            rc = rc == VALETKEY_DPOP_REPLAY ? VALETKEY_DPOP_REPLAY : VALETKEY_ECAPACITY;
            vk_err_set(err, VK_EINVAL, "dpop: %s",
                       rc == VALETKEY_DPOP_REPLAY ? "the proof was used before"
                                                  : "replay cache unavailable");
            goto out;
        }
    } else if (c->replay != NULL) {
        uint8_t k[VK_H128_LEN];
        int64_t until;
        vk_siphash24_128(c->replay->key, jti.p, jti.len, k);
        if (__builtin_add_overflow(iat, c->max_age + 1, &until))
            until = INT64_MAX;
        rc = vk_expset_add(c->replay->set, k, until, c->now, true);
        if (rc != VK_OK) {
            rc = rc == VK_EEXIST    ? VALETKEY_DPOP_REPLAY
                 : rc == VK_ENOMEM  ? VALETKEY_ENOMEM
                                    : VALETKEY_ECAPACITY;
            vk_err_set(err, VK_EINVAL, "dpop: %s",
                       rc == VALETKEY_DPOP_REPLAY ? "the proof was used before"
                                                  : "replay cache unavailable");
            goto out;
        }
    }
    memcpy(out->jkt, thumb, sizeof thumb);
    rc = VALETKEY_OK;
out:
    vk_jws_clear(&jws);
    vk_jwk_free(key);
    json_decref(hdr);
    return rc;
}
