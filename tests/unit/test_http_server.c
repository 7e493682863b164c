/* The libmicrohttpd adapter itself (http/server.c), started on 127.0.0.1:0 with a router of its
 * own and driven over real sockets: deferred work (vk_response_defer) runs off the worker
 * thread and a full pool answers with the handler's fallback at once; shutdown drains (or
 * answers) deferred work and closes idle keep-alive connections; the per-address cap, the
 * request-head deadline and the body rate hold against idle, slowloris and slow-body
 * connections while other addresses are served. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/err.h"
#include "http/request.h"
#include "http/router.h"
#include "http/server.h"

/* ---- a gate the slow deferred function waits on ---- */

static pthread_mutex_t gate_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cv = PTHREAD_COND_INITIALIZER;
static int gate_open;
static int slow_started;  /* deferred functions that began */
static int slow_handled;  /* /slow handler calls (on the worker thread) */

static void gate_set(int open)
{
    pthread_mutex_lock(&gate_mu);
    gate_open = open;
    pthread_cond_broadcast(&gate_cv);
    pthread_mutex_unlock(&gate_mu);
}

static int counter(int *v)
{
    pthread_mutex_lock(&gate_mu);
    int n = *v;
    pthread_mutex_unlock(&gate_mu);
    return n;
}

static int slow_deferred(void *app, const struct vk_request *rq, struct vk_response *rs,
                         void *arg)
{
    (void)app;
    const char *tag = arg;
    pthread_mutex_lock(&gate_mu);
    slow_started++;
    pthread_cond_broadcast(&gate_cv);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 20; /* bounded even if a test forgets to open the gate */
    while (!gate_open)
        if (pthread_cond_timedwait(&gate_cv, &gate_mu, &until) != 0)
            break;
    pthread_mutex_unlock(&gate_mu);
    char *body = vk_arena_printf(rq->arena, "slow %s done", tag);
    if (body == NULL)
        return VK_ENOMEM;
    return vk_response_text(rs, rq->arena, 200, "text/plain", body, strlen(body));
}

static int slow_handler(void *app, const struct vk_request *rq, struct vk_response *rs)
{
    (void)app;
    pthread_mutex_lock(&gate_mu);
    slow_handled++;
    pthread_mutex_unlock(&gate_mu);
    /* The fallback: what a full pool answers at once. */
    int rc = vk_response_header(rs, rq->arena, "Retry-After", "1");
    if (rc == VK_OK)
        rc = vk_response_text(rs, rq->arena, 503, "text/plain", "busy", 4);
    char *tag = vk_arena_strdup(rq->arena, rq->raw_query);
    if (rc == VK_OK && tag == NULL)
        rc = VK_ENOMEM;
    if (rc == VK_OK)
        vk_response_defer(rs, slow_deferred, tag);
    return rc;
}

static int fast_handler(void *app, const struct vk_request *rq, struct vk_response *rs)
{
    (void)app;
    return vk_response_text(rs, rq->arena, 200, "text/plain", "fast", 4);
}

static const struct vk_route routes[] = {
    {"/slow", VK_METHOD_GET, slow_handler, "slow", 0},
    {"/fast", VK_METHOD_GET | VK_METHOD_POST, fast_handler, "fast", 0},
};
static const struct vk_router router = {routes, sizeof routes / sizeof routes[0]};

/* ---- a minimal HTTP/1.1 client over a real socket ---- */

static int64_t now_ms(void)
{
    return vk_mono_us() / 1000;
}

/* Connects to 127.0.0.1:port from local address `from` (NULL: any). */
static int dial(int port, const char *from)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (from != NULL) {
        struct sockaddr_in la = {.sin_family = AF_INET};
        inet_pton(AF_INET, from, &la.sin_addr);
        if (bind(fd, (struct sockaddr *)&la, sizeof la) != 0) {
            close(fd);
            return -1;
        }
    }
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int send_all(int fd, const char *s)
{
    size_t n = strlen(s);
    while (n > 0) {
        ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
        if (w <= 0)
            return -1;
        s += w;
        n -= (size_t)w;
    }
    return 0;
}

static int send_get(int fd, const char *path)
{
    char req[256];
    snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", path);
    return send_all(fd, req);
}

