/* The account page (/account) driven as a function: the app over a SQLite store in a fresh
 * directory, two users with sessions and grants, and plain struct vk_request values (deferred
 * work run in place). The negative cases check that nothing changed, in the store itself. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>

#include "auth/password.h"
#include "base/crypto.h"
#include "oauth/app.h"

#define NOW 1800000000
#define ALICE_PW "alice's old password"
#define BOB_PW "bob's password here"

struct fx {
    char dir[64];
    struct vk_config cfg;
    struct vk_store *st;
    struct vk_app app;
    struct vk_arena a;
    int64_t now;
};

/* A session whose cookie value is `cookie` (the test plays the browser that holds it). */
static void put_session(struct fx *f, const char *user_id, const char *cookie, const char *handle,
                        int64_t auth_time)
{
    struct vk_session se = {.user_id = user_id, .auth_time = auth_time,
                            .expires_at = NOW + 8 * 3600, .handle = handle,
                            .user_agent = "Firefox on Linux", .address = "192.0.2.0/24"};
    vk_sha256(cookie, strlen(cookie), se.digest);
    assert_int_equal(vk_store_session_put(f->st, &se), VK_OK);
}

/* A live grant of (user, client) with a refresh token, the access token's jti "jti-<id>". */
static void put_grant(struct fx *f, const char *id, const char *user_id, const char *client_id)
{
    char seed[64];
    struct vk_code c = {.client_id = client_id, .user_id = user_id,
                        .redirect_uri = "https://app.example/cb", .code_challenge = "x",
                        .scope = "openid email", .nonce = "", .resources = "", .session_id = "",
                        .auth_time = NOW, .created_at = NOW, .expires_at = NOW + 60,
                        .grant_id = id};
    snprintf(seed, sizeof seed, "code-%s", id);
    vk_sha256(seed, strlen(seed), c.digest);
    assert_int_equal(vk_store_code_put(f->st, &c), VK_OK);
    struct vk_grant g = {.id = id, .client_id = client_id, .user_id = user_id,
                         .scope = "openid email", .resources = "", .session_id = "",
                         .auth_time = NOW, .created_at = NOW, .expires_at = NOW + 86400};
    struct vk_refresh rt = {.grant_id = id, .created_at = NOW, .expires_at = NOW + 86400};
    snprintf(seed, sizeof seed, "rt-%s", id);
    vk_sha256(seed, strlen(seed), rt.digest);
    snprintf(seed, sizeof seed, "jti-%s", id);
    assert_int_equal(vk_store_code_redeem(f->st, c.digest, NOW, &g, &rt, seed, NOW + 600),
                     VK_OK);
    assert_int_equal(vk_store_consent_put(f->st, user_id, client_id, "openid email", NOW),
                     VK_OK);
}

