/* Tracked allocation, per-thread error messages, the random generator, threads. */
#include "core.h"

#include <math.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#if defined(__SSE__) || defined(__x86_64__)
#include <xmmintrin.h>
#define MN_HAVE_MXCSR 1
#endif

/* ------------------------------------------------------------------ allocation */

/* Every block carries a 64-byte prefix holding its size, so mn_release can count it and
 * the payload stays 64-byte aligned for vector loads. */
#define PREFIX 64
static size_t in_use, peak;

/* The test hook (core.h): allocations left before every one fails; < 0: off. */
static long fail_after = -1;

long mn_test_fail_allocs_after(long n) {
    long was;
#pragma omp atomic capture
    { was = fail_after; fail_after = n < 0 ? -1 : n; }
    return was;
}

/* 1 when the hook says this allocation fails. Once at 0 the count stays there, so every
 * later allocation fails too, on any thread, until the hook is turned off. */
static int hook_fails(void) {
    long left;
#pragma omp atomic read
    left = fail_after;
    if (left < 0) return 0;
    int fails = 0;
#pragma omp critical(mn_alloc_hook)
    {
        if (fail_after == 0) fails = 1;
        else if (fail_after > 0) fail_after--;
    }
    return fails;
}

/* mn_alloc, with the failure's message (report) or without it (mn_try_reserve). */
static void *alloc_block(size_t bytes, int report) {
    if (bytes > SIZE_MAX - PREFIX - 64) {
        if (report) mn_fail(MN_E_NOMEM, "cannot allocate %zu bytes: size too large", bytes);
        return NULL;
    }
    size_t total = (bytes + PREFIX + 63) & ~(size_t)63;
    /* Refuse what cannot fit in this machine's memory: the system would otherwise hand
     * out the address space and then thrash or kill the process. */
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    if (pages > 0 && page > 0 && total / (size_t)page > (size_t)pages) {
        if (report)
            mn_fail(MN_E_NOMEM, "this needs %.1f GiB in one block but the machine has %.1f "
                    "GiB of memory; use a smaller batch, length, hidden size or --eval-size",
                    (double)bytes / 1073741824.0, (double)pages * (double)page / 1073741824.0);
        return NULL;
    }
    unsigned char *p = hook_fails() ? NULL : aligned_alloc(64, total);
    if (!p) {
        if (report)
            mn_fail(MN_E_NOMEM, "out of memory allocating %zu bytes; try a smaller batch, "
                    "length or hidden size", bytes);
        return NULL;
    }
    memcpy(p, &total, sizeof total);
#pragma omp atomic
    in_use += total;
    if (in_use > peak) peak = in_use;
    return p + PREFIX;
}

void *mn_alloc(size_t bytes) { return alloc_block(bytes, 1); }

void *mn_alloc_zero(size_t bytes) {
    void *p = mn_alloc(bytes);
    if (p) memset(p, 0, bytes);
    return p;
}

void mn_release(void *ptr) {
    if (!ptr) return;
    unsigned char *p = (unsigned char *)ptr - PREFIX;
    size_t total;
    memcpy(&total, p, sizeof total);
#pragma omp atomic
    in_use -= total;
    free(p);
}

static mn_status reserve(void **buf, size_t *cap, size_t bytes, int report) {
    if (*buf && *cap >= bytes) return MN_OK;
    void *p = alloc_block(bytes ? bytes : 1, report);
    if (!p) return MN_E_NOMEM;
    mn_release(*buf);
    *buf = p;
    *cap = bytes;
    return MN_OK;
}

mn_status mn_reserve(void **buf, size_t *cap, size_t bytes) { return reserve(buf, cap, bytes, 1); }
mn_status mn_try_reserve(void **buf, size_t *cap, size_t bytes) {
    return reserve(buf, cap, bytes, 0);
}

size_t mn_memory_in_use(void) { return in_use; }
size_t mn_memory_peak(void) { return peak; }
void mn_memory_reset_peak(void) { peak = in_use; }

int mn_mul_size(size_t a, size_t b, size_t *out) {
    if (a && b > SIZE_MAX / a) return 0;
    *out = a * b;
    return 1;
}

char *mn_float_text(char *buf, size_t cap, float x) {
    for (int digits = 1; digits <= 9; digits++) {
        snprintf(buf, cap, "%.*g", digits, (double)x);
        if ((float)strtod(buf, NULL) == x || x != x) break;
    }
    return buf;
}

/* ---------------------------------------------------------------------- errors */

static _Thread_local char last_error[512];

