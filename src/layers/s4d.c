/* S4D layer (s4d.h) over u[T,B,H]:
 *   forward:  K[h, :T] by the Vandermonde sum (double, the powers exp(ΔA·l) by repeated
 *             products re-anchored every ANCHOR steps), then per sequence b and channel h
 *             y = irfft(rfft(u)·rfft(K))[:T] + D·u, the FFTs of length n = 2^⌈log2 2T⌉
 *             (zero padded, so the circular product is the causal convolution)
 *   backward: per channel, Û_b and dŶ_b; dK = irfft(Σ_b conj(Û_b)·dŶ_b)[:T] (correlation),
 *             du = irfft(conj(K̂)·dŶ)[:T] + D·dy, dD = Σ dy·u; then through the kernel
 *             with G_n = Σ_l dK[l]·z^l, H_n = Σ_l l·dK[l]·z^l (z = exp(ΔA)):
 *               ∂/∂C   = E·G                      E = (z − 1)/A
 *               ∂/∂A   = C·E'·G + C·E·Δ·H         E' = (Δ·z·A − (z − 1))/A²
 *               ∂/∂Δ   = C·z·G + C·E·A·H
 *             of the loss 2·Re Σ_n (...), so a real part gets 2·Re and an imaginary
 *             part −2·Im of these holomorphic derivatives.
 * Work is split among threads by blocks of HB channels (a block's columns are read row by
 * row, HB floats at a time), each thread with its own scratch; a channel's sums run in one
 * fixed order, so results do not depend on the thread count. Nothing of size H·n is kept:
 * backward recomputes K̂ for its block (its Vandermonde sum costs about 1/B of the FFTs).
 * Padded steps are computed and never read by a real step (the kernel is causal); an
 * Inf or NaN input reaches every step of its sequence and channel, as with PyTorch's FFT. */
#include "s4d.h"
#include "fft.h"

#include <math.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#define HB 8          /* channels per block */
#define ANCHOR 1024   /* steps between exact powers: product error stays ~1e-13 */

typedef struct { double r, i; } cplx;
static inline cplx cmul(cplx a, cplx b) { return (cplx){a.r * b.r - a.i * b.i, a.r * b.i + a.i * b.r}; }
static inline cplx cdiv(cplx a, cplx b) {
    double d = b.r * b.r + b.i * b.i;
    return (cplx){(a.r * b.r + a.i * b.i) / d, (a.i * b.r - a.r * b.i) / d};
}
static inline cplx cexpd(cplx a) {
    double e = exp(a.r);
    return (cplx){e * cos(a.i), e * sin(a.i)};
}

typedef struct {
    mn_layer base;
    int H, N2;                       /* channels, modes (N/2) */
    mn_ssm_init init;
    size_t o_D, o_C, o_dt, o_lar, o_aim;
    mn_fft_plan fft;
    void *ws, *gws;
    size_t ws_bytes, gws_bytes;
    const float *x;                  /* input of the last forward (owned by the caller) */
    int T, B;
    /* streaming: state [B, H, N2] and the modes' z, C·B̄ [H, N2], complex double */
    void *st;
    size_t st_bytes;
    int st_B, st_ready;
} s4d;

/* One mode's discretization: A, Δ, ΔA, z = exp(ΔA), z − 1 (without cancellation),
 * E = (z − 1)/A, C, C·E. */
typedef struct { cplx a, dtA, z, zm1, E, C, Cb; double dt; } mode;

static mode mode_of(const s4d *s, const float *p, int h, int n) {
    mode m;
    size_t hn = (size_t)h * s->N2 + n;
    m.dt = exp((double)p[s->o_dt + h]);
    m.a = (cplx){-exp((double)p[s->o_lar + hn]), (double)p[s->o_aim + hn]};
    m.dtA = (cplx){m.dt * m.a.r, m.dt * m.a.i};
    m.z = cexpd(m.dtA);
    double sh = sin(0.5 * m.dtA.i);
    m.zm1 = (cplx){expm1(m.dtA.r) * cos(m.dtA.i) - 2 * sh * sh, m.z.i};
    m.E = cdiv(m.zm1, m.a);
    m.C = (cplx){p[s->o_C + 2 * hn], p[s->o_C + 2 * hn + 1]};
    m.Cb = cmul(m.C, m.E);
    return m;
}

