#include "auth/auth.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/limits.h"

/* The limiter is an open-addressing table keyed by the full SHA-256 of the key, so two keys never
 * share an entry (an earlier version keyed slots by a few digest bytes, and a colliding key chosen
 * offline could reset a victim's count). An insertion probes PROBE slots and takes an empty or
 * forgotten one, else the least-failed entry that still has free attempts left; an entry that has
 * used them up is never evicted. When every probed entry is pinned like that, the new key is refused too:
 * under such a flood, failing closed for new keys beats letting anyone through. */
#define SLOTS 65536
#define PROBE 16
#define STRIPES 64

struct slot {
    uint8_t key[VK_DIGEST_LEN];
    unsigned failures; /* 0: the slot is free */
    int64_t last_failure;
};

struct vk_auth_limiter {
    struct vk_limit_policy p;
    pthread_mutex_t mu[STRIPES];
    struct slot *slots;
};

int vk_auth_limiter_new(const struct vk_limit_policy *p, struct vk_auth_limiter **out)
{
    struct vk_auth_limiter *l = calloc(1, sizeof *l);
    *out = NULL;
    if (l == NULL)
        return VK_ENOMEM;
    l->slots = calloc(SLOTS, sizeof *l->slots);
    if (l->slots == NULL) {
        free(l);
        return VK_ENOMEM;
    }
    l->p = *p;
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
    free(l->slots);
    free(l);
}

static int64_t delay_for(const struct vk_limit_policy *p, unsigned failures)
{
    if (failures < p->free_failures)
        return 0;
    unsigned k = failures - p->free_failures;
    int64_t d = p->base_delay;
    while (k-- > 0 && d < p->max_delay)
        d *= 2;
    return d < p->max_delay ? d : p->max_delay;
}

/* The probe window of a key: PROBE consecutive slots inside one stripe's range, so one mutex
 * guards the whole window. */
static size_t window_of(vk_str id, uint8_t key[VK_DIGEST_LEN], pthread_mutex_t **mu,
                        struct vk_auth_limiter *l)
{
    vk_sha256(id.p, id.len, key);
    size_t h = ((size_t)key[0] << 24 | (size_t)key[1] << 16 | (size_t)key[2] << 8 | key[3]);
    size_t start = (h % (SLOTS / PROBE)) * PROBE;
    *mu = &l->mu[(start / PROBE) % STRIPES];
    return start;
}

static bool forgotten(const struct vk_auth_limiter *l, const struct slot *s, int64_t now)
{
    return s->failures == 0 || now - s->last_failure >= l->p.window;
}

/* An entry that has used up its free failures is pinned until the window forgets it: evicting it
 * would hand its key a fresh set of free attempts. */
static bool pinned(const struct vk_auth_limiter *l, const struct slot *s, int64_t now)
{
    return !forgotten(l, s, now) && s->failures >= l->p.free_failures;
}

/* The key's slot in its window, or NULL. Caller holds the window's mutex. */
static struct slot *find(struct vk_auth_limiter *l, size_t start, const uint8_t *key)
{
    for (size_t i = 0; i < PROBE; i++) {
        struct slot *s = &l->slots[start + i];
        if (s->failures != 0 && memcmp(s->key, key, VK_DIGEST_LEN) == 0)
            return s;
    }
    return NULL;
}

int64_t vk_auth_limiter_wait(struct vk_auth_limiter *l, vk_str id, int64_t now)
{
    if (l == NULL)
        return 0;
    uint8_t key[VK_DIGEST_LEN];
    pthread_mutex_t *mu;
    size_t start = window_of(id, key, &mu, l);
    int64_t wait = 0;
    pthread_mutex_lock(mu);
    struct slot *s = find(l, start, key);
    if (s != NULL && !forgotten(l, s, now)) {
        int64_t until = s->last_failure + delay_for(&l->p, s->failures);
        wait = until > now ? until - now : 0;
    } else if (s == NULL) {
        /* A key that could not be recorded (every probed entry is limiting) waits too. */
        bool all_limiting = true;
        for (size_t i = 0; i < PROBE && all_limiting; i++)
            all_limiting = pinned(l, &l->slots[start + i], now);
        if (all_limiting)
            wait = 1;
    }
    pthread_mutex_unlock(mu);
    return wait;
}

