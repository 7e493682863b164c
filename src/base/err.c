#include "base/err.h"

#include <stdarg.h>
#include <stdio.h>

const char *vk_strerror(int rc)
{
    switch (rc) {
    case VK_OK: return "ok";
    case VK_ENOMEM: return "out of memory";
    case VK_EINVAL: return "invalid input";
    case VK_ETOOBIG: return "input too large";
    case VK_ESTORE: return "store error";
    case VK_ECRYPTO: return "cryptographic failure";
    case VK_EOAUTH: return "protocol error";
    case VK_ENOTFOUND: return "not found";
    case VK_EEXPIRED: return "expired";
    case VK_EEXIST: return "already exists";
    case VK_EIO: return "i/o error";
    default: return "unknown error";
    }
}

int vk_err_set(struct vk_err *err, int rc, const char *fmt, ...)
{
    if (err != NULL) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return rc;
}

int vk_oauth_fail(struct vk_oauth_err *oe, int status, const char *error, const char *desc)
{
    oe->status = status;
    oe->error = error;
    oe->description = desc;
    return VK_EOAUTH;
}
