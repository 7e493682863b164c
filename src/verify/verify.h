/* verify/: the resource-server side (libvaletkey), and the access-token check the server shares.
 *
 * Internal API, hidden from libvaletkey's exports (-fvisibility=hidden). Functions documented as
 * returning "a valetkey_rc" return the public codes of include/valetkey.h (verdicts about a
 * token or a proof); the others return the base/ codes (enum vk_rc). Time is always a parameter
 * (`now`, seconds since the epoch): nothing here reads the clock except through the verifier's
 * configured clock in verifier.c. docs/architecture.md ("libvaletkey") shows how the pieces fit. */
#ifndef VK_VERIFY_VERIFY_H
#define VK_VERIFY_VERIFY_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/str.h"
#include "jose/jose.h"
#include "valetkey.h"

/* The caches name their entries by vk_siphash24_128 (base/crypto.h) under a random key per
 * table: see docs/architecture.md, "The seen-token cache", for why not SHA-256. */
#define VK_H128_LEN 16

/* ---- expset.c: a bounded set of 128-bit keys that expire --------------------------------------
 * Holds the revoked jtis and the DPoP proof jtis already seen. Sharded, each shard an
 * open-addressing table under its own mutex; an expired entry is dead and is reclaimed when its
 * shard is rebuilt. Never forgets a live entry to make room: a full shard refuses (VK_ETOOBIG),
 * because a forgotten revocation or proof jti would be a security failure, not a cache miss.
 * Thread-safe. */
struct vk_expset;
/* capacity: live entries the set must hold (rounded up per shard). VK_OK or VK_ENOMEM. */
int vk_expset_new(size_t capacity, struct vk_expset **out);
void vk_expset_free(struct vk_expset *s); /* NULL is a no-op */
/* Adds key, live until `expires` (exclusive, seconds). unique: VK_EEXIST when the key is already
 * present and live (a replay), and nothing changes. Otherwise a present key keeps the later of
 * the two expiries. VK_OK, VK_EEXIST, VK_ETOOBIG (full of live entries), VK_ENOMEM. */
int vk_expset_add(struct vk_expset *s, const uint8_t key[VK_H128_LEN], int64_t expires,
                  int64_t now, bool unique);
bool vk_expset_contains(struct vk_expset *s, const uint8_t key[VK_H128_LEN], int64_t now);
size_t vk_expset_count(struct vk_expset *s, int64_t now); /* live entries (tests, metrics) */

/* What a revocation names (the revocation feed's event types, docs/revocations.md): one token
 * by its jti, every token of a client (removed), every token of a subject (a removed user). */
enum vk_revoke_kind { VK_REVOKE_JTI = 0, VK_REVOKE_CLIENT = 1, VK_REVOKE_SUB = 2 };
#define VK_REVOKE_KINDS 3

/* ---- claims.c: the claims of a verified token, flattened once ---------------------------------
 * One allocation: the top-level members as (name, string value, compact JSON) triples plus the
 * fields the verifier needs. Immutable after vk_claims_build and reference-counted, so the
 * seen-token cache and any number of callers share one copy. */
struct vk_claim {
    const char *name;
    const char *str;  /* the value when it is a JSON string without NUL, else NULL */
    const char *json; /* the value as compact JSON text */
};

struct valetkey_claims {
    atomic_size_t refs;
    size_t size; /* of the whole block, for the wipe on free */
    int64_t exp;
    const char *sub, *client_id, *scope, *jti, *cnf_jkt; /* borrowed from members */
    const char *cnf_x5t;                                /* cnf.x5t#S256 (RFC 8705), or NULL */
    /* The token's names on the revocation list, one per kind of revocation event:
     * vk_siphash24_128 of jti, client_id and sub, each under its kind's key. */
    uint8_t rev_key[VK_REVOKE_KINDS][VK_H128_LEN];
    char jkt[44];                                       /* cnf.jkt's storage */
    char x5t[44];                                       /* cnf.x5t#S256's storage */
    size_t n;
    struct vk_claim members[]; /* then the strings */
};

