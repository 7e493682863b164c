/* Argon2id password hashing. The only file that includes <argon2.h> (scripts/check-layers.sh). */
#include "auth/password.h"

#include <stdint.h>
#include <string.h>

#include <argon2.h>

#include "base/err.h"
#include "base/str.h"

/* Current parameters (RFC 9106 §4 second recommendation scaled to the OWASP baseline: Argon2id,
 * m = 19 MiB, t = 2, p = 1). Raising them makes vk_password_needs_rehash() true for old hashes,
 * which keep verifying. */
#define CUR_T        2u
#define CUR_M        19456u /* KiB */
#define CUR_P        1u
#define CUR_SALT_LEN 16u
#define CUR_HASH_LEN 32u

/* Bounds for hashes we are willing to verify: a damaged or planted row in the store must not
 * make one login allocate gigabytes or run for minutes. */
#define MAX_M        (1024u * 1024u) /* 1 GiB */
#define MAX_T        64u
#define MAX_P        16u
#define MIN_SALT_LEN 8u
#define MAX_SALT_LEN 64u
#define MIN_HASH_LEN 16u
#define MAX_HASH_LEN 64u

/* A well-formed hash at the current parameters whose salt and hash are all zero bytes: no
 * password matches it (that would be a preimage of a zero Argon2id output). Verifying against it
 * costs exactly what a real verification costs. */
static const char dummy_encoded[] = "$argon2id$v=19$m=19456,t=2,p=1$"
                                    "AAAAAAAAAAAAAAAAAAAAAA$"
                                    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

struct phc {
    uint64_t m, t, p;
    size_t salt_len, hash_len; /* decoded lengths in bytes */
};

/* Splits `rest` at the first `sep`: *tok is what came before it, rest what comes after. */
static bool take_until(vk_str *rest, char sep, vk_str *tok)
{
    const char *e = memchr(rest->p, sep, rest->len);
    if (e == NULL)
        return false;
    tok->p = rest->p;
    tok->len = (size_t)(e - rest->p);
    rest->p = e + 1;
    rest->len -= tok->len + 1;
    return true;
}

static bool take_lit(vk_str *rest, const char *lit)
{
    size_t n = strlen(lit);
    if (rest->len < n || memcmp(rest->p, lit, n) != 0)
        return false;
    rest->p += n;
    rest->len -= n;
    return true;
}

/* A decimal parameter in [min, max], canonical (no leading zero), as libargon2 writes them. */
static bool param(vk_str s, uint64_t min, uint64_t max, uint64_t *out)
{
    if (s.len > 1 && s.p[0] == '0')
        return false;
    return vk_parse_u64(s, min, max, out) == VK_OK;
}

/* Unpadded standard base64 as libargon2 writes it; *n is the decoded length. Trailing bits are
 * checked by libargon2's decoder. */
static bool b64_field(vk_str s, size_t min, size_t max, size_t *n)
{
    if (s.len % 4 == 1)
        return false;
    for (size_t i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char)s.p[i];
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  c == '+' || c == '/';
        if (!ok)
            return false;
    }
    *n = s.len / 4 * 3 + (s.len % 4 != 0 ? s.len % 4 - 1 : 0);
    return *n >= min && *n <= max;
}

/* Strict parse of "$argon2id$v=19$m=M,t=T,p=P$SALT$HASH". Anything else (other variants, other
 * versions, missing fields, extra fields, out-of-bounds parameters) is malformed. */
