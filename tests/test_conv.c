/* Causal convolutions (src/layers/conv.c, tcn.c): a plain reference, gradient checks over
 * kernels and dilations, streaming against the full pass, the receptive field, NaN reach,
 * the --blocks options and the memory estimate; and the PyTorch fixtures of
 * tools/gen_fixtures_conv.py for the convolutions and S4D (S4D's other tests:
 * tests/test_s4d.c). */
#include "test.h"
#include "conv.h"
#include "tcn.h"
#include "layer_check.h"
#include "model.h"
#include "registry.h"
#include "safetensors.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>


static const int32_t ragged[3] = {5, 3, 1};

static mn_layer *make_wn(const char *kind, int in, int width, int kernel, int dilation,
                         int weight_norm) {
    mn_block_config b = {.width = width, .kernel = kernel, .dilation = dilation,
                         .weight_norm = weight_norm};
    snprintf(b.kind, sizeof b.kind, "%s", kind);
    return mn_layer_kind_find(kind)->create(&b, in, 0);
}

static mn_layer *make(const char *kind, int in, int width, int kernel, int dilation) {
    return make_wn(kind, in, width, kernel, dilation, 0);
}

/* y[t,b,o] = bias[o] + Σ_{i,j} W[o,i,j]·x[t−(k−1−j)·d, b, i], straight from the definition */
static void conv_reference(const float *x, const float *W, const float *bias, double *y, int T,
                           int B, int I, int O, int k, int d) {
    for (int t = 0; t < T; t++)
        for (int b = 0; b < B; b++)
            for (int o = 0; o < O; o++) {
                double s = bias[o];
                for (int j = 0; j < k; j++) {
                    int src = t - (k - 1 - j) * d;
                    if (src < 0) continue;
                    for (int i = 0; i < I; i++)
                        s += (double)W[(o * I + i) * k + j] * x[((size_t)src * B + b) * I + i];
                }
                y[((size_t)t * B + b) * O + o] = s;
            }
}

TEST(conv_forward_matches_definition) {
    static const struct { int k, d, T; } cases[] = {{1, 1, 4}, {2, 1, 7}, {3, 2, 9}, {4, 3, 5},
                                                    {3, 8, 6}};   /* the last: taps past T */
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        int k = cases[c].k, d = cases[c].d, T = cases[c].T, B = 3, I = 5, O = 6;
        mn_layer *l = mn_conv_create(I, O, k, d);
        REQUIRE(l, "create: %s", mn_last_error());
        mn_check_alloc_params(l);
        mn_rng r;
        mn_rng_seed(&r, 100 + c);
        mn_check_randomize(l->params, l->param_count, &r, 1.0f);
        size_t nx = (size_t)T * B * I, ny = (size_t)T * B * O;
        float *x = malloc(nx * 4), *y = malloc(ny * 4);
        double *ref = malloc(ny * 8);
        mn_check_randomize(x, nx, &r, 1.0f);
        CHECK_OK(l->ops->forward(l, x, y, T, B, NULL));
        conv_reference(x, l->params, l->params + (size_t)O * I * k, ref, T, B, I, O, k, d);
        double worst = 0;
        for (size_t i = 0; i < ny; i++) worst = fmax(worst, fabs(y[i] - ref[i]));
        CHECK(worst < 1e-5, "k=%d d=%d T=%d: worst |y - ref| %.3g", k, d, T, worst);
        free(x); free(y); free(ref);
        mn_check_free_layer(l);
    }
}

TEST(conv_gradcheck_kernels_and_dilations) {
    static const struct { int k, d, T; } cases[] = {{1, 1, 5}, {3, 1, 5}, {2, 2, 5}, {3, 2, 7},
                                                    {5, 1, 4}, {2, 6, 5}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
        for (int padded = 0; padded < 2; padded++) {
            mn_layer *l = make("conv", 3, 4, cases[c].k, cases[c].d);
            REQUIRE(l, "create: %s", mn_last_error());
            char what[64];
            snprintf(what, sizeof what, "conv k=%d d=%d%s", cases[c].k, cases[c].d,
                     padded ? " padded" : "");
            mn_check_layer_grads(what, l, cases[c].T, 3, padded && cases[c].T == 5 ? ragged : NULL,
                                 0, 200 + c, 1e-2f);
            mn_layer_destroy(l);
        }
}

/* Feeding the steps one at a time through the ring gives the forward's outputs. */
TEST(conv_streaming_equals_full_pass) {
    static const struct { int k, d; } cases[] = {{1, 1}, {2, 1}, {3, 2}, {4, 5}};
    enum { T = 23, B = 2, I = 3, O = 4 };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        mn_layer *l = mn_conv_create(I, O, cases[c].k, cases[c].d);
        REQUIRE(l, "create: %s", mn_last_error());
        mn_check_alloc_params(l);
        mn_rng r;
        mn_rng_seed(&r, 300 + c);
        mn_check_randomize(l->params, l->param_count, &r, 1.0f);
        float x[T * B * I], y[T * B * O], ys[B * O];
        mn_check_randomize(x, T * B * I, &r, 1.0f);
        CHECK_OK(l->ops->forward(l, x, y, T, B, NULL));
        for (int round = 0; round < 2; round++) {   /* the second after a reset */
            double worst = 0;
            for (int t = 0; t < T; t++) {
                CHECK_OK(mn_conv_step(l, x + t * B * I, ys, B));
                for (int i = 0; i < B * O; i++) worst = fmax(worst, fabs(ys[i] - y[t * B * O + i]));
            }
            CHECK(worst < 1e-5, "k=%d d=%d round %d: streaming differs by %.3g", cases[c].k,
                  cases[c].d, round, worst);
            mn_conv_stream_reset(l);
        }
        mn_check_free_layer(l);
    }
}

