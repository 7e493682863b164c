/* JSON Web Keys (RFC 7517, RFC 7518 §6, RFC 8037 §2) on the OpenSSL 3 EVP API.
 *
 * A key is immutable once built, and everything that can be done once per key is done when it is
 * built: the public members are exported to base64url (for the JWKS document and the RFC 7638
 * thumbprint), and, for ES256/RS256/PS256, an EVP_PKEY_CTX is initialised for signing and one for
 * verifying with the digest and padding already set. Each operation duplicates that template
 * (EVP_PKEY_CTX_dup reads its source and only takes references, so many threads may duplicate
 * one template at once, openssl-threads(7)) and signs a SHA-256 digest computed here. That skips
 * the per-call algorithm and digest fetches of EVP_DigestSignInit, which cost ~10% of an ES256
 * signature on OpenSSL 3.0. Ed25519 is PureEdDSA (RFC 8032 §5.1): it signs the message itself,
 * so it goes through EVP_DigestSign with no digest. */
#include "jose/jose.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "base/b64url.h"
#include "base/crypto.h"
#include "base/limits.h"
#include "base/mem.h"

#define EC_COORD_LEN   32   /* P-256 field element (RFC 7518 §6.2.1.2: full length, padded) */
#define ED25519_LEN    32   /* RFC 8037 §2: x is the 32-byte public key */
#define RSA_MIN_BITS   2048 /* RFC 7518 §3.3: 2048 bits or larger MUST be used */
#define RSA_MAX_BITS   4096 /* bounds the cost of verifying with a key a peer publishes */
#define RSA_MAX_BYTES  (RSA_MAX_BITS / 8)
#define RSA_MAX_E_LEN  32   /* SP 800-56B: e < 2^256 */
#define PUB_A_SIZE     (RSA_MAX_BYTES / 3 * 4 + 4 + 1) /* base64url of n (or x) + NUL */
#define PUB_B_SIZE     (RSA_MAX_E_LEN / 3 * 4 + 4 + 1) /* base64url of e (or y) + NUL */
#define MAX_PEM_LEN    (16 * 1024)                     /* a PKCS#8 RSA-4096 key is ~3.3 KB */
#define ES256_DER_MAX  72   /* SEQUENCE { INTEGER r, INTEGER s }, each at most 33 bytes */

struct vk_jwk {
    enum vk_alg alg;
    bool priv;
    EVP_PKEY *pkey;
    EVP_PKEY_CTX *sign_tmpl;   /* private ES256/RS256/PS256: sign op, digest + padding set */
    EVP_PKEY_CTX *verify_tmpl; /* ES256/RS256/PS256: verify op, digest + padding set */
    size_t sig_len;
    char kid[VK_MAX_ID_LEN + 1];
    char thumb[44];
    char pub_a[PUB_A_SIZE]; /* base64url: EC x, RSA n, OKP x */
    char pub_b[PUB_B_SIZE]; /* base64url: EC y, RSA e; empty for OKP */
};

/* ---- SHA-256, fetched once per process ---- */

static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;
static EVP_MD *sha256_md; /* never freed: lives as long as the process */

static void sha256_fetch(void)
{
    sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

static const EVP_MD *sha256(void)
{
    if (pthread_once(&sha256_once, sha256_fetch) != 0)
        return NULL;
    return sha256_md;
}

/* ---- small helpers ---- */

/* True when libcrypto's error queue says an allocation failed; clears the queue either way, so
 * no stale entries stay on this thread's queue. libcrypto reports a failed allocation and a bad
 * signature or key with the same return value: only the queue tells them apart, and a caller
 * must not call a valid token forged because memory ran out. */
static bool crypto_oom(void)
{
    bool oom = false;
    unsigned long e;
    while ((e = ERR_get_error()) != 0)
        oom = oom || ERR_GET_REASON(e) == ERR_R_MALLOC_FAILURE;
    return oom;
}

static int crypto_fail(struct vk_err *err, const char *what)
{
    if (crypto_oom())
        return vk_err_set(err, VK_ENOMEM, "%s: out of memory", what);
    return vk_err_set(err, VK_ECRYPTO, "%s failed", what);
}

/* True when s can be written between JSON quotes without escaping (we build the signing header
 * by hand): visible ASCII except '"' and '\'. */
static bool json_plain(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x21 || c > 0x7e || c == '"' || c == '\\')
            return false;
    }
    return true;
}

static const char *kty_of(enum vk_alg alg)
{
    switch (alg) {
    case VK_ALG_ES256:
        return "EC";
    case VK_ALG_RS256:
    case VK_ALG_PS256:
        return "RSA";
    case VK_ALG_EDDSA:
        return "OKP";
    case VK_ALG_INVALID:
        break;
    }
    return NULL;
}

static bool is_rsa(enum vk_alg alg)
{
    return alg == VK_ALG_RS256 || alg == VK_ALG_PS256;
}

