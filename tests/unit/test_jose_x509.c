/* X.509 client certificates for RFC 8705 (src/jose/x509.c): chain verification against the
 * configured CAs, validity, subject DN and SAN matching, the x5t#S256 thumbprint, PEM decoding of
 * a forwarded certificate, and JWK Sets with x5c. The certificates are the PEM files of tests/vectors/x509
 * (made by make.sh there: CAs valid from 2026-12-01 for ten years, clients for 3000 days); the clock is pinned inside. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "base/arena.h"
#include "base/b64url.h"
#include "base/crypto.h"
#include "base/file.h"
#include "base/limits.h"
#include "base/pem.h"
#include "jose/x509.h"

#define NOW     1796169600LL /* 2026-12-02T00:00:00Z: every vector is valid */
#define LATER   2082758400LL /* 2036-01-01: the clients have expired, their CAs not yet */
#define EARLIER 1793491200LL /* 2026-11-01: none is valid yet */

static char *read_vec(const char *name, size_t *len)
{
    char path[256], *p = NULL;
    struct vk_err err = {{0}};
    snprintf(path, sizeof path, "tests/vectors/x509/%s", name);
    if (vk_file_read(path, VK_MAX_PEM_FILE, &p, len, &err) != VK_OK)
        fail_msg("%s", err.msg);
    return p;
}

/* The DER of the first certificate of a PEM vector, in the arena. */
static vk_str der_of(struct vk_arena *a, const char *name)
{
    size_t n;
    char *pem = read_vec(name, &n);
    vk_str der;
    assert_int_equal(vk_pem_cert_decode(a, (vk_str){pem, n}, &der), VK_OK);
    vk_file_free(pem, n);
    return der;
}

static struct vk_x509_ca *load_ca(const char *name)
{
    size_t n;
    char *pem = read_vec(name, &n);
    struct vk_x509_ca *ca = NULL;
    struct vk_err err = {{0}};
    assert_int_equal(vk_x509_ca_load((vk_str){pem, n}, &ca, &err), VK_OK);
    vk_file_free(pem, n);
    return ca;
}

static void pem_decode_matches_openssl_der(void **state)
{
    (void)state;
    struct vk_arena a;
    vk_arena_init(&a, 1 << 20);
    vk_str der = der_of(&a, "client.pem");
    size_t n;
    char *ref = read_vec("client.der", &n);
    assert_int_equal(der.len, n);
    assert_memory_equal(der.p, ref, n);
    vk_file_free(ref, n);
    vk_arena_clear(&a);
}

static void pem_decode_takes_what_proxies_send(void **state)
{
    (void)state;
    struct vk_arena a;
    vk_arena_init(&a, 1 << 20);
    size_t n;
    char *pem = read_vec("client.pem", &n);
    vk_str want = der_of(&a, "client.pem"), got;
    /* nginx's $ssl_client_cert of old: newlines replaced by tabs / spaces; one line */
    char *flat = vk_arena_strdup(&a, (vk_str){pem, n});
    for (char *p = flat; *p != '\0'; p++)
        if (*p == '\n')
            *p = ' ';
    assert_int_equal(vk_pem_cert_decode(&a, vk_str_c(flat), &got), VK_OK);
    assert_int_equal(got.len, want.len);
    assert_memory_equal(got.p, want.p, want.len);
    /* no markers, a missing end, junk inside: refused */
    assert_int_equal(vk_pem_cert_decode(&a, VK_STR("MIIB"), &got), VK_EINVAL);
    char *cut = vk_arena_strdup(&a, (vk_str){pem, n / 2});
    assert_int_equal(vk_pem_cert_decode(&a, vk_str_c(cut), &got), VK_EINVAL);
    char *junk = vk_arena_strdup(&a, (vk_str){pem, n});
    junk[40] = '%';
    assert_int_equal(vk_pem_cert_decode(&a, vk_str_c(junk), &got), VK_EINVAL);
    vk_file_free(pem, n);
    vk_arena_clear(&a);
}

