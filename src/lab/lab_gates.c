/* Gated cells: the LSTM cell path as a gradient highway, the forget bias and the memory
 * half-life it sets, the parameter count of a GRU against an LSTM, and the keep gate of
 * the gated residual cell as the gradient's per-step factor. */
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

/* ------------------------------------------------------------ gated-residual
 *
 * The gated residual cell h_t = α_t⊙h_{t-1} + (1-α_t)⊙f_t has the step Jacobian
 *   ∂h_t/∂h_{t-1} = diag(α_t) + diag((1-α_t)⊙f'_t)·W_hf + diag((h_{t-1}-f_t)⊙α_t(1-α_t))·W_hα
 * and with W_hh = 0 only diag(α_t) is left: with the loss at the last step,
 * ∂L/∂h_{T-1-k} = (α_{T-k} ⊙ ... ⊙ α_{T-1}) ⊙ ∂L/∂h_{T-1}, unit by unit, exactly.
 * Sequence b puts its loss on one unit u_b alone, so its gradient norm k steps back is
 * that unit's product of α; the layer's probe averages the norms over sequences, and the
 * theory is the mean over b of the products of the α the forward computed (read back
 * through inspect). α's rows of W_ih are U(±1) on inputs U(-1, 1), so α moves per step
 * and unit around σ(b_α): the product is not simply σ(b_α)^k. */

#define GATED_SEQS 16          /* sequences (at most H): each carries the loss on one unit */
#define GATED_INPUT 4
#define GATED_SPREAD 1.0f      /* α's rows of W_ih: U(±1) */
#define GATED_TOLERANCE 0.01   /* relative, at every lag, with W_hh = 0 */
#define GATED_MAX_CELLS (1 << 23)   /* T·B·H of one run */
#define GATED_SMALL 0.1        /* the small W_hh: this times PyTorch's draw */

typedef struct {
    double *dh;      /* [T] batch-mean ‖∂L/∂h_t‖ from the layer's backward */
    double *prod;    /* [T] prod[k]: mean over b of ∏ α_{t,b,u_b} over t = T-k..T-1 */
    double a_mean, a_min, a_max;   /* α over every step, sequence and unit */
} gated_run;

/* The layer at W_hh = w_scale × PyTorch's draw (the same draw, input and α biases for every
 * scale), forward over T steps and backward from a loss gradient of norm `scale` on unit
 * u_b of sequence b at the last step. */
static mn_status gated_profile(const mn_lab_settings *s, double w_scale, double scale,
                               gated_run *g) {
    int T = s->T, H = s->H, B = H < GATED_SEQS ? H : GATED_SEQS, I = GATED_INPUT;
    mn_lab_bare bl;
    mn_status st = mn_lab_bare_create(&bl, MN_GATED_RESIDUAL, I, H);
    if (st) return st;
    mn_rng rng;
    mn_rng_seed(&rng, s->seed);
    mn_init_config ic = {MN_INIT_UNIFORM, 1.0f, 0.0f, 0};
    bl.l->ops->init(bl.l, &rng, &ic);
    float *W_ih = mn_lab_bare_tensor(&bl, "weight_ih");
    float *W_hh = mn_lab_bare_tensor(&bl, "weight_hh");
    float *b_ih = mn_lab_bare_tensor(&bl, "bias_ih"), *b_hh = mn_lab_bare_tensor(&bl, "bias_hh");
    mn_init_uniform(W_ih, (size_t)H * I, GATED_SPREAD, &rng);   /* rows 0..H-1: α */
    for (int j = 0; j < H; j++) {
        b_ih[j] = (float)log(s->forget / (1 - s->forget));
        b_hh[j] = 0.0f;
    }
    for (size_t i = 0; i < (size_t)2 * H * H; i++) W_hh[i] = (float)(W_hh[i] * w_scale);
    size_t nx = (size_t)T * B * I, ny = (size_t)T * B * H;
    float *x = mn_alloc(nx * sizeof(float)), *y = mn_alloc(ny * sizeof(float));
    float *dy = mn_alloc_zero(ny * sizeof(float));
    if (!x || !y || !dy) {
        st = MN_E_NOMEM;
        goto done;
    }
    for (size_t i = 0; i < nx; i++) x[i] = mn_rng_uniform_range(&rng, -1.0f, 1.0f);
    for (int b = 0; b < B; b++)   /* sequence b: the loss on unit b·H/B */
        dy[((size_t)(T - 1) * B + b) * H + (size_t)b * H / B] = (float)scale;
    memset(g->dh, 0, (size_t)T * sizeof(double));
    bl.l->probe_dh = g->dh;
    bl.l->ops->reset_state(bl.l);
    if ((st = bl.l->ops->forward(bl.l, x, y, T, B, NULL))) goto done;
    mn_recurrent_view v;
    if (!bl.l->ops->inspect || !bl.l->ops->inspect(bl.l, &v)) {
        st = mn_fail(MN_E_STATE, "gated-residual: the layer shows no gates after its forward");
        goto done;
    }
    /* block 0 of act [T,B,2H] is α */
    memset(g->prod, 0, (size_t)T * sizeof(double));
    double sum = 0;
    g->a_min = 1;
    g->a_max = 0;
    for (int b = 0; b < B; b++) {
        int u = (int)((size_t)b * H / B);
        double p = 1;
        g->prod[0] += 1.0 / B;
        for (int k = 1; k < T; k++) {
            p *= v.act[((size_t)(T - k) * B + b) * 2 * H + u];
            g->prod[k] += p / B;
        }
    }
    for (size_t tb = 0; tb < (size_t)T * B; tb++)
        for (int j = 0; j < H; j++) {
            double a = v.act[tb * 2 * H + j];
            sum += a;
            g->a_min = fmin(g->a_min, a);
            g->a_max = fmax(g->a_max, a);
        }
    g->a_mean = sum / ((double)T * B * H);
    st = bl.l->ops->backward(bl.l, dy, NULL, T, B, NULL);
done:
    bl.l->probe_dh = NULL;
    mn_release(x);
    mn_release(y);
    mn_release(dy);
    mn_lab_bare_free(&bl);
    return st;
}

