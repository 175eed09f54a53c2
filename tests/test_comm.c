/* Data parallelism without MPI: ranks played by threads that pass one baton (a mutex), so
 * that only one of them is ever inside the library, as mnemo.h requires, and that hand it
 * on inside the communicator's sums. The trainer cannot tell them from MPI processes.
 * The CLI's MPI runs are tests/cli_mpi_test.sh. */
#include "test.h"
#include "comm.h"
#include "model.h"
#include "trainer.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_RANKS 4

typedef struct {
    pthread_mutex_t baton;
    pthread_cond_t moved;
    int size, arrived, generation, sums;
    size_t n;
    int f64, mismatch;
    void *bufs[MAX_RANKS];
} world;

typedef struct {
    world *w;
    int rank;
    int armed;             /* this rank's allocations fail (mn_test_fail_allocs_after) */
} rank_ctx;

static mn_status fake_sum_(rank_ctx *r, void *buf, size_t n, int f64);

/* Ranks join in any order; the last one adds the buffers in rank order (as a reduction
 * tree would, the same result for everyone) and writes it into every rank's buffer.
 * Called holding the baton; waiting releases it. */
static mn_status fake_sum(rank_ctx *r, void *buf, size_t n, int f64) {
    /* The allocation hook is process-wide: it is paused while this rank hands the baton
     * on, so that only this rank's allocations fail, and off for good once one has (the
     * rank then joins the sum that tells the others). */
    long paused = -1;
    if (r->armed) {
        paused = mn_test_fail_allocs_after(-1);
        if (strstr(mn_last_error(), "out of memory")) r->armed = 0;
    }
    mn_status st = fake_sum_(r, buf, n, f64);
    if (r->armed && paused >= 0) mn_test_fail_allocs_after(paused);
    return st;
}

static mn_status fake_sum_(rank_ctx *r, void *buf, size_t n, int f64) {
    world *w = r->w;
    if (w->arrived == 0) {
        w->n = n;
        w->f64 = f64;
        w->mismatch = 0;
    } else if (w->n != n || w->f64 != f64) {
        w->mismatch = 1;
    }
    w->bufs[r->rank] = buf;
    int gen = w->generation;
    if (++w->arrived == w->size) {
        if (!w->mismatch)
            for (size_t i = 0; i < n; i++) {
                if (f64) {
                    double s = 0;
                    for (int k = 0; k < w->size; k++) s += ((double *)w->bufs[k])[i];
                    for (int k = 0; k < w->size; k++) ((double *)w->bufs[k])[i] = s;
                } else {
                    float s = 0;
                    for (int k = 0; k < w->size; k++) s += ((float *)w->bufs[k])[i];
                    for (int k = 0; k < w->size; k++) ((float *)w->bufs[k])[i] = s;
                }
            }
        w->arrived = 0;
        w->generation++;
        w->sums++;
        pthread_cond_broadcast(&w->moved);
    } else {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 60;   /* a rank that never comes fails the test instead of hanging it */
        while (gen == w->generation)
            if (pthread_cond_timedwait(&w->moved, &w->baton, &until) == ETIMEDOUT) {
                w->arrived--;
                return MN_E_STATE;
            }
    }
    return w->mismatch ? MN_E_STATE : MN_OK;
}

static mn_status sum_f32(void *ctx, float *buf, size_t n) { return fake_sum(ctx, buf, n, 0); }
static mn_status sum_f64(void *ctx, double *buf, size_t n) { return fake_sum(ctx, buf, n, 1); }

/* ------------------------------------------------------------------ a run */

typedef struct {
    const char *task;
    int length, hidden, steps, batch, eval, tbptt;
    mn_cell_kind cell;
    mn_optimizer_kind opt;
} run_spec;

typedef struct {
    const run_spec *spec;
    rank_ctx rc;
    int nranks;
    uint64_t seed;
    int stop_at;           /* this rank's stop flag goes up before this step (0: never) */
    int fail_allocs_at;    /* before step 1 (1) or the first evaluation (2): allocations fail */
    long fail_after;
    /* results */
    mn_status st, eval_st;
    char err[512], eval_err[512];
    int done;
    float *params;
    size_t nparams;
    double loss[64];
    mn_eval_stats ev;
} rank_run;

