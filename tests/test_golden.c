/* Recurrent layers against PyTorch: outputs, final states and gradients from the golden
 * fixtures made by tools/gen_fixtures.py (see tests/fixtures/README.md).
 *
 * Each fixture holds a PyTorch nn.RNN / nn.LSTM / nn.GRU state dict (or, for cells PyTorch
 * lacks, the parameters of a float64 reference loop from tools/gen_fixtures_cells.py), an
 * input x with lengths, the outputs y, final states h_n (c_n), loss weights w, and the
 * gradients of loss = sum(y * w). We build the same stack from mnemo layers, load the state dict into
 * each layer by its parameter specs, run forward and backward, and compare. */
#include "test.h"
#include "layer.h"
#include "layer_check.h"
#include "lncell.h"
#include "safetensors.h"

#include <stdlib.h>
#include <string.h>

#define MAX_LAYERS 4

/* Tolerance: relative error <= GOLDEN_RTOL per element, where the denominator is
 *   max(|ref|, 1e-2 * max|ref| over the whole tensor).
 * mnemo computes in float32 and the reference in float64, so a plain relative error is
 * meaningless for elements that are nearly 0 through cancellation; those are judged
 * against 1% of the tensor's scale instead.
 * Why 1e-4 and not 1e-5: with the 1% floor, 1e-5 allows an absolute error of only
 * 1e-7 x scale, under two float32 ulps. PyTorch's own float32 path scores up to 7.3e-6 on
 * these fixtures by this measure and mnemo up to 1.7e-5 (summation order, libm). A wrong
 * formula, gate order or index shows up as errors of order 1e-2 to 1, far above 1e-4.
 * Returns 1 when all elements pass, otherwise reports the worst element. */
#define GOLDEN_RTOL 1e-4

static int compare(const char *fixture, const char *what, const float *got,
                   const mn_st_tensor *ref_t, size_t n) {
    return mn_check_against(fixture, what, got, ref_t, n, GOLDEN_RTOL);   /* layer_check.h */
}

static int meta_int(const mn_st_file *f, const char *key) {
    const char *v = mn_st_meta(f, key);
    return v ? atoi(v) : -1;
}

