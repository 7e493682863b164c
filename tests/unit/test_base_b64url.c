/* base64url (RFC 4648 §5, unpadded) and standard base64 (§4) as used by HTTP Basic. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "base/b64url.h"
#include "base/err.h"

static void encodes_rfc4648_vectors_without_padding(void **state)
{
    (void)state;
    static const struct {
        const char *in, *out;
    } v[] = {{"", ""},          {"f", "Zg"},          {"fo", "Zm8"},       {"foo", "Zm9v"},
             {"foob", "Zm9vYg"}, {"fooba", "Zm9vYmE"}, {"foobar", "Zm9vYmFy"}};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        char out[32];
        vk_b64url_encode((const uint8_t *)v[i].in, strlen(v[i].in), out);
        assert_string_equal(out, v[i].out);
        assert_int_equal(vk_b64url_enc_len(strlen(v[i].in)), strlen(v[i].out));
    }
}

static void uses_url_alphabet(void **state)
{
    (void)state;
    const uint8_t in[] = {0xfb, 0xff, 0xbf};
    char out[8];
    vk_b64url_encode(in, 3, out);
    assert_string_equal(out, "-_-_");
    uint8_t back[4];
    size_t n;
    assert_int_equal(vk_b64url_decode(VK_STR("-_-_"), back, sizeof back, &n), VK_OK);
    assert_int_equal(n, 3);
    assert_memory_equal(back, in, 3);
}

static void decode_round_trips_all_lengths(void **state)
{
    (void)state;
    uint8_t in[64], back[64];
    char enc[100];
    for (size_t i = 0; i < sizeof in; i++)
        in[i] = (uint8_t)(i * 37 + 11);
    for (size_t n = 0; n <= sizeof in; n++) {
        size_t m = 0;
        vk_b64url_encode(in, n, enc);
        assert_int_equal(vk_b64url_decode(vk_str_c(enc), back, sizeof back, &m), VK_OK);
        assert_int_equal(m, n);
        assert_memory_equal(back, in, n);
    }
}

static void decode_rejects_padding_std_alphabet_and_junk(void **state)
{
    (void)state;
    uint8_t out[16];
    size_t n;
    assert_int_equal(vk_b64url_decode(VK_STR("Zg=="), out, sizeof out, &n), VK_EINVAL);
    assert_int_equal(vk_b64url_decode(VK_STR("+/+/"), out, sizeof out, &n), VK_EINVAL);
    assert_int_equal(vk_b64url_decode(VK_STR("Zm 9v"), out, sizeof out, &n), VK_EINVAL);
    assert_int_equal(vk_b64url_decode(VK_STR("Zm9v\n"), out, sizeof out, &n), VK_EINVAL);
    assert_int_equal(vk_b64url_decode(VK_STR("Z"), out, sizeof out, &n), VK_EINVAL);   /* 4k+1 */
    assert_int_equal(vk_b64url_decode(VK_STR("Zh"), out, sizeof out, &n), VK_EINVAL);  /* bits */
    assert_int_equal(n, 0);
}

static void decode_refuses_to_overflow_the_output(void **state)
{
    (void)state;
    uint8_t out[2];
    size_t n;
    assert_int_equal(vk_b64url_decode(VK_STR("Zm9v"), out, sizeof out, &n), VK_ETOOBIG);
}

static void std_base64_needs_padding_and_std_alphabet(void **state)
{
    (void)state;
    uint8_t out[16];
    size_t n;
    assert_int_equal(vk_b64_decode(VK_STR("Zm9vYg=="), out, sizeof out, &n), VK_OK);
    assert_int_equal(n, 4);
    assert_memory_equal(out, "foob", 4);
    assert_int_equal(vk_b64_decode(VK_STR("Zm9vYg"), out, sizeof out, &n), VK_EINVAL);
    assert_int_equal(vk_b64_decode(VK_STR("-_-_"), out, sizeof out, &n), VK_EINVAL);
    assert_int_equal(vk_b64_decode(VK_STR("Zm=vYg=="), out, sizeof out, &n), VK_EINVAL);
    assert_int_equal(vk_b64_decode(VK_STR("+/+/"), out, sizeof out, &n), VK_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(encodes_rfc4648_vectors_without_padding),
        cmocka_unit_test(uses_url_alphabet),
        cmocka_unit_test(decode_round_trips_all_lengths),
        cmocka_unit_test(decode_rejects_padding_std_alphabet_and_junk),
        cmocka_unit_test(decode_refuses_to_overflow_the_output),
        cmocka_unit_test(std_base64_needs_padding_and_std_alphabet),
    };
    return cmocka_run_group_tests_name("base_b64url", tests, NULL, NULL);
}
