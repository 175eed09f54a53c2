/* Radix-2 real FFT (fft.h). The complex transform of m = n/2 points runs on split arrays
 * (real parts, imaginary parts) in the scratch: the samples are gathered there in
 * bit-reversed order, then log2(m) passes of decimation-in-time butterflies, span 1, 2,
 * 4, ..., each pass reading its own contiguous twiddles so the compiler vectorizes the
 * butterflies. The inverse transform is the forward one with the real and imaginary
 * arrays swapped (IFFT(z) = swap(FFT(swap(z))), unscaled). */
#include "fft.h"

#include <math.h>
#include <string.h>

int mn_fft_size_for(size_t n) {
    size_t s = 2;
    while (s < n) {
        if (s >= (size_t)1 << 30) return 0;
        s <<= 1;
    }
    return (int)s;
}

void mn_fft_plan_free(mn_fft_plan *p) {
    if (p->twr) mn_release(p->twr);
    memset(p, 0, sizeof *p);
}

/* One block: twr, twi [m] (pass of span s at [s, 2s): e^{−πik/s}, k < s), split [m/2 + 1
 * complex], rev [m], m = n/2. */
size_t mn_fft_plan_bytes(int n) {
    size_t m = (size_t)(n > 2 ? n : 2) / 2;
    return (2 * m + 2 * (m / 2 + 1)) * sizeof(float) + m * sizeof(uint32_t);
}

mn_status mn_fft_plan_init(mn_fft_plan *p, int n) {
    memset(p, 0, sizeof *p);
    if (n < 2 || n > 1 << 30 || (n & (n - 1)))
        return mn_fail(MN_E_ARG, "FFT length %d: must be a power of two from 2 to 2^30", n);
    size_t m = (size_t)n / 2, bytes = mn_fft_plan_bytes(n);
    float *block = mn_alloc(bytes);
    if (!block) return MN_E_NOMEM;
    p->n = n;
    p->bytes = bytes;
    p->twr = block;
    p->twi = block + m;
    p->split = block + 2 * m;
    p->rev = (uint32_t *)(p->split + 2 * (m / 2 + 1));
    const double pi = 3.14159265358979323846;
    p->twr[0] = p->twi[0] = 0;                   /* unused */
    for (size_t s = 1; s < m; s <<= 1)
        for (size_t k = 0; k < s; k++) {
            double a = -pi * (double)k / (double)s;
            p->twr[s + k] = (float)cos(a);
            p->twi[s + k] = (float)sin(a);
        }
    for (size_t k = 0; k <= m / 2; k++) {
        double a = -2.0 * pi * (double)k / (double)n;
        p->split[2 * k] = (float)cos(a);
        p->split[2 * k + 1] = (float)sin(a);
    }
    int bits = 0;
    while (((size_t)1 << bits) < m) bits++;
    for (size_t i = 0; i < m; i++) {
        uint32_t r = 0;
        for (int b = 0; b < bits; b++) r |= (uint32_t)((i >> b) & 1) << (bits - 1 - b);
        p->rev[i] = r;
    }
    return MN_OK;
}

/* The butterfly passes over (re, im), already in bit-reversed order. The first two passes
 * (spans 1 and 2, twiddles 1 and −i) run together as one radix-4 pass. */
static inline __attribute__((always_inline)) void passes_body(const mn_fft_plan *p,
                                                               float *restrict re,
                                                               float *restrict im) {
    size_t m = (size_t)p->n / 2, s = 1;
    if (m >= 4) {
        for (size_t q = 0; q < m; q += 4) {
            float r0 = re[q] + re[q + 1], i0 = im[q] + im[q + 1];
            float r1 = re[q] - re[q + 1], i1 = im[q] - im[q + 1];
            float r2 = re[q + 2] + re[q + 3], i2 = im[q + 2] + im[q + 3];
            float r3 = re[q + 2] - re[q + 3], i3 = im[q + 2] - im[q + 3];
            /* span 2: (r0, r2) with twiddle 1, (r1, r3) with twiddle −i */
            re[q] = r0 + r2;     im[q] = i0 + i2;
            re[q + 2] = r0 - r2; im[q + 2] = i0 - i2;
            re[q + 1] = r1 + i3; im[q + 1] = i1 - r3;
            re[q + 3] = r1 - i3; im[q + 3] = i1 + r3;
        }
        s = 4;
    }
    for (; s < m; s <<= 1) {
        const float *restrict wr = p->twr + s, *restrict wi = p->twi + s;
        for (size_t start = 0; start < m; start += 2 * s) {
            float *restrict ar = re + start, *restrict ai = im + start;
            float *restrict br = ar + s, *restrict bi = ai + s;
            for (size_t k = 0; k < s; k++) {
                float tr = br[k] * wr[k] - bi[k] * wi[k];
                float ti = br[k] * wi[k] + bi[k] * wr[k];
                float xr = ar[k], xi = ai[k];
                ar[k] = xr + tr;
                ai[k] = xi + ti;
                br[k] = xr - tr;
                bi[k] = xi - ti;
            }
        }
    }
}

static void passes_portable(const mn_fft_plan *p, float *restrict re, float *restrict im) {
    passes_body(p, re, im);
}

