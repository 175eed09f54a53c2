/* mnemo lab: each experiment against closed forms computed here, not only its own verdict.
 * Sizes are small so the whole file runs in a few seconds. */
#include "test.h"

#include <stdlib.h>
#include <string.h>

static mn_lab_result *run(const char *name, const mn_lab_options *o) {
    mn_lab_result *r = malloc(sizeof *r);
    if (!r) return NULL;
    mn_status st = mn_lab_run(name, o, r);
    if (st != MN_OK) {
        printf("    mn_lab_run(%s) -> %d: %s\n", name, (int)st, mn_last_error());
        free(r);
        return NULL;
    }
    return r;
}

/* The named figure of a result, or NaN when absent. */
static double number(const mn_lab_result *r, const char *name) {
    for (int i = 0; i < r->n_numbers; i++)
        if (!strcmp(r->numbers[i].name, name)) return r->numbers[i].value;
    return NAN;
}

static int close_rel(double a, double b, double tol) { return fabs(a / b - 1.0) <= tol; }

TEST(lab_lists_every_experiment) {
    const char *names = mn_lab_names();
    CHECK(mn_lab_count() == 28, "count %d", mn_lab_count());
    for (int i = 0; i < mn_lab_count(); i++) {
        const char *n, *s, *opts;
        CHECK_OK(mn_lab_info(i, &n, &s, &opts));
        CHECK(strstr(names, n) != NULL, "%s missing from '%s'", n, names);
        CHECK(s && *s && opts && *opts, "experiment %s has no summary or options", n);
    }
    CHECK(mn_lab_info(mn_lab_count(), NULL, NULL, NULL) == MN_E_ARG, "index past the end");
}

TEST(lab_rejects_bad_names_and_options) {
    mn_lab_result *r = malloc(sizeof *r);
    REQUIRE(r, "malloc");
    mn_lab_options o;
    mn_lab_options_init(&o);
    CHECK(mn_lab_run("nosuch", &o, r) == MN_E_ARG, "unknown experiment accepted");
    CHECK(strstr(mn_last_error(), "vanishing") != NULL, "message lists none: %s", mn_last_error());
    o.radius = -1;
    CHECK(mn_lab_run("vanishing", &o, r) == MN_E_ARG, "negative radius accepted");
    mn_lab_options_init(&o);
    o.length = 1;
    CHECK(mn_lab_run("vanishing", &o, r) == MN_E_ARG, "length 1 accepted");
    mn_lab_options_init(&o);
    o.forget = 1.0;
    CHECK(mn_lab_run("lstm-highway", &o, r) == MN_E_ARG, "forget 1 accepted");
    mn_lab_options_init(&o);
    o.n_lengths = 1;
    o.lengths[0] = 1;
    CHECK(mn_lab_run("adding-sweep", &o, r) == MN_E_ARG, "sweep length 1 accepted");
    free(r);
}

/* ‖∂L/∂h_0‖/‖∂L/∂h_{T-1}‖ = ρ^(T-1) over several ρ and T, and at every tabulated lag. */
TEST(lab_vanishing_matches_rho_power) {
    const struct { double rho; int T; } cases[] = {{0.9, 100}, {0.5, 20}, {0.95, 60}, {0.8, 200}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mn_lab_options o;
        mn_lab_options_init(&o);
        o.radius = cases[i].rho;
        o.length = cases[i].T;
        o.hidden = 16;
        mn_lab_result *r = run("vanishing", &o);
        REQUIRE(r, "vanishing failed to run");
        double th = pow(cases[i].rho, cases[i].T - 1);
        CHECK(close_rel(r->theory, th, 1e-12), "theory %g vs %g", r->theory, th);
        CHECK(close_rel(r->measured, th, 0.05), "rho %g T %d: measured %g, want %g",
              cases[i].rho, cases[i].T, r->measured, th);
        CHECK(r->pass && r->applies, "rho %g T %d: not PASS", cases[i].rho, cases[i].T);
        double m10 = number(r, "ratio_lag_10");
        CHECK(close_rel(m10, pow(cases[i].rho, 10), 1e-4), "lag 10: %g", m10);
        free(r);
    }
}

TEST(lab_vanishing_default_is_0_9_pow_99) {
    mn_lab_result *r = run("vanishing", NULL);
    REQUIRE(r, "run");
    CHECK(close_rel(r->measured, 2.9512665430652825e-05, 0.05), "measured %g", r->measured);
    CHECK(r->pass, "default vanishing does not PASS");
    CHECK(strstr(r->claim, "rho^(T-1)") != NULL, "claim: %s", r->claim);
    free(r);
}

/* 0.1^199 = 1e-199 is far below float32: reported as not applicable, never as PASS. */
TEST(lab_underflow_is_reported_not_hidden) {
    mn_lab_options o;
    mn_lab_options_init(&o);
    o.radius = 0.1;
    o.length = 200;
    o.hidden = 8;
    mn_lab_result *r = run("vanishing", &o);
    REQUIRE(r, "run");
    CHECK(!r->applies && !r->pass, "applies %d pass %d", r->applies, r->pass);
    CHECK(strstr(r->note, "float32") != NULL, "note: %s", r->note);
    CHECK(r->theory > 0 && r->theory < 1e-150, "theory %g", r->theory);
    free(r);
}

