/* valetkey client add|list|show|remove|rotate-secret (README.md, "Command line"). Prints JSON. */
#include "cli/cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "auth/auth.h"
#include "base/clock.h"
#include "base/file.h"
#include "base/limits.h"
#include "jose/x509.h"
#include "grant/grant.h"
#include "store/store.h"
#include "token/token.h"

static const char usage[] =
    "usage: valetkey client add --name NAME [--public] [--redirect-uri URI]... [--grant TYPE]...\n"
    "                           [--scope \"a b\"] [--resource URI]... [--auth-method METHOD]\n"
    "                           [--access-token-ttl SECONDS] [--first-party] [--introspect]\n"
    "                           [--post-logout-redirect-uri URI]... [--id-token-alg RS256|ES256]\n"
    "                           [--tls-subject-dn DN | --tls-san-dns NAME | --tls-san-uri URI |\n"
    "                            --tls-san-ip ADDRESS | --tls-san-email ADDRESS]\n"
    "                           [--jwks FILE | --self-signed-cert FILE...] [--tls-bound-tokens]\n"
    "                           [--data DIR]\n"
    "       valetkey client list | show ID | remove ID | rotate-secret ID [--data DIR]\n"
    "valetkey client SUBCOMMAND --help describes one subcommand.\n";

static const char help_add[] =
    "usage: valetkey client add --name NAME [options] [--data DIR] [--config FILE]\n"
    "Registers a client and prints it as JSON; a confidential client's secret is printed once.\n"
    "  --name NAME                 the name users see on the consent page (required)\n"
    "  --public                    a public client (browser or native app): no secret, PKCE\n"
    "  --redirect-uri URI          repeatable; https, http only on 127.0.0.1, [::1] or localhost,\n"
    "                              or a reverse-domain private-use scheme (com.example.app:/cb);\n"
    "                              no user information, no fragment. http://127.0.0.1/cb and\n"
    "                              http://[::1]/cb (no port) accept any port at /authorize\n"
    "  --post-logout-redirect-uri URI  repeatable; where /logout may return (same rules)\n"
    "  --grant TYPE                repeatable: client_credentials, authorization_code,\n"
    "                              refresh_token (default: client_credentials, or the code grant\n"
    "                              with refresh tokens for --public or with a --redirect-uri)\n"
    "  --scope \"a b\"               the scopes the client may ask for\n"
    "  --resource URI              repeatable: resource servers its tokens may be for (RFC 8707);\n"
    "                              without it, only the server's default audience\n"
    "  --auth-method METHOD        client_secret_basic (default), client_secret_post, none\n"
    "                              (public), tls_client_auth or self_signed_tls_client_auth\n"
    "                              (RFC 8705: no secret, the TLS client certificate); enforced\n"
    "                              at /token, /introspect and /revoke\n"
    "  --tls-subject-dn DN         tls_client_auth: the certificate's subject (RFC 4514, e.g.\n"
    "                              \"CN=client-a,O=Example\"), issued by a --tls-client-ca CA...\n"
    "  --tls-san-dns NAME          ...or a dNSName, --tls-san-uri URI, --tls-san-ip ADDRESS,\n"
    "                              --tls-san-email ADDRESS of its subjectAltName (exactly one)\n"
    "  --jwks FILE                 self_signed_tls_client_auth: a JWK Set whose keys' x5c hold\n"
    "                              the client's certificates...\n"
    "  --self-signed-cert FILE     ...or the PEM certificates themselves (repeatable)\n"
    "  --tls-bound-tokens          bind the client's tokens to its TLS client certificate\n"
    "                              (RFC 8705 §3; a public client's refresh tokens too)\n"
    "  --introspect                a resource server: may introspect every access token\n"
    "  --access-token-ttl SECONDS  1..86400, instead of the server's default\n"
    "  --first-party               your own application: no consent page\n"
    "  --id-token-alg RS256|ES256  the id_token signature (default RS256)\n";

static const char help_list[] =
    "usage: valetkey client list [--data DIR] [--config FILE]\n"
    "Prints every client as a JSON array (never a secret).\n";

static const char help_show[] =
    "usage: valetkey client show ID [--data DIR] [--config FILE]\n"
    "Prints one client as JSON, with its token_endpoint_auth_method (never its secret).\n";

static const char help_remove[] =
    "usage: valetkey client remove ID [--data DIR] [--config FILE]\n"
    "Removes a client: its secret stops working and its tokens are no longer active, at once.\n";

