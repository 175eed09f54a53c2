/* The attention kernel (src/math/attention.c) against its plain reference, its thread-count
 * determinism and NaN rules; the attention layer's gradients, streaming cache, memory,
 * and PyTorch golden fixtures (tools/gen_fixtures_attention.py). */
#include "test.h"
#include "attention.h"
#include "gemm.h"
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
    size_t nqkv, no, nl;
    float *qkv, *o, *lse, *dout, *dqkv, *scratch;
} kcase;

static void kcase_init(kcase *c, int T, int B, int H, int dh, int causal,
                       const int32_t *lengths, uint64_t seed) {
    memset(c, 0, sizeof *c);
    c->a = (mn_attention_dims){.T = T, .B = B, .H = H, .dh = dh, .causal = causal,
                               .lengths = lengths};
    c->D = H * dh;
    c->nqkv = (size_t)T * B * 3 * c->D;
    c->no = (size_t)T * B * c->D;
    c->nl = (size_t)B * H * T;
    c->qkv = malloc(c->nqkv * 4 + 4);
    c->dqkv = calloc(c->nqkv + 1, 4);
    c->o = malloc(c->no * 4 + 4);
    c->dout = malloc(c->no * 4 + 4);
    c->lse = malloc(c->nl * 4 + 4);
    mn_rng r;
    mn_rng_seed(&r, seed);
    mn_check_randomize(c->qkv, c->nqkv, &r, 1.5f);
    mn_check_randomize(c->dout, c->no, &r, 1.0f);
}

static void kcase_free(kcase *c) {
    free(c->qkv); free(c->dqkv); free(c->o); free(c->dout); free(c->lse); free(c->scratch);
}

static void run_forward(kcase *c) {
    free(c->scratch);
    c->scratch = malloc(mn_attention_scratch_floats(&c->a, 0) * 4 + 4);
    int D = c->D;
    mn_attention_forward(&c->a, c->qkv, c->qkv + D, c->qkv + 2 * D, 3 * D, c->o, D, c->lse,
                         c->scratch);
}

static void run_backward(kcase *c) {
    free(c->scratch);
    c->scratch = malloc(mn_attention_scratch_floats(&c->a, 1) * 4 + 4);
    float *delta = malloc(c->nl * 4 + 4);
    int D = c->D;
    mn_attention_backward(&c->a, c->qkv, c->qkv + D, c->qkv + 2 * D, 3 * D, c->o, c->dout, D,
                          c->lse, c->dqkv, c->dqkv + D, c->dqkv + 2 * D, delta, c->scratch);
    free(delta);
}

/* worst |got − ref| / max(|ref|, 1e-2·max|ref|), NaN-aware: NaN in one and not the other
 * is INFINITY */
static double rel_err(const float *got, const float *ref, size_t n) {
    double scale = 0, worst = 0;
    for (size_t i = 0; i < n; i++) if (isfinite(ref[i])) scale = fmax(scale, fabs(ref[i]));
    for (size_t i = 0; i < n; i++) {
        if (isnan(got[i]) || isnan(ref[i])) {
            if (isnan(got[i]) != isnan(ref[i])) return INFINITY;
            continue;
        }
        double e = fabs((double)got[i] - ref[i]) / fmax(fmax(fabs(ref[i]), 1e-2 * scale), DBL_MIN);
        if (e > worst) worst = e;
    }
    return worst;
}

/* Tiled forward and backward against the reference on one shape. */
static void check_kernel(int T, int B, int H, int dh, int causal, const int32_t *lengths,
                         uint64_t seed) {
    kcase c;
    kcase_init(&c, T, B, H, dh, causal, lengths, seed);
    float *o_ref = malloc(c.no * 4 + 4), *l_ref = malloc(c.nl * 4 + 4);
    float *g_ref = calloc(c.nqkv + 1, 4);
    int D = c.D;
    run_forward(&c);
    run_backward(&c);
    CHECK_OK(mn_attention_forward_ref(&c.a, c.qkv, c.qkv + D, c.qkv + 2 * D, 3 * D, o_ref, D,
                                      l_ref));
    CHECK_OK(mn_attention_backward_ref(&c.a, c.qkv, c.qkv + D, c.qkv + 2 * D, 3 * D, c.dout, D,
                                       g_ref, g_ref + D, g_ref + 2 * D));
    double eo = rel_err(c.o, o_ref, c.no), el = rel_err(c.lse, l_ref, c.nl);
    double eg = rel_err(c.dqkv, g_ref, c.nqkv);
    CHECK(eo < 1e-4 && el < 1e-5 && eg < 2e-4, "T=%d B=%d H=%d dh=%d causal=%d %s: relative "
          "error O %.3g, L %.3g, dQKV %.3g", T, B, H, dh, causal, lengths ? "ragged" : "full",
          eo, el, eg);
    if (getenv("MNEMO_ATTN_VERBOSE"))
        printf("    T=%d B=%d H=%d dh=%d causal=%d: O %.3g L %.3g dQKV %.3g\n", T, B, H, dh,
               causal, eo, el, eg);
    free(o_ref); free(l_ref); free(g_ref);
    kcase_free(&c);
}

