/* ngx_http_valetkey_module: OAuth 2.1 access tokens (RFC 9068) and DPoP proofs (RFC 9449)
 * checked inside nginx by libvaletkey, in the access phase, without a subrequest.
 *
 * Life cycle. The configuration is parsed in the master; locations whose settings are equal
 * share one "spec". Each worker process creates one libvaletkey verifier per spec at worker init
 * (with background_fetch: the JWK Set is fetched by the library's own thread, never by the event
 * loop; requests get valetkey_unavailable_status, 503, until it arrives) and frees it at worker
 * exit, which joins that thread and closes its sockets. The master never creates a verifier, so a
 * reload or a binary upgrade leaves nothing behind in it; old workers take theirs with them.
 *
 * What is per worker and what is shared: the seen-token cache and the revocation list are the
 * library's, in each worker's memory: a token costs one signature check per worker, which is a
 * cost, not a hole. The DPoP proof replay cache is not allowed to be per worker -- a proof sent to
 * one worker could be replayed once to each of the others -- so DPoP needs the shared-memory zone
 * of valetkey_cache when there is more than one worker (checked at start-up). See docs/nginx.md.
 *
 * Nothing here ever logs or copies out a token or a proof; error descriptions are the library's
 * static texts. */
#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <pthread.h>
#include <signal.h>

#include <openssl/evp.h>
#include <openssl/rand.h>
#if (NGX_HTTP_SSL)
#include <openssl/x509.h>
#endif

#include <valetkey.h>

#include "ngx_http_valetkey_url.h"

#define NGX_HTTP_VALETKEY_DPOP_OFF      0
#define NGX_HTTP_VALETKEY_DPOP_ON       1
#define NGX_HTTP_VALETKEY_DPOP_REQUIRED 2

/* Methods a valetkey_scope rule can select, by bit position of NGX_HTTP_GET ... */
#define NGX_HTTP_VALETKEY_NMETHODS 16
/* Slots of the replay table probed for one jti (linear probing within a window). */
#define NGX_HTTP_VALETKEY_WINDOW 32

/* ---- the shared DPoP replay cache ---------------------------------------------------------- */

typedef struct {
    u_char  key[16];  /* the first half of SHA-256(secret || jti) */
    int64_t expires;  /* seconds since the epoch; <= now: free */
} ngx_http_valetkey_slot_t;

typedef struct {
    u_char                    secret[32]; /* random per zone: slots cannot be aimed at */
    ngx_uint_t                mask;       /* slots - 1, a power of two minus one */
    ngx_http_valetkey_slot_t *slots;
} ngx_http_valetkey_shctx_t;

typedef struct {
    ngx_http_valetkey_shctx_t *sh;
    ngx_slab_pool_t           *shpool;
} ngx_http_valetkey_zone_t;

/* ---- configuration -------------------------------------------------------------------------- */

/* One verifier's settings. Locations with equal settings share one spec, and so one verifier
 * (with its key set, fetch thread and caches) per worker. */
typedef struct {
    ngx_str_t          issuer;            /* NUL-terminated */
    ngx_str_t          jwks_file;         /* the path, for messages and comparison */
    ngx_str_t          jwks_json;         /* its content, read by the master at configuration */
    ngx_array_t       *audiences;         /* of ngx_str_t, NUL-terminated */
    time_t             leeway;
    ngx_uint_t         dpop;
    ngx_str_t          realm;
    ngx_str_t          resource_metadata;
    ngx_str_t          ca_file;
    ngx_shm_zone_t    *cache;
    ngx_str_t          rev_url;           /* valetkey_revocations: the feed, NUL-terminated */
    ngx_str_t          rev_client_id;
    ngx_str_t          rev_secret;
    time_t             rev_max_stale;
    ngx_flag_t         rev_fail_open;
    ngx_msec_t         start_wait;        /* a new worker waits this long for keys and feed */
    ngx_uint_t         unsafe;            /* DPoP without a shared replay cache in several
                                             workers, found too late to refuse the
                                             configuration: every request is refused */

    valetkey_verifier *verifier;          /* per worker: created at worker init */
} ngx_http_valetkey_spec_t;

/* A valetkey_scope directive: the scopes it requires, for which methods. */
typedef struct {
    ngx_uint_t methods; /* NGX_HTTP_GET | ...; 0: every method no other rule selects */
    ngx_str_t  scopes;  /* space-separated, NUL-terminated */
} ngx_http_valetkey_rule_t;

typedef struct {
    ngx_flag_t                 enable;
    ngx_str_t                  issuer;
    ngx_str_t                  jwks_file;
    ngx_str_t                  jwks_json;
    ngx_array_t               *audiences;
    time_t                     leeway;
    ngx_uint_t                 dpop;
    ngx_str_t                  realm;
    ngx_str_t                  resource_metadata;
    ngx_str_t                  ca_file;
    ngx_shm_zone_t            *cache;
    ngx_str_t                  rev_url;
    ngx_str_t                  rev_client_id;
    ngx_str_t                  rev_secret;
    time_t                     rev_max_stale;
    ngx_flag_t                 rev_fail_open;
    ngx_msec_t                 start_wait;
    ngx_array_t               *rules;     /* of ngx_http_valetkey_rule_t */
    ngx_flag_t                 strip_token;
    ngx_uint_t                 unavailable_status;
    ngx_http_complex_value_t  *origin;

    /* computed by merge: the required scopes per method bit, and for other methods */
    ngx_str_t                  required[NGX_HTTP_VALETKEY_NMETHODS];
    ngx_str_t                  required_other;
    ngx_http_valetkey_spec_t  *spec;
} ngx_http_valetkey_loc_conf_t;

typedef struct {
    ngx_array_t specs; /* of ngx_http_valetkey_spec_t * */
} ngx_http_valetkey_main_conf_t;

/* What a request learnt: kept in a pool cleanup, so that an internal redirect (error_page,
 * try_files, a named location), which clears the module contexts but re-runs the access phase,
 * finds the verified claims instead of checking the same DPoP proof twice (a "replay"). */
typedef struct {
    valetkey_claims          *claims;
    ngx_http_valetkey_spec_t *spec;
} ngx_http_valetkey_ctx_t;

