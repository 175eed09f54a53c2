/* Diagnostics on cases with known answers: an orthogonal (times ρ) linear recurrence, a
 * diagonal recurrence, an LSTM with its forget gate held fixed, truncated BPTT, and the
 * verdict on synthetic profiles. The tanh RNN runs at zero state with zero input, where
 * tanh' = 1, so it is exactly the linear recurrence h_t = W h_{t-1}. */
#include "test.h"
#include "init.h"
#include "model.h"

#include <stdlib.h>
#include <string.h>

static float *tensor(mn_model *m, const char *name, int *n) {
    for (int i = 0; i < mn_model_tensor_count(m); i++) {
        const char *nm;
        int nd;
        const int *shape;
        float *data, *grad;
        mn_model_tensor(m, i, &nm, &nd, &shape, &data, &grad);
        if (!strcmp(nm, name)) {
            *n = 1;
            for (int d = 0; d < nd; d++) *n *= shape[d];
            return data;
        }
    }
    return NULL;
}

static void zero(mn_model *m, const char *name) {
    int n;
    float *p = tensor(m, name, &n);
    if (p) memset(p, 0, (size_t)n * sizeof(float));
}

/* One cell over dense input of width 1 with a last-step MSE head. */
static mn_model *scalar_model(mn_cell_kind cell, int H, uint64_t seed) {
    mn_model_config c;
    mn_model_config_init(&c);
    c.cell = cell;
    c.input_size = 1;
    c.hidden_size = H;
    c.output_size = 1;
    c.output = MN_OUTPUT_LAST;
    c.loss = MN_LOSS_MSE;
    mn_model *m = NULL;
    return mn_model_create(&c, seed, &m) == MN_OK ? m : NULL;
}

/* A linear-regime RNN: input (all zero), input weights and biases zeroed. */
static mn_model *linear_rnn(int H, uint64_t seed) {
    mn_model *m = scalar_model(MN_RNN_TANH, H, seed);
    if (!m) return NULL;
    zero(m, "rnn.weight_ih_l0");
    zero(m, "rnn.bias_ih_l0");
    zero(m, "rnn.bias_hh_l0");
    zero(m, "head.bias");
    return m;
}

typedef struct {
    mn_batch b;
    float x[1024 * 4], target[4];
    int32_t lengths[4];
} zero_batch;

static void make_batch(zero_batch *z, int T, int B) {
    memset(z, 0, sizeof *z);
    for (int i = 0; i < B; i++) {
        z->lengths[i] = T;
        z->target[i] = 1.0f + (float)i;
    }
    z->b = (mn_batch){.T = T, .B = B, .input_size = 1, .x = z->x, .lengths = z->lengths,
                      .output_size = 1, .target = z->target};
}

/* One backward pass through the model's own training code, recorded. */
static int profile(mn_model *m, const mn_batch *b, double *dh, double *dc) {
    mn_grad_recorder *r = NULL;
    if (mn_grad_recorder_attach(m, b->T, &r) != MN_OK) return 0;
    double items, sum;
    mn_model_loss_items(m, b, &items);
    mn_model_run(m, b, 0, b->T, 0, 1, 1.0 / items, &sum);
    int passes = mn_grad_recorder_profile(r, 0, dh, dc);
    mn_grad_recorder_detach(r);
    return passes;
}

TEST(diagnose_orthogonal_recurrence_keeps_the_gradient_norm) {
    const int T = 60, H = 16;
    const float rhos[] = {1.0f, 0.9f, 1.1f};
    for (int k = 0; k < 3; k++) {
        mn_model *m = linear_rnn(H, 7);
        REQUIRE(m, "model: %s", mn_last_error());
        int n;
        float *W = tensor(m, "rnn.weight_hh_l0", &n);
        mn_rng rng;
        mn_rng_seed(&rng, 11);
        mn_init_orthogonal(W, H, H, rhos[k], &rng);
        zero_batch z;
        make_batch(&z, T, 3);
        double dh[60], ratio[60];
        REQUIRE(profile(m, &z.b, dh, NULL) == 1, "one pass recorded");
        mn_gradient_ratio(dh, T, ratio);
        double worst = 0;
        for (int lag = 0; lag < T; lag++)
            worst = fmax(worst, fabs(ratio[lag] / pow(rhos[k], lag) - 1));
        CHECK(worst < 1e-4, "rho %.1f: gradient ratio vs rho^lag off by %.3g", rhos[k], worst);
        if (rhos[k] == 1.0f)
            CHECK(mn_gradient_horizon(dh, T, 1e-3) == T - 1, "rho 1: full horizon");

        mn_recurrence_stats rs;
        REQUIRE_OK(mn_recurrence_measure(m, &z.b, 0, 0, &rs));
        CHECK(fabs(rs.spectral_radius - rhos[k]) < 1e-3, "spectral radius %.6f, want %.2f",
              rs.spectral_radius, rhos[k]);
        for (int i = 0; i < MN_DIAG_SINGULAR; i++) {
            CHECK(fabs(rs.singular[i] - rhos[k]) < 1e-3, "singular value %d: %.6f", i,
                  rs.singular[i]);
            double want = T * log10(rhos[k]);
            CHECK(fabs(rs.jacobian_log10_singular[i] - want) < 1e-3 * fmax(1, fabs(want)),
                  "rho %.1f: log10 singular %d of the Jacobian product %.6f, want %.6f",
                  rhos[k], i, rs.jacobian_log10_singular[i], want);
        }
        CHECK(fabs(rs.lyapunov - log(rhos[k])) < 1e-4, "Lyapunov %.6f, want %.6f",
              rs.lyapunov, log(rhos[k]));
        CHECK(rs.sequences == 3 && rs.steps == T && rs.state_size == H, "counts");
        mn_model_free(m);
    }
}

