/* mnemo memory: the estimate against the peak the library's own counter measures, its
 * limits, and the budget search.
 *
 * The GEMM scratch is process-wide and outlives a run, so what earlier tests left in it
 * would change a single measurement. Each shape therefore runs twice: the first run grows
 * the scratch to what this shape needs, the second is measured, and it is compared with
 * the estimate less its scratch part. (The full figure, scratch included, is checked in a
 * fresh process by tests/cli_memory_test.sh against mnemo bench.) */
#include "test.h"

#include <limits.h>
#include <string.h>

static mn_model_config dense(mn_cell_kind cell, int I, int H, int L, int bidir) {
    mn_model_config c;   /* the model mn_bench_run builds */
    mn_model_config_init(&c);
    c.cell = cell;
    c.input_size = I;
    c.hidden_size = H;
    c.num_layers = L;
    c.bidirectional = bidir;
    c.output = MN_OUTPUT_EVERY;
    c.output_size = 1;
    return c;
}

/* The peak of the second of two identical bench runs. */
static size_t bench_peak(const mn_model_config *c, int T, int B, int train) {
    mn_bench_config b = {c->cell, T, B, c->input_size, c->hidden_size, c->num_layers,
                         c->bidirectional, train, 0, 1, 7, NULL, 0};
    mn_bench_result r;
    for (int pass = 0; pass < 2; pass++)
        if (mn_bench_run(&b, &r) != MN_OK) return 0;
    return r.peak_bytes;
}

/* One training step (or one evaluated batch) of a model built for the task, the second of
 * two runs; *c gets the task's model config. */
static size_t task_peak(const char *task, int length, mn_model_config *c, int B, int train) {
    size_t peak = 0;
    for (int pass = 0; pass < 2; pass++) {
        mn_memory_reset_peak();
        size_t base = mn_memory_in_use();
        mn_task *t = NULL;
        mn_model *m = NULL;
        mn_trainer *tr = NULL;
        mn_status st = mn_task_create(task, length, 3, &t);
        if (!st) {
            mn_task_configure_model(t, c);
            st = mn_model_create(c, 5, &m);
        }
        if (!st && train) {
            mn_train_config tc;
            mn_train_config_init(&tc);
            tc.batch_size = B;
            mn_step_stats s;
            if (!(st = mn_trainer_create(m, t, &tc, &tr))) st = mn_trainer_step(tr, &s);
        } else if (!st) {
            mn_eval_stats ev;
            st = mn_evaluate(m, t, B, B, &ev);
        }
        peak = st ? 0 : mn_memory_peak() - base;
        mn_trainer_free(tr);
        mn_model_free(m);
        mn_task_free(t);
        if (st) return 0;
    }
    return peak;
}

/* Compares the estimate (less the scratch the warm-up already holds) with the peak. */
static void compare(const char *what, const mn_model_config *c, int steps, int B, int train,
                    size_t measured) {
    mn_memory_estimate e;
    mn_status st = mn_memory_estimate_run(c, steps, B, train, &e);
    CHECK(st == MN_OK, "%s: estimate failed: %s", what, mn_last_error());
    CHECK(measured > 0, "%s: the run failed: %s", what, mn_last_error());
    if (st || !measured) return;
    size_t est = e.total - e.scratch;
    double err = ((double)est - (double)measured) / (double)measured;
    printf("    %-34s estimate %9zu  measured %9zu  error %+.2f%%  (total with scratch %zu)\n",
           what, est, measured, 100 * err, e.total);
    CHECK(fabs(err) <= 0.10, "%s: estimate %zu is %.1f%% off the measured peak %zu", what, est,
          100 * err, measured);
    CHECK(e.total == e.params + e.grads + e.optimizer + e.activations + e.data + e.workspace,
          "%s: the parts do not add up to the total", what);
    CHECK(e.scratch <= e.workspace, "%s: scratch is part of workspace", what);
    CHECK(train ? e.optimizer == 2 * e.params : e.optimizer == 0, "%s: optimizer bytes %zu",
          what, e.optimizer);
}

