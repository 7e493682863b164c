/* The master key (key-encryption key): its file formats and permission checks, its id, and
 * AES-256-GCM key wrapping with associated data (base/crypto.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/b64url.h"
#include "base/crypto.h"

static const char PEM[] = "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0w"
                          "\n-----END PRIVATE KEY-----\n";
#define AAD VK_STR("valetkey/signing-key/v1\0kid-1\0ES256\0" "1")

/* memmem is a GNU extension; the build is plain POSIX. */
static bool contains(const void *hay, size_t n, const char *needle)
{
    size_t m = strlen(needle);
    for (size_t i = 0; i + m <= n; i++)
        if (memcmp((const char *)hay + i, needle, m) == 0)
            return true;
    return false;
}

static struct vk_kek kek_of(uint8_t fill)
{
    uint8_t raw[VK_KEK_LEN];
    struct vk_kek k;
    memset(raw, fill, sizeof raw);
    assert_int_equal(vk_kek_parse(raw, sizeof raw, &k), VK_OK);
    return k;
}

static void wrap_round_trip(void **state)
{
    (void)state;
    struct vk_kek k = kek_of(7);
    uint8_t blob[sizeof PEM + VK_WRAP_OVERHEAD], back[sizeof PEM];
    size_t n = 0, m = 0;
    assert_int_equal(vk_kek_wrap(&k, AAD, (const uint8_t *)PEM, sizeof PEM - 1, blob, sizeof blob,
                                 &n),
                     VK_OK);
    assert_int_equal(n, sizeof PEM - 1 + VK_WRAP_OVERHEAD);
    assert_int_equal(blob[0], VK_WRAP_VERSION);
    /* the plaintext does not appear in the blob */
    assert_false(contains(blob, n, "PRIVATE KEY"));
    assert_int_equal(vk_kek_unwrap(&k, AAD, blob, n, back, sizeof back, &m), VK_OK);
    assert_int_equal(m, sizeof PEM - 1);
    assert_memory_equal(back, PEM, m);

    /* a fresh nonce every time: two wraps of the same key differ */
    uint8_t blob2[sizeof blob];
    size_t n2 = 0;
    assert_int_equal(vk_kek_wrap(&k, AAD, (const uint8_t *)PEM, sizeof PEM - 1, blob2,
                                 sizeof blob2, &n2),
                     VK_OK);
    assert_int_equal(n2, n);
    assert_memory_not_equal(blob, blob2, n);
}

static void unwrap_fails_with_the_wrong_master_key(void **state)
{
    (void)state;
    struct vk_kek k = kek_of(7), other = kek_of(8);
    uint8_t blob[sizeof PEM + VK_WRAP_OVERHEAD], back[sizeof PEM];
    size_t n = 0, m = 99;
    assert_int_equal(vk_kek_wrap(&k, AAD, (const uint8_t *)PEM, sizeof PEM - 1, blob, sizeof blob,
                                 &n),
                     VK_OK);
    memset(back, 'x', sizeof back);
    assert_int_equal(vk_kek_unwrap(&other, AAD, blob, n, back, sizeof back, &m), VK_ECRYPTO);
    assert_int_equal(m, 0);
    /* nothing unauthenticated is left in the output */
    assert_false(contains(back, sizeof back, "PRIVATE"));
    assert_string_not_equal(k.id, other.id);
}

static void unwrap_fails_on_any_changed_byte(void **state)
{
    (void)state;
    struct vk_kek k = kek_of(7);
    uint8_t blob[sizeof PEM + VK_WRAP_OVERHEAD], back[sizeof PEM];
    size_t n = 0, m = 0;
    assert_int_equal(vk_kek_wrap(&k, AAD, (const uint8_t *)PEM, sizeof PEM - 1, blob, sizeof blob,
                                 &n),
                     VK_OK);
    /* version, nonce, ciphertext and tag: every byte, every bit position once */
    for (size_t i = 0; i < n; i++) {
        uint8_t t[sizeof blob];
        memcpy(t, blob, n);
        t[i] ^= (uint8_t)(1u << (i % 8));
        assert_int_not_equal(vk_kek_unwrap(&k, AAD, t, n, back, sizeof back, &m), VK_OK);
    }
    /* truncated blobs: shorter than the overhead, or missing the last tag byte */
    assert_int_not_equal(vk_kek_unwrap(&k, AAD, blob, VK_WRAP_OVERHEAD - 1, back, sizeof back, &m),
                         VK_OK);
    assert_int_not_equal(vk_kek_unwrap(&k, AAD, blob, n - 1, back, sizeof back, &m), VK_OK);
    /* the untouched blob still opens */
    assert_int_equal(vk_kek_unwrap(&k, AAD, blob, n, back, sizeof back, &m), VK_OK);
}

