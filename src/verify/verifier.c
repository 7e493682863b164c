/* The verifier object and the public API of libvaletkey (include/valetkey.h).
 *
 * valetkey_verify, in order: the token's keyed digest is looked up in the seen-token cache (a
 * hit skips the signature and the parsing); a miss runs the shared access-token check
 * (access.c) with the current key set -- refetched once, rate-limited, for an unknown kid --
 * then the audience, the required claims and the revocation list, and caches the claims.
 * Either way the sender constraint comes last (RFC 9449 §7): a DPoP-bound token needs the DPoP
 * scheme and a valid proof for this very request and token; a proof is never cached. */
#include "verify/verify.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/crypto.h"
#include "base/limits.h"
#include "base/mem.h"
#include "jose/x509.h"

#define MAX_AUDIENCES 32
#define MAX_CONFIG_STR 2048
#define MAX_ENTRIES (1u << 24)

atomic_long vk_verify_live_objects;

struct valetkey_verifier {
    char *issuer;
    char **audiences; /* NULL-terminated */
    unsigned alg_mask, dpop_alg_mask;
    int64_t leeway, dpop_window;
    bool dpop_required, dpop_disabled, dpop_nonce_on;
    struct vk_dpop_nonce nonce;
    char *realm, *resource_metadata;
    char dpop_algs[32]; /* "ES256 PS256 RS256 EdDSA" for the algs attribute */
    int64_t (*clock)(void *arg);
    void *clock_arg;
    uint8_t hkey[16];                   /* keys the token digests */
    uint8_t rkey[VK_REVOKE_KINDS][16];  /* key the revocation names, one key per kind */
    struct vk_keysrc *keys;
    struct vk_seen *seen;
    struct vk_dpop_replay *replay; /* NULL when the host's replay_fn replaces it */
    int (*replay_fn)(void *arg, const char *jti, size_t len, int64_t expires);
    void *replay_arg;
    struct vk_revfeed *feed; /* NULL: no revocation feed */
    int64_t feed_max_stale_ms;
    bool feed_fail_open;
    bool feed_start_closed; /* refuse until the feed was read once */
};

void valetkey_options_init(struct valetkey_options *opt)
{
    if (opt == NULL)
        return;
    memset(opt, 0, sizeof *opt);
    opt->struct_size = sizeof *opt;
    opt->leeway = 30;
    opt->seen_cache_entries = 16384;
    opt->revocation_entries = 65536;
    opt->refresh_interval = 300;
    opt->min_refetch_interval = 30;
    opt->http_timeout_ms = 5000;
    opt->dpop_iat_window = 60;
    opt->dpop_replay_entries = 65536;
    opt->dpop_nonce_lifetime = 300;
    opt->revocations_wait = 20;
    opt->revocations_max_stale = 60;
}

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = vk_malloc(n);
    if (p != NULL)
        memcpy(p, s, n);
    return p;
}

/* A value we put between quotes in WWW-Authenticate: visible ASCII and spaces, without '"' or
 * '\\', so no escaping is ever needed (RFC 9110 §5.6.4). */
static bool quotable(const char *s)
{
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        if (c < 0x20 || c > 0x7e || c == '"' || c == '\\')
            return false;
    }
    return true;
}

static bool bounded_str(const char *s, bool required)
{
    if (s == NULL)
        return !required;
    size_t n = strlen(s);
    return n > 0 && n <= MAX_CONFIG_STR;
}

static int read_file(const char *path, char **out, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t n;
    int rc = VALETKEY_EFETCH;

    *out = NULL;
    if (f == NULL)
        return VALETKEY_EFETCH;
    buf = vk_malloc(VK_MAX_JSON_INPUT + 1);
    if (buf == NULL) {
        rc = VALETKEY_ENOMEM;
        goto out;
    }
    n = fread(buf, 1, VK_MAX_JSON_INPUT + 1, f);
    if (ferror(f) || n > VK_MAX_JSON_INPUT)
        goto out;
    *out = buf;
    *len = n;
    buf = NULL;
    rc = VALETKEY_OK;
out:
    vk_free(buf);
    fclose(f);
    return rc;
}

