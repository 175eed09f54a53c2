/* The pieces of data parallelism that need no MPI: a rank's part of a batch, the checks of
 * a communicator's fields, and the agreement test the trainer runs across ranks. The MPI
 * adapter is comm_mpi.c; the trainer's use of all this is in train.c. */
#include "comm.h"

#include <stdio.h>
#include <string.h>

/* Bytes of each array of the part, in the order they are laid out in one buffer. */
enum { P_X, P_TOK, P_LEN, P_TGT, P_LAB, P_SRC, P_SLEN, P_N };

static size_t align64(size_t n) { return (n + 63) & ~(size_t)63; }

/* rows of `width` elements each, taken from every one of `steps` time steps: sequences
 * [i0, i0+n) of each step's B */
static void gather(void *dst, const void *src, size_t steps, int B, int i0, int n,
                   size_t width, size_t elem) {
    size_t row = width * elem, chunk = (size_t)n * row;
    for (size_t t = 0; t < steps; t++)
        memcpy((char *)dst + t * chunk, (const char *)src + (t * (size_t)B + (size_t)i0) * row,
               chunk);
}

mn_status mn_batch_take(const mn_batch *b, int every, int i0, int n, mn_batch_part *p) {
    if (i0 < 0 || n < 1 || i0 + n > b->B)
        return mn_fail(MN_E_ARG, "sequences [%d, %d) are not in the batch of %d", i0, i0 + n,
                       b->B);
    size_t T = (size_t)b->T, S = (size_t)b->S, I = (size_t)b->input_size,
           O = (size_t)b->output_size, out_steps = every ? T : 1, N = (size_t)n;
    size_t bytes[P_N] = {
        b->x ? T * N * I * sizeof(float) : 0,
        b->tokens ? T * N * sizeof(int32_t) : 0,
        N * sizeof(int32_t),
        b->target ? out_steps * N * O * sizeof(float) : 0,
        b->labels ? out_steps * N * sizeof(int32_t) : 0,
        b->src_tokens ? S * N * sizeof(int32_t) : 0,
        b->src_lengths ? N * sizeof(int32_t) : 0,
    };
    size_t off[P_N], total = 0;
    for (int i = 0; i < P_N; i++) {
        off[i] = total;
        total += align64(bytes[i]);
    }
    if (mn_reserve(&p->buf, &p->cap, total)) return MN_E_NOMEM;
    char *base = p->buf;
    mn_batch *o = &p->b;
    *o = *b;
    o->B = n;
    o->x = b->x ? (float *)(base + off[P_X]) : NULL;
    o->tokens = b->tokens ? (int32_t *)(base + off[P_TOK]) : NULL;
    o->lengths = (int32_t *)(base + off[P_LEN]);
    o->target = b->target ? (float *)(base + off[P_TGT]) : NULL;
    o->labels = b->labels ? (int32_t *)(base + off[P_LAB]) : NULL;
    o->src_tokens = b->src_tokens ? (int32_t *)(base + off[P_SRC]) : NULL;
    o->src_lengths = b->src_lengths ? (int32_t *)(base + off[P_SLEN]) : NULL;
    if (b->x) gather(o->x, b->x, T, b->B, i0, n, I, sizeof(float));
    if (b->tokens) gather(o->tokens, b->tokens, T, b->B, i0, n, 1, sizeof(int32_t));
    gather(o->lengths, b->lengths, 1, b->B, i0, n, 1, sizeof(int32_t));
    if (b->target) gather(o->target, b->target, out_steps, b->B, i0, n, O, sizeof(float));
    if (b->labels) gather(o->labels, b->labels, out_steps, b->B, i0, n, 1, sizeof(int32_t));
    if (b->src_tokens) gather(o->src_tokens, b->src_tokens, S, b->B, i0, n, 1, sizeof(int32_t));
    if (b->src_lengths) gather(o->src_lengths, b->src_lengths, 1, b->B, i0, n, 1, sizeof(int32_t));
    return MN_OK;
}

void mn_batch_part_free(mn_batch_part *p) {
    mn_release(p->buf);
    memset(p, 0, sizeof *p);
}

int mn_comm_active(const mn_comm *c) { return c && c->size > 1; }

