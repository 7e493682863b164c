#include "token/token.h"

#include <inttypes.h>
#include <string.h>

#include "base/b64url.h"

int vk_access_token_mint(const struct vk_jwk *signer, const struct vk_access_claims *c,
                         struct vk_buf *out, struct vk_err *err)
{
    struct vk_buf p;
    vk_buf_init(&p, 16 * 1024);
    /* RFC 9068 §2.2: iss, exp, aud, sub, client_id, iat, jti required; scope when granted. */
    int rc = vk_buf_append(&p, "{", 1);
    if (rc == VK_OK)
        rc = vk_buf_append_json_member(&p, "iss", c->iss, 1);
    if (rc == VK_OK)
        rc = vk_buf_append_json_member(&p, "sub", c->sub, 0);
    if (rc == VK_OK && c->n_aud == 1)
        rc = vk_buf_append_json_member(&p, "aud", c->aud[0], 0);
    if (rc == VK_OK && c->n_aud > 1) {
        rc = vk_buf_append_str(&p, ",\"aud\":[");
        for (size_t i = 0; rc == VK_OK && i < c->n_aud; i++) {
            rc = vk_buf_append_str(&p, i ? ",\"" : "\"");
            if (rc == VK_OK)
                rc = vk_buf_append_json(&p, vk_str_c(c->aud[i]));
            if (rc == VK_OK)
                rc = vk_buf_append(&p, "\"", 1);
        }
        if (rc == VK_OK)
            rc = vk_buf_append(&p, "]", 1);
    }
    if (rc == VK_OK)
        rc = vk_buf_append_str(&p, ",\"exp\":");
    if (rc == VK_OK)
        rc = vk_buf_append_i64(&p, c->exp);
    if (rc == VK_OK)
        rc = vk_buf_append_str(&p, ",\"iat\":");
    if (rc == VK_OK)
        rc = vk_buf_append_i64(&p, c->iat);
    if (rc == VK_OK)
        rc = vk_buf_append_json_member(&p, "jti", c->jti, 0);
    if (rc == VK_OK)
        rc = vk_buf_append_json_member(&p, "client_id", c->client_id, 0);
    if (rc == VK_OK && c->scope != NULL && c->scope[0] != '\0')
        rc = vk_buf_append_json_member(&p, "scope", c->scope, 0);
    /* RFC 8705 §3.1: the token works only with the certificate whose SHA-256 this is. */
    if (rc == VK_OK && c->cnf_x5t != NULL && c->cnf_x5t[0] != '\0') {
        rc = vk_buf_append_str(&p, ",\"cnf\":{\"x5t#S256\":\"");
        if (rc == VK_OK)
            rc = vk_buf_append_json(&p, vk_str_c(c->cnf_x5t));
        if (rc == VK_OK)
            rc = vk_buf_append_str(&p, "\"}");
    }
    if (rc == VK_OK)
        rc = vk_buf_append(&p, "}", 1);
    if (rc == VK_OK)
        rc = vk_jws_sign(signer, "at+jwt", vk_buf_str(&p), out, err);
    vk_buf_clear(&p);
    return rc;
}

int vk_jti_new(char out[VK_JTI_LEN + 1])
{
    return vk_rand_token(NULL, 16, out, VK_JTI_LEN + 1);
}

int vk_secret_new(const char *prefix, char *out, size_t outsz, uint8_t digest[VK_DIGEST_LEN])
{
    int rc = vk_rand_token(prefix, 32, out, outsz);
    if (rc == VK_OK)
        vk_sha256(out, strlen(out), digest);
    return rc;
}

void vk_secret_digest(struct vk_secret s, uint8_t digest[VK_DIGEST_LEN])
{
    vk_sha256(s.p, s.len, digest);
}
