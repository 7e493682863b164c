/* The attempt limiter (auth/limiter.c): free failures, doubling delay up to a lockout, reset on
 * success, forgetting after the window; rates for successful logins; what happens when a window
 * is full; the keyed hash under it; the network an address is counted under; device cookies.
 * The clock is passed in. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "auth/auth.h"
#include "auth/device.h"

#define NOW 1800000000

static struct vk_auth_limiter *mk(struct vk_limit_policy p, enum vk_limiter_full full)
{
    struct vk_auth_limiter *l;
    assert_int_equal(vk_auth_limiter_new(&p, full, &l), VK_OK);
    return l;
}

static void free_failures_then_doubling_delay_then_lockout(void **state)
{
    (void)state;
    struct vk_auth_limiter *l = mk((struct vk_limit_policy){3, 1, 900, 3600, false}, 0);
    vk_str k = VK_STR("u:alice");
    for (int i = 0; i < 2; i++) {
        assert_true(vk_auth_limiter_hit(l, k, NOW));
        assert_int_equal(vk_auth_limiter_wait(l, k, NOW), 0);
    }
    vk_auth_limiter_hit(l, k, NOW); /* third: 1 s */
    assert_int_equal(vk_auth_limiter_wait(l, k, NOW), 1);
    assert_int_equal(vk_auth_limiter_wait(l, k, NOW + 1), 0);
    vk_auth_limiter_hit(l, k, NOW + 1); /* fourth: 2 s */
    assert_int_equal(vk_auth_limiter_wait(l, k, NOW + 1), 2);
    for (int i = 0; i < 20; i++)
        vk_auth_limiter_hit(l, k, NOW + 2);
    assert_int_equal(vk_auth_limiter_wait(l, k, NOW + 2), 900); /* capped: the lockout */
    /* other keys are not affected */
    assert_int_equal(vk_auth_limiter_wait(l, VK_STR("u:bob"), NOW + 2), 0);
    /* the window forgets */
    assert_int_equal(vk_auth_limiter_wait(l, k, NOW + 2 + 3600), 0);
    vk_auth_limiter_free(l);
}

static void reset_clears_only_its_key(void **state)
{
    (void)state;
    struct vk_auth_limiter *l = mk((struct vk_limit_policy){1, 10, 100, 1000, false}, 0);
    vk_auth_limiter_hit(l, VK_STR("a"), NOW);
    vk_auth_limiter_hit(l, VK_STR("b"), NOW);
    assert_true(vk_auth_limiter_wait(l, VK_STR("a"), NOW) > 0);
    vk_auth_limiter_reset(l, VK_STR("a"));
    assert_int_equal(vk_auth_limiter_wait(l, VK_STR("a"), NOW), 0);
    assert_true(vk_auth_limiter_wait(l, VK_STR("b"), NOW) > 0);
    vk_auth_limiter_free(l);
}

static void a_flood_of_other_keys_never_resets_a_limited_key(void **state)
{
    /* Other keys' failures must not erase a victim's count (a pinned entry is never evicted). */
    (void)state;
    struct vk_auth_limiter *l = mk((struct vk_limit_policy){3, 1, 900, 3600, false}, 0);
    vk_str victim = VK_STR("u:alice");
    for (int i = 0; i < 5; i++)
        vk_auth_limiter_hit(l, victim, NOW);
    int64_t before = vk_auth_limiter_wait(l, victim, NOW);
    assert_true(before > 0);
    char key[32];
    for (int i = 0; i < 200000; i++) {
        int n = snprintf(key, sizeof key, "u:x%d", i);
        vk_auth_limiter_hit(l, (vk_str){key, (size_t)n}, NOW);
    }
    assert_int_equal(vk_auth_limiter_wait(l, victim, NOW), before);
    vk_auth_limiter_free(l);
}

/* Pins (nearly) every slot of the table: with one free failure, one failure pins a key, and
 * 1,000,000 keys over 4,096 windows of 16 leave no window with a free slot. */
static void pin_everything(struct vk_auth_limiter *l)
{
    char key[32];
    for (int i = 0; i < 1000000; i++) {
        int n = snprintf(key, sizeof key, "flood-%d", i);
        vk_auth_limiter_hit(l, (vk_str){key, (size_t)n}, NOW);
    }
}

static void a_full_window_never_refuses_a_key(void **state)
{
    /* Issue 6 item 1: a key that found its window full of pinned entries was refused (wait 1),
     * so anyone who filled a victim's window locked the victim out. Now a key the table does not
     * hold never waits, and the caller learns that it could not be recorded. */
    (void)state;
    struct vk_auth_limiter *l = mk((struct vk_limit_policy){1, 60, 900, 900, false},
                                   VK_LIMITER_KEEP_PINNED);
    pin_everything(l);
    vk_str victim = VK_STR("vk_c_victim|192.0.2.1");
    assert_int_equal(vk_auth_limiter_wait(l, victim, NOW), 0);
    assert_int_equal(vk_auth_limiter_wait(l, victim, NOW + 1), 0);
    /* Its own failure cannot be recorded: reported, so the caller charges the network. */
    assert_false(vk_auth_limiter_hit(l, victim, NOW));
    assert_int_equal(vk_auth_limiter_wait(l, victim, NOW), 0);
    /* The entries recorded first (into an empty table) are all still held and limiting: none
     * was evicted to make room for the later ones. */
    char key[32];
    for (int i = 0; i < 1000; i++) {
        int n = snprintf(key, sizeof key, "flood-%d", i);
        assert_true(vk_auth_limiter_wait(l, (vk_str){key, (size_t)n}, NOW) > 0);
    }
    vk_auth_limiter_free(l);
}

