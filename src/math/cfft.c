/* Complex FFT of power-of-two length n on split arrays (re[n], im[n]), in place, for
 * convolutions (fft.h): the spectrum is left in a fixed permuted order, which pointwise
 * products do not mind, so neither transform reorders anything.
 *
 * Forward, decimation in frequency: a radix-2 pass when log2(n) is even, radix-4 passes
 * while their quarter span is >= 8 (the butterflies of a pass run over contiguous k with
 * contiguous twiddles: the compiler vectorizes them), then 8-point transforms of the
 * contiguous blocks of 8 left. From n = 64 the blocks go eight at a time through an 8×8
 * transpose (AVX2 shuffles, or the same moves in plain C), each vector lane one block,
 * and are stored without transposing back: position 64G + 8j + b holds output j of block
 * b, i.e. frequency rev(64G + 8b + j) (rev: log2(n)-bit reversal); below 64, position p
 * holds frequency rev(p). The inverse runs the same steps backwards with conjugate
 * twiddles, unscaled (n·x).
 * A forward pass whose input's second half is zero skips reading it; an inverse asked for
 * the first half only skips computing the rest. Twiddles are computed in double. The AVX2
 * clones compute the same operations in the same order (no FMA contraction in ISO C), so
 * both give the same bits. */
#include "fft.h"

#include <math.h>
#include <string.h>

static int log2_of(int n) {
    int b = 0;
    while ((1 << b) < n) b++;
    return b;
}

static uint32_t bitrev(uint32_t i, int bits) {
    uint32_t r = 0;
    for (int b = 0; b < bits; b++) r |= ((i >> b) & 1u) << (bits - 1 - b);
    return r;
}

/* The passes: [radix-2 of span n/2 when log2 n is even and n >= 16], radix-4 of quarter
 * spans s = ..., 32, 8 (s >= 8), then blocks of 8 (n >= 8); n = 2, 4: radix-2 only. */
typedef struct { int radix2, nquad, first_s, blocks, transposed; } shape;

static shape shape_of(int n) {
    shape sh = {0};
    int L = log2_of(n);
    if (n < 8) return sh;
    sh.blocks = 1;
    sh.transposed = n >= 64;
    sh.radix2 = L % 2 == 0;
    int rest = L - sh.radix2 - 3;              /* stages left for radix-4: even */
    sh.nquad = rest / 2;
    sh.first_s = sh.nquad ? (n >> sh.radix2) / 4 : 0;
    return sh;
}

size_t mn_cfft_plan_bytes(int n) {
    size_t m = (size_t)(n > 2 ? n : 2);
    /* radix-2 twiddles n/2 complex, radix-4 6·s floats per pass (< 2n), mirror n */
    return (m + 2 * m) * sizeof(float) + m * sizeof(uint32_t);
}

void mn_cfft_plan_free(mn_cfft_plan *p) {
    if (p->tw) mn_release(p->tw);
    memset(p, 0, sizeof *p);
}

/* the transposes' exchange of (j, b) within each group of 64: its own inverse */
static uint32_t swap_jb(uint32_t pos) {
    uint32_t G = pos >> 6, j = (pos >> 3) & 7, b = pos & 7;
    return (G << 6) | (b << 3) | j;
}

uint32_t mn_cfft_frequency(const mn_cfft_plan *p, uint32_t pos) {
    return bitrev(shape_of(p->n).transposed ? swap_jb(pos) : pos, log2_of(p->n));
}

static uint32_t position_of(const mn_cfft_plan *p, uint32_t k) {
    uint32_t r = bitrev(k, log2_of(p->n));
    return shape_of(p->n).transposed ? swap_jb(r) : r;
}

