/* What the optimizer and the input scale do to learning: Adam against SGD when the gradient
 * reaching a group of weights has vanished (adam-vanishing), and how many gate units
 * saturate while an LSTM trains on large inputs with and without LayerNorm
 * (layernorm-saturation).
 *
 * adam-vanishing. One real gradient of an LSTM on the adding task (mnemo's backward); the
 * gradient of the input weights W_ih, which stand for the weights that only see early
 * steps, is multiplied by c = 10^-k as a vanishing gradient would, and one step of mnemo's
 * optimizer (mn_optimizer_step, the trainer's own update) is taken from fresh state:
 *   SGD:   Δp = -lr·g                                  ‖Δ‖ scales as c
 *   Adam:  Δp = -lr·m̂/(√v̂ + ε) = -lr·g/(|g| + ε)       at its first step (m̂ = g, v̂ = g²)
 * so Adam's step is about lr per element whatever c is, until c·|g| comes near ε = 1e-8.
 * After the first step m̂/√v̂ is still invariant to a gradient scale that persists, so the
 * first step shows the whole effect. No clipping: the trainer's global-norm clip would tie
 * the groups together, and the claim is about the update rule. The update is read from a
 * zeroed copy of the parameters: with weight decay 0 neither rule reads p, and float32
 * would round a 1e-12 step off a weight of 0.1 to nothing.
 *
 * layernorm-saturation. mnemo's trainer (Adam, clip 1) on the adding task with its inputs
 * multiplied by a scale, once with a plain LSTM and once with the layer-normalized LSTM
 * (ln-lstm: LayerNorm on W_ih·x, on W_hh·h and on c); the gates' saturation measured on a
 * fixed probe batch at the start and after every tenth of the run, by mnemo's gate
 * statistics (mn_gate_stats_measure: sigmoid < 0.05 or > 0.95, |tanh| > 0.95) and, from
 * the same forward view, at the stricter 0.01 / 0.99. Chrono init is off for both: it sets
 * forget and input gates near 0 and 1 on purpose, which would be counted as saturation
 * that the input scale did not cause. */
#include "lab.h"
#include "model.h"
#include "optim.h"
#include "task.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ adam-vanishing */

#define ADAM_DECADES 6            /* k = 0..6 */
#define ADAM_BATCH 32
#define ADAM_TOLERANCE 0.10       /* Adam's update within 10% of its k = 0 value ... */
#define EPS_NEGLIGIBLE 0.01       /* ... wherever ε moves the closed form by less than 1% */
#define SLOPE_TOLERANCE 0.01      /* SGD's fitted slope within 1% of -1 per decade */
#define CLOSED_FORM_TOLERANCE 1e-4   /* measured against lr·c·g/(c|g| + ε), every k */

enum { G_IH, G_HH, G_BIAS, G_HEAD, NGROUPS };
static const char *const group_label[NGROUPS] = {"W_ih (scaled)", "W_hh", "biases", "head"};
static const char *const group_key[NGROUPS] = {"w_ih", "w_hh", "bias", "head"};

static int group_of(const char *name) {
    if (!strncmp(name, "head.", 5)) return G_HEAD;
    if (strstr(name, "weight_ih")) return G_IH;
    if (strstr(name, "weight_hh")) return G_HH;
    return G_BIAS;
}

/* One forward and backward of the model on B adding-task sequences: m->grads. */
static mn_status one_gradient(mn_model *m, mn_task *task, int B) {
    const mn_batch *b;
    double items, sum;
    mn_status st = mn_task_next(task, B, &b);
    if (st || (st = mn_model_loss_items(m, b, &items))) return st;
    memset(m->grads, 0, m->nparams * sizeof(float));
    return mn_model_run(m, b, 0, b->T, 0, 1, items > 0 ? 1.0 / items : 0.0, &sum);
}

/* One step of the optimizer `kind` from fresh state on p = 0 with gradient g: the norm of
 * the update per group into norm[NGROUPS]. */
