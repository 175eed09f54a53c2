/* The TCN residual block (tcn.c; Bai, Kolter & Koltun 2018, "An Empirical Evaluation of
 * Generic Convolutional and Recurrent Networks for Sequence Modeling"):
 *   h = drop(ReLU(conv2(drop(ReLU(conv1(x)))))),  y = ReLU(h + (downsample(x) or x))
 * conv1, conv2 causal, dilated by d, k taps each (conv.h); downsample a 1×1 convolution,
 * present when the input width differs from the block's. */
#ifndef MN_TCN_H
#define MN_TCN_H

#include "registry.h"

/* A block of `width` channels over `in` inputs; parameters conv1.weight [width, in, k],
 * conv1.bias, conv2.weight [width, width, k], conv2.bias, and with in != width
 * downsample.weight [width, in, 1], downsample.bias: the names of a PyTorch TemporalBlock.
 * With weight_norm, conv1 and conv2 hold weight_v (the weight's shape) and weight_g
 * [width, 1, 1] instead of weight, as torch.nn.utils.weight_norm names them (locuslab/TCN's
 * TemporalBlock). dropout in [0, 1): in training (set_mode), each ReLU's output is dropped
 * with that probability (TemporalBlock's dropout1, dropout2); 0 for none. NULL with the
 * error set on failure. */
mn_layer *mn_tcn_create(int in, int width, int kernel, int dilation, int weight_norm,
                        float dropout);

/* The receptive field of `blocks` TCN blocks of kernel k with dilations 1, 2, 4, ...,
 * 2^(blocks−1): 1 + 2(k−1)(2^blocks − 1) steps (each block reaches 2(k−1)d steps back, two
 * convolutions of (k−1)d). INT64_MAX when it does not fit; 1 for 0 blocks or k = 1. */
int64_t mn_tcn_receptive_field(int kernel, int blocks);

/* Streaming inference: y_t[B,width] from x_t[B,in], one step at a time (mn_conv_step's
 * contract: after a reset, T steps give the forward's T outputs). */
mn_status mn_tcn_step(mn_layer *l, const float *x_t, float *y_t, int B);
void mn_tcn_stream_reset(mn_layer *l);

#endif
