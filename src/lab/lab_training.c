/* Experiments through mnemo's trainer: truncated BPTT and where its gradient stops, and
 * the adding-problem sweep of tanh RNN vs LSTM vs GRU over lengths. */
#include "lab.h"
#include "model.h"

#include <math.h>
#include <stdlib.h>

#define MAX_SWEEP_CELLS (1 << 24) /* T·B·H of one adding-sweep run */

static const int default_lengths[] = {25, 50, 100, 200, 400};

/* ------------------------------------------------------------------ tbptt */

/* One training step of the trainer on the adding task with a chrono-initialized LSTM
 * (whose gradient reaches far back without truncation), chunk length k (0: full BPTT);
 * dh[t] receives the recorder's ‖∂L/∂h_t‖ of the first layer, dc[t] ‖∂L/∂c_t‖. */
static mn_status tbptt_profile(const mn_lab_settings *s, int k, double *dh, double *dc) {
    mn_task *task = NULL;
    mn_model *m = NULL;
    mn_trainer *tr = NULL;
    mn_grad_recorder *rec = NULL;
    mn_model_config mc;
    mn_train_config tc;
    mn_status st = mn_lab_adding_setup(s->T, s->seed, MN_LSTM, s->H, &task, &mc);
    if (st) return st;
    mc.chrono_tmax = s->T;
    mn_lab_train_setup(&tc, 1, 4, s->seed, 1);
    tc.tbptt = k;
    mn_step_stats ss;
    if (!(st = mn_model_create(&mc, s->seed, &m)) && !(st = mn_trainer_create(m, task, &tc, &tr)) &&
        !(st = mn_grad_recorder_attach(m, s->T, &rec)) && !(st = mn_trainer_step(tr, &ss)) &&
        mn_grad_recorder_profile(rec, 0, dh, dc) < 1)
        st = mn_fail(MN_E_STATE, "the gradient recorder saw no backward pass");
    mn_grad_recorder_detach(rec);
    mn_trainer_free(tr);
    mn_model_free(m);
    mn_task_free(task);
    return st;
}

mn_status mn_lab_tbptt(const mn_lab_options *o, mn_lab_result *r) {
    mn_lab_settings s;
    double *buf;
    mn_status st = mn_lab_resolve(o, 1.0, &s);
    if (st || (st = mn_lab_alloc_doubles(&buf, 4 * (size_t)s.T))) return st;
    int T = s.T, k = s.k;
    double *full = buf, *trunc = buf + T, *fullc = buf + 2 * T, *truncc = buf + 3 * T;
    /* chunks start at 0, k, 2k, ...: the last one holds the loss and has L <= k steps */
    int last = T - k * ((T - 1) / k);
    mn_lab_text(r->claim, sizeof r->claim, "with truncated BPTT in chunks of k steps no gradient "
                "crosses a chunk boundary: a loss at the last step reaches only the last chunk "
                "(at most k steps); every earlier step gets exactly 0");
    mn_lab_text(r->quantity, sizeof r->quantity, "steps t with |dL/dh_t| != 0, k = %d, T = %d",
                k, T);
    mn_lab_text(r->criterion, sizeof r->criterion, "exactly the last %d step%s nonzero, all "
                "earlier steps exactly 0", last, last > 1 ? "s" : "");
    if ((st = tbptt_profile(&s, 0, full, fullc)) || (st = tbptt_profile(&s, k, trunc, truncc)))
        goto done;
    int nonzero = 0, full_nonzero = 0, exact = 1;
    for (int t = 0; t < T; t++) {
        nonzero += trunc[t] != 0;
        full_nonzero += full[t] != 0;
        if (t < T - last ? trunc[t] != 0 || truncc[t] != 0 : trunc[t] == 0) exact = 0;
    }
    mn_lab_say(r,
        "setup: one step of mnemo's trainer on a batch of 4 adding-task sequences, T %d,\n"
        "       LSTM H %d with chrono init; the loss reads the last step. Norms from the\n"
        "       gradient recorder (mn_grad_recorder_*), full BPTT vs --tbptt %d; chunks\n"
        "       start at 0, %d, ..., so the last one holds %d step%s.\n",
        T, s.H, k, k, last, last > 1 ? "s" : "");
    int want[] = {0, last - 1, last, last + 1, k, 2 * k, T / 2, T - 1}, shown[8], n = 0;
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        int g = want[i], dup = 0;
        for (int j = 0; j < n; j++) dup |= shown[j] == g;
        if (g >= 0 && g < T && !dup) shown[n++] = g;
    }
    qsort(shown, (size_t)n, sizeof shown[0], mn_lab_cmp_int);
    mn_lab_say(r, "\n  %6s  %6s  %14s  %14s  %14s\n", "lag", "t", "full BPTT", "truncated",
               "trunc |dL/dc|");
    for (int i = 0; i < n; i++) {
        int t = T - 1 - shown[i];
        mn_lab_say(r, "  %6d  %6d  %14.6g  %14.6g  %14.6g\n", shown[i], t, full[t], trunc[t],
                   truncc[t]);
    }
    mn_lab_say(r,
        "\n  steps with a nonzero gradient: full BPTT %d of %d, truncated %d (theory %d)\n",
        full_nonzero, T, nonzero, last);
    mn_lab_put(r, "tbptt", k);
    mn_lab_put(r, "length", T);
    mn_lab_put(r, "last_chunk", last);
    mn_lab_put(r, "nonzero_steps_full", full_nonzero);
    mn_lab_put(r, "horizon_full", mn_gradient_horizon(full, T, MN_LAB_HORIZON_THRESHOLD));
    mn_lab_put(r, "horizon_truncated", mn_gradient_horizon(trunc, T, MN_LAB_HORIZON_THRESHOLD));
    int applies = full_nonzero == T && last < T;
    if (last >= T)
        mn_lab_text(r->note, sizeof r->note, "k = %d >= T = %d: one chunk, nothing is truncated",
                    k, T);
    else if (full_nonzero < T)
        mn_lab_text(r->note, sizeof r->note, "even full BPTT gives exact zeros at %d steps "
                    "(float32 underflow), so zeros cannot be credited to truncation",
                    T - full_nonzero);
    mn_lab_verdict(r, last, nonzero, applies, exact && nonzero == last);
