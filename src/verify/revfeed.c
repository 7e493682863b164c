/* The revocation feed client: follows the authorization server's GET /revocations
 * (docs/revocations.md) and puts every event on the verifier's revocation list.
 *
 * One background thread long-polls `url?after=N&wait=W`: the server answers at once when it has
 * events past N, else holds the request up to W seconds and answers as soon as one commits. Each
 * event is applied (the verifier's revoke: from its return on, no verification accepts a token it
 * names, cached ones included) before `after` moves past it, so an event is never skipped: a
 * failure stops at the event that failed and the next poll asks for it again. Re-applying an
 * event is harmless (a revocation is a set insertion).
 *
 * Staleness is what the operator's policy acts on. The verifier is current while a poll is
 * outstanding within its deadline (the server would have answered with anything new); once a
 * poll fails or overruns, staleness counts from the last moment it was known current. A server
 * that stops answering without closing the connection is noticed at the poll's deadline (wait +
 * the HTTP timeout), which bounds how long staleness can be under-reported. */
#include "verify/verify.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "base/crypto.h"
#include "base/mem.h"

#define FEED_MAX_BYTES (64 * 1024) /* one page; the server keeps its pages below this */
#define FEED_VALUE_MAX 255         /* a jti, client id or subject in an event */
#define BACKOFF_MIN_MS 250
#define BACKOFF_MAX_MS 5000
#define QUICK_EMPTY_MS 200  /* an empty answer faster than this: the server did not hold it */
#define QUICK_PAUSE_MS 1000 /* ...so the next poll waits this long (no hot loop) */
#define START_PAGES 10000   /* pages read before valetkey_verifier_new returns, at most */

struct vk_revfeed {
    char *url;          /* without query */
    char *user, *pass;  /* form-urlencoded (RFC 6749 §2.3.1) */
    char *ca_file;
    long wait, timeout_ms;
    int (*apply)(void *arg, enum vk_revoke_kind kind, vk_str value, int64_t until);
    void *apply_arg;
    struct vk_fetch_conn *conn; /* the feed thread's only */
    uint64_t after;             /* the feed thread's only */

    /* Published to verifying threads (monotonic milliseconds). */
    atomic_int_least64_t current_ms;     /* known current as of then */
    atomic_int_least64_t fresh_until_ms; /* current until then, unless a poll fails first */
    atomic_uint_least64_t seq;           /* events applied up to this seq */
    atomic_bool overflow;                /* the revocation list refused an event */
    atomic_bool synced;                  /* a poll succeeded at least once */
    atomic_ulong polls;

    atomic_int stop;
    pthread_mutex_t mu; /* with cv: the thread's pauses */
    pthread_cond_t cv;
    pthread_t thread;
    bool thread_started;
    bool curl_inited;
};

static int64_t mono_ms(void)
{
    return vk_mono_us() / 1000;
}

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = vk_malloc(n);
    if (p != NULL)
        memcpy(p, s, n);
    return p;
}

/* ---- one page ---- */

static bool value_ok(const json_t *v, vk_str *out)
{
    if (!json_is_string(v))
        return false;
    size_t n = json_string_length(v);
    const char *s = json_string_value(v);
    if (n == 0 || n > FEED_VALUE_MAX || strlen(s) != n)
        return false;
    *out = (vk_str){s, n};
    return true;
}

