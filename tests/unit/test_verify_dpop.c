/* DPoP (src/verify/dpop.c) and sender-constrained tokens in the verifier: the RFC 9449 and
 * RFC 7638 examples (files in tests/vectors/), each refusal of RFC 9449 §4.3, htu normalisation,
 * server nonces, the bounded replay cache, and a DPoP-bound token through valetkey_verify. */
#include "verify_test.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#define RFC_JKT "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I" /* RFC 9449 §6.1 */
#define RFC_ATH "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo" /* RFC 9449 §7.1 */
#define HTU     "https://api.example/v1/chat"

static struct vk_jwk *ck, *ck2, *as_key, *rsa_ck; /* client keys, the issuer's key */
static char *as_jwks;

static int setup(void **state)
{
    (void)state;
    ck = t_key(VK_ALG_ES256);
    ck2 = t_key(VK_ALG_ES256);
    rsa_ck = t_key(VK_ALG_PS256);
    as_key = t_key(VK_ALG_ES256);
    struct vk_jwk *keys[] = {as_key, NULL};
    as_jwks = t_jwks(keys);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    vk_jwk_free(ck);
    vk_jwk_free(ck2);
    vk_jwk_free(rsa_ck);
    vk_jwk_free(as_key);
    free(as_jwks);
    return 0;
}

static char *jwk_json(const struct vk_jwk *k)
{
    json_t *j = vk_jwk_public_json(k);
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    return s;
}

static char *thumb(const struct vk_jwk *k)
{
    char *t = malloc(44);
    assert_int_equal(vk_jwk_thumbprint(k, t), VK_OK);
    return t;
}

/* A proof signed by k for (htm, htu) at iat; extra goes inside the payload object. */
static char *proof_ex(const struct vk_jwk *k, const char *typ, const char *alg, const char *htm,
                      const char *htu, int64_t iat, const char *extra)
{
    static unsigned long seq;
    char *jwk = jwk_json(k);
    char *h = t_printf("{\"typ\":\"%s\",\"alg\":\"%s\",\"jwk\":%s}", typ,
                       alg != NULL ? alg : vk_alg_name(vk_jwk_alg(k)), jwk);
    char *p = t_printf("{\"jti\":\"p-%lu\",\"htm\":\"%s\",\"htu\":\"%s\",\"iat\":%lld%s}",
                       ++seq, htm, htu, (long long)iat, extra != NULL ? extra : "");
    char *tok = t_forge(k, h, p);
    free(jwk);
    free(h);
    free(p);
    return tok;
}

static char *proof(const struct vk_jwk *k, const char *htm, const char *htu, int64_t iat,
                   const char *access_token)
{
    char ath[44], *extra = NULL;
    if (access_token != NULL) {
        vk_dpop_ath(vk_str_c(access_token), ath);
        extra = t_printf(",\"ath\":\"%s\"", ath);
    }
    char *tok = proof_ex(k, "dpop+jwt", NULL, htm, htu, iat, extra);
    free(extra);
    return tok;
}

static struct vk_dpop_check check_for(const char *prf, const char *method, const char *url,
                                      int64_t now)
{
    struct vk_dpop_check c = {
        .proof = vk_str_c(prf),
        .method = vk_str_c(method),
        .url = vk_str_c(url),
        .now = now,
        .max_age = 60,
        .leeway = 5,
        .alg_mask = VK_ALG_MASK_ALL,
    };
    return c;
}

static int run(const struct vk_dpop_check *c, char jkt_out[44])
{
    struct vk_dpop_result r;
    struct vk_err err = {{0}};
    int rc = vk_dpop_verify(c, &r, &err);
    if (jkt_out != NULL)
        memcpy(jkt_out, r.jkt, 44);
    if (rc != VALETKEY_OK)
        assert_string_equal(r.jkt, "");
    return rc;
}

/* ---- the RFC examples ---- */

static void rfc9449_token_request_proof_verifies(void **state)
{
    (void)state;
    char *prf = t_vector("rfc9449-4.1-dpop-proof.jwt");
    char jkt[44];
    struct vk_dpop_check c = check_for(prf, "POST", "https://server.example.com/token",
                                       1562262616);
    assert_int_equal(run(&c, jkt), VALETKEY_OK);
    assert_string_equal(jkt, RFC_JKT); /* §6.1: the thumbprint a token would be bound to */
    /* The same proof, checked against the wrong request. */
    c.method = VK_STR("GET");
    assert_int_equal(run(&c, NULL), VALETKEY_DPOP_METHOD);
    c = check_for(prf, "POST", "https://server.example.com/token2", 1562262616);
    assert_int_equal(run(&c, NULL), VALETKEY_DPOP_URL);
    c = check_for(prf, "POST", "https://server.example.com/token", 1562262616 + 61);
    assert_int_equal(run(&c, NULL), VALETKEY_DPOP_IAT);
    c = check_for(prf, "POST", "https://server.example.com/token", 1562262616 - 6);
    assert_int_equal(run(&c, NULL), VALETKEY_DPOP_IAT);
    free(prf);
}