static ngx_int_t ngx_http_valetkey_preconfiguration(ngx_conf_t *cf);
static ngx_int_t ngx_http_valetkey_postconfiguration(ngx_conf_t *cf);
static void *ngx_http_valetkey_create_main_conf(ngx_conf_t *cf);
static void *ngx_http_valetkey_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_valetkey_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child);
static ngx_int_t ngx_http_valetkey_init_module(ngx_cycle_t *cycle);
static ngx_int_t ngx_http_valetkey_init_process(ngx_cycle_t *cycle);
static void ngx_http_valetkey_exit_process(ngx_cycle_t *cycle);
static char *ngx_http_valetkey_jwks_file(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
static char *ngx_http_valetkey_audience(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
static char *ngx_http_valetkey_scope(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
static char *ngx_http_valetkey_cache(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
static char *ngx_http_valetkey_revocations(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
static char *ngx_http_valetkey_check_url(ngx_conf_t *cf, void *post, void *data);
static char *ngx_http_valetkey_check_status(ngx_conf_t *cf, void *post, void *data);

static ngx_conf_enum_t ngx_http_valetkey_dpop_modes[] = {
    { ngx_string("off"), NGX_HTTP_VALETKEY_DPOP_OFF },
    { ngx_string("on"), NGX_HTTP_VALETKEY_DPOP_ON },
    { ngx_string("required"), NGX_HTTP_VALETKEY_DPOP_REQUIRED },
    { ngx_null_string, 0 }
};

static ngx_conf_post_t ngx_http_valetkey_url_post = { ngx_http_valetkey_check_url };
static ngx_conf_post_t ngx_http_valetkey_status_post = { ngx_http_valetkey_check_status };

#define VK_CONF (NGX_HTTP_MAIN_CONF | NGX_HTTP_SRV_CONF | NGX_HTTP_LOC_CONF)

static ngx_command_t ngx_http_valetkey_commands[] = {

    { ngx_string("valetkey"), VK_CONF | NGX_CONF_FLAG, ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET, offsetof(ngx_http_valetkey_loc_conf_t, enable), NULL },

    { ngx_string("valetkey_issuer"), VK_CONF | NGX_CONF_TAKE1, ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET, offsetof(ngx_http_valetkey_loc_conf_t, issuer),
      &ngx_http_valetkey_url_post },

    { ngx_string("valetkey_jwks_file"), VK_CONF | NGX_CONF_TAKE1, ngx_http_valetkey_jwks_file,
      NGX_HTTP_LOC_CONF_OFFSET, 0, NULL },

    { ngx_string("valetkey_audience"), VK_CONF | NGX_CONF_1MORE, ngx_http_valetkey_audience,
      NGX_HTTP_LOC_CONF_OFFSET, 0, NULL },

    { ngx_string("valetkey_leeway"), VK_CONF | NGX_CONF_TAKE1, ngx_conf_set_sec_slot,
      NGX_HTTP_LOC_CONF_OFFSET, offsetof(ngx_http_valetkey_loc_conf_t, leeway), NULL },

    { ngx_string("valetkey_scope"), VK_CONF | NGX_CONF_1MORE, ngx_http_valetkey_scope,
      NGX_HTTP_LOC_CONF_OFFSET, 0, NULL },

    { ngx_string("valetkey_dpop"), VK_CONF | NGX_CONF_TAKE1, ngx_conf_set_enum_slot,
      NGX_HTTP_LOC_CONF_OFFSET, offsetof(ngx_http_valetkey_loc_conf_t, dpop),
      &ngx_http_valetkey_dpop_modes },

    { ngx_string("valetkey_origin"), VK_CONF | NGX_CONF_TAKE1, ngx_http_set_complex_value_slot,
      NGX_HTTP_LOC_CONF_OFFSET, offsetof(ngx_http_valetkey_loc_conf_t, origin), NULL },

    { ngx_string("valetkey_realm"), VK_CONF | NGX_CONF_TAKE1, ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET, offsetof(ngx_http_valetkey_loc_conf_t, realm), NULL },

    { ngx_string("valetkey_resource_metadata"), VK_CONF | NGX_CONF_TAKE1, ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET, offsetof(ngx_http_valetkey_loc_conf_t, resource_metadata),
      &ngx_http_valetkey_url_post },

    { ngx_string("valetkey_ca_file"), VK_CONF | NGX_CONF_TAKE1, ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET, offsetof(ngx_http_valetkey_loc_conf_t, ca_file), NULL },

    { ngx_string("valetkey_strip_token"), VK_CONF | NGX_CONF_FLAG, ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET, offsetof(ngx_http_valetkey_loc_conf_t, strip_token), NULL },

    { ngx_string("valetkey_unavailable_status"), VK_CONF | NGX_CONF_TAKE1,
      ngx_conf_set_num_slot, NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_valetkey_loc_conf_t, unavailable_status),
      &ngx_http_valetkey_status_post },

    { ngx_string("valetkey_cache"), VK_CONF | NGX_CONF_TAKE1, ngx_http_valetkey_cache,
      NGX_HTTP_LOC_CONF_OFFSET, 0, NULL },

    { ngx_string("valetkey_start_wait"), VK_CONF | NGX_CONF_TAKE1, ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET, offsetof(ngx_http_valetkey_loc_conf_t, start_wait), NULL },

    { ngx_string("valetkey_revocations"), VK_CONF | NGX_CONF_2MORE,
      ngx_http_valetkey_revocations, NGX_HTTP_LOC_CONF_OFFSET, 0, NULL },

    ngx_null_command
};

static ngx_http_module_t ngx_http_valetkey_module_ctx = {
    ngx_http_valetkey_preconfiguration,  /* preconfiguration */
    ngx_http_valetkey_postconfiguration, /* postconfiguration */
    ngx_http_valetkey_create_main_conf,  /* create main configuration */
    NULL,                                /* init main configuration */
    NULL,                                /* create server configuration */
    NULL,                                /* merge server configuration */
    ngx_http_valetkey_create_loc_conf,   /* create location configuration */
    ngx_http_valetkey_merge_loc_conf     /* merge location configuration */
};

ngx_module_t ngx_http_valetkey_module = {
    NGX_MODULE_V1,
    &ngx_http_valetkey_module_ctx,  /* module context */
    ngx_http_valetkey_commands,     /* module directives */
    NGX_HTTP_MODULE,                /* module type */
    NULL,                           /* init master */
    ngx_http_valetkey_init_module,  /* init module */
    ngx_http_valetkey_init_process, /* init process */
    NULL,                           /* init thread */
    NULL,                           /* exit thread */
    ngx_http_valetkey_exit_process, /* exit process */
    NULL,                           /* exit master */
    NGX_MODULE_V1_PADDING
};

/* ---- configuration: directives -------------------------------------------------------------- */

/* RFC 8414 §2, RFC 9728: https, or http on loopback (libvaletkey refuses anything else; this
 * says so at `nginx -t` instead of at worker start). */
static char *ngx_http_valetkey_check_url(ngx_conf_t *cf, void *post, void *data)
{
    ngx_str_t *s = data;
    static const char *const ok[] = {"https://", "http://127.0.0.1", "http://[::1]",
                                     "http://localhost"};

    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        size_t n = ngx_strlen(ok[i]);
        if (s->len > n && ngx_strncmp(s->data, ok[i], n) == 0) {
            if (i == 0 || s->data[n] == ':' || s->data[n] == '/')
                return NGX_CONF_OK;
        }
    }
    return "must be an https URL (or http on 127.0.0.1, [::1] or localhost)";
}

static char *ngx_http_valetkey_check_status(ngx_conf_t *cf, void *post, void *data)
{
    ngx_uint_t *st = data;

    if (*st < 400 || *st > 599)
        return "must be between 400 and 599";
    return NGX_CONF_OK;
}

/* The key set is read here, by the master, as the configuration is: a worker running as an
 * unprivileged user need not be able to read the file, and `nginx -t` reports a bad one. */
static char *ngx_http_valetkey_jwks_file(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_valetkey_loc_conf_t *lcf = conf;
    ngx_str_t                    *value = cf->args->elts;
    ngx_file_info_t               fi;
    ngx_file_t                    file;
    ssize_t                       n;

    if (lcf->jwks_file.data != NULL)
        return "is duplicate";
    lcf->jwks_file = value[1];
    if (ngx_conf_full_name(cf->cycle, &lcf->jwks_file, 1) != NGX_OK)
        return NGX_CONF_ERROR;
    ngx_memzero(&file, sizeof file);
    file.name = lcf->jwks_file;
    file.log = cf->log;
    file.fd = ngx_open_file(file.name.data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    if (file.fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno, ngx_open_file_n " \"%V\" failed",
                           &file.name);
        return NGX_CONF_ERROR;
    }
    if (ngx_fd_info(file.fd, &fi) == NGX_FILE_ERROR || ngx_file_size(&fi) <= 0 ||
        ngx_file_size(&fi) > 64 * 1024) {
        ngx_close_file(file.fd);
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "valetkey_jwks_file \"%V\" is empty or larger than 64 KiB",
                           &file.name);
        return NGX_CONF_ERROR;
    }
    lcf->jwks_json.len = (size_t)ngx_file_size(&fi);
    lcf->jwks_json.data = ngx_pnalloc(cf->pool, lcf->jwks_json.len + 1);
    if (lcf->jwks_json.data == NULL) {
        ngx_close_file(file.fd);
        return NGX_CONF_ERROR;
    }
    n = ngx_read_file(&file, lcf->jwks_json.data, lcf->jwks_json.len, 0);
    ngx_close_file(file.fd);
    if (n != (ssize_t)lcf->jwks_json.len) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "valetkey_jwks_file \"%V\" could not be read",
                           &file.name);
        return NGX_CONF_ERROR;
    }
    lcf->jwks_json.data[lcf->jwks_json.len] = '\0';
    return NGX_CONF_OK;
}

