/* GET/POST /account: the signed-in user's own page. It lists the applications with access to the
 * account (live grants, and approvals that are remembered), the browser sessions, and offers the
 * password change; each is a plain HTML form, no JavaScript.
 *
 * The rules (docs/security.md, "The account page"):
 * - Sign-in is the login page of /authorize (POST /login, the same CSRF token, limiter and
 *   session), with next=account instead of an authorization request.
 * - Every POST needs the session cookie AND a CSRF token bound to the browser cookie and to that
 *   session (purpose "account|<session digest>"): a token from another session or browser, or a
 *   session cookie of another user, changes nothing.
 * - Every store operation is given the session's user id; ids from a form (a client id, a session
 *   handle) only select among that user's rows, in the same statement or transaction.
 * - A password change needs a sign-in no older than account_reauth_max_age (OIDC max_age-style)
 *   and the current password, checked under the login limits, on the deferred-work pool.
 * - Each removal, sign-out and password change writes one audit line (ids only). */
#include "oauth/app.h"

#include <stdio.h>
#include <string.h>

#include "auth/password.h"
#include "auth/session.h"
#include "base/log.h"
#include "grant/grant.h"
#include "http/cookie.h"
#include "http/form.h"
#include "ui/ui.h"

#define REAUTH_URL VK_UI_ACCOUNT_PATH "?signin=1"

/* What the page says after a successful action (GET /account?done=KEY after the 303): a fixed
 * sentence, so nothing from the URL is ever shown. */
static const struct {
    const char *key;
    const char *text;
} notices[] = {
    {"removed", "The application's access was removed. It will have to ask you again."},
    {"signed_out", "The session was signed out."},
    {"signed_out_others", "Every other session was signed out."},
    {"password", "Your password was changed, and every other session was signed out."},
};

/* A failure of the server itself (the store cannot read or write, e.g. a full disk) is a page in
 * the browser, not the JSON 503 the HTTP layer would send; other results pass through. */
static int unavailable(const struct vk_request *rq, struct vk_response *rs, int rc)
{
    if (rc != VK_ESTORE && rc != VK_EIO)
        return rc;
    rs->n_headers = 0; /* nothing half-done goes out (a cookie of a session not written) */
    int r = vk_response_header(rs, rq->arena, "Retry-After", "60");
    return r != VK_OK ? r
                      : vk_oauth_html_error(rq, rs, 503, "Your account is unavailable",
                                            "The server cannot complete the request now. "
                                            "Nothing was changed. Try again in a few minutes.");
}

/* --- the sign-in page for the account --------------------------------------------------------- */

static int login_page(struct vk_app *app, const struct vk_request *rq, struct vk_response *rs,
                      int status, const char *error, vk_str username)
{
    static const struct vk_ui_field next = {"next", "account"};
    return vk_oauth_login_page(app, rq, rs, status, "your account", error, username, &next, 1,
                               NULL);
}

struct account_login {
    struct vk_signin si;
};

static int login_checked(void *appv, const struct vk_request *rq, struct vk_response *rs,
                         void *arg)
{
    struct vk_app *app = appv;
    struct account_login *lg = arg;
    struct vk_session se;
    const char *msg;
    bool ok;
    int64_t wait = vk_signin_wait(app, rq, &lg->si);
    if (wait > 0) {
        int rc = vk_signin_too_many(rq, rs, wait, &msg);
        return rc != VK_OK ? rc : login_page(app, rq, rs, 429, msg, lg->si.username);
    }
    int rc = vk_signin_verify(app, rq, rs, &lg->si, "login", true, &ok);
    if (rc != VK_OK)
        return rc;
    if (!ok)
        return login_page(app, rq, rs, 400, "Invalid username or password.", lg->si.username);
    rc = vk_oauth_session_start(app, rq, rs, &lg->si.user, &se);
    if (rc != VK_OK)
        return rc;
    vk_log_info("event=login.ok user_id=%s to=account", lg->si.user.id);
    return vk_oauth_redirect(rq, rs, VK_UI_ACCOUNT_PATH);
}