/* Reads a string member; VK_ENOTFOUND when absent, VK_EINVAL when not a string or holding NUL. */
static int get_str(const json_t *o, const char *name, vk_str *out)
{
    const json_t *v = json_object_get(o, name);
    *out = VK_STR_NULL;
    if (v == NULL)
        return VK_ENOTFOUND;
    if (!json_is_string(v))
        return VK_EINVAL;
    out->p = json_string_value(v);
    out->len = json_string_length(v);
    if (strlen(out->p) != out->len)
        return VK_EINVAL;
    return VK_OK;
}

/* Decodes a base64url member strictly into buf; the length must be in [min, max]. */
static int get_b64(const json_t *o, const char *name, uint8_t *buf, size_t bufsz, size_t min,
                   size_t max, size_t *len, struct vk_err *err)
{
    vk_str s;
    if (get_str(o, name, &s) != VK_OK)
        return vk_err_set(err, VK_EINVAL, "jwk: %s missing or not a string", name);
    if (vk_b64url_decode(s, buf, bufsz, len) != VK_OK || *len < min || *len > max)
        return vk_err_set(err, VK_EINVAL, "jwk: %s is not base64url of the right length", name);
    return VK_OK;
}

/* ---- ES256 signatures: DER (what libcrypto speaks) <-> raw R||S (what JWS speaks) ---- */

/* RFC 7518 §3.4: the JWS signature is R and S as 32-byte big-endian integers, concatenated.
 * libcrypto produces an Ecdsa-Sig-Value (RFC 3279 §2.2.3), so its output is parsed strictly
 * here: short-form lengths only (the whole value is at most 70 bytes) and minimal integers. */
static int es256_der_to_raw(const uint8_t *der, size_t len, uint8_t raw[64])
{
    size_t i = 2;
    if (len < 8 || len > ES256_DER_MAX || der[0] != 0x30 || der[1] != len - 2)
        return VK_ECRYPTO;
    for (int part = 0; part < 2; part++) {
        if (i + 2 > len || der[i] != 0x02)
            return VK_ECRYPTO;
        size_t n = der[i + 1];
        i += 2;
        if (n == 0 || n > EC_COORD_LEN + 1 || n > len - i)
            return VK_ECRYPTO;
        const uint8_t *p = der + i;
        i += n;
        if (n == EC_COORD_LEN + 1) {
            if (p[0] != 0)
                return VK_ECRYPTO;
            p++;
            n--;
        }
        uint8_t *dst = raw + (size_t)part * EC_COORD_LEN;
        memset(dst, 0, EC_COORD_LEN - n);
        memcpy(dst + EC_COORD_LEN - n, p, n);
    }
    return i == len ? VK_OK : VK_ECRYPTO;
}

/* The inverse, for verification: minimal DER INTEGERs, a 0x00 before a set high bit. */
static size_t es256_raw_to_der(const uint8_t raw[64], uint8_t der[ES256_DER_MAX])
{
    size_t o = 2;
    for (int part = 0; part < 2; part++) {
        const uint8_t *p = raw + (size_t)part * EC_COORD_LEN;
        size_t n = EC_COORD_LEN;
        while (n > 1 && p[0] == 0) {
            p++;
            n--;
        }
        bool pad = (p[0] & 0x80) != 0;
        der[o++] = 0x02;
        der[o++] = (uint8_t)(n + (pad ? 1 : 0));
        if (pad)
            der[o++] = 0x00;
        memcpy(der + o, p, n);
        o += n;
    }
    der[0] = 0x30;
    der[1] = (uint8_t)(o - 2);
    return o;
}

/* ---- building a key ---- */

static int check_key_type(const EVP_PKEY *pk, enum vk_alg alg, struct vk_err *err)
{
    switch (alg) {
    case VK_ALG_ES256: {
        char grp[64];
        size_t glen = 0;
        if (!EVP_PKEY_is_a(pk, "EC") ||
            EVP_PKEY_get_utf8_string_param(pk, OSSL_PKEY_PARAM_GROUP_NAME, grp, sizeof grp,
                                           &glen) != 1 ||
            (strcmp(grp, "prime256v1") != 0 && strcmp(grp, "P-256") != 0))
            return vk_err_set(err, VK_EINVAL, "jwk: ES256 needs a P-256 key");
        return VK_OK;
    }
    case VK_ALG_RS256:
    case VK_ALG_PS256: {
        int bits = EVP_PKEY_get_bits(pk);
        if (!EVP_PKEY_is_a(pk, "RSA"))
            return vk_err_set(err, VK_EINVAL, "jwk: %s needs an RSA key", vk_alg_name(alg));
        if (bits < RSA_MIN_BITS || bits > RSA_MAX_BITS)
            return vk_err_set(err, VK_EINVAL, "jwk: RSA key of %d bits (need %d..%d)", bits,
                              RSA_MIN_BITS, RSA_MAX_BITS);
        return VK_OK;
    }
    case VK_ALG_EDDSA:
        if (!EVP_PKEY_is_a(pk, "ED25519"))
            return vk_err_set(err, VK_EINVAL, "jwk: EdDSA needs an Ed25519 key");
        return VK_OK;
    case VK_ALG_INVALID:
        break;
    }
    return vk_err_set(err, VK_EINVAL, "jwk: unsupported alg");
}

