/* Parameter initializers and small shared numeric passes. */
#ifndef MN_INIT_H
#define MN_INIT_H

#include "core.h"

void mn_init_uniform(float *w, size_t n, float bound, mn_rng *rng);  /* U(-bound, bound) */
/* rows×cols block with orthonormal rows (or columns when cols < rows), times gain:
 * Gram-Schmidt on a Gaussian matrix, in double. Always MN_OK: without memory for the
 * double copy it works in place in w (same Gaussians, float rounding), so a layer's init
 * never leaves a block uniform where orthogonal was asked for. */
mn_status mn_init_orthogonal(float *w, int rows, int cols, float gain, mn_rng *rng);
void mn_init_identity(float *w, int n, float gain);                 /* n×n gain·I */

/* out[c] += Σ_r x[r, c] for x [rows, cols]; summed in row order for every thread count. */
void mn_column_sums(const float *x, size_t rows, int cols, float *out);

/* y[N,out] = b + x[N,in]·Wᵀ, W [out,in] (nn.Linear's layout); N at most INT_MAX. */
void mn_affine(const float *x, const float *W, const float *b, float *y, size_t N, int in,
               int out);

#endif
