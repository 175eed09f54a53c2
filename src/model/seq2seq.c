/* An encoder–decoder model's own parts (cfg.encoder_blocks = E > 0; model.c runs the rest):
 * the encoder's pass over the source and its backward from ∂L/∂memory, the checks of a
 * batch's source, and greedy decoding.
 *
 * Training (teacher forcing), in mn_model_run: the encoder runs on the source into the
 * memory src[E]; the decoder runs on the tokens (a start token, then the target shifted
 * right), each cross-attention block attending to the memory; the head and the loss read
 * the decoder's top output. Backward: the decoder, whose cross-attention blocks add
 * ∂L/∂memory into dsrc[E], then the encoder from there, then the shared embedding's two
 * inputs. Generation recomputes the decoder over the steps so far at every step: the
 * tasks it serves are short, and every decoder kind then works, cached or not. */
#include "model.h"
#include "registry.h"

#include <limits.h>
#include <string.h>

/* Width of src[k]: the input of encoder layer k, or (k = E) the encoder's output. */
static int src_width(const mn_model *m, int k) {
    return k == m->E ? m->layers[m->E - 1]->out_size : m->layers[k]->in_size;
}

/* The floats of src[0..E] for `rows` rows; with base, points bufs into it. */
static size_t src_layout(const mn_model *m, size_t rows, float *base, float **bufs) {
    size_t n = 0;
    for (int k = 0; k <= m->E; k++) {
        if (base) bufs[k] = base + n;
        n += rows * (size_t)src_width(m, k);
    }
    return n;
}

/* The encoder's buffers for S·B rows (grown only), and with grads their gradients, in
 * that order (src/diag/memory_estimate.c replays it). */
static mn_status reserve_source(mn_model *m, size_t rows, int grads) {
    if (!m->sws || rows > m->scap_rows) {
        size_t floats = src_layout(m, MN_MAX(rows, m->scap_rows), NULL, NULL);
        if (mn_reserve(&m->sws, &m->sws_bytes, floats * sizeof(float)) != MN_OK) return MN_E_NOMEM;
        m->scap_rows = MN_MAX(rows, m->scap_rows);
        src_layout(m, m->scap_rows, m->sws, m->src);
    }
    if (!grads) return MN_OK;
    size_t floats = src_layout(m, m->scap_rows, NULL, NULL);
    if (mn_reserve(&m->sgws, &m->sgws_bytes, floats * sizeof(float)) != MN_OK) return MN_E_NOMEM;
    src_layout(m, m->scap_rows, m->sgws, m->dsrc);
    return MN_OK;
}

mn_status mn_model_check_source(const mn_model *m, const mn_batch *b) {
    if (!b->src_tokens || !b->src_lengths)
        return mn_fail(MN_E_ARG, "this encoder–decoder model reads a source, and the batch has "
                       "none (src_tokens and src_lengths)");
    if (b->S < 1 || b->S > (1 << 24) || (size_t)b->S * b->B > INT_MAX)
        return mn_fail(MN_E_ARG, "the batch's source has %d steps of %d sequences; give 1 to "
                       "%d steps and at most %d rows in all", b->S, b->B, 1 << 24, INT_MAX);
    for (int i = 0; i < b->B; i++)
        if (b->src_lengths[i] < 1 || b->src_lengths[i] > b->S)
            return mn_fail(MN_E_INPUT, "source %d has length %d; lengths must be in [1, %d]", i,
                           b->src_lengths[i], b->S);
    for (size_t i = 0; i < (size_t)b->S * b->B; i++)
        if (b->src_tokens[i] < 0 || b->src_tokens[i] >= m->cfg.vocab_size)
            return mn_fail(MN_E_INPUT, "source token %d at position %zu is outside the "
                           "vocabulary [0, %d)", b->src_tokens[i], i, m->cfg.vocab_size);
    return MN_OK;
}

mn_status mn_model_encode(mn_model *m, const mn_batch *b, int grads) {
    int S = b->S, B = b->B;
    size_t rows = (size_t)S * B;
    mn_status st = reserve_source(m, rows, grads);
    if (st) return st;
    m->S = S;
    m->src_lengths = b->src_lengths;
    mn_embedding_forward(m->embed, b->src_tokens, m->src[0], rows);
    return mn_model_forward_layers(m, 0, m->E, m->src[0], m->src, S, B, b->src_lengths, 0, 0,
                                   grads);
}

