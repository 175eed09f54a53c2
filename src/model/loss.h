/* Losses over rows of a [N, O] output. Each returns the SUM of its per-item losses over
 * the rows that count and, when d is non-NULL, writes (=) the gradient of
 * (sum * inv_norm) into d, zero for rows that do not count. The caller chooses inv_norm
 * (1 / number of counted items for a mean), so truncated-BPTT chunks can share one
 * normalizer. Sums are accumulated in double. */
#ifndef MN_LOSS_H
#define MN_LOSS_H

#include "core.h"

/* Squared error; a row counts when mask == NULL or mask[row] != 0. Items = rows·O. */
double mn_mse_loss(const float *pred, const float *target, const uint8_t *mask,
                   size_t N, int O, double inv_norm, float *d);

/* Softmax cross-entropy; a row counts when labels[row] >= 0, and -1 ignores it. Items =
 * counted rows. Other labels (below -1, or C and above) are the caller's to refuse; one
 * that reaches here makes the sum and its row's gradient NaN. */
double mn_ce_loss(const float *logits, const int32_t *labels, size_t N, int C,
                  double inv_norm, float *d);

#endif
