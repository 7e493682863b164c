/* POST /introspect (RFC 7662). Only authenticated confidential clients may call it, and each
 * learns only about the tokens it may know of (RFC 7662 §4, grant/introspect.c): a refresh token
 * only its own client; an access token its client, the clients it names in `aud` (by client id
 * or registered resource), and clients registered as resource servers (`client add
 * --introspect`). The answer for anything else, and for anything that is not a valid, unexpired,
 * unrevoked token of this issuer, is exactly {"active":false}: a caller cannot tell a token it may
 * not see from one that does not exist. */
#include "oauth/app.h"

#include <stdlib.h>
#include <string.h>

#include "base/limits.h"
#include "base/log.h"
#include "grant/grant.h"
#include "verify/verify.h"

static const char inactive[] = "{\"active\":false}";

/* Verifies one of our access tokens with the check libvaletkey makes (verify/access.c):
 * signature by a published key, typ at+jwt, our issuer, exp/nbf/iat with no leeway (the server
 * is its own clock). VK_OK, VK_EEXPIRED (expired or not yet valid), VK_ENOMEM or VK_EINVAL. */
int vk_oauth_verify_access(struct vk_app *app, const struct vk_request *rq, vk_str token,
                           struct vk_jws *out)
{
    struct vk_err err = {{0}};
    struct vk_keyset *ks = vk_keyring_acquire(app->keys, rq->now);
    int rc = vk_verify_access(ks->verify, token, rq->now, 0, app->issuer, VK_ALG_MASK_ALL, out,
                              &err);
    vk_keyset_release(ks);
    out->key = NULL; /* borrowed from a keyset we no longer hold */
    switch (rc) {
    case VALETKEY_OK:
        return VK_OK;
    case VALETKEY_TOKEN_EXPIRED:
    case VALETKEY_TOKEN_NOT_YET_VALID:
        return VK_EEXPIRED;
    case VALETKEY_ENOMEM:
        return VK_ENOMEM;
    default:
        return VK_EINVAL;
    }
}

/* A refresh token is active while it is unused, unexpired and its grant is live. */
static int introspect_refresh(struct vk_app *app, const struct vk_request *rq,
                              struct vk_response *rs, const struct vk_client *caller,
                              vk_str token)
{
    struct vk_refresh rt;
    struct vk_grant g;
    uint8_t digest[VK_DIGEST_LEN];
    vk_secret_digest((struct vk_secret){token.p, token.len}, digest);
    int rc = vk_store_refresh_get(app->st, rq->arena, digest, &rt);
    if (rc == VK_OK)
        rc = vk_store_grant_get(app->st, rq->arena, rt.grant_id, &g);
    struct vk_client owner;
    if (rc == VK_OK && rt.used_at == 0 && g.revoked_at == 0 && rq->now < rt.expires_at &&
        rq->now < g.expires_at && vk_introspect_refresh_allowed(caller, vk_str_c(g.client_id))) {
        /* a removed client's refresh tokens are dead too */
        rc = vk_client_cache_get(app->clients, rq->arena, vk_str_c(g.client_id), rq->now, false,
                                 &owner);
        if (rc == VK_OK)
            goto active;
    } else if (rc == VK_OK) {
        rc = VK_ENOTFOUND;
    }
    if (rc == VK_ENOTFOUND)
        return vk_response_json(rs, rq->arena, 200, inactive, sizeof inactive - 1);
    return rc;
active:;
    json_t *resp = json_object();
    if (resp == NULL)
        return VK_ENOMEM;
    json_object_set_new(resp, "active", json_true());
    json_object_set_new(resp, "scope", json_string(g.scope));
    json_object_set_new(resp, "client_id", json_string(g.client_id));
    json_object_set_new(resp, "sub", json_string(g.user_id));
    json_object_set_new(resp, "iss", json_string(app->issuer));
    json_object_set_new(resp, "exp", json_integer(rt.expires_at));
    json_object_set_new(resp, "iat", json_integer(rt.created_at));
    json_object_set_new(resp, "token_type", json_string("refresh_token"));
    /* RFC 8705 §3.2: the certificate a public client's refresh tokens are bound to. */
    if (g.cnf_x5t != NULL && g.cnf_x5t[0] != '\0')
        json_object_set_new(resp, "cnf", json_pack("{s:s}", "x5t#S256", g.cnf_x5t));
    char *s = json_dumps(resp, JSON_COMPACT);
    json_decref(resp);
    char *body = s != NULL ? vk_arena_strdup(rq->arena, vk_str_c(s)) : NULL;
    free(s);
    return body != NULL ? vk_response_json(rs, rq->arena, 200, body, strlen(body)) : VK_ENOMEM;
}

