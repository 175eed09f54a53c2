/* A task made from the caller's arrays: layouts, epochs without replacement, the held-out
 * split, the baseline, the refusals, training through it and resuming its stream. */
#include "test.h"
#include "task.h"

#include <stdlib.h>
#include <string.h>

#define SEQS 10
#define STEPS 4
#define FEAT 2

/* x[n,s,0] = n (the sequence's id), x[n,s,1] = s; target = n/10; length = 1 + n % STEPS */
static void fill(float *x, float *target, int32_t *len) {
    for (int n = 0; n < SEQS; n++) {
        for (int s = 0; s < STEPS; s++) {
            x[(n * STEPS + s) * FEAT] = (float)n;
            x[(n * STEPS + s) * FEAT + 1] = (float)s;
        }
        target[n] = (float)n / 10;
        len[n] = 1 + n % STEPS;
    }
}

static void dense(mn_arrays *a, float *x, float *target, int32_t *len, int heldout) {
    fill(x, target, len);
    mn_arrays_init(a);
    a->sequences = SEQS, a->steps = STEPS, a->input_size = FEAT, a->x = x;
    a->lengths = len, a->loss = MN_LOSS_MSE, a->output = MN_OUTPUT_LAST;
    a->output_size = 1, a->target = target, a->heldout = heldout;
}

TEST(arrays_batches_are_transposed_and_epochs_draw_each_sequence_once) {
    float x[SEQS * STEPS * FEAT], target[SEQS];
    int32_t len[SEQS];
    mn_arrays a;
    dense(&a, x, target, len, 0);
    mn_task *t;
    REQUIRE_OK(mn_task_from_arrays(&a, 7, &t));
    memset(x, 0, sizeof x);   /* the task holds its own copy */
    int seen[3][SEQS] = {{0}}, order[3][SEQS];
    for (int e = 0; e < 3; e++) {
        const mn_batch *b;
        for (int half = 0; half < 2; half++) {   /* an epoch over two batches of 5 */
            REQUIRE_OK(mn_task_next(t, SEQS / 2, &b));
            REQUIRE(b->T == STEPS && b->B == SEQS / 2 && b->input_size == FEAT, "batch shape");
            for (int j = 0; j < SEQS / 2; j++) {
                int n = (int)b->x[j * FEAT];   /* step 0 of column j */
                REQUIRE(n >= 0 && n < SEQS, "sequence id %d", n);
                seen[e][n]++;
                order[e][half * SEQS / 2 + j] = n;
                CHECK(b->lengths[j] == 1 + n % STEPS, "length of %d", n);
                CHECK(b->target[j] == (float)n / 10, "target of %d", n);
                for (int s = 0; s < STEPS; s++)   /* [STEPS,B,FEAT]: step s of column j */
                    CHECK(b->x[(s * (SEQS / 2) + j) * FEAT] == n && b->x[(s * (SEQS / 2) + j) * FEAT + 1] == s,
                          "x of sequence %d step %d", n, s);
            }
        }
        for (int n = 0; n < SEQS; n++) CHECK(seen[e][n] == 1, "epoch %d drew %d %d times", e, n, seen[e][n]);
    }
    CHECK(memcmp(order[0], order[1], sizeof order[0]) || memcmp(order[1], order[2], sizeof order[0]),
          "every epoch came in the same order");
    const mn_task_info *in = mn_task_get_info(t);
    CHECK(in->eval_sequences == SEQS && !in->has_accuracy && in->max_steps == STEPS, "info");
    mn_task_free(t);
}

TEST(arrays_heldout_split_is_disjoint_and_read_in_order) {
    float x[SEQS * STEPS * FEAT], target[SEQS];
    int32_t len[SEQS];
    mn_arrays a;
    dense(&a, x, target, len, 3);
    mn_task *t;
    REQUIRE_OK(mn_task_from_arrays(&a, 3, &t));
    int trained[SEQS] = {0};
    const mn_batch *b;
    for (int k = 0; k < 4; k++) {
        REQUIRE_OK(mn_task_next(t, 7, &b));
        for (int j = 0; j < 7; j++) trained[(int)b->x[j * FEAT]]++;
    }
    mn_task_start_heldout(t, 0);
    REQUIRE_OK(mn_task_next(t, 3, &b));
    int first[3];
    for (int j = 0; j < 3; j++) {
        first[j] = (int)b->x[j * FEAT];
        CHECK(trained[first[j]] == 0, "held-out sequence %d was trained on", first[j]);
    }
    CHECK(first[0] != first[1] && first[1] != first[2] && first[0] != first[2], "distinct");
    mn_task_start_heldout(t, 0);   /* again: the same sequences, in the same order */
    REQUIRE_OK(mn_task_next(t, 3, &b));
    for (int j = 0; j < 3; j++) CHECK((int)b->x[j * FEAT] == first[j], "order of the held-out set");
    CHECK(mn_task_get_info(t)->eval_sequences == 3, "eval sequences");
    mn_task_free(t);
}

