/* JWS compact sign/verify and JWT claim checks (src/jose/jws.c, jwt.c).
 *
 * Most rejection tests use forge(): a token whose signature is VALID for the key but whose
 * header or payload is hostile, so the only reason it can fail is the property under test.
 * The RFC vectors are embedded here (copies with sources in tests/vectors/). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "base/b64url.h"
#include "base/limits.h"
#include "jose/jose.h"

/* RFC 7515 Appendix A.3: ES256 JWS and the public half of its P-256 key. */
static const char RFC7515_A3_JWS[] =
    "eyJhbGciOiJFUzI1NiJ9"
    ".eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFt"
    "cGxlLmNvbS9pc19yb290Ijp0cnVlfQ"
    ".DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q";
static const char RFC7515_A3_JWK[] = "{\"kty\":\"EC\",\"crv\":\"P-256\","
                                     "\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\","
                                     "\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\"}";

/* RFC 8037 Appendix A.1 (private key), A.2 (public key), A.4 (Ed25519 JWS over a non-JSON
 * payload, "Example of Ed25519 signing"). */
static const char RFC8037_D[] = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A";
static const char RFC8037_A2_JWK[] =
    "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\"}";
static const char RFC8037_A4_JWS[] =
    "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc"
    ".hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg";

static const char CLAIMS[] = "{\"iss\":\"https://as.example\",\"sub\":\"u1\",\"aud\":\"api\","
                             "\"iat\":1999999000,\"nbf\":1999999000,\"exp\":2000000000}";
#define NOW 1999999500

static struct vk_jwk *es, *es_other, *rs, *ps, *ed;

static int setup(void **state)
{
    struct vk_err err = {{0}};
    (void)state;
    if (vk_jwk_generate(VK_ALG_ES256, &es, &err) != VK_OK ||
        vk_jwk_generate(VK_ALG_ES256, &es_other, &err) != VK_OK ||
        vk_jwk_generate(VK_ALG_RS256, &rs, &err) != VK_OK ||
        vk_jwk_generate(VK_ALG_PS256, &ps, &err) != VK_OK ||
        vk_jwk_generate(VK_ALG_EDDSA, &ed, &err) != VK_OK)
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    vk_jwk_free(es);
    vk_jwk_free(es_other);
    vk_jwk_free(rs);
    vk_jwk_free(ps);
    vk_jwk_free(ed);
    return 0;
}

/* ---- helpers ---- */

static char *b64(const void *p, size_t n)
{
    char *s = malloc(vk_b64url_enc_len(n) + 1);
    assert_non_null(s);
    vk_b64url_encode(p, n, s);
    return s;
}

static char *cat3(const char *a, const char *b, const char *c)
{
    size_t n = strlen(a) + strlen(b) + strlen(c) + 3;
    char *s = malloc(n);
    assert_non_null(s);
    snprintf(s, n, "%s.%s%s%s", a, b, c[0] != '\0' ? "." : "", c);
    return s;
}

/* header_b64 '.' payload_b64 '.' a VALID signature by k over exactly those bytes. */
static char *forge_b64(const struct vk_jwk *k, const char *h64, const char *p64)
{
    char *input = cat3(h64, p64, "");
    uint8_t sig[512];
    size_t siglen = 0;
    assert_int_equal(vk_jwk_sign_input(k, input, strlen(input), sig, sizeof sig, &siglen), VK_OK);
    char *s64 = b64(sig, siglen);
    char *tok = cat3(h64, p64, s64);
    free(input);
    free(s64);
    return tok;
}

static char *forge(const struct vk_jwk *k, const char *header, const char *payload)
{
    char *h64 = b64(header, strlen(header));
    char *p64 = b64(payload, strlen(payload));
    char *tok = forge_b64(k, h64, p64);
    free(h64);
    free(p64);
    return tok;
}

static int verify(const struct vk_jwk *k, const char *tok, struct vk_err *err)
{
    struct vk_jws j;
    int rc = vk_jws_verify_key(k, vk_str_c(tok), &j, err);
    if (rc != VK_OK) {
        assert_null(j.header);
        assert_null(j.payload);
        assert_null(j.key);
    }
    vk_jws_clear(&j);
    return rc;
}

static char *sign(const struct vk_jwk *k, const char *typ, const char *payload)
{
    struct vk_err err = {{0}};
    struct vk_buf b;
    vk_buf_init(&b, VK_MAX_JWT_LEN);
    assert_int_equal(vk_jws_sign(k, typ, vk_str_c(payload), &b, &err), VK_OK);
    char *tok = strdup(b.p);
    vk_buf_clear(&b);
    assert_non_null(tok);
    return tok;
}

static struct vk_jwk *public_copy(const struct vk_jwk *k)
{
    struct vk_err err = {{0}};
    struct vk_jwk *pub = NULL;
    json_t *j = vk_jwk_public_json(k);
    assert_non_null(j);
    assert_int_equal(vk_jwk_from_json(j, VK_ALG_INVALID, &pub, &err), VK_OK);
    json_decref(j);
    assert_false(vk_jwk_is_private(pub));
    return pub;
}

