/* The policy file of `valetkey verify` (verify_policy.h, docs/verify.md). */
#include "cli/verify_policy.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LINE 4096

static char *dup_n(const char *p, size_t n)
{
    char *s = malloc(n + 1);
    if (s != NULL) {
        memcpy(s, p, n);
        s[n] = '\0';
    }
    return s;
}

/* RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ) */
static bool scope_token(vk_str s)
{
    if (s.len == 0)
        return false;
    for (size_t i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char)s.p[i];
        if (c < 0x21 || c > 0x7e || c == '"' || c == '\\')
            return false;
    }
    return true;
}

/* A method name (RFC 9110 §9.1: a token; we take upper-case letters and '-'). */
static bool method_name(vk_str s)
{
    if (s.len == 0 || s.len > 20)
        return false;
    for (size_t i = 0; i < s.len; i++)
        if (!((s.p[i] >= 'A' && s.p[i] <= 'Z') || s.p[i] == '-'))
            return false;
    return true;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int vk_vpolicy_normalize_path(vk_str path, char *out, size_t outsz)
{
    char *tmp;
    size_t o = 0, w = 0;

    if (path.len == 0 || path.p[0] != '/' || outsz < 2)
        return VK_EINVAL;
    if (path.len >= outsz)
        return VK_ETOOBIG; /* the result is never longer than the input */
    tmp = malloc(path.len + 1);
    if (tmp == NULL)
        return VK_ENOMEM;
    /* Decode, and merge runs of '/'. */
    for (size_t i = 0; i < path.len; i++) {
        char c = path.p[i];
        if (c == '%') {
            int h = i + 2 < path.len ? hexval(path.p[i + 1]) : -1;
            int l = i + 2 < path.len ? hexval(path.p[i + 2]) : -1;
            if (h < 0 || l < 0 || (h == 0 && l == 0)) {
                free(tmp);
                return VK_EINVAL;
            }
            c = (char)(h << 4 | l);
            i += 2;
        } else if (c == '\0' || c == '?' || c == '#') {
            free(tmp);
            return VK_EINVAL; /* the caller passes the path alone */
        }
        if (c == '/' && o > 0 && tmp[o - 1] == '/')
            continue;
        tmp[o++] = c;
    }
    /* RFC 3986 §5.2.4 on the decoded segments: "." is dropped, ".." drops the segment before it;
     * either one at the end leaves a trailing slash. */
    for (size_t r = 1; r <= o;) {
        size_t end = r;
        while (end < o && tmp[end] != '/')
            end++;
        bool last = end >= o;
        size_t n = end - r;
        if (n == 1 && tmp[r] == '.') {
            if (last)
                out[w++] = '/';
        } else if (n == 2 && tmp[r] == '.' && tmp[r + 1] == '.') {
            while (w > 0 && out[w - 1] != '/')
                w--;
            if (w > 0)
                w--;
            if (last)
                out[w++] = '/';
        } else {
            out[w++] = '/';
            memcpy(out + w, tmp + r, n);
            w += n;
        }
        r = end + 1;
    }
    if (w == 0)
        out[w++] = '/';
    out[w] = '\0';
    free(tmp);
    return VK_OK;
}

static int fail(struct vk_err *err, size_t line, const char *what)
{
    return vk_err_set(err, VK_EINVAL, "policy line %zu: %s", line, what);
}

/* Appends `tok` to the space-separated list *list (allocated). */
static int append(char **list, vk_str tok)
{
    size_t old = *list != NULL ? strlen(*list) : 0;
    char *n = realloc(*list, old + tok.len + 2);
    if (n == NULL)
        return VK_ENOMEM;
    if (old > 0)
        n[old++] = ' ';
    memcpy(n + old, tok.p, tok.len);
    n[old + tok.len] = '\0';
    *list = n;
    return VK_OK;
}

static void rule_clear(struct vk_vpolicy_rule *r)
{
    free(r->methods);
    free(r->prefix);
    free(r->scope);
    free(r->audience);
    memset(r, 0, sizeof *r);
}

static int parse_line(vk_str line, size_t lineno, struct vk_vpolicy_rule *r, struct vk_err *err)
{
    vk_str rest = line, tok;
    char path[MAX_LINE];
    int rc;

    memset(r, 0, sizeof *r);
    r->line = lineno;
    if (!vk_str_next_token(&rest, ' ', &tok))
        return fail(err, lineno, "empty rule");
    /* Methods: "*", or a comma-separated list. */
    if (vk_str_eq_lit(tok, "*")) {
        r->methods = dup_n("*", 1);
        if (r->methods == NULL)
            return VK_ENOMEM;
    } else {
        vk_str ms = tok, m;
        while (vk_str_next_token(&ms, ',', &m)) {
            if (!method_name(m))
                return fail(err, lineno, "a method is upper-case letters (GET, POST, ...) or *");
            if ((rc = append(&r->methods, m)) != VK_OK)
                return rc;
        }
        if (r->methods == NULL)
            return fail(err, lineno, "no method");
    }
    if (!vk_str_next_token(&rest, ' ', &tok))
        return fail(err, lineno, "a path prefix must follow the method");
    rc = vk_vpolicy_normalize_path(tok, path, sizeof path);
    if (rc != VK_OK)
        return fail(err, lineno, "the path prefix must start with / (percent-encoding allowed)");
    /* A prefix must stay a prefix of what it covers: normalising "/v1/chat/" keeps the slash. */
    r->prefix = dup_n(path, strlen(path));
    if (r->prefix == NULL)
        return VK_ENOMEM;
    while (vk_str_next_token(&rest, ' ', &tok)) {
        if (vk_str_starts_with_lit(tok, "scope=")) {
            vk_str v = {tok.p + 6, tok.len - 6};
            if (!scope_token(v))
                return fail(err, lineno, "scope= takes one scope token (repeat it for more)");
            if ((rc = append(&r->scope, v)) != VK_OK)
                return rc;
        } else if (vk_str_starts_with_lit(tok, "audience=")) {
            vk_str v = {tok.p + 9, tok.len - 9};
            if (r->audience != NULL)
                return fail(err, lineno, "one audience= per rule");
            if (!scope_token(v) || v.len > 2048)
                return fail(err, lineno, "audience= takes a URI without spaces or quotes");
            if ((r->audience = dup_n(v.p, v.len)) == NULL)
                return VK_ENOMEM;
        } else if (tok.len > 0 && tok.p[0] == '#') {
            break; /* a comment to the end of the line */
        } else {
            return fail(err, lineno, "unknown field (scope=, audience= or a # comment)");
        }
    }
    if (r->scope == NULL && (r->scope = dup_n("", 0)) == NULL)
        return VK_ENOMEM;
    return VK_OK;
}

int vk_vpolicy_parse(const char *text, size_t len, struct vk_vpolicy *out, struct vk_err *err)
{
    size_t lineno = 0, cap = 0;
    int rc = VK_OK;

    memset(out, 0, sizeof *out);
    if (len > VK_VPOLICY_MAX_FILE)
        return vk_err_set(err, VK_ETOOBIG, "policy: larger than %d bytes", VK_VPOLICY_MAX_FILE);
    for (size_t i = 0; i < len && rc == VK_OK;) {
        size_t start = i;
        char buf[MAX_LINE];
        while (i < len && text[i] != '\n')
            i++;
        size_t n = i - start;
        i++; /* the newline */
        lineno++;
        if (n >= sizeof buf) {
            rc = fail(err, lineno, "line too long");
            break;
        }
        /* Tabs count as spaces, a CR at the end is dropped, a NUL is refused. */
        for (size_t k = 0; k < n; k++) {
            char c = text[start + k];
            if (c == '\0') {
                rc = fail(err, lineno, "NUL byte");
                break;
            }
            buf[k] = c == '\t' || c == '\r' ? ' ' : c;
        }
        if (rc != VK_OK)
            break;
        vk_str line = {buf, n};
        while (line.len > 0 && line.p[0] == ' ') {
            line.p++;
            line.len--;
        }
        if (line.len == 0 || line.p[0] == '#')
            continue;
        if (out->n == VK_VPOLICY_MAX_RULES) {
            rc = vk_err_set(err, VK_ETOOBIG, "policy: more than %d rules", VK_VPOLICY_MAX_RULES);
            break;
        }
        if (out->n == cap) {
            size_t nc = cap == 0 ? 16 : 2 * cap;
            struct vk_vpolicy_rule *nr = realloc(out->rules, nc * sizeof *nr);
            if (nr == NULL) {
                rc = VK_ENOMEM;
                break;
            }
            out->rules = nr;
            cap = nc;
        }
        rc = parse_line(line, lineno, &out->rules[out->n], err);
        if (rc != VK_OK)
            rule_clear(&out->rules[out->n]);
        else
            out->n++;
    }
    if (rc == VK_OK && out->n == 0)
        rc = vk_err_set(err, VK_EINVAL, "policy: no rules (every request would be refused)");
    if (rc != VK_OK)
        vk_vpolicy_clear(out);
    return rc;
}

void vk_vpolicy_clear(struct vk_vpolicy *p)
{
    for (size_t i = 0; i < p->n; i++)
        rule_clear(&p->rules[i]);
    free(p->rules);
    memset(p, 0, sizeof *p);
}

static bool method_listed(const char *methods, vk_str method)
{
    vk_str rest = vk_str_c(methods), m;
    while (vk_str_next_token(&rest, ' ', &m))
        if (vk_str_eq(m, method) || vk_str_eq_lit(m, "*"))
            return true;
    return false;
}

const struct vk_vpolicy_rule *vk_vpolicy_match(const struct vk_vpolicy *p, vk_str method,
                                               vk_str path)
{
    const struct vk_vpolicy_rule *best = NULL;
    size_t best_len = 0;
    for (size_t i = 0; i < p->n; i++) {
        const struct vk_vpolicy_rule *r = &p->rules[i];
        size_t n = strlen(r->prefix);
        if (n > path.len || memcmp(r->prefix, path.p, n) != 0)
            continue;
        if (!method_listed(r->methods, method))
            continue;
        if (best == NULL || n > best_len) {
            best = r;
            best_len = n;
        }
    }
    return best;
}
