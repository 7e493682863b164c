/* A bounded set of 128-bit keys, each live until its own expiry: the revocation list (jti ->
 * revoked until exp) and the DPoP replay cache (proof jti -> seen until the proof is too old).
 *
 * Sixteen shards, each an open-addressing table with linear probing under its own mutex. The
 * keys are SipHash outputs under a per-process key, so they are uniform and nobody outside can
 * aim them at one shard or one probe chain. A slot whose entry expired is "dead": it still
 * lengthens probe chains (removing it would break the chains behind it), so it is reused by an
 * insert that walked past it, and a shard whose slots are half used (dead included) is rebuilt
 * from its live entries -- into a table twice as large when more than a quarter of the slots
 * are live, so each rebuild is paid for by at least a quarter-table of inserts. Tables start
 * small and grow up to four slots per entry of the shard's share of the capacity; memory
 * follows use. The set never drops a live entry to make room: a shard at its largest table
 * with a quarter of it live refuses inserts (VK_ETOOBIG). */
#include "verify/verify.h"

#include <pthread.h>
#include <string.h>

#include "base/mem.h"

#define SHARDS 16

struct slot {
    uint8_t key[VK_H128_LEN];
    int64_t expires; /* 0: empty (never used); <= now: dead */
};

struct shard {
    pthread_mutex_t mu;
    struct slot *slots;
    size_t mask;      /* slots - 1, a power of two minus one */
    size_t used;      /* slots that are not empty (live or dead) */
    size_t max_slots; /* the largest table this shard may grow to */
};

struct vk_expset {
    struct shard shards[SHARDS];
};

static uint64_t load64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static bool key_eq(const uint8_t *a, const uint8_t *b)
{
    uint8_t d = 0;
    for (size_t i = 0; i < VK_H128_LEN; i++)
        d |= (uint8_t)(a[i] ^ b[i]);
    return d == 0;
}

static struct shard *shard_of(struct vk_expset *s, const uint8_t *key)
{
    return &s->shards[key[0] & (SHARDS - 1)];
}

static size_t start_of(const struct shard *sh, const uint8_t *key)
{
    return (size_t)load64(key + 8) & sh->mask;
}

#define MIN_SLOTS 64

int vk_expset_new(size_t capacity, struct vk_expset **out)
{
    struct vk_expset *s;
    size_t per, max_slots = MIN_SLOTS;
    int rc = VK_ENOMEM;

    *out = NULL;
    per = capacity / SHARDS + 1;
    /* At most a quarter of the largest table live: short chains, amortized rebuilds. */
    while (max_slots < 4 * per) {
        if (max_slots > SIZE_MAX / (8 * sizeof(struct slot)))
            return VK_ETOOBIG;
        max_slots *= 2;
    }
    s = vk_calloc(1, sizeof *s);
    if (s == NULL)
        return VK_ENOMEM;
    for (size_t i = 0; i < SHARDS; i++) {
        struct shard *sh = &s->shards[i];
        sh->slots = vk_calloc(MIN_SLOTS, sizeof *sh->slots);
        if (sh->slots == NULL)
            goto out;
        sh->mask = MIN_SLOTS - 1;
        sh->max_slots = max_slots;
        pthread_mutex_init(&sh->mu, NULL);
    }
    *out = s;
    s = NULL;
    rc = VK_OK;
out:
    vk_expset_free(s);
    return rc;
}

void vk_expset_free(struct vk_expset *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < SHARDS; i++) {
        if (s->shards[i].slots == NULL)
            continue;
        vk_free(s->shards[i].slots);
        pthread_mutex_destroy(&s->shards[i].mu);
    }
    vk_free(s);
}

/* Re-inserts the live entries into a fresh table of n slots. VK_OK or VK_ENOMEM (the shard is
 * then unchanged). */
static int rebuild(struct shard *sh, size_t n, int64_t now)
{
    size_t used = 0;
    struct slot *fresh = vk_calloc(n, sizeof *fresh);
    if (fresh == NULL)
        return VK_ENOMEM;
    for (size_t i = 0; i <= sh->mask; i++) {
        const struct slot *o = &sh->slots[i];
        if (o->expires <= now)
            continue;
        size_t j = (size_t)load64(o->key + 8) & (n - 1);
        while (fresh[j].expires != 0)
            j = (j + 1) & (n - 1);
        fresh[j] = *o;
        used++;
    }
    vk_free(sh->slots);
    sh->slots = fresh;
    sh->mask = n - 1;
    sh->used = used;
    return VK_OK;
}

static size_t live_count(const struct shard *sh, int64_t now)
{
    size_t live = 0;
    for (size_t i = 0; i <= sh->mask; i++)
        if (sh->slots[i].expires > now)
            live++;
    return live;
}

static int add_locked(struct shard *sh, const uint8_t *key, int64_t expires, int64_t now,
                      bool unique)
{
    size_t i = start_of(sh, key);
    struct slot *dead = NULL;

    for (;;) {
        struct slot *sl = &sh->slots[i];
        if (sl->expires == 0)
            break;
        if (key_eq(sl->key, key)) {
            if (sl->expires > now && unique)
                return VK_EEXIST;
            if (sl->expires <= now || expires > sl->expires)
                sl->expires = expires;
            return VK_OK;
        }
        if (sl->expires <= now && dead == NULL)
            dead = sl;
        i = (i + 1) & sh->mask;
    }
    if (dead != NULL) {
        memcpy(dead->key, key, VK_H128_LEN);
        dead->expires = expires;
        return VK_OK;
    }
    /* A new slot: keep at most half the table in use, dead slots included. */
    if (sh->used + 1 > (sh->mask + 1) / 2) {
        size_t n = sh->mask + 1, live = live_count(sh, now);
        if (live >= n / 4) {
            if (n >= sh->max_slots)
                return VK_ETOOBIG;
            n *= 2;
        }
        int rc = rebuild(sh, n, now);
        if (rc != VK_OK)
            return rc;
        return add_locked(sh, key, expires, now, unique);
    }
    memcpy(sh->slots[i].key, key, VK_H128_LEN);
    sh->slots[i].expires = expires;
    sh->used++;
    return VK_OK;
}

int vk_expset_add(struct vk_expset *s, const uint8_t key[VK_H128_LEN], int64_t expires,
                  int64_t now, bool unique)
{
    if (expires <= now)
        return VK_OK; /* already over: nothing to remember */
    struct shard *sh = shard_of(s, key);
    pthread_mutex_lock(&sh->mu);
    int rc = add_locked(sh, key, expires, now, unique);
    pthread_mutex_unlock(&sh->mu);
    return rc;
}

bool vk_expset_contains(struct vk_expset *s, const uint8_t key[VK_H128_LEN], int64_t now)
{
    struct shard *sh = shard_of(s, key);
    bool found = false;

    pthread_mutex_lock(&sh->mu);
    for (size_t i = start_of(sh, key); sh->slots[i].expires != 0; i = (i + 1) & sh->mask) {
        if (key_eq(sh->slots[i].key, key)) {
            found = sh->slots[i].expires > now;
            break;
        }
    }
    pthread_mutex_unlock(&sh->mu);
    return found;
}

size_t vk_expset_count(struct vk_expset *s, int64_t now)
{
    size_t n = 0;
    for (size_t i = 0; i < SHARDS; i++) {
        pthread_mutex_lock(&s->shards[i].mu);
        n += live_count(&s->shards[i], now);
        pthread_mutex_unlock(&s->shards[i].mu);
    }
    return n;
}