int vk_revfeed_apply_doc(const char *body, size_t len, uint64_t after,
                         int (*apply)(void *arg, enum vk_revoke_kind kind, vk_str value,
                                      int64_t until),
                         void *arg, uint64_t *next, size_t *applied)
{
    json_t *doc = NULL;
    uint64_t last = after;
    int rc;

    *next = after;
    *applied = 0;
    doc = vk_json_load(body, len, &rc);
    if (doc == NULL)
        return rc == VK_ENOMEM ? VK_ENOMEM : VK_EINVAL;
    const json_t *events = json_object_get(doc, "events");
    const json_t *jnext = json_object_get(doc, "next");
    if (!json_is_object(doc) || !json_is_array(events) || !json_is_integer(jnext) ||
        json_integer_value(jnext) < 0) {
        rc = VK_EINVAL;
        goto out;
    }
    /* `next` may pass the last event (events not served, or none), never fall short of it; a
     * `next` below `after` means the server's log is behind us (a new database). */
    size_t nev = json_array_size(events);
    uint64_t n = (uint64_t)json_integer_value(jnext);
    const json_t *lastseq = json_object_get(json_array_get(events, nev - 1), "seq");
    if (nev > 0 && (!json_is_integer(lastseq) || n < (uint64_t)json_integer_value(lastseq))) {
        rc = VK_EINVAL;
        goto out;
    }
    uint64_t prev = 0;
    for (size_t i = 0; i < nev; i++) {
        const json_t *e = json_array_get(events, i);
        const json_t *seq = json_object_get(e, "seq"), *type = json_object_get(e, "type");
        const json_t *exp = json_object_get(e, "exp");
        enum vk_revoke_kind kind;
        const char *member;
        vk_str value;
        /* Sequence numbers only go up: anything else is not the feed we asked for. */
        if (!json_is_object(e) || !json_is_integer(seq) || json_integer_value(seq) <= 0 ||
            (uint64_t)json_integer_value(seq) <= prev || !json_is_string(type) ||
            !json_is_integer(exp)) {
            rc = VK_EINVAL;
            goto out;
        }
        prev = (uint64_t)json_integer_value(seq);
        if (prev <= after)
            continue; /* applied before (a page asked for again): applying twice is harmless,
                         skipping is cheaper */
        const char *t = json_string_value(type);
        if (strcmp(t, "jti") == 0) {
            kind = VK_REVOKE_JTI;
            member = "jti";
        } else if (strcmp(t, "client") == 0) {
            kind = VK_REVOKE_CLIENT;
            member = "client_id";
        } else if (strcmp(t, "sub") == 0) {
            kind = VK_REVOKE_SUB;
            member = "sub";
        } else {
            /* A type this version does not know: the server adds only types that restate what
             * the known ones already cover (docs/revocations.md), so it is passed over. */
            last = (uint64_t)json_integer_value(seq);
            continue;
        }
        if (!value_ok(json_object_get(e, member), &value)) {
            rc = VK_EINVAL;
            goto out;
        }
        rc = apply(arg, kind, value, (int64_t)json_integer_value(exp));
        if (rc != VK_OK)
            goto out; /* `last` stays before this event: it is asked for again */
        last = (uint64_t)json_integer_value(seq);
        (*applied)++;
    }
    last = n;
    rc = VK_OK;
out:
    *next = last;
    json_decref(doc);
    return rc;
}

/* ---- the thread ---- */

/* Pauses up to ms, or until stop. */
static void pause_ms(struct vk_revfeed *f, long ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&f->mu);
    int w = 0;
    while (atomic_load(&f->stop) == 0 && w != ETIMEDOUT)
        w = pthread_cond_timedwait(&f->cv, &f->mu, &ts);
    pthread_mutex_unlock(&f->mu);
}

static void mark_current(struct vk_revfeed *f, int64_t now)
{
    atomic_store(&f->current_ms, now);
    /* The next poll may be held `wait` seconds; past its deadline we no longer know. */
    atomic_store(&f->fresh_until_ms, now + 1000 * f->wait + f->timeout_ms);
    atomic_store(&f->synced, true);
}

static void mark_failed(struct vk_revfeed *f, int64_t now)
{
    int64_t fresh = atomic_load(&f->fresh_until_ms);
    int64_t cur = atomic_load(&f->current_ms);
    int64_t known = now < fresh ? now : fresh; /* current until the failure, at most */
    if (known > cur)
        atomic_store(&f->current_ms, known);
    /* After current_ms: a reader that sees fresh_until 0 sees the current_ms written before. */
    atomic_store(&f->fresh_until_ms, 0);
}

