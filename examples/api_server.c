/* api_server: a small API protected by libvaletkey -- an example, not part of valetkey.
 *
 *   GET  /v1/models   needs scope ai:models
 *   POST /v1/chat     needs scope ai:chat
 *
 * Every request's access token (Authorization: Bearer ..., or DPoP ... with a DPoP proof) is
 * checked by valetkey_verify against the issuer's keys, which the library discovers and keeps
 * fresh. A missing, invalid or expired token gets 401, a token without the scope 403, each with
 * the WWW-Authenticate value RFC 6750 (and RFC 9449) asks for. Nothing here logs a token.
 *
 * Build against an installed libvaletkey, or against the tree (make examples does this):
 *
 *   cc -o api_server api_server.c $(pkg-config --cflags --libs valetkey libmicrohttpd)
 *
 * Run:
 *
 *   ./api_server --issuer https://as.example.com --audience https://api.example.com/ \
 *                [--listen 127.0.0.1:8081] [--public-url https://api.example.com] [--leeway 30]
 *
 * It prints "api_server listening on http://HOST:PORT" on its first line and stops on SIGTERM.
 * --public-url is the scheme and authority clients use to reach it (behind a proxy), needed to
 * check the URL a DPoP proof names; by default it is http:// and the Host header. */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <microhttpd.h>
#include <valetkey.h>

static valetkey_verifier *verifier;
static const char *public_url; /* NULL: http:// + Host */

struct route {
    const char *method;
    const char *path;
    const char *scope;
};

static const struct route routes[] = {
    {"GET", "/v1/models", "ai:models"},
    {"POST", "/v1/chat", "ai:chat"},
};

/* Appends s to a JSON string being built, escaped (claims come from the token issuer, but an
 * example should still never emit broken JSON). */
static void json_escape(char *out, size_t outsz, const char *s)
{
    size_t o = strlen(out);
    for (; s != NULL && *s != '\0' && o + 7 < outsz; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            out[o++] = '\\';
            out[o++] = (char)c;
        } else if (c < 0x20) {
            o += (size_t)snprintf(out + o, outsz - o, "\\u%04x", c);
        } else {
            out[o++] = (char)c;
        }
    }
    out[o] = '\0';
}

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status, const char *body,
                             const char *www_authenticate, const char *dpop_nonce)
{
    struct MHD_Response *res =
        MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
    if (res == NULL)
        return MHD_NO;
    MHD_add_response_header(res, "Content-Type", "application/json");
    MHD_add_response_header(res, "Cache-Control", "no-store");
    if (www_authenticate != NULL && www_authenticate[0] != '\0')
        MHD_add_response_header(res, "WWW-Authenticate", www_authenticate);
    if (dpop_nonce != NULL)
        MHD_add_response_header(res, "DPoP-Nonce", dpop_nonce);
    enum MHD_Result r = MHD_queue_response(conn, status, res);
    MHD_destroy_response(res);
    return r;
}

/* The RFC 6750 §3 answer for a refused request: status, WWW-Authenticate, a JSON error body. */
static enum MHD_Result refuse(struct MHD_Connection *conn, int rc,
                              const struct valetkey_request *rq, const char *scope)
{
    char www[1024], body[512] = "", nonce[64];
    const char *error = valetkey_rc_error(rc);
    const char *nonce_hdr = NULL;

    if (valetkey_www_authenticate(verifier, rc, rq, scope, www, sizeof www) != VALETKEY_OK)
        www[0] = '\0';
    if (rc == VALETKEY_DPOP_USE_NONCE && valetkey_dpop_nonce(verifier, nonce, sizeof nonce) == 0)
        nonce_hdr = nonce;
    if (error != NULL) {
        /* Both strings are static texts of the library: never the token. */
        snprintf(body, sizeof body, "{\"error\":\"%s\",\"error_description\":\"%s\"}", error,
                 valetkey_strerror(rc));
    } else {
        snprintf(body, sizeof body, "{}");
    }
    return reply(conn, (unsigned)valetkey_http_status(rc), body, www, nonce_hdr);
}