static int login_deferred(void *app, const struct vk_request *rq, struct vk_response *rs,
                          void *arg)
{
    return unavailable(rq, rs, login_checked(app, rq, rs, arg));
}

static int account_login(struct vk_app *app, const struct vk_request *rq, struct vk_response *rs,
                         const struct vk_params *ps)
{
    vk_str next, username, password;
    const char *msg;
    /* Only this one value: the form names no address to go to, so it cannot redirect anywhere
     * else (RFC 9700 §4.11). */
    if (vk_params_get(ps, "next", &next) != 1 || !vk_str_eq_lit(next, "account"))
        return vk_oauth_html_error(rq, rs, 400, "Sign-in failed", "The form is malformed.");
    struct account_login *lg = vk_arena_alloc(rq->arena, sizeof *lg);
    if (lg == NULL)
        return VK_ENOMEM;
    vk_params_get(ps, "username", &username);
    vk_params_get(ps, "password", &password);
    if (username.len == 0 || password.len == 0 || username.len > 64)
        return login_page(app, rq, rs, 400, "Enter your username and password.",
                          username.len <= 64 ? username : VK_STR_NULL);
    int rc = vk_signin_prepare(app, rq, username, (struct vk_secret){password.p, password.len},
                               &lg->si);
    if (rc != VK_OK)
        return rc;
    int64_t wait = vk_signin_wait(app, rq, &lg->si);
    if (wait > 0) {
        rc = vk_signin_too_many(rq, rs, wait, &msg);
        return rc != VK_OK ? rc : login_page(app, rq, rs, 429, msg, username);
    }
    /* As POST /login for /authorize: the check runs on the deferred-work pool; a full pool gets
     * this page at once (RFC 9110 §15.6.4). */
    rc = vk_response_header(rs, rq->arena, "Retry-After", "2");
    if (rc == VK_OK)
        rc = login_page(app, rq, rs, 503, "The server is busy. Try again in a few seconds.",
                        username);
    if (rc != VK_OK)
        return rc;
    vk_response_defer(rs, login_deferred, lg);
    return VK_OK;
}

int vk_account_login(struct vk_app *app, const struct vk_request *rq, struct vk_response *rs,
                     const struct vk_params *ps)
{
    return unavailable(rq, rs, account_login(app, rq, rs, ps));
}

/* --- the page ------------------------------------------------------------------------------ */

/* The CSRF token of the account forms binds the browser cookie and the session. */
static void csrf_purpose(char *out, size_t n, const struct vk_session *se)
{
    char sid[2 * VK_DIGEST_LEN + 1];
    vk_hex(se->digest, VK_DIGEST_LEN, sid);
    snprintf(out, n, "account|%s", sid);
}

/* Appends s to the set v (n entries, capacity *cap) unless it is there. */
static int add_unique(struct vk_arena *a, const char ***v, size_t *n, size_t *cap, const char *s)
{
    for (size_t i = 0; i < *n; i++) {
        if (strcmp((*v)[i], s) == 0)
            return VK_OK;
    }
    const char **nv = vk_arena_grow(a, *v, *n, cap, sizeof *nv);
    if (nv == NULL)
        return VK_ENOMEM;
    *v = nv;
    (*v)[(*n)++] = s;
    return VK_OK;
}

/* Adds every space-separated word of list to the set. */
static int add_words(struct vk_arena *a, const char ***v, size_t *n, size_t *cap, const char *list)
{
    vk_str rest = vk_str_c(list != NULL ? list : ""), t;
    while (vk_str_next_token(&rest, ' ', &t)) {
        char *w = vk_arena_strdup(a, t);
        int rc = w != NULL ? add_unique(a, v, n, cap, w) : VK_ENOMEM;
        if (rc != VK_OK)
            return rc;
    }
    return VK_OK;
}

/* One row being built for a client. */
struct app_row {
    struct vk_ui_app ui;
    const char *registered; /* the client's registered resources ("" once it was removed) */
    size_t cap_scopes, cap_auds;
};