/* One poll. wait: seconds the server may hold it. VK_OK with *applied events, or the failure. */
static int poll_once(struct vk_revfeed *f, long wait, size_t *applied)
{
    char url[2304];
    struct vk_buf body;
    struct vk_err err = {{0}};
    long status = 0;
    uint64_t next = f->after;
    int rc;

    *applied = 0;
    int n = snprintf(url, sizeof url, "%s?after=%llu&wait=%ld", f->url,
                     (unsigned long long)f->after, wait);
    if (n < 0 || (size_t)n >= sizeof url)
        return VK_ETOOBIG;
    struct vk_fetch_opts fo = {
        .timeout_ms = 1000 * wait + f->timeout_ms,
        .ca_file = f->ca_file,
        .max_bytes = FEED_MAX_BYTES,
        .cancel = &f->stop,
        .username = f->user,
        .password = f->pass,
        .conn = f->conn,
        .status = &status,
    };
    vk_buf_init(&body, FEED_MAX_BYTES);
    atomic_fetch_add_explicit(&f->polls, 1, memory_order_relaxed);
    rc = vk_fetch(url, &fo, &body, &err);
    if (rc == VK_ETOOBIG)
        rc = VK_EIO; /* an oversized page: a broken feed, not a full revocation list */
    if (rc == VK_OK)
        rc = vk_revfeed_apply_doc(body.p, body.len, f->after, f->apply, f->apply_arg, &next,
                                  applied);
    if (rc == VK_OK && next < f->after)
        next = 0; /* the server's log went backwards: read it all again (idempotent) */
    if (rc == VK_OK || *applied > 0) {
        f->after = next;
        atomic_store(&f->seq, next);
    }
    if (rc == VK_ETOOBIG)
        atomic_store(&f->overflow, true);
    else if (rc == VK_OK)
        atomic_store(&f->overflow, false);
    vk_buf_clear(&body);
    return rc;
}

static void *feed_main(void *arg)
{
    struct vk_revfeed *f = arg;
    long backoff = BACKOFF_MIN_MS;
    while (atomic_load(&f->stop) == 0) {
        size_t applied = 0;
        int64_t t0 = mono_ms();
        /* The first read does not wait (as in vk_revfeed_new without background): a verifier
         * that has not read the feed yet must catch up now, not when something happens. */
        int rc = poll_once(f, atomic_load(&f->synced) ? f->wait : 0, &applied);
        int64_t t1 = mono_ms();
        if (atomic_load(&f->stop) != 0)
            break;
        if (rc == VK_OK) {
            mark_current(f, t1);
            backoff = BACKOFF_MIN_MS;
            if (applied == 0 && t1 - t0 < QUICK_EMPTY_MS)
                pause_ms(f, QUICK_PAUSE_MS);
            continue;
        }
        mark_failed(f, t1);
        pause_ms(f, backoff);
        backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
    }
    return NULL;
}

/* ---- lifecycle ---- */

int vk_revfeed_new(const struct vk_revfeed_opts *o, struct vk_revfeed **out,
                   struct vk_err *err)
{
    struct vk_revfeed *f;
    int rc = VK_ENOMEM;

