/* RFC 3986 parsing (grant/uri.c) and the redirect-URI rules built on it (grant/redirect_uri.c):
 * what registration accepts, and what /authorize and /logout match. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "grant/grant.h"

static void assert_slice(vk_str s, const char *want)
{
    assert_int_equal(s.len, strlen(want));
    if (s.len > 0)
        assert_memory_equal(s.p, want, s.len);
}

static void parse_splits_every_component(void **state)
{
    (void)state;
    struct vk_uri u;
    assert_int_equal(vk_uri_parse(VK_STR("https://u:p@h.example:8443/a/b?q=1&r=/?#frag/?"), &u),
                     VK_OK);
    assert_slice(u.scheme, "https");
    assert_true(u.has_authority);
    assert_true(u.has_userinfo);
    assert_slice(u.userinfo, "u:p");
    assert_slice(u.host, "h.example");
    assert_int_equal(u.host_type, VK_URI_HOST_REG_NAME);
    assert_true(u.has_port);
    assert_slice(u.port, "8443");
    assert_slice(u.path, "/a/b");
    assert_true(u.has_query);
    assert_slice(u.query, "q=1&r=/?");
    assert_true(u.has_fragment);
    assert_slice(u.fragment, "frag/?");

    assert_int_equal(vk_uri_parse(VK_STR("com.example.app:/oauth"), &u), VK_OK);
    assert_false(u.has_authority);
    assert_slice(u.path, "/oauth");
    assert_int_equal(vk_uri_parse(VK_STR("urn:ietf:rfc:3986"), &u), VK_OK);
    assert_slice(u.path, "ietf:rfc:3986");
    assert_int_equal(vk_uri_parse(VK_STR("http://[::1]:80"), &u), VK_OK);
    assert_slice(u.host, "[::1]");
    assert_int_equal(u.host_type, VK_URI_HOST_IPV6);
    assert_slice(u.path, "");
    assert_int_equal(vk_uri_parse(VK_STR("http://127.0.0.1/"), &u), VK_OK);
    assert_int_equal(u.host_type, VK_URI_HOST_IPV4);
    /* §3.2.2: not an IPv4address (leading zero, too few parts) is a reg-name */
    assert_int_equal(vk_uri_parse(VK_STR("http://127.0.0.01/"), &u), VK_OK);
    assert_int_equal(u.host_type, VK_URI_HOST_REG_NAME);
    assert_int_equal(vk_uri_parse(VK_STR("http://127.1/"), &u), VK_OK);
    assert_int_equal(u.host_type, VK_URI_HOST_REG_NAME);
    assert_int_equal(vk_uri_parse(VK_STR("file:///etc/x"), &u), VK_OK);
    assert_true(u.has_authority);
    assert_slice(u.host, "");
}

static void parse_refuses_what_rfc3986_does_not_allow(void **state)
{
    (void)state;
    struct vk_uri u;
    static const char *const bad[] = {
        "",
        "/relative",
        "no-scheme",
        "1http://x/",          /* scheme starts with a letter */
        "ht tp://x/",
        "http://x/ y",         /* space */
        "http://x/\\y",        /* backslash, which browsers read as '/' */
        "http://127.0.0.1\\@evil.example/",
        "http://a@b@evil.example/",
        "http://x/%zz",        /* bad percent-encoding */
        "http://x/%4",
        "http://x/#a#b",       /* '#' inside a fragment */
        "http://[::1/",        /* unterminated IP literal */
        "http://[::1]x/",
        "http://[127.0.0.1]/",
        "http://[1:2:3:4:5:6:7:8:9]/",
        "http://[1::2::3]/",
        "http://[:1]/",
        "http://[1:]/",
        "http://[]/",
        "http://x:8o/",        /* port = *DIGIT */
        "http://x/\x7f",
        "http://x/\xc3\xa9",   /* non-ASCII */
        "http://x{y}/",
        "http://x/<script>",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (vk_uri_parse(vk_str_c(bad[i]), &u) != VK_EINVAL)
            fail_msg("accepted %s", bad[i]);
        assert_int_equal(u.scheme.len + u.host.len + u.path.len, 0); /* zeroed on error */
    }
    static const char *const good_ip6[] = {
        "http://[::]/", "http://[::1]/", "http://[1:2:3:4:5:6:7:8]/", "http://[1::]/",
        "http://[1:2:3:4:5:6:7::]/", "http://[::ffff:192.0.2.1]/", "http://[fe80::1:2]/",
        "http://[v1.x:y]/",
    };
    for (size_t i = 0; i < sizeof good_ip6 / sizeof good_ip6[0]; i++)
        if (vk_uri_parse(vk_str_c(good_ip6[i]), &u) != VK_OK)
            fail_msg("refused %s", good_ip6[i]);
    char longer[VK_URI_MAX_LEN + 2];
    memset(longer, 'a', sizeof longer);
    memcpy(longer, "https://x/", 10);
    assert_int_equal(vk_uri_parse((vk_str){longer, VK_URI_MAX_LEN}, &u), VK_OK);
    assert_int_equal(vk_uri_parse((vk_str){longer, VK_URI_MAX_LEN + 1}, &u), VK_EINVAL);
}

