/* GET /metrics (Prometheus text exposition format 0.0.4) and the per-request access log. */
#include "oauth/app.h"

#include <inttypes.h>
#include <string.h>

#include "base/buf.h"
#include "base/ip.h"
#include "base/log.h"

static const int statuses[VK_METRIC_STATUSES] = {200, 204, 302, 303, 400, 401, 403, 404,
                                                 405, 413, 414, 429, 431, 500, 503, 0};
/* Upper bounds in microseconds; the last bucket is +Inf. */
static const int64_t bucket_us[VK_METRIC_BUCKETS] = {100,   250,   500,    1000,   2500,   5000,
                                                     10000, 25000, 50000,  100000, 250000, 1000000};

static size_t status_slot(int st)
{
    for (size_t i = 0; i + 1 < VK_METRIC_STATUSES; i++)
        if (statuses[i] == st)
            return i;
    return VK_METRIC_STATUSES - 1;
}

static size_t route_slot(const struct vk_app *app, int route_idx)
{
    if (route_idx < 0 || (size_t)route_idx >= app->router->n || route_idx >= VK_METRIC_ROUTES)
        return VK_METRIC_ROUTES;
    return (size_t)route_idx;
}

static const char *method_name(enum vk_method m)
{
    switch (m) {
    case VK_METHOD_GET: return "GET";
    case VK_METHOD_POST: return "POST";
    case VK_METHOD_HEAD: return "HEAD";
    case VK_METHOD_OPTIONS: return "OPTIONS";
    case VK_METHOD_PUT: return "PUT";
    case VK_METHOD_DELETE: return "DELETE";
    default: return "OTHER";
    }
}

void vk_metrics_record(void *appv, const struct vk_request *rq, const struct vk_response *rs,
                       int route_idx, int64_t dur_us)
{
    struct vk_app *app = appv;
    struct vk_metrics *m = &app->metrics;
    size_t r = route_slot(app, route_idx);
    __atomic_add_fetch(&m->requests[r][status_slot(rs->status)], 1, __ATOMIC_RELAXED);
    size_t b = 0;
    while (b < VK_METRIC_BUCKETS && dur_us > bucket_us[b])
        b++;
    __atomic_add_fetch(&m->latency_bucket[r][b], 1, __ATOMIC_RELAXED);
    __atomic_add_fetch(&m->latency_sum_us[r], (uint64_t)dur_us, __ATOMIC_RELAXED);
    __atomic_add_fetch(&m->latency_count[r], 1, __ATOMIC_RELAXED);

    /* One line per request. The path is escaped (it is client input); the query string is never
     * logged because it may carry codes or tokens; the client id is logged only once the client
     * authenticated. */
    char path[160], client[160];
    vk_log_escape(rq->path, path, sizeof path);
    vk_log_escape(vk_str_c(rs->log_client), client, sizeof client);
    /* Behind the trusted proxy the peer is the client it forwarded for (as the limiters count
     * it), and the proxy is named beside it. vk_oauth_peer returns only addresses it parsed. */
    const char *who = vk_oauth_peer(app, rq);
    bool via = who != rq->peer;
    vk_log_info("event=http.request method=%s path=%s status=%d dur_us=%" PRId64
                " client=%s peer=%s%s%s",
                method_name(rq->method), path, rs->status, dur_us, client[0] ? client : "-",
                who[0] ? who : "-", via ? " proxy=" : "", via ? rq->peer : "");
}

static const char *route_name(const struct vk_app *app, size_t r)
{
    return r < app->router->n ? app->router->routes[r].name : "unmatched";
}

/* Who may read /metrics (docs/security.md): the client's address must be in `metrics_allow`
 * (loopback by default). The client is the socket peer, or, behind the trusted proxy, the
 * address it appended to X-Forwarded-For (vk_oauth_peer): a request the proxy relays from the
 * internet arrives from loopback but is not from loopback. A forwarding header from any other
 * peer means the peer relays for someone we cannot identify, so it is refused too. */
static bool metrics_allowed(const struct vk_app *app, const struct vk_request *rq)
{
    const char *who = rq->peer;
    bool forwarded = vk_request_header_count(rq, "x-forwarded-for") > 0 ||
                     vk_request_header_count(rq, "forwarded") > 0 ||
                     vk_request_header_count(rq, "x-real-ip") > 0;
    if (vk_oauth_from_trusted_proxy(app, rq)) {
        who = vk_oauth_peer(app, rq);
        if (who == rq->peer)
            return false; /* relayed without a usable X-Forwarded-For: the client is unknown */
    } else if (forwarded) {
        return false;
    }
    struct vk_ip ip;
    if (vk_ip_parse(vk_str_c(who), &ip) != VK_OK)
        return false;
    for (unsigned i = 0; i < app->cfg->n_metrics_allow; i++)
        if (vk_cidr_contains(&app->cfg->metrics_allow[i], &ip))
            return true;
    return false;
}

