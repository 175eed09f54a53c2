/* Tasks: batch shapes and layouts, the rules of each generator, baselines measured against
 * their closed forms, determinism of the random streams, and argument errors. */
#include "test.h"
#include "task.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

static float xval(const mn_batch *b, int s, int i) { return b->x[((size_t)s * b->B + i) * 2]; }
static float xmark(const mn_batch *b, int s, int i) {
    return b->x[((size_t)s * b->B + i) * 2 + 1];
}

TEST(task_bad_arguments) {
    mn_task *t = (mn_task *)1;
    CHECK(strcmp(mn_task_names(), "adding, adding-1997, copy, reverse, selective-copy, "
                 "induction, listops, palindrome") == 0, "names: %s", mn_task_names());
    CHECK(mn_task_create("addition", 10, 1, &t) == MN_E_ARG, "unknown name accepted");
    CHECK(t == NULL, "out not cleared on failure");
    CHECK(strstr(mn_last_error(), "addition") && strstr(mn_last_error(), "adding-1997") &&
          strstr(mn_last_error(), "copy"), "message should name the bad and valid tasks: %s",
          mn_last_error());
    CHECK(mn_task_create(NULL, 10, 1, &t) == MN_E_ARG, "NULL name accepted");

    CHECK(mn_task_create("adding", 1, 1, &t) == MN_E_ARG, "adding length 1 accepted");
    CHECK(strstr(mn_last_error(), "at least 2") != NULL, "message: %s", mn_last_error());
    CHECK(mn_task_create("adding", -5, 1, &t) == MN_E_ARG, "negative length accepted");
    CHECK(mn_task_create("adding-1997", 21, 1, &t) == MN_E_ARG, "adding-1997 T=21 accepted");
    CHECK(strstr(mn_last_error(), "22") != NULL, "message should give the minimum: %s",
          mn_last_error());
    CHECK(mn_task_create("copy", 0, 1, &t) == MN_E_ARG, "copy length 0 accepted");
    CHECK(mn_task_create("copy", INT_MAX - 5, 1, &t) == MN_E_ARG, "copy T+20 overflow");
    CHECK(mn_task_create("adding-1997", INT_MAX - 5, 1, &t) == MN_E_ARG, "T+T/10 overflow");

    /* The smallest legal lengths work. */
    const char *names[] = {"adding", "adding-1997", "copy", "reverse"};
    int mins[] = {2, 22, 1, 1};
    for (int k = 0; k < 4; k++) {
        CHECK_OK(mn_task_create(names[k], mins[k], 1, &t));
        const mn_batch *b;
        CHECK_OK(mn_task_next(t, 3, &b));
        mn_task_free(t);
    }
}

TEST(task_batch_size_errors_and_reuse) {
    mn_task *t;
    const mn_batch *b;
    REQUIRE_OK(mn_task_create("adding", 20, 7, &t));
    CHECK(mn_task_next(t, 0, &b) == MN_E_ARG, "B = 0 accepted");
    CHECK(mn_task_next(t, -3, &b) == MN_E_ARG, "B < 0 accepted");
    REQUIRE_OK(mn_task_next(t, 16, &b));
    const float *x16 = b->x;
    size_t used = mn_memory_in_use();
    REQUIRE_OK(mn_task_next(t, 8, &b));
    CHECK(b->x == x16 && b->B == 8, "a smaller batch should reuse the buffers");
    CHECK(mn_memory_in_use() == used, "smaller batch allocated memory");
    REQUIRE_OK(mn_task_next(t, 64, &b));
    CHECK(b->B == 64 && t->capacity_B == 64, "grown batch B=%d capacity %d", b->B,
          t->capacity_B);
    mn_task_free(t);

    /* INT_MAX steps times INT_MAX sequences: about 2^64 bytes, more than any object. */
    REQUIRE_OK(mn_task_create("copy", INT_MAX - 20, 1, &t));
    CHECK(mn_task_next(t, INT_MAX, &b) == MN_E_ARG, "overflowing batch accepted");
    CHECK(strstr(mn_last_error(), "too large") != NULL, "message: %s", mn_last_error());
    mn_task_free(t);
}

