/* valetkey key list | rotate | rewrap | new-master-key. */
#include "cli/cli.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "base/clock.h"
#include "base/crypto.h"
#include "store/store.h"
#include "token/token.h"

static const char usage[] =
    "usage: valetkey key list [--data DIR] [--config FILE]\n"
    "       valetkey key rotate [--master-key-file FILE] [--data DIR] [--config FILE]\n"
    "       valetkey key rewrap [--master-key-file FILE] [--new-master-key-file FILE]\n"
    "                           [--data DIR] [--config FILE]\n"
    "       valetkey key new-master-key [--out FILE]\n";

static const char help_list[] =
    "usage: valetkey key list [--data DIR] [--config FILE]\n"
    "Prints the signing keys as JSON: kid, alg, use, active or retired, until when a retired\n"
    "key stays published, and whether it is encrypted (and under which master key).\n";

static const char help_rotate[] =
    "usage: valetkey key rotate [--master-key-file FILE] [--data DIR] [--config FILE]\n"
    "Creates new signing keys (ES256 for access tokens, RS256 for id_tokens) and retires the\n"
    "active ones, which stay published until every token they signed has expired. Running\n"
    "servers switch within a second. Refused, with the time it becomes possible, when it would\n"
    "publish more than 32 keys. With the store's keys encrypted, --master-key-file (or\n"
    "VALETKEY_MASTER_KEY_FILE) must name their master key. Prints the keys as key list does.\n";

static const char help_rewrap[] =
    "usage: valetkey key rewrap [--master-key-file CURRENT] [--new-master-key-file NEW]\n"
    "                           [--data DIR] [--config FILE]\n"
    "Encrypts the signing keys under a master key: with --master-key-file alone, the keys still\n"
    "in clear; with --new-master-key-file, every key, decrypted with CURRENT first, in one\n"
    "transaction. Then restart every server with the new master key. Prints the keys.\n";

static const char help_new_master_key[] =
    "usage: valetkey key new-master-key [--out FILE]\n"
    "Makes a master key (32 random bytes, base64url): writes it to FILE, a new file with mode\n"
    "0600 (never overwriting one), and prints its id; or prints the key itself to stdout.\n";

static int print_keys(struct vk_store *st, int64_t window)
{
    struct vk_arena a;
    struct vk_key_list kl;
    vk_arena_init(&a, 16 * 1024 * 1024);
    int rc = vk_store_key_list(st, &a, &kl);
    if (rc != VK_OK) {
        vk_arena_clear(&a);
        return vk_cli_fail(1, "cannot read keys: %s", vk_strerror(rc));
    }
    json_t *arr = json_array();
    for (size_t i = 0; arr != NULL && i < kl.n; i++) {
        const struct vk_key_rec *k = &kl.v[i];
        json_t *j = json_object();
        json_object_set_new(j, "kid", json_string(k->kid));
        json_object_set_new(j, "alg", json_string(k->alg));
        json_object_set_new(j, "use", json_string(k->use == VK_KEY_USE_ID ? "id_token"
                                                                           : "access_token"));
        json_object_set_new(j, "status", json_string(k->retired_at ? "retired" : "active"));
        json_object_set_new(j, "created_at", json_integer(k->created_at));
        if (k->retired_at) {
            json_object_set_new(j, "retired_at", json_integer(k->retired_at));
            json_object_set_new(j, "published_until", json_integer(k->retired_at + window));
        }
        json_object_set_new(j, "encrypted", json_boolean(k->kek_id[0] != '\0'));
        if (k->kek_id[0] != '\0')
            json_object_set_new(j, "master_key_id", json_string(k->kek_id));
        json_array_append_new(arr, j);
    }
    vk_cli_print_json(arr);
    vk_arena_clear(&a);
    return 0;
}

/* Writes a new master key: to stdout (one line, base64url), or to a new file created 0600 that
 * must not exist yet (an existing master key is never overwritten: it may be the only copy). */
static int new_master_key(const char *out)
{
    struct vk_kek k;
    char line[45];
    if (vk_kek_generate(&k) != VK_OK)
        return vk_cli_fail(1, "cannot generate a master key");
    vk_kek_encode(&k, line);
    size_t n = strlen(line);
    line[n++] = '\n';
    int status = 0;
    if (out == NULL) {
        if (fwrite(line, 1, n, stdout) != n || fflush(stdout) != 0)
            status = vk_cli_fail(1, "cannot write the master key to stdout");
    } else {
        int fd = open(out, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0) {
            status = vk_cli_fail(1, "cannot create %s: %s", out, strerror(errno));
        } else {
            if (write(fd, line, n) != (ssize_t)n || fsync(fd) != 0)
                status = vk_cli_fail(1, "cannot write %s: %s", out, strerror(errno));
            if (close(fd) != 0 && status == 0)
                status = vk_cli_fail(1, "cannot write %s: %s", out, strerror(errno));
            if (status != 0)
                unlink(out);
        }
        if (status == 0) {
            json_t *j = json_object();
            json_object_set_new(j, "master_key_file", json_string(out));
            json_object_set_new(j, "master_key_id", json_string(k.id));
            vk_cli_print_json(j);
        }
    }
    vk_wipe(line, sizeof line);
    vk_kek_clear(&k);
    return status;
}

