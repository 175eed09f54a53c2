/* Tasks produce batches; they never know about models. Each kind fills a shared struct. */
#ifndef MN_TASK_H
#define MN_TASK_H

#include "core.h"

typedef struct mn_task_kind mn_task_kind;

struct mn_task {
    const mn_task_kind *kind;
    mn_task_info info;
    uint64_t seed;           /* the seed given to mn_task_create (mn_evaluate derives the
                              * held-out stream from it) */
    mn_rng rng;
    float input_scale;       /* 0 or 1: dense inputs as generated; else each one multiplied
                              * by it (mnemo lab's inputs at a large scale); the trainer's
                              * held-out stream takes it over */
    mn_batch batch;          /* the buffers below, as handed out by mn_task_next */
    int capacity_B;          /* batch buffers are sized for this many sequences */
    float *x, *target;
    int32_t *tokens, *labels, *lengths;
    int32_t *src_tokens, *src_lengths;   /* seq2seq tasks: [S,B], [B] */
    /* Tasks made from data (task_arrays.c): the kind's own state, and the sequences drawn
     * from the training order so far, which with rng is the stream's position (a trainer
     * checkpoint records both). Generated tasks leave them 0. */
    void *data;
    uint64_t drawn;
    char desc[160];          /* info.baseline_desc of a kind that words it at setup (listops:
                              * its sampled prior) */
    char *spec;              /* mn_task_from_data: its spec (info.data_spec), owned */
};

struct mn_task_kind {
    const char *name;
    /* Fill t->info for the requested length; MN_E_ARG when the length is impossible. */
    mn_status (*setup)(mn_task *t, int length);
    /* Generate B sequences into t->batch (buffers already sized for B). */
    void (*generate)(mn_task *t, int B);
    /* Correct / counted items; NULL when the task has no accuracy. */
    void (*score)(const mn_task *t, const mn_batch *b, const float *out,
                  double *correct, double *counted);
    /* seq2seq tasks: correct / counted sequences of greedily decoded tokens [T,B] (the
     * model's own outputs, not teacher-forced); NULL otherwise. */
    void (*score_generated)(const mn_task *t, const mn_batch *b, const int32_t *tokens,
                            double *correct, double *counted);
    /* Tasks made from data, NULL for generated ones (which are made again by name): */
    mn_status (*clone)(const mn_task *t, mn_task *copy);   /* copy->data from t's */
    void (*release)(mn_task *t);                              /* frees t->data */
    /* Forecasting tasks: add squared and absolute errors in the data's units and the
     * values counted (sums[0..2]) of the outputs of batch b; NULL otherwise. */
    void (*measure)(const mn_task *t, const mn_batch *b, const float *out, double *sums);
    /* From now on hand out the evaluation set in order, from its start. */
    void (*rewind_heldout)(mn_task *t);
};

extern const mn_task_kind mn_task_adding, mn_task_adding1997, mn_task_copy, mn_task_reverse,
    mn_task_selective_copy, mn_task_induction, mn_task_listops, mn_task_palindrome;

/* Restart the task's random stream (evaluation re-reads the same held-out sequences). */
void mn_task_reseed(mn_task *t, uint64_t seed);
/* Start reading the held-out sequences from their beginning: a data task's evaluation
 * set, or a generated task's stream reseeded with `seed`. */
void mn_task_start_heldout(mn_task *t, uint64_t seed);
/* A second task of the same kind, length and seed at the start of its stream (a trainer's
 * evaluation copy); a data task shares its arrays. */
mn_status mn_task_clone(const mn_task *t, mn_task **out);

/* mn_task_from_arrays with the evaluation set given: with tail_heldout the last
 * a->heldout sequences, in order, are the evaluation set (no seeded choice). */
mn_status mn_task_from_arrays_split(const mn_arrays *a, uint64_t seed, int tail_heldout,
                                    mn_task **out);
/* A language-modelling task over one token stream (task_stream.c): tokens [0, split) train,
 * [split, n) are scored in consecutive windows of T; exactly one of u8 / i32 holds the
 * stream, and own (freed with mn_release when the last clone goes) is the block holding
 * it. eval_chars: characters in [split, n) (for tokens_per_char; 0: unknown). Takes own
 * even on failure. */
mn_status mn_task_stream_create(const char *name, void *own, const uint8_t *u8,
                                const int32_t *i32, size_t n, size_t split, int vocab, int T,
                                double eval_chars, uint64_t seed, mn_task **out);

/* A forecasting task over a series x [n,C] (task_series.c; owns x, normalized in place):
 * windows of T rows, the target the row h steps after a window's last. Rows [0, split)
 * hold the training targets, [split, n) the evaluation targets. mean/std [C]: the
 * normalization to apply, or NULL to measure it on rows [0, split). Takes x even on
 * failure. */
mn_status mn_task_series_create(const char *name, float *x, size_t n, int C, size_t split,
                                int T, int h, const double *mean, const double *std,
                                uint64_t seed, mn_task **out);
#endif
