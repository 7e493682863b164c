/* JOSE: JWK, JWK Sets, JWS (compact) and JWT, on libcrypto and jansson.
 *
 * The algorithm belongs to the key (RFC 8725 §3.1): every struct vk_jwk carries one enum vk_alg,
 * and a JWS whose header `alg` differs from its key's is rejected before any crypto runs.
 * `none` and HMAC-with-a-public-key do not exist as code paths.
 *
 * Thread safety: a key and a key set are immutable after creation and may be used for signing
 * and verifying from many threads at once. Key sets are reference-counted so a server can swap
 * in a new set while requests still hold the old one. */
#ifndef VK_JOSE_JOSE_H
#define VK_JOSE_JOSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/str.h"

/* Parses untrusted JSON (at most VK_MAX_JSON_INPUT bytes; any top-level value) with duplicate
 * member names rejected, and never returns a document other than the input: jansson drops bytes
 * silently when its lexer cannot grow a buffer, which is detected here and reported as VK_ENOMEM
 * (see json.c). On success *rc is VK_OK and the result is a new reference; otherwise NULL with
 * *rc VK_EINVAL (not JSON), VK_ETOOBIG or VK_ENOMEM. */
json_t *vk_json_load(const char *buf, size_t n, int *rc);

enum vk_alg {
    VK_ALG_INVALID = 0,
    VK_ALG_ES256 = 1, /* ECDSA P-256 SHA-256, raw R||S signature (RFC 7518 §3.4) */
    VK_ALG_RS256 = 2, /* RSASSA-PKCS1-v1_5 SHA-256 */
    VK_ALG_PS256 = 3, /* RSASSA-PSS SHA-256, MGF1 SHA-256, salt 32 */
    VK_ALG_EDDSA = 4, /* Ed25519 (RFC 8037) */
};

/* "ES256", "RS256", "PS256", "EdDSA"; "invalid" for anything else. Static string. */
const char *vk_alg_name(enum vk_alg alg);
/* Exact, case-sensitive match of a JOSE alg name; VK_ALG_INVALID when unknown (incl. "none"). */
enum vk_alg vk_alg_from_name(vk_str name);

struct vk_jwk; /* opaque: alg, kid, EVP_PKEY (private or public) */

/* Generates a new private key for alg (RSA keys are 2048 bits). The kid is the RFC 7638
 * thumbprint of the public key. *out is owned by the caller (vk_jwk_free). */
int vk_jwk_generate(enum vk_alg alg, struct vk_jwk **out, struct vk_err *err);
/* Loads a private key from PKCS#8 PEM. kid may be NULL (then the thumbprint is used). The key
 * type must suit alg (VK_EINVAL otherwise). */
int vk_jwk_from_private_pem(enum vk_alg alg, const char *kid, vk_str pem, struct vk_jwk **out,
                            struct vk_err *err);
/* Writes the private key as PKCS#8 PEM into out (a vk_buf the caller initialized). */
int vk_jwk_private_pem(const struct vk_jwk *k, struct vk_buf *out, struct vk_err *err);
/* Parses one public JWK (a JSON object). Requires `kty`; requires `alg` unless default_alg is not
 * VK_ALG_INVALID; rejects keys whose `use` is present and not "sig", private members (`d`),
 * wrong curves and RSA moduli below 2048 bits. `json` is borrowed. */
int vk_jwk_from_json(const json_t *json, enum vk_alg default_alg, struct vk_jwk **out,
                     struct vk_err *err);
/* Builds a public key from a DER SubjectPublicKeyInfo (an X.509 certificate's key, jose/x509.c).
 * The key type must suit alg; the kid is the RFC 7638 thumbprint. */
int vk_jwk_from_spki(enum vk_alg alg, vk_str der, struct vk_jwk **out, struct vk_err *err);
/* Returns a new JSON object with the PUBLIC members only: kty, crv/x/y or n/e, kid, alg,
 * use="sig". Caller owns the reference. NULL on allocation failure. */
json_t *vk_jwk_public_json(const struct vk_jwk *k);
/* RFC 7638 SHA-256 thumbprint, base64url (43 chars + NUL). */
int vk_jwk_thumbprint(const struct vk_jwk *k, char out[44]);
enum vk_alg vk_jwk_alg(const struct vk_jwk *k);
const char *vk_jwk_kid(const struct vk_jwk *k); /* borrowed, NUL-terminated */
bool vk_jwk_is_private(const struct vk_jwk *k);
void vk_jwk_free(struct vk_jwk *k); /* NULL is a no-op */

/* The key's own signature primitive, used by vk_jws_sign/vk_jws_verify*; other modules should
 * call those instead. `in` is the JWS Signing Input (RFC 7515 §5.1 step 5): the ASCII bytes
 * BASE64URL(header) '.' BASE64URL(payload). Always the key's pinned algorithm; ES256 signatures
 * are raw R||S (RFC 7518 §3.4), never DER. Thread-safe.
 * vk_jwk_sig_len: the exact signature length in bytes (64 for ES256/EdDSA, the modulus size
 * for RSA). vk_jwk_sign_input: sig must hold sigsz >= vk_jwk_sig_len(k) bytes; VK_EINVAL for a
 * public key. vk_jwk_verify_input: VK_OK, VK_EINVAL (wrong length), VK_ENOMEM or VK_ECRYPTO
 * (no match). */