static void alg_list(unsigned mask, char *out, size_t outsz)
{
    static const enum vk_alg order[] = {VK_ALG_ES256, VK_ALG_PS256, VK_ALG_RS256, VK_ALG_EDDSA};
    size_t o = 0;
    out[0] = '\0';
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
        if ((mask & (1u << order[i])) == 0)
            continue;
        const char *name = vk_alg_name(order[i]);
        size_t n = strlen(name);
        if (o + n + 2 > outsz)
            break;
        if (o > 0)
            out[o++] = ' ';
        memcpy(out + o, name, n + 1);
        o += n;
    }
}

static void destroy(valetkey_verifier *v);

static int feed_apply(void *arg, enum vk_revoke_kind kind, vk_str value, int64_t until)
{
    return vk_verifier_revoke(arg, kind, value, until);
}

/* Copies and checks the options. VALETKEY_OK or VALETKEY_EINVAL. */
static int check_options(const struct valetkey_options *in, struct valetkey_options *o)
{
    size_t naud = 0;

    valetkey_options_init(o);
    /* An older caller's smaller struct takes the defaults for the fields it does not know; a
     * newer caller's larger one asks for things this library cannot do. */
    if (in->struct_size < sizeof(size_t) || in->struct_size > sizeof *o)
        return VALETKEY_EINVAL;
    memcpy(o, in, in->struct_size);
    if (!bounded_str(o->issuer, true) || !bounded_str(o->jwks_uri, false) ||
        !bounded_str(o->jwks_file, false) || !bounded_str(o->ca_file, false) ||
        !bounded_str(o->revocations_url, false))
        return VALETKEY_EINVAL;
    if (o->revocations_url != NULL &&
        (!bounded_str(o->revocations_client_id, true) ||
         !bounded_str(o->revocations_client_secret, true) || o->revocations_wait < 1 ||
         o->revocations_wait > 60 || o->revocations_max_stale < 1 ||
         o->revocations_max_stale > 86400))
        return VALETKEY_EINVAL;
    if (o->jwks_json != NULL && o->jwks_file != NULL)
        return VALETKEY_EINVAL;
    if (o->audiences == NULL)
        return VALETKEY_EINVAL; /* RFC 9068 §4: the audience check is not optional */
    for (; o->audiences[naud] != NULL; naud++)
        if (naud == MAX_AUDIENCES || !bounded_str(o->audiences[naud], true))
            return VALETKEY_EINVAL;
    if (naud == 0)
        return VALETKEY_EINVAL;
    if (o->leeway < 0 || o->leeway > 300 || o->refresh_interval < 1 ||
        o->refresh_interval > 86400 || o->min_refetch_interval < 1 ||
        o->min_refetch_interval > 86400 || o->http_timeout_ms < 1 ||
        o->http_timeout_ms > 120000 || o->dpop_iat_window < 1 || o->dpop_iat_window > 3600 ||
        o->dpop_nonce_lifetime < 1 || o->dpop_nonce_lifetime > 86400)
        return VALETKEY_EINVAL;
    if (o->dpop_required != 0 && o->dpop_disabled != 0)
        return VALETKEY_EINVAL;
    if (o->seen_cache_entries > MAX_ENTRIES || o->revocation_entries < 1 ||
        o->revocation_entries > MAX_ENTRIES || o->dpop_replay_entries < 1 ||
        o->dpop_replay_entries > MAX_ENTRIES)
        return VALETKEY_EINVAL;
    if ((o->realm != NULL && (!bounded_str(o->realm, true) || !quotable(o->realm))) ||
        (o->resource_metadata != NULL &&
         (!bounded_str(o->resource_metadata, true) || !quotable(o->resource_metadata))))
        return VALETKEY_EINVAL;
    return VALETKEY_OK;
}

