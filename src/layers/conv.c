/* Causal dilated convolution over x[T,B,I] (row t·B + b), tap j shifted by s_j = (k−1−j)·d
 * steps, i.e. s_j·B rows:
 *   forward:  y[s_j:] (+)= x[:T−s_j] · W_jᵀ (one GEMM per tap, the shift-0 one first);  y += b
 *   backward: db += Σ dy;  dW_j += dy[s_j:]ᵀ · x[:T−s_j];  dx[:T−s_j] += dy[s_j:] · W_j
 * W_j = W[:, :, j] is strided in PyTorch's [O, I, k] layout, so forward and backward
 * repack the taps into wt [k, O, I] (and backward's dW_j into gwt [k, O, I]) to hand the
 * GEMM contiguous matrices. No step loop: a tap whose shift reaches past T adds nothing,
 * which is the zero padding before step 0. Padded steps of short sequences are computed
 * like any other and never read by a real step (the convolution is causal). */
#include "conv.h"
#include "gemm.h"
#include "init.h"

#include <math.h>
#include <string.h>

/* Bytes of the repacked taps: forward's wt and backward's gwt alike. 0 on overflow. */
static int layout(size_t K, size_t O, size_t I, size_t *bytes) {
    size_t n;
    return mn_mul_size(K, O, &n) && mn_mul_size(n, I, &n) && mn_mul_size(n, sizeof(float), bytes);
}

static size_t shift_of(const mn_conv_core *c, int j) {
    return (size_t)(c->K - 1 - j) * (size_t)c->dil;
}

mn_status mn_conv_core_set(mn_conv_core *c, int in, int out, int kernel, int dilation) {
    if (in < 1 || out < 1 || in > 65536 || out > 65536)
        return mn_fail(MN_E_ARG, "convolution channels %d -> %d: both must be from 1 to 65536",
                       in, out);
    if (kernel < 1 || kernel > 4096 || dilation < 1 ||
        (int64_t)(kernel - 1) * dilation > (int64_t)1 << 30)
        return mn_fail(MN_E_ARG, "convolution kernel %d, dilation %d: kernel must be from 1 to "
                       "4096, dilation at least 1, and (kernel-1)*dilation at most %d", kernel,
                       dilation, 1 << 30);
    c->in = in;
    c->out = out;
    c->K = kernel;
    c->dil = dilation;
    return MN_OK;
}

void mn_conv_core_free(mn_conv_core *c) {
    mn_release(c->ws);
    mn_release(c->gws);
    mn_release(c->ring);
    c->ws = c->gws = c->ring = NULL;
    c->ws_bytes = c->gws_bytes = c->ring_bytes = 0;
}

size_t mn_conv_core_params(const mn_conv_core *c) {
    return (size_t)c->out * c->in * c->K + (size_t)c->out;
}

size_t mn_conv_core_bytes(const mn_conv_core *c) {
    return c->ws_bytes + c->gws_bytes + c->ring_bytes;
}

/* wt[j][o][i] = W[o][i][j] into *buf (grads: only the room for backward's gwt) */
static mn_status repack(const mn_conv_core *c, const float *W, void **buf, size_t *cap,
                        int grads) {
    size_t I = (size_t)c->in, O = (size_t)c->out, K = (size_t)c->K, bytes;
    if (!layout(K, O, I, &bytes) || mn_reserve(buf, cap, bytes) != MN_OK)
        return mn_fail(MN_E_NOMEM, "convolution taps [%zu, %zu, %zu]: out of memory", K, O, I);
    if (grads) return MN_OK;
    float *wt = *buf;
    for (size_t o = 0; o < O; o++)
        for (size_t i = 0; i < I; i++)
            for (size_t j = 0; j < K; j++) wt[(j * O + o) * I + i] = W[(o * I + i) * K + j];
    return MN_OK;
}

