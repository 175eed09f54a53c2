/* How much data learning takes, through mnemo's trainer on the adding task:
 *
 * sample-complexity: training sequences a tanh RNN and an LSTM need before their test MSE
 * first reaches a target, over lengths T. The RNN's gradient from the marked steps shrinks
 * geometrically in the distance to the loss, so it finds the dependency only after a
 * number of samples that grows roughly like exp(a·T); the LSTM's cell path keeps it, and
 * its need grows much more slowly. Fitted: ln(samples) = b + a·T, a per step of T. A run
 * that never reaches the target within the budget is a lower bound (">budget"), used as
 * such in the fit: it can only make the RNN's rate look smaller than it is.
 *
 * small-data: an LSTM and a GRU of the same hidden size trained on one small fixed training
 * set (the first N sequences of a seeded stream, replayed every epoch by reseeding the
 * task: the trainer itself only knows endless streams), over several seeds of the
 * initialization; test MSE on held-out sequences with a 95% confidence interval (Student
 * t), and the parameter ratio (a GRU holds 3/4 of an LSTM's recurrent weights). The claim
 * that a GRU generalizes better from little data is folklore, not a theorem: the
 * experiment reports which way the measurement goes, or that it cannot tell. */
#include "lab.h"
#include "model.h"
#include "task.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#define MAX_SEEDS 100
#define EVERY 25                 /* steps between evaluations (sample-complexity) */
#define MAX_RUN_CELLS (1 << 24)  /* T·B·H of one training run */

/* The adding task, a model of `cell` and mnemo's trainer as 'mnemo train' sets them up
 * (Adam, clip 1, chrono init for cells with a keep gate), initialized from `seed`. */
typedef struct {
    mn_task *task;
    mn_model *m;
    mn_trainer *tr;
} train_run;

static void run_close(train_run *r) {
    mn_trainer_free(r->tr);
    mn_model_free(r->m);
    mn_task_free(r->task);
    r->tr = NULL;
    r->m = NULL;
    r->task = NULL;
}

static mn_status run_open(train_run *r, const mn_lab_settings *s, int T, mn_cell_kind cell,
                          uint64_t data_seed, uint64_t seed, int eval_size) {
    mn_model_config mc;
    mn_train_config tc;
    r->task = NULL;
    r->m = NULL;
    r->tr = NULL;
    mn_status st = mn_lab_adding_setup(T, data_seed, cell, s->H, &r->task, &mc);
    if (st) return st;
    mn_cell_info ci = {0};
    mc.chrono_tmax = mn_cell_describe(cell, &ci) == MN_OK && ci.keep_gate ? T : 0;
    mn_lab_train_setup(&tc, s->steps, s->batch, seed, eval_size);
    if ((st = mn_model_create(&mc, seed, &r->m)) ||
        (st = mn_trainer_create(r->m, r->task, &tc, &r->tr))) {
        run_close(r);
        return st;
    }
    mn_trainer_set_stop(r->tr, s->stop);
    return MN_OK;
}

static mn_status check_size(const mn_lab_settings *s, int T, const char *name) {
    if ((double)T * s->batch * s->H > MAX_RUN_CELLS)
        return mn_fail(MN_E_ARG, "length %d x batch %d x hidden %d is above the %d that %s "
                       "keeps in memory for one training run; lower --length(s), --batch or "
                       "--hidden", T, s->batch, s->H, MAX_RUN_CELLS, name);
    return MN_OK;
}

static mn_status resolve_seeds(const mn_lab_options *o, int def, int min, int *n) {
    *n = o->seeds ? o->seeds : def;
    if (*n < min || *n > MAX_SEEDS)
        return mn_fail(MN_E_ARG, "seeds must be from %d to %d, got %d", min, MAX_SEEDS, *n);
    return MN_OK;
}

/* --------------------------------------------------------- sample-complexity */

#define SC_STEPS 10000           /* the budget per run */
#define SC_BATCH 32
#define SC_SEEDS 3
#define SC_TARGET 0.05           /* test MSE: 30% of the baseline 1/6 */
#define SC_EVAL 256
#define SC_RATE_FACTOR 2.0       /* "clearly exceeds": at least twice the LSTM's rate ... */
#define SC_RATE_MARGIN 0.02      /* ... and at least 0.02 per step above it */