TEST(task_adding_layout) {
    for (int T = 2; T <= 51; T += 7) {   /* odd and even lengths, down to the minimum */
        mn_task *t;
        const mn_batch *b;
        REQUIRE_OK(mn_task_create("adding", T, 3, &t));
        const mn_task_info *in = mn_task_get_info(t);
        CHECK(in->max_steps == T && in->input_size == 2 && in->output_size == 1 &&
              in->vocab_size == 0 && in->output == MN_OUTPUT_LAST && in->loss == MN_LOSS_MSE &&
              in->has_accuracy, "info for T=%d", T);
        CHECK(fabs(in->baseline_loss - 1.0 / 6.0) < 1e-15, "baseline %g", in->baseline_loss);
        REQUIRE_OK(mn_task_next(t, 40, &b));
        CHECK(b->T == T && b->B == 40 && b->input_size == 2 && b->output_size == 1 &&
              b->x && b->target && b->lengths && !b->tokens && !b->labels, "batch shape");
        for (int i = 0; i < b->B; i++) {
            int first = 0, second = 0;
            double sum = 0;
            for (int s = 0; s < T; s++) {
                float v = xval(b, s, i), m = xmark(b, s, i);
                CHECK(v >= 0 && v < 1, "value %g out of [0,1)", v);
                CHECK(m == 0 || m == 1, "marker %g", m);
                if (m == 1) {
                    sum += v;
                    if (s < T / 2) first++; else second++;
                }
            }
            CHECK(first == 1 && second == 1, "T=%d seq %d: %d markers in the first half, %d "
                  "in the second", T, i, first, second);
            CHECK(fabsf(b->target[i] - (float)sum) < 1e-6f, "target %g, marked sum %g",
                  b->target[i], sum);
            CHECK(b->lengths[i] == T, "length %d", b->lengths[i]);
        }
        mn_task_free(t);
    }
}

/* Checks one adding-1997 batch against the rules of the paper; returns how many
 * sequences had pair 0 marked with a zero value (X1 zeroed) and with a nonzero one (X2). */
static void check_1997(const mn_batch *b, int T, int *zeroed, int *x2_first) {
    const int steps = T + T / 10;
    for (int i = 0; i < b->B; i++) {
        int len = b->lengths[i], marked[2], nm = 0;
        CHECK(len >= T && len <= steps, "length %d outside [%d, %d]", len, T, steps);
        double sum = 0;
        for (int s = 0; s < steps; s++) {
            float v = xval(b, s, i), m = xmark(b, s, i);
            if (s >= len) {
                CHECK(v == 0 && m == 0, "padding at %d is (%g, %g)", s, v, m);
                continue;
            }
            CHECK(v >= -1 && v <= 1, "value %g", v);
            if (m == 1) {
                if (nm < 2) marked[nm] = s;
                nm++;
                sum += v;
            } else if (s == 0 || s == len - 1) {
                CHECK(m == -1, "end pair %d of %d has marker %g", s, len, m);
            } else {
                CHECK(m == 0, "inner pair %d has marker %g", s, m);
            }
        }
        REQUIRE(nm == 2, "%d pairs marked", nm);
        /* X1 lies in the first 10 pairs; X2 in the first T/2 pairs (T/2 - 1 unmarked). */
        CHECK(marked[0] < 10 && marked[1] < T / 2, "marked pairs %d, %d", marked[0],
              marked[1]);
        CHECK(fabsf(b->target[i] - (float)(0.5 + sum / 4)) < 1e-6f, "target %g for sum %g",
              b->target[i], sum);
        if (marked[0] == 0) {
            if (xval(b, 0, i) == 0) (*zeroed)++; else (*x2_first)++;
        }
    }
}

