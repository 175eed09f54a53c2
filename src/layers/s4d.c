/* S4D layer (s4d.h) over u[T,B,H]. The kernel K[h, :T] comes from the Vandermonde sums of
 * s4d_kernel.c; the convolution y = K * u + D·u runs by complex FFTs (cfft.c) of length
 * n = 2^⌈log2 2T⌉, zero padded so the circular product is the causal one:
 *   two sequences at once: F(u_b + i·u_{b+1})·K̂ gives y_b + i·y_{b+1} back (K is real),
 *   and two channels' kernels at once: F(K_h + i·K_{h+1}) splits into K̂_h, K̂_{h+1};
 *   the skip D·u as D added to K at lag 0 (one convolution by K + D·δ);
 *   backward: dK = Re F⁻¹(Σ_pairs conj(Û)·dŶ)[:T] (the real part sums both sequences'
 *   correlations), du = F⁻¹(conj(K̂)·dŶ)[:T] (D·dy included), dD = dK[0], then the
 *   kernel's gradients from dK.
 * The spectra stay in the FFT's own order (pointwise products do not mind), the forward
 * FFT skips the zero half and the inverse computes only the first half.
 * A pair whose input holds an Inf or NaN is transformed one sequence at a time (and a
 * kernel pair one channel at a time), so the NaN reaches its own sequence and channel
 * only, as through PyTorch's per-sequence FFT.
 * Work is split among threads by blocks of HB channels (a block's columns are gathered
 * row by row, HB floats at a time, for a pair of sequences), each thread with its own
 * scratch; every sum runs in one fixed order, so results do not depend on the thread
 * count. Backward recomputes the block's K̂ (nothing of size H·n is kept).
 * The reference convolution (real FFTs per sequence and channel, double kernel sums) is in
 * s4d_ref.c; mn_s4d_use_reference switches to it (tests compare the two). */
#include "s4d_impl.h"
#include "tile8.h"

#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#define HB 8          /* channels per block */
/* A channel's slot in a block's buffers: re [n], PADF floats, im [n], PADF floats. The
 * gaps put the 2·HB streams of a gather or scatter into different cache sets (at a stride
 * of a power of two they would all fall into one and evict each other). */
#define PADF 16
static size_t slot_im(int n) { return (size_t)n + PADF; }
static size_t slot_size(int n) { return 2 * ((size_t)n + PADF); }

static int nblocks(int H) { return (H + HB - 1) / HB; }

static int threads_for(int H) {
    int t = mn_threads();
    return MN_MAX(1, MN_MIN(t, nblocks(H)));
}