TEST(arrays_baselines_are_the_input_blind_guesses) {
    float x[SEQS * STEPS * FEAT], target[SEQS];
    int32_t len[SEQS];
    mn_arrays a;
    dense(&a, x, target, len, 0);
    mn_task *t;
    REQUIRE_OK(mn_task_from_arrays(&a, 1, &t));
    double m = 0, v = 0;
    for (int n = 0; n < SEQS; n++) m += target[n] / (double)SEQS;
    for (int n = 0; n < SEQS; n++) v += (target[n] - m) * (target[n] - m) / SEQS;
    CHECK(fabs(mn_task_get_info(t)->baseline_loss - v) < 1e-6, "MSE baseline %g vs %g",
          mn_task_get_info(t)->baseline_loss, v);
    mn_task_free(t);

    /* classes 0,0,0,1 over the scored steps, one ignored: entropy of (3/4, 1/4) */
    int32_t tok[2 * 3] = {1, 2, 3, 1, 1, 1}, lab[2 * 3] = {0, 0, -1, 0, 1, 2}, l2[2] = {3, 2};
    mn_arrays c;
    mn_arrays_init(&c);
    c.sequences = 2, c.steps = 3, c.tokens = tok, c.vocab_size = 4, c.lengths = l2;
    c.loss = MN_LOSS_CE, c.output = MN_OUTPUT_EVERY, c.output_size = 3, c.labels = lab;
    REQUIRE_OK(mn_task_from_arrays(&c, 1, &t));   /* label 2 sits in padding: not read */
    double h = -(0.75 * log(0.75) + 0.25 * log(0.25));
    CHECK(fabs(mn_task_get_info(t)->baseline_loss - h) < 1e-9, "CE baseline %g vs %g",
          mn_task_get_info(t)->baseline_loss, h);
    CHECK(mn_task_get_info(t)->has_accuracy, "CE tasks score accuracy");
    mn_task_free(t);
}

TEST(arrays_refuse_bad_values_naming_the_place) {
    float x[SEQS * STEPS * FEAT], target[SEQS];
    int32_t len[SEQS];
    mn_arrays a;
    mn_task *t = NULL;
    dense(&a, x, target, len, 0);
    x[(4 * STEPS + 0) * FEAT + 1] = NAN;   /* sequence 4 (length 1), step 0: read */
    CHECK(mn_task_from_arrays(&a, 1, &t) == MN_E_INPUT && strstr(mn_last_error(), "sequence 4, step 0"),
          "NaN input: %s", mn_last_error());
    dense(&a, x, target, len, 0);
    x[(4 * STEPS + 2) * FEAT] = NAN;       /* past its length: padding, never read */
    CHECK_OK(mn_task_from_arrays(&a, 1, &t));
    mn_task_free(t);
    dense(&a, x, target, len, 0);
    target[2] = INFINITY;
    CHECK(mn_task_from_arrays(&a, 1, &t) == MN_E_INPUT && strstr(mn_last_error(), "target"),
          "Inf target: %s", mn_last_error());
    dense(&a, x, target, len, 0);
    len[5] = STEPS + 1;
    CHECK(mn_task_from_arrays(&a, 1, &t) == MN_E_INPUT && strstr(mn_last_error(), "sequence 5"),
          "length: %s", mn_last_error());
    dense(&a, x, target, len, SEQS);
    CHECK(mn_task_from_arrays(&a, 1, &t) == MN_E_ARG && strstr(mn_last_error(), "held-out"),
          "all held out: %s", mn_last_error());
    dense(&a, x, target, len, 0);
    a.labels = len;
    CHECK(mn_task_from_arrays(&a, 1, &t) == MN_E_ARG, "MSE with labels");
    int32_t tok[4] = {0, 1, 5, 1}, lab[2] = {0, 1};
    mn_arrays c;
    mn_arrays_init(&c);
    c.sequences = 2, c.steps = 2, c.tokens = tok, c.vocab_size = 4;
    c.loss = MN_LOSS_CE, c.output_size = 2, c.labels = lab;
    CHECK(mn_task_from_arrays(&c, 1, &t) == MN_E_INPUT && strstr(mn_last_error(), "token"),
          "token out of range: %s", mn_last_error());
    tok[2] = 2, lab[1] = 2;
    CHECK(mn_task_from_arrays(&c, 1, &t) == MN_E_INPUT && strstr(mn_last_error(), "label"),
          "label out of range: %s", mn_last_error());
    CHECK(t == NULL, "nothing handed out on failure");
}

