/* Runs every registered test (optionally only those whose name contains argv[1]). */
#include "test.h"
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Grown as tests register (before main runs), so no test is ever dropped. */
typedef struct { const char *name; mn_test_fn fn; int slow; } test_entry;
static test_entry *tests;
static int ntests, cap_tests;
static int current_failed;

void mn_test_register(const char *name, mn_test_fn fn, int slow) {
    if (ntests == cap_tests) {
        int cap = cap_tests ? 2 * cap_tests : 256;
        test_entry *grown = realloc(tests, (size_t)cap * sizeof *grown);
        if (!grown) {
            fprintf(stderr, "test runner: out of memory registering %s\n", name);
            exit(1);
        }
        tests = grown;
        cap_tests = cap;
    }
    tests[ntests].name = name;
    tests[ntests].fn = fn;
    tests[ntests].slow = slow;
    ntests++;
}

void mn_test_fail(const char *file, int line, const char *fmt, ...) {
    va_list ap;
    fprintf(stdout, "    %s:%d: ", file, line);
    va_start(ap, fmt);
    vfprintf(stdout, fmt, ap);
    va_end(ap);
    fputc('\n', stdout);
    current_failed++;
}

int mn_test_slow_skipped(void) {
    const char *s = getenv("MNEMO_SKIP_SLOW");
    return s && *s && strcmp(s, "0") != 0;
}

const char *mn_test_fixture_dir(void) {
    const char *d = getenv("MNEMO_FIXTURES");
    return d && *d ? d : "tests/fixtures";
}

int mn_test_tmpdir(char *dir, size_t cap, const char *tag) {
    const char *base = getenv("TMPDIR");
    snprintf(dir, cap, "%s/mnemo-%s-XXXXXX", base && *base ? base : "/tmp", tag);
    return mkdtemp(dir) != NULL;
}

int mn_test_write_file(const char *path, const void *bytes, size_t len) {
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    int ok = fwrite(bytes, 1, len, f) == len;
    return fclose(f) == 0 && ok;
}

long mn_test_read_file(const char *path, void *buf, size_t cap) {
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    size_t n = fread(buf, 1, cap, f);
    fclose(f);
    return (long)n;
}

static int by_name(const void *a, const void *b) {
    const char *x = *(const char *const *)a, *y = *(const char *const *)b;
    return strcmp(x, y);
}

int main(int argc, char **argv) {
    int passed = 0, failed = 0, skipped = 0;
    const char *filter = argc > 1 ? argv[1] : NULL;
    /* Registration order depends on link order; sort so runs are comparable. */
    qsort(tests, (size_t)ntests, sizeof tests[0], by_name);
    for (int i = 0; i < ntests; i++) {
        if (filter && !strstr(tests[i].name, filter)) continue;
        if (tests[i].slow && mn_test_slow_skipped()) {
            printf("skip %s (slow; MNEMO_SKIP_SLOW is set)\n", tests[i].name);
            skipped++;
            continue;
        }
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        current_failed = 0;
        tests[i].fn();
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double s = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
        printf("%s %s (%.2fs)\n", current_failed ? "FAIL" : "ok  ", tests[i].name, s);
        fflush(stdout);
        if (current_failed) failed++; else passed++;
    }
    if (skipped) printf("%d skipped\n", skipped);
    printf("%d passed, %d failed\n", passed, failed);
    free(tests);
    return failed ? 1 : 0;
}
