/* The revocation feed client (src/verify/revfeed.c) against a small long-polling feed server run
 * by this test on 127.0.0.1: events reach cached tokens within a second, every event type, the
 * Basic credentials, the first page read before valetkey_verifier_new returns, fail-closed and
 * fail-open staleness, a full revocation list, a log that goes backwards, and the page parser's
 * refusals. Timing assertions have wide margins and every wait is bounded in count and time. */
#include "verify_test.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "base/b64url.h"

/* ---- the feed server ---- */

#define MAX_EVENTS 4096

struct event {
    uint64_t seq;
    char type[16];
    char value[64];
    int64_t exp;
};

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv; /* signalled when an event is added or stop is set */
    int fd, port;
    pthread_t thread;
    int stop;
    struct event ev[MAX_EVENTS];
    size_t n;
    uint64_t base;      /* seqs start after this (a "new database" lowers it) */
    int status;         /* answer with this status instead of the feed (0: the feed) */
    int hold;           /* 1: honour wait (long poll); 0: answer at once */
    char expect_auth[256]; /* the Authorization header value the server requires */
    unsigned long polls, unauthorized;
    char last_query[256];
} srv = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static char feed_url[96];

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0)
            return;
        p += w;
        n -= (size_t)w;
    }
}

static void answer(int fd, int status, const char *body)
{
    char head[256];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
                     "Connection: close\r\n\r\n",
                     status, strlen(body));
    send_all(fd, head, (size_t)n);
    send_all(fd, body, strlen(body));
}

/* The page after `after` (srv.mu held): at most PAGE events, as the real server pages. */
#define PAGE 200
static char *page(uint64_t after)
{
    size_t cap = 64 + srv.n * 160, o = 0;
    char *b = malloc(cap);
    assert_non_null(b);
    o += (size_t)snprintf(b + o, cap - o, "{\"events\":[");
    bool first = true;
    uint64_t last = srv.base + srv.n;
    size_t k = 0;
    for (size_t i = 0; i < srv.n; i++) {
        if (srv.ev[i].seq <= after)
            continue;
        if (k++ == PAGE) {
            last = srv.ev[i - 1].seq;
            break;
        }
        o += (size_t)snprintf(b + o, cap - o, "%s{\"seq\":%llu,\"type\":\"%s\",\"%s\":\"%s\","
                                              "\"exp\":%lld}",
                              first ? "" : ",", (unsigned long long)srv.ev[i].seq,
                              srv.ev[i].type,
                              strcmp(srv.ev[i].type, "client") == 0 ? "client_id"
                              : strcmp(srv.ev[i].type, "jti") == 0  ? "jti"
                              : strcmp(srv.ev[i].type, "sub") == 0  ? "sub"
                                                                    : "x",
                              srv.ev[i].value, (long long)srv.ev[i].exp);
        first = false;
    }
    snprintf(b + o, cap - o, "],\"next\":%llu}", (unsigned long long)last);
    return b;
}

static void serve_one(int fd)
{
    char req[4096];
    size_t n = 0;
    double until = mono() + 5;
    while (n < sizeof req - 1 && mono() < until) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 100) <= 0)
            continue;
        ssize_t r = recv(fd, req + n, sizeof req - 1 - n, 0);
        if (r <= 0)
            break;
        n += (size_t)r;
        req[n] = '\0';
        if (strstr(req, "\r\n\r\n") != NULL)
            break;
    }
    req[n] = '\0';
    char target[512] = "";
    unsigned long long after = 0;
    long wait = 0;
    sscanf(req, "GET %511s", target);
    const char *q = strchr(target, '?');
    if (q == NULL || strncmp(target, "/revocations?", 13) != 0 ||
        sscanf(q, "?after=%llu&wait=%ld", &after, &wait) != 2) {
        answer(fd, 404, "{}");
        close(fd);
        return;
    }
    pthread_mutex_lock(&srv.mu);
    srv.polls++;
    snprintf(srv.last_query, sizeof srv.last_query, "%s", q + 1);
    char want[300];
    snprintf(want, sizeof want, "\r\nAuthorization: %s\r\n", srv.expect_auth);
    if (strstr(req, want) == NULL) { /* curl writes the name so */
        srv.unauthorized++;
        pthread_mutex_unlock(&srv.mu);
        answer(fd, 401, "{\"error\":\"invalid_client\"}");
        close(fd);
        return;
    }
    if (srv.status != 0) {
        int st = srv.status;
        pthread_mutex_unlock(&srv.mu);
        answer(fd, st, "{}");
        close(fd);
        return;
    }
    /* Long poll: hold while nothing is past `after`, up to `wait` seconds. */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts); /* srv.cv is on the default clock */
    ts.tv_sec += wait;
    while (srv.hold && !srv.stop && srv.base + srv.n == after &&
           pthread_cond_timedwait(&srv.cv, &srv.mu, &ts) == 0) {
    }
    char *body = page(after);
    pthread_mutex_unlock(&srv.mu);
    answer(fd, 200, body);
    free(body);
    close(fd);
}