static int b64_bn(const EVP_PKEY *pk, const char *param, size_t padlen, size_t maxlen, char *out,
                  size_t outsz)
{
    BIGNUM *bn = NULL;
    uint8_t buf[RSA_MAX_BYTES];
    int rc = VK_ECRYPTO;
    int n;

    if (EVP_PKEY_get_bn_param(pk, param, &bn) != 1)
        goto out;
    if ((size_t)BN_num_bytes(bn) > maxlen || maxlen > sizeof buf)
        goto out;
    n = padlen > 0 ? BN_bn2binpad(bn, buf, (int)padlen) : BN_bn2bin(bn, buf);
    if (n <= 0 || vk_b64url_enc_len((size_t)n) + 1 > outsz)
        goto out;
    vk_b64url_encode(buf, (size_t)n, out);
    rc = VK_OK;
out:
    BN_free(bn);
    return rc;
}

/* Exports the public members to base64url, once (RFC 7518 §6.2.1, §6.3.1; RFC 8037 §2). */
static int export_public(struct vk_jwk *k)
{
    switch (k->alg) {
    case VK_ALG_ES256:
        if (b64_bn(k->pkey, OSSL_PKEY_PARAM_EC_PUB_X, EC_COORD_LEN, EC_COORD_LEN, k->pub_a,
                   sizeof k->pub_a) != VK_OK)
            return VK_ECRYPTO;
        return b64_bn(k->pkey, OSSL_PKEY_PARAM_EC_PUB_Y, EC_COORD_LEN, EC_COORD_LEN, k->pub_b,
                      sizeof k->pub_b);
    case VK_ALG_RS256:
    case VK_ALG_PS256:
        /* RFC 7518 §6.3.1.1/§6.3.1.2: minimum number of octets, so no padding. */
        if (b64_bn(k->pkey, OSSL_PKEY_PARAM_RSA_N, 0, RSA_MAX_BYTES, k->pub_a,
                   sizeof k->pub_a) != VK_OK)
            return VK_ECRYPTO;
        return b64_bn(k->pkey, OSSL_PKEY_PARAM_RSA_E, 0, RSA_MAX_E_LEN, k->pub_b,
                      sizeof k->pub_b);
    case VK_ALG_EDDSA: {
        uint8_t x[ED25519_LEN];
        size_t n = sizeof x;
        if (EVP_PKEY_get_raw_public_key(k->pkey, x, &n) != 1 || n != ED25519_LEN)
            return VK_ECRYPTO;
        vk_b64url_encode(x, n, k->pub_a);
        k->pub_b[0] = '\0';
        return VK_OK;
    }
    case VK_ALG_INVALID:
        break;
    }
    return VK_ECRYPTO;
}

/* RFC 7638 §3.2: the required members only, in lexicographic order, no whitespace; RFC 8037
 * §2 gives OKP's members (crv, kty, x). Then SHA-256 and base64url. */
static int compute_thumbprint(struct vk_jwk *k)
{
    char json[PUB_A_SIZE + PUB_B_SIZE + 64];
    uint8_t d[VK_DIGEST_LEN];
    int n = -1;

    switch (k->alg) {
    case VK_ALG_ES256:
        n = snprintf(json, sizeof json,
                     "{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"%s\",\"y\":\"%s\"}", k->pub_a,
                     k->pub_b);
        break;
    case VK_ALG_RS256:
    case VK_ALG_PS256:
        n = snprintf(json, sizeof json, "{\"e\":\"%s\",\"kty\":\"RSA\",\"n\":\"%s\"}", k->pub_b,
                     k->pub_a);
        break;
    case VK_ALG_EDDSA:
        n = snprintf(json, sizeof json, "{\"crv\":\"Ed25519\",\"kty\":\"OKP\",\"x\":\"%s\"}",
                     k->pub_a);
        break;
    case VK_ALG_INVALID:
        break;
    }
    if (n < 0 || (size_t)n >= sizeof json)
        return VK_ECRYPTO;
    vk_sha256(json, (size_t)n, d);
    vk_b64url_encode(d, sizeof d, k->thumb);
    return VK_OK;
}

/* Sets the digest and padding for alg on an initialised sign or verify context. */
static int set_sig_params(EVP_PKEY_CTX *c, enum vk_alg alg, const EVP_MD *md)
{
    if (EVP_PKEY_CTX_set_signature_md(c, md) <= 0)
        return VK_ECRYPTO;
    if (alg == VK_ALG_RS256 && EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_PADDING) <= 0)
        return VK_ECRYPTO;
    if (alg == VK_ALG_PS256) {
        /* RFC 7518 §3.5: MGF1 with SHA-256, salt as long as the hash output (32 bytes). On
         * verification this also refuses any other salt length. */
        if (EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_PSS_PADDING) <= 0 ||
            EVP_PKEY_CTX_set_rsa_pss_saltlen(c, RSA_PSS_SALTLEN_DIGEST) <= 0 ||
            EVP_PKEY_CTX_set_rsa_mgf1_md(c, md) <= 0)
            return VK_ECRYPTO;
    }
    return VK_OK;
}

