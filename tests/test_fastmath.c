/* The vectorizable exp/sigmoid/tanh against libm: max relative error over the cells' range. */
#include "test.h"
#include "fastmath.h"
#include "core.h"

static double worst_rel(float (*f)(float), double (*ref)(double), float lo, float hi, int n) {
    double worst = 0;
    for (int i = 0; i <= n; i++) {
        float x = lo + (hi - lo) * (float)i / (float)n;
        double want = ref((double)x), got = f(x);
        if (want == 0) continue;
        double e = fabs(got - want) / fabs(want);
        if (e > worst || e != e) worst = e;
    }
    return worst;
}

static double sigmoid_ref(double x) { return 1.0 / (1.0 + exp(-x)); }

TEST(fastmath_relative_error_below_1e6) {
    double e_exp = worst_rel(mn_fast_expf, exp, -80.0f, 80.0f, 2000003);
    double e_sig = worst_rel(mn_fast_sigmoid, sigmoid_ref, -80.0f, 80.0f, 2000003);
    double e_tanh = worst_rel(mn_fast_tanhf, tanh, -20.0f, 20.0f, 2000003);
    double e_tanh_small = worst_rel(mn_fast_tanhf, tanh, -0.2f, 0.2f, 200003);
    printf("    max relative error vs double libm: exp %.2e, sigmoid %.2e, tanh %.2e (|x|<0.2: %.2e)\n",
           e_exp, e_sig, e_tanh, e_tanh_small);
    CHECK(e_exp < 1e-6, "exp: %g", e_exp);
    CHECK(e_sig < 1e-6, "sigmoid: %g", e_sig);
    CHECK(e_tanh < 1e-6, "tanh: %g", e_tanh);
    CHECK(e_tanh_small < 1e-6, "tanh near 0: %g", e_tanh_small);
    CHECK(mn_fast_tanhf(30.0f) == 1.0f && mn_fast_tanhf(-30.0f) == -1.0f, "tanh saturation");
    CHECK(mn_fast_sigmoid(-200.0f) >= 0.0f && mn_fast_sigmoid(200.0f) == 1.0f, "sigmoid limits");
}

/* mnemo computes with denormals flushed (core.h) and gives the caller's mode back. */
TEST(denormals_flushed_inside_and_restored_after) {
    volatile float tiny = 1e-30f, scale = 1e-10f;
    float before = tiny * scale;             /* 1e-40: a denormal under the default mode */
    unsigned saved = mn_fp_enter();
    float inside = tiny * scale;
    volatile float denormal = before;
    float read = denormal * 2.0f;            /* DAZ: a denormal input reads as zero */
    mn_fp_leave(saved);
    float after = tiny * scale;
#if defined(__SSE__) || defined(__x86_64__)
    CHECK(before != 0.0f, "1e-30 * 1e-10 was flushed before mn_fp_enter (%g)", before);
    CHECK(inside == 0.0f, "1e-30 * 1e-10 = %g inside mn_fp_enter; expected 0 (FTZ)", inside);
    CHECK(read == 0.0f, "a denormal input read as %g inside mn_fp_enter; expected 0 (DAZ)", read);
    CHECK(after == before, "the mode was not restored: %g after, %g before", after, before);
#else
    (void)inside; (void)read; (void)after;
    printf("    (no flush-to-zero mode on this CPU)\n");
#endif
}

/* The ends, as libm and PyTorch: exp(NaN) = NaN, exp(+Inf) = +Inf past the float range,
 * exp(−Inf) = 0 below the normal floats; sigmoid(∓Inf) = 0 and 1 exactly; tanh(±Inf) = ±1;
 * NaN in, NaN out (the sanitizer build also checks that no conversion or shift of NaN is
 * undefined). */
TEST(fastmath_nan_and_inf_as_pytorch) {
    volatile float nan = NAN, inf = INFINITY;
    CHECK(isnan(mn_fast_expf(nan)), "exp(NaN) = %g", mn_fast_expf(nan));
    CHECK(mn_fast_expf(inf) == INFINITY && mn_fast_expf(89.0f) == INFINITY &&
          mn_fast_expf(1e30f) == INFINITY, "exp past the range: %g %g", mn_fast_expf(inf),
          mn_fast_expf(89.0f));
    CHECK(mn_fast_expf(-inf) == 0.0f && mn_fast_expf(-88.0f) == 0.0f &&
          mn_fast_expf(-1e30f) == 0.0f, "exp below the range: %g %g", mn_fast_expf(-inf),
          mn_fast_expf(-88.0f));
    CHECK(isnan(mn_fast_sigmoid(nan)) && mn_fast_sigmoid(-inf) == 0.0f &&
          mn_fast_sigmoid(inf) == 1.0f, "sigmoid: NaN %g, -Inf %g, +Inf %g",
          mn_fast_sigmoid(nan), mn_fast_sigmoid(-inf), mn_fast_sigmoid(inf));
    CHECK(isnan(mn_fast_tanhf(nan)) && mn_fast_tanhf(-inf) == -1.0f &&
          mn_fast_tanhf(inf) == 1.0f, "tanh: NaN %g, -Inf %g, +Inf %g", mn_fast_tanhf(nan),
          mn_fast_tanhf(-inf), mn_fast_tanhf(inf));
}
