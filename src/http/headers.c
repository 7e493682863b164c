#include "http/headers.h"

#include <string.h>

#include "base/b64url.h"
#include "base/err.h"
#include "base/limits.h"
#include "http/form.h"

/* Splits "<scheme> <param>" and checks the scheme case-insensitively. */
static int split_scheme(vk_str header, const char *scheme, vk_str *param)
{
    size_t n = strlen(scheme);
    *param = VK_STR_NULL;
    if (header.len < n + 1)
        return VK_ENOTFOUND;
    vk_str s = {header.p, n};
    if (!vk_str_eq_nocase_lit(s, scheme) || (header.p[n] != ' ' && header.p[n] != '\t'))
        return VK_ENOTFOUND;
    size_t i = n;
    while (i < header.len && (header.p[i] == ' ' || header.p[i] == '\t'))
        i++;
    size_t end = header.len;
    while (end > i && (header.p[end - 1] == ' ' || header.p[end - 1] == '\t'))
        end--;
    param->p = header.p + i;
    param->len = end - i;
    return VK_OK;
}

int vk_http_basic_parse(struct vk_arena *a, vk_str header, vk_str *user, vk_str *pass)
{
    vk_str b64;
    *user = *pass = VK_STR_NULL;
    int rc = split_scheme(header, "Basic", &b64);
    if (rc != VK_OK)
        return rc;
    if (b64.len == 0 || b64.len > 4 * VK_MAX_PARAM_LEN)
        return VK_EINVAL;
    size_t cap = b64.len / 4 * 3 + 3, n = 0;
    uint8_t *raw = vk_arena_alloc(a, cap);
    if (raw == NULL)
        return VK_ENOMEM;
    rc = vk_b64_decode(b64, raw, cap, &n);
    if (rc != VK_OK)
        return VK_EINVAL;
    const uint8_t *colon = memchr(raw, ':', n);
    if (colon == NULL || colon == raw)
        return VK_EINVAL;
    vk_str u = {(const char *)raw, (size_t)(colon - raw)};
    vk_str p = {(const char *)colon + 1, n - u.len - 1};
    rc = vk_form_decode(a, u, user);
    if (rc == VK_OK)
        rc = vk_form_decode(a, p, pass);
    if (rc != VK_OK) {
        *user = *pass = VK_STR_NULL;
        return VK_EINVAL;
    }
    return VK_OK;
}

int vk_http_bearer_parse(vk_str header, vk_str *token)
{
    int rc = split_scheme(header, "Bearer", token);
    if (rc != VK_OK)
        return rc;
    if (token->len == 0 || token->len > VK_MAX_JWT_LEN)
        return VK_EINVAL;
    /* RFC 6750 §2.1 b64token: 1*( ALPHA / DIGIT / - . _ ~ + / ) *"=" -- padding only at the end */
    size_t i = 0;
    for (; i < token->len; i++) {
        unsigned char c = (unsigned char)token->p[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/'))
            break;
    }
    if (i == 0)
        return VK_EINVAL;
    for (; i < token->len; i++)
        if (token->p[i] != '=')
            return VK_EINVAL;
    return VK_OK;
}
