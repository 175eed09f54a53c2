/* mnemo lab: experiments that check the theory of long-range learning with measurements.
 *
 * Every number here is measured on mnemo's own code paths: the recurrent layers' forward
 * and backward passes (their per-step gradient probes), the trainer with its clipping and
 * truncated BPTT, the gradient recorder and the gate statistics. The theory gives a closed
 * form; the experiment sets up the case where that form is exact and compares.
 *
 * This file holds the table of experiments, the public entry points and the option
 * defaults; the experiments live one family per file (lab.h lists them): gradient flow
 * through time (lab_gradflow.c), gated cells (lab_gates.c), activations
 * (lab_activations.c), the trainer (lab_training.c), gradient flow through depth
 * and pre- vs post-norm blocks (lab_depth.c), convolutions and state spaces (lab_conv.c;
 * Mamba's selection mechanism: lab_select.c),
 * the LSTM gates' calculus (lab_calculus.c), BPTT as a dynamical system (lab_adjoint.c),
 * Adam against SGD and gate saturation under LayerNorm (lab_learning.c), the data learning
 * takes (lab_samples.c); shared helpers in lab_util.c. */
#include "lab.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define DEFAULT_LENGTH 100
#define DEFAULT_HIDDEN 32
#define DEFAULT_TBPTT 10
#define DEFAULT_FORGET 0.99
#define DEFAULT_CLIP 1.0
#define DEFAULT_DEPTH 24
#define MAX_HIDDEN 4096
#define MAX_CELLS (1 << 21)   /* T·H of one experiment */

/* --------------------------------------------------------------- options */

mn_status mn_lab_resolve(const mn_lab_options *o, double radius_default, mn_lab_settings *s) {
    s->radius = o->radius != 0 ? o->radius : radius_default;
    s->T = o->length ? o->length : DEFAULT_LENGTH;
    s->H = o->hidden ? o->hidden : DEFAULT_HIDDEN;
    s->k = o->tbptt ? o->tbptt : DEFAULT_TBPTT;
    s->forget = o->forget != 0 ? o->forget : DEFAULT_FORGET;
    s->clip = o->clip != 0 ? o->clip : DEFAULT_CLIP;
    s->steps = o->steps;
    s->batch = o->batch;
    s->depth = o->depth ? o->depth : DEFAULT_DEPTH;
    s->seed = o->seed;
    s->stop = o->stop;
    if (!(s->radius > 0 && s->radius <= 100))
        return mn_fail(MN_E_ARG, "radius must be greater than 0 and at most 100, got %g",
                       s->radius);
    if (s->T < 2 || s->T > MN_LAB_MAX_LENGTH)
        return mn_fail(MN_E_ARG, "length must be from 2 to %d, got %d", MN_LAB_MAX_LENGTH, s->T);
    if (s->H < 1 || s->H > MAX_HIDDEN)
        return mn_fail(MN_E_ARG, "hidden size must be from 1 to %d, got %d", MAX_HIDDEN, s->H);
    /* the experiments keep a few [T, B, G·H] buffers: bound their size */
    if ((double)s->T * s->H > MAX_CELLS)
        return mn_fail(MN_E_ARG, "length x hidden is %.0f, above the %d the lab keeps in "
                       "memory; lower --length or --hidden", (double)s->T * s->H, MAX_CELLS);
    if (s->k < 1) return mn_fail(MN_E_ARG, "tbptt chunk length must be >= 1, got %d", s->k);
    if (!(s->forget > 0 && s->forget < 1))
        return mn_fail(MN_E_ARG, "forget gate value must lie strictly between 0 and 1, got %g",
                       s->forget);
    if (!(s->clip > 0 && s->clip < 1e30))
        return mn_fail(MN_E_ARG, "clip threshold must be a positive number, got %g", s->clip);
    if (s->steps < 0 || s->batch < 0)
        return mn_fail(MN_E_ARG, "steps and batch must be >= 1 (0: the default)");
    if (s->depth < 1 || s->depth > MN_LAB_MAX_DEPTH)
        return mn_fail(MN_E_ARG, "depth must be from 1 to %d layers, got %d", MN_LAB_MAX_DEPTH,
                       s->depth);
    return MN_OK;
}

/* ------------------------------------------------------------------ table */