static void run_golden(const char *fixture) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s.safetensors", mn_test_fixture_dir(), fixture);
    mn_st_file *f = NULL;
    REQUIRE_OK(mn_st_read(path, &f));
    const char *mode = mn_st_meta(f, "mode");
    int L = meta_int(f, "layers"), H = meta_int(f, "hidden"), I = meta_int(f, "input"),
        D = meta_int(f, "bidirectional") == 1 ? 2 : 1, T = meta_int(f, "T"),
        B = meta_int(f, "B");
    /* PyTorch's proj_size and bias=False (tools/gen_fixtures_proj.py); absent: neither */
    mn_recurrent_opts opts = {.proj = MN_MAX(0, meta_int(f, "proj")),
                              .no_bias = meta_int(f, "bias") == 0};
    int P = opts.proj > 0 ? opts.proj : H;   /* width of h, of one direction's output */
    mn_cell_kind cell;
    int ln = 0;   /* a layer-normalized cell (lncell.c) */
    if (!mode) mode = "";
    if (!strncmp(mode, "ln-", 3)) {
        ln = 1;
        mode += 3;
    }
    if (!strcmp(mode, "rnn")) cell = MN_RNN_TANH;
    else if (!strcmp(mode, "rnn-relu")) cell = MN_RNN_RELU;
    else if (!strcmp(mode, "lstm")) cell = MN_LSTM;
    else if (!strcmp(mode, "gru")) cell = MN_GRU;
    else if (!strcmp(mode, "gated")) cell = MN_GATED_RESIDUAL;
    else {
        mn_test_fail(__FILE__, __LINE__, "%s: unknown mode '%s'", fixture, mode);
        goto out_file;
    }
    const mn_st_tensor *x_t = mn_st_find(f, "x"), *len_t = mn_st_find(f, "lengths"),
                       *w_t = mn_st_find(f, "w");
    if (L < 1 || L > MAX_LAYERS || H < 1 || I < 1 || T < 1 || B < 1 || !x_t || !len_t ||
        !w_t || x_t->numel != (size_t)T * B * I || len_t->numel != (size_t)B ||
        len_t->dtype != MN_ST_I32 || w_t->numel != (size_t)T * B * D * P) {
        mn_test_fail(__FILE__, __LINE__, "%s: metadata or tensors inconsistent", fixture);
        goto out_file;
    }

    mn_layer *layers[MAX_LAYERS] = { 0 };
    float *ys[MAX_LAYERS] = { 0 }, *dxs[MAX_LAYERS] = { 0 }, *x = NULL, *dy = NULL;
    int32_t *lengths = NULL;
    int padded = 0, loaded = 0;
    size_t TB = (size_t)T * B;

    x = mn_alloc(x_t->nbytes);
    dy = mn_alloc(w_t->nbytes);
    lengths = mn_alloc(len_t->nbytes);
    if (!x || !dy || !lengths) goto out;
    memcpy(x, x_t->data, x_t->nbytes);
    memcpy(dy, w_t->data, w_t->nbytes);
    memcpy(lengths, len_t->data, len_t->nbytes);
    for (int b = 0; b < B; b++) padded |= lengths[b] != T;

    /* Build the stack: layer k reads I (k = 0) or D*P features. */
    for (int k = 0; k < L; k++) {
        int in = k ? D * P : I;
        char sfx[32], sfx_r[40];
        snprintf(sfx, sizeof sfx, "_l%d", k);
        snprintf(sfx_r, sizeof sfx_r, "_l%d_reverse", k);
        mn_layer *l = ln ? mn_lncell_create(cell, in, H, sfx)
                         : mn_recurrent_create_opts(cell, in, H, &opts, sfx);
        if (D == 2)
            l = mn_bidirectional_create(l, ln ? mn_lncell_create(cell, in, H, sfx_r)
                                              : mn_recurrent_create_opts(cell, in, H, &opts,
                                                                         sfx_r));
        if (!l) { mn_test_fail(__FILE__, __LINE__, "%s: create: %s", fixture,
                               mn_last_error()); goto out; }
        layers[k] = l;
        if (l->in_size != in || l->out_size != D * P) {
            mn_test_fail(__FILE__, __LINE__, "%s: layer %d is %d -> %d, expected %d -> %d",
                         fixture, k, l->in_size, l->out_size, in, D * P);
            goto out;
        }
        l->params = mn_alloc_zero(l->param_count * sizeof(float));
        l->grads = mn_alloc_zero(l->param_count * sizeof(float));
        ys[k] = mn_alloc(TB * (size_t)l->out_size * sizeof(float));
        dxs[k] = mn_alloc(TB * (size_t)in * sizeof(float));
        if (!l->params || !l->grads || !ys[k] || !dxs[k]) goto out;
        int got = mn_check_load_params(fixture, f, l);
        if (got < 0) goto out;
        loaded += got;
    }
    /* Every parameter tensor of the fixture (all but the data and grad.*) must have gone
     * to some layer. */
    static const char *const data[] = {"x", "lengths", "y", "h_n", "c_n", "w"};
    int fixture_params = 0;
    for (int i = 0; i < mn_st_count(f); i++) {
        const char *n = mn_st_at(f, i)->name;
        int param = strncmp(n, "grad.", 5) != 0;
        for (size_t k = 0; k < sizeof data / sizeof data[0]; k++) param &= strcmp(n, data[k]) != 0;
        fixture_params += param;
    }
    CHECK(loaded == fixture_params, "%s: layers take %d parameter tensors, fixture has %d",
          fixture, loaded, fixture_params);

    /* Forward, layer by layer. Outputs start as NaN so that positions a layer fails to
     * write (padding must be written as 0) cannot pass by accident. Unpadded fixtures
     * pass lengths = NULL, which means every sequence is T long. */
    const int32_t *lens = padded ? lengths : NULL;
    for (int k = 0; k < L; k++) {
        mn_layer *l = layers[k];
        for (size_t i = 0; i < TB * (size_t)l->out_size; i++) ys[k][i] = NAN;
        mn_layer_reset(l);
        mn_status s = l->ops->forward(l, k ? ys[k - 1] : x, ys[k], T, B, lens);
        if (s) { mn_test_fail(__FILE__, __LINE__, "%s: forward of layer %d: %s", fixture,
                              k, mn_last_error()); goto out; }
    }
    compare(fixture, "y", ys[L - 1], mn_st_find(f, "y"), TB * (size_t)D * P);

    /* Final states: PyTorch row k*D + d of h_n / c_n is layer k, direction d; h_n rows
     * are P wide, c_n rows H. */
    const mn_st_tensor *hn = mn_st_find(f, "h_n"), *cn = mn_st_find(f, "c_n");
    CHECK(hn && hn->numel == (size_t)L * D * B * P, "%s: h_n shape", fixture);
    CHECK(cell != MN_LSTM || (cn && cn->numel == (size_t)L * D * B * H), "%s: c_n shape",
          fixture);
    for (int k = 0; hn && k < L; k++) {
        mn_state_view v[2];
        memset(v, 0, sizeof v);
        int nd = mn_layer_state(layers[k], v);
        CHECK(nd == D, "%s: layer %d reports %d state directions, expected %d", fixture, k,
              nd, D);
        for (int d = 0; d < nd && d < D; d++) {
            char what[64];
            mn_st_tensor row = *hn;   /* view of one [B,P] row of h_n ([B,H] of c_n) */
            row.numel = (size_t)B * P;
            row.data = (const float *)hn->data + (size_t)(k * D + d) * B * P;
            snprintf(what, sizeof what, "h_n[layer %d, direction %d]", k, d);
            if (v[d].hT && v[d].B == B && v[d].H == P)
                compare(fixture, what, v[d].hT, &row, row.numel);
            else mn_test_fail(__FILE__, __LINE__, "%s: no %s state view", fixture, what);
            if (cell != MN_LSTM || !cn) continue;
            row = *cn;
            row.numel = (size_t)B * H;
            row.data = (const float *)cn->data + (size_t)(k * D + d) * B * H;
            CHECK(v[d].Hc == H, "%s: c state is %d wide, expected %d", fixture, v[d].Hc, H);
            snprintf(what, sizeof what, "c_n[layer %d, direction %d]", k, d);
            if (v[d].cT) compare(fixture, what, v[d].cT, &row, row.numel);
            else mn_test_fail(__FILE__, __LINE__, "%s: no %s state view", fixture, what);
        }
    }

    /* Backward from dy = w, top layer first; backward accumulates, so dx starts at 0. */
    for (int k = L - 1; k >= 0; k--) {
        mn_layer *l = layers[k];
        memset(dxs[k], 0, TB * (size_t)l->in_size * sizeof(float));
        mn_status s = l->ops->backward(l, k == L - 1 ? dy : dxs[k + 1], dxs[k], T, B, lens);
        if (s) { mn_test_fail(__FILE__, __LINE__, "%s: backward of layer %d: %s", fixture,
                              k, mn_last_error()); goto out; }
    }
    compare(fixture, "grad.x", dxs[0], mn_st_find(f, "grad.x"), TB * (size_t)I);
    for (int k = 0; k < L; k++) {
        for (int i = 0; i < layers[k]->nspecs; i++) {
            const mn_param_spec *sp = &layers[k]->specs[i];
            char name[MN_NAME_MAX + 8];
            snprintf(name, sizeof name, "grad.%s", sp->name);
            const mn_st_tensor *g = mn_st_find(f, name);
            if (g) compare(fixture, name, layers[k]->grads + sp->offset, g, sp->size);
            else mn_test_fail(__FILE__, __LINE__, "%s: fixture lacks %s", fixture, name);
        }
    }