int valetkey_verifier_new(valetkey_verifier **out, const struct valetkey_options *opt)
{
    struct valetkey_options o;
    struct valetkey_verifier *v = NULL;
    struct vk_err err = {{0}};
    char *file = NULL;
    size_t flen = 0, naud = 0;
    int rc;

    if (out == NULL)
        return VALETKEY_EINVAL;
    *out = NULL;
    if (opt == NULL)
        return VALETKEY_EINVAL;
    rc = check_options(opt, &o);
    if (rc != VALETKEY_OK)
        return rc;
    v = vk_calloc(1, sizeof *v);
    if (v == NULL)
        return VALETKEY_ENOMEM;
    if (vk_policy_alg_mask(o.algorithms, &v->alg_mask) != VK_OK ||
        vk_policy_alg_mask(o.dpop_algorithms, &v->dpop_alg_mask) != VK_OK) {
        rc = VALETKEY_EINVAL; /* none, HS256, or a name we do not implement */
        goto out;
    }
    alg_list(v->dpop_alg_mask, v->dpop_algs, sizeof v->dpop_algs);
    v->leeway = o.leeway;
    v->dpop_window = o.dpop_iat_window;
    v->dpop_required = o.dpop_required != 0;
    v->dpop_disabled = o.dpop_disabled != 0;
    v->clock = o.clock;
    v->clock_arg = o.clock_arg;
    rc = VALETKEY_ENOMEM;
    while (o.audiences[naud] != NULL)
        naud++;
    v->audiences = vk_calloc(naud + 1, sizeof *v->audiences);
    if (v->audiences == NULL || (v->issuer = dup_str(o.issuer)) == NULL)
        goto out;
    for (size_t i = 0; i < naud; i++)
        if ((v->audiences[i] = dup_str(o.audiences[i])) == NULL)
            goto out;
    if ((o.realm != NULL && (v->realm = dup_str(o.realm)) == NULL) ||
        (o.resource_metadata != NULL &&
         (v->resource_metadata = dup_str(o.resource_metadata)) == NULL))
        goto out;
    if (vk_rand(v->hkey, sizeof v->hkey) != VK_OK || vk_rand(&v->rkey[0][0], sizeof v->rkey) != VK_OK) {
        rc = VALETKEY_EINTERNAL;
        goto out;
    }
    if (o.dpop_nonce != 0) {
        int nrc = vk_dpop_nonce_init(&v->nonce, o.dpop_nonce_secret, o.dpop_nonce_lifetime);
        if (nrc != VK_OK) {
            rc = nrc == VK_EINVAL ? VALETKEY_EINVAL : VALETKEY_EINTERNAL;
            goto out;
        }
        v->dpop_nonce_on = true;
    }
    v->replay_fn = o.dpop_replay;
    v->replay_arg = o.dpop_replay_arg;
    if (vk_seen_new(o.seen_cache_entries, o.revocation_entries, &v->seen) != VK_OK ||
        (v->replay_fn == NULL && vk_dpop_replay_new(o.dpop_replay_entries, &v->replay) != VK_OK))
        goto out;

    if (o.jwks_file != NULL) {
        rc = read_file(o.jwks_file, &file, &flen);
        if (rc != VALETKEY_OK)
            goto out;
    }
    if (o.jwks_json != NULL || file != NULL) {
        const char *doc = file != NULL ? file : o.jwks_json;
        size_t len = file != NULL ? flen : strlen(o.jwks_json);
        rc = vk_keysrc_new_static(doc, len, v->alg_mask, &v->keys, &err);
        if (rc != VK_OK) {
            rc = rc == VK_ENOMEM ? VALETKEY_ENOMEM : VALETKEY_EFETCH;
            goto out;
        }
    } else {
        struct vk_keysrc_opts ko = {o.issuer,          o.jwks_uri,        o.refresh_interval,
                                    o.min_refetch_interval, o.http_timeout_ms, o.ca_file,
                                    v->alg_mask, o.background_fetch != 0};
        rc = vk_keysrc_new_remote(&ko, vk_verifier_now(v), &v->keys, &err);
        if (rc != VK_OK) {
            rc = rc == VK_ENOMEM ? VALETKEY_ENOMEM
                 : rc == VK_EINVAL ? VALETKEY_EINVAL
                                   : VALETKEY_EFETCH;
            goto out;
        }
    }
    if (o.revocations_url != NULL) {
        /* Last: the feed's thread revokes through v, which must be complete by then. */
        struct vk_revfeed_opts fo = {
            .url = o.revocations_url,
            .client_id = o.revocations_client_id,
            .client_secret = o.revocations_client_secret,
            .wait = o.revocations_wait,
            .timeout_ms = o.http_timeout_ms,
            .ca_file = o.ca_file,
            .background = o.background_fetch != 0,
            .apply = feed_apply,
            .apply_arg = v,
        };
        v->feed_max_stale_ms = 1000 * (int64_t)o.revocations_max_stale;
        v->feed_fail_open = o.revocations_fail_open != 0;
        v->feed_start_closed = o.revocations_start_closed != 0;
        rc = vk_revfeed_new(&fo, &v->feed, &err);
        if (rc != VK_OK) {
            rc = rc == VK_ENOMEM ? VALETKEY_ENOMEM
                 : rc == VK_EINVAL ? VALETKEY_EINVAL
                                   : VALETKEY_EINTERNAL;
            goto out;
        }
    }
    atomic_fetch_add_explicit(&vk_verify_live_objects, 1, memory_order_relaxed);
    *out = v;
    v = NULL;
    rc = VALETKEY_OK;
out:
    vk_free(file);
    destroy(v);
    return rc;
}

