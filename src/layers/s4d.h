/* S4D, the diagonal structured state space (s4d.c; Gu, Gupta, Goel & Ré 2022, "On the
 * Parameterization and Initialization of Diagonal State Space Models"), per channel h of H:
 *   x_n(t) = exp(Δ_h·A_hn)·x_n(t−1) + B̄_hn·u_h(t),  y_h(t) = 2·Re Σ_n C_hn·x_n(t) + D_h·u_h(t)
 * over N/2 complex modes n (each standing for a conjugate pair), A = −exp(log_A_real) +
 * i·A_imag, Δ = exp(log_dt), zero-order hold B̄ = (exp(ΔA) − 1)/A (B = 1). Unrolled, it is
 * one causal convolution y = K * u + D·u with the kernel
 *   K[h, l] = 2·Re Σ_n C_hn·(exp(ΔA_hn) − 1)/A_hn · exp(ΔA_hn·l)
 * which training computes (the Vandermonde product) and applies by FFT in O(T log T).
 * Parameters as the S4 repository's S4D module names them (models/s4/s4d.py, without its
 * GELU and output linear): D [H], kernel.C [H, N/2, 2] (re, im), kernel.log_dt [H],
 * kernel.log_A_real [H, N/2], kernel.A_imag [H, N/2]. Δ and A (log_dt, log_A_real, A_imag)
 * are the ones S4 trains with their own learning rate and no weight decay. */
#ifndef MN_S4D_H
#define MN_S4D_H

#include "registry.h"

#define MN_S4D_DEFAULT_STATE 64
#define MN_S4D_DT_MIN 1e-3
#define MN_S4D_DT_MAX 1e-1

/* H channels (input width = output width), state size N (even), A's initialization.
 * NULL with the error set on failure. */
mn_layer *mn_s4d_create(int H, int N, mn_ssm_init init);

/* Streaming inference by the recurrence, one step at a time: y_t[B,H] from u_t[B,H].
 * The state starts at zero after a reset (or a step with another B), and the discretized
 * modes are taken from the parameters at that first step: T steps then give the forward's
 * T outputs (to float rounding; the state is kept in double). */
mn_status mn_s4d_step(mn_layer *l, const float *u_t, float *y_t, int B);
void mn_s4d_stream_reset(mn_layer *l);

/* The kernel K [H, T] of the current parameters (the forward's, computed the same way),
 * and the reference one (double sums at every step). */
mn_status mn_s4d_kernel(mn_layer *l, int T, float *K);
mn_status mn_s4d_kernel_reference(mn_layer *l, int T, float *K);

/* Tests: 1 runs the reference convolution (a real FFT per sequence and channel, the
 * kernel's double sums) instead of the fast one; 0 goes back. */
void mn_s4d_use_reference(mn_layer *l, int on);

#endif
