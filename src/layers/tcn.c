/* TCN residual block over x[T,B,I], C = width channels, N = T·B rows:
 *   forward:  a1 = D1(ReLU(conv1(x))),  a2 = D2(ReLU(conv2(a1))),  r = downsample(x) or x,
 *             out = ReLU(a2 + r),  y = out
 *   backward: g = dy·[out > 0];  dr = g;  g ·= [a2 > 0]·m2;  da1 = conv2ᵀ(g);
 *             da1 ·= [a1 > 0]·m1;  dx += conv1ᵀ(da1) + (downsampleᵀ(dr) or dr)
 * ReLU's derivative reads its output (PyTorch's threshold_backward: a NaN output passes its
 * gradient). The convolutions are conv.c's cores over slices of this layer's parameters.
 *
 * Dropout (the block's dropout=P; locuslab/TCN's TemporalBlock: dropout1 after relu1,
 * dropout2 after relu2): Dj(v) = v·mj, mj = Bernoulli(1 − P)/(1 − P) per element, in
 * training only, with dropout.c's masks on seeds of their own (so the two differ). The
 * kind says MN_KIND_DROPOUT, so the block wrapper does not drop the output again. A
 * dropped element of a is 0, and [a > 0]·m then reads the same as PyTorch's dropout
 * backward followed by threshold_backward on the ReLU's own output.
 *
 * Weight normalization (the paper's; option weight-norm): conv1's and conv2's weights are
 * w = g·v/‖v‖ per output channel o (torch.nn.utils.weight_norm, dim 0: the norm over in
 * and k). Forward builds w (and a copy of the bias next to it, the layout the convolution
 * core reads) in `eff`; backward lets the core add dW into `geff`, then
 *   dg[o] += (dW[o]·v[o]) / ‖v[o]‖,
 *   dv[o] += (g[o]/‖v[o]‖)·dW[o] − (g[o]·(dW[o]·v[o]) / ‖v[o]‖³)·v[o].
 * The streaming step rebuilds w at every step (it reads the parameters as they are).
 *
 * Init: what the reference code (locuslab/TCN's TemporalBlock) ends up with, not the
 * N(0, 0.01) its init_weights and the paper state for conv1 and conv2: under weight_norm
 * the weight is recomputed from g and v (g = ‖v‖, so weight = v, nn.Conv1d's default
 * U(±1/√(in·k))) before every forward, and the N(0, 0.01) drawn into it is lost; only the
 * downsample, not weight-normalized, keeps N(0, 0.01). (Checked with torch 1.13: the
 * weight's std is 0.01 after init_weights and 0.0586 = 1/√(3·96) after a forward.) With
 * N(0, 0.01) in conv1 and conv2 too, a 3-block stack did not learn the adding problem at
 * T = 20 in 400 steps (test loss / baseline 0.94; 0.036 with this init).
 *
 * With weight-norm, v and the bias get nn.Conv1d's init and g = ‖v‖, so w = v: PyTorch's
 * weight_norm likewise starts from the module's weight.
 *
 * Workspace: forward a1, a2, out [N,C]; backward g, da1 [N,C]; with weight-norm, eff,
 * geff (conv1's and conv2's [w | b]) and the norms [2, C], held from the first forward. */
#include "tcn.h"
#include "conv.h"
#include "dropout.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    mn_layer base;
    mn_conv_core conv[3];            /* conv1, conv2, downsample (when in != width) */
    size_t off[3];                   /* each one's weight (weight_v with weight-norm), its
                                        bias right after */
    size_t off_g[2];                 /* weight-norm: conv1's and conv2's weight_g */
    int nconv, C, wn;
    void *wn_ws;                     /* weight-norm: eff[0], eff[1], geff[0], geff[1], norm */
    size_t wn_bytes;
    float *eff[2], *geff[2], *norm[2];
    void *ws, *gws;
    size_t ws_bytes, gws_bytes, cap_rows, gcap_rows, rows;
    float *a1, *a2, *out, *g, *da1;
    const float *x;
    void *sws;                       /* streaming: h1, h2, r [B,C] */
    size_t sws_bytes;
    float p;                         /* dropout probability, 0: none */
    int training, fwd_training;      /* set_mode's, and the one the last forward ran in,
                                        which backward follows */
    uint64_t seed, fwd_seed;
} tcn;

