/* Multi-head cross-attention (an encoder–decoder's "multihead_attn"), the layer; the kernel
 * is src/math/attention.c with a key length of its own:
 *   forward:  Q[N,D] = X·W_qᵀ + b_q               (N = T·B query rows: the decoder's)
 *             KV[M,2D] = Mem·W_kvᵀ + b_kv          (M = S·B memory rows: the encoder's)
 *             O = attention(Q, K, V) per head, keys masked by the memory's lengths,
 *             Y[N,D] = O·W_outᵀ + b_out, padded query rows of Y set to 0
 *   backward: dW_out += dYᵀ·O, db_out += Σ dY, dO = dY·W_out, (dQ, dK, dV) by the kernel,
 *             dW_q += dQᵀ·X, dW_kv += dKVᵀ·Mem, db_in += Σ (dQ, dKV), dX += dQ·W_q,
 *             dMem += dKV·W_kv
 * W_in = [W_q; W_kv] is nn.MultiheadAttention's in_proj_weight [3D,D] (rows q, k, v), named
 * as torch.nn.TransformerDecoderLayer names its cross-attention: multihead_attn.*, so such
 * a layer's tensors load as they are (query = x, key = value = memory,
 * memory_key_padding_mask = steps at or past the memory's lengths).
 *
 * The memory [S,B,D] comes from outside the layer's input: set it with the set_memory op
 * before each forward (the model passes its encoder's top output); backward then adds
 * ∂L/∂memory into the dmem given there. Without a memory set for a forward, the layer
 * attends over its own input (memory = x, S = T, masked by the same lengths, and dMem
 * joins dX): nn.MultiheadAttention(x, x, x), so the kind also runs on its own.
 *
 * Memory: forward keeps Q, KV, O and the per-row log-sum-exp; backward holds dQ, dKV, dO
 * and the row sums; the kernel's scratch grows from its forward to its backward size.
 * Nothing is T×S. */
#include "attention.h"
#include "gemm.h"
#include "init.h"
#include "registry.h"

#include <limits.h>
#include <math.h>
#include <string.h>

typedef struct {
    mn_layer base;
    int D, H, dh;
    size_t o_win, o_bin, o_wout, o_bout;
    void *ws, *kws, *gws;                 /* forward's, the kernel's scratch, backward's */
    size_t ws_bytes, kws_bytes, gws_bytes;
    float *q, *kv, *o, *lse;              /* forward: [N,D], [M,2D], [N,D], [B,H,T] */
    float *dq, *dkv, *dout, *delta;       /* backward: [N,D], [M,2D], [N,D], [B,H,T] */
    /* the memory the next forward reads (pending), and the one the last forward read */
    const float *pmem;
    const int32_t *plen;
    float *pdmem;
    int pS, pB, pending;
    const float *x, *mem;                 /* inputs of the last forward (the caller's) */
    const int32_t *mlen;
    float *dmem;
    int T, B, S, self, have;
} cross;

/* Floats of each buffer for T query steps and S memory steps of B sequences. */
typedef struct { size_t q, kv, o, lse, kf, kb; } sizes;

/* The layout, read by reserve, reserve_grads and the memory plan: forward Q, KV, O, L and
 * the kernel's forward scratch; backward dQ, dKV, dO, the row sums, and the kernel's
 * scratch grown to its backward size. 0 on overflow. */
