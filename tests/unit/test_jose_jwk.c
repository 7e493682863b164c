/* JWKs and JWK Sets (src/jose/jwk.c, jwks.c, alg.c): generation, PEM, JSON, RFC 7638
 * thumbprints, and what a key set skips, rejects and finds. The RFC vectors are embedded here
 * (copies with sources in tests/vectors/). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "base/b64url.h"
#include "base/limits.h"
#include "jose/jose.h"

/* RFC 7638 §3.1: the example RSA key and its SHA-256 thumbprint. */
static const char RFC7638_N[] =
    "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECP"
    "ebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY"
    "368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0f"
    "M4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
static const char RFC7638_THUMBPRINT[] = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs";

/* RFC 7515 Appendix A.3: the P-256 key (public half; d only to test that it is refused). */
static const char A3_X[] = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU";
static const char A3_Y[] = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0";
static const char A3_D[] = "jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI";

/* RFC 8037 Appendix A.1 (d, x) and A.3 (the thumbprint of the A.2 public key). */
static const char RFC8037_D[] = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A";
static const char RFC8037_X[] = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
static const char RFC8037_THUMBPRINT[] = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k";

static const enum vk_alg ALL_ALGS[] = {VK_ALG_ES256, VK_ALG_RS256, VK_ALG_PS256, VK_ALG_EDDSA};

/* ---- helpers ---- */

static int from_string(const char *s, enum vk_alg def, struct vk_jwk **k)
{
    struct vk_err err = {{0}};
    json_error_t jerr;
    json_t *j = json_loads(s, JSON_REJECT_DUPLICATES, &jerr);
    assert_non_null(j);
    int rc = vk_jwk_from_json(j, def, k, &err);
    json_decref(j);
    if (rc != VK_OK)
        assert_null(*k);
    return rc;
}

static char *ec_jwk(const char *extra, const char *x, const char *y)
{
    char *s = malloc(512);
    assert_non_null(s);
    snprintf(s, 512, "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\"%s%s}", x, y,
             extra[0] != '\0' ? "," : "", extra);
    return s;
}

static int ec_rc(const char *extra, enum vk_alg def)
{
    struct vk_jwk *k = NULL;
    char *s = ec_jwk(extra, A3_X, A3_Y);
    int rc = from_string(s, def, &k);
    vk_jwk_free(k);
    free(s);
    return rc;
}

static int parse_set(const char *json, struct vk_jwks **set)
{
    struct vk_err err = {{0}};
    int rc = vk_jwks_parse(json, strlen(json), set, &err);
    if (rc != VK_OK)
        assert_null(*set);
    return rc;
}

/* The public members of an RSA key of `bits` bits, as a JWK (for keys too small to use). */
static char *rsa_jwk_of_size(int bits)
{
    EVP_PKEY *pk = EVP_RSA_gen((unsigned int)bits);
    BIGNUM *n = NULL, *e = NULL;
    uint8_t nb[1024], eb[8];
    char n64[1400], e64[16];
    assert_non_null(pk);
    assert_int_equal(EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_RSA_N, &n), 1);
    assert_int_equal(EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_RSA_E, &e), 1);
    int nl = BN_bn2bin(n, nb), el = BN_bn2bin(e, eb);
    vk_b64url_encode(nb, (size_t)nl, n64);
    vk_b64url_encode(eb, (size_t)el, e64);
    char *s = malloc(1600);
    assert_non_null(s);
    snprintf(s, 1600, "{\"kty\":\"RSA\",\"alg\":\"RS256\",\"n\":\"%s\",\"e\":\"%s\"}", n64, e64);
    BN_free(n);
    BN_free(e);
    EVP_PKEY_free(pk);
    return s;
}

static char *pem_of(const struct vk_jwk *k)
{
    struct vk_err err = {{0}};
    struct vk_buf b;
    vk_buf_init(&b, 16 * 1024);
    assert_int_equal(vk_jwk_private_pem(k, &b, &err), VK_OK);
    char *s = strdup(b.p);
    vk_buf_clear(&b);
    assert_non_null(s);
    return s;
}

/* PKCS#8 PEM of an Ed25519 private key from its 32-byte seed (RFC 8410 §7). */
static char *ed25519_pem(const char *d64)
{
    static const uint8_t prefix[] = {0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b,
                                     0x65, 0x70, 0x04, 0x22, 0x04, 0x20};
    uint8_t der[sizeof prefix + 32];
    unsigned char b64std[80];
    size_t n;
    memcpy(der, prefix, sizeof prefix);
    assert_int_equal(vk_b64url_decode(vk_str_c(d64), der + sizeof prefix, 32, &n), VK_OK);
    assert_int_equal(EVP_EncodeBlock(b64std, der, (int)sizeof der), 64);
    char *pem = malloc(256);
    assert_non_null(pem);
    snprintf(pem, 256, "-----BEGIN PRIVATE KEY-----\n%s\n-----END PRIVATE KEY-----\n", b64std);
    OPENSSL_cleanse(der, sizeof der);
    return pem;
}