/* Scaling the loss gradient keeps ratios far below 1e-38 measurable: 0.5^149 ≈ 1.4e-45. */
TEST(lab_vanishing_measures_below_float_min) {
    mn_lab_options o;
    mn_lab_options_init(&o);
    o.radius = 0.5;
    o.length = 150;
    o.hidden = 8;
    mn_lab_result *r = run("vanishing", &o);
    REQUIRE(r, "run");
    CHECK(r->applies && close_rel(r->measured, pow(0.5, 149), 0.05), "measured %g", r->measured);
    free(r);
}

TEST(lab_exploding_and_clipping) {
    mn_lab_result *r = run("exploding", NULL);
    REQUIRE(r, "run");
    CHECK(close_rel(r->measured, pow(1.1, 99), 0.05), "measured %g", r->measured);
    double g = number(r, "grad_norm"), u = number(r, "update_norm");
    double c = number(r, "clipped_update_norm"), cos = number(r, "cosine");
    CHECK(g > 1, "the default setting must actually clip: gradient norm %g", g);
    CHECK(close_rel(u, g, 1e-3), "SGD lr 1 update %g vs gradient %g", u, g);
    CHECK(close_rel(c, 1.0, 1e-3), "clipped norm %g", c);
    CHECK(cos > 0.9999 && cos <= 1.0 + 1e-9, "cosine %.9f", cos);
    CHECK(r->pass, "exploding does not PASS");
    free(r);
    /* a threshold above the norm leaves the update alone */
    mn_lab_options o;
    mn_lab_options_init(&o);
    o.clip = 1e4;
    r = run("exploding", &o);
    REQUIRE(r, "run");
    CHECK(close_rel(number(r, "clipped_update_norm"), number(r, "update_norm"), 1e-6),
          "clip above the norm changed the update: %g vs %g",
          number(r, "clipped_update_norm"), number(r, "update_norm"));
    CHECK(r->pass, "no-op clipping does not PASS");
    free(r);
}

TEST(lab_lstm_highway_is_forget_power) {
    const struct { double f; int T; } cases[] = {{0.99, 100}, {0.9, 30}, {0.5, 12}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mn_lab_options o;
        mn_lab_options_init(&o);
        o.forget = cases[i].f;
        o.length = cases[i].T;
        o.hidden = 8;
        mn_lab_result *r = run("lstm-highway", &o);
        REQUIRE(r, "run");
        double th = pow(cases[i].f, cases[i].T - 1);
        CHECK(close_rel(r->measured, th, 0.05), "f %g T %d: measured %g want %g", cases[i].f,
              cases[i].T, r->measured, th);
        CHECK(close_rel(number(r, "rnn_measured"), pow(0.9, cases[i].T - 1), 0.05),
              "RNN beside it: %g", number(r, "rnn_measured"));
        CHECK(r->pass, "f %g T %d not PASS", cases[i].f, cases[i].T);
        free(r);
    }
}

TEST(lab_orthogonal_ratio_is_one) {
    mn_lab_options o;
    mn_lab_options_init(&o);
    o.length = 1000;
    o.hidden = 16;
    mn_lab_result *r = run("orthogonal", &o);
    REQUIRE(r, "run");
    CHECK(r->theory == 1.0, "theory %g", r->theory);
    CHECK(fabs(r->measured - 1.0) <= 1e-3, "ratio over 999 steps %.9f", r->measured);
    CHECK(r->pass, "not PASS");
    /* PyTorch's default W_hh on the same recurrence loses the gradient */
    CHECK(number(r, "uniform_init_ratio") < 1e-6, "uniform init ratio %g",
          number(r, "uniform_init_ratio"));
    free(r);
}

TEST(lab_tbptt_zeros_are_exact) {
    mn_lab_options o;
    mn_lab_options_init(&o);
    o.length = 40;
    o.hidden = 8;
    o.tbptt = 10;
    mn_lab_result *r = run("tbptt", &o);
    REQUIRE(r, "run");
    CHECK(r->theory == 10 && r->measured == 10, "nonzero steps %g (theory %g)", r->measured,
          r->theory);
    CHECK(r->pass && number(r, "nonzero_steps_full") == 40, "full BPTT nonzero %g",
          number(r, "nonzero_steps_full"));
    free(r);
    /* chunks 0, 15, 30: the last one holds 10 steps, not k = 15 */
    o.tbptt = 15;
    r = run("tbptt", &o);
    REQUIRE(r, "run");
    CHECK(r->theory == 10 && r->measured == 10 && r->pass, "k 15: %g of %g", r->measured,
          r->theory);
    free(r);
    /* one chunk: nothing truncated, the claim does not apply */
    o.tbptt = 40;
    r = run("tbptt", &o);
    REQUIRE(r, "run");
    CHECK(!r->applies && !r->pass && r->measured == 40, "k = T: applies %d measured %g",
          r->applies, r->measured);
    free(r);
}

TEST(lab_forget_bias_half_life_closed_form) {
    mn_lab_options o;
    mn_lab_options_init(&o);
    o.hidden = 8;
    o.length = 20;
    o.n_forget_bias = 3;
    o.forget_bias[0] = -1;
    o.forget_bias[1] = 0;
    o.forget_bias[2] = 3;
    mn_lab_result *r = run("forget-bias", &o);
    REQUIRE(r, "run");
    double want[3];
    for (int i = 0; i < 3; i++) {
        want[i] = log(0.5) / log(1.0 / (1.0 + exp(-o.forget_bias[i])));
        char name[48];
        snprintf(name, sizeof name, "half_life_exact_%d", i);
        CHECK(close_rel(number(r, name), want[i], 1e-3), "b_f %g: %g want %g",
              o.forget_bias[i], number(r, name), want[i]);
    }
    CHECK(number(r, "half_life_exact_1") > 0.999 && number(r, "half_life_exact_1") < 1.001,
          "b_f 0 must give a half-life of 1 step");
    CHECK(close_rel(r->measured, want[2], 1e-3) && r->pass, "headline %g", r->measured);
    free(r);
    /* f rounds toward 1 in float32: not applicable */
    mn_lab_options_init(&o);
    o.hidden = 4;
    o.length = 10;
    o.n_forget_bias = 1;
    o.forget_bias[0] = 20;
    r = run("forget-bias", &o);
    REQUIRE(r, "run");
    CHECK(!r->applies && !r->pass, "b_f 20: applies %d", r->applies);
    free(r);
}