static int make_templates(struct vk_jwk *k)
{
    const EVP_MD *md;

    if (k->alg == VK_ALG_EDDSA)
        return VK_OK; /* PureEdDSA: nothing to prepare beyond the key */
    md = sha256();
    if (md == NULL)
        return VK_ECRYPTO;
    if (k->priv) {
        k->sign_tmpl = EVP_PKEY_CTX_new_from_pkey(NULL, k->pkey, NULL);
        if (k->sign_tmpl == NULL || EVP_PKEY_sign_init(k->sign_tmpl) <= 0 ||
            set_sig_params(k->sign_tmpl, k->alg, md) != VK_OK)
            return VK_ECRYPTO;
    }
    k->verify_tmpl = EVP_PKEY_CTX_new_from_pkey(NULL, k->pkey, NULL);
    if (k->verify_tmpl == NULL || EVP_PKEY_verify_init(k->verify_tmpl) <= 0 ||
        set_sig_params(k->verify_tmpl, k->alg, md) != VK_OK)
        return VK_ECRYPTO;
    return VK_OK;
}

/* Builds a key around pk, which it CONSUMES (freed on error too). Without kid_given the kid is
 * the RFC 7638 thumbprint. */
static int jwk_new(EVP_PKEY *pk, enum vk_alg alg, bool priv, vk_str kid, bool kid_given,
                   struct vk_jwk **out, struct vk_err *err)
{
    struct vk_jwk *k;
    int rc;

    *out = NULL;
    k = vk_calloc(1, sizeof *k);
    if (k == NULL) {
        EVP_PKEY_free(pk);
        return vk_err_set(err, VK_ENOMEM, "jwk: out of memory");
    }
    k->alg = alg;
    k->priv = priv;
    k->pkey = pk;
    k->sig_len = is_rsa(alg) ? (size_t)EVP_PKEY_get_size(pk) : 64;

    rc = check_key_type(pk, alg, err);
    if (rc != VK_OK)
        goto out;
    if (export_public(k) != VK_OK || compute_thumbprint(k) != VK_OK) {
        rc = crypto_fail(err, "jwk: public key export");
        goto out;
    }
    if (kid_given)
        rc = vk_strscpy(k->kid, sizeof k->kid, kid);
    else
        rc = vk_strscpy(k->kid, sizeof k->kid, vk_str_c(k->thumb));
    if (rc != VK_OK) {
        rc = vk_err_set(err, VK_EINVAL, "jwk: kid longer than %d bytes", VK_MAX_ID_LEN);
        goto out;
    }
    if (make_templates(k) != VK_OK) {
        rc = crypto_fail(err, "jwk: signature context setup");
        goto out;
    }
    *out = k;
    k = NULL;
out:
    vk_jwk_free(k);
    return rc;
}

/* ---- public API ---- */

int vk_jwk_generate(enum vk_alg alg, struct vk_jwk **out, struct vk_err *err)
{
    EVP_PKEY *pk = NULL;

    *out = NULL;
    switch (alg) {
    case VK_ALG_ES256:
        pk = EVP_EC_gen("P-256");
        break;
    case VK_ALG_RS256:
    case VK_ALG_PS256:
        pk = EVP_RSA_gen(RSA_MIN_BITS);
        break;
    case VK_ALG_EDDSA:
        pk = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
        break;
    case VK_ALG_INVALID:
        return vk_err_set(err, VK_EINVAL, "jwk: unsupported alg");
    }
    if (pk == NULL)
        return crypto_fail(err, "jwk: key generation");
    return jwk_new(pk, alg, true, VK_STR_NULL, false, out, err);
}