done:
    mn_release(buf);
    return st;
}

/* ------------------------------------------------------------ adding-sweep */

#define SWEEP_STEPS 2000
#define SWEEP_BATCH 32
#define SWEEP_EVAL 500
#define SOLVED_MSE 0.01          /* 6% of the baseline 1/6 */
#define NEAR_BASELINE 0.5        /* test MSE above half the baseline: nothing learned */

typedef struct {
    double mse;                  /* NaN when training diverged */
    int horizon;
} sweep_run;

/* Train one model on the adding task with mnemo's trainer and default settings (Adam,
 * clip 1; chrono init for gated cells, as 'mnemo train' does), record the gradient profile
 * over the last tenth of the steps and evaluate on held-out sequences. */
static mn_status sweep_one(const mn_lab_settings *s, int T, mn_cell_kind cell, sweep_run *out) {
    mn_task *task = NULL;
    mn_model *m = NULL;
    mn_trainer *tr = NULL;
    mn_grad_recorder *rec = NULL;
    double *dh = NULL;
    mn_model_config mc;
    mn_train_config tc;
    mn_status st = mn_lab_adding_setup(T, s->seed, cell, s->H, &task, &mc);
    if (st) return st;
    mn_cell_info ci = {0};   /* chrono init for cells with a keep gate, as mnemo train does */
    mc.chrono_tmax = mn_cell_describe(cell, &ci) == MN_OK && ci.keep_gate
                         ? mn_task_get_info(task)->max_steps : 0;
    mn_lab_train_setup(&tc, s->steps, s->batch, s->seed, SWEEP_EVAL);
    out->mse = NAN;
    out->horizon = 0;
    if ((st = mn_model_create(&mc, s->seed, &m)) || (st = mn_trainer_create(m, task, &tc, &tr)) ||
        (st = mn_grad_recorder_attach(m, T, &rec)) || (st = mn_lab_alloc_doubles(&dh, (size_t)T)))
        goto done;
    mn_trainer_set_stop(tr, s->stop);
    int window = MN_MAX(1, s->steps / 10);
    for (int i = 0; i < s->steps && !st; i++) {
        mn_step_stats ss;
        if (i == s->steps - window) mn_grad_recorder_clear(rec);
        st = mn_trainer_step(tr, &ss);
    }
    if (st == MN_E_NUMERIC) {   /* diverged: a measurement, not an error */
        st = MN_OK;
        goto done;
    }
    mn_eval_stats ev;
    if (st || (st = mn_trainer_evaluate(tr, &ev))) goto done;
    out->mse = ev.loss;
    mn_grad_recorder_profile(rec, 0, dh, NULL);
    out->horizon = mn_gradient_horizon(dh, T, MN_LAB_HORIZON_THRESHOLD);
done:
    mn_release(dh);
    mn_grad_recorder_detach(rec);
    mn_trainer_free(tr);
    mn_model_free(m);
    mn_task_free(task);
    return st;
}

static int solved(double mse) { return mse < SOLVED_MSE; }
static int near_baseline(double mse) { return !(mse <= NEAR_BASELINE / 6.0); }  /* NaN too */

static const char *outcome(double mse) {
    return solved(mse) ? "solved" : near_baseline(mse) ? "baseline" : "partly";
}

