/* Gated cells: the LSTM cell path as a gradient highway, the forget bias and the memory
 * half-life it sets, and the parameter count of a GRU against an LSTM. */
#include "init.h"
#include "lab.h"
#include "model.h"

#include <math.h>
#include <string.h>

static const double default_forget_bias[] = {0, 1, 2, 3, 5};

/* ------------------------------------------------------------ lstm-highway */

/* An LSTM layer with W_hh = 0 and the forget gate's input rows 0 and bias logit(f): f is
 * the same constant at every step, and with W_hh = 0 no gradient reaches h_t from later
 * steps, so ∂L/∂c_t = f·∂L/∂c_{t+1} exactly for t < T-1. The other gates see a random
 * input through random weights: the cell path does not depend on them. */
static mn_status lstm_cell_profile(const mn_lab_settings *s, double scale, double *dh, double *dc) {
    enum { B = 2, I = 4 };
    int H = s->H, T = s->T;
    mn_lab_bare bl;
    mn_status st = mn_lab_bare_create(&bl, MN_LSTM, I, H);
    if (st) return st;
    mn_rng rng;
    mn_rng_seed(&rng, s->seed);
    mn_init_config ic = {MN_INIT_UNIFORM, 1.0f, (float)log(s->forget / (1 - s->forget)), 0};
    bl.l->ops->init(bl.l, &rng, &ic);   /* puts the whole forget bias into b_ih */
    float *W_ih = mn_lab_bare_tensor(&bl, "weight_ih");
    float *W_hh = mn_lab_bare_tensor(&bl, "weight_hh");
    memset(W_hh, 0, (size_t)4 * H * H * sizeof(float));
    memset(W_ih + (size_t)H * I, 0, (size_t)H * I * sizeof(float));  /* rows H..2H: f */
    float *x = mn_alloc((size_t)T * B * I * sizeof(float));
    if (!x) st = MN_E_NOMEM;
    for (size_t i = 0; !st && i < (size_t)T * B * I; i++) x[i] = mn_rng_uniform_range(&rng, -1, 1);
    if (!st) st = mn_lab_last_step_profile(bl.l, x, T, B, scale, &rng, dh, dc);
    mn_release(x);
    mn_lab_bare_free(&bl);
    return st;
}

