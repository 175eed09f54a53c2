/* Layer-normalized LSTM and GRU over whole sequences (formulas and names in lncell.h).
 *
 * forward:  XN[T·B, GH] = LN-normalize(X·W_ihᵀ)          one GEMM and one pass before the loop
 *           for t: REC[B, GH] = h_{t-1}·W_hhᵀ             one GEMM per step
 *                  per row: HN_t = LN-normalize(REC), gates, c_t (and its LN), h_t
 * backward: for t = T-1..0, per row: ∂L/∂h_t (and c_t) → DP_t (∂L/∂ pre-activations on the
 *           input and bias side), DPH_t (recurrent side, after its LN's affine) and
 *           DGH_t = ∂L/∂(W_hh·h_{t-1}) through that LN; dh_{t-1} = direct + DGH_t·W_hh.
 *           Then the LN affines' and b's gradients as sums over all rows, DP → ∂L/∂(W_ih·x)
 *           through the input LN, and dW_ih, dW_hh, dX as GEMMs over all steps.
 * The LayerNorms keep only the normalized vector and 1/σ of each row (before γ, β):
 * their backward is ∂v = (ĝ − mean ĝ − v̂·mean(ĝ⊙v̂))/σ with ĝ = γ⊙∂out.
 *
 * Rows never interact, so each step's rows run in parallel when the batch is large; the
 * sums over rows go in row order, so results do not depend on the thread count. */
/* fastmath.h's selects are compares: without no-trapping-math GCC leaves the loops that
 * use them scalar (see cell.c); no result changes. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")
#endif
#include "lncell.h"
#include "registry.h"
#include "fastmath.h"
#include "gemm.h"
#include "init.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define sigmoid mn_fast_sigmoid
#define tanh_ mn_fast_tanhf

typedef struct {
    mn_layer base;
    int lstm;                /* 1: LN-LSTM [i,f,g,o]; 0: LN-GRU [r,z,n] */
    int H, GH;
    size_t o_wih, o_whh, o_b, o_gx, o_bx, o_gh, o_bh, o_gc, o_bc;

    /* forward workspace, for cap_rows = T·B rows and cap_B sequences */
    size_t cap_rows, cap_B;
    void *ws;
    size_t ws_bytes;
    float *xn;               /* [T,B,GH] W_ih·x, normalized */
    float *hn;               /* [T,B,GH] W_hh·h_{t-1}, normalized */
    float *act;              /* [T,B,GH] activated gates */
    float *cn;               /* [T,B,H]  LSTM: c_t normalized */
    float *rs_x, *rs_h, *rs_c; /* [T·B] 1/σ of each row of xn, hn, cn */
    float *hs, *cs;          /* [T+1,B,H] states; row 0 the initial state */
    float *rec;              /* [B,GH] one step's recurrent product */
    float *dh, *dc;          /* [B,H] running gradients */
    float *vjp;              /* step_vjp's row: dp, dph, dgh [GH] each, dhc, dh, dc [H] */
    /* backward's own: [T,B,GH] dp, dph (== dp for LSTM), dgh; LSTM [T,B,H] dhc
     * (∂L/∂ LN(c)'s output) */
    void *gws;
    size_t gws_bytes;
    float *dp, *dph, *dgh, *dhc;
    const float *x;          /* input of the last forward (owned by the caller) */

    float *h0, *c0;          /* initial state for the next forward, when carry is set */
    size_t state_cap;
    int carry, state_B, last_T, last_B;

    double *probe_rows;      /* [2][T,B] per-row probe values while a recorder is on */
    size_t probe_cap;
} lncell;

/* ------------------------------------------------------------- LayerNorm */

/* out = (v − mean v)/√(var v + eps); returns 1/√(var v + eps). Sums in double: the
 * variance of a row with a large mean would otherwise lose its digits. */
static float ln_normalize(const float *v, float *out, int n) {
    double sum = 0, sq = 0;
    for (int j = 0; j < n; j++) sum += v[j];
    double mean = sum / n;
    for (int j = 0; j < n; j++) sq += (v[j] - mean) * (v[j] - mean);
    double r = 1.0 / sqrt(sq / n + MN_LN_EPS);
    for (int j = 0; j < n; j++) out[j] = (float)((v[j] - mean) * r);
    return (float)r;
}

