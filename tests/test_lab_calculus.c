/* mnemo lab's gate-calculus and adjoint experiments (src/lab/lab_calculus.c, lab_adjoint.c)
 * against closed forms computed here: σ, products of forget values, spectral radii. Small
 * sizes; the whole file runs in about a second. */
#include "test.h"

#include <math.h>
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

static double number(const mn_lab_result *r, const char *name) {
    for (int i = 0; i < r->n_numbers; i++)
        if (!strcmp(r->numbers[i].name, name)) return r->numbers[i].value;
    return NAN;
}

static int close_rel(double a, double b, double tol) { return fabs(a / b - 1.0) <= tol; }

static double sigmoid(double a) { return 1 / (1 + exp(-a)); }

/* The gradient reaching the cell is o times its o = 1 value; held at 0 (a pre-activation
 * of -100, where the sigmoid is exactly 0 as PyTorch's) nothing reaches it. */
TEST(lab_output_gate_scales_cell_gradient_by_o) {
    mn_lab_options o;
    mn_lab_options_init(&o);
    o.length = 30;
    o.hidden = 8;
    mn_lab_result *r = run("output-gate", &o);
    REQUIRE(r, "run");
    CHECK(r->pass && r->applies, "output-gate not PASS (measured %g)", r->measured);
    static const struct { const char *tag; double o; } held[] = {
        {"1", 1}, {"0.5", 0.5}, {"0.1", 0.1}, {"0.001", 1e-3}, {"1e-06", 1e-6}};
    for (size_t i = 0; i < sizeof held / sizeof held[0]; i++) {
        char name[48];
        snprintf(name, sizeof name, "dc_ratio_o_%s", held[i].tag);
        CHECK(close_rel(number(r, name), held[i].o, 1e-4), "%s = %g", name, number(r, name));
        snprintf(name, sizeof name, "ifg_grad_ratio_o_%s", held[i].tag);
        CHECK(close_rel(number(r, name), held[i].o, 1e-4), "%s = %g", name, number(r, name));
    }
    CHECK(number(r, "o_0") == 0, "o held at 0 is %g, want exactly 0", number(r, "o_0"));
    CHECK(number(r, "dc_ratio_o_0") == 0, "dc ratio at o = 0: %g, want exactly 0",
          number(r, "dc_ratio_o_0"));
    CHECK(number(r, "ifg_grad_ratio_o_0") == 0, "i, f, g weights' gradient at o = 0: %g",
          number(r, "ifg_grad_ratio_o_0"));
    CHECK(number(r, "h_max_o_0") == 0, "h leaks past the closed gate: %g",
          number(r, "h_max_o_0"));
    CHECK(number(r, "dc_mean_o_1") > 0, "no gradient reaches the cell at o = 1");
    CHECK(number(r, "o_gate_grad_o_1") == 0, "o = 1 is saturated: its weights' gradient %g",
          number(r, "o_gate_grad_o_1"));
    free(r);
}

TEST(lab_forget_product_is_product_of_forget_gates) {
    const struct { double f, cut; int T; } cases[] = {{0.99, 0.1, 40}, {0.9, 0.5, 20},
                                                      {0.95, 1e-6, 60}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mn_lab_options o;
        mn_lab_options_init(&o);
        o.forget = cases[i].f;
        o.cut = cases[i].cut;
        o.length = cases[i].T;
        o.hidden = 8;
        mn_lab_result *r = run("forget-product", &o);
        REQUIRE(r, "run");
        double th = pow(cases[i].f, cases[i].T - 2) * cases[i].cut;
        CHECK(close_rel(r->measured, th, 1e-4), "f %g cut %g: measured %g want %g", cases[i].f,
              cases[i].cut, r->measured, th);
        CHECK(close_rel(number(r, "cut_measured"), cases[i].cut, 1e-4), "factor at the cut %g",
              number(r, "cut_measured"));
        CHECK(close_rel(number(r, "memory_vs_forget_power"), cases[i].cut / cases[i].f, 1e-4),
              "against f^(T-1): %g", number(r, "memory_vs_forget_power"));
        CHECK(r->pass && r->applies, "f %g cut %g not PASS", cases[i].f, cases[i].cut);
        free(r);
    }
    /* 0.5^398 * 0.1 is far below float32: not applicable, never PASS */
    mn_lab_options o;
    mn_lab_options_init(&o);
    o.forget = 0.5;
    o.length = 400;
    o.hidden = 4;
    mn_lab_result *r = run("forget-product", &o);
    REQUIRE(r, "run");
    CHECK(!r->applies && !r->pass && strstr(r->note, "float32"), "applies %d: %s", r->applies,
          r->note);
    o.cut = 1.0;
    CHECK(mn_lab_run("forget-product", &o, r) == MN_E_ARG, "cut 1 accepted");
    free(r);
}

