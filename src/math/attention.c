/* Tiled multi-head attention with an online softmax (see attention.h).
 *
 * Forward, for one (b, head, query tile Qi of BQ rows), over key tiles Kj of BK keys:
 *   Sᵀ = Kj·Qiᵀ/√dh (masked), m' = max(m, colmax Sᵀ), Pᵀ = exp(Sᵀ − m'),
 *   l = l·e^{m−m'} + colsum Pᵀ,  Oᵀ = Oᵀ·e^{m−m'} + Vjᵀ·Pᵀ;  at the end O = Oᵀᵀ/l,
 *   L = m + log l.
 * Backward (FlashAttention-2), per tile pair: P = exp(S − L), dVjᵀ += dOiᵀ·P,
 *   dP = dOi·Vjᵀ, dS = P∘(dP − Di) with Di = rowsum(dOi∘Oi), dKjᵀ += Qiᵀ·dS/√dh,
 *   dQi += dS·Kj/√dh.
 *
 * Speed: every operand that a tile product reads more than once is packed once per pass
 * (O(T·D) copies) in the GEMM's panel layouts, and S, P, dS are written by their product
 * straight into the packed B layout (mn_sgemm_prepacked_serial with ldc = NR), where the
 * next product reads them as they are: apart from dS for dQ, no tile is packed in the
 * O(T²·D) loops. Keys run along the rows of the forward's Sᵀ, so the online softmax's
 * per-query max and sum are elementwise over rows, with no horizontal reduction. */
#include "attention.h"
#include "fastmath.h"
#include "gemm.h"

#include <math.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

enum { BQ = MN_ATTN_BQ, BK = MN_ATTN_BK };
/* the panels of every kernel (MR 4, 6, 8; NR 8, 16, 32) start on tile boundaries */
_Static_assert(BQ % 96 == 0 && BK % 96 == 0, "attention tiles must be multiples of 96");

/* ------------------------------------------------------------ vector pieces
 * 8 lanes with GCC vector types, compiled once for AVX2 (chosen at run time, as the GEMM's
 * kernels are) and once for the baseline ISA. Without FMA contraction (-std=c11) both give
 * the same bits. Every row of a packed panel holds NR floats, a multiple of 8. */

/* The helpers below are always inlined, so no 32-byte vector ever crosses a call in the
 * baseline build: GCC's note about the AVX calling convention does not apply. */
#pragma GCC diagnostic ignored "-Wpsabi"
typedef float v8f __attribute__((vector_size(32)));
typedef int32_t v8i __attribute__((vector_size(32)));
#define AI static inline __attribute__((always_inline))

AI v8f ld8(const float *p) {
    v8f v;
    memcpy(&v, p, sizeof v);
    return v;
}
AI void st8(float *p, v8f v) { memcpy(p, &v, sizeof v); }
AI v8f sel8(v8i m, v8f a, v8f b) { return (v8f)((m & (v8i)a) | (~m & (v8i)b)); }
AI v8f splat(float x) { return (v8f){x, x, x, x, x, x, x, x}; }
AI v8f max8(v8f a, v8f b) { return sel8(a > b, a, b); }   /* NaN in a: b */

/* mn_fast_expf on 8 lanes, operation for operation, for the inputs the softmax has
 * (x <= 0 up to rounding: scores minus their max or log-sum-exp), except that inputs
 * below −87 give 0 (e^x < 1.7e-38 there, flushed anyway): a masked score of −inf gives
 * exactly 0, and no clamp is needed. NaN stays NaN. */
AI v8f exp8(v8f x) {
    v8f t = x * splat(1.44269504088896341f) + splat(12582912.0f);
    v8f n = t - splat(12582912.0f);
    v8f r = x - n * splat(0.693359375f);
    r = r - n * splat(-2.12194440e-4f);
    v8f r2 = r * r;
    v8f p = splat(1.9875691500e-4f);
    p = p * r + splat(1.3981999507e-3f);
    p = p * r + splat(8.3334519073e-3f);
    p = p * r + splat(4.1665795894e-2f);
    p = p * r + splat(1.6666665459e-1f);
    p = p * r + splat(5.0000001201e-1f);
    p = p * r2 + r + splat(1.0f);
    v8i bits = (__builtin_convertvector(n, v8i) + 127) << 23;
    return sel8(x < splat(-87.0f), splat(0.0f), p * (v8f)bits);
}

/* Forward, one key tile. S holds Sᵀ as np panels of nr queries, each [nk keys][nr]
 * (masked scores −inf). Updates each query's running max m and sum l, writes the factor
 * corr = e^{m_old − m} for O, and turns S into Pᵀ = exp(Sᵀ − m). NaN scores are skipped by
 * the max and make their query NaN through exp. */