static char *ngx_http_valetkey_audience(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_valetkey_loc_conf_t *lcf = conf;
    ngx_str_t                    *value = cf->args->elts, *a;

    if (lcf->audiences != NGX_CONF_UNSET_PTR)
        return "is duplicate";
    lcf->audiences = ngx_array_create(cf->pool, cf->args->nelts - 1, sizeof(ngx_str_t));
    if (lcf->audiences == NULL)
        return NGX_CONF_ERROR;
    for (ngx_uint_t i = 1; i < cf->args->nelts; i++) {
        a = ngx_array_push(lcf->audiences);
        if (a == NULL)
            return NGX_CONF_ERROR;
        *a = value[i]; /* configuration strings are NUL-terminated */
    }
    return NGX_CONF_OK;
}

static const struct {
    ngx_str_t  name;
    ngx_uint_t method;
} ngx_http_valetkey_methods[] = {
    { ngx_string("GET"), NGX_HTTP_GET },
    { ngx_string("HEAD"), NGX_HTTP_HEAD },
    { ngx_string("POST"), NGX_HTTP_POST },
    { ngx_string("PUT"), NGX_HTTP_PUT },
    { ngx_string("DELETE"), NGX_HTTP_DELETE },
    { ngx_string("MKCOL"), NGX_HTTP_MKCOL },
    { ngx_string("COPY"), NGX_HTTP_COPY },
    { ngx_string("MOVE"), NGX_HTTP_MOVE },
    { ngx_string("OPTIONS"), NGX_HTTP_OPTIONS },
    { ngx_string("PROPFIND"), NGX_HTTP_PROPFIND },
    { ngx_string("PROPPATCH"), NGX_HTTP_PROPPATCH },
    { ngx_string("LOCK"), NGX_HTTP_LOCK },
    { ngx_string("UNLOCK"), NGX_HTTP_UNLOCK },
    { ngx_string("PATCH"), NGX_HTTP_PATCH },
    { ngx_string("TRACE"), NGX_HTTP_TRACE },
};

/* RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ) */
static ngx_int_t ngx_http_valetkey_scope_token_ok(ngx_str_t *s)
{
    if (s->len == 0)
        return 0;
    for (size_t i = 0; i < s->len; i++) {
        u_char c = s->data[i];
        if (c < 0x21 || c > 0x7e || c == '"' || c == '\\')
            return 0;
    }
    return 1;
}

/* valetkey_scope [methods=GET,POST,...] SCOPE...;
 * Every listed scope is required. A rule with methods= applies to those methods (GET also
 * selects HEAD, as limit_except does); the rules without it apply to every method that no
 * rule of the same location selects. */
static char *ngx_http_valetkey_scope(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_valetkey_loc_conf_t *lcf = conf;
    ngx_str_t                    *value = cf->args->elts;
    ngx_http_valetkey_rule_t     *rule;
    ngx_uint_t                    first = 1;
    size_t                        len = 0;
    u_char                       *p;

    if (lcf->rules == NGX_CONF_UNSET_PTR) {
        lcf->rules = ngx_array_create(cf->pool, 2, sizeof(ngx_http_valetkey_rule_t));
        if (lcf->rules == NULL)
            return NGX_CONF_ERROR;
    }
    rule = ngx_array_push(lcf->rules);
    if (rule == NULL)
        return NGX_CONF_ERROR;
    ngx_memzero(rule, sizeof *rule);
    if (value[1].len > 8 && ngx_strncmp(value[1].data, "methods=", 8) == 0) {
        u_char *s = value[1].data + 8, *end = value[1].data + value[1].len;
        while (s < end) {
            u_char    *comma = ngx_strlchr(s, end, ',');
            ngx_str_t  m = { (comma != NULL ? comma : end) - s, s };
            ngx_uint_t found = 0;
            for (size_t i = 0; i < sizeof ngx_http_valetkey_methods /
                                       sizeof ngx_http_valetkey_methods[0]; i++) {
                if (m.len == ngx_http_valetkey_methods[i].name.len &&
                    ngx_strncmp(m.data, ngx_http_valetkey_methods[i].name.data, m.len) == 0) {
                    rule->methods |= ngx_http_valetkey_methods[i].method;
                    found = 1;
                }
            }
            if (!found) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "valetkey_scope: unknown method \"%V\"",
                                   &m);
                return NGX_CONF_ERROR;
            }
            s = comma != NULL ? comma + 1 : end;
        }
        if (rule->methods & NGX_HTTP_GET)
            rule->methods |= NGX_HTTP_HEAD;
        first = 2;
    }
    if (first >= cf->args->nelts)
        return "needs at least one scope";
    for (ngx_uint_t i = first; i < cf->args->nelts; i++) {
        if (!ngx_http_valetkey_scope_token_ok(&value[i])) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "valetkey_scope: \"%V\" is not a scope (RFC 6749 section 3.3)",
                               &value[i]);
            return NGX_CONF_ERROR;
        }
        len += value[i].len + 1;
    }
    p = ngx_pnalloc(cf->pool, len);
    if (p == NULL)
        return NGX_CONF_ERROR;
    rule->scopes.data = p;
    for (ngx_uint_t i = first; i < cf->args->nelts; i++) {
        if (i > first)
            *p++ = ' ';
        p = ngx_cpymem(p, value[i].data, value[i].len);
    }
    *p = '\0';
    rule->scopes.len = (size_t)(p - rule->scopes.data);
    return NGX_CONF_OK;
}

/* valetkey_revocations URL CLIENT_ID SECRET [max_stale=TIME] [fail_open];
 * The authorization server's revocation feed (docs/revocations.md), followed by the library's
 * own thread in each worker; the client must be registered with `client add --introspect`. */
static char *ngx_http_valetkey_revocations(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_valetkey_loc_conf_t *lcf = conf;
    ngx_str_t                    *value = cf->args->elts;
    char                         *rv;

    if (lcf->rev_url.data != NULL)
        return "is duplicate";
    if (cf->args->nelts < 4 || cf->args->nelts > 6)
        return "expects URL CLIENT_ID SECRET [max_stale=TIME] [fail_open]";
    rv = ngx_http_valetkey_check_url(cf, NULL, &value[1]);
    if (rv != NGX_CONF_OK)
        return rv;
    lcf->rev_url = value[1];
    lcf->rev_client_id = value[2];
    lcf->rev_secret = value[3];
    lcf->rev_max_stale = 60;
    lcf->rev_fail_open = 0;
    for (ngx_uint_t i = 4; i < cf->args->nelts; i++) {
        if (value[i].len > 10 && ngx_strncmp(value[i].data, "max_stale=", 10) == 0) {
            ngx_str_t t = { value[i].len - 10, value[i].data + 10 };
            lcf->rev_max_stale = ngx_parse_time(&t, 1);
            if (lcf->rev_max_stale == (time_t)NGX_ERROR || lcf->rev_max_stale < 1 ||
                lcf->rev_max_stale > 86400)
                return "has a bad max_stale (1s to 1d)";
        } else if (value[i].len == 9 && ngx_strncmp(value[i].data, "fail_open", 9) == 0) {
            lcf->rev_fail_open = 1;
        } else {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "valetkey_revocations: unknown \"%V\"",
                               &value[i]);
            return NGX_CONF_ERROR;
        }
    }
    return NGX_CONF_OK;
}

/* ---- configuration: the shared zone ------------------------------------------------------- */

static ngx_int_t ngx_http_valetkey_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_valetkey_zone_t  *ozone = data, *zone = shm_zone->data;
    ngx_http_valetkey_shctx_t *sh;
    size_t                     n;

    if (ozone != NULL) {
        /* A reload with the same zone: the table carries over, so a proof accepted by an old
         * worker is still a replay for the new ones. */
        zone->sh = ozone->sh;
        zone->shpool = ozone->shpool;
        return NGX_OK;
    }
    zone->shpool = (ngx_slab_pool_t *)shm_zone->shm.addr;
    if (shm_zone->shm.exists) {
        zone->sh = zone->shpool->data;
        return NGX_OK;
    }
    sh = ngx_slab_alloc(zone->shpool, sizeof *sh);
    if (sh == NULL)
        return NGX_ERROR;
    if (RAND_bytes(sh->secret, sizeof sh->secret) != 1)
        return NGX_ERROR;
    /* The largest power of two of slots that fits in about half the zone (the slab allocator
     * keeps its own page table and rounds large allocations up to pages). */
    for (n = 1; n * 2 * sizeof(ngx_http_valetkey_slot_t) <= shm_zone->shm.size / 2; n *= 2) {
    }
    for (; n >= NGX_HTTP_VALETKEY_WINDOW; n /= 2) {
        sh->slots = ngx_slab_calloc(zone->shpool, n * sizeof(ngx_http_valetkey_slot_t));
        if (sh->slots != NULL)
            break;
    }
    if (sh->slots == NULL) {
        ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                      "valetkey_cache zone \"%V\" is too small", &shm_zone->shm.name);
        return NGX_ERROR;
    }
    sh->mask = n - 1;
    zone->sh = sh;
    zone->shpool->data = sh;
    zone->shpool->log_nomem = 0;
    return NGX_OK;
}