/* A NaN input reaches exactly the outputs whose taps read it, as in PyTorch (no 0·NaN from
 * the padding, no NaN leaking into other steps or sequences). */
TEST(conv_nan_reaches_only_the_steps_that_read_it) {
    enum { T = 12, B = 2, I = 2, O = 3, K = 3, D = 2, BAD = 4 };
    mn_layer *l = mn_conv_create(I, O, K, D);
    REQUIRE(l, "create: %s", mn_last_error());
    mn_check_alloc_params(l);
    mn_rng r;
    mn_rng_seed(&r, 5);
    mn_check_randomize(l->params, l->param_count, &r, 1.0f);
    float x[T * B * I], y[T * B * O], dx[T * B * I] = {0}, dy[T * B * O];
    mn_check_randomize(x, T * B * I, &r, 1.0f);
    for (int i = 0; i < T * B * O; i++) dy[i] = 1.0f;
    x[(BAD * B + 1) * I] = NAN;                       /* step 4 of sequence 1 */
    CHECK_OK(l->ops->forward(l, x, y, T, B, NULL));
    for (int t = 0; t < T; t++)
        for (int b = 0; b < B; b++) {
            int reads = b == 1 && (t == BAD || t == BAD + D || t == BAD + 2 * D);
            for (int o = 0; o < O; o++)
                CHECK(isnan(y[(t * B + b) * O + o]) == reads, "t=%d b=%d o=%d: %g", t, b, o,
                      y[(t * B + b) * O + o]);
        }
    CHECK_OK(l->ops->backward(l, dy, dx, T, B, NULL));
    CHECK(isnan(l->grads[0]), "dW does not carry the NaN input");
    CHECK(!isnan(dx[0]), "dx of a finite input became NaN");
    mn_check_free_layer(l);
}

/* ------------------------------------------------------------ --blocks options */

TEST(conv_blocks_options_parse_format_and_refuse) {
    mn_model_config c;
    mn_model_config_init(&c);
    REQUIRE_OK(mn_blocks_parse("conv:8:kernel=3:dilation=4,conv:8", &c));
    CHECK(c.num_blocks == 2 && c.blocks[0].kernel == 3 && c.blocks[0].dilation == 4 &&
          c.blocks[1].kernel == 0 && c.blocks[1].dilation == 0, "parsed %d blocks, k=%d d=%d",
          c.num_blocks, c.blocks[0].kernel, c.blocks[0].dilation);
    char buf[256];
    mn_blocks_format(&c, buf, sizeof buf);
    CHECK(!strcmp(buf, "conv:8:kernel=3:dilation=4,conv:8"), "formatted '%s'", buf);
    static const char *const bad[] = {
        "lstm:8:kernel=3",           /* not a convolution */
        "linear:8:dilation=2",
        "conv:8:kernel=0", "conv:8:kernel=4097", "conv:8:dilation=0", "conv:8:kernel=x",
        "conv:8:kernel=2:kernel=3",  /* twice */
        "conv:8:state=4",            /* an option of state spaces */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        mn_model_config d;
        mn_model_config_init(&d);
        CHECK(mn_blocks_parse(bad[i], &d) == MN_E_ARG, "'%s' accepted", bad[i]);
    }
    mn_model_config_init(&c);
    CHECK(mn_blocks_parse("lstm:8:kernel=3", &c) == MN_E_ARG &&
          strstr(mn_last_error(), "conv") != NULL, "the message names the kinds: %s",
          mn_last_error());
    /* set directly, the model's checks refuse what the grammar would */
    mn_model_config_init(&c);
    c.input_size = 2;
    c.output_size = 1;
    REQUIRE_OK(mn_blocks_parse("lstm:4", &c));
    c.blocks[0].dilation = 2;
    mn_model *m = NULL;
    CHECK(mn_model_create(&c, 1, &m) == MN_E_ARG, "an LSTM with a dilation was built");
    mn_model_free(m);
    REQUIRE_OK(mn_blocks_parse("conv:4", &c));
    c.blocks[0].kernel = 4096;
    c.blocks[0].dilation = 1 << 24;
    m = NULL;
    CHECK(mn_model_create(&c, 1, &m) == MN_E_ARG, "a reach of 2^36 steps was built");
    mn_model_free(m);
}

/* ------------------------------------------------------------ memory estimate */

