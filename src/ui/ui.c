/* HTML pages. Markup is written as literals; every value goes through vk_html_escape(). */
#include "ui/ui.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "base/crypto.h"
#include "base/err.h"

/* U+FFFD REPLACEMENT CHARACTER */
#define REPL "\xef\xbf\xbd"

/* Inline only: the pages are served with default-src 'none', style-src 'unsafe-inline'. System
 * fonts and system colours, so nothing is fetched and dark mode works. */
static const char css[] =
    ":root{color-scheme:light dark;font-family:system-ui,-apple-system,\"Segoe UI\",Roboto,"
    "\"Helvetica Neue\",Arial,sans-serif;line-height:1.5}"
    "body{margin:0;padding:2rem 1rem;background:Canvas;color:CanvasText}"
    "main{max-width:26rem;margin:0 auto;padding:1.5rem 2rem;border:1px solid #8886;"
    "border-radius:.5rem}"
    "main.wide{max-width:42rem}"
    "h1{font-size:1.35rem;margin:0 0 1rem}"
    "h2{font-size:1.1rem;margin:1.75rem 0 .5rem}"
    "h3{font-size:1rem;margin:0 0 .25rem}"
    "section.app,ul.sessions>li{border-top:1px solid #8884;padding:.75rem 0}"
    "ul.sessions{list-style:none;padding:0}"
    "form.inline{margin:.5rem 0 0}"
    "button.danger{background:#c81e1e;border-color:#c81e1e}"
    "footer{margin-top:1.5rem}"
    ".status{padding:.55rem .8rem;border-radius:.3rem;border:1px solid #057a55;"
    "background:#057a5520}"
    "p{margin:.5rem 0}"
    "ul{margin:.5rem 0 1rem;padding-left:1.25rem}"
    "li{margin:.25rem 0}"
    "label{display:block;margin:1rem 0 .25rem;font-weight:600}"
    "input[type=text],input[type=password]{box-sizing:border-box;width:100%;padding:.55rem;"
    "font:inherit;border:1px solid #888;border-radius:.3rem}"
    ".actions{display:flex;gap:.75rem;flex-wrap:wrap;margin-top:1.25rem}"
    "button{font:inherit;padding:.55rem 1.25rem;border-radius:.3rem;border:1px solid #1a56db;"
    "background:#1a56db;color:#fff;cursor:pointer}"
    "button.secondary{background:transparent;color:inherit;border-color:#888}"
    ".alert{padding:.55rem .8rem;border-radius:.3rem;border:1px solid #e02424;"
    "background:#e0242420}"
    ".note{opacity:.8;font-size:.95rem}";

/* A writer with a sticky error: after the first failure every further append is a no-op, and
 * the renderer rolls the buffer back once at the end. */
struct page {
    struct vk_buf *b;
    size_t mark; /* length of the buffer before the renderer started */
    int rc;
};

static void lit(struct page *pg, const char *s)
{
    if (pg->rc == VK_OK)
        pg->rc = vk_buf_append_str(pg->b, s);
}

static void esc(struct page *pg, const char *s)
{
    if (pg->rc == VK_OK)
        pg->rc = vk_html_escape(pg->b, vk_str_c(s));
}

static bool empty(const char *s)
{
    return s == NULL || s[0] == '\0';
}

/* Drops what was appended since `mark`, wiping it (hidden fields may carry the CSRF token). */
static void rollback(struct vk_buf *b, size_t mark)
{
    if (b->p == NULL || b->len <= mark)
        return;
    vk_wipe(b->p + mark, b->len - mark);
    b->len = mark;
    b->p[mark] = '\0';
}

static int page_end(struct page *pg)
{
    lit(pg, "</main>\n</body>\n</html>\n");
    if (pg->rc != VK_OK)
        rollback(pg->b, pg->mark);
    return pg->rc;
}

