/* LayerNorm, RMSNorm, feed-forward, dropout and the block wrapper: finite-difference
 * gradient checks, and the wrapper's identity path, parameter layout and delegation
 * (dropout's statistics, golden fixtures: tests/test_layers_pointwise.c).
 * Gradient checks: loss = Σ y·w for random w, central differences in float32, compared as
 * |analytic − numeric| <= 2e-2·max(|a|, |n|) + 2e-3 (tests/layer_check.c). */
#include "test.h"
#include "block.h"
#include "dropout.h"
#include "feedforward.h"
#include "layer.h"
#include "layer_check.h"
#include "norm.h"

#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------ finite differences */

/* Checks parameter and input gradients of l (consumed; NULL reports the create error),
 * its parameters around their init (a norm's scale near 1). training: set_mode(1, ...)
 * first, so dropout draws one fixed mask for every forward. */
static void check_layer(const char *what, mn_layer *l, int T, int B, const int32_t *lengths,
                        int training, float eps, uint64_t seed) {
    if (!l) {
        mn_test_fail(__FILE__, __LINE__, "%s: create: %s", what, mn_last_error());
        return;
    }
    mn_check_layer_grads(what, l, T, B, lengths,
                         MN_CHECK_NEAR_INIT | (training ? MN_CHECK_TRAINING : 0), seed, eps);
    mn_layer_destroy(l);
}

static const int32_t ragged[3] = {5, 3, 1};

TEST(layers_gradcheck_layernorm) {
    check_layer("layernorm", mn_layernorm_create(5, 1e-5f), 3, 2, NULL, 0, 1e-2f, 1);
    check_layer("layernorm D=70", mn_layernorm_create(70, 1e-5f), 2, 2, NULL, 0, 1e-2f, 2);
}

TEST(layers_gradcheck_rmsnorm) {
    check_layer("rmsnorm", mn_rmsnorm_create(5, 1e-6f), 3, 2, NULL, 0, 1e-2f, 3);
    check_layer("rmsnorm D=70", mn_rmsnorm_create(70, 1e-6f), 2, 2, NULL, 0, 1e-2f, 4);
}

TEST(layers_gradcheck_feedforward) {
    /* ReLU's kink makes wide differences cross it: a narrower step */
    check_layer("feedforward relu", mn_feedforward_create(4, 7, MN_ACT_RELU), 3, 2, NULL, 0,
                1e-3f, 5);
    check_layer("feedforward gelu", mn_feedforward_create(4, 7, MN_ACT_GELU), 3, 2, NULL, 0,
                1e-2f, 6);
}

TEST(layers_gradcheck_dropout) {
    check_layer("dropout training", mn_dropout_create(4, 0.4f), 5, 3, NULL, 1, 1e-2f, 7);
    check_layer("dropout inference", mn_dropout_create(4, 0.4f), 5, 3, NULL, 0, 1e-2f, 8);
}

typedef struct {
    const char *name;
    mn_block_wrap w;
    int padded;
} block_case;

static const block_case block_cases[] = {
    {"residual pre-norm", {1, MN_BLOCK_NORM_PRE, MN_BLOCK_LAYERNORM, 0.0f, 1e-5f}, 0},
    {"residual post-norm", {1, MN_BLOCK_NORM_POST, MN_BLOCK_LAYERNORM, 0.0f, 1e-5f}, 0},
    {"post-norm, no residual", {0, MN_BLOCK_NORM_POST, MN_BLOCK_LAYERNORM, 0.0f, 1e-5f}, 0},
    {"residual pre-rmsnorm", {1, MN_BLOCK_NORM_PRE, MN_BLOCK_RMSNORM, 0.0f, 1e-6f}, 0},
    {"residual post-rmsnorm", {1, MN_BLOCK_NORM_POST, MN_BLOCK_RMSNORM, 0.0f, 1e-6f}, 0},
    {"residual, no norm", {1, MN_BLOCK_NORM_NONE, MN_BLOCK_LAYERNORM, 0.0f, 1e-5f}, 0},
    {"residual pre-norm dropout", {1, MN_BLOCK_NORM_PRE, MN_BLOCK_LAYERNORM, 0.3f, 1e-5f}, 0},
    {"residual post-norm dropout", {1, MN_BLOCK_NORM_POST, MN_BLOCK_LAYERNORM, 0.3f, 1e-5f}, 0},
    {"no residual, no norm, dropout",
     {0, MN_BLOCK_NORM_NONE, MN_BLOCK_LAYERNORM, 0.3f, 1e-5f}, 0},
    {"residual pre-norm padded", {1, MN_BLOCK_NORM_PRE, MN_BLOCK_LAYERNORM, 0.0f, 1e-5f}, 1},
    {"residual post-norm dropout padded",
     {1, MN_BLOCK_NORM_POST, MN_BLOCK_LAYERNORM, 0.3f, 1e-5f}, 1},
};

