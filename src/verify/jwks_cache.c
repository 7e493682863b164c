/* Where the verifier's keys come from, and how they stay fresh.
 *
 * A remote source runs one background thread that refetches the JWK Set every `refresh`
 * seconds. A token whose kid is not in the current set triggers one refetch in the verifying
 * thread, but only when the previous one is at least `min_refetch` seconds old (a compare-and-swap
 * on the next allowed time, so exactly one thread wins): a key rotation at the issuer is picked
 * up at the first token signed with the new key, and a flood of made-up kids costs the issuer at
 * most one request per interval. A fetch that fails keeps the current set.
 *
 * In background mode (for event-loop hosts such as nginx, whose workers must never wait on the
 * network) the thread does everything: discovery and the first fetch, retried with a doubling
 * delay, and the unknown-kid refetch, which the verifying thread only requests by waking it
 * (the same compare-and-swap rate limit). Until the first set arrives there is no set at all
 * (vk_keysrc_acquire returns NULL) and the verifier answers VALETKEY_EFETCH.
 *
 * Key sets are immutable and reference-counted; swapping one in is a pointer store under a
 * mutex held for nanoseconds. The epoch changes only when the new set lacks a key the old one
 * had, which is what must invalidate the seen-token cache: an added key cannot make an accepted
 * token wrong, a removed one can (a key withdrawn after a compromise). */
#include "verify/verify.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/limits.h"
#include "base/mem.h"

#define META_MAX (64 * 1024) /* metadata and JWK Set documents: VK_MAX_JSON_INPUT */

struct vk_keysrc {
    pthread_mutex_t mu; /* guards cur */
    struct vk_jwks *cur;
    atomic_uint_fast64_t epoch;
    bool remote;

    /* remote sources only */
    char *jwks_uri;
    char *ca_file;
    long refresh, min_refetch, timeout_ms;
    pthread_mutex_t fetch_mu;          /* one fetch at a time */
    atomic_int_least64_t next_refetch; /* verifier clock: when an unknown kid may refetch */
    atomic_ulong fetches;
    atomic_int stop;
    pthread_mutex_t tmu; /* with tcv: the refresher's sleep */
    pthread_cond_t tcv;
    bool wake;           /* under tmu: refetch now (background mode's unknown kid) */
    bool background;     /* discovery, first fetch and refetches only in the thread */
    char *issuer;        /* background mode: discovery happens in the thread */
    pthread_t thread;
    bool thread_started;
    bool curl_inited;
};

static char *dup_str(const char *s)
{
    if (s == NULL)
        return NULL;
    size_t n = strlen(s) + 1;
    char *p = vk_malloc(n);
    if (p != NULL)
        memcpy(p, s, n);
    return p;
}

static bool has_key(const struct vk_jwks *set, const struct vk_jwk *k)
{
    char want[44], have[44];
    if (vk_jwk_thumbprint(k, want) != VK_OK)
        return false;
    for (size_t i = 0; i < vk_jwks_count(set); i++) {
        const struct vk_jwk *o = vk_jwks_get(set, i);
        if (vk_jwk_alg(o) == vk_jwk_alg(k) && strcmp(vk_jwk_kid(o), vk_jwk_kid(k)) == 0 &&
            vk_jwk_thumbprint(o, have) == VK_OK && strcmp(want, have) == 0)
            return true;
    }
    return false;
}

/* Installs next (consumes the reference). */
static void install(struct vk_keysrc *ks, struct vk_jwks *next)
{
    struct vk_jwks *old;
    bool removed = false;

    pthread_mutex_lock(&ks->mu);
    old = ks->cur;
    for (size_t i = 0; old != NULL && i < vk_jwks_count(old) && !removed; i++)
        removed = !has_key(next, vk_jwks_get(old, i));
    ks->cur = next;
    if (removed)
        atomic_fetch_add_explicit(&ks->epoch, 1, memory_order_acq_rel);
    pthread_mutex_unlock(&ks->mu);
    vk_jwks_unref(old);
}

int vk_keysrc_set(struct vk_keysrc *ks, const char *json, size_t len, struct vk_err *err)
{
    struct vk_jwks *next = NULL;
    int rc = vk_jwks_parse(json, len, &next, err);
    if (rc != VK_OK)
        return rc == VK_ENOMEM ? VK_ENOMEM : VK_EINVAL;
    if (vk_jwks_count(next) == 0) {
        vk_jwks_unref(next);
        return vk_err_set(err, VK_EINVAL, "jwks: no usable signature key");
    }
    install(ks, next);
    return VK_OK;
}

