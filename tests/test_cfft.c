/* The complex FFT (src/math/cfft.c) against a naive DFT in double through its documented
 * order, its inverse, the zero-half and first-half shortcuts, the AVX2 passes against the
 * portable ones (same bits), the mirror table and the split of two real signals. */
#include "test.h"
#include "fft.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define PI_ 3.14159265358979323846

static void naive(const float *xr, const float *xi, int n, double *Xr, double *Xi) {
    for (int k = 0; k < n; k++) {
        double sr = 0, si = 0;
        for (int j = 0; j < n; j++) {
            double a = -2 * PI_ * (double)((long)j * k % n) / n, c = cos(a), s = sin(a);
            sr += xr[j] * c - xi[j] * s;
            si += xr[j] * s + xi[j] * c;
        }
        Xr[k] = sr;
        Xi[k] = si;
    }
}

TEST(cfft_matches_naive_dft_in_its_order) {
    mn_rng r;
    mn_rng_seed(&r, 21);
    for (int n = 2; n <= 2048; n *= 2)
        for (int half = 0; half < 2; half++) {
            mn_cfft_plan p;
            REQUIRE_OK(mn_cfft_plan_init(&p, n));
            float *xr = calloc(n, 4), *xi = calloc(n, 4), *re = malloc(n * 4), *im = malloc(n * 4);
            double *Xr = malloc(n * 8), *Xi = malloc(n * 8);
            for (int i = 0; i < (half ? n / 2 : n); i++) {
                xr[i] = mn_rng_uniform_range(&r, -1, 1);
                xi[i] = mn_rng_uniform_range(&r, -1, 1);
            }
            memcpy(re, xr, n * 4);
            memcpy(im, xi, n * 4);
            if (half)   /* the zero half is not read: garbage there must not matter */
                for (int i = n / 2; i < n; i++) re[i] = im[i] = NAN;
            naive(xr, xi, n, Xr, Xi);
            mn_cfft_forward(&p, re, im, half);
            double worst = 0, scale = 0;
            int seen_ok = 1;
            char *seen = calloc(n, 1);
            for (int q = 0; q < n; q++) {
                uint32_t k = mn_cfft_frequency(&p, q);
                seen_ok &= k < (uint32_t)n && !seen[k];
                if (k < (uint32_t)n) seen[k] = 1;
                else continue;
                scale = fmax(scale, hypot(Xr[k], Xi[k]));
                double d = hypot(re[q] - Xr[k], im[q] - Xi[k]);
                worst = d == d ? fmax(worst, d) : INFINITY;      /* fmax would drop a NaN */
                CHECK(p.mirror[q] < (uint32_t)n &&
                      mn_cfft_frequency(&p, p.mirror[q]) == (n - k) % (uint32_t)n,
                      "n=%d: mirror of position %d", n, q);
            }
            CHECK(seen_ok, "n=%d: the order is not a permutation", n);
            CHECK(worst <= 1e-6 * scale * log2(2.0 * n), "n=%d half=%d: worst |X - DFT| %.3g of "
                  "%.3g", n, half, worst, scale);
            mn_cfft_inverse(&p, re, im, half);
            double back = 0;
            for (int i = 0; i < (half ? n / 2 : n); i++) {
                double d = fmax(fabs(re[i] / n - xr[i]), fabs(im[i] / n - xi[i]));
                back = d == d ? fmax(back, d) : INFINITY;
            }
            CHECK(back <= 1e-6 * log2(2.0 * n), "n=%d half=%d: inverse(forward(x))/n misses x "
                  "by %.3g", n, half, back);
            free(seen); free(xr); free(xi); free(re); free(im); free(Xr); free(Xi);
            mn_cfft_plan_free(&p);
        }
}

