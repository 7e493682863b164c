/* libvaletkey: access-token verification (src/verify/verifier.c, access.c, claims.c, policy.c):
 * what is accepted, what is refused and with which code, the seen-token cache, revocation by
 * jti, key-set replacement, and the WWW-Authenticate values. */
#include "verify_test.h"

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

static struct vk_jwk *es, *es2, *rs, *ed;
static char *jwks_all; /* es, rs, ed */

static int setup(void **state)
{
    (void)state;
    es = t_key(VK_ALG_ES256);
    es2 = t_key(VK_ALG_ES256);
    rs = t_key(VK_ALG_RS256);
    ed = t_key(VK_ALG_EDDSA);
    struct vk_jwk *keys[] = {es, rs, ed, NULL};
    jwks_all = t_jwks(keys);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    vk_jwk_free(es);
    vk_jwk_free(es2);
    vk_jwk_free(rs);
    vk_jwk_free(ed);
    free(jwks_all);
    return 0;
}

/* ---- accepted ---- */

static void valid_token_verifies_and_gives_its_claims(void **state)
{
    (void)state;
    set_now(T0);
    valetkey_verifier *v = t_verifier(jwks_all);
    char *tok = t_token(es, "jti-1", T0 + 600, ",\"aud2\":[1,\"x\"],\"uni\":\"caf\\u00e9\"");
    valetkey_claims *c = NULL;

    assert_int_equal(valetkey_verify(v, tok, strlen(tok), NULL, &c), VALETKEY_OK);
    assert_string_equal(valetkey_claims_sub(c), "user-1");
    assert_string_equal(valetkey_claims_client_id(c), "vk_c_app");
    assert_string_equal(valetkey_claims_scope(c), "ai:models ai:chat");
    assert_string_equal(valetkey_claims_jti(c), "jti-1");
    assert_int_equal(valetkey_claims_exp(c), T0 + 600);
    assert_null(valetkey_claims_cnf_jkt(c));
    assert_string_equal(valetkey_claims_get(c, "iss"), ISS);
    assert_string_equal(valetkey_claims_get_json(c, "aud2"), "[1,\"x\"]");
    assert_string_equal(valetkey_claims_get_json(c, "exp"), "2000000600");
    assert_null(valetkey_claims_get(c, "aud2"));  /* not a string */
    assert_string_equal(valetkey_claims_get(c, "uni"), "caf\xc3\xa9"); /* unescaped UTF-8 */
    assert_null(valetkey_claims_get(c, "missing"));
    assert_null(valetkey_claims_get_json(c, "missing"));
    assert_int_equal(valetkey_claims_require_scope(c, "ai:chat"), VALETKEY_OK);
    assert_int_equal(valetkey_claims_require_scope(c, "ai:models ai:chat"), VALETKEY_OK);
    assert_int_equal(valetkey_claims_require_scope(c, ""), VALETKEY_OK);
    assert_int_equal(valetkey_claims_require_scope(c, "ai:images"), VALETKEY_INSUFFICIENT_SCOPE);
    assert_int_equal(valetkey_claims_require_scope(c, "ai:cha"), VALETKEY_INSUFFICIENT_SCOPE);
    assert_int_equal(valetkey_claims_require_scope(c, "AI:CHAT"), VALETKEY_INSUFFICIENT_SCOPE);
    valetkey_claims_free(c);
    free(tok);

    /* A NUL inside a string claim: refused by the parser rather than truncated somewhere. */
    tok = t_token(es, "jti-nul", T0 + 600, ",\"nul\":\"a\\u0000b\"");
    assert_int_equal(t_verify(v, tok), VALETKEY_TOKEN_MALFORMED);
    free(tok);

    /* Every algorithm of the key set, each with its own key. */
    tok = t_token(rs, "jti-rs", T0 + 600, NULL);
    assert_int_equal(t_verify(v, tok), VALETKEY_OK);
    free(tok);
    tok = t_token(ed, "jti-ed", T0 + 600, NULL);
    assert_int_equal(t_verify(v, tok), VALETKEY_OK);
    free(tok);
    valetkey_verifier_free(v);
}

static void typ_may_carry_the_application_prefix(void **state)
{
    (void)state;
    set_now(T0);
    valetkey_verifier *v = t_verifier(jwks_all);
    char *h = t_header(es, "application/AT+JWT"), *p = t_payload("j", T0 + 60, NULL);
    char *tok = t_forge(es, h, p);
    assert_int_equal(t_verify(v, tok), VALETKEY_OK); /* RFC 7515 §4.1.9 */
    free(h);
    free(p);
    free(tok);
    valetkey_verifier_free(v);
}