AI void fwd_softmax_body(float *S, int nk, int np, int nr, float *m, float *l, float *corr) {
    for (int p = 0; p < np; p++)
        for (int x = 0; x < nr; x += 8) {
            float *s = S + (size_t)p * nk * nr + x;
            int r = p * nr + x;
            v8f mx0 = splat(-INFINITY), mx1 = mx0;
            int c = 0;
            for (; c + 1 < nk; c += 2) {
                mx0 = max8(ld8(s + (size_t)c * nr), mx0);
                mx1 = max8(ld8(s + (size_t)(c + 1) * nr), mx1);
            }
            if (c < nk) mx0 = max8(ld8(s + (size_t)c * nr), mx0);
            v8f mo = ld8(m + r), mn = max8(max8(mx1, mx0), mo);
            v8f cr = exp8(mo - mn);   /* 0 on the first tile (mo = −inf) */
            v8f acc0 = splat(0.0f), acc1 = acc0;
            for (c = 0; c + 1 < nk; c += 2) {
                v8f e0 = exp8(ld8(s + (size_t)c * nr) - mn);
                v8f e1 = exp8(ld8(s + (size_t)(c + 1) * nr) - mn);
                st8(s + (size_t)c * nr, e0);
                st8(s + (size_t)(c + 1) * nr, e1);
                acc0 += e0;
                acc1 += e1;
            }
            if (c < nk) {
                v8f e0 = exp8(ld8(s + (size_t)c * nr) - mn);
                st8(s + (size_t)c * nr, e0);
                acc0 += e0;
            }
            st8(corr + r, cr);
            st8(m + r, mn);
            st8(l + r, ld8(l + r) * cr + (acc0 + acc1));
        }
}

/* Oᵀ [dh][ld]: every row times corr, column by column */
AI void scale_cols_body(float *O, int dh, int n, size_t ld, const float *corr) {
    for (int d = 0; d < dh; d++)
        for (int r = 0; r < n; r += 8) st8(O + d * ld + r, ld8(O + d * ld + r) * ld8(corr + r));
}

/* Backward: P [np panels of nr keys][nq queries][nr]: P = exp(S − L[query]) in place */
AI void bwd_exp_body(float *P, int nq, int np, int nr, const float *L) {
    for (int p = 0; p < np; p++)
        for (int r = 0; r < nq; r++) {
            float *s = P + ((size_t)p * nq + r) * nr;
            v8f Lr = splat(L[r]);
            for (int x = 0; x < nr; x += 8) st8(s + x, exp8(ld8(s + x) - Lr));
        }
}

/* dS = P∘(dP − D[query]) in place of dP, and row-major into dSr [nq][ldr] */
AI void bwd_ds_body(float *dP, const float *P, int nq, int np, int nr, const float *D,
                    float *dSr, size_t ldr) {
    for (int p = 0; p < np; p++)
        for (int r = 0; r < nq; r++) {
            size_t o = ((size_t)p * nq + r) * nr;
            v8f Dr = splat(D[r]);
            for (int x = 0; x < nr; x += 8) {
                v8f v = ld8(P + o + x) * (ld8(dP + o + x) - Dr);
                st8(dP + o + x, v);
                st8(dSr + r * ldr + (size_t)p * nr + x, v);
            }
        }
}

typedef struct {
    void (*softmax)(float *S, int nk, int np, int nr, float *m, float *l, float *corr);
    void (*scale_cols)(float *O, int dh, int n, size_t ld, const float *corr);
    void (*exp)(float *P, int nq, int np, int nr, const float *L);
    void (*ds)(float *dP, const float *P, int nq, int np, int nr, const float *D, float *dSr,
               size_t ldr);
} tile_ops;

#define TILE_OPS(SUFFIX, ATTR)                                                                  \
    ATTR static void softmax_##SUFFIX(float *S, int nk, int np, int nr, float *m, float *l,     \
                                      float *corr) {                                           \
        fwd_softmax_body(S, nk, np, nr, m, l, corr);                                            \
    }                                                                                           \
    ATTR static void scale_cols_##SUFFIX(float *O, int dh, int n, size_t ld, const float *c) {  \
        scale_cols_body(O, dh, n, ld, c);                                                       \
    }                                                                                           \
    ATTR static void exp_##SUFFIX(float *P, int nq, int np, int nr, const float *L) {           \
        bwd_exp_body(P, nq, np, nr, L);                                                         \
    }                                                                                           \
    ATTR static void ds_##SUFFIX(float *dP, const float *P, int nq, int np, int nr,             \
                                 const float *D, float *dSr, size_t ldr) {                      \
        bwd_ds_body(dP, P, nq, np, nr, D, dSr, ldr);                                            \
    }

