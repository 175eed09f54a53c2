/* mn_sample_logits: greedy at temperature 0, never outside the top k, the empirical
 * distribution of many draws against softmax(logits / T) computed here in double, the
 * same state giving the same draws, and the refusals. */
#include "test.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static float urand(uint64_t *s) {   /* a test-local generator, apart from the sampler's */
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((*s >> 40) * (1.0 / 16777216.0));
}

TEST(sample_temperature0_is_argmax) {
    uint64_t g = 3, rng = 5;
    float l[37];
    for (int trial = 0; trial < 200; trial++) {
        for (int i = 0; i < 37; i++) l[i] = 8 * urand(&g) - 4;
        int best = 0;
        for (int i = 1; i < 37; i++)
            if (l[i] > l[best]) best = i;
        int32_t got = -1;
        uint64_t before = rng;
        REQUIRE_OK(mn_sample_logits(l, 37, 0.0, trial % 5, &rng, &got));
        CHECK(got == best, "trial %d: greedy drew %d, argmax %d", trial, (int)got, best);
        CHECK(rng == before, "greedy moved the generator");
    }
    const float tie[4] = {1, 3, 3, 2};
    int32_t got = -1;
    CHECK_OK(mn_sample_logits(tie, 4, 0.0, 0, &rng, &got));
    CHECK(got == 1, "a tie goes to the first maximum, got %d", (int)got);
}

TEST(sample_top_k_never_outside_the_k_largest) {
    enum { N = 60 };
    uint64_t g = 11, rng = 1;
    float l[N];
    for (int trial = 0; trial < 40; trial++) {
        for (int i = 0; i < N; i++) l[i] = 2 * urand(&g);
        int k = 1 + trial % 9;
        for (int d = 0; d < 300; d++) {
            int32_t got = -1;
            REQUIRE_OK(mn_sample_logits(l, N, 2.0, k, &rng, &got));
            REQUIRE(got >= 0 && got < N, "drew %d", (int)got);
            int larger = 0;   /* the drawn logit's rank: how many are larger */
            for (int i = 0; i < N; i++) larger += l[i] > l[got];
            CHECK(larger < k, "top-%d drew index %d, with %d logits above it", k, (int)got,
                  larger);
        }
    }
    /* ties at the cut: the k are the first indices among equals */
    const float tie[5] = {0, 1, 1, 1, -1};
    int seen[5] = {0};
    for (int d = 0; d < 2000; d++) {
        int32_t got = -1;
        REQUIRE_OK(mn_sample_logits(tie, 5, 1.0, 2, &rng, &got));
        seen[got]++;
    }
    CHECK(seen[1] > 0 && seen[2] > 0 && seen[0] + seen[3] + seen[4] == 0,
          "top-2 of {0,1,1,1,-1}: counts %d %d %d %d %d (want only 1 and 2)", seen[0], seen[1],
          seen[2], seen[3], seen[4]);
}

/* draws counted against softmax(l / T) renormalized over the top k, within 5 standard
 * errors of each probability (plus a floor for the smallest) */
static void check_distribution(const float *l, int n, double T, int k, int draws) {
    double p[16], z = 0;
    int order[16];
    for (int i = 0; i < n; i++) order[i] = i;
    for (int i = 0; i < n; i++)   /* rank by value, ties by index */
        for (int j = i + 1; j < n; j++)
            if (l[order[j]] > l[order[i]]) {
                int t = order[i];
                order[i] = order[j];
                order[j] = t;
            }
    memset(p, 0, sizeof p);
    for (int r = 0; r < (k ? k : n); r++) z += p[order[r]] = exp(l[order[r]] / T);
    for (int i = 0; i < n; i++) p[i] /= z;
    int count[16] = {0};
    uint64_t rng = 77;
    for (int d = 0; d < draws; d++) {
        int32_t got = -1;
        REQUIRE_OK(mn_sample_logits(l, n, T, k, &rng, &got));
        count[got]++;
    }
    for (int i = 0; i < n; i++) {
        double f = (double)count[i] / draws, se = sqrt(p[i] * (1 - p[i]) / draws);
        CHECK(fabs(f - p[i]) <= 5 * se + 1e-4, "T %g k %d: class %d drawn %.5f, softmax %.5f",
              T, k, i, f, p[i]);
    }
}

TEST(sample_distribution_matches_softmax) {
    const float l[7] = {1.5f, -0.5f, 0.3f, 2.0f, -2.0f, 0.0f, 1.0f};
    check_distribution(l, 7, 1.0, 0, 200000);
    check_distribution(l, 7, 0.5, 0, 200000);
    check_distribution(l, 7, 2.5, 0, 200000);
    check_distribution(l, 7, 0.8, 3, 200000);
    const float masked[4] = {0.5f, -INFINITY, 0.0f, 1.0f};
    check_distribution(masked, 4, 1.0, 0, 100000);
}

TEST(sample_seeded_and_refusals) {
    float l[20];
    uint64_t g = 9;
    for (int i = 0; i < 20; i++) l[i] = urand(&g);
    uint64_t a = 42, b = 42, c = 43;
    int same = 1, differ = 0;
    for (int d = 0; d < 200; d++) {
        int32_t x, y, z;
        REQUIRE_OK(mn_sample_logits(l, 20, 1.0, 0, &a, &x));
        REQUIRE_OK(mn_sample_logits(l, 20, 1.0, 0, &b, &y));
        REQUIRE_OK(mn_sample_logits(l, 20, 1.0, 0, &c, &z));
        same &= x == y;
        differ += x != z;
    }
    CHECK(same, "the same state gave other draws");
    CHECK(differ > 50, "another seed gave nearly the same draws (%d of 200 differ)", differ);
    int32_t got;
    uint64_t r = 1;
    CHECK(mn_sample_logits(l, 20, -0.5, 0, &r, &got) == MN_E_ARG, "negative temperature");
    CHECK(mn_sample_logits(l, 20, NAN, 0, &r, &got) == MN_E_ARG, "NaN temperature");
    CHECK(mn_sample_logits(l, 20, 1.0, 21, &r, &got) == MN_E_ARG, "top-k above n");
    CHECK(mn_sample_logits(l, 20, 1.0, -1, &r, &got) == MN_E_ARG, "negative top-k");
    CHECK(mn_sample_logits(l, 0, 1.0, 0, &r, &got) == MN_E_ARG, "n 0");
    l[4] = NAN;
    CHECK(mn_sample_logits(l, 20, 1.0, 0, &r, &got) == MN_E_INPUT, "NaN logit");
    CHECK(strstr(mn_last_error(), "logit 4") != NULL, "message: %s", mn_last_error());
    const float all_masked[2] = {-INFINITY, -INFINITY};
    CHECK(mn_sample_logits(all_masked, 2, 1.0, 0, &r, &got) == MN_E_INPUT, "all -inf");
}