static void audience_may_be_an_array(void **state)
{
    (void)state;
    set_now(T0);
    valetkey_verifier *v = t_verifier(jwks_all);
    char *h = t_header(es, "at+jwt");
    char *p = t_printf("{\"iss\":\"" ISS "\",\"sub\":\"u\",\"aud\":[\"other\",\"" AUD "\"],"
                       "\"client_id\":\"c\",\"iat\":%d,\"exp\":%d,\"jti\":\"a\"}",
                       T0, T0 + 60);
    char *tok = t_forge(es, h, p);
    valetkey_claims *c = NULL;
    assert_int_equal(valetkey_verify(v, tok, strlen(tok), NULL, &c), VALETKEY_OK);
    /* A route may require one audience in particular, whole and exact. */
    assert_int_equal(valetkey_claims_require_audience(c, "other"), VALETKEY_OK);
    assert_int_equal(valetkey_claims_require_audience(c, AUD), VALETKEY_OK);
    assert_int_equal(valetkey_claims_require_audience(c, "othe"), VALETKEY_TOKEN_AUDIENCE);
    assert_int_equal(valetkey_claims_require_audience(c, "\"other\""), VALETKEY_TOKEN_AUDIENCE);
    assert_int_equal(valetkey_claims_require_audience(c, NULL), VALETKEY_EINVAL);
    valetkey_claims_free(c);
    free(p);
    free(tok);
    /* One audience as a string. */
    tok = t_token(es, "aud-str", T0 + 600, NULL);
    assert_int_equal(valetkey_verify(v, tok, strlen(tok), NULL, &c), VALETKEY_OK);
    assert_int_equal(valetkey_claims_require_audience(c, AUD), VALETKEY_OK);
    assert_int_equal(valetkey_claims_require_audience(c, AUD "/"), VALETKEY_TOKEN_AUDIENCE);
    valetkey_claims_free(c);
    free(tok);
    p = t_printf("{\"iss\":\"" ISS "\",\"sub\":\"u\",\"aud\":[\"other\",\"" AUD "/\"],"
                 "\"client_id\":\"c\",\"iat\":%d,\"exp\":%d,\"jti\":\"b\"}",
                 T0, T0 + 60);
    tok = t_forge(es, h, p);
    assert_int_equal(t_verify(v, tok), VALETKEY_TOKEN_AUDIENCE);
    free(h);
    free(p);
    free(tok);
    valetkey_verifier_free(v);
}

/* ---- refused: algorithm and key confusion ---- */

static void alg_none_is_refused(void **state)
{
    (void)state;
    set_now(T0);
    valetkey_verifier *v = t_verifier(jwks_all);
    char *p = t_payload("none-1", T0 + 60, NULL);
    char *h64 = t_b64("{\"alg\":\"none\",\"typ\":\"at+jwt\"}", 30);
    char *p64 = t_b64(p, strlen(p));
    char *tok = t_printf("%s.%s.", h64, p64);
    assert_int_equal(t_verify(v, tok), VALETKEY_TOKEN_MALFORMED);
    free(tok);
    /* With a kid and a junk signature too. */
    free(h64);
    char *h = t_printf("{\"alg\":\"none\",\"typ\":\"at+jwt\",\"kid\":\"%s\"}", vk_jwk_kid(es));
    h64 = t_b64(h, strlen(h));
    tok = t_printf("%s.%s.AAAA", h64, p64);
    assert_int_equal(t_verify(v, tok), VALETKEY_TOKEN_MALFORMED);
    free(h);
    free(tok);
    free(h64);
    free(p64);
    free(p);
    valetkey_verifier_free(v);
}

/* The classic key confusion: HS256 "signed" with the verifier's public key as the HMAC secret. */
static void hs256_signed_with_the_public_key_is_refused(void **state)
{
    (void)state;
    set_now(T0);
    struct vk_jwk *keys[] = {rs, NULL};
    char *jwks = t_jwks(keys);
    valetkey_verifier *v = t_verifier(jwks);
    json_t *pub = vk_jwk_public_json(rs);
    char *secret = json_dumps(pub, JSON_COMPACT); /* one guess of "the public key as bytes" */
    const char *n = json_string_value(json_object_get(pub, "n"));
    const char *secrets[] = {secret, n, jwks};
    char *h = t_printf("{\"alg\":\"HS256\",\"typ\":\"at+jwt\",\"kid\":\"%s\"}", vk_jwk_kid(rs));
    char *p = t_payload("hs-1", T0 + 60, NULL);
    char *h64 = t_b64(h, strlen(h)), *p64 = t_b64(p, strlen(p));
    char *input = t_printf("%s.%s", h64, p64);
    for (size_t i = 0; i < 3; i++) {
        uint8_t mac[32];
        unsigned int maclen = 0;
        HMAC(EVP_sha256(), secrets[i], (int)strlen(secrets[i]), (const uint8_t *)input,
             strlen(input), mac, &maclen);
        char *m64 = t_b64(mac, maclen);
        char *tok = t_printf("%s.%s", input, m64);
        assert_int_equal(t_verify(v, tok), VALETKEY_TOKEN_MALFORMED);
        free(tok);
        free(m64);
    }
    free(input);
    free(h64);
    free(p64);
    free(h);
    free(p);
    free(secret);
    json_decref(pub);
    free(jwks);
    valetkey_verifier_free(v);
}

/* A header that names an RSA algorithm with an EC key's kid (alg/kty mismatch). */
static void alg_that_differs_from_the_keys_is_refused(void **state)
{
    (void)state;
    set_now(T0);
    valetkey_verifier *v = t_verifier(jwks_all);
    char *h = t_printf("{\"alg\":\"RS256\",\"typ\":\"at+jwt\",\"kid\":\"%s\"}", vk_jwk_kid(es));
    char *p = t_payload("mix-1", T0 + 60, NULL);
    char *tok = t_forge(rs, h, p); /* validly signed by the RSA key, but kid names the EC key */
    assert_int_equal(t_verify(v, tok), VALETKEY_TOKEN_MALFORMED);
    free(tok);
    free(h);
    h = t_printf("{\"alg\":\"EdDSA\",\"typ\":\"at+jwt\",\"kid\":\"%s\"}", vk_jwk_kid(es));
    tok = t_forge(ed, h, p);
    assert_int_equal(t_verify(v, tok), VALETKEY_TOKEN_MALFORMED);
    free(tok);
    free(h);
    free(p);
    valetkey_verifier_free(v);
}

static void signature_by_another_key_is_refused(void **state)
{
    (void)state;
    set_now(T0);
    valetkey_verifier *v = t_verifier(jwks_all);
    /* es2 signs, but the header names es's kid. */
    char *h = t_header(es, "at+jwt"), *p = t_payload("other-1", T0 + 60, NULL);
    char *tok = t_forge(es2, h, p);
    assert_int_equal(t_verify(v, tok), VALETKEY_TOKEN_SIGNATURE);
    /* One changed payload byte under a valid signature. */
    char *dot = strchr(tok, '.');
    dot[3] = dot[3] == 'A' ? 'B' : 'A';
    assert_int_not_equal(t_verify(v, tok), VALETKEY_OK);
    free(tok);
    free(h);
    free(p);
    valetkey_verifier_free(v);
}

