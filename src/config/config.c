#include "config/config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>

#include "base/str.h"

void vk_config_defaults(struct vk_config *c)
{
    memset(c, 0, sizeof *c);
    snprintf(c->data, sizeof c->data, "%s", "./valetkey-data");
    snprintf(c->listen, sizeof c->listen, "%s", "127.0.0.1:8080");
    c->access_token_ttl = 600;
    c->max_token_ttl = 86400;
    c->code_ttl = 60;
    c->id_token_ttl = 3600;
    c->session_ttl = 8 * 3600;
    c->refresh_token_ttl = 30 * 86400;
    c->refresh_token_idle_ttl = 14 * 86400;
    c->refresh_grace = 0;
    c->conn_limit = 1024;
    /* One host (an IPv4 address or an IPv6 /64) may hold 64 of the 1024 connections: enough for
     * a busy service's connection pool or a NAT of browsers, too few to starve everyone else.
     * A request head gets 10 s (also the keep-alive idle timeout), a body 10 s plus one second
     * per KiB: slowloris and idle sockets cannot hold a slot for long (docs/security.md). */
    c->conn_limit_per_addr = 64;
    c->header_timeout = 10;
    c->body_timeout = 10;
    c->body_min_rate = 1024;
    c->shutdown_timeout = 10;
    vk_config_set(c, "metrics_allow", "127.0.0.0/8 ::1", NULL);
    /* The brute-force policy of docs/security.md. Client secrets: 20 free failures per client
     * and network, then 60 s doubling to 15 min (OAuth 2.1 §2.4.1); 50 per network across all
     * client ids, then 1 s doubling to 5 min. User logins: per account 5 free, then a delay of
     * 1 s doubling to one minute at most, which a browser with a device cookie skips; the
     * 15-minute lockout counts per account and network; per network 10 free across accounts,
     * doubling to one minute only, because behind a proxy without --trusted-proxy every user
     * shares one address; per device cookie 5 free, doubling to 15 min. Successful logins: 20
     * per account and 100 per network in any 10 minutes. */
    c->client_limit = (struct vk_limit_policy){20, 60, 900, 900, false};
    c->client_addr_limit = (struct vk_limit_policy){50, 1, 300, 900, false};
    c->login_limit = (struct vk_limit_policy){5, 1, 60, 3600, false};
    c->login_pair_limit = (struct vk_limit_policy){5, 1, 900, 3600, false};
    c->login_addr_limit = (struct vk_limit_policy){10, 1, 60, 3600, false};
    c->device_limit = (struct vk_limit_policy){5, 1, 900, 3600, false};
    c->login_ok_limit = (struct vk_limit_policy){20, 0, 0, 600, true};
    c->login_ok_addr_limit = (struct vk_limit_policy){100, 0, 0, 600, true};
    c->device_cookie_ttl = 90 * 86400;
    c->account_reauth_max_age = 300;
    static const struct {
        const char *env;
        const char *key;
    } envs[] = {{"VALETKEY_DATA", "data"},
                {"VALETKEY_LISTEN", "listen"},
                {"VALETKEY_ISSUER", "issuer"},
                {"VALETKEY_AUDIENCE", "audience"},
                {"VALETKEY_TRUSTED_PROXY", "trusted_proxy"},
                {"VALETKEY_TLS_CERT", "tls_cert"},
                {"VALETKEY_TLS_KEY", "tls_key"},
                {"VALETKEY_TLS_CLIENT_CA", "tls_client_ca"},
                {"VALETKEY_ACCESS_TOKEN_TTL", "access_token_ttl"},
                {"VALETKEY_THREADS", "threads"},
                {"VALETKEY_REFRESH_GRACE_SECONDS", "refresh_grace_seconds"},
                {"VALETKEY_INSECURE_HTTP", "insecure_http"},
                {"VALETKEY_LOG_FILE", "log_file"},
                {"VALETKEY_METRICS_ALLOW", "metrics_allow"},
                {"VALETKEY_MASTER_KEY_FILE", "master_key_file"}};
    for (size_t i = 0; i < sizeof envs / sizeof envs[0]; i++) {
        const char *v = getenv(envs[i].env);
        if (v != NULL && v[0] != '\0')
            vk_config_set(c, envs[i].key, v, NULL);
    }
}

