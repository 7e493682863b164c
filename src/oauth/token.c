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
 * server's default audience (the issuer unless configured). A client without registered
 * resources may name only the default audience (checklist #31). */
static int decide_audience(struct vk_app *app, const struct vk_request *rq,
                           const struct vk_params *ps, const struct vk_client *c,
                           const char *bound, const char ***aud, size_t *n_aud,
                           struct vk_oauth_err *oe)
{
    vk_str res[VK_MAX_RESOURCES + 1];
    size_t n = collect_resources(ps, res, VK_MAX_RESOURCES + 1);
    /* With a user grant, the resources named at /authorize bound what later requests may ask
     * for (RFC 8707 §2.2); without them, the client's registration does. */
    const char *limit = bound != NULL && bound[0] != '\0' ? bound : c->resources;
    const char *dflt = vk_oauth_default_audience(app);
    int rc = vk_resource_decide(res, n, vk_str_c(limit), vk_str_c(dflt), oe);
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
    } else if (limit != NULL && limit[0] != '\0') {
        vk_str rest = vk_str_c(limit), t;
        while (k < VK_MAX_RESOURCES && vk_str_next_token(&rest, ' ', &t))
            if ((v[k] = vk_arena_strdup(rq->arena, t)) != NULL)
                k++;
    } else {
        v[k++] = dflt;
    }
    if (k == 0)
        return VK_ENOMEM;
    *aud = v;
    *n_aud = k;
    return VK_OK;
}

/* RFC 8705 §3: a client registered for certificate-bound tokens
 * (tls_client_certificate_bound_access_tokens) gets tokens bound to the certificate it presents,
 * and must present one: without it the token would be a plain bearer token after all. *x5t is
 * the binding (x5t#S256) or "" for none. */
static int decide_binding(const struct vk_client *c, const struct vk_client_cert *cert,
                          char x5t[VK_X5T_LEN + 1], struct vk_oauth_err *oe)
{
    x5t[0] = '\0';
    if (!c->tls_bound_tokens)
        return VK_OK;
    if (cert == NULL || cert->der.len == 0)
        return vk_oauth_fail(oe, 400, "invalid_request",
                             "this client's tokens are bound to its TLS client certificate: "
                             "present one");
    vk_x509_thumbprint(cert->der, x5t);
    return VK_OK;
}

/* Mints an access token into the arena. *jti_out receives its jti, *exp its expiry. */
static int mint_access(struct vk_app *app, const struct vk_request *rq, const struct vk_client *c,
                       const char *sub, const char *scope, const char **aud, size_t n_aud,
                       const char *cnf_x5t, char jti[VK_JTI_LEN + 1], int64_t *exp,
                       const char **out)
{
    int64_t ttl = c->access_token_ttl > 0 ? c->access_token_ttl : app->cfg->access_token_ttl;
    if (vk_jti_new(jti) != VK_OK)
        return VK_ECRYPTO;
    *exp = rq->now + ttl;
    struct vk_access_claims cl = {
        .iss = app->issuer,
        .sub = sub,
        .client_id = c->id,
        .scope = scope,
        .aud = aud,
        .n_aud = n_aud,
        .jti = jti,
        .iat = rq->now,
        .exp = *exp,
        .cnf_x5t = cnf_x5t != NULL && cnf_x5t[0] != '\0' ? cnf_x5t : NULL,
    };
    struct vk_buf b;
    struct vk_err err = {{0}};
    vk_buf_init(&b, 16 * 1024);
    struct vk_keyset *ks = vk_keyring_acquire(app->keys, rq->now);
    int rc = vk_access_token_mint(ks->access, &cl, &b, &err);
    vk_keyset_release(ks);
    *out = rc == VK_OK ? vk_arena_strdup(rq->arena, vk_buf_str(&b)) : NULL;
    vk_buf_clear(&b);
    if (rc == VK_OK && *out == NULL)
        rc = VK_ENOMEM;
    return rc;
}