static void rfc9449_resource_request_proof_verifies_with_ath_and_jkt(void **state)
{
    (void)state;
    char *prf = t_vector("rfc9449-7.1-dpop-proof.jwt");
    char *at = t_vector("rfc9449-7.1-access-token.txt");
    char ath[44];
    vk_dpop_ath(vk_str_c(at), ath);
    assert_string_equal(ath, RFC_ATH);

    struct vk_dpop_check c = check_for(prf, "GET", "https://resource.example.org/protectedresource",
                                       1562262618);
    c.access_token = vk_str_c(at);
    c.jkt = RFC_JKT;
    assert_int_equal(run(&c, NULL), VALETKEY_OK);
    c.access_token = VK_STR("Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxV");
    assert_int_equal(run(&c, NULL), VALETKEY_DPOP_ATH);
    c.access_token = vk_str_c(at);
    c.jkt = "1ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I";
    assert_int_equal(run(&c, NULL), VALETKEY_DPOP_KEY_MISMATCH);
    /* Query and fragment are not part of htu. */
    c = check_for(prf, "GET", "https://resource.example.org/protectedresource?x=1#f", 1562262618);
    assert_int_equal(run(&c, NULL), VALETKEY_OK);
    free(prf);
    free(at);
}

static void rfc7638_thumbprint_example(void **state)
{
    (void)state;
    char *doc = t_vector("rfc7638-3.1-rsa.jwk.json");
    json_error_t jerr;
    json_t *j = json_loads(doc, 0, &jerr);
    struct vk_jwk *k = NULL;
    struct vk_err err = {{0}};
    char tp[44];
    assert_non_null(j);
    assert_int_equal(vk_jwk_from_json(j, VK_ALG_RS256, &k, &err), VK_OK);
    assert_int_equal(vk_jwk_thumbprint(k, tp), VK_OK);
    assert_string_equal(tp, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
    vk_jwk_free(k);
    json_decref(j);
    free(doc);
}

/* ---- refusals (RFC 9449 §4.3) ---- */

static void a_proof_is_accepted_once(void **state)
{
    (void)state;
    struct vk_dpop_replay *rp = NULL;
    assert_int_equal(vk_dpop_replay_new(100, &rp), VK_OK);
    char *prf = proof(ck, "POST", HTU, T0, NULL);
    struct vk_dpop_check c = check_for(prf, "POST", HTU, T0);
    c.replay = rp;
    char jkt[44];
    char *want = thumb(ck);
    assert_int_equal(run(&c, jkt), VALETKEY_OK);
    assert_string_equal(jkt, want);
    assert_int_equal(run(&c, NULL), VALETKEY_DPOP_REPLAY);
    c.now = T0 + 30;
    assert_int_equal(run(&c, NULL), VALETKEY_DPOP_REPLAY);
    /* A proof refused for another reason does not use up its jti. */
    char *p2 = proof(ck, "POST", HTU, T0, NULL);
    struct vk_dpop_check c2 = check_for(p2, "GET", HTU, T0);
    c2.replay = rp;
    assert_int_equal(run(&c2, NULL), VALETKEY_DPOP_METHOD);
    c2.method = VK_STR("POST");
    assert_int_equal(run(&c2, NULL), VALETKEY_OK);
    free(p2);
    free(want);
    free(prf);
    vk_dpop_replay_free(rp);
}

static void a_full_replay_cache_refuses_new_proofs(void **state)
{
    (void)state;
    struct vk_dpop_replay *rp = NULL;
    assert_int_equal(vk_dpop_replay_new(16, &rp), VK_OK);
    int rc = VALETKEY_OK;
    size_t ok = 0;
    for (size_t i = 0; i < 5000 && rc == VALETKEY_OK; i++) {
        char *prf = proof(ck, "GET", HTU, T0, NULL);
        struct vk_dpop_check c = check_for(prf, "GET", HTU, T0);
        c.replay = rp;
        rc = run(&c, NULL);
        ok += rc == VALETKEY_OK;
        free(prf);
    }
    /* Fail closed: a jti that cannot be remembered is not accepted. */
    assert_int_equal(rc, VALETKEY_ECAPACITY);
    assert_true(ok >= 16);
    /* Once the remembered proofs are too old to be accepted anyway, there is room again. */
    char *prf = proof(ck, "GET", HTU, T0 + 62, NULL);
    struct vk_dpop_check c = check_for(prf, "GET", HTU, T0 + 62);
    c.replay = rp;
    assert_int_equal(run(&c, NULL), VALETKEY_OK);
    free(prf);
    vk_dpop_replay_free(rp);
}

static void wrong_method_or_url_is_refused(void **state)
{
    (void)state;
    char *prf = proof(ck, "POST", HTU, T0, NULL);
    const char *urls[] = {"https://api.example/v1/chat/", "https://api.example/v1/Chat",
                          "http://api.example/v1/chat", "https://api.example:8443/v1/chat",
                          "https://other.example/v1/chat", "https://api.example/v1",
                          "not a url", ""};
    for (size_t i = 0; i < sizeof urls / sizeof urls[0]; i++) {
        struct vk_dpop_check c = check_for(prf, "POST", urls[i], T0);
        assert_int_equal(run(&c, NULL), VALETKEY_DPOP_URL);
    }
    const char *methods[] = {"post", "GET", "PUT", ""};
    for (size_t i = 0; i < 4; i++) {
        struct vk_dpop_check c = check_for(prf, methods[i], HTU, T0);
        assert_int_equal(run(&c, NULL), VALETKEY_DPOP_METHOD);
    }
    /* Normalisation (§4.3 step 9, RFC 3986 §6.2.2-6.2.3) makes these the same URL. */
    const char *same[] = {"HTTPS://API.EXAMPLE/v1/chat", "https://api.example:443/v1/chat",
                          "https://api.example/v1/./chat", "https://api.example/v1/x/../chat",
                          "https://api.example/v1/%63hat", "https://api.example/v1/chat?q=1"};
    for (size_t i = 0; i < sizeof same / sizeof same[0]; i++) {
        struct vk_dpop_check c = check_for(prf, "POST", same[i], T0);
        assert_int_equal(run(&c, NULL), VALETKEY_OK);
    }
    free(prf);
}

static void htu_normalisation(void **state)
{
    (void)state;
    static const char *const cases[][2] = {
        {"https://Server.Example.COM:443/a/./b/../c?x=1#frag", "https://server.example.com/a/c"},
        {"HTTP://h:80", "http://h/"},
        {"http://h:", "http://h/"},
        {"http://h:8080/", "http://h:8080/"},
        {"https://h/%7e%41%2f%2F%3a", "https://h/~A%2F%2F%3A"},
        {"https://h/a/b/../../..", "https://h/"},
        {"https://h/a/..", "https://h/"},
        {"https://h/a/.", "https://h/a/"},
        {"https://h/%2E%2E/x", "https://h/x"},
        {"https://[::1]:443/x", "https://[::1]/x"},
        {"https://[FE80::1]:8443/x", "https://[fe80::1]:8443/x"},
        {"https://h?only", "https://h/"},
        {"https://h/a//b", "https://h/a//b"},
    };
    char out[256];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_int_equal(vk_dpop_htu_normalize(vk_str_c(cases[i][0]), out, sizeof out), VK_OK);
        assert_string_equal(out, cases[i][1]);
    }
    const char *bad[] = {"ftp://h/", "https//h/", "https:///x", "https://u@h/", "https://h/%zz",
                         "https://h/%4", "https://h:99999/", "https://h:-1/", "https://h/ a",
                         "https://[::1/", "https://%68/", "https://h:1x/"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(vk_dpop_htu_normalize(vk_str_c(bad[i]), out, sizeof out), VK_EINVAL);
    assert_int_equal(vk_dpop_htu_normalize(VK_STR("https://example.com/long"), out, 10),
                     VK_ETOOBIG);
}

static void old_or_future_iat_is_refused(void **state)
{
    (void)state;
    int64_t iats[] = {T0 - 61, T0 + 6, 0};
    for (size_t i = 0; i < 3; i++) {
        char *prf = proof(ck, "GET", HTU, iats[i], NULL);
        struct vk_dpop_check c = check_for(prf, "GET", HTU, T0);
        assert_int_equal(run(&c, NULL), VALETKEY_DPOP_IAT);
        free(prf);
    }
    int64_t ok[] = {T0 - 60, T0 + 5};
    for (size_t i = 0; i < 2; i++) {
        char *prf = proof(ck, "GET", HTU, ok[i], NULL);
        struct vk_dpop_check c = check_for(prf, "GET", HTU, T0);
        assert_int_equal(run(&c, NULL), VALETKEY_OK);
        free(prf);
    }
}

static void ath_must_be_present_and_match(void **state)
{
    (void)state;
    const char *at = "an.access.token";
    char *without = proof(ck, "GET", HTU, T0, NULL);
    char *other = proof(ck, "GET", HTU, T0, "another.access.token");
    char *right = proof(ck, "GET", HTU, T0, at);
    struct vk_dpop_check c = check_for(without, "GET", HTU, T0);
    c.access_token = vk_str_c(at);
    assert_int_equal(run(&c, NULL), VALETKEY_DPOP_ATH);
    c.proof = vk_str_c(other);
    assert_int_equal(run(&c, NULL), VALETKEY_DPOP_ATH);
    c.proof = vk_str_c(right);
    assert_int_equal(run(&c, NULL), VALETKEY_OK);
    free(without);
    free(other);
    free(right);
}

static void a_private_key_in_the_header_is_refused(void **state)
{
    (void)state;
    char *pub = jwk_json(ck);
    /* The public JWK with a private member added (any value: it must be refused unread). */
    const char *members[] = {"d", "p", "q", "dp", "dq", "qi", "k"};
    for (size_t i = 0; i < sizeof members / sizeof members[0]; i++) {
        pub[strlen(pub) - 1] = '\0';
        char *h = t_printf("{\"typ\":\"dpop+jwt\",\"alg\":\"ES256\",\"jwk\":%s,\"%s\":\"AAAA\"}}",
                           pub, members[i]);
        pub[strlen(pub)] = '}';
        char *p = t_printf("{\"jti\":\"x%zu\",\"htm\":\"GET\",\"htu\":\"" HTU "\",\"iat\":%d}", i,
                           T0);
        char *prf = t_forge(ck, h, p);
        struct vk_dpop_check c = check_for(prf, "GET", HTU, T0);
        assert_int_equal(run(&c, NULL), VALETKEY_DPOP_KEY);
        free(h);
        free(p);
        free(prf);
    }
    /* No jwk at all, or a jwk that is not an object. */
    const char *hdrs[] = {"{\"typ\":\"dpop+jwt\",\"alg\":\"ES256\"}",
                          "{\"typ\":\"dpop+jwt\",\"alg\":\"ES256\",\"jwk\":\"x\"}"};
    for (size_t i = 0; i < 2; i++) {
        char *p = t_printf("{\"jti\":\"y%zu\",\"htm\":\"GET\",\"htu\":\"" HTU "\",\"iat\":%d}", i,
                           T0);
        char *prf = t_forge(ck, hdrs[i], p);
        struct vk_dpop_check c = check_for(prf, "GET", HTU, T0);
        assert_int_equal(run(&c, NULL), VALETKEY_DPOP_KEY);
        free(p);
        free(prf);
    }
    free(pub);
}

static void symmetric_and_none_algorithms_are_refused(void **state)
{
    (void)state;
    /* HS256 with an oct key in the header, MACed with that key: a proof anyone could make. */
    const char *h = "{\"typ\":\"dpop+jwt\",\"alg\":\"HS256\",\"jwk\":{\"kty\":\"oct\",\"k\":\"c2Vj\"}}";
    char *p = t_printf("{\"jti\":\"hs\",\"htm\":\"GET\",\"htu\":\"" HTU "\",\"iat\":%d}", T0);
    char *h64 = t_b64(h, strlen(h)), *p64 = t_b64(p, strlen(p));
    char *input = t_printf("%s.%s", h64, p64);
    uint8_t mac[32];
    unsigned int maclen = 0;
    HMAC(EVP_sha256(), "sec", 3, (const uint8_t *)input, strlen(input), mac, &maclen);
    char *m64 = t_b64(mac, maclen);
    char *prf = t_printf("%s.%s", input, m64);
    struct vk_dpop_check c = check_for(prf, "GET", HTU, T0);
    assert_int_equal(run(&c, NULL), VALETKEY_DPOP_ALG);
    free(prf);
    /* none */
    char *jwk = jwk_json(ck);
    char *hn = t_printf("{\"typ\":\"dpop+jwt\",\"alg\":\"none\",\"jwk\":%s}", jwk);
    char *hn64 = t_b64(hn, strlen(hn));
    prf = t_printf("%s.%s.AAAA", hn64, p64);
    c = check_for(prf, "GET", HTU, T0);
    assert_int_equal(run(&c, NULL), VALETKEY_DPOP_ALG);
    free(prf);
    prf = t_printf("%s.%s.", hn64, p64); /* the usual none form: no signature part at all */
    c = check_for(prf, "GET", HTU, T0);
    assert_int_equal(run(&c, NULL), VALETKEY_DPOP_MALFORMED);
    free(prf);
    /* An algorithm that is not allowed here, though asymmetric. */
    prf = proof(rsa_ck, "GET", HTU, T0, NULL);
    c = check_for(prf, "GET", HTU, T0);
    c.alg_mask = 1u << VK_ALG_ES256;
    assert_int_equal(run(&c, NULL), VALETKEY_DPOP_ALG);
    c.alg_mask = VK_ALG_MASK_ALL;
    assert_int_equal(run(&c, NULL), VALETKEY_OK);
    free(prf);
    /* Header alg ES256 with an RSA jwk: alg/kty mismatch. */
    prf = proof_ex(rsa_ck, "dpop+jwt", "ES256", "GET", HTU, T0, NULL);
    c = check_for(prf, "GET", HTU, T0);
    assert_int_not_equal(run(&c, NULL), VALETKEY_OK);
    free(prf);
    free(hn);
    free(hn64);
    free(jwk);
    free(m64);
    free(input);
    free(h64);
    free(p64);
    free(p);
}

static void wrong_typ_signature_or_claims_are_refused(void **state)
{
    (void)state;
    const char *typs[] = {"JWT", "at+jwt", "dpop"};
    for (size_t i = 0; i < 3; i++) {
        char *prf = proof_ex(ck, typs[i], NULL, "GET", HTU, T0, NULL);
        struct vk_dpop_check c = check_for(prf, "GET", HTU, T0);
        assert_int_equal(run(&c, NULL), VALETKEY_DPOP_MALFORMED);
        free(prf);
    }
    /* Signed by another key than the one in the header. */
    char *jwk = jwk_json(ck);
    char *h = t_printf("{\"typ\":\"dpop+jwt\",\"alg\":\"ES256\",\"jwk\":%s}", jwk);
    char *p = t_printf("{\"jti\":\"s\",\"htm\":\"GET\",\"htu\":\"" HTU "\",\"iat\":%d}", T0);
    char *prf = t_forge(ck2, h, p);
    struct vk_dpop_check c = check_for(prf, "GET", HTU, T0);
    assert_int_equal(run(&c, NULL), VALETKEY_DPOP_SIGNATURE);
    free(prf);
    /* Required claims missing or of the wrong type. */
    const char *bodies[] = {"{\"htm\":\"GET\",\"htu\":\"" HTU "\",\"iat\":2000000000}",
                            "{\"jti\":\"a\",\"htu\":\"" HTU "\",\"iat\":2000000000}",
                            "{\"jti\":\"a\",\"htm\":\"GET\",\"iat\":2000000000}",
                            "{\"jti\":\"a\",\"htm\":\"GET\",\"htu\":\"" HTU "\"}",
                            "{\"jti\":\"a\",\"htm\":\"GET\",\"htu\":\"" HTU "\",\"iat\":\"x\"}",
                            "{\"jti\":\"\",\"htm\":\"GET\",\"htu\":\"" HTU "\",\"iat\":2000000000}",
                            "[1]"};
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        prf = t_forge(ck, h, bodies[i]);
        c = check_for(prf, "GET", HTU, T0);
        assert_int_equal(run(&c, NULL), VALETKEY_DPOP_MALFORMED);
        free(prf);
    }
    c = check_for("", "GET", HTU, T0);
    assert_int_equal(run(&c, NULL), VALETKEY_DPOP_MISSING);
    c = check_for("a.b", "GET", HTU, T0);
    assert_int_equal(run(&c, NULL), VALETKEY_DPOP_MALFORMED);
    free(jwk);
    free(h);
    free(p);
}

