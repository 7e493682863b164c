/* HTML pages (ui/ui.c): escaping, hostile values, required form fields, self-containment. */
#include <ctype.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "base/buf.h"
#include "base/err.h"
#include "ui/ui.h"

#define HOSTILE "<script>alert(1)</script>\"'&"
#define HOSTILE_ESCAPED "&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39;&amp;"

static struct vk_buf buf;

static int setup(void **state)
{
    (void)state;
    vk_buf_init(&buf, 64 * 1024);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    vk_buf_clear(&buf);
    return 0;
}

static const char *escaped(const char *s, size_t n)
{
    buf.len = 0;
    assert_int_equal(vk_html_escape(&buf, (vk_str){s, n}), VK_OK);
    return buf.p != NULL ? buf.p : "";
}

#define ESC(lit) escaped((lit), sizeof(lit) - 1)

static bool contains_nocase(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (const char *p = hay; *p != '\0'; p++) {
        size_t i = 0;
        while (i < n && p[i] != '\0' &&
               tolower((unsigned char)p[i]) == tolower((unsigned char)needle[i]))
            i++;
        if (i == n)
            return true;
    }
    return false;
}

/* What every page must be: a whole document, self-contained, without scripts or off-site URLs. */
static void assert_page_is_clean(const char *page)
{
    assert_true(strncmp(page, "<!doctype html>\n<html lang=\"en\">", 32) == 0);
    assert_non_null(strstr(page, "<meta charset=\"utf-8\">"));
    assert_non_null(strstr(page, "<meta name=\"viewport\""));
    assert_non_null(strstr(page, "</html>\n"));
    assert_false(contains_nocase(page, "<script"));
    assert_false(contains_nocase(page, "http://"));
    assert_false(contains_nocase(page, "https://"));
    assert_false(contains_nocase(page, "//"));        /* no protocol-relative URLs either */
    assert_false(contains_nocase(page, "url("));      /* nothing fetched from CSS */
    assert_false(contains_nocase(page, "@import"));
    assert_false(contains_nocase(page, "<link"));
    assert_false(contains_nocase(page, "<img"));
    assert_false(contains_nocase(page, "<iframe"));
    /* no inline event handlers */
    assert_false(contains_nocase(page, "onclick"));
    assert_false(contains_nocase(page, "onload"));
    assert_false(contains_nocase(page, "onerror"));
    assert_false(contains_nocase(page, "onfocus"));
    assert_false(contains_nocase(page, "onsubmit"));
    assert_false(contains_nocase(page, "javascript:"));
}

static void assert_hostile_never_raw(const char *page)
{
    assert_null(strstr(page, HOSTILE));
    assert_null(strstr(page, "<script>"));
    assert_null(strstr(page, "alert(1)</"));
    assert_null(strstr(page, "\"'&"));
    assert_non_null(strstr(page, HOSTILE_ESCAPED));
}

static void each_special_character_is_escaped(void **state)
{
    (void)state;
    assert_string_equal(ESC("&"), "&amp;");
    assert_string_equal(ESC("<"), "&lt;");
    assert_string_equal(ESC(">"), "&gt;");
    assert_string_equal(ESC("\""), "&quot;");
    assert_string_equal(ESC("'"), "&#39;");
    assert_string_equal(ESC("a&b<c>d\"e'f"), "a&amp;b&lt;c&gt;d&quot;e&#39;f");
    assert_string_equal(ESC("&amp;"), "&amp;amp;"); /* no double-decoding shortcuts */
    assert_string_equal(ESC(HOSTILE), HOSTILE_ESCAPED);
    assert_string_equal(ESC("plain text / path?x=1"), "plain text / path?x=1");
    assert_string_equal(ESC(""), "");
}