/* the masks' seeds of dropout1 and dropout2 */
#define DROP1 0x8f1bbcdcca62c1d6ULL
#define DROP2 0x6ed9eba1c3a2b4e5ULL

/* convolution i's weight and bias as the core reads them, and where it adds their
 * gradients: the parameters themselves, or with weight-norm the built w and its gradient */
static const float *P(const tcn *s, int i) {
    return s->wn && i < 2 ? s->eff[i] : s->base.params + s->off[i];
}
static float *G(const tcn *s, int i) {
    return s->wn && i < 2 ? s->geff[i] : s->base.grads + s->off[i];
}

/* ------------------------------------------------------------ weight normalization */

/* Floats of the weight-norm buffers of a block of C channels over `in` inputs with k
 * taps: [w | b] of conv1 and conv2 twice (eff, geff), and the norms [2, C]. The layer's
 * allocation (wn_layout) and the memory plan (tcn_plan) both size them here. */
static size_t wn_floats(size_t C, size_t in, size_t k) {
    return 2 * ((C * in * k + C) + (C * C * k + C)) + 2 * C;
}

/* Sets the weight-norm pointers into `base` and returns its floats. */
static size_t wn_layout(tcn *s, float *base) {
    size_t n0 = mn_conv_core_params(&s->conv[0]), n1 = mn_conv_core_params(&s->conv[1]);
    if (base) {
        s->eff[0] = base;
        s->eff[1] = s->eff[0] + n0;
        s->geff[0] = s->eff[1] + n1;
        s->geff[1] = s->geff[0] + n0;
        s->norm[0] = s->geff[1] + n1;
        s->norm[1] = s->norm[0] + s->C;
    }
    return wn_floats((size_t)s->C, (size_t)s->conv[0].in, (size_t)s->conv[0].K);
}

static mn_status wn_reserve(tcn *s) {
    if (s->wn_ws) return MN_OK;
    if (mn_reserve(&s->wn_ws, &s->wn_bytes, wn_layout(s, NULL) * sizeof(float)) != MN_OK)
        return MN_E_NOMEM;
    wn_layout(s, s->wn_ws);
    return MN_OK;
}

/* w = g·v/‖v‖ per output channel, the bias copied after it, ‖v‖ kept for backward */
static mn_status wn_build(tcn *s) {
    mn_status st = wn_reserve(s);
    for (int i = 0; i < 2 && !st; i++) {
        const mn_conv_core *c = &s->conv[i];
        size_t row = (size_t)c->in * c->K, nw = row * (size_t)s->C;
        const float *v = s->base.params + s->off[i], *g = s->base.params + s->off_g[i];
        for (int o = 0; o < s->C; o++) {
            const float *vo = v + (size_t)o * row;
            double ss = 0;
            for (size_t j = 0; j < row; j++) ss += (double)vo[j] * vo[j];
            float norm = (float)sqrt(ss), scale = g[o] / norm;
            for (size_t j = 0; j < row; j++) s->eff[i][(size_t)o * row + j] = scale * vo[j];
            s->norm[i][o] = norm;
        }
        memcpy(s->eff[i] + nw, v + nw, (size_t)s->C * sizeof(float));
    }
    return st;
}

/* dW, db of the built weights (in geff) into dv, dg and the bias's gradient */
static void wn_grads(tcn *s) {
    for (int i = 0; i < 2; i++) {
        const mn_conv_core *c = &s->conv[i];
        size_t row = (size_t)c->in * c->K, nw = row * (size_t)s->C;
        const float *v = s->base.params + s->off[i], *g = s->base.params + s->off_g[i];
        float *dv = s->base.grads + s->off[i], *dg = s->base.grads + s->off_g[i];
        for (int o = 0; o < s->C; o++) {
            const float *vo = v + (size_t)o * row, *dw = s->geff[i] + (size_t)o * row;
            float *dvo = dv + (size_t)o * row;
            double dot = 0, norm = s->norm[i][o];
            for (size_t j = 0; j < row; j++) dot += (double)dw[j] * vo[j];
            float a = (float)(g[o] / norm), b = (float)(g[o] * dot / (norm * norm * norm));
            dg[o] += (float)(dot / norm);
            for (size_t j = 0; j < row; j++) dvo[j] += a * dw[j] - b * vo[j];
        }
        for (int o = 0; o < s->C; o++) dv[nw + o] += s->geff[i][nw + o];
    }
}