static mn_status step_norms(mn_model *m, mn_optimizer_kind kind, float *p, const float *g,
                            float lr, double *norm) {
    mn_train_config tc;
    mn_train_config_init(&tc);
    tc.optimizer = kind;
    tc.weight_decay = 0;
    mn_optimizer opt;
    mn_status st = mn_optimizer_init(&opt, &tc, m->nparams);
    if (st || (st = mn_optimizer_use_groups(&opt, &tc, m))) {
        mn_optimizer_free(&opt);
        return st;
    }
    memset(p, 0, m->nparams * sizeof(float));
    mn_optimizer_step(&opt, p, g, lr);
    mn_optimizer_free(&opt);
    for (int k = 0; k < NGROUPS; k++) norm[k] = 0;
    for (int i = 0; i < m->ntensors; i++) {
        const mn_tensor_view *t = &m->tensors[i];
        double ss = 0;
        for (size_t j = 0; j < t->size; j++) ss += (double)p[t->offset + j] * p[t->offset + j];
        norm[group_of(t->name)] += ss;
    }
    for (int k = 0; k < NGROUPS; k++) norm[k] = sqrt(norm[k]);
    return MN_OK;
}

/* Least-squares slope of y over x = 0..n-1. */
static double slope(const double *y, int n) {
    double mx = (n - 1) / 2.0, my = 0, sxy = 0, sxx = 0;
    for (int i = 0; i < n; i++) my += y[i] / n;
    for (int i = 0; i < n; i++) {
        sxy += (i - mx) * (y[i] - my);
        sxx += (i - mx) * (i - mx);
    }
    return sxx > 0 ? sxy / sxx : NAN;
}

/* The update norms of one k: W_ih's gradient times c (in g), SGD's and Adam's steps, and
 * the closed forms from the same float gradient: lr·c‖g‖ and lr·√Σ(c g/(c|g| + ε))². */
typedef struct {
    double sgd[NGROUPS], adam[NGROUPS];
    double sgd_th, adam_th;
    double eps_share;     /* 1 − Adam's closed form / its ε = 0 value (lr·√(nonzero)) */
} decade;

static mn_status measure_decade(mn_model *m, double c, float lr, double eps, float *p, float *g,
                                decade *d) {
    double ss = 0, adam_ss = 0, nonzero = 0;
    memcpy(g, m->grads, m->nparams * sizeof(float));
    for (int i = 0; i < m->ntensors; i++) {
        const mn_tensor_view *t = &m->tensors[i];
        if (group_of(t->name) != G_IH) continue;
        for (size_t j = t->offset; j < t->offset + t->size; j++) {
            g[j] = (float)(g[j] * c);
            double a = fabs((double)g[j]), q = a / (a + eps);
            ss += a * a;
            adam_ss += q * q;
            nonzero += a > 0;
        }
    }
    d->sgd_th = lr * sqrt(ss);
    d->adam_th = lr * sqrt(adam_ss);
    d->eps_share = nonzero > 0 ? 1 - sqrt(adam_ss / nonzero) : 1;
    mn_status st = step_norms(m, MN_OPT_SGD, p, g, lr, d->sgd);
    return st ? st : step_norms(m, MN_OPT_ADAM, p, g, lr, d->adam);
}

