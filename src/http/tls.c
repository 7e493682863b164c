#include "http/tls.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "base/file.h"
#include "base/limits.h"

#define MAX_CHAIN 8 /* the server certificate and its intermediates */

struct vk_tls_cred {
    atomic_int refs;
    gnutls_pcert_st pcerts[MAX_CHAIN];
    unsigned n;
    gnutls_privkey_t key;
    char desc[320];
};

struct vk_tls {
    char *cert_file;
    char *key_file;
    char *priorities;
    pthread_mutex_t mu; /* guards cur: a reload swaps it while handshakes take references */
    struct vk_tls_cred *cur;
};

static void cred_free(struct vk_tls_cred *c)
{
    for (unsigned i = 0; i < c->n; i++)
        gnutls_pcert_deinit(&c->pcerts[i]);
    if (c->key != NULL)
        gnutls_privkey_deinit(c->key);
    free(c);
}

void vk_tls_cred_release(struct vk_tls_cred *c)
{
    if (c != NULL && atomic_fetch_sub(&c->refs, 1) == 1)
        cred_free(c);
}

/* "subject=<DN> not_after=<date>" of the leaf, for the log line of every (re)load. */
static void describe(struct vk_tls_cred *c)
{
    gnutls_x509_crt_t crt = NULL;
    gnutls_datum_t dn = {NULL, 0};
    snprintf(c->desc, sizeof c->desc, "subject=? not_after=?");
    if (gnutls_x509_crt_init(&crt) != 0)
        return;
    if (gnutls_x509_crt_import(crt, &c->pcerts[0].cert, GNUTLS_X509_FMT_DER) == 0 &&
        gnutls_x509_crt_get_dn3(crt, &dn, 0) == 0) {
        time_t na = gnutls_x509_crt_get_expiration_time(crt);
        struct tm tm;
        char when[32] = "?";
        if (na != (time_t)-1 && gmtime_r(&na, &tm) != NULL)
            strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
        /* The DN is the operator's own certificate's: still, no spaces or quotes in a log field. */
        char safe[200];
        size_t k = 0;
        for (unsigned i = 0; i < dn.size && k + 1 < sizeof safe; i++) {
            unsigned char ch = dn.data[i];
            safe[k++] = (ch > 0x20 && ch < 0x7f && ch != '"' && ch != '\\') ? (char)ch : '_';
        }
        safe[k] = '\0';
        snprintf(c->desc, sizeof c->desc, "subject=%s not_after=%s", safe, when);
    }
    gnutls_free(dn.data);
    gnutls_x509_crt_deinit(crt);
}

/* The key must be the first certificate's: compare the two SubjectPublicKeyInfo encodings. */
static bool key_matches(struct vk_tls_cred *c)
{
    gnutls_pubkey_t pub = NULL;
    gnutls_datum_t a = {NULL, 0}, b = {NULL, 0};
    bool ok = false;
    if (gnutls_pubkey_init(&pub) == 0 && gnutls_pubkey_import_privkey(pub, c->key, 0, 0) == 0 &&
        gnutls_pubkey_export2(pub, GNUTLS_X509_FMT_DER, &a) == 0 &&
        gnutls_pubkey_export2(c->pcerts[0].pubkey, GNUTLS_X509_FMT_DER, &b) == 0)
        ok = a.size == b.size && memcmp(a.data, b.data, a.size) == 0;
    gnutls_free(a.data);
    gnutls_free(b.data);
    if (pub != NULL)
        gnutls_pubkey_deinit(pub);
    return ok;
}