/* The row of client_id, or a new one (registered resources looked up once per client). */
static int app_row_for(struct vk_app *app, const struct vk_request *rq, struct app_row **rows,
                       size_t *n, size_t *cap, const char *client_id, const char *name,
                       struct app_row **out)
{
    struct vk_client c;
    for (size_t i = 0; i < *n; i++) {
        if (strcmp((*rows)[i].ui.client_id, client_id) == 0) {
            *out = &(*rows)[i];
            return VK_OK;
        }
    }
    struct app_row *nr = vk_arena_grow(rq->arena, *rows, *n, cap, sizeof *nr);
    if (nr == NULL)
        return VK_ENOMEM;
    *rows = nr;
    struct app_row *r = &nr[(*n)++];
    memset(r, 0, sizeof *r);
    r->ui.client_id = client_id;
    r->ui.name = name;
    /* Every client is registered by an operator (`client add`) until dynamic registration
     * exists; that work must set self_registered from the client record. */
    r->ui.self_registered = false;
    r->registered = "";
    int rc = vk_client_cache_get(app->clients, rq->arena, vk_str_c(client_id), rq->now, false, &c);
    if (rc == VK_OK) {
        r->registered = c.resources;
        r->ui.name = c.name;
    } else if (rc != VK_ENOTFOUND) {
        return rc;
    }
    *out = r;
    return VK_OK;
}

/* The applications: one row per client with a live grant (the scopes and audiences of all its
 * grants, the first start, the latest use), the most recently authorized first; then one per
 * remembered approval without a live grant, so the user can take that back too. */
static int build_apps(struct vk_app *app, const struct vk_request *rq, const struct vk_user *user,
                      struct vk_ui_app **out, size_t *n_out)
{
    struct vk_user_grant_list gl;
    struct vk_consent_list cl;
    struct app_row *rows = NULL, *r;
    size_t n = 0, cap = 0;
    *out = NULL;
    *n_out = 0;
    int rc = vk_store_user_grants(app->st, rq->arena, user->id, rq->now, &gl);
    if (rc == VK_OK)
        rc = vk_store_consent_list(app->st, rq->arena, user->id, &cl);
    for (size_t i = 0; rc == VK_OK && i < gl.n; i++) {
        const struct vk_user_grant *g = &gl.v[i];
        rc = app_row_for(app, rq, &rows, &n, &cap, g->client_id, g->client_name, &r);
        if (rc != VK_OK)
            break;
        if (r->ui.authorized_at == 0 || g->created_at < r->ui.authorized_at)
            r->ui.authorized_at = g->created_at;
        if (g->last_used > r->ui.last_used)
            r->ui.last_used = g->last_used;
        const char **scopes = (const char **)r->ui.scopes, **auds = (const char **)r->ui.audiences;
        rc = add_words(rq->arena, &scopes, &r->ui.n_scopes, &r->cap_scopes, g->scope);
        r->ui.scopes = scopes;
        /* where its tokens go, as the consent page said: from the grant and the registration */
        const char **ga = NULL;
        size_t gn = 0;
        if (rc == VK_OK)
            rc = vk_oauth_grant_audiences(app, rq->arena, g->scope, g->resources, r->registered,
                                          &ga, &gn);
        for (size_t k = 0; rc == VK_OK && k < gn; k++)
            rc = add_unique(rq->arena, &auds, &r->ui.n_audiences, &r->cap_auds, ga[k]);
        r->ui.audiences = auds;
    }
    size_t with_grants = n;
    for (size_t i = 0; rc == VK_OK && i < cl.n; i++) {
        const struct vk_consent *k = &cl.v[i];
        rc = app_row_for(app, rq, &rows, &n, &cap, k->client_id, k->client_name, &r);
        if (rc != VK_OK || (size_t)(r - rows) < with_grants)
            continue; /* listed with its grants */
        r->ui.authorized_at = k->created_at;
        const char **scopes = NULL;
        rc = add_words(rq->arena, &scopes, &r->ui.n_scopes, &r->cap_scopes, k->scope);
        r->ui.scopes = scopes;
    }
    if (rc != VK_OK)
        return rc;
    struct vk_ui_app *v = vk_arena_alloc(rq->arena, (n + 1) * sizeof *v);
    if (v == NULL)
        return VK_ENOMEM;
    for (size_t i = 0; i < n; i++)
        v[i] = rows[i].ui;
    *out = v;
    *n_out = n;
    return VK_OK;
}

