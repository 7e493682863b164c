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
    const char *id_token_alg;               /* "RS256" (default) or "ES256" */
    bool introspect;                        /* a resource server: may introspect any access token */
    /* Mutual TLS (RFC 8705). */
    const char *jwks;                       /* registered JWK Set document (RFC 7591 `jwks`); its
                                               keys' x5c are a self_signed_tls_client_auth
                                               client's certificates (§2.2); "" if none */
    const char *tls_auth_kind;              /* tls_client_auth: "subject_dn", "san_dns",
                                               "san_uri", "san_ip" or "san_email" (§2.1.2) */
    const char *tls_auth_value;             /* ... and its registered value, normalised */
    bool tls_bound_tokens;                  /* tokens bound to the client's certificate (§3.4) */
};

enum vk_key_use { VK_KEY_USE_ACCESS = 1, VK_KEY_USE_ID = 2 };

/* A signing key. The private key is either in clear (kek_id "", private_pem the PKCS#8 PEM) or
 * wrapped under a master key (kek_id its id, private_pem "", wrapped the AES-256-GCM blob of the
 * PEM: see token/keyring.c). */
struct vk_key_rec {
    const char *kid;
    const char *alg;         /* JOSE name */
    enum vk_key_use use;
    const char *private_pem; /* PKCS#8 in clear, or "" when wrapped */
    const char *kek_id;      /* "" in clear, else the id of the master key that wraps it */
    const uint8_t *wrapped;  /* NULL in clear */
    size_t wrapped_len;
    int64_t created_at;
    int64_t retired_at;      /* 0 while active */
};

struct vk_key_list {
    struct vk_key_rec *v;
    size_t n;
};

/* A resource owner. id is the OpenID Connect `sub`: "vk_u_" + random, never reassigned, and
 * never equal to a client id (those start with "vk_c_"). */
struct vk_user {
    const char *id;
    const char *username;
    const char *password_hash; /* Argon2id encoded string: algorithm, parameters, salt, hash */
    const char *claims;        /* a JSON object: name, email, ... */
    int64_t created_at;
    int64_t password_changed_at;
};

struct vk_user_list {
    struct vk_user *v;
    size_t n;
};

/* A browser login session. The cookie value is a secret; only its digest is stored. The rest is
 * what the account page shows the user about it, never a secret. */
struct vk_session {
    uint8_t digest[VK_DIGEST_LEN];
    const char *user_id;
    int64_t auth_time;
    int64_t expires_at;
    const char *handle;     /* random public id naming the session in forms; NULL at session_put:
                               the store makes one */
    const char *user_agent; /* coarse: "Firefox on Linux" (auth/session.c), never the header */
    const char *address;    /* the client's network: a.b.c.0/24 or x:y:z::/48 */
    int64_t last_seen;      /* 0 at session_put: auth_time */
};

struct vk_session_list {
    struct vk_session *v;
    size_t n;
};

/* Public ids of sessions (vk_session.handle) that an operation ended. */
struct vk_handle_list {
    const char **v;
    size_t n;
};

/* A live grant of a user as the account page shows it: the client's name ("" once the client
 * was removed) and when the grant was last used (its newest refresh token, else its start). */
struct vk_user_grant {
    const char *id;
    const char *client_id;
    const char *client_name;
    const char *scope;
    const char *resources;
    int64_t created_at;
    int64_t last_used;
};

struct vk_user_grant_list {
    struct vk_user_grant *v;
    size_t n;
};

/* A remembered consent (user, client): the scope set approved and when it was last given. */
struct vk_consent {
    const char *client_id;
    const char *client_name; /* "" once the client was removed */
    const char *scope;
    int64_t created_at;
};

struct vk_consent_list {
    struct vk_consent *v;
    size_t n;
};

/* An authorization code (RFC 6749 §4.1.2), stored by digest, single use, bound to everything
 * the token request must match. */