TEST(conv_memory_estimate_matches_peak) {
    static const struct { const char *spec; int I, T, B, train; } shapes[] = {
        {"conv:32:kernel=3:dilation=2,conv:32:kernel=5:residual:pre", 16, 40, 8, 1},
        {"conv:48:kernel=2:dilation=8", 12, 30, 8, 0},
    };
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        mn_model_config c;
        mn_model_config_init(&c);
        c.input_size = shapes[i].I;
        c.hidden_size = 32;
        c.output = MN_OUTPUT_EVERY;
        c.output_size = 1;
        REQUIRE_OK(mn_blocks_parse(shapes[i].spec, &c));
        mn_bench_config b = {MN_LSTM, shapes[i].T, shapes[i].B, shapes[i].I, 32, 1, 0,
                             shapes[i].train, 0, 1, 7, shapes[i].spec, 0};
        mn_bench_result r;
        size_t peak = 0;
        for (int pass = 0; pass < 2; pass++) peak = mn_bench_run(&b, &r) == MN_OK ? r.peak_bytes : 0;
        REQUIRE(peak > 0, "%s: bench failed: %s", shapes[i].spec, mn_last_error());
        mn_memory_estimate e;
        REQUIRE_OK(mn_memory_estimate_run(&c, shapes[i].T, shapes[i].B, shapes[i].train, &e));
        double err = fabs((double)(e.total - e.scratch) - (double)peak) / (double)peak;
        CHECK(err <= 0.01, "%s: estimate %zu, measured %zu (%.2f%% off)", shapes[i].spec,
              e.total - e.scratch, peak, 100 * err);
    }
}

/* ------------------------------------------------------------ TCN block */

/* The central-difference check of layer_check.h, for layers with ReLUs: where a unit sits
 * within a step of its kink the difference averages two slopes and misses, so a gradient
 * that disagrees is tried again with steps 10 and 30 times narrower, and fails only when
 * none agrees (a wrong gradient disagrees at every step). */
static double relu_loss(mn_layer *l, const float *x, float *y, const float *w, int T, int B) {
    l->ops->forward(l, x, y, T, B, NULL);
    double s = 0;
    for (size_t i = 0; i < (size_t)T * B * l->out_size; i++) s += (double)y[i] * w[i];
    return s;
}

static void check_relu_layer(const char *what, mn_layer *l, int T, int B, uint64_t seed) {
    static const float steps[] = {1e-3f, 1e-4f, 3e-5f};
    size_t nx = (size_t)T * B * l->in_size, ny = (size_t)T * B * l->out_size;
    float *x = malloc(nx * 4), *dx = calloc(nx, 4), *y = malloc(ny * 4), *w = malloc(ny * 4);
    float *p = mn_check_alloc_params(l);
    mn_rng r;
    mn_rng_seed(&r, seed);
    mn_check_randomize(p, l->param_count, &r, 0.6f);
    mn_check_randomize(x, nx, &r, 1.0f);
    mn_check_randomize(w, ny, &r, 1.0f);
    relu_loss(l, x, y, w, T, B);
    CHECK_OK(l->ops->backward(l, w, dx, T, B, NULL));
    int bad = 0;
    for (size_t i = 0; i < l->param_count + nx && bad < 5; i++) {
        float *v = i < l->param_count ? &p[i] : &x[i - l->param_count], keep = *v;
        double analytic = i < l->param_count ? l->grads[i] : dx[i - l->param_count], num = 0;
        int ok = 0;
        for (int k = 0; k < 3 && !ok; k++) {
            *v = keep + steps[k]; double lp = relu_loss(l, x, y, w, T, B);
            *v = keep - steps[k]; double lm = relu_loss(l, x, y, w, T, B);
            *v = keep;
            num = (lp - lm) / (2.0 * steps[k]);
            ok = mn_check_close(analytic, num);
        }
        if (!ok) {
            mn_test_fail(__FILE__, __LINE__, "%s: %s[%zu]: analytic %.6g, numeric %.6g", what,
                         i < l->param_count ? "param" : "x", i < l->param_count ? i :
                         i - l->param_count, analytic, num);
            bad++;
        }
    }
    free(x); free(dx); free(y); free(w);
}

TEST(tcn_gradcheck_with_and_without_downsample) {
    static const struct { int in, width, k, d, T, wn; } cases[] = {
        {3, 4, 2, 1, 5, 0}, {4, 4, 3, 2, 7, 0}, {2, 3, 3, 1, 5, 0}, {3, 3, 2, 4, 6, 0},
        {3, 5, 4, 1, 9, 0}, {3, 4, 2, 1, 5, 1}, {4, 4, 3, 2, 7, 1}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        mn_layer *l = make_wn("tcn", cases[c].in, cases[c].width, cases[c].k, cases[c].d,
                              cases[c].wn);
        REQUIRE(l, "create: %s", mn_last_error());
        /* weight-norm: weight_v, bias, weight_g for conv1 and conv2 */
        CHECK(l->nspecs == (cases[c].in != cases[c].width ? 6 : 4) + 2 * cases[c].wn,
              "%d parameter tensors", l->nspecs);
        char what[64];
        snprintf(what, sizeof what, "tcn %d->%d k=%d d=%d%s", cases[c].in, cases[c].width,
                 cases[c].k, cases[c].d, cases[c].wn ? " weight-norm" : "");
        check_relu_layer(what, l, cases[c].T, 3, 400 + c);
        mn_check_free_layer(l);
    }
}

/* Dropout inside the block, in training: the masks are a function of the seed, so the
 * finite differences see one fixed mask. */