static void run_rank(rank_run *r) {
    const run_spec *sp = r->spec;
    mn_task *task = NULL;
    mn_model *m = NULL;
    mn_trainer *tr = NULL;
    mn_model_config c;
    mn_train_config tc;
    volatile sig_atomic_t stop = 0;
    mn_train_config_init(&tc);
    tc.steps = sp->steps;
    tc.batch_size = sp->batch;
    tc.eval_size = sp->eval;
    tc.tbptt = sp->tbptt;
    tc.optimizer = sp->opt;
    tc.lr = 1e-2f;
    tc.seed = r->seed;
    mn_status st = mn_task_create(sp->task, sp->length, r->seed, &task);
    if (!st) {
        mn_model_config_init(&c);
        mn_task_configure_model(task, &c);
        c.cell = sp->cell;
        c.hidden_size = sp->hidden;
        st = mn_model_create(&c, r->seed, &m);
    }
    if (!st) st = mn_trainer_create(m, task, &tc, &tr);
    if (!st && r->nranks > 1) {
        mn_comm comm = {r->rc.rank, r->nranks, sum_f32, sum_f64, NULL, &r->rc};
        st = mn_trainer_set_comm(tr, &comm);
    }
    if (!st) mn_trainer_set_stop(tr, &stop);
    for (int i = 0; i < sp->steps && !st; i++) {
        mn_step_stats ss;
        if (r->stop_at == i + 1) stop = 1;
        if (r->fail_allocs_at == 1 && i == 0) {
            r->rc.armed = 1;
            mn_test_fail_allocs_after(r->fail_after);
        }
        st = mn_trainer_step(tr, &ss);
        if (!st && i < 64) r->loss[i] = ss.loss;
        if (st == MN_E_STOPPED) {   /* go on from where it stopped: the same run */
            snprintf(r->err, sizeof r->err, "%s", mn_last_error());
            r->done = mn_trainer_steps_done(tr);
            stop = 0;
            r->stop_at = 0;
            st = MN_OK;
            i--;
        }
    }
    if (st) snprintf(r->err, sizeof r->err, "%s", mn_last_error());
    r->st = st;
    if (!st) {
        if (r->fail_allocs_at == 2) {
            r->rc.armed = 1;
            mn_test_fail_allocs_after(r->fail_after);
        }
        r->eval_st = mn_trainer_evaluate(tr, &r->ev);
        if (r->eval_st) snprintf(r->eval_err, sizeof r->eval_err, "%s", mn_last_error());
        r->params = malloc(m->nparams * sizeof(float));
        if (r->params) memcpy(r->params, m->params, m->nparams * sizeof(float));
        r->nparams = m->nparams;
    }
    mn_test_fail_allocs_after(-1);
    r->rc.armed = 0;
    mn_trainer_free(tr);
    mn_model_free(m);
    mn_task_free(task);
}

static void *rank_thread(void *arg) {
    rank_run *r = arg;
    pthread_mutex_lock(&r->rc.w->baton);
    run_rank(r);
    pthread_mutex_unlock(&r->rc.w->baton);
    return NULL;
}

/* n ranks, each on its own thread; seeds[i] (or 1) per rank. Returns the sums done. */
static int run_ranks(const run_spec *sp, int n, rank_run *runs) {
    world w;
    memset(&w, 0, sizeof w);
    pthread_mutex_init(&w.baton, NULL);
    pthread_cond_init(&w.moved, NULL);
    w.size = n;
    pthread_t th[MAX_RANKS];
    for (int k = 0; k < n; k++) {
        runs[k].spec = sp;
        runs[k].rc = (rank_ctx){&w, k, 0};
        runs[k].nranks = n;
        if (!runs[k].seed) runs[k].seed = 1;
        pthread_create(&th[k], NULL, rank_thread, &runs[k]);
    }
    for (int k = 0; k < n; k++) pthread_join(th[k], NULL);
    pthread_mutex_destroy(&w.baton);
    pthread_cond_destroy(&w.moved);
    return w.sums;
}

static void free_runs(rank_run *runs, int n) {
    for (int k = 0; k < n; k++) free(runs[k].params);
}