static struct vk_jwk *jwk_from_string(const char *s, enum vk_alg def)
{
    struct vk_err err = {{0}};
    struct vk_jwk *k = NULL;
    json_error_t jerr;
    json_t *j = json_loads(s, JSON_REJECT_DUPLICATES, &jerr);
    assert_non_null(j);
    assert_int_equal(vk_jwk_from_json(j, def, &k, &err), VK_OK);
    json_decref(j);
    return k;
}

/* Decodes one base64url part of tok (0 header, 1 payload, 2 signature) into a NUL-terminated
 * heap string; *n gets the decoded length. */
static char *part(const char *tok, int which, size_t *n)
{
    const char *p = tok;
    for (int i = 0; i < which; i++)
        p = strchr(p, '.') + 1;
    const char *end = strchr(p, '.');
    size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
    char *out = malloc(len + 1);
    assert_non_null(out);
    assert_int_equal(vk_b64url_decode((vk_str){p, len}, (uint8_t *)out, len, n), VK_OK);
    out[*n] = '\0';
    return out;
}

/* ---- sign/verify round trips ---- */

static void round_trip(const struct vk_jwk *k, size_t want_sig_len)
{
    struct vk_err err = {{0}};
    struct vk_jws j;
    size_t n;
    char *tok = sign(k, "at+jwt", CLAIMS);

    assert_int_equal(vk_jws_verify_key(k, vk_str_c(tok), &j, &err), VK_OK);
    assert_ptr_equal(j.key, k);
    assert_string_equal(json_string_value(json_object_get(j.payload, "iss")),
                        "https://as.example");
    assert_string_equal(json_string_value(json_object_get(j.header, "alg")),
                        vk_alg_name(vk_jwk_alg(k)));
    assert_int_equal(vk_jwt_check(&j, NOW, 0, "at+jwt", "https://as.example", &err), VK_OK);
    vk_jws_clear(&j);

    /* Whoever holds only the published key verifies it too. */
    struct vk_jwk *pub = public_copy(k);
    assert_int_equal(verify(pub, tok, &err), VK_OK);
    vk_jwk_free(pub);

    /* The signature is the algorithm's exact length (RFC 7518 §3.4: ES256 is raw R||S). */
    char *sig = part(tok, 2, &n);
    assert_int_equal(n, want_sig_len);
    free(sig);
    free(tok);
}

static void es256_sign_verify_round_trip(void **state)
{
    (void)state;
    round_trip(es, 64);
}

static void rs256_sign_verify_round_trip(void **state)
{
    (void)state;
    round_trip(rs, 256);
}

static void ps256_sign_verify_round_trip(void **state)
{
    (void)state;
    round_trip(ps, 256);
}

static void eddsa_sign_verify_round_trip(void **state)
{
    (void)state;
    round_trip(ed, 64);
}

static void sign_writes_exact_protected_header(void **state)
{
    char want[256];
    size_t n;
    (void)state;
    char *tok = sign(es, "at+jwt", CLAIMS);
    char *hdr = part(tok, 0, &n);
    snprintf(want, sizeof want, "{\"alg\":\"ES256\",\"typ\":\"at+jwt\",\"kid\":\"%s\"}",
             vk_jwk_kid(es));
    assert_string_equal(hdr, want);
    free(hdr);
    free(tok);

    tok = sign(ed, NULL, CLAIMS); /* no typ: the member is omitted */
    hdr = part(tok, 0, &n);
    snprintf(want, sizeof want, "{\"alg\":\"EdDSA\",\"kid\":\"%s\"}", vk_jwk_kid(ed));
    assert_string_equal(hdr, want);
    free(hdr);
    char *pl = part(tok, 1, &n);
    assert_string_equal(pl, CLAIMS); /* the payload is exactly the bytes given */
    free(pl);
    free(tok);
}

static void sign_rejects_public_key_bad_typ_and_oversize(void **state)
{
    struct vk_err err = {{0}};
    struct vk_buf b;
    (void)state;
    vk_buf_init(&b, VK_MAX_JWT_LEN);
    struct vk_jwk *pub = public_copy(es);
    assert_int_equal(vk_jws_sign(pub, "JWT", VK_STR(CLAIMS), &b, &err), VK_EINVAL);
    vk_jwk_free(pub);
    assert_int_equal(vk_jws_sign(es, "a\"b", VK_STR(CLAIMS), &b, &err), VK_EINVAL);
    assert_int_equal(vk_jws_sign(es, "", VK_STR(CLAIMS), &b, &err), VK_EINVAL);

    static char big[VK_MAX_JWT_LEN];
    memset(big, 'x', sizeof big);
    assert_int_equal(vk_jws_sign(es, NULL, (vk_str){big, VK_MAX_JWT_LEN / 4 * 3}, &b, &err),
                     VK_ETOOBIG);
    assert_int_equal(b.len, 0); /* out untouched on error */
    vk_buf_clear(&b);
}

