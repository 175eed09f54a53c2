/* The attention kernel alone (src/math/attention.c): forward and forward + backward at
 * B sequences × H heads of width dh, against the fp32 FMA peak measured on this machine.
 *   usage: attention_bench [--threads N] [--B B] [--H H] [--dh DH] [--T T1,T2,...]
 *                          [--causal|--bidirectional] [--repeats R] [--cpu-time] [--layer]
 * --layer times the whole attention layer instead (projections included, D = H·dh) and
 * reports the library's peak allocation during its forward + backward.
 * Useful FLOPs: forward 4·T²·dh·H·B (Q·Kᵀ and P·V), half under a causal mask; backward
 * 2.5× forward (five tile products for two). The softmax's exp is not counted. */
#include "attention.h"
#include "gemm.h"
#include "mnemo.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef _OPENMP
#include <omp.h>
#endif

/* --cpu-time: process CPU seconds instead of wall seconds, for a machine shared with
 * other work (time this process was not running is then not counted; GFLOP/s and the
 * peak become per-core rates times the threads). */
static int use_cpu_time;
static double now(void) {
    struct timespec ts;
    clock_gettime(use_cpu_time ? CLOCK_PROCESS_CPUTIME_ID : CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---------------------------------------------------------------- FMA peak
 * As bench/gemm_bench.c: 16 independent chains a = a·a + a per thread. */
static float fma_sink;
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define FMA16(F)                                                                     \
    a0 = F(a0, a0, a0); a1 = F(a1, a1, a1); a2 = F(a2, a2, a2); a3 = F(a3, a3, a3);     \
    a4 = F(a4, a4, a4); a5 = F(a5, a5, a5); a6 = F(a6, a6, a6); a7 = F(a7, a7, a7);     \
    a8 = F(a8, a8, a8); a9 = F(a9, a9, a9); a10 = F(a10, a10, a10);                     \
    a11 = F(a11, a11, a11); a12 = F(a12, a12, a12); a13 = F(a13, a13, a13);             \
    a14 = F(a14, a14, a14); a15 = F(a15, a15, a15);
#define SUM16 (((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7))) + \
              (((a8 + a9) + (a10 + a11)) + ((a12 + a13) + (a14 + a15)))
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
static double fma_peak(float (*fn)(long), int width, int threads) {
    long iters = 1 << 16;
    double best = 0;
    for (int r = 0; r < 3;) {
        float sum = 0;
        double t = now();
        #pragma omp parallel num_threads(threads) reduction(+ : sum)
        sum += fn(iters);
        t = now() - t;
        fma_sink += sum;
        if (t < 0.3) { iters *= 2; continue; }
        /* CPU time sums the threads: flops / CPU seconds is one core's rate */
        double gf = 2.0 * 16 * width * (double)iters * threads / t * 1e-9;
        if (use_cpu_time) gf *= threads;
        if (gf > best) best = gf;
        r++;
    }
    return best;
}
static double peak_gflops(int threads) {
    double p = 0;
    if (__builtin_cpu_supports("avx512f")) p = fma_peak(fma_avx512, 16, threads);
    else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        p = fma_peak(fma_avx2, 8, threads);
    return p;
}
#else
static double peak_gflops(int threads) { (void)threads; return NAN; }
#endif

/* The layer: forward and backward once per repeat, with the peak bytes it allocated. */
static void time_layer(int T, int B, int H, int dh, int causal, int repeats, double peak) {
    int D = H * dh;
    size_t n = (size_t)T * B * D;
    mn_layer *l = mn_attention_create(D, H, causal, 0);
    if (!l) { printf("%s\n", mn_last_error()); return; }
    l->params = calloc(l->param_count, 4);
    l->grads = calloc(l->param_count, 4);
    float *x = malloc(n * 4), *y = malloc(n * 4), *dx = calloc(n, 4);
    srand(1);
    for (size_t i = 0; i < l->param_count; i++) l->params[i] = ((float)rand() / RAND_MAX - 0.5f) * 0.1f;
    for (size_t i = 0; i < n; i++) x[i] = (float)rand() / RAND_MAX - 0.5f;
    double fwd = INFINITY, both = INFINITY;
    size_t held = 0;
    for (int k = 0; k < repeats + 1; k++) {
        mn_memory_reset_peak();
        size_t base = mn_memory_in_use();
        double t0 = now();
        mn_status st = l->ops->forward(l, x, y, T, B, NULL);
        double t1 = now();
        if (!st) st = l->ops->backward(l, x, dx, T, B, NULL);
        double t2 = now();
        if (st) { printf("%s\n", mn_last_error()); break; }
        if (k == 0) { held = mn_memory_peak() - base; continue; }   /* the first allocates */
        fwd = fmin(fwd, t1 - t0);
        both = fmin(both, t2 - t0);
    }
    if (use_cpu_time) {
        fwd /= mn_get_threads();
        both /= mn_get_threads();
    }
    /* attention plus the four D×D projections per row */
    double flops = 4.0 * T * (double)T * dh * H * B * (causal ? 0.5 : 1.0) + 8.0 * T * B * D * (double)D;
    double gf_f = flops / fwd * 1e-9, gf_b = 3.5 * flops / both * 1e-9;
    printf("%6d %3d %3d %4d %-6s %9.1f %7.1f %5.0f%% %9.1f %7.1f %5.0f%% %8.1f  (layer, peak allocated)\n",
           T, B, H, dh, causal ? "causal" : "bidir", fwd * 1e3, gf_f, 100 * gf_f / peak, both * 1e3,
           gf_b, 100 * gf_b / peak, held / 1048576.0);
    fflush(stdout);
    free(l->params); free(l->grads);
    l->params = l->grads = NULL;
    mn_layer_destroy(l);
    free(x); free(y); free(dx);
}

/* ---------------------------------------------------------------- runs */

typedef struct {
    mn_attention_dims a;
    int D;
    float *qkv, *o, *lse, *dout, *dqkv, *delta, *scratch;
} run;

static void time_case(int T, int B, int H, int dh, int causal, int repeats, double peak) {
    run r = {.a = {T, B, H, dh, causal, NULL}, .D = H * dh};
    size_t nqkv = (size_t)T * B * 3 * r.D, no = (size_t)T * B * r.D, nl = (size_t)B * H * T;
    r.qkv = malloc(nqkv * 4);
    r.dqkv = calloc(nqkv, 4);
    r.o = malloc(no * 4);
    r.dout = malloc(no * 4);
    r.lse = malloc(nl * 4);
    r.delta = malloc(nl * 4);
    size_t sf = mn_attention_scratch_floats(&r.a, 1);
    r.scratch = malloc(sf * 4);
    srand(1);
    for (size_t i = 0; i < nqkv; i++) r.qkv[i] = (float)rand() / RAND_MAX - 0.5f;
    for (size_t i = 0; i < no; i++) r.dout[i] = (float)rand() / RAND_MAX - 0.5f;
    int D = r.D;
    double fwd = INFINITY, both = INFINITY;
    for (int k = 0; k < repeats + 1; k++) {   /* the first run warms up */
        double t0 = now();
        mn_attention_forward(&r.a, r.qkv, r.qkv + D, r.qkv + 2 * D, 3 * D, r.o, D, r.lse, r.scratch);
        double t1 = now();
        mn_attention_backward(&r.a, r.qkv, r.qkv + D, r.qkv + 2 * D, 3 * D, r.o, r.dout, D, r.lse,
                              r.dqkv, r.dqkv + D, r.dqkv + 2 * D, r.delta, r.scratch);
        double t2 = now();
        if (k == 0) continue;
        fwd = fmin(fwd, t1 - t0);
        both = fmin(both, t2 - t0);
    }
    double flops = 4.0 * T * (double)T * dh * H * B * (causal ? 0.5 : 1.0);
    if (use_cpu_time) {   /* per-core rates times the threads, as the peak */
        fwd /= mn_get_threads();
        both /= mn_get_threads();
    }
    double gf_f = flops / fwd * 1e-9, gf_b = 3.5 * flops / both * 1e-9;
    size_t bytes = (nqkv * 2 + no * 3 + nl * 3 + sf) * 4;
    printf("%6d %3d %3d %4d %-6s %9.1f %7.1f %5.0f%% %9.1f %7.1f %5.0f%% %8.1f\n", T, B, H, dh,
           causal ? "causal" : "bidir", fwd * 1e3, gf_f, 100 * gf_f / peak, both * 1e3, gf_b,
           100 * gf_b / peak, bytes / 1048576.0);
    fflush(stdout);
    free(r.qkv); free(r.dqkv); free(r.o); free(r.dout); free(r.lse); free(r.delta); free(r.scratch);
}

int main(int argc, char **argv) {
    int threads = 2, B = 1, H = 4, dh = 64, repeats = 3, modes = 3, layer = 0;
    char Ts[256] = "1024,4096";
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(o, "--causal")) { modes = 2; continue; }
        if (!strcmp(o, "--bidirectional")) { modes = 1; continue; }
        if (!strcmp(o, "--cpu-time")) { use_cpu_time = 1; continue; }
        if (!strcmp(o, "--layer")) { layer = 1; continue; }
        if (!v) { fprintf(stderr, "attention_bench: %s needs a value (see the source's header)\n", o); return 2; }
        i++;
        if (!strcmp(o, "--threads")) threads = atoi(v);
        else if (!strcmp(o, "--B")) B = atoi(v);
        else if (!strcmp(o, "--H")) H = atoi(v);
        else if (!strcmp(o, "--dh")) dh = atoi(v);
        else if (!strcmp(o, "--repeats")) repeats = atoi(v);
        else if (!strcmp(o, "--T")) snprintf(Ts, sizeof Ts, "%s", v);
        else { fprintf(stderr, "attention_bench: unknown option %s\n", o); return 2; }
    }
    if (threads < 1 || B < 1 || H < 1 || dh < 1 || repeats < 1) {
        fprintf(stderr, "attention_bench: threads, B, H, dh and repeats must be >= 1\n");
        return 2;
    }
    mn_set_threads(threads);
    double peak = peak_gflops(threads);
    printf("mnemo attention kernel: GEMM kernel %s, tiles %dx%d, %d thread%s, FMA peak %.1f GFLOP/s%s\n",
           mn_cpu_kernel(), MN_ATTN_BQ, MN_ATTN_BK, threads, threads > 1 ? "s" : "", peak,
           use_cpu_time ? " (CPU time)" : "");
    printf("%6s %3s %3s %4s %-6s %9s %7s %6s %9s %7s %6s %8s\n", "T", "B", "H", "dh", "mask",
           "fwd ms", "GFLOP/s", "%peak", "f+b ms", "GFLOP/s", "%peak", "MiB");
    for (char *t = strtok(Ts, ","); t; t = strtok(NULL, ",")) {
        int T = atoi(t);
        if (T < 1) continue;
        void (*fn)(int, int, int, int, int, int, double) = layer ? time_layer : time_case;
        if (modes & 1) fn(T, B, H, dh, 0, repeats, peak);
        if (modes & 2) fn(T, B, H, dh, 1, repeats, peak);
    }
    printf("[checksum %g]\n", (double)fma_sink);
    return 0;
}