static int thread_id(void) {
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

/* Per thread: the kernel's work (doubles), then floats: K̂ [HB] slots and data [HB] slots,
 * backward also dŶ and acc [HB] slots; spare [2][2n] (a kernel pair's transform, a pair
 * taken apart). 0 on overflow. */
static int layout(size_t N2, size_t n, size_t threads, size_t *fwd_each, size_t *bwd_each,
                  size_t *fwd, size_t *bwd) {
    size_t blk, kw = mn_s4d_kernel_work((int)N2, 0) * sizeof(double);
    if (!mn_mul_size(2 * (n + PADF), HB * sizeof(float), &blk) || blk > SIZE_MAX / 8) return 0;
    size_t spare = 4 * n * sizeof(float);
    *fwd_each = kw + 2 * blk + spare;
    *bwd_each = kw + 4 * blk + spare;
    return mn_mul_size(*fwd_each, threads, fwd) && mn_mul_size(*bwd_each, threads, bwd);
}

static mn_status prepare(mn_s4d *s, int T, int grads, int *threads, size_t *each) {
    int n = mn_fft_size_for(2 * (size_t)T);
    mn_status st;
    if (!n)
        return mn_fail(MN_E_ARG, "S4D over %d steps: its FFT would need more than 2^30 points; "
                       "use shorter sequences", T);
    if (s->cfft.n != n) {
        mn_cfft_plan_free(&s->cfft);
        if ((st = mn_cfft_plan_init(&s->cfft, n))) return st;
    }
    size_t fe, be, fwd, bwd;
    *threads = threads_for(s->H);
    if (!layout((size_t)s->N2, (size_t)n, (size_t)*threads, &fe, &be, &fwd, &bwd))
        return mn_fail(MN_E_NOMEM, "S4D workspace for %d steps overflows", T);
    *each = grads ? be : fe;
    if (grads ? mn_reserve(&s->gws, &s->gws_bytes, bwd) : mn_reserve(&s->ws, &s->ws_bytes, fwd))
        return MN_E_NOMEM;
    return MN_OK;
}

/* zeros from T to where the forward FFT reads (n/2; all of it below 8 points) */
static void pad(float *re, float *im, int T, int n) {
    int end = n >= 8 ? n / 2 : n;
    memset(re + T, 0, (size_t)(end - T) * sizeof(float));
    memset(im + T, 0, (size_t)(end - T) * sizeof(float));
}

/* The pair (b, b + 1) (b + 1 only when two) of the block's channels into re + i·im of
 * the slots of buf; chk[c] is NaN when one of them holds an Inf or NaN. */
static void gather(const float *v, int T, int B, int H, int b, int two, int h0, int hc,
                   float *buf, int n, float *chk) {
    size_t ld = slot_size(n), io = slot_im(n), ldr = (size_t)B * H;
    const float *r0 = v + (size_t)b * H + h0;
    for (int c = 0; c < HB; c++) chk[c] = 0.0f;
    if (hc == HB) {
        mn_tile8_to_cols(r0, ldr, T, buf, ld, chk);
        if (two) mn_tile8_to_cols(r0 + H, ldr, T, buf + io, ld, chk);
    } else {
        for (int t = 0; t < T; t++)
            for (int c = 0; c < hc; c++) {
                float a = r0[t * ldr + c], d = two ? r0[t * ldr + H + c] : 0.0f;
                buf[c * ld + t] = a;
                buf[c * ld + io + t] = d;
                chk[c] += a * 0.0f + d * 0.0f;
            }
    }
    for (int c = 0; c < hc; c++) {
        if (!two) memset(buf + c * ld + io, 0, (size_t)T * sizeof(float));
        pad(buf + c * ld, buf + c * ld + io, T, n);
    }
}

/* out[t, b (+1), h0 + c] (+)= buf's re (im), for the pair gather read */
static void scatter(const float *buf, int n, int T, int B, int H, int b, int two, int h0,
                    int hc, float *out, int accumulate) {
    size_t ld = slot_size(n), io = slot_im(n), ldr = (size_t)B * H, at = (size_t)b * H + h0;
    for (int k = 0; k < 1 + two; k++) {
        const float *src = buf + (k ? io : 0);
        float *o = out + at + (size_t)k * H;
        if (hc == HB) {
            mn_tile8_to_rows(src, ld, T, o, ldr, accumulate);
            continue;
        }
        for (int t = 0; t < T; t++)
            for (int c = 0; c < hc; c++) {
                float val = src[c * ld + t];
                o[t * ldr + c] = accumulate ? o[t * ldr + c] + val : val;
            }
    }
}

/* (K̂ + D)/n of the block's channels into their slots of khat: the skip D·u rides in the
 * kernel as D at lag 0, so y = (K + D·δ) * u and, backward, dD is that kernel's gradient
 * at lag 0. Two channels per transform unless one's kernel is not finite. spare: 4n. */
static void block_spectra(const mn_s4d *s, const float *p, int h0, int hc, int T, double *wk,
                          float *khat, float *spare) {
    const mn_cfft_plan *pl = &s->cfft;
    int n = pl->n;
    float inv = 1.0f / (float)n, *zr = spare, *zi = spare + n;
    size_t ld = slot_size(n), io = slot_im(n);
    for (int c = 0; c < hc; c += 2) {
        int two = c + 1 < hc;
        float *k0r = khat + c * ld, *k0i = k0r + io, *k1r = k0r + ld, *k1i = k1r + io;
        mn_s4d_kernel_fast(s, p, h0 + c, T, wk, zr);
        zr[0] += p[s->o_D + h0 + c];
        if (two) {
            mn_s4d_kernel_fast(s, p, h0 + c + 1, T, wk, zi);
            zi[0] += p[s->o_D + h0 + c + 1];
        } else {
            memset(zi, 0, (size_t)T * sizeof(float));
        }
        pad(zr, zi, T, n);
        float chk = 0.0f;
        for (int t = 0; t < T; t++) chk += zr[t] * 0.0f + zi[t] * 0.0f;
        if (two && chk == chk) {
            mn_cfft_forward(pl, zr, zi, 1);
            mn_cspec_split_pair(pl, zr, zi, inv, k0r, k0i, k1r, k1i);
            continue;
        }
        for (int k = 0; k < 1 + two; k++) {       /* one channel per transform */
            float *kr = k ? k1r : k0r, *ki = k ? k1i : k0i;
            memcpy(kr, k ? zi : zr, (size_t)T * sizeof(float));
            memset(ki, 0, (size_t)T * sizeof(float));
            pad(kr, ki, T, n);
            mn_cfft_forward(pl, kr, ki, 1);
            for (int i = 0; i < n; i++) {
                kr[i] *= inv;
                ki[i] *= inv;
            }
        }
    }
}

/* y ← F⁻¹(F(y)·K̂) over [0, T) of re + i·im */
static void convolve(const mn_cfft_plan *pl, float *re, float *im, const float *kr,
                     const float *ki) {
    mn_cfft_forward(pl, re, im, 1);
    mn_cspec_mul(pl->n, re, im, kr, ki, 0);
    mn_cfft_inverse(pl, re, im, 1);
}

/* The imaginary part of buf (the pair's second sequence) into spare as a signal of its
 * own; buf keeps the first. */
static void take_apart(float *im, float *sr, float *si, int T, int n) {
    memcpy(sr, im, (size_t)T * sizeof(float));
    memset(si, 0, (size_t)T * sizeof(float));
    memset(im, 0, (size_t)T * sizeof(float));
    pad(sr, si, T, n);
}

static mn_status forward_fast(mn_s4d *s, const float *x, float *y, int T, int B) {
    size_t each;
    int threads, H = s->H;
    mn_status st;
    if ((st = prepare(s, T, 0, &threads, &each))) return st;
    const float *p = s->base.params;
    const mn_cfft_plan *pl = &s->cfft;
    int n = pl->n;
    size_t ld = slot_size(n), io = slot_im(n), kw = mn_s4d_kernel_work(s->N2, T);
    #pragma omp parallel for schedule(static) num_threads(threads) if (threads > 1)
    for (int blk = 0; blk < nblocks(H); blk++) {
        double *wk = (double *)((char *)s->ws + (size_t)thread_id() * each);
        float *khat = (float *)(wk + kw), *data = khat + HB * ld, *spare = data + HB * ld;
        int h0 = blk * HB, hc = MN_MIN(HB, H - h0);
        float chk[HB];
        block_spectra(s, p, h0, hc, T, wk, khat, spare);
        for (int b = 0; b < B; b += 2) {
            int two = b + 1 < B;
            gather(x, T, B, H, b, two, h0, hc, data, n, chk);
            for (int c = 0; c < hc; c++) {
                float *re = data + c * ld, *im = re + io, *kr = khat + c * ld, *ki = kr + io;
                if (chk[c] == chk[c]) {
                    convolve(pl, re, im, kr, ki);
                    continue;
                }
                take_apart(im, spare, spare + n, T, n);
                convolve(pl, re, im, kr, ki);
                convolve(pl, spare, spare + n, kr, ki);
                memcpy(im, spare, (size_t)T * sizeof(float));
            }
            scatter(data, n, T, B, H, b, two, h0, hc, y, 0);
        }
    }
    return MN_OK;
}

/* One pair (or one sequence) of a channel: acc += conj(Û)·dŶ, and du into dY when dx. */
static void correlate(const mn_cfft_plan *pl, float *ur, float *ui, float *dr, float *di,
                      float *accr, float *acci, const float *kr, const float *ki, int dx) {
    mn_cfft_forward(pl, ur, ui, 1);
    mn_cfft_forward(pl, dr, di, 1);
    mn_cspec_mac_conj(pl->n, accr, acci, ur, ui, dr, di);
    if (!dx) return;
    mn_cspec_mul(pl->n, dr, di, kr, ki, 1);
    mn_cfft_inverse(pl, dr, di, 1);
}

static mn_status backward_fast(mn_s4d *s, const float *dy, float *dx, int T, int B) {
    size_t each;
    int threads, H = s->H;
    mn_status st;
    if ((st = prepare(s, T, 1, &threads, &each))) return st;
    const float *p = s->base.params, *x = s->x;
    float *g = s->base.grads;
    const mn_cfft_plan *pl = &s->cfft;
    int n = pl->n;
    size_t ld = slot_size(n), io = slot_im(n), kw = mn_s4d_kernel_work(s->N2, T);
    float inv = 1.0f / (float)n;
    #pragma omp parallel for schedule(static) num_threads(threads) if (threads > 1)
    for (int blk = 0; blk < nblocks(H); blk++) {
        double *wk = (double *)((char *)s->gws + (size_t)thread_id() * each);
        float *khat = (float *)(wk + kw), *U = khat + HB * ld, *DY = U + HB * ld;
        float *acc = DY + HB * ld, *spare = acc + HB * ld;
        int h0 = blk * HB, hc = MN_MIN(HB, H - h0);
        float cu[HB], cd[HB];
        block_spectra(s, p, h0, hc, T, wk, khat, spare);
        for (int c = 0; c < hc; c++) memset(acc + c * ld, 0, ld * sizeof(float));
        for (int b = 0; b < B; b += 2) {
            int two = b + 1 < B;
            gather(x, T, B, H, b, two, h0, hc, U, n, cu);
            gather(dy, T, B, H, b, two, h0, hc, DY, n, cd);
            for (int c = 0; c < hc; c++) {
                float *ur = U + c * ld, *ui = ur + io, *dr = DY + c * ld, *di = dr + io;
                float *ar = acc + c * ld, *ai = ar + io, *kr = khat + c * ld, *ki = kr + io;
                if (cu[c] == cu[c] && cd[c] == cd[c]) {
                    correlate(pl, ur, ui, dr, di, ar, ai, kr, ki, dx != NULL);
                    continue;
                }
                float *sr = spare, *si = spare + n, *tr = spare + 2 * (size_t)n, *ti = tr + n;
                take_apart(ui, sr, si, T, n);
                take_apart(di, tr, ti, T, n);
                correlate(pl, ur, ui, dr, di, ar, ai, kr, ki, dx != NULL);
                correlate(pl, sr, si, tr, ti, ar, ai, kr, ki, dx != NULL);
                memcpy(di, tr, (size_t)T * sizeof(float));
            }
            if (dx) scatter(DY, n, T, B, H, b, two, h0, hc, dx, 1);
        }
        for (int c = 0; c < hc; c++) {
            float *ar = acc + c * ld;
            mn_cfft_inverse(pl, ar, ar + io, 1);             /* n·dK[h0 + c, :T] */
            for (int t = 0; t < T; t++) ar[t] *= inv;
            g[s->o_D + h0 + c] += ar[0];
            mn_s4d_kernel_backward_fast(s, p, g, h0 + c, T, ar, wk);
        }
    }
    return MN_OK;
}

/* ------------------------------------------------------------ the layer */

static void s4d_init(mn_layer *l, mn_rng *rng, const mn_init_config *cfg) {
    (void)cfg;
    mn_s4d *s = (mn_s4d *)l;
    float *p = l->params;
    int H = s->H, N2 = s->N2, N = 2 * N2;
    double lo = log(MN_S4D_DT_MIN), hi = log(MN_S4D_DT_MAX), pi = 3.14159265358979323846;
    for (int h = 0; h < H; h++) p[s->o_dt + h] = (float)(lo + mn_rng_uniform(rng) * (hi - lo));
    /* C ~ torch.randn(cfloat): each part N(0, 1/2) */
    for (size_t i = 0; i < (size_t)H * N2 * 2; i++)
        p[s->o_C + i] = (float)(mn_rng_normal(rng) * 0.70710678118654752);
    for (int h = 0; h < H; h++)
        for (int n = 0; n < N2; n++) {
            size_t hn = (size_t)h * N2 + n;
            double re = 0.5, im = pi * n;                            /* S4D-Lin */
            if (s->init == MN_SSM_INIT_INV) im = N / pi * ((double)N / (2 * n + 1) - 1);
            if (s->init == MN_SSM_INIT_REAL) { re = n + 1; im = 0; }
            p[s->o_lar + hn] = (float)log(re);
            p[s->o_aim + hn] = (float)im;
        }
    for (int h = 0; h < H; h++) p[s->o_D + h] = (float)mn_rng_normal(rng);
}

static mn_status s4d_forward(mn_layer *l, const float *x, float *y, int T, int B,
                             const int32_t *lengths) {
    (void)lengths;
    mn_s4d *s = (mn_s4d *)l;
    size_t rows;
    mn_status st;
    if ((st = mn_layer_rows(l, T, B, &rows))) return st;
    s->x = x;
    s->T = T;
    s->B = B;
    if (rows == 0) return MN_OK;
    return s->reference ? mn_s4d_forward_ref(s, x, y, T, B) : forward_fast(s, x, y, T, B);
}

static mn_status s4d_backward(mn_layer *l, const float *dy, float *dx, int T, int B,
                              const int32_t *lengths) {
    (void)lengths;
    mn_s4d *s = (mn_s4d *)l;
    size_t rows;
    mn_status st;
    if ((st = mn_layer_rows(l, T, B, &rows))) return st;
    if (!s->x || T != s->T || B != s->B)
        return mn_fail(MN_E_STATE, "S4D backward over %d steps of %d after a forward over %d "
                       "of %d: call forward with the same T and B first", T, B, s->T, s->B);
    if (rows == 0) return MN_OK;
    return s->reference ? mn_s4d_backward_ref(s, dy, dx, T, B) : backward_fast(s, dy, dx, T, B);
}

void mn_s4d_use_reference(mn_layer *l, int on) { ((mn_s4d *)l)->reference = on; }

/* ------------------------------------------------------------ recurrence */

void mn_s4d_stream_reset(mn_layer *l) {
    mn_s4d *s = (mn_s4d *)l;
    if (s->st) memset(s->st, 0, s->st_bytes);
    s->st_ready = 0;
}

mn_status mn_s4d_step(mn_layer *l, const float *u_t, float *y_t, int B) {
    mn_s4d *s = (mn_s4d *)l;
    int H = s->H, N2 = s->N2;
    size_t modes = (size_t)H * N2, bytes;
    if (B < 1) return mn_fail(MN_E_ARG, "S4D step over a batch of %d: need at least 1", B);
    if (B != s->st_B || !s->st) {
        if (!mn_mul_size((size_t)B + 2, modes * sizeof(mn_cplx), &bytes) ||
            mn_reserve(&s->st, &s->st_bytes, bytes) != MN_OK)
            return mn_fail(MN_E_NOMEM, "S4D stream: a state of [%d, %d, %d] does not fit in "
                           "memory", B, H, N2);
        s->st_B = B;
        mn_s4d_stream_reset(l);
    }
    mn_cplx *z = s->st, *cb = z + modes, *state = cb + modes;
    const float *p = l->params;
    if (!s->st_ready) {
        for (int h = 0; h < H; h++)
            for (int n = 0; n < N2; n++) {
                mn_s4d_mode m = mn_s4d_mode_of(s, p, h, n);
                z[(size_t)h * N2 + n] = m.z;
                cb[(size_t)h * N2 + n] = m.Cb;
            }
        s->st_ready = 1;
    }
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++) {
            double u = u_t[(size_t)b * H + h], sum = 0;
            mn_cplx *xs = state + ((size_t)b * H + h) * N2;
            const mn_cplx *zh = z + (size_t)h * N2, *ch = cb + (size_t)h * N2;
            for (int n = 0; n < N2; n++) {
                mn_cplx v = mn_cmul(zh[n], xs[n]);   /* x ← z·x + u (B̄ folded into C·B̄) */
                v.r += u;
                xs[n] = v;
                sum += ch[n].r * v.r - ch[n].i * v.i;
            }
            y_t[(size_t)b * H + h] = (float)(2 * sum + p[s->o_D + h] * u);
        }
    return MN_OK;
}

