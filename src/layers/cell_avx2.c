/* The LSTM and GRU forward steps in AVX2 and FMA: the cells' arithmetic at batch 1 and 4
 * is a fifth of an inference step, and the plain loops in cell.c (their reference, which
 * tests/test_cells.c compares these against) run at about one instruction a cycle.
 * Why they do: each unit's gate is one long dependent chain (exp's reduction, a degree-6
 * polynomial, the division), ~90 cycles deep, and a loop iteration of four such chains is
 * more than the out-of-order window holds, so the loop runs at its latency. Here the
 * chains of four vectors advance in lockstep, stage by stage (exp_lockstep), so every
 * instruction the core sees has three independent neighbours: LSTM 7.5 → 3.6 ns a unit
 * (make bench-cells). The formulas and their ends (±Inf, NaN, the small-|x| tanh) are
 * fastmath.h's; FMA rounds the polynomial once per step, so results differ from the plain
 * loops by an ulp or two, and every lane runs the same instructions, so a unit's bits do
 * not depend on where a thread's range [j0, j1) starts or ends. */
#include "cell.h"
#include "fastmath.h"

static int force_portable;

void mn_cell_use_portable(int on) { force_portable = on; }

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

#define AVX2 __attribute__((target("avx2,fma")))
#define LOCKSTEP static inline __attribute__((always_inline, target("avx2,fma")))
typedef __m256 v8;
#define V(x) _mm256_set1_ps(x)

/* e^a[k] for k < n, stage by stage. fastmath.h's mn_fast_expf without its three end
 * selects: max(−87, a) and min(88, ·) return a NaN operand given second, so NaN runs
 * through to a NaN result; below −87.33 this gives e^−87 where the reference gives 0,
 * which no caller here can tell apart (1 + e and 1 − e round to 1 either way); above
 * 88.72 the caller puts +Inf itself (only sigmoid's argument gets there). */
LOCKSTEP void exp_lockstep(v8 *a, int n) {
    v8 t[4], r[4], p[4];
    for (int k = 0; k < n; k++) a[k] = _mm256_min_ps(V(MN_EXP_HI), _mm256_max_ps(V(MN_EXP_LO), a[k]));
    for (int k = 0; k < n; k++) t[k] = _mm256_fmadd_ps(a[k], V(MN_LOG2E), V(MN_EXP_SHIFTER));
    for (int k = 0; k < n; k++) {
        v8 m = _mm256_sub_ps(t[k], V(MN_EXP_SHIFTER));            /* round(a / ln 2) */
        r[k] = _mm256_fnmadd_ps(m, V(MN_LN2_HI), a[k]);
        r[k] = _mm256_fnmadd_ps(m, V(MN_LN2_LO), r[k]);
    }
    for (int k = 0; k < n; k++) p[k] = _mm256_fmadd_ps(V(MN_EXP_P0), r[k], V(MN_EXP_P1));
    for (int k = 0; k < n; k++) p[k] = _mm256_fmadd_ps(p[k], r[k], V(MN_EXP_P2));
    for (int k = 0; k < n; k++) p[k] = _mm256_fmadd_ps(p[k], r[k], V(MN_EXP_P3));
    for (int k = 0; k < n; k++) p[k] = _mm256_fmadd_ps(p[k], r[k], V(MN_EXP_P4));
    for (int k = 0; k < n; k++) p[k] = _mm256_fmadd_ps(p[k], r[k], V(MN_EXP_P5));
    for (int k = 0; k < n; k++)
        p[k] = _mm256_fmadd_ps(p[k], _mm256_mul_ps(r[k], r[k]), _mm256_add_ps(r[k], V(1.0f)));
    for (int k = 0; k < n; k++) {            /* 2^m from t's bits, as in fastmath.h */
        __m256i bits = _mm256_add_epi32(_mm256_castps_si256(t[k]), _mm256_set1_epi32(127));
        a[k] = _mm256_mul_ps(p[k], _mm256_castsi256_ps(_mm256_slli_epi32(bits, 23)));
    }
}

/* The argument sigmoid(x) hands exp: −x, and where it is above exp's range, a note to
 * put +Inf after (sigmoid(−Inf) is then exactly 0). */
