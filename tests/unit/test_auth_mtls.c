/* Client authentication by certificate (src/auth/mtls.c, RFC 8705 §2) over the X.509 vectors of
 * tests/vectors/x509 (valid from 2026-12-01; the clock is pinned). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"
#include "base/file.h"
#include "base/limits.h"
#include "base/pem.h"

#define NOW   1796169600LL /* 2026-12-02 */
#define LATER 2082758400LL /* 2036-01-01: the client certificates have expired */

static struct vk_arena arena;

static char *read_vec(const char *name, size_t *len)
{
    char path[256], *p = NULL;
    struct vk_err err = {{0}};
    snprintf(path, sizeof path, "tests/vectors/x509/%s", name);
    if (vk_file_read(path, VK_MAX_PEM_FILE, &p, len, &err) != VK_OK)
        fail_msg("%s", err.msg);
    return p;
}

static struct vk_client_cert cert_of(const char *name)
{
    size_t n;
    char *pem = read_vec(name, &n);
    struct vk_client_cert c = {VK_STR_NULL, NULL, 0};
    assert_int_equal(vk_pem_cert_decode(&arena, (vk_str){pem, n}, &c.der), VK_OK);
    vk_file_free(pem, n);
    return c;
}

static struct vk_x509_ca *ca_of(const char *name)
{
    size_t n;
    char *pem = read_vec(name, &n);
    struct vk_x509_ca *ca = NULL;
    struct vk_err err = {{0}};
    assert_int_equal(vk_x509_ca_load((vk_str){pem, n}, &ca, &err), VK_OK);
    vk_file_free(pem, n);
    return ca;
}

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

static void methods_are_confidential_without_a_secret(void **state)
{
    (void)state;
    struct vk_client c = {.auth_method = VK_AUTH_TLS_CLIENT};
    assert_true(vk_client_is_mtls(&c));
    assert_true(vk_client_is_confidential(&c));
    c.auth_method = VK_AUTH_SELF_SIGNED;
    assert_true(vk_client_is_confidential(&c));
    c.auth_method = "none";
    assert_false(vk_client_is_mtls(&c));
    assert_false(vk_client_is_confidential(&c));
    c.auth_method = "client_secret_basic";
    c.has_secret = true;
    assert_false(vk_client_is_mtls(&c));
    assert_true(vk_client_is_confidential(&c));
}

static void tls_client_auth_needs_the_ca_and_the_registered_name(void **state)
{
    (void)state;
    struct vk_err why = {{0}};
    struct vk_cert_auth ca = {ca_of("ca.pem"), NULL};
    struct vk_client c = {.id = "vk_c_x",
                          .auth_method = VK_AUTH_TLS_CLIENT,
                          .tls_auth_kind = "subject_dn",
                          .tls_auth_value = "CN=client-a,OU=Payments,O=Example Corp,C=US"};
    struct vk_client_cert good = cert_of("client.pem"), other = cert_of("other_client.pem");
    assert_int_equal(vk_client_cert_check(&c, &ca, &good, NOW, &why), VK_OK);
    /* the same subject, another CA */
    assert_int_equal(vk_client_cert_check(&c, &ca, &other, NOW, &why), VK_EINVAL);
    /* expired */
    assert_int_equal(vk_client_cert_check(&c, &ca, &good, LATER, &why), VK_EEXPIRED);
    /* no CA configured: nothing is issued by a trusted CA */
    assert_int_equal(vk_client_cert_check(&c, NULL, &good, NOW, &why), VK_EINVAL);
    /* the right CA, another registered name */
    c.tls_auth_value = "CN=client-b,O=Example Corp,C=US";
    assert_int_equal(vk_client_cert_check(&c, &ca, &good, NOW, &why), VK_EINVAL);
    assert_non_null(strstr(why.msg, "subject_dn"));
    c.tls_auth_kind = "san_uri";
    c.tls_auth_value = "https://client-a.example.com/id";
    assert_int_equal(vk_client_cert_check(&c, &ca, &good, NOW, &why), VK_OK);
    /* nothing registered: refused rather than matching anything */
    c.tls_auth_kind = "";
    assert_int_equal(vk_client_cert_check(&c, &ca, &good, NOW, &why), VK_EINVAL);
    /* no certificate at all */
    c.tls_auth_kind = "san_uri";
    struct vk_client_cert none = {VK_STR_NULL, NULL, 0};
    assert_int_equal(vk_client_cert_check(&c, &ca, &none, NOW, &why), VK_EINVAL);
    assert_int_equal(vk_client_cert_check(&c, &ca, NULL, NOW, &why), VK_EINVAL);
    vk_x509_ca_free((struct vk_x509_ca *)ca.ca);
}

