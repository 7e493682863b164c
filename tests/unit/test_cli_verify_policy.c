/* The policy of `valetkey verify` (src/cli/verify_policy.c): parsing, refusals with the line
 * named, longest-prefix matching by method, and the path normalisation that keeps a rule from
 * being dodged with dot segments, doubled slashes or percent-encoding. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "cli/verify_policy.h"

static const char *norm(const char *in)
{
    static char out[256];
    if (vk_vpolicy_normalize_path(vk_str_c(in), out, sizeof out) != VK_OK)
        return NULL;
    return out;
}

static void paths_are_normalised_as_a_gateway_routes_them(void **state)
{
    (void)state;
    assert_string_equal(norm("/v1/chat/x"), "/v1/chat/x");
    assert_string_equal(norm("/v1/chat/../images/x"), "/v1/images/x");
    assert_string_equal(norm("/v1/chat/%2e%2e/images/x"), "/v1/images/x");
    assert_string_equal(norm("/v1/chat%2F..%2Fimages/x"), "/v1/images/x");
    assert_string_equal(norm("/v1//chat///x"), "/v1/chat/x");
    assert_string_equal(norm("/v1/./chat/."), "/v1/chat/");
    assert_string_equal(norm("/v1/chat/.."), "/v1/");
    assert_string_equal(norm("/../../etc"), "/etc");
    assert_string_equal(norm("/"), "/");
    assert_string_equal(norm("/%41%62c"), "/Abc");
    assert_string_equal(norm("/a/b/"), "/a/b/");
    assert_string_equal(norm("/a/..."), "/a/...");
    assert_null(norm(""));
    assert_null(norm("v1/chat"));
    assert_null(norm("/a%2"));
    assert_null(norm("/a%zz"));
    assert_null(norm("/a%00b"));
    assert_null(norm("/a?b"));
    char small[4];
    assert_int_equal(vk_vpolicy_normalize_path(VK_STR("/abcdef"), small, sizeof small), VK_ETOOBIG);
}

static const char policy[] = "# the AI gateway\n"
                             "POST       /v1/chat/     scope=ai:chat\n"
                             "POST\t/v1/images/ scope=ai:images audience=https://img.example/\r\n"
                             "GET,HEAD   /v1/          scope=ai:models scope=ai:read  # listing\n"
                             "*          /v1/admin/    scope=admin\n"
                             "   \n";

static void rules_match_by_method_and_longest_prefix(void **state)
{
    (void)state;
    struct vk_vpolicy p;
    struct vk_err err = {{0}};
    assert_int_equal(vk_vpolicy_parse(policy, strlen(policy), &p, &err), VK_OK);
    assert_int_equal(p.n, 4);
    const struct vk_vpolicy_rule *r = vk_vpolicy_match(&p, VK_STR("POST"), VK_STR("/v1/chat/x"));
    assert_non_null(r);
    assert_string_equal(r->scope, "ai:chat");
    assert_null(r->audience);
    assert_int_equal(r->line, 2);
    r = vk_vpolicy_match(&p, VK_STR("POST"), VK_STR("/v1/images/gen"));
    assert_string_equal(r->scope, "ai:images");
    assert_string_equal(r->audience, "https://img.example/");
    r = vk_vpolicy_match(&p, VK_STR("GET"), VK_STR("/v1/chat/x")); /* GET: only /v1/ */
    assert_string_equal(r->scope, "ai:models ai:read");
    r = vk_vpolicy_match(&p, VK_STR("HEAD"), VK_STR("/v1/models"));
    assert_string_equal(r->scope, "ai:models ai:read");
    r = vk_vpolicy_match(&p, VK_STR("DELETE"), VK_STR("/v1/admin/users"));
    assert_string_equal(r->scope, "admin");
    r = vk_vpolicy_match(&p, VK_STR("GET"), VK_STR("/v1/admin/users")); /* longest wins */
    assert_string_equal(r->scope, "admin");
    /* Nothing covers these: refused by the service. */
    assert_null(vk_vpolicy_match(&p, VK_STR("POST"), VK_STR("/v1/models")));
    assert_null(vk_vpolicy_match(&p, VK_STR("GET"), VK_STR("/v2/")));
    assert_null(vk_vpolicy_match(&p, VK_STR("post"), VK_STR("/v1/chat/x"))); /* case matters */
    vk_vpolicy_clear(&p);
}

static void bad_policies_name_the_line(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        const char *msg;
    } bad[] = {
        {"POST /v1/ scope=a\nget /v1/\n", "line 2"},
        {"POST v1/\n", "line 1"},
        {"POST\n", "line 1"},
        {"POST /v1/ scope=\n", "line 1"},
        {"POST /v1/ scope=a\"b\n", "line 1"},
        {"POST /v1/ audience=a audience=b\n", "line 1"},
        {"POST /v1/ colour=blue\n", "line 1"},
        {"POST /v1/%zz\n", "line 1"},
        {"# nothing\n\n", "no rules"},
        {"", "no rules"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct vk_vpolicy p;
        struct vk_err err = {{0}};
        int rc = vk_vpolicy_parse(bad[i].text, strlen(bad[i].text), &p, &err);
        if (rc == VK_OK)
            fail_msg("accepted policy %zu", i);
        assert_non_null(strstr(err.msg, bad[i].msg));
        assert_int_equal(p.n, 0);
        assert_null(p.rules);
    }
    struct vk_vpolicy p;
    struct vk_err err = {{0}};
    assert_int_equal(vk_vpolicy_parse("POST /\0x\n", 9, &p, &err), VK_EINVAL);
}

static void a_prefix_is_normalised_too(void **state)
{
    (void)state;
    struct vk_vpolicy p;
    struct vk_err err = {{0}};
    const char text[] = "GET /v1//chat/./ scope=a\n";
    assert_int_equal(vk_vpolicy_parse(text, strlen(text), &p, &err), VK_OK);
    assert_string_equal(p.rules[0].prefix, "/v1/chat/");
    vk_vpolicy_clear(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(paths_are_normalised_as_a_gateway_routes_them),
        cmocka_unit_test(rules_match_by_method_and_longest_prefix),
        cmocka_unit_test(bad_policies_name_the_line),
        cmocka_unit_test(a_prefix_is_normalised_too),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
