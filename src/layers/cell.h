/* The per-step arithmetic of each recurrent cell, fused into one pass over a row.
 * The driver (recurrent.c) does the GEMMs and the time loop; a cell only sees one time
 * step of one sequence b. Gate blocks follow PyTorch: RNN [h], LSTM [i,f,g,o], GRU [r,z,n]; the gated residual
 * cell (no PyTorch counterpart) stacks [α,f]. */
#ifndef MN_CELL_H
#define MN_CELL_H

#include "core.h"

typedef struct {
    int H;
    /* forward inputs */
    const float *rec;      /* [B,G·H] h_{t-1}·W_hhᵀ (no bias) */
    const float *b_ih, *b_hh;            /* [G·H] */
    const float *h_prev, *c_prev;        /* [B,H] */
    /* act: on entry to forward x_t·W_ihᵀ (no bias); on exit the activated gates, which
     * backward reads. Updating in place keeps one pointer, so the loops vectorize. */
    float *act;            /* [B,G·H] */
    float *aux;            /* [B,H] GRU: W_hn·h_{t-1} + b_hn; unused otherwise */
    float *h, *c;          /* [B,H] new state */
    /* backward */
    float *dh;             /* [B,H] in: ∂L/∂h_t; out: the part of ∂L/∂h_{t-1} that does
                              not go through W_hh */
    float *dc;             /* [B,H] LSTM: in ∂L/∂c_t, out ∂L/∂c_{t-1} */
    float *dg;             /* [B,G·H] out: ∂L/∂ input-side pre-activations */
    float *dgh;            /* [B,G·H] out: ∂L/∂ recurrent-side pre-activations (== dg
                              except for GRU's n gate) */
} mn_cell_step;

typedef struct {
    const char *name;
    int gates;             /* G */
    int has_cell;          /* keeps a c state (LSTM) */
    int split_recurrent;   /* dgh differs from dg, so it needs its own buffer (GRU) */
    /* units [j0, j1) of row b: a step split among threads by units gives each its own */
    void (*forward)(const mn_cell_step *s, int b, int j0, int j1);
    void (*backward)(const mn_cell_step *s, int b);
    /* What diagnostics read from the activated gates (indices of gate blocks): */
    int keep_gate;         /* the gate that keeps the old state (LSTM f, GRU z, gated α),
                              or -1 */
    int tanh_gate;         /* the block holding tanh values (RNN h, LSTM g, GRU n, gated f),
                              or -1 */
    unsigned sigmoid_gates;/* bit g set: block g holds sigmoid values */
    int candidate_block;   /* block of W_hh that feeds the new content (RNN 0, LSTM g, GRU n,
                              gated f) */
    /* ‖∂L/∂c_t‖ of row b including the path through h_t (read before backward updates
     * dh and dc); NULL for cells without c. */
    double (*dc_norm)(const mn_cell_step *s, int b);
} mn_cell_kernel;

const mn_cell_kernel *mn_cell_kernel_for(mn_cell_kind kind);

/* cell_avx2.c: the LSTM and GRU forward (the kernels' `forward`, same arguments) in AVX2
 * and FMA. Each returns 0 when it ran, and 1, doing nothing, where the CPU or the build
 * lacks them or the plain loops are forced; the caller then runs cell.c's loop, which is
 * also the reference the tests compare these against. */
int mn_lstm_forward_avx2(const mn_cell_step *s, int b, int j0, int j1);
int mn_gru_forward_avx2(const mn_cell_step *s, int b, int j0, int j1);
/* Tests: 1 runs cell.c's plain loops even where AVX2 and FMA are there; 0 undoes. */
void mn_cell_use_portable(int on);

#endif
