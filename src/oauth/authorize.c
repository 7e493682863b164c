/* The authorization endpoint (RFC 6749 §4.1.1, OAuth 2.1 §4.1.1, OpenID Connect Core §3.1.2),
 * the login form (POST /login) and the consent form (POST /consent).
 *
 * Every request is validated from scratch, whichever of the three endpoints it arrives at: the
 * login and consent forms carry the authorization request in hidden fields, and nothing is
 * trusted because it went through a form. Errors about the client or the redirect URI are shown
 * to the user and never redirected (RFC 9700 §4.11.2, checklist #3); every other error goes back
 * to the client's redirect URI with `state` and `iss` (RFC 9207). */
#include "oauth/app.h"

#include <inttypes.h>
#include <string.h>

#include "base/b64url.h"
#include "base/limits.h"
#include "base/log.h"
#include "grant/grant.h"
#include "http/cookie.h"
#include "http/form.h"
#include "ui/ui.h"

/* The parameters that make up an authorization request: carried through the login and consent
 * forms as hidden fields, and nothing else is (the password never is). */
static const char *const authz_params[] = {
    "response_type", "client_id", "redirect_uri", "scope",     "state",    "nonce",
    "code_challenge", "code_challenge_method", "prompt", "max_age", "resource", "response_mode",
    "login_hint",    "ui_locales", "acr_values", "display",  NULL};

static const char *const authz_repeatable[] = {"resource", NULL}; /* RFC 8707 §2 */

struct authz {
    struct vk_client client;
    vk_str redirect_uri; /* validated: one of the client's */
    vk_str state;
    vk_str nonce;
    vk_str code_challenge;
    const char *scope;   /* granted scope */
    const char *resources;
    unsigned prompt;
    int64_t max_age;     /* -1: absent */
};

enum verdict { V_OK, V_HTML, V_REDIRECT };

/* --- responses ------------------------------------------------------------------------------ */

/* 303 to redirect_uri with the given parameters appended (RFC 6749 §4.1.2; 303, not 307, so
 * the browser does not re-post the credentials: RFC 9700 §4.12, checklist #7). */
static int redirect_with(struct vk_app *app, const struct vk_request *rq, struct vk_response *rs,
                         const struct authz *az, const char *const *kv, size_t n)
{
    struct vk_buf b;
    vk_buf_init(&b, 16 * 1024);
    int rc = vk_buf_append(&b, az->redirect_uri.p, az->redirect_uri.len);
    char sep = memchr(az->redirect_uri.p, '?', az->redirect_uri.len) != NULL ? '&' : '?';
    for (size_t i = 0; rc == VK_OK && i + 1 < n; i += 2) {
        if (kv[i + 1] == NULL)
            continue;
        char *v = vk_form_encode(rq->arena, vk_str_c(kv[i + 1]));
        rc = v != NULL ? vk_buf_printf(&b, "%c%s=%s", sep, kv[i], v) : VK_ENOMEM;
        sep = '&';
    }
    if (rc == VK_OK && az->state.len > 0) {
        char *v = vk_form_encode(rq->arena, az->state);
        rc = v != NULL ? vk_buf_printf(&b, "%cstate=%s", sep, v) : VK_ENOMEM;
        sep = '&';
    }
    if (rc == VK_OK) {
        char *v = vk_form_encode(rq->arena, vk_str_c(app->issuer));
        rc = v != NULL ? vk_buf_printf(&b, "%ciss=%s", sep, v) : VK_ENOMEM; /* RFC 9207 */
    }
    char *loc = rc == VK_OK ? vk_arena_strdup(rq->arena, vk_buf_str(&b)) : NULL;
    vk_buf_clear(&b);
    if (rc != VK_OK)
        return rc;
    if (loc == NULL)
        return VK_ENOMEM;
    return vk_oauth_redirect(rq, rs, loc);
}

static int redirect_error(struct vk_app *app, const struct vk_request *rq, struct vk_response *rs,
                          const struct authz *az, const struct vk_oauth_err *oe)
{
    const char *kv[] = {"error", oe->error, "error_description", oe->description};
    return redirect_with(app, rq, rs, az, kv, 4);
}

static bool store_down(int rc)
{
    return rc == VK_ESTORE || rc == VK_EIO;
}

