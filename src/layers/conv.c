/* Causal dilated convolution over x[T,B,I] (row t·B + b), tap j shifted by s_j = (k−1−j)·d
 * steps, i.e. s_j·B rows:
 *   forward:  y[r] = Σ_j x[r − s_j·B] · W_jᵀ  (+ b)
 *   backward: db += Σ dy;  dW_j += dy[s_j:]ᵀ · x[:T−s_j];  dx[r] (+)= Σ_j dy[r + s_j·B] · W_j
 * Forward and dx are each one product over all taps (mn_sgemm_shifted: row r's K·I
 * columns gathered from the shifted rows straight into the GEMM's packed panels, zeros
 * past either end: the zero padding before step 0), so y and dx are written once instead
 * of once per tap, and no im2col copy is made. W_j = W[:, :, j] is strided in PyTorch's
 * [O, I, k] layout, so the taps are repacked: forward's wk [k·I, O] (row j·I + i), dx's wt
 * [k·O, I] (row j·O + o), and backward's dW_j into gwt [k, O, I]. No step loop. Padded
 * steps of short sequences are computed like any other and never read by a real step (the
 * convolution is causal). */
#include "conv.h"
#include "gemm.h"
#include "init.h"

#include <math.h>
#include <string.h>

/* Bytes of the repacked taps (wk or wt, and backward's gwt) and, with shifts, the K row
 * shifts of the shifted products after them. 0 on overflow. */
static int layout(size_t K, size_t O, size_t I, int shifts, size_t *bytes) {
    size_t n;
    if (!mn_mul_size(K, O, &n) || !mn_mul_size(n, I, &n) || !mn_mul_size(n, sizeof(float), bytes))
        return 0;
    if (!shifts) return 1;
    *bytes = (*bytes + sizeof(long) - 1) / sizeof(long) * sizeof(long);
    if (*bytes > SIZE_MAX - K * sizeof(long)) return 0;
    *bytes += K * sizeof(long);
    return 1;
}

