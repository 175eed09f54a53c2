/* mnemo lab's attention experiments (src/lab/lab_attention.c) against closed forms computed
 * here. Timings are never asserted: only the deterministic figures (gradient ratios, bytes). */
#include "test.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static double number(const mn_lab_result *r, const char *name) {
    for (int i = 0; i < r->n_numbers; i++)
        if (!strcmp(r->numbers[i].name, name)) return r->numbers[i].value;
    return NAN;
}

TEST(lab_path_length_attention_keeps_alpha_rnn_decays) {
    mn_lab_result *r = malloc(sizeof *r);
    REQUIRE(r, "alloc");
    REQUIRE_OK(mn_lab_run("path-length", NULL, r));
    CHECK(r->pass && r->applies, "default path-length: pass %d (%s)", r->pass, r->note);
    static const int Ts[] = {16, 64, 256, 1024};
    for (int i = 0; i < 4; i++) {
        char name[48];
        double alpha = exp(20.0) / (exp(20.0) + (Ts[i] - 1));
        snprintf(name, sizeof name, "attention_ratio_T%d", Ts[i]);
        CHECK(fabs(number(r, name) / alpha - 1) < 1e-3, "T %d: attention ratio %g, alpha %g",
              Ts[i], number(r, name), alpha);
        snprintf(name, sizeof name, "rnn_ratio_T%d", Ts[i]);
        CHECK(fabs(number(r, name) / pow(0.9, Ts[i] - 1) - 1) < 0.05, "T %d: rnn ratio %g",
              Ts[i], number(r, name));
    }
    mn_lab_options o;
    mn_lab_options_init(&o);
    o.hidden = 3;
    CHECK(mn_lab_run("path-length", &o, r) == MN_E_ARG, "width 3 has no room for the setup");
    free(r);
}

TEST(lab_attention_cost_memory_grows_linearly_tiled_quadratically_plain) {
    mn_lab_result *r = malloc(sizeof *r);
    REQUIRE(r, "alloc");
    mn_lab_options o;
    mn_lab_options_init(&o);
    o.n_lengths = 3;
    /* long enough that the kernel's fixed scratch (tiles per thread) is a small part */
    o.lengths[0] = 1024;
    o.lengths[1] = 2048;
    o.lengths[2] = 4096;
    o.hidden = 32;
    REQUIRE_OK(mn_lab_run("attention-cost", &o, r));
    double mem = number(r, "memory_slope"), ref = number(r, "reference_memory_slope");
    CHECK(mem > 0.8 && mem < 1.2, "tiled memory slope %g", mem);
    CHECK(fabs(ref - 2) < 0.05, "plain kernel memory slope %g (T x T scores)", ref);
    CHECK(isfinite(number(r, "time_slope")) && isfinite(number(r, "lstm_time_slope")),
          "time slopes not measured");
    o.n_lengths = 1;
    CHECK(mn_lab_run("attention-cost", &o, r) == MN_E_ARG, "one length fits no slope");
    free(r);
}
