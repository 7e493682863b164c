/* The store: a table of operations and plain record structs. sqlite.c implements it (the
 * embedded default); postgres.c will be the second implementation of the same table.
 *
 * Every operation that changes state is one transaction: it applies whole or not at all.
 * Strings in records are NUL-terminated and allocated in the caller's arena. Digest fields hold
 * SHA-256 of secrets; the store never sees a secret in clear.
 *
 * Thread safety: a struct vk_store may be used from many threads at once. */
#ifndef VK_STORE_STORE_H
#define VK_STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/arena.h"
#include "base/crypto.h"
#include "base/err.h"
#include "base/str.h"

struct vk_client {
    const char *id;
    const char *name;
    bool has_secret;                        /* confidential client */
    uint8_t secret_digest[VK_DIGEST_LEN];   /* SHA-256 of the client secret */
    const char *auth_method;                /* token_endpoint_auth_method */
    const char *grant_types;                /* space-separated */
    const char *scope;                      /* space-separated allowed scopes */
    const char *redirect_uris;              /* newline-separated, exact strings */
    const char *post_logout_redirect_uris;  /* newline-separated */
    const char *resources;                  /* space-separated allowed RFC 8707 resources */
    int64_t access_token_ttl;               /* seconds; 0 means the server default */
    bool first_party;
    int64_t created_at;
};

enum vk_key_use { VK_KEY_USE_ACCESS = 1, VK_KEY_USE_ID = 2 };

struct vk_key_rec {
    const char *kid;
    const char *alg;         /* JOSE name */
    enum vk_key_use use;
    const char *private_pem; /* PKCS#8 */
    int64_t created_at;
    int64_t retired_at;      /* 0 while active */
};

struct vk_key_list {
    struct vk_key_rec *v;
    size_t n;
};

struct vk_client_list {
    struct vk_client *v;
    size_t n;
};

struct vk_store;

struct vk_store_ops {
    const char *name;
    /* Opens (creating and migrating as needed) the store at `dsn` (sqlite: a data directory). */
    int (*open)(const char *dsn, struct vk_store **out, struct vk_err *err);
    void (*close)(struct vk_store *st);

    /* Clients. client_put fails with VK_EEXIST when the id is taken. */
    int (*client_put)(struct vk_store *st, const struct vk_client *c, struct vk_err *err);
    int (*client_get)(struct vk_store *st, struct vk_arena *a, vk_str id, struct vk_client *out);
    int (*client_list)(struct vk_store *st, struct vk_arena *a, struct vk_client_list *out);
    int (*client_delete)(struct vk_store *st, vk_str id);
    int (*client_set_secret)(struct vk_store *st, vk_str id, const uint8_t digest[VK_DIGEST_LEN]);
    /* A counter that changes whenever any client changes (put, delete, new secret). */
    int (*clients_generation)(struct vk_store *st, int64_t *out);
    /* Largest per-client access_token_ttl (0 if none set). */
    int (*client_max_ttl)(struct vk_store *st, int64_t *out);

    /* Signing keys. key_list returns every stored key, newest first. key_rotate inserts the new
     * key and retires the currently active key of the same use, in one transaction. */
    int (*key_put)(struct vk_store *st, const struct vk_key_rec *k);
    int (*key_list)(struct vk_store *st, struct vk_arena *a, struct vk_key_list *out);
    int (*key_rotate)(struct vk_store *st, const struct vk_key_rec *k, int64_t now);
    int (*key_delete)(struct vk_store *st, const char *kid);
    /* A counter that changes whenever keys change: cheap polling for other nodes' rotations. */
    int (*keys_generation)(struct vk_store *st, int64_t *out);

    /* Revocation of self-contained access tokens by jti, kept until the token expires. Records
     * a revocation event (sequence-numbered) in the same transaction. */
    int (*token_revoke)(struct vk_store *st, const char *jti, const char *client_id,
                        int64_t expires_at, int64_t now);
    /* *revoked = true when the jti is on the revocation list. */
    int (*token_is_revoked)(struct vk_store *st, const char *jti, bool *revoked);
    /* Deletes revocation entries of tokens that expired before `now`. */
    int (*purge_expired)(struct vk_store *st, int64_t now);
};

struct vk_store {
    const struct vk_store_ops *ops;
};

extern const struct vk_store_ops vk_store_sqlite;

/* A read-through cache of client records in front of a store, so the token endpoint does not go
 * to the database for every request. Entries are dropped when the store's clients generation
 * changes; the generation is looked at most once per second, so a removed client or a rotated
 * secret stops working within a second on every node. A lookup with `fresh` bypasses the cache
 * (used to re-check after a failed authentication, so new clients and new secrets work at once).
 * Thread-safe. */
struct vk_client_cache;
int vk_client_cache_new(struct vk_store *st, struct vk_client_cache **out);
void vk_client_cache_free(struct vk_client_cache *cc);
int vk_client_cache_get(struct vk_client_cache *cc, struct vk_arena *a, vk_str id, int64_t now,
                        bool fresh, struct vk_client *out);

/* Opens the store named by a DSN: "postgres://..." or "postgresql://..." selects PostgreSQL (when
 * built in); anything else is a SQLite data directory. */
int vk_store_open(const char *dsn, struct vk_store **out, struct vk_err *err);
void vk_store_close(struct vk_store *st);

#endif