/* Bytes of the forward workspace (a1, a2, out) and of backward's (g, da1). 0 on overflow. */
static int layout(size_t C, size_t rows, size_t *fwd_bytes, size_t *bwd_bytes) {
    size_t n;
    return mn_mul_size(rows, C, &n) && mn_mul_size(n, 3 * sizeof(float), fwd_bytes) &&
           mn_mul_size(n, 2 * sizeof(float), bwd_bytes);
}

static mn_status reserve(tcn *s, size_t rows, int grads) {
    size_t fwd, bwd, C = (size_t)s->C;
    if (grads ? rows <= s->gcap_rows && s->gws : rows <= s->cap_rows && s->ws) return MN_OK;
    if (!layout(C, rows, &fwd, &bwd))
        return mn_fail(MN_E_NOMEM, "TCN block workspace for %zu rows overflows", rows);
    if (grads) {
        if (mn_reserve(&s->gws, &s->gws_bytes, bwd) != MN_OK) return MN_E_NOMEM;
        s->g = s->gws;
        s->da1 = s->g + rows * C;
        s->gcap_rows = rows;
    } else {
        if (mn_reserve(&s->ws, &s->ws_bytes, fwd) != MN_OK) return MN_E_NOMEM;
        s->a1 = s->ws;
        s->a2 = s->a1 + rows * C;
        s->out = s->a2 + rows * C;
        s->cap_rows = rows;
    }
    return MN_OK;
}

static void tcn_init(mn_layer *l, mn_rng *rng, const mn_init_config *cfg) {
    (void)cfg;
    tcn *s = (tcn *)l;
    for (int i = 0; i < s->nconv; i++) {
        float *p = l->params + s->off[i];
        mn_conv_core_init(&s->conv[i], p, rng);      /* nn.Conv1d's U(±1/√fan_in) */
        size_t nw = mn_conv_core_params(&s->conv[i]) - (size_t)s->C;
        if (i == 2)                                   /* the downsample: N(0, 0.01) */
            for (size_t k = 0; k < nw; k++) p[k] = 0.01f * (float)mn_rng_normal(rng);
        if (s->wn && i < 2) {                         /* g = ‖v‖: w = v */
            size_t row = nw / (size_t)s->C;
            for (int o = 0; o < s->C; o++) {
                double ss = 0;
                for (size_t k = 0; k < row; k++) ss += (double)p[o * row + k] * p[o * row + k];
                l->params[s->off_g[i] + (size_t)o] = (float)sqrt(ss);
            }
        }
    }
}

static float relu1(float v) { return (v > 0.0f || v != v) ? v : 0.0f; }

static void relu(float *v, size_t n) {
    for (size_t i = 0; i < n; i++) v[i] = relu1(v[i]);
}

/* v[r, o] = ReLU(v[r, o] + bias[o]): the convolution's bias, added in the ReLU's pass */
static void relu_bias(float *v, const float *bias, size_t rows, int C) {
    for (size_t r = 0; r < rows; r++, v += C)
        for (int o = 0; o < C; o++) v[o] = relu1(v[o] + bias[o]);
}

/* convolution i's bias, after its weight */
static const float *bias_of(const tcn *s, int i) {
    return P(s, i) + mn_conv_core_params(&s->conv[i]) - (size_t)s->C;
}

/* g[i] = 0 where the ReLU's output a[i] is not positive (NaN passes) */
static void relu_grad(float *g, const float *a, size_t n) {
    for (size_t i = 0; i < n; i++) g[i] = a[i] <= 0.0f ? 0.0f : g[i];
}

static mn_status tcn_forward(mn_layer *l, const float *x, float *y, int T, int B,
                             const int32_t *lengths) {
    (void)lengths;
    tcn *s = (tcn *)l;
    size_t rows, n;
    mn_status st;
    if ((st = mn_layer_rows(l, T, B, &rows)) || (st = reserve(s, rows, 0))) return st;
    if (s->wn && (st = wn_build(s))) return st;
    n = rows * (size_t)s->C;
    s->fwd_training = s->training && s->p > 0;
    s->fwd_seed = s->seed;
    if ((st = mn_conv_core_forward(&s->conv[0], P(s, 0), x, s->a1, T, B, 0))) return st;
    relu_bias(s->a1, bias_of(s, 0), rows, s->C);
    if (s->fwd_training) mn_dropout_mask(s->seed ^ DROP1, s->p, s->a1, n);
    if ((st = mn_conv_core_forward(&s->conv[1], P(s, 1), s->a1, s->a2, T, B, 0))) return st;
    relu_bias(s->a2, bias_of(s, 1), rows, s->C);
    if (s->fwd_training) mn_dropout_mask(s->seed ^ DROP2, s->p, s->a2, n);
    const float *r = x;
    if (s->nconv == 3) {
        if ((st = mn_conv_core_forward(&s->conv[2], P(s, 2), x, s->out, T, B, 1))) return st;
        r = s->out;
    }
    /* out is kept for backward (y may be changed by a block wrapper in place) */
    for (size_t i = 0; i < n; i++) y[i] = s->out[i] = relu1(r[i] + s->a2[i]);
    s->x = x;
    s->rows = rows;
    return MN_OK;
}

