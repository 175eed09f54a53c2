/* The pointwise functions of the Mamba block (mamba.c) in branch-free forms the compiler
 * can vectorize (libm's expf, log1pf and expm1f are calls, one element at a time), with
 * PyTorch's values at the ends: exp overflows to +Inf and underflows to 0, SiLU(−Inf) and
 * anything of NaN is NaN, softplus(−Inf) = 0, softplus(+Inf) = +Inf. Accuracy against libm
 * is measured in tests/test_mamba.c. A file that wants them vectorized compiles them under
 * -fno-trapping-math (see mamba.c): their selects are compares. */
#ifndef MN_MAMBA_MATH_H
#define MN_MAMBA_MATH_H

#include "fastmath.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

/* e^x: fastmath.h's mn_fast_expf, which has these ends (+Inf above the float range, 0 below
 * the normal floats, NaN for NaN) and no undefined conversion or shift on NaN. */
static inline float mn_mamba_exp(float x) { return mn_fast_expf(x); }

static inline float mn_mamba_sigmoid(float x) { return 1.0f / (1.0f + mn_mamba_exp(-x)); }

/* SiLU(x) = x·σ(x) (PyTorch's x/(1 + e^−x), the same to rounding, NaN at −Inf as there) */
static inline float mn_mamba_silu(float x) { return x * mn_mamba_sigmoid(x); }

/* SiLU'(x) = σ(x)·(1 + x·(1 − σ(x))) */
static inline float mn_mamba_silu_grad(float x) {
    float s = mn_mamba_sigmoid(x);
    return s * (1.0f + x * (1.0f - s));
}

/* ln w for finite w ≥ 1 (Cephes logf: w = m·2^k with m in [√½, √2), ln(1 + f) by its
 * polynomial); garbage for NaN and Inf, which the callers route around */
static inline float mn_mamba_log(float w) {
    uint32_t bits;
    memcpy(&bits, &w, sizeof bits);
    float k = (float)((int32_t)(bits >> 23) - 126);
    bits = (bits & 0x007fffffu) | 0x3f000000u;
    float m;
    memcpy(&m, &bits, sizeof m);
    int small = m < 0.707106781186547524f;
    k = small ? k - 1.0f : k;
    m = small ? m + m - 1.0f : m - 1.0f;
    float z = m * m, y = 7.0376836292e-2f;
    y = y * m - 1.1514610310e-1f;
    y = y * m + 1.1676998740e-1f;
    y = y * m - 1.2420140846e-1f;
    y = y * m + 1.4249322787e-1f;
    y = y * m - 1.6668057665e-1f;
    y = y * m + 2.0000714765e-1f;
    y = y * m - 2.4999993993e-1f;
    y = y * m + 3.3333331174e-1f;
    y = y * m * z - 2.12194440e-4f * k - 0.5f * z;
    return m + y + 0.693359375f * k;
}

/* softplus(x) = ln(1 + e^x), x itself above 20 (PyTorch's threshold). ln(1 + y) as
 * ln(w)·y/(w − 1) with w = 1 + y rounded (Goldberg's correction: exact to a few ulp where y
 * is tiny beside 1), y itself where w rounds to 1. */
static inline float mn_mamba_softplus(float x) {
    float y = mn_mamba_exp(x), w = 1.0f + y;
    float l = mn_mamba_log(w) * (y / (w - 1.0f));
    l = w == 1.0f ? y : l;
    return x > 20.0f ? x : l;
}

/* softplus'(x) = σ(x) = 1 − e^−Δ from Δ = softplus(x) ≥ 0: −expm1(−Δ), by its Taylor series
 * below Δ = 1/2 (where 1 − e^−Δ would cancel) */
static inline float mn_mamba_softplus_grad(float d) {
    float v = -d;
    float p = 1.0f + v * 0.125f;
    p = 1.0f + v * (1.0f / 7) * p;
    p = 1.0f + v * (1.0f / 6) * p;
    p = 1.0f + v * 0.2f * p;
    p = 1.0f + v * 0.25f * p;
    p = 1.0f + v * (1.0f / 3) * p;
    p = 1.0f + v * 0.5f * p;
    p = v * p;
    float big = mn_mamba_exp(v) - 1.0f;
    return -(d < 0.5f ? p : big);
}

#endif