TEST(lab_activation_bounds) {
    mn_lab_options o;
    mn_lab_options_init(&o);
    o.length = 10;
    mn_lab_result *r = run("activations", &o);
    REQUIRE(r, "run");
    CHECK(fabs(number(r, "sigmoid_max_derivative") - 0.25) < 1e-6, "sigmoid' max %.9f",
          number(r, "sigmoid_max_derivative"));
    CHECK(fabs(number(r, "tanh_max_derivative") - 1.0) < 1e-6, "tanh' max %.9f",
          number(r, "tanh_max_derivative"));
    CHECK(number(r, "relu_max_derivative") == 1.0, "relu' max %.9f",
          number(r, "relu_max_derivative"));
    CHECK(close_rel(number(r, "sigmoid_bound_product"), pow(0.25, 10), 1e-12), "0.25^10");
    CHECK(number(r, "tanh_typical_product") < 1 && number(r, "tanh_typical_product") > 0,
          "typical tanh product %g", number(r, "tanh_typical_product"));
    CHECK(r->pass, "not PASS");
    free(r);
}

TEST(lab_gru_has_three_quarters_of_lstm) {
    const int sizes[] = {1, 7, 32};
    for (int i = 0; i < 3; i++) {
        mn_lab_options o;
        mn_lab_options_init(&o);
        o.hidden = sizes[i];
        mn_lab_result *r = run("gru-params", &o);
        REQUIRE(r, "run");
        double H = sizes[i], lstm = 4 * H * (2 * H + 2), gru = 3 * H * (2 * H + 2);
        CHECK(number(r, "lstm_params") == lstm && number(r, "gru_params") == gru,
              "H %d: lstm %g gru %g", sizes[i], number(r, "lstm_params"), number(r, "gru_params"));
        CHECK(r->measured == 0.75 && r->pass, "H %d: ratio %.9f", sizes[i], r->measured);
        free(r);
    }
}

/* The sweep's machinery at a size that runs in well under a second; whether the cells
 * separate is not checked here (that needs minutes of training). */
static int progress_lines;
static void count_progress(void *ctx, const char *line) {
    (void)ctx;
    if (strstr(line, "adding-sweep")) progress_lines++;
}

TEST(lab_adding_sweep_runs_small) {
    mn_lab_options o;
    mn_lab_options_init(&o);
    o.n_lengths = 2;
    o.lengths[0] = 4;
    o.lengths[1] = 6;
    o.steps = 3;
    o.batch = 4;
    o.hidden = 4;
    o.progress = count_progress;
    progress_lines = 0;
    mn_lab_result *r = run("adding-sweep", &o);
    REQUIRE(r, "run");
    CHECK(progress_lines == 6, "progress lines %d, want one per run (6)", progress_lines);
    const char *keys[] = {"rnn_T4_mse", "lstm_T4_mse", "gru_T6_mse", "gru_T6_horizon"};
    for (int i = 0; i < 4; i++)
        CHECK(!isnan(number(r, keys[i])), "%s missing", keys[i]);
    double mse = number(r, "lstm_T6_mse");
    CHECK(mse > 0 && mse < 10, "lstm T6 test MSE %g", mse);
    CHECK(!r->pass || r->applies, "pass without applies");
    CHECK(strstr(r->report, "length") != NULL, "no table in the report");
    free(r);
}

/* ------------------------------------------------------------------ residual */

#define SKIP_BOUND 0.95   /* the bound the residual experiment states for the skip */

TEST(lab_residual_default_passes) {
    mn_lab_result *r = run("residual", NULL);
    REQUIRE(r, "run");
    double th = pow(0.8, 24);
    CHECK(close_rel(r->theory, th, 1e-12), "theory %g, want 0.8^24 = %g", r->theory, th);
    CHECK(close_rel(r->measured, th, 0.05), "no-skip ratio %g, want %g", r->measured, th);
    CHECK(r->pass && r->applies, "default residual: pass %d applies %d (%s)", r->pass,
          r->applies, r->note);
    CHECK(number(r, "depth") == 24 && number(r, "hidden") == 32, "depth %g hidden %g",
          number(r, "depth"), number(r, "hidden"));
    CHECK(number(r, "skip_min_ratio") >= SKIP_BOUND, "skip ratio fell to %g",
          number(r, "skip_min_ratio"));
    CHECK(strstr(r->claim, "skip") && strstr(r->criterion, "0.95"), "claim %s / criterion %s",
          r->claim, r->criterion);
    CHECK(strstr(r->report, "with skip") != NULL, "no table in the report");
    free(r);
}

/* Without the skip the ratio through k layers is rho^k at every tabulated k, for radii
 * below and above 1; with the skip it never falls below the stated bound. */
