/* Single-precision matrix multiply, row-major:
 *   C[M,N] = alpha * op(A)[M,K] · op(B)[K,N] + beta * C
 * op(A) = A (trans_a = 0, A is [M,K], lda >= K) or Aᵀ (trans_a = 1, A is [K,M], lda >= M);
 * likewise for B. beta = 0 overwrites C without reading it (NaNs in C do not leak).
 *
 * The optimized path packs op(B) into panels of NR columns and op(A) into panels of MR rows
 * and runs a register-blocked micro-kernel chosen once from the CPU (AVX-512, AVX2, or a
 * portable one). A recurrent layer multiplies by the same W_hh at every step, so it packs
 * W_hh once per sequence (mn_pack_b) and calls mn_sgemm_packed inside its time loop. */
#ifndef MN_GEMM_H
#define MN_GEMM_H

#include "core.h"

typedef struct {
    int K, N;          /* op(B) is [K,N] */
    int nr;            /* panel width of the kernel it was packed for */
    float *data;       /* [ceil(N/nr)] panels of [K][nr], zero-padded */
    size_t cap;        /* bytes held */
} mn_packed;

/* MN_E_NOMEM (with the message) when the panels cannot be allocated; *p is then empty
 * (N = 0), never the previous panels, and the caller must return the failure: a product
 * with an empty panel computes nothing. */
mn_status mn_pack_b(mn_packed *p, int trans_b, int K, int N, const float *B, int ldb);
void mn_packed_free(mn_packed *p);
/* Runs the kernel B was packed for, whichever is active now. Needs no memory of its own
 * to be correct: without its packing scratch it packs A one panel at a time on the stack
 * (same results, slower). */
void mn_sgemm_packed(int trans_a, int M, float alpha, const float *A, int lda,
                     const mn_packed *B, float beta, float *C, int ldc);

/* The same product on the calling thread only: for callers that already split the work
 * among threads (a recurrent layer gives each thread its own batch rows). Row i of C is
 * computed with the same operations whichever way the rows are split. */
void mn_sgemm_packed_serial(int trans_a, int M, float alpha, const float *A, int lda,
                            const mn_packed *B, float beta, float *C, int ldc);

/* mn_sgemm on the calling thread only, for callers that run many small products inside
 * their own parallel region (the attention kernel's tiles): op(B) is packed into the
 * caller's `panels`, mn_sgemm_serial_floats(K, N) floats, so no shared scratch is touched
 * and nothing is allocated but the calling thread's own A scratch (see
 * mn_sgemm_packed_serial). Same results as mn_sgemm for every row. */
size_t mn_sgemm_serial_floats(int K, int N);
/* Packs op(B) [K,N] into `panels` (mn_sgemm_serial_floats(K, N) floats) for the active
 * kernel on the calling thread and returns the view for mn_sgemm_packed_serial (cap 0:
 * the memory stays the caller's; never pass it to mn_packed_free). Panels are NR columns
 * wide (mn_gemm_nr(), which divides 32), so the columns [p·NR, N) of a packed B are the
 * view {K, N − p·NR, NR, data + p·K·NR}. */
mn_packed mn_pack_b_serial(float *panels, int trans_b, int K, int N, const float *B, int ldb);
/* Inside a parallel region: the calling thread's share of a packed B, whole panels split
 * evenly over the region's threads, as a view (cap 0; N = 0 when it gets none) whose first
 * column is *col0. Products over the shares give each column the bits of the whole. */
mn_packed mn_packed_share(const mn_packed *p, int *col0);
/* The columns [c0, c0 + n) of a packed B as a view (cap 0), for a caller that splits the
 * columns itself; c0 must be a multiple of its panel width nr. */
mn_packed mn_packed_columns(const mn_packed *p, int c0, int n);
/* Threads a parallel product may use: OpenMP's maximum, capped at MN_GEMM_MAX_THREADS
 * (1 in a build without OpenMP). */
int mn_gemm_threads(void);
int mn_gemm_nr(void);
void mn_sgemm_serial(int trans_a, int trans_b, int M, int N, int K, float alpha,
                     const float *A, int lda, const float *B, int ldb, float beta, float *C,
                     int ldc, float *panels);

