/* Packed, register-blocked SGEMM with run-time kernel choice (see gemm.h).
 *
 * Loop structure (as in BLIS/GotoBLAS): op(B) is packed as panels of NR columns, each
 * panel [K][NR] contiguous; a thread takes a block of MC rows and a range of panels, packs
 * its rows of op(A) into [KC][MR] panels, and the micro-kernel computes an MR×NR tile
 * over KC steps in registers. Every element of C is owned by one thread and summed in the
 * same K order, so results do not depend on the thread count. */
#include "gemm.h"
#include "gemm_thin.h"

#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#define KC 256
#define MC_PANELS 8          /* rows per A block = MC_PANELS * MR */
#define MAX_MR 8
#define MAX_NR 32

/* A kernel computes one MR×NR tile over kc steps from packed panels and writes
 *   C[r][j] = alpha * acc[r][j] + beta * C[r][j]   (beta == 0: C is not read)
 * for the whole tile; the driver points edge tiles at a scratch tile first. */
typedef void (*kernel_fn)(int kc, const float *A, const float *B, float *C, size_t ldc,
                          float alpha, float beta);
/* A thin kernel: the 1-4 rows a full tile leaves over (gemm_thin.h); NULL where a kernel
 * has none. */
typedef void (*thin_fn)(int h, int v0, int nv, int kc, const float *A, int ks, size_t rs,
                        const float *B, size_t bstride, float *C, size_t ldc, float alpha,
                        float beta);
typedef struct {
    const char *name;
    int mr, nr;
    kernel_fn fn;
    thin_fn thin;
    /* MR rows × 8 k of a row-major A into 8 panel rows of MR; NULL: scalar packing */
    void (*transpose)(const float *src, size_t lda, float *dst);
    int (*supported)(void);
} kernel;

/* ------------------------------------------------------------------ kernels */

/* Portable: GCC vector extensions, no ISA assumed (any CPU; also the fallback here). */
typedef float v4 __attribute__((vector_size(16)));
static void kernel_portable(int kc, const float *A, const float *B, float *C, size_t ldc,
                            float alpha, float beta) {
    v4 c[4][2];
    memset(c, 0, sizeof c);
    for (int k = 0; k < kc; k++) {
        v4 b[2];
        memcpy(b, B + (size_t)k * 8, sizeof b);
        for (int r = 0; r < 4; r++) {
            float a = A[(size_t)k * 4 + r];
            c[r][0] += a * b[0];
            c[r][1] += a * b[1];
        }
    }
    for (int r = 0; r < 4; r++) {
        float *cr = C + (size_t)r * ldc, acc[8];
        memcpy(acc, c[r], sizeof acc);
        for (int j = 0; j < 8; j++) cr[j] = beta == 0.0f ? alpha * acc[j] : beta * cr[j] + alpha * acc[j];
    }
}
static int always(void) { return 1; }

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

/* Each accumulator is a named variable (not an array) so that GCC keeps all of them in
 * registers; an array of vectors is spilled to the stack at every step. The same macros
 * serve both widths: P is the intrinsics' width (512 or 256), W the floats per vector. */
#define VROW(VT, P, r) VT c##r##0 = _mm##P##_setzero_ps(), c##r##1 = _mm##P##_setzero_ps();
#define VFMA(VT, P, r)                                              \
    {                                                               \
        VT a = _mm##P##_set1_ps(A[r]);                              \
        c##r##0 = _mm##P##_fmadd_ps(a, b0, c##r##0);                \
        c##r##1 = _mm##P##_fmadd_ps(a, b1, c##r##1);                \
    }
#define VSTORE(VT, P, W, r)                                                             \
    {                                                                                   \
        float *cr = C + (size_t)(r) * ldc;                                              \
        VT o0 = _mm##P##_mul_ps(va, c##r##0), o1 = _mm##P##_mul_ps(va, c##r##1);        \
        if (beta != 0.0f) {                                                             \
            o0 = _mm##P##_fmadd_ps(vb, _mm##P##_loadu_ps(cr), o0);                      \
            o1 = _mm##P##_fmadd_ps(vb, _mm##P##_loadu_ps(cr + W), o1);                  \
        }                                                                               \
        _mm##P##_storeu_ps(cr, o0);                                                     \
        _mm##P##_storeu_ps(cr + W, o1);                                                 \
    }
#define X512_ROW(r) VROW(__m512, 512, r)
#define X512_FMA(r) VFMA(__m512, 512, r)
#define X512_STORE(r) VSTORE(__m512, 512, 16, r)
#define X256_ROW(r) VROW(__m256, 256, r)
#define X256_FMA(r) VFMA(__m256, 256, r)
#define X256_STORE(r) VSTORE(__m256, 256, 8, r)

