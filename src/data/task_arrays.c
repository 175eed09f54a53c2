/* A task made from the caller's own arrays (mn_task_from_arrays): sequences copied once
 * into a shared, reference-counted store, a seeded held-out split, and batches drawn
 * without replacement in a fresh seeded order every epoch.
 *
 * The order of epoch e is a Fisher–Yates shuffle seeded by (seed, e), so the stream's
 * position is just the count of sequences drawn (mn_task.drawn): a checkpoint that stores
 * it resumes the same batches, and no permutation needs saving. */
#include "task.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    int refs;
    int N, T, I, O;
    float *x;                /* [N,T,I] or NULL */
    int32_t *tokens;         /* [N,T] or NULL */
    int32_t *lengths;        /* [N] */
    float *target;           /* MSE: [N,O] or [N,T,O] */
    int32_t *labels;         /* CE: [N] or [N,T] */
    int32_t *train, *eval;   /* sequence indices; eval aliases train when nothing is held out */
    int n_train, n_eval;
    char name[32];
} arrays_store;

typedef struct {
    arrays_store *d;
    int32_t *order;          /* [n_train]: the current epoch's order */
    uint64_t epoch;          /* whose order `order` holds; UINT64_MAX: none yet */
    int reading_eval;        /* 1 after rewind_heldout: hand out the evaluation set */
    int next_eval;
} arrays_task;

static void store_unref(arrays_store *d) {
    if (!d || --d->refs > 0) return;
    mn_release(d->x);
    mn_release(d->tokens);
    mn_release(d->lengths);
    mn_release(d->target);
    mn_release(d->labels);
    if (d->eval != d->train) mn_release(d->eval);
    mn_release(d->train);
    mn_release(d);
}

static uint64_t epoch_seed(uint64_t seed, uint64_t epoch) {
    return (seed ^ 0x243F6A8885A308D3ull) + 0x9E3779B97F4A7C15ull * (epoch + 1);
}

/* order := the training indices shuffled for epoch e */
static void shuffle_epoch(const mn_task *t, arrays_task *a, uint64_t e) {
    const arrays_store *d = a->d;
    memcpy(a->order, d->train, (size_t)d->n_train * sizeof *a->order);
    mn_rng r;
    mn_rng_seed(&r, epoch_seed(t->seed, e));
    for (int i = d->n_train - 1; i > 0; i--) {
        int j = (int)mn_rng_below(&r, (uint32_t)i + 1);
        int32_t s = a->order[i];
        a->order[i] = a->order[j];
        a->order[j] = s;
    }
    a->epoch = e;
}

/* Sequence n of the store into column b of the batch ([T,B,·] layouts). */
static void copy_sequence(mn_task *t, const arrays_store *d, int n, int b, int B) {
    const size_t T = (size_t)d->T, I = (size_t)d->I, O = (size_t)d->O;
    const int every = t->info.output == MN_OUTPUT_EVERY;
    for (size_t s = 0; s < T; s++) {
        if (d->x) memcpy(t->x + (s * B + b) * I, d->x + (n * T + s) * I, I * sizeof(float));
        if (d->tokens) t->tokens[s * B + b] = d->tokens[n * T + s];
        if (!every) continue;
        if (d->target) memcpy(t->target + (s * B + b) * O, d->target + (n * T + s) * O,
                              O * sizeof(float));
        if (d->labels) t->labels[s * B + b] = d->labels[n * T + s];
    }
    if (!every && d->target) memcpy(t->target + b * O, d->target + n * O, O * sizeof(float));
    if (!every && d->labels) t->labels[b] = d->labels[n];
    t->lengths[b] = d->lengths[n];
}

static void arrays_generate(mn_task *t, int B) {
    arrays_task *a = t->data;
    const arrays_store *d = a->d;
    for (int b = 0; b < B; b++) {
        int n;
        if (a->reading_eval) {
            n = d->eval[a->next_eval];
            a->next_eval = (a->next_eval + 1) % d->n_eval;
        } else {
            uint64_t pos = t->drawn++, e = pos / (uint64_t)d->n_train;
            if (e != a->epoch) shuffle_epoch(t, a, e);
            n = a->order[pos % (uint64_t)d->n_train];
        }
        copy_sequence(t, d, n, b, B);
    }
}