void mn_conv_core_init(const mn_conv_core *c, float *p, mn_rng *rng) {
    /* nn.Conv1d's reset_parameters: kaiming_uniform(a=√5) gives U(±1/√fan_in) for the
     * weight, and the bias the same bound; fan_in = in·k */
    float bound = 1.0f / sqrtf((float)c->in * (float)c->K);
    size_t nw = (size_t)c->out * c->in * c->K;
    mn_init_uniform(p, nw, bound, rng);
    mn_init_uniform(p + nw, (size_t)c->out, bound, rng);
}

mn_status mn_conv_core_forward(mn_conv_core *c, const float *p, const float *x, float *y, int T,
                               int B, int add_bias) {
    int I = c->in, O = c->out, K = c->K;
    size_t rows = (size_t)T * B, OI = (size_t)O * I;
    mn_status st;
    if ((st = repack(c, p, &c->ws, &c->ws_bytes, 0))) return st;
    const float *bias = p + OI * K, *wt = c->ws;
    /* the last tap (shift 0) covers every row: it writes y, the others add to it */
    mn_sgemm(0, 1, (int)rows, O, I, 1.0f, x, I, wt + (size_t)(K - 1) * OI, I, 0.0f, y, O);
    for (int j = 0; j < K - 1; j++) {
        size_t sh = shift_of(c, j);
        if (sh >= (size_t)T) continue;
        int M = (int)(((size_t)T - sh) * (size_t)B);
        mn_sgemm(0, 1, M, O, I, 1.0f, x, I, wt + (size_t)j * OI, I, 1.0f, y + sh * (size_t)B * O, O);
    }
    if (add_bias)
        for (size_t r = 0; r < rows; r++)
            for (int o = 0; o < O; o++) y[r * O + o] += bias[o];
    c->x = x;
    c->rows = rows;
    return MN_OK;
}

mn_status mn_conv_core_backward(mn_conv_core *c, const float *p, float *g, const float *dy,
                                float *dx, int T, int B, int dx_add) {
    int I = c->in, O = c->out, K = c->K;
    size_t rows = (size_t)T * B, OI = (size_t)O * I;
    mn_status st;
    if (!c->x || rows != c->rows)
        return mn_fail(MN_E_STATE, "convolution backward over %zu rows after a forward over "
                       "%zu: call forward with the same T and B first", rows, c->rows);
    /* the taps again: an owner may have bound other parameters since forward */
    if ((st = repack(c, p, &c->ws, &c->ws_bytes, 0)) ||
        (st = repack(c, p, &c->gws, &c->gws_bytes, 1)))
        return st;
    const float *wt = c->ws;
    float *gwt = c->gws;
    mn_column_sums(dy, rows, O, g + OI * K);                         /* db += Σ dy */
    /* the last tap first, as forward: its dx covers every row (written when !dx_add) */
    for (int n = 0; n < K; n++) {
        int j = n == 0 ? K - 1 : n - 1;
        size_t sh = shift_of(c, j);
        if (sh >= (size_t)T) continue;
        int M = (int)(((size_t)T - sh) * (size_t)B);
        const float *dys = dy + sh * (size_t)B * O;
        float *gj = gwt + (size_t)j * OI;
        mn_sgemm(1, 0, O, I, M, 1.0f, dys, O, c->x, I, 0.0f, gj, I);  /* dW_j = dyᵀ·x */
        for (size_t oi = 0; oi < OI; oi++) g[oi * K + j] += gj[oi];
        if (dx)
            mn_sgemm(0, 0, M, I, O, 1.0f, dys, O, wt + (size_t)j * OI, I,
                     n == 0 && !dx_add ? 0.0f : 1.0f, dx, I);
    }
    return MN_OK;
}

/* ------------------------------------------------------------ streaming */

void mn_conv_core_reset(mn_conv_core *c) {
    if (c->ring) memset(c->ring, 0, c->ring_bytes);
    c->pos = 0;
}