    *out = NULL;
    if (o->url == NULL || strchr(o->url, '?') != NULL || strchr(o->url, '#') != NULL ||
        strlen(o->url) > 2048 || !vk_fetch_url_allowed(o->url))
        return vk_err_set(err, VK_EINVAL,
                          "revocations: the URL must be https (or http on loopback), no query");
    if (o->client_id == NULL || o->client_secret == NULL || o->client_id[0] == '\0' ||
        strlen(o->client_id) > 255 || strlen(o->client_secret) > 1024)
        return vk_err_set(err, VK_EINVAL, "revocations: client credentials are required");
    if (o->wait < 1 || o->wait > 60 || o->timeout_ms < 1)
        return vk_err_set(err, VK_EINVAL, "revocations: bad wait or timeout");
    f = vk_calloc(1, sizeof *f);
    if (f == NULL)
        return vk_err_set(err, VK_ENOMEM, "out of memory");
    pthread_mutex_init(&f->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&f->cv, &ca);
    pthread_condattr_destroy(&ca);
    atomic_init(&f->stop, 0);
    atomic_init(&f->current_ms, mono_ms()); /* staleness counts from creation until a sync */
    atomic_init(&f->fresh_until_ms, 0);
    atomic_init(&f->seq, 0);
    atomic_init(&f->overflow, false);
    atomic_init(&f->synced, false);
    atomic_init(&f->polls, 0);
    f->wait = o->wait;
    f->timeout_ms = o->timeout_ms;
    f->apply = o->apply;
    f->apply_arg = o->apply_arg;
    if ((f->url = dup_str(o->url)) == NULL ||
        (f->user = vk_fetch_form_encode(o->client_id)) == NULL ||
        (f->pass = vk_fetch_form_encode(o->client_secret)) == NULL ||
        (o->ca_file != NULL && (f->ca_file = dup_str(o->ca_file)) == NULL)) {
        rc = vk_err_set(err, VK_ENOMEM, "out of memory");
        goto fail;
    }
    if (vk_fetch_global_init() != VK_OK) {
        rc = vk_err_set(err, VK_EIO, "revocations: libcurl initialisation failed");
        goto fail;
    }
    f->curl_inited = true;
    if (vk_fetch_conn_new(&f->conn) != VK_OK) {
        rc = vk_err_set(err, VK_ENOMEM, "out of memory");
        goto fail;
    }
    /* The first page now, without waiting: a verifier that can reach the feed starts with every
     * revocation the server holds. One that cannot still starts (the keys may be static, the
     * server may be restarting); its staleness counts from now and the policy applies. A host
     * that must never wait (an event loop: background_fetch) leaves it to the thread. */
    if (!o->background) {
        size_t applied;
        int64_t now;
        int pages = 0;
        do {
            rc = poll_once(f, 0, &applied);
        } while (rc == VK_OK && applied > 0 && ++pages < START_PAGES);
        now = mono_ms();
        if (rc == VK_OK)
            mark_current(f, now);
        else if (rc == VK_ENOMEM)
            goto fail_nomem;
    }
    if (pthread_create(&f->thread, NULL, feed_main, f) != 0) {
        rc = vk_err_set(err, VK_ENOMEM, "revocations: cannot start the feed thread");
        goto fail;
    }
    f->thread_started = true;
    *out = f;
    return VK_OK;
fail_nomem:
    rc = vk_err_set(err, VK_ENOMEM, "out of memory");
fail:
    vk_revfeed_free(f);
    return rc;
}

void vk_revfeed_free(struct vk_revfeed *f)
{
    if (f == NULL)
        return;
    if (f->thread_started) {
        pthread_mutex_lock(&f->mu);
        atomic_store(&f->stop, 1); /* also aborts the poll in flight (fetch.c) */
        pthread_cond_signal(&f->cv);
        pthread_mutex_unlock(&f->mu);
        pthread_join(f->thread, NULL);
    }
    vk_fetch_conn_free(f->conn);
    if (f->curl_inited)
        vk_fetch_global_cleanup();
    vk_free(f->url);
    if (f->pass != NULL)
        vk_wipe(f->pass, strlen(f->pass));
    vk_free(f->pass);
    vk_free(f->user);
    vk_free(f->ca_file);
    pthread_cond_destroy(&f->cv);
    pthread_mutex_destroy(&f->mu);
    vk_free(f);
}

void vk_revfeed_status(struct vk_revfeed *f, struct vk_revfeed_status *out)
{
    int64_t now = mono_ms();
    int64_t fresh = atomic_load(&f->fresh_until_ms);
    out->stale_ms = 0;
    if (now >= fresh) {
        int64_t cur = atomic_load(&f->current_ms);
        out->stale_ms = now > cur ? now - cur : 0;
    }
    out->seq = atomic_load(&f->seq);
    out->overflow = atomic_load(&f->overflow);
    out->synced = atomic_load(&f->synced);
    out->polls = atomic_load_explicit(&f->polls, memory_order_relaxed);
}
