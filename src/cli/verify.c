/* valetkey verify: libvaletkey as a small HTTP service for API gateways (docs/verify.md) --
 * nginx auth_request, Traefik forwardAuth, Caddy forward_auth, Envoy ext_authz (HTTP), HAProxy.
 *
 * The gateway asks about each request it receives: GET/POST/... /check (or /check/<original
 * path>, Envoy's path_prefix) with the original request's method and URI (X-Original-Method and
 * X-Original-URI, or X-Forwarded-Method and X-Forwarded-Uri, or the path after /check), and its
 * Authorization and DPoP headers. The answer: 200 with X-Valetkey-Sub, -Client and -Scope for
 * the gateway to forward; 401 with WWW-Authenticate (Bearer or DPoP, with resource_metadata);
 * 403 insufficient_scope. The policy file says what each method and path needs. The service also
 * publishes the resource's RFC 9728 metadata at /.well-known/oauth-protected-resource.
 *
 * Only http/ (the server), verify/ through the public API (include/valetkey.h), and base/: no
 * store, no OAuth endpoint code (scripts/check-layers.sh holds it to that). */
#include "cli/cli.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/file.h"
#include "base/log.h"
#include "cli/verify_policy.h"
#include "http/server.h"
#include "valetkey.h"

#define MAX_ORIGINS    8
#define MAX_AUDIENCES  16
#define CHECK_PREFIX   "/check"
#define META_PATH      "/.well-known/oauth-protected-resource"
#define HEALTH_PATH    "/.well-known/valetkey-verify/health"
#define MAX_SECRET     1024

static const char usage[] =
    "usage: valetkey verify --issuer URL [--listen HOST:PORT] [--policy FILE]\n"
    "                       [--audience URI]... [--resource URI] [--public-url URL]...\n"
    "                       [--jwks-uri URL | --jwks-file FILE] [--ca-file FILE]\n"
    "                       [--client-id ID --client-secret-file FILE] [--revocations URL]\n"
    "                       [--revocations-max-stale SECONDS] [--revocations-fail-open]\n"
    "                       [--dpop-required] [--dpop-nonce-secret-file FILE]\n"
    "                       [--resource-metadata URL] [--realm NAME] [--leeway SECONDS]\n"
    "                       [--threads N] [--log-file PATH] [--insecure-http]\n";

static const char help[] =
    "usage: valetkey verify [options]\n"
    "Checks access tokens for an API gateway (nginx auth_request, Traefik forwardAuth, Caddy\n"
    "forward_auth, Envoy ext_authz, HAProxy): the gateway asks /check about each request\n"
    "(docs/verify.md, docs/nginx.md). Runs until SIGINT or SIGTERM; SIGHUP reopens --log-file.\n"
    "  --issuer URL                the authorization server (its metadata names the keys)\n"
    "  --listen HOST:PORT          default 127.0.0.1:8081 (only the gateway should reach it)\n"
    "  --policy FILE               METHOD /PATH-PREFIX [scope=S]... [audience=URI] per line;\n"
    "                              without one, every path needs a valid token and no scope\n"
    "  --audience URI              an audience this API answers to (repeatable; default: the\n"
    "                              --resource)\n"
    "  --resource URI              this API's resource identifier (RFC 8707, RFC 9728; default:\n"
    "                              the first --audience)\n"
    "  --public-url URL            the scheme://host[:port] clients use (repeatable; default:\n"
    "                              the --resource's), for DPoP proofs' htu\n"
    "  --jwks-uri URL              fetch the keys here instead of from the issuer's metadata\n"
    "  --jwks-file FILE            or read them from this JWK Set file\n"
    "  --ca-file FILE              PEM bundle to trust for the issuer instead of the system's\n"
    "  --client-id ID              a resource-server client (client add --introspect) that\n"
    "  --client-secret-file FILE   ...reads the revocation feed with this secret\n"
    "  --revocations URL           the feed (default: ISSUER/revocations with --client-id)\n"
    "  --revocations-max-stale S   seconds without the feed before refusing tokens (default 60)\n"
    "  --revocations-fail-open     keep accepting tokens when the feed is stale (report only)\n"
    "  --dpop-required             refuse every token that is not DPoP-bound\n"
    "  --dpop-nonce-secret-file F  require DPoP server nonces, made with this secret (32+ bytes,\n"
    "                              shared by every instance)\n"
    "  --resource-metadata URL     where clients find the RFC 9728 metadata (default: derived\n"
    "                              from --resource)\n"
    "  --realm NAME                realm of WWW-Authenticate\n"
    "  --leeway SECONDS            clock skew allowed on exp/nbf/iat (default 30)\n"
    "  --threads N                 HTTP worker threads (default: the CPUs the process may use)\n"
    "  --log-file PATH             log to this file instead of stderr; SIGHUP reopens it\n"
    "  --insecure-http             listen beyond loopback (tokens then cross the network in\n"
    "                              clear between the gateway and this service)\n";