static const int sc_lengths[] = {10, 20, 30, 40};

/* Steps until the test MSE first reaches the target (checked every EVERY steps), or -1
 * when it does not within s->steps (or the run diverged). */
static mn_status steps_to_target(const mn_lab_settings *s, int T, mn_cell_kind cell,
                                 uint64_t seed, double target, int *steps, double *last) {
    train_run run;
    mn_status st = run_open(&run, s, T, cell, seed, seed, SC_EVAL);
    if (st) return st;
    *steps = -1;
    *last = NAN;
    for (int i = 1; i <= s->steps && !st; i++) {
        mn_step_stats ss;
        mn_eval_stats ev;
        if ((st = mn_trainer_step(run.tr, &ss))) break;
        if (i % EVERY && i < s->steps) continue;
        if ((st = mn_trainer_evaluate(run.tr, &ev))) break;
        *last = ev.loss;
        if (ev.loss <= target) {
            *steps = i;
            break;
        }
    }
    if (st == MN_E_NUMERIC) st = MN_OK;   /* diverged: never reached, not an error */
    run_close(&run);
    return st;
}

/* Least squares of y over x: slope and intercept. */
static void fit_line(const double *x, const double *y, int n, double *slope, double *icpt) {
    double mx = 0, my = 0, sxy = 0, sxx = 0;
    for (int i = 0; i < n; i++) {
        mx += x[i] / n;
        my += y[i] / n;
    }
    for (int i = 0; i < n; i++) {
        sxy += (x[i] - mx) * (y[i] - my);
        sxx += (x[i] - mx) * (x[i] - mx);
    }
    *slope = sxx > 0 ? sxy / sxx : NAN;
    *icpt = my - *slope * mx;
}

static int cmp_steps(const void *a, const void *b) {   /* -1 (never) sorts last */
    int x = *(const int *)a, y = *(const int *)b;
    if (x < 0) x = INT_MAX;
    if (y < 0) y = INT_MAX;
    return (x > y) - (x < y);
}

