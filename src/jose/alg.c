/* JOSE algorithm names (RFC 7518 §3.1, RFC 8037 §3.1). Only the four algorithms valetkey
 * implements have names here: "none" and the HMAC family are not merely rejected later, they
 * do not exist (RFC 8725 §3.1, §3.2). */
#include "jose/jose.h"

#include <stddef.h>

static const struct {
    enum vk_alg alg;
    const char *name;
} alg_names[] = {
    {VK_ALG_ES256, "ES256"},
    {VK_ALG_RS256, "RS256"},
    {VK_ALG_PS256, "PS256"},
    {VK_ALG_EDDSA, "EdDSA"},
};

const char *vk_alg_name(enum vk_alg alg)
{
    for (size_t i = 0; i < sizeof alg_names / sizeof alg_names[0]; i++)
        if (alg_names[i].alg == alg)
            return alg_names[i].name;
    return "invalid";
}

enum vk_alg vk_alg_from_name(vk_str name)
{
    /* RFC 7515 §4.1.1: alg values are case-sensitive. */
    for (size_t i = 0; i < sizeof alg_names / sizeof alg_names[0]; i++)
        if (vk_str_eq_lit(name, alg_names[i].name))
            return alg_names[i].alg;
    return VK_ALG_INVALID;
}
