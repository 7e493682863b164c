/* GET/POST /userinfo (OpenID Connect Core §5.3): claims about the signed-in user, by scope. The
 * access token comes in the Authorization header (RFC 6750 §2.1) or, for POST, the form body
 * (§2.2); never from the query string (RFC 9700 §4.3.2). */
#include "oauth/app.h"

#include <stdlib.h>
#include <string.h>

#include "grant/grant.h"
#include "http/headers.h"

static int bearer_error(const struct vk_request *rq, struct vk_response *rs, int status,
                        const char *error, const char *desc)
{
    char *h = vk_arena_printf(rq->arena, "Bearer realm=\"valetkey\", error=\"%s\", "
                                         "error_description=\"%s\"",
                              error, desc);
    int rc = vk_response_oauth_error(rs, rq->arena, status, error, desc);
    if (rc == VK_OK)
        rc = h != NULL ? vk_response_header(rs, rq->arena, "WWW-Authenticate", h) : VK_ENOMEM;
    return rc;
}

static const char *const profile_claims[] = {
    "name",    "given_name", "family_name", "middle_name", "nickname", "preferred_username",
    "profile", "picture",    "website",     "gender",      "birthdate", "zoneinfo",
    "locale",  "updated_at", NULL};
static const char *const email_claims[] = {"email", "email_verified", NULL};
static const char *const phone_claims[] = {"phone_number", "phone_number_verified", NULL};

static void copy_claims(json_t *dst, json_t *src, const char *const *names)
{
    for (; *names != NULL; names++) {
        json_t *v = json_object_get(src, *names);
        if (v != NULL)
            json_object_set(dst, *names, v);
    }
}

int vk_ep_userinfo(void *appv, const struct vk_request *rq, struct vk_response *rs)
{
    struct vk_app *app = appv;
    struct vk_jws jws = {0};
    struct vk_user user;
    vk_str authz, token = VK_STR_NULL;
    int rc;
    if (vk_request_header(rq, "authorization", &authz)) {
        if (vk_http_bearer_parse(authz, &token) != VK_OK)
            return bearer_error(rq, rs, 400, "invalid_request",
                                "use the Bearer scheme in the Authorization header");
    } else if (rq->method == VK_METHOD_POST) {
        struct vk_params ps;
        struct vk_oauth_err oe = {0};
        rc = vk_oauth_read_form(rq, NULL, &ps, &oe);
        if (rc == VK_EOAUTH)
            return bearer_error(rq, rs, 400, "invalid_request", oe.description);
        if (rc != VK_OK)
            return rc;
        vk_params_get(&ps, "access_token", &token);
    }
    if (token.len == 0) {
        /* RFC 6750 §3.1: no error code when the request had no credentials at all. */
        rc = vk_response_header(rs, rq->arena, "WWW-Authenticate", "Bearer realm=\"valetkey\"");
        if (rc == VK_OK)
            rc = vk_response_json(rs, rq->arena, 401, "", 0);
        return rc;
    }
    if (vk_oauth_verify_access(app, rq, token, &jws) != VK_OK)
        return bearer_error(rq, rs, 401, "invalid_token", "the access token is not valid");
    json_t *jti = json_object_get(jws.payload, "jti");
    json_t *sub = json_object_get(jws.payload, "sub");
    json_t *scope = json_object_get(jws.payload, "scope");
    bool revoked = true;
    rc = VK_OK;
    if (json_is_string(jti))
        rc = vk_store_token_is_revoked(app->st, json_string_value(jti), &revoked);
    if (rc != VK_OK)
        goto out;
    if (revoked || !json_is_string(sub)) {
        rc = bearer_error(rq, rs, 401, "invalid_token", "the access token is not valid");
        goto out;
    }
    /* RFC 8705 §3: a certificate-bound token is good only on a connection that presents that
     * certificate. A confirmation method we cannot check counts as a mismatch. */
    json_t *cnf = json_object_get(jws.payload, "cnf");
    if (cnf != NULL) {
        struct vk_client_cert cert;
        struct vk_oauth_err oe = {0};
        char x5t[VK_X5T_LEN + 1] = "";
        json_t *want = json_object_get(cnf, "x5t#S256");
        rc = vk_oauth_client_cert(app, rq, &cert, &oe);
        if (rc == VK_EOAUTH) {
            rc = bearer_error(rq, rs, 400, "invalid_request", oe.description);
            goto out;
        }
        if (rc != VK_OK)
            goto out;
        if (cert.der.len > 0)
            vk_x509_thumbprint(cert.der, x5t);
        if (!json_is_string(want) || json_object_size(cnf) != 1 ||
            strcmp(json_string_value(want), x5t) != 0) {
            rc = bearer_error(rq, rs, 401, "invalid_token",
                              "the access token is bound to a TLS client certificate that was not "
                              "presented");
            goto out;
        }
    }
    /* checklist #56: only tokens meant for this server (aud names the issuer). */
    json_t *aud = json_object_get(jws.payload, "aud");
    bool for_us = json_is_string(aud) && strcmp(json_string_value(aud), app->issuer) == 0;
    for (size_t i = 0; json_is_array(aud) && !for_us && i < json_array_size(aud); i++) {
        json_t *a = json_array_get(aud, i);
        for_us = json_is_string(a) && strcmp(json_string_value(a), app->issuer) == 0;
    }
    if (!for_us) {
        rc = bearer_error(rq, rs, 401, "invalid_token", "the access token is not for this server");
        goto out;
    }
    const char *sc = json_is_string(scope) ? json_string_value(scope) : "";
    if (!vk_scope_list_contains(vk_str_c(sc), VK_STR("openid"))) {
        rc = bearer_error(rq, rs, 403, "insufficient_scope", "the token lacks the openid scope");
        goto out;
    }
    rc = vk_store_user_get(app->st, rq->arena, vk_str_c(json_string_value(sub)), &user);
    if (rc == VK_ENOTFOUND) {
        rc = bearer_error(rq, rs, 401, "invalid_token", "the user no longer exists");
        goto out;
    }
    if (rc != VK_OK)
        goto out;
    json_error_t jerr;
    json_t *claims = json_loads(user.claims, JSON_REJECT_DUPLICATES, &jerr);
    json_t *resp = json_object();
    if (resp == NULL) {
        json_decref(claims);
        rc = VK_ENOMEM;
        goto out;
    }
    json_object_set_new(resp, "sub", json_string(user.id));
    if (json_is_object(claims)) {
        if (vk_scope_list_contains(vk_str_c(sc), VK_STR("profile"))) {
            copy_claims(resp, claims, profile_claims);
            json_object_set_new(resp, "preferred_username", json_string(user.username));
        }
        if (vk_scope_list_contains(vk_str_c(sc), VK_STR("email")))
            copy_claims(resp, claims, email_claims);
        if (vk_scope_list_contains(vk_str_c(sc), VK_STR("phone")))
            copy_claims(resp, claims, phone_claims);
    }
    json_decref(claims);
    char *s = json_dumps(resp, JSON_COMPACT);
    json_decref(resp);
    char *body = s != NULL ? vk_arena_strdup(rq->arena, vk_str_c(s)) : NULL;
    free(s);
    rc = body != NULL ? vk_response_json(rs, rq->arena, 200, body, strlen(body)) : VK_ENOMEM;
    rs->log_client = json_is_string(json_object_get(jws.payload, "client_id"))
                         ? vk_arena_strdup(rq->arena, vk_str_c(json_string_value(
                                                          json_object_get(jws.payload, "client_id"))))
                         : NULL;
out:
    vk_jws_clear(&jws);
    return rc;
}
