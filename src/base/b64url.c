#include "base/b64url.h"

#include "base/err.h"

static const char url_alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

size_t vk_b64url_enc_len(size_t n)
{
    return (n / 3) * 4 + (n % 3 == 0 ? 0 : n % 3 + 1);
}

void vk_b64url_encode(const uint8_t *in, size_t n, char *out)
{
    size_t i = 0, o = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = url_alpha[(v >> 18) & 63];
        out[o++] = url_alpha[(v >> 12) & 63];
        out[o++] = url_alpha[(v >> 6) & 63];
        out[o++] = url_alpha[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        out[o++] = url_alpha[(v >> 18) & 63];
        out[o++] = url_alpha[(v >> 12) & 63];
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        out[o++] = url_alpha[(v >> 18) & 63];
        out[o++] = url_alpha[(v >> 12) & 63];
        out[o++] = url_alpha[(v >> 6) & 63];
    }
    out[o] = '\0';
}

static int val(unsigned char c, int url)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (url ? c == '-' : c == '+')
        return 62;
    if (url ? c == '_' : c == '/')
        return 63;
    return -1;
}

static int decode(vk_str in, uint8_t *out, size_t outsz, size_t *outlen, int url)
{
    size_t n = in.len;
    *outlen = 0;
    if (!url) {
        /* standard base64: length multiple of 4, at most two '=' at the end */
        if (n % 4 != 0)
            return VK_EINVAL;
        if (n > 0 && in.p[n - 1] == '=')
            n--;
        if (n > 0 && in.p[n - 1] == '=')
            n--;
    }
    if (n % 4 == 1)
        return VK_EINVAL;
    size_t need = n / 4 * 3 + (n % 4 == 0 ? 0 : n % 4 - 1);
    if (need > outsz)
        return VK_ETOOBIG;
    uint32_t acc = 0;
    int bits = 0;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int v = val((unsigned char)in.p[i], url);
        if (v < 0)
            return VK_EINVAL;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (uint8_t)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    if (acc != 0) /* non-canonical: trailing bits must be zero */
        return VK_EINVAL;
    *outlen = o;
    return VK_OK;
}

int vk_b64url_decode(vk_str in, uint8_t *out, size_t outsz, size_t *outlen)
{
    return decode(in, out, outsz, outlen, 1);
}

int vk_b64_decode(vk_str in, uint8_t *out, size_t outsz, size_t *outlen)
{
    return decode(in, out, outsz, outlen, 0);
}
