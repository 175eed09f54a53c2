/* The calculus of the LSTM's gates, measured on mnemo's LSTM layer: the output gate as the
 * cell's only exit (the gradient reaching c_t through h_t is o times its value at o = 1),
 * the forget gates as the cell path's per-step factors (one small one among 0.99s cuts the
 * gradient by that factor), and the input gate's weight gradient x·g·i(1-i)·∂L/∂c, which
 * vanishes as the gate saturates or the candidate goes to 0.
 *
 * Gates are held at chosen values through the weights: a gate's rows of W_ih and W_hh set
 * to 0 and its bias to logit(value) make it that constant at every step and unit. */
#include "init.h"
#include "lab.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define LSTM_INPUT 4          /* input channels of the output-gate and forget-product runs */
#define SATURATED 100.0       /* a pre-activation that holds a sigmoid at 0 or 1 */

static double logit(double p) { return log(p / (1 - p)); }

mn_status mn_lab_bare_pass(mn_lab_bare *bl, const float *x, const float *dy, int T, int B,
                           double *dh, double *dc, float *dx) {
    mn_layer *l = bl->l;
    size_t ny = (size_t)T * B * l->out_size;
    float *y = mn_alloc(ny * sizeof(float));
    if (!y) return MN_E_NOMEM;
    memset(l->grads, 0, l->param_count * sizeof(float));
    if (dh) memset(dh, 0, (size_t)T * sizeof(double));
    if (dc) memset(dc, 0, (size_t)T * sizeof(double));
    if (dx) memset(dx, 0, (size_t)T * B * l->in_size * sizeof(float));
    l->probe_dh = dh;
    l->probe_dc = dc;
    l->ops->reset_state(l);
    mn_status st = l->ops->forward(l, x, y, T, B, NULL);
    if (!st) st = l->ops->backward(l, dy, dx, T, B, NULL);
    l->probe_dh = l->probe_dc = NULL;
    mn_release(y);
    return st;
}

/* An LSTM layer with PyTorch's init from seed, W_hh = 0 (no path from h back into the
 * gates), and gate `gate` (0 i, 1 f, 2 g, 3 o) held at the pre-activation `pre`: its rows
 * of W_ih zero, b_ih = pre, b_hh = 0. */
static mn_status held_lstm(mn_lab_bare *bl, int I, int H, uint64_t seed, int gate, double pre) {
    mn_status st = mn_lab_bare_create(bl, MN_LSTM, I, H);
    if (st) return st;
    mn_rng rng;
    mn_rng_seed(&rng, seed);
    mn_init_config ic = {MN_INIT_UNIFORM, 1.0f, 0.0f, 0};
    bl->l->ops->init(bl->l, &rng, &ic);
    float *W_ih = mn_lab_bare_tensor(bl, "weight_ih"), *W_hh = mn_lab_bare_tensor(bl, "weight_hh");
    float *b_ih = mn_lab_bare_tensor(bl, "bias_ih"), *b_hh = mn_lab_bare_tensor(bl, "bias_hh");
    memset(W_hh, 0, (size_t)4 * H * H * sizeof(float));
    memset(W_ih + (size_t)gate * H * I, 0, (size_t)H * I * sizeof(float));
    for (int j = 0; j < H; j++) {
        b_ih[gate * H + j] = (float)pre;
        b_hh[gate * H + j] = 0.0f;
    }
    return MN_OK;
}

/* ------------------------------------------------------------ output-gate
 *
 * h_t = o⊙tanh(c_t) is the cell's only exit, so with the loss on h alone every gradient
 * that reaches c_t passes through o: ∂L/∂c_t = f_{t+1}⊙∂L/∂c_{t+1} + o⊙(1-tanh²c_t)⊙∂L/∂h_t.
 * With W_hh = 0 the cell does not depend on o and ∂L/∂h_t is the loss's own dy_t, so the
 * whole profile is o times its value at o = 1, step by step, and so are the gradients of
 * the i, f and g weights, which only the cell reaches. At o = 0 nothing reaches the cell.
 *
 * mnemo's sigmoid, as PyTorch's, is exactly 0 at a pre-activation of -100 (e^100 overflows
 * to +Inf and 1/(1 + Inf) = 0), so the gate "held at 0" is 0 and the claim is checked
 * literally. The loss gradient of norm 1e19 keeps o·dy within float32's normal range for
 * the small o, so those ratios are measured at full precision. */

