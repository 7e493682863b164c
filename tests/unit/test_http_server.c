/* The libmicrohttpd adapter itself (http/server.c), started on 127.0.0.1:0 with a router of its
 * own and driven over real sockets: deferred work (vk_response_defer) runs off the worker
 * thread, a full pool answers with the handler's fallback at once. */
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
    {"/fast", VK_METHOD_GET, fast_handler, "fast", 0},
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

static int start(struct fx *f, unsigned defer_threads, unsigned defer_queue)
{
    struct vk_err err = {{0}};
    char bound[64];
    int fd;
    if (vk_http_listen("127.0.0.1:0", &fd, bound, sizeof bound, &err) != VK_OK)
        return -1;
    f->port = atoi(strchr(bound, ':') + 1);
    struct vk_http_opts o = {
        .fd = fd,
        .threads = 1, /* one worker thread: a blocked worker would stall every request */
        .defer_threads = defer_threads,
        .defer_queue = defer_queue,
        .router = &router,
    };
    if (vk_http_start(&o, &f->srv, &err) != VK_OK) {
        fprintf(stderr, "start: %s\n", err.msg);
        return -1;
    }
    return 0;
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

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(fast_route_answers_while_the_deferred_pool_is_busy, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(full_queue_sends_the_fallback_at_once, setup, teardown),
        cmocka_unit_test_setup_teardown(run_deferred_finishes_a_deferral_without_a_server, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