/* One thread per connection: a held poll must not block the next connection. */
static void *conn_main(void *arg)
{
    serve_one((int)(intptr_t)arg);
    return NULL;
}

static void *serve(void *arg)
{
    (void)arg;
    while (!__atomic_load_n(&srv.stop, __ATOMIC_RELAXED)) {
        struct pollfd p = {srv.fd, POLLIN, 0};
        if (poll(&p, 1, 50) <= 0)
            continue;
        int c = accept(srv.fd, NULL, NULL);
        pthread_t t;
        if (c >= 0 && pthread_create(&t, NULL, conn_main, (void *)(intptr_t)c) == 0)
            pthread_detach(t);
        else if (c >= 0)
            close(c);
    }
    return NULL;
}

static void add_event(const char *type, const char *value, int64_t exp)
{
    pthread_mutex_lock(&srv.mu);
    assert_true(srv.n < MAX_EVENTS);
    struct event *e = &srv.ev[srv.n];
    e->seq = srv.base + srv.n + 1;
    snprintf(e->type, sizeof e->type, "%s", type);
    snprintf(e->value, sizeof e->value, "%s", value);
    e->exp = exp;
    srv.n++;
    pthread_cond_broadcast(&srv.cv);
    pthread_mutex_unlock(&srv.mu);
}

static unsigned long polls(void)
{
    pthread_mutex_lock(&srv.mu);
    unsigned long n = srv.polls;
    pthread_mutex_unlock(&srv.mu);
    return n;
}

static struct vk_jwk *key;
static char *jwks;

/* Standard base64 with padding (RFC 4648 §4), as HTTP Basic uses it. */
static void b64(const char *in, char *out)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t n = strlen(in), o = 0;
    const unsigned char *p = (const unsigned char *)in;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)p[i] << 16 | (i + 1 < n ? (unsigned)p[i + 1] << 8 : 0) |
                     (i + 2 < n ? p[i + 2] : 0);
        out[o++] = tab[v >> 18 & 63];
        out[o++] = tab[v >> 12 & 63];
        out[o++] = i + 1 < n ? tab[v >> 6 & 63] : '=';
        out[o++] = i + 2 < n ? tab[v & 63] : '=';
    }
    out[o] = '\0';
}

static void set_credentials(const char *id, const char *secret)
{
    char raw[128], enc[200];
    snprintf(raw, sizeof raw, "%s:%s", id, secret);
    b64(raw, enc);
    pthread_mutex_lock(&srv.mu);
    snprintf(srv.expect_auth, sizeof srv.expect_auth, "Basic %s", enc);
    pthread_mutex_unlock(&srv.mu);
}