TEST(lab_residual_no_skip_is_rho_power) {
    const struct { double rho; int L; } cases[] = {{0.5, 30}, {0.9, 40}, {1.3, 16}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mn_lab_options o;
        mn_lab_options_init(&o);
        o.radius = cases[i].rho;
        o.depth = cases[i].L;
        o.hidden = 24;
        o.seed = 7 + i;
        mn_lab_result *r = run("residual", &o);
        REQUIRE(r, "run");
        double rho = cases[i].rho, th = pow(rho, cases[i].L);
        CHECK(close_rel(r->measured, th, 0.05), "rho %g L %d: measured %g want %g", rho,
              cases[i].L, r->measured, th);
        const int ks[] = {1, 2, 4, 8, 16};
        for (int j = 0; j < 5; j++) {
            char name[48];
            snprintf(name, sizeof name, "ratio_depth_%d", ks[j]);
            CHECK(close_rel(number(r, name), pow(rho, ks[j]), 1e-3), "rho %g, %d layers: %g",
                  rho, ks[j], number(r, name));
            snprintf(name, sizeof name, "skip_ratio_depth_%d", ks[j]);
            CHECK(number(r, name) >= SKIP_BOUND, "rho %g, %d layers with the skip: %g", rho,
                  ks[j], number(r, name));
        }
        CHECK(number(r, "skip_min_ratio") >= SKIP_BOUND, "rho %g: skip min %g", rho,
              number(r, "skip_min_ratio"));
        CHECK(r->pass, "rho %g L %d not PASS (%s)", rho, cases[i].L, r->note);
        free(r);
    }
}

/* An orthogonal stack (rho = 1) keeps the norm through every layer; with saturating inputs
 * tanh' < 1 pushes the no-skip ratio below rho^L, inside [rho^L prod min tanh', rho^L]. */
TEST(lab_residual_orthogonal_and_saturated) {
    mn_lab_options o;
    mn_lab_options_init(&o);
    o.radius = 1.0;
    o.depth = 50;
    o.hidden = 16;
    mn_lab_result *r = run("residual", &o);
    REQUIRE(r, "run");
    CHECK(fabs(r->measured - 1.0) <= 1e-4, "ratio through 50 orthogonal layers %.9f",
          r->measured);
    CHECK(number(r, "saturated_ratio") < 0.5, "saturated no-skip ratio %g",
          number(r, "saturated_ratio"));
    CHECK(number(r, "saturated_in_bracket") == 1 &&
              number(r, "saturated_ratio") >= number(r, "saturated_bracket_low"),
          "saturated ratio %g outside [%g, 1]", number(r, "saturated_ratio"),
          number(r, "saturated_bracket_low"));
    CHECK(r->pass, "not PASS");
    free(r);
}

/* Settings where the claim cannot be checked are reported, never passed. */
TEST(lab_residual_not_applicable) {
    mn_lab_options o;
    mn_lab_options_init(&o);
    o.hidden = 4;   /* too narrow for the skip's cross term to average out */
    mn_lab_result *r = run("residual", &o);
    REQUIRE(r, "run");
    CHECK(!r->applies && !r->pass && strstr(r->note, "wide"), "H 4: applies %d note %s",
          r->applies, r->note);
    free(r);
    mn_lab_options_init(&o);
    o.radius = 0.1;
    o.depth = 100;   /* 1e-100 is beyond float32 */
    r = run("residual", &o);
    REQUIRE(r, "run");
    CHECK(!r->applies && !r->pass && strstr(r->note, "float32"), "0.1^100: note %s", r->note);
    free(r);
    mn_lab_options_init(&o);
    o.radius = 20;   /* activations grow by 1e31: no input keeps tanh' at 1 */
    r = run("residual", &o);
    REQUIRE(r, "run");
    CHECK(!r->applies && !r->pass, "rho 20: applies %d", r->applies);
    free(r);
}

/* 0 means "the default" for every lab option (depth 24, radius 0.8); negative values and
 * sizes past the limits are errors. */
TEST(lab_residual_rejects_bad_options) {
    mn_lab_result *r = malloc(sizeof *r);
    REQUIRE(r, "malloc");
    mn_lab_options o;
    mn_lab_options_init(&o);
    o.depth = -1;
    CHECK(mn_lab_run("residual", &o, r) == MN_E_ARG, "depth -1 accepted");
    CHECK(strstr(mn_last_error(), "depth") != NULL, "message: %s", mn_last_error());
    mn_lab_options_init(&o);
    o.depth = 10001;
    CHECK(mn_lab_run("residual", &o, r) == MN_E_ARG, "depth 10001 accepted");
    mn_lab_options_init(&o);
    o.radius = -0.5;
    CHECK(mn_lab_run("residual", &o, r) == MN_E_ARG, "negative radius accepted");
    mn_lab_options_init(&o);
    o.hidden = 1024;
    o.depth = 100;   /* 1e8 weights */
    CHECK(mn_lab_run("residual", &o, r) == MN_E_ARG, "depth x hidden^2 past the limit accepted");
    mn_lab_options_init(&o);
    o.radius = 0;
    o.depth = 0;
    CHECK_OK(mn_lab_run("residual", &o, r));
    CHECK(close_rel(r->theory, pow(0.8, 24), 1e-12), "defaults: theory %g", r->theory);
    free(r);
}

/* ------------------------------------------------------------------ prenorm */

/* Var f of the Transformer feed-forward (H -> 4H -> H, ReLU) at PyTorch's init on a
 * normalized row, and the mean-field profiles, from the formulas here. */
static double ff_var(int H) { return (2.0 * H + 5) / (36.0 * H); }
static double pre_mf(int L, int l, int H) {
    return sqrt((1 + L * ff_var(H)) / (1 + l * ff_var(H)));
}