static int layout(int D, int H, size_t T, size_t S, size_t B, sizes *z, size_t *fwd_bytes,
                  size_t *bwd_bytes) {
    size_t rows, mrows, n, m, bh;
    if (T > (size_t)INT_MAX - 1024 || S > (size_t)INT_MAX - 1024 || B > (size_t)INT_MAX ||
        !mn_mul_size(T, B, &rows) || rows > INT_MAX || !mn_mul_size(S, B, &mrows) ||
        mrows > INT_MAX || !mn_mul_size(rows, (size_t)D, &n) || n > SIZE_MAX / 64 ||
        !mn_mul_size(mrows, (size_t)D, &m) || m > SIZE_MAX / 64 ||
        !mn_mul_size(B * (size_t)H, T, &bh))
        return 0;
    mn_attention_dims a = {.T = (int)T, .B = (int)B, .H = H, .dh = D / H, .Tk = (int)S,
                           .ldk = 2 * D};
    z->q = n;
    z->kv = 2 * m;
    z->o = n;
    z->lse = bh;
    z->kf = mn_attention_scratch_floats(&a, 0);
    z->kb = mn_attention_scratch_floats(&a, 1);
    size_t f = z->q + z->kv + z->o + z->lse + z->kf;
    size_t g = z->q + z->kv + z->o + z->lse + (z->kb > z->kf ? z->kb - z->kf : 0);
    return mn_mul_size(f, sizeof(float), fwd_bytes) && mn_mul_size(g, sizeof(float), bwd_bytes);
}

static mn_status reserve(cross *s, int T, int S, int B) {
    sizes z;
    size_t fb, gb;
    if (!layout(s->D, s->H, (size_t)T, (size_t)S, (size_t)B, &z, &fb, &gb))
        return mn_fail(MN_E_NOMEM, "cross-attention activations for %d steps over %d memory "
                       "steps of %d sequences overflow", T, S, B);
    size_t own = (z.q + z.kv + z.o + z.lse) * sizeof(float);
    if (mn_reserve(&s->ws, &s->ws_bytes, own) != MN_OK ||
        mn_reserve(&s->kws, &s->kws_bytes, z.kf * sizeof(float)) != MN_OK)
        return MN_E_NOMEM;
    s->q = s->ws;
    s->kv = s->q + z.q;
    s->o = s->kv + z.kv;
    s->lse = s->o + z.o;
    return MN_OK;
}

static mn_status reserve_grads(cross *s, int T, int S, int B) {
    sizes z;
    size_t fb, gb;
    if (!layout(s->D, s->H, (size_t)T, (size_t)S, (size_t)B, &z, &fb, &gb))
        return mn_fail(MN_E_NOMEM, "cross-attention gradients for %d steps over %d memory "
                       "steps of %d sequences overflow", T, S, B);
    if (s->kws_bytes < z.kb * sizeof(float)) {
        /* the forward's scratch holds nothing backward needs (see attention.c) */
        mn_release(s->kws);
        s->kws = NULL;
        s->kws_bytes = 0;
    }
    if (mn_reserve(&s->gws, &s->gws_bytes, (z.q + z.kv + z.o + z.lse) * sizeof(float)) != MN_OK ||
        mn_reserve(&s->kws, &s->kws_bytes, z.kb * sizeof(float)) != MN_OK)
        return MN_E_NOMEM;
    s->dq = s->gws;
    s->dkv = s->dq + z.q;
    s->dout = s->dkv + z.kv;
    s->delta = s->dout + z.o;
    return MN_OK;
}

static void cross_init(mn_layer *l, mn_rng *rng, const mn_init_config *cfg) {
    (void)cfg;
    cross *s = (cross *)l;
    size_t D = (size_t)s->D;
    float *p = l->params;
    mn_attention_init_params(p + s->o_win, p + s->o_bin, p + s->o_wout, p + s->o_bout, D, rng);
}

static mn_status check_lengths(const char *what, const int32_t *lengths, int T, int B) {
    for (int b = 0; lengths && b < B; b++)
        if (lengths[b] < 1 || lengths[b] > T)
            return mn_fail(MN_E_ARG, "cross-attention: %s %d has length %d, outside [1, %d]",
                           what, b, (int)lengths[b], T);
    return MN_OK;
}

