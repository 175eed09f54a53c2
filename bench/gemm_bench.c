/* GEMM benchmark: mnemo's mn_sgemm against the fp32 FMA peak measured on this machine
 * and, when it is installed, OpenBLAS. OpenBLAS is loaded with dlopen so that neither the
 * build nor the binary depends on it.  Usage: gemm_bench [--threads N] [--quick]
 * Done-when of the issue: large GEMMs at >= 60% of the measured peak and >= OpenBLAS. */
#include "gemm.h"
#include "mnemo.h"

#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef _OPENMP
#include <omp.h>
#endif

enum { MAX_THREADS = 64, REPEATS = 3 };

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---------------------------------------------------------------- FMA peak */

static float fma_sink;   /* every thread's sum lands here; printed once at the end */

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

/* 16 independent chains hide the FMA latency (4-5 cycles) on 2 ports with room to spare.
 * Each accumulator is a named variable because GCC spills arrays of vectors. The update
 * a = a*a + a needs no constant register, so all 16 chains fit in AVX2's 16 ymm registers
 * (a constant m in acc*m + acc took the 17th and GCC spilled two chains). Starting in
 * (-1, 0), a shrinks towards 0 like -1/n: no overflow and no denormals. The start comes
 * from a volatile and the sum is printed, so nothing folds or is dead. No asm barrier in
 * the loop: it cut the measured rate to a third. */
#define FMA16(F)                                                                     \
    a0 = F(a0, a0, a0); a1 = F(a1, a1, a1); a2 = F(a2, a2, a2); a3 = F(a3, a3, a3);     \
    a4 = F(a4, a4, a4); a5 = F(a5, a5, a5); a6 = F(a6, a6, a6); a7 = F(a7, a7, a7);     \
    a8 = F(a8, a8, a8); a9 = F(a9, a9, a9); a10 = F(a10, a10, a10);                     \
    a11 = F(a11, a11, a11); a12 = F(a12, a12, a12); a13 = F(a13, a13, a13);             \
    a14 = F(a14, a14, a14); a15 = F(a15, a15, a15);
#define SUM16 (((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7))) + \
              (((a8 + a9) + (a10 + a11)) + ((a12 + a13) + (a14 + a15)))
/* Distinct start values: with equal ones GCC merges the 16 identical chains into one. */
#define DECL16(T, S, x) T a0 = S(x), a1 = S(x + .01f), a2 = S(x + .02f), a3 = S(x + .03f),   \
    a4 = S(x + .04f), a5 = S(x + .05f), a6 = S(x + .06f), a7 = S(x + .07f), a8 = S(x + .08f), \
    a9 = S(x + .09f), a10 = S(x + .10f), a11 = S(x + .11f), a12 = S(x + .12f),                \
    a13 = S(x + .13f), a14 = S(x + .14f), a15 = S(x + .15f)

static volatile float fma_start = -0.5f;

__attribute__((target("avx512f"))) static float fma_avx512(long iters) {
    const float x = fma_start;
    DECL16(__m512, _mm512_set1_ps, x);
    for (long i = 0; i < iters; i++) { FMA16(_mm512_fmadd_ps) }
    return _mm512_reduce_add_ps(SUM16);
}

__attribute__((target("avx2,fma"))) static float fma_avx2(long iters) {
    const float x = fma_start;
    DECL16(__m256, _mm256_set1_ps, x);
    for (long i = 0; i < iters; i++) { FMA16(_mm256_fmadd_ps) }
    float out[8];
    _mm256_storeu_ps(out, SUM16);
    return out[0] + out[1] + out[2] + out[3] + out[4] + out[5] + out[6] + out[7];
}