/* RFC 6749 §4.1.2.1: once the redirect URI is validated, a failure of the server itself (the
 * store cannot read or write, e.g. a full disk) goes back to the client as
 * temporarily_unavailable, with state and iss, so the client can tell its user and try again.
 * Other results pass through. */
static int unavailable(struct vk_app *app, const struct vk_request *rq, struct vk_response *rs,
                       const struct authz *az, int rc)
{
    if (!store_down(rc))
        return rc;
    struct vk_oauth_err oe = {0};
    vk_oauth_fail(&oe, 503, "temporarily_unavailable",
                  "the server cannot complete the request now; try again later");
    return redirect_error(app, rq, rs, az, &oe);
}

/* The same before the redirect URI is known to be the client's: a page, never a redirect. */
static int unavailable_page(const struct vk_request *rq, struct vk_response *rs, int rc)
{
    if (!store_down(rc))
        return rc;
    return vk_oauth_html_error(rq, rs, 503, "Sign-in is unavailable",
                               "The server cannot complete the request now. Try again in a few "
                               "minutes.");
}

/* --- validation ----------------------------------------------------------------------------- */

static enum verdict html_fail(struct vk_oauth_err *oe, const char *desc)
{
    vk_oauth_fail(oe, 400, "invalid_request", desc);
    return V_HTML;
}

static enum verdict redir_fail(struct vk_oauth_err *oe, const char *error, const char *desc)
{
    vk_oauth_fail(oe, 400, error, desc);
    return V_REDIRECT;
}

/* Validates an authorization request. V_OK: *az is complete. V_HTML: show oe to the user.
 * V_REDIRECT: send oe to az->redirect_uri. *rc carries internal failures (store, memory). */
