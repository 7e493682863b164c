/* RFC 8414 authorization server metadata. It lists exactly what is implemented: nothing here
 * may promise a grant, response type or method the server refuses. Built once at start. */
#include "oauth/app.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

static json_t *strings(const char *const *v)
{
    json_t *a = json_array();
    for (; a != NULL && *v != NULL; v++)
        json_array_append_new(a, json_string(*v));
    return a;
}

static json_t *url(const char *issuer, const char *path)
{
    size_t n = strlen(issuer) + strlen(path) + 1;
    char *s = malloc(n);
    if (s == NULL)
        return NULL;
    memcpy(s, issuer, strlen(issuer));
    memcpy(s + strlen(issuer), path, strlen(path) + 1);
    json_t *j = json_string(s);
    free(s);
    return j;
}

/* The client authentication methods the server accepts: the RFC 8705 ones only when
 * certificates can reach it, tls_client_auth only with CAs to check them against. */
static json_t *auth_methods(const struct vk_app *app, bool with_none)
{
    json_t *a = json_array();
    static const char *const secret[] = {"client_secret_basic", "client_secret_post", NULL};
    for (const char *const *m = secret; a != NULL && *m != NULL; m++)
        json_array_append_new(a, json_string(*m));
    if (app->client_certs && app->client_ca != NULL)
        json_array_append_new(a, json_string("tls_client_auth"));
    if (app->client_certs)
        json_array_append_new(a, json_string("self_signed_tls_client_auth"));
    if (with_none)
        json_array_append_new(a, json_string("none"));
    return a;
}

/* The members both documents share (RFC 8414 §2, OpenID Connect Discovery §3). */
static json_t *common_metadata(const struct vk_app *app)
{
    const char *iss = app->issuer;
    static const char *const grants[] = {"authorization_code", "refresh_token",
                                         "client_credentials", NULL};
    /* Every method the server accepts (auth_methods); each client may use only the one it is
     * registered with (vk_oauth_authenticate), as RFC 8414 §2 and RFC 7591 §2 intend. */
    static const char *const access_algs[] = {"ES256", NULL};
    static const char *const id_algs[] = {"RS256", "ES256", NULL};
    static const char *const pkce[] = {"S256", NULL};
    static const char *const response_types[] = {"code", NULL};
    static const char *const response_modes[] = {"query", NULL};
    static const char *const scopes[] = {"openid", "profile", "email", "phone", NULL};
    static const char *const subjects[] = {"public", NULL};
    static const char *const prompts[] = {"none", "login", "consent", NULL};
    static const char *const claims[] = {
        "sub",   "iss",         "aud",      "exp",         "iat",         "auth_time",
        "nonce", "at_hash",     "azp",      "name",        "given_name",  "family_name",
        "middle_name", "nickname", "preferred_username", "profile", "picture", "website",
        "gender", "birthdate",  "zoneinfo", "locale",      "updated_at",  "email",
        "email_verified", "phone_number", "phone_number_verified", NULL};
    json_t *m = json_object();
    if (m == NULL)
        return NULL;
    json_object_set_new(m, "issuer", json_string(iss));
    json_object_set_new(m, "authorization_endpoint", url(iss, "/authorize"));
    json_object_set_new(m, "token_endpoint", url(iss, "/token"));
    json_object_set_new(m, "userinfo_endpoint", url(iss, "/userinfo"));
    json_object_set_new(m, "jwks_uri", url(iss, "/jwks.json"));
    json_object_set_new(m, "end_session_endpoint", url(iss, "/logout"));
    json_object_set_new(m, "introspection_endpoint", url(iss, "/introspect"));
    json_object_set_new(m, "revocation_endpoint", url(iss, "/revoke"));
    /* draft-emelia-oauth-authorization-management-uri: where users see and revoke the access
     * they gave clients (the account page). */
    json_object_set_new(m, "authorization_management_uri", url(iss, "/account"));
    json_object_set_new(m, "scopes_supported", strings(scopes));
    json_object_set_new(m, "response_types_supported", strings(response_types));
    json_object_set_new(m, "response_modes_supported", strings(response_modes));
    json_object_set_new(m, "grant_types_supported", strings(grants));
    json_object_set_new(m, "subject_types_supported", strings(subjects));
    json_object_set_new(m, "id_token_signing_alg_values_supported", strings(id_algs));
    json_object_set_new(m, "token_endpoint_auth_methods_supported", auth_methods(app, true));
    json_object_set_new(m, "introspection_endpoint_auth_methods_supported",
                        auth_methods(app, false));
    json_object_set_new(m, "revocation_endpoint_auth_methods_supported", auth_methods(app, true));
    /* RFC 8705 §3.3: certificate-bound access tokens, for clients registered for them. */
    if (app->client_certs)
        json_object_set_new(m, "tls_client_certificate_bound_access_tokens", json_true());
    /* RFC 8705 §5: the endpoints a client using mutual TLS must call instead, on the listener
     * that asks for certificates (--mtls-listen). */
    const char *mb = app->cfg->mtls_url;
    if (app->cfg->mtls_listen[0] != '\0' && mb[0] != '\0') {
        json_t *al = json_object();
        json_object_set_new(al, "token_endpoint", url(mb, "/token"));
        json_object_set_new(al, "revocation_endpoint", url(mb, "/revoke"));
        json_object_set_new(al, "introspection_endpoint", url(mb, "/introspect"));
        json_object_set_new(al, "userinfo_endpoint", url(mb, "/userinfo"));
        json_object_set_new(m, "mtls_endpoint_aliases", al);
    }
    json_object_set_new(m, "access_token_signing_alg_values_supported", strings(access_algs));
    json_object_set_new(m, "code_challenge_methods_supported", strings(pkce));
    json_object_set_new(m, "authorization_response_iss_parameter_supported", json_true());
    json_object_set_new(m, "prompt_values_supported", strings(prompts));
    json_object_set_new(m, "claims_supported", strings(claims));
    json_object_set_new(m, "claims_parameter_supported", json_false());
    json_object_set_new(m, "request_parameter_supported", json_false());
    json_object_set_new(m, "request_uri_parameter_supported", json_false());
    return m;
}

