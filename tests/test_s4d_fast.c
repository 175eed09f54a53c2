/* S4D's fast path (src/layers/s4d.c: complex FFTs of sequence pairs and channel pairs,
 * float kernel sums in blocks) against its reference (s4d_ref.c: a real FFT per sequence
 * and channel, double sums at every step): outputs and every gradient, over odd batches,
 * partial channel blocks and lengths down to 1; the kernels and their gradients alone at
 * long lengths; the 8-column moves (tile8.c) against plain loops; NaN reach through the
 * pairs in backward and through a kernel pair. */
#include "test.h"
#include "layer_check.h"
#include "registry.h"
#include "s4d.h"
#include "tile8.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static mn_layer *make(int H, int N, mn_ssm_init init, uint64_t seed, float dt_scale) {
    mn_layer *l = mn_s4d_create(H, N, init);
    if (!l) return NULL;
    float *p = mn_check_alloc_params(l);
    mn_rng r;
    mn_rng_seed(&r, seed);
    mn_init_config ic = {MN_INIT_UNIFORM, 1.0f, 1.0f, 0};
    l->ops->init(l, &r, &ic);
    /* log_dt follows D and C: larger steps make every mode's decay show within T */
    for (int h = 0; h < H; h++) p[H + H * N + h] += logf(dt_scale);
    return l;
}

/* worst |a − b| over a tensor, relative to the tensor's largest |b| */
static double rel(const float *a, const float *b, size_t n) {
    double worst = 0, scale = 0;
    for (size_t i = 0; i < n; i++) {
        worst = fmax(worst, fabs((double)a[i] - b[i]));
        scale = fmax(scale, fabs((double)b[i]));
    }
    return scale > 0 ? worst / scale : worst;
}

TEST(s4d_fast_equals_reference) {
    static const struct { int H, N, T, B; mn_ssm_init init; float dt; } cases[] = {
        {20, 16, 700, 5, MN_SSM_INIT_LIN, 1.0f},     /* 3 blocks, the last of 4; odd B */
        {8, 64, 3000, 4, MN_SSM_INIT_INV, 10.0f},
        {3, 8, 37, 1, MN_SSM_INIT_REAL, 1.0f},       /* one sequence: no pair */
        {9, 4, 3, 2, MN_SSM_INIT_LIN, 1.0f},         /* FFT of 8 */
        {2, 2, 1, 3, MN_SSM_INIT_LIN, 1.0f},         /* FFT of 2 */
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        int H = cases[k].H, T = cases[k].T, B = cases[k].B;
        mn_layer *l = make(H, cases[k].N, cases[k].init, 40 + k, cases[k].dt);
        REQUIRE(l, "create: %s", mn_last_error());
        size_t nx = (size_t)T * B * H, np = l->param_count;
        float *x = malloc(nx * 4), *w = malloc(nx * 4), *y[2], *dx[2], *g[2];
        mn_rng r;
        mn_rng_seed(&r, 60 + k);
        mn_check_randomize(x, nx, &r, 1.0f);
        mn_check_randomize(w, nx, &r, 1.0f);
        for (int ref = 0; ref < 2; ref++) {
            y[ref] = malloc(nx * 4);
            dx[ref] = calloc(nx, 4);
            g[ref] = calloc(np, 4);
            mn_s4d_use_reference(l, ref);
            memset(l->grads, 0, np * 4);
            CHECK_OK(l->ops->forward(l, x, y[ref], T, B, NULL));
            CHECK_OK(l->ops->backward(l, w, dx[ref], T, B, NULL));
            memcpy(g[ref], l->grads, np * 4);
        }
        double ey = rel(y[0], y[1], nx), ex = rel(dx[0], dx[1], nx);
        CHECK(ey <= 2e-5 && ex <= 2e-5, "case %zu: y off by %.3g, dx by %.3g (relative)", k,
              ey, ex);
        for (int i = 0; i < l->nspecs; i++) {
            const mn_param_spec *sp = &l->specs[i];
            double e = rel(g[0] + sp->offset, g[1] + sp->offset, sp->size);
            CHECK(e <= 1e-4, "case %zu: grad %s off by %.3g (relative)", k, sp->name, e);
            if (getenv("MNEMO_GOLDEN_VERBOSE")) printf("    case %zu %s: %.3g\n", k, sp->name, e);
        }
        if (getenv("MNEMO_GOLDEN_VERBOSE")) printf("    case %zu y %.3g dx %.3g\n", k, ey, ex);
        for (int ref = 0; ref < 2; ref++) { free(y[ref]); free(dx[ref]); free(g[ref]); }
        free(x); free(w);
        mn_check_free_layer(l);
    }
}

/* The kernel and its gradients alone, at a length past many blocks and at the inits'
 * extremes of Δ. */