void valetkey_verifier_free(valetkey_verifier *v)
{
    if (v == NULL)
        return;
    destroy(v);
    atomic_fetch_sub_explicit(&vk_verify_live_objects, 1, memory_order_relaxed);
}

static void destroy(valetkey_verifier *v)
{
    if (v == NULL)
        return;
    vk_revfeed_free(v->feed); /* first: its thread revokes into the tables below */
    vk_keysrc_free(v->keys);
    vk_seen_free(v->seen);
    vk_dpop_replay_free(v->replay);
    for (size_t i = 0; v->audiences != NULL && v->audiences[i] != NULL; i++)
        vk_free(v->audiences[i]);
    vk_free(v->audiences);
    vk_free(v->issuer);
    vk_free(v->realm);
    vk_free(v->resource_metadata);
    vk_wipe(v, sizeof *v); /* the hash and nonce keys */
    vk_free(v);
}

int64_t vk_verifier_now(const valetkey_verifier *v)
{
    return v->clock != NULL ? v->clock(v->clock_arg) : vk_now();
}

/* A token not in the cache: the full check, then policy, then into the cache. */
static int verify_new(valetkey_verifier *v, vk_str token, const uint8_t digest[VK_H128_LEN],
                      int64_t now, struct valetkey_claims **out)
{
    struct vk_jws jws = {0};
    struct vk_err err = {{0}};
    struct valetkey_claims *c = NULL;
    uint64_t epoch = 0;
    int rc;

    for (int attempt = 0;; attempt++) {
        struct vk_jwks *keys = vk_keysrc_acquire(v->keys, &epoch);
        if (keys == NULL) /* background mode, before the first key set arrived */
            return VALETKEY_EFETCH;
        rc = vk_verify_access(keys, token, now, v->leeway, v->issuer, v->alg_mask, &jws, &err);
        jws.key = NULL; /* borrowed from keys, released now */
        vk_jwks_unref(keys);
        /* A kid we do not know may be a key the issuer just rotated in: one refetch, unless
         * one happened within min_refetch_interval (a flood of made-up kids costs nothing). */
        if (rc == VALETKEY_TOKEN_UNKNOWN_KEY && attempt == 0 && vk_keysrc_refetch(v->keys, now))
            continue;
        break;
    }
    if (rc != VALETKEY_OK)
        return rc;
    /* RFC 9068 §4, checklist #56: the token must be meant for this resource server. */
    if (!vk_policy_audience_ok(json_object_get(jws.payload, "aud"),
                               (const char *const *)v->audiences))
        rc = VALETKEY_TOKEN_AUDIENCE;
    else
        rc = vk_claims_build(jws.payload, (const uint8_t(*)[16])v->rkey, &c);
    vk_jws_clear(&jws);
    if (rc != VALETKEY_OK)
        return rc;
    /* The generation is read before the list is consulted: a revocation that lands between
     * the two is caught by the next lookup of this entry (seen_cache.c). */
    uint64_t gen = vk_seen_generation(v->seen);
    if (vk_seen_revoked(v->seen, c, now)) {
        valetkey_claims_free(c);
        return VALETKEY_TOKEN_REVOKED;
    }
    vk_seen_insert(v->seen, digest, c, epoch, gen, now);
    *out = c;
    return VALETKEY_OK;
}