/* The RFC 6749 §5.1 response body (arena string). */
static char *token_body(struct vk_arena *a, const char *access, int64_t expires_in,
                        const char *scope, const char *refresh, const char *id_token)
{
    struct vk_buf b;
    vk_buf_init(&b, 64 * 1024);
    int rc = vk_buf_append_str(&b, "{\"access_token\":\"");
    if (rc == VK_OK)
        rc = vk_buf_append_str(&b, access);
    if (rc == VK_OK)
        rc = vk_buf_append_str(&b, "\",\"token_type\":\"Bearer\",\"expires_in\":");
    if (rc == VK_OK)
        rc = vk_buf_append_i64(&b, expires_in);
    /* OAuth 2.1 §1.4.1 / checklist #29: the granted scope is always returned. */
    if (rc == VK_OK && scope != NULL && scope[0] != '\0')
        rc = vk_buf_append_json_member(&b, "scope", scope, 0);
    if (rc == VK_OK && refresh != NULL)
        rc = vk_buf_append_json_member(&b, "refresh_token", refresh, 0);
    if (rc == VK_OK && id_token != NULL)
        rc = vk_buf_append_json_member(&b, "id_token", id_token, 0);
    if (rc == VK_OK)
        rc = vk_buf_append(&b, "}", 1);
    char *out = rc == VK_OK ? vk_arena_strdup(a, vk_buf_str(&b)) : NULL;
    vk_buf_clear(&b);
    return out;
}

static int grant_client_credentials(struct vk_app *app, const struct vk_request *rq,
                                    const struct vk_params *ps, const struct vk_client *c,
                                    const struct vk_client_cert *cert, struct vk_response *rs,
                                    struct vk_oauth_err *oe)
{
    vk_str scope;
    const char *granted = NULL, **aud = NULL, *access = NULL;
    size_t n_aud = 0;
    char jti[VK_JTI_LEN + 1], x5t[VK_X5T_LEN + 1];
    int64_t exp;
    /* OAuth 2.1 §4.2: only confidential clients may use client credentials. */
    if (!vk_client_is_confidential(c) ||
        !vk_client_has_grant(vk_str_c(c->grant_types), "client_credentials"))
        return vk_oauth_fail(oe, 400, "unauthorized_client",
                             "the client is not allowed to use this grant type");
    size_t ns = vk_params_get(ps, "scope", &scope);
    int rc = vk_scope_decide(rq->arena, ns > 0, scope, vk_str_c(c->scope), &granted, oe);
    if (rc == VK_OK)
        rc = decide_audience(app, rq, ps, c, NULL, &aud, &n_aud, oe);
    if (rc == VK_OK)
        rc = decide_binding(c, cert, x5t, oe);
    /* RFC 9068 §2.2: sub is the client itself when no resource owner is involved. */
    if (rc == VK_OK)
        rc = mint_access(app, rq, c, c->id, granted, aud, n_aud, x5t, jti, &exp, &access);
    if (rc != VK_OK)
        return rc;
    char *body = token_body(rq->arena, access, exp - rq->now, granted, NULL, NULL);
    if (body == NULL)
        return VK_ENOMEM;
    __atomic_add_fetch(&app->metrics.tokens_issued[0], 1, __ATOMIC_RELAXED);
    return vk_response_json(rs, rq->arena, 200, body, strlen(body));
}

static bool has_scope(const char *scope, const char *tok)
{
    return vk_scope_list_contains(vk_str_c(scope), vk_str_c(tok));
}

/* With openid the token must also be good at this server's /userinfo, which accepts only tokens
 * whose aud names the issuer (checklist #56): add it when the requested resources did not. */
static int add_issuer_audience(struct vk_app *app, struct vk_arena *a, const char *scope,
                               const char ***aud, size_t *n)
{
    if (!has_scope(scope, "openid"))
        return VK_OK;
    for (size_t i = 0; i < *n; i++)
        if (strcmp((*aud)[i], app->issuer) == 0)
            return VK_OK;
    const char **v = vk_arena_alloc(a, (*n + 1) * sizeof *v);
    if (v == NULL)
        return VK_ENOMEM;
    memcpy(v, *aud, *n * sizeof *v);
    v[(*n)++] = app->issuer;
    *aud = v;
    return VK_OK;
}

static int mint_id_token(struct vk_app *app, const struct vk_request *rq,
                         const struct vk_client *c, const char *sub, const char *nonce,
                         int64_t auth_time, const char *access, const char **out)
{
    struct vk_id_claims cl = {
        .iss = app->issuer,
        .sub = sub,
        .aud = c->id,
        .nonce = nonce,
        .auth_time = auth_time,
        .iat = rq->now,
        .exp = rq->now + app->cfg->id_token_ttl,
    };
    struct vk_buf b;
    struct vk_err err = {{0}};
    vk_buf_init(&b, 16 * 1024);
    struct vk_keyset *ks = vk_keyring_acquire(app->keys, rq->now);
    /* OIDC Core §15.1: RS256 by default; ES256 when the client registered for it. */
    const struct vk_jwk *k = strcmp(c->id_token_alg, "ES256") == 0 ? ks->access : ks->id;
    int rc = vk_id_token_mint(k, &cl, vk_str_c(access), &b, &err);
    vk_keyset_release(ks);
    *out = rc == VK_OK ? vk_arena_strdup(rq->arena, vk_buf_str(&b)) : NULL;
    vk_buf_clear(&b);
    if (rc == VK_OK && *out == NULL)
        rc = VK_ENOMEM;
    return rc;
}

