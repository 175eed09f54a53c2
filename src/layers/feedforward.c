/* Position-wise feed-forward network, every row of x[N,D] (N = T·B) on its own:
 *   forward:  H[N,F] = X·W1ᵀ + b1,  A = act(H),  Y[N,D] = A·W2ᵀ + b2
 *   backward: dW2 += dYᵀ·A, db2 += Σ dY, dA = dY·W2, dH = dA·act'(H),
 *             dW1 += dHᵀ·X, db1 += Σ dH, dX += dH·W1
 * ReLU's derivative reads A (PyTorch's threshold_backward on the result: a NaN output
 * passes its gradient), so a ReLU network keeps only A; GELU's needs H too. dA/dH live in
 * a buffer that only backward reserves, so a forward-only run never holds it. */
#include "feedforward.h"
#include "gemm.h"
#include "registry.h"
#include "init.h"

#include <limits.h>
#include <math.h>
#include <string.h>

typedef struct {
    mn_layer base;
    int F, act;
    size_t o_w1, o_b1, o_w2, o_b2;
    void *ws, *gws;
    size_t ws_bytes, gws_bytes, cap_rows, gcap_rows, rows;
    float *a, *h;          /* [N,F] activations; h only for GELU */
    float *dh;             /* [N,F] backward's own */
    const float *x;        /* input of the last forward (owned by the caller) */
} feedforward;

#define FF_PARALLEL 65536

static mn_status check_rows(size_t rows) {
    if (rows > INT_MAX)
        return mn_fail(MN_E_ARG, "feed-forward over %zu rows (T·B): at most %d per call; "
                       "use a smaller batch or shorter chunks", rows, INT_MAX);
    return MN_OK;
}

/* The workspaces' layout, read by reserve, reserve_grads and the memory plan: forward
 * a [N,F] (and the pre-activation h [N,F] for GELU), backward dh [N,F]. 0 on overflow. */
static int layout(size_t F, int act, size_t rows, size_t *fwd_bytes, size_t *bwd_bytes) {
    size_t n;
    return mn_mul_size(rows, F * (act == MN_ACT_GELU ? 2 : 1), &n) &&
           mn_mul_size(n, sizeof(float), fwd_bytes) && mn_mul_size(rows, F, &n) &&
           mn_mul_size(n, sizeof(float), bwd_bytes);
}

static mn_status reserve(feedforward *s, size_t rows) {
    if (rows <= s->cap_rows && s->ws) return MN_OK;
    size_t bytes, unused;
    if (!layout((size_t)s->F, s->act, rows, &bytes, &unused))
        return mn_fail(MN_E_NOMEM, "feed-forward activations for %zu rows overflow", rows);
    if (mn_reserve(&s->ws, &s->ws_bytes, bytes) != MN_OK) return MN_E_NOMEM;
    s->a = s->ws;
    s->h = s->act == MN_ACT_GELU ? s->a + rows * s->F : NULL;
    s->cap_rows = rows;
    return MN_OK;
}

static mn_status reserve_grads(feedforward *s, size_t rows) {
    if (rows <= s->gcap_rows && s->gws) return MN_OK;
    size_t bytes, unused;
    if (!layout((size_t)s->F, s->act, rows, &unused, &bytes))
        return mn_fail(MN_E_NOMEM, "feed-forward gradients for %zu rows overflow", rows);
    if (mn_reserve(&s->gws, &s->gws_bytes, bytes) != MN_OK) return MN_E_NOMEM;
    s->dh = s->gws;
    s->gcap_rows = rows;
    return MN_OK;
}

static void ff_init(mn_layer *l, mn_rng *rng, const mn_init_config *cfg) {
    (void)cfg;
    feedforward *s = (feedforward *)l;
    size_t D = (size_t)l->in_size, F = (size_t)s->F;
    float b1 = 1.0f / sqrtf((float)D), b2 = 1.0f / sqrtf((float)F);  /* nn.Linear's */
    mn_init_uniform(l->params + s->o_w1, F * D, b1, rng);
    mn_init_uniform(l->params + s->o_b1, F, b1, rng);
    mn_init_uniform(l->params + s->o_w2, D * F, b2, rng);
    mn_init_uniform(l->params + s->o_b2, D, b2, rng);
}