LOCKSTEP v8 sigmoid_arg(v8 x, v8 *over) {
    v8 a = _mm256_xor_ps(x, V(-0.0f));
    *over = _mm256_cmp_ps(a, V(MN_EXP_INF_ABOVE), _CMP_GT_OQ);
    return a;
}

LOCKSTEP v8 sigmoid_of(v8 e, v8 over) {
    e = _mm256_blendv_ps(e, V(__builtin_inff()), over);
    return _mm256_div_ps(V(1.0f), _mm256_add_ps(V(1.0f), e));
}

/* tanh(x) from e = e^{−2|x|}, as mn_fast_tanhf: (1 − e)/(1 + e) with x's sign, and an odd
 * Taylor polynomial below |x| = 0.0625 where the subtraction would cancel */
LOCKSTEP v8 tanh_arg(v8 x) { return _mm256_mul_ps(_mm256_andnot_ps(V(-0.0f), x), V(-2.0f)); }

LOCKSTEP v8 tanh_of(v8 x, v8 e) {
    v8 a = _mm256_andnot_ps(V(-0.0f), x), x2 = _mm256_mul_ps(a, a);
    v8 big = _mm256_div_ps(_mm256_sub_ps(V(1.0f), e), _mm256_add_ps(V(1.0f), e));
    v8 small = _mm256_fmadd_ps(x2, V(MN_TANH_T7), V(MN_TANH_T5));
    small = _mm256_fmadd_ps(x2, small, V(MN_TANH_T3));
    small = _mm256_mul_ps(a, _mm256_fmadd_ps(x2, small, V(1.0f)));
    v8 t = _mm256_blendv_ps(big, small, _mm256_cmp_ps(a, V(MN_TANH_SMALL), _CMP_LT_OQ));
    return _mm256_or_ps(t, _mm256_and_ps(x, V(-0.0f)));
}

/* A row's units in vectors of 8; the last partial one is run on copies padded to 8, by
 * the same instructions. `ld` is the distance between gate blocks: H in the row, 8 in a
 * padded copy. */
#define LD(p) _mm256_loadu_ps(p)
#define ST(p, v) _mm256_storeu_ps(p, v)

/* Ask for the next row's pre-activations (G gate blocks of act and rec, H apart) at unit
 * j, a line per block every 16 units: rows go one after another (recurrent.c), and the
 * hardware prefetcher, following 2·G streams at once, let the cells wait on them (LSTM
 * 200×32×256 inference 4-5% faster). Past the last row it touches nothing: a prefetch
 * never faults. */
LOCKSTEP void prefetch_next_row(const float *a, const float *rc, int G, size_t H, int j) {
    if (j & 15) return;
    for (int k = 0; k < G; k++) {
        _mm_prefetch((const char *)(a + (G + k) * H + j), _MM_HINT_T0);
        _mm_prefetch((const char *)(rc + (G + k) * H + j), _MM_HINT_T0);
    }
}

/* The last n < 8 units (from unit `at`) of the G gate blocks of act, rec, b_ih and b_hh,
 * copied into blocks of 8 zero-padded floats, which the vector code runs on as a row with
 * H = 8; tail_back puts the gates back. */
static void tail_copy(int G, size_t H, size_t at, int n, const float *a, const float *rc,
                      const float *bi, const float *bh, float *pa, float *pr, float *pi,
                      float *ph) {
    for (int k = 0; k < G; k++)
        for (int u = 0; u < n; u++) {
            size_t from = k * H + at + u;
            pa[8 * k + u] = a[from], pr[8 * k + u] = rc[from];
            pi[8 * k + u] = bi[from], ph[8 * k + u] = bh[from];
        }
}

static void tail_back(int G, size_t H, size_t at, int n, const float *pa, float *a) {
    for (int k = 0; k < G; k++)
        for (int u = 0; u < n; u++) a[k * H + at + u] = pa[8 * k + u];
}

/* ---------------------------------------------------------------------- LSTM */

/* i, f, o = σ(·), g = tanh(·) of 8 units, their four chains in lockstep; a in: x·W_ihᵀ,
 * out: the gates (a + (rec + b_ih + b_hh), as the plain loop adds) */