static void thumbprint_is_base64url_sha256_of_der(void **state)
{
    (void)state;
    struct vk_arena a;
    vk_arena_init(&a, 1 << 20);
    vk_str der = der_of(&a, "client.pem");
    uint8_t d[32];
    char want[44], got[VK_X5T_LEN + 1];
    EVP_Digest(der.p, der.len, d, NULL, EVP_sha256(), NULL);
    vk_b64url_encode(d, sizeof d, want);
    vk_x509_thumbprint(der, got);
    assert_string_equal(got, want);
    assert_int_equal(strlen(got), VK_X5T_LEN);
    vk_arena_clear(&a);
}

static void verify_accepts_a_client_of_the_ca(void **state)
{
    (void)state;
    struct vk_arena a;
    struct vk_err err = {{0}};
    vk_arena_init(&a, 1 << 20);
    struct vk_x509_ca *ca = load_ca("ca.pem");
    vk_str leaf = der_of(&a, "client.pem");
    int64_t until = 0;
    assert_int_equal(vk_x509_verify(ca, leaf, NULL, 0, NOW, &until, &err), VK_OK);
    /* the verdict holds until the chain's first notAfter: the client's (the CA lives longer) */
    const unsigned char *p = (const unsigned char *)leaf.p;
    X509 *x = d2i_X509(NULL, &p, (long)leaf.len);
    struct tm tm;
    assert_int_equal(ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm), 1);
    assert_int_equal(until, (int64_t)timegm(&tm));
    assert_true(until > NOW && until < LATER);
    X509_free(x);
    vk_x509_ca_free(ca);
    vk_arena_clear(&a);
}

static void verify_follows_an_intermediate_the_client_sends(void **state)
{
    (void)state;
    struct vk_arena a;
    struct vk_err err = {{0}};
    vk_arena_init(&a, 1 << 20);
    struct vk_x509_ca *ca = load_ca("ca.pem");
    vk_str leaf = der_of(&a, "client_inter.pem"), inter = der_of(&a, "inter.pem");
    assert_int_equal(vk_x509_verify(ca, leaf, &inter, 1, NOW, NULL, &err), VK_OK);
    /* without the intermediate there is no path to the root */
    assert_int_equal(vk_x509_verify(ca, leaf, NULL, 0, NOW, NULL, &err), VK_EINVAL);
    vk_x509_ca_free(ca);
    /* an operator who names the issuing CA itself needs no root */
    ca = load_ca("inter.pem");
    assert_int_equal(vk_x509_verify(ca, leaf, NULL, 0, NOW, NULL, &err), VK_OK);
    vk_x509_ca_free(ca);
    vk_arena_clear(&a);
}

static void verify_refuses_another_ca_expiry_and_purpose(void **state)
{
    (void)state;
    struct vk_arena a;
    struct vk_err err = {{0}};
    vk_arena_init(&a, 1 << 20);
    struct vk_x509_ca *ca = load_ca("ca.pem");
    /* same subject and SANs, another issuer */
    assert_int_equal(vk_x509_verify(ca, der_of(&a, "other_client.pem"), NULL, 0, NOW, NULL, &err),
                     VK_EINVAL);
    assert_int_equal(vk_x509_verify(ca, der_of(&a, "client.pem"), NULL, 0, LATER, NULL, &err),
                     VK_EEXPIRED);
    /* (its CA is not valid yet either, and OpenSSL names the CA first) */
    assert_int_not_equal(vk_x509_verify(ca, der_of(&a, "client.pem"), NULL, 0, EARLIER, NULL, &err),
                         VK_OK);
    /* a server-only certificate is not a client credential */
    assert_int_equal(vk_x509_verify(ca, der_of(&a, "server_only.pem"), NULL, 0, NOW, NULL, &err),
                     VK_EINVAL);
    /* a self-signed certificate is not issued by the CA */
    assert_int_equal(vk_x509_verify(ca, der_of(&a, "self.pem"), NULL, 0, NOW, NULL, &err), VK_EINVAL);
    /* an untrusted "intermediate" does not make another CA's client good */
    vk_str other_ca = der_of(&a, "other_ca.pem");
    assert_int_equal(
        vk_x509_verify(ca, der_of(&a, "other_client.pem"), &other_ca, 1, NOW, NULL, &err), VK_EINVAL);
    /* garbage */
    assert_int_equal(vk_x509_verify(ca, VK_STR("not a certificate"), NULL, 0, NOW, NULL, &err),
                     VK_EINVAL);
    assert_int_equal(vk_x509_verify(NULL, der_of(&a, "client.pem"), NULL, 0, NOW, NULL, &err),
                     VK_EINVAL);
    vk_x509_ca_free(ca);
    vk_arena_clear(&a);
}