mn_status mn_conv_core_step(mn_conv_core *c, const float *p, const float *x_t, float *y_t, int B) {
    int I = c->in, O = c->out;
    size_t R = shift_of(c, 0) + 1, bytes, OI = (size_t)O * I;
    mn_status st;
    if (B < 1) return mn_fail(MN_E_ARG, "convolution step over a batch of %d: need at least 1", B);
    if (B != c->ring_B || !c->ring) {
        if (!mn_mul_size(R, (size_t)B * I, &bytes) || !mn_mul_size(bytes, sizeof(float), &bytes) ||
            mn_reserve(&c->ring, &c->ring_bytes, bytes) != MN_OK)
            return mn_fail(MN_E_NOMEM, "convolution stream: a ring of %zu steps of [%d, %d] "
                           "does not fit in memory", R, B, I);
        c->ring_B = B;
        memset(c->ring, 0, c->ring_bytes);
        c->pos = 0;
    }
    if ((st = repack(c, p, &c->ws, &c->ws_bytes, 0))) return st;
    float *ring = c->ring;
    size_t slot_floats = (size_t)B * I;
    memcpy(ring + (size_t)c->pos * slot_floats, x_t, slot_floats * sizeof(float));
    const float *bias = p + OI * c->K, *wt = c->ws;
    /* forward's order: the last tap, the others, then the bias */
    for (int n = 0; n < c->K; n++) {
        int j = n == 0 ? c->K - 1 : n - 1;
        size_t slot = ((size_t)c->pos + R - shift_of(c, j)) % R;
        mn_sgemm(0, 1, B, O, I, 1.0f, ring + slot * slot_floats, I, wt + (size_t)j * OI, I,
                 n == 0 ? 0.0f : 1.0f, y_t, O);
    }
    for (int b = 0; b < B; b++)
        for (int o = 0; o < O; o++) y_t[(size_t)b * O + o] += bias[o];
    c->pos = (int)(((size_t)c->pos + 1) % R);
    return MN_OK;
}

/* ------------------------------------------------------------ the conv layer */

typedef struct {
    mn_layer base;
    mn_conv_core c;
} conv;

static void conv_init(mn_layer *l, mn_rng *rng, const mn_init_config *cfg) {
    (void)cfg;
    mn_conv_core_init(&((conv *)l)->c, l->params, rng);
}

static mn_status conv_forward(mn_layer *l, const float *x, float *y, int T, int B,
                              const int32_t *lengths) {
    (void)lengths;
    size_t rows;
    mn_status st = mn_layer_rows(l, T, B, &rows);
    return st ? st : mn_conv_core_forward(&((conv *)l)->c, l->params, x, y, T, B, 1);
}

static mn_status conv_backward(mn_layer *l, const float *dy, float *dx, int T, int B,
                               const int32_t *lengths) {
    (void)lengths;
    size_t rows;
    mn_status st = mn_layer_rows(l, T, B, &rows);
    return st ? st : mn_conv_core_backward(&((conv *)l)->c, l->params, l->grads, dy, dx, T, B, 1);
}

mn_status mn_conv_step(mn_layer *l, const float *x_t, float *y_t, int B) {
    return mn_conv_core_step(&((conv *)l)->c, l->params, x_t, y_t, B);
}

void mn_conv_stream_reset(mn_layer *l) { mn_conv_core_reset(&((conv *)l)->c); }

static size_t conv_bytes(const mn_layer *l) { return mn_conv_core_bytes(&((const conv *)l)->c); }

static void conv_destroy(mn_layer *l) {
    mn_conv_core_free(&((conv *)l)->c);
    mn_release(l);
}

/* t = 0 starts a stream: an empty ring (the zeros before step 0) */
static mn_status conv_step_op(mn_layer *l, const float *x_t, float *y_t, int B, int t) {
    if (t == 0) mn_conv_stream_reset(l);
    return mn_conv_step(l, x_t, y_t, B);
}