/* g = ∂L/∂v̂ (the normalized v), in place → ∂L/∂v. */
static void ln_backward(float *g, const float *vh, float rs, int n) {
    double m1 = 0, m2 = 0;
    for (int j = 0; j < n; j++) {
        m1 += g[j];
        m2 += (double)g[j] * vh[j];
    }
    m1 /= n;
    m2 /= n;
    for (int j = 0; j < n; j++) g[j] = (float)(rs * (g[j] - m1 - vh[j] * m2));
}

/* out[c] += Σ_r a[r,c]·b[r,c], rows in order (as mn_column_sums). */
static void product_sums(const float *a, const float *b, int rows, int cols, float *out) {
    enum { BLOCK = 64 };
    int blocks = (cols + BLOCK - 1) / BLOCK;
    #pragma omp parallel for schedule(static) if ((size_t)rows * cols > 65536)
    for (int bk = 0; bk < blocks; bk++) {
        int c0 = bk * BLOCK, w = MN_MIN(BLOCK, cols - c0);
        float s[BLOCK] = {0};
        for (int r = 0; r < rows; r++) {
            size_t o = (size_t)r * cols + c0;
            for (int c = 0; c < w; c++) s[c] += a[o + c] * b[o + c];
        }
        for (int c = 0; c < w; c++) out[c0 + c] += s[c];
    }
}

static double norm2(const float *v, int n) {
    double s = 0;
    for (int i = 0; i < n; i++) s += (double)v[i] * v[i];
    return sqrt(s);
}

/* ------------------------------------------------------------- workspace */

/* Floats of the forward workspace (rows of T·B, cb sequences) and of backward's: read by
 * reserve, reserve_grads and the memory plan. */
static size_t forward_floats(int lstm, size_t H, size_t GH, size_t rows, size_t cb) {
    size_t states = (rows + cb) * H;
    return 3 * rows * GH                           /* xn, hn, act */
         + (lstm ? rows * H : 0)                   /* cn */
         + 3 * rows                                /* rs_x, rs_h, rs_c */
         + states * (lstm ? 2 : 1)                 /* hs, cs */
         + cb * GH + 2 * cb * H                    /* rec, dh, dc */
         + 3 * GH + 3 * H;                         /* vjp */
}

static size_t backward_floats(int lstm, size_t H, size_t GH, size_t rows) {
    return rows * GH * (lstm ? 2 : 3) + (lstm ? rows * H : 0);   /* dp, dph, dgh, dhc */
}

static mn_status reserve(lncell *s, int T, int B) {
    size_t rows = (size_t)T * B;
    if (rows <= s->cap_rows && (size_t)B <= s->cap_B && s->ws) return MN_OK;
    rows = MN_MAX(rows, s->cap_rows);
    size_t cb = MN_MAX((size_t)B, s->cap_B);
    size_t H = (size_t)s->H, GH = (size_t)s->GH;
    size_t states = (rows + cb) * H;
    size_t floats = forward_floats(s->lstm, H, GH, rows, cb);
    size_t bytes;
    if (!mn_mul_size(floats, sizeof(float), &bytes))
        return mn_fail(MN_E_NOMEM, "layer-normalized recurrent workspace for %zu rows "
                       "overflows", rows);
    if (mn_reserve(&s->ws, &s->ws_bytes, bytes) != MN_OK) return MN_E_NOMEM;
    float *p = s->ws;
    s->xn = p; p += rows * GH;
    s->hn = p; p += rows * GH;
    s->act = p; p += rows * GH;
    s->cn = NULL;
    if (s->lstm) { s->cn = p; p += rows * H; }
    s->rs_x = p; p += rows;
    s->rs_h = p; p += rows;
    s->rs_c = p; p += rows;
    s->hs = p; p += states;
    s->cs = NULL;
    if (s->lstm) { s->cs = p; p += states; }
    s->rec = p; p += cb * GH;
    s->dh = p; p += cb * H;
    s->dc = p; p += cb * H;
    s->vjp = p;
    s->cap_rows = rows;
    s->cap_B = cb;
    return MN_OK;
}

static mn_status reserve_grads(lncell *s, int T, int B) {
    size_t rows = (size_t)T * B, GH = (size_t)s->GH, H = (size_t)s->H, bytes;
    size_t floats = backward_floats(s->lstm, H, GH, rows);
    if (!mn_mul_size(floats, sizeof(float), &bytes))
        return mn_fail(MN_E_NOMEM, "layer-normalized recurrent gradients for %zu rows "
                       "overflow", rows);
    if (mn_reserve(&s->gws, &s->gws_bytes, bytes) != MN_OK) return MN_E_NOMEM;
    float *p = s->gws;
    s->dp = p; p += rows * GH;
    s->dph = s->dp;
    if (!s->lstm) { s->dph = p; p += rows * GH; }
    s->dgh = p; p += rows * GH;
    s->dhc = s->lstm ? p : NULL;
    return MN_OK;
}

