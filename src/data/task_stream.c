/* A language-modelling task over one token stream: windows of T tokens, the label at every
 * step the token after it. Training windows start at seeded random offsets in the training
 * part; the k-th window drawn depends only on (seed, k), so the stream's position is the
 * count drawn (mn_task.drawn, kept by trainer checkpoints) and ranks under MPI draw the same
 * windows. The evaluation part is cut into consecutive windows, each scored once: window j
 * predicts tokens split + jT .. split + jT + T − 1 from the token before each, so every
 * evaluation token is scored exactly once (the last window may be shorter: its length).
 * The stream is held once (bytes as uint8, or int32 tokens) and shared by clones. */
#include "task.h"

#include <math.h>
#include <string.h>

typedef struct {
    int refs;
    void *own;
    const uint8_t *u8;
    const int32_t *i32;
    size_t n, split;
    int T;
} stream_store;

typedef struct {
    stream_store *d;
    int reading_eval;
    size_t next_eval;         /* the next evaluation window */
    size_t eval_windows;
} stream_task;

static inline int32_t tok(const stream_store *d, size_t i) {
    return d->u8 ? (int32_t)d->u8[i] : d->i32[i];
}

static uint64_t mix(uint64_t z) {   /* splitmix64's finalizer */
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* window of inputs [s, s+len) and labels [s+1, s+len], padded to T, into column b */
static void put_window(mn_task *t, const stream_store *d, size_t s, int len, int b, int B) {
    for (int i = 0; i < d->T; i++) {
        size_t row = (size_t)i * B + b;
        int real = i < len;
        t->tokens[row] = real ? tok(d, s + i) : 0;
        t->labels[row] = real ? tok(d, s + i + 1) : -1;
    }
    t->lengths[b] = len;
}

static void stream_generate(mn_task *t, int B) {
    stream_task *a = t->data;
    const stream_store *d = a->d;
    const size_t starts = d->split - (size_t)d->T;   /* inputs and labels inside [0, split) */
    for (int b = 0; b < B; b++) {
        if (a->reading_eval) {
            size_t j = a->next_eval;
            a->next_eval = (a->next_eval + 1) % a->eval_windows;
            size_t s = d->split - 1 + j * (size_t)d->T, left = d->n - 1 - s;
            put_window(t, d, s, left < (size_t)d->T ? (int)left : d->T, b, B);
        } else {
            uint64_t k = t->drawn++;
            size_t s = (size_t)(mix(t->seed ^ mix(k + 0x9E3779B97F4A7C15ull)) % starts);
            put_window(t, d, s, d->T, b, B);
        }
    }
}

static void stream_score(const mn_task *t, const mn_batch *b, const float *out,
                         double *correct, double *counted) {
    const int O = t->info.output_size;
    double c = 0, k = 0;
    for (int i = 0; i < b->B; i++)
        for (int s = 0; s < b->lengths[i]; s++) {
            size_t row = (size_t)s * b->B + i;
            int32_t y = b->labels[row];
            if (y < 0) continue;
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

static void store_unref(stream_store *d) {
    if (!d || --d->refs > 0) return;
    mn_release(d->own);
    mn_release(d);
}

static mn_status attach(mn_task *t, stream_store *d) {
    stream_task *a = mn_alloc_zero(sizeof *a);
    if (!a) return MN_E_NOMEM;
    a->d = d;
    a->eval_windows = (d->n - d->split + (size_t)d->T - 1) / (size_t)d->T;
    d->refs++;
    t->data = a;
    return MN_OK;
}

static mn_status stream_clone(const mn_task *t, mn_task *copy) {
    return attach(copy, ((const stream_task *)t->data)->d);
}

static void stream_release(mn_task *t) {
    stream_task *a = t->data;
    if (!a) return;
    store_unref(a->d);
    mn_release(a);
    t->data = NULL;
}

static void stream_rewind(mn_task *t) {
    stream_task *a = t->data;
    a->reading_eval = 1;
    a->next_eval = 0;
}

static const mn_task_kind stream_kind = {
    .name = "stream", .generate = stream_generate, .score = stream_score,
    .clone = stream_clone, .release = stream_release, .rewind_heldout = stream_rewind};

mn_status mn_task_stream_create(const char *name, void *own, const uint8_t *u8,
                                const int32_t *i32, size_t n, size_t split, int vocab, int T,
                                double eval_chars, uint64_t seed, mn_task **out) {
    *out = NULL;
    if (T < 1 || vocab < 2 || (!u8) == (!i32)) {
        mn_release(own);
        return mn_fail(MN_E_ARG, "%s: a stream task needs a window of at least 1 and a "
                       "vocabulary of at least 2", name);
    }
    if (split < (size_t)T + 1 || n <= split) {
        mn_release(own);
        return split < (size_t)T + 1
                   ? mn_fail(MN_E_INPUT, "%s: the training part holds %zu tokens, too few for "
                             "one window of %d and its next token; give more data or a "
                             "shorter length", name, split, T)
                   : mn_fail(MN_E_INPUT, "%s: nothing is left for evaluation; give a "
                             "validation fraction above 0 or validation files", name);
    }
    size_t windows = (n - split + (size_t)T - 1) / (size_t)T;
    if (windows > (size_t)INT32_MAX) {
        mn_release(own);
        return mn_fail(MN_E_INPUT, "%s: %zu evaluation windows of %d tokens; use a longer "
                       "length or a smaller validation part", name, windows, T);
    }
    stream_store *d = mn_alloc_zero(sizeof *d);
    mn_task *t = d ? mn_alloc_zero(sizeof *t) : NULL;
    if (!t) {
        mn_release(d);
        mn_release(own);
        return MN_E_NOMEM;
    }
    *d = (stream_store){0, own, u8, i32, n, split, T};
    for (size_t i = 0; i < n; i++) {
        int32_t v = u8 ? u8[i] : i32[i];
        if (v < 0 || v >= vocab) {
            d->refs = 1;
            store_unref(d);
            mn_release(t);
            return mn_fail(MN_E_INPUT, "%s: token %zu is %d, outside the vocabulary [0, %d)",
                           name, i, (int)v, vocab);
        }
    }
    /* baseline: the unigram model of the training tokens, its entropy in nats */
    double *count = mn_alloc_zero((size_t)vocab * sizeof *count), H = 0;
    if (!count) {
        d->refs = 1;
        store_unref(d);
        mn_release(t);
        return MN_E_NOMEM;
    }
    for (size_t i = 1; i < split; i++) count[tok(d, i)] += 1;   /* the labels of [0, split) */
    for (int v = 0; v < vocab; v++)
        if (count[v] > 0) {
            double p = count[v] / (double)(split - 1);
            H -= p * log(p);
        }
    mn_release(count);
    t->kind = &stream_kind;
    t->seed = seed;
    mn_rng_seed(&t->rng, seed);
    mn_task_info *in = &t->info;
    in->name = name;
    in->length = in->max_steps = T;
    in->vocab_size = vocab;
    in->output_size = vocab;
    in->output = MN_OUTPUT_EVERY;
    in->loss = MN_LOSS_CE;
    in->has_accuracy = 1;
    in->eval_sequences = (int)windows;
    in->baseline_loss = H;
    in->baseline_desc = "the unigram model of the training tokens: their entropy";
    in->accuracy_desc = "next tokens predicted right (argmax)";
    double scored = (double)(n - split);
    in->tokens_per_char = eval_chars > 0 ? scored / eval_chars : 0;
    in->tokens_per_byte = u8 ? 1 : 0;
    mn_status st = attach(t, d);
    if (st) {
        d->refs = 1;
        store_unref(d);
        mn_release(t);
        return st;
    }
    *out = t;
    return MN_OK;
}
