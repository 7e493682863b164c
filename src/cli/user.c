/* valetkey user add|list|remove|passwd. Prints JSON; never prints a password or its hash.
 *
 * Passwords are read from stdin only, never from argv (which every local user can read in
 * /proc). On a terminal the password is asked twice with echo off; otherwise one line is read. */
#include "cli/cli.h"

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <jansson.h>

#include "auth/password.h"
#include "base/clock.h"
#include "base/crypto.h"
#include "store/store.h"

static const char usage[] =
    "usage: valetkey user add --username NAME [--password-stdin] [--claim KEY=VALUE]...\n"
    "       valetkey user list\n"
    "       valetkey user remove NAME\n"
    "       valetkey user passwd NAME [--password-stdin]\n"
    "Every command takes --data DIR. The password is always read from stdin: typed twice\n"
    "(without echo) on a terminal, otherwise one line. Claims: name, given_name, family_name,\n"
    "middle_name, nickname, preferred_username, profile, picture, website, email,\n"
    "email_verified (true|false), gender, birthdate, zoneinfo, locale, phone_number,\n"
    "phone_number_verified (true|false).\n";

#define USERNAME_MAX   64
#define CLAIM_VALUE_MAX 2048
/* room for the longest password, a CR, and one more byte to notice a longer line */
#define PW_BUF (VK_PASSWORD_MAX_LEN + 2)

/* OpenID Connect Core 1.0 §5.1 standard claims that an administrator may set (address, a JSON
 * object, and updated_at, which the server maintains, are left out). */
static const struct {
    const char *name;
    bool boolean;
} claim_names[] = {
    {"name", false},         {"given_name", false},   {"family_name", false},
    {"middle_name", false},  {"nickname", false},     {"preferred_username", false},
    {"profile", false},      {"picture", false},      {"website", false},
    {"email", false},        {"email_verified", true}, {"gender", false},
    {"birthdate", false},    {"zoneinfo", false},     {"locale", false},
    {"phone_number", false}, {"phone_number_verified", true},
};

/* ---- terminal handling ---------------------------------------------------------------------- */

/* Restored by the signal handler when the user presses ^C at a password prompt, so the shell is
 * not left without echo. */
static struct termios saved_tio;
static volatile sig_atomic_t tio_saved;

static void restore_tty_and_die(int sig)
{
    if (tio_saved)
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_tio);
    signal(sig, SIG_DFL);
    raise(sig);
}

static const int tty_signals[] = {SIGINT, SIGTERM, SIGQUIT, SIGHUP};

/* Reads one line from stdin with read(2), so no copy of the password stays in a stdio buffer.
 * The line end (\n or \r\n) is not stored. VK_OK with *len set; VK_ETOOBIG when the line does
 * not fit (the rest of the line is consumed); VK_ENOTFOUND at end of input before any byte;
 * VK_EIO on a read error. */
static int read_line(char *buf, size_t bufsz, size_t *len)
{
    size_t n = 0;
    bool any = false, too_long = false;
    int rc = VK_OK;
    *len = 0;
    for (;;) {
        char c;
        ssize_t r = read(STDIN_FILENO, &c, 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = VK_EIO;
            goto out;
        }
        if (r == 0)
            break;
        any = true;
        if (c == '\n')
            break;
        if (n + 1 >= bufsz) {
            too_long = true;
            continue;
        }
        buf[n++] = c;
    }
    if (!any) {
        rc = VK_ENOTFOUND;
        goto out;
    }
    if (too_long) {
        rc = VK_ETOOBIG;
        goto out;
    }
    if (n > 0 && buf[n - 1] == '\r')
        n--;
    *len = n;
out:
    vk_wipe(&buf[n], bufsz - n); /* the '\r' if any */
    if (rc != VK_OK)
        vk_wipe(buf, bufsz);
    return rc;
}

