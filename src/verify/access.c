/* The access-token check (RFC 9068 §4), one implementation for the server (introspection,
 * userinfo, revocation) and the library. Policy that differs between them -- audience, scope,
 * jti, revocation, sender constraint -- is left to the caller. */
#include "verify/verify.h"

#include <string.h>

/* exp as the stricter integer (fractions down), for telling an expired token from one that is
 * not valid yet after vk_jwt_check said VK_EEXPIRED. */
static bool expired(const json_t *payload, int64_t now, int64_t leeway)
{
    const json_t *v = json_object_get(payload, "exp");
    double exp;
    if (json_is_integer(v))
        exp = (double)json_integer_value(v);
    else if (json_is_real(v))
        exp = json_real_value(v);
    else
        return true;
    return exp <= (double)now - (double)leeway;
}

int vk_verify_access(const struct vk_jwks *keys, vk_str token, int64_t now, int64_t leeway,
                     const char *issuer, unsigned alg_mask, struct vk_jws *out,
                     struct vk_err *err)
{
    const json_t *iss;
    int rc;

    memset(out, 0, sizeof *out);
    if (token.p == NULL || token.len == 0)
        return VALETKEY_TOKEN_MALFORMED;
    /* RFC 8725 §3.1: the key that kid selects decides the algorithm (jose/jws.c); none, HMAC
     * and a header alg that differs from the key's never get this far. */
    rc = vk_jws_verify(keys, token, out, err);
    switch (rc) {
    case VK_OK:
        break;
    case VK_ENOMEM:
        return VALETKEY_ENOMEM;
    case VK_ENOTFOUND:
        return VALETKEY_TOKEN_UNKNOWN_KEY;
    case VK_ECRYPTO:
        return VALETKEY_TOKEN_SIGNATURE;
    default:
        return VALETKEY_TOKEN_MALFORMED;
    }
    if ((alg_mask & (1u << vk_jwk_alg(out->key))) == 0) {
        rc = VALETKEY_TOKEN_MALFORMED;
        vk_err_set(err, VK_EINVAL, "jwt: %s is not an accepted algorithm",
                   vk_alg_name(vk_jwk_alg(out->key)));
        goto fail;
    }
    /* RFC 9068 §4: typ must be at+jwt, so an id_token (typ JWT) or any other JWT signed by the
     * same key is not taken for an access token (RFC 8725 §3.11). */
    if (!vk_jwt_typ_is(out->header, "at+jwt")) {
        rc = VALETKEY_TOKEN_TYPE;
        vk_err_set(err, VK_EINVAL, "jwt: typ is not at+jwt");
        goto fail;
    }
    /* RFC 9068 §4, RFC 7519 §4.1.1: iss is compared exactly (no normalisation). */
    iss = json_object_get(out->payload, "iss");
    if (issuer == NULL || !json_is_string(iss) ||
        !vk_str_eq((vk_str){json_string_value(iss), json_string_length(iss)}, vk_str_c(issuer))) {
        rc = VALETKEY_TOKEN_ISSUER;
        vk_err_set(err, VK_EINVAL, "jwt: iss does not match");
        goto fail;
    }
    rc = vk_jwt_check(out, now, leeway, NULL, NULL, err);
    if (rc == VK_EEXPIRED) {
        rc = expired(out->payload, now, leeway) ? VALETKEY_TOKEN_EXPIRED
                                                  : VALETKEY_TOKEN_NOT_YET_VALID;
        goto fail;
    }
    if (rc != VK_OK) {
        rc = VALETKEY_TOKEN_CLAIMS; /* exp missing, a malformed date, iat in the future */
        goto fail;
    }
    return VALETKEY_OK;
fail:
    vk_jws_clear(out);
    return rc;
}
