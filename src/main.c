/* valetkey: command dispatch only. */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"

#define VALETKEY_VERSION "0.1.0"

static const char usage[] =
    "valetkey " VALETKEY_VERSION " -- OAuth 2.1 authorization server\n"
    "\n"
    "usage: valetkey <command> [options]\n"
    "  serve     run the authorization server\n"
    "  client    add | list | show | remove | rotate-secret\n"
    "  key       list | rotate | rewrap | new-master-key\n"
    "  user      add | list | remove | passwd\n"
    "  verify    check access tokens for an API gateway (nginx auth_request, ...)\n"
    "  version   print the version\n"
    "\n"
    "Every command but verify takes --data DIR (default ./valetkey-data or $VALETKEY_DATA).\n"
    "valetkey <command> [subcommand] --help (or -h, or valetkey help <command> [subcommand])\n"
    "describes one command without touching the data directory.\n";

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
} commands[] = {
    {"serve", vk_cmd_serve},
    {"client", vk_cmd_client},
    {"user", vk_cmd_user},
    {"key", vk_cmd_key},
    {"verify", vk_cmd_verify},
};

static int (*command(const char *name))(int, char **)
{
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(name, commands[i].name) == 0)
            return commands[i].run;
    return NULL;
}

int main(int argc, char **argv)
{
    /* Everything valetkey creates (the data directory, the database and its -wal and -shm
     * files, master-key files) is for this user only (docs/security.md). */
    umask(077);
    /* valetkey help COMMAND [SUBCOMMAND] is COMMAND [SUBCOMMAND] --help */
    if (argc >= 3 && argc <= 4 && strcmp(argv[1], "help") == 0 && command(argv[2]) != NULL) {
        char help[] = "--help";
        char *args[] = {argv[2], argc == 4 ? argv[3] : help, help, NULL};
        return command(argv[2])(argc == 4 ? 3 : 2, args);
    }
    if (argc < 2 || strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0 ||
        strcmp(argv[1], "-h") == 0) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "version") == 0 || strcmp(argv[1], "--version") == 0) {
        puts("valetkey " VALETKEY_VERSION);
        return 0;
    }
    if (command(argv[1]) != NULL)
        return command(argv[1])(argc - 1, argv + 1);
    fputs(usage, stderr);
    fprintf(stderr, "valetkey: unknown command '%s'\n", argv[1]);
    return 2;
}