TEST(task_adding1997_layout) {
    mn_task *t;
    const mn_batch *b;
    REQUIRE_OK(mn_task_create("adding-1997", 100, 5, &t));
    const mn_task_info *in = mn_task_get_info(t);
    CHECK(in->max_steps == 110 && in->input_size == 2 && in->output_size == 1 &&
          in->output == MN_OUTPUT_LAST && in->loss == MN_LOSS_MSE, "info");
    CHECK(fabs(in->baseline_loss - (0.9 / 3 + 1.0 / 3) / 16) < 1e-15, "baseline %.8f",
          in->baseline_loss);
    int zeroed = 0, x2_first = 0, seen_len[11] = {0};
    const int N = 20000, B = 500;
    for (int k = 0; k < N / B; k++) {
        REQUIRE_OK(mn_task_next(t, B, &b));
        CHECK(b->T == 110 && b->B == B, "batch T=%d B=%d", b->T, b->B);
        check_1997(b, 100, &zeroed, &x2_first);
        for (int i = 0; i < B; i++)
            if (b->lengths[i] >= 100 && b->lengths[i] <= 110) seen_len[b->lengths[i] - 100]++;
    }
    for (int l = 0; l <= 10; l++)   /* each length ~N/11 = 1818 times */
        CHECK(seen_len[l] > 1500 && seen_len[l] < 2150, "length %d seen %d times", 100 + l,
              seen_len[l]);
    /* X1 lands on pair 0 one time in 10 (and is zeroed); X2 one time in 49 of the other 9. */
    CHECK(zeroed > 1800 && zeroed < 2200, "X1 zeroed on pair 0 %d times of %d", zeroed, N);
    CHECK(x2_first > 250 && x2_first < 500, "X2 on pair 0 %d times (expect ~367)", x2_first);
    mn_task_free(t);

    /* At the minimum length X2 comes from pairs 0..10. */
    REQUIRE_OK(mn_task_create("adding-1997", 22, 5, &t));
    REQUIRE_OK(mn_task_next(t, 200, &b));
    CHECK(b->T == 24, "T=22 pads to %d", b->T);
    check_1997(b, 22, &zeroed, &x2_first);
    mn_task_free(t);
}

TEST(task_copy_layout) {
    const int Ts[] = {1, 30};
    for (int k = 0; k < 2; k++) {
        int T = Ts[k], steps = T + 20;
        mn_task *t;
        const mn_batch *b;
        REQUIRE_OK(mn_task_create("copy", T, 9, &t));
        const mn_task_info *in = mn_task_get_info(t);
        CHECK(in->max_steps == steps && in->vocab_size == 10 && in->input_size == 0 &&
              in->output_size == 10 && in->output == MN_OUTPUT_EVERY &&
              in->loss == MN_LOSS_CE && in->has_accuracy, "info for T=%d", T);
        CHECK(fabs(in->baseline_loss - 10 * log(8.0) / steps) < 1e-12, "baseline %g",
              in->baseline_loss);
        REQUIRE_OK(mn_task_next(t, 17, &b));
        CHECK(b->T == steps && b->tokens && b->labels && !b->x && !b->target,
              "batch shape T=%d", b->T);
        for (int i = 0; i < b->B; i++) {
            CHECK(b->lengths[i] == steps, "length %d", b->lengths[i]);
            for (int s = 0; s < steps; s++) {
                int tok = b->tokens[s * b->B + i], lab = b->labels[s * b->B + i];
                if (s < 10) CHECK(tok >= 1 && tok <= 8, "symbol %d at %d", tok, s);
                else if (s == T + 9) CHECK(tok == 9, "delimiter expected at %d, got %d", s, tok);
                else CHECK(tok == 0, "blank expected at %d, got %d", s, tok);
                if (s < T + 10) CHECK(lab == 0, "label %d at %d should be blank", lab, s);
                else CHECK(lab == b->tokens[(s - T - 10) * b->B + i], "recall label %d at %d "
                           "does not match input", lab, s);
            }
        }
        mn_task_free(t);
    }
}

