/* Helpers shared by the test_verify_*.c files (static: each test is its own executable). Tokens
 * are made by hand here so that a test can put anything in a header or payload and still sign it
 * validly: the only reason such a token can fail is the property under test. */
#ifndef VK_TEST_VERIFY_TEST_H
#define VK_TEST_VERIFY_TEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/b64url.h"
#include "base/limits.h"
#include "jose/jose.h"
#include "valetkey.h"
#include "verify/verify.h"

/* Helpers not every test file uses. */
#define T_HELPER static __attribute__((unused))

#ifndef VK_SOURCE_DIR
#define VK_SOURCE_DIR "."
#endif

#define ISS "https://as.example"
#define AUD "https://api.example"
#define T0  2000000000 /* the pinned clock of the tests */

static int64_t test_now = T0;

T_HELPER int64_t test_clock(void *arg)
{
    (void)arg;
    return __atomic_load_n(&test_now, __ATOMIC_RELAXED);
}

T_HELPER void set_now(int64_t t)
{
    __atomic_store_n(&test_now, t, __ATOMIC_RELAXED);
}

T_HELPER char *t_b64(const void *p, size_t n)
{
    char *s = malloc(vk_b64url_enc_len(n) + 1);
    assert_non_null(s);
    vk_b64url_encode(p, n, s);
    return s;
}

static char *t_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2), unused));
T_HELPER char *t_printf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    assert_true(n >= 0);
    char *s = malloc((size_t)n + 1);
    assert_non_null(s);
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

/* BASE64URL(header) '.' BASE64URL(payload) '.' a valid signature of k over them. */
T_HELPER char *t_forge(const struct vk_jwk *k, const char *header, const char *payload)
{
    char *h = t_b64(header, strlen(header)), *p = t_b64(payload, strlen(payload));
    char *input = t_printf("%s.%s", h, p);
    uint8_t sig[512];
    size_t siglen = 0;
    assert_int_equal(vk_jwk_sign_input(k, input, strlen(input), sig, sizeof sig, &siglen), VK_OK);
    char *s = t_b64(sig, siglen);
    char *tok = t_printf("%s.%s", input, s);
    free(h);
    free(p);
    free(input);
    free(s);
    return tok;
}

/* An RFC 9068 header for key k. */
T_HELPER char *t_header(const struct vk_jwk *k, const char *typ)
{
    return t_printf("{\"alg\":\"%s\",\"typ\":\"%s\",\"kid\":\"%s\"}", vk_alg_name(vk_jwk_alg(k)),
                    typ, vk_jwk_kid(k));
}

/* A payload with the claims RFC 9068 requires; extra is appended inside the object (",..."). */
T_HELPER char *t_payload(const char *jti, int64_t exp, const char *extra)
{
    return t_printf("{\"iss\":\"" ISS "\",\"sub\":\"user-1\",\"aud\":\"" AUD "\","
                    "\"client_id\":\"vk_c_app\",\"scope\":\"ai:models ai:chat\","
                    "\"iat\":%lld,\"exp\":%lld,\"jti\":\"%s\"%s}",
                    (long long)(exp - 600), (long long)exp, jti, extra != NULL ? extra : "");
}

/* A well-formed access token signed by k. */
T_HELPER char *t_token(const struct vk_jwk *k, const char *jti, int64_t exp, const char *extra)
{
    char *h = t_header(k, "at+jwt"), *p = t_payload(jti, exp, extra);
    char *tok = t_forge(k, h, p);
    free(h);
    free(p);
    return tok;
}

/* A JWK Set document with the public halves of keys (NULL-terminated). */
T_HELPER char *t_jwks(struct vk_jwk *const *keys)
{
    json_t *arr = json_array();
    for (size_t i = 0; keys[i] != NULL; i++)
        json_array_append_new(arr, vk_jwk_public_json(keys[i]));
    json_t *doc = json_pack("{s:o}", "keys", arr);
    char *s = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    assert_non_null(s);
    return s;
}

T_HELPER struct vk_jwk *t_key(enum vk_alg alg)
{
    struct vk_err err = {{0}};
    struct vk_jwk *k = NULL;
    assert_int_equal(vk_jwk_generate(alg, &k, &err), VK_OK);
    return k;
}

static const char *const t_audiences[] = {AUD, NULL};

/* Options for a verifier over a static key set, on the test clock. */
T_HELPER void t_options(struct valetkey_options *o, const char *jwks)
{
    valetkey_options_init(o);
    o->issuer = ISS;
    o->audiences = t_audiences;
    o->jwks_json = jwks;
    o->clock = test_clock;
    o->realm = "api";
}

T_HELPER valetkey_verifier *t_verifier(const char *jwks)
{
    struct valetkey_options o;
    valetkey_verifier *v = NULL;
    t_options(&o, jwks);
    assert_int_equal(valetkey_verifier_new(&v, &o), VALETKEY_OK);
    return v;
}

T_HELPER int t_verify(valetkey_verifier *v, const char *tok)
{
    valetkey_claims *c = NULL;
    int rc = valetkey_verify(v, tok, strlen(tok), NULL, &c);
    if (rc == VALETKEY_OK)
        assert_non_null(c);
    else
        assert_null(c);
    valetkey_claims_free(c);
    return rc;
}

/* Reads tests/vectors/<name> into a NUL-terminated heap string, trailing newlines removed. */
T_HELPER char *t_vector(const char *name)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/vectors/%s", VK_SOURCE_DIR, name);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char *buf = calloc(1, 65536);
    assert_non_null(buf);
    size_t n = fread(buf, 1, 65535, f);
    fclose(f);
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        buf[--n] = '\0';
    return buf;
}

#endif