mn_status mn_s4d_kernel(mn_layer *l, int T, float *K) {
    mn_s4d *s = (mn_s4d *)l;
    double *wk = mn_alloc(mn_s4d_kernel_work(s->N2, T) * sizeof(double));
    if (!wk) return MN_E_NOMEM;
    for (int h = 0; h < s->H; h++) mn_s4d_kernel_fast(s, l->params, h, T, wk, K + (size_t)h * T);
    mn_release(wk);
    return MN_OK;
}

mn_status mn_s4d_kernel_reference(mn_layer *l, int T, float *K) {
    mn_s4d *s = (mn_s4d *)l;
    double *wk = mn_alloc(8 * (size_t)s->N2 * sizeof(double));
    if (!wk) return MN_E_NOMEM;
    for (int h = 0; h < s->H; h++) mn_s4d_kernel_ref(s, l->params, h, T, wk, K + (size_t)h * T);
    mn_release(wk);
    return MN_OK;
}

static size_t s4d_bytes(const mn_layer *l) {
    const mn_s4d *s = (const mn_s4d *)l;
    return s->ws_bytes + s->gws_bytes + s->st_bytes + s->fft.bytes + s->cfft.bytes;
}

static void s4d_destroy(mn_layer *l) {
    mn_s4d *s = (mn_s4d *)l;
    mn_fft_plan_free(&s->fft);
    mn_cfft_plan_free(&s->cfft);
    mn_release(s->ws);
    mn_release(s->gws);
    mn_release(s->st);
    mn_release(s);
}