TEST(task_baselines_match_closed_forms) {
    const int N = 20000, B = 1000;
    const mn_batch *b;
    mn_task *t;

    /* adding: predicting 1 always. */
    REQUIRE_OK(mn_task_create("adding", 10, 11, &t));
    double se = 0;
    for (int k = 0; k < N / B; k++) {
        REQUIRE_OK(mn_task_next(t, B, &b));
        for (int i = 0; i < B; i++) se += (b->target[i] - 1.0) * (b->target[i] - 1.0);
    }
    CHECK(fabs(se / N / mn_task_get_info(t)->baseline_loss - 1) < 0.03, "adding: measured "
          "%.5f vs %.5f", se / N, mn_task_get_info(t)->baseline_loss);
    mn_task_free(t);

    /* adding-1997: predicting 0.5 always; the target's mean is 0.5. */
    REQUIRE_OK(mn_task_create("adding-1997", 30, 12, &t));
    double mean = 0;
    se = 0;
    for (int k = 0; k < N / B; k++) {
        REQUIRE_OK(mn_task_next(t, B, &b));
        for (int i = 0; i < B; i++) {
            se += (b->target[i] - 0.5) * (b->target[i] - 0.5);
            mean += b->target[i];
        }
    }
    CHECK(fabs(se / N / mn_task_get_info(t)->baseline_loss - 1) < 0.04, "adding-1997: "
          "measured %.5f vs %.5f", se / N, mn_task_get_info(t)->baseline_loss);
    CHECK(fabs(mean / N - 0.5) < 0.005, "adding-1997 target mean %.4f", mean / N);
    mn_task_free(t);

    /* copy: the best blind guess is the label distribution at each step; its entropy,
     * averaged over all steps, is the baseline CE. */
    const int T = 15, steps = T + 20;
    REQUIRE_OK(mn_task_create("copy", T, 13, &t));
    double count[35][10] = {{0}};
    for (int k = 0; k < N / B; k++) {
        REQUIRE_OK(mn_task_next(t, B, &b));
        for (int s = 0; s < steps; s++)
            for (int i = 0; i < B; i++) count[s][b->labels[s * B + i]]++;
    }
    double H = 0;
    for (int s = 0; s < steps; s++)
        for (int c = 0; c < 10; c++)
            if (count[s][c] > 0) H -= count[s][c] / N * log(count[s][c] / N);
    H /= steps;
    CHECK(fabs(H / mn_task_get_info(t)->baseline_loss - 1) < 0.01, "copy: measured %.5f vs "
          "%.5f", H, mn_task_get_info(t)->baseline_loss);
    mn_task_free(t);
}

/* Copies of a batch's float and int payloads, to compare two draws. */
static int same_batch(const mn_batch *a, const mn_batch *b) {
    size_t n = (size_t)a->T * a->B;
    if (a->T != b->T || a->B != b->B) return 0;
    if (a->x && memcmp(a->x, b->x, n * 2 * sizeof(float))) return 0;
    if (a->tokens && memcmp(a->tokens, b->tokens, n * sizeof(int32_t))) return 0;
    return memcmp(a->lengths, b->lengths, a->B * sizeof(int32_t)) == 0;
}

static mn_batch *copy_batch(const mn_batch *b) {
    size_t n = (size_t)b->T * b->B;
    mn_batch *c = calloc(1, sizeof *c);
    *c = *b;
    if (b->x) { c->x = malloc(n * 2 * sizeof(float)); memcpy(c->x, b->x, n * 2 * sizeof(float)); }
    if (b->tokens) {
        c->tokens = malloc(n * sizeof(int32_t));
        memcpy(c->tokens, b->tokens, n * sizeof(int32_t));
    }
    c->lengths = malloc(b->B * sizeof(int32_t));
    memcpy(c->lengths, b->lengths, b->B * sizeof(int32_t));
    return c;
}

static void free_batch(mn_batch *c) {
    free(c->x);
    free(c->tokens);
    free(c->lengths);
    free(c);
}

TEST(task_streams_are_deterministic) {
    const char *names[] = {"adding", "adding-1997", "copy"};
    for (int k = 0; k < 3; k++) {
        mn_task *a, *b, *c;
        const mn_batch *ba, *bb, *bc;
        REQUIRE_OK(mn_task_create(names[k], 40, 21, &a));
        REQUIRE_OK(mn_task_create(names[k], 40, 21, &b));
        REQUIRE_OK(mn_task_create(names[k], 40, 22, &c));
        REQUIRE_OK(mn_task_next(a, 8, &ba));
        REQUIRE_OK(mn_task_next(b, 8, &bb));
        REQUIRE_OK(mn_task_next(c, 8, &bc));
        CHECK(same_batch(ba, bb), "%s: same seed gave different batches", names[k]);
        CHECK(!same_batch(ba, bc), "%s: different seeds gave the same batch", names[k]);
        mn_batch *first = copy_batch(ba);
        REQUIRE_OK(mn_task_next(a, 8, &ba));
        CHECK(!same_batch(first, ba), "%s: the stream repeated itself", names[k]);
        mn_task_reseed(a, 21);
        REQUIRE_OK(mn_task_next(a, 8, &ba));
        CHECK(same_batch(first, ba), "%s: reseed did not restart the stream", names[k]);

        /* Sequences do not depend on batching: 8 at once equal 4 + 4. */
        mn_task_reseed(a, 21);
        REQUIRE_OK(mn_task_next(a, 4, &ba));
        mn_batch *half = copy_batch(ba);
        REQUIRE_OK(mn_task_next(a, 4, &ba));
        int same = 1;
        for (int s = 0; s < first->T; s++)
            for (int i = 0; i < 8; i++) {
                const mn_batch *h = i < 4 ? half : ba;
                int j = i % 4;
                if (first->x) {
                    for (int d = 0; d < 2; d++)
                        same &= first->x[((size_t)s * 8 + i) * 2 + d] ==
                                h->x[((size_t)s * 4 + j) * 2 + d];
                } else {
                    same &= first->tokens[s * 8 + i] == h->tokens[s * 4 + j];
                }
            }
        CHECK(same, "%s: a batch of 8 differs from two batches of 4", names[k]);
        free_batch(half);
        free_batch(first);
        mn_task_free(a);
        mn_task_free(b);
        mn_task_free(c);
    }
}

