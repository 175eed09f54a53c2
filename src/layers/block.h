/* A block: any layer wrapped in a residual connection, a normalization and dropout. */
#ifndef MN_BLOCK_H
#define MN_BLOCK_H

#include "layer.h"

typedef enum { MN_BLOCK_NORM_NONE, MN_BLOCK_NORM_PRE, MN_BLOCK_NORM_POST } mn_block_norm_place;
typedef enum { MN_BLOCK_LAYERNORM, MN_BLOCK_RMSNORM } mn_block_norm_kind;

typedef struct {
    int residual;                  /* y = x + ...: needs the inner layer's out == in */
    mn_block_norm_place norm;
    mn_block_norm_kind norm_kind;
    float dropout;                 /* on the inner layer's output; 0 for none, < 1 */
    float eps;                     /* the norm's (PyTorch's LayerNorm default: 1e-5) */
} mn_block_wrap;

/* pre-norm:  y = [x +] drop(f(N(x)))     N over the inner layer's input width
 * post-norm: y = N([x +] drop(f(x)))     N over its output width
 * none:      y = [x +] drop(f(x))
 * Params: the inner layer's specs (same names and offsets), then the norm's as
 * "norm.weight", "norm.bias". Takes ownership of inner (freed on failure too); NULL and
 * the error set on failure. */
mn_layer *mn_block_create(mn_layer *inner, const mn_block_wrap *w);
/* The layer a block wrapper holds, or l itself when l is no wrapper. */
mn_layer *mn_block_inner(mn_layer *l);
/* The wrapper's own workspace over `rows` rows, allocated when forward (backward = 0) or
 * backward (1) starts, for the memory estimate; the norm's and the inner layer's are
 * theirs. in, out: the inner layer's widths. */
void mn_block_plan(const mn_block_wrap *w, int in, int out, size_t rows, int backward,
                   mn_memory_plan *p);

#endif