struct vk_code {
    uint8_t digest[VK_DIGEST_LEN];
    const char *client_id;
    const char *user_id;
    const char *redirect_uri;
    const char *code_challenge;  /* S256 challenge (PKCE is required) */
    const char *scope;
    const char *nonce;           /* may be empty */
    const char *resources;       /* space-separated RFC 8707 resources requested at /authorize */
    const char *session_id;      /* hex digest of the login session */
    int64_t auth_time;
    int64_t created_at;
    int64_t expires_at;
    int64_t used_at;             /* 0 until redeemed */
    const char *grant_id;        /* the grant created at redemption, "" before */
};

/* A grant: what one code redemption started. Refresh tokens rotate within it; revoking it revokes
 * every refresh token and every access token issued from it (RFC 9700 §4.14.2). */
struct vk_grant {
    const char *id;
    const char *client_id;
    const char *user_id;
    const char *scope;
    const char *resources;
    const char *session_id;
    int64_t auth_time;
    int64_t created_at;
    int64_t expires_at;          /* absolute end of the refresh-token family */
    int64_t revoked_at;          /* 0 while live */
    const char *cnf_x5t;         /* a public client's refresh tokens are bound to the certificate
                                    with this x5t#S256 (RFC 8705 §4); "" or NULL: not bound */
};

/* One refresh token of a grant, stored by digest. */
struct vk_refresh {
    uint8_t digest[VK_DIGEST_LEN];
    const char *grant_id;
    int64_t created_at;
    int64_t expires_at;
    int64_t used_at;             /* 0 until rotated */
    /* Grace window for concurrent refreshes: the pair issued when this token was rotated,
     * encrypted under a key derived from this token (only its holder can read it), readable
     * until grace_until_ms (wall-clock milliseconds). */
    const uint8_t *grace_blob;
    size_t grace_len;
    int64_t grace_until_ms;
};

struct vk_client_list {
    struct vk_client *v;
    size_t n;
};

/* Bounds on what the store keeps (docs/architecture.md, "Retention"). The two caps apply when a
 * row is written; the rest is the minute purge's (purge_expired). */
#define VK_STORE_SESSIONS_PER_USER 32 /* live login sessions per user: a new one ends the oldest */
/* Spent refresh tokens kept per family, newest first, for reuse detection (RFC 9700 §4.14.2):
 * older ones go once the access token issued with them has expired. */
#define VK_STORE_SPENT_REFRESH_PER_GRANT 100
/* Live grants user_grants returns at most (the newest): every code flow starts a grant, so a
 * script can give one user any number, and one page must stay bounded. */
#define VK_STORE_ACCOUNT_GRANTS_MAX 1000

struct vk_store_retention {
    int64_t codes_after_expiry;  /* seconds a code is kept past its expiry (a late replay is
                                    still recognised and revokes its grant) */
    int64_t grants_after_expiry; /* seconds a grant and its refresh tokens are kept past the end
                                    of the family: >= the longest access-token lifetime, so a late
                                    revocation still reaches the access tokens issued from it */
    int64_t events_after_expiry; /* seconds a revocation event is kept past the expiry of what it
                                    revokes (a verifier feed that fell behind) */
    int64_t max_events;          /* revocation events kept at most; the oldest go first */
};
extern const struct vk_store_retention vk_store_retention_default;

/* What health() reports. */
struct vk_store_health {
    bool reads_ok;                /* a read of the store succeeded just now */
    bool writes_ok;               /* no write has failed since the last one that succeeded */
    int64_t writes_failing_since; /* wall-clock seconds of the first failure; 0 while writes_ok */
    int64_t write_failures;       /* failed writes since then */
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
    /* Deletes the client and the consents users gave it. */
    int (*client_delete)(struct vk_store *st, vk_str id);
    int (*client_set_secret)(struct vk_store *st, vk_str id, const uint8_t digest[VK_DIGEST_LEN]);
    /* A counter that changes whenever any client changes (put, delete, new secret). A read sees
     * every change committed before it began, by any process or node: no cached answer. */
    int (*clients_generation)(struct vk_store *st, int64_t *out);
    /* Largest per-client access_token_ttl (0 if none set). */
    int (*client_max_ttl)(struct vk_store *st, int64_t *out);

