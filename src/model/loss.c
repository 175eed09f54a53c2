/* Mean-squared error and softmax cross-entropy over rows of a [N, O] output.
 * Losses are a small share of a step (N·O work against the layers' N·H² or more), so the
 * loops stay sequential: the sum is then the same for every thread count. */
#include "loss.h"

#include <math.h>
#include <string.h>

double mn_mse_loss(const float *pred, const float *target, const uint8_t *mask,
                   size_t N, int O, double inv_norm, float *d) {
    double sum = 0;
    for (size_t r = 0; r < N; r++) {
        const float *p = pred + r * O, *t = target + r * O;
        float *dr = d ? d + r * O : NULL;
        if (mask && !mask[r]) {
            if (dr) memset(dr, 0, (size_t)O * sizeof *dr);   /* padding gets no gradient */
            continue;
        }
        for (int k = 0; k < O; k++) {
            double e = (double)p[k] - (double)t[k];
            sum += e * e;
            if (dr) dr[k] = (float)(2.0 * e * inv_norm);
        }
    }
    return sum;
}

double mn_ce_loss(const float *logits, const int32_t *labels, size_t N, int C,
                  double inv_norm, float *d) {
    double sum = 0;
    for (size_t r = 0; r < N; r++) {
        const float *z = logits + r * C;
        float *dr = d ? d + r * C : NULL;
        if (labels[r] == -1) {
            if (dr) memset(dr, 0, (size_t)C * sizeof *dr);   /* ignored position */
            continue;
        }
        if (labels[r] < 0 || labels[r] >= C) {
            /* the caller checks labels; should one slip through, poison the loss (the
             * trainer then skips the step) rather than read outside the row */
            sum = NAN;
            if (dr) for (int k = 0; k < C; k++) dr[k] = NAN;
            continue;
        }
        /* log Σ exp z = m + log Σ exp(z - m) with m = max z: no overflow for large logits,
         * and the largest term is exp(0) = 1, so the sum never underflows to 0. */
        /* Read before d is written: d may be the logits buffer itself. */
        double m = z[0], zl = z[labels[r]];
        for (int k = 1; k < C; k++)
            if (z[k] > m) m = z[k];
        double s = 0;
        for (int k = 0; k < C; k++) {
            double e = exp((double)z[k] - m);
            s += e;
            if (dr) dr[k] = (float)e;   /* kept so the gradient needs no second exp */
        }
        sum += m + log(s) - zl;
        if (dr) {
            double scale = inv_norm / s;   /* softmax = e / s */
            for (int k = 0; k < C; k++) dr[k] = (float)(dr[k] * scale);
            /* softmax - 1 in double: in float it would cancel when the label is likely. */
            double el = exp(zl - m);
            dr[labels[r]] = (float)((el / s - 1.0) * inv_norm);
        }
    }
    return sum;
}