/* ---- alg names ---- */

static void alg_names_are_exact_and_case_sensitive(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof ALL_ALGS / sizeof ALL_ALGS[0]; i++)
        assert_int_equal(vk_alg_from_name(vk_str_c(vk_alg_name(ALL_ALGS[i]))), ALL_ALGS[i]);
    assert_int_equal(vk_alg_from_name(VK_STR("none")), VK_ALG_INVALID);
    assert_int_equal(vk_alg_from_name(VK_STR("HS256")), VK_ALG_INVALID);
    assert_int_equal(vk_alg_from_name(VK_STR("es256")), VK_ALG_INVALID);
    assert_int_equal(vk_alg_from_name(VK_STR("ES256 ")), VK_ALG_INVALID);
    assert_int_equal(vk_alg_from_name(VK_STR("")), VK_ALG_INVALID);
    assert_int_equal(vk_alg_from_name((vk_str){"ES256x", 5}), VK_ALG_ES256); /* length-bounded */
    assert_string_equal(vk_alg_name(VK_ALG_INVALID), "invalid");
    assert_string_equal(vk_alg_name(VK_ALG_EDDSA), "EdDSA");
}

/* ---- thumbprints (RFC 7638) ---- */

static void thumbprint_equals_rfc7638_example(void **state)
{
    struct vk_jwk *k = NULL;
    char jwk[800], tp[44];
    (void)state;
    snprintf(jwk, sizeof jwk,
             "{\"kty\":\"RSA\",\"n\":\"%s\",\"e\":\"AQAB\","
             "\"alg\":\"RS256\",\"kid\":\"2011-04-29\"}",
             RFC7638_N);
    assert_int_equal(from_string(jwk, VK_ALG_INVALID, &k), VK_OK);
    assert_int_equal(vk_jwk_thumbprint(k, tp), VK_OK);
    assert_string_equal(tp, RFC7638_THUMBPRINT);
    assert_string_equal(vk_jwk_kid(k), "2011-04-29");
    assert_int_equal(vk_jwk_sig_len(k), 256);
    vk_jwk_free(k);
}

static void thumbprint_equals_rfc8037_example(void **state)
{
    struct vk_jwk *k = NULL;
    char jwk[200], tp[44];
    (void)state;
    snprintf(jwk, sizeof jwk, "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"%s\"}", RFC8037_X);
    assert_int_equal(from_string(jwk, VK_ALG_EDDSA, &k), VK_OK);
    assert_int_equal(vk_jwk_thumbprint(k, tp), VK_OK);
    assert_string_equal(tp, RFC8037_THUMBPRINT);
    assert_string_equal(vk_jwk_kid(k), ""); /* no kid is invented for a published key */
    vk_jwk_free(k);
}

static void rfc8037_private_key_gives_rfc_public_key_and_kid(void **state)
{
    struct vk_err err = {{0}};
    struct vk_jwk *k = NULL;
    (void)state;
    char *pem = ed25519_pem(RFC8037_D);
    assert_int_equal(vk_jwk_from_private_pem(VK_ALG_EDDSA, NULL, vk_str_c(pem), &k, &err),
                     VK_OK);
    json_t *pub = vk_jwk_public_json(k);
    assert_string_equal(json_string_value(json_object_get(pub, "x")), RFC8037_X);
    assert_string_equal(json_string_value(json_object_get(pub, "crv")), "Ed25519");
    assert_string_equal(vk_jwk_kid(k), RFC8037_THUMBPRINT); /* kid defaults to the thumbprint */
    json_decref(pub);
    vk_jwk_free(k);
    OPENSSL_cleanse(pem, strlen(pem));
    free(pem);
}

/* ---- generation, PEM, public JSON ---- */

static void generate_gives_private_key_with_thumbprint_kid(void **state)
{
    struct vk_err err = {{0}};
    char tp[44];
    (void)state;
    for (size_t i = 0; i < sizeof ALL_ALGS / sizeof ALL_ALGS[0]; i++) {
        struct vk_jwk *k = NULL;
        assert_int_equal(vk_jwk_generate(ALL_ALGS[i], &k, &err), VK_OK);
        assert_true(vk_jwk_is_private(k));
        assert_int_equal(vk_jwk_alg(k), ALL_ALGS[i]);
        assert_int_equal(vk_jwk_thumbprint(k, tp), VK_OK);
        assert_int_equal(strlen(tp), 43);
        assert_string_equal(vk_jwk_kid(k), tp);
        vk_jwk_free(k);
    }
    struct vk_jwk *k = (struct vk_jwk *)1;
    assert_int_equal(vk_jwk_generate(VK_ALG_INVALID, &k, &err), VK_EINVAL);
    assert_null(k);
}