out:
    for (int k = 0; k < L; k++) {
        if (layers[k]) {
            float *p = layers[k]->params, *g = layers[k]->grads;
            mn_layer_destroy(layers[k]);
            mn_release(p);
            mn_release(g);
        }
        mn_release(ys[k]);
        mn_release(dxs[k]);
    }
    mn_release(x);
    mn_release(dy);
    mn_release(lengths);
out_file:
    mn_st_free(f);
}

TEST(golden_rnn_l1) { run_golden("rnn_l1"); }
TEST(golden_rnn_l2_bidir_pad) { run_golden("rnn_l2_bidir_pad"); }
TEST(golden_rnn_relu_l1) { run_golden("rnn-relu_l1"); }
TEST(golden_rnn_relu_l2_bidir_pad) { run_golden("rnn-relu_l2_bidir_pad"); }
TEST(golden_lstm_l1) { run_golden("lstm_l1"); }
TEST(golden_lstm_l2_bidir_pad) { run_golden("lstm_l2_bidir_pad"); }
TEST(golden_gru_l1) { run_golden("gru_l1"); }
TEST(golden_gru_l2_bidir_pad) { run_golden("gru_l2_bidir_pad"); }
/* the gated residual cell against a float64 loop (tools/gen_fixtures_cells.py) */
TEST(golden_gated_l1) { run_golden("gated_l1"); }
TEST(golden_gated_l2_bidir_pad) { run_golden("gated_l2_bidir_pad"); }
/* layer-normalized LSTM and GRU (lncell.c) against a float64 loop, likewise */
TEST(golden_ln_lstm_l1) { run_golden("ln-lstm_l1"); }
TEST(golden_ln_lstm_l2_bidir_pad) { run_golden("ln-lstm_l2_bidir_pad"); }
TEST(golden_ln_gru_l1) { run_golden("ln-gru_l1"); }
TEST(golden_ln_gru_l2_bidir_pad) { run_golden("ln-gru_l2_bidir_pad"); }
/* nn.LSTM(proj_size=2) and bias=False modules (tools/gen_fixtures_proj.py) */
TEST(golden_lstm_proj_l1) { run_golden("lstm_proj_l1"); }
TEST(golden_lstm_proj_l2_bidir_pad) { run_golden("lstm_proj_l2_bidir_pad"); }
TEST(golden_lstm_proj_nobias_l2_bidir_pad) { run_golden("lstm_proj_nobias_l2_bidir_pad"); }
TEST(golden_rnn_nobias_l1) { run_golden("rnn_nobias_l1"); }
TEST(golden_rnn_nobias_l2_bidir_pad) { run_golden("rnn_nobias_l2_bidir_pad"); }
TEST(golden_rnn_relu_nobias_l1) { run_golden("rnn-relu_nobias_l1"); }
TEST(golden_rnn_relu_nobias_l2_bidir_pad) { run_golden("rnn-relu_nobias_l2_bidir_pad"); }
TEST(golden_lstm_nobias_l1) { run_golden("lstm_nobias_l1"); }
TEST(golden_lstm_nobias_l2_bidir_pad) { run_golden("lstm_nobias_l2_bidir_pad"); }
TEST(golden_gru_nobias_l1) { run_golden("gru_nobias_l1"); }
TEST(golden_gru_nobias_l2_bidir_pad) { run_golden("gru_nobias_l2_bidir_pad"); }