/* valetkey_cache zone=NAME:SIZE; */
static char *ngx_http_valetkey_cache(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_valetkey_loc_conf_t *lcf = conf;
    ngx_str_t                    *value = cf->args->elts, name;
    ngx_http_valetkey_zone_t     *zone;
    u_char                       *colon;
    ssize_t                       size;

    if (lcf->cache != NGX_CONF_UNSET_PTR)
        return "is duplicate";
    if (value[1].len <= 5 || ngx_strncmp(value[1].data, "zone=", 5) != 0)
        return "expects zone=NAME:SIZE";
    name.data = value[1].data + 5;
    colon = (u_char *)ngx_strchr(name.data, ':');
    if (colon == NULL)
        return "expects zone=NAME:SIZE";
    name.len = (size_t)(colon - name.data);
    ngx_str_t s = { value[1].len - 5 - name.len - 1, colon + 1 };
    size = ngx_parse_size(&s);
    if (name.len == 0 || size == NGX_ERROR)
        return "expects zone=NAME:SIZE";
    if (size < (ssize_t)(64 * ngx_pagesize))
        return "needs a zone of at least 64 pages (256k)";
    zone = ngx_pcalloc(cf->pool, sizeof *zone);
    if (zone == NULL)
        return NGX_CONF_ERROR;
    lcf->cache = ngx_shared_memory_add(cf, &name, (size_t)size, &ngx_http_valetkey_module);
    if (lcf->cache == NULL)
        return NGX_CONF_ERROR;
    if (lcf->cache->data != NULL) {
        /* The same zone named again (in another location): it must be the same size. */
        if (lcf->cache->shm.size != (size_t)size)
            return "names a zone that was declared with another size";
        return NGX_CONF_OK;
    }
    lcf->cache->init = ngx_http_valetkey_init_zone;
    lcf->cache->data = zone;
    return NGX_CONF_OK;
}

/* libvaletkey's dpop_replay hook: records the jti in the shared table, or says it was there. */
static int ngx_http_valetkey_replay(void *arg, const char *jti, size_t len, int64_t expires)
{
    ngx_http_valetkey_spec_t  *spec = arg;
    ngx_http_valetkey_zone_t  *zone = spec->cache->data;
    ngx_http_valetkey_shctx_t *sh = zone->sh;
    ngx_http_valetkey_slot_t  *free_slot = NULL;
    u_char                     digest[32];
    unsigned int               dlen = 0;
    EVP_MD_CTX                *md;
    uint64_t                   idx;
    int64_t                    now = (int64_t)ngx_time();
    int                        rc = VALETKEY_OK;

    md = EVP_MD_CTX_new();
    if (md == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1 ||
        EVP_DigestUpdate(md, sh->secret, sizeof sh->secret) != 1 ||
        EVP_DigestUpdate(md, jti, len) != 1 || EVP_DigestFinal_ex(md, digest, &dlen) != 1) {
        EVP_MD_CTX_free(md);
        return VALETKEY_ECAPACITY; /* fail closed */
    }
    EVP_MD_CTX_free(md);
    ngx_memcpy(&idx, digest + 16, sizeof idx);

    ngx_shmtx_lock(&zone->shpool->mutex);
    for (ngx_uint_t i = 0; i < NGX_HTTP_VALETKEY_WINDOW; i++) {
        ngx_http_valetkey_slot_t *s = &sh->slots[(idx + i) & sh->mask];
        if (s->expires > now) {
            if (ngx_memcmp(s->key, digest, sizeof s->key) == 0) {
                rc = VALETKEY_DPOP_REPLAY;
                goto out;
            }
        } else if (free_slot == NULL) {
            free_slot = s;
        }
    }
    /* Every slot of the window holds a proof that could still be replayed: refuse rather
     * than forget one (the library's own cache does the same). */
    if (free_slot == NULL) {
        rc = VALETKEY_ECAPACITY;
        goto out;
    }
    ngx_memcpy(free_slot->key, digest, sizeof free_slot->key);
    free_slot->expires = expires;
out:
    ngx_shmtx_unlock(&zone->shpool->mutex);
    return rc;
}

/* ---- configuration: create and merge -------------------------------------------------------- */

static void *ngx_http_valetkey_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_valetkey_main_conf_t *mcf = ngx_pcalloc(cf->pool, sizeof *mcf);

    if (mcf == NULL)
        return NULL;
    if (ngx_array_init(&mcf->specs, cf->pool, 4, sizeof(ngx_http_valetkey_spec_t *)) != NGX_OK)
        return NULL;
    return mcf;
}

static void *ngx_http_valetkey_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_valetkey_loc_conf_t *lcf = ngx_pcalloc(cf->pool, sizeof *lcf);

    if (lcf == NULL)
        return NULL;
    lcf->enable = NGX_CONF_UNSET;
    lcf->audiences = NGX_CONF_UNSET_PTR;
    lcf->leeway = NGX_CONF_UNSET;
    lcf->dpop = NGX_CONF_UNSET_UINT;
    lcf->cache = NGX_CONF_UNSET_PTR;
    lcf->rules = NGX_CONF_UNSET_PTR;
    lcf->strip_token = NGX_CONF_UNSET;
    lcf->unavailable_status = NGX_CONF_UNSET_UINT;
    lcf->origin = NGX_CONF_UNSET_PTR;
    lcf->start_wait = NGX_CONF_UNSET_MSEC;
    return lcf;
}

static ngx_int_t ngx_http_valetkey_str_eq(ngx_str_t *a, ngx_str_t *b)
{
    return a->len == b->len && (a->len == 0 || ngx_memcmp(a->data, b->data, a->len) == 0);
}

static ngx_int_t ngx_http_valetkey_spec_eq(ngx_http_valetkey_spec_t *s,
                                           ngx_http_valetkey_loc_conf_t *c)
{
    ngx_str_t *a = s->audiences->elts, *b = c->audiences->elts;

    if (!ngx_http_valetkey_str_eq(&s->issuer, &c->issuer) ||
        !ngx_http_valetkey_str_eq(&s->jwks_file, &c->jwks_file) ||
        !ngx_http_valetkey_str_eq(&s->jwks_json, &c->jwks_json) || s->leeway != c->leeway ||
        s->dpop != c->dpop || !ngx_http_valetkey_str_eq(&s->realm, &c->realm) ||
        !ngx_http_valetkey_str_eq(&s->resource_metadata, &c->resource_metadata) ||
        !ngx_http_valetkey_str_eq(&s->ca_file, &c->ca_file) || s->cache != c->cache ||
        !ngx_http_valetkey_str_eq(&s->rev_url, &c->rev_url) ||
        !ngx_http_valetkey_str_eq(&s->rev_client_id, &c->rev_client_id) ||
        !ngx_http_valetkey_str_eq(&s->rev_secret, &c->rev_secret) ||
        s->rev_max_stale != c->rev_max_stale || s->rev_fail_open != c->rev_fail_open ||
        s->start_wait != c->start_wait ||
        s->audiences->nelts != c->audiences->nelts)
        return 0;
    for (ngx_uint_t i = 0; i < s->audiences->nelts; i++)
        if (!ngx_http_valetkey_str_eq(&a[i], &b[i]))
            return 0;
    return 1;
}