mn_status mn_lab_adding_sweep(const mn_lab_options *o, mn_lab_result *r) {
    mn_lab_settings s;
    mn_status st = mn_lab_resolve(o, 1.0, &s);
    if (st) return st;
    if (!s.steps) s.steps = SWEEP_STEPS;
    if (!s.batch) s.batch = SWEEP_BATCH;
    int n = o->n_lengths ? o->n_lengths : (int)(sizeof default_lengths / sizeof(int));
    const int *Ls = o->n_lengths ? o->lengths : default_lengths;
    if (n < 1 || n > MN_LAB_MAX_LIST)
        return mn_fail(MN_E_ARG, "give 1 to %d lengths, got %d", MN_LAB_MAX_LIST, n);
    for (int i = 0; i < n; i++)
        if (Ls[i] < 2 || Ls[i] > MN_LAB_MAX_LENGTH)
            return mn_fail(MN_E_ARG, "adding-sweep lengths must be from 2 to %d, got %d",
                           MN_LAB_MAX_LENGTH, Ls[i]);
        else if ((double)Ls[i] * s.batch * s.H > MAX_SWEEP_CELLS)
            return mn_fail(MN_E_ARG, "length %d x batch %d x hidden %d is above the %d the "
                           "sweep keeps in memory; lower --lengths, --batch or --hidden",
                           Ls[i], s.batch, s.H, MAX_SWEEP_CELLS);
    static const mn_cell_kind cells[] = {MN_RNN_TANH, MN_LSTM, MN_GRU};
    mn_lab_text(r->claim, sizeof r->claim, "on the adding problem, gated cells (LSTM, GRU) solve "
                "the lengths at which a tanh RNN stays near the baseline MSE 1/6, and none does "
                "worse than the tanh RNN");
    mn_lab_text(r->quantity, sizeof r->quantity, "lengths where LSTM and GRU both solve it, of the "
                "lengths where the tanh RNN stays near the baseline");
    mn_lab_text(r->criterion, sizeof r->criterion, "all of them (and at least one), and no length "
                "that the tanh RNN solves and a gated cell does not");
    mn_lab_say(r,
        "setup: mnemo's trainer with its defaults (Adam lr 5e-3, clip 1; chrono init for\n"
        "       LSTM and GRU), H %d, batch %d, %d steps per run; test MSE on %d held-out\n"
        "       sequences. solved: test MSE < %g (%.0f%% of the baseline 1/6); baseline:\n"
        "       above %g x 1/6. Horizon: largest lag with |dL/dh| ratio >= %g, averaged\n"
        "       over the last %d training steps (gradient recorder).\n",
        s.H, s.batch, s.steps, SWEEP_EVAL, SOLVED_MSE, 600 * SOLVED_MSE, NEAR_BASELINE,
        MN_LAB_HORIZON_THRESHOLD, MN_MAX(1, s.steps / 10));
    mn_lab_say(r, "\n  %7s", "length");
    for (int c = 0; c < 3; c++) mn_lab_say(r, "  %-28s", mn_cell_name(cells[c]));
    mn_lab_say(r, "\n  %7s", "");
    for (int c = 0; c < 3; c++) mn_lab_say(r, "  %-9s %-9s %-8s", "test MSE", "outcome", "horizon");
    mn_lab_say(r, "\n");
    int rnn_stuck = 0, separated = 0, worse = 0;
    for (int i = 0; i < n; i++) {
        sweep_run runs[3];
        for (int c = 0; c < 3; c++) {
            if ((st = sweep_one(&s, Ls[i], cells[c], &runs[c]))) return st;
            mn_lab_progress(o, "adding-sweep: length %d, %s: test MSE %.4g (%s), horizon %d",
                            Ls[i], mn_cell_name(cells[c]), runs[c].mse, outcome(runs[c].mse),
                            runs[c].horizon);
            mn_lab_putf(r, runs[c].mse, "%s_T%d_mse", mn_cell_name(cells[c]), Ls[i]);
            mn_lab_putf(r, runs[c].horizon, "%s_T%d_horizon", mn_cell_name(cells[c]), Ls[i]);
        }
        mn_lab_say(r, "  %7d", Ls[i]);
        for (int c = 0; c < 3; c++)
            mn_lab_say(r, "  %-9.4g %-9s %-8d", runs[c].mse, outcome(runs[c].mse), runs[c].horizon);
        mn_lab_say(r, "\n");
        int gated = solved(runs[1].mse) && solved(runs[2].mse);
        if (near_baseline(runs[0].mse)) {
            rnn_stuck++;
            separated += gated;
        }
        worse += solved(runs[0].mse) && !gated;
    }
    mn_lab_say(r, "\n  the tanh RNN stays near the baseline at %d length%s; LSTM and GRU solve %d "
               "of them; lengths the RNN solves and a gated cell does not: %d\n",
               rnn_stuck, rnn_stuck == 1 ? "" : "s", separated, worse);
    mn_lab_put(r, "steps", s.steps);
    mn_lab_put(r, "hidden", s.H);
    mn_lab_put(r, "batch", s.batch);
    mn_lab_put(r, "solved_mse", SOLVED_MSE);
    if (!rnn_stuck)
        mn_lab_text(r->note, sizeof r->note, "the tanh RNN left the baseline at every length "
                    "given, so there is no length that separates the cells; try longer --lengths");
    mn_lab_verdict(r, rnn_stuck, separated, rnn_stuck > 0, separated == rnn_stuck && !worse);
    return MN_OK;
}