static void only_the_configured_algorithms_are_accepted(void **state)
{
    (void)state;
    set_now(T0);
    struct valetkey_options o;
    valetkey_verifier *v = NULL;
    const char *const es_only[] = {"ES256", NULL};
    t_options(&o, jwks_all);
    o.algorithms = es_only;
    assert_int_equal(valetkey_verifier_new(&v, &o), VALETKEY_OK);
    char *tok = t_token(rs, "rs-1", T0 + 60, NULL);
    assert_int_equal(t_verify(v, tok), VALETKEY_TOKEN_MALFORMED);
    free(tok);
    tok = t_token(es, "es-1", T0 + 60, NULL);
    assert_int_equal(t_verify(v, tok), VALETKEY_OK);
    free(tok);
    valetkey_verifier_free(v);
}

static void none_and_hmac_cannot_be_configured(void **state)
{
    (void)state;
    struct valetkey_options o;
    valetkey_verifier *v = (valetkey_verifier *)&o;
    const char *const bad[][3] = {{"none", NULL}, {"HS256", NULL}, {"ES256", "HS512", NULL},
                                  {"es256", NULL}, {NULL}};
    for (size_t i = 0; i < 5; i++) {
        t_options(&o, jwks_all);
        o.algorithms = bad[i];
        assert_int_equal(valetkey_verifier_new(&v, &o), VALETKEY_EINVAL);
        assert_null(v);
        t_options(&o, jwks_all);
        o.dpop_algorithms = bad[i];
        assert_int_equal(valetkey_verifier_new(&v, &o), VALETKEY_EINVAL);
    }
}

static void options_are_checked(void **state)
{
    (void)state;
    struct valetkey_options o;
    valetkey_verifier *v = NULL;
    const char *const none[] = {NULL};

    t_options(&o, jwks_all);
    o.issuer = NULL;
    assert_int_equal(valetkey_verifier_new(&v, &o), VALETKEY_EINVAL);
    t_options(&o, jwks_all);
    o.audiences = NULL; /* RFC 9068 §4: the audience check is not optional */
    assert_int_equal(valetkey_verifier_new(&v, &o), VALETKEY_EINVAL);
    t_options(&o, jwks_all);
    o.audiences = none;
    assert_int_equal(valetkey_verifier_new(&v, &o), VALETKEY_EINVAL);
    t_options(&o, jwks_all);
    o.jwks_file = "/nonexistent";
    assert_int_equal(valetkey_verifier_new(&v, &o), VALETKEY_EINVAL); /* both json and file */
    t_options(&o, NULL);
    o.jwks_file = "/nonexistent";
    assert_int_equal(valetkey_verifier_new(&v, &o), VALETKEY_EFETCH);
    t_options(&o, "{\"keys\":[]}");
    assert_int_equal(valetkey_verifier_new(&v, &o), VALETKEY_EFETCH);
    t_options(&o, "not json");
    assert_int_equal(valetkey_verifier_new(&v, &o), VALETKEY_EFETCH);
    t_options(&o, jwks_all);
    o.leeway = -1;
    assert_int_equal(valetkey_verifier_new(&v, &o), VALETKEY_EINVAL);
    t_options(&o, jwks_all);
    o.realm = "a\"b"; /* would break out of the quoted-string */
    assert_int_equal(valetkey_verifier_new(&v, &o), VALETKEY_EINVAL);
    t_options(&o, jwks_all);
    o.struct_size = sizeof o + 8; /* a newer caller: fields this library does not know */
    assert_int_equal(valetkey_verifier_new(&v, &o), VALETKEY_EINVAL);
    t_options(&o, NULL);
    o.issuer = "http://as.example.com"; /* discovery over http to a non-loopback host */
    assert_int_equal(valetkey_verifier_new(&v, &o), VALETKEY_EINVAL);
    assert_int_equal(valetkey_verifier_new(NULL, &o), VALETKEY_EINVAL);
    assert_int_equal(valetkey_verifier_new(&v, NULL), VALETKEY_EINVAL);
    assert_null(v);
    valetkey_verifier_free(NULL);
}

static void jwks_file_is_read(void **state)
{
    (void)state;
    set_now(T0);
    char path[] = "/tmp/vk-jwks-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fputs(jwks_all, f);
    fclose(f);
    struct valetkey_options o;
    valetkey_verifier *v = NULL;
    t_options(&o, NULL);
    o.jwks_file = path;
    assert_int_equal(valetkey_verifier_new(&v, &o), VALETKEY_OK);
    char *tok = t_token(es, "file-1", T0 + 60, NULL);
    assert_int_equal(t_verify(v, tok), VALETKEY_OK);
    free(tok);
    valetkey_verifier_free(v);
    unlink(path);
}

/* ---- refused: type, issuer, audience, claims ---- */

static void an_id_token_is_not_an_access_token(void **state)
{
    (void)state;
    set_now(T0);
    valetkey_verifier *v = t_verifier(jwks_all);
    const char *typs[] = {"JWT", "jwt", "dpop+jwt", "application/jwt"};
    char *p = t_payload("id-1", T0 + 60, ",\"nonce\":\"n\",\"azp\":\"vk_c_app\"");
    for (size_t i = 0; i < 4; i++) {
        char *h = t_header(es, typs[i]);
        char *tok = t_forge(es, h, p);
        assert_int_equal(t_verify(v, tok), VALETKEY_TOKEN_TYPE);
        free(h);
        free(tok);
    }
    char *h = t_printf("{\"alg\":\"ES256\",\"kid\":\"%s\"}", vk_jwk_kid(es)); /* no typ */
    char *tok = t_forge(es, h, p);
    assert_int_equal(t_verify(v, tok), VALETKEY_TOKEN_TYPE);
    free(h);
    free(tok);
    free(p);
    valetkey_verifier_free(v);
}

