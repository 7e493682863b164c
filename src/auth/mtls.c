/* Client authentication by TLS certificate (RFC 8705 §2), and the memo of verdicts. */
#include "auth/auth.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MEMO_STRIPES 64
#define MEMO_TTL_OK  600 /* seconds a good verdict is reused, at most */
#define MEMO_TTL_BAD 60  /* seconds a bad one is */

struct memo_entry {
    uint8_t key[VK_DIGEST_LEN];
    int64_t from;  /* the verdict holds from..until (a clock set back does not reuse it) */
    int64_t until; /* 0: empty */
    int rc;
    char why[112];
};

struct vk_cert_memo {
    size_t n;
    pthread_mutex_t mu[MEMO_STRIPES];
    struct memo_entry *e;
};

int vk_cert_memo_new(size_t slots, struct vk_cert_memo **out)
{
    struct vk_cert_memo *m = calloc(1, sizeof *m);
    *out = NULL;
    if (m == NULL || slots == 0 || (m->e = calloc(slots, sizeof *m->e)) == NULL) {
        free(m);
        return VK_ENOMEM;
    }
    m->n = slots;
    for (size_t i = 0; i < MEMO_STRIPES; i++)
        pthread_mutex_init(&m->mu[i], NULL);
    *out = m;
    return VK_OK;
}

void vk_cert_memo_free(struct vk_cert_memo *m)
{
    if (m == NULL)
        return;
    for (size_t i = 0; i < MEMO_STRIPES; i++)
        pthread_mutex_destroy(&m->mu[i]);
    free(m->e);
    free(m);
}

/* Appends a length-prefixed field, so that no two registrations hash the same. */
static void put_field(uint8_t *buf, size_t cap, size_t *n, const void *p, size_t len)
{
    uint8_t pre[4] = {(uint8_t)(len >> 24), (uint8_t)(len >> 16), (uint8_t)(len >> 8),
                      (uint8_t)len};
    if (*n + sizeof pre + len > cap) { /* cannot happen with the bounds of the callers */
        *n = cap + 1;
        return;
    }
    memcpy(buf + *n, pre, sizeof pre);
    memcpy(buf + *n + sizeof pre, p, len);
    *n += sizeof pre + len;
}

/* The memo key: the certificates (digests), the client's registration, the method. False when
 * it cannot be made (then the memo is not used). */
static bool memo_key(const struct vk_client *c, const struct vk_client_cert *cert,
                     uint8_t key[VK_DIGEST_LEN])
{
    uint8_t buf[VK_MAX_ID_LEN + 4096 + (VK_MAX_CERT_CHAIN + 1) * VK_DIGEST_LEN + 64], d[VK_DIGEST_LEN];
    size_t n = 0;
    const char *fields[] = {c->id, c->auth_method, c->tls_auth_kind, c->tls_auth_value};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        const char *f = fields[i] != NULL ? fields[i] : "";
        put_field(buf, sizeof buf, &n, f, strlen(f));
    }
    const char *jwks = c->jwks != NULL ? c->jwks : "";
    vk_sha256(jwks, strlen(jwks), d);
    put_field(buf, sizeof buf, &n, d, sizeof d);
    vk_sha256(cert->der.p, cert->der.len, d);
    put_field(buf, sizeof buf, &n, d, sizeof d);
    for (size_t i = 0; i < cert->n_chain && i < VK_MAX_CERT_CHAIN; i++) {
        vk_sha256(cert->chain[i].p, cert->chain[i].len, d);
        put_field(buf, sizeof buf, &n, d, sizeof d);
    }
    if (n > sizeof buf)
        return false;
    vk_sha256(buf, n, key);
    return true;
}

static size_t slot_of(const struct vk_cert_memo *m, const uint8_t key[VK_DIGEST_LEN])
{
    uint64_t h;
    memcpy(&h, key, sizeof h);
    return (size_t)(h % m->n);
}

static bool memo_get(struct vk_cert_memo *m, const uint8_t key[VK_DIGEST_LEN], int64_t now,
                     int *rc, struct vk_err *why)
{
    size_t i = slot_of(m, key);
    bool hit = false;
    pthread_mutex_lock(&m->mu[i % MEMO_STRIPES]);
    struct memo_entry *e = &m->e[i];
    if (e->from <= now && now < e->until && vk_ct_eq_digest(e->key, key)) {
        hit = true;
        *rc = e->rc;
        if (e->rc != VK_OK)
            vk_err_set(why, e->rc, "%s", e->why);
    }
    pthread_mutex_unlock(&m->mu[i % MEMO_STRIPES]);
    return hit;
}