static mn_status cross_set_memory(mn_layer *l, const float *mem, int S, int B,
                                  const int32_t *mem_lengths, float *dmem) {
    cross *s = (cross *)l;
    if (!mem || S < 1 || B < 1)
        return mn_fail(MN_E_ARG, "cross-attention needs a memory of at least one step of one "
                       "sequence, got %s of %d steps of %d", mem ? "one" : "none", S, B);
    mn_status st = check_lengths("memory sequence", mem_lengths, S, B);
    if (st) return st;
    s->pmem = mem;
    s->plen = mem_lengths;
    s->pdmem = dmem;
    s->pS = S;
    s->pB = B;
    s->pending = 1;
    return MN_OK;
}

static mn_attention_dims dims(const cross *s, const int32_t *lengths) {
    return (mn_attention_dims){.T = s->T, .B = s->B, .H = s->H, .dh = s->dh, .lengths = lengths,
                               .Tk = s->S, .key_lengths = s->mlen, .ldk = 2 * s->D};
}

static mn_status cross_forward(mn_layer *l, const float *x, float *y, int T, int B,
                               const int32_t *lengths) {
    cross *s = (cross *)l;
    size_t rows, mrows;
    int D = s->D, pending = s->pending;
    mn_status st;
    s->have = 0;
    s->pending = 0;
    if ((st = mn_layer_rows(l, T, B, &rows)) || (st = check_lengths("sequence", lengths, T, B)))
        return st;
    if (pending && s->pB != B)
        return mn_fail(MN_E_ARG, "cross-attention over %d sequences with a memory of %d: "
                       "the decoder and the encoder must read the same batch", B, s->pB);
    if ((size_t)B * 3 * D > INT_MAX)
        return mn_fail(MN_E_ARG, "cross-attention over %d sequences of width %d: a step's "
                       "values exceed what a GEMM indexes; use a smaller batch", B, D);
    s->self = !pending;
    s->mem = pending ? s->pmem : x;
    s->mlen = pending ? s->plen : lengths;
    s->dmem = pending ? s->pdmem : NULL;
    s->S = pending ? s->pS : T;
    s->T = T;
    s->B = B;
    s->x = x;
    if (rows == 0) return MN_OK;
    mrows = (size_t)s->S * B;
    if (mrows > INT_MAX)
        return mn_fail(MN_E_ARG, "cross-attention over a memory of %d steps of %d sequences: "
                       "more rows than a GEMM indexes; use a smaller batch", s->S, B);
    if ((st = reserve(s, T, s->S, B))) return st;
    const float *p = l->params;
    mn_affine(x, p + s->o_win, p + s->o_bin, s->q, rows, D, D);
    mn_affine(s->mem, p + s->o_win + (size_t)D * D, p + s->o_bin + D, s->kv, mrows, D, 2 * D);
    mn_attention_dims a = dims(s, lengths);
    mn_attention_forward(&a, s->q, s->kv, s->kv + D, D, s->o, D, s->lse, s->kws);
    mn_affine(s->o, p + s->o_wout, p + s->o_bout, y, rows, D, D);
    for (int b = 0; lengths && b < B; b++)
        for (int t = lengths[b]; t < T; t++)
            memset(y + ((size_t)t * B + b) * D, 0, (size_t)D * sizeof(float));
    s->have = 1;
    return MN_OK;
}

