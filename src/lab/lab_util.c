/* Helpers the lab experiments share: the report text and named figures, recurrent layers
 * outside any model with their per-step gradient probes, and the adding-task setup. */
#include "init.h"
#include "lab.h"
#include "model.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* ------------------------------------------------------------ result text */

void mn_lab_say(mn_lab_result *r, const char *fmt, ...) {
    size_t n = strlen(r->report);
    if (n + 1 >= sizeof r->report) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->report + n, sizeof r->report - n, fmt, ap);
    va_end(ap);
}

void mn_lab_text(char *dst, size_t n, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(dst, n, fmt, ap);
    va_end(ap);
}

/* A further measured figure, for JSON. */
void mn_lab_put(mn_lab_result *r, const char *name, double v) {
    if (r->n_numbers >= MN_LAB_MAX_NUMBERS) return;
    mn_lab_number *x = &r->numbers[r->n_numbers++];
    snprintf(x->name, sizeof x->name, "%s", name);
    x->value = v;
}

void mn_lab_putf(mn_lab_result *r, double v, const char *fmt, ...) {
    char name[48];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    mn_lab_put(r, name, v);
}

void mn_lab_verdict(mn_lab_result *r, double theory, double measured, int applies, int agree) {
    r->theory = theory;
    r->measured = measured;
    r->applies = applies;
    r->pass = applies && agree;
}

int mn_lab_cmp_int(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

int mn_lab_cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double mn_lab_rel_err(double measured, double theory) {
    if (theory == 0) return measured == 0 ? 0 : INFINITY;
    return fabs(measured / theory - 1.0);
}

void mn_lab_progress(const mn_lab_options *o, const char *fmt, ...) {
    if (!o->progress) return;
    char line[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    o->progress(o->progress_ctx, line);
}

/* ------------------------------------------------------- a bare layer */

void mn_lab_bare_free(mn_lab_bare *b) {
    mn_layer_destroy(b->l);
    mn_release(b->buf);
    b->l = NULL;
    b->buf = NULL;
}

mn_status mn_lab_bare_create(mn_lab_bare *b, mn_cell_kind cell, int in, int H) {
    b->buf = NULL;
    b->l = mn_recurrent_create(cell, in, H, "_l0");
    if (!b->l) return MN_E_NOMEM;
    size_t n = b->l->param_count;
    b->buf = mn_alloc_zero(2 * n * sizeof(float));
    if (!b->buf) {
        mn_lab_bare_free(b);
        return MN_E_NOMEM;
    }
    b->l->params = b->buf;
    b->l->grads = b->buf + n;
    return MN_OK;
}

/* The parameter tensor whose name starts with prefix ("weight_hh"), or NULL. */
float *mn_lab_layer_tensor(mn_layer *l, const char *prefix) {
    for (int i = 0; i < l->nspecs; i++)
        if (!strncmp(l->specs[i].name, prefix, strlen(prefix)))
            return l->params + l->specs[i].offset;
    return NULL;
}

float *mn_lab_bare_tensor(mn_lab_bare *b, const char *prefix) {
    return mn_lab_layer_tensor(b->l, prefix);
}

/* Forward x [T,B,I], then backward with the loss on the last step only: dy_{T-1} holds a
 * random direction of norm `scale` per sequence, dy_t = 0 before. dh[t] and dc[t] (may be
 * NULL; [T] each) receive the batch-mean ‖∂L/∂h_t‖ and ‖∂L/∂c_t‖ that the layer's own
 * backward records. */
mn_status mn_lab_last_step_profile(mn_layer *l, const float *x, int T, int B, double scale,
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
double mn_lab_centered_scale(double log10_ratio) {
    double e = -0.5 * log10_ratio;
    e = e < -30 ? -30 : e > 30 ? 30 : e;
    return pow(10.0, e);
}

int mn_lab_measurable(double log10_ratio) {
    return isfinite(log10_ratio) && fabs(log10_ratio) <= MN_LAB_RANGE_DECADES;
}

/* ‖∂L/∂h_t‖ of the linear-regime tanh RNN (see lab.h): W_hh = ρ·Q, or
 * PyTorch's default U(±1/√H) for comparison; W_ih = 0, biases 0, zero input, B = 2. */
mn_status mn_lab_linear_rnn_profile(int H, int T, double rho, mn_lab_w_kind w, uint64_t seed,
                                    double scale, double *dh) {
    enum { B = 2 };
    mn_lab_bare bl;
    mn_status st = mn_lab_bare_create(&bl, MN_RNN_TANH, 1, H);
    if (st) return st;
    mn_rng rng;
    mn_rng_seed(&rng, seed);
    float *W_hh = mn_lab_bare_tensor(&bl, "weight_hh");
    if (w == MN_LAB_W_ORTHOGONAL) st = mn_init_orthogonal(W_hh, H, H, (float)rho, &rng);
    else mn_init_uniform(W_hh, (size_t)H * H, 1.0f / sqrtf((float)H), &rng);
    float *x = mn_alloc_zero((size_t)T * B * sizeof(float));
    if (!st && !x) st = MN_E_NOMEM;
    if (!st) st = mn_lab_last_step_profile(bl.l, x, T, B, scale, &rng, dh, NULL);
    mn_release(x);
    mn_lab_bare_free(&bl);
    return st;
}

/* Lags shown in tables: 0, 1, 10, T/4, T/2, 3T/4, T-1 (those that exist, once each). */
int mn_lab_table_lags(int T, int *lags) {
    int want[] = {0, 1, 10, T / 4, T / 2, 3 * T / 4, T - 1}, n = 0;
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        int v = want[i];
        if (v < 0 || v > T - 1 || (n && v <= lags[n - 1])) continue;
        lags[n++] = v;
    }
    return n;
}

/* ratio[lag] = norm[T-1-lag] / norm[T-1] */
double mn_lab_ratio_at(const double *norm, int T, int lag) {
    return norm[T - 1] > 0 ? norm[T - 1 - lag] / norm[T - 1] : 0.0;
}

mn_status mn_lab_alloc_doubles(double **p, size_t n) {
    *p = mn_alloc_zero(n * sizeof(double));
    return *p ? MN_OK : MN_E_NOMEM;
}

/* The adding task at length T and a model config it has set up (input, output, loss),
 * with the cell and hidden size filled in; the caller adjusts the rest. */
mn_status mn_lab_adding_setup(int T, uint64_t seed, mn_cell_kind cell, int H, mn_task **task,
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
void mn_lab_train_setup(mn_train_config *tc, int steps, int batch, uint64_t seed, int eval_size) {
    mn_train_config_init(tc);
    tc->steps = steps;
    tc->batch_size = batch;
    tc->seed = seed;
    tc->eval_size = eval_size;
}