static void page_begin_main(struct page *pg, struct vk_buf *b, const char *title,
                            const char *main_tag)
{
    pg->b = b;
    pg->mark = b->len;
    pg->rc = VK_OK;
    lit(pg, "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            "<meta name=\"robots\" content=\"noindex, nofollow\">\n<title>");
    esc(pg, title);
    lit(pg, "</title>\n<style>");
    lit(pg, css);
    lit(pg, "</style>\n</head>\n<body>\n");
    lit(pg, main_tag);
    lit(pg, "\n<h1>");
    esc(pg, title);
    lit(pg, "</h1>\n");
}

static void page_begin(struct page *pg, struct vk_buf *b, const char *title)
{
    page_begin_main(pg, b, title, "<main>");
}

static void hidden_fields(struct page *pg, const struct vk_ui_field *hidden, size_t n)
{
    for (size_t i = 0; hidden != NULL && i < n; i++) {
        if (hidden[i].name == NULL)
            continue;
        lit(pg, "<input type=\"hidden\" name=\"");
        esc(pg, hidden[i].name);
        lit(pg, "\" value=\"");
        esc(pg, hidden[i].value);
        lit(pg, "\">\n");
    }
}

/* The length of the valid UTF-8 sequence at p[0..n) (n >= 1) with its code point in *cp, or 0
 * when it is not valid UTF-8 (RFC 3629: no overlong forms, no surrogates, nothing above
 * U+10FFFF). */
static size_t utf8_seq(const unsigned char *p, size_t n, uint32_t *cp)
{
    size_t len;
    uint32_t v, min;
    if (p[0] < 0x80) {
        *cp = p[0];
        return 1;
    }
    if (p[0] >= 0xc2 && p[0] <= 0xdf) {
        len = 2;
        v = p[0] & 0x1fu;
        min = 0x80;
    } else if (p[0] >= 0xe0 && p[0] <= 0xef) {
        len = 3;
        v = p[0] & 0x0fu;
        min = 0x800;
    } else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
        len = 4;
        v = p[0] & 0x07u;
        min = 0x10000;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t k = 1; k < len; k++) {
        if ((p[k] & 0xc0) != 0x80)
            return 0;
        v = (v << 6) | (p[k] & 0x3fu);
    }
    if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
        return 0;
    *cp = v;
    return len;
}