static void key_binding_is_checked(void **state)
{
    (void)state;
    char *prf = proof(ck, "GET", HTU, T0, NULL);
    char *mine = thumb(ck), *theirs = thumb(ck2);
    struct vk_dpop_check c = check_for(prf, "GET", HTU, T0);
    c.jkt = theirs;
    assert_int_equal(run(&c, NULL), VALETKEY_DPOP_KEY_MISMATCH);
    c.jkt = mine;
    assert_int_equal(run(&c, NULL), VALETKEY_OK);
    free(prf);
    free(mine);
    free(theirs);
}

static void server_nonces(void **state)
{
    (void)state;
    struct vk_dpop_nonce n, other;
    char cur[VK_DPOP_NONCE_LEN + 1], old[VK_DPOP_NONCE_LEN + 1], foreign[VK_DPOP_NONCE_LEN + 1];
    assert_int_equal(vk_dpop_nonce_init(&n, NULL, 300), VK_OK);
    assert_int_equal(vk_dpop_nonce_init(&other, NULL, 300), VK_OK);
    assert_int_equal(vk_dpop_nonce_init(&other, "short", 300), VK_EINVAL);
    vk_dpop_nonce_make(&n, T0, cur);
    vk_dpop_nonce_make(&n, T0 - 300, old);
    vk_dpop_nonce_make(&other, T0, foreign);
    assert_int_equal(strlen(cur), VK_DPOP_NONCE_LEN);
    assert_true(vk_dpop_nonce_ok(&n, vk_str_c(cur), T0));
    assert_true(vk_dpop_nonce_ok(&n, vk_str_c(old), T0));      /* the previous period */
    assert_false(vk_dpop_nonce_ok(&n, vk_str_c(old), T0 + 300)); /* two periods ago */
    assert_false(vk_dpop_nonce_ok(&n, vk_str_c(foreign), T0));
    assert_false(vk_dpop_nonce_ok(&n, VK_STR("abc"), T0));

    char *without = proof(ck, "GET", HTU, T0, NULL);
    struct vk_dpop_check c = check_for(without, "GET", HTU, T0);
    c.nonce = &n;
    assert_int_equal(run(&c, NULL), VALETKEY_DPOP_USE_NONCE);
    char *extra = t_printf(",\"nonce\":\"%s\"", foreign);
    char *wrong = proof_ex(ck, "dpop+jwt", NULL, "GET", HTU, T0, extra);
    c.proof = vk_str_c(wrong);
    assert_int_equal(run(&c, NULL), VALETKEY_DPOP_USE_NONCE);
    free(extra);
    extra = t_printf(",\"nonce\":\"%s\"", cur);
    char *right = proof_ex(ck, "dpop+jwt", NULL, "GET", HTU, T0, extra);
    c.proof = vk_str_c(right);
    assert_int_equal(run(&c, NULL), VALETKEY_OK);
    /* Two instances sharing a secret accept each other's nonces. */
    const char *secret = "0123456789abcdef0123456789abcdef";
    assert_int_equal(vk_dpop_nonce_init(&n, secret, 300), VK_OK);
    assert_int_equal(vk_dpop_nonce_init(&other, secret, 300), VK_OK);
    vk_dpop_nonce_make(&n, T0, cur);
    assert_true(vk_dpop_nonce_ok(&other, vk_str_c(cur), T0));
    free(extra);
    free(without);
    free(wrong);
    free(right);
}

