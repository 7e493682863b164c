/* Assembles the server's shared state (struct vk_app) from a configuration and an open store,
 * and takes it apart again. cli/serve.c and the handler unit tests both build the app here, so
 * a test drives exactly the wiring the server runs. */
#include "oauth/app.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/file.h"

int vk_app_init(struct vk_app *app, const struct vk_config *cfg, struct vk_store *st,
                const char *issuer, int64_t now, struct vk_err *err)
{
    struct vk_kek kek = {{0}, {0}};
    memset(app, 0, sizeof *app);
    app->cfg = cfg;
    app->st = st;
    app->router = &vk_oauth_router;
    app->metrics.started_at = now;
    if (vk_strscpy(app->issuer_buf, sizeof app->issuer_buf, vk_str_c(issuer)) != VK_OK)
        return vk_err_set(err, VK_EINVAL, "the issuer is too long");
    app->issuer = app->issuer_buf;
    /* The master key (docs/security.md, "Keys at rest"): the keyring keeps its own copy; this
     * one is wiped before returning. */
    bool have_kek = cfg->master_key_file[0] != '\0';
    int rc = have_kek ? vk_kek_load_file(cfg->master_key_file, &kek, err) : VK_OK;
    if (rc != VK_OK)
        goto fail;
    /* A retired key stays published as long as any token it signed lives: access tokens and
     * id_tokens (either can be signed by either key, per the client's id_token alg). */
    int64_t longest = cfg->access_token_ttl > cfg->id_token_ttl ? cfg->access_token_ttl
                                                                : cfg->id_token_ttl;
    rc = vk_keyring_open(st, have_kek ? &kek : NULL, longest, now, true, &app->keys, err);
    if (rc != VK_OK)
        goto fail;
    /* Per-key tables keep their pinned entries (the caller charges the network instead); the
     * per-network tables, the last resort, evict the least recently hit one (auth/limiter.c). */
    struct vk_login_limits *ll = &app->login_limits;
    const struct {
        const struct vk_limit_policy *p;
        enum vk_limiter_full full;
        struct vk_auth_limiter **out;
    } limiters[] = {
        {&cfg->client_limit, VK_LIMITER_KEEP_PINNED, &app->client_limits.per_client},
        {&cfg->client_addr_limit, VK_LIMITER_EVICT_OLDEST, &app->client_limits.per_addr},
        {&cfg->login_limit, VK_LIMITER_KEEP_PINNED, &ll->account},
        {&cfg->login_pair_limit, VK_LIMITER_KEEP_PINNED, &ll->pair},
        {&cfg->login_addr_limit, VK_LIMITER_EVICT_OLDEST, &ll->addr},
        {&cfg->device_limit, VK_LIMITER_KEEP_PINNED, &ll->device},
        {&cfg->login_ok_limit, VK_LIMITER_EVICT_OLDEST, &ll->ok},
        {&cfg->login_ok_addr_limit, VK_LIMITER_EVICT_OLDEST, &ll->ok_addr},
    };
    for (size_t i = 0; i < sizeof limiters / sizeof limiters[0]; i++) {
        rc = vk_auth_limiter_new(limiters[i].p, limiters[i].full, limiters[i].out);
        if (rc != VK_OK) {
            vk_err_set(err, rc, "cannot create the attempt limiters");
            goto fail;
        }
    }
    /* RFC 8705: certificates reach the server when it asks for them in its own handshakes, or
     * from the proxy that terminates TLS. */
    app->client_certs = (cfg->tls_cert[0] != '\0' &&
                         (cfg->tls_request_client_cert || cfg->tls_client_ca[0] != '\0' ||
                          cfg->mtls_listen[0] != '\0')) ||
                        cfg->client_cert_header[0] != '\0';
    if (cfg->tls_client_ca[0] != '\0') {
        size_t n = 0;
        rc = vk_file_read(cfg->tls_client_ca, VK_MAX_PEM_FILE, &app->client_ca_pem, &n, err);
        if (rc == VK_OK) {
            rc = vk_x509_ca_load((vk_str){app->client_ca_pem, n}, &app->client_ca, err);
            if (rc != VK_OK) {
                struct vk_err why = *err;
                vk_err_set(err, rc, "%s: %s", cfg->tls_client_ca, why.msg);
            }
        }
        if (rc != VK_OK)
            goto fail;
    }
    app->cert_auth.ca = app->client_ca;
    /* 1024 verdicts (160 KiB): clients times the certificates each uses at a time. */
    if (app->client_certs && vk_cert_memo_new(1024, &app->cert_auth.memo) != VK_OK) {
        rc = vk_err_set(err, VK_ENOMEM, "out of memory");
        goto fail;
    }
    rc = vk_client_cache_new(st, &app->clients);
    if (rc != VK_OK) {
        vk_err_set(err, rc, "cannot read clients from the store");
        goto fail;
    }
    rc = vk_discovery_build(app);
    if (rc != VK_OK) {
        vk_err_set(err, rc, "cannot build the discovery documents");
        goto fail;
    }
    rc = vk_store_secret_get_or_create(st, "csrf", app->csrf_key);
    if (rc != VK_OK) {
        vk_err_set(err, rc, "cannot read the CSRF key from the store");
        goto fail;
    }
    rc = vk_store_secret_get_or_create(st, "device", app->device_key);
    if (rc != VK_OK) {
        vk_err_set(err, rc, "cannot read the device-cookie key from the store");
        goto fail;
    }
    /* With a master key, the stored values are only inputs: the CSRF and device-cookie keys are
     * derived from them and the master key, so a copy of the database lets nobody mint CSRF
     * tokens or device cookies (which lift login lockouts). Every node shares both, so all
     * derive the same keys. */
    if (have_kek) {
        uint8_t stored[VK_DIGEST_LEN];
        memcpy(stored, app->csrf_key, sizeof stored);
        vk_kek_derive(&kek, "valetkey/csrf/v1", stored, sizeof stored, app->csrf_key);
        memcpy(stored, app->device_key, sizeof stored);
        vk_kek_derive(&kek, "valetkey/device-cookie/v1", stored, sizeof stored, app->device_key);
        vk_wipe(stored, sizeof stored);
    }
    /* RFC 6265bis §4.1.3.2: the __Host- prefix pins the cookie to this host, https only. */
    app->cookie_secure = strncmp(app->issuer, "https://", 8) == 0;
    app->session_cookie = app->cookie_secure ? "__Host-vk_session" : "vk_session";
    app->csrf_cookie = app->cookie_secure ? "__Host-vk_csrf" : "vk_csrf";
    app->device_cookie = app->cookie_secure ? "__Host-vk_device" : "vk_device";
    vk_kek_clear(&kek);
    return VK_OK;
fail:
    vk_kek_clear(&kek);
    vk_app_clear(app);
    return rc;
}

void vk_app_clear(struct vk_app *app)
{
    if (app == NULL)
        return;
    free(app->discovery_json);
    free(app->oidc_json);
    vk_wipe(app->csrf_key, sizeof app->csrf_key);
    vk_wipe(app->device_key, sizeof app->device_key);
    vk_auth_limiter_free(app->client_limits.per_client);
    vk_auth_limiter_free(app->client_limits.per_addr);
    vk_auth_limiter_free(app->login_limits.account);
    vk_auth_limiter_free(app->login_limits.pair);
    vk_auth_limiter_free(app->login_limits.addr);
    vk_auth_limiter_free(app->login_limits.device);
    vk_auth_limiter_free(app->login_limits.ok);
    vk_auth_limiter_free(app->login_limits.ok_addr);
    vk_client_cache_free(app->clients);
    vk_keyring_free(app->keys);
    vk_x509_ca_free(app->client_ca);
    vk_cert_memo_free(app->cert_auth.memo);
    free(app->client_ca_pem);
    memset(app, 0, sizeof *app);
}
