/* Mamba block (mamba.h) over x[T,B,D], rows r = t·B + b, E = 2D, P = R + 2N:
 *   forward:  xz[T,B,2E] = x·W_inᵀ;  c = conv(xz[:, :E]);  u = SiLU(c);
 *             xdbl[T,B,P] = u·W_xᵀ;  Δ = softplus(xdbl[:, :R]·W_dtᵀ + b_dt);
 *             ys = scan(u, Δ, B = xdbl[:, R:R+N], C = xdbl[:, R+N:]);  g = ys ∘ SiLU(z);
 *             out = g·W_outᵀ
 *   backward: dW_out += doutᵀ·g;  dg = dout·W_out;  dys = dg ∘ SiLU(z);
 *             dz = dg ∘ ys ∘ SiLU'(z);  the scan's backward (mamba_scan.c) gives du, dΔ,
 *             dB, dC, dA_log, dD;  dΔ ∘= softplus';  dW_dt += dΔᵀ·Δ_low;  db_dt += Σ dΔ;
 *             dΔ_low = dΔ·W_dt;  dW_x += dxdblᵀ·u;  du += dxdbl·W_x;  dc = du ∘ SiLU'(c);
 *             the conv's dW, db and d(xz[:, :E]);  dW_in += dxzᵀ·x;  dx += dxz·W_in
 * Every product through mn_sgemm; the depthwise conv (4 taps per channel) and the pointwise
 * steps are plain loops over rows. The conv is causal and the scan runs forward in time, so
 * padded steps are computed and never reach a real one. SiLU and softplus are PyTorch's
 * (x·σ(x); softplus x above 20, else log1p(e^x)) in forms that vectorize (mamba_math.h),
 * NaN and ±Inf coming out as there. */
/* The pointwise loops vectorize only when their selects may be blends (mamba_math.h). */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")
#endif
#include "mamba.h"
#include "mamba_math.h"
#include "gemm.h"
#include "init.h"
#include "block.h"
#include "registry.h"

#include <limits.h>
#include <math.h>
#include <string.h>

#define K MN_MAMBA_CONV
#define POINTWISE_PARALLEL 65536

typedef struct {
    mn_layer base;
    int D, E, N, R, P;
    size_t o_in, o_cw, o_cb, o_x, o_dtw, o_dtb, o_alog, o_D, o_out;
    void *ws, *gws;
    size_t ws_bytes, gws_bytes;
    float *xz, *c, *u, *xdbl, *dl, *ys, *g, *hs, *scr;   /* forward's, in ws */
    const float *x;                 /* input of the last forward (owned by the caller) */
    int T, B, threads;
    /* streaming: conv window [B][K−1][E], the scan state, one step's activations, scratch */
    void *st;
    size_t st_bytes;
    int st_B;
} mamba;

/* ------------------------------------------------------------ layout */

/* Floats of forward's workspace (xz, c, u, xdbl, Δ, ys, g, the chunk states, the scan's
 * scratch) and backward's (dg, dxz, dΔ, du, dxdbl, the scan's shared and scratch). 0 on
 * overflow. */
static int layout(size_t D, size_t N, size_t T, size_t B, size_t threads, size_t *fwd,
                  size_t *bwd) {
    size_t E = MN_MAMBA_EXPAND * D, R = (D + 15) / 16, P = R + 2 * N, rows, a, b, st, sh, f, g;
    size_t states = mn_scan_state_floats(T, B, E, N), shared = mn_scan_backward_shared(B, E, N);
    if (!mn_mul_size(T, B, &rows) || !states || !shared || !mn_mul_size(rows, 7 * E + P, &a) ||
        !mn_mul_size(rows, 5 * E + P, &b) ||
        !mn_mul_size(threads, mn_scan_forward_scratch(N), &f) ||
        !mn_mul_size(threads, mn_scan_backward_scratch(N), &g))
        return 0;
    st = a + states;
    sh = b + shared;
    if (st < a || st + f < st || sh < b || sh + g < sh) return 0;
    *fwd = st + f;
    *bwd = sh + g;
    return *fwd < SIZE_MAX / sizeof(float) && *bwd < SIZE_MAX / sizeof(float);
}