static const mn_layer_ops conv_ops = {
    .kind = "conv",
    .init = conv_init,
    .forward = conv_forward,
    .backward = conv_backward,
    .activation_bytes = conv_bytes,
    .destroy = conv_destroy,
    .step = conv_step_op,
};

mn_layer *mn_conv_create(int in, int out, int kernel, int dilation) {
    mn_conv_core c = {0};
    if (mn_conv_core_set(&c, in, out, kernel, dilation)) return NULL;
    conv *s = mn_alloc_zero(sizeof *s);
    if (!s) return NULL;
    s->base.ops = &conv_ops;
    s->base.in_size = in;
    s->base.out_size = out;
    s->c = c;
    mn_layer_add_param(&s->base, "weight", 3, (int[]){out, in, kernel});
    mn_layer_add_param(&s->base, "bias", 1, (int[]){out});
    return &s->base;
}

int mn_conv_kernel_of(const mn_block_config *b) {
    return b->kernel > 0 ? b->kernel : MN_CONV_DEFAULT_KERNEL;
}
int mn_conv_dilation_of(const mn_block_config *b) {
    return b->dilation > 0 ? b->dilation : MN_CONV_DEFAULT_DILATION;
}

/* In the order conv_forward and conv_backward allocate and multiply. The taps' products
 * share their N and K and differ only in M, the unshifted tap's being the largest: the
 * estimate's packing scratch and thread count follow the largest alone, so one product per
 * pass stands for the k (a plan holds MN_PLAN_MAX events; a TCN block plans three convs). */
void mn_conv_plan(int in, int out, int kernel, int dilation, size_t T, size_t B,
                  mn_memory_plan *p) {
    (void)dilation;
    size_t I = (size_t)in, O = (size_t)out, bytes, rows;
    if (!layout((size_t)kernel, O, I, &bytes) || !mn_mul_size(T, B, &rows)) {
        p->overflow = 1;
        return;
    }
    mn_plan_alloc(p, 0, bytes);
    mn_plan_gemm(p, 0, 0, rows, O, I);
    mn_plan_alloc(p, 1, bytes);
    mn_plan_gemm(p, 1, 0, O, I, rows);
    mn_plan_gemm(p, 1, 1, rows, I, O);
}

/* ------------------------------------------------------------ registered kind
 * conv:WIDTH:kernel=K:dilation=D, WIDTH the output channels. */

static int conv_out_width(const mn_block_config *b, int in) { (void)in; return b->width; }
static mn_layer *conv_block(const mn_block_config *b, int in, int index) {
    (void)index;
    return mn_conv_create(in, b->width, mn_conv_kernel_of(b), mn_conv_dilation_of(b));
}
static double conv_macs(const mn_block_config *b, int in) {
    return (double)mn_conv_kernel_of(b) * in * b->width;
}
static void conv_kind_plan(const mn_block_config *b, int in, size_t T, size_t B,
                           mn_memory_plan *p) {
    mn_conv_plan(in, b->width, mn_conv_kernel_of(b), mn_conv_dilation_of(b), T, B, p);
}

/* MN_KIND_WHOLE_SEQUENCE: without a carried window of past inputs, a chunk of a truncated
 * pass would see zeros where the previous chunk's inputs were. */
static int64_t conv_history(const mn_block_config *b) {
    return (int64_t)((b->kernel > 0 ? b->kernel : 2) - 1) * (b->dilation > 0 ? b->dilation : 1);
}

const mn_layer_kind mn_kind_conv = {
    .name = "conv",
    .summary = "causal dilated Conv1d, WIDTH channels, kernel=K taps (2) spaced dilation=D (1)",
    .cell = -1, .caps = MN_KIND_WIDTH | MN_KIND_CONV | MN_KIND_WHOLE_SEQUENCE,
    .out_width = conv_out_width, .create = conv_block, .plan = conv_kind_plan,
    .macs_per_row = conv_macs, .history = conv_history,
};