static void put_user(struct fx *f, const char *id, const char *name, const char *pw)
{
    char hash[VK_PASSWORD_HASH_MAX];
    struct vk_err err = {{0}};
    assert_int_equal(vk_password_hash((struct vk_secret){pw, strlen(pw)}, hash, sizeof hash),
                     VK_OK);
    struct vk_user u = {.id = id, .username = name, .password_hash = hash, .claims = "{}",
                        .created_at = NOW, .password_changed_at = NOW};
    assert_int_equal(vk_store_user_put(f->st, &u, &err), VK_OK);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    struct vk_err err = {{0}};
    if (f == NULL)
        return -1;
    snprintf(f->dir, sizeof f->dir, "/tmp/vk-account-test-XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        return -1;
    vk_config_defaults(&f->cfg);
    if (vk_store_open(f->dir, &f->st, &err) != VK_OK ||
        vk_app_init(&f->app, &f->cfg, f->st, "https://as.example", NOW, &err) != VK_OK) {
        fprintf(stderr, "setup: %s\n", err.msg);
        return -1;
    }
    struct vk_client c = {.id = "vk_c_app", .name = "Photo App", .auth_method = "none",
                          .grant_types = "authorization_code refresh_token",
                          .scope = "openid email", .redirect_uris = "https://app.example/cb",
                          .post_logout_redirect_uris = "", .resources = "", .created_at = NOW,
                          .id_token_alg = "RS256"};
    if (vk_store_client_put(f->st, &c, &err) != VK_OK)
        return -1;
    vk_arena_init(&f->a, VK_REQ_ARENA_CAP);
    f->now = NOW + 10;
    put_user(f, "vk_u_alice", "alice", ALICE_PW);
    put_user(f, "vk_u_bob", "bob", BOB_PW);
    put_session(f, "vk_u_alice", "vk_ss_alice_here", "h-alice-here", NOW);
    put_session(f, "vk_u_alice", "vk_ss_alice_phone", "h-alice-phone", NOW + 1);
    put_session(f, "vk_u_bob", "vk_ss_bob", "h-bob", NOW);
    put_grant(f, "g-alice", "vk_u_alice", "vk_c_app");
    put_grant(f, "g-bob", "vk_u_bob", "vk_c_app");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    char cmd[128];
    vk_app_clear(&f->app);
    vk_store_close(f->st);
    vk_arena_clear(&f->a);
    snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
    if (system(cmd) != 0)
        return -1;
    free(f);
    return 0;
}

static struct vk_request rq; /* big (header array): not on the stack */

/* One request to `path` (GET when body is NULL) with the session cookie (or none) and the CSRF
 * binding cookie "bind"; deferred work runs at once. */
static int call(struct fx *f, const char *path, const char *query, const char *body,
                const char *session_cookie, struct vk_response *rs)
{
    memset(&rq, 0, sizeof rq);
    memset(rs, 0, sizeof *rs);
    rq.arena = &f->a;
    rq.method = body != NULL ? VK_METHOD_POST : VK_METHOD_GET;
    rq.path = vk_str_c(path);
    rq.raw_query = vk_str_c(query != NULL ? query : "");
    rq.body = vk_str_c(body != NULL ? body : "");
    rq.now = f->now;
    snprintf(rq.peer, sizeof rq.peer, "192.0.2.7");
    if (body != NULL)
        rq.headers[rq.n_headers++] = (struct vk_header){
            vk_str_c("Content-Type"), vk_str_c("application/x-www-form-urlencoded")};
    rq.headers[rq.n_headers++] = (struct vk_header){
        vk_str_c("User-Agent"), vk_str_c("Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0")};
    char *cookie = session_cookie != NULL
                       ? vk_arena_printf(&f->a, "%s=%s; %s=bind", f->app.session_cookie,
                                         session_cookie, f->app.csrf_cookie)
                       : vk_arena_printf(&f->a, "%s=bind", f->app.csrf_cookie);
    rq.headers[rq.n_headers++] = (struct vk_header){vk_str_c("Cookie"), vk_str_c(cookie)};
    int rc = strcmp(path, "/login") == 0 ? vk_ep_login(&f->app, &rq, rs)
                                         : vk_ep_account(&f->app, &rq, rs);
    if (rc == VK_OK && rs->defer_fn != NULL)
        rc = vk_response_run_deferred(&f->app, &rq, rs);
    return rc;
}

/* The CSRF token the account page gives the browser holding `session_cookie`. */
static const char *csrf_for(struct fx *f, const char *session_cookie)
{
    uint8_t d[VK_DIGEST_LEN];
    char hex[2 * VK_DIGEST_LEN + 1], purpose[128], tok[44];
    vk_sha256(session_cookie, strlen(session_cookie), d);
    vk_hex(d, VK_DIGEST_LEN, hex);
    snprintf(purpose, sizeof purpose, "account|%s", hex);
    vk_oauth_csrf_token(&f->app, purpose, vk_str_c("bind"), tok);
    return vk_arena_printf(&f->a, "%s", tok);
}

static const char *header(const struct vk_response *rs, const char *name)
{
    for (size_t i = 0; i < rs->n_headers; i++)
        if (strcasecmp(rs->headers[i].name.p, name) == 0)
            return rs->headers[i].value.p;
    return NULL;
}

static bool body_has(struct fx *f, const struct vk_response *rs, const char *needle)
{
    char *b = vk_arena_strdup(&f->a, (vk_str){rs->body, rs->body_len});
    return b != NULL && strstr(b, needle) != NULL;
}

/* --- the state the negative tests compare ------------------------------------------------- */

static size_t live_grants(struct fx *f, const char *user_id)
{
    struct vk_user_grant_list gl;
    assert_int_equal(vk_store_user_grants(f->st, &f->a, user_id, f->now, &gl), VK_OK);
    return gl.n;
}

static bool has_consent(struct fx *f, const char *user_id)
{
    const char *scope = NULL;
    int rc = vk_store_consent_get(f->st, &f->a, user_id, "vk_c_app", &scope);
    assert_true(rc == VK_OK || rc == VK_ENOTFOUND);
    return rc == VK_OK;
}

static size_t sessions(struct fx *f, const char *user_id)
{
    struct vk_session_list sl;
    assert_int_equal(vk_store_session_list(f->st, &f->a, user_id, f->now, &sl), VK_OK);
    return sl.n;
}

static const char *password_hash(struct fx *f, const char *user_id)
{
    struct vk_user u;
    assert_int_equal(vk_store_user_get(f->st, &f->a, vk_str_c(user_id), &u), VK_OK);
    return u.password_hash;
}

static bool jti_revoked(struct fx *f, const char *jti)
{
    bool r = false;
    assert_int_equal(vk_store_token_is_revoked(f->st, jti, &r), VK_OK);
    return r;
}

/* Everything of both users as the fixture made it. */
static void assert_nothing_changed(struct fx *f, const char *alice_hash, const char *bob_hash)
{
    assert_int_equal(live_grants(f, "vk_u_alice"), 1);
    assert_int_equal(live_grants(f, "vk_u_bob"), 1);
    assert_true(has_consent(f, "vk_u_alice"));
    assert_true(has_consent(f, "vk_u_bob"));
    assert_false(jti_revoked(f, "jti-g-alice"));
    assert_false(jti_revoked(f, "jti-g-bob"));
    assert_int_equal(sessions(f, "vk_u_alice"), 2);
    assert_int_equal(sessions(f, "vk_u_bob"), 1);
    assert_string_equal(password_hash(f, "vk_u_alice"), alice_hash);
    assert_string_equal(password_hash(f, "vk_u_bob"), bob_hash);
}

#define SNAPSHOT()                                                                                 \
    const char *alice_hash = password_hash(f, "vk_u_alice");                                       \
    const char *bob_hash = password_hash(f, "vk_u_bob")

/* --- the page ------------------------------------------------------------------------------ */

static void without_a_session_the_page_is_the_login_form(void **state)
{
    struct fx *f = *state;
    struct vk_response rs;
    assert_int_equal(call(f, "/account", NULL, NULL, NULL, &rs), VK_OK);
    assert_int_equal(rs.status, 200);
    assert_true(body_has(f, &rs, "<form method=\"post\" action=\"/login\">"));
    assert_true(body_has(f, &rs, "<input type=\"hidden\" name=\"next\" value=\"account\">"));
    assert_true(body_has(f, &rs, "name=\"csrf\""));
    assert_false(body_has(f, &rs, "Photo App"));
    /* the security headers of the login pages */
    const char *csp = header(&rs, "Content-Security-Policy");
    assert_non_null(csp);
    assert_non_null(strstr(csp, "default-src 'none'"));
    assert_non_null(strstr(csp, "form-action 'self'"));
    assert_non_null(strstr(csp, "frame-ancestors 'none'"));
    assert_string_equal(header(&rs, "X-Frame-Options"), "DENY");
    assert_string_equal(header(&rs, "Cache-Control"), "no-store");
    /* an unknown session cookie is no session */
    assert_int_equal(call(f, "/account", NULL, NULL, "vk_ss_made_up", &rs), VK_OK);
    assert_true(body_has(f, &rs, "name=\"next\" value=\"account\""));
}

static void the_page_shows_this_users_applications_and_sessions_only(void **state)
{
    struct fx *f = *state;
    struct vk_response rs;
    assert_int_equal(call(f, "/account", "done=removed", NULL, "vk_ss_alice_here", &rs), VK_OK);
    assert_int_equal(rs.status, 200);
    assert_string_equal(header(&rs, "Cache-Control"), "no-store");
    assert_non_null(strstr(header(&rs, "Content-Security-Policy"), "frame-ancestors 'none'"));
    assert_true(body_has(f, &rs, "Signed in as <strong>alice</strong>"));
    assert_true(body_has(f, &rs, "<section class=\"app\" data-client=\"vk_c_app\">"));
    assert_true(body_has(f, &rs, "<h3>Photo App</h3>"));
    /* the default audience (the issuer), as on the consent page */
    assert_true(body_has(f, &rs, "<ul class=\"audiences\">\n<li>https://as.example</li>"));
    assert_true(body_has(f, &rs, "<li class=\"current\" data-session=\"h-alice-here\">"));
    assert_true(body_has(f, &rs, "<li data-session=\"h-alice-phone\">"));
    assert_false(body_has(f, &rs, "h-bob"));
    assert_true(body_has(f, &rs, "role=\"status\">The application&#39;s access was removed."));
    const char *tok = csrf_for(f, "vk_ss_alice_here");
    char *field = vk_arena_printf(&f->a, "name=\"csrf\" value=\"%s\"", tok);
    assert_true(body_has(f, &rs, field));
    /* nothing from the URL is echoed */
    assert_int_equal(call(f, "/account", "done=%3Cb%3Eowned", NULL, "vk_ss_alice_here", &rs),
                     VK_OK);
    assert_false(body_has(f, &rs, "owned"));
    assert_false(body_has(f, &rs, "role=\"status\""));
}

static void last_seen_is_written_at_most_every_interval(void **state)
{
    struct fx *f = *state;
    struct vk_response rs;
    struct vk_session se;
    uint8_t d[VK_DIGEST_LEN];
    vk_sha256("vk_ss_alice_here", 16, d);
    f->now = NOW + 100;
    assert_int_equal(call(f, "/account", NULL, NULL, "vk_ss_alice_here", &rs), VK_OK);
    assert_int_equal(vk_store_session_get(f->st, &f->a, d, f->now, &se), VK_OK);
    assert_int_equal(se.last_seen, NOW);
    f->now = NOW + 400;
    assert_int_equal(call(f, "/account", NULL, NULL, "vk_ss_alice_here", &rs), VK_OK);
    assert_int_equal(vk_store_session_get(f->st, &f->a, d, f->now, &se), VK_OK);
    assert_int_equal(se.last_seen, NOW + 400);
    assert_string_equal(se.address, "192.0.2.0/24");
}

/* --- removing access ------------------------------------------------------------------------ */

static void removal_revokes_the_grant_and_forgets_the_consent(void **state)
{
    struct fx *f = *state;
    struct vk_response rs;
    char *body = vk_arena_printf(&f->a, "csrf=%s&op=remove&client=vk_c_app",
                                 csrf_for(f, "vk_ss_alice_here"));
    assert_int_equal(call(f, "/account", NULL, body, "vk_ss_alice_here", &rs), VK_OK);
    assert_int_equal(rs.status, 303);
    assert_string_equal(header(&rs, "Location"), "/account?done=removed");
    assert_string_equal(header(&rs, "Cache-Control"), "no-store");
    assert_int_equal(live_grants(f, "vk_u_alice"), 0);
    assert_false(has_consent(f, "vk_u_alice"));
    assert_true(jti_revoked(f, "jti-g-alice"));
    /* bob's access to the same client is his own */
    assert_int_equal(live_grants(f, "vk_u_bob"), 1);
    assert_true(has_consent(f, "vk_u_bob"));
    assert_false(jti_revoked(f, "jti-g-bob"));
    /* again: nothing left to remove */
    assert_int_equal(call(f, "/account", NULL, body, "vk_ss_alice_here", &rs), VK_OK);
    assert_int_equal(rs.status, 404);
}

static void a_form_without_the_right_csrf_token_changes_nothing(void **state)
{
    struct fx *f = *state;
    struct vk_response rs;
    SNAPSHOT();
    const char *bodies[] = {
        "op=remove&client=vk_c_app",                         /* missing */
        "csrf=&op=remove&client=vk_c_app",                   /* empty */
        "csrf=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA&op=remove&client=vk_c_app",
        /* alice's other session's token */
        vk_arena_printf(&f->a, "csrf=%s&op=remove&client=vk_c_app",
                        csrf_for(f, "vk_ss_alice_phone")),
        vk_arena_printf(&f->a, "csrf=%s&op=signout_others", csrf_for(f, "vk_ss_alice_phone")),
        vk_arena_printf(&f->a, "csrf=%s&csrf=%s&op=signout_others",
                        csrf_for(f, "vk_ss_alice_here"), csrf_for(f, "vk_ss_alice_here")),
    };
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        assert_int_equal(call(f, "/account", NULL, bodies[i], "vk_ss_alice_here", &rs), VK_OK);
        assert_true(rs.status == 403 || rs.status == 400);
        assert_null(header(&rs, "Location"));
        assert_nothing_changed(f, alice_hash, bob_hash);
    }
    /* the right token without the binding cookie's value (another browser) */
    memset(&rq, 0, sizeof rq);
    char *body = vk_arena_printf(&f->a, "csrf=%s&op=remove&client=vk_c_app",
                                 csrf_for(f, "vk_ss_alice_here"));
    rq.arena = &f->a;
    rq.method = VK_METHOD_POST;
    rq.path = vk_str_c("/account");
    rq.body = vk_str_c(body);
    rq.now = f->now;
    rq.headers[rq.n_headers++] = (struct vk_header){
        vk_str_c("Content-Type"), vk_str_c("application/x-www-form-urlencoded")};
    rq.headers[rq.n_headers++] = (struct vk_header){
        vk_str_c("Cookie"), vk_str_c(vk_arena_printf(&f->a, "%s=vk_ss_alice_here; %s=other",
                                                     f->app.session_cookie, f->app.csrf_cookie))};
    memset(&rs, 0, sizeof rs);
    assert_int_equal(vk_ep_account(&f->app, &rq, &rs), VK_OK);
    assert_int_equal(rs.status, 403);
    assert_nothing_changed(f, alice_hash, bob_hash);
}