/* Milliseconds until the peer closes fd (EOF or reset), discarding data; -1 if it is still open
 * after timeout_ms. */
static int64_t closed_within(int fd, int timeout_ms)
{
    char buf[4096];
    int64_t t0 = now_ms(), end = t0 + timeout_ms;
    for (;;) {
        int64_t left = end - now_ms();
        if (left <= 0)
            return -1;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, (int)left) <= 0)
            return -1;
        ssize_t r = recv(fd, buf, sizeof buf, 0);
        if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR))
            return now_ms() - t0;
    }
}

/* Reads one keep-alive response: up to the end of the body given by Content-Length. */
static int read_one(int fd, int timeout_ms, char *buf, size_t sz)
{
    size_t n = 0;
    int64_t end = now_ms() + timeout_ms;
    buf[0] = '\0';
    while (n + 1 < sz) {
        char *eoh = strstr(buf, "\r\n\r\n");
        const char *cl = strstr(buf, "Content-Length: ");
        if (eoh != NULL && cl != NULL && cl < eoh &&
            n >= (size_t)(eoh + 4 - buf) + (size_t)atoi(cl + 16))
            break;
        int64_t left = end - now_ms();
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (left <= 0 || poll(&p, 1, (int)left) <= 0)
            return 0;
        ssize_t r = recv(fd, buf + n, sz - 1 - n, 0);
        if (r <= 0)
            return 0;
        n += (size_t)r;
        buf[n] = '\0';
    }
    int status = 0;
    return sscanf(buf, "HTTP/1.1 %d", &status) == 1 ? status : 0;
}

/* Reads until the peer closes or timeout_ms passes; returns the status code (0 if none),
 * the bytes in buf (NUL-terminated). */
static int read_response(int fd, int timeout_ms, char *buf, size_t sz)
{
    size_t n = 0;
    int64_t end = now_ms() + timeout_ms;
    buf[0] = '\0';
    for (;;) {
        int64_t left = end - now_ms();
        if (left <= 0)
            break;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, (int)left) <= 0)
            break;
        ssize_t r = recv(fd, buf + n, sz - 1 - n, 0);
        if (r <= 0)
            break;
        n += (size_t)r;
        buf[n] = '\0';
        if (n + 1 >= sz)
            break;
    }
    int status = 0;
    if (sscanf(buf, "HTTP/1.1 %d", &status) != 1)
        status = 0;
    return status;
}

/* ---- the server under test ---- */

struct fx {
    struct vk_http_server *srv;
    int port;
};

/* Starts the server with o's limits (NULL: the defaults), one worker thread (a blocked worker
 * would stall every request) and a pool of defer_threads with a queue of defer_queue. */
static int start_opts(struct fx *f, const struct vk_http_opts *lim, unsigned defer_threads,
                      unsigned defer_queue)
{
    struct vk_err err = {{0}};
    char bound[64];
    int fd;
    if (vk_http_listen("127.0.0.1:0", &fd, bound, sizeof bound, &err) != VK_OK)
        return -1;
    f->port = atoi(strchr(bound, ':') + 1);
    struct vk_http_opts o;
    if (lim != NULL)
        o = *lim;
    else
        vk_http_opts_defaults(&o);
    o.fd = fd;
    o.threads = 1;
    o.defer_threads = defer_threads;
    o.defer_queue = defer_queue;
    o.router = &router;
    if (vk_http_start(&o, &f->srv, &err) != VK_OK) {
        fprintf(stderr, "start: %s\n", err.msg);
        return -1;
    }
    return 0;
}

static int start(struct fx *f, unsigned defer_threads, unsigned defer_queue)
{
    return start_opts(f, NULL, defer_threads, defer_queue);
}

static int setup(void **state)
{
    static struct fx f;
    memset(&f, 0, sizeof f);
    gate_set(0);
    pthread_mutex_lock(&gate_mu);
    slow_started = slow_handled = 0;
    pthread_mutex_unlock(&gate_mu);
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    gate_set(1);
    vk_http_stop(f->srv);
    return 0;
}

/* Polls (bounded) until *v reaches want. */
static void wait_count(int *v, int want)
{
    for (int i = 0; i < 500 && counter(v) < want; i++)
        usleep(10 * 1000);
    assert_true(counter(v) >= want);
}

