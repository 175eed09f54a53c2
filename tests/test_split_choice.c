/* The choice between a one-thread and a split recurrent step (split_choice.c), fed made-up
 * times: which mode it picks after a probe, what it leaves out of a probe, how long it
 * keeps a verdict, and when it gives up a split run. The loop and the stream that follow
 * it are checked for bits in test_cells.c and test_stream.c. */
#include "test.h"
#include "split_choice.h"

/* Runs steps as the choice asks, each mode taking its time; returns the mode asked for at
 * the end. `steps` counts steps, a one-thread run of n steps counting n. */
static int drive(mn_split_choice *c, int steps, double solo_s, double split_s) {
    int n, mode = MN_STEP_SOLO;
    for (int done = 0; done < steps; done += n) {
        mode = mn_split_choice_next(c, steps - done, &n);
        for (int i = 0; i < n; i++)
            mn_split_choice_record(c, mode, mode == MN_STEP_SPLIT ? split_s : solo_s);
    }
    return mn_split_choice_next(c, 1 << 30, &n);
}

/* Steps until the choice first asks for `mode` (at most `limit`). */
static int steps_until(mn_split_choice *c, int mode, int limit, double solo_s, double split_s) {
    int n;
    for (int done = 0; done < limit; done += n) {
        int m = mn_split_choice_next(c, 1, &n);
        if (m == mode) return done;
        mn_split_choice_record(c, m, m == MN_STEP_SPLIT ? split_s : solo_s);
    }
    return limit;
}

enum { PROBE = 1 + MN_SPLIT_WINDOW + 2 + MN_SPLIT_WINDOW };   /* cold + solo, warm + split */

TEST(split_choice_picks_the_faster_mode) {
    mn_split_choice c;
    int n;
    mn_split_choice_reset(&c, 4);
    CHECK(mn_split_choice_next(&c, 1000, &n) == MN_STEP_SOLO && n == 1 + MN_SPLIT_WINDOW,
          "a probe starts on one thread for its window and a cold step: n %d", n);
    CHECK(drive(&c, PROBE, 10e-6, 6e-6) == MN_STEP_SPLIT, "split 6 µs against 10: not split");
    CHECK(drive(&c, 200, 10e-6, 6e-6) == MN_STEP_SPLIT, "the split run did not hold");
    mn_split_choice_reset(&c, 4);
    CHECK(drive(&c, PROBE, 10e-6, 12e-6) == MN_STEP_SOLO, "split 12 µs against 10: split");
    CHECK(mn_split_choice_next(&c, 1000, &n) == MN_STEP_SOLO && n == 256,
          "a one-thread verdict asks for its run in one piece: n %d", n);
    CHECK(mn_split_choice_next(&c, 100, &n) == MN_STEP_SOLO && n == 100,
          "at most what is left of the pass: n %d", n);
}

/* The warm steps after each switch and a probe's one slowest step are left out. */
TEST(split_choice_leaves_out_warm_steps_and_one_spike) {
    mn_split_choice c;
    mn_split_choice_reset(&c, 1);
    int n, m;
    drive(&c, 1 + MN_SPLIT_WINDOW, 10e-6, 0);   /* the solo window: 10 µs a step */
    for (int i = 0; i < 2; i++) {               /* warm split steps, slow but not stalled */
        CHECK((m = mn_split_choice_next(&c, 1, &n)) == MN_STEP_SPLIT, "warm step %d: %d", i, m);
        mn_split_choice_record(&c, MN_STEP_SPLIT, 100e-6);
    }
    for (int i = 0; i < MN_SPLIT_WINDOW; i++)   /* one spike among fast steps */
        mn_split_choice_record(&c, MN_STEP_SPLIT, i == 5 ? 150e-6 : 8e-6);
    CHECK(mn_split_choice_next(&c, 1, &n) == MN_STEP_SPLIT,
          "two warm steps and one spike decided against a split 8 µs against 10");
    /* the same window with two spikes: a steady cost, not one delay */
    mn_split_choice_reset(&c, 1);
    drive(&c, 1 + MN_SPLIT_WINDOW + 2, 10e-6, 8e-6);
    for (int i = 0; i < MN_SPLIT_WINDOW; i++)
        mn_split_choice_record(&c, MN_STEP_SPLIT, i == 5 || i == 9 ? 150e-6 : 8e-6);
    CHECK(mn_split_choice_next(&c, 1, &n) == MN_STEP_SOLO,
          "two spikes of 150 µs in 16 steps of 8: still split");
}

/* A split step as long as a window of one-thread steps (the other thread was not running)
 * ends a split run at once; a run whose split steps grow slower on average ends too. */
