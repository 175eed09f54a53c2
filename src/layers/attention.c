/* Multi-head self-attention, the layer (the kernel is src/math/attention.c):
 *   forward:  QKV[N,3D] = X·W_inᵀ + b_in  (N = T·B rows, one GEMM),
 *             RoPE on Q and K (optional), O = attention(Q, K, V) per head,
 *             Y[N,D] = O·W_outᵀ + b_out, padded rows of Y set to 0
 *   backward: dW_out += dYᵀ·O, db_out += Σ dY, dO = dY·W_out, (dQ, dK, dV) by the kernel,
 *             RoPE turned back on dQ, dK, dW_in += dQKVᵀ·X, db_in += Σ dQKV, dX += dQKV·W_in
 * Parameters as nn.MultiheadAttention's (batch_first=False takes the same [T,B,D]), so a
 * TransformerEncoderLayer's self_attn.* tensors load as they are.
 *
 * Padding: keys at t >= len_b never take part; outputs at t >= len_b are 0 (a recurrent
 * layer's rule), so the gradient ignores dY there. PyTorch's key_padding_mask gives such
 * rows the attention of a real query instead; the two agree on every real row.
 *
 * Memory: the forward keeps QKV, O and the per-row log-sum-exp L ([B,H,T]); backward
 * holds dQKV and dO; the kernel's packed operands are O(T·D) too (its scratch, shared by
 * both passes). Nothing is T×T. */
#include "attention.h"
#include "gemm.h"
#include "init.h"
#include "registry.h"

#include <limits.h>
#include <math.h>
#include <string.h>

typedef struct {
    mn_layer base;
    int D, H, dh, causal, rope;
    size_t o_win, o_bin, o_wout, o_bout;
    void *ws, *kws, *gws;                 /* forward's, the kernel's scratch, backward's */
    size_t ws_bytes, kws_bytes, gws_bytes;
    float *qkv, *o, *lse, *rot;           /* forward: [N,3D], [N,D], [B,H,T], [T,dh] */
    float *dqkv, *dout, *delta;           /* backward: [N,3D], [N,D], [B,H,T] */
    const float *x;                       /* input of the last forward (the caller's) */
    int T, B, have;
    /* streaming: keys and values of the steps so far, [cap,B,D] each */
    float *kc, *vc, *sbuf;                /* sbuf: qkv [B,3D], o [B,D], rot [dh], scores [cap] */
    size_t cap, row, sbuf_bytes;          /* cap steps of row = B·D floats */
    int steps, cache_B;
} attention;

/* Floats of each buffer for T steps of B sequences. */
typedef struct { size_t qkv, o, lse, rot, kf, kb; } sizes;

/* The layout, read by reserve, reserve_grads and the memory plan: forward QKV, O, L and
 * the RoPE table (cos, sin of each position and pair), the kernel's forward scratch;
 * backward dQKV, dO, the row sums D, and the kernel's scratch grown to its backward size.
 * 0 on overflow. */
static int layout(int D, int H, int rope, size_t T, size_t B, sizes *z, size_t *fwd_bytes,
                  size_t *bwd_bytes) {
    size_t rows, n, bh;
    if (T > (size_t)INT_MAX - 1024 || B > (size_t)INT_MAX || !mn_mul_size(T, B, &rows) ||
        rows > INT_MAX || !mn_mul_size(rows, (size_t)D, &n) || n > SIZE_MAX / 64 ||
        !mn_mul_size(B * (size_t)H, T, &bh))
        return 0;
    mn_attention_dims a = {.T = (int)T, .B = (int)B, .H = H, .dh = D / H};
    z->qkv = 3 * n;
    z->o = n;
    z->lse = bh;
    z->rot = rope ? T * (size_t)(D / H) : 0;
    z->kf = mn_attention_scratch_floats(&a, 0);
    z->kb = mn_attention_scratch_floats(&a, 1);
    size_t f = z->qkv + z->o + z->lse + z->rot + z->kf;
    size_t g = z->qkv + z->o + z->lse + (z->kb > z->kf ? z->kb - z->kf : 0);
    return mn_mul_size(f, sizeof(float), fwd_bytes) && mn_mul_size(g, sizeof(float), bwd_bytes);
}

