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

#include <stddef.h>

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
