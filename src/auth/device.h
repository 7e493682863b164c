/* Device cookies (OWASP, "Slow Down Online Guessing Attacks with Device Cookies"): a browser that
 * signed in successfully gets a cookie naming the user, so that later logins from it can skip the
 * per-account lockout an attacker elsewhere may have caused, while obeying a failure limit of
 * their own (docs/security.md, "Brute force").
 *
 * The value is  ISSUED "." ID "." USER_ID "." MAC  where ISSUED is the issue time in decimal
 * seconds, ID 16 random bytes in base64url (the cookie's own identity, which its failure count is
 * kept under), USER_ID the user's `sub`, and MAC base64url(HMAC-SHA256(key, "device|" ISSUED "."
 * ID "." USER_ID)). The key is a server-wide secret from the store, so every node accepts the
 * cookies of every other. A device cookie authenticates nobody: it only chooses which failure
 * counters a login attempt is charged to. All functions are thread-safe. */
#ifndef VK_AUTH_DEVICE_H
#define VK_AUTH_DEVICE_H

#include <stdint.h>

#include "base/crypto.h"
#include "base/str.h"

/* Room for any device cookie we make, with its NUL (user ids are at most 64 bytes). */
#define VK_DEVICE_COOKIE_MAX 192

/* Makes a device cookie for user_id (visible ASCII without '.', 1..64 bytes) issued at now, into
 * out (outsz bytes, NUL-terminated). VK_EINVAL for an unusable user id, VK_ETOOBIG when out is
 * too small, VK_ECRYPTO when the RNG fails. */
int vk_device_cookie_make(const uint8_t key[VK_DIGEST_LEN], const char *user_id, int64_t now,
                          char *out, size_t outsz);

/* Checks a presented device cookie: VK_OK when it is well formed, its MAC is right (compared in
 * constant time) and it was issued less than ttl seconds before now (and not more than a minute
 * after it: clocks of several nodes differ). *user_id and *id are then slices of value; on any
 * failure VK_EINVAL and both are empty. */
int vk_device_cookie_check(const uint8_t key[VK_DIGEST_LEN], vk_str value, int64_t now,
                           int64_t ttl, vk_str *user_id, vk_str *id);

#endif
