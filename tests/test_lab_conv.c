/* mnemo lab's convolution and state-space experiments (src/lab/lab_conv.c): the receptive
 * field against the formula at every depth, S4D's two modes agreeing, and the structure of
 * s4-cost (its timings are measurements, never asserted). */
#include "test.h"
#include "tcn.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static double number(const mn_lab_result *r, const char *name) {
    for (int i = 0; i < r->n_numbers; i++)
        if (!strcmp(r->numbers[i].name, name)) return r->numbers[i].value;
    return NAN;
}

TEST(lab_receptive_field_matches_the_formula) {
    mn_lab_options o;
    mn_lab_options_init(&o);
    o.depth = 3;
    o.hidden = 3;
    mn_lab_result *r = malloc(sizeof *r);
    REQUIRE_OK(mn_lab_run("receptive-field", &o, r));
    CHECK(r->applies && r->pass, "receptive-field did not pass:\n%s", r->report);
    static const int kernels[] = {2, 3, 5};
    for (int k = 0; k < 3; k++)
        for (int L = 1; L <= 3; L++) {
            char name[32];
            snprintf(name, sizeof name, "field_k%d_L%d", kernels[k], L);
            CHECK(number(r, name) == (double)mn_tcn_receptive_field(kernels[k], L),
                  "%s = %g, formula %lld", name, number(r, name),
                  (long long)mn_tcn_receptive_field(kernels[k], L));
        }
    CHECK(r->theory == 57 && r->measured == 57, "theory %g measured %g (k = 5, L = 3)",
          r->theory, r->measured);
    o.depth = 11;
    CHECK(mn_lab_run("receptive-field", &o, r) == MN_E_ARG, "depth 11 accepted");
    free(r);
}

TEST(lab_s4_equivalence_passes) {
    mn_lab_options o;
    mn_lab_options_init(&o);
    o.length = 700;
    o.hidden = 5;
    mn_lab_result *r = malloc(sizeof *r);
    REQUIRE_OK(mn_lab_run("s4-equivalence", &o, r));
    CHECK(r->applies && r->pass && r->measured <= 1e-5 && r->theory == 0,
          "measured %g:\n%s", r->measured, r->report);
    double worst = fmax(number(r, "max_rel_diff_lin"),
                        fmax(number(r, "max_rel_diff_inv"), number(r, "max_rel_diff_real")));
    CHECK(worst == r->measured, "the verdict's figure %g is not the worst init's %g",
          r->measured, worst);
    free(r);
}

TEST(lab_s4_cost_reports_every_length) {
    mn_lab_options o;
    mn_lab_options_init(&o);
    static const int lengths[] = {512, 128, 256};     /* any order: sorted for the fit */
    o.n_lengths = 3;
    memcpy(o.lengths, lengths, sizeof lengths);
    o.hidden = 4;
    o.batch = 1;
    mn_lab_result *r = malloc(sizeof *r);
    REQUIRE_OK(mn_lab_run("s4-cost", &o, r));
    CHECK(r->applies && r->theory == 1.0, "applies %d theory %g", r->applies, r->theory);
    for (int i = 0; i < 3; i++) {
        char a[32], b[32];
        snprintf(a, sizeof a, "s4d_ms_L%d", lengths[i]);
        snprintf(b, sizeof b, "lstm_ms_L%d", lengths[i]);
        CHECK(number(r, a) > 0 && number(r, b) > 0, "%s = %g, %s = %g", a, number(r, a), b,
              number(r, b));
    }
    double c = number(r, "crossover_length");
    CHECK(isfinite(number(r, "s4d_exponent")) && isfinite(number(r, "lstm_exponent")) &&
          (c == -1 || c == 128 || c == 256 || c == 512), "exponents %g %g, crossover %g",
          number(r, "s4d_exponent"), number(r, "lstm_exponent"), c);
    CHECK(r->measured == number(r, "s4d_exponent"), "measured %g", r->measured);
    CHECK(strstr(r->report, "crossover") && strstr(r->report, "LSTM/S4D"), "report:\n%s",
          r->report);
    o.n_lengths = 1;
    CHECK(mn_lab_run("s4-cost", &o, r) == MN_E_ARG, "a single length accepted");
    free(r);
}
