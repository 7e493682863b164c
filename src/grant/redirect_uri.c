#include "grant/grant.h"

#include <string.h>

#include "base/err.h"

/* Splits "http://HOST[:PORT]REST" for loopback IP literals; false for anything else. */
static bool loopback_parts(vk_str u, vk_str *host, bool *has_port, vk_str *rest)
{
    static const char *const hosts[] = {"127.0.0.1", "[::1]"};
    if (!vk_str_starts_with_lit(u, "http://"))
        return false;
    vk_str after = {u.p + 7, u.len - 7};
    for (size_t i = 0; i < 2; i++) {
        size_t n = strlen(hosts[i]);
        if (after.len < n || memcmp(after.p, hosts[i], n) != 0)
            continue;
        *host = (vk_str){after.p, n};
        size_t j = n;
        *has_port = false;
        if (j < after.len && after.p[j] == ':') {
            size_t k = j + 1;
            while (k < after.len && after.p[k] >= '0' && after.p[k] <= '9')
                k++;
            if (k == j + 1 || k - j - 1 > 5)
                return false;
            uint64_t port = 0;
            if (vk_parse_u64((vk_str){after.p + j + 1, k - j - 1}, 1, 65535, &port) != VK_OK)
                return false; /* a port is 1..65535 */
            *has_port = true;
            j = k;
        }
        if (j < after.len && after.p[j] != '/' && after.p[j] != '?')
            return false;
        *rest = (vk_str){after.p + j, after.len - j};
        return true;
    }
    return false;
}

static bool loopback_any_port_match(vk_str reg, vk_str req)
{
    vk_str h1, h2, r1, r2;
    bool p1, p2;
    if (!loopback_parts(reg, &h1, &p1, &r1) || !loopback_parts(req, &h2, &p2, &r2))
        return false;
    /* only a registration without a port opts into the variable port */
    return !p1 && vk_str_eq(h1, h2) && vk_str_eq(r1, r2);
}

bool vk_redirect_uri_match(vk_str registered, vk_str requested)
{
    if (requested.len == 0)
        return false;
    vk_str rest = registered, r;
    while (vk_str_next_token(&rest, '\n', &r)) {
        /* RFC 9700 §2.1: exact string comparison, no normalization, no prefixes. */
        if (vk_str_eq(r, requested))
            return true;
        if (loopback_any_port_match(r, requested))
            return true;
    }
    return false;
}
