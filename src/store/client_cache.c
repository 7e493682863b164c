/* A read-through cache of client records (see store.h). Entries are immutable copies in one
 * malloc'd block each; a changed clients generation drops them all. The generation is asked of
 * the store on every lookup, so a change committed by any process (the CLI) is seen by the first
 * lookup that starts after the commit; SQLite answers it with one indexed read on a connection of
 * its own (about 1.5 µs), which is what the cache saves over reading the client row and copying
 * it out of SQLite. */
#include "store/store.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define BUCKETS 1024
#define MAX_ENTRIES 4096

struct entry {
    struct entry *next;
    struct vk_client c; /* strings point into this entry's block */
};

struct vk_client_cache {
    struct vk_store *st;
    pthread_rwlock_t lock;
    struct entry *buckets[BUCKETS];
    size_t n;
    int64_t generation;
};

static size_t hash(vk_str id)
{
    size_t h = 1469598103934665603ull;
    for (size_t i = 0; i < id.len; i++)
        h = (h ^ (unsigned char)id.p[i]) * 1099511628211ull;
    return h % BUCKETS;
}

static void flush_locked(struct vk_client_cache *cc)
{
    for (size_t i = 0; i < BUCKETS; i++) {
        struct entry *e = cc->buckets[i];
        while (e != NULL) {
            struct entry *next = e->next;
            vk_wipe(e->c.secret_digest, sizeof e->c.secret_digest);
            free(e);
            e = next;
        }
        cc->buckets[i] = NULL;
    }
    cc->n = 0;
}

int vk_client_cache_new(struct vk_store *st, struct vk_client_cache **out)
{
    struct vk_client_cache *cc = calloc(1, sizeof *cc);
    *out = NULL;
    if (cc == NULL)
        return VK_ENOMEM;
    cc->st = st;
    pthread_rwlock_init(&cc->lock, NULL);
    int rc = vk_store_clients_generation(st, &cc->generation);
    if (rc != VK_OK) {
        vk_client_cache_free(cc);
        return rc;
    }
    *out = cc;
    return VK_OK;
}

void vk_client_cache_free(struct vk_client_cache *cc)
{
    if (cc == NULL)
        return;
    flush_locked(cc);
    pthread_rwlock_destroy(&cc->lock);
    free(cc);
}

/* Copies the strings of a client into `dst` (arena) or a single malloc'd entry. */
static void fields(const struct vk_client *c, const char **v)
{
    v[0] = c->id;
    v[1] = c->name;
    v[2] = c->auth_method;
    v[3] = c->grant_types;
    v[4] = c->scope;
    v[5] = c->redirect_uris;
    v[6] = c->post_logout_redirect_uris;
    v[7] = c->resources;
    v[8] = c->id_token_alg;
    v[9] = c->jwks;
    v[10] = c->tls_auth_kind;
    v[11] = c->tls_auth_value;
}

#define NFIELDS 12

static void set_fields(struct vk_client *c, char **v)
{
    c->id = v[0];
    c->name = v[1];
    c->auth_method = v[2];
    c->grant_types = v[3];
    c->scope = v[4];
    c->redirect_uris = v[5];
    c->post_logout_redirect_uris = v[6];
    c->resources = v[7];
    c->id_token_alg = v[8];
    c->jwks = v[9];
    c->tls_auth_kind = v[10];
    c->tls_auth_value = v[11];
}

static struct entry *entry_new(const struct vk_client *c)
{
    const char *src[NFIELDS];
    size_t len[NFIELDS], total = sizeof(struct entry);
    fields(c, src);
    for (int i = 0; i < NFIELDS; i++) {
        len[i] = src[i] != NULL ? strlen(src[i]) : 0;
        total += len[i] + 1;
    }
    struct entry *e = malloc(total);
    if (e == NULL)
        return NULL;
    e->next = NULL;
    e->c = *c;
    char *p = (char *)(e + 1), *dst[NFIELDS];
    for (int i = 0; i < NFIELDS; i++) {
        dst[i] = p;
        if (len[i] > 0)
            memcpy(p, src[i], len[i]);
        p[len[i]] = '\0';
        p += len[i] + 1;
    }
    set_fields(&e->c, dst);
    return e;
}

static int copy_out(struct vk_arena *a, const struct vk_client *c, struct vk_client *out)
{
    const char *src[NFIELDS];
    char *dst[NFIELDS];
    fields(c, src);
    *out = *c;
    for (int i = 0; i < NFIELDS; i++) {
        dst[i] = vk_arena_strdup(a, vk_str_c(src[i]));
        if (dst[i] == NULL)
            return VK_ENOMEM;
    }
    set_fields(out, dst);
    return VK_OK;
}

/* Drops every entry when the store's clients generation moved. Returns the store's error, so a
 * lookup never answers from the cache when freshness cannot be established. */
static int check_generation(struct vk_client_cache *cc)
{
    int64_t gen;
    int rc = vk_store_clients_generation(cc->st, &gen);
    if (rc != VK_OK)
        return rc;
    pthread_rwlock_rdlock(&cc->lock);
    bool same = gen == cc->generation;
    pthread_rwlock_unlock(&cc->lock);
    if (same)
        return VK_OK;
    pthread_rwlock_wrlock(&cc->lock);
    if (gen != cc->generation) {
        flush_locked(cc);
        cc->generation = gen;
    }
    pthread_rwlock_unlock(&cc->lock);
    return VK_OK;
}

int vk_client_cache_get(struct vk_client_cache *cc, struct vk_arena *a, vk_str id, int64_t now,
                        bool fresh, struct vk_client *out)
{
    size_t h = hash(id);
    (void)now;
    memset(out, 0, sizeof *out);
    int crc = check_generation(cc);
    if (crc != VK_OK)
        return crc;
    if (!fresh) {
        int rc = VK_ENOTFOUND;
        pthread_rwlock_rdlock(&cc->lock);
        for (struct entry *e = cc->buckets[h]; e != NULL; e = e->next) {
            if (vk_str_eq_lit(id, e->c.id)) {
                rc = copy_out(a, &e->c, out);
                break;
            }
        }
        pthread_rwlock_unlock(&cc->lock);
        if (rc == VK_OK)
            return VK_OK;
    }
    /* The generation before the read: if a change lands in between, the entry is dropped at the
     * next check instead of living on with stale data. */
    int64_t gen = 0;
    int rc = vk_store_clients_generation(cc->st, &gen);
    if (rc == VK_OK)
        rc = vk_store_client_get(cc->st, a, id, out);
    if (rc != VK_OK)
        return rc;
    struct entry *e = entry_new(out);
    if (e == NULL)
        return VK_OK; /* caching is an optimization */
    pthread_rwlock_wrlock(&cc->lock);
    if (gen != cc->generation) {
        flush_locked(cc);
        cc->generation = gen;
    }
    struct entry **pp = &cc->buckets[h];
    while (*pp != NULL && !vk_str_eq_lit(id, (*pp)->c.id))
        pp = &(*pp)->next;
    if (*pp != NULL) { /* replace the stale copy */
        e->next = (*pp)->next;
        free(*pp);
        *pp = e;
    } else if (cc->n < MAX_ENTRIES) {
        e->next = cc->buckets[h];
        cc->buckets[h] = e;
        cc->n++;
    } else {
        free(e);
    }
    pthread_rwlock_unlock(&cc->lock);
    return VK_OK;
}