static struct vk_keysrc *alloc_src(void)
{
    struct vk_keysrc *ks = vk_calloc(1, sizeof *ks);
    if (ks == NULL)
        return NULL;
    pthread_mutex_init(&ks->mu, NULL);
    pthread_mutex_init(&ks->fetch_mu, NULL);
    pthread_mutex_init(&ks->tmu, NULL);
    atomic_init(&ks->epoch, 1);
    atomic_init(&ks->next_refetch, 0);
    atomic_init(&ks->fetches, 0);
    atomic_init(&ks->stop, 0);
    return ks;
}

int vk_keysrc_new_static(const char *json, size_t len, unsigned alg_mask, struct vk_keysrc **out,
                         struct vk_err *err)
{
    (void)alg_mask; /* the verifier checks the selected key's alg against its own mask */
    struct vk_keysrc *ks = alloc_src();
    int rc;

    *out = NULL;
    if (ks == NULL)
        return vk_err_set(err, VK_ENOMEM, "out of memory");
    rc = vk_keysrc_set(ks, json, len, err);
    if (rc != VK_OK) {
        vk_keysrc_free(ks);
        return rc;
    }
    *out = ks;
    return VK_OK;
}

/* ---- remote ---- */

static int fetch_doc(struct vk_keysrc *ks, const char *url, struct vk_buf *out,
                     struct vk_err *err)
{
    struct vk_fetch_opts fo = {
        .timeout_ms = ks->timeout_ms, .ca_file = ks->ca_file, .max_bytes = META_MAX,
        .cancel = &ks->stop};
    vk_buf_clear(out);
    vk_buf_init(out, META_MAX);
    atomic_fetch_add_explicit(&ks->fetches, 1, memory_order_relaxed);
    return vk_fetch(url, &fo, out, err);
}

/* Fetches jwks_uri and installs the set. Serialized by fetch_mu. */
static int refetch(struct vk_keysrc *ks, struct vk_err *err)
{
    struct vk_buf body;
    int rc;

    vk_buf_init(&body, META_MAX);
    pthread_mutex_lock(&ks->fetch_mu);
    rc = fetch_doc(ks, ks->jwks_uri, &body, err);
    if (rc == VK_OK)
        rc = vk_keysrc_set(ks, body.p, body.len, err);
    if (rc != VK_OK && rc != VK_ENOMEM)
        rc = VK_EIO; /* whatever the issuer served, it is not usable: a fetch failure */
    pthread_mutex_unlock(&ks->fetch_mu);
    vk_buf_clear(&body);
    return rc;
}

/* RFC 8414 §3.1: the well-known path goes between the host and the issuer's path; OpenID
 * Connect Discovery §4 appends it to the issuer instead. Both are the same when the issuer has
 * no path (valetkey's). */
static char *metadata_url(const char *issuer, bool oidc)
{
    const char *rfc8414 = "/.well-known/oauth-authorization-server";
    const char *openid = "/.well-known/openid-configuration";
    const char *scheme_end = strstr(issuer, "://");
    if (scheme_end == NULL)
        return NULL;
    const char *path = strchr(scheme_end + 3, '/');
    size_t hostlen = path != NULL ? (size_t)(path - issuer) : strlen(issuer);
    size_t plen = path != NULL ? strlen(path) : 0;
    if (plen > 0 && path[plen - 1] == '/')
        plen--; /* "https://as/" is "https://as" here */
    const char *wk = oidc ? openid : rfc8414;
    size_t n = hostlen + strlen(wk) + plen + 1;
    char *u = vk_malloc(n);
    if (u == NULL)
        return NULL;
    memcpy(u, issuer, hostlen);
    if (oidc) {
        memcpy(u + hostlen, path != NULL ? path : "", plen);
        memcpy(u + hostlen + plen, wk, strlen(wk) + 1);
    } else {
        memcpy(u + hostlen, wk, strlen(wk));
        memcpy(u + hostlen + strlen(wk), path != NULL ? path : "", plen);
        u[n - 1] = '\0';
    }
    return u;
}

/* Reads jwks_uri from the issuer's metadata, which must name the same issuer (RFC 8414 §3.3,
 * OpenID Connect Discovery §4.3: otherwise another server's keys could be fetched). */