static void another_users_session_cookie_changes_nothing_of_this_user(void **state)
{
    struct fx *f = *state;
    struct vk_response rs;
    SNAPSHOT();
    /* alice's form (her token) sent with bob's session cookie */
    const char *ops[] = {"op=remove&client=vk_c_app", "op=signout&session=h-alice-phone",
                         "op=signout_others"};
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        char *body = vk_arena_printf(&f->a, "csrf=%s&%s", csrf_for(f, "vk_ss_alice_here"), ops[i]);
        assert_int_equal(call(f, "/account", NULL, body, "vk_ss_bob", &rs), VK_OK);
        assert_int_equal(rs.status, 403);
        assert_nothing_changed(f, alice_hash, bob_hash);
    }
    /* and bob's own valid form can only ever act on bob: alice's session handle is not his */
    char *body = vk_arena_printf(&f->a, "csrf=%s&op=signout&session=h-alice-phone",
                                 csrf_for(f, "vk_ss_bob"));
    assert_int_equal(call(f, "/account", NULL, body, "vk_ss_bob", &rs), VK_OK);
    assert_int_equal(rs.status, 404);
    assert_nothing_changed(f, alice_hash, bob_hash);
}

static void guessing_another_users_grant_id_removes_nothing(void **state)
{
    struct fx *f = *state;
    struct vk_response rs;
    SNAPSHOT();
    /* bob removes his own access first, so "vk_c_app" names nothing of his */
    char *body = vk_arena_printf(&f->a, "csrf=%s&op=remove&client=vk_c_app",
                                 csrf_for(f, "vk_ss_bob"));
    assert_int_equal(call(f, "/account", NULL, body, "vk_ss_bob", &rs), VK_OK);
    assert_int_equal(rs.status, 303);
    assert_int_equal(live_grants(f, "vk_u_bob"), 0);
    /* now bob posts alice's grant id, her client (again), a made-up id, garbage */
    const char *ids[] = {"g-alice", "vk_c_app", "vk_c_nope", "", "a%20b", "%00"};
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        body = vk_arena_printf(&f->a, "csrf=%s&op=remove&client=%s", csrf_for(f, "vk_ss_bob"),
                               ids[i]);
        assert_int_equal(call(f, "/account", NULL, body, "vk_ss_bob", &rs), VK_OK);
        assert_true(rs.status == 404 || rs.status == 400);
        assert_null(header(&rs, "Location"));
    }
    assert_int_equal(live_grants(f, "vk_u_alice"), 1);
    assert_true(has_consent(f, "vk_u_alice"));
    assert_false(jti_revoked(f, "jti-g-alice"));
    assert_string_equal(password_hash(f, "vk_u_alice"), alice_hash);
    (void)bob_hash;
}

