/* valetkey: command dispatch only. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

#define VALETKEY_VERSION "0.1.0"

static const char usage[] =
    "valetkey " VALETKEY_VERSION " -- OAuth 2.1 authorization server\n"
    "\n"
    "usage: valetkey <command> [options]\n"
    "  serve     run the authorization server\n"
    "  client    add | list | show | remove | rotate-secret\n"
    "  key       list | rotate\n"
    "  user      add | list | remove | passwd\n"
    "  version   print the version\n"
    "\n"
    "Every command takes --data DIR (default ./valetkey-data or $VALETKEY_DATA).\n";

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0 ||
        strcmp(argv[1], "-h") == 0) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "version") == 0 || strcmp(argv[1], "--version") == 0) {
        puts("valetkey " VALETKEY_VERSION);
        return 0;
    }
    if (strcmp(argv[1], "serve") == 0)
        return vk_cmd_serve(argc - 1, argv + 1);
    if (strcmp(argv[1], "client") == 0)
        return vk_cmd_client(argc - 1, argv + 1);
    if (strcmp(argv[1], "user") == 0)
        return vk_cmd_user(argc - 1, argv + 1);
    if (strcmp(argv[1], "key") == 0)
        return vk_cmd_key(argc - 1, argv + 1);
    fputs(usage, stderr);
    fprintf(stderr, "valetkey: unknown command '%s'\n", argv[1]);
    return 2;
}
