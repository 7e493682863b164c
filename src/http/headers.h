/* Parsers for the Authorization header schemes we accept. */
#ifndef VK_HTTP_HEADERS_H
#define VK_HTTP_HEADERS_H

#include "base/arena.h"
#include "base/str.h"

/* Parses `Basic <base64>` (scheme case-insensitive, RFC 7617). The decoded user-id and password
 * are each form-urldecoded as RFC 6749 §2.3.1 requires for client credentials. Returns VK_OK,
 * VK_ENOTFOUND when the scheme is not Basic, VK_EINVAL when malformed (bad base64, no ':', empty
 * user-id, bad percent-encoding). Outputs are arena copies. */
int vk_http_basic_parse(struct vk_arena *a, vk_str header, vk_str *user, vk_str *pass);
/* Parses `Bearer <token68>` (RFC 6750 §2.1): VK_OK with *token borrowed from header,
 * VK_ENOTFOUND for another scheme, VK_EINVAL when the token is empty or has illegal bytes. */
int vk_http_bearer_parse(vk_str header, vk_str *token);

#endif
