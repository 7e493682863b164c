#include "base/file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/crypto.h"

int vk_file_read(const char *path, size_t max, char **out, size_t *len, struct vk_err *err)
{
    struct stat sb;
    char *buf = NULL;
    size_t n = 0;
    int rc = VK_OK;
    *out = NULL;
    *len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return vk_err_set(err, VK_EIO, "cannot open %s: %s", path, strerror(errno));
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        rc = vk_err_set(err, VK_EIO, "%s is not a regular file", path);
        goto out;
    }
    if ((uint64_t)sb.st_size > max) {
        rc = vk_err_set(err, VK_ETOOBIG, "%s is larger than %zu bytes", path, max);
        goto out;
    }
    /* One byte more than allowed, to notice a file that grew since fstat. */
    buf = malloc(max + 1);
    if (buf == NULL) {
        rc = vk_err_set(err, VK_ENOMEM, "out of memory");
        goto out;
    }
    for (;;) {
        ssize_t r = read(fd, buf + n, max + 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = vk_err_set(err, VK_EIO, "cannot read %s: %s", path, strerror(errno));
            goto out;
        }
        if (r == 0)
            break;
        n += (size_t)r;
        if (n > max) {
            rc = vk_err_set(err, VK_ETOOBIG, "%s is larger than %zu bytes", path, max);
            goto out;
        }
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    buf = NULL;
out:
    if (buf != NULL)
        vk_file_free(buf, max + 1);
    close(fd);
    return rc;
}

void vk_file_free(char *p, size_t len)
{
    if (p == NULL)
        return;
    vk_wipe(p, len);
    free(p);
}