/* The AVX2 passes compute what the portable ones compute, bit for bit. */
TEST(cfft_avx2_and_portable_same_bits) {
    mn_rng r;
    mn_rng_seed(&r, 22);
    for (int n = 8; n <= 1 << 15; n *= 2) {
        mn_cfft_plan p;
        REQUIRE_OK(mn_cfft_plan_init(&p, n));
        float *a = malloc(4 * (size_t)n * 4), *ar = a, *ai = a + n, *br = a + 2 * n;
        float *bi = a + 3 * n;
        for (int i = 0; i < 2 * n; i++) a[i] = mn_rng_uniform_range(&r, -1, 1);
        memcpy(br, ar, 2 * (size_t)n * 4);
        for (int inv = 0; inv < 2; inv++) {
            mn_cfft_use_portable(1);
            if (inv) mn_cfft_inverse(&p, ar, ai, 0); else mn_cfft_forward(&p, ar, ai, 0);
            mn_cfft_use_portable(0);
            if (inv) mn_cfft_inverse(&p, br, bi, 0); else mn_cfft_forward(&p, br, bi, 0);
            CHECK(!memcmp(ar, br, 2 * (size_t)n * 4), "n=%d %s: the two paths differ", n,
                  inv ? "inverse" : "forward");
        }
        free(a);
        mn_cfft_plan_free(&p);
    }
}

/* Two real signals through one transform: their spectra apart, and a convolution of each
 * with a real kernel through the packed pair. */
TEST(cfft_real_pair_split_and_convolution) {
    enum { L = 45, N = 128 };
    mn_cfft_plan p;
    REQUIRE_OK(mn_cfft_plan_init(&p, N));
    mn_rng r;
    mn_rng_seed(&r, 23);
    float a[L], b[L], k[L];
    for (int i = 0; i < L; i++) {
        a[i] = mn_rng_uniform_range(&r, -1, 1);
        b[i] = mn_rng_uniform_range(&r, -1, 1);
        k[i] = mn_rng_uniform_range(&r, -1, 1);
    }
    float zr[N] = {0}, zi[N] = {0}, Ar[N], Ai[N], Br[N], Bi[N], kr[N] = {0}, ki[N] = {0};
    memcpy(zr, k, sizeof k);                       /* kernel with a in one transform */
    memcpy(zi, a, sizeof a);
    mn_cfft_forward(&p, zr, zi, 1);
    mn_cspec_split_pair(&p, zr, zi, 1.0f / N, Ar, Ai, Br, Bi);   /* Ar: K̂/N, Br: Â/N */
    double worst = 0;
    for (int q = 0; q < N; q++) {
        uint32_t f = mn_cfft_frequency(&p, q);
        double sr = 0, si = 0;
        for (int j = 0; j < L; j++) {
            sr += a[j] * cos(-2 * PI_ * j * f / N);
            si += a[j] * sin(-2 * PI_ * j * f / N);
        }
        worst = fmax(worst, hypot(Br[q] * N - sr, Bi[q] * N - si));
    }
    CHECK(worst < 1e-4, "split spectrum off by %.3g", worst);
    memcpy(kr, a, sizeof a);                       /* y = a*k + i·(b*k) */
    memcpy(ki, b, sizeof b);
    mn_cfft_forward(&p, kr, ki, 1);
    mn_cspec_mul(N, kr, ki, Ar, Ai, 0);
    mn_cfft_inverse(&p, kr, ki, 1);
    worst = 0;
    for (int t = 0; t < L; t++) {
        double ya = 0, yb = 0;
        for (int j = 0; j <= t; j++) {
            ya += (double)a[j] * k[t - j];
            yb += (double)b[j] * k[t - j];
        }
        worst = fmax(worst, fmax(fabs(kr[t] - ya), fabs(ki[t] - yb)));
    }
    CHECK(worst < 1e-5, "packed convolution off by %.3g", worst);
    mn_cfft_plan_free(&p);
    CHECK(mn_cfft_plan_init(&p, 48) == MN_E_ARG && p.n == 0, "48 accepted");
}