TEST(layers_gradcheck_block_linear) {
    char what[128];
    for (size_t k = 0; k < sizeof block_cases / sizeof *block_cases; k++) {
        const block_case *c = &block_cases[k];
        snprintf(what, sizeof what, "block(linear) %s", c->name);
        check_layer(what, mn_block_create(mn_linear_create(4, 4), &c->w), 5, 3,
                    c->padded ? ragged : NULL, c->w.dropout > 0, 1e-2f, 100 + k);
    }
    /* post-norm without residual: the norm over the output width, 4 -> 3 */
    mn_block_wrap w = {0, MN_BLOCK_NORM_POST, MN_BLOCK_LAYERNORM, 0.0f, 1e-5f};
    check_layer("block(linear 4->3) post-norm", mn_block_create(mn_linear_create(4, 3), &w),
                2, 3, NULL, 0, 1e-2f, 150);
    w.norm = MN_BLOCK_NORM_PRE;
    check_layer("block(linear 4->3) pre-norm", mn_block_create(mn_linear_create(4, 3), &w),
                2, 3, NULL, 0, 1e-2f, 151);
}

/* A residual row x + LSTM(x) can come out small, where a norm curves sharply: with the
 * usual step 1e-2, "residual post-rmsnorm" is off by the curvature (the numeric value
 * converges to the analytic one as the step shrinks: 3e-2, 1e-2, 3e-3 off; 1e-3 passes). */
TEST(layers_gradcheck_block_lstm) {
    char what[128];
    for (size_t k = 0; k < sizeof block_cases / sizeof *block_cases; k++) {
        const block_case *c = &block_cases[k];
        snprintf(what, sizeof what, "block(lstm) %s", c->name);
        check_layer(what, mn_block_create(mn_recurrent_create(MN_LSTM, 4, 4, "_l0"), &c->w),
                    5, 3, c->padded ? ragged : NULL, c->w.dropout > 0, 1e-3f, 200 + k);
    }
}

TEST(layers_gradcheck_block_feedforward) {
    mn_block_wrap w = {1, MN_BLOCK_NORM_PRE, MN_BLOCK_LAYERNORM, 0.2f, 1e-5f};
    check_layer("block(feedforward gelu) pre-norm dropout",
                mn_block_create(mn_feedforward_create(4, 6, MN_ACT_GELU), &w), 3, 2, NULL, 1,
                1e-2f, 300);
}

/* ----------------------------------------------------------- block wrapper */

TEST(layers_block_identity_path) {
    enum { T = 4, B = 3, D = 5 };
    mn_block_wrap w = {1, MN_BLOCK_NORM_PRE, MN_BLOCK_LAYERNORM, 0.0f, 1e-5f};
    mn_layer *inners[2] = {mn_linear_create(D, D), mn_recurrent_create(MN_LSTM, D, D, "_l0")};
    for (int k = 0; k < 2; k++) {
        mn_layer *l = mn_block_create(inners[k], &w);
        REQUIRE(l, "create: %s", mn_last_error());
        float *p = mn_check_alloc_params(l);
        mn_rng r;
        mn_rng_seed(&r, 5);
        mn_init_config ic = {MN_INIT_UNIFORM, 1.0f, 1.0f, 0};
        l->ops->init(l, &r, &ic);
        /* the inner layer's weights are the first param_count - 2D floats */
        size_t inner = l->param_count - 2 * D;
        CHECK(p[inner] == 1.0f && p[inner + D] == 0.0f, "norm not initialized to 1, 0");
        memset(p, 0, inner * sizeof(float));
        float x[T * B * D], y[T * B * D];
        for (int i = 0; i < T * B * D; i++) x[i] = mn_rng_uniform_range(&r, -3, 3);
        mn_layer_reset(l);
        CHECK_OK(l->ops->forward(l, x, y, T, B, NULL));
        CHECK(!memcmp(x, y, sizeof x), "%s: residual block with a zero inner layer is not "
              "the identity", k ? "lstm" : "linear");
        mn_check_free_layer(l);
    }
}