/* the shifts after the taps in ws (see layout) */
static long *shifts_of(const mn_conv_core *c) {
    size_t taps = (size_t)c->K * c->out * c->in * sizeof(float);
    return (long *)((char *)c->ws + (taps + sizeof(long) - 1) / sizeof(long) * sizeof(long));
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

enum { TAPS_FORWARD, TAPS_DX, TAPS_ROOM };

/* The taps of W [O, I, K] into *buf: TAPS_FORWARD wk[(j·I + i)·O + o], TAPS_DX
 * wt[(j·O + o)·I + i], TAPS_ROOM only the room (backward's gwt, [k, O, I]). */
static mn_status repack(const mn_conv_core *c, const float *W, void **buf, size_t *cap,
                        int how) {
    size_t I = (size_t)c->in, O = (size_t)c->out, K = (size_t)c->K, bytes;
    if (!layout(K, O, I, how != TAPS_ROOM, &bytes) || mn_reserve(buf, cap, bytes) != MN_OK)
        return mn_fail(MN_E_NOMEM, "convolution taps [%zu, %zu, %zu]: out of memory", K, O, I);
    float *w = *buf;
    if (how == TAPS_FORWARD)
        for (size_t o = 0; o < O; o++)
            for (size_t i = 0; i < I; i++)
                for (size_t j = 0; j < K; j++) w[(j * I + i) * O + o] = W[(o * I + i) * K + j];
    else if (how == TAPS_DX)
        for (size_t o = 0; o < O; o++)
            for (size_t i = 0; i < I; i++)
                for (size_t j = 0; j < K; j++) w[(j * O + o) * I + i] = W[(o * I + i) * K + j];
    return MN_OK;
}

/* op(A) of the all-taps product: row r's segment j is row r + sign·s_j·B of `rows` rows */
static mn_shifted_a shifted(const mn_conv_core *c, int width, size_t rows, int B, int sign) {
    long *sh = shifts_of(c);
    for (int j = 0; j < c->K; j++) sh[j] = sign * (long)shift_of(c, j) * B;
    return (mn_shifted_a){.segs = c->K, .width = width, .rows = (int)rows, .shift = sh};
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
    if ((st = repack(c, p, &c->ws, &c->ws_bytes, TAPS_FORWARD))) return st;
    const float *bias = p + OI * K, *wk = c->ws;
    mn_shifted_a sa = shifted(c, I, rows, B, -1);
    mn_sgemm_shifted((int)rows, O, 1.0f, x, I, &sa, 0, wk, O, 0.0f, y, O);
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
    if ((st = repack(c, p, &c->ws, &c->ws_bytes, TAPS_DX)) ||
        (st = repack(c, p, &c->gws, &c->gws_bytes, TAPS_ROOM)))
        return st;
    const float *wt = c->ws;
    float *gwt = c->gws;
    mn_column_sums(dy, rows, O, g + OI * K);                         /* db += Σ dy */
    for (int j = 0; j < K; j++) {
        size_t sh = shift_of(c, j);
        if (sh >= (size_t)T) continue;
        int M = (int)(((size_t)T - sh) * (size_t)B);
        float *gj = gwt + (size_t)j * OI;
        mn_sgemm(1, 0, O, I, M, 1.0f, dy + sh * (size_t)B * O, O, c->x, I, 0.0f, gj, I);
        for (size_t oi = 0; oi < OI; oi++) g[oi * K + j] += gj[oi];   /* dW_j = dyᵀ·x */
    }
    if (dx) {
        mn_shifted_a sa = shifted(c, O, rows, B, 1);
        mn_sgemm_shifted((int)rows, I, 1.0f, dy, O, &sa, 0, wt, I, dx_add ? 1.0f : 0.0f, dx, I);
    }
    return MN_OK;
}

/* ------------------------------------------------------------ streaming */

void mn_conv_core_reset(mn_conv_core *c) {
    if (c->ring) memset(c->ring, 0, c->ring_bytes);
    c->pos = 0;
}

mn_status mn_conv_core_step(mn_conv_core *c, const float *p, const float *x_t, float *y_t, int B) {
    int I = c->in, O = c->out, K = c->K;
    size_t R = shift_of(c, 0) + 1, bytes, OI = (size_t)O * I, KI = (size_t)K * I;
    mn_status st;
    if (B < 1) return mn_fail(MN_E_ARG, "convolution step over a batch of %d: need at least 1", B);
    if (B != c->ring_B || !c->ring) {
        /* the ring [R, B, I], then the step's taps gathered [B, k·I] */
        if (!mn_mul_size(R + K, (size_t)B * I, &bytes) ||
            !mn_mul_size(bytes, sizeof(float), &bytes) ||
            mn_reserve(&c->ring, &c->ring_bytes, bytes) != MN_OK)
            return mn_fail(MN_E_NOMEM, "convolution stream: a ring of %zu steps of [%d, %d] "
                           "does not fit in memory", R, B, I);
        c->ring_B = B;
        memset(c->ring, 0, c->ring_bytes);
        c->pos = 0;
    }
    if ((st = repack(c, p, &c->ws, &c->ws_bytes, TAPS_FORWARD))) return st;
    float *ring = c->ring, *gather = ring + R * (size_t)B * I;
    size_t slot_floats = (size_t)B * I;
    memcpy(ring + (size_t)c->pos * slot_floats, x_t, slot_floats * sizeof(float));
    const float *bias = p + OI * K, *wk = c->ws;
    /* forward's product for one step: row b is [x_{t−s_0}[b] | x_{t−s_1}[b] | ...] */
    for (int j = 0; j < K; j++) {
        const float *src = ring + ((size_t)c->pos + R - shift_of(c, j)) % R * slot_floats;
        for (int b = 0; b < B; b++)
            memcpy(gather + (size_t)b * KI + (size_t)j * I, src + (size_t)b * I,
                   (size_t)I * sizeof(float));
    }
    mn_sgemm(0, 0, B, O, (int)KI, 1.0f, gather, (int)KI, wk, O, 0.0f, y_t, O);
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
    size_t K = (size_t)kernel, gbytes;
    if (!layout(K, O, I, 1, &bytes) || !layout(K, O, I, 0, &gbytes) ||
        !mn_mul_size(T, B, &rows)) {
        p->overflow = 1;
        return;
    }
    mn_plan_alloc(p, 0, bytes);
    mn_plan_gemm(p, 0, 0, rows, O, K * I);        /* every tap in one shifted product */
    mn_plan_alloc(p, 1, gbytes);
    mn_plan_gemm(p, 1, 0, O, I, rows);            /* dW_j, tap by tap */
    mn_plan_gemm(p, 1, 1, rows, I, K * O);        /* dx, every tap in one */
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
