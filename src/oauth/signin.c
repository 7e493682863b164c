/* Signing in with a password, shared by every form that checks one: the login form of an
 * authorization request and of the account page (POST /login), and the account page's password
 * change (the current password). One set of rules for all of them: the same limiter keys and
 * policies (docs/security.md, "Brute force"), the same work for unknown users, the same device
 * cookie; and one way to start a session. */
#include "oauth/app.h"

#include <inttypes.h>
#include <string.h>

#include "auth/device.h"
#include "auth/password.h"
#include "auth/session.h"
#include "base/log.h"
#include "http/cookie.h"
#include "ui/ui.h"

/* prefix + x + sep + y as a limiter key in arena memory (byte-exact: x may hold any byte). */
static int limiter_key(struct vk_arena *a, const char *prefix, vk_str x, const char *sep,
                       vk_str y, vk_str *out)
{
    size_t np = strlen(prefix), ns = strlen(sep), n = np + x.len + ns + y.len;
    char *k = vk_arena_alloc(a, n + 1);
    *out = VK_STR_NULL;
    if (k == NULL)
        return VK_ENOMEM;
    memcpy(k, prefix, np);
    if (x.len > 0)
        memcpy(k + np, x.p, x.len);
    memcpy(k + np + x.len, sep, ns);
    if (y.len > 0)
        memcpy(k + np + x.len + ns, y.p, y.len);
    k[n] = '\0';
    *out = (vk_str){k, n};
    return VK_OK;
}

static int64_t max64(int64_t a, int64_t b)
{
    return a > b ? a : b;
}

int vk_signin_prepare(struct vk_app *app, const struct vk_request *rq, vk_str username,
                      struct vk_secret pw, struct vk_signin *si)
{
    char netbuf[VK_ADDR_NET_LEN];
    vk_str cookie, user_id, dev_id;
    memset(si, 0, sizeof *si);
    si->username = username;
    si->pw = pw;
    int rc = vk_store_user_get_by_name(app->st, rq->arena, username, &si->user);
    if (rc != VK_OK && rc != VK_ENOTFOUND)
        return rc;
    si->known = rc == VK_OK;
    si->trusted = si->known && app->cfg->device_cookie_ttl > 0 &&
                  vk_cookie_get(rq, app->device_cookie, &cookie) &&
                  vk_device_cookie_check(app->device_key, cookie, rq->now,
                                         app->cfg->device_cookie_ttl, &user_id,
                                         &dev_id) == VK_OK &&
                  vk_str_eq(user_id, vk_str_c(si->user.id));
    vk_auth_addr_net(vk_oauth_peer(app, rq), netbuf, sizeof netbuf);
    vk_str net = vk_str_c(netbuf);
    rc = limiter_key(rq->arena, "u:", username, "", VK_STR_NULL, &si->account);
    if (rc == VK_OK)
        rc = limiter_key(rq->arena, "p:", username, "|", net, &si->pair);
    if (rc == VK_OK)
        rc = limiter_key(rq->arena, "a:", net, "", VK_STR_NULL, &si->net);
    if (rc == VK_OK && si->trusted)
        rc = limiter_key(rq->arena, "d:", dev_id, "", VK_STR_NULL, &si->device);
    return rc;
}

/* The policy (docs/security.md): a browser with a valid device cookie for this user is charged to
 * that cookie alone; any other browser to the account (a short delay), the account and network
 * (the lockout) and the network. Successful logins are limited per account and per network
 * whoever sends them. */
int64_t vk_signin_wait(struct vk_app *app, const struct vk_request *rq,
                       const struct vk_signin *si)
{
    const struct vk_login_limits *ll = &app->login_limits;
    int64_t w = max64(vk_auth_limiter_wait(ll->ok, si->account, rq->now),
                      vk_auth_limiter_wait(ll->ok_addr, si->net, rq->now));
    if (si->trusted)
        return max64(w, vk_auth_limiter_wait(ll->device, si->device, rq->now));
    w = max64(w, vk_auth_limiter_wait(ll->account, si->account, rq->now));
    w = max64(w, vk_auth_limiter_wait(ll->pair, si->pair, rq->now));
    return max64(w, vk_auth_limiter_wait(ll->addr, si->net, rq->now));
}