static void unwrap_fails_when_the_associated_data_differs(void **state)
{
    (void)state;
    struct vk_kek k = kek_of(7);
    uint8_t blob[sizeof PEM + VK_WRAP_OVERHEAD], back[sizeof PEM];
    size_t n = 0, m = 0;
    assert_int_equal(vk_kek_wrap(&k, AAD, (const uint8_t *)PEM, sizeof PEM - 1, blob, sizeof blob,
                                 &n),
                     VK_OK);
    /* the blob of kid-1 presented as another kid, another use, another algorithm, or none */
    const vk_str others[] = {VK_STR("valetkey/signing-key/v1\0kid-2\0ES256\0" "1"),
                             VK_STR("valetkey/signing-key/v1\0kid-1\0ES256\0" "2"),
                             VK_STR("valetkey/signing-key/v1\0kid-1\0RS256\0" "1"),
                             VK_STR("valetkey/signing-key/v1\0kid-1\0ES256\0"),
                             VK_STR_NULL};
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++)
        assert_int_equal(vk_kek_unwrap(&k, others[i], blob, n, back, sizeof back, &m), VK_ECRYPTO);
}

static void parse_accepts_raw_hex_and_base64_forms_of_one_key(void **state)
{
    (void)state;
    uint8_t raw[VK_KEK_LEN];
    for (size_t i = 0; i < sizeof raw; i++)
        raw[i] = (uint8_t)(i * 37 + 10); /* includes '\n' (10) as a raw byte */
    struct vk_kek a, b;
    assert_int_equal(vk_kek_parse(raw, sizeof raw, &a), VK_OK);
    assert_memory_equal(a.key, raw, VK_KEK_LEN);
    assert_int_equal(strlen(a.id), VK_KEK_ID_LEN);

    char hex[2 * VK_KEK_LEN + 3];
    vk_hex(raw, sizeof raw, hex);
    strcat(hex, "\r\n"); /* openssl rand -hex 32 > FILE, edited on Windows */
    assert_int_equal(vk_kek_parse((const uint8_t *)hex, strlen(hex), &b), VK_OK);
    assert_memory_equal(b.key, raw, VK_KEK_LEN);
    assert_string_equal(b.id, a.id);

    char url[64];
    vk_kek_encode(&a, url); /* valetkey key new-master-key */
    assert_int_equal(strlen(url), 43);
    assert_int_equal(vk_kek_parse((const uint8_t *)url, 43, &b), VK_OK);
    assert_string_equal(b.id, a.id);

    /* openssl rand -base64 32: the standard alphabet with padding, and a newline */
    char std[64];
    strcpy(std, url);
    for (char *p = std; *p; p++)
        *p = *p == '-' ? '+' : *p == '_' ? '/' : *p;
    strcat(std, "=\n");
    assert_int_equal(vk_kek_parse((const uint8_t *)std, strlen(std), &b), VK_OK);
    assert_memory_equal(b.key, raw, VK_KEK_LEN);
}

static void parse_rejects_other_lengths_and_garbage(void **state)
{
    (void)state;
    struct vk_kek k;
    const char *bad[] = {"",
                         "\n",
                         "short",
                         /* 31 and 33 bytes */
                         "0123456789012345678901234567890",
                         "012345678901234567890123456789012",
                         /* 62 and 66 hex digits, and 64 characters that are not hex */
                         "00112233445566778899aabbccddeeff00112233445566778899aabbccddee",
                         "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff00",
                         "00112233445566778899aabbccddeeff00112233445566778899aabbccddeefg",
                         /* base64 of 31 bytes; base64url with an invalid character */
                         "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHg==",
                         "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh*"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(vk_kek_parse((const uint8_t *)bad[i], strlen(bad[i]), &k), VK_EINVAL);
        assert_string_equal(k.id, "");
    }
}

static void id_is_a_fingerprint_not_the_key(void **state)
{
    (void)state;
    struct vk_kek a = kek_of(1), b = kek_of(2), a2 = kek_of(1), g;
    assert_string_equal(a.id, a2.id); /* stable */
    assert_string_not_equal(a.id, b.id);
    char hex[2 * VK_KEK_LEN + 1];
    vk_hex(a.key, VK_KEK_LEN, hex);
    assert_null(strstr(hex, a.id)); /* not a slice of the key */
    assert_int_equal(vk_kek_generate(&g), VK_OK);
    assert_int_equal(strlen(g.id), VK_KEK_ID_LEN);
    vk_kek_clear(&g);
    for (size_t i = 0; i < sizeof g; i++)
        assert_int_equal(((const uint8_t *)&g)[i], 0);
}