/* t = 0 starts a stream: a zero state */
static mn_status s4d_step_op(mn_layer *l, const float *x_t, float *y_t, int B, int t) {
    if (t == 0) mn_s4d_stream_reset(l);
    return mn_s4d_step(l, x_t, y_t, B);
}

static const mn_layer_ops s4d_ops = {
    .kind = "s4d",
    .init = s4d_init,
    .forward = s4d_forward,
    .backward = s4d_backward,
    .activation_bytes = s4d_bytes,
    .destroy = s4d_destroy,
    .step = s4d_step_op,
};

mn_layer *mn_s4d_create(int H, int N, mn_ssm_init init) {
    if (H < 1 || H > 65536 || N < 2 || N > 4096 || N % 2 || (unsigned)init > MN_SSM_INIT_REAL) {
        mn_fail(MN_E_ARG, "S4D over %d channels with state %d: channels must be from 1 to "
                "65536, the state an even number from 2 to 4096", H, N);
        return NULL;
    }
    mn_s4d *s = mn_alloc_zero(sizeof *s);
    if (!s) return NULL;
    s->base.ops = &s4d_ops;
    s->base.in_size = s->base.out_size = H;
    s->H = H;
    s->N2 = N / 2;
    s->init = init == MN_SSM_INIT_DEFAULT ? MN_SSM_INIT_LIN : init;
    /* the S4D module's state-dict order */
    s->o_D = mn_layer_add_param(&s->base, "D", 1, (int[]){H});
    s->o_C = mn_layer_add_param(&s->base, "kernel.C", 3, (int[]){H, N / 2, 2});
    /* A and Δ: their own learning rate and no weight decay (MN_GROUP_SSM) */
    s->o_dt = mn_layer_add_param_in(&s->base, MN_GROUP_SSM, "kernel.log_dt", 1, (int[]){H});
    s->o_lar = mn_layer_add_param_in(&s->base, MN_GROUP_SSM, "kernel.log_A_real", 2,
                                     (int[]){H, N / 2});
    s->o_aim = mn_layer_add_param_in(&s->base, MN_GROUP_SSM, "kernel.A_imag", 2,
                                     (int[]){H, N / 2});
    return &s->base;
}