/* Diagonal W: unit j decays as d_j^lag. The head reads one unit at a time, so the whole
 * gradient sits on that unit and the profile is d_j^lag exactly. */
TEST(diagnose_diagonal_recurrence_decays_per_unit) {
    const int T = 400, H = 4;
    const float d[4] = {0.5f, 0.8f, 0.95f, 1.0f};
    mn_model *m = linear_rnn(H, 3);
    REQUIRE(m, "model");
    int n;
    float *W = tensor(m, "rnn.weight_hh_l0", &n), *head = tensor(m, "head.weight", &n);
    memset(W, 0, (size_t)H * H * sizeof(float));
    for (int j = 0; j < H; j++) W[j * H + j] = d[j];
    zero_batch z;
    make_batch(&z, T, 2);
    for (int j = 0; j < H; j++) {
        for (int i = 0; i < H; i++) head[i] = i == j ? 1.0f : 0.0f;
        double dh[400];
        REQUIRE(profile(m, &z.b, dh, NULL) == 1, "recorded");
        double worst = 0;
        for (int lag = 0; lag < 40; lag++)
            worst = fmax(worst, fabs(dh[T - 1 - lag] / dh[T - 1] - pow(d[j], lag)));
        CHECK(worst < 1e-5, "unit %d (d=%.2f): profile off d^lag by %.3g", j, d[j], worst);
        int want = (int)floor(log(1e-3) / log(d[j]));
        if (d[j] == 1.0f || want > T - 1) want = T - 1;
        int got = mn_gradient_horizon(dh, T, 1e-3);
        CHECK(abs(got - want) <= 1, "unit %d: horizon %d, closed form %d", j, got, want);
    }
    /* The QR method's total carries an O(1) term from its random start, so over T steps
     * the per-step rates are exact to O(1/T). */
    mn_recurrence_stats rs;
    REQUIRE_OK(mn_recurrence_measure(m, &z.b, 0, 1, &rs));
    for (int i = 0; i < MN_DIAG_SINGULAR; i++) {
        double want = log10(d[H - 1 - i]), got = rs.jacobian_log10_singular[i] / T;
        CHECK(fabs(got - want) < 2.0 / T, "singular %d: %.5f per step, want %.5f", i, got, want);
    }
    CHECK(fabs(rs.lyapunov) < 2.0 / T, "Lyapunov %.5f, want 0", rs.lyapunov);
    CHECK(fabs(rs.spectral_radius - 1.0) < 1e-3, "spectral radius %.5f", rs.spectral_radius);
    mn_model_free(m);
}

/* LSTM with W_hh = 0 and the forget gate's pre-activation fixed at logit(f): the cell
 * gradient decays as f^lag and every unit's half-life is ln 0.5 / ln f. */
