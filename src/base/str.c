#include "base/str.h"

#include <string.h>

#include "base/err.h"

vk_str vk_str_c(const char *s)
{
    vk_str r = {s, s != NULL ? strlen(s) : 0};
    return r;
}

bool vk_str_eq(vk_str a, vk_str b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

bool vk_str_eq_lit(vk_str a, const char *lit)
{
    return vk_str_eq(a, vk_str_c(lit));
}

static char lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

bool vk_str_eq_nocase_lit(vk_str a, const char *lit)
{
    size_t n = strlen(lit);
    if (n != a.len)
        return false;
    for (size_t i = 0; i < n; i++)
        if (lower(a.p[i]) != lower(lit[i]))
            return false;
    return true;
}

bool vk_str_starts_with_lit(vk_str a, const char *lit)
{
    size_t n = strlen(lit);
    return a.len >= n && memcmp(a.p, lit, n) == 0;
}

bool vk_str_is_visible_ascii(vk_str s, bool allow_space)
{
    for (size_t i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char)s.p[i];
        if (c == ' ' && allow_space)
            continue;
        if (c < 0x21 || c > 0x7e)
            return false;
    }
    return true;
}

int vk_strscpy(char *dst, size_t dstsz, vk_str src)
{
    if (dstsz == 0)
        return VK_ETOOBIG;
    if (src.len >= dstsz) {
        dst[0] = '\0';
        return VK_ETOOBIG;
    }
    if (src.len > 0)
        memcpy(dst, src.p, src.len);
    dst[src.len] = '\0';
    return VK_OK;
}

int vk_parse_u64(vk_str s, uint64_t min, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;
    *out = 0;
    if (s.len == 0 || s.len > 20)
        return VK_EINVAL;
    for (size_t i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char)s.p[i];
        if (c < '0' || c > '9')
            return VK_EINVAL;
        if (__builtin_mul_overflow(v, 10u, &v) || __builtin_add_overflow(v, (uint64_t)(c - '0'), &v))
            return VK_ETOOBIG;
    }
    if (v < min || v > max)
        return VK_EINVAL;
    *out = v;
    return VK_OK;
}

bool vk_str_next_token(vk_str *rest, char sep, vk_str *tok)
{
    size_t i = 0;
    if (rest->len == 0) /* also the NULL slice: no pointer arithmetic on it */
        return false;
    while (i < rest->len && rest->p[i] == sep)
        i++;
    if (i == rest->len) {
        rest->p += i;
        rest->len = 0;
        return false;
    }
    size_t start = i;
    while (i < rest->len && rest->p[i] != sep)
        i++;
    tok->p = rest->p + start;
    tok->len = i - start;
    rest->p += i;
    rest->len -= i;
    return true;
}

bool vk_str_is_utf8(vk_str s)
{
    const unsigned char *p = (const unsigned char *)s.p;
    size_t i = 0;
    while (i < s.len) {
        unsigned char c = p[i];
        size_t n;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xc2 && c <= 0xdf) {
            n = 1;
            cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            n = 2;
            cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 3;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (s.len - i <= n)
            return false;
        for (size_t k = 1; k <= n; k++) {
            if ((p[i + k] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (p[i + k] & 0x3f);
        }
        if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10ffff ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += n + 1;
    }
    return true;
}