/* ------------------------------------------------------------ registered kind
 * s4d:state=N:init=lin|inv|real; the width is the input's. */

static int state_of(const mn_block_config *b) {
    return b->state > 0 ? b->state : MN_S4D_DEFAULT_STATE;
}
static int s4d_out_width(const mn_block_config *b, int in) { (void)b; return in; }
static mn_layer *s4d_block(const mn_block_config *b, int in, int index) {
    (void)index;
    return mn_s4d_create(in, state_of(b), b->ssm_init);
}
/* The recurrence's count (N/2 complex multiply-adds and the real part per channel, D):
 * the FFT form's depends on T, ~ 3·(n/2)·log2(n)·... per sequence, not per row. */
static double s4d_macs(const mn_block_config *b, int in) {
    return (double)in * (2.0 * state_of(b) + 1);
}
/* forward: the FFT plan, then the per-thread scratch; backward: its scratch */
static void s4d_plan(const mn_block_config *b, int in, size_t T, size_t B, mn_memory_plan *p) {
    size_t fe, be, fwd, bwd;
    int n = mn_fft_size_for(2 * T);
    if (T == 0 || B == 0) return;
    if (!n || !layout((size_t)state_of(b) / 2, (size_t)n, (size_t)threads_for(in), &fe, &be,
                      &fwd, &bwd)) {
        p->overflow = 1;
        return;
    }
    mn_plan_alloc(p, 0, mn_cfft_plan_bytes(n));
    mn_plan_alloc(p, 0, fwd);
    mn_plan_alloc(p, 1, bwd);
}

