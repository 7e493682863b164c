#include "base/fsperm.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_ENTRIES 100000 /* a data directory holds a handful of files; stop looking after this */

static int refuse_mode(const char *what, const char *path, const char *name, mode_t mode,
                       struct vk_err *err)
{
    const char *sep = name != NULL ? "/" : "";
    if (name == NULL)
        name = "";
    return vk_err_set(err, VK_EINVAL,
                      "%s %s%s%s is readable or writable by group or others (mode %04o), but the "
                      "data directory holds signing keys and password hashes: run chmod %s %s%s%s",
                      what, path, sep, name, (unsigned)(mode & 07777),
                      S_ISDIR(mode) ? "700" : "600", path, sep, name);
}

int vk_fs_check_private_dir(const char *dir, const char *owned_prefix, struct vk_err *err)
{
    struct stat sb;
    int rc = VK_OK;
    uid_t me = geteuid();
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return vk_err_set(err, VK_EIO, "cannot open the data directory %s: %s", dir,
                          strerror(errno));
    if (fstat(dfd, &sb) != 0) {
        close(dfd);
        return vk_err_set(err, VK_EIO, "cannot stat the data directory %s: %s", dir,
                          strerror(errno));
    }
    /* The owner can always read it back (and change the mode): it must be us. */
    if (sb.st_uid != me) {
        close(dfd);
        return vk_err_set(err, VK_EINVAL,
                          "the data directory %s is owned by uid %u, not by uid %u that valetkey "
                          "runs as: chown it to this user, or run valetkey as its owner",
                          dir, (unsigned)sb.st_uid, (unsigned)me);
    }
    if ((sb.st_mode & 077) != 0) {
        close(dfd);
        return refuse_mode("the data directory", dir, NULL, sb.st_mode, err);
    }
    DIR *d = fdopendir(dfd); /* owns dfd from here */
    if (d == NULL) {
        close(dfd);
        return vk_err_set(err, VK_EIO, "cannot read the data directory %s: %s", dir,
                          strerror(errno));
    }
    size_t prefix_len = owned_prefix != NULL ? strlen(owned_prefix) : 0;
    struct dirent *e;
    for (size_t seen = 0; rc == VK_OK && seen < MAX_ENTRIES && (e = readdir(d)) != NULL;
         seen++) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        /* Follow symbolic links: what matters is who can read what they point at. A dangling
         * link holds nothing. */
        if (fstatat(dirfd(d), e->d_name, &sb, 0) != 0)
            continue;
        if (!S_ISREG(sb.st_mode) && !S_ISDIR(sb.st_mode))
            continue;
        if ((sb.st_mode & 077) != 0)
            rc = refuse_mode(S_ISDIR(sb.st_mode) ? "the directory" : "the file", dir, e->d_name,
                             sb.st_mode, err);
        else if (prefix_len > 0 && strncmp(e->d_name, owned_prefix, prefix_len) == 0 &&
                 sb.st_uid != me)
            rc = vk_err_set(err, VK_EINVAL,
                            "the file %s/%s is owned by uid %u, not by uid %u that valetkey runs "
                            "as: chown it to this user",
                            dir, e->d_name, (unsigned)sb.st_uid, (unsigned)me);
    }
    closedir(d);
    return rc;
}