/* The largest |a - b| / max(1, |a|) over the parameters. */
static double max_rel_diff(const float *a, const float *b, size_t n) {
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]) / fmax(1.0, fabs((double)a[i]));
        if (!(d <= worst)) worst = d;   /* NaN counts as the worst */
    }
    return worst;
}

/* Ranks against one process with the same global batch. The ranks sum gradients that one
 * process sums in another order (each rank's GEMMs over its own rows, then the sum over
 * ranks), so the two differ by float32 rounding, which Adam's division by sqrt(v) carries
 * into the weights: after 12 steps at lr 1e-2 the measured differences are ~1e-7..1e-6 of
 * a weight, and 1e-4 (relative, or absolute below 1) leaves room for other compilers and
 * kernels while still catching a wrong share, a missing or double-counted sequence, or a
 * wrong 1/items scaling (each of which moves weights by ~1e-3 and more). The ranks among
 * themselves must agree bit for bit: they apply the same update to the same sums. */
static void check_ranks_like_one(const run_spec *sp, int n) {
    mn_set_threads(1);
    rank_run one[1] = {{0}}, many[MAX_RANKS];
    memset(many, 0, sizeof many);
    run_ranks(sp, 1, one);
    int sums = run_ranks(sp, n, many);
    mn_set_threads(0);
    REQUIRE(one[0].st == MN_OK && one[0].eval_st == MN_OK && one[0].params, "one process: %s%s",
            one[0].err, one[0].eval_err);
    /* per step: agreement (2 sums) once, then 2 sums; evaluation: agreement (2) and 1 */
    CHECK(sums == 2 + 2 * sp->steps + 3, "%d ranks did %d sums, want %d", n, sums,
          2 + 2 * sp->steps + 3);
    for (int k = 0; k < n; k++) {
        REQUIRE(many[k].st == MN_OK && many[k].eval_st == MN_OK && many[k].params,
                "rank %d of %d: %s%s", k, n, many[k].err, many[k].eval_err);
        CHECK(memcmp(many[k].params, many[0].params, one[0].nparams * sizeof(float)) == 0,
              "rank %d's parameters differ from rank 0's", k);
        CHECK(many[k].ev.loss == many[0].ev.loss && many[k].ev.accuracy == many[0].ev.accuracy,
              "rank %d evaluated to %.9g, rank 0 to %.9g", k, many[k].ev.loss, many[0].ev.loss);
    }
    double d = max_rel_diff(one[0].params, many[0].params, one[0].nparams);
    if (getenv("MNEMO_TEST_VERBOSE")) printf("  %d ranks vs one: max rel diff %.3g\n", n, d);
    CHECK(d <= 1e-4, "%s/%s: %d ranks end %.3g (relative) from one process", sp->task,
          sp->cell == MN_LSTM ? "lstm" : "gru", n, d);
    CHECK(d > 0 || n == 1, "the ranks matched one process bit for bit: were the sums used?");
    for (int i = 0; i < sp->steps && i < 64; i++)
        CHECK(fabs(one[0].loss[i] - many[0].loss[i]) <= 1e-4 * fmax(1.0, fabs(one[0].loss[i])),
              "step %d: loss %.9g with ranks, %.9g alone", i + 1, many[0].loss[i],
              one[0].loss[i]);
    CHECK(fabs(one[0].ev.loss - many[0].ev.loss) <= 1e-4 * fmax(1.0, one[0].ev.loss),
          "test loss %.9g with ranks, %.9g alone", many[0].ev.loss, one[0].ev.loss);
    CHECK(one[0].ev.sequences == many[0].ev.sequences, "evaluated %d and %d sequences",
          many[0].ev.sequences, one[0].ev.sequences);
    free_runs(one, 1);
    free_runs(many, n);
}

TEST(comm_two_ranks_train_like_one_process) {
    /* adding: MSE at the last step; eval 20 in batches of 8: shares 4+4, 4+4, 2+2 */
    run_spec sp = {"adding", 20, 12, 12, 8, 20, 0, MN_LSTM, MN_OPT_ADAM};
    check_ranks_like_one(&sp, 2);
}

TEST(comm_three_ranks_tokens_every_step_tbptt) {
    /* copy: tokens in, cross-entropy at every step, truncated BPTT; eval 10 in batches of
     * 6: shares 2+2+2 and 1+1+2 (uneven) */
    run_spec sp = {"copy", 12, 10, 8, 6, 10, 7, MN_GRU, MN_OPT_ADAM};
    check_ranks_like_one(&sp, 3);
}

