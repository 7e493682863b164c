/* Many threads on one verifier (run under ThreadSanitizer by `make tsan`): verifications of
 * cached and new tokens, DPoP-bound ones included, while one thread revokes jtis and another
 * replaces the key set. Besides "no data race", it checks the promises: a revocation is in
 * force for every verification that starts after vk_verifier_revoke returned, cached tokens
 * included; a token whose key stays in every set is never refused; claims handed to one thread
 * stay valid while the cache drops its reference in another. Bounded in iterations and time. */
#include "verify_test.h"

#include <pthread.h>
#include <time.h>

#define TOKENS    64
#define VERIFIERS 4
#define ROUNDS    4000
#define MAX_SECS  20.0

static struct vk_jwk *ka, *kb, *kc, *client;
static char *set_ab, *set_abc, *set_a;
static char *tokens[TOKENS];  /* even: key A, odd: key B; every 8th DPoP-bound */
static char jtis[TOKENS][16];
static int revoked[TOKENS];   /* atomic: set after vk_verifier_revoke returned */
static valetkey_verifier *v;
static int stop;              /* atomic */
static double deadline;

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int setup(void **state)
{
    (void)state;
    set_now(T0);
    ka = t_key(VK_ALG_ES256);
    kb = t_key(VK_ALG_EDDSA);
    kc = t_key(VK_ALG_ES256);
    client = t_key(VK_ALG_ES256);
    struct vk_jwk *ab[] = {ka, kb, NULL}, *abc[] = {ka, kb, kc, NULL}, *a[] = {ka, NULL};
    set_ab = t_jwks(ab);
    set_abc = t_jwks(abc);
    set_a = t_jwks(a);
    char jkt[44];
    vk_jwk_thumbprint(client, jkt);
    char *cnf = t_printf(",\"cnf\":{\"jkt\":\"%s\"}", jkt);
    for (int i = 0; i < TOKENS; i++) {
        snprintf(jtis[i], sizeof jtis[i], "th-%d", i);
        tokens[i] = t_token(i % 2 == 0 ? ka : kb, jtis[i], T0 + 600, i % 8 == 0 ? cnf : NULL);
    }
    free(cnf);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    for (int i = 0; i < TOKENS; i++)
        free(tokens[i]);
    vk_jwk_free(ka);
    vk_jwk_free(kb);
    vk_jwk_free(kc);
    vk_jwk_free(client);
    free(set_ab);
    free(set_abc);
    free(set_a);
    return 0;
}

static bool over(void)
{
    return __atomic_load_n(&stop, __ATOMIC_RELAXED) || mono() > deadline;
}

/* A DPoP proof for token i, made by this thread (jti unique per call). */
static char *proof_for(int i, unsigned long seq)
{
    char ath[44];
    vk_dpop_ath(vk_str_c(tokens[i]), ath);
    json_t *pub = vk_jwk_public_json(client);
    char *pubs = json_dumps(pub, JSON_COMPACT);
    char *h = t_printf("{\"typ\":\"dpop+jwt\",\"alg\":\"ES256\",\"jwk\":%s}", pubs);
    char *p = t_printf("{\"jti\":\"%lu\",\"htm\":\"GET\",\"htu\":\"https://api.example/x\","
                       "\"iat\":%d,\"ath\":\"%s\"}",
                       seq, T0, ath);
    char *prf = t_forge(client, h, p);
    json_decref(pub);
    free(pubs);
    free(h);
    free(p);
    return prf;
}

struct worker {
    int id;
    unsigned long verified, refused_revoked;
    valetkey_claims *kept; /* claims held across iterations, released later */
    int failed;
};

