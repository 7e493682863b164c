/* libvaletkey: verify OAuth 2.1 access tokens (RFC 9068 JWTs) and DPoP proofs (RFC 9449) in a
 * resource server, locally, in microseconds.
 *
 * The one public header. Every function below is thread-safe unless its comment says otherwise,
 * never aborts or exits, and returns an `enum valetkey_rc` (or a value documented with it).
 * Objects are opaque. Strings are NUL-terminated UTF-8 unless a length is given. Ownership is
 * stated per function: "borrowed" means the library keeps no reference after the call returns
 * (for arguments) or that the caller must not free it (for results). Reference: docs/api/. */
#ifndef VALETKEY_H
#define VALETKEY_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) || defined(__clang__)
#define VALETKEY_API __attribute__((visibility("default")))
#else
#define VALETKEY_API
#endif

#define VALETKEY_VERSION_MAJOR 0
#define VALETKEY_VERSION_MINOR 1
#define VALETKEY_VERSION_PATCH 0
#define VALETKEY_VERSION       "0.1.0"

/* The longest token (and DPoP proof) accepted, in bytes; longer ones are refused unread. */
#define VALETKEY_MAX_TOKEN_LEN 8192

typedef struct valetkey_verifier valetkey_verifier; /* opaque */
typedef struct valetkey_claims valetkey_claims;     /* opaque, reference-counted, caller frees */

/* Result codes. The numbers are stable: new codes get new numbers, retired ones stay reserved.
 * valetkey_http_status() and valetkey_rc_error() give the HTTP status and the RFC 6750 / RFC 9449
 * error code a resource server answers with; valetkey_www_authenticate() formats the header. */
enum valetkey_rc {
    VALETKEY_OK = 0,

    /* The call could not be carried out (HTTP 500/503; no WWW-Authenticate error code). */
    VALETKEY_ENOMEM = 1,    /* an allocation failed; nothing was changed */
    VALETKEY_EINVAL = 2,    /* an argument or an option is invalid (a bug in the caller) */
    VALETKEY_EFETCH = 3,    /* discovery or the JWK Set could not be fetched or parsed */
    VALETKEY_EBUSY = 4,     /* valetkey_set_allocator while library objects are alive */
    VALETKEY_ETOOBIG = 5,   /* an output buffer is too small */
    VALETKEY_ECAPACITY = 6, /* a bounded table is full of live entries (DPoP replay cache,
                               revocation list): refused rather than forgotten */
    VALETKEY_EINTERNAL = 7, /* an unexpected failure of libcrypto or the system */
    VALETKEY_ESTALE = 8,    /* the revocation feed has been unreachable for longer than
                               revocations_max_stale seconds and the policy is fail-closed:
                               every token is refused until it is back (HTTP 503) */

    /* 401, no error code (RFC 6750 §3.1: the request carried no credentials). */
    VALETKEY_NO_TOKEN = 10,

    /* 401 invalid_token (RFC 6750 §3.1). */
    VALETKEY_TOKEN_MALFORMED = 20,   /* not a compact JWS, bad encoding, bad JSON, crit, or an
                                        `alg` that is not allowed (none, HS256, ...) */
    VALETKEY_TOKEN_SIGNATURE = 21,   /* the signature does not verify */
    VALETKEY_TOKEN_UNKNOWN_KEY = 22, /* no key with that kid (after at most one refetch) */
    VALETKEY_TOKEN_TYPE = 23,        /* typ is not at+jwt (RFC 9068 §4), e.g. an id_token */
    VALETKEY_TOKEN_ISSUER = 24,      /* iss is not the configured issuer */
    VALETKEY_TOKEN_AUDIENCE = 25,    /* aud names none of the configured audiences */
    VALETKEY_TOKEN_EXPIRED = 26,     /* exp has passed (beyond the leeway) */
    VALETKEY_TOKEN_NOT_YET_VALID = 27, /* nbf is in the future (beyond the leeway) */
    VALETKEY_TOKEN_CLAIMS = 28,      /* a required claim is missing or malformed (exp, jti, sub,
                                        client_id, cnf), or iat is in the future */
    VALETKEY_TOKEN_REVOKED = 29,     /* its jti was revoked */
    VALETKEY_TOKEN_DPOP_BOUND = 30,  /* a DPoP-bound token (cnf.jkt) presented as Bearer
                                        (RFC 9449 §7.2) */
    VALETKEY_TOKEN_NOT_BOUND = 31,   /* an unbound token presented with the DPoP scheme, or
                                        any Bearer token when DPoP is required */
    VALETKEY_TOKEN_CERT_MISMATCH = 32, /* a certificate-bound token (cnf.x5t#S256) presented
                                          without the TLS client certificate it is bound to
                                          (RFC 8705 §3) */