/* GFLOP/s of `threads` threads each running fn(iters); best of REPEATS runs >= 0.3 s. */
static double fma_peak(float (*fn)(long), int width, int threads) {
    long iters = 1 << 16;
    double best = 0;
    for (int r = 0; r < REPEATS;) {
        float sum = 0;
        double t = now();
#ifdef _OPENMP
        #pragma omp parallel num_threads(threads) reduction(+ : sum)
#endif
        sum += fn(iters);
        t = now() - t;
        fma_sink += sum;
        if (t < 0.3) { iters *= 2; continue; }   /* calibrating: not a repeat yet */
        double gf = 2.0 * 16 * width * (double)iters * threads / t * 1e-9;
        if (gf > best) best = gf;
        r++;
    }
    return best;
}
#endif

/* ---------------------------------------------------------------- OpenBLAS via dlopen */

enum { CblasRowMajor = 101, CblasNoTrans = 111, CblasTrans = 112 };
typedef void (*cblas_sgemm_fn)(int, int, int, int, int, int, float, const float *, int,
                               const float *, int, float, float *, int);
static cblas_sgemm_fn ob_sgemm;
static void (*ob_set_threads)(int);

static void openblas_load(void) {
    void *h = dlopen("libopenblas.so.0", RTLD_NOW | RTLD_LOCAL);
    if (!h) h = dlopen("libopenblas.so", RTLD_NOW | RTLD_LOCAL);
    if (h) {
        ob_sgemm = (cblas_sgemm_fn)dlsym(h, "cblas_sgemm");
        ob_set_threads = (void (*)(int))dlsym(h, "openblas_set_num_threads");
    }
    if (!ob_sgemm || !ob_set_threads) {
        ob_sgemm = NULL;
        printf("OpenBLAS: not found (install libopenblas-dev to compare)\n");
        return;
    }
    char *(*config)(void) = (char *(*)(void))dlsym(h, "openblas_get_config");
    printf("OpenBLAS: %s\n", config ? config() : "loaded (no openblas_get_config)");
}

/* ---------------------------------------------------------------- GEMM cases */

typedef struct {
    const char *name;
    int ta, tb, M, N, K;
    int packed;      /* mnemo times mn_sgemm_packed with B packed once; OpenBLAS plain */
    int quick;       /* part of --quick */
} shape;

static const shape SHAPES[] = {
    {"square 256", 0, 0, 256, 256, 256, 0, 0},
    {"square 512", 0, 0, 512, 512, 512, 0, 0},
    {"square 1024", 0, 0, 1024, 1024, 1024, 0, 1},
    {"square 2048", 0, 0, 2048, 2048, 2048, 0, 0},
    /* LSTM at T=200 B=32 I=H=256, gates 4H=1024 (src/recurrent.c) */
    {"lstm x*Wih^T", 0, 1, 6400, 1024, 256, 0, 1},
    {"lstm step h*Whh^T", 0, 1, 32, 1024, 256, 1, 1},
    {"lstm dWih=dg^T*x", 1, 0, 1024, 256, 6400, 0, 1},
    {"lstm dx=dg*Wih", 0, 0, 6400, 256, 1024, 0, 1},
};

typedef struct {
    const shape *s;
    const float *A, *B;
    float *C;
    int lda, ldb;
    mn_packed pk;
} job;

static void run_mnemo(job *j) {
    const shape *s = j->s;
    if (s->packed)
        mn_sgemm_packed(s->ta, s->M, 1.0f, j->A, j->lda, &j->pk, 0.0f, j->C, s->N);
    else
        mn_sgemm(s->ta, s->tb, s->M, s->N, s->K, 1.0f, j->A, j->lda, j->B, j->ldb, 0.0f,
                 j->C, s->N);
}

static void run_openblas(job *j) {
    const shape *s = j->s;
    ob_sgemm(CblasRowMajor, s->ta ? CblasTrans : CblasNoTrans, s->tb ? CblasTrans : CblasNoTrans,
             s->M, s->N, s->K, 1.0f, j->A, j->lda, j->B, j->ldb, 0.0f, j->C, s->N);
}