static const char help_rotate[] =
    "usage: valetkey client rotate-secret ID [--data DIR] [--config FILE]\n"
    "Gives a confidential client a new secret (printed once); the old one stops working.\n";

/* The usage `client [SUB] --help` prints: the subcommand's, or the whole command's. */
static const char *help_for(const char *sub)
{
    static const struct {
        const char *sub;
        const char *text;
    } h[] = {{"add", help_add},
             {"list", help_list},
             {"show", help_show},
             {"remove", help_remove},
             {"rotate-secret", help_rotate}};
    for (size_t i = 0; sub != NULL && i < sizeof h / sizeof h[0]; i++)
        if (strcmp(sub, h[i].sub) == 0)
            return h[i].text;
    return usage;
}

static json_t *split_array(const char *s, char sep)
{
    json_t *a = json_array();
    vk_str rest = vk_str_c(s), t;
    while (a != NULL && vk_str_next_token(&rest, sep, &t))
        json_array_append_new(a, json_stringn(t.p, t.len));
    return a;
}

static json_t *client_json(const struct vk_client *c, const char *secret)
{
    json_t *j = json_object();
    if (j == NULL)
        return NULL;
    json_object_set_new(j, "client_id", json_string(c->id));
    if (secret != NULL)
        json_object_set_new(j, "client_secret", json_string(secret));
    json_object_set_new(j, "client_name", json_string(c->name));
    json_object_set_new(j, "client_type",
                        json_string(vk_client_is_confidential(c) ? "confidential" : "public"));
    json_object_set_new(j, "token_endpoint_auth_method", json_string(c->auth_method));
    json_object_set_new(j, "grant_types", split_array(c->grant_types, ' '));
    json_object_set_new(j, "scope", json_string(c->scope));
    json_object_set_new(j, "redirect_uris", split_array(c->redirect_uris, '\n'));
    json_object_set_new(j, "post_logout_redirect_uris",
                        split_array(c->post_logout_redirect_uris, '\n'));
    json_object_set_new(j, "resources", split_array(c->resources, ' '));
    json_object_set_new(j, "access_token_ttl", json_integer(c->access_token_ttl));
    json_object_set_new(j, "first_party", json_boolean(c->first_party));
    json_object_set_new(j, "introspect", json_boolean(c->introspect));
    json_object_set_new(j, "id_token_signed_response_alg", json_string(c->id_token_alg));
    json_object_set_new(j, "client_id_issued_at", json_integer(c->created_at));
    /* RFC 8705 §2.1.2 and §3.4 metadata, RFC 7591 jwks */
    enum vk_x509_name_kind k = vk_x509_name_kind_from_str(c->tls_auth_kind);
    if (k != VK_X509_NONE) {
        char name[64];
        snprintf(name, sizeof name, "tls_client_auth_%s", vk_x509_name_kind_str(k));
        json_object_set_new(j, name, json_string(c->tls_auth_value));
    }
    if (c->jwks != NULL && c->jwks[0] != '\0') {
        json_error_t je;
        json_t *jw = json_loads(c->jwks, JSON_REJECT_DUPLICATES, &je);
        if (jw != NULL)
            json_object_set_new(j, "jwks", jw);
    }
    json_object_set_new(j, "tls_client_certificate_bound_access_tokens",
                        json_boolean(c->tls_bound_tokens));
    return j;
}

/* Appends `v` to a separator-joined list kept in a fixed buffer. */
static int append(char *buf, size_t n, const char *v, char sep)
{
    size_t len = strlen(buf);
    if (len + strlen(v) + 2 > n)
        return -1;
    if (len > 0)
        buf[len++] = sep;
    memcpy(buf + len, v, strlen(v) + 1);
    return 0;
}

/* Redirect URIs are checked by the same parser /authorize matches with (grant/redirect_uri.c):
 * https, http only on a loopback host, or a reverse-domain private-use scheme; no user
 * information, no fragment. Stored verbatim: the comparison at /authorize is exact. */
static const char *check_redirect_uri(const char *u)
{
    return vk_redirect_uri_check(vk_str_c(u), NULL);
}

