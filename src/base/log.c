#include "base/log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static enum vk_log_level min_level = VK_LOG_INFO;

#define ASYNC_BUF (256 * 1024)

static struct {
    pthread_mutex_t out_mu; /* held while writing: keeps batches in order */
    pthread_mutex_t mu;     /* guards buf/len: held only to copy a line in or swap buffers */
    pthread_cond_t cv;
    pthread_t thread;
    bool on;
    bool stop;
    char *buf; /* pending bytes */
    size_t len;
    char *spare; /* the buffer being written by the flusher */
} async = {.out_mu = PTHREAD_MUTEX_INITIALIZER, .mu = PTHREAD_MUTEX_INITIALIZER,
           .cv = PTHREAD_COND_INITIALIZER};

/* The file stderr was pointed at by vk_log_open_file (empty: stderr is whatever we inherited). */
static char log_path[1024];
static pthread_mutex_t path_mu = PTHREAD_MUTEX_INITIALIZER;

static int point_stderr_at(const char *path, struct vk_err *err)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);
    if (fd < 0)
        return vk_err_set(err, VK_EIO, "cannot open log file %s: %s", path, strerror(errno));
    int rc = VK_OK;
    if (fd != STDERR_FILENO) {
        /* Atomic: a concurrent write goes to the old file or the new one. */
        if (dup2(fd, STDERR_FILENO) < 0)
            rc = vk_err_set(err, VK_EIO, "cannot redirect the log to %s: %s", path,
                            strerror(errno));
        close(fd);
    }
    return rc;
}

int vk_log_open_file(const char *path, struct vk_err *err)
{
    if (strlen(path) >= sizeof log_path)
        return vk_err_set(err, VK_ETOOBIG, "log file path is too long");
    pthread_mutex_lock(&path_mu);
    int rc = point_stderr_at(path, err);
    if (rc == VK_OK)
        memcpy(log_path, path, strlen(path) + 1);
    pthread_mutex_unlock(&path_mu);
    return rc;
}

int vk_log_reopen(struct vk_err *err)
{
    int rc = VK_OK;
    pthread_mutex_lock(&path_mu);
    if (log_path[0] != '\0')
        rc = point_stderr_at(log_path, err);
    pthread_mutex_unlock(&path_mu);
    return rc;
}

static void write_all(const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(STDERR_FILENO, p, n);
        if (w <= 0)
            return; /* nowhere to report a failing log */
        p += w;
        n -= (size_t)w;
    }
}

/* Swaps the buffers under `mu` and writes outside it, so request threads appending lines never
 * wait for the log destination; `out_mu` keeps the batches in order. */
static void flush_pending(void)
{
    pthread_mutex_lock(&async.out_mu);
    pthread_mutex_lock(&async.mu);
    char *b = async.buf;
    size_t n = async.len;
    async.buf = async.spare;
    async.len = 0;
    async.spare = b;
    pthread_mutex_unlock(&async.mu);
    write_all(b, n);
    pthread_mutex_unlock(&async.out_mu);
}

static void *flusher(void *arg)
{
    (void)arg;
    for (;;) {
        pthread_mutex_lock(&async.mu);
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 50 * 1000 * 1000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        if (!async.stop)
            pthread_cond_timedwait(&async.cv, &async.mu, &ts);
        bool stop = async.stop;
        pthread_mutex_unlock(&async.mu);
        flush_pending();
        if (stop)
            return NULL;
    }
}

int vk_log_start_async(void)
{
    if (async.on)
        return 0;
    async.buf = malloc(ASYNC_BUF);
    async.spare = malloc(ASYNC_BUF);
    if (async.buf == NULL || async.spare == NULL) {
        free(async.buf);
        free(async.spare);
        async.buf = async.spare = NULL;
        return -1;
    }
    async.len = 0;
    async.stop = false;
    if (pthread_create(&async.thread, NULL, flusher, NULL) != 0) {
        free(async.buf);
        free(async.spare);
        async.buf = async.spare = NULL;
        return -1;
    }
    __atomic_store_n(&async.on, true, __ATOMIC_RELEASE);
    return 0;
}

void vk_log_stop(void)
{
    if (!async.on)
        return;
    pthread_mutex_lock(&async.mu);
    async.stop = true;
    pthread_cond_signal(&async.cv);
    pthread_mutex_unlock(&async.mu);
    pthread_join(async.thread, NULL);
    __atomic_store_n(&async.on, false, __ATOMIC_RELEASE);
    flush_pending();
    free(async.buf);
    free(async.spare);
    async.buf = async.spare = NULL;
}

static void emit(const char *line, size_t len)
{
    if (!__atomic_load_n(&async.on, __ATOMIC_ACQUIRE)) {
        write_all(line, len);
        return;
    }
    for (;;) {
        pthread_mutex_lock(&async.mu);
        if (async.len + len <= ASYNC_BUF) {
            memcpy(async.buf + async.len, line, len);
            async.len += len;
            pthread_mutex_unlock(&async.mu);
            return;
        }
        pthread_mutex_unlock(&async.mu);
        /* Full (256 KiB pending: the destination is slow): this thread writes the batch out,
         * which is the back-pressure; no line is dropped. */
        flush_pending();
    }
}

void vk_log_set_level(enum vk_log_level lvl)
{
    min_level = lvl;
}

void vk_log(enum vk_log_level lvl, const char *fmt, ...)
{
    static const char *names[] = {"debug", "info", "warn", "error"};
    char line[2048];
    if (lvl < min_level)
        return;
    /* The date and time down to the second are formatted once per second per thread: this runs
     * for every request. */
    static _Thread_local time_t cached_sec = -1;
    static _Thread_local char cached[64];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (ts.tv_sec != cached_sec) {
        struct tm tm;
        gmtime_r(&ts.tv_sec, &tm);
        snprintf(cached, sizeof cached, "ts=%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
        cached_sec = ts.tv_sec;
    }
    int n = snprintf(line, sizeof line, "%s.%03ldZ level=%s ", cached, ts.tv_nsec / 1000000,
                     names[lvl]);
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof line - 2)
        len = sizeof line - 2;
    line[len++] = '\n';
    emit(line, len);
}

const char *vk_log_escape(vk_str s, char *out, size_t outsz)
{
    static const char hx[] = "0123456789abcdef";
    size_t o = 0;
    if (outsz == 0)
        return out;
    for (size_t i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char)s.p[i];
        if (o + 8 >= outsz) {
            if (o + 4 <= outsz) {
                memcpy(out + o, "...", 3);
                o += 3;
            }
            break;
        }
        if (c <= 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '=') {
            out[o++] = '\\';
            out[o++] = 'x';
            out[o++] = hx[c >> 4];
            out[o++] = hx[c & 15];
        } else {
            out[o++] = (char)c;
        }
    }
    out[o] = '\0';
    return out;
}
