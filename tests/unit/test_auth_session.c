/* What the account page may know about a session: the browser family from a fixed vocabulary
 * (never the header), the network truncated to /24 or /48. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "auth/session.h"

static void family(const char *ua, const char *want)
{
    char out[VK_SESSION_UA_MAX];
    vk_session_ua_family(vk_str_c(ua), out, sizeof out);
    assert_string_equal(out, want);
}

static void user_agents_become_a_browser_and_a_system(void **state)
{
    (void)state;
    family("Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
           "Firefox on Linux");
    family("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
           "HeadlessChrome/120.0.0.0 Safari/537.36",
           "Chrome on Linux");
    family("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
           "Chrome/120.0.0.0 Safari/537.36 Edg/120.0.0.0",
           "Edge on Windows");
    family("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
           "Chrome/120.0.0.0 Mobile Safari/537.36",
           "Chrome on Android");
    family("Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 "
           "(KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1",
           "Safari on iOS");
    family("Mozilla/5.0 (Macintosh; Intel Mac OS X 14_2) AppleWebKit/605.1.15 (KHTML, like "
           "Gecko) Version/17.2 Safari/605.1.15",
           "Safari on macOS");
    family("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
           "Chrome/120.0.0.0 Safari/537.36 OPR/106.0.0.0",
           "Opera on Windows");
    family("curl/7.88.1", "curl");
    family("Mozilla/5.0 (X11; Linux x86_64)", "Unknown browser on Linux");
    family("", "Unknown browser");
}

static void a_hostile_user_agent_never_reaches_the_output(void **state)
{
    (void)state;
    char out[VK_SESSION_UA_MAX];
    /* markup, control characters and a long header: only the fixed words come out */
    vk_session_ua_family(vk_str_c("<script>alert(1)</script>\r\nFirefox/1 Linux"), out,
                         sizeof out);
    assert_string_equal(out, "Firefox on Linux");
    char big[2048];
    memset(big, 'A', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    memcpy(big, "Firefox/1 Linux", 15);
    vk_session_ua_family(vk_str_c(big), out, sizeof out);
    assert_string_equal(out, "Unknown browser");
    vk_session_ua_family(VK_STR_NULL, out, sizeof out);
    assert_string_equal(out, "Unknown browser");
}

static void coarse(const char *addr, const char *want)
{
    char out[VK_SESSION_ADDR_MAX];
    vk_session_addr_coarse(addr, out, sizeof out);
    assert_string_equal(out, want);
}

static void addresses_are_truncated_to_their_network(void **state)
{
    (void)state;
    coarse("192.0.2.77", "192.0.2.0/24");
    coarse("127.0.0.1", "127.0.0.0/24");
    coarse("2001:db8:1:2:3:4:5:6", "2001:db8:1::/48");
    coarse("2001:db8:abcd:ffff::1", "2001:db8:abcd::/48");
    coarse("::ffff:198.51.100.9", "198.51.100.0/24");
    coarse("::1", "::/48");
    coarse("not an address", "unknown");
    coarse("", "unknown");
    coarse(NULL, "unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(user_agents_become_a_browser_and_a_system),
        cmocka_unit_test(a_hostile_user_agent_never_reaches_the_output),
        cmocka_unit_test(addresses_are_truncated_to_their_network),
    };
    return cmocka_run_group_tests_name("auth_session", tests, NULL, NULL);
}
