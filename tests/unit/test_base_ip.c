/* IP addresses (base/ip.c): parsing, CIDR ranges, the per-host key (IPv4 address, IPv6 /64),
 * and the per-host connection table (http/hostcount.c) checked against a plain reference. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "base/err.h"
#include "base/ip.h"
#include "http/hostcount.h"

static struct vk_ip ip(const char *s)
{
    struct vk_ip a;
    assert_int_equal(vk_ip_parse(vk_str_c(s), &a), VK_OK);
    return a;
}

static struct vk_host_key key(const char *s)
{
    struct vk_ip a = ip(s);
    struct vk_host_key k;
    vk_ip_host_key(&a, &k);
    return k;
}

static bool in(const char *range, const char *addr)
{
    struct vk_cidr c;
    assert_int_equal(vk_cidr_parse(vk_str_c(range), &c), VK_OK);
    struct vk_ip a = ip(addr);
    return vk_cidr_contains(&c, &a);
}

static void parses_ipv4_ipv6_and_maps_v4_in_v6(void **state)
{
    (void)state;
    struct vk_ip a = ip("192.0.2.7"), b = ip("::ffff:192.0.2.7"), c = ip("2001:db8::1");
    assert_int_equal(a.family, 4);
    assert_int_equal(b.family, 4); /* the same host must not count as two */
    assert_true(vk_ip_eq(&a, &b));
    assert_int_equal(c.family, 6);
    assert_false(vk_ip_eq(&a, &c));
    struct vk_ip x;
    const char *bad[] = {"", "1.2.3", "1.2.3.4.5", "256.1.1.1", "localhost", "::g", "1.2.3.4 ",
                         "[::1]", "1.2.3.4/32"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(vk_ip_parse(vk_str_c(bad[i]), &x), VK_EINVAL);
    assert_int_equal(vk_ip_parse((vk_str){"1.2.3.4\0", 8}, &x), VK_EINVAL);
}

static void cidr_ranges_match_by_prefix(void **state)
{
    (void)state;
    assert_true(in("127.0.0.0/8", "127.0.0.1"));
    assert_true(in("127.0.0.0/8", "127.255.3.4"));
    assert_true(in("127.0.0.0/8", "::ffff:127.0.0.9"));
    assert_false(in("127.0.0.0/8", "128.0.0.1"));
    assert_true(in("::1", "::1"));
    assert_false(in("::1", "::2"));
    assert_false(in("::1", "127.0.0.1"));
    assert_true(in("10.1.2.3", "10.1.2.3"));
    assert_false(in("10.1.2.3", "10.1.2.4"));
    assert_true(in("0.0.0.0/0", "203.0.113.9"));
    assert_false(in("0.0.0.0/0", "2001:db8::1"));
    assert_true(in("2001:db8:abcd:12::/63", "2001:db8:abcd:13::1"));
    assert_false(in("2001:db8:abcd:12::/63", "2001:db8:abcd:14::1"));
    assert_true(in("10.0.0.0/9", "10.127.0.1"));
    assert_false(in("10.0.0.0/9", "10.128.0.1"));
    struct vk_cidr c;
    const char *bad[] = {"10.0.0.1/8", "10.0.0.0/33", "::/129", "10.0.0.0/", "10.0.0.0/x",
                         "/8", "10.0.0.0/08x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(vk_cidr_parse(vk_str_c(bad[i]), &c), VK_EINVAL);
}

static void host_key_is_the_ipv4_address_or_the_ipv6_slash_64(void **state)
{
    (void)state;
    struct vk_host_key a = key("2001:db8:1:2:aaaa::1"), b = key("2001:db8:1:2:ffff:1:2:3"),
                       c = key("2001:db8:1:3::1"), d = key("192.0.2.1"),
                       e = key("::ffff:192.0.2.1"), f = key("192.0.2.2");
    assert_memory_equal(&a, &b, sizeof a); /* one /64: one host */
    assert_memory_not_equal(&a, &c, sizeof a);
    assert_memory_equal(&d, &e, sizeof d);
    assert_memory_not_equal(&d, &f, sizeof d);
    /* An IPv4 key never equals an IPv6 key with the same leading bytes. */
    struct vk_host_key g = key("c000:0201::");
    assert_memory_not_equal(&d, &g, sizeof d);
}

/* Random adds and removes over a small key space (so probe runs collide and wrap), compared
 * with plain counters after every step. */
static void host_table_agrees_with_a_reference_under_churn(void **state)
{
    (void)state;
    enum { KEYS = 40, MAX_HOSTS = 24 };
    struct vk_hostcount *t;
    assert_int_equal(vk_hostcount_new(MAX_HOSTS, &t), VK_OK);
    struct vk_host_key k[KEYS];
    unsigned ref[KEYS] = {0};
    size_t hosts = 0;
    for (int i = 0; i < KEYS; i++) {
        char a[64];
        snprintf(a, sizeof a, i % 2 ? "10.0.%d.1" : "2001:db8:0:%x::1", i);
        k[i] = key(a);
    }
    uint32_t x = 12345;
    for (int step = 0; step < 200000; step++) {
        x = x * 1103515245u + 12345u;
        int i = (int)((x >> 8) % KEYS);
        if ((x >> 20) & 1) {
            int rc = vk_hostcount_add(t, &k[i]);
            if (ref[i] == 0 && hosts == MAX_HOSTS) {
                assert_int_equal(rc, VK_ETOOBIG);
            } else {
                assert_int_equal(rc, VK_OK);
                if (ref[i]++ == 0)
                    hosts++;
            }
        } else {
            vk_hostcount_sub(t, &k[i]);
            if (ref[i] > 0 && --ref[i] == 0)
                hosts--;
        }
        if (step % 97 == 0)
            for (int j = 0; j < KEYS; j++)
                assert_int_equal(vk_hostcount_get(t, &k[j]), ref[j]);
        assert_int_equal(vk_hostcount_hosts(t), hosts);
    }
    vk_hostcount_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parses_ipv4_ipv6_and_maps_v4_in_v6),
        cmocka_unit_test(cidr_ranges_match_by_prefix),
        cmocka_unit_test(host_key_is_the_ipv4_address_or_the_ipv6_slash_64),
        cmocka_unit_test(host_table_agrees_with_a_reference_under_churn),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