int vk_cmd_key(int argc, char **argv)
{
    struct vk_config cfg;
    struct vk_store *st = NULL;
    struct vk_err err = {{0}};
    struct vk_kek cur, next;
    const char *new_file = NULL, *out_file = NULL;
    bool have_cur = false, have_next = false;
    int status = 0;
    if (vk_cli_wants_help(argc, argv)) {
        const char *sub = argc > 1 ? argv[1] : "";
        fputs(strcmp(sub, "list") == 0             ? help_list
              : strcmp(sub, "rotate") == 0         ? help_rotate
              : strcmp(sub, "rewrap") == 0         ? help_rewrap
              : strcmp(sub, "new-master-key") == 0 ? help_new_master_key
                                                   : usage,
              stdout);
        return 0;
    }
    if (vk_cli_common(&cfg, &argc, argv) != 0)
        return 2;
    if (argc < 2) {
        fputs(usage, stderr);
        return 2;
    }
    const char *cmd = argv[1];
    for (int i = 2; i < argc; i++) {
        const char *opt = argv[i];
        if (i + 1 >= argc) {
            fputs(usage, stderr);
            return vk_cli_fail(2, "unknown option or missing value: '%s'", opt);
        }
        if (strcmp(opt, "--master-key-file") == 0) {
            if (vk_config_set(&cfg, "master_key_file", argv[++i], &err) != VK_OK)
                return vk_cli_fail(2, "%s", err.msg);
        } else if (strcmp(opt, "--new-master-key-file") == 0 && strcmp(cmd, "rewrap") == 0) {
            new_file = argv[++i];
        } else if (strcmp(opt, "--out") == 0 && strcmp(cmd, "new-master-key") == 0) {
            out_file = argv[++i];
        } else {
            fputs(usage, stderr);
            return vk_cli_fail(2, "unknown option '%s'", opt);
        }
    }
    if (strcmp(cmd, "new-master-key") == 0)
        return new_master_key(out_file);
    if (strcmp(cmd, "list") != 0 && strcmp(cmd, "rotate") != 0 && strcmp(cmd, "rewrap") != 0) {
        fputs(usage, stderr);
        return 2;
    }
    if (strcmp(cmd, "rewrap") == 0 && cfg.master_key_file[0] == '\0' && new_file == NULL) {
        fputs(usage, stderr);
        return vk_cli_fail(2, "key rewrap needs --master-key-file (wraps the keys still in "
                              "clear) and/or --new-master-key-file (re-encrypts every key)");
    }
    /* Every check before the first change: both files must load. */
    if (cfg.master_key_file[0] != '\0' && strcmp(cmd, "list") != 0) {
        if (vk_kek_load_file(cfg.master_key_file, &cur, &err) != VK_OK)
            return vk_cli_fail(1, "%s", err.msg);
        have_cur = true;
    }
    if (new_file != NULL) {
        if (vk_kek_load_file(new_file, &next, &err) != VK_OK) {
            status = vk_cli_fail(1, "%s", err.msg);
            goto out;
        }
        have_next = true;
    }
    if (vk_store_open(cfg.data, &st, &err) != VK_OK) {
        status = vk_cli_fail(1, "%s", err.msg);
        goto out;
    }
    int64_t now = vk_now();
    int64_t longest = cfg.access_token_ttl > cfg.id_token_ttl ? cfg.access_token_ttl
                                                              : cfg.id_token_ttl;
    const struct vk_kek *kek = have_cur ? &cur : NULL;
    if (strcmp(cmd, "rotate") == 0) {
        /* A store without keys gets its first ones; otherwise new keys replace the active ones,
         * which stay published until the tokens they signed have expired. */
        int64_t retry_at = 0;
        if (vk_keyring_ensure(st, kek, now, &err) != VK_OK ||
            vk_keyring_rotate(st, kek, longest, now, &retry_at, &err) != VK_OK)
            status = vk_cli_fail(1, "%s", err.msg);
    } else if (strcmp(cmd, "rewrap") == 0) {
        size_t changed = 0;
        const struct vk_kek *to = have_next ? &next : &cur;
        if (vk_keyring_rewrap(st, kek, to, &changed, &err) != VK_OK)
            status = vk_cli_fail(1, "%s", err.msg);
        else if (have_next && (!have_cur || strcmp(cur.id, next.id) != 0))
            fprintf(stderr,
                    "valetkey: %zu signing keys re-encrypted under master key %s; restart every "
                    "server of this store with --master-key-file %s\n",
                    changed, next.id, new_file);
    }
    if (status == 0)
        status = print_keys(st, vk_keyring_publish_window(st, longest));
out:
    vk_store_close(st);
    if (have_cur)
        vk_kek_clear(&cur);
    if (have_next)
        vk_kek_clear(&next);
    return status;
}
