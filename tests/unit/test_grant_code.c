/* The pure decisions of the code flow: redirect URI matching, PKCE, single-use codes, refresh
 * rotation and reuse, prompt/max_age and consent. The clock is passed in. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "base/b64url.h"
#include "base/crypto.h"
#include "grant/grant.h"

#define NOW 1800000000

static const char *REG = "https://app.example.com/cb\nhttp://127.0.0.1/native\n"
                         "com.example.app:/oauth";

static void redirect_uri_matches_only_exact_strings(void **state)
{
    (void)state;
    vk_str reg = vk_str_c(REG);
    assert_true(vk_redirect_uri_match(reg, VK_STR("https://app.example.com/cb")));
    assert_true(vk_redirect_uri_match(reg, VK_STR("com.example.app:/oauth")));
    /* BCP #1: every variant is a different URI */
    assert_false(vk_redirect_uri_match(reg, VK_STR("https://app.example.com/cb/")));
    assert_false(vk_redirect_uri_match(reg, VK_STR("https://app.example.com/cb/extra")));
    assert_false(vk_redirect_uri_match(reg, VK_STR("https://app.example.com/cb?x=1")));
    assert_false(vk_redirect_uri_match(reg, VK_STR("https://app.example.com:443/cb")));
    assert_false(vk_redirect_uri_match(reg, VK_STR("https://APP.example.com/cb")));
    assert_false(vk_redirect_uri_match(reg, VK_STR("https://app.example.com/CB")));
    assert_false(vk_redirect_uri_match(reg, VK_STR("http://app.example.com/cb")));
    assert_false(vk_redirect_uri_match(reg, VK_STR("https://app.example.com.evil.com/cb")));
    assert_false(vk_redirect_uri_match(reg, VK_STR("https://app.example.com/cb#frag")));
    assert_false(vk_redirect_uri_match(reg, VK_STR("https://app.example.com/c")));
    assert_false(vk_redirect_uri_match(reg, VK_STR("")));
    assert_false(vk_redirect_uri_match(reg, VK_STR("https://app.example.com/cb\nx")));
}

static void loopback_registration_without_port_allows_any_port(void **state)
{
    (void)state;
    vk_str reg = vk_str_c(REG);
    /* RFC 8252 §7.3 */
    assert_true(vk_redirect_uri_match(reg, VK_STR("http://127.0.0.1/native")));
    assert_true(vk_redirect_uri_match(reg, VK_STR("http://127.0.0.1:51004/native")));
    assert_false(vk_redirect_uri_match(reg, VK_STR("http://127.0.0.1:51004/native/x")));
    assert_false(vk_redirect_uri_match(reg, VK_STR("http://localhost:51004/native")));
    assert_false(vk_redirect_uri_match(reg, VK_STR("http://127.0.0.1:/native")));
    assert_false(vk_redirect_uri_match(reg, VK_STR("http://127.0.0.1.evil.com/native")));
    /* a registration WITH a port stays exact */
    vk_str fixed = VK_STR("http://127.0.0.1:8000/cb");
    assert_true(vk_redirect_uri_match(fixed, VK_STR("http://127.0.0.1:8000/cb")));
    assert_false(vk_redirect_uri_match(fixed, VK_STR("http://127.0.0.1:8001/cb")));
}

/* RFC 7636 Appendix B */
#define B_VERIFIER  "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
#define B_CHALLENGE "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"

static void pkce_s256_matches_rfc7636_appendix_b(void **state)
{
    (void)state;
    assert_true(vk_pkce_s256_ok(VK_STR(B_VERIFIER), VK_STR(B_CHALLENGE)));
    assert_false(vk_pkce_s256_ok(VK_STR(B_VERIFIER "x"), VK_STR(B_CHALLENGE)));
    assert_false(vk_pkce_s256_ok(VK_STR(B_CHALLENGE), VK_STR(B_CHALLENGE)));  /* plain */
    assert_false(vk_pkce_s256_ok(VK_STR("short"), VK_STR(B_CHALLENGE)));
}

