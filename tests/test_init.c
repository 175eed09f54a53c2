/* Initializers: orthogonal blocks are orthogonal, identity is gain·I, the LSTM forget
 * bias and chrono init land in the right gate block. */
#include "test.h"
#include "init.h"
#include "model.h"

#include <string.h>

static float *tensor(mn_model *m, const char *name, int *rows, int *cols) {
    for (int i = 0; i < m->ntensors; i++)
        if (strcmp(m->tensors[i].name, name) == 0) {
            *rows = m->tensors[i].shape[0];
            *cols = m->tensors[i].ndim > 1 ? m->tensors[i].shape[1] : 1;
            return m->params + m->tensors[i].offset;
        }
    return NULL;
}

/* max |(W·Wᵀ − g²·I)_ij| for an n×n block */
static double orthogonality_error(const float *w, int n, double g2) {
    double worst = 0;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            double d = 0;
            for (int k = 0; k < n; k++) d += (double)w[i * n + k] * w[j * n + k];
            worst = fmax(worst, fabs(d - (i == j ? g2 : 0.0)));
        }
    return worst;
}

TEST(init_orthogonal_rows_are_orthonormal_times_gain) {
    mn_rng r;
    mn_rng_seed(&r, 1);
    float w[12 * 12];
    REQUIRE_OK(mn_init_orthogonal(w, 12, 12, 0.5f, &r));
    double worst = orthogonality_error(w, 12, 0.25);
    CHECK(worst < 1e-5, "W·Wᵀ differs from gain²·I by %g", worst);
}

TEST(init_lstm_orthogonal_forget_bias_and_chrono) {
    mn_model_config c;
    mn_model_config_init(&c);
    c.cell = MN_LSTM;
    c.input_size = 3;
    c.hidden_size = 8;
    c.recurrent_init = MN_INIT_ORTHOGONAL;
    c.forget_bias = 2.5f;
    mn_model *m;
    REQUIRE_OK(mn_model_create(&c, 3, &m));
    int rows, cols;
    float *whh = tensor(m, "rnn.weight_hh_l0", &rows, &cols);
    float *bih = tensor(m, "rnn.bias_ih_l0", &rows, &cols);
    float *bhh = tensor(m, "rnn.bias_hh_l0", &rows, &cols);
    REQUIRE(whh && bih && bhh, "tensors missing");
    for (int g = 0; g < 4; g++) {            /* each gate block of W_hh is orthogonal */
        double worst = orthogonality_error(whh + g * 64, 8, 1.0);
        CHECK(worst < 1e-5, "gate block %d not orthogonal (%g)", g, worst);
    }
    for (int j = 0; j < 8; j++)
        CHECK(bih[8 + j] + bhh[8 + j] == 2.5f, "forget bias of unit %d is %g", j, bih[8 + j] + bhh[8 + j]);
    mn_model_free(m);

    c.chrono_tmax = 100;
    REQUIRE_OK(mn_model_create(&c, 3, &m));
    bih = tensor(m, "rnn.bias_ih_l0", &rows, &cols);
    bhh = tensor(m, "rnn.bias_hh_l0", &rows, &cols);
    for (int j = 0; j < 8; j++) {
        float bf = bih[8 + j] + bhh[8 + j], bi = bih[j] + bhh[j];
        CHECK(bf >= 0.0f && bf <= logf(99.0f) + 1e-5f, "chrono b_f %g outside [0, log 99]", bf);
        CHECK(bi == -bf, "chrono b_i %g != -b_f %g", bi, bf);
    }
    mn_model_free(m);
}

TEST(init_identity_recurrence_for_irnn) {
    mn_model_config c;
    mn_model_config_init(&c);
    c.cell = MN_RNN_RELU;
    c.input_size = 2;
    c.hidden_size = 5;
    c.recurrent_init = MN_INIT_IDENTITY;
    c.init_gain = 0.9f;
    mn_model *m;
    REQUIRE_OK(mn_model_create(&c, 3, &m));
    int rows, cols;
    float *whh = tensor(m, "rnn.weight_hh_l0", &rows, &cols);
    float *bhh = tensor(m, "rnn.bias_hh_l0", &rows, &cols);
    for (int i = 0; i < 5; i++) {
        for (int j = 0; j < 5; j++)
            CHECK(whh[i * 5 + j] == (i == j ? 0.9f : 0.0f), "W_hh[%d,%d] = %g", i, j, whh[i * 5 + j]);
        CHECK(bhh[i] == 0.0f, "IRNN bias not zero");
    }
    mn_model_free(m);
}

TEST(bench_peak_memory_within_1_5x_of_accounted) {
    mn_bench_config b = {MN_LSTM, 50, 8, 32, 64, 2, 0, 1, 1, 2, 1, NULL, 0};
    mn_bench_result r;
    REQUIRE_OK(mn_bench_run(&b, &r));
    double ratio = (double)r.peak_bytes / (double)r.model_bytes;
    printf("    peak %zu bytes, params+grads+adam+activations %zu bytes, ratio %.3f\n",
           r.peak_bytes, r.model_bytes, ratio);
    CHECK(ratio <= 1.5, "peak memory is %.2fx the accounted bytes", ratio);
    CHECK(r.gflops > 0 && r.ms_per_step > 0, "bench reported no time");
}
