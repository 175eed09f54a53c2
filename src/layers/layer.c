/* What every layer shares: parameter specs, destruction, sequence reversal. */
#include "layer.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

mn_status mn_layer_rows(const mn_layer *l, int T, int B, size_t *rows) {
    *rows = 0;
    if (T < 0 || B < 0)
        return mn_fail(MN_E_ARG, "a %s layer got length %d and batch %d; neither may be "
                       "negative", l->ops->kind, T, B);
    size_t n = (size_t)T * (size_t)B, elems;
    int width = MN_MAX(l->in_size, l->out_size);
    if (n > (size_t)INT_MAX || !mn_mul_size(n, (size_t)MN_MAX(width, 0), &elems))
        return mn_fail(MN_E_ARG, "length %d times batch %d is %zu rows, more than the %d a "
                       "pass can hold; use a smaller length or batch", T, B, n, INT_MAX);
    *rows = n;
    return MN_OK;
}

size_t mn_layer_add_param(mn_layer *l, const char *name, int ndim, const int *shape) {
    mn_param_spec *s = &l->specs[l->nspecs++];
    snprintf(s->name, sizeof s->name, "%s", name);
    s->ndim = ndim;
    s->size = 1;
    for (int i = 0; i < ndim; i++) {
        s->shape[i] = shape[i];
        s->size *= (size_t)shape[i];
    }
    s->offset = l->param_count;
    s->group = MN_GROUP_DEFAULT;
    l->param_count += s->size;
    return s->offset;
}

size_t mn_layer_add_param_in(mn_layer *l, int group, const char *name, int ndim,
                             const int *shape) {
    size_t off = mn_layer_add_param(l, name, ndim, shape);
    l->specs[l->nspecs - 1].group = group;
    return off;
}

void mn_layer_destroy(mn_layer *l) {
    if (l) l->ops->destroy(l);
}

void mn_layer_reset(mn_layer *l) {
    if (l->ops->reset_state) l->ops->reset_state(l);
}

int mn_layer_state(mn_layer *l, mn_state_view v[2]) {
    return l->ops->state ? l->ops->state(l, v) : 0;
}

size_t mn_layer_bytes(const mn_layer *l) {
    return l->ops->activation_bytes ? l->ops->activation_bytes(l) : 0;
}

void mn_reverse_sequences(const float *in, float *out, int T, int B, int D,
                          const int32_t *lengths) {
    size_t row = (size_t)D * sizeof(float);
    for (int b = 0; b < B; b++) {
        int len = lengths ? lengths[b] : T;
        for (int t = 0; t < T; t++) {
            int src = t < len ? len - 1 - t : t;
            memcpy(out + ((size_t)t * B + b) * D, in + ((size_t)src * B + b) * D, row);
        }
    }
}

static void plan_add(mn_memory_plan *p, int backward, int gemm, int dx, size_t bytes,
                     size_t M, size_t N, size_t K) {
    if (p->n == MN_PLAN_MAX) { p->overflow = 1; return; }
    p->ev[p->n].backward = (unsigned char)backward;
    p->ev[p->n].gemm = (unsigned char)gemm;
    p->ev[p->n].dx = (unsigned char)dx;
    p->ev[p->n].bytes = bytes;
    p->ev[p->n].M = M;
    p->ev[p->n].N = N;
    p->ev[p->n].K = K;
    p->n++;
}

void mn_plan_alloc(mn_memory_plan *p, int backward, size_t bytes) {
    if (bytes) plan_add(p, backward, 0, 0, bytes, 0, 0, 0);
}

void mn_plan_gemm(mn_memory_plan *p, int backward, int dx, size_t M, size_t N, size_t K) {
    plan_add(p, backward, 1, dx, 0, M, N, K);
}

mn_status mn_recurrence_carry(const float *hs, const float *cs, int T, int B, int H, int Hc,
                              float **h0, float **c0, size_t *cap) {
    size_t BH = (size_t)B * H, BC = (size_t)B * Hc;
    /* Out of memory is reported, never replaced by a zero state: that would train on a
     * different problem than the one asked for. */
    if (mn_reserve((void **)h0, cap, (BH + BC) * sizeof(float)) != MN_OK)
        return mn_fail(MN_E_NOMEM, "out of memory carrying a [%d,%d] recurrent state into "
                       "the next chunk", B, H);
    *c0 = *h0 + BH;
    memcpy(*h0, hs + (size_t)T * BH, BH * sizeof(float));
    if (cs) memcpy(*c0, cs + (size_t)T * BC, BC * sizeof(float));
    return MN_OK;
}

int mn_recurrence_view(const float *hs, const float *cs, int T, int B, int H, int Hc,
                       mn_state_view v[2]) {
    size_t BH = (size_t)B * H, BC = (size_t)B * Hc;
    v[0] = (mn_state_view){
        .B = B, .H = H, .Hc = Hc, .h0 = (float *)hs, .c0 = (float *)cs,
        .hT = hs ? (float *)hs + (size_t)T * BH : NULL,
        .cT = cs ? (float *)cs + (size_t)T * BC : NULL,
    };
    return 1;
}

mn_status mn_layer_step(mn_layer *l, const float *x_t, float *y_t, int B, int t) {
    if (!l->ops->step)
        return mn_fail(MN_E_ARG, "a %s layer cannot stream one step at a time: its output "
                       "at a step reads later steps or another sequence", l->ops->kind);
    if (B < 1 || t < 0)
        return mn_fail(MN_E_ARG, "a %s step got batch %d at step %d; the batch must be at "
                       "least 1 and the step not negative", l->ops->kind, B, t);
    return l->ops->step(l, x_t, y_t, B, t);
}

mn_status mn_step_by_forward(mn_layer *l, const float *x_t, float *y_t, int B, int t) {
    (void)t;
    return l->ops->forward(l, x_t, y_t, 1, B, NULL);
}

mn_status mn_step_by_carry(mn_layer *l, const float *x_t, float *y_t, int B, int t) {
    mn_status st;
    if (t == 0) mn_layer_reset(l);
    else if (l->ops->carry_state && (st = l->ops->carry_state(l))) return st;
    return l->ops->forward(l, x_t, y_t, 1, B, NULL);
}