static enum verdict validate(struct vk_app *app, const struct vk_request *rq,
                             const struct vk_params *ps, struct authz *az,
                             struct vk_oauth_err *oe, int *rc)
{
    vk_str client_id, redirect, v, dup;
    memset(az, 0, sizeof *az);
    az->max_age = -1;
    *rc = VK_OK;
    if (vk_params_get(ps, "client_id", &client_id) != 1)
        return html_fail(oe, "The request has no client_id (or more than one).");
    *rc = vk_client_cache_get(app->clients, rq->arena, client_id, rq->now, false, &az->client);
    if (*rc == VK_ENOTFOUND) {
        *rc = VK_OK;
        return html_fail(oe, "The application that sent you here is not registered.");
    }
    if (*rc != VK_OK)
        return V_HTML;
    size_t nr = vk_params_get(ps, "redirect_uri", &redirect);
    if (nr > 1)
        return html_fail(oe, "The request has more than one redirect_uri.");
    if (nr == 0) {
        /* OAuth 2.1 §4.1.1: optional only when exactly one is registered. */
        vk_str regs = vk_str_c(az->client.redirect_uris), first, rest = regs;
        if (!vk_str_next_token(&rest, '\n', &first) || vk_str_next_token(&rest, '\n', &v))
            return html_fail(oe, "The request has no redirect_uri.");
        redirect = first;
    } else if (!vk_redirect_uri_match(vk_str_c(az->client.redirect_uris), redirect)) {
        /* RFC 9700 §2.1 / checklist #1, #3, #4: exact match or no redirect at all. */
        return html_fail(oe, "The redirect URI is not registered for this application.");
    }
    az->redirect_uri = redirect;
    /* From here on, errors go back to the client (with state if there is exactly one). */
    if (vk_params_get(ps, "state", &az->state) > 1)
        az->state = VK_STR_NULL;
    /* RFC 6749 §3.1: no parameter may appear more than once; RFC 8707 §2 makes `resource` the
     * one exception. Every other name is checked, whichever repeats first. */
    if (vk_params_find_repeat(ps, authz_repeatable, &dup))
        return redir_fail(oe, "invalid_request", "a parameter is repeated");
    if (vk_params_get(ps, "response_type", &v) == 0)
        return redir_fail(oe, "invalid_request", "response_type is required");
    /* RFC 9700 §2.1.2 / checklist #22: only the code flow; no tokens from this endpoint. */
    if (!vk_str_eq_lit(v, "code"))
        return redir_fail(oe, "unsupported_response_type", "only response_type=code is supported");
    /* OIDC Core §6.1, §6.2: request objects are not supported, and say so. */
    if (vk_params_get(ps, "request", &v) > 0)
        return redir_fail(oe, "request_not_supported", "request objects are not supported");
    if (vk_params_get(ps, "request_uri", &v) > 0)
        return redir_fail(oe, "request_uri_not_supported", "request_uri is not supported");
    if (vk_params_get(ps, "response_mode", &v) > 0 && !vk_str_eq_lit(v, "query"))
        return redir_fail(oe, "invalid_request", "only response_mode=query is supported");
    if (!vk_client_has_grant(vk_str_c(az->client.grant_types), "authorization_code"))
        return redir_fail(oe, "unauthorized_client",
                          "the client may not use the authorization code grant");
    vk_str method;
    vk_params_get(ps, "code_challenge", &az->code_challenge);
    vk_params_get(ps, "code_challenge_method", &method);
    if (vk_pkce_check_challenge(az->code_challenge, method, oe) != VK_OK)
        return V_REDIRECT;
    vk_str scope;
    size_t ns = vk_params_get(ps, "scope", &scope);
    *rc = vk_scope_decide(rq->arena, ns > 0, scope, vk_str_c(az->client.scope), &az->scope, oe);
    if (*rc == VK_EOAUTH) {
        *rc = VK_OK;
        return V_REDIRECT;
    }
    if (*rc != VK_OK)
        return V_HTML;
    /* RFC 8707: resources requested here bound the audiences the tokens may carry. */
    vk_str res[VK_MAX_RESOURCES + 1];
    size_t nres = 0;
    for (size_t i = 0; i < ps->n; i++)
        if (ps->v[i].value.len > 0 && vk_str_eq_lit(ps->v[i].name, "resource") &&
            nres <= VK_MAX_RESOURCES)
            res[nres++] = ps->v[i].value;
    if (vk_resource_decide(res, nres, vk_str_c(az->client.resources),
                           vk_str_c(vk_oauth_default_audience(app)), oe) != VK_OK)
        return V_REDIRECT;
    struct vk_buf rb;
    vk_buf_init(&rb, 64 * 1024);
    for (size_t i = 0; i < nres && *rc == VK_OK; i++) {
        if (i > 0)
            *rc = vk_buf_append(&rb, " ", 1);
        if (*rc == VK_OK)
            *rc = vk_buf_append(&rb, res[i].p, res[i].len);
    }
    az->resources = *rc == VK_OK ? vk_arena_strdup(rq->arena, vk_buf_str(&rb)) : NULL;
    vk_buf_clear(&rb);
    if (az->resources == NULL) {
        *rc = VK_ENOMEM;
        return V_HTML;
    }
    /* The nonce is copied into the id_token: JSON needs valid UTF-8 (RFC 8259 §8.1). */
    if (vk_params_get(ps, "nonce", &az->nonce) > 0 &&
        (az->nonce.len > 512 || !vk_str_is_utf8(az->nonce)))
        return redir_fail(oe, "invalid_request", "nonce is too long or not UTF-8");
    if (vk_params_get(ps, "prompt", &v) > 0 && vk_prompt_parse(v, &az->prompt, oe) != VK_OK)
        return V_REDIRECT;
    if (vk_params_get(ps, "max_age", &v) > 0) {
        uint64_t ma;
        if (vk_parse_u64(v, 0, 10L * 365 * 86400, &ma) != VK_OK)
            return redir_fail(oe, "invalid_request", "max_age must be a non-negative integer");
        az->max_age = (int64_t)ma;
    }
    return V_OK;
}

/* --- CSRF: see html.c (vk_oauth_csrf_*) --- */

/* --- pages ---------------------------------------------------------------------------------- */