/* Encrypted PEM is refused rather than prompting for a passphrase on the terminal. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)u;
    return 0;
}

int vk_jwk_from_private_pem(enum vk_alg alg, const char *kid, vk_str pem, struct vk_jwk **out,
                            struct vk_err *err)
{
    BIO *bio = NULL;
    EVP_PKEY *pk = NULL;
    vk_str kids = vk_str_c(kid);
    int rc;

    *out = NULL;
    if (kty_of(alg) == NULL)
        return vk_err_set(err, VK_EINVAL, "jwk: unsupported alg");
    if (kid != NULL && (kids.len == 0 || kids.len > VK_MAX_ID_LEN || !json_plain(kid, kids.len)))
        return vk_err_set(err, VK_EINVAL, "jwk: kid must be 1..%d visible ASCII characters "
                                          "without quotes or backslashes", VK_MAX_ID_LEN);
    if (pem.p == NULL || pem.len == 0 || pem.len > MAX_PEM_LEN)
        return vk_err_set(err, VK_EINVAL, "jwk: PEM is empty or longer than %d bytes",
                          MAX_PEM_LEN);
    bio = BIO_new_mem_buf(pem.p, (int)pem.len);
    if (bio == NULL)
        return vk_err_set(err, VK_ENOMEM, "jwk: out of memory");
    pk = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
    if (pk == NULL) {
        ERR_clear_error();
        rc = vk_err_set(err, VK_EINVAL, "jwk: not an unencrypted private key PEM");
        goto out;
    }
    rc = jwk_new(pk, alg, true, kids, kid != NULL, out, err);
out:
    BIO_free(bio);
    return rc;
}

int vk_jwk_private_pem(const struct vk_jwk *k, struct vk_buf *out, struct vk_err *err)
{
    BIO *bio = NULL;
    char *p = NULL;
    long n;
    int rc;

    if (k == NULL || !k->priv)
        return vk_err_set(err, VK_EINVAL, "jwk: not a private key");
    /* A secure-memory BIO: its buffer is cleansed when it grows and when it is freed. */
    bio = BIO_new(BIO_s_secmem());
    if (bio == NULL)
        return vk_err_set(err, VK_ENOMEM, "jwk: out of memory");
    /* PKCS#8 PrivateKeyInfo ("BEGIN PRIVATE KEY"), unencrypted: the caller protects the file. */
    if (PEM_write_bio_PrivateKey(bio, k->pkey, NULL, NULL, 0, NULL, NULL) != 1) {
        rc = crypto_fail(err, "jwk: PEM encoding");
        goto out;
    }
    n = BIO_get_mem_data(bio, &p);
    if (n <= 0 || p == NULL) {
        rc = crypto_fail(err, "jwk: PEM encoding");
        goto out;
    }
    rc = vk_buf_append(out, p, (size_t)n);
    if (rc != VK_OK)
        rc = vk_err_set(err, rc, "jwk: PEM does not fit the buffer");
out:
    BIO_free(bio);
    return rc;
}

static int ec_public(const json_t *j, EVP_PKEY **pk, struct vk_err *err)
{
    static char group[] = "prime256v1";
    uint8_t pub[1 + 2 * EC_COORD_LEN];
    size_t xlen, ylen;
    vk_str crv;
    EVP_PKEY_CTX *c = NULL;
    OSSL_PARAM params[3];
    int rc;

    if (get_str(j, "crv", &crv) != VK_OK || !vk_str_eq_lit(crv, "P-256"))
        return vk_err_set(err, VK_EINVAL, "jwk: EC key is not on P-256");
    pub[0] = 0x04; /* SEC 1 §2.3.3 uncompressed point: 04 || x || y */
    rc = get_b64(j, "x", pub + 1, EC_COORD_LEN, EC_COORD_LEN, EC_COORD_LEN, &xlen, err);
    if (rc != VK_OK)
        return rc;
    rc = get_b64(j, "y", pub + 1 + EC_COORD_LEN, EC_COORD_LEN, EC_COORD_LEN, EC_COORD_LEN, &ylen,
                 err);
    if (rc != VK_OK)
        return rc;
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, group, 0);
    params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, pub, sizeof pub);
    params[2] = OSSL_PARAM_construct_end();
    c = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    if (c == NULL || EVP_PKEY_fromdata_init(c) != 1 ||
        EVP_PKEY_fromdata(c, pk, EVP_PKEY_PUBLIC_KEY, params) != 1) {
        rc = crypto_oom() ? vk_err_set(err, VK_ENOMEM, "jwk: out of memory")
                          : vk_err_set(err, VK_EINVAL, "jwk: EC point is not on the curve");
        goto out;
    }
    EVP_PKEY_CTX_free(c);
    /* Refuse an invalid curve point outright (RFC 8725 §3.4), whatever fromdata checked. */
    c = EVP_PKEY_CTX_new_from_pkey(NULL, *pk, NULL);
    if (c == NULL || EVP_PKEY_public_check(c) != 1) {
        EVP_PKEY_free(*pk);
        *pk = NULL;
        rc = c == NULL || crypto_oom()
                 ? vk_err_set(err, VK_ENOMEM, "jwk: out of memory")
                 : vk_err_set(err, VK_EINVAL, "jwk: EC point is not a valid public key");
        goto out;
    }
    rc = VK_OK;
out:
    EVP_PKEY_CTX_free(c);
    return rc;
}

