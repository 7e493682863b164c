/* bench_verify: libvaletkey's verification rates, through the public API, on one thread.
 *
 *   new tokens      tokens never seen before: the full check (ES256 signature, header and claims
 *                   parsing, policy) and the insert into the seen-token cache
 *   seen tokens     the same token presented again: a cache hit
 *   DPoP requests   a cached DPoP-bound token with a fresh proof each time (proof parsing, the
 *                   proof key's import and checks, its ES256 signature, the replay cache)
 *   raw ES256       one EVP_PKEY_verify of a prepared digest in this process: what
 *                   `openssl speed ecdsap256` measures, for reference
 *   SHA-256 / SipHash-2-4-128 of one token: the digest a cache hit starts with (the reason the
 *                   cache is keyed by SipHash, docs/architecture.md)
 *
 * Usage: bench_verify [OPENSSL_SPEED_VERIFY_RATE]   (bench/verify passes it; 0 = not measured)
 * Rates are per second of this thread's CPU time (as `openssl speed` counts), the best of
 * several short slices, and the measured paths alternate slice by slice, so a noisy neighbour
 * on a shared machine disturbs every column alike. Tokens are minted
 * before any timing starts. Not a test: it prints and exits 0 unless verification failed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/ec.h>
#include <openssl/evp.h>

#include "base/b64url.h"
#include "base/crypto.h"
#include "base/limits.h"
#include "jose/jose.h"
#include "valetkey.h"
#include "verify/verify.h"

#define ISS        "https://auth.example.com"
#define AUD        "https://api.example.com/"
#define NOW        2000000000
#define SLICES     8
#define SLICE_SEC  0.25
#define NEW_TOKENS 60000 /* enough for SLICES slices at the rates seen on this class of CPU */
#define SEEN_POOL  1000

static struct vk_jwk *as_key, *client_key;
static char **fresh;     /* NEW_TOKENS tokens, each verified once */
static size_t fresh_next;
static char *seen[SEEN_POOL];
static char *bound;      /* a DPoP-bound token */
static char **proofs;    /* fresh proofs for it */
static size_t proof_next, n_proofs;
static valetkey_verifier *v, *v_new; /* v_new: new tokens only, so they evict nothing of v's */
static long failures;

static int64_t fixed_clock(void *arg)
{
    (void)arg;
    return NOW;
}

/* CPU time of this thread, not wall time: `openssl speed` divides by CPU (user) time too, so
 * the ratio holds on a machine that other work keeps busy. */
static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static char *b64(const void *p, size_t n)
{
    char *s = malloc(vk_b64url_enc_len(n) + 1);
    vk_b64url_encode(p, n, s);
    return s;
}

static char *forge(const struct vk_jwk *k, const char *header, const char *payload)
{
    char *h = b64(header, strlen(header)), *p = b64(payload, strlen(payload));
    size_t n = strlen(h) + strlen(p) + 2;
    char *input = malloc(n);
    snprintf(input, n, "%s.%s", h, p);
    uint8_t sig[512];
    size_t siglen = 0;
    if (vk_jwk_sign_input(k, input, strlen(input), sig, sizeof sig, &siglen) != VK_OK)
        abort();
    char *s = b64(sig, siglen);
    size_t m = n + strlen(s) + 1;
    char *tok = malloc(m);
    snprintf(tok, m, "%s.%s", input, s);
    free(h);
    free(p);
    free(input);
    free(s);
    return tok;
}

/* A typical RFC 9068 token as valetkey mints it (about 560 bytes). */
static char *mint(size_t i, const char *extra)
{
    char header[256], payload[1024];
    snprintf(header, sizeof header, "{\"alg\":\"ES256\",\"typ\":\"at+jwt\",\"kid\":\"%s\"}",
             vk_jwk_kid(as_key));
    snprintf(payload, sizeof payload,
             "{\"iss\":\"" ISS "\",\"sub\":\"vk_c_Qm9vdHN0cmFwQ2xpZW50\",\"aud\":\"" AUD "\","
             "\"exp\":%d,\"iat\":%d,\"jti\":\"jti-%08zu-x4F2kQ9mYtq1cJ\","
             "\"client_id\":\"vk_c_Qm9vdHN0cmFwQ2xpZW50\",\"scope\":\"ai:models ai:chat\"%s}",
             NOW + 600, NOW, i, extra != NULL ? extra : "");
    return forge(as_key, header, payload);
}