size_t vk_jwk_sig_len(const struct vk_jwk *k);
int vk_jwk_sign_input(const struct vk_jwk *k, const void *in, size_t n, uint8_t *sig, size_t sigsz,
                      size_t *siglen);
int vk_jwk_verify_input(const struct vk_jwk *k, const void *in, size_t n, const uint8_t *sig,
                        size_t siglen);

/* A reference-counted, immutable set of keys. */
struct vk_jwks;
/* Parses a JWK Set document ({"keys":[...]}) of at most VK_MAX_JSON_INPUT bytes with duplicate
 * member names rejected. Keys that are not usable for signatures or whose kty/alg we do not
 * support are skipped (RFC 7517 §5); more than VK_MAX_JWKS_KEYS keys is VK_ETOOBIG. */
int vk_jwks_parse(const char *json, size_t len, struct vk_jwks **out, struct vk_err *err);
/* Builds a set from keys; CONSUMES the keys (they are owned by the set afterwards, even on
 * error). */
int vk_jwks_from_keys(struct vk_jwk **keys, size_t n, struct vk_jwks **out);
struct vk_jwks *vk_jwks_ref(struct vk_jwks *s); /* +1, returns s */
void vk_jwks_unref(struct vk_jwks *s);          /* -1, frees at zero; NULL is a no-op */
size_t vk_jwks_count(const struct vk_jwks *s);
const struct vk_jwk *vk_jwks_get(const struct vk_jwks *s, size_t i);
/* The key with this kid, or NULL. */
const struct vk_jwk *vk_jwks_find(const struct vk_jwks *s, vk_str kid);

/* Signs a JWS in compact serialization. The protected header is
 * {"alg":<key alg>,"typ":<typ>,"kid":<key kid>} (typ omitted when NULL). payload is the exact
 * bytes to sign (usually JSON). The result is appended to out. */
int vk_jws_sign(const struct vk_jwk *k, const char *typ, vk_str payload, struct vk_buf *out,
                struct vk_err *err);

/* A verified JWS. header and payload are new jansson objects owned by this struct. */
struct vk_jws {
    json_t *header;
    json_t *payload; /* the payload parsed as a JSON object; never NULL after VK_OK */
    const struct vk_jwk *key; /* borrowed from the key set used to verify */
};
void vk_jws_clear(struct vk_jws *j); /* releases header/payload; safe on a zeroed struct */

/* Verifies a compact JWS of at most VK_MAX_JWT_LEN bytes against one key. Rejects: not three
 * base64url parts, bad base64url, header that is not a JSON object (duplicates rejected), `alg`
 * missing or different from the key's, any `crit` header, a signature of the wrong length, a
 * signature that does not verify, a payload that is not a JSON object (parsed only after the
 * signature verified). On error *out is zeroed. Returns VK_OK, VK_ETOOBIG (too long), VK_EINVAL
 * (malformed or not acceptable), VK_ECRYPTO (the signature does not verify) or VK_ENOMEM (an
 * allocation failed: nothing is known about the token). */
int vk_jws_verify_key(const struct vk_jwk *k, vk_str compact, struct vk_jws *out,
                      struct vk_err *err);
/* Decodes the protected header of a compact JWS WITHOUT verifying the signature, for a caller
 * that must read the header to find the key (RFC 9449 §4.3: a DPoP proof carries its own `jwk`).
 * The structural checks of verification apply: three parts, at most VK_MAX_JWT_LEN bytes, a
 * JSON object without duplicate members, no `crit`; `alg` is left to the caller (and checked
 * again by vk_jws_verify_key). VK_OK, VK_EINVAL, VK_ETOOBIG, VK_ENOMEM. On VK_OK
 * *out is a new reference owned by the caller; nothing in it is authenticated until
 * vk_jws_verify_key succeeds with a key chosen from it. */
int vk_jws_header_peek(vk_str compact, json_t **out, struct vk_err *err);
/* Same, choosing the key from the set by the header's `kid`; without a `kid`, only a set holding
 * exactly one key with the header's alg is accepted. VK_ENOTFOUND when no key has that kid (or,
 * without a kid, that alg), so a caller may refresh its key set once. */
int vk_jws_verify(const struct vk_jwks *keys, vk_str compact, struct vk_jws *out,
                  struct vk_err *err);

/* JWT claim checks on a verified payload (RFC 7519 / RFC 9068), with the clock passed in.
 * exp is required and must be > now - leeway; nbf and iat, if present, must be <= now + leeway;
 * if expected_typ is not NULL, the header `typ` must equal it (case-insensitively, with or
 * without the "application/" prefix, RFC 7515 §4.1.9); if iss is not NULL, `iss` must equal it.
 * Returns VK_OK, VK_EEXPIRED or VK_EINVAL. */
int vk_jwt_check(const struct vk_jws *j, int64_t now, int64_t leeway, const char *expected_typ,
                 const char *iss, struct vk_err *err);
/* True when the header's `typ` is expected_typ under the RFC 7515 §4.1.9 rules used by
 * vk_jwt_check (case-insensitive, "application/" optional). */
bool vk_jwt_typ_is(const json_t *header, const char *expected_typ);

#endif
