/* The server's shared state, handed to every handler as `void *app`, and the helpers the
 * endpoint files share. Everything here is read-only after start except the keyring (swapped
 * atomically) and the counters (atomic). */
#ifndef VK_OAUTH_APP_H
#define VK_OAUTH_APP_H

#include <stdint.h>

#include "auth/auth.h"
#include "base/err.h"
#include "config/config.h"
#include "http/request.h"
#include "http/router.h"
#include "store/store.h"
#include "token/token.h"

#define VK_METRIC_ROUTES 24 /* route slots (+1 for "unmatched") */
#define VK_METRIC_STATUSES 16
#define VK_METRIC_BUCKETS 12

struct vk_metrics {
    uint64_t requests[VK_METRIC_ROUTES + 1][VK_METRIC_STATUSES];
    uint64_t latency_bucket[VK_METRIC_ROUTES + 1][VK_METRIC_BUCKETS + 1];
    uint64_t latency_sum_us[VK_METRIC_ROUTES + 1];
    uint64_t latency_count[VK_METRIC_ROUTES + 1];
    uint64_t tokens_issued[4]; /* by grant: client_credentials, authorization_code, refresh */
    uint64_t revocations;
    int64_t started_at;
};

/* The limiters of the login form (docs/security.md, "Brute force"); keys are "u:NAME",
 * "p:NAME|NET", "a:NET" and "d:DEVICE-ID". */
struct vk_login_limits {
    struct vk_auth_limiter *account; /* failures per account, browsers without a device cookie */
    struct vk_auth_limiter *pair;    /* failures per account and network */
    struct vk_auth_limiter *addr;    /* failures per network, any account */
    struct vk_auth_limiter *device;  /* failures per device cookie */
    struct vk_auth_limiter *ok;      /* successes per account */
    struct vk_auth_limiter *ok_addr; /* successes per network */
};

struct vk_app {
    const struct vk_config *cfg;
    const char *issuer; /* cfg->issuer or the bound address (points at issuer_buf) */
    char issuer_buf[600];
    struct vk_store *st;
    struct vk_keyring *keys;
    struct vk_client_auth_limits client_limits; /* client authentication failures */
    struct vk_login_limits login_limits;        /* user logins (oauth/authorize.c) */
    struct vk_client_cache *clients;
    struct vk_metrics metrics;
    const struct vk_router *router;
    char *discovery_json; /* RFC 8414 document, built at start */
    size_t discovery_len;
    char *oidc_json;      /* OpenID Connect Discovery document */
    size_t oidc_len;
    uint8_t csrf_key[VK_DIGEST_LEN]; /* HMAC key for CSRF tokens, shared by all nodes (store,
                                        and the master key when there is one) */
    bool cookie_secure;   /* issuer is https: Secure cookies with the __Host- prefix */
    const char *session_cookie;
    const char *csrf_cookie;
    uint8_t device_key[VK_DIGEST_LEN]; /* HMAC key for device cookies, shared by all nodes (as
                                          csrf_key) */
    const char *device_cookie;
    /* Mutual TLS (RFC 8705). */
    bool client_certs;            /* client certificates can reach the server: TLS here with
                                     certificates requested, or a forwarding proxy's header */
    struct vk_x509_ca *client_ca; /* --tls-client-ca: the CAs of tls_client_auth; NULL: none */
    struct vk_cert_auth cert_auth; /* client_ca and the memo of certificate verdicts */
    char *client_ca_pem;          /* its file, for the TLS layer's certificate request */
};

/* Builds the app on an open store: the keyring (creating the first signing keys when there are
 * none; with cfg->master_key_file, loading the master key that decrypts them and wrapping any
 * still in clear), the limiters with the configuration's policies, the client cache, the
 * discovery documents and the CSRF key (derived from the master key when there is one).
 * `cfg` and `st` are borrowed and must outlive the app; `issuer` is
 * copied. On error everything built so far is released and err says why. */
int vk_app_init(struct vk_app *app, const struct vk_config *cfg, struct vk_store *st,
                const char *issuer, int64_t now, struct vk_err *err);
/* Releases what vk_app_init built (not the store or the configuration). Safe on a zeroed app. */
void vk_app_clear(struct vk_app *app);

/* The route table (oauth/routes.c). */
extern const struct vk_router vk_oauth_router;

/* Reads an application/x-www-form-urlencoded body: checks the Content-Type, parses, and rejects a
 * repeated parameter (RFC 6749 §3.1) except those in allowed_repeat (NULL-terminated). */
int vk_oauth_read_form(const struct vk_request *rq, const char *const *allowed_repeat,
                       struct vk_params *ps, struct vk_oauth_err *oe);
/* Extracts client credentials from the Authorization header and the form; presenting more than
 * one method (Basic and client_secret, or mismatching client_id) is invalid_request. */
