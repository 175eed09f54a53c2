/* Block wrapper: turns any layer f into a residual and/or normalized block.
 *   pre-norm:  u = N(x),  v = drop(f(u)),   y = [x +] v
 *   post-norm: v = drop(f(x)),  z = [x +] v,  y = N(z)
 *   none:      v = drop(f(x)),  y = [x +] v
 * backward runs the same steps in reverse, every gradient accumulated.
 *
 * Parameters: the inner layer's, then the norm's. The model assigns the wrapper's
 * params/grads after creation, so bind() points the inner layer and the norm into the
 * wrapper's slices at the start of every init, forward and backward.
 *
 * Workspace, [N = T·B rows]: u [N,I] (pre-norm), f [N,O] (inner output, dropped in place;
 * post-norm's z too); backward's own: gf [N,O] (∂/∂f, with dropout) and gz [N,max(I,O)]
 * (∂/∂u pre-norm, ∂/∂z post-norm). Grown only when N grows. */
#include "block.h"
#include "dropout.h"
#include "norm.h"

#include <stdio.h>
#include <string.h>

typedef struct {
    mn_layer base;
    mn_layer *inner, *norm, *drop;    /* norm, drop NULL when absent */
    int residual;
    mn_block_norm_place place;
    void *ws, *gws;
    size_t ws_bytes, gws_bytes, cap_rows, gcap_rows;
    float *u, *f;                     /* forward workspace */
    float *gf, *gz;                   /* backward workspace */
} block;

static float *slice(float *base, size_t off) { return base ? base + off : NULL; }

static void bind(block *s) {
    mn_layer *l = &s->base;
    s->inner->params = l->params;
    s->inner->grads = l->grads;
    s->inner->probe_dh = l->probe_dh;
    s->inner->probe_dc = l->probe_dc;
    s->inner->inference = l->inference;
    if (s->norm) {
        s->norm->params = slice(l->params, s->inner->param_count);
        s->norm->grads = slice(l->grads, s->inner->param_count);
    }
}

/* Floats per row of the forward workspace (u, f) and of backward's (gf, gz): read by
 * reserve, reserve_grads and the memory plan. */
static void layout(mn_block_norm_place place, int drop, size_t I, size_t O, size_t *fwd,
                   size_t *nf, size_t *nz) {
    *fwd = (place == MN_BLOCK_NORM_PRE ? I : 0) + O;
    *nf = drop ? O : 0;
    *nz = place != MN_BLOCK_NORM_NONE ? MN_MAX(I, O) : 0;
}

void mn_block_plan(const mn_block_wrap *w, int in, int out, size_t rows, int backward,
                   mn_memory_plan *p) {
    size_t per, nf, nz, bytes;
    layout(w->norm, w->dropout > 0, (size_t)in, (size_t)out, &per, &nf, &nz);
    if (backward) per = nf + nz;
    if (!mn_mul_size(rows, per, &bytes) || !mn_mul_size(bytes, sizeof(float), &bytes))
        p->overflow = 1;
    else
        mn_plan_alloc(p, backward, bytes);
}

static mn_status reserve(block *s, size_t rows) {
    if (rows <= s->cap_rows && s->ws) return MN_OK;
    size_t I = (size_t)s->base.in_size, O = (size_t)s->inner->out_size;
    size_t per_row, nf, nz, floats, bytes;
    layout(s->place, s->drop != NULL, I, O, &per_row, &nf, &nz);
    if (!mn_mul_size(rows, per_row, &floats) || !mn_mul_size(floats, sizeof(float), &bytes))
        return mn_fail(MN_E_NOMEM, "block workspace for %zu rows overflows", rows);
    if (mn_reserve(&s->ws, &s->ws_bytes, bytes) != MN_OK) return MN_E_NOMEM;
    float *p = s->ws;
    s->u = NULL;
    if (s->place == MN_BLOCK_NORM_PRE) { s->u = p; p += rows * I; }
    s->f = p;
    s->cap_rows = rows;
    return MN_OK;
}