static int build_sessions(struct vk_app *app, const struct vk_request *rq,
                          const struct vk_user *user, const struct vk_session *current,
                          struct vk_ui_session **out, size_t *n_out)
{
    struct vk_session_list sl;
    *out = NULL;
    *n_out = 0;
    int rc = vk_store_session_list(app->st, rq->arena, user->id, rq->now, &sl);
    if (rc != VK_OK)
        return rc;
    struct vk_ui_session *v = vk_arena_alloc(rq->arena, (sl.n + 1) * sizeof *v);
    if (v == NULL)
        return VK_ENOMEM;
    for (size_t i = 0; i < sl.n; i++) {
        const struct vk_session *s = &sl.v[i];
        v[i] = (struct vk_ui_session){
            .handle = s->handle,
            .description = s->user_agent,
            .address = s->address,
            .signed_in = s->auth_time,
            .last_seen = s->last_seen,
            .current = vk_ct_eq_digest(s->digest, current->digest),
        };
    }
    *out = v;
    *n_out = sl.n;
    return VK_OK;
}

static bool reauth_fresh(const struct vk_app *app, const struct vk_request *rq,
                         const struct vk_session *se)
{
    return rq->now - se->auth_time <= app->cfg->account_reauth_max_age;
}

static int render(struct vk_app *app, const struct vk_request *rq, struct vk_response *rs,
                  int status, const struct vk_user *user, const struct vk_session *se,
                  const char *notice, const char *error)
{
    vk_str binding;
    char csrf[44], purpose[128];
    struct vk_ui_account acct = {0};
    int rc = vk_oauth_csrf_binding(app, rq, rs, &binding);
    if (rc != VK_OK)
        return rc;
    csrf_purpose(purpose, sizeof purpose, se);
    vk_oauth_csrf_token(app, purpose, binding, csrf);
    struct vk_ui_app *apps;
    struct vk_ui_session *sessions;
    rc = build_apps(app, rq, user, &apps, &acct.n_apps);
    if (rc == VK_OK)
        rc = build_sessions(app, rq, user, se, &sessions, &acct.n_sessions);
    if (rc != VK_OK)
        return rc;
    acct.username = user->username;
    acct.csrf = csrf;
    acct.notice = notice;
    acct.error = error;
    acct.apps = apps;
    acct.sessions = sessions;
    acct.can_change_password = reauth_fresh(app, rq, se);
    acct.reauth_url = REAUTH_URL;
    struct vk_buf b;
    vk_buf_init(&b, 1024 * 1024);
    rc = vk_ui_account(&b, VK_UI_ACCOUNT_PATH, &acct);
    if (rc == VK_OK)
        rc = vk_oauth_html(rq, rs, status, &b, NULL);
    vk_buf_clear(&b);
    return rc;
}

/* After a successful action: back to the page (303: POST/redirect/GET), saying what was done. */
static int done(const struct vk_request *rq, struct vk_response *rs, const char *key)
{
    char *loc = vk_arena_printf(rq->arena, "%s?done=%s", VK_UI_ACCOUNT_PATH, key);
    return loc != NULL ? vk_oauth_redirect(rq, rs, loc) : VK_ENOMEM;
}

/* --- actions -------------------------------------------------------------------------------- */

