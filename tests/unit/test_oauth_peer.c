/* Which address a request counts as coming from (vk_oauth_peer): the socket peer, or behind the
 * trusted proxy the address the proxy appended to X-Forwarded-For. The proxy is recognised as an
 * address, so a dual-stack listener's ::ffff:a.b.c.d form of an IPv4 proxy is the proxy too. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "oauth/app.h"

static struct vk_request rq;

/* xff: one X-Forwarded-For line, or several separated by '\n' (one header field each). */
static const char *peer_of(const char *trusted, const char *sock_peer, const char *xff)
{
    static struct vk_config cfg;
    static struct vk_app app;
    static struct vk_arena a;
    vk_config_defaults(&cfg);
    snprintf(cfg.trusted_proxy, sizeof cfg.trusted_proxy, "%s", trusted);
    memset(&app, 0, sizeof app);
    app.cfg = &cfg;
    vk_arena_clear(&a);
    vk_arena_init(&a, 64 * 1024);
    memset(&rq, 0, sizeof rq);
    rq.arena = &a;
    snprintf(rq.peer, sizeof rq.peer, "%s", sock_peer);
    for (vk_str rest = vk_str_c(xff), line; xff != NULL && vk_str_next_token(&rest, '\n', &line);)
        rq.headers[rq.n_headers++] = (struct vk_header){vk_str_c("X-Forwarded-For"), line};
    return vk_oauth_peer(&app, &rq);
}

static void the_socket_peer_without_a_trusted_proxy(void **state)
{
    (void)state;
    assert_string_equal(peer_of("", "192.0.2.1", "198.51.100.9"), "192.0.2.1");
    assert_string_equal(peer_of("10.0.0.1", "192.0.2.1", "198.51.100.9"), "192.0.2.1");
}

static void the_last_forwarded_address_behind_the_proxy(void **state)
{
    (void)state;
    assert_string_equal(peer_of("127.0.0.1", "127.0.0.1", "203.0.113.5, 198.51.100.9"),
                        "198.51.100.9");
}

static void an_ipv4_mapped_peer_is_the_ipv4_proxy(void **state)
{
    (void)state;
    assert_string_equal(peer_of("127.0.0.1", "::ffff:127.0.0.1", "198.51.100.9"),
                        "198.51.100.9");
}

static void a_forwarded_value_that_is_not_an_address_is_ignored(void **state)
{
    (void)state;
    assert_string_equal(peer_of("127.0.0.1", "127.0.0.1", "evil<script>"), "127.0.0.1");
}

/* A proxy that adds a line of its own (HAProxy's option forwardfor) after a line the client sent:
 * the client is the last entry of the last line. Taking the proxy's own address instead would put
 * every such client in one bucket, which any of them can exhaust for all (issue 6 item 1). */
static void the_last_line_when_the_field_is_repeated(void **state)
{
    (void)state;
    assert_string_equal(peer_of("127.0.0.1", "127.0.0.1", "6.6.6.6\n198.51.100.9"),
                        "198.51.100.9");
    assert_string_equal(peer_of("127.0.0.1", "127.0.0.1", "10.0.0.1, 6.6.6.6\n198.51.100.9"),
                        "198.51.100.9");
    assert_string_equal(peer_of("127.0.0.1", "127.0.0.1", "6.6.6.6\n203.0.113.5, 198.51.100.9"),
                        "198.51.100.9");
}

/* Some proxies append address:port. The port must not be part of the key: each connection of one
 * host would get a fresh failure budget. */
static void a_port_after_the_address_is_dropped(void **state)
{
    (void)state;
    assert_string_equal(peer_of("127.0.0.1", "127.0.0.1", "198.51.100.9:51234"), "198.51.100.9");
    assert_string_equal(peer_of("127.0.0.1", "127.0.0.1", "[2001:db8::7]:51234"), "2001:db8::7");
    assert_string_equal(peer_of("127.0.0.1", "127.0.0.1", "[2001:db8::7]"), "2001:db8::7");
    assert_string_equal(peer_of("127.0.0.1", "127.0.0.1", "2001:db8::7"), "2001:db8::7");
    assert_string_equal(peer_of("127.0.0.1", "127.0.0.1", "198.51.100.9:x"), "127.0.0.1");
    assert_string_equal(peer_of("127.0.0.1", "127.0.0.1", "[2001:db8::7]x"), "127.0.0.1");
    assert_string_equal(peer_of("127.0.0.1", "127.0.0.1", "1.2.3.4.5"), "127.0.0.1");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(the_socket_peer_without_a_trusted_proxy),
        cmocka_unit_test(the_last_forwarded_address_behind_the_proxy),
        cmocka_unit_test(an_ipv4_mapped_peer_is_the_ipv4_proxy),
        cmocka_unit_test(a_forwarded_value_that_is_not_an_address_is_ignored),
        cmocka_unit_test(the_last_line_when_the_field_is_repeated),
        cmocka_unit_test(a_port_after_the_address_is_dropped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