static int hidden_fields(struct vk_arena *a, const struct vk_params *ps, const char *csrf,
                         struct vk_ui_field **out, size_t *n)
{
    struct vk_ui_field *f = vk_arena_alloc(a, (ps->n + 1) * sizeof *f);
    if (f == NULL)
        return VK_ENOMEM;
    size_t k = 0;
    for (size_t i = 0; i < ps->n; i++) {
        if (ps->v[i].value.len == 0)
            continue;
        for (const char *const *name = authz_params; *name != NULL; name++) {
            if (vk_str_eq_lit(ps->v[i].name, *name)) {
                f[k].name = *name;
                f[k].value = vk_arena_strdup(a, ps->v[i].value);
                if (f[k].value == NULL)
                    return VK_ENOMEM;
                k++;
                break;
            }
        }
    }
    if (csrf != NULL) { /* the login page adds its own */
        f[k].name = "csrf";
        f[k].value = csrf;
        k++;
    }
    *out = f;
    *n = k;
    return VK_OK;
}

static int show_login(struct vk_app *app, const struct vk_request *rq, struct vk_response *rs,
                      const struct vk_params *ps, const struct authz *az, int status,
                      const char *error, vk_str username)
{
    struct vk_ui_field *hidden;
    size_t nh;
    int rc = hidden_fields(rq->arena, ps, NULL, &hidden, &nh);
    if (rc != VK_OK)
        return rc;
    return vk_oauth_login_page(app, rq, rs, status, az->client.name, error, username, hidden, nh,
                               vk_oauth_origin_of(rq->arena, az->redirect_uri));
}

/* The consent form's token also binds the login session and the time the form was issued
 * (the hidden field consent_at): a token lifted from one session's form is useless in another,
 * and /consent can tell whether a login happened in this flow (prompt=login, max_age). */
static void consent_purpose(char *out, size_t n, const struct vk_session *se, int64_t issued)
{
    char sid[2 * VK_DIGEST_LEN + 1];
    vk_hex(se->digest, VK_DIGEST_LEN, sid);
    snprintf(out, n, "consent|%s|%lld", sid, (long long)issued);
}

#define CONSENT_FORM_TTL 600 /* seconds a consent form stays valid */

/* The audiences a grant can reach (what the consent and account pages must name): the resources
 * named at /authorize, which bound every later token (RFC 8707 §2.2); without them, any of the
 * client's registered resources, which its token requests may name; without those, the server's
 * default audience. With openid, also the issuer (its /userinfo), as token.c adds it. */
int vk_oauth_grant_audiences(struct vk_app *app, struct vk_arena *a, const char *scope,
                             const char *resources, const char *client_resources,
                             const char ***out, size_t *n)
{
    const char *src = vk_oauth_default_audience(app);
    if (client_resources != NULL && client_resources[0] != '\0')
        src = client_resources;
    if (resources != NULL && resources[0] != '\0')
        src = resources;
    size_t cap = 2;
    vk_str rest = vk_str_c(src), t;
    while (vk_str_next_token(&rest, ' ', &t))
        cap++;
    const char **v = vk_arena_alloc(a, cap * sizeof *v);
    if (v == NULL)
        return VK_ENOMEM;
    size_t k = 0;
    bool has_issuer = false;
    rest = vk_str_c(src);
    while (k + 1 < cap && vk_str_next_token(&rest, ' ', &t)) {
        if ((v[k] = vk_arena_strdup(a, t)) == NULL)
            return VK_ENOMEM;
        has_issuer = has_issuer || strcmp(v[k], app->issuer) == 0;
        k++;
    }
    if (!has_issuer && vk_scope_list_contains(vk_str_c(scope), VK_STR("openid")))
        v[k++] = app->issuer;
    *out = v;
    *n = k;
    return VK_OK;
}

