/* The public task API: look a task kind up by name, own its batch buffers, hand out
 * batches from its private random stream, score outputs, and tell a model config what the
 * task needs. The kinds themselves (task_adding.c, task_copy.c) only fill info and data. */
#include "task.h"

#include <stdint.h>
#include <string.h>

static const mn_task_kind *const kinds[] = {
    &mn_task_adding, &mn_task_adding1997, &mn_task_copy, &mn_task_reverse,
    &mn_task_selective_copy, &mn_task_induction, &mn_task_listops, &mn_task_palindrome,
};
#define NKINDS (sizeof kinds / sizeof kinds[0])

const char *mn_task_names(void) {
    return "adding, adding-1997, copy, reverse, selective-copy, induction, listops, palindrome";
}

mn_status mn_task_create(const char *name, int length, uint64_t seed, mn_task **out) {
    if (!out) return mn_fail(MN_E_ARG, "mn_task_create: out is NULL");
    *out = NULL;
    const mn_task_kind *kind = NULL;
    for (size_t i = 0; name && i < NKINDS; i++)
        if (strcmp(name, kinds[i]->name) == 0) kind = kinds[i];
    if (!kind)
        return mn_fail(MN_E_ARG, "unknown task '%s'; valid tasks: %s",
                       name ? name : "(null)", mn_task_names());
    if (length < 1)
        return mn_fail(MN_E_ARG, "task %s: length must be at least 1, got %d", kind->name,
                       length);

    mn_task *t = mn_alloc_zero(sizeof *t);
    if (!t) return MN_E_NOMEM;
    t->kind = kind;
    t->info.name = kind->name;
    t->info.length = length;
    t->seed = seed;
    mn_status s = kind->setup(t, length);   /* the kind's own length checks */
    if (s != MN_OK) {
        mn_release(t);
        return s;
    }
    t->info.has_accuracy = kind->score != NULL;
    mn_rng_seed(&t->rng, seed);
    *out = t;
    return MN_OK;
}

static void release_buffers(mn_task *t) {
    mn_release(t->x);
    mn_release(t->target);
    mn_release(t->tokens);
    mn_release(t->labels);
    mn_release(t->lengths);
    mn_release(t->src_tokens);
    mn_release(t->src_lengths);
    t->x = t->target = NULL;
    t->tokens = t->labels = t->lengths = t->src_tokens = t->src_lengths = NULL;
    t->capacity_B = 0;
}

void mn_task_free(mn_task *t) {
    if (!t) return;
    if (t->kind->release) t->kind->release(t);
    release_buffers(t);
    mn_release(t->spec);
    mn_release(t);
}

const mn_task_info *mn_task_get_info(const mn_task *t) { return t ? &t->info : NULL; }

void mn_task_reseed(mn_task *t, uint64_t seed) {
    if (t) mn_rng_seed(&t->rng, seed);
}

void mn_task_start_heldout(mn_task *t, uint64_t seed) {
    if (t->kind->rewind_heldout) t->kind->rewind_heldout(t);
    else mn_task_reseed(t, seed);
}

void mn_task_use_heldout(mn_task *t) {
    if (t && t->kind->rewind_heldout) t->kind->rewind_heldout(t);
}

mn_status mn_task_clone(const mn_task *t, mn_task **out) {
    if (!t->kind->clone) return mn_task_create(t->kind->name, t->info.length, t->seed, out);
    *out = NULL;
    mn_task *c = mn_alloc_zero(sizeof *c);
    if (!c) return MN_E_NOMEM;
    c->kind = t->kind;
    c->info = t->info;
    c->seed = t->seed;
    /* a data_state worded at setup (idx: its permutation) lives in desc: the copy's own */
    memcpy(c->desc, t->desc, sizeof c->desc);
    if (t->info.data_state == t->desc) c->info.data_state = c->desc;
    mn_rng_seed(&c->rng, t->seed);
    mn_status st = t->kind->clone(t, c);
    if (!st && t->spec) {
        size_t n = strlen(t->spec) + 1;
        if (!(c->spec = mn_alloc(n))) {
            c->kind->release(c);
            st = MN_E_NOMEM;
        } else {
            memcpy(c->spec, t->spec, n);
            c->info.data_spec = c->spec;
        }
    }
    if (st) {
        mn_release(c);
        return st;
    }
    *out = c;
    return MN_OK;
}

/* Bytes of a buffer of steps·B·width elements of `elem` bytes; 0 when the count
 * overflows or exceeds PTRDIFF_MAX, the largest object C can index (a buffer that is not
 * needed has width 0 and is never allocated). */
static int buffer_bytes(size_t steps, size_t B, size_t width, size_t elem, size_t *bytes) {
    size_t n;
    return mn_mul_size(steps, B, &n) && mn_mul_size(n, width, &n) &&
           mn_mul_size(n, elem, bytes) && *bytes <= (size_t)PTRDIFF_MAX;
}

