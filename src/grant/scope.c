#include "grant/grant.h"

#include <string.h>

#include "base/limits.h"

static bool nqchar(unsigned char c)
{
    /* NQCHAR = %x21 / %x23-5B / %x5D-7E (RFC 6749 Appendix A) */
    return c == 0x21 || (c >= 0x23 && c <= 0x5b) || (c >= 0x5d && c <= 0x7e);
}

bool vk_scope_syntax_ok(vk_str scope)
{
    if (scope.len == 0 || scope.len > VK_MAX_SCOPE_LEN)
        return false;
    bool prev_sp = true; /* no leading space */
    for (size_t i = 0; i < scope.len; i++) {
        unsigned char c = (unsigned char)scope.p[i];
        if (c == ' ') {
            if (prev_sp)
                return false; /* leading or double space */
            prev_sp = true;
        } else if (nqchar(c)) {
            prev_sp = false;
        } else {
            return false;
        }
    }
    return !prev_sp; /* no trailing space */
}

bool vk_scope_list_contains(vk_str list, vk_str tok)
{
    vk_str rest = list, t;
    while (vk_str_next_token(&rest, ' ', &t))
        if (vk_str_eq(t, tok))
            return true;
    return false;
}

int vk_scope_decide(struct vk_arena *a, bool requested_present, vk_str requested, vk_str allowed,
                    const char **granted, struct vk_oauth_err *oe)
{
    *granted = NULL;
    if (!requested_present) {
        *granted = vk_arena_strdup(a, allowed);
        return *granted != NULL ? VK_OK : VK_ENOMEM;
    }
    if (!vk_scope_syntax_ok(requested))
        return vk_oauth_fail(oe, 400, "invalid_scope", "scope is malformed");
    char *out = vk_arena_alloc(a, requested.len + 1);
    if (out == NULL)
        return VK_ENOMEM;
    size_t o = 0, count = 0;
    vk_str rest = requested, t;
    while (vk_str_next_token(&rest, ' ', &t)) {
        if (!vk_scope_list_contains(allowed, t))
            return vk_oauth_fail(oe, 400, "invalid_scope",
                                 "the requested scope exceeds what the client may request");
        if (vk_scope_list_contains((vk_str){out, o}, t))
            continue;
        if (++count > VK_MAX_SCOPES)
            return vk_oauth_fail(oe, 400, "invalid_scope", "too many scope values");
        if (o > 0)
            out[o++] = ' ';
        memcpy(out + o, t.p, t.len);
        o += t.len;
    }
    out[o] = '\0';
    *granted = out;
    return VK_OK;
}

bool vk_client_has_grant(vk_str grant_types, const char *grant)
{
    return vk_scope_list_contains(grant_types, vk_str_c(grant));
}