struct vapp {
    valetkey_verifier *v;
    struct vk_vpolicy policy; /* n == 0: no policy, any valid token */
    char *origins[MAX_ORIGINS];
    size_t n_origins;
    char *metadata;
    size_t metadata_len;
    bool feed;
    struct vk_route routes[4];
    struct vk_router router;
};

/* ---- small helpers ---- */

static char *xstrdup(const char *s)
{
    char *p = strdup(s);
    if (p == NULL) {
        fputs("valetkey: out of memory\n", stderr);
        exit(1);
    }
    return p;
}

/* "https://Host:443/p" -> "https://host:443" (the origin as given, host lower-cased). NULL when
 * not an absolute http(s) URL. */
static char *origin_of(const char *url)
{
    const char *p = strstr(url, "://");
    if (p == NULL || (strncmp(url, "https://", 8) != 0 && strncmp(url, "http://", 7) != 0))
        return NULL;
    p += 3;
    size_t n = strcspn(p, "/?#");
    if (n == 0 || memchr(p, '@', n) != NULL)
        return NULL;
    size_t len = (size_t)(p - url) + n;
    char *o = xstrdup(url);
    o[len] = '\0';
    for (size_t i = (size_t)(p - url); i < len; i++)
        if (o[i] >= 'A' && o[i] <= 'Z')
            o[i] = (char)(o[i] - 'A' + 'a');
    return o;
}

/* RFC 9728 §3.1: the metadata URL of a resource: the well-known path goes between the host and
 * the resource's path, whose terminating slash after the host is dropped. */
static char *metadata_url_of(const char *resource, char **path_out)
{
    char *origin = origin_of(resource);
    if (origin == NULL)
        return NULL;
    const char *path = resource + strlen(origin);
    size_t plen = strcspn(path, "?#");
    if (plen == 1 && path[0] == '/')
        plen = 0;
    size_t n = strlen(origin) + sizeof META_PATH + plen;
    char *u = malloc(n);
    char *p = malloc(sizeof META_PATH + plen);
    if (u == NULL || p == NULL) {
        fputs("valetkey: out of memory\n", stderr);
        exit(1);
    }
    snprintf(p, sizeof META_PATH + plen, "%s%.*s", META_PATH, (int)plen, path);
    snprintf(u, n, "%s%s", origin, p);
    free(origin);
    *path_out = p;
    return u;
}

