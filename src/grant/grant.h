/* Protocol decisions as pure functions: no HTTP, no database, no clock. Each cites the rule it
 * enforces. Outputs are arena strings; errors fill struct vk_oauth_err. */
#ifndef VK_GRANT_GRANT_H
#define VK_GRANT_GRANT_H

#include <stdbool.h>
#include <stddef.h>

#include "base/arena.h"
#include "base/err.h"
#include "base/str.h"
#include "store/store.h"

/* RFC 6749 §3.3: scope = scope-token *( SP scope-token ), scope-token = 1*NQCHAR. */
bool vk_scope_syntax_ok(vk_str scope);
/* True when the space-separated list contains tok exactly. */
bool vk_scope_list_contains(vk_str list, vk_str tok);
/* Decides the granted scope. When `requested_present` is false the client's allowed scopes are
 * granted (RFC 6749 §3.3 default scope, OAuth 2.1 §1.4.1). Otherwise every requested token must be
 * in `allowed` (invalid_scope), duplicates are removed, and the order of the request is kept. */
int vk_scope_decide(struct vk_arena *a, bool requested_present, vk_str requested, vk_str allowed,
                    const char **granted, struct vk_oauth_err *oe);

/* RFC 8707 §2: a resource is an absolute URI without a fragment. */
bool vk_resource_syntax_ok(vk_str uri);
/* Checks n requested resources (RFC 8707 §2, checklist #31). invalid_target on syntax, on a count
 * above VK_MAX_RESOURCES, and for a resource the client may not name: one not among `registered`
 * (space-separated) when the client registered resources, otherwise anything but `default_aud`
 * (the server's default audience). */
int vk_resource_decide(const vk_str *res, size_t n, vk_str registered, vk_str default_aud,
                       struct vk_oauth_err *oe);

/* --- introspection (RFC 7662 §4) ------------------------------------------------------------- */

/* True when `caller` may introspect a refresh token of a grant of `grant_client`: only that
 * client itself (checklist #36). */
bool vk_introspect_refresh_allowed(const struct vk_client *caller, vk_str grant_client);
/* True when `caller` may introspect an access token issued to `token_client` with the audiences
 * aud[0..n_aud): the client it was issued to, a client whose id or one of whose registered
 * resources is among the audiences, or a client registered as a resource server
 * (caller->introspect). Anyone else must get {"active":false}. */
bool vk_introspect_access_allowed(const struct vk_client *caller, vk_str token_client,
                                  const vk_str *aud, size_t n_aud);

/* The grant types a client is registered for (space-separated) contain `grant`. */
bool vk_client_has_grant(vk_str grant_types, const char *grant);

/* --- URIs (RFC 3986) --------------------------------------------------------------------------*/

#define VK_URI_MAX_LEN 2048 /* longer URIs are refused, never truncated */

enum vk_uri_host_type {
    VK_URI_HOST_REG_NAME = 0, /* a name (possibly empty), percent-encoding allowed */
    VK_URI_HOST_IPV4 = 1,     /* IPv4address: four dec-octets, no leading zeros */
    VK_URI_HOST_IPV6 = 2,     /* "[" IPv6address "]" */
    VK_URI_HOST_IPFUTURE = 3, /* "[v..." IPvFuture "]" */
};

/* A URI split into its RFC 3986 §3 components. Every slice borrows from the parsed input; an
 * absent component has its has_* flag false and an empty slice. */
struct vk_uri {
    vk_str scheme;                   /* as written (schemes are case-insensitive, §3.1) */
    bool has_authority;              /* "//" followed */
    bool has_userinfo;
    vk_str userinfo;                 /* before the '@' */
    vk_str host;                     /* as written; an IP literal keeps its brackets */
    enum vk_uri_host_type host_type;
    bool has_port;
    vk_str port;                     /* *DIGIT: may be empty ("host:") */
    vk_str path;
    bool has_query;
    vk_str query;                    /* without the '?' */
    bool has_fragment;
    vk_str fragment;                 /* without the '#' */
};

/* Parses `s` as an RFC 3986 §3 URI: scheme ":" hier-part [ "?" query ] [ "#" fragment ].
 * Strict: every byte must be allowed where it stands (no spaces, no '\\', no non-ASCII, no
 * second '@' or '#'), '%' must start a pct-encoded triplet, IP literals must be a valid
 * IPv6address or IPvFuture. A host that is a valid IPv4address is typed as one (§3.2.2: the
 * first matching rule wins). At most VK_URI_MAX_LEN bytes. VK_OK, or VK_EINVAL with *out zeroed.
 * Pure and thread-safe. */
int vk_uri_parse(vk_str s, struct vk_uri *out);
/* True when the URI has an authority whose host is exactly "127.0.0.1" or "[::1]" (the loopback
 * IP literals of RFC 8252 §7.3), compared byte for byte. */
