/* Gate statistics of a recurrent layer over a batch's real positions: how much of its
 * state each unit keeps per step, the memory half-life that implies, and saturation. */
#include "model.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

double mn_half_life(double f) {
    if (!(f > 0)) return 0.0;
    if (f >= 1.0) return MN_HALF_LIFE_MAX;
    double h = log(0.5) / log(f);
    return h < MN_HALF_LIFE_MAX ? h : MN_HALF_LIFE_MAX;
}

/* Runs the model forward on b and returns the view of layer `layer`. */
mn_status mn_diag_forward_view(mn_model *m, const mn_batch *b, int layer,
                               mn_recurrent_view *v) {
    if (layer < 0 || layer >= m->L)
        return mn_fail(MN_E_ARG, "layer %d does not exist; the model has %d recurrent layer%s "
                       "(0..%d)", layer, m->L, m->L == 1 ? "" : "s", m->L - 1);
    mn_status st = mn_model_forward(m, b, NULL);
    if (st) return st;
    mn_layer *l = m->layers[layer];
    if (!l->ops->inspect || !l->ops->inspect(l, v))
        return mn_fail(MN_E_STATE, "layer %d has no recurrence to inspect", layer);
    return MN_OK;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

mn_status mn_gate_stats_measure(mn_model *m, const mn_batch *b, int layer, mn_gate_stats *out,
                                double *keep_per_unit, double *half_life_per_unit) {
    memset(out, 0, sizeof *out);
    mn_recurrent_view v;
    mn_status st = mn_diag_forward_view(m, b, layer, &v);
    if (st) return st;
    int H = v.H, G = v.gates;
    double *keep = mn_alloc_zero(2 * (size_t)H * sizeof(double));
    if (!keep) return MN_E_NOMEM;
    double *hl = keep + H;
    double n = 0, sat_g = 0, n_g = 0, sat_t = 0, n_t = 0;
    for (int t = 0; t < v.T; t++)
        for (int s = 0; s < v.B; s++) {
            if (b->lengths && t >= b->lengths[s]) continue;   /* padding */
            const float *a = v.act + ((size_t)t * v.B + s) * G * H;
            n++;
            for (int g = 0; g < G; g++) {
                const float *blk = a + (size_t)g * H;
                if (v.sigmoid_gates >> g & 1u) {
                    for (int j = 0; j < H; j++) sat_g += blk[j] < 0.05f || blk[j] > 0.95f;
                    n_g += H;
                }
                if (g == v.tanh_gate) {
                    for (int j = 0; j < H; j++) sat_t += fabsf(blk[j]) > 0.95f;
                    n_t += H;
                }
                if (g == v.keep_gate)
                    for (int j = 0; j < H; j++) keep[j] += blk[j];
            }
        }
    out->units = H;
    out->has_gates = v.keep_gate >= 0;
    out->saturated_gates = n_g > 0 ? sat_g / n_g : 0.0;
    out->saturated_tanh = n_t > 0 ? sat_t / n_t : 0.0;
    if (out->has_gates && n > 0) {
        double sum_keep = 0, sum_hl = 0;
        for (int j = 0; j < H; j++) {
            keep[j] /= n;
            hl[j] = mn_half_life(keep[j]);
            sum_keep += keep[j];
            sum_hl += hl[j];
            if (keep_per_unit) keep_per_unit[j] = keep[j];
            if (half_life_per_unit) half_life_per_unit[j] = hl[j];
        }
        out->keep_mean = sum_keep / H;
        out->half_life_mean = sum_hl / H;
        qsort(hl, (size_t)H, sizeof(double), cmp_double);
        out->half_life_min = hl[0];
        out->half_life_max = hl[H - 1];
        out->half_life_median = H % 2 ? hl[H / 2] : 0.5 * (hl[H / 2 - 1] + hl[H / 2]);
    } else {
        for (int j = 0; j < H; j++) {
            if (keep_per_unit) keep_per_unit[j] = 0.0;
            if (half_life_per_unit) half_life_per_unit[j] = 0.0;
        }
    }
    mn_release(keep);
    return MN_OK;
}