TEST(tcn_gradcheck_with_dropout) {
    static const struct { int in, width, k, d, T, wn; } cases[] = {
        {3, 4, 2, 1, 6, 0}, {4, 4, 3, 2, 7, 0}, {4, 4, 3, 1, 6, 1}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        mn_block_config b = {.width = cases[c].width, .kernel = cases[c].k,
                             .dilation = cases[c].d, .weight_norm = cases[c].wn,
                             .dropout = 0.4f};
        snprintf(b.kind, sizeof b.kind, "tcn");
        mn_layer *l = mn_layer_kind_find("tcn")->create(&b, cases[c].in, 0);
        REQUIRE(l, "create: %s", mn_last_error());
        l->ops->set_mode(l, 1, 77 + c);
        char what[64];
        snprintf(what, sizeof what, "tcn %d->%d k=%d d=%d dropout%s", cases[c].in,
                 cases[c].width, cases[c].k, cases[c].d, cases[c].wn ? " weight-norm" : "");
        check_relu_layer(what, l, cases[c].T, 3, 450 + c);
        mn_check_free_layer(l);
    }
}

/* What the two dropouts do, seen through the output. kernel 1, conv2 the identity and
 * every ReLU open (positive weights and inputs): y − x = a1·m1·m2, where the block without
 * dropout gives a1. So each element of y − x is 0 or (1/(1 − p))²·a1, the zeros are a
 * share 1 − (1 − p)² (not p: the two masks differ), and in inference mode the block is
 * the block without dropout, bit for bit. */
TEST(tcn_dropout_drops_each_relu_output_in_training_only) {
    enum { T = 200, B = 4, C = 8 };
    const float p = 0.3f;
    size_t n = (size_t)T * B * C;
    mn_layer *l = mn_tcn_create(C, C, 1, 1, 0, p), *plain = mn_tcn_create(C, C, 1, 1, 0, 0);
    REQUIRE(l && plain, "create: %s", mn_last_error());
    float *pp = mn_check_alloc_params(l), *pq = mn_check_alloc_params(plain);
    float *x = malloc(n * 4), *y = malloc(n * 4), *y0 = malloc(n * 4);
    mn_rng r;
    mn_rng_seed(&r, 5);
    for (int o = 0; o < C; o++)
        for (int i = 0; i < C; i++) {
            pp[o * C + i] = 0.1f + (float)mn_rng_uniform(&r);        /* conv1.weight */
            pp[C * C + C + o * C + i] = o == i ? 1.0f : 0.0f;        /* conv2.weight */
        }
    for (int o = 0; o < C; o++) pp[C * C + o] = 0.1f;                /* conv1.bias */
    memcpy(pq, pp, l->param_count * sizeof(float));
    for (size_t i = 0; i < n; i++) x[i] = (float)mn_rng_uniform(&r);
    CHECK_OK(plain->ops->forward(plain, x, y0, T, B, NULL));
    CHECK_OK(l->ops->forward(l, x, y, T, B, NULL));
    CHECK(!memcmp(y, y0, n * 4), "dropout before any set_mode (inference)");
    l->ops->set_mode(l, 1, 11);
    CHECK_OK(l->ops->forward(l, x, y, T, B, NULL));
    double s2 = 1.0 / ((1.0 - p) * (1.0 - p));
    size_t zeros = 0, bad = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)y[i] - x[i], d0 = (double)y0[i] - x[i];
        if (y[i] == x[i]) zeros++;
        else if (fabs(d - s2 * d0) > 1e-5 * (1 + fabs(s2 * d0)) && bad++ < 3)
            mn_test_fail(__FILE__, __LINE__, "element %zu: y - x = %g, want 0 or %g", i, d,
                         s2 * d0);
    }
    double share = (double)zeros / n, want = 1 - (1 - p) * (1 - p);
    CHECK(fabs(share - want) < 0.03, "share dropped %.3f, want %.3f", share, want);
    l->ops->set_mode(l, 0, 11);
    CHECK_OK(l->ops->forward(l, x, y, T, B, NULL));
    CHECK(!memcmp(y, y0, n * 4), "inference mode after training");
    free(x); free(y); free(y0);
    mn_check_free_layer(l);
    mn_check_free_layer(plain);
}

/* The block's dropout=P reaches the TCN layer, and the wrapper adds none at the output. */
TEST(tcn_block_dropout_is_inside_not_at_the_output) {
    mn_model_config c;
    mn_model_config_init(&c);
    REQUIRE_OK(mn_blocks_parse("tcn:8:dropout=0.25,tcn:8:residual:dropout=0.25,lstm:8:dropout=0.25", &c));
    mn_block_wrap w;
    CHECK(!mn_block_wrap_of(&c.blocks[0], &w), "tcn with dropout alone is wrapped");
    CHECK(mn_block_wrap_of(&c.blocks[1], &w) && w.residual && w.dropout == 0,
          "tcn residual: wrap dropout %g", (double)w.dropout);
    CHECK(mn_block_wrap_of(&c.blocks[2], &w) && w.dropout == 0.25f, "lstm keeps the wrapper's");
    mn_layer *l = mn_model_block_layer(&c.blocks[0], 8, 0);
    REQUIRE(l, "%s", mn_last_error());
    CHECK(!strcmp(l->ops->kind, "tcn"), "layer kind %s", l->ops->kind);
    mn_layer_destroy(l);
}

/* torch.nn.utils.weight_norm's names, and its start: g = ‖v‖ per output channel, so the
 * block computes what the block without weight-norm computes with weight = v */
