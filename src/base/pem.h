/* Certificates as text: PEM, and the URL-encoded PEM a TLS-terminating proxy forwards in a header
 * (nginx's $ssl_client_escaped_cert, RFC 8705 behind a proxy). Decoding only: what the bytes are
 * worth is decided by jose/x509.c. In base/ so that every part that takes a forwarded
 * certificate (the server, `valetkey verify`) decodes it with the same code. */
#ifndef VK_BASE_PEM_H
#define VK_BASE_PEM_H

#include "base/arena.h"
#include "base/err.h"
#include "base/str.h"

/* Decodes the first "-----BEGIN CERTIFICATE-----" block of `pem` into DER in the arena. Line
 * breaks may be missing or replaced by spaces (as some proxies forward them); anything but
 * base64 and white space between the markers is refused. VK_EINVAL, VK_ETOOBIG (over
 * VK_MAX_CERT_LEN), VK_ENOMEM. The certificate itself is not parsed here. */
int vk_pem_cert_decode(struct vk_arena *a, vk_str pem, vk_str *der);
/* A forwarded header value: %XX escapes decoded (a '+' stays a '+', a base64 character here),
 * then vk_pem_cert_decode. A '%' not followed by two hex digits is VK_EINVAL. */
int vk_pem_cert_from_header(struct vk_arena *a, vk_str value, vk_str *der);

#endif