static int setup(void **state)
{
    (void)state;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    srv.fd = socket(AF_INET, SOCK_STREAM, 0);
    if (srv.fd < 0 || bind(srv.fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        listen(srv.fd, 64) != 0 || getsockname(srv.fd, (struct sockaddr *)&a, &len) != 0)
        return -1;
    srv.port = ntohs(a.sin_port);
    snprintf(feed_url, sizeof feed_url, "http://127.0.0.1:%d/revocations", srv.port);
    key = t_key(VK_ALG_ES256);
    struct vk_jwk *set[] = {key, NULL};
    jwks = t_jwks(set);
    return pthread_create(&srv.thread, NULL, serve, NULL) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    pthread_mutex_lock(&srv.mu);
    __atomic_store_n(&srv.stop, 1, __ATOMIC_RELAXED);
    pthread_cond_broadcast(&srv.cv);
    pthread_mutex_unlock(&srv.mu);
    pthread_join(srv.thread, NULL);
    close(srv.fd);
    vk_jwk_free(key);
    free(jwks);
    return 0;
}

static int reset(void **state)
{
    (void)state;
    pthread_mutex_lock(&srv.mu);
    srv.n = 0;
    srv.base = 0;
    srv.status = 0;
    srv.hold = 1;
    srv.polls = srv.unauthorized = 0;
    pthread_mutex_unlock(&srv.mu);
    set_credentials("vk_c_rs", "vk_cs_secret");
    set_now(T0);
    return 0;
}

static void feed_options(struct valetkey_options *o)
{
    t_options(o, jwks);
    o->revocations_url = feed_url;
    o->revocations_client_id = "vk_c_rs";
    o->revocations_client_secret = "vk_cs_secret";
    o->revocations_wait = 5;
    o->http_timeout_ms = 2000;
}

static valetkey_verifier *feed_verifier(void)
{
    struct valetkey_options o;
    valetkey_verifier *v = NULL;
    feed_options(&o);
    assert_int_equal(valetkey_verifier_new(&v, &o), VALETKEY_OK);
    return v;
}

/* Verifies tok until it is refused with `want`, for at most `secs`; the seconds it took. */
static double until_refused(valetkey_verifier *v, const char *tok, int want, double secs)
{
    double t0 = mono();
    for (int i = 0; i < 100000; i++) {
        int rc = t_verify(v, tok);
        if (rc == want)
            return mono() - t0;
        assert_int_equal(rc, VALETKEY_OK);
        if (mono() - t0 > secs)
            break;
        usleep(2000);
    }
    return -1;
}

/* ---- tests ---- */

static void a_revoked_cached_token_is_refused_within_a_second(void **state)
{
    (void)state;
    valetkey_verifier *v = feed_verifier();
    char *tok = t_token(key, "feed-1", T0 + 600, NULL);
    char *other = t_token(key, "feed-2", T0 + 600, NULL);
    assert_int_equal(t_verify(v, tok), VALETKEY_OK); /* cached from here on */
    assert_int_equal(t_verify(v, other), VALETKEY_OK);
    /* Let the feed settle into a held poll, then revoke. */
    for (int i = 0; i < 200 && polls() < 2; i++)
        usleep(10000);
    add_event("jti", "feed-1", T0 + 600);
    double took = until_refused(v, tok, VALETKEY_TOKEN_REVOKED, 5);
    assert_true(took >= 0);
    assert_true(took < 1.0); /* the server answered the held poll at once */
    assert_int_equal(t_verify(v, other), VALETKEY_OK);
    int64_t stale = -1;
    uint64_t seq = 0;
    assert_int_equal(valetkey_revocations_status(v, &stale, &seq), VALETKEY_OK);
    assert_int_equal(stale, 0);
    assert_int_equal(seq, 1);
    free(tok);
    free(other);
    valetkey_verifier_free(v);
}

/* A token of user `sub` and client `client`. */
static char *token_of(const char *jti, const char *sub, const char *client)
{
    char *h = t_header(key, "at+jwt");
    char *p = t_printf("{\"iss\":\"" ISS "\",\"sub\":\"%s\",\"aud\":\"" AUD "\","
                       "\"client_id\":\"%s\",\"iat\":%d,\"exp\":%d,\"jti\":\"%s\"}",
                       sub, client, T0, T0 + 600, jti);
    char *tok = t_forge(key, h, p);
    free(h);
    free(p);
    return tok;
}

static void client_and_subject_events_revoke_every_token_they_name(void **state)
{
    (void)state;
    valetkey_verifier *v = feed_verifier();
    char *a = token_of("cs-1", "user-1", "vk_c_app");
    char *b = token_of("cs-2", "user-9", "vk_c_app");
    char *c = token_of("cs-3", "user-2", "vk_c_other");
    char *d = token_of("cs-4", "user-3", "vk_c_third");
    assert_int_equal(t_verify(v, a), VALETKEY_OK);
    assert_int_equal(t_verify(v, b), VALETKEY_OK);
    assert_int_equal(t_verify(v, c), VALETKEY_OK);
    assert_int_equal(t_verify(v, d), VALETKEY_OK);
    /* A jti equal to a client id names nothing but that jti: the kinds are separate. */
    add_event("jti", "vk_c_other", T0 + 600);
    add_event("client", "vk_c_app", T0 + 900);
    assert_true(until_refused(v, a, VALETKEY_TOKEN_REVOKED, 5) >= 0);
    assert_int_equal(t_verify(v, b), VALETKEY_TOKEN_REVOKED);
    assert_int_equal(t_verify(v, c), VALETKEY_OK);
    add_event("sub", "user-2", T0 + 900);
    assert_true(until_refused(v, c, VALETKEY_TOKEN_REVOKED, 5) >= 0);
    /* An unknown event type is passed over, and what follows it still applies. */
    add_event("future", "whatever", T0 + 900);
    add_event("jti", "cs-4", T0 + 600);
    assert_true(until_refused(v, d, VALETKEY_TOKEN_REVOKED, 5) >= 0);
    free(a);
    free(b);
    free(c);
    free(d);
    valetkey_verifier_free(v);
}

static void events_before_creation_are_applied_before_new_returns(void **state)
{
    (void)state;
    for (int i = 0; i < 300; i++) {
        char jti[32];
        snprintf(jti, sizeof jti, "pre-%d", i);
        add_event("jti", jti, T0 + 600);
    }
    valetkey_verifier *v = feed_verifier();
    char *tok = t_token(key, "pre-299", T0 + 600, NULL);
    assert_int_equal(t_verify(v, tok), VALETKEY_TOKEN_REVOKED);
    uint64_t seq = 0;
    assert_int_equal(valetkey_revocations_status(v, NULL, &seq), VALETKEY_OK);
    assert_int_equal(seq, 300);
    free(tok);
    valetkey_verifier_free(v);
}

static void background_fetch_leaves_the_first_read_to_the_thread(void **state)
{
    (void)state;
    add_event("jti", "bg-1", T0 + 600);
    pthread_mutex_lock(&srv.mu);
    srv.status = 503; /* nothing can be read yet */
    pthread_mutex_unlock(&srv.mu);
    struct valetkey_options o;
    valetkey_verifier *v = NULL;
    feed_options(&o);
    o.background_fetch = 1;
    unsigned long before = polls();
    double t0 = mono();
    assert_int_equal(valetkey_verifier_new(&v, &o), VALETKEY_OK);
    assert_true(mono() - t0 < 0.5);
    uint64_t seq = 9;
    assert_int_equal(valetkey_revocations_status(v, NULL, &seq), VALETKEY_OK);
    assert_int_equal(seq, 0);
    char *tok = t_token(key, "bg-1", T0 + 600, NULL);
    assert_int_equal(t_verify(v, tok), VALETKEY_OK); /* not read yet: stale within max_stale */
    pthread_mutex_lock(&srv.mu);
    srv.status = 0;
    pthread_mutex_unlock(&srv.mu);
    assert_true(until_refused(v, tok, VALETKEY_TOKEN_REVOKED, 10) >= 0);
    assert_true(polls() > before);
    free(tok);
    valetkey_verifier_free(v);
}

static void the_client_authenticates_with_basic_credentials(void **state)
{
    (void)state;
    /* Credentials are form-urlencoded before Basic encoding (RFC 6749 §2.3.1). */
    set_credentials("vk_c_rs", "a%2Bb%3Ac");
    struct valetkey_options o;
    valetkey_verifier *v = NULL;
    feed_options(&o);
    o.revocations_client_secret = "a+b:c";
    assert_int_equal(valetkey_verifier_new(&v, &o), VALETKEY_OK);
    uint64_t seq = 0;
    add_event("jti", "x", T0 + 600);
    int64_t stale = -1;
    for (int i = 0; i < 300; i++) {
        valetkey_revocations_status(v, &stale, &seq);
        if (seq == 1)
            break;
        usleep(10000);
    }
    assert_int_equal(seq, 1);
    pthread_mutex_lock(&srv.mu);
    assert_int_equal(srv.unauthorized, 0);
    pthread_mutex_unlock(&srv.mu);
    valetkey_verifier_free(v);

    /* Wrong credentials: the feed never syncs, and staleness grows from creation. */
    set_credentials("vk_c_rs", "other");
    feed_options(&o);
    o.revocations_max_stale = 1;
    assert_int_equal(valetkey_verifier_new(&v, &o), VALETKEY_OK);
    char *tok = t_token(key, "basic-1", T0 + 600, NULL);
    double took = until_refused(v, tok, VALETKEY_ESTALE, 6);
    assert_true(took >= 0);
    pthread_mutex_lock(&srv.mu);
    assert_true(srv.unauthorized >= 1);
    pthread_mutex_unlock(&srv.mu);
    free(tok);
    valetkey_verifier_free(v);
}

static void an_unreachable_feed_fails_closed_after_max_stale(void **state)
{
    (void)state;
    struct valetkey_options o;
    valetkey_verifier *v = NULL;
    feed_options(&o);
    o.revocations_max_stale = 1;
    assert_int_equal(valetkey_verifier_new(&v, &o), VALETKEY_OK);
    char *tok = t_token(key, "stale-1", T0 + 600, NULL);
    assert_int_equal(t_verify(v, tok), VALETKEY_OK);
    int64_t stale = -1;
    assert_int_equal(valetkey_revocations_status(v, &stale, NULL), VALETKEY_OK);
    assert_int_equal(stale, 0);
    /* The server starts failing: the held poll ends with it, then every poll fails. */
    pthread_mutex_lock(&srv.mu);
    srv.status = 500;
    srv.hold = 0;
    pthread_cond_broadcast(&srv.cv);
    pthread_mutex_unlock(&srv.mu);
    add_event("jti", "nothing", T0 + 600); /* wakes the held poll */
    double took = until_refused(v, tok, VALETKEY_ESTALE, 8);
    assert_true(took >= 0.9); /* not before max_stale */
    assert_int_equal(valetkey_http_status(VALETKEY_ESTALE), 503);
    assert_int_equal(valetkey_revocations_status(v, &stale, NULL), VALETKEY_ESTALE);
    assert_true(stale >= 1);
    /* Back: verifications resume. */
    pthread_mutex_lock(&srv.mu);
    srv.status = 0;
    srv.hold = 1;
    pthread_mutex_unlock(&srv.mu);
    int rc = VALETKEY_ESTALE;
    for (int i = 0; i < 800 && rc == VALETKEY_ESTALE; i++) {
        rc = t_verify(v, tok);
        if (rc == VALETKEY_ESTALE)
            usleep(10000);
    }
    assert_int_equal(rc, VALETKEY_OK);
    free(tok);
    valetkey_verifier_free(v);
}

static void fail_open_keeps_verifying_and_reports_staleness(void **state)
{
    (void)state;
    pthread_mutex_lock(&srv.mu);
    srv.status = 503;
    pthread_mutex_unlock(&srv.mu);
    struct valetkey_options o;
    valetkey_verifier *v = NULL;
    feed_options(&o);
    o.revocations_max_stale = 1;
    o.revocations_fail_open = 1;
    assert_int_equal(valetkey_verifier_new(&v, &o), VALETKEY_OK);
    char *tok = t_token(key, "open-1", T0 + 600, NULL);
    int64_t stale = 0;
    int st = VALETKEY_OK;
    double t0 = mono();
    while (mono() - t0 < 6 && st == VALETKEY_OK) {
        st = valetkey_revocations_status(v, &stale, NULL);
        usleep(20000);
    }
    assert_int_equal(st, VALETKEY_ESTALE);
    assert_true(stale >= 1);
    assert_int_equal(t_verify(v, tok), VALETKEY_OK);
    free(tok);
    valetkey_verifier_free(v);
}

static void a_full_revocation_list_fails_closed(void **state)
{
    (void)state;
    struct valetkey_options o;
    valetkey_verifier *v = NULL;
    feed_options(&o);
    o.revocation_entries = 16;
    o.revocations_fail_open = 1; /* does not apply to a full list */
    for (int i = 0; i < 2000; i++) {
        char jti[32];
        snprintf(jti, sizeof jti, "full-%d", i);
        add_event("jti", jti, T0 + 600);
    }
    assert_int_equal(valetkey_verifier_new(&v, &o), VALETKEY_OK);
    char *tok = t_token(key, "fine", T0 + 600, NULL);
    assert_int_equal(t_verify(v, tok), VALETKEY_ECAPACITY);
    uint64_t seq = 0;
    assert_int_equal(valetkey_revocations_status(v, NULL, &seq), VALETKEY_ECAPACITY);
    assert_true(seq < 2000); /* stopped at the event it could not hold */
    /* Once the revocations expire there is room: it catches up and accepts again. */
    set_now(T0 + 700);
    int rc = VALETKEY_ECAPACITY;
    for (int i = 0; i < 1000 && rc != VALETKEY_TOKEN_EXPIRED && rc != VALETKEY_OK; i++) {
        rc = t_verify(v, tok);
        usleep(10000);
    }
    /* exp T0 + 600 with 30 s of leeway: expired at T0 + 700, and no longer refused for room. */
    assert_int_equal(rc, VALETKEY_TOKEN_EXPIRED);
    free(tok);
    valetkey_verifier_free(v);
}

static void a_log_that_goes_backwards_is_read_again(void **state)
{
    (void)state;
    for (int i = 0; i < 5; i++)
        add_event("jti", "old", T0 + 600);
    valetkey_verifier *v = feed_verifier();
    uint64_t seq = 0;
    assert_int_equal(valetkey_revocations_status(v, NULL, &seq), VALETKEY_OK);
    assert_int_equal(seq, 5);
    /* A new database: two events, numbered from 1 again. */
    pthread_mutex_lock(&srv.mu);
    srv.n = 0;
    pthread_cond_broadcast(&srv.cv);
    pthread_mutex_unlock(&srv.mu);
    add_event("jti", "new-1", T0 + 600);
    add_event("jti", "new-2", T0 + 600);
    char *tok = t_token(key, "new-2", T0 + 600, NULL);
    assert_true(until_refused(v, tok, VALETKEY_TOKEN_REVOKED, 12) >= 0);
    free(tok);
    valetkey_verifier_free(v);
}

static void free_interrupts_a_held_poll(void **state)
{
    (void)state;
    struct valetkey_options o;
    valetkey_verifier *v = NULL;
    feed_options(&o);
    o.revocations_wait = 60;
    assert_int_equal(valetkey_verifier_new(&v, &o), VALETKEY_OK);
    for (int i = 0; i < 200 && polls() < 2; i++)
        usleep(10000);
    double t0 = mono();
    valetkey_verifier_free(v);
    assert_true(mono() - t0 < 2.0);
}

static void options_are_checked(void **state)
{
    (void)state;
    struct valetkey_options o;
    valetkey_verifier *v = NULL;
    feed_options(&o);
    o.revocations_client_secret = NULL;
    assert_int_equal(valetkey_verifier_new(&v, &o), VALETKEY_EINVAL);
    feed_options(&o);
    o.revocations_url = "http://feed.example/revocations"; /* plain http beyond loopback */
    assert_int_equal(valetkey_verifier_new(&v, &o), VALETKEY_EINVAL);
    feed_options(&o);
    o.revocations_url = "http://127.0.0.1:1/revocations?after=3";
    assert_int_equal(valetkey_verifier_new(&v, &o), VALETKEY_EINVAL);
    feed_options(&o);
    o.revocations_wait = 0;
    assert_int_equal(valetkey_verifier_new(&v, &o), VALETKEY_EINVAL);
    assert_null(v);
    /* Without a feed there is no feed status. */
    v = t_verifier(jwks);
    assert_int_equal(valetkey_revocations_status(v, NULL, NULL), VALETKEY_EINVAL);
    valetkey_verifier_free(v);
}

/* ---- the page parser ---- */

struct applied {
    int n;
    enum vk_revoke_kind kind[8];
    char value[8][64];
    int64_t until[8];
    int fail_at; /* 1-based: that call returns VK_ETOOBIG */
};

static int record(void *arg, enum vk_revoke_kind kind, vk_str value, int64_t until)
{
    struct applied *a = arg;
    if (a->fail_at == a->n + 1)
        return VK_ETOOBIG;
    a->kind[a->n] = kind;
    snprintf(a->value[a->n], sizeof a->value[0], "%.*s", (int)value.len, value.p);
    a->until[a->n] = until;
    a->n++;
    return VK_OK;
}

static int parse(const char *doc, uint64_t after, struct applied *a, uint64_t *next)
{
    size_t n = 0;
    int rc = vk_revfeed_apply_doc(doc, strlen(doc), after, record, a, next, &n);
    assert_int_equal(n, (size_t)a->n);
    return rc;
}

static void pages_are_parsed_strictly(void **state)
{
    (void)state;
    struct applied a = {0};
    uint64_t next = 0;
    assert_int_equal(parse("{\"events\":[{\"seq\":4,\"type\":\"jti\",\"jti\":\"j\",\"exp\":9},"
                           "{\"seq\":6,\"type\":\"client\",\"client_id\":\"c\",\"exp\":10},"
                           "{\"seq\":7,\"type\":\"sub\",\"sub\":\"s\",\"exp\":11}],\"next\":9}",
                           3, &a, &next),
                     VK_OK);
    assert_int_equal(a.n, 3);
    assert_int_equal(a.kind[0], VK_REVOKE_JTI);
    assert_int_equal(a.kind[1], VK_REVOKE_CLIENT);
    assert_int_equal(a.kind[2], VK_REVOKE_SUB);
    assert_string_equal(a.value[1], "c");
    assert_int_equal(a.until[2], 11);
    assert_int_equal(next, 9);

    static const char *const bad[] = {
        "", "[]", "{\"events\":[]}", "{\"next\":3}", "{\"events\":{},\"next\":3}",
        /* sequence numbers are positive (and go up: below) */
        "{\"events\":[{\"seq\":0,\"type\":\"jti\",\"jti\":\"j\",\"exp\":9}],\"next\":6}",
        /* the member named by the type, a non-empty string */
        "{\"events\":[{\"seq\":5,\"type\":\"jti\",\"sub\":\"j\",\"exp\":9}],\"next\":5}",
        "{\"events\":[{\"seq\":5,\"type\":\"jti\",\"jti\":\"\",\"exp\":9}],\"next\":5}",
        "{\"events\":[{\"seq\":5,\"type\":\"jti\",\"jti\":7,\"exp\":9}],\"next\":5}",
        "{\"events\":[{\"seq\":5,\"type\":\"jti\",\"jti\":\"a\\u0000b\",\"exp\":9}],\"next\":5}",
        "{\"events\":[{\"seq\":5,\"type\":\"jti\",\"jti\":\"j\"}],\"next\":5}",
        "{\"events\":[{\"seq\":5,\"jti\":\"j\",\"exp\":9}],\"next\":5}",
        /* next short of the last event */
        "{\"events\":[{\"seq\":5,\"type\":\"jti\",\"jti\":\"j\",\"exp\":9}],\"next\":4}",
        "{\"events\":[],\"next\":-1}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memset(&a, 0, sizeof a);
        int rc = parse(bad[i], 3, &a, &next);
        if (rc != VK_EINVAL)
            fail_msg("accepted page %zu: %s", i, bad[i]);
        assert_int_equal(a.n, 0);
        assert_int_equal(next, 3);
    }
    /* A value longer than 255 bytes. */
    char *long_doc = malloc(600);
    char v[300];
    memset(v, 'a', 256);
    v[256] = '\0';
    snprintf(long_doc, 600, "{\"events\":[{\"seq\":5,\"type\":\"jti\",\"jti\":\"%s\",\"exp\":9}],"
                            "\"next\":5}", v);
    memset(&a, 0, sizeof a);
    assert_int_equal(parse(long_doc, 3, &a, &next), VK_EINVAL);
    free(long_doc);

    /* A failure stops at that event: next is the last one applied, so it is asked for again. */
    memset(&a, 0, sizeof a);
    a.fail_at = 2;
    assert_int_equal(parse("{\"events\":[{\"seq\":4,\"type\":\"jti\",\"jti\":\"j\",\"exp\":9},"
                           "{\"seq\":6,\"type\":\"jti\",\"jti\":\"k\",\"exp\":9}],\"next\":6}",
                           3, &a, &next),
                     VK_ETOOBIG);
    assert_int_equal(a.n, 1);
    assert_int_equal(next, 4);
    /* A seq going down after a good event: the good one counts, the rest is refused. */
    memset(&a, 0, sizeof a);
    assert_int_equal(parse("{\"events\":[{\"seq\":6,\"type\":\"jti\",\"jti\":\"j\",\"exp\":9},"
                           "{\"seq\":5,\"type\":\"jti\",\"jti\":\"k\",\"exp\":9}],\"next\":6}",
                           3, &a, &next),
                     VK_EINVAL);
    assert_int_equal(a.n, 1);
    assert_int_equal(next, 6);
    /* A repeated seq after a good event: the good one counts, the rest is refused. */
    memset(&a, 0, sizeof a);
    assert_int_equal(parse("{\"events\":[{\"seq\":5,\"type\":\"jti\",\"jti\":\"j\",\"exp\":9},"
                           "{\"seq\":5,\"type\":\"jti\",\"jti\":\"k\",\"exp\":9}],\"next\":5}",
                           3, &a, &next),
                     VK_EINVAL);
    assert_int_equal(a.n, 1);
    assert_int_equal(next, 5);
    /* A malformed event after good ones: the good ones count. */
    memset(&a, 0, sizeof a);
    assert_int_equal(parse("{\"events\":[{\"seq\":4,\"type\":\"jti\",\"jti\":\"j\",\"exp\":9},"
                           "{\"seq\":6,\"type\":\"jti\",\"exp\":9}],\"next\":6}",
                           3, &a, &next),
                     VK_EINVAL);
    assert_int_equal(a.n, 1);
    assert_int_equal(next, 4);
    /* Events at or below `after` were applied before: passed over. */
    memset(&a, 0, sizeof a);
    assert_int_equal(parse("{\"events\":[{\"seq\":2,\"type\":\"jti\",\"jti\":\"old\",\"exp\":9},"
                           "{\"seq\":4,\"type\":\"jti\",\"jti\":\"new\",\"exp\":9}],\"next\":4}",
                           3, &a, &next),
                     VK_OK);
    assert_int_equal(a.n, 1);
    assert_string_equal(a.value[0], "new");
    assert_int_equal(next, 4);
    /* An empty page may move next forward, or (a new database) below after. */
    memset(&a, 0, sizeof a);
    assert_int_equal(parse("{\"events\":[],\"next\":12}", 3, &a, &next), VK_OK);
    assert_int_equal(next, 12);
    assert_int_equal(parse("{\"events\":[],\"next\":1}", 3, &a, &next), VK_OK);
    assert_int_equal(next, 1);
}

/* revocations_start_closed (nginx: every reload starts verifiers anew): until the feed has been
 * read once the verifier knows no revocation, so it refuses (503), and then applies what it
 * read before it accepts anything. */
static void start_closed_refuses_until_the_feed_was_read(void **state)
{
    (void)state;
    add_event("jti", "sc-1", T0 + 600);
    pthread_mutex_lock(&srv.mu);
    srv.status = 503; /* nothing can be read yet */
    pthread_mutex_unlock(&srv.mu);
    struct valetkey_options o;
    valetkey_verifier *v = NULL;
    feed_options(&o);
    o.background_fetch = 1;
    o.revocations_start_closed = 1;
    assert_int_equal(valetkey_verifier_new(&v, &o), VALETKEY_OK);
    char *revoked = t_token(key, "sc-1", T0 + 600, NULL);
    char *fine = t_token(key, "sc-2", T0 + 600, NULL);
    assert_int_equal(t_verify(v, revoked), VALETKEY_ESTALE);
    assert_int_equal(t_verify(v, fine), VALETKEY_ESTALE);
    pthread_mutex_lock(&srv.mu);
    srv.status = 0;
    pthread_mutex_unlock(&srv.mu);
    int rc = VALETKEY_ESTALE;
    for (int i = 0; i < 1000 && rc == VALETKEY_ESTALE; i++) {
        rc = t_verify(v, revoked);
        if (rc == VALETKEY_ESTALE)
            usleep(10000);
    }
    assert_int_equal(rc, VALETKEY_TOKEN_REVOKED); /* never accepted in between */
    assert_int_equal(t_verify(v, fine), VALETKEY_OK);
    valetkey_verifier_free(v);
    /* Fail-open verifiers are not held back. */
    pthread_mutex_lock(&srv.mu);
    srv.status = 503;
    pthread_mutex_unlock(&srv.mu);
    o.revocations_fail_open = 1;
    assert_int_equal(valetkey_verifier_new(&v, &o), VALETKEY_OK);
    assert_int_equal(t_verify(v, fine), VALETKEY_OK);
    valetkey_verifier_free(v);
    pthread_mutex_lock(&srv.mu);
    srv.status = 0;
    pthread_mutex_unlock(&srv.mu);
    free(revoked);
    free(fine);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pages_are_parsed_strictly),
        cmocka_unit_test_setup(options_are_checked, reset),
        cmocka_unit_test_setup(a_revoked_cached_token_is_refused_within_a_second, reset),
        cmocka_unit_test_setup(client_and_subject_events_revoke_every_token_they_name, reset),
        cmocka_unit_test_setup(events_before_creation_are_applied_before_new_returns, reset),
        cmocka_unit_test_setup(background_fetch_leaves_the_first_read_to_the_thread, reset),
        cmocka_unit_test_setup(start_closed_refuses_until_the_feed_was_read, reset),
        cmocka_unit_test_setup(the_client_authenticates_with_basic_credentials, reset),
        cmocka_unit_test_setup(an_unreachable_feed_fails_closed_after_max_stale, reset),
        cmocka_unit_test_setup(fail_open_keeps_verifying_and_reports_staleness, reset),
        cmocka_unit_test_setup(a_full_revocation_list_fails_closed, reset),
        cmocka_unit_test_setup(a_log_that_goes_backwards_is_read_again, reset),
        cmocka_unit_test_setup(free_interrupts_a_held_poll, reset),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
