/* The attempt limiter: counts events (failed secrets and passwords, successful logins) per key
 * under a struct vk_limit_policy, in a fixed table, per process.
 *
 * The table is open addressing: 65,536 slots in windows of 16, and a key lives in one window.
 * Three rules make it safe against someone who can send it any keys (docs/security.md, "Brute
 * force"):
 *
 * - The window and the identity of a key come from SipHash-2-4 under random keys chosen when the
 *   limiter is made. An earlier version used an unkeyed SHA-256, so an attacker could grind ids
 *   offline that land in a victim's window and fill it.
 * - A key the table does not hold never waits: a full window never refuses a key. The failures of
 *   one key therefore can never refuse a different key.
 * - An entry that used up its free attempts (pinned) is never evicted from a per-key table,
 *   because evicting it would hand its key a fresh set of free attempts. When a new key finds its
 *   whole window pinned it is not recorded, and vk_auth_limiter_hit says so: the caller then
 *   charges the source address instead (vk_auth_limiter_penalize). Only the per-address tables,
 *   the last resort, evict the least recently hit entry even when it is pinned
 *   (VK_LIMITER_EVICT_OLDEST): to push an address out, 16 newer keys must land in its window,
 *   which needs tens of thousands of fresh keys in a table whose layout nobody can see. */
#include "auth/auth.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SLOTS   65536
#define PROBE   16
#define STRIPES 64

struct slot {
    uint64_t id[2]; /* two SipHash values under independent keys: 128 bits of identity */
    uint32_t count; /* failures since the window last forgot this key (rate: 1); 0: free */
    int64_t last;   /* time of the last failure; rate: the theoretical arrival time (GCRA) */
};

struct vk_auth_limiter {
    struct vk_limit_policy p;
    enum vk_limiter_full full;
    uint8_t key[2][16];
    pthread_mutex_t mu[STRIPES];
    struct slot *slots;
};

int vk_auth_limiter_new(const struct vk_limit_policy *p, enum vk_limiter_full full,
                        struct vk_auth_limiter **out)
{
    *out = NULL;
    struct vk_auth_limiter *l = calloc(1, sizeof *l);
    if (l == NULL)
        return VK_ENOMEM;
    l->slots = calloc(SLOTS, sizeof *l->slots);
    int rc = l->slots == NULL ? VK_ENOMEM : vk_rand(&l->key[0][0], sizeof l->key);
    if (rc != VK_OK) {
        free(l->slots);
        free(l);
        return rc;
    }
    l->p = *p;
    l->full = full;
    for (int i = 0; i < STRIPES; i++)
        pthread_mutex_init(&l->mu[i], NULL);
    *out = l;
    return VK_OK;
}

void vk_auth_limiter_free(struct vk_auth_limiter *l)
{
    if (l == NULL)
        return;
    for (int i = 0; i < STRIPES; i++)
        pthread_mutex_destroy(&l->mu[i]);
    vk_wipe(l->key, sizeof l->key);
    free(l->slots);
    free(l);
}

static int64_t delay_for(const struct vk_limit_policy *p, uint32_t count)
{
    if (count < p->free_failures)
        return 0;
    uint32_t k = count - p->free_failures;
    int64_t d = p->base_delay;
    while (k-- > 0 && d < p->max_delay)
        d *= 2;
    return d < p->max_delay ? d : p->max_delay;
}

/* A key's identity and window: PROBE consecutive slots inside one stripe's range, so one mutex
 * guards the whole window. */
struct where {
    uint64_t id[2];
    size_t start;
    pthread_mutex_t *mu;
};

static void locate(struct vk_auth_limiter *l, vk_str key, struct where *w)
{
    w->id[0] = vk_siphash24(l->key[0], key.p, key.len);
    w->id[1] = vk_siphash24(l->key[1], key.p, key.len);
    size_t window = (size_t)(w->id[0] % (SLOTS / PROBE));
    w->start = window * PROBE;
    w->mu = &l->mu[window % STRIPES];
}

/* Rate mode (GCRA): one event per `interval` seconds, `tolerance` seconds of burst, so that
 * free_failures events fit in one window. */
static int64_t interval(const struct vk_limit_policy *p)
{
    int64_t t = p->free_failures > 0 ? p->window / (int64_t)p->free_failures : p->window;
    return t > 0 ? t : 1;
}

static int64_t tolerance(const struct vk_limit_policy *p)
{
    return p->window - interval(p);
}

static bool forgotten(const struct vk_auth_limiter *l, const struct slot *s, int64_t now)
{
    if (s->count == 0)
        return true;
    return l->p.rate ? s->last <= now : now - s->last >= l->p.window;
}

/* Seconds a held, not forgotten entry must still wait. */
static int64_t wait_of(const struct vk_auth_limiter *l, const struct slot *s, int64_t now)
{
    int64_t until = l->p.rate ? s->last - tolerance(&l->p) : s->last + delay_for(&l->p, s->count);
    return until > now ? until - now : 0;
}