/* Whether `caller` may learn about the verified access token `claims` (RFC 7662 §4). */
static bool may_see(const struct vk_client *caller, const json_t *claims)
{
    vk_str aud[VK_MAX_RESOURCES + 2];
    size_t n = 0;
    json_t *a = json_object_get(claims, "aud"), *v;
    size_t i;
    if (json_is_string(a)) {
        aud[n++] = vk_str_c(json_string_value(a));
    } else if (json_is_array(a)) {
        /* our tokens carry at most VK_MAX_RESOURCES + 1 audiences */
        json_array_foreach(a, i, v) {
            if (n < sizeof aud / sizeof aud[0] && json_is_string(v))
                aud[n++] = vk_str_c(json_string_value(v));
        }
    }
    json_t *cid = json_object_get(claims, "client_id");
    return vk_introspect_access_allowed(caller, vk_str_c(json_string_value(cid)), aud, n);
}

int vk_ep_introspect(void *appv, const struct vk_request *rq, struct vk_response *rs)
{
    struct vk_app *app = appv;
    struct vk_params ps;
    struct vk_client client;
    struct vk_oauth_err oe = {0};
    struct vk_jws jws = {0};
    vk_str token;

    int rc = vk_oauth_read_form(rq, NULL, &ps, &oe);
    if (rc != VK_OK)
        goto out;
    rc = vk_oauth_authenticate(app, rq, &ps, false, &client, NULL, &oe);
    if (rc != VK_OK)
        goto out;
    rs->log_client = client.id;
    if (vk_params_get(&ps, "token", &token) == 0) {
        rc = vk_oauth_fail(&oe, 400, "invalid_request", "token is required");
        goto out;
    }
    if (vk_str_starts_with_lit(token, VK_PREFIX_REFRESH)) {
        rc = introspect_refresh(app, rq, rs, &client, token);
        goto out;
    }
    if (vk_oauth_verify_access(app, rq, token, &jws) != VK_OK) {
        rc = vk_response_json(rs, rq->arena, 200, inactive, sizeof inactive - 1);
        goto out;
    }
    json_t *jti = json_object_get(jws.payload, "jti");
    bool revoked = true;
    if (!json_is_string(jti)) {
        rc = vk_response_json(rs, rq->arena, 200, inactive, sizeof inactive - 1);
        goto out;
    }
    rc = vk_store_token_is_revoked(app->st, json_string_value(jti), &revoked);
    if (rc != VK_OK)
        goto out;
    /* A token of a client that has since been removed is no longer active. */
    json_t *cid = json_object_get(jws.payload, "client_id");
    struct vk_client owner;
    if (!revoked && json_is_string(cid)) {
        rc = vk_client_cache_get(app->clients, rq->arena, vk_str_c(json_string_value(cid)),
                                 rq->now, false, &owner);
        if (rc == VK_ENOTFOUND)
            revoked = true;
        else if (rc != VK_OK)
            goto out;
    }
    if (revoked || !json_is_string(cid) || !may_see(&client, jws.payload)) {
        rc = vk_response_json(rs, rq->arena, 200, inactive, sizeof inactive - 1);
        goto out;
    }
    /* RFC 7662 §2.2: copy the members a resource server needs from the verified claims; cnf so
     * that it can check a certificate-bound token (RFC 8705 §3.2). */
    json_t *resp = json_object();
    static const char *const copy[] = {"scope", "client_id", "sub", "aud", "iss",
                                       "exp",   "iat",       "nbf", "jti", "cnf"};
    if (resp == NULL) {
        rc = VK_ENOMEM;
        goto out;
    }
    json_object_set_new(resp, "active", json_true());
    for (size_t i = 0; i < sizeof copy / sizeof copy[0]; i++) {
        json_t *v = json_object_get(jws.payload, copy[i]);
        if (v != NULL)
            json_object_set(resp, copy[i], v);
    }
    json_object_set_new(resp, "token_type", json_string("Bearer"));
    char *s = json_dumps(resp, JSON_COMPACT);
    json_decref(resp);
    if (s == NULL) {
        rc = VK_ENOMEM;
        goto out;
    }
    char *body = vk_arena_strdup(rq->arena, vk_str_c(s));
    size_t len = strlen(s);
    free(s);
    rc = body != NULL ? vk_response_json(rs, rq->arena, 200, body, len) : VK_ENOMEM;
out:
    vk_jws_clear(&jws);
    return vk_oauth_finish(rq, rs, rc, &oe);
}
