/* The recurrent layer's state, shared by its files: recurrent.c (workspace, time loops,
 * forward, backward, state, init) and recurrent_proj.c (the steps of an LSTM with a
 * projection). Internal to src/layers. */
#ifndef MN_RECURRENT_H
#define MN_RECURRENT_H

#include "cell.h"
#include "gemm.h"
#include "layer.h"
#include "split_choice.h"


typedef struct {
    mn_layer base;
    const mn_cell_kernel *cell;
    mn_cell_kind kind;
    int H, GH;       /* the cell's width (c and the gates), G·H */
    int P;           /* width of h: H, or the projection's (proj) */
    int proj;        /* 1: h = W_hr·(o⊙tanh c), an LSTM with proj_size P */
    int bias;        /* 0: no bias tensors; the cells then read zero_bias as both */
    size_t o_wih, o_whh, o_bih, o_bhh, o_whr;
    float *zero_bias;   /* [GH] zeros, only without biases */

    /* workspace, sized for cap_rows = T·B rows (an inference pass: one chunk's rows) */
    size_t cap_rows, cap_B;
    void *ws;
    size_t ws_bytes;
    float *act;      /* [T,B,GH] input projection, then activated gates (in place) */
    float *aux;      /* [T,B,H]  GRU's W_hn·h + b_hn */
    float *hs, *cs;  /* [T+1,B,P], [T+1,B,H] states; hs[0] is the initial state */
    float *ms;       /* [T,B,H] o⊙tanh(c), the projection's input (proj) */
    float *dg, *dgh; /* [T,B,GH] pre-activation gradients (dgh == dg except GRU) */
    float *rec;      /* [B,GH] recurrent product of one step */
    float *dh, *dc;  /* [B,P], [B,H] running gradients */
    float *dm;       /* [B,H] ∂L/∂m_t of one step (proj) */
    float *vjp_dg;   /* [2,GH] one row's gate gradients for step_vjp */
    void *gws;       /* backward's own: dg (and dgh), and with proj dhs */
    size_t gws_bytes;
    float *dhs;      /* [T,B,P] ∂L/∂h_t of every step, for dW_hr (proj) */
    const float *x;  /* input of the last forward (owned by the caller) */

    /* initial state for the next forward, [B,P] and [B,H], valid when carry is set */
    float *h0, *c0;
    size_t state_cap;
    int carry, state_B, last_T, last_B;
    /* the last forward ran for inference, in chunks: the states of its last chunk's
     * last_T steps are kept (the final one at hs[last_T]), nothing for backward */
    int chunked;

    mn_packed whh_t, whh;  /* W_hhᵀ for forward, W_hh for backward */
    mn_packed whr_t, whr;  /* W_hrᵀ, W_hr likewise (proj) */
    mn_packed wih_t;       /* W_ihᵀ for streaming steps, packed at a stream's step 0 */
    int stream_B;          /* the batch of the stream in progress; 0: none */
    /* whether a step of a few sequences splits among the cores, timed on this machine
     * (split_choice.c): whole-sequence loops, and a stream's steps (which add W_ih) */
    mn_split_choice loop_choice, stream_choice;

    double *probe_rows;    /* [2][T,B] per-row probe values, only while a recorder is on */
    size_t probe_cap;
} mn_recurrent;

/* One pass of the time loop over steps [0, T) of the buffers, which are steps
 * [t0, t0 + T) of the sequence (an inference pass runs in chunks). */
typedef struct {
    mn_recurrent *s;
    int T, B, t0;
    const int32_t *lengths;
    float *y;          /* forward output [T,B,P] */
    const float *dy;   /* backward input [T,B,P] */
    double *pdh, *pdc; /* per-row probe values [T,B], or NULL */
} mn_time_loop;

/* The biases the cells read: the layer's, or zeros without them. */
static inline const float *mn_recurrent_b_ih(const mn_recurrent *s) {
    return s->bias ? s->base.params + s->o_bih : s->zero_bias;
}
static inline const float *mn_recurrent_b_hh(const mn_recurrent *s) {
    return s->bias ? s->base.params + s->o_bhh : s->zero_bias;
}

/* Whether a step's per-row work for rows of width H pays for a parallel loop. */
static inline int mn_recurrent_omp_rows(int B, int H) { return (size_t)B * H >= 8192; }

/* Step t of rows [b0, b1) with a projection (recurrent_proj.c); `mine`: the rows are
 * this thread's share (one-thread products), else the whole batch. */
void mn_recurrent_forward_step_proj(const mn_time_loop *k, int t, int b0, int b1, int mine);
void mn_recurrent_backward_step_proj(const mn_time_loop *k, int t, int b0, int b1, int mine);
/* step_vjp of one row with a projection: u_h [P], u_c [H]. */
void mn_recurrent_step_vjp_proj(mn_recurrent *s, int t, int b, float *u_h, float *u_c);
double mn_recurrent_row_norm(const float *v, int n);

/* recurrent.c's workspace (for T·B rows, B sequences), step and time loop, which the
 * streaming step (recurrent_step.c) runs over one step. */
mn_status mn_recurrent_reserve(mn_recurrent *s, int T, int B);
void mn_recurrent_forward_step(const mn_time_loop *k, int t, int b0, int b1, int mine);
/* The cells of rows [b0, b1) of step t once act and rec hold the step's products;
 * split: the rows are the whole batch, which may take a parallel loop. */
void mn_recurrent_forward_cells(const mn_time_loop *k, int t, int b0, int b1, int split);
/* Prefetches step t's act for rows [b0, b1) of B, gate columns of units [u0, u1). */
void mn_recurrent_prefetch_act(const mn_recurrent *s, int t, int B, int b0, int b1, int u0,
                               int u1);
/* The cells of rows [b0, b1), units [j0, j1) of step t, on the calling thread. */
void mn_recurrent_forward_units(const mn_time_loop *k, int t, int b0, int b1, int j0, int j1);
void mn_recurrent_run_time_loop(const mn_time_loop *k, int reverse,
                                void (*step)(const mn_time_loop *, int, int, int, int));
/* A few sequences on several cores: each step split by units (recurrent_split.c).
 * The threads worth it for T steps of B sequences (1: do not split); `input`: the step
 * also multiplies x_t by W_ih (a stream's step) besides h_{t-1} by W_hh. */
int mn_recurrent_unit_threads(const mn_recurrent *s, int T, int B, int input);
/* The whole time loop of k, act already holding x·W_ihᵀ, on up to `threads` threads:
 * each step split among them, or on thread 0 alone, as loop_choice finds faster. */
void mn_recurrent_forward_split(const mn_time_loop *k, int threads);
/* Step t of a stream (k->T = 1) once the state is in place: both products and the
 * cells, split by units when stream_choice finds that faster. */
void mn_recurrent_stream_compute(const mn_time_loop *k, const float *x_t, int t);
/* The layer's step op (mn_layer_ops.step): one step of B sequences from the state the
 * previous step left (zero at t = 0). */
mn_status mn_recurrent_stream_step(mn_layer *l, const float *x_t, float *y_t, int B, int t);

#endif