/* The identity residual's backward in one pass: gi = dy·[out > 0] goes to dx (when there
 * is one) and, times [a2 > 0], to g. */
static void residual_grads(float *restrict g, float *restrict dx, const float *restrict dy,
                           const float *restrict out, const float *restrict a2, size_t n) {
    /* every operand read unconditionally, so that the compiler vectorizes the selects */
    if (dx)
        for (size_t i = 0; i < n; i++) {
            float d = dy[i], o = out[i], a = a2[i];
            float gi = o <= 0.0f ? 0.0f : d;
            dx[i] += gi;
            g[i] = a <= 0.0f ? 0.0f : gi;
        }
    else
        for (size_t i = 0; i < n; i++) {
            float d = dy[i], o = out[i], a = a2[i];
            float gi = o <= 0.0f ? 0.0f : d;
            g[i] = a <= 0.0f ? 0.0f : gi;
        }
}

static mn_status tcn_backward(mn_layer *l, const float *dy, float *dx, int T, int B,
                              const int32_t *lengths) {
    (void)lengths;
    tcn *s = (tcn *)l;
    size_t rows, n;
    mn_status st;
    if ((st = mn_layer_rows(l, T, B, &rows))) return st;
    if (!s->x || rows != s->rows)
        return mn_fail(MN_E_STATE, "TCN block backward over %zu rows after a forward over "
                       "%zu: call forward with the same T and B first", rows, s->rows);
    if ((st = reserve(s, rows, 1))) return st;
    n = rows * (size_t)s->C;
    if (s->wn)
        memset(s->geff[0], 0, (mn_conv_core_params(&s->conv[0]) +
                               mn_conv_core_params(&s->conv[1])) * sizeof(float));
    /* g = dy·[out > 0] is dr, the residual's gradient; then g ·= [a2 > 0] */
    if (s->nconv == 3) {
        for (size_t i = 0; i < n; i++) {
            float d = dy[i];
            s->g[i] = s->out[i] <= 0.0f ? 0.0f : d;
        }
        if ((st = mn_conv_core_backward(&s->conv[2], P(s, 2), G(s, 2), s->g, dx, T, B, 1)))
            return st;
        relu_grad(s->g, s->a2, n);
    } else {
        residual_grads(s->g, dx, dy, s->out, s->a2, n);
    }
    if (s->fwd_training) mn_dropout_mask(s->fwd_seed ^ DROP2, s->p, s->g, n);
    if ((st = mn_conv_core_backward(&s->conv[1], P(s, 1), G(s, 1), s->g, s->da1, T, B, 0)))
        return st;
    relu_grad(s->da1, s->a1, n);
    if (s->fwd_training) mn_dropout_mask(s->fwd_seed ^ DROP1, s->p, s->da1, n);
    if ((st = mn_conv_core_backward(&s->conv[0], P(s, 0), G(s, 0), s->da1, dx, T, B, 1)))
        return st;
    if (s->wn) wn_grads(s);
    return MN_OK;
}

/* ------------------------------------------------------------ streaming */

void mn_tcn_stream_reset(mn_layer *l) {
    tcn *s = (tcn *)l;
    for (int i = 0; i < s->nconv; i++) mn_conv_core_reset(&s->conv[i]);
}

