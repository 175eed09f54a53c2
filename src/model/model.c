/* A model: input stage (dense features or token embedding) → blocks (registered layer
 * kinds, optionally residual and normalized) → linear head → loss, with the head at the
 * last real step or at every step.
 * All parameters live in one flat buffer and all gradients in another of the same layout;
 * layers get views into them. */
#include "model.h"
#include "block.h"
#include "blocks.h"
#include "gemm.h"
#include "loss.h"
#include "registry.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

void mn_model_config_init(mn_model_config *c) {
    memset(c, 0, sizeof *c);
    c->cell = MN_LSTM;
    c->input_size = 1;
    c->hidden_size = 128;
    c->num_layers = 1;
    c->output_size = 1;
    c->output = MN_OUTPUT_LAST;
    c->loss = MN_LOSS_MSE;
    c->recurrent_init = MN_INIT_UNIFORM;
    c->init_gain = 1.0f;
    c->forget_bias = 1.0f;
}

mn_status mn_model_config_check(const mn_model_config *c) {
    if (c->num_blocks == 0 && !mn_layer_kind_of_cell(c->cell))
        return mn_fail(MN_E_ARG, "unknown cell kind %d", (int)c->cell);
    if (c->hidden_size < 1 || c->hidden_size > 65536)
        return mn_fail(MN_E_ARG, "hidden size must be from 1 to 65536, got %d", c->hidden_size);
    if (c->num_layers < 1 || c->num_layers > MN_MAX_LAYERS)
        return mn_fail(MN_E_ARG, "layers must be from 1 to %d, got %d", MN_MAX_LAYERS, c->num_layers);
    if (c->vocab_size < 0 || c->vocab_size > (1 << 24))
        return mn_fail(MN_E_ARG, "vocabulary size must be from 0 to 2^24, got %d", c->vocab_size);
    if (c->vocab_size == 0 && (c->input_size < 1 || c->input_size > (1 << 20)))
        return mn_fail(MN_E_ARG, "input size must be from 1 to 2^20, got %d", c->input_size);
    if (c->embed_size < 0 || c->embed_size > 65536)
        return mn_fail(MN_E_ARG, "embedding size must be from 0 to 65536, got %d", c->embed_size);
    if (c->output_size < 1 || c->output_size > (1 << 20))
        return mn_fail(MN_E_ARG, "output size must be from 1 to 2^20, got %d", c->output_size);
    if (c->bidirectional != 0 && c->bidirectional != 1)
        return mn_fail(MN_E_ARG, "bidirectional must be 0 or 1");
    if ((unsigned)c->output > MN_OUTPUT_EVERY || (unsigned)c->loss > MN_LOSS_CE ||
        (unsigned)c->recurrent_init > MN_INIT_IDENTITY)
        return mn_fail(MN_E_ARG, "unknown output, loss or init kind");
    if (!(c->init_gain > 0 && c->init_gain < 1e6))
        return mn_fail(MN_E_ARG, "init gain must be a positive finite number");
    if (!(c->forget_bias > -1e6 && c->forget_bias < 1e6))
        return mn_fail(MN_E_ARG, "forget bias must be a finite number");
    if (c->chrono_tmax < 0) return mn_fail(MN_E_ARG, "chrono T_max must be >= 0");
    if (c->loss == MN_LOSS_CE && c->output_size < 2)
        return mn_fail(MN_E_ARG, "cross-entropy needs at least 2 output classes");
    int in = c->vocab_size > 0 ? mn_model_embed_width(c) : c->input_size;
    return mn_model_blocks_check(c, in);
}

/* A layer's tensors under `prefix`; a block's own norm ("norm.weight") is renamed to
 * norm_name when given ("norm1.", as torch.nn.TransformerEncoderLayer names it). */
static mn_status add_tensors(mn_model *m, mn_layer *l, const char *prefix,
                             const char *norm_name, size_t base) {
    if (m->ntensors + l->nspecs > MN_MAX_TENSORS)
        return mn_fail(MN_E_ARG, "the model has more than %d parameter tensors; use fewer "
                       "blocks", MN_MAX_TENSORS);
    for (int i = 0; i < l->nspecs; i++) {
        mn_tensor_view *t = &m->tensors[m->ntensors++];
        const mn_param_spec *s = &l->specs[i];
        if (norm_name && strncmp(s->name, "norm.", 5) == 0)
            snprintf(t->name, sizeof t->name, "%.23s%.8s%.55s", prefix, norm_name, s->name + 5);
        else
            snprintf(t->name, sizeof t->name, "%.23s%.63s", prefix, s->name);
        t->ndim = s->ndim;
        memcpy(t->shape, s->shape, sizeof t->shape);
        t->offset = base + s->offset;
        t->size = s->size;
        t->group = s->group;
    }
    return MN_OK;
}

