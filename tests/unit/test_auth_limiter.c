/* The attempt limiter: free failures, doubling delay up to a lockout, reset on success, and
 * forgetting after the window. The clock is passed in. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "auth/auth.h"

#define NOW 1800000000

static void free_failures_then_doubling_delay_then_lockout(void **state)
{
    (void)state;
    struct vk_limit_policy p = {3, 1, 900, 3600};
    struct vk_auth_limiter *l;
    assert_int_equal(vk_auth_limiter_new(&p, &l), VK_OK);
    vk_str k = VK_STR("u:alice");
    for (int i = 0; i < 2; i++) {
        vk_auth_limiter_fail(l, k, NOW);
        assert_int_equal(vk_auth_limiter_wait(l, k, NOW), 0);
    }
    vk_auth_limiter_fail(l, k, NOW); /* third: 1 s */
    assert_int_equal(vk_auth_limiter_wait(l, k, NOW), 1);
    assert_int_equal(vk_auth_limiter_wait(l, k, NOW + 1), 0);
    vk_auth_limiter_fail(l, k, NOW + 1); /* fourth: 2 s */
    assert_int_equal(vk_auth_limiter_wait(l, k, NOW + 1), 2);
    for (int i = 0; i < 20; i++)
        vk_auth_limiter_fail(l, k, NOW + 2);
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
    struct vk_limit_policy p = {1, 10, 100, 1000};
    struct vk_auth_limiter *l;
    assert_int_equal(vk_auth_limiter_new(&p, &l), VK_OK);
    vk_auth_limiter_fail(l, VK_STR("a"), NOW);
    vk_auth_limiter_fail(l, VK_STR("b"), NOW);
    assert_true(vk_auth_limiter_wait(l, VK_STR("a"), NOW) > 0);
    vk_auth_limiter_reset(l, VK_STR("a"));
    assert_int_equal(vk_auth_limiter_wait(l, VK_STR("a"), NOW), 0);
    assert_true(vk_auth_limiter_wait(l, VK_STR("b"), NOW) > 0);
    vk_auth_limiter_free(l);
}

static void a_flood_of_other_keys_never_resets_a_limited_key(void **state)
{
    /* The attack of the review: other keys' failures must not erase a victim's count. */
    (void)state;
    struct vk_limit_policy p = {3, 1, 900, 3600};
    struct vk_auth_limiter *l;
    assert_int_equal(vk_auth_limiter_new(&p, &l), VK_OK);
    vk_str victim = VK_STR("u:alice");
    for (int i = 0; i < 5; i++)
        vk_auth_limiter_fail(l, victim, NOW);
    int64_t before = vk_auth_limiter_wait(l, victim, NOW);
    assert_true(before > 0);
    char key[32];
    for (int i = 0; i < 200000; i++) {
        int n = snprintf(key, sizeof key, "u:x%d", i);
        vk_auth_limiter_fail(l, (vk_str){key, (size_t)n}, NOW);
    }
    assert_int_equal(vk_auth_limiter_wait(l, victim, NOW), before);
    vk_auth_limiter_free(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(free_failures_then_doubling_delay_then_lockout),
        cmocka_unit_test(reset_clears_only_its_key),
        cmocka_unit_test(a_flood_of_other_keys_never_resets_a_limited_key),
    };
    return cmocka_run_group_tests_name("auth_limiter", tests, NULL, NULL);
}