static mn_status reserve_grads(block *s, size_t rows) {
    if (rows <= s->gcap_rows && s->gws) return MN_OK;
    size_t I = (size_t)s->base.in_size, O = (size_t)s->inner->out_size;
    size_t per_row, nf, nz, floats, bytes;
    layout(s->place, s->drop != NULL, I, O, &per_row, &nf, &nz);
    if (!mn_mul_size(rows, nf + nz, &floats) || !mn_mul_size(floats, sizeof(float), &bytes))
        return mn_fail(MN_E_NOMEM, "block gradients for %zu rows overflow", rows);
    if (bytes == 0) return MN_OK;
    if (mn_reserve(&s->gws, &s->gws_bytes, bytes) != MN_OK) return MN_E_NOMEM;
    s->gf = nf ? (float *)s->gws : NULL;
    s->gz = nz ? (float *)s->gws + rows * nf : NULL;
    s->gcap_rows = rows;
    return MN_OK;
}

static void block_init(mn_layer *l, mn_rng *rng, const mn_init_config *cfg) {
    block *s = (block *)l;
    bind(s);
    s->inner->ops->init(s->inner, rng, cfg);
    if (s->norm) s->norm->ops->init(s->norm, rng, cfg);
}

static void add(float *y, const float *x, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] += x[i];
}

static mn_status block_forward(mn_layer *l, const float *x, float *y, int T, int B,
                               const int32_t *lengths) {
    block *s = (block *)l;
    size_t rows = (size_t)T * B, nI = rows * l->in_size, nO = rows * l->out_size;
    mn_layer *f = s->inner;
    mn_status st;
    bind(s);
    if ((st = reserve(s, rows))) return st;
    const float *fin = x;
    if (s->place == MN_BLOCK_NORM_PRE) {
        if ((st = s->norm->ops->forward(s->norm, x, s->u, T, B, lengths))) return st;
        fin = s->u;
    }
    if ((st = f->ops->forward(f, fin, s->f, T, B, lengths))) return st;
    if (s->drop && (st = s->drop->ops->forward(s->drop, s->f, s->f, T, B, lengths))) return st;
    if (s->place == MN_BLOCK_NORM_POST) {
        if (s->residual) add(s->f, x, nI);          /* z = x + v, in place (O == I) */
        return s->norm->ops->forward(s->norm, s->f, y, T, B, lengths);
    }
    if (s->residual)
        for (size_t i = 0; i < nO; i++) y[i] = x[i] + s->f[i];
    else
        memcpy(y, s->f, nO * sizeof(float));
    return MN_OK;
}

static mn_status block_backward(mn_layer *l, const float *dy, float *dx, int T, int B,
                                const int32_t *lengths) {
    block *s = (block *)l;
    size_t rows = (size_t)T * B, nI = rows * l->in_size, nO = rows * l->out_size;
    mn_layer *f = s->inner;
    mn_status st;
    bind(s);
    if ((st = reserve_grads(s, rows))) return st;
    /* dv: the gradient at the dropout's output, v */
    const float *dv = dy;
    if (s->place == MN_BLOCK_NORM_POST) {
        memset(s->gz, 0, nO * sizeof(float));
        if ((st = s->norm->ops->backward(s->norm, dy, s->gz, T, B, lengths))) return st;
        dv = s->gz;
    }
    if (s->residual && dx) add(dx, dv, nI);
    const float *df = dv;
    if (s->drop) {
        memset(s->gf, 0, nO * sizeof(float));
        if ((st = s->drop->ops->backward(s->drop, dv, s->gf, T, B, lengths))) return st;
        df = s->gf;
    }
    if (s->place != MN_BLOCK_NORM_PRE) return f->ops->backward(f, df, dx, T, B, lengths);
    /* pre-norm: the norm's parameters need ∂/∂u even when the input needs no gradient */
    memset(s->gz, 0, nI * sizeof(float));
    if ((st = f->ops->backward(f, df, s->gz, T, B, lengths))) return st;
    return s->norm->ops->backward(s->norm, s->gz, dx, T, B, lengths);
}