mn_status mn_lab_sample_complexity(const mn_lab_options *o, mn_lab_result *r) {
    mn_lab_settings s;
    int nseeds;
    mn_status st = mn_lab_resolve(o, 1.0, &s);
    if (st || (st = resolve_seeds(o, SC_SEEDS, 1, &nseeds))) return st;
    if (!s.steps) s.steps = SC_STEPS;
    if (!s.batch) s.batch = SC_BATCH;
    double target = o->target != 0 ? o->target : SC_TARGET;
    if (!(target > 0 && target < 1e3))
        return mn_fail(MN_E_ARG, "target test MSE must be a positive number, got %g", target);
    int n = o->n_lengths ? o->n_lengths : (int)(sizeof sc_lengths / sizeof sc_lengths[0]);
    const int *Ls = o->n_lengths ? o->lengths : sc_lengths;
    if (n < 2 || n > MN_LAB_MAX_LIST)
        return mn_fail(MN_E_ARG, "a growth rate over lengths needs 2 to %d lengths, got %d",
                       MN_LAB_MAX_LIST, n);
    for (int i = 0; i < n; i++) {
        if (Ls[i] < 2 || Ls[i] > MN_LAB_MAX_LENGTH)
            return mn_fail(MN_E_ARG, "sample-complexity lengths must be from 2 to %d, got %d",
                           MN_LAB_MAX_LENGTH, Ls[i]);
        if ((st = check_size(&s, Ls[i], "sample-complexity"))) return st;
        for (int j = 0; j < i; j++)
            if (Ls[j] == Ls[i])
                return mn_fail(MN_E_ARG, "length %d is given twice", Ls[i]);
    }
    static const mn_cell_kind cells[2] = {MN_RNN_TANH, MN_LSTM};
    static const char *const names[2] = {"rnn", "lstm"};
    double x[MN_LAB_MAX_LIST], y[2][MN_LAB_MAX_LIST], rate[2], icpt[2];
    int censored[2] = {0, 0}, over[2][MN_LAB_MAX_LIST];
    const double budget = (double)s.steps * s.batch;
    mn_lab_text(r->claim, sizeof r->claim, "the training sequences a tanh RNN needs to learn "
                "the adding problem grow roughly exponentially in the length T, an LSTM's much "
                "more slowly: the RNN's fitted growth rate clearly exceeds the LSTM's");
    mn_lab_text(r->quantity, sizeof r->quantity, "fitted rate a of ln(samples) = b + a*T, per "
                "step: tanh RNN (theory column: the LSTM's)");
    mn_lab_text(r->criterion, sizeof r->criterion, "RNN's rate >= %g x the LSTM's and >= it + "
                "%g per step; every LSTM run reaches the target", SC_RATE_FACTOR,
                SC_RATE_MARGIN);
    mn_lab_say(r,
        "setup: mnemo's trainer with its defaults (Adam lr 5e-3, clip 1; chrono init for\n"
        "       the LSTM), H %d, batch %d, budget %d steps (%.0f sequences) per run; test\n"
        "       MSE on %d held-out sequences every %d steps. samples: sequences seen when it\n"
        "       first reaches %g (baseline 1/6); median over %d seed%s (lower median when\n"
        "       even); '>' marks a run or median that never reached it: a lower bound.\n",
        s.H, s.batch, s.steps, budget, SC_EVAL, EVERY, target, nseeds, nseeds == 1 ? "" : "s");
    mn_lab_say(r, "\n  %6s  %-12s %-12s  %s\n", "length", "rnn", "lstm", "runs (rnn | lstm)");
    for (int i = 0; i < n; i++) {
        x[i] = Ls[i];
        char runs[2][256];
        for (int c = 0; c < 2; c++) {
            int steps[MAX_SEEDS];
            size_t used = 0;
            runs[c][0] = 0;
            for (int k = 0; k < nseeds; k++) {
                double last;
                if ((st = steps_to_target(&s, Ls[i], cells[c], s.seed + (uint64_t)k, target,
                                          &steps[k], &last)))
                    return st;
                mn_lab_progress(o, "sample-complexity: length %d, %s, seed %llu: %s%.0f "
                                "sequences (test MSE %.4g)", Ls[i], names[c],
                                (unsigned long long)(s.seed + (uint64_t)k), steps[k] < 0 ?
                                ">" : "", steps[k] < 0 ? budget : (double)steps[k] * s.batch,
                                last);
                if (used + 1 < sizeof runs[c])
                    used += (size_t)snprintf(runs[c] + used, sizeof runs[c] - used, "%s%s%.0f",
                                             k ? " " : "", steps[k] < 0 ? ">" : "",
                                             steps[k] < 0 ? budget : (double)steps[k] * s.batch);
            }
            qsort(steps, (size_t)nseeds, sizeof steps[0], cmp_steps);
            int med = steps[(nseeds - 1) / 2];
            double samples = med < 0 ? budget : (double)med * s.batch;
            over[c][i] = med < 0;
            censored[c] += med < 0;
            y[c][i] = log(samples);
            mn_lab_putf(r, samples, "%s_T%d_samples", names[c], Ls[i]);
            mn_lab_putf(r, med < 0, "%s_T%d_over_budget", names[c], Ls[i]);
        }
        char cell[2][24];
        for (int c = 0; c < 2; c++)
            snprintf(cell[c], sizeof cell[c], "%s%.0f", over[c][i] ? ">" : "", exp(y[c][i]));
        mn_lab_say(r, "  %6d  %-12s %-12s  %s | %s\n", Ls[i], cell[0], cell[1], runs[0],
                   runs[1]);
    }
    for (int c = 0; c < 2; c++) fit_line(x, y[c], n, &rate[c], &icpt[c]);
    mn_lab_say(r, "\n  fitted growth rate a (per step of T): rnn %.4f%s, lstm %.4f%s\n"
                  "  i.e. x%.3g (rnn) and x%.3g (lstm) more sequences per 10 steps of T\n",
               rate[0], censored[0] ? " (a lower bound: some medians are over budget)" : "",
               rate[1], censored[1] ? " (a lower bound)" : "", exp(10 * rate[0]),
               exp(10 * rate[1]));
    mn_lab_put(r, "rnn_rate", rate[0]);
    mn_lab_put(r, "lstm_rate", rate[1]);
    mn_lab_put(r, "rnn_over_budget", censored[0]);
    mn_lab_put(r, "lstm_over_budget", censored[1]);
    mn_lab_put(r, "target", target);
    mn_lab_put(r, "budget_sequences", budget);
    mn_lab_put(r, "seeds", nseeds);
    int clear = rate[0] >= SC_RATE_FACTOR * rate[1] && rate[0] >= rate[1] + SC_RATE_MARGIN;
    /* a censored RNN median only lowers its rate: a clear result stands; an unclear one
     * cannot be told from a budget too small */
    int applies = !censored[1] && (clear || !censored[0]);
    if (censored[1])
        mn_lab_text(r->note, sizeof r->note, "the LSTM's median never reached MSE %g within "
                    "%d steps at %d length%s, so its rate is only a lower bound; raise --steps "
                    "or --target", target, s.steps, censored[1], censored[1] == 1 ? "" : "s");
    else if (!applies)
        mn_lab_text(r->note, sizeof r->note, "the RNN's median never reached MSE %g at %d "
                    "length%s: its rate %.3g is a lower bound that does not settle the claim; "
                    "raise --steps", target, censored[0], censored[0] == 1 ? "" : "s", rate[0]);
    mn_lab_verdict(r, rate[1], rate[0], applies, clear);
    return MN_OK;
}