/* Builds claims from a verified RFC 9068 payload whose dates vk_verify_access checked (exp is
 * copied, fractions rounded down). Requires jti (at most 255 bytes), sub and client_id as
 * strings (RFC 9068 §2.2) and a cnf, when present, with well-formed members we can check: jkt
 * (RFC 9449 §6.1) and x5t#S256 (RFC 8705 §3.1), nothing else.
 * rev_keys[kind] keys rev_key[kind]. Returns a valetkey_rc: VALETKEY_OK (*out has one
 * reference), VALETKEY_TOKEN_CLAIMS, VALETKEY_ENOMEM. */
int vk_claims_build(const json_t *payload, const uint8_t rev_keys[VK_REVOKE_KINDS][16],
                    struct valetkey_claims **out);

#define VK_ALG_MASK_ALL                                                                           \
    ((1u << VK_ALG_ES256) | (1u << VK_ALG_RS256) | (1u << VK_ALG_PS256) | (1u << VK_ALG_EDDSA))

/* ---- access.c: the access-token check (shared with the server's oauth/) ----------------------
 * Verifies an RFC 9068 access token against a JWK Set at time `now`: the signature with the key
 * the header's kid selects and that key's own algorithm (RFC 8725 §3.1), typ at+jwt (RFC 9068
 * §4), iss exactly `issuer`, exp/nbf/iat with `leeway` seconds (RFC 7519 §4.1.4-6), exp
 * required, the key's algorithm in alg_mask (1u << enum vk_alg; VK_ALG_MASK_ALL for every
 * one). Audience, scope, jti and revocation are the caller's policy. On VALETKEY_OK *out
 * holds the header and payload (vk_jws_clear); out->key is borrowed from keys. Otherwise *out
 * is zeroed. Returns a valetkey_rc: VALETKEY_OK, VALETKEY_TOKEN_MALFORMED, _SIGNATURE,
 * _UNKNOWN_KEY, _TYPE, _ISSUER, _EXPIRED, _NOT_YET_VALID, _CLAIMS, VALETKEY_ENOMEM. */
int vk_verify_access(const struct vk_jwks *keys, vk_str token, int64_t now, int64_t leeway,
                     const char *issuer, unsigned alg_mask, struct vk_jws *out,
                     struct vk_err *err);

/* ---- policy.c: scope and audience ------------------------------------------------------------- */
/* RFC 6749 §3.3: true when every space-separated scope in `required` is in `granted`
 * (exact, case-sensitive tokens). An empty `required` is always satisfied. */
bool vk_policy_scopes_cover(vk_str granted, vk_str required);
/* RFC 7519 §4.1.3, RFC 9068 §4: true when aud (a string or an array of strings) names one of
 * the NULL-terminated `accepted`. */
bool vk_policy_audience_ok(const json_t *aud, const char *const *accepted);
/* A mask of (1u << enum vk_alg) from NULL-terminated names; VK_EINVAL for a name that is not an
 * asymmetric algorithm we implement (none, HS256, ...) or an empty list. */
int vk_policy_alg_mask(const char *const *names, unsigned *mask);

/* ---- seen_cache.c: tokens already verified, and revoked jtis ---------------------------------
 * A set-associative cache keyed by vk_siphash128 of the token string, mapping to the token's
 * claims; and the revocation list keyed by the jti (never by the token string: an ECDSA
 * signature has a second valid encoding, so one token has more than one string). A revocation
 * bumps a generation counter; a cache hit re-checks its jti against the list only when the
 * generation moved since its entry was last checked, so the common hit is one hash, one lock
 * and a few comparisons. Thread-safe. */
struct vk_seen;
/* entries: cached tokens (0: no cache, revocations still work); revocations: live revoked
 * jtis. VK_OK or VK_ENOMEM. */