/* The forward's arithmetic over one step, the inner layer stepped from its own state. */
static mn_status block_step(mn_layer *l, const float *x_t, float *y_t, int B, int t) {
    block *s = (block *)l;
    size_t nI = (size_t)B * l->in_size, nO = (size_t)B * l->out_size;
    mn_layer *f = s->inner;
    mn_status st;
    bind(s);
    if ((st = reserve(s, (size_t)B))) return st;
    const float *fin = x_t;
    if (s->place == MN_BLOCK_NORM_PRE) {
        if ((st = s->norm->ops->forward(s->norm, x_t, s->u, 1, B, NULL))) return st;
        fin = s->u;
    }
    if ((st = mn_layer_step(f, fin, s->f, B, t))) return st;
    if (s->drop && (st = s->drop->ops->forward(s->drop, s->f, s->f, 1, B, NULL))) return st;
    if (s->place == MN_BLOCK_NORM_POST) {
        if (s->residual) add(s->f, x_t, nI);
        return s->norm->ops->forward(s->norm, s->f, y_t, 1, B, NULL);
    }
    if (s->residual)
        for (size_t i = 0; i < nO; i++) y_t[i] = x_t[i] + s->f[i];
    else
        memcpy(y_t, s->f, nO * sizeof(float));
    return MN_OK;
}

/* ------------------------------------------------ delegated to the inner layer */

static void block_reset(mn_layer *l) {
    mn_layer *f = ((block *)l)->inner;
    mn_layer_reset(f);
}

/* Without a carry_state of its own the inner layer starts from zero, as the model does
 * for such a layer. */
static mn_status block_carry(mn_layer *l) {
    mn_layer *f = ((block *)l)->inner;
    if (f->ops->carry_state) return f->ops->carry_state(f);
    mn_layer_reset(f);
    return MN_OK;
}

static int block_state(mn_layer *l, mn_state_view v[2]) {
    mn_layer *f = ((block *)l)->inner;
    return mn_layer_state(f, v);
}

static int block_inspect(mn_layer *l, mn_recurrent_view *v) {
    mn_layer *f = ((block *)l)->inner;
    return f->ops->inspect ? f->ops->inspect(f, v) : 0;
}

static int block_attention(mn_layer *l, mn_attention_view *v) {
    mn_layer *f = ((block *)l)->inner;
    return f->ops->attention ? f->ops->attention(f, v) : 0;
}

static mn_status block_set_memory(mn_layer *l, const float *mem, int S, int B,
                                  const int32_t *mem_lengths, float *dmem) {
    mn_layer *f = ((block *)l)->inner;
    if (!f->ops->set_memory)
        return mn_fail(MN_E_ARG, "a %s block reads no memory (only cross-attention does)",
                       f->ops->kind);
    return f->ops->set_memory(f, mem, S, B, mem_lengths, dmem);
}

static void block_step_vjp(mn_layer *l, int t, int b, float *u_h, float *u_c) {
    mn_layer *f = ((block *)l)->inner;
    if (f->ops->step_vjp) f->ops->step_vjp(f, t, b, u_h, u_c);
}

/* The block's dropout gets a seed of its own, so that an inner layer with dropout of its
 * own on the same seed does not draw the same mask. */
static void block_set_mode(mn_layer *l, int training, uint64_t seed) {
    block *s = (block *)l;
    if (s->inner->ops->set_mode) s->inner->ops->set_mode(s->inner, training, seed);
    if (s->drop) s->drop->ops->set_mode(s->drop, training, seed ^ 0xd1b54a32d192ed03ULL);
}

static size_t block_bytes(const mn_layer *l) {
    const block *s = (const block *)l;
    size_t n = s->ws_bytes + s->gws_bytes + mn_layer_bytes(s->inner);
    if (s->norm) n += mn_layer_bytes(s->norm);
    if (s->drop) n += mn_layer_bytes(s->drop);
    return n;
}

static void block_destroy(mn_layer *l) {
    block *s = (block *)l;
    mn_layer_destroy(s->inner);
    mn_layer_destroy(s->norm);
    mn_layer_destroy(s->drop);
    mn_release(s->ws);
    mn_release(s->gws);
    mn_release(s);
}