static void loopback_means_exactly_the_ip_literals_or_localhost(void **state)
{
    (void)state;
    struct vk_uri u;
    assert_int_equal(vk_uri_parse(VK_STR("http://127.0.0.1:9/"), &u), VK_OK);
    assert_true(vk_uri_host_is_loopback_ip(&u));
    assert_int_equal(vk_uri_parse(VK_STR("http://[::1]/"), &u), VK_OK);
    assert_true(vk_uri_host_is_loopback_ip(&u));
    assert_int_equal(vk_uri_parse(VK_STR("http://localhost/"), &u), VK_OK);
    assert_false(vk_uri_host_is_loopback_ip(&u));
    assert_true(vk_uri_host_is_loopback(&u));
    static const char *const not_loopback[] = {
        "http://127.0.0.1:x@evil.example/", "http://127.0.0.1.evil.example/",
        "http://127.0.0.01/",          "http://127.1/",
        "http://localhost.evil.example/", "http://LOCALHOST/",
        "http://[::0:1]/",             "http://[0:0:0:0:0:0:0:1]/",
        "http://127.0.0.2/",           "http:/127.0.0.1/",
        "http://%31%32%37.0.0.1/",
    };
    for (size_t i = 0; i < sizeof not_loopback / sizeof not_loopback[0]; i++) {
        if (vk_uri_parse(vk_str_c(not_loopback[i]), &u) != VK_OK)
            continue; /* unparseable is not loopback either */
        if (vk_uri_host_is_loopback(&u))
            fail_msg("%s taken for loopback", not_loopback[i]);
    }
}

static void redirect_check_accepts_the_three_kinds(void **state)
{
    (void)state;
    static const char *const ok[] = {
        "https://app.example.com/cb", "https://app.example.com:8443/cb?x=1",
        "http://127.0.0.1/cb",        "http://127.0.0.1:8000/cb",
        "http://[::1]/cb",            "http://localhost:3000/callback",
        "com.example.app:/oauth",     "com.example.app://callback",
        "https://[2001:db8::1]/cb",
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        const char *why = vk_redirect_uri_check(vk_str_c(ok[i]), NULL);
        if (why != NULL)
            fail_msg("%s refused: %s", ok[i], why);
    }
}

static void redirect_check_refuses_userinfo_fragments_and_remote_http(void **state)
{
    (void)state;
    struct vk_uri u;
    static const char *const bad[] = {
        /* the review's finding: user information hides the real host */
        "http://127.0.0.1:x@evil.example/cb",
        "http://localhost@evil.example/cb",
        "http://127.0.0.1@127.0.0.1/cb",      /* user information of any kind */
        "https://user:pass@app.example.com/cb",
        "com.example.app://u@host/cb",
        "http://127.0.0.1\\@evil.example/cb",
        "http://127.0.0.1.evil.example/cb",
        "http://evil.example/cb",
        "http://localhost.evil.example/cb",
        "HTTP://evil.example/cb",             /* schemes are case-insensitive */
        "http://127.0.0.1:/cb",               /* empty port */
        "http://127.0.0.1:0/cb",
        "http://127.0.0.1:65536/cb",
        "https://app.example.com/cb#x",
        "https://app.example.com/cb#",
        "https:///cb",                        /* no host */
        "https:/app.example.com/cb",
        "javascript:alert(1)",
        "data:text/html,x",
        "file:///etc/passwd",
        "/relative",
        "https://app.example.com/c b",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (vk_redirect_uri_check(vk_str_c(bad[i]), &u) == NULL)
            fail_msg("%s accepted", bad[i]);
        assert_int_equal(u.host.len, 0);
    }
}

