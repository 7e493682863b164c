/* Scope and resource decisions (RFC 6749 §3.3, RFC 8707 §2). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "base/arena.h"
#include "grant/grant.h"

static struct vk_arena arena;

static int setup(void **state)
{
    (void)state;
    vk_arena_init(&arena, 1 << 20);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    vk_arena_clear(&arena);
    return 0;
}

static void scope_syntax_follows_rfc6749(void **state)
{
    (void)state;
    assert_true(vk_scope_syntax_ok(VK_STR("read write")));
    assert_true(vk_scope_syntax_ok(VK_STR("model:gpt-4o/chat!")));
    assert_false(vk_scope_syntax_ok(VK_STR("")));
    assert_false(vk_scope_syntax_ok(VK_STR(" read")));
    assert_false(vk_scope_syntax_ok(VK_STR("read ")));
    assert_false(vk_scope_syntax_ok(VK_STR("read  write")));
    assert_false(vk_scope_syntax_ok(VK_STR("a\"b")));
    assert_false(vk_scope_syntax_ok(VK_STR("a\\b")));
    assert_false(vk_scope_syntax_ok(VK_STR("a\tb")));
    assert_false(vk_scope_syntax_ok(VK_STR("caf\xc3\xa9")));
}

static void omitted_scope_grants_the_client_default(void **state)
{
    (void)state;
    const char *g;
    struct vk_oauth_err oe = {0};
    assert_int_equal(vk_scope_decide(&arena, false, VK_STR_NULL, VK_STR("read write"), &g, &oe),
                     VK_OK);
    assert_string_equal(g, "read write");
}

static void subset_is_granted_in_request_order_without_duplicates(void **state)
{
    (void)state;
    const char *g;
    struct vk_oauth_err oe = {0};
    assert_int_equal(vk_scope_decide(&arena, true, VK_STR("write read write"),
                                     VK_STR("read write admin"), &g, &oe),
                     VK_OK);
    assert_string_equal(g, "write read");
}

static void scope_beyond_the_allowed_is_invalid_scope(void **state)
{
    (void)state;
    const char *g;
    struct vk_oauth_err oe = {0};
    assert_int_equal(vk_scope_decide(&arena, true, VK_STR("read admin"), VK_STR("read write"),
                                     &g, &oe),
                     VK_EOAUTH);
    assert_string_equal(oe.error, "invalid_scope");
    assert_int_equal(oe.status, 400);
    /* a prefix of an allowed scope is not that scope */
    assert_int_equal(vk_scope_decide(&arena, true, VK_STR("rea"), VK_STR("read"), &g, &oe),
                     VK_EOAUTH);
    assert_int_equal(vk_scope_decide(&arena, true, VK_STR("read  write"), VK_STR("read write"),
                                     &g, &oe),
                     VK_EOAUTH);
}

static void resource_must_be_absolute_without_fragment(void **state)
{
    (void)state;
    assert_true(vk_resource_syntax_ok(VK_STR("https://api.example.com")));
    assert_true(vk_resource_syntax_ok(VK_STR("https://api.example.com/v1?x=1")));
    assert_true(vk_resource_syntax_ok(VK_STR("urn:example:model:chat")));
    assert_false(vk_resource_syntax_ok(VK_STR("/relative")));
    assert_false(vk_resource_syntax_ok(VK_STR("api.example.com")));
    assert_false(vk_resource_syntax_ok(VK_STR("https://api.example.com/#frag")));
    assert_false(vk_resource_syntax_ok(VK_STR("https:")));
    assert_false(vk_resource_syntax_ok(VK_STR("1http://x")));
    assert_false(vk_resource_syntax_ok(VK_STR("https://a b")));
}

static void registered_resources_restrict_the_audience(void **state)
{
    (void)state;
    struct vk_oauth_err oe = {0};
    vk_str dflt = VK_STR("https://as.example");
    vk_str ok[] = {VK_STR("https://a.example")};
    vk_str bad[] = {VK_STR("https://a.example"), VK_STR("https://evil.example")};
    assert_int_equal(vk_resource_decide(ok, 1, VK_STR("https://a.example https://b.example"),
                                        dflt, &oe),
                     VK_OK);
    assert_int_equal(vk_resource_decide(bad, 2, VK_STR("https://a.example"), dflt, &oe),
                     VK_EOAUTH);
    assert_string_equal(oe.error, "invalid_target");
    /* a registered client may not fall back on the default audience either */
    assert_int_equal(vk_resource_decide(&dflt, 1, VK_STR("https://a.example"), dflt, &oe),
                     VK_EOAUTH);
    /* nothing requested: nothing to refuse */
    assert_int_equal(vk_resource_decide(NULL, 0, VK_STR_NULL, dflt, &oe), VK_OK);
}

static void without_registered_resources_only_the_default_audience(void **state)
{
    (void)state;
    /* Issue 6, review item 4: a client with no registered resources could name any audience. */
    struct vk_oauth_err oe = {0};
    vk_str dflt = VK_STR("https://as.example");
    vk_str any[] = {VK_STR("https://api.example.com/")};
    assert_int_equal(vk_resource_decide(any, 1, VK_STR_NULL, dflt, &oe), VK_EOAUTH);
    assert_string_equal(oe.error, "invalid_target");
    assert_int_equal(vk_resource_decide(any, 1, VK_STR(""), dflt, &oe), VK_EOAUTH);
    vk_str near[] = {VK_STR("https://as.example/"), VK_STR("https://AS.example")};
    assert_int_equal(vk_resource_decide(near, 1, VK_STR_NULL, dflt, &oe), VK_EOAUTH);
    assert_int_equal(vk_resource_decide(near + 1, 1, VK_STR_NULL, dflt, &oe), VK_EOAUTH);
    assert_int_equal(vk_resource_decide(&dflt, 1, VK_STR_NULL, dflt, &oe), VK_OK);
    vk_str twice[] = {dflt, dflt};
    assert_int_equal(vk_resource_decide(twice, 2, VK_STR_NULL, dflt, &oe), VK_OK);
    /* no default audience at all: nothing may be named */
    assert_int_equal(vk_resource_decide(&dflt, 1, VK_STR_NULL, VK_STR_NULL, &oe), VK_EOAUTH);
}

static void grant_list_match_is_exact(void **state)
{
    (void)state;
    assert_true(vk_client_has_grant(VK_STR("authorization_code client_credentials"),
                                    "client_credentials"));
    assert_false(vk_client_has_grant(VK_STR("client_credentials_x"), "client_credentials"));
    assert_false(vk_client_has_grant(VK_STR(""), "client_credentials"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(scope_syntax_follows_rfc6749),
        cmocka_unit_test_setup_teardown(omitted_scope_grants_the_client_default, setup, teardown),
        cmocka_unit_test_setup_teardown(subset_is_granted_in_request_order_without_duplicates,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(scope_beyond_the_allowed_is_invalid_scope, setup,
                                        teardown),
        cmocka_unit_test(resource_must_be_absolute_without_fragment),
        cmocka_unit_test(registered_resources_restrict_the_audience),
        cmocka_unit_test(without_registered_resources_only_the_default_audience),
        cmocka_unit_test(grant_list_match_is_exact),
    };
    return cmocka_run_group_tests_name("grant_scope", tests, NULL, NULL);
}