/* The same passes compiled for AVX2, chosen at run time like the GEMM's kernels. No
 * contraction into FMAs (ISO C mode): both give the same bits. */
#if defined(__x86_64__) || defined(__i386__)
__attribute__((target("avx2"))) static void passes_avx2(const mn_fft_plan *p,
                                                        float *restrict re,
                                                        float *restrict im) {
    passes_body(p, re, im);
}
static void passes(const mn_fft_plan *p, float *re, float *im) {
    if (__builtin_cpu_supports("avx2")) passes_avx2(p, re, im);
    else passes_portable(p, re, im);
}
#else
static void passes(const mn_fft_plan *p, float *re, float *im) { passes_portable(p, re, im); }
#endif

/* X[k] = E[k] + W^k·O[k], E = (Z[k] + conj Z[m−k])/2, O = (Z[k] − conj Z[m−k])/(2i) */
void mn_rfft(const mn_fft_plan *p, float *buf, float *work) {
    size_t m = (size_t)p->n / 2;
    float *re = work, *im = work + m;
    for (size_t i = 0; i < m; i++) {
        re[i] = buf[2 * (size_t)p->rev[i]];
        im[i] = buf[2 * (size_t)p->rev[i] + 1];
    }
    passes(p, re, im);
    buf[0] = re[0] + im[0];
    buf[1] = 0.0f;
    buf[2 * m] = re[0] - im[0];
    buf[2 * m + 1] = 0.0f;
    for (size_t k = 1; k <= m / 2; k++) {
        size_t j = m - k;
        float ar = re[k], ai = im[k], br = re[j], bi = im[j];
        float er = 0.5f * (ar + br), ei = 0.5f * (ai - bi);     /* E[k] */
        float or_ = 0.5f * (ai + bi), oi = -0.5f * (ar - br);   /* O[k] */
        float wr = p->split[2 * k], wi = p->split[2 * k + 1];
        float tr = wr * or_ - wi * oi, ti = wr * oi + wi * or_; /* W^k·O[k] */
        buf[2 * k] = er + tr;
        buf[2 * k + 1] = ei + ti;
        /* X[m−k] = conj(E[k] − W^k·O[k]), as W^(m−k) = −conj(W^k) */
        buf[2 * j] = er - tr;
        buf[2 * j + 1] = -(ei - ti);
    }
}

/* Z[k] = E[k] + i·O[k], E = (X[k] + conj X[m−k])/2, O = (X[k] − conj X[m−k])/(2W^k),
 * then the inverse complex FFT scaled by 1/m: z[r] = x[2r] + i·x[2r+1]. Z goes into the
 * scratch in bit-reversed order with re and im swapped (the inverse by the forward). */
void mn_irfft(const mn_fft_plan *p, float *buf, float *work) {
    size_t m = (size_t)p->n / 2;
    float *sr = work + m, *si = work;     /* swapped: the passes see (im, re) */
    const uint32_t *rev = p->rev;
    float x0 = buf[0], xm = buf[2 * m];
    sr[rev[0]] = 0.5f * (x0 + xm);
    si[rev[0]] = 0.5f * (x0 - xm);
    for (size_t k = 1; k <= m / 2; k++) {
        size_t j = m - k;
        float ar = buf[2 * k], ai = buf[2 * k + 1], br = buf[2 * j], bi = buf[2 * j + 1];
        float er = 0.5f * (ar + br), ei = 0.5f * (ai - bi);
        float dr = 0.5f * (ar - br), di = 0.5f * (ai + bi);      /* (X[k] − conj X[m−k])/2 */
        float wr = p->split[2 * k], wi = -p->split[2 * k + 1];   /* 1/W^k = conj W^k */
        float or_ = dr * wr - di * wi, oi = dr * wi + di * wr;
        /* Z[k] = E + iO;  Z[m−k] = conj(E) + i·conj(O) */
        sr[rev[k]] = er - oi;
        si[rev[k]] = ei + or_;
        sr[rev[j]] = er + oi;
        si[rev[j]] = -ei + or_;
    }
    passes(p, work, work + m);            /* (re, im) of the swapped data */
    float scale = 1.0f / (float)m;
    for (size_t i = 0; i < m; i++) {
        buf[2 * i] = sr[i] * scale;
        buf[2 * i + 1] = si[i] * scale;
    }
}

void mn_spectrum_mul(const mn_fft_plan *p, float *a, const float *b, int conj_b) {
    size_t m = (size_t)p->n / 2;
    float s = conj_b ? -1.0f : 1.0f;
    for (size_t k = 0; k <= m; k++) {
        float ar = a[2 * k], ai = a[2 * k + 1], br = b[2 * k], bi = s * b[2 * k + 1];
        a[2 * k] = ar * br - ai * bi;
        a[2 * k + 1] = ar * bi + ai * br;
    }
}

void mn_spectrum_mac_conj(const mn_fft_plan *p, float *acc, const float *a, const float *b) {
    size_t m = (size_t)p->n / 2;
    for (size_t k = 0; k <= m; k++) {
        float ar = a[2 * k], ai = a[2 * k + 1], br = b[2 * k], bi = b[2 * k + 1];
        acc[2 * k] += ar * br + ai * bi;
        acc[2 * k + 1] += ar * bi - ai * br;
    }
}