TEST(layers_block_param_layout_and_errors) {
    mn_block_wrap w = {1, MN_BLOCK_NORM_POST, MN_BLOCK_LAYERNORM, 0.1f, 1e-5f};
    mn_layer *lstm = mn_recurrent_create(MN_LSTM, 3, 3, "_l0");
    REQUIRE(lstm, "create: %s", mn_last_error());
    size_t inner_count = lstm->param_count;
    mn_param_spec inner_specs[MN_MAX_SPECS];
    int inner_n = lstm->nspecs;
    memcpy(inner_specs, lstm->specs, sizeof inner_specs);
    mn_layer *l = mn_block_create(lstm, &w);
    REQUIRE(l, "create: %s", mn_last_error());
    CHECK(l->nspecs == inner_n + 2, "%d specs, expected %d", l->nspecs, inner_n + 2);
    for (int i = 0; i < inner_n && i < l->nspecs; i++)
        CHECK(!strcmp(l->specs[i].name, inner_specs[i].name) &&
              l->specs[i].offset == inner_specs[i].offset, "spec %d: %s at %zu", i,
              l->specs[i].name, l->specs[i].offset);
    if (l->nspecs == inner_n + 2) {
        CHECK(!strcmp(l->specs[inner_n].name, "norm.weight") &&
              l->specs[inner_n].offset == inner_count, "norm.weight: %s at %zu",
              l->specs[inner_n].name, l->specs[inner_n].offset);
        CHECK(!strcmp(l->specs[inner_n + 1].name, "norm.bias") &&
              l->specs[inner_n + 1].offset == inner_count + 3, "norm.bias: %s at %zu",
              l->specs[inner_n + 1].name, l->specs[inner_n + 1].offset);
    }
    CHECK(l->param_count == inner_count + 6, "param_count %zu", l->param_count);
    CHECK(l->in_size == 3 && l->out_size == 3, "widths %d -> %d", l->in_size, l->out_size);
    CHECK(l->ops->carry_state && l->ops->inspect && l->ops->step_vjp && l->ops->set_mode,
          "block ops missing");
    mn_layer_destroy(l);

    w.norm_kind = MN_BLOCK_RMSNORM;
    l = mn_block_create(mn_linear_create(3, 3), &w);
    REQUIRE(l, "create: %s", mn_last_error());
    CHECK(l->nspecs == 3 && !strcmp(l->specs[2].name, "norm.weight") && l->param_count == 15,
          "rmsnorm block: %d specs, %zu params", l->nspecs, l->param_count);
    mn_layer_destroy(l);

    /* a residual needs out == in; the message names both widths (inner freed: ASan) */
    l = mn_block_create(mn_linear_create(4, 3), &w);
    CHECK(!l, "residual over 4 -> 3 accepted");
    const char *e = mn_last_error();
    CHECK(e && strstr(e, "4") && strstr(e, "3") && strstr(e, "residual"), "message: %s", e);
    mn_layer_destroy(l);
    w.residual = 0;
    w.dropout = 1.0f;
    CHECK(!mn_block_create(mn_linear_create(4, 3), &w), "dropout 1 accepted");
    w.dropout = 0.0f;
    w.norm = (mn_block_norm_place)7;
    CHECK(!mn_block_create(mn_linear_create(4, 3), &w), "norm placement 7 accepted");
    CHECK(!mn_block_create(NULL, &w), "NULL inner accepted");
}

