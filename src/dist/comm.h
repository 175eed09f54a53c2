/* Data parallelism without MPI in sight: the trainer's use of an mn_comm (mnemo.h), the
 * piece of a batch one rank trains on, and checks that the ranks still agree. */
#ifndef MN_COMM_H
#define MN_COMM_H

#include "core.h"

/* Sequences [i0, i0+n) of a time-major batch, copied into buffers of their own (a batch
 * keeps [T,B,·] rows, so a rank's sequences are a strided gather, not a view). */
typedef struct {
    mn_batch b;
    void *buf;
    size_t cap;
} mn_batch_part;

/* every: the targets or labels are per step ([T,B,·], MN_OUTPUT_EVERY) rather than per
 * sequence ([B,·]). p's buffer grows as needed and is kept for the next call. */
mn_status mn_batch_take(const mn_batch *b, int every, int i0, int n, mn_batch_part *p);
void mn_batch_part_free(mn_batch_part *p);

/* 1 when c splits work (size > 1), 0 for none or one rank. */
int mn_comm_active(const mn_comm *c);
/* Rank c->rank's share of B sequences: [B·r/N, B·(r+1)/N), so every sequence is taken
 * once and the shares differ by at most one. */
void mn_comm_share(const mn_comm *c, int B, int *i0, int *n);
/* The fields make sense (rank in [0, size), both sums set); MN_E_ARG otherwise. */
mn_status mn_comm_check(const mn_comm *c);
mn_status mn_comm_sum_f64(const mn_comm *c, double *v, size_t n);
mn_status mn_comm_sum_f32(const mn_comm *c, float *v, size_t n);

/* Do all ranks hold the same v[0..n) (n <= MN_COMM_AGREE_MAX)? bad[i]: how many ranks
 * differ from rank 0 in v[i]. Collective: two sums of n doubles (rank 0's values are
 * spread by a sum in which every other rank adds zeros, which is exact). */
#define MN_COMM_AGREE_MAX 16
mn_status mn_comm_agree(const mn_comm *c, const double *v, int n, int *bad);

/* Two order-fixed sums over x that differ when any element does (almost surely): the
 * plain sum and one weighted by position. Deterministic for identical x. */
void mn_checksum_f32(const float *x, size_t n, double out[2]);

#endif
