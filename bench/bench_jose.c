/* bench_jose: JWS sign/verify rates against the raw libcrypto signature rate, in the same run.
 *
 * Build and run from the repository root (no Makefile target needed):
 *
 *   cc -std=c11 -O2 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -Isrc -Iinclude \
 *      $(pkg-config --cflags jansson) bench/bench_jose.c src/jose/?*.c src/base/?*.c \
 *      $(pkg-config --libs jansson libcrypto) -lpthread -o /tmp/bench_jose && /tmp/bench_jose
 *
 * "raw" is the cheapest EVP path for one signature over a SHA-256 digest (one EVP_PKEY_CTX
 * initialised once and reused, hashing included), i.e. what `openssl speed ecdsap256` measures
 * plus the hash. Compare with `openssl speed -seconds 2 ecdsap256 ed25519 rsa2048` as well.
 * Single-threaded; the payload is a typical RFC 9068 access token. */
#include "jose/jose.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "base/crypto.h"
#include "base/limits.h"

#define SECONDS 2.0

static const char payload_json[] =
    "{\"iss\":\"https://as.example.com\",\"sub\":\"user-7d1f9a0c\",\"aud\":\"https://api.example.com\""
    ",\"client_id\":\"s6BhdRkqt3\",\"scope\":\"openid profile orders:read orders:write\","
    "\"iat\":1767225600,\"nbf\":1767225600,\"exp\":1767229200,"
    "\"jti\":\"8Qv3kZ6mYtq1cJd9xW2hUe\",\"auth_time\":1767225590,\"acr\":\"1\"}";

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

#define RATE(var, body)                                                                            \
    do {                                                                                           \
        long n_ = 0;                                                                               \
        double t0_ = now_s(), t_;                                                                  \
        do {                                                                                       \
            for (int i_ = 0; i_ < 50; i_++) {                                                      \
                body;                                                                              \
            }                                                                                      \
            n_ += 50;                                                                              \
            t_ = now_s();                                                                          \
        } while (t_ - t0_ < SECONDS);                                                              \
        (var) = (double)n_ / (t_ - t0_);                                                           \
    } while (0)

static int fail(const char *what)
{
    fprintf(stderr, "bench_jose: %s failed\n", what);
    return 1;
}

static int bench(enum vk_alg alg)
{
    struct vk_jwk *k = NULL;
    struct vk_err err = {{0}};
    struct vk_buf tok;
    struct vk_jws jws = {0};
    vk_str payload = VK_STR(payload_json);
    double r_raw_sign = 0, r_raw_verify = 0, r_sign = 0, r_verify = 0;
    uint8_t dgst[32], sig[512];
    size_t siglen = sizeof sig;
    EVP_PKEY *pk = NULL;
    EVP_PKEY_CTX *sc = NULL, *vc = NULL;
    EVP_MD_CTX *mc = NULL;
    int ok = 1;

    if (vk_jwk_generate(alg, &k, &err) != VK_OK)
        return fail(err.msg);
    vk_buf_init(&tok, VK_MAX_JWT_LEN);
    if (vk_jws_sign(k, "at+jwt", payload, &tok, &err) != VK_OK)
        return fail(err.msg);

    /* The floor: a key and a context prepared once, one signature per iteration. */
    if (alg == VK_ALG_ES256)
        pk = EVP_EC_gen("P-256");
    else if (alg == VK_ALG_EDDSA)
        pk = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    else
        pk = EVP_RSA_gen(2048);
    if (pk == NULL)
        return fail("keygen");
    if (alg == VK_ALG_EDDSA) {
        RATE(r_raw_sign, {
            mc = EVP_MD_CTX_new();
            siglen = sizeof sig;
            ok &= EVP_DigestSignInit_ex(mc, NULL, NULL, NULL, NULL, pk, NULL) == 1 &&
                  EVP_DigestSign(mc, sig, &siglen, (const uint8_t *)payload_json,
                                 sizeof payload_json - 1) == 1;
            EVP_MD_CTX_free(mc);
        });
        RATE(r_raw_verify, {
            mc = EVP_MD_CTX_new();
            ok &= EVP_DigestVerifyInit_ex(mc, NULL, NULL, NULL, NULL, pk, NULL) == 1 &&
                  EVP_DigestVerify(mc, sig, siglen, (const uint8_t *)payload_json,
                                   sizeof payload_json - 1) == 1;
            EVP_MD_CTX_free(mc);
        });
    } else {
        sc = EVP_PKEY_CTX_new_from_pkey(NULL, pk, NULL);
        vc = EVP_PKEY_CTX_new_from_pkey(NULL, pk, NULL);
        ok &= EVP_PKEY_sign_init(sc) == 1 && EVP_PKEY_verify_init(vc) == 1 &&
              EVP_PKEY_CTX_set_signature_md(sc, EVP_sha256()) == 1 &&
              EVP_PKEY_CTX_set_signature_md(vc, EVP_sha256()) == 1;
        RATE(r_raw_sign, {
            vk_sha256(payload_json, sizeof payload_json - 1, dgst);
            siglen = sizeof sig;
            ok &= EVP_PKEY_sign(sc, sig, &siglen, dgst, sizeof dgst) == 1;
        });
        RATE(r_raw_verify, {
            vk_sha256(payload_json, sizeof payload_json - 1, dgst);
            ok &= EVP_PKEY_verify(vc, sig, siglen, dgst, sizeof dgst) == 1;
        });
    }

    /* What token issuance does: a fresh output buffer per token. */
    RATE(r_sign, {
        struct vk_buf b;
        vk_buf_init(&b, VK_MAX_JWT_LEN);
        ok &= vk_jws_sign(k, "at+jwt", payload, &b, &err) == VK_OK;
        vk_buf_clear(&b);
    });
    RATE(r_verify, {
        ok &= vk_jws_verify_key(k, vk_buf_str(&tok), &jws, &err) == VK_OK;
        vk_jws_clear(&jws);
    });
    if (!ok)
        return fail("a signature operation");
    printf("%-6s sign   raw %9.0f/s   vk_jws_sign       %9.0f/s   ratio %.3f\n",
           vk_alg_name(alg), r_raw_sign, r_sign, r_sign / r_raw_sign);
    printf("%-6s verify raw %9.0f/s   vk_jws_verify_key %9.0f/s   ratio %.3f\n",
           vk_alg_name(alg), r_raw_verify, r_verify, r_verify / r_raw_verify);
    EVP_PKEY_CTX_free(sc);
    EVP_PKEY_CTX_free(vc);
    EVP_PKEY_free(pk);
    vk_buf_clear(&tok);
    vk_jwk_free(k);
    return 0;
}

int main(void)
{
    printf("bench_jose: %zu-byte payload, %.0f s per measurement, one thread\n",
           sizeof payload_json - 1, SECONDS);
    if (bench(VK_ALG_ES256) != 0 || bench(VK_ALG_EDDSA) != 0 || bench(VK_ALG_RS256) != 0)
        return 1;
    return 0;
}