/* ---------------------------------------------------------------- small-data */

#define SD_LENGTH 50
#define SD_TRAIN 256
#define SD_STEPS 1000
#define SD_BATCH 32
#define SD_SEEDS 8
#define SD_EVAL 1000
#define SD_EQUIV 0.10      /* "clearly equal": the difference's 95% CI within ±10% of the mean */

/* Student t's 0.975 quantile with df degrees of freedom (df >= 1). */
static double t975(double df) {
    static const double t[] = {12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306,
                               2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131, 2.120,
                               2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064,
                               2.060, 2.056, 2.052, 2.048, 2.045, 2.042};
    int d = (int)floor(df);   /* fewer degrees of freedom: the wider, safer interval */
    if (d < 1) d = 1;
    return d <= 30 ? t[d - 1] : 1.959964 + 2.37 / d;
}

typedef struct {
    double mean, sd, half;   /* half-width of the 95% interval of the mean */
} sample_stats;

static sample_stats stats_of(const double *v, int n) {
    sample_stats st = {0, 0, NAN};
    for (int i = 0; i < n; i++) st.mean += v[i] / n;
    for (int i = 0; i < n; i++) st.sd += (v[i] - st.mean) * (v[i] - st.mean);
    st.sd = n > 1 ? sqrt(st.sd / (n - 1)) : NAN;
    if (n > 1) st.half = t975(n - 1) * st.sd / sqrt((double)n);
    return st;
}

/* One model trained on the fixed set: the task replays its first `pool` sequences every
 * epoch. test: MSE on the held-out stream; train: mean step loss over the last epoch
 * (NaN both when the run diverged). */
static mn_status small_run(const mn_lab_settings *s, mn_cell_kind cell, uint64_t seed, int pool,
                           double *test, double *train, size_t *params) {
    train_run run;
    mn_status st = run_open(&run, s, s->T, cell, s->seed, seed, SD_EVAL);
    if (st) return st;
    *params = mn_model_param_count(run.m);
    int epoch = pool / s->batch;
    double sum = 0;
    int count = 0;
    *test = *train = NAN;
    for (int i = 0; i < s->steps && !st; i++) {
        mn_step_stats ss;
        if (i % epoch == 0) {
            mn_task_reseed(run.task, s->seed);   /* the same sequences, in the same order */
            sum = 0;
            count = 0;
        }
        if (!(st = mn_trainer_step(run.tr, &ss))) {
            sum += ss.loss;
            count++;
        }
    }
    mn_eval_stats ev;
    if (st == MN_E_NUMERIC) st = MN_OK;   /* diverged: NaN, reported */
    else if (!st && !(st = mn_trainer_evaluate(run.tr, &ev))) {
        *test = ev.loss;
        *train = count ? sum / count : NAN;
    }
    run_close(&run);
    return st;
}