/* K[l] = 2·Re Σ_n Cb_n·z_n^l for l < T; wk: 8·N2 doubles. */
static inline __attribute__((always_inline)) void kernel_row_body(const s4d *s, const float *p,
                                                                  int h, int T, double *wk,
                                                                  float *K) {
    int N2 = s->N2;
    double *restrict zr = wk, *restrict zi = zr + N2, *restrict wr = zi + N2;
    double *restrict wi = wr + N2, *cr = wi + N2, *ci = cr + N2, *ar = ci + N2, *ai = ar + N2;
    for (int n = 0; n < N2; n++) {
        mode m = mode_of(s, p, h, n);
        zr[n] = m.z.r; zi[n] = m.z.i;
        cr[n] = m.Cb.r; ci[n] = m.Cb.i;
        ar[n] = m.dtA.r; ai[n] = m.dtA.i;
    }
    for (int l0 = 0; l0 < T; l0 += ANCHOR) {
        for (int n = 0; n < N2; n++) {
            cplx w = cmul((cplx){cr[n], ci[n]}, cexpd((cplx){ar[n] * l0, ai[n] * l0}));
            wr[n] = w.r;
            wi[n] = w.i;
        }
        int l1 = T - l0 < ANCHOR ? T : l0 + ANCHOR;
        for (int l = l0; l < l1; l++) {
            double sum = 0;
            #pragma omp simd reduction(+ : sum)
            for (int n = 0; n < N2; n++) {
                double r = wr[n] * zr[n] - wi[n] * zi[n];
                sum += wr[n];
                wi[n] = wr[n] * zi[n] + wi[n] * zr[n];
                wr[n] = r;
            }
            K[l] = (float)(2 * sum);
        }
    }
}

/* The parameter gradients of channel h from dK[T] (see the top); wk: 10·N2 doubles. */
static inline __attribute__((always_inline)) void kernel_backward_body(const s4d *s,
                                                                       const float *p, float *g,
                                                                       int h, int T,
                                                                       const float *dK,
                                                                       double *wk) {
    int N2 = s->N2;
    double *restrict zr = wk, *restrict zi = zr + N2, *restrict pr = zi + N2;
    double *restrict pi = pr + N2, *restrict Gr = pi + N2, *restrict Gi = Gr + N2;
    double *restrict Hr = Gi + N2, *restrict Hi = Hr + N2, *ar = Hi + N2, *ai = ar + N2;
    for (int n = 0; n < N2; n++) {
        mode m = mode_of(s, p, h, n);
        zr[n] = m.z.r; zi[n] = m.z.i;
        ar[n] = m.dtA.r; ai[n] = m.dtA.i;
        Gr[n] = Gi[n] = Hr[n] = Hi[n] = 0;
    }
    for (int l0 = 0; l0 < T; l0 += ANCHOR) {
        for (int n = 0; n < N2; n++) {
            cplx e = cexpd((cplx){ar[n] * l0, ai[n] * l0});
            pr[n] = e.r;
            pi[n] = e.i;
        }
        int l1 = T - l0 < ANCHOR ? T : l0 + ANCHOR;
        for (int l = l0; l < l1; l++) {
            double d = dK[l], dl = d * l;
            #pragma omp simd
            for (int n = 0; n < N2; n++) {
                Gr[n] += d * pr[n];
                Gi[n] += d * pi[n];
                Hr[n] += dl * pr[n];
                Hi[n] += dl * pi[n];
                double r = pr[n] * zr[n] - pi[n] * zi[n];
                pi[n] = pr[n] * zi[n] + pi[n] * zr[n];
                pr[n] = r;
            }
        }
    }
    double ddt = 0;
    for (int n = 0; n < N2; n++) {
        mode m = mode_of(s, p, h, n);
        size_t hn = (size_t)h * N2 + n;
        cplx G = {Gr[n], Gi[n]}, Hs = {Hr[n], Hi[n]};
        cplx EG = cmul(m.E, G);
        g[s->o_C + 2 * hn] += (float)(2 * EG.r);
        g[s->o_C + 2 * hn + 1] += (float)(-2 * EG.i);
        cplx dza = cmul((cplx){m.dt * m.z.r, m.dt * m.z.i}, m.a);         /* Δ·z·A */
        cplx Ep = cdiv((cplx){dza.r - m.zm1.r, dza.i - m.zm1.i}, cmul(m.a, m.a));
        cplx CH = cmul(m.C, Hs);
        cplx dA = cmul(m.C, cmul(Ep, G)), t = cmul(m.E, CH);
        dA.r += m.dt * t.r;
        dA.i += m.dt * t.i;
        cplx dDt = cmul(m.C, cmul(m.z, G)), u = cmul(t, m.a);
        ddt += 2 * (dDt.r + u.r);
        g[s->o_lar + hn] += (float)(2 * dA.r * m.a.r);     /* ∂Re A/∂log_A_real = Re A */
        g[s->o_aim + hn] += (float)(-2 * dA.i);
    }
    g[s->o_dt + h] += (float)(ddt * exp((double)p[s->o_dt + h]));
}