static int show_consent(struct vk_app *app, const struct vk_request *rq, struct vk_response *rs,
                        const struct vk_params *ps, const struct authz *az,
                        const struct vk_session *se, const struct vk_user *user)
{
    vk_str binding;
    char csrf[44], purpose[128];
    struct vk_ui_field *hidden;
    size_t nh;
    int rc = vk_oauth_csrf_binding(app, rq, rs, &binding);
    if (rc != VK_OK)
        return rc;
    consent_purpose(purpose, sizeof purpose, se, rq->now);
    vk_oauth_csrf_token(app, purpose, binding, csrf);
    char *copy = vk_arena_strdup(rq->arena, vk_str_c(csrf));
    rc = copy != NULL ? hidden_fields(rq->arena, ps, copy, &hidden, &nh) : VK_ENOMEM;
    if (rc != VK_OK)
        return rc;
    /* one more hidden field: when the form was issued (bound by the token above) */
    struct vk_ui_field *more = vk_arena_alloc(rq->arena, (nh + 1) * sizeof *more);
    char *at = vk_arena_printf(rq->arena, "%lld", (long long)rq->now);
    if (more == NULL || at == NULL)
        return VK_ENOMEM;
    memcpy(more, hidden, nh * sizeof *more);
    more[nh].name = "consent_at";
    more[nh].value = at;
    hidden = more;
    nh++;
    const char *scopes[VK_MAX_SCOPES];
    size_t n = 0;
    vk_str rest = vk_str_c(az->scope), t;
    while (n < VK_MAX_SCOPES && vk_str_next_token(&rest, ' ', &t)) {
        scopes[n] = vk_arena_strdup(rq->arena, t);
        if (scopes[n] == NULL)
            return VK_ENOMEM;
        n++;
    }
    const char **auds;
    size_t n_auds;
    rc = vk_oauth_grant_audiences(app, rq->arena, az->scope, az->resources, az->client.resources,
                                  &auds, &n_auds);
    if (rc != VK_OK)
        return rc;
    struct vk_buf b;
    vk_buf_init(&b, 256 * 1024);
    rc = vk_ui_consent(&b, "/consent", az->client.name, user->username, scopes, n, auds, n_auds,
                       hidden, nh);
    if (rc == VK_OK)
        rc = vk_oauth_html(rq, rs, 200, &b, vk_oauth_origin_of(rq->arena, az->redirect_uri));
    vk_buf_clear(&b);
    return rc;
}

/* --- the code ------------------------------------------------------------------------------- */

static int issue_code(struct vk_app *app, const struct vk_request *rq, struct vk_response *rs,
                      const struct authz *az, const struct vk_session *se,
                      const struct vk_user *user)
{
    char code[80], grant_id[64], sid[2 * VK_DIGEST_LEN + 1];
    struct vk_code c;
    memset(&c, 0, sizeof c);
    int rc = vk_secret_new(VK_PREFIX_CODE, code, sizeof code, c.digest);
    if (rc == VK_OK)
        rc = vk_rand_token(VK_PREFIX_GRANT, 16, grant_id, sizeof grant_id);
    if (rc != VK_OK)
        return rc;
    vk_hex(se->digest, VK_DIGEST_LEN, sid);
    c.client_id = az->client.id;
    c.user_id = user->id;
    c.redirect_uri = vk_arena_strdup(rq->arena, az->redirect_uri);
    c.code_challenge = vk_arena_strdup(rq->arena, az->code_challenge);
    c.scope = az->scope;
    c.nonce = vk_arena_strdup(rq->arena, az->nonce);
    c.resources = az->resources;
    c.session_id = sid;
    c.auth_time = se->auth_time;
    c.created_at = rq->now;
    c.expires_at = rq->now + app->cfg->code_ttl; /* checklist #19: short-lived */
    c.grant_id = grant_id;
    if (c.redirect_uri == NULL || c.code_challenge == NULL || c.nonce == NULL)
        return VK_ENOMEM;
    rc = vk_store_code_put(app->st, &c);
    if (rc != VK_OK)
        return rc;
    rs->log_client = az->client.id;
    const char *kv[] = {"code", code};
    rc = redirect_with(app, rq, rs, az, kv, 2);
    vk_wipe(code, sizeof code);
    return rc;
}

/* After the request is valid and the user is known: consent, then the code. */
static int proceed(struct vk_app *app, const struct vk_request *rq, struct vk_response *rs,
                   const struct vk_params *ps, const struct authz *az,
                   const struct vk_session *se, const struct vk_user *user, bool consented_now)
{
    /* First-party clients skip the page, unless the client asked for it with prompt=consent. */
    if (!consented_now && (!az->client.first_party || (az->prompt & VK_PROMPT_CONSENT))) {
        const char *remembered = NULL;
        int rc = vk_store_consent_get(app->st, rq->arena, user->id, az->client.id, &remembered);
        if (rc != VK_OK && rc != VK_ENOTFOUND)
            return unavailable(app, rq, rs, az, rc);
        bool covered = remembered != NULL &&
                       vk_consent_covers(vk_str_c(remembered), vk_str_c(az->scope));
        if (!covered || (az->prompt & VK_PROMPT_CONSENT)) {
            if (az->prompt & VK_PROMPT_NONE) {
                struct vk_oauth_err oe = {0};
                vk_oauth_fail(&oe, 400, "consent_required", "the user has not consented");
                return redirect_error(app, rq, rs, az, &oe);
            }
            return show_consent(app, rq, rs, ps, az, se, user);
        }
    }
    return unavailable(app, rq, rs, az, issue_code(app, rq, rs, az, se, user));
}

