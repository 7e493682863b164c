/* bench_jose: JWS sign/verify rates against the raw libcrypto signature rate, in the same run.
 *
 * Build and run from the repository root (no Makefile target needed):
 *
 *   cc -std=c11 -O2 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -Isrc -Iinclude \
 *      $(pkg-config --cflags jansson) bench/bench_jose.c src/jose/?*.c src/base/?*.c \
 *      $(pkg-config --libs jansson libcrypto) -lpthread -o /tmp/bench_jose && /tmp/bench_jose
 *
 * "raw" is the cheapest EVP path for one signature: an EVP_PKEY_CTX initialised once and reused,
 * SHA-256 of the same signing input included (Ed25519: one EVP_DigestSign). That is what
 * `openssl speed ecdsap256` measures, plus the hash. Compare with
 * `openssl speed -seconds 2 ecdsap256 ed25519 rsa2048` as well.
 *
 * The raw and the vk_ operation run in alternating short slices and each keeps its best slice,
 * so a neighbour process (a fuzzer, a build) disturbs both sides alike and the ratio stays
 * meaningful on a shared machine. One thread; the payload is a typical RFC 9068 access token. */
#include "jose/jose.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "base/b64url.h"
#include "base/crypto.h"
#include "base/limits.h"

#define SLICES    12
#define SLICE_SEC 0.25

static const char payload_json[] =
    "{\"iss\":\"https://as.example.com\",\"sub\":\"user-7d1f9a0c\","
    "\"aud\":\"https://api.example.com\""
    ",\"client_id\":\"s6BhdRkqt3\",\"scope\":\"openid profile orders:read orders:write\","
    "\"iat\":1767225600,\"nbf\":1767225600,\"exp\":1767229200,"
    "\"jti\":\"8Qv3kZ6mYtq1cJd9xW2hUe\",\"auth_time\":1767225590,\"acr\":\"1\"}";

struct ctx {
    enum vk_alg alg;
    struct vk_jwk *k;
    struct vk_buf tok;       /* a token made by vk_jws_sign, for the verify runs */
    size_t input_len;        /* its signing input: tok.p[0 .. input_len) */
    EVP_PKEY *pk;            /* the raw side's own key */
    EVP_PKEY_CTX *sc, *vc;   /* raw: prepared once */
    uint8_t sig[512];        /* raw: a signature over the signing input */
    size_t siglen;
    uint8_t vk_sig[512];     /* the token's own signature, decoded */
    size_t vk_siglen;
    int failures;
};

typedef void (*op_fn)(struct ctx *c);

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static double slice_rate(op_fn op, struct ctx *c)
{
    long n = 0;
    double t0 = now_s(), t;
    do {
        for (int i = 0; i < 20; i++)
            op(c);
        n += 20;
        t = now_s();
    } while (t - t0 < SLICE_SEC);
    return (double)n / (t - t0);
}

static void raw_sign(struct ctx *c)
{
    uint8_t d[32], sig[512];
    size_t len = sizeof sig;
    if (c->alg == VK_ALG_EDDSA) {
        EVP_MD_CTX *m = EVP_MD_CTX_new();
        if (EVP_DigestSignInit_ex(m, NULL, NULL, NULL, NULL, c->pk, NULL) != 1 ||
            EVP_DigestSign(m, sig, &len, (const uint8_t *)c->tok.p, c->input_len) != 1)
            c->failures++;
        EVP_MD_CTX_free(m);
        return;
    }
    vk_sha256(c->tok.p, c->input_len, d);
    if (EVP_PKEY_sign(c->sc, sig, &len, d, sizeof d) != 1)
        c->failures++;
}

static void raw_verify(struct ctx *c)
{
    uint8_t d[32];
    if (c->alg == VK_ALG_EDDSA) {
        EVP_MD_CTX *m = EVP_MD_CTX_new();
        if (EVP_DigestVerifyInit_ex(m, NULL, NULL, NULL, NULL, c->pk, NULL) != 1 ||
            EVP_DigestVerify(m, c->sig, c->siglen, (const uint8_t *)c->tok.p, c->input_len) != 1)
            c->failures++;
        EVP_MD_CTX_free(m);
        return;
    }
    vk_sha256(c->tok.p, c->input_len, d);
    if (EVP_PKEY_verify(c->vc, c->sig, c->siglen, d, sizeof d) != 1)
        c->failures++;
}

/* What token issuance does: a fresh output buffer per token. */
static void vk_sign(struct ctx *c)
{
    struct vk_err err;
    struct vk_buf b;
    vk_buf_init(&b, VK_MAX_JWT_LEN);
    if (vk_jws_sign(c->k, "at+jwt", VK_STR(payload_json), &b, &err) != VK_OK)
        c->failures++;
    vk_buf_clear(&b);
}

