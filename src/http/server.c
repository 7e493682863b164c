#include "http/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
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
#include "base/ip.h"
#include "base/limits.h"
#include "base/log.h"
#include "http/hostcount.h"
#include "http/pool.h"

/* Where a connection stands, as far as deadlines and shutdown are concerned. Every change is
 * made under vk_http_server.mu, so the reaper (and vk_http_stop) can never cut a connection
 * after its request was handed to a handler: BUSY connections are never killed.
 *   IDLE    waiting for a request head (since it opened, or since its previous response was
 *           sent): cut at the head deadline, and at once when the server stops
 *   BODY    head received, body arriving: cut when the body falls behind its minimum rate, or
 *           at the end of the shutdown drain
 *   BUSY    dispatched: the handler (or its deferred job) runs or the response is being sent;
 *           ends in the completion callback
 *   KILLED  cut (shutdown(2) on its socket): MHD sees the end of the stream and closes it; no
 *           callback of ours dispatches a request on it any more */
enum conn_state { CONN_IDLE, CONN_BODY, CONN_BUSY, CONN_KILLED };

struct vk_conn {
    struct vk_conn *prev, *next;
    int fd;
    enum conn_state state;
    int64_t deadline_ms;   /* IDLE, BODY: monotonic ms at which it is cut */
    int64_t body_start_ms; /* BODY */
    uint64_t body_seen;
    struct vk_host_key key;
    bool counted; /* holds one count of key in the per-host table */
    struct vk_http_server *srv;
    struct vk_tls_cred *tls_cred; /* the certificate generation its handshake used (http/tls.c);
                                     touched only on the connection's own thread */
};

struct vk_http_server {
    struct MHD_Daemon *d;
    struct vk_http_opts o;
    struct vk_ip exempt; /* no per-address cap (the trusted proxy); family 0: none */
    struct vk_pool *pool; /* deferred work (vk_response_defer) */
    atomic_bool stopping; /* read without the lock by send_response */