static int new_refresh(struct vk_app *app, const struct vk_request *rq, const char *grant_id,
                       int64_t grant_expires, struct vk_refresh *rt, char *value, size_t valsz)
{
    memset(rt, 0, sizeof *rt);
    int rc = vk_secret_new(VK_PREFIX_REFRESH, value, valsz, rt->digest);
    rt->grant_id = grant_id;
    rt->created_at = rq->now;
    rt->expires_at = rq->now + app->cfg->refresh_token_idle_ttl;
    if (rt->expires_at > grant_expires)
        rt->expires_at = grant_expires;
    return rc;
}

static int grant_authorization_code(struct vk_app *app, const struct vk_request *rq,
                                    const struct vk_params *ps, const struct vk_client *c,
                                    const struct vk_client_cert *cert, struct vk_response *rs,
                                    struct vk_oauth_err *oe)
{
    vk_str code, redirect, verifier;
    struct vk_code cd;
    uint8_t digest[VK_DIGEST_LEN];
    bool reused = false;
    if (!vk_client_has_grant(vk_str_c(c->grant_types), "authorization_code"))
        return vk_oauth_fail(oe, 400, "unauthorized_client",
                             "the client is not allowed to use this grant type");
    if (vk_params_get(ps, "code", &code) == 0)
        return vk_oauth_fail(oe, 400, "invalid_request", "code is required");
    vk_params_get(ps, "redirect_uri", &redirect);
    vk_params_get(ps, "code_verifier", &verifier);
    vk_secret_digest((struct vk_secret){code.p, code.len}, digest);
    int rc = vk_store_code_get(app->st, rq->arena, digest, &cd);
    if (rc == VK_ENOTFOUND)
        return vk_oauth_fail(oe, 400, "invalid_grant", "the authorization code is invalid");
    if (rc != VK_OK)
        return rc;
    rc = vk_code_decide(&cd, vk_str_c(c->id), redirect, verifier, rq->now, &reused, oe);
    if (reused && cd.grant_id[0] != '\0') {
        /* RFC 9700 §4.2.4 / checklist #18: revoke everything issued from the code. */
        int r2 = vk_store_grant_revoke(app->st, cd.grant_id, rq->now);
        vk_log_warn("event=code.reused client=%s grant=%s revoked=%s", c->id, cd.grant_id,
                    r2 == VK_OK ? "yes" : "failed");
        if (r2 != VK_OK)
            return r2;
    }
    if (rc != VK_OK)
        return rc;

    const char **aud = NULL, *access = NULL, *id_token = NULL;
    size_t n_aud = 0;
    char jti[VK_JTI_LEN + 1], refresh[80], x5t[VK_X5T_LEN + 1];
    int64_t exp;
    rc = decide_audience(app, rq, ps, c, cd.resources, &aud, &n_aud, oe);
    if (rc == VK_OK)
        rc = add_issuer_audience(app, rq->arena, cd.scope, &aud, &n_aud);
    if (rc == VK_OK)
        rc = decide_binding(c, cert, x5t, oe);
    if (rc == VK_OK)
        rc = mint_access(app, rq, c, cd.user_id, cd.scope, aud, n_aud, x5t, jti, &exp, &access);
    if (rc == VK_OK && has_scope(cd.scope, "openid"))
        rc = mint_id_token(app, rq, c, cd.user_id, cd.nonce, cd.auth_time, access, &id_token);
    if (rc != VK_OK)
        return rc;
    struct vk_grant g = {
        .id = cd.grant_id,
        .client_id = c->id,
        .user_id = cd.user_id,
        .scope = cd.scope,
        .resources = cd.resources,
        .session_id = cd.session_id,
        .auth_time = cd.auth_time,
        .created_at = rq->now,
        .expires_at = rq->now + app->cfg->refresh_token_ttl,
        /* RFC 8705 §4 (checklist #35): a public client's refresh tokens are bound to the
         * certificate its access tokens are; a confidential client's are bound to its client
         * authentication already, and may outlive a certificate it renews. */
        .cnf_x5t = vk_client_is_confidential(c) ? "" : x5t,
    };
    struct vk_refresh rt;
    bool with_refresh = vk_client_has_grant(vk_str_c(c->grant_types), "refresh_token");
    if (with_refresh) {
        rc = new_refresh(app, rq, g.id, g.expires_at, &rt, refresh, sizeof refresh);
        if (rc != VK_OK)
            return rc;
    }
    /* One transaction: the code is spent and the grant started together, or neither. */
    rc = vk_store_code_redeem(app->st, digest, rq->now, &g, with_refresh ? &rt : NULL, jti, exp);
    if (rc == VK_EEXIST) {
        /* Another redemption of this code won the race: a replay. Revoke what it started. */
        int r2 = vk_store_grant_revoke(app->st, g.id, rq->now);
        vk_log_warn("event=code.reused client=%s grant=%s revoked=%s", c->id, g.id,
                    r2 == VK_OK ? "yes" : "failed");
        if (r2 != VK_OK)
            return r2;
        return vk_oauth_fail(oe, 400, "invalid_grant", "the authorization code is invalid");
    }
    if (rc != VK_OK)
        return rc;
    char *body = token_body(rq->arena, access, exp - rq->now, cd.scope,
                            with_refresh ? refresh : NULL, id_token);
    vk_wipe(refresh, sizeof refresh);
    if (body == NULL)
        return VK_ENOMEM;
    __atomic_add_fetch(&app->metrics.tokens_issued[1], 1, __ATOMIC_RELAXED);
    return vk_response_json(rs, rq->arena, 200, body, strlen(body));
}