static void match_is_exact_except_a_loopback_ip_port(void **state)
{
    (void)state;
    vk_str reg = VK_STR("https://app.example.com/cb\nhttp://127.0.0.1/native\n"
                        "http://[::1]/v6?x=1\nhttp://localhost/cb\nhttp://127.0.0.1:8000/fixed");
    assert_true(vk_redirect_uri_match(reg, VK_STR("https://app.example.com/cb")));
    assert_true(vk_redirect_uri_match(reg, VK_STR("http://127.0.0.1:51004/native")));
    assert_true(vk_redirect_uri_match(reg, VK_STR("http://127.0.0.1/native")));
    assert_true(vk_redirect_uri_match(reg, VK_STR("http://[::1]:6000/v6?x=1")));
    assert_false(vk_redirect_uri_match(reg, VK_STR("http://[::1]:6000/v6?x=2")));
    assert_false(vk_redirect_uri_match(reg, VK_STR("http://[::1]:6000/v6")));
    assert_false(vk_redirect_uri_match(reg, VK_STR("http://127.0.0.1:51004/native/x")));
    assert_false(vk_redirect_uri_match(reg, VK_STR("http://127.0.0.1:/native")));
    assert_false(vk_redirect_uri_match(reg, VK_STR("http://127.0.0.1:99999/native")));
    assert_false(vk_redirect_uri_match(reg, VK_STR("http://[::1]:51004/native")));
    /* localhost is exact only (RFC 8252 §8.3) */
    assert_true(vk_redirect_uri_match(reg, VK_STR("http://localhost/cb")));
    assert_false(vk_redirect_uri_match(reg, VK_STR("http://localhost:3000/cb")));
    /* a registration with a port stays exact */
    assert_true(vk_redirect_uri_match(reg, VK_STR("http://127.0.0.1:8000/fixed")));
    assert_false(vk_redirect_uri_match(reg, VK_STR("http://127.0.0.1:8001/fixed")));
    /* userinfo never reaches the loopback exception */
    assert_false(vk_redirect_uri_match(reg, VK_STR("http://127.0.0.1:x@evil.example/native")));
    assert_false(vk_redirect_uri_match(reg, VK_STR("http://x@127.0.0.1/native")));
    assert_false(vk_redirect_uri_match(reg, VK_STR("http://127.0.0.1:1@127.0.0.1/native")));
}

static void an_old_registration_that_breaks_the_rules_never_matches(void **state)
{
    (void)state;
    /* Registered before the parser existed: stored, but no request can use it. */
    vk_str reg = VK_STR("http://127.0.0.1:x@evil.example/cb\nhttps://app.example.com/cb#f");
    assert_false(vk_redirect_uri_match(reg, VK_STR("http://127.0.0.1:x@evil.example/cb")));
    assert_false(vk_redirect_uri_match(reg, VK_STR("https://app.example.com/cb#f")));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parse_splits_every_component),
        cmocka_unit_test(parse_refuses_what_rfc3986_does_not_allow),
        cmocka_unit_test(loopback_means_exactly_the_ip_literals_or_localhost),
        cmocka_unit_test(redirect_check_accepts_the_three_kinds),
        cmocka_unit_test(redirect_check_refuses_userinfo_fragments_and_remote_http),
        cmocka_unit_test(match_is_exact_except_a_loopback_ip_port),
        cmocka_unit_test(an_old_registration_that_breaks_the_rules_never_matches),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
