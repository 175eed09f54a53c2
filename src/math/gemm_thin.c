/* The thin GEMM tiles: the 1-4 rows of C that a kernel's full MR-row tiles leave over, and
 * so the whole recurrent product of a step of one to four sequences. gemm.c calls them
 * through its kernel table (see thin_fn there for the arguments). */
#include "gemm_thin.h"

int mn_gemm_thin_vectors(int h) { return h == 1 ? 8 : 12 / h; }

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

/* Thin tiles: one sequence (B = 1) or the rows left over from the full tiles. H rows ×
 * NV vectors of accumulators, up to 12 (8 for one row, whose loads of B bound it anyway):
 * FMA's latency needs 8 independent chains to keep both pipes busy, and 12 leave room to
 * hide a late load. A full tile padded with zero rows would do up to MR× the work. Vectors
 * are counted across panels (a tile may start in a panel's second half) so that 4 rows get
 * 3 vectors, not one panel's 2. Each element is still one chain of FMAs over k in order,
 * from zero, then alpha and beta as in the full kernel: the same bits as the full tile.
 * VT/X are the intrinsics' vector type and width (512 or 256), W the floats per vector. */
#define THIN_BODY(VT, X, W, H, NV)                                                        \
    {                                                                                     \
        VT c[H][NV];                                                                      \
        const float *bp[NV];                                                              \
        for (int v = 0; v < NV; v++)                                                      \
            bp[v] = B + (size_t)((v0 + v) >> 1) * bstride + ((v0 + v) & 1) * W;           \
        for (int r = 0; r < H; r++)                                                       \
            for (int v = 0; v < NV; v++) c[r][v] = _mm##X##_setzero_ps();                 \
        for (int k = 0; k < kc; k++) {                                                    \
            VT b[NV];                                                                     \
            _Pragma("GCC unroll 8") for (int v = 0; v < NV; v++)                          \
                b[v] = _mm##X##_loadu_ps(bp[v] + (size_t)k * 2 * W);                      \
            _Pragma("GCC unroll 4") for (int r = 0; r < H; r++) {                         \
                VT a = _mm##X##_set1_ps(A[(size_t)k * ks + (size_t)r * rs]);               \
                _Pragma("GCC unroll 8") for (int v = 0; v < NV; v++)                      \
                    c[r][v] = _mm##X##_fmadd_ps(a, b[v], c[r][v]);                        \
            }                                                                             \
        }                                                                                 \
        VT va = _mm##X##_set1_ps(alpha), vb = _mm##X##_set1_ps(beta);                     \
        for (int r = 0; r < H; r++)                                                       \
            for (int v = 0; v < NV; v++) {                                                \
                float *cr = C + (size_t)r * ldc + v * W;                                  \
                VT o = _mm##X##_mul_ps(va, c[r][v]);                                      \
                if (beta != 0.0f) o = _mm##X##_fmadd_ps(vb, _mm##X##_loadu_ps(cr), o);    \
                _mm##X##_storeu_ps(cr, o);                                                \
            }                                                                             \
    }

/* Every (rows, vectors) pair a thin tile takes, nv <= mn_gemm_thin_vectors(h). */
#define THIN_TILES(VT, X, W)                                                              \
    switch (h * 16 + nv) {                                                                \
    case 16 + 8: THIN_BODY(VT, X, W, 1, 8) break;                                         \
    case 16 + 7: THIN_BODY(VT, X, W, 1, 7) break;                                         \
    case 16 + 6: THIN_BODY(VT, X, W, 1, 6) break;                                         \
    case 16 + 5: THIN_BODY(VT, X, W, 1, 5) break;                                         \
    case 16 + 4: THIN_BODY(VT, X, W, 1, 4) break;                                         \
    case 16 + 3: THIN_BODY(VT, X, W, 1, 3) break;                                         \
    case 16 + 2: THIN_BODY(VT, X, W, 1, 2) break;                                         \
    case 16 + 1: THIN_BODY(VT, X, W, 1, 1) break;                                         \
    case 32 + 6: THIN_BODY(VT, X, W, 2, 6) break;                                         \
    case 32 + 5: THIN_BODY(VT, X, W, 2, 5) break;                                         \
    case 32 + 4: THIN_BODY(VT, X, W, 2, 4) break;                                         \
    case 32 + 3: THIN_BODY(VT, X, W, 2, 3) break;                                         \
    case 32 + 2: THIN_BODY(VT, X, W, 2, 2) break;                                         \
    case 32 + 1: THIN_BODY(VT, X, W, 2, 1) break;                                         \
    case 48 + 4: THIN_BODY(VT, X, W, 3, 4) break;                                         \
    case 48 + 3: THIN_BODY(VT, X, W, 3, 3) break;                                         \
    case 48 + 2: THIN_BODY(VT, X, W, 3, 2) break;                                         \
    case 48 + 1: THIN_BODY(VT, X, W, 3, 1) break;                                         \
    case 64 + 3: THIN_BODY(VT, X, W, 4, 3) break;                                         \
    case 64 + 2: THIN_BODY(VT, X, W, 4, 2) break;                                         \
    default: THIN_BODY(VT, X, W, 4, 1) break;                                             \
    }

__attribute__((target("avx512f,fma"))) void mn_gemm_thin_avx512(
    int h, int v0, int nv, int kc, const float *A, int ks, size_t rs, const float *B,
    size_t bstride, float *C, size_t ldc, float alpha, float beta) {
    THIN_TILES(__m512, 512, 16)
}

/* The same for AVX2's 16-column panels: at most 12 accumulators of the 16 ymm registers. */
__attribute__((target("avx2,fma"))) void mn_gemm_thin_avx2(
    int h, int v0, int nv, int kc, const float *A, int ks, size_t rs, const float *B,
    size_t bstride, float *C, size_t ldc, float alpha, float beta) {
    THIN_TILES(__m256, 256, 8)
}
#endif