/* RFC 9449 §7.1, §7.2: the sender constraint, on every presentation. */
static int check_binding(valetkey_verifier *v, const struct valetkey_claims *c, vk_str token,
                         const struct valetkey_request *rq, int64_t now)
{
    int scheme = rq != NULL ? rq->scheme : VALETKEY_SCHEME_BEARER;
    struct vk_dpop_result res;
    struct vk_err err = {{0}};

    /* RFC 8705 §3: a certificate-bound token is good only with that certificate, on every
     * presentation (a cached token too: the binding is to the request, not the token). */
    if (c->cnf_x5t != NULL) {
        char x5t[VK_X5T_LEN + 1];
        if (rq == NULL || rq->client_cert == NULL || rq->client_cert_len == 0 ||
            rq->client_cert_len > VK_MAX_CERT_LEN)
            return VALETKEY_TOKEN_CERT_MISMATCH;
        vk_x509_thumbprint((vk_str){(const char *)rq->client_cert, rq->client_cert_len}, x5t);
        if (!vk_ct_eq_secret((struct vk_secret){x5t, VK_X5T_LEN},
                             (struct vk_secret){c->cnf_x5t, strlen(c->cnf_x5t)}))
            return VALETKEY_TOKEN_CERT_MISMATCH;
    }
    if (c->cnf_jkt == NULL) {
        /* An unbound token is a bearer token: not acceptable under the DPoP scheme (it proves
         * nothing about the key of the proof), nor at all where DPoP is required. A DPoP header
         * beside a Bearer token is ignored. */
        if (scheme == VALETKEY_SCHEME_DPOP || v->dpop_required)
            return VALETKEY_TOKEN_NOT_BOUND;
        return VALETKEY_OK;
    }
    /* §7.2: a bound token presented as Bearer is refused, or DPoP would be optional. */
    if (scheme != VALETKEY_SCHEME_DPOP)
        return VALETKEY_TOKEN_DPOP_BOUND;
    if (rq->dpop == NULL || rq->dpop[0] == '\0')
        return VALETKEY_DPOP_MISSING;
    if (rq->method == NULL || rq->url == NULL)
        return VALETKEY_EINVAL;
    struct vk_dpop_check dc = {
        .proof = vk_str_c(rq->dpop),
        .method = vk_str_c(rq->method),
        .url = vk_str_c(rq->url),
        .now = now,
        .max_age = v->dpop_window,
        .leeway = v->leeway,
        .alg_mask = v->dpop_alg_mask,
        .access_token = token,
        .jkt = c->cnf_jkt,
        .nonce = v->dpop_nonce_on ? &v->nonce : NULL,
        .replay = v->replay,
        .replay_fn = v->replay_fn,
        .replay_arg = v->replay_arg,
    };
    return vk_dpop_verify(&dc, &res, &err);
}

/* The operator's policy on an unreachable feed (and a full revocation list, always closed). */
static int feed_gate(valetkey_verifier *v)
{
    struct vk_revfeed_status st;
    vk_revfeed_status(v->feed, &st);
    if (st.overflow)
        return VALETKEY_ECAPACITY;
    if (st.stale_ms > v->feed_max_stale_ms || (v->feed_start_closed && !st.synced))
        return v->feed_fail_open ? VALETKEY_OK : VALETKEY_ESTALE;
    return VALETKEY_OK;
}

int valetkey_revocations_status(valetkey_verifier *v, int64_t *stale_seconds, uint64_t *seq)
{
    struct vk_revfeed_status st;
    if (v == NULL || v->feed == NULL)
        return VALETKEY_EINVAL;
    vk_revfeed_status(v->feed, &st);
    if (stale_seconds != NULL)
        *stale_seconds = st.stale_ms / 1000;
    if (seq != NULL)
        *seq = st.seq;
    if (st.overflow)
        return VALETKEY_ECAPACITY;
    return st.stale_ms > v->feed_max_stale_ms ? VALETKEY_ESTALE : VALETKEY_OK;
}

int valetkey_verify(valetkey_verifier *v, const char *token, size_t len,
                    const struct valetkey_request *rq, valetkey_claims **claims)
{
    struct valetkey_claims *c = NULL;
    uint8_t digest[VK_H128_LEN];
    vk_str tok = {token, len};
    int64_t now;
    int rc;

    if (claims != NULL)
        *claims = NULL;
    if (v == NULL ||
        (rq != NULL && rq->scheme != VALETKEY_SCHEME_BEARER && rq->scheme != VALETKEY_SCHEME_DPOP))
        return VALETKEY_EINVAL;
    if (token == NULL || len == 0)
        return VALETKEY_NO_TOKEN;
    /* A host without DPoP: the scheme is as unknown to it as Basic (RFC 6750 §3.1). */
    if (v->dpop_disabled && rq != NULL && rq->scheme == VALETKEY_SCHEME_DPOP)
        return VALETKEY_NO_TOKEN;
    if (len > VALETKEY_MAX_TOKEN_LEN)
        return VALETKEY_TOKEN_MALFORMED;
    if (v->feed != NULL) {
        rc = feed_gate(v);
        if (rc != VALETKEY_OK)
            return rc;
    }
    now = vk_verifier_now(v);
    vk_siphash24_128(v->hkey, token, len, digest);
    rc = vk_seen_lookup(v->seen, digest, now, v->leeway, vk_keysrc_epoch(v->keys), &c);
    if (rc == VALETKEY_NO_TOKEN)
        rc = verify_new(v, tok, digest, now, &c);
    if (rc != VALETKEY_OK)
        return rc;
    rc = check_binding(v, c, tok, rq, now);
    if (rc != VALETKEY_OK || claims == NULL)
        valetkey_claims_free(c);
    else
        *claims = c;
    return rc;
}

