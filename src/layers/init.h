/* Parameter initializers and small shared numeric passes. */
#ifndef MN_INIT_H
#define MN_INIT_H

#include "core.h"

void mn_init_uniform(float *w, size_t n, float bound, mn_rng *rng);  /* U(-bound, bound) */
/* rows×cols block with orthonormal rows (or columns when cols < rows), times gain:
 * Gram-Schmidt on a Gaussian matrix, in double. */
mn_status mn_init_orthogonal(float *w, int rows, int cols, float gain, mn_rng *rng);
void mn_init_identity(float *w, int n, float gain);                 /* n×n gain·I */

/* out[c] += Σ_r x[r, c] for x [rows, cols]; summed in row order for every thread count. */
void mn_column_sums(const float *x, size_t rows, int cols, float *out);

#endif
