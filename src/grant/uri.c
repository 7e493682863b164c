/* RFC 3986 URI parsing (§3: scheme, authority, path, query, fragment). Pure: no allocation, no
 * state; every output slice points into the input. redirect_uri.c builds the redirect-URI rules
 * on it. */
#include "grant/grant.h"

#include <string.h>

static bool is_alpha(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static bool is_hex(unsigned char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* RFC 3986 §2.3 unreserved */
static bool is_unreserved(unsigned char c)
{
    return is_alpha(c) || is_digit(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

/* RFC 3986 §2.2 sub-delims */
static bool is_sub_delim(unsigned char c)
{
    return c != '\0' && strchr("!$&'()*+,;=", c) != NULL;
}

/* The characters a component may hold besides unreserved, sub-delims and pct-encoded. */
enum comp { C_USERINFO, C_REGNAME, C_PATH, C_QUERY };

static bool extra_ok(enum comp k, unsigned char c)
{
    switch (k) {
    case C_USERINFO:
        return c == ':';
    case C_REGNAME:
        return false;
    case C_PATH: /* pchar adds ":" and "@"; "/" separates segments */
        return c == ':' || c == '@' || c == '/';
    case C_QUERY: /* query and fragment: *( pchar / "/" / "?" ) */
        return c == ':' || c == '@' || c == '/' || c == '?';
    }
    return false;
}

/* True when every byte of s is allowed in component k; '%' must start a pct-encoded triplet
 * (RFC 3986 §2.1). */
static bool comp_ok(vk_str s, enum comp k)
{
    for (size_t i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char)s.p[i];
        if (c == '%') {
            if (s.len - i < 3 || !is_hex((unsigned char)s.p[i + 1]) ||
                !is_hex((unsigned char)s.p[i + 2]))
                return false;
            i += 2;
            continue;
        }
        if (!is_unreserved(c) && !is_sub_delim(c) && !extra_ok(k, c))
            return false;
    }
    return true;
}

/* RFC 3986 §3.2.2 dec-octet: 0..255 without leading zeros. */
static bool dec_octet_ok(vk_str s)
{
    if (s.len == 0 || s.len > 3)
        return false;
    for (size_t i = 0; i < s.len; i++)
        if (!is_digit((unsigned char)s.p[i]))
            return false;
    if (s.len > 1 && s.p[0] == '0')
        return false;
    unsigned v = 0;
    for (size_t i = 0; i < s.len; i++)
        v = v * 10 + (unsigned)(s.p[i] - '0');
    return v <= 255;
}

/* RFC 3986 §3.2.2 IPv4address = dec-octet "." dec-octet "." dec-octet "." dec-octet */
static bool ipv4_ok(vk_str s)
{
    size_t start = 0, parts = 0;
    for (size_t i = 0; i <= s.len; i++) {
        if (i < s.len && s.p[i] != '.')
            continue;
        if (++parts > 4 || !dec_octet_ok((vk_str){s.p + start, i - start}))
            return false;
        start = i + 1;
    }
    return parts == 4;
}

/* RFC 3986 §3.2.2 IPv6address: eight h16 pieces (the last two may be an IPv4address), or fewer
 * with one "::" standing for one or more zero pieces. */
static bool ipv6_ok(vk_str s)
{
    size_t i = 0, pieces = 0;
    bool compressed = false;
    if (s.len >= 2 && s.p[0] == ':' && s.p[1] == ':') {
        compressed = true;
        i = 2;
    } else if (s.len >= 1 && s.p[0] == ':') {
        return false;
    }
    while (i < s.len) {
        size_t j = i;
        while (j < s.len && s.p[j] != ':')
            j++;
        vk_str piece = {s.p + i, j - i};
        if (memchr(piece.p, '.', piece.len) != NULL) {
            if (j != s.len || !ipv4_ok(piece)) /* ls32: only at the end */
                return false;
            pieces += 2;
        } else {
            if (piece.len < 1 || piece.len > 4)
                return false;
            for (size_t k = 0; k < piece.len; k++)
                if (!is_hex((unsigned char)piece.p[k]))
                    return false;
            pieces++;
        }
        if (pieces > 8)
            return false;
        if (j == s.len)
            break;
        if (j + 1 < s.len && s.p[j + 1] == ':') {
            if (compressed)
                return false; /* "::" at most once */
            compressed = true;
            i = j + 2;
        } else {
            i = j + 1;
            if (i == s.len)
                return false; /* a single trailing ':' */
        }
    }
    return compressed ? pieces <= 7 : pieces == 8;
}

/* RFC 3986 §3.2.2 IPvFuture = "v" 1*HEXDIG "." 1*( unreserved / sub-delims / ":" ) */
static bool ipvfuture_ok(vk_str s)
{
    size_t i = 1;
    if (s.len < 4 || (s.p[0] != 'v' && s.p[0] != 'V'))
        return false;
    while (i < s.len && is_hex((unsigned char)s.p[i]))
        i++;
    if (i == 1 || i >= s.len - 1 || s.p[i] != '.')
        return false;
    for (i++; i < s.len; i++) {
        unsigned char c = (unsigned char)s.p[i];
        if (!is_unreserved(c) && !is_sub_delim(c) && c != ':')
            return false;
    }
    return true;
}

/* authority = [ userinfo "@" ] host [ ":" port ] */
static bool authority_parse(vk_str a, struct vk_uri *u)
{
    const char *at = memchr(a.p, '@', a.len);
    vk_str hp = a;
    if (at != NULL) {
        u->has_userinfo = true;
        u->userinfo = (vk_str){a.p, (size_t)(at - a.p)};
        hp = (vk_str){at + 1, a.len - u->userinfo.len - 1};
        if (!comp_ok(u->userinfo, C_USERINFO))
            return false;
    }
    size_t hl;
    if (hp.len > 0 && hp.p[0] == '[') {
        const char *close = memchr(hp.p, ']', hp.len);
        if (close == NULL)
            return false;
        hl = (size_t)(close - hp.p) + 1;
        vk_str inner = {hp.p + 1, hl - 2};
        if (ipv6_ok(inner))
            u->host_type = VK_URI_HOST_IPV6;
        else if (ipvfuture_ok(inner))
            u->host_type = VK_URI_HOST_IPFUTURE;
        else
            return false;
        if (hl < hp.len && hp.p[hl] != ':')
            return false;
    } else {
        const char *colon = memchr(hp.p, ':', hp.len);
        hl = colon != NULL ? (size_t)(colon - hp.p) : hp.len;
        vk_str h = {hp.p, hl};
        /* "@" is not a reg-name character, so a second '@' fails here */
        if (!comp_ok(h, C_REGNAME))
            return false;
        u->host_type = ipv4_ok(h) ? VK_URI_HOST_IPV4 : VK_URI_HOST_REG_NAME;
    }
    u->host = (vk_str){hp.p, hl};
    if (hl < hp.len) { /* ":" port, port = *DIGIT */
        u->has_port = true;
        u->port = (vk_str){hp.p + hl + 1, hp.len - hl - 1};
        for (size_t i = 0; i < u->port.len; i++)
            if (!is_digit((unsigned char)u->port.p[i]))
                return false;
    }
    return true;
}

int vk_uri_parse(vk_str s, struct vk_uri *out)
{
    struct vk_uri u;
    memset(&u, 0, sizeof u);
    memset(out, 0, sizeof *out);
    if (s.p == NULL || s.len == 0 || s.len > VK_URI_MAX_LEN)
        return VK_EINVAL;
    /* scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) ":" (§3.1) */
    size_t i = 0;
    if (!is_alpha((unsigned char)s.p[0]))
        return VK_EINVAL;
    for (i = 1; i < s.len && s.p[i] != ':'; i++) {
        unsigned char c = (unsigned char)s.p[i];
        if (!is_alpha(c) && !is_digit(c) && c != '+' && c != '-' && c != '.')
            return VK_EINVAL;
    }
    if (i == s.len)
        return VK_EINVAL;
    u.scheme = (vk_str){s.p, i};
    i++;
    /* fragment: everything after the first '#' (§3.5) */
    const char *hash = memchr(s.p + i, '#', s.len - i);
    size_t end = hash != NULL ? (size_t)(hash - s.p) : s.len;
    if (hash != NULL) {
        u.has_fragment = true;
        u.fragment = (vk_str){hash + 1, s.len - end - 1};
        if (!comp_ok(u.fragment, C_QUERY))
            return VK_EINVAL;
    }
    /* query: after the first '?' before the fragment (§3.4) */
    const char *q = memchr(s.p + i, '?', end - i);
    size_t hier_end = q != NULL ? (size_t)(q - s.p) : end;
    if (q != NULL) {
        u.has_query = true;
        u.query = (vk_str){q + 1, end - hier_end - 1};
        if (!comp_ok(u.query, C_QUERY))
            return VK_EINVAL;
    }
    /* hier-part = "//" authority path-abempty / path-absolute / path-rootless / path-empty */
    if (hier_end - i >= 2 && s.p[i] == '/' && s.p[i + 1] == '/') {
        size_t a0 = i + 2, a1 = a0;
        while (a1 < hier_end && s.p[a1] != '/')
            a1++;
        u.has_authority = true;
        if (!authority_parse((vk_str){s.p + a0, a1 - a0}, &u))
            return VK_EINVAL;
        i = a1;
    }
    u.path = (vk_str){s.p + i, hier_end - i};
    if (!comp_ok(u.path, C_PATH))
        return VK_EINVAL;
    *out = u;
    return VK_OK;
}

bool vk_uri_host_is_loopback_ip(const struct vk_uri *u)
{
    return u->has_authority &&
           ((u->host_type == VK_URI_HOST_IPV4 && vk_str_eq_lit(u->host, "127.0.0.1")) ||
            (u->host_type == VK_URI_HOST_IPV6 && vk_str_eq_lit(u->host, "[::1]")));
}

bool vk_uri_host_is_loopback(const struct vk_uri *u)
{
    return vk_uri_host_is_loopback_ip(u) ||
           (u->has_authority && u->host_type == VK_URI_HOST_REG_NAME &&
            vk_str_eq_lit(u->host, "localhost"));
}
