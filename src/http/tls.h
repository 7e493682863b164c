/* TLS for the HTTP server: libmicrohttpd's GnuTLS, as Debian builds it. This file and tls.c are
 * the only ones that know GnuTLS; server.c hands GnuTLS sessions over as `void *`.
 *
 * - The server certificate chain and key are one reference-counted generation
 *   (struct vk_tls_cred). Every handshake takes a reference for its connection (GnuTLS's
 *   certificate callback), released when the connection closes, so vk_tls_reload can swap in
 *   new files while connections that started with the old ones go on undisturbed.
 * - The protocol priorities allow TLS 1.2 and 1.3 only, with AEAD ciphers and ECDHE
 *   (docs/security.md, "TLS"); an operator's own string is refused if it enables anything older.
 * - Client certificates are requested (never required: a client without one still gets a TLS
 *   connection, and the endpoints decide what a certificate is worth) and handed to the request
 *   unverified, in DER. Verification belongs to auth/ (RFC 8705 §2). */
#ifndef VK_HTTP_TLS_H
#define VK_HTTP_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include "base/arena.h"
#include "base/err.h"
#include "base/str.h"

/* TLS 1.3 and 1.2 only; AES-GCM and ChaCha20-Poly1305 (no CBC, no RSA key transport, no
 * finite-field DH); the server's order of preference. X25519 comes first among the groups
 * because it is the one key share OpenSSL, Go, curl and browsers send by default: a server that
 * prefers another group answers their first flight with a HelloRetryRequest, a round trip more
 * for every connection. */
#define VK_TLS_DEFAULT_PRIORITIES                                                                 \
    "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-CIPHER-ALL:+AES-128-GCM:+AES-256-GCM:"          \
    "+CHACHA20-POLY1305:-MAC-ALL:+AEAD:-KX-ALL:+ECDHE-ECDSA:+ECDHE-RSA:-GROUP-ALL:"               \
    "+GROUP-X25519:+GROUP-SECP256R1:+GROUP-SECP384R1:%SERVER_PRECEDENCE"

struct vk_tls_opts {
    const char *cert_file;  /* PEM: the server certificate, then its intermediates */
    const char *key_file;   /* PEM: its private key (PKCS#8 or the key type's own format) */
    const char *priorities; /* GnuTLS priority string; NULL or "": VK_TLS_DEFAULT_PRIORITIES */
};

struct vk_tls;      /* the server's TLS state */
struct vk_tls_cred; /* one generation of certificate chain and key */

/* Loads the certificate chain and key (the key must belong to the first certificate) and checks
 * the priority string (it must parse and enable no protocol older than TLS 1.2). *out is owned
 * by the caller (vk_tls_free). VK_EINVAL or VK_EIO with err saying why; *out NULL. */
int vk_tls_new(const struct vk_tls_opts *o, struct vk_tls **out, struct vk_err *err);
/* Reads the files again and makes them the ones new handshakes use; connections already
 * established keep theirs. On error the current pair stays in use and err says why.
 * Thread-safe. */
int vk_tls_reload(struct vk_tls *t, struct vk_err *err);
/* Frees the state. Every connection must be closed (each may hold a credentials reference). */
void vk_tls_free(struct vk_tls *t);
/* The priority string in force (borrowed). */
const char *vk_tls_priorities(const struct vk_tls *t);
/* A one-line description of the current certificate for the log: subject, expiry (static
 * buffer per call site: out, n). */
void vk_tls_describe(struct vk_tls *t, char *out, size_t n);
/* The certificate callback for MHD_OPTION_HTTPS_CERT_CALLBACK (a
 * gnutls_certificate_retrieve_function2, as an object pointer for MHD's option array). */
void *vk_tls_cert_callback(void);
/* Releases a connection's credentials reference. NULL is a no-op. */
void vk_tls_cred_release(struct vk_tls_cred *c);

/* Provided by server.c: the TLS state of the server that owns libmicrohttpd connection `con`,
 * and where that connection keeps its credentials reference (*slot). NULL when the connection
 * is not tracked: its handshake then fails. Called from the handshake, on the connection's
 * thread. */
struct vk_tls *vk_http_conn_tls(void *con, struct vk_tls_cred ***slot);

/* Asks the peer of a new session for a certificate, optionally (GNUTLS_CERT_REQUEST: a client
 * without one still connects). Call before the handshake starts. */
void vk_tls_session_request_cert(void *session);
/* Copies the certificates the peer of `session` presented (leaf first, DER) into the arena: at
 * most `max` of them (further ones are ignored). *n = 0 when there were none. VK_ETOOBIG when
 * one is larger than VK_MAX_CERT_LEN, VK_ENOMEM. */
int vk_tls_peer_certs(void *session, struct vk_arena *a, vk_str *out, size_t max, size_t *n);

#endif