/* Which buffers a task needs follows from its info alone, so the kinds never allocate. */
static mn_status grow(mn_task *t, int B) {
    const mn_task_info *in = &t->info;
    size_t T = (size_t)in->max_steps;
    size_t out_steps = in->output == MN_OUTPUT_EVERY ? T : 1;
    size_t bx = 0, btok = 0, btgt = 0, blab = 0, blen = 0, bsrc = 0, bslen = 0;
    int ok = buffer_bytes(T, (size_t)B, (size_t)in->input_size, sizeof(float), &bx) &&
             buffer_bytes(T, (size_t)B, in->vocab_size > 0, sizeof(int32_t), &btok) &&
             buffer_bytes(out_steps, (size_t)B,
                          in->loss == MN_LOSS_MSE ? (size_t)in->output_size : 0,
                          sizeof(float), &btgt) &&
             buffer_bytes(out_steps, (size_t)B, in->loss == MN_LOSS_CE, sizeof(int32_t),
                          &blab) &&
             buffer_bytes(1, (size_t)B, 1, sizeof(int32_t), &blen) &&
             buffer_bytes((size_t)in->max_source_steps, (size_t)B, in->seq2seq != 0,
                          sizeof(int32_t), &bsrc) &&
             buffer_bytes(1, (size_t)B, in->seq2seq != 0, sizeof(int32_t), &bslen);
    if (!ok)
        return mn_fail(MN_E_ARG, "task %s: a batch of %d sequences of %d steps is too large "
                       "to address; use a smaller batch or length", in->name, B, in->max_steps);
    /* Grow only: a smaller batch reuses the buffers, so steady training allocates nothing. */
    if (B <= t->capacity_B) return MN_OK;
    release_buffers(t);
    if ((bx && !(t->x = mn_alloc(bx))) || (btok && !(t->tokens = mn_alloc(btok))) ||
        (btgt && !(t->target = mn_alloc(btgt))) || (blab && !(t->labels = mn_alloc(blab))) ||
        !(t->lengths = mn_alloc(blen)) || (bsrc && !(t->src_tokens = mn_alloc(bsrc))) ||
        (bslen && !(t->src_lengths = mn_alloc(bslen)))) {
        release_buffers(t);   /* leave no half-grown state behind */
        return MN_E_NOMEM;
    }
    t->capacity_B = B;
    return MN_OK;
}

mn_status mn_task_next(mn_task *t, int batch_size, const mn_batch **out) {
    if (!t || !out) return mn_fail(MN_E_ARG, "mn_task_next: task or out is NULL");
    *out = NULL;
    if (batch_size < 1)
        return mn_fail(MN_E_ARG, "batch size must be at least 1, got %d", batch_size);
    mn_status s = grow(t, batch_size);
    if (s != MN_OK) return s;

    mn_batch *b = &t->batch;
    b->T = t->info.max_steps;
    b->B = batch_size;
    b->input_size = t->info.input_size;
    b->output_size = t->info.output_size;
    b->x = t->x;
    b->tokens = t->tokens;
    b->lengths = t->lengths;
    b->target = t->target;
    b->labels = t->labels;
    b->S = t->info.seq2seq ? t->info.max_source_steps : 0;
    b->src_tokens = t->src_tokens;
    b->src_lengths = t->src_lengths;
    t->kind->generate(t, batch_size);
    if (b->x && t->input_scale != 0 && t->input_scale != 1)
        for (size_t i = 0, n = (size_t)b->T * batch_size * b->input_size; i < n; i++)
            b->x[i] *= t->input_scale;
    *out = b;
    return MN_OK;
}

mn_status mn_task_score(const mn_task *t, const mn_batch *b, const float *output,
                        double *correct, double *counted) {
    if (!t || !b || !output || !correct || !counted)
        return mn_fail(MN_E_ARG, "mn_task_score: a required argument is NULL");
    *correct = *counted = 0;
    if (!t->kind->score)
        return mn_fail(MN_E_ARG, "task %s defines no accuracy", t->info.name);
    if (b->B < 1 || b->T != t->info.max_steps || b->output_size != t->info.output_size)
        return mn_fail(MN_E_ARG, "mn_task_score: the batch (T=%d, B=%d, O=%d) was not made "
                       "by task %s (T=%d, O=%d)", b->T, b->B, b->output_size, t->info.name,
                       t->info.max_steps, t->info.output_size);
    t->kind->score(t, b, output, correct, counted);
    return MN_OK;
}

void mn_task_configure_model(const mn_task *t, mn_model_config *cfg) {
    if (!t || !cfg) return;
    cfg->input_size = t->info.input_size;
    cfg->vocab_size = t->info.vocab_size;
    cfg->output_size = t->info.output_size;
    cfg->output = t->info.output;
    cfg->loss = t->info.loss;
}
