/* Branch-free exp, sigmoid and tanh that the compiler can vectorize inside the cell loops
 * (libm's calls cannot be). Accuracy against libm is measured in tests/test_fastmath.c:
 * max relative error below 1e-6 over [-80, 80] (exp over [-80, 80]; the cells' range). */
#ifndef MN_FASTMATH_H
#define MN_FASTMATH_H

#include <stdint.h>
#include <string.h>

/* e^x = 2^n · e^r with n = round(x / ln 2), |r| <= ln2 / 2; e^r by a degree-6 polynomial
 * (Cephes expf coefficients), computed on x clamped to [-87, 88] so 2^n stays a normal float.
 * The ends are libm's and PyTorch's: +Inf above the float range, 0 below the normal floats
 * (flushed there anyway), NaN for NaN — so sigmoid(∓Inf) is exactly 0 and 1, tanh(±Inf)
 * ±1, and an attention weight of a −Inf score exactly 0. 2^n is built from the bits of the
 * rounded float as unsigned integers, so a NaN makes no undefined conversion (which the
 * sanitizer build would stop on). Every select is a compare: a file whose
 * loops should vectorize on AVX2 compiles under no-trapping-math (see cell.c). */
static inline float mn_fast_expf(float x) {
    float c = x < -87.0f ? -87.0f : x > 88.0f ? 88.0f : x;
    const float shifter = 12582912.0f;            /* 1.5·2^23: rounds to an integer */
    float t = c * 1.44269504088896341f + shifter;
    float n = t - shifter;
    float r = c - n * 0.693359375f;               /* ln 2 split in two for exactness */
    r = r - n * -2.12194440e-4f;
    float r2 = r * r;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r2 + r + 1.0f;
    /* t's bits are 0x4B400000 + n (its unit in the last place is 1), and 0x4B400000 << 23
     * wraps to 0: the bits of 2^n straight from t, without a float-to-int conversion
     * (undefined for NaN, which the last select below replaces anyway) */
    uint32_t bits;
    memcpy(&bits, &t, sizeof bits);
    bits = (bits + 127u) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    float e = p * scale;
    e = x > 88.72f ? __builtin_inff() : e;
    e = x < -87.33f ? 0.0f : e;
    return x != x ? x : e;
}

/* 1 / (1 + e^−x): 0 at −Inf, 1 at +Inf, NaN for NaN */
static inline float mn_fast_sigmoid(float x) { return 1.0f / (1.0f + mn_fast_expf(-x)); }

/* tanh(x) = sign(x)·(1 − e^{−2|x|}) / (1 + e^{−2|x|}); below |x| = 0.0625 the subtraction
 * would cancel, so an odd Taylor polynomial takes over there. ±1 at ±Inf, NaN for NaN. */
static inline float mn_fast_tanhf(float x) {
    float a = __builtin_fabsf(x);
    float e = mn_fast_expf(-2.0f * a);
    float big = (1.0f - e) / (1.0f + e);
    float x2 = a * a;
    float small = a * (1.0f + x2 * (-0.333333333f + x2 * (0.133333333f + x2 * -0.0539682540f)));
    return __builtin_copysignf(a < 0.0625f ? small : big, x);
}

#endif