TEST(lab_prenorm_default_passes) {
    mn_lab_result *r = run("prenorm", NULL);
    REQUIRE(r, "run");
    double th = pre_mf(24, 0, 32), post = sqrt(1 - 2.0 / 32);
    CHECK(close_rel(r->theory, th, 1e-12), "theory %g, want sqrt(1 + 24 v) = %g", r->theory, th);
    CHECK(close_rel(r->measured, th, 0.10), "pre-norm ratio %g, want %g", r->measured, th);
    CHECK(r->pass && r->applies, "default prenorm: pass %d applies %d (%s)", r->pass, r->applies,
          r->note);
    CHECK(number(r, "depth") == 24 && number(r, "hidden") == 32, "depth %g hidden %g",
          number(r, "depth"), number(r, "hidden"));
    /* the identity path: never below the top; post-norm flat at sqrt(1 - 2/H) */
    CHECK(number(r, "pre_min_ratio") > 1.0, "pre-norm fell to %g", number(r, "pre_min_ratio"));
    CHECK(close_rel(number(r, "post_ratio"), post, 0.25), "post-norm ratio %g, want %g",
          number(r, "post_ratio"), post);
    CHECK(close_rel(number(r, "pre_ratio_block_12"), pre_mf(24, 12, 32), 0.10),
          "block 12: %g want %g", number(r, "pre_ratio_block_12"), pre_mf(24, 12, 32));
    CHECK(close_rel(number(r, "rms_top"), sqrt(1 + 24 * ff_var(32)), 0.05), "rms(x_24) %g",
          number(r, "rms_top"));
    CHECK(strstr(r->claim, "pre-norm") && strstr(r->criterion, "10%") &&
              strstr(r->report, "post-norm"), "claim %s / criterion %s", r->claim, r->criterion);
    free(r);
}

/* Two other settings: the pre-norm profile is sqrt((1+Lv)/(1+lv)) at the bottom, the
 * middle and the top block, and post-norm stays at sqrt(1 - 2/H). */
TEST(lab_prenorm_matches_mean_field) {
    const struct { int L, H; uint64_t seed; } cases[] = {{12, 64, 3}, {48, 32, 5}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mn_lab_options o;
        mn_lab_options_init(&o);
        int L = cases[i].L, H = cases[i].H;
        o.depth = L;
        o.hidden = H;
        o.seed = cases[i].seed;
        mn_lab_result *r = run("prenorm", &o);
        REQUIRE(r, "run");
        CHECK(r->pass && r->applies, "L %d H %d not PASS (%s)", L, H, r->note);
        const int ls[] = {0, L / 2, L - 1};
        for (int j = 0; j < 3; j++) {
            char name[48];
            snprintf(name, sizeof name, "pre_ratio_block_%d", ls[j]);
            CHECK(close_rel(number(r, name), pre_mf(L, ls[j], H), 0.10), "L %d H %d block %d: "
                  "pre %g want %g", L, H, ls[j], number(r, name), pre_mf(L, ls[j], H));
            snprintf(name, sizeof name, "post_ratio_block_%d", ls[j]);
            CHECK(close_rel(number(r, name), sqrt(1 - 2.0 / H), 0.25), "L %d H %d block %d: "
                  "post %g", L, H, ls[j], number(r, name));
        }
        free(r);
    }
}

TEST(lab_prenorm_not_applicable) {
    mn_lab_options o;
    mn_lab_options_init(&o);
    o.hidden = 8;
    mn_lab_result *r = run("prenorm", &o);
    REQUIRE(r, "run");
    CHECK(!r->applies && !r->pass && strstr(r->note, "--hidden"), "H 8: applies %d note %s",
          r->applies, r->note);
    free(r);
    mn_lab_options_init(&o);
    o.hidden = 16;
    o.depth = 65;   /* more than 4 H blocks */
    r = run("prenorm", &o);
    REQUIRE(r, "run");
    CHECK(!r->applies && !r->pass && strstr(r->note, "--depth"), "L 65: applies %d note %s",
          r->applies, r->note);
    free(r);
}

TEST(lab_prenorm_rejects_bad_options) {
    mn_lab_result *r = malloc(sizeof *r);
    REQUIRE(r, "malloc");
    mn_lab_options o;
    mn_lab_options_init(&o);
    o.depth = -1;
    CHECK(mn_lab_run("prenorm", &o, r) == MN_E_ARG, "depth -1 accepted");
    mn_lab_options_init(&o);
    o.depth = 10001;
    CHECK(mn_lab_run("prenorm", &o, r) == MN_E_ARG, "depth 10001 accepted");
    mn_lab_options_init(&o);
    o.hidden = -3;
    CHECK(mn_lab_run("prenorm", &o, r) == MN_E_ARG, "hidden -3 accepted");
    mn_lab_options_init(&o);
    o.hidden = 1024;
    o.depth = 100;   /* 8e8 weights */
    CHECK(mn_lab_run("prenorm", &o, r) == MN_E_ARG, "depth x 8 hidden^2 past the limit accepted");
    CHECK(strstr(mn_last_error(), "--depth") != NULL, "message: %s", mn_last_error());
    free(r);
}

/* ------------------------------------------------------------ gated-residual */