static int set_str(char *dst, size_t n, const char *v, const char *key, struct vk_err *err)
{
    if (vk_strscpy(dst, n, vk_str_c(v)) != VK_OK)
        return vk_err_set(err, VK_ETOOBIG, "%s is too long", key);
    return VK_OK;
}

static int set_bool(bool *dst, const char *v, const char *key, struct vk_err *err)
{
    if (strcmp(v, "true") == 0 || strcmp(v, "yes") == 0 || strcmp(v, "1") == 0)
        *dst = true;
    else if (strcmp(v, "false") == 0 || strcmp(v, "no") == 0 || strcmp(v, "0") == 0)
        *dst = false;
    else
        return vk_err_set(err, VK_EINVAL, "%s must be true or false", key);
    return VK_OK;
}

static int set_uint(unsigned *dst, const char *v, unsigned min, unsigned max, const char *key,
                    struct vk_err *err)
{
    uint64_t n;
    if (vk_parse_u64(vk_str_c(v), min, max, &n) != VK_OK)
        return vk_err_set(err, VK_EINVAL, "%s must be a number from %u to %u", key, min, max);
    *dst = (unsigned)n;
    return VK_OK;
}

/* A list of addresses and CIDR ranges separated by commas or spaces; an empty list is allowed
 * (nobody). All or nothing: on error *c is unchanged. */
static int set_cidrs(struct vk_config *c, const char *v, const char *key, struct vk_err *err)
{
    struct vk_cidr list[VK_MAX_METRICS_ALLOW];
    unsigned n = 0;
    size_t i = 0, len = strlen(v);
    while (i < len) {
        while (i < len && (v[i] == ',' || v[i] == ' ' || v[i] == '\t'))
            i++;
        size_t start = i;
        while (i < len && v[i] != ',' && v[i] != ' ' && v[i] != '\t')
            i++;
        if (i == start)
            break;
        if (n == VK_MAX_METRICS_ALLOW)
            return vk_err_set(err, VK_ETOOBIG, "%s: at most %d entries", key,
                              VK_MAX_METRICS_ALLOW);
        if (vk_cidr_parse((vk_str){v + start, i - start}, &list[n]) != VK_OK)
            return vk_err_set(err, VK_EINVAL,
                              "%s: '%.*s' is not an address or ADDRESS/BITS range (host bits "
                              "must be zero)",
                              key, (int)(i - start > 64 ? 64 : i - start), v + start);
        n++;
    }
    memcpy(c->metrics_allow, list, n * sizeof list[0]);
    c->n_metrics_allow = n;
    return VK_OK;
}

static int set_num(int64_t *dst, const char *v, uint64_t min, uint64_t max, const char *key,
                   struct vk_err *err)
{
    uint64_t n;
    if (vk_parse_u64(vk_str_c(v), min, max, &n) != VK_OK)
        return vk_err_set(err, VK_EINVAL, "%s must be a number from %llu to %llu", key,
                          (unsigned long long)min, (unsigned long long)max);
    *dst = (int64_t)n;
    return VK_OK;
}