TEST(attention_kernel_matches_reference) {
    /* tiles are 96 queries × 192 keys: one row past a tile, under two, several */
    static const int Ts[] = {1, 2, 7, 65, 97, 190, 300, 380};
    for (int i = 0; i < 8; i++)
        for (int causal = 0; causal < 2; causal++) {
            int T = Ts[i];
            check_kernel(T, 1, 1, 8, causal, NULL, 100 + i);
            check_kernel(T, 2, 2, 5, causal, NULL, 200 + i);
            int32_t len[3] = {T, MN_MAX(1, T / 2), 1};
            check_kernel(T, 3, 4, 16, causal, len, 300 + i);
        }
    /* the width the benchmarks use, over several tiles both ways */
    int32_t len[2] = {200, 131};
    check_kernel(200, 2, 2, 64, 1, len, 400);
    check_kernel(200, 2, 2, 64, 0, len, 401);
}

/* The packed layouts follow the GEMM kernel's MR and NR (portable 4×8, AVX2 6×16,
 * AVX-512 8×32): every kernel this CPU runs, at tile edges. */
TEST(attention_kernel_every_gemm_kernel) {
    static const char *kernels[] = {"portable", "avx2", "avx512"};
    for (int k = 0; k < 3; k++) {
        if (mn_gemm_use(kernels[k]) != MN_OK) continue;
        int32_t len[3] = {380, 193, 1};
        check_kernel(380, 3, 2, 12, 1, len, 500 + k);
        check_kernel(97, 1, 3, 8, 0, NULL, 510 + k);
        check_kernel(200, 2, 1, 64, 1, NULL, 520 + k);
    }
    mn_clear_error();
    CHECK_OK(mn_gemm_use(NULL));
}

/* 1 and 2 threads give the same bits: with B·H = 1 the backward takes its two-pass
 * schedule on 2 threads and its one-pass schedule on 1. */
TEST(attention_kernel_same_bits_on_1_and_2_threads) {
    struct { int T, B, H, dh, causal; } cases[] = {
        {300, 1, 1, 32, 1}, {300, 1, 1, 32, 0}, {257, 2, 2, 16, 1}, {130, 1, 3, 8, 0}};
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        int T = cases[k].T, B = cases[k].B;
        int32_t len[2] = {T, T - 100};
        const int32_t *lp = B == 2 ? len : NULL;
        kcase c1, c2;
        kcase_init(&c1, T, B, cases[k].H, cases[k].dh, cases[k].causal, lp, 50 + k);
        kcase_init(&c2, T, B, cases[k].H, cases[k].dh, cases[k].causal, lp, 50 + k);
        mn_set_threads(1);
        run_forward(&c1);
        run_backward(&c1);
        mn_set_threads(2);
        run_forward(&c2);
        run_backward(&c2);
        CHECK(!memcmp(c1.o, c2.o, c1.no * 4) && !memcmp(c1.lse, c2.lse, c1.nl * 4),
              "case %zu: forward differs between 1 and 2 threads", k);
        CHECK(!memcmp(c1.dqkv, c2.dqkv, c1.nqkv * 4), "case %zu: backward differs between 1 "
              "and 2 threads", k);
        kcase_free(&c1);
        kcase_free(&c2);
    }
    mn_set_threads(0);
}

/* A NaN in key u reaches exactly the query rows that see u (all of the head's outputs), one
 * in value u the same rows' outputs in that column; padded keys and query rows stay out
 * whatever the padding holds. */
