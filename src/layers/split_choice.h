/* Whether a recurrent step runs on one thread or split among the cores, chosen by timing
 * both on this machine (split_choice.c). Internal to src/layers. */
#ifndef MN_SPLIT_CHOICE_H
#define MN_SPLIT_CHOICE_H

enum { MN_STEP_SOLO = 0, MN_STEP_SPLIT = 1 };

#define MN_SPLIT_WINDOW 16   /* steps of each mode timed by a probe */

typedef struct {
    int phase;        /* PROBE_SOLO, PROBE_SPLIT or RUN (split_choice.c) */
    int mode;         /* RUN's mode */
    int left;         /* RUN: steps left; probes: steps left to time */
    int warm;         /* steps of a probe still to run untimed after a switch */
    int n;            /* times in win */
    double win[MN_SPLIT_WINDOW];   /* this probe's seconds per step */
    double sum;       /* seconds of a split run's steps so far */
    int counted;      /* steps in sum */
    double solo_s;    /* seconds of a one-thread step, by the last probe */
    int run_len;      /* the last RUN's length: doubles while the verdict holds */
    int last;         /* the last verdict: MN_STEP_SOLO or MN_STEP_SPLIT, -1 before any */
    int B;            /* the batch measured; another starts over */
    long tick;        /* steps handed out under MN_SPLIT_ALTERNATE */
} mn_split_choice;

/* Test hook: 0 measures (the default); MN_SPLIT_ALWAYS splits every step; and
 * MN_SPLIT_ALTERNATE runs two split steps then a one-thread run of three, over and over,
 * so a test meets both switches at known steps. */
enum { MN_SPLIT_MEASURE = 0, MN_SPLIT_ALWAYS = 1, MN_SPLIT_ALTERNATE = 2 };
extern int mn_split_choice_policy;

/* Starts over (a new layer, or a batch of another size). */
void mn_split_choice_reset(mn_split_choice *c, int B);

/* The mode of the next steps: MN_STEP_SPLIT for one step, or MN_STEP_SOLO for *n steps
 * (1 <= *n <= max) that need no other thread; each step then reported by _record. Split
 * steps may be asked for again before the last one's time is recorded. */
int mn_split_choice_next(mn_split_choice *c, int max, int *n);

/* Reports one step of `mode` that took `secs`, from its start to when its output was whole
 * (for a split step, every thread's part). */
void mn_split_choice_record(mn_split_choice *c, int mode, double secs);

#endif