static void ca_load_refuses_empty_and_broken_bundles(void **state)
{
    (void)state;
    struct vk_x509_ca *ca = NULL;
    struct vk_err err = {{0}};
    assert_int_equal(vk_x509_ca_load(VK_STR("nothing here"), &ca, &err), VK_EINVAL);
    assert_null(ca);
    size_t n;
    char *pem = read_vec("ca.pem", &n);
    char *broken = malloc(2 * n + 1);
    memcpy(broken, pem, n);
    memcpy(broken + n, pem, n / 2); /* a second, truncated certificate */
    memcpy(broken + n + n / 2, "\n-----END CERTIFICATE-----\n", 28);
    assert_int_equal(vk_x509_ca_load(vk_str_c(broken), &ca, &err), VK_EINVAL);
    assert_null(ca);
    free(broken);
    vk_file_free(pem, n);
}

static void validity_alone_for_self_signed(void **state)
{
    (void)state;
    struct vk_arena a;
    struct vk_err err = {{0}};
    vk_arena_init(&a, 1 << 20);
    vk_str self = der_of(&a, "self.pem");
    assert_int_equal(vk_x509_check_validity(self, NOW, NULL, &err), VK_OK);
    assert_int_equal(vk_x509_check_validity(self, LATER, NULL, &err), VK_EEXPIRED);
    assert_int_equal(vk_x509_check_validity(self, EARLIER, NULL, &err), VK_EEXPIRED);
    assert_int_equal(vk_x509_check_validity(VK_STR("x"), NOW, NULL, &err), VK_EINVAL);
    vk_arena_clear(&a);
}

static const char *norm(enum vk_x509_name_kind k, const char *in, char *out, size_t n)
{
    struct vk_err err = {{0}};
    if (vk_x509_name_normalize(k, in, out, n, &err) != VK_OK)
        return NULL;
    return out;
}

static void dn_normalizes_to_one_canonical_form(void **state)
{
    (void)state;
    char a[512], b[512];
    const char *want = "CN=client-a,OU=Payments,O=Example Corp,C=US";
    assert_string_equal(norm(VK_X509_SUBJECT_DN, want, a, sizeof a), want);
    /* spaces after separators, lower-case and long type names, OIDs, ';' (RFC 2253) */
    assert_string_equal(norm(VK_X509_SUBJECT_DN,
                             "cn=client-a, ou = Payments;organizationName=Example Corp, 2.5.4.6=US",
                             b, sizeof b),
                        want);
    /* escapes: \, \+ \# and hex pairs */
    assert_string_equal(norm(VK_X509_SUBJECT_DN, "CN=\\231 \\3cquoted\\>+UID=42,O=Smith\\, Jones \\+ Co",
                             a, sizeof a),
                        "CN=\\#1 \\<quoted\\>+UID=42,O=Smith\\, Jones \\+ Co");
    /* refused: no '=', empty value, unknown type, #hex values, dangling escape, bad escape */
    assert_null(norm(VK_X509_SUBJECT_DN, "client-a", a, sizeof a));
    assert_null(norm(VK_X509_SUBJECT_DN, "CN=", a, sizeof a));
    assert_null(norm(VK_X509_SUBJECT_DN, "CN=a,", a, sizeof a));
    assert_null(norm(VK_X509_SUBJECT_DN, "XYZZY=a", a, sizeof a));
    assert_null(norm(VK_X509_SUBJECT_DN, "CN=#0403616263", a, sizeof a));
    assert_null(norm(VK_X509_SUBJECT_DN, "CN=a\\", a, sizeof a));
    assert_null(norm(VK_X509_SUBJECT_DN, "CN=a\\q", a, sizeof a));
    assert_null(norm(VK_X509_SUBJECT_DN, "CN=a\"b", a, sizeof a));
}