TEST(attention_kernel_nan_reaches_only_rows_that_attend) {
    for (int causal = 0; causal < 2; causal++)
        for (int which = 1; which < 3; which++) {   /* 1: key, 2: value */
            int T = 150, H = 2, dh = 8, D = H * dh, u = 70;
            int32_t len[2] = {150, 100};
            kcase c;
            kcase_init(&c, T, 2, H, dh, causal, len, 7);
            c.qkv[((size_t)u * 2 + 0) * 3 * D + which * D + 3] = NAN;       /* b = 0, head 0 */
            c.qkv[((size_t)120 * 2 + 1) * 3 * D + which * D + 3] = NAN;     /* b = 1: padding */
            c.qkv[((size_t)130 * 2 + 1) * 3 * D + 0 * D + 1] = NAN;         /* padded query */
            run_forward(&c);
            float *ref = malloc(c.no * 4);
            CHECK_OK(mn_attention_forward_ref(&c.a, c.qkv, c.qkv + D, c.qkv + 2 * D, 3 * D, ref, D,
                                              NULL));
            int bad = 0;
            for (int t = 0; t < T; t++)
                for (int b = 0; b < 2; b++)
                    for (int d = 0; d < D; d++) {
                        float y = c.o[((size_t)t * 2 + b) * D + d];
                        int expect_nan = b == 0 && d < dh && (which == 1 || d == 3) && (!causal || t >= u);
                        if ((isnan(y) != expect_nan || isnan(ref[((size_t)t * 2 + b) * D + d]) !=
                             expect_nan) && bad++ < 3)
                            mn_test_fail(__FILE__, __LINE__, "causal=%d %s NaN: O[t=%d,b=%d,%d] "
                                         "= %g, ref %g", causal, which == 1 ? "key" : "value",
                                         t, b, d, y, ref[((size_t)t * 2 + b) * D + d]);
                    }
            free(ref);
            kcase_free(&c);
        }
}

/* ------------------------------------------------------------ the layer */

static const int32_t ragged[3] = {5, 3, 1};

/* Finite differences of the layer (eps 1e-3: the softmax curves fast), parameters near
 * PyTorch's init plus noise. */
static void gradcheck(const char *what, int D, int H, int causal, int rope, int T, int B,
                      const int32_t *lengths, uint64_t seed) {
    mn_layer *l = mn_attention_create(D, H, causal, rope);
    REQUIRE(l, "%s: create: %s", what, mn_last_error());
    mn_check_layer_grads(what, l, T, B, lengths, MN_CHECK_NEAR_INIT, seed, 1e-3f);
    mn_layer_destroy(l);
}

TEST(attention_layer_gradients) {
    gradcheck("bidirectional h2", 4, 2, 0, 0, 5, 3, NULL, 1);
    gradcheck("bidirectional padded h2", 4, 2, 0, 0, 5, 3, ragged, 2);
    gradcheck("causal h1", 3, 1, 1, 0, 5, 3, NULL, 3);
    gradcheck("causal padded h4", 8, 4, 1, 0, 5, 3, ragged, 4);
    gradcheck("rope bidirectional padded h2", 4, 2, 0, 1, 5, 3, ragged, 5);
    gradcheck("rope causal h1", 4, 1, 1, 1, 6, 2, NULL, 6);
    /* across query and key tile boundaries (MN_ATTN_BQ, MN_ATTN_BK) */
    static const int32_t long_len[1] = {197};
    gradcheck("causal padded over two tiles", 2, 1, 1, 0, 200, 1, long_len, 7);
}

