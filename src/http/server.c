#include "http/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "base/clock.h"
#include "base/cpu.h"
#include "base/crypto.h"
#include "base/limits.h"
#include "base/log.h"
#include "http/pool.h"

struct vk_http_server {
    struct MHD_Daemon *d;
    int fd;
    struct vk_http_opts o;
    atomic_long in_flight;
    struct vk_pool *pool; /* deferred work (vk_response_defer) */
};

/* Where a request's deferred work stands (conn_ctx.defer). */
enum { DEFER_NONE, DEFER_QUEUED, DEFER_DONE, DEFER_CANCELLED };

/* Per-request state, created in the URI callback (the first thing MHD tells us). */
struct conn_ctx {
    struct vk_arena arena;
    char *body;
    size_t body_len;
    int64_t start_us;
    int too_big;      /* the body passed VK_MAX_BODY: discarding until the end, then 413 */
    size_t discarded;
    int bad_query;
    int done;
    int route_idx;
    /* Deferred work: the connection is suspended from submission until the job (or its
     * cancellation at shutdown) resumes it; the worker thread then sends `drs` or `fallback`. */
    struct vk_http_server *srv;
    struct MHD_Connection *con;
    atomic_int defer;
    struct vk_response fallback;
    struct vk_response drs;
    int drc;
    struct vk_request rq; /* last, and its header array last in it: not zeroed (2 KiB) */
};

static void *uri_cb(void *cls, const char *uri, struct MHD_Connection *con)
{
    struct vk_http_server *s = cls;
    struct conn_ctx *c = malloc(sizeof *c);
    if (c == NULL)
        return NULL;
    memset(c, 0, offsetof(struct conn_ctx, rq) + offsetof(struct vk_request, headers));
    atomic_fetch_add(&s->in_flight, 1);
    c->srv = s;
    c->con = con;
    c->route_idx = -1;
    atomic_init(&c->defer, DEFER_NONE);
    c->start_us = vk_mono_us();
    vk_arena_init(&c->arena, VK_REQ_ARENA_CAP);
    c->rq.arena = &c->arena;
    const char *q = uri != NULL ? strchr(uri, '?') : NULL;
    if (q != NULL) {
        size_t n = strlen(q + 1);
        if (n > VK_MAX_QUERY) {
            c->bad_query = 1;
        } else {
            char *copy = vk_arena_strdup(&c->arena, (vk_str){q + 1, n});
            if (copy != NULL)
                c->rq.raw_query = (vk_str){copy, n};
            else
                c->bad_query = 1;
        }
    }
    return c;
}

static void completed_cb(void *cls, struct MHD_Connection *con, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct vk_http_server *s = cls;
    (void)con;
    (void)toe;
    struct conn_ctx *c = *con_cls;
    if (c == NULL)
        return;
    if (c->body != NULL) {
        vk_wipe(c->body, c->body_len);
        free(c->body);
    }
    vk_arena_clear(&c->arena);
    free(c);
    *con_cls = NULL;
    atomic_fetch_sub(&s->in_flight, 1);
}

static enum MHD_Result header_cb(void *cls, enum MHD_ValueKind kind, const char *key,
                                 size_t key_size, const char *value, size_t value_size)
{
    struct vk_request *rq = cls;
    (void)kind;
    if (rq->n_headers >= VK_MAX_HEADERS)
        return MHD_NO;
    rq->headers[rq->n_headers].name = (vk_str){key, key_size};
    rq->headers[rq->n_headers].value = (vk_str){value != NULL ? value : "", value_size};
    rq->n_headers++;
    return MHD_YES;
}

static enum vk_method method_of(const char *m)
{
    if (strcmp(m, "GET") == 0)
        return VK_METHOD_GET;
    if (strcmp(m, "POST") == 0)
        return VK_METHOD_POST;
    if (strcmp(m, "HEAD") == 0)
        return VK_METHOD_HEAD;
    if (strcmp(m, "OPTIONS") == 0)
        return VK_METHOD_OPTIONS;
    if (strcmp(m, "PUT") == 0)
        return VK_METHOD_PUT;
    if (strcmp(m, "DELETE") == 0)
        return VK_METHOD_DELETE;
    return VK_METHOD_OTHER;
}

static void peer_of(struct MHD_Connection *con, char *out, size_t sz)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(con, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    out[0] = '\0';
    if (ci == NULL || ci->client_addr == NULL)
        return;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, out,
                  (socklen_t)sz);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, out,
                  (socklen_t)sz);
}