    /* 403 insufficient_scope (RFC 6750 §3.1). */
    VALETKEY_INSUFFICIENT_SCOPE = 40,

    /* 400 invalid_request (RFC 6750 §3.1). */
    VALETKEY_BAD_REQUEST = 50, /* malformed Authorization header, unknown scheme */

    /* 401 invalid_dpop_proof (RFC 9449 §7.1). */
    VALETKEY_DPOP_MISSING = 60,   /* DPoP scheme (or a bound token) without a DPoP proof */
    VALETKEY_DPOP_MALFORMED = 61, /* not a JWS, bad JSON, a required claim missing, typ not
                                     dpop+jwt */
    VALETKEY_DPOP_ALG = 62,       /* alg not asymmetric or not allowed */
    VALETKEY_DPOP_KEY = 63,       /* jwk missing, unusable, or carrying private members */
    VALETKEY_DPOP_SIGNATURE = 64, /* the proof's signature does not verify with its jwk */
    VALETKEY_DPOP_METHOD = 65,    /* htm is not the request method */
    VALETKEY_DPOP_URL = 66,       /* htu is not the request URL (RFC 9449 §4.3 normalisation) */
    VALETKEY_DPOP_IAT = 67,       /* iat outside the accepted window */
    VALETKEY_DPOP_REPLAY = 68,    /* this proof's jti was seen before */
    VALETKEY_DPOP_ATH = 69,       /* ath missing or not the hash of the presented token */
    VALETKEY_DPOP_KEY_MISMATCH = 70, /* the proof's key is not the one the token is bound to */

    /* 401 use_dpop_nonce (RFC 9449 §9): send valetkey_dpop_nonce() in a DPoP-Nonce header. */
    VALETKEY_DPOP_USE_NONCE = 80,
};

/* How the token was presented (RFC 6750 §2.1, RFC 9449 §7.1). */
enum valetkey_scheme {
    VALETKEY_SCHEME_BEARER = 0,
    VALETKEY_SCHEME_DPOP = 1,
};

/* Verifier options. Always start with valetkey_options_init(), which sets struct_size and the
 * defaults, so a program built against this header keeps working when fields are added.
 * Every pointer is borrowed: valetkey_verifier_new copies what it keeps. */
struct valetkey_options {
    size_t struct_size; /* set by valetkey_options_init */

    /* Required: the exact `iss` of the authorization server (RFC 8414 §2). */
    const char *issuer;
    /* Where the keys come from: exactly one of jwks_json / jwks_file, or neither, in which case
     * they are fetched from jwks_uri, or without it from the issuer's metadata (RFC 8414 §3,
     * then OpenID Connect Discovery). URLs must be https, except on loopback. */
    const char *jwks_json; /* a JWK Set document (RFC 7517 §5) */
    const char *jwks_file; /* a file holding one, read once by valetkey_verifier_new */
    const char *jwks_uri;

    /* Required: the audiences this resource server answers to (RFC 9068 §4, RFC 8707); a token
     * must name at least one. NULL-terminated array of strings. */
    const char *const *audiences;
    /* Accepted token signature algorithms, NULL-terminated ("ES256", "PS256", "RS256",
     * "EdDSA"). NULL: all four. "none" and HMAC algorithms are refused by
     * valetkey_verifier_new (VALETKEY_EINVAL). */
    const char *const *algorithms;
    /* Clock skew allowed on exp, nbf and iat, in seconds (default 30, at most 300). */
    long leeway;