TEST(attention_layer_refuses_bad_shapes) {
    mn_clear_error();
    CHECK(!mn_attention_create(6, 4, 0, 0) && strstr(mn_last_error(), "divide"),
          "heads 4 on width 6 accepted or unexplained: %s", mn_last_error());
    CHECK(!mn_attention_create(6, 2, 1, 1) && strstr(mn_last_error(), "odd head width"),
          "rope with head width 3 accepted or unexplained: %s", mn_last_error());
    CHECK(!mn_attention_create(0, 1, 0, 0), "width 0 accepted");
    mn_layer *l = mn_attention_create(4, 2, 0, 0);
    REQUIRE(l, "create: %s", mn_last_error());
    mn_check_alloc_params(l);
    float x[4 * 2 * 4] = {0}, y[4 * 2 * 4];
    int32_t bad[2] = {4, 5};
    CHECK(l->ops->forward(l, x, y, 4, 2, bad) == MN_E_ARG, "length 5 > T = 4 accepted");
    CHECK(l->ops->backward(l, y, NULL, 4, 2, NULL) == MN_E_STATE, "backward without forward");
    CHECK_OK(l->ops->forward(l, x, y, 0, 2, NULL));     /* empty passes do nothing */
    CHECK_OK(l->ops->backward(l, y, x, 0, 2, NULL));
    CHECK_OK(l->ops->forward(l, x, y, 4, 0, NULL));
    CHECK_OK(l->ops->backward(l, y, x, 4, 0, NULL));
    float xt[4], yt[4];
    CHECK(mn_attention_step(l, xt, yt, 1) == MN_E_ARG && strstr(mn_last_error(), "causal"),
          "streaming a bidirectional layer: %s", mn_last_error());
    mn_check_free_layer(l);
}

/* Nothing but the registry builds it: a block's heads, causal and rope reach the layer. */
TEST(attention_registered_kind) {
    const mn_layer_kind *k = mn_layer_kind_find("attention");
    REQUIRE(k, "attention is not registered");
    CHECK(k->caps & MN_KIND_ATTENTION, "caps %u", k->caps);
    mn_block_config b = {.kind = "attention", .heads = 4, .causal = 1, .rope = 1};
    mn_layer *l = k->create(&b, 16, 0);
    REQUIRE(l, "create: %s", mn_last_error());
    CHECK(l->in_size == 16 && l->out_size == 16 && k->out_width(&b, 16) == 16, "widths");
    CHECK(l->param_count == 4 * 16 * 16 + 4 * 16, "%zu parameters", l->param_count);
    CHECK(!strcmp(l->specs[0].name, "self_attn.in_proj_weight") &&
          l->specs[0].shape[0] == 48 && l->specs[0].shape[1] == 16 &&
          !strcmp(l->specs[3].name, "self_attn.out_proj.bias"), "parameter names or shapes");
    CHECK(k->macs_per_row(&b, 16) == 4.0 * 16 * 16, "macs %g", k->macs_per_row(&b, 16));
    mn_layer_destroy(l);
    b.heads = 3;
    CHECK(!k->create(&b, 16, 0), "3 heads on width 16 accepted");
}

/* PyTorch's init: xavier_uniform_ on in_proj_weight, zero biases, out_proj U(±1/√D). */
TEST(attention_layer_init) {
    enum { D = 64 };
    mn_layer *l = mn_attention_create(D, 4, 0, 0);
    REQUIRE(l, "create: %s", mn_last_error());
    float *p = mn_check_alloc_params(l);
    for (size_t i = 0; i < l->param_count; i++) p[i] = NAN;
    mn_rng r;
    mn_rng_seed(&r, 3);
    mn_init_config ic = {MN_INIT_UNIFORM, 1.0f, 1.0f, 0};
    l->ops->init(l, &r, &ic);
    double bw = sqrt(6.0 / (4 * D)), bo = 1.0 / sqrt(D), mw = 0, mo = 0;
    int bad = 0;
    for (size_t i = 0; i < 3 * D * D; i++) { bad += !(fabs(p[i]) <= bw); mw = fmax(mw, fabs(p[i])); }
    for (size_t i = 0; i < 3 * D; i++) bad += p[3 * D * D + i] != 0.0f;
    float *wo = p + 3 * D * D + 3 * D;
    for (size_t i = 0; i < D * D; i++) { bad += !(fabs(wo[i]) <= bo); mo = fmax(mo, fabs(wo[i])); }
    for (size_t i = 0; i < D; i++) bad += wo[D * D + i] != 0.0f;
    CHECK(!bad, "%d parameters outside their init", bad);
    CHECK(mw > 0.95 * bw && mo > 0.95 * bo, "bounds not reached: %g of %g, %g of %g", mw, bw,
          mo, bo);
    mn_check_free_layer(l);
}

/* Streaming: T steps one at a time equal the full causal forward, with and without rope;
 * a reset starts again, a batch change without one is refused. */