mn_status mn_lab_adam_vanishing(const mn_lab_options *o, mn_lab_result *r) {
    mn_lab_settings s;
    mn_status st = mn_lab_resolve(o, 1.0, &s);
    if (st) return st;
    int B = s.batch ? s.batch : ADAM_BATCH;
    enum { K = ADAM_DECADES + 1 };
    mn_task *task = NULL;
    mn_model *m = NULL;
    float *p = NULL, *g = NULL;
    double *mag = NULL;   /* |g| of W_ih's weights at k = 0, ascending */
    size_t n_ih = 0;
    mn_model_config mc;
    mn_train_config tc;
    mn_train_config_init(&tc);
    const float lr = tc.lr;
    const double eps = tc.eps;
    decade d[K];
    if ((st = mn_lab_adding_setup(s.T, s.seed, MN_LSTM, s.H, &task, &mc)) ||
        (st = mn_model_create(&mc, s.seed, &m)) || (st = one_gradient(m, task, B)))
        goto done;
    for (int i = 0; i < m->ntensors; i++)
        if (group_of(m->tensors[i].name) == G_IH) n_ih += m->tensors[i].size;
    p = mn_alloc(m->nparams * sizeof(float));
    g = mn_alloc(m->nparams * sizeof(float));
    if (!p || !g || (st = mn_lab_alloc_doubles(&mag, n_ih))) {
        st = st ? st : MN_E_NOMEM;
        goto done;
    }
    for (int i = 0, n = 0; i < m->ntensors; i++)
        for (size_t j = 0; group_of(m->tensors[i].name) == G_IH && j < m->tensors[i].size; j++)
            mag[n++] = fabs((double)m->grads[m->tensors[i].offset + j]);
    qsort(mag, n_ih, sizeof *mag, mn_lab_cmp_double);
    for (int k = 0; k < K && !st; k++) st = measure_decade(m, pow(10.0, -k), lr, eps, p, g, &d[k]);
    if (st) goto done;

    mn_lab_text(r->claim, sizeof r->claim, "when the gradient reaching a group of weights is "
                "scaled down by 10^-k (a vanished gradient from early steps), an SGD update of "
                "that group shrinks by 10^-k while Adam's normalized update g/(|g| + eps) "
                "stays about lr per weight, until c|g| nears eps");
    mn_lab_text(r->quantity, sizeof r->quantity, "Adam's |dW_ih| at the largest k where eps "
                "is negligible, relative to k = 0");
    mn_lab_text(r->criterion, sizeof r->criterion, "Adam within %g%% of k = 0 where eps takes "
                "< %g%%; SGD slope within %g%% of -1/decade; other groups unchanged",
                100 * ADAM_TOLERANCE, 100 * EPS_NEGLIGIBLE, 100 * SLOPE_TOLERANCE);
    mn_lab_say(r,
        "setup: LSTM, H %d, one backward pass on %d adding-task sequences, T %d (mnemo's\n"
        "       model); W_ih's gradient (%zu weights, standing for a group that sees only\n"
        "       early steps) times c = 10^-k, the rest as computed. One step of\n"
        "       mn_optimizer_step from fresh state, lr %g, no weight decay, no clipping:\n"
        "       SGD, and Adam (betas %g, %g, eps %g); update norms per parameter group.\n",
        s.H, B, s.T, n_ih, (double)lr, (double)tc.beta1, (double)tc.beta2, eps);
    mn_lab_say(r, "\n  %2s  %7s  %12s  %10s  %12s  %10s  %12s  %9s\n", "k", "c", "SGD |dW_ih|",
               "vs k=0", "Adam |dW_ih|", "vs k=0", "closed form", "eps takes");
    double lsgd[K], ladam[K], worst_closed = 0;
    int eps_from = -1, negligible_upto = -1, within_upto = -1, adam_ok = 1, exact = 1;
    for (int k = 0; k < K; k++) {
        double rs = d[k].sgd[G_IH] / d[0].sgd[G_IH], ra = d[k].adam[G_IH] / d[0].adam[G_IH];
        double ce = mn_lab_rel_err(d[k].adam[G_IH], d[k].adam_th);
        worst_closed = ce > worst_closed || ce != ce ? ce : worst_closed;
        lsgd[k] = log10(d[k].sgd[G_IH]);
        ladam[k] = log10(d[k].adam[G_IH]);
        if (d[k].eps_share < EPS_NEGLIGIBLE && negligible_upto == k - 1) {
            negligible_upto = k;
            adam_ok &= fabs(ra - 1) <= ADAM_TOLERANCE;
        }
        if (fabs(ra - 1) <= ADAM_TOLERANCE && within_upto == k - 1) within_upto = k;
        if (eps_from < 0 && d[k].eps_share >= EPS_NEGLIGIBLE) eps_from = k;
        for (int q = 1; q < NGROUPS; q++)
            exact &= d[k].sgd[q] == d[0].sgd[q] && d[k].adam[q] == d[0].adam[q];
        mn_lab_say(r, "  %2d  %7.0e  %12.6g  %10.3e  %12.6g  %10.6f  %12.6g  %8.2f%%\n", k,
                   pow(10.0, -k), d[k].sgd[G_IH], rs, d[k].adam[G_IH], ra, d[k].adam_th,
                   100 * d[k].eps_share);
        mn_lab_putf(r, rs, "sgd_ratio_k%d", k);
        mn_lab_putf(r, ra, "adam_ratio_k%d", k);
        mn_lab_putf(r, d[k].eps_share, "eps_share_k%d", k);
    }
    mn_lab_say(r, "\n  closed form: lr*sqrt(sum over W_ih of (c g/(c|g| + eps))^2); eps takes: "
                  "1 - that / lr*sqrt(n),\n  its value at eps = 0\n");
    mn_lab_say(r, "\n  %-14s %8s  %14s  %15s  %s\n", "group", "weights", "SGD |d| at k=0",
               "Adam |d| at k=0", "same at every k");
    for (int q = 0; q < NGROUPS; q++) {
        size_t n = 0;
        int same = 1;
        for (int i = 0; i < m->ntensors; i++)
            if (group_of(m->tensors[i].name) == q) n += m->tensors[i].size;
        for (int k = 0; k < K; k++)
            same &= d[k].sgd[q] == d[0].sgd[q] && d[k].adam[q] == d[0].adam[q];
        mn_lab_say(r, "  %-14s %8zu  %14.6g  %15.6g  %s\n", group_label[q], n, d[0].sgd[q],
                   d[0].adam[q], q == G_IH ? "(scaled)" : same ? "yes" : "NO");
        mn_lab_putf(r, d[0].sgd[q], "sgd_norm_%s", group_key[q]);
        mn_lab_putf(r, d[0].adam[q], "adam_norm_%s", group_key[q]);
    }
    double sgd_slope = slope(lsgd, K), adam_slope = slope(ladam, K);
    double adam_rms = d[0].adam[G_IH] / (lr * sqrt((double)n_ih));
    double med = mag[n_ih / 2], low = mag[n_ih / 10], least = mag[0];
    mn_lab_say(r,
        "\n  SGD: fitted slope of log10 |dW_ih| over k = 0..%d: %.6f per decade (theory -1)\n"
        "  Adam: fitted slope %.4f per decade; at k = 0 its rms step per weight is %.4f x lr;\n"
        "  within %g%% of its k = 0 value up to k = %d (SGD's is 1e-%d there); largest gap\n"
        "  to its closed form %.2e\n",
        K - 1, sgd_slope, adam_slope, adam_rms, 100 * ADAM_TOLERANCE, within_upto,
        within_upto, worst_closed);
    mn_lab_say(r, "  W_ih's |g| at k = 0: median %.3g, tenth percentile %.3g, smallest %.3g:\n",
               med, low, least);
    if (eps_from >= 0)
        mn_lab_say(r, "  eps = %g starts to matter at k = %d, where the smallest tenth of the "
                      "weights have\n  c|g| < %.2g: it takes %.1f%% off Adam's update there, "
                      "%.1f%% at k = %d\n", eps, eps_from, low * pow(10.0, -eps_from),
                   100 * d[eps_from].eps_share, 100 * d[K - 1].eps_share, K - 1);
    else mn_lab_say(r, "  eps = %g takes less than %g%% off Adam's update at every k\n", eps,
                    100 * EPS_NEGLIGIBLE);
    mn_lab_put(r, "length", s.T);
    mn_lab_put(r, "hidden", s.H);
    mn_lab_put(r, "batch", B);
    mn_lab_put(r, "lr", lr);
    mn_lab_put(r, "eps", eps);
    mn_lab_put(r, "sgd_slope", sgd_slope);
    mn_lab_put(r, "adam_slope", adam_slope);
    mn_lab_put(r, "adam_rms_over_lr", adam_rms);
    mn_lab_put(r, "adam_within_10pct_up_to_k", within_upto);
    mn_lab_put(r, "eps_matters_from_k", eps_from);
    mn_lab_put(r, "eps_negligible_up_to_k", negligible_upto);
    mn_lab_put(r, "grad_median", med);
    mn_lab_put(r, "grad_p10", low);
    mn_lab_put(r, "closed_form_max_rel_error", worst_closed);
    int applies = negligible_upto >= 1;
    if (!applies)
        mn_lab_text(r->note, sizeof r->note, "W_ih's gradient is so small that eps already "
                    "takes %g%% or more off Adam's update at k = %d: there is no range of k to "
                    "compare over", 100 * EPS_NEGLIGIBLE, negligible_upto + 1);
    mn_lab_verdict(r, 1.0, applies ? d[negligible_upto].adam[G_IH] / d[0].adam[G_IH] : NAN,
                   applies, adam_ok && fabs(sgd_slope + 1) <= SLOPE_TOLERANCE && exact &&
                                worst_closed <= CLOSED_FORM_TOLERANCE);
done:
    mn_release(mag);
    mn_release(p);
    mn_release(g);
    mn_model_free(m);
    mn_task_free(task);
    return st;
}

