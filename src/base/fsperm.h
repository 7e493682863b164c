/* File-system permission policy for what holds secrets: the data directory and the files in it
 * (signing keys, the CSRF key, password hashes) must be reachable by the user valetkey runs as
 * and nobody else. */
#ifndef VK_BASE_FSPERM_H
#define VK_BASE_FSPERM_H

#include "base/err.h"

/* Checks the existing directory `dir`: it must be a directory owned by this user with no
 * permission bits for group or others, and every regular file or directory in it (not
 * recursively; symbolic links are checked through) must have no group or other bits either.
 * Files whose name starts with `owned_prefix` (may be NULL) must also be owned by this user.
 * Returns VK_OK, or VK_EINVAL with err naming the offending path and the command that fixes it
 * (VK_EIO when the directory cannot be read). */
int vk_fs_check_private_dir(const char *dir, const char *owned_prefix, struct vk_err *err);

#endif
