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
#include "jose/x509.h"
#include "store/store.h"

enum vk_client_auth_method {
    VK_CLIENT_AUTH_NONE = 0,   /* no credentials presented */
    VK_CLIENT_AUTH_BASIC = 1,  /* client_secret_basic */
    VK_CLIENT_AUTH_POST = 2,   /* client_secret_post */
    VK_CLIENT_AUTH_PUBLIC = 3, /* client_id only (public clients, "none") */
};

/* A client certificate presented with a request (RFC 8705): by the TLS peer, or forwarded by the
 * trusted reverse proxy. Borrowed DER, not verified yet. */
struct vk_client_cert {
    vk_str der;          /* the client's own certificate; len 0: none presented */
    const vk_str *chain; /* intermediates the client sent with it (TLS only) */
    size_t n_chain;
};

struct vk_client_creds {
    enum vk_client_auth_method method;
    vk_str client_id;
    struct vk_secret secret;
    const struct vk_client_cert *cert; /* the request's certificate, or NULL */
};

/* The RFC 8705 §2 methods: the client is identified by client_id and authenticated by the
 * certificate of its TLS connection. */
#define VK_AUTH_TLS_CLIENT  "tls_client_auth"
#define VK_AUTH_SELF_SIGNED "self_signed_tls_client_auth"
/* The client's registered method is one of the two above. */
bool vk_client_is_mtls(const struct vk_client *c);
/* A confidential client (OAuth 2.1 §2.1): it has a secret or authenticates by certificate. */
bool vk_client_is_confidential(const struct vk_client *c);
/* A bounded memo of certificate verdicts. Verifying a client certificate costs about a
 * millisecond of CPU with OpenSSL 3.0 (decoding the keys of the chain), twenty times a token,
 * and a client presents the same certificate with every request. A verdict is keyed by the
 * SHA-256 of the certificates and of the client's registration (id, method, registered name or
 * JWK Set), so a changed registration or another certificate is looked at afresh; a good one is
 * reused for at most 10 minutes and never past the chain's notAfter, a bad one for a minute
 * (a client cannot make the server redo a failed verification on every request of a
 * connection). The CAs are fixed for the life of the process. Thread-safe. */
struct vk_cert_memo;
int vk_cert_memo_new(size_t slots, struct vk_cert_memo **out);
void vk_cert_memo_free(struct vk_cert_memo *m); /* NULL is a no-op */

/* What certificate authentication needs from the server. */
struct vk_cert_auth {
    const struct vk_x509_ca *ca; /* the CAs of tls_client_auth; NULL: tls_client_auth fails */
    struct vk_cert_memo *memo;   /* NULL: verify every time */
};

/* Whether `cert` authenticates mTLS client `c` at time `now` (RFC 8705 §2): for
 * tls_client_auth, a chain to one of the CAs of `ca` (vk_x509_verify) and the registered subject
 * DN or SAN value; for self_signed_tls_client_auth, one of the certificates of the client's
 * registered JWK Set (x5c), within its validity period. VK_OK; VK_EINVAL or VK_EEXPIRED with
 * `why` saying what (for the log: no secret, no certificate content). `ca` may be NULL. */
int vk_client_cert_check(const struct vk_client *c, const struct vk_cert_auth *ca,
                         const struct vk_client_cert *cert, int64_t now, struct vk_err *why);

/* The attempt limiter (auth/limiter.c): counts events per key (a client and source network, an
 * account, an account and network, a device cookie, a network) under a struct vk_limit_policy
 * (base/limits.h), in a fixed table per process indexed by a keyed hash. A key the table does not
 * hold never waits, so one key's failures can never refuse another key. All functions are
 * thread-safe; a NULL limiter limits nothing. */
struct vk_auth_limiter;

/* What a table does when a new key finds its whole window pinned (every entry there used up its
 * free attempts). */
