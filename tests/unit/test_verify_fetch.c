/* The remote key source (src/verify/jwks_cache.c, fetch.c) against a small HTTP server run by
 * this test on 127.0.0.1: discovery, the issuer check, the unknown-kid refetch rate limit under
 * a flood of made-up kids, key rotation, background refresh, no redirects, size and time limits,
 * and a verifier freed in the middle of a slow fetch. */
#include "verify_test.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* ---- the test server ---- */

static struct {
    pthread_mutex_t mu;
    int fd;
    int port;
    pthread_t thread;
    int stop;
    char *metadata; /* body of /.well-known/oauth-authorization-server */
    char *jwks;     /* body of /jwks.json */
    int status;     /* for /jwks.json */
    int redirect;   /* 1: the metadata answers 302 to /jwks.json */
    int delay_ms;   /* before answering /jwks.json */
    unsigned long n_meta, n_oidc, n_jwks;
} srv = {.mu = PTHREAD_MUTEX_INITIALIZER};

static char origin[64];

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

static void answer(int fd, int status, const char *extra_headers, const char *body)
{
    char head[512];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
                     "Connection: close\r\n%s\r\n",
                     status, strlen(body), extra_headers);
    send_all(fd, head, (size_t)n);
    send_all(fd, body, strlen(body));
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
    char path[256] = "";
    sscanf(req, "GET %255s", path);
    pthread_mutex_lock(&srv.mu);
    if (strcmp(path, "/.well-known/oauth-authorization-server") == 0) {
        srv.n_meta++;
        if (srv.redirect) {
            char loc[160];
            snprintf(loc, sizeof loc, "Location: %s/jwks.json\r\n", origin);
            answer(fd, 302, loc, "");
        } else {
            answer(fd, 200, "", srv.metadata);
        }
    } else if (strcmp(path, "/.well-known/openid-configuration") == 0) {
        srv.n_oidc++;
        answer(fd, 404, "", "{}");
    } else if (strcmp(path, "/jwks.json") == 0) {
        srv.n_jwks++;
        int delay = srv.delay_ms;
        char *body = strdup(srv.jwks);
        int status = srv.status;
        pthread_mutex_unlock(&srv.mu);
        /* Waits, unless the test ends or the client hangs up (a timeout, a freed verifier). */
        for (int waited = 0; waited < delay && !__atomic_load_n(&srv.stop, __ATOMIC_RELAXED);
             waited += 10) {
            struct pollfd p = {fd, POLLIN, 0};
            char c;
            if (poll(&p, 1, 10) > 0 && recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) <= 0)
                break;
        }
        answer(fd, status, "", body);
        free(body);
        pthread_mutex_lock(&srv.mu);
    } else {
        answer(fd, 404, "", "{}");
    }
    pthread_mutex_unlock(&srv.mu);
    close(fd);
}

static void *serve(void *arg)
{
    (void)arg;
    while (!__atomic_load_n(&srv.stop, __ATOMIC_RELAXED)) {
        struct pollfd p = {srv.fd, POLLIN, 0};
        if (poll(&p, 1, 50) <= 0)
            continue;
        int c = accept(srv.fd, NULL, NULL);
        if (c >= 0)
            serve_one(c);
    }
    return NULL;
}

static void set_jwks(const char *doc)
{
    pthread_mutex_lock(&srv.mu);
    free(srv.jwks);
    srv.jwks = strdup(doc);
    pthread_mutex_unlock(&srv.mu);
}

static void set_metadata(const char *issuer, const char *jwks_uri)
{
    pthread_mutex_lock(&srv.mu);
    free(srv.metadata);
    srv.metadata = t_printf("{\"issuer\":\"%s\",\"jwks_uri\":\"%s\"}", issuer, jwks_uri);
    pthread_mutex_unlock(&srv.mu);
}

static unsigned long jwks_fetches(void)
{
    pthread_mutex_lock(&srv.mu);
    unsigned long n = srv.n_jwks;
    pthread_mutex_unlock(&srv.mu);
    return n;
}

