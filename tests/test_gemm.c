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
                                    {5, 70, 0}, {200, 64, 64}};
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
