/* Argon2id password hashing (auth/password.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include <argon2.h>

#include "auth/password.h"
#include "base/err.h"

/* an all-zero 16-byte salt and 32-byte hash, unpadded base64 */
#define SALT0 "AAAAAAAAAAAAAAAAAAAAAA"
#define HASH0 "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"

#define PW(lit) ((struct vk_secret){(lit), sizeof(lit) - 1})

/* CPU time of this thread: what a hash costs, whatever else the machine is running (wall-clock
 * comparisons were flaky with a dozen other test processes on two cores). */
static int64_t cpu_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static const char good_pw[] = "correct horse battery staple";
static char good_hash[VK_PASSWORD_HASH_MAX];

static int setup(void **state)
{
    (void)state;
    return vk_password_hash(PW(good_pw), good_hash, sizeof good_hash) == VK_OK ? 0 : -1;
}

/* An encoded hash made directly with libargon2, for parameters and variants we never produce. */
static void argon2_encode(argon2_type type, uint32_t t, uint32_t m, const char *pw, size_t pwlen,
                          char *out, size_t outsz)
{
    static const uint8_t salt[16] = "0123456789abcdef";
    assert_int_equal(argon2_hash(t, m, 1, pw, pwlen, salt, sizeof salt, NULL, 32, out, outsz,
                                 type, ARGON2_VERSION_13),
                     ARGON2_OK);
}

static void hash_is_argon2id_with_current_parameters(void **state)
{
    (void)state;
    assert_true(strncmp(good_hash, "$argon2id$v=19$m=19456,t=2,p=1$", 31) == 0);
    /* 22 characters of salt (16 bytes), 43 of hash (32 bytes) */
    assert_int_equal(strlen(good_hash), 31 + 22 + 1 + 43);
    assert_false(vk_password_needs_rehash(good_hash));
}

static void correct_password_verifies(void **state)
{
    (void)state;
    assert_true(vk_password_verify(good_hash, PW(good_pw)));
}

static void wrong_password_fails(void **state)
{
    (void)state;
    assert_false(vk_password_verify(good_hash, PW("correct horse battery stapl")));
    assert_false(vk_password_verify(good_hash, PW("correct horse battery staple ")));
    assert_false(vk_password_verify(good_hash, PW("Correct horse battery staple")));
    assert_false(vk_password_verify(good_hash, PW("")));
    assert_false(vk_password_verify(good_hash, (struct vk_secret){NULL, 0}));
}

static void two_hashes_of_one_password_differ(void **state)
{
    (void)state;
    char h2[VK_PASSWORD_HASH_MAX];
    assert_int_equal(vk_password_hash(PW(good_pw), h2, sizeof h2), VK_OK);
    assert_string_not_equal(h2, good_hash);
    /* the salts differ, not only the hashes */
    assert_true(strncmp(h2, good_hash, 31 + 22) != 0);
    assert_true(vk_password_verify(h2, PW(good_pw)));
}

