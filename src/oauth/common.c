#include "oauth/app.h"

#include <string.h>

#include "base/ip.h"
#include "base/log.h"
#include "base/pem.h"
#include "http/form.h"
#include "http/headers.h"

int vk_oauth_read_form(const struct vk_request *rq, const char *const *allowed_repeat,
                       struct vk_params *ps, struct vk_oauth_err *oe)
{
    vk_str ct, dup;
    ps->v = NULL;
    ps->n = 0;
    if (!vk_request_header(rq, "content-type", &ct))
        return vk_oauth_fail(oe, 400, "invalid_request",
                             "Content-Type must be application/x-www-form-urlencoded");
    /* media type, optionally followed by parameters such as charset */
    const char *semi = memchr(ct.p, ';', ct.len);
    vk_str mt = {ct.p, semi != NULL ? (size_t)(semi - ct.p) : ct.len};
    while (mt.len > 0 && (mt.p[mt.len - 1] == ' ' || mt.p[mt.len - 1] == '\t'))
        mt.len--;
    if (!vk_str_eq_nocase_lit(mt, "application/x-www-form-urlencoded"))
        return vk_oauth_fail(oe, 400, "invalid_request",
                             "Content-Type must be application/x-www-form-urlencoded");
    int rc = vk_form_parse(rq->arena, rq->body, ps);
    if (rc == VK_ENOMEM)
        return rc;
    if (rc == VK_ETOOBIG)
        return vk_oauth_fail(oe, 400, "invalid_request", "too many or too long parameters");
    if (rc != VK_OK)
        return vk_oauth_fail(oe, 400, "invalid_request", "malformed form encoding");
    if (vk_params_find_repeat(ps, allowed_repeat, &dup))
        return vk_oauth_fail(oe, 400, "invalid_request", "a parameter is repeated");
    return VK_OK;
}

int vk_oauth_client_creds(const struct vk_request *rq, const struct vk_params *ps,
                          struct vk_client_creds *cr, struct vk_oauth_err *oe)
{
    vk_str authz, form_id, form_secret;
    memset(cr, 0, sizeof *cr);
    vk_params_get(ps, "client_id", &form_id);
    vk_params_get(ps, "client_secret", &form_secret);
    if (vk_request_header_count(rq, "authorization") > 1)
        return vk_oauth_fail(oe, 400, "invalid_request", "repeated Authorization header");
    if (vk_request_header(rq, "authorization", &authz)) {
        vk_str user, pass;
        int rc = vk_http_basic_parse(rq->arena, authz, &user, &pass);
        if (rc == VK_ENOMEM)
            return rc;
        if (rc != VK_OK) {
            oe->www_auth = 1;
            return vk_oauth_fail(oe, 401, "invalid_client",
                                 "the Authorization header must use the Basic scheme correctly");
        }
        /* OAuth 2.1 §2.4: one authentication method per request. */
        if (form_secret.len > 0)
            return vk_oauth_fail(oe, 400, "invalid_request",
                                 "use one client authentication method, not two");
        if (form_id.len > 0 && !vk_str_eq(form_id, user))
            return vk_oauth_fail(oe, 400, "invalid_request",
                                 "client_id does not match the authenticated client");
        cr->method = VK_CLIENT_AUTH_BASIC;
        cr->client_id = user;
        cr->secret = (struct vk_secret){pass.p, pass.len};
        return VK_OK;
    }
    if (form_secret.len > 0) {
        if (form_id.len == 0)
            return vk_oauth_fail(oe, 401, "invalid_client", "client_id is required");
        cr->method = VK_CLIENT_AUTH_POST;
        cr->client_id = form_id;
        cr->secret = (struct vk_secret){form_secret.p, form_secret.len};
        return VK_OK;
    }
    if (form_id.len > 0) {
        cr->method = VK_CLIENT_AUTH_PUBLIC;
        cr->client_id = form_id;
    }
    return VK_OK;
}

bool vk_oauth_from_trusted_proxy(const struct vk_app *app, const struct vk_request *rq)
{
    /* Compared as addresses, not strings: on a dual-stack listener an IPv4 proxy's connections
     * arrive as ::ffff:a.b.c.d (vk_ip_parse maps those to IPv4). */
    struct vk_ip peer, proxy;
    return app->cfg->trusted_proxy[0] != '\0' &&
           vk_ip_parse(vk_str_c(app->cfg->trusted_proxy), &proxy) == VK_OK &&
           vk_ip_parse(vk_str_c(rq->peer), &peer) == VK_OK && vk_ip_eq(&peer, &proxy);
}