/* `client add`'s options, checked before the store is opened (a usage error creates nothing). */
struct add_opts {
    char grants[256], redirects[VK_MAX_REDIRECT_URIS * 2048], logout[4096], resources[4096];
    const char *name, *scope, *method, *id_alg;
    bool is_public, first_party, introspect, bound;
    uint64_t ttl;
    enum vk_x509_name_kind tls_kind; /* tls_client_auth: what the certificate must name */
    char tls_value[2048];
    char *jwks;                      /* self_signed_tls_client_auth: malloc'd JSON */
};

#define MAX_SELF_SIGNED 4

/* A JWK Set file (--jwks), checked for self_signed_tls_client_auth, as compact JSON. */
static int read_jwks(const char *path, char **out)
{
    char *text = NULL;
    size_t n = 0;
    struct vk_err err = {{0}};
    json_error_t je;
    *out = NULL;
    if (vk_file_read(path, VK_MAX_JSON_INPUT, &text, &n, &err) != VK_OK)
        return vk_cli_fail(2, "--jwks: %s", err.msg);
    int rc = vk_x509_jwks_check((vk_str){text, n}, &err);
    json_t *j = rc == VK_OK ? json_loadb(text, n, JSON_REJECT_DUPLICATES, &je) : NULL;
    vk_file_free(text, n);
    if (rc != VK_OK)
        return vk_cli_fail(2, "--jwks %s: %s", path, err.msg);
    *out = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    return *out != NULL ? 0 : vk_cli_fail(1, "out of memory");
}

/* --self-signed-cert files: a JWK Set with one key per certificate (its public key, x5c). */
static int jwks_from_certs(const char *const *paths, size_t n, char **out)
{
    json_t *keys = json_array(), *set = NULL;
    struct vk_err err = {{0}};
    int status = 0;
    *out = NULL;
    for (size_t i = 0; i < n && status == 0; i++) {
        char *pem = NULL;
        size_t len = 0;
        json_t *jwk = NULL;
        if (vk_file_read(paths[i], VK_MAX_PEM_FILE, &pem, &len, &err) != VK_OK ||
            vk_x509_jwk_from_pem((vk_str){pem, len}, &jwk, &err) != VK_OK)
            status = vk_cli_fail(2, "--self-signed-cert %s: %s", paths[i], err.msg);
        else
            json_array_append_new(keys, jwk);
        vk_file_free(pem, len);
    }
    if (status == 0) {
        set = json_pack("{s:o}", "keys", keys);
        keys = NULL;
        *out = set != NULL ? json_dumps(set, JSON_COMPACT) : NULL;
        if (*out == NULL)
            status = vk_cli_fail(1, "out of memory");
    }
    json_decref(keys);
    json_decref(set);
    return status;
}