mn_status mn_cfft_plan_init(mn_cfft_plan *p, int n) {
    memset(p, 0, sizeof *p);
    if (n < 2 || n > 1 << 30 || (n & (n - 1)))
        return mn_fail(MN_E_ARG, "FFT length %d: must be a power of two from 2 to 2^30", n);
    size_t bytes = mn_cfft_plan_bytes(n);
    float *tw = mn_alloc(bytes);
    if (!tw) return MN_E_NOMEM;
    p->n = n;
    p->bytes = bytes;
    p->tw = tw;
    p->mirror = (uint32_t *)(tw + 3 * (size_t)n);
    const double pi = 3.14159265358979323846;
    shape sh = shape_of(n);
    float *w = tw;
    if (sh.radix2)
        for (int k = 0; k < n / 2; k++) {
            double a = -2 * pi * k / n;
            w[k] = (float)cos(a);
            w[n / 2 + k] = (float)sin(a);
        }
    w += n;
    for (int q = 0, s = sh.first_s; q < sh.nquad; q++, s /= 4) {
        for (int k = 0; k < s; k++)
            for (int e = 1; e <= 3; e++) {
                double a = -2 * pi * (double)e * k / (4.0 * s);
                w[(2 * e - 2) * s + k] = (float)cos(a);
                w[(2 * e - 1) * s + k] = (float)sin(a);
            }
        w += 6 * (size_t)s;
    }
    for (uint32_t i = 0; i < (uint32_t)n; i++)
        p->mirror[i] = position_of(p, (n - mn_cfft_frequency(p, i)) & (uint32_t)(n - 1));
    return MN_OK;
}

/* ------------------------------------------------------------ passes */

/* radix-4 DIF butterflies of quarter span s over groups of 4s; half: a2 = a3 = 0 */
static inline __attribute__((always_inline)) void quad_dif(float *restrict re,
                                                           float *restrict im, int n, int s,
                                                           const float *restrict w, int half) {
    const float *w1r = w, *w1i = w + s, *w2r = w + 2 * s, *w2i = w + 3 * s, *w3r = w + 4 * s,
                *w3i = w + 5 * s;
    for (int g = 0; g < n; g += 4 * s) {
        float *r0 = re + g, *r1 = r0 + s, *r2 = r1 + s, *r3 = r2 + s;
        float *i0 = im + g, *i1 = i0 + s, *i2 = i1 + s, *i3 = i2 + s;
        /* four disjoint quarters (more than the vectorizer checks at run time) */
        #pragma GCC ivdep
        for (int k = 0; k < s; k++) {
            float a0r = r0[k], a0i = i0[k], a1r = r1[k], a1i = i1[k];
            float a2r = half ? 0.0f : r2[k], a2i = half ? 0.0f : i2[k];
            float a3r = half ? 0.0f : r3[k], a3i = half ? 0.0f : i3[k];
            float d0r = a0r + a2r, d0i = a0i + a2i, d1r = a1r + a3r, d1i = a1i + a3i;
            float e0r = a0r - a2r, e0i = a0i - a2i;
            float e1r = a1i - a3i, e1i = a3r - a1r;             /* −i·(a1 − a3) */
            float br = d0r - d1r, bi = d0i - d1i;
            float cr = e0r + e1r, ci = e0i + e1i, fr = e0r - e1r, fi = e0i - e1i;
            r0[k] = d0r + d1r;
            i0[k] = d0i + d1i;
            r1[k] = br * w2r[k] - bi * w2i[k];
            i1[k] = br * w2i[k] + bi * w2r[k];
            r2[k] = cr * w1r[k] - ci * w1i[k];
            i2[k] = cr * w1i[k] + ci * w1r[k];
            r3[k] = fr * w3r[k] - fi * w3i[k];
            i3[k] = fr * w3i[k] + fi * w3r[k];
        }
    }
}

/* the inverse: radix-4 DIT with conjugate twiddles; half: only positions < 2s of each
 * group are written (the caller's first half, when s = n/4) */