/* Charges a failed password. A key that cannot be recorded (its window full of entries that
 * are limiting) is never refused for it: the network is charged in full instead. */
static void signin_failed(struct vk_app *app, const struct vk_request *rq,
                          const struct vk_signin *si)
{
    const struct vk_login_limits *ll = &app->login_limits;
    bool recorded = true;
    if (si->trusted) {
        recorded = vk_auth_limiter_hit(ll->device, si->device, rq->now);
        if (!recorded)
            vk_auth_limiter_penalize(ll->addr, si->net, rq->now);
        return;
    }
    recorded &= vk_auth_limiter_hit(ll->account, si->account, rq->now);
    recorded &= vk_auth_limiter_hit(ll->pair, si->pair, rq->now);
    if (recorded)
        vk_auth_limiter_hit(ll->addr, si->net, rq->now);
    else
        vk_auth_limiter_penalize(ll->addr, si->net, rq->now);
}

/* After the right password: counts the success, forgets this browser's failures (never the
 * account's: the owner signing in must not hand a guesser elsewhere fresh attempts) and gives the
 * browser a fresh device cookie. */
static int signin_succeeded(struct vk_app *app, const struct vk_request *rq,
                            struct vk_response *rs, const struct vk_signin *si)
{
    const struct vk_login_limits *ll = &app->login_limits;
    vk_auth_limiter_hit(ll->ok, si->account, rq->now);
    vk_auth_limiter_hit(ll->ok_addr, si->net, rq->now);
    vk_auth_limiter_reset(ll->pair, si->pair);
    if (si->trusted)
        vk_auth_limiter_reset(ll->device, si->device);
    if (app->cfg->device_cookie_ttl <= 0)
        return VK_OK;
    char dc[VK_DEVICE_COOKIE_MAX];
    int rc = vk_device_cookie_make(app->device_key, si->user.id, rq->now, dc, sizeof dc);
    if (rc == VK_OK)
        rc = vk_cookie_set(rs, rq->arena, app->device_cookie, dc,
                           (long)app->cfg->device_cookie_ttl, app->cookie_secure);
    return rc;
}

int vk_signin_verify(struct vk_app *app, const struct vk_request *rq, struct vk_response *rs,
                     const struct vk_signin *si, const char *form, bool rehash, bool *ok)
{
    *ok = false;
    if (si->known && si->pw.len <= VK_PASSWORD_MAX_LEN)
        *ok = vk_password_verify(si->user.password_hash, si->pw);
    else /* unknown user or over-long password: the same work, so the time tells nothing */
        vk_password_dummy_verify(si->pw);
    if (!*ok) {
        signin_failed(app, rq, si);
        /* Never the typed username: people type passwords into that field. */
        vk_log_info("event=login.failed user_id=%s device=%s form=%s peer=%s",
                    si->known ? si->user.id : "-", si->trusted ? "trusted" : "-", form,
                    vk_oauth_peer(app, rq));
        return VK_OK;
    }
    int rc = signin_succeeded(app, rq, rs, si);
    if (rc != VK_OK)
        return rc;
    if (rehash && vk_password_needs_rehash(si->user.password_hash)) {
        /* The parameters were raised since this hash was made: store a stronger one. */
        char hash[VK_PASSWORD_HASH_MAX];
        if (vk_password_hash(si->pw, hash, sizeof hash) == VK_OK &&
            vk_store_user_upgrade_hash(app->st, si->user.id, si->user.password_hash, hash) ==
                VK_OK)
            vk_log_info("event=password.rehashed user_id=%s", si->user.id);
        vk_wipe(hash, sizeof hash);
    }
    return VK_OK;
}

int vk_signin_too_many(const struct vk_request *rq, struct vk_response *rs, int64_t wait,
                       const char **msg)
{
    char *m = vk_arena_printf(rq->arena,
                              "Too many sign-in attempts. Try again in %" PRId64 " seconds.",
                              wait);
    char *after = vk_arena_printf(rq->arena, "%" PRId64, wait);
    *msg = m;
    if (m == NULL || after == NULL)
        return VK_ENOMEM;
    return vk_response_header(rs, rq->arena, "Retry-After", after); /* RFC 6585 §4 */
}