/* Cross-entropy tasks: the argmax is right at every scored position (first maximum). */
static void arrays_score(const mn_task *t, const mn_batch *b, const float *out,
                         double *correct, double *counted) {
    const int O = t->info.output_size, every = t->info.output == MN_OUTPUT_EVERY;
    double c = 0, k = 0;
    for (int i = 0; i < b->B; i++)
        for (int s = 0; s < (every ? b->lengths[i] : 1); s++) {
            size_t row = every ? (size_t)s * b->B + i : (size_t)i;
            int32_t y = b->labels[row];
            if (y < 0) continue;   /* ignored position */
            const float *o = out + row * O;
            int best = 0;
            for (int j = 1; j < O; j++)
                if (o[j] > o[best]) best = j;
            c += best == y;
            k += 1;
        }
    *correct = c;
    *counted = k;
}

static mn_status arrays_clone(const mn_task *t, mn_task *copy);
static void arrays_release(mn_task *t);
static void arrays_rewind(mn_task *t) {
    arrays_task *a = t->data;
    a->reading_eval = 1;
    a->next_eval = 0;
}

/* Made by mn_task_from_arrays, never by name: no setup. MSE tasks have no accuracy. */
static const mn_task_kind arrays_kind = {
    .name = "arrays", .generate = arrays_generate, .score = arrays_score,
    .clone = arrays_clone, .release = arrays_release, .rewind_heldout = arrays_rewind};
static const mn_task_kind arrays_kind_mse = {
    .name = "arrays", .generate = arrays_generate,
    .clone = arrays_clone, .release = arrays_release, .rewind_heldout = arrays_rewind};

static mn_status attach(mn_task *t, arrays_store *d) {
    arrays_task *a = mn_alloc_zero(sizeof *a);
    if (!a || !(a->order = mn_alloc((size_t)d->n_train * sizeof *a->order))) {
        mn_release(a);
        return mn_fail(MN_E_NOMEM, "no memory for the order of %d training sequences",
                       d->n_train);
    }
    a->d = d;
    a->epoch = UINT64_MAX;
    d->refs++;
    t->data = a;
    return MN_OK;
}

static mn_status arrays_clone(const mn_task *t, mn_task *copy) {
    return attach(copy, ((const arrays_task *)t->data)->d);
}

static void arrays_release(mn_task *t) {
    arrays_task *a = t->data;
    if (!a) return;
    store_unref(a->d);
    mn_release(a->order);
    mn_release(a);
    t->data = NULL;
}

/* ----------------------------------------------------------------- checks */

#define NAMED "sequence %d, step %d"
static mn_status check_values(const mn_arrays *a, const int32_t *len) {
    const int T = a->steps, I = a->input_size, O = a->output_size;
    const int every = a->output == MN_OUTPUT_EVERY;
    for (int n = 0; n < a->sequences; n++) {
        for (int s = 0; s < len[n]; s++) {
            size_t row = (size_t)n * T + s;
            for (int i = 0; a->x && i < I; i++)
                if (!isfinite(a->x[row * I + i]))
                    return mn_fail(MN_E_INPUT, "input " NAMED ", feature %d is %g; inputs must "
                                   "be finite numbers", n, s, i, (double)a->x[row * I + i]);
            if (a->tokens && (a->tokens[row] < 0 || a->tokens[row] >= a->vocab_size))
                return mn_fail(MN_E_INPUT, "token " NAMED " is %d, outside the vocabulary "
                               "[0, %d)", n, s, a->tokens[row], a->vocab_size);
        }
        int first = every ? 0 : len[n] - 1, last = every ? len[n] : len[n];
        for (int s = first; s < last; s++) {
            size_t row = every ? (size_t)n * T + s : (size_t)n;
            for (int k = 0; a->target && k < O; k++)
                if (!isfinite(a->target[row * O + k]))
                    return mn_fail(MN_E_INPUT, "target " NAMED ", output %d is %g; targets "
                                   "must be finite numbers", n, s, k,
                                   (double)a->target[row * O + k]);
            if (a->labels && (a->labels[row] < -1 || a->labels[row] >= O))
                return mn_fail(MN_E_INPUT, "label " NAMED " is %d; labels are classes in [0, "
                               "%d) or -1 to ignore the position", n, s, a->labels[row], O);
        }
    }
    return MN_OK;
}