static inline __attribute__((always_inline)) void quad_dit(float *restrict re,
                                                           float *restrict im, int n, int s,
                                                           const float *restrict w, int half) {
    const float *w1r = w, *w1i = w + s, *w2r = w + 2 * s, *w2i = w + 3 * s, *w3r = w + 4 * s,
                *w3i = w + 5 * s;
    for (int g = 0; g < n; g += 4 * s) {
        float *r0 = re + g, *r1 = r0 + s, *r2 = r1 + s, *r3 = r2 + s;
        float *i0 = im + g, *i1 = i0 + s, *i2 = i1 + s, *i3 = i2 + s;
        /* four disjoint quarters (more than the vectorizer checks at run time) */
        #pragma GCC ivdep
        for (int k = 0; k < s; k++) {
            float y0r = r0[k], y0i = i0[k];
            float y1r = r1[k] * w2r[k] + i1[k] * w2i[k], y1i = i1[k] * w2r[k] - r1[k] * w2i[k];
            float y2r = r2[k] * w1r[k] + i2[k] * w1i[k], y2i = i2[k] * w1r[k] - r2[k] * w1i[k];
            float y3r = r3[k] * w3r[k] + i3[k] * w3i[k], y3i = i3[k] * w3r[k] - r3[k] * w3i[k];
            float pr = y0r + y1r, pi = y0i + y1i, qr = y0r - y1r, qi = y0i - y1i;
            float sr = y2r + y3r, si = y2i + y3i, tr = y2r - y3r, ti = y2i - y3i;
            r0[k] = pr + sr;
            i0[k] = pi + si;
            r1[k] = qr - ti;                                     /* q + i·t */
            i1[k] = qi + tr;
            if (!half) {
                r2[k] = pr - sr;
                i2[k] = pi - si;
                r3[k] = qr + ti;
                i3[k] = qi - tr;
            }
        }
    }
}

/* 8-point DIF over v[0..8) (lanes independent), output j in v[j] = frequency rev3(j) */
#define C8 0.70710678118654752f
#define DIF8(T, vr, vi, ADD, SUB, MUL, K)                                                 \
    do {                                                                                  \
        for (int j = 0; j < 4; j++) {                                                     \
            T ar = vr[j], ai = vi[j], br = vr[j + 4], bi = vi[j + 4];                     \
            vr[j] = ADD(ar, br); vi[j] = ADD(ai, bi);                                     \
            vr[j + 4] = SUB(ar, br); vi[j + 4] = SUB(ai, bi);                             \
        }                                                                                 \
        { T xr = vr[5], xi = vi[5];       /* ·W8 = c(1 − i) */                           \
          vr[5] = MUL(K(C8), ADD(xr, xi)); vi[5] = MUL(K(C8), SUB(xi, xr)); }             \
        { T xr = vr[6]; vr[6] = vi[6]; vi[6] = SUB(K(0.0f), xr); }   /* ·W8² = −i */      \
        { T xr = vr[7], xi = vi[7];       /* ·W8³ = −c(1 + i) */                         \
          vr[7] = MUL(K(C8), SUB(xi, xr)); vi[7] = SUB(K(0.0f), MUL(K(C8), ADD(xr, xi))); } \
        for (int g = 0; g < 8; g += 4)                                                    \
            for (int j = 0; j < 2; j++) {                                                 \
                T ar = vr[g + j], ai = vi[g + j], br = vr[g + j + 2], bi = vi[g + j + 2]; \
                vr[g + j] = ADD(ar, br); vi[g + j] = ADD(ai, bi);                         \
                vr[g + j + 2] = SUB(ar, br); vi[g + j + 2] = SUB(ai, bi);                 \
            }                                                                             \
        for (int g = 0; g < 8; g += 4) {  /* ·W4 = −i on slot g + 3 */                   \
            T xr = vr[g + 3]; vr[g + 3] = vi[g + 3]; vi[g + 3] = SUB(K(0.0f), xr);       \
        }                                                                                 \
        for (int g = 0; g < 8; g += 2) {                                                  \
            T ar = vr[g], ai = vi[g], br = vr[g + 1], bi = vi[g + 1];                     \
            vr[g] = ADD(ar, br); vi[g] = ADD(ai, bi);                                     \
            vr[g + 1] = SUB(ar, br); vi[g + 1] = SUB(ai, bi);                             \
        }                                                                                 \
    } while (0)