    /* Tokens already verified that are remembered, so that the next presentation costs a hash
     * lookup instead of a signature check (default 16384; 0 disables the cache). Each entry
     * holds the token's claims: about 1 KiB for a typical token. */
    size_t seen_cache_entries;
    /* Revoked jtis remembered until the tokens expire (default 65536). */
    size_t revocation_entries;

    /* Fetching (issuer or jwks_uri mode only). */
    long refresh_interval;   /* seconds between background refreshes of the JWK Set (300) */
    long min_refetch_interval; /* an unknown kid refetches at most once per this many seconds
                                  (30), so forged kids cannot make the verifier hammer the
                                  issuer */
    long http_timeout_ms;    /* per fetch, connection included (5000) */
    const char *ca_file;     /* PEM bundle to trust instead of the system's (tests) */

    /* DPoP (RFC 9449). Tokens bound with cnf.jkt always need a valid proof. */
    int dpop_required;      /* 1: refuse every token that is not DPoP-bound (default 0) */
    const char *const *dpop_algorithms; /* proof algorithms, as `algorithms` (NULL: all four) */
    long dpop_iat_window;   /* a proof's iat may be this many seconds old (default 60); and
                               `leeway` seconds in the future */
    size_t dpop_replay_entries; /* proof jtis remembered for replay detection (default 65536) */
    int dpop_nonce;         /* 1: require server-provided nonces (RFC 9449 §9) */
    const char *dpop_nonce_secret; /* at least 32 bytes shared by every instance that must
                                      accept each other's nonces; NULL: random per verifier */
    long dpop_nonce_lifetime; /* seconds a nonce stays valid (default 300) */

    /* WWW-Authenticate (RFC 6750 §3, RFC 9728 §5.1). */
    const char *realm;             /* NULL: no realm attribute */
    const char *resource_metadata; /* URL of this resource's RFC 9728 metadata, or NULL */

    /* The clock, in seconds since the epoch; NULL: the system's real-time clock. For tests
     * and for hosts with their own time source. Must be thread-safe. */
    int64_t (*clock)(void *arg);
    void *clock_arg;

    /* 1: neither valetkey_verifier_new nor valetkey_verify ever waits for the network, for
     * hosts whose request threads are event loops (an nginx worker). In issuer or jwks_uri
     * mode the discovery and the first fetch happen in the background thread, retried after
     * 1, 2, 4, ... seconds (at most 30, or refresh_interval if shorter); until a key set has
     * arrived, valetkey_verify answers VALETKEY_EFETCH (HTTP 503). A token with an unknown kid
     * wakes that thread (still at most once per min_refetch_interval) instead of fetching in
     * the caller, and is refused with VALETKEY_TOKEN_UNKNOWN_KEY. Default 0: the first fetch
     * happens in valetkey_verifier_new, an unknown kid's refetch in valetkey_verify. */
    int background_fetch;

    /* DPoP proof replay detection shared with other processes (the workers of a server that
     * forks, where a per-process cache would let a proof be replayed to another process).
     * NULL: the verifier's own cache of dpop_replay_entries. Otherwise called, instead of that
     * cache, for a proof that passed every other check, with its jti (len bytes, borrowed, no
     * NUL) and the time until which it must be remembered (seconds since the epoch). It must
     * atomically record the jti and return VALETKEY_OK if it was not recorded before and
     * VALETKEY_DPOP_REPLAY if it was; VALETKEY_ECAPACITY (any other value is taken as that)
     * when it can record nothing, and the proof is refused. Called from the verifying thread;
     * must be thread-safe if the verifier is shared between threads. */
    int (*dpop_replay)(void *arg, const char *jti, size_t len, int64_t expires);
    void *dpop_replay_arg;

    /* 1: DPoP is not accepted at all, for a host that cannot detect proof replays (several
     * processes without a shared dpop_replay): `Authorization: DPoP ...` is an unknown scheme,
     * so no credentials (VALETKEY_NO_TOKEN, RFC 6750 §3.1), the challenges offer Bearer only,
     * and a DPoP-bound token is refused (VALETKEY_TOKEN_DPOP_BOUND). Not with dpop_required
     * (VALETKEY_EINVAL). Default 0. */
    int dpop_disabled;

