/* Layer-normalized LSTM and GRU (Ba, Kiros & Hinton 2016, "Layer Normalization", §3.1 and
 * the appendix), as a recurrent layer over whole sequences. LN(v; γ, β) normalizes one
 * row's whole vector v (all gate blocks together): (v − mean v)/√(var v + 1e-5)·γ + β,
 * var biased, as nn.LayerNorm.
 *
 * LN-LSTM, gate blocks [i, f, g, o] as nn.LSTM:
 *   p = LN(W_ih·x; γ_ih, β_ih) + LN(W_hh·h_prev; γ_hh, β_hh) + b            [4H]
 *   c = σ(p_f)⊙c_prev + σ(p_i)⊙tanh(p_g);   h = σ(p_o)⊙tanh(LN(c; γ_c, β_c))
 * LN-GRU, gate blocks [r, z, n] as nn.GRU, with the reset gate applied after the product
 * as PyTorch does (β_hh's n block plays nn.GRU's b_hn):
 *   X = LN(W_ih·x; γ_ih, β_ih), R = LN(W_hh·h_prev; γ_hh, β_hh)              [3H]
 *   r = σ(X_r + R_r + b_r), z = σ(X_z + R_z + b_z), n = tanh(X_n + b_n + r⊙R_n)
 *   h = (1 − z)⊙n + z⊙h_prev
 *
 * Parameters, for suffix "_l0": weight_ih_l0 [G·H, I], weight_hh_l0 [G·H, H], bias_l0
 * [G·H], then the LayerNorm affines as if submodules named ln_ih_l0, ln_hh_l0, ln_c_l0:
 * ln_ih_l0.weight, ln_ih_l0.bias, ln_hh_l0.weight, ln_hh_l0.bias [G·H]; LSTM also
 * ln_c_l0.weight, ln_c_l0.bias [H]. That is, the suffix goes on the base name, before
 * ".weight" / ".bias".
 *
 * Padding (t >= lengths[b]) as in recurrent.c: state carried unchanged, output 0. */
#ifndef MN_LNCELL_H
#define MN_LNCELL_H

#include "layer.h"

#define MN_LN_EPS 1e-5

/* cell: MN_LSTM or MN_GRU. NULL with the error set for any other cell. */
mn_layer *mn_lncell_create(mn_cell_kind cell, int in, int hidden, const char *suffix);

#endif