static enum MHD_Result send_response(struct vk_http_server *s, struct MHD_Connection *con,
                                     struct conn_ctx *c, struct vk_response *rs, int route_idx)
{
    /* The body lives in the request arena (or is static), which is released only in the
     * completion callback, after MHD has sent it: no copy needed. */
    struct MHD_Response *r = MHD_create_response_from_buffer(rs->body_len, (void *)rs->body,
                                                             MHD_RESPMEM_PERSISTENT);
    if (r == NULL)
        return MHD_NO;
    if (rs->content_type != NULL)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, rs->content_type);
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
    for (size_t i = 0; i < rs->n_headers; i++)
        MHD_add_response_header(r, rs->headers[i].name.p, rs->headers[i].value.p);
    enum MHD_Result ret = MHD_queue_response(con, (unsigned)rs->status, r);
    MHD_destroy_response(r);
    c->done = 1;
    if (s->o.on_done != NULL)
        s->o.on_done(s->o.app, &c->rq, rs, route_idx, vk_mono_us() - c->start_us);
    return ret;
}

/* Answers at once. When called while the body is still arriving, MHD sends the response and
 * closes the connection instead of reading the rest. */
static enum MHD_Result error_now(struct vk_http_server *s, struct MHD_Connection *con,
                                 struct conn_ctx *c, int status, const char *error,
                                 const char *desc)
{
    struct vk_response rs;
    memset(&rs, 0, sizeof rs);
    if (vk_response_oauth_error(&rs, &c->arena, status, error, desc) != VK_OK) {
        rs.status = status;
        rs.body = "";
        rs.body_len = 0;
    }
    return send_response(s, con, c, &rs, -1);
}

/* Sends a handler's (or a deferred function's) result: an error code or an unfilled response
 * becomes a clean 400 or 503. */
static enum MHD_Result finish(struct vk_http_server *s, struct MHD_Connection *con,
                              struct conn_ctx *c, int rc, struct vk_response *rs)
{
    rs->defer_fn = NULL;
    if (rc != VK_OK || rs->status == 0) {
        memset(rs, 0, sizeof *rs);
        int st = (rc == VK_EINVAL || rc == VK_ETOOBIG) ? 400 : 503;
        const char *e = st == 400 ? "invalid_request" : "temporarily_unavailable";
        if (vk_response_oauth_error(rs, &c->arena, st, e,
                                    st == 400 ? "malformed request" : "try again later") != VK_OK) {
            rs->status = st;
            rs->body = "";
        }
    }
    return send_response(s, con, c, rs, c->route_idx);
}

/* Pool thread: runs the deferred function, then hands the connection back to its worker. */
static void defer_run(void *arg)
{
    struct conn_ctx *c = arg;
    memset(&c->drs, 0, sizeof c->drs);
    c->drc = c->fallback.defer_fn(c->srv->o.app, &c->rq, &c->drs, c->fallback.defer_arg);
    /* What the router adds after a handler returns, it adds to a deferred result too. */
    const struct vk_router *r = c->srv->o.router;
    if (c->drc == VK_OK && c->route_idx >= 0 && (size_t)c->route_idx < r->n &&
        r->routes[c->route_idx].cors)
        c->drc = vk_response_header(&c->drs, &c->arena, "Access-Control-Allow-Origin", "*");
    atomic_store(&c->defer, DEFER_DONE);
    MHD_resume_connection(c->con);
}

/* The job never started (shutdown): the worker sends the fallback. */
static void defer_cancel(void *arg)
{
    struct conn_ctx *c = arg;
    atomic_store(&c->defer, DEFER_CANCELLED);
    MHD_resume_connection(c->con);
}

/* The handler asked for deferred work (vk_response_defer): with a pool slot, suspend the
 * connection (so this worker thread goes on serving its other connections) and queue the job;
 * without one, send the handler's fallback at once. The slot is taken before suspending, so a
 * job can never resume a connection that is not suspended yet. */
static enum MHD_Result defer(struct vk_http_server *s, struct MHD_Connection *con,
                             struct conn_ctx *c, struct vk_response *rs)
{
    if (!vk_pool_reserve(s->pool))
        return finish(s, con, c, VK_OK, rs);
    c->fallback = *rs;
    atomic_store(&c->defer, DEFER_QUEUED);
    MHD_suspend_connection(con);
    vk_pool_submit(s->pool, c);
    return MHD_YES;
}