TEST(attention_streaming_equals_full_forward) {
    enum { T = 40, B = 2, D = 8 };
    for (int rope = 0; rope < 2; rope++) {
        mn_layer *l = mn_attention_create(D, 2, 1, rope);
        REQUIRE(l, "create: %s", mn_last_error());
        float *p = mn_check_alloc_params(l);
        mn_rng r;
        mn_rng_seed(&r, 11 + rope);
        mn_check_randomize(p, l->param_count, &r, 0.5f);
        float x[T * B * D], y[T * B * D], ys[T * B * D];
        mn_check_randomize(x, T * B * D, &r, 1.5f);
        REQUIRE_OK(l->ops->forward(l, x, y, T, B, NULL));
        for (int pass = 0; pass < 2; pass++) {   /* the second after a reset */
            mn_attention_cache_reset(l);
            for (int t = 0; t < T; t++)
                REQUIRE_OK(mn_attention_step(l, x + (size_t)t * B * D, ys + (size_t)t * B * D, B));
            double worst = 0;
            for (int i = 0; i < T * B * D; i++)
                worst = fmax(worst, fabs(ys[i] - y[i]) / fmax(fabs(y[i]), 1.0));
            CHECK(worst <= 1e-5, "rope=%d pass %d: streaming differs from the full forward by "
                  "%.3g", rope, pass, worst);
        }
        float xt[D], yt[D];
        CHECK(mn_attention_step(l, xt, yt, 1) == MN_E_ARG, "batch changed without a reset");
        mn_attention_cache_reset(l);
        mn_check_randomize(xt, D, &r, 1.0f);
        CHECK_OK(mn_attention_step(l, xt, yt, 1));   /* one step: y = out_proj(v) */
        CHECK(mn_layer_bytes(l) > 0, "the cache is not counted");
        mn_check_free_layer(l);
    }
}

/* Forward and backward give the same bits on 1 and 2 threads. */
TEST(attention_layer_same_bits_on_1_and_2_threads) {
    enum { T = 150, B = 2, D = 16 };
    static const int32_t len[B] = {150, 77};
    float *out[2][3];
    for (int run = 0; run < 2; run++) {
        mn_set_threads(run + 1);
        mn_layer *l = mn_attention_create(D, 2, 1, 1);
        REQUIRE(l, "create: %s", mn_last_error());
        float *p = mn_check_alloc_params(l);
        mn_rng r;
        mn_rng_seed(&r, 21);
        mn_check_randomize(p, l->param_count, &r, 0.4f);
        float *x = malloc(T * B * D * 4), *w = malloc(T * B * D * 4);
        out[run][0] = malloc(T * B * D * 4);
        out[run][1] = calloc(T * B * D, 4);
        out[run][2] = malloc(l->param_count * 4);
        mn_check_randomize(x, T * B * D, &r, 1.0f);
        mn_check_randomize(w, T * B * D, &r, 1.0f);
        CHECK_OK(l->ops->forward(l, x, out[run][0], T, B, len));
        CHECK_OK(l->ops->backward(l, w, out[run][1], T, B, len));
        memcpy(out[run][2], l->grads, l->param_count * 4);
        size_t np = l->param_count;
        mn_check_free_layer(l);
        free(x); free(w);
        if (run == 1) {
            CHECK(!memcmp(out[0][0], out[1][0], T * B * D * 4), "y differs");
            CHECK(!memcmp(out[0][1], out[1][1], T * B * D * 4), "dx differs");
            CHECK(!memcmp(out[0][2], out[1][2], np * 4), "parameter gradients differ");
        }
    }
    mn_set_threads(0);
    for (int run = 0; run < 2; run++) for (int i = 0; i < 3; i++) free(out[run][i]);
}

/* Activation memory grows with T, not T²: held bytes after a training pass at T and 2T,
 * and the plan's allocations likewise. */