static const struct {
    const char *name, *summary, *options;
    mn_lab_fn run;
} experiments[] = {
    {"vanishing", "gradient ratio over T steps of W_hh = rho*Q vs rho^(T-1), rho < 1",
     "radius length hidden seed", mn_lab_vanishing},
    {"exploding", "the same for rho > 1, and what global-norm clipping does to the update",
     "radius length hidden clip seed", mn_lab_exploding},
    {"lstm-highway", "LSTM cell path with the forget gate held at f: f^(T-1) vs RNN rho^(T-1)",
     "forget radius length hidden seed", mn_lab_lstm_highway},
    {"orthogonal", "an orthogonal recurrence keeps the gradient norm over T steps (ratio 1)",
     "radius length hidden seed", mn_lab_orthogonal},
    {"tbptt", "with chunk length k, gradients from more than k steps back are exactly 0",
     "tbptt length hidden seed", mn_lab_tbptt},
    {"forget-bias", "initial forget bias b_f vs memory half-life ln 0.5 / ln sigmoid(b_f)",
     "forget-bias length hidden seed", mn_lab_forget_bias},
    {"activations", "derivative bounds of sigmoid, tanh, ReLU and their products over depth",
     "length seed", mn_lab_activations},
    {"gru-params", "parameters of a GRU vs an LSTM of the same size (3/4)", "hidden",
     mn_lab_gru_params},
    {"adding-sweep", "tanh RNN vs LSTM vs GRU on the adding problem over lengths (minutes)",
     "lengths steps batch hidden seed", mn_lab_adding_sweep},
    {"residual", "deep tanh stack: gradient ratio over L layers is rho^L, with a skip >= 1",
     "depth radius hidden seed", mn_lab_residual},
    {"prenorm", "residual blocks at init: pre-norm grows as rms(x_L)/rms(x_l), post-norm flat",
     "depth hidden seed", mn_lab_prenorm},
    {"gated-residual", "gated residual cell, W_hh = 0: gradient = product of its keep gates",
     "forget length hidden seed", mn_lab_gated_residual},
    {"path-length", "gradient reaching step 0: attention's weight alpha at every T vs rho^(T-1)",
     "lengths radius hidden seed", mn_lab_path_length},
    {"attention-cost", "attention time ~T^2 and tiled memory ~T as T doubles, vs an LSTM's ~T",
     "lengths hidden seed", mn_lab_attention_cost},
    {"receptive-field", "TCN stack: last output's gradient is non-zero exactly within "
     "1 + 2(k-1)(2^L - 1) steps", "depth hidden seed", mn_lab_receptive_field},
    {"s4-cost", "time of one S4D and one LSTM layer as L doubles: exponents and crossover",
     "lengths hidden batch seed", mn_lab_s4_cost},
    {"s4-equivalence", "S4D's convolution mode and recurrent mode give the same outputs (1e-5)",
     "length hidden seed", mn_lab_s4_equivalence},
    {"selectivity", "trained on selective copy, Mamba's focusing channels raise delta at data "
     "tokens over noise (Gu & Dao 2023, sec. 3.5.2: delta as a gate); S4D's is fixed (~90 s)",
     "length steps hidden seed",
     mn_lab_selectivity},
    {"output-gate", "LSTM output gate at 0: no gradient reaches the cell through h; at 1 it does",
     "length hidden seed", mn_lab_output_gate},
    {"forget-product", "LSTM cell path: gradient = product of forget gates; one f = 0.1 cuts it",
     "forget cut length hidden seed", mn_lab_forget_product},
    {"input-gate", "dL/dW_ii = x*g*i(1-i)*dL/dc over a sweep: vanishes as i saturates or "
     "g -> 0", "seed", mn_lab_input_gate},
    {"euler", "Euler on dh/dt = Ah: the gradient explodes exactly past the step 2/|lambda|",
     "length hidden seed", mn_lab_euler},
    {"adjoint", "backward = adjoint recursion over step Jacobians, RNN/LSTM/GRU (T 20, H 8)",
     "length hidden seed", mn_lab_adjoint},
    /* lab_learning.c, lab_samples.c */
    {"adam-vanishing", "W_ih's gradient x 10^-k: SGD's step shrinks as 10^-k, Adam's stays "
     "~lr per weight", "length hidden batch seed", mn_lab_adam_vanishing},
    {"sample-complexity", "sequences to a target loss over T: tanh RNN ~exp(aT), LSTM slower "
     "(minutes)", "lengths steps batch hidden target seeds seed",
     mn_lab_sample_complexity},
    {"small-data", "LSTM vs GRU on a small fixed training set: test MSE, 95% CI over seeds "
     "(minutes)", "train-size length steps batch hidden seeds seed", mn_lab_small_data},
    {"layernorm-saturation", "saturated gate units in training at a large input scale: LSTM "
     "vs LN-LSTM", "scale length steps batch hidden seed", mn_lab_layernorm_saturation},
    /* lab_bpe.c */
    {"bpe-distance", "BPE shortens the distance in tokens between related positions (a word "
     "and its repetition, brackets) as the vocabulary grows", "text seed", mn_lab_bpe_distance},
};
#define NEXPERIMENTS ((int)(sizeof experiments / sizeof experiments[0]))

const char *mn_lab_names(void) {
    return "vanishing, exploding, lstm-highway, orthogonal, tbptt, forget-bias, activations, "
           "gru-params, adding-sweep, residual, prenorm, gated-residual, path-length, "
           "attention-cost, receptive-field, s4-cost, s4-equivalence, selectivity, output-gate, "
           "forget-product, input-gate, euler, adjoint, adam-vanishing, sample-complexity, "
           "small-data, layernorm-saturation, bpe-distance";
}

int mn_lab_count(void) { return NEXPERIMENTS; }

mn_status mn_lab_info(int i, const char **name, const char **summary, const char **options) {
    if (i < 0 || i >= NEXPERIMENTS)
        return mn_fail(MN_E_ARG, "experiment index %d out of range [0, %d)", i, NEXPERIMENTS);
    if (name) *name = experiments[i].name;
    if (summary) *summary = experiments[i].summary;
    if (options) *options = experiments[i].options;
    return MN_OK;
}

void mn_lab_options_init(mn_lab_options *o) {
    memset(o, 0, sizeof *o);
    o->seed = 1;
}

mn_status mn_lab_run(const char *name, const mn_lab_options *o, mn_lab_result *r) {
    if (!r) return mn_fail(MN_E_ARG, "mn_lab_run: result is NULL");
    memset(r, 0, sizeof *r);
    mn_lab_options defaults;
    if (!o) {
        mn_lab_options_init(&defaults);
        o = &defaults;
    }
    for (int i = 0; name && i < NEXPERIMENTS; i++) {
        if (strcmp(name, experiments[i].name)) continue;
        snprintf(r->experiment, sizeof r->experiment, "%s", name);
        r->theory = r->measured = NAN;
        return experiments[i].run(o, r);
    }
    return mn_fail(MN_E_ARG, "unknown experiment '%s'; choose one of: %s", name ? name : "",
                   mn_lab_names());
}