/* GELU(h) = h·Φ(h), Φ the standard normal CDF = (1 + erf(h/√2))/2 */
static inline float gelu(float h) { return 0.5f * h * (1.0f + erff(h * 0.70710678118654752f)); }
/* GELU'(h) = Φ(h) + h·φ(h), φ(h) = e^{−h²/2}/√(2π) */
static inline float gelu_grad(float h) {
    float cdf = 0.5f * (1.0f + erff(h * 0.70710678118654752f));
    float pdf = expf(-0.5f * h * h) * 0.3989422804014327f;
    return cdf + h * pdf;
}

static mn_status ff_forward(mn_layer *l, const float *x, float *y, int T, int B,
                            const int32_t *lengths) {
    (void)lengths;
    feedforward *s = (feedforward *)l;
    size_t rows = (size_t)T * B, F = (size_t)s->F, n = rows * F;
    int D = l->in_size;
    mn_status st;
    if ((st = check_rows(rows)) || (st = reserve(s, rows))) return st;
    const float *p = l->params;
    if (s->act == MN_ACT_GELU) {
        float *h = s->h, *a = s->a;
        mn_affine(x, p + s->o_w1, p + s->o_b1, h, (int)rows, D, (int)F);
        #pragma omp parallel for schedule(static) if (n > FF_PARALLEL / 8)
        for (size_t i = 0; i < n; i++) a[i] = gelu(h[i]);
    } else {
        float *a = s->a;
        mn_affine(x, p + s->o_w1, p + s->o_b1, a, (int)rows, D, (int)F);
        for (size_t i = 0; i < n; i++) {           /* ReLU in place; NaN stays NaN */
            float v = a[i];
            a[i] = (v > 0.0f || v != v) ? v : 0.0f;
        }
    }
    mn_affine(s->a, p + s->o_w2, p + s->o_b2, y, (int)rows, (int)F, D);
    s->x = x;
    s->rows = rows;
    return MN_OK;
}

static mn_status ff_backward(mn_layer *l, const float *dy, float *dx, int T, int B,
                             const int32_t *lengths) {
    (void)lengths;
    feedforward *s = (feedforward *)l;
    size_t rows = (size_t)T * B, n = rows * (size_t)s->F;
    int D = l->in_size, F = s->F, N = (int)rows;
    if (!s->x || rows != s->rows)
        return mn_fail(MN_E_STATE, "feed-forward backward over %zu rows after a forward over "
                       "%zu: call forward with the same T and B first", rows, s->rows);
    if (reserve_grads(s, rows) != MN_OK) return MN_E_NOMEM;
    const float *p = l->params;
    float *g = l->grads, *dh = s->dh;
    mn_sgemm(1, 0, D, F, N, 1.0f, dy, D, s->a, F, 1.0f, g + s->o_w2, F);    /* dW2 += dYᵀ·A */
    mn_column_sums(dy, N, D, g + s->o_b2);                                  /* db2 += Σ dY */
    mn_sgemm(0, 0, N, F, D, 1.0f, dy, D, p + s->o_w2, F, 0.0f, dh, F);      /* dA = dY·W2 */
    if (s->act == MN_ACT_GELU) {
        const float *h = s->h;
        #pragma omp parallel for schedule(static) if (n > FF_PARALLEL / 8)
        for (size_t i = 0; i < n; i++) dh[i] *= gelu_grad(h[i]);
    } else {
        const float *a = s->a;
        for (size_t i = 0; i < n; i++) dh[i] = a[i] <= 0.0f ? 0.0f : dh[i];
    }
    mn_sgemm(1, 0, F, D, N, 1.0f, dh, F, s->x, D, 1.0f, g + s->o_w1, D);    /* dW1 += dHᵀ·X */
    mn_column_sums(dh, N, F, g + s->o_b1);                                  /* db1 += Σ dH */
    if (dx) mn_sgemm(0, 0, N, D, F, 1.0f, dh, F, p + s->o_w1, D, 1.0f, dx, D); /* dX += dH·W1 */
    return MN_OK;
}


static size_t ff_bytes(const mn_layer *l) {
    const feedforward *s = (const feedforward *)l;
    return s->ws_bytes + s->gws_bytes;
}

static void ff_destroy(mn_layer *l) {
    feedforward *s = (feedforward *)l;
    mn_release(s->ws);
    mn_release(s->gws);
    mn_release(s);
}