static void pkce_challenge_rules(void **state)
{
    (void)state;
    struct vk_oauth_err oe = {0};
    assert_int_equal(vk_pkce_check_challenge(VK_STR(B_CHALLENGE), VK_STR("S256"), &oe), VK_OK);
    assert_int_equal(vk_pkce_check_challenge(VK_STR_NULL, VK_STR("S256"), &oe), VK_EOAUTH);
    assert_string_equal(oe.error, "invalid_request");
    /* absent method means plain (RFC 7636 §4.3): refused */
    assert_int_equal(vk_pkce_check_challenge(VK_STR(B_CHALLENGE), VK_STR_NULL, &oe), VK_EOAUTH);
    assert_int_equal(vk_pkce_check_challenge(VK_STR(B_CHALLENGE), VK_STR("plain"), &oe),
                     VK_EOAUTH);
    assert_int_equal(vk_pkce_check_challenge(VK_STR(B_CHALLENGE), VK_STR("s256"), &oe),
                     VK_EOAUTH);
    assert_int_equal(vk_pkce_check_challenge(VK_STR("abc"), VK_STR("S256"), &oe), VK_EOAUTH);
    assert_true(vk_pkce_verifier_syntax_ok(VK_STR(B_VERIFIER)));
    assert_false(vk_pkce_verifier_syntax_ok(VK_STR("has space in it and is long enough to pass")));
}

static struct vk_code a_code(void)
{
    struct vk_code c;
    memset(&c, 0, sizeof c);
    c.client_id = "vk_c_app";
    c.redirect_uri = "https://app.example.com/cb";
    c.code_challenge = B_CHALLENGE;
    c.scope = "openid";
    c.created_at = NOW;
    c.expires_at = NOW + 60;
    c.grant_id = "vk_g_1";
    return c;
}

static void code_redeems_once_with_the_right_binding(void **state)
{
    (void)state;
    struct vk_oauth_err oe = {0};
    struct vk_code c = a_code();
    bool reused;
    assert_int_equal(vk_code_decide(&c, VK_STR("vk_c_app"), VK_STR("https://app.example.com/cb"),
                                    VK_STR(B_VERIFIER), NOW + 1, &reused, &oe),
                     VK_OK);
    assert_false(reused);
    /* OAuth 2.1: redirect_uri may be omitted */
    assert_int_equal(vk_code_decide(&c, VK_STR("vk_c_app"), VK_STR_NULL, VK_STR(B_VERIFIER),
                                    NOW + 1, &reused, &oe),
                     VK_OK);
}

static void code_rejections(void **state)
{
    (void)state;
    struct vk_oauth_err oe = {0};
    struct vk_code c = a_code();
    bool reused;
    /* another client */
    assert_int_equal(vk_code_decide(&c, VK_STR("vk_c_other"), VK_STR_NULL, VK_STR(B_VERIFIER),
                                    NOW, &reused, &oe),
                     VK_EOAUTH);
    assert_string_equal(oe.error, "invalid_grant");
    /* another redirect URI */
    assert_int_equal(vk_code_decide(&c, VK_STR("vk_c_app"), VK_STR("https://app.example.com/x"),
                                    VK_STR(B_VERIFIER), NOW, &reused, &oe),
                     VK_EOAUTH);
    /* wrong and missing verifier */
    assert_int_equal(vk_code_decide(&c, VK_STR("vk_c_app"), VK_STR_NULL,
                                    VK_STR("wrongwrongwrongwrongwrongwrongwrongwrongwrong"), NOW,
                                    &reused, &oe),
                     VK_EOAUTH);
    assert_string_equal(oe.error, "invalid_grant");
    assert_int_equal(vk_code_decide(&c, VK_STR("vk_c_app"), VK_STR_NULL, VK_STR_NULL, NOW,
                                    &reused, &oe),
                     VK_EOAUTH);
    assert_string_equal(oe.error, "invalid_request");
    /* expired: the 60-second lifetime is exclusive */
    assert_int_equal(vk_code_decide(&c, VK_STR("vk_c_app"), VK_STR_NULL, VK_STR(B_VERIFIER),
                                    NOW + 60, &reused, &oe),
                     VK_EOAUTH);
    assert_false(reused);
}

static void used_code_reports_reuse_even_with_valid_proof(void **state)
{
    (void)state;
    struct vk_oauth_err oe = {0};
    struct vk_code c = a_code();
    bool reused = false;
    c.used_at = NOW + 1;
    assert_int_equal(vk_code_decide(&c, VK_STR("vk_c_app"), VK_STR_NULL, VK_STR(B_VERIFIER),
                                    NOW + 2, &reused, &oe),
                     VK_EOAUTH);
    assert_true(reused);
    assert_string_equal(oe.error, "invalid_grant");
}

