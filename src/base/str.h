/* Borrowed byte slices. A vk_str is NOT NUL-terminated unless a function says so. */
#ifndef VK_BASE_STR_H
#define VK_BASE_STR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    const char *p;
    size_t len;
} vk_str;

#define VK_STR(lit) ((vk_str){(lit), sizeof(lit) - 1})
#define VK_STR_NULL ((vk_str){NULL, 0})

/* A slice of a NUL-terminated string (NULL gives the empty slice). */
vk_str vk_str_c(const char *s);
bool vk_str_eq(vk_str a, vk_str b);
bool vk_str_eq_lit(vk_str a, const char *lit);
bool vk_str_eq_nocase_lit(vk_str a, const char *lit);
bool vk_str_starts_with_lit(vk_str a, const char *lit);
/* True when every byte is printable ASCII (0x21..0x7e), or also space when allow_space. */
bool vk_str_is_visible_ascii(vk_str s, bool allow_space);

/* True when s is well-formed UTF-8 (no overlongs, no surrogates, at most U+10FFFF). */
bool vk_str_is_utf8(vk_str s);

/* Copies src into dst of size dstsz with a NUL. Returns VK_OK, or VK_ETOOBIG when it would not
 * fit (dst then holds the empty string): never a silent truncation. */
int vk_strscpy(char *dst, size_t dstsz, vk_str src);

/* Parses an unsigned decimal in [min,max]; no sign, no spaces, no leading '+'. */
int vk_parse_u64(vk_str s, uint64_t min, uint64_t max, uint64_t *out);

/* Splits off the next token separated by `sep` (runs of sep are skipped). Returns false at end. */
bool vk_str_next_token(vk_str *rest, char sep, vk_str *tok);

#endif