static enum MHD_Result access_cb(void *cls, struct MHD_Connection *con, const char *url,
                                 const char *method, const char *version, const char *upload,
                                 size_t *upload_size, void **con_cls)
{
    struct vk_http_server *s = cls;
    struct conn_ctx *c = *con_cls;
    (void)version;
    if (c == NULL)
        return MHD_NO; /* the URI callback could not allocate: drop the connection */
    if (c->done) {
        *upload_size = 0; /* an early response was queued; discard the rest */
        return MHD_YES;
    }
    switch (atomic_load(&c->defer)) {
    case DEFER_NONE:
        break;
    case DEFER_DONE: /* resumed by defer_run */
        return finish(s, con, c, c->drc, &c->drs);
    case DEFER_CANCELLED:
        return finish(s, con, c, VK_OK, &c->fallback);
    default:
        return MHD_YES; /* not resumed yet (MHD calls only after a resume) */
    }
    if (c->rq.path.p == NULL) {
        /* First call: headers are complete, no body yet. */
        c->rq.method = method_of(method);
        c->rq.path = vk_str_c(url);
        c->rq.now_ms = vk_now_ms();
        c->rq.now = c->rq.now_ms / 1000;
        peer_of(con, c->rq.peer, sizeof c->rq.peer);
        if (MHD_get_connection_values_n(con, MHD_HEADER_KIND, header_cb, &c->rq) < 0 ||
            c->rq.n_headers >= VK_MAX_HEADERS)
            return error_now(s, con, c, 431, "invalid_request", "too many header fields");
        if (c->bad_query)
            return error_now(s, con, c, 414, "invalid_request", "query string too long");
        const char *cl = MHD_lookup_connection_value(con, MHD_HEADER_KIND,
                                                     MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl != NULL) {
            uint64_t n;
            if (vk_parse_u64(vk_str_c(cl), 0, UINT64_MAX, &n) != VK_OK)
                return error_now(s, con, c, 400, "invalid_request", "bad Content-Length");
            /* Declared too large: answer before reading any of it. */
            if (n > VK_MAX_BODY)
                return error_now(s, con, c, 413, "invalid_request", "request body too large");
        }
        return MHD_YES;
    }
    if (*upload_size > 0) {
        size_t n = *upload_size, total;
        if (c->too_big) {
            /* A chunked body passed the limit: MHD sends nothing until the body ends, so drain
             * up to VK_DISCARD_MAX for a clean 413, and past that drop the connection. */
            c->discarded += n;
            *upload_size = 0;
            if (c->discarded > VK_DISCARD_MAX)
                return MHD_NO; /* close the connection: no more reading */
            return MHD_YES;
        }
        if (__builtin_add_overflow(c->body_len, n, &total) || total > VK_MAX_BODY) {
            c->too_big = 1;
            c->discarded = c->body_len + n;
            vk_wipe(c->body, c->body_len);
            free(c->body);
            c->body = NULL;
            c->body_len = 0;
            *upload_size = 0;
            return MHD_YES;
        }
        char *nb = realloc(c->body, total + 1);
        if (nb == NULL)
            return error_now(s, con, c, 503, "temporarily_unavailable", "out of memory");
        c->body = nb;
        memcpy(c->body + c->body_len, upload, n);
        c->body_len = total;
        c->body[total] = '\0';
        *upload_size = 0;
        return MHD_YES;
    }
    /* Final call: the whole request is here. */
    if (c->too_big)
        return error_now(s, con, c, 413, "invalid_request", "request body too large");
    c->rq.body = (vk_str){c->body != NULL ? c->body : "", c->body_len};
    struct vk_response rs;
    memset(&rs, 0, sizeof rs);
    int rc = vk_router_dispatch(s->o.router, s->o.app, &c->rq, &rs, &c->route_idx);
    if (rc == VK_OK && rs.defer_fn != NULL && rs.status != 0)
        return defer(s, con, c, &rs);
    return finish(s, con, c, rc, &rs);
}

static int parse_listen(const char *listen, struct sockaddr_storage *ss, socklen_t *sl,
                        struct vk_err *err)
{
    char host[256];
    const char *colon = strrchr(listen, ':');
    if (colon == NULL)
        return vk_err_set(err, VK_EINVAL, "listen address must be HOST:PORT");
    size_t hl = (size_t)(colon - listen);
    const char *h = listen;
    if (hl >= 2 && listen[0] == '[' && listen[hl - 1] == ']') {
        h = listen + 1;
        hl -= 2;
    }
    if (hl == 0 || hl >= sizeof host)
        return vk_err_set(err, VK_EINVAL, "bad listen host");
    memcpy(host, h, hl);
    host[hl] = '\0';
    uint64_t port;
    if (vk_parse_u64(vk_str_c(colon + 1), 0, 65535, &port) != VK_OK)
        return vk_err_set(err, VK_EINVAL, "bad listen port");
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    char ports[8];
    snprintf(ports, sizeof ports, "%u", (unsigned)port);
    if (getaddrinfo(host, ports, &hints, &res) != 0 || res == NULL)
        return vk_err_set(err, VK_EINVAL, "cannot resolve listen host");
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *sl = res->ai_addrlen;
    freeaddrinfo(res);
    return VK_OK;
}

