/* vk_json_load (src/jose/json.c): untrusted JSON parsed faithfully. With every allocation in
 * turn failing, it returns either the document -- equal to a reference parse -- or an error,
 * never a different document (which jansson's json_loadb alone can return: its lexer drops a
 * byte when its buffer cannot grow). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "jose/jose.h"

static long count, fail_at;

static void *t_malloc(size_t n)
{
    if (++count == fail_at)
        return NULL;
    return malloc(n);
}

static void t_free(void *p)
{
    free(p);
}

static const char *const docs[] = {
    "{\"iss\":\"https://auth.example.com\",\"sub\":\"vk_c_Qm9vdHN0cmFwQ2xpZW50\",\"aud\":"
    "[\"https://api.example.com/\",\"x\"],\"exp\":2000000600,\"nbf\":1999999999.5,"
    "\"cnf\":{\"jkt\":\"0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I\"},\"ok\":true,\"n\":null,"
    "\"esc\":\"a\\\"b\\\\c\\u00e9\\ud83d\\ude00\"}",
    "  [1, -2.5e3, \"long string with spaces and \\\" quotes\", {\"a\": {\"b\": []}}]  ",
    "\"just a string\"",
    "1234567890123456789",
};

static void documents_parse_as_jansson_parses_them(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++) {
        int rc;
        json_error_t jerr;
        json_t *want = json_loads(docs[i], JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
        json_t *got = vk_json_load(docs[i], strlen(docs[i]), &rc);
        assert_non_null(want);
        assert_int_equal(rc, VK_OK);
        assert_true(json_equal(got, want));
        json_decref(got);
        json_decref(want);
    }
}

static void anything_but_one_value_is_refused(void **state)
{
    (void)state;
    const char *bad[] = {"", "{", "{}}", "{},{}", "1 2", "{\"a\":1,\"a\":2}", "[1,]",
                         "{} x", "\"unterminated", "{\"a\":\"\\x\"}", "]", "{}]", "nul"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc;
        assert_null(vk_json_load(bad[i], strlen(bad[i]), &rc));
        assert_int_equal(rc, VK_EINVAL);
    }
    int rc;
    const char nul[] = "{\"a\":\"b\"}\0";
    assert_null(vk_json_load(nul, sizeof nul - 1, &rc)); /* a NUL byte after the value */
    assert_null(vk_json_load(NULL, 0, &rc));
}

static void allocation_failures_never_change_the_document(void **state)
{
    (void)state;
    long jansson_lies = 0;
    json_set_alloc_funcs(t_malloc, t_free);
    for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++) {
        json_error_t jerr;
        fail_at = 0;
        json_t *want = json_loads(docs[i], JSON_DECODE_ANY, &jerr);
        assert_non_null(want);
        for (long n = 1; n < 10000; n++) {
            int rc;
            count = 0;
            fail_at = n;
            json_t *got = vk_json_load(docs[i], strlen(docs[i]), &rc);
            bool reached = count >= n;
            if (got != NULL)
                assert_true(json_equal(got, want));
            else
                assert_int_equal(rc, VK_ENOMEM);
            json_decref(got);
            /* jansson alone, for the record. */
            count = 0;
            json_t *raw = json_loadb(docs[i], strlen(docs[i]), JSON_DECODE_ANY, &jerr);
            if (raw != NULL && !json_equal(raw, want))
                jansson_lies++;
            json_decref(raw);
            if (!reached)
                break;
        }
        fail_at = 0;
        json_decref(want);
    }
    json_set_alloc_funcs(malloc, free);
    print_message("json_loadb returned a document other than its input %ld times\n",
                  jansson_lies);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(documents_parse_as_jansson_parses_them),
        cmocka_unit_test(anything_but_one_value_is_refused),
        cmocka_unit_test(allocation_failures_never_change_the_document),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
