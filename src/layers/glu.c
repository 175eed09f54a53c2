/* Two per-position kinds for state-space blocks (S4's "S4D → GELU → linear or GLU"):
 *
 * glu:  h[N,2d] = x[N,d]·Wᵀ + b (nn.Linear(d, 2d): linear.weight [2d,d], linear.bias [2d]),
 *       y[N,d] = a·σ(g) with a = h[:, :d], g = h[:, d:] (torch.nn.GLU(dim=-1));
 *       backward: da = dy·σ(g), dg = dy·a·σ(g)·(1 − σ(g)), dW += dhᵀ·x, db += Σ dh,
 *       dx += dh·W. The width stays d.
 * gelu: y = x·Φ(x), the exact erf form (torch.nn.GELU()); dx += dy·(Φ(x) + x·φ(x)).
 *       No parameters.
 * Both read the caller's input in backward (as linear does); glu keeps h for backward.
 * σ and Φ by libm: a NaN input gives NaN, as PyTorch. */
#include "glu.h"
#include "registry.h"
#include "gemm.h"
#include "init.h"

#include <math.h>
#include <string.h>

#define PAR_MIN 32768   /* elements: below this, one thread does the pointwise pass */

static inline float sigm(float v) { return 1.0f / (1.0f + expf(-v)); }

/* ------------------------------------------------------------ glu */

typedef struct {
    mn_layer base;
    size_t o_w, o_b;
    void *ws, *gws;
    size_t ws_bytes, gws_bytes, rows;
    const float *x;        /* input of the last forward (owned by the caller) */
} glu;

/* forward h [N,2d], backward dh [N,2d]; 0 on overflow */
static int glu_layout(size_t d, size_t rows, size_t *bytes) {
    size_t n;
    return mn_mul_size(rows, 2 * d, &n) && mn_mul_size(n, sizeof(float), bytes);
}

static void glu_init(mn_layer *l, mn_rng *rng, const mn_init_config *cfg) {
    (void)cfg;
    glu *s = (glu *)l;
    size_t d = (size_t)l->in_size;
    float bound = 1.0f / sqrtf((float)d);               /* nn.Linear's default */
    mn_init_uniform(l->params + s->o_w, 2 * d * d, bound, rng);
    mn_init_uniform(l->params + s->o_b, 2 * d, bound, rng);
}

static mn_status glu_forward(mn_layer *l, const float *x, float *y, int T, int B,
                             const int32_t *lengths) {
    (void)lengths;
    glu *s = (glu *)l;
    int d = l->in_size;
    size_t rows, bytes;
    mn_status st;
    if ((st = mn_layer_rows(l, T, B, &rows))) return st;
    if (!glu_layout((size_t)d, rows, &bytes))
        return mn_fail(MN_E_NOMEM, "GLU activations for %zu rows overflow", rows);
    if (mn_reserve(&s->ws, &s->ws_bytes, bytes ? bytes : 1) != MN_OK) return MN_E_NOMEM;
    s->x = x;
    s->rows = rows;
    if (rows == 0) return MN_OK;
    float *h = s->ws;
    const float *W = l->params + s->o_w, *b = l->params + s->o_b;
    for (size_t n = 0; n < rows; n++) memcpy(h + n * 2 * d, b, 2 * (size_t)d * sizeof(float));
    mn_sgemm(0, 1, (int)rows, 2 * d, d, 1.0f, x, d, W, d, 1.0f, h, 2 * d);   /* h += x·Wᵀ */
    long N = (long)rows;
    #pragma omp parallel for schedule(static) if (N * d > PAR_MIN)
    for (long n = 0; n < N; n++) {
        const float *hn = h + (size_t)n * 2 * d;
        float *yn = y + (size_t)n * d;
        for (int j = 0; j < d; j++) yn[j] = hn[j] * sigm(hn[d + j]);
    }
    return MN_OK;
}