static void op_new(void)
{
    if (fresh_next == NEW_TOKENS) {
        fprintf(stderr, "bench_verify: ran out of fresh tokens (raise NEW_TOKENS)\n");
        exit(2);
    }
    const char *t = fresh[fresh_next++];
    if (valetkey_verify(v_new, t, strlen(t), NULL, NULL) != VALETKEY_OK)
        failures++;
}

static void op_seen(void)
{
    static size_t i;
    const char *t = seen[i++ % SEEN_POOL];
    valetkey_claims *c = NULL;
    if (valetkey_verify(v, t, strlen(t), NULL, &c) != VALETKEY_OK)
        failures++;
    valetkey_claims_free(c);
}

static void op_dpop(void)
{
    if (proof_next == n_proofs) {
        fprintf(stderr, "bench_verify: ran out of proofs\n");
        exit(2);
    }
    struct valetkey_request rq = {.scheme = VALETKEY_SCHEME_DPOP,
                                  .method = "POST",
                                  .url = "https://api.example.com/v1/chat",
                                  .dpop = proofs[proof_next++]};
    if (valetkey_verify(v, bound, strlen(bound), &rq, NULL) != VALETKEY_OK)
        failures++;
}

static EVP_PKEY_CTX *raw_ctx;
static uint8_t raw_digest[32], raw_sig[80];
static size_t raw_siglen;

static void op_raw(void)
{
    if (EVP_PKEY_verify(raw_ctx, raw_sig, raw_siglen, raw_digest, sizeof raw_digest) != 1)
        failures++;
}

static void op_sha(void)
{
    static uint8_t d[32];
    vk_sha256(seen[0], strlen(seen[0]), d);
}

static void op_sip(void)
{
    static const uint8_t key[16] = {1, 2, 3};
    static uint8_t d[16];
    vk_siphash24_128(key, seen[0], strlen(seen[0]), d);
}

typedef void (*op_fn)(void);

static double slice(op_fn op, int batch)
{
    long n = 0;
    double t0 = now_s(), t;
    do {
        for (int i = 0; i < batch; i++)
            op();
        n += batch;
        t = now_s();
    } while (t - t0 < SLICE_SEC);
    return (double)n / (t - t0);
}

static void setup(void)
{
    struct vk_err err = {{0}};
    if (vk_jwk_generate(VK_ALG_ES256, &as_key, &err) != VK_OK ||
        vk_jwk_generate(VK_ALG_ES256, &client_key, &err) != VK_OK)
        abort();
    json_t *pub = vk_jwk_public_json(as_key);
    json_t *doc = json_pack("{s:[o]}", "keys", pub);
    char *jwks = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);

    static const char *const auds[] = {AUD, NULL};
    struct valetkey_options o;
    valetkey_options_init(&o);
    o.issuer = ISS;
    o.audiences = auds;
    o.jwks_json = jwks;
    o.clock = fixed_clock;
    o.seen_cache_entries = 16384;
    o.dpop_replay_entries = 1u << 20;
    if (valetkey_verifier_new(&v, &o) != VALETKEY_OK || valetkey_verifier_new(&v_new, &o) != 0)
        abort();
    free(jwks);

    fprintf(stderr, "bench_verify: minting %d tokens...\n", NEW_TOKENS + SEEN_POOL);
    fresh = malloc(NEW_TOKENS * sizeof *fresh);
    for (size_t i = 0; i < NEW_TOKENS; i++)
        fresh[i] = mint(i, NULL);
    for (size_t i = 0; i < SEEN_POOL; i++) {
        seen[i] = mint(NEW_TOKENS + i, NULL);
        valetkey_verify(v, seen[i], strlen(seen[i]), NULL, NULL); /* now cached */
    }

    /* The DPoP-bound token and its proofs. */
    char jkt[44], ath[44], extra[128];
    vk_jwk_thumbprint(client_key, jkt);
    snprintf(extra, sizeof extra, ",\"cnf\":{\"jkt\":\"%s\"}", jkt);
    bound = mint(NEW_TOKENS + SEEN_POOL, extra);
    vk_dpop_ath(vk_str_c(bound), ath);
    json_t *cpub = vk_jwk_public_json(client_key);
    json_object_del(cpub, "kid");
    json_object_del(cpub, "alg");
    json_object_del(cpub, "use");
    char *cpubs = json_dumps(cpub, JSON_COMPACT);
    json_decref(cpub);
    char header[512];
    snprintf(header, sizeof header, "{\"typ\":\"dpop+jwt\",\"alg\":\"ES256\",\"jwk\":%s}", cpubs);
    free(cpubs);
    n_proofs = 30000;
    proofs = malloc(n_proofs * sizeof *proofs);
    for (size_t i = 0; i < n_proofs; i++) {
        char payload[512];
        snprintf(payload, sizeof payload,
                 "{\"jti\":\"p-%zu-4Qm\",\"htm\":\"POST\",\"htu\":\"https://api.example.com/v1/"
                 "chat\",\"iat\":%d,\"ath\":\"%s\"}",
                 i, NOW, ath);
        proofs[i] = forge(client_key, header, payload);
    }

    /* Raw ES256: a prepared context, a digest, a DER signature (what openssl speed times). */
    EVP_PKEY *pk = EVP_EC_gen("P-256");
    EVP_PKEY_CTX *sc = EVP_PKEY_CTX_new_from_pkey(NULL, pk, NULL);
    raw_ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pk, NULL);
    vk_sha256("x", 1, raw_digest);
    raw_siglen = sizeof raw_sig;
    if (EVP_PKEY_sign_init(sc) != 1 ||
        EVP_PKEY_sign(sc, raw_sig, &raw_siglen, raw_digest, sizeof raw_digest) != 1 ||
        EVP_PKEY_verify_init(raw_ctx) != 1)
        abort();
    EVP_PKEY_CTX_free(sc);
    EVP_PKEY_free(pk);
}

