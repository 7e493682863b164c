#include "auth/device.h"

#include <stdio.h>
#include <string.h>

#include "base/b64url.h"
#include "base/err.h"

#define ID_BYTES 16
#define MAX_USER_ID 64
#define CLOCK_SKEW 60

static bool user_id_ok(vk_str u)
{
    return u.len > 0 && u.len <= MAX_USER_ID && vk_str_is_visible_ascii(u, false) &&
           memchr(u.p, '.', u.len) == NULL;
}

/* The MAC over "device|" + the cookie's first three parts (`signed`). */
static void device_mac(const uint8_t key[VK_DIGEST_LEN], vk_str signed_part,
                       uint8_t mac[VK_DIGEST_LEN])
{
    char msg[VK_DEVICE_COOKIE_MAX + 8];
    int n = snprintf(msg, sizeof msg, "device|%.*s", (int)signed_part.len, signed_part.p);
    vk_hmac_sha256(key, VK_DIGEST_LEN, msg, n > 0 && (size_t)n < sizeof msg ? (size_t)n : 0, mac);
}

int vk_device_cookie_make(const uint8_t key[VK_DIGEST_LEN], const char *user_id, int64_t now,
                          char *out, size_t outsz)
{
    uint8_t rnd[ID_BYTES], mac[VK_DIGEST_LEN];
    char id[32], mac64[48];
    if (outsz > 0)
        out[0] = '\0';
    if (!user_id_ok(vk_str_c(user_id)))
        return VK_EINVAL;
    if (vk_rand(rnd, sizeof rnd) != VK_OK)
        return VK_ECRYPTO;
    vk_b64url_encode(rnd, sizeof rnd, id);
    int n = snprintf(out, outsz, "%lld.%s.%s", (long long)now, id, user_id);
    if (n < 0 || (size_t)n + 1 + vk_b64url_enc_len(VK_DIGEST_LEN) >= outsz) {
        if (outsz > 0)
            out[0] = '\0';
        return VK_ETOOBIG;
    }
    device_mac(key, (vk_str){out, (size_t)n}, mac);
    vk_b64url_encode(mac, sizeof mac, mac64);
    snprintf(out + n, outsz - (size_t)n, ".%s", mac64);
    return VK_OK;
}

int vk_device_cookie_check(const uint8_t key[VK_DIGEST_LEN], vk_str value, int64_t now,
                           int64_t ttl, vk_str *user_id, vk_str *id)
{
    vk_str rest = value, issued_s, id_s, user_s, mac_s, extra;
    uint8_t want[VK_DIGEST_LEN], got[VK_DIGEST_LEN];
    size_t glen = 0;
    uint64_t issued;
    *user_id = VK_STR_NULL;
    *id = VK_STR_NULL;
    if (value.len == 0 || value.len >= VK_DEVICE_COOKIE_MAX ||
        !vk_str_next_token(&rest, '.', &issued_s) || !vk_str_next_token(&rest, '.', &id_s) ||
        !vk_str_next_token(&rest, '.', &user_s) || !vk_str_next_token(&rest, '.', &mac_s) ||
        vk_str_next_token(&rest, '.', &extra))
        return VK_EINVAL;
    /* Exactly four non-empty parts (the tokenizer would skip empty ones). */
    size_t dots = 0;
    for (size_t i = 0; i < value.len; i++)
        if (value.p[i] == '.' && (++dots > 3 || i == 0 || i + 1 == value.len ||
                                  value.p[i + 1] == '.'))
            return VK_EINVAL;
    size_t signed_len = (size_t)(mac_s.p - value.p) - 1;
    if (!user_id_ok(user_s) || id_s.len != vk_b64url_enc_len(ID_BYTES))
        return VK_EINVAL;
    if (vk_b64url_decode(mac_s, got, sizeof got, &glen) != VK_OK || glen != VK_DIGEST_LEN)
        return VK_EINVAL;
    device_mac(key, (vk_str){value.p, signed_len}, want);
    bool good = vk_ct_eq_digest(want, got);
    vk_wipe(want, sizeof want);
    if (!good || vk_parse_u64(issued_s, 0, (uint64_t)INT64_MAX, &issued) != VK_OK)
        return VK_EINVAL;
    if (ttl <= 0 || (int64_t)issued > now + CLOCK_SKEW || now - (int64_t)issued >= ttl)
        return VK_EINVAL;
    *user_id = user_s;
    *id = id_s;
    return VK_OK;
}
