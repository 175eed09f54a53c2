/* Forward and backward of each cell for one step of one sequence (see cell.h).
 * Backward recomputes nothing but tanh(c): everything else comes from the stored gates.
 * NaN and ±Inf go through as through PyTorch's cells: the fast exp, sigmoid and tanh keep
 * NaN and give PyTorch's values at ±Inf (fastmath.h), ReLU keeps NaN. */
/* The selects in fastmath.h and the ReLU are compares; under the default -ftrapping-math
 * GCC turns them into blends only for AVX-512, and the loops stay scalar on AVX2 and older.
 * mnemo never unmasks floating-point traps, so this changes no result (as in mamba.c). */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")
#endif
#include "cell.h"
#include "fastmath.h"

#include <math.h>
#include <stddef.h>

/* The loops below are compiled for AVX-512, AVX2 and baseline x86-64 and chosen at load
 * time; branch-free exp/tanh (fastmath.h) let each loop vectorize. `ivdep` says what the
 * pointers already promise (a row's buffers never overlap): without it GCC wants more
 * run-time alias checks than it allows and leaves a loop with many arrays scalar. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define CELL_LOOP __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define CELL_LOOP
#endif

#define sigmoid mn_fast_sigmoid
#define tanhf mn_fast_tanhf

/* ---------------------------------------------------------------- vanilla RNN
 * h = act(x·W_ihᵀ + b_ih + h_prev·W_hhᵀ + b_hh);   act = tanh or ReLU */

CELL_LOOP static void rnn_tanh_forward(const mn_cell_step *s, int b, int j0, int j1) {
    int H = s->H;
    size_t o = (size_t)b * H;
    float *restrict a = s->act + o, *restrict h = s->h + o;
    const float *restrict rc = s->rec + o, *restrict bi = s->b_ih, *restrict bh = s->b_hh;
    #pragma GCC ivdep
    for (int j = j0; j < j1; j++) {
        a[j] = tanhf(a[j] + bi[j] + rc[j] + bh[j]);
        h[j] = a[j];
    }
}

CELL_LOOP static void rnn_relu_forward(const mn_cell_step *s, int b, int j0, int j1) {
    int H = s->H;
    size_t o = (size_t)b * H;
    float *restrict a = s->act + o, *restrict h = s->h + o;
    const float *restrict rc = s->rec + o, *restrict bi = s->b_ih, *restrict bh = s->b_hh;
    #pragma GCC ivdep
    for (int j = j0; j < j1; j++) {
        float p = a[j] + bi[j] + rc[j] + bh[j];
        a[j] = p <= 0.0f ? 0.0f : p;            /* NaN stays NaN, as torch.relu */
        h[j] = a[j];
    }
}

CELL_LOOP static void rnn_tanh_backward(const mn_cell_step *s, int b) {
    int H = s->H;
    size_t o = (size_t)b * H;
    const float *restrict a = s->act + o;
    float *restrict dg = s->dg + o, *restrict dh = s->dh + o;
    #pragma GCC ivdep
    for (int j = 0; j < H; j++) {
        dg[j] = dh[j] * (1.0f - a[j] * a[j]);
        dh[j] = 0.0f;
    }
}

CELL_LOOP static void rnn_relu_backward(const mn_cell_step *s, int b) {
    int H = s->H;
    size_t o = (size_t)b * H;
    const float *restrict a = s->act + o;
    float *restrict dg = s->dg + o, *restrict dh = s->dh + o;
    #pragma GCC ivdep
    for (int j = 0; j < H; j++) {
        dg[j] = a[j] <= 0.0f ? 0.0f : dh[j];    /* PyTorch's threshold_backward: NaN passes */
        dh[j] = 0.0f;
    }
}

/* ---------------------------------------------------------------------- LSTM
 * i,f,o = σ(·), g = tanh(·);  c = f⊙c_prev + i⊙g;  h = o⊙tanh(c) */

/* Two passes over the row, gate blocks through their own pointers (with ivdep, see above)
 * so each loop vectorizes. Why two: one vector of the fused loop was ~325 instructions
 * whose longest chain (a gate's exp and division, then c, then tanh(c)'s exp and division)
 * is ~150 cycles, so the out-of-order window held about one vector and the loop ran at
 * its latency; the first pass's four gates are independent chains, and the second pass
 * is short enough for several vectors to overlap. */
