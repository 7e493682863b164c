/* The absolute URL a request was addressed to, as DPoP's `htu` must name it (RFC 9449 §4.3
 * step 9), built from the pieces nginx has. Plain C without nginx's headers, so that
 * tests/unit/test_nginx_url.c can check it on its own; the comparison itself (RFC 3986 §6.2.2,
 * §6.2.3 normalisation of both sides, query and fragment ignored) is libvaletkey's. */
#ifndef NGX_HTTP_VALETKEY_URL_H
#define NGX_HTTP_VALETKEY_URL_H

#include <stddef.h>

/* The longest URL built; a longer request target is refused (nginx's own header buffers stop
 * far longer ones, and no proof would carry such an htu). */
#define VALETKEY_URL_MAX 8192

/* Writes "origin" + path into out (outsz bytes, NUL-terminated) and returns its length, or 0
 * when the pieces cannot make an absolute http(s) URL or it does not fit.
 *
 * origin (origin_len bytes) is either an operator-configured "scheme://authority" (https or
 * http, an authority without path, query, fragment or user information; one trailing '/' is
 * dropped), or, when origin is NULL, it is made of:
 *   - https when tls is non-zero, else http;
 *   - host (host_len bytes): the Host header or HTTP/2 :authority as received, which may carry
 *     a port; when it is empty, server_name (a bare host name) and, unless it is the scheme's
 *     default, port (HTTP/1.0 requests without Host).
 * target (target_len bytes) is the request-target as received, in origin form ("/path?query";
 * nginx turns an absolute-form request line into that too). Anything but a path starting with
 * '/' (such as "*") is refused. Characters outside visible ASCII are refused everywhere. */
size_t ngx_http_valetkey_url(const char *origin, size_t origin_len, int tls, const char *host,
                             size_t host_len, const char *server_name, size_t server_name_len,
                             unsigned port, const char *target, size_t target_len, char *out,
                             size_t outsz);

#endif
