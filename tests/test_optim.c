/* Optimizers against their update rules written out in double, clipping, finiteness,
 * schedules, defaults and name parsing. */
#include "test.h"
#include "optim.h"

#include <stdlib.h>
#include <string.h>

#define N3 3
static const double P0[N3] = {1.0, -2.0, 0.5};
/* A different gradient at each of three steps. */
static const double G[3][N3] = {{0.1, 0.2, -0.3}, {-0.4, 0.05, 0.3}, {0.2, -0.1, 0.0}};

/* Runs `steps` optimizer steps from P0 with the gradients G and compares with want. */
static void run_and_compare(const char *what, const mn_train_config *cfg, int steps, float lr,
                            const double want[N3]) {
    mn_optimizer o;
    float p[N3], g[N3];
    for (int i = 0; i < N3; i++) p[i] = (float)P0[i];
    REQUIRE_OK(mn_optimizer_init(&o, cfg, N3));
    for (int s = 0; s < steps; s++) {
        for (int i = 0; i < N3; i++) g[i] = (float)G[s][i];
        mn_optimizer_step(&o, p, g, lr);
    }
    for (int i = 0; i < N3; i++)
        CHECK(fabs(p[i] - want[i]) < 2e-6 * (1 + fabs(want[i])), "%s: p[%d] = %.9g, want "
              "%.9g", what, i, p[i], want[i]);
    CHECK(o.t == steps, "%s: t = %ld", what, o.t);
    mn_optimizer_free(&o);
}

static mn_train_config base(mn_optimizer_kind kind, float wd, float momentum) {
    mn_train_config c;
    mn_train_config_init(&c);
    c.optimizer = kind;
    c.weight_decay = wd;
    c.momentum = momentum;
    return c;
}

TEST(optim_sgd) {
    const double lr = 0.1, wd = 0.01, mu = 0.9;
    double p[N3], buf[N3], want[N3];
    /* Plain SGD, two steps: p -= lr·g. */
    for (int i = 0; i < N3; i++) want[i] = P0[i] - lr * G[0][i] - lr * G[1][i];
    mn_train_config c = base(MN_OPT_SGD, 0, 0);
    run_and_compare("sgd", &c, 2, (float)lr, want);

    /* Momentum and weight decay, three steps: buf = g + wd·p first, then μ·buf + g'. */
    for (int i = 0; i < N3; i++) p[i] = P0[i];
    for (int s = 0; s < 3; s++)
        for (int i = 0; i < N3; i++) {
            double g = G[s][i] + wd * p[i];
            buf[i] = s == 0 ? g : mu * buf[i] + g;
            p[i] -= lr * buf[i];
        }
    c = base(MN_OPT_SGD, (float)wd, (float)mu);
    run_and_compare("sgd momentum wd", &c, 3, (float)lr, p);
}

/* Adam (coupled decay) or AdamW (decoupled), written out in double. */
static void adam_reference(int decoupled, double lr, double wd, int steps, double out[N3]) {
    const double b1 = 0.9, b2 = 0.999, eps = 1e-8;
    double p[N3], m[N3] = {0}, v[N3] = {0};
    for (int i = 0; i < N3; i++) p[i] = P0[i];
    for (int t = 1; t <= steps; t++)
        for (int i = 0; i < N3; i++) {
            double g = G[t - 1][i];
            if (decoupled) p[i] -= lr * wd * p[i];
            else g += wd * p[i];
            m[i] = b1 * m[i] + (1 - b1) * g;
            v[i] = b2 * v[i] + (1 - b2) * g * g;
            double mh = m[i] / (1 - pow(b1, t)), vh = v[i] / (1 - pow(b2, t));
            p[i] -= lr * mh / (sqrt(vh) + eps);
        }
    memcpy(out, p, sizeof p);
}

