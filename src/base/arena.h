/* A bump allocator with a hard cap. Per-request data (parsed slices, decoded parameters,
 * response bodies) lives in one arena and is released at once. The memory is wiped on
 * release because it held passwords and bearer tokens. Not thread-safe: one owner. */
#ifndef VK_BASE_ARENA_H
#define VK_BASE_ARENA_H

#include <stddef.h>

#include "base/str.h"

struct vk_arena_chunk;

struct vk_arena {
    struct vk_arena_chunk *head;
    size_t used_total; /* bytes handed out, checked against cap */
    size_t cap;
};

/* Initializes an empty arena that will hand out at most `cap` bytes in total. */
void vk_arena_init(struct vk_arena *a, size_t cap);
/* Wipes and frees every chunk. The arena may be reused after vk_arena_init. */
void vk_arena_clear(struct vk_arena *a);
/* Returns n bytes aligned for any type, or NULL when the cap is reached or malloc fails. */
void *vk_arena_alloc(struct vk_arena *a, size_t n);
/* Same, zero-filled. */
void *vk_arena_calloc(struct vk_arena *a, size_t n);
/* A NUL-terminated copy of s in the arena, or NULL. */
char *vk_arena_strdup(struct vk_arena *a, vk_str s);
/* Makes room for one more element in an arena array of n elements (capacity *cap, element size
 * elem): returns v itself while n < *cap, else a copy with doubled capacity (16 at first); NULL
 * when the arena is full (v is then unchanged). The old copy stays in the arena until it clears. */
void *vk_arena_grow(struct vk_arena *a, void *v, size_t n, size_t *cap, size_t elem);
/* printf into the arena; NULL on failure. */
char *vk_arena_printf(struct vk_arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
