/* Client authentication by TLS certificate (RFC 8705 §2). */
#include "auth/auth.h"

#include <string.h>

bool vk_client_is_mtls(const struct vk_client *c)
{
    return c->auth_method != NULL && (strcmp(c->auth_method, VK_AUTH_TLS_CLIENT) == 0 ||
                                      strcmp(c->auth_method, VK_AUTH_SELF_SIGNED) == 0);
}

bool vk_client_is_confidential(const struct vk_client *c)
{
    return c->has_secret || vk_client_is_mtls(c);
}

int vk_client_cert_check(const struct vk_client *c, const struct vk_x509_ca *ca,
                         const struct vk_client_cert *cert, int64_t now, struct vk_err *why)
{
    if (cert == NULL || cert->der.len == 0)
        return vk_err_set(why, VK_EINVAL, "no client certificate");
    if (c->auth_method != NULL && strcmp(c->auth_method, VK_AUTH_TLS_CLIENT) == 0) {
        /* §2.1: a certificate from a trusted CA, and the subject (or SAN) registered for the
         * client: the CA vouches for the name, the registration binds the name to the client. */
        enum vk_x509_name_kind k = vk_x509_name_kind_from_str(c->tls_auth_kind);
        if (k == VK_X509_NONE)
            return vk_err_set(why, VK_EINVAL, "the client has no registered subject");
        int rc = vk_x509_verify(ca, cert->der, cert->chain, cert->n_chain, now, why);
        if (rc != VK_OK)
            return rc;
        if (!vk_x509_name_matches(cert->der, k, c->tls_auth_value))
            return vk_err_set(why, VK_EINVAL, "the certificate's %s is not the registered one",
                              vk_x509_name_kind_str(k));
        return VK_OK;
    }
    if (c->auth_method != NULL && strcmp(c->auth_method, VK_AUTH_SELF_SIGNED) == 0) {
        /* §2.2: exactly one of the certificates the client registered, however it was issued.
         * Its validity period is held to as well: a registration does not make an expired
         * certificate good (docs/security.md). */
        if (!vk_x509_jwks_contains(vk_str_c(c->jwks), cert->der))
            return vk_err_set(why, VK_EINVAL, "not one of the client's registered certificates");
        return vk_x509_check_validity(cert->der, now, why);
    }
    return vk_err_set(why, VK_EINVAL, "the client does not authenticate by certificate");
}
