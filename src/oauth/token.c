/* POST /token (RFC 6749 §3.2, OAuth 2.1 §3.2). */
#include "oauth/app.h"

#include <inttypes.h>
#include <string.h>

#include "base/limits.h"
#include "base/log.h"
#include "grant/grant.h"

static const char *const token_repeatable[] = {"resource", NULL}; /* RFC 8707 §2 */

/* Collects the RFC 8707 resource parameters (already checked for count by the caller). */
static size_t collect_resources(const struct vk_params *ps, vk_str *out, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < ps->n; i++) {
        if (ps->v[i].value.len == 0 || !vk_str_eq_lit(ps->v[i].name, "resource"))
            continue;
        if (n < max)
            out[n] = ps->v[i].value;
        n++;
    }
    return n;
}

/* Decides `aud`: the requested resources, else the client's registered resources, else the
 * server's default audience (the issuer unless configured). */
static int decide_audience(struct vk_app *app, const struct vk_request *rq,
                           const struct vk_params *ps, const struct vk_client *c,
                           const char ***aud, size_t *n_aud, struct vk_oauth_err *oe)
{
    vk_str res[VK_MAX_RESOURCES + 1];
    size_t n = collect_resources(ps, res, VK_MAX_RESOURCES + 1);
    int rc = vk_resource_decide(res, n, vk_str_c(c->resources), oe);
    if (rc != VK_OK)
        return rc;
    const char **v = vk_arena_alloc(rq->arena, (VK_MAX_RESOURCES + 1) * sizeof *v);
    if (v == NULL)
        return VK_ENOMEM;
    size_t k = 0;
    if (n > 0) {
        for (size_t i = 0; i < n; i++) {
            bool dup = false;
            for (size_t j = 0; j < k; j++)
                dup = dup || vk_str_eq_lit(res[i], v[j]);
            if (!dup && (v[k] = vk_arena_strdup(rq->arena, res[i])) != NULL)
                k++;
        }
    } else if (c->resources != NULL && c->resources[0] != '\0') {
        vk_str rest = vk_str_c(c->resources), t;
        while (k < VK_MAX_RESOURCES && vk_str_next_token(&rest, ' ', &t))
            if ((v[k] = vk_arena_strdup(rq->arena, t)) != NULL)
                k++;
    } else {
        v[k++] = app->cfg->audience[0] != '\0' ? app->cfg->audience : app->issuer;
    }
    if (k == 0)
        return VK_ENOMEM;
    *aud = v;
    *n_aud = k;
    return VK_OK;
}

static int grant_client_credentials(struct vk_app *app, const struct vk_request *rq,
                                    const struct vk_params *ps, const struct vk_client *c,
                                    struct vk_response *rs, struct vk_oauth_err *oe)
{
    vk_str scope;
    const char *granted = NULL, **aud = NULL;
    size_t n_aud = 0;
    /* OAuth 2.1 §4.2: only confidential clients may use client credentials. */
    if (!c->has_secret || !vk_client_has_grant(vk_str_c(c->grant_types), "client_credentials"))
        return vk_oauth_fail(oe, 400, "unauthorized_client",
                             "the client is not allowed to use this grant type");
    size_t ns = vk_params_get(ps, "scope", &scope);
    int rc = vk_scope_decide(rq->arena, ns > 0, scope, vk_str_c(c->scope), &granted, oe);
    if (rc == VK_OK)
        rc = decide_audience(app, rq, ps, c, &aud, &n_aud, oe);
    if (rc != VK_OK)
        return rc;

    int64_t ttl = c->access_token_ttl > 0 ? c->access_token_ttl : app->cfg->access_token_ttl;
    char jti[VK_JTI_LEN + 1];
    if (vk_jti_new(jti) != VK_OK)
        return VK_ECRYPTO;
    struct vk_access_claims cl = {
        .iss = app->issuer,
        .sub = c->id, /* RFC 9068 §2.2: the client itself when no resource owner is involved */
        .client_id = c->id,
        .scope = granted,
        .aud = aud,
        .n_aud = n_aud,
        .jti = jti,
        .iat = rq->now,
        .exp = rq->now + ttl,
    };
    struct vk_buf body;
    struct vk_err err = {{0}};
    vk_buf_init(&body, 16 * 1024);
    struct vk_keyset *ks = vk_keyring_acquire(app->keys, rq->now);
    rc = vk_buf_append_str(&body, "{\"access_token\":\"");
    if (rc == VK_OK)
        rc = vk_access_token_mint(ks->access, &cl, &body, &err);
    vk_keyset_release(ks);
    if (rc == VK_OK)
        rc = vk_buf_printf(&body, "\",\"token_type\":\"Bearer\",\"expires_in\":%" PRId64, ttl);
    if (rc == VK_OK && granted[0] != '\0') {
        rc = vk_buf_append_str(&body, ",\"scope\":\"");
        if (rc == VK_OK)
            rc = vk_buf_append_json(&body, vk_str_c(granted));
        if (rc == VK_OK)
            rc = vk_buf_append(&body, "\"", 1);
    }
    if (rc == VK_OK)
        rc = vk_buf_append(&body, "}", 1);
    char *copy = rc == VK_OK ? vk_arena_strdup(rq->arena, vk_buf_str(&body)) : NULL;
    size_t len = body.len;
    vk_buf_clear(&body);
    if (rc != VK_OK)
        return rc;
    if (copy == NULL)
        return VK_ENOMEM;
    __atomic_add_fetch(&app->metrics.tokens_issued[0], 1, __ATOMIC_RELAXED);
    return vk_response_json(rs, rq->arena, 200, copy, len);
}

int vk_ep_token(void *appv, const struct vk_request *rq, struct vk_response *rs)
{
    struct vk_app *app = appv;
    struct vk_params ps;
    struct vk_client client;
    struct vk_oauth_err oe = {0};
    vk_str gt;

    int rc = vk_oauth_read_form(rq, token_repeatable, &ps, &oe);
    if (rc != VK_OK)
        goto out;
    if (vk_params_get(&ps, "grant_type", &gt) == 0) {
        rc = vk_oauth_fail(&oe, 400, "invalid_request", "grant_type is required");
        goto out;
    }
    rc = vk_oauth_authenticate(app, rq, &ps, true, &client, &oe);
    if (rc != VK_OK)
        goto out;
    rs->log_client = client.id;
    if (vk_str_eq_lit(gt, "client_credentials")) {
        rc = grant_client_credentials(app, rq, &ps, &client, rs, &oe);
    } else if (vk_str_eq_lit(gt, "authorization_code") || vk_str_eq_lit(gt, "refresh_token")) {
        rc = vk_oauth_fail(&oe, 400, "unsupported_grant_type",
                           "this grant type is not enabled on this server");
    } else {
        rc = vk_oauth_fail(&oe, 400, "unsupported_grant_type", "unknown grant_type");
    }
out:
    return vk_oauth_finish(rq, rs, rc, &oe);
}