static const double out_gates[] = {1, 0.5, 0.1, 1e-3, 1e-6, 0};
#define OUT_N ((int)(sizeof out_gates / sizeof out_gates[0]))
#define OUT_SEQS 2
#define OUT_SCALE 1e19
#define OUT_TOLERANCE 1e-4

typedef struct {
    double o;         /* the gate the forward computed (read back through inspect) */
    double *dc;       /* [T] batch-mean ‖∂L/∂c_t‖ from the layer's probe */
    double dc_mean, dh_mean;
    double grad_ifg;  /* ‖∂L/∂(W_ih, b_ih, b_hh)‖ over the i, f, g rows */
    double grad_o;    /* the same over the o rows */
    double h_max, tanh_c_max;
} out_run;

/* Σ g² over rows [r0, r1) of a [rows, width] tensor */
static double rows_sumsq(const float *g, size_t r0, size_t r1, size_t width) {
    double s = 0;
    for (size_t i = r0 * width; i < r1 * width; i++) s += (double)g[i] * g[i];
    return s;
}

static mn_status output_run(const mn_lab_settings *s, double o, out_run *run, double *dh) {
    int T = s->T, H = s->H, B = OUT_SEQS, I = LSTM_INPUT;
    mn_lab_bare bl;
    double pre = o >= 1 ? SATURATED : o <= 0 ? -SATURATED : logit(o);
    mn_status st = held_lstm(&bl, I, H, s->seed, 3, pre);
    if (st) return st;
    size_t nx = (size_t)T * B * I, ny = (size_t)T * B * H;
    float *x = mn_alloc(nx * sizeof(float)), *dy = mn_alloc(ny * sizeof(float));
    if (!x || !dy) {
        st = MN_E_NOMEM;
        goto done;
    }
    mn_rng rng;   /* the same input and loss for every o */
    mn_rng_seed(&rng, s->seed + 1);
    for (size_t i = 0; i < nx; i++) x[i] = mn_rng_uniform_range(&rng, -1.0f, 1.0f);
    for (size_t i = 0; i < ny; i++) dy[i] = (float)(mn_rng_normal(&rng) * OUT_SCALE / sqrt(H));
    if ((st = mn_lab_bare_pass(&bl, x, dy, T, B, dh, run->dc, NULL))) goto done;
    mn_recurrent_view v;
    if (!bl.l->ops->inspect(bl.l, &v)) {
        st = mn_fail(MN_E_STATE, "output-gate: the LSTM layer shows no gates after its forward");
        goto done;
    }
    run->o = v.act[3 * H];
    run->h_max = run->tanh_c_max = 0;
    for (size_t i = (size_t)B * H; i < (size_t)(T + 1) * B * H; i++) {
        run->h_max = fmax(run->h_max, fabs(v.hs[i]));
        run->tanh_c_max = fmax(run->tanh_c_max, fabs(tanh(v.cs[i])));
    }
    run->dc_mean = run->dh_mean = 0;
    for (int t = 0; t < T; t++) {
        run->dc_mean += run->dc[t] / T;
        run->dh_mean += dh[t] / T;
    }
    const float *gW = bl.l->grads + (mn_lab_bare_tensor(&bl, "weight_ih") - bl.l->params);
    const float *gbi = bl.l->grads + (mn_lab_bare_tensor(&bl, "bias_ih") - bl.l->params);
    const float *gbh = bl.l->grads + (mn_lab_bare_tensor(&bl, "bias_hh") - bl.l->params);
    size_t h3 = 3 * (size_t)H, h4 = 4 * (size_t)H;
    run->grad_ifg = sqrt(rows_sumsq(gW, 0, h3, I) + rows_sumsq(gbi, 0, h3, 1) +
                         rows_sumsq(gbh, 0, h3, 1));
    run->grad_o = sqrt(rows_sumsq(gW, h3, h4, I) + rows_sumsq(gbi, h3, h4, 1) +
                       rows_sumsq(gbh, h3, h4, 1));
done:
    mn_release(x);
    mn_release(dy);
    mn_lab_bare_free(&bl);
    return st;
}