/* ---- RFC vectors ---- */

static void rfc7515_a3_es256_example_verifies(void **state)
{
    struct vk_err err = {{0}};
    struct vk_jws j;
    (void)state;
    struct vk_jwk *k = jwk_from_string(RFC7515_A3_JWK, VK_ALG_ES256);

    assert_int_equal(vk_jws_verify_key(k, VK_STR(RFC7515_A3_JWS), &j, &err), VK_OK);
    assert_string_equal(json_string_value(json_object_get(j.payload, "iss")), "joe");
    assert_int_equal(json_integer_value(json_object_get(j.payload, "exp")), 1300819380);
    assert_true(json_is_true(json_object_get(j.payload, "http://example.com/is_root")));
    /* Its exp is 1300819380: valid one second before, expired at that second. */
    assert_int_equal(vk_jwt_check(&j, 1300819379, 0, NULL, "joe", &err), VK_OK);
    assert_int_equal(vk_jwt_check(&j, 1300819380, 0, NULL, "joe", &err), VK_EEXPIRED);
    vk_jws_clear(&j);

    /* The same vector through a key set without kids: the single ES256 key is chosen. */
    struct vk_jwks *set = NULL;
    char jwks[512];
    snprintf(jwks, sizeof jwks, "{\"keys\":[%s]}", RFC7515_A3_JWK);
    assert_int_equal(vk_jwks_parse(jwks, strlen(jwks), &set, &err), VK_OK);
    assert_int_equal(vk_jws_verify(set, VK_STR(RFC7515_A3_JWS), &j, &err), VK_OK);
    vk_jws_clear(&j);
    vk_jwks_unref(set);
    vk_jwk_free(k);
}

static void rfc7515_a3_tampered_payload_or_signature_fails(void **state)
{
    struct vk_err err = {{0}};
    char tok[sizeof RFC7515_A3_JWS];
    (void)state;
    struct vk_jwk *k = jwk_from_string(RFC7515_A3_JWK, VK_ALG_ES256);

    memcpy(tok, RFC7515_A3_JWS, sizeof tok);
    char *pay = strchr(tok, '.') + 1;
    pay[10] = pay[10] == 'A' ? 'B' : 'A';
    assert_int_equal(verify(k, tok, &err), VK_ECRYPTO);

    memcpy(tok, RFC7515_A3_JWS, sizeof tok);
    char *sig = strrchr(tok, '.') + 1;
    sig[20] = sig[20] == 'A' ? 'B' : 'A';
    assert_int_equal(verify(k, tok, &err), VK_ECRYPTO);
    vk_jwk_free(k);
}

/* Builds the PKCS#8 PEM of an Ed25519 private key from its 32-byte seed (RFC 8410 §7). */
static char *ed25519_pem(const char *d64)
{
    static const uint8_t prefix[] = {0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b,
                                     0x65, 0x70, 0x04, 0x22, 0x04, 0x20};
    uint8_t der[sizeof prefix + 32];
    unsigned char b64std[80];
    size_t n;
    memcpy(der, prefix, sizeof prefix);
    assert_int_equal(vk_b64url_decode(vk_str_c(d64), der + sizeof prefix, 32, &n), VK_OK);
    assert_int_equal(n, 32);
    assert_int_equal(EVP_EncodeBlock(b64std, der, (int)sizeof der), 64);
    char *pem = malloc(256);
    assert_non_null(pem);
    snprintf(pem, 256, "-----BEGIN PRIVATE KEY-----\n%s\n-----END PRIVATE KEY-----\n", b64std);
    OPENSSL_cleanse(der, sizeof der);
    return pem;
}

static void rfc8037_a4_ed25519_example_signs_and_verifies(void **state)
{
    struct vk_err err = {{0}};
    struct vk_jwk *priv = NULL;
    uint8_t sig[64];
    size_t siglen;
    char tok[sizeof RFC8037_A4_JWS];
    (void)state;

    /* Ed25519 is deterministic: the A.1 key over the A.4 signing input gives A.4's signature. */
    char *pem = ed25519_pem(RFC8037_D);
    assert_int_equal(vk_jwk_from_private_pem(VK_ALG_EDDSA, NULL, vk_str_c(pem), &priv, &err),
                     VK_OK);
    const char *dot2 = strrchr(RFC8037_A4_JWS, '.');
    assert_int_equal(vk_jwk_sign_input(priv, RFC8037_A4_JWS, (size_t)(dot2 - RFC8037_A4_JWS), sig,
                                       sizeof sig, &siglen),
                     VK_OK);
    char *s64 = b64(sig, siglen);
    assert_string_equal(s64, dot2 + 1);
    free(s64);

    /* Verification: the signature checks out, and only then is the payload refused because it
     * is not a JWT claims object ("Example of Ed25519 signing"). */
    struct vk_jwk *pub = jwk_from_string(RFC8037_A2_JWK, VK_ALG_EDDSA);
    assert_int_equal(verify(pub, RFC8037_A4_JWS, &err), VK_EINVAL);
    assert_non_null(strstr(err.msg, "payload is not a JSON object"));
    memcpy(tok, RFC8037_A4_JWS, sizeof tok);
    char *sp = strrchr(tok, '.') + 1;
    sp[5] = sp[5] == 'A' ? 'B' : 'A';
    assert_int_equal(verify(pub, tok, &err), VK_ECRYPTO);

    vk_jwk_free(pub);
    vk_jwk_free(priv);
    OPENSSL_cleanse(pem, strlen(pem));
    free(pem);
}

