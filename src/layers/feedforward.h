/* The position-wise feed-forward network of a Transformer layer. */
#ifndef MN_FEEDFORWARD_H
#define MN_FEEDFORWARD_H

#include "layer.h"

enum { MN_ACT_RELU, MN_ACT_GELU };   /* GELU: the exact erf form (approximate='none') */

/* y = linear2(act(linear1(x))): x[T,B,dim] -> [T,B,ff] -> y[T,B,dim]. Params, with
 * PyTorch's TransformerEncoderLayer names: linear1.weight [ff,dim], linear1.bias [ff],
 * linear2.weight [dim,ff], linear2.bias [dim]; init as nn.Linear (U(±1/√fan_in)). */
mn_layer *mn_feedforward_create(int dim, int ff, int activation);

#endif
