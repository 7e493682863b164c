/* X.509 certificates for mutual-TLS OAuth (RFC 8705), on libcrypto: the x5t#S256 thumbprint
 * (§3.1), verification against the
 * configured client CAs (§2.1), validity periods, the subject DN and subjectAltName values a
 * client registers for tls_client_auth (§2.1.2), and the certificates of a JWK Set's x5c for
 * self_signed_tls_client_auth (§2.2).
 *
 * Certificates are passed as DER in a vk_str (bytes, not text). Every function is thread-safe;
 * a CA set is immutable once loaded. */
#ifndef VK_JOSE_X509_H
#define VK_JOSE_X509_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "base/arena.h"
#include "base/err.h"
#include "base/str.h"

#define VK_X5T_LEN 43 /* base64url of a SHA-256, without padding */

/* RFC 8705 §3.1: base64url(SHA-256(DER)) into out (VK_X5T_LEN + NUL). */
void vk_x509_thumbprint(vk_str der, char out[VK_X5T_LEN + 1]);

/* The trusted CAs for tls_client_auth. */
struct vk_x509_ca;
/* Loads every certificate of a PEM bundle (at least one). *out is owned by the caller. */
int vk_x509_ca_load(vk_str pem, struct vk_x509_ca **out, struct vk_err *err);
void vk_x509_ca_free(struct vk_x509_ca *ca); /* NULL is a no-op */

/* Verifies `leaf` as a TLS client certificate at time `now`: a chain (through the untrusted
 * `chain` certificates the client sent, if any) to a certificate of `ca` — any certificate of
 * the bundle is a trust anchor, an intermediate too — every signature, every validity period,
 * basic constraints, and the client-authentication purpose (an extendedKeyUsage, if present,
 * must allow clientAuth). Revocation is not checked. VK_OK (*not_after, when not NULL, is the
 * earliest notAfter of the chain: the verdict holds until then); VK_EEXPIRED when the leaf is
 * expired or not yet valid; VK_EINVAL for anything else (err says what). With OpenSSL 3.0 this
 * costs about a millisecond (decoding the keys): callers that see the same certificate often
 * should remember the verdict (auth/mtls.c). */
int vk_x509_verify(const struct vk_x509_ca *ca, vk_str leaf, const vk_str *chain, size_t n_chain,
                   int64_t now, int64_t *not_after, struct vk_err *err);
/* The validity period alone (a self-signed certificate, RFC 8705 §2.2): VK_OK (*not_after, when
 * not NULL, receives its notAfter), VK_EEXPIRED (outside notBefore..notAfter) or VK_EINVAL (not
 * a certificate). */
int vk_x509_check_validity(vk_str der, int64_t now, int64_t *not_after, struct vk_err *err);

/* What a tls_client_auth client registers (RFC 8705 §2.1.2): exactly one of these. */
enum vk_x509_name_kind {
    VK_X509_NONE = 0,
    VK_X509_SUBJECT_DN = 1, /* tls_client_auth_subject_dn: an RFC 4514 string */
    VK_X509_SAN_DNS = 2,    /* tls_client_auth_san_dns: a dNSName entry */
    VK_X509_SAN_URI = 3,    /* tls_client_auth_san_uri: a uniformResourceIdentifier entry */
    VK_X509_SAN_IP = 4,     /* tls_client_auth_san_ip: an iPAddress entry */
    VK_X509_SAN_EMAIL = 5,  /* tls_client_auth_san_email: an rfc822Name entry */
};
/* "subject_dn", "san_dns", "san_uri", "san_ip", "san_email" ("" for none); static. */
const char *vk_x509_name_kind_str(enum vk_x509_name_kind k);
enum vk_x509_name_kind vk_x509_name_kind_from_str(const char *s);
/* Checks and normalises a registered value into out (size n): a DN is parsed (RFC 4514:
 * attribute types by name or OID, escapes, multi-valued RDNs) and written back in the one
 * canonical form the certificate's subject is compared in (short type names, RFC 4514 escapes);
 * a DNS name is lower-cased; an IP address is written as inet_ntop would. VK_EINVAL (err says
 * why) or VK_ETOOBIG. */
int vk_x509_name_normalize(enum vk_x509_name_kind k, const char *in, char *out, size_t n,
                           struct vk_err *err);
/* Whether the certificate has the registered (normalised) value: its subject DN equals it in
 * canonical form, or a subjectAltName entry of that kind equals it (DNS names without regard to
 * case; no wildcard matching: RFC 8705 §2.1.2 compares values, not hostnames). */
bool vk_x509_name_matches(vk_str der, enum vk_x509_name_kind k, const char *registered);

/* RFC 8705 §2.2: whether `der` is the first certificate of the x5c of a key in the JWK Set
 * document `jwks` (compared as SHA-256 digests, in constant time). False for a malformed set. */
bool vk_x509_jwks_contains(vk_str jwks, vk_str der);
/* Checks a JWK Set registered for self_signed_tls_client_auth: 1..VK_MAX_JWKS_KEYS keys, each
 * with an x5c whose first certificate parses and holds the same public key as the JWK's own
 * members (RFC 7517 §4.7). VK_EINVAL with err saying which key and why. */
int vk_x509_jwks_check(vk_str jwks, struct vk_err *err);
/* A public JWK for the certificate in `pem` (its key as kty/crv/x/y or n/e, kid = RFC 7638
 * thumbprint, x5c = [the certificate]). New reference, owned by the caller. Keys: P-256,
 * RSA 2048..4096, Ed25519. */
int vk_x509_jwk_from_pem(vk_str pem, json_t **out, struct vk_err *err);

#endif
