/* The real FFT (src/math/fft.c) against a naive DFT in double, its inverse, and the
 * convolution the state-space layers build from it. */
#include "test.h"
#include "fft.h"

#include <stdlib.h>

TEST(fft_matches_naive_dft) {
    mn_rng r;
    mn_rng_seed(&r, 11);
    for (int n = 2; n <= 4096; n *= 2) {
        mn_fft_plan p;
        REQUIRE_OK(mn_fft_plan_init(&p, n));
        float *buf = malloc((size_t)(n + 2) * sizeof(float)), *x = malloc((size_t)n * sizeof(float));
        float *work = malloc((size_t)n * sizeof(float));
        for (int i = 0; i < n; i++) x[i] = buf[i] = mn_rng_uniform_range(&r, -1, 1);
        mn_rfft(&p, buf, work);
        double worst = 0, scale = 0;
        for (int k = 0; k <= n / 2; k++) {
            double re = 0, im = 0;
            for (int j = 0; j < n; j++) {
                double a = -2.0 * 3.14159265358979323846 * (double)j * k / n;
                re += x[j] * cos(a);
                im += x[j] * sin(a);
            }
            scale = fmax(scale, hypot(re, im));
            worst = fmax(worst, hypot(buf[2 * k] - re, buf[2 * k + 1] - im));
        }
        /* float error grows like log2(n); the spectrum's scale like √n */
        CHECK(worst <= 1e-6 * scale * log2(2.0 * n), "n=%d: worst |X - DFT| %.3g of scale %.3g",
              n, worst, scale);
        mn_irfft(&p, buf, work);
        double back = 0;
        for (int i = 0; i < n; i++) back = fmax(back, fabs(buf[i] - x[i]));
        CHECK(back <= 1e-6 * log2(2.0 * n), "n=%d: irfft(rfft(x)) misses x by %.3g", n, back);
        free(buf);
        free(x);
        free(work);
        mn_fft_plan_free(&p);
    }
}

/* irfft(rfft(a)·rfft(b)) is the linear convolution when both fit in half the length; with
 * the conjugate, the correlation Σ_t a[t−l]·b[t]. */
TEST(fft_convolution_and_correlation) {
    enum { L = 37, N = 128 };
    mn_fft_plan p;
    REQUIRE_OK(mn_fft_plan_init(&p, N));
    CHECK(mn_fft_size_for(2 * L) == N && mn_fft_size_for(1) == 2 && mn_fft_size_for(64) == 64,
          "sizes");
    mn_rng r;
    mn_rng_seed(&r, 12);
    float a[N + 2] = {0}, b[N + 2] = {0}, c[N + 2], av[L], bv[L], work[N];
    for (int i = 0; i < L; i++) a[i] = av[i] = mn_rng_uniform_range(&r, -1, 1);
    for (int i = 0; i < L; i++) b[i] = bv[i] = mn_rng_uniform_range(&r, -1, 1);
    mn_rfft(&p, a, work);
    mn_rfft(&p, b, work);
    for (int i = 0; i < N + 2; i++) c[i] = b[i];
    mn_spectrum_mul(&p, c, a, 0);
    mn_irfft(&p, c, work);
    double worst = 0;
    for (int t = 0; t < L; t++) {
        double s = 0;
        for (int j = 0; j <= t; j++) s += (double)av[j] * bv[t - j];
        worst = fmax(worst, fabs(c[t] - s));
    }
    CHECK(worst < 1e-5, "convolution off by %.3g", worst);
    for (int i = 0; i < N + 2; i++) c[i] = b[i];
    mn_spectrum_mul(&p, c, a, 1);                 /* conj(A)·B: Σ_t a[t−l]·b[t] */
    mn_irfft(&p, c, work);
    worst = 0;
    for (int l = 0; l < L; l++) {
        double s = 0;
        for (int t = l; t < L; t++) s += (double)av[t - l] * bv[t];
        worst = fmax(worst, fabs(c[l] - s));
    }
    CHECK(worst < 1e-5, "correlation off by %.3g", worst);
    mn_fft_plan_free(&p);
    mn_fft_plan q;
    CHECK(mn_fft_plan_init(&q, 48) == MN_E_ARG && q.n == 0, "48 is not a power of two");
    CHECK(mn_fft_plan_init(&q, 1) == MN_E_ARG, "1 point");
    mn_fft_plan_free(&q);
}