mn_status mn_model_encode_backward(mn_model *m, const mn_batch *b) {
    int S = m->S, B = b->B;
    size_t rows = (size_t)S * B;
    mn_status st = MN_OK;
    /* diagnostics: the gradient at the encoder's blocks, by source step */
    if (m->recorder) mn_grad_recorder_bind_source(m, S);
    for (int l = m->E - 1; l >= 0 && !st; l--) {
        float *dx = m->dsrc[l];
        memset(dx, 0, rows * (size_t)src_width(m, l) * sizeof(float));
        st = m->layers[l]->ops->backward(m->layers[l], m->dsrc[l + 1], dx, S, B, m->src_lengths);
        if (!st && m->recorder) mn_grad_recorder_block_input(m, l, dx, B, src_width(m, l));
    }
    if (m->recorder) mn_grad_recorder_unbind(m);
    if (!st) mn_embedding_backward(m->embed, b->src_tokens, m->dsrc[0], rows);
    return st;
}

/* ------------------------------------------------------------ greedy decoding */

static mn_status generate(mn_model *m, const mn_batch *b, int steps, int32_t *out,
                          int32_t *in, int32_t *lengths) {
    int B = b->B, L = m->L, O = m->cfg.output_size, D = m->layers[L - 1]->out_size;
    mn_batch d = *b;
    d.T = steps;
    d.tokens = in;
    d.lengths = lengths;
    memcpy(in, b->tokens, (size_t)B * sizeof(int32_t));
    mn_status st = mn_model_reserve(m, steps, B);
    if (st || (st = mn_model_encode(m, &d, 0))) return st;
    for (int t = 0; t < steps; t++) {
        for (int i = 0; i < B; i++) lengths[i] = t + 1;
        if ((st = mn_model_decode(m, &d, t + 1))) return st;
        /* the head on step t's rows only */
        const float *top = m->acts[L] + (size_t)t * B * D;
        if ((st = m->head->ops->forward(m->head, top, m->head_out, 1, B, NULL))) return st;
        for (int i = 0; i < B; i++) {
            const float *o = m->head_out + (size_t)i * O;
            int best = 0;   /* the first maximum; NaN never wins */
            for (int k = 1; k < O; k++)
                if (o[k] > o[best]) best = k;
            out[(size_t)t * B + i] = best;
            if (t + 1 < steps) in[(size_t)(t + 1) * B + i] = best;
        }
    }
    return MN_OK;
}

mn_status mn_model_generate(mn_model *m, const mn_batch *b, int max_steps, int32_t *out_tokens) {
    if (!m || !b || !out_tokens)
        return mn_fail(MN_E_ARG, "mn_model_generate: the model, batch or output is NULL");
    if (m->E == 0)
        return mn_fail(MN_E_STATE, "greedy decoding needs an encoder–decoder model "
                       "(encoder_blocks > 0); this model has no encoder");
    if (max_steps < 1 || max_steps > (1 << 24) || b->B < 1 || b->B > (1 << 24) ||
        (size_t)max_steps * b->B > INT_MAX)
        return mn_fail(MN_E_ARG, "generation over %d steps of %d sequences: give 1 to %d steps "
                       "and sequences, at most %d rows in all", max_steps, b->B, 1 << 24,
                       INT_MAX);
    if (!b->tokens) return mn_fail(MN_E_ARG, "generation starts from the batch's tokens at step "
                                   "0 (the start token), and the batch has none");
    for (int i = 0; i < b->B; i++)
        if (b->tokens[i] < 0 || b->tokens[i] >= m->cfg.vocab_size)
            return mn_fail(MN_E_INPUT, "start token %d of sequence %d is outside the vocabulary "
                           "[0, %d)", b->tokens[i], i, m->cfg.vocab_size);
    mn_status st = mn_model_check_source(m, b);
    if (st) return st;
    /* the decoder's inputs (the start token, then each step's choice) and its lengths */
    int32_t *in = mn_alloc(((size_t)max_steps * b->B + (size_t)b->B) * sizeof(int32_t));
    if (!in) return MN_E_NOMEM;
    unsigned fp = mn_fp_enter();
    st = generate(m, b, max_steps, out_tokens, in, in + (size_t)max_steps * b->B);
    mn_fp_leave(fp);
    mn_release(in);
    return st;
}
