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
/* Checks n requested resources (invalid_target on syntax, count above VK_MAX_RESOURCES, or when
 * the client registered resources and one requested is not among them). */
int vk_resource_decide(const vk_str *res, size_t n, vk_str registered, struct vk_oauth_err *oe);

/* The grant types a client is registered for (space-separated) contain `grant`. */
bool vk_client_has_grant(vk_str grant_types, const char *grant);

/* --- redirect URIs (RFC 9700 §2.1, OAuth 2.1 §2.3.1) ---------------------------------------- */

/* True when `requested` equals one of the newline-separated registered URIs by exact string
 * comparison. The one exception (RFC 8252 §7.3, checklist #1): a registered loopback IP literal
 * URI without a port (http://127.0.0.1/cb, http://[::1]/cb) matches the same URI with any port. */
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

/* Decides a code redemption (RFC 6749 §4.1.3, OAuth 2.1 §4.1.3). *reused is set when the code had
 * been redeemed before: the caller must then revoke everything issued from it (RFC 9700 §4.2.4).
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

/* Decides a refresh request for refresh token rt of grant g presented by client_id. Errors are
 * invalid_grant (revoked or expired grant, expired token, another client's token); on
 * VK_REFRESH_REUSE the function also returns VK_EOAUTH invalid_grant, with *verdict set so the
 * caller revokes the grant. */
int vk_refresh_decide(const struct vk_refresh *rt, const struct vk_grant *g, vk_str client_id,
                      int64_t now, enum vk_refresh_verdict *verdict, struct vk_oauth_err *oe);

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
