/* Whether a recurrent step of a few sequences runs on one thread or split among the cores.
 *
 * A split step pays for the threads meeting: a spin barrier per step in a whole-sequence
 * loop, a fork per step in a stream, and each core pulling the other's half of h_t. What
 * that costs depends on the machine, not the shape: ~35 ns a barrier between two cores of
 * one Zen 3 chiplet, ~250 ns each way between two vCPUs on different Zen 5 chiplets, where
 * LSTM 1000×1×128 took 3.8 ms split against 2.95 on one thread. No threshold in
 * multiply-adds holds on both, so the steps are timed. A probe times MN_SPLIT_WINDOW steps
 * on one thread, then as many split (after WARM untimed steps of each, which move weights
 * between the cores' caches), and the faster by the mean (less each window's largest
 * time) runs for a while: RUN_MIN steps, twice as long each time the verdict holds, up
 * to RUN_MAX, then a probe again. A split run ends early when its split steps have taken
 * longer on average than the probe's one-thread steps (after two windows of them), or
 * one split step alone as long as a window of one-thread steps (the other thread was not
 * running: another program has its core), so a loaded machine costs a step or two, not
 * the run. Either mode gives the same bits; only the time differs. */
#include "split_choice.h"

enum { PROBE_SOLO, PROBE_SPLIT, RUN };

#define WARM 2
#define RUN_MIN 256
#define RUN_MAX 65536
#define ALTERNATE_CYCLE 5   /* MN_SPLIT_ALTERNATE: 2 split steps, then 3 on one thread */

int mn_split_choice_policy = MN_SPLIT_MEASURE;

static void start_probe(mn_split_choice *c, int phase, int warm) {
    c->phase = phase;
    c->left = MN_SPLIT_WINDOW;
    c->warm = warm;
    c->n = 0;
    c->sum = 0;
    c->counted = 0;
}

void mn_split_choice_reset(mn_split_choice *c, int B) {
    *c = (mn_split_choice){.last = -1, .B = B};
    start_probe(c, PROBE_SOLO, 1);   /* the first step may find the weights cold */
}

/* The mean of a probe's times without the largest: one step that an interrupt or another
 * program delayed does not decide a run, a steady difference does. */
static double trimmed_mean(const double *v, int n) {
    double sum = 0, top = v[0];
    for (int i = 0; i < n; i++) {
        sum += v[i];
        if (v[i] > top) top = v[i];
    }
    return n > 1 ? (sum - top) / (n - 1) : sum;
}

static void decide(mn_split_choice *c, int verdict) {
    c->run_len = verdict == c->last ? (c->run_len < RUN_MAX / 2 ? 2 * c->run_len : RUN_MAX)
                                    : RUN_MIN;
    c->last = verdict;
    c->phase = RUN;
    c->mode = verdict;
    c->left = c->run_len;
    c->sum = 0;
    c->counted = 0;
}

int mn_split_choice_next(mn_split_choice *c, int max, int *n) {
    *n = 1;
    if (mn_split_choice_policy == MN_SPLIT_ALWAYS) return MN_STEP_SPLIT;
    if (mn_split_choice_policy == MN_SPLIT_ALTERNATE) {   /* counts what it hands out */
        int at = (int)(c->tick % ALTERNATE_CYCLE);
        int mode = at < 2 ? MN_STEP_SPLIT : MN_STEP_SOLO;
        if (mode == MN_STEP_SOLO) *n = ALTERNATE_CYCLE - at < max ? ALTERNATE_CYCLE - at : max;
        c->tick += *n;
        return mode;
    }
    int mode = c->phase == PROBE_SOLO    ? MN_STEP_SOLO
               : c->phase == PROBE_SPLIT ? MN_STEP_SPLIT
                                         : c->mode;
    if (mode == MN_STEP_SOLO) {
        int want = c->phase == RUN ? c->left : c->warm + c->left;
        *n = want < max ? want : max;
        if (*n < 1) *n = 1;
    }
    return mode;
}

/* A split step that alone took as long as a window of one-thread steps: the other
 * thread was not running. */
static int split_stalled(const mn_split_choice *c, double secs) {
    return secs > MN_SPLIT_WINDOW * c->solo_s;
}

void mn_split_choice_record(mn_split_choice *c, int mode, double secs) {
    if (mn_split_choice_policy != MN_SPLIT_MEASURE) return;
    if (c->phase == PROBE_SOLO && mode == MN_STEP_SOLO) {
        if (c->warm > 0) {
            c->warm--;
            return;
        }
        c->win[c->n++] = secs;
        if (--c->left == 0) {
            c->solo_s = trimmed_mean(c->win, c->n);
            start_probe(c, PROBE_SPLIT, WARM);
        }
    } else if (c->phase == PROBE_SPLIT && mode == MN_STEP_SPLIT) {
        /* a warm step may wake a sleeping thread (a stream's fork does): not a stall */
        if (c->warm > 0) c->warm--;
        else if (split_stalled(c, secs)) decide(c, MN_STEP_SOLO);
        else {
            c->win[c->n++] = secs;
            if (--c->left == 0)
                decide(c, trimmed_mean(c->win, c->n) < c->solo_s ? MN_STEP_SPLIT : MN_STEP_SOLO);
        }
    } else if (c->phase == RUN && mode == c->mode) {
        if (mode == MN_STEP_SPLIT) {
            c->sum += secs;
            c->counted++;
            if (split_stalled(c, secs) ||
                (c->counted >= 2 * MN_SPLIT_WINDOW && c->sum > c->counted * c->solo_s)) {
                start_probe(c, PROBE_SOLO, WARM);
                return;
            }
        }
        if (--c->left == 0) start_probe(c, PROBE_SOLO, mode == MN_STEP_SPLIT ? WARM : 0);
    }
    /* else a split step timed after the choice moved on (a loop learns a split step's
     * time one step late): nothing to score */
}