static void derive_separates_purposes(void **state)
{
    (void)state;
    struct vk_kek a = kek_of(1), b = kek_of(2);
    uint8_t x[VK_DIGEST_LEN], y[VK_DIGEST_LEN], z[VK_DIGEST_LEN];
    vk_kek_derive(&a, "valetkey/csrf/v1", (const uint8_t *)"in", 2, x);
    vk_kek_derive(&a, "valetkey/key-wrap/v1", (const uint8_t *)"in", 2, y);
    vk_kek_derive(&b, "valetkey/csrf/v1", (const uint8_t *)"in", 2, z);
    assert_memory_not_equal(x, y, VK_DIGEST_LEN);
    assert_memory_not_equal(x, z, VK_DIGEST_LEN);
    vk_kek_derive(&a, "valetkey/csrf/v1", (const uint8_t *)"in", 2, y);
    assert_memory_equal(x, y, VK_DIGEST_LEN);
    assert_memory_not_equal(x, a.key, VK_DIGEST_LEN);
}

/* --- master-key files ---------------------------------------------------------------------- */

struct files {
    char dir[64];
    char path[128];
};

static int files_setup(void **state)
{
    struct files *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/vk-kek-test-XXXXXX");
    if (f == NULL || mkdtemp(f->dir) == NULL)
        return -1;
    snprintf(f->path, sizeof f->path, "%s/master.key", f->dir);
    *state = f;
    return 0;
}

static int files_teardown(void **state)
{
    struct files *f = *state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
    int rc = system(cmd);
    free(f);
    return rc == 0 ? 0 : -1;
}

static void write_file(const char *path, const void *p, size_t n, mode_t mode)
{
    unlink(path);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, p, n), (ssize_t)n);
    close(fd);
    assert_int_equal(chmod(path, mode), 0);
}

static void load_file_reads_a_private_file(void **state)
{
    struct files *f = *state;
    struct vk_kek k, want = kek_of(9);
    struct vk_err err = {{0}};
    char line[64];
    vk_kek_encode(&want, line);
    strcat(line, "\n");
    write_file(f->path, line, strlen(line), 0600);
    assert_int_equal(vk_kek_load_file(f->path, &k, &err), VK_OK);
    assert_string_equal(k.id, want.id);
    write_file(f->path, line, strlen(line), 0400);
    assert_int_equal(vk_kek_load_file(f->path, &k, &err), VK_OK);
    assert_memory_equal(k.key, want.key, VK_KEK_LEN);
}

static void load_file_refuses_group_or_other_access(void **state)
{
    struct files *f = *state;
    struct vk_kek k;
    char line[64];
    struct vk_kek want = kek_of(9);
    vk_kek_encode(&want, line);
    const mode_t modes[] = {0640, 0604, 0620, 0602, 0644, 0660, 0666};
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        struct vk_err err = {{0}};
        write_file(f->path, line, strlen(line), modes[i]);
        assert_int_equal(vk_kek_load_file(f->path, &k, &err), VK_EINVAL);
        assert_non_null(strstr(err.msg, f->path));        /* names the file */
        assert_non_null(strstr(err.msg, "chmod 600"));    /* and the fix */
        assert_string_equal(k.id, "");
    }
}

static void load_file_refuses_directories_garbage_and_big_files(void **state)
{
    struct files *f = *state;
    struct vk_kek k;
    struct vk_err err = {{0}};
    assert_int_not_equal(vk_kek_load_file(f->dir, &k, &err), VK_OK); /* a directory */
    assert_non_null(strstr(err.msg, f->dir));
    assert_int_equal(vk_kek_load_file("/nonexistent/vk/master.key", &k, &err), VK_EIO);
    assert_non_null(strstr(err.msg, "/nonexistent/vk/master.key"));
    write_file(f->path, "not a key\n", 10, 0600);
    assert_int_equal(vk_kek_load_file(f->path, &k, &err), VK_EINVAL);
    assert_non_null(strstr(err.msg, "new-master-key"));
    char big[VK_KEK_FILE_MAX + 10];
    memset(big, 'A', sizeof big);
    write_file(f->path, big, sizeof big, 0600);
    assert_int_equal(vk_kek_load_file(f->path, &k, &err), VK_ETOOBIG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(wrap_round_trip),
        cmocka_unit_test(unwrap_fails_with_the_wrong_master_key),
        cmocka_unit_test(unwrap_fails_on_any_changed_byte),
        cmocka_unit_test(unwrap_fails_when_the_associated_data_differs),
        cmocka_unit_test(parse_accepts_raw_hex_and_base64_forms_of_one_key),
        cmocka_unit_test(parse_rejects_other_lengths_and_garbage),
        cmocka_unit_test(id_is_a_fingerprint_not_the_key),
        cmocka_unit_test(derive_separates_purposes),
        cmocka_unit_test_setup_teardown(load_file_reads_a_private_file, files_setup,
                                        files_teardown),
        cmocka_unit_test_setup_teardown(load_file_refuses_group_or_other_access, files_setup,
                                        files_teardown),
        cmocka_unit_test_setup_teardown(load_file_refuses_directories_garbage_and_big_files,
                                        files_setup, files_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
