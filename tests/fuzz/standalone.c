/* Replays inputs through a fuzz target without libFuzzer (mod_auth_openidc's "standalone" mode):
 *
 *   fuzz_form [-v] FILE_OR_DIR...
 *
 * Every regular file named, and every regular file directly inside a directory named (sorted by
 * name, dot files skipped), is read into a buffer of exactly its size, so that ASan sees a read
 * one byte past the end, and passed to LLVMFuzzerTestOneInput once. The exit status is 0 when
 * every input ran; a sanitizer report or a failed invariant aborts the process, after the name of
 * the input being run is written to stderr. -v prints each name as it runs. */
#define _GNU_SOURCE 1
#include <dirent.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));
void __sanitizer_set_death_callback(void (*callback)(void)) __attribute__((weak));

static const char *current = NULL; /* the input being run, for the crash message */
static int verbose = 0;
static unsigned long n_run = 0;

static void say_current(void)
{
    if (current == NULL)
        return;
    /* write(2) only: this runs from a signal handler or a sanitizer's death callback. */
    static const char pre[] = "standalone: failing input: ";
    ssize_t r = write(2, pre, sizeof pre - 1);
    r = write(2, current, strlen(current));
    r = write(2, "\n", 1);
    (void)r;
}

static void on_abort(int sig)
{
    say_current();
    signal(sig, SIG_DFL);
    raise(sig);
}

static int run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "standalone: cannot open %s\n", path);
        return -1;
    }
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || st.st_size < 0) {
        fclose(f);
        fprintf(stderr, "standalone: cannot stat %s\n", path);
        return -1;
    }
    size_t size = (size_t)st.st_size;
    /* Exactly `size` bytes (zero for an empty file: ASan then flags any read at all). */
    static uint8_t empty[1];
    uint8_t *buf = malloc(size);
    uint8_t *data = buf != NULL ? buf : (size == 0 ? empty : NULL);
    if (data == NULL || (size > 0 && fread(data, 1, size, f) != size)) {
        free(buf);
        fclose(f);
        fprintf(stderr, "standalone: cannot read %s\n", path);
        return -1;
    }
    fclose(f);
    current = path;
    if (verbose)
        fprintf(stderr, "standalone: %s (%zu bytes)\n", path, size);
    LLVMFuzzerTestOneInput(data, size);
    current = NULL;
    free(buf);
    n_run++;
    return 0;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int run_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL) {
        fprintf(stderr, "standalone: cannot open directory %s\n", dir);
        return -1;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    int rc = 0;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            char **nn = realloc(names, cap * sizeof *names);
            if (nn == NULL) {
                rc = -1;
                break;
            }
            names = nn;
        }
        if (asprintf(&names[n], "%s/%s", dir, e->d_name) < 0) {
            rc = -1;
            break;
        }
        n++;
    }
    closedir(d);
    if (n > 0)
        qsort(names, n, sizeof *names, cmp_names);
    for (size_t i = 0; i < n; i++) {
        struct stat st;
        if (rc == 0 && stat(names[i], &st) == 0 && S_ISREG(st.st_mode))
            rc = run_file(names[i]);
        free(names[i]);
    }
    free(names);
    return rc;
}

int main(int argc, char **argv)
{
    int rc = 0, first = 1;
    if (argc > 1 && strcmp(argv[1], "-v") == 0) {
        verbose = 1;
        first = 2;
    }
    if (argc <= first) {
        fprintf(stderr, "usage: %s [-v] FILE_OR_DIR...\n", argv[0]);
        return 2;
    }
    signal(SIGABRT, on_abort);
    if (__sanitizer_set_death_callback != NULL)
        __sanitizer_set_death_callback(say_current);
    if (LLVMFuzzerInitialize != NULL)
        LLVMFuzzerInitialize(&argc, &argv);
    for (int i = first; i < argc && rc == 0; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0) {
            fprintf(stderr, "standalone: no such file or directory: %s\n", argv[i]);
            rc = -1;
        } else if (S_ISDIR(st.st_mode)) {
            rc = run_dir(argv[i]);
        } else {
            rc = run_file(argv[i]);
        }
    }
    if (verbose)
        fprintf(stderr, "standalone: %lu inputs run\n", n_run);
    return rc == 0 ? 0 : 1;
}
