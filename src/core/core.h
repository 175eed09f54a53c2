/* Internal essentials shared by every source file: tracked allocation, error reporting,
 * the deterministic random generator, and small numeric helpers. */
#ifndef MN_CORE_H
#define MN_CORE_H

#include "mnemo.h"
#include <stddef.h>
#include <stdint.h>

/* --- allocation: 64-byte aligned, counted so that bench can report peak memory --- */
void *mn_alloc(size_t bytes);          /* NULL on failure (sets the error) */
void *mn_alloc_zero(size_t bytes);
void mn_release(void *p);
/* Grow *buf to hold at least `bytes` (contents discarded); keeps it when large enough.
 * On failure *buf and *cap are left as they were. */
mn_status mn_reserve(void **buf, size_t *cap, size_t bytes);
/* The same, leaving no message on failure: for callers that do the work another way when
 * memory is short (the GEMM's packing scratch). A message left behind would read as the
 * cause of a later failure, and inside a parallel region as a failure of the region. */
mn_status mn_try_reserve(void **buf, size_t *cap, size_t bytes);
/* Test hook, inert unless called: the next n allocations succeed and every one after
 * them fails (as out of memory), on every thread, until it is called with n < 0. Returns
 * the count it replaces (-1: off), so a test can pause the hook and go on with it. */
long mn_test_fail_allocs_after(long n);

/* --- errors: one message per thread; functions return the status they set --- */
mn_status mn_fail(mn_status s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void mn_clear_error(void);
/* Every parallel region whose body can fail ends, on the thread that opened it, with
 *     if ((st = mn_parallel_status())) return st;
 * mn_fail inside a region keeps the region's first failure in a process-wide slot (the
 * failing worker's own message is invisible to the caller); this moves it to the calling
 * thread's message, empties the slot and returns its status (MN_OK when none). Code that
 * recovers from a failure inside a region must not raise it (see mn_try_reserve): it would
 * be reported. Today no region in src/ calls anything that can fail (the GEMM cannot). */
mn_status mn_parallel_status(void);

/* --- text from files in messages (escape.c) ---
 * Every message that quotes a file's text (tensor names, metadata, .npy headers) passes it
 * through mn_escape: printable ASCII and well-formed UTF-8 stay as they are; control bytes,
 * broken UTF-8, C1 controls and bidi overrides become \xNN per byte, a backslash \\; the
 * result fits in cap bytes (a cut ends in "..."). Returns buf.
 *     char nb[MN_ESCAPE_CAP];
 *     mn_fail(MN_E_INPUT, "%s: tensor '%s' ...", path, mn_escape(nb, sizeof nb, name)); */
#define MN_ESCAPE_CAP 96
/* mn_escape itself is public (mnemo.h), for the CLI and embedding programs */
char *mn_escape_n(char *buf, size_t cap, const char *s, size_t len);   /* may hold NULs */
/* Length of the well-formed UTF-8 sequence at p (shortest form, no surrogates, at most
 * U+10FFFF), or 0 when there is none. */
size_t mn_utf8_len(const unsigned char *p, size_t avail);

/* --- random numbers: xoshiro256** seeded by splitmix64; identical on every platform --- */
typedef struct { uint64_t s[4]; } mn_rng;
void mn_rng_seed(mn_rng *r, uint64_t seed);
uint64_t mn_rng_u64(mn_rng *r);
double mn_rng_uniform(mn_rng *r);            /* [0, 1) with 53 random bits */
float mn_rng_uniform_range(mn_rng *r, float lo, float hi);
double mn_rng_normal(mn_rng *r);             /* N(0, 1), Box-Muller */
uint32_t mn_rng_below(mn_rng *r, uint32_t n); /* uniform integer in [0, n) */

/* --- checked size arithmetic: 0 on overflow --- */
int mn_mul_size(size_t a, size_t b, size_t *out);
/* The shortest decimal text that reads back as the same float ("0.1", not "0.100000001"),
 * for metadata people read; returns buf. */
char *mn_float_text(char *buf, size_t cap, float x);

/* --- threads --- */
int mn_threads(void);   /* what mn_set_threads chose (or all cores) */
/* The processors this process may run on, asked once: omp_get_num_procs makes a system
 * call (sched_getaffinity) each time, and a stream step asks on every step. */
int mn_processors(void);
/* Seconds on a monotonic clock, for intervals (bench, labs, the recurrent split's waits). */
double mn_now(void);

/* Denormal floats take a slow path (tens of cycles per operation) and appear exactly
 * where mnemo looks, in vanishing gradients; below 1.2e-38 they carry nothing a float32
 * model can use. mn_fp_enter turns on flush-to-zero and denormals-are-zero for the
 * calling thread and returns its previous state for mn_fp_leave; OpenMP's worker
 * threads get the same once and keep it. No-ops where the CPU has no such mode. */
unsigned mn_fp_enter(void);
void mn_fp_leave(unsigned saved);

#define MN_MIN(a, b) ((a) < (b) ? (a) : (b))
#define MN_MAX(a, b) ((a) > (b) ? (a) : (b))

#endif