static bool parse_phc(const char *encoded, struct phc *out)
{
    vk_str rest, tok;
    size_t len;
    memset(out, 0, sizeof *out);
    if (encoded == NULL)
        return false;
    len = strnlen(encoded, 2 * VK_PASSWORD_HASH_MAX);
    if (len >= 2 * VK_PASSWORD_HASH_MAX)
        return false;
    rest = (vk_str){encoded, len};
    if (!take_lit(&rest, "$argon2id$v=19$m=") || !take_until(&rest, ',', &tok) ||
        !param(tok, 1, MAX_M, &out->m))
        return false;
    if (!take_lit(&rest, "t=") || !take_until(&rest, ',', &tok) || !param(tok, 1, MAX_T, &out->t))
        return false;
    if (!take_lit(&rest, "p=") || !take_until(&rest, '$', &tok) || !param(tok, 1, MAX_P, &out->p))
        return false;
    /* RFC 9106 §3.1: m >= 8p. */
    if (out->m < 8 * out->p)
        return false;
    if (!take_until(&rest, '$', &tok) ||
        !b64_field(tok, MIN_SALT_LEN, MAX_SALT_LEN, &out->salt_len))
        return false;
    return b64_field(rest, MIN_HASH_LEN, MAX_HASH_LEN, &out->hash_len);
}

enum vk_password_problem vk_password_check_new(struct vk_secret pw)
{
    if (pw.p == NULL || pw.len == 0)
        return VK_PASSWORD_EMPTY;
    if (pw.len > VK_PASSWORD_MAX_LEN)
        return VK_PASSWORD_TOO_LONG;
    if (pw.len < VK_PASSWORD_MIN_LEN)
        return VK_PASSWORD_TOO_SHORT;
    if (memchr(pw.p, '\0', pw.len) != NULL)
        return VK_PASSWORD_HAS_NUL;
    return VK_PASSWORD_OK;
}

int vk_password_hash(struct vk_secret pw, char *out, size_t outsz)
{
    uint8_t salt[CUR_SALT_LEN];
    int rc, arc;

    if (out == NULL || outsz == 0 || (pw.p == NULL && pw.len > 0))
        return VK_EINVAL;
    out[0] = '\0';
    if (pw.len > VK_PASSWORD_MAX_LEN || outsz < VK_PASSWORD_HASH_MAX) {
        rc = VK_ETOOBIG;
        goto out;
    }
    rc = vk_rand(salt, sizeof salt);
    if (rc != VK_OK)
        goto out;
    arc = argon2id_hash_encoded(CUR_T, CUR_M, CUR_P, pw.p != NULL ? pw.p : "", pw.len, salt,
                                sizeof salt, CUR_HASH_LEN, out, outsz);
    if (arc == ARGON2_OK)
        rc = VK_OK;
    else if (arc == ARGON2_MEMORY_ALLOCATION_ERROR)
        rc = VK_ENOMEM;
    else if (arc == ARGON2_ENCODING_FAIL)
        rc = VK_ETOOBIG;
    else
        rc = VK_ECRYPTO;
out:
    if (rc != VK_OK)
        vk_wipe(out, outsz);
    vk_wipe(salt, sizeof salt);
    return rc;
}

bool vk_password_verify(const char *encoded, struct vk_secret pw)
{
    struct phc phc;

    if (pw.len > VK_PASSWORD_MAX_LEN || (pw.p == NULL && pw.len > 0))
        return false;
    if (!parse_phc(encoded, &phc)) {
        vk_password_dummy_verify(pw);
        return false;
    }
    /* libargon2 recomputes the hash with the recorded parameters and salt and compares it in
     * constant time (argon2_compare). */
    return argon2id_verify(encoded, pw.p != NULL ? pw.p : "", pw.len) == ARGON2_OK;
}

bool vk_password_needs_rehash(const char *encoded)
{
    struct phc phc;
    if (!parse_phc(encoded, &phc))
        return true;
    return phc.m < CUR_M || phc.t < CUR_T || phc.salt_len < CUR_SALT_LEN ||
           phc.hash_len < CUR_HASH_LEN;
}

void vk_password_dummy_verify(struct vk_secret pw)
{
    size_t n = pw.len <= VK_PASSWORD_MAX_LEN ? pw.len : VK_PASSWORD_MAX_LEN;
    /* The result is meaningless; only the time spent matters. */
    (void)argon2id_verify(dummy_encoded, pw.p != NULL ? pw.p : "", pw.p != NULL ? n : 0);
}