/* Regression from arrays: y = mean of x over the real steps. An LSTM learns it well below
 * the baseline, evaluation reads each held-out sequence once, and a resumed run draws the
 * same batches as one never stopped. */
#define RN 96
#define RT 6
static void regression(float *x, float *y, int32_t *len) {
    mn_rng r;
    mn_rng_seed(&r, 11);
    for (int n = 0; n < RN; n++) {
        len[n] = 2 + (int)mn_rng_below(&r, RT - 1);
        double s = 0;
        for (int t = 0; t < RT; t++) {
            x[n * RT + t] = (float)mn_rng_uniform_range(&r, -1, 1);
            if (t < len[n]) s += x[n * RT + t];
        }
        y[n] = (float)(s / len[n]);
    }
}

static mn_status make(mn_task **task, mn_model **m, mn_trainer **tr, int steps, float *x,
                      float *y, int32_t *len) {
    mn_arrays a;
    mn_arrays_init(&a);
    a.sequences = RN, a.steps = RT, a.input_size = 1, a.x = x, a.lengths = len;
    a.output_size = 1, a.target = y, a.heldout = 16;
    mn_status st = mn_task_from_arrays(&a, 5, task);
    if (st) return st;
    mn_model_config mc;
    mn_model_config_init(&mc);
    mc.hidden_size = 16;
    mn_task_configure_model(*task, &mc);
    if ((st = mn_model_create(&mc, 2, m))) return st;
    mn_train_config tc;
    mn_train_config_init(&tc);
    tc.steps = steps, tc.batch_size = 16, tc.lr = 0.01f, tc.eval_size = 1000;
    return mn_trainer_create(*m, *task, &tc, tr);
}

TEST(arrays_train_an_lstm_evaluate_heldout_and_resume_the_stream) {
    static float x[RN * RT], y[RN];
    static int32_t len[RN];
    regression(x, y, len);
    mn_task *task;
    mn_model *m;
    mn_trainer *tr;
    REQUIRE_OK(make(&task, &m, &tr, 300, x, y, len));
    mn_step_stats st;
    double losses[300];
    char dir[256], path[300];
    REQUIRE(mn_test_tmpdir(dir, sizeof dir, "arrays"), "tmpdir");
    snprintf(path, sizeof path, "%s/ck.safetensors", dir);
    for (int s = 0; s < 300; s++) {
        REQUIRE_OK(mn_trainer_step(tr, &st));
        losses[s] = st.loss;
        if (s == 6) REQUIRE_OK(mn_trainer_save(tr, path, NULL));   /* mid-epoch (7·16 > 80) */
    }
    mn_eval_stats ev;
    REQUIRE_OK(mn_trainer_evaluate(tr, &ev));
    double base = mn_task_get_info(task)->baseline_loss;
    CHECK(ev.sequences == 16, "evaluated %d sequences, the held-out set has 16", ev.sequences);
    CHECK(ev.loss < base / 10, "held-out loss %g, baseline %g", ev.loss, base);

    mn_task *task2;
    mn_model *m2;
    mn_trainer *tr2;
    REQUIRE_OK(make(&task2, &m2, &tr2, 300, x, y, len));
    REQUIRE_OK(mn_trainer_resume(tr2, path));
    for (int s = 7; s < 12; s++) {
        REQUIRE_OK(mn_trainer_step(tr2, &st));
        CHECK(st.loss == losses[s], "step %d after resuming: loss %.9g, uninterrupted %.9g",
              s + 1, st.loss, losses[s]);
    }
    mn_trainer_free(tr2);
    mn_model_free(m2);
    mn_task_free(task2);
    mn_trainer_free(tr);
    mn_model_free(m);
    mn_task_free(task);
    remove(path);
    remove(dir);
}