/* ------------------------------------------------------------ layernorm-saturation */

#define SAT_SCALE 100.0       /* x10 is not enough at PyTorch's init: see the README */
#define SAT_MAX_SCALE 1e6
#define SAT_STEPS 200
#define SAT_BATCH 32
#define SAT_POINTS 10          /* measured at step 0 and after every tenth of the run */
#define SAT_PROBE 16           /* sequences of the fixed probe batch */
#define SAT_STRICT 0.01f       /* sigmoid < 0.01 or > 0.99, |tanh| > 0.99 */
#define SAT_PROBE_SEED 0x6A09E667F3BCC909ull   /* the probe's stream, apart from training's */

typedef struct {
    int n, step[SAT_POINTS + 1];
    double strict[SAT_POINTS + 1], loose[SAT_POINTS + 1];   /* all gate units */
    double sig[SAT_POINTS + 1], tnh[SAT_POINTS + 1];        /* strict, by gate kind */
    double strict_mean, loose_mean, sig_mean, tnh_mean;     /* over the measurements */
    double loss;             /* the last training step's */
    int diverged;
} sat_run;

/* Saturation of layer 0's gates on the probe batch: mnemo's gate statistics (0.05 / 0.95)
 * and, from the same forward view, the stricter 0.01 / 0.99, all gate units weighted
 * alike (LSTM: three sigmoid gates, one tanh). */
