/* A forecasting task over a multivariate series (csv:): inputs are windows of T rows of
 * the normalized series, the target is every column h rows after the window's last row
 * (MSE at the last step). Training windows are drawn at seeded offsets among those whose
 * target row is a training row, the k-th depending only on (seed, k) as in task_stream.c,
 * so the position is mn_task.drawn; evaluation takes every window whose target is an
 * evaluation row, in order. Errors are also measured in the data's own units, against the
 * "repeat the last value" forecast (the naive forecast of Hyndman & Athanasopoulos,
 * Forecasting: Principles and Practice, 5.2). */
#include "task.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    int refs;
    float *x;                /* [n,C] normalized */
    double *mean, *std;      /* [C] */
    char *state;             /* "mean:std,..." */
    size_t n, split;
    int C, T, h;
} series_store;

typedef struct {
    series_store *d;
    int reading_eval;
    size_t next_eval;
} series_task;

static uint64_t mix(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* the window whose target is row r: inputs rows r-h-T+1 .. r-h */
static void put_window(mn_task *t, const series_store *d, size_t r, int b, int B) {
    const size_t C = (size_t)d->C, s0 = r - (size_t)d->h - (size_t)d->T + 1;
    for (int i = 0; i < d->T; i++)
        memcpy(t->x + ((size_t)i * B + b) * C, d->x + (s0 + i) * C, C * sizeof(float));
    memcpy(t->target + (size_t)b * C, d->x + r * C, C * sizeof(float));
    t->lengths[b] = d->T;
}

/* the first row a target can be: a whole window before it */
static size_t first_target(const series_store *d) { return (size_t)d->T + d->h - 1; }

static void series_generate(mn_task *t, int B) {
    series_task *a = t->data;
    const series_store *d = a->d;
    const size_t lo = first_target(d), count = d->split - lo;
    for (int b = 0; b < B; b++) {
        size_t r;
        if (a->reading_eval) {
            r = d->split + a->next_eval;
            a->next_eval = (a->next_eval + 1) % (d->n - d->split);
        } else {
            uint64_t k = t->drawn++;
            r = lo + (size_t)(mix(t->seed ^ mix(k + 0x7F4A7C159E3779B9ull)) % count);
        }
        put_window(t, d, r, b, B);
    }
}

/* squared and absolute errors in the data's units, and the values counted */
static void series_measure(const mn_task *t, const mn_batch *b, const float *out,
                           double *sums) {
    const series_store *d = ((const series_task *)t->data)->d;
    for (int i = 0; i < b->B; i++)
        for (int c = 0; c < d->C; c++) {
            double e = ((double)out[(size_t)i * d->C + c] - b->target[(size_t)i * d->C + c]) *
                       d->std[c];
            sums[0] += e * e;
            sums[1] += fabs(e);
            sums[2] += 1;
        }
}

static void store_unref(series_store *d) {
    if (!d || --d->refs > 0) return;
    mn_release(d->x);
    mn_release(d->mean);
    mn_release(d->state);
    mn_release(d);
}

static mn_status attach(mn_task *t, series_store *d) {
    series_task *a = mn_alloc_zero(sizeof *a);
    if (!a) return MN_E_NOMEM;
    a->d = d;
    d->refs++;
    t->data = a;
    t->info.data_state = d->state;
    return MN_OK;
}

static mn_status series_clone(const mn_task *t, mn_task *copy) {
    return attach(copy, ((const series_task *)t->data)->d);
}

static void series_release(mn_task *t) {
    series_task *a = t->data;
    if (!a) return;
    store_unref(a->d);
    mn_release(a);
    t->data = NULL;
}

static void series_rewind(mn_task *t) {
    series_task *a = t->data;
    a->reading_eval = 1;
    a->next_eval = 0;
}

static const mn_task_kind series_kind = {
    .name = "series", .generate = series_generate, .measure = series_measure,
    .clone = series_clone, .release = series_release, .rewind_heldout = series_rewind};

mn_status mn_task_series_create(const char *name, float *x, size_t n, int C, size_t split,
                                int T, int h, const double *mean, const double *std,
                                uint64_t seed, mn_task **out) {
    *out = NULL;
    if (T < 1 || h < 1 || C < 1) {
        mn_release(x);
        return mn_fail(MN_E_ARG, "%s: the window (%d) and the horizon (%d) must be at least 1",
                       name, T, h);
    }
    if (split <= (size_t)T + h - 1 || n <= split) {
        mn_release(x);
        return n <= split
                   ? mn_fail(MN_E_INPUT, "%s: no rows are left for evaluation; give a "
                             "validation fraction above 0 or a validation file", name)
                   : mn_fail(MN_E_INPUT, "%s: %zu training rows, too few for one window of %d "
                             "rows and a target %d step%s after it; give more rows, a shorter "
                             "length or a shorter horizon", name, split, T, h,
                             h == 1 ? "" : "s");
    }
    if (n - split > (size_t)INT32_MAX) {
        mn_release(x);
        return mn_fail(MN_E_INPUT, "%s: %zu evaluation rows; hold out fewer", name, n - split);
    }
    series_store *d = mn_alloc_zero(sizeof *d);
    mn_task *t = d ? mn_alloc_zero(sizeof *t) : NULL;
    if (d) d->x = x, d->refs = 1;
    if (!t || !(d->mean = mn_alloc((size_t)C * 2 * sizeof(double))) ||
        !(d->state = mn_alloc((size_t)C * 64 + 1))) {
        mn_release(t);
        if (d) store_unref(d);
        else mn_release(x);
        return MN_E_NOMEM;
    }
    d->std = d->mean + C;
    *d = (series_store){1, x, d->mean, d->std, d->state, n, split, C, T, h};
    for (int c = 0; c < C; c++) {
        if (mean) {
            d->mean[c] = mean[c];
            d->std[c] = std[c];
            continue;
        }
        double s = 0, q = 0;
        for (size_t r = 0; r < split; r++) s += x[r * C + c];
        double m = s / (double)split;
        for (size_t r = 0; r < split; r++) q += (x[r * C + c] - m) * (x[r * C + c] - m);
        double sd = sqrt(q / (double)split);
        d->mean[c] = m;
        d->std[c] = sd > 0 && isfinite(sd) ? sd : 1;   /* a constant column stays as it is */
    }
    size_t w = 0;
    d->state[0] = 0;
    for (int c = 0; c < C; c++)
        w += (size_t)snprintf(d->state + w, 64, "%s%.17g:%.17g", c ? "," : "", d->mean[c],
                              d->std[c]);
    for (size_t r = 0; r < n; r++)
        for (int c = 0; c < C; c++)
            x[r * C + c] = (float)((x[r * C + c] - d->mean[c]) / d->std[c]);
    /* the naive forecast on the evaluation targets: the window's last row */
    double se = 0, ae = 0, sen = 0;
    for (size_t r = split; r < n; r++)
        for (int c = 0; c < C; c++) {
            double e = (double)x[r * C + c] - x[(r - h) * C + c];
            sen += e * e;
            se += e * e * d->std[c] * d->std[c];
            ae += fabs(e) * d->std[c];
        }
    const double cnt = (double)(n - split) * C;
    t->kind = &series_kind;
    t->seed = seed;
    mn_rng_seed(&t->rng, seed);
    mn_task_info *in = &t->info;
    in->name = name;
    in->length = in->max_steps = T;
    in->input_size = C;
    in->output_size = C;
    in->output = MN_OUTPUT_LAST;
    in->loss = MN_LOSS_MSE;
    in->eval_sequences = (int)(n - split);
    in->baseline_loss = sen / cnt;
    in->baseline_desc = "repeat the last value (the naive forecast), normalized";
    in->baseline_mse = se / cnt;
    in->baseline_mae = ae / cnt;
    mn_status st = attach(t, d);
    store_unref(d);   /* the task holds it now (or nothing does) */
    if (st) {
        mn_release(t);
        return st;
    }
    *out = t;
    return MN_OK;
}
