/* The selective scan of Mamba (mamba.h), per sequence b, channel e and state n, a = exp(Δ·A):
 *   forward:  h_t = a_t ∘ h_{t−1} + Δ_t·u_t·B_t,   y_t = Σ_n C_tn·h_tn + D·u_t
 *   backward: g_t = ∂L/∂h_t = g_{t+1} ∘ a_{t+1} + dy_t·C_t, then
 *             dC_tn = Σ_e dy_te·h_ten          dB_tn = Σ_e g_ten·Δ_te·u_te
 *             dΔ_te = Σ_n g·(A·a·h_{t−1} + B·u)  du_te = Σ_n g·Δ·B + D·dy
 *             dA_en = Σ_{b,t} g·Δ·a·h_{t−1}     dD_e = Σ_{b,t} dy·u
 * Nothing of size T·E·N is held: forward keeps the state at the start of every chunk of
 * mn_mamba_chunk steps, and backward walks the chunks from the last, recomputing each
 * chunk's a and h from its start (the same arithmetic as forward, so the same bits) into
 * per-thread scratch [chunk, N, G]. A unit of work is one sequence and one group of G
 * channels, the channels in SIMD lanes (layout [N][G]: no sum across lanes but dB, dC's).
 * dB and dC sum over every channel: each unit writes its group's part for the chunk, and
 * after the chunk the parts are added in group order. dA and dD gather per sequence and
 * are added in sequence order at the end. No sum depends on which thread ran a unit. */
/* The clamps inside mn_mamba_exp are compares; under the default -ftrapping-math GCC will
 * not turn them into blends, and the loops over a group's lanes stay scalar (6× slower
 * here). mnemo never unmasks floating-point traps, so saying they do not happen changes no
 * result: NaN and ±Inf still go through the same compares. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")
#endif
#include "mamba.h"
#include "mamba_math.h"

#include <math.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#define G MN_SCAN_GROUP

int mn_mamba_chunk = 64;

static int groups_of(int E) { return (E + G - 1) / G; }

static int thread_id(void) {
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

int mn_scan_threads(int B, int E) {
    return MN_MAX(1, MN_MIN(mn_threads(), B * groups_of(E)));
}

/* A group always has G lanes: the lanes past E have A = 0, Δ = u = dy = 0, so their states
 * and gradients stay 0 and the loops keep one fixed trip count (no epilogue, no checks). */
#define LANES(v) float v[G] __attribute__((aligned(32)))

size_t mn_scan_state_floats(size_t T, size_t B, size_t E, size_t N) {
    size_t CH = (size_t)mn_mamba_chunk, n, Ep = (E + G - 1) / G * G;
    size_t chunks = T / CH + (T % CH != 0);
    return mn_mul_size(chunks, B, &n) && mn_mul_size(n, Ep, &n) && mn_mul_size(n, N, &n) ? n : 0;
}

/* A [N][G], h [N][G] */
size_t mn_scan_forward_scratch(size_t N) { return 2 * N * G; }

/* A [N][G], h [chunk + 1][N][G], a [chunk][N][G] */
size_t mn_scan_backward_scratch(size_t N) { return N * G * (2 * (size_t)mn_mamba_chunk + 2); }

/* g and dA [B][groups][N][G], dD [B][E], the parts of dB and dC [groups][chunk][B][N] */
size_t mn_scan_backward_shared(size_t B, size_t E, size_t N) {
    size_t ne, bne, parts, groups = (E + G - 1) / G;
    if (!mn_mul_size(N, groups * G, &ne) || !mn_mul_size(B, ne, &bne) ||
        !mn_mul_size(groups * (size_t)mn_mamba_chunk, B * N, &parts))
        return 0;
    return 2 * bne + B * E + 2 * parts;
}

/* The group's A [N][G] = −exp(A_log), 0 past E */
static void group_A(const mn_scan_io *s, int e0, int ec, float *At) {
    for (int n = 0; n < s->N; n++)
        for (int e = 0; e < G; e++)
            At[n * G + e] = e < ec ? -expf(s->A_log[(size_t)(e0 + e) * s->N + n]) : 0.0f;
}

/* v[e] = row[e] for e < ec, 0 after */
static inline void lanes_of(float *restrict v, const float *restrict row, int ec) {
    if (ec == G) {
        memcpy(v, row, G * sizeof(float));
        return;
    }
    for (int e = 0; e < G; e++) v[e] = e < ec ? row[e] : 0.0f;
}

