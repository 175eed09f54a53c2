/* Optimizers, clipping and schedules over the model's flat buffers.
 *
 * Determinism: element-wise updates give the same result in any order, so they may run
 * in parallel. The one reduction, the global norm, is cut into a fixed number of blocks
 * whose partial sums are added in block order, so it is the same for every thread count. */
#include "optim.h"
#include "model.h"

#include <math.h>
#include <string.h>

/* Below this many elements a parallel region costs more than the loop itself. */
#define PARALLEL_MIN (1L << 16)

void mn_train_config_init(mn_train_config *cfg) {
    if (!cfg) return;
    memset(cfg, 0, sizeof *cfg);
    cfg->steps = 2000;
    cfg->batch_size = 32;
    cfg->optimizer = MN_OPT_ADAM;
    cfg->lr = 5e-3f;
    cfg->beta1 = 0.9f;
    cfg->beta2 = 0.999f;
    cfg->eps = 1e-8f;
    cfg->weight_decay = 0.0f;   /* also for AdamW: decay is applied only when asked for */
    cfg->momentum = 0.9f;
    cfg->schedule = MN_SCHED_CONSTANT;
    cfg->warmup_steps = 0;
    cfg->min_lr_ratio = 0.1f;
    cfg->clip_norm = 1.0f;
    cfg->clip_value = 0.0f;
    cfg->tbptt = 0;
    cfg->seed = 1;
    cfg->eval_size = 1000;
    cfg->max_bad_steps = 5;
}

mn_status mn_optimizer_parse(const char *name, mn_optimizer_kind *out) {
    static const struct { const char *name; mn_optimizer_kind kind; } names[] = {
        {"adam", MN_OPT_ADAM}, {"adamw", MN_OPT_ADAMW}, {"sgd", MN_OPT_SGD}};
    for (size_t i = 0; name && i < sizeof names / sizeof names[0]; i++)
        if (strcmp(name, names[i].name) == 0) {
            if (out) *out = names[i].kind;
            return MN_OK;
        }
    return mn_fail(MN_E_ARG, "unknown optimizer '%s'; valid optimizers: adam, adamw, sgd",
                   name ? name : "(null)");
}

mn_status mn_optimizer_init(mn_optimizer *o, const mn_train_config *cfg, size_t n) {
    if (!o || !cfg) return mn_fail(MN_E_ARG, "mn_optimizer_init: NULL argument");
    memset(o, 0, sizeof *o);
    int adam = cfg->optimizer == MN_OPT_ADAM || cfg->optimizer == MN_OPT_ADAMW;
    if (!adam && cfg->optimizer != MN_OPT_SGD)
        return mn_fail(MN_E_ARG, "unknown optimizer kind %d", (int)cfg->optimizer);
    /* The negated comparisons also reject NaN. */
    if (adam && !(cfg->beta1 >= 0 && cfg->beta1 < 1 && cfg->beta2 >= 0 && cfg->beta2 < 1))
        return mn_fail(MN_E_ARG, "Adam betas must lie in [0, 1), got %g and %g",
                       (double)cfg->beta1, (double)cfg->beta2);
    if (adam && !(cfg->eps >= 0 && isfinite(cfg->eps)))
        return mn_fail(MN_E_ARG, "Adam eps must be >= 0, got %g", (double)cfg->eps);
    if (!(cfg->ssm_lr >= 0 && cfg->ssm_lr < 1e3))
        return mn_fail(MN_E_ARG, "the state-space learning rate (ssm_lr) must be >= 0 and "
                       "finite (0: min(lr, 1e-3)), got %g", (double)cfg->ssm_lr);
    if (!(cfg->weight_decay >= 0 && isfinite(cfg->weight_decay)))
        return mn_fail(MN_E_ARG, "weight decay must be >= 0, got %g",
                       (double)cfg->weight_decay);
    if (!adam && !(cfg->momentum >= 0 && cfg->momentum < 1))
        return mn_fail(MN_E_ARG, "SGD momentum must lie in [0, 1), got %g",
                       (double)cfg->momentum);
    o->kind = cfg->optimizer;
    o->beta1 = cfg->beta1;
    o->beta2 = cfg->beta2;
    o->eps = cfg->eps;
    o->weight_decay = cfg->weight_decay;
    o->momentum = adam ? 0.0f : cfg->momentum;
    o->n = n;
    size_t bytes;
    if (!mn_mul_size(n ? n : 1, sizeof(float), &bytes))
        return mn_fail(MN_E_NOMEM, "optimizer state for %zu parameters is too large", n);
    if ((adam || o->momentum > 0) && !(o->m = mn_alloc_zero(bytes))) return MN_E_NOMEM;
    if (adam && !(o->v = mn_alloc_zero(bytes))) {
        mn_optimizer_free(o);
        return MN_E_NOMEM;
    }
    return MN_OK;
}

