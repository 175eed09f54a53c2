/* Multi-head scaled dot-product attention (Vaswani et al. 2017):
 *   O = softmax(Q·Kᵀ/√dh + mask)·V   for each of B sequences and H heads of width dh,
 * tiled with an online softmax (FlashAttention, Dao et al. 2022) so that no T×T matrix is
 * ever held: forward keeps O and the per-row log-sum-exp L; backward recomputes the
 * scores tile by tile from Q, K and L (FlashAttention-2's backward).
 *
 * Layout: element (t, b, head h, d) of Q, K, V, dQ, dK, dV sits at X[(t·B + b)·ld + h·dh + d];
 * of O and dO at X[(t·B + b)·ldo + h·dh + d]; so Q, K, V may be column blocks of one
 * qkv[T,B,3D] buffer (ld = 3D) and O a [T,B,D] one (ldo = D). L and the backward's row
 * sums are [B,H,T]. With cross-attention (dims' Tk > 0) K and V (and dK, dV) have Tk
 * steps and their own stride ldk, e.g. column blocks of a kv[Tk,B,2D] buffer.
 *
 * Masks: causal (query t sees keys <= t) or not; key padding from lengths[b] (keys at
 * t >= len_b never take part, not even as 0·NaN). Query rows t >= len_b are padding too:
 * their O rows are 0 and L is 0, and backward ignores their dO. Every real query sees key 0,
 * so no real row is ever fully masked.
 *
 * NaN and Inf propagate as in PyTorch to the outputs that attend to them (a NaN in key or
 * value k reaches every query row that sees k); masked keys never contribute, unlike
 * PyTorch 1.13's bmm where 0·NaN reaches masked rows too.
 *
 * Threads: forward splits (b, head, query tile); backward (b, head), or with fewer of
 * those than threads, two passes (key tiles for dK, dV; query tiles for dQ) that give the
 * same bits. Every result is identical for any thread count. */
#ifndef MN_ATTENTION_H
#define MN_ATTENTION_H

#include "core.h"
#include "layer.h"

/* Query and key tile sizes: multiples of 96, the least multiple of every GEMM kernel's MR
 * (4, 6, 8) and NR (8, 16, 32). Key tiles of 192 halve the online rescaling per query
 * tile; measured on AVX2 against 96×96, 192×96 and 192×192. */
#define MN_ATTN_BQ 96
#define MN_ATTN_BK 192

typedef struct {
    int T, B, H, dh;          /* T: queries */
    int causal;               /* only with keys at the queries' positions (Tk 0 or T) */
    const int32_t *lengths;   /* [B], each in [1, T]; NULL: all T */
    /* Cross-attention (queries from one sequence, keys and values from another, the
     * "memory"): Tk keys per sequence, the real ones counted by key_lengths [B] (each in
     * [1, Tk]; NULL: all Tk), rows of K, V, dK, dV ldk apart. 0 / NULL / 0, the default,
     * means self-attention: Tk = T, keys masked by lengths, ldk = ld. */
    int Tk;
    const int32_t *key_lengths;
    int ldk;
} mn_attention_dims;

/* Floats of scratch forward (backward = 0) or backward needs with mn_threads() threads
 * and the active GEMM kernel: O(T·D) packed operands plus O(tile²) per thread. */
size_t mn_attention_scratch_floats(const mn_attention_dims *a, int backward);

/* o [.,ldo] and lse [B,H,T] written (padded query rows: 0). */
void mn_attention_forward(const mn_attention_dims *a, const float *q, const float *k,
                          const float *v, int ld, float *o, int ldo, float *lse,
                          float *scratch);
/* After forward with the same inputs: dq, dk, dv accumulated (+=); delta [B,H,T] is
 * written (rowsum(dO∘O)). */
void mn_attention_backward(const mn_attention_dims *a, const float *q, const float *k,
                           const float *v, int ld, const float *o, const float *dout, int ldo,
                           const float *lse, float *dq, float *dk, float *dv, float *delta,
                           float *scratch);

/* The plain kernels the tiled ones are tested against (attention_ref.c): each (b, head)
 * materializes its T×Tk scores (double sums, libm exp). Same masks, padding rules and
 * strides; lse may be NULL. MN_E_NOMEM when the T×Tk buffer cannot be had. */
mn_status mn_attention_forward_ref(const mn_attention_dims *a, const float *q, const float *k,
                                   const float *v, int ld, float *o, int ldo, float *lse);
mn_status mn_attention_backward_ref(const mn_attention_dims *a, const float *q,
                                    const float *k, const float *v, int ld, const float *dout,
                                    int ldo, float *dq, float *dk, float *dv);

/* ------------------------------------------------------------ the layer (src/layers)
 * Multi-head self-attention with nn.MultiheadAttention's parameters:
 *   self_attn.in_proj_weight [3D,D] (rows q, k, v), self_attn.in_proj_bias [3D],
 *   self_attn.out_proj.weight [D,D], self_attn.out_proj.bias [D].
 * x[T,B,D] -> qkv = x·W_inᵀ + b_in -> (RoPE on q, k) -> attention -> y = O·W_outᵀ + b_out.
 * Padded rows (t >= len_b) of y are 0, as a recurrent layer's. heads must divide dim; rope
 * needs an even head width. NULL with the error set otherwise. */
mn_layer *mn_attention_create(int dim, int heads, int causal, int rope);
/* nn.MultiheadAttention._reset_parameters for width D: xavier_uniform_ on W_in [3D,D], zero
 * biases; W_out keeps nn.Linear's U(±1/√D). Self- and cross-attention both start so. */
void mn_attention_init_params(float *w_in, float *b_in, float *w_out, float *b_out, size_t D,
                              mn_rng *rng);

/* Multi-head cross-attention with nn.MultiheadAttention's parameters under
 * torch.nn.TransformerDecoderLayer's names: multihead_attn.in_proj_weight [3D,D] (rows q, k,
 * v), multihead_attn.in_proj_bias [3D], multihead_attn.out_proj.weight [D,D] and .bias [D].
 * Queries from its input x[T,B,D], keys and values from the memory [S,B,D] given by the
 * set_memory op before each forward (without one: from x itself). See cross_attention.c. */
mn_layer *mn_cross_attention_create(int dim, int heads);

/* Streaming generation with a key/value cache (causal layers only): step t (the number of
 * steps since the last reset) takes x_t [B,D] and writes y_t [B,D], equal to row t of the
 * full causal forward over the steps so far; costs O(t·D). RoPE rotates by t. The batch
 * must stay the same until a reset. */
mn_status mn_attention_step(mn_layer *l, const float *x_t, float *y_t, int B);
void mn_attention_cache_reset(mn_layer *l);

#endif
