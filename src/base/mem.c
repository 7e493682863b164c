#include "base/mem.h"

#include <stdlib.h>
#include <string.h>

/* Plain pointers, read on every allocation: they are written only before use (see mem.h), so a
 * lock or an atomic would buy nothing but cost on every call. */
static vk_malloc_fn mem_malloc = malloc;
static vk_realloc_fn mem_realloc = realloc;
static vk_free_fn mem_free = free;

void vk_mem_set(vk_malloc_fn m, vk_realloc_fn r, vk_free_fn f)
{
    if (m == NULL || r == NULL || f == NULL) {
        m = malloc;
        r = realloc;
        f = free;
    }
    mem_malloc = m;
    mem_realloc = r;
    mem_free = f;
}

void *vk_malloc(size_t size)
{
    return mem_malloc(size != 0 ? size : 1);
}

void *vk_calloc(size_t n, size_t size)
{
    size_t total;
    if (__builtin_mul_overflow(n, size, &total))
        return NULL;
    void *p = vk_malloc(total);
    if (p != NULL)
        memset(p, 0, total);
    return p;
}

void *vk_realloc(void *ptr, size_t size)
{
    return mem_realloc(ptr, size != 0 ? size : 1);
}

void vk_free(void *ptr)
{
    if (ptr != NULL)
        mem_free(ptr);
}