LOCKSTEP void lstm_gates8(float *a, const float *rc, const float *bi, const float *bh,
                          size_t ld) {
    v8 x[4], e[4], over[4];
    for (int k = 0; k < 4; k++)
        x[k] = _mm256_add_ps(LD(a + k * ld),
                             _mm256_add_ps(_mm256_add_ps(LD(rc + k * ld), LD(bi + k * ld)),
                                           LD(bh + k * ld)));
    for (int k = 0; k < 4; k++) e[k] = k == 2 ? tanh_arg(x[k]) : sigmoid_arg(x[k], &over[k]);
    exp_lockstep(e, 4);
    for (int k = 0; k < 4; k++) ST(a + k * ld, k == 2 ? tanh_of(x[k], e[k]) : sigmoid_of(e[k], over[k]));
}

/* c = f⊙c_prev + i⊙g, h = o⊙tanh(c) for n vectors of 8 units in lockstep */
LOCKSTEP void lstm_state(const float *a, size_t ld, const float *cp, float *c, float *h, int n) {
    v8 cc[4], e[4];
    for (int k = 0; k < n; k++) {
        const float *ak = a + 8 * k;
        cc[k] = _mm256_fmadd_ps(LD(ak + ld), LD(cp + 8 * k), _mm256_mul_ps(LD(ak), LD(ak + 2 * ld)));
        ST(c + 8 * k, cc[k]);
        e[k] = tanh_arg(cc[k]);
    }
    exp_lockstep(e, n);
    for (int k = 0; k < n; k++) ST(h + 8 * k, _mm256_mul_ps(LD(a + 8 * k + 3 * ld), tanh_of(cc[k], e[k])));
}

AVX2 static void lstm_avx2(const mn_cell_step *s, int b, int j0, int j1) {
    size_t H = (size_t)s->H, o4 = (size_t)b * 4 * H, o = (size_t)b * H;
    float *a = s->act + o4, *c = s->c + o, *h = s->h + o;
    const float *rc = s->rec + o4, *bi = s->b_ih, *bh = s->b_hh, *cp = s->c_prev + o;
    int full = j0 + (j1 - j0) / 8 * 8, j;
    /* two passes: the gates of the row, then its state (see cell.c's lstm_forward) */
    for (j = j0; j < full; j += 8) {
        prefetch_next_row(a, rc, 4, H, j);
        lstm_gates8(a + j, rc + j, bi + j, bh + j, H);
    }
    for (j = j0; j + 32 <= full; j += 32) lstm_state(a + j, H, cp + j, c + j, h + j, 4);
    for (; j < full; j += 8) lstm_state(a + j, H, cp + j, c + j, h + j, 1);
    int n = j1 - full;
    if (!n) return;
    float pa[32] = {0}, pr[32] = {0}, pi[32] = {0}, ph[32] = {0}, pc[8] = {0}, qc[8], qh[8];
    tail_copy(4, H, (size_t)full, n, a, rc, bi, bh, pa, pr, pi, ph);
    for (int u = 0; u < n; u++) pc[u] = cp[full + u];
    lstm_gates8(pa, pr, pi, ph, 8);
    lstm_state(pa, 8, pc, qc, qh, 1);
    tail_back(4, H, (size_t)full, n, pa, a);
    for (int u = 0; u < n; u++) c[full + u] = qc[u], h[full + u] = qh[u];
}

/* ----------------------------------------------------------------------- GRU */

/* r, z = σ(·) of 16 units (two vectors of each, four chains) and aux = W_hn·h_prev + b_hn;
 * the sums in the plain loop's order, ((a + b_ih) + rec) + b_hh */
LOCKSTEP void gru_gates16(float *a, const float *rc, const float *bi, const float *bh,
                          float *aux, size_t ld, int n) {
    v8 x[4], e[4], over[4];
    for (int k = 0; k < 2 * n; k++) {
        size_t at = (k & 1) * ld + 8 * (k >> 1);      /* r, z of vector k / 2 */
        x[k] = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(LD(a + at), LD(bi + at)), LD(rc + at)),
                             LD(bh + at));
        e[k] = sigmoid_arg(x[k], &over[k]);
    }
    exp_lockstep(e, 2 * n);
    for (int k = 0; k < 2 * n; k++) ST(a + (k & 1) * ld + 8 * (k >> 1), sigmoid_of(e[k], over[k]));
    for (int k = 0; k < n; k++)
        ST(aux + 8 * k, _mm256_add_ps(LD(rc + 2 * ld + 8 * k), LD(bh + 2 * ld + 8 * k)));
}