/* ---- rejections ---- */

static void verify_rejects_alg_none(void **state)
{
    struct vk_err err = {{0}};
    (void)state;
    char *h64 = b64("{\"alg\":\"none\"}", 14);
    char *p64 = b64(CLAIMS, strlen(CLAIMS));
    char *unsecured = cat3(h64, p64, ""); /* "h.p" -- RFC 7519 §6.1 form minus the last dot */
    size_t n = strlen(unsecured);
    char *with_dot = malloc(n + 2);
    memcpy(with_dot, unsecured, n);
    memcpy(with_dot + n, ".", 2);
    assert_int_equal(verify(es, with_dot, &err), VK_EINVAL);
    assert_int_equal(verify(es, unsecured, &err), VK_EINVAL);
    /* Even with a genuine ES256 signature over it, "none" is refused. */
    char *tok = forge(es, "{\"alg\":\"none\"}", CLAIMS);
    assert_int_equal(verify(es, tok, &err), VK_EINVAL);
    assert_non_null(strstr(err.msg, "alg not accepted"));
    free(tok);
    tok = forge(es, "{\"alg\":\"NONE\"}", CLAIMS);
    assert_int_equal(verify(es, tok, &err), VK_EINVAL);
    free(tok);
    free(with_dot);
    free(unsecured);
    free(h64);
    free(p64);
}

static void verify_rejects_hs256_header_against_es256_key(void **state)
{
    struct vk_err err = {{0}};
    (void)state;
    char *tok = forge(es, "{\"alg\":\"HS256\"}", CLAIMS);
    assert_int_equal(verify(es, tok, &err), VK_EINVAL);
    free(tok);
    tok = forge(es, "{\"alg\":\"es256\"}", CLAIMS); /* alg names are case-sensitive */
    assert_int_equal(verify(es, tok, &err), VK_EINVAL);
    free(tok);
}

static void verify_rejects_rs256_header_against_es256_key(void **state)
{
    struct vk_err err = {{0}};
    struct vk_jws j;
    (void)state;
    /* A genuine ES256 signature under a header that claims RS256. */
    char *tok = forge(es, "{\"alg\":\"RS256\"}", CLAIMS);
    assert_int_equal(verify(es, tok, &err), VK_EINVAL);
    assert_non_null(strstr(err.msg, "alg does not match the key"));
    free(tok);
    /* A genuine RS256 token presented to the ES256 key. */
    tok = sign(rs, NULL, CLAIMS);
    assert_int_equal(verify(es, tok, &err), VK_EINVAL);
    free(tok);
    /* And through a set: the ES256 key's kid with alg RS256. */
    char hdr[200];
    snprintf(hdr, sizeof hdr, "{\"alg\":\"RS256\",\"kid\":\"%s\"}", vk_jwk_kid(es));
    tok = forge(rs, hdr, CLAIMS);
    struct vk_jwk *keys[1] = {public_copy(es)};
    struct vk_jwks *set = NULL;
    assert_int_equal(vk_jwks_from_keys(keys, 1, &set), VK_OK);
    assert_int_equal(vk_jws_verify(set, vk_str_c(tok), &j, &err), VK_EINVAL);
    assert_null(j.payload);
    vk_jwks_unref(set);
    free(tok);
}

static void verify_rejects_truncated_signature(void **state)
{
    struct vk_err err = {{0}};
    (void)state;
    char *tok = sign(es, NULL, CLAIMS);
    size_t n = strlen(tok);
    tok[n - 2] = '\0'; /* 84 characters: valid base64url of 63 bytes */
    assert_int_equal(verify(es, tok, &err), VK_EINVAL);
    assert_non_null(strstr(err.msg, "wrong length"));
    tok[n - 3] = '\0'; /* 83 characters: 62 bytes */
    assert_int_equal(verify(es, tok, &err), VK_EINVAL);
    free(tok);

    tok = sign(rs, NULL, CLAIMS);
    n = strlen(tok);
    tok[n - 4] = '\0'; /* RSA: a signature shorter than the modulus */
    assert_int_equal(verify(rs, tok, &err), VK_EINVAL);
    free(tok);

    /* Right length, wrong bytes: the signature check itself says no. */
    tok = sign(es, NULL, CLAIMS);
    char *sig = strrchr(tok, '.') + 1;
    memset(sig, 'A', strlen(sig) - 1);
    assert_int_equal(verify(es, tok, &err), VK_ECRYPTO);
    free(tok);
}