static bool header_value_ok(const char *s)
{
    for (; *s != '\0'; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
            return false;
    return true;
}

/* A header that must appear at most once: VK_OK with *v (or empty), VK_EINVAL when repeated. */
static int single_header(const struct vk_request *rq, const char *name, vk_str *v)
{
    *v = VK_STR_NULL;
    size_t n = vk_request_header_count(rq, name);
    if (n > 1)
        return VK_EINVAL;
    if (n == 1)
        vk_request_header(rq, name, v);
    return VK_OK;
}

/* ---- /check ---- */

/* Builds the answer for a refused request: the status valetkey_http_status gives, except that a
 * malformed request (400) is answered 401 with error="invalid_request": nginx's auth_request
 * passes only 401 and 403 on to the client, and turns anything else into a 500. */
static int refuse(struct vapp *app, const struct vk_request *rq, struct vk_response *rs, int rc,
                  const struct valetkey_request *vrq, const char *scope)
{
    char www[1024];
    int status = valetkey_http_status(rc);
    const char *error = valetkey_rc_error(rc);
    int r;

    if (status == 400)
        status = 401;
    if (status == 401 || status == 403) {
        r = valetkey_www_authenticate(app->v, rc, vrq, scope, www, sizeof www);
        if (r == VALETKEY_OK && (r = vk_response_header(rs, rq->arena, "WWW-Authenticate",
                                                        www)) != VK_OK)
            return r;
    }
    if (rc == VALETKEY_DPOP_USE_NONCE) {
        /* RFC 9449 §9: the nonce to use, in the 401 itself. */
        char nonce[64];
        if (valetkey_dpop_nonce(app->v, nonce, sizeof nonce) == VALETKEY_OK &&
            (r = vk_response_header(rs, rq->arena, "DPoP-Nonce", nonce)) != VK_OK)
            return r;
    }
    if (status == 503 && (r = vk_response_header(rs, rq->arena, "Retry-After", "1")) != VK_OK)
        return r;
    if (error != NULL)
        return vk_response_oauth_error(rs, rq->arena, status, error, valetkey_strerror(rc));
    return vk_response_json(rs, rq->arena, status, "{}", 2);
}

static void log_check(const struct vk_request *rq, vk_str method, const char *path, int status,
                      int rc, const valetkey_claims *c)
{
    char m[64], p[512];
    vk_log_info("event=verify.check method=%s path=%s status=%d result=%s sub=%s client=%s",
                vk_log_escape(method, m, sizeof m), vk_log_escape(vk_str_c(path), p, sizeof p),
                status, rc == VALETKEY_OK           ? "ok"
                        : rc == VALETKEY_EINVAL     ? "no_rule"
                        : rc == VALETKEY_NO_TOKEN   ? "no_token"
                        : valetkey_rc_error(rc) != NULL ? valetkey_rc_error(rc)
                                                        : "unavailable",
                c != NULL && valetkey_claims_sub(c) != NULL ? valetkey_claims_sub(c) : "-",
                c != NULL && valetkey_claims_client_id(c) != NULL ? valetkey_claims_client_id(c)
                                                                   : "-");
    (void)rq;
}

static int ep_check(void *appv, const struct vk_request *rq, struct vk_response *rs)
{
    struct vapp *app = appv;
    struct valetkey_request vrq = {.scheme = VALETKEY_SCHEME_BEARER};
    valetkey_claims *claims = NULL;
    const struct vk_vpolicy_rule *rule = NULL;
    vk_str method, uri, authz, dpop, fhost;
    char *path = NULL, *m = NULL, *u = NULL, *url = NULL, *a = NULL, *d = NULL;
    const char *logged_path;
    const char *token = NULL, *origin;
    size_t token_len = 0;
    int rc, r, status;

    /* Only /check and below are checks; anything else here is not ours. */
    vk_str tail = rq->path;
    if (!vk_str_starts_with_lit(tail, CHECK_PREFIX) ||
        (tail.len > sizeof CHECK_PREFIX - 1 && tail.p[sizeof CHECK_PREFIX - 1] != '/'))
        return vk_response_oauth_error(rs, rq->arena, 404, "not_found", "no such endpoint");
    tail.p += sizeof CHECK_PREFIX - 1;
    tail.len -= sizeof CHECK_PREFIX - 1;

    /* The original request: the gateway's headers, else the path after /check (Envoy). Each
     * at most once: two values would let a client's copy compete with the gateway's. */
    vk_str om, fm, ou, fu;
    if (single_header(rq, "x-original-method", &om) != VK_OK ||
        single_header(rq, "x-forwarded-method", &fm) != VK_OK ||
        single_header(rq, "x-original-uri", &ou) != VK_OK ||
        single_header(rq, "x-forwarded-uri", &fu) != VK_OK ||
        single_header(rq, "x-forwarded-host", &fhost) != VK_OK ||
        single_header(rq, "authorization", &authz) != VK_OK ||
        single_header(rq, "dpop", &dpop) != VK_OK) {
        rc = VALETKEY_BAD_REQUEST;
        goto refused;
    }
    method = om.len > 0 ? om : fm.len > 0 ? fm : rq->method_name;
    if (ou.len > 0) {
        uri = ou;
    } else if (fu.len > 0) {
        uri = fu;
    } else {
        const char *q = rq->raw_query.len > 0 ? "?" : "";
        char *s = vk_arena_printf(rq->arena, "%.*s%s%.*s", (int)tail.len, tail.p, q,
                                  (int)rq->raw_query.len, rq->raw_query.p);
        if (s == NULL)
            return VK_ENOMEM;
        uri = vk_str_c(s[0] == '\0' || s[0] == '?' ? vk_arena_printf(rq->arena, "/%s", s) : s);
        if (uri.p == NULL)
            return VK_ENOMEM;
    }
    /* Origin-form only (RFC 9112 §3.2.1): the path, then the query. */
    if (uri.len == 0 || uri.p[0] != '/' || uri.len > VK_MAX_JWT_LEN || method.len == 0 ||
        method.len > 32 || !vk_str_is_visible_ascii(uri, false) ||
        !vk_str_is_visible_ascii(method, false)) {
        rc = VALETKEY_BAD_REQUEST;
        goto refused;
    }
    size_t plen = 0;
    while (plen < uri.len && uri.p[plen] != '?' && uri.p[plen] != '#')
        plen++;
    path = vk_arena_alloc(rq->arena, plen + 2);
    if (path == NULL)
        return VK_ENOMEM;
    if (vk_vpolicy_normalize_path((vk_str){uri.p, plen}, path, plen + 2) != VK_OK) {
        rc = VALETKEY_BAD_REQUEST;
        goto refused;
    }
    if (app->policy.n > 0) {
        rule = vk_vpolicy_match(&app->policy, method, vk_str_c(path));
        if (rule == NULL) {
            /* Default deny: a path the policy does not name is not served to anyone. */
            log_check(rq, method, path, 403, VALETKEY_EINVAL, NULL);
            return vk_response_oauth_error(rs, rq->arena, 403, "access_denied",
                                           "no policy rule covers this request");
        }
    }

    /* The DPoP htu is the URL the client addressed: a configured origin (the Host header picks
     * one of them, never names a new one) and the original target. */
    origin = app->origins[0];
    for (size_t i = 0; fhost.len > 0 && i < app->n_origins; i++) {
        const char *h = strstr(app->origins[i], "://") + 3;
        if (vk_str_eq_nocase_lit(fhost, h))
            origin = app->origins[i];
    }
    m = vk_arena_strdup(rq->arena, method);
    u = vk_arena_strdup(rq->arena, uri);
    url = vk_arena_printf(rq->arena, "%s%s", origin, u != NULL ? u : "");
    a = authz.len > 0 ? vk_arena_strdup(rq->arena, authz) : NULL;
    d = dpop.len > 0 ? vk_arena_strdup(rq->arena, dpop) : NULL;
    if (m == NULL || u == NULL || url == NULL || (authz.len > 0 && a == NULL) ||
        (dpop.len > 0 && d == NULL))
        return VK_ENOMEM;
    vrq.method = m;
    vrq.url = url;
    vrq.dpop = d;
    rc = valetkey_authorization_parse(a, &vrq.scheme, &token, &token_len);
    if (rc == VALETKEY_OK)
        rc = valetkey_verify(app->v, token, token_len, &vrq, &claims);
    if (rc == VALETKEY_OK && rule != NULL && rule->audience != NULL)
        rc = valetkey_claims_require_audience(claims, rule->audience);
    if (rc == VALETKEY_OK && rule != NULL)
        rc = valetkey_claims_require_scope(claims, rule->scope);
    if (rc != VALETKEY_OK)
        goto refused;

    /* Allowed: who it is, for the gateway to pass upstream (it must drop any such header the
     * client sent: docs/verify.md). */
    {
        const char *sub = valetkey_claims_sub(claims), *cid = valetkey_claims_client_id(claims);
        const char *scope = valetkey_claims_scope(claims);
        r = VK_OK;
        if (sub != NULL && header_value_ok(sub))
            r = vk_response_header(rs, rq->arena, "X-Valetkey-Sub", sub);
        if (r == VK_OK && cid != NULL && header_value_ok(cid))
            r = vk_response_header(rs, rq->arena, "X-Valetkey-Client", cid);
        if (r == VK_OK && scope != NULL && header_value_ok(scope))
            r = vk_response_header(rs, rq->arena, "X-Valetkey-Scope", scope);
        if (r == VK_OK)
            r = vk_response_json(rs, rq->arena, 200, "{}", 2);
        log_check(rq, method, path, 200, VALETKEY_OK, claims);
        valetkey_claims_free(claims);
        return r;
    }
refused:
    logged_path = path != NULL ? path : "-";
    r = refuse(app, rq, rs, rc, vrq.method != NULL ? &vrq : NULL,
               rc == VALETKEY_INSUFFICIENT_SCOPE && rule != NULL ? rule->scope : NULL);
    status = rs->status;
    log_check(rq, vrq.method != NULL ? vk_str_c(vrq.method) : rq->method_name, logged_path,
              status, rc, claims);
    valetkey_claims_free(claims);
    return r;
}

/* ---- metadata and health ---- */

static int ep_metadata(void *appv, const struct vk_request *rq, struct vk_response *rs)
{
    struct vapp *app = appv;
    int rc = vk_response_header(rs, rq->arena, "Cache-Control", "max-age=300");
    if (rc == VK_OK)
        rc = vk_response_text(rs, rq->arena, 200, "application/json", app->metadata,
                              app->metadata_len);
    return rc;
}

static int ep_health(void *appv, const struct vk_request *rq, struct vk_response *rs)
{
    struct vapp *app = appv;
    int64_t stale = 0;
    uint64_t seq = 0;
    int rc = app->feed ? valetkey_revocations_status(app->v, &stale, &seq) : VALETKEY_OK;
    char *body = app->feed ? vk_arena_printf(rq->arena,
                                             "{\"status\":\"%s\",\"revocations\":{\"stale_seconds\""
                                             ":%lld,\"seq\":%llu}}",
                                             rc == VALETKEY_OK ? "ok" : "unavailable",
                                             (long long)stale, (unsigned long long)seq)
                           : vk_arena_printf(rq->arena, "{\"status\":\"ok\"}");
    if (body == NULL)
        return VK_ENOMEM;
    return vk_response_json(rs, rq->arena, rc == VALETKEY_OK ? 200 : 503, body, strlen(body));
}

/* ---- start-up ---- */

struct vopts {
    const char *issuer, *listen, *policy, *jwks_uri, *jwks_file, *ca_file, *client_id;
    const char *secret_file, *revocations, *resource, *resource_metadata, *realm, *log_file;
    const char *nonce_file;
    const char *audiences[MAX_AUDIENCES + 1];
    size_t n_aud;
    const char *public_urls[MAX_ORIGINS];
    size_t n_pub;
    long max_stale, leeway, threads;
    bool fail_open, dpop_required, insecure_http;
};

static int parse_long(const char *flag, const char *v, long min, long max, long *out)
{
    uint64_t n;
    if (vk_parse_u64(vk_str_c(v), (uint64_t)min, (uint64_t)max, &n) != VK_OK)
        return vk_cli_fail(2, "%s takes a number from %ld to %ld", flag, min, max);
    *out = (long)n;
    return 0;
}

static int parse_args(int argc, char **argv, struct vopts *o)
{
    memset(o, 0, sizeof *o);
    o->listen = "127.0.0.1:8081";
    o->max_stale = 60;
    o->leeway = 30;
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i];
        if (strcmp(f, "--revocations-fail-open") == 0) {
            o->fail_open = true;
            continue;
        }
        if (strcmp(f, "--dpop-required") == 0) {
            o->dpop_required = true;
            continue;
        }
        if (strcmp(f, "--insecure-http") == 0) {
            o->insecure_http = true;
            continue;
        }
        if (i + 1 >= argc || strncmp(f, "--", 2) != 0) {
            fputs(usage, stderr);
            return vk_cli_fail(2, strncmp(f, "--", 2) == 0 ? "%s needs a value"
                                                           : "unexpected argument '%s'",
                               f);
        }
        const char *v = argv[++i];
        int rc = 0;
        if (strcmp(f, "--issuer") == 0)
            o->issuer = v;
        else if (strcmp(f, "--listen") == 0)
            o->listen = v;
        else if (strcmp(f, "--policy") == 0)
            o->policy = v;
        else if (strcmp(f, "--jwks-uri") == 0)
            o->jwks_uri = v;
        else if (strcmp(f, "--jwks-file") == 0)
            o->jwks_file = v;
        else if (strcmp(f, "--ca-file") == 0)
            o->ca_file = v;
        else if (strcmp(f, "--client-id") == 0)
            o->client_id = v;
        else if (strcmp(f, "--client-secret-file") == 0)
            o->secret_file = v;
        else if (strcmp(f, "--revocations") == 0)
            o->revocations = v;
        else if (strcmp(f, "--resource") == 0)
            o->resource = v;
        else if (strcmp(f, "--resource-metadata") == 0)
            o->resource_metadata = v;
        else if (strcmp(f, "--realm") == 0)
            o->realm = v;
        else if (strcmp(f, "--log-file") == 0)
            o->log_file = v;
        else if (strcmp(f, "--dpop-nonce-secret-file") == 0)
            o->nonce_file = v;
        else if (strcmp(f, "--revocations-max-stale") == 0)
            rc = parse_long(f, v, 1, 86400, &o->max_stale);
        else if (strcmp(f, "--leeway") == 0)
            rc = parse_long(f, v, 0, 300, &o->leeway);
        else if (strcmp(f, "--threads") == 0)
            rc = parse_long(f, v, 1, 1024, &o->threads);
        else if (strcmp(f, "--audience") == 0) {
            if (o->n_aud == MAX_AUDIENCES)
                return vk_cli_fail(2, "at most %d --audience", MAX_AUDIENCES);
            o->audiences[o->n_aud++] = v;
        } else if (strcmp(f, "--public-url") == 0) {
            if (o->n_pub == MAX_ORIGINS)
                return vk_cli_fail(2, "at most %d --public-url", MAX_ORIGINS);
            o->public_urls[o->n_pub++] = v;
        } else {
            fputs(usage, stderr);
            return vk_cli_fail(2, "unknown option '%s'", f);
        }
        if (rc != 0)
            return rc;
    }
    if (o->issuer == NULL)
        return vk_cli_fail(2, "--issuer is required");
    if (o->n_aud == 0 && o->resource == NULL)
        return vk_cli_fail(2, "--audience or --resource is required (the aud tokens must name)");
    if (o->resource == NULL)
        o->resource = o->audiences[0];
    if (o->n_aud == 0)
        o->audiences[o->n_aud++] = o->resource;
    if ((o->client_id == NULL) != (o->secret_file == NULL))
        return vk_cli_fail(2, "--client-id and --client-secret-file go together");
    if (o->revocations != NULL && o->client_id == NULL)
        return vk_cli_fail(2, "--revocations needs --client-id and --client-secret-file");
    return 0;
}