static int parse_add(int argc, char **argv, struct add_opts *o)
{
    char *grants = o->grants, *redirects = o->redirects, *logout = o->logout,
         *resources = o->resources;
    const char *name = NULL, *scope = "", *method = NULL, *id_alg = "RS256";
    bool is_public = false, first_party = false, introspect = false, bound = false;
    uint64_t ttl = 0;
    size_t n_redirect = 0, n_certs = 0;
    const char *jwks_file = NULL, *certs[MAX_SELF_SIGNED];
    static const struct {
        const char *flag;
        enum vk_x509_name_kind kind;
    } tls_names[] = {{"--tls-subject-dn", VK_X509_SUBJECT_DN},
                     {"--tls-san-dns", VK_X509_SAN_DNS},
                     {"--tls-san-uri", VK_X509_SAN_URI},
                     {"--tls-san-ip", VK_X509_SAN_IP},
                     {"--tls-san-email", VK_X509_SAN_EMAIL}};
    memset(o, 0, sizeof *o);
    for (int i = 2; i < argc; i++) {
        const char *opt = argv[i];
        bool has_val = i + 1 < argc;
        if (strcmp(opt, "--public") == 0) {
            is_public = true;
        } else if (strcmp(opt, "--first-party") == 0) {
            first_party = true;
        } else if (strcmp(opt, "--introspect") == 0) {
            introspect = true;
        } else if (strcmp(opt, "--tls-bound-tokens") == 0) {
            bound = true;
        } else if (!has_val) {
            fputs(usage, stderr);
            return vk_cli_fail(2, "unknown option or missing value: %s", opt);
        } else if (strcmp(opt, "--name") == 0) {
            name = argv[++i];
        } else if (strcmp(opt, "--scope") == 0) {
            scope = argv[++i];
        } else if (strcmp(opt, "--id-token-alg") == 0) {
            id_alg = argv[++i];
            if (strcmp(id_alg, "RS256") != 0 && strcmp(id_alg, "ES256") != 0)
                return vk_cli_fail(2, "--id-token-alg must be RS256 or ES256");
        } else if (strcmp(opt, "--auth-method") == 0) {
            method = argv[++i];
        } else if (strcmp(opt, "--access-token-ttl") == 0) {
            if (vk_parse_u64(vk_str_c(argv[++i]), 1, 86400, &ttl) != VK_OK)
                return vk_cli_fail(2, "--access-token-ttl must be 1..86400 seconds");
        } else if (strcmp(opt, "--grant") == 0) {
            const char *g = argv[++i];
            if (strcmp(g, "client_credentials") != 0 && strcmp(g, "authorization_code") != 0 &&
                strcmp(g, "refresh_token") != 0)
                return vk_cli_fail(2, "unsupported grant '%s' (client_credentials, "
                                      "authorization_code, refresh_token)", g);
            if (!vk_scope_list_contains(vk_str_c(grants), vk_str_c(g)) &&
                append(grants, sizeof o->grants, g, ' ') != 0)
                return vk_cli_fail(2, "too many grants");
        } else if (strcmp(opt, "--redirect-uri") == 0) {
            const char *u = argv[++i], *why = check_redirect_uri(u);
            if (why != NULL)
                return vk_cli_fail(2, "redirect URI '%s' %s", u, why);
            if (++n_redirect > VK_MAX_REDIRECT_URIS ||
                append(redirects, sizeof o->redirects, u, '\n') != 0)
                return vk_cli_fail(2, "too many redirect URIs");
        } else if (strcmp(opt, "--post-logout-redirect-uri") == 0) {
            const char *u = argv[++i], *why = check_redirect_uri(u);
            if (why != NULL)
                return vk_cli_fail(2, "post-logout redirect URI '%s' %s", u, why);
            if (append(logout, sizeof o->logout, u, '\n') != 0)
                return vk_cli_fail(2, "too many post-logout redirect URIs");
        } else if (strcmp(opt, "--jwks") == 0) {
            if (jwks_file != NULL)
                return vk_cli_fail(2, "--jwks is given once");
            jwks_file = argv[++i];
        } else if (strcmp(opt, "--self-signed-cert") == 0) {
            if (n_certs == MAX_SELF_SIGNED)
                return vk_cli_fail(2, "at most %d --self-signed-cert", MAX_SELF_SIGNED);
            certs[n_certs++] = argv[++i];
        } else if (strncmp(opt, "--tls-s", 7) == 0) {
            size_t k = 0;
            while (k < sizeof tls_names / sizeof tls_names[0] && strcmp(opt, tls_names[k].flag) != 0)
                k++;
            if (k == sizeof tls_names / sizeof tls_names[0]) {
                fputs(usage, stderr);
                return vk_cli_fail(2, "unknown option '%s'", opt);
            }
            /* RFC 8705 §2.1.2: a client uses exactly one of these. */
            if (o->tls_kind != VK_X509_NONE)
                return vk_cli_fail(2, "give one of --tls-subject-dn, --tls-san-dns, "
                                      "--tls-san-uri, --tls-san-ip, --tls-san-email");
            struct vk_err err = {{0}};
            if (vk_x509_name_normalize(tls_names[k].kind, argv[++i], o->tls_value,
                                       sizeof o->tls_value, &err) != VK_OK)
                return vk_cli_fail(2, "%s: %s", opt, err.msg);
            o->tls_kind = tls_names[k].kind;
        } else if (strcmp(opt, "--resource") == 0) {
            const char *u = argv[++i];
            if (!vk_resource_syntax_ok(vk_str_c(u)))
                return vk_cli_fail(2, "resource must be an absolute URI without a fragment");
            if (append(resources, sizeof o->resources, u, ' ') != 0)
                return vk_cli_fail(2, "too many resources");
        } else {
            fputs(usage, stderr);
            return vk_cli_fail(2, "unknown option '%s'", opt);
        }
    }
    if (name == NULL || name[0] == '\0' || strlen(name) > 200)
        return vk_cli_fail(2, "--name is required (at most 200 characters)");
    if (scope[0] != '\0' && !vk_scope_syntax_ok(vk_str_c(scope)))
        return vk_cli_fail(2, "--scope must be space-separated scope tokens (RFC 6749 §3.3)");
    if (grants[0] == '\0')
        snprintf(grants, sizeof o->grants, "%s",
                 (is_public || redirects[0] != '\0') ? "authorization_code refresh_token"
                                                     : "client_credentials");
    if (method == NULL)
        method = is_public ? "none" : "client_secret_basic";
    bool tls_auth = strcmp(method, VK_AUTH_TLS_CLIENT) == 0;
    bool self_signed = strcmp(method, VK_AUTH_SELF_SIGNED) == 0;
    if (strcmp(method, "none") == 0)
        is_public = true;
    else if (strcmp(method, "client_secret_basic") != 0 &&
             strcmp(method, "client_secret_post") != 0 && !tls_auth && !self_signed)
        return vk_cli_fail(2, "--auth-method must be client_secret_basic, client_secret_post, "
                              "none, tls_client_auth or self_signed_tls_client_auth");
    if (tls_auth != (o->tls_kind != VK_X509_NONE))
        return vk_cli_fail(2, "tls_client_auth needs exactly one of --tls-subject-dn, "
                              "--tls-san-dns, --tls-san-uri, --tls-san-ip, --tls-san-email, and "
                              "they are for tls_client_auth only");
    if (self_signed != (jwks_file != NULL || n_certs > 0) || (jwks_file != NULL && n_certs > 0))
        return vk_cli_fail(2, "self_signed_tls_client_auth needs its certificates: --jwks FILE "
                              "or --self-signed-cert FILE (and they are for that method only)");
    if (is_public && strcmp(method, "none") != 0)
        return vk_cli_fail(2, "a public client has no secret: its auth method is none");
    /* RFC 7662 §2.1: the introspection endpoint requires client authentication. */
    if (is_public && introspect)
        return vk_cli_fail(2, "--introspect needs a confidential client (a resource server "
                              "authenticates to /introspect)");
    /* OAuth 2.1 §4.2: client credentials only for confidential clients. */
    if (is_public && vk_scope_list_contains(vk_str_c(grants), VK_STR("client_credentials")))
        return vk_cli_fail(2, "a public client cannot use client_credentials");
    if (vk_scope_list_contains(vk_str_c(grants), VK_STR("authorization_code")) &&
        redirects[0] == '\0')
        return vk_cli_fail(2, "the authorization_code grant needs at least one --redirect-uri");
    o->name = name;
    o->scope = scope;
    o->method = method;
    o->id_alg = id_alg;
    o->is_public = is_public;
    o->first_party = first_party;
    o->introspect = introspect;
    o->bound = bound;
    o->ttl = ttl;
    if (jwks_file != NULL)
        return read_jwks(jwks_file, &o->jwks);
    if (n_certs > 0)
        return jwks_from_certs(certs, n_certs, &o->jwks);
    return 0;
}