void mn_comm_share(const mn_comm *c, int B, int *i0, int *n) {
    if (!mn_comm_active(c)) {
        *i0 = 0;
        *n = B;
        return;
    }
    long long lo = (long long)B * c->rank / c->size, hi = (long long)B * (c->rank + 1) / c->size;
    *i0 = (int)lo;
    *n = (int)(hi - lo);
}

mn_status mn_comm_check(const mn_comm *c) {
    if (c->size < 1 || c->rank < 0 || c->rank >= c->size)
        return mn_fail(MN_E_ARG, "a communicator needs 0 <= rank < size, got rank %d of size %d",
                       c->rank, c->size);
    if (c->size > 1 && (!c->allreduce_sum_f32 || !c->allreduce_sum_f64))
        return mn_fail(MN_E_ARG, "a communicator of %d ranks needs both sums "
                       "(allreduce_sum_f32 and allreduce_sum_f64)", c->size);
    return MN_OK;
}

/* A transport outside the library cannot call mn_fail: when it fails and leaves the
 * message as it was, say what failed. (The message is not cleared before the call: a rank
 * that failed brings its own reason into the sum that tells the others.) */
typedef struct { char text[160]; } msg_snapshot;

static void snapshot(msg_snapshot *m) { snprintf(m->text, sizeof m->text, "%s", mn_last_error()); }

static mn_status sum_failed(const mn_comm *c, mn_status st, const msg_snapshot *before,
                            size_t n, const char *type) {
    if (strncmp(mn_last_error(), before->text, sizeof before->text - 1) != 0) return st;
    return mn_fail(st, "the communicator's sum of %zu %s values failed on rank %d of %d "
                   "(status %d)", n, type, c->rank, c->size, (int)st);
}

mn_status mn_comm_sum_f64(const mn_comm *c, double *v, size_t n) {
    if (!mn_comm_active(c) || n == 0) return MN_OK;
    msg_snapshot before;
    snapshot(&before);
    mn_status st = c->allreduce_sum_f64(c->ctx, v, n);
    return st ? sum_failed(c, st, &before, n, "double") : MN_OK;
}

mn_status mn_comm_sum_f32(const mn_comm *c, float *v, size_t n) {
    if (!mn_comm_active(c) || n == 0) return MN_OK;
    msg_snapshot before;
    snapshot(&before);
    mn_status st = c->allreduce_sum_f32(c->ctx, v, n);
    return st ? sum_failed(c, st, &before, n, "float") : MN_OK;
}

/* NaN equals NaN here: a NaN everywhere is agreement, not drift. */
static int same(double a, double b) { return a == b || (a != a && b != b); }

mn_status mn_comm_agree(const mn_comm *c, const double *v, int n, int *bad) {
    for (int i = 0; i < n; i++) bad[i] = 0;
    if (!mn_comm_active(c)) return MN_OK;
    if (n < 1 || n > MN_COMM_AGREE_MAX)
        return mn_fail(MN_E_ARG, "mn_comm_agree: %d values (1 to %d)", n, MN_COMM_AGREE_MAX);
    double first[MN_COMM_AGREE_MAX], diff[MN_COMM_AGREE_MAX];
    for (int i = 0; i < n; i++) first[i] = c->rank == 0 ? v[i] : 0.0;
    mn_status st = mn_comm_sum_f64(c, first, (size_t)n);
    if (st) return st;
    for (int i = 0; i < n; i++) diff[i] = same(first[i], v[i]) ? 0.0 : 1.0;
    if ((st = mn_comm_sum_f64(c, diff, (size_t)n))) return st;
    for (int i = 0; i < n; i++) bad[i] = (int)diff[i];
    return MN_OK;
}

void mn_checksum_f32(const float *x, size_t n, double out[2]) {
    double s = 0, w = 0;
    for (size_t i = 0; i < n; i++) {
        s += x[i];
        w += x[i] * (double)((i & 1023) + 1);
    }
    out[0] = s;
    out[1] = w;
}

void mn_comm_release(mn_comm *comm) {
    if (!comm) return;
    if (comm->release) comm->release(comm->ctx);
    memset(comm, 0, sizeof *comm);
}