mn_status mn_lab_small_data(const mn_lab_options *o, mn_lab_result *r) {
    mn_lab_settings s;
    int nseeds;
    mn_status st = mn_lab_resolve(o, 1.0, &s);
    if (st || (st = resolve_seeds(o, SD_SEEDS, 2, &nseeds))) return st;
    if (!o->length) s.T = SD_LENGTH;
    if (!s.steps) s.steps = SD_STEPS;
    if (!s.batch) s.batch = SD_BATCH;
    int pool = o->train_size ? o->train_size : SD_TRAIN;
    if (pool < 1 || pool > (1 << 20))
        return mn_fail(MN_E_ARG, "training set size must be from 1 to 2^20 sequences, got %d",
                       pool);
    if (pool % s.batch)
        return mn_fail(MN_E_ARG, "the fixed training set of %d sequences is replayed in "
                       "batches of %d, which do not divide it; give a --train-size that is a "
                       "multiple of --batch (or a --batch that divides it)", pool, s.batch);
    if ((st = check_size(&s, s.T, "small-data"))) return st;
    static const mn_cell_kind cells[2] = {MN_LSTM, MN_GRU};
    static const char *const names[2] = {"lstm", "gru"};
    double test[2][MAX_SEEDS], train[2][MAX_SEEDS];
    size_t params[2] = {0, 0};
    int diverged = 0;
    for (int k = 0; k < nseeds; k++)
        for (int c = 0; c < 2; c++) {
            uint64_t seed = s.seed + (uint64_t)k;
            if ((st = small_run(&s, cells[c], seed, pool, &test[c][k], &train[c][k],
                                &params[c])))
                return st;
            diverged += isnan(test[c][k]);
            mn_lab_putf(r, test[c][k], "%s_test_seed%llu", names[c], (unsigned long long)seed);
            mn_lab_progress(o, "small-data: %s, seed %llu: test MSE %.4g, train MSE %.4g",
                            names[c], (unsigned long long)seed, test[c][k], train[c][k]);
        }
    sample_stats ts[2], tr[2];
    for (int c = 0; c < 2; c++) {
        ts[c] = stats_of(test[c], nseeds);
        tr[c] = stats_of(train[c], nseeds);
    }
    mn_lab_text(r->claim, sizeof r->claim, "trained on a small fixed training set, a GRU "
                "generalizes better than an LSTM of the same hidden size (it has 3/4 of the "
                "recurrent weights); a folk claim: the measurement may support or refute it");
    mn_lab_text(r->quantity, sizeof r->quantity, "mean test MSE, GRU minus LSTM (the claim: "
                "below 0)");
    mn_lab_text(r->criterion, sizeof r->criterion, "decided: 95%% CIs separated, or the "
                "difference's 95%% CI within +-%g%% of the mean (clearly equal)", 100 * SD_EQUIV);
    mn_lab_say(r,
        "setup: the adding task, T %d; a fixed training set of its first %d sequences,\n"
        "       replayed in the same order every epoch (%d steps of batch %d); LSTM and GRU,\n"
        "       H %d, mnemo's trainer with its defaults (Adam lr 5e-3, clip 1, chrono\n"
        "       init), %d steps (%.1f epochs); %d seeds of the initialization (%llu..%llu),\n"
        "       the same training set for all; test MSE on %d held-out sequences.\n",
        s.T, pool, pool / s.batch, s.batch, s.H, s.steps, (double)s.steps * s.batch / pool,
        nseeds, (unsigned long long)s.seed, (unsigned long long)(s.seed + nseeds - 1), SD_EVAL);
    mn_lab_say(r, "\n  %6s  %12s  %12s  %12s  %12s\n", "seed", "LSTM test", "GRU test",
               "LSTM train", "GRU train");
    for (int k = 0; k < nseeds; k++)
        mn_lab_say(r, "  %6llu  %12.5g  %12.5g  %12.5g  %12.5g\n",
                   (unsigned long long)(s.seed + (uint64_t)k), test[0][k], test[1][k],
                   train[0][k], train[1][k]);
    mn_lab_say(r, "\n  %-5s  %-24s  %-22s  %10s  %10s  %10s\n", "cell", "test MSE: mean +- 95% CI",
               "interval", "train MSE", "test-train", "parameters");
    for (int c = 0; c < 2; c++)
        mn_lab_say(r, "  %-5s  %10.5g +- %-10.3g  [%9.4g, %9.4g]  %10.5g  %10.3g  %10zu\n",
                   names[c], ts[c].mean, ts[c].half, ts[c].mean - ts[c].half,
                   ts[c].mean + ts[c].half, tr[c].mean, ts[c].mean - tr[c].mean, params[c]);
    double diff = ts[1].mean - ts[0].mean;
    double v0 = ts[0].sd * ts[0].sd / nseeds, v1 = ts[1].sd * ts[1].sd / nseeds;
    double se = sqrt(v0 + v1);
    double df = (v0 + v1) * (v0 + v1) / (v0 * v0 / (nseeds - 1) + v1 * v1 / (nseeds - 1));
    double dhalf = se > 0 ? t975(df) * se : 0;
    double margin = SD_EQUIV * (ts[0].mean + ts[1].mean) / 2;
    int gru_better = ts[1].mean + ts[1].half < ts[0].mean - ts[0].half;
    int lstm_better = ts[0].mean + ts[0].half < ts[1].mean - ts[1].half;
    int equal = !gru_better && !lstm_better && fabs(diff) + dhalf <= margin;
    const char *verdict = gru_better ? "GRU better (the claim holds here)"
                          : lstm_better ? "LSTM better (the claim is refuted here)"
                          : equal ? "no clear difference: equal within +-10% (neither is better)"
                                  : "undecided: the intervals overlap, and equality is not shown";
    mn_lab_say(r, "\n  GRU - LSTM: %.4g, 95%% CI [%.4g, %.4g] (Welch, df %.1f); +-10%% of the "
                  "mean: +-%.3g\n  parameter ratio GRU / LSTM: %.4f (recurrent layer alone "
                  "3/4; the head is shared)\n  verdict: %s\n",
               diff, diff - dhalf, diff + dhalf, df, margin, (double)params[1] / params[0],
               verdict);
    for (int c = 0; c < 2; c++) {
        mn_lab_putf(r, ts[c].mean, "%s_test_mean", names[c]);
        mn_lab_putf(r, ts[c].half, "%s_test_ci95", names[c]);
        mn_lab_putf(r, tr[c].mean, "%s_train_mean", names[c]);
        mn_lab_putf(r, (double)params[c], "%s_params", names[c]);
    }
    mn_lab_put(r, "param_ratio", (double)params[1] / params[0]);
    mn_lab_put(r, "diff_ci95", dhalf);
    mn_lab_put(r, "gru_better", gru_better ? 1 : lstm_better ? -1 : 0);
    mn_lab_put(r, "clearly_equal", equal);
    mn_lab_put(r, "seeds", nseeds);
    mn_lab_put(r, "train_size", pool);
    mn_lab_put(r, "length", s.T);
    mn_lab_put(r, "steps", s.steps);
    int applies = !diverged && (gru_better || lstm_better || equal);
    if (diverged)
        mn_lab_text(r->note, sizeof r->note, "%d run%s diverged (NaN/Inf), so there is no mean "
                    "to compare", diverged, diverged == 1 ? "" : "s");
    else if (!applies)
        mn_lab_text(r->note, sizeof r->note, "%s: GRU - LSTM = %.3g +- %.3g; more --seeds "
                    "would narrow the intervals", verdict, diff, dhalf);
    else mn_lab_text(r->note, sizeof r->note, "%s", verdict);
    mn_lab_verdict(r, 0, diff, applies, applies);
    return MN_OK;
}