static int cmd_add(struct vk_store *st, const struct add_opts *o)
{
    char id[64], secret[96];
    uint8_t raw[16];
    if (vk_rand(raw, sizeof raw) != VK_OK || vk_rand_token(VK_PREFIX_CLIENT_ID, 16, id,
                                                           sizeof id) != VK_OK)
        return vk_cli_fail(1, "no randomness");
    struct vk_client c = {
        .id = id,
        .name = o->name,
        .auth_method = o->method,
        .grant_types = o->grants,
        .scope = o->scope,
        .redirect_uris = o->redirects,
        .post_logout_redirect_uris = o->logout,
        .resources = o->resources,
        .access_token_ttl = (int64_t)o->ttl,
        .first_party = o->first_party,
        .introspect = o->introspect,
        .created_at = vk_now(),
        .id_token_alg = o->id_alg,
        .jwks = o->jwks != NULL ? o->jwks : "",
        .tls_auth_kind = vk_x509_name_kind_str(o->tls_kind),
        .tls_auth_value = o->tls_value,
        .tls_bound_tokens = o->bound,
    };
    /* A confidential client gets a secret unless a certificate is its credential (RFC 8705). */
    if (!o->is_public && !vk_client_is_mtls(&c)) {
        if (vk_secret_new(VK_PREFIX_CLIENT_SECRET, secret, sizeof secret, c.secret_digest) !=
            VK_OK)
            return vk_cli_fail(1, "no randomness");
        c.has_secret = true;
    }
    struct vk_err err = {{0}};
    if (vk_store_client_put(st, &c, &err) != VK_OK)
        return vk_cli_fail(1, "%s", err.msg);
    /* The secret is shown exactly once, here; the store keeps only its SHA-256. */
    vk_cli_print_json(client_json(&c, c.has_secret ? secret : NULL));
    vk_wipe(secret, sizeof secret);
    return 0;
}