static mn_status reserve(attention *s, int T, int B) {
    sizes z;
    size_t fb, gb;
    if (!layout(s->D, s->H, s->rope, (size_t)T, (size_t)B, &z, &fb, &gb))
        return mn_fail(MN_E_NOMEM, "attention activations for %d steps of %d sequences "
                       "overflow", T, B);
    size_t own = (z.qkv + z.o + z.lse + z.rot) * sizeof(float);
    if (mn_reserve(&s->ws, &s->ws_bytes, own) != MN_OK ||
        mn_reserve(&s->kws, &s->kws_bytes, z.kf * sizeof(float)) != MN_OK)
        return MN_E_NOMEM;
    s->qkv = s->ws;
    s->o = s->qkv + z.qkv;
    s->lse = s->o + z.o;
    s->rot = s->rope ? s->lse + z.lse : NULL;
    return MN_OK;
}

static mn_status reserve_grads(attention *s, int T, int B) {
    sizes z;
    size_t fb, gb;
    if (!layout(s->D, s->H, s->rope, (size_t)T, (size_t)B, &z, &fb, &gb))
        return mn_fail(MN_E_NOMEM, "attention gradients for %d steps of %d sequences "
                       "overflow", T, B);
    if (s->kws_bytes < z.kb * sizeof(float)) {
        /* the forward's scratch holds nothing backward needs: let it go before the larger
         * one is taken, so the two are never held at once (the plan counts the growth) */
        mn_release(s->kws);
        s->kws = NULL;
        s->kws_bytes = 0;
    }
    if (mn_reserve(&s->gws, &s->gws_bytes, (z.qkv + z.o + z.lse) * sizeof(float)) != MN_OK ||
        mn_reserve(&s->kws, &s->kws_bytes, z.kb * sizeof(float)) != MN_OK)
        return MN_E_NOMEM;
    s->dqkv = s->gws;
    s->dout = s->dqkv + z.qkv;
    s->delta = s->dout + z.o;
    return MN_OK;
}

static void attn_init(mn_layer *l, mn_rng *rng, const mn_init_config *cfg) {
    (void)cfg;
    attention *s = (attention *)l;
    size_t D = (size_t)s->D;
    float *p = l->params;
    mn_attention_init_params(p + s->o_win, p + s->o_bin, p + s->o_wout, p + s->o_bout, D, rng);
}

void mn_attention_init_params(float *w_in, float *b_in, float *w_out, float *b_out, size_t D,
                              mn_rng *rng) {
    mn_init_uniform(w_in, 3 * D * D, sqrtf(6.0f / (float)(D + 3 * D)), rng);
    memset(b_in, 0, 3 * D * sizeof(float));
    mn_init_uniform(w_out, D * D, 1.0f / sqrtf((float)D), rng);
    memset(b_out, 0, D * sizeof(float));
}

/* cos and sin of t·10000^(−2i/dh) for t < T, i < dh/2, as [T][i][cos, sin] (double angles:
 * t·θ reaches 10⁴ rad and more at long T) */
static void rope_table(float *rot, int T, int dh, int t0) {
    for (int t = 0; t < T; t++)
        for (int i = 0; i < dh / 2; i++) {
            double ang = (double)(t0 + t) * pow(10000.0, -2.0 * i / dh);
            rot[((size_t)t * (dh / 2) + i) * 2] = (float)cos(ang);
            rot[((size_t)t * (dh / 2) + i) * 2 + 1] = (float)sin(ang);
        }
}

/* Rotates the pairs (2i, 2i+1) of every head of the q and k blocks of x[T,B,3D] (rows ld
 * apart) by +angle (back = 0) or −angle (back = 1: the transpose, for gradients). */