/* its inverse (unscaled): the same stages backwards with conjugate twiddles */
#define DIT8(T, vr, vi, ADD, SUB, MUL, K)                                                 \
    do {                                                                                  \
        for (int g = 0; g < 8; g += 2) {                                                  \
            T ar = vr[g], ai = vi[g], br = vr[g + 1], bi = vi[g + 1];                     \
            vr[g] = ADD(ar, br); vi[g] = ADD(ai, bi);                                     \
            vr[g + 1] = SUB(ar, br); vi[g + 1] = SUB(ai, bi);                             \
        }                                                                                 \
        for (int g = 0; g < 8; g += 4) {  /* ·conj(W4) = i on slot g + 3 */              \
            T xr = vr[g + 3]; vr[g + 3] = SUB(K(0.0f), vi[g + 3]); vi[g + 3] = xr;       \
        }                                                                                 \
        for (int g = 0; g < 8; g += 4)                                                    \
            for (int j = 0; j < 2; j++) {                                                 \
                T ar = vr[g + j], ai = vi[g + j], br = vr[g + j + 2], bi = vi[g + j + 2]; \
                vr[g + j] = ADD(ar, br); vi[g + j] = ADD(ai, bi);                         \
                vr[g + j + 2] = SUB(ar, br); vi[g + j + 2] = SUB(ai, bi);                 \
            }                                                                             \
        { T xr = vr[5], xi = vi[5];       /* ·conj(W8) = c(1 + i) */                     \
          vr[5] = MUL(K(C8), SUB(xr, xi)); vi[5] = MUL(K(C8), ADD(xr, xi)); }             \
        { T xr = vr[6]; vr[6] = SUB(K(0.0f), vi[6]); vi[6] = xr; }   /* ·i */             \
        { T xr = vr[7], xi = vi[7];       /* ·conj(W8³) = c(−1 + i) */                   \
          vr[7] = SUB(K(0.0f), MUL(K(C8), ADD(xr, xi))); vi[7] = MUL(K(C8), SUB(xr, xi)); } \
        for (int j = 0; j < 4; j++) {                                                     \
            T ar = vr[j], ai = vi[j], br = vr[j + 4], bi = vi[j + 4];                     \
            vr[j] = ADD(ar, br); vi[j] = ADD(ai, bi);                                     \
            vr[j + 4] = SUB(ar, br); vi[j + 4] = SUB(ai, bi);                             \
        }                                                                                 \
    } while (0)

#define S_ADD(a, b) ((a) + (b))
#define S_SUB(a, b) ((a) - (b))
#define S_MUL(a, b) ((a) * (b))
#define S_K(c) (c)

/* The blocks of 8, one at a time (n < 64), or eight at a time as the transpose lays
 * them out (n >= 64): forward reads block b from its row and writes its output j to row
 * j, lane b; the inverse the other way round. */
