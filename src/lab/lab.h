/* Internal interface of mnemo lab: the experiments (one file per family) and the helpers
 * they share (lab_util.c: report text and figures, bare layers, gradient profiles, the
 * adding setup; lab.c: option defaults and the table of experiments).
 *
 * float32 has about 76 decades between its largest number and its smallest normal one
 * (denormals may be flushed to zero). The gradient-ratio experiments scale the loss
 * gradient so that the measured range sits in the middle of that window; a ratio beyond
 * 1e±60 cannot be measured and is reported as such ("does not apply"), never as a silent 0. */
#ifndef MN_LAB_H
#define MN_LAB_H

#include "core.h"
#include "layer.h"

#define MN_LAB_MAX_LENGTH 100000
#define MN_LAB_MAX_DEPTH 10000
#define MN_LAB_RANGE_DECADES 60.0    /* |log10 ratio| that float32 can still measure */
#define MN_LAB_RATIO_TOLERANCE 0.05  /* relative, for the ρ^(T-1) and f^(T-1) claims */
#define MN_LAB_HORIZON_THRESHOLD 1e-3

/* ------------------------------------------------------------ the experiments */

/* Each fills r (claim, quantity, criterion, report, verdict, figures); MN_E_ARG for bad
 * options. r arrives zeroed with experiment set and theory = measured = NaN. */
typedef mn_status (*mn_lab_fn)(const mn_lab_options *o, mn_lab_result *r);

/* lab_gradflow.c: gradient flow through time in a linear-regime tanh RNN */
mn_status mn_lab_vanishing(const mn_lab_options *o, mn_lab_result *r);
mn_status mn_lab_exploding(const mn_lab_options *o, mn_lab_result *r);
mn_status mn_lab_orthogonal(const mn_lab_options *o, mn_lab_result *r);
/* lab_gates.c: gated cells (LSTM cell path, forget bias, parameter counts, the gated
 * residual cell's keep gate) */
mn_status mn_lab_lstm_highway(const mn_lab_options *o, mn_lab_result *r);
mn_status mn_lab_forget_bias(const mn_lab_options *o, mn_lab_result *r);
mn_status mn_lab_gru_params(const mn_lab_options *o, mn_lab_result *r);
mn_status mn_lab_gated_residual(const mn_lab_options *o, mn_lab_result *r);
/* lab_activations.c: derivative bounds of the nonlinearities */
mn_status mn_lab_activations(const mn_lab_options *o, mn_lab_result *r);
/* lab_training.c: mnemo's trainer (truncated BPTT, the adding sweep) */
mn_status mn_lab_tbptt(const mn_lab_options *o, mn_lab_result *r);
mn_status mn_lab_adding_sweep(const mn_lab_options *o, mn_lab_result *r);
/* lab_depth.c: gradient flow through depth (a deep stack with and without a skip; pre-
 * and post-norm residual blocks) */
mn_status mn_lab_residual(const mn_lab_options *o, mn_lab_result *r);
mn_status mn_lab_prenorm(const mn_lab_options *o, mn_lab_result *r);
/* lab_conv.c: convolutions and state spaces (TCN receptive field, S4D's cost against an
 * LSTM's over lengths, S4D's convolution against its recurrence) */
mn_status mn_lab_receptive_field(const mn_lab_options *o, mn_lab_result *r);
mn_status mn_lab_s4_cost(const mn_lab_options *o, mn_lab_result *r);
mn_status mn_lab_s4_equivalence(const mn_lab_options *o, mn_lab_result *r);
/* lab_select.c: Mamba's input-dependent delta on selective copy, trained, against S4D */
mn_status mn_lab_selectivity(const mn_lab_options *o, mn_lab_result *r);

/* lab_attention.c: attention against recurrence (path length to step 0; cost in T) */
mn_status mn_lab_path_length(const mn_lab_options *o, mn_lab_result *r);
mn_status mn_lab_attention_cost(const mn_lab_options *o, mn_lab_result *r);

/* lab_calculus.c: the LSTM gates' calculus (the output gate as the cell's only exit, the
 * product of forget gates along the cell path, the input gate's weight gradient) */
mn_status mn_lab_output_gate(const mn_lab_options *o, mn_lab_result *r);
mn_status mn_lab_forget_product(const mn_lab_options *o, mn_lab_result *r);
mn_status mn_lab_input_gate(const mn_lab_options *o, mn_lab_result *r);
/* lab_adjoint.c: BPTT as a dynamical system (forward Euler's stability bound; the backward
 * pass as the adjoint recursion over step Jacobians built independently) */
mn_status mn_lab_euler(const mn_lab_options *o, mn_lab_result *r);
mn_status mn_lab_adjoint(const mn_lab_options *o, mn_lab_result *r);
/* lab_learning.c: what the optimizer and the input scale do to learning (Adam against SGD
 * under a vanishing gradient; gate saturation with and without LayerNorm) */
mn_status mn_lab_adam_vanishing(const mn_lab_options *o, mn_lab_result *r);
mn_status mn_lab_layernorm_saturation(const mn_lab_options *o, mn_lab_result *r);
/* lab_samples.c: how much data learning takes (training sequences to a target loss over
 * lengths; LSTM against GRU on a small fixed training set) */
mn_status mn_lab_sample_complexity(const mn_lab_options *o, mn_lab_result *r);
mn_status mn_lab_small_data(const mn_lab_options *o, mn_lab_result *r);