int vk_discovery_build(struct vk_app *app)
{
    json_t *m = common_metadata(app);
    if (m == NULL)
        return VK_ENOMEM;
    app->discovery_json = json_dumps(m, JSON_COMPACT);
    app->oidc_json = json_dumps(m, JSON_COMPACT); /* one set of facts, two well-known paths */
    json_decref(m);
    if (app->discovery_json == NULL || app->oidc_json == NULL)
        return VK_ENOMEM;
    app->discovery_len = strlen(app->discovery_json);
    app->oidc_len = strlen(app->oidc_json);
    return VK_OK;
}


int vk_ep_discovery(void *appv, const struct vk_request *rq, struct vk_response *rs)
{
    struct vk_app *app = appv;
    int rc = vk_response_text(rs, rq->arena, 200, "application/json", app->discovery_json,
                              app->discovery_len);
    if (rc == VK_OK)
        rc = vk_response_header(rs, rq->arena, "Cache-Control", "public, max-age=300");
    return rc;
}

int vk_ep_oidc_discovery(void *appv, const struct vk_request *rq, struct vk_response *rs)
{
    struct vk_app *app = appv;
    int rc = vk_response_text(rs, rq->arena, 200, "application/json", app->oidc_json,
                              app->oidc_len);
    if (rc == VK_OK)
        rc = vk_response_header(rs, rq->arena, "Cache-Control", "public, max-age=300");
    return rc;
}

int vk_ep_jwks(void *appv, const struct vk_request *rq, struct vk_response *rs)
{
    struct vk_app *app = appv;
    struct vk_keyset *ks = vk_keyring_acquire(app->keys, rq->now);
    char *body = vk_arena_strdup(rq->arena, (vk_str){ks->jwks_json, ks->jwks_len});
    size_t len = ks->jwks_len;
    vk_keyset_release(ks);
    if (body == NULL)
        return VK_ENOMEM;
    int rc = vk_response_text(rs, rq->arena, 200, "application/jwk-set+json", body, len);
    /* Short caching: verifiers also refetch on an unknown kid, so rotation is seen quickly. */
    if (rc == VK_OK)
        rc = vk_response_header(rs, rq->arena, "Cache-Control", "public, max-age=60");
    return rc;
}

/* GET /healthz: 200 while the store reads and writes; 503 "degraded" while writes fail (a full
 * or failing disk: every change is refused, though self-contained tokens are still issued) and
 * 503 "unavailable" when it cannot even read. Monitoring and load balancers read the status; the
 * body says which, and since when (the log has the error). */
int vk_ep_health(void *appv, const struct vk_request *rq, struct vk_response *rs)
{
    struct vk_app *app = appv;
    struct vk_store_health h;
    static const char ok[] = "{\"status\":\"ok\",\"store\":{\"reads\":\"ok\",\"writes\":\"ok\"}}";
    if (vk_store_health(app->st, &h) != VK_OK)
        h.reads_ok = h.writes_ok = false;
    if (h.reads_ok && h.writes_ok)
        return vk_response_json(rs, rq->arena, 200, ok, sizeof ok - 1);
    char *body = vk_arena_printf(
        rq->arena,
        "{\"status\":\"%s\",\"store\":{\"reads\":\"%s\",\"writes\":\"%s\","
        "\"writes_failing_since\":%lld,\"write_failures\":%lld}}",
        h.reads_ok ? "degraded" : "unavailable", h.reads_ok ? "ok" : "failing",
        h.writes_ok ? "ok" : "failing", (long long)h.writes_failing_since,
        (long long)h.write_failures);
    if (body == NULL)
        return VK_ENOMEM;
    return vk_response_json(rs, rq->arena, 503, body, strlen(body));
}
