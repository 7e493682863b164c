/* The libmicrohttpd adapter: the only file that includes microhttpd.h. It builds one struct
 * vk_request per request (headers, raw query, size-bounded body, per-request arena), dispatches it
 * through the router, sends the struct vk_response, and wipes the arena. */
#ifndef VK_HTTP_SERVER_H
#define VK_HTTP_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "http/request.h"
#include "http/router.h"

/* Called once per finished request (after the response is queued), from a worker thread. */
typedef void (*vk_http_done_fn)(void *app, const struct vk_request *rq,
                                const struct vk_response *rs, int route_idx, int64_t dur_us);

struct vk_http_opts {
    int fd;                 /* a listening socket from vk_http_listen (consumed) */
    unsigned threads;       /* worker threads (0: the CPUs this process may use) */
    unsigned defer_threads; /* deferred-work threads (0: the CPUs this process may use) */
    unsigned defer_queue;   /* deferred jobs that may wait beyond those running (0: 4 per thread) */
    unsigned conn_limit;    /* concurrent connections */
    unsigned timeout_s;     /* idle connection timeout */
    const struct vk_router *router;
    void *app;
    vk_http_done_fn on_done;
};

struct vk_http_server;

/* Binds and listens on "HOST:PORT" (or "[v6]:PORT"; port 0 picks a free one). *fd is the
 * socket; `bound` receives the address actually bound, "HOST:PORT". */
int vk_http_listen(const char *listen, int *fd, char *bound, size_t boundsz, struct vk_err *err);
/* Starts the worker threads on o->fd (consumed, also on error). Signals should be blocked in the
 * caller before this call so that workers inherit the mask. */
int vk_http_start(const struct vk_http_opts *o, struct vk_http_server **out, struct vk_err *err);
/* Stops accepting, waits (bounded) for requests in flight, stops the workers, frees. NULL ok. */
void vk_http_stop(struct vk_http_server *s);

#endif