CELL_LOOP static void lstm_forward_loop(const mn_cell_step *s, int b, int j0, int j1) {
    int H = s->H;
    size_t o4 = (size_t)b * 4 * H, o = (size_t)b * H;
    float *ai = s->act + o4, *af = ai + H, *ag = ai + 2 * H, *ao = ai + 3 * H;
    const float *ri = s->rec + o4, *rf = ri + H, *rg = ri + 2 * H, *ro = ri + 3 * H;
    const float *bi = s->b_ih, *bh = s->b_hh, *cp = s->c_prev + o;
    float *c = s->c + o, *h = s->h + o;
    #pragma GCC ivdep
    for (int j = j0; j < j1; j++) {
        ai[j] = sigmoid(ai[j] + (ri[j] + bi[j] + bh[j]));
        af[j] = sigmoid(af[j] + (rf[j] + bi[H + j] + bh[H + j]));
        ag[j] = tanhf(ag[j] + (rg[j] + bi[2 * H + j] + bh[2 * H + j]));
        ao[j] = sigmoid(ao[j] + (ro[j] + bi[3 * H + j] + bh[3 * H + j]));
    }
    #pragma GCC ivdep
    for (int j = j0; j < j1; j++) {
        c[j] = af[j] * cp[j] + ai[j] * ag[j];
        h[j] = ao[j] * tanhf(c[j]);
    }
}

/* cell_avx2.c's lockstep kernel where the CPU has AVX2 and FMA, this loop elsewhere */
static void lstm_forward(const mn_cell_step *s, int b, int j0, int j1) {
    if (mn_lstm_forward_avx2(s, b, j0, j1)) lstm_forward_loop(s, b, j0, j1);
}

CELL_LOOP static void lstm_backward(const mn_cell_step *s, int b) {
    int H = s->H;
    size_t o4 = (size_t)b * 4 * H, o = (size_t)b * H;
    /* One restrict pointer per gate block: through the struct, or as offsets H·k from one
     * base, GCC cannot prove the accesses independent and leaves the loop scalar. */
    const float *restrict ai = s->act + o4, *restrict af = ai + H, *restrict ag = ai + 2 * H,
                *restrict ao = ai + 3 * H, *restrict c = s->c + o, *restrict cp = s->c_prev + o;
    float *restrict di = s->dg + o4, *restrict df = di + H, *restrict dgg = di + 2 * H,
          *restrict dog = di + 3 * H, *restrict dhp = s->dh + o, *restrict dcp = s->dc + o;
    #pragma GCC ivdep
    for (int j = 0; j < H; j++) {
        float i = ai[j], f = af[j], g = ag[j], og = ao[j];
        float tc = tanhf(c[j]), dh = dhp[j];
        float dc = dcp[j] + dh * og * (1.0f - tc * tc);
        di[j] = dc * g * i * (1.0f - i);
        df[j] = dc * cp[j] * f * (1.0f - f);
        dgg[j] = dc * i * (1.0f - g * g);
        dog[j] = dh * tc * og * (1.0f - og);
        dcp[j] = dc * f;
        dhp[j] = 0.0f;
    }
}

/* ----------------------------------------------------------------------- GRU
 * r = σ(x_r + h_r), z = σ(x_z + h_z), n = tanh(x_n + r⊙(W_hn·h_prev + b_hn)),
 * h = (1-z)⊙n + z⊙h_prev — exactly PyTorch's nn.GRU. */

CELL_LOOP static void gru_forward_loop(const mn_cell_step *s, int b, int j0, int j1) {
    int H = s->H;
    size_t o3 = (size_t)b * 3 * H, o = (size_t)b * H;
    float *ar = s->act + o3, *az = ar + H, *an = ar + 2 * H, *aux = s->aux + o, *h = s->h + o;
    const float *rr = s->rec + o3, *rz = rr + H, *rn = rr + 2 * H;
    const float *bi = s->b_ih, *bh = s->b_hh, *hp = s->h_prev + o;
    /* two passes, as lstm_forward: n's tanh waits on r's sigmoid */
    #pragma GCC ivdep
    for (int j = j0; j < j1; j++) {
        ar[j] = sigmoid(ar[j] + bi[j] + rr[j] + bh[j]);
        az[j] = sigmoid(az[j] + bi[H + j] + rz[j] + bh[H + j]);
        aux[j] = rn[j] + bh[2 * H + j];                 /* W_hn·h_prev + b_hn */
    }
    #pragma GCC ivdep
    for (int j = j0; j < j1; j++) {
        float n = tanhf(an[j] + bi[2 * H + j] + ar[j] * aux[j]), z = az[j];
        an[j] = n;
        h[j] = (1.0f - z) * n + z * hp[j];
    }
}

static void gru_forward(const mn_cell_step *s, int b, int j0, int j1) {
    if (mn_gru_forward_avx2(s, b, j0, j1)) gru_forward_loop(s, b, j0, j1);
}

