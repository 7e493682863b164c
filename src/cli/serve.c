/* valetkey serve: wires the configuration, the store, the keyring, the HTTP adapter and the
 * route table, then waits for signals: SIGTERM/SIGINT stop gracefully (the HTTP layer drains),
 * SIGHUP reopens the log file and reloads the TLS certificate and key. */
#include "cli/cli.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <pthread.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include "base/clock.h"
#include "base/crypto.h"
#include "base/file.h"
#include "base/log.h"
#include "jose/x509.h"
#include "grant/grant.h"
#include "http/server.h"
#include "http/tls.h"
#include "oauth/app.h"

static const char usage[] =
    "usage: valetkey serve [--data DIR] [--listen HOST:PORT] [--issuer URL] [--config FILE]\n"
    "                      [--access-token-ttl SECONDS] [--audience URI] [--threads N]\n"
    "                      [--refresh-grace-seconds N] [--refresh-token-ttl SECONDS]\n"
    "                      [--session-ttl SECONDS] [--account-reauth-max-age SECONDS]\n"
    "                      [--trusted-proxy ADDRESS] [--insecure-http]\n"
    "                      [--connection-limit N] [--connection-limit-per-address N]\n"
    "                      [--header-timeout SECONDS] [--body-timeout SECONDS]\n"
    "                      [--body-min-rate BYTES] [--shutdown-timeout SECONDS]\n"
    "                      [--log-file PATH] [--metrics-allow \"ADDR[/BITS] ...\"]\n"
    "                      [--master-key-file FILE]\n"
    "                      [--tls-cert FILE --tls-key FILE] [--tls-priorities STRING]\n"
    "                      [--tls-client-ca FILE] [--tls-request-client-cert]\n"
    "                      [--client-cert-header NAME] [--mtls-listen HOST:PORT]\n"
    "                      [--mtls-url URL]\n";

static const char help[] =
    "usage: valetkey serve [options]\n"
    "Runs the authorization server until SIGINT or SIGTERM (graceful: requests already received\n"
    "are answered); SIGHUP reopens --log-file and rereads --tls-cert/--tls-key. Options\n"
    "(config-file keys and VALETKEY_* variables in docs/configuration.md):\n"
    "  --data DIR                  data directory (default ./valetkey-data or $VALETKEY_DATA)\n"
    "  --config FILE               a config file of key = value lines; flags win over it\n"
    "  --listen HOST:PORT          default 127.0.0.1:8080; port 0 picks a free port\n"
    "  --issuer URL                the public URL (https in production; default http(s):// +\n"
    "                              the bound address)\n"
    "  --tls-cert FILE             serve HTTPS (TLS 1.2 and 1.3 only) with this PEM certificate\n"
    "                              chain, leaf first...\n"
    "  --tls-key FILE              ...and its PEM private key; both reread on SIGHUP\n"
    "  --tls-priorities STRING     GnuTLS priorities instead of the default (nothing below\n"
    "                              TLS 1.2 is accepted)\n"
    "  --tls-client-ca FILE        PEM CA certificates: request client certificates and accept\n"
    "                              those it issued for tls_client_auth (RFC 8705)\n"
    "  --tls-request-client-cert   request client certificates without a CA (self-signed ones,\n"
    "                              certificate-bound tokens)\n"
    "  --client-cert-header NAME   behind a TLS proxy: the header carrying the client\n"
    "                              certificate (URL-encoded PEM), believed only from\n"
    "                              --trusted-proxy\n"
    "  --mtls-listen HOST:PORT     a second TLS port, the only one asking for client\n"
    "                              certificates; published as mtls_endpoint_aliases\n"
    "  --mtls-url URL              its public base URL (default: the issuer's host, that port)\n"
    "  --insecure-http             allow a plain-http issuer or listener beyond loopback\n"
    "                              (cookies lose Secure and __Host-, tokens travel in clear)\n"
    "  --audience URI              default aud of clients without registered resources\n"
    "                              (default: the issuer)\n"
    "  --access-token-ttl SECONDS  access-token lifetime, 1..86400 (default 600)\n"
    "  --refresh-token-ttl SECONDS absolute lifetime of a refresh-token family (default 30 days)\n"
    "  --refresh-grace-seconds N   0..10: a just-rotated refresh token returns the same pair\n"
    "  --session-ttl SECONDS       browser login session lifetime (default 8 hours)\n"
    "  --account-reauth-max-age SECONDS\n"
    "                              /account changes a password only this long after a sign-in\n"
    "                              (default 300)\n"
    "  --trusted-proxy ADDRESS     believe this peer's X-Forwarded-For for rate limits and logs\n"
    "  --threads N                 HTTP worker threads (default: the CPUs the process may use)\n"
    "  --connection-limit N        concurrent connections (default 1024)\n"
    "  --connection-limit-per-address N\n"
    "                              ... per IPv4 address or IPv6 /64 (default 64)\n"
    "  --header-timeout SECONDS    deadline for a request head, also the keep-alive idle\n"
    "                              timeout (default 10)\n"
    "  --body-timeout SECONDS      grace for a request body (default 10)...\n"
    "  --body-min-rate BYTES       ...then at least this many bytes/s (default 1024; 0: none)\n"
    "  --shutdown-timeout SECONDS  how long requests may still arrive after SIGTERM (default 10)\n"
    "  --log-file PATH             log to this file instead of stderr; SIGHUP reopens it\n"
    "  --metrics-allow \"LIST\"      addresses/ranges that may read /metrics (default loopback)\n"
    "  --master-key-file FILE      the master key that encrypts the signing keys at rest (0600;\n"
    "                              make one with valetkey key new-master-key --out FILE)\n";