static void utf8_passes_and_broken_bytes_are_replaced(void **state)
{
    (void)state;
    assert_string_equal(ESC("Caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x91"),
                        "Caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x91");
    /* a lone continuation byte, a truncated sequence, an overlong '<', a surrogate, > U+10FFFF */
    assert_string_equal(ESC("a\x80z"), "a\xef\xbf\xbdz");
    assert_string_equal(ESC("a\xe2\x82"), "a\xef\xbf\xbd\xef\xbf\xbd");
    assert_string_equal(ESC("\xc0\xbc"), "\xef\xbf\xbd\xef\xbf\xbd");
    assert_string_equal(ESC("\xed\xa0\x80"), "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
    assert_string_equal(ESC("\xf4\x90\x80\x80"),
                        "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
    /* control characters and NUL (vk_str may hold one) */
    assert_string_equal(ESC("a\x01" "b\x7f" "c\td\ne"), "a\xef\xbf\xbd" "b\xef\xbf\xbd" "c\td\ne");
    assert_string_equal(escaped("a\0b", 3), "a\xef\xbf\xbd" "b");
    /* a right-to-left override cannot make "moc.elgoog" read as "google.com" */
    assert_string_equal(ESC("\xe2\x80\xae" "moc.elgoog"), "\xef\xbf\xbd" "moc.elgoog");
    assert_string_equal(ESC("x\xe2\x81\xa6y"), "x\xef\xbf\xbdy");
}

static void escape_appends_and_rolls_back_at_the_cap(void **state)
{
    (void)state;
    struct vk_buf small;
    vk_buf_init(&small, 16);
    assert_int_equal(vk_buf_append_str(&small, "keep"), VK_OK);
    assert_int_equal(vk_html_escape(&small, VK_STR("<<<<")), VK_ETOOBIG);
    assert_int_equal(small.len, 4);
    assert_string_equal(small.p, "keep");
    assert_int_equal(vk_html_escape(&small, VK_STR("<b")), VK_OK);
    assert_string_equal(small.p, "keep&lt;b");
    /* a page that does not fit leaves the buffer as it was */
    assert_int_equal(vk_ui_message(&small, "Signed out", "You are signed out."), VK_ETOOBIG);
    assert_string_equal(small.p, "keep&lt;b");
    vk_buf_clear(&small);
}

static const struct vk_ui_field hostile_hidden[] = {
    {"csrf", "tok_ABC-123"},
    {"state", HOSTILE},
    {HOSTILE, "x"},
};

static void login_page_has_the_form(void **state)
{
    (void)state;
    const struct vk_ui_field hidden[] = {{"csrf", "tok_ABC-123"}, {"request", "r1"}};
    buf.len = 0;
    assert_int_equal(vk_ui_login(&buf, "/login", "Example App", NULL, NULL, hidden, 2), VK_OK);
    const char *p = buf.p;
    assert_page_is_clean(p);
    assert_non_null(strstr(p, "<form method=\"post\" action=\"/login\">"));
    assert_non_null(strstr(p, "name=\"username\""));
    assert_non_null(strstr(p, "autocomplete=\"username\""));
    assert_non_null(strstr(p, "<input type=\"password\" id=\"password\" name=\"password\""));
    assert_non_null(strstr(p, "autocomplete=\"current-password\""));
    assert_non_null(strstr(p, "<input type=\"hidden\" name=\"csrf\" value=\"tok_ABC-123\">"));
    assert_non_null(strstr(p, "<input type=\"hidden\" name=\"request\" value=\"r1\">"));
    assert_non_null(strstr(p, ">Sign in</button>"));
    assert_non_null(strstr(p, "Sign in to continue to <strong>Example App</strong>"));
    assert_null(strstr(p, "role=\"alert\"")); /* no error, no alert */
    /* the hidden fields are inside the form */
    assert_true(strstr(p, "name=\"csrf\"") > strstr(p, "<form"));
    assert_true(strstr(p, "name=\"csrf\"") < strstr(p, "</form>"));
}

static void login_page_prefills_username_and_shows_error(void **state)
{
    (void)state;
    buf.len = 0;
    assert_int_equal(vk_ui_login(&buf, "/login", "App", "alice@example.com",
                                 "Wrong username or password.", NULL, 0),
                     VK_OK);
    assert_page_is_clean(buf.p);
    assert_non_null(strstr(buf.p, "value=\"alice@example.com\""));
    assert_non_null(strstr(buf.p, "role=\"alert\">Wrong username or password.</p>"));
}

static void login_page_escapes_every_value(void **state)
{
    (void)state;
    buf.len = 0;
    assert_int_equal(vk_ui_login(&buf, "/login?x=\"><script>", HOSTILE, HOSTILE, HOSTILE,
                                 hostile_hidden, 3),
                     VK_OK);
    assert_page_is_clean(buf.p);
    assert_hostile_never_raw(buf.p);
    assert_non_null(strstr(buf.p, "action=\"/login?x=&quot;&gt;&lt;script&gt;\""));
    assert_non_null(strstr(buf.p, "name=\"state\" value=\"" HOSTILE_ESCAPED "\""));
    assert_non_null(strstr(buf.p, "name=\"" HOSTILE_ESCAPED "\" value=\"x\""));
}

static void consent_page_has_both_decisions_in_one_form(void **state)
{
    (void)state;
    const char *const scopes[] = {"openid", "profile", "email", "offline_access", "read:files"};
    const struct vk_ui_field hidden[] = {{"csrf", "tok_1"}};
    buf.len = 0;
    /* URNs: assert_page_is_clean() refuses any "//" in a page (audiences are shown as text) */
    const char *const auds[] = {"urn:example:photos", "urn:example:as"};
    assert_int_equal(vk_ui_consent(&buf, "/consent", "Photo Printer", "alice", scopes, 5, auds, 2,
                                   hidden, 1),
                     VK_OK);
    const char *p = buf.p;
    assert_page_is_clean(p);
    const char *form = strstr(p, "<form method=\"post\" action=\"/consent\">");
    assert_non_null(form);
    assert_null(strstr(form + 1, "<form")); /* one form */
    const char *approve = strstr(p, "name=\"decision\" value=\"approve\">Allow</button>");
    const char *deny = strstr(p, "name=\"decision\" value=\"deny\"");
    const char *end = strstr(p, "</form>");
    assert_non_null(approve);
    assert_non_null(deny);
    assert_true(approve > form && approve < end && deny > form && deny < end);
    assert_non_null(strstr(p, ">Deny</button>"));
    assert_non_null(strstr(p, "<input type=\"hidden\" name=\"csrf\" value=\"tok_1\">"));
    assert_non_null(strstr(p, "<strong>Photo Printer</strong> wants to:"));
    assert_non_null(strstr(p, "<li>Confirm your identity</li>"));
    assert_non_null(strstr(p, "<li>See your name and profile information</li>"));
    assert_non_null(strstr(p, "<li>See your email address</li>"));
    assert_non_null(strstr(p, "<li>Stay signed in (keep access while you are away)</li>"));
    assert_non_null(strstr(p, "<li>Use \xe2\x80\x9cread:files\xe2\x80\x9d</li>"));
    assert_non_null(strstr(p, "Signed in as <strong>alice</strong>"));
    /* the audiences the grant reaches, after the scopes (issue 6, review item 4) */
    const char *where = strstr(p, "<p>This access will be accepted by:</p>\n"
                                  "<ul class=\"audiences\">\n<li>urn:example:photos</li>\n"
                                  "<li>urn:example:as</li>\n</ul>");
    assert_non_null(where);
    assert_true(where > strstr(p, "<ul class=\"scopes\">") && where < form);
}

static void consent_page_escapes_every_value(void **state)
{
    (void)state;
    const char *const scopes[] = {HOSTILE, "openid"};
    buf.len = 0;
    const char *const auds[] = {HOSTILE};
    assert_int_equal(vk_ui_consent(&buf, "/consent", HOSTILE, HOSTILE, scopes, 2, auds, 1,
                                   hostile_hidden, 3),
                     VK_OK);
    assert_page_is_clean(buf.p);
    assert_hostile_never_raw(buf.p);
    assert_non_null(strstr(buf.p, "<li>Use \xe2\x80\x9c" HOSTILE_ESCAPED "\xe2\x80\x9d</li>"));
    assert_non_null(strstr(buf.p, "<strong>" HOSTILE_ESCAPED "</strong> wants to:"));
    assert_non_null(strstr(buf.p, "<li>" HOSTILE_ESCAPED "</li>"));
}

static void consent_page_without_scopes_still_asks(void **state)
{
    (void)state;
    buf.len = 0;
    assert_int_equal(vk_ui_consent(&buf, "/consent", "App", NULL, NULL, 0, NULL, 0, NULL, 0),
                     VK_OK);
    assert_page_is_clean(buf.p);
    assert_null(strstr(buf.p, "<ul"));
    assert_non_null(strstr(buf.p, "value=\"approve\""));
    assert_non_null(strstr(buf.p, "value=\"deny\""));
}

static void error_and_message_pages_escape_and_link_nowhere(void **state)
{
    (void)state;
    buf.len = 0;
    assert_int_equal(vk_ui_error(&buf, HOSTILE, HOSTILE), VK_OK);
    assert_page_is_clean(buf.p);
    assert_hostile_never_raw(buf.p);
    assert_non_null(strstr(buf.p, "<title>" HOSTILE_ESCAPED "</title>"));
    assert_non_null(strstr(buf.p, "role=\"alert\""));
    assert_null(strstr(buf.p, "<a "));
    assert_null(strstr(buf.p, "<form"));
    assert_null(strstr(buf.p, "href"));

    buf.len = 0;
    assert_int_equal(vk_ui_message(&buf, "Signed out", HOSTILE), VK_OK);
    assert_page_is_clean(buf.p);
    assert_hostile_never_raw(buf.p);
    assert_non_null(strstr(buf.p, "<h1>Signed out</h1>"));
    assert_null(strstr(buf.p, "<a "));
    assert_null(strstr(buf.p, "href"));
}

static void scope_words(void **state)
{
    (void)state;
    assert_string_equal(vk_ui_scope_text("openid"), "Confirm your identity");
    assert_string_equal(vk_ui_scope_text("profile"), "See your name and profile information");
    assert_string_equal(vk_ui_scope_text("email"), "See your email address");
    assert_string_equal(vk_ui_scope_text("offline_access"),
                        "Stay signed in (keep access while you are away)");
    assert_null(vk_ui_scope_text("openidx"));
    assert_null(vk_ui_scope_text("OPENID"));
    assert_null(vk_ui_scope_text(""));
    assert_null(vk_ui_scope_text(NULL));
}

static void required_arguments_are_checked(void **state)
{
    (void)state;
    buf.len = 0;
    assert_int_equal(vk_ui_login(&buf, NULL, "App", NULL, NULL, NULL, 0), VK_EINVAL);
    assert_int_equal(vk_ui_consent(&buf, NULL, "App", NULL, NULL, 0, NULL, 0, NULL, 0),
                     VK_EINVAL);
    assert_int_equal(vk_ui_consent(&buf, "/c", "App", NULL, NULL, 2, NULL, 0, NULL, 0),
                     VK_EINVAL);
    assert_int_equal(vk_ui_consent(&buf, "/c", "App", NULL, NULL, 0, NULL, 1, NULL, 0),
                     VK_EINVAL);
    assert_int_equal(buf.len, 0);
}

static void consent_page_links_to_the_account_page(void **state)
{
    (void)state;
    const char *const scopes[] = {"openid"};
    buf.len = 0;
    assert_int_equal(vk_ui_consent(&buf, "/consent", "App", "alice", scopes, 1, NULL, 0, NULL, 0),
                     VK_OK);
    assert_page_is_clean(buf.p);
    /* a plain link in the footer, after (outside) the form */
    const char *footer = strstr(buf.p, "<footer class=\"note\"><a href=\"/account\">");
    assert_non_null(footer);
    assert_true(footer > strstr(buf.p, "</form>"));
}

/* Counts non-overlapping occurrences of needle in hay. */
static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = strstr(hay, needle); p != NULL; p = strstr(p + 1, needle))
        n++;
    return n;
}

