/* Return codes and error detail. Numbers are stable; retired ones stay reserved. */
#ifndef VK_BASE_ERR_H
#define VK_BASE_ERR_H

enum vk_rc {
    VK_OK = 0,
    VK_ENOMEM = 1,   /* allocation failed or an arena cap was reached */
    VK_EINVAL = 2,   /* malformed input */
    VK_ETOOBIG = 3,  /* a limit in base/limits.h was hit */
    VK_ESTORE = 4,   /* the store failed (I/O, constraint, busy) */
    VK_ECRYPTO = 5,  /* a libcrypto operation failed or a signature did not verify */
    VK_EOAUTH = 6,   /* protocol error: details are in struct vk_oauth_err */
    VK_ENOTFOUND = 7,/* the record does not exist */
    VK_EEXPIRED = 8, /* valid but outside its lifetime */
    VK_EEXIST = 9,   /* a record with that key already exists */
    VK_EIO = 10,     /* operating-system I/O error */
};

/* Diagnostic detail, caller-provided and fixed-size: never a global, never allocated.
 * Messages never contain secrets: they name a field, not its value. */
struct vk_err {
    char msg[512]; /* room for a message that names two paths and the fix */
};

/* Returns a static string describing rc; never NULL. Thread-safe. */
const char *vk_strerror(int rc);

/* Formats into err->msg (if err is not NULL) and returns rc, so callers can write
 * `return vk_err_set(err, VK_EINVAL, "bad %s", what);`. */
int vk_err_set(struct vk_err *err, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A protocol error (RFC 6749 §5.2 and friends): bounded, static strings only, no allocation. */
struct vk_oauth_err {
    int status;              /* HTTP status to answer with */
    const char *error;       /* e.g. "invalid_request" (static) */
    const char *description; /* human-readable, static, never contains input values */
    int www_auth;            /* 1: add WWW-Authenticate: Basic (failed Basic authentication) */
};

/* Fills oe and returns VK_EOAUTH. */
int vk_oauth_fail(struct vk_oauth_err *oe, int status, const char *error, const char *desc);

#endif
