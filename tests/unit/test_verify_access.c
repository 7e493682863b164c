/* The access-token check the server and libvaletkey share (src/verify/access.c,
 * vk_verify_access), as the server calls it: its own key set, no leeway, its issuer. */
#include "verify_test.h"

static struct vk_jwk *key, *other;
static struct vk_jwks *set;

static int setup(void **state)
{
    (void)state;
    key = t_key(VK_ALG_ES256);
    other = t_key(VK_ALG_RS256);
    struct vk_err err = {{0}};
    char *doc = t_jwks((struct vk_jwk *[]){key, other, NULL});
    int rc = vk_jwks_parse(doc, strlen(doc), &set, &err);
    free(doc);
    return rc == VK_OK ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    vk_jwk_free(key);
    vk_jwk_free(other);
    vk_jwks_unref(set);
    return 0;
}

static int check(const char *tok, int64_t now, unsigned mask, struct vk_jws *out)
{
    struct vk_err err = {{0}};
    int rc = vk_verify_access(set, vk_str_c(tok), now, 0, ISS, mask, out, &err);
    if (rc != VALETKEY_OK) {
        assert_null(out->header);
        assert_null(out->payload);
    }
    return rc;
}

static void a_valid_token_gives_its_header_and_claims(void **state)
{
    (void)state;
    struct vk_jws j;
    char *tok = t_token(key, "a-1", T0 + 60, NULL);
    assert_int_equal(check(tok, T0, VK_ALG_MASK_ALL, &j), VALETKEY_OK);
    assert_string_equal(json_string_value(json_object_get(j.payload, "jti")), "a-1");
    assert_string_equal(json_string_value(json_object_get(j.header, "typ")), "at+jwt");
    assert_ptr_equal(j.key, vk_jwks_find(set, vk_str_c(vk_jwk_kid(key))));
    vk_jws_clear(&j);
    free(tok);
}

static void with_no_leeway_exp_is_exact(void **state)
{
    (void)state;
    struct vk_jws j;
    char *tok = t_token(key, "a-2", T0 + 60, NULL);
    assert_int_equal(check(tok, T0 + 59, VK_ALG_MASK_ALL, &j), VALETKEY_OK);
    vk_jws_clear(&j);
    assert_int_equal(check(tok, T0 + 60, VK_ALG_MASK_ALL, &j), VALETKEY_TOKEN_EXPIRED);
    free(tok);
    char *h = t_header(key, "at+jwt"), *p = t_payload("a-3", T0 + 600, ",\"nbf\":2000000010");
    tok = t_forge(key, h, p);
    assert_int_equal(check(tok, T0 + 9, VK_ALG_MASK_ALL, &j), VALETKEY_TOKEN_NOT_YET_VALID);
    assert_int_equal(check(tok, T0 + 10, VK_ALG_MASK_ALL, &j), VALETKEY_OK);
    vk_jws_clear(&j);
    free(h);
    free(p);
    free(tok);
}

static void each_refusal_has_its_code(void **state)
{
    (void)state;
    struct vk_jws j;
    char *tok = t_token(other, "a-4", T0 + 60, NULL);
    assert_int_equal(check(tok, T0, 1u << VK_ALG_ES256, &j), VALETKEY_TOKEN_MALFORMED);
    assert_int_equal(check(tok, T0, VK_ALG_MASK_ALL, &j), VALETKEY_OK);
    vk_jws_clear(&j);
    free(tok);
    char *h = t_header(key, "JWT"), *p = t_payload("a-5", T0 + 60, NULL);
    tok = t_forge(key, h, p);
    assert_int_equal(check(tok, T0, VK_ALG_MASK_ALL, &j), VALETKEY_TOKEN_TYPE);
    free(tok);
    free(h);
    h = t_header(key, "at+jwt");
    char *p2 = t_printf("{\"iss\":\"https://as.example/\",\"exp\":%d}", T0 + 60);
    tok = t_forge(key, h, p2);
    assert_int_equal(check(tok, T0, VK_ALG_MASK_ALL, &j), VALETKEY_TOKEN_ISSUER);
    free(tok);
    free(p2);
    p2 = t_printf("{\"iss\":\"" ISS "\"}");
    tok = t_forge(key, h, p2);
    assert_int_equal(check(tok, T0, VK_ALG_MASK_ALL, &j), VALETKEY_TOKEN_CLAIMS); /* no exp */
    free(tok);
    free(p2);
    tok = t_forge(other, h, p); /* header names key's kid, other signed */
    assert_int_equal(check(tok, T0, VK_ALG_MASK_ALL, &j), VALETKEY_TOKEN_MALFORMED);
    free(tok);
    struct vk_jwk *stranger = t_key(VK_ALG_ES256);
    tok = t_token(stranger, "a-6", T0 + 60, NULL);
    assert_int_equal(check(tok, T0, VK_ALG_MASK_ALL, &j), VALETKEY_TOKEN_UNKNOWN_KEY);
    free(tok);
    char *hk = t_header(key, "at+jwt");
    tok = t_forge(stranger, hk, p);
    assert_int_equal(check(tok, T0, VK_ALG_MASK_ALL, &j), VALETKEY_TOKEN_SIGNATURE);
    free(tok);
    free(hk);
    vk_jwk_free(stranger);
    assert_int_equal(check("", T0, VK_ALG_MASK_ALL, &j), VALETKEY_TOKEN_MALFORMED);
    char *big = calloc(1, VK_MAX_JWT_LEN + 2);
    memset(big, 'A', VK_MAX_JWT_LEN + 1);
    assert_int_equal(check(big, T0, VK_ALG_MASK_ALL, &j), VALETKEY_TOKEN_MALFORMED);
    free(big);
    free(h);
    free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_valid_token_gives_its_header_and_claims),
        cmocka_unit_test(with_no_leeway_exp_is_exact),
        cmocka_unit_test(each_refusal_has_its_code),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
