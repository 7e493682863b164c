/* application/x-www-form-urlencoded parsing (WHATWG URL §5.1 as OAuth uses it) for bodies and
 * query strings. Strict: a '%' not followed by two hex digits is an error, not passed through. */
#ifndef VK_HTTP_FORM_H
#define VK_HTTP_FORM_H

#include "base/arena.h"
#include "base/str.h"
#include "http/request.h"

/* Parses `in` into *out (decoded copies in the arena). Returns VK_OK; VK_EINVAL for malformed
 * percent-encoding or a NUL byte; VK_ETOOBIG for more than VK_MAX_PARAMS parameters or a name or
 * value longer than VK_MAX_PARAM_LEN; VK_ENOMEM when the arena is full. Empty pairs ("a=1&&b=2")
 * are skipped. On error *out is empty. */
int vk_form_parse(struct vk_arena *a, vk_str in, struct vk_params *out);
/* Percent-decodes one component ('+' means space) into the arena. */
int vk_form_decode(struct vk_arena *a, vk_str in, vk_str *out);
/* Appends the form-urlencoding of s to an arena string: returns a new NUL-terminated string. */
char *vk_form_encode(struct vk_arena *a, vk_str s);

#endif
