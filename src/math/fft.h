/* A real FFT of power-of-two length n, in place, for the state-space convolutions (s4d.c):
 * a complex radix-2 FFT of n/2 points on the even/odd samples packed as complex numbers,
 * then the split that turns it into the n-point real transform (the standard "two for
 * one" real FFT). Twiddles are computed in double and stored as floats.
 *
 * Layout: buf holds n + 2 floats. mn_rfft reads the real x[0..n) from buf and leaves
 * X[k] = Σ_j x[j]·e^{−2πijk/n}, k = 0..n/2, as interleaved (re, im) pairs in buf[0..n+2).
 * mn_irfft inverts it exactly (with the 1/n), so irfft(rfft(a)·rfft(b)) is the circular
 * convolution of a and b. Both use `work`, n floats of the caller's (one per thread), and
 * only read the plan, so threads may share it. */
#ifndef MN_FFT_H
#define MN_FFT_H

#include "core.h"

typedef struct {
    int n;                /* real length, a power of two, >= 2 */
    float *twr, *twi;     /* the complex FFT's twiddles, m = n/2 of each (see fft.c) */
    float *split;         /* e^{−2πik/n}, k <= m/2: the real split's */
    uint32_t *rev;        /* bit reversal of the m complex points */
    size_t bytes;
} mn_fft_plan;

/* MN_E_ARG unless n is a power of two from 2 to 2^30; MN_E_NOMEM. The plan is empty
 * (n = 0) on failure; mn_fft_plan_free on an empty or zeroed plan does nothing. */
mn_status mn_fft_plan_init(mn_fft_plan *p, int n);
void mn_fft_plan_free(mn_fft_plan *p);
/* The bytes a plan of length n allocates (for the memory estimate). */
size_t mn_fft_plan_bytes(int n);
/* The smallest power of two >= n (n >= 1); 0 beyond 2^30. */
int mn_fft_size_for(size_t n);

void mn_rfft(const mn_fft_plan *p, float *buf, float *work);
void mn_irfft(const mn_fft_plan *p, float *buf, float *work);

/* Pointwise product of two half spectra of the plan's length: a ·= b, or with conj_b
 * a ·= conj(b) (a correlation instead of a convolution). */
void mn_spectrum_mul(const mn_fft_plan *p, float *a, const float *b, int conj_b);
/* acc += conj(a)·b over the half spectrum (a correlation, summed) */
void mn_spectrum_mac_conj(const mn_fft_plan *p, float *acc, const float *a, const float *b);

/* ------------------------------------------------------------ complex FFT (cfft.c)
 * Split arrays re[n], im[n], in place, power-of-two n. The forward transform leaves
 * X[k] = Σ_j x[j]·e^{−2πijk/n} at a fixed permuted position: position p holds frequency
 * mn_cfft_frequency(plan, p). The inverse takes that order back to n·x in natural order
 * (unscaled). Pointwise products of spectra in this order are products of spectra, so a
 * convolution needs no reordering. Plans are read-only after init: threads may share. */
typedef struct {
    int n;
    float *tw;            /* twiddles (cfft.c) */
    uint32_t *mirror;     /* position of frequency n − k, for the frequency k at each position */
    size_t bytes;
} mn_cfft_plan;

mn_status mn_cfft_plan_init(mn_cfft_plan *p, int n);
void mn_cfft_plan_free(mn_cfft_plan *p);
size_t mn_cfft_plan_bytes(int n);
uint32_t mn_cfft_frequency(const mn_cfft_plan *p, uint32_t pos);
/* half_zero: the input is zero in [n/2, n), whatever re, im hold there (not read). */
void mn_cfft_forward(const mn_cfft_plan *p, float *re, float *im, int half_zero);
/* first_half: only [0, n/2) of the result is wanted (the rest is left undefined). */
void mn_cfft_inverse(const mn_cfft_plan *p, float *re, float *im, int first_half);
/* Tests: 1 runs the portable passes even where AVX2 is there (the same bits); 0 undoes. */
void mn_cfft_use_portable(int on);

/* x ·= k, or x ·= conj(k), elementwise over n complex numbers */
void mn_cspec_mul(int n, float *xr, float *xi, const float *kr, const float *ki, int conj_k);
/* acc += conj(u)·d */
void mn_cspec_mac_conj(int n, float *accr, float *acci, const float *ur, const float *ui,
                       const float *dr, const float *di);
/* The spectra A, B of two real signals a, b from Z = forward(a + i·b), each times scale:
 * A[k] = (Z[k] + conj Z[n−k])/2, B[k] = (Z[k] − conj Z[n−k])/2i, in the same order. */
void mn_cspec_split_pair(const mn_cfft_plan *p, const float *zr, const float *zi, float scale,
                         float *ar, float *ai, float *br, float *bi);

#endif