/* op(A) [M,K] packed for the kernel with MR = mr: panel p (rows p·MR ..) is [K][MR] at
 * data + p·stride (stride >= K·MR), zero past row M. The columns [k0, k0 + n) of a packed
 * A are the view {M, n, mr, data + k0·MR, stride}; rows from a panel boundary on, the
 * view {M − p·MR, K, mr, data + p·stride, stride}. */
typedef struct {
    int M, K, mr;
    const float *data;
    size_t stride;
} mn_packed_a;
int mn_gemm_mr(void);
/* Packs op(A) [M,K] at dst with panel stride `stride` for the active kernel, on the calling
 * thread (the columns [k0, k0 + K) of a wider packed A: pass dst + k0·MR, A at column k0). */
mn_packed_a mn_pack_a_serial(float *dst, size_t stride, int trans_a, int M, int K,
                             const float *A, int lda);
/* C (+)= alpha·A·B with both operands packed (for the same kernel, K from B), on the calling
 * thread, for products small enough that packing per call would dominate (attention's
 * tiles reuse each packed operand many times). Element (i, j) of C sits at
 *   C + (j / NR)·cps + i·ldc + j % NR:
 * cps = NR for a row-major C (ldc its row stride); ldc = NR and cps = M·NR write C in the
 * packed B layout, ready for the next product. Same bits as mn_sgemm for each element. */
void mn_sgemm_prepacked_serial(const mn_packed_a *A, const mn_packed *B, float alpha,
                               float beta, float *C, int ldc, size_t cps);

/* The most threads that may run GEMMs at once (each keeps its own packing scratch). */
#define MN_GEMM_MAX_THREADS 256

/* Products below this many flops run on one thread: forking costs more than it saves. */
#define MN_GEMM_PARALLEL_FLOPS 1e6

/* Cannot fail: when memory for its packing scratch is short it computes the product
 * without it (the reference loop when op(B) cannot be packed), leaving no message. */
void mn_sgemm(int trans_a, int trans_b, int M, int N, int K, float alpha,
              const float *A, int lda, const float *B, int ldb, float beta,
              float *C, int ldc);

/* op(A) [M, segs·width] read in place from a row-major A with row offsets: columns
 * [s·width, (s+1)·width) of row i are row i + shift[s] of A (its first `width` columns), or
 * zeros when that row is outside [0, rows). A causal convolution's taps over a time axis
 * (shift −s_j·B rows for tap j) as one product, without im2col's copy: each block of A is
 * gathered straight into the packed panels. */
typedef struct {
    int segs, width;
    int rows;              /* A's rows; the others read as zeros */
    const long *shift;     /* [segs] */
} mn_shifted_a;

/* C[M,N] = alpha·op(A)·op(B) + beta·C with op(A) as `sa` describes, K = segs·width; the
 * threads, packing and kernels of mn_sgemm, so the same memory (its shared B scratch for
 * [K, N]). Cannot fail (the reference loop when op(B) cannot be packed). */
void mn_sgemm_shifted(int M, int N, float alpha, const float *A, int lda,
                      const mn_shifted_a *sa, int trans_b, const float *B, int ldb, float beta,
                      float *C, int ldc);
/* The plain loop it is tested against. */
void mn_sgemm_shifted_ref(int M, int N, float alpha, const float *A, int lda,
                          const mn_shifted_a *sa, int trans_b, const float *B, int ldb,
                          float beta, float *C, int ldc);

/* Frees the process-wide packing scratch (the next products allocate it again): for tests
 * of the paths without it, and for a caller that wants the memory back. */
void mn_gemm_release_scratch(void);

/* The plain triple loop every optimized path is tested against. */
void mn_sgemm_ref(int trans_a, int trans_b, int M, int N, int K, float alpha,
                  const float *A, int lda, const float *B, int ldb, float beta,
                  float *C, int ldc);

/* Kernel selection: "avx512", "avx2" or "portable" (mn_cpu_kernel in mnemo.h says which
 * runs); tests force each one in turn. mn_gemm_use returns MN_E_ARG when the CPU cannot
 * run the named kernel; NULL restores the automatic choice. Buffers packed before a
 * switch keep being multiplied by the kernel they were packed for. */
mn_status mn_gemm_use(const char *name);

#endif