static mn_status check_arrays(const mn_arrays *a) {
    if (a->sequences < 1 || a->steps < 1)
        return mn_fail(MN_E_ARG, "arrays: %d sequences of %d steps; both must be at least 1",
                       a->sequences, a->steps);
    if ((a->x != NULL) == (a->tokens != NULL))
        return mn_fail(MN_E_ARG, "arrays: give exactly one input, x (dense) or tokens");
    if (a->x && (a->input_size < 1 || a->vocab_size != 0))
        return mn_fail(MN_E_ARG, "arrays: dense x needs input_size >= 1 (got %d) and "
                       "vocab_size 0", a->input_size);
    if (a->tokens && (a->vocab_size < 1 || a->input_size != 0))
        return mn_fail(MN_E_ARG, "arrays: tokens need vocab_size >= 1 (got %d) and "
                       "input_size 0", a->vocab_size);
    if (a->output_size < 1)
        return mn_fail(MN_E_ARG, "arrays: output_size must be at least 1, got %d",
                       a->output_size);
    if (a->loss == MN_LOSS_MSE && (!a->target || a->labels))
        return mn_fail(MN_E_ARG, "arrays: a mean-squared-error task reads target (floats), "
                       "not labels");
    if (a->loss == MN_LOSS_CE && (!a->labels || a->target))
        return mn_fail(MN_E_ARG, "arrays: a cross-entropy task reads labels (classes), not "
                       "target");
    if (a->loss == MN_LOSS_CE && a->output_size < 2)
        return mn_fail(MN_E_ARG, "arrays: cross-entropy needs at least 2 classes, got %d",
                       a->output_size);
    if (a->heldout < 0 || a->heldout >= a->sequences)
        return mn_fail(MN_E_ARG, "arrays: %d held-out sequences of %d leaves none to train "
                       "on; hold out fewer (0 to %d)", a->heldout, a->sequences,
                       a->sequences - 1);
    for (int n = 0; a->lengths && n < a->sequences; n++)
        if (a->lengths[n] < 1 || a->lengths[n] > a->steps)
            return mn_fail(MN_E_INPUT, "length of sequence %d is %d; lengths must be in "
                           "[1, %d]", n, a->lengths[n], a->steps);
    return MN_OK;
}

/* ---------------------------------------------------------------- create */

static void *copy_of(const void *src, size_t count, size_t elem, mn_status *st) {
    size_t bytes;
    if (!src || *st) return NULL;
    void *p = NULL;
    if (!mn_mul_size(count, elem, &bytes) || !(p = mn_alloc(bytes ? bytes : 1)))
        *st = mn_fail(MN_E_NOMEM, "no memory for a copy of %zu array elements", count);
    else memcpy(p, src, bytes);
    return p;
}

/* The best input-blind guess, learned from the training sequences: the mean target (its
 * MSE is the sum of the outputs' variances) or the class frequencies (their entropy). */
static double baseline(const arrays_store *d, const mn_arrays *a) {
    const int O = d->O, every = a->output == MN_OUTPUT_EVERY;
    double *sum = mn_alloc_zero((size_t)O * 2 * sizeof *sum), rows = 0, b = 0;
    if (!sum) return NAN;
    double *sq = sum + O;
    for (int i = 0; i < d->n_train; i++) {
        int n = d->train[i];
        for (int s = every ? 0 : d->lengths[n] - 1; s < d->lengths[n]; s++) {
            size_t row = every ? (size_t)n * d->T + s : (size_t)n;
            if (d->target) {
                for (int k = 0; k < O; k++) {
                    double v = d->target[row * O + k];
                    sum[k] += v;
                    sq[k] += v * v;
                }
                rows += 1;
            } else if (d->labels[row] >= 0) {
                sum[d->labels[row]] += 1;
                rows += 1;
            }
        }
    }
    for (int k = 0; k < O && rows > 0; k++) {
        double m = sum[k] / rows;
        if (d->target) b += fmax(sq[k] / rows - m * m, 0);
        else if (sum[k] > 0) b -= m * log(m);
    }
    mn_release(sum);
    return b;
}

void mn_arrays_init(mn_arrays *a) {
    if (a) memset(a, 0, sizeof *a);
}