static void malformed_encoded_strings_fail(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "garbage",
        "$argon2id$",
        "$argon2id$v=19$m=19456,t=2,p=1$",
        "$argon2id$v=19$m=19456,t=2,p=1$$",
        "$argon2id$v=19$m=19456,t=2,p=1$!!!!!!!!!!!!!!!!!!!!!!$????",
        "$argon2id$v=16$m=19456,t=2,p=1$" SALT0 "$" HASH0,
        "$argon2id$m=19456,t=2,p=1$" SALT0 "$" HASH0,
        "$argon2id$v=19$t=2,m=19456,p=1$" SALT0 "$" HASH0,
        "$argon2id$v=19$m=019456,t=2,p=1$" SALT0 "$" HASH0,
        "$argon2id$v=19$m=-1,t=2,p=1$" SALT0 "$" HASH0,
        /* parameters a damaged row could carry: 4 TiB of memory, 2^32 passes, 0 lanes */
        "$argon2id$v=19$m=4294967295,t=2,p=1$" SALT0 "$" HASH0,
        "$argon2id$v=19$m=19456,t=4294967295,p=1$" SALT0 "$" HASH0,
        "$argon2id$v=19$m=19456,t=2,p=0$" SALT0 "$" HASH0,
        "$argon2id$v=19$m=7,t=2,p=1$" SALT0 "$" HASH0,
        "$argon2id$v=19$m=19456,t=2,p=1$" SALT0 "=$" HASH0,
        "$argon2id$v=19$m=19456,t=2,p=1$" SALT0 "$" HASH0 "$x",
        "$argon2d$v=19$m=19456,t=2,p=1$" SALT0 "$" HASH0,
        "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_false(vk_password_verify(bad[i], PW(good_pw)));
        assert_true(vk_password_needs_rehash(bad[i]));
    }
    assert_false(vk_password_verify(NULL, PW(good_pw)));
    assert_true(vk_password_needs_rehash(NULL));

    /* the same hash with one character changed in the variant name, the hash or the salt */
    char h[VK_PASSWORD_HASH_MAX];
    memcpy(h, good_hash, sizeof h);
    h[8] = 'x'; /* $argon2ix$ */
    assert_false(vk_password_verify(h, PW(good_pw)));
    memcpy(h, good_hash, sizeof h);
    h[strlen(h) - 2] = h[strlen(h) - 2] == 'A' ? 'B' : 'A';
    assert_false(vk_password_verify(h, PW(good_pw)));
    memcpy(h, good_hash, sizeof h);
    h[35] = h[35] == 'A' ? 'B' : 'A';
    assert_false(vk_password_verify(h, PW(good_pw)));
}

static void truncated_hash_fails_at_every_length(void **state)
{
    (void)state;
    char h[VK_PASSWORD_HASH_MAX];
    size_t n = strlen(good_hash);
    /* every cut inside the fixed parts, and a few inside salt and hash (each one verifies) */
    static const size_t cuts[] = {0, 1, 9, 10, 14, 15, 20, 30, 31, 40, 53, 54, 60, 80, 95, 96};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        assert_true(cuts[i] < n);
        memcpy(h, good_hash, cuts[i]);
        h[cuts[i]] = '\0';
        assert_false(vk_password_verify(h, PW(good_pw)));
    }
}

static void argon2i_and_argon2d_hashes_are_refused(void **state)
{
    (void)state;
    char h[VK_PASSWORD_HASH_MAX];
    /* genuine hashes of the right password, but not Argon2id */
    argon2_encode(Argon2_i, 2, 19456, good_pw, strlen(good_pw), h, sizeof h);
    assert_true(strncmp(h, "$argon2i$", 9) == 0);
    assert_false(vk_password_verify(h, PW(good_pw)));
    argon2_encode(Argon2_d, 2, 19456, good_pw, strlen(good_pw), h, sizeof h);
    assert_false(vk_password_verify(h, PW(good_pw)));
}

static void older_weaker_hashes_verify_and_need_rehash(void **state)
{
    (void)state;
    char h[VK_PASSWORD_HASH_MAX];
    /* lower memory */
    argon2_encode(Argon2_id, 2, 8192, good_pw, strlen(good_pw), h, sizeof h);
    assert_true(vk_password_verify(h, PW(good_pw)));
    assert_true(vk_password_needs_rehash(h));
    /* fewer passes */
    argon2_encode(Argon2_id, 1, 19456, good_pw, strlen(good_pw), h, sizeof h);
    assert_true(vk_password_verify(h, PW(good_pw)));
    assert_true(vk_password_needs_rehash(h));
    /* stronger than current: fine as it is */
    argon2_encode(Argon2_id, 3, 19456, good_pw, strlen(good_pw), h, sizeof h);
    assert_true(vk_password_verify(h, PW(good_pw)));
    assert_false(vk_password_needs_rehash(h));
    /* well-formed strings need no hashing to be judged */
    assert_true(vk_password_needs_rehash("$argon2id$v=19$m=19455,t=2,p=1$" SALT0 "$"
                                         HASH0));
    assert_true(vk_password_needs_rehash("$argon2id$v=19$m=65536,t=1,p=4$" SALT0 "$"
                                         HASH0));
    /* a 16-byte hash is weaker than our 32 */
    assert_true(vk_password_needs_rehash("$argon2id$v=19$m=19456,t=2,p=1$" SALT0 "$"
                                         "AAAAAAAAAAAAAAAAAAAAAA"));
    assert_false(vk_password_needs_rehash("$argon2id$v=19$m=65536,t=3,p=4$" SALT0 "$"
                                          HASH0));
}