TILE_OPS(base, )
#if defined(__x86_64__) || defined(__i386__)
TILE_OPS(avx2, __attribute__((target("avx2"))))
static tile_ops pick_ops(void) {
    if (__builtin_cpu_supports("avx2"))
        return (tile_ops){softmax_avx2, scale_cols_avx2, exp_avx2, ds_avx2};
    return (tile_ops){softmax_base, scale_cols_base, exp_base, ds_base};
}
#else
static tile_ops pick_ops(void) {
    return (tile_ops){softmax_base, scale_cols_base, exp_base, ds_base};
}
#endif

/* ------------------------------------------------------------ layout and scratch */

typedef struct {
    const mn_attention_dims *a;
    const float *q, *k, *v, *o, *dout, *lse;
    float *out, *lse_out, *dq, *dk, *dv, *delta;
    size_t ld, ldk, ldo;     /* row strides of q (and dq), of k/v (and dk/dv), of o/dout */
    float scale;
    int mr, nr;              /* the GEMM kernel's panel sizes */
    float *buf[16];          /* per (b, h): buf[x] + bh·size[x] (see the enum below) */
    size_t size[16];
    float *scratch;          /* per thread: thread · per_thread */
    size_t per_thread;
    tile_ops ops;
} ctx;

/* What a pass packs per (b, h), and its layout:
 *   A-panels of rows = time, K = dh (panel stride dh·MR):      KA, QA, OA
 *   B-panels of Xᵀ [dh, T] (a tile from panel t0/NR on):       QT, KT, VT
 *   A-panels of rows = dh, K = time (panel stride T·MR):       VA, OTA, QTA
 *   B blocks [BK keys, dh], one per key tile:                  KB
 *   row-major [dh, T] accumulators:                            DKT, DVT */
enum { KA, QA, OA, QT, KT, VT, VA, OTA, QTA, KB, DKT, DVT, NBUF };

/* queries of sequence b; keys (all of them, and of sequence b) */
static int seq_len(const mn_attention_dims *a, int b) { return a->lengths ? a->lengths[b] : a->T; }
static int keys(const mn_attention_dims *a) { return a->Tk > 0 ? a->Tk : a->T; }
static int key_len(const mn_attention_dims *a, int b) {
    if (a->Tk <= 0) return seq_len(a, b);
    return a->key_lengths ? a->key_lengths[b] : a->Tk;
}

/* (t, b, head h) of a tensor with row stride ld; successive t are B·ld apart */
static inline size_t at(const mn_attention_dims *a, int t, int b, int h, size_t ld) {
    return ((size_t)t * a->B + b) * ld + (size_t)h * a->dh;
}
static inline size_t row_at(const mn_attention_dims *a, int b, int h, int t) {
    return ((size_t)b * a->H + h) * a->T + t;
}