void mn_model_free(mn_model *m) {
    if (!m) return;
    mn_grad_recorder_model_freed(m);
    mn_layer_destroy(m->embed);
    for (int i = 0; i < m->L; i++) mn_layer_destroy(m->layers[i]);
    mn_layer_destroy(m->head);
    mn_release(m->params);
    mn_release(m->grads);
    mn_release(m->ws);
    mn_release(m->gws);
    mn_release(m->sws);
    mn_release(m->sgws);
    for (int i = 0; i < 2 * m->nmeta; i++) mn_release(m->meta[i]);
    mn_release(m->meta);
    mn_release(m);
}

/* The blocks of a plain recurrent stack keep PyTorch's nn.RNN / nn.LSTM / nn.GRU names
 * ("rnn.weight_ih_l1"), so its state dict moves to and from PyTorch as it is and every
 * earlier checkpoint still loads; any other model names block k's tensors "blocks.k.". */
static int plain_stack(const mn_block_config *b, int n) {
    const mn_layer_kind *k0 = mn_layer_kind_find(b[0].kind);
    if (!k0 || !(k0->caps & MN_KIND_RECURRENT)) return 0;
    for (int k = 0; k < n; k++)
        if (strcmp(b[k].kind, b[0].kind) || b[k].width != b[0].width ||
            b[k].bidirectional != b[0].bidirectional || b[k].proj != b[0].proj ||
            b[k].no_bias != b[0].no_bias || b[k].residual ||
            b[k].norm != MN_NORM_NONE || b[k].dropout > 0)
            return 0;
    return 1;
}

/* Transformer layers keep torch.nn.TransformerEncoderLayer's names, so their state dict
 * loads into that module as it is: an attention block opens "layers.{j}." (its norm
 * "norm1."), and a feed-forward block right after it shares that prefix (its norm
 * "norm2."). In a decoder (torch.nn.TransformerDecoderLayer) a cross-attention block right
 * after the self-attention shares it too (norm "norm2."), and the feed-forward block after
 * that takes "norm3.". 1 when block k is such a part (*layer counts the layers so far),
 * 2 for a norm block right after the last layer, the stack's final "norm.". Blocks before
 * `first` (an encoder's, seen from its decoder) are no part of the stack. */
static int transformer_part(const mn_block_config *b, int first, int k, int *layer,
                            const char **norm) {
    const mn_layer_kind *kind = mn_layer_kind_find(b[k].kind);
    unsigned prev = k > first ? mn_layer_kind_find(b[k - 1].kind)->caps : 0;
    if ((kind->caps & MN_KIND_MEMORY) && (prev & MN_KIND_ATTENTION) && !(prev & MN_KIND_MEMORY)) {
        *norm = "norm2.";
        return 1;
    }
    if (kind->caps & MN_KIND_ATTENTION) {
        ++*layer;
        *norm = "norm1.";
        return 1;
    }
    if ((kind == &mn_kind_ff || kind == &mn_kind_ff_gelu) && (prev & MN_KIND_ATTENTION)) {
        /* after a cross-attention that shares its self-attention's layer: the third */
        unsigned prev2 = k - 1 > first ? mn_layer_kind_find(b[k - 2].kind)->caps : 0;
        *norm = (prev & MN_KIND_MEMORY) && (prev2 & MN_KIND_ATTENTION) &&
                !(prev2 & MN_KIND_MEMORY) ? "norm3." : "norm2.";
        return 1;
    }
    /* the stack's final norm (nn.TransformerEncoder's and nn.TransformerDecoder's `norm`) */
    if (k > first + 1 && (kind == &mn_kind_layernorm || kind == &mn_kind_rmsnorm) &&
        transformer_part(b, first, k - 1, &(int){0}, &(const char *){0}) == 1 &&
        !(prev & MN_KIND_ATTENTION))
        return 2;
    return 0;
}

