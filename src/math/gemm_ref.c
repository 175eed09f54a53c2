/* The plain loops every optimized GEMM path is tested against (gemm.h): the triple loop of
 * mn_sgemm_ref, and mn_sgemm_shifted_ref for op(A) read from row-shifted views. They are
 * also what mn_sgemm and mn_sgemm_shifted fall back on when op(B) cannot be packed. */
#include "gemm.h"

#include <stddef.h>

static inline float at(const float *X, int trans, int ld, int row, int col) {
    return trans ? X[(size_t)col * ld + row] : X[(size_t)row * ld + col];
}

void mn_sgemm_shifted_ref(int M, int N, float alpha, const float *A, int lda,
                          const mn_shifted_a *sa, int trans_b, const float *B, int ldb,
                          float beta, float *C, int ldc) {
    int w = sa->width, K = sa->segs * w;
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            float s = 0.0f;
            for (int k = 0; k < K; k++) {
                long row = (long)i + sa->shift[k / w];
                float a = row >= 0 && row < sa->rows ? A[(size_t)row * lda + k % w] : 0.0f;
                s += a * at(B, trans_b, ldb, k, j);
            }
            float *c = C + (size_t)i * ldc + j;
            *c = beta == 0.0f ? alpha * s : beta * *c + alpha * s;
        }
}

void mn_sgemm_ref(int trans_a, int trans_b, int M, int N, int K, float alpha,
                  const float *A, int lda, const float *B, int ldb, float beta,
                  float *C, int ldc) {
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            float s = 0.0f;
            for (int k = 0; k < K; k++)
                s += at(A, trans_a, lda, i, k) * at(B, trans_b, ldb, k, j);
            float *c = C + (size_t)i * ldc + j;
            *c = beta == 0.0f ? alpha * s : beta * *c + alpha * s;
        }
}