static const mn_layer_ops block_ops = {
    .kind = "block",
    .init = block_init,
    .forward = block_forward,
    .backward = block_backward,
    .reset_state = block_reset,
    .carry_state = block_carry,
    .state = block_state,
    .activation_bytes = block_bytes,
    .destroy = block_destroy,
    .inspect = block_inspect,
    .step_vjp = block_step_vjp,
    .set_mode = block_set_mode,
    .attention = block_attention,
    .set_memory = block_set_memory,
    .step = block_step,
};

mn_layer *mn_block_create(mn_layer *inner, const mn_block_wrap *w) {
    if (!inner) return NULL;
    block *s = NULL;
    int I = inner->in_size, O = inner->out_size;
    if (!w) {
        mn_fail(MN_E_ARG, "block: no wrap options given");
        goto fail;
    }
    if (w->residual && O != I) {
        mn_fail(MN_E_ARG, "block: a residual connection adds the input (width %d) to the "
                "%s layer's output (width %d); make the widths equal or turn the residual "
                "off", I, inner->ops->kind, O);
        goto fail;
    }
    if (w->norm != MN_BLOCK_NORM_NONE && w->norm != MN_BLOCK_NORM_PRE &&
        w->norm != MN_BLOCK_NORM_POST) {
        mn_fail(MN_E_ARG, "block: norm placement %d: use none, pre or post", (int)w->norm);
        goto fail;
    }
    if (w->norm != MN_BLOCK_NORM_NONE && w->norm_kind != MN_BLOCK_LAYERNORM &&
        w->norm_kind != MN_BLOCK_RMSNORM) {
        mn_fail(MN_E_ARG, "block: norm kind %d: use layernorm or rmsnorm", (int)w->norm_kind);
        goto fail;
    }
    if (!(w->dropout >= 0.0f && w->dropout < 1.0f)) {
        mn_fail(MN_E_ARG, "block: dropout %g: it must be in [0, 1) (0 turns it off)",
                (double)w->dropout);
        goto fail;
    }
    s = mn_alloc_zero(sizeof *s);
    if (!s) goto fail;
    s->inner = inner;
    s->residual = w->residual != 0;
    s->place = w->norm;
    if (w->norm != MN_BLOCK_NORM_NONE) {
        int width = w->norm == MN_BLOCK_NORM_PRE ? I : O;
        s->norm = w->norm_kind == MN_BLOCK_RMSNORM ? mn_rmsnorm_create(width, w->eps)
                                                   : mn_layernorm_create(width, w->eps);
        if (!s->norm) goto fail;
    }
    if (w->dropout > 0.0f && !(s->drop = mn_dropout_create(O, w->dropout))) goto fail;
    int nspecs = inner->nspecs + (s->norm ? s->norm->nspecs : 0);
    if (nspecs > MN_MAX_SPECS) {
        mn_fail(MN_E_ARG, "block: the %s layer and its norm have %d parameter tensors, more "
                "than MN_MAX_SPECS (%d)", inner->ops->kind, nspecs, MN_MAX_SPECS);
        goto fail;
    }
    s->base.ops = &block_ops;
    s->base.in_size = I;
    s->base.out_size = O;
    for (int i = 0; i < inner->nspecs; i++) s->base.specs[s->base.nspecs++] = inner->specs[i];
    s->base.param_count = inner->param_count;
    for (int i = 0; s->norm && i < s->norm->nspecs; i++) {
        mn_param_spec sp = s->norm->specs[i];
        snprintf(sp.name, sizeof sp.name, "norm.%s", s->norm->specs[i].name);
        sp.offset += inner->param_count;
        s->base.specs[s->base.nspecs++] = sp;
    }
    if (s->norm) s->base.param_count += s->norm->param_count;
    return &s->base;
fail:
    if (s) {
        s->inner = NULL;      /* freed below, once */
        block_destroy(&s->base);
    }
    mn_layer_destroy(inner);
    return NULL;
}

mn_layer *mn_block_inner(mn_layer *l) {
    return l && l->ops == &block_ops ? ((block *)l)->inner : l;
}
