/* Inverted dropout on x[T,B,D]. */
#ifndef MN_DROPOUT_H
#define MN_DROPOUT_H

#include "layer.h"

/* 0 <= p < 1. In training (set_mode(l, 1, seed)) each element is kept with probability
 * 1 − p and scaled by 1/(1 − p), as torch.nn.Dropout; in inference (the default, before
 * any set_mode) it is the identity. The mask is a pure function of (seed, element index
 * in [T,B,D]), so it is the same on any thread count. forward may run in place (y == x). */
mn_layer *mn_dropout_create(int dim, float p);

/* 1 when element i is kept under (seed, p); what forward and backward use. */
int mn_dropout_keep(uint64_t seed, size_t i, float p);

/* x[i] ·= (kept ? 1/(1 − p) : 0) in place over n elements, with the masks of a dropout
 * layer in training mode on `seed` (element i of its input): for layers that drop inside
 * themselves (a TCN block). Backward multiplies the gradient by the same mask. */
void mn_dropout_mask(uint64_t seed, float p, float *x, size_t n);

#endif