TEST(attention_memory_linear_in_length) {
    enum { B = 1, D = 64 };
    size_t held[2];
    const mn_layer_kind *k = mn_layer_kind_find("attention");
    mn_block_config bc = {.kind = "attention", .heads = 2, .causal = 1};
    for (int i = 0; i < 2; i++) {
        int T = 1024 << i;
        mn_layer *l = mn_attention_create(D, 2, 1, 0);
        REQUIRE(l, "create: %s", mn_last_error());
        float *p = mn_check_alloc_params(l);
        mn_rng r;
        mn_rng_seed(&r, 5);
        mn_check_randomize(p, l->param_count, &r, 0.2f);
        float *x = malloc((size_t)T * B * D * 4), *y = malloc((size_t)T * B * D * 4);
        mn_check_randomize(x, (size_t)T * B * D, &r, 1.0f);
        CHECK_OK(l->ops->forward(l, x, y, T, B, NULL));
        CHECK_OK(l->ops->backward(l, x, NULL, T, B, NULL));
        held[i] = mn_layer_bytes(l);
        mn_check_free_layer(l);
        free(x); free(y);
    }
    double ratio = (double)held[1] / (double)held[0];
    CHECK(ratio > 1.8 && ratio < 2.2, "held %zu bytes at T=1024, %zu at 2048: ratio %.2f, "
          "not about 2", held[0], held[1], ratio);
    size_t planned[2];
    for (int i = 0; i < 2; i++) {
        mn_memory_plan p = {0};
        k->plan(&bc, D, (size_t)16384 << i, 1, &p);
        planned[i] = 0;
        for (int e = 0; e < p.n; e++) planned[i] += p.ev[e].gemm ? 0 : p.ev[e].bytes;
        CHECK(!p.overflow, "plan overflowed");
    }
    ratio = (double)planned[1] / (double)planned[0];
    CHECK(ratio > 1.9 && ratio < 2.1, "planned %zu bytes at T=16384, %zu at 32768: ratio "
          "%.2f", planned[0], planned[1], ratio);
    /* and the plan is what the layer holds */
    CHECK(planned[0] > 0, "empty plan");
}

/* ------------------------------------------------------------ PyTorch golden files */

static void run_golden(const char *fixture, double tol) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s.safetensors", mn_test_fixture_dir(), fixture);
    mn_st_file *f = NULL;
    REQUIRE_OK(mn_st_read(path, &f));
    const char *Ts = mn_st_meta(f, "T"), *Bs = mn_st_meta(f, "B"), *Ds = mn_st_meta(f, "dim"),
               *Hs = mn_st_meta(f, "heads"), *Cs = mn_st_meta(f, "causal"),
               *Rs = mn_st_meta(f, "rope");
    int T = Ts ? atoi(Ts) : 0, B = Bs ? atoi(Bs) : 0, D = Ds ? atoi(Ds) : 0,
        H = Hs ? atoi(Hs) : 0, causal = Cs ? atoi(Cs) : -1, rope = Rs ? atoi(Rs) : -1;
    const mn_st_tensor *x_t = mn_st_find(f, "x"), *w_t = mn_st_find(f, "w"),
                       *l_t = mn_st_find(f, "lengths");
    size_t n = (size_t)T * B * D;
    mn_layer *l = NULL;
    float *x = NULL, *w = NULL, *y = NULL, *dx = NULL;
    int32_t *len = NULL;
    if (T < 1 || B < 1 || D < 1 || H < 1 || causal < 0 || rope < 0 || !x_t || !w_t || !l_t ||
        x_t->numel != n || w_t->numel != n || l_t->numel != (size_t)B ||
        x_t->dtype != MN_ST_F32 || w_t->dtype != MN_ST_F32 || l_t->dtype != MN_ST_I32) {
        mn_test_fail(__FILE__, __LINE__, "%s: metadata or tensors inconsistent", fixture);
        goto out;
    }
    l = mn_attention_create(D, H, causal, rope);
    if (!l) {
        mn_test_fail(__FILE__, __LINE__, "%s: %s", fixture, mn_last_error());
        goto out;
    }
    mn_check_alloc_params(l);
    x = malloc(n * 4); w = malloc(n * 4); y = malloc(n * 4); dx = calloc(n, 4);
    len = malloc((size_t)B * 4);
    memcpy(x, x_t->data, n * 4);
    memcpy(w, w_t->data, n * 4);
    memcpy(len, l_t->data, (size_t)B * 4);
    if (mn_check_load_params(fixture, f, l) != 4) goto out;
    for (size_t i = 0; i < n; i++) y[i] = NAN;
    if (l->ops->forward(l, x, y, T, B, len) != MN_OK ||
        l->ops->backward(l, w, dx, T, B, len) != MN_OK) {
        mn_test_fail(__FILE__, __LINE__, "%s: %s", fixture, mn_last_error());
        goto out;
    }
    mn_check_against(fixture, "y", y, mn_st_find(f, "y"), n, 1e-5);
    mn_check_against(fixture, "grad.x", dx, mn_st_find(f, "grad.x"), n, tol);
    for (int i = 0; i < l->nspecs; i++) {
        const mn_param_spec *sp = &l->specs[i];
        char name[MN_NAME_MAX + 8];
        snprintf(name, sizeof name, "grad.%s", sp->name);
        mn_check_against(fixture, name, l->grads + sp->offset, mn_st_find(f, name), sp->size,
                         tol);
    }