static const mn_layer_ops ff_ops = {
    .kind = "feedforward",
    .init = ff_init,
    .forward = ff_forward,
    .backward = ff_backward,
    .activation_bytes = ff_bytes,
    .destroy = ff_destroy,
    .step = mn_step_by_forward,
};

mn_layer *mn_feedforward_create(int dim, int ff, int activation) {
    if (dim < 1 || ff < 1) {
        mn_fail(MN_E_ARG, "feed-forward widths %d -> %d: both must be at least 1", dim, ff);
        return NULL;
    }
    if (activation != MN_ACT_RELU && activation != MN_ACT_GELU) {
        mn_fail(MN_E_ARG, "feed-forward activation %d: use MN_ACT_RELU or MN_ACT_GELU",
                activation);
        return NULL;
    }
    feedforward *s = mn_alloc_zero(sizeof *s);
    if (!s) return NULL;
    s->base.ops = &ff_ops;
    s->base.in_size = s->base.out_size = dim;
    s->F = ff;
    s->act = activation;
    s->o_w1 = mn_layer_add_param(&s->base, "linear1.weight", 2, (int[]){ff, dim});
    s->o_b1 = mn_layer_add_param(&s->base, "linear1.bias", 1, (int[]){ff});
    s->o_w2 = mn_layer_add_param(&s->base, "linear2.weight", 2, (int[]){dim, ff});
    s->o_b2 = mn_layer_add_param(&s->base, "linear2.bias", 1, (int[]){dim});
    return &s->base;
}

/* ------------------------------------------------------------ registered kinds
 * ff:WIDTH (ReLU) and ff-gelu:WIDTH, WIDTH the inner size; the block keeps its width. */

static int ff_out_width(const mn_block_config *b, int in) { (void)b; return in; }
static mn_layer *ff_relu_block(const mn_block_config *b, int in, int index) {
    (void)index;
    return mn_feedforward_create(in, b->width, MN_ACT_RELU);
}
static mn_layer *ff_gelu_block(const mn_block_config *b, int in, int index) {
    (void)index;
    return mn_feedforward_create(in, b->width, MN_ACT_GELU);
}
static double ff_macs(const mn_block_config *b, int in) { return 2.0 * in * b->width; }

/* In the order ff_forward and ff_backward allocate and multiply. */
static void ff_plan(int act, const mn_block_config *b, int in, size_t rows, mn_memory_plan *p) {
    size_t F = (size_t)b->width, D = (size_t)in, fwd, bwd;
    if (!layout(F, act, rows, &fwd, &bwd)) { p->overflow = 1; return; }
    mn_plan_alloc(p, 0, fwd);
    mn_plan_gemm(p, 0, 0, rows, F, D);     /* linear1 */
    mn_plan_gemm(p, 0, 0, rows, D, F);     /* linear2 */
    mn_plan_alloc(p, 1, bwd);
    mn_plan_gemm(p, 1, 0, D, F, rows);     /* dW2 */
    mn_plan_gemm(p, 1, 0, rows, F, D);     /* dA */
    mn_plan_gemm(p, 1, 0, F, D, rows);     /* dW1 */
    mn_plan_gemm(p, 1, 1, rows, D, F);     /* dX */
}
static void ff_relu_plan(const mn_block_config *b, int in, size_t T, size_t B,
                         mn_memory_plan *p) {
    ff_plan(MN_ACT_RELU, b, in, T * B, p);
}
static void ff_gelu_plan(const mn_block_config *b, int in, size_t T, size_t B,
                         mn_memory_plan *p) {
    ff_plan(MN_ACT_GELU, b, in, T * B, p);
}

const mn_layer_kind mn_kind_ff = {
    .name = "ff", .summary = "position-wise feed-forward, Linear(d, WIDTH) -> ReLU -> Linear",
    .cell = -1, .caps = MN_KIND_WIDTH, .out_width = ff_out_width, .create = ff_relu_block,
    .plan = ff_relu_plan, .macs_per_row = ff_macs,
};
const mn_layer_kind mn_kind_ff_gelu = {
    .name = "ff-gelu", .summary = "position-wise feed-forward with GELU (exact erf form)",
    .cell = -1, .caps = MN_KIND_WIDTH, .out_width = ff_out_width, .create = ff_gelu_block,
    .plan = ff_gelu_plan, .macs_per_row = ff_macs,
};