TEST(comm_refuses_a_batch_that_does_not_split) {
    run_spec sp = {"adding", 10, 4, 1, 7, 4, 0, MN_LSTM, MN_OPT_SGD};
    rank_run r[2];
    memset(r, 0, sizeof r);
    run_ranks(&sp, 2, r);
    for (int k = 0; k < 2; k++)
        CHECK(r[k].st == MN_E_ARG && strstr(r[k].err, "does not split evenly over 2 ranks"),
              "rank %d: %d %s", k, (int)r[k].st, r[k].err);
    free_runs(r, 2);
}

TEST(comm_ranks_that_disagree_fail_together) {
    run_spec sp = {"adding", 10, 4, 2, 4, 4, 0, MN_LSTM, MN_OPT_SGD};
    rank_run r[2];
    memset(r, 0, sizeof r);
    r[1].seed = 2;   /* another seed: other weights, another stream */
    run_ranks(&sp, 2, r);
    for (int k = 0; k < 2; k++)
        CHECK(r[k].st == MN_E_ARG && strstr(r[k].err, "disagree about the parameters"),
              "rank %d: %d %s", k, (int)r[k].st, r[k].err);
    free_runs(r, 2);
}

/* A stop request on one rank stops every rank before the same step, with nothing changed:
 * going on from there gives the run that never stopped, bit for bit. */
TEST(comm_a_stop_on_one_rank_stops_all_between_the_same_steps) {
    run_spec sp = {"adding", 10, 6, 6, 4, 4, 0, MN_LSTM, MN_OPT_ADAM};
    rank_run plain[2], stopped[2];
    memset(plain, 0, sizeof plain);
    memset(stopped, 0, sizeof stopped);
    mn_set_threads(1);
    run_ranks(&sp, 2, plain);
    stopped[1].stop_at = 3;
    run_ranks(&sp, 2, stopped);
    mn_set_threads(0);
    for (int k = 0; k < 2; k++) {
        REQUIRE(plain[k].st == MN_OK && stopped[k].st == MN_OK && stopped[k].params,
                "rank %d: %s / %s", k, plain[k].err, stopped[k].err);
        CHECK(stopped[k].done == 2 && strstr(stopped[k].err, "asked to stop"),
              "rank %d stopped after %d steps: %s", k, stopped[k].done, stopped[k].err);
        CHECK(memcmp(plain[k].params, stopped[k].params, plain[k].nparams * sizeof(float)) == 0,
              "rank %d: stopping and going on changed the weights", k);
    }
    free_runs(plain, 2);
    free_runs(stopped, 2);
}

/* Memory runs out on rank 1 at its n-th allocation of the first step (or evaluation):
 * every rank fails that same step, rank 1 with its own error, rank 0 saying rank 1
 * failed, and no rank is left waiting in a sum. */
TEST(comm_a_failure_on_one_rank_fails_every_rank) {
    run_spec sp = {"adding", 10, 4, 2, 4, 4, 0, MN_LSTM, MN_OPT_SGD};
    int step_phase = 0, draw_phase = 0, eval_phase = 0;
    for (int when = 1; when <= 2; when++)
        for (long n = 0; n < 12; n++) {
            rank_run r[2];
            memset(r, 0, sizeof r);
            r[1].fail_allocs_at = when;
            r[1].fail_after = n;
            run_ranks(&sp, 2, r);
            mn_status own = when == 1 ? r[1].st : r[1].eval_st;
            mn_status peer = when == 1 ? r[0].st : r[0].eval_st;
            const char *msg = when == 1 ? r[0].err : r[0].eval_err;
            if (own == MN_OK) {
                CHECK(peer == MN_OK, "rank 0 failed alone (n=%ld): %s", n, msg);
            } else {
                CHECK(own == MN_E_NOMEM, "rank 1 (n=%ld): %d %s", n, (int)own, r[1].err);
                CHECK(peer == MN_E_STATE, "rank 0 (n=%ld): %d %s", n, (int)peer, msg);
                draw_phase += strstr(msg, "drawing of the first batch") != NULL;
                step_phase += strstr(msg, "rank 1 of 2 failed in step 1") != NULL;
                eval_phase += strstr(msg, "evaluation failed on rank 1 of 2") != NULL;
            }
            free_runs(r, 2);
        }
    CHECK(draw_phase > 0 && step_phase > 0 && eval_phase > 0,
          "failures seen while drawing %d, in the step %d, in evaluation %d (each should occur)",
          draw_phase, step_phase, eval_phase);
}