static int team(void) { return MN_MAX(1, MN_MIN(mn_threads(), MN_GEMM_MAX_THREADS)); }
static int thread_id(void) {
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

static size_t round16(size_t n) { return (n + 15) / 16 * 16; }

/* Row stride of the [dh, T] accumulators: T padded off a power of two, so that the rows
 * of a C tile (MR of them, one stride apart) do not share a cache set. */
static size_t acc_ld(int T) { return round16((size_t)T) + 16; }

/* Floats of one key tile's packed block in KB. */
static size_t key_block(int dh) { return round16(mn_sgemm_serial_floats(BK, dh)); }

static void buffer_sizes(const mn_attention_dims *a, int backward, size_t size[NBUF]) {
    size_t T = (size_t)a->T, S = (size_t)keys(a), dh = (size_t)a->dh, mr = (size_t)mn_gemm_mr();
    /* by time: KA, QA, OA; by dh: VA, OTA, QTA; Xᵀ panels: QT, KT, VT (queries T, keys S) */
    size_t q_by_time = round16((T + mr - 1) / mr * mr * dh), k_by_time = round16((S + mr - 1) / mr * mr * dh);
    size_t q_by_dh = round16((dh + mr - 1) / mr * mr * T), k_by_dh = round16((dh + mr - 1) / mr * mr * S);
    size_t q_panels = round16(mn_sgemm_serial_floats(a->dh, (int)T));
    size_t k_panels = round16(mn_sgemm_serial_floats(a->dh, (int)S));
    memset(size, 0, NBUF * sizeof *size);
    if (!backward) {
        size[KA] = k_by_time;
        size[VA] = k_by_dh;
        size[QT] = q_panels;
        return;
    }
    size[QA] = size[OA] = q_by_time;
    size[KT] = size[VT] = k_panels;
    size[OTA] = size[QTA] = q_by_dh;
    size[KB] = (S + BK - 1) / BK * key_block(a->dh);
    size[DKT] = size[DVT] = dh * acc_ld((int)S);
}

static size_t per_thread(int dh, int backward) {
    if (backward) return 3 * round16((size_t)BQ * BK);          /* P, dS, dS row-major */
    return round16((size_t)BQ * BK) + round16((size_t)dh * BQ) + 3 * BQ;  /* S, Oᵀ, m l corr */
}

size_t mn_attention_scratch_floats(const mn_attention_dims *a, int backward) {
    size_t size[NBUF], n = (size_t)team() * per_thread(a->dh, backward);
    buffer_sizes(a, backward, size);
    for (int x = 0; x < NBUF; x++) n += size[x] * a->B * a->H;
    return n;
}

static void ctx_init(ctx *c, int backward, float *scratch) {
    const mn_attention_dims *a = c->a;
    buffer_sizes(a, backward, c->size);
    size_t BH = (size_t)a->B * a->H;
    for (int x = 0; x < NBUF; x++) {
        c->buf[x] = c->size[x] ? scratch : NULL;
        scratch += c->size[x] * BH;
    }
    c->scratch = scratch;
    c->per_thread = per_thread(a->dh, backward);
    c->mr = mn_gemm_mr();
    c->nr = mn_gemm_nr();
    c->scale = 1.0f / sqrtf((float)a->dh);
    c->ops = pick_ops();
}

static inline float *buf(const ctx *c, int x, int b, int h) {
    return c->buf[x] + ((size_t)b * c->a->H + h) * c->size[x];
}
/* rows [t0, t0 + n) of a by-time A (KA, QA, OA) */
static inline mn_packed_a view_rows(const ctx *c, int x, int b, int h, int t0, int n) {
    size_t st = (size_t)c->a->dh * c->mr;
    return (mn_packed_a){n, c->a->dh, c->mr, buf(c, x, b, h) + (size_t)(t0 / c->mr) * st, st};
}
/* columns [t0, t0 + n) of a by-dh A (VA over keys, OTA and QTA over queries) */
static inline mn_packed_a view_cols(const ctx *c, int x, int b, int h, int t0, int n) {
    int steps = x == VA ? keys(c->a) : c->a->T;
    return (mn_packed_a){c->a->dh, n, c->mr, buf(c, x, b, h) + (size_t)t0 * c->mr,
                         (size_t)steps * c->mr};
}
/* columns [t0, t0 + n) of Xᵀ packed as B (QT, KT, VT) */
static inline mn_packed view_t(const ctx *c, int x, int b, int h, int t0, int n) {
    return (mn_packed){.K = c->a->dh, .N = n, .nr = c->nr,
                       .data = buf(c, x, b, h) + (size_t)(t0 / c->nr) * c->a->dh * c->nr};
}
/* a tile's own product, packed as B in the buffer the previous product wrote */
static inline mn_packed view_tile(const ctx *c, const float *data, int K, int N) {
    return (mn_packed){.K = K, .N = N, .nr = c->nr, .data = (float *)data};
}

/* Packs what tile j (keys: key = 1, of BK; queries: key = 0, of BQ) of (b, h) contributes
 * to the pass's buffers, and zeroes its columns of the dKᵀ, dVᵀ accumulators. */
static void pack_tile(const ctx *c, int b, int h, int j, int key) {
    const mn_attention_dims *a = c->a;
    int len = key ? key_len(a, b) : seq_len(a, b), t0 = j * (key ? BK : BQ);
    int n = MN_MIN(key ? BK : BQ, len - t0), dh = a->dh;
    int rs = (int)((size_t)a->B * (key ? c->ldk : c->ld)), rso = (int)((size_t)a->B * c->ldo);
    size_t st_rows = (size_t)dh * c->mr, st_cols = (size_t)(key ? keys(a) : a->T) * c->mr;
    if (n <= 0) return;
    size_t rp = (size_t)(t0 / c->mr) * st_rows, cp = (size_t)t0 * c->mr;
    size_t tp = (size_t)(t0 / c->nr) * dh * c->nr;
    if (key) {
        const float *k = c->k + at(a, t0, b, h, c->ldk), *v = c->v + at(a, t0, b, h, c->ldk);
        if (c->buf[KA]) mn_pack_a_serial(buf(c, KA, b, h) + rp, st_rows, 0, n, dh, k, rs);
        if (c->buf[VA]) mn_pack_a_serial(buf(c, VA, b, h) + cp, st_cols, 1, dh, n, v, rs);
        if (c->buf[KT]) mn_pack_b_serial(buf(c, KT, b, h) + tp, 1, dh, n, k, rs);
        if (c->buf[VT]) mn_pack_b_serial(buf(c, VT, b, h) + tp, 1, dh, n, v, rs);
        if (c->buf[KB]) mn_pack_b_serial(buf(c, KB, b, h) + (size_t)j * key_block(dh), 0, n, dh, k, rs);
        for (int x = DKT; x <= DVT && c->buf[x]; x++)
            for (int d = 0; d < dh; d++)
                memset(buf(c, x, b, h) + (size_t)d * acc_ld(keys(a)) + t0, 0, (size_t)n * sizeof(float));
        return;
    }
    const float *q = c->q + at(a, t0, b, h, c->ld);
    if (c->buf[QT]) mn_pack_b_serial(buf(c, QT, b, h) + tp, 1, dh, n, q, rs);
    if (c->buf[QA]) mn_pack_a_serial(buf(c, QA, b, h) + rp, st_rows, 0, n, dh, q, rs);
    if (c->buf[QTA]) mn_pack_a_serial(buf(c, QTA, b, h) + cp, st_cols, 1, dh, n, q, rs);
    if (c->buf[OA]) {
        const float *g = c->dout + at(a, t0, b, h, c->ldo);
        mn_pack_a_serial(buf(c, OA, b, h) + rp, st_rows, 0, n, dh, g, rso);
        mn_pack_a_serial(buf(c, OTA, b, h) + cp, st_cols, 1, dh, n, g, rso);
    }
}

static void pack_all(const ctx *c) {
    const mn_attention_dims *a = c->a;
    int BH = a->B * a->H, kt = (keys(a) + BK - 1) / BK, qt = (a->T + BQ - 1) / BQ;
    long items = (long)BH * (kt + qt);
    #pragma omp parallel for schedule(static) if ((size_t)(a->T + keys(a)) * a->B * a->H * a->dh > 131072)
    for (long it = 0; it < items; it++) {
        int key = it < (long)BH * kt, j = (int)(key ? it / BH : (it - (long)BH * kt) / BH);
        int bh = (int)(it % BH);
        pack_tile(c, bh / a->H, bh % a->H, j, key);
    }
}

/* 1 when the n rows of dh values (rows `stride` apart) are all finite */
static int finite_rows(const float *x, int n, int dh, size_t stride) {
    int ok = 1;
    for (int r = 0; r < n; r++)
        for (int d = 0; d < dh; d++) ok &= x[(size_t)r * stride + d] - x[(size_t)r * stride + d] == 0.0f;
    return ok;
}

/* element (row, col) of a tile written in the packed B layout with `rows` rows */
static inline float *tile_at(float *t, int rows, int nr, int row, int col) {
    return t + ((size_t)(col / nr) * rows + row) * nr + col % nr;
}

/* Sets row `row` of a packed-B tile (rows × panels of nr) to v over columns [c0, c1). */
static void fill_row(float *t, int rows, int nr, int row, int c0, int c1, float v) {
    for (int p = c0 / nr; p * nr < c1; p++) {
        float *x = t + ((size_t)p * rows + row) * nr;
        for (int j = MN_MAX(c0 - p * nr, 0); j < MN_MIN(nr, c1 - p * nr); j++) x[j] = v;
    }
}

/* ------------------------------------------------------------ forward */

static void forward_tile(const ctx *c, int b, int h, int i0, float *ws) {
    const mn_attention_dims *a = c->a;
    int dh = a->dh, len = seq_len(a, b), nr = c->nr;
    int nq = MN_MIN(BQ, a->T - i0), nv = MN_MIN(nq, len - i0);
    size_t rsk = (size_t)a->B * c->ldk, rso = (size_t)a->B * c->ldo;
    float *o = c->out + at(a, i0, b, h, c->ldo), *lse = c->lse_out + row_at(a, b, h, i0);
    for (int r = MN_MAX(nv, 0); r < nq; r++) {   /* padded query rows */
        memset(o + r * rso, 0, (size_t)dh * sizeof(float));
        lse[r] = 0.0f;
    }
    if (nv <= 0) return;
    float *S = ws, *OT = S + round16((size_t)BQ * BK), *m = OT + round16((size_t)dh * BQ);
    float *l = m + BQ, *corr = l + BQ;
    int np = (nv + nr - 1) / nr, nw = np * nr;   /* query panels; the last may be partial */
    for (int r = 0; r < nw; r++) { m[r] = -INFINITY; l[r] = 0.0f; }
    memset(OT, 0, (size_t)dh * BQ * sizeof(float));
    mn_packed qt = view_t(c, QT, b, h, i0, nv);
    int kend = a->causal ? MN_MIN(len, i0 + nv) : key_len(a, b);
    for (int j0 = 0; j0 < kend; j0 += BK) {
        int nk = MN_MIN(BK, kend - j0), diag = a->causal && j0 + nk - 1 > i0;
        mn_packed_a ka = view_rows(c, KA, b, h, j0, nk);
        mn_sgemm_prepacked_serial(&ka, &qt, c->scale, 0.0f, S, nr, (size_t)nk * nr);   /* Sᵀ */
        if (diag)   /* key j0 + k is hidden from queries before it */
            for (int k = 0; k < nk; k++) fill_row(S, nk, nr, k, 0, MN_MIN(j0 + k - i0, nv), -INFINITY);
        c->ops.softmax(S, nk, np, nr, m, l, corr);
        if (j0 > 0) c->ops.scale_cols(OT, dh, nw, BQ, corr);
        const float *v = c->v + at(a, j0, b, h, c->ldk);
        if (diag && !finite_rows(v, nk, dh, rsk)) {
            /* only the unmasked pairs: a masked 0·NaN must not reach a query */
            for (int k = 0; k < nk; k++)
                for (int r = MN_MAX(j0 + k - i0, 0); r < nv; r++) {
                    float p = *tile_at(S, nk, nr, k, r);
                    for (int d = 0; d < dh; d++) OT[(size_t)d * BQ + r] += p * v[k * rsk + d];
                }
        } else {
            mn_packed_a va = view_cols(c, VA, b, h, j0, nk);
            mn_packed pt = view_tile(c, S, nk, nv);
            mn_sgemm_prepacked_serial(&va, &pt, 1.0f, 1.0f, OT, BQ, (size_t)nr);   /* Oᵀ += VᵀPᵀ */
        }
    }
    for (int r = 0; r < nv; r++) {
        float inv = 1.0f / l[r];
        for (int d = 0; d < dh; d++) o[r * rso + d] = OT[(size_t)d * BQ + r] * inv;
        lse[r] = m[r] + logf(l[r]);
    }
}

void mn_attention_forward(const mn_attention_dims *a, const float *q, const float *k,
                          const float *v, int ld, float *o, int ldo, float *lse,
                          float *scratch) {
    if (a->T <= 0 || a->B <= 0 || a->H <= 0) return;
    ctx c = {.a = a, .q = q, .k = k, .v = v, .out = o, .lse_out = lse, .ld = (size_t)ld,
             .ldk = (size_t)(a->ldk > 0 ? a->ldk : ld), .ldo = (size_t)ldo};
    ctx_init(&c, 0, scratch);
    pack_all(&c);
    int BH = a->B * a->H, tiles = (a->T + BQ - 1) / BQ;
    long items = (long)BH * tiles;
    int nt = (int)MN_MIN((long)team(), items);
    (void)nt;
    /* the last query tiles first: under a causal mask they are the longest */
    #pragma omp parallel for schedule(dynamic, 1) num_threads(nt) if (nt > 1)
    for (long it = 0; it < items; it++) {
        int i = tiles - 1 - (int)(it / BH), bh = (int)(it % BH);
        forward_tile(&c, bh / a->H, bh % a->H, i * BQ, c.scratch + (size_t)thread_id() * c.per_thread);
    }
}

/* ------------------------------------------------------------ backward */

enum { WANT_KV = 1, WANT_Q = 2 };

/* One (query tile, key tile) pair of (b, h): nq real query rows from i0, nk real keys
 * from j0. The same products in the same order whatever `want`, so dQ, dK and dV get the
 * same bits in the one-pass and two-pass schedules. */
static void backward_tile(const ctx *c, int b, int h, int i0, int nq, int j0, int nk, int want,
                          float *ws) {
    const mn_attention_dims *a = c->a;
    /* keys any query of the tile sees: on a causal diagonal the tile's last ones may be
     * hidden from all of them (only dQ's product keeps the whole packed tile, with zeros) */
    int ns = a->causal ? MN_MIN(nk, i0 + nq - j0) : nk;
    int dh = a->dh, nr = c->nr, diag = a->causal && j0 + ns - 1 > i0;
    size_t T = acc_ld(keys(a));   /* the accumulators' row stride */
    int np = (ns + nr - 1) / nr;   /* key panels */
    size_t rs = (size_t)a->B * c->ld, rsk = (size_t)a->B * c->ldk, rso = (size_t)a->B * c->ldo;
    float *P = ws, *dS = P + round16((size_t)BQ * BK), *dSr = dS + round16((size_t)BQ * BK);
    const float *lse = c->lse + row_at(a, b, h, i0), *D = c->delta + row_at(a, b, h, i0);
    const float *q = c->q + at(a, i0, b, h, c->ld), *dout = c->dout + at(a, i0, b, h, c->ldo);
    mn_packed_a qa = view_rows(c, QA, b, h, i0, nq), oa = view_rows(c, OA, b, h, i0, nq);
    mn_packed kt = view_t(c, KT, b, h, j0, ns), vt = view_t(c, VT, b, h, j0, ns);
    mn_sgemm_prepacked_serial(&qa, &kt, c->scale, 0.0f, P, nr, (size_t)nq * nr);    /* S */
    if (diag)   /* query i0 + r sees keys up to i0 + r */
        for (int r = 0; r < nq; r++) fill_row(P, nq, nr, r, MN_MAX(i0 + r - j0 + 1, 0), ns, -INFINITY);
    c->ops.exp(P, nq, np, nr, lse);
    mn_packed pp = view_tile(c, P, nq, ns);
    float *dvt = buf(c, DVT, b, h) + j0, *dkt = buf(c, DKT, b, h) + j0;
    if (want & WANT_KV) {    /* dVjᵀ += dOiᵀ·P */
        if (diag && !finite_rows(dout, nq, dh, rso)) {
            for (int r = 0; r < nq; r++)
                for (int k = 0; k <= MN_MIN(i0 + r - j0, nk - 1); k++)
                    for (int d = 0; d < dh; d++)
                        dvt[(size_t)d * T + k] += *tile_at(P, nq, nr, r, k) * dout[r * rso + d];
        } else {
            mn_packed_a ota = view_cols(c, OTA, b, h, i0, nq);
            mn_sgemm_prepacked_serial(&ota, &pp, 1.0f, 1.0f, dvt, (int)T, (size_t)nr);
        }
    }
    /* dP = dOi·Vjᵀ, then dS = P∘(dP − D) in place (masked pairs 0 even where dP is not
     * finite) and row-major for dQ */
    mn_sgemm_prepacked_serial(&oa, &vt, 1.0f, 0.0f, dS, nr, (size_t)nq * nr);
    c->ops.ds(dS, P, nq, np, nr, D, dSr, BK);
    if (diag || ns < nk)
        for (int r = 0; r < nq; r++) {
            int k0 = diag ? MN_MIN(MN_MAX(i0 + r - j0 + 1, 0), ns) : ns;
            fill_row(dS, nq, nr, r, k0, ns, 0.0f);
            memset(dSr + (size_t)r * BK + k0, 0, (size_t)(nk - k0) * sizeof(float));
        }
    if (want & WANT_KV) {    /* dKjᵀ += Qiᵀ·dS/√dh */
        if (diag && !finite_rows(q, nq, dh, rs)) {
            for (int r = 0; r < nq; r++)
                for (int k = 0; k <= MN_MIN(i0 + r - j0, nk - 1); k++)
                    for (int d = 0; d < dh; d++)
                        dkt[(size_t)d * T + k] += c->scale * *tile_at(dS, nq, nr, r, k) * q[r * rs + d];
        } else {
            mn_packed_a qta = view_cols(c, QTA, b, h, i0, nq);
            mn_packed ds = view_tile(c, dS, nq, ns);
            mn_sgemm_prepacked_serial(&qta, &ds, c->scale, 1.0f, dkt, (int)T, (size_t)nr);
        }
    }
    if (want & WANT_Q) {     /* dQi += dS·Kj/√dh */
        float *dq = c->dq + at(a, i0, b, h, c->ld);
        const float *k = c->k + at(a, j0, b, h, c->ldk);
        if (diag && !finite_rows(k, nk, dh, rsk)) {
            for (int r = 0; r < nq; r++)
                for (int kk = 0; kk <= MN_MIN(i0 + r - j0, nk - 1); kk++)
                    for (int d = 0; d < dh; d++)
                        dq[r * rs + d] += c->scale * dSr[(size_t)r * BK + kk] * k[kk * rsk + d];
        } else {
            mn_packed kb = view_tile(c, buf(c, KB, b, h) + (size_t)(j0 / BK) * key_block(dh), nk, dh);
            mn_sgemm_packed_serial(0, nq, c->scale, dSr, BK, &kb, 1.0f, dq, (int)rs);
        }
    }
}

/* Key tile j0 of (b, h) against every query tile that sees it, in ascending order; with
 * WANT_Q too, the one-pass schedule's inner loop. */
static void backward_keys(const ctx *c, int b, int h, int j0, int want, float *ws) {
    const mn_attention_dims *a = c->a;
    int len = seq_len(a, b), nk = MN_MIN(BK, key_len(a, b) - j0);
    for (int i0 = a->causal ? j0 / BQ * BQ : 0; i0 < len; i0 += BQ) {
        int nq = MN_MIN(BQ, len - i0);
        if (a->causal && j0 > i0 + nq - 1) continue;
        backward_tile(c, b, h, i0, nq, j0, nk, want, ws);
    }
}

/* Query tile i0 of (b, h) against every key tile it sees, in ascending order (dQ only). */
static void backward_queries(const ctx *c, int b, int h, int i0, float *ws) {
    const mn_attention_dims *a = c->a;
    int len = seq_len(a, b), nq = MN_MIN(BQ, len - i0), klen = key_len(a, b);
    for (int j0 = 0; j0 < klen && (!a->causal || j0 <= i0 + nq - 1); j0 += BK)
        backward_tile(c, b, h, i0, nq, j0, MN_MIN(BK, klen - j0), WANT_Q, ws);
}

void mn_attention_backward(const mn_attention_dims *a, const float *q, const float *k,
                           const float *v, int ld, const float *o, const float *dout, int ldo,
                           const float *lse, float *dq, float *dk, float *dv, float *delta,
                           float *scratch) {
    if (a->T <= 0 || a->B <= 0 || a->H <= 0) return;
    ctx c = {.a = a, .q = q, .k = k, .v = v, .o = o, .dout = dout, .lse = lse, .dq = dq,
             .dk = dk, .dv = dv, .delta = delta, .ld = (size_t)ld,
             .ldk = (size_t)(a->ldk > 0 ? a->ldk : ld), .ldo = (size_t)ldo};
    ctx_init(&c, 1, scratch);
    int H = a->H, T = a->T, dh = a->dh, BH = a->B * H, threads = team();
    size_t work = (size_t)T * a->B * H * dh;
    (void)work;   /* read by OpenMP only */
    /* D = rowsum(dO∘O) per head; 0 on padded query rows, which backward skips */
    #pragma omp parallel for schedule(static) if (work > 65536)
    for (int bh = 0; bh < BH; bh++) {
        int b = bh / H, h = bh % H, len = seq_len(a, b);
        for (int t = 0; t < T; t++) {
            float s = 0.0f;
            if (t < len) {
                const float *x = o + at(a, t, b, h, c.ldo), *g = dout + at(a, t, b, h, c.ldo);
                for (int d = 0; d < dh; d++) s += x[d] * g[d];
            }
            delta[row_at(a, b, h, t)] = s;
        }
    }
    pack_all(&c);
    int qt = (T + BQ - 1) / BQ, kt = (keys(a) + BK - 1) / BK;
    if (BH >= threads) {
        /* one pass: each (b, h) whole on one thread, key tiles outer, so dQ sums them in
         * ascending order */
        int nt = MN_MIN(threads, BH);
        (void)nt;
        #pragma omp parallel for schedule(dynamic, 1) num_threads(nt) if (nt > 1)
        for (int bh = 0; bh < BH; bh++) {
            float *ws = c.scratch + (size_t)thread_id() * c.per_thread;
            int b = bh / H, klen = key_len(a, b);
            for (int j0 = 0; j0 < klen; j0 += BK) backward_keys(&c, b, bh % H, j0, WANT_KV | WANT_Q, ws);
        }
    } else {
        /* fewer (b, h) than threads: key tiles in parallel for dK, dV, then query tiles
         * for dQ, recomputing S and dP (7 tile products per pair instead of 5) */
        long items = (long)BH * kt;
        int nt = (int)MN_MIN((long)threads, items);
        (void)nt;
        #pragma omp parallel for schedule(dynamic, 1) num_threads(nt) if (nt > 1)
        for (long it = 0; it < items; it++) {
            int j = (int)(it / BH), bh = (int)(it % BH), b = bh / H;
            if (j * BK < key_len(a, b))
                backward_keys(&c, b, bh % H, j * BK, WANT_KV, c.scratch + (size_t)thread_id() * c.per_thread);
        }
        items = (long)BH * qt;
        nt = (int)MN_MIN((long)threads, items);
        #pragma omp parallel for schedule(dynamic, 1) num_threads(nt) if (nt > 1)
        for (long it = 0; it < items; it++) {
            int i = qt - 1 - (int)(it / BH), bh = (int)(it % BH), b = bh / H;
            if (i * BQ < seq_len(a, b))
                backward_queries(&c, b, bh % H, i * BQ, c.scratch + (size_t)thread_id() * c.per_thread);
        }
    }
    /* dK, dV += the transposed accumulators */
    #pragma omp parallel for schedule(static) if (work > 65536)
    for (int bh = 0; bh < BH; bh++) {
        int b = bh / H, h = bh % H, len = key_len(a, b);
        const float *gk = buf(&c, DKT, b, h), *gv = buf(&c, DVT, b, h);
        for (int t = 0; t < len; t++) {
            float *xk = dk + at(a, t, b, h, c.ldk), *xv = dv + at(a, t, b, h, c.ldk);
            for (int d = 0; d < dh; d++) {
                xk[d] += gk[(size_t)d * acc_ld(keys(a)) + t];
                xv[d] += gv[(size_t)d * acc_ld(keys(a)) + t];
            }
        }
    }
}