static mn_status reserve(mamba *s, int T, int B, int grads) {
    size_t fwd, bwd, rows = (size_t)T * B, E = (size_t)s->E;
    s->threads = mn_scan_threads(B, s->E);
    if (!layout((size_t)s->D, (size_t)s->N, (size_t)T, (size_t)B, (size_t)s->threads, &fwd, &bwd))
        return mn_fail(MN_E_NOMEM, "Mamba workspace for %d steps of %d sequences overflows", T, B);
    if (grads) return mn_reserve(&s->gws, &s->gws_bytes, bwd * sizeof(float));
    if (mn_reserve(&s->ws, &s->ws_bytes, fwd * sizeof(float))) return MN_E_NOMEM;
    s->xz = s->ws;
    s->c = s->xz + rows * 2 * E;
    s->u = s->c + rows * E;
    s->xdbl = s->u + rows * E;
    s->dl = s->xdbl + rows * s->P;
    s->ys = s->dl + rows * E;
    s->g = s->ys + rows * E;
    s->hs = s->g + rows * E;
    s->scr = s->hs + mn_scan_state_floats((size_t)T, (size_t)B, E, (size_t)s->N);
    return MN_OK;
}

/* ------------------------------------------------------------ pointwise pieces */

#define silu mn_mamba_silu
#define silu_grad mn_mamba_silu_grad
#define softplus mn_mamba_softplus

/* c[r] = b + Σ_j W[:, j] ∘ xz[r − (K−1−j)·B, :E] (zero before step 0), u = SiLU(c) */
static void conv_forward(const mamba *s, const float *p, const float *xz, float *c, float *u,
                         int T, int B) {
    int E = s->E;
    const float *w = p + s->o_cw, *bias = p + s->o_cb;
    long rows = (long)T * B;
    #pragma omp parallel for schedule(static) if (rows * E > POINTWISE_PARALLEL)
    for (long r = 0; r < rows; r++) {
        float *o = c + r * E;
        long t = r / B;
        memcpy(o, bias, (size_t)E * sizeof(float));
        for (int j = 0; j < K; j++) {
            long sh = K - 1 - j;
            if (t < sh) continue;
            const float *src = xz + (r - sh * B) * 2 * E;
            for (int e = 0; e < E; e++) o[e] += w[e * K + j] * src[e];
        }
        for (int e = 0; e < E; e++) u[r * E + e] = silu(o[e]);
    }
}

/* xdbl = u·W_xᵀ; Δ = softplus(xdbl[:, :R]·W_dtᵀ + b_dt) */
static void project_x(const mamba *s, const float *p, const float *u, float *xdbl, float *dl,
                      int rows) {
    int E = s->E, P = s->P, R = s->R;
    mn_sgemm(0, 1, rows, P, E, 1.0f, u, E, p + s->o_x, E, 0.0f, xdbl, P);
    for (size_t r = 0; r < (size_t)rows; r++) memcpy(dl + r * E, p + s->o_dtb, (size_t)E * 4);
    mn_sgemm(0, 1, rows, E, R, 1.0f, xdbl, P, p + s->o_dtw, R, 1.0f, dl, E);
    size_t n = (size_t)rows * E;
    #pragma omp parallel for schedule(static) if (n > POINTWISE_PARALLEL)
    for (size_t i = 0; i < n; i++) dl[i] = softplus(dl[i]);
}

static mn_scan_io scan_io(const mamba *s, const float *p, const float *u, const float *dl,
                          const float *xdbl, int T, int B) {
    return (mn_scan_io){T, B, s->E, s->N, u, dl, xdbl + s->R, xdbl + s->R + s->N, s->P,
                        p + s->o_alog, p + s->o_D};
}

