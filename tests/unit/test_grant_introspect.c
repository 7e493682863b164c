/* Who may introspect what (grant/introspect.c, RFC 7662 §4): the decisions behind /introspect's
 * {"active":false} for callers that may not know about a token. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "grant/grant.h"

static struct vk_client a_client(const char *id, const char *resources, bool introspect)
{
    struct vk_client c;
    memset(&c, 0, sizeof c);
    c.id = id;
    c.resources = resources;
    c.introspect = introspect;
    c.has_secret = true;
    return c;
}

static void refresh_tokens_only_by_their_client(void **state)
{
    (void)state;
    struct vk_client owner = a_client("vk_c_owner", "", false);
    struct vk_client other = a_client("vk_c_other", "", false);
    struct vk_client rs = a_client("vk_c_rs", "https://api.example", true);
    assert_true(vk_introspect_refresh_allowed(&owner, VK_STR("vk_c_owner")));
    /* issue 6, review item 5: an unrelated client read another client's refresh token */
    assert_false(vk_introspect_refresh_allowed(&other, VK_STR("vk_c_owner")));
    /* not even a resource server: it never receives refresh tokens */
    assert_false(vk_introspect_refresh_allowed(&rs, VK_STR("vk_c_owner")));
    assert_false(vk_introspect_refresh_allowed(&owner, VK_STR("vk_c_owner2")));
    assert_false(vk_introspect_refresh_allowed(&owner, VK_STR("vk_c_owne")));
    struct vk_client noid = a_client(NULL, "", true);
    assert_false(vk_introspect_refresh_allowed(&noid, VK_STR("")));
}

static void access_tokens_by_client_audience_or_resource_server(void **state)
{
    (void)state;
    vk_str aud[] = {VK_STR("https://api.example"), VK_STR("https://as.example")};
    vk_str by_id[] = {VK_STR("vk_c_target")};
    struct vk_client owner = a_client("vk_c_owner", "", false);
    struct vk_client api = a_client("vk_c_api", "https://other.example https://api.example", false);
    struct vk_client target = a_client("vk_c_target", "", false);
    struct vk_client stranger = a_client("vk_c_stranger", "https://other.example", false);
    struct vk_client rs = a_client("vk_c_rs", "", true);
    /* the client it was issued to */
    assert_true(vk_introspect_access_allowed(&owner, VK_STR("vk_c_owner"), aud, 2));
    assert_true(vk_introspect_access_allowed(&owner, VK_STR("vk_c_owner"), NULL, 0));
    /* a client whose registered resource is in aud */
    assert_true(vk_introspect_access_allowed(&api, VK_STR("vk_c_owner"), aud, 2));
    /* a client whose id is in aud */
    assert_true(vk_introspect_access_allowed(&target, VK_STR("vk_c_owner"), by_id, 1));
    /* a registered resource server, whatever the token */
    assert_true(vk_introspect_access_allowed(&rs, VK_STR("vk_c_owner"), NULL, 0));
    /* anyone else */
    assert_false(vk_introspect_access_allowed(&stranger, VK_STR("vk_c_owner"), aud, 2));
    assert_false(vk_introspect_access_allowed(&target, VK_STR("vk_c_owner"), aud, 2));
    assert_false(vk_introspect_access_allowed(&api, VK_STR("vk_c_owner"), by_id, 1));
    /* no prefix or substring matches */
    vk_str near[] = {VK_STR("https://api.example/"), VK_STR("https://api.exampl"),
                     VK_STR("vk_c_stranger2"), VK_STR("")};
    assert_false(vk_introspect_access_allowed(&api, VK_STR("vk_c_owner"), near, 4));
    assert_false(vk_introspect_access_allowed(&stranger, VK_STR("vk_c_owner"), near, 4));
    assert_false(vk_introspect_access_allowed(&stranger, VK_STR("vk_c_strange"), NULL, 0));
    /* an empty registered resource list matches no empty audience */
    vk_str empty[] = {VK_STR("")};
    assert_false(vk_introspect_access_allowed(&owner, VK_STR("vk_c_x"), empty, 1));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(refresh_tokens_only_by_their_client),
        cmocka_unit_test(access_tokens_by_client_audience_or_resource_server),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
