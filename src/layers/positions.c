/* Absolute positions added to every step, for models whose layers cannot tell steps apart
 * by themselves (attention is permutation-equivariant without them):
 *   sin-positions:      y[t,b,:] = x[t,b,:] + P[t,:],  P[t,2i] = sin(t·ω_i),
 *                       P[t,2i+1] = cos(t·ω_i),  ω_i = 10000^(−2i/D)
 *                       (Vaswani et al. 2017, section 3.5; no parameters)
 *   learned-positions:  y[t,b,:] = x[t,b,:] + W[t,:],  W [max_len, D] learned
 *                       (BERT, GPT-2; N(0, 0.02²) init as GPT-2's)
 * Both run on every row, padded ones too, like the other position-wise layers: the model
 * gives padded rows no gradient. Rotary positions (RoPE) live in attention itself. */
#include "registry.h"

#include <math.h>
#include <string.h>

typedef struct {
    mn_layer base;
    int learned, max_len;
    void *table;          /* sin-positions: P[rows, D], computed once for the longest T seen */
    size_t table_bytes;
    int rows;
} positions;

/* P[t, d] of the sinusoidal table, computed in double so long sequences keep their phase */
static float sinusoid(size_t t, int d, int D) {
    double w = pow(10000.0, -(double)(d & ~1) / (double)D);
    return (float)((d & 1) ? cos((double)t * w) : sin((double)t * w));
}

static void pos_init(mn_layer *l, mn_rng *rng, const mn_init_config *cfg) {
    (void)cfg;
    for (size_t i = 0; i < l->param_count; i++) l->params[i] = 0.02f * (float)mn_rng_normal(rng);
}

/* y[T,B,D] = x + P[t] */
static mn_status pos_forward(mn_layer *l, const float *x, float *y, int T, int B,
                             const int32_t *lengths) {
    (void)lengths;
    positions *s = (positions *)l;
    size_t rows;
    mn_status st = mn_layer_rows(l, T, B, &rows);
    if (st) return st;
    if (s->learned && T > s->max_len)
        return mn_fail(MN_E_ARG, "learned positions: a sequence of %d steps is longer than the "
                       "table's %d rows; build the block with max-len=%d or more, or use "
                       "sin-positions", T, s->max_len, T);
    int D = l->in_size;
    if (!s->learned && T > s->rows) {
        if (mn_reserve(&s->table, &s->table_bytes, (size_t)T * D * sizeof(float)))
            return MN_E_NOMEM;
        float *P = s->table;              /* a new buffer: the rows before are gone too */
        for (size_t t = 0; t < (size_t)T; t++)
            for (int d = 0; d < D; d++) P[t * D + d] = sinusoid(t, d, D);
        s->rows = T;
    }
    const float *table = s->learned ? l->params : s->table;
    for (int t = 0; t < T; t++) {
        const float *p = table + (size_t)t * D;
        for (int b = 0; b < B; b++) {
            size_t r = ((size_t)t * B + b) * D;
            for (int d = 0; d < D; d++) y[r + d] = x[r + d] + p[d];
        }
    }
    return MN_OK;
}

/* dx += dy;  dW[t] += Σ_b dy[t,b] */
static mn_status pos_backward(mn_layer *l, const float *dy, float *dx, int T, int B,
                              const int32_t *lengths) {
    (void)lengths;
    positions *s = (positions *)l;
    size_t rows;
    mn_status st = mn_layer_rows(l, T, B, &rows);
    if (st) return st;
    size_t n = rows * (size_t)l->in_size;
    if (dx)
        for (size_t i = 0; i < n; i++) dx[i] += dy[i];
    if (s->learned && T <= s->max_len)
        for (int t = 0; t < T; t++)
            for (int b = 0; b < B; b++) {
                const float *g = dy + ((size_t)t * B + b) * l->in_size;
                float *w = l->grads + (size_t)t * l->in_size;
                for (int d = 0; d < l->in_size; d++) w[d] += g[d];
            }
    return MN_OK;
}