/* ---- a DPoP-bound token through valetkey_verify ---- */

static char *bound_token(const struct vk_jwk *client, const char *jti)
{
    char *jkt = thumb(client);
    char *extra = t_printf(",\"cnf\":{\"jkt\":\"%s\"}", jkt);
    char *tok = t_token(as_key, jti, T0 + 600, extra);
    free(jkt);
    free(extra);
    return tok;
}

static int verify_rq(valetkey_verifier *v, const char *tok, int scheme, const char *method,
                     const char *url, const char *dpop, valetkey_claims **out)
{
    struct valetkey_request rq = {.scheme = scheme, .method = method, .url = url, .dpop = dpop};
    return valetkey_verify(v, tok, strlen(tok), &rq, out);
}

static void a_bound_token_needs_the_dpop_scheme_and_a_proof(void **state)
{
    (void)state;
    set_now(T0);
    valetkey_verifier *v = t_verifier(as_jwks);
    char *tok = bound_token(ck, "b-1");
    valetkey_claims *c = NULL;

    /* RFC 9449 §7.2: as a Bearer token, refused (with or without a proof beside it). */
    assert_int_equal(valetkey_verify(v, tok, strlen(tok), NULL, NULL), VALETKEY_TOKEN_DPOP_BOUND);
    char *prf = proof(ck, "GET", HTU, T0, tok);
    assert_int_equal(verify_rq(v, tok, VALETKEY_SCHEME_BEARER, "GET", HTU, prf, NULL),
                     VALETKEY_TOKEN_DPOP_BOUND);
    /* DPoP scheme without a proof. */
    assert_int_equal(verify_rq(v, tok, VALETKEY_SCHEME_DPOP, "GET", HTU, NULL, NULL),
                     VALETKEY_DPOP_MISSING);
    /* With a valid proof: accepted, and cnf.jkt is reported. */
    assert_int_equal(verify_rq(v, tok, VALETKEY_SCHEME_DPOP, "GET", HTU, prf, &c), VALETKEY_OK);
    char *jkt = thumb(ck);
    assert_string_equal(valetkey_claims_cnf_jkt(c), jkt);
    valetkey_claims_free(c);
    /* The same proof again: a replay, though the token is now a cache hit. */
    assert_int_equal(verify_rq(v, tok, VALETKEY_SCHEME_DPOP, "GET", HTU, prf, NULL),
                     VALETKEY_DPOP_REPLAY);
    free(prf);
    /* A fresh proof for the cached token works; one for another URL or key does not. */
    prf = proof(ck, "GET", HTU, T0, tok);
    assert_int_equal(verify_rq(v, tok, VALETKEY_SCHEME_DPOP, "GET", HTU, prf, NULL), VALETKEY_OK);
    free(prf);
    prf = proof(ck, "GET", "https://api.example/v1/images", T0, tok);
    assert_int_equal(verify_rq(v, tok, VALETKEY_SCHEME_DPOP, "GET", HTU, prf, NULL),
                     VALETKEY_DPOP_URL);
    free(prf);
    prf = proof(ck2, "GET", HTU, T0, tok);
    assert_int_equal(verify_rq(v, tok, VALETKEY_SCHEME_DPOP, "GET", HTU, prf, NULL),
                     VALETKEY_DPOP_KEY_MISMATCH);
    free(prf);
    /* A proof made for another token (ath). */
    char *tok2 = bound_token(ck, "b-2");
    prf = proof(ck, "GET", HTU, T0, tok2);
    assert_int_equal(verify_rq(v, tok, VALETKEY_SCHEME_DPOP, "GET", HTU, prf, NULL),
                     VALETKEY_DPOP_ATH);
    free(prf);
    /* The host forgot method or URL: a caller error, not a verdict. */
    prf = proof(ck, "GET", HTU, T0, tok);
    assert_int_equal(verify_rq(v, tok, VALETKEY_SCHEME_DPOP, NULL, HTU, prf, NULL),
                     VALETKEY_EINVAL);
    free(prf);
    free(tok2);
    free(jkt);
    free(tok);
    valetkey_verifier_free(v);
}

