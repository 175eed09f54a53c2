/* Stop requests (mn_trainer_set_stop, mn_lab_options.stop): a trainer asked to stop takes
 * no further step and changes nothing, so that it can be saved and resumed to the bits of
 * a run that never stopped; the flag works when a signal handler sets it. */
#include "test.h"
#include "model.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    mn_task *task;
    mn_model *m;
    mn_trainer *tr;
} run;

static mn_status open_run(run *r, int steps) {
    memset(r, 0, sizeof *r);
    mn_train_config tc;
    mn_train_config_init(&tc);
    tc.steps = steps;
    tc.batch_size = 4;
    tc.eval_size = 8;
    mn_model_config c;
    mn_model_config_init(&c);
    mn_status st = mn_task_create("adding", 12, tc.seed, &r->task);
    if (st) return st;
    mn_task_configure_model(r->task, &c);
    c.cell = MN_LSTM;
    c.hidden_size = 6;
    if ((st = mn_model_create(&c, tc.seed, &r->m))) return st;
    return mn_trainer_create(r->m, r->task, &tc, &r->tr);
}

static void close_run(run *r) {
    mn_trainer_free(r->tr);
    mn_model_free(r->m);
    mn_task_free(r->task);
}

static mn_status steps(run *r, int n) {
    mn_status st = MN_OK;
    for (int i = 0; i < n && !st; i++) {
        mn_step_stats ss;
        st = mn_trainer_step(r->tr, &ss);
    }
    return st;
}

TEST(stop_flag_takes_no_step_and_changes_nothing) {
    mn_set_threads(1);
    run a, b;
    REQUIRE_OK(open_run(&a, 8));
    REQUIRE_OK(open_run(&b, 8));
    volatile sig_atomic_t stop = 0;
    mn_trainer_set_stop(b.tr, &stop);
    REQUIRE_OK(steps(&a, 8));
    REQUIRE_OK(steps(&b, 3));   /* flag clear: steps as usual */

    size_t bytes = b.m->nparams * sizeof(float);
    float *before = malloc(bytes);
    REQUIRE(before, "out of memory");
    memcpy(before, b.m->params, bytes);
    stop = 1;
    for (int i = 0; i < 2; i++) {   /* asked twice: still nothing taken */
        mn_step_stats ss;
        mn_status st = mn_trainer_step(b.tr, &ss);
        CHECK(st == MN_E_STOPPED, "with the flag set: status %d, want MN_E_STOPPED", (int)st);
        CHECK(mn_last_error()[0], "MN_E_STOPPED without a message");
    }
    CHECK(mn_trainer_steps_done(b.tr) == 3, "steps done %d after a stop, want 3",
          mn_trainer_steps_done(b.tr));
    CHECK(memcmp(before, b.m->params, bytes) == 0, "a stopped step changed the parameters");
    CHECK(stop == 1, "the trainer wrote the caller's flag");

    /* cleared, the run goes on as if it had never been asked: same data, same bits */
    stop = 0;
    CHECK_OK(steps(&b, 5));
    CHECK(memcmp(a.m->params, b.m->params, bytes) == 0,
          "stopped at step 3 and continued: the parameters differ from an unstopped run's");

    /* NULL removes the flag */
    stop = 1;
    mn_trainer_set_stop(b.tr, NULL);
    CHECK_OK(steps(&b, 1));
    free(before);
    close_run(&a);
    close_run(&b);
    mn_set_threads(0);
}

/* The intended use: a handler sets the flag; the run stops at a step boundary, is saved,
 * and a fresh trainer resumed from the file ends where an unstopped run ends. */
static volatile sig_atomic_t got_signal;
static void on_signal(int sig) { got_signal = sig; }

TEST(stop_flag_set_by_a_signal_handler_then_save_and_resume) {
    mn_set_threads(1);
    char dir[256], path[300];
    REQUIRE(mn_test_tmpdir(dir, sizeof dir, "stop"), "no scratch folder");
    snprintf(path, sizeof path, "%s/ck.safetensors", dir);
    run a, b, c;
    REQUIRE_OK(open_run(&a, 10));
    REQUIRE_OK(open_run(&b, 10));
    REQUIRE_OK(steps(&a, 10));

    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    REQUIRE(sigaction(SIGUSR2, &sa, &old) == 0, "sigaction failed");
    got_signal = 0;
    mn_trainer_set_stop(b.tr, &got_signal);
    int taken = 0;
    mn_status st = MN_OK;
    for (int i = 0; i < 10 && !st; i++) {
        if (i == 4) raise(SIGUSR2);   /* delivered before raise returns */
        mn_step_stats ss;
        if (!(st = mn_trainer_step(b.tr, &ss))) taken++;
    }
    sigaction(SIGUSR2, &old, NULL);
    CHECK(st == MN_E_STOPPED && taken == 4 && got_signal == SIGUSR2,
          "signal before step 5: status %d after %d steps (flag %d)", (int)st, taken,
          (int)got_signal);
    REQUIRE_OK(mn_trainer_save(b.tr, path, NULL));

    REQUIRE_OK(open_run(&c, 10));
    REQUIRE_OK(mn_trainer_resume(c.tr, path));
    CHECK(mn_trainer_steps_done(c.tr) == 4, "resumed at step %d, want 4",
          mn_trainer_steps_done(c.tr));
    CHECK_OK(steps(&c, 6));
    CHECK(memcmp(a.m->params, c.m->params, a.m->nparams * sizeof(float)) == 0,
          "stopped by a signal, saved and resumed: the parameters differ from an unstopped run's");
    remove(path);
    rmdir(dir);
    close_run(&a);
    close_run(&b);
    close_run(&c);
    mn_set_threads(0);
}

TEST(stop_flag_ends_a_training_lab_experiment) {
    mn_lab_options o;
    mn_lab_options_init(&o);
    o.n_lengths = 1;
    o.lengths[0] = 5;
    o.steps = 3;
    o.batch = 2;
    o.hidden = 4;
    volatile sig_atomic_t stop = 1;
    o.stop = &stop;
    mn_lab_result *r = malloc(sizeof *r);
    REQUIRE(r, "out of memory");
    mn_status st = mn_lab_run("adding-sweep", &o, r);
    CHECK(st == MN_E_STOPPED, "adding-sweep with the stop flag set: status %d, want "
          "MN_E_STOPPED", (int)st);
    stop = 0;   /* cleared, the same experiment runs */
    CHECK_OK(mn_lab_run("adding-sweep", &o, r));
    free(r);
}
