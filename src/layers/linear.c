/* Linear layer applied to every row: y[N,out] = x[N,in] · Wᵀ + b, N = T·B.
 * Parameters follow nn.Linear: weight [out,in], bias [out]. */
#include "registry.h"
#include "gemm.h"
#include "init.h"

#include <math.h>

typedef struct {
    mn_layer base;
    size_t o_w, o_b;
    const float *x;     /* input of the last forward (owned by the caller) */
} linear;

static void linear_init(mn_layer *l, mn_rng *rng, const mn_init_config *cfg) {
    (void)cfg;
    linear *s = (linear *)l;
    float bound = 1.0f / sqrtf((float)l->in_size);  /* nn.Linear's default */
    mn_init_uniform(l->params + s->o_w, (size_t)l->out_size * l->in_size, bound, rng);
    mn_init_uniform(l->params + s->o_b, (size_t)l->out_size, bound, rng);
}

static mn_status linear_forward(mn_layer *l, const float *x, float *y, int T, int B,
                                const int32_t *lengths) {
    (void)lengths;
    linear *s = (linear *)l;
    int in = l->in_size, out = l->out_size;
    size_t N;
    mn_status st = mn_layer_rows(l, T, B, &N);
    if (st) return st;
    const float *W = l->params + s->o_w, *b = l->params + s->o_b;
    for (size_t n = 0; n < N; n++)                       /* y = b */
        for (int o = 0; o < out; o++) y[n * out + o] = b[o];
    mn_sgemm(0, 1, (int)N, out, in, 1.0f, x, in, W, in, 1.0f, y, out);  /* y += x·Wᵀ */
    s->x = x;
    return MN_OK;
}

static mn_status linear_backward(mn_layer *l, const float *dy, float *dx, int T, int B,
                                 const int32_t *lengths) {
    (void)lengths;
    linear *s = (linear *)l;
    int in = l->in_size, out = l->out_size;
    size_t rows;
    mn_status st = mn_layer_rows(l, T, B, &rows);
    if (st) return st;
    int N = (int)rows;   /* mn_layer_rows: at most INT_MAX */
    float *dW = l->grads + s->o_w, *db = l->grads + s->o_b;
    mn_sgemm(1, 0, out, in, N, 1.0f, dy, out, s->x, in, 1.0f, dW, in);  /* dW += dyᵀ·x */
    mn_column_sums(dy, rows, out, db);                                   /* db += Σ dy */
    if (dx) mn_sgemm(0, 0, N, in, out, 1.0f, dy, out, l->params + s->o_w, in, 1.0f, dx, in);
    return MN_OK;
}

static void linear_destroy(mn_layer *l) { mn_release(l); }

static const mn_layer_ops linear_ops = {
    .kind = "linear",
    .init = linear_init,
    .forward = linear_forward,
    .backward = linear_backward,
    .destroy = linear_destroy,
    .step = mn_step_by_forward,
};

mn_layer *mn_linear_create(int in, int out) {
    linear *s = mn_alloc_zero(sizeof *s);
    if (!s) return NULL;
    s->base.ops = &linear_ops;
    s->base.in_size = in;
    s->base.out_size = out;
    s->o_w = mn_layer_add_param(&s->base, "weight", 2, (int[]){out, in});
    s->o_b = mn_layer_add_param(&s->base, "bias", 1, (int[]){out});
    return &s->base;
}

/* ------------------------------------------------------------ registered kind */

static int linear_out_width(const mn_block_config *b, int in) { (void)in; return b->width; }
static mn_layer *linear_block(const mn_block_config *b, int in, int index) {
    (void)index;
    return mn_linear_create(in, b->width);
}
static double linear_macs(const mn_block_config *b, int in) { return (double)in * b->width; }
static void linear_plan(const mn_block_config *b, int in, size_t T, size_t B,
                        mn_memory_plan *p) {
    size_t I = (size_t)in, O = (size_t)b->width, rows = T * B;
    mn_plan_gemm(p, 0, 0, rows, O, I);     /* y = x·Wᵀ */
    mn_plan_gemm(p, 1, 0, O, I, rows);     /* dW */
    mn_plan_gemm(p, 1, 1, rows, I, O);     /* dx */
}

const mn_layer_kind mn_kind_linear = {
    .name = "linear", .summary = "a linear map of every step, y = W x + b", .cell = -1,
    .caps = MN_KIND_WIDTH, .out_width = linear_out_width, .create = linear_block,
    .plan = linear_plan, .macs_per_row = linear_macs,
};