static void a_last_resort_table_records_every_key(void **state)
{
    /* A per-network table evicts the least recently hit entry instead, so a network is always
     * counted. */
    (void)state;
    struct vk_auth_limiter *l = mk((struct vk_limit_policy){1, 60, 900, 900, false},
                                   VK_LIMITER_EVICT_OLDEST);
    pin_everything(l);
    vk_str net = VK_STR("a:198.51.100.7");
    assert_int_equal(vk_auth_limiter_wait(l, net, NOW + 1), 0);
    assert_true(vk_auth_limiter_hit(l, net, NOW + 1));
    assert_int_equal(vk_auth_limiter_wait(l, net, NOW + 1), 60);
    vk_auth_limiter_free(l);
}

static void penalize_makes_a_key_wait_at_once(void **state)
{
    (void)state;
    struct vk_auth_limiter *l = mk((struct vk_limit_policy){50, 1, 300, 900, false},
                                   VK_LIMITER_EVICT_OLDEST);
    vk_str net = VK_STR("198.51.100.7");
    assert_true(vk_auth_limiter_penalize(l, net, NOW));
    assert_int_equal(vk_auth_limiter_wait(l, net, NOW), 1);
    vk_auth_limiter_hit(l, net, NOW + 1);
    assert_int_equal(vk_auth_limiter_wait(l, net, NOW + 1), 2);
    vk_auth_limiter_free(l);
}

static void a_rate_allows_a_burst_then_one_per_interval(void **state)
{
    /* 10 per 600 s: ten at once, then one every 60 s; an idle key is forgotten. */
    (void)state;
    struct vk_auth_limiter *l = mk((struct vk_limit_policy){10, 0, 0, 600, true},
                                   VK_LIMITER_EVICT_OLDEST);
    vk_str k = VK_STR("u:alice");
    for (int i = 0; i < 10; i++) {
        assert_int_equal(vk_auth_limiter_wait(l, k, NOW), 0);
        vk_auth_limiter_hit(l, k, NOW);
    }
    assert_int_equal(vk_auth_limiter_wait(l, k, NOW), 60);
    assert_int_equal(vk_auth_limiter_wait(l, k, NOW + 59), 1);
    assert_int_equal(vk_auth_limiter_wait(l, k, NOW + 60), 0);
    vk_auth_limiter_hit(l, k, NOW + 60);
    assert_int_equal(vk_auth_limiter_wait(l, k, NOW + 60), 60);
    assert_int_equal(vk_auth_limiter_wait(l, VK_STR("u:bob"), NOW + 60), 0);
    /* ten minutes idle: the whole burst is back */
    for (int i = 0; i < 10; i++) {
        assert_int_equal(vk_auth_limiter_wait(l, k, NOW + 1260), 0);
        vk_auth_limiter_hit(l, k, NOW + 1260);
    }
    assert_true(vk_auth_limiter_wait(l, k, NOW + 1260) > 0);
    vk_auth_limiter_free(l);
}