/* Seconds per call: one warm-up call, then the best of REPEATS loops of >= min_s each. */
static double time_call(void (*fn)(job *), job *j, double min_s) {
    fn(j);
    double best = INFINITY;
    for (int r = 0; r < REPEATS; r++) {
        long n = 0;
        double t0 = now(), t;
        do { fn(j); n++; } while ((t = now() - t0) < min_s);
        if (t / (double)n < best) best = t / (double)n;
    }
    return best;
}

static float *random_matrix(size_t n, unsigned *seed) {
    float *p = NULL;
    if (posix_memalign((void **)&p, 64, n * sizeof *p)) return NULL;
    for (size_t i = 0; i < n; i++) {
        *seed = *seed * 1664525u + 1013904223u;
        p[i] = (float)(*seed >> 8) / 8388608.0f - 1.0f;   /* uniform in [-1, 1) */
    }
    return p;
}

/* max |mnemo - OpenBLAS| / max |OpenBLAS|: normwise, so entries near 0 do not blow up. */
static double compare_with_openblas(job *j) {
    size_t n = (size_t)j->s->M * j->s->N;
    float *ref = malloc(n * sizeof *ref);
    if (!ref) return 0;
    run_openblas(j);
    memcpy(ref, j->C, n * sizeof *ref);
    run_mnemo(j);
    double diff = 0, mag = 0;
    for (size_t i = 0; i < n; i++) {
        diff = fmax(diff, fabs((double)j->C[i] - ref[i]));
        mag = fmax(mag, fabs((double)ref[i]));
    }
    free(ref);
    return mag > 0 ? diff / mag : diff;
}

static void bench_shape(const shape *s, int max_threads, const double *peak, double min_s) {
    unsigned seed = 12345;
    job j = {.s = s, .lda = s->ta ? s->M : s->K, .ldb = s->tb ? s->K : s->N};
    float *A = random_matrix((size_t)s->M * s->K, &seed), *B = random_matrix((size_t)s->K * s->N, &seed);
    j.A = A, j.B = B, j.C = random_matrix((size_t)s->M * s->N, &seed);
    if (!A || !B || !j.C || (s->packed && mn_pack_b(&j.pk, s->tb, s->K, s->N, B, j.ldb) != MN_OK)) {
        fprintf(stderr, "gemm_bench: out of memory for %s\n", s->name);
        exit(1);
    }
    if (ob_sgemm) {
        ob_set_threads(1);
        double err = compare_with_openblas(&j);
        if (err > 1e-4) printf("WARNING: %s: mnemo and OpenBLAS differ, max rel err %.2e\n", s->name, err);
    }
    double flop = 2.0 * s->M * s->N * s->K;
    for (int t = 1; t <= max_threads; t++) {
        mn_set_threads(t);
        double mn = flop / time_call(run_mnemo, &j, min_s) * 1e-9;
        printf("%-18s %5d %5d %5d %c%c%c %3d %8.1f %5.0f%%", s->name, s->M, s->N, s->K,
               s->ta ? 'T' : 'N', s->tb ? 'T' : 'N', s->packed ? 'p' : ' ', t, mn, 100 * mn / peak[t]);
        if (ob_sgemm) {
            ob_set_threads(t);
            double ob = flop / time_call(run_openblas, &j, min_s) * 1e-9;
            printf(" %8.1f %5.0f%% %6.2f", ob, 100 * ob / peak[t], mn / ob);
        }
        printf("\n");
        fflush(stdout);
    }
    if (s->packed) mn_packed_free(&j.pk);
    free(A), free(B), free(j.C);
}

/* ---------------------------------------------------------------- main */

/* CPU model, and the load average: other processes on the cores skew the multi-thread
 * numbers (and the multi-thread peak) more than anything in the code under test. */
