/* Scope and audience policy, and the algorithm allow-lists. */
#include "verify/verify.h"

#include <string.h>

bool vk_policy_scopes_cover(vk_str granted, vk_str required)
{
    vk_str rest = required, want;

    /* RFC 6749 §3.3: scope is a list of space-delimited, case-sensitive strings. */
    while (vk_str_next_token(&rest, ' ', &want)) {
        vk_str g = granted, have;
        bool found = false;
        while (!found && vk_str_next_token(&g, ' ', &have))
            found = vk_str_eq(have, want);
        if (!found)
            return false;
    }
    return true;
}

static bool accepted_aud(const json_t *v, const char *const *accepted)
{
    if (!json_is_string(v))
        return false;
    vk_str s = {json_string_value(v), json_string_length(v)};
    for (size_t i = 0; accepted[i] != NULL; i++)
        if (vk_str_eq(s, vk_str_c(accepted[i])))
            return true;
    return false;
}

bool vk_policy_audience_ok(const json_t *aud, const char *const *accepted)
{
    size_t i;
    json_t *v;

    if (accepted == NULL)
        return false;
    /* RFC 7519 §4.1.3: a single string, or an array of strings. */
    if (json_is_string(aud))
        return accepted_aud(aud, accepted);
    if (!json_is_array(aud))
        return false;
    json_array_foreach(aud, i, v)
        if (accepted_aud(v, accepted))
            return true;
    return false;
}

int vk_policy_alg_mask(const char *const *names, unsigned *mask)
{
    *mask = 0;
    if (names == NULL) {
        *mask = VK_ALG_MASK_ALL;
        return VK_OK;
    }
    for (size_t i = 0; names[i] != NULL; i++) {
        /* Only the four asymmetric algorithms have names in jose/alg.c: "none", "HS256" and
         * anything else are VK_ALG_INVALID (RFC 8725 §3.1, §3.2). */
        enum vk_alg a = vk_alg_from_name(vk_str_c(names[i]));
        if (a == VK_ALG_INVALID)
            return VK_EINVAL;
        *mask |= 1u << a;
    }
    return *mask != 0 ? VK_OK : VK_EINVAL;
}