/* Reads the parameters of a browser request: the query for GET, the form body for POST. */
static int read_params(const struct vk_request *rq, struct vk_params *ps, bool *bad)
{
    struct vk_oauth_err oe = {0};
    *bad = false;
    if (rq->method == VK_METHOD_POST) {
        int rc = vk_oauth_read_form(rq, NULL, ps, &oe);
        if (rc == VK_EOAUTH && oe.description != NULL &&
            strcmp(oe.description, "a parameter is repeated") == 0) {
            /* re-parse without the repeat check: validate() decides what a repeat means */
            rc = vk_form_parse(rq->arena, rq->body, ps);
        }
        if (rc == VK_EOAUTH || rc == VK_EINVAL || rc == VK_ETOOBIG) {
            *bad = true;
            return VK_OK;
        }
        return rc;
    }
    int rc = vk_form_parse(rq->arena, rq->raw_query, ps);
    if (rc == VK_EINVAL || rc == VK_ETOOBIG) {
        *bad = true;
        return VK_OK;
    }
    return rc;
}

static int handle_invalid(struct vk_app *app, const struct vk_request *rq, struct vk_response *rs,
                          enum verdict v, const struct authz *az, const struct vk_oauth_err *oe)
{
    if (v == V_REDIRECT)
        return redirect_error(app, rq, rs, az, oe);
    return vk_oauth_html_error(rq, rs, 400, "This sign-in request cannot be completed",
                               oe->description ? oe->description : "The request is invalid.");
}

int vk_ep_authorize(void *appv, const struct vk_request *rq, struct vk_response *rs)
{
    struct vk_app *app = appv;
    struct vk_params ps;
    struct authz az;
    struct vk_oauth_err oe = {0};
    struct vk_session se;
    struct vk_user user;
    bool bad;
    int rc = read_params(rq, &ps, &bad);
    if (rc != VK_OK)
        return rc;
    if (bad)
        return vk_oauth_html_error(rq, rs, 400, "This sign-in request cannot be completed",
                                   "The request is malformed.");
    enum verdict v = validate(app, rq, &ps, &az, &oe, &rc);
    if (rc != VK_OK)
        return unavailable_page(rq, rs, rc);
    if (v != V_OK)
        return handle_invalid(app, rq, rs, v, &az, &oe);
    rs->log_client = az.client.id;
    rc = vk_oauth_session(app, rq, &se, &user);
    if (rc != VK_OK && rc != VK_ENOTFOUND)
        return unavailable(app, rq, rs, &az, rc);
    bool have = rc == VK_OK;
    /* OIDC Core §3.1.2.1: prompt and max_age decide whether to ask for the password again. */
    if (vk_login_required(have, se.auth_time, az.prompt, az.max_age, rq->now)) {
        if (az.prompt & VK_PROMPT_NONE) {
            vk_oauth_fail(&oe, 400, "login_required", "the user is not signed in");
            return redirect_error(app, rq, rs, &az, &oe);
        }
        vk_str hint = VK_STR_NULL; /* OIDC Core §3.1.2.1: login_hint pre-fills the username */
        if (vk_params_get(&ps, "login_hint", &hint) > 0 && hint.len > 64)
            hint = VK_STR_NULL;
        return show_login(app, rq, rs, &ps, &az, 200, NULL, hint);
    }
    return proceed(app, rq, rs, &ps, &az, &se, &user, false);
}

/* --- POST /login -------------------------------------------------------------------------- */

/* A login attempt that passed its limits, on its way to the password check: what the check and
 * everything after it need. Lives in the request arena. */
struct login {
    struct vk_params ps;
    struct authz az;
    struct vk_signin si;
};