/* n = tanh(a_n + b_in + r⊙aux), h = (1 − z)⊙n + z⊙h_prev for n vectors in lockstep */
LOCKSTEP void gru_state(float *a, const float *bi, const float *aux, const float *hp,
                        float *h, size_t ld, int n) {
    v8 x[4], e[4];
    for (int k = 0; k < n; k++) {
        size_t at = 2 * ld + 8 * k;
        x[k] = _mm256_add_ps(_mm256_add_ps(LD(a + at), LD(bi + at)),
                             _mm256_mul_ps(LD(a + 8 * k), LD(aux + 8 * k)));
        e[k] = tanh_arg(x[k]);
    }
    exp_lockstep(e, n);
    for (int k = 0; k < n; k++) {
        v8 nn = tanh_of(x[k], e[k]), z = LD(a + ld + 8 * k);
        ST(a + 2 * ld + 8 * k, nn);
        ST(h + 8 * k, _mm256_fmadd_ps(z, LD(hp + 8 * k), _mm256_mul_ps(_mm256_sub_ps(V(1.0f), z), nn)));
    }
}

AVX2 static void gru_avx2(const mn_cell_step *s, int b, int j0, int j1) {
    size_t H = (size_t)s->H, o3 = (size_t)b * 3 * H, o = (size_t)b * H;
    float *a = s->act + o3, *aux = s->aux + o, *h = s->h + o;
    const float *rc = s->rec + o3, *bi = s->b_ih, *bh = s->b_hh, *hp = s->h_prev + o;
    int full = j0 + (j1 - j0) / 8 * 8, j;
    for (j = j0; j + 16 <= full; j += 16) {
        prefetch_next_row(a, rc, 3, H, j);
        gru_gates16(a + j, rc + j, bi + j, bh + j, aux + j, H, 2);
    }
    for (; j < full; j += 8) gru_gates16(a + j, rc + j, bi + j, bh + j, aux + j, H, 1);
    for (j = j0; j + 32 <= full; j += 32) gru_state(a + j, bi + j, aux + j, hp + j, h + j, H, 4);
    for (; j < full; j += 8) gru_state(a + j, bi + j, aux + j, hp + j, h + j, H, 1);
    int n = j1 - full;
    if (!n) return;
    float pa[24] = {0}, pr[24] = {0}, pi[24] = {0}, ph[24] = {0}, px[8], pp[8] = {0}, qh[8];
    tail_copy(3, H, (size_t)full, n, a, rc, bi, bh, pa, pr, pi, ph);
    for (int u = 0; u < n; u++) pp[u] = hp[full + u];
    gru_gates16(pa, pr, pi, ph, px, 8, 1);
    gru_state(pa, pi, px, pp, qh, 8, 1);
    tail_back(3, H, (size_t)full, n, pa, a);
    for (int u = 0; u < n; u++) aux[full + u] = px[u], h[full + u] = qh[u];
}

static int use_avx2(void) {
    return !force_portable && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

int mn_lstm_forward_avx2(const mn_cell_step *s, int b, int j0, int j1) {
    if (!use_avx2()) return 1;
    lstm_avx2(s, b, j0, j1);
    return 0;
}

int mn_gru_forward_avx2(const mn_cell_step *s, int b, int j0, int j1) {
    if (!use_avx2()) return 1;
    gru_avx2(s, b, j0, j1);
    return 0;
}
#else
int mn_lstm_forward_avx2(const mn_cell_step *s, int b, int j0, int j1) {
    (void)s, (void)b, (void)j0, (void)j1;
    return 1;
}

int mn_gru_forward_avx2(const mn_cell_step *s, int b, int j0, int j1) {
    (void)s, (void)b, (void)j0, (void)j1;
    return 1;
}
#endif