TEST(memory_estimate_matches_peak_dense) {
    static const struct { const char *name; mn_cell_kind cell; int I, H, L, bidir, T, B, train; }
    shapes[] = {
        {"rnn 1 layer train", MN_RNN_TANH, 32, 64, 1, 0, 60, 16, 1},
        {"rnn-relu 2 layers infer", MN_RNN_RELU, 16, 48, 2, 0, 50, 8, 0},
        {"lstm 1 layer train", MN_LSTM, 40, 64, 1, 0, 50, 16, 1},
        {"lstm 2 layers train", MN_LSTM, 16, 48, 2, 0, 40, 8, 1},
        {"lstm 2 layers infer", MN_LSTM, 16, 48, 2, 0, 40, 8, 0},
        {"gru 1 layer train", MN_GRU, 24, 40, 1, 0, 60, 12, 1},
        {"gru bidirectional 2 layers train", MN_GRU, 24, 32, 2, 1, 30, 8, 1},
        {"lstm bidirectional 1 layer infer", MN_LSTM, 20, 40, 1, 1, 30, 8, 0},
        {"rnn bidirectional 2 layers train", MN_RNN_TANH, 8, 64, 2, 1, 40, 8, 1},
    };
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        mn_model_config c = dense(shapes[i].cell, shapes[i].I, shapes[i].H, shapes[i].L,
                                  shapes[i].bidir);
        size_t peak = bench_peak(&c, shapes[i].T, shapes[i].B, shapes[i].train);
        compare(shapes[i].name, &c, shapes[i].T, shapes[i].B, shapes[i].train, peak);
    }
}

TEST(memory_estimate_matches_peak_tasks) {
    static const struct { const char *name, *task; mn_cell_kind cell; int H, L, bidir, len, B, train; }
    shapes[] = {
        {"copy (tokens) lstm train", "copy", MN_LSTM, 32, 1, 0, 30, 16, 1},
        {"copy (tokens) gru 2 layers infer", "copy", MN_GRU, 32, 2, 0, 30, 16, 0},
        {"copy (tokens) rnn bidir train", "copy", MN_RNN_TANH, 48, 1, 1, 20, 8, 1},
        {"adding (last step) gru 2 layers", "adding", MN_GRU, 32, 2, 0, 60, 16, 1},
        {"adding (last step) lstm infer", "adding", MN_LSTM, 40, 1, 0, 80, 16, 0},
    };
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        mn_model_config c;
        mn_model_config_init(&c);
        c.cell = shapes[i].cell;
        c.hidden_size = shapes[i].H;
        c.num_layers = shapes[i].L;
        c.bidirectional = shapes[i].bidir;
        size_t peak = task_peak(shapes[i].task, shapes[i].len, &c, shapes[i].B, shapes[i].train);
        mn_task *t;
        REQUIRE_OK(mn_task_create(shapes[i].task, shapes[i].len, 1, &t));
        int steps = mn_task_get_info(t)->max_steps;
        mn_task_free(t);
        compare(shapes[i].name, &c, steps, shapes[i].B, shapes[i].train, peak);
    }
}

TEST(memory_estimate_refuses_what_it_cannot_describe) {
    mn_model_config c = dense(MN_LSTM, 16, 32, 1, 0);
    mn_memory_estimate e;
    const struct { int T, B; } bad[] = {
        {0, 8}, {8, 0}, {-1, 8}, {INT_MAX, 1}, {1, INT_MAX}, {1 << 24, 1 << 24}, {1 << 16, 1 << 16},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        mn_status st = mn_memory_estimate_run(&c, bad[i].T, bad[i].B, 1, &e);
        CHECK(st == MN_E_ARG && mn_last_error()[0], "T=%d B=%d: status %d, message '%s'",
              bad[i].T, bad[i].B, (int)st, mn_last_error());
        CHECK(e.total == 0, "T=%d B=%d: a refused estimate leaves zeros", bad[i].T, bad[i].B);
    }
    c.hidden_size = 0;
    CHECK(mn_memory_estimate_run(&c, 10, 10, 1, &e) == MN_E_ARG, "hidden 0 accepted");

    /* the largest model at the largest pass is still counted without wrapping */
    c = dense(MN_LSTM, 1 << 20, 65536, 64, 1);
    REQUIRE_OK(mn_memory_estimate_run(&c, 1 << 16, (1 << 15) - 1, 1, &e));
    double rows = (double)(1 << 16) * ((1 << 15) - 1);
    CHECK((double)e.activations > rows * 64 * 2 * 4 * 65536 * 4.0,
          "activations %zu are too small for %g rows", e.activations, rows);
    CHECK(e.total >= e.activations && e.total >= e.params, "the total wrapped");
}