/* --------------------------------------------------------------- forward */

/* Row b of step t; hn is already normalized. */
static void lstm_row(lncell *s, int t, int b) {
    int H = s->H, GH = s->GH, B = s->last_B;
    size_t r = (size_t)t * B + b;
    const float *P = s->base.params, *gx = P + s->o_gx, *bx = P + s->o_bx, *gh = P + s->o_gh,
                *bh = P + s->o_bh, *bias = P + s->o_b, *gc = P + s->o_gc, *bc = P + s->o_bc;
    const float *xn = s->xn + r * GH, *hn = s->hn + r * GH, *cp = s->cs + r * H;
    float *a = s->act + r * GH, *c = s->cs + (r + B) * H, *h = s->hs + (r + B) * H;
    float *cn = s->cn + r * H;
    for (int j = 0; j < GH; j++) a[j] = gx[j] * xn[j] + bx[j] + gh[j] * hn[j] + bh[j] + bias[j];
    for (int j = 0; j < H; j++) {
        float i = sigmoid(a[j]), f = sigmoid(a[H + j]), g = tanh_(a[2 * H + j]);
        a[j] = i;
        a[H + j] = f;
        a[2 * H + j] = g;
        a[3 * H + j] = sigmoid(a[3 * H + j]);
        c[j] = f * cp[j] + i * g;
    }
    s->rs_c[r] = ln_normalize(c, cn, H);
    for (int j = 0; j < H; j++) h[j] = a[3 * H + j] * tanh_(gc[j] * cn[j] + bc[j]);
}

static void gru_row(lncell *s, int t, int b) {
    int H = s->H, GH = s->GH, B = s->last_B;
    size_t r = (size_t)t * B + b;
    const float *P = s->base.params, *gx = P + s->o_gx, *bx = P + s->o_bx, *gh = P + s->o_gh,
                *bh = P + s->o_bh, *bias = P + s->o_b;
    const float *xn = s->xn + r * GH, *hn = s->hn + r * GH, *hp = s->hs + r * H;
    float *a = s->act + r * GH, *h = s->hs + (r + B) * H;
    for (int j = 0; j < H; j++) {
        int k = H + j, n = 2 * H + j;
        float rr = sigmoid(gx[j] * xn[j] + bx[j] + gh[j] * hn[j] + bh[j] + bias[j]);
        float z = sigmoid(gx[k] * xn[k] + bx[k] + gh[k] * hn[k] + bh[k] + bias[k]);
        float Rn = gh[n] * hn[n] + bh[n];
        float nn = tanh_(gx[n] * xn[n] + bx[n] + bias[n] + rr * Rn);
        a[j] = rr;
        a[k] = z;
        a[n] = nn;
        h[j] = (1.0f - z) * nn + z * hp[j];
    }
}

static void forward_row(lncell *s, int t, int b, const int32_t *lengths, float *y) {
    int H = s->H, GH = s->GH, B = s->last_B;
    size_t r = (size_t)t * B + b;
    float *h = s->hs + (r + B) * H, *yt = y + r * H;
    if (!lengths || t < lengths[b]) {
        s->rs_h[r] = ln_normalize(s->rec + (size_t)b * GH, s->hn + r * GH, GH);
        if (s->lstm) lstm_row(s, t, b);
        else gru_row(s, t, b);
        memcpy(yt, h, (size_t)H * sizeof(float));
    } else { /* padding: carry the state, output zero; backward's sums read hn and cn
              * (times a zero gradient), so they must hold numbers */
        memcpy(h, h - (size_t)B * H, (size_t)H * sizeof(float));
        memset(s->hn + r * GH, 0, (size_t)GH * sizeof(float));
        memset(s->act + r * GH, 0, (size_t)GH * sizeof(float));
        s->rs_h[r] = 0.0f;
        if (s->lstm) {
            float *c = s->cs + (r + B) * H;
            memcpy(c, c - (size_t)B * H, (size_t)H * sizeof(float));
            memset(s->cn + r * H, 0, (size_t)H * sizeof(float));
            s->rs_c[r] = 0.0f;
        }
        memset(yt, 0, (size_t)H * sizeof(float));
    }
}