/* AVX-512: 8 rows × 32 columns, 16 zmm accumulators; A is broadcast from memory. */
__attribute__((target("avx512f,fma"))) static void kernel_avx512(
    int kc, const float *A, const float *B, float *C, size_t ldc, float alpha, float beta) {
    X512_ROW(0) X512_ROW(1) X512_ROW(2) X512_ROW(3)
    X512_ROW(4) X512_ROW(5) X512_ROW(6) X512_ROW(7)
    #pragma GCC unroll 4
    for (int k = 0; k < kc; k++) {
        __m512 b0 = _mm512_loadu_ps(B), b1 = _mm512_loadu_ps(B + 16);
        X512_FMA(0) X512_FMA(1) X512_FMA(2) X512_FMA(3)
        X512_FMA(4) X512_FMA(5) X512_FMA(6) X512_FMA(7)
        A += 8;
        B += 32;
    }
    __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
    X512_STORE(0) X512_STORE(1) X512_STORE(2) X512_STORE(3)
    X512_STORE(4) X512_STORE(5) X512_STORE(6) X512_STORE(7)
}


/* AVX2: 6 rows × 16 columns, 12 ymm accumulators + 2 for B + 1 broadcast. */
__attribute__((target("avx2,fma"))) static void kernel_avx2(
    int kc, const float *A, const float *B, float *C, size_t ldc, float alpha, float beta) {
    X256_ROW(0) X256_ROW(1) X256_ROW(2) X256_ROW(3) X256_ROW(4) X256_ROW(5)
    #pragma GCC unroll 4
    for (int k = 0; k < kc; k++) {
        __m256 b0 = _mm256_loadu_ps(B), b1 = _mm256_loadu_ps(B + 8);
        X256_FMA(0) X256_FMA(1) X256_FMA(2) X256_FMA(3) X256_FMA(4) X256_FMA(5)
        A += 6;
        B += 16;
    }
    __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
    X256_STORE(0) X256_STORE(1) X256_STORE(2) X256_STORE(3) X256_STORE(4) X256_STORE(5)
}

/* The AVX2 kernel's 6-row panels: transpose8x8_to's transpose with two zero rows, each 8-wide
 * result row stored over the previous one's two zero lanes, the last one as 4 + 2. */
__attribute__((target("avx"))) static void transpose6x8(const float *src, size_t lda,
                                                        float *dst) {
    __m256 r0 = _mm256_loadu_ps(src), r1 = _mm256_loadu_ps(src + lda),
           r2 = _mm256_loadu_ps(src + 2 * lda), r3 = _mm256_loadu_ps(src + 3 * lda),
           r4 = _mm256_loadu_ps(src + 4 * lda), r5 = _mm256_loadu_ps(src + 5 * lda),
           r6 = _mm256_setzero_ps(), r7 = _mm256_setzero_ps();
    __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
    __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
    __m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);
    __m256 t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
    __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    _mm256_storeu_ps(dst, _mm256_permute2f128_ps(u0, u4, 0x20));
    _mm256_storeu_ps(dst + 6, _mm256_permute2f128_ps(u1, u5, 0x20));
    _mm256_storeu_ps(dst + 12, _mm256_permute2f128_ps(u2, u6, 0x20));
    _mm256_storeu_ps(dst + 18, _mm256_permute2f128_ps(u3, u7, 0x20));
    _mm256_storeu_ps(dst + 24, _mm256_permute2f128_ps(u0, u4, 0x31));
    _mm256_storeu_ps(dst + 30, _mm256_permute2f128_ps(u1, u5, 0x31));
    _mm256_storeu_ps(dst + 36, _mm256_permute2f128_ps(u2, u6, 0x31));
    __m256 last = _mm256_permute2f128_ps(u3, u7, 0x31);
    _mm_storeu_ps(dst + 42, _mm256_castps256_ps128(last));
    _mm_storel_pi((__m64 *)(dst + 46), _mm256_extractf128_ps(last, 1));
}

/* 8 rows × 8 columns of a row-major matrix transposed in registers (the classic unpack /
 * shuffle / permute sequence) into 8 rows of 8 at dst, ldd apart: AVX-512's 8-row A
 * panels, and op(B) = Bᵀ panels, where row k gathers column k of 8 rows of B (the scalar
 * gather took 7 cycles a float, 90% of a one-step LSTM forward's time). */