    /* Signing keys. key_list returns every stored key, newest first. */
    int (*key_put)(struct vk_store *st, const struct vk_key_rec *k);
    int (*key_list)(struct vk_store *st, struct vk_arena *a, struct vk_key_list *out);
    /* Inserts the n new keys and retires the active key of each one's use, in one transaction --
     * unless the keys still published afterwards (active ones, and retired ones with
     * retired_at > now - window) would number more than max_published: then nothing is written,
     * *retry_at is the time from which the rotation fits (0 if it never will) and the result is
     * VK_ETOOBIG. The count is taken inside the transaction, so concurrent rotations (from any
     * process) cannot both pass it. */
    int (*key_rotate)(struct vk_store *st, const struct vk_key_rec *k, size_t n, int64_t now,
                      int64_t window, size_t max_published, int64_t *retry_at);
    /* Replaces the private-key material (private_pem, kek_id, wrapped) of n keys in one
     * transaction: each k[i] by kid, only if its kek_id is still prev_kek_id[i]; and afterwards
     * no key may have a kek_id other than k[0].kek_id. Otherwise (a concurrent rotation or
     * rewrap) nothing is written and the result is VK_EEXIST: read again and retry. Overwritten
     * clear keys are zeroed in the database file (best effort for the write-ahead log). */
    int (*key_rewrap)(struct vk_store *st, const struct vk_key_rec *k,
                      const char *const *prev_kek_id, size_t n);
    int (*key_delete)(struct vk_store *st, const char *kid);
    /* The longest token lifetime any server of this store signs with, as recorded: raises the
     * record to `ttl` if it is lower, and returns the recorded value in *out. Every node and the
     * CLI then agree on how long a retired key stays published, whatever their own settings. */
    int (*key_ttl_raise)(struct vk_store *st, int64_t ttl, int64_t *out);
    /* A counter that changes whenever keys change: cheap polling for other nodes' rotations. */
    int (*keys_generation)(struct vk_store *st, int64_t *out);

    /* Revocation of self-contained access tokens by jti, kept until the token expires. Records
     * a revocation event (sequence-numbered) in the same transaction. */
    int (*token_revoke)(struct vk_store *st, const char *jti, const char *client_id,
                        int64_t expires_at, int64_t now);
    /* *revoked = true when the jti is on the revocation list. */
    int (*token_is_revoked)(struct vk_store *st, const char *jti, bool *revoked);
    /* Deletes what retention `r` no longer keeps: revocation entries and sessions past their
     * expiry, unused refresh tokens past theirs, codes, grants (with their refresh tokens) and
     * revocation events past theirs plus the margins of `r`, events beyond r->max_events, and the
     * sealed grace pairs of closed windows. Works in small batches, so requests are not held up;
     * meant to run once a minute. */
    int (*purge_expired)(struct vk_store *st, int64_t now, const struct vk_store_retention *r);

    /* Users. user_put fails with VK_EEXIST when the username is taken. Deleting a user or
     * changing the password revokes the user's grants and ends the user's sessions in the same
     * transaction (RFC 9700 §4.14.2 allows; it is what users expect). */
    int (*user_put)(struct vk_store *st, const struct vk_user *u, struct vk_err *err);
    int (*user_get)(struct vk_store *st, struct vk_arena *a, vk_str id, struct vk_user *out);
    int (*user_get_by_name)(struct vk_store *st, struct vk_arena *a, vk_str username,
                            struct vk_user *out);
    int (*user_list)(struct vk_store *st, struct vk_arena *a, struct vk_user_list *out);
    int (*user_delete)(struct vk_store *st, vk_str username, int64_t now);
    int (*user_set_password)(struct vk_store *st, vk_str username, const char *hash, int64_t now);
    /* Replaces the stored hash of the same password (a parameter upgrade at login): nothing is
     * revoked. Only if the stored hash is still `old_hash`, so a concurrent change wins. */
    int (*user_upgrade_hash)(struct vk_store *st, const char *user_id, const char *old_hash,
                             const char *new_hash);

    /* Sessions. session_put ends the user's oldest sessions beyond VK_STORE_SESSIONS_PER_USER. */
    int (*session_put)(struct vk_store *st, const struct vk_session *s);
    int (*session_get)(struct vk_store *st, struct vk_arena *a, const uint8_t digest[VK_DIGEST_LEN],
                       int64_t now, struct vk_session *out);
    int (*session_delete)(struct vk_store *st, const uint8_t digest[VK_DIGEST_LEN]);