static int remove_access(struct vk_app *app, const struct vk_request *rq, struct vk_response *rs,
                         const struct vk_params *ps, const struct vk_user *user,
                         const struct vk_session *se)
{
    vk_str client;
    char esc[VK_MAX_ID_LEN * 4 + 8];
    int n = 0;
    if (vk_params_get(ps, "client", &client) != 1 || !vk_client_id_syntax_ok(client))
        return render(app, rq, rs, 400, user, se, NULL, "No application was named.");
    char *id = vk_arena_strdup(rq->arena, client);
    if (id == NULL)
        return VK_ENOMEM;
    /* The user id comes from the session, never from the form: another user's grants are out of
     * reach whatever id is posted. */
    int rc = vk_store_user_client_revoke(app->st, user->id, id, rq->now, &n);
    if (rc == VK_ENOTFOUND)
        return render(app, rq, rs, 404, user, se, NULL,
                      "That application has no access to your account.");
    if (rc != VK_OK)
        return rc;
    vk_log_info("event=account.access_removed user_id=%s client=%s grants=%d", user->id,
                vk_log_escape(client, esc, sizeof esc), n);
    rs->log_client = id;
    return done(rq, rs, "removed");
}

static int sign_out(struct vk_app *app, const struct vk_request *rq, struct vk_response *rs,
                    const struct vk_params *ps, const struct vk_user *user,
                    const struct vk_session *se)
{
    vk_str handle;
    if (vk_params_get(ps, "session", &handle) != 1 || handle.len > 64 ||
        !vk_str_is_visible_ascii(handle, false))
        return render(app, rq, rs, 400, user, se, NULL, "No session was named.");
    char *h = vk_arena_strdup(rq->arena, handle);
    if (h == NULL)
        return VK_ENOMEM;
    int rc = vk_store_session_end(app->st, user->id, h);
    if (rc == VK_ENOTFOUND)
        return render(app, rq, rs, 404, user, se, NULL, "That session has already ended.");
    if (rc != VK_OK)
        return rc;
    vk_oauth_session_ended(app, user->id, h, "account_signout");
    return done(rq, rs, "signed_out");
}

static int sign_out_others(struct vk_app *app, const struct vk_request *rq,
                           struct vk_response *rs, const struct vk_user *user,
                           const struct vk_session *se)
{
    struct vk_handle_list ended;
    int rc = vk_store_session_end_others(app->st, rq->arena, user->id, se->digest, &ended);
    if (rc != VK_OK)
        return rc;
    for (size_t i = 0; i < ended.n; i++)
        vk_oauth_session_ended(app, user->id, ended.v[i], "account_signout_others");
    return done(rq, rs, "signed_out_others");
}

/* A password change on its way to the pool: the current password's check (under the login
 * limits) and the new one. Lives in the request arena. */
struct pw_change {
    struct vk_user user;
    struct vk_session se;
    struct vk_signin si;
    struct vk_secret next;
};

static int password_checked(void *appv, const struct vk_request *rq, struct vk_response *rs,
                            void *arg)
{
    struct vk_app *app = appv;
    struct pw_change *pc = arg;
    struct vk_handle_list ended;
    struct vk_session fresh;
    char hash[VK_PASSWORD_HASH_MAX];
    const char *msg;
    bool ok;
    int64_t wait = vk_signin_wait(app, rq, &pc->si);
    if (wait > 0) {
        int rc = vk_signin_too_many(rq, rs, wait, &msg);
        return rc != VK_OK ? rc : render(app, rq, rs, 429, &pc->user, &pc->se, NULL, msg);
    }
    int rc = vk_signin_verify(app, rq, rs, &pc->si, "password_change", false, &ok);
    if (rc != VK_OK)
        return rc;
    if (!ok || !pc->si.known || strcmp(pc->si.user.id, pc->user.id) != 0)
        return render(app, rq, rs, 400, &pc->user, &pc->se, NULL,
                      "The current password is not right. Nothing was changed.");
    rc = vk_password_hash(pc->next, hash, sizeof hash);
    /* Only if the hash just verified is still the stored one: a concurrent change wins. */
    if (rc == VK_OK)
        rc = vk_store_user_change_password(app->st, rq->arena, pc->user.id,
                                           pc->si.user.password_hash, hash, pc->se.digest,
                                           rq->now, &ended);
    vk_wipe(hash, sizeof hash);
    if (rc == VK_EEXIST)
        return vk_oauth_html_error(rq, rs, 409, "Password not changed",
                                   "Your password was changed elsewhere in the meantime. Sign in "
                                   "again with the new one.");
    if (rc != VK_OK)
        return rc;
    for (size_t i = 0; i < ended.n; i++)
        vk_oauth_session_ended(app, pc->user.id, ended.v[i], "password_change");
    vk_log_info("event=account.password_changed user_id=%s sessions_ended=%zu", pc->user.id,
                ended.n);
    /* This browser stays signed in, under a new session id (it just proved the password). */
    rc = vk_oauth_session_start(app, rq, rs, &pc->user, &fresh);
    if (rc != VK_OK)
        return rc;
    return done(rq, rs, "password");
}