/* |z| = exp(−Δ·exp(log_A_real)) for every mode, from the parameters in spec order (D, C,
 * log_dt, log_A_real, ...): the decays do not depend on the input. */
static mn_status s4d_ssm_stats(mn_model *m, int block, mn_layer *l, const mn_block_config *cfg,
                               const mn_batch *b, mn_ssm_stats *out, double *per_channel) {
    (void)m; (void)block; (void)b;
    int H = l->out_size, N2 = state_of(cfg) / 2;
    size_t modes = (size_t)H * N2;
    const float *p = l->params, *log_dt = p + H + 2 * modes, *lar = log_dt + H;
    double *ln_z = mn_alloc((modes + H) * sizeof(double)), *dts = ln_z + modes;
    if (!ln_z) return MN_E_NOMEM;
    out->dt_min = out->dt_max = exp((double)log_dt[0]);
    for (int h = 0; h < H; h++) {
        double dt = exp((double)log_dt[h]);
        dts[h] = dt;
        out->dt_min = fmin(out->dt_min, dt);
        out->dt_max = fmax(out->dt_max, dt);
        for (int n = 0; n < N2; n++)   /* ln|z| = Re(Δ·A) */
            ln_z[(size_t)h * N2 + n] = -dt * exp((double)lar[(size_t)h * N2 + n]);
    }
    out->dt_median = mn_median(dts, (size_t)H);
    mn_status st = mn_ssm_summarize(ln_z, H, N2, out, per_channel);
    mn_release(ln_z);
    return st;
}

/* MN_KIND_WHOLE_SEQUENCE: a truncated pass would need the state carried between chunks,
 * which the convolution form does not keep. */
const mn_layer_kind mn_kind_s4d = {
    .name = "s4d",
    .summary = "S4D diagonal state space (Gu et al. 2022) per channel, y = K*u + D.u by FFT; "
               "state=N (64), init=lin|inv|real",
    .cell = -1, .caps = MN_KIND_STATE | MN_KIND_WHOLE_SEQUENCE | MN_KIND_SSM_GROUP,
    .out_width = s4d_out_width, .create = s4d_block, .plan = s4d_plan, .macs_per_row = s4d_macs,
    .ssm_stats = s4d_ssm_stats,
};