void vk_auth_limiter_fail(struct vk_auth_limiter *l, vk_str id, int64_t now)
{
    if (l == NULL)
        return;
    uint8_t key[VK_DIGEST_LEN];
    pthread_mutex_t *mu;
    size_t start = window_of(id, key, &mu, l);
    pthread_mutex_lock(mu);
    struct slot *s = find(l, start, key);
    if (s != NULL && forgotten(l, s, now))
        s->failures = 0;
    if (s == NULL) {
        struct slot *victim = NULL;
        for (size_t i = 0; i < PROBE; i++) {
            struct slot *c = &l->slots[start + i];
            if (forgotten(l, c, now)) {
                victim = c;
                break;
            }
            if (!pinned(l, c, now) &&
                (victim == NULL || c->failures < victim->failures ||
                 (c->failures == victim->failures && c->last_failure < victim->last_failure)))
                victim = c;
        }
        if (victim != NULL) {
            memcpy(victim->key, key, VK_DIGEST_LEN);
            victim->failures = 0;
            s = victim;
        }
    }
    if (s != NULL) {
        s->failures++;
        s->last_failure = now;
    }
    pthread_mutex_unlock(mu);
}

void vk_auth_limiter_reset(struct vk_auth_limiter *l, vk_str id)
{
    if (l == NULL)
        return;
    uint8_t key[VK_DIGEST_LEN];
    pthread_mutex_t *mu;
    size_t start = window_of(id, key, &mu, l);
    pthread_mutex_lock(mu);
    struct slot *s = find(l, start, key);
    if (s != NULL)
        memset(s, 0, sizeof *s);
    pthread_mutex_unlock(mu);
}

bool vk_client_id_syntax_ok(vk_str id)
{
    return id.len > 0 && id.len <= VK_MAX_ID_LEN && vk_str_is_visible_ascii(id, false);
}

static int fail(struct vk_oauth_err *oe, const struct vk_client_creds *cr, const char *desc)
{
    oe->www_auth = cr->method == VK_CLIENT_AUTH_BASIC;
    return vk_oauth_fail(oe, 401, "invalid_client", desc);
}

/* Checks credentials against one client record: 0 when they match. */
static bool creds_match(const struct vk_client_creds *cr, const struct vk_client *c,
                        bool allow_public)
{
    if (!c->has_secret) /* a public client has no secret to present (OAuth 2.1 §2.4, "none") */
        return cr->method == VK_CLIENT_AUTH_PUBLIC && allow_public;
    if (cr->method == VK_CLIENT_AUTH_PUBLIC)
        return false;
    uint8_t d[VK_DIGEST_LEN];
    vk_sha256(cr->secret.p, cr->secret.len, d);
    return vk_ct_eq_digest(d, c->secret_digest);
}

int vk_client_authenticate(struct vk_client_cache *cc, struct vk_auth_limiter *lim,
                           struct vk_arena *a, const struct vk_client_creds *cr, bool allow_public,
                           const char *peer, int64_t now, struct vk_client *out,
                           struct vk_oauth_err *oe)
{
    static const uint8_t dummy[VK_DIGEST_LEN];
    memset(out, 0, sizeof *out);
    if (cr->method == VK_CLIENT_AUTH_NONE)
        return fail(oe, cr, "client authentication is required");
    if (!vk_client_id_syntax_ok(cr->client_id))
        return fail(oe, cr, "client authentication failed");
    /* Failures count per client id AND source address: client ids are public, so a count per id
     * alone would let anyone lock a client out of the token endpoint. */
    char keybuf[VK_MAX_ID_LEN + 80];
    int kn = snprintf(keybuf, sizeof keybuf, "%.*s|%s", (int)cr->client_id.len, cr->client_id.p,
                      peer != NULL ? peer : "");
    vk_str key = {keybuf, kn > 0 && (size_t)kn < sizeof keybuf ? (size_t)kn : 0};
    if (vk_auth_limiter_wait(lim, key, now) > 0)
        return fail(oe, cr, "too many failed attempts; try again later");
    int rc = vk_client_cache_get(cc, a, cr->client_id, now, false, out);
    if (rc == VK_OK && creds_match(cr, out, allow_public))
        return VK_OK;
    if (rc == VK_OK || rc == VK_ENOTFOUND) /* maybe stale: ask the store itself */
        rc = vk_client_cache_get(cc, a, cr->client_id, now, true, out);
    if (rc == VK_OK && creds_match(cr, out, allow_public))
        return VK_OK;
    if (rc != VK_OK && rc != VK_ENOTFOUND)
        return rc;
    if (rc == VK_ENOTFOUND) {
        /* Same work and the same answer as a wrong secret: no oracle for valid client ids. */
        uint8_t d[VK_DIGEST_LEN];
        vk_sha256(cr->secret.p, cr->secret.len, d);
        (void)vk_ct_eq_digest(d, dummy);
    }
    /* A public client has no secret to guess: a malformed attempt is refused, not counted. */
    if (rc == VK_ENOTFOUND || out->has_secret)
        vk_auth_limiter_fail(lim, key, now);
    memset(out, 0, sizeof *out);
    return fail(oe, cr, "client authentication failed");
}
