/* application/x-www-form-urlencoded bodies and query strings, parameter rules of RFC 6749 §3.1,
 * and the Authorization header parsers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "base/arena.h"
#include "base/err.h"
#include "base/limits.h"
#include "http/form.h"
#include "http/headers.h"
#include "http/request.h"

static struct vk_arena arena;

static int setup(void **state)
{
    (void)state;
    vk_arena_init(&arena, VK_REQ_ARENA_CAP);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    vk_arena_clear(&arena);
    return 0;
}

static void parses_pairs_in_order_and_decodes(void **state)
{
    (void)state;
    struct vk_params ps;
    assert_int_equal(vk_form_parse(&arena, VK_STR("grant_type=client_credentials&scope=a+b%20c"
                                                  "&x=%2F%3d"),
                                   &ps),
                     VK_OK);
    assert_int_equal(ps.n, 3);
    vk_str v;
    assert_int_equal(vk_params_get(&ps, "grant_type", &v), 1);
    assert_true(vk_str_eq_lit(v, "client_credentials"));
    assert_int_equal(vk_params_get(&ps, "scope", &v), 1);
    assert_true(vk_str_eq_lit(v, "a b c"));
    assert_int_equal(vk_params_get(&ps, "x", &v), 1);
    assert_true(vk_str_eq_lit(v, "/="));
}

static void empty_value_counts_as_omitted(void **state)
{
    (void)state;
    struct vk_params ps;
    vk_str v;
    assert_int_equal(vk_form_parse(&arena, VK_STR("scope=&a=1&&flag&a="), &ps), VK_OK);
    assert_int_equal(vk_params_get(&ps, "scope", &v), 0);
    assert_int_equal(vk_params_get(&ps, "flag", &v), 0);
    assert_int_equal(vk_params_get(&ps, "a", &v), 1);
    assert_false(vk_params_find_repeat(&ps, NULL, &v));
}

static void finds_repeated_parameters_except_allowed(void **state)
{
    (void)state;
    struct vk_params ps;
    vk_str name;
    static const char *const allow[] = {"resource", NULL};
    assert_int_equal(vk_form_parse(&arena, VK_STR("resource=a&resource=b&scope=x"), &ps), VK_OK);
    assert_false(vk_params_find_repeat(&ps, allow, &name));
    assert_true(vk_params_find_repeat(&ps, NULL, &name));
    assert_int_equal(vk_form_parse(&arena, VK_STR("scope=x&resource=a&scope=y"), &ps), VK_OK);
    assert_true(vk_params_find_repeat(&ps, allow, &name));
    assert_true(vk_str_eq_lit(name, "scope"));
}

static void rejects_malformed_percent_encoding(void **state)
{
    (void)state;
    struct vk_params ps;
    assert_int_equal(vk_form_parse(&arena, VK_STR("a=%zz"), &ps), VK_EINVAL);
    assert_int_equal(vk_form_parse(&arena, VK_STR("a=%4"), &ps), VK_EINVAL);
    assert_int_equal(vk_form_parse(&arena, VK_STR("a=%"), &ps), VK_EINVAL);
    assert_int_equal(vk_form_parse(&arena, VK_STR("a%=1"), &ps), VK_EINVAL);
    assert_int_equal(vk_form_parse(&arena, VK_STR("a=%00"), &ps), VK_EINVAL);
    assert_int_equal(ps.n, 0);
}

static void bounds_parameter_count_and_length(void **state)
{
    (void)state;
    struct vk_params ps;
    char big[VK_MAX_PARAMS * 6 + 16];
    size_t o = 0;
    for (int i = 0; i <= VK_MAX_PARAMS; i++)
        o += (size_t)snprintf(big + o, sizeof big - o, "p%d=1&", i);
    assert_int_equal(vk_form_parse(&arena, (vk_str){big, o}, &ps), VK_ETOOBIG);

    static char longv[VK_MAX_PARAM_LEN + 8];
    memset(longv, 'a', sizeof longv);
    longv[0] = 'v';
    longv[1] = '=';
    assert_int_equal(vk_form_parse(&arena, (vk_str){longv, VK_MAX_PARAM_LEN + 3}, &ps),
                     VK_ETOOBIG);
    assert_int_equal(vk_form_parse(&arena, (vk_str){longv, VK_MAX_PARAM_LEN + 2}, &ps), VK_OK);
}

static void empty_and_null_inputs_parse_to_nothing(void **state)
{
    (void)state;
    struct vk_params ps;
    assert_int_equal(vk_form_parse(&arena, VK_STR_NULL, &ps), VK_OK);
    assert_int_equal(ps.n, 0);
    assert_int_equal(vk_form_parse(&arena, VK_STR(""), &ps), VK_OK);
    assert_int_equal(vk_form_parse(&arena, VK_STR("&&&"), &ps), VK_OK);
    assert_int_equal(ps.n, 0);
}

static void query_string_uses_the_same_rules(void **state)
{
    (void)state;
    struct vk_params ps;
    vk_str v;
    assert_int_equal(vk_form_parse(&arena, VK_STR("response_type=code&state=%26%3D%3F+x"), &ps),
                     VK_OK);
    assert_int_equal(vk_params_get(&ps, "state", &v), 1);
    assert_true(vk_str_eq_lit(v, "&=? x"));
}

static void encode_round_trips(void **state)
{
    (void)state;
    const char *s = "a b&c=d/é~_.-";
    char *e = vk_form_encode(&arena, vk_str_c(s));
    vk_str d;
    assert_non_null(e);
    assert_null(strchr(e, ' '));
    assert_int_equal(vk_form_decode(&arena, vk_str_c(e), &d), VK_OK);
    assert_true(vk_str_eq_lit(d, s));
}

static void basic_auth_parses_and_form_decodes(void **state)
{
    (void)state;
    vk_str u, p;
    /* "my%20client:se%3Acret" -> user "my client", password "se:cret" (RFC 6749 §2.3.1) */
    assert_int_equal(vk_http_basic_parse(&arena, VK_STR("Basic bXklMjBjbGllbnQ6c2UlM0FjcmV0"),
                                         &u, &p),
                     VK_OK);
    assert_true(vk_str_eq_lit(u, "my client"));
    assert_true(vk_str_eq_lit(p, "se:cret"));
    /* scheme is case-insensitive; password may contain ':' */
    assert_int_equal(vk_http_basic_parse(&arena, VK_STR("basic YTpiOmM="), &u, &p), VK_OK);
    assert_true(vk_str_eq_lit(u, "a"));
    assert_true(vk_str_eq_lit(p, "b:c"));
}