static int parse_flags(struct vk_config *cfg, int argc, char **argv)
{
    static const struct {
        const char *flag;
        const char *key;
    } flags[] = {{"--listen", "listen"},
                 {"--issuer", "issuer"},
                 {"--audience", "audience"},
                 {"--trusted-proxy", "trusted_proxy"},
                 {"--access-token-ttl", "access_token_ttl"},
                 {"--threads", "threads"},
                 {"--refresh-grace-seconds", "refresh_grace_seconds"},
                 {"--refresh-token-ttl", "refresh_token_ttl"},
                 {"--session-ttl", "session_ttl"},
                 {"--account-reauth-max-age", "account_reauth_max_age"},
                 {"--connection-limit", "connection_limit"},
                 {"--connection-limit-per-address", "connection_limit_per_address"},
                 {"--header-timeout", "header_timeout"},
                 {"--body-timeout", "body_timeout"},
                 {"--body-min-rate", "body_min_rate"},
                 {"--shutdown-timeout", "shutdown_timeout"},
                 {"--log-file", "log_file"},
                 {"--metrics-allow", "metrics_allow"},
                 {"--master-key-file", "master_key_file"},
                 {"--tls-cert", "tls_cert"},
                 {"--tls-key", "tls_key"},
                 {"--tls-priorities", "tls_priorities"},
                 {"--tls-client-ca", "tls_client_ca"},
                 {"--client-cert-header", "client_cert_header"},
                 {"--mtls-listen", "mtls_listen"},
                 {"--mtls-url", "mtls_url"}};
    struct vk_err err = {{0}};
    for (int i = 1; i < argc; i++) {
        size_t k = 0;
        if (strcmp(argv[i], "--insecure-http") == 0) {
            cfg->insecure_http = true;
            continue;
        }
        if (strcmp(argv[i], "--tls-request-client-cert") == 0) {
            cfg->tls_request_client_cert = true;
            continue;
        }
        for (; k < sizeof flags / sizeof flags[0]; k++)
            if (strcmp(argv[i], flags[k].flag) == 0)
                break;
        if (k == sizeof flags / sizeof flags[0]) {
            fputs(usage, stderr);
            return vk_cli_fail(2, "unknown option '%s'", argv[i]);
        }
        if (i + 1 >= argc)
            return vk_cli_fail(2, "%s needs a value", argv[i]);
        if (vk_config_set(cfg, flags[k].key, argv[++i], &err) != VK_OK)
            return vk_cli_fail(2, "%s", err.msg);
    }
    if (vk_config_validate(cfg, &err) != VK_OK)
        return vk_cli_fail(2, "%s", err.msg);
    return 0;
}