static void issuer_and_audience_must_match_exactly(void **state)
{
    (void)state;
    set_now(T0);
    valetkey_verifier *v = t_verifier(jwks_all);
    const char *iss[] = {"https://as.example/", "https://AS.example", "https://evil.example", ""};
    char *h = t_header(es, "at+jwt");
    for (size_t i = 0; i < 4; i++) {
        char *p = t_printf("{\"iss\":\"%s\",\"sub\":\"u\",\"aud\":\"" AUD "\",\"client_id\":\"c\","
                           "\"iat\":%d,\"exp\":%d,\"jti\":\"i%zu\"}",
                           iss[i], T0, T0 + 60, i);
        char *tok = t_forge(es, h, p);
        assert_int_equal(t_verify(v, tok), VALETKEY_TOKEN_ISSUER);
        free(p);
        free(tok);
    }
    const char *aud[] = {"\"https://api.example/\"", "\"https://other.example\"", "[]", "42",
                         "null"};
    for (size_t i = 0; i < 5; i++) {
        char *p = t_printf("{\"iss\":\"" ISS "\",\"sub\":\"u\",\"aud\":%s,\"client_id\":\"c\","
                           "\"iat\":%d,\"exp\":%d,\"jti\":\"a%zu\"}",
                           aud[i], T0, T0 + 60, i);
        char *tok = t_forge(es, h, p);
        assert_int_equal(t_verify(v, tok), VALETKEY_TOKEN_AUDIENCE);
        free(p);
        free(tok);
    }
    free(h);
    valetkey_verifier_free(v);
}

static void required_claims_are_required(void **state)
{
    (void)state;
    set_now(T0);
    valetkey_verifier *v = t_verifier(jwks_all);
    char *h = t_header(es, "at+jwt");
    const char *bodies[] = {
        "\"sub\":\"u\",\"client_id\":\"c\"",                 /* no jti */
        "\"sub\":\"u\",\"client_id\":\"c\",\"jti\":\"\"",    /* empty jti */
        "\"sub\":\"u\",\"client_id\":\"c\",\"jti\":7",       /* jti not a string */
        "\"client_id\":\"c\",\"jti\":\"j\"",                 /* no sub */
        "\"sub\":\"u\",\"jti\":\"j\"",                       /* no client_id */
        "\"sub\":\"u\",\"client_id\":\"c\",\"jti\":\"j\",\"scope\":[\"a\"]",
        "\"sub\":\"u\",\"client_id\":\"c\",\"jti\":\"j\",\"cnf\":{\"x5t#S256\":\"abc\"}",
        "\"sub\":\"u\",\"client_id\":\"c\",\"jti\":\"j\",\"cnf\":{\"jkt\":\"short\"}",
        "\"sub\":\"u\",\"client_id\":\"c\",\"jti\":\"j\",\"cnf\":\"x\"",
    };
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        char *p = t_printf("{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"iat\":%d,\"exp\":%d,%s}",
                           T0, T0 + 60, bodies[i]);
        char *tok = t_forge(es, h, p);
        assert_int_equal(t_verify(v, tok), VALETKEY_TOKEN_CLAIMS);
        free(p);
        free(tok);
    }
    /* A jti longer than 255 bytes. */
    char jti[300];
    memset(jti, 'j', sizeof jti - 1);
    jti[sizeof jti - 1] = '\0';
    char *tok = t_token(es, jti, T0 + 60, NULL);
    assert_int_equal(t_verify(v, tok), VALETKEY_TOKEN_CLAIMS);
    free(tok);
    /* exp missing. */
    char *p = t_printf("{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"sub\":\"u\",\"client_id\":\"c\","
                       "\"jti\":\"j\"}");
    tok = t_forge(es, h, p);
    assert_int_equal(t_verify(v, tok), VALETKEY_TOKEN_CLAIMS);
    free(p);
    free(tok);
    free(h);
    valetkey_verifier_free(v);
}

/* ---- time ---- */

static void exp_nbf_and_iat_honour_the_leeway(void **state)
{
    (void)state;
    struct valetkey_options o;
    valetkey_verifier *v = NULL;
    t_options(&o, jwks_all);
    o.leeway = 30;
    o.seen_cache_entries = 0; /* every call checks in full */
    assert_int_equal(valetkey_verifier_new(&v, &o), VALETKEY_OK);
    char *tok = t_token(es, "t-1", T0, NULL); /* exp = T0 */

    set_now(T0 - 1);
    assert_int_equal(t_verify(v, tok), VALETKEY_OK);
    set_now(T0 + 29); /* exp + leeway not reached */
    assert_int_equal(t_verify(v, tok), VALETKEY_OK);
    set_now(T0 + 30); /* RFC 7519 §4.1.4: now must be before exp (+ leeway) */
    assert_int_equal(t_verify(v, tok), VALETKEY_TOKEN_EXPIRED);
    free(tok);

    char *h = t_header(es, "at+jwt");
    char *p = t_payload("t-2", T0 + 600, ",\"nbf\":2000000100");
    tok = t_forge(es, h, p);
    set_now(T0 + 69); /* nbf - leeway - 1 */
    assert_int_equal(t_verify(v, tok), VALETKEY_TOKEN_NOT_YET_VALID);
    set_now(T0 + 70);
    assert_int_equal(t_verify(v, tok), VALETKEY_OK);
    free(p);
    free(tok);
    /* iat in the future beyond the leeway: bogus, not early. */
    p = t_printf("{\"iss\":\"" ISS "\",\"sub\":\"u\",\"aud\":\"" AUD "\",\"client_id\":\"c\","
                 "\"iat\":%d,\"exp\":%d,\"jti\":\"t-3\"}",
                 T0 + 100, T0 + 600);
    tok = t_forge(es, h, p);
    set_now(T0 + 69);
    assert_int_equal(t_verify(v, tok), VALETKEY_TOKEN_CLAIMS);
    set_now(T0 + 70);
    assert_int_equal(t_verify(v, tok), VALETKEY_OK);
    free(p);
    free(tok);
    free(h);
    valetkey_verifier_free(v);
}