int vk_seen_new(size_t entries, size_t revocations, struct vk_seen **out);
void vk_seen_free(struct vk_seen *s); /* drops the cache's claims references; NULL no-op */
/* Looks a token up by digest. Returns a valetkey_rc: VALETKEY_OK with *out a new reference when
 * the token was verified before and is still good at `now` (exp - leeway not passed, verified
 * under key-set epoch `epoch`, jti not revoked); VALETKEY_TOKEN_REVOKED when its jti has been
 * revoked since (the entry is dropped); VALETKEY_TOKEN_EXPIRED; VALETKEY_NO_TOKEN when it is
 * not cached (a miss: verify it in full). */
int vk_seen_lookup(struct vk_seen *s, const uint8_t digest[VK_H128_LEN], int64_t now,
                   int64_t leeway, uint64_t epoch, struct valetkey_claims **out);
/* The revocation generation, read BEFORE checking a new token with vk_seen_revoked and
 * passed to vk_seen_insert, so a revocation racing the insert is seen by the next hit. */
uint64_t vk_seen_generation(struct vk_seen *s);
/* True when any of the token's names (its jti, client, subject: c->rev_key) is revoked. */
bool vk_seen_revoked(struct vk_seen *s, const struct valetkey_claims *c, int64_t now);
/* Remembers a verified token (takes a new reference to c). Evicts, within the set the digest
 * falls in, an empty, dead or least recently used entry. Never fails: a cache that cannot
 * remember only costs a later signature check. */
void vk_seen_insert(struct vk_seen *s, const uint8_t digest[VK_H128_LEN],
                    struct valetkey_claims *c, uint64_t epoch, uint64_t generation, int64_t now);
/* Records "tokens with this name (a rev_key) are revoked until `until`" (the entry is kept until
 * then, plus leeway the caller adds). From that return on, no lookup of a token with that name
 * succeeds. VK_OK, VK_ETOOBIG (the list is full of live revocations), VK_ENOMEM. */
int vk_seen_revoke(struct vk_seen *s, const uint8_t key[VK_H128_LEN], int64_t until,
                   int64_t now);
size_t vk_seen_count(struct vk_seen *s); /* cached tokens (tests) */

/* ---- fetch.c: HTTPS GET with libcurl, the only file that includes curl ------------------------ */
struct vk_fetch_conn; /* a kept-alive connection for repeated fetches (the revocation feed) */
struct vk_fetch_opts {
    long timeout_ms;        /* whole transfer, connection included */
    const char *ca_file;    /* NULL: the system's trust store */
    size_t max_bytes;       /* a longer body is refused (VK_ETOOBIG) */
    const atomic_int *cancel; /* non-NULL: the transfer stops when it becomes non-zero */
    /* Non-NULL: HTTP Basic authentication (RFC 7617) with these, sent with the first request
     * (client_secret_basic, RFC 6749 §2.3.1: the caller form-urlencodes both first). */
    const char *username;
    const char *password;
    struct vk_fetch_conn *conn; /* non-NULL: reuse its connection (one thread at a time) */
    long *status;               /* non-NULL: receives the HTTP status, 0 when there was none */
};
/* A reusable transfer handle: its connection stays open between fetches (HTTP keep-alive), so a
 * feed polled many times pays for TCP and TLS once. VK_OK or VK_ENOMEM. */
int vk_fetch_conn_new(struct vk_fetch_conn **out);
void vk_fetch_conn_free(struct vk_fetch_conn *c); /* NULL no-op */
/* s form-urlencoded (RFC 6749 Appendix B: every byte but ALPHA / DIGIT / "-" / "." / "_" / "*"
 * as %XX, space as "+"), as RFC 6749 §2.3.1 asks of Basic credentials: a new string (vk_free),
 * or NULL when memory ran out. */