static void blocks_portable(float *re, float *im, int n, int transposed, int inverse) {
    if (!transposed) {
        for (int g = 0; g < n; g += 8) {
            float vr[8], vi[8];
            memcpy(vr, re + g, sizeof vr);
            memcpy(vi, im + g, sizeof vi);
            if (inverse) DIT8(float, vr, vi, S_ADD, S_SUB, S_MUL, S_K);
            else DIF8(float, vr, vi, S_ADD, S_SUB, S_MUL, S_K);
            memcpy(re + g, vr, sizeof vr);
            memcpy(im + g, vi, sizeof vi);
        }
        return;
    }
    for (int g = 0; g < n; g += 64) {
        float tr[64], ti[64];                  /* the group, read before anything is written */
        memcpy(tr, re + g, sizeof tr);
        memcpy(ti, im + g, sizeof ti);
        for (int b = 0; b < 8; b++) {
            float vr[8], vi[8];
            for (int j = 0; j < 8; j++) {
                int at = inverse ? 8 * j + b : 8 * b + j;
                vr[j] = tr[at];
                vi[j] = ti[at];
            }
            if (inverse) DIT8(float, vr, vi, S_ADD, S_SUB, S_MUL, S_K);
            else DIF8(float, vr, vi, S_ADD, S_SUB, S_MUL, S_K);
            for (int j = 0; j < 8; j++) {
                int at = inverse ? 8 * b + j : 8 * j + b;
                re[g + at] = vr[j];
                im[g + at] = vi[j];
            }
        }
    }
}

/* n = 2 or 4: radix-2 stages with their few twiddles (−i), bit-reversed order */
static void tiny(float *re, float *im, int n, int inverse) {
    if (n == 2) {
        float ar = re[0], ai = im[0];
        re[0] = ar + re[1]; im[0] = ai + im[1];
        re[1] = ar - re[1]; im[1] = ai - im[1];
        return;
    }
    float sg = inverse ? -1.0f : 1.0f;   /* ·(−i) forward, ·i inverse */
    if (!inverse) {
        float a0r = re[0], a0i = im[0], a1r = re[1], a1i = im[1];
        re[0] = a0r + re[2]; im[0] = a0i + im[2];
        re[1] = a1r + re[3]; im[1] = a1i + im[3];
        float br = a0r - re[2], bi = a0i - im[2], cr = a1r - re[3], ci = a1i - im[3];
        re[2] = br; im[2] = bi;
        re[3] = sg * ci; im[3] = -sg * cr;
        tiny(re, im, 2, 0);
        tiny(re + 2, im + 2, 2, 0);
        return;
    }
    tiny(re, im, 2, 1);
    tiny(re + 2, im + 2, 2, 1);
    float xr = re[3];
    re[3] = sg * im[3]; im[3] = -sg * xr;
    float a0r = re[0], a0i = im[0], a1r = re[1], a1i = im[1];
    re[0] = a0r + re[2]; im[0] = a0i + im[2];
    re[1] = a1r + re[3]; im[1] = a1i + im[3];
    re[2] = a0r - re[2]; im[2] = a0i - im[2];
    re[3] = a1r - re[3]; im[3] = a1i - im[3];
}

/* radix-2 pass of span h = n/2: forward (half: b = 0), or inverse (half: first half only) */
static inline __attribute__((always_inline)) void pass2(float *restrict re, float *restrict im,
                                                        int n, const float *restrict w,
                                                        int half, int inverse) {
    int h = n / 2;
    const float *wr = w, *wi = w + h;
    if (!inverse) {
        #pragma GCC ivdep
        for (int k = 0; k < h; k++) {
            float ar = re[k], ai = im[k];
            float xr = half ? 0.0f : re[h + k], xi = half ? 0.0f : im[h + k];
            float dr = ar - xr, di = ai - xi;
            re[k] = ar + xr;
            im[k] = ai + xi;
            re[h + k] = dr * wr[k] - di * wi[k];
            im[h + k] = dr * wi[k] + di * wr[k];
        }
        return;
    }
    #pragma GCC ivdep
    for (int k = 0; k < h; k++) {
        float ar = re[k], ai = im[k];
        float br = re[h + k] * wr[k] + im[h + k] * wi[k];
        float bi = im[h + k] * wr[k] - re[h + k] * wi[k];
        re[k] = ar + br;
        im[k] = ai + bi;
        if (!half) {
            re[h + k] = ar - br;
            im[h + k] = ai - bi;
        }
    }
}

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define V_ADD _mm256_add_ps
#define V_SUB _mm256_sub_ps
#define V_MUL _mm256_mul_ps
#define V_K _mm256_set1_ps

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