static mn_status glu_backward(mn_layer *l, const float *dy, float *dx, int T, int B,
                              const int32_t *lengths) {
    (void)lengths;
    glu *s = (glu *)l;
    int d = l->in_size;
    size_t rows, bytes;
    mn_status st;
    if ((st = mn_layer_rows(l, T, B, &rows))) return st;
    if (!s->x || rows != s->rows)
        return mn_fail(MN_E_STATE, "GLU backward over %zu rows after a forward over %zu: call "
                       "forward with the same T and B first", rows, s->rows);
    if (rows == 0) return MN_OK;
    if (!glu_layout((size_t)d, rows, &bytes) || mn_reserve(&s->gws, &s->gws_bytes, bytes))
        return mn_fail(MN_E_NOMEM, "GLU gradients for %zu rows do not fit in memory", rows);
    const float *h = s->ws;
    float *dh = s->gws;
    long N = (long)rows;
    #pragma omp parallel for schedule(static) if (N * d > PAR_MIN)
    for (long n = 0; n < N; n++) {
        const float *hn = h + (size_t)n * 2 * d, *dyn = dy + (size_t)n * d;
        float *dhn = dh + (size_t)n * 2 * d;
        for (int j = 0; j < d; j++) {
            float sg = sigm(hn[d + j]);
            dhn[j] = dyn[j] * sg;
            dhn[d + j] = dyn[j] * hn[j] * sg * (1.0f - sg);
        }
    }
    float *dW = l->grads + s->o_w, *db = l->grads + s->o_b;
    mn_sgemm(1, 0, 2 * d, d, (int)rows, 1.0f, dh, 2 * d, s->x, d, 1.0f, dW, d); /* dW += dhᵀ·x */
    mn_column_sums(dh, rows, 2 * d, db);                                       /* db += Σ dh */
    if (dx) mn_sgemm(0, 0, (int)rows, d, 2 * d, 1.0f, dh, 2 * d, l->params + s->o_w, d, 1.0f,
                     dx, d);                                                   /* dx += dh·W */
    return MN_OK;
}

static size_t glu_bytes(const mn_layer *l) {
    const glu *s = (const glu *)l;
    return s->ws_bytes + s->gws_bytes;
}

static void glu_destroy(mn_layer *l) {
    glu *s = (glu *)l;
    mn_release(s->ws);
    mn_release(s->gws);
    mn_release(s);
}

static const mn_layer_ops glu_ops = {
    .kind = "glu",
    .init = glu_init,
    .forward = glu_forward,
    .backward = glu_backward,
    .activation_bytes = glu_bytes,
    .destroy = glu_destroy,
    .step = mn_step_by_forward,
};

mn_layer *mn_glu_create(int d) {
    if (d < 1 || d > (1 << 28)) {
        mn_fail(MN_E_ARG, "GLU over %d features: need from 1 to 2^28", d);
        return NULL;
    }
    glu *s = mn_alloc_zero(sizeof *s);
    if (!s) return NULL;
    s->base.ops = &glu_ops;
    s->base.in_size = s->base.out_size = d;
    s->o_w = mn_layer_add_param(&s->base, "linear.weight", 2, (int[]){2 * d, d});
    s->o_b = mn_layer_add_param(&s->base, "linear.bias", 1, (int[]){2 * d});
    return &s->base;
}

/* ------------------------------------------------------------ gelu */

typedef struct {
    mn_layer base;
    const float *x;        /* input of the last forward (owned by the caller) */
    size_t rows;
} gelu;

/* GELU(v) = v·Φ(v), Φ(v) = (1 + erf(v/√2))/2; GELU'(v) = Φ(v) + v·φ(v) */
static inline float gelu_of(float v) { return 0.5f * v * (1.0f + erff(v * 0.70710678118654752f)); }
static inline float gelu_grad(float v) {
    float cdf = 0.5f * (1.0f + erff(v * 0.70710678118654752f));
    return cdf + v * expf(-0.5f * v * v) * 0.3989422804014327f;
}

static mn_status gelu_forward(mn_layer *l, const float *x, float *y, int T, int B,
                              const int32_t *lengths) {
    (void)lengths;
    gelu *s = (gelu *)l;
    size_t rows;
    mn_status st;
    if ((st = mn_layer_rows(l, T, B, &rows))) return st;
    long n = (long)(rows * (size_t)l->in_size);   /* mn_layer_rows checked the product */
    #pragma omp parallel for schedule(static) if (n > PAR_MIN)
    for (long i = 0; i < n; i++) y[i] = gelu_of(x[i]);
    s->x = x;
    s->rows = rows;
    return MN_OK;
}

