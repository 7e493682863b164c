/* GET/POST /logout: OpenID Connect RP-Initiated Logout 1.0. Ends the login session and, when the
 * client is known (client_id or id_token_hint) and the post_logout_redirect_uri is one it
 * registered (exact match), redirects there with `state`. Any other redirect target is refused:
 * the endpoint is not an open redirector (RFC 9700 §4.11, checklist #4). Without an id_token_hint
 * for the signed-in user, the user is asked first (RP-Initiated Logout §2), through a form with a
 * CSRF token, so a cross-site link cannot sign anyone out. */
#include "oauth/app.h"

#include <string.h>

#include "grant/grant.h"
#include "http/cookie.h"
#include "http/form.h"
#include "ui/ui.h"

/* The client named by an id_token_hint we issued (signature checked; expiry is not: a hint may
 * be old). */
static int client_from_hint(struct vk_app *app, const struct vk_request *rq, vk_str hint,
                            vk_str *client_id, vk_str *sub)
{
    struct vk_jws jws = {0};
    struct vk_err err = {{0}};
    struct vk_keyset *ks = vk_keyring_acquire(app->keys, rq->now);
    int rc = vk_jws_verify(ks->verify, hint, &jws, &err);
    vk_keyset_release(ks);
    if (rc != VK_OK)
        return VK_EINVAL;
    json_t *iss = json_object_get(jws.payload, "iss");
    json_t *aud = json_object_get(jws.payload, "aud");
    json_t *jsub = json_object_get(jws.payload, "sub");
    json_t *typ = json_object_get(jws.header, "typ");
    rc = VK_EINVAL;
    /* an id_token of ours (typ JWT), not an access token (at+jwt) */
    if (json_is_string(typ) && strcmp(json_string_value(typ), "JWT") == 0 &&
        json_is_string(iss) && strcmp(json_string_value(iss), app->issuer) == 0 &&
        json_is_string(aud) && json_is_string(jsub)) {
        char *c = vk_arena_strdup(rq->arena, vk_str_c(json_string_value(aud)));
        char *u = vk_arena_strdup(rq->arena, vk_str_c(json_string_value(jsub)));
        if (c != NULL && u != NULL) {
            *client_id = vk_str_c(c);
            *sub = vk_str_c(u);
            rc = VK_OK;
        }
    }
    vk_jws_clear(&jws);
    return rc;
}

/* The confirmation page: the same parameters in hidden fields, a CSRF token, one button. */
static int ask(struct vk_app *app, const struct vk_request *rq, struct vk_response *rs,
               vk_str client_id, vk_str target, vk_str state)
{
    vk_str binding;
    char csrf[44];
    int rc = vk_oauth_csrf_binding(app, rq, rs, &binding);
    if (rc != VK_OK)
        return rc;
    vk_oauth_csrf_token(app, "logout", binding, csrf);
    struct vk_ui_field f[4];
    size_t n = 0;
    f[n++] = (struct vk_ui_field){"csrf", vk_arena_strdup(rq->arena, vk_str_c(csrf))};
    if (client_id.len > 0)
        f[n++] = (struct vk_ui_field){"client_id", vk_arena_strdup(rq->arena, client_id)};
    if (target.len > 0)
        f[n++] = (struct vk_ui_field){"post_logout_redirect_uri",
                                      vk_arena_strdup(rq->arena, target)};
    if (state.len > 0)
        f[n++] = (struct vk_ui_field){"state", vk_arena_strdup(rq->arena, state)};
    for (size_t i = 0; i < n; i++)
        if (f[i].value == NULL)
            return VK_ENOMEM;
    struct vk_buf b;
    vk_buf_init(&b, 64 * 1024);
    rc = vk_ui_confirm(&b, "/logout", "Sign out?", "Do you want to sign out?", "Sign out", f, n);
    if (rc == VK_OK)
        rc = vk_oauth_html(rq, rs, 200, &b,
                           target.len > 0 ? vk_oauth_origin_of(rq->arena, target) : NULL);
    vk_buf_clear(&b);
    return rc;
}