mn_status mn_lab_lstm_highway(const mn_lab_options *o, mn_lab_result *r) {
    mn_lab_settings s;
    double *dh, *dc, *rnn;
    mn_status st = mn_lab_resolve(o, 0.9, &s);
    if (st || (st = mn_lab_alloc_doubles(&dh, 3 * (size_t)s.T))) return st;
    dc = dh + s.T;
    rnn = dc + s.T;
    int T = s.T;
    double lf = (T - 1) * log10(s.forget), lr = (T - 1) * log10(s.radius);
    mn_lab_text(r->claim, sizeof r->claim, "the LSTM cell path scales the gradient by the product "
                "of the forget gates, f^(T-1) with f fixed, while a vanilla RNN scales it by "
                "rho^(T-1)");
    mn_lab_text(r->quantity, sizeof r->quantity, "|dL/dc_0| / |dL/dc_%d| vs f^%d, f = %g", T - 1,
                T - 1, s.forget);
    mn_lab_text(r->criterion, sizeof r->criterion, "LSTM within %g%% of f^(T-1), RNN within %g%% "
                "of rho^(T-1)", 100 * MN_LAB_RATIO_TOLERANCE, 100 * MN_LAB_RATIO_TOLERANCE);
    if ((st = lstm_cell_profile(&s, mn_lab_centered_scale(lf), dh, dc))) goto done;
    if ((st = mn_lab_linear_rnn_profile(s.H, T, s.radius, MN_LAB_W_ORTHOGONAL, s.seed,
                                        mn_lab_centered_scale(lr), rnn)))
        goto done;
    mn_lab_say(r,
        "setup: LSTM layer, H %d, T %d, W_hh = 0, forget gate rows of W_ih = 0 and bias\n"
        "       logit(%g), random input and weights for the other gates; loss at the last\n"
        "       step only; |dL/dc_t| from the layer's backward probe (all paths into c_t).\n"
        "       Beside it the linear-regime tanh RNN of 'vanishing' with rho = %g.\n",
        s.H, T, s.forget, s.radius);
    int lags[8], n = mn_lab_table_lags(T, lags);
    mn_lab_say(r, "\n  %6s  %12s  %12s  %12s  %12s\n", "lag", "f^lag", "LSTM c path", "rho^lag",
               "vanilla RNN");
    for (int i = 0; i < n; i++) {
        int g = lags[i];
        mn_lab_say(r, "  %6d  %12.6g  %12.6g  %12.6g  %12.6g\n", g, pow(s.forget, g),
                   mn_lab_ratio_at(dc, T, g), pow(s.radius, g), mn_lab_ratio_at(rnn, T, g));
        mn_lab_putf(r, mn_lab_ratio_at(dc, T, g), "lstm_ratio_lag_%d", g);
        mn_lab_putf(r, mn_lab_ratio_at(rnn, T, g), "rnn_ratio_lag_%d", g);
    }
    double hl = mn_half_life(s.forget);
    mn_lab_say(r, "\n  |dL/dh_t| of the LSTM before the last step: %.3g (W_hh = 0: only the cell "
                  "carries it)\n  memory half-life ln 0.5 / ln f = %.4g steps; gradient horizon "
                  "(>= %g): LSTM %d, RNN %d\n",
               T > 1 ? dh[T - 2] : 0.0, hl, MN_LAB_HORIZON_THRESHOLD,
               mn_gradient_horizon(dc, T, MN_LAB_HORIZON_THRESHOLD),
               mn_gradient_horizon(rnn, T, MN_LAB_HORIZON_THRESHOLD));
    double m = mn_lab_ratio_at(dc, T, T - 1), mr = mn_lab_ratio_at(rnn, T, T - 1);
    double th = pow(s.forget, T - 1), thr = pow(s.radius, T - 1);
    mn_lab_put(r, "forget", s.forget);
    mn_lab_put(r, "radius", s.radius);
    mn_lab_put(r, "length", T);
    mn_lab_put(r, "rnn_theory", thr);
    mn_lab_put(r, "rnn_measured", mr);
    mn_lab_put(r, "half_life", hl);
    int applies = mn_lab_measurable(lf) && mn_lab_measurable(lr);
    if (!applies)
        mn_lab_text(r->note, sizeof r->note, "f^(T-1) = 1e%.0f or rho^(T-1) = 1e%.0f lies outside "
                    "the ~1e+-%.0f that a float32 backward pass can hold",
                    lf, lr, MN_LAB_RANGE_DECADES);
    mn_lab_verdict(r, th, m, applies,
                   mn_lab_rel_err(m, th) <= MN_LAB_RATIO_TOLERANCE &&
                       mn_lab_rel_err(mr, thr) <= MN_LAB_RATIO_TOLERANCE);
done:
    mn_release(dh);
    return st;
}

/* ------------------------------------------------------------ forget-bias */

/* A freshly initialized LSTM (chrono off) with forget bias b, measured by
 * mn_gate_stats_measure on a batch of the adding task. exact: the forget gate's rows of
 * W_ih and W_hh are set to 0, so f = σ(b) at every step and unit. */
static mn_status forget_stats(const mn_lab_settings *s, double b, int exact, mn_gate_stats *g) {
    mn_task *task = NULL;
    mn_model *m = NULL;
    mn_model_config mc;
    const mn_batch *batch;
    mn_status st = mn_lab_adding_setup(s->T, s->seed, MN_LSTM, s->H, &task, &mc);
    if (st) return st;
    mc.forget_bias = (float)b;
    mc.chrono_tmax = 0;
    if ((st = mn_model_create(&mc, s->seed, &m))) goto done;
    for (int i = 0; exact && i < mn_model_tensor_count(m); i++) {
        const char *name;
        const int *shape;
        float *w;
        if ((st = mn_model_tensor(m, i, &name, NULL, &shape, &w, NULL))) goto done;
        if (!strcmp(name, "rnn.weight_ih_l0") || !strcmp(name, "rnn.weight_hh_l0"))
            memset(w + (size_t)s->H * shape[1], 0, (size_t)s->H * shape[1] * sizeof(float));
    }
    if (!(st = mn_task_next(task, 16, &batch)))
        st = mn_gate_stats_measure(m, batch, 0, g, NULL, NULL);
done:
    mn_model_free(m);
    mn_task_free(task);
    return st;
}