    /* The revocation feed (docs/revocations.md): the authorization server's
     * GET /revocations, followed by one background thread with long polls, so that a token
     * revoked at the server -- by /revoke, a refresh-token reuse, a logout, a removed client
     * or user, a password change -- is refused here, cached or not, within about a second.
     * NULL: no feed (revocations are then not seen at all). */
    const char *revocations_url;
    /* A client registered as a resource server (`valetkey client add --introspect`), which
     * authenticates with client_secret_basic. Both required with revocations_url. */
    const char *revocations_client_id;
    const char *revocations_client_secret;
    long revocations_wait;      /* seconds the server may hold a poll open (default 20, 1..60) */
    /* Seconds the feed may be unreachable before the policy applies (default 60). Staleness
     * counts from the last moment the verifier was known to be current: see
     * valetkey_revocations_status. */
    long revocations_max_stale;
    /* 0 (default): fail closed -- once stale beyond revocations_max_stale, every verification
     * returns VALETKEY_ESTALE. 1: fail open -- keep verifying (signatures, expiry and the
     * revocations already received) and only report the staleness. A full revocation list
     * (revocation_entries) always fails closed: VALETKEY_ECAPACITY. */
    int revocations_fail_open;
    /* 1: until the feed has been read once, verifications are refused with VALETKEY_ESTALE
     * (unless revocations_fail_open): a verifier that has not read the feed knows of no
     * revocation at all. For hosts that create verifiers again and again -- every nginx reload
     * starts new workers -- where even a short window would accept tokens revoked long before.
     * Default 0: before the first read counts as a feed outage (revocations_max_stale). */
    int revocations_start_closed;
};

/* The request a token came with. Only the DPoP checks use method and url; pass NULL for the
 * whole struct when the token came as Bearer and the request carries no DPoP header. */
struct valetkey_request {
    int scheme;              /* enum valetkey_scheme: how the token was presented */
    const char *method;      /* "GET", "POST", ... as received (case-sensitive) */
    const char *url;         /* the absolute URL the client addressed, e.g.
                                "https://api.example.com/v1/chat?x=1" (query and fragment are
                                ignored; RFC 9449 §4.3) */
    const char *dpop;        /* the DPoP header field value, or NULL. A request with more than
                                one DPoP field must be refused by the host (VALETKEY_BAD_REQUEST
                                is the right answer) */
    /* The client certificate of the TLS connection the request came on, DER, or NULL (RFC 8705
     * §3): a token bound to a certificate (cnf.x5t#S256) is accepted only with that very
     * certificate. The TLS handshake proved the client holds its key; it need not be verified
     * against a CA here. Behind a TLS-terminating proxy, the certificate the proxy forwards, and
     * only from that proxy (RFC 9700 §4.13). Borrowed for the call. */
    const unsigned char *client_cert;
    size_t client_cert_len;
};

/* Fills *opt with the defaults and struct_size. Call it before setting any field. */
VALETKEY_API void valetkey_options_init(struct valetkey_options *opt);

/* Creates a verifier. With an issuer URL (no jwks_json/jwks_file) it fetches the metadata and
 * the JWK Set before returning (in the background with background_fetch, when it returns at once
 * and never fails with VALETKEY_EFETCH) and starts one background thread that refreshes the set.
 * On VALETKEY_OK *out is owned by the caller (valetkey_verifier_free); on error *out is NULL.
 * Errors: VALETKEY_EINVAL (an option is invalid), VALETKEY_EFETCH, VALETKEY_ENOMEM. */
VALETKEY_API int valetkey_verifier_new(valetkey_verifier **out,
                                       const struct valetkey_options *opt);
/* Stops the background thread (interrupting a fetch) and frees the verifier. Claims obtained
 * from it stay valid until freed. NULL is a harmless no-op. Must not race with other calls on
 * the same verifier. */
VALETKEY_API void valetkey_verifier_free(valetkey_verifier *v);

