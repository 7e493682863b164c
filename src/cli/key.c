/* valetkey key list | rotate. */
#include "cli/cli.h"

#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "base/clock.h"
#include "store/store.h"
#include "token/token.h"

static const char usage[] = "usage: valetkey key list | rotate [--data DIR] [--config FILE]\n";

static const char help_list[] =
    "usage: valetkey key list [--data DIR] [--config FILE]\n"
    "Prints the signing keys as JSON: kid, alg, use, active or retired, and until when a retired\n"
    "key stays published.\n";

static const char help_rotate[] =
    "usage: valetkey key rotate [--data DIR] [--config FILE]\n"
    "Creates new signing keys (ES256 for access tokens, RS256 for id_tokens) and retires the\n"
    "active ones, which stay published until every token they signed has expired. Running\n"
    "servers switch within a second. Prints the keys as key list does.\n";

static int print_keys(struct vk_store *st, int64_t window)
{
    struct vk_arena a;
    struct vk_key_list kl;
    vk_arena_init(&a, 16 * 1024 * 1024);
    int rc = st->ops->key_list(st, &a, &kl);
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
        json_array_append_new(arr, j);
    }
    vk_cli_print_json(arr);
    vk_arena_clear(&a);
    return 0;
}

int vk_cmd_key(int argc, char **argv)
{
    struct vk_config cfg;
    struct vk_store *st = NULL;
    struct vk_err err = {{0}};
    if (vk_cli_wants_help(argc, argv)) {
        const char *sub = argc > 1 ? argv[1] : "";
        fputs(strcmp(sub, "list") == 0     ? help_list
              : strcmp(sub, "rotate") == 0 ? help_rotate
                                           : usage,
              stdout);
        return 0;
    }
    if (vk_cli_common(&cfg, &argc, argv) != 0)
        return 2;
    if (argc != 2 || (strcmp(argv[1], "list") != 0 && strcmp(argv[1], "rotate") != 0)) {
        fputs(usage, stderr);
        return 2;
    }
    if (vk_store_open(cfg.data, &st, &err) != VK_OK)
        return vk_cli_fail(1, "%s", err.msg);
    int status = 0;
    int64_t now = vk_now();
    if (strcmp(argv[1], "rotate") == 0) {
        /* A store without keys gets its first ones; otherwise new keys replace the active ones,
         * which stay published until the tokens they signed have expired. */
        if (vk_keyring_ensure(st, now, &err) != VK_OK || vk_keyring_rotate(st, now, &err) != VK_OK)
            status = vk_cli_fail(1, "%s", err.msg);
    }
    if (status == 0)
        status = print_keys(st, vk_keyring_publish_window(st, cfg.access_token_ttl));
    vk_store_close(st);
    return status;
}
