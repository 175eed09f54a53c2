/* Dropout, feed-forward and norm details, and PyTorch golden fixtures for the
 * per-position layers and the block wrapper (tools/gen_fixtures_blocks.py; see
 * tests/fixtures/README.md). Gradient checks and the wrapper's behaviour are in
 * tests/test_layers_block.c. */
#include "test.h"
#include "block.h"
#include "dropout.h"
#include "feedforward.h"
#include "layer.h"
#include "layer_check.h"
#include "norm.h"
#include "safetensors.h"

#include <stdlib.h>
#include <string.h>

/* ----------------------------------------------------------------- dropout */

enum { DT = 100, DB = 10, DD = 100 };   /* 100k elements: above the threading threshold */

static mn_layer *dropout_with(float p, float **x, float **y, mn_rng *r) {
    size_t n = (size_t)DT * DB * DD;
    *x = malloc(n * sizeof(float));
    *y = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) (*x)[i] = mn_rng_uniform_range(r, 0.5f, 2.0f);
    return mn_dropout_create(DD, p);
}

TEST(layers_dropout_inference_is_identity) {
    mn_rng r;
    mn_rng_seed(&r, 1);
    float *x, *y;
    mn_layer *l = dropout_with(0.5f, &x, &y, &r);
    REQUIRE(l, "create: %s", mn_last_error());
    size_t n = (size_t)DT * DB * DD;
    CHECK_OK(l->ops->forward(l, x, y, DT, DB, NULL));       /* default mode: inference */
    CHECK(!memcmp(x, y, n * sizeof(float)), "default mode changes the input");
    l->ops->set_mode(l, 1, 5);
    l->ops->set_mode(l, 0, 5);
    CHECK_OK(l->ops->forward(l, x, y, DT, DB, NULL));
    CHECK(!memcmp(x, y, n * sizeof(float)), "inference mode changes the input");
    /* backward in inference: dx += dy */
    float *dx = calloc(n, sizeof(float));
    for (size_t i = 0; i < n; i++) dx[i] = 1.0f;
    CHECK_OK(l->ops->backward(l, x, dx, DT, DB, NULL));
    int bad = 0;
    for (size_t i = 0; i < n; i++) bad += dx[i] != 1.0f + x[i];
    CHECK(!bad, "%d elements of dx != 1 + dy in inference", bad);
    CHECK(mn_layer_bytes(l) == 0, "dropout holds activations");
    mn_layer_destroy(l);
    free(x); free(y); free(dx);
}

TEST(layers_dropout_training_statistics_and_scale) {
    mn_rng r;
    mn_rng_seed(&r, 2);
    const float ps[] = {0.1f, 0.3f, 0.5f, 0.9f};
    for (int k = 0; k < 4; k++) {
        float p = ps[k], *x, *y;
        mn_layer *l = dropout_with(p, &x, &y, &r);
        REQUIRE(l, "create: %s", mn_last_error());
        size_t n = (size_t)DT * DB * DD, kept = 0;
        float scale = 1.0f / (float)(1.0 - (double)p);
        uint64_t seed = 1000 + k;
        l->ops->set_mode(l, 1, seed);
        CHECK_OK(l->ops->forward(l, x, y, DT, DB, NULL));
        int bad = 0;
        for (size_t i = 0; i < n; i++) {
            int keep = mn_dropout_keep(seed, i, p);
            kept += keep;
            if (y[i] != (keep ? x[i] * scale : 0.0f) && bad++ < 3)
                mn_test_fail(__FILE__, __LINE__, "p=%g element %zu: y %.9g, x %.9g, kept %d",
                             (double)p, i, (double)y[i], (double)x[i], keep);
        }
        double mean = (double)n * (1.0 - p), sd = sqrt((double)n * p * (1.0 - p));
        CHECK(fabs((double)kept - mean) <= 5 * sd, "p=%g: kept %zu of %zu, expected %.0f ± "
              "%.0f", (double)p, kept, n, mean, 5 * sd);
        /* backward: dx += dy·m·scale, the same mask */
        float *dx = malloc(n * sizeof(float));
        for (size_t i = 0; i < n; i++) dx[i] = 0.25f;
        CHECK_OK(l->ops->backward(l, x, dx, DT, DB, NULL));
        bad = 0;
        for (size_t i = 0; i < n; i++)
            bad += dx[i] != 0.25f + (mn_dropout_keep(seed, i, p) ? x[i] * scale : 0.0f);
        CHECK(!bad, "p=%g: %d elements of dx differ from dy·mask·scale", (double)p, bad);
        mn_layer_destroy(l);
        free(x); free(y); free(dx);
    }
}