/* The listen host is loopback (127.0.0.0/8, ::1, localhost). */
static bool loopback_listen(const char *listen)
{
    return strncmp(listen, "127.", 4) == 0 || strncmp(listen, "[::1]:", 6) == 0 ||
           strncmp(listen, "localhost:", 10) == 0;
}

/* Reads a secret file: one line, trailing newline dropped. */
static char *read_secret(const char *path, const char *what)
{
    struct vk_err err = {{0}};
    char *buf = NULL;
    size_t n = 0;
    if (vk_file_read(path, MAX_SECRET, &buf, &n, &err) != VK_OK) {
        vk_cli_fail(2, "%s: %s", what, err.msg);
        return NULL;
    }
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        buf[--n] = '\0';
    if (n == 0 || strlen(buf) != n) {
        vk_file_free(buf, n);
        vk_cli_fail(2, "%s: the file must hold the secret on one line", what);
        return NULL;
    }
    char *s = xstrdup(buf);
    vk_file_free(buf, n);
    return s;
}

static void wipe_free(char *s)
{
    if (s != NULL) {
        memset(s, 0, strlen(s));
        free(s);
    }
}

/* The RFC 9728 §2 document. Only what this service does: bearer tokens in the header (never
 * the query or a form body), DPoP with the library's algorithms. */
