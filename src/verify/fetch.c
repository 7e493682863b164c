/* Outgoing HTTP for the verifier: the issuer's metadata, its JWK Set and the revocation feed. The
 * only file that includes libcurl (style.md §1).
 *
 * What a fetch may do is narrow on purpose: GET only; https, or http to a loopback address
 * (RFC 9700 §2.6, checklist #51); certificate and host name checked (libcurl's defaults, never
 * turned off); no redirects at all, so a compromised or misconfigured metadata host cannot send
 * the verifier to another host; a time limit for the whole transfer; a size cap enforced while
 * the body arrives; status 200 only. Errors name the URL's host at most, never the body. Basic
 * credentials (the feed) are handed to libcurl, which builds the header; they are sent only to
 * the URL given (no redirects) and never appear in an error. */
#include "verify/verify.h"

#include <pthread.h>
#include <string.h>

#include <curl/curl.h>

#include "base/buf.h"
#include "base/mem.h"

struct vk_fetch_conn {
    CURL *h;
};

int vk_fetch_conn_new(struct vk_fetch_conn **out)
{
    struct vk_fetch_conn *c = vk_calloc(1, sizeof *c);
    *out = NULL;
    if (c == NULL)
        return VK_ENOMEM;
    c->h = curl_easy_init();
    if (c->h == NULL) {
        vk_free(c);
        return VK_ENOMEM;
    }
    *out = c;
    return VK_OK;
}

void vk_fetch_conn_free(struct vk_fetch_conn *c)
{
    if (c == NULL)
        return;
    curl_easy_cleanup(c->h);
    vk_free(c);
}

char *vk_fetch_form_encode(const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(s), o = 0;
    char *out;

    if (n > (SIZE_MAX - 1) / 3)
        return NULL;
    out = vk_malloc(3 * n + 1);
    if (out == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '*') {
            out[o++] = (char)c;
        } else if (c == ' ') {
            out[o++] = '+';
        } else {
            out[o++] = '%';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    out[o] = '\0';
    return out;
}

struct transfer {
    struct vk_buf *out;
    size_t max;
    int rc;
    const atomic_int *cancel;
};

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    struct transfer *t = ud;
    size_t len;
    if (__builtin_mul_overflow(size, n, &len) || t->out->len + len > t->max) {
        t->rc = VK_ETOOBIG;
        return 0; /* makes libcurl stop with CURLE_WRITE_ERROR */
    }
    int rc = vk_buf_append(t->out, p, len);
    if (rc != VK_OK) {
        t->rc = rc;
        return 0;
    }
    return len;
}

static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    struct transfer *t = ud;
    (void)dltotal;
    (void)dlnow;
    (void)ultotal;
    (void)ulnow;
    return t->cancel != NULL && atomic_load(t->cancel) != 0; /* non-zero aborts */
}

static bool is_loopback_host(const char *host)
{
    return strcmp(host, "127.0.0.1") == 0 || strcmp(host, "[::1]") == 0 ||
           strcmp(host, "localhost") == 0;
}

/* Parses url with libcurl's own parser (the one the transfer will use, so the check and the
 * request cannot disagree). *loopback tells whether the host is a loopback name or literal. */
static bool url_allowed(const char *url, bool *loopback)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL;
    bool ok = false;

    *loopback = false;
    if (u == NULL || url == NULL)
        goto out;
    if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK)
        goto out;
    *loopback = is_loopback_host(host);
    ok = strcmp(scheme, "https") == 0 || (strcmp(scheme, "http") == 0 && *loopback);
out:
    curl_free(scheme);
    curl_free(host);
    curl_url_cleanup(u);
    return ok;
}

bool vk_fetch_url_allowed(const char *url)
{
    bool loopback;
    return url_allowed(url, &loopback);
}

static pthread_mutex_t global_mu = PTHREAD_MUTEX_INITIALIZER;
static unsigned long global_users;

int vk_fetch_global_init(void)
{
    int rc = VK_OK;
    pthread_mutex_lock(&global_mu);
    /* curl_global_init is reference-counted by libcurl too; the lock keeps the pair ordered
     * with respect to our own count on libcurl builds older than 7.84 (not thread-safe). */
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        rc = VK_EIO;
    else
        global_users++;
    pthread_mutex_unlock(&global_mu);
    return rc;
}

void vk_fetch_global_cleanup(void)
{
    pthread_mutex_lock(&global_mu);
    if (global_users > 0) {
        global_users--;
        curl_global_cleanup();
    }
    pthread_mutex_unlock(&global_mu);
}