static void siphash_matches_the_reference_vectors(void **state)
{
    /* SipHash-2-4, key 00..0f, message 00..(n-1): the paper's appendix and the reference
     * implementation's vectors (output bytes, little-endian). */
    (void)state;
    uint8_t key[16], msg[64];
    for (int i = 0; i < 16; i++)
        key[i] = (uint8_t)i;
    for (int i = 0; i < 64; i++)
        msg[i] = (uint8_t)i;
    static const struct {
        size_t n;
        uint64_t h;
    } v[] = {
        {0, 0x726fdb47dd0e0e31ULL},  {1, 0x74f839c593dc67fdULL},
        {7, 0xab0200f58b01d137ULL},  {8, 0x93f5f5799a932462ULL},
        {15, 0xa129ca6149be45e5ULL}, {16, 0x3f2acc7f57c29bdbULL},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
        assert_true(vk_siphash24(key, msg, v[i].n) == v[i].h);
}

static void addresses_count_by_network(void **state)
{
    (void)state;
    char a[VK_ADDR_NET_LEN], b[VK_ADDR_NET_LEN];
    vk_auth_addr_net("2001:db8:1:2:aaaa::1", a, sizeof a);
    vk_auth_addr_net("2001:db8:1:2:ffff:1:2:3", b, sizeof b);
    assert_string_equal(a, "2001:db8:1:2::/64");
    assert_string_equal(a, b);
    vk_auth_addr_net("2001:db8:1:3::1", b, sizeof b);
    assert_string_not_equal(a, b);
    vk_auth_addr_net("::ffff:192.0.2.9", a, sizeof a);
    assert_string_equal(a, "192.0.2.9");
    vk_auth_addr_net("192.0.2.9", a, sizeof a);
    assert_string_equal(a, "192.0.2.9");
    vk_auth_addr_net("not an address", a, sizeof a);
    assert_string_equal(a, "not an address");
    vk_auth_addr_net(NULL, a, sizeof a);
    assert_string_equal(a, "");
}

static void device_cookies_round_trip_and_reject_tampering(void **state)
{
    (void)state;
    uint8_t key[VK_DIGEST_LEN] = {1, 2, 3}, other[VK_DIGEST_LEN] = {9};
    char c[VK_DEVICE_COOKIE_MAX], t[VK_DEVICE_COOKIE_MAX + 8];
    vk_str user, id;
    int64_t ttl = 86400;
    assert_int_equal(vk_device_cookie_make(key, "vk_u_abc-DEF_1", NOW, c, sizeof c), VK_OK);
    assert_int_equal(vk_device_cookie_check(key, vk_str_c(c), NOW + 10, ttl, &user, &id), VK_OK);
    assert_true(vk_str_eq_lit(user, "vk_u_abc-DEF_1"));
    assert_int_equal(id.len, 22);
    /* two cookies for the same user have different identities */
    char c2[VK_DEVICE_COOKIE_MAX];
    vk_str user2, id2;
    assert_int_equal(vk_device_cookie_make(key, "vk_u_abc-DEF_1", NOW, c2, sizeof c2), VK_OK);
    assert_int_equal(vk_device_cookie_check(key, vk_str_c(c2), NOW, ttl, &user2, &id2), VK_OK);
    assert_false(vk_str_eq(id, id2));
    /* expired, from the future, another key */
    assert_int_equal(vk_device_cookie_check(key, vk_str_c(c), NOW + ttl, ttl, &user, &id),
                     VK_EINVAL);
    assert_int_equal(id.len, 0);
    assert_int_equal(vk_device_cookie_check(key, vk_str_c(c), NOW - 120, ttl, &user, &id),
                     VK_EINVAL);
    assert_int_equal(vk_device_cookie_check(other, vk_str_c(c), NOW, ttl, &user, &id), VK_EINVAL);
    /* another user named in an otherwise intact cookie */
    snprintf(t, sizeof t, "%s", c);
    char *u = strstr(t, "vk_u_abc");
    u[5] = 'x';
    assert_int_equal(vk_device_cookie_check(key, vk_str_c(t), NOW, ttl, &user, &id), VK_EINVAL);
    /* a later issue time */
    snprintf(t, sizeof t, "%s", c);
    t[9] = t[9] == '9' ? '8' : (char)(t[9] + 1);
    assert_int_equal(vk_device_cookie_check(key, vk_str_c(t), NOW, ttl, &user, &id), VK_EINVAL);
    /* malformed shapes */
    const char *bad[] = {"", ".", "...", "1.a.b.c", "1..vk_u_x.AAAA", "x.y.z.w.v"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(vk_device_cookie_check(key, vk_str_c(bad[i]), NOW, ttl, &user, &id),
                         VK_EINVAL);
    snprintf(t, sizeof t, "%s.", c);
    assert_int_equal(vk_device_cookie_check(key, vk_str_c(t), NOW, ttl, &user, &id), VK_EINVAL);
    snprintf(t, sizeof t, ".%s", c);
    assert_int_equal(vk_device_cookie_check(key, vk_str_c(t), NOW, ttl, &user, &id), VK_EINVAL);
    /* user ids we cannot put in a cookie */
    assert_int_equal(vk_device_cookie_make(key, "a.b", NOW, c, sizeof c), VK_EINVAL);
    assert_int_equal(vk_device_cookie_make(key, "", NOW, c, sizeof c), VK_EINVAL);
    assert_int_equal(vk_device_cookie_make(key, "vk_u_x", NOW, c, 40), VK_ETOOBIG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(free_failures_then_doubling_delay_then_lockout),
        cmocka_unit_test(reset_clears_only_its_key),
        cmocka_unit_test(a_flood_of_other_keys_never_resets_a_limited_key),
        cmocka_unit_test(a_full_window_never_refuses_a_key),
        cmocka_unit_test(a_last_resort_table_records_every_key),
        cmocka_unit_test(penalize_makes_a_key_wait_at_once),
        cmocka_unit_test(a_rate_allows_a_burst_then_one_per_interval),
        cmocka_unit_test(siphash_matches_the_reference_vectors),
        cmocka_unit_test(addresses_count_by_network),
        cmocka_unit_test(device_cookies_round_trip_and_reject_tampering),
    };
    return cmocka_run_group_tests_name("auth_limiter", tests, NULL, NULL);
}
