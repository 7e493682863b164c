/* Allocation failures (style.md §4.9, libuv's loop_init_oom, curl's torture mode): a scenario that
 * exercises the whole library -- a verifier from a JWK Set, a new token, a cache hit, a
 * revocation, a DPoP-bound token with its proof, a WWW-Authenticate value -- runs once with
 * allocation N failing, for N = 1, 2, ... until it runs with no failure injected. Every failure
 * must give an error code (never a crash, never an OK with wrong results), and afterwards every
 * byte the library and jansson allocated must be free again. Under make asan, LeakSanitizer
 * checks the same for libcrypto's allocations at exit.
 *
 * The failing allocator reaches everything: libvaletkey's own allocations through
 * valetkey_set_allocator, jansson's and libcrypto's through their process-wide hooks, which this
 * test -- the host -- installs itself (the library never touches them; docs/architecture.md). */
#include "verify_test.h"

#include <openssl/crypto.h>

static long alloc_count;   /* allocations attempted in this round */
static long fail_at;       /* the one that fails (0: none) */
static bool injected;      /* it was reached */
static long live_ours;     /* libvaletkey + jansson blocks not yet freed */

static int injected_by; /* 1: ours or jansson, 2: libcrypto */
static bool should_fail(void)
{
    if (++alloc_count == fail_at) {
        injected = true;
        return true;
    }
    return false;
}

static void *t_malloc(size_t n)
{
    if (should_fail()) {
        injected_by = 1;
        return NULL;
    }
    void *p = malloc(n);
    if (p != NULL)
        live_ours++;
    return p;
}

static void *t_realloc(void *p, size_t n)
{
    if (should_fail())
        return NULL;
    void *q = realloc(p, n);
    if (p == NULL && q != NULL)
        live_ours++;
    return q;
}

static void t_free(void *p)
{
    if (p != NULL)
        live_ours--;
    free(p);
}

static void *ossl_malloc(size_t n, const char *file, int line)
{
    (void)file;
    (void)line;
    if (should_fail()) {
        injected_by = 2;
        return NULL;
    }
    return malloc(n);
}

static void *ossl_realloc(void *p, size_t n, const char *file, int line)
{
    (void)file;
    (void)line;
    return should_fail() ? NULL : realloc(p, n);
}

static void ossl_free(void *p, const char *file, int line)
{
    (void)file;
    (void)line;
    free(p);
}

static struct vk_jwk *as_key, *client_key;
static char *jwks, *token, *bound, *proof, *third;

/* Everything the scenario needs, made before any failure is injected. */
static int setup(void **state)
{
    (void)state;
    set_now(T0);
    as_key = t_key(VK_ALG_ES256);
    client_key = t_key(VK_ALG_ES256);
    struct vk_jwk *keys[] = {as_key, NULL};
    jwks = t_jwks(keys);
    token = t_token(as_key, "alloc-1", T0 + 600, NULL);
    third = t_token(as_key, "alloc-3", T0 + 600, NULL);
    char jkt[44], ath[44];
    vk_jwk_thumbprint(client_key, jkt);
    char *cnf = t_printf(",\"cnf\":{\"jkt\":\"%s\"}", jkt);
    bound = t_token(as_key, "alloc-2", T0 + 600, cnf);
    vk_dpop_ath(vk_str_c(bound), ath);
    json_t *pub = vk_jwk_public_json(client_key);
    char *pubs = json_dumps(pub, JSON_COMPACT);
    char *h = t_printf("{\"typ\":\"dpop+jwt\",\"alg\":\"ES256\",\"jwk\":%s}", pubs);
    char *p = t_printf("{\"jti\":\"pj\",\"htm\":\"POST\",\"htu\":\"https://api.example/v1/chat\","
                       "\"iat\":%d,\"ath\":\"%s\"}",
                       T0, ath);
    proof = t_forge(client_key, h, p);
    free(cnf);
    free(pubs);
    json_decref(pub);
    free(h);
    free(p);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    vk_jwk_free(as_key);
    vk_jwk_free(client_key);
    free(jwks);
    free(token);
    free(third);
    free(bound);
    free(proof);
    return 0;
}

/* An error code the library may return when an allocation fails somewhere inside. */
static bool clean_error(int rc)
{
    return rc == VALETKEY_ENOMEM || rc == VALETKEY_EFETCH || rc == VALETKEY_EINTERNAL ||
           (rc >= VALETKEY_TOKEN_MALFORMED && rc <= VALETKEY_TOKEN_NOT_BOUND) ||
           (rc >= VALETKEY_DPOP_MISSING && rc <= VALETKEY_DPOP_USE_NONCE);
}

static int apply_to(void *arg, enum vk_revoke_kind kind, vk_str value, int64_t until)
{
    return vk_verifier_revoke(arg, kind, value, until);
}

