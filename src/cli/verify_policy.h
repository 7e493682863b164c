/* The policy of `valetkey verify` (docs/verify.md): which scopes, and which audience, a request
 * needs, by method and path prefix. One rule per line:
 *
 *     METHOD[,METHOD...]|*  /PATH-PREFIX  [scope=SCOPE]...  [audience=URI]
 *
 * The rule with the longest prefix among those naming the request's method decides (the first
 * of equal ones); a request no rule covers is refused. Paths are compared after the same
 * normalisation a gateway applies before routing (vk_vpolicy_normalize_path), so "/v1/chat/../
 * images/x" is judged as "/v1/images/x", the resource the gateway will actually serve. */
#ifndef VK_CLI_VERIFY_POLICY_H
#define VK_CLI_VERIFY_POLICY_H

#include <stddef.h>

#include "base/err.h"
#include "base/str.h"

#define VK_VPOLICY_MAX_RULES 1024
#define VK_VPOLICY_MAX_FILE  (256 * 1024)

struct vk_vpolicy_rule {
    char *methods;  /* space-separated upper-case methods, or "*" */
    char *prefix;   /* starts with '/', normalised */
    char *scope;    /* space-separated scopes all required; "" for none */
    char *audience; /* an audience the token must name, or NULL for any of the verifier's */
    size_t line;
};

struct vk_vpolicy {
    struct vk_vpolicy_rule *rules;
    size_t n;
};

/* Parses a policy. On VK_OK *out holds the rules (vk_vpolicy_clear); on VK_EINVAL err names the
 * line and the problem. VK_ETOOBIG beyond VK_VPOLICY_MAX_RULES, VK_ENOMEM. */
int vk_vpolicy_parse(const char *text, size_t len, struct vk_vpolicy *out, struct vk_err *err);
void vk_vpolicy_clear(struct vk_vpolicy *p);
/* The rule for a request (method as received, path already normalised), or NULL. */
const struct vk_vpolicy_rule *vk_vpolicy_match(const struct vk_vpolicy *p, vk_str method,
                                               vk_str path);
/* The path of a request target (no query) as a gateway routes it: percent-decoded (RFC 3986
 * §2.1; an invalid escape or an encoded NUL is refused), runs of '/' merged (nginx's
 * merge_slashes), dot segments removed (RFC 3986 §5.2.4). Writes a NUL-terminated path into
 * out. VK_OK, VK_EINVAL (not an origin-form path, bad escape), VK_ETOOBIG (outsz). */
int vk_vpolicy_normalize_path(vk_str path, char *out, size_t outsz);

#endif