const char *mn_model_whole_sequence_kind(const mn_model *m) {
    for (int k = 0; k < m->L; k++) {
        const mn_layer_kind *kind = mn_layer_kind_find(m->blocks[k].kind);
        if (kind->caps & MN_KIND_WHOLE_SEQUENCE) return kind->name;
    }
    return NULL;
}

int mn_block_wrap_of(const mn_block_config *b, mn_block_wrap *w) {
    const mn_layer_kind *kind = mn_layer_kind_find(b->kind);
    int inner_drop = kind && (kind->caps & MN_KIND_DROPOUT);
    *w = (mn_block_wrap){
        .residual = b->residual,
        .norm = b->norm == MN_NORM_PRE ? MN_BLOCK_NORM_PRE
              : b->norm == MN_NORM_POST ? MN_BLOCK_NORM_POST : MN_BLOCK_NORM_NONE,
        .norm_kind = b->norm_kind == MN_NORM_RMSNORM ? MN_BLOCK_RMSNORM : MN_BLOCK_LAYERNORM,
        .dropout = inner_drop ? 0.0f : b->dropout,
        .eps = 1e-5f,
    };
    return b->residual || b->norm != MN_NORM_NONE || w->dropout > 0;
}

mn_layer *mn_model_block_layer(const mn_block_config *b, int in, int index) {
    const mn_layer_kind *kind = mn_layer_kind_find(b->kind);
    mn_layer *l = kind->create(b, in, index);
    mn_block_wrap w;
    if (!l || !mn_block_wrap_of(b, &w)) return l;
    return mn_block_create(l, &w);
}

mn_status mn_model_create(const mn_model_config *cfg, uint64_t seed, mn_model **out) {
    *out = NULL;
    mn_status st = mn_model_config_check(cfg);
    if (st) return st;
    mn_model *m = mn_alloc_zero(sizeof *m);
    if (!m) return MN_E_NOMEM;
    m->cfg = *cfg;
    m->seed = seed;
    mn_model_config *c = &m->cfg;
    if (c->vocab_size > 0 && c->embed_size == 0) c->embed_size = mn_model_embed_width(c);
    if (c->vocab_size > 0) c->input_size = 0;
    int in = c->vocab_size > 0 ? c->embed_size : c->input_size;
    if (c->vocab_size > 0 && !(m->embed = mn_embedding_create(c->vocab_size, c->embed_size)))
        goto fail;
    int nb = mn_model_blocks(c, m->blocks);
    int plain = plain_stack(m->blocks, nb);
    /* the summary fields describe block models too: how many blocks, whether any reads
     * the future (truncated BPTT refuses those), the first block's cell */
    c->num_layers = nb;
    for (int k = 0; k < nb; k++) {
        const mn_layer_kind *kind = mn_layer_kind_find(m->blocks[k].kind);
        c->bidirectional |= m->blocks[k].bidirectional ||
                            ((kind->caps & MN_KIND_ATTENTION) && !m->blocks[k].causal);
    }
    const mn_layer_kind *first = mn_layer_kind_find(m->blocks[0].kind);
    if (first->cell >= 0) c->cell = (mn_cell_kind)first->cell;
    m->E = c->encoder_blocks;
    for (int k = 0; k < nb; k++) {
        if (k == m->E && k > 0) in = c->embed_size;   /* the decoder reads the tokens anew */
        mn_layer *l = mn_model_block_layer(&m->blocks[k], in, plain ? k : 0);
        if (!l) goto fail;
        m->layers[m->L++] = l;
        in = l->out_size;
    }
    /* A bidirectional last block summarizes a sequence by its forward state at the last
     * real step joined with its reverse state at step 0 (PyTorch's h_n, Keras'
     * Bidirectional); the other blocks are read at the last real step. */
    if (c->output == MN_OUTPUT_LAST && m->blocks[nb - 1].bidirectional)
        m->summary_split = in / 2;
    if (!(m->head = mn_linear_create(in, c->output_size))) goto fail;

    /* one flat buffer per role; each layer views its slice */
    mn_layer *all[MN_MAX_LAYERS + 2];
    char prefix[MN_MAX_LAYERS + 2][24];
    const char *norm_name[MN_MAX_LAYERS + 2] = {0};
    int n = 0;
    if (m->embed) { all[n] = m->embed; snprintf(prefix[n++], sizeof prefix[0], "embedding."); }
    for (int k = 0, layer = -1, part; k < m->L; k++) {
        /* an encoder–decoder's two stacks: torch.nn.Transformer's encoder and decoder */
        const char *stack = m->E == 0 ? "" : k < m->E ? "encoder." : "decoder.";
        int first = k < m->E ? 0 : m->E, end = k < m->E ? m->E : m->L;
        if (k == first) layer = -1;
        all[n] = m->layers[k];
        if (plain) snprintf(prefix[n], sizeof prefix[0], "rnn.");
        else if ((part = transformer_part(m->blocks, first, k, &layer, &norm_name[n])) == 1)
            snprintf(prefix[n], sizeof prefix[0], "%slayers.%d.", stack, layer);
        else if (part == 2 && k == end - 1)
            snprintf(prefix[n], sizeof prefix[0], "%snorm.", stack);
        else snprintf(prefix[n], sizeof prefix[0], "blocks.%d.", k);
        n++;
    }
    all[n] = m->head; snprintf(prefix[n++], sizeof prefix[0], "head.");
    size_t total = 0;
    for (int i = 0; i < n; i++) total += all[i]->param_count;
    size_t bytes;
    if (!mn_mul_size(total, sizeof(float), &bytes)) {
        st = mn_fail(MN_E_ARG, "model too large");
        goto fail_st;
    }
    if (!(m->params = mn_alloc_zero(bytes)) || !(m->grads = mn_alloc_zero(bytes))) goto fail;
    m->nparams = total;
    size_t off = 0;
    mn_rng rng;
    mn_rng_seed(&rng, seed);
    mn_init_config ic = {c->recurrent_init, c->init_gain, c->forget_bias, c->chrono_tmax};
    for (int i = 0; i < n; i++) {
        all[i]->params = m->params + off;
        all[i]->grads = m->grads + off;
        if ((st = add_tensors(m, all[i], prefix[i], norm_name[i], off))) goto fail_st;
        all[i]->ops->init(all[i], &rng, &ic);
        off += all[i]->param_count;
    }
    *out = m;
    return MN_OK;
fail:
    st = MN_E_NOMEM;
fail_st:
    mn_model_free(m);
    return st;
}