/* The value of the last X-Forwarded-For field line. A list-valued field may be split over several
 * lines, in order (RFC 9110 §5.3), and proxies differ in how they add their entry: nginx and
 * Envoy append it to the client's line, HAProxy adds a line of its own. Either way the proxy's
 * entry is the last one of the last line; a line the client sent never comes after it. */
static bool last_forwarded_line(const struct vk_request *rq, vk_str *v)
{
    bool found = false;
    for (size_t i = 0; i < rq->n_headers; i++) {
        if (vk_str_eq_nocase_lit(rq->headers[i].name, "x-forwarded-for")) {
            *v = rq->headers[i].value;
            found = true;
        }
    }
    return found;
}

static bool port_ok(vk_str p)
{
    if (p.len == 0 || p.len > 5)
        return false;
    for (size_t i = 0; i < p.len; i++)
        if (p.p[i] < '0' || p.p[i] > '9')
            return false;
    return true;
}

/* The address in one X-Forwarded-For entry: an IP address, optionally with a port as some proxies
 * write it ("192.0.2.7:51234", "[2001:db8::7]:51234"). The port is dropped: a limit keyed by it
 * would give every new connection of one host a fresh budget. VK_STR_NULL when it is not one. */
static vk_str forwarded_address(vk_str e)
{
    struct vk_ip ip;
    vk_str a = e, port = VK_STR_NULL;
    bool has_port = false;
    const char *colon = e.len > 0 ? memchr(e.p, ':', e.len) : NULL;
    if (e.len > 0 && e.p[0] == '[') {
        const char *close = memchr(e.p, ']', e.len);
        if (close == NULL)
            return VK_STR_NULL;
        a = (vk_str){e.p + 1, (size_t)(close - e.p) - 1};
        vk_str rest = {close + 1, e.len - (size_t)(close + 1 - e.p)};
        if (rest.len > 0) {
            if (rest.p[0] != ':')
                return VK_STR_NULL;
            has_port = true;
            port = (vk_str){rest.p + 1, rest.len - 1};
        }
    } else if (colon != NULL && memchr(colon + 1, ':', e.len - (size_t)(colon + 1 - e.p)) == NULL) {
        /* one colon: an IPv4 address and a port (an IPv6 address has at least two) */
        a = (vk_str){e.p, (size_t)(colon - e.p)};
        has_port = true;
        port = (vk_str){colon + 1, e.len - (size_t)(colon + 1 - e.p)};
    }
    if (has_port && !port_ok(port))
        return VK_STR_NULL;
    return vk_ip_parse(a, &ip) == VK_OK ? a : VK_STR_NULL;
}

const char *vk_oauth_peer(const struct vk_app *app, const struct vk_request *rq)
{
    vk_str xff;
    if (!vk_oauth_from_trusted_proxy(app, rq) || !last_forwarded_line(rq, &xff))
        return rq->peer;
    /* The rightmost entry is the one our proxy added; anything left of it came from the client. */
    const char *comma = NULL;
    for (size_t i = 0; i < xff.len; i++)
        if (xff.p[i] == ',')
            comma = xff.p + i;
    vk_str last = comma != NULL ? (vk_str){comma + 1, xff.len - (size_t)(comma + 1 - xff.p)} : xff;
    while (last.len > 0 && (last.p[0] == ' ' || last.p[0] == '\t')) {
        last.p++;
        last.len--;
    }
    while (last.len > 0 && (last.p[last.len - 1] == ' ' || last.p[last.len - 1] == '\t'))
        last.len--;
    vk_str addr = forwarded_address(last);
    if (addr.len == 0)
        return rq->peer; /* not an address: ignore the header */
    char *a = vk_arena_strdup(rq->arena, addr);
    return a != NULL ? a : rq->peer;
}

const char *vk_oauth_default_audience(const struct vk_app *app)
{
    return app->cfg->audience[0] != '\0' ? app->cfg->audience : app->issuer;
}