/* read only by OpenMP's if clauses: unused in a build without OpenMP */
__attribute__((unused)) static int parallel_rows(int B, int H) { return (size_t)B * H >= 8192; }

static mn_status lncell_forward(mn_layer *l, const float *x, float *y, int T, int B,
                                const int32_t *lengths) {
    lncell *s = (lncell *)l;
    int H = s->H, GH = s->GH, I = l->in_size, rows = T * B;
    size_t BH = (size_t)B * H;
    if (reserve(s, T, B) != MN_OK) return MN_E_NOMEM;
    const float *W_ih = l->params + s->o_wih, *W_hh = l->params + s->o_whh;
    s->last_T = T;
    s->last_B = B;

    int carry = s->carry && s->state_B == B;
    if (carry) memcpy(s->hs, s->h0, BH * sizeof(float));
    else memset(s->hs, 0, BH * sizeof(float));
    if (s->cs) {
        if (carry) memcpy(s->cs, s->c0, BH * sizeof(float));
        else memset(s->cs, 0, BH * sizeof(float));
    }

    /* XN = LN(X·W_ihᵀ) for every row at once, padding included (it gets no gradient) */
    mn_sgemm(0, 1, rows, GH, I, 1.0f, x, I, W_ih, I, 0.0f, s->xn, GH);
    #pragma omp parallel for schedule(static) if (parallel_rows(rows, GH))
    for (int r = 0; r < rows; r++) {
        float *v = s->xn + (size_t)r * GH;
        s->rs_x[r] = ln_normalize(v, v, GH);
    }

    for (int t = 0; t < T; t++) {
        mn_sgemm(0, 1, B, GH, H, 1.0f, s->hs + (size_t)t * BH, H, W_hh, H, 0.0f, s->rec, GH);
        #pragma omp parallel for schedule(static) if (parallel_rows(B, GH))
        for (int b = 0; b < B; b++) forward_row(s, t, b, lengths, y);
    }
    s->x = x;
    return MN_OK;
}

/* -------------------------------------------------------------- backward */

/* Step t of row b, given dh = ∂L/∂h_t and (LSTM) dc = the part of ∂L/∂c_t that comes
 * from c_{t+1}. Writes dp, dph, dgh (and dhc) for the row; leaves in dh the part of
 * ∂L/∂h_{t-1} that does not go through W_hh and in dc ∂L/∂c_{t-1}. Returns ‖∂L/∂c_t‖
 * (LSTM; 0 for GRU). */
static double backward_row(const lncell *s, int t, int b, float *dh, float *dc, float *dp,
                           float *dph, float *dgh, float *dhc) {
    int H = s->H, GH = s->GH, B = s->last_B;
    size_t r = (size_t)t * B + b;
    const float *P = s->base.params, *gh = P + s->o_gh, *bh = P + s->o_bh;
    const float *a = s->act + r * GH, *hn = s->hn + r * GH;
    double dc_norm = 0;
    if (s->lstm) {
        const float *gc = P + s->o_gc, *bc = P + s->o_bc, *cn = s->cn + r * H;
        const float *cp = s->cs + r * H;
        for (int j = 0; j < H; j++) {
            float o = a[3 * H + j], th = tanh_(gc[j] * cn[j] + bc[j]);
            dhc[j] = dh[j] * o * (1.0f - th * th);
            dp[3 * H + j] = dh[j] * th * o * (1.0f - o);
            dh[j] = dhc[j] * gc[j];           /* dh is free now: ∂L/∂ĉ, then ∂L/∂c */
        }
        ln_backward(dh, cn, s->rs_c[r], H);
        for (int j = 0; j < H; j++) {
            float i = a[j], f = a[H + j], g = a[2 * H + j];
            float d = dc[j] + dh[j];
            dc_norm += (double)d * d;
            dp[j] = d * g * i * (1.0f - i);
            dp[H + j] = d * cp[j] * f * (1.0f - f);
            dp[2 * H + j] = d * i * (1.0f - g * g);
            dc[j] = d * f;
            dh[j] = 0.0f;
        }
    } else {
        const float *hp = s->hs + r * H;
        for (int j = 0; j < H; j++) {
            int k = H + j, n = 2 * H + j;
            float rr = a[j], z = a[k], nn = a[n], d = dh[j];
            float Rn = gh[n] * hn[n] + bh[n];
            float dn = d * (1.0f - z) * (1.0f - nn * nn);
            float dz = d * (hp[j] - nn) * z * (1.0f - z);
            float dr = dn * Rn * rr * (1.0f - rr);
            dp[j] = dr; dp[k] = dz; dp[n] = dn;
            dph[j] = dr; dph[k] = dz; dph[n] = dn * rr;
            dh[j] = d * z;
        }
    }
    /* through the recurrent LN: ∂L/∂(W_hh·h_{t-1}) */
    for (int j = 0; j < GH; j++) dgh[j] = dph[j] * gh[j];
    ln_backward(dgh, hn, s->rs_h[r], GH);
    return sqrt(dc_norm);
}

