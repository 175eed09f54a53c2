/* Streaming inference through a model (mnemo.h, mn_stream_*): the input stage, each
 * block's step op (layer.h) and the head over one time step of B sequences. The layers
 * keep the state between steps; the stream keeps the step index, its batch and the
 * buffers between blocks. */
#include "model.h"
#include "registry.h"

#include <stdio.h>
#include <string.h>

struct mn_stream {
    mn_model *m;
    int B;
    int64_t steps;
    int broken;           /* a failed step: the layers' state is unknown until a reset */
    uint64_t pass;        /* m->passes after this stream's last step */
    float *buf;           /* two [B, widest] rows between blocks, and the embedded tokens */
    size_t row;           /* floats of one such row */
};

/* Why block k cannot stream, or MN_OK. */
static mn_status check_block(const mn_model *m, int k) {
    const mn_block_config *b = &m->blocks[k];
    const mn_layer_kind *kind = mn_layer_kind_find(b->kind);
    const char *why = NULL;
    if (b->bidirectional)
        why = "it is bidirectional: its reverse direction starts from the end of the "
              "sequence, which has not come yet";
    else if (kind->caps & MN_KIND_MEMORY)
        why = "it attends to an encoder's output over a whole source sequence";
    else if ((kind->caps & MN_KIND_ATTENTION) && !b->causal)
        why = "its attention is not causal: step t attends to the steps after it (build "
              "it causal to stream: .causal = 1 in its block config; on the command line "
              "--causal, or :causal in --blocks)";
    else if (!mn_block_inner(m->layers[k])->ops->step)
        why = "the kind has no step of its own";
    if (!why) return MN_OK;
    return mn_fail(MN_E_ARG, "block %d (%s) cannot stream one step at a time: %s", k,
                   b->kind, why);
}

mn_status mn_stream_create(mn_model *m, int B, mn_stream **out) {
    if (!out) return mn_fail(MN_E_ARG, "mn_stream_create: NULL out");
    *out = NULL;
    if (!m) return mn_fail(MN_E_ARG, "mn_stream_create: NULL model");
    if (B < 1 || B > (1 << 24))
        return mn_fail(MN_E_ARG, "a stream of %d sequences: the batch must be from 1 to 2^24", B);
    if (m->E > 0)
        return mn_fail(MN_E_ARG, "an encoder-decoder model cannot stream: its decoder reads "
                       "the encoder's output over the whole source (use mn_model_generate)");
    if (m->training)
        return mn_fail(MN_E_STATE, "the model is in training mode (dropout on); streaming "
                       "runs it for inference");
    mn_status st;
    for (int k = 0; k < m->L; k++)
        if ((st = check_block(m, k))) return st;
    size_t widest = (size_t)m->head->in_size;
    if (m->embed) widest = MN_MAX(widest, (size_t)m->embed->out_size);
    for (int k = 0; k < m->L; k++)
        widest = MN_MAX(widest, (size_t)MN_MAX(m->layers[k]->in_size, m->layers[k]->out_size));
    size_t row, bytes;
    if (!mn_mul_size(widest, (size_t)B, &row) || row > (size_t)INT32_MAX ||
        !mn_mul_size(row, 3 * sizeof(float), &bytes))
        return mn_fail(MN_E_ARG, "a stream of %d sequences of %zu features is too large", B,
                       widest);
    mn_stream *s = mn_alloc_zero(sizeof *s);
    if (!s || !(s->buf = mn_alloc(bytes))) {
        mn_release(s);
        return MN_E_NOMEM;
    }
    s->m = m;
    s->B = B;
    s->row = row;
    *out = s;
    return MN_OK;
}

void mn_stream_reset(mn_stream *s) {
    if (!s) return;
    s->steps = 0;
    s->broken = 0;
}

int64_t mn_stream_steps(const mn_stream *s) { return s ? s->steps : 0; }

void mn_stream_free(mn_stream *s) {
    if (!s) return;
    mn_release(s->buf);
    mn_release(s);
}

/* The blocks and the head over one step: x [B, in] (the input stage's output). */
static mn_status run_step(mn_stream *s, const float *x, float *y_t, int t) {
    mn_model *m = s->m;
    float *buf[2] = { s->buf, s->buf + s->row };
    mn_status st;
    for (int k = 0; k < m->L; k++) {
        mn_layer *l = m->layers[k];
        if (l->ops->set_mode) l->ops->set_mode(l, 0, 0);
        if ((st = mn_layer_step(l, k ? buf[(k - 1) % 2] : x, buf[k % 2], s->B, t))) return st;
    }
    return m->head->ops->forward(m->head, buf[(m->L - 1) % 2], y_t, 1, s->B, NULL);
}

mn_status mn_stream_step(mn_stream *s, const float *x_t, const int32_t *tokens_t, float *y_t) {
    if (!s || !y_t) return mn_fail(MN_E_ARG, "mn_stream_step: NULL stream or output");
    mn_model *m = s->m;
    const mn_model_config *c = &m->cfg;
    int B = s->B;
    if (c->vocab_size > 0 ? !tokens_t || x_t : !x_t || tokens_t)
        return mn_fail(MN_E_ARG, "mn_stream_step: this model reads %s; pass them and NULL for "
                       "the other input", c->vocab_size > 0 ? "tokens" : "dense features");
    if (m->training)
        return mn_fail(MN_E_STATE, "the model is in training mode (dropout on); streaming "
                       "runs it for inference");
    if (s->broken)
        return mn_fail(MN_E_STATE, "a step of this stream failed, leaving its state unknown; "
                       "reset the stream (mn_stream_reset) to start new sequences");
    if (s->steps > 0 && m->passes != s->pass)
        return mn_fail(MN_E_STATE, "the model ran another pass (a forward, a training step or "
                       "another stream) since this stream's step %lld, which may have replaced "
                       "its state; reset the stream (mn_stream_reset) to start new sequences",
                       (long long)s->steps - 1);
    if (s->steps >= INT32_MAX)
        return mn_fail(MN_E_ARG, "the stream is at %lld steps, the most one can take; reset it",
                       (long long)s->steps);
    for (int b = 0; tokens_t && b < B; b++)
        if (tokens_t[b] < 0 || tokens_t[b] >= c->vocab_size)
            return mn_fail(MN_E_INPUT, "token %d of sequence %d at step %lld is outside the "
                           "vocabulary [0, %d)", tokens_t[b], b, (long long)s->steps,
                           c->vocab_size);
    const float *x = x_t;
    if (m->embed) {
        float *e = s->buf + 2 * s->row;
        mn_embedding_forward(m->embed, tokens_t, e, (size_t)B);
        x = e;
    }
    unsigned fp = mn_fp_enter();
    mn_status st = run_step(s, x, y_t, (int)s->steps);
    mn_fp_leave(fp);
    m->passes++;
    s->pass = m->passes;
    if (st) {
        s->broken = 1;
        return st;
    }
    s->steps++;
    return MN_OK;
}
