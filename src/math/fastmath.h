/* Branch-free exp, sigmoid and tanh that the compiler can vectorize inside the cell loops
 * (libm's calls cannot be). Accuracy against libm is measured in tests/test_fastmath.c:
 * max relative error below 1e-6 over [-80, 80] (exp over [-80, 80]; the cells' range). */
#ifndef MN_FASTMATH_H
#define MN_FASTMATH_H

#include <stdint.h>
#include <string.h>

/* e^x = 2^n · e^r with n = round(x / ln 2), |r| <= ln2 / 2; e^r by a degree-6 polynomial
 * (Cephes expf coefficients). Inputs are clamped to [-87, 88] so 2^n stays a normal float. */
static inline float mn_fast_expf(float x) {
    x = x < -87.0f ? -87.0f : x > 88.0f ? 88.0f : x;
    const float shifter = 12582912.0f;            /* 1.5·2^23: rounds to an integer */
    float t = x * 1.44269504088896341f + shifter;
    float n = t - shifter;
    float r = x - n * 0.693359375f;               /* ln 2 split in two for exactness */
    r = r - n * -2.12194440e-4f;
    float r2 = r * r;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r2 + r + 1.0f;
    int32_t bits = ((int32_t)n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

static inline float mn_fast_sigmoid(float x) { return 1.0f / (1.0f + mn_fast_expf(-x)); }

/* tanh(x) = sign(x)·(1 − e^{−2|x|}) / (1 + e^{−2|x|}); below |x| = 0.0625 the subtraction
 * would cancel, so an odd Taylor polynomial takes over there. */
static inline float mn_fast_tanhf(float x) {
    float a = __builtin_fabsf(x);
    float e = mn_fast_expf(-2.0f * a);
    float big = (1.0f - e) / (1.0f + e);
    float x2 = a * a;
    float small = a * (1.0f + x2 * (-0.333333333f + x2 * (0.133333333f + x2 * -0.0539682540f)));
    return __builtin_copysignf(a < 0.0625f ? small : big, x);
}

#endif
