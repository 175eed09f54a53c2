/* The S4D kernel K[h, l] = 2·Re Σ_n C_n·E_n·z_n^l (z = exp(ΔA), E = (z − 1)/A) and its
 * gradients, for s4d.c (see s4d_impl.h). From dK, with G_n = Σ_l dK[l]·z^l and
 * H_n = Σ_l l·dK[l]·z^l:
 *   ∂/∂C = E·G,   ∂/∂A = C·E'·G + C·E·Δ·H  (E' = (Δ·z·A − (z − 1))/A²),
 *   ∂/∂Δ = C·z·G + C·E·A·H
 * of the loss 2·Re Σ_n (...): a real part gets 2·Re and an imaginary part −2·Im.
 *
 * Fast: in blocks of KB = 64 steps, K[b·KB + j] = Σ_n 2·Re(W_bn·P_nj) with P_nj = z_n^j
 * (floats) and W_bn = C_n·E_n·z_n^{b·KB} (double, stepped by z^KB, then rounded): per
 * block a product of a [1 × 2·N2] row by a [2·N2 × KB] matrix, vectorized along j.
 * Backward: S_bn = Σ_j dK[b·KB + j]·z_n^j and S'_bn = Σ_j j·dK[b·KB + j]·z_n^j in float
 * (vectorized along the modes), then G_n = Σ_b z_n^{b·KB}·S_bn and
 * H_n = Σ_b z_n^{b·KB}·(b·KB·S_bn + S'_bn) in double.
 * Reference: z^l stepped in double at every l (exact powers every ANCHOR steps), summed
 * in double: what the fast sums are tested against (tests/test_s4d.c). */
#include "s4d_impl.h"

#include <string.h>

#define ANCHOR 1024   /* reference: steps between exact powers (product error ~1e-13) */
#define KB MN_S4D_KB

mn_s4d_mode mn_s4d_mode_of(const mn_s4d *s, const float *p, int h, int n) {
    mn_s4d_mode m;
    size_t hn = (size_t)h * s->N2 + n;
    m.dt = exp((double)p[s->o_dt + h]);
    m.a = (mn_cplx){-exp((double)p[s->o_lar + hn]), (double)p[s->o_aim + hn]};
    m.dtA = (mn_cplx){m.dt * m.a.r, m.dt * m.a.i};
    m.z = mn_cexp(m.dtA);
    double sh = sin(0.5 * m.dtA.i);
    m.zm1 = (mn_cplx){expm1(m.dtA.r) * cos(m.dtA.i) - 2 * sh * sh, m.z.i};
    m.E = mn_cdiv(m.zm1, m.a);
    m.C = (mn_cplx){p[s->o_C + 2 * hn], p[s->o_C + 2 * hn + 1]};
    m.Cb = mn_cmul(m.C, m.E);
    return m;
}

/* The parameter gradients of channel h from G, H per mode (both paths end here). */
static void mode_gradients(const mn_s4d *s, const float *p, float *g, int h, const double *Gr,
                           const double *Gi, const double *Hr, const double *Hi) {
    int N2 = s->N2;
    double ddt = 0;
    for (int n = 0; n < N2; n++) {
        mn_s4d_mode m = mn_s4d_mode_of(s, p, h, n);
        size_t hn = (size_t)h * N2 + n;
        mn_cplx G = {Gr[n], Gi[n]}, Hs = {Hr[n], Hi[n]};
        mn_cplx EG = mn_cmul(m.E, G);
        g[s->o_C + 2 * hn] += (float)(2 * EG.r);
        g[s->o_C + 2 * hn + 1] += (float)(-2 * EG.i);
        mn_cplx dza = mn_cmul((mn_cplx){m.dt * m.z.r, m.dt * m.z.i}, m.a);     /* Δ·z·A */
        mn_cplx Ep = mn_cdiv((mn_cplx){dza.r - m.zm1.r, dza.i - m.zm1.i}, mn_cmul(m.a, m.a));
        mn_cplx CH = mn_cmul(m.C, Hs);
        mn_cplx dA = mn_cmul(m.C, mn_cmul(Ep, G)), t = mn_cmul(m.E, CH);
        dA.r += m.dt * t.r;
        dA.i += m.dt * t.i;
        mn_cplx dDt = mn_cmul(m.C, mn_cmul(m.z, G)), u = mn_cmul(t, m.a);
        ddt += 2 * (dDt.r + u.r);
        g[s->o_lar + hn] += (float)(2 * dA.r * m.a.r);     /* ∂Re A/∂log_A_real = Re A */
        g[s->o_aim + hn] += (float)(-2 * dA.i);
    }
    g[s->o_dt + h] += (float)(ddt * exp((double)p[s->o_dt + h]));
}