char *vk_fetch_form_encode(const char *s);
/* True for an https URL, or an http URL whose host is 127.0.0.1, [::1] or localhost (RFC 9700
 * §2.6 / checklist #51: TLS everywhere except loopback). */
bool vk_fetch_url_allowed(const char *url);
/* GETs url into out (a vk_buf the caller initialized with a cap >= max_bytes). No redirects are
 * followed, only http(s), status 200 only. VK_OK, VK_EINVAL (URL not allowed), VK_EIO (network,
 * TLS, status), VK_ETOOBIG, VK_ENOMEM. err never contains the body. */
int vk_fetch(const char *url, const struct vk_fetch_opts *o, struct vk_buf *out,
             struct vk_err *err);
/* Process-wide libcurl initialisation, reference-counted (curl_global_init is thread-safe in
 * the libcurl we build against). VK_OK or VK_EIO. */
int vk_fetch_global_init(void);
void vk_fetch_global_cleanup(void);

/* ---- jwks_cache.c: where the keys come from --------------------------------------------------
 * Either a static set (given as JSON; replaceable) or a remote one: the issuer's metadata
 * (RFC 8414 §3, then OpenID Connect Discovery 1.0 §4) names jwks_uri, which is fetched at
 * creation, then refreshed by one background thread every `refresh` seconds, and refetched on
 * demand when a token names an unknown kid, at most once per `min_refetch` seconds. Key sets are
 * immutable and reference-counted: a verification holds its set while a refresh swaps in the
 * next. `epoch` changes when a new set lacks a key the old one had, which invalidates what the
 * seen-token cache verified with it. Keys whose alg is not in alg_mask are dropped on load. */
struct vk_keysrc_opts {
    const char *issuer;   /* discovery base; also checked against the metadata's issuer */
    const char *jwks_uri; /* NULL: discovered */
    long refresh;         /* seconds */
    long min_refetch;     /* seconds */
    long timeout_ms;
    const char *ca_file;
    unsigned alg_mask;
    bool background; /* never fetch in the caller: see valetkey_options.background_fetch */
};
struct vk_keysrc;
/* A static source from a JWK Set document. VK_OK, VK_EINVAL (not a usable set), VK_ENOMEM. */
int vk_keysrc_new_static(const char *json, size_t len, unsigned alg_mask, struct vk_keysrc **out,
                         struct vk_err *err);
/* A remote source: discovery and the first fetch happen before this returns, or in background
 * mode in the refresher thread (never VK_EIO then). `now` starts the refetch interval. VK_OK,
 * VK_EINVAL (a URL not allowed), VK_EIO (fetch or parse), VK_ENOMEM. */
int vk_keysrc_new_remote(const struct vk_keysrc_opts *o, int64_t now, struct vk_keysrc **out,
                         struct vk_err *err);
/* Stops the refresher (interrupting a transfer) and frees. NULL is a no-op. */
void vk_keysrc_free(struct vk_keysrc *ks);
/* The current set, +1 reference (vk_jwks_unref), and its epoch. NULL only in background mode
 * before the first set arrived. */
struct vk_jwks *vk_keysrc_acquire(struct vk_keysrc *ks, uint64_t *epoch);
uint64_t vk_keysrc_epoch(struct vk_keysrc *ks);
/* A token named a kid the current set lacks: refetch now unless a fetch happened less than
 * min_refetch seconds before `now` (or one is in progress, or the source is static). True when
 * a new set was installed, so the caller may try once more. Blocks for at most one fetch; in
 * background mode never: it wakes the refresher and returns false. */
bool vk_keysrc_refetch(struct vk_keysrc *ks, int64_t now);
/* Replaces the set with a JWK Set document (both kinds of source). VK_OK, VK_EINVAL, VK_ENOMEM. */
int vk_keysrc_set(struct vk_keysrc *ks, const char *json, size_t len, struct vk_err *err);
/* Fetches done so far (tests: the refetch rate limit). */
unsigned long vk_keysrc_fetches(struct vk_keysrc *ks);