static int password_deferred(void *app, const struct vk_request *rq, struct vk_response *rs,
                             void *arg)
{
    return unavailable(rq, rs, password_checked(app, rq, rs, arg));
}

static int change_password(struct vk_app *app, const struct vk_request *rq,
                           struct vk_response *rs, const struct vk_params *ps,
                           const struct vk_user *user, const struct vk_session *se)
{
    vk_str current, next, again;
    const char *msg;
    /* OIDC Core §3.1.2.1 max_age, applied to this form: the password must have been typed
     * recently, not only the session cookie held. */
    if (!reauth_fresh(app, rq, se))
        return render(app, rq, rs, 403, user, se, NULL,
                      "Sign in again before changing your password. Nothing was changed.");
    vk_params_get(ps, "current_password", &current);
    vk_params_get(ps, "new_password", &next);
    vk_params_get(ps, "new_password2", &again);
    if (current.len == 0)
        return render(app, rq, rs, 400, user, se, NULL,
                      "Enter your current password. Nothing was changed.");
    switch (vk_password_check_new((struct vk_secret){next.p, next.len})) {
    case VK_PASSWORD_OK:
        break;
    case VK_PASSWORD_EMPTY:
        return render(app, rq, rs, 400, user, se, NULL, "Enter a new password.");
    case VK_PASSWORD_TOO_SHORT:
        msg = vk_arena_printf(rq->arena, "The new password must be at least %d characters long.",
                              VK_PASSWORD_MIN_LEN);
        return msg != NULL ? render(app, rq, rs, 400, user, se, NULL, msg) : VK_ENOMEM;
    case VK_PASSWORD_TOO_LONG:
        msg = vk_arena_printf(rq->arena, "The new password must be at most %d bytes long.",
                              VK_PASSWORD_MAX_LEN);
        return msg != NULL ? render(app, rq, rs, 400, user, se, NULL, msg) : VK_ENOMEM;
    case VK_PASSWORD_HAS_NUL:
        return render(app, rq, rs, 400, user, se, NULL,
                      "The new password must not contain a NUL character.");
    }
    if (!vk_ct_eq_secret((struct vk_secret){next.p, next.len},
                         (struct vk_secret){again.p, again.len}))
        return render(app, rq, rs, 400, user, se, NULL,
                      "The two new passwords are not the same. Nothing was changed.");
    struct pw_change *pc = vk_arena_alloc(rq->arena, sizeof *pc);
    if (pc == NULL)
        return VK_ENOMEM;
    pc->user = *user;
    pc->se = *se;
    pc->next = (struct vk_secret){next.p, next.len};
    /* The current password is a password guess like any other: the login limits apply. */
    int rc = vk_signin_prepare(app, rq, vk_str_c(user->username),
                               (struct vk_secret){current.p, current.len}, &pc->si);
    if (rc != VK_OK)
        return rc;
    int64_t wait = vk_signin_wait(app, rq, &pc->si);
    if (wait > 0) {
        rc = vk_signin_too_many(rq, rs, wait, &msg);
        return rc != VK_OK ? rc : render(app, rq, rs, 429, user, se, NULL, msg);
    }
    /* Two Argon2id runs (the check and the new hash): on the deferred-work pool, never on an
     * HTTP worker thread; a full pool gets a 503 at once. */
    rc = vk_response_header(rs, rq->arena, "Retry-After", "2");
    if (rc == VK_OK)
        rc = vk_oauth_html_error(rq, rs, 503, "The server is busy",
                                 "Nothing was changed. Try again in a few seconds.");
    if (rc != VK_OK)
        return rc;
    vk_response_defer(rs, password_deferred, pc);
    return VK_OK;
}