__attribute__((target("avx2"))) static void blocks_avx2(float *re, float *im, int n,
                                                        int inverse) {
    for (int g = 0; g < n; g += 64) {
        __m256 vr[8], vi[8];
        for (int j = 0; j < 8; j++) {
            vr[j] = _mm256_loadu_ps(re + g + 8 * j);
            vi[j] = _mm256_loadu_ps(im + g + 8 * j);
        }
        if (!inverse) {
            transpose8(vr);
            transpose8(vi);
            DIF8(__m256, vr, vi, V_ADD, V_SUB, V_MUL, V_K);
        } else {
            DIT8(__m256, vr, vi, V_ADD, V_SUB, V_MUL, V_K);
            transpose8(vr);
            transpose8(vi);
        }
        for (int j = 0; j < 8; j++) {
            _mm256_storeu_ps(re + g + 8 * j, vr[j]);
            _mm256_storeu_ps(im + g + 8 * j, vi[j]);
        }
    }
}
#endif

/* Groups of at most this many points (8 bytes each) go through all their remaining passes
 * while they sit in the L1 cache, one group after another: the passes before that stream
 * the whole array through L2, these do not. */

#define L1_POINTS 2048

/* The passes in order (forward) or reverse order (inverse); blocks: the final step. The
 * order of the groups changes nothing: each pass treats its groups independently. */
static inline __attribute__((always_inline)) void run_body(const mn_cfft_plan *p, float *re,
                                                           float *im, int half, int inverse,
                                                           void (*blocks)(float *, float *,
                                                                          int, int)) {
    int n = p->n;
    shape sh = shape_of(n);
    const float *w2 = p->tw, *w4 = p->tw + n;
    /* passes [0, q1) run over the whole array, [q1, nquad) and the blocks group by group */
    int q1 = 0, G = n;
    if (n > L1_POINTS) {
        for (int s = sh.first_s; q1 < sh.nquad && 4 * s > L1_POINTS; s /= 4) q1++;
        G = q1 < sh.nquad ? 4 * (sh.first_s >> (2 * q1)) : (sh.first_s >> (2 * q1 - 2));
    }
    size_t off[16];                                /* twiddles of pass q */
    for (int q = 0, s = sh.first_s; q < sh.nquad && q < 16; q++, s /= 4)
        off[q] = q ? off[q - 1] + 6 * (size_t)(4 * s) : 0;
    if (!inverse) {
        /* the flags as constants, so that each loop is compiled without branches */
        if (sh.radix2 && half) pass2(re, im, n, w2, 1, 0);
        else if (sh.radix2) pass2(re, im, n, w2, 0, 0);
        for (int q = 0; q < q1; q++) {
            int s = sh.first_s >> (2 * q);
            if (half && q == 0 && !sh.radix2) quad_dif(re, im, n, s, w4 + off[q], 1);
            else quad_dif(re, im, n, s, w4 + off[q], 0);
        }
        for (int g = 0; g < n; g += G) {
            for (int q = q1; q < sh.nquad; q++) {
                int s = sh.first_s >> (2 * q);
                if (half && q == 0 && !sh.radix2) quad_dif(re + g, im + g, G, s, w4 + off[q], 1);
                else quad_dif(re + g, im + g, G, s, w4 + off[q], 0);
            }
            blocks(re + g, im + g, G, 0);
        }
        return;
    }
    for (int g = 0; g < n; g += G) {
        blocks(re + g, im + g, G, 1);
        for (int q = sh.nquad - 1; q >= q1; q--) {   /* the quarter spans upwards */
            int s = sh.first_s >> (2 * q);
            if (half && q == 0 && !sh.radix2) quad_dit(re + g, im + g, G, s, w4 + off[q], 1);
            else quad_dit(re + g, im + g, G, s, w4 + off[q], 0);
        }
    }
    for (int q = q1 - 1; q >= 0; q--) {
        int s = sh.first_s >> (2 * q);
        if (half && q == 0 && !sh.radix2) quad_dit(re, im, n, s, w4 + off[q], 1);
        else quad_dit(re, im, n, s, w4 + off[q], 0);
    }
    if (sh.radix2 && half) pass2(re, im, n, w2, 1, 1);
    else if (sh.radix2) pass2(re, im, n, w2, 0, 1);
}