void mn_optimizer_free(mn_optimizer *o) {
    if (!o) return;
    mn_release(o->m);
    mn_release(o->v);
    mn_release(o->seg);
    o->m = o->v = NULL;
    o->seg = NULL;
    o->nseg = 0;
}

float mn_ssm_lr(const mn_train_config *cfg) {
    return cfg->ssm_lr > 0 ? cfg->ssm_lr : MN_MIN(cfg->lr, 1e-3f);
}

/* Segments in buffer order: each tensor's stretch in its group, neighbours of one group
 * merged, so a model without groups keeps one segment. */
mn_status mn_optimizer_use_groups(mn_optimizer *o, const mn_train_config *cfg,
                                  const mn_model *m) {
    mn_release(o->seg);
    o->seg = NULL;
    o->nseg = 0;
    o->ssm = 0;
    if (!m || m->nparams != o->n)
        return mn_fail(MN_E_ARG, "optimizer groups: the model has %zu parameters, the "
                       "optimizer %zu", m ? m->nparams : 0, o->n);
    const double ssm_scale = cfg->lr > 0 ? (double)mn_ssm_lr(cfg) / cfg->lr : 1.0;
    int cap = 2 * m->ntensors + 1;
    mn_opt_segment *seg = mn_alloc((size_t)cap * sizeof *seg);
    if (!seg) return MN_E_NOMEM;
    int n = 0;
    size_t at = 0;
    /* tensors are laid out in order, with no gaps; a stretch no tensor names (none today)
     * would train in the default group */
    for (int i = 0; i <= m->ntensors; i++) {
        size_t lo = i < m->ntensors ? m->tensors[i].offset : o->n;
        size_t hi = i < m->ntensors ? lo + m->tensors[i].size : o->n;
        int g = i < m->ntensors ? m->tensors[i].group : MN_GROUP_DEFAULT;
        if (lo > at) lo = at;              /* a gap joins the next stretch */
        if (hi <= lo) continue;
        o->ssm |= g == MN_GROUP_SSM;
        mn_opt_segment s = {lo, hi, g == MN_GROUP_SSM ? ssm_scale : 1.0,
                            g == MN_GROUP_DEFAULT ? o->weight_decay : 0.0f};
        if (n > 0 && seg[n - 1].hi == lo && seg[n - 1].lr_scale == s.lr_scale &&
            seg[n - 1].weight_decay == s.weight_decay)
            seg[n - 1].hi = hi;
        else if (n < cap)
            seg[n++] = s;
        at = hi;
    }
    o->seg = seg;
    o->nseg = n;
    return MN_OK;
}

static void sgd_step(mn_optimizer *o, float *p, const float *g, size_t lo, size_t hi,
                     float lr, float wd) {
    const long n = (long)hi;
    const float mu = o->momentum;
    float *buf = o->m;
    const int first = o->t == 1;   /* PyTorch starts the momentum buffer at g */
#pragma omp parallel for schedule(static) if (n - (long)lo > PARALLEL_MIN)
    for (long i = (long)lo; i < n; i++) {
        float gi = g[i] + wd * p[i];
        if (buf) {
            buf[i] = first ? gi : mu * buf[i] + gi;
            gi = buf[i];
        }
        p[i] -= lr * gi;
    }
}