int main(int argc, char **argv)
{
    double openssl_rate = argc > 1 ? atof(argv[1]) : 0;
    struct {
        const char *name;
        op_fn op;
        int batch;
        double best;
    } runs[] = {
        {"raw ES256 verify (this process)", op_raw, 20, 0},
        {"new tokens (full check + cache insert)", op_new, 20, 0},
        {"tokens already seen (cache hit)", op_seen, 200, 0},
        {"DPoP requests (cached token + new proof)", op_dpop, 10, 0},
        {"SHA-256 of one token", op_sha, 200, 0},
        {"SipHash-2-4-128 of one token", op_sip, 200, 0},
    };
    size_t nruns = sizeof runs / sizeof runs[0];

    setup();
    for (int s = 0; s < SLICES; s++)
        for (size_t r = 0; r < nruns; r++) {
            double rate = slice(runs[r].op, runs[r].batch);
            if (rate > runs[r].best)
                runs[r].best = rate;
        }
    if (failures != 0) {
        fprintf(stderr, "bench_verify: %ld verifications failed\n", failures);
        return 1;
    }

    double raw = runs[0].best, ref = openssl_rate > 0 ? openssl_rate : raw;
    printf("libvaletkey verification, 1 thread (token %zu bytes; best of %d x %.2f s slices)\n",
           strlen(seen[0]), SLICES, SLICE_SEC);
    printf("rates per CPU-second of one thread; \"vs openssl\" divides by `openssl speed ecdsap256`\n"
           "(run just before, also per CPU-second), \"vs raw\" by the raw ES256 verify timed in the\n"
           "same slices of this process.\n");
    printf("%-42s | %10s | %8s | %10s | %7s | %s\n", "path", "per second", "us each",
           "vs openssl", "vs raw", "target");
    printf("%-42s-|-%10s-|-%8s-|-%10s-|-%7s-|-%s\n", "------------------------------------------",
           "----------", "--------", "----------", "-------", "-------------------------");
    if (openssl_rate > 0)
        printf("%-42s | %10.0f | %8.2f | %8.2f x | %7s | %s\n",
               "openssl speed ecdsap256 verify (1 core)", openssl_rate, 1e6 / openssl_rate, 1.0,
               "", "reference");
    for (size_t r = 0; r < nruns; r++) {
        char target[64] = "";
        if (runs[r].op == op_new)
            snprintf(target, sizeof target, ">= 0.8 x openssl: %s",
                     runs[r].best >= 0.8 * ref ? "PASS" : "MISS");
        else if (runs[r].op == op_seen)
            snprintf(target, sizeof target, ">= 1,000,000/s: %s",
                     runs[r].best >= 1e6 ? "PASS" : "MISS");
        printf("%-42s | %10.0f | %8.3f | %8.2f x | %5.2f x | %s\n", runs[r].name, runs[r].best,
               1e6 / runs[r].best, runs[r].best / ref, runs[r].best / raw, target);
    }
    valetkey_verifier_free(v);
    valetkey_verifier_free(v_new);
    return 0;
}