static void verify_rejects_bad_base64url_in_header(void **state)
{
    struct vk_err err = {{0}};
    (void)state;
    char *p64 = b64(CLAIMS, strlen(CLAIMS));
    /* '+' '/' are base64, not base64url; '=' padding; a 4k+1 length; a space; non-zero
     * trailing bits ("eyJ": 'J' leaves 01 in the unused low bits). */
    static const char *bad[] = {"eyJhbGciOiJFUzI1NiJ9+", "eyJhbGciOi/FUzI1NiJ9",
                                "eyJhbGciOiJFUzI1NiJ9==", "eyJhbGciOiJFUzI1NiJ9A", "eyJhbGc iOiJ",
                                "eyJ"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *tok = forge_b64(es, bad[i], p64);
        assert_int_equal(verify(es, tok, &err), VK_EINVAL);
        assert_non_null(strstr(err.msg, "header is not base64url"));
        free(tok);
    }
    free(p64);
}

static void verify_rejects_bad_base64url_in_payload(void **state)
{
    struct vk_err err = {{0}};
    char bad[512];
    (void)state;
    char *h64 = b64("{\"alg\":\"ES256\"}", 15);
    char *p64 = b64(CLAIMS, strlen(CLAIMS));
    /* Signed over exactly these (invalid) bytes, so only the decoding can object. */
    snprintf(bad, sizeof bad, "%s=", p64);
    char *tok = forge_b64(es, h64, bad);
    assert_int_equal(verify(es, tok, &err), VK_EINVAL);
    assert_non_null(strstr(err.msg, "payload is not base64url"));
    free(tok);
    snprintf(bad, sizeof bad, "%s", p64);
    bad[5] = '+';
    tok = forge_b64(es, h64, bad);
    assert_int_equal(verify(es, tok, &err), VK_EINVAL);
    free(tok);
    free(h64);
    free(p64);
}

static void verify_rejects_bad_base64url_in_signature(void **state)
{
    struct vk_err err = {{0}};
    (void)state;
    char *tok = sign(es, NULL, CLAIMS);
    char *sig = strrchr(tok, '.') + 1;
    char saved = sig[3];
    sig[3] = '+';
    assert_int_equal(verify(es, tok, &err), VK_EINVAL);
    assert_non_null(strstr(err.msg, "signature is not base64url"));
    sig[3] = '/';
    assert_int_equal(verify(es, tok, &err), VK_EINVAL);
    sig[3] = saved;
    size_t n = strlen(tok);
    char *padded = malloc(n + 3);
    memcpy(padded, tok, n);
    memcpy(padded + n, "==", 3);
    assert_int_equal(verify(es, padded, &err), VK_EINVAL);
    free(padded);
    assert_int_equal(verify(es, tok, &err), VK_OK); /* the untouched token was fine */
    free(tok);
}

static void verify_rejects_header_that_is_not_a_json_object(void **state)
{
    struct vk_err err = {{0}};
    (void)state;
    static const char *bad[] = {
        "not json",         "[\"alg\",\"ES256\"]", "\"ES256\"", "{\"alg\":\"ES256\"",
        "{\"alg\":\"ES256\"}x", "{alg:\"ES256\"}",   "",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *tok = forge(es, bad[i], CLAIMS);
        assert_int_equal(verify(es, tok, &err), VK_EINVAL);
        free(tok);
    }
    /* alg must be a string */
    char *tok = forge(es, "{\"alg\":1}", CLAIMS);
    assert_int_equal(verify(es, tok, &err), VK_EINVAL);
    free(tok);
}

static void verify_rejects_duplicate_header_members(void **state)
{
    struct vk_err err = {{0}};
    char hdr[256];
    (void)state;
    char *tok = forge(es, "{\"alg\":\"ES256\",\"alg\":\"ES256\"}", CLAIMS);
    assert_int_equal(verify(es, tok, &err), VK_EINVAL);
    free(tok);
    snprintf(hdr, sizeof hdr, "{\"alg\":\"ES256\",\"kid\":\"%s\",\"kid\":\"x\"}", vk_jwk_kid(es));
    tok = forge(es, hdr, CLAIMS);
    assert_int_equal(verify(es, tok, &err), VK_EINVAL);
    free(tok);
    /* the control: the same header without the duplicate verifies */
    tok = forge(es, "{\"alg\":\"ES256\"}", CLAIMS);
    assert_int_equal(verify(es, tok, &err), VK_OK);
    free(tok);
}

