/* A growable byte buffer with a hard cap set at init (curl's dynbuf). Appending past the cap
 * returns VK_ETOOBIG and leaves the buffer unchanged. The content is always NUL-terminated. */
#ifndef VK_BASE_BUF_H
#define VK_BASE_BUF_H

#include <stddef.h>
#include <stdint.h>

#include "base/str.h"

struct vk_buf {
    char *p;
    size_t len;
    size_t alloc;
    size_t cap;
};

void vk_buf_init(struct vk_buf *b, size_t cap);
/* Wipes and frees the memory. */
void vk_buf_clear(struct vk_buf *b);
int vk_buf_append(struct vk_buf *b, const void *data, size_t n);
int vk_buf_append_str(struct vk_buf *b, const char *s);
int vk_buf_printf(struct vk_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
vk_str vk_buf_str(const struct vk_buf *b);
/* Appends s as a JSON string body (no quotes): '"' and '\\' escaped, control characters and
 * '<', '>', '&' as \\u00XX (safe to embed in HTML too). */
int vk_buf_append_json(struct vk_buf *b, vk_str s);
/* Appends a signed decimal integer (no printf on hot paths). */
int vk_buf_append_i64(struct vk_buf *b, int64_t v);
/* Appends `,"name":"value"` (without the comma when `first`), the value JSON-escaped. */
int vk_buf_append_json_member(struct vk_buf *b, const char *name, const char *value, int first);

#endif
