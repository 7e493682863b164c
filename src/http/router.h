/* Static routing: (method, path) -> handler. The table lives in oauth/routes.c. */
#ifndef VK_HTTP_ROUTER_H
#define VK_HTTP_ROUTER_H

#include "http/request.h"

/* A handler fills rs and returns VK_OK, or returns an error code; the server turns an error code
 * into a clean 503 (VK_ENOMEM, VK_ESTORE) or 500-free JSON response, never a crash. */
typedef int (*vk_handler_fn)(void *app, const struct vk_request *rq, struct vk_response *rs);

struct vk_route {
    const char *path; /* exact; "*" matches every path no other route has (a gateway's auth
                         check sees the original request's path) */
    unsigned methods; /* mask of enum vk_method; GET routes also answer HEAD */
    vk_handler_fn fn;
    const char *name; /* short name for metrics and logs */
    int cors;         /* 1: answer CORS preflights and allow any origin (no cookies involved) */
};

struct vk_router {
    const struct vk_route *routes;
    size_t n;
};

/* Finds the route for a path: the exact one, else a "*" route. Returns the index or -1. */
int vk_router_find(const struct vk_router *r, vk_str path);
/* Dispatches: 404 JSON for an unknown path, 405 with Allow for a wrong method, else the handler.
 * *route_idx is the matched route or -1 (for metrics). */
int vk_router_dispatch(const struct vk_router *r, void *app, const struct vk_request *rq,
                       struct vk_response *rs, int *route_idx);

#endif