static int build_metadata(struct vapp *app, const struct vopts *o)
{
    struct vk_buf b;
    int rc;
    vk_buf_init(&b, 256 * 1024);
    rc = vk_buf_append_str(&b, "{");
    if (rc == VK_OK)
        rc = vk_buf_append_json_member(&b, "resource", o->resource, 1);
    if (rc == VK_OK)
        rc = vk_buf_append_str(&b, ",\"authorization_servers\":[\"");
    if (rc == VK_OK)
        rc = vk_buf_append_json(&b, vk_str_c(o->issuer));
    if (rc == VK_OK)
        rc = vk_buf_append_str(&b, "\"],\"scopes_supported\":[");
    /* Every scope the policy asks for, once each, in the order first named. */
    vk_str *seen = NULL;
    size_t n_seen = 0, cap = 0;
    for (size_t i = 0; rc == VK_OK && i < app->policy.n; i++) {
        vk_str rest = vk_str_c(app->policy.rules[i].scope), t;
        while (rc == VK_OK && vk_str_next_token(&rest, ' ', &t)) {
            bool dup = false;
            for (size_t j = 0; j < n_seen && !dup; j++)
                dup = vk_str_eq(seen[j], t);
            if (dup)
                continue;
            if (n_seen == cap) {
                cap = cap == 0 ? 16 : 2 * cap;
                vk_str *ns = realloc(seen, cap * sizeof *ns);
                if (ns == NULL) {
                    rc = VK_ENOMEM;
                    break;
                }
                seen = ns;
            }
            seen[n_seen] = t;
            rc = vk_buf_append_str(&b, n_seen++ > 0 ? ",\"" : "\"");
            if (rc == VK_OK)
                rc = vk_buf_append_json(&b, t);
            if (rc == VK_OK)
                rc = vk_buf_append_str(&b, "\"");
        }
    }
    free(seen);
    if (rc == VK_OK)
        rc = vk_buf_append_str(&b, "],\"bearer_methods_supported\":[\"header\"],"
                                   "\"dpop_signing_alg_values_supported\":[\"ES256\",\"PS256\","
                                   "\"RS256\",\"EdDSA\"]");
    if (rc == VK_OK)
        rc = vk_buf_printf(&b, ",\"dpop_bound_access_tokens_required\":%s}",
                           o->dpop_required ? "true" : "false");
    if (rc == VK_OK) {
        app->metadata = xstrdup(b.p);
        app->metadata_len = b.len;
    }
    vk_buf_clear(&b);
    return rc;
}

