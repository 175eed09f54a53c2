/* Every GEMM kernel against the reference triple loop, on odd shapes and all transposes. */
#include "test.h"
#include "gemm.h"
#include <stdlib.h>
#include <string.h>

static void fill(float *x, size_t n, mn_rng *r) {
    for (size_t i = 0; i < n; i++) x[i] = mn_rng_uniform_range(r, -1.0f, 1.0f);
}

static double max_rel(const float *a, const float *b, size_t n) {
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]) / (1.0 + fabs((double)b[i]));
        if (d > worst || d != d) worst = d;
    }
    return worst;
}

static void compare_kernel(const char *name) {
    static const int shapes[][3] = {{1, 1, 1}, {3, 5, 7}, {8, 32, 16}, {9, 33, 17},
                                    {32, 512, 128}, {65, 100, 300}, {130, 47, 513},
                                    {5, 70, 0}, {200, 64, 64},
                                    /* thin tiles: 1-4 leftover rows over whole panels */
                                    {1, 128, 64}, {2, 96, 300}, {3, 160, 40}, {4, 64, 9},
                                    {10, 256, 17}, {13, 200, 33}, {1, 140, 257},
                                    /* one row over 3 and 6 panels (4 at once, 2, 1) */
                                    {1, 48, 64}, {1, 96, 33}, {1, 224, 20}, {2, 48, 30}};
    mn_rng r;
    mn_rng_seed(&r, 7);
    if (mn_gemm_use(name) != MN_OK) { printf("    (kernel %s not supported here)\n", name); return; }
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++)
                for (int bi = 0; bi < 3; bi++) {
                    float beta = bi == 0 ? 0.0f : bi == 1 ? 1.0f : -0.5f, alpha = 0.75f;
                    int lda = (ta ? M : K) + 3, ldb = (tb ? K : N) + 1, ldc = N + 2;
                    size_t na = (size_t)(ta ? K : M) * lda + 1, nb = (size_t)(tb ? N : K) * ldb + 1;
                    size_t nc = (size_t)M * ldc;
                    float *A = malloc(na * 4), *B = malloc(nb * 4), *C = malloc(nc * 4), *R = malloc(nc * 4);
                    fill(A, na, &r); fill(B, nb, &r); fill(C, nc, &r);
                    memcpy(R, C, nc * 4);
                    mn_sgemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
                    mn_sgemm_ref(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, R, ldc);
                    double e = max_rel(C, R, nc);
                    CHECK(e < 1e-5, "kernel %s M=%d N=%d K=%d ta=%d tb=%d beta=%g: max rel err %g",
                          name, M, N, K, ta, tb, beta, e);
                    free(A); free(B); free(C); free(R);
                }
    }
    mn_gemm_use(NULL);
}

TEST(gemm_avx512_matches_reference) { compare_kernel("avx512"); }
TEST(gemm_avx2_matches_reference) { compare_kernel("avx2"); }
TEST(gemm_portable_matches_reference) { compare_kernel("portable"); }

/* A row of C must come out the same whether it was computed in a full tile, an edge
 * tile, a thin tile or alone: the recurrent layers split batch rows among threads and
 * promise results independent of the split. */
static void rows_independent_of_tiling(const char *name) {
    enum { M = 21, N = 160, K = 300 };
    static float A[M * K], B[N * K], C[M * N], R[N];
    mn_rng r;
    mn_rng_seed(&r, 11);
    if (mn_gemm_use(name) != MN_OK) { printf("    (kernel %s not supported here)\n", name); return; }
    fill(A, M * K, &r); fill(B, N * K, &r); fill(R, N, &r);
    mn_packed p = {0};
    REQUIRE_OK(mn_pack_b(&p, 1, K, N, B, K));
    static const int starts[][2] = {{0, 1}, {8, 1}, {20, 1}, {3, 2}, {16, 3}, {9, 4}, {1, 13}};
    for (size_t s = 0; s < sizeof starts / sizeof starts[0]; s++) {
        int i0 = starts[s][0], m = starts[s][1];
        static float Csub[M * N];
        for (int i = 0; i < m; i++) memcpy(Csub + i * N, R, sizeof R);
        mn_sgemm_packed_serial(0, m, 0.5f, A + i0 * K, K, &p, 1.0f, Csub, N);
        int same = 1;
        for (int i = 0; i < m; i++) {
            static float expect[N];
            memcpy(expect, R, sizeof R);
            mn_sgemm_packed_serial(0, 1, 0.5f, A + (i0 + i) * K, K, &p, 1.0f, expect, N);
            same &= memcmp(Csub + i * N, expect, sizeof expect) == 0;
        }
        CHECK(same, "kernel %s: rows %d..%d differ between a %d-row product and single rows",
              name, i0, i0 + m - 1, m);
    }
    /* and the full product's row 8 against the same row computed alone from the same C */
    static float alone[N];
    memcpy(alone, R, sizeof R);
    for (int i = 0; i < M; i++) memcpy(C + i * N, R, sizeof R);
    mn_sgemm_packed(0, M, 0.5f, A, K, &p, 1.0f, C, N);
    mn_sgemm_packed_serial(0, 1, 0.5f, A + 8 * K, K, &p, 1.0f, alone, N);
    CHECK(memcmp(C + 8 * N, alone, sizeof alone) == 0, "kernel %s: row 8 differs", name);
    mn_packed_free(&p);
    mn_gemm_use(NULL);
}