static void vk_verify(struct ctx *c)
{
    struct vk_err err;
    struct vk_jws j;
    if (vk_jws_verify_key(c->k, vk_buf_str(&c->tok), &j, &err) != VK_OK)
        c->failures++;
    vk_jws_clear(&j);
}

/* The signature check alone, without the JOSE parsing: shows what the JSON costs. */
static void vk_verify_input(struct ctx *c)
{
    if (vk_jwk_verify_input(c->k, c->tok.p, c->input_len, c->vk_sig, c->vk_siglen) != VK_OK)
        c->failures++;
}

static void compare(struct ctx *c, const char *what, op_fn raw, op_fn ours, const char *name)
{
    double best_raw = 0, best_ours = 0;
    for (int i = 0; i < SLICES; i++) {
        double r = slice_rate(raw, c), o = slice_rate(ours, c);
        if (r > best_raw)
            best_raw = r;
        if (o > best_ours)
            best_ours = o;
    }
    printf("%-6s %-6s raw %9.0f/s   %-17s %9.0f/s   ratio %.3f\n", vk_alg_name(c->alg), what,
           best_raw, name, best_ours, best_ours / best_raw);
}

static int bench(enum vk_alg alg)
{
    struct ctx c = {.alg = alg};
    struct vk_err err = {{0}};
    int ok = 1;

    vk_buf_init(&c.tok, VK_MAX_JWT_LEN);
    if (vk_jwk_generate(alg, &c.k, &err) != VK_OK ||
        vk_jws_sign(c.k, "at+jwt", VK_STR(payload_json), &c.tok, &err) != VK_OK) {
        fprintf(stderr, "bench_jose: %s\n", err.msg);
        return 1;
    }
    c.input_len = (size_t)(strrchr(c.tok.p, '.') - c.tok.p);
    if (vk_b64url_decode(vk_str_c(c.tok.p + c.input_len + 1), c.vk_sig, sizeof c.vk_sig,
                         &c.vk_siglen) != VK_OK)
        return 1;
    if (alg == VK_ALG_ES256)
        c.pk = EVP_EC_gen("P-256");
    else if (alg == VK_ALG_EDDSA)
        c.pk = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    else
        c.pk = EVP_RSA_gen(2048);
    if (c.pk == NULL)
        return 1;
    if (alg == VK_ALG_EDDSA) {
        EVP_MD_CTX *m = EVP_MD_CTX_new();
        c.siglen = sizeof c.sig;
        ok = EVP_DigestSignInit_ex(m, NULL, NULL, NULL, NULL, c.pk, NULL) == 1 &&
             EVP_DigestSign(m, c.sig, &c.siglen, (const uint8_t *)c.tok.p, c.input_len) == 1;
        EVP_MD_CTX_free(m);
    } else {
        uint8_t d[32];
        c.sc = EVP_PKEY_CTX_new_from_pkey(NULL, c.pk, NULL);
        c.vc = EVP_PKEY_CTX_new_from_pkey(NULL, c.pk, NULL);
        ok = EVP_PKEY_sign_init(c.sc) == 1 && EVP_PKEY_verify_init(c.vc) == 1 &&
             EVP_PKEY_CTX_set_signature_md(c.sc, EVP_sha256()) == 1 &&
             EVP_PKEY_CTX_set_signature_md(c.vc, EVP_sha256()) == 1;
        vk_sha256(c.tok.p, c.input_len, d);
        c.siglen = sizeof c.sig;
        ok = ok && EVP_PKEY_sign(c.sc, c.sig, &c.siglen, d, sizeof d) == 1;
    }
    if (!ok)
        return 1;
    compare(&c, "sign", raw_sign, vk_sign, "vk_jws_sign");
    compare(&c, "verify", raw_verify, vk_verify, "vk_jws_verify_key");
    compare(&c, "verify", raw_verify, vk_verify_input, "(signature only)");
    EVP_PKEY_CTX_free(c.sc);
    EVP_PKEY_CTX_free(c.vc);
    EVP_PKEY_free(c.pk);
    vk_buf_clear(&c.tok);
    vk_jwk_free(c.k);
    if (c.failures != 0) {
        fprintf(stderr, "bench_jose: %d operations failed\n", c.failures);
        return 1;
    }
    return 0;
}

int main(void)
{
    printf("bench_jose: %zu-byte payload, best of %d x %.2f s slices, one thread\n",
           sizeof payload_json - 1, SLICES, SLICE_SEC);
    if (bench(VK_ALG_ES256) != 0 || bench(VK_ALG_EDDSA) != 0 || bench(VK_ALG_RS256) != 0)
        return 1;
    return 0;
}