bool vk_uri_host_is_loopback_ip(const struct vk_uri *u);
/* vk_uri_host_is_loopback_ip(), or the host is exactly "localhost" (RFC 8252 §8.3). */
bool vk_uri_host_is_loopback(const struct vk_uri *u);

/* --- redirect URIs (RFC 9700 §2.1, OAuth 2.1 §2.3.1) ---------------------------------------- */

/* Checks a redirect URI (or post-logout redirect URI) against the rules for registering one:
 * a valid RFC 3986 URI of at most VK_URI_MAX_LEN visible ASCII characters; no fragment
 * (RFC 6749 §3.1.2); no user information; a port, if any, 1..65535; and either https with a
 * host, or http only when the host is exactly 127.0.0.1, [::1] or localhost (RFC 9700 §2.6,
 * checklist #6), or a private-use scheme that is a reverse domain name (RFC 8252 §7.1, e.g.
 * com.example.app:/cb). Returns NULL when the URI is acceptable (then *out, if not NULL, holds
 * its parts), otherwise a static sentence that completes "redirect URI ..." for an operator. */
const char *vk_redirect_uri_check(vk_str uri, struct vk_uri *out);

/* True when `requested` passes vk_redirect_uri_check() and equals one of the newline-separated
 * registered URIs by exact string comparison (RFC 9700 §2.1). The one exception (RFC 8252 §7.3,
 * checklist #1): a registered http URI on a loopback IP literal without a port
 * (http://127.0.0.1/cb, http://[::1]/cb) matches the same URI with any port. `localhost` gets no
 * such exception: it matches exactly or not at all. */
bool vk_redirect_uri_match(vk_str registered, vk_str requested);

/* --- PKCE (RFC 7636), S256 only --------------------------------------------------------------- */

/* Checks the authorization request's PKCE parameters: a code_challenge is required for every
 * client, its method must be S256 (absent means "plain" per RFC 7636 §4.3, which we refuse), and
 * an S256 challenge is exactly 43 base64url characters. invalid_request otherwise. */
int vk_pkce_check_challenge(vk_str challenge, vk_str method, struct vk_oauth_err *oe);
/* RFC 7636 §4.1: 43..128 characters of [A-Za-z0-9-._~]. */
bool vk_pkce_verifier_syntax_ok(vk_str verifier);
/* BASE64URL(SHA256(verifier)) == challenge, compared in constant time. */
bool vk_pkce_s256_ok(vk_str verifier, vk_str challenge);

/* --- authorization codes ----------------------------------------------------------------------- */

/* Decides a code redemption (RFC 6749 §4.1.3, OAuth 2.1 §4.1.3). A code of another client is
 * invalid_grant and nothing more. *reused is set when the code's own client presents it after it
 * had been redeemed: the caller must then revoke everything issued from it (RFC 9700 §4.2.4).
 * redirect_uri may be empty (OAuth 2.1 clients may omit it); when present it must equal the one
 * of the authorization request. */
int vk_code_decide(const struct vk_code *c, vk_str client_id, vk_str redirect_uri,
                   vk_str verifier, int64_t now, bool *reused, struct vk_oauth_err *oe);

/* --- refresh tokens ---------------------------------------------------------------------------- */

enum vk_refresh_verdict {
    VK_REFRESH_ROTATE = 1, /* unused and valid: issue a new pair, mark this one used */
    VK_REFRESH_GRACE = 2,  /* just rotated, inside the grace window: answer with the same pair */
    VK_REFRESH_REUSE = 3,  /* used before, outside the window: revoke the whole grant */
};

/* Decides a refresh request for refresh token rt of grant g presented by client_id at now_ms
 * (wall-clock milliseconds: the grace window is counted in milliseconds). Errors are
 * invalid_grant (revoked or expired grant, expired token, another client's token); on
 * VK_REFRESH_REUSE the function also returns VK_EOAUTH invalid_grant, with *verdict set so the
 * caller revokes the grant. */
int vk_refresh_decide(const struct vk_refresh *rt, const struct vk_grant *g, vk_str client_id,
                      int64_t now_ms, enum vk_refresh_verdict *verdict, struct vk_oauth_err *oe);

/* --- OpenID Connect prompt / max_age (OIDC Core §3.1.2.1) ------------------------------------- */

enum vk_prompt_bits { VK_PROMPT_NONE = 1, VK_PROMPT_LOGIN = 2, VK_PROMPT_CONSENT = 4 };

/* Parses `prompt` (space-separated); `none` combined with anything is invalid_request, as are
 * unknown values (select_account is accepted as a no-op). */
int vk_prompt_parse(vk_str prompt, unsigned *bits, struct vk_oauth_err *oe);
/* True when a fresh login is needed: no session, prompt=login, or the session's auth_time is
 * older than max_age (max_age < 0: not requested). */
bool vk_login_required(bool have_session, int64_t auth_time, unsigned prompt, int64_t max_age,
                       int64_t now);
/* True when every scope in `requested` is in the remembered `consented` set. */
bool vk_consent_covers(vk_str consented, vk_str requested);

#endif