static void an_unbound_token_is_not_accepted_as_dpop(void **state)
{
    (void)state;
    set_now(T0);
    valetkey_verifier *v = t_verifier(as_jwks);
    char *tok = t_token(as_key, "u-1", T0 + 600, NULL);
    char *prf = proof(ck, "GET", HTU, T0, tok);
    assert_int_equal(verify_rq(v, tok, VALETKEY_SCHEME_DPOP, "GET", HTU, prf, NULL),
                     VALETKEY_TOKEN_NOT_BOUND);
    /* As Bearer it is fine; a DPoP header beside it is ignored. */
    assert_int_equal(verify_rq(v, tok, VALETKEY_SCHEME_BEARER, "GET", HTU, prf, NULL),
                     VALETKEY_OK);
    valetkey_verifier_free(v);

    /* Where DPoP is required, a bearer token is refused outright. */
    struct valetkey_options o;
    t_options(&o, as_jwks);
    o.dpop_required = 1;
    assert_int_equal(valetkey_verifier_new(&v, &o), VALETKEY_OK);
    assert_int_equal(verify_rq(v, tok, VALETKEY_SCHEME_BEARER, "GET", HTU, NULL, NULL),
                     VALETKEY_TOKEN_NOT_BOUND);
    char *btok = bound_token(ck, "u-2");
    char *bprf = proof(ck, "GET", HTU, T0, btok);
    assert_int_equal(verify_rq(v, btok, VALETKEY_SCHEME_DPOP, "GET", HTU, bprf, NULL),
                     VALETKEY_OK);
    free(btok);
    free(bprf);
    free(prf);
    free(tok);
    valetkey_verifier_free(v);
}