    /* Consent remembered per (user, client): the scope set approved. */
    int (*consent_get)(struct vk_store *st, struct vk_arena *a, const char *user_id,
                       const char *client_id, const char **scope);
    int (*consent_put)(struct vk_store *st, const char *user_id, const char *client_id,
                       const char *scope, int64_t now);

    /* Codes. code_get reads a code as it is (used_at != 0 once redeemed or spent). */
    int (*code_put)(struct vk_store *st, const struct vk_code *c);
    int (*code_get)(struct vk_store *st, struct vk_arena *a, const uint8_t digest[VK_DIGEST_LEN],
                    struct vk_code *out);
    /* Redeems a code in ONE transaction: marks it used only if it is still unused, starts the
     * grant, stores its first refresh token (optional) and the access token's jti. VK_EEXIST when
     * the code was used meanwhile or its grant was revoked first (a replay): nothing is written,
     * and the caller must revoke the grant. */
    int (*code_redeem)(struct vk_store *st, const uint8_t code_digest[VK_DIGEST_LEN], int64_t now,
                       const struct vk_grant *g, const struct vk_refresh *rt, const char *jti,
                       int64_t jti_exp);
    int (*grant_get)(struct vk_store *st, struct vk_arena *a, const char *id,
                     struct vk_grant *out);
    /* Revokes a grant: every refresh token of it and every access-token jti issued from it are
     * revoked, with revocation events, in one transaction. Idempotent. */
    int (*grant_revoke)(struct vk_store *st, const char *id, int64_t now);
    int (*refresh_get)(struct vk_store *st, struct vk_arena *a,
                       const uint8_t digest[VK_DIGEST_LEN], struct vk_refresh *out);
    /* Rotates: marks `old_digest` used (only if it is still unused: VK_EEXIST otherwise, meaning a
     * concurrent rotation won), stores the grace blob on it, inserts the new refresh token and
     * records the access-token jti, in one transaction. The family's spent tokens beyond
     * VK_STORE_SPENT_REFRESH_PER_GRANT whose access tokens have expired (at `now`) are deleted. */
    int (*refresh_rotate)(struct vk_store *st, const uint8_t old_digest[VK_DIGEST_LEN],
                          int64_t now, const uint8_t *grace_blob, size_t grace_len,
                          int64_t grace_until_ms, const struct vk_refresh *next, const char *jti,
                          int64_t jti_exp);

    /* The account page (oauth/account.c). Every operation names the user: nothing here can reach
     * another user's rows, whatever id a form carries. */
    /* The user's live sessions (expires_at > now), newest sign-in first. */
    int (*session_list)(struct vk_store *st, struct vk_arena *a, const char *user_id, int64_t now,
                        struct vk_session_list *out);
    /* Records that the session was seen at `now` from `address`, only if it was last seen at or
     * before now - interval: at most one write per interval per session. */
    int (*session_touch)(struct vk_store *st, const uint8_t digest[VK_DIGEST_LEN], int64_t now,
                         const char *address, int64_t interval);
    /* Ends the user's session with this handle; VK_ENOTFOUND when the user has none by it. */
    int (*session_end)(struct vk_store *st, const char *user_id, const char *handle);
    /* Ends every session of the user except `keep`; *ended lists their handles (arena). */
    int (*session_end_others)(struct vk_store *st, struct vk_arena *a, const char *user_id,
                              const uint8_t keep[VK_DIGEST_LEN], struct vk_handle_list *ended);
    /* The user's live grants: not revoked, family not ended, and with an unused unexpired refresh
     * token or an unexpired access token. Newest first, at most VK_STORE_ACCOUNT_GRANTS_MAX. */
    int (*user_grants)(struct vk_store *st, struct vk_arena *a, const char *user_id, int64_t now,
                       struct vk_user_grant_list *out);
    /* The user's remembered consents, ordered by client. */
    int (*consent_list)(struct vk_store *st, struct vk_arena *a, const char *user_id,
                        struct vk_consent_list *out);
    /* Takes back what the user gave the client, in ONE transaction: revokes every grant of
     * (user, client) as grant_revoke does, spends the codes not yet redeemed and forgets the
     * consent. *n_grants counts the live grants revoked. VK_ENOTFOUND (nothing written) when
     * the user had no grant, pending code or consent for the client. */
    int (*user_client_revoke)(struct vk_store *st, const char *user_id, const char *client_id,
                              int64_t now, int *n_grants);
    /* A password change by the user: in ONE transaction, only if the stored hash is still
     * `old_hash` (else VK_EEXIST: it changed meanwhile, nothing written), sets `new_hash`, and
     * then does what user_set_password does (revokes every grant, spends pending codes, ends
     * sessions) except that the session `keep` stays. *ended lists the ended sessions' handles. */
    int (*user_change_password)(struct vk_store *st, struct vk_arena *a, const char *user_id,
                                const char *old_hash, const char *new_hash,
                                const uint8_t keep[VK_DIGEST_LEN], int64_t now,
                                struct vk_handle_list *ended);