/* The shifted-A product (mn_sgemm_shifted) against its reference loop, and bit for bit
 * against mn_sgemm on the same op(A) written out (im2col): the gather fills the same panels.
 * Shifts back and forward past both ends, segments across a KC block (K = 320 > 256),
 * rows that leave partial panels, every beta. */
static void shifted_kernel(const char *name) {
    static const struct { int M, N, segs, width; long shift[5]; } cases[] = {
        {50, 64, 3, 64, {-16, -8, 0}}, {37, 20, 2, 7, {0, 5}}, {7, 33, 3, 9, {-9, 2, 40}},
        {200, 48, 5, 64, {-120, -60, 0, 3, 199}}, {1, 16, 2, 8, {0, -1}}, {13, 100, 1, 300, {4}}};
    mn_rng r;
    mn_rng_seed(&r, 11);
    if (mn_gemm_use(name) != MN_OK) { printf("    (kernel %s not supported here)\n", name); return; }
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        int M = cases[c].M, N = cases[c].N, w = cases[c].width, K = cases[c].segs * w;
        int lda = w + 3, rows = M + 2;                 /* A has rows past M: they are read */
        mn_shifted_a sa = {cases[c].segs, w, rows, cases[c].shift};
        for (int tb = 0; tb < 2; tb++)
            for (int bi = 0; bi < 3; bi++) {
                float beta = bi == 0 ? 0.0f : bi == 1 ? 1.0f : -0.5f, alpha = 0.75f;
                int ldb = (tb ? K : N) + 1;
                size_t na = (size_t)rows * lda, nb = (size_t)(tb ? N : K) * ldb, nc = (size_t)M * N;
                float *A = malloc(na * 4), *B = malloc(nb * 4), *C = malloc(nc * 4);
                float *R = malloc(nc * 4), *P = malloc(nc * 4), *X = malloc((size_t)M * K * 4);
                fill(A, na, &r); fill(B, nb, &r); fill(C, nc, &r);
                memcpy(R, C, nc * 4);
                memcpy(P, C, nc * 4);
                for (int i = 0; i < M; i++)               /* op(A) written out */
                    for (int k = 0; k < K; k++) {
                        long row = i + sa.shift[k / w];
                        X[(size_t)i * K + k] = row >= 0 && row < rows ? A[row * lda + k % w] : 0.0f;
                    }
                mn_sgemm_shifted(M, N, alpha, A, lda, &sa, tb, B, ldb, beta, C, N);
                mn_sgemm_shifted_ref(M, N, alpha, A, lda, &sa, tb, B, ldb, beta, R, N);
                mn_sgemm(0, tb, M, N, K, alpha, X, K, B, ldb, beta, P, N);
                double e = max_rel(C, R, nc);
                CHECK(e < 1e-5, "kernel %s case %zu tb=%d beta=%g: max rel err %g", name, c, tb,
                      beta, e);
                CHECK(M < 4 || !memcmp(C, P, nc * 4), "kernel %s case %zu tb=%d beta=%g: not "
                      "the bits of mn_sgemm on op(A) written out", name, c, tb, beta);
                free(A); free(B); free(C); free(R); free(P); free(X);
            }
    }
    mn_gemm_use(NULL);
}

TEST(gemm_avx512_shifted_matches_reference) { shifted_kernel("avx512"); }
TEST(gemm_avx2_shifted_matches_reference) { shifted_kernel("avx2"); }
TEST(gemm_portable_shifted_matches_reference) { shifted_kernel("portable"); }

TEST(gemm_avx512_rows_independent_of_tiling) { rows_independent_of_tiling("avx512"); }
TEST(gemm_avx2_rows_independent_of_tiling) { rows_independent_of_tiling("avx2"); }
TEST(gemm_portable_rows_independent_of_tiling) { rows_independent_of_tiling("portable"); }

/* Products over column views of a packed B (mn_packed_columns: a recurrent layer's threads
 * each take their units' gate columns) give every column the bits of the whole product:
 * one row (which the thin kernel reads in place) and a few, views of 1, 2 and 3 panels. */