TEST(tcn_weight_norm_names_and_init) {
    enum { T = 9, B = 2, I = 3, C = 5 };
    mn_layer *l = make_wn("tcn", I, C, 3, 2, 1), *plain = make("tcn", I, C, 3, 2);
    REQUIRE(l && plain, "create: %s", mn_last_error());
    static const char *const names[] = {"conv1.weight_v", "conv1.bias", "conv1.weight_g",
                                        "conv2.weight_v", "conv2.bias", "conv2.weight_g",
                                        "downsample.weight", "downsample.bias"};
    static const int shapes[8][3] = {{C, I, 3}, {C}, {C, 1, 1}, {C, C, 3}, {C}, {C, 1, 1},
                                     {C, I, 1}, {C}};
    REQUIRE(l->nspecs == 8, "%d specs", l->nspecs);
    for (int i = 0; i < 8; i++) {
        CHECK(!strcmp(l->specs[i].name, names[i]), "spec %d: %s", i, l->specs[i].name);
        for (int d = 0; d < l->specs[i].ndim; d++)
            CHECK(l->specs[i].shape[d] == shapes[i][d], "%s dim %d: %d", names[i], d,
                  l->specs[i].shape[d]);
    }
    float *p = mn_check_alloc_params(l);
    mn_check_alloc_params(plain);
    mn_rng r;
    mn_rng_seed(&r, 991);
    mn_init_config ic = {MN_INIT_UNIFORM, 1.0f, 1.0f, 0};
    l->ops->init(l, &r, &ic);
    for (int i = 0; i < 6; i += 3) {    /* g[o] = ‖v[o]‖ */
        const mn_param_spec *v = &l->specs[i], *g = &l->specs[i + 2];
        size_t row = v->size / C;
        for (int o = 0; o < C; o++) {
            double ss = 0;
            for (size_t k = 0; k < row; k++) ss += (double)p[v->offset + o * row + k] *
                                                  p[v->offset + o * row + k];
            CHECK(fabs(p[g->offset + o] - sqrt(ss)) <= 1e-6 * sqrt(ss), "%s[%d] %g, ‖v‖ %g",
                  g->name, o, p[g->offset + o], sqrt(ss));
        }
    }
    for (int i = 0; i < plain->nspecs; i++) {   /* the plain block: weight = v */
        const mn_param_spec *dst = &plain->specs[i];
        char want[MN_NAME_MAX];
        snprintf(want, sizeof want, "%s", dst->name);
        char *dot = strrchr(want, '.');
        if (strncmp(want, "downsample", 10) && !strcmp(dot, ".weight")) strcpy(dot, ".weight_v");
        const float *src = NULL;
        for (int j = 0; j < l->nspecs; j++)
            if (!strcmp(l->specs[j].name, want)) src = l->params + l->specs[j].offset;
        REQUIRE(src, "no %s", want);
        memcpy(plain->params + dst->offset, src, dst->size * sizeof(float));
    }
    float x[T * B * I], y[T * B * C], y2[T * B * C];
    mn_check_randomize(x, T * B * I, &r, 1.0f);
    CHECK_OK(l->ops->forward(l, x, y, T, B, NULL));
    CHECK_OK(plain->ops->forward(plain, x, y2, T, B, NULL));
    double worst = 0;
    for (int i = 0; i < T * B * C; i++) worst = fmax(worst, fabs(y[i] - y2[i]));
    CHECK(worst < 1e-6, "weight-norm at init differs from weight = v by %g", worst);
    mn_check_free_layer(l);
    mn_check_free_layer(plain);
}

TEST(tcn_parameter_names_are_pytorch_temporal_block_names) {
    mn_layer *l = make("tcn", 3, 5, 4, 2);
    REQUIRE(l, "create: %s", mn_last_error());
    static const char *const names[] = {"conv1.weight", "conv1.bias", "conv2.weight",
                                        "conv2.bias", "downsample.weight", "downsample.bias"};
    static const int shapes[6][3] = {{5, 3, 4}, {5}, {5, 5, 4}, {5}, {5, 3, 1}, {5}};
    REQUIRE(l->nspecs == 6, "%d specs", l->nspecs);
    for (int i = 0; i < 6; i++) {
        CHECK(!strcmp(l->specs[i].name, names[i]), "spec %d: %s", i, l->specs[i].name);
        for (int d = 0; d < l->specs[i].ndim; d++)
            CHECK(l->specs[i].shape[d] == shapes[i][d], "%s dim %d: %d", names[i], d,
                  l->specs[i].shape[d]);
    }
    mn_layer_destroy(l);
}

TEST(tcn_streaming_equals_full_pass) {
    enum { T = 30, B = 2, C = 4 };
    /* with a downsample, then an identity residual; then both with weight-norm */
    for (int c = 0; c < 4; c++) {
        int in = 3 + c % 2;
        mn_layer *l = make_wn("tcn", in, C, 3, 2, c >= 2);
        REQUIRE(l, "create: %s", mn_last_error());
        mn_check_alloc_params(l);
        mn_rng r;
        mn_rng_seed(&r, 500 + c);
        mn_check_randomize(l->params, l->param_count, &r, 0.7f);
        float x[T * B * 4], y[T * B * C], ys[B * C];
        mn_check_randomize(x, T * B * in, &r, 1.0f);
        CHECK_OK(l->ops->forward(l, x, y, T, B, NULL));
        double worst = 0;
        for (int t = 0; t < T; t++) {
            CHECK_OK(mn_tcn_step(l, x + t * B * in, ys, B));
            for (int i = 0; i < B * C; i++) worst = fmax(worst, fabs(ys[i] - y[t * B * C + i]));
        }
        CHECK(worst < 1e-5, "in=%d%s: streaming differs by %.3g", in,
              c >= 2 ? " weight-norm" : "", worst);
        mn_tcn_stream_reset(l);
        CHECK_OK(mn_tcn_step(l, x, ys, B));
        CHECK(fabs(ys[0] - y[0]) < 1e-6, "after a reset: %g, not %g", ys[0], y[0]);
        mn_check_free_layer(l);
    }
}