/* The login page again, 429 with Retry-After (RFC 6585 §4). */
static int show_too_many(struct vk_app *app, const struct vk_request *rq, struct vk_response *rs,
                         const struct login *lg, int64_t wait)
{
    const char *msg;
    int rc = vk_signin_too_many(rq, rs, wait, &msg);
    if (rc != VK_OK)
        return rc;
    return show_login(app, rq, rs, &lg->ps, &lg->az, 429, msg, lg->si.username);
}

/* The password check and what follows it: the limiter bookkeeping, a stronger hash when the
 * parameters were raised, the session, then consent or the code. Runs on the HTTP layer's pool
 * of deferred-work threads (vk_response_defer): each verification costs ~19 MiB and ~15 ms of
 * CPU, and on a worker thread it would stall every other connection that thread serves. The
 * pool has one thread per CPU and a short queue, which also bounds the memory. */
static int login_deferred(void *appv, const struct vk_request *rq, struct vk_response *rs,
                          void *arg)
{
    struct vk_app *app = appv;
    struct login *lg = arg;
    struct vk_session se;
    bool ok;
    rs->log_client = lg->az.client.id;
    /* Again, now: attempts that queued together must not all pass one earlier check. */
    int64_t wait = vk_signin_wait(app, rq, &lg->si);
    if (wait > 0)
        return show_too_many(app, rq, rs, lg, wait);
    int rc = vk_signin_verify(app, rq, rs, &lg->si, "login", true, &ok);
    if (rc != VK_OK)
        return rc;
    if (!ok)
        return show_login(app, rq, rs, &lg->ps, &lg->az, 400, "Invalid username or password.",
                          lg->si.username);
    rc = vk_oauth_session_start(app, rq, rs, &lg->si.user, &se);
    if (rc != VK_OK)
        return unavailable(app, rq, rs, &lg->az, rc); /* the redirect URI is validated */
    vk_log_info("event=login.ok user_id=%s client=%s", lg->si.user.id, lg->az.client.id);
    return proceed(app, rq, rs, &lg->ps, &lg->az, &se, &lg->si.user, false);
}

int vk_ep_login(void *appv, const struct vk_request *rq, struct vk_response *rs)
{
    struct vk_app *app = appv;
    struct vk_oauth_err oe = {0};
    vk_str username, password, next;
    bool bad;
    struct login *lg = vk_arena_alloc(rq->arena, sizeof *lg);
    if (lg == NULL)
        return VK_ENOMEM;
    memset(lg, 0, sizeof *lg);
    int rc = read_params(rq, &lg->ps, &bad);
    if (rc != VK_OK)
        return rc;
    if (bad)
        return vk_oauth_html_error(rq, rs, 400, "Sign-in failed", "The form is malformed.");
    if (!vk_oauth_csrf_ok(app, rq, &lg->ps, "login"))
        return vk_oauth_html_error(rq, rs, 403, "Sign-in failed",
                                   "The sign-in form has expired or did not come from this "
                                   "site. Go back to the application and start again.");
    /* The account page's login form: it carries no authorization request, and returns there. */
    if (vk_params_get(&lg->ps, "next", &next) > 0)
        return vk_account_login(app, rq, rs, &lg->ps);
    enum verdict v = validate(app, rq, &lg->ps, &lg->az, &oe, &rc);
    if (rc != VK_OK)
        return unavailable_page(rq, rs, rc);
    if (v != V_OK)
        return handle_invalid(app, rq, rs, v, &lg->az, &oe);
    rs->log_client = lg->az.client.id;
    vk_params_get(&lg->ps, "username", &username);
    vk_params_get(&lg->ps, "password", &password);
    if (username.len == 0 || password.len == 0 || username.len > 64)
        return show_login(app, rq, rs, &lg->ps, &lg->az, 400, "Enter your username and password.",
                          username.len <= 64 ? username : VK_STR_NULL);
    /* The same answer whether or not the account exists. */
    rc = vk_signin_prepare(app, rq, username, (struct vk_secret){password.p, password.len},
                           &lg->si);
    if (rc != VK_OK)
        return unavailable(app, rq, rs, &lg->az, rc);
    int64_t wait = vk_signin_wait(app, rq, &lg->si);
    if (wait > 0)
        return show_too_many(app, rq, rs, lg, wait);
    /* The password is checked on the deferred-work pool; when the pool is full, the answer is
     * this page, at once: 503 with Retry-After (RFC 9110 §15.6.4). */
    rc = vk_response_header(rs, rq->arena, "Retry-After", "2");
    if (rc == VK_OK)
        rc = show_login(app, rq, rs, &lg->ps, &lg->az, 503,
                        "The server is busy. Try again in a few seconds.", lg->si.username);
    if (rc != VK_OK)
        return rc;
    vk_response_defer(rs, login_deferred, lg);
    return VK_OK;
}

