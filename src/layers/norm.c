/* LayerNorm and RMSNorm over the last dimension, every row of x[N,D] (N = T·B) on its own:
 *   LayerNorm: y = (x − μ)·r·w + b,  μ = mean(x), r = 1/√(mean((x − μ)²) + eps)
 *   RMSNorm:   y = x·r·w,            r = 1/√(mean(x²) + eps)
 * (torch.nn.LayerNorm; RMSNorm of Zhang & Sennrich 2019 as torch.nn.RMSNorm defines it).
 * Forward keeps μ and r per row and a pointer to x, not the normalized output: backward
 * recomputes x̂ = (x − μ)·r from them, which costs one subtraction and saves [N,D] floats.
 *
 * backward, with g = dy·w and means over the row:
 *   LayerNorm: dx += r·(g − mean(g) − x̂·mean(g·x̂))
 *   RMSNorm:   dx += r·(g − x̂·mean(g·x̂))
 *   dw += Σ_rows dy·x̂,  db += Σ_rows dy
 * Statistics and backward's reductions are in double: they are O(N·D), negligible next to
 * the GEMMs around a norm, and dw = Σ_rows dy·x̂ cancels: with x̂ rounded to float32 its
 * error reached 3e-5 of the tensor's scale on the golden fixture, in double 3e-7. */
#include "norm.h"
#include "registry.h"

#include <math.h>
#include <string.h>

typedef struct {
    mn_layer base;
    int centered;          /* 1 LayerNorm, 0 RMSNorm */
    float eps;
    size_t o_w, o_b;
    void *ws;
    size_t ws_bytes, cap_rows, rows;
    double *mean, *rstd;   /* [N] per row; mean 0 for RMSNorm */
    const float *x;        /* input of the last forward (owned by the caller) */
} norm;

/* Work below this many elements stays on one thread: forking costs more. */
#define NORM_PARALLEL 65536

/* The workspace's layout, read by reserve and the memory plan: mean and rstd per row. */
static int layout(size_t rows, size_t *bytes) { return mn_mul_size(rows, 2 * sizeof(double), bytes); }

static mn_status reserve(norm *s, size_t rows) {
    if (rows <= s->cap_rows && s->ws) return MN_OK;
    size_t bytes;
    if (!layout(rows, &bytes))
        return mn_fail(MN_E_NOMEM, "norm statistics for %zu rows overflow", rows);
    if (mn_reserve(&s->ws, &s->ws_bytes, bytes) != MN_OK) return MN_E_NOMEM;
    s->mean = s->ws;
    s->rstd = s->mean + rows;
    s->cap_rows = rows;
    return MN_OK;
}

static void norm_init(mn_layer *l, mn_rng *rng, const mn_init_config *cfg) {
    (void)rng;
    (void)cfg;
    norm *s = (norm *)l;
    int D = l->in_size;
    for (int d = 0; d < D; d++) l->params[s->o_w + d] = 1.0f;
    if (s->centered) memset(l->params + s->o_b, 0, (size_t)D * sizeof(float));
}

static mn_status norm_forward(mn_layer *l, const float *x, float *y, int T, int B,
                              const int32_t *lengths) {
    (void)lengths;
    norm *s = (norm *)l;
    size_t rows = (size_t)T * B, D = (size_t)l->in_size;
    if (reserve(s, rows) != MN_OK) return MN_E_NOMEM;
    const float *w = l->params + s->o_w, *bias = s->centered ? l->params + s->o_b : NULL;
    double *mean = s->mean, *rstd = s->rstd;
    int centered = s->centered;
    double eps = s->eps;
    #pragma omp parallel for schedule(static) if (rows * D > NORM_PARALLEL)
    for (size_t r = 0; r < rows; r++) {
        const float *xr = x + r * D;
        float *yr = y + r * D;
        double mu = 0, ss = 0;
        if (centered) {
            for (size_t d = 0; d < D; d++) mu += xr[d];
            mu /= (double)D;
        }
        for (size_t d = 0; d < D; d++) {
            double c = xr[d] - mu;
            ss += c * c;
        }
        double rsd = 1.0 / sqrt(ss / (double)D + eps);
        mean[r] = mu;
        rstd[r] = rsd;
        float m = (float)mu, rs = (float)rsd;
        if (bias)
            for (size_t d = 0; d < D; d++) yr[d] = (xr[d] - m) * rs * w[d] + bias[d];
        else
            for (size_t d = 0; d < D; d++) yr[d] = xr[d] * rs * w[d];
    }
    s->x = x;
    s->rows = rows;
    return MN_OK;
}

