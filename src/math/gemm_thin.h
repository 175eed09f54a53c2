/* The thin GEMM tiles (gemm_thin.c): h < MR rows (h ≤ 4) over nv vectors of whole panels (a
 * panel is two vectors; nv ≤ mn_gemm_thin_vectors(h)), from vector v0 (0 or 1) of the panel
 * at B on, reading A[k·ks + r·rs]: the first h rows of a packed A panel (ks = MR, rs = 1),
 * or h rows of A in place (ks = 1, rs = lda); C points at the tile's first column and gets
 * alpha·A·B + beta·C, with the bits of the full kernel's tile. x86 only (AVX-512 and AVX2
 * with FMA); elsewhere gemm.c has no thin kernel. */
#ifndef MN_GEMM_THIN_H
#define MN_GEMM_THIN_H

#include <stddef.h>

/* the most vectors a thin tile of h rows takes */
int mn_gemm_thin_vectors(int h);
void mn_gemm_thin_avx512(int h, int v0, int nv, int kc, const float *A, int ks, size_t rs,
                         const float *B, size_t bstride, float *C, size_t ldc, float alpha,
                         float beta);
void mn_gemm_thin_avx2(int h, int v0, int nv, int kc, const float *A, int ks, size_t rs,
                       const float *B, size_t bstride, float *C, size_t ldc, float alpha,
                       float beta);

#endif
