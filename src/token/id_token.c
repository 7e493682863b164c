#include "token/token.h"

#include <inttypes.h>
#include <string.h>

#include "base/b64url.h"

int vk_id_token_mint(const struct vk_jwk *signer, const struct vk_id_claims *c,
                     vk_str access_token, struct vk_buf *out, struct vk_err *err)
{
    struct vk_buf p;
    vk_buf_init(&p, 16 * 1024);
    int rc = vk_buf_append(&p, "{", 1);
    if (rc == VK_OK)
        rc = vk_buf_append_json_member(&p, "iss", c->iss, 1);
    if (rc == VK_OK)
        rc = vk_buf_append_json_member(&p, "sub", c->sub, 0);
    if (rc == VK_OK)
        rc = vk_buf_append_json_member(&p, "aud", c->aud, 0);
    if (rc == VK_OK)
        rc = vk_buf_append_json_member(&p, "azp", c->aud, 0);
    if (rc == VK_OK)
        rc = vk_buf_printf(&p, ",\"exp\":%" PRId64 ",\"iat\":%" PRId64 ",\"auth_time\":%" PRId64,
                           c->exp, c->iat, c->auth_time);
    if (rc == VK_OK && c->nonce != NULL && c->nonce[0] != '\0')
        rc = vk_buf_append_json_member(&p, "nonce", c->nonce, 0);
    if (rc == VK_OK && access_token.len > 0) {
        uint8_t d[VK_DIGEST_LEN];
        char h[32];
        vk_sha256(access_token.p, access_token.len, d);
        vk_b64url_encode(d, VK_DIGEST_LEN / 2, h);
        rc = vk_buf_append_json_member(&p, "at_hash", h, 0);
    }
    if (rc == VK_OK)
        rc = vk_buf_append(&p, "}", 1);
    if (rc == VK_OK)
        rc = vk_jws_sign(signer, "JWT", vk_buf_str(&p), out, err);
    vk_buf_clear(&p);
    return rc;
}