/* The measured gate factor dL/dW_ii / (x g dL/dc) is σ(a)σ(-a), whatever the upstream. */
TEST(lab_input_gate_gradient_is_g_times_sigmoid_derivative) {
    for (uint64_t seed = 1; seed <= 2; seed++) {
        mn_lab_options o;
        mn_lab_options_init(&o);
        o.seed = seed;
        mn_lab_result *r = run("input-gate", &o);
        REQUIRE(r, "run");
        CHECK(r->pass && r->measured <= 1e-4, "seed %d: not PASS, %g", (int)seed, r->measured);
        for (int a = -12; a <= 12; a++) {
            char name[48];
            snprintf(name, sizeof name, "gate_factor_a%d", a);
            double want = sigmoid(a) * sigmoid(-a), got = number(r, name);
            /* float32's 1 - i near i = 1: about 2^-23 / (1 - i) relative */
            double tol = 1e-4 + (a > 0 ? 1.2e-7 / sigmoid(-a) : 0);
            CHECK(close_rel(got, want, tol), "a %d: %g want %g", a, got, want);
        }
        CHECK(number(r, "grad_g_0") == 0, "g = 0 gives %g", number(r, "grad_g_0"));
        CHECK(number(r, "resolved_points") == 190, "resolved points %g",
              number(r, "resolved_points"));
        CHECK(close_rel(number(r, "vanish_ratio_low"), 4 * sigmoid(12) * sigmoid(-12), 1e-4),
              "vanishing at a = -12: %g", number(r, "vanish_ratio_low"));
        free(r);
    }
}

/* λ evenly in [-1, -0.1]: ρ(I + ΔA) = max(|1 - Δ|, 1 - 0.1Δ), threshold 2. */
TEST(lab_euler_explodes_past_two_over_lambda) {
    mn_lab_options o;
    mn_lab_options_init(&o);
    o.length = 60;
    o.hidden = 8;
    mn_lab_result *r = run("euler", &o);
    REQUIRE(r, "run");
    CHECK(r->pass && r->applies, "euler not PASS: D* %g", r->measured);
    CHECK(r->theory == 2 && close_rel(r->measured, 2, 1e-4), "threshold %.9g", r->measured);
    static const double sweep[] = {0.1, 0.5, 1.5, 1.99, 2.01, 2.5, 3};
    for (size_t i = 0; i < sizeof sweep / sizeof sweep[0]; i++) {
        char name[48];
        snprintf(name, sizeof name, "growth_%g", sweep[i]);
        double d = sweep[i], want = fmax(fabs(1 - d), 1 - 0.1 * d);
        CHECK(close_rel(number(r, name), want, 1e-4), "D %g: growth %g want %g", d,
              number(r, name), want);
    }
    free(r);
    /* over 399 steps 2^399 is far beyond float32 */
    o.length = 400;
    r = run("euler", &o);
    REQUIRE(r, "run");
    CHECK(!r->applies && !r->pass, "T 400: applies %d", r->applies);
    o.length = 20;
    o.hidden = 1000;
    CHECK(mn_lab_run("euler", &o, r) == MN_E_ARG, "hidden 1000 accepted");
    free(r);
}

TEST(lab_adjoint_equals_backward_and_controls_differ) {
    const struct { int T, H; } cases[] = {{0, 0}, {40, 16}, {5, 1}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mn_lab_options o;
        mn_lab_options_init(&o);
        o.length = cases[i].T;
        o.hidden = cases[i].H;
        mn_lab_result *r = run("adjoint", &o);
        REQUIRE(r, "run");
        CHECK(r->pass && r->applies, "T %d H %d: not PASS (%g, %s)", cases[i].T, cases[i].H,
              r->measured, r->note);
        static const char *const errs[] = {"rnn_dh_error", "rnn_dx_error", "lstm_dh_error",
                                           "lstm_dc_error", "lstm_dx_error", "gru_dh_error",
                                           "gru_dx_error"};
        for (size_t k = 0; k < sizeof errs / sizeof errs[0]; k++)
            CHECK(number(r, errs[k]) <= 1e-4, "%s = %g", errs[k], number(r, errs[k]));
        /* the comparison tells a wrong recursion apart by far more than its tolerance */
        CHECK(number(r, "min_control_error") > 1e-2, "no-recurrence control %g",
              number(r, "min_control_error"));
        if (cases[i].H > 1)
            CHECK(number(r, "min_control_transposed_error") > 1e-2, "J for J^T control %g",
                  number(r, "min_control_transposed_error"));
        free(r);
    }
    mn_lab_options o;
    mn_lab_options_init(&o);
    o.hidden = 1000;
    mn_lab_result *r = malloc(sizeof *r);
    REQUIRE(r, "malloc");
    CHECK(mn_lab_run("adjoint", &o, r) == MN_E_ARG, "hidden 1000 accepted");
    free(r);
}