__attribute__((target("avx"))) static void transpose8x8_to(const float *src, size_t lda,
                                                           float *dst, size_t ldd) {
    __m256 r0 = _mm256_loadu_ps(src), r1 = _mm256_loadu_ps(src + lda),
           r2 = _mm256_loadu_ps(src + 2 * lda), r3 = _mm256_loadu_ps(src + 3 * lda),
           r4 = _mm256_loadu_ps(src + 4 * lda), r5 = _mm256_loadu_ps(src + 5 * lda),
           r6 = _mm256_loadu_ps(src + 6 * lda), r7 = _mm256_loadu_ps(src + 7 * lda);
    __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
    __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
    __m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);
    __m256 t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
    __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    _mm256_storeu_ps(dst, _mm256_permute2f128_ps(u0, u4, 0x20));
    _mm256_storeu_ps(dst + ldd, _mm256_permute2f128_ps(u1, u5, 0x20));
    _mm256_storeu_ps(dst + 2 * ldd, _mm256_permute2f128_ps(u2, u6, 0x20));
    _mm256_storeu_ps(dst + 3 * ldd, _mm256_permute2f128_ps(u3, u7, 0x20));
    _mm256_storeu_ps(dst + 4 * ldd, _mm256_permute2f128_ps(u0, u4, 0x31));
    _mm256_storeu_ps(dst + 5 * ldd, _mm256_permute2f128_ps(u1, u5, 0x31));
    _mm256_storeu_ps(dst + 6 * ldd, _mm256_permute2f128_ps(u2, u6, 0x31));
    _mm256_storeu_ps(dst + 7 * ldd, _mm256_permute2f128_ps(u3, u7, 0x31));
}

/* Packing 8 rows of a row-major A: an 8×8 block becomes 8 consecutive k-rows of the panel */
__attribute__((target("avx"))) static void transpose8x8(const float *src, size_t lda,
                                                        float *dst) {
    transpose8x8_to(src, lda, dst, 8);
}

