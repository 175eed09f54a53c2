/* The plain attention kernels the tiled ones (attention.c) are tested against: each
 * (b, head) materializes its T×Tk probabilities in double, with libm's exp, the same masks
 * and the same padding rules (see attention.h). */
#include "attention.h"

#include <math.h>
#include <string.h>

/* queries of sequence b; keys (all of them, and of sequence b); K and V's row stride */
static int seq_len(const mn_attention_dims *a, int b) { return a->lengths ? a->lengths[b] : a->T; }
static int keys(const mn_attention_dims *a) { return a->Tk > 0 ? a->Tk : a->T; }
static int key_len(const mn_attention_dims *a, int b) {
    if (a->Tk <= 0) return seq_len(a, b);
    return a->key_lengths ? a->key_lengths[b] : a->Tk;
}
static size_t key_ld(const mn_attention_dims *a, int ld) { return (size_t)(a->ldk > 0 ? a->ldk : ld); }

/* (t, b, head h) of a tensor with row stride ld */
static size_t at(const mn_attention_dims *a, int t, int b, int h, size_t ld) {
    return ((size_t)t * a->B + b) * ld + (size_t)h * a->dh;
}
static size_t row_at(const mn_attention_dims *a, int b, int h, int t) {
    return ((size_t)b * a->H + h) * a->T + t;
}

/* Softmax rows of (b, h) for its real queries over their unmasked keys into P [T,S]
 * (double; masked entries never read), and each row's log Σ exp into lse [T]. */
static void ref_probs(const mn_attention_dims *a, int b, int h, const float *q, size_t ld,
                      const float *k, size_t ldk, double *P, double *lse) {
    int S = keys(a), dh = a->dh, len = seq_len(a, b), klen = key_len(a, b);
    double scale = 1.0 / sqrt((double)dh);
    for (int t = 0; t < len; t++) {
        int kend = a->causal ? t + 1 : klen;
        double *p = P + (size_t)t * S, mx = -INFINITY, sum = 0;
        const float *qt = q + at(a, t, b, h, ld);
        for (int u = 0; u < kend; u++) {
            const float *ku = k + at(a, u, b, h, ldk);
            double s = 0;
            for (int d = 0; d < dh; d++) s += (double)qt[d] * ku[d];
            p[u] = s * scale;
            if (p[u] > mx || isnan(p[u])) mx = p[u];
        }
        for (int u = 0; u < kend; u++) sum += p[u] = exp(p[u] - mx);
        for (int u = 0; u < kend; u++) p[u] /= sum;
        lse[t] = mx + log(sum);
    }
}

mn_status mn_attention_forward_ref(const mn_attention_dims *a, const float *q, const float *k,
                                   const float *v, int ld, float *o, int ldo, float *lse) {
    int T = a->T, S = keys(a), B = a->B, H = a->H, dh = a->dh;
    size_t ldk = key_ld(a, ld);
    if (T <= 0 || B <= 0 || H <= 0) return MN_OK;
    double *P = mn_alloc(((size_t)T * S + T) * sizeof(double));
    if (!P) return MN_E_NOMEM;
    double *L = P + (size_t)T * S;
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++) {
            int len = seq_len(a, b);
            ref_probs(a, b, h, q, (size_t)ld, k, ldk, P, L);
            for (int t = 0; t < T; t++) {
                float *ot = o + at(a, t, b, h, (size_t)ldo);
                if (lse) lse[row_at(a, b, h, t)] = t < len ? (float)L[t] : 0.0f;
                int kend = t >= len ? 0 : a->causal ? t + 1 : key_len(a, b);
                for (int d = 0; d < dh; d++) {
                    double s = 0;
                    for (int u = 0; u < kend; u++)
                        s += P[(size_t)t * S + u] * v[at(a, u, b, h, ldk) + d];
                    ot[d] = (float)s;
                }
            }
        }
    mn_release(P);
    return MN_OK;
}

mn_status mn_attention_backward_ref(const mn_attention_dims *a, const float *q,
                                    const float *k, const float *v, int ld, const float *dout,
                                    int ldo, float *dq, float *dk, float *dv) {
    int T = a->T, S = keys(a), B = a->B, H = a->H, dh = a->dh;
    size_t ldk = key_ld(a, ld);
    if (T <= 0 || B <= 0 || H <= 0) return MN_OK;
    size_t n = (size_t)T * S + T + 2 * (size_t)S * dh + dh;
    double *P = mn_alloc(n * sizeof(double));
    if (!P) return MN_E_NOMEM;
    double *L = P + (size_t)T * S, *gk = L + T, *gv = gk + (size_t)S * dh, *gq = gv + (size_t)S * dh;
    double scale = 1.0 / sqrt((double)dh);
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++) {
            int len = seq_len(a, b);
            ref_probs(a, b, h, q, (size_t)ld, k, ldk, P, L);
            memset(gk, 0, 2 * (size_t)S * dh * sizeof(double));
            for (int t = 0; t < len; t++) {
                int kend = a->causal ? t + 1 : key_len(a, b);
                const float *g = dout + at(a, t, b, h, (size_t)ldo), *qt = q + at(a, t, b, h, (size_t)ld);
                const double *p = P + (size_t)t * S;
                /* dP_tu = dO_t·v_u, D_t = Σ_u P_tu·dP_tu, dS_tu = P_tu·(dP_tu − D_t) */
                double D = 0;
                for (int u = 0; u < kend; u++) {
                    const float *vu = v + at(a, u, b, h, ldk);
                    double dp = 0;
                    for (int d = 0; d < dh; d++) dp += (double)g[d] * vu[d];
                    D += p[u] * dp;
                }
                memset(gq, 0, (size_t)dh * sizeof(double));
                for (int u = 0; u < kend; u++) {
                    const float *vu = v + at(a, u, b, h, ldk), *ku = k + at(a, u, b, h, ldk);
                    double dp = 0;
                    for (int d = 0; d < dh; d++) dp += (double)g[d] * vu[d];
                    double ds = p[u] * (dp - D) * scale;
                    for (int d = 0; d < dh; d++) {
                        gv[(size_t)u * dh + d] += p[u] * g[d];
                        gk[(size_t)u * dh + d] += ds * qt[d];
                        gq[d] += ds * ku[d];
                    }
                }
                float *dqt = dq + at(a, t, b, h, (size_t)ld);
                for (int d = 0; d < dh; d++) dqt[d] += (float)gq[d];
            }
            for (int u = 0; u < S; u++) {
                float *dku = dk + at(a, u, b, h, ldk), *dvu = dv + at(a, u, b, h, ldk);
                for (int d = 0; d < dh; d++) {
                    dku[d] += (float)gk[(size_t)u * dh + d];
                    dvu[d] += (float)gv[(size_t)u * dh + d];
                }
            }
        }
    mn_release(P);
    return MN_OK;
}