    pthread_mutex_t mu; /* guards everything below */
    struct vk_conn *conns;
    size_t n_conns;
    size_t n_busy;
    struct vk_hostcount *hosts;
    bool refusing; /* end of the drain: nothing more is dispatched */
    /* the reaper thread */
    pthread_cond_t cv;
    pthread_t reaper;
    bool reaper_on;
    bool reaper_exit;
    /* counters for the periodic log line */
    uint64_t refused_per_address, refused_table, head_timeouts, body_timeouts;
    uint64_t logged[4];
    char last_refused[INET6_ADDRSTRLEN];
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
    int close_after; /* the response must close the connection (RFC 9112 §6.3) */
    int done;
    int route_idx;
    struct vk_conn *conn; /* the connection's tracking record (NULL: untracked, refused) */
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

static int64_t now_ms(void)
{
    return vk_mono_us() / 1000;
}

void vk_http_opts_defaults(struct vk_http_opts *o)
{
    memset(o, 0, sizeof *o);
    o->fd = -1;
    o->conn_limit = 1024;
    o->conn_limit_per_addr = 64;
    o->header_timeout_s = 10;
    o->body_timeout_s = 10;
    o->body_min_rate = 1024;
    o->shutdown_timeout_s = 10;
}

/* ---- connection tracking: accept policy, deadlines, shutdown ---- */

static void ip_of_sockaddr(const struct sockaddr *sa, struct vk_ip *ip)
{
    memset(ip, 0, sizeof *ip);
    if (sa == NULL)
        return;
    if (sa->sa_family == AF_INET)
        vk_ip_from_bytes(ip,
                         (const uint8_t *)&((const struct sockaddr_in *)(const void *)sa)->sin_addr,
                         4);
    else if (sa->sa_family == AF_INET6)
        vk_ip_from_bytes(
            ip, ((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr.s6_addr, 16);
}

/* Cuts a connection: MHD, which owns the socket, sees the end of the stream and closes it
 * (MHD_stop_daemon closes connections the same way). Called with mu held, and only for a
 * connection still in the list: the list entry goes in the CLOSED notification, which MHD sends
 * before it closes the descriptor, so the descriptor is still ours to shut down. */
static void conn_kill(struct vk_conn *cn)
{
    cn->state = CONN_KILLED;
    shutdown(cn->fd, SHUT_RDWR);
}

/* Cuts what is past its deadline; `all_idle` also cuts every connection waiting for a request,
 * `all_body` every one still receiving its body (shutdown). Called with mu held. */
static void sweep(struct vk_http_server *s, int64_t now, bool all_idle, bool all_body)
{
    for (struct vk_conn *cn = s->conns; cn != NULL; cn = cn->next) {
        if (cn->state == CONN_IDLE && (all_idle || cn->deadline_ms <= now)) {
            if (!all_idle)
                s->head_timeouts++;
            conn_kill(cn);
        } else if (cn->state == CONN_BODY && (all_body || cn->deadline_ms <= now)) {
            if (!all_body)
                s->body_timeouts++;
            conn_kill(cn);
        }
    }
}

/* A reservation in the per-host table taken by the accept policy callback and claimed by the
 * STARTED notification that follows on the same thread (libmicrohttpd accepts and starts a
 * connection in one go on the worker thread that accepted it). When MHD drops the connection in
 * between (its own limit, out of memory), the next accept on that thread returns the count. */
static _Thread_local struct {
    struct vk_http_server *s;
    struct vk_host_key key;
    bool on;
} reservation;

static enum MHD_Result accept_cb(void *cls, const struct sockaddr *addr, socklen_t addrlen)
{
    struct vk_http_server *s = cls;
    struct vk_ip ip;
    struct vk_host_key key;
    (void)addrlen;
    ip_of_sockaddr(addr, &ip);
    vk_ip_host_key(&ip, &key);
    bool exempt = vk_ip_eq(&ip, &s->exempt);
    enum MHD_Result ok = MHD_YES;
    pthread_mutex_lock(&s->mu);
    if (reservation.on && reservation.s == s)
        vk_hostcount_sub(s->hosts, &reservation.key);
    reservation.on = false;
    if (atomic_load(&s->stopping)) {
        ok = MHD_NO;
    } else if (!exempt && vk_hostcount_get(s->hosts, &key) >= s->o.conn_limit_per_addr) {
        s->refused_per_address++;
        ok = MHD_NO;
    } else if (vk_hostcount_add(s->hosts, &key) != VK_OK) {
        s->refused_table++; /* more distinct hosts than connections: cannot happen */
        ok = MHD_NO;
    } else {
        reservation.s = s;
        reservation.key = key;
        reservation.on = true;
    }
    if (ok == MHD_NO && addr != NULL) {
        if (addr->sa_family == AF_INET)
            inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)addr)->sin_addr,
                      s->last_refused, sizeof s->last_refused);
        else if (addr->sa_family == AF_INET6)
            inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)addr)->sin6_addr,
                      s->last_refused, sizeof s->last_refused);
    }
    pthread_mutex_unlock(&s->mu);
    return ok;
}