/* g = ys ∘ SiLU(z), out = g·W_outᵀ */
static void gate_out(const mamba *s, const float *p, const float *xz, const float *ys, float *g,
                     float *out, int rows) {
    int E = s->E;
    #pragma omp parallel for schedule(static) if ((size_t)rows * E > POINTWISE_PARALLEL)
    for (int r = 0; r < rows; r++)
        for (int e = 0; e < E; e++)
            g[(size_t)r * E + e] = ys[(size_t)r * E + e] * silu(xz[((size_t)r * 2 + 1) * E + e]);
    mn_sgemm(0, 1, rows, s->D, E, 1.0f, g, E, p + s->o_out, E, 0.0f, out, s->D);
}

/* ------------------------------------------------------------ the layer */

static void mamba_init(mn_layer *l, mn_rng *rng, const mn_init_config *cfg) {
    (void)cfg;
    mamba *s = (mamba *)l;
    float *p = l->params;
    size_t D = (size_t)s->D, E = (size_t)s->E, N = (size_t)s->N, R = (size_t)s->R, P = (size_t)s->P;
    /* nn.Linear and nn.Conv1d: U(±1/√fan_in); the conv's fan_in is (E/groups)·K = K */
    mn_init_uniform(p + s->o_in, 2 * E * D, 1.0f / sqrtf((float)D), rng);
    mn_init_uniform(p + s->o_cw, E * K, 1.0f / sqrtf((float)K), rng);
    mn_init_uniform(p + s->o_cb, E, 1.0f / sqrtf((float)K), rng);
    mn_init_uniform(p + s->o_x, P * E, 1.0f / sqrtf((float)E), rng);
    mn_init_uniform(p + s->o_dtw, E * R, (float)(1.0 / sqrt((double)R)), rng);
    double lo = log(MN_MAMBA_DT_MIN), hi = log(MN_MAMBA_DT_MAX);
    for (size_t e = 0; e < E; e++) {
        double dt = fmax(exp(lo + mn_rng_uniform(rng) * (hi - lo)), MN_MAMBA_DT_FLOOR);
        p[s->o_dtb + e] = (float)(dt + log(-expm1(-dt)));      /* softplus⁻¹(dt) */
    }
    for (size_t e = 0; e < E; e++)
        for (size_t n = 0; n < N; n++) p[s->o_alog + e * N + n] = (float)log((double)(n + 1));
    for (size_t e = 0; e < E; e++) p[s->o_D + e] = 1.0f;
    mn_init_uniform(p + s->o_out, D * E, 1.0f / sqrtf((float)E), rng);
}

static mn_status mamba_forward(mn_layer *l, const float *x, float *y, int T, int B,
                               const int32_t *lengths) {
    (void)lengths;
    mamba *s = (mamba *)l;
    size_t rows;
    mn_status st;
    if ((st = mn_layer_rows(l, T, B, &rows))) return st;
    s->x = x;
    s->T = T;
    s->B = B;
    if (rows == 0) return MN_OK;
    if ((st = reserve(s, T, B, 0))) return st;
    const float *p = l->params;
    int M = (int)rows, D = s->D, E = s->E;
    mn_sgemm(0, 1, M, 2 * E, D, 1.0f, x, D, p + s->o_in, D, 0.0f, s->xz, 2 * E);
    conv_forward(s, p, s->xz, s->c, s->u, T, B);
    project_x(s, p, s->u, s->xdbl, s->dl, M);
    mn_scan_io io = scan_io(s, p, s->u, s->dl, s->xdbl, T, B);
    mn_scan_forward(&io, s->ys, s->hs, s->scr, s->threads);
    gate_out(s, p, s->xz, s->ys, s->g, y, M);
    return MN_OK;
}