/* Both sums over the modes, compiled also for AVX2 and chosen at run time (the GEMM's way):
 * the kernel's sum over modes then adds in another order, so the bits depend on the CPU,
 * never on the thread count. */
static void kernel_row_portable(const s4d *s, const float *p, int h, int T, double *wk,
                                float *K) {
    kernel_row_body(s, p, h, T, wk, K);
}
static void kernel_backward_portable(const s4d *s, const float *p, float *g, int h, int T,
                                     const float *dK, double *wk) {
    kernel_backward_body(s, p, g, h, T, dK, wk);
}
#if defined(__x86_64__) || defined(__i386__)
__attribute__((target("avx2"))) static void kernel_row_avx2(const s4d *s, const float *p,
                                                            int h, int T, double *wk, float *K) {
    kernel_row_body(s, p, h, T, wk, K);
}
__attribute__((target("avx2"))) static void kernel_backward_avx2(const s4d *s, const float *p,
                                                                 float *g, int h, int T,
                                                                 const float *dK, double *wk) {
    kernel_backward_body(s, p, g, h, T, dK, wk);
}
static int use_avx2(void) { return __builtin_cpu_supports("avx2"); }
#else
#define kernel_row_avx2 kernel_row_portable
#define kernel_backward_avx2 kernel_backward_portable
static int use_avx2(void) { return 0; }
#endif
static void kernel_row(const s4d *s, const float *p, int h, int T, double *wk, float *K) {
    if (use_avx2()) kernel_row_avx2(s, p, h, T, wk, K);
    else kernel_row_portable(s, p, h, T, wk, K);
}
static void kernel_row_backward(const s4d *s, const float *p, float *g, int h, int T,
                                const float *dK, double *wk) {
    if (use_avx2()) kernel_backward_avx2(s, p, g, h, T, dK, wk);
    else kernel_backward_portable(s, p, g, h, T, dK, wk);
}

/* ------------------------------------------------------------ workspaces */

static int nblocks(int H) { return (H + HB - 1) / HB; }

static int threads_for(int H) {
    int t = mn_threads();
    return MN_MAX(1, MN_MIN(t, nblocks(H)));
}

/* Per thread: forward 4N doubles (the Vandermonde sum), the FFT's work [n] and K̂, data
 * [HB, n+2] floats; backward 5N doubles, work [n] and K̂, Û, dŶ, acc [HB, n+2] floats.
 * 0 on overflow. */
