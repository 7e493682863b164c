/* Reading small files whole (certificates, keys, key sets named on the command line). */
#ifndef VK_BASE_FILE_H
#define VK_BASE_FILE_H

#include <stddef.h>

#include "base/err.h"

/* Reads the regular file at `path`, at most `max` bytes, into a new NUL-terminated buffer:
 * *out is owned by the caller and released with vk_file_free (which wipes it: it may hold a
 * private key). VK_EIO (cannot open or read, not a regular file) or VK_ETOOBIG, err naming the
 * file; *out NULL on error. */
int vk_file_read(const char *path, size_t max, char **out, size_t *len, struct vk_err *err);
/* Wipes and frees a buffer from vk_file_read. NULL is a no-op. */
void vk_file_free(char *p, size_t len);

#endif
