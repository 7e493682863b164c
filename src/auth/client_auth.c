#include "auth/auth.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "base/limits.h"

#define SLOTS 4096
#define STRIPES 64

struct slot {
    uint8_t key[8]; /* first bytes of SHA-256(key) */
    unsigned failures;
    int64_t last_failure;
};

struct vk_auth_limiter {
    struct vk_limit_policy p;
    pthread_mutex_t mu[STRIPES];
    struct slot slots[SLOTS];
};

int vk_auth_limiter_new(const struct vk_limit_policy *p, struct vk_auth_limiter **out)
{
    struct vk_auth_limiter *l = calloc(1, sizeof *l);
    *out = NULL;
    if (l == NULL)
        return VK_ENOMEM;
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
    free(l);
}

/* Returns the slot index for a key and its short digest. A collision makes two keys share a
 * slot: at worst one is slowed down by the other's failures, never let through. */
static size_t slot_of(vk_str id, uint8_t key[8])
{
    uint8_t d[VK_DIGEST_LEN];
    vk_sha256(id.p, id.len, d);
    memcpy(key, d, 8);
    return ((size_t)d[8] << 8 | d[9]) % SLOTS;
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

int64_t vk_auth_limiter_wait(struct vk_auth_limiter *l, vk_str id, int64_t now)
{
    if (l == NULL)
        return 0;
    uint8_t key[8];
    size_t i = slot_of(id, key);
    pthread_mutex_t *mu = &l->mu[i % STRIPES];
    int64_t wait = 0;
    pthread_mutex_lock(mu);
    struct slot *s = &l->slots[i];
    if (memcmp(s->key, key, 8) == 0 && now - s->last_failure < l->p.window) {
        int64_t until = s->last_failure + delay_for(&l->p, s->failures);
        wait = until > now ? until - now : 0;
    }
    pthread_mutex_unlock(mu);
    return wait;
}

void vk_auth_limiter_fail(struct vk_auth_limiter *l, vk_str id, int64_t now)
{
    if (l == NULL)
        return;
    uint8_t key[8];
    size_t i = slot_of(id, key);
    pthread_mutex_t *mu = &l->mu[i % STRIPES];
    pthread_mutex_lock(mu);
    struct slot *s = &l->slots[i];
    if (memcmp(s->key, key, 8) != 0 || now - s->last_failure >= l->p.window) {
        memcpy(s->key, key, 8);
        s->failures = 0;
    }
    s->failures++;
    s->last_failure = now;
    pthread_mutex_unlock(mu);
}

void vk_auth_limiter_reset(struct vk_auth_limiter *l, vk_str id)
{
    if (l == NULL)
        return;
    uint8_t key[8];
    size_t i = slot_of(id, key);
    pthread_mutex_t *mu = &l->mu[i % STRIPES];
    pthread_mutex_lock(mu);
    struct slot *s = &l->slots[i];
    if (memcmp(s->key, key, 8) == 0)
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
                           int64_t now, struct vk_client *out, struct vk_oauth_err *oe)
{
    static const uint8_t dummy[VK_DIGEST_LEN];
    memset(out, 0, sizeof *out);
    if (cr->method == VK_CLIENT_AUTH_NONE)
        return fail(oe, cr, "client authentication is required");
    if (!vk_client_id_syntax_ok(cr->client_id))
        return fail(oe, cr, "client authentication failed");
    if (vk_auth_limiter_wait(lim, cr->client_id, now) > 0)
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
    vk_auth_limiter_fail(lim, cr->client_id, now);
    memset(out, 0, sizeof *out);
    return fail(oe, cr, "client authentication failed");
}