/* --- sessions ------------------------------------------------------------------------------- */

static void signing_out_one_session_or_all_others(void **state)
{
    struct fx *f = *state;
    struct vk_response rs;
    uint8_t phone[VK_DIGEST_LEN];
    struct vk_session se;
    vk_sha256("vk_ss_alice_phone", 17, phone);
    char *body = vk_arena_printf(&f->a, "csrf=%s&op=signout&session=h-alice-phone",
                                 csrf_for(f, "vk_ss_alice_here"));
    assert_int_equal(call(f, "/account", NULL, body, "vk_ss_alice_here", &rs), VK_OK);
    assert_int_equal(rs.status, 303);
    assert_string_equal(header(&rs, "Location"), "/account?done=signed_out");
    assert_int_equal(vk_store_session_get(f->st, &f->a, phone, f->now, &se), VK_ENOTFOUND);
    assert_int_equal(sessions(f, "vk_u_alice"), 1);
    /* the phone is sent back to the login page */
    assert_int_equal(call(f, "/account", NULL, NULL, "vk_ss_alice_phone", &rs), VK_OK);
    assert_true(body_has(f, &rs, "name=\"next\" value=\"account\""));
    /* all others, with two more */
    put_session(f, "vk_u_alice", "vk_ss_alice_3", "h-3", NOW + 2);
    put_session(f, "vk_u_alice", "vk_ss_alice_4", "h-4", NOW + 3);
    body = vk_arena_printf(&f->a, "csrf=%s&op=signout_others", csrf_for(f, "vk_ss_alice_here"));
    assert_int_equal(call(f, "/account", NULL, body, "vk_ss_alice_here", &rs), VK_OK);
    assert_int_equal(rs.status, 303);
    assert_int_equal(sessions(f, "vk_u_alice"), 1);
    assert_int_equal(sessions(f, "vk_u_bob"), 1);
    assert_int_equal(call(f, "/account", NULL, NULL, "vk_ss_alice_here", &rs), VK_OK);
    assert_true(body_has(f, &rs, "Signed in as <strong>alice</strong>"));
}