static void self_signed_is_one_of_the_registered_certificates(void **state)
{
    (void)state;
    struct vk_err why = {{0}};
    size_t n;
    char *pem = read_vec("self.pem", &n);
    json_t *jwk = NULL;
    assert_int_equal(vk_x509_jwk_from_pem((vk_str){pem, n}, &jwk, &why), VK_OK);
    vk_file_free(pem, n);
    json_t *set = json_pack("{s:[o]}", "keys", jwk);
    char *jwks = json_dumps(set, JSON_COMPACT);
    json_decref(set);
    struct vk_client c = {.id = "vk_c_s", .auth_method = VK_AUTH_SELF_SIGNED, .jwks = jwks};
    struct vk_client_cert self = cert_of("self.pem"), issued = cert_of("client.pem");
    assert_int_equal(vk_client_cert_check(&c, NULL, &self, NOW, &why), VK_OK);
    assert_int_equal(vk_client_cert_check(&c, NULL, &issued, NOW, &why), VK_EINVAL);
    assert_int_equal(vk_client_cert_check(&c, NULL, &self, LATER, &why), VK_EEXPIRED);
    c.jwks = "";
    assert_int_equal(vk_client_cert_check(&c, NULL, &self, NOW, &why), VK_EINVAL);
    /* a client of another method never authenticates by certificate */
    c.auth_method = "none";
    c.jwks = jwks;
    assert_int_equal(vk_client_cert_check(&c, NULL, &self, NOW, &why), VK_EINVAL);
    free(jwks);
}

static void the_memo_never_outlives_the_certificate_or_the_registration(void **state)
{
    (void)state;
    struct vk_err why = {{0}};
    struct vk_cert_auth ca = {ca_of("ca.pem"), NULL};
    assert_int_equal(vk_cert_memo_new(16, &ca.memo), VK_OK);
    struct vk_client c = {.id = "vk_c_m",
                          .auth_method = VK_AUTH_TLS_CLIENT,
                          .tls_auth_kind = "san_dns",
                          .tls_auth_value = "client-a.example.com"};
    struct vk_client_cert good = cert_of("client.pem"), other = cert_of("other_client.pem");
    int64_t not_after = 0;
    assert_int_equal(vk_x509_verify(ca.ca, good.der, NULL, 0, NOW, &not_after, &why), VK_OK);
    /* good 100 s before the end: remembered until the end, not for the usual 10 minutes */
    int64_t t = not_after - 100;
    assert_int_equal(vk_client_cert_check(&c, &ca, &good, t, &why), VK_OK);
    assert_int_equal(vk_client_cert_check(&c, &ca, &good, t + 50, &why), VK_OK);
    assert_int_equal(vk_client_cert_check(&c, &ca, &good, not_after + 1, &why), VK_EEXPIRED);
    /* a changed registration is looked at afresh */
    assert_int_equal(vk_client_cert_check(&c, &ca, &good, NOW, &why), VK_OK);
    c.tls_auth_value = "client-b.example.com";
    assert_int_equal(vk_client_cert_check(&c, &ca, &good, NOW, &why), VK_EINVAL);
    c.tls_auth_value = "client-a.example.com";
    assert_int_equal(vk_client_cert_check(&c, &ca, &good, NOW, &why), VK_OK);
    /* another certificate with the same names is its own entry, and stays refused */
    assert_int_equal(vk_client_cert_check(&c, &ca, &other, NOW, &why), VK_EINVAL);
    assert_int_equal(vk_client_cert_check(&c, &ca, &other, NOW + 1, &why), VK_EINVAL);
    assert_non_null(strstr(why.msg, "certificate not accepted")); /* the reason is kept */
    /* another client id with the same registration and certificate: its own verdict */
    c.id = "vk_c_n";
    c.tls_auth_kind = "subject_dn";
    assert_int_equal(vk_client_cert_check(&c, &ca, &good, NOW, &why), VK_EINVAL);
    vk_cert_memo_free(ca.memo);
    vk_x509_ca_free((struct vk_x509_ca *)ca.ca);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(methods_are_confidential_without_a_secret),
        cmocka_unit_test_setup_teardown(tls_client_auth_needs_the_ca_and_the_registered_name, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(self_signed_is_one_of_the_registered_certificates, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(the_memo_never_outlives_the_certificate_or_the_registration,
                                        setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
