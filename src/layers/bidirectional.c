/* Bidirectional wrapper: y[t,b] = [fwd(x)[t,b], reverse(bwd(reverse(x)))[t,b]], where
 * reverse flips each sequence within its own length (padding stays where it is), which is
 * what PyTorch computes for packed sequences. Parameters: all of fwd's, then all of bwd's. */
#include "layer.h"

#include <stdio.h>
#include <string.h>

typedef struct {
    mn_layer base;
    mn_layer *fwd, *bwd;
    int H;
    void *ws;
    size_t ws_bytes, cap_rows;
    float *xr, *dxr;       /* [T,B,I] reversed input and its gradient */
    float *yf, *yr;        /* [T,B,H] one direction's output, and it reversed */
} bidir;

static void bind(bidir *s) {
    s->fwd->params = s->base.params;
    s->fwd->grads = s->base.grads;
    s->bwd->params = s->base.params + s->fwd->param_count;
    s->bwd->grads = s->base.grads + s->fwd->param_count;
    s->fwd->probe_dh = s->base.probe_dh;
    s->fwd->probe_dc = s->base.probe_dc;
    s->fwd->inference = s->bwd->inference = s->base.inference;
}

/* The workspace's bytes (reversed input, its gradient unless for inference, one
 * direction's output twice): read by reserve and the memory plan; 0 on overflow. */
static int layout(size_t in, size_t H, size_t rows, int inference, size_t *bytes) {
    size_t floats;
    return mn_mul_size(rows, (inference ? 1 : 2) * in + 2 * H, &floats) &&
           mn_mul_size(floats, sizeof(float), bytes);
}

void mn_bidirectional_plan(int in, int hidden, size_t rows, mn_memory_plan *p) {
    size_t bytes;
    if (!layout((size_t)in, (size_t)hidden, rows, 0, &bytes)) p->overflow = 1;
    else mn_plan_alloc(p, 0, bytes);
}

static mn_status reserve(bidir *s, size_t rows) {
    if (rows <= s->cap_rows && s->ws && (s->dxr || s->base.inference)) return MN_OK;
    size_t bytes;
    if (!layout((size_t)s->base.in_size, (size_t)s->H, rows, s->base.inference, &bytes))
        return mn_fail(MN_E_NOMEM, "bidirectional workspace overflows");
    if (mn_reserve(&s->ws, &s->ws_bytes, bytes) != MN_OK) return MN_E_NOMEM;
    s->xr = s->ws;
    s->dxr = s->base.inference ? NULL : s->xr + rows * s->base.in_size;
    s->yf = s->xr + rows * s->base.in_size * (s->base.inference ? 1 : 2);
    s->yr = s->yf + rows * s->H;
    s->cap_rows = rows;
    return MN_OK;
}

/* y[:, :, half] (width 2H) <-> v (width H) */
static void interleave(float *y, const float *v, size_t rows, int H, int half) {
    for (size_t r = 0; r < rows; r++)
        memcpy(y + (size_t)r * 2 * H + half * H, v + (size_t)r * H, (size_t)H * sizeof(float));
}
static void deinterleave(float *v, const float *y, size_t rows, int H, int half) {
    for (size_t r = 0; r < rows; r++)
        memcpy(v + (size_t)r * H, y + (size_t)r * 2 * H + half * H, (size_t)H * sizeof(float));
}

static void bidir_init(mn_layer *l, mn_rng *rng, const mn_init_config *cfg) {
    bidir *s = (bidir *)l;
    bind(s);
    s->fwd->ops->init(s->fwd, rng, cfg);
    s->bwd->ops->init(s->bwd, rng, cfg);
}

static mn_status bidir_forward(mn_layer *l, const float *x, float *y, int T, int B,
                               const int32_t *lengths) {
    bidir *s = (bidir *)l;
    int I = l->in_size, H = s->H;
    size_t rows;
    mn_status st = mn_layer_rows(l, T, B, &rows);
    if (st) return st;
    bind(s);
    if (reserve(s, rows) != MN_OK) return MN_E_NOMEM;
    if ((st = s->fwd->ops->forward(s->fwd, x, s->yf, T, B, lengths))) return st;
    interleave(y, s->yf, rows, H, 0);
    mn_reverse_sequences(x, s->xr, T, B, I, lengths);
    if ((st = s->bwd->ops->forward(s->bwd, s->xr, s->yf, T, B, lengths))) return st;
    mn_reverse_sequences(s->yf, s->yr, T, B, H, lengths);
    interleave(y, s->yr, rows, H, 1);
    return MN_OK;
}