static void notify_cb(void *cls, struct MHD_Connection *con, void **socket_context,
                      enum MHD_ConnectionNotificationCode code)
{
    struct vk_http_server *s = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        struct vk_conn *cn = calloc(1, sizeof *cn);
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(con, MHD_CONNECTION_INFO_CONNECTION_FD);
        pthread_mutex_lock(&s->mu);
        bool reserved = reservation.on && reservation.s == s;
        reservation.on = false;
        if (cn == NULL || ci == NULL) {
            /* Untracked connections must not exist (nothing would bound or drain them): cut
             * it; the access callback refuses a connection without a record. */
            if (reserved)
                vk_hostcount_sub(s->hosts, &reservation.key);
            pthread_mutex_unlock(&s->mu);
            if (ci != NULL)
                shutdown(ci->connect_fd, SHUT_RDWR);
            free(cn);
            *socket_context = NULL;
            return;
        }
        cn->fd = ci->connect_fd;
        cn->srv = s;
        cn->counted = reserved;
        cn->key = reservation.key;
        cn->state = CONN_IDLE;
        cn->deadline_ms = now_ms() + 1000 * (int64_t)s->o.header_timeout_s;
        cn->next = s->conns;
        if (s->conns != NULL)
            s->conns->prev = cn;
        s->conns = cn;
        s->n_conns++;
        if (atomic_load(&s->stopping))
            conn_kill(cn);
        pthread_mutex_unlock(&s->mu);
        *socket_context = cn;
        if (s->o.tls != NULL) {
            /* The handshake's flights go out as several small writes; with Nagle's algorithm
             * each one after the first waits for the peer's (delayed) ACK, which made every new
             * TLS connection take ~20 ms more. libmicrohttpd leaves this to the OS for TLS. */
            int one = 1;
            setsockopt(cn->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        }
        if (s->o.tls != NULL && (s->o.request_client_cert || s->o.client_ca_pem != NULL)) {
            /* Before the handshake, which starts at the first bytes read: RFC 8705 §2 needs the
             * client's certificate, never required (GNUTLS_CERT_REQUEST), so clients without
             * one are served as before. With a CA, libmicrohttpd asks already (and lists it). */
            const union MHD_ConnectionInfo *ti =
                MHD_get_connection_info(con, MHD_CONNECTION_INFO_GNUTLS_SESSION);
            if (ti != NULL)
                vk_tls_session_request_cert(ti->tls_session);
        }
        return;
    }
    struct vk_conn *cn = *socket_context;
    if (cn == NULL)
        return;
    pthread_mutex_lock(&s->mu);
    if (cn->prev != NULL)
        cn->prev->next = cn->next;
    else
        s->conns = cn->next;
    if (cn->next != NULL)
        cn->next->prev = cn->prev;
    s->n_conns--;
    if (cn->state == CONN_BUSY)
        s->n_busy--;
    if (cn->counted)
        vk_hostcount_sub(s->hosts, &cn->key);
    pthread_mutex_unlock(&s->mu);
    vk_tls_cred_release(cn->tls_cred);
    free(cn);
    *socket_context = NULL;
}

