/* Cross-attention: the kernel with a key length of its own (queries T, keys S) against its
 * plain reference, on 1 and 2 threads; the cross-attention layer's gradients with respect
 * to its input, its memory and its parameters; and PyTorch golden fixtures of
 * nn.MultiheadAttention(query = x, key = value = memory, key_padding_mask)
 * (tools/gen_fixtures_seq2seq.py). */
#include "test.h"
#include "attention.h"
#include "block.h"
#include "layer_check.h"
#include "registry.h"
#include "safetensors.h"

#include <float.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ kernel */

typedef struct {
    mn_attention_dims a;
    int D;
    size_t nq, nkv, nl;
    float *q, *kv, *o, *lse, *dout, *dq, *dkv;
} xcase;

static void xcase_init(xcase *c, int T, int S, int B, int H, int dh, const int32_t *qlen,
                       const int32_t *klen, uint64_t seed) {
    memset(c, 0, sizeof *c);
    c->D = H * dh;
    c->a = (mn_attention_dims){.T = T, .B = B, .H = H, .dh = dh, .lengths = qlen, .Tk = S,
                               .key_lengths = klen, .ldk = 2 * c->D};
    c->nq = (size_t)T * B * c->D;
    c->nkv = (size_t)S * B * 2 * c->D;
    c->nl = (size_t)B * H * T;
    c->q = malloc(c->nq * 4 + 4);
    c->kv = malloc(c->nkv * 4 + 4);
    c->o = malloc(c->nq * 4 + 4);
    c->dout = malloc(c->nq * 4 + 4);
    c->lse = malloc(c->nl * 4 + 4);
    c->dq = calloc(c->nq + 1, 4);
    c->dkv = calloc(c->nkv + 1, 4);
    mn_rng r;
    mn_rng_seed(&r, seed);
    mn_check_randomize(c->q, c->nq, &r, 1.5f);
    mn_check_randomize(c->kv, c->nkv, &r, 1.5f);
    mn_check_randomize(c->dout, c->nq, &r, 1.0f);
}

static void xcase_free(xcase *c) {
    free(c->q); free(c->kv); free(c->o); free(c->dout); free(c->lse); free(c->dq); free(c->dkv);
}

static void xcase_run(xcase *c) {
    int D = c->D;
    size_t fwd = mn_attention_scratch_floats(&c->a, 0), bwd = mn_attention_scratch_floats(&c->a, 1);
    float *scratch = malloc((fwd > bwd ? fwd : bwd) * 4 + 4), *delta = malloc(c->nl * 4 + 4);
    mn_attention_forward(&c->a, c->q, c->kv, c->kv + D, D, c->o, D, c->lse, scratch);
    mn_attention_backward(&c->a, c->q, c->kv, c->kv + D, D, c->o, c->dout, D, c->lse, c->dq,
                          c->dkv, c->dkv + D, delta, scratch);
    free(scratch);
    free(delta);
}

/* worst |got − ref| / max(|ref|, 1e-2·max|ref|, 1e-2): a gradient that is 0 exactly (one key)
 * comes out of float32 as rounding noise of the values it is made of */
static double rel_err(const float *got, const float *ref, size_t n) {
    double scale = 0, worst = 0;
    for (size_t i = 0; i < n; i++) scale = fmax(scale, fabs(ref[i]));
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)got[i] - ref[i]) / fmax(fmax(fabs(ref[i]), 1e-2 * scale), 1e-2);
        if (!(e <= worst)) worst = e;
    }
    return worst;
}

