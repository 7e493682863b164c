/* Structured log lines (key=value) to stderr, one write(2) per line so lines from worker threads
 * never interleave. Values that came from a client must go through vk_log_escape first. There is
 * no way to log a struct vk_secret: log vk_fp() of it. */
#ifndef VK_BASE_LOG_H
#define VK_BASE_LOG_H

#include <stddef.h>

#include "base/err.h"
#include "base/str.h"

enum vk_log_level { VK_LOG_DEBUG, VK_LOG_INFO, VK_LOG_WARN, VK_LOG_ERROR };

void vk_log_set_level(enum vk_log_level lvl);
/* Switches to buffered logging: lines are appended to a memory buffer that a background thread
 * writes out every 50 ms (or at once when the buffer fills), so request threads never wait on a
 * slow log destination and no line costs a system call of its own. vk_log_stop flushes and
 * returns to direct writes; call it before exit. */
int vk_log_start_async(void);
void vk_log_stop(void);
/* Sends the log (and everything else written to stderr) to `path`, appending, created with
 * mode 0640 less the umask (077 in valetkey, so 0600): the file is dup2'ed over stderr, so no
 * write path changes and a reopen is one atomic descriptor swap. VK_EIO (err says why) when it
 * cannot be opened; stderr is unchanged. */
int vk_log_open_file(const char *path, struct vk_err *err);
/* Reopens the file given to vk_log_open_file (SIGHUP after logrotate moved it away); lines
 * written meanwhile land in the old or the new file, none is lost. VK_OK without doing anything
 * when logging to stderr. On failure the old file stays in use. */
int vk_log_reopen(struct vk_err *err);
void vk_log(enum vk_log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define vk_log_info(...)  vk_log(VK_LOG_INFO, __VA_ARGS__)
#define vk_log_warn(...)  vk_log(VK_LOG_WARN, __VA_ARGS__)
#define vk_log_error(...) vk_log(VK_LOG_ERROR, __VA_ARGS__)

/* Copies s into out (size outsz, NUL-terminated) with control characters, quotes, backslashes,
 * spaces and non-ASCII bytes replaced by \xNN, so a client cannot forge log lines. Truncates
 * long values and marks them with "..." (a log field, not data). Returns out. */
const char *vk_log_escape(vk_str s, char *out, size_t outsz);

#endif