static void the_verifier_requires_nonces_when_configured(void **state)
{
    (void)state;
    set_now(T0);
    struct valetkey_options o;
    valetkey_verifier *v = NULL;
    char nonce[64];
    t_options(&o, as_jwks);
    o.dpop_nonce = 1;
    assert_int_equal(valetkey_verifier_new(&v, &o), VALETKEY_OK);
    char *tok = bound_token(ck, "n-1");
    char *prf = proof(ck, "GET", HTU, T0, tok);
    assert_int_equal(verify_rq(v, tok, VALETKEY_SCHEME_DPOP, "GET", HTU, prf, NULL),
                     VALETKEY_DPOP_USE_NONCE);
    assert_int_equal(valetkey_dpop_nonce(v, nonce, 10), VALETKEY_ETOOBIG);
    assert_int_equal(valetkey_dpop_nonce(v, nonce, sizeof nonce), VALETKEY_OK);
    char ath[44];
    vk_dpop_ath(vk_str_c(tok), ath);
    char *extra = t_printf(",\"ath\":\"%s\",\"nonce\":\"%s\"", ath, nonce);
    char *prf2 = proof_ex(ck, "dpop+jwt", NULL, "GET", HTU, T0, extra);
    assert_int_equal(verify_rq(v, tok, VALETKEY_SCHEME_DPOP, "GET", HTU, prf2, NULL),
                     VALETKEY_OK);
    free(extra);
    free(prf);
    free(prf2);
    free(tok);
    valetkey_verifier_free(v);
    /* Nonces not enabled: nothing to hand out. */
    v = t_verifier(as_jwks);
    assert_int_equal(valetkey_dpop_nonce(v, nonce, sizeof nonce), VALETKEY_EINVAL);
    valetkey_verifier_free(v);
}