/* Fills libvaletkey's options from a spec; the strings are the spec's (NUL-terminated). */
static ngx_int_t ngx_http_valetkey_options(ngx_pool_t *pool, ngx_http_valetkey_spec_t *spec,
                                           struct valetkey_options *o)
{
    ngx_str_t   *a = spec->audiences->elts;
    const char **aud;

    aud = ngx_pcalloc(pool, (spec->audiences->nelts + 1) * sizeof *aud);
    if (aud == NULL)
        return NGX_ERROR;
    for (ngx_uint_t i = 0; i < spec->audiences->nelts; i++)
        aud[i] = (const char *)a[i].data;
    valetkey_options_init(o);
    o->issuer = (const char *)spec->issuer.data;
    o->audiences = aud;
    o->leeway = (long)spec->leeway;
    if (spec->jwks_json.len > 0)
        o->jwks_json = (const char *)spec->jwks_json.data;
    if (spec->ca_file.len > 0)
        o->ca_file = (const char *)spec->ca_file.data;
    if (spec->realm.len > 0)
        o->realm = (const char *)spec->realm.data;
    if (spec->resource_metadata.len > 0)
        o->resource_metadata = (const char *)spec->resource_metadata.data;
    o->background_fetch = 1; /* an nginx worker must never wait for the network */
    o->dpop_required = spec->dpop == NGX_HTTP_VALETKEY_DPOP_REQUIRED;
    o->dpop_disabled = spec->dpop == NGX_HTTP_VALETKEY_DPOP_OFF;
    if (spec->rev_url.len > 0) {
        o->revocations_url = (const char *)spec->rev_url.data;
        o->revocations_client_id = (const char *)spec->rev_client_id.data;
        o->revocations_client_secret = (const char *)spec->rev_secret.data;
        o->revocations_max_stale = (long)spec->rev_max_stale;
        o->revocations_fail_open = spec->rev_fail_open != 0;
        /* Every reload starts new workers with empty revocation lists: until their first read
         * of the feed they refuse (503) rather than accept what was revoked long before. */
        o->revocations_start_closed = 1;
    }
    if (spec->dpop != NGX_HTTP_VALETKEY_DPOP_OFF && spec->cache != NULL) {
        o->dpop_replay = ngx_http_valetkey_replay;
        o->dpop_replay_arg = spec;
    }
    return NGX_OK;
}

/* The settings are checked now, by libvaletkey itself, so that `nginx -t` reports what a
 * worker would refuse. Only a key set given as a file is used as such; for an issuer a
 * stand-in key set (the RFC 7515 A.3 public key) lets the check run without a fetch. */
static char *ngx_http_valetkey_spec_check(ngx_conf_t *cf, ngx_http_valetkey_spec_t *spec)
{
    static const char placeholder[] =
        "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"alg\":\"ES256\",\"kid\":\"check\","
        "\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\","
        "\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\"}]}";
    struct valetkey_options o;
    valetkey_verifier      *v = NULL;
    int                     rc;

    if (ngx_http_valetkey_options(cf->pool, spec, &o) != NGX_OK)
        return NGX_CONF_ERROR;
    if (o.jwks_json == NULL)
        o.jwks_json = placeholder;
    o.background_fetch = 0;
    o.dpop_replay = NULL;
    o.revocations_url = NULL; /* its settings are checked by the directive; no thread here */
    rc = valetkey_verifier_new(&v, &o);
    valetkey_verifier_free(v);
    if (rc == VALETKEY_EFETCH) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "valetkey_jwks_file \"%V\" holds no usable signature key",
                           &spec->jwks_file);
        return NGX_CONF_ERROR;
    }
    if (rc != VALETKEY_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "valetkey: the settings for issuer \"%V\" are refused: %s",
                           &spec->issuer, valetkey_strerror(rc));
        return NGX_CONF_ERROR;
    }
    return NGX_CONF_OK;
}

/* A replay cache per worker would let a proof be replayed once to every other worker (RFC 9449
 * §11.1): DPoP with more than one worker needs the shared one. */
static ngx_int_t ngx_http_valetkey_dpop_unsafe(ngx_http_valetkey_spec_t *spec,
                                               ngx_core_conf_t *ccf)
{
    return spec->dpop != NGX_HTTP_VALETKEY_DPOP_OFF && spec->cache == NULL &&
           ccf->master != 0 && ccf->worker_processes != NGX_CONF_UNSET &&
           ccf->worker_processes > 1;
}

static char *ngx_http_valetkey_find_spec(ngx_conf_t *cf, ngx_http_valetkey_loc_conf_t *c)
{
    ngx_http_valetkey_main_conf_t *mcf;
    ngx_http_valetkey_spec_t     **specs, *spec;
    ngx_core_conf_t               *ccf;
    char                          *rv;

    mcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_valetkey_module);
    specs = mcf->specs.elts;
    for (ngx_uint_t i = 0; i < mcf->specs.nelts; i++) {
        if (ngx_http_valetkey_spec_eq(specs[i], c)) {
            c->spec = specs[i];
            return NGX_CONF_OK;
        }
    }
    spec = ngx_pcalloc(cf->pool, sizeof *spec);
    if (spec == NULL)
        return NGX_CONF_ERROR;
    spec->issuer = c->issuer;
    spec->jwks_file = c->jwks_file;
    spec->jwks_json = c->jwks_json;
    spec->audiences = c->audiences;
    spec->leeway = c->leeway;
    spec->dpop = c->dpop;
    spec->realm = c->realm;
    spec->resource_metadata = c->resource_metadata;
    spec->ca_file = c->ca_file;
    spec->cache = c->cache;
    spec->rev_url = c->rev_url;
    spec->rev_client_id = c->rev_client_id;
    spec->rev_secret = c->rev_secret;
    spec->rev_max_stale = c->rev_max_stale;
    spec->rev_fail_open = c->rev_fail_open;
    spec->start_wait = c->start_wait;
    ccf = (ngx_core_conf_t *)ngx_get_conf(cf->cycle->conf_ctx, ngx_core_module);
    if (ngx_http_valetkey_dpop_unsafe(spec, ccf)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "valetkey_dpop needs \"valetkey_cache zone=NAME:SIZE\" when there "
                           "is more than one worker process");
        return NGX_CONF_ERROR;
    }
    rv = ngx_http_valetkey_spec_check(cf, spec);
    if (rv != NGX_CONF_OK)
        return rv;
    specs = ngx_array_push(&mcf->specs);
    if (specs == NULL)
        return NGX_CONF_ERROR;
    *specs = spec;
    c->spec = spec;
    return NGX_CONF_OK;
}

/* Joins the scopes of every rule that applies to `method` (0: methods no rule selects). */
static char *ngx_http_valetkey_join(ngx_conf_t *cf, ngx_array_t *rules, ngx_uint_t method,
                                    ngx_str_t *out)
{
    ngx_http_valetkey_rule_t *r = rules->elts;
    ngx_uint_t                selected = 0;
    size_t                    len = 0;
    u_char                   *p = NULL;

    for (ngx_uint_t i = 0; i < rules->nelts; i++)
        if (method != 0 && (r[i].methods & method))
            selected = 1;
    for (ngx_uint_t pass = 0; pass < 2; pass++) {
        for (ngx_uint_t i = 0; i < rules->nelts; i++) {
            if (selected ? !(r[i].methods & method) : r[i].methods != 0)
                continue;
            if (pass == 0) {
                len += r[i].scopes.len + 1;
                continue;
            }
            if (p != out->data)
                *p++ = ' ';
            p = ngx_cpymem(p, r[i].scopes.data, r[i].scopes.len);
        }
        if (pass == 0) {
            if (len == 0) {
                ngx_str_null(out);
                return NGX_CONF_OK;
            }
            out->data = ngx_pnalloc(cf->pool, len);
            if (out->data == NULL)
                return NGX_CONF_ERROR;
            p = out->data;
        }
    }
    *p = '\0';
    out->len = (size_t)(p - out->data);
    return NGX_CONF_OK;
}