/* Verifies an access token (RFC 9068) presented in a request: the signature with the key that
 * `kid` selects and that key's own algorithm, typ at+jwt, iss, aud, exp/nbf/iat with the
 * leeway, jti (revocation), and, for a DPoP-bound token or the DPoP scheme, the proof of
 * rq->dpop (RFC 9449 §4.3, §7). token is borrowed (len bytes, no NUL needed); rq may be NULL
 * (Bearer, no DPoP header). A token seen before costs a hash lookup.
 * On VALETKEY_OK *claims (if claims is not NULL) is a new reference owned by the caller
 * (valetkey_claims_free). On error *claims is NULL. Scopes are not checked here: see
 * valetkey_claims_require_scope. Never logs or stores the token string. */
VALETKEY_API int valetkey_verify(valetkey_verifier *v, const char *token, size_t len,
                                 const struct valetkey_request *rq, valetkey_claims **claims);

/* Splits an Authorization header value into scheme and token (RFC 6750 §2.1 b64token syntax,
 * scheme names case-insensitive per RFC 9110 §11.1). *token points into header (borrowed).
 * Returns VALETKEY_OK, VALETKEY_NO_TOKEN (header NULL or empty, or another scheme such as Basic:
 * no credentials for us), VALETKEY_BAD_REQUEST (a Bearer or DPoP value that is not one b64token)
 * or VALETKEY_EINVAL (a NULL output pointer). */
VALETKEY_API int valetkey_authorization_parse(const char *header, int *scheme,
                                              const char **token, size_t *len);

/* Replaces the key set with a JWK Set document (len bytes), as an operator's key rotation
 * pushed by the host would. Tokens verified with a key that is no longer in the set are no
 * longer accepted from the seen-token cache. VALETKEY_OK, VALETKEY_EFETCH (not a usable JWK
 * Set), VALETKEY_ENOMEM. */
VALETKEY_API int valetkey_verifier_set_jwks(valetkey_verifier *v, const char *json, size_t len);

/* The current DPoP nonce (RFC 9449 §9) to send in a DPoP-Nonce response header, as a
 * NUL-terminated string into buf. VALETKEY_OK, VALETKEY_ETOOBIG (size < 64),
 * VALETKEY_EINVAL (nonces are not enabled). */
VALETKEY_API int valetkey_dpop_nonce(valetkey_verifier *v, char *buf, size_t size);

/* The revocation feed's state. *stale_seconds (may be NULL): 0 while the verifier is current,
 * else the seconds since it last was (since creation, if it never reached the feed).
 * *seq (may be NULL): the sequence number of the last event applied. Returns VALETKEY_OK,
 * VALETKEY_ESTALE (stale beyond revocations_max_stale: with fail-closed, verifications are being
 * refused), VALETKEY_ECAPACITY (the revocation list is full: verifications are being refused), or
 * VALETKEY_EINVAL (no feed configured, or v NULL). Cheap: no I/O, no lock. */
VALETKEY_API int valetkey_revocations_status(valetkey_verifier *v, int64_t *stale_seconds,
                                             uint64_t *seq);

/* ---- claims: immutable, shared between threads, freed by the last holder ---- */

/* Each getter returns a string borrowed from c (valid until valetkey_claims_free), or NULL
 * when the claim is absent or not a string without NUL characters. */
VALETKEY_API const char *valetkey_claims_sub(const valetkey_claims *c);
VALETKEY_API const char *valetkey_claims_client_id(const valetkey_claims *c);
VALETKEY_API const char *valetkey_claims_scope(const valetkey_claims *c);
VALETKEY_API const char *valetkey_claims_jti(const valetkey_claims *c);
/* cnf.jkt: the RFC 7638 thumbprint the token is bound to (RFC 9449 §6.1). */
VALETKEY_API const char *valetkey_claims_cnf_jkt(const valetkey_claims *c);
/* cnf.x5t#S256: the SHA-256 thumbprint of the TLS client certificate the token is bound to
 * (RFC 8705 §3.1), base64url. */