#define GRACE_LABEL "valetkey refresh grace v1"

static int grant_refresh_token(struct vk_app *app, const struct vk_request *rq,
                               const struct vk_params *ps, const struct vk_client *c,
                               const struct vk_client_cert *cert, struct vk_response *rs,
                               struct vk_oauth_err *oe)
{
    vk_str presented, scope;
    struct vk_refresh old;
    struct vk_grant g;
    uint8_t digest[VK_DIGEST_LEN];
    enum vk_refresh_verdict verdict = 0;
    if (!vk_client_has_grant(vk_str_c(c->grant_types), "refresh_token"))
        return vk_oauth_fail(oe, 400, "unauthorized_client",
                             "the client is not allowed to use this grant type");
    if (vk_params_get(ps, "refresh_token", &presented) == 0)
        return vk_oauth_fail(oe, 400, "invalid_request", "refresh_token is required");
    struct vk_secret pt = {presented.p, presented.len};
    vk_secret_digest(pt, digest);
    int attempt = 0;
again:
    {
        int rc = vk_store_refresh_get(app->st, rq->arena, digest, &old);
        if (rc == VK_ENOTFOUND)
            return vk_oauth_fail(oe, 400, "invalid_grant", "the refresh token is invalid");
        if (rc == VK_OK)
            rc = vk_store_grant_get(app->st, rq->arena, old.grant_id, &g);
        if (rc == VK_ENOTFOUND)
            return vk_oauth_fail(oe, 400, "invalid_grant", "the refresh token is invalid");
        if (rc != VK_OK)
            return rc;
        /* RFC 8705 §4: a bound family is usable only with its certificate, checked before
         * anything else (a grace-window answer too). Without it the token is worthless, so its
         * presentation revokes nothing. */
        if (g.cnf_x5t != NULL && g.cnf_x5t[0] != '\0') {
            char x5t[VK_X5T_LEN + 1] = "";
            if (cert != NULL && cert->der.len > 0)
                vk_x509_thumbprint(cert->der, x5t);
            if (strcmp(x5t, g.cnf_x5t) != 0)
                return vk_oauth_fail(oe, 400, "invalid_grant",
                                     "the refresh token is bound to another TLS client "
                                     "certificate");
        }
        rc = vk_refresh_decide(&old, &g, vk_str_c(c->id), vk_request_now_ms(rq), &verdict, oe);
        if (verdict == VK_REFRESH_REUSE) {
            /* checklist #35: a used refresh token came back: revoke the whole family. */
            int r2 = vk_store_grant_revoke(app->st, g.id, rq->now);
            vk_log_warn("event=refresh.reused client=%s grant=%s revoked=%s", c->id, g.id,
                        r2 == VK_OK ? "yes" : "failed");
            return r2 != VK_OK ? r2 : rc;
        }
        if (rc != VK_OK)
            return rc;
        if (verdict == VK_REFRESH_GRACE) {
            /* The same pair as the first use, readable only with this very token. */
            uint8_t *plain = vk_arena_alloc(rq->arena, old.grace_len + 1);
            size_t n = 0;
            if (plain == NULL)
                return VK_ENOMEM;
            if (vk_open(pt, GRACE_LABEL, old.grace_blob, old.grace_len, plain, old.grace_len,
                        &n) != VK_OK)
                return vk_oauth_fail(oe, 400, "invalid_grant", "the refresh token is invalid");
            plain[n] = '\0';
            return vk_response_json(rs, rq->arena, 200, (const char *)plain, n);
        }
    }