static bool neutralized(uint32_t cp)
{
    if (cp < 0x20)
        return cp != '\t' && cp != '\n' && cp != '\r';
    if (cp == 0x7f)
        return true;
    /* Bidirectional embeddings, overrides and isolates (Unicode UAX #9): a client could name
     * itself so that its name reads as another's. */
    return (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
}

int vk_html_escape(struct vk_buf *out, vk_str s)
{
    const unsigned char *p = (const unsigned char *)s.p;
    size_t mark = out->len, i = 0, run = 0; /* s.p[run..i) is pending, copied verbatim */
    int rc = VK_OK;

    while (rc == VK_OK && i < s.len) {
        uint32_t cp = 0;
        size_t n = utf8_seq(p + i, s.len - i, &cp);
        const char *rep = NULL;
        if (n == 0 || neutralized(cp)) {
            rep = REPL;
            if (n == 0)
                n = 1;
        } else if (cp == '&') {
            rep = "&amp;";
        } else if (cp == '<') {
            rep = "&lt;";
        } else if (cp == '>') {
            rep = "&gt;";
        } else if (cp == '"') {
            rep = "&quot;";
        } else if (cp == '\'') {
            rep = "&#39;";
        }
        if (rep == NULL) {
            i += n;
            continue;
        }
        rc = vk_buf_append(out, s.p + run, i - run);
        if (rc == VK_OK)
            rc = vk_buf_append_str(out, rep);
        i += n;
        run = i;
    }
    if (rc == VK_OK)
        rc = vk_buf_append(out, s.p + run, i - run);
    if (rc != VK_OK)
        rollback(out, mark);
    return rc;
}

int vk_ui_login(struct vk_buf *out, const char *action, const char *client_name,
                const char *username, const char *error, const struct vk_ui_field *hidden,
                size_t n_hidden)
{
    struct page pg;
    if (out == NULL || action == NULL)
        return VK_EINVAL;
    page_begin(&pg, out, "Sign in");
    if (empty(client_name)) {
        lit(&pg, "<p>Sign in to continue.</p>\n");
    } else {
        lit(&pg, "<p>Sign in to continue to <strong>");
        esc(&pg, client_name);
        lit(&pg, "</strong></p>\n");
    }
    if (!empty(error)) {
        lit(&pg, "<p class=\"alert\" role=\"alert\">");
        esc(&pg, error);
        lit(&pg, "</p>\n");
    }
    lit(&pg, "<form method=\"post\" action=\"");
    esc(&pg, action);
    lit(&pg, "\">\n");
    hidden_fields(&pg, hidden, n_hidden);
    lit(&pg, "<label for=\"username\">Username</label>\n"
             "<input type=\"text\" id=\"username\" name=\"username\" autocomplete=\"username\" "
             "autocapitalize=\"none\" spellcheck=\"false\" required");
    if (empty(username)) {
        lit(&pg, " autofocus>\n");
    } else {
        lit(&pg, " value=\"");
        esc(&pg, username);
        lit(&pg, "\">\n");
    }
    lit(&pg, "<label for=\"password\">Password</label>\n"
             "<input type=\"password\" id=\"password\" name=\"password\" "
             "autocomplete=\"current-password\" required");
    lit(&pg, empty(username) ? ">\n" : " autofocus>\n");
    lit(&pg, "<div class=\"actions\"><button type=\"submit\">Sign in</button></div>\n"
             "</form>\n");
    return page_end(&pg);
}

int vk_ui_consent(struct vk_buf *out, const char *action, const char *client_name,
                  const char *username, const char *const *scopes, size_t n_scopes,
                  const char *const *audiences, size_t n_audiences,
                  const struct vk_ui_field *hidden, size_t n_hidden)
{
    struct page pg;
    size_t shown = 0, places = 0;
    if (out == NULL || action == NULL || (scopes == NULL && n_scopes > 0) ||
        (audiences == NULL && n_audiences > 0))
        return VK_EINVAL;
    for (size_t i = 0; i < n_audiences; i++)
        places += !empty(audiences[i]);
    for (size_t i = 0; i < n_scopes; i++)
        shown += scopes[i] != NULL;
    page_begin(&pg, out, "Allow access?");
    lit(&pg, "<p><strong>");
    esc(&pg, empty(client_name) ? "An application" : client_name);
    lit(&pg, shown > 0 ? "</strong> wants to:</p>\n<ul class=\"scopes\">\n" :
                         "</strong> wants to access your account.</p>\n");
    for (size_t i = 0; i < n_scopes; i++) {
        if (scopes[i] == NULL)
            continue;
        const char *words = vk_ui_scope_text(scopes[i]);
        lit(&pg, "<li>");
        if (words != NULL) {
            lit(&pg, words);
        } else {
            lit(&pg, "Use \xe2\x80\x9c"); /* “scope” */
            esc(&pg, scopes[i]);
            lit(&pg, "\xe2\x80\x9d");
        }
        lit(&pg, "</li>\n");
    }
    if (shown > 0)
        lit(&pg, "</ul>\n");
    /* RFC 8707 / checklist #31: the user sees where the tokens will be good, not only what for. */
    if (places > 0) {
        lit(&pg, "<p>This access will be accepted by:</p>\n<ul class=\"audiences\">\n");
        for (size_t i = 0; i < n_audiences; i++) {
            if (empty(audiences[i]))
                continue;
            lit(&pg, "<li>");
            esc(&pg, audiences[i]);
            lit(&pg, "</li>\n");
        }
        lit(&pg, "</ul>\n");
    }
    if (!empty(username)) {
        lit(&pg, "<p class=\"note\">Signed in as <strong>");
        esc(&pg, username);
        lit(&pg, "</strong></p>\n");
    }
    lit(&pg, "<form method=\"post\" action=\"");
    esc(&pg, action);
    lit(&pg, "\">\n");
    hidden_fields(&pg, hidden, n_hidden);
    lit(&pg, "<div class=\"actions\">"
             "<button type=\"submit\" name=\"decision\" value=\"approve\">Allow</button>"
             "<button type=\"submit\" name=\"decision\" value=\"deny\" class=\"secondary\">Deny"
             "</button></div>\n</form>\n");
    /* Where the user can take the access back later: a plain link, not a form. */
    lit(&pg, "<footer class=\"note\"><a href=\"" VK_UI_ACCOUNT_PATH "\">Manage the applications "
             "with access to your account</a></footer>\n");
    return page_end(&pg);
}

int vk_ui_confirm(struct vk_buf *out, const char *action, const char *title, const char *message,
                  const char *button, const struct vk_ui_field *hidden, size_t n_hidden)
{
    struct page pg;
    if (out == NULL || action == NULL)
        return VK_EINVAL;
    page_begin(&pg, out, empty(title) ? "Confirm" : title);
    if (!empty(message)) {
        lit(&pg, "<p>");
        esc(&pg, message);
        lit(&pg, "</p>\n");
    }
    lit(&pg, "<form method=\"post\" action=\"");
    esc(&pg, action);
    lit(&pg, "\">\n");
    hidden_fields(&pg, hidden, n_hidden);
    lit(&pg, "<div class=\"actions\"><button type=\"submit\" name=\"confirm\" value=\"yes\">");
    esc(&pg, empty(button) ? "Continue" : button);
    lit(&pg, "</button></div>\n</form>\n");
    return page_end(&pg);
}

/* A UTC time as "2025-01-31 14:05 UTC" (or "unknown" for 0 or a time gmtime cannot show). */
static void when(struct page *pg, int64_t t)
{
    struct tm tm;
    char buf[32];
    time_t tt = (time_t)t;
    if (t <= 0 || gmtime_r(&tt, &tm) == NULL || strftime(buf, sizeof buf, "%Y-%m-%d %H:%M UTC",
                                                            &tm) == 0) {
        lit(pg, "unknown");
        return;
    }
    lit(pg, buf);
}

/* <form method="post" action="..." class="inline"> with the CSRF field and op=`op`. */
static void form_open(struct page *pg, const char *action, const char *csrf, const char *op)
{
    lit(pg, "<form method=\"post\" class=\"inline\" action=\"");
    esc(pg, action);
    lit(pg, "\">\n<input type=\"hidden\" name=\"csrf\" value=\"");
    esc(pg, csrf);
    lit(pg, "\">\n<input type=\"hidden\" name=\"op\" value=\"");
    esc(pg, op);
    lit(pg, "\">\n");
}

static void account_app(struct page *pg, const char *action, const char *csrf,
                        const struct vk_ui_app *app)
{
    size_t places = 0;
    for (size_t i = 0; i < app->n_audiences; i++)
        places += !empty(app->audiences[i]);
    lit(pg, "<section class=\"app\" data-client=\"");
    esc(pg, app->client_id);
    lit(pg, "\">\n<h3>");
    esc(pg, empty(app->name) ? "An application that was removed" : app->name);
    lit(pg, "</h3>\n<p class=\"note\">");
    lit(pg, app->self_registered ? "This application registered itself."
                                 : "Registered by the administrator of this server.");
    lit(pg, "</p>\n");
    if (app->n_scopes > 0) {
        lit(pg, "<p>It may:</p>\n<ul class=\"scopes\">\n");
        for (size_t i = 0; i < app->n_scopes; i++) {
            if (app->scopes[i] == NULL)
                continue;
            const char *words = vk_ui_scope_text(app->scopes[i]);
            lit(pg, "<li>");
            if (words != NULL) {
                lit(pg, words);
            } else {
                lit(pg, "Use \xe2\x80\x9c");
                esc(pg, app->scopes[i]);
                lit(pg, "\xe2\x80\x9d");
            }
            lit(pg, "</li>\n");
        }
        lit(pg, "</ul>\n");
    }
    if (places > 0) {
        lit(pg, "<p>Accepted by:</p>\n<ul class=\"audiences\">\n");
        for (size_t i = 0; i < app->n_audiences; i++) {
            if (empty(app->audiences[i]))
                continue;
            lit(pg, "<li>");
            esc(pg, app->audiences[i]);
            lit(pg, "</li>\n");
        }
        lit(pg, "</ul>\n");
    }
    lit(pg, "<p class=\"note\">");
    if (app->authorized_at > 0) {
        lit(pg, "Authorized ");
        when(pg, app->authorized_at);
        lit(pg, ". ");
    }
    if (app->last_used > 0) {
        lit(pg, "Last used ");
        when(pg, app->last_used);
        lit(pg, ".");
    } else {
        lit(pg, "No access right now; your approval is remembered, so it may sign you in again "
                "without asking.");
    }
    lit(pg, "</p>\n");
    form_open(pg, action, csrf, "remove");
    lit(pg, "<input type=\"hidden\" name=\"client\" value=\"");
    esc(pg, app->client_id);
    lit(pg, "\">\n<button type=\"submit\" class=\"danger\">Remove access</button>\n</form>\n"
            "</section>\n");
}

static void account_session(struct page *pg, const char *action, const char *csrf,
                            const struct vk_ui_session *se)
{
    lit(pg, se->current ? "<li class=\"current\" data-session=\"" : "<li data-session=\"");
    esc(pg, se->handle);
    lit(pg, "\">\n<strong>");
    esc(pg, empty(se->description) ? "Unknown browser" : se->description);
    lit(pg, "</strong>");
    if (se->current)
        lit(pg, " (this browser)");
    lit(pg, "<br>\n<span class=\"note\">From ");
    esc(pg, empty(se->address) ? "an unknown network" : se->address);
    lit(pg, ". Signed in ");
    when(pg, se->signed_in);
    lit(pg, ", last seen ");
    when(pg, se->last_seen);
    lit(pg, ".</span>\n");
    if (!se->current) {
        form_open(pg, action, csrf, "signout");
        lit(pg, "<input type=\"hidden\" name=\"session\" value=\"");
        esc(pg, se->handle);
        lit(pg, "\">\n<button type=\"submit\" class=\"secondary\">Sign out</button>\n</form>\n");
    }
    lit(pg, "</li>\n");
}

int vk_ui_account(struct vk_buf *out, const char *action, const struct vk_ui_account *acct)
{
    struct page pg;
    size_t others = 0;
    if (out == NULL || action == NULL || acct == NULL || (acct->apps == NULL && acct->n_apps > 0) ||
        (acct->sessions == NULL && acct->n_sessions > 0))
        return VK_EINVAL;
    for (size_t i = 0; i < acct->n_apps; i++) {
        if (acct->apps[i].scopes == NULL && acct->apps[i].n_scopes > 0)
            return VK_EINVAL;
        if (acct->apps[i].audiences == NULL && acct->apps[i].n_audiences > 0)
            return VK_EINVAL;
    }
    for (size_t i = 0; i < acct->n_sessions; i++)
        others += !acct->sessions[i].current;
    page_begin_main(&pg, out, "Your account", "<main class=\"wide\">");
    if (!empty(acct->username)) {
        lit(&pg, "<p class=\"note\">Signed in as <strong>");
        esc(&pg, acct->username);
        lit(&pg, "</strong></p>\n");
    }
    if (!empty(acct->notice)) {
        lit(&pg, "<p class=\"status\" role=\"status\">");
        esc(&pg, acct->notice);
        lit(&pg, "</p>\n");
    }
    if (!empty(acct->error)) {
        lit(&pg, "<p class=\"alert\" role=\"alert\">");
        esc(&pg, acct->error);
        lit(&pg, "</p>\n");
    }
    lit(&pg, "<h2>Applications with access to your account</h2>\n");
    if (acct->n_apps == 0)
        lit(&pg, "<p class=\"note\">No application has access to your account.</p>\n");
    for (size_t i = 0; i < acct->n_apps; i++)
        account_app(&pg, action, acct->csrf, &acct->apps[i]);
    lit(&pg, "<h2>Where you are signed in</h2>\n<ul class=\"sessions\">\n");
    for (size_t i = 0; i < acct->n_sessions; i++)
        account_session(&pg, action, acct->csrf, &acct->sessions[i]);
    lit(&pg, "</ul>\n");
    if (others > 0) {
        form_open(&pg, action, acct->csrf, "signout_others");
        lit(&pg, "<button type=\"submit\" class=\"secondary\">Sign out all other sessions"
                 "</button>\n</form>\n");
    }
    lit(&pg, "<h2>Password</h2>\n");
    if (acct->can_change_password) {
        form_open(&pg, action, acct->csrf, "password");
        lit(&pg, "<label for=\"current_password\">Current password</label>\n"
                 "<input type=\"password\" id=\"current_password\" name=\"current_password\" "
                 "autocomplete=\"current-password\" required>\n"
                 "<label for=\"new_password\">New password</label>\n"
                 "<input type=\"password\" id=\"new_password\" name=\"new_password\" "
                 "autocomplete=\"new-password\" required>\n"
                 "<label for=\"new_password2\">Repeat the new password</label>\n"
                 "<input type=\"password\" id=\"new_password2\" name=\"new_password2\" "
                 "autocomplete=\"new-password\" required>\n"
                 "<p class=\"note\">Changing it signs you out everywhere else and takes back "
                 "the access of every application; they can ask you to sign in again.</p>\n"
                 "<div class=\"actions\"><button type=\"submit\">Change password</button></div>\n"
                 "</form>\n");
    } else {
        lit(&pg, "<p>To change your password, <a class=\"reauth\" href=\"");
        esc(&pg, empty(acct->reauth_url) ? action : acct->reauth_url);
        lit(&pg, "\">sign in again</a> first.</p>\n");
    }
    lit(&pg, "<footer class=\"note\"><a href=\"/logout\">Sign out of this browser</a></footer>\n");
    return page_end(&pg);
}

static int text_page(struct vk_buf *out, const char *title, const char *message, bool alert)
{
    struct page pg;
    if (out == NULL)
        return VK_EINVAL;
    page_begin(&pg, out, empty(title) ? (alert ? "Something went wrong" : "valetkey") : title);
    if (!empty(message)) {
        lit(&pg, alert ? "<p class=\"alert\" role=\"alert\">" : "<p>");
        esc(&pg, message);
        lit(&pg, "</p>\n");
    }
    return page_end(&pg);
}

int vk_ui_error(struct vk_buf *out, const char *title, const char *message)
{
    return text_page(out, title, message, true);
}

int vk_ui_message(struct vk_buf *out, const char *title, const char *message)
{
    return text_page(out, title, message, false);
}

const char *vk_ui_scope_text(const char *scope)
{
    static const struct {
        const char *scope;
        const char *text;
    } words[] = {
        {"openid", "Confirm your identity"},
        {"profile", "See your name and profile information"},
        {"email", "See your email address"},
        {"offline_access", "Stay signed in (keep access while you are away)"},
    };
    if (scope == NULL)
        return NULL;
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
        if (strcmp(scope, words[i].scope) == 0)
            return words[i].text;
    }
    return NULL;
}
