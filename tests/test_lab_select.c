/* mnemo lab selectivity (src/lab/lab_select.c): with a tiny budget it runs and reports
 * finite figures, S4D's delta is one value at data and noise, and its options are checked;
 * what the default budget gives is measured, not asserted (see the end of this file). */
#include "test.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static double number(const mn_lab_result *r, const char *name) {
    for (int i = 0; i < r->n_numbers; i++)
        if (!strcmp(r->numbers[i].name, name)) return r->numbers[i].value;
    return NAN;
}

TEST(lab_selectivity_runs_and_reports_finite_figures) {
    mn_lab_options o;
    mn_lab_options_init(&o);
    o.length = 20;
    o.hidden = 8;
    o.steps = 2;
    mn_lab_result *r = malloc(sizeof *r);
    REQUIRE(r, "out of memory");
    REQUIRE_OK(mn_lab_run("selectivity", &o, r));
    CHECK(r->applies, "does not apply: %s", r->note);
    CHECK(r->theory > 1 && isfinite(r->measured) && r->measured > 0, "theory %g measured %g",
          r->theory, r->measured);
    CHECK(r->measured == fmax(number(r, "mamba_b0_channel_p90"),
                              number(r, "mamba_b1_channel_p90")),
          "verdict %g, the blocks' channel p90 %g %g", r->measured,
          number(r, "mamba_b0_channel_p90"), number(r, "mamba_b1_channel_p90"));
    for (int k = 0; k < 2; k++) {   /* percentiles of the channel ratios: p10 <= p90 */
        char a[48], b[48];
        snprintf(a, sizeof a, "mamba_b%d_channel_p10", k);
        snprintf(b, sizeof b, "mamba_b%d_channel_p90", k);
        CHECK(number(r, a) > 0 && number(r, a) <= number(r, b), "block %d: p10 %g p90 %g", k,
              number(r, a), number(r, b));
    }
    static const char *const names[] = {
        "mamba_b0_delta_data", "mamba_b0_delta_noise", "mamba_b0_ratio_init",
        "mamba_b1_delta_data", "mamba_b1_delta_noise", "mamba_b1_ratio",
        "mamba_b0_channels_rising", "mamba_b0_channel_p90_init", "mamba_b1_channel_p10_init",
        "s4d_b0_delta", "s4d_b1_delta", "mamba_accuracy",
        "s4d_accuracy", "mamba_test_loss", "s4d_test_loss"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        CHECK(isfinite(number(r, names[i])), "%s = %g", names[i], number(r, names[i]));
    for (int k = 0; k < 2; k++) {
        char a[48], b[48], c[48];
        snprintf(a, sizeof a, "mamba_b%d_delta_data", k);
        snprintf(b, sizeof b, "mamba_b%d_delta_noise", k);
        snprintf(c, sizeof c, "mamba_b%d_ratio", k);
        CHECK(fabs(number(r, c) - number(r, a) / number(r, b)) <= 1e-12 * number(r, c),
              "block %d: ratio %g, data %g / noise %g", k, number(r, c), number(r, a),
              number(r, b));
        /* Δ is a softplus, init log-uniform in [1e-3, 1e-1] */
        CHECK(number(r, a) > 0 && number(r, b) > 0, "block %d: delta %g %g", k, number(r, a),
              number(r, b));
    }
    CHECK(number(r, "s4d_b0_delta") >= 1e-3 * 0.99 && number(r, "s4d_b0_delta") <= 0.1 * 1.01,
          "s4d's mean delta %g after 2 steps, outside its init range", number(r, "s4d_b0_delta"));
    double acc[2] = {number(r, "mamba_accuracy"), number(r, "s4d_accuracy")};
    for (int i = 0; i < 2; i++) CHECK(acc[i] >= 0 && acc[i] <= 1, "accuracy %g", acc[i]);
    CHECK(number(r, "length") == 20 && number(r, "steps") == 2, "length %g steps %g",
          number(r, "length"), number(r, "steps"));
    /* the texts fit their fields (a full field was cut short) */
    CHECK(strlen(r->quantity) + 1 < sizeof r->quantity && strlen(r->claim) + 1 < sizeof r->claim &&
          strlen(r->criterion) + 1 < sizeof r->criterion, "a text fills its field: %s / %s",
          r->quantity, r->claim);
    CHECK(strstr(r->report, "p90 init") && strstr(r->report, "s4d") &&
          strstr(r->claim, "3.5.2"), "report:\n%s", r->report);
    /* the same seed gives the same figures */
    mn_lab_result *r2 = malloc(sizeof *r2);
    REQUIRE(r2, "out of memory");
    REQUIRE_OK(mn_lab_run("selectivity", &o, r2));
    CHECK(r2->measured == r->measured && number(r2, "mamba_accuracy") == acc[0],
          "not reproducible: %g %g", r2->measured, r->measured);
    free(r2);
    free(r);
}

TEST(lab_selectivity_refuses_bad_options) {
    mn_lab_options o;
    mn_lab_options_init(&o);
    mn_lab_result *r = malloc(sizeof *r);
    REQUIRE(r, "out of memory");
    o.length = 15;   /* shorter than the 16 data tokens */
    CHECK(mn_lab_run("selectivity", &o, r) == MN_E_ARG, "length 15 accepted");
    o.length = 20;
    o.hidden = 100000;
    CHECK(mn_lab_run("selectivity", &o, r) == MN_E_ARG, "hidden 100000 accepted");
    free(r);
}

/* No learn_* test asserts the PASS: the default budget (3000 steps: about 90 s on one core,
 * Mamba 59 s and S4D 30 s; 145 s with three runs sharing two cores) is past the 60 s such a
 * test may take.
 * Measured at the defaults, seeds 1, 2, 3: PASS each time, the largest channel p90 2.19,
 * 9.03 and 22.2 (1.05, 1.02 and 1.08 at init), Mamba recalling 63.8%, 70.3% and 87.5%
 * against S4D's 41.6%, 40.1% and 42.3%. At 300 steps neither model had learned the task
 * (Mamba 11.6%, S4D 24.3%). */
