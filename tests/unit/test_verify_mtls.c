/* libvaletkey and certificate-bound tokens (RFC 8705 §3): a token with cnf.x5t#S256 is accepted
 * only with the TLS client certificate it names, on every presentation, cached or not. The
 * certificates are tests/vectors/x509 (DER is what hosts pass). */
#include "verify_test.h"

#include "base/crypto.h"
#include "base/file.h"
#include "base/pem.h"
#include "jose/x509.h"

static struct vk_arena arena;

/* The DER of a PEM vector, in the arena. */
static vk_str der(const char *name)
{
    char path[256], *pem = NULL;
    size_t n = 0;
    struct vk_err err = {{0}};
    vk_str out;
    snprintf(path, sizeof path, "%s/tests/vectors/x509/%s", VK_SOURCE_DIR, name);
    if (vk_file_read(path, VK_MAX_PEM_FILE, &pem, &n, &err) != VK_OK)
        fail_msg("%s", err.msg);
    assert_int_equal(vk_pem_cert_decode(&arena, (vk_str){pem, n}, &out), VK_OK);
    vk_file_free(pem, n);
    return out;
}

struct fx {
    struct vk_jwk *key;
    valetkey_verifier *v;
    vk_str cert, other;
    char *bound; /* a token bound to cert */
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    char x5t[VK_X5T_LEN + 1];
    vk_arena_init(&arena, 1 << 20);
    set_now(T0);
    f->key = t_key(VK_ALG_ES256);
    struct vk_jwk *keys[] = {f->key, NULL};
    char *jwks = t_jwks(keys);
    f->v = t_verifier(jwks);
    free(jwks);
    f->cert = der("client.pem");
    f->other = der("other_client.pem");
    vk_x509_thumbprint(f->cert, x5t);
    char *extra = t_printf(",\"cnf\":{\"x5t#S256\":\"%s\"}", x5t);
    f->bound = t_token(f->key, "jti-bound", T0 + 600, extra);
    free(extra);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    valetkey_verifier_free(f->v);
    vk_jwk_free(f->key);
    free(f->bound);
    free(f);
    vk_arena_clear(&arena);
    return 0;
}

static int verify_with(struct fx *f, const char *tok, const vk_str *cert, valetkey_claims **c)
{
    struct valetkey_request rq = {.scheme = VALETKEY_SCHEME_BEARER};
    if (cert != NULL) {
        rq.client_cert = (const unsigned char *)cert->p;
        rq.client_cert_len = cert->len;
    }
    return valetkey_verify(f->v, tok, strlen(tok), &rq, c);
}

static void a_bound_token_needs_its_certificate(void **state)
{
    struct fx *f = *state;
    valetkey_claims *c = NULL;
    char x5t[VK_X5T_LEN + 1];
    vk_x509_thumbprint(f->cert, x5t);
    assert_int_equal(verify_with(f, f->bound, &f->cert, &c), VALETKEY_OK);
    assert_string_equal(valetkey_claims_cnf_x5t(c), x5t);
    assert_null(valetkey_claims_cnf_jkt(c));
    valetkey_claims_free(c);
    /* now cached: the binding is still checked on every presentation */
    assert_int_equal(verify_with(f, f->bound, NULL, &c), VALETKEY_TOKEN_CERT_MISMATCH);
    assert_null(c);
    assert_int_equal(verify_with(f, f->bound, &f->other, &c), VALETKEY_TOKEN_CERT_MISMATCH);
    assert_int_equal(valetkey_verify(f->v, f->bound, strlen(f->bound), NULL, NULL),
                     VALETKEY_TOKEN_CERT_MISMATCH);
    vk_str empty = {f->cert.p, 0};
    assert_int_equal(verify_with(f, f->bound, &empty, &c), VALETKEY_TOKEN_CERT_MISMATCH);
    assert_int_equal(verify_with(f, f->bound, &f->cert, NULL), VALETKEY_OK);
}

static void the_first_presentation_without_the_certificate_is_refused_too(void **state)
{
    struct fx *f = *state;
    /* not in the cache yet: the full check, then the binding */
    assert_int_equal(verify_with(f, f->bound, &f->other, NULL), VALETKEY_TOKEN_CERT_MISMATCH);
    assert_int_equal(verify_with(f, f->bound, &f->cert, NULL), VALETKEY_OK);
}

static void a_bearer_token_does_not_care_about_certificates(void **state)
{
    struct fx *f = *state;
    char *tok = t_token(f->key, "jti-bearer", T0 + 600, NULL);
    valetkey_claims *c = NULL;
    assert_int_equal(verify_with(f, tok, &f->cert, &c), VALETKEY_OK);
    assert_null(valetkey_claims_cnf_x5t(c));
    valetkey_claims_free(c);
    assert_int_equal(verify_with(f, tok, NULL, NULL), VALETKEY_OK);
    free(tok);
}

static void malformed_or_unknown_confirmations_are_refused(void **state)
{
    struct fx *f = *state;
    char x5t[VK_X5T_LEN + 1];
    vk_x509_thumbprint(f->cert, x5t);
    const char *bad[] = {
        ",\"cnf\":{\"x5t#S256\":\"abc\"}",                     /* not a SHA-256 */
        ",\"cnf\":{\"x5t#S256\":42}",
        ",\"cnf\":{}",                                          /* no method at all */
        ",\"cnf\":{\"x5t\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}", /* SHA-1 form */
        NULL,
    };
    for (size_t i = 0; bad[i] != NULL; i++) {
        char *tok = t_token(f->key, "jti-bad", T0 + 600, bad[i]);
        assert_int_equal(verify_with(f, tok, &f->cert, NULL), VALETKEY_TOKEN_CLAIMS);
        free(tok);
    }
    /* a method we check next to one we cannot: refused, not half-checked */
    char *extra = t_printf(",\"cnf\":{\"x5t#S256\":\"%s\",\"jwk\":{}}", x5t);
    char *tok = t_token(f->key, "jti-mixed", T0 + 600, extra);
    assert_int_equal(verify_with(f, tok, &f->cert, NULL), VALETKEY_TOKEN_CLAIMS);
    free(tok);
    free(extra);
}

static void the_refusal_is_invalid_token(void **state)
{
    struct fx *f = *state;
    char buf[512];
    assert_int_equal(valetkey_http_status(VALETKEY_TOKEN_CERT_MISMATCH), 401);
    assert_string_equal(valetkey_rc_error(VALETKEY_TOKEN_CERT_MISMATCH), "invalid_token");
    assert_non_null(strstr(valetkey_strerror(VALETKEY_TOKEN_CERT_MISMATCH), "certificate"));
    assert_int_equal(valetkey_www_authenticate(f->v, VALETKEY_TOKEN_CERT_MISMATCH, NULL, NULL, buf,
                                               sizeof buf),
                     VALETKEY_OK);
    assert_non_null(strstr(buf, "Bearer"));
    assert_non_null(strstr(buf, "error=\"invalid_token\""));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(a_bound_token_needs_its_certificate, setup, teardown),
        cmocka_unit_test_setup_teardown(the_first_presentation_without_the_certificate_is_refused_too,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(a_bearer_token_does_not_care_about_certificates, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(malformed_or_unknown_confirmations_are_refused, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(the_refusal_is_invalid_token, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
