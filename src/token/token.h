/* Tokens: RFC 9068 access-token JWTs, opaque secrets (prefix + 256 random bits, stored as
 * SHA-256 digests), and the keyring that holds the signing keys. */
#ifndef VK_TOKEN_TOKEN_H
#define VK_TOKEN_TOKEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/crypto.h"
#include "base/err.h"
#include "jose/jose.h"
#include "store/store.h"

#define VK_JTI_LEN 22 /* 128 random bits, base64url */

struct vk_access_claims {
    const char *iss;
    const char *sub;
    const char *client_id;
    const char *scope;     /* may be NULL or empty: then no scope claim */
    const char *const *aud;
    size_t n_aud;          /* 1: a string claim; more: an array */
    const char *jti;
    int64_t iat;
    int64_t exp;
    const char *cnf_x5t;   /* RFC 8705 §3.1: cnf {"x5t#S256": ...}; NULL: a bearer token */
};

/* Mints an RFC 9068 JWT (typ "at+jwt") signed with `signer` and appends it to out. All string
 * values are JSON-escaped. Thread-safe. */
int vk_access_token_mint(const struct vk_jwk *signer, const struct vk_access_claims *c,
                         struct vk_buf *out, struct vk_err *err);
/* OpenID Connect Core §2 id_token claims. */
struct vk_id_claims {
    const char *iss;
    const char *sub;
    const char *aud;     /* the client id */
    const char *nonce;   /* NULL or empty: omitted */
    int64_t auth_time;
    int64_t iat;
    int64_t exp;
};

/* Mints an id_token (typ "JWT") signed with `signer`; when access_token is not empty, at_hash is
 * the base64url of the left half of its SHA-256 (OIDC Core §3.1.3.6, for RS256/ES256). azp is
 * the client id. Appends to out. */
int vk_id_token_mint(const struct vk_jwk *signer, const struct vk_id_claims *c,
                     vk_str access_token, struct vk_buf *out, struct vk_err *err);

#define VK_PREFIX_CODE    "vk_ac_"
#define VK_PREFIX_REFRESH "vk_rt_"
#define VK_PREFIX_SESSION "vk_ss_"
#define VK_PREFIX_GRANT   "vk_g_"

/* A new random jti (VK_JTI_LEN chars + NUL). */
int vk_jti_new(char out[VK_JTI_LEN + 1]);

/* Opaque secrets: "<prefix><43 base64url chars>" carrying 256 random bits; *digest receives the
 * SHA-256 that the store keeps. out must hold strlen(prefix) + 44 bytes. */
int vk_secret_new(const char *prefix, char *out, size_t outsz, uint8_t digest[VK_DIGEST_LEN]);
/* The stored form of a presented secret. */
void vk_secret_digest(struct vk_secret s, uint8_t digest[VK_DIGEST_LEN]);

#define VK_PREFIX_CLIENT_SECRET "vk_cs_"
#define VK_PREFIX_CLIENT_ID     "vk_c_"

/* --- keyring ---------------------------------------------------------------------------------
 * The signing keys live in the store so every node shares them. A keyset is an immutable,
 * reference-counted snapshot: the active access-token key (ES256), the active id-token key
 * (RS256), every key to verify with, and the published JWKS document. Retired keys stay
 * published until every token they signed has expired (retired_at + longest token lifetime). */
struct vk_keyset {
    int refs; /* atomic via __atomic builtins */
    struct vk_jwks *verify;          /* active + still-published retired keys */
    const struct vk_jwk *access;     /* signs access tokens */
    const struct vk_jwk *id;         /* signs id_tokens */
    char *jwks_json;
    size_t jwks_len;
    int64_t generation;
    int64_t valid_until;             /* rebuild when a retired key's publication ends */
};

struct vk_keyring;

/* Loads the keys. With create_missing, generates and stores an ES256 access-token key and an RS256
 * id-token key when none is active (first start). min_ttl is the longest lifetime of a token the
 * server signs (access tokens, id_tokens). kek (may be NULL) is the master key: it is copied
 * (and wiped in vk_keyring_free), keys still in clear are wrapped under it first, and every
 * wrapped key must decrypt with it -- a missing or different master key fails with err naming
 * the key ids, never a fallback. Without a master key, keys stored in clear log a warning. */
int vk_keyring_open(struct vk_store *st, const struct vk_kek *kek, int64_t min_ttl, int64_t now,
                    bool create_missing, struct vk_keyring **out, struct vk_err *err);
void vk_keyring_free(struct vk_keyring *kr);
/* The current keyset (+1 reference). Checks the store for changes at most once per second, so
 * a rotation by `valetkey key rotate` or another node is picked up within a second. Never NULL
 * after a successful open. Thread-safe. */
struct vk_keyset *vk_keyring_acquire(struct vk_keyring *kr, int64_t now);
void vk_keyset_release(struct vk_keyset *ks);
/* Generates new keys for both uses (wrapped under kek when not NULL) and retires the active ones,
 * in one store transaction. Refuses with VK_ETOOBIG (err says when it will fit, *retry_at the
 * time) when the keys still published afterwards would exceed VK_MAX_JWKS_KEYS: a key that may
 * have signed a live token is never dropped from the JWKS. The store's keys must be in clear
 * or under kek (keys in clear are wrapped first when kek is given). */
int vk_keyring_rotate(struct vk_store *st, const struct vk_kek *kek, int64_t min_ttl,
                      int64_t now, int64_t *retry_at, struct vk_err *err);
/* Creates an active key for each use that lacks one (wrapped under kek when not NULL). */
int vk_keyring_ensure(struct vk_store *st, const struct vk_kek *kek, int64_t now,
                      struct vk_err *err);
/* Re-encrypts every stored key under `next`: keys in clear are wrapped, keys under `cur` (may
 * be NULL) are decrypted and wrapped again, keys already under `next` stay as they are, and a
 * key under any other master key is an error (nothing is changed). One store transaction,
 * started over when a concurrent rotation changed the keys. *changed (may be NULL) receives the
 * number of keys rewritten. The public keys, and so the JWKS, do not change. */
int vk_keyring_rewrap(struct vk_store *st, const struct vk_kek *cur, const struct vk_kek *next,
                      size_t *changed, struct vk_err *err);
/* How long a retired key stays published: the longest token lifetime (min_ttl, the largest one
 * any server recorded in the store, the largest per-client TTL) plus leeway. Records min_ttl in
 * the store when it is larger than what is recorded. */
int64_t vk_keyring_publish_window(struct vk_store *st, int64_t min_ttl);

#endif