struct vk_tls *vk_http_conn_tls(void *con, struct vk_tls_cred ***slot)
{
    *slot = NULL;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(con, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    struct vk_conn *cn = ci != NULL ? ci->socket_context : NULL;
    if (cn == NULL || cn->srv == NULL)
        return NULL;
    *slot = &cn->tls_cred;
    return cn->srv->o.tls;
}

enum gate { GATE_OK, GATE_DROP, GATE_REFUSE };

/* The request head is complete: from now on the body deadline applies. */
static enum gate conn_head_done(struct vk_http_server *s, struct vk_conn *cn)
{
    enum gate g = GATE_OK;
    if (cn == NULL)
        return GATE_DROP;
    pthread_mutex_lock(&s->mu);
    if (cn->state == CONN_KILLED) {
        g = GATE_DROP;
    } else {
        int64_t now = now_ms();
        cn->state = CONN_BODY;
        cn->body_start_ms = now;
        cn->body_seen = 0;
        cn->deadline_ms = now + 1000 * (int64_t)s->o.body_timeout_s;
        if (s->refusing)
            g = GATE_REFUSE;
    }
    pthread_mutex_unlock(&s->mu);
    return g;
}

/* n more body bytes arrived: the deadline moves by n / body_min_rate seconds, so a body must
 * arrive at that average rate after the body timeout's grace (Apache's mod_reqtimeout rule). */
static bool conn_body_bytes(struct vk_http_server *s, struct vk_conn *cn, size_t n)
{
    bool ok;
    pthread_mutex_lock(&s->mu);
    ok = cn->state == CONN_BODY;
    if (ok) {
        cn->body_seen += n;
        if (s->o.body_min_rate > 0)
            cn->deadline_ms = cn->body_start_ms + 1000 * (int64_t)s->o.body_timeout_s +
                              (int64_t)(cn->body_seen * 1000 / s->o.body_min_rate);
    }
    pthread_mutex_unlock(&s->mu);
    return ok;
}

/* The whole request is here: hand it to a handler (BUSY), unless the connection was cut or the
 * drain has ended. */
static enum gate conn_dispatch(struct vk_http_server *s, struct vk_conn *cn)
{
    enum gate g = GATE_OK;
    pthread_mutex_lock(&s->mu);
    if (cn->state != CONN_BODY) {
        g = GATE_DROP;
    } else if (s->refusing) {
        g = GATE_REFUSE;
    } else {
        cn->state = CONN_BUSY;
        s->n_busy++;
    }
    pthread_mutex_unlock(&s->mu);
    return g;
}

/* A request ended (its response was sent, or the connection failed): the connection waits for
 * the next request head, under the head deadline. */
static void conn_request_done(struct vk_http_server *s, struct vk_conn *cn)
{
    if (cn == NULL)
        return;
    pthread_mutex_lock(&s->mu);
    if (cn->state == CONN_BUSY)
        s->n_busy--;
    if (cn->state != CONN_KILLED) {
        cn->state = CONN_IDLE;
        cn->deadline_ms = now_ms() + 1000 * (int64_t)s->o.header_timeout_s;
    }
    pthread_mutex_unlock(&s->mu);
}

/* Logs what the limits did, at most every 10 s and only when something happened, so an attack
 * shows in the log without one line per refused connection. Called with mu held. */
static void log_limits(struct vk_http_server *s)
{
    uint64_t now[4] = {s->refused_per_address, s->refused_table, s->head_timeouts,
                       s->body_timeouts};
    if (memcmp(now, s->logged, sizeof now) == 0)
        return;
    vk_log_warn("event=http.limits refused_per_address=%llu refused_table=%llu "
                "head_timeouts=%llu body_timeouts=%llu last_refused=%s",
                (unsigned long long)(now[0] - s->logged[0]),
                (unsigned long long)(now[1] - s->logged[1]),
                (unsigned long long)(now[2] - s->logged[2]),
                (unsigned long long)(now[3] - s->logged[3]),
                s->last_refused[0] ? s->last_refused : "-");
    memcpy(s->logged, now, sizeof now);
}

static void *reaper_main(void *arg)
{
    struct vk_http_server *s = arg;
    int64_t next_log = now_ms() + 10000;
    pthread_mutex_lock(&s->mu);
    while (!s->reaper_exit) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_nsec += 250 * 1000 * 1000; /* deadlines are kept to within a quarter second */
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&s->cv, &s->mu, &ts);
        int64_t now = now_ms();
        sweep(s, now, false, false);
        if (now >= next_log) {
            log_limits(s);
            next_log = now + 10000;
        }
    }
    log_limits(s);
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* ---- requests ---- */

