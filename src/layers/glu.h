/* The GLU and GELU kinds (glu.c): per-position pieces of a state-space block. */
#ifndef MN_GLU_H
#define MN_GLU_H

#include "layer.h"

/* Linear(d, 2d) then a·σ(b) (nn.GLU(dim=-1)): linear.weight [2d,d], linear.bias [2d]. */
mn_layer *mn_glu_create(int d);
/* GELU of every feature, exact erf form; no parameters. */
mn_layer *mn_gelu_create(int d);

#endif