static void print_machine(void) {
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[512];
    while (f && fgets(line, sizeof line, f)) {
        char *colon = strchr(line, ':');
        if (strncmp(line, "model name", 10) == 0 && colon) {
            printf("CPU: %s", colon + 2);   /* the line keeps its newline */
            break;
        }
    }
    if (f) fclose(f);
    f = fopen("/proc/loadavg", "r");
    if (f && fgets(line, sizeof line, f)) printf("load average (1, 5, 15 min, runnable/all): %s", line);
    if (f) fclose(f);
}

static void usage(FILE *out) {
    fprintf(out, "usage: gemm_bench [--threads N] [--quick] [--peak-only] [--help]\n"
                 "  --threads N  measure 1..N threads (default 2)\n"
                 "  --quick      only square 1024 and the LSTM shapes, shorter timing\n"
                 "  --peak-only  the FMA peak lines alone (what bench/compare_ssm.py reads)\n"
                 "OpenBLAS picks its kernel from the CPU; OPENBLAS_CORETYPE (e.g. SkylakeX)\n"
                 "overrides that when its choice is older than the CPU.\n");
}

int main(int argc, char **argv) {
    int max_threads = 2, quick = 0, peak_only = 0;
    for (int i = 1; i < argc; i++) {
        char *end = NULL;
        if (!strcmp(argv[i], "--help")) { usage(stdout); return 0; }
        if (!strcmp(argv[i], "--quick")) { quick = 1; continue; }
        if (!strcmp(argv[i], "--peak-only")) { peak_only = 1; continue; }
        if (!strcmp(argv[i], "--threads") && i + 1 < argc &&
            (max_threads = (int)strtol(argv[++i], &end, 10)) >= 1 && max_threads <= MAX_THREADS && !*end)
            continue;
        fprintf(stderr, "gemm_bench: bad option '%s' (try --help)\n", argv[i]);
        return 2;
    }
#ifndef _OPENMP
    if (max_threads > 1) printf("built without OpenMP: 1 thread only\n");
    max_threads = 1;
#endif
    printf("mnemo GEMM benchmark: kernel %s\n", mn_cpu_kernel());
    print_machine();
    /* Peak per thread count: the faster of the ISAs this CPU runs, as mnemo picks that one. */
    double peak[MAX_THREADS + 1] = {0};
    for (int t = 1; t <= max_threads; t++) {
        double p512 = 0, p256 = 0;
#if defined(__x86_64__) || defined(__i386__)
        if (__builtin_cpu_supports("avx512f")) p512 = fma_peak(fma_avx512, 16, t);
        if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) p256 = fma_peak(fma_avx2, 8, t);
#endif
        peak[t] = fmax(p512, p256);
        printf("FMA peak fp32, %d thread%s: avx512 %.1f, avx2 %.1f GFLOP/s\n", t, t > 1 ? "s" : " ", p512, p256);
        if (peak[t] < 0.75 * t * peak[1])
            printf("  (only %.2fx one thread: cores busy with other work, or SMT siblings)\n", peak[t] / peak[1]);
    }
    if (peak_only) return 0;
    if (peak[1] == 0) {
        printf("no AVX2/AVX-512 FMA on this CPU: %% of peak not available\n");
        for (int t = 1; t <= max_threads; t++) peak[t] = NAN;
    }
    openblas_load();
    printf("\n%-18s %5s %5s %5s %3s %3s %8s %6s", "shape", "M", "N", "K", "op", "thr", "mnemo", "%peak");
    if (ob_sgemm) printf(" %8s %6s %6s", "OpenBLAS", "%peak", "ratio");
    printf("\n");
    for (size_t i = 0; i < sizeof SHAPES / sizeof *SHAPES; i++)
        if (!quick || SHAPES[i].quick) bench_shape(&SHAPES[i], max_threads, peak, quick ? 0.1 : 0.3);
    printf("\nGFLOP/s, best of %d runs; op: trans_a trans_b, p = B packed once (mn_sgemm_packed);"
           " ratio = mnemo/OpenBLAS  [checksum %g]\n", REPEATS, (double)fma_sink);
    return 0;
}