VALETKEY_API const char *valetkey_claims_cnf_x5t(const valetkey_claims *c);
/* exp in seconds since the epoch; 0 for NULL. */
VALETKEY_API int64_t valetkey_claims_exp(const valetkey_claims *c);
/* Any top-level claim: as a string (NULL unless it is a JSON string without NUL), or as
 * compact JSON text (NULL when absent). Borrowed from c. */
VALETKEY_API const char *valetkey_claims_get(const valetkey_claims *c, const char *name);
VALETKEY_API const char *valetkey_claims_get_json(const valetkey_claims *c, const char *name);
/* VALETKEY_OK when the token's scope (RFC 6749 §3.3: space-separated, case-sensitive) holds
 * every space-separated scope in `required`; else VALETKEY_INSUFFICIENT_SCOPE.
 * VALETKEY_EINVAL for NULL arguments. */
VALETKEY_API int valetkey_claims_require_scope(const valetkey_claims *c, const char *required);
/* VALETKEY_OK when the token's aud (a string or an array of strings, RFC 7519 §4.1.3) names
 * `audience` exactly, else VALETKEY_TOKEN_AUDIENCE (401 invalid_token). For a resource server
 * configured with several audiences whose routes each need a particular one (valetkey_verify
 * already checked that aud names at least one of them). VALETKEY_EINVAL for NULL arguments,
 * VALETKEY_ENOMEM. */
VALETKEY_API int valetkey_claims_require_audience(const valetkey_claims *c, const char *audience);
/* Another reference to the same claims (for another thread); free each with claims_free. */
VALETKEY_API valetkey_claims *valetkey_claims_ref(valetkey_claims *c);
/* Drops a reference. NULL is a harmless no-op. */
VALETKEY_API void valetkey_claims_free(valetkey_claims *c);

/* ---- errors and responses ---- */

/* A static description of rc; never NULL, never contains request data. */
VALETKEY_API const char *valetkey_strerror(int rc);
/* The error code for a WWW-Authenticate header or a JSON body: "invalid_token",
 * "insufficient_scope", "invalid_request", "invalid_dpop_proof", "use_dpop_nonce"; NULL when
 * the answer carries no error code (VALETKEY_NO_TOKEN, VALETKEY_OK, and the E* codes). */
VALETKEY_API const char *valetkey_rc_error(int rc);
/* The HTTP status to answer with: 200, 400, 401, 403, 500 or 503. */
VALETKEY_API int valetkey_http_status(int rc);
/* Formats the WWW-Authenticate value for an answer with rc (RFC 6750 §3, RFC 9449 §7.1,
 * RFC 9728 §5.1) into buf: the scheme of the request (or DPoP for proof errors, or both
 * challenges when there was no token and both are accepted), realm, error,
 * error_description (a static text, never the token), scope (for insufficient_scope: pass the
 * required scopes, or NULL), algs for DPoP, and resource_metadata when configured. rq may be
 * NULL. VALETKEY_OK, VALETKEY_ETOOBIG (buf too small; 512 bytes are always enough unless the
 * configured realm, metadata URL or scope are long), VALETKEY_EINVAL. */
VALETKEY_API int valetkey_www_authenticate(const valetkey_verifier *v, int rc,
                                           const struct valetkey_request *rq,
                                           const char *scope, char *buf, size_t size);

/* ---- memory ---- */

/* Replaces the allocator of every allocation libvaletkey itself makes (objects, caches,
 * claims, fetch buffers). All three non-NULL, or all NULL for libc's. Call it before any other
 * function: VALETKEY_EBUSY while a verifier or claims object is alive. Not thread-safe.
 * Not covered: libcrypto, jansson and libcurl allocate through their own process-wide hooks
 * (CRYPTO_set_mem_functions, json_set_alloc_funcs, curl_global_init_mem), which belong to the
 * host: libvaletkey never changes them. See docs/architecture.md ("The allocator"). */
VALETKEY_API int valetkey_set_allocator(void *(*malloc_fn)(size_t),
                                        void *(*realloc_fn)(void *, size_t),
                                        void (*free_fn)(void *));

/* The library version, "0.1.0". */
VALETKEY_API const char *valetkey_version(void);

#ifdef __cplusplus
}
#endif

#endif