static void add_probe(double *probe, const double *rows, int T, int B) {
    for (int t = 0; t < T; t++) {
        double sum = 0;
        for (int b = 0; b < B; b++) sum += rows[(size_t)t * B + b];
        probe[t] += sum / B;
    }
}

static mn_status lncell_backward(mn_layer *l, const float *dy, float *dx, int T, int B,
                                 const int32_t *lengths) {
    lncell *s = (lncell *)l;
    int H = s->H, GH = s->GH, I = l->in_size, rows = T * B;
    size_t BH = (size_t)B * H;
    if (T != s->last_T || B != s->last_B)
        return mn_fail(MN_E_STATE, "layer-normalized recurrent backward called with T=%d B=%d "
                       "after a forward with T=%d B=%d", T, B, s->last_T, s->last_B);
    if (reserve_grads(s, T, B) != MN_OK) return MN_E_NOMEM;
    double *pdh = NULL, *pdc = NULL;
    if (l->probe_dh || (l->probe_dc && s->lstm)) {
        size_t n = (size_t)rows;
        if (mn_reserve((void **)&s->probe_rows, &s->probe_cap, 2 * n * sizeof(double)) != MN_OK)
            return MN_E_NOMEM;
        pdh = l->probe_dh ? s->probe_rows : NULL;
        pdc = l->probe_dc && s->lstm ? s->probe_rows + n : NULL;
    }
    const float *W_ih = l->params + s->o_wih, *W_hh = l->params + s->o_whh;

    /* no gradient reaches the final state: the loss reads only the outputs */
    memset(s->dh, 0, BH * sizeof(float));
    if (s->lstm) memset(s->dc, 0, BH * sizeof(float));
    for (int t = T - 1; t >= 0; t--) {
        #pragma omp parallel for schedule(static) if (parallel_rows(B, GH))
        for (int b = 0; b < B; b++) {
            size_t r = (size_t)t * B + b, o = (size_t)b * H;
            float *dh = s->dh + o, *dc = s->dc + o;
            float *dp = s->dp + r * GH, *dph = s->dph + r * GH, *dgh = s->dgh + r * GH;
            float *dhc = s->lstm ? s->dhc + r * H : NULL;
            if (!lengths || t < lengths[b]) {
                for (int j = 0; j < H; j++) dh[j] += dy[r * H + j];
                if (pdh) pdh[r] = norm2(dh, H);
                double n = backward_row(s, t, b, dh, dc, dp, dph, dgh, dhc);
                if (pdc) pdc[r] = n;
            } else { /* padding: the state was copied, so its gradient passes through */
                if (pdh) pdh[r] = norm2(dh, H);
                if (pdc) pdc[r] = norm2(dc, H);
                memset(dp, 0, (size_t)GH * sizeof(float));
                if (dph != dp) memset(dph, 0, (size_t)GH * sizeof(float));
                memset(dgh, 0, (size_t)GH * sizeof(float));
                if (dhc) memset(dhc, 0, (size_t)H * sizeof(float));
            }
        }
        /* dh_{t-1} = direct part + DGH_t·W_hh */
        mn_sgemm(0, 0, B, H, GH, 1.0f, s->dgh + (size_t)t * B * GH, GH, W_hh, H, 1.0f,
                 s->dh, H);
    }
    if (pdh) add_probe(l->probe_dh, pdh, T, B);
    if (pdc) add_probe(l->probe_dc, pdc, T, B);

    float *g = l->grads;
    mn_column_sums(s->dp, rows, GH, g + s->o_b);
    mn_column_sums(s->dp, rows, GH, g + s->o_bx);
    product_sums(s->dp, s->xn, rows, GH, g + s->o_gx);
    mn_column_sums(s->dph, rows, GH, g + s->o_bh);
    product_sums(s->dph, s->hn, rows, GH, g + s->o_gh);
    if (s->lstm) {
        mn_column_sums(s->dhc, rows, H, g + s->o_bc);
        product_sums(s->dhc, s->cn, rows, H, g + s->o_gc);
    }
    /* DP → ∂L/∂(W_ih·x) through the input LN, in place (dph, read above, may be dp) */
    const float *gx = l->params + s->o_gx;
    #pragma omp parallel for schedule(static) if (parallel_rows(rows, GH))
    for (int r = 0; r < rows; r++) {
        float *d = s->dp + (size_t)r * GH;
        for (int j = 0; j < GH; j++) d[j] *= gx[j];
        ln_backward(d, s->xn + (size_t)r * GH, s->rs_x[r], GH);
    }
    mn_sgemm(1, 0, GH, I, rows, 1.0f, s->dp, GH, s->x, I, 1.0f, g + s->o_wih, I);
    mn_sgemm(1, 0, GH, H, rows, 1.0f, s->dgh, GH, s->hs, H, 1.0f, g + s->o_whh, H);
    if (dx) mn_sgemm(0, 0, rows, I, GH, 1.0f, s->dp, GH, W_ih, I, 1.0f, dx, I);
    return MN_OK;
}