/* ---- the seen-token cache ---- */

static void a_token_seen_before_is_a_cache_hit(void **state)
{
    (void)state;
    set_now(T0);
    valetkey_verifier *v = t_verifier(jwks_all);
    struct vk_verifier_stats st;
    char *tok = t_token(es, "hit-1", T0 + 60, NULL);
    valetkey_claims *a = NULL, *b = NULL;

    assert_int_equal(valetkey_verify(v, tok, strlen(tok), NULL, &a), VALETKEY_OK);
    assert_int_equal(valetkey_verify(v, tok, strlen(tok), NULL, &b), VALETKEY_OK);
    assert_ptr_equal(a, b); /* the same shared claims: no parsing the second time */
    vk_verifier_stats(v, &st);
    assert_int_equal(st.seen_entries, 1);
    valetkey_claims_free(a);
    /* The cache's reference keeps b alive after the first holder freed. */
    assert_string_equal(valetkey_claims_jti(b), "hit-1");
    valetkey_claims *c = valetkey_claims_ref(b);
    valetkey_claims_free(b);
    assert_string_equal(valetkey_claims_sub(c), "user-1");
    valetkey_claims_free(c);

    /* A cached token still expires. */
    set_now(T0 + 60 + 30);
    assert_int_equal(t_verify(v, tok), VALETKEY_TOKEN_EXPIRED);
    vk_verifier_stats(v, &st);
    assert_int_equal(st.seen_entries, 0);
    free(tok);

    /* A verification without a claims pointer still caches and frees. */
    tok = t_token(es, "hit-2", T0 + 600, NULL);
    assert_int_equal(valetkey_verify(v, tok, strlen(tok), NULL, NULL), VALETKEY_OK);
    assert_int_equal(valetkey_verify(v, tok, strlen(tok), NULL, NULL), VALETKEY_OK);
    free(tok);
    valetkey_verifier_free(v);
}

static void the_cache_is_bounded_and_evicts(void **state)
{
    (void)state;
    set_now(T0);
    struct valetkey_options o;
    valetkey_verifier *v = NULL;
    struct vk_verifier_stats st;
    t_options(&o, jwks_all);
    o.seen_cache_entries = 8; /* one set of eight ways */
    assert_int_equal(valetkey_verifier_new(&v, &o), VALETKEY_OK);
    char *toks[40];
    for (size_t i = 0; i < 40; i++) {
        char jti[16];
        snprintf(jti, sizeof jti, "ev-%zu", i);
        toks[i] = t_token(es, jti, T0 + 600, NULL);
        set_now(T0 + (int64_t)i); /* last_used orders the entries */
        assert_int_equal(t_verify(v, toks[i]), VALETKEY_OK);
        vk_verifier_stats(v, &st);
        assert_true(st.seen_entries <= 8);
    }
    assert_int_equal(st.seen_entries, 8);
    /* Evicted tokens verify again in full (and come back into the cache). */
    for (size_t i = 0; i < 40; i++)
        assert_int_equal(t_verify(v, toks[i]), VALETKEY_OK);
    vk_verifier_stats(v, &st);
    assert_int_equal(st.seen_entries, 8);
    for (size_t i = 0; i < 40; i++)
        free(toks[i]);
    valetkey_verifier_free(v);
}

/* RFC 7518 §3.4 signatures are (r, s); (r, n - s) verifies as well. */
static char *ecdsa_twin(const char *tok)
{
    const char *dot = strrchr(tok, '.');
    uint8_t sig[64];
    size_t n = 0;
    assert_int_equal(vk_b64url_decode(vk_str_c(dot + 1), sig, sizeof sig, &n), VK_OK);
    assert_int_equal(n, 64);
    EC_GROUP *g = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
    BIGNUM *s = BN_bin2bn(sig + 32, 32, NULL);
    BIGNUM *ns = BN_new();
    assert_true(BN_sub(ns, EC_GROUP_get0_order(g), s) == 1);
    assert_int_equal(BN_bn2binpad(ns, sig + 32, 32), 32);
    char *s64 = t_b64(sig, 64);
    char *twin = t_printf("%.*s.%s", (int)(dot - tok), tok, s64);
    free(s64);
    BN_free(s);
    BN_free(ns);
    EC_GROUP_free(g);
    return twin;
}

