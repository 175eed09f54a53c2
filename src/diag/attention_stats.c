/* What attention heads look at (mn_attention_measure): the distance and entropy of each
 * query's attention, recomputed from the queries, keys and log-sum-exps the layer kept,
 * p_tj = exp(q_t·k_j/√dh − L_t), over the keys the query saw (j ≤ t when causal, j below
 * the sequence's length). */
#include "model.h"

#include <math.h>
#include <string.h>

mn_status mn_attention_measure(mn_model *m, const mn_batch *b, int block,
                               mn_attention_stats *out) {
    memset(out, 0, sizeof *out);
    if (block < 0 || block >= m->L)
        return mn_fail(MN_E_ARG, "block %d does not exist; the model has %d (0..%d)", block,
                       m->L, m->L - 1);
    mn_status st = mn_model_forward(m, b, NULL);
    if (st) return st;
    mn_layer *l = m->layers[block];
    mn_attention_view v;
    if (!l->ops->attention || !l->ops->attention(l, &v))
        return mn_fail(MN_E_STATE, "block %d has no attention to measure", block);
    int D = v.H * v.dh, H = MN_MIN(v.H, MN_DIAG_MAX_HEADS);
    double scale = 1.0 / sqrt((double)v.dh), keys_ln = 0;
    out->heads = H;
    for (int s = 0; s < v.B; s++) {
        int len = b->lengths ? b->lengths[s] : v.T;
        for (int t = 0; t < len; t++) {
            int nk = v.causal ? t + 1 : len;
            keys_ln += log((double)nk);
            out->queries++;
            for (int h = 0; h < H; h++) {
                const float *q = v.qkv + ((size_t)t * v.B + s) * 3 * D + (size_t)h * v.dh;
                double L = v.lse[((size_t)s * v.H + h) * v.T + t], dist = 0, ent = 0;
                for (int j = 0; j < nk; j++) {
                    const float *k = v.qkv + ((size_t)j * v.B + s) * 3 * D + D + (size_t)h * v.dh;
                    double dot = 0;
                    for (int d = 0; d < v.dh; d++) dot += (double)q[d] * k[d];
                    double lp = dot * scale - L, p = exp(lp);
                    dist += p * fabs((double)(t - j));
                    if (p > 0) ent -= p * lp;
                }
                out->distance[h] += dist;
                out->entropy[h] += ent;
            }
        }
    }
    if (out->queries > 0) {
        for (int h = 0; h < H; h++) {
            out->distance[h] /= out->queries;
            out->entropy[h] /= out->queries;
        }
        out->uniform_entropy = keys_ln / out->queries;
    }
    return MN_OK;
}
