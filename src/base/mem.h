/* The allocator of base/, jose/ and verify/: libc's by default, replaceable once before use
 * (libuv's uv_replace_allocator). libvaletkey exposes the replacement as valetkey_set_allocator so
 * a host can route, and a fault-injection test can fail, every allocation the library makes.
 * Memory from vk_malloc/vk_calloc/vk_realloc must be released with vk_free and nothing else. */
#ifndef VK_BASE_MEM_H
#define VK_BASE_MEM_H

#include <stddef.h>

typedef void *(*vk_malloc_fn)(size_t size);
typedef void *(*vk_realloc_fn)(void *ptr, size_t size);
typedef void (*vk_free_fn)(void *ptr);

/* Replaces the three functions (all non-NULL, or all NULL for libc's). Not thread-safe: call it
 * before anything is allocated, or when every allocation made with the previous functions has
 * been freed. */
void vk_mem_set(vk_malloc_fn m, vk_realloc_fn r, vk_free_fn f);

void *vk_malloc(size_t size);
/* Zero-filled; NULL on overflow of n * size. */
void *vk_calloc(size_t n, size_t size);
void *vk_realloc(void *ptr, size_t size);
void vk_free(void *ptr); /* NULL is a no-op */

#endif