TEST(lab_gated_residual_default_passes) {
    mn_lab_result *r = run("gated-residual", NULL);
    REQUIRE(r, "run");
    CHECK(r->pass && r->applies, "default gated-residual: pass %d applies %d (%s)", r->pass,
          r->applies, r->note);
    CHECK(close_rel(r->measured, r->theory, 0.01), "measured %g vs product of alpha %g",
          r->measured, r->theory);
    CHECK(number(r, "max_rel_error") < 1e-4, "W_hh = 0 is exact up to rounding: %g",
          number(r, "max_rel_error"));
    /* alpha moves per step around sigmoid(b) = 0.99: the product is not 0.99^99 */
    CHECK(number(r, "alpha_min") < 0.99 && number(r, "alpha_max") > 0.99, "alpha in [%g, %g]",
          number(r, "alpha_min"), number(r, "alpha_max"));
    CHECK(!close_rel(r->theory, pow(0.99, 99), 0.05), "product %g too close to 0.99^99",
          r->theory);
    /* the lag-1 ratio is a mean of single alphas */
    double a1 = number(r, "ratio_lag_1");
    CHECK(a1 >= number(r, "alpha_min") && a1 <= number(r, "alpha_max"), "lag 1: %g", a1);
    /* recurrent weights add the f' and alpha' terms: more with the full draw */
    double ds = number(r, "small_whh_rel_dev"), di = number(r, "init_whh_rel_dev");
    CHECK(ds > 1e-4 && di > ds, "deviation at 0.1 W_hh %g, at W_hh %g", ds, di);
    free(r);
}

TEST(lab_gated_residual_is_product_of_alpha) {
    const struct { double f; int T, H; } cases[] = {{0.9, 30, 8}, {0.5, 12, 16}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mn_lab_options o;
        mn_lab_options_init(&o);
        o.forget = cases[i].f;
        o.length = cases[i].T;
        o.hidden = cases[i].H;
        mn_lab_result *r = run("gated-residual", &o);
        REQUIRE(r, "run");
        int T = cases[i].T;
        CHECK(r->pass && close_rel(r->measured, r->theory, 0.01), "f %g T %d: %g vs %g",
              cases[i].f, T, r->measured, r->theory);
        const int lags[] = {1, 10, T - 1};
        for (int j = 0; j < 3; j++) {
            char m[48], t[48];
            snprintf(m, sizeof m, "ratio_lag_%d", lags[j]);
            snprintf(t, sizeof t, "prod_alpha_lag_%d", lags[j]);
            CHECK(close_rel(number(r, m), number(r, t), 0.01), "f %g lag %d: %g vs %g",
                  cases[i].f, lags[j], number(r, m), number(r, t));
        }
        /* the product of alphas that scatter around f, against f^(T-1): the same decade */
        double lr = log(r->theory) / ((T - 1) * log(cases[i].f));
        CHECK(lr > 0.7 && lr < 1.5, "f %g: log product / log f^(T-1) = %g", cases[i].f, lr);
        free(r);
    }
}

TEST(lab_gated_residual_underflow_and_bad_options) {
    mn_lab_options o;
    mn_lab_options_init(&o);
    o.forget = 0.1;
    o.length = 200;
    o.hidden = 8;
    mn_lab_result *r = run("gated-residual", &o);
    REQUIRE(r, "run");
    CHECK(!r->applies && !r->pass && strstr(r->note, "float32"), "0.1^199: applies %d note %s",
          r->applies, r->note);
    mn_lab_options_init(&o);
    o.forget = 1.0;
    CHECK(mn_lab_run("gated-residual", &o, r) == MN_E_ARG, "forget 1 accepted");
    o.forget = -0.5;
    CHECK(mn_lab_run("gated-residual", &o, r) == MN_E_ARG, "forget -0.5 accepted");
    mn_lab_options_init(&o);
    o.length = 1;
    CHECK(mn_lab_run("gated-residual", &o, r) == MN_E_ARG, "length 1 accepted");
    mn_lab_options_init(&o);
    o.hidden = -1;
    CHECK(mn_lab_run("gated-residual", &o, r) == MN_E_ARG, "hidden -1 accepted");
    mn_lab_options_init(&o);
    o.hidden = 4096;
    o.length = 500;   /* 500 x 16 x 4096 cells */
    CHECK(mn_lab_run("gated-residual", &o, r) == MN_E_ARG, "too large a run accepted");
    free(r);
}

/* ============================================================================================
 * adam-vanishing, sample-complexity, small-data, layernorm-saturation (lab_learning.c,
 * lab_samples.c), at sizes that run in seconds */

#include "task.h"

/* One step of SGD on W_ih's gradient times 10^-k is exactly 10^-k of the k = 0 step (to
 * float rounding); Adam's follows g/(|g| + eps): its ratio to k = 0 is what the reported
 * eps share says, and stays within 10% while that share is small. */