mn_status mn_lab_gated_residual(const mn_lab_options *o, mn_lab_result *r) {
    mn_lab_settings s;
    mn_status st = mn_lab_resolve(o, 1.0, &s);
    if (st) return st;
    int T = s.T, H = s.H, B = H < GATED_SEQS ? H : GATED_SEQS;
    if ((double)T * B * H > GATED_MAX_CELLS)
        return mn_fail(MN_E_ARG, "length x sequences x hidden is %.0f, above the %d the "
                       "gated-residual experiment keeps in memory; lower --length or --hidden",
                       (double)T * B * H, GATED_MAX_CELLS);
    const double scales[] = {0, GATED_SMALL, 1};
    double *buf;
    if ((st = mn_lab_alloc_doubles(&buf, 6 * (size_t)T))) return st;
    gated_run run[3];
    double lf = (T - 1) * log10(s.forget), sc = mn_lab_centered_scale(lf);
    for (int i = 0; i < 3 && !st; i++) {
        run[i].dh = buf + 2 * i * (size_t)T;
        run[i].prod = run[i].dh + T;
        st = gated_profile(&s, scales[i], sc, &run[i]);
    }
    if (st) goto done;
    mn_lab_text(r->claim, sizeof r->claim, "with W_hh = 0 the gated residual cell's step "
                "Jacobian dh_t/dh_(t-1) is exactly diag(alpha_t), so the gradient over k steps "
                "is, unit by unit, the product of the k keep gates alpha_t the forward "
                "computed; recurrent weights add the f' and alpha' terms");
    mn_lab_text(r->quantity, sizeof r->quantity, "mean over units of |dL/dh_0| / |dL/dh_%d| "
                "vs the product of alpha_t, sigmoid(b_alpha) = %g", T - 1, s.forget);
    mn_lab_text(r->criterion, sizeof r->criterion, "W_hh = 0: within %g%% of the product of "
                "alpha at every lag 1..%d (exact up to float32 rounding)",
                100 * GATED_TOLERANCE, T - 1);
    mn_lab_say(r,
        "setup: gated residual layer (MN_GATED_RESIDUAL), H %d, %d inputs U(-1,1), T %d;\n"
        "       alpha's bias logit(%g), its W_ih rows U(+-1), so alpha moves per step and\n"
        "       unit; f's weights PyTorch's init. %d sequences, sequence b with the loss on\n"
        "       unit b*H/%d at the last step only; |dL/dh_t| from the layer's backward probe;\n"
        "       the products of alpha from the gates its forward stored (inspect).\n"
        "       W_hh = 0 (the claim), then %g and 1 times PyTorch's draw U(+-1/sqrt(H)).\n",
        H, GATED_INPUT, T, s.forget, B, B, GATED_SMALL);
    int lags[8], n = mn_lab_table_lags(T, lags);
    mn_lab_say(r, "\n  %6s  %10s  %-33s  %-21s  %s\n", "", "", "----- W_hh = 0 (the claim) ------",
               "---- 0.1 x W_hh ----", "--- W_hh (init) ---");
    mn_lab_say(r, "  %6s  %10s  %10s  %10s  %9s  %10s  %9s  %10s  %9s\n", "lag", "f^lag",
               "prod alpha", "measured", "rel. err", "measured", "rel. dev", "measured",
               "rel. dev");
    for (int i = 0; i < n; i++) {
        int k = lags[i];
        double m[3];
        for (int j = 0; j < 3; j++) m[j] = mn_lab_ratio_at(run[j].dh, T, k);
        mn_lab_say(r, "  %6d  %10.6g  %10.6g  %10.6g  %9.2e  %10.6g  %9.2e  %10.6g  %9.2e\n", k,
                   pow(s.forget, k), run[0].prod[k], m[0], mn_lab_rel_err(m[0], run[0].prod[k]),
                   m[1], mn_lab_rel_err(m[1], run[1].prod[k]), m[2],
                   mn_lab_rel_err(m[2], run[2].prod[k]));
        mn_lab_putf(r, m[0], "ratio_lag_%d", k);
        mn_lab_putf(r, run[0].prod[k], "prod_alpha_lag_%d", k);
    }
    double worst = 0;
    int finite = 1;
    for (int k = 1; k < T; k++) {
        double m = mn_lab_ratio_at(run[0].dh, T, k), e = mn_lab_rel_err(m, run[0].prod[k]);
        worst = e > worst || e != e ? e : worst;
        finite &= isfinite(m);
    }
    double th = run[0].prod[T - 1], m = mn_lab_ratio_at(run[0].dh, T, T - 1);
    double dev[3];
    for (int j = 0; j < 3; j++)
        dev[j] = mn_lab_rel_err(mn_lab_ratio_at(run[j].dh, T, T - 1), run[j].prod[T - 1]);
    mn_lab_say(r, "\n  W_hh = 0: largest relative error over lags 1..%d: %.2e; alpha in [%.6g, "
                  "%.6g],\n  mean %.6g (the product over %d steps is %.6g, sigmoid(b_alpha)^%d "
                  "= %.6g)\n",
               T - 1, worst, run[0].a_min, run[0].a_max, run[0].a_mean, T - 1, th, T - 1,
               pow(s.forget, T - 1));
    mn_lab_say(r, "  information: with W_hh = %g x PyTorch's draw the ratio over %d steps is "
                  "%.6g, its own\n  product of alpha %.6g (%.2e off); with the full draw "
                  "%.6g against %.6g\n  (%.2e off): what the f' and alpha' terms of the "
                  "Jacobian add\n",
               GATED_SMALL, T - 1, mn_lab_ratio_at(run[1].dh, T, T - 1), run[1].prod[T - 1],
               dev[1], mn_lab_ratio_at(run[2].dh, T, T - 1), run[2].prod[T - 1], dev[2]);
    mn_lab_put(r, "forget", s.forget);
    mn_lab_put(r, "length", T);
    mn_lab_put(r, "hidden", H);
    mn_lab_put(r, "sequences", B);
    mn_lab_put(r, "max_rel_error", worst);
    mn_lab_put(r, "forget_power", pow(s.forget, T - 1));
    mn_lab_put(r, "alpha_mean", run[0].a_mean);
    mn_lab_put(r, "alpha_min", run[0].a_min);
    mn_lab_put(r, "alpha_max", run[0].a_max);
    mn_lab_put(r, "small_whh_scale", GATED_SMALL);
    mn_lab_put(r, "small_whh_ratio", mn_lab_ratio_at(run[1].dh, T, T - 1));
    mn_lab_put(r, "small_whh_prod_alpha", run[1].prod[T - 1]);
    mn_lab_put(r, "small_whh_rel_dev", dev[1]);
    mn_lab_put(r, "init_whh_ratio", mn_lab_ratio_at(run[2].dh, T, T - 1));
    mn_lab_put(r, "init_whh_prod_alpha", run[2].prod[T - 1]);
    mn_lab_put(r, "init_whh_rel_dev", dev[2]);
    double lt = th > 0 ? log10(th) : -INFINITY;
    int applies = mn_lab_measurable(lf) && mn_lab_measurable(lt);
    if (!applies)
        mn_lab_text(r->note, sizeof r->note, "the product of alpha over %d steps is 1e%.0f "
                    "(sigmoid(b_alpha)^%d = 1e%.0f), outside the ~1e+-%.0f that a float32 "
                    "backward pass can hold", T - 1, lt, T - 1, lf, MN_LAB_RANGE_DECADES);
    mn_lab_verdict(r, th, m, applies, finite && worst <= GATED_TOLERANCE);
done:
    mn_release(buf);
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
