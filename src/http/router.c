#include "http/router.h"

#include <string.h>

#include "base/err.h"

int vk_router_find(const struct vk_router *r, vk_str path)
{
    int any = -1;
    for (size_t i = 0; i < r->n; i++) {
        if (vk_str_eq_lit(path, r->routes[i].path))
            return (int)i;
        if (any < 0 && strcmp(r->routes[i].path, "*") == 0)
            any = (int)i;
    }
    return any;
}

static const char *allow_header(unsigned m, char *buf, size_t sz)
{
    static const struct {
        unsigned bit;
        const char *name;
    } names[] = {{VK_METHOD_GET, "GET"}, {VK_METHOD_HEAD, "HEAD"}, {VK_METHOD_POST, "POST"},
                 {VK_METHOD_OPTIONS, "OPTIONS"}, {VK_METHOD_PUT, "PUT"}, {VK_METHOD_DELETE, "DELETE"}};
    size_t o = 0;
    buf[0] = '\0';
    if (m & VK_METHOD_GET)
        m |= VK_METHOD_HEAD;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (!(m & names[i].bit))
            continue;
        size_t n = strlen(names[i].name);
        if (o + n + 3 > sz)
            break;
        if (o > 0) {
            memcpy(buf + o, ", ", 2);
            o += 2;
        }
        memcpy(buf + o, names[i].name, n);
        o += n;
        buf[o] = '\0';
    }
    return buf;
}

int vk_router_dispatch(const struct vk_router *r, void *app, const struct vk_request *rq,
                       struct vk_response *rs, int *route_idx)
{
    int i = vk_router_find(r, rq->path);
    *route_idx = i;
    if (i < 0)
        return vk_response_oauth_error(rs, rq->arena, 404, "not_found", "no such endpoint");
    const struct vk_route *rt = &r->routes[i];
    unsigned m = rt->methods;
    if (m & VK_METHOD_GET)
        m |= VK_METHOD_HEAD;
    if (rt->cors && rq->method == VK_METHOD_OPTIONS) {
        /* A CORS preflight (Fetch standard): browser apps may call this endpoint from any
         * origin; the answer never depends on cookies, so "*" is safe. */
        char allow[64];
        int rc = vk_response_header(rs, rq->arena, "Access-Control-Allow-Origin", "*");
        if (rc == VK_OK)
            rc = vk_response_header(rs, rq->arena, "Access-Control-Allow-Methods",
                                    allow_header(rt->methods, allow, sizeof allow));
        if (rc == VK_OK)
            rc = vk_response_header(rs, rq->arena, "Access-Control-Allow-Headers",
                                    "Authorization, Content-Type, DPoP");
        if (rc == VK_OK)
            rc = vk_response_header(rs, rq->arena, "Access-Control-Max-Age", "600");
        if (rc == VK_OK)
            rc = vk_response_text(rs, rq->arena, 204, NULL, "", 0);
        return rc;
    }
    if (m != VK_METHOD_ANY && !(m & (unsigned)rq->method)) {
        char allow[64];
        int rc = vk_response_oauth_error(rs, rq->arena, 405, "invalid_request",
                                         "method not allowed");
        if (rc == VK_OK)
            rc = vk_response_header(rs, rq->arena, "Allow", allow_header(rt->methods, allow,
                                                                          sizeof allow));
        return rc;
    }
    int rc = rt->fn(app, rq, rs);
    if (rc == VK_OK && rt->cors)
        rc = vk_response_header(rs, rq->arena, "Access-Control-Allow-Origin", "*");
    return rc;
}