static void *uri_cb(void *cls, const char *uri, struct MHD_Connection *con)
{
    struct vk_http_server *s = cls;
    struct conn_ctx *c = malloc(sizeof *c);
    if (c == NULL)
        return NULL;
    memset(c, 0, offsetof(struct conn_ctx, rq) + offsetof(struct vk_request, headers));
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(con, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    c->conn = ci != NULL ? ci->socket_context : NULL;
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
    conn_request_done(s, c->conn);
    if (c->body != NULL) {
        vk_wipe(c->body, c->body_len);
        free(c->body);
    }
    vk_arena_clear(&c->arena);
    free(c);
    *con_cls = NULL;
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
    /* Shutting down: this is the connection's last response (RFC 9112 §9.6), so a keep-alive
     * client sends nothing more on it and MHD closes it once the response is out. */
    if (atomic_load(&s->stopping) || c->close_after)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
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
    if (status == 503)
        vk_response_header(&rs, &c->arena, "Retry-After", "1");
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
        enum gate g = conn_head_done(s, c->conn);
        if (g == GATE_DROP)
            return MHD_NO; /* cut by a deadline or by shutdown while the head arrived */
        c->rq.method = method_of(method);
        c->rq.method_name = vk_str_c(method); /* MHD's copy, valid for the whole request */
        c->rq.path = vk_str_c(url);
        c->rq.now_ms = vk_now_ms();
        c->rq.now = c->rq.now_ms / 1000;
        peer_of(con, c->rq.peer, sizeof c->rq.peer);
        if (g == GATE_REFUSE)
            return error_now(s, con, c, 503, "temporarily_unavailable",
                             "the server is shutting down");
        if (MHD_get_connection_values_n(con, MHD_HEADER_KIND, header_cb, &c->rq) < 0 ||
            c->rq.n_headers >= VK_MAX_HEADERS)
            return error_now(s, con, c, 431, "invalid_request", "too many header fields");
        if (c->bad_query)
            return error_now(s, con, c, 414, "invalid_request", "query string too long");
        if (s->o.tls != NULL) {
            c->rq.tls = true;
            const union MHD_ConnectionInfo *ti =
                MHD_get_connection_info(con, MHD_CONNECTION_INFO_GNUTLS_SESSION);
            int trc = vk_tls_peer_certs(ti != NULL ? ti->tls_session : NULL, &c->arena,
                                        c->rq.client_certs, VK_MAX_CERT_CHAIN,
                                        &c->rq.n_client_certs);
            if (trc == VK_ETOOBIG)
                return error_now(s, con, c, 400, "invalid_request",
                                 "client certificate too large");
            if (trc != VK_OK)
                return error_now(s, con, c, 503, "temporarily_unavailable", "out of memory");
        }
        /* RFC 9112 §6.1, §6.3: a body framed both by Transfer-Encoding and by Content-Length may
         * be read one way here and another way by a proxy in front of us, which is how requests
         * are smuggled: refused, and the connection closed, as §6.3 requires ("MUST close the
         * connection after responding"); libmicrohttpd would read it as chunked and go on to the
         * next request on the connection. It frames only the chunked coding: any other would
         * leave it waiting for a body it cannot delimit, so that is 501 (§6.1), and closed. */
        size_t n_te = vk_request_header_count(&c->rq, "transfer-encoding");
        size_t n_cl = vk_request_header_count(&c->rq, "content-length");
        vk_str te;
        if (n_cl > 1) { /* §6.3: libmicrohttpd would frame the body by the first one */
            c->close_after = 1;
            return error_now(s, con, c, 400, "invalid_request", "repeated Content-Length");
        }
        if (n_te > 0) {
            c->close_after = 1;
            if (n_cl > 0)
                return error_now(s, con, c, 400, "invalid_request",
                                 "Content-Length and Transfer-Encoding together");
            if (n_te > 1 || !vk_request_header(&c->rq, "transfer-encoding", &te) ||
                !vk_str_eq_nocase_lit(te, "chunked"))
                return error_now(s, con, c, 501, "invalid_request",
                                 "only the chunked transfer coding is supported");
            c->close_after = 0;
        }
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
        if (!conn_body_bytes(s, c->conn, n))
            return MHD_NO; /* cut: too slow, or the drain ended */
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
    enum gate g = conn_dispatch(s, c->conn);
    if (g == GATE_DROP)
        return MHD_NO; /* cut: nothing was dispatched, so nothing is lost */
    if (g == GATE_REFUSE)
        return error_now(s, con, c, 503, "temporarily_unavailable",
                         "the server is shutting down");
    /* From here until the completion callback the connection is BUSY: the handler may commit,
     * so nothing cuts the connection before its response is sent. */
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
    if (o->conn_limit == 0 || o->conn_limit_per_addr == 0 || o->header_timeout_s == 0 ||
        o->body_timeout_s == 0 || o->shutdown_timeout_s == 0) {
        close(fd);
        return vk_err_set(err, VK_EINVAL, "HTTP limits and timeouts must not be 0");
    }
    struct vk_http_server *s = calloc(1, sizeof *s);
    if (s == NULL) {
        close(fd);
        return vk_err_set(err, VK_ENOMEM, "out of memory");
    }
    s->o = *o;
    atomic_init(&s->stopping, false);
    if (o->exempt_addr != NULL && o->exempt_addr[0] != '\0' &&
        vk_ip_parse(vk_str_c(o->exempt_addr), &s->exempt) != VK_OK) {
        close(fd);
        free(s);
        return vk_err_set(err, VK_EINVAL, "the trusted proxy is not an IP address");
    }
    pthread_mutex_init(&s->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->cv, &ca);
    pthread_condattr_destroy(&ca);
    int rc = VK_OK;
    unsigned threads = o->threads != 0 ? o->threads : vk_cpus_usable();
    unsigned dthreads = o->defer_threads != 0 ? o->defer_threads : vk_cpus_usable();
    unsigned dqueue = o->defer_queue != 0 ? o->defer_queue : 4 * dthreads;
    /* Every accepted connection is in the per-host table, plus at most one reservation per
     * worker thread between the accept callback and the STARTED notification. */
    if (vk_hostcount_new((size_t)o->conn_limit + threads, &s->hosts) != VK_OK)
        rc = vk_err_set(err, VK_ENOMEM, "out of memory");
    else if (vk_pool_start(dthreads, dqueue, defer_run, defer_cancel, &s->pool) != VK_OK)
        rc = vk_err_set(err, VK_ENOMEM, "cannot start the deferred-work threads");
    else if (pthread_create(&s->reaper, NULL, reaper_main, s) != 0)
        rc = vk_err_set(err, VK_ENOMEM, "cannot start the connection reaper");
    else
        s->reaper_on = true;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC |
                     MHD_ALLOW_SUSPEND_RESUME;
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    /* TLS options, or none: an MHD_OPTION_ARRAY ends at its first MHD_OPTION_END. */
    struct MHD_OptionItem tls_opts[4];
    size_t nt = 0;
    if (o->tls != NULL) {
        if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES ||
            MHD_is_feature_supported(MHD_FEATURE_HTTPS_CERT_CALLBACK) != MHD_YES) {
            if (rc == VK_OK)
                rc = vk_err_set(err, VK_EINVAL, "this libmicrohttpd was built without TLS");
        }
        /* poll(2), not epoll, with TLS: libmicrohttpd 0.9.75's epoll loop keeps a connection
         * marked readable while its TLS handshake waits for the client (the read that returns
         * EAGAIN goes through the handshake and does not clear the mark), so a worker thread
         * spins at 100% until the client's next flight arrives -- for as long as
         * header_timeout with a client that stalls on purpose. poll(2) asks the kernel afresh
         * each round. */
        flags = (flags & ~(unsigned)MHD_USE_EPOLL) | MHD_USE_POLL | MHD_USE_TLS;
        /* The certificate comes from a callback, per handshake, so SIGHUP can replace it
         * without restarting (http/tls.c). */
        tls_opts[nt++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_CERT_CALLBACK, 0,
                                                 vk_tls_cert_callback()};
        tls_opts[nt++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_PRIORITIES, 0,
                                                 (void *)vk_tls_priorities(o->tls)};
        if (o->client_ca_pem != NULL)
            tls_opts[nt++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_TRUST, 0,
                                                     (void *)o->client_ca_pem};
    }
    tls_opts[nt] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
    /* MHD's own timeout is an idle timeout (any byte renews it), a backstop behind the head and
     * body deadlines the reaper enforces, which no trickle of bytes renews. */
    unsigned idle = o->header_timeout_s > o->body_timeout_s ? o->header_timeout_s
                                                             : o->body_timeout_s;
    if (rc == VK_OK) {
        s->d = MHD_start_daemon(
            flags, 0, accept_cb, s, access_cb, s, MHD_OPTION_LISTEN_SOCKET, fd,
            MHD_OPTION_THREAD_POOL_SIZE, threads, MHD_OPTION_URI_LOG_CALLBACK, uri_cb, s,
            MHD_OPTION_NOTIFY_COMPLETED, completed_cb, s, MHD_OPTION_NOTIFY_CONNECTION, notify_cb,
            s, MHD_OPTION_CONNECTION_LIMIT, o->conn_limit, MHD_OPTION_CONNECTION_TIMEOUT, idle,
            MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)VK_CONN_MEMORY, MHD_OPTION_ARRAY,
            tls_opts, MHD_OPTION_END);
        if (s->d == NULL)
            rc = vk_err_set(err, VK_EIO, "cannot start the HTTP server");
    }
    if (rc != VK_OK) {
        close(fd);
        if (s->reaper_on) {
            pthread_mutex_lock(&s->mu);
            s->reaper_exit = true;
            pthread_cond_signal(&s->cv);
            pthread_mutex_unlock(&s->mu);
            pthread_join(s->reaper, NULL);
        }
        vk_pool_stop(s->pool);
        vk_hostcount_free(s->hosts);
        pthread_cond_destroy(&s->cv);
        pthread_mutex_destroy(&s->mu);
        free(s);
        return rc;
    }
    *out = s;
    return VK_OK;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000 * 1000};
    nanosleep(&ts, NULL);
}