static mn_status cross_backward(mn_layer *l, const float *dy, float *dx, int T, int B,
                                const int32_t *lengths) {
    cross *s = (cross *)l;
    size_t rows;
    int D = s->D;
    mn_status st;
    if ((st = mn_layer_rows(l, T, B, &rows))) return st;
    if (rows == 0) return MN_OK;
    if (!s->have || T != s->T || B != s->B)
        return mn_fail(MN_E_STATE, "cross-attention backward over %d steps of %d sequences "
                       "without a forward over the same: call forward first", T, B);
    if ((st = reserve_grads(s, T, s->S, B))) return st;
    size_t mrows = (size_t)s->S * B;
    const float *p = l->params;
    float *g = l->grads;
    /* padded outputs are constant 0: their dY counts for nothing (a masked copy in dQ's
     * room, which the kernel's gradients overwrite only later) */
    const float *dym = dy;
    int padded = 0;
    for (int b = 0; lengths && b < B; b++) padded |= lengths[b] < T;
    if (padded) {
        memcpy(s->dq, dy, rows * D * sizeof(float));
        for (int b = 0; b < B; b++)
            for (int t = lengths[b]; t < T; t++)
                memset(s->dq + ((size_t)t * B + b) * D, 0, (size_t)D * sizeof(float));
        dym = s->dq;
    }
    int N = (int)rows, M = (int)mrows;
    mn_sgemm(1, 0, D, D, N, 1.0f, dym, D, s->o, D, 1.0f, g + s->o_wout, D);   /* dW_out */
    mn_column_sums(dym, rows, D, g + s->o_bout);                               /* db_out */
    mn_sgemm(0, 0, N, D, D, 1.0f, dym, D, p + s->o_wout, D, 0.0f, s->dout, D);  /* dO */
    memset(s->dq, 0, rows * D * sizeof(float));
    memset(s->dkv, 0, mrows * 2 * D * sizeof(float));
    mn_attention_dims a = dims(s, lengths);
    mn_attention_backward(&a, s->q, s->kv, s->kv + D, D, s->o, s->dout, D, s->lse, s->dq,
                          s->dkv, s->dkv + D, s->delta, s->kws);
    size_t wkv = (size_t)D * D;
    mn_sgemm(1, 0, D, D, N, 1.0f, s->dq, D, s->x, D, 1.0f, g + s->o_win, D);                /* dW_q */
    mn_sgemm(1, 0, 2 * D, D, M, 1.0f, s->dkv, 2 * D, s->mem, D, 1.0f, g + s->o_win + wkv, D); /* dW_kv */
    mn_column_sums(s->dq, rows, D, g + s->o_bin);
    mn_column_sums(s->dkv, mrows, 2 * D, g + s->o_bin + D);
    if (dx) mn_sgemm(0, 0, N, D, D, 1.0f, s->dq, D, p + s->o_win, D, 1.0f, dx, D);
    /* the memory's gradient: into dmem, or with no memory set into dx (memory = x) */
    float *dmem = s->self ? dx : s->dmem;
    if (dmem) mn_sgemm(0, 0, M, D, 2 * D, 1.0f, s->dkv, 2 * D, p + s->o_win + wkv, D, 1.0f, dmem, D);
    return MN_OK;
}

/* ------------------------------------------------------------ the layer */

static size_t cross_bytes(const mn_layer *l) {
    const cross *s = (const cross *)l;
    return s->ws_bytes + s->kws_bytes + s->gws_bytes;
}

static void cross_destroy(mn_layer *l) {
    cross *s = (cross *)l;
    mn_release(s->ws);
    mn_release(s->kws);
    mn_release(s->gws);
    mn_release(s);
}

static const mn_layer_ops cross_ops = {
    .kind = "cross-attention",
    .init = cross_init,
    .forward = cross_forward,
    .backward = cross_backward,
    .activation_bytes = cross_bytes,
    .destroy = cross_destroy,
    .set_memory = cross_set_memory,
};