/* An entry that has used up its free attempts is pinned until the window forgets it. */
static bool pinned(const struct vk_auth_limiter *l, const struct slot *s, int64_t now)
{
    if (forgotten(l, s, now))
        return false;
    return l->p.rate ? wait_of(l, s, now) > 0 : s->count >= l->p.free_failures;
}

/* The key's slot in its window, or NULL. Caller holds the window's mutex. */
static struct slot *find(struct vk_auth_limiter *l, const struct where *w)
{
    for (size_t i = 0; i < PROBE; i++) {
        struct slot *s = &l->slots[w->start + i];
        if (s->count != 0 && s->id[0] == w->id[0] && s->id[1] == w->id[1])
            return s;
    }
    return NULL;
}

/* A slot for a key the window does not hold: a free or forgotten one, else the least recently
 * hit entry that is not pinned, else (EVICT_OLDEST only) the least recently hit of all; NULL
 * when the key cannot be recorded. Caller holds the window's mutex. */
static struct slot *claim(struct vk_auth_limiter *l, const struct where *w, int64_t now)
{
    struct slot *unpinned = NULL, *oldest = NULL;
    for (size_t i = 0; i < PROBE; i++) {
        struct slot *c = &l->slots[w->start + i];
        if (forgotten(l, c, now))
            return c;
        if (!pinned(l, c, now) && (unpinned == NULL || c->last < unpinned->last))
            unpinned = c;
        if (oldest == NULL || c->last < oldest->last)
            oldest = c;
    }
    if (unpinned != NULL)
        return unpinned;
    return l->full == VK_LIMITER_EVICT_OLDEST ? oldest : NULL;
}

int64_t vk_auth_limiter_wait(struct vk_auth_limiter *l, vk_str key, int64_t now)
{
    if (l == NULL)
        return 0;
    struct where w;
    int64_t wait = 0;
    locate(l, key, &w);
    pthread_mutex_lock(w.mu);
    struct slot *s = find(l, &w);
    if (s != NULL && !forgotten(l, s, now))
        wait = wait_of(l, s, now);
    pthread_mutex_unlock(w.mu);
    return wait;
}

/* Records one event for key; `penalty`: first raise it to where it waits at once. */
static bool record(struct vk_auth_limiter *l, vk_str key, int64_t now, bool penalty)
{
    if (l == NULL)
        return true;
    struct where w;
    locate(l, key, &w);
    pthread_mutex_lock(w.mu);
    struct slot *s = find(l, &w);
    if (s == NULL) {
        s = claim(l, &w, now);
        if (s != NULL) {
            s->id[0] = w.id[0];
            s->id[1] = w.id[1];
            s->count = 0;
        }
    }
    if (s != NULL && forgotten(l, s, now)) {
        s->count = 0;
        s->last = now;
    }
    if (s != NULL && l->p.rate) {
        int64_t tat = s->last > now ? s->last : now;
        if (penalty && tat < now + tolerance(&l->p))
            tat = now + tolerance(&l->p);
        s->count = 1;
        s->last = tat + interval(&l->p);
    } else if (s != NULL) {
        if (penalty && s->count + 1 < l->p.free_failures)
            s->count = l->p.free_failures - 1; /* this event uses up the free attempts */
        if (s->count < UINT32_MAX)
            s->count++;
        s->last = now;
    }
    pthread_mutex_unlock(w.mu);
    return s != NULL;
}

bool vk_auth_limiter_hit(struct vk_auth_limiter *l, vk_str key, int64_t now)
{
    return record(l, key, now, false);
}

bool vk_auth_limiter_penalize(struct vk_auth_limiter *l, vk_str key, int64_t now)
{
    return record(l, key, now, true);
}

void vk_auth_limiter_reset(struct vk_auth_limiter *l, vk_str key)
{
    if (l == NULL)
        return;
    struct where w;
    locate(l, key, &w);
    pthread_mutex_lock(w.mu);
    struct slot *s = find(l, &w);
    if (s != NULL)
        memset(s, 0, sizeof *s);
    pthread_mutex_unlock(w.mu);
}

void vk_auth_addr_net(const char *addr, char *out, size_t n)
{
    struct in6_addr a6;
    struct in_addr a4;
    char buf[INET6_ADDRSTRLEN];
    const char *src = addr != NULL ? addr : "";
    if (inet_pton(AF_INET6, src, &a6) == 1) {
        static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (memcmp(a6.s6_addr, mapped, sizeof mapped) == 0) {
            memcpy(&a4, a6.s6_addr + 12, 4);
            if (inet_ntop(AF_INET, &a4, buf, sizeof buf) != NULL)
                src = buf;
        } else {
            memset(a6.s6_addr + 8, 0, 8); /* the /64: one site's network */
            if (inet_ntop(AF_INET6, &a6, buf, sizeof buf) != NULL) {
                snprintf(out, n, "%s/64", buf);
                return;
            }
        }
    } else if (inet_pton(AF_INET, src, &a4) == 1 && inet_ntop(AF_INET, &a4, buf, sizeof buf)) {
        src = buf; /* canonical form */
    }
    snprintf(out, n, "%s", src);
}