static void adam_step(mn_optimizer *o, float *p, const float *g, size_t lo, size_t hi,
                      float lr, float wd) {
    const long n = (long)hi;
    const float b1 = o->beta1, b2 = o->beta2, eps = o->eps;
    const int decoupled = o->kind == MN_OPT_ADAMW;
    /* Coupled decay (Adam) enters the gradient; decoupled decay (AdamW) shrinks p. */
    const float wd_grad = decoupled ? 0.0f : wd;
    const float shrink = decoupled ? (float)(1.0 - (double)lr * wd) : 1.0f;
    /* Bias corrections in double: β^t for large t is where float would drift. */
    const double bc1 = 1.0 - pow(b1, (double)o->t), bc2 = 1.0 - pow(b2, (double)o->t);
    const float step = (float)(lr / bc1), inv_sqrt_bc2 = (float)(1.0 / sqrt(bc2));
    float *m = o->m, *v = o->v;
#pragma omp parallel for schedule(static) if (n - (long)lo > PARALLEL_MIN)
    for (long i = (long)lo; i < n; i++) {
        float gi = g[i] + wd_grad * p[i];
        m[i] = b1 * m[i] + (1.0f - b1) * gi;
        v[i] = b2 * v[i] + (1.0f - b2) * gi * gi;
        p[i] = p[i] * shrink - step * m[i] / (sqrtf(v[i]) * inv_sqrt_bc2 + eps);
    }
}

void mn_optimizer_step(mn_optimizer *o, float *params, const float *grads, float lr) {
    if (!o || !params || !grads) return;
    o->t++;
    mn_opt_segment one = {0, o->n, 1.0, o->weight_decay};
    const mn_opt_segment *seg = o->nseg ? o->seg : &one;
    for (int k = 0; k < (o->nseg ? o->nseg : 1); k++) {
        /* a scale of 1 keeps lr's bits: one group trains as before groups existed */
        float lr_k = seg[k].lr_scale == 1.0 ? lr : (float)(lr * seg[k].lr_scale);
        if (o->kind == MN_OPT_SGD) sgd_step(o, params, grads, seg[k].lo, seg[k].hi, lr_k,
                                            seg[k].weight_decay);
        else adam_step(o, params, grads, seg[k].lo, seg[k].hi, lr_k, seg[k].weight_decay);
    }
}

/* A fixed block count (not one per thread) keeps the summation order independent of the
 * number of threads. Within a block, 8 interleaved accumulators shorten the dependency
 * chain; they too are combined in a fixed order. */
#define NORM_BLOCKS 64