/* The conv's backward: dW[e, j] += Σ dc[r]·xz[r − sh_j·B], db += Σ dc (by blocks of
 * channels, each summed in row order), and d(xz[:, :E])[r] = Σ_j W[:, j] ∘ dc[r + sh_j·B]. */
static void conv_backward(const mamba *s, const float *p, float *gr, const float *xz,
                          const float *dc, float *dxz, int T, int B) {
    enum { CB = 64 };
    int E = s->E;
    long rows = (long)T * B;
    const float *w = p + s->o_cw;
    #pragma omp parallel for schedule(static) if (rows * E > POINTWISE_PARALLEL)
    for (int e0 = 0; e0 < E; e0 += CB) {
        int ec = MN_MIN(CB, E - e0);
        float dw[CB * K] = {0}, db[CB] = {0};
        for (long r = 0; r < rows; r++) {
            long t = r / B;
            const float *d = dc + r * E + e0;
            for (int e = 0; e < ec; e++) db[e] += d[e];
            for (int j = 0; j < K; j++) {
                long sh = K - 1 - j;
                if (t < sh) continue;
                const float *src = xz + (r - sh * B) * 2 * E + e0;
                for (int e = 0; e < ec; e++) dw[j * CB + e] += d[e] * src[e];
            }
        }
        for (int e = 0; e < ec; e++) {
            gr[s->o_cb + e0 + e] += db[e];
            for (int j = 0; j < K; j++) gr[s->o_cw + (size_t)(e0 + e) * K + j] += dw[j * CB + e];
        }
    }
    #pragma omp parallel for schedule(static) if (rows * E > POINTWISE_PARALLEL)
    for (long r = 0; r < rows; r++) {
        long t = r / B;
        float *o = dxz + r * 2 * E;
        memset(o, 0, (size_t)E * sizeof(float));
        for (int j = 0; j < K; j++) {
            long sh = K - 1 - j;
            if (t + sh >= T) continue;
            const float *d = dc + (r + sh * B) * E;
            for (int e = 0; e < E; e++) o[e] += w[e * K + j] * d[e];
        }
    }
}