/* ----------------------------------------------------------------- state */

static void lncell_reset(mn_layer *l) { ((lncell *)l)->carry = 0; }

static mn_status lncell_carry(mn_layer *l) {
    lncell *s = (lncell *)l;
    if (!s->last_B) return MN_OK;
    mn_status st = mn_recurrence_carry(s->hs, s->cs, s->last_T, s->last_B, s->H, s->H, &s->h0,
                                       &s->c0, &s->state_cap);
    if (st) return st;
    s->state_B = s->last_B;
    s->carry = 1;
    return MN_OK;
}

static int lncell_state(mn_layer *l, mn_state_view v[2]) {
    lncell *s = (lncell *)l;
    return mn_recurrence_view(s->hs, s->cs, s->last_T, s->last_B, s->H, s->H, v);
}

static size_t lncell_bytes(const mn_layer *l) {
    const lncell *s = (const lncell *)l;
    return s->ws_bytes + s->gws_bytes + s->state_cap + s->probe_cap;
}

static void lncell_destroy(mn_layer *l) {
    lncell *s = (lncell *)l;
    mn_release(s->ws);
    mn_release(s->gws);
    mn_release(s->h0);
    mn_release(s->probe_rows);
    mn_release(s);
}

/* ------------------------------------------------------------------ init */

/* Weights and b as recurrent.c (U(±1/√H), W_hh per gate block orthogonal or identity on
 * request, forget bias and chrono on b), LayerNorm γ = 1, β = 0 as nn.LayerNorm. */
static void lncell_init(mn_layer *l, mn_rng *rng, const mn_init_config *cfg) {
    lncell *s = (lncell *)l;
    int H = s->H, G = s->GH / H;
    float *p = l->params, bound = 1.0f / sqrtf((float)H);
    mn_init_uniform(p + s->o_wih, (size_t)s->GH * l->in_size, bound, rng);
    mn_init_uniform(p + s->o_whh, (size_t)s->GH * H, bound, rng);
    mn_init_uniform(p + s->o_b, (size_t)s->GH, bound, rng);
    float gain = cfg->gain > 0 ? cfg->gain : 1.0f;
    for (int g = 0; g < G; g++) {
        float *block = p + s->o_whh + (size_t)g * H * H;
        if (cfg->recurrent_init == MN_INIT_ORTHOGONAL) mn_init_orthogonal(block, H, H, gain, rng);
        else if (cfg->recurrent_init == MN_INIT_IDENTITY) mn_init_identity(block, H, gain);
    }
    float *b = p + s->o_b;
    if (cfg->recurrent_init == MN_INIT_IDENTITY) memset(b, 0, (size_t)s->GH * sizeof(float));
    for (int j = 0; j < s->GH; j++) {
        p[s->o_gx + j] = p[s->o_gh + j] = 1.0f;
        p[s->o_bx + j] = p[s->o_bh + j] = 0.0f;
    }
    if (s->lstm)
        for (int j = 0; j < H; j++) {
            p[s->o_gc + j] = 1.0f;
            p[s->o_bc + j] = 0.0f;
            b[H + j] = cfg->forget_bias;
        }
    if (cfg->chrono_tmax > 1) /* (Tallec & Ollivier 2018): keep gate (LSTM f, GRU z) */
        for (int j = 0; j < H; j++) {
            float bf = logf(mn_rng_uniform_range(rng, 1.0f, (float)(cfg->chrono_tmax - 1)));
            b[H + j] = bf;
            if (s->lstm) b[j] = -bf;
        }
}