static double sum_squares(const float *g, size_t n) {
    double acc[8] = {0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) acc[k] += (double)g[i + k] * (double)g[i + k];
    for (; i < n; i++) acc[0] += (double)g[i] * (double)g[i];
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

double mn_global_norm(const float *g, size_t n) {
    if (!g || n == 0) return 0.0;
    if (n <= (size_t)PARALLEL_MIN) return sqrt(sum_squares(g, n));
    double part[NORM_BLOCKS];
    size_t chunk = (n + NORM_BLOCKS - 1) / NORM_BLOCKS;
#pragma omp parallel for schedule(static)
    for (int b = 0; b < NORM_BLOCKS; b++) {
        size_t lo = (size_t)b * chunk, hi = MN_MIN(n, lo + chunk);
        part[b] = lo < hi ? sum_squares(g + lo, hi - lo) : 0.0;
    }
    double s = 0;
    for (int b = 0; b < NORM_BLOCKS; b++) s += part[b];
    return sqrt(s);
}

double mn_clip_global_norm(float *g, size_t n, double norm, double max_norm) {
    /* Negated test: a NaN norm or threshold leaves g alone (the NaN check reports it). */
    if (!(max_norm > 0) || !(norm > max_norm)) return 1.0;
    double factor = max_norm / norm;
    const float f = (float)factor;
    const long len = (long)n;
#pragma omp parallel for schedule(static) if (len > PARALLEL_MIN)
    for (long i = 0; i < len; i++) g[i] *= f;
    return factor;
}

void mn_clip_values(float *g, size_t n, float c) {
    if (!(c > 0)) return;
    const long len = (long)n;
    /* Comparisons, not fminf/fmaxf: a NaN stays NaN so the finiteness check still sees it. */
#pragma omp parallel for schedule(static) if (len > PARALLEL_MIN)
    for (long i = 0; i < len; i++) {
        if (g[i] > c) g[i] = c;
        else if (g[i] < -c) g[i] = -c;
    }
}

int mn_all_finite(const float *x, size_t n) {
    int bad = 0;
    for (size_t i = 0; i < n; i++) bad |= !isfinite(x[i]);
    return !bad;
}

int mn_schedule_length(const mn_train_config *cfg) {
    return cfg->schedule_steps > 0 ? cfg->schedule_steps : cfg->steps;
}

mn_status mn_schedule_check(const mn_train_config *c) {
    if ((unsigned)c->schedule > MN_SCHED_COSINE)
        return mn_fail(MN_E_ARG, "unknown schedule kind %d", (int)c->schedule);
    if (c->warmup_steps < 0 || c->schedule_steps < 0)
        return mn_fail(MN_E_ARG, "warmup and schedule lengths must be >= 0, got %d and %d",
                       c->warmup_steps, c->schedule_steps);
    if (!(c->min_lr_ratio >= 0 && c->min_lr_ratio <= 1))
        return mn_fail(MN_E_ARG, "the cosine floor min_lr_ratio must be in [0, 1], got %g",
                       (double)c->min_lr_ratio);
    const int len = mn_schedule_length(c), warm = c->warmup_steps;
    if (len <= 0) return MN_OK;   /* no length given: the caller steps as it likes */
    if (warm > len)
        return mn_fail(MN_E_ARG, "a warmup of %d steps does not fit a schedule of %d steps: the "
                       "learning rate would never reach %g (it would end at %g); give a warmup "
                       "of at most %d steps (--warmup), or a longer schedule", warm, len,
                       (double)c->lr, (double)c->lr * len / warm, len);
    if (c->schedule == MN_SCHED_COSINE && len - warm < 2)
        return mn_fail(MN_E_ARG, "a cosine schedule of %d steps with %d warmup steps leaves %d "
                       "step%s after the warmup, and the decay from %g to %g needs at least 2; "
                       "give a warmup of at most %d step%s (--warmup), a longer schedule, or "
                       "the constant schedule", len, warm, len - warm, len - warm == 1 ? "" : "s",
                       (double)c->lr, (double)c->lr * c->min_lr_ratio, len - 2 > 0 ? len - 2 : 0,
                       len - 2 == 1 ? "" : "s");
    return MN_OK;
}

double mn_schedule_lr(const mn_train_config *cfg, int step) {
    const double lr = cfg->lr;
    const int warm = cfg->warmup_steps > 0 ? cfg->warmup_steps : 0;
    if (step < 0) step = 0;
    if (step < warm) return lr * (double)(step + 1) / (double)warm;
    if (cfg->schedule != MN_SCHED_COSINE) return lr;
    /* Cosine from lr at the first step after warmup to lr·min_lr_ratio at the schedule's
     * last step (S - 1), held there after. With a single step after warmup, that step gets
     * lr (mn_trainer_create refuses such a schedule; the library's callers may not). */
    const int span = mn_schedule_length(cfg) - 1 - warm;
    if (span <= 0) return lr;
    double p = (double)(step - warm) / (double)span;
    if (p > 1) p = 1;
    const double floor = lr * cfg->min_lr_ratio;
    return floor + (lr - floor) * 0.5 * (1.0 + cos(3.14159265358979323846 * p));
}
