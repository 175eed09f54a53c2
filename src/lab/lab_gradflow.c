/* Gradient flow through time: vanishing and exploding gradients (and what global-norm
 * clipping does to the update), and the orthogonal recurrence that keeps the norm.
 *
 * The ratios are measured on a tanh RNN whose state stays at 0: W_ih = 0, biases 0, zero
 * input. There tanh' = 1, so the backward recurrence is exactly dh_{t-1} = W_hhᵀ·dh_t, and
 * with W_hh = ρ·Q (Q orthogonal) every step scales the norm by exactly ρ. */
#include "lab.h"
#include "model.h"

#include <math.h>
#include <string.h>

static void ratio_table(mn_lab_result *r, const double *dh, int T, double rho, const char *what) {
    int lags[8], n = mn_lab_table_lags(T, lags);
    mn_lab_say(r, "\n  %6s  %14s  %14s  %10s\n", "lag", "theory rho^lag", what, "rel. error");
    for (int i = 0; i < n; i++) {
        double th = pow(rho, lags[i]), m = mn_lab_ratio_at(dh, T, lags[i]);
        mn_lab_say(r, "  %6d  %14.6g  %14.6g  %10.2e\n", lags[i], th, m, mn_lab_rel_err(m, th));
        mn_lab_putf(r, m, "ratio_lag_%d", lags[i]);
    }
}

/* The gradient horizon ρ predicts: the largest lag with ρ^lag >= threshold. */
static int theory_horizon(double rho, int T) {
    if (rho >= 1) return T - 1;
    double h = floor(log(MN_LAB_HORIZON_THRESHOLD) / log(rho) + 1e-9);
    return h > T - 1 ? T - 1 : (int)h;
}

/* -------------------------------------------- vanishing / exploding / orthogonal */

/* Measures the ratio ‖∂L/∂h_0‖ / ‖∂L/∂h_{T-1}‖ of the linear-regime RNN at ρ, writes the
 * settings and the lag table into the report, and returns the measured ratio in *ratio
 * (and whether float32 can hold it in *applies). dh: [T] workspace. */
static mn_status ratio_experiment(const mn_lab_settings *s, mn_lab_result *r, double *dh,
                                  double *ratio, int *applies) {
    int T = s->T;
    double log10_theory = (T - 1) * log10(s->radius);
    *applies = mn_lab_measurable(log10_theory);
    mn_status st = mn_lab_linear_rnn_profile(s->H, T, s->radius, MN_LAB_W_ORTHOGONAL, s->seed,
                                             mn_lab_centered_scale(log10_theory), dh);
    if (st) return st;
    *ratio = mn_lab_ratio_at(dh, T, T - 1);
    mn_lab_say(r,
        "setup: tanh RNN layer, H %d, T %d; W_hh = %g * Q (Q random orthogonal), W_ih = 0,\n"
        "       biases 0, zero input: the state stays at 0 where tanh' = 1, so the\n"
        "       recurrence is exactly linear. Loss at the last step only; the norms are\n"
        "       the layer's own backward probes of |dL/dh_t| (batch of 2).\n",
        s->H, T, s->radius);
    ratio_table(r, dh, T, s->radius, "measured");
    int h = mn_gradient_horizon(dh, T, MN_LAB_HORIZON_THRESHOLD), ht = theory_horizon(s->radius, T);
    mn_lab_say(r, "\n  gradient horizon (ratio >= %g): measured %d steps, theory %d\n",
               MN_LAB_HORIZON_THRESHOLD, h, ht);
    mn_lab_put(r, "horizon", h);
    mn_lab_put(r, "horizon_theory", ht);
    mn_lab_put(r, "radius", s->radius);
    mn_lab_put(r, "length", T);
    mn_lab_put(r, "hidden", s->H);
    if (!*applies)
        mn_lab_text(r->note, sizeof r->note, "rho^(T-1) = 1e%.0f lies outside the ~1e+-%.0f that a "
                    "float32 backward pass can hold; measured what float32 gives", log10_theory,
                    MN_LAB_RANGE_DECADES);
    return MN_OK;
}