TEST(diagnose_lstm_fixed_forget_gate) {
    const int T = 250, H = 8;
    const double f = 0.97;
    mn_model *m = scalar_model(MN_LSTM, H, 5);
    CHECK(m != NULL, "LSTM model: %s", mn_last_error());
    if (!m) return;
    int n;
    zero(m, "rnn.weight_hh_l0");
    float *wih = tensor(m, "rnn.weight_ih_l0", &n), *bih = tensor(m, "rnn.bias_ih_l0", &n),
          *bhh = tensor(m, "rnn.bias_hh_l0", &n);
    for (int j = 0; j < H; j++) {
        wih[H + j] = 0.0f;                         /* f rows of W_ih ([4H, 1]) */
        bih[H + j] = (float)log(f / (1 - f));
        bhh[H + j] = 0.0f;
    }
    zero_batch z;
    make_batch(&z, T, 3);
    mn_rng rng;
    mn_rng_seed(&rng, 9);
    for (int i = 0; i < T * 3; i++) z.x[i] = (float)mn_rng_normal(&rng);
    double dh[250], dc[250];
    REQUIRE(profile(m, &z.b, dh, dc) == 1, "recorded");
    double worst = 0;
    for (int lag = 0; lag < T; lag++)
        worst = fmax(worst, fabs(dc[T - 1 - lag] / dc[T - 1] / pow(f, lag) - 1));
    CHECK(worst < 1e-4, "cell-gradient ratio vs f^lag off by %.3g", worst);
    for (int t = 0; t < T - 1; t++) CHECK(dh[t] < 1e-30, "dh[%d] = %g with W_hh = 0", t, dh[t]);

    mn_gate_stats gs;
    double keep[8], hl[8];
    REQUIRE_OK(mn_gate_stats_measure(m, &z.b, 0, &gs, keep, hl));
    double want = log(0.5) / log(f);
    CHECK(gs.has_gates && gs.units == H, "gated");
    for (int j = 0; j < H; j++) CHECK(fabs(hl[j] / want - 1) < 1e-4, "half-life %g, want %g", hl[j], want);
    CHECK(fabs(gs.half_life_median / want - 1) < 1e-4 && fabs(gs.half_life_min / want - 1) < 1e-4,
          "median %g min %g", gs.half_life_median, gs.half_life_min);
    CHECK(fabs(gs.keep_mean - f) < 1e-6, "keep %g", gs.keep_mean);
    CHECK(gs.saturated_gates > 0.3, "f = 0.97 is saturated: %.3f", gs.saturated_gates);

    /* the (h, c) Jacobian with W_hh = 0 maps only c_{t-1}, through f on each unit: the
     * product's H leading singular values are f^T, up to the O(1) start term of the QR
     * method */
    mn_recurrence_stats rs;
    REQUIRE_OK(mn_recurrence_measure(m, &z.b, 0, 0, &rs));
    CHECK(rs.state_size == 2 * H, "state (h, c)");
    CHECK(fabs(rs.lyapunov - log(f)) < 3.0 / T, "Lyapunov %.6f, want %.6f", rs.lyapunov, log(f));
    for (int i = 0; i < MN_DIAG_SINGULAR; i++)
        CHECK(fabs(rs.jacobian_log10_singular[i] / T - log10(f)) < 2.0 / T,
              "singular %d: %.5f per step, want %.5f", i, rs.jacobian_log10_singular[i] / T,
              log10(f));
    mn_model_free(m);
}

TEST(diagnose_half_life) {
    CHECK(fabs(mn_half_life(0.5) - 1) < 1e-12, "f = 0.5: one step");
    CHECK(fabs(mn_half_life(0.99) - 68.967) < 1e-3, "f = 0.99: %g", mn_half_life(0.99));
    CHECK(mn_half_life(1.0) == MN_HALF_LIFE_MAX && mn_half_life(0) == 0, "limits");
}

TEST(diagnose_tbptt_cuts_the_gradient) {
    const int T = 60, k = 10;
    mn_task *task = NULL;
    REQUIRE_OK(mn_task_create("adding", T, 1, &task));
    mn_model_config mc;
    mn_model_config_init(&mc);
    mn_task_configure_model(task, &mc);
    mc.hidden_size = 8;
    mn_model *m = NULL;
    REQUIRE_OK(mn_model_create(&mc, 1, &m));
    mn_train_config tc;
    mn_train_config_init(&tc);
    tc.batch_size = 4;
    tc.tbptt = k;
    mn_trainer *tr = NULL;
    REQUIRE_OK(mn_trainer_create(m, task, &tc, &tr));
    mn_grad_recorder *r = NULL;
    REQUIRE_OK(mn_grad_recorder_attach(m, T, &r));
    mn_step_stats ss;
    REQUIRE_OK(mn_trainer_step(tr, &ss));
    double dh[60];
    CHECK(mn_grad_recorder_profile(r, 0, dh, NULL) == 1, "one pass, however many chunks");
    for (int t = 0; t < T; t++) {
        if (t < T - k) CHECK(dh[t] == 0.0, "step %d, %d back: %g, want exactly 0", t, T - 1 - t, dh[t]);
        else CHECK(dh[t] > 0, "step %d inside the last chunk: %g", t, dh[t]);
    }
    mn_grad_recorder_clear(r);
    CHECK(mn_grad_recorder_profile(r, 0, dh, NULL) == 0 && dh[T - 1] == 0, "cleared");
    mn_grad_recorder *again = NULL;
    CHECK(mn_grad_recorder_attach(m, T, &again) == MN_E_STATE, "one recorder per model");
    mn_grad_recorder_detach(r);
    mn_trainer_free(tr);
    mn_model_free(m);
    mn_task_free(task);
}