static mn_status mamba_backward(mn_layer *l, const float *dy, float *dx, int T, int B,
                                const int32_t *lengths) {
    (void)lengths;
    mamba *s = (mamba *)l;
    size_t rows;
    mn_status st;
    if ((st = mn_layer_rows(l, T, B, &rows))) return st;
    if (!s->x || T != s->T || B != s->B)
        return mn_fail(MN_E_STATE, "Mamba backward over %d steps of %d after a forward over %d "
                       "of %d: call forward with the same T and B first", T, B, s->T, s->B);
    if (rows == 0) return MN_OK;
    if ((st = reserve(s, T, B, 1))) return st;
    const float *p = l->params;
    float *gr = l->grads;
    int M = (int)rows, D = s->D, E = s->E, P = s->P, R = s->R;
    size_t n = rows * (size_t)E;
    float *dg = s->gws, *dxz = dg + n, *ddl = dxz + 2 * n, *du = ddl + n, *dxdbl = du + n;
    float *shared = dxdbl + rows * P;
    float *scratch = shared + mn_scan_backward_shared((size_t)B, (size_t)E, (size_t)s->N);
    mn_sgemm(1, 0, D, E, M, 1.0f, dy, D, s->g, E, 1.0f, gr + s->o_out, E);   /* dW_out */
    mn_sgemm(0, 0, M, E, D, 1.0f, dy, D, p + s->o_out, E, 0.0f, dg, E);      /* dg */
    const float *xz = s->xz, *ys = s->ys;
    #pragma omp parallel for schedule(static) if (n > POINTWISE_PARALLEL)
    for (size_t r = 0; r < rows; r++)
        for (int e = 0; e < E; e++) {
            size_t i = r * E + e;
            float z = xz[(2 * r + 1) * E + e], d = dg[i];
            dxz[(2 * r + 1) * E + e] = d * ys[i] * silu_grad(z);                /* dz */
            dg[i] = d * silu(z);                                                /* dys */
        }
    mn_scan_io io = scan_io(s, p, s->u, s->dl, s->xdbl, T, B);
    mn_scan_backward(&io, s->hs, dg, du, ddl, dxdbl + R, gr + s->o_alog, gr + s->o_D, shared,
                     scratch, s->threads);
    const float *dl = s->dl;
    #pragma omp parallel for schedule(static) if (n > POINTWISE_PARALLEL)
    for (size_t i = 0; i < n; i++) ddl[i] *= mn_mamba_softplus_grad(dl[i]);
    mn_sgemm(1, 0, E, R, M, 1.0f, ddl, E, s->xdbl, P, 1.0f, gr + s->o_dtw, R);  /* dW_dt */
    mn_column_sums(ddl, rows, E, gr + s->o_dtb);
    mn_sgemm(0, 0, M, R, E, 1.0f, ddl, E, p + s->o_dtw, R, 0.0f, dxdbl, P);    /* dΔ_low */
    mn_sgemm(1, 0, P, E, M, 1.0f, dxdbl, P, s->u, E, 1.0f, gr + s->o_x, E);    /* dW_x */
    mn_sgemm(0, 0, M, E, P, 1.0f, dxdbl, P, p + s->o_x, E, 1.0f, du, E);       /* du */
    const float *c = s->c;
    #pragma omp parallel for schedule(static) if (n > POINTWISE_PARALLEL)
    for (size_t i = 0; i < n; i++) du[i] *= silu_grad(c[i]);
    conv_backward(s, p, gr, xz, du, dxz, T, B);
    mn_sgemm(1, 0, 2 * E, D, M, 1.0f, dxz, 2 * E, s->x, D, 1.0f, gr + s->o_in, D);  /* dW_in */
    if (dx) mn_sgemm(0, 0, M, D, 2 * E, 1.0f, dxz, 2 * E, p + s->o_in, D, 1.0f, dx, D);
    return MN_OK;
}

/* ------------------------------------------------------------ generation */

void mn_mamba_stream_reset(mn_layer *l) {
    mamba *s = (mamba *)l;
    if (s->st) memset(s->st, 0, s->st_bytes);
}

mn_status mn_mamba_step(mn_layer *l, const float *x_t, float *y_t, int B) {
    mamba *s = (mamba *)l;
    int D = s->D, E = s->E, N = s->N, P = s->P;
    size_t bytes;
    if (B < 1) return mn_fail(MN_E_ARG, "Mamba step over a batch of %d: need at least 1", B);
    size_t per = (size_t)(K - 1) * E + 7 * (size_t)E + (size_t)P;
    size_t hn = mn_scan_state_floats(1, (size_t)B, (size_t)E, (size_t)N);
    if (B != s->st_B || !s->st) {
        if (!hn || !mn_mul_size((size_t)B, per, &bytes) ||
            !mn_mul_size(bytes + hn + mn_scan_forward_scratch((size_t)N), sizeof(float), &bytes) ||
            mn_reserve(&s->st, &s->st_bytes, bytes) != MN_OK)
            return mn_fail(MN_E_NOMEM, "Mamba stream: a state of [%d, %d, %d] does not fit in "
                           "memory", B, E, N);
        s->st_B = B;
        mn_mamba_stream_reset(l);
    }
    const float *p = l->params, *w = p + s->o_cw;
    float *win = s->st, *h = win + (size_t)B * (K - 1) * E, *xz = h + hn;
    float *c = xz + (size_t)B * 2 * E, *u = c + (size_t)B * E, *xdbl = u + (size_t)B * E;
    float *dl = xdbl + (size_t)B * P, *ys = dl + (size_t)B * E, *g = ys + (size_t)B * E;
    float *scratch = g + (size_t)B * E;
    mn_sgemm(0, 1, B, 2 * E, D, 1.0f, x_t, D, p + s->o_in, D, 0.0f, xz, 2 * E);
    /* the conv as forward sums it, taps in order, the window holding steps t−3 .. t−1 */
    for (int b = 0; b < B; b++) {
        float *wb = win + (size_t)b * (K - 1) * E, *o = c + (size_t)b * E;
        const float *now = xz + (size_t)b * 2 * E;
        memcpy(o, p + s->o_cb, (size_t)E * sizeof(float));
        for (int j = 0; j < K; j++) {
            const float *src = j < K - 1 ? wb + (size_t)j * E : now;
            for (int e = 0; e < E; e++) o[e] += w[e * K + j] * src[e];
        }
        memmove(wb, wb + E, (size_t)(K - 2) * E * sizeof(float));
        memcpy(wb + (size_t)(K - 2) * E, now, (size_t)E * sizeof(float));
        for (int e = 0; e < E; e++) u[(size_t)b * E + e] = silu(o[e]);
    }
    project_x(s, p, u, xdbl, dl, B);
    mn_scan_io io = scan_io(s, p, u, dl, xdbl, 1, B);
    mn_scan_step(&io, h, ys, scratch);
    gate_out(s, p, xz, ys, g, y_t, B);
    return MN_OK;
}

