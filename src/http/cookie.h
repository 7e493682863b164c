/* Cookie header parsing (RFC 6265 §5.4) and Set-Cookie building. */
#ifndef VK_HTTP_COOKIE_H
#define VK_HTTP_COOKIE_H

#include <stdbool.h>

#include "base/arena.h"
#include "http/request.h"

/* Finds cookie `name` in the request's Cookie header(s). When it appears more than once, the
 * first wins (browsers send the most specific first). *value is borrowed. */
bool vk_cookie_get(const struct vk_request *rq, const char *name, vk_str *value);
/* Adds a Set-Cookie header: Path=/; HttpOnly; SameSite=Lax; Secure when `secure`; Max-Age when
 * max_age >= 0 (0 deletes). The value must be a cookie-octet string (we only set base64url). */
int vk_cookie_set(struct vk_response *rs, struct vk_arena *a, const char *name,
                  const char *value, long max_age, bool secure);

#endif
