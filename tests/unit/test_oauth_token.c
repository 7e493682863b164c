/* The token endpoint driven as a function: the app is assembled by vk_app_init over a SQLite
 * store in a fresh temporary directory, and each test hands vk_ep_token a plain struct
 * vk_request, with no HTTP server in between. The clock is pinned (rq.now). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <openssl/evp.h>

#include "base/crypto.h"
#include "oauth/app.h"
#include "token/token.h"

#define NOW 1800000000

struct fx {
    char dir[64];
    struct vk_config cfg;
    struct vk_store *st;
    struct vk_app app;
    struct vk_arena a;
    char client_id[64];
    char secret[96];
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    struct vk_err err = {{0}};
    snprintf(f->dir, sizeof f->dir, "/tmp/vk-token-test-XXXXXX");
    if (f == NULL || mkdtemp(f->dir) == NULL)
        return -1;
    vk_config_defaults(&f->cfg);
    if (vk_store_open(f->dir, &f->st, &err) != VK_OK ||
        vk_app_init(&f->app, &f->cfg, f->st, "https://as.example", NOW, &err) != VK_OK) {
        fprintf(stderr, "setup: %s\n", err.msg);
        return -1;
    }
    /* A confidential client-credentials client, as `client add` makes one. */
    struct vk_client c = {.name = "svc", .auth_method = "client_secret_post",
                          .grant_types = "client_credentials", .scope = "read write",
                          .redirect_uris = "", .post_logout_redirect_uris = "", .resources = "",
                          .created_at = NOW, .id_token_alg = "RS256", .has_secret = true};
    if (vk_rand_token(VK_PREFIX_CLIENT_ID, 16, f->client_id, sizeof f->client_id) != VK_OK ||
        vk_secret_new(VK_PREFIX_CLIENT_SECRET, f->secret, sizeof f->secret, c.secret_digest) !=
            VK_OK)
        return -1;
    c.id = f->client_id;
    if (vk_store_client_put(f->st, &c, &err) != VK_OK)
        return -1;
    vk_arena_init(&f->a, VK_REQ_ARENA_CAP);
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

/* POSTs `body` to the handler, with client_secret_post credentials id and secret appended
 * when id is not NULL. */
static int post_token(struct fx *f, const char *id, const char *secret, const char *body,
                      struct vk_response *rs)
{
    static struct vk_request rq; /* big (header array): not on the stack */
    memset(&rq, 0, sizeof rq);
    memset(rs, 0, sizeof *rs);
    rq.arena = &f->a;
    rq.method = VK_METHOD_POST;
    rq.path = vk_str_c("/token");
    rq.body = vk_str_c(id != NULL ? vk_arena_printf(&f->a, "%s&client_id=%s&client_secret=%s",
                                                    body, id, secret)
                                  : body);
    rq.now = NOW;
    snprintf(rq.peer, sizeof rq.peer, "192.0.2.7");
    rq.headers[rq.n_headers++] = (struct vk_header){vk_str_c("Content-Type"),
                                                    vk_str_c("application/x-www-form-urlencoded")};
    return vk_ep_token(&f->app, &rq, rs);
}

/* POSTs `body` with the credentials in an Authorization: Basic header (client_secret_basic). */
static int post_token_basic(struct fx *f, const char *id, const char *secret, const char *body,
                            struct vk_response *rs)
{
    static struct vk_request rq;
    char cred[256], b64[400];
    memset(&rq, 0, sizeof rq);
    memset(rs, 0, sizeof *rs);
    int n = snprintf(cred, sizeof cred, "%s:%s", id, secret);
    assert_true(n > 0 && (size_t)n < sizeof cred);
    EVP_EncodeBlock((unsigned char *)b64, (const unsigned char *)cred, n);
    rq.arena = &f->a;
    rq.method = VK_METHOD_POST;
    rq.path = vk_str_c("/token");
    rq.body = vk_str_c(body);
    rq.now = NOW;
    snprintf(rq.peer, sizeof rq.peer, "192.0.2.7");
    rq.headers[rq.n_headers++] = (struct vk_header){vk_str_c("Content-Type"),
                                                    vk_str_c("application/x-www-form-urlencoded")};
    rq.headers[rq.n_headers++] = (struct vk_header){
        vk_str_c("Authorization"), vk_str_c(vk_arena_printf(&f->a, "Basic %s", b64))};
    return vk_ep_token(&f->app, &rq, rs);
}

static json_t *body_json(const struct vk_response *rs)
{
    json_error_t e;
    json_t *j = json_loadb(rs->body, rs->body_len, 0, &e);
    assert_non_null(j);
    return j;
}

static const char *header(const struct vk_response *rs, const char *name)
{
    for (size_t i = 0; i < rs->n_headers; i++)
        if (strcasecmp(rs->headers[i].name.p, name) == 0)
            return rs->headers[i].value.p;
    return NULL;
}