static void verify_rejects_crit_header(void **state)
{
    struct vk_err err = {{0}};
    (void)state;
    char *tok = forge(es, "{\"alg\":\"ES256\",\"crit\":[\"exp\"],\"exp\":1}", CLAIMS);
    assert_int_equal(verify(es, tok, &err), VK_EINVAL);
    assert_non_null(strstr(err.msg, "crit"));
    free(tok);
    tok = forge(es, "{\"alg\":\"ES256\",\"crit\":[\"b64\"],\"b64\":false}", CLAIMS);
    assert_int_equal(verify(es, tok, &err), VK_EINVAL);
    free(tok);
    tok = forge(es, "{\"alg\":\"ES256\",\"crit\":[]}", CLAIMS);
    assert_int_equal(verify(es, tok, &err), VK_EINVAL);
    free(tok);
}

static void verify_rejects_payload_that_is_not_a_json_object(void **state)
{
    struct vk_err err = {{0}};
    (void)state;
    static const char *bad[] = {"[1,2]", "42", "hello", "{\"sub\":\"a\",\"sub\":\"b\"}",
                                "{\"sub\":\"a\"} trailing", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *tok = forge(es, "{\"alg\":\"ES256\"}", bad[i]);
        assert_int_equal(verify(es, tok, &err), VK_EINVAL);
        free(tok);
    }
}

static void verify_rejects_wrong_shape_and_oversize(void **state)
{
    struct vk_err err = {{0}};
    (void)state;
    char *tok = sign(es, NULL, CLAIMS);
    char *last = strrchr(tok, '.');
    char *four = cat3(tok, "x", "y"); /* four parts */
    assert_int_equal(verify(es, four, &err), VK_EINVAL);
    free(four);
    *last = '\0'; /* two parts */
    assert_int_equal(verify(es, tok, &err), VK_EINVAL);
    assert_int_equal(verify(es, "", &err), VK_EINVAL);
    assert_int_equal(verify(es, "..", &err), VK_EINVAL);
    free(tok);

    char *big = malloc(VK_MAX_JWT_LEN + 2);
    memset(big, 'A', VK_MAX_JWT_LEN + 1);
    big[10] = '.';
    big[20] = '.';
    big[VK_MAX_JWT_LEN + 1] = '\0';
    assert_int_equal(verify(es, big, &err), VK_ETOOBIG);
    free(big);
}

static void verify_rejects_signature_by_another_key(void **state)
{
    struct vk_err err = {{0}};
    (void)state;
    char *tok = sign(es_other, NULL, CLAIMS);
    assert_int_equal(verify(es, tok, &err), VK_ECRYPTO);
    free(tok);
    tok = sign(ps, NULL, CLAIMS); /* PS256 and RS256 keys differ; so does the padding */
    char *forged = forge(rs, "{\"alg\":\"PS256\"}", CLAIMS);
    assert_int_equal(verify(rs, tok, &err), VK_EINVAL); /* rs is pinned to RS256 */
    assert_int_equal(verify(ps, forged, &err), VK_ECRYPTO);
    free(forged);
    free(tok);
}

static void verify_selects_key_by_kid(void **state)
{
    struct vk_err err = {{0}};
    struct vk_jws j;
    struct vk_jwks *set = NULL;
    char hdr[200];
    (void)state;
    struct vk_jwk *keys[3] = {public_copy(es), public_copy(es_other), public_copy(rs)};
    assert_int_equal(vk_jwks_from_keys(keys, 3, &set), VK_OK);

    char *tok = sign(es_other, "at+jwt", CLAIMS);
    assert_int_equal(vk_jws_verify(set, vk_str_c(tok), &j, &err), VK_OK);
    assert_ptr_equal(j.key, vk_jwks_get(set, 1));
    vk_jws_clear(&j);
    free(tok);
    tok = sign(rs, NULL, CLAIMS);
    assert_int_equal(vk_jws_verify(set, vk_str_c(tok), &j, &err), VK_OK);
    assert_ptr_equal(j.key, vk_jwks_get(set, 2));
    vk_jws_clear(&j);
    free(tok);

    /* Unknown kid: VK_ENOTFOUND, so a verifier knows to refresh its key set. */
    tok = forge(es, "{\"alg\":\"ES256\",\"kid\":\"nope\"}", CLAIMS);
    assert_int_equal(vk_jws_verify(set, vk_str_c(tok), &j, &err), VK_ENOTFOUND);
    free(tok);
    /* The right kid but another key's signature. */
    snprintf(hdr, sizeof hdr, "{\"alg\":\"ES256\",\"kid\":\"%s\"}", vk_jwk_kid(es));
    tok = forge(es_other, hdr, CLAIMS);
    assert_int_equal(vk_jws_verify(set, vk_str_c(tok), &j, &err), VK_ECRYPTO);
    free(tok);
    /* No kid and two ES256 keys: ambiguous, refused. No kid and one RS256 key: chosen. */
    tok = forge(es, "{\"alg\":\"ES256\"}", CLAIMS);
    assert_int_equal(vk_jws_verify(set, vk_str_c(tok), &j, &err), VK_EINVAL);
    free(tok);
    tok = forge(rs, "{\"alg\":\"RS256\"}", CLAIMS);
    assert_int_equal(vk_jws_verify(set, vk_str_c(tok), &j, &err), VK_OK);
    vk_jws_clear(&j);
    free(tok);
    /* No key of that alg at all. */
    tok = forge(ed, "{\"alg\":\"EdDSA\"}", CLAIMS);
    assert_int_equal(vk_jws_verify(set, vk_str_c(tok), &j, &err), VK_ENOTFOUND);
    free(tok);
    /* kid must be a string */
    tok = forge(es, "{\"alg\":\"ES256\",\"kid\":7}", CLAIMS);
    assert_int_equal(vk_jws_verify(set, vk_str_c(tok), &j, &err), VK_EINVAL);
    free(tok);
    vk_jwks_unref(set);
}

