/* mn_attention_measure (src/diag/attention_stats.c) on attention whose weights are known:
 * with W_q = W_k = 0 every query looks at its keys alike, so its entropy is ln(keys) and
 * its distance the mean |t − j| over them, computed here. */
#include "test.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static void check_uniform(int causal) {
    enum { T = 9, B = 2, D = 8 };
    mn_model_config c;
    mn_model_config_init(&c);
    c.input_size = D;
    c.output_size = 1;
    c.output = MN_OUTPUT_EVERY;
    REQUIRE_OK(mn_blocks_parse(causal ? "attention:heads=2:causal" : "attention:heads=2", &c));
    mn_model *m;
    REQUIRE_OK(mn_model_create(&c, 3, &m));
    for (int i = 0; i < mn_model_tensor_count(m); i++) {
        const char *name;
        const int *shape;
        float *data;
        int ndim;
        REQUIRE_OK(mn_model_tensor(m, i, &name, &ndim, &shape, &data, NULL));
        if (strstr(name, "in_proj_weight")) memset(data, 0, (size_t)2 * D * D * sizeof(float));
    }
    float x[T * B * D], y[T * B];
    for (int i = 0; i < T * B * D; i++) x[i] = (float)sin(0.37 * i);
    int32_t len[B] = {T, 5};
    mn_batch b = {.T = T, .B = B, .input_size = D, .x = x, .lengths = len, .output_size = 1,
                  .target = y};
    memset(y, 0, sizeof y);
    mn_attention_stats a;
    REQUIRE_OK(mn_attention_measure(m, &b, 0, &a));
    double dist = 0, ent = 0;
    int q = 0;
    for (int s = 0; s < B; s++)
        for (int t = 0; t < len[s]; t++, q++) {
            int nk = causal ? t + 1 : len[s];
            double d = 0;
            for (int j = 0; j < nk; j++) d += fabs((double)(t - j));
            dist += d / nk;
            ent += log((double)nk);
        }
    CHECK(a.heads == 2 && a.queries == q, "heads %d queries %d (want 2, %d)", a.heads, a.queries, q);
    for (int h = 0; h < 2; h++) {
        CHECK(fabs(a.distance[h] - dist / q) < 1e-5, "head %d distance %g, want %g", h,
              a.distance[h], dist / q);
        CHECK(fabs(a.entropy[h] - ent / q) < 1e-5, "head %d entropy %g, want %g", h,
              a.entropy[h], ent / q);
    }
    CHECK(fabs(a.uniform_entropy - ent / q) < 1e-9, "uniform entropy %g", a.uniform_entropy);
    CHECK(mn_attention_measure(m, &b, 1, &a) == MN_E_ARG, "a block past the end");
    mn_model_free(m);
}

TEST(attention_measure_uniform_attention_bidirectional) { check_uniform(0); }
TEST(attention_measure_uniform_attention_causal) { check_uniform(1); }

TEST(attention_measure_refuses_a_block_without_attention) {
    mn_model_config c;
    mn_model_config_init(&c);
    c.input_size = 3;
    c.hidden_size = 4;
    c.output_size = 1;
    mn_model *m;
    REQUIRE_OK(mn_model_create(&c, 1, &m));
    float x[2 * 3] = {0}, y[1] = {0};
    int32_t len[1] = {2};
    mn_batch b = {.T = 2, .B = 1, .input_size = 3, .x = x, .lengths = len, .output_size = 1,
                  .target = y};
    mn_attention_stats a;
    CHECK(mn_attention_measure(m, &b, 0, &a) == MN_E_STATE, "an LSTM measured as attention");
    mn_model_free(m);
}
