#include "token/token.h"

#include <inttypes.h>
#include <string.h>

#include "base/b64url.h"

static int add(struct vk_buf *b, const char *name, const char *v)
{
    int rc = vk_buf_printf(b, ",\"%s\":\"", name);
    if (rc == VK_OK)
        rc = vk_buf_append_json(b, vk_str_c(v));
    if (rc == VK_OK)
        rc = vk_buf_append(b, "\"", 1);
    return rc;
}

int vk_id_token_mint(const struct vk_jwk *signer, const struct vk_id_claims *c,
                     vk_str access_token, struct vk_buf *out, struct vk_err *err)
{
    struct vk_buf p;
    vk_buf_init(&p, 16 * 1024);
    int rc = vk_buf_append_str(&p, "{\"iss\":\"");
    if (rc == VK_OK)
        rc = vk_buf_append_json(&p, vk_str_c(c->iss));
    if (rc == VK_OK)
        rc = vk_buf_append(&p, "\"", 1);
    if (rc == VK_OK)
        rc = add(&p, "sub", c->sub);
    if (rc == VK_OK)
        rc = add(&p, "aud", c->aud);
    if (rc == VK_OK)
        rc = add(&p, "azp", c->aud);
    if (rc == VK_OK)
        rc = vk_buf_printf(&p, ",\"exp\":%" PRId64 ",\"iat\":%" PRId64 ",\"auth_time\":%" PRId64,
                           c->exp, c->iat, c->auth_time);
    if (rc == VK_OK && c->nonce != NULL && c->nonce[0] != '\0')
        rc = add(&p, "nonce", c->nonce);
    if (rc == VK_OK && access_token.len > 0) {
        uint8_t d[VK_DIGEST_LEN];
        char h[32];
        vk_sha256(access_token.p, access_token.len, d);
        vk_b64url_encode(d, VK_DIGEST_LEN / 2, h);
        rc = add(&p, "at_hash", h);
    }
    if (rc == VK_OK)
        rc = vk_buf_append(&p, "}", 1);
    if (rc == VK_OK)
        rc = vk_jws_sign(signer, "JWT", vk_buf_str(&p), out, err);
    vk_buf_clear(&p);
    return rc;
}