static int rsa_public(const json_t *j, EVP_PKEY **pk, struct vk_err *err)
{
    uint8_t n[RSA_MAX_BYTES + 1], e[RSA_MAX_E_LEN];
    size_t nlen, elen, bits;
    BIGNUM *bn_n = NULL, *bn_e = NULL;
    OSSL_PARAM_BLD *bld = NULL;
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *c = NULL;
    int rc;

    /* One spare byte in n so that an over-long modulus is reported as too big, not garbled. */
    rc = get_b64(j, "n", n, sizeof n, 1, sizeof n, &nlen, err);
    if (rc != VK_OK)
        return rc;
    rc = get_b64(j, "e", e, sizeof e, 1, sizeof e, &elen, err);
    if (rc != VK_OK)
        return rc;
    /* RFC 7518 §6.3.1.1, §6.3.1.2: the minimum number of octets, so no leading zero. */
    if (n[0] == 0 || e[0] == 0)
        return vk_err_set(err, VK_EINVAL, "jwk: RSA n or e has a leading zero octet");
    bits = nlen * 8;
    for (uint8_t top = n[0]; (top & 0x80) == 0; top = (uint8_t)(top << 1))
        bits--;
    /* RFC 7518 §3.3: a key of 2048 bits or larger MUST be used with RS256/PS256. */
    if (bits < RSA_MIN_BITS || bits > RSA_MAX_BITS)
        return vk_err_set(err, VK_EINVAL, "jwk: RSA modulus of %zu bits (need %d..%d)", bits,
                          RSA_MIN_BITS, RSA_MAX_BITS);
    /* An RSA modulus is odd; e must be odd and at least 65537 (SP 800-56B §6.2). A tiny e such
     * as 1 would make any signature "verify". */
    if ((n[nlen - 1] & 1) == 0 || (e[elen - 1] & 1) == 0 || elen < 3 ||
        (elen == 3 && (((uint32_t)e[0] << 16) | ((uint32_t)e[1] << 8) | e[2]) < 65537))
        return vk_err_set(err, VK_EINVAL, "jwk: RSA n or e out of range");

    bn_n = BN_bin2bn(n, (int)nlen, NULL);
    bn_e = BN_bin2bn(e, (int)elen, NULL);
    bld = OSSL_PARAM_BLD_new();
    if (bn_n == NULL || bn_e == NULL || bld == NULL ||
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n) != 1 ||
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e) != 1) {
        rc = vk_err_set(err, VK_ENOMEM, "jwk: out of memory");
        goto out;
    }
    params = OSSL_PARAM_BLD_to_param(bld);
    c = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
    if (params == NULL || c == NULL || EVP_PKEY_fromdata_init(c) != 1 ||
        EVP_PKEY_fromdata(c, pk, EVP_PKEY_PUBLIC_KEY, params) != 1) {
        rc = crypto_fail(err, "jwk: RSA key import");
        goto out;
    }
    rc = VK_OK;
out:
    EVP_PKEY_CTX_free(c);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_free(bn_n);
    BN_free(bn_e);
    return rc;
}

/* True when an Ed25519 public key encodes a point of small order (1, 2, 4 or 8), in canonical
 * or non-canonical form. With such a key, signatures like (R = identity, S = 0) verify for any
 * message under cofactorless verification (OpenSSL's), so a key set must never hold one. The
 * table is the y-coordinates of the eight small-order points (the sign bit of x is ignored):
 * 0, 1, the two order-8 values, p-1, and the non-canonical p and p+1. Found by fuzz_jwks. */
static bool ed25519_small_order(const uint8_t x[ED25519_LEN])
{
    static const uint8_t y_lo[4][ED25519_LEN - 1] = {
        {0},
        {0x01},
        {0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4, 0x89, 0xf2, 0xef, 0x98,
         0xf0, 0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6, 0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53,
         0xfc},
        {0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b, 0x76, 0x0d, 0x10, 0x67,
         0x0f, 0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39, 0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac,
         0x03},
    };
    static const uint8_t y_hi[4] = {0x00, 0x00, 0x05, 0x7a};
    uint8_t last = x[ED25519_LEN - 1] & 0x7f;
    for (size_t i = 0; i < 4; i++)
        if (last == y_hi[i] && memcmp(x, y_lo[i], ED25519_LEN - 1) == 0)
            return true;
    /* p-1, p, p+1: 0xec / 0xed / 0xee, then thirty 0xff, then 0x7f */
    if (last == 0x7f && x[0] >= 0xec && x[0] <= 0xee) {
        for (size_t i = 1; i < ED25519_LEN - 1; i++)
            if (x[i] != 0xff)
                return false;
        return true;
    }
    return false;
}

static int okp_public(const json_t *j, EVP_PKEY **pk, struct vk_err *err)
{
    uint8_t x[ED25519_LEN];
    size_t xlen;
    vk_str crv;
    int rc;

    if (get_str(j, "crv", &crv) != VK_OK || !vk_str_eq_lit(crv, "Ed25519"))
        return vk_err_set(err, VK_EINVAL, "jwk: OKP key is not Ed25519");
    rc = get_b64(j, "x", x, sizeof x, ED25519_LEN, ED25519_LEN, &xlen, err);
    if (rc != VK_OK)
        return rc;
    if (ed25519_small_order(x))
        return vk_err_set(err, VK_EINVAL, "jwk: Ed25519 key is a point of small order");
    *pk = EVP_PKEY_new_raw_public_key_ex(NULL, "ED25519", NULL, x, xlen);
    if (*pk == NULL)
        return crypto_fail(err, "jwk: Ed25519 key import");
    return VK_OK;
}

int vk_jwk_from_json(const json_t *json, enum vk_alg default_alg, struct vk_jwk **out,
                     struct vk_err *err)
{
    const json_t *ops;
    EVP_PKEY *pk = NULL;
    enum vk_alg alg = default_alg;
    vk_str kty, s, kid = VK_STR_NULL;
    const char *want;
    int rc;