/* Steps [0, T) of sequence b, channels [e0, e0 + ec), from the group's states h [N][G],
 * updated in place; the states before each chunk into hs [chunks][B][groups][N][G] when
 * non-NULL. Backward's recomputation writes the step the same way (a, then a·h + Δu·B),
 * so its states have the same bits. */
static inline __attribute__((always_inline)) void forward_body(const mn_scan_io *s, int b, int e0,
                                                              int ec, float *restrict h,
                                                              const float *restrict At,
                                                              float *y, float *hs) {
    int B = s->B, E = s->E, N = s->N, CH = mn_mamba_chunk, ng = groups_of(E);
    size_t NG = (size_t)N * G;
    for (int t = 0; t < s->T; t++) {
        if (hs && t % CH == 0)
            memcpy(hs + (((size_t)(t / CH) * B + b) * ng + e0 / G) * NG, h, NG * sizeof(float));
        size_t r = (size_t)t * B + b;
        const float *Bt = s->Bm + r * s->ld, *Ct = s->Cm + r * s->ld;
        LANES(dl); LANES(uu); LANES(du); LANES(acc);
        lanes_of(dl, s->delta + r * E + e0, ec);
        lanes_of(uu, s->u + r * E + e0, ec);
        for (int e = 0; e < G; e++) {
            du[e] = dl[e] * uu[e];
            acc[e] = 0;
        }
        for (int n = 0; n < N; n++) {
            float bn = Bt[n], cn = Ct[n], *restrict hn = h + n * G;
            const float *restrict an = At + n * G;
            #pragma omp simd
            for (int e = 0; e < G; e++) {
                float a = mn_mamba_exp(dl[e] * an[e]), v = a * hn[e] + du[e] * bn;
                hn[e] = v;
                acc[e] += cn * v;
            }
        }
        for (int e = 0; e < ec; e++) y[r * E + e0 + e] = acc[e] + s->D[e0 + e] * uu[e];
    }
}

/* Steps [t0, t1) of one unit backward: recompute a and h from the chunk's start state
 * hstart [N][G], then walk back. gs, dA: the unit's [N][G]; pB, pC: the unit's parts, row
 * k at k·B·N. */
static inline __attribute__((always_inline)) void backward_body(
    const mn_scan_io *s, int b, int e0, int ec, int t0, int t1, const float *hstart,
    const float *dy, float *du_out, float *dd_out, float *restrict gs, float *restrict dA,
    float *dDb, float *pB, float *pC, const float *restrict At, float *restrict hbuf,
    float *restrict abuf) {
    int B = s->B, E = s->E, N = s->N;
    size_t NG = (size_t)N * G;
    memcpy(hbuf, hstart, NG * sizeof(float));
    for (int k = 0; k < t1 - t0; k++) {
        size_t r = (size_t)(t0 + k) * B + b;
        const float *Bt = s->Bm + r * s->ld;
        LANES(dl); LANES(uu); LANES(du);
        lanes_of(dl, s->delta + r * E + e0, ec);
        lanes_of(uu, s->u + r * E + e0, ec);
        for (int e = 0; e < G; e++) du[e] = dl[e] * uu[e];
        for (int n = 0; n < N; n++) {
            const float *restrict an = At + n * G, *restrict hp = hbuf + k * NG + n * G;
            float *restrict hn = hbuf + (k + 1) * NG + n * G, *restrict a = abuf + k * NG + n * G;
            float bn = Bt[n];
            #pragma omp simd
            for (int e = 0; e < G; e++) {
                float ae = mn_mamba_exp(dl[e] * an[e]);
                a[e] = ae;
                hn[e] = ae * hp[e] + du[e] * bn;
            }
        }
    }
    for (int k = t1 - t0 - 1; k >= 0; k--) {
        size_t r = (size_t)(t0 + k) * B + b;
        const float *Bt = s->Bm + r * s->ld, *Ct = s->Cm + r * s->ld;
        /* per lane: gA = Σ_n g·A·a·h_{t−1}, gb = Σ_n g·B, so that dΔ = gA + u·gb and
         * du = Δ·gb + D·dy */
        LANES(dl); LANES(uu); LANES(dyv); LANES(gA); LANES(gb); LANES(dlu);
        lanes_of(dl, s->delta + r * E + e0, ec);
        lanes_of(uu, s->u + r * E + e0, ec);
        lanes_of(dyv, dy + r * E + e0, ec);
        for (int e = 0; e < G; e++) {
            gA[e] = gb[e] = 0;
            dlu[e] = dl[e] * uu[e];
        }
        for (int e = 0; e < ec; e++) dDb[e] += dyv[e] * uu[e];
        for (int n = 0; n < N; n++) {
            const float *restrict an = At + n * G, *restrict hp = hbuf + k * NG + n * G;
            const float *restrict hc = hp + NG, *restrict a = abuf + k * NG + n * G;
            float *restrict gn = gs + n * G, *restrict dAn = dA + n * G, bn = Bt[n], cn = Ct[n];
            float sb = 0, sc = 0;
            #pragma omp simd reduction(+ : sb, sc)
            for (int e = 0; e < G; e++) {
                float g = gn[e] + dyv[e] * cn, gah = g * (a[e] * hp[e]);
                sc += dyv[e] * hc[e];
                sb += g * dlu[e];
                gA[e] += an[e] * gah;
                dAn[e] += dl[e] * gah;
                gb[e] += g * bn;
                gn[e] = g * a[e];
            }
            pB[(size_t)k * B * N + n] = sb;
            pC[(size_t)k * B * N + n] = sc;
        }
        for (int e = 0; e < ec; e++) {
            dd_out[r * E + e0 + e] = gA[e] + uu[e] * gb[e];
            du_out[r * E + e0 + e] = dl[e] * gb[e] + s->D[e0 + e] * dyv[e];
        }
    }
}

