/* Finite-difference checks of every layer's backward and of the whole model.
 * Loss = Σ y·w for random w, so ∂L/∂y = w; central differences in float32 with eps = 1e-2,
 * compared as |analytic − numeric| <= 2e-2·max(|a|, |n|) + 2e-3. */
#include "test.h"
#include "cell.h"
#include "layer.h"
#include "layer_check.h"
#include "lncell.h"
#include "model.h"
#include "registry.h"

#include <stdlib.h>
#include <string.h>

/* ReLU's kink makes wide differences cross it: use a narrower step for rnn-relu. */
static float EPS = 1e-2f;

/* Checks parameter and input gradients; `carry` runs a first chunk and carries its final
 * state into the checked one (the truncated-BPTT boundary: no gradient into that state). */
static void check_layer(const char *what, mn_layer *l, int T, int B, const int32_t *lengths,
                        int carry, uint64_t seed) {
    mn_check_layer_grads(what, l, T, B, lengths, carry ? MN_CHECK_CARRY : 0, seed, EPS);
}

static const int32_t ragged[3] = {5, 3, 1};

TEST(gradcheck_linear) {
    mn_layer *l = mn_linear_create(4, 3);
    check_layer("linear", l, 2, 3, NULL, 0, 1);
    mn_layer_destroy(l);
}

static void check_cell(mn_cell_kind cell) {
    char what[64];
    const char *name = mn_cell_kernel_for(cell)->name;
    for (int padded = 0; padded < 2; padded++) {
        mn_layer *l = mn_recurrent_create(cell, 3, 4, "_l0");
        snprintf(what, sizeof what, "%s%s", name, padded ? " padded" : "");
        check_layer(what, l, 5, 3, padded ? ragged : NULL, 0, 10 + padded);
        mn_layer_destroy(l);
    }
    snprintf(what, sizeof what, "%s carried state", name);
    static const int32_t chunk_lengths[3] = {4, 2, 0};   /* a sequence may end before a chunk */
    mn_layer *l = mn_recurrent_create(cell, 3, 4, "_l0");
    check_layer(what, l, 4, 3, chunk_lengths, 1, 21);
    mn_layer_destroy(l);
    l = mn_stack_layer_create(cell, 3, 4, 0, 1);
    snprintf(what, sizeof what, "bidirectional %s padded", name);
    check_layer(what, l, 5, 3, ragged, 0, 30);
    mn_layer_destroy(l);
}

TEST(gradcheck_rnn_tanh) { check_cell(MN_RNN_TANH); }
TEST(gradcheck_rnn_relu) { EPS = 1e-3f; check_cell(MN_RNN_RELU); EPS = 1e-2f; }
TEST(gradcheck_lstm) { check_cell(MN_LSTM); }
TEST(gradcheck_gru) { check_cell(MN_GRU); }
TEST(gradcheck_gated_residual) { check_cell(MN_GATED_RESIDUAL); }

/* PyTorch's options: an LSTM with a projection (proj_size) and every cell without biases
 * (bias=False), plain, padded, across a truncated-BPTT boundary and bidirectional. */
static void check_cell_opts(mn_cell_kind cell, const mn_recurrent_opts *o, const char *tag) {
    char what[96];
    const char *name = mn_cell_kernel_for(cell)->name;
    for (int padded = 0; padded < 2; padded++) {
        mn_layer *l = mn_recurrent_create_opts(cell, 3, 4, o, "_l0");
        REQUIRE(l, "%s %s: %s", name, tag, mn_last_error());
        snprintf(what, sizeof what, "%s %s%s", name, tag, padded ? " padded" : "");
        check_layer(what, l, 5, 3, padded ? ragged : NULL, 0, 40 + padded);
        mn_layer_destroy(l);
    }
    static const int32_t chunk_lengths[3] = {4, 2, 0};
    mn_layer *l = mn_recurrent_create_opts(cell, 3, 4, o, "_l0");
    snprintf(what, sizeof what, "%s %s carried state", name, tag);
    check_layer(what, l, 4, 3, chunk_lengths, 1, 51);
    mn_layer_destroy(l);
    l = mn_stack_layer_create_opts(cell, 3, 4, 0, 1, o);
    snprintf(what, sizeof what, "bidirectional %s %s padded", name, tag);
    check_layer(what, l, 5, 3, ragged, 0, 60);
    mn_layer_destroy(l);
}

TEST(gradcheck_lstm_proj) {
    for (int proj = 1; proj <= 3; proj += 2) {
        mn_recurrent_opts o = {.proj = proj};
        check_cell_opts(MN_LSTM, &o, proj == 1 ? "proj=1" : "proj=3");
    }
    mn_recurrent_opts o = {.proj = 2, .no_bias = 1};
    check_cell_opts(MN_LSTM, &o, "proj=2 nobias");
}