static char *ngx_http_valetkey_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_valetkey_loc_conf_t *prev = parent, *conf = child;
    char                         *rv;

    ngx_conf_merge_value(conf->enable, prev->enable, 0);
    ngx_conf_merge_str_value(conf->issuer, prev->issuer, "");
    if (conf->jwks_file.data == NULL) {
        conf->jwks_file = prev->jwks_file;
        conf->jwks_json = prev->jwks_json;
    }
    ngx_conf_merge_ptr_value(conf->audiences, prev->audiences, NULL);
    ngx_conf_merge_sec_value(conf->leeway, prev->leeway, 30);
    ngx_conf_merge_uint_value(conf->dpop, prev->dpop, NGX_HTTP_VALETKEY_DPOP_OFF);
    ngx_conf_merge_str_value(conf->realm, prev->realm, "");
    ngx_conf_merge_str_value(conf->resource_metadata, prev->resource_metadata, "");
    ngx_conf_merge_str_value(conf->ca_file, prev->ca_file, "");
    ngx_conf_merge_ptr_value(conf->cache, prev->cache, NULL);
    if (conf->rev_url.data == NULL) {
        conf->rev_url = prev->rev_url;
        conf->rev_client_id = prev->rev_client_id;
        conf->rev_secret = prev->rev_secret;
        conf->rev_max_stale = prev->rev_max_stale;
        conf->rev_fail_open = prev->rev_fail_open;
    }
    ngx_conf_merge_ptr_value(conf->rules, prev->rules, NULL);
    ngx_conf_merge_value(conf->strip_token, prev->strip_token, 0);
    ngx_conf_merge_uint_value(conf->unavailable_status, prev->unavailable_status,
                              NGX_HTTP_SERVICE_UNAVAILABLE);
    ngx_conf_merge_ptr_value(conf->origin, prev->origin, NULL);
    ngx_conf_merge_msec_value(conf->start_wait, prev->start_wait, 3000);

    if (!conf->enable)
        return NGX_CONF_OK;
    if (conf->issuer.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"valetkey on\" needs valetkey_issuer (the tokens' \"iss\")");
        return NGX_CONF_ERROR;
    }
    if (conf->audiences == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"valetkey on\" needs valetkey_audience (RFC 9068 section 4)");
        return NGX_CONF_ERROR;
    }
    if (conf->rules != NULL) {
        for (ngx_uint_t b = 0; b < NGX_HTTP_VALETKEY_NMETHODS; b++) {
            rv = ngx_http_valetkey_join(cf, conf->rules, (ngx_uint_t)1 << (b + 1),
                                        &conf->required[b]);
            if (rv != NGX_CONF_OK)
                return rv;
        }
        rv = ngx_http_valetkey_join(cf, conf->rules, 0, &conf->required_other);
        if (rv != NGX_CONF_OK)
            return rv;
    }
    return ngx_http_valetkey_find_spec(cf, conf);
}

/* ---- process life cycle --------------------------------------------------------------------- */

static ngx_int_t ngx_http_valetkey_init_module(ngx_cycle_t *cycle)
{
    ngx_http_valetkey_main_conf_t *mcf;
    ngx_http_valetkey_spec_t     **specs;
    ngx_core_conf_t               *ccf;

    mcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_valetkey_module);
    if (mcf == NULL)
        return NGX_OK; /* no http block */
    ccf = (ngx_core_conf_t *)ngx_get_conf(cycle->conf_ctx, ngx_core_module);
    specs = mcf->specs.elts;
    for (ngx_uint_t i = 0; i < mcf->specs.nelts; i++) {
        /* worker_processes written after the http block: the merge could not know. Failing
         * here would stop the master (nginx treats init_module errors as fatal), so these
         * locations refuse every request instead: closed, and said loudly. */
        if (ngx_http_valetkey_dpop_unsafe(specs[i], ccf)) {
            specs[i]->unsafe = 1;
            ngx_log_error(NGX_LOG_ALERT, cycle->log, 0,
                          "valetkey_dpop needs \"valetkey_cache zone=NAME:SIZE\" when there "
                          "is more than one worker process: the locations of issuer \"%V\" "
                          "answer 500", &specs[i]->issuer);
        }
    }
    return NGX_OK;
}

static int64_t ngx_http_valetkey_mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A new worker waits, before its event loop starts, until each verifier has its key set and has
 * read its revocation feed once, for at most valetkey_start_wait. Nothing is refused meanwhile:
 * in a reload the old workers have stopped accepting and connections wait in the listen
 * backlog, for the few milliseconds a fetch on a healthy network takes. Without this wait every
 * reload would answer 503 to the first requests each new worker takes. Readiness is read through
 * the API's own contract: a verification answers VALETKEY_EFETCH until keys arrived and
 * VALETKEY_ESTALE until the feed was read (revocations_start_closed). */
static void ngx_http_valetkey_wait_ready(ngx_cycle_t *cycle, ngx_http_valetkey_main_conf_t *mcf)
{
    ngx_http_valetkey_spec_t **specs = mcf->specs.elts;
    int64_t                    t0 = ngx_http_valetkey_mono_ms();

    for (ngx_uint_t i = 0; i < mcf->specs.nelts; i++) {
        int rc = VALETKEY_EFETCH;
        for (;;) {
            rc = valetkey_verify(specs[i]->verifier, "-", 1, NULL, NULL);
            if ((rc != VALETKEY_EFETCH && rc != VALETKEY_ESTALE) ||
                ngx_http_valetkey_mono_ms() - t0 >= (int64_t)specs[i]->start_wait)
                break;
            ngx_msleep(5);
        }
        if (rc == VALETKEY_EFETCH || rc == VALETKEY_ESTALE)
            ngx_log_error(NGX_LOG_WARN, cycle->log, 0,
                          "valetkey: issuer \"%V\": %s after valetkey_start_wait; answering %s "
                          "until then", &specs[i]->issuer,
                          rc == VALETKEY_EFETCH ? "no key set yet" : "revocation feed not read",
                          "503");
    }
}

static ngx_int_t ngx_http_valetkey_init_process(ngx_cycle_t *cycle)
{
    ngx_http_valetkey_main_conf_t *mcf;
    ngx_http_valetkey_spec_t     **specs;
    sigset_t                       all, old;
    ngx_int_t                      rv = NGX_OK;

    mcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_valetkey_module);
    /* Workers only (and the single process): not the cache manager and loader. */
    if ((ngx_process != NGX_PROCESS_WORKER && ngx_process != NGX_PROCESS_SINGLE) ||
        mcf == NULL)
        return NGX_OK;
    /* The library's threads must not take the signals nginx sends this worker: its handlers
     * only set flags that the event loop's thread must see. Threads inherit this mask. */
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    specs = mcf->specs.elts;
    for (ngx_uint_t i = 0; i < mcf->specs.nelts; i++) {
        struct valetkey_options o;
        int                     rc;

        if (ngx_http_valetkey_options(cycle->pool, specs[i], &o) != NGX_OK) {
            rv = NGX_ERROR;
            break;
        }
        rc = valetkey_verifier_new(&specs[i]->verifier, &o);
        if (rc != VALETKEY_OK) {
            ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                          "valetkey: verifier for issuer \"%V\" not created: %s",
                          &specs[i]->issuer, valetkey_strerror(rc));
            rv = NGX_ERROR;
            break;
        }
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rv == NGX_OK)
        ngx_http_valetkey_wait_ready(cycle, mcf);
    return rv;
}

static void ngx_http_valetkey_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_valetkey_main_conf_t *mcf;
    ngx_http_valetkey_spec_t     **specs;

    mcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_valetkey_module);
    if (mcf == NULL)
        return;
    specs = mcf->specs.elts;
    for (ngx_uint_t i = 0; i < mcf->specs.nelts; i++) {
        /* Joins the fetch thread (interrupting a transfer) and closes its sockets. */
        valetkey_verifier_free(specs[i]->verifier);
        specs[i]->verifier = NULL;
    }
}

/* ---- the request ---------------------------------------------------------------------------- */

static void ngx_http_valetkey_cleanup(void *data)
{
    ngx_http_valetkey_ctx_t *ctx = data;

    valetkey_claims_free(ctx->claims);
    ctx->claims = NULL;
}

