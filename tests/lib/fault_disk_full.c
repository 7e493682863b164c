/* A test-only LD_PRELOAD library that makes the data directory's disk look full: while the file
 * named by VALETKEY_FAULT_DISK_FULL exists, every write(2)/pwrite(2) to a file whose path starts
 * with VALETKEY_FAULT_DIR fails with ENOSPC, as it does on a full file system (SQLite then
 * reports SQLITE_FULL, like on a real full disk). Other files, such as the log on stderr, are
 * written as usual, and removing the flag file "frees the disk".
 *
 * None of this is in the server: the integration tests build it beside the binary
 * (BUILD/tests/libvkfault.so) and preload it into a server they start, which needs no root (a
 * tiny tmpfs would) and puts no fault hook into the production binary. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

static ssize_t (*real_write)(int, const void *, size_t);
static ssize_t (*real_pwrite)(int, const void *, size_t, off_t);
static ssize_t (*real_pwrite64)(int, const void *, size_t, off_t);

__attribute__((constructor)) static void resolve(void)
{
    real_write = (ssize_t(*)(int, const void *, size_t))dlsym(RTLD_NEXT, "write");
    real_pwrite = (ssize_t(*)(int, const void *, size_t, off_t))dlsym(RTLD_NEXT, "pwrite");
    real_pwrite64 = (ssize_t(*)(int, const void *, size_t, off_t))dlsym(RTLD_NEXT, "pwrite64");
}

static bool disk_full(int fd)
{
    const char *flag = getenv("VALETKEY_FAULT_DISK_FULL");
    const char *dir = getenv("VALETKEY_FAULT_DIR");
    char link[64], path[4096];
    if (flag == NULL || dir == NULL || dir[0] == '\0' || access(flag, F_OK) != 0)
        return false;
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, sizeof path - 1);
    if (n <= 0)
        return false;
    path[n] = '\0';
    return strncmp(path, dir, strlen(dir)) == 0;
}

ssize_t write(int fd, const void *buf, size_t n)
{
    if (disk_full(fd)) {
        errno = ENOSPC;
        return -1;
    }
    return real_write(fd, buf, n);
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
    if (disk_full(fd)) {
        errno = ENOSPC;
        return -1;
    }
    return real_pwrite(fd, buf, n, off);
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off_t off)
{
    if (disk_full(fd)) {
        errno = ENOSPC;
        return -1;
    }
    return real_pwrite64(fd, buf, n, off);
}
