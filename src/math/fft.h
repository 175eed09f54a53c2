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

#endif