static void rope_apply(const attention *s, float *x, int T, int B, const float *rot, int back) {
    int D = s->D, dh = s->dh, half = dh / 2;
    float sign = back ? -1.0f : 1.0f;
    #pragma omp parallel for schedule(static) if ((size_t)T * B * D > 65536)
    for (int t = 0; t < T; t++) {
        const float *r = rot + (size_t)t * half * 2;
        for (int b = 0; b < B; b++)
            for (int blk = 0; blk < 2 * D; blk += dh) {   /* q heads, then k heads */
                float *v = x + ((size_t)t * B + b) * 3 * D + blk;
                for (int i = 0; i < half; i++) {
                    float c = r[2 * i], sn = sign * r[2 * i + 1], a = v[2 * i], e = v[2 * i + 1];
                    v[2 * i] = a * c - e * sn;
                    v[2 * i + 1] = a * sn + e * c;
                }
            }
    }
}

static mn_status check_pass(const attention *s, int T, int B, const int32_t *lengths,
                            size_t *rows) {
    mn_status st = mn_layer_rows(&s->base, T, B, rows);
    if (st) return st;
    if ((size_t)B * 3 * s->D > INT_MAX)
        return mn_fail(MN_E_ARG, "attention over %d sequences of width %d: a step's %zu "
                       "values exceed what a GEMM indexes; use a smaller batch", B, s->D,
                       (size_t)B * 3 * s->D);
    for (int b = 0; lengths && b < B; b++)
        if (lengths[b] < 1 || lengths[b] > T)
            return mn_fail(MN_E_ARG, "attention: sequence %d has length %d, outside [1, %d]",
                           b, (int)lengths[b], T);
    return MN_OK;
}

static mn_attention_dims dims(const attention *s, int T, int B, const int32_t *lengths) {
    return (mn_attention_dims){.T = T, .B = B, .H = s->H, .dh = s->dh, .causal = s->causal,
                               .lengths = lengths};
}

static mn_status attn_forward(mn_layer *l, const float *x, float *y, int T, int B,
                              const int32_t *lengths) {
    attention *s = (attention *)l;
    size_t rows;
    int D = s->D;
    mn_status st;
    s->have = 0;
    if ((st = check_pass(s, T, B, lengths, &rows)) || (st = reserve(s, T, B))) return st;
    const float *p = l->params;
    mn_affine(x, p + s->o_win, p + s->o_bin, s->qkv, rows, D, 3 * D);
    if (s->rope) {
        rope_table(s->rot, T, s->dh, 0);
        rope_apply(s, s->qkv, T, B, s->rot, 0);
    }
    mn_attention_dims a = dims(s, T, B, lengths);
    mn_attention_forward(&a, s->qkv, s->qkv + D, s->qkv + 2 * D, 3 * D, s->o, D, s->lse, s->kws);
    mn_affine(s->o, p + s->o_wout, p + s->o_bout, y, rows, D, D);
    for (int b = 0; lengths && b < B; b++)
        for (int t = lengths[b]; t < T; t++)
            memset(y + ((size_t)t * B + b) * D, 0, (size_t)D * sizeof(float));
    s->x = x;
    s->T = T;
    s->B = B;
    s->have = 1;
    return MN_OK;
}

