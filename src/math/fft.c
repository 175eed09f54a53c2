/* Radix-2 real FFT (fft.h). The complex transform is the iterative decimation-in-time one:
 * bit-reversal permutation, then log2(m) passes of butterflies, span 1, 2, 4, ... */
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
    if (p->tw) mn_release(p->tw);
    memset(p, 0, sizeof *p);
}

/* One block: tw [max(m/2, 1) complex], split [m/2 + 1 complex], rev [m], m = n/2. */
size_t mn_fft_plan_bytes(int n) {
    size_t m = (size_t)(n > 2 ? n : 2) / 2, half = m / 2 > 0 ? m / 2 : 1;
    return (2 * half + 2 * (m / 2 + 1)) * sizeof(float) + m * sizeof(uint32_t);
}

mn_status mn_fft_plan_init(mn_fft_plan *p, int n) {
    memset(p, 0, sizeof *p);
    if (n < 2 || n > 1 << 30 || (n & (n - 1)))
        return mn_fail(MN_E_ARG, "FFT length %d: must be a power of two from 2 to 2^30", n);
    size_t m = (size_t)n / 2, half = m / 2 > 0 ? m / 2 : 1, bytes = mn_fft_plan_bytes(n);
    float *block = mn_alloc(bytes);
    if (!block) return MN_E_NOMEM;
    p->n = n;
    p->bytes = bytes;
    p->tw = block;
    p->split = block + 2 * half;
    p->rev = (uint32_t *)(p->split + 2 * (m / 2 + 1));
    const double pi = 3.14159265358979323846;
    for (size_t k = 0; k < half; k++) {
        double a = -2.0 * pi * (double)k / (double)m;
        p->tw[2 * k] = (float)cos(a);
        p->tw[2 * k + 1] = (float)sin(a);
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

/* In-place complex FFT of m = n/2 points z (interleaved); inverse: conjugate twiddles,
 * unscaled. */
static void fft_complex(const mn_fft_plan *p, float *z, int inverse) {
    size_t m = (size_t)p->n / 2;
    for (size_t i = 0; i < m; i++) {
        size_t r = p->rev[i];
        if (r > i) {
            float re = z[2 * i], im = z[2 * i + 1];
            z[2 * i] = z[2 * r];
            z[2 * i + 1] = z[2 * r + 1];
            z[2 * r] = re;
            z[2 * r + 1] = im;
        }
    }
    float sign = inverse ? -1.0f : 1.0f;
    for (size_t span = 1; span < m; span <<= 1) {
        size_t stride = m / (2 * span);
        for (size_t start = 0; start < m; start += 2 * span) {
            float *a = z + 2 * start, *b = a + 2 * span;
            for (size_t k = 0; k < span; k++) {
                float wr = p->tw[2 * k * stride], wi = sign * p->tw[2 * k * stride + 1];
                float br = b[2 * k] * wr - b[2 * k + 1] * wi;
                float bi = b[2 * k] * wi + b[2 * k + 1] * wr;
                float ar = a[2 * k], ai = a[2 * k + 1];
                a[2 * k] = ar + br;
                a[2 * k + 1] = ai + bi;
                b[2 * k] = ar - br;
                b[2 * k + 1] = ai - bi;
            }
        }
    }
}

/* X[k] = E[k] + W^k·O[k], E = (Z[k] + conj Z[m−k])/2, O = (Z[k] − conj Z[m−k])/(2i) */
void mn_rfft(const mn_fft_plan *p, float *buf) {
    size_t m = (size_t)p->n / 2;
    fft_complex(p, buf, 0);
    float z0r = buf[0], z0i = buf[1];
    buf[0] = z0r + z0i;
    buf[1] = 0.0f;
    buf[2 * m] = z0r - z0i;
    buf[2 * m + 1] = 0.0f;
    for (size_t k = 1; k <= m / 2; k++) {
        size_t j = m - k;
        float ar = buf[2 * k], ai = buf[2 * k + 1], br = buf[2 * j], bi = buf[2 * j + 1];
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
 * then the inverse complex FFT scaled by 1/m: z[r] = x[2r] + i·x[2r+1]. */
void mn_irfft(const mn_fft_plan *p, float *buf) {
    size_t m = (size_t)p->n / 2;
    float x0 = buf[0], xm = buf[2 * m];
    buf[0] = 0.5f * (x0 + xm);
    buf[1] = 0.5f * (x0 - xm);
    for (size_t k = 1; k <= m / 2; k++) {
        size_t j = m - k;
        float ar = buf[2 * k], ai = buf[2 * k + 1], br = buf[2 * j], bi = buf[2 * j + 1];
        float er = 0.5f * (ar + br), ei = 0.5f * (ai - bi);
        float dr = 0.5f * (ar - br), di = 0.5f * (ai + bi);      /* (X[k] − conj X[m−k])/2 */
        float wr = p->split[2 * k], wi = -p->split[2 * k + 1];   /* 1/W^k = conj W^k */
        float or_ = dr * wr - di * wi, oi = dr * wi + di * wr;
        /* Z[k] = E + iO;  Z[m−k] = conj(E) + i·conj(O) */
        buf[2 * k] = er - oi;
        buf[2 * k + 1] = ei + or_;
        buf[2 * j] = er + oi;
        buf[2 * j + 1] = -ei + or_;
    }
    fft_complex(p, buf, 1);
    float scale = 1.0f / (float)m;
    for (size_t i = 0; i < 2 * m; i++) buf[i] *= scale;
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