static void fast_route_answers_while_the_deferred_pool_is_busy(void **state)
{
    struct fx *f = *state;
    char buf[2048];
    assert_int_equal(start(f, 1, 1), 0);

    /* A: runs on the only pool thread and blocks there. */
    int a = dial(f->port, NULL);
    assert_true(a >= 0);
    assert_int_equal(send_get(a, "/slow?a"), 0);
    wait_count(&slow_started, 1);

    /* With the worker thread free, other requests on it are answered at once, several times. */
    for (int i = 0; i < 5; i++) {
        int fd = dial(f->port, NULL);
        assert_true(fd >= 0);
        int64_t t0 = now_ms();
        assert_int_equal(send_get(fd, "/fast"), 0);
        assert_int_equal(read_response(fd, 5000, buf, sizeof buf), 200);
        assert_true(now_ms() - t0 < 1000);
        assert_non_null(strstr(buf, "\r\n\r\nfast"));
        close(fd);
    }

    /* A has not been answered: its job is still waiting on the gate. */
    struct pollfd p = {.fd = a, .events = POLLIN};
    assert_int_equal(poll(&p, 1, 0), 0);

    gate_set(1);
    assert_int_equal(read_response(a, 5000, buf, sizeof buf), 200);
    assert_non_null(strstr(buf, "slow a done"));
    close(a);
}

static void full_queue_sends_the_fallback_at_once(void **state)
{
    struct fx *f = *state;
    char buf[2048];
    assert_int_equal(start(f, 1, 1), 0);

    int a = dial(f->port, NULL); /* running */
    assert_true(a >= 0);
    assert_int_equal(send_get(a, "/slow?a"), 0);
    wait_count(&slow_started, 1);
    int b = dial(f->port, NULL); /* waiting in the queue (size 1) */
    assert_true(b >= 0);
    assert_int_equal(send_get(b, "/slow?b"), 0);
    wait_count(&slow_handled, 2);
    usleep(100 * 1000); /* the worker submits right after the handler returns */

    /* C: the pool is full, so the handler's fallback goes out without waiting for A or B. */
    int c = dial(f->port, NULL);
    assert_true(c >= 0);
    int64_t t0 = now_ms();
    assert_int_equal(send_get(c, "/slow?c"), 0);
    assert_int_equal(read_response(c, 5000, buf, sizeof buf), 503);
    assert_true(now_ms() - t0 < 1000);
    assert_non_null(strstr(buf, "Retry-After: 1\r\n"));
    assert_non_null(strstr(buf, "\r\n\r\nbusy"));
    close(c);
    assert_int_equal(counter(&slow_started), 1); /* B has not started, C never will */

    gate_set(1);
    assert_int_equal(read_response(a, 5000, buf, sizeof buf), 200);
    assert_non_null(strstr(buf, "slow a done"));
    assert_int_equal(read_response(b, 5000, buf, sizeof buf), 200);
    assert_non_null(strstr(buf, "slow b done"));
    close(a);
    close(b);
    assert_int_equal(counter(&slow_started), 2);
}

static void run_deferred_finishes_a_deferral_without_a_server(void **state)
{
    (void)state;
    struct vk_arena arena;
    vk_arena_init(&arena, 64 * 1024);
    struct vk_request rq;
    memset(&rq, 0, sizeof rq);
    rq.arena = &arena;
    rq.raw_query = VK_STR("x");
    struct vk_response rs;
    memset(&rs, 0, sizeof rs);
    gate_set(1);
    assert_int_equal(slow_handler(NULL, &rq, &rs), VK_OK);
    assert_int_equal(rs.status, 503);
    assert_ptr_equal(rs.defer_fn, slow_deferred);
    assert_int_equal(vk_response_run_deferred(NULL, &rq, &rs), VK_OK);
    assert_int_equal(rs.status, 200);
    assert_null(rs.defer_fn);
    assert_int_equal(rs.n_headers, 0); /* the fallback's Retry-After is gone */
    assert_memory_equal(rs.body, "slow x done", rs.body_len);
    vk_arena_clear(&arena);
}


/* ---- shutdown ---- */

struct stopper {
    struct vk_http_server *srv;
    pthread_t th;
    int rc;
    int64_t took_ms;
    int done;
};