TEST(tcn_receptive_field_formula) {
    CHECK(mn_tcn_receptive_field(2, 1) == 3, "k=2, 1 block: %lld",
          (long long)mn_tcn_receptive_field(2, 1));
    CHECK(mn_tcn_receptive_field(3, 3) == 29, "k=3, 3 blocks");
    CHECK(mn_tcn_receptive_field(7, 8) == 1 + 2 * 6 * 255, "k=7, 8 blocks");
    CHECK(mn_tcn_receptive_field(5, 0) == 1 && mn_tcn_receptive_field(1, 9) == 1, "trivial");
    CHECK(mn_tcn_receptive_field(4096, 61) == INT64_MAX, "no overflow");
}

/* ∂y[T−1]/∂x[t] of a stack of 3 TCN blocks (dilations 1, 2, 4) is non-zero exactly for the
 * last mn_tcn_receptive_field steps. Positive weights and inputs keep every ReLU open, so
 * each path inside the field carries gradient; random ones check the outside stays 0. */
static void receptive_field_case(int k, int positive, uint64_t seed) {
    enum { L = 3, B = 2, C = 3, I = 2 };
    int field = (int)mn_tcn_receptive_field(k, L), T = field + 6;
    mn_layer *l[L];
    float *h[L + 1], *g[L + 1];
    mn_rng r;
    mn_rng_seed(&r, seed);
    for (int i = 0; i <= L; i++) {
        int w = i == 0 ? I : C;
        h[i] = malloc((size_t)T * B * w * 4);
        g[i] = calloc((size_t)T * B * w, 4);
    }
    for (int i = 0; i < L; i++) {
        l[i] = make("tcn", i == 0 ? I : C, C, k, 1 << i);
        mn_check_alloc_params(l[i]);
        for (size_t p = 0; p < l[i]->param_count; p++)
            l[i]->params[p] = positive ? mn_rng_uniform_range(&r, 0.05f, 0.5f)
                                       : mn_rng_uniform_range(&r, -0.5f, 0.5f);
    }
    for (int i = 0; i < T * B * I; i++)
        h[0][i] = positive ? mn_rng_uniform_range(&r, 0.1f, 1.0f) : mn_rng_uniform_range(&r, -1, 1);
    for (int i = 0; i < L; i++) CHECK_OK(l[i]->ops->forward(l[i], h[i], h[i + 1], T, B, NULL));
    for (int c = 0; c < C; c++) g[L][((size_t)(T - 1) * B + 1) * C + c] = 1.0f;  /* sequence 1 */
    for (int i = L - 1; i >= 0; i--) CHECK_OK(l[i]->ops->backward(l[i], g[i + 1], g[i], T, B, NULL));
    int first = -1, zeros_inside = 0;
    for (int t = 0; t < T; t++) {
        double n = 0;
        for (int b = 0; b < B; b++)
            for (int i = 0; i < I; i++) {
                double v = fabs(g[0][((size_t)t * B + b) * I + i]);
                if (b == 0) CHECK(v == 0, "k=%d: sequence 0 got gradient at t=%d", k, t);
                else n += v;
            }
        int inside = t >= T - field;
        if (n > 0 && first < 0) first = t;
        if (!inside) CHECK(n == 0, "k=%d: gradient %g at t=%d, outside the field of %d", k, n, t,
                           field);
        zeros_inside += inside && n == 0;
    }
    if (positive) {
        CHECK(zeros_inside == 0, "k=%d: %d steps inside the field got no gradient", k, zeros_inside);
        CHECK(first == T - field, "k=%d: the gradient starts at t=%d, the field at %d", k, first,
              T - field);
    }
    for (int i = 0; i < L; i++) mn_check_free_layer(l[i]);
    for (int i = 0; i <= L; i++) { free(h[i]); free(g[i]); }
}

TEST(tcn_gradient_is_nonzero_exactly_within_the_receptive_field) {
    for (int k = 2; k <= 4; k++) {
        receptive_field_case(k, 1, 600 + k);
        receptive_field_case(k, 0, 700 + k);
    }
}

TEST(tcn_memory_estimate_matches_peak) {
    static const struct { const char *spec; int I, T, B, train; } shapes[] = {
        {"tcn:32:kernel=3,tcn:32:kernel=3:dilation=2,tcn:32:kernel=3:dilation=4", 16, 40, 8, 1},
        {"tcn:24:dilation=2:residual:pre:dropout=0.1", 24, 30, 8, 1},
        {"tcn:48:kernel=4", 12, 30, 8, 0},
        {"tcn:32:kernel=3:weight-norm,tcn:32:kernel=3:dilation=2:weight-norm", 16, 40, 8, 1},
        {"tcn:40:weight-norm", 12, 30, 8, 0},
    };
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        mn_model_config c;
        mn_model_config_init(&c);
        c.input_size = shapes[i].I;
        c.hidden_size = 32;
        c.output = MN_OUTPUT_EVERY;
        c.output_size = 1;
        REQUIRE_OK(mn_blocks_parse(shapes[i].spec, &c));
        mn_bench_config b = {MN_LSTM, shapes[i].T, shapes[i].B, shapes[i].I, 32, 1, 0,
                             shapes[i].train, 0, 1, 7, shapes[i].spec, 0};
        mn_bench_result r;
        size_t peak = 0;
        for (int pass = 0; pass < 2; pass++) peak = mn_bench_run(&b, &r) == MN_OK ? r.peak_bytes : 0;
        REQUIRE(peak > 0, "%s: bench failed: %s", shapes[i].spec, mn_last_error());
        mn_memory_estimate e;
        REQUIRE_OK(mn_memory_estimate_run(&c, shapes[i].T, shapes[i].B, shapes[i].train, &e));
        double err = fabs((double)(e.total - e.scratch) - (double)peak) / (double)peak;
        CHECK(err <= 0.01, "%s: estimate %zu, measured %zu (%.2f%% off)", shapes[i].spec,
              e.total - e.scratch, peak, 100 * err);
    }
}