    /* A server-wide secret kept in the store (e.g. the CSRF key), created on first use. */
    int (*secret_get_or_create)(struct vk_store *st, const char *name,
                                uint8_t out[VK_DIGEST_LEN]);

    /* The store's health for /healthz: a read is tried now; writes are judged by how the
     * store's own writes (requests, the purge, checkpoints) went, and while they fail a small
     * probe write is tried at most once a second, so recovery shows without traffic. Every
     * failure is logged at error level when writes start failing (then at most once a minute),
     * and the recovery at warning level. Thread-safe. */
    int (*health)(struct vk_store *st, struct vk_store_health *out);
};

struct vk_store {
    const struct vk_store_ops *ops;
};

/* The operations, for callers: every caller goes through these wrappers (store/store.c) and never
 * through st->ops, so there is one place where every store call passes -- for tracing, metrics
 * and fault injection. Each has the contract of the operation of the same name above. */
int vk_store_client_put(struct vk_store *st, const struct vk_client *c, struct vk_err *err);
int vk_store_client_get(struct vk_store *st, struct vk_arena *a, vk_str id, struct vk_client *out);
int vk_store_client_list(struct vk_store *st, struct vk_arena *a, struct vk_client_list *out);
int vk_store_client_delete(struct vk_store *st, vk_str id);
int vk_store_client_set_secret(struct vk_store *st, vk_str id, const uint8_t digest[VK_DIGEST_LEN]);
int vk_store_clients_generation(struct vk_store *st, int64_t *out);
int vk_store_client_max_ttl(struct vk_store *st, int64_t *out);
int vk_store_key_put(struct vk_store *st, const struct vk_key_rec *k);
int vk_store_key_list(struct vk_store *st, struct vk_arena *a, struct vk_key_list *out);
int vk_store_key_rotate(struct vk_store *st, const struct vk_key_rec *k, size_t n, int64_t now,
                        int64_t window, size_t max_published, int64_t *retry_at);
int vk_store_key_rewrap(struct vk_store *st, const struct vk_key_rec *k,
                        const char *const *prev_kek_id, size_t n);
int vk_store_key_delete(struct vk_store *st, const char *kid);
int vk_store_key_ttl_raise(struct vk_store *st, int64_t ttl, int64_t *out);
int vk_store_keys_generation(struct vk_store *st, int64_t *out);
int vk_store_token_revoke(struct vk_store *st, const char *jti, const char *client_id,
                          int64_t expires_at, int64_t now);
int vk_store_token_is_revoked(struct vk_store *st, const char *jti, bool *revoked);
int vk_store_purge_expired(struct vk_store *st, int64_t now, const struct vk_store_retention *r);
int vk_store_user_put(struct vk_store *st, const struct vk_user *u, struct vk_err *err);
int vk_store_user_get(struct vk_store *st, struct vk_arena *a, vk_str id, struct vk_user *out);
int vk_store_user_get_by_name(struct vk_store *st, struct vk_arena *a, vk_str username,
                              struct vk_user *out);
