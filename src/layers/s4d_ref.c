/* The reference S4D convolution (s4d_impl.h), what the fast path of s4d.c is tested
 * against: per sequence b and channel h, y = irfft(rfft(u)·rfft(K))[:T] + D·u with real
 * FFTs (fft.c) of length n = 2^⌈log2 2T⌉; backward dK = irfft(Σ_b conj(Û_b)·dŶ_b)[:T],
 * du = irfft(conj(K̂)·dŶ)[:T] + D·dy, dD = Σ dy·u, and the kernel's reference gradients
 * (s4d_kernel.c). Work is split among threads by blocks of HB channels (a block's columns
 * are read row by row, HB floats at a time), each thread with its own scratch; backward
 * recomputes K̂ for its block. */
#include "s4d_impl.h"

#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#define HB 8          /* channels per block */

/* ------------------------------------------------------------ workspaces */

static int nblocks(int H) { return (H + HB - 1) / HB; }

static int threads_for(int H) {
    int t = mn_threads();
    return MN_MAX(1, MN_MIN(t, nblocks(H)));
}

/* Per thread: forward 4N doubles (the Vandermonde sum), the FFT's work [n] and K̂, data
 * [HB, n+2] floats; backward 5N doubles, work [n] and K̂, Û, dŶ, acc [HB, n+2] floats.
 * 0 on overflow. */
static int layout_each(size_t N2, size_t n, size_t threads, size_t *fwd_each,
                       size_t *bwd_each, size_t *fwd, size_t *bwd) {
    size_t spec, f;
    if (!mn_mul_size(n + 2, HB * sizeof(float), &spec) || !mn_mul_size(spec, 4, &f)) return 0;
    *fwd_each = 8 * N2 * sizeof(double) + n * sizeof(float) + 2 * spec;
    *bwd_each = 10 * N2 * sizeof(double) + n * sizeof(float) + f;
    return mn_mul_size(*fwd_each, threads, fwd) && mn_mul_size(*bwd_each, threads, bwd);
}

static mn_status prepare(mn_s4d *s, int T, int grads, int *threads, size_t *each) {
    int n = mn_fft_size_for(2 * (size_t)T);
    mn_status st;
    if (!n)
        return mn_fail(MN_E_ARG, "S4D over %d steps: its FFT would need more than 2^30 points; "
                       "use shorter sequences", T);
    if (s->fft.n != n) {
        mn_fft_plan_free(&s->fft);
        if ((st = mn_fft_plan_init(&s->fft, n))) return st;
    }
    size_t fe, be, fwd, bwd;
    *threads = threads_for(s->H);
    if (!layout_each((size_t)s->N2, (size_t)n, (size_t)*threads, &fe, &be, &fwd, &bwd))
        return mn_fail(MN_E_NOMEM, "S4D workspace for %d steps overflows", T);
    *each = grads ? be : fe;
    if (grads ? mn_reserve(&s->gws, &s->gws_bytes, bwd) : mn_reserve(&s->ws, &s->ws_bytes, fwd))
        return MN_E_NOMEM;
    return MN_OK;
}

int mn_s4d_ref_layout(size_t N2, size_t n, size_t threads, size_t *fwd, size_t *bwd) {
    size_t fe, be;
    return layout_each(N2, n, threads, &fe, &be, fwd, bwd);
}

