/* A tiny test harness: TEST(name) { ... } registers itself; CHECK records a failure with
 * its location and goes on; REQUIRE returns from the test. The runner prints
 * "N passed, N failed" as its last line. */
#ifndef MN_TEST_H
#define MN_TEST_H

#include <stdio.h>
#include <math.h>
#include "mnemo.h"

typedef void (*mn_test_fn)(void);
void mn_test_register(const char *name, mn_test_fn fn, int slow);
void mn_test_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int mn_test_slow_skipped(void);  /* 1 when MNEMO_SKIP_SLOW is set */

#define MN_TEST_(name, slow)                                                   \
    static void test_##name(void);                                             \
    __attribute__((constructor)) static void register_##name(void) {           \
        mn_test_register(#name, test_##name, slow);                            \
    }                                                                          \
    static void test_##name(void)
#define TEST(name) MN_TEST_(name, 0)
#define SLOW_TEST(name) MN_TEST_(name, 1)   /* skipped under MNEMO_SKIP_SLOW */

#define CHECK(cond, ...)                                                       \
    do { if (!(cond)) mn_test_fail(__FILE__, __LINE__, __VA_ARGS__); } while (0)
#define REQUIRE(cond, ...)                                                     \
    do { if (!(cond)) { mn_test_fail(__FILE__, __LINE__, __VA_ARGS__); return; } } while (0)
#define CHECK_OK(expr)                                                         \
    do { mn_status s_ = (expr); if (s_ != MN_OK)                               \
        mn_test_fail(__FILE__, __LINE__, "%s -> %d: %s", #expr, (int)s_,       \
                     mn_last_error()); } while (0)
#define REQUIRE_OK(expr)                                                       \
    do { mn_status s_ = (expr); if (s_ != MN_OK) {                             \
        mn_test_fail(__FILE__, __LINE__, "%s -> %d: %s", #expr, (int)s_,       \
                     mn_last_error()); return; } } while (0)

/* Directory of the test fixtures (tests/fixtures relative to the repository root). */
const char *mn_test_fixture_dir(void);

/* Scratch files: a fresh folder under $TMPDIR (or /tmp) named after tag; whole-file write
 * (1 on success) and read into buf (the length read, or -1). */
int mn_test_tmpdir(char *dir, size_t cap, const char *tag);
int mn_test_write_file(const char *path, const void *bytes, size_t len);
long mn_test_read_file(const char *path, void *buf, size_t cap);

#endif
