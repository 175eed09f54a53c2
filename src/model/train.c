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
    mn_batch_part_free(&tr->part);
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

mn_status mn_trainer_set_comm(mn_trainer *tr, const mn_comm *comm) {
    if (!tr) return mn_fail(MN_E_ARG, "mn_trainer_set_comm: trainer is NULL");
    mn_status st;
    if (comm && (st = mn_comm_check(comm))) return st;
    if (comm && comm->size > 1 && tr->cfg.batch_size % comm->size)
        return mn_fail(MN_E_ARG, "a batch of %d sequences does not split evenly over %d ranks; "
                       "give a batch that is a multiple of %d (the batch is the global one, "
                       "all ranks together)", tr->cfg.batch_size, comm->size, comm->size);
    memset(&tr->comm, 0, sizeof tr->comm);
    if (comm && comm->size > 1) tr->comm = *comm;
    tr->agreed = 0;
    return MN_OK;
}

/* What every rank must hold alike before they train together: a difference means another
 * model, task, option, seed or checkpoint on some rank, and summing its gradients with the
 * others' would train nothing meaningful. The first batch stands for the task and its
 * stream. */
static mn_status check_ranks_agree(mn_trainer *tr, const mn_batch *b, mn_status drawn) {
    static const char *const what[] = {
        "drawing of the first batch (it failed on some rank)", "parameter count", "batch size",
        "step (a resumed checkpoint)", "NaN/Inf streak", "optimizer step count", "parameters",
        "parameters", "optimizer state", "optimizer state", "first batch", "first batch"};
    const mn_model *m = tr->m;
    double v[12] = {drawn != MN_OK, (double)m->nparams, tr->cfg.batch_size, tr->step,
                    tr->bad_in_a_row, (double)tr->opt.t};
    mn_checksum_f32(m->params, m->nparams, v + 6);
    if (tr->opt.m) mn_checksum_f32(tr->opt.m, tr->opt.n, v + 8);
    if (!drawn) {
        if (b->x) mn_checksum_f32(b->x, (size_t)b->T * b->B * b->input_size, v + 10);
        else if (b->target) mn_checksum_f32(b->target, (size_t)b->B * b->output_size, v + 10);
        for (size_t i = 0; b->tokens && i < (size_t)b->T * b->B; i++)
            v[10] += b->tokens[i] * (double)((i & 1023) + 1);
        for (int i = 0; i < b->B; i++) v[11] += b->lengths[i] * (double)(i + 1);
    }
    int bad[12];
    mn_status st = mn_comm_agree(&tr->comm, v, 12, bad);
    if (st || (st = drawn)) return st;
    for (int i = 0; i < 12; i++)
        if (bad[i])
            return mn_fail(i == 0 ? MN_E_STATE : MN_E_ARG, "the %d ranks disagree about the %s "
                           "(%d rank%s differ%s from rank 0): every rank must build the same "
                           "model and task with the same options and seed, or resume the same "
                           "checkpoint", tr->comm.size, what[i], bad[i], bad[i] == 1 ? "" : "s",
                           bad[i] == 1 ? "s" : "");
    tr->agreed = 1;
    return MN_OK;
}

/* Forward and backward over this rank's part of batch b (all of it when alone), the loss
 * items counted over the whole batch so that the summed gradients are the mean over it. */
static mn_status run_part(mn_trainer *tr, const mn_batch *b, double *total) {
    mn_model *m = tr->m;
    const mn_batch *mine = b;
    double items;
    mn_status st = mn_model_loss_items(m, b, &items);
    if (st) return st;
    if (mn_comm_active(&tr->comm)) {
        int i0, n;
        mn_comm_share(&tr->comm, b->B, &i0, &n);
        if ((st = mn_batch_take(b, m->cfg.output == MN_OUTPUT_EVERY, i0, n, &tr->part)))
            return st;
        mine = &tr->part.b;
    }
    memset(m->grads, 0, m->nparams * sizeof(float));
    double inv = items > 0 ? 1.0 / items : 0.0, sum;
    int k = tr->cfg.tbptt > 0 ? tr->cfg.tbptt : mine->T;
    /* Dropout is on for the step's passes only; its masks follow the step number, so a
     * resumed run draws the same ones, and the rank, so that ranks draw apart. */
    uint64_t noise = heldout_seed(tr->cfg.seed + 0x5851F42D4C957F2Dull * (uint64_t)(tr->step + 1));
    if (mn_comm_active(&tr->comm)) noise += 0xD6E8FEB86659FD93ull * (uint64_t)tr->comm.rank;
    mn_model_set_training(m, 1, noise);
    *total = 0;
    for (int t0 = 0; t0 < mine->T && !st; t0 += k) {
        st = mn_model_run(m, mine, t0, MN_MIN(k, mine->T - t0), t0 > 0, 1, inv, &sum);
        *total += sum;
    }
    mn_model_set_training(m, 0, 0);
    *total *= inv;
    return st;
}

