/* Protocol decisions as pure functions: no HTTP, no database, no clock. Each cites the rule it
 * enforces. Outputs are arena strings; errors fill struct vk_oauth_err. */
#ifndef VK_GRANT_GRANT_H
#define VK_GRANT_GRANT_H

#include <stdbool.h>
#include <stddef.h>

#include "base/arena.h"
#include "base/err.h"
#include "base/str.h"

/* RFC 6749 §3.3: scope = scope-token *( SP scope-token ), scope-token = 1*NQCHAR. */
bool vk_scope_syntax_ok(vk_str scope);
/* True when the space-separated list contains tok exactly. */
bool vk_scope_list_contains(vk_str list, vk_str tok);
/* Decides the granted scope. When `requested_present` is false the client's allowed scopes are
 * granted (RFC 6749 §3.3 default scope, OAuth 2.1 §1.4.1). Otherwise every requested token must be
 * in `allowed` (invalid_scope), duplicates are removed, and the order of the request is kept. */
int vk_scope_decide(struct vk_arena *a, bool requested_present, vk_str requested, vk_str allowed,
                    const char **granted, struct vk_oauth_err *oe);

/* RFC 8707 §2: a resource is an absolute URI without a fragment. */
bool vk_resource_syntax_ok(vk_str uri);
/* Checks n requested resources (invalid_target on syntax, count above VK_MAX_RESOURCES, or when
 * the client registered resources and one requested is not among them). */
int vk_resource_decide(const vk_str *res, size_t n, vk_str registered, struct vk_oauth_err *oe);

/* The grant types a client is registered for (space-separated) contain `grant`. */
bool vk_client_has_grant(vk_str grant_types, const char *grant);

#endif