static int discover(struct vk_keysrc *ks, const char *issuer, struct vk_err *err)
{
    struct vk_buf body;
    json_t *meta = NULL;
    int rc = VK_EIO;

    vk_buf_init(&body, META_MAX);
    for (int oidc = 0; oidc < 2; oidc++) {
        char *url = metadata_url(issuer, oidc != 0);
        if (url == NULL) {
            rc = vk_err_set(err, VK_ENOMEM, "discovery: out of memory");
            goto out;
        }
        rc = fetch_doc(ks, url, &body, err);
        vk_free(url);
        if (rc == VK_OK || rc == VK_ENOMEM)
            break;
    }
    if (rc != VK_OK)
        goto out;
    meta = vk_json_load(body.p, body.len, &rc);
    if (meta == NULL && rc == VK_ENOMEM) {
        rc = vk_err_set(err, VK_ENOMEM, "discovery: out of memory");
        goto out;
    }
    const json_t *iss = json_object_get(meta, "issuer");
    const json_t *uri = json_object_get(meta, "jwks_uri");
    if (!json_is_object(meta) || !json_is_string(iss) || !json_is_string(uri)) {
        rc = vk_err_set(err, VK_EIO, "discovery: the metadata has no issuer or jwks_uri");
        goto out;
    }
    if (strcmp(json_string_value(iss), issuer) != 0) {
        rc = vk_err_set(err, VK_EIO, "discovery: the metadata names another issuer");
        goto out;
    }
    if (!vk_fetch_url_allowed(json_string_value(uri))) {
        rc = vk_err_set(err, VK_EIO, "discovery: jwks_uri is not https (or http on loopback)");
        goto out;
    }
    ks->jwks_uri = dup_str(json_string_value(uri));
    rc = ks->jwks_uri != NULL ? VK_OK : vk_err_set(err, VK_ENOMEM, "discovery: out of memory");
out:
    json_decref(meta);
    vk_buf_clear(&body);
    return rc;
}

/* The first fetch in background mode is retried after 1, 2, 4, ... seconds, up to this or the
 * refresh interval, whichever is shorter: an issuer that starts after its resource servers (a
 * whole deployment booting) is picked up within seconds, and one that is down is not hammered. */
#define FIRST_FETCH_MAX_DELAY 30

static void *refresher(void *arg)
{
    struct vk_keysrc *ks = arg;
    bool loaded = !ks->background; /* otherwise nothing is fetched yet */
    long delay = loaded ? ks->refresh : 0, backoff = 1;

    for (;;) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += delay;
        pthread_mutex_lock(&ks->tmu);
        int w = 0;
        while (atomic_load(&ks->stop) == 0 && !ks->wake && delay > 0 && w != ETIMEDOUT)
            w = pthread_cond_timedwait(&ks->tcv, &ks->tmu, &ts);
        ks->wake = false;
        pthread_mutex_unlock(&ks->tmu);
        if (atomic_load(&ks->stop) != 0)
            return NULL;
        struct vk_err err = {{0}};
        int rc = VK_OK;
        if (ks->jwks_uri == NULL) /* background mode, discovery not done yet */
            rc = discover(ks, ks->issuer, &err);
        if (rc == VK_OK)
            rc = refetch(ks, &err); /* a failure keeps the current set; the next round retries */
        if (rc == VK_OK)
            loaded = true;
        if (loaded) {
            delay = ks->refresh;
        } else {
            long cap = ks->refresh < FIRST_FETCH_MAX_DELAY ? ks->refresh : FIRST_FETCH_MAX_DELAY;
            delay = backoff < cap ? backoff : cap;
            backoff = delay * 2;
        }
    }
}

static int start_refresher(struct vk_keysrc *ks)
{
    pthread_condattr_t ca;
    if (pthread_condattr_init(&ca) != 0)
        return VK_ENOMEM;
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    int e = pthread_cond_init(&ks->tcv, &ca);
    pthread_condattr_destroy(&ca);
    if (e != 0)
        return VK_ENOMEM;
    if (pthread_create(&ks->thread, NULL, refresher, ks) != 0) {
        pthread_cond_destroy(&ks->tcv);
        return VK_ENOMEM;
    }
    ks->thread_started = true;
    return VK_OK;
}

int vk_keysrc_new_remote(const struct vk_keysrc_opts *o, int64_t now, struct vk_keysrc **out,
                         struct vk_err *err)
{
    struct vk_keysrc *ks;
    int rc;