/* --- the password --------------------------------------------------------------------------- */

static char *pw_form(struct fx *f, const char *cookie, const char *current, const char *next,
                     const char *again)
{
    return vk_arena_printf(&f->a,
                           "csrf=%s&op=password&current_password=%s&new_password=%s&"
                           "new_password2=%s",
                           csrf_for(f, cookie), current, next, again);
}

static void a_password_change_needs_the_current_password_and_a_good_new_one(void **state)
{
    struct fx *f = *state;
    struct vk_response rs;
    SNAPSHOT();
    const char *forms[] = {
        /* without the current password */
        pw_form(f, "vk_ss_alice_here", "", "a+fine+new+password", "a+fine+new+password"),
        vk_arena_printf(&f->a, "csrf=%s&op=password&new_password=x1234567&new_password2=x1234567",
                        csrf_for(f, "vk_ss_alice_here")),
        /* a wrong one */
        pw_form(f, "vk_ss_alice_here", "not+it", "a+fine+new+password", "a+fine+new+password"),
        /* bob's */
        pw_form(f, "vk_ss_alice_here", "bob%27s+password+here", "a+fine+new+password",
                "a+fine+new+password"),
        /* new ones that differ, a short one, one with a NUL */
        pw_form(f, "vk_ss_alice_here", "alice%27s+old+password", "a+fine+new+password",
                "a+fine+new+passwore"),
        pw_form(f, "vk_ss_alice_here", "alice%27s+old+password", "short", "short"),
        pw_form(f, "vk_ss_alice_here", "alice%27s+old+password", "nul%00in+it+here",
                "nul%00in+it+here"),
    };
    for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
        assert_int_equal(call(f, "/account", NULL, forms[i], "vk_ss_alice_here", &rs), VK_OK);
        assert_int_equal(rs.status, 400);
        assert_null(header(&rs, "Location"));
        assert_true(body_has(f, &rs, "role=\"alert\""));
        assert_nothing_changed(f, alice_hash, bob_hash);
    }
}