int vk_oauth_session_start(struct vk_app *app, const struct vk_request *rq,
                           struct vk_response *rs, const struct vk_user *user,
                           struct vk_session *se)
{
    char value[80], handle[2 * 16 + 1], ua[VK_SESSION_UA_MAX], addr[VK_SESSION_ADDR_MAX];
    uint8_t hb[16];
    vk_str old, agent = VK_STR_NULL;
    memset(se, 0, sizeof *se);
    /* A new login replaces the browser's previous session (no fixation, no stale rows). */
    if (vk_cookie_get(rq, app->session_cookie, &old) && old.len <= 128) {
        uint8_t d[VK_DIGEST_LEN];
        vk_sha256(old.p, old.len, d);
        int rc = vk_store_session_delete(app->st, d);
        if (rc != VK_OK)
            return rc;
    }
    int rc = vk_secret_new(VK_PREFIX_SESSION, value, sizeof value, se->digest);
    if (rc == VK_OK)
        rc = vk_rand(hb, sizeof hb);
    if (rc != VK_OK)
        return rc;
    vk_hex(hb, sizeof hb, handle);
    vk_request_header(rq, "User-Agent", &agent);
    vk_session_ua_family(agent, ua, sizeof ua);
    vk_session_addr_coarse(vk_oauth_peer(app, rq), addr, sizeof addr);
    se->user_id = user->id;
    se->auth_time = rq->now;
    se->expires_at = rq->now + app->cfg->session_ttl;
    se->handle = vk_arena_strdup(rq->arena, vk_str_c(handle));
    se->user_agent = vk_arena_strdup(rq->arena, vk_str_c(ua));
    se->address = vk_arena_strdup(rq->arena, vk_str_c(addr));
    se->last_seen = rq->now;
    if (se->handle == NULL || se->user_agent == NULL || se->address == NULL)
        rc = VK_ENOMEM;
    if (rc == VK_OK)
        rc = vk_store_session_put(app->st, se);
    if (rc == VK_OK)
        rc = vk_cookie_set(rs, rq->arena, app->session_cookie, value, -1, app->cookie_secure);
    vk_wipe(value, sizeof value);
    return rc;
}

void vk_oauth_session_ended(struct vk_app *app, const char *user_id, const char *handle,
                            const char *reason)
{
    (void)app;
    /* The one place every user-visible end of a session passes (sign-out from /logout or the
     * account page, a password change): OpenID Connect Back-Channel Logout notifications to the
     * clients the session signed in to belong here once they are built. */
    vk_log_info("event=session.ended user_id=%s session=%s reason=%s", user_id,
                handle != NULL && handle[0] != '\0' ? handle : "-", reason);
}

int vk_oauth_login_page(struct vk_app *app, const struct vk_request *rq, struct vk_response *rs,
                        int status, const char *to, const char *error, vk_str username,
                        const struct vk_ui_field *hidden, size_t n_hidden,
                        const char *form_origin)
{
    vk_str binding;
    char csrf[44];
    int rc = vk_oauth_csrf_binding(app, rq, rs, &binding);
    if (rc != VK_OK)
        return rc;
    vk_oauth_csrf_token(app, "login", binding, csrf);
    struct vk_ui_field *f = vk_arena_alloc(rq->arena, (n_hidden + 1) * sizeof *f);
    char *copy = vk_arena_strdup(rq->arena, vk_str_c(csrf));
    char *uname = username.len > 0 ? vk_arena_strdup(rq->arena, username) : NULL;
    if (f == NULL || copy == NULL || (username.len > 0 && uname == NULL))
        return VK_ENOMEM;
    if (n_hidden > 0)
        memcpy(f, hidden, n_hidden * sizeof *f);
    f[n_hidden] = (struct vk_ui_field){"csrf", copy};
    struct vk_buf b;
    vk_buf_init(&b, 256 * 1024);
    rc = vk_ui_login(&b, "/login", to, uname, error, f, n_hidden + 1);
    if (rc == VK_OK)
        rc = vk_oauth_html(rq, rs, status, &b, form_origin);
    vk_buf_clear(&b);
    return rc;
}