static mn_status attn_backward(mn_layer *l, const float *dy, float *dx, int T, int B,
                               const int32_t *lengths) {
    attention *s = (attention *)l;
    size_t rows;
    int D = s->D;
    mn_status st;
    if (!s->have || T != s->T || B != s->B)
        return mn_fail(MN_E_STATE, "attention backward over %d steps of %d sequences without "
                       "a forward over the same: call forward first", T, B);
    if ((st = check_pass(s, T, B, lengths, &rows)) || (st = reserve_grads(s, T, B))) return st;
    const float *p = l->params;
    float *g = l->grads;
    /* padded outputs are constant 0: their dY counts for nothing (a masked copy in dQKV's
     * room, which the kernel's gradients overwrite only later) */
    const float *dym = dy;
    int padded = 0;
    for (int b = 0; lengths && b < B; b++) padded |= lengths[b] < T;
    if (padded) {
        float *m = s->dqkv;
        memcpy(m, dy, rows * D * sizeof(float));
        for (int b = 0; b < B; b++)
            for (int t = lengths[b]; t < T; t++) memset(m + ((size_t)t * B + b) * D, 0, (size_t)D * sizeof(float));
        dym = m;
    }
    int N = (int)rows;
    mn_sgemm(1, 0, D, D, N, 1.0f, dym, D, s->o, D, 1.0f, g + s->o_wout, D);   /* dW_out */
    mn_column_sums(dym, rows, D, g + s->o_bout);                               /* db_out */
    mn_sgemm(0, 0, N, D, D, 1.0f, dym, D, p + s->o_wout, D, 0.0f, s->dout, D);  /* dO */
    memset(s->dqkv, 0, rows * 3 * D * sizeof(float));
    mn_attention_dims a = dims(s, T, B, lengths);
    mn_attention_backward(&a, s->qkv, s->qkv + D, s->qkv + 2 * D, 3 * D, s->o, s->dout, D,
                          s->lse, s->dqkv, s->dqkv + D, s->dqkv + 2 * D, s->delta, s->kws);
    if (s->rope) rope_apply(s, s->dqkv, T, B, s->rot, 1);
    mn_sgemm(1, 0, 3 * D, D, N, 1.0f, s->dqkv, 3 * D, s->x, D, 1.0f, g + s->o_win, D);  /* dW_in */
    mn_column_sums(s->dqkv, rows, 3 * D, g + s->o_bin);                                 /* db_in */
    if (dx) mn_sgemm(0, 0, N, D, 3 * D, 1.0f, s->dqkv, 3 * D, p + s->o_win, D, 1.0f, dx, D);
    return MN_OK;
}

/* ------------------------------------------------------------ streaming */

static const mn_layer_ops attn_ops;

void mn_attention_cache_reset(mn_layer *l) {
    if (l && l->ops == &attn_ops) ((attention *)l)->steps = 0;
}

/* Room for step `steps` (the cache doubles, keeping what it holds). */
static mn_status grow_cache(attention *s, int B) {
    size_t need = (size_t)s->steps + 1, row = (size_t)B * s->D;
    if (row != s->row) {   /* a new batch after a reset: start over */
        mn_release(s->kc);
        mn_release(s->vc);
        s->kc = s->vc = NULL;
        s->cap = 0;
        s->row = row;
    }
    if (need > s->cap) {
        size_t cap = MN_MAX(16, 2 * s->cap);
        float *kc = mn_alloc(cap * row * sizeof(float)), *vc = mn_alloc(cap * row * sizeof(float));
        if (!kc || !vc) {
            mn_release(kc);
            mn_release(vc);
            return MN_E_NOMEM;
        }
        if (s->steps) {
            memcpy(kc, s->kc, (size_t)s->steps * row * sizeof(float));
            memcpy(vc, s->vc, (size_t)s->steps * row * sizeof(float));
        }
        mn_release(s->kc);
        mn_release(s->vc);
        s->kc = kc;
        s->vc = vc;
        s->cap = cap;
    }
    size_t bytes = (row * 4 + (size_t)s->dh + s->cap) * sizeof(float);
    return mn_reserve((void **)&s->sbuf, &s->sbuf_bytes, bytes);
}

