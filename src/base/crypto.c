#include "base/crypto.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

/* AES-256-GCM with a 96-bit nonce; out = ciphertext || tag (n + 16 bytes). */
static int gcm_encrypt(const uint8_t key[32], const uint8_t nonce[12], vk_str aad,
                       const uint8_t *in, size_t n, uint8_t *out)
{
    int len = 0, rc = VK_ECRYPTO;
    if (n > 0x7fffffff - 64 || aad.len > 0x7fffffff)
        return VK_ETOOBIG;
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    if (ctx == NULL)
        return VK_ENOMEM;
    if (EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, nonce) == 1 &&
        (aad.len == 0 ||
         EVP_EncryptUpdate(ctx, NULL, &len, (const uint8_t *)aad.p, (int)aad.len) == 1) &&
        EVP_EncryptUpdate(ctx, out, &len, in, (int)n) == 1 &&
        EVP_EncryptFinal_ex(ctx, out + len, &len) == 1 &&
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16, out + n) == 1)
        rc = VK_OK;
    EVP_CIPHER_CTX_free(ctx);
    return rc;
}

/* The inverse: in = ciphertext || tag (m + 16 bytes) -> out (m bytes). On any failure out is
 * wiped: nothing unauthenticated leaves this function. */
static int gcm_decrypt(const uint8_t key[32], const uint8_t nonce[12], vk_str aad,
                       const uint8_t *in, size_t m, uint8_t *out)
{
    uint8_t tag[16];
    int len = 0, rc = VK_ECRYPTO;
    if (m > 0x7fffffff - 64 || aad.len > 0x7fffffff)
        return VK_ETOOBIG;
    memcpy(tag, in + m, 16);
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    if (ctx == NULL)
        return VK_ENOMEM;
    if (EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, nonce) == 1 &&
        (aad.len == 0 ||
         EVP_DecryptUpdate(ctx, NULL, &len, (const uint8_t *)aad.p, (int)aad.len) == 1) &&
        EVP_DecryptUpdate(ctx, out, &len, in, (int)m) == 1 &&
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, 16, tag) == 1 &&
        EVP_DecryptFinal_ex(ctx, out + len, &len) == 1)
        rc = VK_OK;
    else
        vk_wipe(out, m);
    EVP_CIPHER_CTX_free(ctx);
    return rc;
}

int vk_seal(struct vk_secret key_secret, const char *label, const uint8_t *in, size_t n,
            uint8_t *out, size_t outsz, size_t *outlen)
{
    uint8_t key[VK_DIGEST_LEN];
    *outlen = 0;
    if (n > 0x7fffffff - VK_SEAL_OVERHEAD || outsz < n + VK_SEAL_OVERHEAD)
        return VK_ETOOBIG;
    if (vk_rand(out, 12) != VK_OK)
        return VK_ECRYPTO;
    seal_key(key_secret, label, key);
    int rc = gcm_encrypt(key, out, VK_STR_NULL, in, n, out + 12);
    vk_wipe(key, sizeof key);
    if (rc == VK_OK)
        *outlen = n + VK_SEAL_OVERHEAD;
    return rc;
}

int vk_open(struct vk_secret key_secret, const char *label, const uint8_t *in, size_t n,
            uint8_t *out, size_t outsz, size_t *outlen)
{
    uint8_t key[VK_DIGEST_LEN];
    *outlen = 0;
    if (n < VK_SEAL_OVERHEAD || outsz < n - VK_SEAL_OVERHEAD || n > 0x7fffffff)
        return VK_EINVAL;
    size_t m = n - VK_SEAL_OVERHEAD;
    seal_key(key_secret, label, key);
    int rc = gcm_decrypt(key, in, VK_STR_NULL, in + 12, m, out);
    vk_wipe(key, sizeof key);
    if (rc == VK_OK)
        *outlen = m;
    return rc;
}

/* --- the master key ------------------------------------------------------------------------ */