static void *stop_main(void *arg)
{
    struct stopper *st = arg;
    int64_t t0 = now_ms();
    st->rc = vk_http_stop(st->srv);
    st->took_ms = now_ms() - t0;
    pthread_mutex_lock(&gate_mu);
    st->done = 1;
    pthread_mutex_unlock(&gate_mu);
    return NULL;
}

static void stop_async(struct fx *f, struct stopper *st)
{
    memset(st, 0, sizeof *st);
    st->srv = f->srv;
    f->srv = NULL; /* stopped here, not by teardown */
    assert_int_equal(pthread_create(&st->th, NULL, stop_main, st), 0);
}

static void stop_join(struct stopper *st)
{
    pthread_join(st->th, NULL);
    assert_int_equal(st->rc, VK_OK);
}

static void stop_runs_queued_deferred_work_and_closes_each_connection(void **state)
{
    struct fx *f = *state;
    char buf[2048];
    struct vk_http_opts o;
    vk_http_opts_defaults(&o);
    o.shutdown_timeout_s = 10;
    assert_int_equal(start_opts(f, &o, 1, 1), 0);
    int a = dial(f->port, NULL), b = dial(f->port, NULL);
    assert_true(a >= 0 && b >= 0);
    assert_int_equal(send_get(a, "/slow?a"), 0);
    wait_count(&slow_started, 1);
    assert_int_equal(send_get(b, "/slow?b"), 0);
    wait_count(&slow_handled, 2);
    usleep(100 * 1000);

    struct stopper st;
    stop_async(f, &st);
    usleep(200 * 1000);
    assert_int_equal(counter(&st.done), 0); /* waiting for the running job */
    gate_set(1);
    /* Both jobs finish within the drain and both answers arrive, each the connection's last. */
    assert_int_equal(read_response(a, 5000, buf, sizeof buf), 200);
    assert_non_null(strstr(buf, "slow a done"));
    assert_non_null(strstr(buf, "Connection: close\r\n"));
    assert_int_equal(read_response(b, 5000, buf, sizeof buf), 200);
    assert_non_null(strstr(buf, "slow b done"));
    stop_join(&st);
    assert_true(st.took_ms < 3000);
    close(a);
    close(b);
}

static void stop_answers_unstarted_deferred_work_with_its_fallback_at_the_deadline(void **state)
{
    struct fx *f = *state;
    char buf[2048];
    struct vk_http_opts o;
    vk_http_opts_defaults(&o);
    o.shutdown_timeout_s = 1;
    assert_int_equal(start_opts(f, &o, 1, 1), 0);
    int a = dial(f->port, NULL), b = dial(f->port, NULL);
    assert_true(a >= 0 && b >= 0);
    assert_int_equal(send_get(a, "/slow?a"), 0);
    wait_count(&slow_started, 1);
    assert_int_equal(send_get(b, "/slow?b"), 0);
    wait_count(&slow_handled, 2);
    usleep(100 * 1000);

    struct stopper st;
    int64_t t0 = now_ms();
    stop_async(f, &st);
    /* B never started: at the end of the 1 s drain it gets the fallback, while A still runs. */
    assert_int_equal(read_response(b, 5000, buf, sizeof buf), 503);
    int64_t waited = now_ms() - t0;
    assert_true(waited >= 800 && waited < 3000);
    assert_non_null(strstr(buf, "\r\n\r\nbusy"));
    assert_non_null(strstr(buf, "Connection: close\r\n"));
    assert_int_equal(counter(&slow_started), 1);
    /* A was dispatched, so its response is waited for, however long the drain. */
    usleep(300 * 1000);
    assert_int_equal(counter(&st.done), 0);
    gate_set(1);
    assert_int_equal(read_response(a, 5000, buf, sizeof buf), 200);
    assert_non_null(strstr(buf, "slow a done"));
    stop_join(&st);
    close(a);
    close(b);
}