mn_status mn_attention_step(mn_layer *l, const float *x_t, float *y_t, int B) {
    if (!l || l->ops != &attn_ops)
        return mn_fail(MN_E_ARG, "mn_attention_step needs an attention layer");
    attention *s = (attention *)l;
    if (!s->causal)
        return mn_fail(MN_E_ARG, "streaming needs causal attention: a bidirectional layer's "
                       "step t reads the steps after it, which have not come yet");
    if (B < 1 || (size_t)B * 3 * s->D > INT_MAX)
        return mn_fail(MN_E_ARG, "attention step over %d sequences: need 1 to %d", B,
                       INT_MAX / (3 * s->D));
    if (s->steps > 0 && B != s->cache_B)
        return mn_fail(MN_E_ARG, "attention step over %d sequences after %d steps of %d: reset "
                       "the cache (mn_attention_cache_reset) before changing the batch", B,
                       s->steps, s->cache_B);
    if (s->steps == INT_MAX) return mn_fail(MN_E_ARG, "attention cache full at %d steps", INT_MAX);
    mn_status st = grow_cache(s, B);
    if (st) return st;
    int D = s->D, dh = s->dh, t = s->steps;
    size_t row = (size_t)B * D;
    const float *p = l->params;
    float *qkv = s->sbuf, *o = qkv + 3 * row, *rot = o + row, *sc = rot + dh;
    mn_affine(x_t, p + s->o_win, p + s->o_bin, qkv, (size_t)B, D, 3 * D);
    if (s->rope) {
        rope_table(rot, 1, dh, t);
        rope_apply(s, qkv, 1, B, rot, 0);
    }
    for (int b = 0; b < B; b++) {
        memcpy(s->kc + (size_t)t * row + (size_t)b * D, qkv + (size_t)b * 3 * D + D, D * sizeof(float));
        memcpy(s->vc + (size_t)t * row + (size_t)b * D, qkv + (size_t)b * 3 * D + 2 * D, D * sizeof(float));
    }
    /* one query against t + 1 keys per (b, head): matrix-vector products, which packing
     * for the GEMM would only slow down */
    float scale = 1.0f / sqrtf((float)dh);
    for (int b = 0; b < B; b++)
        for (int h = 0; h < s->H; h++) {
            const float *q = qkv + (size_t)b * 3 * D + h * dh;
            float mx = -INFINITY, sum = 0.0f, *out = o + (size_t)b * D + h * dh;
            for (int u = 0; u <= t; u++) {
                const float *k = s->kc + (size_t)u * row + (size_t)b * D + h * dh;
                float v = 0.0f;
                for (int d = 0; d < dh; d++) v += q[d] * k[d];
                sc[u] = v * scale;
                if (sc[u] > mx || sc[u] != sc[u]) mx = sc[u];
            }
            for (int u = 0; u <= t; u++) sum += sc[u] = expf(sc[u] - mx);
            memset(out, 0, (size_t)dh * sizeof(float));
            for (int u = 0; u <= t; u++) {
                const float *v = s->vc + (size_t)u * row + (size_t)b * D + h * dh;
                float w = sc[u] / sum;
                for (int d = 0; d < dh; d++) out[d] += w * v[d];
            }
        }
    mn_affine(o, p + s->o_wout, p + s->o_bout, y_t, (size_t)B, D, D);
    s->cache_B = B;
    s->steps = t + 1;
    return MN_OK;
}

/* ------------------------------------------------------------ the layer */

static int attn_view(mn_layer *l, mn_attention_view *v) {
    attention *s = (attention *)l;
    if (!s->have) return 0;
    *v = (mn_attention_view){s->T, s->B, s->H, s->dh, s->causal, s->qkv, s->lse};
    return 1;
}

static size_t attn_bytes(const mn_layer *l) {
    const attention *s = (const attention *)l;
    return s->ws_bytes + s->kws_bytes + s->gws_bytes + s->sbuf_bytes +
           2 * s->cap * s->row * sizeof(float);
}

static void attn_destroy(mn_layer *l) {
    attention *s = (attention *)l;
    mn_release(s->ws);
    mn_release(s->kws);
    mn_release(s->gws);
    mn_release(s->kc);
    mn_release(s->vc);
    mn_release(s->sbuf);
    mn_release(s);
}

/* t = 0 starts a stream: an empty cache (the batch may change). The cache counts its
 * own steps, which are t once it started at 0. */
static mn_status attn_step_op(mn_layer *l, const float *x_t, float *y_t, int B, int t) {
    if (t == 0) mn_attention_cache_reset(l);
    return mn_attention_step(l, x_t, y_t, B);
}

static const mn_layer_ops attn_ops = {
    .kind = "attention",
    .init = attn_init,
    .forward = attn_forward,
    .backward = attn_backward,
    .activation_bytes = attn_bytes,
    .destroy = attn_destroy,
    .attention = attn_view,
    .step = attn_step_op,
};