/* ----------------------------------------------------------- diagnostics */

static int lncell_inspect(mn_layer *l, mn_recurrent_view *v) {
    lncell *s = (lncell *)l;
    if (!s->last_T) return 0;
    *v = (mn_recurrent_view){
        .gates = s->GH / s->H, .H = s->H, .P = s->H, .T = s->last_T, .B = s->last_B,
        .keep_gate = 1, .tanh_gate = 2, .candidate_block = 2,
        .sigmoid_gates = s->lstm ? 0xBu : 0x3u, .state_size = s->lstm ? 2 * s->H : s->H,
        .act = s->act, .hs = s->hs, .cs = s->cs, .W_hh = l->params + s->o_whh,
    };
    return 1;
}

/* One step's transposed Jacobian: the row backward on one-row scratch, plus dgh·W_hh. */
static void lncell_step_vjp(mn_layer *l, int t, int b, float *u_h, float *u_c) {
    lncell *s = (lncell *)l;
    int H = s->H, GH = s->GH;
    float *dp = s->vjp, *dph = s->lstm ? dp : dp + GH, *dgh = dp + 2 * GH;
    float *dhc = dgh + GH, *dh = dhc + H, *dc = dh + H;
    memcpy(dh, u_h, (size_t)H * sizeof(float));
    if (s->lstm) memcpy(dc, u_c, (size_t)H * sizeof(float));
    backward_row(s, t, b, dh, dc, dp, dph, dgh, dhc);
    const float *W = l->params + s->o_whh;
    for (int j = 0; j < H; j++) u_h[j] = dh[j];
    for (int g = 0; g < GH; g++) {           /* u_h += dghᵀ·W_hh, W_hh is [GH, H] */
        const float *w = W + (size_t)g * H;
        for (int j = 0; j < H; j++) u_h[j] += dgh[g] * w[j];
    }
    if (s->lstm) memcpy(u_c, dc, (size_t)H * sizeof(float));
}

static const mn_layer_ops lncell_ops = {
    .kind = "lncell",
    .init = lncell_init,
    .forward = lncell_forward,
    .backward = lncell_backward,
    .reset_state = lncell_reset,
    .carry_state = lncell_carry,
    .state = lncell_state,
    .activation_bytes = lncell_bytes,
    .destroy = lncell_destroy,
    .inspect = lncell_inspect,
    .step_vjp = lncell_step_vjp,
    .step = mn_step_by_carry,
};

static size_t add(mn_layer *l, const char *base, const char *suffix, const char *leaf,
                  int ndim, const int *shape) {
    char name[MN_NAME_MAX];
    snprintf(name, sizeof name, "%s%s%s", base, suffix, leaf);
    return mn_layer_add_param(l, name, ndim, shape);
}

mn_layer *mn_lncell_create(mn_cell_kind cell, int in, int hidden, const char *suffix) {
    if (cell != MN_LSTM && cell != MN_GRU) {
        mn_fail(MN_E_ARG, "layer normalization is implemented for the lstm and gru cells, "
                "not cell kind %d", (int)cell);
        return NULL;
    }
    lncell *s = mn_alloc_zero(sizeof *s);
    if (!s) return NULL;
    mn_layer *l = &s->base;
    l->ops = &lncell_ops;
    l->in_size = in;
    l->out_size = hidden;
    s->lstm = cell == MN_LSTM;
    s->H = hidden;
    s->GH = (s->lstm ? 4 : 3) * hidden;
    s->o_wih = add(l, "weight_ih", suffix, "", 2, (int[]){s->GH, in});
    s->o_whh = add(l, "weight_hh", suffix, "", 2, (int[]){s->GH, hidden});
    s->o_b = add(l, "bias", suffix, "", 1, (int[]){s->GH});
    s->o_gx = add(l, "ln_ih", suffix, ".weight", 1, (int[]){s->GH});
    s->o_bx = add(l, "ln_ih", suffix, ".bias", 1, (int[]){s->GH});
    s->o_gh = add(l, "ln_hh", suffix, ".weight", 1, (int[]){s->GH});
    s->o_bh = add(l, "ln_hh", suffix, ".bias", 1, (int[]){s->GH});
    if (s->lstm) {
        s->o_gc = add(l, "ln_c", suffix, ".weight", 1, (int[]){hidden});
        s->o_bc = add(l, "ln_c", suffix, ".bias", 1, (int[]){hidden});
    }
    return l;
}