mn_status mn_tcn_step(mn_layer *l, const float *x_t, float *y_t, int B) {
    tcn *s = (tcn *)l;
    size_t n = (size_t)(B > 0 ? B : 0) * (size_t)s->C;
    mn_status st;
    if (B < 1) return mn_fail(MN_E_ARG, "TCN step over a batch of %d: need at least 1", B);
    if (mn_reserve(&s->sws, &s->sws_bytes, 3 * n * sizeof(float)) != MN_OK) return MN_E_NOMEM;
    if (s->wn && (st = wn_build(s))) return st;
    float *h1 = s->sws, *h2 = h1 + n, *r = h2 + n;
    if ((st = mn_conv_core_step(&s->conv[0], P(s, 0), x_t, h1, B))) return st;
    relu(h1, n);
    if ((st = mn_conv_core_step(&s->conv[1], P(s, 1), h1, h2, B))) return st;
    relu(h2, n);
    if (s->nconv == 3) {
        if ((st = mn_conv_core_step(&s->conv[2], P(s, 2), x_t, r, B))) return st;
    } else {
        memcpy(r, x_t, n * sizeof(float));
    }
    for (size_t i = 0; i < n; i++) y_t[i] = h2[i] + r[i];
    relu(y_t, n);
    return MN_OK;
}

/* ------------------------------------------------------------ the layer */

static size_t tcn_bytes(const mn_layer *l) {
    const tcn *s = (const tcn *)l;
    size_t n = s->ws_bytes + s->gws_bytes + s->sws_bytes + s->wn_bytes;
    for (int i = 0; i < s->nconv; i++) n += mn_conv_core_bytes(&s->conv[i]);
    return n;
}

static void tcn_destroy(mn_layer *l) {
    tcn *s = (tcn *)l;
    for (int i = 0; i < s->nconv; i++) mn_conv_core_free(&s->conv[i]);
    mn_release(s->ws);
    mn_release(s->gws);
    mn_release(s->sws);
    mn_release(s->wn_ws);
    mn_release(s);
}

static void tcn_set_mode(mn_layer *l, int training, uint64_t seed) {
    tcn *s = (tcn *)l;
    s->training = training != 0;
    s->seed = seed;
}

/* t = 0 starts a stream: empty rings (the zeros before step 0) */
static mn_status tcn_step_op(mn_layer *l, const float *x_t, float *y_t, int B, int t) {
    if (t == 0) mn_tcn_stream_reset(l);
    return mn_tcn_step(l, x_t, y_t, B);
}

static const mn_layer_ops tcn_ops = {
    .kind = "tcn",
    .init = tcn_init,
    .forward = tcn_forward,
    .backward = tcn_backward,
    .activation_bytes = tcn_bytes,
    .destroy = tcn_destroy,
    .step = tcn_step_op,
    .set_mode = tcn_set_mode,
};

mn_layer *mn_tcn_create(int in, int width, int kernel, int dilation, int weight_norm,
                        float dropout) {
    static const char *const names[3] = {"conv1", "conv2", "downsample"};
    mn_conv_core c[3] = {{0}};
    int nconv = in != width ? 3 : 2;
    if (!(dropout >= 0.0f && dropout < 1.0f)) {
        mn_fail(MN_E_ARG, "TCN block: dropout %g: it must be in [0, 1) (0 turns it off)",
                (double)dropout);
        return NULL;
    }
    if (mn_conv_core_set(&c[0], in, width, kernel, dilation) ||
        mn_conv_core_set(&c[1], width, width, kernel, dilation) ||
        (nconv == 3 && mn_conv_core_set(&c[2], in, width, 1, 1)))
        return NULL;
    tcn *s = mn_alloc_zero(sizeof *s);
    if (!s) return NULL;
    s->base.ops = &tcn_ops;
    s->base.in_size = in;
    s->base.out_size = width;
    s->C = width;
    s->nconv = nconv;
    s->wn = weight_norm != 0;
    s->p = dropout;
    for (int i = 0; i < nconv; i++) {
        char name[MN_NAME_MAX];
        int wn = s->wn && i < 2;
        s->conv[i] = c[i];
        snprintf(name, sizeof name, "%s.%s", names[i], wn ? "weight_v" : "weight");
        s->off[i] = mn_layer_add_param(&s->base, name, 3, (int[]){width, c[i].in, c[i].K});
        snprintf(name, sizeof name, "%s.bias", names[i]);
        mn_layer_add_param(&s->base, name, 1, (int[]){width});
        if (wn) {
            snprintf(name, sizeof name, "%s.weight_g", names[i]);
            s->off_g[i] = mn_layer_add_param(&s->base, name, 3, (int[]){width, 1, 1});
        }
    }
    return &s->base;
}

