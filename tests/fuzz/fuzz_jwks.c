/* Fuzz driver: JWK Set documents (src/jose/jwks.c, jwk.c), fetched from a client's jwks_uri or
 * an issuer's, so written by someone else.
 *
 * Invariants, from jose.h and the comment at the top of jwks.c:
 *   - the result is one of the documented codes; VK_ETOOBIG for inputs over VK_MAX_JSON_INPUT;
 *   - on VK_OK the set holds at most VK_MAX_JWKS_KEYS keys, none private, each with a supported
 *     alg, a kid of at most VK_MAX_ID_LEN bytes, the signature length of its algorithm, and no
 *     two keys with the same (kid, alg);
 *   - each key's public JSON has no private member and loads back to a key with the same alg,
 *     kid and RFC 7638 thumbprint;
 *   - vk_jwks_find finds every non-empty kid; a signature of the right length made of zeros
 *     never verifies, nor, for Ed25519, the signature (neutral point, 0) that every
 *     small-order public key accepts for every message. */
#include <stdbool.h>
#include <string.h>

#include <jansson.h>

#include "base/err.h"
#include "base/limits.h"
#include "jose/jose.h"

#include "fuzz_common.h"

static void check_key(const struct vk_jwks *set, const struct vk_jwk *k)
{
    struct vk_err err = {{0}};
    enum vk_alg alg = vk_jwk_alg(k);
    const char *kid = vk_jwk_kid(k);
    char thumb[44], thumb2[44];

    CHECK(k != NULL && !vk_jwk_is_private(k));
    CHECK(alg == VK_ALG_ES256 || alg == VK_ALG_RS256 || alg == VK_ALG_PS256 ||
          alg == VK_ALG_EDDSA);
    CHECK(kid != NULL && strlen(kid) <= VK_MAX_ID_LEN);
    size_t sl = vk_jwk_sig_len(k);
    if (alg == VK_ALG_ES256 || alg == VK_ALG_EDDSA)
        CHECKF(sl == 64, "sig_len %zu", sl);
    else
        CHECKF(sl >= 256 && sl <= 512, "RSA sig_len %zu", sl); /* 2048..4096 bits */

    if (kid[0] != '\0') {
        const struct vk_jwk *f = vk_jwks_find(set, vk_str_c(kid));
        CHECK(f != NULL && strcmp(vk_jwk_kid(f), kid) == 0);
    }

    json_t *pub = vk_jwk_public_json(k);
    CHECK(pub != NULL);
    static const char *const private_members[] = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"};
    for (size_t i = 0; i < sizeof private_members / sizeof private_members[0]; i++)
        CHECKF(json_object_get(pub, private_members[i]) == NULL, "public JSON has %s",
               private_members[i]);
    struct vk_jwk *back = NULL;
    int rc = vk_jwk_from_json(pub, VK_ALG_INVALID, &back, &err);
    CHECKF(rc == VK_OK, "public JSON of a parsed key does not load: %s", err.msg);
    CHECK(vk_jwk_alg(back) == alg && strcmp(vk_jwk_kid(back), kid) == 0);
    CHECK(vk_jwk_thumbprint(k, thumb) == VK_OK && vk_jwk_thumbprint(back, thumb2) == VK_OK);
    CHECK(memcmp(thumb, thumb2, sizeof thumb) == 0 && strlen(thumb) == 43);
    vk_jwk_free(back);
    json_decref(pub);

    /* Cheap for EC/OKP; RSA public operations are cheap too. */
    static const uint8_t zeros[512];
    static const char msg[] = "eyJhbGciOiJFUzI1NiJ9.e30";
    rc = vk_jwk_verify_input(k, msg, sizeof msg - 1, zeros, sl);
    CHECKF(rc == VK_ECRYPTO, "an all-zero signature gave %d", rc);
    rc = vk_jwk_verify_input(k, msg, sizeof msg - 1, zeros, sl - 1);
    CHECK(rc == VK_EINVAL);
    if (alg == VK_ALG_EDDSA) {
        /* R = the neutral point (encoded 01 00..00), S = 0 satisfies [S]B = R + [k]A for every
         * message when A has small order (RFC 8032 §5.1.7 verifies exactly that equation), so
         * such a public key must never be accepted: it would verify anything. */
        uint8_t neutral[64] = {1};
        rc = vk_jwk_verify_input(k, msg, sizeof msg - 1, neutral, 64);
        CHECKF(rc == VK_ECRYPTO, "Ed25519 key %s verifies (neutral point, 0) for any message",
               kid);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct vk_jwks *set = (struct vk_jwks *)1;
    struct vk_err err = {{0}};

    int rc = vk_jwks_parse((const char *)data, size, &set, &err);
    CHECKF(rc == VK_OK || rc == VK_EINVAL || rc == VK_ETOOBIG || rc == VK_ECRYPTO ||
               rc == VK_ENOMEM,
           "unexpected return code %d", rc);
    CHECK(size <= VK_MAX_JSON_INPUT || rc == VK_ETOOBIG);
    if (rc != VK_OK) {
        CHECK(set == NULL);
        CHECK(err.msg[0] != '\0'); /* every rejection says why */
        return 0;
    }
    CHECK(set != NULL);
    size_t n = vk_jwks_count(set);
    CHECK(n <= VK_MAX_JWKS_KEYS);
    CHECK(vk_jwks_get(set, n) == NULL);
    for (size_t i = 0; i < n; i++) {
        const struct vk_jwk *k = vk_jwks_get(set, i);
        check_key(set, k);
        for (size_t j = i + 1; j < n; j++) {
            const struct vk_jwk *o = vk_jwks_get(set, j);
            CHECKF(vk_jwk_kid(k)[0] == '\0' || vk_jwk_alg(k) != vk_jwk_alg(o) ||
                       strcmp(vk_jwk_kid(k), vk_jwk_kid(o)) != 0,
                   "keys %zu and %zu share (kid, alg)", i, j);
        }
    }
    CHECK(vk_jwks_find(set, VK_STR_NULL) == NULL);
    /* The reference count: one more and one less leaves the set usable. */
    CHECK(vk_jwks_ref(set) == set);
    vk_jwks_unref(set);
    CHECK(vk_jwks_count(set) == n);
    vk_jwks_unref(set);
    return 0;
}