mn_status mn_lab_forget_bias(const mn_lab_options *o, mn_lab_result *r) {
    mn_lab_settings s;
    mn_status st = mn_lab_resolve(o, 1.0, &s);
    if (st) return st;
    int n = o->n_forget_bias ? o->n_forget_bias
                             : (int)(sizeof default_forget_bias / sizeof(double));
    const double *bs = o->n_forget_bias ? o->forget_bias : default_forget_bias;
    if (n < 1 || n > MN_LAB_MAX_LIST)
        return mn_fail(MN_E_ARG, "give 1 to %d forget biases, got %d", MN_LAB_MAX_LIST, n);
    for (int i = 0; i < n; i++)
        if (!(fabs(bs[i]) <= 50))
            return mn_fail(MN_E_ARG, "forget bias must lie in [-50, 50], got %g", bs[i]);
    mn_lab_text(r->claim, sizeof r->claim, "a forget gate held at f = sigmoid(b_f) keeps a "
                "fraction f of the cell per step, so the initial memory half-life is "
                "ln 0.5 / ln sigmoid(b_f) steps");
    mn_lab_text(r->quantity, sizeof r->quantity, "half-life in steps at b_f = %g (last of the "
                "list)", bs[n - 1]);
    mn_lab_text(r->criterion, sizeof r->criterion, "every measured half-life within 0.1%% of "
                "theory");
    mn_lab_say(r,
        "setup: freshly initialized LSTM, H %d, chrono off, forget bias b_f; gate statistics\n"
        "       from mn_gate_stats_measure on a batch of 16 adding-task sequences, T %d.\n"
        "       exact: forget-gate rows of W_ih and W_hh zeroed, so f = sigmoid(b_f);\n"
        "       default: PyTorch's random weights as well (information only).\n",
        s.H, s.T);
    mn_lab_say(r, "\n  %6s  %10s  %12s  %12s  %10s  %14s  %14s\n", "b_f", "sigmoid", "theory",
               "exact", "rel. error", "default mean f", "default h.-l.");
    int applies = 1, agree = 1;
    double th = 0, me = 0;
    for (int i = 0; i < n; i++) {
        mn_gate_stats ge, gd;
        if ((st = forget_stats(&s, bs[i], 1, &ge)) || (st = forget_stats(&s, bs[i], 0, &gd)))
            return st;
        double f = 1.0 / (1.0 + exp(-bs[i]));
        th = mn_half_life(f);
        me = ge.half_life_median;
        /* float32 holds f to ~3e-8 near 1: ln f and the half-life are good to 0.1% only
         * while 1 - f >= 1e-4 */
        int ok_here = 1 - f >= 1e-4;
        applies &= ok_here;
        agree &= mn_lab_rel_err(me, th) <= 1e-3 && mn_lab_rel_err(ge.half_life_max, th) <= 1e-3 &&
                 mn_lab_rel_err(ge.half_life_min, th) <= 1e-3;
        mn_lab_say(r, "  %6g  %10.6f  %12.6g  %12.6g  %10.2e  %14.6f  %14.6g%s\n", bs[i], f, th, me,
                   mn_lab_rel_err(me, th), gd.keep_mean, gd.half_life_median,
                   ok_here ? "" : "  (f rounds toward 1 in float32)");
        mn_lab_putf(r, bs[i], "forget_bias_%d", i);
        mn_lab_putf(r, th, "half_life_theory_%d", i);
        mn_lab_putf(r, me, "half_life_exact_%d", i);
        mn_lab_putf(r, gd.half_life_median, "half_life_default_median_%d", i);
        mn_lab_putf(r, gd.keep_mean, "keep_mean_default_%d", i);
    }
    mn_lab_say(r,
        "\n  (default columns: mean forget gate and median unit half-life with the input and\n"
        "   recurrent weights left random; the spread of the weights moves them off theory)\n");
    if (!applies)
        mn_lab_text(r->note, sizeof r->note, "a b_f above ~9 gives 1 - f < 1e-4, which float32 "
                    "cannot resolve to 0.1%%; measured what float32 gives");
    mn_lab_verdict(r, th, me, applies, agree);
    return MN_OK;
}