TEST(comm_batch_take_copies_each_sequence) {
    enum { T = 3, B = 5, I = 2, O = 2, S = 4 };
    float x[T * B * I], tg[T * B * O];
    int32_t tok[T * B], lab[T * B], len[B], src[S * B], slen[B];
    for (int i = 0; i < T * B * I; i++) x[i] = (float)i;
    for (int i = 0; i < T * B * O; i++) tg[i] = (float)-i;
    for (int i = 0; i < T * B; i++) tok[i] = lab[i] = i;
    for (int i = 0; i < S * B; i++) src[i] = 100 + i;
    for (int i = 0; i < B; i++) len[i] = 1 + i % T, slen[i] = 1 + i % S;
    mn_batch b = {T, B, I, x, tok, len, O, tg, lab, S, src, slen};
    mn_batch_part p = {0};
    for (int every = 0; every <= 1; every++) {
        REQUIRE_OK(mn_batch_take(&b, every, 2, 2, &p));
        const mn_batch *q = &p.b;
        CHECK(q->B == 2 && q->T == T && q->S == S, "B %d T %d S %d", q->B, q->T, q->S);
        for (int t = 0; t < T; t++)
            for (int i = 0; i < 2; i++) {
                for (int d = 0; d < I; d++)
                    CHECK(q->x[(t * 2 + i) * I + d] == x[(t * B + 2 + i) * I + d], "x");
                CHECK(q->tokens[t * 2 + i] == tok[t * B + 2 + i], "tokens");
                if (every) CHECK(q->labels[t * 2 + i] == lab[t * B + 2 + i], "labels");
                if (every) CHECK(q->target[(t * 2 + i) * O] == tg[(t * B + 2 + i) * O], "target");
            }
        for (int i = 0; i < 2; i++) {
            CHECK(q->lengths[i] == len[2 + i] && q->src_lengths[i] == slen[2 + i], "lengths");
            if (!every)
                CHECK(q->labels[i] == lab[2 + i] && q->target[i * O + 1] == tg[(2 + i) * O + 1],
                      "per-sequence targets");
            for (int s = 0; s < S; s++)
                CHECK(q->src_tokens[s * 2 + i] == src[s * B + 2 + i], "source");
        }
    }
    CHECK(mn_batch_take(&b, 0, 4, 2, &p) == MN_E_ARG, "a part past the batch's end");
    mn_batch_part_free(&p);
    /* the shares cover every sequence once */
    for (int size = 1; size <= 4; size++)
        for (int BB = 1; BB <= 9; BB++) {
            int next = 0;
            for (int r = 0; r < size; r++) {
                mn_comm c = {r, size, sum_f32, sum_f64, NULL, NULL};
                int i0, n;
                mn_comm_share(&c, BB, &i0, &n);
                CHECK(i0 == next && n >= BB / size && n <= BB / size + 1, "share %d/%d of %d",
                      r, size, BB);
                next = i0 + n;
            }
            CHECK(next == BB, "shares of %d over %d end at %d", BB, size, next);
        }
}

TEST(comm_from_mpi_without_mpi_says_how_to_get_it) {
    mn_comm c;
    mn_status st = mn_comm_from_mpi(NULL, &c);
#ifdef MN_WITH_MPI
    CHECK(st == MN_E_ARG && strstr(mn_last_error(), "NULL"), "%d %s", (int)st, mn_last_error());
#else
    CHECK(st == MN_E_ARG && strstr(mn_last_error(), "built without MPI (make MPI=1)"), "%d %s",
          (int)st, mn_last_error());
#endif
    CHECK(c.size == 0 && c.allreduce_sum_f32 == NULL, "the communicator is left empty");
    mn_comm bad = {2, 2, sum_f32, sum_f64, NULL, NULL};
    CHECK(mn_trainer_set_comm(NULL, &bad) == MN_E_ARG, "NULL trainer");
}