static void stop_closes_idle_keepalive_connections_at_once(void **state)
{
    struct fx *f = *state;
    char buf[2048];
    int fds[8];
    assert_int_equal(start(f, 1, 1), 0);
    for (int i = 0; i < 8; i++) {
        fds[i] = dial(f->port, NULL);
        assert_true(fds[i] >= 0);
        assert_int_equal(send_all(fds[i], "GET /fast HTTP/1.1\r\nHost: t\r\n\r\n"), 0);
        assert_int_equal(read_one(fds[i], 5000, buf, sizeof buf), 200);
        assert_null(strstr(buf, "Connection: close"));
    }
    struct stopper st;
    stop_async(f, &st);
    for (int i = 0; i < 8; i++) {
        int64_t t = closed_within(fds[i], 2000);
        assert_true(t >= 0 && t < 1000);
        close(fds[i]);
    }
    stop_join(&st);
    assert_true(st.took_ms < 1000);
}

/* A request whose body is still arriving is served if it completes during the drain, with
 * Connection: close; the stop waits for it no longer than the drain. */
static void stop_serves_a_request_completing_during_the_drain(void **state)
{
    struct fx *f = *state;
    char buf[2048];
    struct vk_http_opts o;
    vk_http_opts_defaults(&o);
    o.shutdown_timeout_s = 5;
    assert_int_equal(start_opts(f, &o, 1, 1), 0);
    int a = dial(f->port, NULL);
    assert_true(a >= 0);
    assert_int_equal(send_all(a, "POST /fast HTTP/1.1\r\nHost: t\r\nContent-Type: text/plain\r\n"
                                 "Content-Length: 4\r\n\r\nab"),
                     0);
    usleep(200 * 1000);
    struct stopper st;
    stop_async(f, &st);
    usleep(300 * 1000);
    assert_int_equal(counter(&st.done), 0);
    assert_int_equal(send_all(a, "cd"), 0);
    assert_int_equal(read_response(a, 5000, buf, sizeof buf), 200);
    assert_non_null(strstr(buf, "Connection: close\r\n"));
    stop_join(&st);
    assert_true(st.took_ms < 2000);
    close(a);
}

/* ---- connection limits ---- */

static void per_address_cap_refuses_one_host_and_serves_another(void **state)
{
    struct fx *f = *state;
    char buf[2048];
    struct vk_http_opts o;
    vk_http_opts_defaults(&o);
    o.conn_limit = 16;
    o.conn_limit_per_addr = 4;
    assert_int_equal(start_opts(f, &o, 1, 1), 0);
    int held[4];
    for (int i = 0; i < 4; i++) {
        held[i] = dial(f->port, "127.0.0.3");
        assert_true(held[i] >= 0);
    }
    for (int i = 0; i < 4; i++)
        assert_int_equal(closed_within(held[i], i == 0 ? 300 : 0), -1);
    /* The fifth from the same address is closed at once; more do not fill the server. */
    for (int i = 0; i < 20; i++) {
        int x = dial(f->port, "127.0.0.3");
        if (x < 0)
            continue; /* refused before connect completed: as good */
        int64_t t = closed_within(x, 2000);
        assert_true(t >= 0 && t < 1000);
        close(x);
    }
    /* Another address is served at once. */
    int y = dial(f->port, "127.0.0.2");
    assert_true(y >= 0);
    int64_t t0 = now_ms();
    assert_int_equal(send_get(y, "/fast"), 0);
    assert_int_equal(read_response(y, 2000, buf, sizeof buf), 200);
    assert_true(now_ms() - t0 < 1000);
    close(y);
    /* A held connection works, and once one goes the address may open another. */
    assert_int_equal(send_get(held[0], "/fast"), 0);
    assert_int_equal(read_response(held[0], 2000, buf, sizeof buf), 200);
    close(held[0]);
    int again = -1;
    for (int i = 0; i < 100 && again < 0; i++) {
        usleep(20 * 1000);
        int x = dial(f->port, "127.0.0.3");
        if (x >= 0 && closed_within(x, 100) == -1)
            again = x;
        else if (x >= 0)
            close(x);
    }
    assert_true(again >= 0);
    assert_int_equal(send_get(again, "/fast"), 0);
    assert_int_equal(read_response(again, 2000, buf, sizeof buf), 200);
    close(again);
    for (int i = 1; i < 4; i++)
        close(held[i]);
}

