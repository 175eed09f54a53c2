/* What the S4D files share (s4d.c: the layer and its fast convolution; s4d_kernel.c: the
 * Vandermonde kernel and its gradients; s4d_ref.c: the reference convolution the fast one
 * is tested against). */
#ifndef MN_S4D_IMPL_H
#define MN_S4D_IMPL_H

#include "s4d.h"
#include "fft.h"

#include <math.h>

typedef struct { double r, i; } mn_cplx;
static inline mn_cplx mn_cmul(mn_cplx a, mn_cplx b) {
    return (mn_cplx){a.r * b.r - a.i * b.i, a.r * b.i + a.i * b.r};
}
static inline mn_cplx mn_cdiv(mn_cplx a, mn_cplx b) {
    double d = b.r * b.r + b.i * b.i;
    return (mn_cplx){(a.r * b.r + a.i * b.i) / d, (a.i * b.r - a.r * b.i) / d};
}
static inline mn_cplx mn_cexp(mn_cplx a) {
    double e = exp(a.r);
    return (mn_cplx){e * cos(a.i), e * sin(a.i)};
}

typedef struct {
    mn_layer base;
    int H, N2;                       /* channels, modes (N/2) */
    mn_ssm_init init;
    size_t o_D, o_C, o_dt, o_lar, o_aim;
    int reference;                   /* run the reference convolution (tests) */
    mn_fft_plan fft;                 /* the reference's real FFT */
    mn_cfft_plan cfft;               /* the fast path's complex FFT */
    void *ws, *gws;
    size_t ws_bytes, gws_bytes;
    const float *x;                  /* input of the last forward (owned by the caller) */
    int T, B;
    /* streaming: state [B, H, N2] and the modes' z, C·B̄ [H, N2], complex double */
    void *st;
    size_t st_bytes;
    int st_B, st_ready;
} mn_s4d;

/* One mode's discretization: A, Δ, ΔA, z = exp(ΔA), z − 1 (without cancellation),
 * E = (z − 1)/A, C, C·E. */
typedef struct { mn_cplx a, dtA, z, zm1, E, C, Cb; double dt; } mn_s4d_mode;
mn_s4d_mode mn_s4d_mode_of(const mn_s4d *s, const float *p, int h, int n);

/* ---- the kernel (s4d_kernel.c) ----
 * K[l] = 2·Re Σ_n Cb_n·z_n^l for l < T of channel h, and from dK[0, T) the gradients of
 * C, log_dt, log_A_real, A_imag added (+=) into g. The fast ones work in blocks of
 * MN_S4D_KB steps: z^j (j < KB) as floats, the block starts z^{b·KB} in double, the
 * sums within a block in float; the reference ones step z^l in double (re-anchored). */
#define MN_S4D_KB 64
/* doubles of work for the fast kernel and its backward: at most this many */
size_t mn_s4d_kernel_work(int N2, int T);
void mn_s4d_kernel_fast(const mn_s4d *s, const float *p, int h, int T, double *wk, float *K);
void mn_s4d_kernel_backward_fast(const mn_s4d *s, const float *p, float *g, int h, int T,
                                 const float *dK, double *wk);
/* wk: 8·N2 doubles (forward), 10·N2 (backward) */
void mn_s4d_kernel_ref(const mn_s4d *s, const float *p, int h, int T, double *wk, float *K);
void mn_s4d_kernel_backward_ref(const mn_s4d *s, const float *p, float *g, int h, int T,
                                const float *dK, double *wk);

/* ---- the reference convolution (s4d_ref.c): real FFTs per sequence and channel ---- */
mn_status mn_s4d_forward_ref(mn_s4d *s, const float *x, float *y, int T, int B);
mn_status mn_s4d_backward_ref(mn_s4d *s, const float *dy, float *dx, int T, int B);
/* its memory, for the plan: 0 on overflow */
int mn_s4d_ref_layout(size_t N2, size_t n, size_t threads, size_t *fwd, size_t *bwd);

#endif
