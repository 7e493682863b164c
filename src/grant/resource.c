#include "grant/grant.h"

#include "base/limits.h"

bool vk_resource_syntax_ok(vk_str uri)
{
    /* RFC 3986 §4.3 absolute-URI: scheme ":" hier-part [ "?" query ]; RFC 8707 §2: no fragment. */
    if (uri.len == 0 || uri.len > 2048 || !vk_str_is_visible_ascii(uri, false))
        return false;
    size_t i = 0;
    unsigned char c = (unsigned char)uri.p[0];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')))
        return false;
    for (i = 1; i < uri.len; i++) {
        c = (unsigned char)uri.p[i];
        if (c == ':')
            break;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '+' || c == '-' || c == '.'))
            return false;
    }
    if (i >= uri.len - 1) /* no ':' or nothing after it */
        return false;
    for (size_t j = i; j < uri.len; j++)
        if (uri.p[j] == '#')
            return false;
    return true;
}

int vk_resource_decide(const vk_str *res, size_t n, vk_str registered, vk_str default_aud,
                       struct vk_oauth_err *oe)
{
    if (n > VK_MAX_RESOURCES)
        return vk_oauth_fail(oe, 400, "invalid_target", "too many resource values");
    for (size_t i = 0; i < n; i++) {
        if (!vk_resource_syntax_ok(res[i]))
            return vk_oauth_fail(oe, 400, "invalid_target",
                                 "resource must be an absolute URI without a fragment");
        /* Checklist #31: a token reaches only the resource servers the client was registered
         * for; a client registered for none gets the server's default audience and nothing
         * else, so no client can mint a token for an arbitrary API by naming it. */
        bool ok = registered.len > 0 ? vk_scope_list_contains(registered, res[i])
                                     : default_aud.len > 0 && vk_str_eq(res[i], default_aud);
        if (!ok)
            return vk_oauth_fail(oe, 400, "invalid_target",
                                 "the client is not registered for this resource");
    }
    return VK_OK;
}