TEST(layers_dropout_mask_depends_on_seed_only) {
    mn_rng r;
    mn_rng_seed(&r, 3);
    float *x, *y;
    mn_layer *l = dropout_with(0.5f, &x, &y, &r);
    REQUIRE(l, "create: %s", mn_last_error());
    size_t n = (size_t)DT * DB * DD;
    float *y1 = malloc(n * sizeof(float)), *y2 = malloc(n * sizeof(float));
    int threads = mn_get_threads();
    mn_set_threads(1);
    l->ops->set_mode(l, 1, 77);
    CHECK_OK(l->ops->forward(l, x, y1, DT, DB, NULL));
    mn_set_threads(2);
    CHECK_OK(l->ops->forward(l, x, y2, DT, DB, NULL));
    CHECK(!memcmp(y1, y2, n * sizeof(float)), "mask differs between 1 and 2 threads");
    mn_set_threads(threads);
    CHECK_OK(l->ops->forward(l, x, y, DT, DB, NULL));
    CHECK(!memcmp(y1, y, n * sizeof(float)), "the same seed gives another mask");
    l->ops->set_mode(l, 1, 78);
    CHECK_OK(l->ops->forward(l, x, y, DT, DB, NULL));
    size_t differ = 0;
    for (size_t i = 0; i < n; i++) differ += (y[i] == 0.0f) != (y1[i] == 0.0f);
    /* independent masks at p = 0.5 disagree on half the elements */
    CHECK(differ > n * 0.45 && differ < n * 0.55, "seeds 77 and 78 disagree on %zu of %zu",
          differ, n);
    mn_set_threads(0);
    mn_layer_destroy(l);
    free(x); free(y); free(y1); free(y2);
}

TEST(layers_dropout_keeps_nan_and_rejects_bad_p) {
    mn_layer *l = mn_dropout_create(8, 0.5f);
    REQUIRE(l, "create: %s", mn_last_error());
    float x[64], y[64];
    for (int i = 0; i < 64; i++) x[i] = NAN;
    l->ops->set_mode(l, 1, 9);
    CHECK_OK(l->ops->forward(l, x, y, 4, 2, NULL));
    int nans = 0;
    for (int i = 0; i < 64; i++) nans += isnan(y[i]);
    CHECK(nans == 64, "only %d of 64 NaN inputs stay NaN (PyTorch: input * mask)", nans);
    mn_layer_destroy(l);
    CHECK(!mn_dropout_create(8, 1.0f), "p = 1 accepted");
    CHECK(!mn_dropout_create(8, -0.1f), "p < 0 accepted");
    CHECK(!mn_dropout_create(8, NAN), "p = NaN accepted");
}

/* ------------------------------------------------------------ feed-forward */

TEST(layers_feedforward_relu_propagates_nan) {
    for (int act = 0; act < 2; act++) {
        mn_layer *l = mn_feedforward_create(3, 4, act);
        REQUIRE(l, "create: %s", mn_last_error());
        float *p = mn_check_alloc_params(l);
        mn_rng r;
        mn_rng_seed(&r, 4);
        mn_init_config ic = {MN_INIT_UNIFORM, 1.0f, 1.0f, 0};
        l->ops->init(l, &r, &ic);
        /* linear1.bias[0] = NaN: hidden unit 0 is NaN on every row, and so is every output */
        p[l->specs[1].offset] = NAN;
        float x[2 * 3], y[2 * 3];
        for (int i = 0; i < 6; i++) x[i] = -1.0f;
        CHECK_OK(l->ops->forward(l, x, y, 1, 2, NULL));
        int nans = 0;
        for (int i = 0; i < 6; i++) nans += isnan(y[i]);
        CHECK(nans == 6, "%s: %d of 6 outputs NaN after a NaN hidden unit",
              act == MN_ACT_RELU ? "relu" : "gelu", nans);
        mn_check_free_layer(l);
    }
    CHECK(!mn_feedforward_create(3, 4, 7), "unknown activation accepted");
    CHECK(!mn_feedforward_create(0, 4, MN_ACT_RELU), "width 0 accepted");
}

