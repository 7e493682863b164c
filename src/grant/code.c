#include "grant/grant.h"

#include <string.h>

int vk_code_decide(const struct vk_code *c, vk_str client_id, vk_str redirect_uri,
                   vk_str verifier, int64_t now, bool *reused, struct vk_oauth_err *oe)
{
    *reused = false;
    /* One description for every invalid_grant: a specific one would tell whoever holds a code
     * whether it is a live code of another client (an oracle). */
    /* checklist #19: bound to the client. Checked before anything else, so a code presented by
     * another client is only refused: it is not a replay by the client it was issued to, and a
     * public client that found a spent code must not be able to revoke its owner's grant. */
    if (!vk_str_eq_lit(client_id, c->client_id))
        return vk_oauth_fail(oe, 400, "invalid_grant", "the authorization code is invalid");
    /* RFC 9700 §4.2.4 / checklist #18: single use; a second redemption by its client revokes. */
    if (c->used_at != 0) {
        *reused = true;
        return vk_oauth_fail(oe, 400, "invalid_grant", "the authorization code is invalid");
    }
    if (now >= c->expires_at)
        return vk_oauth_fail(oe, 400, "invalid_grant", "the authorization code is invalid");
    /* checklist #20: redirect_uri, when sent, must be the one of the authorization request */
    if (redirect_uri.len > 0 && !vk_str_eq_lit(redirect_uri, c->redirect_uri))
        return vk_oauth_fail(oe, 400, "invalid_grant", "the authorization code is invalid");
    /* checklist #13: the code challenge is enforced (every code has one: PKCE is required) */
    if (verifier.len == 0)
        return vk_oauth_fail(oe, 400, "invalid_request", "code_verifier is required");
    if (!vk_pkce_s256_ok(verifier, vk_str_c(c->code_challenge)))
        return vk_oauth_fail(oe, 400, "invalid_grant", "the authorization code is invalid");
    return VK_OK;
}

int vk_refresh_decide(const struct vk_refresh *rt, const struct vk_grant *g, vk_str client_id,
                      int64_t now_ms, enum vk_refresh_verdict *verdict, struct vk_oauth_err *oe)
{
    int64_t now = now_ms / 1000;
    *verdict = 0;
    /* checklist #36: the binding between refresh token and client */
    if (!vk_str_eq_lit(client_id, g->client_id))
        return vk_oauth_fail(oe, 400, "invalid_grant", "the refresh token is invalid");
    if (g->revoked_at != 0)
        return vk_oauth_fail(oe, 400, "invalid_grant", "the refresh token is invalid");
    if (now >= g->expires_at)
        return vk_oauth_fail(oe, 400, "invalid_grant", "the refresh token is invalid");
    if (rt->used_at != 0) {
        if (rt->grace_len > 0 && now_ms < rt->grace_until_ms) {
            *verdict = VK_REFRESH_GRACE;
            return VK_OK;
        }
        /* checklist #35: reuse of a rotated token revokes the family, for as long as the family
         * lives: a spent token past its own idle expiry is still evidence of theft. */
        *verdict = VK_REFRESH_REUSE;
        return vk_oauth_fail(oe, 400, "invalid_grant", "the refresh token is invalid");
    }
    if (now >= rt->expires_at)
        return vk_oauth_fail(oe, 400, "invalid_grant", "the refresh token is invalid");
    *verdict = VK_REFRESH_ROTATE;
    return VK_OK;
}

int vk_prompt_parse(vk_str prompt, unsigned *bits, struct vk_oauth_err *oe)
{
    vk_str rest = prompt, t;
    *bits = 0;
    while (vk_str_next_token(&rest, ' ', &t)) {
        if (vk_str_eq_lit(t, "none"))
            *bits |= VK_PROMPT_NONE;
        else if (vk_str_eq_lit(t, "login"))
            *bits |= VK_PROMPT_LOGIN;
        else if (vk_str_eq_lit(t, "consent"))
            *bits |= VK_PROMPT_CONSENT;
        else if (!vk_str_eq_lit(t, "select_account"))
            return vk_oauth_fail(oe, 400, "invalid_request", "unsupported prompt value");
    }
    /* OIDC Core §3.1.2.1: none with any other value is an error */
    if ((*bits & VK_PROMPT_NONE) && (*bits & ~(unsigned)VK_PROMPT_NONE))
        return vk_oauth_fail(oe, 400, "invalid_request",
                             "prompt=none cannot be combined with other values");
    return VK_OK;
}

bool vk_login_required(bool have_session, int64_t auth_time, unsigned prompt, int64_t max_age,
                       int64_t now)
{
    if (!have_session || (prompt & VK_PROMPT_LOGIN))
        return true;
    return max_age >= 0 && now - auth_time > max_age;
}

bool vk_consent_covers(vk_str consented, vk_str requested)
{
    vk_str rest = requested, t;
    while (vk_str_next_token(&rest, ' ', &t))
        if (!vk_scope_list_contains(consented, t))
            return false;
    return true;
}