mn_status mn_lab_output_gate(const mn_lab_options *o, mn_lab_result *r) {
    mn_lab_settings s;
    mn_status st = mn_lab_resolve(o, 1.0, &s);
    if (st) return st;
    int T = s.T;
    double *buf;
    if ((st = mn_lab_alloc_doubles(&buf, (size_t)(OUT_N + 1) * T))) return st;
    out_run run[OUT_N];
    for (int k = 0; k < OUT_N && !st; k++) {
        run[k].dc = buf + (size_t)k * T;
        st = output_run(&s, out_gates[k], &run[k], buf + (size_t)OUT_N * T);
    }
    if (st) goto done;
    mn_lab_text(r->claim, sizeof r->claim, "h_t = o*tanh(c_t) is the cell's only exit: with the "
                "loss on h, the gradient reaching c_t is o times its value at o = 1, so with the "
                "output gate held at 0 none reaches the cell (nor the i, f, g weights), at o = 1 "
                "it does");
    mn_lab_text(r->quantity, sizeof r->quantity, "mean |dL/dc_t| at o held at 0 over its value at "
                "o = 1, vs the o the forward computed");
    mn_lab_text(r->criterion, sizeof r->criterion, "|dL/dc_t| at every step and the i, f, g "
                "weight gradients are o times their o = 1 values (within %g), nonzero at o = 1",
                OUT_TOLERANCE);
    mn_lab_say(r,
        "setup: LSTM layer, H %d, T %d, %d inputs U(-1,1), %d sequences; PyTorch's init for\n"
        "       the i, f, g rows of W_ih, W_hh = 0 (the cell does not depend on o), the\n"
        "       output gate's rows of W_ih zero and its bias logit(o) (+-%g for 1 and 0);\n"
        "       loss on h at every step (the same random dy for every o). |dL/dc_t| from\n"
        "       the layer's backward probe (all paths into c_t), gradients from its backward.\n",
        s.H, T, LSTM_INPUT, OUT_SEQS, SATURATED);
    mn_lab_say(r, "\n  %10s  %11s  %12s  %11s  %9s  %12s  %9s  %11s\n", "o held at", "o (forward)",
               "mean |dL/dc|", "ratio", "rel. err", "i,f,g grads", "rel. err", "max |h_t|");
    double worst = 0, th = 0, m = 0;
    int nonzero = 1;
    for (int t = 0; t < T; t++) nonzero &= run[0].dc[t] > 0;
    nonzero &= run[0].grad_ifg > 0 && run[0].o == 1.0;
    for (int k = 0; k < OUT_N; k++) {
        double ov = run[k].o, ratio = run[k].dc_mean / run[0].dc_mean;
        double gr = run[k].grad_ifg / run[0].grad_ifg, eg = mn_lab_rel_err(gr, ov);
        for (int t = 0; t < T; t++) {
            double e = mn_lab_rel_err(run[k].dc[t] / run[0].dc[t], ov);
            worst = e > worst || e != e ? e : worst;
        }
        worst = eg > worst || eg != eg ? eg : worst;
        mn_lab_say(r, "  %10g  %11.4g  %12.6g  %11.6g  %9.2e  %12.6g  %9.2e  %11.4g\n",
                   out_gates[k], ov, run[k].dc_mean, ratio, mn_lab_rel_err(ratio, ov),
                   run[k].grad_ifg, eg, run[k].h_max);
        char tag[16];
        mn_lab_text(tag, sizeof tag, "%g", out_gates[k]);
        mn_lab_putf(r, ov, "o_%s", tag);
        mn_lab_putf(r, ratio, "dc_ratio_o_%s", tag);
        mn_lab_putf(r, gr, "ifg_grad_ratio_o_%s", tag);
        mn_lab_putf(r, run[k].h_max, "h_max_o_%s", tag);
        th = ov;
        m = ratio;
    }
    const out_run *z = &run[OUT_N - 1];
    mn_lab_say(r,
        "\n  o held at 0: mnemo's sigmoid of -%g is %.4g (exp overflows to +Inf, as in\n"
        "  PyTorch), so the cell receives %.4g of the gradient it gets at o = 1, the i, f, g\n"
        "  weights %.4g. Largest relative error of ratio / o over every o and step: %.2e.\n"
        "  forward, the same gate: max |h_t| = %.4g while max |tanh c_t| = %.4g.\n"
        "  the o gate's own weights: gradient %.4g at o = 1 (o(1 - o) = 0 there), %.4g at o =\n"
        "  0.5; |dL/dh_t| (mean %.4g) is the loss's and does not depend on o.\n",
        SATURATED, z->o, m, z->grad_ifg / run[0].grad_ifg, worst, z->h_max, z->tanh_c_max,
        run[0].grad_o, run[1].grad_o, run[0].dh_mean);
    mn_lab_put(r, "length", T);
    mn_lab_put(r, "hidden", s.H);
    mn_lab_put(r, "max_rel_error", worst);
    mn_lab_put(r, "dc_mean_o_1", run[0].dc_mean);
    mn_lab_put(r, "o_gate_grad_o_1", run[0].grad_o);
    mn_lab_verdict(r, th, m, 1, nonzero && worst <= OUT_TOLERANCE);
done:
    mn_release(buf);
    return st;
}