int vk_ep_metrics(void *appv, const struct vk_request *rq, struct vk_response *rs)
{
    struct vk_app *app = appv;
    if (!metrics_allowed(app, rq))
        return vk_response_oauth_error(rs, rq->arena, 403, "access_denied",
                                       "metrics are served only to the addresses in "
                                       "metrics_allow");
    struct vk_metrics *m = &app->metrics;
    struct vk_buf b;
    vk_buf_init(&b, 256 * 1024);
    size_t nr = app->router->n < VK_METRIC_ROUTES ? app->router->n : VK_METRIC_ROUTES;
    int rc = vk_buf_append_str(&b, "# HELP valetkey_http_requests_total HTTP requests by "
                                   "endpoint and status.\n"
                                   "# TYPE valetkey_http_requests_total counter\n");
    for (size_t r = 0; r <= VK_METRIC_ROUTES && rc == VK_OK; r++) {
        if (r >= nr && r != VK_METRIC_ROUTES)
            continue;
        for (size_t s = 0; s < VK_METRIC_STATUSES && rc == VK_OK; s++) {
            uint64_t v = __atomic_load_n(&m->requests[r][s], __ATOMIC_RELAXED);
            if (v == 0)
                continue;
            if (statuses[s] != 0)
                rc = vk_buf_printf(&b,
                                   "valetkey_http_requests_total{endpoint=\"%s\",status=\"%d\"} "
                                   "%" PRIu64 "\n",
                                   route_name(app, r), statuses[s], v);
            else
                rc = vk_buf_printf(&b,
                                   "valetkey_http_requests_total{endpoint=\"%s\",status=\"other\"}"
                                   " %" PRIu64 "\n",
                                   route_name(app, r), v);
        }
    }
    if (rc == VK_OK)
        rc = vk_buf_append_str(&b, "# HELP valetkey_http_request_duration_seconds Time from "
                                   "request line to response queued.\n"
                                   "# TYPE valetkey_http_request_duration_seconds histogram\n");
    for (size_t r = 0; r <= VK_METRIC_ROUTES && rc == VK_OK; r++) {
        if (r >= nr && r != VK_METRIC_ROUTES)
            continue;
        uint64_t count = __atomic_load_n(&m->latency_count[r], __ATOMIC_RELAXED);
        if (count == 0)
            continue;
        uint64_t cum = 0;
        for (size_t k = 0; k <= VK_METRIC_BUCKETS && rc == VK_OK; k++) {
            cum += __atomic_load_n(&m->latency_bucket[r][k], __ATOMIC_RELAXED);
            if (k < VK_METRIC_BUCKETS)
                rc = vk_buf_printf(&b,
                                   "valetkey_http_request_duration_seconds_bucket{endpoint=\"%s\","
                                   "le=\"%g\"} %" PRIu64 "\n",
                                   route_name(app, r), (double)bucket_us[k] / 1e6, cum);
            else
                rc = vk_buf_printf(&b,
                                   "valetkey_http_request_duration_seconds_bucket{endpoint=\"%s\","
                                   "le=\"+Inf\"} %" PRIu64 "\n",
                                   route_name(app, r), cum);
        }
        if (rc == VK_OK)
            rc = vk_buf_printf(&b,
                               "valetkey_http_request_duration_seconds_sum{endpoint=\"%s\"} %.6f\n"
                               "valetkey_http_request_duration_seconds_count{endpoint=\"%s\"} "
                               "%" PRIu64 "\n",
                               route_name(app, r),
                               (double)__atomic_load_n(&m->latency_sum_us[r], __ATOMIC_RELAXED) /
                                   1e6,
                               route_name(app, r), cum);
    }
    static const char *const grants[] = {"client_credentials", "authorization_code",
                                         "refresh_token", "other"};
    if (rc == VK_OK)
        rc = vk_buf_append_str(&b, "# HELP valetkey_tokens_issued_total Access tokens issued, by "
                                   "grant type.\n"
                                   "# TYPE valetkey_tokens_issued_total counter\n");
    for (size_t g = 0; g < 4 && rc == VK_OK; g++)
        rc = vk_buf_printf(&b, "valetkey_tokens_issued_total{grant_type=\"%s\"} %" PRIu64 "\n",
                           grants[g], __atomic_load_n(&m->tokens_issued[g], __ATOMIC_RELAXED));
    if (rc == VK_OK)
        rc = vk_buf_printf(&b,
                           "# HELP valetkey_revocations_total Tokens revoked.\n"
                           "# TYPE valetkey_revocations_total counter\n"
                           "valetkey_revocations_total %" PRIu64 "\n"
                           "# HELP valetkey_start_time_seconds Start time of the process.\n"
                           "# TYPE valetkey_start_time_seconds gauge\n"
                           "valetkey_start_time_seconds %lld\n",
                           __atomic_load_n(&m->revocations, __ATOMIC_RELAXED),
                           (long long)m->started_at);
    char *body = rc == VK_OK ? vk_arena_strdup(rq->arena, vk_buf_str(&b)) : NULL;
    size_t len = b.len;
    vk_buf_clear(&b);
    if (rc != VK_OK)
        return rc;
    if (body == NULL)
        return VK_ENOMEM;
    return vk_response_text(rs, rq->arena, 200, "text/plain; version=0.0.4; charset=utf-8", body,
                            len);
}