const mn_model_config *mn_model_get_config(const mn_model *m) { return &m->cfg; }
size_t mn_model_param_count(const mn_model *m) { return m->nparams; }
int mn_model_tensor_count(const mn_model *m) { return m->ntensors; }
float *mn_model_params(mn_model *m) { return m->params; }
float *mn_model_grads(mn_model *m) { return m->grads; }

mn_status mn_model_tensor(mn_model *m, int i, const char **name, int *ndim,
                          const int **shape, float **data, float **grad) {
    if (i < 0 || i >= m->ntensors)
        return mn_fail(MN_E_ARG, "tensor index %d out of range [0, %d)", i, m->ntensors);
    mn_tensor_view *t = &m->tensors[i];
    if (name) *name = t->name;
    if (ndim) *ndim = t->ndim;
    if (shape) *shape = t->shape;
    if (data) *data = m->params + t->offset;
    if (grad) *grad = m->grads + t->offset;
    return MN_OK;
}

const char *mn_model_metadata(const mn_model *m, const char *key) {
    for (int i = 0; i < m->nmeta; i++)
        if (strcmp(m->meta[2 * i], key) == 0) return m->meta[2 * i + 1];
    return NULL;
}

/* ---------------------------------------------------------------- workspace */

static int width(const mn_model *m, int k) {   /* feature width of acts[k] */
    return k == m->L ? m->layers[m->L - 1]->out_size : m->layers[k]->in_size;
}

/* Forward's buffers: every layer's input and output, the head's rows, labels, lengths
 * and mask. Their gradients are reserve_grads', so a forward-only run never holds them.
 * acts[0] holds the embedded tokens; dense input is read from the batch in place, so
 * there is no acts[0] (nor dacts[0]) for it. */
static int first_act(const mn_model *m) { return m->embed ? m->E : 1; }

/* One set of float buffers for rows × cb: every layer's input/output and the head's
 * rows in and out. Returns its floats; with `base`, also points the views into it. */