static mn_status bidir_backward(mn_layer *l, const float *dy, float *dx, int T, int B,
                                const int32_t *lengths) {
    bidir *s = (bidir *)l;
    int I = l->in_size, H = s->H;
    size_t rows;
    mn_status st = mn_layer_rows(l, T, B, &rows);
    if (st) return st;
    bind(s);
    if (!s->dxr)
        return mn_fail(MN_E_STATE, "bidirectional backward called after an inference forward, "
                       "which keeps nothing for it; run the forward with inference off");
    deinterleave(s->yf, dy, rows, H, 0);
    if ((st = s->fwd->ops->backward(s->fwd, s->yf, dx, T, B, lengths))) return st;
    deinterleave(s->yr, dy, rows, H, 1);
    mn_reverse_sequences(s->yr, s->yf, T, B, H, lengths);
    if (!dx) return s->bwd->ops->backward(s->bwd, s->yf, NULL, T, B, lengths);
    /* the reverse direction's input gradient is in reversed time: flip it back and add */
    memset(s->dxr, 0, rows * I * sizeof(float));
    if ((st = s->bwd->ops->backward(s->bwd, s->yf, s->dxr, T, B, lengths))) return st;
    for (int b = 0; b < B; b++) {
        int len = lengths ? lengths[b] : T;
        for (int t = 0; t < len; t++) {
            float *d = dx + ((size_t)t * B + b) * I;
            const float *r = s->dxr + ((size_t)(len - 1 - t) * B + b) * I;
            for (int i = 0; i < I; i++) d[i] += r[i];
        }
    }
    return MN_OK;
}

static void bidir_reset(mn_layer *l) {
    bidir *s = (bidir *)l;
    mn_layer_reset(s->fwd);
    mn_layer_reset(s->bwd);
}

static int bidir_state(mn_layer *l, mn_state_view v[2]) {
    bidir *s = (bidir *)l;
    mn_state_view tmp[2];
    mn_layer_state(s->fwd, tmp);
    v[0] = tmp[0];
    mn_layer_state(s->bwd, tmp);
    v[1] = tmp[0];
    return 2;
}

static size_t bidir_bytes(const mn_layer *l) {
    const bidir *s = (const bidir *)l;
    return s->ws_bytes + mn_layer_bytes(s->fwd) +
           mn_layer_bytes(s->bwd);
}

static void bidir_destroy(mn_layer *l) {
    bidir *s = (bidir *)l;
    mn_layer_destroy(s->fwd);
    mn_layer_destroy(s->bwd);
    mn_release(s->ws);
    mn_release(s);
}

/* No carry_state: the reverse direction reads the future, so a bidirectional layer cannot
 * carry state across truncated-BPTT chunks; the model rejects that combination. */
/* Diagnostics look at the forward direction, whose time runs like the input's. */
static int bidir_inspect(mn_layer *l, mn_recurrent_view *v) {
    mn_layer *f = ((bidir *)l)->fwd;
    return f->ops->inspect ? f->ops->inspect(f, v) : 0;
}

static void bidir_step_vjp(mn_layer *l, int t, int b, float *u_h, float *u_c) {
    mn_layer *f = ((bidir *)l)->fwd;
    f->ops->step_vjp(f, t, b, u_h, u_c);
}

static const mn_layer_ops bidir_ops = {
    .kind = "bidirectional",
    .init = bidir_init,
    .forward = bidir_forward,
    .backward = bidir_backward,
    .reset_state = bidir_reset,
    .state = bidir_state,
    .activation_bytes = bidir_bytes,
    .destroy = bidir_destroy,
    .inspect = bidir_inspect,
    .step_vjp = bidir_step_vjp,
};

mn_layer *mn_bidirectional_create(mn_layer *fwd, mn_layer *bwd) {
    if (!fwd || !bwd) {
        mn_layer_destroy(fwd);
        mn_layer_destroy(bwd);
        return NULL;
    }
    if (fwd->nspecs + bwd->nspecs > MN_MAX_SPECS) {
        mn_fail(MN_E_ARG, "a bidirectional layer holds at most %d parameter tensors, the two "
                "directions have %d", MN_MAX_SPECS, fwd->nspecs + bwd->nspecs);
        mn_layer_destroy(fwd);
        mn_layer_destroy(bwd);
        return NULL;
    }
    bidir *s = mn_alloc_zero(sizeof *s);
    if (!s) {
        mn_layer_destroy(fwd);
        mn_layer_destroy(bwd);
        return NULL;
    }
    s->base.ops = &bidir_ops;
    s->base.in_size = fwd->in_size;
    s->base.out_size = fwd->out_size + bwd->out_size;
    s->fwd = fwd;
    s->bwd = bwd;
    s->H = fwd->out_size;
    for (int i = 0; i < fwd->nspecs; i++) s->base.specs[s->base.nspecs++] = fwd->specs[i];
    for (int i = 0; i < bwd->nspecs; i++) {
        mn_param_spec sp = bwd->specs[i];
        sp.offset += fwd->param_count;
        s->base.specs[s->base.nspecs++] = sp;
    }
    s->base.param_count = fwd->param_count + bwd->param_count;
    return &s->base;
}

mn_layer *mn_stack_layer_create_opts(mn_cell_kind cell, int in, int hidden, int k,
                                     int bidirectional, const mn_recurrent_opts *opts) {
    char suffix[32];
    snprintf(suffix, sizeof suffix, "_l%d", k);
    mn_layer *l = mn_recurrent_create_opts(cell, in, hidden, opts, suffix);
    if (l && bidirectional) {
        snprintf(suffix, sizeof suffix, "_l%d_reverse", k);
        l = mn_bidirectional_create(l, mn_recurrent_create_opts(cell, in, hidden, opts, suffix));
    }
    return l;
}

mn_layer *mn_stack_layer_create(mn_cell_kind cell, int in, int hidden, int k, int bidirectional) {
    return mn_stack_layer_create_opts(cell, in, hidden, k, bidirectional, NULL);
}