static int has_avx512(void) { return __builtin_cpu_supports("avx512f"); }
static int has_avx2(void) {
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
#else /* other CPUs run the portable kernel under every name */
#define kernel_avx512 kernel_portable
#define transpose8x8 NULL
#define transpose6x8 NULL
#define transpose8x8_to NULL
#define kernel_avx2 kernel_portable
static int has_avx512(void) { return 0; }
static int has_avx2(void) { return 0; }
#define mn_gemm_thin_avx512 NULL
#define mn_gemm_thin_avx2 NULL
#endif

static const kernel kernels[] = {
    {"avx512", 8, 32, kernel_avx512, mn_gemm_thin_avx512, transpose8x8, has_avx512},
    {"avx2", 6, 16, kernel_avx2, mn_gemm_thin_avx2, transpose6x8, has_avx2},
    {"portable", 4, 8, kernel_portable, NULL, NULL, always},
};
static const kernel *active;

static const kernel *pick(void) {
    if (!active) {
        for (size_t i = 0; i < sizeof kernels / sizeof kernels[0]; i++)
            if (kernels[i].supported()) { active = &kernels[i]; break; }
    }
    return active;
}

const char *mn_cpu_kernel(void) { return pick()->name; }

mn_status mn_gemm_use(const char *name) {
    if (!name) { active = NULL; pick(); return MN_OK; }
    for (size_t i = 0; i < sizeof kernels / sizeof kernels[0]; i++) {
        if (strcmp(kernels[i].name, name) != 0) continue;
        if (!kernels[i].supported())
            return mn_fail(MN_E_ARG, "this CPU cannot run the %s GEMM kernel", name);
        active = &kernels[i];
        return MN_OK;
    }
    return mn_fail(MN_E_ARG, "unknown GEMM kernel '%s' (avx512, avx2, portable)", name);
}

/* ------------------------------------------------------------------ packing */

/* The kernel a panel was packed for (one this CPU runs, or it would not have been
 * chosen): the tile widths of the table are all different. */
static const kernel *kernel_for(int nr) {
    for (size_t i = 0; i < sizeof kernels / sizeof kernels[0]; i++)
        if (kernels[i].nr == nr) return &kernels[i];
    return pick();   /* unreachable: an empty panel (N = 0) is never multiplied */
}

/* Panel jp of op(B) [K,N] into dst + jp·K·nr: [K][nr], zero past column N. For the AVX
 * kernels (the ones with a transpose) op(B) = Bᵀ goes 8 × 8 blocks at a time. */
static void (*const transpose_to)(const float *, size_t, float *, size_t) = transpose8x8_to;

static void pack_panel(float *dst0, int nr, int trans_b, int K, int N, int jp, const float *B,
                       int ldb) {
    float *dst = dst0 + (size_t)jp * K * nr;
    int j0 = jp * nr, w = MN_MIN(nr, N - j0), k = 0;
    if (trans_b && transpose_to && kernel_for(nr)->transpose && nr % 8 == 0 && w == nr)
        for (; k + 8 <= K; k += 8)
            for (int j = 0; j < nr; j += 8)
                transpose_to(B + (size_t)(j0 + j) * ldb + k, (size_t)ldb,
                                dst + (size_t)k * nr + j, (size_t)nr);
    for (; k < K; k++) {
        float *row = dst + (size_t)k * nr;
        if (!trans_b) memcpy(row, B + (size_t)k * ldb + j0, (size_t)w * sizeof(float));
        else for (int j = 0; j < w; j++) row[j] = B[(size_t)(j0 + j) * ldb + k];
        for (int j = w; j < nr; j++) row[j] = 0.0f;
    }
}

/* report: 0 packs without leaving a message on failure (mn_sgemm has a fallback). */
static mn_status pack_b(mn_packed *p, int trans_b, int K, int N, const float *B, int ldb,
                        int report) {
    const kernel *kn = pick();
    int nr = kn->nr, panels = (N + nr - 1) / nr;
    size_t bytes = (size_t)panels * nr * (size_t)(K > 0 ? K : 1) * sizeof(float);
    mn_status st = report ? mn_reserve((void **)&p->data, &p->cap, bytes)
                          : mn_try_reserve((void **)&p->data, &p->cap, bytes);
    if (st != MN_OK) {
        /* never leave the previous panel to be multiplied as if it were this one */
        p->K = p->N = p->nr = 0;
        return MN_E_NOMEM;
    }
    p->K = K; p->N = N; p->nr = nr;
    /* a small B without any parallel construct: even one whose `if` is false made a
     * futex call in libgomp, a one-step stream's largest cost after the packing itself */
    if ((size_t)K * N <= 65536) {
        for (int jp = 0; jp < panels; jp++) pack_panel(p->data, nr, trans_b, K, N, jp, B, ldb);
        return MN_OK;
    }
    #pragma omp parallel for schedule(static)
    for (int jp = 0; jp < panels; jp++) pack_panel(p->data, nr, trans_b, K, N, jp, B, ldb);
    return MN_OK;
}

mn_status mn_pack_b(mn_packed *p, int trans_b, int K, int N, const float *B, int ldb) {
    return pack_b(p, trans_b, K, N, B, ldb, 1);
}

void mn_packed_free(mn_packed *p) {
    mn_release(p->data);
    p->data = NULL;
    p->cap = 0;
}

/* Pack rows [i0, i0+rows) × columns [k0, k0+kc) of op(A) as [kc][MR] panels, reading
 * A in its own memory order (row by row) so that every source line is used whole. */
static void pack_a(const kernel *kn, float *dst, const float *A, int trans_a, int lda, int i0,
                   int rows, int k0, int kc) {
    int mr = kn->mr;
    int panels = (rows + mr - 1) / mr;
    /* Zero the rows past the end of the last panel: the whole panel at once, then the rows
     * are written over it. Zeroing MR − rows floats per k became one small memset call per
     * k, which cost a one-sequence step more than the packing itself. */
    if (rows % mr)
        memset(dst + (size_t)(panels - 1) * kc * mr, 0, (size_t)kc * mr * sizeof(float));
    if (trans_a) { /* A is [K, M]: row k of A holds column k of op(A) */
        for (int k = 0; k < kc; k++) {
            const float *src = A + (size_t)(k0 + k) * lda + i0;
            /* rows lda apart defeat the hardware prefetcher: ask for a few rows ahead */
            if (k + 8 < kc)
                for (int r = 0; r < rows; r += 16) __builtin_prefetch(src + 8 * (size_t)lda + r);
            for (int ip = 0; ip < rows; ip += mr) {
                float *d = dst + (size_t)(ip / mr) * kc * mr + (size_t)k * mr;
                int h = MN_MIN(mr, rows - ip);
                /* a whole panel row as one fixed-size copy (two moves, not six) */
                if (h == 6) memcpy(d, src + ip, 6 * sizeof(float));
                else if (h == 8) memcpy(d, src + ip, 8 * sizeof(float));
                else for (int r = 0; r < h; r++) d[r] = src[ip + r];
            }
        }
        return;
    }
    for (int ip = 0; ip < rows; ip += mr) {
        /* k outer: each write is a whole MR-row of the panel, and the MR source rows stay
         * in L1 across the 16 k that share a cache line */
        const float *src = A + (size_t)(i0 + ip) * lda + k0;
        float *d = dst + (size_t)(ip / mr) * kc * mr;
        int h = MN_MIN(mr, rows - ip), k = 0;
        if (h == mr && kn->transpose)
            for (; k + 8 <= kc; k += 8) kn->transpose(src + k, (size_t)lda, d + (size_t)k * mr);
        for (; k < kc; k++)
            for (int r = 0; r < h; r++) d[(size_t)k * mr + r] = src[(size_t)r * lda + k];
    }
}

/* pack_a for a shifted A (mn_shifted_a): row i's segment s is row i + shift[s] of A, or
 * zeros outside A's rows. Whole panels of valid rows take the kernel's transposes. */
static void pack_a_shifted(const kernel *kn, float *dst, const float *A, int lda,
                           const mn_shifted_a *sa, int i0, int rows, int k0, int kc) {
    int mr = kn->mr, w = sa->width;
    for (int ip = 0; ip < rows; ip += mr) {
        float *d = dst + (size_t)(ip / mr) * kc * mr;
        int h = MN_MIN(mr, rows - ip);
        for (int sg = k0 / w; sg < sa->segs && sg * w < k0 + kc; sg++) {
            int c0 = MN_MAX(k0, sg * w), c1 = MN_MIN(k0 + kc, (sg + 1) * w), n = c1 - c0;
            long r0 = (long)i0 + ip + sa->shift[sg];         /* A's row for the panel's first */
            float *ds = d + (size_t)(c0 - k0) * mr;
            int k = 0;
            if (h == mr && r0 >= 0 && r0 + mr <= sa->rows && kn->transpose) {
                const float *src = A + (size_t)r0 * lda + (c0 - sg * w);
                for (; k + 8 <= n; k += 8) kn->transpose(src + k, (size_t)lda, ds + (size_t)k * mr);
            }
            for (int r = 0; r < mr; r++) {
                long row = r0 + r;
                const float *src = r < h && row >= 0 && row < sa->rows
                                 ? A + (size_t)row * lda + (c0 - sg * w) : NULL;
                for (int kk = k; kk < n; kk++) ds[(size_t)kk * mr + r] = src ? src[kk] : 0.0f;
            }
        }
    }
}

/* Scratch for packed A blocks, one per OpenMP thread number, grown rarely and kept for
 * the next call. (Thread-local storage would leak a block for every short-lived thread
 * that ever called in; calls into mnemo must not overlap anyway, see mnemo.h.) */
static float *a_scratch[MN_GEMM_MAX_THREADS];
static size_t a_scratch_cap[MN_GEMM_MAX_THREADS];
static mn_packed b_scratch;

/* NULL when there is none (no memory, or a thread number past the table): the caller
 * then packs one panel at a time on its stack. No message either way: it is not a failure. */
static float *my_a_scratch(size_t bytes) {
    int id = 0;
#ifdef _OPENMP
    id = omp_get_thread_num();
#endif
    if (id >= MN_GEMM_MAX_THREADS) return NULL;   /* callers cap their threads below this */
    if (mn_try_reserve((void **)&a_scratch[id], &a_scratch_cap[id], bytes) != MN_OK) return NULL;
    return a_scratch[id];
}

void mn_gemm_release_scratch(void) {
    for (int i = 0; i < MN_GEMM_MAX_THREADS; i++) {
        mn_release(a_scratch[i]);
        a_scratch[i] = NULL;
        a_scratch_cap[i] = 0;
    }
    mn_packed_free(&b_scratch);
    b_scratch.K = b_scratch.N = b_scratch.nr = 0;
}

/* ------------------------------------------------------------------ driver */

/* One MR×NR tile: C[rows h][cols w] (+)= alpha · packed A panel · packed B panel. */
static void tile(const kernel *kn, int kc, const float *a, const float *b, float *c, int ldc,
                 int h, int w, float alpha, float beta) {
    int mr = kn->mr, nr = kn->nr;
    if (h == mr && w == nr) {
        kn->fn(kc, a, b, c, (size_t)ldc, alpha, beta);
        return;
    }
    /* Edge tile: run the same kernel on a copy, so a row's numbers do not depend on whether
     * it sits in a full tile or an edge one. */
    float edge[MAX_MR * MAX_NR];
    memset(edge, 0, sizeof edge);
    if (beta != 0.0f)
        for (int r = 0; r < h; r++)
            memcpy(edge + r * nr, c + (size_t)r * ldc, (size_t)w * sizeof(float));
    kn->fn(kc, a, b, edge, (size_t)nr, alpha, beta);
    for (int r = 0; r < h; r++)
        memcpy(c + (size_t)r * ldc, edge + r * nr, (size_t)w * sizeof(float));
}

/* C rows [i0, i1) × panels [p0, p1) of op(A)·B, on the calling thread. The rows go in
 * blocks of MC; each block of A is packed once per KC columns and swept across the panels.
 * When K spans several KC blocks and this thread's part of C is small (weight gradients:
 * K = T·B), the KC blocks go outermost, so each slice of B is read from memory once for
 * all row blocks instead of once per row block. Either way every element of C sums its
 * KC blocks in the same order. */
#define C_RESIDENT_BYTES (512 * 1024)
static void gemm_rows(const kernel *kn, int trans_a, int i0, int i1, int p0, int p1,
                      float alpha, const float *A, int lda, const mn_shifted_a *sa,
                      const mn_packed *Bp, float beta, float *C, int ldc) {
    int K = Bp->K, N = Bp->N, mr = kn->mr, nr = kn->nr, mc = MC_PANELS * mr;
    /* Without the scratch, blocks of one MR panel packed on the stack: slower, but every
     * element still sums the same KC blocks in the same order with the same kernel, so
     * the result has the same bits. */
    float one_panel[MAX_MR * KC] __attribute__((aligned(64)));
    float *Ap = my_a_scratch((size_t)mc * KC * sizeof(float));
    if (!Ap) {
        Ap = one_panel;
        mc = mr;
    }
    int kblocks = K > 0 ? (K + KC - 1) / KC : 1, mblocks = (i1 - i0 + mc - 1) / mc;
    size_t c_bytes = (size_t)(i1 - i0) * (size_t)(p1 - p0) * nr * sizeof(float);
    int k_outer = kblocks > 1 && c_bytes <= C_RESIDENT_BYTES;
    int n_outer = k_outer ? kblocks : mblocks, n_inner = k_outer ? mblocks : kblocks;
    for (int o = 0; o < n_outer; o++)
        for (int in = 0; in < n_inner; in++) {
            int kb = k_outer ? o : in, mb = k_outer ? in : o;
            int k0 = kb * KC, kc = MN_MIN(KC, K - k0);
            int r0 = i0 + mb * mc, rows = MN_MIN(mc, i1 - r0);
            /* up to 4 rows over whole panels: the thin kernel reads them in place, unpacked
             * (a recurrent step of a few sequences packed its h every step) */
            int direct = rows <= 4 && rows < mr && !trans_a && !sa && kn->thin && p1 * nr <= N;
            if (kc > 0 && sa) pack_a_shifted(kn, Ap, A, lda, sa, r0, rows, k0, kc);
            else if (kc > 0 && !direct) pack_a(kn, Ap, A, trans_a, lda, r0, rows, k0, kc);
            else if (kc <= 0) kc = 0;
            float b = kb == 0 ? beta : 1.0f;
            int full = rows - rows % mr, h = rows - full;
            const float *Bk = Bp->data + (size_t)k0 * nr;
            size_t bstride = (size_t)K * nr;   /* from one panel to the next */
            for (int jp = p0; jp < p1; jp++) {
                int j0 = jp * nr, w = MN_MIN(nr, N - j0);
                for (int ip = 0; ip < full; ip += mr)
                    tile(kn, kc, Ap + (size_t)ip * kc, Bk + jp * bstride,
                         C + (size_t)(r0 + ip) * ldc + j0, ldc, mr, w, alpha, b);
            }
            if (!h) continue;
            /* the last h < MR rows: thin tiles over whole panels where the kernel has them,
             * as many panels at once as its accumulators hold, then fewer */
            const float *Ah = direct ? A + (size_t)r0 * lda + k0 : Ap + (size_t)full * kc;
            float *Ch = C + (size_t)(r0 + full) * ldc;
            int jp = p0;
            if (kn->thin && h <= 4) {
                int whole = MN_MIN(p1, N / nr), vw = nr / 2, g = 0;
                int vectors = whole > p0 ? 2 * (whole - p0) : 0;
                for (; g < vectors; g += mn_gemm_thin_vectors(h)) {
                    int v = p0 * 2 + g;
                    kn->thin(h, v & 1, MN_MIN(mn_gemm_thin_vectors(h), vectors - g), kc, Ah,
                             direct ? 1 : mr, direct ? (size_t)lda : 1, Bk + (v >> 1) * bstride,
                             bstride, Ch + v * vw, (size_t)ldc, alpha, b);
                }
                jp += vectors / 2;
            }
            for (; jp < p1; jp++)
                tile(kn, kc, Ah, Bk + jp * bstride, Ch + jp * nr, ldc, h,
                     MN_MIN(nr, N - jp * nr), alpha, b);
        }
}

/* mn_sgemm_packed, with op(A) shifted (sa) or not (NULL) */
static void sgemm_packed(int trans_a, int M, float alpha, const float *A, int lda,
                         const mn_shifted_a *sa, const mn_packed *Bp, float beta, float *C,
                         int ldc) {
    int N = Bp->N;
    if (M <= 0 || N <= 0) return;
    const kernel *kn = kernel_for(Bp->nr);   /* the one it was packed for, even after a switch */
    int mr = kn->mr, nr = kn->nr;
    int threads = 1;
#ifdef _OPENMP
    double flops = 2.0 * M * N * (double)Bp->K;
    threads = flops < MN_GEMM_PARALLEL_FLOPS ? 1 : mn_gemm_threads();
#endif
    if (threads == 1) {
        gemm_rows(kn, trans_a, 0, M, 0, (N + nr - 1) / nr, alpha, A, lda, sa, Bp, beta, C, ldc);
        return;
    }
    /* Threads split the rows in whole blocks of MR when there are enough of them, and
     * otherwise split the panels too, so that every thread gets work. */
    int panels = (N + nr - 1) / nr, mtiles = (M + mr - 1) / mr;
    int rsplit = MN_MIN(threads, mtiles);
    int csplit = MN_MAX(1, MN_MIN(panels, threads / rsplit));
    int items = rsplit * csplit;
    #pragma omp parallel for schedule(static) num_threads(items) if (items > 1)
    for (int item = 0; item < items; item++) {
        int rs = item / csplit, cs = item % csplit;
        int i0 = (int)((long)mtiles * rs / rsplit) * mr;
        int i1 = MN_MIN(M, (int)((long)mtiles * (rs + 1) / rsplit) * mr);
        int p0 = (int)((long)panels * cs / csplit), p1 = (int)((long)panels * (cs + 1) / csplit);
        gemm_rows(kn, trans_a, i0, i1, p0, p1, alpha, A, lda, sa, Bp, beta, C, ldc);
    }
}

void mn_sgemm_packed(int trans_a, int M, float alpha, const float *A, int lda,
                     const mn_packed *Bp, float beta, float *C, int ldc) {
    sgemm_packed(trans_a, M, alpha, A, lda, NULL, Bp, beta, C, ldc);
}

void mn_sgemm_packed_serial(int trans_a, int M, float alpha, const float *A, int lda,
                            const mn_packed *Bp, float beta, float *C, int ldc) {
    if (M <= 0 || Bp->N <= 0) return;
    const kernel *kn = kernel_for(Bp->nr);
    gemm_rows(kn, trans_a, 0, M, 0, (Bp->N + kn->nr - 1) / kn->nr, alpha, A, lda, NULL, Bp,
              beta, C, ldc);
}

size_t mn_sgemm_serial_floats(int K, int N) {
    /* every kernel's NR divides MAX_NR, so MAX_NR-wide rounding covers all of them */
    size_t cols = (size_t)(N > 0 ? N : 0) + MAX_NR - 1;
    return cols / MAX_NR * MAX_NR * (size_t)(K > 0 ? K : 1);
}

int mn_gemm_threads(void) {
#ifdef _OPENMP
    return MN_MIN(omp_get_max_threads(), MN_GEMM_MAX_THREADS);
#else
    return 1;
#endif
}

mn_packed mn_packed_columns(const mn_packed *p, int c0, int n) {
    return (mn_packed){.K = p->K, .N = MN_MAX(0, MN_MIN(n, p->N - c0)), .nr = p->nr,
                       .data = p->nr ? p->data + (size_t)(c0 / p->nr) * p->K * p->nr : p->data,
                       .cap = 0};   /* an empty B (nr 0) gives an empty view */
}

mn_packed mn_packed_share(const mn_packed *p, int *col0) {
    int id = 0, n = 1;
#ifdef _OPENMP
    id = omp_get_thread_num();
    n = omp_get_num_threads();
#endif
    int panels = p->nr ? (p->N + p->nr - 1) / p->nr : 0;
    int p0 = panels * id / n, p1 = panels * (id + 1) / n;
    *col0 = p0 * p->nr;
    return mn_packed_columns(p, p0 * p->nr, (p1 - p0) * p->nr);
}

int mn_gemm_nr(void) { return pick()->nr; }

mn_packed mn_pack_b_serial(float *panels, int trans_b, int K, int N, const float *B, int ldb) {
    int nr = pick()->nr, np = N > 0 ? (N + nr - 1) / nr : 0;
    for (int jp = 0; jp < np; jp++) pack_panel(panels, nr, trans_b, K, N, jp, B, ldb);
    return (mn_packed){.K = K, .N = N, .nr = nr, .data = panels, .cap = 0};
}

int mn_gemm_mr(void) { return pick()->mr; }

mn_packed_a mn_pack_a_serial(float *dst, size_t stride, int trans_a, int M, int K,
                             const float *A, int lda) {
    const kernel *kn = pick();
    int mr = kn->mr;
    for (int ip = 0; ip < M; ip += mr)   /* one panel at a time: [K][MR] at its own stride */
        pack_a(kn, dst + (size_t)(ip / mr) * stride, A, trans_a, lda, ip, MN_MIN(mr, M - ip),
               0, K);
    return (mn_packed_a){.M = M, .K = K, .mr = mr, .data = dst, .stride = stride};
}

void mn_sgemm_prepacked_serial(const mn_packed_a *A, const mn_packed *B, float alpha,
                               float beta, float *C, int ldc, size_t cps) {
    int M = A->M, N = B->N, K = B->K;
    if (M <= 0 || N <= 0) return;
    const kernel *kn = kernel_for(B->nr);
    int mr = kn->mr, nr = kn->nr, panels = (N + nr - 1) / nr;
    /* KC blocks in order as in gemm_rows: beta on the first only, so each element gets the
     * same operations as from mn_sgemm */
    for (int k0 = 0; k0 < K || k0 == 0; k0 += KC) {
        int kc = MN_MIN(KC, K - k0);
        float b = k0 == 0 ? beta : 1.0f;
        for (int ip = 0; ip < M; ip += mr) {
            const float *a = A->data + (size_t)(ip / mr) * A->stride + (size_t)k0 * mr;
            for (int jp = 0; jp < panels; jp++)
                tile(kn, kc, a, B->data + (size_t)jp * K * nr + (size_t)k0 * nr,
                     C + (size_t)jp * cps + (size_t)ip * ldc, ldc, MN_MIN(mr, M - ip),
                     MN_MIN(nr, N - jp * nr), alpha, b);
        }
        if (K == 0) break;
    }
}

void mn_sgemm_serial(int trans_a, int trans_b, int M, int N, int K, float alpha,
                     const float *A, int lda, const float *B, int ldb, float beta, float *C,
                     int ldc, float *panels) {
    if (M <= 0 || N <= 0) return;
    if (M < 4 && (size_t)N * K < 4096) {   /* as mn_sgemm: packing would cost more */
        mn_sgemm_ref(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    mn_packed p = mn_pack_b_serial(panels, trans_b, K, N, B, ldb);
    mn_sgemm_packed_serial(trans_a, M, alpha, A, lda, &p, beta, C, ldc);
}

void mn_sgemm(int trans_a, int trans_b, int M, int N, int K, float alpha,
              const float *A, int lda, const float *B, int ldb, float beta,
              float *C, int ldc) {
    if (M <= 0 || N <= 0) return;
    /* Packing costs K·N copies against M·N·K multiply-adds: for a handful of rows the
     * reference loop is cheaper. */
    if (M < 4 && (size_t)N * K < 4096) {
        mn_sgemm_ref(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    /* No memory for the packed copy of op(B): the reference loop needs none. */
    if (pack_b(&b_scratch, trans_b, K, N, B, ldb, 0) != MN_OK) {
        mn_sgemm_ref(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    mn_sgemm_packed(trans_a, M, alpha, A, lda, &b_scratch, beta, C, ldc);
}

void mn_sgemm_shifted(int M, int N, float alpha, const float *A, int lda,
                      const mn_shifted_a *sa, int trans_b, const float *B, int ldb, float beta,
                      float *C, int ldc) {
    int K = sa->segs * sa->width;
    if (M <= 0 || N <= 0) return;
    if (pack_b(&b_scratch, trans_b, K, N, B, ldb, 0) != MN_OK) {
        mn_sgemm_shifted_ref(M, N, alpha, A, lda, sa, trans_b, B, ldb, beta, C, ldc);
        return;
    }
    sgemm_packed(0, M, alpha, A, lda, sa, &b_scratch, beta, C, ldc);
}