static void columns_independent_of_split(const char *name) {
    enum { K = 70, MAXN = 7 * 32 };
    static float A[5 * K], B[MAXN * K], whole[5 * MAXN], parts[5 * MAXN];
    mn_rng r;
    mn_rng_seed(&r, 5);
    if (mn_gemm_use(name) != MN_OK) { printf("    (kernel %s not supported here)\n", name); return; }
    int nr = mn_gemm_nr(), N = 7 * nr;
    fill(A, 5 * K, &r); fill(B, (size_t)N * K, &r);
    mn_packed p = {0};
    REQUIRE_OK(mn_pack_b(&p, 1, K, N, B, K));
    static const int rows[] = {1, 2, 3, 4, 5};
    for (size_t m = 0; m < sizeof rows / sizeof rows[0]; m++)
        for (int w = 1; w <= 3; w++) {
            int M = rows[m];
            mn_sgemm_packed_serial(0, M, 0.5f, A, K, &p, 0.0f, whole, N);
            for (int c0 = 0; c0 < N; c0 += w * nr) {
                mn_packed v = mn_packed_columns(&p, c0, w * nr);
                mn_sgemm_packed_serial(0, M, 0.5f, A, K, &v, 0.0f, parts + c0, N);
            }
            CHECK(memcmp(whole, parts, sizeof(float) * M * N) == 0,
                  "kernel %s: %d rows over views of %d panels differ from the whole", name, M, w);
        }
    mn_packed_free(&p);
    mn_gemm_use(NULL);
}

TEST(gemm_avx512_columns_independent_of_split) { columns_independent_of_split("avx512"); }
TEST(gemm_avx2_columns_independent_of_split) { columns_independent_of_split("avx2"); }
TEST(gemm_portable_columns_independent_of_split) { columns_independent_of_split("portable"); }

TEST(gemm_beta_zero_ignores_nan_in_c) {
    float A[4] = {1, 2, 3, 4}, B[4] = {1, 0, 0, 1}, C[4] = {NAN, NAN, NAN, NAN};
    mn_sgemm(0, 0, 2, 2, 2, 1.0f, A, 2, B, 2, 0.0f, C, 2);
    CHECK(C[0] == 1 && C[1] == 2 && C[2] == 3 && C[3] == 4, "C = %g %g %g %g", C[0], C[1], C[2], C[3]);
}

TEST(gemm_packed_b_reused) {
    /* The recurrent layers pack W once and multiply many times: same result as unpacked. */
    mn_rng r;
    mn_rng_seed(&r, 3);
    int M = 17, N = 45, K = 29;
    float A[17 * 29], B[45 * 29], C1[17 * 45], C2[17 * 45];
    fill(A, sizeof A / 4, &r); fill(B, sizeof B / 4, &r);
    mn_packed p = {0};
    REQUIRE_OK(mn_pack_b(&p, 1, K, N, B, K));
    for (int rep = 0; rep < 3; rep++) {
        mn_sgemm_packed(0, M, 1.0f, A, K, &p, 0.0f, C1, N);
        mn_sgemm_ref(0, 1, M, N, K, 1.0f, A, K, B, K, 0.0f, C2, N);
        CHECK(max_rel(C1, C2, sizeof C1 / 4) < 1e-5, "packed product differs");
    }
    mn_packed_free(&p);
}

/* Packing op(B) = Bᵀ (8 × 8 transposes on AVX) gives the bytes of packing the same matrix
 * stored transposed (a row copy): odd K and N leave blocks for the scalar gather. */
TEST(gemm_pack_transposed_equals_pack_plain) {
    static const int shapes[][2] = {{64, 128}, {29, 45}, {8, 16}, {300, 70}, {1, 33}};
    mn_rng r;
    mn_rng_seed(&r, 11);
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int K = shapes[s][0], N = shapes[s][1], ldb = K + 3;
        float *B = malloc(sizeof(float) * N * ldb), *Bt = malloc(sizeof(float) * K * N);
        fill(B, (size_t)N * ldb, &r);
        for (int n = 0; n < N; n++)
            for (int k = 0; k < K; k++) Bt[(size_t)k * N + n] = B[(size_t)n * ldb + k];
        mn_packed p1 = {0}, p2 = {0};
        REQUIRE_OK(mn_pack_b(&p1, 1, K, N, B, ldb));
        REQUIRE_OK(mn_pack_b(&p2, 0, K, N, Bt, N));
        size_t n = (size_t)(N + p1.nr - 1) / p1.nr * p1.nr * K;
        CHECK(p1.nr == p2.nr && memcmp(p1.data, p2.data, n * sizeof(float)) == 0,
              "K=%d N=%d: packing Bᵀ differs from packing the transposed copy", K, N);
        mn_packed_free(&p1);
        mn_packed_free(&p2);
        free(B);
        free(Bt);
    }
}
