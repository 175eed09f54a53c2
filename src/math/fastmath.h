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
/* The constants, shared with the vector kernels that compute the same functions
 * (src/layers/cell_avx2.c) */
#define MN_EXP_LO (-87.0f)                  /* the clamp: 2^n stays a normal float */
#define MN_EXP_HI 88.0f
#define MN_EXP_INF_ABOVE 88.72f             /* +Inf above, as libm */
#define MN_EXP_ZERO_BELOW (-87.33f)         /* 0 below */
#define MN_EXP_SHIFTER 12582912.0f          /* 1.5·2^23: adding it rounds to an integer */
#define MN_LOG2E 1.44269504088896341f
#define MN_LN2_HI 0.693359375f              /* ln 2 split in two for exactness */
#define MN_LN2_LO (-2.12194440e-4f)
#define MN_EXP_P0 1.9875691500e-4f          /* Cephes expf, highest degree first */
#define MN_EXP_P1 1.3981999507e-3f
#define MN_EXP_P2 8.3334519073e-3f
#define MN_EXP_P3 4.1665795894e-2f
#define MN_EXP_P4 1.6666665459e-1f
#define MN_EXP_P5 5.0000001201e-1f
#define MN_TANH_SMALL 0.0625f               /* below: tanh's odd Taylor polynomial */
#define MN_TANH_T3 (-0.333333333f)
#define MN_TANH_T5 0.133333333f
#define MN_TANH_T7 (-0.0539682540f)

static inline float mn_fast_expf(float x) {
    float c = x < MN_EXP_LO ? MN_EXP_LO : x > MN_EXP_HI ? MN_EXP_HI : x;
    float t = c * MN_LOG2E + MN_EXP_SHIFTER;
    float n = t - MN_EXP_SHIFTER;
    float r = c - n * MN_LN2_HI;
    r = r - n * MN_LN2_LO;
    float r2 = r * r;
    float p = MN_EXP_P0;
    p = p * r + MN_EXP_P1;
    p = p * r + MN_EXP_P2;
    p = p * r + MN_EXP_P3;
    p = p * r + MN_EXP_P4;
    p = p * r + MN_EXP_P5;
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
    e = x > MN_EXP_INF_ABOVE ? __builtin_inff() : e;
    e = x < MN_EXP_ZERO_BELOW ? 0.0f : e;
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
    float small = a * (1.0f + x2 * (MN_TANH_T3 + x2 * (MN_TANH_T5 + x2 * MN_TANH_T7)));
    return __builtin_copysignf(a < MN_TANH_SMALL ? small : big, x);
}

#endif