out:
    mn_check_free_layer(l);
    free(x); free(w); free(y); free(dx); free(len);
    mn_st_free(f);
}

/* The golden measure (layer_check.h): y to 1e-5, gradients to 2e-4. float32 against
 * float64 through the fast exp (relative error < 1e-6); the gradient of the key bias is 0
 * in exact arithmetic (a softmax ignores a constant added to a row's scores), so its float
 * noise is judged against 1% of the whole bias gradient's scale: about 7e-5 here. */
TEST(attention_golden_bidirectional_padded_h4) { run_golden("attention_bidir_pad_h4", 2e-4); }
TEST(attention_golden_bidirectional_h1) { run_golden("attention_bidir_h1", 2e-4); }
TEST(attention_golden_causal_h1) { run_golden("attention_causal_h1", 2e-4); }
TEST(attention_golden_causal_padded_h4) { run_golden("attention_causal_pad_h4", 2e-4); }
TEST(attention_golden_rope_causal_padded_h2) { run_golden("attention_rope_causal_pad_h2", 2e-4); }

/* ------------------------------------------------------------ in a model */

/* The memory estimate (which replays the kind's plan) against the peak the allocation
 * counter measures, for one training step of a block model with attention, the second of
 * two runs (the first grows the process-wide GEMM scratch; see tests/test_memory.c). */
TEST(attention_memory_estimate_matches_peak) {
    static const char *specs[] = {"attention:heads=4:causal:residual:pre,linear:16",
                                  "linear:32,attention:heads=2:rope:causal"};
    for (int i = 0; i < 2; i++) {
        size_t peak = 0;
        mn_model_config c;
        for (int pass = 0; pass < 2; pass++) {
            mn_memory_reset_peak();
            size_t base = mn_memory_in_use();
            mn_task *t = NULL;
            mn_model *m = NULL;
            mn_trainer *tr = NULL;
            mn_model_config_init(&c);
            c.hidden_size = 32;
            mn_status st = mn_task_create("copy", 40, 3, &t);
            if (!st) {
                mn_task_configure_model(t, &c);
                st = mn_blocks_parse(specs[i], &c);
            }
            if (!st) st = mn_model_create(&c, 5, &m);
            mn_train_config tc;
            mn_train_config_init(&tc);
            tc.batch_size = 8;
            mn_step_stats ss;
            if (!st && !(st = mn_trainer_create(m, t, &tc, &tr))) st = mn_trainer_step(tr, &ss);
            peak = st ? 0 : mn_memory_peak() - base;
            CHECK(st == MN_OK, "%s: %s", specs[i], mn_last_error());
            CHECK(st || isfinite(ss.loss), "%s: loss %g", specs[i], ss.loss);
            mn_trainer_free(tr);
            mn_model_free(m);
            mn_task_free(t);
        }
        mn_task *t;
        REQUIRE_OK(mn_task_create("copy", 40, 1, &t));
        int steps = mn_task_get_info(t)->max_steps;
        mn_task_free(t);
        mn_memory_estimate e;
        REQUIRE_OK(mn_memory_estimate_run(&c, steps, 8, 1, &e));
        size_t est = e.total - e.scratch;
        double err = ((double)est - (double)peak) / (double)peak;
        printf("    %-50s estimate %9zu  measured %9zu  error %+.2f%%\n", specs[i], est, peak,
               100 * err);
        CHECK(peak > 0 && fabs(err) <= 0.10, "%s: estimate %zu is %.1f%% off the measured "
              "peak %zu", specs[i], est, 100 * err, peak);
    }
}