static enum MHD_Result count_dpop(void *cls, enum MHD_ValueKind kind, const char *key,
                                  const char *value)
{
    (void)kind;
    (void)value;
    if (strcasecmp(key, "DPoP") == 0)
        (*(int *)cls)++;
    return MHD_YES;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload_data,
                              size_t *upload_size, void **req_cls)
{
    static int first_call_marker;
    const struct route *route = NULL;
    bool path_known = false;
    (void)cls;
    (void)version;
    (void)upload_data;

    /* libmicrohttpd calls once for the headers, then for each body chunk: decide on the first
     * call (the token is in the headers), swallow the body (this example ignores it). */
    if (*req_cls == NULL) {
        *req_cls = &first_call_marker;
        return MHD_YES;
    }
    if (*upload_size != 0) {
        *upload_size = 0;
        return MHD_YES;
    }
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        if (strcmp(url, routes[i].path) != 0)
            continue;
        path_known = true;
        if (strcmp(method, routes[i].method) == 0)
            route = &routes[i];
    }
    if (!path_known)
        return reply(conn, 404, "{\"error\":\"not_found\"}", NULL, NULL);
    if (route == NULL)
        return reply(conn, 405, "{\"error\":\"method_not_allowed\"}", NULL, NULL);

    /* The request as the client addressed it, for a DPoP proof's htm and htu. */
    const char *host = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Host");
    char full_url[1024];
    if (public_url != NULL)
        snprintf(full_url, sizeof full_url, "%s%s", public_url, url);
    else
        snprintf(full_url, sizeof full_url, "http://%s%s", host != NULL ? host : "localhost", url);
    int dpop_fields = 0;
    MHD_get_connection_values(conn, MHD_HEADER_KIND, count_dpop, &dpop_fields);
    struct valetkey_request rq = {
        .scheme = VALETKEY_SCHEME_BEARER,
        .method = method,
        .url = full_url,
        .dpop = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "DPoP"),
    };

    const char *token;
    size_t len;
    const char *authz = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
    int rc = valetkey_authorization_parse(authz, &rq.scheme, &token, &len);
    if (rc == VALETKEY_OK && dpop_fields > 1)
        rc = VALETKEY_BAD_REQUEST; /* RFC 9449 §4.3: exactly one DPoP header */
    valetkey_claims *claims = NULL;
    if (rc == VALETKEY_OK)
        rc = valetkey_verify(verifier, token, len, &rq, &claims);
    if (rc == VALETKEY_OK)
        rc = valetkey_claims_require_scope(claims, route->scope);
    if (rc != VALETKEY_OK) {
        fprintf(stderr, "api_server: %s %s -> %d %s\n", method, url, valetkey_http_status(rc),
                valetkey_strerror(rc));
        valetkey_claims_free(claims);
        return refuse(conn, rc, &rq, route->scope);
    }

    char body[2048] = "";
    if (strcmp(route->path, "/v1/models") == 0)
        snprintf(body, sizeof body, "{\"object\":\"list\",\"data\":[{\"id\":\"tiny-1\"}],\"sub\":\"");
    else
        snprintf(body, sizeof body, "{\"reply\":\"hello\",\"sub\":\"");
    json_escape(body, sizeof body, valetkey_claims_sub(claims));
    strncat(body, "\",\"client_id\":\"", sizeof body - strlen(body) - 1);
    json_escape(body, sizeof body, valetkey_claims_client_id(claims));
    strncat(body, "\"}", sizeof body - strlen(body) - 1);
    fprintf(stderr, "api_server: %s %s -> 200 client=%s\n", method, url,
            valetkey_claims_client_id(claims));
    valetkey_claims_free(claims);
    return reply(conn, 200, body, NULL, NULL);
}

static int usage(void)
{
    fprintf(stderr, "usage: api_server --issuer URL --audience AUD [--listen HOST:PORT] "
                    "[--public-url URL] [--leeway SECONDS] [--ca-file PEM]\n");
    return 2;
}

int main(int argc, char **argv)
{
    const char *issuer = NULL, *audience = NULL, *listen_at = "127.0.0.1:8081";
    const char *ca_file = NULL;
    long leeway = 30;

    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--issuer") == 0)
            issuer = argv[i + 1];
        else if (strcmp(argv[i], "--audience") == 0)
            audience = argv[i + 1];
        else if (strcmp(argv[i], "--listen") == 0)
            listen_at = argv[i + 1];
        else if (strcmp(argv[i], "--public-url") == 0)
            public_url = argv[i + 1];
        else if (strcmp(argv[i], "--leeway") == 0)
            leeway = strtol(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--ca-file") == 0)
            ca_file = argv[i + 1];
        else
            return usage();
    }
    if (issuer == NULL || audience == NULL || argc % 2 == 0)
        return usage();

    /* The verifier: keys from the issuer's metadata, refreshed in the background. */
    const char *audiences[] = {audience, NULL};
    struct valetkey_options opt;
    valetkey_options_init(&opt);
    opt.issuer = issuer;
    opt.audiences = audiences;
    opt.leeway = leeway;
    opt.realm = "api_server";
    opt.ca_file = ca_file;
    int rc = valetkey_verifier_new(&verifier, &opt);
    if (rc != VALETKEY_OK) {
        fprintf(stderr, "api_server: cannot verify tokens of %s: %s\n", issuer,
                valetkey_strerror(rc));
        return 1;
    }

    /* Listen on the loopback address given (an example: IPv4 only). */
    char host[64];
    const char *colon = strrchr(listen_at, ':');
    if (colon == NULL || (size_t)(colon - listen_at) >= sizeof host)
        return usage();
    memcpy(host, listen_at, (size_t)(colon - listen_at));
    host[colon - listen_at] = '\0';
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(colon + 1))};
    if (inet_pton(AF_INET, host, &addr.sin_addr) != 1)
        return usage();

    /* Signals are taken by sigwait below, not by whichever thread they land on. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);

    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL_LINUX_ONLY | MHD_USE_ERROR_LOG, 0, NULL,
        NULL, handle, NULL, MHD_OPTION_SOCK_ADDR, &addr, MHD_OPTION_THREAD_POOL_SIZE, 2u,
        MHD_OPTION_CONNECTION_TIMEOUT, 30u, MHD_OPTION_END);
    if (d == NULL) {
        fprintf(stderr, "api_server: cannot listen on %s\n", listen_at);
        valetkey_verifier_free(verifier);
        return 1;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    printf("api_server listening on http://%s:%u\n", host, info != NULL ? info->port : 0);
    fflush(stdout);

    int sig;
    sigwait(&sigs, &sig);
    MHD_stop_daemon(d);
    valetkey_verifier_free(verifier);
    return 0;
}
