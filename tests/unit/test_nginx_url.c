/* nginx/ngx_http_valetkey_url.c: the absolute URL the nginx module builds from a request for
 * DPoP's htu check (RFC 9449 §4.3 step 9) -- scheme from the connection, authority from Host (or
 * the server name and a non-default port), the request target as received, or an operator's
 * origin -- and that it compares equal, after libvaletkey's normalisation, to the htu a client
 * would put in its proof. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "../../nginx/ngx_http_valetkey_url.h"
#include "verify/verify.h"

static char out[VALETKEY_URL_MAX + 64];

/* Builds from a Host header (or none) and a target; returns out ("" on refusal). */
static const char *from_host(int tls, const char *host, const char *target)
{
    size_t n = ngx_http_valetkey_url(NULL, 0, tls, host, host ? strlen(host) : 0, "srv.example",
                                     11, tls ? 443 : 80, target, strlen(target), out, sizeof out);
    assert_int_equal(n, strlen(out));
    return out;
}

static const char *from_origin(const char *origin, const char *target)
{
    size_t n = ngx_http_valetkey_url(origin, strlen(origin), 0, "ignored.example", 15, NULL, 0,
                                     0, target, strlen(target), out, sizeof out);
    assert_int_equal(n, strlen(out));
    return out;
}

static void scheme_and_host_come_from_the_request(void **state)
{
    (void)state;
    assert_string_equal(from_host(0, "api.example:8080", "/v1/chat?x=1"),
                        "http://api.example:8080/v1/chat?x=1");
    assert_string_equal(from_host(1, "api.example", "/v1/chat"), "https://api.example/v1/chat");
    assert_string_equal(from_host(1, "[::1]:8443", "/"), "https://[::1]:8443/");
}

static void without_host_the_server_name_and_port_are_used(void **state)
{
    (void)state;
    size_t n = ngx_http_valetkey_url(NULL, 0, 1, NULL, 0, "api.example", 11, 8443, "/p", 2, out,
                                     sizeof out);
    assert_string_equal(out, "https://api.example:8443/p");
    assert_int_equal(n, strlen(out));
    ngx_http_valetkey_url(NULL, 0, 1, "", 0, "api.example", 11, 443, "/p", 2, out, sizeof out);
    assert_string_equal(out, "https://api.example/p"); /* the default port is not written */
    ngx_http_valetkey_url(NULL, 0, 0, NULL, 0, "api.example", 11, 80, "/p", 2, out, sizeof out);
    assert_string_equal(out, "http://api.example/p");
}

static void an_origin_replaces_scheme_and_host(void **state)
{
    (void)state;
    assert_string_equal(from_origin("https://api.example.com", "/v1/chat"),
                        "https://api.example.com/v1/chat");
    assert_string_equal(from_origin("https://api.example.com/", "/v1/chat"),
                        "https://api.example.com/v1/chat");
    assert_string_equal(from_origin("http://gw.internal:8080", "/a?b"),
                        "http://gw.internal:8080/a?b");
}

static void what_cannot_make_a_url_is_refused(void **state)
{
    (void)state;
    const char *targets[] = {"*", "", "v1/chat", "/a b", "/a\r\nX: y", "/\x7f"};
    for (size_t i = 0; i < sizeof targets / sizeof targets[0]; i++)
        assert_string_equal(from_host(0, "api.example", targets[i]), "");
    const char *hosts[] = {"user@api.example", "api.example/x", "api example", "a\tb",
                           "api.example?x", "api.example#x", "\xc3\xa9.example"};
    for (size_t i = 0; i < sizeof hosts / sizeof hosts[0]; i++)
        assert_string_equal(from_host(0, hosts[i], "/"), "");
    const char *origins[] = {"ftp://api.example", "https://", "https://api.example/base",
                             "api.example", "https://u@api.example", "HTTPS://api.example"};
    for (size_t i = 0; i < sizeof origins / sizeof origins[0]; i++)
        assert_string_equal(from_origin(origins[i], "/"), "");
    /* No server name either: nothing to build from. */
    assert_int_equal(ngx_http_valetkey_url(NULL, 0, 0, NULL, 0, NULL, 0, 80, "/", 1, out,
                                           sizeof out),
                     0);
}

static void long_urls_are_bounded(void **state)
{
    (void)state;
    static char target[VALETKEY_URL_MAX + 10];
    memset(target, 'a', sizeof target - 1);
    target[0] = '/';
    assert_string_equal(from_host(0, "h", target), "");
    char small[24];
    assert_int_equal(ngx_http_valetkey_url(NULL, 0, 0, "api.example", 11, NULL, 0, 0,
                                           "/0123456789", 11, small, sizeof small),
                     0);
    assert_string_equal(small, "");
    assert_int_equal(ngx_http_valetkey_url(NULL, 0, 0, "api.example", 11, NULL, 0, 0, "/012", 4,
                                           small, sizeof small),
                     strlen("http://api.example/012"));
}

/* What matters in the end: the URL built here and the htu a client wrote for the same request
 * are the same after libvaletkey's RFC 3986 normalisation, and different requests are not. */
static void built_urls_match_the_htu_after_normalisation(void **state)
{
    (void)state;
    struct {
        int tls;
        const char *host, *target, *htu;
        int same;
    } cases[] = {
        {1, "API.Example", "/v1/chat", "https://api.example/v1/chat", 1},
        {1, "api.example:443", "/v1/chat?stream=1", "https://api.example/v1/chat", 1},
        {0, "api.example:80", "/v1/%63hat", "http://api.example/v1/chat", 1},
        {0, "api.example", "/v1/x/../chat", "http://api.example/v1/chat", 1},
        {0, "api.example:8080", "/v1/chat", "http://api.example/v1/chat", 0},
        {0, "api.example", "/v1/chat", "https://api.example/v1/chat", 0},
        {1, "api.example", "/v1/chat/", "https://api.example/v1/chat", 0},
        {1, "api.example", "/v1/Chat", "https://api.example/v1/chat", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char a[VALETKEY_URL_MAX + 1], b[VALETKEY_URL_MAX + 1];
        const char *u = from_host(cases[i].tls, cases[i].host, cases[i].target);
        assert_int_equal(vk_dpop_htu_normalize(vk_str_c(u), a, sizeof a), VK_OK);
        assert_int_equal(vk_dpop_htu_normalize(vk_str_c(cases[i].htu), b, sizeof b), VK_OK);
        if (cases[i].same)
            assert_string_equal(a, b);
        else
            assert_string_not_equal(a, b);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(scheme_and_host_come_from_the_request),
        cmocka_unit_test(without_host_the_server_name_and_port_are_used),
        cmocka_unit_test(an_origin_replaces_scheme_and_host),
        cmocka_unit_test(what_cannot_make_a_url_is_refused),
        cmocka_unit_test(long_urls_are_bounded),
        cmocka_unit_test(built_urls_match_the_htu_after_normalisation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