/* ------------------------------------------------------------ the layer's table */

static size_t mamba_bytes(const mn_layer *l) {
    const mamba *s = (const mamba *)l;
    return s->ws_bytes + s->gws_bytes + s->st_bytes;
}

static void mamba_destroy(mn_layer *l) {
    mamba *s = (mamba *)l;
    mn_release(s->ws);
    mn_release(s->gws);
    mn_release(s->st);
    mn_release(s);
}

/* t = 0 starts a stream: a zero conv window and scan state */
static mn_status mamba_step_op(mn_layer *l, const float *x_t, float *y_t, int B, int t) {
    if (t == 0) mn_mamba_stream_reset(l);
    return mn_mamba_step(l, x_t, y_t, B);
}

static const mn_layer_ops mamba_ops = {
    .kind = "mamba",
    .init = mamba_init,
    .forward = mamba_forward,
    .backward = mamba_backward,
    .activation_bytes = mamba_bytes,
    .destroy = mamba_destroy,
    .step = mamba_step_op,
};

static mn_status mamba_check(int D, int N, mn_ssm_init init) {
    if (D < 1 || D > 32768 || N < 1 || N > 4096)
        return mn_fail(MN_E_ARG, "Mamba over %d features with state %d: features must be from 1 "
                       "to 32768, the state from 1 to 4096", D, N);
    if (init != MN_SSM_INIT_DEFAULT && init != MN_SSM_INIT_REAL)
        return mn_fail(MN_E_ARG, "Mamba's A is real (S4D-Real init); init=lin and init=inv are "
                       "S4D's complex modes: drop init or use init=real");
    return MN_OK;
}

mn_layer *mn_mamba_create(int D, int N, mn_ssm_init init) {
    if (mamba_check(D, N, init)) return NULL;
    mamba *s = mn_alloc_zero(sizeof *s);
    if (!s) return NULL;
    s->base.ops = &mamba_ops;
    s->base.in_size = s->base.out_size = D;
    s->D = D;
    s->E = MN_MAMBA_EXPAND * D;
    s->N = N;
    s->R = (D + 15) / 16;
    s->P = s->R + 2 * N;
    int E = s->E;
    /* the Mamba module's state-dict order */
    s->o_in = mn_layer_add_param(&s->base, "in_proj.weight", 2, (int[]){2 * E, D});
    s->o_cw = mn_layer_add_param(&s->base, "conv1d.weight", 3, (int[]){E, 1, K});
    s->o_cb = mn_layer_add_param(&s->base, "conv1d.bias", 1, (int[]){E});
    s->o_x = mn_layer_add_param(&s->base, "x_proj.weight", 2, (int[]){s->P, E});
    s->o_dtw = mn_layer_add_param(&s->base, "dt_proj.weight", 2, (int[]){E, s->R});
    s->o_dtb = mn_layer_add_param(&s->base, "dt_proj.bias", 1, (int[]){E});
    /* no weight decay on A_log and D, as mamba_simple.py (_no_weight_decay) */
    s->o_alog = mn_layer_add_param_in(&s->base, MN_GROUP_NO_DECAY, "A_log", 2, (int[]){E, N});
    s->o_D = mn_layer_add_param_in(&s->base, MN_GROUP_NO_DECAY, "D", 1, (int[]){E});
    s->o_out = mn_layer_add_param(&s->base, "out_proj.weight", 2, (int[]){D, E});
    return &s->base;
}

