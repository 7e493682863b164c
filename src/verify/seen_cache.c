/* Tokens already verified, and the revocation list.
 *
 * The cache is set-associative: the token's 128-bit keyed digest picks one set of WAYS entries,
 * each set under its own mutex, so threads rarely meet and a lookup touches one or two cache
 * lines. An entry holds a reference to the token's claims, its exp, the key-set epoch it was
 * verified under, and the revocation generation at which its jti was last found unrevoked.
 * Eviction is within the set: an empty or dead entry first, else the least recently used.
 *
 * Revocation is by name -- the jti (RFC 7009 revokes a token, the feed names its jti), or the
 * client or subject of every token of a removed client or user -- never by token string:
 * an ECDSA signature (r, s) has a twin (r, n - s) that verifies too, so one token can be
 * presented as two strings with two digests. Each revocation bumps `generation`; a hit whose
 * entry saw an older generation looks its names up in the list before answering. */
#include "verify/verify.h"

#include <pthread.h>
#include <string.h>

#include "base/mem.h"

#define WAYS 8

struct entry {
    uint8_t digest[VK_H128_LEN];
    int64_t last_used;
    uint64_t epoch;
    uint64_t generation;
    struct valetkey_claims *claims; /* NULL: empty */
};

struct set {
    pthread_mutex_t mu;
    struct entry e[WAYS];
};

struct vk_seen {
    size_t nsets; /* a power of two, or 0 when caching is off */
    struct set *sets;
    struct vk_expset *revoked;
    atomic_uint_fast64_t generation;
    atomic_size_t count;
};

static uint64_t load64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static bool digest_eq(const uint8_t *a, const uint8_t *b)
{
    uint8_t d = 0;
    for (size_t i = 0; i < VK_H128_LEN; i++)
        d |= (uint8_t)(a[i] ^ b[i]);
    return d == 0;
}

int vk_seen_new(size_t entries, size_t revocations, struct vk_seen **out)
{
    struct vk_seen *s;
    int rc;

    *out = NULL;
    s = vk_calloc(1, sizeof *s);
    if (s == NULL)
        return VK_ENOMEM;
    atomic_init(&s->generation, 1);
    atomic_init(&s->count, 0);
    rc = vk_expset_new(revocations, &s->revoked);
    if (rc != VK_OK)
        goto out;
    if (entries > 0) {
        size_t nsets = 1;
        while (nsets * WAYS < entries) {
            if (nsets > SIZE_MAX / (2 * sizeof(struct set))) {
                rc = VK_ETOOBIG;
                goto out;
            }
            nsets *= 2;
        }
        s->sets = vk_calloc(nsets, sizeof *s->sets);
        if (s->sets == NULL) {
            rc = VK_ENOMEM;
            goto out;
        }
        for (size_t i = 0; i < nsets; i++)
            pthread_mutex_init(&s->sets[i].mu, NULL);
        s->nsets = nsets;
    }
    *out = s;
    s = NULL;
    rc = VK_OK;
out:
    vk_seen_free(s);
    return rc;
}

void vk_seen_free(struct vk_seen *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->nsets; i++) {
        for (size_t w = 0; w < WAYS; w++)
            valetkey_claims_free(s->sets[i].e[w].claims);
        pthread_mutex_destroy(&s->sets[i].mu);
    }
    vk_free(s->sets);
    vk_expset_free(s->revoked);
    vk_free(s);
}

static struct set *set_of(struct vk_seen *s, const uint8_t *digest)
{
    return &s->sets[(size_t)load64(digest) & (s->nsets - 1)];
}

static void drop(struct vk_seen *s, struct entry *e)
{
    valetkey_claims_free(e->claims);
    memset(e, 0, sizeof *e);
    atomic_fetch_sub_explicit(&s->count, 1, memory_order_relaxed);
}

int vk_seen_lookup(struct vk_seen *s, const uint8_t digest[VK_H128_LEN], int64_t now,
                   int64_t leeway, uint64_t epoch, struct valetkey_claims **out)
{
    struct set *set;
    int rc = VALETKEY_NO_TOKEN;

    *out = NULL;
    if (s->nsets == 0)
        return VALETKEY_NO_TOKEN;
    set = set_of(s, digest);
    pthread_mutex_lock(&set->mu);
    for (size_t w = 0; w < WAYS; w++) {
        struct entry *e = &set->e[w];
        if (e->claims == NULL || !digest_eq(e->digest, digest))
            continue;
        /* RFC 7519 §4.1.4: the same test vk_jwt_check made, at today's time. */
        if (e->claims->exp <= now - leeway) {
            drop(s, e);
            rc = VALETKEY_TOKEN_EXPIRED;
            break;
        }
        /* Verified with a key that has since left the key set: verify again. */
        if (e->epoch != epoch) {
            drop(s, e);
            break;
        }
        uint64_t g = atomic_load_explicit(&s->generation, memory_order_acquire);
        if (g != e->generation) {
            if (vk_seen_revoked(s, e->claims, now)) {
                drop(s, e);
                rc = VALETKEY_TOKEN_REVOKED;
                break;
            }
            e->generation = g;
        }
        e->last_used = now;
        *out = valetkey_claims_ref(e->claims);
        rc = VALETKEY_OK;
        break;
    }
    pthread_mutex_unlock(&set->mu);
    return rc;
}

uint64_t vk_seen_generation(struct vk_seen *s)
{
    return atomic_load_explicit(&s->generation, memory_order_acquire);
}

bool vk_seen_revoked(struct vk_seen *s, const struct valetkey_claims *c, int64_t now)
{
    for (int k = 0; k < VK_REVOKE_KINDS; k++)
        if (vk_expset_contains(s->revoked, c->rev_key[k], now))
            return true;
    return false;
}

void vk_seen_insert(struct vk_seen *s, const uint8_t digest[VK_H128_LEN],
                    struct valetkey_claims *c, uint64_t epoch, uint64_t generation, int64_t now)
{
    struct entry *victim = NULL;
    struct set *set;

    if (s->nsets == 0)
        return;
    set = set_of(s, digest);
    pthread_mutex_lock(&set->mu);
    for (size_t w = 0; w < WAYS; w++)
        if (set->e[w].claims != NULL && digest_eq(set->e[w].digest, digest))
            goto out; /* another thread verified the same token first */
    /* An empty entry, else one that is expired or from an old key set, else the least recently
     * used. */
    for (size_t w = 0; w < WAYS; w++) {
        struct entry *e = &set->e[w];
        if (e->claims == NULL || e->claims->exp <= now || e->epoch != epoch) {
            victim = e;
            break;
        }
        if (victim == NULL || e->last_used < victim->last_used)
            victim = e;
    }
    if (victim->claims != NULL)
        drop(s, victim);
    memcpy(victim->digest, digest, VK_H128_LEN);
    victim->last_used = now;
    victim->epoch = epoch;
    victim->generation = generation;
    victim->claims = valetkey_claims_ref(c);
    atomic_fetch_add_explicit(&s->count, 1, memory_order_relaxed);
out:
    pthread_mutex_unlock(&set->mu);
}

int vk_seen_revoke(struct vk_seen *s, const uint8_t key[VK_H128_LEN], int64_t until,
                   int64_t now)
{
    int rc = vk_expset_add(s->revoked, key, until, now, false);
    /* After the jti is in the list: a hit that reads the new generation finds it there. */
    if (rc == VK_OK)
        atomic_fetch_add_explicit(&s->generation, 1, memory_order_acq_rel);
    return rc;
}

size_t vk_seen_count(struct vk_seen *s)
{
    return atomic_load_explicit(&s->count, memory_order_relaxed);
}