static void overlong_password_is_rejected(void **state)
{
    (void)state;
    char *pw = malloc(VK_PASSWORD_MAX_LEN + 1);
    char h[VK_PASSWORD_HASH_MAX];
    assert_non_null(pw);
    memset(pw, 'p', VK_PASSWORD_MAX_LEN + 1);

    /* exactly the limit works */
    assert_int_equal(vk_password_hash((struct vk_secret){pw, VK_PASSWORD_MAX_LEN}, h, sizeof h),
                     VK_OK);
    assert_true(vk_password_verify(h, (struct vk_secret){pw, VK_PASSWORD_MAX_LEN}));

    /* one more byte is refused when hashing... */
    assert_int_equal(vk_password_hash((struct vk_secret){pw, VK_PASSWORD_MAX_LEN + 1}, h, sizeof h),
                     VK_ETOOBIG);
    assert_string_equal(h, "");
    /* ...and when verifying, even against a genuine hash of that very password, and without
     * spending the time of a hash */
    argon2_encode(Argon2_id, 2, 19456, pw, VK_PASSWORD_MAX_LEN + 1, h, sizeof h);
    int64_t t0 = cpu_us();
    assert_false(vk_password_verify(h, (struct vk_secret){pw, VK_PASSWORD_MAX_LEN + 1}));
    assert_true(cpu_us() - t0 < 2000);
    free(pw);
}

static void small_output_buffer_is_refused(void **state)
{
    (void)state;
    char h[64];
    assert_int_equal(vk_password_hash(PW(good_pw), h, sizeof h), VK_ETOOBIG);
    assert_string_equal(h, "");
}

static int64_t min_time_us(void (*fn)(const char *), const char *arg, int runs)
{
    int64_t best = INT64_MAX;
    for (int i = 0; i < runs; i++) {
        int64_t t0 = cpu_us();
        fn(arg);
        int64_t d = cpu_us() - t0;
        if (d < best)
            best = d;
    }
    return best;
}

static void run_verify(const char *enc)
{
    (void)vk_password_verify(enc, PW("wrong password"));
}

static void run_dummy(const char *unused)
{
    (void)unused;
    vk_password_dummy_verify(PW("wrong password"));
}

static void dummy_and_malformed_cost_about_one_verification(void **state)
{
    (void)state;
    /* Minimum of a few runs each, so load on the machine does not make the test flaky; the bound
     * is loose on purpose: the point is "one Argon2id run", not "a microsecond shortcut". */
    int64_t real = min_time_us(run_verify, good_hash, 5);
    int64_t dummy = min_time_us(run_dummy, NULL, 5);
    int64_t broken = min_time_us(run_verify, "$argon2i$garbage", 5);
    assert_true(dummy * 3 > real && dummy < real * 3);
    assert_true(broken * 3 > real && broken < real * 3);
    if (getenv("VK_TEST_VERBOSE") != NULL)
        fprintf(stderr, "verify %lld us, dummy %lld us, malformed %lld us\n", (long long)real,
                (long long)dummy, (long long)broken);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(hash_is_argon2id_with_current_parameters),
        cmocka_unit_test(correct_password_verifies),
        cmocka_unit_test(wrong_password_fails),
        cmocka_unit_test(two_hashes_of_one_password_differ),
        cmocka_unit_test(malformed_encoded_strings_fail),
        cmocka_unit_test(truncated_hash_fails_at_every_length),
        cmocka_unit_test(argon2i_and_argon2d_hashes_are_refused),
        cmocka_unit_test(older_weaker_hashes_verify_and_need_rehash),
        cmocka_unit_test(overlong_password_is_rejected),
        cmocka_unit_test(small_output_buffer_is_refused),
        cmocka_unit_test(dummy_and_malformed_cost_about_one_verification),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
