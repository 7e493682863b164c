/* Fuzz driver: RFC 3986 URIs (src/grant/uri.c) and the redirect-URI rules and match built on them
 * (src/grant/redirect_uri.c): what `client add` registers and what /authorize and /logout redirect
 * a browser to.
 *
 * The whole input is parsed as one URI; for the match, the input is split at its last '\n' into
 * the registered list (newline-separated) and the requested URI. Invariants besides crashes:
 *   - vk_uri_parse returns VK_OK or VK_EINVAL; on VK_OK the components are slices of the input
 *     and put back together (scheme ":" ["//" [userinfo "@"] host [":" port]] path ["?" query]
 *     ["#" fragment]) they give the input byte for byte; no component holds a character that
 *     would have ended it; the port is digits;
 *   - an http URI that vk_redirect_uri_check accepts has, read the way a browser's naive
 *     splitter reads it (authority up to the first '/', '?', '#' or '\\'; host after the last
 *     '@'; port after the last ':' outside brackets), no '@' at all and a host that is exactly
 *     127.0.0.1, [::1] or localhost: the bypass "http://127.0.0.1:x@evil.example/" cannot pass;
 *   - an accepted URI has no '#' and no '@' before its path;
 *   - vk_redirect_uri_match(reg, req) implies that req passes the check and is one of the
 *     registered lines, or (http on 127.0.0.1 / [::1] only) becomes one when its port is removed;
 *   - a single URI matches itself exactly when the check accepts it. */
#include <stdbool.h>
#include <string.h>

#include "base/limits.h"
#include "grant/grant.h"

#include "fuzz_common.h"

static bool within(vk_str part, const uint8_t *data, size_t size)
{
    if (part.len == 0)
        return true;
    const char *b = (const char *)data;
    return part.p >= b && part.p + part.len <= b + size;
}

static bool has_any(vk_str s, const char *set)
{
    for (size_t i = 0; i < s.len; i++)
        if (s.p[i] == '\0' || strchr(set, s.p[i]) != NULL)
            return true;
    return false;
}

static char rebuilt[VK_URI_MAX_LEN + 16];

static void append(size_t *n, const char *p, size_t len)
{
    CHECK(*n + len <= sizeof rebuilt);
    if (len > 0)
        memcpy(rebuilt + *n, p, len);
    *n += len;
}

static void check_parse(const uint8_t *data, size_t size)
{
    struct vk_uri u;
    int rc = vk_uri_parse((vk_str){(const char *)data, size}, &u);
    CHECKF(rc == VK_OK || rc == VK_EINVAL, "unexpected return code %d", rc);
    if (rc != VK_OK) {
        CHECK(u.scheme.len == 0 && u.host.len == 0 && u.path.len == 0 && !u.has_authority);
        return;
    }
    CHECK(size > 0 && size <= VK_URI_MAX_LEN);
    vk_str parts[] = {u.scheme, u.userinfo, u.host, u.port, u.path, u.query, u.fragment};
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
        CHECKF(within(parts[i], data, size), "component %zu is not a slice of the input", i);
    size_t n = 0;
    append(&n, u.scheme.p, u.scheme.len);
    append(&n, ":", 1);
    if (u.has_authority) {
        append(&n, "//", 2);
        if (u.has_userinfo) {
            append(&n, u.userinfo.p, u.userinfo.len);
            append(&n, "@", 1);
        }
        append(&n, u.host.p, u.host.len);
        if (u.has_port) {
            append(&n, ":", 1);
            append(&n, u.port.p, u.port.len);
        }
    }
    append(&n, u.path.p, u.path.len);
    if (u.has_query) {
        append(&n, "?", 1);
        append(&n, u.query.p, u.query.len);
    }
    if (u.has_fragment) {
        append(&n, "#", 1);
        append(&n, u.fragment.p, u.fragment.len);
    }
    CHECKF(n == size && memcmp(rebuilt, data, size) == 0, "components do not rebuild the input");
    CHECK(u.scheme.len > 0 && !has_any(u.scheme, ":/?#@[]"));
    CHECK(!has_any(u.userinfo, "@/?#[]\\ "));
    CHECK(!has_any(u.host, "@/?#\\ "));
    CHECK(!has_any(u.path, "?#\\ "));
    CHECK(!has_any(u.query, "#\\ "));
    CHECK(!has_any(u.fragment, "#\\ "));
    for (size_t i = 0; i < u.port.len; i++)
        CHECK(u.port.p[i] >= '0' && u.port.p[i] <= '9');
    if (u.has_authority && u.path.len > 0)
        CHECK(u.path.p[0] == '/');
    if (!u.has_authority)
        CHECK(!u.has_userinfo && !u.has_port && u.host.len == 0);
}