TEST(optim_adam_and_adamw) {
    double want[N3];
    /* First Adam step moves each weight by lr·sign(g) (m̂/√v̂ = g/|g|), except g = 0. */
    mn_train_config c = base(MN_OPT_ADAM, 0, 0.9f);
    adam_reference(0, 0.01, 0, 1, want);
    CHECK(fabs(want[0] - (1.0 - 0.01)) < 1e-9 && fabs(want[2] - (0.5 + 0.01)) < 1e-9,
          "reference first step %g %g", want[0], want[2]);
    run_and_compare("adam 1 step", &c, 1, 0.01f, want);
    adam_reference(0, 0.01, 0, 3, want);
    run_and_compare("adam 3 steps", &c, 3, 0.01f, want);

    c = base(MN_OPT_ADAM, 0.1f, 0.9f);
    adam_reference(0, 0.01, 0.1, 3, want);
    run_and_compare("adam wd", &c, 3, 0.01f, want);

    c = base(MN_OPT_ADAMW, 0.1f, 0.9f);
    adam_reference(1, 0.01, 0.1, 3, want);
    run_and_compare("adamw wd", &c, 3, 0.01f, want);
    /* AdamW with no decay is Adam. */
    c = base(MN_OPT_ADAMW, 0, 0.9f);
    adam_reference(0, 0.01, 0, 2, want);
    run_and_compare("adamw no wd", &c, 2, 0.01f, want);
}

TEST(optim_large_update_same_for_any_threads) {
    /* Above the parallel threshold; element-wise updates must not depend on threads. */
    const size_t n = (1u << 17) + 3;
    float *p1 = malloc(n * sizeof(float)), *p2 = malloc(n * sizeof(float));
    float *g = malloc(n * sizeof(float));
    REQUIRE(p1 && p2 && g, "malloc");
    for (size_t i = 0; i < n; i++) {
        p1[i] = p2[i] = (float)sin((double)i);
        g[i] = (float)cos((double)i * 0.7);
    }
    int threads = mn_get_threads();
    mn_train_config c = base(MN_OPT_ADAMW, 0.01f, 0.9f);
    mn_optimizer o1, o2;
    REQUIRE_OK(mn_optimizer_init(&o1, &c, n));
    REQUIRE_OK(mn_optimizer_init(&o2, &c, n));
    mn_set_threads(1);
    for (int s = 0; s < 2; s++) mn_optimizer_step(&o1, p1, g, 1e-3f);
    double n1 = mn_global_norm(p1, n);
    mn_set_threads(4);
    for (int s = 0; s < 2; s++) mn_optimizer_step(&o2, p2, g, 1e-3f);
    double n2 = mn_global_norm(p1, n);
    mn_set_threads(threads);
    CHECK(memcmp(p1, p2, n * sizeof(float)) == 0, "updates differ between 1 and 4 threads");
    CHECK(n1 == n2, "global norm differs between thread counts: %.17g vs %.17g", n1, n2);
    double ref = 0;
    for (size_t i = 0; i < n; i++) ref += (double)p1[i] * p1[i];
    CHECK(fabs(n1 - sqrt(ref)) < 1e-10 * sqrt(ref), "norm %.17g vs %.17g", n1, sqrt(ref));
    mn_optimizer_free(&o1);
    mn_optimizer_free(&o2);
    free(p1);
    free(p2);
    free(g);
}

TEST(optim_clipping) {
    float g[4] = {3, 0, -4, 0};
    double norm = mn_global_norm(g, 4);
    CHECK(norm == 5.0, "norm %g, want 5", norm);
    double f = mn_clip_global_norm(g, 4, norm, 1.0);
    CHECK(fabs(f - 0.2) < 1e-15, "factor %g", f);
    CHECK(fabs(mn_global_norm(g, 4) - 1.0) < 1e-7, "clipped norm %.9g",
          mn_global_norm(g, 4));
    CHECK(fabsf(g[0] - 0.6f) < 1e-7f && fabsf(g[2] + 0.8f) < 1e-7f && g[1] == 0,
          "direction changed: %g %g %g", g[0], g[1], g[2]);
    /* Below the threshold (and with no threshold) nothing changes. */
    float h[3] = {0.1f, -0.2f, 0.2f};
    CHECK(mn_clip_global_norm(h, 3, mn_global_norm(h, 3), 1.0) == 1.0 &&
          h[0] == 0.1f && h[1] == -0.2f && h[2] == 0.2f, "clipped below threshold");
    CHECK(mn_clip_global_norm(h, 3, 10.0, 0.0) == 1.0 && h[0] == 0.1f, "clipped with 0");

    float v[5] = {-5, 0.5f, 5, -0.25f, NAN};
    mn_clip_values(v, 5, 1.0f);
    CHECK(v[0] == -1 && v[1] == 0.5f && v[2] == 1 && v[3] == -0.25f, "clip_values %g %g %g %g",
          v[0], v[1], v[2], v[3]);
    CHECK(isnan(v[4]), "NaN must survive clipping so it is still detected");
}