CELL_LOOP static void gru_backward(const mn_cell_step *s, int b) {
    int H = s->H;
    size_t o3 = (size_t)b * 3 * H, o = (size_t)b * H;
    const float *restrict ar = s->act + o3, *restrict az = ar + H, *restrict an = ar + 2 * H,
                *restrict aux = s->aux + o, *restrict hp = s->h_prev + o;
    float *restrict dr_ = s->dg + o3, *restrict dz_ = dr_ + H, *restrict dn_ = dr_ + 2 * H,
          *restrict hr_ = s->dgh + o3, *restrict hz_ = hr_ + H, *restrict hn_ = hr_ + 2 * H,
          *restrict dhp = s->dh + o;
    #pragma GCC ivdep
    for (int j = 0; j < H; j++) {
        float r = ar[j], z = az[j], n = an[j], hn = aux[j];
        float dh = dhp[j];
        float dn = dh * (1.0f - z) * (1.0f - n * n);       /* ∂L/∂ n's pre-activation */
        float dz = dh * (hp[j] - n) * z * (1.0f - z);
        float dr = dn * hn * r * (1.0f - r);
        dr_[j] = dr; dz_[j] = dz; dn_[j] = dn;
        hr_[j] = dr; hz_[j] = dz; hn_[j] = dn * r;
        dhp[j] = dh * z;
    }
}

/* ------------------------------------------------------ gated residual
 * α = σ(x_α + h_α), f = tanh(x_f + h_f), h = α⊙h_prev + (1-α)⊙f: a learned convex mix of
 * the old state and new content, so α plays LSTM's f / GRU's z (diagnostics read it). */

CELL_LOOP static void gated_forward(const mn_cell_step *s, int b, int j0, int j1) {
    int H = s->H;
    size_t o2 = (size_t)b * 2 * H, o = (size_t)b * H;
    float *aa = s->act + o2, *af = aa + H, *h = s->h + o;
    const float *ra = s->rec + o2, *rf = ra + H;
    const float *bi = s->b_ih, *bh = s->b_hh, *hp = s->h_prev + o;
    #pragma GCC ivdep
    for (int j = j0; j < j1; j++) {
        float a = sigmoid(aa[j] + (ra[j] + bi[j] + bh[j]));
        float f = tanhf(af[j] + (rf[j] + bi[H + j] + bh[H + j]));
        aa[j] = a; af[j] = f;
        h[j] = a * hp[j] + (1.0f - a) * f;
    }
}

CELL_LOOP static void gated_backward(const mn_cell_step *s, int b) {
    int H = s->H;
    size_t o2 = (size_t)b * 2 * H, o = (size_t)b * H;
    const float *restrict aa = s->act + o2, *restrict af = aa + H, *restrict hp = s->h_prev + o;
    float *restrict da = s->dg + o2, *restrict df = da + H, *restrict dhp = s->dh + o;
    #pragma GCC ivdep
    for (int j = 0; j < H; j++) {
        float a = aa[j], f = af[j], dh = dhp[j];
        da[j] = dh * (hp[j] - f) * a * (1.0f - a);
        df[j] = dh * (1.0f - a) * (1.0f - f * f);
        dhp[j] = dh * a;
    }
}

/* ∂L/∂c_t = incoming (from c_{t+1}) + ∂L/∂h_t · o · (1 - tanh²c_t), as in lstm_backward */
static double lstm_dc_norm(const mn_cell_step *s, int b) {
    int H = s->H;
    size_t o4 = (size_t)b * 4 * H, o = (size_t)b * H;
    double sum = 0;
    #pragma GCC ivdep
    for (int j = 0; j < H; j++) {
        float tc = tanhf(s->c[o + j]);
        double dc = s->dc[o + j] + s->dh[o + j] * s->act[o4 + 3 * H + j] * (1.0f - tc * tc);
        sum += dc * dc;
    }
    return sqrt(sum);
}

static const mn_cell_kernel kernels[] = {
    [MN_RNN_TANH] = {"rnn", 1, 0, 0, rnn_tanh_forward, rnn_tanh_backward, -1, 0, 0, 0, NULL},
    [MN_RNN_RELU] = {"rnn-relu", 1, 0, 0, rnn_relu_forward, rnn_relu_backward, -1, -1, 0, 0,
                     NULL},
    [MN_LSTM] = {"lstm", 4, 1, 0, lstm_forward, lstm_backward, 1, 2, 0xBu, 2, lstm_dc_norm},
    [MN_GRU] = {"gru", 3, 0, 1, gru_forward, gru_backward, 1, 2, 0x3u, 2, NULL},
    [MN_GATED_RESIDUAL] = {"gated", 2, 0, 0, gated_forward, gated_backward, 0, 1, 0x1u, 1,
                           NULL},
};

const mn_cell_kernel *mn_cell_kernel_for(mn_cell_kind kind) {
    if ((unsigned)kind >= sizeof kernels / sizeof kernels[0]) return NULL;
    return &kernels[kind];
}