int vk_verifier_revoke(valetkey_verifier *v, enum vk_revoke_kind kind, vk_str value,
                       int64_t until)
{
    uint8_t key[VK_H128_LEN];
    int64_t now = vk_verifier_now(v), keep;

    if (value.p == NULL || value.len == 0 || (unsigned)kind >= VK_REVOKE_KINDS)
        return VK_EINVAL;
    vk_siphash24_128(v->rkey[kind], value.p, value.len, key);
    /* Kept while a token with this jti could still pass the exp check (exp + leeway). */
    if (__builtin_add_overflow(until, v->leeway + 1, &keep))
        keep = INT64_MAX;
    return vk_seen_revoke(v->seen, key, keep, now);
}

void vk_verifier_stats(valetkey_verifier *v, struct vk_verifier_stats *out)
{
    out->jwks_fetches = vk_keysrc_fetches(v->keys);
    out->seen_entries = vk_seen_count(v->seen);
}

int valetkey_verifier_set_jwks(valetkey_verifier *v, const char *json, size_t len)
{
    struct vk_err err = {{0}};
    if (v == NULL || json == NULL)
        return VALETKEY_EINVAL;
    int rc = vk_keysrc_set(v->keys, json, len, &err);
    return rc == VK_OK ? VALETKEY_OK : rc == VK_ENOMEM ? VALETKEY_ENOMEM : VALETKEY_EFETCH;
}

int valetkey_dpop_nonce(valetkey_verifier *v, char *buf, size_t size)
{
    if (v == NULL || buf == NULL || !v->dpop_nonce_on)
        return VALETKEY_EINVAL;
    if (size < 64)
        return VALETKEY_ETOOBIG;
    vk_dpop_nonce_make(&v->nonce, vk_verifier_now(v), buf);
    return VALETKEY_OK;
}

/* ---- the Authorization header ---- */

static bool b64token_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/';
}

int valetkey_authorization_parse(const char *header, int *scheme, const char **token,
                                 size_t *len)
{
    size_t i = 0, start, end;

    if (scheme == NULL || token == NULL || len == NULL)
        return VALETKEY_EINVAL;
    *scheme = VALETKEY_SCHEME_BEARER;
    *token = NULL;
    *len = 0;
    if (header == NULL || header[0] == '\0')
        return VALETKEY_NO_TOKEN;
    while (header[i] != '\0' && header[i] != ' ')
        i++;
    /* RFC 9110 §11.1: the scheme name is case-insensitive. Another scheme (Basic, ...) carries
     * no credentials for us: a plain 401 with our challenge, not a 400. */
    vk_str name = {header, i};
    if (vk_str_eq_nocase_lit(name, "Bearer"))
        *scheme = VALETKEY_SCHEME_BEARER;
    else if (vk_str_eq_nocase_lit(name, "DPoP"))
        *scheme = VALETKEY_SCHEME_DPOP;
    else
        return VALETKEY_NO_TOKEN;
    while (header[i] == ' ')
        i++;
    /* RFC 6750 §2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=" */
    start = i;
    while (b64token_char(header[i]))
        i++;
    if (i == start)
        return VALETKEY_BAD_REQUEST;
    while (header[i] == '=')
        i++;
    end = i;
    if (header[i] != '\0')
        return VALETKEY_BAD_REQUEST;
    *token = header + start;
    *len = end - start;
    return VALETKEY_OK;
}

/* ---- errors ---- */

