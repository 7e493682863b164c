#include "grant/grant.h"

#include "base/b64url.h"
#include "base/crypto.h"

static bool unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '.' || c == '_' || c == '~';
}

bool vk_pkce_verifier_syntax_ok(vk_str v)
{
    if (v.len < 43 || v.len > 128)
        return false;
    for (size_t i = 0; i < v.len; i++)
        if (!unreserved((unsigned char)v.p[i]))
            return false;
    return true;
}

int vk_pkce_check_challenge(vk_str challenge, vk_str method, struct vk_oauth_err *oe)
{
    /* OAuth 2.1 §4.1.1 / checklist #11: PKCE for every client. */
    if (challenge.len == 0)
        return vk_oauth_fail(oe, 400, "invalid_request", "code_challenge is required (PKCE)");
    /* RFC 7636 §4.3: an absent method means "plain"; only S256 is accepted (checklist #12). */
    if (!vk_str_eq_lit(method, "S256"))
        return vk_oauth_fail(oe, 400, "invalid_request",
                             "code_challenge_method must be S256");
    uint8_t raw[32];
    size_t n = 0;
    if (challenge.len != 43 || vk_b64url_decode(challenge, raw, sizeof raw, &n) != VK_OK ||
        n != 32)
        return vk_oauth_fail(oe, 400, "invalid_request",
                             "code_challenge must be the base64url SHA-256 of the verifier");
    return VK_OK;
}

bool vk_pkce_s256_ok(vk_str verifier, vk_str challenge)
{
    uint8_t d[VK_DIGEST_LEN], want[VK_DIGEST_LEN];
    size_t n = 0;
    if (!vk_pkce_verifier_syntax_ok(verifier) || challenge.len != 43)
        return false;
    if (vk_b64url_decode(challenge, want, sizeof want, &n) != VK_OK || n != VK_DIGEST_LEN)
        return false;
    vk_sha256(verifier.p, verifier.len, d);
    return vk_ct_eq_digest(d, want);
}