static struct vk_jwk *ka, *kb;
static char *jwks_a, *jwks_ab, *jwks_b;
static char jwks_url[96];

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
    snprintf(origin, sizeof origin, "http://127.0.0.1:%d", srv.port);
    snprintf(jwks_url, sizeof jwks_url, "%s/jwks.json", origin);
    ka = t_key(VK_ALG_ES256);
    kb = t_key(VK_ALG_ES256);
    struct vk_jwk *s1[] = {ka, NULL}, *s2[] = {ka, kb, NULL}, *s3[] = {kb, NULL};
    jwks_a = t_jwks(s1);
    jwks_ab = t_jwks(s2);
    jwks_b = t_jwks(s3);
    return pthread_create(&srv.thread, NULL, serve, NULL) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    __atomic_store_n(&srv.stop, 1, __ATOMIC_RELAXED);
    pthread_join(srv.thread, NULL);
    close(srv.fd);
    free(srv.jwks);
    free(srv.metadata);
    vk_jwk_free(ka);
    vk_jwk_free(kb);
    free(jwks_a);
    free(jwks_ab);
    free(jwks_b);
    return 0;
}

/* Each test starts from: metadata naming our origin, key set {A}, no tricks, counters at 0. */
static int reset(void **state)
{
    (void)state;
    set_metadata(origin, jwks_url);
    set_jwks(jwks_a);
    pthread_mutex_lock(&srv.mu);
    srv.status = 200;
    srv.redirect = 0;
    srv.delay_ms = 0;
    srv.n_meta = srv.n_oidc = srv.n_jwks = 0;
    pthread_mutex_unlock(&srv.mu);
    set_now(T0);
    return 0;
}

static const char *const local_aud[] = {AUD, NULL};

static void remote_options(struct valetkey_options *o)
{
    valetkey_options_init(o);
    o->issuer = origin;
    o->audiences = local_aud;
    o->clock = test_clock;
    o->http_timeout_ms = 3000;
}

/* A token from our test issuer (iss = origin). */
static char *local_token(const struct vk_jwk *k, const char *kid, const char *jti)
{
    char *h = t_printf("{\"alg\":\"ES256\",\"typ\":\"at+jwt\",\"kid\":\"%s\"}",
                       kid != NULL ? kid : vk_jwk_kid(k));
    char *p = t_printf("{\"iss\":\"%s\",\"sub\":\"u\",\"aud\":\"" AUD "\",\"client_id\":\"c\","
                       "\"iat\":%d,\"exp\":%d,\"jti\":\"%s\"}",
                       origin, T0, T0 + 3600, jti);
    char *tok = t_forge(k, h, p);
    free(h);
    free(p);
    return tok;
}

/* ---- tests ---- */

static void keys_are_discovered_from_the_issuer(void **state)
{
    (void)state;
    struct valetkey_options o;
    valetkey_verifier *v = NULL;
    remote_options(&o);
    assert_int_equal(valetkey_verifier_new(&v, &o), VALETKEY_OK);
    char *tok = local_token(ka, NULL, "d-1");
    assert_int_equal(t_verify(v, tok), VALETKEY_OK);
    pthread_mutex_lock(&srv.mu);
    assert_int_equal(srv.n_meta, 1); /* RFC 8414 first */
    assert_int_equal(srv.n_oidc, 0);
    assert_int_equal(srv.n_jwks, 1);
    pthread_mutex_unlock(&srv.mu);
    free(tok);
    valetkey_verifier_free(v);

    /* With jwks_uri given, no discovery. */
    reset(state);
    remote_options(&o);
    o.jwks_uri = jwks_url;
    assert_int_equal(valetkey_verifier_new(&v, &o), VALETKEY_OK);
    pthread_mutex_lock(&srv.mu);
    assert_int_equal(srv.n_meta, 0);
    assert_int_equal(srv.n_jwks, 1);
    pthread_mutex_unlock(&srv.mu);
    valetkey_verifier_free(v);
}

struct flood {
    valetkey_verifier *v;
    int n;
    int unknown;
};

static void *flood_thread(void *arg)
{
    struct flood *f = arg;
    for (int i = 0; i < f->n; i++) {
        char kid[32];
        static unsigned long seq;
        snprintf(kid, sizeof kid, "forged-%lu-%d", __atomic_add_fetch(&seq, 1, __ATOMIC_RELAXED),
                 i);
        char *tok = local_token(ka, kid, "f");
        f->unknown += t_verify(f->v, tok) == VALETKEY_TOKEN_UNKNOWN_KEY;
        free(tok);
    }
    return NULL;
}