int vk_oauth_client_creds(const struct vk_request *rq, const struct vk_params *ps,
                          struct vk_client_creds *cr, struct vk_oauth_err *oe);
/* The client's address for rate limiting and logs: the socket peer, or, when the peer is the
 * configured trusted proxy, the last address that proxy appended to X-Forwarded-For (the last
 * entry of the last X-Forwarded-For line, without a port); the socket peer when that entry is
 * not an IP address. */
const char *vk_oauth_peer(const struct vk_app *app, const struct vk_request *rq);
/* True when the socket peer is the configured trusted proxy (compared as IP addresses). */
bool vk_oauth_from_trusted_proxy(const struct vk_app *app, const struct vk_request *rq);
/* The `aud` of tokens whose request names no resource, for a client without registered resources:
 * the configured audience, else the issuer. The only resource such a client may request. */
const char *vk_oauth_default_audience(const struct vk_app *app);
/* The request's client certificate (RFC 8705): from the trusted proxy's client_cert_header when
 * the request comes from --trusted-proxy and that header is configured (then ONLY from it: the
 * proxy's own TLS certificate is not its clients'); otherwise the certificate of the TLS
 * handshake with this server. The header from any other peer is ignored (RFC 9700 §4.13).
 * VK_OK with out->der.len == 0 when there is none; VK_EOAUTH (400 invalid_request) for a
 * forwarded certificate that does not decode or a repeated header. Arena memory. */
int vk_oauth_client_cert(const struct vk_app *app, const struct vk_request *rq,
                         struct vk_client_cert *out, struct vk_oauth_err *oe);
/* Reads credentials and authenticates the client in one step (a certificate for the RFC 8705
 * methods). `cert`, when not NULL, receives the request's client certificate (also on error). */
int vk_oauth_authenticate(struct vk_app *app, const struct vk_request *rq,
                          const struct vk_params *ps, bool allow_public, struct vk_client *client,
                          struct vk_client_cert *cert, struct vk_oauth_err *oe);
/* Writes the RFC 6749 §5.2 error response for oe (401 + WWW-Authenticate when oe->www_auth). */
int vk_oauth_error_response(const struct vk_request *rq, struct vk_response *rs,
                            const struct vk_oauth_err *oe);
/* Turns a handler result into a response: VK_EOAUTH -> oe; VK_OK -> as is; others -> rc. */
int vk_oauth_finish(const struct vk_request *rq, struct vk_response *rs, int rc,
                    const struct vk_oauth_err *oe);

/* Verifies one of our access tokens with libvaletkey's check (verify/access.c): signature by a
 * published key, typ at+jwt, our issuer, not expired. VK_OK (out filled; release with
 * vk_jws_clear), VK_EEXPIRED, VK_ENOMEM or VK_EINVAL. */
int vk_oauth_verify_access(struct vk_app *app, const struct vk_request *rq, vk_str token,
                           struct vk_jws *out);

/* Reads the login session named by the session cookie; VK_ENOTFOUND when there is none or it
 * expired. *user is filled too (a session whose user was removed does not count). */
int vk_oauth_session(struct vk_app *app, const struct vk_request *rq, struct vk_session *se,
                     struct vk_user *user);
/* An HTML response with the anti-framing and no-store headers (RFC 9700 §4.16). `form_origin`,
 * when not NULL, is allowed as a form-action target (where the form's redirect goes). */
int vk_oauth_html(const struct vk_request *rq, struct vk_response *rs, int status,
                  const struct vk_buf *page, const char *form_origin);
/* scheme://authority of a URI (arena string), for a form-action allowance; NULL if none. */
char *vk_oauth_origin_of(struct vk_arena *a, vk_str uri);
/* 303 See Other to `location` (never 302/307: the browser must not re-post a form with the
 * password, RFC 9700 §4.12), no-store. */
int vk_oauth_redirect(const struct vk_request *rq, struct vk_response *rs, const char *location);
/* An HTML error page (never a redirect). */
int vk_oauth_html_error(const struct vk_request *rq, struct vk_response *rs, int status,
                        const char *title, const char *message);

/* CSRF tokens for the browser forms: base64url(HMAC(csrf_key, purpose "|" binding)), where the
 * binding is a random browser cookie (created by vk_oauth_csrf_binding when absent). The purpose
 * names the form and may bind more (the session, an issue time). */
void vk_oauth_csrf_token(const struct vk_app *app, const char *purpose, vk_str binding,
                         char out[44]);
bool vk_oauth_csrf_ok(const struct vk_app *app, const struct vk_request *rq,
                      const struct vk_params *ps, const char *purpose);
int vk_oauth_csrf_binding(struct vk_app *app, const struct vk_request *rq,
                          struct vk_response *rs, vk_str *binding);

/* --- signing in (oauth/signin.c): one set of rules for every form that checks a password --- */