static mn_status gelu_backward(mn_layer *l, const float *dy, float *dx, int T, int B,
                               const int32_t *lengths) {
    (void)lengths;
    gelu *s = (gelu *)l;
    size_t rows;
    mn_status st;
    if ((st = mn_layer_rows(l, T, B, &rows))) return st;
    if (!s->x || rows != s->rows)
        return mn_fail(MN_E_STATE, "GELU backward over %zu rows after a forward over %zu: "
                       "call forward with the same T and B first", rows, s->rows);
    if (!dx) return MN_OK;
    const float *x = s->x;
    long n = (long)(rows * (size_t)l->in_size);
    #pragma omp parallel for schedule(static) if (n > PAR_MIN)
    for (long i = 0; i < n; i++) dx[i] += dy[i] * gelu_grad(x[i]);
    return MN_OK;
}

static void gelu_init(mn_layer *l, mn_rng *rng, const mn_init_config *cfg) {
    (void)l; (void)rng; (void)cfg;   /* nothing to draw; init is called on every layer */
}

static void gelu_destroy(mn_layer *l) { mn_release(l); }

static const mn_layer_ops gelu_ops = {
    .kind = "gelu",
    .init = gelu_init,
    .forward = gelu_forward,
    .backward = gelu_backward,
    .destroy = gelu_destroy,
    .step = mn_step_by_forward,
};

mn_layer *mn_gelu_create(int d) {
    if (d < 1) {
        mn_fail(MN_E_ARG, "GELU over %d features: need at least 1", d);
        return NULL;
    }
    gelu *s = mn_alloc_zero(sizeof *s);
    if (!s) return NULL;
    s->base.ops = &gelu_ops;
    s->base.in_size = s->base.out_size = d;
    return &s->base;
}

/* ------------------------------------------------------------ registered kinds
 * glu and gelu keep the input's width; neither reads the block's. */

static int same_width(const mn_block_config *b, int in) { (void)b; return in; }
static mn_layer *glu_block(const mn_block_config *b, int in, int index) {
    (void)b; (void)index;
    return mn_glu_create(in);
}
static mn_layer *gelu_block(const mn_block_config *b, int in, int index) {
    (void)b; (void)index;
    return mn_gelu_create(in);
}
static double glu_macs(const mn_block_config *b, int in) { (void)b; return 2.0 * in * in; }
static double gelu_macs(const mn_block_config *b, int in) { (void)b; (void)in; return 0; }
/* In the order glu_forward and glu_backward allocate and multiply. */
static void glu_plan(const mn_block_config *b, int in, size_t T, size_t B, mn_memory_plan *p) {
    (void)b;
    size_t d = (size_t)in, rows = T * B, bytes;
    if (!glu_layout(d, rows, &bytes)) { p->overflow = 1; return; }
    mn_plan_alloc(p, 0, bytes);
    mn_plan_gemm(p, 0, 0, rows, 2 * d, d);    /* h */
    mn_plan_alloc(p, 1, bytes);
    mn_plan_gemm(p, 1, 0, 2 * d, d, rows);    /* dW */
    mn_plan_gemm(p, 1, 1, rows, d, 2 * d);    /* dx */
}
static void gelu_plan(const mn_block_config *b, int in, size_t T, size_t B,
                      mn_memory_plan *p) {
    (void)b; (void)in; (void)T; (void)B; (void)p;
}

const mn_layer_kind mn_kind_glu = {
    .name = "glu", .summary = "gated linear unit, Linear(d, 2d) then a*sigmoid(b); keeps the width",
    .cell = -1, .out_width = same_width, .create = glu_block, .plan = glu_plan,
    .macs_per_row = glu_macs,
};
const mn_layer_kind mn_kind_gelu = {
    .name = "gelu", .summary = "GELU of every feature (exact erf form), no parameters",
    .cell = -1, .out_width = same_width, .create = gelu_block, .plan = gelu_plan,
    .macs_per_row = gelu_macs,
};