static mn_status norm_backward(mn_layer *l, const float *dy, float *dx, int T, int B,
                               const int32_t *lengths) {
    (void)lengths;
    norm *s = (norm *)l;
    size_t rows = (size_t)T * B, D = (size_t)l->in_size;
    if (!s->x || rows != s->rows)
        return mn_fail(MN_E_STATE, "norm backward over %zu rows after a forward over %zu: "
                       "call forward with the same T and B first", rows, s->rows);
    const float *x = s->x, *w = l->params + s->o_w;
    const double *mean = s->mean, *rstd = s->rstd;
    int centered = s->centered;
    if (dx) {
        #pragma omp parallel for schedule(static) if (rows * D > NORM_PARALLEL)
        for (size_t r = 0; r < rows; r++) {
            const float *xr = x + r * D, *dyr = dy + r * D;
            double m = mean[r], rs = rstd[r];
            double sg = 0, sgx = 0;      /* Σ g, Σ g·x̂ */
            for (size_t d = 0; d < D; d++) {
                double g = (double)dyr[d] * w[d];
                sg += g;
                sgx += g * ((xr[d] - m) * rs);
            }
            double c1 = centered ? sg / (double)D : 0.0, c2 = sgx / (double)D;
            float *dxr = dx + r * D;
            for (size_t d = 0; d < D; d++) {
                double xh = (xr[d] - m) * rs;
                dxr[d] += (float)(rs * ((double)dyr[d] * w[d] - c1 - xh * c2));
            }
        }
    }
    /* Parameter gradients: threads split the columns into blocks, each walks the rows in
     * order, so the sums do not depend on the thread count (as mn_column_sums). */
    enum { BLOCK = 64 };
    float *dw = l->grads + s->o_w, *db = centered ? l->grads + s->o_b : NULL;
    long blocks = (long)((D + BLOCK - 1) / BLOCK);
    #pragma omp parallel for schedule(static) if (rows * D > NORM_PARALLEL && blocks > 1)
    for (long bk = 0; bk < blocks; bk++) {
        size_t c0 = (size_t)bk * BLOCK, n = MN_MIN((size_t)BLOCK, D - c0);
        double sw[BLOCK] = {0}, sb[BLOCK] = {0};
        for (size_t r = 0; r < rows; r++) {
            const float *xr = x + r * D + c0, *dyr = dy + r * D + c0;
            double m = mean[r], rs = rstd[r];
            for (size_t c = 0; c < n; c++) {
                sw[c] += (double)dyr[c] * ((xr[c] - m) * rs);
                sb[c] += dyr[c];
            }
        }
        for (size_t c = 0; c < n; c++) {
            dw[c0 + c] += (float)sw[c];
            if (db) db[c0 + c] += (float)sb[c];
        }
    }
    return MN_OK;
}

static size_t norm_bytes(const mn_layer *l) { return ((const norm *)l)->ws_bytes; }

static void norm_destroy(mn_layer *l) {
    mn_release(((norm *)l)->ws);
    mn_release(l);
}

static const mn_layer_ops layernorm_ops = {
    .kind = "layernorm",
    .init = norm_init,
    .forward = norm_forward,
    .backward = norm_backward,
    .activation_bytes = norm_bytes,
    .destroy = norm_destroy,
    .step = mn_step_by_forward,
};

static const mn_layer_ops rmsnorm_ops = {
    .kind = "rmsnorm",
    .init = norm_init,
    .forward = norm_forward,
    .backward = norm_backward,
    .activation_bytes = norm_bytes,
    .destroy = norm_destroy,
    .step = mn_step_by_forward,
};

static mn_layer *norm_create(int dim, float eps, int centered) {
    const char *what = centered ? "layernorm" : "rmsnorm";
    if (dim < 1) {
        mn_fail(MN_E_ARG, "%s width %d: it must be at least 1", what, dim);
        return NULL;
    }
    if (!(eps >= 0.0f) || isinf(eps)) {
        mn_fail(MN_E_ARG, "%s eps %g: it must be a finite number >= 0 (PyTorch's default "
                "is 1e-5)", what, (double)eps);
        return NULL;
    }
    norm *s = mn_alloc_zero(sizeof *s);
    if (!s) return NULL;
    s->base.ops = centered ? &layernorm_ops : &rmsnorm_ops;
    s->base.in_size = s->base.out_size = dim;
    s->centered = centered;
    s->eps = eps;
    s->o_w = mn_layer_add_param(&s->base, "weight", 1, (int[]){dim});
    if (centered) s->o_b = mn_layer_add_param(&s->base, "bias", 1, (int[]){dim});
    return &s->base;
}

mn_layer *mn_layernorm_create(int dim, float eps) { return norm_create(dim, eps, 1); }
mn_layer *mn_rmsnorm_create(int dim, float eps) { return norm_create(dim, eps, 0); }

/* ------------------------------------------------------------ registered kinds
 * A normalization as a block of its own (width: that of its input). */

static int norm_out_width(const mn_block_config *b, int in) { (void)b; return in; }
static mn_layer *layernorm_block(const mn_block_config *b, int in, int index) {
    (void)b; (void)index;
    return mn_layernorm_create(in, 1e-5f);
}
static mn_layer *rmsnorm_block(const mn_block_config *b, int in, int index) {
    (void)b; (void)index;
    return mn_rmsnorm_create(in, 1e-5f);
}
static double norm_macs(const mn_block_config *b, int in) { (void)b; return 4.0 * in; }

void mn_norm_plan(size_t rows, mn_memory_plan *p) {
    size_t bytes;
    if (!layout(rows, &bytes)) p->overflow = 1;
    else mn_plan_alloc(p, 0, bytes);
}
static void norm_plan(const mn_block_config *b, int in, size_t T, size_t B, mn_memory_plan *p) {
    (void)b; (void)in;
    mn_norm_plan(T * B, p);
}

const mn_layer_kind mn_kind_layernorm = {
    .name = "layernorm", .summary = "LayerNorm over the features of every step (Ba et al. 2016)",
    .cell = -1, .out_width = norm_out_width, .create = layernorm_block, .plan = norm_plan,
    .macs_per_row = norm_macs,
};
const mn_layer_kind mn_kind_rmsnorm = {
    .name = "rmsnorm", .summary = "RMSNorm over the features of every step (Zhang & Sennrich 2019)",
    .cell = -1, .out_width = norm_out_width, .create = rmsnorm_block, .plan = norm_plan,
    .macs_per_row = norm_macs,
};