/* Both bodies compiled also for AVX2 and chosen at run time (as s4d.c does): the bits then
 * depend on the CPU, never on the thread count. */
static void forward_portable(const mn_scan_io *s, int b, int e0, int ec, float *h,
                             const float *At, float *y, float *hs) {
    forward_body(s, b, e0, ec, h, At, y, hs);
}
static void backward_portable(const mn_scan_io *s, int b, int e0, int ec, int t0, int t1,
                              const float *hstart, const float *dy, float *du, float *dd,
                              float *gs, float *dA, float *dDb, float *pB, float *pC,
                              const float *At, float *hbuf, float *abuf) {
    backward_body(s, b, e0, ec, t0, t1, hstart, dy, du, dd, gs, dA, dDb, pB, pC, At, hbuf, abuf);
}
#if defined(__x86_64__) || defined(__i386__)
__attribute__((target("avx2"))) static void forward_avx2(const mn_scan_io *s, int b, int e0,
                                                         int ec, float *h, const float *At,
                                                         float *y, float *hs) {
    forward_body(s, b, e0, ec, h, At, y, hs);
}
__attribute__((target("avx2"))) static void backward_avx2(
    const mn_scan_io *s, int b, int e0, int ec, int t0, int t1, const float *hstart,
    const float *dy, float *du, float *dd, float *gs, float *dA, float *dDb, float *pB, float *pC,
    const float *At, float *hbuf, float *abuf) {
    backward_body(s, b, e0, ec, t0, t1, hstart, dy, du, dd, gs, dA, dDb, pB, pC, At, hbuf, abuf);
}
static int use_avx2(void) { return __builtin_cpu_supports("avx2"); }
#else
#define forward_avx2 forward_portable
#define backward_avx2 backward_portable
static int use_avx2(void) { return 0; }
#endif

static void forward_unit(const mn_scan_io *s, int b, int e0, int ec, float *h, const float *At,
                         float *y, float *hs) {
    if (use_avx2()) forward_avx2(s, b, e0, ec, h, At, y, hs);
    else forward_portable(s, b, e0, ec, h, At, y, hs);
}

void mn_scan_forward(const mn_scan_io *s, float *y, float *hs, float *scratch, int threads) {
    (void)threads;   /* read by OpenMP only */
    int ng = groups_of(s->E), units = s->B * ng;
    size_t each = mn_scan_forward_scratch((size_t)s->N);
    #pragma omp parallel for schedule(static) num_threads(threads) if (threads > 1)
    for (int unit = 0; unit < units; unit++) {
        int b = unit / ng, e0 = unit % ng * G, ec = MN_MIN(G, s->E - e0);
        float *At = scratch + (size_t)thread_id() * each, *h = At + (size_t)s->N * G;
        group_A(s, e0, ec, At);
        memset(h, 0, (size_t)s->N * G * sizeof(float));
        forward_unit(s, b, e0, ec, h, At, y, hs);
    }
}

void mn_scan_step(const mn_scan_io *s, float *h, float *y, float *scratch) {
    int ng = groups_of(s->E);
    size_t NG = (size_t)s->N * G;
    for (int unit = 0; unit < s->B * ng; unit++) {
        int b = unit / ng, e0 = unit % ng * G, ec = MN_MIN(G, s->E - e0);
        group_A(s, e0, ec, scratch);
        forward_unit(s, b, e0, ec, h + (size_t)unit * NG, scratch, y, NULL);
    }
}

