/* The libmicrohttpd adapter: the only file that includes microhttpd.h. It builds one struct
 * vk_request per request (headers, raw query, size-bounded body, per-request arena), dispatches it
 * through the router, sends the struct vk_response, and wipes the arena. */
#ifndef VK_HTTP_SERVER_H
#define VK_HTTP_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "http/request.h"
#include "http/router.h"
#include "http/tls.h"

/* Called once per finished request (after the response is queued), from a worker thread. */
typedef void (*vk_http_done_fn)(void *app, const struct vk_request *rq,
                                const struct vk_response *rs, int route_idx, int64_t dur_us);

struct vk_http_opts {
    int fd;                       /* a listening socket from vk_http_listen (consumed) */
    unsigned threads;             /* worker threads (0: the CPUs this process may use) */
    unsigned defer_threads;       /* deferred-work threads (0: the CPUs this process may use) */
    unsigned defer_queue;         /* deferred jobs that may wait beyond those running (0: 4 per
                                     thread) */
    unsigned conn_limit;          /* concurrent connections */
    unsigned conn_limit_per_addr; /* concurrent connections per IPv4 address or IPv6 /64 */
    unsigned header_timeout_s;    /* a request head must arrive within this many seconds of the
                                     connection opening or of its previous response (so it is
                                     also the keep-alive idle timeout) */
    unsigned body_timeout_s;      /* grace for the body, counted from the end of the head... */
    unsigned body_min_rate;       /* ...plus one second per this many body bytes (0: the whole
                                     body within body_timeout_s) */
    unsigned shutdown_timeout_s;  /* vk_http_stop: how long requests may still arrive and finish */
    const char *exempt_addr;      /* an address exempt from conn_limit_per_addr (the trusted
                                     reverse proxy), or NULL */
    struct vk_tls *tls;           /* serve HTTPS with this certificate (borrowed: must outlive
                                     the server); NULL: plain HTTP */
    bool request_client_cert;     /* TLS: ask every client for a certificate (optional) */
    const char *client_ca_pem;    /* TLS: the CAs whose names the certificate request lists
                                     (implies request_client_cert; borrowed, must outlive the
                                     server), or NULL: an empty list, any certificate */
    const struct vk_router *router;
    void *app;
    vk_http_done_fn on_done;
};

struct vk_http_server;

/* The defaults (docs/configuration.md): 1024 connections, 64 per address, 10 s for a request
 * head, 10 s + 1 s per KiB for a body, 10 s of shutdown drain; fd -1. */
void vk_http_opts_defaults(struct vk_http_opts *o);
/* Binds and listens on "HOST:PORT" (or "[v6]:PORT"; port 0 picks a free one). *fd is the
 * socket; `bound` receives the address actually bound, "HOST:PORT". */
int vk_http_listen(const char *listen, int *fd, char *bound, size_t boundsz, struct vk_err *err);
/* Starts the worker threads on o->fd (consumed, also on error). Signals should be blocked in the
 * caller before this call so that workers inherit the mask. */
int vk_http_start(const struct vk_http_opts *o, struct vk_http_server **out, struct vk_err *err);
/* Graceful stop (docs/architecture.md, "Shutdown"): stops accepting, closes idle connections,
 * answers everything still arriving with Connection: close for up to shutdown_timeout_s, then
 * cuts requests not yet dispatched, answers deferred jobs not yet started with their fallback,
 * and waits for every dispatched request's response to be sent before stopping the workers.
 * Never closes a connection between a handler's commit and its response. Frees s and returns
 * VK_OK; VK_EIO if dispatched requests did not finish within 30 s more (then s is left running
 * and the caller should exit the process). NULL ok. */
int vk_http_stop(struct vk_http_server *s);

#endif