TEST(lab_adam_vanishing_sgd_shrinks_adam_stays) {
    mn_lab_options o;
    mn_lab_options_init(&o);
    o.length = 20;
    o.hidden = 8;
    o.batch = 8;
    mn_lab_result *r = run("adam-vanishing", &o);
    REQUIRE(r, "run");
    CHECK(r->applies && r->pass, "not PASS: %s", r->note);
    CHECK(fabs(number(r, "sgd_slope") + 1) < 1e-4, "SGD slope %g", number(r, "sgd_slope"));
    char key[48];
    for (int k = 0; k <= 6; k++) {
        snprintf(key, sizeof key, "sgd_ratio_k%d", k);
        CHECK(close_rel(number(r, key), pow(10.0, -k), 1e-5), "%s = %g", key, number(r, key));
        /* Adam's ratio against the closed form's (1 - share_k) / (1 - share_0) */
        snprintf(key, sizeof key, "adam_ratio_k%d", k);
        double ra = number(r, key);
        snprintf(key, sizeof key, "eps_share_k%d", k);
        double want = (1 - number(r, key)) / (1 - number(r, "eps_share_k0"));
        CHECK(close_rel(ra, want, 1e-4), "k %d: Adam ratio %g, closed form %g", k, ra, want);
        if (number(r, key) < 0.01)
            CHECK(fabs(ra - 1) <= 0.1, "k %d: eps share %g but Adam ratio %g", k,
                  number(r, key), ra);
    }
    double rms = number(r, "adam_rms_over_lr");
    CHECK(rms > 0.9 && rms <= 1.0 + 1e-6, "Adam's first step per weight: %g x lr", rms);
    /* a group that was not scaled: Adam's first step is about lr per weight (b_ih and b_hh
     * hold 2 x 4H = 64 weights) */
    double bias = number(r, "adam_norm_bias"), lr = number(r, "lr");
    CHECK(bias > 0.9 * lr * sqrt(64.0) && bias <= lr * sqrt(64.0) * (1 + 1e-6),
          "Adam bias step %g vs lr*sqrt(64) %g", bias, lr * sqrt(64.0));
    CHECK(number(r, "eps_matters_from_k") >= 1, "eps matters from k %g",
          number(r, "eps_matters_from_k"));
    CHECK(strstr(r->report, "starts to matter") || strstr(r->report, "less than"),
          "the report does not say where eps matters");
    free(r);
}

/* The task's input scale: every dense input multiplied, the rest of the batch unchanged,
 * and the trainer's held-out stream scaled the same way. */
TEST(lab_task_input_scale) {
    mn_task *a, *b;
    const mn_batch *ba, *bb;
    REQUIRE_OK(mn_task_create("adding", 12, 7, &a));
    REQUIRE_OK(mn_task_create("adding", 12, 7, &b));
    b->input_scale = 10.0f;
    REQUIRE_OK(mn_task_next(a, 3, &ba));
    REQUIRE_OK(mn_task_next(b, 3, &bb));
    int same = 1;
    for (int i = 0; i < 12 * 3 * 2; i++) same &= bb->x[i] == 10.0f * ba->x[i];
    for (int i = 0; i < 3; i++) same &= bb->target[i] == ba->target[i];
    CHECK(same, "scaled batch differs from 10 x the plain one");
    mn_model_config mc;
    mn_model_config_init(&mc);
    mn_task_configure_model(b, &mc);
    mc.hidden_size = 4;
    mn_model *m;
    mn_trainer *tr;
    mn_train_config tc;
    mn_train_config_init(&tc);
    tc.eval_size = 4;
    REQUIRE_OK(mn_model_create(&mc, 1, &m));
    REQUIRE_OK(mn_trainer_create(m, b, &tc, &tr));
    mn_eval_stats e1, e10;
    CHECK_OK(mn_trainer_evaluate(tr, &e10));
    b->input_scale = 1.0f;
    mn_trainer_free(tr);
    REQUIRE_OK(mn_trainer_create(m, b, &tc, &tr));
    CHECK_OK(mn_trainer_evaluate(tr, &e1));
    CHECK(e1.loss != e10.loss, "held-out loss %g at scale 1 and 10", e1.loss);
    mn_trainer_free(tr);
    mn_model_free(m);
    mn_task_free(a);
    mn_task_free(b);
}

TEST(lab_layernorm_saturation_small) {
    mn_lab_options o;
    mn_lab_options_init(&o);
    o.length = 20;
    o.hidden = 8;
    o.steps = 10;
    o.batch = 8;
    mn_lab_result *r = run("layernorm-saturation", &o);   /* scale 100, the default */
    REQUIRE(r, "run");
    double lstm = number(r, "lstm_saturated"), ln = number(r, "ln_lstm_saturated");
    CHECK(r->applies && r->pass, "not PASS: LSTM %g LN %g %s", lstm, ln, r->note);
    CHECK(lstm > 0.1 && ln < lstm, "LSTM %g, LN-LSTM %g", lstm, ln);
    CHECK(r->theory == lstm && r->measured == ln, "theory/measured are not the two means");
    /* at initialization the plain LSTM's saturation grows with the scale; LayerNorm
     * removes the scale of W_ih x, so its own barely moves */
    double l1 = number(r, "lstm_init_scale_1"), l1000 = number(r, "lstm_init_scale_1000");
    double n1 = number(r, "ln_lstm_init_scale_1"), n1000 = number(r, "ln_lstm_init_scale_1000");
    CHECK(l1 < 0.01 && l1000 > 0.5, "LSTM at init: %g at x1, %g at x1000", l1, l1000);
    CHECK(fabs(n1000 - n1) < 0.02, "LN-LSTM at init: %g at x1, %g at x1000", n1, n1000);
    free(r);
    /* at the task's own scale the plain LSTM saturates nothing: no PASS to be had */
    o.scale = 1;
    r = run("layernorm-saturation", &o);
    REQUIRE(r, "run");
    CHECK(!r->pass, "PASS at scale 1: LSTM %g LN %g", number(r, "lstm_saturated"),
          number(r, "ln_lstm_saturated"));
    CHECK(r->applies || strstr(r->note, "--scale"), "note: %s", r->note);
    o.scale = -1;
    CHECK(mn_lab_run("layernorm-saturation", &o, r) == MN_E_ARG, "scale -1 accepted");
    free(r);
}

/* With a target every run reaches at its first evaluation (step 25), every median is
 * 25 x batch sequences and both rates are 0: not a clear difference, so FAIL; with one no
 * run reaches, every median is over budget: N/A, said as a lower bound. */