static void check_cross_kernel(int T, int S, int B, int H, int dh, const int32_t *qlen,
                               const int32_t *klen, uint64_t seed) {
    xcase c;
    xcase_init(&c, T, S, B, H, dh, qlen, klen, seed);
    int D = c.D;
    xcase_run(&c);
    float *o = malloc(c.nq * 4 + 4), *l = malloc(c.nl * 4 + 4);
    float *gq = calloc(c.nq + 1, 4), *gkv = calloc(c.nkv + 1, 4);
    CHECK_OK(mn_attention_forward_ref(&c.a, c.q, c.kv, c.kv + D, D, o, D, l));
    CHECK_OK(mn_attention_backward_ref(&c.a, c.q, c.kv, c.kv + D, D, c.dout, D, gq, gkv,
                                       gkv + D));
    double eo = rel_err(c.o, o, c.nq), el = rel_err(c.lse, l, c.nl);
    double eq = rel_err(c.dq, gq, c.nq), ek = rel_err(c.dkv, gkv, c.nkv);
    CHECK(eo < 1e-4 && el < 1e-5 && eq < 2e-4 && ek < 2e-4, "T=%d S=%d B=%d H=%d dh=%d %s: "
          "relative error O %.3g, L %.3g, dQ %.3g, dKV %.3g", T, S, B, H, dh,
          klen ? "ragged" : "full", eo, el, eq, ek);
    /* padded keys get no gradient, padded query rows neither output nor gradient */
    int bad = 0;
    for (int b = 0; b < B; b++) {
        for (int u = klen ? klen[b] : S; u < S; u++)
            for (int d = 0; d < 2 * D; d++) bad += c.dkv[((size_t)u * B + b) * 2 * D + d] != 0;
        for (int t = qlen ? qlen[b] : T; t < T; t++)
            for (int d = 0; d < D; d++)
                bad += c.o[((size_t)t * B + b) * D + d] != 0 || c.dq[((size_t)t * B + b) * D + d] != 0;
    }
    CHECK(!bad, "T=%d S=%d: %d padded values are not 0", T, S, bad);
    free(o); free(l); free(gq); free(gkv);
    xcase_free(&c);
}

TEST(cross_attention_kernel_matches_reference) {
    /* queries and keys on either side of the tiles (96 queries × 192 keys) */
    static const int Ts[] = {1, 3, 97, 200}, Ss[] = {1, 7, 193, 300};
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++) {
            int T = Ts[i], S = Ss[j];
            check_cross_kernel(T, S, 1, 1, 8, NULL, NULL, 10 + 4 * i + j);
            int32_t ql[3] = {T, MN_MAX(1, T / 2), 1}, kl[3] = {MN_MAX(1, S / 3), S, 1};
            check_cross_kernel(T, S, 3, 2, 6, ql, kl, 40 + 4 * i + j);
        }
    int32_t ql[2] = {150, 31}, kl[2] = {17, 250};
    check_cross_kernel(150, 250, 2, 4, 16, ql, kl, 90);
}

/* 1 and 2 threads give the same bits (the backward's two schedules included: B·H = 1 takes
 * the two-pass one on 2 threads). */
TEST(cross_attention_kernel_same_bits_on_1_and_2_threads) {
    static const struct { int T, S, B, H; } cases[] = {{130, 300, 1, 1}, {300, 50, 2, 2}};
    for (int k = 0; k < 2; k++) {
        int32_t ql[2] = {cases[k].T, cases[k].T / 2}, kl[2] = {cases[k].S - 3, cases[k].S};
        xcase c[2];
        for (int run = 0; run < 2; run++) {
            mn_set_threads(run + 1);
            xcase_init(&c[run], cases[k].T, cases[k].S, cases[k].B, cases[k].H, 16, ql, kl, 7 + k);
            xcase_run(&c[run]);
        }
        CHECK(!memcmp(c[0].o, c[1].o, c[0].nq * 4) && !memcmp(c[0].lse, c[1].lse, c[0].nl * 4),
              "case %d: forward differs between 1 and 2 threads", k);
        CHECK(!memcmp(c[0].dq, c[1].dq, c[0].nq * 4) && !memcmp(c[0].dkv, c[1].dkv, c[0].nkv * 4),
              "case %d: backward differs between 1 and 2 threads", k);
        xcase_free(&c[0]);
        xcase_free(&c[1]);
    }
    mn_set_threads(0);
}

/* ------------------------------------------------------------ the layer */

typedef struct {
    mn_layer *l;
    int T, S, B;
    const int32_t *qlen, *klen;
    float *x, *mem, *y, *w, *dx, *dmem;
} xharness;

static double xloss(xharness *h, int with_grads) {
    if (h->l->ops->set_memory(h->l, h->mem, h->S, h->B, h->klen, with_grads ? h->dmem : NULL))
        return NAN;
    if (h->l->ops->forward(h->l, h->x, h->y, h->T, h->B, h->qlen)) return NAN;
    double s = 0;
    for (size_t i = 0; i < (size_t)h->T * h->B * h->l->out_size; i++) s += (double)h->y[i] * h->w[i];
    return s;
}