static mn_status sat_measure(mn_model *m, const mn_batch *b, sat_run *run) {
    mn_gate_stats gs;
    mn_recurrent_view v;
    mn_status st = mn_gate_stats_measure(m, b, 0, &gs, NULL, NULL);
    if (st || (st = mn_diag_forward_view(m, b, 0, &v))) return st;
    double sig = 0, tnh = 0, n_sig = 0, n_tnh = 0;
    for (size_t row = 0; row < (size_t)v.T * v.B; row++)
        for (int q = 0; q < v.gates; q++) {
            const float *a = v.act + (row * v.gates + q) * v.H;
            if (v.sigmoid_gates >> q & 1u) {
                for (int j = 0; j < v.H; j++) sig += a[j] < SAT_STRICT || a[j] > 1 - SAT_STRICT;
                n_sig += v.H;
            } else if (q == v.tanh_gate) {
                for (int j = 0; j < v.H; j++) tnh += fabsf(a[j]) > 1 - SAT_STRICT;
                n_tnh += v.H;
            }
        }
    int i = run->n++;
    run->sig[i] = n_sig > 0 ? sig / n_sig : 0;
    run->tnh[i] = n_tnh > 0 ? tnh / n_tnh : 0;
    run->strict[i] = (sig + tnh) / MN_MAX(1.0, n_sig + n_tnh);
    run->loose[i] = (gs.saturated_gates * n_sig + gs.saturated_tanh * n_tnh) /
                    MN_MAX(1.0, n_sig + n_tnh);
    return MN_OK;
}

/* Train a plain (ln = 0) or layer-normalized LSTM on the adding task with inputs × scale,
 * measuring saturation along the way. */