/* ------------------------------------------------------------ reference */

void mn_s4d_kernel_ref(const mn_s4d *s, const float *p, int h, int T, double *wk, float *K) {
    int N2 = s->N2;
    double *zr = wk, *zi = zr + N2, *wr = zi + N2, *wi = wr + N2, *cr = wi + N2, *ci = cr + N2;
    double *ar = ci + N2, *ai = ar + N2;
    for (int n = 0; n < N2; n++) {
        mn_s4d_mode m = mn_s4d_mode_of(s, p, h, n);
        zr[n] = m.z.r; zi[n] = m.z.i;
        cr[n] = m.Cb.r; ci[n] = m.Cb.i;
        ar[n] = m.dtA.r; ai[n] = m.dtA.i;
    }
    for (int l0 = 0; l0 < T; l0 += ANCHOR) {
        for (int n = 0; n < N2; n++) {
            mn_cplx e = mn_cexp((mn_cplx){ar[n] * l0, ai[n] * l0});
            mn_cplx w = mn_cmul((mn_cplx){cr[n], ci[n]}, e);
            wr[n] = w.r;
            wi[n] = w.i;
        }
        int l1 = T - l0 < ANCHOR ? T : l0 + ANCHOR;
        for (int l = l0; l < l1; l++) {
            double sum = 0;
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

void mn_s4d_kernel_backward_ref(const mn_s4d *s, const float *p, float *g, int h, int T,
                                const float *dK, double *wk) {
    int N2 = s->N2;
    double *zr = wk, *zi = zr + N2, *pr = zi + N2, *pi = pr + N2, *Gr = pi + N2, *Gi = Gr + N2;
    double *Hr = Gi + N2, *Hi = Hr + N2, *ar = Hi + N2, *ai = ar + N2;
    for (int n = 0; n < N2; n++) {
        mn_s4d_mode m = mn_s4d_mode_of(s, p, h, n);
        zr[n] = m.z.r; zi[n] = m.z.i;
        ar[n] = m.dtA.r; ai[n] = m.dtA.i;
        Gr[n] = Gi[n] = Hr[n] = Hi[n] = 0;
    }
    for (int l0 = 0; l0 < T; l0 += ANCHOR) {
        for (int n = 0; n < N2; n++) {
            mn_cplx e = mn_cexp((mn_cplx){ar[n] * l0, ai[n] * l0});
            pr[n] = e.r;
            pi[n] = e.i;
        }
        int l1 = T - l0 < ANCHOR ? T : l0 + ANCHOR;
        for (int l = l0; l < l1; l++) {
            double d = dK[l], dl = d * l;
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
    mode_gradients(s, p, g, h, Gr, Gi, Hr, Hi);
}

/* ------------------------------------------------------------ fast */

/* 8 floats that the compiler keeps in one vector register (GCC and clang's extension) */
typedef float v8f __attribute__((vector_size(32)));
/* (a macro: a function returning a 32-byte vector would change the ABI without AVX) */
#define LOAD8(v, p) memcpy(&(v), (p), sizeof(v8f))

/* modes' columns of Pᵀ: real parts, then imaginary parts, padded to whole vectors */
static size_t cols_of(int N2) { return ((size_t)2 * N2 + 7) & ~(size_t)7; }

/* forward: z, z^KB, W (6·N2 doubles), then P [2·N2·KB floats]; backward: z, z^KB, G, H, the
 * block starts (10·N2 doubles), then Pᵀ [KB][cols] and S, S' [2·cols] floats; +8 doubles
 * to align the floats */
size_t mn_s4d_kernel_work(int N2, int T) {
    (void)T;
    size_t f = MN_MAX((size_t)2 * N2 * KB, (KB + 2) * cols_of(N2));
    return 10 * (size_t)N2 + (f + 1) / 2 + 8;
}

/* z_n, z_n^KB in double and P[n][j] = z_n^j (j < KB) as floats: pr [N2][KB], pi likewise,
 * or transposed (pt [KB][cols]: real parts then imaginary parts of row j, zero padded) */
static void powers(const mn_s4d *s, const float *p, int h, double *z, double *zk, float *pr,
                   float *pi, float *pt) {
    int N2 = s->N2;
    size_t M = cols_of(N2);
    if (pt) memset(pt, 0, (size_t)KB * M * sizeof(float));
    for (int n = 0; n < N2; n++) {
        mn_s4d_mode m = mn_s4d_mode_of(s, p, h, n);
        mn_cplx w = {1, 0};
        for (int j = 0; j < KB; j++) {
            if (pt) {
                pt[(size_t)j * M + n] = (float)w.r;
                pt[(size_t)j * M + N2 + n] = (float)w.i;
            } else {
                pr[(size_t)n * KB + j] = (float)w.r;
                pi[(size_t)n * KB + j] = (float)w.i;
            }
            w = mn_cmul(w, m.z);
        }
        z[2 * n] = m.z.r;
        z[2 * n + 1] = m.z.i;
        mn_cplx e = mn_cexp((mn_cplx){m.dtA.r * KB, m.dtA.i * KB});
        zk[2 * n] = e.r;
        zk[2 * n + 1] = e.i;
    }
}

static inline __attribute__((always_inline)) void kernel_fast_body(const mn_s4d *s,
                                                                   const float *p, int h,
                                                                   int T, double *wk,
                                                                   float *K) {
    int N2 = s->N2;
    double *z = wk, *zk = z + 2 * N2, *w = zk + 2 * N2;          /* w: W_bn, [2·N2] */
    float *pr = (float *)(w + 2 * N2), *pi = pr + (size_t)N2 * KB;
    powers(s, p, h, z, zk, pr, pi, NULL);
    for (int n = 0; n < N2; n++) {
        mn_s4d_mode m = mn_s4d_mode_of(s, p, h, n);
        w[2 * n] = m.Cb.r;
        w[2 * n + 1] = m.Cb.i;
    }
    for (int l0 = 0; l0 < T; l0 += KB) {
        v8f acc[KB / 8];                  /* the block's KB outputs, in registers */
        for (int k = 0; k < KB / 8; k++) acc[k] = (v8f){0};
        for (int n = 0; n < N2; n++) {
            float a = (float)(2 * w[2 * n]), c = (float)(-2 * w[2 * n + 1]);
            const float *prn = pr + (size_t)n * KB, *pin = pi + (size_t)n * KB;
            for (int k = 0; k < KB / 8; k++) {
                v8f r, i;
                LOAD8(r, prn + 8 * k);
                LOAD8(i, pin + 8 * k);
                acc[k] += a * r + c * i;
            }
            mn_cplx nw = mn_cmul((mn_cplx){w[2 * n], w[2 * n + 1]},
                                 (mn_cplx){zk[2 * n], zk[2 * n + 1]});
            w[2 * n] = nw.r;
            w[2 * n + 1] = nw.i;
        }
        int len = MN_MIN(KB, T - l0);
        memcpy(K + l0, acc, (size_t)len * sizeof(float));
    }
}

static inline __attribute__((always_inline)) void kernel_backward_fast_body(
    const mn_s4d *s, const float *p, float *g, int h, int T, const float *dK, double *wk) {
    int N2 = s->N2;
    size_t M = cols_of(N2);
    double *z = wk, *zk = z + 2 * N2, *Gr = zk + 2 * N2, *Gi = Gr + N2, *Hr = Gi + N2;
    double *Hi = Hr + N2, *wr = Hi + N2, *wi = wr + N2;           /* z^l0 */
    float *pt = (float *)(wi + N2), *S = pt + (size_t)KB * M, *S1 = S + M;
    powers(s, p, h, z, zk, NULL, NULL, pt);
    for (int n = 0; n < N2; n++) {
        Gr[n] = Gi[n] = Hr[n] = Hi[n] = 0;
        wr[n] = 1;
        wi[n] = 0;
    }
    for (int l0 = 0; l0 < T; l0 += KB) {
        int len = MN_MIN(KB, T - l0);
        const float *restrict d = dK + l0;
        /* 32 columns at a time (8 independent sums: a multiply-add's latency is hidden),
         * then 8 at a time; the sums held in registers over the block's steps */
        size_t i0 = 0;
        for (; i0 + 32 <= M; i0 += 32) {
            v8f a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0}, b0 = {0}, b1 = {0}, b2 = {0}, b3 = {0};
            for (int j = 0; j < len; j++) {
                const float *row = pt + (size_t)j * M + i0;
                float dj = d[j], dl = d[j] * (float)j;
                v8f r0, r1, r2, r3;
                LOAD8(r0, row);
                LOAD8(r1, row + 8);
                LOAD8(r2, row + 16);
                LOAD8(r3, row + 24);
                a0 += dj * r0; a1 += dj * r1; a2 += dj * r2; a3 += dj * r3;
                b0 += dl * r0; b1 += dl * r1; b2 += dl * r2; b3 += dl * r3;
            }
            memcpy(S + i0, &a0, sizeof a0);
            memcpy(S + i0 + 8, &a1, sizeof a1);
            memcpy(S + i0 + 16, &a2, sizeof a2);
            memcpy(S + i0 + 24, &a3, sizeof a3);
            memcpy(S1 + i0, &b0, sizeof b0);
            memcpy(S1 + i0 + 8, &b1, sizeof b1);
            memcpy(S1 + i0 + 16, &b2, sizeof b2);
            memcpy(S1 + i0 + 24, &b3, sizeof b3);
        }
        for (; i0 < M; i0 += 8) {
            v8f a = {0}, b = {0};
            for (int j = 0; j < len; j++) {
                v8f row;
                LOAD8(row, pt + (size_t)j * M + i0);
                a += d[j] * row;
                b += (d[j] * (float)j) * row;
            }
            memcpy(S + i0, &a, sizeof a);
            memcpy(S1 + i0, &b, sizeof b);
        }
        double base = (double)l0;
        for (int n = 0; n < N2; n++) {
            /* z^l0·S and z^l0·(l0·S + S') */
            double sr = S[n], si = S[N2 + n], tr = base * sr + S1[n], ti = base * si + S1[N2 + n];
            Gr[n] += wr[n] * sr - wi[n] * si;
            Gi[n] += wr[n] * si + wi[n] * sr;
            Hr[n] += wr[n] * tr - wi[n] * ti;
            Hi[n] += wr[n] * ti + wi[n] * tr;
            mn_cplx nw = mn_cmul((mn_cplx){wr[n], wi[n]}, (mn_cplx){zk[2 * n], zk[2 * n + 1]});
            wr[n] = nw.r;
            wi[n] = nw.i;
        }
    }
    mode_gradients(s, p, g, h, Gr, Gi, Hr, Hi);
}

static void kernel_fast_portable(const mn_s4d *s, const float *p, int h, int T, double *wk,
                                 float *K) {
    kernel_fast_body(s, p, h, T, wk, K);
}
static void kernel_backward_fast_portable(const mn_s4d *s, const float *p, float *g, int h,
                                          int T, const float *dK, double *wk) {
    kernel_backward_fast_body(s, p, g, h, T, dK, wk);
}
/* AVX2 clones with FMA, chosen at run time where the CPU has both (GCC contracts the sums'
 * multiply-adds into FMAs here only): the kernel's bits then depend on the CPU, never on
 * the thread count. */
#if defined(__x86_64__) || defined(__i386__)
#if defined(__GNUC__) && !defined(__clang__)
#define CONTRACT __attribute__((optimize("fp-contract=fast")))
#else
#define CONTRACT
#endif
__attribute__((target("avx2,fma"))) CONTRACT static void kernel_fast_avx2(
    const mn_s4d *s, const float *p, int h, int T, double *wk, float *K) {
    kernel_fast_body(s, p, h, T, wk, K);
}
__attribute__((target("avx2,fma"))) CONTRACT static void kernel_backward_fast_avx2(
    const mn_s4d *s, const float *p, float *g, int h, int T, const float *dK, double *wk) {
    kernel_backward_fast_body(s, p, g, h, T, dK, wk);
}
static int use_avx2(void) {
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
#else
#define kernel_fast_avx2 kernel_fast_portable
#define kernel_backward_fast_avx2 kernel_backward_fast_portable
static int use_avx2(void) { return 0; }
#endif

void mn_s4d_kernel_fast(const mn_s4d *s, const float *p, int h, int T, double *wk, float *K) {
    if (use_avx2()) kernel_fast_avx2(s, p, h, T, wk, K);
    else kernel_fast_portable(s, p, h, T, wk, K);
}

void mn_s4d_kernel_backward_fast(const mn_s4d *s, const float *p, float *g, int h, int T,
                                 const float *dK, double *wk) {
    if (use_avx2()) kernel_backward_fast_avx2(s, p, g, h, T, dK, wk);
    else kernel_backward_fast_portable(s, p, g, h, T, dK, wk);
}
