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

/* Parameters named prefix + "weight", prefix + "bias" ("conv1." in a TCN block; "" alone).
 * NULL with the error set when a size is out of range. */
mn_layer *mn_conv_create(int in, int out, int kernel, int dilation, const char *prefix);

/* A block's kernel and dilation with 0 resolved to the defaults. */
int mn_conv_kernel_of(const mn_block_config *b);
int mn_conv_dilation_of(const mn_block_config *b);

/* The allocations and products of one pass, for the memory estimate (as conv.c runs them). */
void mn_conv_plan(int in, int out, int kernel, int dilation, size_t T, size_t B,
                  mn_memory_plan *p);

/* Streaming inference, one step at a time: y_t[B,out] from x_t[B,in], keeping the last
 * (k−1)·d + 1 inputs in a ring. The first step after a reset (or after a step with another
 * B) sees zeros before it, as step 0 of a forward does, so T steps give the forward's T
 * outputs. Reads the parameters as they are at each step. */
mn_status mn_conv_step(mn_layer *l, const float *x_t, float *y_t, int B);
void mn_conv_stream_reset(mn_layer *l);

#endif