/* A wrapper with nothing to do gives the inner layer's outputs, gradients and probes. */
TEST(layers_block_delegates_to_inner) {
    enum { T = 5, B = 3, H = 4 };
    mn_block_wrap none = {0, MN_BLOCK_NORM_NONE, MN_BLOCK_LAYERNORM, 0.0f, 1e-5f};
    mn_layer *bare = mn_recurrent_create(MN_LSTM, H, H, "_l0");
    mn_layer *wrapped = mn_block_create(mn_recurrent_create(MN_LSTM, H, H, "_l0"), &none);
    REQUIRE(bare && wrapped, "create: %s", mn_last_error());
    mn_check_alloc_params(bare);
    mn_check_alloc_params(wrapped);
    mn_rng r;
    mn_rng_seed(&r, 6);
    mn_init_config ic = {MN_INIT_UNIFORM, 1.0f, 1.0f, 0};
    bare->ops->init(bare, &r, &ic);
    memcpy(wrapped->params, bare->params, bare->param_count * sizeof(float));
    float x[T * B * H], w[T * B * H], y1[T * B * H], y2[T * B * H], dx1[T * B * H] = {0},
          dx2[T * B * H] = {0};
    double pdh1[T] = {0}, pdh2[T] = {0}, pdc1[T] = {0}, pdc2[T] = {0};
    mn_check_randomize(x, T * B * H, &r, 1.0f);
    mn_check_randomize(w, T * B * H, &r, 1.0f);
    bare->probe_dh = pdh1; bare->probe_dc = pdc1;
    wrapped->probe_dh = pdh2; wrapped->probe_dc = pdc2;
    mn_layer *ls[2] = {bare, wrapped};
    float *ys[2] = {y1, y2}, *dxs[2] = {dx1, dx2};
    for (int k = 0; k < 2; k++) {
        mn_layer_reset(ls[k]);
        CHECK_OK(ls[k]->ops->forward(ls[k], x, ys[k], T, B, ragged));
        CHECK_OK(ls[k]->ops->carry_state(ls[k]));
        CHECK_OK(ls[k]->ops->forward(ls[k], x, ys[k], T, B, ragged));
        CHECK_OK(ls[k]->ops->backward(ls[k], w, dxs[k], T, B, ragged));
    }
    CHECK(!memcmp(y1, y2, sizeof y1), "outputs differ");
    CHECK(!memcmp(dx1, dx2, sizeof dx1), "input gradients differ");
    CHECK(!memcmp(bare->grads, wrapped->grads, bare->param_count * sizeof(float)),
          "parameter gradients differ");
    CHECK(!memcmp(pdh1, pdh2, sizeof pdh1) && pdh1[0] > 0, "probe_dh differs or is empty");
    CHECK(!memcmp(pdc1, pdc2, sizeof pdc1) && pdc1[0] > 0, "probe_dc differs or is empty");
    mn_state_view v1[2], v2[2];
    CHECK(mn_layer_state(bare, v1) == 1 && mn_layer_state(wrapped, v2) == 1 &&
          v1[0].hT && v2[0].hT && !memcmp(v1[0].hT, v2[0].hT, B * H * sizeof(float)),
          "state views differ");
    mn_recurrent_view r1, r2;
    CHECK(bare->ops->inspect(bare, &r1) && wrapped->ops->inspect(wrapped, &r2) &&
          r1.T == r2.T && r1.H == r2.H, "inspect differs");
    float u1[2 * H], u2[2 * H];
    for (int i = 0; i < 2 * H; i++) u1[i] = u2[i] = (float)(i + 1) * 0.1f;
    bare->ops->step_vjp(bare, 2, 1, u1, u1 + H);
    wrapped->ops->step_vjp(wrapped, 2, 1, u2, u2 + H);
    CHECK(!memcmp(u1, u2, sizeof u1), "step_vjp differs");
    bare->probe_dh = bare->probe_dc = wrapped->probe_dh = wrapped->probe_dc = NULL;
    mn_check_free_layer(bare);
    mn_check_free_layer(wrapped);

    /* a stateless inner layer: the delegated ops answer as "no state" */
    mn_layer *lin = mn_block_create(mn_linear_create(3, 3), &none);
    REQUIRE(lin, "create: %s", mn_last_error());
    mn_state_view sv[2];
    mn_recurrent_view rv;
    CHECK(mn_layer_state(lin, sv) == 0, "linear block reports a state");
    CHECK(lin->ops->inspect(lin, &rv) == 0, "linear block reports a recurrence");
    CHECK(lin->ops->carry_state(lin) == MN_OK, "carry_state fails without state");
    mn_layer_destroy(lin);
}

