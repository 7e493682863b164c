/* Every input limit in one place, each with its reason (in the spirit of SQLite's sqliteLimit.h).
 * A limit that is hit gives the peer a clean error (VK_ETOOBIG -> 413/400), never a truncation. */
#ifndef VK_BASE_LIMITS_H
#define VK_BASE_LIMITS_H

#include <stdbool.h>

#define VK_MAX_HEADER_BYTES (8 * 1024)  /* whole request line + headers; enforced by libmicrohttpd */
/* libmicrohttpd's per-connection pool: holds the request line, the headers and MHD's parsed copy
 * of every query argument (about 50 bytes each), so a query of a few thousand tiny parameters
 * needs this much before our own limits (VK_MAX_QUERY, VK_MAX_PARAMS) can answer it. Pages of
 * the pool are touched only when used. */
#define VK_CONN_MEMORY      (256 * 1024)
#define VK_MAX_HEADERS      64          /* header fields kept per request */
#define VK_MAX_BODY         (64 * 1024) /* form bodies; nothing we accept is larger */
#define VK_DISCARD_MAX      (1024 * 1024) /* oversized bodies up to this are drained for a clean 413 */
#define VK_MAX_PARAMS       64          /* form or query parameters per request */
#define VK_MAX_PARAM_LEN    4096        /* one decoded name or value */
#define VK_MAX_QUERY        8192        /* raw query string */
#define VK_MAX_JWT_LEN      8192        /* compact JWS accepted anywhere */
#define VK_MAX_JWKS_KEYS    32          /* keys kept in one key set */
#define VK_MAX_JSON_INPUT   (64 * 1024) /* bound the length before jansson sees it */
#define VK_MAX_SCOPES       32          /* scope tokens in one request */
#define VK_MAX_SCOPE_LEN    1024        /* the whole scope string */
#define VK_MAX_RESOURCES    8           /* RFC 8707 resource parameters per request */
#define VK_MAX_REDIRECT_URIS 16         /* registered per client */
#define VK_MAX_ID_LEN       128         /* client ids, key ids */
#define VK_REQ_ARENA_CAP    (512 * 1024) /* per-request arena: body + parsed copies + response */
#define VK_MAX_CERT_LEN     (8 * 1024)  /* one DER client certificate (RSA-4096 with extensions
                                           is about 2 KiB) */
#define VK_MAX_CERT_CHAIN   4           /* client certificates kept per request: the leaf and
                                           up to three intermediates */
#define VK_MAX_PEM_FILE     (1024 * 1024) /* certificate, key and CA files read at start */

/* A policy for counting attempts per key (a client and address, an account, an address, a device
 * cookie). Failure counting (rate == false): after free_failures failures each further attempt
 * waits base_delay seconds, doubling per failure up to max_delay; a key whose last failure is
 * `window` seconds old is forgotten. Rate limiting (rate == true, successful logins): at most
 * free_failures events per `window` seconds, in a burst or spread out (GCRA: one event every
 * window / free_failures seconds, with a burst of free_failures); base_delay and max_delay are
 * unused. The values live in the configuration (config/), the counting in auth/limiter.c. */
struct vk_limit_policy {
    unsigned free_failures;
    long long base_delay;
    long long max_delay;
    long long window;
    bool rate;
};

#endif