TEST(lab_sample_complexity_bookkeeping) {
    mn_lab_options o;
    mn_lab_options_init(&o);
    o.n_lengths = 2;
    o.lengths[0] = 4;
    o.lengths[1] = 8;
    o.steps = 30;
    o.batch = 4;
    o.hidden = 4;
    o.seeds = 1;
    o.target = 100;
    mn_lab_result *r = run("sample-complexity", &o);
    REQUIRE(r, "run");
    CHECK(number(r, "rnn_T4_samples") == 100 && number(r, "lstm_T8_samples") == 100,
          "samples %g %g, want 25 steps x 4", number(r, "rnn_T4_samples"),
          number(r, "lstm_T8_samples"));
    CHECK(number(r, "rnn_rate") == 0 && number(r, "lstm_rate") == 0, "rates %g %g",
          number(r, "rnn_rate"), number(r, "lstm_rate"));
    CHECK(r->applies && !r->pass, "equal rates: applies %d pass %d", r->applies, r->pass);
    free(r);
    o.target = 1e-9;
    r = run("sample-complexity", &o);
    REQUIRE(r, "run");
    CHECK(!r->applies && !r->pass && strstr(r->note, "lower bound"), "note: %s", r->note);
    CHECK(number(r, "lstm_T4_over_budget") == 1 && number(r, "rnn_T8_samples") == 120,
          "over budget %g, samples %g (budget 30 x 4)", number(r, "lstm_T4_over_budget"),
          number(r, "rnn_T8_samples"));
    CHECK(strstr(r->report, ">120") != NULL, "the report does not mark '>budget'");
    o.n_lengths = 1;
    CHECK(mn_lab_run("sample-complexity", &o, r) == MN_E_ARG, "one length accepted");
    o.n_lengths = 2;
    o.lengths[1] = 4;
    CHECK(mn_lab_run("sample-complexity", &o, r) == MN_E_ARG, "a length twice accepted");
    o.lengths[1] = 8;
    o.target = -1;
    CHECK(mn_lab_run("sample-complexity", &o, r) == MN_E_ARG, "target -1 accepted");
    free(r);
}

/* The interval is Student's: with 2 seeds, mean +- 12.706 sd / sqrt 2 from the per-seed
 * figures; the verdict follows from the intervals; the parameter ratio from the models. */
TEST(lab_small_data_intervals) {
    mn_lab_options o;
    mn_lab_options_init(&o);
    o.length = 5;
    o.hidden = 4;
    o.steps = 6;
    o.batch = 8;
    o.train_size = 16;
    o.seeds = 2;
    mn_lab_result *r = run("small-data", &o);
    REQUIRE(r, "run");
    const char *cells[] = {"lstm", "gru"};
    double mean[2], half[2];
    char key[48];
    for (int c = 0; c < 2; c++) {
        snprintf(key, sizeof key, "%s_test_seed1", cells[c]);
        double a = number(r, key);
        snprintf(key, sizeof key, "%s_test_seed2", cells[c]);
        double b = number(r, key);
        mean[c] = (a + b) / 2;
        half[c] = 12.706 * fabs(a - b) / sqrt(2.0) / sqrt(2.0);
        snprintf(key, sizeof key, "%s_test_mean", cells[c]);
        CHECK(close_rel(number(r, key), mean[c], 1e-12), "%s mean %g vs %g", cells[c],
              number(r, key), mean[c]);
        snprintf(key, sizeof key, "%s_test_ci95", cells[c]);
        CHECK(close_rel(number(r, key), half[c], 1e-3), "%s CI %g vs %g", cells[c],
              number(r, key), half[c]);
    }
    int gru = mean[1] + half[1] < mean[0] - half[0], lstm = mean[0] + half[0] < mean[1] - half[1];
    CHECK(number(r, "gru_better") == (gru ? 1 : lstm ? -1 : 0), "verdict %g",
          number(r, "gru_better"));
    CHECK(r->pass == (gru || lstm || number(r, "clearly_equal") == 1), "pass %d", r->pass);
    /* H 4, 2 inputs: LSTM 4*4*(2+4+2) + head 5 = 133, GRU 3*4*8 + 5 = 101 */
    CHECK(number(r, "lstm_params") == 133 && number(r, "gru_params") == 101, "params %g %g",
          number(r, "lstm_params"), number(r, "gru_params"));
    CHECK(strstr(r->report, "verdict: ") != NULL, "no verdict line");
    o.train_size = 12;   /* not a multiple of the batch */
    CHECK(mn_lab_run("small-data", &o, r) == MN_E_ARG, "train size 12 with batch 8 accepted");
    o.train_size = 16;
    o.seeds = 1;
    CHECK(mn_lab_run("small-data", &o, r) == MN_E_ARG, "one seed (no interval) accepted");
    free(r);
}

/* What small-data's fixed training set rests on: the stream goes on without a reseed, and
 * a reseed to the task's seed replays the same sequences. */
TEST(lab_small_data_replays_its_set) {
    mn_task *t;
    const mn_batch *b;
    REQUIRE_OK(mn_task_create("adding", 6, 3, &t));
    float first[6 * 4 * 2];
    REQUIRE_OK(mn_task_next(t, 4, &b));
    memcpy(first, b->x, sizeof first);
    REQUIRE_OK(mn_task_next(t, 4, &b));
    CHECK(memcmp(first, b->x, sizeof first) != 0, "the stream repeats without a reseed");
    mn_task_reseed(t, 3);
    REQUIRE_OK(mn_task_next(t, 4, &b));
    CHECK(memcmp(first, b->x, sizeof first) == 0, "a reseed does not replay the set");
    mn_task_free(t);
}