TEST(gradcheck_nobias) {
    mn_recurrent_opts o = {.no_bias = 1};
    check_cell_opts(MN_RNN_TANH, &o, "nobias");
    EPS = 1e-3f;
    check_cell_opts(MN_RNN_RELU, &o, "nobias");
    EPS = 1e-2f;
    check_cell_opts(MN_LSTM, &o, "nobias");
    check_cell_opts(MN_GRU, &o, "nobias");
    check_cell_opts(MN_GATED_RESIDUAL, &o, "nobias");
}

/* Every registered kind, as a block builds it: plain, with padding, bidirectional where
 * the kind can be, and across a truncated-BPTT boundary where it has state. A narrower
 * step than the per-cell tests keeps ReLU's kink out of the differences. */
TEST(gradcheck_every_registered_kind) {
    float keep_eps = EPS;
    EPS = 1e-3f;
    for (int i = 0; i < mn_layer_kind_count(); i++) {
        const mn_layer_kind *k = mn_layer_kind_at(i);
        for (int variant = 0; variant < 3; variant++) {
            mn_block_config b = {.width = 4};
            snprintf(b.kind, sizeof b.kind, "%s", k->name);
            if (variant == 1 && !(k->caps & MN_KIND_BIDIRECTIONAL)) continue;
            if (variant == 2 && !(k->caps & MN_KIND_RECURRENT)) continue;
            b.bidirectional = variant == 1;
            mn_layer *l = k->create(&b, 3, 0);
            if (!l) { mn_test_fail(__FILE__, __LINE__, "%s: create failed", k->name); continue; }
            CHECK(l->out_size == k->out_width(&b, 3), "%s: out_size %d, out_width %d", k->name,
                  l->out_size, k->out_width(&b, 3));
            char what[64];
            snprintf(what, sizeof what, "registered %s%s", k->name,
                     variant == 1 ? " bidirectional" : variant == 2 ? " carried" : " padded");
            static const int32_t chunk[3] = {4, 2, 0};
            /* the draw follows the kind's name, not its place in the registry, so adding a
             * kind does not move another's inputs onto a ReLU kink */
            uint64_t seed = 1469598103934665603ull;
            for (const char *c = k->name; *c; c++) seed = (seed ^ (uint8_t)*c) * 1099511628211ull;
            check_layer(what, l, variant == 2 ? 4 : 5, 3, variant == 2 ? chunk : ragged,
                        variant == 2, seed + (uint64_t)variant);
            mn_layer_destroy(l);
        }
    }
    EPS = keep_eps;
}

/* Layer-normalized cells (lncell.c): the same cases as check_cell. */
static void check_lncell(mn_cell_kind cell) {
    char what[64];
    const char *name = cell == MN_LSTM ? "ln-lstm" : "ln-gru";
    for (int padded = 0; padded < 2; padded++) {
        mn_layer *l = mn_lncell_create(cell, 3, 4, "_l0");
        snprintf(what, sizeof what, "%s%s", name, padded ? " padded" : "");
        check_layer(what, l, 5, 3, padded ? ragged : NULL, 0, 40 + padded);
        mn_layer_destroy(l);
    }
    snprintf(what, sizeof what, "%s carried state", name);
    static const int32_t chunk_lengths[3] = {4, 2, 0};
    mn_layer *l = mn_lncell_create(cell, 3, 4, "_l0");
    check_layer(what, l, 4, 3, chunk_lengths, 1, 51);
    mn_layer_destroy(l);
    l = mn_bidirectional_create(mn_lncell_create(cell, 3, 4, "_l0"),
                                mn_lncell_create(cell, 3, 4, "_l0_reverse"));
    snprintf(what, sizeof what, "bidirectional %s padded", name);
    if (!l) mn_test_fail(__FILE__, __LINE__, "%s: %s", what, mn_last_error());
    else check_layer(what, l, 5, 3, ragged, 0, 60);
    mn_layer_destroy(l);
}

/* LN(c) over H = 4 units of a short sequence's c, whose spread is small, curves fast: a
 * step of 1e-2 in ln_c's γ and β misses by 2-3%, so take a narrower one (the golden test
 * checks the same gradients against float64 to 1e-4). */
TEST(gradcheck_ln_lstm) { EPS = 2e-3f; check_lncell(MN_LSTM); EPS = 1e-2f; }
TEST(gradcheck_ln_gru) { check_lncell(MN_GRU); }

/* ------------------------------------------------------------ the whole model */

static double model_loss(mn_model *m, const mn_batch *b, double inv) {
    double s;
    mn_model_run(m, b, 0, b->T, 0, 0, inv, &s);
    return s * inv;
}