/* ------------------------------------------------------------ PyTorch fixtures
 * tools/gen_fixtures_conv.py: nn.Conv1d made causal, a TCN block of nn.Conv1d, S4D by the
 * Vandermonde kernel and torch.fft; float64 references, the golden measure of
 * layer_check.h at 1e-5. */

static int meta_int(const mn_st_file *f, const char *key) {
    const char *v = mn_st_meta(f, key);
    return v ? atoi(v) : 0;
}

static void run_golden(const char *fixture, double tol) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s.safetensors", mn_test_fixture_dir(), fixture);
    mn_st_file *f = NULL;
    REQUIRE_OK(mn_st_read(path, &f));
    const char *kind = mn_st_meta(f, "kind"), *init = mn_st_meta(f, "init");
    int T = meta_int(f, "T"), B = meta_int(f, "B"), I = meta_int(f, "in"), O = meta_int(f, "out");
    mn_block_config b = {.width = O, .kernel = meta_int(f, "kernel"),
                         .dilation = meta_int(f, "dilation"), .state = meta_int(f, "state"),
                         .weight_norm = meta_int(f, "weight_norm")};
    if (init) {
        mn_model_config c;
        char spec[64];
        mn_model_config_init(&c);
        snprintf(spec, sizeof spec, "s4d:init=%s", init);
        if (mn_blocks_parse(spec, &c) == MN_OK) b.ssm_init = c.blocks[0].ssm_init;
    }
    const mn_layer_kind *k = kind ? mn_layer_kind_find(kind) : NULL;
    const mn_st_tensor *x_t = mn_st_find(f, "x"), *w_t = mn_st_find(f, "w");
    size_t nx = (size_t)T * B * I, ny = (size_t)T * B * O;
    mn_layer *l = NULL;
    float *x = NULL, *w = NULL, *y = NULL, *dx = NULL;
    if (!k || T < 1 || B < 1 || !x_t || !w_t || x_t->numel != nx || w_t->numel != ny) {
        mn_test_fail(__FILE__, __LINE__, "%s: metadata or tensors inconsistent", fixture);
        goto out;
    }
    snprintf(b.kind, sizeof b.kind, "%s", kind);
    if (!(l = k->create(&b, I, 0)) || l->out_size != O) {
        mn_test_fail(__FILE__, __LINE__, "%s: %s", fixture, l ? "wrong width" : mn_last_error());
        goto out;
    }
    mn_check_alloc_params(l);
    x = malloc(nx * 4); w = malloc(ny * 4); y = malloc(ny * 4); dx = calloc(nx, 4);
    memcpy(x, x_t->data, nx * 4);
    memcpy(w, w_t->data, ny * 4);
    int loaded = mn_check_load_params(fixture, f, l), fixture_params = 0;
    if (loaded < 0) goto out;
    for (int i = 0; i < mn_st_count(f); i++) {
        const char *nm = mn_st_at(f, i)->name;
        fixture_params += strcmp(nm, "x") && strcmp(nm, "w") && strcmp(nm, "y") &&
                          strcmp(nm, "lengths") && strncmp(nm, "grad.", 5);
    }
    CHECK(loaded == fixture_params, "%s: the layer takes %d parameter tensors, the fixture "
          "has %d", fixture, loaded, fixture_params);
    for (size_t i = 0; i < ny; i++) y[i] = NAN;
    if (l->ops->forward(l, x, y, T, B, NULL) != MN_OK ||
        l->ops->backward(l, w, dx, T, B, NULL) != MN_OK) {
        mn_test_fail(__FILE__, __LINE__, "%s: %s", fixture, mn_last_error());
        goto out;
    }
    mn_check_against(fixture, "y", y, mn_st_find(f, "y"), ny, tol);
    mn_check_against(fixture, "grad.x", dx, mn_st_find(f, "grad.x"), nx, tol);
    for (int i = 0; i < l->nspecs; i++) {
        const mn_param_spec *sp = &l->specs[i];
        char name[MN_NAME_MAX + 8];
        snprintf(name, sizeof name, "grad.%s", sp->name);
        mn_check_against(fixture, name, l->grads + sp->offset, mn_st_find(f, name), sp->size, tol);
    }
out:
    mn_check_free_layer(l);
    free(x); free(w); free(y); free(dx);
    mn_st_free(f);
}

