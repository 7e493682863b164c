/* Shared pieces of the browser-facing endpoints: HTML responses with their security headers,
 * and the login session lookup. */
#include "oauth/app.h"

#include <string.h>

#include "auth/session.h"
#include "base/b64url.h"
#include "http/cookie.h"
#include "ui/ui.h"

int vk_oauth_html(const struct vk_request *rq, struct vk_response *rs, int status,
                  const struct vk_buf *page, const char *form_origin)
{
    char *body = vk_arena_strdup(rq->arena, vk_buf_str(page));
    /* RFC 9700 §4.16 / checklist #47: no framing, by any origin. No scripts, no third-party
     * resources (#8). form-action must allow the redirect that follows a form post. */
    char *csp = vk_arena_printf(rq->arena,
                                "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; "
                                "form-action 'self'%s%s; frame-ancestors 'none'; base-uri 'none'",
                                form_origin ? " " : "", form_origin ? form_origin : "");
    if (body == NULL || csp == NULL)
        return VK_ENOMEM;
    int rc = vk_response_header(rs, rq->arena, "Content-Security-Policy", csp);
    if (rc == VK_OK)
        rc = vk_response_header(rs, rq->arena, "X-Frame-Options", "DENY");
    if (rc == VK_OK)
        rc = vk_response_header(rs, rq->arena, "Cache-Control", "no-store");
    if (rc == VK_OK)
        rc = vk_response_header(rs, rq->arena, "Pragma", "no-cache");
    if (rc == VK_OK)
        rc = vk_response_text(rs, rq->arena, status, "text/html; charset=utf-8", body,
                              page->len);
    return rc;
}

int vk_oauth_html_error(const struct vk_request *rq, struct vk_response *rs, int status,
                        const char *title, const char *message)
{
    struct vk_buf b;
    vk_buf_init(&b, 64 * 1024);
    int rc = vk_ui_error(&b, title, message);
    if (rc == VK_OK)
        rc = vk_oauth_html(rq, rs, status, &b, NULL);
    vk_buf_clear(&b);
    return rc;
}

int vk_oauth_session(struct vk_app *app, const struct vk_request *rq, struct vk_session *se,
                     struct vk_user *user)
{
    vk_str cookie;
    uint8_t d[VK_DIGEST_LEN];
    memset(se, 0, sizeof *se);
    memset(user, 0, sizeof *user);
    if (!vk_cookie_get(rq, app->session_cookie, &cookie) || cookie.len > 128)
        return VK_ENOTFOUND;
    vk_sha256(cookie.p, cookie.len, d);
    int rc = vk_store_session_get(app->st, rq->arena, d, rq->now, se);
    if (rc != VK_OK)
        return rc;
    rc = vk_store_user_get(app->st, rq->arena, vk_str_c(se->user_id), user);
    if (rc != VK_OK) {
        memset(se, 0, sizeof *se);
        return rc;
    }
    /* "Last seen" for the account page, written at most once per interval per session (the
     * store re-checks, so concurrent requests write once); a failure here costs only that. */
    if (rq->now - se->last_seen >= VK_SESSION_TOUCH_INTERVAL) {
        char addr[VK_SESSION_ADDR_MAX];
        vk_session_addr_coarse(vk_oauth_peer(app, rq), addr, sizeof addr);
        if (vk_store_session_touch(app->st, d, rq->now, addr, VK_SESSION_TOUCH_INTERVAL) == VK_OK) {
            se->last_seen = rq->now;
            se->address = vk_arena_strdup(rq->arena, vk_str_c(addr));
        }
    }
    return VK_OK;
}

/* --- CSRF ----------------------------------------------------------------------------------- */

/* token = base64url(HMAC(csrf_key, purpose "|" binding)), where binding is the value of a random
 * browser cookie: a form posted from elsewhere has neither the cookie's value nor the key. */
void vk_oauth_csrf_token(const struct vk_app *app, const char *purpose, vk_str binding,
                         char out[44])
{
    uint8_t mac[VK_DIGEST_LEN];
    char msg[256];
    size_t n = strlen(purpose);
    if (n + 1 + binding.len > sizeof msg)
        binding.len = sizeof msg - n - 1;
    memcpy(msg, purpose, n);
    msg[n] = '|';
    memcpy(msg + n + 1, binding.p, binding.len);
    vk_hmac_sha256(app->csrf_key, sizeof app->csrf_key, msg, n + 1 + binding.len, mac);
    vk_b64url_encode(mac, sizeof mac, out);
}

bool vk_oauth_csrf_ok(const struct vk_app *app, const struct vk_request *rq,
                      const struct vk_params *ps, const char *purpose)
{
    vk_str binding, presented;
    char want[44];
    if (!vk_cookie_get(rq, app->csrf_cookie, &binding) || binding.len > 128)
        return false;
    if (vk_params_get(ps, "csrf", &presented) != 1)
        return false;
    vk_oauth_csrf_token(app, purpose, binding, want);
    return vk_ct_eq_secret((struct vk_secret){presented.p, presented.len},
                           (struct vk_secret){want, strlen(want)});
}

/* The browser binding cookie: reused if present, else created (and set on the response). */
int vk_oauth_csrf_binding(struct vk_app *app, const struct vk_request *rq,
                          struct vk_response *rs, vk_str *binding)
{
    if (vk_cookie_get(rq, app->csrf_cookie, binding) && binding->len <= 128)
        return VK_OK;
    char v[64];
    int rc = vk_rand_token(NULL, 32, v, sizeof v);
    if (rc != VK_OK)
        return rc;
    char *copy = vk_arena_strdup(rq->arena, vk_str_c(v));
    if (copy == NULL)
        return VK_ENOMEM;
    *binding = vk_str_c(copy);
    return vk_cookie_set(rs, rq->arena, app->csrf_cookie, copy, -1, app->cookie_secure);
}

/* scheme://authority of a URI, for the CSP form-action allowance. */
char *vk_oauth_origin_of(struct vk_arena *a, vk_str uri)
{
    const char *p = memchr(uri.p, ':', uri.len);
    if (p == NULL)
        return NULL;
    size_t i = (size_t)(p - uri.p) + 1;
    if (i + 1 < uri.len && uri.p[i] == '/' && uri.p[i + 1] == '/') {
        i += 2;
        while (i < uri.len && uri.p[i] != '/' && uri.p[i] != '?' && uri.p[i] != '#')
            i++;
    }
    return vk_arena_strdup(a, (vk_str){uri.p, i});
}

int vk_oauth_redirect(const struct vk_request *rq, struct vk_response *rs, const char *location)
{
    int rc = vk_response_header(rs, rq->arena, "Location", location);
    if (rc == VK_OK)
        rc = vk_response_header(rs, rq->arena, "Cache-Control", "no-store");
    if (rc == VK_OK)
        rc = vk_response_text(rs, rq->arena, 303, NULL, "", 0);
    return rc;
}