    *out = NULL;
    if (!json_is_object(json))
        return vk_err_set(err, VK_EINVAL, "jwk: not a JSON object");
    /* A published key with private members is an operator error; never load it as public. */
    if (json_object_get(json, "d") != NULL)
        return vk_err_set(err, VK_EINVAL, "jwk: private member d in a public key");
    if (get_str(json, "kty", &kty) != VK_OK)
        return vk_err_set(err, VK_EINVAL, "jwk: kty missing or not a string"); /* RFC 7517 §4.1 */
    /* RFC 7517 §4.2: use, if present, must be "sig" for a signature key. */
    rc = get_str(json, "use", &s);
    if (rc == VK_EINVAL || (rc == VK_OK && !vk_str_eq_lit(s, "sig")))
        return vk_err_set(err, VK_EINVAL, "jwk: use is not \"sig\"");
    /* RFC 7517 §4.3: key_ops, if present, must allow "verify". */
    ops = json_object_get(json, "key_ops");
    if (ops != NULL) {
        bool verify = false;
        size_t i;
        json_t *v;
        if (!json_is_array(ops))
            return vk_err_set(err, VK_EINVAL, "jwk: key_ops is not an array");
        json_array_foreach(ops, i, v)
            if (json_is_string(v) && strcmp(json_string_value(v), "verify") == 0)
                verify = true;
        if (!verify)
            return vk_err_set(err, VK_EINVAL, "jwk: key_ops does not allow verify");
    }
    rc = get_str(json, "alg", &s);
    if (rc == VK_EINVAL)
        return vk_err_set(err, VK_EINVAL, "jwk: alg is not a string");
    if (rc == VK_OK) {
        alg = vk_alg_from_name(s);
        if (alg == VK_ALG_INVALID)
            return vk_err_set(err, VK_EINVAL, "jwk: alg not supported");
    }
    if (alg == VK_ALG_INVALID)
        return vk_err_set(err, VK_EINVAL, "jwk: alg missing");
    rc = get_str(json, "kid", &kid);
    if (rc == VK_EINVAL || kid.len > VK_MAX_ID_LEN)
        return vk_err_set(err, VK_EINVAL, "jwk: kid is not a string of at most %d bytes",
                          VK_MAX_ID_LEN);
    want = kty_of(alg);
    if (!vk_str_eq_lit(kty, want))
        return vk_err_set(err, VK_EINVAL, "jwk: %s needs kty %s", vk_alg_name(alg), want);

    if (alg == VK_ALG_ES256)
        rc = ec_public(json, &pk, err);
    else if (is_rsa(alg))
        rc = rsa_public(json, &pk, err);
    else
        rc = okp_public(json, &pk, err);
    if (rc != VK_OK)
        return rc;
    /* A published key without a kid keeps none: no implicit kid is invented for lookups. */
    return jwk_new(pk, alg, false, kid, true, out, err);
}

