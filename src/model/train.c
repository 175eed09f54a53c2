/* The trainer: one optimizer step per batch, with full or truncated BPTT, a NaN/Inf guard,
 * clipping and a schedule; evaluation on a held-out stream seeded apart from training. */
#include "trainer.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* The held-out stream must never meet the training stream: derive its seed by a fixed
 * odd-constant mix so that seed s's test set differs from every training seed's data. */
static uint64_t heldout_seed(uint64_t seed) { return (seed ^ 0xD1B54A32D192ED03ull) * 0x9E3779B97F4A7C15ull + 1; }

static mn_status check_config(const mn_train_config *c, const mn_model *m) {
    if (c->steps < 0) return mn_fail(MN_E_ARG, "steps must be >= 0, got %d", c->steps);
    if (c->batch_size < 1 || c->batch_size > (1 << 20))
        return mn_fail(MN_E_ARG, "batch size must be from 1 to 2^20, got %d", c->batch_size);
    if (!(c->lr > 0 && c->lr < 1e3))
        return mn_fail(MN_E_ARG, "learning rate must be a positive finite number, got %g", c->lr);
    if (!(c->clip_norm >= 0 && c->clip_norm < 1e30) || !(c->clip_value >= 0 && c->clip_value < 1e30))
        return mn_fail(MN_E_ARG, "clipping thresholds must be finite and >= 0 (0 turns clipping off)");
    if (c->tbptt < 0) return mn_fail(MN_E_ARG, "truncated BPTT length must be >= 0, got %d", c->tbptt);
    if (c->tbptt > 0 && m->cfg.bidirectional)
        return mn_fail(MN_E_ARG, "truncated BPTT needs a causal model: the reverse direction of a "
                       "bidirectional layer reads the future; drop --tbptt or --bidirectional");
    if (c->tbptt > 0 && mn_model_whole_sequence_kind(m))
        return mn_fail(MN_E_ARG, "truncated BPTT cuts sequences into chunks of %d steps, but %s "
                       "needs each sequence whole, from step 0; drop --tbptt", c->tbptt,
                       mn_model_whole_sequence_kind(m));
    if (c->eval_size < 1) return mn_fail(MN_E_ARG, "evaluation size must be >= 1");
    if (c->max_bad_steps < 0)
        return mn_fail(MN_E_ARG, "max_bad_steps must be >= 0 (0: the default 5), got %d",
                       c->max_bad_steps);
    return mn_schedule_check(c);
}

/* A sequence-to-sequence task needs an encoder–decoder, and only such a task feeds one. */
static mn_status check_task(const mn_model *m, const mn_task *task) {
    if (task->info.seq2seq && m->E == 0)
        return mn_fail(MN_E_ARG, "task %s maps a source sequence to a target sequence, which "
                       "needs an encoder–decoder model (encoder_blocks > 0, with cross-attention "
                       "in its decoder)", task->info.name);
    if (!task->info.seq2seq && m->E > 0)
        return mn_fail(MN_E_ARG, "an encoder–decoder model reads a source sequence, and task %s "
                       "has none; give it a sequence-to-sequence task", task->info.name);
    return MN_OK;
}

mn_status mn_trainer_create(mn_model *m, mn_task *task, const mn_train_config *cfg,
                            mn_trainer **out) {
    *out = NULL;
    mn_status st = check_config(cfg, m);
    if (st || (st = check_task(m, task))) return st;
    mn_trainer *tr = mn_alloc_zero(sizeof *tr);
    if (!tr) return MN_E_NOMEM;
    tr->m = m;
    tr->task = task;
    tr->cfg = *cfg;
    if ((st = mn_optimizer_init(&tr->opt, cfg, m->nparams)) ||
        (st = mn_optimizer_use_groups(&tr->opt, cfg, m)) ||
        (st = mn_task_clone(task, &tr->eval_task))) {
        mn_trainer_free(tr);
        return st;
    }
    tr->eval_task->input_scale = task->input_scale;
    *out = tr;
    return MN_OK;
}

void mn_trainer_free(mn_trainer *tr) {
    if (!tr) return;
    mn_optimizer_free(&tr->opt);
    mn_task_free(tr->eval_task);
    mn_release(tr);
}