const char *valetkey_strerror(int rc)
{
    switch (rc) {
    case VALETKEY_OK: return "ok";
    case VALETKEY_ENOMEM: return "out of memory";
    case VALETKEY_EINVAL: return "invalid argument";
    case VALETKEY_EFETCH: return "the issuer's metadata or keys could not be fetched";
    case VALETKEY_EBUSY: return "library objects are still alive";
    case VALETKEY_ETOOBIG: return "buffer too small";
    case VALETKEY_ECAPACITY: return "a bounded table is full";
    case VALETKEY_EINTERNAL: return "internal error";
    case VALETKEY_ESTALE: return "the revocation feed is unreachable (fail-closed)";
    case VALETKEY_NO_TOKEN: return "no access token";
    case VALETKEY_TOKEN_MALFORMED: return "the access token is malformed";
    case VALETKEY_TOKEN_SIGNATURE: return "the access token signature is invalid";
    case VALETKEY_TOKEN_UNKNOWN_KEY: return "the access token is signed with an unknown key";
    case VALETKEY_TOKEN_TYPE: return "the token is not an access token";
    case VALETKEY_TOKEN_ISSUER: return "the access token is from another issuer";
    case VALETKEY_TOKEN_AUDIENCE: return "the access token is not meant for this resource";
    case VALETKEY_TOKEN_EXPIRED: return "the access token expired";
    case VALETKEY_TOKEN_NOT_YET_VALID: return "the access token is not valid yet";
    case VALETKEY_TOKEN_CLAIMS: return "the access token lacks required claims";
    case VALETKEY_TOKEN_REVOKED: return "the access token was revoked";
    case VALETKEY_TOKEN_DPOP_BOUND: return "a DPoP-bound token must use the DPoP scheme";
    case VALETKEY_TOKEN_NOT_BOUND: return "the access token is not DPoP-bound";
    case VALETKEY_TOKEN_CERT_MISMATCH:
        return "the access token is bound to a TLS client certificate that was not presented";
    case VALETKEY_INSUFFICIENT_SCOPE: return "the access token lacks the required scope";
    case VALETKEY_BAD_REQUEST: return "malformed Authorization header";
    case VALETKEY_DPOP_MISSING: return "a DPoP proof is required";
    case VALETKEY_DPOP_MALFORMED: return "the DPoP proof is malformed";
    case VALETKEY_DPOP_ALG: return "the DPoP proof algorithm is not accepted";
    case VALETKEY_DPOP_KEY: return "the DPoP proof key is not an acceptable public key";
    case VALETKEY_DPOP_SIGNATURE: return "the DPoP proof signature is invalid";
    case VALETKEY_DPOP_METHOD: return "the DPoP proof is for another method";
    case VALETKEY_DPOP_URL: return "the DPoP proof is for another URL";
    case VALETKEY_DPOP_IAT: return "the DPoP proof is too old or from the future";
    case VALETKEY_DPOP_REPLAY: return "the DPoP proof was used before";
    case VALETKEY_DPOP_ATH: return "the DPoP proof is not bound to this access token";
    case VALETKEY_DPOP_KEY_MISMATCH: return "the DPoP proof key does not match the token";
    case VALETKEY_DPOP_USE_NONCE: return "a DPoP nonce is required";
    default: return "unknown error";
    }
}

const char *valetkey_rc_error(int rc)
{
    if (rc >= VALETKEY_TOKEN_MALFORMED && rc <= VALETKEY_TOKEN_CERT_MISMATCH)
        return "invalid_token";
    if (rc == VALETKEY_INSUFFICIENT_SCOPE)
        return "insufficient_scope";
    if (rc == VALETKEY_BAD_REQUEST)
        return "invalid_request";
    if (rc >= VALETKEY_DPOP_MISSING && rc <= VALETKEY_DPOP_KEY_MISMATCH)
        return "invalid_dpop_proof";
    if (rc == VALETKEY_DPOP_USE_NONCE)
        return "use_dpop_nonce";
    return NULL;
}

int valetkey_http_status(int rc)
{
    if (rc == VALETKEY_OK)
        return 200;
    if (rc == VALETKEY_NO_TOKEN || (valetkey_rc_error(rc) != NULL &&
                                    rc != VALETKEY_INSUFFICIENT_SCOPE &&
                                    rc != VALETKEY_BAD_REQUEST))
        return 401;
    if (rc == VALETKEY_INSUFFICIENT_SCOPE)
        return 403;
    if (rc == VALETKEY_BAD_REQUEST)
        return 400;
    if (rc == VALETKEY_ENOMEM || rc == VALETKEY_EFETCH || rc == VALETKEY_ECAPACITY ||
        rc == VALETKEY_ESTALE)
        return 503;
    return 500;
}