static void revocation_is_by_jti_and_reaches_cached_tokens(void **state)
{
    (void)state;
    set_now(T0);
    valetkey_verifier *v = t_verifier(jwks_all);
    struct vk_verifier_stats st;
    char *tok = t_token(es, "rev-1", T0 + 600, NULL);
    char *twin = ecdsa_twin(tok);
    char *other = t_token(es, "rev-2", T0 + 600, NULL);

    assert_string_not_equal(tok, twin);
    assert_int_equal(t_verify(v, tok), VALETKEY_OK);
    assert_int_equal(t_verify(v, twin), VALETKEY_OK); /* a second string for one token */
    assert_int_equal(t_verify(v, other), VALETKEY_OK);
    vk_verifier_stats(v, &st);
    assert_int_equal(st.seen_entries, 3);

    assert_int_equal(vk_verifier_revoke(v, VK_REVOKE_JTI, VK_STR("rev-1"), T0 + 600), VK_OK);
    assert_int_equal(t_verify(v, tok), VALETKEY_TOKEN_REVOKED);  /* was cached */
    assert_int_equal(t_verify(v, twin), VALETKEY_TOKEN_REVOKED); /* was cached too */
    assert_int_equal(t_verify(v, tok), VALETKEY_TOKEN_REVOKED);  /* and is not re-admitted */
    assert_int_equal(t_verify(v, other), VALETKEY_OK);

    /* Revoked before it was ever seen. */
    char *late = t_token(es, "rev-3", T0 + 600, NULL);
    assert_int_equal(vk_verifier_revoke(v, VK_REVOKE_JTI, VK_STR("rev-3"), T0 + 600), VK_OK);
    assert_int_equal(t_verify(v, late), VALETKEY_TOKEN_REVOKED);
    /* The revocation outlives exp by the leeway, then is forgotten with the token. */
    set_now(T0 + 600 + 29);
    assert_int_equal(t_verify(v, late), VALETKEY_TOKEN_REVOKED);
    set_now(T0 + 600 + 30);
    assert_int_equal(t_verify(v, late), VALETKEY_TOKEN_EXPIRED);
    assert_int_equal(vk_verifier_revoke(v, VK_REVOKE_JTI, VK_STR(""), T0), VK_EINVAL);
    free(late);
    free(tok);
    free(twin);
    free(other);
    valetkey_verifier_free(v);
}

static void a_full_revocation_list_refuses_instead_of_forgetting(void **state)
{
    (void)state;
    set_now(T0);
    struct valetkey_options o;
    valetkey_verifier *v = NULL;
    t_options(&o, jwks_all);
    o.revocation_entries = 16;
    assert_int_equal(valetkey_verifier_new(&v, &o), VALETKEY_OK);
    size_t ok = 0;
    int rc = VK_OK;
    for (size_t i = 0; i < 100000 && rc == VK_OK; i++) {
        char jti[32];
        snprintf(jti, sizeof jti, "full-%zu", i);
        rc = vk_verifier_revoke(v, VK_REVOKE_JTI, vk_str_c(jti), T0 + 600);
        if (rc == VK_OK)
            ok++;
    }
    assert_int_equal(rc, VK_ETOOBIG);
    assert_true(ok >= 16);
    /* Every revocation that was accepted is still in force. */
    for (size_t i = 0; i < ok; i++) {
        char jti[32];
        snprintf(jti, sizeof jti, "full-%zu", i);
        char *tok = t_token(es, jti, T0 + 600, NULL);
        assert_int_equal(t_verify(v, tok), VALETKEY_TOKEN_REVOKED);
        free(tok);
    }
    /* When they expire, there is room again. */
    set_now(T0 + 700);
    assert_int_equal(vk_verifier_revoke(v, VK_REVOKE_JTI, VK_STR("after"), T0 + 1300), VK_OK);
    valetkey_verifier_free(v);
}

static void a_key_removed_from_the_set_invalidates_cached_tokens(void **state)
{
    (void)state;
    set_now(T0);
    valetkey_verifier *v = t_verifier(jwks_all);
    char *tok = t_token(es, "rot-1", T0 + 600, NULL);
    char *tok_rs = t_token(rs, "rot-2", T0 + 600, NULL);
    assert_int_equal(t_verify(v, tok), VALETKEY_OK);
    assert_int_equal(t_verify(v, tok_rs), VALETKEY_OK);

    /* Adding a key keeps what was verified. */
    struct vk_jwk *more[] = {es, rs, ed, es2, NULL};
    char *bigger = t_jwks(more);
    assert_int_equal(valetkey_verifier_set_jwks(v, bigger, strlen(bigger)), VALETKEY_OK);
    assert_int_equal(t_verify(v, tok), VALETKEY_OK);
    char *tok2 = t_token(es2, "rot-3", T0 + 600, NULL);
    assert_int_equal(t_verify(v, tok2), VALETKEY_OK);

    /* Removing es: its tokens are refused even though they were cached. */
    struct vk_jwk *fewer[] = {rs, es2, NULL};
    char *smaller = t_jwks(fewer);
    assert_int_equal(valetkey_verifier_set_jwks(v, smaller, strlen(smaller)), VALETKEY_OK);
    assert_int_equal(t_verify(v, tok), VALETKEY_TOKEN_UNKNOWN_KEY);
    assert_int_equal(t_verify(v, tok_rs), VALETKEY_OK);
    assert_int_equal(t_verify(v, tok2), VALETKEY_OK);
    assert_int_equal(valetkey_verifier_set_jwks(v, "{\"keys\":[]}", 11), VALETKEY_EFETCH);
    assert_int_equal(valetkey_verifier_set_jwks(v, "{", 1), VALETKEY_EFETCH);
    assert_int_equal(t_verify(v, tok_rs), VALETKEY_OK); /* a bad set changes nothing */
    free(bigger);
    free(smaller);
    free(tok);
    free(tok2);
    free(tok_rs);
    valetkey_verifier_free(v);
}

static void unknown_kid_without_a_remote_source_is_refused(void **state)
{
    (void)state;
    set_now(T0);
    struct vk_jwk *keys[] = {es, NULL};
    char *jwks = t_jwks(keys);
    valetkey_verifier *v = t_verifier(jwks);
    char *tok = t_token(es2, "kid-1", T0 + 60, NULL);
    assert_int_equal(t_verify(v, tok), VALETKEY_TOKEN_UNKNOWN_KEY);
    free(tok);
    free(jwks);
    valetkey_verifier_free(v);
}