/* ---- JWT claims ---- */

static int check(const char *header, const char *claims, int64_t now, int64_t leeway,
                 const char *typ, const char *iss)
{
    struct vk_err err = {{0}};
    struct vk_jws j;
    char *tok = forge(es, header, claims);
    assert_int_equal(vk_jws_verify_key(es, vk_str_c(tok), &j, &err), VK_OK);
    int rc = vk_jwt_check(&j, now, leeway, typ, iss, &err);
    vk_jws_clear(&j);
    free(tok);
    return rc;
}

#define H_AT "{\"alg\":\"ES256\",\"typ\":\"at+jwt\"}"
#define H    "{\"alg\":\"ES256\"}"

static void jwt_check_accepts_a_valid_token(void **state)
{
    (void)state;
    assert_int_equal(check(H_AT, CLAIMS, NOW, 0, "at+jwt", "https://as.example"), VK_OK);
    assert_int_equal(check(H, CLAIMS, NOW, 0, NULL, NULL), VK_OK);
}

static void jwt_check_rejects_expired_token(void **state)
{
    (void)state;
    /* exp = 2000000000: valid strictly before it (RFC 7519 §4.1.4). */
    assert_int_equal(check(H, CLAIMS, 1999999999, 0, NULL, NULL), VK_OK);
    assert_int_equal(check(H, CLAIMS, 2000000000, 0, NULL, NULL), VK_EEXPIRED);
    assert_int_equal(check(H, CLAIMS, 2000000100, 0, NULL, NULL), VK_EEXPIRED);
    /* leeway stretches it, exactly */
    assert_int_equal(check(H, CLAIMS, 2000000059, 60, NULL, NULL), VK_OK);
    assert_int_equal(check(H, CLAIMS, 2000000060, 60, NULL, NULL), VK_EEXPIRED);
    /* a fractional exp counts from its whole second down */
    assert_int_equal(check(H, "{\"exp\":2000000000.5}", 2000000000, 0, NULL, NULL), VK_EEXPIRED);
    assert_int_equal(check(H, "{\"exp\":2000000000.5}", 1999999999, 0, NULL, NULL), VK_OK);
}

static void jwt_check_requires_numeric_exp(void **state)
{
    (void)state;
    assert_int_equal(check(H, "{\"sub\":\"u1\"}", NOW, 0, NULL, NULL), VK_EINVAL);
    assert_int_equal(check(H, "{\"exp\":\"2000000000\"}", NOW, 0, NULL, NULL), VK_EINVAL);
    assert_int_equal(check(H, "{\"exp\":null}", NOW, 0, NULL, NULL), VK_EINVAL);
    assert_int_equal(check(H, "{\"exp\":1e300}", NOW, 0, NULL, NULL), VK_EINVAL);
    assert_int_equal(check(H, "{\"exp\":2000000000,\"nbf\":true}", NOW, 0, NULL, NULL),
                     VK_EINVAL);
    assert_int_equal(check(H, CLAIMS, NOW, -1, NULL, NULL), VK_EINVAL); /* negative leeway */
}

static void jwt_check_rejects_nbf_in_the_future(void **state)
{
    (void)state;
    static const char c[] = "{\"nbf\":1999999600,\"exp\":2000000000}";
    assert_int_equal(check(H, c, 1999999599, 0, NULL, NULL), VK_EEXPIRED);
    assert_int_equal(check(H, c, 1999999600, 0, NULL, NULL), VK_OK);
    assert_int_equal(check(H, c, 1999999540, 60, NULL, NULL), VK_OK);
    assert_int_equal(check(H, c, 1999999539, 60, NULL, NULL), VK_EEXPIRED);
    /* iat in the future is not "early", it is bogus */
    assert_int_equal(check(H, "{\"iat\":1999999600,\"exp\":2000000000}", 1999999500, 0, NULL,
                           NULL),
                     VK_EINVAL);
}