/* The host a naive splitter finds in "scheme://authority...", or false when there is no "//". */
static bool naive_host(vk_str s, vk_str *authority, vk_str *host)
{
    const char *sep = memchr(s.p, ':', s.len);
    if (sep == NULL || (size_t)(s.p + s.len - sep) < 3 || sep[1] != '/' || sep[2] != '/')
        return false;
    const char *a = sep + 3, *end = s.p + s.len, *e = a;
    while (e < end && *e != '/' && *e != '?' && *e != '#' && *e != '\\')
        e++;
    *authority = (vk_str){a, (size_t)(e - a)};
    const char *h = a;
    for (const char *p = a; p < e; p++)
        if (*p == '@')
            h = p + 1;
    const char *he = e;
    for (const char *p = e; p > h; p--) {
        if (p[-1] == ']')
            break;
        if (p[-1] == ':') {
            he = p - 1;
            break;
        }
    }
    *host = (vk_str){h, (size_t)(he - h)};
    return true;
}

static void check_redirect(const uint8_t *data, size_t size)
{
    vk_str s = {(const char *)data, size};
    struct vk_uri u;
    const char *why = vk_redirect_uri_check(s, &u);
    if (why != NULL) {
        CHECK(u.host.len == 0 && u.scheme.len == 0);
        CHECK(!vk_redirect_uri_match(s, s));
        return;
    }
    CHECK(memchr(s.p, '#', s.len) == NULL);
    CHECK(!u.has_userinfo);
    CHECK(memchr(s.p, '@', (size_t)(u.path.p - s.p)) == NULL);
    if (vk_str_eq_nocase_lit(u.scheme, "http")) {
        vk_str auth, host;
        CHECKF(naive_host(s, &auth, &host), "accepted http URI without an authority");
        CHECK(memchr(auth.p, '@', auth.len) == NULL);
        CHECKF(vk_str_eq_lit(host, "127.0.0.1") || vk_str_eq_lit(host, "[::1]") ||
                   vk_str_eq_lit(host, "localhost"),
               "accepted http URI whose naive host is %.*s", (int)host.len, host.p);
    }
    if (memchr(s.p, '\n', s.len) == NULL)
        CHECKF(vk_redirect_uri_match(s, s), "an accepted URI does not match itself");
}

static bool is_registered(vk_str reg, vk_str uri)
{
    vk_str rest = reg, r;
    while (vk_str_next_token(&rest, '\n', &r))
        if (vk_str_eq(r, uri))
            return true;
    return false;
}

static char unported[VK_URI_MAX_LEN + 1];

static void check_match(const uint8_t *data, size_t size)
{
    const char *nl = NULL;
    for (size_t i = size; i > 0; i--) {
        if (data[i - 1] == '\n') {
            nl = (const char *)data + i - 1;
            break;
        }
    }
    if (nl == NULL)
        return;
    vk_str reg = {(const char *)data, (size_t)(nl - (const char *)data)};
    vk_str req = {nl + 1, size - reg.len - 1};
    if (!vk_redirect_uri_match(reg, req))
        return;
    CHECK(vk_redirect_uri_check(req, NULL) == NULL);
    if (is_registered(reg, req))
        return;
    /* Only the loopback IP literals may differ, and only by the port. */
    static const char *const prefixes[] = {"http://127.0.0.1:", "http://[::1]:"};
    bool found = false;
    for (size_t k = 0; k < 2 && !found; k++) {
        size_t pl = strlen(prefixes[k]);
        if (req.len < pl || memcmp(req.p, prefixes[k], pl) != 0)
            continue;
        size_t j = pl;
        while (j < req.len && req.p[j] >= '0' && req.p[j] <= '9')
            j++;
        CHECK(j > pl && req.len - j + pl - 1 <= sizeof unported);
        memcpy(unported, req.p, pl - 1);
        memcpy(unported + pl - 1, req.p + j, req.len - j);
        found = is_registered(reg, (vk_str){unported, pl - 1 + req.len - j});
    }
    CHECKF(found, "matched a URI that is not registered, even without its port");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_parse(data, size);
    check_redirect(data, size);
    check_match(data, size);
    return 0;
}