int vk_oauth_client_cert(const struct vk_app *app, const struct vk_request *rq,
                         struct vk_client_cert *out, struct vk_oauth_err *oe)
{
    const char *hdr = app->cfg->client_cert_header;
    memset(out, 0, sizeof *out);
    if (hdr[0] != '\0' && vk_oauth_from_trusted_proxy(app, rq)) {
        /* RFC 9700 §4.13: believed only from the proxy, which must overwrite it on every
         * request (docs/security.md shows the nginx configuration). A repeated header means the
         * proxy passed one through from its client: refused rather than guessed at. */
        vk_str v;
        if (vk_request_header_count(rq, hdr) > 1)
            return vk_oauth_fail(oe, 400, "invalid_request",
                                 "repeated client certificate header");
        if (!vk_request_header(rq, hdr, &v) || v.len == 0)
            return VK_OK; /* the proxy's client presented none */
        int rc = vk_pem_cert_from_header(rq->arena, v, &out->der);
        if (rc == VK_ENOMEM)
            return rc;
        if (rc != VK_OK) {
            out->der = VK_STR_NULL;
            return vk_oauth_fail(oe, 400, "invalid_request",
                                 "the forwarded client certificate does not decode");
        }
        return VK_OK;
    }
    if (rq->n_client_certs > 0) {
        out->der = rq->client_certs[0];
        out->chain = rq->client_certs + 1;
        out->n_chain = rq->n_client_certs - 1;
    }
    return VK_OK;
}

static const char *method_name(enum vk_client_auth_method m)
{
    switch (m) {
    case VK_CLIENT_AUTH_BASIC:
        return "client_secret_basic";
    case VK_CLIENT_AUTH_POST:
        return "client_secret_post";
    case VK_CLIENT_AUTH_PUBLIC:
        return "none";
    case VK_CLIENT_AUTH_NONE:
        break;
    }
    return "-";
}

int vk_oauth_authenticate(struct vk_app *app, const struct vk_request *rq,
                          const struct vk_params *ps, bool allow_public, struct vk_client *client,
                          struct vk_client_cert *cert, struct vk_oauth_err *oe)
{
    struct vk_client_creds cr;
    struct vk_client_cert own;
    if (cert == NULL)
        cert = &own;
    int rc = vk_oauth_client_cert(app, rq, cert, oe);
    if (rc == VK_OK)
        rc = vk_oauth_client_creds(rq, ps, &cr, oe);
    if (rc != VK_OK)
        return rc;
    cr.cert = cert;
    rc = vk_client_authenticate(app->clients, &app->client_limits, &app->cert_auth, rq->arena, &cr,
                                allow_public, vk_oauth_peer(app, rq), rq->now, client, oe);
    if (rc != VK_OK)
        return rc;
    /* The registered token_endpoint_auth_method is enforced (RFC 7591 §2, OAuth 2.1 §2.4): a
     * client registered for client_secret_basic may not send its secret in the body, nor the
     * reverse, so a secret travels only the way its client was set up to send it. Public clients
     * ("none") were already held to presenting no secret. The answer is that of every failed
     * authentication. It is not counted as a failure: the secret was right (a wrong one, sent
     * either way, has been counted already), so counting would only lock out a misconfigured
     * client without slowing any guessing. */
    const char *used = method_name(cr.method);
    /* client_id alone: for an RFC 8705 client that is its method, and the certificate has just
     * been checked for it (auth/client_auth.c). */
    if (cr.method == VK_CLIENT_AUTH_PUBLIC && vk_client_is_mtls(client))
        used = client->auth_method;
    if (client->auth_method == NULL || strcmp(used, client->auth_method) != 0) {
        vk_log_info("event=client.auth_method_refused client=%s used=%s registered=%s",
                    client->id, used, client->auth_method != NULL ? client->auth_method : "-");
        memset(client, 0, sizeof *client);
        oe->www_auth = cr.method == VK_CLIENT_AUTH_BASIC;
        return vk_oauth_fail(oe, 401, "invalid_client", "client authentication failed");
    }
    return VK_OK;
}

int vk_oauth_error_response(const struct vk_request *rq, struct vk_response *rs,
                            const struct vk_oauth_err *oe)
{
    int rc = vk_response_oauth_error(rs, rq->arena, oe->status ? oe->status : 400,
                                     oe->error ? oe->error : "invalid_request", oe->description);
    if (rc == VK_OK && oe->status == 401) {
        /* OAuth 2.1 §3.2.4: 401 + WWW-Authenticate for a failed Authorization-header attempt;
         * sent on every 401 from these endpoints so clients learn the scheme. */
        rc = vk_response_header(rs, rq->arena, "WWW-Authenticate",
                                "Basic realm=\"valetkey\", charset=\"UTF-8\"");
    }
    return rc;
}

int vk_oauth_finish(const struct vk_request *rq, struct vk_response *rs, int rc,
                    const struct vk_oauth_err *oe)
{
    if (rc == VK_EOAUTH)
        return vk_oauth_error_response(rq, rs, oe);
    return rc;
}
