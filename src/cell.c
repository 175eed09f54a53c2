/* Forward and backward of each cell for one step of one sequence (see cell.h).
 * Backward recomputes nothing but tanh(c): everything else comes from the stored gates. */
#include "cell.h"
#include "fastmath.h"

#include <stddef.h>

/* The loops below are compiled for AVX-512, AVX2 and baseline x86-64 and chosen at load
 * time; branch-free exp/tanh (fastmath.h) let each loop vectorize. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define CELL_LOOP __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define CELL_LOOP
#endif

#define sigmoid mn_fast_sigmoid
#define tanhf mn_fast_tanhf

/* ---------------------------------------------------------------- vanilla RNN
 * h = act(x·W_ihᵀ + b_ih + h_prev·W_hhᵀ + b_hh);   act = tanh or ReLU */

CELL_LOOP static void rnn_tanh_forward(const mn_cell_step *s, int b) {
    int H = s->H;
    size_t o = (size_t)b * H;
    for (int j = 0; j < H; j++) {
        float h = tanhf(s->gi[o + j] + s->b_ih[j] + s->rec[o + j] + s->b_hh[j]);
        s->act[o + j] = h;
        s->h[o + j] = h;
    }
}

CELL_LOOP static void rnn_relu_forward(const mn_cell_step *s, int b) {
    int H = s->H;
    size_t o = (size_t)b * H;
    for (int j = 0; j < H; j++) {
        float p = s->gi[o + j] + s->b_ih[j] + s->rec[o + j] + s->b_hh[j];
        float h = p > 0.0f ? p : 0.0f;
        s->act[o + j] = h;
        s->h[o + j] = h;
    }
}

CELL_LOOP static void rnn_tanh_backward(const mn_cell_step *s, int b) {
    int H = s->H;
    size_t o = (size_t)b * H;
    for (int j = 0; j < H; j++) {
        float h = s->act[o + j];
        s->dg[o + j] = s->dh[o + j] * (1.0f - h * h);
        s->dh[o + j] = 0.0f;
    }
}

CELL_LOOP static void rnn_relu_backward(const mn_cell_step *s, int b) {
    int H = s->H;
    size_t o = (size_t)b * H;
    for (int j = 0; j < H; j++) {
        s->dg[o + j] = s->act[o + j] > 0.0f ? s->dh[o + j] : 0.0f;
        s->dh[o + j] = 0.0f;
    }
}

/* ---------------------------------------------------------------------- LSTM
 * i,f,o = σ(·), g = tanh(·);  c = f⊙c_prev + i⊙g;  h = o⊙tanh(c) */

CELL_LOOP static void lstm_forward(const mn_cell_step *s, int b) {
    int H = s->H;
    size_t o4 = (size_t)b * 4 * H, o = (size_t)b * H;
    const float *gi = s->gi + o4, *rc = s->rec + o4;
    float *a = s->act + o4;
    for (int j = 0; j < H; j++) {
        float i = sigmoid(gi[j] + rc[j] + s->b_ih[j] + s->b_hh[j]);
        float f = sigmoid(gi[H + j] + rc[H + j] + s->b_ih[H + j] + s->b_hh[H + j]);
        float g = tanhf(gi[2 * H + j] + rc[2 * H + j] + s->b_ih[2 * H + j] + s->b_hh[2 * H + j]);
        float og = sigmoid(gi[3 * H + j] + rc[3 * H + j] + s->b_ih[3 * H + j] + s->b_hh[3 * H + j]);
        float c = f * s->c_prev[o + j] + i * g;
        a[j] = i; a[H + j] = f; a[2 * H + j] = g; a[3 * H + j] = og;
        s->c[o + j] = c;
        s->h[o + j] = og * tanhf(c);
    }
}

CELL_LOOP static void lstm_backward(const mn_cell_step *s, int b) {
    int H = s->H;
    size_t o4 = (size_t)b * 4 * H, o = (size_t)b * H;
    const float *a = s->act + o4;
    float *dg = s->dg + o4;
    for (int j = 0; j < H; j++) {
        float i = a[j], f = a[H + j], g = a[2 * H + j], og = a[3 * H + j];
        float tc = tanhf(s->c[o + j]), dh = s->dh[o + j];
        float dc = s->dc[o + j] + dh * og * (1.0f - tc * tc);
        dg[j] = dc * g * i * (1.0f - i);
        dg[H + j] = dc * s->c_prev[o + j] * f * (1.0f - f);
        dg[2 * H + j] = dc * i * (1.0f - g * g);
        dg[3 * H + j] = dh * tc * og * (1.0f - og);
        s->dc[o + j] = dc * f;
        s->dh[o + j] = 0.0f;
    }
}

/* ----------------------------------------------------------------------- GRU
 * r = σ(x_r + h_r), z = σ(x_z + h_z), n = tanh(x_n + r⊙(W_hn·h_prev + b_hn)),
 * h = (1-z)⊙n + z⊙h_prev — exactly PyTorch's nn.GRU. */

CELL_LOOP static void gru_forward(const mn_cell_step *s, int b) {
    int H = s->H;
    size_t o3 = (size_t)b * 3 * H, o = (size_t)b * H;
    const float *gi = s->gi + o3, *rc = s->rec + o3;
    float *a = s->act + o3;
    for (int j = 0; j < H; j++) {
        float r = sigmoid(gi[j] + s->b_ih[j] + rc[j] + s->b_hh[j]);
        float z = sigmoid(gi[H + j] + s->b_ih[H + j] + rc[H + j] + s->b_hh[H + j]);
        float hn = rc[2 * H + j] + s->b_hh[2 * H + j];
        float n = tanhf(gi[2 * H + j] + s->b_ih[2 * H + j] + r * hn);
        a[j] = r; a[H + j] = z; a[2 * H + j] = n;
        s->aux[o + j] = hn;
        s->h[o + j] = (1.0f - z) * n + z * s->h_prev[o + j];
    }
}

CELL_LOOP static void gru_backward(const mn_cell_step *s, int b) {
    int H = s->H;
    size_t o3 = (size_t)b * 3 * H, o = (size_t)b * H;
    const float *a = s->act + o3;
    float *dg = s->dg + o3, *dgh = s->dgh + o3;
    for (int j = 0; j < H; j++) {
        float r = a[j], z = a[H + j], n = a[2 * H + j], hn = s->aux[o + j];
        float dh = s->dh[o + j];
        float dn = dh * (1.0f - z) * (1.0f - n * n);       /* ∂L/∂ n's pre-activation */
        float dz = dh * (s->h_prev[o + j] - n) * z * (1.0f - z);
        float dr = dn * hn * r * (1.0f - r);
        dg[j] = dr; dg[H + j] = dz; dg[2 * H + j] = dn;
        dgh[j] = dr; dgh[H + j] = dz; dgh[2 * H + j] = dn * r;
        s->dh[o + j] = dh * z;
    }
}

static const mn_cell_kernel kernels[] = {
    [MN_RNN_TANH] = {"rnn", 1, 0, 0, rnn_tanh_forward, rnn_tanh_backward},
    [MN_RNN_RELU] = {"rnn-relu", 1, 0, 0, rnn_relu_forward, rnn_relu_backward},
    [MN_LSTM] = {"lstm", 4, 1, 0, lstm_forward, lstm_backward},
    [MN_GRU] = {"gru", 3, 0, 1, gru_forward, gru_backward},
};

const mn_cell_kernel *mn_cell_kernel_for(mn_cell_kind kind) {
    if ((unsigned)kind >= sizeof kernels / sizeof kernels[0]) return NULL;
    return &kernels[kind];
}