static void pem_round_trip_preserves_the_key(void **state)
{
    struct vk_err err = {{0}};
    char tp1[44], tp2[44];
    uint8_t sig[512];
    size_t siglen;
    static const char input[] = "eyJhbGciOiJFUzI1NiJ9.e30";
    (void)state;
    for (size_t i = 0; i < sizeof ALL_ALGS / sizeof ALL_ALGS[0]; i++) {
        struct vk_jwk *k = NULL, *back = NULL;
        assert_int_equal(vk_jwk_generate(ALL_ALGS[i], &k, &err), VK_OK);
        char *pem = pem_of(k);
        assert_non_null(strstr(pem, "-----BEGIN PRIVATE KEY-----")); /* PKCS#8 */
        assert_int_equal(vk_jwk_from_private_pem(ALL_ALGS[i], "key-1", vk_str_c(pem), &back,
                                                 &err),
                         VK_OK);
        assert_true(vk_jwk_is_private(back));
        assert_string_equal(vk_jwk_kid(back), "key-1");
        vk_jwk_thumbprint(k, tp1);
        vk_jwk_thumbprint(back, tp2);
        assert_string_equal(tp1, tp2);
        /* What the reloaded key signs, the original verifies. */
        assert_int_equal(vk_jwk_sign_input(back, input, sizeof input - 1, sig, sizeof sig, &siglen),
                         VK_OK);
        assert_int_equal(vk_jwk_verify_input(k, input, sizeof input - 1, sig, siglen), VK_OK);
        assert_int_equal(vk_jwk_verify_input(k, input, sizeof input - 2, sig, siglen), VK_ECRYPTO);
        vk_jwk_free(back);
        OPENSSL_cleanse(pem, strlen(pem));
        free(pem);
        vk_jwk_free(k);
    }
}

static void private_pem_rejects_wrong_type_garbage_encrypted_and_bad_kid(void **state)
{
    struct vk_err err = {{0}};
    struct vk_jwk *ec = NULL, *k = NULL;
    (void)state;
    assert_int_equal(vk_jwk_generate(VK_ALG_ES256, &ec, &err), VK_OK);
    char *pem = pem_of(ec);
    assert_int_equal(vk_jwk_from_private_pem(VK_ALG_RS256, NULL, vk_str_c(pem), &k, &err),
                     VK_EINVAL);
    assert_int_equal(vk_jwk_from_private_pem(VK_ALG_EDDSA, NULL, vk_str_c(pem), &k, &err),
                     VK_EINVAL);
    assert_int_equal(vk_jwk_from_private_pem(VK_ALG_ES256, "a\"b", vk_str_c(pem), &k, &err),
                     VK_EINVAL);
    assert_int_equal(vk_jwk_from_private_pem(VK_ALG_ES256, "", vk_str_c(pem), &k, &err),
                     VK_EINVAL);
    assert_int_equal(vk_jwk_from_private_pem(VK_ALG_INVALID, NULL, vk_str_c(pem), &k, &err),
                     VK_EINVAL);
    assert_int_equal(vk_jwk_from_private_pem(VK_ALG_ES256, NULL, VK_STR("-----BEGIN PRIVATE "
                                                                        "KEY-----\nAAAA\n"),
                                             &k, &err),
                     VK_EINVAL);
    assert_int_equal(vk_jwk_from_private_pem(VK_ALG_ES256, NULL, VK_STR_NULL, &k, &err),
                     VK_EINVAL);
    assert_null(k);
    OPENSSL_cleanse(pem, strlen(pem));
    free(pem);

    /* An encrypted key is refused, not prompted for. */
    EVP_PKEY *pk = EVP_EC_gen("P-256");
    BIO *bio = BIO_new(BIO_s_mem());
    char *p = NULL;
    assert_int_equal(PEM_write_bio_PrivateKey(bio, pk, EVP_aes_256_cbc(),
                                              (unsigned char *)"secret", 6, NULL, NULL),
                     1);
    long n = BIO_get_mem_data(bio, &p);
    assert_int_equal(vk_jwk_from_private_pem(VK_ALG_ES256, NULL, (vk_str){p, (size_t)n}, &k, &err),
                     VK_EINVAL);
    BIO_free(bio);
    EVP_PKEY_free(pk);

    /* RSA below 2048 bits is refused for signing too. */
    pk = EVP_RSA_gen(1024);
    bio = BIO_new(BIO_s_mem());
    assert_int_equal(PEM_write_bio_PrivateKey(bio, pk, NULL, NULL, 0, NULL, NULL), 1);
    n = BIO_get_mem_data(bio, &p);
    assert_int_equal(vk_jwk_from_private_pem(VK_ALG_RS256, NULL, (vk_str){p, (size_t)n}, &k, &err),
                     VK_EINVAL);
    BIO_free(bio);
    EVP_PKEY_free(pk);

    /* A public key cannot be written out as a private PEM. */
    struct vk_buf b;
    vk_buf_init(&b, 16 * 1024);
    json_t *pubj = vk_jwk_public_json(ec);
    assert_int_equal(vk_jwk_from_json(pubj, VK_ALG_INVALID, &k, &err), VK_OK);
    assert_int_equal(vk_jwk_private_pem(k, &b, &err), VK_EINVAL);
    assert_int_equal(b.len, 0);
    vk_buf_clear(&b);
    json_decref(pubj);
    vk_jwk_free(k);
    vk_jwk_free(ec);
}