TEST(conv_golden_pytorch_k3_d1) { run_golden("conv_k3_d1", 1e-5); }
TEST(conv_golden_pytorch_k2_d4) { run_golden("conv_k2_d4", 1e-5); }
TEST(conv_golden_pytorch_k5_d2) { run_golden("conv_k5_d2", 1e-5); }
TEST(tcn_golden_pytorch_downsample) { run_golden("tcn_downsample", 1e-5); }
TEST(tcn_golden_pytorch_identity) { run_golden("tcn_identity", 1e-5); }
/* 2e-5: conv1.bias's gradient sums T·B terms near 1 to about 0.02 (1% of the tensor's scale,
 * the measure's floor), so float32's rounding of the terms shows there at ~1e-5; every
 * other tensor of the fixture is within 3e-6. */
TEST(tcn_golden_pytorch_weight_norm) { run_golden("tcn_weight_norm", 2e-5); }
/* 2e-5 for S4D: the FFTs run in float32, and a gradient element at 1.6% of its tensor's
 * scale (s4d_lin's log_dt) lands at 1.02e-5. PyTorch itself in float32 (s4d.py's code on
 * the same inputs) misses these references by up to 2.8e-5 (log_dt) and 1.1e-3
 * (log_A_real, A_imag): mnemo's kernel sums run in double. */
TEST(s4d_golden_pytorch_lin) { run_golden("s4d_lin", 2e-5); }
TEST(s4d_golden_pytorch_inv) { run_golden("s4d_inv", 2e-5); }
TEST(s4d_golden_pytorch_real) { run_golden("s4d_real", 2e-5); }
/* The pieces after S4D in its block: nn.Linear(d, 2d) + nn.GLU(dim=-1), and nn.GELU(). */
TEST(glu_golden_pytorch) { run_golden("glu", 1e-5); }
TEST(gelu_golden_pytorch) { run_golden("gelu", 1e-5); }

/* conv1, conv2: nn.Conv1d's U(±1/√(in·k)) (locuslab/TCN's effective init under weight
 * norm); downsample: N(0, 0.01). */
TEST(tcn_initialization) {
    mn_layer *l = make("tcn", 6, 40, 3, 1);
    REQUIRE(l, "create: %s", mn_last_error());
    float *p = mn_check_alloc_params(l);
    mn_rng r;
    mn_rng_seed(&r, 990);
    mn_init_config ic = {MN_INIT_UNIFORM, 1.0f, 1.0f, 0};
    l->ops->init(l, &r, &ic);
    for (int i = 0; i < l->nspecs; i += 2) {
        const mn_param_spec *w = &l->specs[i];
        double bound = 1.0 / sqrt((double)w->shape[1] * w->shape[2]), m2 = 0, top = 0;
        for (size_t k = 0; k < w->size; k++) {
            m2 += (double)p[w->offset + k] * p[w->offset + k] / w->size;
            top = fmax(top, fabs(p[w->offset + k]));
        }
        if (i < 4)   /* uniform: std bound/√3, all inside the bound */
            CHECK(top <= bound && fabs(sqrt(m2) / (bound / sqrt(3.0)) - 1) < 0.1, "%s: std %g, "
                  "max %g, bound %g", w->name, sqrt(m2), top, bound);
        else
            CHECK(fabs(sqrt(m2) / 0.01 - 1) < 0.15, "%s: std %g, want 0.01", w->name, sqrt(m2));
    }
    mn_check_free_layer(l);
}

/* weight-norm as a block option: parsed, written back in the canonical form (the
 * checkpoint's model.blocks), refused twice, on other kinds and as a raw value */
TEST(tcn_weight_norm_block_option) {
    mn_model_config c;
    mn_model_config_init(&c);
    c.input_size = 2;
    REQUIRE_OK(mn_blocks_parse("tcn:8:weight-norm:kernel=3,tcn:8:dilation=2", &c));
    CHECK(c.blocks[0].weight_norm == 1 && c.blocks[1].weight_norm == 0, "parsed %d %d",
          c.blocks[0].weight_norm, c.blocks[1].weight_norm);
    char text[256];
    mn_blocks_format(&c, text, sizeof text);
    CHECK(!strcmp(text, "tcn:8:weight-norm:kernel=3,tcn:8:dilation=2"), "format: %s", text);
    mn_model *m = NULL;
    REQUIRE_OK(mn_model_create(&c, 1, &m));
    int g = 0;
    for (int i = 0; i < mn_model_tensor_count(m); i++) {
        const char *name;
        REQUIRE_OK(mn_model_tensor(m, i, &name, NULL, NULL, NULL, NULL));
        g += strstr(name, ".weight_g") != NULL;
    }
    CHECK(g == 2, "%d weight_g tensors (conv1 and conv2 of block 0)", g);
    mn_model_free(m);
    CHECK(mn_blocks_parse("tcn:8:weight-norm:weight-norm", &c) == MN_E_ARG &&
          strstr(mn_last_error(), "twice"), "twice: %s", mn_last_error());
    CHECK(mn_blocks_parse("conv:8:weight-norm", &c) == MN_E_ARG &&
          strstr(mn_last_error(), "only tcn"), "conv: %s", mn_last_error());
    mn_model_config_init(&c);
    c.input_size = 2;
    REQUIRE_OK(mn_blocks_parse("tcn:8", &c));
    c.blocks[0].weight_norm = 2;
    CHECK(mn_model_create(&c, 1, &m) == MN_E_ARG, "weight_norm 2 accepted");
}
