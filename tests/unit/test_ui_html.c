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
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