#define T0 1800000000 /* 2027-01-15 08:00 UTC */

static void account_page_has_one_form_per_action_each_with_the_csrf_token(void **state)
{
    (void)state;
    const char *const scopes[] = {"openid", "email", "read:files"};
    const char *const auds[] = {"urn:example:photos"};
    const struct vk_ui_app apps[] = {
        {.client_id = "vk_c_one", .name = "Photo Printer", .scopes = scopes, .n_scopes = 3,
         .audiences = auds, .n_audiences = 1, .authorized_at = T0, .last_used = T0 + 3600},
        {.client_id = "vk_c_two", .name = NULL, .self_registered = true, .scopes = scopes,
         .n_scopes = 1, .authorized_at = T0},
    };
    const struct vk_ui_session sessions[] = {
        {.handle = "h-this", .description = "Firefox on Linux", .address = "192.0.2.0/24",
         .signed_in = T0, .last_seen = T0 + 3600, .current = true},
        {.handle = "h-other", .description = "Chrome on Android", .address = "2001:db8:1::/48",
         .signed_in = T0, .last_seen = T0},
    };
    const struct vk_ui_account acct = {
        .username = "alice", .csrf = "tok_1", .notice = "Done.", .apps = apps, .n_apps = 2,
        .sessions = sessions, .n_sessions = 2, .can_change_password = true,
        .reauth_url = "/account?signin=1"};
    buf.len = 0;
    assert_int_equal(vk_ui_account(&buf, "/account", &acct), VK_OK);
    const char *p = buf.p;
    assert_page_is_clean(p);
    assert_non_null(strstr(p, "<title>Your account</title>"));
    assert_non_null(strstr(p, "Signed in as <strong>alice</strong>"));
    assert_non_null(strstr(p, "<p class=\"status\" role=\"status\">Done.</p>"));
    assert_null(strstr(p, "role=\"alert\""));
    /* two Remove access, one Sign out (not for this browser), all others, the password */
    assert_int_equal(count(p, "<form "), 5);
    assert_int_equal(count(p, "<form method=\"post\" class=\"inline\" action=\"/account\">\n"
                              "<input type=\"hidden\" name=\"csrf\" value=\"tok_1\">\n"),
                     5);
    assert_int_equal(count(p, "name=\"op\" value=\"remove\""), 2);
    assert_int_equal(count(p, "name=\"op\" value=\"signout\""), 1);
    assert_int_equal(count(p, "name=\"op\" value=\"signout_others\""), 1);
    assert_int_equal(count(p, "name=\"op\" value=\"password\""), 1);
    /* the applications */
    const char *one = strstr(p, "<section class=\"app\" data-client=\"vk_c_one\">");
    const char *two = strstr(p, "<section class=\"app\" data-client=\"vk_c_two\">");
    assert_non_null(one);
    assert_non_null(two);
    assert_non_null(strstr(one, "<h3>Photo Printer</h3>"));
    assert_non_null(strstr(one, "Registered by the administrator of this server."));
    assert_non_null(strstr(one, "<li>Confirm your identity</li>"));
    assert_non_null(strstr(one, "<li>Use \xe2\x80\x9cread:files\xe2\x80\x9d</li>"));
    assert_non_null(strstr(one, "<ul class=\"audiences\">\n<li>urn:example:photos</li>"));
    assert_non_null(
        strstr(one, "Authorized 2027-01-15 08:00 UTC. Last used 2027-01-15 09:00 UTC."));
    assert_non_null(strstr(one, "<input type=\"hidden\" name=\"client\" value=\"vk_c_one\">"));
    assert_non_null(strstr(two, "<h3>An application that was removed</h3>"));
    assert_non_null(strstr(two, "This application registered itself."));
    assert_non_null(strstr(two, "your approval is remembered"));
    assert_non_null(strstr(two, "<input type=\"hidden\" name=\"client\" value=\"vk_c_two\">"));
    /* the sessions: this browser is marked and has no Sign out of its own */
    const char *this = strstr(p, "<li class=\"current\" data-session=\"h-this\">");
    const char *other = strstr(p, "<li data-session=\"h-other\">");
    assert_non_null(this);
    assert_non_null(other);
    assert_true(this < other);
    assert_non_null(strstr(this, "<strong>Firefox on Linux</strong> (this browser)"));
    assert_true(strstr(this, "<form") > other);
    assert_non_null(strstr(other, "From 2001:db8:1::/48. Signed in 2027-01-15 08:00 UTC, last "
                                  "seen 2027-01-15 08:00 UTC."));
    assert_non_null(strstr(other, "<input type=\"hidden\" name=\"session\" value=\"h-other\">"));
    assert_null(strstr(p, "value=\"h-this\">"));
    /* the password form */
    assert_non_null(strstr(p, "name=\"current_password\" autocomplete=\"current-password\""));
    assert_non_null(strstr(p, "name=\"new_password\" autocomplete=\"new-password\""));
    assert_non_null(strstr(p, "name=\"new_password2\" autocomplete=\"new-password\""));
    assert_null(strstr(p, "signin=1"));
    assert_non_null(strstr(p, "<a href=\"/logout\">"));
}