/* -------------------------------------------------------------- gru-params */

/* Parameters of a one-layer model with input = hidden, split into the recurrent layer and
 * the head (which both kinds share). */
static mn_status count_params(mn_cell_kind cell, int H, size_t *total, size_t *recurrent) {
    mn_model_config mc;
    mn_model *m;
    mn_model_config_init(&mc);
    mc.cell = cell;
    mc.input_size = H;
    mc.hidden_size = H;
    mc.output_size = 1;
    mn_status st = mn_model_create(&mc, 1, &m);
    if (st) return st;
    *total = mn_model_param_count(m);
    size_t head = 0;
    for (int i = 0; i < mn_model_tensor_count(m); i++) {
        const char *name;
        int nd;
        const int *shape;
        mn_model_tensor(m, i, &name, &nd, &shape, NULL, NULL);
        size_t n = 1;
        for (int k = 0; k < nd; k++) n *= (size_t)shape[k];
        if (!strncmp(name, "head.", 5)) head += n;
    }
    *recurrent = *total - head;
    mn_model_free(m);
    return MN_OK;
}

mn_status mn_lab_gru_params(const mn_lab_options *o, mn_lab_result *r) {
    mn_lab_settings s;
    mn_status st = mn_lab_resolve(o, 1.0, &s);
    if (st) return st;
    int H = s.H;
    size_t lt, lr, gt, gr, rt, rr;
    if ((st = count_params(MN_LSTM, H, &lt, &lr)) || (st = count_params(MN_GRU, H, &gt, &gr)) ||
        (st = count_params(MN_RNN_TANH, H, &rt, &rr)))
        return st;
    mn_lab_text(r->claim, sizeof r->claim, "a GRU has 3 gate blocks where an LSTM has 4, so a GRU "
                "layer holds exactly 3/4 of the parameters of an LSTM layer of the same size");
    mn_lab_text(r->quantity, sizeof r->quantity, "GRU / LSTM recurrent-layer parameters, input = "
                "hidden = %d", H);
    mn_lab_text(r->criterion, sizeof r->criterion, "4 * GRU count == 3 * LSTM count, exactly");
    double G = (double)H * (H + H + 2);   /* one gate block: W_ih, W_hh rows, two biases */
    mn_lab_say(r, "setup: one-layer models from mn_model_create, input = hidden = %d, 1 output;\n"
                  "       counts from mn_model_param_count, minus the shared head.\n\n", H);
    mn_lab_say(r, "  %-10s  %12s  %12s  %14s  %12s\n", "cell", "recurrent", "theory", "with head",
               "vs LSTM");
    mn_lab_say(r, "  %-10s  %12zu  %12.0f  %14zu  %12.6f\n", "lstm", lr, 4 * G, lt, 1.0);
    mn_lab_say(r, "  %-10s  %12zu  %12.0f  %14zu  %12.6f\n", "gru", gr, 3 * G, gt, (double)gr / lr);
    mn_lab_say(r, "  %-10s  %12zu  %12.0f  %14zu  %12.6f\n", "rnn", rr, G, rt, (double)rr / lr);
    mn_lab_say(r,
        "\n  theory: G*H*(I + H + 2) with G gate blocks (LSTM 4, GRU 3, RNN 1); with the\n"
        "  head counted the ratio is %.6f\n", (double)gt / lt);
    mn_lab_put(r, "hidden", H);
    mn_lab_put(r, "lstm_params", (double)lr);
    mn_lab_put(r, "gru_params", (double)gr);
    mn_lab_put(r, "rnn_params", (double)rr);
    mn_lab_put(r, "ratio_with_head", (double)gt / lt);
    mn_lab_verdict(r, 0.75, (double)gr / lr, 1, 4 * gr == 3 * lr && lr == (size_t)(4 * G));
    return MN_OK;
}