/* Exactly-zero lags (a dilated convolution's holes) are stepped over; a small nonzero one
 * ends the horizon, and so do zeros to the first step with no holes before them. */
TEST(diagnose_horizon_steps_over_structural_holes) {
    /* by lag: 1, 0, 0.5, 0, 0.2, 0, 1e-4, 0.3 (norm[T-1-lag]) */
    const double lags[8] = {1, 0, 0.5, 0, 0.2, 0, 1e-4, 0.3};
    double norm[8];
    for (int i = 0; i < 8; i++) norm[7 - i] = lags[i];
    CHECK(mn_gradient_horizon(norm, 8, 1e-3) == 4, "holes: horizon %d, want 4",
          mn_gradient_horizon(norm, 8, 1e-3));
    const double tail[6] = {1, 0.5, 0.1, 0, 0, 0};     /* underflowed to 0: vanished */
    for (int i = 0; i < 6; i++) norm[5 - i] = tail[i];
    CHECK(mn_gradient_horizon(norm, 6, 1e-3) == 2, "zeros at the end: horizon %d, want 2",
          mn_gradient_horizon(norm, 6, 1e-3));
    const double every_other[4] = {1, 0, 1, 0};
    for (int i = 0; i < 4; i++) norm[3 - i] = every_other[i];
    CHECK(mn_gradient_horizon(norm, 4, 1e-3) == 3, "a hole at the first step, as between "
          "reached lags: horizon %d, want 3", mn_gradient_horizon(norm, 4, 1e-3));
    const double two_holes[5] = {1, 0.5, 0, 0, 0.5};   /* a hole of 2 within: 1 at the end */
    for (int i = 0; i < 5; i++) norm[4 - i] = two_holes[i];
    CHECK(mn_gradient_horizon(norm, 5, 1e-3) == 4, "holes of 2: horizon %d, want 4",
          mn_gradient_horizon(norm, 5, 1e-3));
}

TEST(diagnose_verdicts) {
    double g[100];
    mn_verdict v;
    mn_verdict_input in = {.grad_norm = g, .T = 100, .span = 99, .train_loss = 0.001,
                           .val_loss = 0.0012, .baseline_loss = 0.1667, .cell = MN_RNN_TANH,
                           .clip_norm = 1};
    for (int t = 0; t < 100; t++) g[t] = pow(0.8, 99 - t);     /* decays going back */
    REQUIRE_OK(mn_diagnose_verdict(&in, &v));
    CHECK(v.flow == MN_FLOW_VANISHING && v.horizon == 30, "decay 0.8: %s, horizon %d",
          mn_flow_name(v.flow), v.horizon);
    CHECK(strstr(v.advice, "--model lstm") != NULL, "advice names gated cells: %s", v.advice);
    CHECK(v.fit == MN_FIT_GOOD, "fit %s", mn_fit_name(v.fit));
    in.state_space = 1;                /* S4D, Mamba: no cell or gate to advise on */
    REQUIRE_OK(mn_diagnose_verdict(&in, &v));
    CHECK(strstr(v.advice, "state space") && !strstr(v.advice, "--model lstm") &&
          !strstr(v.advice, "--chrono"), "state-space advice: %s", v.advice);
    in.state_space = 0;
    for (int t = 0; t < 100; t++) g[t] = 1.0 + 0.1 * (t % 3);  /* flat */
    in.train_loss = in.val_loss = 0.16;
    REQUIRE_OK(mn_diagnose_verdict(&in, &v));
    CHECK(v.flow == MN_FLOW_HEALTHY && v.horizon == 99, "flat: %s", mn_flow_name(v.flow));
    CHECK(v.fit == MN_FIT_UNDER, "at the baseline: %s", mn_fit_name(v.fit));
    for (int t = 0; t < 100; t++) g[t] = pow(1.2, 99 - t);     /* grows going back */
    in.clip_norm = 0;
    REQUIRE_OK(mn_diagnose_verdict(&in, &v));
    CHECK(v.flow == MN_FLOW_EXPLODING, "growth 1.2: %s", mn_flow_name(v.flow));
    CHECK(strstr(v.advice, "--clip") != NULL, "advice: clipping: %s", v.advice);
    in.train_loss = 0.01;
    in.val_loss = 0.05;
    REQUIRE_OK(mn_diagnose_verdict(&in, &v));
    CHECK(v.fit == MN_FIT_OVER, "val 5x train: %s", mn_fit_name(v.fit));
    in.T = 0;
    CHECK(mn_diagnose_verdict(&in, &v) == MN_E_ARG, "empty profile refused");
}