/* Prompts on stderr and reads one line from the terminal on stdin with echo off. */
static int prompt_line(const char *prompt, char *buf, size_t bufsz, size_t *len)
{
    struct termios quiet;
    struct sigaction sa, old[sizeof tty_signals / sizeof tty_signals[0]];
    size_t n_sig = sizeof tty_signals / sizeof tty_signals[0];
    int rc;

    *len = 0;
    if (tcgetattr(STDIN_FILENO, &saved_tio) != 0)
        return VK_EIO;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = restore_tty_and_die;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < n_sig; i++)
        sigaction(tty_signals[i], &sa, &old[i]);
    tio_saved = 1;
    quiet = saved_tio;
    quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHOE | ECHOK | ECHONL);
    if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) != 0) {
        rc = VK_EIO;
        goto out;
    }
    fputs(prompt, stderr);
    fflush(stderr);
    rc = read_line(buf, bufsz, len);
    fputc('\n', stderr);
out:
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_tio);
    tio_saved = 0;
    for (size_t i = 0; i < n_sig; i++)
        sigaction(tty_signals[i], &old[i], NULL);
    return rc;
}

/* Explains why a password just read cannot be used (rc from read_line), or returns 0. */
static int check_password(int rc, const char *pw, size_t len)
{
    if (rc == VK_ENOTFOUND)
        return vk_cli_fail(1, "no password on stdin (give it as one line on stdin)");
    if (rc == VK_ETOOBIG || len > VK_PASSWORD_MAX_LEN)
        return vk_cli_fail(1, "the password is longer than %d bytes", VK_PASSWORD_MAX_LEN);
    if (rc != VK_OK)
        return vk_cli_fail(1, "cannot read the password from stdin");
    switch (vk_password_check_new((struct vk_secret){pw, len})) {
    case VK_PASSWORD_OK:
        return 0;
    case VK_PASSWORD_EMPTY:
        return vk_cli_fail(1, "the password is empty");
    case VK_PASSWORD_TOO_SHORT:
        return vk_cli_fail(1, "the password must be at least %d bytes", VK_PASSWORD_MIN_LEN);
    case VK_PASSWORD_TOO_LONG:
        return vk_cli_fail(1, "the password is longer than %d bytes", VK_PASSWORD_MAX_LEN);
    case VK_PASSWORD_HAS_NUL:
        return vk_cli_fail(1, "the password must not contain a NUL byte");
    }
    return vk_cli_fail(1, "the password cannot be used");
}

/* Reads a new password into pw (PW_BUF bytes) and checks it. Returns 0, or the exit status
 * after printing why (pw is then wiped). */
static int read_new_password(char *pw, size_t *len)
{
    char again[PW_BUF];
    size_t len2 = 0;
    int status, rc;

    if (!isatty(STDIN_FILENO)) {
        rc = read_line(pw, PW_BUF, len);
        status = check_password(rc, pw, *len);
        goto out;
    }
    rc = prompt_line("New password: ", pw, PW_BUF, len);
    status = check_password(rc, pw, *len);
    if (status != 0)
        goto out;
    rc = prompt_line("Repeat the password: ", again, sizeof again, &len2);
    if (rc != VK_OK) {
        status = check_password(rc, again, len2);
        goto out;
    }
    if (!vk_ct_eq_secret((struct vk_secret){pw, *len}, (struct vk_secret){again, len2}))
        status = vk_cli_fail(1, "the passwords do not match");
out:
    vk_wipe(again, sizeof again);
    if (status != 0) {
        vk_wipe(pw, PW_BUF);
        *len = 0;
    }
    return status;
}

/* Reads, checks and hashes a new password into hash. Returns 0 or the exit status. */
static int new_password_hash(char hash[VK_PASSWORD_HASH_MAX])
{
    char pw[PW_BUF];
    size_t len = 0;
    int status = read_new_password(pw, &len);
    if (status == 0) {
        int rc = vk_password_hash((struct vk_secret){pw, len}, hash, VK_PASSWORD_HASH_MAX);
        if (rc != VK_OK)
            status = vk_cli_fail(1, "cannot hash the password: %s", vk_strerror(rc));
    }
    vk_wipe(pw, sizeof pw);
    return status;
}

/* ---- arguments ------------------------------------------------------------------------------- */

/* 1..64 characters of [A-Za-z0-9._@+-]: safe in logs, URLs and HTML without surprises. */
static bool username_ok(const char *u)
{
    size_t n = strlen(u);
    if (n == 0 || n > USERNAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = u[i];
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '@' || c == '+' || c == '-';
        if (!ok)
            return false;
    }
    return true;
}

static bool all_digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
    }
    return true;
}

