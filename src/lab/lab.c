/* mnemo lab: experiments that check the theory of long-range learning with measurements.
 *
 * Every number here is measured on mnemo's own code paths: the recurrent layers' forward
 * and backward passes (their per-step gradient probes), the trainer with its clipping and
 * truncated BPTT, the gradient recorder and the gate statistics. The theory gives a closed
 * form; the experiment sets up the case where that form is exact and compares.
 *
 * The gradient-ratio experiments use a tanh RNN whose state stays at 0: W_ih = 0, biases 0,
 * zero input. There tanh' = 1, so the backward recurrence is exactly dh_{t-1} = W_hhᵀ·dh_t,
 * and with W_hh = ρ·Q (Q orthogonal) every step scales the norm by exactly ρ.
 *
 * float32 has about 76 decades between its largest number and its smallest normal one
 * (denormals may be flushed to zero). The loss gradient is scaled so that the measured
 * range sits in the middle of that window; a ratio beyond 1e±60 cannot be measured and is
 * reported as such ("does not apply"), never as a silent 0. */
#include "fastmath.h"
#include "init.h"
#include "layer.h"
#include "model.h"
#include "optim.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_LENGTH 100
#define DEFAULT_HIDDEN 32
#define DEFAULT_TBPTT 10
#define DEFAULT_FORGET 0.99
#define DEFAULT_CLIP 1.0
#define MAX_LENGTH 100000
#define MAX_HIDDEN 4096
#define MAX_CELLS (1 << 21)   /* T·H of one experiment */
#define MAX_SWEEP_CELLS (1 << 24) /* T·B·H of one adding-sweep run */
#define RANGE_DECADES 60.0    /* |log10 ratio| that float32 can still measure */
#define RATIO_TOLERANCE 0.05  /* relative, for the ρ^(T-1) and f^(T-1) claims */
#define HORIZON_THRESHOLD 1e-3

static const double default_forget_bias[] = {0, 1, 2, 3, 5};
static const int default_lengths[] = {25, 50, 100, 200, 400};

/* ------------------------------------------------------------ result text */

static void say(mn_lab_result *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(mn_lab_result *r, const char *fmt, ...) {
    size_t n = strlen(r->report);
    if (n + 1 >= sizeof r->report) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->report + n, sizeof r->report - n, fmt, ap);
    va_end(ap);
}