enum vk_limiter_full {
    /* Per-key tables: the new key is not recorded (vk_auth_limiter_hit returns false) and the
     * caller charges the source address instead; a pinned entry is never evicted, since that
     * would give its key a fresh set of free attempts. */
    VK_LIMITER_KEEP_PINNED = 0,
    /* Last-resort tables (source addresses): the least recently hit entry is evicted. */
    VK_LIMITER_EVICT_OLDEST = 1,
};

/* Makes a limiter with its own random hash keys. *out is owned by the caller (release with
 * vk_auth_limiter_free); VK_ENOMEM or VK_ECRYPTO on failure, *out NULL. */
int vk_auth_limiter_new(const struct vk_limit_policy *p, enum vk_limiter_full full,
                        struct vk_auth_limiter **out);
void vk_auth_limiter_free(struct vk_auth_limiter *l);
/* Seconds the key must still wait before its next attempt (0: go ahead). */
int64_t vk_auth_limiter_wait(struct vk_auth_limiter *l, vk_str key, int64_t now);
/* Records one event (a failure; for the success limits, a success). Returns false when the key
 * could not be recorded (KEEP_PINNED table, window full of pinned entries): the caller must then
 * charge a broader key with vk_auth_limiter_penalize. */
bool vk_auth_limiter_hit(struct vk_auth_limiter *l, vk_str key, int64_t now);
/* Records one event and raises the key's count to its free allowance first, so the key waits at
 * once: the fallback charge for a source whose narrower key could not be recorded. */
bool vk_auth_limiter_penalize(struct vk_auth_limiter *l, vk_str key, int64_t now);
/* Forgets the key (after a success). */
void vk_auth_limiter_reset(struct vk_auth_limiter *l, vk_str key);

/* The part of a source address that limits count: an IPv4 address whole (IPv4-mapped IPv6 as
 * IPv4), an IPv6 address by its /64 (whoever has one address of a /64 has all of them).
 * Unparsable input is copied as is. out should hold VK_ADDR_NET_LEN bytes. */
#define VK_ADDR_NET_LEN 64
void vk_auth_addr_net(const char *addr, char *out, size_t n);

/* The limiters client authentication consults; either may be NULL (not limited). */
struct vk_client_auth_limits {
    struct vk_auth_limiter *per_client; /* failed secrets per client id and source network */
    struct vk_auth_limiter *per_addr;   /* failed attempts per source network, any client id */
};

/* Authenticates the client. On VK_OK *out is the client record (arena strings). Failure is
 * VK_EOAUTH with 401 invalid_client (www_auth set when Basic was used), the same answer for an
 * unknown client and a wrong secret. allow_public: whether a public client presenting only its
 * client_id is acceptable at this endpoint. A client registered for tls_client_auth or
 * self_signed_tls_client_auth presents its client_id alone and is authenticated by cr->cert
 * (vk_client_cert_check with the CAs `ca`, which may be NULL: no tls_client_auth); a refused
 * certificate is logged with the reason and is not counted as a failed attempt (there is no
 * secret to guess). Secrets are compared as SHA-256 digests in constant
 * time. A failure against a cached record is re-checked against the store, so a secret rotated a
 * moment ago works at once. Failures are counted (OAuth 2.1 §2.4.1) per client id and source
 * network for existing confidential clients, and per source network for every failure,
 * including unknown client ids, which take no space of their own (docs/security.md).
 * VK_ESTORE/VK_ENOMEM for internal failures. */
int vk_client_authenticate(struct vk_client_cache *cc, const struct vk_client_auth_limits *lim,
                           const struct vk_cert_auth *ca, struct vk_arena *a,
                           const struct vk_client_creds *cr, bool allow_public, const char *peer,
                           int64_t now, struct vk_client *out, struct vk_oauth_err *oe);

/* Client ids we issue and accept: 1..VK_MAX_ID_LEN visible ASCII characters. */
bool vk_client_id_syntax_ok(vk_str id);

#endif