static mn_status sat_train(const mn_lab_settings *s, int ln, double scale, sat_run *run) {
    mn_task *task = NULL, *probe_task = NULL;
    mn_model *m = NULL;
    mn_trainer *tr = NULL;
    mn_model_config mc;
    mn_train_config tc;
    const mn_batch *probe;
    memset(run, 0, sizeof *run);
    mn_status st = mn_lab_adding_setup(s->T, s->seed, MN_LSTM, s->H, &task, &mc);
    if (st) return st;
    if (ln) {
        mc.num_blocks = 1;
        snprintf(mc.blocks[0].kind, sizeof mc.blocks[0].kind, "ln-lstm");
        mc.blocks[0].width = s->H;
    }
    task->input_scale = (float)scale;
    mn_lab_train_setup(&tc, s->steps, s->batch, s->seed, 1);
    if ((st = mn_task_create("adding", s->T, s->seed ^ SAT_PROBE_SEED, &probe_task)))
        goto done;
    probe_task->input_scale = (float)scale;
    if ((st = mn_task_next(probe_task, SAT_PROBE, &probe)) ||
        (st = mn_model_create(&mc, s->seed, &m)) || (st = sat_measure(m, probe, run)) ||
        !s->steps || (st = mn_trainer_create(m, task, &tc, &tr)))
        goto done;
    mn_trainer_set_stop(tr, s->stop);
    run->step[0] = 0;
    for (int i = 1; i <= s->steps; i++) {
        mn_step_stats ss;
        if ((st = mn_trainer_step(tr, &ss))) break;
        run->loss = ss.loss;
        if ((long)i * SAT_POINTS / s->steps == (long)(i - 1) * SAT_POINTS / s->steps) continue;
        run->step[run->n] = i;
        if ((st = sat_measure(m, probe, run))) break;
    }
    if (st == MN_E_NUMERIC) {   /* diverged: a measurement, not an error */
        run->diverged = 1;
        st = MN_OK;
    }
    for (int i = 0; i < run->n; i++) {
        run->strict_mean += run->strict[i] / run->n;
        run->loose_mean += run->loose[i] / run->n;
        run->sig_mean += run->sig[i] / run->n;
        run->tnh_mean += run->tnh[i] / run->n;
    }
done:
    mn_trainer_free(tr);
    mn_model_free(m);
    mn_task_free(task);
    mn_task_free(probe_task);
    return st;
}