/* A failure raised on an OpenMP worker thread sets that worker's message, which the caller
 * never sees; so inside a parallel region the first failure is also kept here, for the
 * caller to collect with mn_parallel_status when the region ends. */
static mn_status region_status;
static char region_error[sizeof last_error];

mn_status mn_fail(mn_status s, const char *fmt, ...) {
    /* Format apart first: a caller may pass mn_last_error() itself as an argument, to
     * wrap the reason in context, and vsnprintf into its own source is undefined. */
    char msg[sizeof last_error];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    memcpy(last_error, msg, sizeof last_error);
#ifdef _OPENMP
    if (s != MN_OK && omp_in_parallel()) {
#pragma omp critical(mn_region_error)
        if (region_status == MN_OK) {
            region_status = s;
            memcpy(region_error, last_error, sizeof region_error);
        }
    }
#endif
    return s;
}

mn_status mn_parallel_status(void) {
    mn_status s;
#pragma omp critical(mn_region_error)
    {
        s = region_status;
        if (s != MN_OK) {
            memcpy(last_error, region_error, sizeof last_error);
            region_status = MN_OK;
        }
    }
    return s;
}

void mn_clear_error(void) { last_error[0] = 0; }
const char *mn_last_error(void) { return last_error; }
const char *mn_version(void) { return MNEMO_VERSION; }

/* ---------------------------------------------------------------------- random */

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void mn_rng_seed(mn_rng *r, uint64_t seed) {
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t mn_rng_u64(mn_rng *r) {
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3];
    s[2] ^= t; s[3] = rotl(s[3], 45);
    return result;
}

double mn_rng_uniform(mn_rng *r) { return (double)(mn_rng_u64(r) >> 11) * 0x1.0p-53; }

float mn_rng_uniform_range(mn_rng *r, float lo, float hi) {
    return (float)(lo + (hi - lo) * mn_rng_uniform(r));
}

double mn_rng_normal(mn_rng *r) {
    double u1 = mn_rng_uniform(r), u2 = mn_rng_uniform(r);
    return sqrt(-2.0 * log(1.0 - u1)) * cos(6.283185307179586 * u2);
}

uint32_t mn_rng_below(mn_rng *r, uint32_t n) {
    /* Lemire's multiply-shift with rejection: unbiased for every n. */
    uint64_t m = (mn_rng_u64(r) >> 32) * (uint64_t)n;
    uint32_t low = (uint32_t)m;
    if (low < n) {
        uint32_t threshold = (uint32_t)(-n) % n;
        while (low < threshold) {
            m = (mn_rng_u64(r) >> 32) * (uint64_t)n;
            low = (uint32_t)m;
        }
    }
    return (uint32_t)(m >> 32);
}

/* --------------------------------------------------------------------- threads */

static int nthreads;

void mn_set_threads(int n) {
    nthreads = n > 0 ? n : 0;
#ifdef _OPENMP
    omp_set_num_threads(nthreads ? nthreads : mn_processors());
#endif
}

int mn_processors(void) {
#ifdef _OPENMP
    static _Atomic int procs;
    int n = atomic_load_explicit(&procs, memory_order_relaxed);
    if (!n) atomic_store_explicit(&procs, n = omp_get_num_procs(), memory_order_relaxed);
    return n;
#else
    return 1;
#endif
}

int mn_threads(void) {
#ifdef _OPENMP
    return nthreads ? nthreads : omp_get_max_threads();
#else
    return 1;
#endif
}

int mn_get_threads(void) { return mn_threads(); }

double mn_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* ---------------------------------------------------------------- denormals */

#ifdef MN_HAVE_MXCSR
#define FTZ_DAZ 0x8040u   /* MXCSR: flush-to-zero (bit 15), denormals-are-zero (bit 6) */
#ifdef _OPENMP
static int fp_workers;    /* OpenMP threads already switched */
#endif

unsigned mn_fp_enter(void) {
    unsigned saved = _mm_getcsr();
    _mm_setcsr(saved | FTZ_DAZ);
#ifdef _OPENMP
    int n = mn_threads();
    if (n > fp_workers && !omp_in_parallel()) {
        #pragma omp parallel num_threads(n)
        _mm_setcsr(_mm_getcsr() | FTZ_DAZ);
        fp_workers = n;
    }
#endif
    return saved;
}

void mn_fp_leave(unsigned saved) { _mm_setcsr(saved); }
#else
unsigned mn_fp_enter(void) { return 0; }
void mn_fp_leave(unsigned saved) { (void)saved; }
#endif