static int layout(size_t N2, size_t n, size_t threads, size_t *fwd_each, size_t *bwd_each,
                  size_t *fwd, size_t *bwd) {
    size_t spec, f;
    if (!mn_mul_size(n + 2, HB * sizeof(float), &spec) || !mn_mul_size(spec, 4, &f)) return 0;
    *fwd_each = 8 * N2 * sizeof(double) + n * sizeof(float) + 2 * spec;
    *bwd_each = 10 * N2 * sizeof(double) + n * sizeof(float) + f;
    return mn_mul_size(*fwd_each, threads, fwd) && mn_mul_size(*bwd_each, threads, bwd);
}

static mn_status prepare(s4d *s, int T, int grads, int *threads, size_t *each) {
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
    if (!layout((size_t)s->N2, (size_t)n, (size_t)*threads, &fe, &be, &fwd, &bwd))
        return mn_fail(MN_E_NOMEM, "S4D workspace for %d steps overflows", T);
    *each = grads ? be : fe;
    if (grads ? mn_reserve(&s->gws, &s->gws_bytes, bwd) : mn_reserve(&s->ws, &s->ws_bytes, fwd))
        return MN_E_NOMEM;
    return MN_OK;
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
static void block_spectra(const s4d *s, const float *p, int h0, int hc, int T, double *wk,
                          float *khat, size_t ld, float *work) {
    for (int c = 0; c < hc; c++) {
        float *k = khat + c * ld;
        kernel_row(s, p, h0 + c, T, wk, k);
        memset(k + T, 0, (size_t)(s->fft.n - T) * sizeof(float));
        mn_rfft(&s->fft, k, work);
    }
}

/* ------------------------------------------------------------ the layer */

static void s4d_init(mn_layer *l, mn_rng *rng, const mn_init_config *cfg) {
    (void)cfg;
    s4d *s = (s4d *)l;
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
    s4d *s = (s4d *)l;
    size_t rows, each;
    int threads, H = s->H;
    mn_status st;
    if ((st = mn_layer_rows(l, T, B, &rows))) return st;
    s->x = x;
    s->T = T;
    s->B = B;
    if (rows == 0) return MN_OK;
    if ((st = prepare(s, T, 0, &threads, &each))) return st;
    const float *p = l->params;
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

static mn_status s4d_backward(mn_layer *l, const float *dy, float *dx, int T, int B,
                              const int32_t *lengths) {
    (void)lengths;
    s4d *s = (s4d *)l;
    size_t rows, each;
    int threads, H = s->H;
    mn_status st;
    if ((st = mn_layer_rows(l, T, B, &rows))) return st;
    if (!s->x || T != s->T || B != s->B)
        return mn_fail(MN_E_STATE, "S4D backward over %d steps of %d after a forward over %d "
                       "of %d: call forward with the same T and B first", T, B, s->T, s->B);
    if (rows == 0) return MN_OK;
    if ((st = prepare(s, T, 1, &threads, &each))) return st;
    const float *p = l->params, *x = s->x;
    float *g = l->grads;
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
            kernel_row_backward(s, p, g, h0 + c, T, acc + c * ld, wk);
        }
    }
    return MN_OK;
}

/* ------------------------------------------------------------ recurrence */

void mn_s4d_stream_reset(mn_layer *l) {
    s4d *s = (s4d *)l;
    if (s->st) memset(s->st, 0, s->st_bytes);
    s->st_ready = 0;
}