static void public_json_has_only_public_members(void **state)
{
    struct vk_err err = {{0}};
    static const char *want_ec[] = {"kty", "crv", "x", "y", "kid", "alg", "use"};
    static const char *want_rsa[] = {"kty", "n", "e", "kid", "alg", "use"};
    static const char *want_okp[] = {"kty", "crv", "x", "kid", "alg", "use"};
    (void)state;
    for (size_t i = 0; i < sizeof ALL_ALGS / sizeof ALL_ALGS[0]; i++) {
        struct vk_jwk *k = NULL, *back = NULL;
        char tp1[44], tp2[44];
        assert_int_equal(vk_jwk_generate(ALL_ALGS[i], &k, &err), VK_OK);
        json_t *j = vk_jwk_public_json(k);
        const char **want = ALL_ALGS[i] == VK_ALG_ES256 ? want_ec
                            : ALL_ALGS[i] == VK_ALG_EDDSA ? want_okp
                                                          : want_rsa;
        size_t nwant = ALL_ALGS[i] == VK_ALG_ES256 ? 7 : 6;
        assert_int_equal(json_object_size(j), nwant);
        for (size_t m = 0; m < nwant; m++)
            assert_non_null(json_object_get(j, want[m]));
        assert_null(json_object_get(j, "d"));
        assert_string_equal(json_string_value(json_object_get(j, "use")), "sig");
        assert_string_equal(json_string_value(json_object_get(j, "alg")),
                            vk_alg_name(ALL_ALGS[i]));
        /* and it reads back as the same (public) key */
        assert_int_equal(vk_jwk_from_json(j, VK_ALG_INVALID, &back, &err), VK_OK);
        assert_false(vk_jwk_is_private(back));
        assert_string_equal(vk_jwk_kid(back), vk_jwk_kid(k));
        vk_jwk_thumbprint(k, tp1);
        vk_jwk_thumbprint(back, tp2);
        assert_string_equal(tp1, tp2);
        vk_jwk_free(back);
        json_decref(j);
        vk_jwk_free(k);
    }
}

/* ---- vk_jwk_from_json ---- */

static void from_json_takes_alg_from_key_or_default(void **state)
{
    (void)state;
    assert_int_equal(ec_rc("\"alg\":\"ES256\"", VK_ALG_INVALID), VK_OK);
    assert_int_equal(ec_rc("", VK_ALG_ES256), VK_OK);
    assert_int_equal(ec_rc("", VK_ALG_INVALID), VK_EINVAL);           /* alg required */
    assert_int_equal(ec_rc("\"alg\":\"RS256\"", VK_ALG_INVALID), VK_EINVAL); /* kty mismatch */
    assert_int_equal(ec_rc("", VK_ALG_EDDSA), VK_EINVAL);
    assert_int_equal(ec_rc("\"alg\":\"none\"", VK_ALG_ES256), VK_EINVAL);
    assert_int_equal(ec_rc("\"alg\":\"ES384\"", VK_ALG_ES256), VK_EINVAL);
    assert_int_equal(ec_rc("\"alg\":5", VK_ALG_ES256), VK_EINVAL);
    assert_int_equal(ec_rc("\"use\":\"sig\",\"key_ops\":[\"verify\"]", VK_ALG_ES256), VK_OK);
    assert_int_equal(ec_rc("\"use\":\"enc\"", VK_ALG_ES256), VK_EINVAL);
    assert_int_equal(ec_rc("\"key_ops\":[\"encrypt\"]", VK_ALG_ES256), VK_EINVAL);
    assert_int_equal(ec_rc("\"kid\":7", VK_ALG_ES256), VK_EINVAL);
}