static int cred_load(const char *cert_file, const char *key_file, struct vk_tls_cred **out,
                     struct vk_err *err)
{
    char *cert = NULL, *key = NULL;
    size_t cert_len = 0, key_len = 0;
    int rc, r;
    *out = NULL;
    struct vk_tls_cred *c = calloc(1, sizeof *c);
    if (c == NULL)
        return vk_err_set(err, VK_ENOMEM, "out of memory");
    atomic_init(&c->refs, 1);
    rc = vk_file_read(cert_file, VK_MAX_PEM_FILE, &cert, &cert_len, err);
    if (rc == VK_OK)
        rc = vk_file_read(key_file, VK_MAX_PEM_FILE, &key, &key_len, err);
    if (rc != VK_OK)
        goto out;
    gnutls_datum_t d = {(unsigned char *)cert, (unsigned)cert_len};
    c->n = MAX_CHAIN;
    /* Leaf first, each certificate signed by the next: a chain in another order would be sent
     * as is and fail at clients, so it is refused here. */
    r = gnutls_pcert_list_import_x509_raw(c->pcerts, &c->n, &d, GNUTLS_X509_FMT_PEM,
                                          GNUTLS_X509_CRT_LIST_FAIL_IF_UNSORTED);
    if (r < 0 || c->n == 0) {
        c->n = 0;
        rc = vk_err_set(err, VK_EINVAL, "%s: not a PEM certificate chain of at most %d "
                        "certificates, leaf first (%s)", cert_file, MAX_CHAIN,
                        gnutls_strerror(r));
        goto out;
    }
    gnutls_datum_t k = {(unsigned char *)key, (unsigned)key_len};
    if (gnutls_privkey_init(&c->key) != 0) {
        rc = vk_err_set(err, VK_ENOMEM, "out of memory");
        goto out;
    }
    r = gnutls_privkey_import_x509_raw(c->key, &k, GNUTLS_X509_FMT_PEM, NULL, 0);
    if (r < 0) {
        rc = vk_err_set(err, VK_EINVAL, "%s: not an unencrypted PEM private key (%s)", key_file,
                        gnutls_strerror(r));
        goto out;
    }
    if (!key_matches(c)) {
        rc = vk_err_set(err, VK_EINVAL, "%s is not the key of the certificate in %s", key_file,
                        cert_file);
        goto out;
    }
    describe(c);
    *out = c;
    c = NULL;
out:
    vk_file_free(cert, cert_len);
    vk_file_free(key, key_len);
    if (c != NULL)
        cred_free(c);
    return rc;
}

/* The priority string must parse and must not enable any TLS version below 1.2 (RFC 9325 §3.1.1:
 * TLS 1.0 and 1.1 are deprecated, RFC 8996). DTLS versions are irrelevant on a TCP listener. */
static int check_priorities(const char *s, struct vk_err *err)
{
    gnutls_priority_t p = NULL;
    const char *where = NULL;
    const unsigned int *list = NULL;
    int r = gnutls_priority_init(&p, s, &where);
    if (r < 0)
        return vk_err_set(err, VK_EINVAL, "tls_priorities: %s at offset %ld", gnutls_strerror(r),
                          where != NULL && where >= s ? (long)(where - s) : -1L);
    int n = gnutls_priority_protocol_list(p, &list);
    int rc = VK_OK;
    bool any = false;
    for (int i = 0; i < n && rc == VK_OK; i++) {
        unsigned v = list[i];
        if (v == GNUTLS_TLS1_2 || v == GNUTLS_TLS1_3)
            any = true;
        else if (v < GNUTLS_DTLS0_9)
            rc = vk_err_set(err, VK_EINVAL,
                            "tls_priorities enables %s: only TLS 1.2 and 1.3 are allowed "
                            "(add -VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2)",
                            gnutls_protocol_get_name((gnutls_protocol_t)v));
    }
    if (rc == VK_OK && !any)
        rc = vk_err_set(err, VK_EINVAL, "tls_priorities enables neither TLS 1.2 nor TLS 1.3");
    gnutls_priority_deinit(p);
    return rc;
}

int vk_tls_new(const struct vk_tls_opts *o, struct vk_tls **out, struct vk_err *err)
{
    *out = NULL;
    if (o->cert_file == NULL || o->cert_file[0] == '\0' || o->key_file == NULL ||
        o->key_file[0] == '\0')
        return vk_err_set(err, VK_EINVAL, "TLS needs both a certificate and a key file");
    const char *prio =
        o->priorities != NULL && o->priorities[0] != '\0' ? o->priorities : VK_TLS_DEFAULT_PRIORITIES;
    int rc = check_priorities(prio, err);
    if (rc != VK_OK)
        return rc;
    struct vk_tls *t = calloc(1, sizeof *t);
    if (t == NULL)
        return vk_err_set(err, VK_ENOMEM, "out of memory");
    t->cert_file = strdup(o->cert_file);
    t->key_file = strdup(o->key_file);
    t->priorities = strdup(prio);
    pthread_mutex_init(&t->mu, NULL);
    if (t->cert_file == NULL || t->key_file == NULL || t->priorities == NULL)
        rc = vk_err_set(err, VK_ENOMEM, "out of memory");
    else
        rc = cred_load(t->cert_file, t->key_file, &t->cur, err);
    if (rc != VK_OK) {
        vk_tls_free(t);
        return rc;
    }
    *out = t;
    return VK_OK;
}

