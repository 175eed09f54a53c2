/* Losses: values worked out by hand, central finite-difference gradient checks (with
 * masked rows and ignored labels), and the inv_norm contract. */
#include "test.h"
#include "loss.h"

#include <string.h>

#define GARBAGE 12345.0f   /* pre-filled into gradients: every element must be written */

TEST(loss_mse_hand_values) {
    const float p[] = {1, 2, 3, 4}, t[] = {0, 2, 5, 1};
    float d[4];
    for (int i = 0; i < 4; i++) d[i] = GARBAGE;
    /* Errors 1, 0, -2, 3: sum of squares 14; gradient 2·e·inv_norm. */
    double L = mn_mse_loss(p, t, NULL, 2, 2, 0.25, d);
    CHECK(L == 14.0, "mse sum %g, want 14", L);
    const float want[] = {0.5f, 0.0f, -1.0f, 1.5f};
    for (int i = 0; i < 4; i++) CHECK(d[i] == want[i], "d[%d] = %g, want %g", i, d[i], want[i]);

    /* The second row masked out: only 1 counts, and its gradient is 0. */
    const uint8_t mask[] = {1, 0};
    for (int i = 0; i < 4; i++) d[i] = GARBAGE;
    L = mn_mse_loss(p, t, mask, 2, 2, 1.0, d);
    CHECK(L == 1.0, "masked mse %g, want 1", L);
    CHECK(d[0] == 2.0f && d[1] == 0.0f && d[2] == 0.0f && d[3] == 0.0f,
          "masked gradient %g %g %g %g", d[0], d[1], d[2], d[3]);
    CHECK(mn_mse_loss(p, t, NULL, 2, 2, 1.0, NULL) == 14.0, "d = NULL");
}

TEST(loss_ce_hand_values) {
    /* Uniform logits over 3 classes: loss ln 3, gradient (1/3, -2/3, 1/3)·inv_norm. */
    const float z0[] = {0, 0, 0};
    const int32_t l1[] = {1};
    float d[3];
    double L = mn_ce_loss(z0, l1, 1, 3, 0.5, d);
    CHECK(fabs(L - log(3.0)) < 1e-12, "ce %.15g, want ln 3", L);
    CHECK(fabsf(d[0] - 1.0f / 6) < 1e-7f && fabsf(d[1] + 2.0f / 6) < 1e-7f &&
          fabsf(d[2] - 1.0f / 6) < 1e-7f, "grad %g %g %g", d[0], d[1], d[2]);

    /* z = (1,2,3), label 2: loss = ln(e + e² + e³) - 3. */
    const float z1[] = {1, 2, 3};
    const int32_t l2[] = {2};
    L = mn_ce_loss(z1, l2, 1, 3, 1.0, d);
    double want = log(exp(1.0) + exp(2.0) + exp(3.0)) - 3.0;
    CHECK(fabs(L - want) < 1e-12, "ce %.15g, want %.15g", L, want);
    double s = exp(1.0) + exp(2.0) + exp(3.0);
    CHECK(fabs(d[0] - exp(1.0) / s) < 1e-7 && fabs(d[2] - (exp(3.0) / s - 1)) < 1e-7,
          "grad %g %g %g", d[0], d[1], d[2]);

    /* Huge logits must not overflow: (1000, 0) with label 1 costs 1000, label 0 ~ e^-1000. */
    const float z2[] = {1000, 0, 1000, 0};
    const int32_t l3[] = {1, 0};
    float d4[4];
    L = mn_ce_loss(z2, l3, 2, 2, 1.0, d4);
    CHECK(isfinite(L) && fabs(L - 1000.0) < 1e-9, "large logits: %g", L);
    CHECK(fabsf(d4[0] - 1) < 1e-6f && fabsf(d4[1] + 1) < 1e-6f && d4[2] == 0 && d4[3] == 0,
          "large-logit gradient %g %g %g %g", d4[0], d4[1], d4[2], d4[3]);

    /* An ignored row adds nothing and gets zero gradient. */
    const float z3[] = {0, 0, 0, 5, -1, 2};
    const int32_t l4[] = {1, -1};
    float d6[6];
    for (int i = 0; i < 6; i++) d6[i] = GARBAGE;
    L = mn_ce_loss(z3, l4, 2, 3, 1.0, d6);
    CHECK(fabs(L - log(3.0)) < 1e-12, "ignored row counted: %g", L);
    CHECK(d6[3] == 0 && d6[4] == 0 && d6[5] == 0, "ignored row gradient %g %g %g", d6[3],
          d6[4], d6[5]);
}