/* ------------------------------------------------------------ forget-product
 *
 * With W_hh = 0 and the loss at the last step, ∂L/∂c_{t-1} = f_t⊙∂L/∂c_t for t < T-1
 * exactly: the gradient k steps back is the product of the k forget gates it crossed. The
 * forget gate is held at f by its bias and moved to the cut value at one step s = T/2 by a
 * marker input (channel 0 is 1 at step s and 0 elsewhere; the forget rows' weight on it is
 * logit(cut) - logit(f), their other weights 0). */

#define CUT_DEFAULT 0.1

mn_status mn_lab_forget_product(const mn_lab_options *o, mn_lab_result *r) {
    mn_lab_settings s;
    mn_status st = mn_lab_resolve(o, 1.0, &s);
    if (st) return st;
    double cut = o->cut != 0 ? o->cut : CUT_DEFAULT;
    if (!(cut > 0 && cut < 1))
        return mn_fail(MN_E_ARG, "the cut forget value must lie strictly between 0 and 1, got %g",
                       cut);
    int T = s.T, H = s.H, B = 2, I = LSTM_INPUT, cs = T / 2;
    double *dh, *dc, *prod;
    if ((st = mn_lab_alloc_doubles(&dh, 3 * (size_t)T))) return st;
    dc = dh + T;
    prod = dc + T;
    mn_lab_bare bl;
    float *x = NULL;
    if ((st = held_lstm(&bl, I, H, s.seed, 1, logit(s.forget)))) goto out;
    float *W_ih = mn_lab_bare_tensor(&bl, "weight_ih");
    for (int j = 0; j < H; j++) W_ih[(size_t)(H + j) * I] = (float)(logit(cut) - logit(s.forget));
    size_t nx = (size_t)T * B * I;
    if (!(x = mn_alloc(nx * sizeof(float)))) {
        st = MN_E_NOMEM;
        goto done;
    }
    mn_rng rng;
    mn_rng_seed(&rng, s.seed + 1);
    for (size_t i = 0; i < nx; i++)
        x[i] = i % I ? mn_rng_uniform_range(&rng, -1.0f, 1.0f) : (i / I / B == (size_t)cs);
    double lp = (T - 2) * log10(s.forget) + log10(cut);
    if ((st = mn_lab_last_step_profile(bl.l, x, T, B, mn_lab_centered_scale(lp), &rng, dh, dc)))
        goto done;
    mn_recurrent_view v;
    if (!bl.l->ops->inspect(bl.l, &v)) {
        st = mn_fail(MN_E_STATE, "forget-product: the LSTM layer shows no gates after its forward");
        goto done;
    }
    /* the product of the forget gates the forward computed (sequence 0, unit 0; every
     * unit and sequence holds the same value) against the nominal one */
    prod[0] = 1;
    double nominal = 1, worst = 0, worst_stored = 0;
    for (int k = 1; k < T; k++) {
        prod[k] = prod[k - 1] * v.act[(size_t)(T - k) * B * 4 * H + H];
        nominal *= T - k == cs ? cut : s.forget;
        double m = mn_lab_ratio_at(dc, T, k), e = mn_lab_rel_err(m, nominal);
        worst = e > worst || e != e ? e : worst;
        e = mn_lab_rel_err(m, prod[k]);
        worst_stored = e > worst_stored || e != e ? e : worst_stored;
    }
    mn_lab_text(r->claim, sizeof r->claim, "along the cell path the gradient is the product of "
                "the forget gates it crosses: one step with a small forget value among steps at "
                "f cuts long memory by that factor");
    mn_lab_text(r->quantity, sizeof r->quantity, "|dL/dc_0| / |dL/dc_%d| vs f^%d * %g, f = %g",
                T - 1, T - 2, cut, s.forget);
    mn_lab_text(r->criterion, sizeof r->criterion, "within %g%% of the product of the forget "
                "gates at every lag 1..%d", 100 * MN_LAB_RATIO_TOLERANCE, T - 1);
    mn_lab_say(r,
        "setup: LSTM layer, H %d, T %d, W_hh = 0; forget gate bias logit(%g), and %g at step\n"
        "       %d alone through a marker input; PyTorch's init for the other gates on 3\n"
        "       random inputs; loss at the last step only; |dL/dc_t| from the layer's probe.\n",
        H, T, s.forget, cut, cs);
    mn_lab_say(r, "\n  %6s  %12s  %12s  %12s  %10s\n", "lag", "f^lag", "product", "measured",
               "rel. err");
    int lags[10], n = mn_lab_table_lags(T, lags);
    if (T - cs - 1 > 0 && T - cs < T) {   /* the lags just before and at the cut */
        lags[n++] = T - cs - 1;
        lags[n++] = T - cs;
        qsort(lags, (size_t)n, sizeof lags[0], mn_lab_cmp_int);
    }
    double p = 1;
    for (int i = 0, k = 0; i < n; i++) {
        if (i && lags[i] == lags[i - 1]) continue;
        for (; k < lags[i]; k++) p *= T - 1 - k == cs ? cut : s.forget;
        double m = mn_lab_ratio_at(dc, T, lags[i]);
        mn_lab_say(r, "  %6d  %12.6g  %12.6g  %12.6g  %10.2e%s\n", lags[i], pow(s.forget, lags[i]),
                   p, m, mn_lab_rel_err(m, p), lags[i] == T - cs ? "  (crosses the cut)" : "");
        mn_lab_putf(r, m, "ratio_lag_%d", lags[i]);
        mn_lab_putf(r, p, "product_lag_%d", lags[i]);
    }
    double m = mn_lab_ratio_at(dc, T, T - 1), before = mn_lab_ratio_at(dc, T, T - cs - 1);
    double cut_measured = before > 0 ? mn_lab_ratio_at(dc, T, T - cs) / before : 0;
    double memory = m / pow(s.forget, T - 1);
    mn_lab_say(r,
        "\n  factor at the cut step |dL/dc_%d| / |dL/dc_%d|: %.6g (the cut: %g)\n"
        "  long memory against f^%d alone: %.6g (theory cut / f = %.6g)\n"
        "  largest relative error over lags 1..%d: %.2e against the nominal product, %.2e\n"
        "  against the product of the gates the forward computed (read back via inspect)\n",
        cs - 1, cs, cut_measured, cut, T - 1, memory, cut / s.forget, T - 1, worst, worst_stored);
    mn_lab_put(r, "forget", s.forget);
    mn_lab_put(r, "cut", cut);
    mn_lab_put(r, "cut_step", cs);
    mn_lab_put(r, "cut_measured", cut_measured);
    mn_lab_put(r, "memory_vs_forget_power", memory);
    mn_lab_put(r, "max_rel_error", worst);
    mn_lab_put(r, "max_rel_error_stored", worst_stored);
    mn_lab_put(r, "length", T);
    int applies = mn_lab_measurable(lp);
    if (!applies)
        mn_lab_text(r->note, sizeof r->note, "the product f^%d * %g = 1e%.0f lies outside the "
                    "~1e+-%.0f that a float32 backward pass can hold", T - 2, cut, lp,
                    MN_LAB_RANGE_DECADES);
    mn_lab_verdict(r, nominal, m, applies, worst <= MN_LAB_RATIO_TOLERANCE);
done:
    mn_release(x);
    mn_lab_bare_free(&bl);
out:
    mn_release(dh);
    return st;
}