/* Central differences (eps 1e-3) of Σ y·w in every parameter, input and memory value. */
static void check_cross_layer(const char *what, int D, int H, int T, int S, int B,
                              const int32_t *qlen, const int32_t *klen, int wrapped,
                              uint64_t seed) {
    mn_block_config bc = {.kind = "cross-attention", .heads = H, .residual = wrapped,
                          .norm = wrapped ? MN_NORM_PRE : MN_NORM_NONE};
    const mn_layer_kind *k = mn_layer_kind_find("cross-attention");
    REQUIRE(k, "cross-attention is not registered");
    mn_layer *inner = k->create(&bc, D, 0);
    REQUIRE(inner, "%s: %s", what, mn_last_error());
    mn_block_wrap wrap = {.residual = 1, .norm = MN_BLOCK_NORM_PRE, .eps = 1e-5f};
    mn_layer *l = wrapped ? mn_block_create(inner, &wrap) : inner;
    REQUIRE(l, "%s: %s", what, mn_last_error());
    float *p = mn_check_alloc_params(l), *g = l->grads;
    mn_rng r;
    mn_rng_seed(&r, seed);
    mn_init_config ic = {MN_INIT_UNIFORM, 1.0f, 1.0f, 0};
    l->ops->init(l, &r, &ic);
    for (size_t i = 0; i < l->param_count; i++) p[i] += mn_rng_uniform_range(&r, -0.4f, 0.4f);
    size_t nx = (size_t)T * B * D, nm = (size_t)S * B * D;
    xharness h = {l, T, S, B, qlen, klen, malloc(nx * 4), malloc(nm * 4), malloc(nx * 4),
                  malloc(nx * 4), calloc(nx, 4), calloc(nm, 4)};
    mn_check_randomize(h.x, nx, &r, 1.0f);
    mn_check_randomize(h.mem, nm, &r, 1.0f);
    mn_check_randomize(h.w, nx, &r, 1.0f);
    xloss(&h, 1);
    CHECK_OK(l->ops->backward(l, h.w, h.dx, T, B, qlen));
    const float eps = 1e-3f;
    int bad = 0;
    struct { const char *name; float *v, *grad; size_t n; } sets[3] = {
        {"param", p, g, l->param_count}, {"x", h.x, h.dx, nx}, {"memory", h.mem, h.dmem, nm}};
    for (int s = 0; s < 3; s++)
        for (size_t i = 0; i < sets[s].n && bad < 5; i++) {
            float keep = sets[s].v[i];
            sets[s].v[i] = keep + eps; double lp = xloss(&h, 0);
            sets[s].v[i] = keep - eps; double lm = xloss(&h, 0);
            sets[s].v[i] = keep;
            double num = (lp - lm) / (2 * eps);
            if (!mn_check_close(sets[s].grad[i], num) && bad++ < 5)
                mn_test_fail(__FILE__, __LINE__, "%s: d/d%s[%zu]: analytic %.6g, numeric %.6g",
                             what, sets[s].name, i, sets[s].grad[i], num);
        }
    free(h.x); free(h.mem); free(h.y); free(h.w); free(h.dx); free(h.dmem);
    mn_check_free_layer(l);
}

TEST(cross_attention_layer_gradients) {
    static const int32_t ql[3] = {4, 2, 1}, kl[3] = {3, 6, 1};
    check_cross_layer("h2 full", 4, 2, 4, 6, 3, NULL, NULL, 0, 1);
    check_cross_layer("h2 padded", 4, 2, 4, 6, 3, ql, kl, 0, 2);
    check_cross_layer("h1 one query, long memory", 3, 1, 1, 9, 2, NULL, NULL, 0, 3);
    check_cross_layer("h2 pre-norm residual block", 4, 2, 4, 6, 3, ql, kl, 1, 4);
}

