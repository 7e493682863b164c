#include "base/arena.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "base/mem.h"

#define CHUNK_MIN 4096

struct vk_arena_chunk {
    struct vk_arena_chunk *next;
    size_t size;
    size_t used;
    max_align_t data[];
};

void vk_arena_init(struct vk_arena *a, size_t cap)
{
    a->head = NULL;
    a->used_total = 0;
    a->cap = cap;
}

void vk_arena_clear(struct vk_arena *a)
{
    struct vk_arena_chunk *c = a->head;
    while (c != NULL) {
        struct vk_arena_chunk *next = c->next;
        OPENSSL_cleanse(c->data, c->used);
        vk_free(c);
        c = next;
    }
    a->head = NULL;
    a->used_total = 0;
}

void *vk_arena_alloc(struct vk_arena *a, size_t n)
{
    const size_t align = sizeof(max_align_t);
    size_t need;
    if (n == 0)
        n = 1;
    if (__builtin_add_overflow(n, align - 1, &need))
        return NULL;
    need &= ~(align - 1);
    if (need > a->cap || a->used_total > a->cap - need)
        return NULL;
    struct vk_arena_chunk *c = a->head;
    if (c == NULL || c->size - c->used < need) {
        size_t size = need > CHUNK_MIN ? need : CHUNK_MIN;
        if (c != NULL && c->size * 2 > size && c->size * 2 <= 256 * 1024)
            size = c->size * 2;
        c = vk_malloc(sizeof *c + size);
        if (c == NULL)
            return NULL;
        c->size = size;
        c->used = 0;
        c->next = a->head;
        a->head = c;
    }
    void *p = (char *)c->data + c->used;
    c->used += need;
    a->used_total += need;
    return p;
}

void *vk_arena_calloc(struct vk_arena *a, size_t n)
{
    void *p = vk_arena_alloc(a, n);
    if (p != NULL)
        memset(p, 0, n);
    return p;
}

char *vk_arena_strdup(struct vk_arena *a, vk_str s)
{
    char *p = vk_arena_alloc(a, s.len + 1);
    if (p == NULL)
        return NULL;
    if (s.len > 0)
        memcpy(p, s.p, s.len);
    p[s.len] = '\0';
    return p;
}

void *vk_arena_grow(struct vk_arena *a, void *v, size_t n, size_t *cap, size_t elem)
{
    if (n < *cap)
        return v;
    size_t ncap = *cap ? *cap * 2 : 16, bytes;
    if (__builtin_mul_overflow(ncap, elem, &bytes))
        return NULL;
    void *nv = vk_arena_alloc(a, bytes);
    if (nv == NULL)
        return NULL;
    if (n > 0)
        memcpy(nv, v, n * elem);
    *cap = ncap;
    return nv;
}

char *vk_arena_printf(struct vk_arena *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return NULL;
    char *p = vk_arena_alloc(a, (size_t)n + 1);
    if (p == NULL)
        return NULL;
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}