const float *mn_mamba_last_delta(mn_layer *l, int *T, int *B, int *E) {
    mn_layer *in = l ? mn_block_inner(l) : NULL;
    if (!in || in->ops != &mamba_ops) return NULL;
    const mamba *s = (const mamba *)in;
    if (!s->dl || s->T < 1) return NULL;
    *T = s->T;
    *B = s->B;
    *E = s->E;
    return s->dl;
}

/* ------------------------------------------------------------ registered kind
 * mamba:state=N:init=real; the width is the input's. */

static int state_of(const mn_block_config *b) {
    return b->state > 0 ? b->state : MN_MAMBA_DEFAULT_STATE;
}
static int mamba_out_width(const mn_block_config *b, int in) { (void)b; return in; }
static mn_status mamba_block_check(const mn_block_config *b, int in) {
    return mamba_check(in, state_of(b), b->ssm_init);
}
static mn_layer *mamba_block(const mn_block_config *b, int in, int index) {
    (void)index;
    return mn_mamba_create(in, state_of(b), b->ssm_init);
}
/* the four projections, the conv's 4 taps, and per state the scan's a·h, Δu·B and C·h */
static double mamba_macs(const mn_block_config *b, int in) {
    double D = in, E = MN_MAMBA_EXPAND * D, N = state_of(b), R = (in + 15) / 16;
    return 2 * E * D + K * E + E * (R + 2 * N) + R * E + E * (3 * N + 1) + E * D;
}
/* In the order mamba_forward and mamba_backward allocate and multiply. */
static void mamba_plan(const mn_block_config *b, int in, size_t T, size_t B, mn_memory_plan *p) {
    size_t fwd, bwd, rows = T * B, D = (size_t)in, E = MN_MAMBA_EXPAND * D, N = (size_t)state_of(b);
    size_t R = (D + 15) / 16, P = R + 2 * N;
    if (T == 0 || B == 0) return;
    if (B > INT_MAX || !layout(D, N, T, B, (size_t)mn_scan_threads((int)B, (int)E), &fwd, &bwd)) {
        p->overflow = 1;
        return;
    }
    mn_plan_alloc(p, 0, fwd * sizeof(float));
    mn_plan_gemm(p, 0, 0, rows, 2 * E, D);      /* in_proj */
    mn_plan_gemm(p, 0, 0, rows, P, E);          /* x_proj */
    mn_plan_gemm(p, 0, 0, rows, E, R);          /* dt_proj */
    mn_plan_gemm(p, 0, 0, rows, D, E);          /* out_proj */
    mn_plan_alloc(p, 1, bwd * sizeof(float));
    mn_plan_gemm(p, 1, 0, D, E, rows);          /* dW_out */
    mn_plan_gemm(p, 1, 0, rows, E, D);          /* dg */
    mn_plan_gemm(p, 1, 0, E, R, rows);          /* dW_dt */
    mn_plan_gemm(p, 1, 0, rows, R, E);          /* dΔ_low */
    mn_plan_gemm(p, 1, 0, P, E, rows);          /* dW_x */
    mn_plan_gemm(p, 1, 0, rows, E, P);          /* du */
    mn_plan_gemm(p, 1, 0, 2 * E, D, rows);      /* dW_in */
    mn_plan_gemm(p, 1, 1, rows, D, 2 * E);      /* dx */
}

