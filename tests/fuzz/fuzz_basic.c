/* Fuzz driver: the Authorization header value (src/http/headers.c), parsed before the client is
 * known. The input is the header value as libmicrohttpd would hand it over.
 *
 * Invariants, from headers.h:
 *   Basic:  VK_ENOTFOUND exactly when the value does not start with "Basic" (any case) followed
 *           by a space or tab; on VK_OK the user-id is non-empty, neither part holds a NUL byte
 *           or exceeds VK_MAX_PARAM_LEN, and encoding them again (form-urlencode, join with ':',
 *           base64) parses back to the same bytes; on error both outputs are empty.
 *   Bearer: VK_ENOTFOUND exactly when the scheme is not "Bearer"; on VK_OK the token is a
 *           non-empty slice of the input of at most VK_MAX_JWT_LEN bytes, all b64token
 *           characters (RFC 6750 §2.1). */
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "base/arena.h"
#include "base/err.h"
#include "base/limits.h"
#include "http/form.h"
#include "http/headers.h"

#include "fuzz_common.h"

static bool scheme_is(const uint8_t *d, size_t n, const char *scheme)
{
    size_t k = strlen(scheme);
    return n > k && strncasecmp((const char *)d, scheme, k) == 0 && (d[k] == ' ' || d[k] == '\t');
}

static size_t b64_encode(const uint8_t *in, size_t n, char *out)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < n)
            v |= in[i + 2];
        out[o++] = tab[v >> 18 & 63];
        out[o++] = tab[v >> 12 & 63];
        out[o++] = i + 1 < n ? tab[v >> 6 & 63] : '=';
        out[o++] = i + 2 < n ? tab[v & 63] : '=';
    }
    return o;
}

static bool clean(vk_str s)
{
    return s.len <= VK_MAX_PARAM_LEN && (s.len == 0 || (s.p != NULL && memchr(s.p, 0, s.len) == NULL));
}

/* Builds "Basic base64(enc(user) ':' enc(pass))" and checks it parses back to the same bytes. */
static void check_basic_roundtrip(struct vk_arena *a, vk_str user, vk_str pass)
{
    char *eu = vk_form_encode(a, user), *ep = vk_form_encode(a, pass);
    CHECK(eu != NULL && ep != NULL);
    size_t lu = strlen(eu), lp = strlen(ep), lraw = lu + 1 + lp;
    size_t lb64 = (lraw + 2) / 3 * 4;
    if (lb64 > 4 * VK_MAX_PARAM_LEN)
        return; /* legitimately over the limit */
    uint8_t *raw = vk_arena_alloc(a, lraw);
    char *hdr = vk_arena_alloc(a, 6 + lb64);
    CHECK(raw != NULL && hdr != NULL);
    memcpy(raw, eu, lu);
    raw[lu] = ':';
    memcpy(raw + lu + 1, ep, lp);
    memcpy(hdr, "Basic ", 6);
    size_t n = 6 + b64_encode(raw, lraw, hdr + 6);
    vk_str u2, p2;
    int rc = vk_http_basic_parse(a, (vk_str){hdr, n}, &u2, &p2);
    CHECKF(rc == VK_OK, "re-encoded credentials rejected with %d", rc);
    CHECK(vk_str_eq(u2, user) && vk_str_eq(p2, pass));
}

static void fuzz_basic(const uint8_t *data, size_t size)
{
    struct vk_arena a;
    vk_str user = {"x", 1}, pass = {"x", 1};

    vk_arena_init(&a, VK_REQ_ARENA_CAP);
    int rc = vk_http_basic_parse(&a, (vk_str){(const char *)data, size}, &user, &pass);
    CHECKF(rc == VK_OK || rc == VK_ENOTFOUND || rc == VK_EINVAL || rc == VK_ENOMEM,
           "unexpected return code %d", rc);
    CHECKF((rc == VK_ENOTFOUND) == !scheme_is(data, size, "Basic"), "rc %d for scheme", rc);
    CHECK(rc != VK_ENOMEM || size > VK_REQ_ARENA_CAP / 4);
    if (rc != VK_OK) {
        CHECK(user.len == 0 && pass.len == 0);
    } else {
        CHECK(user.len > 0); /* RFC 7617 §2: the user-id is what identifies the client */
        CHECK(clean(user) && clean(pass));
        check_basic_roundtrip(&a, user, pass);
    }
    vk_arena_clear(&a);
}

static bool b64token_char(uint8_t c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/' || c == '=';
}

static void fuzz_bearer(const uint8_t *data, size_t size)
{
    vk_str tok = {"x", 1};
    const char *in = (const char *)data;
    int rc = vk_http_bearer_parse((vk_str){in, size}, &tok);
    CHECKF(rc == VK_OK || rc == VK_ENOTFOUND || rc == VK_EINVAL, "unexpected return code %d", rc);
    CHECKF((rc == VK_ENOTFOUND) == !scheme_is(data, size, "Bearer"), "rc %d for scheme", rc);
    if (rc != VK_OK)
        return;
    CHECK(tok.len > 0 && tok.len <= VK_MAX_JWT_LEN);
    CHECK(tok.p >= in + 7 && tok.p + tok.len <= in + size); /* borrowed from the header */
    for (size_t i = 0; i < tok.len; i++)
        CHECKF(b64token_char((uint8_t)tok.p[i]), "byte 0x%02x in a token", (uint8_t)tok.p[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_basic(data, size);
    fuzz_bearer(data, size);
    return 0;
}