/* ----------------------------------------------------- PyTorch golden files */

static mn_layer *golden_layer(const char *mode, int D, int F, float eps) {
    mn_block_wrap w = {1, MN_BLOCK_NORM_PRE, MN_BLOCK_LAYERNORM, 0.0f, eps};
    if (!strcmp(mode, "layernorm")) return mn_layernorm_create(D, eps);
    if (!strcmp(mode, "rmsnorm")) return mn_rmsnorm_create(D, eps);
    if (!strcmp(mode, "feedforward_relu")) return mn_feedforward_create(D, F, MN_ACT_RELU);
    if (!strcmp(mode, "feedforward_gelu")) return mn_feedforward_create(D, F, MN_ACT_GELU);
    if (!strcmp(mode, "block_prenorm_linear"))
        return mn_block_create(mn_linear_create(D, D), &w);
    w.norm = MN_BLOCK_NORM_POST;
    if (!strcmp(mode, "block_postnorm_linear"))
        return mn_block_create(mn_linear_create(D, D), &w);
    return NULL;
}

static void run_golden(const char *fixture, double tol) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s.safetensors", mn_test_fixture_dir(), fixture);
    mn_st_file *f = NULL;
    REQUIRE_OK(mn_st_read(path, &f));
    const char *mode = mn_st_meta(f, "mode"), *eps_s = mn_st_meta(f, "eps");
    const char *Ts = mn_st_meta(f, "T"), *Bs = mn_st_meta(f, "B"), *Ds = mn_st_meta(f, "dim"),
               *Fs = mn_st_meta(f, "ff");
    int T = Ts ? atoi(Ts) : 0, B = Bs ? atoi(Bs) : 0, D = Ds ? atoi(Ds) : 0,
        F = Fs ? atoi(Fs) : 0;
    const mn_st_tensor *x_t = mn_st_find(f, "x"), *w_t = mn_st_find(f, "w");
    size_t n = (size_t)T * B * D;
    mn_layer *l = NULL;
    float *x = NULL, *w = NULL, *y = NULL, *dx = NULL;
    if (!mode || !eps_s || T < 1 || B < 1 || D < 1 || !x_t || !w_t || x_t->numel != n ||
        w_t->numel != n || x_t->dtype != MN_ST_F32 || w_t->dtype != MN_ST_F32) {
        mn_test_fail(__FILE__, __LINE__, "%s: metadata or tensors inconsistent", fixture);
        goto out;
    }
    l = golden_layer(mode, D, F, (float)atof(eps_s));
    if (!l) {
        mn_test_fail(__FILE__, __LINE__, "%s: mode '%s': %s", fixture, mode, mn_last_error());
        goto out;
    }
    mn_check_alloc_params(l);
    x = malloc(n * 4); w = malloc(n * 4); y = malloc(n * 4); dx = calloc(n, 4);
    memcpy(x, x_t->data, n * 4);
    memcpy(w, w_t->data, n * 4);
    int loaded = mn_check_load_params(fixture, f, l);
    if (loaded < 0) goto out;
    int fixture_params = 0;     /* every tensor but the data and the references */
    for (int i = 0; i < mn_st_count(f); i++) {
        const char *nm = mn_st_at(f, i)->name;
        fixture_params += strcmp(nm, "x") && strcmp(nm, "w") && strcmp(nm, "y") &&
                          strcmp(nm, "lengths") && strncmp(nm, "grad.", 5);
    }
    CHECK(loaded == fixture_params, "%s: the layer takes %d parameter tensors, the fixture "
          "has %d", fixture, loaded, fixture_params);
    for (size_t i = 0; i < n; i++) y[i] = NAN;
    mn_layer_reset(l);
    if (l->ops->forward(l, x, y, T, B, NULL) != MN_OK ||
        l->ops->backward(l, w, dx, T, B, NULL) != MN_OK) {
        mn_test_fail(__FILE__, __LINE__, "%s: %s", fixture, mn_last_error());
        goto out;
    }
    mn_check_against(fixture, "y", y, mn_st_find(f, "y"), n, tol);
    mn_check_against(fixture, "grad.x", dx, mn_st_find(f, "grad.x"), n, tol);
    for (int i = 0; i < l->nspecs; i++) {
        const mn_param_spec *sp = &l->specs[i];
        char name[MN_NAME_MAX + 8];
        snprintf(name, sizeof name, "grad.%s", sp->name);
        mn_check_against(fixture, name, l->grads + sp->offset, mn_st_find(f, name), sp->size,
                         tol);
    }