void mn_trainer_set_stop(mn_trainer *tr, const volatile sig_atomic_t *flag) {
    if (tr) tr->stop = flag;
}

/* The message of a run stopped by NaN/Inf, true to its context: what was not finite, and
 * advice that can help. Before any update (every step so far skipped, so the weights are
 * the ones the run started from) neither the learning rate nor clipping can: clipping
 * scales finite gradients only, and nothing has moved; the starting weights or the inputs'
 * scale overflow a pass. After updates, the steps drove the weights there: a smaller
 * learning rate, or clipping (a lower threshold when it is already on). */
static mn_status numeric_stop(const mn_trainer *tr, const mn_step_stats *s) {
    static const char start[] = "neither the learning rate nor clipping can help, as the "
        "weights are still the initial ones: the initialization (--init, --init-gain) or the "
        "scale of the inputs makes the forward or backward pass overflow; start from smaller "
        "weights or scale the inputs down";
    char what[96], advice[160];
    if (!isfinite(s->loss))
        snprintf(what, sizeof what, "the loss was %s", isnan(s->loss) ? "NaN" : "Inf");
    else
        snprintf(what, sizeof what, "the loss was %.3g and a gradient NaN or Inf", s->loss);
    if (tr->bad_in_a_row == tr->step) {      /* every step so far skipped: nothing updated */
        if (tr->step == 1)
            return mn_fail(MN_E_NUMERIC, "at the first step, before any update of the weights, "
                           "%s: %s", what, start);
        return mn_fail(MN_E_NUMERIC, "at each of the first %d steps, before any update of the "
                       "weights, the loss or a gradient was NaN or Inf (at step %d %s): %s",
                       tr->step, tr->step, what, start);
    }
    if (tr->cfg.clip_norm > 0 || tr->cfg.clip_value > 0)
        snprintf(advice, sizeof advice, "lower the learning rate (--lr, now %g) or the clipping "
                 "threshold (%s, now %g)", tr->cfg.lr, tr->cfg.clip_norm > 0 ? "--clip" :
                 "--clip-value", tr->cfg.clip_norm > 0 ? tr->cfg.clip_norm : tr->cfg.clip_value);
    else
        snprintf(advice, sizeof advice, "lower the learning rate (--lr, now %g) or clip the "
                 "gradients (--clip 1)", tr->cfg.lr);
    return mn_fail(MN_E_NUMERIC, "the loss or a gradient was NaN or Inf in %d steps in a row "
                   "(at step %d %s), after %s updated the weights: %s", tr->bad_in_a_row,
                   tr->step, what, tr->step - tr->bad_in_a_row == 1 ? "one step" :
                   "earlier steps", advice);
}

mn_status mn_trainer_step(mn_trainer *tr, mn_step_stats *stats) {
    /* Read once, before anything changes: a stopped trainer is exactly the one after its
     * last step, so a checkpoint of it resumes bit for bit. */
    if (tr->stop && *tr->stop)
        return mn_fail(MN_E_STOPPED, "training was asked to stop (the stop flag is set) "
                       "after step %d; nothing was changed", tr->step);
    mn_model *m = tr->m;
    const mn_batch *b;
    double items, total = 0, sum;
    mn_status st = mn_task_next(tr->task, tr->cfg.batch_size, &b);
    if (st || (st = mn_model_loss_items(m, b, &items))) return st;
    memset(m->grads, 0, m->nparams * sizeof(float));
    double inv = items > 0 ? 1.0 / items : 0.0;
    int k = tr->cfg.tbptt > 0 ? tr->cfg.tbptt : b->T;
    /* Dropout is on for the step's passes only; its masks follow the step number, so a
     * resumed run draws the same ones. */
    mn_model_set_training(m, 1, heldout_seed(tr->cfg.seed + 0x5851F42D4C957F2Dull * (uint64_t)(tr->step + 1)));
    for (int t0 = 0; t0 < b->T && !st; t0 += k) {
        st = mn_model_run(m, b, t0, MN_MIN(k, b->T - t0), t0 > 0, 1, inv, &sum);
        total += sum;
    }
    mn_model_set_training(m, 0, 0);
    if (st) return st;
    memset(stats, 0, sizeof *stats);
    stats->loss = total * inv;
    stats->lr = mn_schedule_lr(&tr->cfg, tr->step);
    for (int i = 0; i < b->B; i++) stats->tokens += b->lengths[i];
    stats->grad_norm = mn_global_norm(m->grads, m->nparams);
    tr->step++;
    stats->step = tr->step;
    if (!isfinite(stats->loss) || !isfinite(stats->grad_norm)) {
        /* skip the update: parameters and optimizer moments stay as they were */
        stats->skipped = 1;
        if (++tr->bad_in_a_row >= (tr->cfg.max_bad_steps > 0 ? tr->cfg.max_bad_steps : 5))
            return numeric_stop(tr, stats);
        return MN_OK;
    }
    tr->bad_in_a_row = 0;
    if (tr->cfg.clip_value > 0) mn_clip_values(m->grads, m->nparams, tr->cfg.clip_value);
    if (tr->cfg.clip_norm > 0) {
        double norm = tr->cfg.clip_value > 0 ? mn_global_norm(m->grads, m->nparams) : stats->grad_norm;
        mn_clip_global_norm(m->grads, m->nparams, norm, tr->cfg.clip_norm);
    }
    unsigned fp = mn_fp_enter();   /* Adam's second moments are where denormals live */
    mn_optimizer_step(&tr->opt, m->params, m->grads, (float)stats->lr);
    mn_fp_leave(fp);
    return MN_OK;
}