int vk_cmd_verify(int argc, char **argv)
{
    struct vopts o;
    struct vapp app;
    struct vk_err err = {{0}};
    struct vk_http_server *srv = NULL;
    struct valetkey_options vo;
    char *secret = NULL, *nonce_secret = NULL, *meta_url = NULL, *meta_path = NULL;
    char *feed_url = NULL, bound[300];
    int fd = -1, status = 1, rc;

    memset(&app, 0, sizeof app);
    if (vk_cli_wants_help(argc, argv)) {
        fputs(help, stdout);
        return 0;
    }
    if (parse_args(argc, argv, &o) != 0)
        return 2;
    if (!loopback_listen(o.listen) && !o.insecure_http)
        return vk_cli_fail(2, "listening on %s, beyond loopback, in plain http: tokens would cross "
                              "the network in clear between the gateway and this service. Listen "
                              "on loopback next to the gateway, or pass --insecure-http",
                           o.listen);
    if (o.policy != NULL) {
        char *text = NULL;
        size_t n = 0;
        if (vk_file_read(o.policy, VK_VPOLICY_MAX_FILE, &text, &n, &err) != VK_OK)
            return vk_cli_fail(2, "%s", err.msg);
        rc = vk_vpolicy_parse(text, n, &app.policy, &err);
        vk_file_free(text, n);
        if (rc != VK_OK)
            return vk_cli_fail(2, "%s: %s", o.policy, err.msg);
    }
    /* The audiences: the flags', then every audience a rule names. */
    const char *auds[MAX_AUDIENCES * 2 + 1];
    size_t na = 0;
    for (size_t i = 0; i < o.n_aud; i++)
        auds[na++] = o.audiences[i];
    for (size_t i = 0; i < app.policy.n; i++) {
        const char *a = app.policy.rules[i].audience;
        bool have = a == NULL;
        for (size_t j = 0; j < na && !have; j++)
            have = strcmp(auds[j], a) == 0;
        if (!have && na == MAX_AUDIENCES * 2) {
            rc = vk_cli_fail(2, "too many audiences");
            goto out;
        }
        if (!have)
            auds[na++] = a;
    }
    auds[na] = NULL;
    /* Origins for DPoP's htu. */
    if (o.n_pub == 0)
        o.public_urls[o.n_pub++] = o.resource;
    for (size_t i = 0; i < o.n_pub; i++) {
        app.origins[i] = origin_of(o.public_urls[i]);
        if (app.origins[i] == NULL) {
            vk_cli_fail(2, "%s is not an absolute http(s) URL (--public-url, --resource)",
                        o.public_urls[i]);
            status = 2;
            goto out;
        }
        app.n_origins++;
    }
    meta_url = o.resource_metadata != NULL ? xstrdup(o.resource_metadata)
                                           : metadata_url_of(o.resource, &meta_path);
    if (meta_url == NULL) {
        vk_cli_fail(2, "--resource %s is not an absolute http(s) URL", o.resource);
        status = 2;
        goto out;
    }
    if (o.secret_file != NULL && (secret = read_secret(o.secret_file, "--client-secret-file")) ==
                                     NULL) {
        status = 2;
        goto out;
    }
    if (o.nonce_file != NULL &&
        (nonce_secret = read_secret(o.nonce_file, "--dpop-nonce-secret-file")) == NULL) {
        status = 2;
        goto out;
    }
    if (o.client_id != NULL) {
        if (o.revocations != NULL) {
            feed_url = xstrdup(o.revocations);
        } else {
            size_t n = strlen(o.issuer) + sizeof "/revocations";
            feed_url = malloc(n);
            if (feed_url == NULL)
                goto out;
            /* valetkey's feed sits beside its other endpoints, under the issuer. */
            snprintf(feed_url, n, "%.*s/revocations",
                     (int)(strlen(o.issuer) - (o.issuer[strlen(o.issuer) - 1] == '/')), o.issuer);
        }
    }

    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL); /* threads inherit; the main thread waits below */
    signal(SIGPIPE, SIG_IGN);
    if (o.log_file != NULL && vk_log_open_file(o.log_file, &err) != VK_OK) {
        vk_cli_fail(1, "%s", err.msg);
        goto out;
    }

    valetkey_options_init(&vo);
    vo.issuer = o.issuer;
    vo.audiences = auds;
    vo.jwks_uri = o.jwks_uri;
    vo.jwks_file = o.jwks_file;
    vo.ca_file = o.ca_file;
    vo.leeway = o.leeway;
    vo.realm = o.realm;
    vo.resource_metadata = meta_url;
    vo.dpop_required = o.dpop_required;
    vo.dpop_nonce = nonce_secret != NULL;
    vo.dpop_nonce_secret = nonce_secret;
    vo.revocations_url = feed_url;
    vo.revocations_client_id = o.client_id;
    vo.revocations_client_secret = secret;
    vo.revocations_max_stale = o.max_stale;
    vo.revocations_fail_open = o.fail_open;
    rc = valetkey_verifier_new(&app.v, &vo);
    if (rc != VALETKEY_OK) {
        vk_cli_fail(1, "cannot start the verifier: %s", valetkey_strerror(rc));
        goto out;
    }
    app.feed = feed_url != NULL;
    if (build_metadata(&app, &o) != VK_OK) {
        vk_cli_fail(1, "out of memory");
        goto out;
    }
    size_t nr = 0;
    app.routes[nr++] = (struct vk_route){META_PATH, VK_METHOD_GET, ep_metadata, "metadata", 1};
    if (meta_path != NULL && strcmp(meta_path, META_PATH) != 0)
        app.routes[nr++] = (struct vk_route){meta_path, VK_METHOD_GET, ep_metadata, "metadata", 1};
    app.routes[nr++] = (struct vk_route){HEALTH_PATH, VK_METHOD_GET, ep_health, "health", 0};
    app.routes[nr++] = (struct vk_route){"*", VK_METHOD_ANY, ep_check, "check", 0};
    app.router = (struct vk_router){app.routes, nr};

    if (vk_http_listen(o.listen, &fd, bound, sizeof bound, &err) != VK_OK) {
        vk_cli_fail(1, "%s", err.msg);
        goto out;
    }
    struct vk_http_opts ho;
    vk_http_opts_defaults(&ho);
    ho.fd = fd;
    ho.threads = (unsigned)o.threads;
    ho.defer_threads = 1; /* nothing here defers */
    /* The gateway keeps connections open and sends everything from one address. */
    ho.conn_limit = 4096;
    ho.conn_limit_per_addr = 4096;
    ho.header_timeout_s = 60;
    ho.router = &app.router;
    ho.app = &app;
    fd = -1;
    if (vk_http_start(&ho, &srv, &err) != VK_OK) {
        vk_cli_fail(1, "%s", err.msg);
        goto out;
    }
    vk_log_start_async();
    vk_log_info("event=verify.started listen=%s issuer=%s resource=%s rules=%zu revocations=%s",
                bound, o.issuer, o.resource, app.policy.n, feed_url != NULL ? "on" : "off");
    printf("valetkey verify listening on http://%s\n", bound);
    fflush(stdout);
    for (;;) {
        int sig = sigwaitinfo(&set, NULL);
        if (sig == SIGINT || sig == SIGTERM)
            break;
        if (sig == SIGHUP && o.log_file != NULL && vk_log_reopen(&err) != VK_OK)
            vk_log_error("event=log.reopen result=failed");
    }
    vk_log_info("event=verify.stopping");
    if (vk_http_stop(srv) != VK_OK) {
        vk_log_stop();
        _exit(1);
    }
    srv = NULL;
    status = 0;
out:
    vk_http_stop(srv);
    if (fd >= 0)
        close(fd);
    valetkey_verifier_free(app.v);
    vk_vpolicy_clear(&app.policy);
    for (size_t i = 0; i < app.n_origins; i++)
        free(app.origins[i]);
    free(app.metadata);
    free(meta_url);
    free(meta_path);
    free(feed_url);
    wipe_free(secret);
    wipe_free(nonce_secret);
    vk_log_stop();
    return status;
}