/* True for an IPv4 address in 127.0.0.0/8, the IPv6 address ::1, or the name localhost. */
static bool host_is_loopback(const char *host)
{
    struct in_addr a4;
    struct in6_addr a6;
    if (strcmp(host, "localhost") == 0)
        return true;
    if (inet_pton(AF_INET, host, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    if (inet_pton(AF_INET6, host, &a6) == 1)
        return IN6_IS_ADDR_LOOPBACK(&a6);
    return false;
}

/* The host of a HOST:PORT or [HOST]:PORT listen address is a loopback one. A wildcard (0.0.0.0,
 * [::]), any other address or any other name counts as reachable from the network. */
static bool listen_is_loopback(const char *listen)
{
    char host[64];
    const char *colon = strrchr(listen, ':');
    if (colon == NULL)
        return false;
    size_t hl = (size_t)(colon - listen);
    const char *h = listen;
    if (hl >= 2 && listen[0] == '[' && listen[hl - 1] == ']') {
        h++;
        hl -= 2;
    }
    if (hl == 0 || hl >= sizeof host)
        return false;
    memcpy(host, h, hl);
    host[hl] = '\0';
    return host_is_loopback(host);
}

/* Checklist #51 (TLS everywhere but loopback): a plain-http issuer beyond loopback would have
 * browsers send the session and CSRF cookies without Secure and the __Host- prefix (both need an
 * https issuer) and tokens and passwords cross the network in clear. Refused unless the operator
 * says --insecure-http. Checked before the data directory is touched. */
static int check_transport(const struct vk_config *cfg)
{
    struct vk_uri u;
    if (cfg->tls_cert[0] != '\0') {
        /* Serving TLS under an http issuer would publish http endpoint URLs for an https
         * server: whatever follows them fails or falls back to clear text. */
        if (cfg->issuer_explicit && (vk_uri_parse(vk_str_c(cfg->issuer), &u) != VK_OK ||
                                     !vk_str_eq_nocase_lit(u.scheme, "https")))
            return vk_cli_fail(2, "with --tls-cert the issuer must be an https URL (it is %s)",
                               cfg->issuer);
        return 0;
    }
    if (cfg->insecure_http)
        return 0;
    if (cfg->issuer_explicit) {
        if (vk_uri_parse(vk_str_c(cfg->issuer), &u) == VK_OK &&
            vk_str_eq_nocase_lit(u.scheme, "https"))
            return 0;
        char host[64] = "";
        vk_str h = u.host;
        if (h.len >= 2 && h.p[0] == '[') { /* an IPv6 literal without its brackets */
            h.p++;
            h.len -= 2;
        }
        if (vk_strscpy(host, sizeof host, h) != VK_OK || !host_is_loopback(host))
            return vk_cli_fail(2,
                               "the issuer %s is plain http on a host other than loopback: browsers "
                               "would send the session cookies without Secure and the __Host- "
                               "prefix, and tokens and passwords would cross the network in "
                               "clear. Use an https issuer (--issuer https://your.host, with TLS "
                               "at a reverse proxy in front of valetkey), or pass --insecure-http "
                               "(insecure_http = true) to accept plain http",
                               cfg->issuer);
    }
    if (!listen_is_loopback(cfg->listen))
        return vk_cli_fail(2,
                           "listening on %s, beyond loopback, with a plain-http issuer: browsers "
                           "would send the session cookies without Secure and the __Host- prefix, "
                           "and tokens and passwords would cross the network in clear. Put TLS "
                           "in front and set --issuer https://your.host, or pass --insecure-http "
                           "(insecure_http = true) to serve plain http to the network",
                           cfg->listen);
    return 0;
}

/* The default issuer is the address we are reachable at: the bound one, with a wildcard
 * address replaced by loopback (operators behind a proxy set --issuer). */
static void default_issuer(char *out, size_t n, const char *scheme, const char *bound)
{
    if (strncmp(bound, "0.0.0.0:", 8) == 0)
        snprintf(out, n, "%s://127.0.0.1%s", scheme, bound + 7);
    else if (strncmp(bound, "[::]:", 5) == 0)
        snprintf(out, n, "%s://[::1]%s", scheme, bound + 4);
    else
        snprintf(out, n, "%s://%s", scheme, bound);
}

/* The public base URL of the --mtls-listen port when not configured: the issuer's scheme and host
 * with the port actually bound (RFC 8705 §5: the same server on another port). */
static void default_mtls_url(char *out, size_t n, const char *issuer, const char *bound2)
{
    struct vk_uri u;
    const char *port = strrchr(bound2, ':');
    if (vk_uri_parse(vk_str_c(issuer), &u) == VK_OK && u.host.len > 0 && port != NULL)
        snprintf(out, n, "https://%.*s%s", (int)u.host.len, u.host.p, port);
    else
        snprintf(out, n, "https://%s", bound2);
}

/* Stops a second server on a thread of its own, so both drain at the same time. */
static void *stop_thread(void *arg)
{
    return (void *)(intptr_t)vk_http_stop(arg);
}

/* SIGHUP: the TLS certificate and key are read again (a renewed certificate); a pair that does
 * not load leaves the current one in use. Connections already open keep theirs. */
static void reload_tls(struct vk_tls *tls)
{
    struct vk_err err = {{0}};
    char m[sizeof err.msg * 4], desc[400];
    if (tls == NULL)
        return;
    if (vk_tls_reload(tls, &err) != VK_OK) {
        vk_log_error("event=tls.reload result=failed msg=%s",
                     vk_log_escape(vk_str_c(err.msg), m, sizeof m));
        return;
    }
    vk_tls_describe(tls, desc, sizeof desc);
    vk_log_info("event=tls.reload result=ok %s", desc);
}

int vk_cmd_serve(int argc, char **argv)
{
    struct vk_config cfg;
    struct vk_err err = {{0}};
    struct vk_store *st = NULL;
    struct vk_app app;
    struct vk_http_server *srv = NULL, *msrv = NULL;
    struct vk_tls *tls = NULL;
    char bound[300], mbound[300] = "", issuer[600];
    int fd = -1, mfd = -1, status = 1;
    memset(&app, 0, sizeof app);

    if (vk_cli_wants_help(argc, argv)) {
        fputs(help, stdout);
        return 0;
    }
    if (vk_cli_common(&cfg, &argc, argv) != 0 || parse_flags(&cfg, argc, argv) != 0 ||
        check_transport(&cfg) != 0)
        return 2;
    if (cfg.tls_cert[0] != '\0') {
        /* Before anything is created: a certificate that does not load is a usage error. */
        struct vk_tls_opts to = {cfg.tls_cert, cfg.tls_key, cfg.tls_priorities};
        if (vk_tls_new(&to, &tls, &err) != VK_OK)
            return vk_cli_fail(2, "%s", err.msg);
    }
    if (cfg.tls_client_ca[0] != '\0') {
        /* The app loads it for good (vk_app_init); a bad file is a usage error, found before
         * the data directory is touched. */
        char *pem = NULL;
        size_t n = 0;
        struct vk_x509_ca *ca = NULL;
        int rc = vk_file_read(cfg.tls_client_ca, VK_MAX_PEM_FILE, &pem, &n, &err);
        if (rc == VK_OK)
            rc = vk_x509_ca_load((vk_str){pem, n}, &ca, &err);
        vk_x509_ca_free(ca);
        vk_file_free(pem, n);
        if (rc != VK_OK) {
            vk_tls_free(tls);
            return vk_cli_fail(2, "tls_client_ca %s: %s", cfg.tls_client_ca, err.msg);
        }
    }

    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL); /* workers inherit; main thread waits below */
    signal(SIGPIPE, SIG_IGN);

    /* Before anything is logged, so every line lands in the file; errors before this point
     * (bad flags) still go to the terminal. */
    if (cfg.log_file[0] != '\0' && vk_log_open_file(cfg.log_file, &err) != VK_OK) {
        vk_cli_fail(1, "%s", err.msg);
        goto out;
    }

    int64_t now = vk_now();
    /* A master-key file that is missing, unreadable, open to others or not a key is reported
     * before the store is created or opened (the app loads it again for use). */
    if (cfg.master_key_file[0] != '\0') {
        struct vk_kek probe;
        int r = vk_kek_load_file(cfg.master_key_file, &probe, &err);
        vk_kek_clear(&probe);
        if (r != VK_OK) {
            vk_cli_fail(1, "%s", err.msg);
            goto out;
        }
    }
    if (vk_store_open(cfg.data, &st, &err) != VK_OK) {
        vk_cli_fail(1, "%s", err.msg);
        goto out;
    }
    if (vk_http_listen(cfg.listen, &fd, bound, sizeof bound, &err) != VK_OK) {
        vk_cli_fail(1, "%s", err.msg);
        goto out;
    }
    if (cfg.mtls_listen[0] != '\0' &&
        vk_http_listen(cfg.mtls_listen, &mfd, mbound, sizeof mbound, &err) != VK_OK) {
        vk_cli_fail(1, "%s", err.msg);
        goto out;
    }
    if (cfg.issuer_explicit)
        snprintf(issuer, sizeof issuer, "%s", cfg.issuer);
    else
        default_issuer(issuer, sizeof issuer, tls != NULL ? "https" : "http", bound);
    if (cfg.mtls_listen[0] != '\0' && cfg.mtls_url[0] == '\0')
        default_mtls_url(cfg.mtls_url, sizeof cfg.mtls_url, issuer, mbound);
    if (vk_app_init(&app, &cfg, st, issuer, now, &err) != VK_OK) {
        vk_cli_fail(1, "%s", err.msg);
        goto out;
    }

    struct vk_http_opts ho;
    vk_http_opts_defaults(&ho);
    ho.fd = fd;
    ho.threads = cfg.threads;
    ho.conn_limit = cfg.conn_limit;
    ho.conn_limit_per_addr = cfg.conn_limit_per_addr;
    ho.header_timeout_s = cfg.header_timeout;
    ho.body_timeout_s = cfg.body_timeout;
    ho.body_min_rate = cfg.body_min_rate;
    ho.shutdown_timeout_s = cfg.shutdown_timeout;
    ho.exempt_addr = cfg.trusted_proxy;
    ho.tls = tls;
    /* With --mtls-listen only that port asks for certificates (and lists the CA's name). */
    ho.request_client_cert = cfg.tls_request_client_cert && cfg.mtls_listen[0] == '\0';
    ho.client_ca_pem = cfg.mtls_listen[0] == '\0' ? app.client_ca_pem : NULL;
    ho.router = &vk_oauth_router;
    ho.app = &app;
    ho.on_done = vk_metrics_record;
    fd = -1; /* consumed */
    if (vk_http_start(&ho, &srv, &err) != VK_OK) {
        vk_cli_fail(1, "%s", err.msg);
        goto out;
    }
    if (mfd >= 0) {
        struct vk_http_opts mo = ho; /* the same limits, per listener */
        mo.fd = mfd;
        mo.request_client_cert = true;
        mo.client_ca_pem = app.client_ca_pem;
        mfd = -1; /* consumed */
        if (vk_http_start(&mo, &msrv, &err) != VK_OK) {
            vk_cli_fail(1, "%s", err.msg);
            goto out;
        }
    }
    vk_log_start_async();
    vk_log_info("event=server.started listen=%s issuer=%s store=%s tls=%s client_certs=%s", bound,
                issuer, vk_store_name(st), tls != NULL ? "on" : "off",
                !app.client_certs             ? "off"
                : cfg.client_cert_header[0]   ? "proxy_header"
                : app.client_ca != NULL       ? "requested_with_ca"
                                              : "requested");
    if (tls != NULL) {
        char desc[400];
        vk_tls_describe(tls, desc, sizeof desc);
        vk_log_info("event=tls.loaded %s", desc);
    }
    if (msrv != NULL)
        vk_log_info("event=server.mtls_listener listen=%s url=%s", mbound, cfg.mtls_url);
    if (cfg.insecure_http && strncmp(issuer, "https://", 8) != 0)
        vk_log_warn("event=server.insecure_http issuer=%s listen=%s (--insecure-http: cookies "
                    "without Secure, tokens in clear beyond loopback)",
                    issuer, bound);
    printf("valetkey listening on %s://%s\n", tls != NULL ? "https" : "http", bound);
    if (msrv != NULL)
        printf("valetkey mTLS endpoints on https://%s (%s)\n", mbound, cfg.mtls_url);
    struct vk_arena a;
    struct vk_client_list cl = {0};
    vk_arena_init(&a, 1024 * 1024);
    if (vk_store_client_list(st, &a, &cl) == VK_OK && cl.n == 0)
        printf("No clients yet. Create one in another terminal with:\n"
               "  ./build/valetkey client add --name my-service --scope \"read write\" "
               "--data %s\n",
               cfg.data);
    vk_arena_clear(&a);
    fflush(stdout);

    for (;;) {
        struct timespec ts = {60, 0};
        int sig = sigtimedwait(&set, NULL, &ts);
        if (sig == SIGINT || sig == SIGTERM) {
            vk_log_info("event=server.stopping signal=%d", sig);
            break;
        }
        if (sig == SIGHUP) {
            /* A renewed certificate, and logrotate's postrotate: reopen the log file. Nothing
             * else needs a reload: keys and clients are picked up from the store while running;
             * other settings need a restart (docs/configuration.md). */
            reload_tls(tls);
            if (cfg.log_file[0] == '\0') {
                vk_log_info("event=log.reopen result=ignored reason=logging_to_stderr");
            } else if (vk_log_reopen(&err) != VK_OK) {
                char m[sizeof err.msg * 4];
                vk_log_error("event=log.reopen result=failed msg=%s",
                             vk_log_escape(vk_str_c(err.msg), m, sizeof m));
            } else {
                vk_log_info("event=log.reopen result=ok");
            }
            continue;
        }
        if (sig < 0 && errno == EAGAIN)
            vk_store_purge_expired(st, vk_now(), &vk_store_retention_default); /* every minute */
    }
    pthread_t mstop;
    bool mstopping = msrv != NULL && pthread_create(&mstop, NULL, stop_thread, msrv) == 0;
    int stopped = vk_http_stop(srv);
    if (msrv != NULL) {
        void *mrc = (void *)(intptr_t)VK_EIO;
        if (mstopping)
            pthread_join(mstop, &mrc);
        else
            mrc = (void *)(intptr_t)vk_http_stop(msrv);
        if ((int)(intptr_t)mrc != VK_OK)
            stopped = VK_EIO;
        msrv = NULL;
    }
    if (stopped != VK_OK) {
        /* Requests are still running in worker threads: tearing down the app and the store
         * under them would crash them. Exit without cleanup (the store is crash-safe). */
        vk_log_error("event=server.stopped result=requests_still_running");
        vk_log_stop();
        _exit(1);
    }
    srv = NULL;
    status = 0;
    vk_log_info("event=server.stopped");
out:
    vk_http_stop(msrv);
    vk_http_stop(srv);
    if (fd >= 0)
        close(fd);
    if (mfd >= 0)
        close(mfd);
    vk_tls_free(tls); /* after the server: connections hold references */
    vk_app_clear(&app);
    vk_store_close(st);
    vk_log_stop();
    return status;
}