/* ------------------------------------------------------------ input-gate
 *
 * One step from the zero state: c = i·g, h = o·tanh(c), with o held at 1 and W_hh = 0. The
 * input gate's pre-activation gradient is ∂L/∂c·g·i(1-i), so ∂L/∂W_ii = x·g·i(1-i)·∂L/∂c:
 * it vanishes as i saturates (i(1-i) → 0 at either end) or as the candidate g → 0. Each
 * unit j holds one point of the grid: its input-gate row puts the pre-activation a on
 * input channel 0 (x = 0.5, weight 2a: exact in float), its candidate row atanh(g) on
 * channel 1 (x = 1). The upstream ∂L/∂h_j is a random ±U(0.5, 2). The theory is computed
 * in double from the same numbers. The float32 i in [0.5, 1) is spaced 2^-24, so near
 * i = 1 the factor 1 - i carries an error of up to ~2^-23 / (1 - i) relative: the
 * criterion is the tolerance where that is below it ("resolved": a <= 6) and that float
 * bound on top of it everywhere else. */

#define IG_AMAX 12
#define IG_NA (2 * IG_AMAX + 1)
static const double ig_g[] = {-0.9, -0.5, -0.1, -1e-3, -1e-6, 0, 1e-6, 1e-3, 0.1, 0.5, 0.9};
#define IG_NG ((int)(sizeof ig_g / sizeof ig_g[0]))
#define IG_X 0.5
#define IG_TOLERANCE 1e-4
#define IG_ROUNDING 1.2e-7    /* 2^-23: absolute error of the float32 i near 1 */
#define IG_SHOW_G 9           /* the g = 0.5 column in the table over a */