static void memo_put(struct vk_cert_memo *m, const uint8_t key[VK_DIGEST_LEN], int rc,
                     int64_t from, int64_t until, const struct vk_err *why)
{
    size_t i = slot_of(m, key);
    pthread_mutex_lock(&m->mu[i % MEMO_STRIPES]);
    struct memo_entry *e = &m->e[i];
    memcpy(e->key, key, VK_DIGEST_LEN);
    e->rc = rc;
    e->from = from;
    e->until = until;
    /* the reason, for the log line of a later refusal: a prefix is enough */
    const char *w = rc != VK_OK && why != NULL ? why->msg : "";
    size_t wl = strnlen(w, sizeof e->why - 1);
    memcpy(e->why, w, wl);
    e->why[wl] = '\0';
    pthread_mutex_unlock(&m->mu[i % MEMO_STRIPES]);
}

bool vk_client_is_mtls(const struct vk_client *c)
{
    return c->auth_method != NULL && (strcmp(c->auth_method, VK_AUTH_TLS_CLIENT) == 0 ||
                                      strcmp(c->auth_method, VK_AUTH_SELF_SIGNED) == 0);
}

bool vk_client_is_confidential(const struct vk_client *c)
{
    return c->has_secret || vk_client_is_mtls(c);
}

/* The verdict itself; *not_after: until when a VK_OK holds (the certificates' notAfter). */
static int check(const struct vk_client *c, const struct vk_x509_ca *ca,
                 const struct vk_client_cert *cert, int64_t now, int64_t *not_after,
                 struct vk_err *why)
{
    if (c->auth_method != NULL && strcmp(c->auth_method, VK_AUTH_TLS_CLIENT) == 0) {
        /* §2.1: a certificate from a trusted CA, and the subject (or SAN) registered for the
         * client: the CA vouches for the name, the registration binds the name to the client. */
        enum vk_x509_name_kind k = vk_x509_name_kind_from_str(c->tls_auth_kind);
        if (k == VK_X509_NONE)
            return vk_err_set(why, VK_EINVAL, "the client has no registered subject");
        int rc = vk_x509_verify(ca, cert->der, cert->chain, cert->n_chain, now, not_after, why);
        if (rc != VK_OK)
            return rc;
        if (!vk_x509_name_matches(cert->der, k, c->tls_auth_value))
            return vk_err_set(why, VK_EINVAL, "the certificate's %s is not the registered one",
                              vk_x509_name_kind_str(k));
        return VK_OK;
    }
    if (c->auth_method != NULL && strcmp(c->auth_method, VK_AUTH_SELF_SIGNED) == 0) {
        /* §2.2: exactly one of the certificates the client registered, however it was issued.
         * Its validity period is held to as well: a registration does not make an expired
         * certificate good (docs/security.md). */
        if (!vk_x509_jwks_contains(vk_str_c(c->jwks), cert->der))
            return vk_err_set(why, VK_EINVAL, "not one of the client's registered certificates");
        return vk_x509_check_validity(cert->der, now, not_after, why);
    }
    return vk_err_set(why, VK_EINVAL, "the client does not authenticate by certificate");
}

int vk_client_cert_check(const struct vk_client *c, const struct vk_cert_auth *ca,
                         const struct vk_client_cert *cert, int64_t now, struct vk_err *why)
{
    uint8_t key[VK_DIGEST_LEN];
    int rc;
    if (cert == NULL || cert->der.len == 0)
        return vk_err_set(why, VK_EINVAL, "no client certificate");
    if (!vk_client_is_mtls(c))
        return vk_err_set(why, VK_EINVAL, "the client does not authenticate by certificate");
    struct vk_cert_memo *memo = ca != NULL ? ca->memo : NULL;
    bool keyed = memo != NULL && memo_key(c, cert, key);
    if (keyed && memo_get(memo, key, now, &rc, why))
        return rc;
    int64_t not_after = now;
    rc = check(c, ca != NULL ? ca->ca : NULL, cert, now, &not_after, why);
    if (keyed) {
        int64_t until = now + (rc == VK_OK ? MEMO_TTL_OK : MEMO_TTL_BAD);
        if (rc == VK_OK && not_after < until)
            until = not_after; /* at notAfter the certificate stops being good */
        if (until > now)
            memo_put(memo, key, rc, now, until, why);
    }
    return rc;
}