static size_t pos_bytes(const mn_layer *l) { return ((const positions *)l)->table_bytes; }

static void pos_destroy(mn_layer *l) {
    mn_release(((positions *)l)->table);
    mn_release(l);
}

/* y_t[B,D] = x_t + P[t]: the row the forward adds at step t */
static mn_status pos_step(mn_layer *l, const float *x_t, float *y_t, int B, int t) {
    positions *s = (positions *)l;
    int D = l->in_size;
    if (s->learned && t >= s->max_len)
        return mn_fail(MN_E_ARG, "learned positions: step %d is past the table's %d rows; "
                       "build the block with a larger max-len, or use sin-positions", t,
                       s->max_len);
    const float *w = l->params + (size_t)t * D;
    for (int b = 0; b < B; b++)
        for (int d = 0; d < D; d++) {
            size_t r = (size_t)b * D + d;
            y_t[r] = x_t[r] + (s->learned ? w[d] : sinusoid((size_t)t, d, D));
        }
    return MN_OK;
}

static const mn_layer_ops pos_ops = {
    .kind = "positions",
    .init = pos_init,
    .forward = pos_forward,
    .backward = pos_backward,
    .activation_bytes = pos_bytes,
    .destroy = pos_destroy,
    .step = pos_step,
};

#define DEFAULT_MAX_LEN 4096

static mn_layer *pos_create(int learned, const mn_block_config *b, int in) {
    if (in < 1) {
        mn_fail(MN_E_ARG, "positions over %d features: need at least 1", in);
        return NULL;
    }
    positions *s = mn_alloc_zero(sizeof *s);
    if (!s) return NULL;
    s->base.ops = &pos_ops;
    s->base.in_size = s->base.out_size = in;
    s->learned = learned;
    s->max_len = b->max_len > 0 ? b->max_len : DEFAULT_MAX_LEN;
    if (learned) mn_layer_add_param(&s->base, "weight", 2, (int[]){s->max_len, in});
    return &s->base;
}

/* ------------------------------------------------------------ registered kinds */

static int pos_out_width(const mn_block_config *b, int in) { (void)b; return in; }
static mn_layer *sin_block(const mn_block_config *b, int in, int index) {
    (void)index;
    return pos_create(0, b, in);
}
static mn_layer *learned_block(const mn_block_config *b, int in, int index) {
    (void)index;
    return pos_create(1, b, in);
}
static double pos_macs(const mn_block_config *b, int in) { (void)b; (void)in; return 0; }
/* no products; sin-positions keeps its table P[T, D] */
static void sin_plan(const mn_block_config *b, int in, size_t T, size_t B, mn_memory_plan *p) {
    (void)b; (void)B;
    size_t n;
    if (!mn_mul_size(T, (size_t)in * sizeof(float), &n)) p->overflow = 1;
    else mn_plan_alloc(p, 0, n);
}
static void learned_plan(const mn_block_config *b, int in, size_t T, size_t B,
                         mn_memory_plan *p) {
    (void)b; (void)in; (void)T; (void)B; (void)p;
}

const mn_layer_kind mn_kind_sin_positions = {
    .name = "sin-positions", .summary = "adds sinusoidal absolute positions (Vaswani et al. 2017)",
    .cell = -1, .caps = MN_KIND_WHOLE_SEQUENCE, .out_width = pos_out_width, .create = sin_block, .plan = sin_plan,
    .macs_per_row = pos_macs,
};
const mn_layer_kind mn_kind_learned_positions = {
    .name = "learned-positions",
    .summary = "adds a learned vector per absolute position (max-len=N rows, default 4096)",
    .cell = -1, .caps = MN_KIND_MAX_LEN | MN_KIND_WHOLE_SEQUENCE, .out_width = pos_out_width, .create = learned_block,
    .plan = learned_plan, .macs_per_row = pos_macs,
};