TEST(optim_all_finite) {
    float x[4] = {1, -2, 3e38f, 0};
    CHECK(mn_all_finite(x, 4), "finite values flagged");
    CHECK(mn_all_finite(x, 0), "empty buffer flagged");
    x[2] = NAN;
    CHECK(!mn_all_finite(x, 4), "NaN missed");
    x[2] = INFINITY;
    CHECK(!mn_all_finite(x, 4), "+Inf missed");
    x[2] = -INFINITY;
    CHECK(!mn_all_finite(x, 4), "-Inf missed");
}

TEST(optim_schedule) {
    mn_train_config c;
    mn_train_config_init(&c);
    c.lr = 1.0f;
    c.warmup_steps = 10;
    c.steps = 111;
    /* Warmup: lr/10, 2lr/10, ..., lr at step 9. */
    for (int s = 0; s < 10; s++)
        CHECK(fabs(mn_schedule_lr(&c, s) - (s + 1) / 10.0) < 1e-12, "warmup step %d: %g", s,
              mn_schedule_lr(&c, s));
    CHECK(mn_schedule_lr(&c, 50) == 1.0, "constant after warmup: %g", mn_schedule_lr(&c, 50));

    c.schedule = MN_SCHED_COSINE;
    c.min_lr_ratio = 0.1f;
    double floor = (double)c.min_lr_ratio;
    CHECK(fabs(mn_schedule_lr(&c, 10) - 1.0) < 1e-12, "right after warmup: %g",
          mn_schedule_lr(&c, 10));
    CHECK(fabs(mn_schedule_lr(&c, 110) - floor) < 1e-12, "last step: %g",
          mn_schedule_lr(&c, 110));
    CHECK(fabs(mn_schedule_lr(&c, 60) - (floor + (1 - floor) / 2)) < 1e-12, "midpoint: %g",
          mn_schedule_lr(&c, 60));
    CHECK(fabs(mn_schedule_lr(&c, 500) - floor) < 1e-12, "past the end: %g",
          mn_schedule_lr(&c, 500));
    for (int s = 10; s < 110; s++)
        CHECK(mn_schedule_lr(&c, s + 1) < mn_schedule_lr(&c, s), "not decreasing at %d", s);
}

TEST(optim_config_and_parse) {
    mn_train_config c;
    mn_train_config_init(&c);
    CHECK(c.steps == 2000 && c.batch_size == 32 && c.optimizer == MN_OPT_ADAM &&
          c.lr == 5e-3f && c.beta1 == 0.9f && c.beta2 == 0.999f && c.eps == 1e-8f &&
          c.weight_decay == 0 && c.momentum == 0.9f && c.schedule == MN_SCHED_CONSTANT &&
          c.warmup_steps == 0 && c.min_lr_ratio == 0.1f && c.clip_norm == 1.0f &&
          c.clip_value == 0 && c.tbptt == 0 && c.seed == 1 && c.eval_size == 1000,
          "defaults");
    mn_optimizer_kind k = MN_OPT_SGD;
    CHECK(mn_optimizer_parse("adam", &k) == MN_OK && k == MN_OPT_ADAM, "adam");
    CHECK(mn_optimizer_parse("adamw", &k) == MN_OK && k == MN_OPT_ADAMW, "adamw");
    CHECK(mn_optimizer_parse("sgd", &k) == MN_OK && k == MN_OPT_SGD, "sgd");
    CHECK(mn_optimizer_parse("rmsprop", &k) == MN_E_ARG && k == MN_OPT_SGD, "rmsprop");
    CHECK(strstr(mn_last_error(), "rmsprop") && strstr(mn_last_error(), "adamw"),
          "message: %s", mn_last_error());
    CHECK(mn_optimizer_parse(NULL, &k) == MN_E_ARG, "NULL name");

    mn_optimizer o;
    c.beta2 = 1.0f;
    CHECK(mn_optimizer_init(&o, &c, 4) == MN_E_ARG, "beta2 = 1 accepted");
    c.beta2 = 0.999f;
    c.weight_decay = -1;
    CHECK(mn_optimizer_init(&o, &c, 4) == MN_E_ARG, "negative weight decay accepted");
}
