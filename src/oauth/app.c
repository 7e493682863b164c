/* Assembles the server's shared state (struct vk_app) from a configuration and an open store,
 * and takes it apart again. cli/serve.c and the handler unit tests both build the app here, so
 * a test drives exactly the wiring the server runs. */
#include "oauth/app.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int vk_app_init(struct vk_app *app, const struct vk_config *cfg, struct vk_store *st,
                const char *issuer, int64_t now, struct vk_err *err)
{
    memset(app, 0, sizeof *app);
    app->cfg = cfg;
    app->st = st;
    app->router = &vk_oauth_router;
    app->metrics.started_at = now;
    if (vk_strscpy(app->issuer_buf, sizeof app->issuer_buf, vk_str_c(issuer)) != VK_OK)
        return vk_err_set(err, VK_EINVAL, "the issuer is too long");
    app->issuer = app->issuer_buf;
    int rc = vk_keyring_open(st, cfg->access_token_ttl, now, true, &app->keys, err);
    if (rc != VK_OK)
        goto fail;
    if (vk_auth_limiter_new(&cfg->client_limit, &app->limiter) != VK_OK ||
        vk_auth_limiter_new(&cfg->login_limit, &app->login_limiter) != VK_OK ||
        vk_auth_limiter_new(&cfg->addr_limit, &app->addr_limiter) != VK_OK) {
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
    rc = st->ops->secret_get_or_create(st, "csrf", app->csrf_key);
    if (rc != VK_OK) {
        vk_err_set(err, rc, "cannot read the CSRF key from the store");
        goto fail;
    }
    /* RFC 6265bis §4.1.3.2: the __Host- prefix pins the cookie to this host, https only. */
    app->cookie_secure = strncmp(app->issuer, "https://", 8) == 0;
    app->session_cookie = app->cookie_secure ? "__Host-vk_session" : "vk_session";
    app->csrf_cookie = app->cookie_secure ? "__Host-vk_csrf" : "vk_csrf";
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    if (sem_init(&app->password_slots, 0, ncpu > 0 ? (unsigned)ncpu : 1) != 0) {
        rc = vk_err_set(err, VK_EIO, "cannot create the password semaphore");
        goto fail;
    }
    app->password_slots_ready = true;
    return VK_OK;
fail:
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
    if (app->password_slots_ready)
        sem_destroy(&app->password_slots);
    vk_auth_limiter_free(app->limiter);
    vk_auth_limiter_free(app->login_limiter);
    vk_auth_limiter_free(app->addr_limiter);
    vk_client_cache_free(app->clients);
    vk_keyring_free(app->keys);
    memset(app, 0, sizeof *app);
}