int vk_config_set(struct vk_config *c, const char *key, const char *value, struct vk_err *err)
{
    int64_t n = 0;
    int rc;
    if (strcmp(key, "data") == 0)
        return set_str(c->data, sizeof c->data, value, key, err);
    if (strcmp(key, "listen") == 0)
        return set_str(c->listen, sizeof c->listen, value, key, err);
    if (strcmp(key, "issuer") == 0) {
        c->issuer_explicit = value[0] != '\0';
        return set_str(c->issuer, sizeof c->issuer, value, key, err);
    }
    if (strcmp(key, "trusted_proxy") == 0)
        return set_str(c->trusted_proxy, sizeof c->trusted_proxy, value, key, err);
    if (strcmp(key, "tls_cert") == 0)
        return set_str(c->tls_cert, sizeof c->tls_cert, value, key, err);
    if (strcmp(key, "tls_key") == 0)
        return set_str(c->tls_key, sizeof c->tls_key, value, key, err);
    if (strcmp(key, "tls_priorities") == 0)
        return set_str(c->tls_priorities, sizeof c->tls_priorities, value, key, err);
    if (strcmp(key, "tls_client_ca") == 0)
        return set_str(c->tls_client_ca, sizeof c->tls_client_ca, value, key, err);
    if (strcmp(key, "mtls_listen") == 0)
        return set_str(c->mtls_listen, sizeof c->mtls_listen, value, key, err);
    if (strcmp(key, "mtls_url") == 0)
        return set_str(c->mtls_url, sizeof c->mtls_url, value, key, err);
    if (strcmp(key, "tls_request_client_cert") == 0)
        return set_bool(&c->tls_request_client_cert, value, key, err);
    if (strcmp(key, "client_cert_header") == 0) {
        /* an HTTP field name (RFC 9110 §5.1: a token) */
        for (const char *p = value; *p != '\0'; p++)
            if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                  (*p >= '0' && *p <= '9') || strchr("!#$%&'*+-.^_`|~", *p) != NULL))
                return vk_err_set(err, VK_EINVAL, "client_cert_header must be a header name");
        return set_str(c->client_cert_header, sizeof c->client_cert_header, value, key, err);
    }
    if (strcmp(key, "insecure_http") == 0)
        return set_bool(&c->insecure_http, value, key, err);
    if (strcmp(key, "audience") == 0)
        return set_str(c->audience, sizeof c->audience, value, key, err);
    if (strcmp(key, "master_key_file") == 0)
        return set_str(c->master_key_file, sizeof c->master_key_file, value, key, err);
    if (strcmp(key, "access_token_ttl") == 0)
        return set_num(&c->access_token_ttl, value, 1, 86400, key, err);
    if (strcmp(key, "id_token_ttl") == 0)
        return set_num(&c->id_token_ttl, value, 60, 86400, key, err);
    if (strcmp(key, "session_ttl") == 0)
        return set_num(&c->session_ttl, value, 60, 30 * 86400, key, err);
    if (strcmp(key, "refresh_token_ttl") == 0)
        return set_num(&c->refresh_token_ttl, value, 60, 365 * 86400, key, err);
    if (strcmp(key, "refresh_token_idle_ttl") == 0)
        return set_num(&c->refresh_token_idle_ttl, value, 60, 365 * 86400, key, err);
    if (strcmp(key, "refresh_grace_seconds") == 0)
        return set_num(&c->refresh_grace, value, 0, 10, key, err); /* a few seconds at most */
    if (strcmp(key, "device_cookie_ttl") == 0)
        return set_num(&c->device_cookie_ttl, value, 0, 365 * 86400, key, err);
    if (strcmp(key, "account_reauth_max_age") == 0)
        return set_num(&c->account_reauth_max_age, value, 1, 86400, key, err);
    if (strcmp(key, "threads") == 0) {
        rc = set_num(&n, value, 0, 256, key, err);
        if (rc == VK_OK)
            c->threads = (unsigned)n;
        return rc;
    }
    if (strcmp(key, "connection_limit") == 0) {
        rc = set_num(&n, value, 16, 65536, key, err);
        if (rc == VK_OK)
            c->conn_limit = (unsigned)n;
        return rc;
    }
    if (strcmp(key, "connection_limit_per_address") == 0)
        return set_uint(&c->conn_limit_per_addr, value, 1, 65536, key, err);
    if (strcmp(key, "header_timeout") == 0)
        return set_uint(&c->header_timeout, value, 1, 300, key, err);
    if (strcmp(key, "body_timeout") == 0)
        return set_uint(&c->body_timeout, value, 1, 300, key, err);
    if (strcmp(key, "body_min_rate") == 0)
        return set_uint(&c->body_min_rate, value, 0, 1u << 30, key, err);
    if (strcmp(key, "shutdown_timeout") == 0)
        return set_uint(&c->shutdown_timeout, value, 1, 300, key, err);
    if (strcmp(key, "log_file") == 0)
        return set_str(c->log_file, sizeof c->log_file, value, key, err);
    if (strcmp(key, "metrics_allow") == 0)
        return set_cidrs(c, value, key, err);
    return vk_err_set(err, VK_EINVAL, "unknown configuration key '%s'", key);
}

