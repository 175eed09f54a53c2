/* Causal dilated 1-D convolution (conv.c), the building block of the TCN (tcn.c):
 *   y[t] = b + Σ_{j<k} W[:, :, j] · x[t − (k−1−j)·d],  x[s] = 0 for s < 0
 * i.e. PyTorch's nn.Conv1d(in, out, k, dilation=d, padding=(k−1)·d) with the last (k−1)·d
 * output steps dropped (the TCN paper's "chomp"). Weight [out, in, k] and bias [out] as
 * PyTorch names and lays them out. */
#ifndef MN_CONV_H
#define MN_CONV_H

#include "registry.h"

#define MN_CONV_DEFAULT_KERNEL 2
#define MN_CONV_DEFAULT_DILATION 1

/* The convolution itself, for the layers built on it (the conv kind, the TCN block): its
 * parameters are weight [out, in, k] then bias [out], contiguous, at `p` (gradients at `g`)
 * given by the owner at each call; the core keeps only its workspaces and what backward
 * needs. Zero-initialized, then mn_conv_core_set; mn_conv_core_free releases the buffers. */
typedef struct {
    int in, out, K, dil;
    void *ws, *gws;            /* repacked taps (forward's wk [k·in, out], dx's wt
                                  [k·out, in]) and the k row shifts; backward's gwt
                                  [k, out, in] */
    size_t ws_bytes, gws_bytes;
    const float *x;            /* input of the last forward (owned by the caller) */
    size_t rows;
    void *ring;                /* streaming: the last (k−1)·d + 1 inputs [R, B, in], then
                                  a step's taps gathered [B, k·in] */
    size_t ring_bytes;
    int ring_B, pos;
} mn_conv_core;

/* MN_E_ARG (with a message) for sizes out of range: channels 1 to 65536, kernel 1 to 4096,
 * dilation at least 1, (k−1)·d at most 2^30. */
mn_status mn_conv_core_set(mn_conv_core *c, int in, int out, int kernel, int dilation);
void mn_conv_core_free(mn_conv_core *c);
size_t mn_conv_core_params(const mn_conv_core *c);   /* out·in·k + out */
size_t mn_conv_core_bytes(const mn_conv_core *c);    /* workspaces held */
/* nn.Conv1d's init: U(±1/√(in·k)) for weight and bias */
void mn_conv_core_init(const mn_conv_core *c, float *p, mn_rng *rng);
/* y[T,B,out] from x[T,B,in], y overwritten; without add_bias the bias is left for the
 * caller to add (the TCN adds it in its ReLU's pass). Backward adds dW, db into g and, when
 * dx is not NULL, dx^T·W into dx (dx_add = 1) or writes it there (dx_add = 0). */
mn_status mn_conv_core_forward(mn_conv_core *c, const float *p, const float *x, float *y, int T,
                               int B, int add_bias);
mn_status mn_conv_core_backward(mn_conv_core *c, const float *p, float *g, const float *dy,
                                float *dx, int T, int B, int dx_add);
/* Streaming inference, one step at a time: y_t[B,out] from x_t[B,in], keeping the last
 * (k−1)·d + 1 inputs in a ring. The first step after a reset (or after a step with another
 * B) sees zeros before it, as step 0 of a forward does, so T steps give the forward's T
 * outputs. Reads the parameters as they are at each step. */
mn_status mn_conv_core_step(mn_conv_core *c, const float *p, const float *x_t, float *y_t, int B);
void mn_conv_core_reset(mn_conv_core *c);

/* The conv kind's layer: parameters "weight", "bias". NULL with the error set on failure. */
mn_layer *mn_conv_create(int in, int out, int kernel, int dilation);
/* Streaming through a conv layer (mn_conv_core_step's contract). */
mn_status mn_conv_step(mn_layer *l, const float *x_t, float *y_t, int B);
void mn_conv_stream_reset(mn_layer *l);

/* A block's kernel and dilation with 0 resolved to the defaults. */
int mn_conv_kernel_of(const mn_block_config *b);
int mn_conv_dilation_of(const mn_block_config *b);

/* The allocations and products of one pass, for the memory estimate (as conv.c runs them). */
void mn_conv_plan(int in, int out, int kernel, int dilation, size_t T, size_t B,
                  mn_memory_plan *p);

#endif
