/* The few libcrypto primitives base/ offers everyone: randomness, SHA-256, constant-time
 * comparison, wiping, and the secret type that has no way to be printed. */
#ifndef VK_BASE_CRYPTO_H
#define VK_BASE_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/str.h"

#define VK_DIGEST_LEN 32

/* A secret value (token, code, client secret, password, cookie). There is deliberately no
 * format specifier for it: log its fingerprint (vk_fp) instead. Borrowed unless stated. */
struct vk_secret {
    const char *p;
    size_t len;
};

struct vk_fp {
    char hex[13]; /* first 12 hex digits of SHA-256: correlates without leaking entropy */
};

/* Fills buf with n bytes from the CSPRNG. */
int vk_rand(uint8_t *buf, size_t n);
void vk_sha256(const void *data, size_t n, uint8_t out[VK_DIGEST_LEN]);
/* Constant-time comparison of two digests. */
bool vk_ct_eq_digest(const uint8_t a[VK_DIGEST_LEN], const uint8_t b[VK_DIGEST_LEN]);
/* Constant-time comparison of two secrets of possibly different length: compares their
 * SHA-256 digests, so the time does not depend on where they differ. */
bool vk_ct_eq_secret(struct vk_secret a, struct vk_secret b);
void vk_wipe(void *p, size_t n);
struct vk_fp vk_fp(struct vk_secret s);
/* Lower-case hex of n bytes into out (2n+1 bytes). */
void vk_hex(const uint8_t *in, size_t n, char *out);
/* A random base64url string of `bytes` random bytes with an optional prefix, NUL-terminated,
 * into out of size outsz. */
int vk_rand_token(const char *prefix, size_t bytes, char *out, size_t outsz);

/* Authenticated encryption keyed by a high-entropy secret (e.g. a refresh token): key =
 * HMAC-SHA256(secret, label), AES-256-GCM with a random 96-bit nonce. The sealed blob is
 * nonce || ciphertext || tag (n + 28 bytes). vk_open fails (VK_ECRYPTO) on any tampering. */
#define VK_SEAL_OVERHEAD 28
int vk_seal(struct vk_secret key_secret, const char *label, const uint8_t *in, size_t n,
            uint8_t *out, size_t outsz, size_t *outlen);
int vk_open(struct vk_secret key_secret, const char *label, const uint8_t *in, size_t n,
            uint8_t *out, size_t outsz, size_t *outlen);
/* SipHash-2-4: a keyed 64-bit hash (a PRF) for tables indexed by values from the network, so
 * that without the key nobody can choose values that land on the same slots. Fast, not a MAC
 * for anything that leaves the process. Thread-safe. */
uint64_t vk_siphash24(const uint8_t key[16], const void *data, size_t n);
/* The same with a 128-bit output (the reference implementation's variant, checked against
 * libcrypto's SIPHASH with size 16 in test_base_siphash), for naming entries by digest. */
void vk_siphash24_128(const uint8_t key[16], const void *data, size_t n, uint8_t out[16]);
/* HMAC-SHA256. */
void vk_hmac_sha256(const uint8_t *key, size_t klen, const void *data, size_t n,
                    uint8_t out[VK_DIGEST_LEN]);

#endif