static void account_page_asks_for_a_fresh_sign_in_before_the_password_form(void **state)
{
    (void)state;
    const struct vk_ui_session sessions[] = {
        {.handle = "h", .description = "", .address = NULL, .current = true}};
    const struct vk_ui_account acct = {.username = "alice", .csrf = "tok_1", .error = "No.",
                                       .sessions = sessions, .n_sessions = 1,
                                       .can_change_password = false,
                                       .reauth_url = "/account?signin=1"};
    buf.len = 0;
    assert_int_equal(vk_ui_account(&buf, "/account", &acct), VK_OK);
    assert_page_is_clean(buf.p);
    assert_null(strstr(buf.p, "current_password"));
    assert_null(strstr(buf.p, "value=\"password\""));
    assert_non_null(
        strstr(buf.p, "<a class=\"reauth\" href=\"/account?signin=1\">sign in again</a>"));
    assert_non_null(strstr(buf.p, "<p class=\"alert\" role=\"alert\">No.</p>"));
    assert_non_null(strstr(buf.p, "No application has access to your account."));
    /* only this browser: no form to sign the others out, and unknown values say so */
    assert_int_equal(count(buf.p, "<form "), 0);
    assert_non_null(strstr(buf.p, "<strong>Unknown browser</strong>"));
    assert_non_null(strstr(buf.p, "From an unknown network. Signed in unknown"));
}