json_t *vk_jwk_public_json(const struct vk_jwk *k)
{
    json_t *o;
    int bad = 0;

    if (k == NULL)
        return NULL;
    o = json_object();
    if (o == NULL)
        return NULL;
    bad |= json_object_set_new(o, "kty", json_string(kty_of(k->alg)));
    if (k->alg == VK_ALG_ES256) {
        bad |= json_object_set_new(o, "crv", json_string("P-256"));
        bad |= json_object_set_new(o, "x", json_string(k->pub_a));
        bad |= json_object_set_new(o, "y", json_string(k->pub_b));
    } else if (is_rsa(k->alg)) {
        bad |= json_object_set_new(o, "n", json_string(k->pub_a));
        bad |= json_object_set_new(o, "e", json_string(k->pub_b));
    } else {
        bad |= json_object_set_new(o, "crv", json_string("Ed25519"));
        bad |= json_object_set_new(o, "x", json_string(k->pub_a));
    }
    if (k->kid[0] != '\0')
        bad |= json_object_set_new(o, "kid", json_string(k->kid));
    bad |= json_object_set_new(o, "alg", json_string(vk_alg_name(k->alg)));
    bad |= json_object_set_new(o, "use", json_string("sig"));
    if (bad != 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

int vk_jwk_thumbprint(const struct vk_jwk *k, char out[44])
{
    if (k == NULL)
        return VK_EINVAL;
    memcpy(out, k->thumb, sizeof k->thumb);
    return VK_OK;
}

enum vk_alg vk_jwk_alg(const struct vk_jwk *k)
{
    return k != NULL ? k->alg : VK_ALG_INVALID;
}

const char *vk_jwk_kid(const struct vk_jwk *k)
{
    return k != NULL ? k->kid : "";
}

bool vk_jwk_is_private(const struct vk_jwk *k)
{
    return k != NULL && k->priv;
}

size_t vk_jwk_sig_len(const struct vk_jwk *k)
{
    return k != NULL ? k->sig_len : 0;
}

void vk_jwk_free(struct vk_jwk *k)
{
    if (k == NULL)
        return;
    EVP_PKEY_CTX_free(k->sign_tmpl);
    EVP_PKEY_CTX_free(k->verify_tmpl);
    EVP_PKEY_free(k->pkey); /* libcrypto cleanses private key material when freeing it */
    vk_wipe(k, sizeof *k);
    vk_free(k);
}

/* ---- the signature primitive ---- */

int vk_jwk_sign_input(const struct vk_jwk *k, const void *in, size_t n, uint8_t *sig, size_t sigsz,
                      size_t *siglen)
{
    EVP_MD_CTX *mc = NULL;
    EVP_PKEY_CTX *c = NULL;
    uint8_t dgst[VK_DIGEST_LEN];
    uint8_t der[ES256_DER_MAX];
    size_t len;
    int rc = VK_ECRYPTO;

    *siglen = 0;
    if (k == NULL || !k->priv || sigsz < k->sig_len)
        return VK_EINVAL;
    if (k->alg == VK_ALG_EDDSA) {
        len = sigsz;
        mc = EVP_MD_CTX_new();
        if (mc == NULL || EVP_DigestSignInit_ex(mc, NULL, NULL, NULL, NULL, k->pkey, NULL) != 1 ||
            EVP_DigestSign(mc, sig, &len, in, n) != 1 || len != k->sig_len)
            goto out;
        *siglen = len;
        rc = VK_OK;
        goto out;
    }
    vk_sha256(in, n, dgst);
    c = EVP_PKEY_CTX_dup(k->sign_tmpl);
    if (c == NULL)
        goto out;
    if (k->alg == VK_ALG_ES256) {
        len = sizeof der;
        if (EVP_PKEY_sign(c, der, &len, dgst, sizeof dgst) != 1 ||
            es256_der_to_raw(der, len, sig) != VK_OK)
            goto out;
        *siglen = 2 * EC_COORD_LEN;
    } else {
        len = sigsz;
        if (EVP_PKEY_sign(c, sig, &len, dgst, sizeof dgst) != 1 || len != k->sig_len)
            goto out;
        *siglen = len;
    }
    rc = VK_OK;
out:
    if (rc != VK_OK)
        ERR_clear_error();
    EVP_PKEY_CTX_free(c);
    EVP_MD_CTX_free(mc);
    return rc;
}

int vk_jwk_verify_input(const struct vk_jwk *k, const void *in, size_t n, const uint8_t *sig,
                        size_t siglen)
{
    EVP_MD_CTX *mc = NULL;
    EVP_PKEY_CTX *c = NULL;
    uint8_t dgst[VK_DIGEST_LEN];
    uint8_t der[ES256_DER_MAX];
    int rc = VK_ECRYPTO;

    /* RFC 7518 §3.3-§3.5, RFC 8037 §3.1: one exact signature length per key. */
    if (k == NULL || siglen != k->sig_len)
        return VK_EINVAL;
    if (k->alg == VK_ALG_EDDSA) {
        mc = EVP_MD_CTX_new();
        if (mc == NULL)
            rc = VK_ENOMEM;
        else if (EVP_DigestVerifyInit_ex(mc, NULL, NULL, NULL, NULL, k->pkey, NULL) == 1 &&
                 EVP_DigestVerify(mc, sig, siglen, in, n) == 1)
            rc = VK_OK;
        goto out;
    }
    vk_sha256(in, n, dgst);
    /* A failed duplication is an allocation failure, not a bad signature: say so (VK_ENOMEM),
     * so a caller does not report a valid token as forged when memory runs out. */
    c = EVP_PKEY_CTX_dup(k->verify_tmpl);
    if (c == NULL) {
        rc = VK_ENOMEM;
        goto out;
    }
    if (k->alg == VK_ALG_ES256) {
        size_t derlen = es256_raw_to_der(sig, der);
        if (EVP_PKEY_verify(c, der, derlen, dgst, sizeof dgst) == 1)
            rc = VK_OK;
    } else if (EVP_PKEY_verify(c, sig, siglen, dgst, sizeof dgst) == 1) {
        rc = VK_OK;
    }
out:
    if (rc == VK_ECRYPTO && crypto_oom())
        rc = VK_ENOMEM;
    else if (rc != VK_OK)
        ERR_clear_error();
    EVP_PKEY_CTX_free(c);
    EVP_MD_CTX_free(mc);
    return rc;
}

int vk_jwk_from_spki(enum vk_alg alg, vk_str der, struct vk_jwk **out, struct vk_err *err)
{
    const unsigned char *p = (const unsigned char *)der.p;
    EVP_PKEY *pk;

    *out = NULL;
    if (kty_of(alg) == NULL)
        return vk_err_set(err, VK_EINVAL, "jwk: unsupported alg");
    if (der.p == NULL || der.len == 0 || der.len > MAX_PEM_LEN)
        return vk_err_set(err, VK_EINVAL, "jwk: empty or oversized public key");
    pk = d2i_PUBKEY(NULL, &p, (long)der.len);
    if (pk == NULL || p != (const unsigned char *)der.p + der.len) {
        EVP_PKEY_free(pk);
        ERR_clear_error();
        return vk_err_set(err, VK_EINVAL, "jwk: not a SubjectPublicKeyInfo");
    }
    return jwk_new(pk, alg, false, VK_STR_NULL, false, out, err);
}