static void *verifier_thread(void *arg)
{
    struct worker *w = arg;
    static unsigned long proof_seq;
    for (int r = 0; r < ROUNDS && !over(); r++) {
        int i = (r * 7 + w->id * 13) % TOKENS;
        int was_revoked = __atomic_load_n(&revoked[i], __ATOMIC_ACQUIRE);
        valetkey_claims *c = NULL;
        int rc;
        if (i % 8 == 0) {
            char *prf = proof_for(i, __atomic_add_fetch(&proof_seq, 1, __ATOMIC_RELAXED));
            struct valetkey_request rq = {.scheme = VALETKEY_SCHEME_DPOP,
                                          .method = "GET",
                                          .url = "https://api.example/x",
                                          .dpop = prf};
            rc = valetkey_verify(v, tokens[i], strlen(tokens[i]), &rq, &c);
            free(prf);
        } else {
            rc = valetkey_verify(v, tokens[i], strlen(tokens[i]), NULL, &c);
        }
        if (rc == VALETKEY_OK) {
            /* Revoked before we started: must have been refused. */
            if (was_revoked)
                w->failed = 1;
            if (strcmp(valetkey_claims_jti(c), jtis[i]) != 0)
                w->failed = 2;
            w->verified++;
            /* Keep one claims object a while, to free it later in this thread while the cache
             * (and other threads) drop theirs. */
            valetkey_claims_free(w->kept);
            w->kept = c;
        } else if (rc == VALETKEY_TOKEN_REVOKED) {
            w->refused_revoked++;
        } else if (rc == VALETKEY_TOKEN_UNKNOWN_KEY && i % 2 == 1) {
            /* B is briefly out of the set: fine for B's tokens only. */
        } else {
            w->failed = 3;
            fprintf(stderr, "token %d: unexpected %d (%s)\n", i, rc, valetkey_strerror(rc));
        }
    }
    return NULL;
}

static void *revoker_thread(void *arg)
{
    int *failed = arg;
    /* Revoke a third of the tokens, one by one, checking each at once. */
    for (int i = 1; i < TOKENS && !over(); i += 3) {
        usleep(2000);
        if (vk_verifier_revoke(v, VK_REVOKE_JTI, vk_str_c(jtis[i]), T0 + 600) != VK_OK)
            *failed = 1;
        __atomic_store_n(&revoked[i], 1, __ATOMIC_RELEASE);
        int rc = valetkey_verify(v, tokens[i], strlen(tokens[i]), NULL, NULL);
        if (rc != VALETKEY_TOKEN_REVOKED && !(rc == VALETKEY_TOKEN_UNKNOWN_KEY && i % 2 == 1))
            *failed = 2;
    }
    return NULL;
}

static void *rotator_thread(void *arg)
{
    int *failed = arg;
    const char *sets[] = {set_abc, set_ab, set_a, set_ab};
    for (int r = 0; !over(); r++) {
        const char *s = sets[r % 4];
        if (valetkey_verifier_set_jwks(v, s, strlen(s)) != VALETKEY_OK)
            *failed = 1;
        usleep(1000);
    }
    return NULL;
}

static void verification_revocation_and_rotation_in_parallel(void **state)
{
    (void)state;
    struct valetkey_options o;
    t_options(&o, set_ab);
    o.seen_cache_entries = 32; /* smaller than the token pool: evictions race with hits */
    assert_int_equal(valetkey_verifier_new(&v, &o), VALETKEY_OK);
    deadline = mono() + MAX_SECS;

    pthread_t th[VERIFIERS], rev, rot;
    struct worker w[VERIFIERS];
    int rev_failed = 0, rot_failed = 0;
    for (int i = 0; i < VERIFIERS; i++) {
        w[i] = (struct worker){.id = i};
        assert_int_equal(pthread_create(&th[i], NULL, verifier_thread, &w[i]), 0);
    }
    assert_int_equal(pthread_create(&rev, NULL, revoker_thread, &rev_failed), 0);
    assert_int_equal(pthread_create(&rot, NULL, rotator_thread, &rot_failed), 0);
    for (int i = 0; i < VERIFIERS; i++)
        pthread_join(th[i], NULL);
    pthread_join(rev, NULL);
    __atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
    pthread_join(rot, NULL);

    unsigned long verified = 0, refused = 0;
    for (int i = 0; i < VERIFIERS; i++) {
        assert_int_equal(w[i].failed, 0);
        verified += w[i].verified;
        refused += w[i].refused_revoked;
    }
    assert_int_equal(rev_failed, 0);
    assert_int_equal(rot_failed, 0);
    assert_true(verified > 100);
    print_message("verified %lu, refused as revoked %lu\n", verified, refused);
    /* Claims outlive the verifier and the cache that shared them. */
    valetkey_verifier_free(v);
    for (int i = 0; i < VERIFIERS; i++) {
        if (w[i].kept != NULL)
            assert_non_null(valetkey_claims_sub(w[i].kept));
        valetkey_claims_free(w[i].kept);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(verification_revocation_and_rotation_in_parallel),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
