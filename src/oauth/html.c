/* Shared pieces of the browser-facing endpoints: HTML responses with their security headers,
 * and the login session lookup. */
#include "oauth/app.h"

#include <string.h>

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
    int rc = app->st->ops->session_get(app->st, rq->arena, d, rq->now, se);
    if (rc != VK_OK)
        return rc;
    rc = app->st->ops->user_get(app->st, rq->arena, vk_str_c(se->user_id), user);
    if (rc != VK_OK)
        memset(se, 0, sizeof *se);
    return rc;
}
