/* The training loop shared by `mnemo train`, `diagnose` and `sweep` (train_run.h): steps,
 * progress on stderr, --metrics records and evaluations. The options and the session
 * are train_run.c's. */
#include "train_run.h"
#include "ranks.h"
#include "signals.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ the loop */

/* The statistics of the last logged window of steps, kept in a ring. */
typedef struct {
    double loss, grad_norm, tokens, seconds;
} step_rec;

typedef struct {
    step_rec *r;
    int cap, n, pos;
} ring;

static void ring_push(ring *g, step_rec x) {
    g->r[g->pos] = x;
    g->pos = (g->pos + 1) % g->cap;
    if (g->n < g->cap) g->n++;
}

static step_rec ring_mean(const ring *g) {
    step_rec m = {NAN, NAN, 0, 0};
    if (!g->n) return m;
    double l = 0, gn = 0, tok = 0, sec = 0;
    for (int i = 0; i < g->n; i++) {
        l += g->r[i].loss;
        gn += g->r[i].grad_norm;
        tok += g->r[i].tokens;
        sec += g->r[i].seconds;
    }
    m.loss = l / g->n;
    m.grad_norm = gn / g->n;
    m.tokens = tok;     /* sums: tokens/s over the window */
    m.seconds = sec;
    return m;
}

/* "eval  step N  test loss ..." */
static void train_eval_line(char *buf, size_t n, int step, const mn_eval_stats *ev,
                     const mn_task_info *info) {
    int w = snprintf(buf, n, "eval  step %d  test loss %.4g  baseline %.4g  ratio %.3g", step,
                     ev->loss, info->baseline_loss,
                     info->baseline_loss > 0 ? ev->loss / info->baseline_loss : NAN);
    if (info->has_accuracy && w > 0 && (size_t)w < n)
        w += snprintf(buf + w, n - (size_t)w, "  accuracy %.1f%%", 100.0 * ev->accuracy);
    if (info->has_accuracy && ev->token_accuracy >= 0 && w > 0 && (size_t)w < n)
        snprintf(buf + w, n - (size_t)w, " (tokens %.1f%%)", 100.0 * ev->token_accuracy);
}

static void metrics_eval(FILE *mf, int step, const mn_eval_stats *ev, const mn_task_info *info) {
    json_obj j;
    json_begin(&j, mf);
    json_str(&j, "type", "eval");
    json_int(&j, "step", step);
    json_num(&j, "test_loss", ev->loss);
    json_num(&j, "baseline_loss", info->baseline_loss);
    if (info->has_accuracy) json_num(&j, "test_accuracy", ev->accuracy);
    else json_null(&j, "test_accuracy");
    if (ev->token_accuracy >= 0) json_num(&j, "test_token_accuracy", ev->token_accuracy);
    json_end(&j);
}

static void metrics_train(FILE *mf, int step, const step_rec *m, double lr, double tps) {
    json_obj j;
    json_begin(&j, mf);
    json_str(&j, "type", "train");
    json_int(&j, "step", step);
    json_num(&j, "loss", m->loss);
    json_num(&j, "grad_norm", m->grad_norm);
    json_num(&j, "lr", lr);
    json_num(&j, "tokens_per_s", tps);
    json_end(&j);
}