mn_status mn_lab_vanishing(const mn_lab_options *o, mn_lab_result *r) {
    mn_lab_settings s;
    double *dh;
    mn_status st = mn_lab_resolve(o, 0.9, &s);
    if (st || (st = mn_lab_alloc_doubles(&dh, (size_t)s.T))) return st;
    double ratio = 0;
    int applies = 0;
    mn_lab_text(r->claim, sizeof r->claim, "through T-1 steps of a recurrence W_hh = rho*Q the "
                "gradient is scaled by rho^(T-1): for rho < 1 it vanishes geometrically");
    mn_lab_text(r->quantity, sizeof r->quantity, "|dL/dh_0| / |dL/dh_%d| vs rho^%d, rho = %g",
                s.T - 1, s.T - 1, s.radius);
    mn_lab_text(r->criterion, sizeof r->criterion, "within %g%% of rho^(T-1)",
                100 * MN_LAB_RATIO_TOLERANCE);
    st = ratio_experiment(&s, r, dh, &ratio, &applies);
    double th = pow(s.radius, s.T - 1);
    if (!st)
        mn_lab_verdict(r, th, ratio, applies,
                       mn_lab_rel_err(ratio, th) <= MN_LAB_RATIO_TOLERANCE);
    mn_release(dh);
    return st;
}

/* One training step of mnemo's trainer (SGD, lr 1, no momentum) on a batch of the adding
 * task with a tanh RNN whose W_hh = ρ·Q; delta receives the parameter update it applied
 * (n floats, caller frees) and *grad_norm the gradient norm before clipping. */
static mn_status sgd_update(const mn_lab_settings *s, double clip, float **delta, size_t *n,
                            double *grad_norm) {
    mn_task *task = NULL;
    mn_model *m = NULL;
    mn_trainer *tr = NULL;
    mn_model_config mc;
    mn_train_config tc;
    *delta = NULL;
    mn_status st = mn_lab_adding_setup(s->T, s->seed, MN_RNN_TANH, s->H, &task, &mc);
    if (st) return st;
    mc.recurrent_init = MN_INIT_ORTHOGONAL;
    mc.init_gain = (float)s->radius;
    mn_lab_train_setup(&tc, 1, 32, s->seed, 1);
    tc.optimizer = MN_OPT_SGD;
    tc.lr = 1.0f;
    tc.momentum = 0.0f;
    tc.clip_norm = (float)clip;
    if ((st = mn_model_create(&mc, s->seed, &m)) || (st = mn_trainer_create(m, task, &tc, &tr)))
        goto done;
    *n = mn_model_param_count(m);
    if (!(*delta = mn_alloc(*n * sizeof(float)))) {
        st = MN_E_NOMEM;
        goto done;
    }
    const float *p = mn_model_params(m);
    memcpy(*delta, p, *n * sizeof(float));
    mn_step_stats ss;
    if ((st = mn_trainer_step(tr, &ss))) goto done;
    for (size_t i = 0; i < *n; i++) (*delta)[i] = p[i] - (*delta)[i];
    *grad_norm = ss.grad_norm;
done:
    if (st) {
        mn_release(*delta);
        *delta = NULL;
    }
    mn_trainer_free(tr);
    mn_model_free(m);
    mn_task_free(task);
    return st;
}

typedef struct {
    double grad_norm, update, clipped, cosine;
} clip_measure;

/* The same step without and with global-norm clipping: norms and the angle between. */
static mn_status measure_clipping(const mn_lab_settings *s, clip_measure *c) {
    float *a = NULL, *b = NULL;
    size_t n = 0, nb = 0;
    double g2;
    mn_status st = sgd_update(s, 0.0, &a, &n, &c->grad_norm);
    if (!st) st = sgd_update(s, s->clip, &b, &nb, &g2);
    if (!st) {
        double aa = 0, bb = 0, ab = 0;
        for (size_t i = 0; i < n; i++) {
            aa += (double)a[i] * a[i];
            bb += (double)b[i] * b[i];
            ab += (double)a[i] * b[i];
        }
        c->update = sqrt(aa);
        c->clipped = sqrt(bb);
        c->cosine = aa > 0 && bb > 0 ? ab / sqrt(aa * bb) : 0;
    }
    mn_release(a);
    mn_release(b);
    return st;
}