    /* Scope may narrow, never widen (RFC 6749 §6); the grant keeps its scope (checklist #37). */
    const char *granted = NULL, **aud = NULL, *access = NULL;
    size_t n_aud = 0;
    char jti[VK_JTI_LEN + 1], refresh[80], x5t[VK_X5T_LEN + 1];
    int64_t exp;
    size_t ns = vk_params_get(ps, "scope", &scope);
    int rc = vk_scope_decide(rq->arena, ns > 0, scope, vk_str_c(g.scope), &granted, oe);
    if (rc == VK_OK)
        rc = decide_audience(app, rq, ps, c, g.resources, &aud, &n_aud, oe);
    if (rc == VK_OK)
        rc = add_issuer_audience(app, rq->arena, granted, &aud, &n_aud);
    if (rc == VK_OK)
        rc = decide_binding(c, cert, x5t, oe);
    if (rc == VK_OK)
        rc = mint_access(app, rq, c, g.user_id, granted, aud, n_aud, x5t, jti, &exp, &access);
    struct vk_refresh next;
    if (rc == VK_OK)
        rc = new_refresh(app, rq, g.id, g.expires_at, &next, refresh, sizeof refresh);
    if (rc != VK_OK)
        return rc;
    char *body = token_body(rq->arena, access, exp - rq->now, granted, refresh, NULL);
    vk_wipe(refresh, sizeof refresh);
    if (body == NULL)
        return VK_ENOMEM;
    size_t blen = strlen(body);
    uint8_t *blob = NULL;
    size_t bloblen = 0;
    int64_t grace_until_ms = 0;
    if (app->cfg->refresh_grace > 0) {
        blob = vk_arena_alloc(rq->arena, blen + VK_SEAL_OVERHEAD);
        if (blob == NULL)
            return VK_ENOMEM;
        rc = vk_seal(pt, GRACE_LABEL, (const uint8_t *)body, blen, blob, blen + VK_SEAL_OVERHEAD,
                     &bloblen);
        if (rc != VK_OK)
            return rc;
        /* Counted in milliseconds from this request's arrival: in whole seconds, a window of N
         * seconds lasted anywhere from N-1 to N. */
        grace_until_ms = vk_request_now_ms(rq) + app->cfg->refresh_grace * 1000;
    }
    rc = vk_store_refresh_rotate(app->st, digest, rq->now, blob, bloblen, grace_until_ms, &next,
                                 jti, exp);
    if (rc == VK_EEXIST && attempt++ == 0)
        goto again; /* a concurrent request rotated it first: decide again (grace or reuse) */
    if (rc != VK_OK)
        return rc;
    __atomic_add_fetch(&app->metrics.tokens_issued[2], 1, __ATOMIC_RELAXED);
    return vk_response_json(rs, rq->arena, 200, body, blen);
}

int vk_ep_token(void *appv, const struct vk_request *rq, struct vk_response *rs)
{
    struct vk_app *app = appv;
    struct vk_params ps;
    struct vk_client client;
    struct vk_client_cert cert;
    struct vk_oauth_err oe = {0};
    vk_str gt;

    int rc = vk_oauth_read_form(rq, token_repeatable, &ps, &oe);
    if (rc != VK_OK)
        goto out;
    if (vk_params_get(&ps, "grant_type", &gt) == 0) {
        rc = vk_oauth_fail(&oe, 400, "invalid_request", "grant_type is required");
        goto out;
    }
    rc = vk_oauth_authenticate(app, rq, &ps, true, &client, &cert, &oe);
    if (rc != VK_OK)
        goto out;
    rs->log_client = client.id;
    if (vk_str_eq_lit(gt, "client_credentials")) {
        rc = grant_client_credentials(app, rq, &ps, &client, &cert, rs, &oe);
    } else if (vk_str_eq_lit(gt, "authorization_code")) {
        rc = grant_authorization_code(app, rq, &ps, &client, &cert, rs, &oe);
    } else if (vk_str_eq_lit(gt, "refresh_token")) {
        rc = grant_refresh_token(app, rq, &ps, &client, &cert, rs, &oe);
    } else {
        rc = vk_oauth_fail(&oe, 400, "unsupported_grant_type", "unknown grant_type");
    }
out:
    return vk_oauth_finish(rq, rs, rc, &oe);
}