/* --- POST /consent ------------------------------------------------------------------------ */

int vk_ep_consent(void *appv, const struct vk_request *rq, struct vk_response *rs)
{
    struct vk_app *app = appv;
    struct vk_params ps;
    struct authz az;
    struct vk_oauth_err oe = {0};
    struct vk_user user;
    struct vk_session se;
    vk_str decision, at_s;
    uint64_t issued = 0;
    bool bad;
    int rc = read_params(rq, &ps, &bad);
    if (rc != VK_OK)
        return rc;
    if (bad)
        return vk_oauth_html_error(rq, rs, 400, "Consent failed", "The form is malformed.");
    rc = vk_oauth_session(app, rq, &se, &user);
    if (rc != VK_OK && rc != VK_ENOTFOUND)
        return unavailable_page(rq, rs, rc);
    /* The token binds the browser, the session and the issue time of the form. */
    char purpose[128];
    bool fresh = vk_params_get(&ps, "consent_at", &at_s) == 1 &&
                 vk_parse_u64(at_s, 0, (uint64_t)rq->now + 60, &issued) == VK_OK &&
                 rq->now - (int64_t)issued <= CONSENT_FORM_TTL;
    if (rc == VK_OK)
        consent_purpose(purpose, sizeof purpose, &se, (int64_t)issued);
    if (rc != VK_OK || !fresh || !vk_oauth_csrf_ok(app, rq, &ps, purpose))
        return vk_oauth_html_error(rq, rs, 403, "Consent failed",
                                   "The consent form has expired or did not come from this "
                                   "site. Go back to the application and start again.");
    enum verdict v = validate(app, rq, &ps, &az, &oe, &rc);
    if (rc != VK_OK)
        return unavailable_page(rq, rs, rc);
    if (v != V_OK)
        return handle_invalid(app, rq, rs, v, &az, &oe);
    rs->log_client = az.client.id;
    /* OIDC Core §3.1.2.1: prompt=login and max_age hold here too. A login in this flow renders
     * the form in the same request, so its auth_time equals the form's issue time. */
    bool relogin = ((az.prompt & VK_PROMPT_LOGIN) && se.auth_time < (int64_t)issued) ||
                   (az.max_age >= 0 && (int64_t)issued - se.auth_time > az.max_age);
    if (relogin)
        return show_login(app, rq, rs, &ps, &az, 200, NULL, VK_STR_NULL);
    vk_params_get(&ps, "decision", &decision);
    if (!vk_str_eq_lit(decision, "approve")) {
        vk_oauth_fail(&oe, 400, "access_denied", "the user denied the request");
        return redirect_error(app, rq, rs, &az, &oe);
    }
    /* Remember the union of what was approved before and now, per user and client. */
    const char *prev = NULL, *merged = az.scope;
    rc = vk_store_consent_get(app->st, rq->arena, user.id, az.client.id, &prev);
    if (rc != VK_OK && rc != VK_ENOTFOUND)
        return unavailable(app, rq, rs, &az, rc);
    if (prev != NULL && prev[0] != '\0') {
        merged = vk_arena_printf(rq->arena, "%s %s", prev, az.scope);
        const char *dedup = NULL;
        if (merged == NULL || vk_scope_decide(rq->arena, true, vk_str_c(merged),
                                              vk_str_c(merged), &dedup, &oe) != VK_OK)
            merged = az.scope;
        else
            merged = dedup;
    }
    if (merged[0] != '\0') {
        rc = vk_store_consent_put(app->st, user.id, az.client.id, merged, rq->now);
        if (rc != VK_OK)
            return unavailable(app, rq, rs, &az, rc);
    }
    return proceed(app, rq, rs, &ps, &az, &se, &user, true);
}