static void text(char *dst, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void text(char *dst, size_t n, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(dst, n, fmt, ap);
    va_end(ap);
}

/* A further measured figure, for JSON. */
static void put(mn_lab_result *r, const char *name, double v) {
    if (r->n_numbers >= MN_LAB_MAX_NUMBERS) return;
    mn_lab_number *x = &r->numbers[r->n_numbers++];
    snprintf(x->name, sizeof x->name, "%s", name);
    x->value = v;
}

static void putf(mn_lab_result *r, double v, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void putf(mn_lab_result *r, double v, const char *fmt, ...) {
    char name[48];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    put(r, name, v);
}

static void verdict(mn_lab_result *r, double theory, double measured, int applies, int agree) {
    r->theory = theory;
    r->measured = measured;
    r->applies = applies;
    r->pass = applies && agree;
}

static int cmp_int(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

static double rel_err(double measured, double theory) {
    if (theory == 0) return measured == 0 ? 0 : INFINITY;
    return fabs(measured / theory - 1.0);
}

static void progress(const mn_lab_options *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void progress(const mn_lab_options *o, const char *fmt, ...) {
    if (!o->progress) return;
    char line[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    o->progress(o->progress_ctx, line);
}

/* ------------------------------------------------------- a bare layer */

/* A recurrent layer outside any model, with its own parameter and gradient buffers. */
typedef struct {
    mn_layer *l;
    float *buf;   /* params, then grads */
} bare_layer;

static void bare_free(bare_layer *b) {
    mn_layer_destroy(b->l);
    mn_release(b->buf);
    b->l = NULL;
    b->buf = NULL;
}

static mn_status bare_create(bare_layer *b, mn_cell_kind cell, int in, int H) {
    b->buf = NULL;
    b->l = mn_recurrent_create(cell, in, H, "_l0");
    if (!b->l) return MN_E_NOMEM;
    size_t n = b->l->param_count;
    b->buf = mn_alloc_zero(2 * n * sizeof(float));
    if (!b->buf) {
        bare_free(b);
        return MN_E_NOMEM;
    }
    b->l->params = b->buf;
    b->l->grads = b->buf + n;
    return MN_OK;
}

/* The parameter tensor whose name starts with prefix ("weight_hh"), or NULL. */
static float *bare_tensor(bare_layer *b, const char *prefix) {
    for (int i = 0; i < b->l->nspecs; i++)
        if (!strncmp(b->l->specs[i].name, prefix, strlen(prefix)))
            return b->l->params + b->l->specs[i].offset;
    return NULL;
}

/* Forward x [T,B,I], then backward with the loss on the last step only: dy_{T-1} holds a
 * random direction of norm `scale` per sequence, dy_t = 0 before. dh[t] and dc[t] (may be
 * NULL; [T] each) receive the batch-mean ‖∂L/∂h_t‖ and ‖∂L/∂c_t‖ that the layer's own
 * backward records. */
static mn_status last_step_profile(mn_layer *l, const float *x, int T, int B, double scale,
                                   mn_rng *rng, double *dh, double *dc) {
    int H = l->out_size;
    size_t n = (size_t)T * B * H;
    float *y = mn_alloc(n * sizeof(float)), *dy = mn_alloc_zero(n * sizeof(float));
    mn_status st = MN_E_NOMEM;
    if (!y || !dy) goto done;
    for (int b = 0; b < B; b++) {
        float *d = dy + ((size_t)(T - 1) * B + b) * H;
        double ss = 0;
        for (int j = 0; j < H; j++) {
            d[j] = (float)mn_rng_normal(rng);
            ss += (double)d[j] * d[j];
        }
        double k = scale / sqrt(ss);
        for (int j = 0; j < H; j++) d[j] = (float)(d[j] * k);
    }
    memset(dh, 0, (size_t)T * sizeof(double));
    if (dc) memset(dc, 0, (size_t)T * sizeof(double));
    l->probe_dh = dh;
    l->probe_dc = dc;
    l->ops->reset_state(l);
    st = l->ops->forward(l, x, y, T, B, NULL);
    if (!st) st = l->ops->backward(l, dy, NULL, T, B, NULL);
    l->probe_dh = l->probe_dc = NULL;
done:
    mn_release(y);
    mn_release(dy);
    return st;
}

/* A loss-gradient norm that puts the whole measured range [s·ratio, s] in the middle of
 * float32's window: s = ratio^(-1/2), within [1e-30, 1e30]. */
static double centered_scale(double log10_ratio) {
    double e = -0.5 * log10_ratio;
    e = e < -30 ? -30 : e > 30 ? 30 : e;
    return pow(10.0, e);
}

static int measurable(double log10_ratio) {
    return isfinite(log10_ratio) && fabs(log10_ratio) <= RANGE_DECADES;
}

typedef enum { W_ORTHOGONAL, W_UNIFORM } w_kind;

/* ‖∂L/∂h_t‖ of the linear-regime tanh RNN (see the top of the file): W_hh = ρ·Q, or
 * PyTorch's default U(±1/√H) for comparison; W_ih = 0, biases 0, zero input, B = 2. */
static mn_status linear_rnn_profile(int H, int T, double rho, w_kind w, uint64_t seed,
                                    double scale, double *dh) {
    enum { B = 2 };
    bare_layer bl;
    mn_status st = bare_create(&bl, MN_RNN_TANH, 1, H);
    if (st) return st;
    mn_rng rng;
    mn_rng_seed(&rng, seed);
    float *W_hh = bare_tensor(&bl, "weight_hh");
    if (w == W_ORTHOGONAL) st = mn_init_orthogonal(W_hh, H, H, (float)rho, &rng);
    else mn_init_uniform(W_hh, (size_t)H * H, 1.0f / sqrtf((float)H), &rng);
    float *x = mn_alloc_zero((size_t)T * B * sizeof(float));
    if (!st && !x) st = MN_E_NOMEM;
    if (!st) st = last_step_profile(bl.l, x, T, B, scale, &rng, dh, NULL);
    mn_release(x);
    bare_free(&bl);
    return st;
}

/* Lags shown in tables: 0, 1, 10, T/4, T/2, 3T/4, T-1 (those that exist, once each). */
static int table_lags(int T, int *lags) {
    int want[] = {0, 1, 10, T / 4, T / 2, 3 * T / 4, T - 1}, n = 0;
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        int v = want[i];
        if (v < 0 || v > T - 1 || (n && v <= lags[n - 1])) continue;
        lags[n++] = v;
    }
    return n;
}

/* ratio[lag] = norm[T-1-lag] / norm[T-1] */
static double ratio_at(const double *norm, int T, int lag) {
    return norm[T - 1] > 0 ? norm[T - 1 - lag] / norm[T - 1] : 0.0;
}

static void ratio_table(mn_lab_result *r, const double *dh, int T, double rho, const char *what) {
    int lags[8], n = table_lags(T, lags);
    say(r, "\n  %6s  %14s  %14s  %10s\n", "lag", "theory rho^lag", what, "rel. error");
    for (int i = 0; i < n; i++) {
        double th = pow(rho, lags[i]), m = ratio_at(dh, T, lags[i]);
        say(r, "  %6d  %14.6g  %14.6g  %10.2e\n", lags[i], th, m, rel_err(m, th));
        putf(r, m, "ratio_lag_%d", lags[i]);
    }
}

/* The gradient horizon ρ predicts: the largest lag with ρ^lag >= threshold. */
static int theory_horizon(double rho, int T) {
    if (rho >= 1) return T - 1;
    double h = floor(log(HORIZON_THRESHOLD) / log(rho) + 1e-9);
    return h > T - 1 ? T - 1 : (int)h;
}

/* --------------------------------------------------------------- options */

typedef struct {
    double radius, forget, clip;
    int T, H, k, steps, batch;
    uint64_t seed;
} settings;

static mn_status resolve(const mn_lab_options *o, double radius_default, settings *s) {
    s->radius = o->radius != 0 ? o->radius : radius_default;
    s->T = o->length ? o->length : DEFAULT_LENGTH;
    s->H = o->hidden ? o->hidden : DEFAULT_HIDDEN;
    s->k = o->tbptt ? o->tbptt : DEFAULT_TBPTT;
    s->forget = o->forget != 0 ? o->forget : DEFAULT_FORGET;
    s->clip = o->clip != 0 ? o->clip : DEFAULT_CLIP;
    s->steps = o->steps;
    s->batch = o->batch;
    s->seed = o->seed;
    if (!(s->radius > 0 && s->radius <= 100))
        return mn_fail(MN_E_ARG, "radius must be greater than 0 and at most 100, got %g",
                       s->radius);
    if (s->T < 2 || s->T > MAX_LENGTH)
        return mn_fail(MN_E_ARG, "length must be from 2 to %d, got %d", MAX_LENGTH, s->T);
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
    return MN_OK;
}

/* -------------------------------------------- vanishing / exploding / orthogonal */

/* Measures the ratio ‖∂L/∂h_0‖ / ‖∂L/∂h_{T-1}‖ of the linear-regime RNN at ρ, writes the
 * settings and the lag table into the report, and returns the measured ratio in *ratio
 * (and whether float32 can hold it in *applies). dh: [T] workspace. */
static mn_status ratio_experiment(const settings *s, mn_lab_result *r, double *dh,
                                  double *ratio, int *applies) {
    int T = s->T;
    double log10_theory = (T - 1) * log10(s->radius);
    *applies = measurable(log10_theory);
    mn_status st = linear_rnn_profile(s->H, T, s->radius, W_ORTHOGONAL, s->seed,
                                      centered_scale(log10_theory), dh);
    if (st) return st;
    *ratio = ratio_at(dh, T, T - 1);
    say(r, "setup: tanh RNN layer, H %d, T %d; W_hh = %g * Q (Q random orthogonal), W_ih = 0,\n"
           "       biases 0, zero input: the state stays at 0 where tanh' = 1, so the\n"
           "       recurrence is exactly linear. Loss at the last step only; the norms are\n"
           "       the layer's own backward probes of |dL/dh_t| (batch of 2).\n",
        s->H, T, s->radius);
    ratio_table(r, dh, T, s->radius, "measured");
    int h = mn_gradient_horizon(dh, T, HORIZON_THRESHOLD), ht = theory_horizon(s->radius, T);
    say(r, "\n  gradient horizon (ratio >= %g): measured %d steps, theory %d\n",
        HORIZON_THRESHOLD, h, ht);
    put(r, "horizon", h);
    put(r, "horizon_theory", ht);
    put(r, "radius", s->radius);
    put(r, "length", T);
    put(r, "hidden", s->H);
    if (!*applies)
        text(r->note, sizeof r->note, "rho^(T-1) = 1e%.0f lies outside the ~1e+-%.0f that a "
             "float32 backward pass can hold; measured what float32 gives", log10_theory,
             RANGE_DECADES);
    return MN_OK;
}

static mn_status alloc_doubles(double **p, size_t n) {
    *p = mn_alloc_zero(n * sizeof(double));
    return *p ? MN_OK : MN_E_NOMEM;
}

static mn_status exp_vanishing(const mn_lab_options *o, mn_lab_result *r) {
    settings s;
    double *dh;
    mn_status st = resolve(o, 0.9, &s);
    if (st || (st = alloc_doubles(&dh, (size_t)s.T))) return st;
    double ratio = 0;
    int applies = 0;
    text(r->claim, sizeof r->claim, "through T-1 steps of a recurrence W_hh = rho*Q the "
         "gradient is scaled by rho^(T-1): for rho < 1 it vanishes geometrically");
    text(r->quantity, sizeof r->quantity, "|dL/dh_0| / |dL/dh_%d| vs rho^%d, rho = %g",
         s.T - 1, s.T - 1, s.radius);
    text(r->criterion, sizeof r->criterion, "within %g%% of rho^(T-1)", 100 * RATIO_TOLERANCE);
    st = ratio_experiment(&s, r, dh, &ratio, &applies);
    double th = pow(s.radius, s.T - 1);
    if (!st) verdict(r, th, ratio, applies, rel_err(ratio, th) <= RATIO_TOLERANCE);
    mn_release(dh);
    return st;
}

/* The adding task at length T and a model config it has set up (input, output, loss),
 * with the cell and hidden size filled in; the caller adjusts the rest. */
static mn_status adding_setup(int T, uint64_t seed, mn_cell_kind cell, int H, mn_task **task,
                              mn_model_config *mc) {
    mn_status st = mn_task_create("adding", T, seed, task);
    if (st) return st;
    mn_model_config_init(mc);
    mn_task_configure_model(*task, mc);
    mc->cell = cell;
    mc->hidden_size = H;
    return MN_OK;
}

/* A training config for steps × batch on the given seed, evaluating eval_size sequences. */
static void train_setup(mn_train_config *tc, int steps, int batch, uint64_t seed, int eval_size) {
    mn_train_config_init(tc);
    tc->steps = steps;
    tc->batch_size = batch;
    tc->seed = seed;
    tc->eval_size = eval_size;
}

/* One training step of mnemo's trainer (SGD, lr 1, no momentum) on a batch of the adding
 * task with a tanh RNN whose W_hh = ρ·Q; delta receives the parameter update it applied
 * (n floats, caller frees) and *grad_norm the gradient norm before clipping. */
static mn_status sgd_update(const settings *s, double clip, float **delta, size_t *n,
                            double *grad_norm) {
    mn_task *task = NULL;
    mn_model *m = NULL;
    mn_trainer *tr = NULL;
    mn_model_config mc;
    mn_train_config tc;
    *delta = NULL;
    mn_status st = adding_setup(s->T, s->seed, MN_RNN_TANH, s->H, &task, &mc);
    if (st) return st;
    mc.recurrent_init = MN_INIT_ORTHOGONAL;
    mc.init_gain = (float)s->radius;
    train_setup(&tc, 1, 32, s->seed, 1);
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
static mn_status measure_clipping(const settings *s, clip_measure *c) {
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

static mn_status exp_exploding(const mn_lab_options *o, mn_lab_result *r) {
    settings s;
    double *dh;
    mn_status st = resolve(o, 1.1, &s);
    if (st || (st = alloc_doubles(&dh, (size_t)s.T))) return st;
    double ratio = 0;
    int applies = 0;
    clip_measure c = {0};
    text(r->claim, sizeof r->claim, "for rho > 1 the gradient through T-1 steps grows as "
         "rho^(T-1); global-norm clipping rescales the update to the threshold and keeps "
         "its direction");
    text(r->quantity, sizeof r->quantity, "|dL/dh_0| / |dL/dh_%d| vs rho^%d, rho = %g",
         s.T - 1, s.T - 1, s.radius);
    text(r->criterion, sizeof r->criterion, "ratio within %g%%; clipped update norm = "
         "min(norm, clip) within 0.1%%; cosine >= 0.9999", 100 * RATIO_TOLERANCE);
    if ((st = ratio_experiment(&s, r, dh, &ratio, &applies))) goto done;
    if ((st = measure_clipping(&s, &c))) goto done;
    double want = fmin(c.grad_norm, s.clip);
    int clip_ok = rel_err(c.clipped, want) <= 1e-3 && c.cosine >= 0.9999 &&
                  rel_err(c.update, c.grad_norm) <= 1e-3;
    say(r, "\nclipping: one step of mnemo's trainer (SGD, lr 1, no momentum; the trainer's own\n"
           "global-norm clipping) on a batch of 32 adding-task sequences, T %d, with a tanh\n"
           "RNN whose W_hh = %g * Q; the update is the change of the parameters.\n"
           "  gradient norm before clipping      %.8g\n"
           "  update norm without clipping       %.8g\n"
           "  update norm with clip %-8g     %.8g   (theory: min(norm, clip) = %.8g)\n"
           "  cosine(update, clipped update)     %.10f   (theory: 1, direction kept)\n",
        s.T, s.radius, c.grad_norm, c.update, s.clip, c.clipped, want, c.cosine);
    if (c.grad_norm <= s.clip)
        say(r, "  (the gradient norm is below the threshold here, so clipping leaves it as is)\n");
    put(r, "clip", s.clip);
    put(r, "grad_norm", c.grad_norm);
    put(r, "update_norm", c.update);
    put(r, "clipped_update_norm", c.clipped);
    put(r, "cosine", c.cosine);
    double th = pow(s.radius, s.T - 1);
    verdict(r, th, ratio, applies, rel_err(ratio, th) <= RATIO_TOLERANCE && clip_ok);
done:
    mn_release(dh);
    return st;
}

/* Uniform init with a comparison: PyTorch's default W_hh on the same linear recurrence. */
static mn_status exp_orthogonal(const mn_lab_options *o, mn_lab_result *r) {
    settings s;
    double *dh;
    mn_status st = resolve(o, 1.0, &s);
    if (st || (st = alloc_doubles(&dh, (size_t)s.T))) return st;
    double ratio = 0, th = pow(s.radius, s.T - 1);
    int applies = 0;
    text(r->claim, sizeof r->claim, "an orthogonal recurrence (rho = 1) preserves the "
         "gradient norm over any number of steps: the ratio is exactly 1");
    text(r->quantity, sizeof r->quantity, "|dL/dh_0| / |dL/dh_%d| vs rho^%d, rho = %g",
         s.T - 1, s.T - 1, s.radius);
    text(r->criterion, sizeof r->criterion, "within 0.1%% of rho^(T-1)");
    if ((st = ratio_experiment(&s, r, dh, &ratio, &applies))) goto done;
    /* the same recurrence with PyTorch's default W_hh, for comparison (information) */
    if ((st = linear_rnn_profile(s.H, s.T, 1.0, W_UNIFORM, s.seed, 1e15, dh))) goto done;
    double u = ratio_at(dh, s.T, s.T - 1);
    say(r, "\n  for comparison, W_hh ~ U(+-1/sqrt(H)) (PyTorch's default) on the same linear\n"
           "  recurrence: ratio %.6g over %d steps (horizon %d)\n",
        u, s.T - 1, mn_gradient_horizon(dh, s.T, HORIZON_THRESHOLD));
    put(r, "uniform_init_ratio", u);
    verdict(r, th, ratio, applies, rel_err(ratio, th) <= 1e-3);
done:
    mn_release(dh);
    return st;
}

/* ------------------------------------------------------------ lstm-highway */

/* An LSTM layer with W_hh = 0 and the forget gate's input rows 0 and bias logit(f): f is
 * the same constant at every step, and with W_hh = 0 no gradient reaches h_t from later
 * steps, so ∂L/∂c_t = f·∂L/∂c_{t+1} exactly for t < T-1. The other gates see a random
 * input through random weights: the cell path does not depend on them. */
static mn_status lstm_cell_profile(const settings *s, double scale, double *dh, double *dc) {
    enum { B = 2, I = 4 };
    int H = s->H, T = s->T;
    bare_layer bl;
    mn_status st = bare_create(&bl, MN_LSTM, I, H);
    if (st) return st;
    mn_rng rng;
    mn_rng_seed(&rng, s->seed);
    mn_init_config ic = {MN_INIT_UNIFORM, 1.0f, (float)log(s->forget / (1 - s->forget)), 0};
    bl.l->ops->init(bl.l, &rng, &ic);   /* puts the whole forget bias into b_ih */
    float *W_ih = bare_tensor(&bl, "weight_ih"), *W_hh = bare_tensor(&bl, "weight_hh");
    memset(W_hh, 0, (size_t)4 * H * H * sizeof(float));
    memset(W_ih + (size_t)H * I, 0, (size_t)H * I * sizeof(float));  /* rows H..2H: f */
    float *x = mn_alloc((size_t)T * B * I * sizeof(float));
    if (!x) st = MN_E_NOMEM;
    for (size_t i = 0; !st && i < (size_t)T * B * I; i++) x[i] = mn_rng_uniform_range(&rng, -1, 1);
    if (!st) st = last_step_profile(bl.l, x, T, B, scale, &rng, dh, dc);
    mn_release(x);
    bare_free(&bl);
    return st;
}

static mn_status exp_lstm_highway(const mn_lab_options *o, mn_lab_result *r) {
    settings s;
    double *dh, *dc, *rnn;
    mn_status st = resolve(o, 0.9, &s);
    if (st || (st = alloc_doubles(&dh, 3 * (size_t)s.T))) return st;
    dc = dh + s.T;
    rnn = dc + s.T;
    int T = s.T;
    double lf = (T - 1) * log10(s.forget), lr = (T - 1) * log10(s.radius);
    text(r->claim, sizeof r->claim, "the LSTM cell path scales the gradient by the product "
         "of the forget gates, f^(T-1) with f fixed, while a vanilla RNN scales it by "
         "rho^(T-1)");
    text(r->quantity, sizeof r->quantity, "|dL/dc_0| / |dL/dc_%d| vs f^%d, f = %g", T - 1,
         T - 1, s.forget);
    text(r->criterion, sizeof r->criterion, "LSTM within %g%% of f^(T-1), RNN within %g%% of "
         "rho^(T-1)", 100 * RATIO_TOLERANCE, 100 * RATIO_TOLERANCE);
    if ((st = lstm_cell_profile(&s, centered_scale(lf), dh, dc))) goto done;
    if ((st = linear_rnn_profile(s.H, T, s.radius, W_ORTHOGONAL, s.seed, centered_scale(lr),
                                 rnn)))
        goto done;
    say(r, "setup: LSTM layer, H %d, T %d, W_hh = 0, forget gate rows of W_ih = 0 and bias\n"
           "       logit(%g), random input and weights for the other gates; loss at the last\n"
           "       step only; |dL/dc_t| from the layer's backward probe (all paths into c_t).\n"
           "       Beside it the linear-regime tanh RNN of 'vanishing' with rho = %g.\n",
        s.H, T, s.forget, s.radius);
    int lags[8], n = table_lags(T, lags);
    say(r, "\n  %6s  %12s  %12s  %12s  %12s\n", "lag", "f^lag", "LSTM c path", "rho^lag",
        "vanilla RNN");
    for (int i = 0; i < n; i++) {
        int g = lags[i];
        say(r, "  %6d  %12.6g  %12.6g  %12.6g  %12.6g\n", g, pow(s.forget, g),
            ratio_at(dc, T, g), pow(s.radius, g), ratio_at(rnn, T, g));
        putf(r, ratio_at(dc, T, g), "lstm_ratio_lag_%d", g);
        putf(r, ratio_at(rnn, T, g), "rnn_ratio_lag_%d", g);
    }
    double hl = mn_half_life(s.forget);
    say(r, "\n  |dL/dh_t| of the LSTM before the last step: %.3g (W_hh = 0: only the cell "
           "carries it)\n  memory half-life ln 0.5 / ln f = %.4g steps; gradient horizon "
           "(>= %g): LSTM %d, RNN %d\n",
        T > 1 ? dh[T - 2] : 0.0, hl, HORIZON_THRESHOLD,
        mn_gradient_horizon(dc, T, HORIZON_THRESHOLD),
        mn_gradient_horizon(rnn, T, HORIZON_THRESHOLD));
    double m = ratio_at(dc, T, T - 1), mr = ratio_at(rnn, T, T - 1);
    double th = pow(s.forget, T - 1), thr = pow(s.radius, T - 1);
    put(r, "forget", s.forget);
    put(r, "radius", s.radius);
    put(r, "length", T);
    put(r, "rnn_theory", thr);
    put(r, "rnn_measured", mr);
    put(r, "half_life", hl);
    int applies = measurable(lf) && measurable(lr);
    if (!applies)
        text(r->note, sizeof r->note, "f^(T-1) = 1e%.0f or rho^(T-1) = 1e%.0f lies outside "
             "the ~1e+-%.0f that a float32 backward pass can hold", lf, lr, RANGE_DECADES);
    verdict(r, th, m, applies,
            rel_err(m, th) <= RATIO_TOLERANCE && rel_err(mr, thr) <= RATIO_TOLERANCE);
done:
    mn_release(dh);
    return st;
}

/* ------------------------------------------------------------------ tbptt */

/* One training step of the trainer on the adding task with a chrono-initialized LSTM
 * (whose gradient reaches far back without truncation), chunk length k (0: full BPTT);
 * dh[t] receives the recorder's ‖∂L/∂h_t‖ of the first layer, dc[t] ‖∂L/∂c_t‖. */
static mn_status tbptt_profile(const settings *s, int k, double *dh, double *dc) {
    mn_task *task = NULL;
    mn_model *m = NULL;
    mn_trainer *tr = NULL;
    mn_grad_recorder *rec = NULL;
    mn_model_config mc;
    mn_train_config tc;
    mn_status st = adding_setup(s->T, s->seed, MN_LSTM, s->H, &task, &mc);
    if (st) return st;
    mc.chrono_tmax = s->T;
    train_setup(&tc, 1, 4, s->seed, 1);
    tc.tbptt = k;
    mn_step_stats ss;
    if (!(st = mn_model_create(&mc, s->seed, &m)) && !(st = mn_trainer_create(m, task, &tc, &tr)) &&
        !(st = mn_grad_recorder_attach(m, s->T, &rec)) && !(st = mn_trainer_step(tr, &ss)) &&
        mn_grad_recorder_profile(rec, 0, dh, dc) < 1)
        st = mn_fail(MN_E_STATE, "the gradient recorder saw no backward pass");
    mn_grad_recorder_detach(rec);
    mn_trainer_free(tr);
    mn_model_free(m);
    mn_task_free(task);
    return st;
}

static mn_status exp_tbptt(const mn_lab_options *o, mn_lab_result *r) {
    settings s;
    double *buf;
    mn_status st = resolve(o, 1.0, &s);
    if (st || (st = alloc_doubles(&buf, 4 * (size_t)s.T))) return st;
    int T = s.T, k = s.k;
    double *full = buf, *trunc = buf + T, *fullc = buf + 2 * T, *truncc = buf + 3 * T;
    /* chunks start at 0, k, 2k, ...: the last one holds the loss and has L <= k steps */
    int last = T - k * ((T - 1) / k);
    text(r->claim, sizeof r->claim, "with truncated BPTT in chunks of k steps no gradient "
         "crosses a chunk boundary: a loss at the last step reaches only the last chunk "
         "(at most k steps); every earlier step gets exactly 0");
    text(r->quantity, sizeof r->quantity, "steps t with |dL/dh_t| != 0, k = %d, T = %d", k, T);
    text(r->criterion, sizeof r->criterion, "exactly the last %d step%s nonzero, all earlier "
         "steps exactly 0", last, last > 1 ? "s" : "");
    if ((st = tbptt_profile(&s, 0, full, fullc)) || (st = tbptt_profile(&s, k, trunc, truncc)))
        goto done;
    int nonzero = 0, full_nonzero = 0, exact = 1;
    for (int t = 0; t < T; t++) {
        nonzero += trunc[t] != 0;
        full_nonzero += full[t] != 0;
        if (t < T - last ? trunc[t] != 0 || truncc[t] != 0 : trunc[t] == 0) exact = 0;
    }
    say(r, "setup: one step of mnemo's trainer on a batch of 4 adding-task sequences, T %d,\n"
           "       LSTM H %d with chrono init; the loss reads the last step. Norms from the\n"
           "       gradient recorder (mn_grad_recorder_*), full BPTT vs --tbptt %d; chunks\n"
           "       start at 0, %d, ..., so the last one holds %d step%s.\n",
        T, s.H, k, k, last, last > 1 ? "s" : "");
    int want[] = {0, last - 1, last, last + 1, k, 2 * k, T / 2, T - 1}, shown[8], n = 0;
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        int g = want[i], dup = 0;
        for (int j = 0; j < n; j++) dup |= shown[j] == g;
        if (g >= 0 && g < T && !dup) shown[n++] = g;
    }
    qsort(shown, (size_t)n, sizeof shown[0], cmp_int);
    say(r, "\n  %6s  %6s  %14s  %14s  %14s\n", "lag", "t", "full BPTT", "truncated",
        "trunc |dL/dc|");
    for (int i = 0; i < n; i++) {
        int t = T - 1 - shown[i];
        say(r, "  %6d  %6d  %14.6g  %14.6g  %14.6g\n", shown[i], t, full[t], trunc[t],
            truncc[t]);
    }
    say(r, "\n  steps with a nonzero gradient: full BPTT %d of %d, truncated %d (theory %d)\n",
        full_nonzero, T, nonzero, last);
    put(r, "tbptt", k);
    put(r, "length", T);
    put(r, "last_chunk", last);
    put(r, "nonzero_steps_full", full_nonzero);
    put(r, "horizon_full", mn_gradient_horizon(full, T, HORIZON_THRESHOLD));
    put(r, "horizon_truncated", mn_gradient_horizon(trunc, T, HORIZON_THRESHOLD));
    int applies = full_nonzero == T && last < T;
    if (last >= T)
        text(r->note, sizeof r->note, "k = %d >= T = %d: one chunk, nothing is truncated", k, T);
    else if (full_nonzero < T)
        text(r->note, sizeof r->note, "even full BPTT gives exact zeros at %d steps (float32 "
             "underflow), so zeros cannot be credited to truncation", T - full_nonzero);
    verdict(r, last, nonzero, applies, exact && nonzero == last);
done:
    mn_release(buf);
    return st;
}

/* ------------------------------------------------------------ forget-bias */

/* A freshly initialized LSTM (chrono off) with forget bias b, measured by
 * mn_gate_stats_measure on a batch of the adding task. exact: the forget gate's rows of
 * W_ih and W_hh are set to 0, so f = σ(b) at every step and unit. */
static mn_status forget_stats(const settings *s, double b, int exact, mn_gate_stats *g) {
    mn_task *task = NULL;
    mn_model *m = NULL;
    mn_model_config mc;
    const mn_batch *batch;
    mn_status st = adding_setup(s->T, s->seed, MN_LSTM, s->H, &task, &mc);
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
    if (!(st = mn_task_next(task, 16, &batch))) st = mn_gate_stats_measure(m, batch, 0, g, NULL, NULL);
done:
    mn_model_free(m);
    mn_task_free(task);
    return st;
}

static mn_status exp_forget_bias(const mn_lab_options *o, mn_lab_result *r) {
    settings s;
    mn_status st = resolve(o, 1.0, &s);
    if (st) return st;
    int n = o->n_forget_bias ? o->n_forget_bias : (int)(sizeof default_forget_bias / sizeof(double));
    const double *bs = o->n_forget_bias ? o->forget_bias : default_forget_bias;
    if (n < 1 || n > MN_LAB_MAX_LIST)
        return mn_fail(MN_E_ARG, "give 1 to %d forget biases, got %d", MN_LAB_MAX_LIST, n);
    for (int i = 0; i < n; i++)
        if (!(fabs(bs[i]) <= 50))
            return mn_fail(MN_E_ARG, "forget bias must lie in [-50, 50], got %g", bs[i]);
    text(r->claim, sizeof r->claim, "a forget gate held at f = sigmoid(b_f) keeps a fraction f "
         "of the cell per step, so the initial memory half-life is ln 0.5 / ln sigmoid(b_f) "
         "steps");
    text(r->quantity, sizeof r->quantity, "half-life in steps at b_f = %g (last of the list)",
         bs[n - 1]);
    text(r->criterion, sizeof r->criterion, "every measured half-life within 0.1%% of theory");
    say(r, "setup: freshly initialized LSTM, H %d, chrono off, forget bias b_f; gate statistics\n"
           "       from mn_gate_stats_measure on a batch of 16 adding-task sequences, T %d.\n"
           "       exact: forget-gate rows of W_ih and W_hh zeroed, so f = sigmoid(b_f);\n"
           "       default: PyTorch's random weights as well (information only).\n",
        s.H, s.T);
    say(r, "\n  %6s  %10s  %12s  %12s  %10s  %14s  %14s\n", "b_f", "sigmoid", "theory",
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
        agree &= rel_err(me, th) <= 1e-3 && rel_err(ge.half_life_max, th) <= 1e-3 &&
                 rel_err(ge.half_life_min, th) <= 1e-3;
        say(r, "  %6g  %10.6f  %12.6g  %12.6g  %10.2e  %14.6f  %14.6g%s\n", bs[i], f, th, me,
            rel_err(me, th), gd.keep_mean, gd.half_life_median,
            ok_here ? "" : "  (f rounds toward 1 in float32)");
        putf(r, bs[i], "forget_bias_%d", i);
        putf(r, th, "half_life_theory_%d", i);
        putf(r, me, "half_life_exact_%d", i);
        putf(r, gd.half_life_median, "half_life_default_median_%d", i);
        putf(r, gd.keep_mean, "keep_mean_default_%d", i);
    }
    say(r, "\n  (default columns: mean forget gate and median unit half-life with the input and\n"
           "   recurrent weights left random; the spread of the weights moves them off theory)\n");
    if (!applies)
        text(r->note, sizeof r->note, "a b_f above ~9 gives 1 - f < 1e-4, which float32 cannot "
             "resolve to 0.1%%; measured what float32 gives");
    verdict(r, th, me, applies, agree);
    return MN_OK;
}

/* ------------------------------------------------------------ activations */

/* The derivative mnemo's backward pass uses for an activation, at N points x, measured
 * through a one-unit layer (T = 1, B = N, W_hh = 0) whose dx is exactly that derivative:
 *   tanh, ReLU: an RNN cell with W_ih = 1, biases 0: dx = act'(x);
 *   sigmoid: a GRU with only the update gate reading x and the candidate pinned at
 *   n = tanh(20) = 1, so h = 1 - z and, with dy = -1, dx = σ'(x). */
static mn_status layer_derivative(mn_cell_kind cell, const float *x, int N, float *d) {
    bare_layer bl;
    mn_status st = bare_create(&bl, cell, 1, 1);
    if (st) return st;
    float *W_ih = bare_tensor(&bl, "weight_ih"), *b_ih = bare_tensor(&bl, "bias_ih");
    float sign = 1.0f;
    if (cell == MN_GRU) {
        W_ih[1] = 1.0f;     /* rows r, z, n: only z reads x */
        b_ih[2] = 20.0f;    /* n = tanh(20) rounds to 1 */
        sign = -1.0f;
    } else {
        W_ih[0] = 1.0f;
    }
    float *y = mn_alloc((size_t)N * sizeof(float)), *dy = mn_alloc((size_t)N * sizeof(float));
    if (!y || !dy) st = MN_E_NOMEM;
    for (int i = 0; !st && i < N; i++) dy[i] = sign;
    memset(d, 0, (size_t)N * sizeof(float));
    bl.l->ops->reset_state(bl.l);
    if (!st) st = bl.l->ops->forward(bl.l, x, y, 1, N, NULL);
    if (!st) st = bl.l->ops->backward(bl.l, dy, d, 1, N, NULL);
    mn_release(y);
    mn_release(dy);
    bare_free(&bl);
    return st;
}

static float relu_ref(float x) { return x > 0 ? x : 0; }

/* Largest slope of the forward function on the grid, by central differences in double. */
static double max_slope(float (*f)(float), const float *x, int N) {
    double best = 0;
    for (int i = 0; i < N; i++) {
        float a = x[i] - 1e-3f, b = x[i] + 1e-3f;
        double s = ((double)f(b) - (double)f(a)) / ((double)b - (double)a);
        if (s > best) best = s;
    }
    return best;
}

typedef struct {
    const char *name;
    mn_cell_kind cell;
    float (*forward)(float);
    double bound;
    double max, at, slope, typical;
} act_row;

static mn_status exp_activations(const mn_lab_options *o, mn_lab_result *r) {
    settings s;
    mn_status st = resolve(o, 1.0, &s);
    if (st) return st;
    const int N = 20001, NS = 100000, D = s.T;   /* grid [-10, 10] step 1e-3; N(0,1) samples */
    float *x = mn_alloc((size_t)(N + NS) * 2 * sizeof(float));
    if (!x) return MN_E_NOMEM;
    float *d = x + N, *g = d + N, *dg = g + NS;
    for (int i = 0; i < N; i++) x[i] = (float)(-10.0 + i * 1e-3);
    mn_rng rng;
    mn_rng_seed(&rng, s.seed);
    for (int i = 0; i < NS; i++) g[i] = (float)mn_rng_normal(&rng);
    act_row rows[] = {{"sigmoid", MN_GRU, mn_fast_sigmoid, 0.25, 0, 0, 0, 0},
                      {"tanh", MN_RNN_TANH, mn_fast_tanhf, 1.0, 0, 0, 0, 0},
                      {"relu", MN_RNN_RELU, relu_ref, 1.0, 0, 0, 0, 0}};
    int ok = 1, relu_exact = 1;
    double relu_active = 0;
    for (int k = 0; k < 3 && !st; k++) {
        act_row *a = &rows[k];
        if ((st = layer_derivative(a->cell, x, N, d)) || (st = layer_derivative(a->cell, g, NS, dg)))
            break;
        for (int i = 0; i < N; i++)
            if (d[i] > a->max) { a->max = d[i]; a->at = x[i]; }
        a->slope = max_slope(a->forward, x, N);
        double lsum = 0;
        int zeros = 0;
        for (int i = 0; i < NS; i++) {
            if (dg[i] > 0) lsum += log(dg[i]);
            else zeros++;
        }
        a->typical = zeros ? 0.0 : exp(D * lsum / NS);
        if (a->cell == MN_RNN_RELU) {
            for (int i = 0; i < N; i++)
                if (x[i] > 0 ? d[i] != 1.0f : d[i] != 0.0f) relu_exact = 0;
            relu_active = 1.0 - (double)zeros / NS;
            ok &= relu_exact;
        } else {
            ok &= a->max <= a->bound * (1 + 1e-6) && a->max >= a->bound * (1 - 1e-3) &&
                  rel_err(a->slope, a->bound) <= 1e-3;
        }
    }
    if (!st) {
        text(r->claim, sizeof r->claim, "sigmoid' <= 1/4, tanh' <= 1 and ReLU' = 1 for x > 0, "
             "so a product over depth D of sigmoid derivatives is at most 0.25^D");
        text(r->quantity, sizeof r->quantity, "max over x of sigmoid'(x) (backward of the GRU "
             "update gate)");
        text(r->criterion, sizeof r->criterion, "each max within 0.1%% of its bound and not "
             "above it; ReLU' exactly 1 for x > 0 and 0 for x < 0");
        say(r, "setup: the derivative each backward pass uses, measured through a one-unit layer\n"
               "       on 20001 points x in [-10, 10] (tanh, ReLU: an RNN cell with W_ih = 1;\n"
               "       sigmoid: a GRU whose update gate alone reads x); 'slope' is the central\n"
               "       difference of the forward function (src/fastmath.h); 'typical' the\n"
               "       product of D = %d derivatives at x ~ N(0, 1) (geometric mean ^ D).\n", D);
        say(r, "\n  %-8s  %6s  %12s  %6s  %12s  %12s  %12s\n", "", "bound", "max f'", "at x",
            "max slope", "bound^D", "typical^D");
        for (int k = 0; k < 3; k++) {
            act_row *a = &rows[k];
            say(r, "  %-8s  %6g  %12.8f  %6.3f  %12.8f  %12.4g  %12.4g\n", a->name, a->bound,
                a->max, a->at, a->slope, pow(a->bound, D), a->typical);
            putf(r, a->max, "%s_max_derivative", a->name);
            putf(r, pow(a->bound, D), "%s_bound_product", a->name);
            putf(r, a->typical, "%s_typical_product", a->name);
        }
        say(r, "\n  ReLU' is %s 1 for every x > 0 and 0 for x < 0; at x ~ N(0,1) a unit is active\n"
               "  with probability %.3f, so a path through D = %d steps keeps the factor 1 only\n"
               "  if it stays active throughout (chance 2^-D = %.3g for independent signs).\n",
            relu_exact ? "exactly" : "NOT exactly", relu_active, D, pow(0.5, D));
        put(r, "depth", D);
        verdict(r, 0.25, rows[0].max, 1, ok);
    }
    mn_release(x);
    return st;
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

static mn_status exp_gru_params(const mn_lab_options *o, mn_lab_result *r) {
    settings s;
    mn_status st = resolve(o, 1.0, &s);
    if (st) return st;
    int H = s.H;
    size_t lt, lr, gt, gr, rt, rr;
    if ((st = count_params(MN_LSTM, H, &lt, &lr)) || (st = count_params(MN_GRU, H, &gt, &gr)) ||
        (st = count_params(MN_RNN_TANH, H, &rt, &rr)))
        return st;
    text(r->claim, sizeof r->claim, "a GRU has 3 gate blocks where an LSTM has 4, so a GRU "
         "layer holds exactly 3/4 of the parameters of an LSTM layer of the same size");
    text(r->quantity, sizeof r->quantity, "GRU / LSTM recurrent-layer parameters, input = "
         "hidden = %d", H);
    text(r->criterion, sizeof r->criterion, "4 * GRU count == 3 * LSTM count, exactly");
    double G = (double)H * (H + H + 2);   /* one gate block: W_ih, W_hh rows, two biases */
    say(r, "setup: one-layer models from mn_model_create, input = hidden = %d, 1 output;\n"
           "       counts from mn_model_param_count, minus the shared head.\n\n", H);
    say(r, "  %-10s  %12s  %12s  %14s  %12s\n", "cell", "recurrent", "theory", "with head",
        "vs LSTM");
    say(r, "  %-10s  %12zu  %12.0f  %14zu  %12.6f\n", "lstm", lr, 4 * G, lt, 1.0);
    say(r, "  %-10s  %12zu  %12.0f  %14zu  %12.6f\n", "gru", gr, 3 * G, gt, (double)gr / lr);
    say(r, "  %-10s  %12zu  %12.0f  %14zu  %12.6f\n", "rnn", rr, G, rt, (double)rr / lr);
    say(r, "\n  theory: G*H*(I + H + 2) with G gate blocks (LSTM 4, GRU 3, RNN 1); with the\n"
           "  head counted the ratio is %.6f\n", (double)gt / lt);
    put(r, "hidden", H);
    put(r, "lstm_params", (double)lr);
    put(r, "gru_params", (double)gr);
    put(r, "rnn_params", (double)rr);
    put(r, "ratio_with_head", (double)gt / lt);
    verdict(r, 0.75, (double)gr / lr, 1, 4 * gr == 3 * lr && lr == (size_t)(4 * G));
    return MN_OK;
}

/* ------------------------------------------------------------ adding-sweep */

#define SWEEP_STEPS 2000
#define SWEEP_BATCH 32
#define SWEEP_EVAL 500
#define SOLVED_MSE 0.01          /* 6% of the baseline 1/6 */
#define NEAR_BASELINE 0.5        /* test MSE above half the baseline: nothing learned */

typedef struct {
    double mse;                  /* NaN when training diverged */
    int horizon;
} sweep_run;

/* Train one model on the adding task with mnemo's trainer and default settings (Adam,
 * clip 1; chrono init for gated cells, as 'mnemo train' does), record the gradient profile
 * over the last tenth of the steps and evaluate on held-out sequences. */
static mn_status sweep_one(const settings *s, int T, mn_cell_kind cell, sweep_run *out) {
    mn_task *task = NULL;
    mn_model *m = NULL;
    mn_trainer *tr = NULL;
    mn_grad_recorder *rec = NULL;
    double *dh = NULL;
    mn_model_config mc;
    mn_train_config tc;
    mn_status st = adding_setup(T, s->seed, cell, s->H, &task, &mc);
    if (st) return st;
    mc.chrono_tmax = cell == MN_LSTM || cell == MN_GRU ? mn_task_get_info(task)->max_steps : 0;
    train_setup(&tc, s->steps, s->batch, s->seed, SWEEP_EVAL);
    out->mse = NAN;
    out->horizon = 0;
    if ((st = mn_model_create(&mc, s->seed, &m)) || (st = mn_trainer_create(m, task, &tc, &tr)) ||
        (st = mn_grad_recorder_attach(m, T, &rec)) || (st = alloc_doubles(&dh, (size_t)T)))
        goto done;
    int window = MN_MAX(1, s->steps / 10);
    for (int i = 0; i < s->steps && !st; i++) {
        mn_step_stats ss;
        if (i == s->steps - window) mn_grad_recorder_clear(rec);
        st = mn_trainer_step(tr, &ss);
    }
    if (st == MN_E_NUMERIC) {   /* diverged: a measurement, not an error */
        st = MN_OK;
        goto done;
    }
    mn_eval_stats ev;
    if (st || (st = mn_trainer_evaluate(tr, &ev))) goto done;
    out->mse = ev.loss;
    mn_grad_recorder_profile(rec, 0, dh, NULL);
    out->horizon = mn_gradient_horizon(dh, T, HORIZON_THRESHOLD);
done:
    mn_release(dh);
    mn_grad_recorder_detach(rec);
    mn_trainer_free(tr);
    mn_model_free(m);
    mn_task_free(task);
    return st;
}

static int solved(double mse) { return mse < SOLVED_MSE; }
static int near_baseline(double mse) { return !(mse <= NEAR_BASELINE / 6.0); }  /* NaN too */

static const char *outcome(double mse) {
    return solved(mse) ? "solved" : near_baseline(mse) ? "baseline" : "partly";
}

static mn_status exp_adding_sweep(const mn_lab_options *o, mn_lab_result *r) {
    settings s;
    mn_status st = resolve(o, 1.0, &s);
    if (st) return st;
    if (!s.steps) s.steps = SWEEP_STEPS;
    if (!s.batch) s.batch = SWEEP_BATCH;
    int n = o->n_lengths ? o->n_lengths : (int)(sizeof default_lengths / sizeof(int));
    const int *Ls = o->n_lengths ? o->lengths : default_lengths;
    if (n < 1 || n > MN_LAB_MAX_LIST)
        return mn_fail(MN_E_ARG, "give 1 to %d lengths, got %d", MN_LAB_MAX_LIST, n);
    for (int i = 0; i < n; i++)
        if (Ls[i] < 2 || Ls[i] > MAX_LENGTH)
            return mn_fail(MN_E_ARG, "adding-sweep lengths must be from 2 to %d, got %d",
                           MAX_LENGTH, Ls[i]);
        else if ((double)Ls[i] * s.batch * s.H > MAX_SWEEP_CELLS)
            return mn_fail(MN_E_ARG, "length %d x batch %d x hidden %d is above the %d the "
                           "sweep keeps in memory; lower --lengths, --batch or --hidden",
                           Ls[i], s.batch, s.H, MAX_SWEEP_CELLS);
    static const mn_cell_kind cells[] = {MN_RNN_TANH, MN_LSTM, MN_GRU};
    text(r->claim, sizeof r->claim, "on the adding problem, gated cells (LSTM, GRU) solve the "
         "lengths at which a tanh RNN stays near the baseline MSE 1/6, and none does worse "
         "than the tanh RNN");
    text(r->quantity, sizeof r->quantity, "lengths where LSTM and GRU both solve it, of the "
         "lengths where the tanh RNN stays near the baseline");
    text(r->criterion, sizeof r->criterion, "all of them (and at least one), and no length "
         "that the tanh RNN solves and a gated cell does not");
    say(r, "setup: mnemo's trainer with its defaults (Adam lr 5e-3, clip 1; chrono init for\n"
           "       LSTM and GRU), H %d, batch %d, %d steps per run; test MSE on %d held-out\n"
           "       sequences. solved: test MSE < %g (%.0f%% of the baseline 1/6); baseline:\n"
           "       above %g x 1/6. Horizon: largest lag with |dL/dh| ratio >= %g, averaged\n"
           "       over the last %d training steps (gradient recorder).\n",
        s.H, s.batch, s.steps, SWEEP_EVAL, SOLVED_MSE, 600 * SOLVED_MSE, NEAR_BASELINE,
        HORIZON_THRESHOLD, MN_MAX(1, s.steps / 10));
    say(r, "\n  %7s", "length");
    for (int c = 0; c < 3; c++) say(r, "  %-28s", mn_cell_name(cells[c]));
    say(r, "\n  %7s", "");
    for (int c = 0; c < 3; c++) say(r, "  %-9s %-9s %-8s", "test MSE", "outcome", "horizon");
    say(r, "\n");
    int rnn_stuck = 0, separated = 0, worse = 0;
    for (int i = 0; i < n; i++) {
        sweep_run runs[3];
        for (int c = 0; c < 3; c++) {
            if ((st = sweep_one(&s, Ls[i], cells[c], &runs[c]))) return st;
            progress(o, "adding-sweep: length %d, %s: test MSE %.4g (%s), horizon %d", Ls[i],
                     mn_cell_name(cells[c]), runs[c].mse, outcome(runs[c].mse), runs[c].horizon);
            putf(r, runs[c].mse, "%s_T%d_mse", mn_cell_name(cells[c]), Ls[i]);
            putf(r, runs[c].horizon, "%s_T%d_horizon", mn_cell_name(cells[c]), Ls[i]);
        }
        say(r, "  %7d", Ls[i]);
        for (int c = 0; c < 3; c++)
            say(r, "  %-9.4g %-9s %-8d", runs[c].mse, outcome(runs[c].mse), runs[c].horizon);
        say(r, "\n");
        int gated = solved(runs[1].mse) && solved(runs[2].mse);
        if (near_baseline(runs[0].mse)) {
            rnn_stuck++;
            separated += gated;
        }
        worse += solved(runs[0].mse) && !gated;
    }
    say(r, "\n  the tanh RNN stays near the baseline at %d length%s; LSTM and GRU solve %d of "
           "them; lengths the RNN solves and a gated cell does not: %d\n",
        rnn_stuck, rnn_stuck == 1 ? "" : "s", separated, worse);
    put(r, "steps", s.steps);
    put(r, "hidden", s.H);
    put(r, "batch", s.batch);
    put(r, "solved_mse", SOLVED_MSE);
    if (!rnn_stuck)
        text(r->note, sizeof r->note, "the tanh RNN left the baseline at every length given, "
             "so there is no length that separates the cells; try longer --lengths");
    verdict(r, rnn_stuck, separated, rnn_stuck > 0, separated == rnn_stuck && !worse);
    return MN_OK;
}

/* ------------------------------------------------------------------ table */

typedef mn_status (*lab_fn)(const mn_lab_options *o, mn_lab_result *r);

static const struct {
    const char *name, *summary, *options;
    lab_fn run;
} experiments[] = {
    {"vanishing", "gradient ratio over T steps of W_hh = rho*Q vs rho^(T-1), rho < 1",
     "radius length hidden seed", exp_vanishing},
    {"exploding", "the same for rho > 1, and what global-norm clipping does to the update",
     "radius length hidden clip seed", exp_exploding},
    {"lstm-highway", "LSTM cell path with the forget gate held at f: f^(T-1) vs RNN rho^(T-1)",
     "forget radius length hidden seed", exp_lstm_highway},
    {"orthogonal", "an orthogonal recurrence keeps the gradient norm over T steps (ratio 1)",
     "radius length hidden seed", exp_orthogonal},
    {"tbptt", "with chunk length k, gradients from more than k steps back are exactly 0",
     "tbptt length hidden seed", exp_tbptt},
    {"forget-bias", "initial forget bias b_f vs memory half-life ln 0.5 / ln sigmoid(b_f)",
     "forget-bias length hidden seed", exp_forget_bias},
    {"activations", "derivative bounds of sigmoid, tanh, ReLU and their products over depth",
     "length seed", exp_activations},
    {"gru-params", "parameters of a GRU vs an LSTM of the same size (3/4)", "hidden",
     exp_gru_params},
    {"adding-sweep", "tanh RNN vs LSTM vs GRU on the adding problem over lengths (minutes)",
     "lengths steps batch hidden seed", exp_adding_sweep},
};
#define NEXPERIMENTS ((int)(sizeof experiments / sizeof experiments[0]))

const char *mn_lab_names(void) {
    return "vanishing, exploding, lstm-highway, orthogonal, tbptt, forget-bias, activations, "
           "gru-params, adding-sweep";
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