static void used_code_of_another_client_is_refused_without_reuse(void **state)
{
    (void)state;
    struct vk_oauth_err oe = {0};
    struct vk_code c = a_code();
    bool reused = true;
    c.used_at = NOW + 1;
    /* Issue 6, review item 6: a spent code replayed by another (public) client must not revoke
     * the grant of the client it was issued to. Valid proof or not, used or expired. */
    assert_int_equal(vk_code_decide(&c, VK_STR("vk_c_other"), VK_STR_NULL, VK_STR(B_VERIFIER),
                                    NOW + 2, &reused, &oe),
                     VK_EOAUTH);
    assert_string_equal(oe.error, "invalid_grant");
    assert_false(reused);
    reused = true;
    assert_int_equal(vk_code_decide(&c, VK_STR("vk_c_other"), VK_STR("https://app.example.com/cb"),
                                    VK_STR_NULL, NOW + 600, &reused, &oe),
                     VK_EOAUTH);
    assert_false(reused);
    /* the client it was issued to: still a replay, after expiry too */
    assert_int_equal(vk_code_decide(&c, VK_STR("vk_c_app"), VK_STR_NULL, VK_STR_NULL, NOW + 600,
                                    &reused, &oe),
                     VK_EOAUTH);
    assert_true(reused);
}

#define MS(s) ((int64_t)(s) * 1000)

static void refresh_state_transitions(void **state)
{
    (void)state;
    struct vk_oauth_err oe = {0};
    struct vk_grant g = {.id = "vk_g_1", .client_id = "vk_c_app", .scope = "openid",
                         .created_at = NOW, .expires_at = NOW + 1000};
    struct vk_refresh rt = {.grant_id = "vk_g_1", .created_at = NOW, .expires_at = NOW + 500};
    enum vk_refresh_verdict v;
    assert_int_equal(vk_refresh_decide(&rt, &g, VK_STR("vk_c_app"), MS(NOW + 1), &v, &oe), VK_OK);
    assert_int_equal(v, VK_REFRESH_ROTATE);
    /* another client presenting it: refused, and the family is not touched */
    assert_int_equal(vk_refresh_decide(&rt, &g, VK_STR("vk_c_x"), MS(NOW + 1), &v, &oe), VK_EOAUTH);
    assert_int_not_equal(v, VK_REFRESH_REUSE);
    /* expired token, expired family */
    assert_int_equal(vk_refresh_decide(&rt, &g, VK_STR("vk_c_app"), MS(NOW + 500), &v, &oe),
                     VK_EOAUTH);
    rt.expires_at = NOW + 5000;
    assert_int_equal(vk_refresh_decide(&rt, &g, VK_STR("vk_c_app"), MS(NOW + 1000), &v, &oe),
                     VK_EOAUTH);
    /* used, no grace: reuse -> revoke the family */
    rt.used_at = NOW + 2;
    assert_int_equal(vk_refresh_decide(&rt, &g, VK_STR("vk_c_app"), MS(NOW + 3), &v, &oe),
                     VK_EOAUTH);
    assert_int_equal(v, VK_REFRESH_REUSE);
    /* used, inside the grace window: same pair; after it: reuse */
    static const uint8_t blob[40];
    rt.grace_blob = blob;
    rt.grace_len = sizeof blob;
    rt.grace_until_ms = MS(NOW + 5);
    assert_int_equal(vk_refresh_decide(&rt, &g, VK_STR("vk_c_app"), MS(NOW + 4), &v, &oe), VK_OK);
    assert_int_equal(v, VK_REFRESH_GRACE);
    assert_int_equal(vk_refresh_decide(&rt, &g, VK_STR("vk_c_app"), MS(NOW + 5), &v, &oe),
                     VK_EOAUTH);
    assert_int_equal(v, VK_REFRESH_REUSE);
    /* a spent token past its own idle expiry, while the family lives: still reuse */
    rt.grace_len = 0;
    rt.expires_at = NOW + 10;
    assert_int_equal(vk_refresh_decide(&rt, &g, VK_STR("vk_c_app"), MS(NOW + 20), &v, &oe),
                     VK_EOAUTH);
    assert_int_equal(v, VK_REFRESH_REUSE);
    rt.expires_at = NOW + 5000;
    rt.grace_len = sizeof blob;
    /* the window ends at its millisecond, not at a whole second */
    rt.grace_until_ms = MS(NOW + 4) + 250;
    assert_int_equal(vk_refresh_decide(&rt, &g, VK_STR("vk_c_app"), MS(NOW + 4) + 249, &v, &oe),
                     VK_OK);
    assert_int_equal(v, VK_REFRESH_GRACE);
    assert_int_equal(vk_refresh_decide(&rt, &g, VK_STR("vk_c_app"), MS(NOW + 4) + 250, &v, &oe),
                     VK_EOAUTH);
    assert_int_equal(v, VK_REFRESH_REUSE);
    /* revoked grant */
    rt.used_at = 0;
    g.revoked_at = NOW + 1;
    assert_int_equal(vk_refresh_decide(&rt, &g, VK_STR("vk_c_app"), MS(NOW + 2), &v, &oe),
                     VK_EOAUTH);
}

