/* 8-column moves between time-major rows and per-column rows (tile8.h). The AVX2 path
 * transposes 8×8 tiles in registers; the tail (T mod 8 steps) and the portable path move
 * one element at a time; both add the same way when accumulating (the same bits). */
#include "tile8.h"

static int force_portable;
void mn_tile8_use_portable(int on) { force_portable = on; }

static void to_cols_portable(const float *rows, size_t ldr, int t0, int T, float *cols,
                             size_t ldc, float chk[8]) {
    for (int t = t0; t < T; t++)
        for (int c = 0; c < 8; c++) {
            float a = rows[(size_t)t * ldr + c];
            cols[c * ldc + t] = a;
            chk[c] += a * 0.0f;
        }
}

static void to_rows_portable(const float *cols, size_t ldc, int t0, int T, float *rows,
                             size_t ldr, int acc) {
    for (int t = t0; t < T; t++)
        for (int c = 0; c < 8; c++) {
            float val = cols[c * ldc + t], *o = rows + (size_t)t * ldr + c;
            *o = acc ? *o + val : val;
        }
}

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

__attribute__((target("avx2"))) static inline void transpose8(__m256 *r) {
    __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
    __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
    __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
    __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
    __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    __m256 s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    __m256 s4 = _mm256_shuffle_ps(t4, t6, 0x44), s5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    __m256 s6 = _mm256_shuffle_ps(t5, t7, 0x44), s7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    r[0] = _mm256_permute2f128_ps(s0, s4, 0x20);
    r[1] = _mm256_permute2f128_ps(s1, s5, 0x20);
    r[2] = _mm256_permute2f128_ps(s2, s6, 0x20);
    r[3] = _mm256_permute2f128_ps(s3, s7, 0x20);
    r[4] = _mm256_permute2f128_ps(s0, s4, 0x31);
    r[5] = _mm256_permute2f128_ps(s1, s5, 0x31);
    r[6] = _mm256_permute2f128_ps(s2, s6, 0x31);
    r[7] = _mm256_permute2f128_ps(s3, s7, 0x31);
}

__attribute__((target("avx2"))) static int to_cols_avx2(const float *rows, size_t ldr, int T,
                                                        float *cols, size_t ldc, float chk[8]) {
    __m256 zero = _mm256_setzero_ps(), k = _mm256_loadu_ps(chk);
    int t = 0;
    for (; t + 8 <= T; t += 8) {
        __m256 r[8];
        for (int i = 0; i < 8; i++) {
            r[i] = _mm256_loadu_ps(rows + (size_t)(t + i) * ldr);
            k = _mm256_add_ps(k, _mm256_mul_ps(r[i], zero));
        }
        transpose8(r);
        for (int c = 0; c < 8; c++) _mm256_storeu_ps(cols + c * ldc + t, r[c]);
    }
    _mm256_storeu_ps(chk, k);
    return t;
}

__attribute__((target("avx2"))) static int to_rows_avx2(const float *cols, size_t ldc, int T,
                                                        float *rows, size_t ldr, int acc) {
    int t = 0;
    for (; t + 8 <= T; t += 8) {
        __m256 r[8];
        for (int c = 0; c < 8; c++) r[c] = _mm256_loadu_ps(cols + c * ldc + t);
        transpose8(r);
        for (int i = 0; i < 8; i++) {
            float *o = rows + (size_t)(t + i) * ldr;
            __m256 val = r[i];
            if (acc) val = _mm256_add_ps(_mm256_loadu_ps(o), val);
            _mm256_storeu_ps(o, val);
        }
    }
    return t;
}
static int have_avx2(void) { return !force_portable && __builtin_cpu_supports("avx2"); }
#else
static int have_avx2(void) { return 0; }
#define to_cols_avx2(...) 0
#define to_rows_avx2(...) 0
#endif

void mn_tile8_to_cols(const float *rows, size_t ldr, int T, float *cols, size_t ldc,
                      float chk[8]) {
    int t = have_avx2() ? to_cols_avx2(rows, ldr, T, cols, ldc, chk) : 0;
    to_cols_portable(rows, ldr, t, T, cols, ldc, chk);
}

void mn_tile8_to_rows(const float *cols, size_t ldc, int T, float *rows, size_t ldr,
                      int accumulate) {
    int t = have_avx2() ? to_rows_avx2(cols, ldc, T, rows, ldr, accumulate) : 0;
    to_rows_portable(cols, ldc, t, T, rows, ldr, accumulate);
}
