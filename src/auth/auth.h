/* Client authentication (RFC 6749 §2.3, OAuth 2.1 §2.4) and the brute-force limiter (OAuth 2.1
 * §2.4.1: endpoints that check secrets must be protected against guessing). */
#ifndef VK_AUTH_AUTH_H
#define VK_AUTH_AUTH_H

#include <stdbool.h>
#include <stdint.h>

#include "base/arena.h"
#include "base/crypto.h"
#include "base/err.h"
#include "base/limits.h"
#include "base/str.h"
#include "store/store.h"

enum vk_client_auth_method {
    VK_CLIENT_AUTH_NONE = 0,   /* no credentials presented */
    VK_CLIENT_AUTH_BASIC = 1,  /* client_secret_basic */
    VK_CLIENT_AUTH_POST = 2,   /* client_secret_post */
    VK_CLIENT_AUTH_PUBLIC = 3, /* client_id only (public clients, "none") */
};

struct vk_client_creds {
    enum vk_client_auth_method method;
    vk_str client_id;
    struct vk_secret secret;
};

/* A limiter of failed attempts per key (a client id, "u:<username>", "a:<address>") under a
 * struct vk_limit_policy (base/limits.h). */
struct vk_auth_limiter;
int vk_auth_limiter_new(const struct vk_limit_policy *p, struct vk_auth_limiter **out);
void vk_auth_limiter_free(struct vk_auth_limiter *l);
/* Seconds the key must still wait before its next attempt (0: go ahead). Thread-safe. */
int64_t vk_auth_limiter_wait(struct vk_auth_limiter *l, vk_str key, int64_t now);
void vk_auth_limiter_fail(struct vk_auth_limiter *l, vk_str key, int64_t now);
void vk_auth_limiter_reset(struct vk_auth_limiter *l, vk_str key);

/* Authenticates the client. On VK_OK *out is the client record (arena strings). Failure is
 * VK_EOAUTH with 401 invalid_client (www_auth set when Basic was used), the same answer for an
 * unknown client and a wrong secret. allow_public: whether a public client presenting only its
 * client_id is acceptable at this endpoint. Secrets are compared as SHA-256 digests in constant
 * time. A failure against a cached record is re-checked against the store, so a secret rotated a
 * moment ago works at once. VK_ESTORE/VK_ENOMEM for internal failures. */
int vk_client_authenticate(struct vk_client_cache *cc, struct vk_auth_limiter *lim,
                           struct vk_arena *a, const struct vk_client_creds *cr, bool allow_public,
                           const char *peer, int64_t now, struct vk_client *out,
                           struct vk_oauth_err *oe);

/* Client ids we issue and accept: 1..VK_MAX_ID_LEN visible ASCII characters. */
bool vk_client_id_syntax_ok(vk_str id);

#endif
