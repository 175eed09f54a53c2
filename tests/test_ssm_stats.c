/* mn_ssm_stats_measure (src/diag/ssm_stats.c): S4D's decays and half-lives against their
 * definition from the parameters, and the receptive fields of convolution stacks against
 * the formulas (1 + (k−1)d per conv, 1 + 2(k−1)d per TCN block, 1 + 2(k−1)(2^L − 1) for a
 * TCN stack with dilations 1, 2, 4, ...). */
#include "test.h"
#include "tcn.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static mn_model *model_of(const char *spec, int in) {
    mn_model_config c;
    mn_model_config_init(&c);
    c.input_size = in;
    c.output_size = 1;
    mn_model *m = NULL;
    if (mn_blocks_parse(spec, &c) != MN_OK || mn_model_create(&c, 3, &m) != MN_OK) return NULL;
    return m;
}

/* the first tensor whose name ends with `suffix` */
static const float *tensor(mn_model *m, const char *suffix) {
    for (int i = 0; i < mn_model_tensor_count(m); i++) {
        const char *nm;
        int nd;
        const int *sh;
        float *d, *g;
        if (mn_model_tensor(m, i, &nm, &nd, &sh, &d, &g) != MN_OK) continue;
        size_t a = strlen(nm), b = strlen(suffix);
        if (a >= b && !strcmp(nm + a - b, suffix)) return d;
    }
    return NULL;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

TEST(ssm_stats_s4d_decay_and_half_life) {
    enum { H = 6, N2 = 4 };
    mn_model *m = model_of("linear:6,s4d:state=8:init=real:residual:layernorm,gelu", 3);
    REQUIRE(m, "model: %s", mn_last_error());
    mn_ssm_stats s;
    double per[H];
    REQUIRE_OK(mn_ssm_stats_measure(m, NULL, 1, &s, per));
    CHECK(!strcmp(s.kind, "s4d") && s.has_decay && !s.input_dependent && s.channels == H &&
          s.modes == N2, "kind %s, has_decay %d, %d x %d", s.kind, s.has_decay, s.channels,
          s.modes);
    const float *log_dt = tensor(m, "kernel.log_dt"), *lar = tensor(m, "kernel.log_A_real");
    REQUIRE(log_dt && lar, "no S4D tensors");
    double decay[H * N2], half[H * N2], chan[H], dtmin = 1e9, dtmax = 0;
    for (int h = 0; h < H; h++) {
        double dt = exp(log_dt[h]);
        dtmin = fmin(dtmin, dt);
        dtmax = fmax(dtmax, dt);
        chan[h] = 0;
        for (int n = 0; n < N2; n++) {
            double a = exp(lar[h * N2 + n]);
            CHECK(fabs(a - (n + 1)) < 1e-5 * (n + 1), "S4D-Real: A = −%g, not −%d", a, n + 1);
            decay[h * N2 + n] = exp(-dt * a);
            half[h * N2 + n] = log(2.0) / (dt * a);
            chan[h] = fmax(chan[h], half[h * N2 + n]);
        }
        /* the slowest mode is n = 0 (A = −1): half-life ln 2 / Δ */
        CHECK(fabs(per[h] - log(2.0) / dt) <= 1e-9 * per[h], "channel %d: %g, want %g", h,
              per[h], log(2.0) / dt);
    }
    qsort(decay, H * N2, sizeof(double), cmp);
    qsort(half, H * N2, sizeof(double), cmp);
    qsort(chan, H, sizeof(double), cmp);
#define NEAR(a, b) (fabs((a) - (b)) <= 1e-9 * fabs(b))
    CHECK(NEAR(s.dt_min, dtmin) && NEAR(s.dt_max, dtmax), "Δ %g..%g", s.dt_min, s.dt_max);
    CHECK(NEAR(s.decay_min, decay[0]) && NEAR(s.decay_max, decay[H * N2 - 1]) &&
          NEAR(s.decay_median, 0.5 * (decay[11] + decay[12])), "decay %g %g %g", s.decay_min,
          s.decay_median, s.decay_max);
    CHECK(NEAR(s.half_life_min, half[0]) && NEAR(s.half_life_max, half[H * N2 - 1]) &&
          NEAR(s.half_life_median, 0.5 * (half[11] + half[12])), "half-life %g %g %g",
          s.half_life_min, s.half_life_median, s.half_life_max);
    CHECK(NEAR(s.channel_half_life_min, chan[0]) && NEAR(s.channel_half_life_max, chan[H - 1]) &&
          NEAR(s.channel_half_life_median, 0.5 * (chan[2] + chan[3])), "channels %g %g %g",
          s.channel_half_life_min, s.channel_half_life_median, s.channel_half_life_max);
#undef NEAR
    /* Δ in [1e-3, 0.1]: the slowest channel keeps half its state for 7 to 700 steps */
    CHECK(s.channel_half_life_max <= log(2.0) / 1e-3 * 1.001 && s.channel_half_life_min >=
          log(2.0) / 0.1 * 0.999, "channel half-lives %g..%g", s.channel_half_life_min,
          s.channel_half_life_max);
    CHECK(s.receptive_field == MN_FIELD_UNBOUNDED && s.receptive_field_total == MN_FIELD_UNBOUNDED,
          "an S4D block's field %lld, total %lld", (long long)s.receptive_field,
          (long long)s.receptive_field_total);
    REQUIRE_OK(mn_ssm_stats_measure(m, NULL, 2, &s, NULL));     /* gelu after it */
    CHECK(!s.has_decay && s.receptive_field == 1 && s.receptive_field_total == MN_FIELD_UNBOUNDED,
          "gelu: has_decay %d, field %lld, total %lld", s.has_decay, (long long)s.receptive_field,
          (long long)s.receptive_field_total);
    CHECK(mn_ssm_stats_measure(m, NULL, 3, &s, NULL) == MN_E_ARG, "block 3 measured");
    CHECK(mn_ssm_stats_measure(m, NULL, -1, &s, NULL) == MN_E_ARG, "block -1 measured");
    mn_model_free(m);
}

TEST(ssm_stats_receptive_fields_of_convolutions) {
    /* TCN with dilations 1, 2, 4 and kernel 3: 5, 9, 17 per block; totals 5, 13, 29 */
    mn_model *m = model_of("tcn:4:kernel=3:dilation=1,tcn:4:kernel=3:dilation=2,"
                           "tcn:4:kernel=3:dilation=4,conv:4:kernel=2:dilation=8,linear:4", 2);
    REQUIRE(m, "model: %s", mn_last_error());
    static const int64_t own[5] = {5, 9, 17, 9, 1}, total[5] = {5, 13, 29, 37, 37};
    for (int k = 0; k < 5; k++) {
        mn_ssm_stats s;
        REQUIRE_OK(mn_ssm_stats_measure(m, NULL, k, &s, NULL));
        CHECK(s.receptive_field == own[k] && s.receptive_field_total == total[k] && !s.has_decay,
              "block %d: field %lld total %lld, want %lld %lld", k, (long long)s.receptive_field,
              (long long)s.receptive_field_total, (long long)own[k], (long long)total[k]);
    }
    CHECK(mn_tcn_receptive_field(3, 3) == 29, "the stack formula says %lld",
          (long long)mn_tcn_receptive_field(3, 3));
    mn_model_free(m);
    m = model_of("lstm:4,tcn:4", 2);
    REQUIRE(m, "model: %s", mn_last_error());
    mn_ssm_stats s;
    REQUIRE_OK(mn_ssm_stats_measure(m, NULL, 1, &s, NULL));
    CHECK(s.receptive_field == 3 && s.receptive_field_total == MN_FIELD_UNBOUNDED,
          "after an LSTM: field %lld total %lld", (long long)s.receptive_field,
          (long long)s.receptive_field_total);
    mn_model_free(m);
}

static float softplus_d(float v) { return v > 20 ? v : (float)log1p(exp((double)v)); }

/* Mamba: with x_proj zero, Δ = softplus(dt_proj.bias) at every position, so each channel's
 * decays follow from the parameters; with x_proj as initialized Δ varies over positions,
 * and what lies past a sequence's length is never measured. */
TEST(ssm_stats_mamba_decays_at_the_median_delta) {
    enum { D = 4, E = 8, N = 4, T = 7, Bn = 3 };
    mn_model *m = model_of("linear:4,mamba:state=4:residual:pre", 2);
    REQUIRE(m, "model: %s", mn_last_error());
    float x[T * Bn * 2];
    int32_t lengths[Bn] = {7, 3, 5};
    mn_rng r;
    mn_rng_seed(&r, 2);
    for (int i = 0; i < T * Bn * 2; i++) x[i] = mn_rng_uniform_range(&r, -1, 1);
    float target[T * Bn] = {0};
    mn_batch b = {.T = T, .B = Bn, .input_size = 2, .x = x, .lengths = lengths, .output_size = 1,
                  .target = target};
    mn_ssm_stats s;
    CHECK(mn_ssm_stats_measure(m, NULL, 1, &s, NULL) == MN_E_ARG, "Mamba measured without data");
    double per[E];
    REQUIRE_OK(mn_ssm_stats_measure(m, &b, 1, &s, per));
    CHECK(!strcmp(s.kind, "mamba") && s.has_decay && s.input_dependent && s.channels == E &&
          s.modes == N && s.positions == 15, "kind %s, decay %d, input %d, %dx%d, %lld positions",
          s.kind, s.has_decay, s.input_dependent, s.channels, s.modes, (long long)s.positions);
    CHECK(s.dt_min < s.dt_median && s.dt_median < s.dt_max, "Δ varies with the input: %g %g %g",
          s.dt_min, s.dt_median, s.dt_max);
    /* padding changes nothing */
    mn_ssm_stats s2;
    for (int t = 3; t < T; t++) x[(t * Bn + 1) * 2] += 5;   /* sequence 1 past its length */
    REQUIRE_OK(mn_ssm_stats_measure(m, &b, 1, &s2, NULL));
    CHECK(s2.dt_min == s.dt_min && s2.dt_max == s.dt_max && s2.dt_median == s.dt_median &&
          s2.half_life_median == s.half_life_median, "padding changed the measure");

    float *xp = (float *)tensor(m, "x_proj.weight");
    const float *bias = tensor(m, "dt_proj.bias"), *A_log = tensor(m, "A_log");
    REQUIRE(xp && bias && A_log, "no Mamba tensors");
    memset(xp, 0, sizeof(float) * ((D + 15) / 16 + 2 * N) * E);
    REQUIRE_OK(mn_ssm_stats_measure(m, &b, 1, &s, per));
    double lo = 1e9, hi = 0;
    for (int e = 0; e < E; e++) {
        double dt = softplus_d(bias[e]), slow = 0;
        lo = fmin(lo, dt);
        hi = fmax(hi, dt);
        for (int n = 0; n < N; n++) slow = fmax(slow, log(2.0) / (dt * exp(A_log[e * N + n])));
        CHECK(fabs(per[e] - slow) <= 1e-5 * slow, "channel %d: half-life %g, want %g", e, per[e],
              slow);
    }
    CHECK(fabs(s.dt_min - lo) <= 1e-6 * lo && fabs(s.dt_max - hi) <= 1e-6 * hi,
          "constant Δ: %g..%g, want %g..%g", s.dt_min, s.dt_max, lo, hi);
    mn_model_free(m);
}