static size_t lay_out(const mn_model *m, size_t rows, size_t cb, float *base, float **layer,
                      float **head_in, float **head_out) {
    size_t n = 0, head_rows = m->cfg.output == MN_OUTPUT_LAST ? cb : rows;
    if (base) layer[0] = NULL;
    for (int k = first_act(m); k <= m->L; k++) {
        if (base) layer[k] = base + n;
        n += rows * (size_t)width(m, k);
    }
    if (base) *head_in = base + n;
    n += cb * (size_t)width(m, m->L);
    if (base) *head_out = base + n;
    return n + head_rows * (size_t)m->cfg.output_size;
}

static mn_status reserve(mn_model *m, int T, int B) {
    size_t rows = (size_t)T * B;
    if (m->ws && rows <= m->cap_rows && (size_t)B <= m->cap_B) return MN_OK;
    rows = MN_MAX(rows, m->cap_rows);
    size_t cb = MN_MAX((size_t)B, m->cap_B);
    size_t floats = lay_out(m, rows, cb, NULL, NULL, NULL, NULL);
    size_t bytes = floats * sizeof(float) + rows * (sizeof(uint8_t) + sizeof(int32_t)) +
                   cb * sizeof(int32_t) + 64;
    if (mn_reserve(&m->ws, &m->ws_bytes, bytes) != MN_OK) return MN_E_NOMEM;
    lay_out(m, rows, cb, m->ws, m->acts, &m->head_in, &m->head_out);
    m->labels = (int32_t *)((float *)m->ws + floats);
    m->lengths = m->labels + rows;
    m->mask = (uint8_t *)(m->lengths + cb);
    m->cap_rows = rows;
    m->cap_B = cb;
    return MN_OK;
}

mn_status mn_model_reserve(mn_model *m, int T, int B) { return reserve(m, T, B); }

/* The gradients of those buffers, laid out the same way (after reserve). */
static mn_status reserve_grads(mn_model *m) {
    size_t floats = lay_out(m, m->cap_rows, m->cap_B, NULL, NULL, NULL, NULL);
    if (mn_reserve(&m->gws, &m->gws_bytes, floats * sizeof(float)) != MN_OK) return MN_E_NOMEM;
    lay_out(m, m->cap_rows, m->cap_B, m->gws, m->dacts, &m->dhead_in, &m->dhead_out);
    return MN_OK;
}

size_t mn_model_activation_bytes(const mn_model *m) {
    size_t n = m->ws_bytes + m->gws_bytes;
    for (int k = 0; k < m->L; k++) n += mn_layer_bytes(m->layers[k]);
    return n;
}

/* ---------------------------------------------------------------- the batch */

/* The batch's checks, and the items its loss averages over. With targets 0 (a forward
 * for predictions) the labels or targets are neither needed nor read, and items is 0. */
static mn_status check_batch(const mn_model *m, const mn_batch *b, int targets, double *items) {
    const mn_model_config *c = &m->cfg;
    if (b->T < 1 || b->B < 1 || b->T > (1 << 24) || b->B > (1 << 24))
        return mn_fail(MN_E_ARG, "batch has T=%d, B=%d; both must be at least 1", b->T, b->B);
    if (!b->lengths) return mn_fail(MN_E_ARG, "batch has no lengths");
    if (c->vocab_size > 0) {
        if (!b->tokens) return mn_fail(MN_E_ARG, "this model reads tokens; the batch has none");
        for (size_t i = 0; i < (size_t)b->T * b->B; i++)
            if (b->tokens[i] < 0 || b->tokens[i] >= c->vocab_size)
                return mn_fail(MN_E_INPUT, "token %d at position %zu is outside the vocabulary "
                               "[0, %d)", b->tokens[i], i, c->vocab_size);
    } else if (!b->x || b->input_size != c->input_size) {
        return mn_fail(MN_E_ARG, "the model expects %d input features per step, the batch "
                       "has %d", c->input_size, b->x ? b->input_size : 0);
    }
    if (targets && b->output_size != c->output_size)
        return mn_fail(MN_E_ARG, "the model has %d outputs, the batch's targets have %d",
                       c->output_size, b->output_size);
    if (m->E > 0) {
        mn_status st = mn_model_check_source(m, b);
        if (st) return st;
    }
    double n = 0;
    for (int i = 0; i < b->B; i++) {
        int len = b->lengths[i];
        if (len < 1 || len > b->T)
            return mn_fail(MN_E_INPUT, "sequence %d has length %d; lengths must be in [1, %d]",
                           i, len, b->T);
        if (!targets) continue;
        if (c->loss == MN_LOSS_MSE) {
            n += c->output == MN_OUTPUT_LAST ? 1 : len;
            continue;
        }
        if (!b->labels) break;   /* refused below */
        int steps = c->output == MN_OUTPUT_LAST ? 1 : len;
        for (int t = 0; t < steps; t++) {
            int32_t y = c->output == MN_OUTPUT_LAST ? b->labels[i] : b->labels[(size_t)t * b->B + i];
            /* -1 alone means "ignore" (PyTorch's ignore_index, which mn_batch fixes at -1);
             * any other negative is a mistake, as in PyTorch ("target out of bounds") */
            if (y < -1 || y >= c->output_size) {
                char at[64] = "";
                if (c->output == MN_OUTPUT_EVERY) snprintf(at, sizeof at, "step %d of ", t);
                return mn_fail(MN_E_INPUT, "label %d at %ssequence %d is neither a class of "
                               "this model (0..%d) nor -1 (ignore this position)", (int)y, at,
                               i, c->output_size - 1);
            }
            if (y >= 0) n += 1;
        }
    }
    if (!targets) {
        *items = 0;
        return MN_OK;
    }
    if (c->loss == MN_LOSS_MSE) {
        if (!b->target) return mn_fail(MN_E_ARG, "the batch has no regression targets");
        n *= c->output_size;
    } else if (!b->labels) {
        return mn_fail(MN_E_ARG, "the batch has no class labels");
    }
    *items = n;
    return MN_OK;
}