out:
    mn_check_free_layer(l);
    free(x); free(w); free(y); free(dx);
    mn_st_free(f);
}

TEST(layers_golden_layernorm) { run_golden("layernorm", 1e-5); }
TEST(layers_golden_rmsnorm) { run_golden("rmsnorm", 1e-5); }
TEST(layers_golden_feedforward_relu) { run_golden("feedforward_relu", 1e-5); }
TEST(layers_golden_feedforward_gelu) { run_golden("feedforward_gelu", 1e-5); }
TEST(layers_golden_block_prenorm_linear) { run_golden("block_prenorm_linear", 1e-5); }
TEST(layers_golden_block_postnorm_linear) { run_golden("block_postnorm_linear", 1e-5); }

/* Large enough for the threaded paths (rows, and column blocks of 64 with a partial one):
 * the same bits on 1 and 2 threads. */
TEST(layers_norm_same_on_any_thread_count) {
    enum { T = 50, B = 20, D = 130 };
    size_t n = (size_t)T * B * D;
    float *x = malloc(n * 4), *dy = malloc(n * 4), *y[2], *dx[2], *g[2];
    mn_rng r;
    mn_rng_seed(&r, 12);
    mn_check_randomize(x, n, &r, 2.0f);
    mn_check_randomize(dy, n, &r, 1.0f);
    for (int centered = 0; centered < 2; centered++) {
        for (int k = 0; k < 2; k++) {
            mn_layer *l = centered ? mn_layernorm_create(D, 1e-5f) : mn_rmsnorm_create(D, 1e-5f);
            REQUIRE(l, "create: %s", mn_last_error());
            mn_check_alloc_params(l);
            mn_init_config ic = {MN_INIT_UNIFORM, 1.0f, 1.0f, 0};
            l->ops->init(l, &r, &ic);
            for (size_t i = 0; i < l->param_count; i++) l->params[i] += 0.01f * (float)i;
            y[k] = malloc(n * 4);
            dx[k] = calloc(n, 4);
            g[k] = calloc(l->param_count, 4);
            mn_set_threads(k + 1);
            CHECK_OK(l->ops->forward(l, x, y[k], T, B, NULL));
            CHECK_OK(l->ops->backward(l, dy, dx[k], T, B, NULL));
            memcpy(g[k], l->grads, l->param_count * 4);
            size_t np = l->param_count;
            mn_check_free_layer(l);
            if (k == 1) {
                CHECK(!memcmp(y[0], y[1], n * 4), "centered %d: outputs differ", centered);
                CHECK(!memcmp(dx[0], dx[1], n * 4), "centered %d: dx differs", centered);
                CHECK(!memcmp(g[0], g[1], np * 4), "centered %d: dw differs", centered);
            }
        }
        for (int k = 0; k < 2; k++) { free(y[k]); free(dx[k]); free(g[k]); }
    }
    mn_set_threads(0);
    free(x);
    free(dy);
}