mn_status mn_lab_layernorm_saturation(const mn_lab_options *o, mn_lab_result *r) {
    mn_lab_settings s;
    mn_status st = mn_lab_resolve(o, 1.0, &s);
    if (st) return st;
    double scale = o->scale != 0 ? o->scale : SAT_SCALE;
    if (!(scale > 0 && scale <= SAT_MAX_SCALE))
        return mn_fail(MN_E_ARG, "input scale must be greater than 0 and at most %g, got %g",
                       SAT_MAX_SCALE, scale);
    if (!s.steps) s.steps = SAT_STEPS;
    if (!s.batch) s.batch = SAT_BATCH;
    sat_run run[2], at_init;   /* [0] LSTM, [1] LN-LSTM */
    for (int ln = 0; ln < 2; ln++) {
        if ((st = sat_train(&s, ln, scale, &run[ln]))) return st;
        mn_lab_progress(o, "layernorm-saturation: %s at scale %g: %.4f of the gate units "
                        "saturated on average", ln ? "ln-lstm" : "lstm", scale,
                        run[ln].strict_mean);
    }
    /* information: the same models at initialization over a range of scales */
    static const double sweep[] = {1, 10, 100, 1000};
    enum { NSWEEP = sizeof sweep / sizeof sweep[0] };
    double init_strict[2][NSWEEP];
    mn_lab_settings s0 = s;
    s0.steps = 0;
    for (int ln = 0; ln < 2; ln++)
        for (int i = 0; i < NSWEEP; i++) {
            if ((st = sat_train(&s0, ln, sweep[i], &at_init))) return st;
            init_strict[ln][i] = at_init.strict[0];
        }
    mn_lab_text(r->claim, sizeof r->claim, "the pre-activations of a plain LSTM's gates grow "
                "with the input scale and push sigmoid and tanh units into saturation; a "
                "layer-normalized LSTM normalizes W_ih x (and W_hh h) first, so at a large input "
                "scale fewer of its gate units saturate while it trains");
    mn_lab_text(r->quantity, sizeof r->quantity, "mean fraction of saturated gate units (0.01 "
                "/ 0.99) while training, LN-LSTM (theory: the LSTM's, a bound)");
    mn_lab_text(r->criterion, sizeof r->criterion, "LN-LSTM's mean below the LSTM's at both "
                "thresholds (0.01/0.99 and diagnose's 0.05/0.95)");
    mn_lab_say(r,
        "setup: mnemo's trainer (Adam lr 5e-3, clip 1) on the adding task, T %d, inputs\n"
        "       x %g; LSTM and ln-lstm (LayerNorm on W_ih x, W_hh h and c), H %d, chrono\n"
        "       off (forget bias 1), %d steps of batch %d, the same seed. Gates measured on\n"
        "       a fixed probe batch of %d sequences (also x %g) at step 0 and after every\n"
        "       tenth of the run: strict sigmoid < 0.01 or > 0.99, |tanh| > 0.99; diagnose's\n"
        "       0.05 / 0.95 (mn_gate_stats_measure). Fractions of all gate units i, f, g, o.\n",
        s.T, scale, s.H, s.steps, s.batch, SAT_PROBE, scale);
    mn_lab_say(r, "\n  %6s  %-27s  %-27s\n  %6s  %8s %8s %9s  %8s %8s %9s\n", "",
               "---------- LSTM -----------", "-------- LN-LSTM ----------", "step", "strict",
               "sigmoid", "0.05/0.95", "strict", "sigmoid", "0.05/0.95");
    for (int i = 0; i < run[0].n && i < run[1].n; i++)
        mn_lab_say(r, "  %6d  %8.4f %8.4f %9.4f  %8.4f %8.4f %9.4f\n", run[0].step[i],
                   run[0].strict[i], run[0].sig[i], run[0].loose[i], run[1].strict[i],
                   run[1].sig[i], run[1].loose[i]);
    mn_lab_say(r, "  %6s  %8.4f %8.4f %9.4f  %8.4f %8.4f %9.4f\n", "mean", run[0].strict_mean,
               run[0].sig_mean, run[0].loose_mean, run[1].strict_mean, run[1].sig_mean,
               run[1].loose_mean);
    mn_lab_say(r, "\n  tanh gate g alone (strict), mean: LSTM %.4f, LN-LSTM %.4f\n  last "
                  "training loss: LSTM %.4g, LN-LSTM %.4g (baseline 1/6)\n", run[0].tnh_mean,
               run[1].tnh_mean, run[0].loss, run[1].loss);
    mn_lab_say(r, "  information, strict fraction at step 0 over input scales:\n  %8s", "scale");
    for (int i = 0; i < NSWEEP; i++) mn_lab_say(r, "  %8g", sweep[i]);
    for (int ln = 0; ln < 2; ln++) {
        mn_lab_say(r, "\n  %8s", ln ? "LN-LSTM" : "LSTM");
        for (int i = 0; i < NSWEEP; i++) {
            mn_lab_say(r, "  %8.4f", init_strict[ln][i]);
            mn_lab_putf(r, init_strict[ln][i], "%s_init_scale_%g", ln ? "ln_lstm" : "lstm",
                        sweep[i]);
        }
    }
    mn_lab_say(r, "\n");
    const char *key[2] = {"lstm", "ln_lstm"};
    for (int ln = 0; ln < 2; ln++) {
        mn_lab_putf(r, run[ln].strict_mean, "%s_saturated", key[ln]);
        mn_lab_putf(r, run[ln].loose_mean, "%s_saturated_095", key[ln]);
        mn_lab_putf(r, run[ln].strict[0], "%s_saturated_init", key[ln]);
        mn_lab_putf(r, run[ln].strict[run[ln].n - 1], "%s_saturated_end", key[ln]);
        mn_lab_putf(r, run[ln].loss, "%s_last_loss", key[ln]);
    }
    mn_lab_put(r, "scale", scale);
    mn_lab_put(r, "steps", s.steps);
    mn_lab_put(r, "length", s.T);
    mn_lab_put(r, "hidden", s.H);
    int applies = run[0].strict_mean > 0 && !run[0].diverged && !run[1].diverged;
    if (run[0].diverged || run[1].diverged)
        mn_lab_text(r->note, sizeof r->note, "the %s run diverged (NaN/Inf in 5 steps in a "
                    "row), so its saturation covers only the steps before",
                    run[0].diverged ? "LSTM" : "LN-LSTM");
    else if (!applies)
        mn_lab_text(r->note, sizeof r->note, "no gate unit of the plain LSTM saturates at "
                    "scale %g, so there is nothing for LayerNorm to lower; raise --scale", scale);
    mn_lab_verdict(r, run[0].strict_mean, run[1].strict_mean, applies,
                   run[1].strict_mean < run[0].strict_mean &&
                       run[1].loose_mean < run[0].loose_mean);
    return MN_OK;
}