mn_status mn_evaluate(mn_model *m, mn_task *task, int sequences, int batch_size,
                      mn_eval_stats *stats) {
    if (sequences < 1 || batch_size < 1)
        return mn_fail(MN_E_ARG, "evaluation needs at least one sequence and a batch size >= 1");
    mn_status st = check_task(m, task);
    if (st) return st;
    /* a data task's evaluation set is finite: each of its sequences once */
    if (task->info.eval_sequences > 0) sequences = MN_MIN(sequences, task->info.eval_sequences);
    /* seq2seq: the loss and token accuracy under teacher forcing, and whole sequences
     * decoded greedily from the model's own outputs */
    const int s2s = task->info.seq2seq && task->kind->score_generated;
    int32_t *gen = NULL;
    size_t gen_rows;
    if (s2s && (!mn_mul_size((size_t)task->info.max_steps, (size_t)MN_MIN(batch_size, sequences),
                             &gen_rows) ||
                !(gen = mn_alloc(gen_rows * sizeof(int32_t)))))
        return mn_fail(MN_E_NOMEM, "no memory for the decoded tokens of %d sequences of %d steps",
                       MN_MIN(batch_size, sequences), task->info.max_steps);
    mn_task_start_heldout(task, heldout_seed(task->seed));
    double loss = 0, items = 0, correct = 0, counted = 0, seq_right = 0, seqs = 0;
    for (int done = 0; done < sequences && !st;) {
        int B = MN_MIN(batch_size, sequences - done);
        const mn_batch *b;
        double n, sum, c = 0, k = 0;
        if ((st = mn_task_next(task, B, &b)) || (st = mn_model_loss_items(m, b, &n)) ||
            (st = mn_model_run(m, b, 0, b->T, 0, 0, 1.0, &sum)))
            break;
        loss += sum;
        items += n;
        if (task->info.has_accuracy &&
            (st = mn_task_score(task, b, m->head_out, &c, &k)) != MN_OK)
            break;
        correct += c;
        counted += k;
        if (s2s) {
            if ((st = mn_model_generate(m, b, b->T, gen))) break;
            task->kind->score_generated(task, b, gen, &c, &k);
            seq_right += c;
            seqs += k;
        }
        done += B;
    }
    mn_release(gen);
    if (st) return st;
    stats->loss = items > 0 ? loss / items : 0;
    stats->accuracy = task->info.has_accuracy && counted > 0 ? correct / counted : -1;
    stats->token_accuracy = -1;
    if (s2s) {
        stats->token_accuracy = stats->accuracy;
        stats->accuracy = seqs > 0 ? seq_right / seqs : -1;
    }
    stats->sequences = sequences;
    return MN_OK;
}

mn_status mn_trainer_evaluate(mn_trainer *tr, mn_eval_stats *stats) {
    return mn_evaluate(tr->m, tr->eval_task, tr->cfg.eval_size,
                       tr->cfg.batch_size, stats);
}