TEST(task_score) {
    mn_task *t, *other;
    const mn_batch *b;
    double correct, counted;
    REQUIRE_OK(mn_task_create("adding-1997", 30, 4, &t));
    REQUIRE_OK(mn_task_next(t, 6, &b));
    float out[6];
    for (int i = 0; i < 6; i++) out[i] = b->target[i] + (i < 2 ? 0.03f : (i < 4 ? -0.05f : 0));
    REQUIRE_OK(mn_task_score(t, b, out, &correct, &counted));
    CHECK(correct == 4 && counted == 6, "adding-1997: %g of %g correct", correct, counted);

    /* A batch of another task is refused. */
    REQUIRE_OK(mn_task_create("adding", 30, 4, &other));
    const mn_batch *ob;
    REQUIRE_OK(mn_task_next(other, 6, &ob));
    CHECK(mn_task_score(t, ob, out, &correct, &counted) == MN_E_ARG, "foreign batch scored");
    REQUIRE_OK(mn_task_score(other, ob, ob->target, &correct, &counted));
    CHECK(correct == 6 && counted == 6, "adding: exact output %g of %g", correct, counted);
    mn_task_free(other);
    mn_task_free(t);

    /* copy: logits peaked on the label everywhere, then wrong at two recall positions. */
    REQUIRE_OK(mn_task_create("copy", 5, 4, &t));
    REQUIRE_OK(mn_task_next(t, 3, &b));
    int n = b->T * b->B;
    float *logits = calloc((size_t)n * 10, sizeof(float));
    for (int r = 0; r < n; r++) logits[r * 10 + b->labels[r]] = 2.0f;
    REQUIRE_OK(mn_task_score(t, b, logits, &correct, &counted));
    CHECK(correct == 30 && counted == 30, "copy: %g of %g", correct, counted);
    int r1 = (b->T - 1) * b->B, r2 = (b->T - 10) * b->B + 2;   /* recall rows */
    logits[r1 * 10 + (b->labels[r1] % 9) + 1] = 3.0f;
    logits[r2 * 10 + (b->labels[r2] % 9) + 1] = 3.0f;
    logits[0 * 10 + 5] = 9.0f;   /* wrong on a blank step: not counted */
    REQUIRE_OK(mn_task_score(t, b, logits, &correct, &counted));
    CHECK(correct == 28 && counted == 30, "copy with 2 wrong: %g of %g", correct, counted);
    free(logits);
    mn_task_free(t);
}

TEST(task_configure_model) {
    mn_task *t;
    mn_model_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.embed_size = 33;
    REQUIRE_OK(mn_task_create("copy", 10, 1, &t));
    mn_task_configure_model(t, &cfg);
    CHECK(cfg.input_size == 0 && cfg.vocab_size == 10 && cfg.output_size == 10 &&
          cfg.output == MN_OUTPUT_EVERY && cfg.loss == MN_LOSS_CE && cfg.embed_size == 33,
          "copy config");
    mn_task_free(t);
    REQUIRE_OK(mn_task_create("adding", 10, 1, &t));
    mn_task_configure_model(t, &cfg);
    CHECK(cfg.input_size == 2 && cfg.vocab_size == 0 && cfg.output_size == 1 &&
          cfg.output == MN_OUTPUT_LAST && cfg.loss == MN_LOSS_MSE, "adding config");
    mn_task_free(t);
}