static void sans_normalize(void **state)
{
    (void)state;
    char a[256];
    assert_string_equal(norm(VK_X509_SAN_DNS, "Client-A.Example.COM", a, sizeof a),
                        "client-a.example.com");
    assert_string_equal(norm(VK_X509_SAN_IP, "2001:DB8:0:0::7", a, sizeof a), "2001:db8::7");
    assert_string_equal(norm(VK_X509_SAN_IP, "::ffff:192.0.2.7", a, sizeof a), "192.0.2.7");
    assert_null(norm(VK_X509_SAN_IP, "192.0.2", a, sizeof a));
    assert_null(norm(VK_X509_SAN_EMAIL, "no-at-sign", a, sizeof a));
    assert_null(norm(VK_X509_SAN_URI, "has space", a, sizeof a));
    assert_null(norm(VK_X509_SAN_DNS, "", a, sizeof a));
    assert_int_equal(vk_x509_name_kind_from_str("san_uri"), VK_X509_SAN_URI);
    assert_int_equal(vk_x509_name_kind_from_str("subject"), VK_X509_NONE);
}

static void names_match_the_certificate(void **state)
{
    (void)state;
    struct vk_arena a;
    char buf[512];
    vk_arena_init(&a, 1 << 20);
    vk_str c = der_of(&a, "client.pem"), other = der_of(&a, "server_only.pem");
    const char *dn = norm(VK_X509_SUBJECT_DN, "CN=client-a, OU=Payments, O=Example Corp, C=US",
                          buf, sizeof buf);
    assert_true(vk_x509_name_matches(c, VK_X509_SUBJECT_DN, dn));
    assert_false(vk_x509_name_matches(other, VK_X509_SUBJECT_DN, dn));
    /* a prefix of the DN, or its components in another order, is not the DN */
    assert_false(vk_x509_name_matches(c, VK_X509_SUBJECT_DN, "CN=client-a,OU=Payments"));
    assert_false(vk_x509_name_matches(c, VK_X509_SUBJECT_DN,
                                      "C=US,O=Example Corp,OU=Payments,CN=client-a"));
    assert_true(vk_x509_name_matches(c, VK_X509_SAN_DNS, "client-a.example.com"));
    assert_false(vk_x509_name_matches(c, VK_X509_SAN_DNS, "example.com"));
    assert_true(vk_x509_name_matches(c, VK_X509_SAN_URI, "https://client-a.example.com/id"));
    assert_false(vk_x509_name_matches(c, VK_X509_SAN_URI, "https://client-a.example.com/ID"));
    assert_true(vk_x509_name_matches(c, VK_X509_SAN_IP, "192.0.2.7"));
    assert_true(vk_x509_name_matches(c, VK_X509_SAN_IP, "2001:db8::7"));
    assert_false(vk_x509_name_matches(c, VK_X509_SAN_IP, "192.0.2.8"));
    assert_true(vk_x509_name_matches(c, VK_X509_SAN_EMAIL, "ops@example.com"));
    /* the DN is not a SAN, a SAN is not the DN */
    assert_false(vk_x509_name_matches(c, VK_X509_SAN_DNS, "client-a"));
    assert_false(vk_x509_name_matches(c, VK_X509_SUBJECT_DN, "client-a.example.com"));
    assert_false(vk_x509_name_matches(other, VK_X509_SAN_DNS, "client-a.example.com"));
    assert_false(vk_x509_name_matches(c, VK_X509_SAN_DNS, ""));
    /* a subject with escapes and a multi-valued RDN */
    vk_str e = der_of(&a, "escaped.pem");
    assert_true(vk_x509_name_matches(
        e, VK_X509_SUBJECT_DN,
        norm(VK_X509_SUBJECT_DN, "CN=\\#1 \\<quoted\\>+UID=42,O=Smith\\, Jones \\+ Co", buf,
             sizeof buf)));
    vk_arena_clear(&a);
}