/* --- GET/POST /account ---------------------------------------------------------------------- */

static int account_get(struct vk_app *app, const struct vk_request *rq, struct vk_response *rs)
{
    struct vk_params ps = {0};
    struct vk_session se;
    struct vk_user user;
    vk_str v;
    /* The query only picks a fixed sentence or the sign-in page: a malformed one is ignored. */
    if (vk_form_parse(rq->arena, rq->raw_query, &ps) != VK_OK)
        ps = (struct vk_params){0};
    int rc = vk_oauth_session(app, rq, &se, &user);
    if (rc == VK_ENOTFOUND)
        return login_page(app, rq, rs, 200, NULL, VK_STR_NULL);
    if (rc != VK_OK)
        return rc;
    /* "sign in again": the same login page, even with a session (like prompt=login). */
    if (vk_params_get(&ps, "signin", &v) > 0)
        return login_page(app, rq, rs, 200, NULL, vk_str_c(user.username));
    const char *notice = NULL;
    if (vk_params_get(&ps, "done", &v) == 1) {
        for (size_t i = 0; i < sizeof notices / sizeof notices[0]; i++) {
            if (vk_str_eq_lit(v, notices[i].key))
                notice = notices[i].text;
        }
    }
    return render(app, rq, rs, 200, &user, &se, notice, NULL);
}

static int account(struct vk_app *app, const struct vk_request *rq, struct vk_response *rs)
{
    struct vk_params ps;
    struct vk_oauth_err oe = {0};
    struct vk_session se;
    struct vk_user user;
    char purpose[128];
    vk_str op;
    if (rq->method != VK_METHOD_POST)
        return account_get(app, rq, rs);
    int rc = vk_oauth_read_form(rq, NULL, &ps, &oe);
    if (rc == VK_EOAUTH)
        return vk_oauth_html_error(rq, rs, 400, "Nothing was changed", "The form is malformed.");
    if (rc != VK_OK)
        return rc;
    /* The session first: without one there is nobody to act for. */
    rc = vk_oauth_session(app, rq, &se, &user);
    if (rc == VK_ENOTFOUND)
        return login_page(app, rq, rs, 403, "Your session has ended. Sign in again.",
                          VK_STR_NULL);
    if (rc != VK_OK)
        return rc;
    /* Then the form: it must come from this page, shown to this browser in this session. */
    csrf_purpose(purpose, sizeof purpose, &se);
    if (!vk_oauth_csrf_ok(app, rq, &ps, purpose))
        return vk_oauth_html_error(rq, rs, 403, "Nothing was changed",
                                   "The form has expired or did not come from this site. Open "
                                   "your account page again and retry.");
    if (vk_params_get(&ps, "op", &op) != 1)
        return render(app, rq, rs, 400, &user, &se, NULL, "The form is malformed.");
    if (vk_str_eq_lit(op, "remove"))
        return remove_access(app, rq, rs, &ps, &user, &se);
    if (vk_str_eq_lit(op, "signout"))
        return sign_out(app, rq, rs, &ps, &user, &se);
    if (vk_str_eq_lit(op, "signout_others"))
        return sign_out_others(app, rq, rs, &user, &se);
    if (vk_str_eq_lit(op, "password"))
        return change_password(app, rq, rs, &ps, &user, &se);
    return render(app, rq, rs, 400, &user, &se, NULL, "The form is malformed.");
}

int vk_ep_account(void *app, const struct vk_request *rq, struct vk_response *rs)
{
    return unavailable(rq, rs, account(app, rq, rs));
}