    *out = NULL;
    if (o->issuer == NULL || (o->jwks_uri != NULL && !vk_fetch_url_allowed(o->jwks_uri)) ||
        (o->jwks_uri == NULL && !vk_fetch_url_allowed(o->issuer)))
        return vk_err_set(err, VK_EINVAL, "keys: URLs must be https (or http on loopback)");
    ks = alloc_src();
    if (ks == NULL)
        return vk_err_set(err, VK_ENOMEM, "out of memory");
    ks->remote = true;
    ks->background = o->background;
    ks->refresh = o->refresh;
    ks->min_refetch = o->min_refetch;
    ks->timeout_ms = o->timeout_ms;
    rc = vk_fetch_global_init();
    if (rc != VK_OK) {
        rc = vk_err_set(err, VK_EIO, "keys: libcurl initialisation failed");
        goto out;
    }
    ks->curl_inited = true;
    if (o->ca_file != NULL && (ks->ca_file = dup_str(o->ca_file)) == NULL) {
        rc = vk_err_set(err, VK_ENOMEM, "out of memory");
        goto out;
    }
    if (o->jwks_uri != NULL) {
        ks->jwks_uri = dup_str(o->jwks_uri);
        rc = ks->jwks_uri != NULL ? VK_OK : vk_err_set(err, VK_ENOMEM, "out of memory");
    } else if (ks->background) {
        ks->issuer = dup_str(o->issuer);
        rc = ks->issuer != NULL ? VK_OK : vk_err_set(err, VK_ENOMEM, "out of memory");
    } else {
        rc = discover(ks, o->issuer, err);
    }
    if (rc != VK_OK)
        goto out;
    if (!ks->background) {
        rc = refetch(ks, err);
        if (rc != VK_OK)
            goto out;
    }
    /* In background mode the first fetch is under way: an unknown kid has nothing to gain
     * from another one within the interval either. */
    atomic_store(&ks->next_refetch, now + ks->min_refetch);
    rc = start_refresher(ks);
    if (rc != VK_OK) {
        rc = vk_err_set(err, rc, "keys: cannot start the refresh thread");
        goto out;
    }
    *out = ks;
    return VK_OK;
out:
    vk_keysrc_free(ks);
    return rc;
}

void vk_keysrc_free(struct vk_keysrc *ks)
{
    if (ks == NULL)
        return;
    if (ks->thread_started) {
        pthread_mutex_lock(&ks->tmu);
        atomic_store(&ks->stop, 1); /* also aborts a transfer in progress (fetch.c) */
        pthread_cond_signal(&ks->tcv);
        pthread_mutex_unlock(&ks->tmu);
        pthread_join(ks->thread, NULL);
        pthread_cond_destroy(&ks->tcv);
    }
    if (ks->curl_inited)
        vk_fetch_global_cleanup();
    vk_jwks_unref(ks->cur);
    vk_free(ks->jwks_uri);
    vk_free(ks->issuer);
    vk_free(ks->ca_file);
    pthread_mutex_destroy(&ks->mu);
    pthread_mutex_destroy(&ks->fetch_mu);
    pthread_mutex_destroy(&ks->tmu);
    vk_free(ks);
}

struct vk_jwks *vk_keysrc_acquire(struct vk_keysrc *ks, uint64_t *epoch)
{
    pthread_mutex_lock(&ks->mu);
    struct vk_jwks *s = vk_jwks_ref(ks->cur);
    if (epoch != NULL)
        *epoch = atomic_load_explicit(&ks->epoch, memory_order_acquire);
    pthread_mutex_unlock(&ks->mu);
    return s;
}

uint64_t vk_keysrc_epoch(struct vk_keysrc *ks)
{
    return atomic_load_explicit(&ks->epoch, memory_order_acquire);
}

bool vk_keysrc_refetch(struct vk_keysrc *ks, int64_t now)
{
    int_least64_t next = atomic_load(&ks->next_refetch);
    struct vk_err err = {{0}};

    if (!ks->remote || now < next)
        return false;
    /* One winner per interval; everyone else answers "unknown key" at once. */
    if (!atomic_compare_exchange_strong(&ks->next_refetch, &next, now + ks->min_refetch))
        return false;
    if (ks->background) {
        /* The caller must not wait for the network: the refresher fetches, this token is
         * refused, and the next one signed with the new key finds it. */
        pthread_mutex_lock(&ks->tmu);
        ks->wake = true;
        pthread_cond_signal(&ks->tcv);
        pthread_mutex_unlock(&ks->tmu);
        return false;
    }
    return refetch(ks, &err) == VK_OK;
}

unsigned long vk_keysrc_fetches(struct vk_keysrc *ks)
{
    return atomic_load_explicit(&ks->fetches, memory_order_relaxed);
}