static void a_password_change_needs_a_recent_sign_in(void **state)
{
    struct fx *f = *state;
    struct vk_response rs;
    SNAPSHOT();
    f->now = NOW + f->cfg.account_reauth_max_age + 1;
    const char *form = pw_form(f, "vk_ss_alice_here", "alice%27s+old+password",
                               "a+fine+new+password", "a+fine+new+password");
    assert_int_equal(call(f, "/account", NULL, form, "vk_ss_alice_here", &rs), VK_OK);
    assert_int_equal(rs.status, 403);
    assert_true(body_has(f, &rs, "href=\"/account?signin=1\""));
    assert_false(body_has(f, &rs, "current_password"));
    assert_nothing_changed(f, alice_hash, bob_hash);
    /* "sign in again" shows the login page although the session is live */
    assert_int_equal(call(f, "/account", "signin=1", NULL, "vk_ss_alice_here", &rs), VK_OK);
    assert_true(body_has(f, &rs, "name=\"next\" value=\"account\""));
    assert_true(body_has(f, &rs, "value=\"alice\""));
}

static void a_password_change_keeps_this_browser_and_ends_the_rest(void **state)
{
    struct fx *f = *state;
    struct vk_response rs;
    const char *old_hash = password_hash(f, "vk_u_alice");
    const char *bob_hash = password_hash(f, "vk_u_bob");
    const char *form = pw_form(f, "vk_ss_alice_here", "alice%27s+old+password",
                               "a+fine+new+password", "a+fine+new+password");
    assert_int_equal(call(f, "/account", NULL, form, "vk_ss_alice_here", &rs), VK_OK);
    assert_int_equal(rs.status, 303);
    assert_string_equal(header(&rs, "Location"), "/account?done=password");
    const char *hash = password_hash(f, "vk_u_alice");
    assert_string_not_equal(hash, old_hash);
    assert_true(vk_password_verify(hash, (struct vk_secret){"a fine new password", 19}));
    assert_false(vk_password_verify(hash, (struct vk_secret){ALICE_PW, strlen(ALICE_PW)}));
    /* as `user passwd`: grants revoked, other sessions ended; this browser gets a new session */
    assert_int_equal(live_grants(f, "vk_u_alice"), 0);
    assert_true(jti_revoked(f, "jti-g-alice"));
    assert_int_equal(sessions(f, "vk_u_alice"), 1);
    const char *set_cookie = NULL;
    for (size_t i = 0; i < rs.n_headers; i++)
        if (strcasecmp(rs.headers[i].name.p, "Set-Cookie") == 0 &&
            strncmp(rs.headers[i].value.p, f->app.session_cookie,
                    strlen(f->app.session_cookie)) == 0)
            set_cookie = rs.headers[i].value.p;
    assert_non_null(set_cookie);
    uint8_t here[VK_DIGEST_LEN];
    struct vk_session se;
    vk_sha256("vk_ss_alice_here", 16, here);
    assert_int_equal(vk_store_session_get(f->st, &f->a, here, f->now, &se), VK_ENOTFOUND);
    /* bob: untouched */
    assert_int_equal(live_grants(f, "vk_u_bob"), 1);
    assert_int_equal(sessions(f, "vk_u_bob"), 1);
    assert_string_equal(password_hash(f, "vk_u_bob"), bob_hash);
}