/* {"keys":[JWK of the certificate in `pem`]} */
static char *jwks_for(const char *name)
{
    size_t n;
    char *pem = read_vec(name, &n);
    json_t *jwk = NULL;
    struct vk_err err = {{0}};
    assert_int_equal(vk_x509_jwk_from_pem((vk_str){pem, n}, &jwk, &err), VK_OK);
    vk_file_free(pem, n);
    json_t *set = json_pack("{s:[o]}", "keys", jwk);
    char *s = json_dumps(set, JSON_COMPACT);
    json_decref(set);
    return s;
}

static void jwks_with_x5c_holds_the_certificate(void **state)
{
    (void)state;
    struct vk_arena a;
    struct vk_err err = {{0}};
    vk_arena_init(&a, 1 << 20);
    char *jwks = jwks_for("self.pem");
    assert_int_equal(vk_x509_jwks_check(vk_str_c(jwks), &err), VK_OK);
    assert_true(vk_x509_jwks_contains(vk_str_c(jwks), der_of(&a, "self.pem")));
    assert_false(vk_x509_jwks_contains(vk_str_c(jwks), der_of(&a, "client.pem")));
    assert_false(vk_x509_jwks_contains(VK_STR("{\"keys\":"), der_of(&a, "self.pem")));
    free(jwks);
    vk_arena_clear(&a);
}

static void jwks_check_refuses_a_key_that_is_not_the_certificates(void **state)
{
    (void)state;
    struct vk_err err = {{0}};
    char *self = jwks_for("self.pem"), *client = jwks_for("client.pem");
    json_error_t je;
    json_t *a = json_loads(self, 0, &je), *b = json_loads(client, 0, &je);
    /* the JWK members of one certificate with the x5c of another (RFC 7517 §4.7) */
    json_t *ka = json_array_get(json_object_get(a, "keys"), 0);
    json_t *kb = json_array_get(json_object_get(b, "keys"), 0);
    json_object_set(ka, "x5c", json_object_get(kb, "x5c"));
    char *mixed = json_dumps(a, JSON_COMPACT);
    assert_int_equal(vk_x509_jwks_check(vk_str_c(mixed), &err), VK_EINVAL);
    /* no x5c at all; no keys; not JSON */
    json_object_del(ka, "x5c");
    char *bare = json_dumps(a, JSON_COMPACT);
    assert_int_equal(vk_x509_jwks_check(vk_str_c(bare), &err), VK_EINVAL);
    assert_int_equal(vk_x509_jwks_check(VK_STR("{\"keys\":[]}"), &err), VK_EINVAL);
    assert_int_equal(vk_x509_jwks_check(VK_STR("[1,2]"), &err), VK_EINVAL);
    free(mixed);
    free(bare);
    free(self);
    free(client);
    json_decref(a);
    json_decref(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pem_decode_matches_openssl_der),
        cmocka_unit_test(pem_decode_takes_what_proxies_send),
        cmocka_unit_test(thumbprint_is_base64url_sha256_of_der),
        cmocka_unit_test(verify_accepts_a_client_of_the_ca),
        cmocka_unit_test(verify_follows_an_intermediate_the_client_sends),
        cmocka_unit_test(verify_refuses_another_ca_expiry_and_purpose),
        cmocka_unit_test(ca_load_refuses_empty_and_broken_bundles),
        cmocka_unit_test(validity_alone_for_self_signed),
        cmocka_unit_test(dn_normalizes_to_one_canonical_form),
        cmocka_unit_test(sans_normalize),
        cmocka_unit_test(names_match_the_certificate),
        cmocka_unit_test(jwks_with_x5c_holds_the_certificate),
        cmocka_unit_test(jwks_check_refuses_a_key_that_is_not_the_certificates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