mn_status mn_lab_exploding(const mn_lab_options *o, mn_lab_result *r) {
    mn_lab_settings s;
    double *dh;
    mn_status st = mn_lab_resolve(o, 1.1, &s);
    if (st || (st = mn_lab_alloc_doubles(&dh, (size_t)s.T))) return st;
    double ratio = 0;
    int applies = 0;
    clip_measure c = {0};
    mn_lab_text(r->claim, sizeof r->claim, "for rho > 1 the gradient through T-1 steps grows as "
                "rho^(T-1); global-norm clipping rescales the update to the threshold and keeps "
                "its direction");
    mn_lab_text(r->quantity, sizeof r->quantity, "|dL/dh_0| / |dL/dh_%d| vs rho^%d, rho = %g",
                s.T - 1, s.T - 1, s.radius);
    mn_lab_text(r->criterion, sizeof r->criterion, "ratio within %g%%; clipped update norm = "
                "min(norm, clip) within 0.1%%; cosine >= 0.9999", 100 * MN_LAB_RATIO_TOLERANCE);
    if ((st = ratio_experiment(&s, r, dh, &ratio, &applies))) goto done;
    if ((st = measure_clipping(&s, &c))) goto done;
    double want = fmin(c.grad_norm, s.clip);
    int clip_ok = mn_lab_rel_err(c.clipped, want) <= 1e-3 && c.cosine >= 0.9999 &&
                  mn_lab_rel_err(c.update, c.grad_norm) <= 1e-3;
    mn_lab_say(r,
        "\nclipping: one step of mnemo's trainer (SGD, lr 1, no momentum; the trainer's own\n"
        "global-norm clipping) on a batch of 32 adding-task sequences, T %d, with a tanh\n"
        "RNN whose W_hh = %g * Q; the update is the change of the parameters.\n"
        "  gradient norm before clipping      %.8g\n"
        "  update norm without clipping       %.8g\n"
        "  update norm with clip %-8g     %.8g   (theory: min(norm, clip) = %.8g)\n"
        "  cosine(update, clipped update)     %.10f   (theory: 1, direction kept)\n",
        s.T, s.radius, c.grad_norm, c.update, s.clip, c.clipped, want, c.cosine);
    if (c.grad_norm <= s.clip)
        mn_lab_say(r,
            "  (the gradient norm is below the threshold here, so clipping leaves it as is)\n");
    mn_lab_put(r, "clip", s.clip);
    mn_lab_put(r, "grad_norm", c.grad_norm);
    mn_lab_put(r, "update_norm", c.update);
    mn_lab_put(r, "clipped_update_norm", c.clipped);
    mn_lab_put(r, "cosine", c.cosine);
    double th = pow(s.radius, s.T - 1);
    mn_lab_verdict(r, th, ratio, applies,
                   mn_lab_rel_err(ratio, th) <= MN_LAB_RATIO_TOLERANCE && clip_ok);
done:
    mn_release(dh);
    return st;
}

/* Uniform init with a comparison: PyTorch's default W_hh on the same linear recurrence. */
mn_status mn_lab_orthogonal(const mn_lab_options *o, mn_lab_result *r) {
    mn_lab_settings s;
    double *dh;
    mn_status st = mn_lab_resolve(o, 1.0, &s);
    if (st || (st = mn_lab_alloc_doubles(&dh, (size_t)s.T))) return st;
    double ratio = 0, th = pow(s.radius, s.T - 1);
    int applies = 0;
    mn_lab_text(r->claim, sizeof r->claim, "an orthogonal recurrence (rho = 1) preserves the "
                "gradient norm over any number of steps: the ratio is exactly 1");
    mn_lab_text(r->quantity, sizeof r->quantity, "|dL/dh_0| / |dL/dh_%d| vs rho^%d, rho = %g",
                s.T - 1, s.T - 1, s.radius);
    mn_lab_text(r->criterion, sizeof r->criterion, "within 0.1%% of rho^(T-1)");
    if ((st = ratio_experiment(&s, r, dh, &ratio, &applies))) goto done;
    /* the same recurrence with PyTorch's default W_hh, for comparison (information) */
    if ((st = mn_lab_linear_rnn_profile(s.H, s.T, 1.0, MN_LAB_W_UNIFORM, s.seed, 1e15, dh)))
        goto done;
    double u = mn_lab_ratio_at(dh, s.T, s.T - 1);
    mn_lab_say(r,
        "\n  for comparison, W_hh ~ U(+-1/sqrt(H)) (PyTorch's default) on the same linear\n"
        "  recurrence: ratio %.6g over %d steps (horizon %d)\n",
        u, s.T - 1, mn_gradient_horizon(dh, s.T, MN_LAB_HORIZON_THRESHOLD));
    mn_lab_put(r, "uniform_init_ratio", u);
    mn_lab_verdict(r, th, ratio, applies, mn_lab_rel_err(ratio, th) <= 1e-3);
done:
    mn_release(dh);
    return st;
}
