/* Redirect URIs: the rules a URI must meet to be registered, and the match at /authorize and
 * /logout. Both parse the URI with vk_uri_parse() (uri.c), so registration and matching cannot
 * read one URI two ways: the loopback check once looked at the bytes after "http://", and
 * "http://127.0.0.1:x@evil.example/cb" (user information "127.0.0.1:x", host evil.example)
 * passed it. */
#include "grant/grant.h"

#include <string.h>

/* A port, when present, is 1..65535 (an empty "host:" is refused too). */
static bool port_ok(const struct vk_uri *u)
{
    uint64_t port;
    return !u->has_port || (u->port.len <= 5 && vk_parse_u64(u->port, 1, 65535, &port) == VK_OK);
}

const char *vk_redirect_uri_check(vk_str uri, struct vk_uri *out)
{
    struct vk_uri u;
    if (out != NULL)
        memset(out, 0, sizeof *out);
    if (uri.len == 0 || uri.len > VK_URI_MAX_LEN || !vk_str_is_visible_ascii(uri, false))
        return "must be 1 to 2048 visible ASCII characters without spaces";
    if (vk_uri_parse(uri, &u) != VK_OK)
        return "is not a valid absolute URI (RFC 3986)";
    /* RFC 6749 §3.1.2: the redirection endpoint URI MUST NOT include a fragment component. */
    if (u.has_fragment)
        return "must not contain a fragment";
    /* User information is deprecated (RFC 3986 §3.2.1) and is what hides the real host in
     * "http://127.0.0.1:x@evil.example/". */
    if (u.has_userinfo)
        return "must not contain user information (user@host)";
    if (!port_ok(&u))
        return "has a bad port (1..65535)";
    if (vk_str_eq_nocase_lit(u.scheme, "https")) {
        if (!u.has_authority || u.host.len == 0)
            return "needs a host";
    } else if (vk_str_eq_nocase_lit(u.scheme, "http")) {
        /* RFC 9700 §2.6, OAuth 2.1 §1.5 / checklist #6: http only on loopback (RFC 8252 §7.3;
         * `localhost` per §8.3 is allowed, but only for an exact match: see below). */
        if (!vk_uri_host_is_loopback(&u))
            return "may use http only with the host 127.0.0.1, [::1] or localhost; use https";
    } else if (memchr(u.scheme.p, '.', u.scheme.len) == NULL) {
        /* RFC 8252 §7.1: a private-use scheme is a reverse domain name (com.example.app:/cb),
         * which also keeps out javascript:, data:, file: and the like. */
        return "must use https, loopback http, or a reverse-domain private-use scheme";
    }
    if (out != NULL)
        *out = u;
    return NULL;
}

/* RFC 8252 §7.3 / checklist #1: a registered http loopback IP literal URI without a port matches
 * the same URI with any port. Only the IP literals: RFC 8252 §8.3 recommends against localhost,
 * and a name can resolve to something other than the loopback interface. */
static bool loopback_any_port_match(const struct vk_uri *reg, const struct vk_uri *req)
{
    return vk_str_eq_lit(reg->scheme, "http") && vk_str_eq_lit(req->scheme, "http") &&
           vk_uri_host_is_loopback_ip(reg) && !reg->has_port && vk_str_eq(reg->host, req->host) &&
           vk_str_eq(reg->path, req->path) && reg->has_query == req->has_query &&
           vk_str_eq(reg->query, req->query);
}

bool vk_redirect_uri_match(vk_str registered, vk_str requested)
{
    struct vk_uri req, reg;
    /* A requested URI that could not be registered today never matches, whatever an older
     * registration holds. */
    if (vk_redirect_uri_check(requested, &req) != NULL)
        return false;
    vk_str rest = registered, r;
    while (vk_str_next_token(&rest, '\n', &r)) {
        /* RFC 9700 §2.1: exact string comparison, no normalization, no prefixes. */
        if (vk_str_eq(r, requested))
            return true;
        if (vk_redirect_uri_check(r, &reg) == NULL && loopback_any_port_match(&reg, &req))
            return true;
    }
    return false;
}