int vk_cmd_client(int argc, char **argv)
{
    struct vk_config cfg;
    struct vk_store *st = NULL;
    struct vk_err err = {{0}};
    struct vk_arena a;
    int status = 1;
    static struct add_opts add; /* 48 KiB of URI buffers: not on the stack */
    if (vk_cli_wants_help(argc, argv)) {
        fputs(help_for(argc > 1 && argv[1][0] != '-' ? argv[1] : NULL), stdout);
        return 0;
    }
    if (vk_cli_common(&cfg, &argc, argv) != 0)
        return 2;
    if (argc < 2) {
        fputs(usage, stderr);
        return 2;
    }
    const char *sub = argv[1];
    bool needs_id = strcmp(sub, "show") == 0 || strcmp(sub, "remove") == 0 ||
                    strcmp(sub, "rotate-secret") == 0;
    if (needs_id && argc != 3) {
        fputs(usage, stderr);
        return vk_cli_fail(2, "client %s needs exactly one client id", sub);
    }
    if (!needs_id && strcmp(sub, "add") != 0 && strcmp(sub, "list") != 0) {
        fputs(usage, stderr);
        return vk_cli_fail(2, "unknown client command '%s'", sub);
    }
    if (strcmp(sub, "list") == 0 && argc != 2)
        return vk_cli_fail(2, "client list takes no arguments");
    /* Every argument is checked before the store is opened (and the data directory created). */
    if (strcmp(sub, "add") == 0 && parse_add(argc, argv, &add) != 0)
        return 2;
    if (vk_store_open(cfg.data, &st, &err) != VK_OK)
        return vk_cli_fail(1, "%s", err.msg);
    vk_arena_init(&a, 64 * 1024 * 1024);
    if (strcmp(sub, "add") == 0) {
        status = cmd_add(st, &add);
    } else if (strcmp(sub, "list") == 0) {
        struct vk_client_list cl;
        if (vk_store_client_list(st, &a, &cl) != VK_OK) {
            status = vk_cli_fail(1, "cannot read clients");
        } else {
            json_t *arr = json_array();
            for (size_t i = 0; arr != NULL && i < cl.n; i++)
                json_array_append_new(arr, client_json(&cl.v[i], NULL));
            vk_cli_print_json(arr);
            status = 0;
        }
    } else {
        vk_str id = vk_str_c(argv[2]);
        struct vk_client c;
        int rc = vk_store_client_get(st, &a, id, &c);
        if (rc == VK_ENOTFOUND) {
            status = vk_cli_fail(1, "no client with that id");
        } else if (rc != VK_OK) {
            status = vk_cli_fail(1, "cannot read the client: %s", vk_strerror(rc));
        } else if (strcmp(sub, "show") == 0) {
            vk_cli_print_json(client_json(&c, NULL));
            status = 0;
        } else if (strcmp(sub, "remove") == 0) {
            rc = vk_store_client_delete(st, id);
            if (rc != VK_OK) {
                status = vk_cli_fail(1, "cannot remove the client: %s", vk_strerror(rc));
            } else {
                json_t *j = json_object();
                json_object_set_new(j, "client_id", json_string(c.id));
                json_object_set_new(j, "removed", json_true());
                vk_cli_print_json(j);
                status = 0;
            }
        } else if (!c.has_secret) {
            status = vk_cli_fail(1, vk_client_is_mtls(&c)
                                        ? "the client authenticates by certificate: no secret to "
                                          "rotate"
                                        : "a public client has no secret to rotate");
        } else {
            char secret[96];
            uint8_t digest[VK_DIGEST_LEN];
            if (vk_secret_new(VK_PREFIX_CLIENT_SECRET, secret, sizeof secret, digest) != VK_OK ||
                vk_store_client_set_secret(st, id, digest) != VK_OK) {
                status = vk_cli_fail(1, "cannot rotate the secret");
            } else {
                json_t *j = json_object();
                json_object_set_new(j, "client_id", json_string(c.id));
                json_object_set_new(j, "client_secret", json_string(secret));
                vk_cli_print_json(j);
                status = 0;
            }
            vk_wipe(secret, sizeof secret);
        }
    }
    vk_arena_clear(&a);
    vk_store_close(st);
    free(add.jwks);
    add.jwks = NULL;
    return status;
}