mn_layer *mn_cross_attention_create(int dim, int heads) {
    if (dim < 1 || heads < 1 || dim % heads) {
        mn_fail(MN_E_ARG, "cross-attention over width %d with %d heads: the heads must divide "
                "the width (d_model = heads · head width)", dim, heads);
        return NULL;
    }
    if ((size_t)dim * 3 * dim > INT_MAX) {
        mn_fail(MN_E_ARG, "cross-attention width %d: its projections exceed what a GEMM "
                "indexes", dim);
        return NULL;
    }
    cross *s = mn_alloc_zero(sizeof *s);
    if (!s) return NULL;
    s->base.ops = &cross_ops;
    s->base.in_size = s->base.out_size = dim;
    s->D = dim;
    s->H = heads;
    s->dh = dim / heads;
    s->o_win = mn_layer_add_param(&s->base, "multihead_attn.in_proj_weight", 2, (int[]){3 * dim, dim});
    s->o_bin = mn_layer_add_param(&s->base, "multihead_attn.in_proj_bias", 1, (int[]){3 * dim});
    s->o_wout = mn_layer_add_param(&s->base, "multihead_attn.out_proj.weight", 2, (int[]){dim, dim});
    s->o_bout = mn_layer_add_param(&s->base, "multihead_attn.out_proj.bias", 1, (int[]){dim});
    return &s->base;
}

/* ------------------------------------------------------------ registered kind
 * cross-attention[:heads=H]: d_model = the block's input width, kept; the memory (an
 * encoder's output) must have the same width. */

static int cross_out_width(const mn_block_config *b, int in) { (void)b; return in; }
static int heads_of(const mn_block_config *b) { return b->heads > 0 ? b->heads : 1; }
static mn_layer *cross_block(const mn_block_config *b, int in, int index) {
    (void)index;
    if (b->causal || b->rope) {
        mn_fail(MN_E_ARG, "cross-attention reads the whole memory (the encoder's output), so "
                "%s does not apply to it; drop it (the decoder's self-attention takes causal "
                "and rope)", b->causal ? "causal" : "rope");
        return NULL;
    }
    return mn_cross_attention_create(in, heads_of(b));
}

/* The projections, per query row: Q and the output 2·D², and K, V 2·D² per memory row,
 * counted here as if there were as many memory rows as query rows. */
static double cross_macs(const mn_block_config *b, int in) {
    (void)b;
    return 4.0 * in * in;
}

/* In the order cross_forward and cross_backward allocate and multiply, for a memory as
 * long as the queries (S = T: what the memory estimate assumes of a seq2seq model). */
static void cross_plan(const mn_block_config *b, int in, size_t T, size_t B, mn_memory_plan *p) {
    sizes z;
    size_t fwd, bwd, rows = T * B, D = (size_t)in;
    if (in < 1 || in % heads_of(b) || !layout(in, heads_of(b), T, T, B, &z, &fwd, &bwd)) {
        p->overflow = 1;
        return;
    }
    mn_plan_alloc(p, 0, fwd);
    mn_plan_gemm(p, 0, 0, rows, D, D);         /* Q */
    mn_plan_gemm(p, 0, 0, rows, 2 * D, D);     /* KV */
    mn_plan_gemm(p, 0, 0, rows, D, D);         /* out_proj */
    mn_plan_alloc(p, 1, bwd);
    mn_plan_gemm(p, 1, 0, D, D, rows);         /* dW_out */
    mn_plan_gemm(p, 1, 0, rows, D, D);         /* dO */
    mn_plan_gemm(p, 1, 0, D, D, rows);         /* dW_q */
    mn_plan_gemm(p, 1, 0, 2 * D, D, rows);     /* dW_kv */
    mn_plan_gemm(p, 1, 1, rows, D, D);         /* dX */
    /* dMemory: a decoder's blocks always pass their input's gradient on (to the token
     * embedding) and the encoder always wants it; on its own the layer forms it with dX */
    mn_plan_gemm(p, 1, 1, rows, D, 2 * D);
}

const mn_layer_kind mn_kind_cross_attention = {
    .name = "cross-attention",
    .summary = "multi-head attention over an encoder's output, a decoder's multihead_attn "
               "(heads=H; over its own input in a model without an encoder)",
    .cell = -1, .caps = MN_KIND_ATTENTION | MN_KIND_WHOLE_SEQUENCE | MN_KIND_MEMORY,
    .out_width = cross_out_width, .create = cross_block, .plan = cross_plan,
    .macs_per_row = cross_macs,
};