static ngx_http_valetkey_ctx_t *ngx_http_valetkey_get_ctx(ngx_http_request_t *r)
{
    ngx_http_valetkey_ctx_t *ctx = ngx_http_get_module_ctx(r, ngx_http_valetkey_module);

    if (ctx != NULL || !r->internal)
        return ctx;
    /* After an internal redirect the module contexts are gone; the cleanup is not. */
    for (ngx_pool_cleanup_t *cln = r->pool->cleanup; cln != NULL; cln = cln->next) {
        if (cln->handler == ngx_http_valetkey_cleanup) {
            ctx = cln->data;
            ngx_http_set_ctx(r, ctx, ngx_http_valetkey_module);
            return ctx;
        }
    }
    return NULL;
}

/* Removes every header named `name` (lower case) from the request, so it is not proxied. */
static void ngx_http_valetkey_remove_header(ngx_http_request_t *r, const char *name, size_t len)
{
    ngx_list_part_t *part = &r->headers_in.headers.part;

    for (; part != NULL; part = part->next) {
        ngx_table_elt_t *h = part->elts;
        ngx_uint_t       i = 0;
        while (i < part->nelts) {
            if (h[i].key.len == len && ngx_strncasecmp(h[i].key.data, (u_char *)name, len) == 0) {
                ngx_memmove(&h[i], &h[i + 1], (part->nelts - i - 1) * sizeof *h);
                part->nelts--;
                continue;
            }
            i++;
        }
    }
}

/* The DPoP header (RFC 9449 §4.1): NULL when absent; `dup` set when there is more than one,
 * which the request must be refused for (§4.3 step 1). */
static ngx_table_elt_t *ngx_http_valetkey_dpop_header(ngx_http_request_t *r, ngx_uint_t *dup)
{
    ngx_table_elt_t *found = NULL;

    *dup = 0;
    for (ngx_list_part_t *part = &r->headers_in.headers.part; part != NULL; part = part->next) {
        ngx_table_elt_t *h = part->elts;
        for (ngx_uint_t i = 0; i < part->nelts; i++) {
            if (h[i].key.len == 4 && ngx_strncasecmp(h[i].key.data, (u_char *)"dpop", 4) == 0) {
                if (found != NULL)
                    *dup = 1;
                found = &h[i];
            }
        }
    }
    return found;
}

/* A NUL-terminated header value: nginx terminates the values it parsed; anything else is
 * copied. */
static const char *ngx_http_valetkey_cstr(ngx_http_request_t *r, ngx_str_t *v)
{
    u_char *p;

    if (v->data[v->len] == '\0')
        return (const char *)v->data;
    p = ngx_pnalloc(r->pool, v->len + 1);
    if (p == NULL)
        return NULL;
    ngx_memcpy(p, v->data, v->len);
    p[v->len] = '\0';
    return (const char *)p;
}

/* The absolute URL the client addressed (RFC 9449 §4.3 step 9): valetkey_origin when set (a
 * TLS terminator or another proxy in front), else this connection's scheme and the Host. */
static const char *ngx_http_valetkey_request_url(ngx_http_request_t *r,
                                                 ngx_http_valetkey_loc_conf_t *lcf)
{
    ngx_str_t   origin = ngx_null_string, host = ngx_null_string, server;
    ngx_uint_t  port = 0, tls = 0;
    size_t      cap, n;
    u_char     *buf;

    if (lcf->origin != NULL && ngx_http_complex_value(r, lcf->origin, &origin) != NGX_OK)
        return NULL;
#if (NGX_HTTP_SSL)
    tls = r->connection->ssl != NULL;
#endif
    if (r->headers_in.host != NULL)
        host = r->headers_in.host->value;
    server = r->headers_in.server;
    if (host.len == 0 && r->connection->local_sockaddr != NULL)
        port = ngx_inet_get_port(r->connection->local_sockaddr);
    cap = origin.len + host.len + server.len + r->unparsed_uri.len + 32;
    if (cap > VALETKEY_URL_MAX + 1)
        cap = VALETKEY_URL_MAX + 1;
    buf = ngx_pnalloc(r->pool, cap);
    if (buf == NULL)
        return NULL;
    n = ngx_http_valetkey_url(origin.len > 0 ? (const char *)origin.data : NULL, origin.len,
                              (int)tls, (const char *)host.data, host.len,
                              (const char *)server.data, server.len, (unsigned)port,
                              (const char *)r->unparsed_uri.data, r->unparsed_uri.len,
                              (char *)buf, cap);
    return n > 0 ? (const char *)buf : NULL;
}

#if (NGX_HTTP_SSL)
/* RFC 8705 §3: a token bound to a client certificate (cnf.x5t#S256) is accepted only on a TLS
 * connection on which the client presented that very certificate (ssl_verify_client on,
 * optional or optional_no_ca: the handshake proved the client holds its key). The library
 * compares the thumbprint; this hands it the DER. */
static ngx_int_t ngx_http_valetkey_client_cert(ngx_http_request_t *r, struct valetkey_request *rq)
{
    X509   *cert;
    u_char *der, *p;
    int     n;

    if (r->connection->ssl == NULL)
        return NGX_OK;
    cert = SSL_get_peer_certificate(r->connection->ssl->connection); /* +1 reference */
    if (cert == NULL)
        return NGX_OK;
    n = i2d_X509(cert, NULL);
    der = n > 0 ? ngx_pnalloc(r->pool, (size_t)n) : NULL;
    p = der;
    if (der == NULL || i2d_X509(cert, &p) != n) {
        X509_free(cert);
        return NGX_ERROR;
    }
    X509_free(cert);
    rq->client_cert = der;
    rq->client_cert_len = (size_t)n;
    return NGX_OK;
}
#endif

static ngx_int_t ngx_http_valetkey_deny(ngx_http_request_t *r, ngx_http_valetkey_loc_conf_t *lcf,
                                        int rc, const struct valetkey_request *rq,
                                        ngx_str_t *required)
{
    int     status = valetkey_http_status(rc);
    u_char *buf;
    size_t  cap = 512 + lcf->realm.len + lcf->resource_metadata.len + required->len;

    if (status == 503 || status == 500) {
        ngx_uint_t level = status == 503 ? NGX_LOG_WARN : NGX_LOG_ERR;
        ngx_log_error(level, r->connection->log, 0, "valetkey: cannot decide: %s",
                      valetkey_strerror(rc));
        return status == 503 ? (ngx_int_t)lcf->unavailable_status
                             : NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0, "valetkey: access denied: %s",
                  valetkey_strerror(rc));
    buf = ngx_pnalloc(r->pool, cap);
    if (buf == NULL)
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    if (valetkey_www_authenticate(lcf->spec->verifier, rc, rq,
                                  required->len > 0 ? (const char *)required->data : NULL,
                                  (char *)buf, cap) != VALETKEY_OK)
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    r->headers_out.www_authenticate = ngx_list_push(&r->headers_out.headers);
    if (r->headers_out.www_authenticate == NULL)
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    r->headers_out.www_authenticate->hash = 1;
    ngx_str_set(&r->headers_out.www_authenticate->key, "WWW-Authenticate");
    r->headers_out.www_authenticate->value.data = buf;
    r->headers_out.www_authenticate->value.len = ngx_strlen(buf);
    return status;
}

static ngx_str_t *ngx_http_valetkey_required(ngx_http_request_t *r,
                                             ngx_http_valetkey_loc_conf_t *lcf)
{
    /* required[b] already falls back to the rules without methods= (see the merge). */
    for (ngx_uint_t b = 0; b < NGX_HTTP_VALETKEY_NMETHODS; b++)
        if (r->method == ((ngx_uint_t)1 << (b + 1)))
            return &lcf->required[b];
    return &lcf->required_other;
}