int train_session_run(train_opts *o, train_session *s, train_hook hook, void *ctx,
                      train_outcome *out) {
    const int steps = o->tc.steps, log_every = o->log_every, eval_every = o->eval_every;
    const int ranks = cli_mpi_size() > 1;
    memset(out, 0, sizeof *out);
    out->ev = (mn_eval_stats){NAN, -1, 0, -1, -1, -1};
    out->last_loss = NAN;
    mn_trainer_set_stop(s->tr, cli_stop_flag());
    ring rg = {0};
    rg.cap = log_every < steps ? log_every : steps;
    if (rg.cap > 100000) rg.cap = 100000;
    if (!(rg.r = malloc(sizeof(step_rec) * (size_t)rg.cap)))
        return cli_fail_code(CLI_EXIT_RUNTIME, "out of memory for the progress log");

    progress pr;
    progress_init(&pr, stderr);
    double total_tokens = 0, last_lr = o->tc.lr, loop_start = cli_now();
    train_schedule_note(o, s->done);
    char line[256], a[32], b[32];
    int rc = 0;
    for (int step = s->done + 1; step <= steps && !rc; step++) {
        mn_step_stats ss;
        memset(&ss, 0, sizeof ss);
        double t0 = cli_now();
        mn_status st = mn_trainer_step(s->tr, &ss);
        double dt = cli_now() - t0;
        if (st && ranks) cli_mpi_shared_end();   /* the trainer ended it on every rank */
        if (st == MN_E_STOPPED) {   /* nothing was changed: the state after step - 1 */
            /* with ranks, the signal may have reached another rank only */
            out->stopped_by = cli_stop_signal() ? cli_stop_signal() : SIGTERM;
            break;
        }
        if (st) {
            if (st == MN_E_NUMERIC) {   /* the step was taken, and skipped, before giving up */
                out->skipped++;
                out->last_loss = ss.loss;
            }
            progress_end(&pr);
            snprintf(line, sizeof line, "training stopped at step %d/%d", step, steps);
            rc = cli_lib_fail(st, line);
            break;
        }
        out->train_seconds += dt;
        out->last_loss = ss.loss;
        last_lr = ss.lr;
        if (ss.skipped) {
            if (++out->skipped <= 10) {
                snprintf(line, sizeof line,
                         "step %d/%d  skipped: the loss or a gradient was NaN or Inf, so the "
                         "weights were not updated%s",
                         step, steps, out->skipped == 10 ? " (further skips are only counted)" : "");
                progress_line(&pr, line);
            }
        } else {
            ring_push(&rg, (step_rec){ss.loss, ss.grad_norm, ss.tokens, dt});
            total_tokens += ss.tokens;
        }
        if (hook && (rc = hook(ctx, step, &ss))) break;
        if (cli_take_checkpoint_request()) {   /* SIGUSR1 */
            progress_end(&pr);
            if (!s->checkpoint)
                snprintf(line, sizeof line, "SIGUSR1: this command keeps no checkpoint; going on");
            else if ((rc = s->checkpoint(s->checkpoint_ctx, line, sizeof line)))
                break;
            progress_line(&pr, line);
        }

        int log_now = step % log_every == 0 || step == steps;
        /* a run about to stop skips its evaluations: the time a scheduler leaves is short */
        /* (with ranks, evaluating is a collective every rank must join alike) */
        int eval_now = (step % eval_every == 0 && (ranks || !cli_stop_signal())) ||
                       step == steps;
        double now = cli_now();
        if (log_now || (pr.tty && (eval_now || now - pr.last_draw >= 0.1))) {
            step_rec m = ring_mean(&rg);
            double tps = m.seconds > 0 ? m.tokens / m.seconds : NAN;
            double eta = (now - loop_start) / (step - s->done) * (steps - step);
            snprintf(line, sizeof line, "step %d/%d  loss %.4g  |g| %.3g  lr %.1e  %s tok/s  %s %s",
                     step, steps, m.loss, m.grad_norm, last_lr, fmt_si(a, sizeof a, tps),
                     step == steps ? "time" : "ETA",
                     fmt_duration(b, sizeof b, step == steps ? now - loop_start : eta));
            progress_show(&pr, line);
            if (log_now && s->metrics) metrics_train(s->metrics, step, &m, last_lr, tps);
        }
        if (eval_now) {
            /* On a terminal, keep the status line of this step above the evaluation's. */
            progress_end(&pr);
            if ((st = mn_trainer_evaluate(s->tr, &out->ev))) {
                if (ranks) cli_mpi_shared_end();
                snprintf(line, sizeof line, "evaluation at step %d failed", step);
                rc = cli_lib_fail(st, line);
                break;
            }
            out->eval_step = step;
            train_eval_line(line, sizeof line, step, &out->ev, s->info);
            progress_line(&pr, line);
            if (s->metrics) metrics_eval(s->metrics, step, &out->ev, s->info);
        }
    }
    progress_end(&pr);
    out->last_lr = last_lr;
    out->train_loss = ring_mean(&rg).loss;
    out->window = rg.n;
    out->tokens_per_s = out->train_seconds > 0 ? total_tokens / out->train_seconds : NAN;
    free(rg.r);
    if (!rc && s->metrics && (fflush(s->metrics) != 0 || ferror(s->metrics)))
        rc = cli_fail_code(CLI_EXIT_RUNTIME, "writing the --metrics file \"%s\" failed: %s",
                           o->metrics_path, strerror(errno));
    return rc;
}
