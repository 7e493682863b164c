/* The configuration: defaults, then a config file (`key = value`, parsed with inih), then
 * VALETKEY_* environment variables, then command-line flags. Loaded once, validated, and passed
 * down as `const struct vk_config *`: there is no global. */
#ifndef VK_CONFIG_CONFIG_H
#define VK_CONFIG_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "base/err.h"
#include "base/ip.h"
#include "base/limits.h"

#define VK_MAX_METRICS_ALLOW 16

struct vk_config {
    char data[1024];          /* data directory (SQLite) or a postgres:// DSN */
    char listen[256];         /* HOST:PORT */
    char issuer[512];         /* empty: derived from the bound address at start */
    char audience[512];       /* default `aud` when neither the request nor the client names one */
    char trusted_proxy[64];   /* peer address whose X-Forwarded-For is believed (empty: none) */
    char master_key_file[1024]; /* the key that encrypts signing keys at rest (empty: none) */
    /* TLS (docs/configuration.md, "TLS"). tls_cert and tls_key: serve HTTPS (both or neither). */
    char tls_cert[1024];      /* PEM certificate chain, leaf first; reread on SIGHUP */
    char tls_key[1024];       /* PEM private key; reread on SIGHUP */
    char tls_priorities[512]; /* GnuTLS priority string; empty: the built-in TLS 1.2+ default */
    char tls_client_ca[1024]; /* PEM CA certificates for tls_client_auth (RFC 8705 §2.1); setting
                                 it also requests client certificates */
    bool tls_request_client_cert; /* request client certificates without a CA (self-signed ones,
                                     RFC 8705 §2.2, and certificate-bound tokens) */
    /* Behind a TLS-terminating proxy: the header in which it forwards the client certificate
     * (URL-encoded PEM, nginx's $ssl_client_escaped_cert). Believed only from trusted_proxy
     * (RFC 9700 §4.13); empty: none. */
    char client_cert_header[64];
    /* RFC 8705 §5: a second TLS listener, the only one that asks for client certificates, whose
     * endpoints the metadata lists as mtls_endpoint_aliases (browsers on the main port are then
     * never asked for a certificate). mtls_url: its public base URL (empty: the issuer's scheme
     * and host with the bound port; serve fills it in). */
    char mtls_listen[256];
    char mtls_url[512];
    int64_t access_token_ttl; /* seconds */
    int64_t max_token_ttl;    /* upper bound for per-client TTLs */
    int64_t code_ttl;         /* authorization codes: 60 s */
    int64_t id_token_ttl;
    int64_t session_ttl;      /* browser login sessions (absolute) */
    int64_t refresh_token_ttl;      /* absolute lifetime of a refresh-token family */
    int64_t refresh_token_idle_ttl; /* a refresh token unused this long expires */
    int64_t refresh_grace;    /* seconds a just-rotated refresh token still returns the same pair */
    unsigned threads;         /* HTTP worker threads, 0 = CPUs */
    unsigned conn_limit;      /* concurrent connections */
    unsigned conn_limit_per_addr; /* ... per IPv4 address or IPv6 /64 (the trusted proxy: none) */
    unsigned header_timeout;  /* seconds to deliver a request head (also the keep-alive idle) */
    unsigned body_timeout;    /* seconds of grace for a body... */
    unsigned body_min_rate;   /* ...then at least this many bytes per second (0: no rate) */
    unsigned shutdown_timeout; /* seconds requests may still arrive and finish after SIGTERM */
    char log_file[1024];      /* log to this file (reopened on SIGHUP); empty: stderr */
    /* Who may read /metrics: the client address (after --trusted-proxy) must be in one of
     * these ranges. Default loopback; empty: nobody. */
    struct vk_cidr metrics_allow[VK_MAX_METRICS_ALLOW];
    unsigned n_metrics_allow;
    bool issuer_explicit;
    bool insecure_http;       /* allow a plain-http issuer or listener beyond loopback */
    /* Attempt limits (docs/security.md, "Brute force"); networks are IPv4 addresses and IPv6
     * /64s (vk_auth_addr_net). */
    struct vk_limit_policy client_limit;      /* failed client secrets per client and network */
    struct vk_limit_policy client_addr_limit; /* failed client authentications per network */
    struct vk_limit_policy login_limit;       /* failed logins per account, without a device
                                                 cookie: a delay, never a long lockout */
    struct vk_limit_policy login_pair_limit;  /* failed logins per account and network: the
                                                 lockout */
    struct vk_limit_policy login_addr_limit;  /* failed logins per network, any account */
    struct vk_limit_policy device_limit;      /* failed logins per device cookie */
    struct vk_limit_policy login_ok_limit;    /* successful logins per account (a rate) */
    struct vk_limit_policy login_ok_addr_limit; /* successful logins per network (a rate) */
    int64_t device_cookie_ttl; /* lifetime of the device cookie a login sets; 0: none */
    int64_t account_reauth_max_age; /* the account page changes a password only this many
                                       seconds after a sign-in (OIDC max_age-style) */
};

/* Fills defaults (docs/configuration.md), then VALETKEY_DATA and friends. */
void vk_config_defaults(struct vk_config *c);
/* Reads a config file; unknown keys are errors (a typo must not silently weaken security). */
int vk_config_load_file(struct vk_config *c, const char *path, struct vk_err *err);
/* Sets one option by its config-file name (also used for flags: --access-token-ttl ->
 * "access_token_ttl"). */
int vk_config_set(struct vk_config *c, const char *key, const char *value, struct vk_err *err);
/* Checks consistency (issuer is an http(s) URL without query or fragment, TTLs in range). */
int vk_config_validate(const struct vk_config *c, struct vk_err *err);

#endif