void mn_scan_backward(const mn_scan_io *s, const float *hs, const float *dy, float *du,
                      float *ddelta, float *dBC, float *dA_log, float *dD, float *shared,
                      float *scratch, int threads) {
    (void)threads;   /* read by OpenMP only */
    int T = s->T, B = s->B, E = s->E, N = s->N, CH = mn_mamba_chunk, ng = groups_of(E);
    int units = B * ng, chunks = (T + CH - 1) / CH;
    size_t NG = (size_t)N * G, BN = (size_t)B * N, each = mn_scan_backward_scratch((size_t)N);
    size_t unit_floats = (size_t)units * NG;
    float *gs = shared, *dA = gs + unit_floats, *dDb = dA + unit_floats;
    float *pB = dDb + (size_t)B * E, *pC = pB + (size_t)ng * CH * BN;
    float *dBm = dBC, *dCm = dBC + (s->Cm - s->Bm);
    memset(shared, 0, (2 * unit_floats + (size_t)B * E) * sizeof(float));
    #pragma omp parallel num_threads(threads) if (threads > 1)
    {
        float *At = scratch + (size_t)thread_id() * each, *hbuf = At + NG;
        float *abuf = hbuf + (size_t)(CH + 1) * NG;
        int avx2 = use_avx2();
        for (int c = chunks - 1; c >= 0; c--) {
            int t0 = c * CH, t1 = MN_MIN(T, t0 + CH);
            #pragma omp for schedule(static)
            for (int unit = 0; unit < units; unit++) {
                int b = unit / ng, g = unit % ng, e0 = g * G, ec = MN_MIN(G, E - e0);
                const float *h0 = hs + ((size_t)c * units + unit) * NG;
                float *ub = pB + ((size_t)g * CH * B + b) * N, *uc = pC + ((size_t)g * CH * B + b) * N;
                group_A(s, e0, ec, At);
                (avx2 ? backward_avx2 : backward_portable)(s, b, e0, ec, t0, t1, h0, dy, du, ddelta,
                                                         gs + unit * NG, dA + unit * NG,
                                                         dDb + (size_t)b * E + e0, ub, uc, At,
                                                         hbuf, abuf);
            }
            #pragma omp for schedule(static)
            for (int q = 0; q < (t1 - t0) * B; q++) {
                int k = q / B, b = q % B;
                size_t r = (size_t)(t0 + k) * B + b;
                float *rb = dBm + r * s->ld, *rc = dCm + r * s->ld;
                for (int n = 0; n < N; n++) rb[n] = rc[n] = 0;
                for (int g = 0; g < ng; g++) {
                    const float *qb = pB + (((size_t)g * CH + k) * B + b) * N;
                    const float *qc = pC + (((size_t)g * CH + k) * B + b) * N;
                    for (int n = 0; n < N; n++) {
                        rb[n] += qb[n];
                        rc[n] += qc[n];
                    }
                }
            }
        }
    }
    for (int e = 0; e < E; e++) {
        float sd = 0;
        for (int b = 0; b < B; b++) sd += dDb[(size_t)b * E + e];
        dD[e] += sd;
        for (int n = 0; n < N; n++) {
            float sa = 0;
            for (int b = 0; b < B; b++)
                sa += dA[((size_t)b * ng + e / G) * NG + (size_t)n * G + e % G];
            size_t en = (size_t)e * N + n;
            dA_log[en] += sa * -expf(s->A_log[en]);       /* ∂A/∂A_log = A */
        }
    }
}

mn_status mn_scan_reference(const mn_scan_io *s, float *y) {
    double *h = mn_alloc((size_t)s->N * sizeof(double) + 1);
    if (!h) return MN_E_NOMEM;
    for (int b = 0; b < s->B; b++)
        for (int e = 0; e < s->E; e++) {
            memset(h, 0, (size_t)s->N * sizeof(double));
            for (int t = 0; t < s->T; t++) {
                size_t r = (size_t)t * s->B + b;
                double dl = s->delta[r * s->E + e], u = s->u[r * s->E + e], sum = 0;
                for (int n = 0; n < s->N; n++) {
                    double A = -exp((double)s->A_log[(size_t)e * s->N + n]);
                    h[n] = exp(dl * A) * h[n] + dl * s->Bm[r * s->ld + n] * u;
                    sum += s->Cm[r * s->ld + n] * h[n];
                }
                y[r * s->E + e] = (float)(sum + s->D[e] * u);
            }
        }
    mn_release(h);
    return MN_OK;
}
