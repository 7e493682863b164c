#include "base/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "base/err.h"
#include "base/mem.h"

void vk_buf_init(struct vk_buf *b, size_t cap)
{
    b->p = NULL;
    b->len = 0;
    b->alloc = 0;
    b->cap = cap;
}

void vk_buf_clear(struct vk_buf *b)
{
    if (b->p != NULL) {
        OPENSSL_cleanse(b->p, b->len); /* len never shrinks: nothing was written past it */
        vk_free(b->p);
    }
    b->p = NULL;
    b->len = b->alloc = 0;
}

static int reserve(struct vk_buf *b, size_t extra)
{
    size_t need;
    if (__builtin_add_overflow(b->len, extra, &need) || need > b->cap)
        return VK_ETOOBIG;
    need += 1; /* NUL */
    if (need <= b->alloc)
        return VK_OK;
    size_t n = b->alloc ? b->alloc : 2048; /* most of our documents fit: no regrowth */
    while (n < need)
        n *= 2;
    if (n > b->cap + 1)
        n = b->cap + 1;
    char *p = vk_malloc(n);
    if (p == NULL)
        return VK_ENOMEM;
    if (b->p != NULL) {
        memcpy(p, b->p, b->len);
        OPENSSL_cleanse(b->p, b->len);
        vk_free(b->p);
    }
    b->p = p;
    b->alloc = n;
    return VK_OK;
}

int vk_buf_append(struct vk_buf *b, const void *data, size_t n)
{
    int rc = reserve(b, n);
    if (rc != VK_OK)
        return rc;
    if (n > 0)
        memcpy(b->p + b->len, data, n);
    b->len += n;
    b->p[b->len] = '\0';
    return VK_OK;
}

int vk_buf_append_str(struct vk_buf *b, const char *s)
{
    return vk_buf_append(b, s, strlen(s));
}

int vk_buf_printf(struct vk_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return VK_EINVAL;
    int rc = reserve(b, (size_t)n);
    if (rc != VK_OK)
        return rc;
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return VK_OK;
}

vk_str vk_buf_str(const struct vk_buf *b)
{
    vk_str s = {b->p != NULL ? b->p : "", b->len};
    return s;
}

int vk_buf_append_json(struct vk_buf *b, vk_str s)
{
    static const char hx[] = "0123456789abcdef";
    int rc = reserve(b, s.len);
    for (size_t i = 0; rc == VK_OK && i < s.len; i++) {
        unsigned char c = (unsigned char)s.p[i];
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            rc = vk_buf_append(b, e, 2);
        } else if (c < 0x20 || c == 0x7f || c == '<' || c == '>' || c == '&') {
            char e[6] = {'\\', 'u', '0', '0', hx[c >> 4], hx[c & 15]};
            rc = vk_buf_append(b, e, 6);
        } else {
            rc = vk_buf_append(b, &s.p[i], 1);
        }
    }
    return rc;
}

int vk_buf_append_json_member(struct vk_buf *b, const char *name, const char *value, int first)
{
    int rc = vk_buf_printf(b, "%s\"%s\":\"", first ? "" : ",", name);
    if (rc == VK_OK)
        rc = vk_buf_append_json(b, vk_str_c(value));
    if (rc == VK_OK)
        rc = vk_buf_append(b, "\"", 1);
    return rc;
}

int vk_buf_append_i64(struct vk_buf *b, int64_t v)
{
    char tmp[24];
    size_t i = sizeof tmp;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        tmp[--i] = (char)('0' + u % 10);
        u /= 10;
    } while (u > 0);
    if (v < 0)
        tmp[--i] = '-';
    return vk_buf_append(b, tmp + i, sizeof tmp - i);
}