int vk_http_stop(struct vk_http_server *s)
{
    if (s == NULL)
        return VK_OK;
    if (s->reaper_on) {
        pthread_mutex_lock(&s->mu);
        s->reaper_exit = true;
        pthread_cond_signal(&s->cv);
        pthread_mutex_unlock(&s->mu);
        pthread_join(s->reaper, NULL);
    }
    /* 1. Stop accepting; from now on every response carries Connection: close, and connections
     *    waiting for a request are cut (nothing of theirs was dispatched). Requests already
     *    received, or whose head arrives now, are served. */
    atomic_store(&s->stopping, true);
    MHD_socket lfd = MHD_quiesce_daemon(s->d);
    if (lfd != MHD_INVALID_SOCKET)
        close(lfd);
    int64_t t0 = now_ms();
    int64_t drain_end = t0 + 1000 * (int64_t)s->o.shutdown_timeout_s;
    size_t left;
    for (;;) {
        pthread_mutex_lock(&s->mu);
        sweep(s, now_ms(), true, false);
        left = s->n_conns;
        pthread_mutex_unlock(&s->mu);
        if (left == 0 || now_ms() >= drain_end)
            break;
        sleep_ms(10);
    }
    /* 2. The drain is over (or time is up): dispatch nothing more, cut connections still
     *    receiving a request, answer deferred jobs not yet started with their fallback, and wait
     *    for requests already dispatched to send their responses: a handler may have committed,
     *    and its client must learn the result. */
    pthread_mutex_lock(&s->mu);
    s->refusing = true;
    sweep(s, now_ms(), true, true);
    size_t cut = left > s->n_busy ? left - s->n_busy : 0;
    pthread_mutex_unlock(&s->mu);
    if (left > 0)
        vk_log_warn("event=http.drain_timeout connections=%zu cut_unfinished_requests=%zu", left,
                    cut);
    vk_pool_close(s->pool);
    /* Handlers are bounded (store busy timeouts, Argon2 cost), so this ends; the cap only
     * guards against a bug turning a stop into a hang. */
    int64_t hard_end = now_ms() + 30000;
    size_t busy;
    for (;;) {
        pthread_mutex_lock(&s->mu);
        sweep(s, now_ms(), true, true); /* connections whose last response went out */
        busy = s->n_busy;
        pthread_mutex_unlock(&s->mu);
        if ((busy == 0 && vk_pool_busy(s->pool) == 0) || now_ms() >= hard_end)
            break;
        sleep_ms(5);
    }
    if (busy > 0 || vk_pool_busy(s->pool) > 0) {
        /* Stopping MHD now would drop responses (and abort on a suspended connection): leave
         * the threads running and let the caller exit the process. */
        vk_log_error("event=http.stop_stuck requests=%zu", busy);
        return VK_EIO;
    }
    /* 3. Nothing dispatched is outstanding: what is left are cut connections being closed. */
    MHD_stop_daemon(s->d);
    vk_pool_stop(s->pool);
    vk_hostcount_free(s->hosts);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    vk_log_info("event=http.stopped drain_ms=%lld", (long long)(now_ms() - t0));
    free(s);
    return VK_OK;
}
