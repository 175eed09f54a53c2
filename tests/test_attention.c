/* The attention kernel (src/math/attention.c) against its plain reference, its thread-count
 * determinism and NaN rules; the attention layer's gradients, streaming cache, memory,
 * and PyTorch golden fixtures (tools/gen_fixtures_attention.py). */
#include "test.h"
#include "attention.h"
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
    c->a = (mn_attention_dims){T, B, H, dh, causal, lengths};
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
    static const int Ts[] = {1, 2, 7, 65, 300};
    for (int i = 0; i < 5; i++)
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