/* ---- dpop.c: DPoP proofs (RFC 9449), for the library and for the server's token endpoint ------ */

/* Replay detection: proof jtis seen within the accepted iat window. Thread-safe. */
struct vk_dpop_replay;
int vk_dpop_replay_new(size_t capacity, struct vk_dpop_replay **out); /* VK_OK, VK_ENOMEM */
void vk_dpop_replay_free(struct vk_dpop_replay *r);                    /* NULL no-op */

/* Server nonces (RFC 9449 §8, §9): stateless, nonce = base64url(counter || HMAC(key, counter)
 * truncated), counter = now / lifetime; the current and the previous counter are accepted, so a
 * nonce lives between one and two lifetimes. Instances sharing the key accept each other's. */
#define VK_DPOP_NONCE_LEN 43
struct vk_dpop_nonce {
    uint8_t key[32];
    int64_t lifetime;
};
/* secret: NULL for a random key, else at least 32 bytes (its SHA-256 is the key). VK_OK,
 * VK_EINVAL, VK_ECRYPTO. */
int vk_dpop_nonce_init(struct vk_dpop_nonce *n, const char *secret, int64_t lifetime);
void vk_dpop_nonce_make(const struct vk_dpop_nonce *n, int64_t now,
                        char out[VK_DPOP_NONCE_LEN + 1]);
bool vk_dpop_nonce_ok(const struct vk_dpop_nonce *n, vk_str nonce, int64_t now);

/* What one proof is checked against (RFC 9449 §4.3). */
struct vk_dpop_check {
    vk_str proof;          /* the DPoP header field value */
    vk_str method;         /* htm must equal it (case-sensitive, RFC 9110 §9.1) */
    vk_str url;            /* htu must match it, both normalised, query and fragment ignored */
    int64_t now;
    int64_t max_age;       /* iat >= now - max_age */
    int64_t leeway;        /* iat <= now + leeway */
    unsigned alg_mask;     /* allowed proof algorithms: 1u << enum vk_alg */
    vk_str access_token;   /* non-empty: ath must be base64url(SHA-256(it)) (§4.3 step 12) */
    const char *jkt;       /* non-NULL: the proof key's RFC 7638 thumbprint must equal it
                              (cnf.jkt of the token, or dpop_jkt at the authorization endpoint) */
    const struct vk_dpop_nonce *nonce; /* non-NULL: the proof must carry a current nonce */
    struct vk_dpop_replay *replay;     /* non-NULL: the jti must be new; it is recorded */
    /* non-NULL: used instead of `replay` (valetkey_options.dpop_replay: a host's cache shared
     * between processes) */
    int (*replay_fn)(void *arg, const char *jti, size_t len, int64_t expires);
    void *replay_arg;
};
struct vk_dpop_result {
    char jkt[44]; /* the proof key's thumbprint: the token endpoint binds cnf.jkt to it */
};
/* Verifies one proof. Returns a valetkey_rc: VALETKEY_OK (out->jkt set), VALETKEY_DPOP_*
 * (MALFORMED, ALG, KEY, SIGNATURE, METHOD, URL, IAT, REPLAY, ATH, KEY_MISMATCH, USE_NONCE),
 * VALETKEY_ECAPACITY (the replay cache is full of live jtis: refused, not forgotten),
 * VALETKEY_ENOMEM. The replay cache records the jti only when every other check passed. */
int vk_dpop_verify(const struct vk_dpop_check *c, struct vk_dpop_result *out,
                   struct vk_err *err);
/* RFC 9449 §4.3 step 9 with RFC 3986 §6.2.2 and §6.2.3 normalisation: lower-case scheme and
 * host, upper-case percent-encoding hex, unreserved characters decoded, dot segments removed,
 * default port dropped, empty path as "/", query and fragment removed. Only http and https.
 * VK_OK, VK_EINVAL (not an absolute http(s) URL), VK_ETOOBIG (outsz too small). */
