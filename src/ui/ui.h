/* The HTML pages a person sees: sign-in, consent, errors and messages.
 *
 * Every interpolated value is HTML-escaped by vk_html_escape(). The pages are self-contained:
 * no JavaScript, no external resources (no images, fonts, stylesheets or links off the page), one
 * small inline <style>. They work under
 *     Content-Security-Policy: default-src 'none'; style-src 'unsafe-inline';
 *                              form-action 'self'; frame-ancestors 'none'
 * (oauth/html.c adds to form-action the origin a form's answer redirects to) and are served as
 * Content-Type: text/html; charset=utf-8.
 *
 * All renderers append to `out` (a vk_buf the caller initialized with its cap). On error
 * (VK_ETOOBIG when the cap is reached, VK_ENOMEM, VK_EINVAL for a NULL required argument) `out`
 * is left exactly as it was before the call. String arguments are borrowed, NUL-terminated
 * UTF-8; NULL counts as the empty string where an argument is optional. Thread-safe (no shared
 * state). */
#ifndef VK_UI_UI_H
#define VK_UI_UI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/str.h"

/* A hidden form input (e.g. the CSRF token named "csrf", the pending authorization request). */
struct vk_ui_field {
    const char *name;
    const char *value;
};

/* Appends `s` escaped for HTML text and for double- or single-quoted attribute values:
 * & < > " ' become &amp; &lt; &gt; &quot; &#39;. Bytes that are not valid UTF-8, C0 control
 * characters other than tab, LF and CR, DEL, and the Unicode bidirectional override, embedding
 * and isolate controls (U+202A..U+202E, U+2066..U+2069, which could make a client name read
 * backwards) are each replaced by U+FFFD. */
int vk_html_escape(struct vk_buf *out, vk_str s);

/* The sign-in page: "Sign in to continue to <client_name>", an optional error message in a
 * role="alert" element, and one form (method="post", action=`action`) with the hidden fields,
 * name="username" (autocomplete="username", pre-filled with `username` when not NULL),
 * name="password" type="password" (autocomplete="current-password") and a "Sign in" button.
 * `action` is required (VK_EINVAL if NULL); `hidden` may be NULL when n_hidden is 0. */
int vk_ui_login(struct vk_buf *out, const char *action, const char *client_name,
                const char *username, const char *error, const struct vk_ui_field *hidden,
                size_t n_hidden);

/* The consent page: "<client_name> wants to:" and a list (class="scopes") of the scopes in words
 * (vk_ui_scope_text, or "Use “scope”" for a scope without words); then, when n_audiences > 0,
 * "This access will be accepted by:" and a list (class="audiences") of the audiences (the
 * resource servers the tokens will be good at, shown as given); "Signed in as <username>", and ONE
 * form posting to `action` with the hidden fields and two buttons, name="decision"
 * value="approve" ("Allow") and name="decision" value="deny" ("Deny"). `action` is required;
 * `scopes` and `audiences` may be NULL only with a count of 0. */
int vk_ui_consent(struct vk_buf *out, const char *action, const char *client_name,
                  const char *username, const char *const *scopes, size_t n_scopes,
                  const char *const *audiences, size_t n_audiences,
                  const struct vk_ui_field *hidden, size_t n_hidden);

/* Where the account page lives: the consent page links to it in its footer. */
#define VK_UI_ACCOUNT_PATH "/account"

/* One application on the account page: a client with access to the account (a live grant) or
 * with a remembered approval. */
struct vk_ui_app {
    const char *client_id;          /* the value the Remove access form posts (escaped) */
    const char *name;               /* NULL or "": "An application that was removed" */
    bool self_registered;           /* it registered itself (dynamic registration) */
    const char *const *scopes;      /* granted, in words like the consent page */
    size_t n_scopes;
    const char *const *audiences;   /* where its tokens are accepted */
    size_t n_audiences;
    int64_t authorized_at;          /* 0: not shown */
    int64_t last_used;              /* 0: no live access, only the remembered approval */
};

/* One browser session on the account page. */
struct vk_ui_session {
    const char *handle;             /* the value the Sign out form posts (escaped) */
    const char *description;        /* "Firefox on Linux" */
    const char *address;            /* "192.0.2.0/24" */
    int64_t signed_in;
    int64_t last_seen;
    bool current;                   /* this browser: no Sign out button (the page links /logout) */
};

struct vk_ui_account {
    const char *username;
    const char *csrf;               /* put into every form as the hidden field "csrf" */
    const char *notice;             /* what the last action did (role="status"), or NULL */
    const char *error;              /* why the last action was refused (role="alert"), or NULL */
    const struct vk_ui_app *apps;
    size_t n_apps;
    const struct vk_ui_session *sessions;
    size_t n_sessions;
    /* The password form is shown only after a recent sign-in; otherwise a link to `reauth_url`
     * (the sign-in page) asks for one first. */
    bool can_change_password;
    const char *reauth_url;
};

/* The account page ("Your account"): the applications with access to the account, each in a
 * <section class="app" data-client="ID"> with its scopes (ul.scopes), audiences (ul.audiences),
 * when it was authorized and last used, and a form posting op=remove and client=ID ("Remove
 * access"); the sessions (ul.sessions, one li per session, data-session="HANDLE", class="current"
 * for this browser), a form op=signout session=HANDLE ("Sign out") for each other one and, when
 * there are others, a form op=signout_others ("Sign out all other sessions"); the password form
 * (op=password: current_password, new_password, new_password2) or the link to sign in again; and
 * a link to /logout. Every form posts to `action` with the CSRF field. Times are shown in UTC.
 * `action` and `acct` are required; the arrays may be NULL only with a count of 0. */
int vk_ui_account(struct vk_buf *out, const char *action, const struct vk_ui_account *acct);

/* An error page for the person at the browser (unknown client, redirect URI mismatch, ...): the
 * title and message, and nothing clickable. Say what happened, never echo a secret. */
int vk_ui_error(struct vk_buf *out, const char *title, const char *message);

/* A plain message page (e.g. "You are signed out"). */
int vk_ui_message(struct vk_buf *out, const char *title, const char *message);

/* Words for a well-known scope (a static string), or NULL for any other scope, which the consent
 * page then shows as "Use “<scope>”" with the scope escaped. */
const char *vk_ui_scope_text(const char *scope);
/* A page with a message and one form posting to `action` with the hidden fields and a submit
 * button name="confirm" value="yes" labelled `button` (e.g. the logout confirmation). */
int vk_ui_confirm(struct vk_buf *out, const char *action, const char *title, const char *message,
                  const char *button, const struct vk_ui_field *hidden, size_t n_hidden);

#endif