/* Returns VALETKEY_OK when every step did what it must, else the first step's error code. */
static int scenario(void)
{
    struct valetkey_options o;
    valetkey_verifier *v = NULL;
    valetkey_claims *c = NULL, *c2 = NULL;
    char buf[512];
    int rc;

    t_options(&o, jwks);
    rc = valetkey_verifier_new(&v, &o);
    if (rc != VALETKEY_OK) {
        assert_null(v);
        return rc;
    }
    rc = valetkey_verify(v, token, strlen(token), NULL, &c);
    if (rc != VALETKEY_OK)
        goto out;
    assert_string_equal(valetkey_claims_jti(c), "alloc-1");
    rc = valetkey_verify(v, token, strlen(token), NULL, &c2); /* a hit allocates nothing */
    assert_int_equal(rc, VALETKEY_OK);
    assert_ptr_equal(c, c2);
    rc = vk_verifier_revoke(v, VK_REVOKE_JTI, VK_STR("alloc-1"), T0 + 600) == VK_OK ? VALETKEY_OK
                                                                      : VALETKEY_ENOMEM;
    if (rc != VALETKEY_OK)
        goto out;
    assert_int_equal(valetkey_verify(v, token, strlen(token), NULL, NULL), VALETKEY_TOKEN_REVOKED);
    struct valetkey_request rq = {.scheme = VALETKEY_SCHEME_DPOP,
                                  .method = "POST",
                                  .url = "https://api.example/v1/chat",
                                  .dpop = proof};
    rc = valetkey_verify(v, bound, strlen(bound), &rq, NULL);
    if (rc != VALETKEY_OK)
        goto out;
    assert_int_equal(valetkey_www_authenticate(v, VALETKEY_DPOP_REPLAY, &rq, NULL, buf,
                                               sizeof buf),
                     VALETKEY_OK);
    /* A page of the revocation feed removes the client of a cached token. */
    rc = valetkey_verify(v, third, strlen(third), NULL, NULL);
    if (rc != VALETKEY_OK)
        goto out;
    static const char page[] = "{\"events\":[{\"seq\":7,\"type\":\"client\","
                               "\"client_id\":\"vk_c_app\",\"exp\":2000000900}],\"next\":8}";
    uint64_t next = 0;
    size_t applied = 0;
    int prc = vk_revfeed_apply_doc(page, sizeof page - 1, 0, apply_to, v, &next, &applied);
    if (prc != VK_OK) {
        assert_int_equal(prc, VK_ENOMEM); /* never a page misread as another */
        assert_int_equal(next, 0);
        rc = VALETKEY_ENOMEM;
        goto out;
    }
    assert_int_equal(next, 8);
    assert_int_equal(valetkey_verify(v, third, strlen(third), NULL, NULL),
                     VALETKEY_TOKEN_REVOKED);
out:
    valetkey_claims_free(c);
    valetkey_claims_free(c2);
    valetkey_verifier_free(v);
    return rc;
}

static void every_allocation_failure_is_a_clean_error_without_leaks(void **state)
{
    (void)state;
    /* A first run without failures: libcrypto's lazily built state (providers, the DRBG, the
     * error queue) exists from here on, as in any program that has verified a token. */
    fail_at = 0;
    long base = live_ours; /* the keys and documents setup made */
    assert_int_equal(scenario(), VALETKEY_OK);
    assert_int_equal(live_ours, base);

    long rounds = 0, failures = 0;
    for (long n = 1; n < 200000; n++) {
        alloc_count = 0;
        fail_at = n;
        injected = false;
        int rc = scenario();
        rounds++;
        /* Nothing of ours or jansson's outlives a round, whichever allocation failed. */
        assert_int_equal(live_ours, base);
        if (!injected) {
            assert_int_equal(rc, VALETKEY_OK);
            break;
        }
        if (getenv("VK_ALLOC_DEBUG") != NULL)
            fprintf(stderr, "round %ld: rc %d by %d\n", n, rc, injected_by);
        if (rc != VALETKEY_OK) {
            failures++;
            /* libvaletkey's and jansson's failures are always reported as what they are. */
            if (injected_by == 1 && rc != VALETKEY_ENOMEM)
                fail_msg("allocation %ld (ours) failed: code %d (%s), not VALETKEY_ENOMEM", n,
                         rc, valetkey_strerror(rc));
            if (!clean_error(rc))
                fail_msg("allocation %ld failed: unexpected code %d (%s)", n, rc,
                         valetkey_strerror(rc));
        }
    }
    fail_at = 0;
    assert_true(rounds > 50);   /* the scenario does allocate: the loop tested something */
    assert_true(failures > 10); /* and failures did reach the library's error paths */
    print_message("allocation failure rounds: %ld, of which %ld gave an error\n", rounds,
                  failures);
    /* The library still works after all that. */
    assert_int_equal(scenario(), VALETKEY_OK);
}

static void the_allocator_cannot_change_under_live_objects(void **state)
{
    (void)state;
    valetkey_verifier *v = t_verifier(jwks);
    assert_int_equal(valetkey_set_allocator(t_malloc, t_realloc, t_free), VALETKEY_EBUSY);
    valetkey_claims *c = NULL;
    assert_int_equal(valetkey_verify(v, token, strlen(token), NULL, &c), VALETKEY_OK);
    valetkey_verifier_free(v);
    assert_int_equal(valetkey_set_allocator(t_malloc, t_realloc, t_free), VALETKEY_EBUSY);
    valetkey_claims_free(c); /* claims outlive their verifier */
    assert_int_equal(valetkey_set_allocator(t_malloc, NULL, t_free), VALETKEY_EINVAL);
    assert_int_equal(valetkey_set_allocator(t_malloc, t_realloc, t_free), VALETKEY_OK);
}

int main(void)
{
    /* Before anything touches libcrypto: its allocator can only be set first. */
    if (CRYPTO_set_mem_functions(ossl_malloc, ossl_realloc, ossl_free) != 1)
        return 1;
    json_set_alloc_funcs(t_malloc, t_free);
    if (valetkey_set_allocator(t_malloc, t_realloc, t_free) != VALETKEY_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_allocation_failure_is_a_clean_error_without_leaks),
        cmocka_unit_test(the_allocator_cannot_change_under_live_objects),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