static void account_page_escapes_every_value(void **state)
{
    (void)state;
    const char *const scopes[] = {HOSTILE};
    const char *const auds[] = {HOSTILE};
    const struct vk_ui_app apps[] = {{.client_id = HOSTILE, .name = HOSTILE, .scopes = scopes,
                                      .n_scopes = 1, .audiences = auds, .n_audiences = 1}};
    const struct vk_ui_session sessions[] = {
        {.handle = HOSTILE, .description = HOSTILE, .address = HOSTILE}};
    const struct vk_ui_account acct = {.username = HOSTILE, .csrf = HOSTILE, .notice = HOSTILE,
                                       .error = HOSTILE, .apps = apps, .n_apps = 1,
                                       .sessions = sessions, .n_sessions = 1,
                                       .reauth_url = HOSTILE};
    buf.len = 0;
    assert_int_equal(vk_ui_account(&buf, "/account", &acct), VK_OK);
    assert_page_is_clean(buf.p);
    assert_hostile_never_raw(buf.p);
    assert_non_null(strstr(buf.p, "data-client=\"" HOSTILE_ESCAPED "\""));
    assert_non_null(strstr(buf.p, "name=\"client\" value=\"" HOSTILE_ESCAPED "\""));
    assert_non_null(strstr(buf.p, "name=\"session\" value=\"" HOSTILE_ESCAPED "\""));
    assert_non_null(strstr(buf.p, "name=\"csrf\" value=\"" HOSTILE_ESCAPED "\""));
    assert_non_null(strstr(buf.p, "href=\"" HOSTILE_ESCAPED "\""));
}