/* One password check on its way: the user (when the name exists), the limiter keys, and whether
 * the browser holds a device cookie for that user. Lives in the request arena; `pw` is borrowed
 * from the request. */
struct vk_signin {
    vk_str username;
    struct vk_secret pw;
    struct vk_user user;
    bool known;   /* the username names a user */
    bool trusted; /* the browser has a valid device cookie for that user */
    vk_str account, pair, net, device; /* limiter keys (docs/security.md, "Brute force") */
};

/* Looks the user up, reads the device cookie and computes the limiter keys. */
int vk_signin_prepare(struct vk_app *app, const struct vk_request *rq, vk_str username,
                      struct vk_secret pw, struct vk_signin *si);
/* Seconds this attempt must still wait (0: check the password). */
int64_t vk_signin_wait(struct vk_app *app, const struct vk_request *rq,
                       const struct vk_signin *si);
/* The password check itself (Argon2id: call it on the deferred-work pool), with its bookkeeping:
 * a failure is charged to the limiters and logged (event=login.failed form=`form`); a success
 * is counted, clears this browser's failures, sets a fresh device cookie on rs and, with
 * `rehash`, stores a stronger hash when the parameters were raised. *ok says which. */
int vk_signin_verify(struct vk_app *app, const struct vk_request *rq, struct vk_response *rs,
                     const struct vk_signin *si, const char *form, bool rehash, bool *ok);
/* For an attempt that must wait: sets Retry-After on rs and *msg to the sentence to show. */
int vk_signin_too_many(const struct vk_request *rq, struct vk_response *rs, int64_t wait,
                       const char **msg);
/* Starts a login session for user (replacing the browser's previous one) and sets its cookie.
 * *se is the new session (arena strings). */
int vk_oauth_session_start(struct vk_app *app, const struct vk_request *rq,
                           struct vk_response *rs, const struct vk_user *user,
                           struct vk_session *se);
/* Called once for every session a person or a password change ends (not for expiry): writes the
 * audit line, and is where back-channel logout notifications will be sent from. */
void vk_oauth_session_ended(struct vk_app *app, const char *user_id, const char *handle,
                            const char *reason);
/* The sign-in page posting to /login: "Sign in to continue to `to`", the error if any, the
 * username pre-filled, the hidden fields and the CSRF field (purpose "login"). */
struct vk_ui_field;
int vk_oauth_login_page(struct vk_app *app, const struct vk_request *rq, struct vk_response *rs,
                        int status, const char *to, const char *error, vk_str username,
                        const struct vk_ui_field *hidden, size_t n_hidden,
                        const char *form_origin);

/* The audiences a grant reaches (oauth/authorize.c): the resources named at /authorize, else the
 * client's registered ones, else the default audience; with openid, also the issuer. */
int vk_oauth_grant_audiences(struct vk_app *app, struct vk_arena *a, const char *scope,
                             const char *resources, const char *client_resources,
                             const char ***out, size_t *n);

/* The account page's half of POST /login (a login form with next=account), called by
 * vk_ep_login once the form and its CSRF token are checked. */
int vk_account_login(struct vk_app *app, const struct vk_request *rq, struct vk_response *rs,
                     const struct vk_params *ps);

/* Handlers. */
int vk_ep_authorize(void *app, const struct vk_request *rq, struct vk_response *rs);
int vk_ep_login(void *app, const struct vk_request *rq, struct vk_response *rs);
int vk_ep_consent(void *app, const struct vk_request *rq, struct vk_response *rs);
int vk_ep_logout(void *app, const struct vk_request *rq, struct vk_response *rs);
int vk_ep_account(void *app, const struct vk_request *rq, struct vk_response *rs);
int vk_ep_userinfo(void *app, const struct vk_request *rq, struct vk_response *rs);
int vk_ep_oidc_discovery(void *app, const struct vk_request *rq, struct vk_response *rs);
int vk_ep_token(void *app, const struct vk_request *rq, struct vk_response *rs);
int vk_ep_introspect(void *app, const struct vk_request *rq, struct vk_response *rs);
int vk_ep_revoke(void *app, const struct vk_request *rq, struct vk_response *rs);
int vk_ep_discovery(void *app, const struct vk_request *rq, struct vk_response *rs);
int vk_ep_jwks(void *app, const struct vk_request *rq, struct vk_response *rs);
int vk_ep_health(void *app, const struct vk_request *rq, struct vk_response *rs);
int vk_ep_metrics(void *app, const struct vk_request *rq, struct vk_response *rs);

/* Builds app->discovery_json. */
int vk_discovery_build(struct vk_app *app);
/* Records one finished request: counters and the access-log line. */
void vk_metrics_record(void *app, const struct vk_request *rq, const struct vk_response *rs,
                       int route_idx, int64_t dur_us);

#endif