static void unknown_kids_refetch_at_most_once_per_interval(void **state)
{
    (void)state;
    struct valetkey_options o;
    valetkey_verifier *v = NULL;
    remote_options(&o);
    o.min_refetch_interval = 30;
    assert_int_equal(valetkey_verifier_new(&v, &o), VALETKEY_OK);
    assert_int_equal(jwks_fetches(), 1);

    /* A flood of made-up kids right after start: the fetch at creation counts. */
    struct flood f = {v, 300, 0};
    flood_thread(&f);
    assert_int_equal(f.unknown, 300);
    assert_int_equal(jwks_fetches(), 1);

    /* One interval later: the first unknown kid refetches, the other 299 do not. */
    set_now(T0 + 30);
    f.unknown = 0;
    flood_thread(&f);
    assert_int_equal(f.unknown, 300);
    assert_int_equal(jwks_fetches(), 2);

    /* Four threads at once when the interval opens again: still exactly one fetch. */
    set_now(T0 + 60);
    struct flood fs[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        fs[i] = (struct flood){v, 100, 0};
        pthread_create(&th[i], NULL, flood_thread, &fs[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(fs[i].unknown, 100);
    }
    assert_int_equal(jwks_fetches(), 3);

    /* A real rotation: the issuer adds key B. A token signed with B waits for the interval. */
    set_jwks(jwks_ab);
    char *tok = local_token(kb, NULL, "rot-b");
    set_now(T0 + 61);
    assert_int_equal(t_verify(v, tok), VALETKEY_TOKEN_UNKNOWN_KEY);
    assert_int_equal(jwks_fetches(), 3);
    set_now(T0 + 90);
    assert_int_equal(t_verify(v, tok), VALETKEY_OK); /* refetched once, then verified */
    assert_int_equal(jwks_fetches(), 4);
    assert_int_equal(t_verify(v, tok), VALETKEY_OK);
    assert_int_equal(jwks_fetches(), 4);
    free(tok);
    valetkey_verifier_free(v);
}

static void metadata_must_name_the_same_issuer(void **state)
{
    (void)state;
    struct valetkey_options o;
    valetkey_verifier *v = NULL;
    remote_options(&o);
    set_metadata("https://as.example", jwks_url);
    assert_int_equal(valetkey_verifier_new(&v, &o), VALETKEY_EFETCH);
    assert_int_equal(jwks_fetches(), 0);
    /* A jwks_uri over http to a host that is not loopback is not fetched either. */
    set_metadata(origin, "http://192.0.2.1/jwks.json");
    assert_int_equal(valetkey_verifier_new(&v, &o), VALETKEY_EFETCH);
    /* Neither is an issuer like that. */
    o.issuer = "http://192.0.2.1";
    assert_int_equal(valetkey_verifier_new(&v, &o), VALETKEY_EINVAL);
    assert_null(v);
}

static void redirects_are_not_followed(void **state)
{
    (void)state;
    struct valetkey_options o;
    valetkey_verifier *v = NULL;
    pthread_mutex_lock(&srv.mu);
    srv.redirect = 1;
    pthread_mutex_unlock(&srv.mu);
    remote_options(&o);
    assert_int_equal(valetkey_verifier_new(&v, &o), VALETKEY_EFETCH);
    pthread_mutex_lock(&srv.mu);
    assert_int_equal(srv.n_meta, 1);
    assert_int_equal(srv.n_oidc, 1); /* then the OpenID Connect location, which is 404 */
    assert_int_equal(srv.n_jwks, 0); /* the redirect target was never requested */
    pthread_mutex_unlock(&srv.mu);
}

static void oversized_or_failed_responses_are_refused(void **state)
{
    (void)state;
    struct valetkey_options o;
    valetkey_verifier *v = NULL;
    size_t big = 70 * 1024;
    char *doc = malloc(big + 64);
    size_t at = (size_t)snprintf(doc, big + 64, "{\"keys\":[],\"pad\":\"");
    memset(doc + at, 'x', big);
    memcpy(doc + at + big, "\"}", 3);
    set_jwks(doc);
    remote_options(&o);
    assert_int_equal(valetkey_verifier_new(&v, &o), VALETKEY_EFETCH);
    free(doc);
    set_jwks(jwks_a);
    pthread_mutex_lock(&srv.mu);
    srv.status = 500;
    pthread_mutex_unlock(&srv.mu);
    assert_int_equal(valetkey_verifier_new(&v, &o), VALETKEY_EFETCH);
    pthread_mutex_lock(&srv.mu);
    srv.status = 200;
    pthread_mutex_unlock(&srv.mu);
    set_jwks("<html>");
    assert_int_equal(valetkey_verifier_new(&v, &o), VALETKEY_EFETCH);
    assert_null(v);
}

static void a_slow_server_times_out(void **state)
{
    (void)state;
    struct valetkey_options o;
    valetkey_verifier *v = NULL;
    pthread_mutex_lock(&srv.mu);
    srv.delay_ms = 5000;
    pthread_mutex_unlock(&srv.mu);
    remote_options(&o);
    o.http_timeout_ms = 300;
    double t = mono();
    assert_int_equal(valetkey_verifier_new(&v, &o), VALETKEY_EFETCH);
    assert_true(mono() - t < 4.0); /* generous: 0.3 s expected */
    pthread_mutex_lock(&srv.mu);
    srv.delay_ms = 0;
    pthread_mutex_unlock(&srv.mu);
}

static void the_background_refresh_picks_up_new_keys(void **state)
{
    (void)state;
    struct valetkey_options o;
    valetkey_verifier *v = NULL;
    remote_options(&o);
    o.refresh_interval = 1;
    o.min_refetch_interval = 86400; /* only the background thread may fetch */
    assert_int_equal(valetkey_verifier_new(&v, &o), VALETKEY_OK);
    char *tok = local_token(kb, NULL, "bg-1");
    assert_int_equal(t_verify(v, tok), VALETKEY_TOKEN_UNKNOWN_KEY);
    set_jwks(jwks_b);
    int rc = VALETKEY_TOKEN_UNKNOWN_KEY;
    for (int i = 0; i < 100 && rc != VALETKEY_OK; i++) { /* up to 10 s */
        usleep(100000);
        rc = t_verify(v, tok);
    }
    assert_int_equal(rc, VALETKEY_OK);
    /* A fetch that fails keeps the current set. */
    pthread_mutex_lock(&srv.mu);
    srv.status = 503;
    unsigned long before = srv.n_jwks;
    pthread_mutex_unlock(&srv.mu);
    for (int i = 0; i < 100 && jwks_fetches() < before + 2; i++)
        usleep(100000);
    assert_true(jwks_fetches() >= before + 2);
    char *tok2 = local_token(kb, NULL, "bg-2");
    assert_int_equal(t_verify(v, tok2), VALETKEY_OK);
    free(tok);
    free(tok2);
    valetkey_verifier_free(v);
}

static void free_interrupts_a_fetch_in_progress(void **state)
{
    (void)state;
    struct valetkey_options o;
    valetkey_verifier *v = NULL;
    remote_options(&o);
    o.refresh_interval = 1;
    o.http_timeout_ms = 60000;
    assert_int_equal(valetkey_verifier_new(&v, &o), VALETKEY_OK);
    pthread_mutex_lock(&srv.mu);
    srv.delay_ms = 30000;
    pthread_mutex_unlock(&srv.mu);
    for (int i = 0; i < 100 && jwks_fetches() < 2; i++) /* the refresher is now waiting */
        usleep(50000);
    assert_true(jwks_fetches() >= 2);
    usleep(100000);
    double t = mono();
    valetkey_verifier_free(v);
    assert_true(mono() - t < 5.0); /* not the 30 s the server would take */
    pthread_mutex_lock(&srv.mu);
    srv.delay_ms = 0;
    pthread_mutex_unlock(&srv.mu);
}

/* background_fetch (event-loop hosts such as nginx): creation and verification never wait for
 * the network. Until the first set arrives the answer is VALETKEY_EFETCH (503); the set arrives
 * in the background, also when the issuer comes up later; an unknown kid wakes the thread. */
static void background_fetch_never_waits(void **state)
{
    (void)state;
    struct valetkey_options o;
    valetkey_verifier *v = NULL;
    pthread_mutex_lock(&srv.mu);
    srv.delay_ms = 1500;
    pthread_mutex_unlock(&srv.mu);
    remote_options(&o);
    o.background_fetch = 1;
    o.min_refetch_interval = 1;
    double t = mono();
    assert_int_equal(valetkey_verifier_new(&v, &o), VALETKEY_OK);
    char *tok = local_token(ka, NULL, "bgf-1");
    assert_int_equal(t_verify(v, tok), VALETKEY_EFETCH);
    assert_true(mono() - t < 1.0); /* the server takes 1.5 s to answer */
    int rc = VALETKEY_EFETCH;
    for (int i = 0; i < 100 && rc == VALETKEY_EFETCH; i++) { /* up to 10 s */
        usleep(100000);
        rc = t_verify(v, tok);
    }
    assert_int_equal(rc, VALETKEY_OK);

    /* The issuer rotates in key B. The first token signed with it is refused at once, without
     * waiting for the (slow) fetch it triggers; a later one is accepted. */
    set_jwks(jwks_ab);
    unsigned long before = jwks_fetches();
    set_now(T0 + 2);
    char *tb = local_token(kb, NULL, "bgf-2");
    t = mono();
    assert_int_equal(t_verify(v, tb), VALETKEY_TOKEN_UNKNOWN_KEY);
    assert_int_equal(t_verify(v, tb), VALETKEY_TOKEN_UNKNOWN_KEY); /* rate-limited: no 2nd */
    assert_true(mono() - t < 1.0);
    rc = VALETKEY_TOKEN_UNKNOWN_KEY;
    for (int i = 0; i < 100 && rc != VALETKEY_OK; i++) {
        usleep(100000);
        rc = t_verify(v, tb);
    }
    assert_int_equal(rc, VALETKEY_OK);
    assert_int_equal(jwks_fetches(), before + 1);
    free(tb);
    free(tok);
    valetkey_verifier_free(v);
    /* Freed while its first fetch is still waiting for the slow server: at once. */
    t = mono();
    valetkey_verifier *v2 = NULL;
    assert_int_equal(valetkey_verifier_new(&v2, &o), VALETKEY_OK);
    usleep(200000);
    valetkey_verifier_free(v2);
    assert_true(mono() - t < 1.2);
    pthread_mutex_lock(&srv.mu);
    srv.delay_ms = 0;
    pthread_mutex_unlock(&srv.mu);
}

static void background_fetch_retries_until_the_issuer_answers(void **state)
{
    (void)state;
    struct valetkey_options o;
    valetkey_verifier *v = NULL;
    pthread_mutex_lock(&srv.mu);
    srv.status = 503;
    pthread_mutex_unlock(&srv.mu);
    remote_options(&o);
    o.background_fetch = 1;
    assert_int_equal(valetkey_verifier_new(&v, &o), VALETKEY_OK);
    char *tok = local_token(ka, NULL, "bgr-1");
    for (int i = 0; i < 100 && jwks_fetches() < 2; i++) /* the first try and a retry */
        usleep(50000);
    assert_true(jwks_fetches() >= 2);
    assert_int_equal(t_verify(v, tok), VALETKEY_EFETCH);
    pthread_mutex_lock(&srv.mu);
    srv.status = 200;
    pthread_mutex_unlock(&srv.mu);
    int rc = VALETKEY_EFETCH;
    for (int i = 0; i < 150 && rc == VALETKEY_EFETCH; i++) { /* retries at 1, 2, 4, 8 s */
        usleep(100000);
        rc = t_verify(v, tok);
    }
    assert_int_equal(rc, VALETKEY_OK);
    /* Discovery happened once: only the key set was retried. */
    pthread_mutex_lock(&srv.mu);
    assert_int_equal(srv.n_meta, 1);
    pthread_mutex_unlock(&srv.mu);
    free(tok);
    valetkey_verifier_free(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(keys_are_discovered_from_the_issuer, reset),
        cmocka_unit_test_setup(unknown_kids_refetch_at_most_once_per_interval, reset),
        cmocka_unit_test_setup(metadata_must_name_the_same_issuer, reset),
        cmocka_unit_test_setup(redirects_are_not_followed, reset),
        cmocka_unit_test_setup(oversized_or_failed_responses_are_refused, reset),
        cmocka_unit_test_setup(a_slow_server_times_out, reset),
        cmocka_unit_test_setup(the_background_refresh_picks_up_new_keys, reset),
        cmocka_unit_test_setup(free_interrupts_a_fetch_in_progress, reset),
        cmocka_unit_test_setup(background_fetch_never_waits, reset),
        cmocka_unit_test_setup(background_fetch_retries_until_the_issuer_answers, reset),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