struct ini_ctx {
    struct vk_config *c;
    struct vk_err *err;
    int rc;
};

static int ini_cb(void *user, const char *section, const char *name, const char *value)
{
    struct ini_ctx *x = user;
    if (x->rc != VK_OK)
        return 0;
    if (section[0] != '\0' && strcmp(section, "server") != 0) {
        x->rc = vk_err_set(x->err, VK_EINVAL, "unknown section [%s]", section);
        return 0;
    }
    x->rc = vk_config_set(x->c, name, value, x->err);
    return x->rc == VK_OK;
}

int vk_config_load_file(struct vk_config *c, const char *path, struct vk_err *err)
{
    struct ini_ctx x = {c, err, VK_OK};
    int r = ini_parse(path, ini_cb, &x);
    if (r == -1)
        return vk_err_set(err, VK_EIO, "cannot open config file %s", path);
    if (x.rc != VK_OK)
        return x.rc;
    if (r != 0)
        return vk_err_set(err, VK_EINVAL, "%s: syntax error on line %d", path, r);
    return VK_OK;
}

static int check_url(const char *u, const char *what, struct vk_err *err)
{
    vk_str s = vk_str_c(u);
    if (!vk_str_starts_with_lit(s, "https://") && !vk_str_starts_with_lit(s, "http://"))
        return vk_err_set(err, VK_EINVAL, "%s must be an http or https URL", what);
    if (strchr(u, '?') != NULL || strchr(u, '#') != NULL || !vk_str_is_visible_ascii(s, false))
        return vk_err_set(err, VK_EINVAL, "%s must not have a query or fragment", what);
    if (s.len > 0 && u[s.len - 1] == '/')
        return vk_err_set(err, VK_EINVAL, "%s must not end with '/'", what);
    return VK_OK;
}

int vk_config_validate(const struct vk_config *c, struct vk_err *err)
{
    if (c->issuer[0] != '\0' && check_url(c->issuer, "issuer", err) != VK_OK)
        return VK_EINVAL;
    if (c->access_token_ttl > c->max_token_ttl)
        return vk_err_set(err, VK_EINVAL, "access_token_ttl exceeds %lld",
                          (long long)c->max_token_ttl);
    if (c->data[0] == '\0')
        return vk_err_set(err, VK_EINVAL, "data must not be empty");
    struct vk_ip ip;
    if (c->trusted_proxy[0] != '\0' && vk_ip_parse(vk_str_c(c->trusted_proxy), &ip) != VK_OK)
        return vk_err_set(err, VK_EINVAL, "trusted_proxy must be an IP address");
    if ((c->tls_cert[0] != '\0') != (c->tls_key[0] != '\0'))
        return vk_err_set(err, VK_EINVAL, "tls_cert and tls_key go together");
    bool tls = c->tls_cert[0] != '\0';
    if (!tls && (c->tls_client_ca[0] != '\0' || c->tls_request_client_cert ||
                 c->tls_priorities[0] != '\0' || c->mtls_listen[0] != '\0'))
        return vk_err_set(err, VK_EINVAL, "tls_client_ca, tls_request_client_cert, "
                          "tls_priorities and mtls_listen need TLS (tls_cert and tls_key)");
    if (c->mtls_url[0] != '\0' && c->mtls_listen[0] == '\0')
        return vk_err_set(err, VK_EINVAL, "mtls_url needs mtls_listen");
    if (c->mtls_url[0] != '\0' &&
        (check_url(c->mtls_url, "mtls_url", err) != VK_OK ||
         strncmp(c->mtls_url, "https://", 8) != 0))
        return vk_err_set(err, VK_EINVAL, "mtls_url must be an https URL without a query, "
                          "fragment or trailing /");
    /* RFC 9700 §4.13: a forwarded certificate is believed only from the proxy that set it. */
    if (c->client_cert_header[0] != '\0' && c->trusted_proxy[0] == '\0')
        return vk_err_set(err, VK_EINVAL, "client_cert_header needs trusted_proxy: the header is "
                          "believed only from that address");
    return VK_OK;
}
