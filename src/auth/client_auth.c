#include "auth/auth.h"

#include <stdio.h>
#include <string.h>

#include "base/limits.h"
#include "base/log.h"

bool vk_client_id_syntax_ok(vk_str id)
{
    return id.len > 0 && id.len <= VK_MAX_ID_LEN && vk_str_is_visible_ascii(id, false);
}

static int fail(struct vk_oauth_err *oe, const struct vk_client_creds *cr, const char *desc)
{
    oe->www_auth = cr->method == VK_CLIENT_AUTH_BASIC;
    return vk_oauth_fail(oe, 401, "invalid_client", desc);
}

/* Checks credentials against one client record: true when they match. This is the one place that
 * decides whether a client's credentials are good, so every rule about them (the method the
 * client registered, too) belongs here: a mismatch then gets the same answer and the same
 * counting as a wrong secret. */
static bool creds_match(const struct vk_client_creds *cr, const struct vk_client *c,
                        bool allow_public, const struct vk_cert_auth *ca, int64_t now,
                        struct vk_err *why)
{
    /* RFC 8705 §2: client_id alone in the request, the certificate of the connection as the
     * credential. A secret (or Basic) sent by such a client is a second method: refused. */
    if (vk_client_is_mtls(c))
        return cr->method == VK_CLIENT_AUTH_PUBLIC &&
               vk_client_cert_check(c, ca, cr->cert, now, why) == VK_OK;
    if (!c->has_secret) /* a public client has no secret to present (OAuth 2.1 §2.4, "none") */
        return cr->method == VK_CLIENT_AUTH_PUBLIC && allow_public;
    if (cr->method == VK_CLIENT_AUTH_PUBLIC)
        return false;
    uint8_t d[VK_DIGEST_LEN];
    vk_sha256(cr->secret.p, cr->secret.len, d);
    return vk_ct_eq_digest(d, c->secret_digest);
}

/* Charges one failure from `net` against client `cid` (an existing confidential client): per
 * client and network, and per network. When the per-client table cannot record it (its window
 * is full of entries that are limiting), the network is charged in full instead, never the
 * client: failures of one key must not refuse another. */
static void count_failure(const struct vk_client_auth_limits *lim, vk_str ckey, vk_str akey,
                          bool known, int64_t now)
{
    if (lim == NULL)
        return;
    if (known && !vk_auth_limiter_hit(lim->per_client, ckey, now))
        vk_auth_limiter_penalize(lim->per_addr, akey, now);
    else
        vk_auth_limiter_hit(lim->per_addr, akey, now);
}

int vk_client_authenticate(struct vk_client_cache *cc, const struct vk_client_auth_limits *lim,
                           const struct vk_cert_auth *ca, struct vk_arena *a,
                           const struct vk_client_creds *cr, bool allow_public, const char *peer,
                           int64_t now, struct vk_client *out, struct vk_oauth_err *oe)
{
    struct vk_err why = {{0}};
    static const uint8_t dummy[VK_DIGEST_LEN];
    memset(out, 0, sizeof *out);
    if (cr->method == VK_CLIENT_AUTH_NONE)
        return fail(oe, cr, "client authentication is required");
    /* Failures count per client id AND source network (client ids are public: a count per id
     * alone would let anyone lock a client out), and per source network across all client ids
     * (so one address cannot grind many ids). */
    char net[VK_ADDR_NET_LEN], keybuf[VK_MAX_ID_LEN + VK_ADDR_NET_LEN + 2];
    vk_auth_addr_net(peer, net, sizeof net);
    vk_str akey = vk_str_c(net), ckey = VK_STR_NULL;
    bool syntax_ok = vk_client_id_syntax_ok(cr->client_id);
    if (syntax_ok) {
        int kn = snprintf(keybuf, sizeof keybuf, "%.*s|%s", (int)cr->client_id.len,
                          cr->client_id.p, net);
        ckey = (vk_str){keybuf, kn > 0 && (size_t)kn < sizeof keybuf ? (size_t)kn : 0};
    }
    int64_t wait = vk_auth_limiter_wait(lim != NULL ? lim->per_addr : NULL, akey, now);
    if (wait == 0 && syntax_ok)
        wait = vk_auth_limiter_wait(lim != NULL ? lim->per_client : NULL, ckey, now);
    if (wait > 0)
        return fail(oe, cr, "too many failed attempts; try again later");
    if (!syntax_ok) {
        if (cr->method != VK_CLIENT_AUTH_PUBLIC)
            count_failure(lim, ckey, akey, false, now);
        return fail(oe, cr, "client authentication failed");
    }
    int rc = vk_client_cache_get(cc, a, cr->client_id, now, false, out);
    if (rc == VK_OK && creds_match(cr, out, allow_public, ca, now, &why))
        return VK_OK;
    if (rc == VK_OK || rc == VK_ENOTFOUND) /* maybe stale: ask the store itself */
        rc = vk_client_cache_get(cc, a, cr->client_id, now, true, out);
    if (rc == VK_OK && creds_match(cr, out, allow_public, ca, now, &why))
        return VK_OK;
    if (rc != VK_OK && rc != VK_ENOTFOUND)
        return rc;
    if (rc == VK_ENOTFOUND) {
        /* Same work and the same answer as a wrong secret: no oracle for valid client ids. An
         * unknown id is counted against the source network only: it takes no table space, so
         * made-up ids cannot crowd out real clients' entries. */
        uint8_t d[VK_DIGEST_LEN];
        vk_sha256(cr->secret.p, cr->secret.len, d);
        (void)vk_ct_eq_digest(d, dummy);
        if (cr->method != VK_CLIENT_AUTH_PUBLIC)
            count_failure(lim, ckey, akey, false, now);
    } else if (vk_client_is_mtls(out)) {
        /* Nothing to guess, so nothing counted; the operator learns why (a certificate that
         * expired or was reissued under another name is the usual cause). */
        char m[sizeof why.msg * 4], fp[VK_X5T_LEN + 1] = "-";
        if (cr->cert != NULL && cr->cert->der.len > 0)
            vk_x509_thumbprint(cr->cert->der, fp);
        vk_log_info("event=client.cert_refused client=%s method=%s x5t=%s reason=%s", out->id,
                    out->auth_method, fp,
                    vk_log_escape(vk_str_c(why.msg[0] != '\0' ? why.msg : "credentials of another "
                                                                         "method"),
                                  m, sizeof m));
    } else if (out->has_secret) {
        count_failure(lim, ckey, akey, true, now);
    }
    /* A public client has no secret to guess: a malformed attempt is refused, not counted. */
    memset(out, 0, sizeof *out);
    return fail(oe, cr, "client authentication failed");
}