/* OIDC Core §5.1 birthdate: YYYY-MM-DD, or YYYY alone; 0000 as the year when it is withheld. */
static bool birthdate_ok(const char *v)
{
    size_t n = strlen(v);
    if (n == 4)
        return all_digits(v, 4);
    return n == 10 && all_digits(v, 4) && v[4] == '-' && all_digits(v + 5, 2) && v[7] == '-' &&
           all_digits(v + 8, 2) && strncmp(v + 5, "00", 2) != 0 && strncmp(v + 5, "12", 2) <= 0 &&
           strncmp(v + 8, "00", 2) != 0 && strncmp(v + 8, "31", 2) <= 0;
}

static bool email_ok(const char *v)
{
    const char *at = strchr(v, '@');
    if (at == NULL || at == v || at[1] == '\0' || strchr(at + 1, '@') != NULL)
        return false;
    for (const char *p = v; *p != '\0'; p++) {
        if ((unsigned char)*p <= 0x20 || *p == 0x7f)
            return false;
    }
    return true;
}

/* Adds one --claim KEY=VALUE to obj. Returns 0 or the exit status (2: bad argument). */
static int add_claim(json_t *obj, const char *arg)
{
    const char *eq = strchr(arg, '=');
    char key[32];
    size_t i;
    if (eq == NULL || eq == arg || (size_t)(eq - arg) >= sizeof key)
        return vk_cli_fail(2, "--claim needs KEY=VALUE with a standard claim name");
    memcpy(key, arg, (size_t)(eq - arg));
    key[eq - arg] = '\0';
    const char *v = eq + 1;
    for (i = 0; i < sizeof claim_names / sizeof claim_names[0]; i++) {
        if (strcmp(key, claim_names[i].name) == 0)
            break;
    }
    if (i == sizeof claim_names / sizeof claim_names[0])
        return vk_cli_fail(2, "unknown claim '%s' (allowed: name, given_name, family_name, "
                              "middle_name, nickname, preferred_username, profile, picture, "
                              "website, email, email_verified, gender, birthdate, zoneinfo, "
                              "locale, phone_number, phone_number_verified)", key);
    if (json_object_get(obj, key) != NULL)
        return vk_cli_fail(2, "claim '%s' given twice", key);
    if (v[0] == '\0')
        return vk_cli_fail(2, "claim '%s' has an empty value", key);
    if (strlen(v) > CLAIM_VALUE_MAX)
        return vk_cli_fail(2, "claim '%s' is longer than %d bytes", key, CLAIM_VALUE_MAX);
    json_t *jv;
    if (claim_names[i].boolean) {
        if (strcmp(v, "true") != 0 && strcmp(v, "false") != 0)
            return vk_cli_fail(2, "claim '%s' must be true or false", key);
        jv = json_boolean(strcmp(v, "true") == 0);
    } else {
        if (strcmp(key, "email") == 0 && !email_ok(v))
            return vk_cli_fail(2, "claim 'email' must look like local@domain");
        if (strcmp(key, "birthdate") == 0 && !birthdate_ok(v))
            return vk_cli_fail(2, "claim 'birthdate' must be YYYY-MM-DD or YYYY");
        jv = json_string(v); /* NULL for invalid UTF-8 */
        if (jv == NULL)
            return vk_cli_fail(2, "claim '%s' must be UTF-8 text", key);
    }
    if (json_object_set_new(obj, key, jv) != 0)
        return vk_cli_fail(1, "out of memory");
    return 0;
}

/* ---- output ---------------------------------------------------------------------------------- */

static json_t *user_json(const struct vk_user *u)
{
    json_t *j = json_object();
    if (j == NULL)
        return NULL;
    json_t *claims = json_loads(u->claims != NULL ? u->claims : "{}", JSON_REJECT_DUPLICATES,
                                NULL);
    if (claims != NULL && !json_is_object(claims)) {
        json_decref(claims);
        claims = NULL;
    }
    json_object_set_new(j, "sub", json_string(u->id));
    json_object_set_new(j, "username", json_string(u->username));
    json_object_set_new(j, "claims", claims != NULL ? claims : json_null());
    json_object_set_new(j, "created_at", json_integer(u->created_at));
    return j;
}

static json_t *done_json(const char *username, const char *what)
{
    json_t *j = json_object();
    if (j == NULL)
        return NULL;
    json_object_set_new(j, "username", json_string(username));
    json_object_set_new(j, what, json_true());
    return j;
}

