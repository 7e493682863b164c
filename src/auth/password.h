/* Password hashing with Argon2id (RFC 9106), the one place that knows about libargon2.
 *
 * Hashes are stored as the PHC/argon2 encoded string
 *     $argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>$<salt>$<hash>
 * (salt and hash in unpadded standard base64), which records its own parameters: raising the
 * current parameters later does not invalidate existing hashes, and vk_password_needs_rehash()
 * tells the caller when to replace one after a successful login.
 *
 * Current parameters: t=2, m=19456 KiB (19 MiB), p=1, 16-byte salt, 32-byte hash (the OWASP
 * Password Storage Cheat Sheet's Argon2id baseline). Each hash or verification allocates m KiB.
 *
 * All functions are thread-safe. Passwords are borrowed and never copied, logged or kept. */
#ifndef VK_AUTH_PASSWORD_H
#define VK_AUTH_PASSWORD_H

#include <stdbool.h>
#include <stddef.h>

#include "base/crypto.h"

/* Size of a buffer that holds any encoded hash we produce, with its NUL (ours are 97 bytes). */
#define VK_PASSWORD_HASH_MAX 160
/* Longest password accepted anywhere, in bytes: bounds the work an attacker can ask for. */
#define VK_PASSWORD_MAX_LEN 1024
/* Shortest password the administration commands accept for new passwords, in bytes (NIST SP
 * 800-63B §5.1.1.2). Verification does not look at it. */
#define VK_PASSWORD_MIN_LEN 8

/* The rules a NEW password must meet, wherever it is set (`user add`, `user passwd`, the account
 * page): not empty, at least VK_PASSWORD_MIN_LEN and at most VK_PASSWORD_MAX_LEN bytes, no NUL
 * byte. No composition rules (NIST SP 800-63B §5.1.1.2: they do not help). Each caller words the
 * problem for its audience. */
enum vk_password_problem {
    VK_PASSWORD_OK = 0,
    VK_PASSWORD_EMPTY,
    VK_PASSWORD_TOO_SHORT,
    VK_PASSWORD_TOO_LONG,
    VK_PASSWORD_HAS_NUL,
};
enum vk_password_problem vk_password_check_new(struct vk_secret pw);

/* Hashes `pw` with Argon2id at the current parameters and a fresh 16-byte random salt (vk_rand)
 * into `out` (outsz bytes, at least VK_PASSWORD_HASH_MAX), NUL-terminated. Returns VK_OK;
 * VK_ETOOBIG when pw is longer than VK_PASSWORD_MAX_LEN or out is too small; VK_EINVAL for a
 * NULL pointer; VK_ECRYPTO when the RNG fails; VK_ENOMEM when libargon2 cannot allocate its
 * memory. On error out holds the empty string (when outsz > 0). */
int vk_password_hash(struct vk_secret pw, char *out, size_t outsz);

/* True when `pw` matches the Argon2id encoded string `encoded` (any parameters within sane
 * bounds: m <= 1 GiB, t <= 64, p <= 16, salt 8..64 bytes, hash 16..64 bytes). The hash is
 * compared in constant time, and a malformed or non-argon2id `encoded` (empty, argon2i/argon2d,
 * truncated, garbage, NULL) costs one dummy verification before returning false, so the time does
 * not tell whether or where the stored string is broken. A password longer than
 * VK_PASSWORD_MAX_LEN is rejected (false) before any hashing: its length is the caller's input,
 * not a secret. */
bool vk_password_verify(const char *encoded, struct vk_secret pw);

/* True when `encoded` uses weaker parameters than the current ones (smaller m or t, shorter salt
 * or hash) or is not a well-formed Argon2id string, so the caller should store a new hash after
 * a successful vk_password_verify(). False for a hash at (or above) the current parameters. */
bool vk_password_needs_rehash(const char *encoded);

/* Burns the time of one verification at the current parameters, for a login with an unknown
 * username: the answer for "no such user" and "wrong password" takes the same time, so timing
 * does not enumerate users. */
void vk_password_dummy_verify(struct vk_secret pw);

#endif