static void from_json_rejects_private_d(void **state)
{
    char extra[100];
    (void)state;
    snprintf(extra, sizeof extra, "\"d\":\"%s\"", A3_D);
    assert_int_equal(ec_rc(extra, VK_ALG_ES256), VK_EINVAL);
    char okp[300];
    struct vk_jwk *k = NULL;
    snprintf(okp, sizeof okp, "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"%s\",\"d\":\"%s\"}",
             RFC8037_X, RFC8037_D);
    assert_int_equal(from_string(okp, VK_ALG_EDDSA, &k), VK_EINVAL);
}

static void from_json_rejects_bad_ec_points(void **state)
{
    struct vk_jwk *k = NULL;
    (void)state;
    /* The A.3 y with its last byte changed: a field element, but not on the curve. */
    char *s = ec_jwk("", A3_X, "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a4");
    assert_int_equal(from_string(s, VK_ALG_ES256, &k), VK_EINVAL);
    free(s);
    s = ec_jwk("", A3_X, "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI"); /* 30 bytes */
    assert_int_equal(from_string(s, VK_ALG_ES256, &k), VK_EINVAL);
    free(s);
    s = ec_jwk("", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", /* (0, 0) */
               "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    assert_int_equal(from_string(s, VK_ALG_ES256, &k), VK_EINVAL);
    free(s);
    s = ec_jwk("", A3_X, "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0=");
    assert_int_equal(from_string(s, VK_ALG_ES256, &k), VK_EINVAL);
    free(s);
    assert_int_equal(from_string("{\"kty\":\"EC\",\"crv\":\"P-384\",\"x\":\"AA\",\"y\":\"AA\"}",
                                 VK_ALG_ES256, &k),
                     VK_EINVAL);
}

static void from_json_rejects_rsa_below_2048_and_bad_exponents(void **state)
{
    struct vk_jwk *k = NULL;
    char jwk[900];
    (void)state;
    char *small = rsa_jwk_of_size(1024);
    assert_int_equal(from_string(small, VK_ALG_INVALID, &k), VK_EINVAL);
    free(small);
    /* e = 1 makes every "signature" verify; e = 3 is below SP 800-56B's 65537. */
    snprintf(jwk, sizeof jwk, "{\"kty\":\"RSA\",\"n\":\"%s\",\"e\":\"AQ\"}", RFC7638_N);
    assert_int_equal(from_string(jwk, VK_ALG_RS256, &k), VK_EINVAL);
    snprintf(jwk, sizeof jwk, "{\"kty\":\"RSA\",\"n\":\"%s\",\"e\":\"Aw\"}", RFC7638_N);
    assert_int_equal(from_string(jwk, VK_ALG_RS256, &k), VK_EINVAL);
    snprintf(jwk, sizeof jwk, "{\"kty\":\"RSA\",\"n\":\"%s\",\"e\":\"AAEAAQ\"}", RFC7638_N);
    assert_int_equal(from_string(jwk, VK_ALG_RS256, &k), VK_EINVAL); /* leading zero octet */
    snprintf(jwk, sizeof jwk, "{\"kty\":\"RSA\",\"n\":\"AA%s\",\"e\":\"AQAB\"}", RFC7638_N);
    assert_int_equal(from_string(jwk, VK_ALG_RS256, &k), VK_EINVAL);
    snprintf(jwk, sizeof jwk, "{\"kty\":\"RSA\",\"n\":\"%s\",\"e\":\"AQAB\"}", RFC7638_N);
    assert_int_equal(from_string(jwk, VK_ALG_PS256, &k), VK_OK); /* control */
    assert_int_equal(vk_jwk_alg(k), VK_ALG_PS256);
    vk_jwk_free(k);
}

/* ---- key sets ---- */

static void jwks_parse_skips_use_enc_and_unsupported_kty(void **state)
{
    char json[3000];
    struct vk_jwks *set = NULL;
    (void)state;
    snprintf(json, sizeof json,
             "{\"keys\":["
             "{\"kty\":\"EC\",\"crv\":\"P-256\",\"use\":\"enc\",\"kid\":\"enc\","
             "\"x\":\"%s\",\"y\":\"%s\"},"
             "{\"kty\":\"oct\",\"kid\":\"hmac\",\"k\":\"AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-E"
             "stJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow\"},"
             "{\"kty\":\"EC\",\"crv\":\"P-384\",\"kid\":\"p384\",\"x\":\"AAAA\",\"y\":\"AAAA\"},"
             "{\"kty\":\"OKP\",\"crv\":\"X25519\",\"kid\":\"x25519\",\"x\":\"%s\"},"
             "{\"kty\":\"RSA\",\"alg\":\"RSA-OAEP\",\"kid\":\"oaep\",\"n\":\"%s\","
             "\"e\":\"AQAB\"},"
             "{\"kty\":\"EC\",\"alg\":\"ES384\",\"kid\":\"es384\",\"crv\":\"P-256\","
             "\"x\":\"%s\",\"y\":\"%s\"},"
             "{\"kty\":\"EC\",\"key_ops\":[\"deriveKey\"],\"kid\":\"ecdh\",\"crv\":\"P-256\","
             "\"x\":\"%s\",\"y\":\"%s\"},"
             "{\"kid\":\"no-kty\"},"
             "{\"kty\":\"EC\",\"crv\":\"P-256\",\"use\":\"sig\",\"kid\":\"a3\","
             "\"x\":\"%s\",\"y\":\"%s\"},"
             "{\"kty\":\"RSA\",\"kid\":\"2011-04-29\",\"n\":\"%s\",\"e\":\"AQAB\"}"
             "]}",
             A3_X, A3_Y, RFC8037_X, RFC7638_N, A3_X, A3_Y, A3_X, A3_Y, A3_X, A3_Y, RFC7638_N);
    assert_int_equal(parse_set(json, &set), VK_OK);
    assert_int_equal(vk_jwks_count(set), 2);
    assert_int_equal(vk_jwk_alg(vk_jwks_find(set, VK_STR("a3"))), VK_ALG_ES256);
    /* an RSA key without alg is taken as RS256 */
    assert_int_equal(vk_jwk_alg(vk_jwks_find(set, VK_STR("2011-04-29"))), VK_ALG_RS256);
    assert_null(vk_jwks_find(set, VK_STR("enc")));
    assert_null(vk_jwks_find(set, VK_STR("hmac")));
    vk_jwks_unref(set);
}

static void jwks_parse_rejects_private_d(void **state)
{
    char json[600];
    struct vk_jwks *set = NULL;
    (void)state;
    snprintf(json, sizeof json,
             "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\","
             "\"x\":\"%s\",\"y\":\"%s\",\"d\":\"%s\"}]}",
             A3_X, A3_Y, A3_D);
    assert_int_equal(parse_set(json, &set), VK_EINVAL);
}

static char *many_keys(int n)
{
    size_t cap = (size_t)n * 200 + 32, o = 0;
    char *s = malloc(cap);
    assert_non_null(s);
    o += (size_t)snprintf(s + o, cap - o, "{\"keys\":[");
    for (int i = 0; i < n; i++)
        o += (size_t)snprintf(s + o, cap - o,
                              "%s{\"kty\":\"EC\",\"crv\":\"P-256\",\"kid\":\"k%d\",\"x\":\"%s\","
                              "\"y\":\"%s\"}",
                              i > 0 ? "," : "", i, A3_X, A3_Y);
    snprintf(s + o, cap - o, "]}");
    return s;
}

static void jwks_parse_rejects_more_than_32_keys(void **state)
{
    struct vk_jwks *set = NULL;
    (void)state;
    char *s = many_keys(VK_MAX_JWKS_KEYS);
    assert_int_equal(parse_set(s, &set), VK_OK);
    assert_int_equal(vk_jwks_count(set), VK_MAX_JWKS_KEYS);
    vk_jwks_unref(set);
    free(s);
    s = many_keys(VK_MAX_JWKS_KEYS + 1);
    assert_int_equal(parse_set(s, &set), VK_ETOOBIG);
    free(s);
}

static void jwks_parse_rejects_rsa_below_2048(void **state)
{
    struct vk_jwks *set = NULL;
    char json[1700];
    (void)state;
    char *small = rsa_jwk_of_size(1024);
    snprintf(json, sizeof json, "{\"keys\":[%s]}", small);
    assert_int_equal(parse_set(json, &set), VK_EINVAL);
    free(small);
}

/* fuzz_jwks found it: with a small-order Ed25519 key, (R = identity, S = 0) verifies for every
 * message under OpenSSL's cofactorless check. Every small-order encoding must be refused. */
static void jwk_rejects_small_order_ed25519_keys(void **state)
{
    (void)state;
    static const char *const xs[] = {
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", /* y = 0 */
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAIA", /* y = 0, x sign set */
        "AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", /* identity */
        "JuiVj8KyJ7BFw_SJ8u-Y8NXfrAXTxjM5sTgCiG1T_AU", /* order 8 */
        "JuiVj8KyJ7BFw_SJ8u-Y8NXfrAXTxjM5sTgCiG1T_IU", /* order 8, x sign set */
        "xxdqcD1N2E-6PAt2DRBnDyogU_osOczGTsf9d5KsA3o", /* order 8 */
        "xxdqcD1N2E-6PAt2DRBnDyogU_osOczGTsf9d5KsA_o", /* order 8, x sign set */
        "7P_______________________________________38", /* p - 1 (order 2) */
        "7f_______________________________________38", /* p (non-canonical 0) */
        "7v_______________________________________38", /* p + 1 (non-canonical 1) */
    };
    for (size_t i = 0; i < sizeof xs / sizeof xs[0]; i++) {
        char doc[256];
        struct vk_jwks *set = NULL;
        struct vk_err err = {{0}};
        int n = snprintf(doc, sizeof doc,
                         "{\"keys\":[{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"alg\":\"EdDSA\","
                         "\"x\":\"%s\"}]}",
                         xs[i]);
        int rc = vk_jwks_parse(doc, (size_t)n, &set, &err);
        if (rc == VK_OK) {
            assert_int_equal(vk_jwks_count(set), 0); /* skipped at best, never usable */
            vk_jwks_unref(set);
        }
    }
}

static void jwks_parse_rejects_malformed_documents(void **state)
{
    struct vk_err err = {{0}};
    struct vk_jwks *set = NULL;
    char json[600];
    (void)state;
    assert_int_equal(parse_set("not json", &set), VK_EINVAL);
    assert_int_equal(parse_set("[]", &set), VK_EINVAL);
    assert_int_equal(parse_set("{}", &set), VK_EINVAL);
    assert_int_equal(parse_set("{\"keys\":{}}", &set), VK_EINVAL);
    assert_int_equal(parse_set("{\"keys\":[1]}", &set), VK_EINVAL);
    assert_int_equal(parse_set("{\"keys\":[],\"keys\":[]}", &set), VK_EINVAL); /* duplicates */
    snprintf(json, sizeof json,
             "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\","
             "\"x\":\"%s\",\"x\":\"%s\",\"y\":\"%s\"}]}",
             A3_X, A3_X, A3_Y);
    assert_int_equal(parse_set(json, &set), VK_EINVAL);
    /* a key we implement but broken (y missing) rejects the set rather than shrinking it */
    snprintf(json, sizeof json, "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\"}]}",
             A3_X);
    assert_int_equal(parse_set(json, &set), VK_EINVAL);
    /* an empty set is valid: nothing will verify against it */
    assert_int_equal(parse_set("{\"keys\":[]}", &set), VK_OK);
    assert_int_equal(vk_jwks_count(set), 0);
    vk_jwks_unref(set);
    /* the length is bounded before the JSON parser sees it */
    char *big = malloc(VK_MAX_JSON_INPUT + 2);
    memset(big, ' ', VK_MAX_JSON_INPUT + 1);
    assert_int_equal(vk_jwks_parse(big, VK_MAX_JSON_INPUT + 1, &set, &err), VK_ETOOBIG);
    assert_null(set);
    free(big);
    assert_int_equal(vk_jwks_parse(NULL, 0, &set, &err), VK_EINVAL);
}

static void jwks_find_looks_up_by_kid(void **state)
{
    char json[1500];
    struct vk_jwks *set = NULL;
    (void)state;
    snprintf(json, sizeof json,
             "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"kid\":\"a3\","
             "\"x\":\"%s\",\"y\":\"%s\"},"
             "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"kid\":\"ed\",\"x\":\"%s\"},"
             "{\"kty\":\"RSA\",\"alg\":\"PS256\",\"kid\":\"2011-04-29\","
             "\"n\":\"%s\",\"e\":\"AQAB\"}"
             "]}",
             A3_X, A3_Y, RFC8037_X, RFC7638_N);
    assert_int_equal(parse_set(json, &set), VK_OK);
    assert_int_equal(vk_jwks_count(set), 3);
    assert_ptr_equal(vk_jwks_find(set, VK_STR("a3")), vk_jwks_get(set, 0));
    assert_ptr_equal(vk_jwks_find(set, VK_STR("ed")), vk_jwks_get(set, 1));
    assert_ptr_equal(vk_jwks_find(set, VK_STR("2011-04-29")), vk_jwks_get(set, 2));
    assert_int_equal(vk_jwk_alg(vk_jwks_get(set, 2)), VK_ALG_PS256);
    assert_null(vk_jwks_find(set, VK_STR("A3")));   /* kids are case-sensitive */
    assert_null(vk_jwks_find(set, VK_STR("a")));    /* and not prefixes */
    assert_null(vk_jwks_find(set, VK_STR("")));
    assert_null(vk_jwks_get(set, 3));
    assert_null(vk_jwks_find(NULL, VK_STR("a3")));
    assert_int_equal(vk_jwks_count(NULL), 0);
    vk_jwks_unref(set);
}

static void jwks_rejects_two_keys_with_one_kid_and_alg(void **state)
{
    char json[1500];
    struct vk_jwks *set = NULL;
    (void)state;
    snprintf(json, sizeof json,
             "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"kid\":\"same\","
             "\"x\":\"%s\",\"y\":\"%s\"},"
             "{\"kty\":\"EC\",\"crv\":\"P-256\",\"kid\":\"same\",\"x\":\"%s\",\"y\":\"%s\"}]}",
             A3_X, A3_Y, A3_X, A3_Y);
    assert_int_equal(parse_set(json, &set), VK_EINVAL);
    /* RFC 7517 §4.5 allows one kid on keys of different types: (kid, alg) stays unique */
    snprintf(json, sizeof json,
             "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"kid\":\"same\","
             "\"x\":\"%s\",\"y\":\"%s\"},"
             "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"kid\":\"same\",\"x\":\"%s\"}]}",
             A3_X, A3_Y, RFC8037_X);
    assert_int_equal(parse_set(json, &set), VK_OK);
    vk_jwks_unref(set);
}

static void jwks_refcount_keeps_the_set_alive(void **state)
{
    struct vk_err err = {{0}};
    struct vk_jwk *keys[1];
    struct vk_jwks *set = NULL;
    (void)state;
    assert_int_equal(vk_jwk_generate(VK_ALG_ES256, &keys[0], &err), VK_OK);
    assert_int_equal(vk_jwks_from_keys(keys, 1, &set), VK_OK);
    struct vk_jwks *held = vk_jwks_ref(set);
    assert_ptr_equal(held, set);
    vk_jwks_unref(set); /* the "server" swaps in a new set ... */
    assert_int_equal(vk_jwks_count(held), 1); /* ... while a request still uses this one */
    assert_true(vk_jwk_is_private(vk_jwks_get(held, 0)));
    vk_jwks_unref(held); /* last reference: freed (ASan would report a leak otherwise) */
    vk_jwks_unref(NULL);
    assert_null(vk_jwks_ref(NULL));
}

static void jwks_from_keys_consumes_keys_even_on_error(void **state)
{
    struct vk_err err = {{0}};
    struct vk_jwk *keys[VK_MAX_JWKS_KEYS + 1];
    struct vk_jwks *set = (struct vk_jwks *)1;
    (void)state;
    for (size_t i = 0; i < VK_MAX_JWKS_KEYS + 1; i++)
        assert_int_equal(vk_jwk_generate(VK_ALG_EDDSA, &keys[i], &err), VK_OK);
    assert_int_equal(vk_jwks_from_keys(keys, VK_MAX_JWKS_KEYS + 1, &set), VK_ETOOBIG);
    assert_null(set);
    /* ASan/LSan: every key above was freed by the failed call. */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(alg_names_are_exact_and_case_sensitive),
        cmocka_unit_test(thumbprint_equals_rfc7638_example),
        cmocka_unit_test(thumbprint_equals_rfc8037_example),
        cmocka_unit_test(rfc8037_private_key_gives_rfc_public_key_and_kid),
        cmocka_unit_test(generate_gives_private_key_with_thumbprint_kid),
        cmocka_unit_test(pem_round_trip_preserves_the_key),
        cmocka_unit_test(private_pem_rejects_wrong_type_garbage_encrypted_and_bad_kid),
        cmocka_unit_test(public_json_has_only_public_members),
        cmocka_unit_test(from_json_takes_alg_from_key_or_default),
        cmocka_unit_test(from_json_rejects_private_d),
        cmocka_unit_test(from_json_rejects_bad_ec_points),
        cmocka_unit_test(from_json_rejects_rsa_below_2048_and_bad_exponents),
        cmocka_unit_test(jwks_parse_skips_use_enc_and_unsupported_kty),
        cmocka_unit_test(jwks_parse_rejects_private_d),
        cmocka_unit_test(jwks_parse_rejects_more_than_32_keys),
        cmocka_unit_test(jwks_parse_rejects_rsa_below_2048),
        cmocka_unit_test(jwks_parse_rejects_malformed_documents),
        cmocka_unit_test(jwks_find_looks_up_by_kid),
        cmocka_unit_test(jwks_rejects_two_keys_with_one_kid_and_alg),
        cmocka_unit_test(jwk_rejects_small_order_ed25519_keys),
        cmocka_unit_test(jwks_refcount_keeps_the_set_alive),
        cmocka_unit_test(jwks_from_keys_consumes_keys_even_on_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