static void blocks_scalar(float *re, float *im, int n, int inverse) {
    blocks_portable(re, im, n, n >= 64, inverse);
}
static void run_portable(const mn_cfft_plan *p, float *re, float *im, int half, int inverse) {
    run_body(p, re, im, half, inverse, blocks_scalar);
}
#if defined(__x86_64__) || defined(__i386__)
static void blocks_vector(float *re, float *im, int n, int inverse) {
    if (n >= 64) blocks_avx2(re, im, n, inverse);
    else blocks_portable(re, im, n, 0, inverse);
}
__attribute__((target("avx2"))) static void run_avx2(const mn_cfft_plan *p, float *re,
                                                     float *im, int half, int inverse) {
    run_body(p, re, im, half, inverse, blocks_vector);
}
static int have_avx2(void) { return __builtin_cpu_supports("avx2"); }
#else
#define run_avx2 run_portable
static int have_avx2(void) { return 0; }
#endif

static int force_portable;

void mn_cfft_use_portable(int on) { force_portable = on; }

static void run(const mn_cfft_plan *p, float *re, float *im, int half, int inverse) {
    if (p->n < 8) tiny(re, im, p->n, inverse);
    else if (!force_portable && have_avx2()) run_avx2(p, re, im, half, inverse);
    else run_portable(p, re, im, half, inverse);
}

void mn_cfft_forward(const mn_cfft_plan *p, float *re, float *im, int half_zero) {
    if (half_zero && p->n <= 8) {        /* no pass before the blocks to skip the half */
        int h = p->n / 2;
        memset(re + h, 0, (size_t)h * sizeof(float));
        memset(im + h, 0, (size_t)h * sizeof(float));
        half_zero = 0;
    }
    run(p, re, im, half_zero, 0);
}

void mn_cfft_inverse(const mn_cfft_plan *p, float *re, float *im, int first_half) {
    run(p, re, im, first_half && p->n >= 8, 1);
}

/* ------------------------------------------------------------ spectra */

void mn_cspec_mul(int n, float *restrict xr, float *restrict xi, const float *restrict kr,
                  const float *restrict ki, int conj_k) {
    float s = conj_k ? -1.0f : 1.0f;
    for (int k = 0; k < n; k++) {
        float ar = xr[k], ai = xi[k], br = kr[k], bi = s * ki[k];
        xr[k] = ar * br - ai * bi;
        xi[k] = ar * bi + ai * br;
    }
}

void mn_cspec_mac_conj(int n, float *restrict accr, float *restrict acci,
                       const float *restrict ur, const float *restrict ui,
                       const float *restrict dr, const float *restrict di) {
    for (int k = 0; k < n; k++) {
        accr[k] += ur[k] * dr[k] + ui[k] * di[k];
        acci[k] += ur[k] * di[k] - ui[k] * dr[k];
    }
}

void mn_cspec_split_pair(const mn_cfft_plan *p, const float *zr, const float *zi, float scale,
                         float *ar, float *ai, float *br, float *bi) {
    float h = 0.5f * scale;
    for (int k = 0; k < p->n; k++) {
        uint32_t m = p->mirror[k];
        float pr = zr[k], pi = zi[k], qr = zr[m], qi = zi[m];
        ar[k] = h * (pr + qr);          /* (Z[k] + conj Z[n−k]) / 2 */
        ai[k] = h * (pi - qi);
        br[k] = h * (pi + qi);          /* (Z[k] − conj Z[n−k]) / 2i */
        bi[k] = h * (qr - pr);
    }
}