int vk_tls_reload(struct vk_tls *t, struct vk_err *err)
{
    struct vk_tls_cred *c = NULL, *old;
    int rc = cred_load(t->cert_file, t->key_file, &c, err);
    if (rc != VK_OK)
        return rc;
    pthread_mutex_lock(&t->mu);
    old = t->cur;
    t->cur = c;
    pthread_mutex_unlock(&t->mu);
    vk_tls_cred_release(old); /* freed when the last connection that used it closes */
    return VK_OK;
}

void vk_tls_free(struct vk_tls *t)
{
    if (t == NULL)
        return;
    vk_tls_cred_release(t->cur);
    pthread_mutex_destroy(&t->mu);
    free(t->cert_file);
    free(t->key_file);
    free(t->priorities);
    free(t);
}

const char *vk_tls_priorities(const struct vk_tls *t)
{
    return t->priorities;
}

void vk_tls_describe(struct vk_tls *t, char *out, size_t n)
{
    pthread_mutex_lock(&t->mu);
    snprintf(out, n, "%s", t->cur->desc);
    pthread_mutex_unlock(&t->mu);
}

/* gnutls_certificate_retrieve_function2: called in each handshake for the server's chain and
 * key. The connection keeps a reference to the generation it was given until it closes. */
static int retrieve(gnutls_session_t session, const gnutls_datum_t *req_ca_rdn, int nreqs,
                    const gnutls_pk_algorithm_t *pk_algos, int pk_algos_length,
                    gnutls_pcert_st **pcert, unsigned int *pcert_length, gnutls_privkey_t *pkey)
{
    struct vk_tls_cred **slot = NULL;
    (void)req_ca_rdn;
    (void)nreqs;
    (void)pk_algos;
    (void)pk_algos_length;
    struct vk_tls *t = vk_http_conn_tls(gnutls_session_get_ptr(session), &slot);
    if (t == NULL || slot == NULL)
        return -1; /* an untracked connection: no handshake */
    pthread_mutex_lock(&t->mu);
    struct vk_tls_cred *c = t->cur;
    atomic_fetch_add(&c->refs, 1);
    pthread_mutex_unlock(&t->mu);
    vk_tls_cred_release(*slot); /* a second handshake on the connection */
    *slot = c;
    *pcert = c->pcerts;
    *pcert_length = c->n;
    *pkey = c->key;
    return 0;
}

void *vk_tls_cert_callback(void)
{
    /* MHD reads the option back as a gnutls_certificate_retrieve_function2 pointer. */
    return (void *)retrieve;
}

void vk_tls_session_request_cert(void *session)
{
    if (session != NULL)
        gnutls_certificate_server_set_request((gnutls_session_t)session, GNUTLS_CERT_REQUEST);
}

int vk_tls_peer_certs(void *session, struct vk_arena *a, vk_str *out, size_t max, size_t *n)
{
    unsigned cnt = 0;
    *n = 0;
    if (session == NULL)
        return VK_OK;
    gnutls_session_t s = session;
    if (gnutls_certificate_type_get2(s, GNUTLS_CTYPE_PEERS) != GNUTLS_CRT_X509)
        return VK_OK;
    const gnutls_datum_t *l = gnutls_certificate_get_peers(s, &cnt);
    if (l == NULL)
        return VK_OK;
    for (unsigned i = 0; i < cnt && i < max; i++) {
        if (l[i].size == 0 || l[i].size > VK_MAX_CERT_LEN)
            return VK_ETOOBIG;
        char *p = vk_arena_alloc(a, l[i].size);
        if (p == NULL)
            return VK_ENOMEM;
        memcpy(p, l[i].data, l[i].size);
        out[i] = (vk_str){p, l[i].size};
        *n = i + 1;
    }
    return VK_OK;
}