/* set_mode reaches the block's dropout: inference equals the same block without dropout. */
TEST(layers_block_set_mode_and_bytes) {
    enum { T = 6, B = 4, D = 8, F = 16 };
    mn_block_wrap wd = {1, MN_BLOCK_NORM_PRE, MN_BLOCK_LAYERNORM, 0.5f, 1e-5f};
    mn_block_wrap w0 = wd;
    w0.dropout = 0.0f;
    mn_layer *a = mn_block_create(mn_feedforward_create(D, F, MN_ACT_RELU), &wd);
    mn_layer *b = mn_block_create(mn_feedforward_create(D, F, MN_ACT_RELU), &w0);
    REQUIRE(a && b, "create: %s", mn_last_error());
    mn_check_alloc_params(a);
    mn_check_alloc_params(b);
    mn_rng r;
    mn_rng_seed(&r, 7);
    mn_init_config ic = {MN_INIT_UNIFORM, 1.0f, 1.0f, 0};
    a->ops->init(a, &r, &ic);
    memcpy(b->params, a->params, a->param_count * sizeof(float));
    float x[T * B * D], ya[T * B * D], yb[T * B * D], dx[T * B * D] = {0};
    mn_check_randomize(x, T * B * D, &r, 1.0f);
    CHECK_OK(a->ops->forward(a, x, ya, T, B, NULL));
    CHECK_OK(b->ops->forward(b, x, yb, T, B, NULL));
    CHECK(!memcmp(ya, yb, sizeof ya), "default (inference) mode applies dropout");
    a->ops->set_mode(a, 1, 11);
    CHECK_OK(a->ops->forward(a, x, ya, T, B, NULL));
    CHECK(memcmp(ya, yb, sizeof ya), "training mode applies no dropout");
    a->ops->set_mode(a, 0, 11);
    CHECK_OK(a->ops->forward(a, x, ya, T, B, NULL));
    CHECK(!memcmp(ya, yb, sizeof ya), "inference after training applies dropout");

    /* activation_bytes covers what forward and backward allocated (the first call of a
     * shape warms the GEMM's own scratch, which is not the layer's) */
    CHECK_OK(b->ops->backward(b, x, dx, T, B, NULL));
    mn_layer *c = mn_block_create(mn_feedforward_create(D, F, MN_ACT_RELU), &wd);
    REQUIRE(c, "create: %s", mn_last_error());
    mn_check_alloc_params(c);
    memcpy(c->params, a->params, a->param_count * sizeof(float));
    c->ops->set_mode(c, 1, 3);
    CHECK(mn_layer_bytes(c) == 0, "bytes before any forward");
    size_t before = mn_memory_in_use();
    CHECK_OK(c->ops->forward(c, x, ya, T, B, NULL));
    CHECK_OK(c->ops->backward(c, x, dx, T, B, NULL));
    size_t used = mn_memory_in_use() - before, bytes = mn_layer_bytes(c);
    /* each allocation carries at most 127 bytes of header and rounding */
    CHECK(bytes > 0 && bytes <= used && used <= bytes + 8 * 127,
          "activation_bytes %zu, allocated %zu", bytes, used);
    CHECK_OK(c->ops->forward(c, x, ya, T - 2, B, NULL));    /* fewer rows: nothing grows */
    CHECK_OK(c->ops->backward(c, x, dx, T - 2, B, NULL));
    CHECK(mn_layer_bytes(c) == bytes && mn_memory_in_use() - before == used,
          "a smaller batch reallocated");
    mn_check_free_layer(a);
    mn_check_free_layer(b);
    mn_check_free_layer(c);
}