/* ------------------------------------------------------------ registered kinds
 * ln-lstm:H and ln-gru:H, one or two directions. */

static int ln_out_width(const mn_block_config *b, int in) {
    (void)in;
    return b->width * (b->bidirectional ? 2 : 1);
}

static mn_layer *ln_block(mn_cell_kind cell, const mn_block_config *b, int in, int index) {
    char suffix[32];
    snprintf(suffix, sizeof suffix, "_l%d", index);
    mn_layer *l = mn_lncell_create(cell, in, b->width, suffix);
    if (l && b->bidirectional) {
        snprintf(suffix, sizeof suffix, "_l%d_reverse", index);
        l = mn_bidirectional_create(l, mn_lncell_create(cell, in, b->width, suffix));
    }
    return l;
}

/* In the order forward and backward allocate and multiply (per direction). */
static void ln_plan(int lstm, const mn_block_config *b, int in, size_t T, size_t B,
                    mn_memory_plan *p) {
    size_t H = (size_t)b->width, GH = (lstm ? 4 : 3) * H, I = (size_t)in, rows = T * B, f, g;
    if (!mn_mul_size(forward_floats(lstm, H, GH, rows, B), sizeof(float), &f) ||
        !mn_mul_size(backward_floats(lstm, H, GH, rows), sizeof(float), &g)) {
        p->overflow = 1;
        return;
    }
    if (b->bidirectional) mn_bidirectional_plan(in, b->width, rows, p);
    for (int d = 0; d < (b->bidirectional ? 2 : 1); d++) {
        mn_plan_alloc(p, 0, f);
        mn_plan_gemm(p, 0, 0, rows, GH, I);      /* W_ih·x over all rows */
        mn_plan_gemm(p, 0, 0, B, GH, H);         /* W_hh·h, each step */
        mn_plan_alloc(p, 1, g);
        mn_plan_gemm(p, 1, 0, B, H, GH);         /* dh through W_hh, each step */
        mn_plan_gemm(p, 1, 0, GH, I, rows);      /* dW_ih */
        mn_plan_gemm(p, 1, 0, GH, H, rows);      /* dW_hh */
        mn_plan_gemm(p, 1, 1, rows, I, GH);      /* dx */
    }
}

static double ln_macs(int lstm, const mn_block_config *b, int in) {
    double gh = (lstm ? 4.0 : 3.0) * b->width;
    return gh * (in + b->width) * (b->bidirectional ? 2 : 1);
}

#define LN_KIND(id, cell_, lstm_, label, text)                                               \
    static mn_layer *create_##id(const mn_block_config *b, int in, int index) {             \
        return ln_block(cell_, b, in, index);                                                \
    }                                                                                        \
    static void plan_##id(const mn_block_config *b, int in, size_t T, size_t B,              \
                          mn_memory_plan *p) {                                               \
        ln_plan(lstm_, b, in, T, B, p);                                                      \
    }                                                                                        \
    static double macs_##id(const mn_block_config *b, int in) { return ln_macs(lstm_, b, in); } \
    const mn_layer_kind mn_kind_##id = {                                                     \
        .name = label, .summary = text, .cell = -1,                                          \
        .caps = MN_KIND_RECURRENT | MN_KIND_BIDIRECTIONAL | MN_KIND_WIDTH | MN_KIND_GATED |  \
                (lstm_ ? MN_KIND_FORGET_BIAS : 0u),                                          \
        .out_width = ln_out_width, .create = create_##id, .plan = plan_##id,                 \
        .macs_per_row = macs_##id,                                                           \
    };

LN_KIND(ln_lstm, MN_LSTM, 1, "ln-lstm", "layer-normalized LSTM (Ba et al. 2016)")
LN_KIND(ln_gru, MN_GRU, 0, "ln-gru", "layer-normalized GRU (LayerNorm on W_ih x and W_hh h)")
