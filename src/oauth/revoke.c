/* POST /revoke (RFC 7009). Revoking an access token puts its jti on the revocation list until
 * it expires (and emits a revocation event for verifiers). Unknown, invalid or expired tokens
 * get 200: the client cannot act on the difference (RFC 7009 §2.2). A client may revoke only
 * tokens issued to it (§2.1). */
#include "oauth/app.h"

#include <string.h>

#include "base/log.h"

int vk_ep_revoke(void *appv, const struct vk_request *rq, struct vk_response *rs)
{
    struct vk_app *app = appv;
    struct vk_params ps;
    struct vk_client client;
    struct vk_oauth_err oe = {0};
    struct vk_jws jws = {0};
    vk_str token, hint;

    int rc = vk_oauth_read_form(rq, NULL, &ps, &oe);
    if (rc != VK_OK)
        goto out;
    /* Public clients may revoke their own tokens by presenting client_id (RFC 7009 §2.1). */
    rc = vk_oauth_authenticate(app, rq, &ps, true, &client, NULL, &oe);
    if (rc != VK_OK)
        goto out;
    rs->log_client = client.id;
    if (vk_params_get(&ps, "token", &token) == 0) {
        rc = vk_oauth_fail(&oe, 400, "invalid_request", "token is required");
        goto out;
    }
    if (vk_params_get(&ps, "token_type_hint", &hint) > 0 &&
        !vk_str_eq_lit(hint, "access_token") && !vk_str_eq_lit(hint, "refresh_token")) {
        rc = vk_oauth_fail(&oe, 400, "unsupported_token_type",
                           "token_type_hint must be access_token or refresh_token");
        goto out;
    }
    struct vk_refresh rt;
    struct vk_grant g;
    uint8_t digest[VK_DIGEST_LEN];
    vk_secret_digest((struct vk_secret){token.p, token.len}, digest);
    if (vk_str_starts_with_lit(token, VK_PREFIX_REFRESH) &&
        vk_store_refresh_get(app->st, rq->arena, digest, &rt) == VK_OK &&
        vk_store_grant_get(app->st, rq->arena, rt.grant_id, &g) == VK_OK) {
        /* RFC 7009 §2.1: revoking a refresh token revokes its grant and the access tokens
         * issued from it. */
        if (strcmp(g.client_id, client.id) != 0) {
            rc = vk_oauth_fail(&oe, 400, "unauthorized_client",
                               "the token was not issued to this client");
            goto out;
        }
        rc = vk_store_grant_revoke(app->st, g.id, rq->now);
        if (rc != VK_OK)
            goto out;
        __atomic_add_fetch(&app->metrics.revocations, 1, __ATOMIC_RELAXED);
        vk_log_info("event=grant.revoked client=%s grant=%s", client.id, g.id);
    } else if (vk_oauth_verify_access(app, rq, token, &jws) == VK_OK) {
        json_t *jti = json_object_get(jws.payload, "jti");
        json_t *cid = json_object_get(jws.payload, "client_id");
        json_t *exp = json_object_get(jws.payload, "exp");
        if (!json_is_string(jti) || !json_is_string(cid) || !json_is_integer(exp)) {
            rc = VK_OK; /* not one of ours in shape: nothing to revoke */
        } else if (strcmp(json_string_value(cid), client.id) != 0) {
            rc = vk_oauth_fail(&oe, 400, "unauthorized_client",
                               "the token was not issued to this client");
            goto out;
        } else {
            rc = vk_store_token_revoke(app->st, json_string_value(jti), client.id,
                                       json_integer_value(exp), rq->now);
            if (rc != VK_OK)
                goto out;
            __atomic_add_fetch(&app->metrics.revocations, 1, __ATOMIC_RELAXED);
            vk_log_info("event=token.revoked client=%s jti=%s", client.id,
                        json_string_value(jti));
        }
    }
    rc = vk_response_json(rs, rq->arena, 200, "", 0);
out:
    vk_jws_clear(&jws);
    return vk_oauth_finish(rq, rs, rc, &oe);
}