TEST(memory_budget_search_finds_the_edge) {
    mn_model_config c = dense(MN_LSTM, 16, 64, 2, 0);
    size_t budget = 6u << 20;
    mn_memory_estimate e;
    for (int train = 0; train <= 1; train++) {
        int T, B;
        REQUIRE_OK(mn_memory_max_length(&c, 8, train, budget, 1000000, &T));
        REQUIRE(T > 1, "nothing fits in 6 MiB at B=8");
        REQUIRE_OK(mn_memory_estimate_run(&c, T, 8, train, &e));
        CHECK(e.total <= budget, "T=%d needs %zu > budget %zu", T, e.total, budget);
        REQUIRE_OK(mn_memory_estimate_run(&c, T + 1, 8, train, &e));
        CHECK(e.total > budget, "T+1=%d also fits (%zu)", T + 1, e.total);

        REQUIRE_OK(mn_memory_max_batch(&c, 100, train, budget, 65536, &B));
        REQUIRE(B > 1, "nothing fits in 6 MiB at T=100");
        REQUIRE_OK(mn_memory_estimate_run(&c, 100, B, train, &e));
        CHECK(e.total <= budget, "B=%d needs %zu > budget %zu", B, e.total, budget);
        REQUIRE_OK(mn_memory_estimate_run(&c, 100, B + 1, train, &e));
        CHECK(e.total > budget, "B+1=%d also fits (%zu)", B + 1, e.total);
    }
    int T;
    REQUIRE_OK(mn_memory_max_length(&c, 8, 1, 1000, 1000, &T));
    CHECK(T == 0, "a 1000-byte budget fits T=%d", T);
    REQUIRE_OK(mn_memory_max_length(&c, 8, 1, (size_t)1 << 40, 500, &T));
    CHECK(T == 500, "a 1 TiB budget stops at the largest length asked for, got %d", T);
    CHECK(mn_memory_max_length(&c, 0, 1, budget, 100, &T) == MN_E_ARG, "batch 0 accepted");
}

TEST(memory_estimate_grows_with_length_and_batch) {
    mn_model_config c = dense(MN_GRU, 8, 32, 1, 1);
    mn_memory_estimate a, b;
    for (int T = 1; T < 200; T += 7) {
        REQUIRE_OK(mn_memory_estimate_run(&c, T, 4, 1, &a));
        REQUIRE_OK(mn_memory_estimate_run(&c, T + 1, 4, 1, &b));
        CHECK(b.total >= a.total, "T=%d needs %zu, T+1 %zu", T, a.total, b.total);
        REQUIRE_OK(mn_memory_estimate_run(&c, 4, T + 1, 1, &b));
        CHECK(b.activations > 0, "no activations at B=%d", T + 1);
    }
}

/* Block models of every registered kind, wrapped and not: the estimate replays the plans
 * their layout functions write. Held to 1% of the measured peak. */
TEST(memory_estimate_matches_peak_blocks) {
    static const struct { const char *spec; int I, T, B, train; } shapes[] = {
        {"lstm:48,lstm:48:residual:pre:layernorm", 16, 40, 8, 1},
        {"gru:32:bidirectional,linear:24,ff:64", 12, 30, 8, 1},
        {"linear:32,ff-gelu:96:residual:post:rmsnorm,layernorm,rmsnorm", 20, 50, 16, 1},
        {"gated:40,lstm:40:residual:dropout=0.25,ff:80:residual:pre", 8, 40, 8, 1},
        {"lstm:48,ff:64:residual:pre:layernorm", 16, 40, 8, 0},
        {"ln-lstm:32:bidirectional,ln-gru:24", 8, 30, 8, 1},
        {"ln-gru:32,ln-lstm:32:residual:post", 8, 30, 8, 0},
    };
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        mn_model_config c = dense(MN_LSTM, shapes[i].I, 32, 1, 0);
        REQUIRE_OK(mn_blocks_parse(shapes[i].spec, &c));
        mn_bench_config b = {MN_LSTM, shapes[i].T, shapes[i].B, shapes[i].I, 32, 1, 0,
                             shapes[i].train, 0, 1, 7, shapes[i].spec, 0};
        mn_bench_result r;
        size_t peak = 0;
        for (int pass = 0; pass < 2; pass++)
            peak = mn_bench_run(&b, &r) == MN_OK ? r.peak_bytes : 0;
        compare(shapes[i].spec, &c, shapes[i].T, shapes[i].B, shapes[i].train, peak);
        mn_memory_estimate e;
        if (peak && mn_memory_estimate_run(&c, shapes[i].T, shapes[i].B, shapes[i].train, &e) == MN_OK) {
            double err = fabs((double)(e.total - e.scratch) - (double)peak) / (double)peak;
            CHECK(err <= 0.01, "%s: %.2f%% off the measured peak", shapes[i].spec, 100 * err);
        }
    }
}
