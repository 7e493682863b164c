#include "base/pem.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "base/b64url.h"
#include "base/limits.h"

static bool is_b64_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '+' || c == '/' || c == '=';
}

int vk_pem_cert_decode(struct vk_arena *a, vk_str pem, vk_str *der)
{
    static const char begin[] = "-----BEGIN CERTIFICATE-----";
    static const char end[] = "-----END CERTIFICATE-----";
    *der = VK_STR_NULL;
    if (pem.len > 4 * VK_MAX_CERT_LEN)
        return VK_ETOOBIG;
    const char *b = NULL;
    for (size_t i = 0; i + sizeof begin - 1 <= pem.len && b == NULL; i++)
        if (memcmp(pem.p + i, begin, sizeof begin - 1) == 0)
            b = pem.p + i + sizeof begin - 1;
    if (b == NULL)
        return VK_EINVAL;
    size_t rest = pem.len - (size_t)(b - pem.p);
    char *b64 = vk_arena_alloc(a, rest + 1);
    if (b64 == NULL)
        return VK_ENOMEM;
    size_t n = 0;
    bool closed = false;
    for (size_t i = 0; i < rest; i++) {
        char c = b[i];
        if (c == '-') {
            closed = rest - i >= sizeof end - 1 && memcmp(b + i, end, sizeof end - 1) == 0;
            break;
        }
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
            continue;
        if (!is_b64_char(c))
            return VK_EINVAL;
        b64[n++] = c;
    }
    if (!closed || n == 0)
        return VK_EINVAL;
    size_t cap = n / 4 * 3 + 3, len = 0;
    if (cap > VK_MAX_CERT_LEN + 3)
        return VK_ETOOBIG;
    uint8_t *out = vk_arena_alloc(a, cap);
    if (out == NULL)
        return VK_ENOMEM;
    if (vk_b64_decode((vk_str){b64, n}, out, cap, &len) != VK_OK || len == 0)
        return VK_EINVAL;
    if (len > VK_MAX_CERT_LEN)
        return VK_ETOOBIG;
    *der = (vk_str){(const char *)out, len};
    return VK_OK;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int vk_pem_cert_from_header(struct vk_arena *a, vk_str value, vk_str *der)
{
    *der = VK_STR_NULL;
    if (value.len > 12 * VK_MAX_CERT_LEN)
        return VK_ETOOBIG; /* 3 bytes of escape per base64 character at most, plus markers */
    char *p = vk_arena_alloc(a, value.len + 1);
    size_t n = 0;
    if (p == NULL)
        return VK_ENOMEM;
    for (size_t i = 0; i < value.len; i++) {
        if (value.p[i] != '%') {
            p[n++] = value.p[i];
            continue;
        }
        int h = i + 2 < value.len ? hexval(value.p[i + 1]) : -1;
        int l = i + 2 < value.len ? hexval(value.p[i + 2]) : -1;
        if (h < 0 || l < 0)
            return VK_EINVAL;
        p[n++] = (char)(h * 16 + l);
        i += 2;
    }
    p[n] = '\0';
    return vk_pem_cert_decode(a, (vk_str){p, n}, der);
}
