#include "base/crypto.h"

#include <pthread.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
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

/* OpenSSL 3's one-shot SHA256() fetches the algorithm on every call (a lock and a hash-table
 * lookup, more than the hashing of a short secret): fetch it once. */
static EVP_MD *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void sha256_fetch(void)
{
    sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

void vk_sha256(const void *data, size_t n, uint8_t out[VK_DIGEST_LEN])
{
    pthread_once(&sha256_once, sha256_fetch);
    if (sha256_md == NULL || EVP_Digest(data, n, out, NULL, sha256_md, NULL) != 1)
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

/* Random bytes for identifiers and tokens are drawn from a per-thread pool refilled 4 KiB at a
 * time from RAND_bytes: the same CSPRNG output, without a DRBG round trip per token. Bytes are
 * wiped from the pool as they are handed out, and the pool never leaves its thread. OpenSSL's
 * DRBG reseeds across fork; the pool would not, and valetkey does not fork. */
#define POOL_BYTES 4096

static _Thread_local struct {
    uint8_t buf[POOL_BYTES];
    size_t left;
} pool;

static int pool_take(uint8_t *out, size_t n)
{
    if (n > POOL_BYTES)
        return vk_rand(out, n);
    if (pool.left < n) {
        if (vk_rand(pool.buf, POOL_BYTES) != VK_OK)
            return VK_ECRYPTO;
        pool.left = POOL_BYTES;
    }
    uint8_t *p = pool.buf + POOL_BYTES - pool.left;
    memcpy(out, p, n);
    OPENSSL_cleanse(p, n);
    pool.left -= n;
    return VK_OK;
}

int vk_rand_token(const char *prefix, size_t bytes, char *out, size_t outsz)
{
    uint8_t raw[64];
    size_t plen = prefix != NULL ? strlen(prefix) : 0;
    if (bytes > sizeof raw || plen + vk_b64url_enc_len(bytes) + 1 > outsz)
        return VK_ETOOBIG;
    if (pool_take(raw, bytes) != VK_OK)
        return VK_ECRYPTO;
    if (plen > 0)
        memcpy(out, prefix, plen);
    vk_b64url_encode(raw, bytes, out + plen);
    vk_wipe(raw, sizeof raw);
    return VK_OK;
}

void vk_hmac_sha256(const uint8_t *key, size_t klen, const void *data, size_t n,
                    uint8_t out[VK_DIGEST_LEN])
{
    unsigned int len = VK_DIGEST_LEN;
    HMAC(EVP_sha256(), key, (int)klen, data, n, out, &len);
}

static void seal_key(struct vk_secret s, const char *label, uint8_t key[VK_DIGEST_LEN])
{
    vk_hmac_sha256((const uint8_t *)s.p, s.len, label, strlen(label), key);
}

int vk_seal(struct vk_secret key_secret, const char *label, const uint8_t *in, size_t n,
            uint8_t *out, size_t outsz, size_t *outlen)
{
    uint8_t key[VK_DIGEST_LEN];
    int len = 0, rc = VK_ECRYPTO;
    *outlen = 0;
    if (n > 0x7fffffff - VK_SEAL_OVERHEAD || outsz < n + VK_SEAL_OVERHEAD)
        return VK_ETOOBIG;
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    if (ctx == NULL)
        return VK_ENOMEM;
    seal_key(key_secret, label, key);
    if (vk_rand(out, 12) == VK_OK &&
        EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, out) == 1 &&
        EVP_EncryptUpdate(ctx, out + 12, &len, in, (int)n) == 1 &&
        EVP_EncryptFinal_ex(ctx, out + 12 + len, &len) == 1 &&
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16, out + 12 + n) == 1) {
        *outlen = n + VK_SEAL_OVERHEAD;
        rc = VK_OK;
    }
    EVP_CIPHER_CTX_free(ctx);
    vk_wipe(key, sizeof key);
    return rc;
}

int vk_open(struct vk_secret key_secret, const char *label, const uint8_t *in, size_t n,
            uint8_t *out, size_t outsz, size_t *outlen)
{
    uint8_t key[VK_DIGEST_LEN], tag[16];
    int len = 0, rc = VK_ECRYPTO;
    *outlen = 0;
    if (n < VK_SEAL_OVERHEAD || outsz < n - VK_SEAL_OVERHEAD || n > 0x7fffffff)
        return VK_EINVAL;
    size_t m = n - VK_SEAL_OVERHEAD;
    memcpy(tag, in + 12 + m, 16);
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    if (ctx == NULL)
        return VK_ENOMEM;
    seal_key(key_secret, label, key);
    if (EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, in) == 1 &&
        EVP_DecryptUpdate(ctx, out, &len, in + 12, (int)m) == 1 &&
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, 16, tag) == 1 &&
        EVP_DecryptFinal_ex(ctx, out + len, &len) == 1) {
        *outlen = m;
        rc = VK_OK;
    } else {
        vk_wipe(out, m);
    }
    EVP_CIPHER_CTX_free(ctx);
    vk_wipe(key, sizeof key);
    return rc;
}
