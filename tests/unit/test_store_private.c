/* The data directory is private: the SQLite store creates its files 0600 whatever the umask, and
 * refuses to open -- naming the path and the fix -- a directory, or a file in it, that group or
 * others may read or write, or that belongs to another user. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "store/store.h"

struct fx {
    char base[64]; /* a private temporary directory; the data directory goes inside */
    char data[96];
    char path[160];
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    snprintf(f->base, sizeof f->base, "/tmp/vk-private-test-XXXXXX");
    if (f == NULL || mkdtemp(f->base) == NULL)
        return -1;
    snprintf(f->data, sizeof f->data, "%s/data", f->base);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", f->base);
    int rc = system(cmd);
    free(f);
    return rc == 0 ? 0 : -1;
}

static mode_t mode_of(const char *path)
{
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    return sb.st_mode & 07777;
}

/* Opens the store, writes something (so -wal and -shm exist) and checks every file while it is
 * open; then closes it. */
static void open_write_close(struct fx *f)
{
    struct vk_store *st = NULL;
    struct vk_err err = {{0}};
    int rc = vk_store_open(f->data, &st, &err);
    if (rc != VK_OK)
        fail_msg("open: %s", err.msg);
    uint8_t k[VK_DIGEST_LEN];
    assert_int_equal(vk_store_secret_get_or_create(st, "csrf", k), VK_OK);
    const char *files[] = {"valetkey.db", "valetkey.db-wal", "valetkey.db-shm"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(f->path, sizeof f->path, "%s/%s", f->data, files[i]);
        assert_int_equal(mode_of(f->path), 0600);
    }
    vk_store_close(st);
}

static void files_are_created_private_whatever_the_umask(void **state)
{
    struct fx *f = *state;
    mode_t old = umask(022); /* the usual one: the store must not depend on main()'s umask */
    open_write_close(f);
    assert_int_equal(mode_of(f->data), 0700);
    /* a pre-existing private directory: the database files are private too */
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf %s && mkdir -m 700 %s", f->data, f->data);
    assert_int_equal(system(cmd), 0);
    open_write_close(f);
    umask(old);
}

static void expect_refused(struct fx *f, const char *path, const char *fix)
{
    struct vk_store *st = NULL;
    struct vk_err err = {{0}};
    assert_int_equal(vk_store_open(f->data, &st, &err), VK_EINVAL);
    assert_null(st);
    if (strstr(err.msg, path) == NULL || strstr(err.msg, fix) == NULL)
        fail_msg("the message must name %s and '%s': %s", path, fix, err.msg);
}

static void a_directory_open_to_others_is_refused(void **state)
{
    struct fx *f = *state;
    const mode_t modes[] = {0755, 0750, 0710, 0701, 0770, 0777};
    assert_int_equal(mkdir(f->data, 0700), 0);
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        assert_int_equal(chmod(f->data, modes[i]), 0);
        char fix[160];
        snprintf(fix, sizeof fix, "chmod 700 %s", f->data);
        expect_refused(f, f->data, fix);
    }
    /* refused before anything was created in it */
    snprintf(f->path, sizeof f->path, "%s/valetkey.db", f->data);
    assert_int_equal(access(f->path, F_OK), -1);
    assert_int_equal(chmod(f->data, 0700), 0);
    open_write_close(f);
}

static void a_file_open_to_others_is_refused(void **state)
{
    struct fx *f = *state;
    open_write_close(f);
    /* the database, its log and its index, as older versions left them, and any other file */
    const char *names[] = {"valetkey.db", "valetkey.db-wal", "valetkey.db-shm", "backup.db"};
    const mode_t modes[] = {0644, 0640, 0620, 0604, 0602};
    for (size_t n = 0; n < sizeof names / sizeof names[0]; n++) {
        snprintf(f->path, sizeof f->path, "%s/%s", f->data, names[n]);
        int fd = open(f->path, O_WRONLY | O_CREAT, 0600);
        assert_true(fd >= 0);
        close(fd);
        for (size_t m = 0; m < sizeof modes / sizeof modes[0]; m++) {
            assert_int_equal(chmod(f->path, modes[m]), 0);
            char fix[200];
            snprintf(fix, sizeof fix, "chmod 600 %s", f->path);
            expect_refused(f, f->path, fix);
        }
        assert_int_equal(chmod(f->path, 0600), 0);
    }
    /* a subdirectory open to others too */
    snprintf(f->path, sizeof f->path, "%s/old", f->data);
    assert_int_equal(mkdir(f->path, 0755), 0);
    assert_int_equal(chmod(f->path, 0755), 0);
    char fix[200];
    snprintf(fix, sizeof fix, "chmod 700 %s", f->path);
    expect_refused(f, f->path, fix);
    assert_int_equal(chmod(f->path, 0700), 0);
    open_write_close(f);
}

static void a_directory_of_another_user_is_refused(void **state)
{
    struct fx *f = *state;
    if (geteuid() != 0)
        skip(); /* only root can hand a directory to someone else */
    assert_int_equal(mkdir(f->data, 0700), 0);
    assert_int_equal(chown(f->data, 4321, 4321), 0);
    expect_refused(f, f->data, "chown");
    assert_int_equal(chown(f->data, 0, 0), 0);
    open_write_close(f);
    snprintf(f->path, sizeof f->path, "%s/valetkey.db", f->data);
    assert_int_equal(chown(f->path, 4321, 4321), 0);
    expect_refused(f, f->path, "chown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(files_are_created_private_whatever_the_umask, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_directory_open_to_others_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(a_file_open_to_others_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(a_directory_of_another_user_is_refused, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
