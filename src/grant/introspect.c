/* Who may introspect which token (RFC 7662 §4: the endpoint must not become a way for any client
 * to read every token; "the authorization server SHOULD ... determine whether the protected
 * resource is allowed to make the request"). Pure decisions over the caller's record and the
 * token's client and audiences. */
#include "grant/grant.h"

bool vk_introspect_refresh_allowed(const struct vk_client *caller, vk_str grant_client)
{
    /* Checklist #36: a refresh token belongs to its client; nobody else may even learn whether it
     * is live (a resource server never receives one). */
    return caller->id != NULL && vk_str_eq_lit(grant_client, caller->id);
}

bool vk_introspect_access_allowed(const struct vk_client *caller, vk_str token_client,
                                  const vk_str *aud, size_t n_aud)
{
    if (caller->id == NULL)
        return false;
    /* a registered resource server (client add --introspect) */
    if (caller->introspect)
        return true;
    /* the client the token was issued to */
    if (vk_str_eq_lit(token_client, caller->id))
        return true;
    /* a client the token is meant for: by its id, or by one of its registered resources */
    for (size_t i = 0; i < n_aud; i++) {
        if (aud[i].len == 0)
            continue;
        if (vk_str_eq_lit(aud[i], caller->id) ||
            vk_scope_list_contains(vk_str_c(caller->resources), aud[i]))
            return true;
    }
    return false;
}
