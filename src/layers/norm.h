/* Per-position normalizations over the last dimension of x[T,B,D]. */
#ifndef MN_NORM_H
#define MN_NORM_H

#include "layer.h"

/* torch.nn.LayerNorm(dim, eps): params weight [D] (init 1), bias [D] (init 0). */
mn_layer *mn_layernorm_create(int dim, float eps);
/* RMSNorm (Zhang & Sennrich 2019; torch.nn.RMSNorm in torch >= 2.4):
 * y = x / sqrt(mean(x²) + eps) · weight, param weight [D] (init 1). */
mn_layer *mn_rmsnorm_create(int dim, float eps);
/* Its allocations over `rows` rows, for the memory estimate (both kinds). */
void mn_norm_plan(size_t rows, mn_memory_plan *p);

#endif