static void kek_set(struct vk_kek *k, const uint8_t key[VK_KEK_LEN])
{
    static const char label[] = "valetkey/kek-id/v1"; /* sizeof includes the 0 separator */
    uint8_t buf[sizeof label + VK_KEK_LEN], d[VK_DIGEST_LEN];
    memcpy(k->key, key, VK_KEK_LEN);
    memcpy(buf, label, sizeof label);
    memcpy(buf + sizeof label, key, VK_KEK_LEN);
    vk_sha256(buf, sizeof buf, d);
    vk_hex(d, VK_KEK_ID_LEN / 2, k->id);
    vk_wipe(buf, sizeof buf);
}

static bool is_space(uint8_t c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static int hexval(uint8_t c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int vk_kek_parse(const uint8_t *in, size_t n, struct vk_kek *out)
{
    uint8_t raw[48];
    size_t got = 0;
    int rc = VK_EINVAL;
    memset(out, 0, sizeof *out);
    /* Exactly 32 bytes is the raw form (`openssl rand 32`): taken as is, even if some of the
     * bytes happen to look like whitespace. No text form has that length. */
    if (n == VK_KEK_LEN) {
        kek_set(out, in);
        return VK_OK;
    }
    while (n > 0 && is_space(in[0])) {
        in++;
        n--;
    }
    while (n > 0 && is_space(in[n - 1]))
        n--;
    if (n == 2 * VK_KEK_LEN) { /* `openssl rand -hex 32` */
        rc = VK_OK;
        for (size_t i = 0; i < VK_KEK_LEN && rc == VK_OK; i++) {
            int hi = hexval(in[2 * i]), lo = hexval(in[2 * i + 1]);
            if (hi < 0 || lo < 0)
                rc = VK_EINVAL;
            else
                raw[i] = (uint8_t)(hi << 4 | lo);
        }
        got = VK_KEK_LEN;
    } else if (n == 44) { /* `openssl rand -base64 32` */
        rc = vk_b64_decode((vk_str){(const char *)in, n}, raw, sizeof raw, &got);
    } else if (n == 43) { /* `valetkey key new-master-key` */
        rc = vk_b64url_decode((vk_str){(const char *)in, n}, raw, sizeof raw, &got);
    }
    if (rc == VK_OK && got == VK_KEK_LEN)
        kek_set(out, raw);
    else
        rc = VK_EINVAL;
    vk_wipe(raw, sizeof raw);
    return rc;
}

int vk_kek_load_file(const char *path, struct vk_kek *out, struct vk_err *err)
{
    uint8_t buf[VK_KEK_FILE_MAX + 1];
    size_t n = 0;
    struct stat sb;
    int rc = VK_OK;
    memset(out, 0, sizeof *out);
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return vk_err_set(err, VK_EIO, "cannot open the master key file %s: %s", path,
                          strerror(errno));
    /* Checked on the open descriptor, so what is checked is what is read. */
    if (fstat(fd, &sb) != 0) {
        rc = vk_err_set(err, VK_EIO, "cannot stat the master key file %s: %s", path,
                        strerror(errno));
        goto out;
    }
    if (!S_ISREG(sb.st_mode)) {
        rc = vk_err_set(err, VK_EINVAL, "the master key file %s is not a regular file", path);
        goto out;
    }
    if (sb.st_uid != geteuid() && sb.st_uid != 0) {
        rc = vk_err_set(err, VK_EINVAL,
                        "the master key file %s is owned by uid %u, not by this user (uid %u) "
                        "or root: chown it",
                        path, (unsigned)sb.st_uid, (unsigned)geteuid());
        goto out;
    }
    if ((sb.st_mode & 077) != 0) {
        rc = vk_err_set(err, VK_EINVAL,
                        "the master key file %s is open to group or others (mode %04o): "
                        "run chmod 600 %s",
                        path, (unsigned)(sb.st_mode & 07777), path);
        goto out;
    }
    for (;;) {
        ssize_t r = read(fd, buf + n, sizeof buf - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = vk_err_set(err, VK_EIO, "cannot read the master key file %s: %s", path,
                            strerror(errno));
            goto out;
        }
        if (r == 0)
            break;
        n += (size_t)r;
        if (n == sizeof buf) {
            rc = vk_err_set(err, VK_ETOOBIG, "the master key file %s is too big", path);
            goto out;
        }
    }
    if (vk_kek_parse(buf, n, out) != VK_OK)
        rc = vk_err_set(err, VK_EINVAL,
                        "the master key file %s does not hold a master key (32 random bytes, "
                        "raw, as 64 hex digits or as base64): make one with "
                        "`valetkey key new-master-key --out FILE`",
                        path);
out:
    vk_wipe(buf, sizeof buf);
    close(fd);
    return rc;
}

int vk_kek_generate(struct vk_kek *out)
{
    uint8_t raw[VK_KEK_LEN];
    memset(out, 0, sizeof *out);
    if (vk_rand(raw, sizeof raw) != VK_OK)
        return VK_ECRYPTO;
    kek_set(out, raw);
    vk_wipe(raw, sizeof raw);
    return VK_OK;
}

void vk_kek_encode(const struct vk_kek *k, char out[44])
{
    vk_b64url_encode(k->key, VK_KEK_LEN, out);
}

void vk_kek_derive(const struct vk_kek *k, const char *label, const uint8_t *in, size_t n,
                   uint8_t out[VK_DIGEST_LEN])
{
    uint8_t msg[256];
    size_t ln = strlen(label) + 1; /* with the 0 that separates label and input */
    if (ln + n > sizeof msg) {
        /* Never a predictable key: whatever it would protect fails closed. */
        if (vk_rand(out, VK_DIGEST_LEN) != VK_OK)
            memset(out, 0xa5, VK_DIGEST_LEN);
        return;
    }
    memcpy(msg, label, ln);
    if (n > 0)
        memcpy(msg + ln, in, n);
    vk_hmac_sha256(k->key, VK_KEK_LEN, msg, ln + n, out);
    vk_wipe(msg, sizeof msg);
}

void vk_kek_clear(struct vk_kek *k)
{
    if (k != NULL)
        vk_wipe(k, sizeof *k);
}

/* Decrypting with the wrong key is detected by the GCM tag; a derived key means the master key
 * never enters AES itself. */
int vk_kek_wrap(const struct vk_kek *k, vk_str aad, const uint8_t *in, size_t n, uint8_t *out,
                size_t outsz, size_t *outlen)
{
    uint8_t key[VK_DIGEST_LEN];
    *outlen = 0;
    if (n > 0x7fffffff - VK_WRAP_OVERHEAD || outsz < n + VK_WRAP_OVERHEAD)
        return VK_ETOOBIG;
    out[0] = VK_WRAP_VERSION;
    /* A random 96-bit nonce: a master key wraps a few keys per rotation, far below the 2^32
     * messages NIST SP 800-38D §8.3 allows for random nonces. */
    if (vk_rand(out + 1, 12) != VK_OK)
        return VK_ECRYPTO;
    vk_kek_derive(k, "valetkey/key-wrap/v1", NULL, 0, key);
    int rc = gcm_encrypt(key, out + 1, aad, in, n, out + 13);
    vk_wipe(key, sizeof key);
    if (rc == VK_OK)
        *outlen = n + VK_WRAP_OVERHEAD;
    return rc;
}

int vk_kek_unwrap(const struct vk_kek *k, vk_str aad, const uint8_t *in, size_t n, uint8_t *out,
                  size_t outsz, size_t *outlen)
{
    uint8_t key[VK_DIGEST_LEN];
    *outlen = 0;
    if (n < VK_WRAP_OVERHEAD || n > 0x7fffffff || outsz < n - VK_WRAP_OVERHEAD)
        return VK_EINVAL;
    if (in[0] != VK_WRAP_VERSION)
        return VK_ECRYPTO;
    size_t m = n - VK_WRAP_OVERHEAD;
    vk_kek_derive(k, "valetkey/key-wrap/v1", NULL, 0, key);
    int rc = gcm_decrypt(key, in + 1, aad, in + 13, m, out);
    vk_wipe(key, sizeof key);
    if (rc == VK_OK)
        *outlen = m;
    return rc;
}
