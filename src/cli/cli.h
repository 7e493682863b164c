/* The commands. Each returns the process exit status. */
#ifndef VK_CLI_CLI_H
#define VK_CLI_CLI_H

#include <stdbool.h>

#include "config/config.h"

int vk_cmd_serve(int argc, char **argv);
int vk_cmd_client(int argc, char **argv);
int vk_cmd_key(int argc, char **argv);
int vk_cmd_user(int argc, char **argv);
int vk_cmd_verify(int argc, char **argv);

/* True when any argument after the command word is "--help" or "-h": the command then prints its
 * usage on stdout and exits 0, before reading a configuration file or touching the data
 * directory. */
bool vk_cli_wants_help(int argc, char **argv);
/* Shared option handling: consumes --data DIR and --config FILE (loading the file) from argv,
 * leaving other arguments in place. Returns 0, or 2 after printing an error. */
int vk_cli_common(struct vk_config *cfg, int *argc, char **argv);
/* Prints a jansson value as indented JSON to stdout, with a newline. Consumes the reference. */
struct json_t;
void vk_cli_print_json(struct json_t *j);
/* Prints "valetkey: <msg>" to stderr and returns 1 (or 2 for usage errors). */
int vk_cli_fail(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