/* Fills v with a fixed pseudo-random pattern in [-2, 2]. */
static void fill(float *v, int n, unsigned seed) {
    for (int i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        v[i] = (float)((seed >> 8) % 4001) / 1000.0f - 2.0f;
    }
}

TEST(loss_mse_gradient_check) {
    enum { N = 4, O = 3 };
    float p[N * O], t[N * O], d[N * O];
    const uint8_t mask[N] = {1, 0, 1, 1};
    fill(p, N * O, 1);
    fill(t, N * O, 2);
    const double inv = 1.0 / (3 * O);   /* mean over the counted items */
    mn_mse_loss(p, t, mask, N, O, inv, d);
    for (int i = 0; i < N * O; i++) {
        float keep = p[i];
        float up = keep + 1e-2f, dn = keep - 1e-2f;
        p[i] = up;
        double Lp = mn_mse_loss(p, t, mask, N, O, inv, NULL) * inv;
        p[i] = dn;
        double Lm = mn_mse_loss(p, t, mask, N, O, inv, NULL) * inv;
        p[i] = keep;
        double num = (Lp - Lm) / ((double)up - (double)dn);   /* exact for a quadratic */
        CHECK(fabs(num - d[i]) < 1e-5 * (1 + fabs(num)), "d[%d]: analytic %g numeric %g", i,
              d[i], num);
        if (!mask[i / O]) CHECK(d[i] == 0, "masked d[%d] = %g", i, d[i]);
    }
}

TEST(loss_ce_gradient_check) {
    enum { N = 5, C = 4 };
    float z[N * C], d[N * C];
    const int32_t labels[N] = {2, -1, 0, 3, 1};
    fill(z, N * C, 3);
    const double inv = 1.0 / 4;   /* four rows count */
    for (int i = 0; i < N * C; i++) d[i] = GARBAGE;
    mn_ce_loss(z, labels, N, C, inv, d);
    for (int i = 0; i < N * C; i++) {
        float keep = z[i];
        float up = keep + 1e-3f, dn = keep - 1e-3f;
        z[i] = up;
        double Lp = mn_ce_loss(z, labels, N, C, inv, NULL) * inv;
        z[i] = dn;
        double Lm = mn_ce_loss(z, labels, N, C, inv, NULL) * inv;
        z[i] = keep;
        double num = (Lp - Lm) / ((double)up - (double)dn);
        CHECK(fabs(num - d[i]) < 1e-5, "d[%d]: analytic %g numeric %g", i, d[i], num);
        if (labels[i / C] < 0) CHECK(d[i] == 0, "ignored d[%d] = %g", i, d[i]);
    }
    /* Each counted row's gradient sums to 0 (softmax sums to 1). */
    for (int r = 0; r < N; r++) {
        double s = 0;
        for (int k = 0; k < C; k++) s += d[r * C + k];
        CHECK(fabs(s) < 1e-7, "row %d gradient sums to %g", r, s);
    }
}

TEST(loss_inv_norm_scales_gradient_only) {
    enum { N = 3, C = 5 };
    float z[N * C], d1[N * C], d2[N * C], t[N * C];
    const int32_t labels[N] = {4, 0, 2};
    fill(z, N * C, 7);
    fill(t, N * C, 8);
    double a = mn_ce_loss(z, labels, N, C, 1.0, d1);
    double b = mn_ce_loss(z, labels, N, C, 0.125, d2);
    CHECK(a == b, "CE sum depends on inv_norm: %g vs %g", a, b);
    for (int i = 0; i < N * C; i++)
        CHECK(d2[i] == d1[i] * 0.125f, "CE d[%d]: %g vs %g / 8", i, d2[i], d1[i]);
    a = mn_mse_loss(z, t, NULL, N, C, 1.0, d1);
    b = mn_mse_loss(z, t, NULL, N, C, 0.125, d2);
    CHECK(a == b, "MSE sum depends on inv_norm: %g vs %g", a, b);
    for (int i = 0; i < N * C; i++)
        CHECK(fabsf(d2[i] - d1[i] * 0.125f) <= 1e-7f * fabsf(d1[i]), "MSE d[%d]: %g vs %g / 8",
              i, d2[i], d1[i]);
}