mn_status mn_model_loss_items(const mn_model *m, const mn_batch *b, double *items) {
    return check_batch(m, b, 1, items);
}

/* ---------------------------------------------------------------- running */

void mn_model_set_training(mn_model *m, int training, uint64_t seed) {
    m->training = training;
    m->noise_seed = seed;
}

/* Each layer and chunk draws its own noise: a splitmix64 step over (seed, layer, t0). */
static uint64_t noise_seed(uint64_t seed, int layer, int t0) {
    uint64_t z = seed + 0x9E3779B97F4A7C15ull * (uint64_t)(layer + 1) +
                 0xBF58476D1CE4E5B9ull * (uint64_t)(t0 + 1);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* The head's row i of sequence i, whose last real step is e in this chunk: the top output
 * at e, or, with a bidirectional last block, its forward half at e and its reverse half at
 * step 0 (the reverse direction ends there, having read the whole sequence). back = 1
 * scatters the row's gradient to the same places instead. With truncated BPTT a
 * bidirectional model is refused, so step 0 of the chunk is step 0 of the sequence. */
static void summary_rows(mn_model *m, int i, int e, int B, int D, int back) {
    int split = m->summary_split > 0 ? m->summary_split : D;
    size_t at_e = ((size_t)e * B + i) * D, at_0 = (size_t)i * D, row = (size_t)i * D;
    if (!back) {
        memcpy(m->head_in + row, m->acts[m->L] + at_e, (size_t)split * sizeof(float));
        memcpy(m->head_in + row + split, m->acts[m->L] + at_0 + split,
               (size_t)(D - split) * sizeof(float));
    } else {
        float *dtop = m->dacts[m->L];
        memcpy(dtop + at_e, m->dhead_in + row, (size_t)split * sizeof(float));
        memcpy(dtop + at_0 + split, m->dhead_in + row + split, (size_t)(D - split) * sizeof(float));
    }
}

static mn_status model_run(mn_model *m, const mn_batch *b, int t0, int k, int carry,
                           int backward, double inv_norm, double *loss_sum);

/* Every forward and backward pass goes through here: denormals flushed (core.h). */
mn_status mn_model_run(mn_model *m, const mn_batch *b, int t0, int k, int carry,
                       int backward, double inv_norm, double *loss_sum) {
    unsigned fp = mn_fp_enter();
    mn_status st = model_run(m, b, t0, k, carry, backward, inv_norm, loss_sum);
    mn_fp_leave(fp);
    return st;
}

mn_status mn_model_forward_layers(mn_model *m, int l0, int l1, const float *x, float **acts,
                                  int k, int B, const int32_t *lengths, int t0, int carry,
                                  int backward) {
    mn_status st;
    m->passes++;
    for (int l = l0; l < l1; l++) {
        mn_layer *ly = m->layers[l];
        if (ly->ops->set_mode)
            ly->ops->set_mode(ly, m->training, noise_seed(m->noise_seed, l, t0));
        if (carry && ly->ops->carry_state) {
            if ((st = ly->ops->carry_state(ly))) return st;
        } else {
            mn_layer_reset(ly);
        }
        /* a decoder's cross-attention reads the encoder's output of this pass */
        if (m->E > 0 && (mn_layer_kind_find(m->blocks[l].kind)->caps & MN_KIND_MEMORY) &&
            (st = ly->ops->set_memory(ly, m->src[m->E], m->S, B, m->src_lengths,
                                      backward ? m->dsrc[m->E] : NULL)))
            return st;
        if ((st = ly->ops->forward(ly, l == l0 ? x : acts[l], acts[l + 1], k, B, lengths)))
            return st;
    }
    return MN_OK;
}

/* The input stage and the blocks over steps [t0, t0+k): acts[L] holds the top output. An
 * encoder–decoder first runs its encoder on the source (unless `encode` is 0: generation
 * reuses the memory of its first pass), then its decoder on the tokens. */
static mn_status run_blocks(mn_model *m, const mn_batch *b, int t0, int k, int carry,
                            int backward, int encode) {
    const mn_model_config *c = &m->cfg;
    int B = b->B, L = m->L, E = m->E;
    size_t rows = (size_t)k * B;
    mn_status st = MN_OK;
    if (t0 < 0 || k < 1 || k > b->T - t0)
        return mn_fail(MN_E_ARG, "steps [%d, %d) are outside the batch's %d", t0, t0 + k, b->T);
    /* the head and the layers index a pass's rows with int (GEMM dimensions) */
    if (rows > INT_MAX)
        return mn_fail(MN_E_ARG, "a pass over %d steps of %d sequences is %zu rows, more than "
                       "the %d one pass can index; use a smaller batch or --tbptt", k, B, rows,
                       INT_MAX);
    if ((st = reserve(m, k, B)) || (backward && (st = reserve_grads(m)))) return st;
    if (E > 0 && encode && (st = mn_model_encode(m, b, backward))) return st;
    for (int i = 0; i < B; i++)
        m->lengths[i] = MN_MAX(0, MN_MIN(k, b->lengths[i] - t0));

    /* input stage */
    const float *x;
    if (m->embed) {
        mn_embedding_forward(m->embed, b->tokens + (size_t)t0 * B, m->acts[E], rows);
        x = m->acts[E];
    } else {
        x = b->x + (size_t)t0 * B * c->input_size;
    }
    return mn_model_forward_layers(m, E, L, x, m->acts, k, B, m->lengths, t0, carry, backward);
}

mn_status mn_model_decode(mn_model *m, const mn_batch *b, int k) {
    return run_blocks(m, b, 0, k, 0, 0, 0);
}

static mn_status model_run(mn_model *m, const mn_batch *b, int t0, int k, int carry,
                           int backward, double inv_norm, double *loss_sum) {
    const mn_model_config *c = &m->cfg;
    int B = b->B, O = c->output_size, L = m->L, last = c->output == MN_OUTPUT_LAST;
    size_t rows = (size_t)k * B;
    mn_status st = run_blocks(m, b, t0, k, carry, backward, 1);
    if (st) return st;
    /* head: rows of the last real step, or every row */
    int D = width(m, L);
    const float *hin = m->acts[L];
    int hrows = (int)rows;
    if (last) {
        hrows = B;
        memset(m->head_in, 0, (size_t)B * D * sizeof(float));
        for (int i = 0; i < B; i++) {
            int e = b->lengths[i] - 1 - t0;    /* last real step, relative to this chunk */
            m->mask[i] = e >= 0 && e < k;
            if (m->mask[i]) summary_rows(m, i, e, B, D, 0);
        }
        hin = m->head_in;
    } else {
        for (size_t r = 0; r < rows; r++) m->mask[r] = (int)(r / B) < m->lengths[r % B];
    }
    if ((st = m->head->ops->forward(m->head, hin, m->head_out, 1, hrows, NULL))) return st;
    m->last_rows = hrows;

    /* loss: not for a forward that wants only the outputs (its batch may hold no targets) */
    if (!backward && !loss_sum) return MN_OK;
    float *d = backward ? m->dhead_out : NULL;
    double sum;
    if (c->loss == MN_LOSS_MSE) {
        const float *tg = last ? b->target : b->target + (size_t)t0 * B * O;
        sum = mn_mse_loss(m->head_out, tg, m->mask, hrows, O, inv_norm, d);
    } else {
        const int32_t *lb = last ? b->labels : b->labels + (size_t)t0 * B;
        for (int r = 0; r < hrows; r++) m->labels[r] = m->mask[r] ? lb[r] : -1;
        sum = mn_ce_loss(m->head_out, m->labels, hrows, O, inv_norm, d);
    }
    if (loss_sum) *loss_sum = sum;
    if (!backward) return MN_OK;

    /* backward: head, then the stack top-down, then the embedding */
    float *dtop = m->dacts[L];
    memset(dtop, 0, rows * D * sizeof(float));
    if (last) {
        memset(m->dhead_in, 0, (size_t)B * D * sizeof(float));
        if ((st = m->head->ops->backward(m->head, m->dhead_out, m->dhead_in, 1, B, NULL))) return st;
        for (int i = 0; i < B; i++) {
            int e = b->lengths[i] - 1 - t0;
            if (m->mask[i]) summary_rows(m, i, e, B, D, 1);
        }
    } else if ((st = m->head->ops->backward(m->head, m->dhead_out, dtop, 1, hrows, NULL))) {
        return st;
    }
    if (m->recorder) {
        mn_grad_recorder_bind(m, t0, k);
        mn_grad_recorder_block_input(m, L, dtop, B, D);
    }
    /* a decoder's cross-attention adds ∂L/∂memory here */
    if (m->E > 0) memset(m->dsrc[m->E], 0, (size_t)m->S * B * m->layers[m->E - 1]->out_size *
                              sizeof(float));
    for (int l = L - 1; l >= m->E; l--) {
        float *dx = NULL;
        size_t in = (size_t)m->layers[l]->in_size;
        if (l > 0 || m->embed) {
            dx = m->dacts[l];
            memset(dx, 0, rows * in * sizeof(float));
        } else if (m->recorder && (st = mn_grad_recorder_dense_input(m, rows * in, &dx))) {
            break;
        }
        if ((st = m->layers[l]->ops->backward(m->layers[l], m->dacts[l + 1], dx, k, B, m->lengths)))
            break;
        if (m->recorder) mn_grad_recorder_block_input(m, l, dx, B, (int)in);
    }
    if (m->recorder) mn_grad_recorder_unbind(m);
    if (st) return st;
    if (m->embed) mn_embedding_backward(m->embed, b->tokens + (size_t)t0 * B, m->dacts[m->E], rows);
    return m->E > 0 ? mn_model_encode_backward(m, b) : MN_OK;
}

mn_status mn_model_forward(mn_model *m, const mn_batch *b, const float **output) {
    double items = 0;
    mn_status st = check_batch(m, b, 0, &items);
    if (st) return st;
    if ((st = mn_model_run(m, b, 0, b->T, 0, 0, 1.0, NULL))) return st;
    if (output) *output = m->head_out;
    return MN_OK;
}

mn_status mn_model_features(mn_model *m, const mn_batch *b, const float **features,
                            int *top_width) {
    double items;
    mn_status st = check_batch(m, b, 0, &items);   /* the inputs only, as a forward's */
    if (st) return st;
    unsigned fp = mn_fp_enter();
    st = run_blocks(m, b, 0, b->T, 0, 0, 1);
    mn_fp_leave(fp);
    if (st) return st;
    if (features) *features = m->acts[m->L];
    if (top_width) *top_width = width(m, m->L);
    return MN_OK;
}

mn_status mn_model_loss(mn_model *m, const mn_batch *b, double *loss) {
    double items = 0, sum = 0;
    mn_status st = mn_model_loss_items(m, b, &items);
    if (st) return st;
    if ((st = mn_model_run(m, b, 0, b->T, 0, 0, 1.0, &sum))) return st;
    *loss = items > 0 ? sum / items : 0.0;
    return MN_OK;
}

mn_status mn_model_gradients(mn_model *m, const mn_batch *b, double *loss) {
    double items = 0, sum = 0;
    mn_status st = mn_model_loss_items(m, b, &items);
    if (st) return st;
    memset(m->grads, 0, m->nparams * sizeof(float));
    if ((st = mn_model_run(m, b, 0, b->T, 0, 1, items > 0 ? 1.0 / items : 0.0, &sum))) return st;
    if (loss) *loss = items > 0 ? sum / items : 0.0;
    return MN_OK;
}
