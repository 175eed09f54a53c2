/* The message of a run stopped by NaN/Inf (issue 15, item 6) is true in its context: what
 * was not finite; before any update of the weights it advises neither the learning rate nor
 * clipping (nothing was updated) but the initialization or the inputs' scale; after updates
 * it advises a lower learning rate and clipping, or a lower clipping threshold when
 * clipping is on. NaN weights make every step's loss NaN, wherever the test puts them. */
#include "test.h"
#include "model.h"

#include <string.h>

typedef struct {
    mn_task *task;
    mn_model *m;
    mn_trainer *tr;
} run;

static mn_status open_run(run *r, float clip_norm, float clip_value, int max_bad) {
    memset(r, 0, sizeof *r);
    mn_train_config tc;
    mn_train_config_init(&tc);
    tc.steps = 20;
    tc.batch_size = 4;
    tc.eval_size = 8;
    tc.clip_norm = clip_norm;
    tc.clip_value = clip_value;
    tc.max_bad_steps = max_bad;
    mn_model_config c;
    mn_model_config_init(&c);
    mn_status st = mn_task_create("adding", 12, tc.seed, &r->task);
    if (st) return st;
    mn_task_configure_model(r->task, &c);
    c.cell = MN_RNN_RELU;
    c.hidden_size = 6;
    if ((st = mn_model_create(&c, tc.seed, &r->m))) return st;
    return mn_trainer_create(r->m, r->task, &tc, &r->tr);
}

static void close_run(run *r) {
    mn_trainer_free(r->tr);
    mn_model_free(r->m);
    mn_task_free(r->task);
}

/* Steps until one fails; returns its status and copies the message into msg. */
static mn_status steps_until_stop(run *r, int most, char *msg, size_t cap) {
    for (int i = 0; i < most; i++) {
        mn_step_stats ss;
        mn_status st = mn_trainer_step(r->tr, &ss);
        if (st) {
            snprintf(msg, cap, "%s", mn_last_error());
            return st;
        }
    }
    msg[0] = 0;
    return MN_OK;
}

static void has(const char *what, const char *msg, const char *part, int want) {
    CHECK(!strstr(msg, part) == !want, "%s: the message %s \"%s\": %s", what,
          want ? "lacks" : "has", part, msg);
}

TEST(numeric_stop_before_any_update_names_the_initialization_not_clipping) {
    for (int max_bad = 1; max_bad <= 3; max_bad += 2) {
        run r;
        REQUIRE_OK(open_run(&r, 1.0f, 0.0f, max_bad));
        r.m->params[0] = NAN;                     /* the initial weights: NaN loss at once */
        char msg[1024];
        mn_status st = steps_until_stop(&r, 10, msg, sizeof msg);
        CHECK(st == MN_E_NUMERIC, "status %d, want MN_E_NUMERIC", (int)st);
        CHECK(mn_trainer_steps_done(r.tr) == max_bad, "stopped after %d steps, want %d",
              mn_trainer_steps_done(r.tr), max_bad);
        const char *what = max_bad == 1 ? "--max-faults 1" : "--max-faults 3";
        has(what, msg, "before any update", 1);
        has(what, msg, max_bad == 1 ? "at the first step" : "at each of the first 3 steps", 1);
        has(what, msg, "the loss was NaN", 1);
        has(what, msg, "--init", 1);
        has(what, msg, "scale of the inputs", 1);
        has(what, msg, "--clip", 0);          /* clipping is on and cannot help: not advised */
        has(what, msg, "lower the learning rate", 0);
        close_run(&r);
    }
}

TEST(numeric_stop_after_updates_advises_lr_and_clipping_as_set) {
    static const struct { float norm, value; const char *advice; } cases[] = {
        {0.0f, 0.0f, "clip the gradients (--clip 1)"},
        {2.0f, 0.0f, "the clipping threshold (--clip, now 2)"},
        {0.0f, 0.5f, "the clipping threshold (--clip-value, now 0.5)"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        run r;
        REQUIRE_OK(open_run(&r, cases[c].norm, cases[c].value, 2));
        char msg[1024];
        REQUIRE_OK(steps_until_stop(&r, 3, msg, sizeof msg));   /* three updates */
        r.m->params[0] = NAN;
        mn_status st = steps_until_stop(&r, 10, msg, sizeof msg);
        CHECK(st == MN_E_NUMERIC && mn_trainer_steps_done(r.tr) == 5,
              "status %d after %d steps, want MN_E_NUMERIC after 5", (int)st,
              mn_trainer_steps_done(r.tr));
        has(cases[c].advice, msg, "in 2 steps in a row (at step 5 the loss was NaN)", 1);
        has(cases[c].advice, msg, "after earlier steps updated the weights", 1);
        has(cases[c].advice, msg, "lower the learning rate", 1);
        has(cases[c].advice, msg, cases[c].advice, 1);
        has(cases[c].advice, msg, "before any update", 0);
        close_run(&r);
    }
}