static void basic_auth_rejects_malformed(void **state)
{
    (void)state;
    vk_str u, p;
    assert_int_equal(vk_http_basic_parse(&arena, VK_STR("Bearer abc"), &u, &p), VK_ENOTFOUND);
    assert_int_equal(vk_http_basic_parse(&arena, VK_STR("Basic"), &u, &p), VK_ENOTFOUND);
    assert_int_equal(vk_http_basic_parse(&arena, VK_STR("Basic "), &u, &p), VK_EINVAL);
    assert_int_equal(vk_http_basic_parse(&arena, VK_STR("Basic !!!!"), &u, &p), VK_EINVAL);
    /* "nocolon" */
    assert_int_equal(vk_http_basic_parse(&arena, VK_STR("Basic bm9jb2xvbg=="), &u, &p),
                     VK_EINVAL);
    /* ":secret" (empty user-id) */
    assert_int_equal(vk_http_basic_parse(&arena, VK_STR("Basic OnNlY3JldA=="), &u, &p),
                     VK_EINVAL);
    /* "a%zz:b" bad percent-encoding in the user-id */
    assert_int_equal(vk_http_basic_parse(&arena, VK_STR("Basic YSV6ejpi"), &u, &p), VK_EINVAL);
}

static void bearer_parses_token68(void **state)
{
    (void)state;
    vk_str t;
    assert_int_equal(vk_http_bearer_parse(VK_STR("Bearer abc.def-_~+/="), &t), VK_OK);
    assert_true(vk_str_eq_lit(t, "abc.def-_~+/="));
    assert_int_equal(vk_http_bearer_parse(VK_STR("bearer x"), &t), VK_OK);
    assert_int_equal(vk_http_bearer_parse(VK_STR("Basic x"), &t), VK_ENOTFOUND);
    assert_int_equal(vk_http_bearer_parse(VK_STR("Bearer a b"), &t), VK_EINVAL);
    assert_int_equal(vk_http_bearer_parse(VK_STR("Bearer a\"b"), &t), VK_EINVAL);
    /* RFC 6750 §2.1: '=' only as trailing padding */
    assert_int_equal(vk_http_bearer_parse(VK_STR("Bearer a=b"), &t), VK_EINVAL);
    assert_int_equal(vk_http_bearer_parse(VK_STR("Bearer =="), &t), VK_EINVAL);
    assert_int_equal(vk_http_bearer_parse(VK_STR("Bearer ab=="), &t), VK_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(parses_pairs_in_order_and_decodes, setup, teardown),
        cmocka_unit_test_setup_teardown(empty_value_counts_as_omitted, setup, teardown),
        cmocka_unit_test_setup_teardown(finds_repeated_parameters_except_allowed, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(rejects_malformed_percent_encoding, setup, teardown),
        cmocka_unit_test_setup_teardown(bounds_parameter_count_and_length, setup, teardown),
        cmocka_unit_test_setup_teardown(empty_and_null_inputs_parse_to_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(query_string_uses_the_same_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(encode_round_trips, setup, teardown),
        cmocka_unit_test_setup_teardown(basic_auth_parses_and_form_decodes, setup, teardown),
        cmocka_unit_test_setup_teardown(basic_auth_rejects_malformed, setup, teardown),
        cmocka_unit_test_setup_teardown(bearer_parses_token68, setup, teardown),
    };
    return cmocka_run_group_tests_name("http_form", tests, NULL, NULL);
}
