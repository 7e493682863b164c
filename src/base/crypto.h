/* The few libcrypto primitives base/ offers everyone: randomness, SHA-256, constant-time
 * comparison, wiping, and the secret type that has no way to be printed. */
#ifndef VK_BASE_CRYPTO_H
#define VK_BASE_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
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

/* --- the master key (key-encryption key) ----------------------------------------------------
 * 32 random bytes that encrypt the signing keys at rest (docs/architecture.md, "Keys at rest").
 * Its id is a fingerprint -- the first 8 bytes of SHA-256("valetkey/kek-id/v1" || 0 || key) in
 * hex -- that is stored beside every wrapped key, so a wrong or missing master key is named
 * before any decryption is tried. The id reveals nothing usable about the key. */
#define VK_KEK_LEN    32
#define VK_KEK_ID_LEN 16
#define VK_KEK_FILE_MAX 1024 /* a master-key file is a few dozen bytes; refuse anything bigger */

struct vk_kek {
    uint8_t key[VK_KEK_LEN];
    char id[VK_KEK_ID_LEN + 1];
};

/* Parses the content of a master-key file: exactly 32 raw bytes, or -- with surrounding
 * whitespace ignored -- 64 hex digits, or the base64 (RFC 4648 §4, padded) or base64url
 * (unpadded) of 32 bytes. Anything else is VK_EINVAL. Fills out (key and id). */
int vk_kek_parse(const uint8_t *in, size_t n, struct vk_kek *out);
/* Reads and parses the master-key file at path. Refuses (VK_EINVAL, err names the path and the
 * fix) anything but a regular file owned by this user (or root) with no permission bits for
 * group or others, and files over VK_KEK_FILE_MAX bytes. The read buffer is wiped. */
int vk_kek_load_file(const char *path, struct vk_kek *out, struct vk_err *err);
/* A new random master key. */
int vk_kek_generate(struct vk_kek *out);
/* The key's base64url (43 characters + NUL), the form `valetkey key new-master-key` writes. */
void vk_kek_encode(const struct vk_kek *k, char out[44]);
/* HMAC-SHA256(key, label || 0 || in): a subkey for one purpose, so the master key itself is
 * never used for two things (wrapping, the CSRF key). */
void vk_kek_derive(const struct vk_kek *k, const char *label, const uint8_t *in, size_t n,
                   uint8_t out[VK_DIGEST_LEN]);
/* Wipes the key. NULL is a no-op. */
void vk_kek_clear(struct vk_kek *k);

/* Key wrapping: AES-256-GCM under vk_kek_derive(k, "valetkey/key-wrap/v1"), random 96-bit nonce,
 * `aad` authenticated but not stored. The blob is version (1) || nonce || ciphertext || tag
 * (n + VK_WRAP_OVERHEAD bytes). vk_kek_unwrap fails with VK_ECRYPTO on a wrong key, a different
 * aad or any changed byte, and then writes nothing to out. */
#define VK_WRAP_VERSION  1
#define VK_WRAP_OVERHEAD (1 + 12 + 16)
int vk_kek_wrap(const struct vk_kek *k, vk_str aad, const uint8_t *in, size_t n, uint8_t *out,
                size_t outsz, size_t *outlen);
int vk_kek_unwrap(const struct vk_kek *k, vk_str aad, const uint8_t *in, size_t n, uint8_t *out,
                  size_t outsz, size_t *outlen);

#endif