/* valetkey_options.dpop_replay: a host's shared replay cache (nginx workers) replaces the
 * verifier's own. It sees each accepted proof's jti once, after every other check, and its
 * answer is the verdict. */
struct shared_replay {
    char jtis[8][64];
    int64_t expires[8];
    int n, calls;
    int answer_full;
};

static int shared_replay_fn(void *arg, const char *jti, size_t len, int64_t expires)
{
    struct shared_replay *r = arg;
    r->calls++;
    if (r->answer_full)
        return VALETKEY_ECAPACITY;
    for (int i = 0; i < r->n; i++)
        if (strlen(r->jtis[i]) == len && memcmp(r->jtis[i], jti, len) == 0)
            return VALETKEY_DPOP_REPLAY;
    assert_true(r->n < 8 && len < sizeof r->jtis[0]);
    memcpy(r->jtis[r->n], jti, len);
    r->jtis[r->n][len] = '\0';
    r->expires[r->n++] = expires;
    return VALETKEY_OK;
}

static void a_host_replay_cache_replaces_the_verifiers_own(void **state)
{
    (void)state;
    set_now(T0);
    struct shared_replay shared = {0};
    struct valetkey_options o;
    valetkey_verifier *v1 = NULL, *v2 = NULL;
    t_options(&o, as_jwks);
    o.dpop_replay = shared_replay_fn;
    o.dpop_replay_arg = &shared;
    /* Two verifiers standing for two worker processes, one shared cache. */
    assert_int_equal(valetkey_verifier_new(&v1, &o), VALETKEY_OK);
    assert_int_equal(valetkey_verifier_new(&v2, &o), VALETKEY_OK);
    char *tok = bound_token(ck, "h-1");
    char *prf = proof(ck, "GET", HTU, T0, tok);
    assert_int_equal(verify_rq(v1, tok, VALETKEY_SCHEME_DPOP, "GET", HTU, prf, NULL),
                     VALETKEY_OK);
    assert_int_equal(shared.calls, 1);
    assert_int_equal(shared.expires[0], T0 + 60 + 1); /* iat + the window (+1: exclusive) */
    /* The proof replayed to the other "worker": refused, by the shared cache. */
    assert_int_equal(verify_rq(v2, tok, VALETKEY_SCHEME_DPOP, "GET", HTU, prf, NULL),
                     VALETKEY_DPOP_REPLAY);
    assert_int_equal(shared.calls, 2);
    /* A proof that fails another check never reaches the cache. */
    char *other = proof(ck, "GET", "https://api.example/v1/images", T0, tok);
    assert_int_equal(verify_rq(v2, tok, VALETKEY_SCHEME_DPOP, "GET", HTU, other, NULL),
                     VALETKEY_DPOP_URL);
    assert_int_equal(shared.calls, 2);
    /* A cache that can record nothing: refused, fail closed. */
    char *fresh = proof(ck, "GET", HTU, T0, tok);
    shared.answer_full = 1;
    assert_int_equal(verify_rq(v2, tok, VALETKEY_SCHEME_DPOP, "GET", HTU, fresh, NULL),
                     VALETKEY_ECAPACITY);
    shared.answer_full = 0;
    assert_int_equal(verify_rq(v2, tok, VALETKEY_SCHEME_DPOP, "GET", HTU, fresh, NULL),
                     VALETKEY_OK);
    free(fresh);
    free(other);
    free(prf);
    free(tok);
    valetkey_verifier_free(v1);
    valetkey_verifier_free(v2);
}