mn_status mn_s4d_step(mn_layer *l, const float *u_t, float *y_t, int B) {
    s4d *s = (s4d *)l;
    int H = s->H, N2 = s->N2;
    size_t modes = (size_t)H * N2, bytes;
    if (B < 1) return mn_fail(MN_E_ARG, "S4D step over a batch of %d: need at least 1", B);
    if (B != s->st_B || !s->st) {
        if (!mn_mul_size((size_t)B + 2, modes * sizeof(cplx), &bytes) ||
            mn_reserve(&s->st, &s->st_bytes, bytes) != MN_OK)
            return mn_fail(MN_E_NOMEM, "S4D stream: a state of [%d, %d, %d] does not fit in "
                           "memory", B, H, N2);
        s->st_B = B;
        mn_s4d_stream_reset(l);
    }
    cplx *z = s->st, *cb = z + modes, *state = cb + modes;
    const float *p = l->params;
    if (!s->st_ready) {
        for (int h = 0; h < H; h++)
            for (int n = 0; n < N2; n++) {
                mode m = mode_of(s, p, h, n);
                z[(size_t)h * N2 + n] = m.z;
                cb[(size_t)h * N2 + n] = m.Cb;
            }
        s->st_ready = 1;
    }
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++) {
            double u = u_t[(size_t)b * H + h], sum = 0;
            cplx *xs = state + ((size_t)b * H + h) * N2;
            const cplx *zh = z + (size_t)h * N2, *ch = cb + (size_t)h * N2;
            for (int n = 0; n < N2; n++) {
                cplx v = cmul(zh[n], xs[n]);     /* x ← z·x + u (B̄ folded into C·B̄) */
                v.r += u;
                xs[n] = v;
                sum += ch[n].r * v.r - ch[n].i * v.i;
            }
            y_t[(size_t)b * H + h] = (float)(2 * sum + p[s->o_D + h] * u);
        }
    return MN_OK;
}

mn_status mn_s4d_kernel(mn_layer *l, int T, float *K) {
    s4d *s = (s4d *)l;
    double *wk = mn_alloc(8 * (size_t)s->N2 * sizeof(double));
    if (!wk) return MN_E_NOMEM;
    for (int h = 0; h < s->H; h++) kernel_row(s, l->params, h, T, wk, K + (size_t)h * T);
    mn_release(wk);
    return MN_OK;
}

static size_t s4d_bytes(const mn_layer *l) {
    const s4d *s = (const s4d *)l;
    return s->ws_bytes + s->gws_bytes + s->st_bytes + s->fft.bytes;
}

static void s4d_destroy(mn_layer *l) {
    s4d *s = (s4d *)l;
    mn_fft_plan_free(&s->fft);
    mn_release(s->ws);
    mn_release(s->gws);
    mn_release(s->st);
    mn_release(s);
}

static const mn_layer_ops s4d_ops = {
    .kind = "s4d",
    .init = s4d_init,
    .forward = s4d_forward,
    .backward = s4d_backward,
    .activation_bytes = s4d_bytes,
    .destroy = s4d_destroy,
};

mn_layer *mn_s4d_create(int H, int N, mn_ssm_init init) {
    if (H < 1 || H > 65536 || N < 2 || N > 4096 || N % 2 || (unsigned)init > MN_SSM_INIT_REAL) {
        mn_fail(MN_E_ARG, "S4D over %d channels with state %d: channels must be from 1 to "
                "65536, the state an even number from 2 to 4096", H, N);
        return NULL;
    }
    s4d *s = mn_alloc_zero(sizeof *s);
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
    mn_plan_alloc(p, 0, mn_fft_plan_bytes(n));
    mn_plan_alloc(p, 0, fwd);
    mn_plan_alloc(p, 1, bwd);
}

/* MN_KIND_WHOLE_SEQUENCE: a truncated pass would need the state carried between chunks,
 * which the convolution form does not keep. */
const mn_layer_kind mn_kind_s4d = {
    .name = "s4d",
    .summary = "S4D diagonal state space (Gu et al. 2022) per channel, y = K*u + D.u by FFT; "
               "state=N (64), init=lin|inv|real",
    .cell = -1, .caps = MN_KIND_STATE | MN_KIND_WHOLE_SEQUENCE | MN_KIND_SSM_GROUP, .out_width = s4d_out_width,
    .create = s4d_block, .plan = s4d_plan, .macs_per_row = s4d_macs,
};
