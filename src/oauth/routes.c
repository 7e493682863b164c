/* The route table: every path the server answers. Unknown paths get 404, known paths with the
 * wrong method 405 + Allow (http/router.c). */
#include "oauth/app.h"

static const struct vk_route routes[] = {
    /* CORS (checklist #48): allowed on the token, revocation, userinfo, metadata and JWKS
     * endpoints, which browser apps call directly; never on /authorize or the forms. */
    {"/token", VK_METHOD_POST, vk_ep_token, "token", 1},
    {"/introspect", VK_METHOD_POST, vk_ep_introspect, "introspect", 0},
    {"/revoke", VK_METHOD_POST, vk_ep_revoke, "revoke", 1},
    {"/jwks.json", VK_METHOD_GET, vk_ep_jwks, "jwks", 1},
    {"/.well-known/oauth-authorization-server", VK_METHOD_GET, vk_ep_discovery, "discovery", 1},
    {"/.well-known/openid-configuration", VK_METHOD_GET, vk_ep_oidc_discovery, "oidc_discovery",
     1},
    {"/authorize", VK_METHOD_GET | VK_METHOD_POST, vk_ep_authorize, "authorize", 0},
    {"/login", VK_METHOD_POST, vk_ep_login, "login", 0},
    {"/consent", VK_METHOD_POST, vk_ep_consent, "consent", 0},
    {"/userinfo", VK_METHOD_GET | VK_METHOD_POST, vk_ep_userinfo, "userinfo", 1},
    {"/logout", VK_METHOD_GET | VK_METHOD_POST, vk_ep_logout, "logout", 0},
    {"/account", VK_METHOD_GET | VK_METHOD_POST, vk_ep_account, "account", 0},
    {"/healthz", VK_METHOD_GET, vk_ep_health, "healthz", 0},
    {"/metrics", VK_METHOD_GET, vk_ep_metrics, "metrics", 0},
};

const struct vk_router vk_oauth_router = {routes, sizeof routes / sizeof routes[0]};