static void client_credentials_issues_a_verifiable_at_jwt(void **state)
{
    struct fx *f = *state;
    struct vk_response rs;
    assert_int_equal(post_token(f, f->client_id, f->secret,
                                "grant_type=client_credentials&scope=read", &rs),
                     VK_OK);
    assert_int_equal(rs.status, 200);
    assert_string_equal(header(&rs, "Cache-Control"), "no-store");
    json_t *j = body_json(&rs);
    assert_string_equal(json_string_value(json_object_get(j, "token_type")), "Bearer");
    assert_string_equal(json_string_value(json_object_get(j, "scope")), "read");
    assert_int_equal(json_integer_value(json_object_get(j, "expires_in")),
                     f->cfg.access_token_ttl);
    const char *at = json_string_value(json_object_get(j, "access_token"));
    assert_non_null(at);
    /* The token verifies against the published keys and names this issuer and client. */
    struct vk_request rq = {.arena = &f->a, .now = NOW};
    struct vk_jws jws;
    assert_int_equal(vk_oauth_verify_access(&f->app, &rq, vk_str_c(at), &jws), VK_OK);
    assert_string_equal(json_string_value(json_object_get(jws.payload, "iss")),
                        "https://as.example");
    assert_string_equal(json_string_value(json_object_get(jws.payload, "client_id")),
                        f->client_id);
    assert_string_equal(json_string_value(json_object_get(jws.payload, "sub")), f->client_id);
    vk_jws_clear(&jws);
    json_decref(j);
}

static void wrong_secret_is_invalid_client(void **state)
{
    struct fx *f = *state;
    struct vk_response rs;
    assert_int_equal(post_token(f, f->client_id, "vk_cs_wrong", "grant_type=client_credentials",
                                &rs),
                     VK_OK);
    assert_int_equal(rs.status, 401);
    json_t *j = body_json(&rs);
    assert_string_equal(json_string_value(json_object_get(j, "error")), "invalid_client");
    json_decref(j);
}

static void the_registered_auth_method_is_enforced(void **state)
{
    struct fx *f = *state;
    struct vk_response rs;
    /* The fixture client is registered for client_secret_post: its right secret sent with
     * client_secret_basic is refused like a wrong one (issue 6, "Safer defaults"). */
    assert_int_equal(post_token_basic(f, f->client_id, f->secret, "grant_type=client_credentials",
                                      &rs),
                     VK_OK);
    assert_int_equal(rs.status, 401);
    json_t *j = body_json(&rs);
    assert_string_equal(json_string_value(json_object_get(j, "error")), "invalid_client");
    assert_string_equal(json_string_value(json_object_get(j, "error_description")),
                        "client authentication failed");
    json_decref(j);
    assert_non_null(header(&rs, "WWW-Authenticate"));
    /* the registered method still works */
    assert_int_equal(post_token(f, f->client_id, f->secret, "grant_type=client_credentials", &rs),
                     VK_OK);
    assert_int_equal(rs.status, 200);
}

static void scope_beyond_the_registration_is_invalid_scope(void **state)
{
    struct fx *f = *state;
    struct vk_response rs;
    assert_int_equal(post_token(f, f->client_id, f->secret,
                                "grant_type=client_credentials&scope=admin", &rs),
                     VK_OK);
    assert_int_equal(rs.status, 400);
    json_t *j = body_json(&rs);
    assert_string_equal(json_string_value(json_object_get(j, "error")), "invalid_scope");
    json_decref(j);
}

static void unknown_grant_type_and_missing_grant_type(void **state)
{
    struct fx *f = *state;
    struct vk_response rs;
    assert_int_equal(post_token(f, f->client_id, f->secret, "grant_type=password", &rs), VK_OK);
    assert_int_equal(rs.status, 400);
    json_t *j = body_json(&rs);
    assert_string_equal(json_string_value(json_object_get(j, "error")),
                        "unsupported_grant_type");
    json_decref(j);
    assert_int_equal(post_token(f, f->client_id, f->secret, "scope=read", &rs), VK_OK);
    assert_int_equal(rs.status, 400);
    j = body_json(&rs);
    assert_string_equal(json_string_value(json_object_get(j, "error")), "invalid_request");
    json_decref(j);
}

static void unknown_code_is_invalid_grant(void **state)
{
    struct fx *f = *state;
    struct vk_response rs;
    /* The client may not use the code grant at all: unauthorized_client comes first. */
    assert_int_equal(post_token(f, f->client_id, f->secret,
                                "grant_type=authorization_code&code=vk_ac_nope&code_verifier=x",
                                &rs),
                     VK_OK);
    assert_int_equal(rs.status, 400);
    json_t *j = body_json(&rs);
    assert_string_equal(json_string_value(json_object_get(j, "error")), "unauthorized_client");
    json_decref(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(client_credentials_issues_a_verifiable_at_jwt, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(wrong_secret_is_invalid_client,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(the_registered_auth_method_is_enforced, setup, teardown),
        cmocka_unit_test_setup_teardown(scope_beyond_the_registration_is_invalid_scope, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(unknown_grant_type_and_missing_grant_type, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(unknown_code_is_invalid_grant, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
