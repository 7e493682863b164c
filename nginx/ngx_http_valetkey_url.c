/* See ngx_http_valetkey_url.h. Only assembles and bounds: normalisation (case, percent-encoding,
 * dot segments, default ports) happens once, in libvaletkey, on both the proof's htu and this
 * URL, so the two cannot disagree about what "the same URL" means. */
#include "ngx_http_valetkey_url.h"

#include <stdio.h>
#include <string.h>

/* RFC 3986 §3.2: an authority's characters, minus user information ('@'), which a client's
 * Host never carries and an htu must not; IPv6 literals keep their brackets. */
static int authority_ok(const char *p, size_t n)
{
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c <= 0x20 || c >= 0x7f || c == '/' || c == '?' || c == '#' || c == '@' || c == '\\')
            return 0;
    }
    return 1;
}

static int target_ok(const char *p, size_t n)
{
    if (n == 0 || p[0] != '/')
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c <= 0x20 || c >= 0x7f)
            return 0;
    }
    return 1;
}

/* Appends n bytes; 0 when they do not fit with the final NUL. */
static int put(char *out, size_t outsz, size_t *at, const char *p, size_t n)
{
    if (n >= outsz - *at)
        return 0;
    memcpy(out + *at, p, n);
    *at += n;
    out[*at] = '\0';
    return 1;
}

static size_t origin_scheme_len(const char *o, size_t n)
{
    if (n > 8 && strncmp(o, "https://", 8) == 0)
        return 8;
    if (n > 7 && strncmp(o, "http://", 7) == 0)
        return 7;
    return 0;
}

size_t ngx_http_valetkey_url(const char *origin, size_t origin_len, int tls, const char *host,
                             size_t host_len, const char *server_name, size_t server_name_len,
                             unsigned port, const char *target, size_t target_len, char *out,
                             size_t outsz)
{
    size_t at = 0;

    if (out == NULL || outsz == 0)
        return 0;
    out[0] = '\0';
    if (outsz > VALETKEY_URL_MAX + 1)
        outsz = VALETKEY_URL_MAX + 1;
    if (target == NULL || !target_ok(target, target_len))
        return 0;
    if (origin != NULL) {
        size_t s = origin_scheme_len(origin, origin_len);
        size_t n = origin_len;
        if (n > s && origin[n - 1] == '/')
            n--;
        if (s == 0 || !authority_ok(origin + s, n - s) || !put(out, outsz, &at, origin, n))
            goto fail;
    } else {
        const char *scheme = tls ? "https://" : "http://";
        if (!put(out, outsz, &at, scheme, strlen(scheme)))
            goto fail;
        if (host != NULL && host_len > 0) {
            if (!authority_ok(host, host_len) || !put(out, outsz, &at, host, host_len))
                goto fail;
        } else {
            char p[16];
            if (server_name == NULL || !authority_ok(server_name, server_name_len) ||
                !put(out, outsz, &at, server_name, server_name_len))
                goto fail;
            if (port != 0 && port != (tls ? 443u : 80u)) {
                int k = snprintf(p, sizeof p, ":%u", port);
                if (k <= 0 || !put(out, outsz, &at, p, (size_t)k))
                    goto fail;
            }
        }
    }
    if (!put(out, outsz, &at, target, target_len))
        goto fail;
    return at;
fail:
    out[0] = '\0';
    return 0;
}