/* --- the login form of the account page ------------------------------------------------------ */

static void the_account_login_returns_to_the_account_page(void **state)
{
    struct fx *f = *state;
    struct vk_response rs;
    char tok[44];
    vk_oauth_csrf_token(&f->app, "login", vk_str_c("bind"), tok);
    /* another target than the account page is refused */
    char *body = vk_arena_printf(&f->a, "csrf=%s&next=https%%3A%%2F%%2Fevil.example&username=alice"
                                        "&password=alice%%27s+old+password",
                                 tok);
    assert_int_equal(call(f, "/login", NULL, body, NULL, &rs), VK_OK);
    assert_int_equal(rs.status, 400);
    assert_null(header(&rs, "Location"));
    /* no CSRF token */
    body = "next=account&username=alice&password=alice%27s+old+password";
    assert_int_equal(call(f, "/login", NULL, body, NULL, &rs), VK_OK);
    assert_int_equal(rs.status, 403);
    /* a wrong password: the login page again */
    body = vk_arena_printf(&f->a, "csrf=%s&next=account&username=alice&password=nope", tok);
    assert_int_equal(call(f, "/login", NULL, body, NULL, &rs), VK_OK);
    assert_int_equal(rs.status, 400);
    assert_true(body_has(f, &rs, "Invalid username or password."));
    assert_true(body_has(f, &rs, "name=\"next\" value=\"account\""));
    body = vk_arena_printf(&f->a,
                           "csrf=%s&next=account&username=alice&password=alice%%27s+old+password",
                           tok);
    assert_int_equal(call(f, "/login", NULL, body, NULL, &rs), VK_OK);
    assert_int_equal(rs.status, 303);
    assert_string_equal(header(&rs, "Location"), "/account");
    assert_int_equal(sessions(f, "vk_u_alice"), 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(without_a_session_the_page_is_the_login_form, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(the_page_shows_this_users_applications_and_sessions_only,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(last_seen_is_written_at_most_every_interval, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(removal_revokes_the_grant_and_forgets_the_consent, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_form_without_the_right_csrf_token_changes_nothing,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(another_users_session_cookie_changes_nothing_of_this_user,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(guessing_another_users_grant_id_removes_nothing, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(signing_out_one_session_or_all_others, setup, teardown),
        cmocka_unit_test_setup_teardown(
            a_password_change_needs_the_current_password_and_a_good_new_one, setup, teardown),
        cmocka_unit_test_setup_teardown(a_password_change_needs_a_recent_sign_in, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_password_change_keeps_this_browser_and_ends_the_rest,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(the_account_login_returns_to_the_account_page, setup,
                                        teardown),
    };
    return cmocka_run_group_tests_name("oauth_account", tests, NULL, NULL);
}