static void check_model(const char *what, mn_model_config *cfg, mn_batch *b) {
    mn_model *m;
    if (mn_model_create(cfg, 5, &m) != MN_OK) {
        mn_test_fail(__FILE__, __LINE__, "%s: %s", what, mn_last_error());
        return;
    }
    double items;
    if (mn_model_loss_items(m, b, &items) != MN_OK) {
        mn_test_fail(__FILE__, __LINE__, "%s: %s", what, mn_last_error());
        mn_model_free(m);
        return;
    }
    double inv = 1.0 / items;
    memset(m->grads, 0, m->nparams * 4);
    double s;
    mn_model_run(m, b, 0, b->T, 0, 1, inv, &s);
    int bad = 0;
    for (size_t i = 0; i < m->nparams && bad < 5; i++) {
        float keep = m->params[i];
        m->params[i] = keep + EPS; double lp = model_loss(m, b, inv);
        m->params[i] = keep - EPS; double lm = model_loss(m, b, inv);
        m->params[i] = keep;
        double num = (lp - lm) / (2 * EPS);
        if (!mn_check_close(m->grads[i], num)) {
            const char *name = "?";
            for (int t = 0; t < m->ntensors; t++)
                if (i >= m->tensors[t].offset && i < m->tensors[t].offset + m->tensors[t].size)
                    name = m->tensors[t].name;
            mn_test_fail(__FILE__, __LINE__, "%s: d/d%s (flat %zu): analytic %.6g, numeric %.6g",
                         what, name, i, m->grads[i], num);
            bad++;
        }
    }
    mn_model_free(m);
}

TEST(gradcheck_model_mse_last_stacked_padded) {
    enum { T = 5, B = 3, I = 2 };
    float x[T * B * I], target[B];
    int32_t lengths[B] = {5, 2, 4};
    mn_rng r;
    mn_rng_seed(&r, 9);
    mn_check_randomize(x, T * B * I, &r, 1.0f);
    mn_check_randomize(target, B, &r, 1.0f);
    mn_batch b = {T, B, I, x, NULL, lengths, 1, target, NULL, 0, NULL, NULL};
    for (int cell = 0; cell < 4; cell++)
        for (int bi = 0; bi < 2; bi++) {
            mn_model_config c;
            mn_model_config_init(&c);
            c.cell = (mn_cell_kind)cell;
            c.input_size = I;
            c.hidden_size = 3;
            c.num_layers = 2;
            c.bidirectional = bi;
            char what[64];
            snprintf(what, sizeof what, "model %s%s mse-last", mn_cell_name(c.cell), bi ? " bidir" : "");
            check_model(what, &c, &b);
        }
}

TEST(gradcheck_model_mixed_blocks) {
    enum { T = 5, B = 3, I = 2 };
    float x[T * B * I], target[B];
    int32_t lengths[B] = {5, 2, 4};
    mn_rng r;
    mn_rng_seed(&r, 19);
    mn_check_randomize(x, T * B * I, &r, 1.0f);
    mn_check_randomize(target, B, &r, 1.0f);
    mn_batch b = {T, B, I, x, NULL, lengths, 1, target, NULL, 0, NULL, NULL};
    mn_model_config c;
    mn_model_config_init(&c);
    c.input_size = I;
    c.hidden_size = 3;
    REQUIRE_OK(mn_blocks_parse("gru:3,linear:4,lstm:3:bidirectional", &c));
    check_model("model gru,linear,bidirectional lstm", &c, &b);
    /* projected and bias-free blocks in a stack, the last bidirectional (its summary reads
     * the forward half at the last real step and the reverse half at step 0: P wide each) */
    REQUIRE_OK(mn_blocks_parse("gru:3:nobias,lstm:4:proj=2:nobias,lstm:3:proj=2:bidirectional",
                               &c));
    check_model("model nobias gru, projected lstms", &c, &b);
}

TEST(gradcheck_model_ce_every_tokens_padded) {
    enum { T = 6, B = 3, V = 5, C = 4 };
    int32_t tokens[T * B], labels[T * B], lengths[B] = {6, 4, 1};
    mn_rng r;
    mn_rng_seed(&r, 11);
    for (int i = 0; i < T * B; i++) {
        tokens[i] = (int32_t)mn_rng_below(&r, V);
        labels[i] = i % 7 == 3 ? -1 : (int32_t)mn_rng_below(&r, C);  /* some ignored */
    }
    mn_batch b = {T, B, 0, NULL, tokens, lengths, C, NULL, labels, 0, NULL, NULL};
    for (int cell = 0; cell < 4; cell++) {
        mn_model_config c;
        mn_model_config_init(&c);
        c.cell = (mn_cell_kind)cell;
        c.vocab_size = V;
        c.embed_size = 3;
        c.hidden_size = 4;
        c.num_layers = 2;
        c.output = MN_OUTPUT_EVERY;
        c.loss = MN_LOSS_CE;
        c.output_size = C;
        char what[64];
        snprintf(what, sizeof what, "model %s ce-every tokens", mn_cell_name(c.cell));
        check_model(what, &c, &b);
    }
}