int vk_http_listen(const char *listen_addr, int *fdp, char *bound, size_t boundsz,
                   struct vk_err *err)
{
    struct sockaddr_storage ss;
    socklen_t sl = 0;
    *fdp = -1;
    int rc = parse_listen(listen_addr, &ss, &sl, err);
    if (rc != VK_OK)
        return rc;
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return vk_err_set(err, VK_EIO, "socket: %s", strerror(errno));
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&ss, sl) != 0 || listen(fd, 1024) != 0) {
        rc = vk_err_set(err, VK_EIO, "cannot listen on %s: %s", listen_addr, strerror(errno));
        close(fd);
        return rc;
    }
    sl = sizeof ss;
    getsockname(fd, (struct sockaddr *)&ss, &sl);
    char addr[INET6_ADDRSTRLEN];
    if (ss.ss_family == AF_INET6) {
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
        inet_ntop(AF_INET6, &a6->sin6_addr, addr, sizeof addr);
        snprintf(bound, boundsz, "[%s]:%u", addr, (unsigned)ntohs(a6->sin6_port));
    } else {
        struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
        inet_ntop(AF_INET, &a4->sin_addr, addr, sizeof addr);
        snprintf(bound, boundsz, "%s:%u", addr, (unsigned)ntohs(a4->sin_port));
    }
    *fdp = fd;
    return VK_OK;
}

int vk_http_start(const struct vk_http_opts *o, struct vk_http_server **out, struct vk_err *err)
{
    int fd = o->fd;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    *out = NULL;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0) {
        close(fd);
        return vk_err_set(err, VK_EIO, "not a socket");
    }
    struct vk_http_server *s = calloc(1, sizeof *s);
    if (s == NULL) {
        close(fd);
        return vk_err_set(err, VK_ENOMEM, "out of memory");
    }
    s->fd = fd;
    s->o = *o;
    atomic_init(&s->in_flight, 0);
    unsigned threads = o->threads != 0 ? o->threads : vk_cpus_usable();
    unsigned dthreads = o->defer_threads != 0 ? o->defer_threads : vk_cpus_usable();
    unsigned dqueue = o->defer_queue != 0 ? o->defer_queue : 4 * dthreads;
    if (vk_pool_start(dthreads, dqueue, defer_run, defer_cancel, &s->pool) != VK_OK) {
        close(fd);
        free(s);
        return vk_err_set(err, VK_ENOMEM, "cannot start the deferred-work threads");
    }
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC |
                     MHD_ALLOW_SUSPEND_RESUME;
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    s->d = MHD_start_daemon(
        flags, 0, NULL, NULL, access_cb, s, MHD_OPTION_LISTEN_SOCKET, fd,
        MHD_OPTION_THREAD_POOL_SIZE, threads, MHD_OPTION_URI_LOG_CALLBACK, uri_cb, s,
        MHD_OPTION_NOTIFY_COMPLETED, completed_cb, s, MHD_OPTION_CONNECTION_LIMIT,
        o->conn_limit ? o->conn_limit : 1024, MHD_OPTION_CONNECTION_TIMEOUT,
        o->timeout_s ? o->timeout_s : 30, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)VK_CONN_MEMORY, MHD_OPTION_END);
    if (s->d == NULL) {
        close(fd);
        vk_pool_stop(s->pool);
        free(s);
        return vk_err_set(err, VK_EIO, "cannot start the HTTP server");
    }
    *out = s;
    return VK_OK;
}

void vk_http_stop(struct vk_http_server *s)
{
    if (s == NULL)
        return;
    /* Stop accepting, then give requests in flight up to 10 s to finish before closing. */
    MHD_socket lfd = MHD_quiesce_daemon(s->d);
    for (int i = 0; i < 1000 && atomic_load(&s->in_flight) > 0; i++) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    /* Deferred jobs not started get their fallback; running ones finish. MHD must not be stopped
     * while a connection is still suspended (it aborts), so wait for every job to resume its. */
    vk_pool_close(s->pool);
    while (vk_pool_busy(s->pool) > 0) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    MHD_stop_daemon(s->d);
    vk_pool_stop(s->pool);
    if (lfd != MHD_INVALID_SOCKET)
        close(lfd);
    free(s);
}
