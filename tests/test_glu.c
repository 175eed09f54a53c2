/* The glu and gelu kinds (src/layers/glu.c): NaN reach, the S4 block written as
 * --blocks (s4d,gelu,glu), and the memory estimate. Gradient checks: the registry loop of
 * tests/test_gradcheck.c; PyTorch fixtures: tests/test_conv.c. */
#include "test.h"
#include "glu.h"
#include "layer_check.h"
#include "registry.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* A NaN input reaches exactly its own position's outputs (glu: the whole row, as the
 * linear map mixes features), and the gradient of a NaN output is NaN, as PyTorch. */
TEST(glu_gelu_nan_propagates) {
    enum { T = 3, B = 2, D = 4 };
    for (int kind = 0; kind < 2; kind++) {
        mn_layer *l = kind ? mn_glu_create(D) : mn_gelu_create(D);
        REQUIRE(l, "create: %s", mn_last_error());
        mn_check_alloc_params(l);
        mn_rng r;
        mn_rng_seed(&r, 3);
        l->ops->init(l, &r, &(mn_init_config){0});
        float x[T * B * D], y[T * B * D], dy[T * B * D], dx[T * B * D] = {0};
        mn_check_randomize(x, T * B * D, &r, 1.0f);
        for (int i = 0; i < T * B * D; i++) dy[i] = 1.0f;
        size_t bad = (size_t)(1 * B + 1) * D + 2;     /* t = 1, b = 1, feature 2 */
        x[bad] = NAN;
        REQUIRE_OK(l->ops->forward(l, x, y, T, B, NULL));
        REQUIRE_OK(l->ops->backward(l, dy, dx, T, B, NULL));
        for (int i = 0; i < T * B * D; i++) {
            int row_hit = (size_t)i / D == bad / D;
            int hit = kind ? row_hit : (size_t)i == bad;
            CHECK(isnan(y[i]) == hit, "%s: y[%d] = %g", l->ops->kind, i, y[i]);
            CHECK(isnan(dx[i]) == (kind ? row_hit : hit), "%s: dx[%d] = %g", l->ops->kind, i,
                  dx[i]);
        }
        if (kind) {   /* the NaN row's weight gradients are NaN, every other is finite */
            int nan_w = 0;
            for (size_t i = 0; i < l->param_count; i++) nan_w += isnan(l->grads[i]);
            CHECK(nan_w > 0, "glu: a NaN input left every weight gradient finite");
        }
        mn_check_free_layer(l);
    }
}

/* GELU's values against its definition, including the tails where Φ saturates. */
TEST(gelu_matches_erf_definition) {
    mn_layer *l = mn_gelu_create(1);
    REQUIRE(l, "create: %s", mn_last_error());
    float x[9] = {-30, -6, -1.5f, -0.1f, 0, 0.1f, 1.5f, 6, 30}, y[9];
    REQUIRE_OK(l->ops->forward(l, x, y, 9, 1, NULL));
    for (int i = 0; i < 9; i++) {
        double ref = 0.5 * x[i] * (1 + erf(x[i] / sqrt(2.0)));
        CHECK(fabs(y[i] - ref) <= 1e-6 * fmax(1, fabs(ref)), "gelu(%g) = %g, want %g", x[i],
              y[i], ref);
    }
    CHECK(mn_layer_bytes(l) == 0 && l->param_count == 0, "gelu holds parameters or memory");
    mn_layer_destroy(l);
}

/* S4's block as blocks: s4d, gelu, then glu or linear; widths kept, parameters counted. */
TEST(glu_s4_block_as_blocks) {
    mn_model_config c;
    mn_model_config_init(&c);
    c.input_size = 6;
    c.output_size = 1;
    REQUIRE_OK(mn_blocks_parse("s4d:state=4,gelu,glu:residual:layernorm", &c));
    char buf[128];
    mn_blocks_format(&c, buf, sizeof buf);
    CHECK(!strcmp(buf, "s4d:state=4,gelu,glu:residual:pre:layernorm"), "formatted '%s'", buf);
    mn_model *m = NULL;
    REQUIRE_OK(mn_model_create(&c, 1, &m));
    size_t s4d = 6 + 6 * 2 * 2 + 6 + 2 * 6 * 2, glu = 12 * 6 + 12, norm = 12, head = 7;
    CHECK(mn_model_param_count(m) == s4d + glu + norm + head, "%zu parameters, want %zu",
          mn_model_param_count(m), s4d + glu + norm + head);
    mn_model_free(m);
}

TEST(glu_memory_estimate_matches_peak) {
    const char *spec = "s4d:state=8,gelu,glu,linear:8";
    mn_model_config c;
    mn_model_config_init(&c);
    c.input_size = 12;
    c.output = MN_OUTPUT_EVERY;
    c.output_size = 1;
    REQUIRE_OK(mn_blocks_parse(spec, &c));
    for (int train = 0; train < 2; train++) {
        mn_bench_config b = {MN_LSTM, 200, 3, 12, 32, 1, 0, train, 0, 1, 7, spec, 0};
        mn_bench_result r;
        size_t peak = 0;
        for (int pass = 0; pass < 2; pass++)
            peak = mn_bench_run(&b, &r) == MN_OK ? r.peak_bytes : 0;
        REQUIRE(peak > 0, "bench failed: %s", mn_last_error());
        mn_memory_estimate e;
        REQUIRE_OK(mn_memory_estimate_run(&c, 200, 3, train, &e));
        double err = fabs((double)(e.total - e.scratch) - (double)peak) / (double)peak;
        CHECK(err <= 0.01, "train=%d: estimate %zu, measured %zu (%.2f%% off)", train,
              e.total - e.scratch, peak, 100 * err);
    }
}