mn_status mn_task_from_arrays(const mn_arrays *a, uint64_t seed, mn_task **out) {
    return mn_task_from_arrays_split(a, seed, 0, out);
}

mn_status mn_task_from_arrays_split(const mn_arrays *a, uint64_t seed, int tail_heldout,
                                    mn_task **out) {
    if (!out) return mn_fail(MN_E_ARG, "mn_task_from_arrays: out is NULL");
    *out = NULL;
    if (!a) return mn_fail(MN_E_ARG, "mn_task_from_arrays: arrays is NULL");
    mn_status st = check_arrays(a);
    arrays_store *d = st ? NULL : mn_alloc_zero(sizeof *d);
    if (st) return st;
    if (!d) return MN_E_NOMEM;
    d->refs = 0;
    d->N = a->sequences, d->T = a->steps, d->I = a->input_size, d->O = a->output_size;
    snprintf(d->name, sizeof d->name, "%s", a->name ? a->name : "arrays");
    const size_t NT = (size_t)a->sequences * (size_t)a->steps;
    const size_t rows = a->output == MN_OUTPUT_EVERY ? NT : (size_t)a->sequences;
    size_t nx = 0;
    if (a->x && !mn_mul_size(NT, (size_t)a->input_size, &nx)) st = MN_E_NOMEM;
    d->x = copy_of(a->x, nx, sizeof(float), &st);
    d->tokens = copy_of(a->tokens, NT, sizeof(int32_t), &st);
    d->target = copy_of(a->target, rows * (size_t)a->output_size, sizeof(float), &st);
    d->labels = copy_of(a->labels, rows, sizeof(int32_t), &st);
    if (!st && !(d->lengths = mn_alloc((size_t)a->sequences * sizeof(int32_t)))) st = MN_E_NOMEM;
    if (!st) {
        for (int n = 0; n < a->sequences; n++)
            d->lengths[n] = a->lengths ? a->lengths[n] : a->steps;
        st = check_values(a, d->lengths);
    }
    /* the held-out split: the last `heldout` of a seeded shuffle of all N */
    if (!st && !(d->train = mn_alloc((size_t)a->sequences * sizeof(int32_t)))) st = MN_E_NOMEM;
    if (!st) {
        mn_rng r;
        mn_rng_seed(&r, seed ^ 0x13198A2E03707344ull);
        for (int n = 0; n < a->sequences; n++) d->train[n] = n;
        /* given apart (tail_heldout): the training sequences still shuffle per epoch */
        for (int i = a->sequences - 1; i > 0 && !tail_heldout; i--) {
            int j = (int)mn_rng_below(&r, (uint32_t)i + 1);
            int32_t s = d->train[i];
            d->train[i] = d->train[j];
            d->train[j] = s;
        }
        d->n_train = a->sequences - a->heldout;
        d->n_eval = a->heldout ? a->heldout : d->n_train;
        /* its own block when held out, so the store frees it like any other */
        d->eval = a->heldout ? copy_of(d->train + d->n_train, (size_t)a->heldout,
                                       sizeof(int32_t), &st)
                             : d->train;
    }
    mn_task *t = st ? NULL : mn_alloc_zero(sizeof *t);
    if (!st && !t) st = MN_E_NOMEM;
    if (st) {
        d->refs = 1;
        store_unref(d);
        return st;
    }
    t->kind = a->loss == MN_LOSS_CE ? &arrays_kind : &arrays_kind_mse;
    t->seed = seed;
    mn_rng_seed(&t->rng, seed);
    mn_task_info *in = &t->info;
    in->name = d->name;
    in->length = in->max_steps = a->steps;
    in->input_size = a->input_size;
    in->vocab_size = a->vocab_size;
    in->output_size = a->output_size;
    in->output = a->output;
    in->loss = a->loss;
    in->has_accuracy = a->loss == MN_LOSS_CE;
    in->eval_sequences = d->n_eval;
    in->baseline_loss = baseline(d, a);
    in->baseline_desc = a->loss == MN_LOSS_CE
                            ? "the training sequences' class frequencies (their entropy)"
                            : "the training sequences' mean target (the targets' variance)";
    in->accuracy_desc = "positions whose argmax is the label";
    if ((st = attach(t, d))) {
        d->refs = 1;
        store_unref(d);
        mn_release(t);
        return st;
    }
    *out = t;
    return MN_OK;
}