/* MN_KIND_WHOLE_SEQUENCE: a truncated pass would need the conv window and the scan state
 * carried between chunks, which the training pass does not keep (generation does:
 * mn_mamba_step). */
/* Δ depends on the input: the decays of the last forward (mn_ssm_stats_measure runs it on
 * b), each channel's at its median Δ over b's real positions (at most 4096 of them,
 * evenly spaced, per channel); Δ's range over all of them. */
#define STATS_POSITIONS 4096
static mn_status mamba_ssm_stats(mn_model *m, int block, mn_layer *l, const mn_block_config *cfg,
                                 const mn_batch *b, mn_ssm_stats *out, double *per_channel) {
    (void)m; (void)cfg;
    mamba *s = (mamba *)mn_block_inner(l);
    if (!b)
        return mn_fail(MN_E_ARG, "block %d (mamba): its decays depend on the input (Δ is "
                       "computed from it); measure them on a batch", block);
    if (s->T != b->T || s->B != b->B || !s->dl)
        return mn_fail(MN_E_STATE, "block %d (mamba): no forward over this batch to measure",
                       block);
    const int T = s->T, B = s->B, E = s->E, N = s->N;
    int64_t real = 0;
    for (int i = 0; i < B; i++) real += b->lengths ? b->lengths[i] : T;
    int64_t step = real > STATS_POSITIONS ? (real + STATS_POSITIONS - 1) / STATS_POSITIONS : 1;
    size_t kept = (size_t)((real + step - 1) / step);
    double *dts = mn_alloc(((size_t)E * kept + (size_t)E * N) * sizeof(double));
    if (!dts) return MN_E_NOMEM;
    double *ln_z = dts + (size_t)E * kept, all_min = INFINITY, all_max = -INFINITY;
    int64_t k = 0;
    size_t n = 0;
    for (int i = 0; i < B; i++)     /* the real positions in sequence order, every step-th */
        for (int t = 0; t < (b->lengths ? b->lengths[i] : T); t++, k++) {
            const float *d = s->dl + ((size_t)t * B + i) * E;
            for (int e = 0; e < E; e++) {
                all_min = fmin(all_min, d[e]);
                all_max = fmax(all_max, d[e]);
            }
            if (k % step || n >= kept) continue;
            for (int e = 0; e < E; e++) dts[(size_t)e * kept + n] = d[e];
            n++;
        }
    const float *A_log = l->params + s->o_alog;
    for (int e = 0; e < E; e++) {
        double dt = mn_median(dts + (size_t)e * kept, n);
        for (int j = 0; j < N; j++)   /* ln|z| = Δ·A, A = −exp(A_log) */
            ln_z[(size_t)e * N + j] = -dt * exp((double)A_log[(size_t)e * N + j]);
    }
    out->input_dependent = 1;
    out->positions = real;
    out->dt_min = all_min;
    out->dt_max = all_max;
    out->dt_median = mn_median(dts, (size_t)E * n);
    mn_status st = mn_ssm_summarize(ln_z, E, N, out, per_channel);
    mn_release(dts);
    return st;
}

const mn_layer_kind mn_kind_mamba = {
    .name = "mamba",
    .summary = "Mamba-1 selective state-space block (Gu & Dao 2023), width kept: in_proj to 4x, "
               "causal depthwise conv 4, SiLU, input-dependent scan, SiLU gate, out_proj; "
               "state=N (16)",
    .cell = -1, .caps = MN_KIND_STATE | MN_KIND_WHOLE_SEQUENCE, .out_width = mamba_out_width,
    .create = mamba_block, .plan = mamba_plan, .macs_per_row = mamba_macs,
    .check = mamba_block_check, .ssm_stats = mamba_ssm_stats,
};