mn_layer *mn_attention_create(int dim, int heads, int causal, int rope) {
    if (dim < 1 || heads < 1 || dim % heads) {
        mn_fail(MN_E_ARG, "attention over width %d with %d heads: the heads must divide the "
                "width (d_model = heads · head width)", dim, heads);
        return NULL;
    }
    if (rope && (dim / heads) % 2) {
        mn_fail(MN_E_ARG, "rope rotates pairs of a head's features, but width %d / %d heads "
                "gives an odd head width %d: choose heads so that it is even", dim, heads,
                dim / heads);
        return NULL;
    }
    if ((size_t)dim * 3 * dim > INT_MAX) {
        mn_fail(MN_E_ARG, "attention width %d: its projections exceed what a GEMM indexes", dim);
        return NULL;
    }
    attention *s = mn_alloc_zero(sizeof *s);
    if (!s) return NULL;
    s->base.ops = &attn_ops;
    s->base.in_size = s->base.out_size = dim;
    s->D = dim;
    s->H = heads;
    s->dh = dim / heads;
    s->causal = causal != 0;
    s->rope = rope != 0;
    s->o_win = mn_layer_add_param(&s->base, "self_attn.in_proj_weight", 2, (int[]){3 * dim, dim});
    s->o_bin = mn_layer_add_param(&s->base, "self_attn.in_proj_bias", 1, (int[]){3 * dim});
    s->o_wout = mn_layer_add_param(&s->base, "self_attn.out_proj.weight", 2, (int[]){dim, dim});
    s->o_bout = mn_layer_add_param(&s->base, "self_attn.out_proj.bias", 1, (int[]){dim});
    return &s->base;
}

/* ------------------------------------------------------------ registered kind
 * attention[:heads=H][:causal][:rope]: d_model = the block's input width, kept. */

static int attn_out_width(const mn_block_config *b, int in) { (void)b; return in; }
static mn_status attn_check(const mn_block_config *b, int in) {
    int heads = b->heads > 0 ? b->heads : 1;
    if (b->rope && (in / heads) % 2)
        return mn_fail(MN_E_ARG, "rope rotates pairs of a head's features, but width %d / %d "
                       "heads gives an odd head width %d: choose heads so that it is even", in,
                       heads, in / heads);
    return MN_OK;
}
static int heads_of(const mn_block_config *b) { return b->heads > 0 ? b->heads : 1; }
static mn_layer *attn_block(const mn_block_config *b, int in, int index) {
    (void)index;
    return mn_attention_create(in, heads_of(b), b->causal, b->rope);
}

/* The projections only, 4·D² per row: the attention itself adds about 2·T·D per row
 * (Q·Kᵀ and P·V over T keys; half of it under a causal mask), which depends on T, and
 * this count is per row without it. */
static double attn_macs(const mn_block_config *b, int in) {
    (void)b;
    return 4.0 * in * in;
}
static double attn_macs_pair(const mn_block_config *b, int in) {
    (void)b;
    return 2.0 * in;
}

/* In the order attn_forward and attn_backward allocate and multiply; the kernel's tile
 * products run on scratch it holds itself (no shared GEMM scratch). */
static void attn_plan(const mn_block_config *b, int in, size_t T, size_t B, mn_memory_plan *p) {
    sizes z;
    size_t fwd, bwd, rows = T * B, D = (size_t)in;
    if (in < 1 || in % heads_of(b) || !layout(in, heads_of(b), b->rope, T, B, &z, &fwd, &bwd)) {
        p->overflow = 1;
        return;
    }
    mn_plan_alloc(p, 0, fwd);
    mn_plan_gemm(p, 0, 0, rows, 3 * D, D);     /* in_proj */
    mn_plan_gemm(p, 0, 0, rows, D, D);         /* out_proj */
    mn_plan_alloc(p, 1, bwd);
    mn_plan_gemm(p, 1, 0, D, D, rows);         /* dW_out */
    mn_plan_gemm(p, 1, 0, rows, D, D);         /* dO */
    mn_plan_gemm(p, 1, 0, 3 * D, D, rows);     /* dW_in */
    mn_plan_gemm(p, 1, 1, rows, D, 3 * D);     /* dX */
}

const mn_layer_kind mn_kind_attention = {
    .name = "attention",
    .summary = "multi-head self-attention, nn.MultiheadAttention's (heads=H, causal, rope)",
    .cell = -1, .caps = MN_KIND_ATTENTION, .out_width = attn_out_width, .create = attn_block,
    .plan = attn_plan, .macs_per_row = attn_macs, .macs_per_pair = attn_macs_pair,
    .check = attn_check,
};