TEST(s4d_fast_kernel_equals_reference) {
    enum { T = 20000 };
    static const mn_ssm_init inits[] = {MN_SSM_INIT_LIN, MN_SSM_INIT_INV, MN_SSM_INIT_REAL};
    for (int i = 0; i < 3; i++)
        for (int big = 0; big < 2; big++) {
            int H = 3;
            mn_layer *l = make(H, 64, inits[i], 70 + i, big ? 50.0f : 1.0f);
            REQUIRE(l, "create: %s", mn_last_error());
            float *K = malloc((size_t)H * T * 4), *Kr = malloc((size_t)H * T * 4);
            CHECK_OK(mn_s4d_kernel(l, T, K));
            CHECK_OK(mn_s4d_kernel_reference(l, T, Kr));
            double e = rel(K, Kr, (size_t)H * T);
            CHECK(e <= 2e-6, "init %d, Δ×%d: kernel off by %.3g of its scale", (int)inits[i],
                  big ? 50 : 1, e);
            free(K); free(Kr);
            mn_check_free_layer(l);
        }
}

TEST(s4d_tile8_moves_match_plain_loops) {
    enum { T = 29, LD = 13, LC = 40 };
    float rows[T * LD], cols[8 * LC], back[2][T * LD], chk[2][8];
    mn_rng r;
    mn_rng_seed(&r, 80);
    mn_check_randomize(rows, T * LD, &r, 1.0f);
    rows[7 * LD + 3] = INFINITY;
    for (int portable = 0; portable < 2; portable++) {
        mn_tile8_use_portable(portable);
        memset(cols, 0, sizeof cols);
        for (int c = 0; c < 8; c++) chk[portable][c] = 0;
        mn_tile8_to_cols(rows, LD, T, cols, LC, chk[portable]);
        int bad = 0;
        for (int t = 0; t < T; t++)
            for (int c = 0; c < 8; c++) bad += memcmp(&cols[c * LC + t], &rows[t * LD + c], 4) != 0;
        CHECK(bad == 0, "portable=%d: %d elements misplaced", portable, bad);
        for (int c = 0; c < 8; c++)
            CHECK(isnan(chk[portable][c]) == (c == 3), "portable=%d: check of column %d %g",
                  portable, c, chk[portable][c]);
        for (int i = 0; i < T * LD; i++) back[portable][i] = 0.5f;
        mn_tile8_to_rows(cols, LC, T, back[portable], LD, 1);
        for (int t = 0; t < T; t++)
            for (int c = 0; c < 8; c++)
                bad += back[portable][t * LD + c] !=
                       (t == 7 && c == 3 ? INFINITY : 0.5f + rows[t * LD + c]);
        CHECK(bad == 0, "portable=%d: rows back wrong", portable);
    }
    mn_tile8_use_portable(0);
    CHECK(!memcmp(back[0], back[1], sizeof back[0]), "AVX2 and portable moves differ");
}

/* A NaN in dy reaches the gradient of its own sequence and channel (and its channel's
 * parameters, which sum over the batch), nothing else; a NaN parameter its channel only. */
TEST(s4d_fast_nan_through_pairs) {
    enum { T = 40, B = 4, H = 10 };
    mn_layer *l = make(H, 8, MN_SSM_INIT_LIN, 90, 1.0f);
    REQUIRE(l, "create: %s", mn_last_error());
    size_t n = (size_t)T * B * H;
    float *x = malloc(n * 4), *y = malloc(n * 4), *dy = malloc(n * 4), *dx = calloc(n, 4);
    mn_rng r;
    mn_rng_seed(&r, 91);
    mn_check_randomize(x, n, &r, 1.0f);
    mn_check_randomize(dy, n, &r, 1.0f);
    dy[(12 * B + 2) * H + 9] = NAN;                /* t = 12, sequence 2, channel 9 */
    CHECK_OK(l->ops->forward(l, x, y, T, B, NULL));
    CHECK_OK(l->ops->backward(l, dy, dx, T, B, NULL));
    int wrong = 0;
    for (int t = 0; t < T; t++)
        for (int b = 0; b < B; b++)
            for (int h = 0; h < H; h++) {
                float v = dx[(t * B + b) * H + h];
                if (b == 2 && h == 9 && t <= 12) wrong += !isnan(v);
                if (b != 2 || h != 9) wrong += !isfinite(v);
            }
    CHECK(wrong == 0, "%d elements of dx wrong", wrong);
    /* D of channel 4 NaN: its outputs NaN, its neighbour in the kernel pair (5) finite */
    l->params[4] = NAN;
    CHECK_OK(l->ops->forward(l, x, y, T, B, NULL));
    wrong = 0;
    for (size_t i = 0; i < n; i++) wrong += (i % H == 4) != (isnan(y[i]) != 0);
    CHECK(wrong == 0, "a NaN D: %d outputs wrong", wrong);
    free(x); free(y); free(dy); free(dx);
    mn_check_free_layer(l);
}