static void jwt_check_rejects_wrong_typ(void **state)
{
    (void)state;
    assert_int_equal(check("{\"alg\":\"ES256\",\"typ\":\"JWT\"}", CLAIMS, NOW, 0, "at+jwt", NULL),
                     VK_EINVAL);
    assert_int_equal(check(H, CLAIMS, NOW, 0, "at+jwt", NULL), VK_EINVAL); /* typ missing */
    assert_int_equal(check("{\"alg\":\"ES256\",\"typ\":1}", CLAIMS, NOW, 0, "at+jwt", NULL),
                     VK_EINVAL);
    assert_int_equal(check("{\"alg\":\"ES256\",\"typ\":\"text/at+jwt\"}", CLAIMS, NOW, 0,
                           "at+jwt", NULL),
                     VK_EINVAL);
    /* RFC 7515 §4.1.9: "application/" may be omitted; media types ignore case. */
    assert_int_equal(check("{\"alg\":\"ES256\",\"typ\":\"application/at+jwt\"}", CLAIMS, NOW, 0,
                           "at+jwt", NULL),
                     VK_OK);
    assert_int_equal(check("{\"alg\":\"ES256\",\"typ\":\"AT+JWT\"}", CLAIMS, NOW, 0,
                           "application/at+jwt", NULL),
                     VK_OK);
}

static void jwt_check_rejects_wrong_iss(void **state)
{
    (void)state;
    assert_int_equal(check(H, CLAIMS, NOW, 0, NULL, "https://evil.example"), VK_EINVAL);
    assert_int_equal(check(H, CLAIMS, NOW, 0, NULL, "https://AS.example"), VK_EINVAL);
    assert_int_equal(check(H, CLAIMS, NOW, 0, NULL, "https://as.example/"), VK_EINVAL);
    assert_int_equal(check(H, "{\"exp\":2000000000}", NOW, 0, NULL, "https://as.example"),
                     VK_EINVAL);
    assert_int_equal(check(H, "{\"iss\":[\"https://as.example\"],\"exp\":2000000000}", NOW, 0,
                           NULL, "https://as.example"),
                     VK_EINVAL);
}

/* ---- threads ---- */

struct worker {
    const struct vk_jwk *k;
    int failures;
};

static void *work(void *arg)
{
    struct worker *w = arg;
    struct vk_err err = {{0}};
    struct vk_jws j;
    for (int i = 0; i < 100; i++) {
        struct vk_buf b;
        memset(&j, 0, sizeof j);
        vk_buf_init(&b, VK_MAX_JWT_LEN);
        if (vk_jws_sign(w->k, "at+jwt", VK_STR(CLAIMS), &b, &err) != VK_OK ||
            vk_jws_verify_key(w->k, vk_buf_str(&b), &j, &err) != VK_OK)
            w->failures++;
        vk_jws_clear(&j);
        vk_buf_clear(&b);
    }
    return NULL;
}

static void sign_and_verify_share_one_key_across_threads(void **state)
{
    pthread_t t[4];
    struct worker w[4] = {{es, 0}, {es, 0}, {ed, 0}, {es, 0}};
    (void)state;
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&t[i], NULL, work, &w[i]), 0);
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(w[i].failures, 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(es256_sign_verify_round_trip),
        cmocka_unit_test(rs256_sign_verify_round_trip),
        cmocka_unit_test(ps256_sign_verify_round_trip),
        cmocka_unit_test(eddsa_sign_verify_round_trip),
        cmocka_unit_test(sign_writes_exact_protected_header),
        cmocka_unit_test(sign_rejects_public_key_bad_typ_and_oversize),
        cmocka_unit_test(rfc7515_a3_es256_example_verifies),
        cmocka_unit_test(rfc7515_a3_tampered_payload_or_signature_fails),
        cmocka_unit_test(rfc8037_a4_ed25519_example_signs_and_verifies),
        cmocka_unit_test(verify_rejects_alg_none),
        cmocka_unit_test(verify_rejects_hs256_header_against_es256_key),
        cmocka_unit_test(verify_rejects_rs256_header_against_es256_key),
        cmocka_unit_test(verify_rejects_truncated_signature),
        cmocka_unit_test(verify_rejects_bad_base64url_in_header),
        cmocka_unit_test(verify_rejects_bad_base64url_in_payload),
        cmocka_unit_test(verify_rejects_bad_base64url_in_signature),
        cmocka_unit_test(verify_rejects_header_that_is_not_a_json_object),
        cmocka_unit_test(verify_rejects_duplicate_header_members),
        cmocka_unit_test(verify_rejects_crit_header),
        cmocka_unit_test(verify_rejects_payload_that_is_not_a_json_object),
        cmocka_unit_test(verify_rejects_wrong_shape_and_oversize),
        cmocka_unit_test(verify_rejects_signature_by_another_key),
        cmocka_unit_test(verify_selects_key_by_kid),
        cmocka_unit_test(jwt_check_accepts_a_valid_token),
        cmocka_unit_test(jwt_check_rejects_expired_token),
        cmocka_unit_test(jwt_check_requires_numeric_exp),
        cmocka_unit_test(jwt_check_rejects_nbf_in_the_future),
        cmocka_unit_test(jwt_check_rejects_wrong_typ),
        cmocka_unit_test(jwt_check_rejects_wrong_iss),
        cmocka_unit_test(sign_and_verify_share_one_key_across_threads),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