int vk_ep_logout(void *appv, const struct vk_request *rq, struct vk_response *rs)
{
    struct vk_app *app = appv;
    struct vk_params ps;
    struct vk_oauth_err oe = {0};
    vk_str client_id, hint, target, state, cookie, sub = VK_STR_NULL, confirm;
    int rc;
    if (rq->method == VK_METHOD_POST) {
        rc = vk_oauth_read_form(rq, NULL, &ps, &oe);
    } else {
        rc = vk_form_parse(rq->arena, rq->raw_query, &ps);
        if (rc == VK_EINVAL || rc == VK_ETOOBIG)
            rc = VK_EOAUTH;
    }
    if (rc == VK_EOAUTH)
        return vk_oauth_html_error(rq, rs, 400, "Sign-out failed", "The request is malformed.");
    if (rc != VK_OK)
        return rc;
    vk_params_get(&ps, "client_id", &client_id);
    vk_params_get(&ps, "post_logout_redirect_uri", &target);
    vk_params_get(&ps, "state", &state);
    if (vk_params_get(&ps, "id_token_hint", &hint) > 0) {
        vk_str from_hint;
        if (client_from_hint(app, rq, hint, &from_hint, &sub) != VK_OK)
            return vk_oauth_html_error(rq, rs, 400, "Sign-out failed",
                                       "The id_token_hint is not a token from this server.");
        if (client_id.len > 0 && !vk_str_eq(client_id, from_hint))
            return vk_oauth_html_error(rq, rs, 400, "Sign-out failed",
                                       "client_id does not match the id_token_hint.");
        client_id = from_hint;
    }
    /* Validate the redirect before changing anything. */
    if (target.len > 0) {
        struct vk_client c;
        rc = client_id.len > 0 ? vk_client_cache_get(app->clients, rq->arena, client_id, rq->now,
                                                      false, &c)
                               : VK_ENOTFOUND;
        if (rc != VK_OK && rc != VK_ENOTFOUND)
            return rc;
        if (rc == VK_ENOTFOUND ||
            !vk_redirect_uri_match(vk_str_c(c.post_logout_redirect_uris), target))
            return vk_oauth_html_error(rq, rs, 400, "Sign-out failed",
                                       "The address to return to is not registered for this "
                                       "application.");
        rs->log_client = c.id;
    }
    struct vk_session se;
    struct vk_user user;
    rc = vk_oauth_session(app, rq, &se, &user);
    if (rc != VK_OK && rc != VK_ENOTFOUND)
        return rc;
    if (rc == VK_OK) {
        bool hinted = sub.len > 0 && vk_str_eq_lit(sub, user.id);
        bool confirmed = rq->method == VK_METHOD_POST &&
                         vk_params_get(&ps, "confirm", &confirm) == 1 &&
                         vk_str_eq_lit(confirm, "yes") && vk_oauth_csrf_ok(app, rq, &ps, "logout");
        if (!hinted && !confirmed)
            return ask(app, rq, rs, client_id, target, state);
    }
    bool had_session = rc == VK_OK;
    if (vk_cookie_get(rq, app->session_cookie, &cookie) && cookie.len <= 128) {
        uint8_t d[VK_DIGEST_LEN];
        vk_sha256(cookie.p, cookie.len, d);
        rc = vk_store_session_delete(app->st, d);
        if (rc != VK_OK)
            return rc;
        if (had_session)
            vk_oauth_session_ended(app, user.id, se.handle, "logout");
    }
    rc = vk_cookie_set(rs, rq->arena, app->session_cookie, "", 0, app->cookie_secure);
    if (rc != VK_OK)
        return rc;
    if (target.len > 0) {
        char *loc = state.len > 0
                        ? vk_arena_printf(rq->arena, "%.*s%cstate=%s", (int)target.len, target.p,
                                          memchr(target.p, '?', target.len) ? '&' : '?',
                                          vk_form_encode(rq->arena, state))
                        : vk_arena_strdup(rq->arena, target);
        if (loc == NULL)
            return VK_ENOMEM;
        return vk_oauth_redirect(rq, rs, loc);
    }
    struct vk_buf b;
    vk_buf_init(&b, 64 * 1024);
    rc = vk_ui_message(&b, "You are signed out", "You can close this window.");
    if (rc == VK_OK)
        rc = vk_oauth_html(rq, rs, 200, &b, NULL);
    vk_buf_clear(&b);
    return rc;
}
