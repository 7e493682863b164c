/* Fuzz driver: DPoP proofs and htu normalisation (src/verify/dpop.c), the code libvaletkey -- and
 * later the token endpoint -- runs on the DPoP header of every request.
 *
 * A. Forgery: the input as a proof for a fixed request. Proofs carry their own key, so a
 *    well-formed proof signed by any key passes the signature check; what the driver checks is
 *    that a proof bound to a thumbprint it cannot match (cnf.jkt of a key generated at start-up)
 *    never verifies, that the result is one of the documented codes, and that out->jkt is empty
 *    on failure. The same input is also checked with no binding; then VALETKEY_OK must mean the
 *    proof's typ, htm, htu, iat and jti are exactly what a reference reading of the payload says.
 * B. Normalisation: the input as a URL. When vk_dpop_htu_normalize accepts it, the result starts
 *    with http:// or https://, holds no '?', '#', "/./" or "/../" segment, no lower-case percent
 *    hex, and normalising it again gives the same bytes (idempotence).
 * C. Round trip: when B accepted the input, a proof signed by our key for htu = the input must
 *    verify for a request to the input URL and to its normalised form, and must not verify for
 *    another method or after any one-character change of the proof. */
#include <stdbool.h>
#include <string.h>

#include <jansson.h>

#include "base/b64url.h"
#include "base/err.h"
#include "base/limits.h"
#include "jose/jose.h"
#include "verify/verify.h"

#include "fuzz_common.h"

#define NOW    INT64_C(1700000000)
#define METHOD "POST"
#define URL    "https://api.example/v1/chat"

static struct vk_jwk *client;      /* signs the round-trip proofs */
static char client_jwk[512];       /* its public JWK as JSON */
static char foreign_jkt[44];       /* the thumbprint of a key nobody has */

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    struct vk_err err = {{0}};
    struct vk_jwk *other = NULL;
    (void)argc;
    (void)argv;
    CHECK(vk_jwk_generate(VK_ALG_ES256, &client, &err) == VK_OK);
    CHECK(vk_jwk_generate(VK_ALG_ES256, &other, &err) == VK_OK);
    CHECK(vk_jwk_thumbprint(other, foreign_jkt) == VK_OK);
    vk_jwk_free(other);
    json_t *pub = vk_jwk_public_json(client);
    CHECK(json_dumpb(pub, client_jwk, sizeof client_jwk - 1, JSON_COMPACT) < sizeof client_jwk);
    json_decref(pub);
    return 0;
}

static bool documented(int rc)
{
    return rc == VALETKEY_OK || rc == VALETKEY_ENOMEM || rc == VALETKEY_ECAPACITY ||
           rc == VALETKEY_EINTERNAL || (rc >= VALETKEY_DPOP_MISSING && rc <= VALETKEY_DPOP_USE_NONCE);
}

static int check(vk_str proof, const char *method, vk_str url, const char *jkt, char jkt_out[44])
{
    struct vk_dpop_check c = {
        .proof = proof,
        .method = vk_str_c(method),
        .url = url,
        .now = NOW,
        .max_age = 60,
        .leeway = 5,
        .alg_mask = VK_ALG_MASK_ALL,
        .jkt = jkt,
    };
    struct vk_dpop_result r;
    struct vk_err err = {{0}};
    int rc = vk_dpop_verify(&c, &r, &err);
    CHECKF(documented(rc), "undocumented result %d", rc);
    if (rc != VALETKEY_OK)
        CHECKF(r.jkt[0] == '\0', "out->jkt set on failure %d", rc);
    else
        CHECK(strlen(r.jkt) == 43);
    if (jkt_out != NULL)
        memcpy(jkt_out, r.jkt, 44);
    return rc;
}

/* A: the input as a proof. */
static void as_proof(const uint8_t *data, size_t size)
{
    vk_str proof = {(const char *)data, size};
    CHECKF(check(proof, METHOD, VK_STR(URL), foreign_jkt, NULL) != VALETKEY_OK,
           "a proof matched the thumbprint of a key nobody holds");
    if (check(proof, METHOD, VK_STR(URL), NULL, NULL) != VALETKEY_OK)
        return;
    /* Accepted: read the payload the naive way and confirm what was checked. */
    const char *d1 = memchr(proof.p, '.', proof.len);
    CHECK(d1 != NULL);
    const char *d2 = memchr(d1 + 1, '.', proof.len - (size_t)(d1 + 1 - proof.p));
    CHECK(d2 != NULL);
    uint8_t buf[VK_MAX_JWT_LEN];
    size_t n = 0;
    CHECK(vk_b64url_decode((vk_str){d1 + 1, (size_t)(d2 - d1 - 1)}, buf, sizeof buf, &n) == VK_OK);
    json_error_t jerr;
    json_t *p = json_loadb((const char *)buf, n, JSON_REJECT_DUPLICATES, &jerr);
    CHECK(json_is_object(p));
    CHECK(json_is_string(json_object_get(p, "jti")));
    CHECK(strcmp(json_string_value(json_object_get(p, "htm")), METHOD) == 0);
    char a[256], b[256];
    const json_t *htu = json_object_get(p, "htu");
    CHECK(json_is_string(htu));
    CHECK(vk_dpop_htu_normalize(vk_str_c(json_string_value(htu)), a, sizeof a) == VK_OK);
    CHECK(vk_dpop_htu_normalize(VK_STR(URL), b, sizeof b) == VK_OK);
    CHECK(strcmp(a, b) == 0);
    const json_t *iat = json_object_get(p, "iat");
    CHECK(json_is_number(iat));
    CHECK(json_number_value(iat) >= (double)(NOW - 61) && json_number_value(iat) < (double)(NOW + 6));
    json_decref(p);
}

