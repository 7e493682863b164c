#include "http/form.h"

#include <string.h>

#include "base/err.h"
#include "base/limits.h"

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int vk_form_decode(struct vk_arena *a, vk_str in, vk_str *out)
{
    *out = VK_STR_NULL;
    if (in.len > VK_MAX_PARAM_LEN * 3)
        return VK_ETOOBIG;
    char *p = vk_arena_alloc(a, in.len + 1);
    if (p == NULL)
        return VK_ENOMEM;
    size_t o = 0;
    for (size_t i = 0; i < in.len; i++) {
        unsigned char c = (unsigned char)in.p[i];
        if (c == '+') {
            p[o++] = ' ';
        } else if (c == '%') {
            if (i + 2 >= in.len)
                return VK_EINVAL;
            int h = hexval((unsigned char)in.p[i + 1]);
            int l = hexval((unsigned char)in.p[i + 2]);
            if (h < 0 || l < 0)
                return VK_EINVAL;
            unsigned char d = (unsigned char)(h << 4 | l);
            if (d == 0)
                return VK_EINVAL; /* an embedded NUL is never legitimate here */
            p[o++] = (char)d;
            i += 2;
        } else if (c == 0) {
            return VK_EINVAL;
        } else {
            p[o++] = (char)c;
        }
    }
    if (o > VK_MAX_PARAM_LEN)
        return VK_ETOOBIG;
    p[o] = '\0';
    out->p = p;
    out->len = o;
    return VK_OK;
}

int vk_form_parse(struct vk_arena *a, vk_str in, struct vk_params *out)
{
    struct vk_param tmp[VK_MAX_PARAMS];
    size_t n = 0;
    int rc = VK_OK;
    vk_str rest = in, pair;
    out->v = NULL;
    out->n = 0;
    while (vk_str_next_token(&rest, '&', &pair)) {
        const char *eq = memchr(pair.p, '=', pair.len);
        vk_str name = {pair.p, eq != NULL ? (size_t)(eq - pair.p) : pair.len};
        vk_str value = eq != NULL ? (vk_str){eq + 1, pair.len - name.len - 1} : VK_STR_NULL;
        if (n == VK_MAX_PARAMS)
            return VK_ETOOBIG;
        rc = vk_form_decode(a, name, &tmp[n].name);
        if (rc == VK_OK)
            rc = vk_form_decode(a, value, &tmp[n].value);
        if (rc != VK_OK)
            return rc;
        n++;
    }
    if (n == 0)
        return VK_OK;
    out->v = vk_arena_alloc(a, n * sizeof *out->v);
    if (out->v == NULL)
        return VK_ENOMEM;
    memcpy(out->v, tmp, n * sizeof *out->v);
    out->n = n;
    return VK_OK;
}

char *vk_form_encode(struct vk_arena *a, vk_str s)
{
    static const char hx[] = "0123456789ABCDEF";
    char *out = vk_arena_alloc(a, s.len * 3 + 1);
    if (out == NULL)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char)s.p[i];
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~') {
            out[o++] = (char)c;
        } else {
            out[o++] = '%';
            out[o++] = hx[c >> 4];
            out[o++] = hx[c & 15];
        }
    }
    out[o] = '\0';
    return out;
}