static void malformed_and_oversized_tokens_are_refused(void **state)
{
    (void)state;
    set_now(T0);
    valetkey_verifier *v = t_verifier(jwks_all);
    const char *bad[] = {"a", "a.b", "a.b.c", "a.b.c.d", "..", "e30.e30.", "!!!.e30.AAAA"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(t_verify(v, bad[i]), VALETKEY_TOKEN_MALFORMED);
    assert_int_equal(valetkey_verify(v, "", 0, NULL, NULL), VALETKEY_NO_TOKEN);
    assert_int_equal(valetkey_verify(v, NULL, 5, NULL, NULL), VALETKEY_NO_TOKEN);
    char *big = malloc(VALETKEY_MAX_TOKEN_LEN + 2);
    memset(big, 'A', VALETKEY_MAX_TOKEN_LEN + 1);
    big[VALETKEY_MAX_TOKEN_LEN + 1] = '\0';
    assert_int_equal(t_verify(v, big), VALETKEY_TOKEN_MALFORMED);
    free(big);
    struct valetkey_request rq = {.scheme = 7};
    assert_int_equal(valetkey_verify(v, "a", 1, &rq, NULL), VALETKEY_EINVAL);
    assert_int_equal(valetkey_verify(NULL, "a", 1, NULL, NULL), VALETKEY_EINVAL);
    valetkey_verifier_free(v);
}

/* ---- the Authorization header, status codes, WWW-Authenticate ---- */

static void authorization_header_is_parsed_strictly(void **state)
{
    (void)state;
    int scheme = -1;
    const char *tok = NULL;
    size_t len = 0;

    assert_int_equal(valetkey_authorization_parse("Bearer abc.def-_~+/==", &scheme, &tok, &len),
                     VALETKEY_OK);
    assert_int_equal(scheme, VALETKEY_SCHEME_BEARER);
    assert_int_equal(len, strlen("abc.def-_~+/=="));
    assert_int_equal(valetkey_authorization_parse("bEARER  x", &scheme, &tok, &len), VALETKEY_OK);
    assert_int_equal(len, 1);
    assert_int_equal(valetkey_authorization_parse("DPoP x.y.z", &scheme, &tok, &len),
                     VALETKEY_OK);
    assert_int_equal(scheme, VALETKEY_SCHEME_DPOP);
    assert_int_equal(valetkey_authorization_parse(NULL, &scheme, &tok, &len), VALETKEY_NO_TOKEN);
    assert_int_equal(valetkey_authorization_parse("", &scheme, &tok, &len), VALETKEY_NO_TOKEN);
    assert_int_equal(valetkey_authorization_parse("Basic dXNlcjpwdw==", &scheme, &tok, &len),
                     VALETKEY_NO_TOKEN);
    const char *bad[] = {"Bearer", "Bearer ", "Bearer a b", "Bearer a=b", "Bearer a,b",
                         "Bearer a\"", "Bearer =", "Bearer a ", "Bearer\ta"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(valetkey_authorization_parse(bad[i], &scheme, &tok, &len),
                         strcmp(bad[i], "Bearer\ta") == 0 ? VALETKEY_NO_TOKEN
                                                           : VALETKEY_BAD_REQUEST);
}

static void codes_map_to_statuses_and_error_codes(void **state)
{
    (void)state;
    assert_int_equal(valetkey_http_status(VALETKEY_OK), 200);
    assert_int_equal(valetkey_http_status(VALETKEY_NO_TOKEN), 401);
    assert_null(valetkey_rc_error(VALETKEY_NO_TOKEN));
    for (int rc = VALETKEY_TOKEN_MALFORMED; rc <= VALETKEY_TOKEN_NOT_BOUND; rc++) {
        assert_int_equal(valetkey_http_status(rc), 401);
        assert_string_equal(valetkey_rc_error(rc), "invalid_token");
        assert_string_not_equal(valetkey_strerror(rc), "unknown error");
    }
    assert_int_equal(valetkey_http_status(VALETKEY_INSUFFICIENT_SCOPE), 403);
    assert_string_equal(valetkey_rc_error(VALETKEY_INSUFFICIENT_SCOPE), "insufficient_scope");
    assert_int_equal(valetkey_http_status(VALETKEY_BAD_REQUEST), 400);
    assert_string_equal(valetkey_rc_error(VALETKEY_BAD_REQUEST), "invalid_request");
    for (int rc = VALETKEY_DPOP_MISSING; rc <= VALETKEY_DPOP_KEY_MISMATCH; rc++) {
        assert_int_equal(valetkey_http_status(rc), 401);
        assert_string_equal(valetkey_rc_error(rc), "invalid_dpop_proof");
    }
    assert_string_equal(valetkey_rc_error(VALETKEY_DPOP_USE_NONCE), "use_dpop_nonce");
    assert_int_equal(valetkey_http_status(VALETKEY_DPOP_USE_NONCE), 401);
    assert_int_equal(valetkey_http_status(VALETKEY_ENOMEM), 503);
    assert_int_equal(valetkey_http_status(VALETKEY_ECAPACITY), 503);
    assert_int_equal(valetkey_http_status(VALETKEY_EINVAL), 500);
    assert_null(valetkey_rc_error(VALETKEY_ENOMEM));
    assert_string_equal(valetkey_strerror(12345), "unknown error");
    assert_string_equal(valetkey_version(), VALETKEY_VERSION);
}

static void www_authenticate_values(void **state)
{
    (void)state;
    set_now(T0);
    struct valetkey_options o;
    valetkey_verifier *v = NULL;
    char buf[512];
    t_options(&o, jwks_all);
    o.resource_metadata = "https://api.example/.well-known/oauth-protected-resource";
    assert_int_equal(valetkey_verifier_new(&v, &o), VALETKEY_OK);

    assert_int_equal(valetkey_www_authenticate(v, VALETKEY_NO_TOKEN, NULL, NULL, buf, sizeof buf),
                     VALETKEY_OK);
    assert_string_equal(buf, "Bearer realm=\"api\", resource_metadata=\"https://api.example/"
                             ".well-known/oauth-protected-resource\", DPoP realm=\"api\", "
                             "algs=\"ES256 PS256 RS256 EdDSA\", resource_metadata=\"https://"
                             "api.example/.well-known/oauth-protected-resource\"");
    assert_int_equal(valetkey_www_authenticate(v, VALETKEY_TOKEN_EXPIRED, NULL, NULL, buf,
                                               sizeof buf),
                     VALETKEY_OK);
    assert_string_equal(buf, "Bearer realm=\"api\", error=\"invalid_token\", "
                             "error_description=\"the access token expired\", "
                             "resource_metadata=\"https://api.example/.well-known/"
                             "oauth-protected-resource\"");
    assert_int_equal(valetkey_www_authenticate(v, VALETKEY_INSUFFICIENT_SCOPE, NULL,
                                               "ai:chat ai:models", buf, sizeof buf),
                     VALETKEY_OK);
    assert_non_null(strstr(buf, "Bearer realm=\"api\", error=\"insufficient_scope\""));
    assert_non_null(strstr(buf, "scope=\"ai:chat ai:models\""));
    struct valetkey_request rq = {.scheme = VALETKEY_SCHEME_DPOP};
    assert_int_equal(valetkey_www_authenticate(v, VALETKEY_DPOP_REPLAY, &rq, NULL, buf,
                                               sizeof buf),
                     VALETKEY_OK);
    assert_true(strncmp(buf, "DPoP realm=\"api\", error=\"invalid_dpop_proof\"", 44) == 0);
    assert_non_null(strstr(buf, "algs=\"ES256 PS256 RS256 EdDSA\""));
    assert_int_equal(valetkey_www_authenticate(v, VALETKEY_DPOP_USE_NONCE, NULL, NULL, buf,
                                               sizeof buf),
                     VALETKEY_OK);
    assert_non_null(strstr(buf, "DPoP realm=\"api\", error=\"use_dpop_nonce\""));
    assert_int_equal(valetkey_www_authenticate(v, VALETKEY_TOKEN_DPOP_BOUND, NULL, NULL, buf,
                                               sizeof buf),
                     VALETKEY_OK);
    assert_true(strncmp(buf, "DPoP ", 5) == 0);
    /* A scope that would break the quoting; a buffer too small (and then left empty). */
    assert_int_equal(valetkey_www_authenticate(v, VALETKEY_INSUFFICIENT_SCOPE, NULL, "a\"b", buf,
                                               sizeof buf),
                     VALETKEY_EINVAL);
    assert_int_equal(valetkey_www_authenticate(v, VALETKEY_TOKEN_EXPIRED, NULL, NULL, buf, 20),
                     VALETKEY_ETOOBIG);
    assert_string_equal(buf, "");
    /* The description of every verdict about a real token never contains the token. */
    char *tok = t_token(es, "desc-1", T0 - 100, NULL);
    int rc = t_verify(v, tok);
    assert_int_equal(rc, VALETKEY_TOKEN_EXPIRED);
    assert_int_equal(valetkey_www_authenticate(v, rc, NULL, NULL, buf, sizeof buf), VALETKEY_OK);
    assert_null(strstr(buf, tok));
    assert_null(strstr(buf, strrchr(tok, '.') + 1));
    free(tok);
    valetkey_verifier_free(v);

    /* dpop_required: only the DPoP challenge. */
    t_options(&o, jwks_all);
    o.dpop_required = 1;
    o.realm = NULL;
    assert_int_equal(valetkey_verifier_new(&v, &o), VALETKEY_OK);
    assert_int_equal(valetkey_www_authenticate(v, VALETKEY_NO_TOKEN, NULL, NULL, buf, sizeof buf),
                     VALETKEY_OK);
    assert_string_equal(buf, "DPoP algs=\"ES256 PS256 RS256 EdDSA\"");
    valetkey_verifier_free(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(valid_token_verifies_and_gives_its_claims),
        cmocka_unit_test(typ_may_carry_the_application_prefix),
        cmocka_unit_test(audience_may_be_an_array),
        cmocka_unit_test(alg_none_is_refused),
        cmocka_unit_test(hs256_signed_with_the_public_key_is_refused),
        cmocka_unit_test(alg_that_differs_from_the_keys_is_refused),
        cmocka_unit_test(signature_by_another_key_is_refused),
        cmocka_unit_test(only_the_configured_algorithms_are_accepted),
        cmocka_unit_test(none_and_hmac_cannot_be_configured),
        cmocka_unit_test(options_are_checked),
        cmocka_unit_test(jwks_file_is_read),
        cmocka_unit_test(an_id_token_is_not_an_access_token),
        cmocka_unit_test(issuer_and_audience_must_match_exactly),
        cmocka_unit_test(required_claims_are_required),
        cmocka_unit_test(exp_nbf_and_iat_honour_the_leeway),
        cmocka_unit_test(a_token_seen_before_is_a_cache_hit),
        cmocka_unit_test(the_cache_is_bounded_and_evicts),
        cmocka_unit_test(revocation_is_by_jti_and_reaches_cached_tokens),
        cmocka_unit_test(a_full_revocation_list_refuses_instead_of_forgetting),
        cmocka_unit_test(a_key_removed_from_the_set_invalidates_cached_tokens),
        cmocka_unit_test(unknown_kid_without_a_remote_source_is_refused),
        cmocka_unit_test(malformed_and_oversized_tokens_are_refused),
        cmocka_unit_test(authorization_header_is_parsed_strictly),
        cmocka_unit_test(codes_map_to_statuses_and_error_codes),
        cmocka_unit_test(www_authenticate_values),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