/* B: the input as a URL. Returns the normalised form in out, or false. */
static bool as_url(const uint8_t *data, size_t size, char *out, size_t outsz)
{
    vk_str url = {(const char *)data, size};
    if (vk_dpop_htu_normalize(url, out, outsz) != VK_OK)
        return false;
    size_t n = strlen(out);
    CHECK(strncmp(out, "http://", 7) == 0 || strncmp(out, "https://", 8) == 0);
    CHECK(strchr(out, '?') == NULL && strchr(out, '#') == NULL);
    const char *path = strchr(out + 8, '/');
    CHECKF(path != NULL, "no path in %s", out);
    for (const char *s = path; *s != '\0'; s++) {
        if (s[0] == '/' && s[1] == '.' && (s[2] == '/' || s[2] == '\0'))
            CHECKF(false, "dot segment left in %s", out);
        if (s[0] == '/' && s[1] == '.' && s[2] == '.' && (s[3] == '/' || s[3] == '\0'))
            CHECKF(false, "dot-dot segment left in %s", out);
        if (s[0] == '%')
            CHECKF(s[1] != '\0' && s[2] != '\0' && !(s[1] >= 'a' && s[1] <= 'f') &&
                       !(s[2] >= 'a' && s[2] <= 'f'),
                   "percent-encoding not normalised in %s", out);
    }
    char again[VK_MAX_JWT_LEN + 16];
    CHECK(vk_dpop_htu_normalize((vk_str){out, n}, again, sizeof again) == VK_OK);
    CHECKF(strcmp(again, out) == 0, "not idempotent: %s -> %s", out, again);
    return true;
}

static char *b64(const void *p, size_t n)
{
    char *s = malloc(vk_b64url_enc_len(n) + 1);
    CHECK(s != NULL);
    vk_b64url_encode(p, n, s);
    return s;
}

/* C: a proof of ours for htu = the input. */
static void round_trip(const uint8_t *data, size_t size, const char *normalised)
{
    json_t *payload = json_pack("{s:s,s:s,s:s%,s:I}", "jti", "fuzz", "htm", METHOD, "htu",
                                (const char *)data, size, "iat", (json_int_t)NOW);
    if (payload == NULL) /* not UTF-8: jansson refuses it, no proof to make */
        return;
    char *pj = json_dumps(payload, JSON_COMPACT);
    json_decref(payload);
    char header[640];
    snprintf(header, sizeof header, "{\"typ\":\"dpop+jwt\",\"alg\":\"ES256\",\"jwk\":%s}",
             client_jwk);
    char *h = b64(header, strlen(header)), *p = b64(pj, strlen(pj));
    size_t in_len = strlen(h) + 1 + strlen(p);
    char *tok = malloc(in_len + 100);
    CHECK(tok != NULL);
    memcpy(tok, h, strlen(h));
    tok[strlen(h)] = '.';
    memcpy(tok + strlen(h) + 1, p, strlen(p));
    uint8_t sig[64];
    size_t siglen = 0;
    CHECK(vk_jwk_sign_input(client, tok, in_len, sig, sizeof sig, &siglen) == VK_OK);
    char *s = b64(sig, siglen);
    tok[in_len] = '.';
    memcpy(tok + in_len + 1, s, strlen(s) + 1);
    size_t len = strlen(tok);
    char jkt[44], want[44];
    CHECK(vk_jwk_thumbprint(client, want) == VK_OK);
    if (len <= VK_MAX_JWT_LEN) {
        vk_str proof = {tok, len};
        CHECKF(check(proof, METHOD, (vk_str){(const char *)data, size}, want, jkt) == VALETKEY_OK,
               "our proof for htu=%.*s did not verify", (int)size, (const char *)data);
        CHECK(strcmp(jkt, want) == 0);
        CHECK(check(proof, METHOD, vk_str_c(normalised), want, NULL) == VALETKEY_OK);
        CHECK(check(proof, "GET", vk_str_c(normalised), want, NULL) != VALETKEY_OK);
        /* One changed character anywhere (kept within the base64url alphabet). */
        size_t at = (size ^ 0x5bd1e995u) % len;
        char was = tok[at];
        tok[at] = was == 'A' ? 'B' : was == '.' ? '.' : 'A';
        if (tok[at] != was)
            CHECK(check(proof, METHOD, vk_str_c(normalised), want, NULL) != VALETKEY_OK);
        tok[at] = was;
    }
    free(tok);
    free(h);
    free(p);
    free(s);
    free(pj);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char norm[VK_MAX_JWT_LEN + 16];
    as_proof(data, size);
    if (size <= 2048 && as_url(data, size, norm, sizeof norm))
        round_trip(data, size, norm);
    return 0;
}
