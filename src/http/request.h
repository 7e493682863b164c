/* The request and response every handler sees. Handlers never touch libmicrohttpd: they read a
 * struct vk_request (everything borrowed from the per-request arena) and fill a struct
 * vk_response. Both live for exactly one request. */
#ifndef VK_HTTP_REQUEST_H
#define VK_HTTP_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/arena.h"
#include "base/limits.h"
#include "base/str.h"

enum vk_method {
    VK_METHOD_OTHER = 0,
    VK_METHOD_GET = 1 << 0,
    VK_METHOD_POST = 1 << 1,
    VK_METHOD_HEAD = 1 << 2,
    VK_METHOD_OPTIONS = 1 << 3,
    VK_METHOD_PUT = 1 << 4,
    VK_METHOD_DELETE = 1 << 5,
};
/* A route mask that admits every method, VK_METHOD_OTHER included. */
#define VK_METHOD_ANY (~0u)

struct vk_header {
    vk_str name;
    vk_str value;
};

struct vk_param {
    vk_str name;
    vk_str value;
};

/* Decoded form or query parameters, in order of appearance. */
struct vk_params {
    struct vk_param *v;
    size_t n;
};

struct vk_request {
    struct vk_arena *arena; /* per-request; wiped and freed after the response is sent */
    enum vk_method method;
    vk_str method_name;     /* the method as received ("PATCH" for VK_METHOD_OTHER) */
    vk_str path;            /* percent-decoded by the HTTP layer, no query */
    vk_str raw_query;       /* undecoded, without '?'; empty if none */
    vk_str body;            /* at most VK_MAX_BODY bytes */
    char peer[64];          /* remote address, printable */
    int64_t now;            /* wall-clock seconds at arrival: handlers use this, not the clock */
    int64_t now_ms;         /* the same instant in milliseconds (0 if a test pinned only `now`:
                               use vk_request_now_ms) */
    bool tls;               /* arrived over TLS (on this server, not at a proxy) */
    /* The certificates the TLS peer presented in its handshake (DER, leaf first), NOT verified:
     * what a certificate is worth is decided by auth/ (RFC 8705 §2). 0 when none (or plain
     * HTTP). A reverse proxy's forwarded certificate is not here (oauth/common.c). */
    size_t n_client_certs;
    vk_str client_certs[VK_MAX_CERT_CHAIN];
    size_t n_headers;
    struct vk_header headers[VK_MAX_HEADERS]; /* last: only the first n_headers are set */
};

#define VK_MAX_RESP_HEADERS 16

struct vk_response;

/* Deferred work: a function that computes a response off the HTTP worker thread, for handlers
 * whose work is long or CPU-heavy (Argon2 password hashing) and would otherwise stall every other
 * connection served by the same libmicrohttpd worker thread. See vk_response_defer. */
typedef int (*vk_deferred_fn)(void *app, const struct vk_request *rq, struct vk_response *rs,
                              void *arg);

struct vk_response {
    int status;
    const char *content_type;
    struct vk_header headers[VK_MAX_RESP_HEADERS];
    size_t n_headers;
    const char *body; /* arena or static */
    size_t body_len;
    const char *log_client; /* client id for the access log (arena or static), or NULL */
    vk_deferred_fn defer_fn; /* set by vk_response_defer, else NULL */
    void *defer_arg;
};

/* The arrival time in milliseconds: now_ms, or `now` in whole seconds when only that was set. */
static inline int64_t vk_request_now_ms(const struct vk_request *rq)
{
    return rq->now_ms != 0 ? rq->now_ms : rq->now * 1000;
}

/* Case-insensitive header lookup; false when absent. When the header repeats, *value is the
 * first occurrence: callers that must refuse a repeat count them with vk_request_header_count. */
bool vk_request_header(const struct vk_request *rq, const char *name, vk_str *value);
/* Counts occurrences of a header. */
size_t vk_request_header_count(const struct vk_request *rq, const char *name);

/* Looks up a parameter. RFC 6749 §3.1: a parameter sent without a value is treated as omitted.
 * Returns the number of non-empty occurrences (0, 1 or more); *value is the first one. */
size_t vk_params_get(const struct vk_params *ps, const char *name, vk_str *value);
/* True if any parameter name other than those in `allowed_repeat` (NULL-terminated list, may be
 * NULL) appears more than once with a value; *name receives the first such name. RFC 6749 §3.1:
 * request parameters must not be included more than once. */
bool vk_params_find_repeat(const struct vk_params *ps, const char *const *allowed_repeat,
                           vk_str *name);

/* Response builders. Every string is copied into the arena unless marked static. */
int vk_response_header(struct vk_response *rs, struct vk_arena *a, const char *name,
                       const char *value);
/* JSON body with Cache-Control: no-store and Pragma: no-cache (RFC 6749 §5.1, OAuth 2.1 §3.2.3).
 * body must stay valid until the response is sent (arena or static). */
int vk_response_json(struct vk_response *rs, struct vk_arena *a, int status, const char *body,
                     size_t len);
/* RFC 6749 §5.2 error: {"error":..., "error_description":...}, JSON-escaped, no-store. */
int vk_response_oauth_error(struct vk_response *rs, struct vk_arena *a, int status,
                            const char *error, const char *description);
/* A text/plain or other body with the given content type (static string). */
int vk_response_text(struct vk_response *rs, struct vk_arena *a, int status,
                     const char *content_type, const char *body, size_t len);

/* Asks the HTTP layer to compute the response with fn(app, rq, fresh_rs, arg) on its bounded
 * pool of deferred-work threads (http/server.c) instead of on the worker thread that called the
 * handler. The contract:
 *  - The handler returns VK_OK with *rs already filled with the FALLBACK response: the one sent,
 *    at once, when the pool cannot take the job (every thread busy and its short queue full) or
 *    when the server is shutting down before the job started (a 503 with Retry-After, say). The
 *    fallback must be complete and valid on its own; it is not sent when fn runs.
 *  - fn runs at most once, on a pool thread, while the connection is suspended: it gets the same
 *    rq (its arena, body and headers stay valid) and a zeroed response, which it fills and
 *    returns like a handler (an error code gives the usual clean 400/503). Only one thread uses
 *    rq and its arena at a time: the handler's thread until it returns, then fn's. fn must not
 *    call vk_response_defer again (ignored).
 *  - arg is borrowed (typically allocated in rq->arena) and must stay valid until the response is
 *    sent; since fn may never run, arg must not own anything that needs releasing other than
 *    arena memory.
 *  - fn must be bounded in time: shutdown waits for running jobs (docs/architecture.md).
 * Handlers driven without the HTTP server (unit tests) finish the job with
 * vk_response_run_deferred. */
void vk_response_defer(struct vk_response *rs, vk_deferred_fn fn, void *arg);
/* Runs a deferral requested by a handler synchronously on the calling thread, replacing *rs with
 * what fn produced (the fallback is discarded). Returns fn's result; VK_OK when nothing was
 * deferred. For tests and callers outside the HTTP server. */
int vk_response_run_deferred(void *app, const struct vk_request *rq, struct vk_response *rs);

/* JSON string escaping of s (without the quotes) appended into an arena string. */
char *vk_json_escape(struct vk_arena *a, vk_str s);

#endif