/* valetkey_options.dpop_disabled: a host that cannot detect replays offers and accepts Bearer
 * only. The DPoP scheme counts as no credentials; a bound token is still refused as Bearer. */
static void dpop_can_be_disabled(void **state)
{
    (void)state;
    set_now(T0);
    struct valetkey_options o;
    valetkey_verifier *v = NULL;
    char buf[512];
    t_options(&o, as_jwks);
    o.dpop_disabled = 1;
    o.dpop_required = 1;
    assert_int_equal(valetkey_verifier_new(&v, &o), VALETKEY_EINVAL);
    o.dpop_required = 0;
    assert_int_equal(valetkey_verifier_new(&v, &o), VALETKEY_OK);
    char *btok = bound_token(ck, "d-1");
    char *prf = proof(ck, "GET", HTU, T0, btok);
    struct valetkey_request rq = {.scheme = VALETKEY_SCHEME_DPOP, .method = "GET", .url = HTU,
                                  .dpop = prf};
    assert_int_equal(verify_rq(v, btok, VALETKEY_SCHEME_DPOP, "GET", HTU, prf, NULL),
                     VALETKEY_NO_TOKEN);
    assert_int_equal(valetkey_www_authenticate(v, VALETKEY_NO_TOKEN, &rq, NULL, buf, sizeof buf),
                     VALETKEY_OK);
    assert_null(strstr(buf, "DPoP"));
    assert_true(strncmp(buf, "Bearer", 6) == 0);
    assert_int_equal(valetkey_verify(v, btok, strlen(btok), NULL, NULL),
                     VALETKEY_TOKEN_DPOP_BOUND);
    assert_int_equal(valetkey_www_authenticate(v, VALETKEY_TOKEN_DPOP_BOUND, NULL, NULL, buf,
                                               sizeof buf),
                     VALETKEY_OK);
    assert_true(strncmp(buf, "Bearer ", 7) == 0);
    assert_non_null(strstr(buf, "error=\"invalid_token\""));
    assert_null(strstr(buf, "algs=")); /* no DPoP challenge */
    /* Bearer tokens are unaffected. */
    char *tok = t_token(as_key, "d-2", T0 + 600, NULL);
    assert_int_equal(valetkey_verify(v, tok, strlen(tok), NULL, NULL), VALETKEY_OK);
    free(tok);
    free(prf);
    free(btok);
    valetkey_verifier_free(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rfc9449_token_request_proof_verifies),
        cmocka_unit_test(rfc9449_resource_request_proof_verifies_with_ath_and_jkt),
        cmocka_unit_test(rfc7638_thumbprint_example),
        cmocka_unit_test(a_proof_is_accepted_once),
        cmocka_unit_test(a_full_replay_cache_refuses_new_proofs),
        cmocka_unit_test(wrong_method_or_url_is_refused),
        cmocka_unit_test(htu_normalisation),
        cmocka_unit_test(old_or_future_iat_is_refused),
        cmocka_unit_test(ath_must_be_present_and_match),
        cmocka_unit_test(a_private_key_in_the_header_is_refused),
        cmocka_unit_test(symmetric_and_none_algorithms_are_refused),
        cmocka_unit_test(wrong_typ_signature_or_claims_are_refused),
        cmocka_unit_test(key_binding_is_checked),
        cmocka_unit_test(server_nonces),
        cmocka_unit_test(a_bound_token_needs_the_dpop_scheme_and_a_proof),
        cmocka_unit_test(an_unbound_token_is_not_accepted_as_dpop),
        cmocka_unit_test(the_verifier_requires_nonces_when_configured),
        cmocka_unit_test(a_host_replay_cache_replaces_the_verifiers_own),
        cmocka_unit_test(dpop_can_be_disabled),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