/* ---- WWW-Authenticate ---- */

struct hbuf {
    char *p;
    size_t len, cap;
    bool overflow;
};

static void hput(struct hbuf *b, const char *s)
{
    size_t n = strlen(s);
    if (b->overflow || n >= b->cap - b->len) {
        b->overflow = true;
        return;
    }
    memcpy(b->p + b->len, s, n + 1);
    b->len += n;
}

static void hattr(struct hbuf *b, bool *first, const char *name, const char *value)
{
    hput(b, *first ? " " : ", ");
    *first = false;
    hput(b, name);
    hput(b, "=\"");
    hput(b, value);
    hput(b, "\"");
}

/* One challenge (RFC 9110 §11.6.1): scheme, then auth-params. */
static void challenge(struct hbuf *b, const valetkey_verifier *v, bool dpop, int rc,
                      const char *scope)
{
    const char *error = valetkey_rc_error(rc);
    bool first = true;

    hput(b, dpop ? "DPoP" : "Bearer");
    if (v->realm != NULL)
        hattr(b, &first, "realm", v->realm);
    if (error != NULL) {
        hattr(b, &first, "error", error);
        /* A fixed text per code: nothing from the request, so never the token. */
        hattr(b, &first, "error_description", valetkey_strerror(rc));
    }
    if (rc == VALETKEY_INSUFFICIENT_SCOPE && scope != NULL)
        hattr(b, &first, "scope", scope);
    if (dpop) /* RFC 9449 §7.1: the proof algorithms accepted */
        hattr(b, &first, "algs", v->dpop_algs);
    if (v->resource_metadata != NULL) /* RFC 9728 §5.1 */
        hattr(b, &first, "resource_metadata", v->resource_metadata);
}

int valetkey_www_authenticate(const valetkey_verifier *v, int rc,
                              const struct valetkey_request *rq, const char *scope, char *buf,
                              size_t size)
{
    struct hbuf b = {buf, 0, size, false};
    bool dpop;

    if (v == NULL || buf == NULL || size == 0)
        return VALETKEY_EINVAL;
    buf[0] = '\0';
    if (scope != NULL && (!quotable(scope) || strlen(scope) > MAX_CONFIG_STR))
        return VALETKEY_EINVAL;
    if (rc == VALETKEY_NO_TOKEN) {
        /* RFC 6750 §3.1, RFC 9449 §7.1: no error code; every scheme we accept. */
        if (!v->dpop_required)
            challenge(&b, v, false, rc, NULL);
        if (!v->dpop_required && !v->dpop_disabled)
            hput(&b, ", ");
        if (!v->dpop_disabled)
            challenge(&b, v, true, rc, NULL);
    } else if (v->dpop_disabled) {
        challenge(&b, v, false, rc, scope);
    } else {
        dpop = v->dpop_required || (rq != NULL && rq->scheme == VALETKEY_SCHEME_DPOP) ||
               rc == VALETKEY_TOKEN_DPOP_BOUND ||
               (rc >= VALETKEY_DPOP_MISSING && rc <= VALETKEY_DPOP_USE_NONCE);
        challenge(&b, v, dpop, rc, scope);
    }
    if (b.overflow) {
        buf[0] = '\0';
        return VALETKEY_ETOOBIG;
    }
    return VALETKEY_OK;
}

/* ---- memory, version ---- */

int valetkey_set_allocator(void *(*malloc_fn)(size_t), void *(*realloc_fn)(void *, size_t),
                           void (*free_fn)(void *))
{
    bool all = malloc_fn != NULL && realloc_fn != NULL && free_fn != NULL;
    bool none = malloc_fn == NULL && realloc_fn == NULL && free_fn == NULL;
    if (!all && !none)
        return VALETKEY_EINVAL;
    if (atomic_load(&vk_verify_live_objects) != 0)
        return VALETKEY_EBUSY;
    vk_mem_set(malloc_fn, realloc_fn, free_fn);
    return VALETKEY_OK;
}

const char *valetkey_version(void)
{
    return VALETKEY_VERSION;
}