mn_status mn_lab_input_gate(const mn_lab_options *o, mn_lab_result *r) {
    enum { I = 2, H = IG_NA * IG_NG };
    mn_lab_bare bl;
    mn_status st = mn_lab_bare_create(&bl, MN_LSTM, I, H);
    if (st) return st;
    float *W_ih = mn_lab_bare_tensor(&bl, "weight_ih"), *b_ih = mn_lab_bare_tensor(&bl, "bias_ih");
    const float x[I] = {(float)IG_X, 1.0f};
    float dy[H];
    double th[H], up[H], gv[H], iv[H];
    mn_rng rng;
    mn_rng_seed(&rng, o->seed);
    for (int j = 0; j < H; j++) {
        int a = j / IG_NG - IG_AMAX;
        float wg = (float)atanh(ig_g[j % IG_NG]);
        W_ih[(size_t)j * I] = (float)(2 * a);             /* i row: a on channel 0 */
        W_ih[(size_t)(2 * H + j) * I + 1] = wg;           /* g row: atanh(g) on channel 1 */
        b_ih[3 * H + j] = (float)SATURATED;               /* o = 1 */
        double u = mn_rng_uniform_range(&rng, 0.5f, 2.0f) * (mn_rng_uniform(&rng) < 0.5 ? -1 : 1);
        dy[j] = (float)u;
        /* theory in double: i = σ(a), g = tanh of the float weight, ∂L/∂c = u·(1 - tanh²c) */
        iv[j] = 1 / (1 + exp(-(double)a));
        gv[j] = tanh((double)wg);
        double c = iv[j] * gv[j];
        up[j] = (double)dy[j] * (1 - tanh(c) * tanh(c));
        th[j] = IG_X * gv[j] * iv[j] * (1 - iv[j]) * up[j];
    }
    if ((st = mn_lab_bare_pass(&bl, x, dy, 1, 1, NULL, NULL, NULL))) goto done;
    const float *gW = bl.l->grads + (W_ih - bl.l->params);
    const float *gb = bl.l->grads + (b_ih - bl.l->params);
    double worst = 0, worst_all = 0, bias_worst = 0;
    int counted = 0, zero_exact = 1, within_noise = 1;
    double meas[H];
    for (int j = 0; j < H; j++) {
        meas[j] = gW[(size_t)j * I];
        double e = mn_lab_rel_err(meas[j], th[j]), noise = IG_ROUNDING / (1 - iv[j]);
        /* ∂L/∂b_i = ∂L/∂W_ii / x: the bias sees the same pre-activation gradient */
        double eb = mn_lab_rel_err(gb[j] * IG_X, meas[j]);
        bias_worst = eb > bias_worst || eb != eb ? eb : bias_worst;
        worst_all = e > worst_all || e != e ? e : worst_all;
        if (th[j] == 0) {
            zero_exact &= meas[j] == 0;
            continue;
        }
        within_noise &= e <= IG_TOLERANCE + noise;
        if (noise > IG_TOLERANCE) continue;   /* float32 does not resolve 1 - i to it */
        counted++;
        worst = e > worst || e != e ? e : worst;
    }
    mn_lab_text(r->claim, sizeof r->claim, "the input-gate weight gradient is x*g*i(1-i)*dL/dc: "
                "it vanishes as the gate saturates (i -> 0 or 1) or the candidate g -> 0");
    mn_lab_text(r->quantity, sizeof r->quantity, "largest relative difference between dL/dW_ii "
                "and x*g*i(1-i)*dL/dc over the resolved grid points");
    mn_lab_text(r->criterion, sizeof r->criterion, "within %g where float32 resolves 1 - i, "
                "within that plus 2^-23/(1-i) beyond; exactly 0 at g = 0", IG_TOLERANCE);
    mn_lab_say(r,
        "setup: one step of an LSTM layer with %d units, each a grid point: input-gate\n"
        "       pre-activation a = -%d..%d (weight 2a on x = %g), candidate g from its weight\n"
        "       atanh(g) on x = 1, o held at 1, W_hh = 0; upstream dL/dh random +-U(0.5, 2).\n"
        "       measured: the layer's dL/dW_ii; theory x*g*i(1-i)*dL/dc in double.\n",
        H, IG_AMAX, IG_AMAX, IG_X);
    int g_show = IG_SHOW_G;
    mn_lab_say(r, "\n  over the pre-activation, g = %g (i(1-i) from measured / (x g dL/dc)):\n",
               ig_g[g_show]);
    mn_lab_say(r, "  %5s  %10s  %11s  %12s  %12s  %9s  %11s\n", "a", "i", "i(1-i)", "theory",
               "measured", "rel. err", "meas i(1-i)");
    for (int ai = 0; ai < IG_NA; ai++) {
        int j = ai * IG_NG + g_show, a = ai - IG_AMAX;
        double gate = meas[j] / (IG_X * gv[j] * up[j]);
        double e = mn_lab_rel_err(meas[j], th[j]);
        if (a % 2 == 0 || abs(a) <= 1)
            mn_lab_say(r, "  %5d  %10.7f  %11.5g  %12.6g  %12.6g  %9.2e  %11.5g%s\n", a, iv[j],
                       iv[j] * (1 - iv[j]), th[j], meas[j], e, gate,
                       IG_ROUNDING / (1 - iv[j]) > IG_TOLERANCE ? "  (float noise)" : "");
        mn_lab_putf(r, gate, "gate_factor_a%d", a);
        mn_lab_putf(r, meas[j], "grad_a%d", a);
    }
    int a0 = IG_AMAX * IG_NG;
    mn_lab_say(r, "\n  over the candidate, a = 0 (i = 0.5):\n  %10s  %12s  %12s  %9s\n", "g",
               "theory", "measured", "rel. err");
    for (int gi = 0; gi < IG_NG; gi++) {
        int j = a0 + gi;
        mn_lab_say(r, "  %10g  %12.6g  %12.6g  %9.2e\n", ig_g[gi], th[j], meas[j],
                   mn_lab_rel_err(meas[j], th[j]));
        char tag[16];
        mn_lab_text(tag, sizeof tag, "%g", ig_g[gi]);
        mn_lab_putf(r, meas[j], "grad_g_%s", tag);
        mn_lab_putf(r, th[j], "theory_g_%s", tag);
    }
    /* the gate factor measured / (x g dL/dc), at either end against a = 0 */
    double f0 = meas[a0 + g_show] / (IG_X * gv[a0 + g_show] * up[a0 + g_show]);
    int jh = H - IG_NG + g_show;
    double flo = meas[g_show] / (IG_X * gv[g_show] * up[g_show]) / f0;
    double fhi = meas[jh] / (IG_X * gv[jh] * up[jh]) / f0;
    double fth = iv[0] * (1 - iv[0]) / 0.25;
    mn_lab_say(r,
        "\n  vanishing: the measured i(1-i) at a = -%d and +%d is %.4g and %.4g of its value at\n"
        "  a = 0 (theory %.4g); along g it goes as g (times the upstream) and is %s 0 at\n"
        "  g = 0. Largest relative error %.2e over the %d resolved points (a <= 6), %.2e\n"
        "  over all %d (float32's 1 - i near i = 1: %s its bound 2^-23/(1-i)); the bias\n"
        "  gradient equals dL/dW_ii / x to %.2e.\n",
        IG_AMAX, IG_AMAX, flo, fhi, fth, zero_exact ? "exactly" : "NOT exactly", worst, counted,
        worst_all, H, within_noise ? "within" : "NOT within", bias_worst);
    mn_lab_put(r, "max_rel_error", worst);
    mn_lab_put(r, "max_rel_error_all", worst_all);
    mn_lab_put(r, "resolved_points", counted);
    mn_lab_put(r, "points", H);
    mn_lab_put(r, "bias_vs_weight_rel_error", bias_worst);
    mn_lab_put(r, "vanish_ratio_low", flo);
    mn_lab_put(r, "vanish_ratio_high", fhi);
    mn_lab_put(r, "vanish_ratio_theory", fth);
    mn_lab_verdict(r, 0.0, worst, 1,
                   zero_exact && within_noise && counted > 0 && worst <= IG_TOLERANCE &&
                       bias_worst <= IG_TOLERANCE);
done:
    mn_lab_bare_free(&bl);
    return st;
}
