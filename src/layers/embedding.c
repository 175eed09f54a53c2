/* Token embedding, the model's input stage: y[n] = W[token[n]], W [vocab, dim]
 * (nn.Embedding's layout and N(0,1) default init). Not a stack layer: its input is int32. */
#include "layer.h"
#include "init.h"

#include <string.h>

static void embedding_init(mn_layer *l, mn_rng *rng, const mn_init_config *cfg) {
    (void)cfg;
    size_t n = (size_t)l->in_size * l->out_size;
    for (size_t i = 0; i < n; i++) l->params[i] = (float)mn_rng_normal(rng);
}

void mn_embedding_forward(mn_layer *l, const int32_t *tokens, float *y, size_t n) {
    size_t D = (size_t)l->out_size;
    for (size_t i = 0; i < n; i++)
        memcpy(y + i * D, l->params + (size_t)tokens[i] * D, D * sizeof(float));
}

/* Sequential on purpose: rows sharing a token add into the same gradient row, and a
 * fixed order keeps the result bit-identical across runs. */
void mn_embedding_backward(mn_layer *l, const int32_t *tokens, const float *dy, size_t n) {
    size_t D = (size_t)l->out_size;
    for (size_t i = 0; i < n; i++) {
        float *g = l->grads + (size_t)tokens[i] * D;
        const float *d = dy + i * D;
        for (size_t j = 0; j < D; j++) g[j] += d[j];
    }
}

static mn_status not_a_stack_layer(mn_layer *l, const float *a, float *b, int T, int B,
                                   const int32_t *lengths) {
    (void)l; (void)a; (void)b; (void)T; (void)B; (void)lengths;
    return mn_fail(MN_E_STATE, "the embedding takes tokens: use mn_embedding_forward");
}
static mn_status not_a_stack_layer_bwd(mn_layer *l, const float *a, float *b, int T, int B,
                                       const int32_t *lengths) {
    return not_a_stack_layer(l, a, b, T, B, lengths);
}
static void embedding_destroy(mn_layer *l) { mn_release(l); }

static const mn_layer_ops embedding_ops = {
    .kind = "embedding",
    .init = embedding_init,
    .forward = not_a_stack_layer,
    .backward = not_a_stack_layer_bwd,
    .destroy = embedding_destroy,
};

mn_layer *mn_embedding_create(int vocab, int dim) {
    mn_layer *l = mn_alloc_zero(sizeof *l);
    if (!l) return NULL;
    l->ops = &embedding_ops;
    l->in_size = vocab;
    l->out_size = dim;
    mn_layer_add_param(l, "weight", 2, (int[]){vocab, dim});
    return l;
}