TEST(split_choice_gives_up_a_split_run) {
    mn_split_choice c;
    int n;
    mn_split_choice_reset(&c, 2);
    drive(&c, PROBE + 10, 10e-6, 6e-6);
    REQUIRE(mn_split_choice_next(&c, 1, &n) == MN_STEP_SPLIT, "no split run to end");
    mn_split_choice_record(&c, MN_STEP_SPLIT, MN_SPLIT_WINDOW * 10e-6 * 1.01);
    CHECK(mn_split_choice_next(&c, 1, &n) == MN_STEP_SOLO, "a stalled step kept the split");
    /* the probe after it: a slow warm step (a thread woken) is no stall; a slow timed
     * step is, and sends a run to one thread at once */
    drive(&c, 2 + MN_SPLIT_WINDOW, 10e-6, 6e-6);
    REQUIRE(mn_split_choice_next(&c, 1, &n) == MN_STEP_SPLIT, "no probe after the stall");
    mn_split_choice_record(&c, MN_STEP_SPLIT, 1e-3);
    mn_split_choice_record(&c, MN_STEP_SPLIT, 6e-6);
    CHECK(mn_split_choice_next(&c, 1, &n) == MN_STEP_SPLIT, "a slow warm step ended the probe");
    mn_split_choice_record(&c, MN_STEP_SPLIT, 1e-3);
    CHECK(mn_split_choice_next(&c, 1000, &n) == MN_STEP_SOLO && n >= 256,
          "a stalled probe step did not send a run to one thread: n %d", n);
    /* split steps that drift slower than one thread: ended within a few windows */
    mn_split_choice_reset(&c, 2);
    drive(&c, PROBE + 10, 10e-6, 6e-6);
    int left = steps_until(&c, MN_STEP_SOLO, 200, 10e-6, 11e-6);
    CHECK(left < 4 * MN_SPLIT_WINDOW, "split at 11 µs against 10 ran %d more steps", left);
    /* one mildly slow window in a long split run does not end it */
    mn_split_choice_reset(&c, 2);
    drive(&c, PROBE + 4 * MN_SPLIT_WINDOW, 10e-6, 6e-6);
    for (int i = 0; i < MN_SPLIT_WINDOW; i++) mn_split_choice_record(&c, MN_STEP_SPLIT, 14e-6);
    CHECK(mn_split_choice_next(&c, 1, &n) == MN_STEP_SPLIT, "one slow window ended the run");
}

/* A verdict that holds is kept twice as long each time; a changed one starts short. */
TEST(split_choice_runs_double_while_the_verdict_holds) {
    mn_split_choice c;
    int n, len[4];
    mn_split_choice_reset(&c, 3);
    for (int r = 0; r < 4; r++) {
        int probe = r == 0 ? PROBE : MN_SPLIT_WINDOW + 2 + MN_SPLIT_WINDOW;
        drive(&c, probe, 10e-6, 12e-6);
        REQUIRE(mn_split_choice_next(&c, 1 << 30, &n) == MN_STEP_SOLO, "run %d not solo", r);
        len[r] = n;
        drive(&c, n, 10e-6, 12e-6);
    }
    CHECK(len[0] == 256 && len[1] == 512 && len[2] == 1024 && len[3] == 2048,
          "runs %d %d %d %d", len[0], len[1], len[2], len[3]);
    drive(&c, MN_SPLIT_WINDOW + 2 + MN_SPLIT_WINDOW, 10e-6, 6e-6);   /* now split wins */
    int m = mn_split_choice_next(&c, 1, &n);
    int run = steps_until(&c, MN_STEP_SOLO, 10000, 10e-6, 6e-6);
    CHECK(m == MN_STEP_SPLIT && run == 256, "the changed verdict: %d, a run of %d", m, run);
}

/* A split step's time that comes after the choice moved on (a loop learns it one step
 * late) changes nothing. */
TEST(split_choice_ignores_a_late_split_time) {
    mn_split_choice a, b;
    int na, nb;
    mn_split_choice_reset(&a, 1);
    mn_split_choice_reset(&b, 1);
    drive(&a, 5, 10e-6, 6e-6);
    drive(&b, 5, 10e-6, 6e-6);
    mn_split_choice_record(&b, MN_STEP_SPLIT, 1.0);   /* during the solo window */
    int ma = mn_split_choice_next(&a, 1000, &na), mb = mn_split_choice_next(&b, 1000, &nb);
    CHECK(ma == mb && na == nb && a.n == b.n && a.phase == b.phase,
          "a late split time changed the probe: %d/%d, %d/%d", ma, mb, na, nb);
}