int vk_fetch(const char *url, const struct vk_fetch_opts *o, struct vk_buf *out,
             struct vk_err *err)
{
    struct transfer t = {out, o->max_bytes, VK_OK, o->cancel};
    struct curl_slist *hdrs = NULL;
    bool loopback;
    long status = 0;
    CURL *h = NULL;
    CURLcode cc;
    int rc;

    if (o->status != NULL)
        *o->status = 0;
    if (!url_allowed(url, &loopback))
        return vk_err_set(err, VK_EINVAL, "fetch: only https URLs (or http on loopback)");
    if (o->conn != NULL) {
        h = o->conn->h;
        curl_easy_reset(h); /* every option set again below; the connection cache stays */
    } else {
        h = curl_easy_init();
    }
    hdrs = curl_slist_append(NULL, "Accept: application/json");
    if (h == NULL || hdrs == NULL) {
        rc = vk_err_set(err, VK_ENOMEM, "fetch: out of memory");
        goto out;
    }
    cc = CURLE_OK;
#define SET(opt, val)                                                                              \
    do {                                                                                           \
        if (cc == CURLE_OK)                                                                        \
            cc = curl_easy_setopt(h, opt, val);                                                    \
    } while (0)
    SET(CURLOPT_URL, url);
    SET(CURLOPT_PROTOCOLS_STR, "http,https");
    SET(CURLOPT_FOLLOWLOCATION, 0L); /* no redirects, to this host or any other */
    SET(CURLOPT_NOSIGNAL, 1L);       /* threads: no SIGALRM for DNS timeouts */
    SET(CURLOPT_TIMEOUT_MS, o->timeout_ms);
    SET(CURLOPT_CONNECTTIMEOUT_MS, o->timeout_ms);
    SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)o->max_bytes);
    SET(CURLOPT_WRITEFUNCTION, on_body);
    SET(CURLOPT_WRITEDATA, &t);
    SET(CURLOPT_NOPROGRESS, 0L);
    SET(CURLOPT_XFERINFOFUNCTION, on_progress);
    SET(CURLOPT_XFERINFODATA, &t);
    SET(CURLOPT_HTTPHEADER, hdrs);
    SET(CURLOPT_USERAGENT, "libvaletkey/" VALETKEY_VERSION);
    SET(CURLOPT_SSL_VERIFYPEER, 1L);
    SET(CURLOPT_SSL_VERIFYHOST, 2L);
    if (o->ca_file != NULL)
        SET(CURLOPT_CAINFO, o->ca_file);
    if (loopback)
        SET(CURLOPT_PROXY, ""); /* a proxy from the environment must not see loopback traffic */
    if (o->username != NULL && o->password != NULL) {
        SET(CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC); /* sent at once, not after a challenge */
        SET(CURLOPT_USERNAME, o->username);
        SET(CURLOPT_PASSWORD, o->password);
    }
#undef SET
    if (cc != CURLE_OK) {
        rc = vk_err_set(err, VK_EIO, "fetch: %s", curl_easy_strerror(cc));
        goto out;
    }
    cc = curl_easy_perform(h);
    if (t.rc != VK_OK) {
        rc = vk_err_set(err, t.rc, "fetch: the response is larger than %zu bytes or memory "
                                   "ran out", o->max_bytes);
        goto out;
    }
    if (cc == CURLE_FILESIZE_EXCEEDED) {
        rc = vk_err_set(err, VK_ETOOBIG, "fetch: the response is larger than %zu bytes",
                        o->max_bytes);
        goto out;
    }
    if (cc != CURLE_OK) {
        rc = vk_err_set(err, cc == CURLE_OUT_OF_MEMORY ? VK_ENOMEM : VK_EIO, "fetch: %s",
                        curl_easy_strerror(cc));
        goto out;
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    if (o->status != NULL)
        *o->status = status;
    if (status != 200) {
        rc = vk_err_set(err, VK_EIO, "fetch: HTTP status %ld", status);
        goto out;
    }
    rc = VK_OK;
out:
    if (h != NULL && o->conn != NULL) {
        /* The handle keeps its connection, but not the header list freed below nor the
         * credentials: libcurl copied them into the handle, and a reset drops its copies. */
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
        curl_easy_setopt(h, CURLOPT_USERNAME, NULL);
        curl_easy_setopt(h, CURLOPT_PASSWORD, NULL);
    } else if (h != NULL) {
        curl_easy_cleanup(h);
    }
    curl_slist_free_all(hdrs);
    return rc;
}