int vk_store_user_list(struct vk_store *st, struct vk_arena *a, struct vk_user_list *out);
int vk_store_user_delete(struct vk_store *st, vk_str username, int64_t now);
int vk_store_user_set_password(struct vk_store *st, vk_str username, const char *hash, int64_t now);
int vk_store_user_upgrade_hash(struct vk_store *st, const char *user_id, const char *old_hash,
                               const char *new_hash);
int vk_store_session_put(struct vk_store *st, const struct vk_session *s);
int vk_store_session_get(struct vk_store *st, struct vk_arena *a,
                         const uint8_t digest[VK_DIGEST_LEN], int64_t now, struct vk_session *out);
int vk_store_session_delete(struct vk_store *st, const uint8_t digest[VK_DIGEST_LEN]);
int vk_store_consent_get(struct vk_store *st, struct vk_arena *a, const char *user_id,
                         const char *client_id, const char **scope);
int vk_store_consent_put(struct vk_store *st, const char *user_id, const char *client_id,
                         const char *scope, int64_t now);
int vk_store_code_put(struct vk_store *st, const struct vk_code *c);
int vk_store_code_get(struct vk_store *st, struct vk_arena *a, const uint8_t digest[VK_DIGEST_LEN],
                      struct vk_code *out);
int vk_store_code_redeem(struct vk_store *st, const uint8_t code_digest[VK_DIGEST_LEN], int64_t now,
                         const struct vk_grant *g, const struct vk_refresh *rt, const char *jti,
                         int64_t jti_exp);
int vk_store_grant_get(struct vk_store *st, struct vk_arena *a, const char *id,
                       struct vk_grant *out);
int vk_store_grant_revoke(struct vk_store *st, const char *id, int64_t now);
int vk_store_refresh_get(struct vk_store *st, struct vk_arena *a,
                         const uint8_t digest[VK_DIGEST_LEN], struct vk_refresh *out);
int vk_store_refresh_rotate(struct vk_store *st, const uint8_t old_digest[VK_DIGEST_LEN],
                            int64_t now, const uint8_t *grace_blob, size_t grace_len,
                            int64_t grace_until_ms, const struct vk_refresh *next, const char *jti,
                            int64_t jti_exp);
int vk_store_secret_get_or_create(struct vk_store *st, const char *name,
                                  uint8_t out[VK_DIGEST_LEN]);
int vk_store_health(struct vk_store *st, struct vk_store_health *out);
/* The account page's operations (see the ops table). */
int vk_store_session_list(struct vk_store *st, struct vk_arena *a, const char *user_id,
                          int64_t now, struct vk_session_list *out);
int vk_store_session_touch(struct vk_store *st, const uint8_t digest[VK_DIGEST_LEN], int64_t now,
                           const char *address, int64_t interval);
int vk_store_session_end(struct vk_store *st, const char *user_id, const char *handle);
int vk_store_session_end_others(struct vk_store *st, struct vk_arena *a, const char *user_id,
                                const uint8_t keep[VK_DIGEST_LEN], struct vk_handle_list *ended);
int vk_store_user_grants(struct vk_store *st, struct vk_arena *a, const char *user_id,
                         int64_t now, struct vk_user_grant_list *out);
int vk_store_consent_list(struct vk_store *st, struct vk_arena *a, const char *user_id,
                          struct vk_consent_list *out);
int vk_store_user_client_revoke(struct vk_store *st, const char *user_id, const char *client_id,
                                int64_t now, int *n_grants);
int vk_store_user_change_password(struct vk_store *st, struct vk_arena *a, const char *user_id,
                                  const char *old_hash, const char *new_hash,
                                  const uint8_t keep[VK_DIGEST_LEN], int64_t now,
                                  struct vk_handle_list *ended);

/* The back end's name ("sqlite"), for messages. */
const char *vk_store_name(const struct vk_store *st);

extern const struct vk_store_ops vk_store_sqlite;

/* A read-through cache of client records in front of a store, so the token endpoint does not read
 * the client row for every request. Every lookup asks the store for its clients generation (one
 * small read: see the back ends) and drops all entries when it moved, so a removed client or a
 * rotated secret stops working as soon as the change is committed, on every node. A lookup with
 * `fresh` bypasses the cache (used to re-check after a failed authentication). Thread-safe. */
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