/* With ranks: one sum of the losses, failures and stop requests, then one of the flat
 * gradient buffer. A failure anywhere ends the step everywhere (no rank may wait in a sum
 * that another never joins); a stop request anywhere ends it everywhere as if it had not
 * begun (the task's stream is put back), so a checkpoint of it resumes bit for bit. */
static mn_status reduce_step(mn_trainer *tr, mn_status st, double *loss, const mn_rng *rng,
                             uint64_t drawn) {
    const mn_comm *c = &tr->comm;
    double r[4] = {st ? 0.0 : *loss, st != MN_OK, st ? c->rank + 1.0 : 0.0,
                   tr->stop && *tr->stop};
    mn_status cst = mn_comm_sum_f64(c, r, 4);
    if (cst) return cst;
    if (r[1] > 0) {
        if (st) return st;
        if (r[1] == 1)
            return mn_fail(MN_E_STATE, "rank %d of %d failed in step %d; its own message says "
                           "why", (int)r[2] - 1, c->size, tr->step + 1);
        return mn_fail(MN_E_STATE, "%d of the %d ranks failed in step %d; their own messages "
                       "say why", (int)r[1], c->size, tr->step + 1);
    }
    if (r[3] > 0) {
        tr->task->rng = *rng;
        tr->task->drawn = drawn;
        return mn_fail(MN_E_STOPPED, "training was asked to stop (the stop flag is set on %d "
                       "of the %d ranks) after step %d; nothing was changed", (int)r[3],
                       c->size, tr->step);
    }
    *loss = r[0];
    return mn_comm_sum_f32(c, tr->m->grads, tr->m->nparams);
}