static int thread_id(void) {
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

/* buf[c][t] = v[(t·B + b)·H + h0 + c] for t < T, zero up to n */
static void gather(const float *v, int T, int B, int H, int b, int h0, int hc, float *buf,
                   size_t ld, int n) {
    for (int t = 0; t < T; t++) {
        const float *row = v + ((size_t)t * B + b) * H + h0;
        for (int c = 0; c < hc; c++) buf[c * ld + t] = row[c];
    }
    for (int c = 0; c < hc; c++) memset(buf + c * ld + T, 0, (size_t)(n - T) * sizeof(float));
}

/* K̂ of the block's channels into khat [hc, ld] */
static void block_spectra(const mn_s4d *s, const float *p, int h0, int hc, int T, double *wk,
                          float *khat, size_t ld, float *work) {
    for (int c = 0; c < hc; c++) {
        float *k = khat + c * ld;
        mn_s4d_kernel_ref(s, p, h0 + c, T, wk, k);
        memset(k + T, 0, (size_t)(s->fft.n - T) * sizeof(float));
        mn_rfft(&s->fft, k, work);
    }
}

/* Called by the layer with T, B >= 1 checked. */
mn_status mn_s4d_forward_ref(mn_s4d *s, const float *x, float *y, int T, int B) {
    size_t each;
    int threads = 1, H = s->H;
    mn_status st;
    if ((st = prepare(s, T, 0, &threads, &each))) return st;
    const float *p = s->base.params;
    int n = s->fft.n;
    size_t ld = (size_t)n + 2;
    #pragma omp parallel for schedule(static) num_threads(threads) if (threads > 1)
    for (int blk = 0; blk < nblocks(H); blk++) {
        char *mine = (char *)s->ws + (size_t)thread_id() * each;
        double *wk = (double *)mine;
        float *work = (float *)(wk + 8 * (size_t)s->N2), *khat = work + n, *data = khat + HB * ld;
        int h0 = blk * HB, hc = MN_MIN(HB, H - h0);
        block_spectra(s, p, h0, hc, T, wk, khat, ld, work);
        for (int b = 0; b < B; b++) {
            gather(x, T, B, H, b, h0, hc, data, ld, n);
            for (int c = 0; c < hc; c++) {
                mn_rfft(&s->fft, data + c * ld, work);
                mn_spectrum_mul(&s->fft, data + c * ld, khat + c * ld, 0);
                mn_irfft(&s->fft, data + c * ld, work);
            }
            for (int t = 0; t < T; t++) {
                size_t r = ((size_t)t * B + b) * H + h0;
                for (int c = 0; c < hc; c++)
                    y[r + c] = data[c * ld + t] + p[s->o_D + h0 + c] * x[r + c];
            }
        }
    }
    return MN_OK;
}

mn_status mn_s4d_backward_ref(mn_s4d *s, const float *dy, float *dx, int T, int B) {
    size_t each;
    int threads = 1, H = s->H;
    mn_status st;
    if ((st = prepare(s, T, 1, &threads, &each))) return st;
    const float *p = s->base.params, *x = s->x;
    float *g = s->base.grads;
    int n = s->fft.n;
    size_t ld = (size_t)n + 2;
    #pragma omp parallel for schedule(static) num_threads(threads) if (threads > 1)
    for (int blk = 0; blk < nblocks(H); blk++) {
        char *mine = (char *)s->gws + (size_t)thread_id() * each;
        double *wk = (double *)mine;
        float *work = (float *)(wk + 10 * (size_t)s->N2), *khat = work + n, *U = khat + HB * ld;
        float *DY = U + HB * ld, *acc = DY + HB * ld;
        int h0 = blk * HB, hc = MN_MIN(HB, H - h0);
        double dD[HB] = {0};
        block_spectra(s, p, h0, hc, T, wk, khat, ld, work);
        memset(acc, 0, (size_t)hc * ld * sizeof(float));
        for (int b = 0; b < B; b++) {
            gather(x, T, B, H, b, h0, hc, U, ld, n);
            gather(dy, T, B, H, b, h0, hc, DY, ld, n);
            for (int c = 0; c < hc; c++)
                for (int t = 0; t < T; t++) dD[c] += (double)DY[c * ld + t] * U[c * ld + t];
            for (int c = 0; c < hc; c++) {
                mn_rfft(&s->fft, U + c * ld, work);
                mn_rfft(&s->fft, DY + c * ld, work);
                mn_spectrum_mac_conj(&s->fft, acc + c * ld, U + c * ld, DY + c * ld);
                if (!dx) continue;
                mn_spectrum_mul(&s->fft, DY + c * ld, khat + c * ld, 1);
                mn_irfft(&s->fft, DY + c * ld, work);
            }
            if (!dx) continue;
            for (int t = 0; t < T; t++) {
                size_t r = ((size_t)t * B + b) * H + h0;
                for (int c = 0; c < hc; c++)
                    dx[r + c] += DY[c * ld + t] + p[s->o_D + h0 + c] * dy[r + c];
            }
        }
        for (int c = 0; c < hc; c++) {
            g[s->o_D + h0 + c] += (float)dD[c];
            mn_irfft(&s->fft, acc + c * ld, work);        /* dK[h0 + c, :T] */
            mn_s4d_kernel_backward_ref(s, p, g, h0 + c, T, acc + c * ld, wk);
        }
    }
    return MN_OK;
}