TEST(cross_attention_layer_refusals) {
    const mn_layer_kind *k = mn_layer_kind_find("cross-attention");
    REQUIRE(k, "cross-attention is not registered");
    CHECK((k->caps & MN_KIND_MEMORY) && (k->caps & MN_KIND_WHOLE_SEQUENCE), "caps %u", k->caps);
    mn_block_config b = {.kind = "cross-attention", .causal = 1};
    mn_clear_error();
    CHECK(!k->create(&b, 4, 0) && strstr(mn_last_error(), "causal"), "causal accepted: %s",
          mn_last_error());
    b.causal = 0;
    b.heads = 3;
    CHECK(!k->create(&b, 4, 0), "3 heads on width 4 accepted");
    b.heads = 2;
    mn_layer *l = k->create(&b, 4, 0);
    REQUIRE(l, "create: %s", mn_last_error());
    CHECK(!strcmp(l->specs[0].name, "multihead_attn.in_proj_weight") &&
          l->specs[0].shape[0] == 12 && !strcmp(l->specs[3].name, "multihead_attn.out_proj.bias"),
          "parameter names");
    mn_check_alloc_params(l);
    float x[2 * 2 * 4] = {0}, y[2 * 2 * 4], mem[3 * 1 * 4] = {0};
    int32_t bad_len[1] = {4};
    CHECK(l->ops->set_memory(l, mem, 3, 1, bad_len, NULL) == MN_E_ARG, "memory length 4 > 3");
    CHECK_OK(l->ops->set_memory(l, mem, 3, 1, NULL, NULL));
    CHECK(l->ops->forward(l, x, y, 2, 2, NULL) == MN_E_ARG && strstr(mn_last_error(), "batch"),
          "a memory of 1 sequence for 2: %s", mn_last_error());
    CHECK(l->ops->backward(l, y, NULL, 2, 2, NULL) == MN_E_STATE, "backward without forward");
    mn_check_free_layer(l);
}

/* ------------------------------------------------------------ PyTorch */

static const char *const golden[] = {"cross_attention_pad_h4", "cross_attention_h1"};

TEST(cross_attention_golden_pytorch) {
    for (int i = 0; i < 2; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s.safetensors", mn_test_fixture_dir(), golden[i]);
        mn_st_file *f;
        REQUIRE_OK(mn_st_read(path, &f));
        int T = atoi(mn_st_meta(f, "T")), S = atoi(mn_st_meta(f, "S")), B = atoi(mn_st_meta(f, "B"));
        int D = atoi(mn_st_meta(f, "dim")), H = atoi(mn_st_meta(f, "heads"));
        mn_layer *l = mn_cross_attention_create(D, H);
        REQUIRE(l, "create: %s", mn_last_error());
        mn_check_alloc_params(l);
        CHECK(mn_check_load_params(golden[i], f, l) == 4, "%s: parameters", golden[i]);
        const mn_st_tensor *tx = mn_st_find(f, "x"), *tm = mn_st_find(f, "memory");
        const mn_st_tensor *tql = mn_st_find(f, "lengths"), *tkl = mn_st_find(f, "memory_lengths");
        const mn_st_tensor *tw = mn_st_find(f, "w");
        REQUIRE(tx && tm && tql && tkl && tw, "%s: inputs missing", golden[i]);
        size_t nx = (size_t)T * B * D, nm = (size_t)S * B * D;
        float *x = malloc(nx * 4), *mem = malloc(nm * 4), *w = malloc(nx * 4), *y = malloc(nx * 4);
        float *dx = calloc(nx, 4), *dmem = calloc(nm, 4);
        int32_t ql[16], kl[16];
        memcpy(x, tx->data, nx * 4);
        memcpy(mem, tm->data, nm * 4);
        memcpy(w, tw->data, nx * 4);
        memcpy(ql, tql->data, (size_t)B * 4);
        memcpy(kl, tkl->data, (size_t)B * 4);
        CHECK_OK(l->ops->set_memory(l, mem, S, B, kl, dmem));
        CHECK_OK(l->ops->forward(l, x, y, T, B, ql));
        CHECK_OK(l->ops->backward(l, w, dx, T, B, ql));
        mn_check_against(golden[i], "y", y, mn_st_find(f, "y"), nx, 1e-5);
        mn_check_against(golden[i], "grad.x", dx, mn_st_find(f, "grad.x"), nx, 1e-4);
        mn_check_against(golden[i], "grad.memory", dmem, mn_st_find(f, "grad.memory"), nm, 1e-4);
        for (int s = 0; s < l->nspecs; s++) {
            char name[96];
            snprintf(name, sizeof name, "grad.%s", l->specs[s].name);
            mn_check_against(golden[i], name, l->grads + l->specs[s].offset, mn_st_find(f, name),
                             l->specs[s].size, 1e-4);
        }
        free(x); free(mem); free(w); free(y); free(dx); free(dmem);
        mn_check_free_layer(l);
        mn_st_free(f);
    }
}
