#include "base/crypto.h"

#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "base/b64url.h"
#include "base/err.h"

int vk_rand(uint8_t *buf, size_t n)
{
    if (n > 0x7fffffff || RAND_bytes(buf, (int)n) != 1)
        return VK_ECRYPTO;
    return VK_OK;
}

void vk_sha256(const void *data, size_t n, uint8_t out[VK_DIGEST_LEN])
{
    SHA256(data, n, out);
}

bool vk_ct_eq_digest(const uint8_t a[VK_DIGEST_LEN], const uint8_t b[VK_DIGEST_LEN])
{
    return CRYPTO_memcmp(a, b, VK_DIGEST_LEN) == 0;
}

bool vk_ct_eq_secret(struct vk_secret a, struct vk_secret b)
{
    uint8_t da[VK_DIGEST_LEN], db[VK_DIGEST_LEN];
    vk_sha256(a.p, a.len, da);
    vk_sha256(b.p, b.len, db);
    return vk_ct_eq_digest(da, db);
}

void vk_wipe(void *p, size_t n)
{
    if (p != NULL && n > 0)
        OPENSSL_cleanse(p, n);
}

void vk_hex(const uint8_t *in, size_t n, char *out)
{
    static const char hx[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hx[in[i] >> 4];
        out[2 * i + 1] = hx[in[i] & 15];
    }
    out[2 * n] = '\0';
}

struct vk_fp vk_fp(struct vk_secret s)
{
    struct vk_fp fp;
    uint8_t d[VK_DIGEST_LEN];
    vk_sha256(s.p, s.len, d);
    vk_hex(d, 6, fp.hex);
    return fp;
}

int vk_rand_token(const char *prefix, size_t bytes, char *out, size_t outsz)
{
    uint8_t raw[64];
    size_t plen = prefix != NULL ? strlen(prefix) : 0;
    if (bytes > sizeof raw || plen + vk_b64url_enc_len(bytes) + 1 > outsz)
        return VK_ETOOBIG;
    if (vk_rand(raw, bytes) != VK_OK)
        return VK_ECRYPTO;
    if (plen > 0)
        memcpy(out, prefix, plen);
    vk_b64url_encode(raw, bytes, out + plen);
    vk_wipe(raw, sizeof raw);
    return VK_OK;
}
