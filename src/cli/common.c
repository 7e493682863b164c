#include "cli/cli.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

int vk_cli_fail(int status, const char *fmt, ...)
{
    va_list ap;
    fputs("valetkey: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return status;
}

void vk_cli_print_json(json_t *j)
{
    if (j == NULL) {
        fputs("valetkey: out of memory\n", stderr);
        return;
    }
    json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    fputc('\n', stdout);
    fflush(stdout);
    json_decref(j);
}

bool vk_cli_wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return true;
    return false;
}

int vk_cli_common(struct vk_config *cfg, int *argc, char **argv)
{
    struct vk_err err = {{0}};
    int out = 1;
    vk_config_defaults(cfg);
    /* --config first, so that flags given with it win over the file. */
    for (int i = 1; i < *argc; i++) {
        if (strcmp(argv[i], "--config") == 0) {
            if (i + 1 >= *argc)
                return vk_cli_fail(2, "--config needs a file");
            if (vk_config_load_file(cfg, argv[i + 1], &err) != VK_OK)
                return vk_cli_fail(2, "%s", err.msg);
        }
    }
    for (int i = 1; i < *argc; i++) {
        if (strcmp(argv[i], "--config") == 0) {
            i++;
            continue;
        }
        if (strcmp(argv[i], "--data") == 0) {
            if (i + 1 >= *argc)
                return vk_cli_fail(2, "--data needs a directory");
            if (vk_config_set(cfg, "data", argv[++i], &err) != VK_OK)
                return vk_cli_fail(2, "%s", err.msg);
            continue;
        }
        argv[out++] = argv[i];
    }
    *argc = out;
    argv[out] = NULL;
    return 0;
}
