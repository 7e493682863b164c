#include "http/hostcount.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/crypto.h"
#include "base/err.h"

struct slot {
    struct vk_host_key k;
    unsigned n; /* 0: empty */
};

struct vk_hostcount {
    struct slot *s;
    size_t mask; /* capacity - 1; capacity is a power of two >= 2 * max_hosts */
    size_t max_hosts;
    size_t hosts;
    uint64_t seed;
};

static size_t hash(const struct vk_hostcount *t, const struct vk_host_key *k)
{
    /* FNV-1a keyed by a random seed, then a splitmix64 finish: clients cannot aim their keys at
     * one probe chain without knowing the seed. */
    uint64_t h = t->seed ^ 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < sizeof k->b; i++)
        h = (h ^ k->b[i]) * 0x100000001b3ULL;
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebULL;
    h ^= h >> 31;
    return (size_t)h & t->mask;
}

int vk_hostcount_new(size_t max_hosts, struct vk_hostcount **out)
{
    *out = NULL;
    if (max_hosts == 0 || max_hosts > (1u << 24))
        return VK_EINVAL;
    struct vk_hostcount *t = calloc(1, sizeof *t);
    if (t == NULL)
        return VK_ENOMEM;
    size_t cap = 16;
    while (cap < 2 * max_hosts)
        cap *= 2;
    t->s = calloc(cap, sizeof *t->s);
    if (t->s == NULL || vk_rand((uint8_t *)&t->seed, sizeof t->seed) != VK_OK) {
        free(t->s);
        free(t);
        return VK_ENOMEM;
    }
    t->mask = cap - 1;
    t->max_hosts = max_hosts;
    *out = t;
    return VK_OK;
}

void vk_hostcount_free(struct vk_hostcount *t)
{
    if (t == NULL)
        return;
    free(t->s);
    free(t);
}

/* The slot holding k, or the empty slot where it would go. At most half the slots are used, so
 * the probe always ends. */
static size_t find(const struct vk_hostcount *t, const struct vk_host_key *k)
{
    size_t i = hash(t, k);
    while (t->s[i].n != 0 && memcmp(&t->s[i].k, k, sizeof *k) != 0)
        i = (i + 1) & t->mask;
    return i;
}

unsigned vk_hostcount_get(const struct vk_hostcount *t, const struct vk_host_key *k)
{
    return t->s[find(t, k)].n;
}

int vk_hostcount_add(struct vk_hostcount *t, const struct vk_host_key *k)
{
    size_t i = find(t, k);
    if (t->s[i].n == 0) {
        if (t->hosts >= t->max_hosts)
            return VK_ETOOBIG;
        t->s[i].k = *k;
        t->hosts++;
    }
    t->s[i].n++;
    return VK_OK;
}

void vk_hostcount_sub(struct vk_hostcount *t, const struct vk_host_key *k)
{
    size_t i = find(t, k);
    if (t->s[i].n == 0 || --t->s[i].n > 0)
        return;
    t->hosts--;
    /* Backward-shift deletion (linear probing without tombstones): move later entries of the
     * probe run into the hole when their home slot does not lie between the hole and them. */
    size_t hole = i, j = i;
    for (;;) {
        j = (j + 1) & t->mask;
        if (t->s[j].n == 0)
            break;
        size_t home = hash(t, &t->s[j].k);
        bool stays = hole <= j ? (hole < home && home <= j) : (hole < home || home <= j);
        if (stays)
            continue;
        t->s[hole] = t->s[j];
        hole = j;
    }
    memset(&t->s[hole], 0, sizeof t->s[hole]);
}

size_t vk_hostcount_hosts(const struct vk_hostcount *t)
{
    return t->hosts;
}