int64_t mn_tcn_receptive_field(int kernel, int blocks) {
    if (blocks <= 0 || kernel <= 1) return 1;
    if (blocks >= 62) return INT64_MAX;
    int64_t span = ((int64_t)1 << blocks) - 1;   /* Σ dilations 1 + 2 + ... + 2^(L−1) */
    if (span > (INT64_MAX - 1) / (2 * (int64_t)(kernel - 1))) return INT64_MAX;
    return 1 + 2 * (int64_t)(kernel - 1) * span;
}

/* ------------------------------------------------------------ registered kind
 * tcn:WIDTH:kernel=K:dilation=D */

static int tcn_out_width(const mn_block_config *b, int in) { (void)in; return b->width; }
static mn_layer *tcn_block(const mn_block_config *b, int in, int index) {
    (void)index;
    return mn_tcn_create(in, b->width, mn_conv_kernel_of(b), mn_conv_dilation_of(b),
                         b->weight_norm, b->dropout);
}
static double tcn_macs(const mn_block_config *b, int in) {
    double k = mn_conv_kernel_of(b), C = b->width;
    return k * in * C + k * C * C + (in != b->width ? (double)in * C : 0);
}

/* weight-norm's buffers, held from the first forward */
static size_t tcn_wn_bytes(const mn_block_config *b, int in) {
    return b->weight_norm ? wn_floats((size_t)b->width, (size_t)in,
                                      (size_t)mn_conv_kernel_of(b)) * sizeof(float) : 0;
}

/* One direction's events of a convolution's plan; `always_dx`: its input gradient is
 * formed whether or not the block's input needs one (conv2's feeds conv1). */
static void append(mn_memory_plan *p, const mn_memory_plan *q, int backward, int always_dx) {
    if (q->overflow) p->overflow = 1;
    for (int i = 0; i < q->n; i++) {
        if (q->ev[i].backward != backward) continue;
        if (p->n == MN_PLAN_MAX) { p->overflow = 1; return; }
        p->ev[p->n] = q->ev[i];
        if (always_dx) p->ev[p->n].dx = 0;
        p->n++;
    }
}

/* In the order tcn_forward and tcn_backward run: forward conv1, conv2, downsample;
 * backward downsample, conv2, conv1. */
static void tcn_plan(const mn_block_config *b, int in, size_t T, size_t B, mn_memory_plan *p) {
    int C = b->width, k = mn_conv_kernel_of(b), d = mn_conv_dilation_of(b);
    size_t rows, fwd, bwd;
    mn_memory_plan c1 = {0}, c2 = {0}, ds = {0};
    if (!mn_mul_size(T, B, &rows) || !layout((size_t)C, rows, &fwd, &bwd)) {
        p->overflow = 1;
        return;
    }
    if (b->weight_norm) mn_plan_alloc(p, 0, tcn_wn_bytes(b, in));
    mn_conv_plan(in, C, k, d, T, B, &c1);
    mn_conv_plan(C, C, k, d, T, B, &c2);
    if (in != C) mn_conv_plan(in, C, 1, 1, T, B, &ds);
    mn_plan_alloc(p, 0, fwd);
    append(p, &c1, 0, 0);
    append(p, &c2, 0, 0);
    append(p, &ds, 0, 0);
    mn_plan_alloc(p, 1, bwd);
    append(p, &ds, 1, 0);
    append(p, &c2, 1, 1);
    append(p, &c1, 1, 0);
}

/* two convolutions in a row, each reading (k−1)·d steps back */
static int64_t tcn_history(const mn_block_config *b) {
    return 2 * (int64_t)((b->kernel > 0 ? b->kernel : 2) - 1) * (b->dilation > 0 ? b->dilation : 1);
}

const mn_layer_kind mn_kind_tcn = {
    .name = "tcn",
    .summary = "TCN residual block (Bai et al. 2018): two causal convs (kernel=K, dilation=D) "
               "with ReLU and dropout, 1x1 conv on the residual when widths differ",
    .cell = -1,
    .caps = MN_KIND_WIDTH | MN_KIND_CONV | MN_KIND_WHOLE_SEQUENCE | MN_KIND_WEIGHT_NORM |
            MN_KIND_DROPOUT,
    .out_width = tcn_out_width, .create = tcn_block, .plan = tcn_plan, .macs_per_row = tcn_macs,
    .history = tcn_history,
};