static void slowloris_and_idle_connections_are_cut_at_the_head_deadline(void **state)
{
    struct fx *f = *state;
    char buf[2048];
    struct vk_http_opts o;
    vk_http_opts_defaults(&o);
    o.header_timeout_s = 1;
    assert_int_equal(start_opts(f, &o, 1, 1), 0);
    int idle = dial(f->port, "127.0.0.3");
    int loris = dial(f->port, "127.0.0.4");
    assert_true(idle >= 0 && loris >= 0);
    int64_t t0 = now_ms();
    assert_int_equal(send_all(loris, "GET /fast HTTP/1.1\r\nHost: t\r\n"), 0);
    /* A header line every 200 ms renews libmicrohttpd's idle timeout, but not the deadline. */
    int64_t loris_closed = -1, idle_closed = -1;
    while (now_ms() - t0 < 5000 && (loris_closed < 0 || idle_closed < 0)) {
        if (loris_closed < 0 && send_all(loris, "X-Slow: 1\r\n") != 0)
            loris_closed = now_ms() - t0;
        if (loris_closed < 0 && closed_within(loris, 100) >= 0)
            loris_closed = now_ms() - t0;
        if (idle_closed < 0 && closed_within(idle, 100) >= 0)
            idle_closed = now_ms() - t0;
    }
    assert_true(loris_closed >= 700 && loris_closed < 2500);
    assert_true(idle_closed >= 700 && idle_closed < 2500);
    close(idle);
    close(loris);
    /* A keep-alive connection idle after its response is closed on the same deadline. */
    int ka = dial(f->port, NULL);
    assert_true(ka >= 0);
    assert_int_equal(send_all(ka, "GET /fast HTTP/1.1\r\nHost: t\r\n\r\n"), 0);
    assert_int_equal(read_one(ka, 2000, buf, sizeof buf), 200);
    int64_t t = closed_within(ka, 4000);
    assert_true(t >= 700 && t < 2500);
    close(ka);
}

static void a_body_below_the_minimum_rate_is_cut_and_a_normal_one_is_served(void **state)
{
    struct fx *f = *state;
    char buf[2048];
    struct vk_http_opts o;
    vk_http_opts_defaults(&o);
    o.body_timeout_s = 1;
    o.body_min_rate = 100; /* bytes per second after the 1 s grace */
    assert_int_equal(start_opts(f, &o, 1, 1), 0);
    int slow = dial(f->port, NULL);
    assert_true(slow >= 0);
    int64_t t0 = now_ms();
    assert_int_equal(send_all(slow, "POST /fast HTTP/1.1\r\nHost: t\r\nContent-Type: text/plain\r\n"
                                    "Content-Length: 1000\r\n\r\n"),
                     0);
    int64_t closed = -1;
    while (now_ms() - t0 < 6000 && closed < 0) {
        if (send_all(slow, "x") != 0 || closed_within(slow, 100) >= 0)
            closed = now_ms() - t0; /* 10 bytes/s: well below the rate */
    }
    assert_true(closed >= 700 && closed < 3000);
    close(slow);

    int ok = dial(f->port, NULL);
    assert_true(ok >= 0);
    assert_int_equal(send_all(ok, "POST /fast HTTP/1.1\r\nHost: t\r\nContent-Type: text/plain\r\n"
                                  "Connection: close\r\nContent-Length: 10\r\n\r\n01234"),
                     0);
    usleep(300 * 1000);
    assert_int_equal(send_all(ok, "56789"), 0);
    assert_int_equal(read_response(ok, 2000, buf, sizeof buf), 200);
    close(ok);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(fast_route_answers_while_the_deferred_pool_is_busy, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(full_queue_sends_the_fallback_at_once, setup, teardown),
        cmocka_unit_test_setup_teardown(run_deferred_finishes_a_deferral_without_a_server, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(stop_runs_queued_deferred_work_and_closes_each_connection,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            stop_answers_unstarted_deferred_work_with_its_fallback_at_the_deadline, setup,
            teardown),
        cmocka_unit_test_setup_teardown(stop_closes_idle_keepalive_connections_at_once, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(stop_serves_a_request_completing_during_the_drain, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(per_address_cap_refuses_one_host_and_serves_another,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(slowloris_and_idle_connections_are_cut_at_the_head_deadline,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            a_body_below_the_minimum_rate_is_cut_and_a_normal_one_is_served, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