/* lab_bpe.c: what BPE tokenization does to the distance between related positions */
mn_status mn_lab_bpe_distance(const mn_lab_options *o, mn_lab_result *r);

/* ------------------------------------------------------------ options (lab.c) */

/* The options with every default filled in. */
typedef struct {
    double radius, forget, clip;
    int T, H, k, steps, batch, depth;
    uint64_t seed;
    const volatile sig_atomic_t *stop;   /* o->stop, for the trainers an experiment makes */
} mn_lab_settings;

/* Fills s from o (radius_default when o->radius is 0) and checks the shared ranges. */
mn_status mn_lab_resolve(const mn_lab_options *o, double radius_default, mn_lab_settings *s);

/* ------------------------------------------------------------ result text (lab_util.c) */

/* Appends to r->report (silently cut at its size). */
void mn_lab_say(mn_lab_result *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void mn_lab_text(char *dst, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* A further measured figure, for JSON (name formatted for putf). */
void mn_lab_put(mn_lab_result *r, const char *name, double v);
void mn_lab_putf(mn_lab_result *r, double v, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void mn_lab_verdict(mn_lab_result *r, double theory, double measured, int applies, int agree);
/* One line to o->progress, if set. */
void mn_lab_progress(const mn_lab_options *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int mn_lab_cmp_int(const void *a, const void *b);       /* qsort, ascending */
int mn_lab_cmp_double(const void *a, const void *b);    /* qsort, ascending; NaN unordered */
double mn_lab_rel_err(double measured, double theory);  /* |measured/theory - 1| */
mn_status mn_lab_alloc_doubles(double **p, size_t n);   /* zeroed; mn_release */

/* ------------------------------------------------------------ bare layers (lab_util.c) */

/* A recurrent layer outside any model, with its own parameter and gradient buffers. */
typedef struct {
    mn_layer *l;
    float *buf;   /* params, then grads */
} mn_lab_bare;

mn_status mn_lab_bare_create(mn_lab_bare *b, mn_cell_kind cell, int in, int H);
void mn_lab_bare_free(mn_lab_bare *b);
/* The parameter tensor whose name starts with prefix ("weight_hh", "bias"), or NULL. */
float *mn_lab_layer_tensor(mn_layer *l, const char *prefix);
float *mn_lab_bare_tensor(mn_lab_bare *b, const char *prefix);   /* of b->l */
/* Forward x [T,B,I] from the zero state, then backward from dy [T,B,H]: the parameter
 * gradients (zeroed first), dx [T,B,I] when non-NULL (zeroed first), and the layer's probes
 * dh, dc ([T] each, batch-mean norms; NULL for none). In lab_calculus.c. */
mn_status mn_lab_bare_pass(mn_lab_bare *b, const float *x, const float *dy, int T, int B,
                           double *dh, double *dc, float *dx);

/* Forward x [T,B,I], then backward with the loss on the last step only: dy_{T-1} holds a
 * random direction of norm `scale` per sequence, dy_t = 0 before. dh[t] and dc[t] (may be
 * NULL; [T] each) receive the batch-mean ‖∂L/∂h_t‖ and ‖∂L/∂c_t‖ that the layer's own
 * backward records. */
mn_status mn_lab_last_step_profile(mn_layer *l, const float *x, int T, int B, double scale,
                                   mn_rng *rng, double *dh, double *dc);

/* A loss-gradient norm that puts the whole measured range [s·ratio, s] in the middle of
 * float32's window: s = ratio^(-1/2), within [1e-30, 1e30]. */
double mn_lab_centered_scale(double log10_ratio);
/* Whether float32 can hold a ratio of 10^log10_ratio (within MN_LAB_RANGE_DECADES). */
int mn_lab_measurable(double log10_ratio);

typedef enum { MN_LAB_W_ORTHOGONAL, MN_LAB_W_UNIFORM } mn_lab_w_kind;

/* ‖∂L/∂h_t‖ of the linear-regime tanh RNN: W_hh = ρ·Q (Q random orthogonal), or PyTorch's
 * default U(±1/√H) for comparison; W_ih = 0, biases 0, zero input, B = 2. The state stays
 * at 0 where tanh' = 1, so the backward recurrence is exactly dh_{t-1} = W_hhᵀ·dh_t and
 * with W_hh = ρ·Q every step scales the norm by exactly ρ. dh: [T]. */
mn_status mn_lab_linear_rnn_profile(int H, int T, double rho, mn_lab_w_kind w,
                                    uint64_t seed, double scale, double *dh);

/* Lags shown in tables: 0, 1, 10, T/4, T/2, 3T/4, T-1 (those that exist, once each);
 * lags: room for 8. Returns how many. */
int mn_lab_table_lags(int T, int *lags);
/* ratio[lag] = norm[T-1-lag] / norm[T-1] */
double mn_lab_ratio_at(const double *norm, int T, int lag);

/* ------------------------------------------------------------ the adding task (lab_util.c) */

/* The adding task at length T and a model config it has set up (input, output, loss),
 * with the cell and hidden size filled in; the caller adjusts the rest. */
mn_status mn_lab_adding_setup(int T, uint64_t seed, mn_cell_kind cell, int H, mn_task **task,
                              mn_model_config *mc);
/* A training config for steps × batch on the given seed, evaluating eval_size sequences. */
void mn_lab_train_setup(mn_train_config *tc, int steps, int batch, uint64_t seed,
                        int eval_size);

#endif
