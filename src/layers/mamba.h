/* Mamba-1, the selective state-space block (mamba.c; Gu & Dao 2023, "Mamba: Linear-Time
 * Sequence Modeling with Selective State Spaces", the Mamba module of state-spaces/mamba,
 * mamba_ssm/modules/mamba_simple.py, without its fused paths). Over x[T,B,D], E = 2·D,
 * R = ⌈D/16⌉ (dt_rank), N states per channel:
 *   u, z  = split(in_proj(x))                  in_proj.weight [2E, D], no bias
 *   u     = SiLU(conv1d(u))                    depthwise causal, 4 taps: conv1d.weight [E,1,4],
 *                                              conv1d.bias [E]
 *   Δ_low, B, C = split(x_proj(u))             x_proj.weight [R + 2N, E], no bias
 *   Δ     = softplus(dt_proj(Δ_low))           dt_proj.weight [E, R], dt_proj.bias [E]
 *   h_t   = exp(Δ_t·A) ∘ h_{t−1} + Δ_t·B_t·u_t  per channel e: h [N]; A = −exp(A_log),
 *                                              A_log [E, N]
 *   y_t   = C_t·h_t + D ∘ u_t                  D [E]
 *   out   = out_proj(y ∘ SiLU(z))              out_proj.weight [D, E], no bias
 * with the reference's inits (nn.Linear's and nn.Conv1d's defaults, dt_proj.weight
 * U(±R^−1/2), dt_proj.bias so that softplus gives Δ log-uniform in [1e-3, 1e-1] (at least
 * 1e-4), A S4D-Real: A_log[e, n] = ln(n + 1), D = 1). Input width = output width. */
#ifndef MN_MAMBA_H
#define MN_MAMBA_H

#include "registry.h"

#define MN_MAMBA_DEFAULT_STATE 16    /* the reference's d_state */
#define MN_MAMBA_EXPAND 2
#define MN_MAMBA_CONV 4              /* d_conv */
#define MN_MAMBA_DT_MIN 1e-3
#define MN_MAMBA_DT_MAX 1e-1
#define MN_MAMBA_DT_FLOOR 1e-4

/* Steps between the states the forward scan keeps for backward (backward recomputes the
 * states inside each chunk from them). 64 unless a test lowers it; the results do not
 * depend on it, bit for bit. */
extern int mn_mamba_chunk;

/* D features in and out, N states per channel (≥ 1), A's init (default or S4D-Real; the
 * complex inits belong to s4d). NULL with the error set on failure. */
mn_layer *mn_mamba_create(int D, int N, mn_ssm_init init);

/* Generation: y_t[B,D] from x_t[B,D], the conv window and the scan state h carried
 * from the previous step. They start at zero after a reset (or a step with another B), so T
 * steps give the forward's T outputs (to float rounding). Reads the parameters as they are
 * at each step. */
mn_status mn_mamba_step(mn_layer *l, const float *x_t, float *y_t, int B);
void mn_mamba_stream_reset(mn_layer *l);

/* Δ [T,B,E] (after its softplus, E = 2·D channels) of l's last forward, l a mamba layer or
 * a block wrapping one; NULL when l is no mamba layer or has not run forward yet. Valid
 * until l's next forward (mnemo lab selectivity reads it against the input tokens). */
const float *mn_mamba_last_delta(mn_layer *l, int *T, int *B, int *E);

/* ------------------------------------------------------------ the selective scan
 * (mamba_scan.c) over T steps of B sequences, E channels, N states: each (sequence,
 * channel) pair is an independent recurrence, so the work is split among threads by
 * (sequence, group of MN_SCAN_GROUP channels), and every sum runs in one fixed order:
 * the results do not depend on the thread count. */
#define MN_SCAN_GROUP 16

typedef struct {
    int T, B, E, N;
    const float *u, *delta;      /* [T,B,E]; Δ after its softplus */
    const float *Bm, *Cm;        /* B_t [N] of row r = t·B + b at Bm + r·ld, C_t likewise */
    int ld;
    const float *A_log;          /* [E, N] */
    const float *D;              /* [E] */
} mn_scan_io;

/* Floats of the stored states hs [⌈T/chunk⌉, B, groups, N, G] (the channels in groups of G
 * lanes, the last one padded); per-thread scratch (floats) of the forward and backward;
 * backward's shared buffers (floats). 0 on overflow. */
size_t mn_scan_state_floats(size_t T, size_t B, size_t E, size_t N);
size_t mn_scan_forward_scratch(size_t N);
size_t mn_scan_backward_scratch(size_t N);
size_t mn_scan_backward_shared(size_t B, size_t E, size_t N);
int mn_scan_threads(int B, int E);

/* y [T,B,E] and the states at chunk starts hs; scratch: threads × forward_scratch floats. */
void mn_scan_forward(const mn_scan_io *s, float *y, float *hs, float *scratch, int threads);
/* From dy [T,B,E]: du, dΔ [T,B,E] (written); dB and dC (written) into a buffer laid out
 * as B's and C's, dBC at the place of Bm (dC at dBC + (Cm − Bm)); dA_log [E,N] and dD [E]
 * (added). shared: backward_shared floats; scratch: threads × backward_scratch floats. */
void mn_scan_backward(const mn_scan_io *s, const float *hs, const float *dy, float *du,
                      float *ddelta, float *dBC, float *dA_log, float *dD, float *shared,
                      float *scratch, int threads);
/* One step (T = 1) from the state h [B, groups, N, G] (mn_scan_state_floats(1, B, E, N)),
 * updated in place; scratch: forward_scratch floats. */
void mn_scan_step(const mn_scan_io *s, float *h, float *y, float *scratch);

/* The plain recurrence in double, one step after another, for tests. */
mn_status mn_scan_reference(const mn_scan_io *s, float *y);

#endif