int vk_dpop_htu_normalize(vk_str url, char *out, size_t outsz);
/* base64url(SHA-256(token)) (RFC 9449 §4.2 `ath`), 43 characters + NUL. */
void vk_dpop_ath(vk_str token, char out[44]);

/* ---- revfeed.c: the revocation feed client (docs/revocations.md) ----------------------------- */
struct vk_revfeed_opts {
    const char *url;           /* the feed, https (or http on loopback), without a query */
    const char *client_id;     /* client_secret_basic credentials of a resource-server client */
    const char *client_secret;
    long wait;                 /* seconds the server may hold a poll (1..60) */
    long timeout_ms;           /* beyond `wait`: connection and transfer */
    const char *ca_file;
    bool background;           /* true: vk_revfeed_new does not read the feed itself */
    /* Puts one event on the revocation list: VK_OK, VK_ETOOBIG (the list is full: the client
     * stops there and reports overflow), VK_ENOMEM. Called from the feed's thread. */
    int (*apply)(void *arg, enum vk_revoke_kind kind, vk_str value, int64_t until);
    void *apply_arg;
};
struct vk_revfeed;
/* Reads the feed up to its end (without waiting) before returning, unless o->background -- a
 * failure to reach it is not an error: staleness then counts from now -- and starts the thread
 * that follows it. VK_OK,
 * VK_EINVAL (options), VK_EIO (libcurl), VK_ENOMEM. */
int vk_revfeed_new(const struct vk_revfeed_opts *o, struct vk_revfeed **out, struct vk_err *err);
/* Stops the thread (interrupting a poll) and frees. NULL no-op. */
void vk_revfeed_free(struct vk_revfeed *f);
struct vk_revfeed_status {
    int64_t stale_ms;   /* 0 while current; else milliseconds since the feed was last current */
    uint64_t seq;       /* events applied up to this sequence number */
    bool overflow;      /* the revocation list refused the next event (full) */
    bool synced;        /* a poll has succeeded */
    unsigned long polls;
};
void vk_revfeed_status(struct vk_revfeed *f, struct vk_revfeed_status *out);
/* Parses one page of the feed and applies its events in order. *next: the `after` of the next
 * poll -- the seq of the last event applied when one failed, else the page's `next`. VK_OK,
 * VK_EINVAL (not a feed page: nothing after the last good event is applied), or what apply
 * returned. Exposed for the tests and the fuzzer. */
int vk_revfeed_apply_doc(const char *body, size_t len, uint64_t after,
                         int (*apply)(void *arg, enum vk_revoke_kind kind, vk_str value,
                                      int64_t until),
                         void *arg, uint64_t *next, size_t *applied);

/* Live verifiers and claims objects: valetkey_set_allocator refuses to swap the allocator under
 * them (their memory must be freed by the allocator that made it). */
extern atomic_long vk_verify_live_objects;

/* ---- verifier.c: the revocation side, for the revocation-feed client ------------------------- */
/* "Tokens named `value` by `kind` (their jti, client_id or sub) are revoked until `until`" (the
 * last exp such a token can have). Takes effect for every valetkey_verify that starts after this
 * returns, cached tokens included. VK_OK, VK_EINVAL (empty value), VK_ETOOBIG (the revocation
 * list is full of live entries: the feed client fails closed), VK_ENOMEM. */
int vk_verifier_revoke(valetkey_verifier *v, enum vk_revoke_kind kind, vk_str value,
                       int64_t until);
/* Seconds since the epoch by the verifier's configured clock. */
int64_t vk_verifier_now(const valetkey_verifier *v);
/* Counters for tests and the bench. */
struct vk_verifier_stats {
    unsigned long jwks_fetches;
    size_t seen_entries;
};
void vk_verifier_stats(valetkey_verifier *v, struct vk_verifier_stats *out);

#endif
