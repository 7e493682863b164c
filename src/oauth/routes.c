/* The route table: every path the server answers. Unknown paths get 404, known paths with the
 * wrong method 405 + Allow (http/router.c). */
#include "oauth/app.h"

static const struct vk_route routes[] = {
    {"/token", VK_METHOD_POST, vk_ep_token, "token"},
    {"/introspect", VK_METHOD_POST, vk_ep_introspect, "introspect"},
    {"/revoke", VK_METHOD_POST, vk_ep_revoke, "revoke"},
    {"/jwks.json", VK_METHOD_GET, vk_ep_jwks, "jwks"},
    {"/.well-known/oauth-authorization-server", VK_METHOD_GET, vk_ep_discovery, "discovery"},
    {"/.well-known/openid-configuration", VK_METHOD_GET, vk_ep_oidc_discovery, "oidc_discovery"},
    {"/authorize", VK_METHOD_GET | VK_METHOD_POST, vk_ep_authorize, "authorize"},
    {"/login", VK_METHOD_POST, vk_ep_login, "login"},
    {"/consent", VK_METHOD_POST, vk_ep_consent, "consent"},
    {"/userinfo", VK_METHOD_GET | VK_METHOD_POST, vk_ep_userinfo, "userinfo"},
    {"/logout", VK_METHOD_GET | VK_METHOD_POST, vk_ep_logout, "logout"},
    {"/healthz", VK_METHOD_GET, vk_ep_health, "healthz"},
    {"/metrics", VK_METHOD_GET, vk_ep_metrics, "metrics"},
};

const struct vk_router vk_oauth_router = {routes, sizeof routes / sizeof routes[0]};