static void account_page_checks_its_arguments(void **state)
{
    (void)state;
    const struct vk_ui_account acct = {.n_apps = 1};
    const struct vk_ui_app app = {.client_id = "c", .n_scopes = 1};
    const struct vk_ui_account bad_app = {.apps = &app, .n_apps = 1};
    const struct vk_ui_account ok = {0};
    buf.len = 0;
    assert_int_equal(vk_ui_account(&buf, NULL, &ok), VK_EINVAL);
    assert_int_equal(vk_ui_account(&buf, "/account", NULL), VK_EINVAL);
    assert_int_equal(vk_ui_account(&buf, "/account", &acct), VK_EINVAL);
    assert_int_equal(vk_ui_account(&buf, "/account", &bad_app), VK_EINVAL);
    assert_int_equal(buf.len, 0);
    /* at the cap, nothing half-written is left */
    struct vk_buf small;
    vk_buf_init(&small, 256);
    assert_int_equal(vk_ui_account(&small, "/account", &ok), VK_ETOOBIG);
    assert_int_equal(small.len, 0);
    vk_buf_clear(&small);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(each_special_character_is_escaped),
        cmocka_unit_test(utf8_passes_and_broken_bytes_are_replaced),
        cmocka_unit_test(escape_appends_and_rolls_back_at_the_cap),
        cmocka_unit_test(login_page_has_the_form),
        cmocka_unit_test(login_page_prefills_username_and_shows_error),
        cmocka_unit_test(login_page_escapes_every_value),
        cmocka_unit_test(consent_page_has_both_decisions_in_one_form),
        cmocka_unit_test(consent_page_escapes_every_value),
        cmocka_unit_test(consent_page_without_scopes_still_asks),
        cmocka_unit_test(error_and_message_pages_escape_and_link_nowhere),
        cmocka_unit_test(scope_words),
        cmocka_unit_test(required_arguments_are_checked),
        cmocka_unit_test(consent_page_links_to_the_account_page),
        cmocka_unit_test(account_page_has_one_form_per_action_each_with_the_csrf_token),
        cmocka_unit_test(account_page_asks_for_a_fresh_sign_in_before_the_password_form),
        cmocka_unit_test(account_page_escapes_every_value),
        cmocka_unit_test(account_page_checks_its_arguments),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