static void grace_blob_opens_only_with_the_same_token(void **state)
{
    (void)state;
    const char *pair = "{\"access_token\":\"a\",\"refresh_token\":\"vk_rt_b\"}";
    uint8_t sealed[128], opened[128];
    size_t n = 0, m = 0;
    struct vk_secret rt = {"vk_rt_old", 9}, other = {"vk_rt_olx", 9};
    assert_int_equal(vk_seal(rt, "label", (const uint8_t *)pair, strlen(pair), sealed,
                             sizeof sealed, &n),
                     VK_OK);
    assert_int_equal(n, strlen(pair) + VK_SEAL_OVERHEAD);
    for (size_t i = 0; i + 12 <= n; i++) /* the pair is not in clear */
        assert_false(memcmp(sealed + i, "access_token", 12) == 0);
    assert_int_equal(vk_open(other, "label", sealed, n, opened, sizeof opened, &m), VK_ECRYPTO);
    sealed[20] ^= 1;
    assert_int_equal(vk_open(rt, "label", sealed, n, opened, sizeof opened, &m), VK_ECRYPTO);
    sealed[20] ^= 1;
    assert_int_equal(vk_open(rt, "label", sealed, n, opened, sizeof opened, &m), VK_OK);
    assert_memory_equal(opened, pair, strlen(pair));
}

static void prompt_and_max_age(void **state)
{
    (void)state;
    struct vk_oauth_err oe = {0};
    unsigned p;
    assert_int_equal(vk_prompt_parse(VK_STR("login consent"), &p, &oe), VK_OK);
    assert_int_equal(p, VK_PROMPT_LOGIN | VK_PROMPT_CONSENT);
    assert_int_equal(vk_prompt_parse(VK_STR("none login"), &p, &oe), VK_EOAUTH);
    assert_int_equal(vk_prompt_parse(VK_STR("bogus"), &p, &oe), VK_EOAUTH);
    assert_true(vk_login_required(false, 0, 0, -1, NOW));
    assert_false(vk_login_required(true, NOW - 100, 0, -1, NOW));
    assert_true(vk_login_required(true, NOW - 100, VK_PROMPT_LOGIN, -1, NOW));
    assert_true(vk_login_required(true, NOW - 100, 0, 99, NOW));
    assert_false(vk_login_required(true, NOW - 100, 0, 100, NOW));
    assert_true(vk_login_required(true, NOW - 1, 0, 0, NOW));
}

static void consent_covers_subsets_only(void **state)
{
    (void)state;
    assert_true(vk_consent_covers(VK_STR("openid profile email"), VK_STR("openid email")));
    assert_false(vk_consent_covers(VK_STR("openid profile"), VK_STR("openid email")));
    assert_true(vk_consent_covers(VK_STR("openid"), VK_STR("")));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(redirect_uri_matches_only_exact_strings),
        cmocka_unit_test(loopback_registration_without_port_allows_any_port),
        cmocka_unit_test(pkce_s256_matches_rfc7636_appendix_b),
        cmocka_unit_test(pkce_challenge_rules),
        cmocka_unit_test(code_redeems_once_with_the_right_binding),
        cmocka_unit_test(code_rejections),
        cmocka_unit_test(used_code_reports_reuse_even_with_valid_proof),
        cmocka_unit_test(used_code_of_another_client_is_refused_without_reuse),
        cmocka_unit_test(refresh_state_transitions),
        cmocka_unit_test(grace_blob_opens_only_with_the_same_token),
        cmocka_unit_test(prompt_and_max_age),
        cmocka_unit_test(consent_covers_subsets_only),
    };
    return cmocka_run_group_tests_name("grant_code", tests, NULL, NULL);
}