static ngx_int_t ngx_http_valetkey_handler(ngx_http_request_t *r)
{
    ngx_http_valetkey_loc_conf_t *lcf;
    ngx_http_valetkey_ctx_t      *ctx;
    ngx_pool_cleanup_t           *cln;
    ngx_table_elt_t              *dpop;
    ngx_str_t                    *required;
    struct valetkey_request       rq;
    valetkey_claims              *claims = NULL;
    const char                   *auth = NULL, *token = NULL;
    size_t                        len = 0;
    ngx_uint_t                    dup;
    u_char                        method[32];
    int                           rc;

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_valetkey_module);
    if (!lcf->enable)
        return NGX_DECLINED;
    ngx_memzero(&rq, sizeof rq);
    rq.scheme = VALETKEY_SCHEME_BEARER;
    if (lcf->spec->unsafe)
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    if (lcf->spec->verifier == NULL) /* not a worker: cannot happen, never let through */
        return (ngx_int_t)lcf->unavailable_status;
    required = ngx_http_valetkey_required(r, lcf);

    ctx = ngx_http_valetkey_get_ctx(r);
    if (ctx != NULL && ctx->claims != NULL && ctx->spec == lcf->spec) {
        /* Checked before this internal redirect, by the same verifier: only the scopes of
         * this location remain. */
        rc = required->len > 0
                 ? valetkey_claims_require_scope(ctx->claims, (const char *)required->data)
                 : VALETKEY_OK;
        return rc == VALETKEY_OK ? NGX_OK : ngx_http_valetkey_deny(r, lcf, rc, NULL, required);
    }

    dpop = ngx_http_valetkey_dpop_header(r, &dup);
    if (r->headers_in.authorization != NULL) {
        auth = ngx_http_valetkey_cstr(r, &r->headers_in.authorization->value);
        if (auth == NULL)
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    rc = valetkey_authorization_parse(auth, &rq.scheme, &token, &len);
    if (rc == VALETKEY_OK && dup)
        rc = VALETKEY_BAD_REQUEST; /* RFC 9449 §4.3: more than one DPoP header */
    if (rc == VALETKEY_OK && (rq.scheme == VALETKEY_SCHEME_DPOP || dpop != NULL)) {
        if (dpop != NULL) {
            rq.dpop = ngx_http_valetkey_cstr(r, &dpop->value);
            if (rq.dpop == NULL)
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
        if (r->method_name.len >= sizeof method)
            return NGX_HTTP_NOT_ALLOWED;
        ngx_memcpy(method, r->method_name.data, r->method_name.len);
        method[r->method_name.len] = '\0';
        rq.method = (const char *)method;
        rq.url = ngx_http_valetkey_request_url(r, lcf);
        if (rq.url == NULL)
            rc = VALETKEY_BAD_REQUEST; /* no absolute URL can be made of this request */
    }
#if (NGX_HTTP_SSL)
    if (rc == VALETKEY_OK && ngx_http_valetkey_client_cert(r, &rq) != NGX_OK)
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
#endif
    if (rc == VALETKEY_OK)
        rc = valetkey_verify(lcf->spec->verifier, token, len, &rq, &claims);
    if (rc == VALETKEY_OK && required->len > 0)
        rc = valetkey_claims_require_scope(claims, (const char *)required->data);
    if (rc != VALETKEY_OK) {
        valetkey_claims_free(claims);
        return ngx_http_valetkey_deny(r, lcf, rc, &rq, required);
    }

    cln = ngx_pool_cleanup_add(r->pool, sizeof(ngx_http_valetkey_ctx_t));
    if (cln == NULL) {
        valetkey_claims_free(claims);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    ctx = cln->data;
    ctx->claims = claims;
    ctx->spec = lcf->spec;
    cln->handler = ngx_http_valetkey_cleanup;
    ngx_http_set_ctx(r, ctx, ngx_http_valetkey_module);

    if (lcf->strip_token) {
        ngx_http_valetkey_remove_header(r, "authorization", 13);
        ngx_http_valetkey_remove_header(r, "dpop", 4);
        r->headers_in.authorization = NULL;
    }
    return NGX_OK;
}

/* ---- variables ------------------------------------------------------------------------------ */

/* A claim's value for a header or a log: a string claim as it is, anything else as compact
 * JSON. A string with a control character is not given out at all (it would split a header
 * line when proxied); JSON text escapes them. */
static ngx_int_t ngx_http_valetkey_set(ngx_http_variable_value_t *v, const char *s)
{
    size_t n;

    if (s == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }
    n = ngx_strlen(s);
    for (size_t i = 0; i < n; i++) {
        u_char c = (u_char)s[i];
        if (c < 0x20 || c == 0x7f) {
            v->not_found = 1;
            return NGX_OK;
        }
    }
    v->data = (u_char *)s; /* borrowed from the claims, freed with the request's pool */
    v->len = n;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;
    return NGX_OK;
}

static valetkey_claims *ngx_http_valetkey_claims(ngx_http_request_t *r)
{
    ngx_http_valetkey_ctx_t *ctx = ngx_http_valetkey_get_ctx(r->main);

    return ctx != NULL ? ctx->claims : NULL;
}

enum { VK_VAR_SUB, VK_VAR_CLIENT_ID, VK_VAR_SCOPE, VK_VAR_JTI };

static ngx_int_t ngx_http_valetkey_variable(ngx_http_request_t *r, ngx_http_variable_value_t *v,
                                            uintptr_t data)
{
    valetkey_claims *c = ngx_http_valetkey_claims(r);

    if (c == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }
    switch (data) {
    case VK_VAR_SUB: return ngx_http_valetkey_set(v, valetkey_claims_sub(c));
    case VK_VAR_CLIENT_ID: return ngx_http_valetkey_set(v, valetkey_claims_client_id(c));
    case VK_VAR_SCOPE: return ngx_http_valetkey_set(v, valetkey_claims_scope(c));
    default: return ngx_http_valetkey_set(v, valetkey_claims_jti(c));
    }
}

/* $valetkey_claim_NAME: nginx lower-cases variable names, so NAME is matched in lower case. */
static ngx_int_t ngx_http_valetkey_claim_variable(ngx_http_request_t *r,
                                                  ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_str_t       *name = (ngx_str_t *)data;
    valetkey_claims *c = ngx_http_valetkey_claims(r);
    size_t           prefix = sizeof("valetkey_claim_") - 1;
    u_char           buf[256];
    const char      *s;

    if (c == NULL || name->len <= prefix || name->len - prefix >= sizeof buf) {
        v->not_found = 1;
        return NGX_OK;
    }
    ngx_memcpy(buf, name->data + prefix, name->len - prefix);
    buf[name->len - prefix] = '\0';
    s = valetkey_claims_get(c, (const char *)buf);
    if (s == NULL)
        s = valetkey_claims_get_json(c, (const char *)buf);
    return ngx_http_valetkey_set(v, s);
}

static ngx_http_variable_t ngx_http_valetkey_vars[] = {
    { ngx_string("valetkey_sub"), NULL, ngx_http_valetkey_variable, VK_VAR_SUB,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },
    { ngx_string("valetkey_client_id"), NULL, ngx_http_valetkey_variable, VK_VAR_CLIENT_ID,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },
    { ngx_string("valetkey_scope"), NULL, ngx_http_valetkey_variable, VK_VAR_SCOPE,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },
    { ngx_string("valetkey_jti"), NULL, ngx_http_valetkey_variable, VK_VAR_JTI,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },
    { ngx_string("valetkey_claim_"), NULL, ngx_http_valetkey_claim_variable, 0,
      NGX_HTTP_VAR_NOCACHEABLE | NGX_HTTP_VAR_PREFIX, 0 },
    ngx_http_null_variable
};

static ngx_int_t ngx_http_valetkey_preconfiguration(ngx_conf_t *cf)
{
    for (ngx_http_variable_t *v = ngx_http_valetkey_vars; v->name.len > 0; v++) {
        ngx_http_variable_t *var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL)
            return NGX_ERROR;
        var->get_handler = v->get_handler;
        var->data = v->data;
    }
    return NGX_OK;
}

static ngx_int_t ngx_http_valetkey_postconfiguration(ngx_conf_t *cf)
{
    ngx_http_core_main_conf_t *cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);
    ngx_http_handler_pt       *h = ngx_array_push(&cmcf->phases[NGX_HTTP_ACCESS_PHASE].handlers);

    if (h == NULL)
        return NGX_ERROR;
    *h = ngx_http_valetkey_handler;
    return NGX_OK;
}