/* ---- commands -------------------------------------------------------------------------------- */

/* Fails with a message unless `username` names an existing user. Returns 0 or the exit status. */
static int must_exist(struct vk_store *st, struct vk_arena *a, const char *username)
{
    struct vk_user u;
    int rc = vk_store_user_get_by_name(st, a, vk_str_c(username), &u);
    if (rc == VK_ENOTFOUND)
        return vk_cli_fail(1, "no user named '%s'", username);
    if (rc != VK_OK)
        return vk_cli_fail(1, "cannot read the user: %s", vk_strerror(rc));
    return 0;
}

static int cmd_add(struct vk_store *st, struct vk_arena *a, const char *username, json_t *claims)
{
    char hash[VK_PASSWORD_HASH_MAX] = "", sub[64];
    char *claims_text = NULL;
    struct vk_user u;
    struct vk_err err = {{0}};
    int64_t now;
    int status, rc;

    /* Ask for the password only when the user can be created. */
    rc = vk_store_user_get_by_name(st, a, vk_str_c(username), &u);
    if (rc == VK_OK) {
        status = vk_cli_fail(1, "a user named '%s' already exists", username);
        goto out;
    }
    if (rc != VK_ENOTFOUND) {
        status = vk_cli_fail(1, "cannot read users: %s", vk_strerror(rc));
        goto out;
    }
    claims_text = json_dumps(claims, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (claims_text == NULL) {
        status = vk_cli_fail(1, "out of memory");
        goto out;
    }
    if (vk_rand_token("vk_u_", 16, sub, sizeof sub) != VK_OK) {
        status = vk_cli_fail(1, "no randomness");
        goto out;
    }
    status = new_password_hash(hash);
    if (status != 0)
        goto out;
    now = vk_now();
    u = (struct vk_user){
        .id = sub,
        .username = username,
        .password_hash = hash,
        .claims = claims_text,
        .created_at = now,
        .password_changed_at = now,
    };
    rc = vk_store_user_put(st, &u, &err);
    if (rc == VK_EEXIST) {
        status = vk_cli_fail(1, "a user named '%s' already exists", username);
        goto out;
    }
    if (rc != VK_OK) {
        status = vk_cli_fail(1, "cannot add the user: %s", err.msg[0] ? err.msg : vk_strerror(rc));
        goto out;
    }
    vk_cli_print_json(user_json(&u));
    status = 0;
out:
    vk_wipe(hash, sizeof hash);
    free(claims_text);
    return status;
}

static int cmd_list(struct vk_store *st, struct vk_arena *a)
{
    struct vk_user_list ul;
    int rc = vk_store_user_list(st, a, &ul);
    if (rc != VK_OK)
        return vk_cli_fail(1, "cannot read users: %s", vk_strerror(rc));
    json_t *arr = json_array();
    for (size_t i = 0; arr != NULL && i < ul.n; i++)
        json_array_append_new(arr, user_json(&ul.v[i]));
    vk_cli_print_json(arr);
    return 0;
}

static int cmd_remove(struct vk_store *st, struct vk_arena *a, const char *username)
{
    int status = must_exist(st, a, username);
    if (status != 0)
        return status;
    int rc = vk_store_user_delete(st, vk_str_c(username), vk_now());
    if (rc == VK_ENOTFOUND)
        return vk_cli_fail(1, "no user named '%s'", username);
    if (rc != VK_OK)
        return vk_cli_fail(1, "cannot remove the user: %s", vk_strerror(rc));
    vk_cli_print_json(done_json(username, "removed"));
    return 0;
}

static int cmd_passwd(struct vk_store *st, struct vk_arena *a, const char *username)
{
    char hash[VK_PASSWORD_HASH_MAX] = "";
    int status, rc;

    status = must_exist(st, a, username);
    if (status != 0)
        goto out;
    status = new_password_hash(hash);
    if (status != 0)
        goto out;
    rc = vk_store_user_set_password(st, vk_str_c(username), hash, vk_now());
    if (rc == VK_ENOTFOUND) {
        status = vk_cli_fail(1, "no user named '%s'", username);
        goto out;
    }
    if (rc != VK_OK) {
        status = vk_cli_fail(1, "cannot change the password: %s", vk_strerror(rc));
        goto out;
    }
    vk_cli_print_json(done_json(username, "password_changed"));
    status = 0;
out:
    vk_wipe(hash, sizeof hash);
    return status;
}

static bool store_has_users(const struct vk_store_ops *o)
{
    return o->user_put != NULL && o->user_get_by_name != NULL && o->user_list != NULL &&
           o->user_delete != NULL && o->user_set_password != NULL;
}

int vk_cmd_user(int argc, char **argv)
{
    struct vk_config cfg;
    struct vk_store *st = NULL;
    struct vk_err err = {{0}};
    struct vk_arena a;
    json_t *claims = NULL;
    const char *sub, *username = NULL;
    int status = 2;

    if (vk_cli_wants_help(argc, argv)) {
        fputs(usage, stdout);
        return 0;
    }
    if (vk_cli_common(&cfg, &argc, argv) != 0)
        return 2;
    if (argc < 2) {
        fputs(usage, stderr);
        return 2;
    }
    sub = argv[1];
    /* Check every argument before touching the store. */
    if (strcmp(sub, "add") == 0) {
        claims = json_object();
        if (claims == NULL)
            return vk_cli_fail(1, "out of memory");
        for (int i = 2; i < argc; i++) {
            const char *o = argv[i];
            if (strcmp(o, "--password-stdin") == 0)
                continue;
            if (strcmp(o, "--password") == 0 || strncmp(o, "--password=", 11) == 0) {
                status = vk_cli_fail(2, "passwords are read from stdin, never from the command "
                                        "line (other users can see it)");
                goto out;
            }
            if (i + 1 >= argc || (strcmp(o, "--username") != 0 && strcmp(o, "--claim") != 0)) {
                fputs(usage, stderr);
                status = vk_cli_fail(2, "unknown option or missing value: %s", o);
                goto out;
            }
            if (strcmp(o, "--username") == 0) {
                username = argv[++i];
            } else {
                status = add_claim(claims, argv[++i]);
                if (status != 0)
                    goto out;
            }
        }
        if (username == NULL) {
            fputs(usage, stderr);
            status = vk_cli_fail(2, "user add needs --username NAME");
            goto out;
        }
    } else if (strcmp(sub, "list") == 0) {
        if (argc != 2) {
            status = vk_cli_fail(2, "user list takes no arguments");
            goto out;
        }
    } else if (strcmp(sub, "remove") == 0 || strcmp(sub, "passwd") == 0) {
        bool is_passwd = strcmp(sub, "passwd") == 0;
        for (int i = 2; i < argc; i++) {
            if (is_passwd && strcmp(argv[i], "--password-stdin") == 0)
                continue;
            if (argv[i][0] == '-' || username != NULL) {
                fputs(usage, stderr);
                status = vk_cli_fail(2, "user %s takes one username", sub);
                goto out;
            }
            username = argv[i];
        }
        if (username == NULL) {
            fputs(usage, stderr);
            status = vk_cli_fail(2, "user %s needs a username", sub);
            goto out;
        }
    } else {
        fputs(usage, stderr);
        status = vk_cli_fail(2, "unknown user command '%s'", sub);
        goto out;
    }
    if (username != NULL && !username_ok(username)) {
        status = vk_cli_fail(2, "a username is 1..%d characters of A-Z a-z 0-9 . _ @ + -",
                             USERNAME_MAX);
        goto out;
    }

    if (vk_store_open(cfg.data, &st, &err) != VK_OK) {
        status = vk_cli_fail(1, "%s", err.msg);
        goto out;
    }
    if (!store_has_users(st->ops)) {
        status = vk_cli_fail(1, "the %s store does not support users", vk_store_name(st));
        goto out;
    }
    vk_arena_init(&a, 64 * 1024 * 1024);
    if (strcmp(sub, "add") == 0)
        status = cmd_add(st, &a, username, claims);
    else if (strcmp(sub, "list") == 0)
        status = cmd_list(st, &a);
    else if (strcmp(sub, "remove") == 0)
        status = cmd_remove(st, &a, username);
    else
        status = cmd_passwd(st, &a, username);
    vk_arena_clear(&a);
out:
    if (st != NULL)
        vk_store_close(st);
    json_decref(claims);
    return status;
}