mn_status mn_trainer_step(mn_trainer *tr, mn_step_stats *stats) {
    const int ranks = mn_comm_active(&tr->comm);
    /* Read once, before anything changes: a stopped trainer is exactly the one after its
     * last step, so a checkpoint of it resumes bit for bit. With ranks the request is
     * shared in the step's sum first (reduce_step). */
    if (!ranks && tr->stop && *tr->stop)
        return mn_fail(MN_E_STOPPED, "training was asked to stop (the stop flag is set) "
                       "after step %d; nothing was changed", tr->step);
    mn_model *m = tr->m;
    const mn_batch *b = NULL;
    double loss = 0;
    const mn_rng rng = tr->task->rng;
    const uint64_t drawn = tr->task->drawn;
    mn_status st = mn_task_next(tr->task, tr->cfg.batch_size, &b);
    if (ranks && !tr->agreed && (st = check_ranks_agree(tr, b, st))) return st;
    if (!st) st = run_part(tr, b, &loss);
    if (ranks) st = reduce_step(tr, st, &loss, &rng, drawn);
    if (st) return st;
    memset(stats, 0, sizeof *stats);
    stats->loss = loss;
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

/* With ranks, each evaluates its share of every held-out batch (all ranks draw the whole
 * batch, as in training) and the sums are reduced once at the end, failures with them. */
static mn_status evaluate(mn_model *m, mn_task *task, int sequences, int batch_size,
                          const mn_comm *comm, mn_batch_part *part, mn_eval_stats *stats) {
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
        st = mn_fail(MN_E_NOMEM, "no memory for the decoded tokens of %d sequences of %d steps",
                     MN_MIN(batch_size, sequences), task->info.max_steps);
    if (!st) mn_task_start_heldout(task, heldout_seed(task->seed));
    /* loss, items, correct, counted, sequences right, sequences decoded, and a
     * forecasting task's squared and absolute errors and values */
    double sums[9] = {0};
    for (int done = 0; done < sequences && !st;) {
        int B = MN_MIN(batch_size, sequences - done), i0, n;
        const mn_batch *b;
        double items, sum, c = 0, k = 0;
        done += B;
        if ((st = mn_task_next(task, B, &b))) break;
        mn_comm_share(comm, B, &i0, &n);
        if (n == 0) continue;   /* more ranks than sequences in this batch */
        if (n < B) {
            if ((st = mn_batch_take(b, m->cfg.output == MN_OUTPUT_EVERY, i0, n, part))) break;
            b = &part->b;
        }
        if ((st = mn_model_loss_items(m, b, &items)) ||
            (st = mn_model_run(m, b, 0, b->T, 0, 0, 1.0, &sum)))
            break;
        sums[0] += sum;
        sums[1] += items;
        if (task->info.has_accuracy &&
            (st = mn_task_score(task, b, m->head_out, &c, &k)) != MN_OK)
            break;
        sums[2] += c;
        sums[3] += k;
        if (task->kind->measure) task->kind->measure(task, b, m->head_out, sums + 6);
        if (s2s) {
            if ((st = mn_model_generate(m, b, b->T, gen))) break;
            task->kind->score_generated(task, b, gen, &c, &k);
            sums[4] += c;
            sums[5] += k;
        }
    }
    mn_release(gen);
    if (mn_comm_active(comm)) {
        double r[11] = {sums[0], sums[1], sums[2], sums[3], sums[4], sums[5], sums[6],
                        sums[7], sums[8], st != MN_OK, st ? comm->rank + 1.0 : 0.0};
        mn_status cst = mn_comm_sum_f64(comm, r, 11);
        if (cst) return cst;
        if (st) return st;
        if (r[9] > 0)
            return r[9] == 1 ? mn_fail(MN_E_STATE, "evaluation failed on rank %d of %d; its "
                                       "own message says why", (int)r[10] - 1, comm->size)
                             : mn_fail(MN_E_STATE, "evaluation failed on %d of the %d ranks; "
                                       "their own messages say why", (int)r[9], comm->size);
        memcpy(sums, r, sizeof sums);
    }
    if (st) return st;
    stats->loss = sums[1] > 0 ? sums[0] / sums[1] : 0;
    stats->accuracy = task->info.has_accuracy && sums[3] > 0 ? sums[2] / sums[3] : -1;
    stats->token_accuracy = -1;
    stats->mse = task->kind->measure && sums[8] > 0 ? sums[6] / sums[8] : -1;
    stats->mae = task->kind->measure && sums[8] > 0 ? sums[7] / sums[8] : -1;
    if (s2s) {
        stats->token_accuracy = stats->accuracy;
        stats->accuracy = sums[5] > 0 ? sums[4] / sums[5] : -1;
    }
    stats->sequences = sequences;
    return MN_OK;
}

mn_status mn_evaluate(mn_model *m, mn_task *task, int sequences, int batch_size,
                      mn_eval_stats *stats) {
    return evaluate(m, task, sequences, batch_size, NULL, NULL, stats);
}

mn_status mn_trainer_evaluate(mn_trainer *tr, mn_eval_stats *stats) {
    if (mn_comm_active(&tr->comm)) {
        /* Every rank applies the same update to the same parameters, so they stay equal as
         * long as the sums give every rank the same result; a transport that does not
         * would let the ranks drift apart silently. */
        double v[2];
        int bad[2];
        mn_checksum_f32(tr->m->params, tr->m->nparams, v);
        mn_status st = mn_comm_agree(&tr->comm, v, 2, bad);
        if (st) return st;
        if (bad[0] || bad[1])
            return mn_fail(MN_E_STATE, "after step %d the parameters differ between ranks (%d "
                           "differ from rank 0): the communicator's sums did not give every "
                           "rank the same result", tr->step, MN_MAX(bad[0], bad[1]));
    }
    return evaluate(tr->m, tr->eval_task, tr->cfg.eval_size, tr->cfg.batch_size, &tr->comm,
                    &tr->part, stats);
}
