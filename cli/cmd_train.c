/* mnemo train: train a model on a task, report test loss against the task's baseline. */
#include "train_run.h"
#include "ranks.h"
#include "signals.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void usage(FILE *f, cli_opt *opts, int n) {
    fprintf(f,
            "usage: mnemo train (--task T --length N | --data KIND:PATH) --model M [options]\n"
            "\n"
            "Train a model on a task, or on your own files (--data), and compare its test loss\n"
            "with the baseline (the best input-blind guess; text: the unigram model). Progress\n"
            "goes to stderr, the summary to stdout; with --json the last stdout line is one JSON\n"
            "object, on failure too. Text data also reports bits per character (UTF-8\n"
            "characters), bits per byte and perplexity; the file records the data spec, so\n"
            "'mnemo eval --load FILE' evaluates on the same held-out part.\n"
            "SIGINT or SIGTERM stops after the current step (with --save: a checkpoint that\n"
            "--resume continues; exit 130 or 143); SIGUSR1 writes a checkpoint and goes on.\n"
            "Under mpirun -np N (a build made with make MPI=1) each rank trains on --batch/N\n"
            "sequences of every batch and the gradients are summed; rank 0 alone prints and\n"
            "writes files.\n"
            "Tasks: %s. Models: %s.\n"
            "\n"
            "options:\n",
            mn_task_names(), family_model_list());
    cli_print_options(f, opts, n);
    fprintf(f, "\n");
    cli_task_help(f);
    fprintf(f, "\n");
    family_blocks_help(f);
}

/* The model and the trainer's state: the file evaluates (mnemo eval --load) and resumes
 * (mnemo train --resume). test_loss is NULL for checkpoints written during training. */
static int save_model(const train_opts *o, const train_session *s, const char *test_loss,
                      const char *path) {
    char len_s[24], seed_s[24], steps_s[24], done_s[24];
    snprintf(len_s, sizeof len_s, "%d", o->length);
    snprintf(seed_s, sizeof seed_s, "%llu", (unsigned long long)o->seed);
    snprintf(steps_s, sizeof steps_s, "%d", o->tc.steps);
    snprintf(done_s, sizeof done_s, "%d", mn_trainer_steps_done(s->tr));
    /* a data task is rebuilt from its files, split and window: eval --load reads them */
    char vf_s[32] = "";
    if (o->data_spec && train_opt_given(o, "--valid-fraction"))
        snprintf(vf_s, sizeof vf_s, "%.9g", (double)o->valid_fraction);
    const char *meta[32];
    int n = 0;
    meta[n++] = o->data_spec ? "data" : "task";
    meta[n++] = o->data_spec ? o->data_spec : o->task_name;
    if (o->valid_data) meta[n++] = "data.valid", meta[n++] = o->valid_data;
    if (*vf_s) meta[n++] = "data.valid_fraction", meta[n++] = vf_s;
    char hz_s[24];
    snprintf(hz_s, sizeof hz_s, "%d", o->horizon);
    if (o->columns) meta[n++] = "data.columns", meta[n++] = o->columns;
    if (o->horizon) meta[n++] = "data.horizon", meta[n++] = hz_s;
    if (o->labels) meta[n++] = "data.labels", meta[n++] = o->labels;
    if (s->info->data_state) meta[n++] = "data.state", meta[n++] = s->info->data_state;
    /* the tokenizer by path and content hash: eval and generate find it and refuse another */
    /* an absolute path, so a command run from another folder still finds it */
    char tok_hash[17];
    char *tok_abs = NULL;
    if (o->tokenizer) {
        if (cli_file_hash(o->tokenizer, tok_hash)) return CLI_EXIT_USAGE;
        char cwd[4096];
        size_t need = strlen(o->tokenizer) + sizeof cwd + 2;
        if (o->tokenizer[0] != '/' && getcwd(cwd, sizeof cwd) && (tok_abs = malloc(need)))
            snprintf(tok_abs, need, "%s/%s", cwd, o->tokenizer);
        meta[n++] = "data.tokenizer", meta[n++] = tok_abs ? tok_abs : o->tokenizer;
        meta[n++] = "data.tokenizer_hash", meta[n++] = tok_hash;
    }
    const char *const rest[] = {"length", len_s, "seed", seed_s, "steps", steps_s,
                                "steps_done", done_s, test_loss ? "test_loss" : NULL, test_loss,
                                NULL};
    for (int i = 0; rest[i]; i++) meta[n++] = rest[i];
    meta[n] = NULL;
    mn_status st = mn_trainer_save(s->tr, path, meta);
    free(tok_abs);
    return st ? cli_lib_fail(st, "saving the model failed") : 0;
}

typedef struct {
    const train_opts *o;
    const train_session *s;
    const char *path;
    int every;
    int saved_step;        /* the step of the last checkpoint written, -1: none */
} checkpointer;

/* The whole state, atomically, so a kill leaves the last complete one intact. Under
 * mpirun rank 0 alone writes (every rank holds the same state). */
static int save_checkpoint(checkpointer *c) {
    int step = mn_trainer_steps_done(c->s->tr);
    if (step == c->saved_step) return 0;
    if (cli_mpi_rank() > 0) {
        c->saved_step = step;
        return 0;
    }
    int rc = save_model(c->o, c->s, NULL, c->path);
    if (!rc) c->saved_step = step;
    return rc;
}

/* Every N steps (--checkpoint-every). */
static int checkpoint_hook(void *ctx, int step, const mn_step_stats *ss) {
    (void)ss;
    checkpointer *c = ctx;
    return c->every && step % c->every == 0 ? save_checkpoint(c) : 0;
}

/* SIGUSR1: a checkpoint now, and the run goes on. */
static int checkpoint_now(void *ctx, char *note, size_t cap) {
    checkpointer *c = ctx;
    if (!c->path) {
        snprintf(note, cap, "SIGUSR1: no --save FILE was given, so there is nowhere to write a "
                 "checkpoint; going on");
        return 0;
    }
    int rc = save_checkpoint(c);
    if (!rc)
        snprintf(note, cap, "SIGUSR1: checkpoint at step %d written to %s; going on",
                 c->saved_step, c->path);
    return rc;
}

static void summary(const train_opts *o, const train_session *s, const train_outcome *out,
                    const train_cmd_opts *c, double seconds, int json) {
    const char *save_path = c->save_path;
    const mn_model_config *mc = mn_model_get_config(s->model);
    const mn_task_info *info = s->info;
    const mn_eval_stats *ev = &out->ev;
    char a[32], b[32];
    double ratio = info->baseline_loss > 0 ? ev->loss / info->baseline_loss : NAN;
    int nthreads = mn_get_threads(), eval_n = ev->sequences > 0 ? ev->sequences : o->tc.eval_size;
    char desc[MN_MAX_BLOCKS * 48];
    printf("mnemo train: %s (%s parameters), %s %s, length %d\n",
           cli_model_desc(mc, desc, sizeof desc),
           fmt_si(a, sizeof a, (double)mn_model_param_count(s->model)),
           o->data_spec ? "data" : "task", o->data_spec ? o->data_spec : o->task_name, o->length);
    printf("  steps       %d (batch %d, %s, lr %g)", o->tc.steps, o->tc.batch_size, o->opt_name,
           (double)o->tc.lr);
    if (out->skipped) printf(", %d skipped (NaN/Inf)", out->skipped);
    if (c->resume_path) printf(", resumed at step %d", s->done);
    printf("\n");
    train_record_print(o, s, out);
    printf("  train loss  %.6g (mean of the last %d step%s)\n", out->train_loss, out->window,
           out->window == 1 ? "" : "s");
    cli_print_test_result(ev, eval_n, info, info->has_accuracy);
    if (cli_mpi_size() > 1)
        printf("  ranks       %d (MPI): %d sequences of each batch per rank, gradients summed\n",
               cli_mpi_size(), o->tc.batch_size / cli_mpi_size());
    char ranks[32] = "";
    if (cli_mpi_size() > 1) snprintf(ranks, sizeof ranks, "%d ranks of ", cli_mpi_size());
    printf("  speed       %s tokens/s on %s%d thread%s\n", fmt_si(a, sizeof a, out->tokens_per_s),
           ranks, nthreads, nthreads > 1 ? "s" : "");
    printf("  time        %s\n", fmt_duration(b, sizeof b, seconds));
    if (save_path) printf("  saved       %s\n", save_path);
    if (!json) return;
    json_obj j;
    json_begin(&j, stdout);
    json_str(&j, "command", "train");
    train_json_task(&j, o);
    json_model(&j, mc);
    json_int(&j, "length", o->length);
    json_int(&j, "params", (long long)mn_model_param_count(s->model));
    json_int(&j, "steps", o->tc.steps);
    json_int(&j, "batch", o->tc.batch_size);
    json_str(&j, "optimizer", o->opt_name);
    json_num(&j, "lr", o->tc.lr);
    train_record_json(&j, o, s, out);
    json_num(&j, "train_loss", out->train_loss);
    json_num(&j, "test_loss", ev->loss);
    json_num(&j, "baseline_loss", info->baseline_loss);
    json_num(&j, "loss_ratio", ratio);
    if (info->has_accuracy) json_num(&j, "test_accuracy", ev->accuracy);
    if (ev->token_accuracy >= 0) json_num(&j, "test_token_accuracy", ev->token_accuracy);
    cli_json_text_metrics(&j, ev, info);
    json_int(&j, "eval_size", eval_n);
    json_int(&j, "skipped_steps", out->skipped);
    json_num(&j, "tokens_per_s", out->tokens_per_s);
    json_num(&j, "seconds", seconds);
    json_int(&j, "threads", nthreads);
    json_int(&j, "ranks", cli_mpi_size());
    json_u64(&j, "seed", o->seed);
    if (save_path) json_str(&j, "saved", save_path);
    if (c->every) json_int(&j, "checkpoint_every", c->every);
    if (c->resume_path) {
        json_str(&j, "resumed_from", c->resume_path);
        json_int(&j, "resumed_at_step", s->done);
    }
    json_end(&j);
}

/* With --json, a run that fails or stops still ends stdout with one JSON object: the
 * error line, the exit code and what was done so far. */
static void failure_json(const train_opts *o, const train_session *s, const train_outcome *out,
                         const checkpointer *ck, int rc) {
    json_obj j;
    json_failure_begin(&j, "train", rc);
    if (out->stopped_by) json_str(&j, "interrupted", cli_signal_name(out->stopped_by));
    train_json_task(&j, o);
    if (s->model) json_model(&j, mn_model_get_config(s->model));
    json_int(&j, "length", o->length);
    json_int(&j, "steps", o->tc.steps);
    json_int(&j, "steps_done", s->tr ? mn_trainer_steps_done(s->tr) : 0);
    json_num(&j, "last_loss", out->last_loss);
    json_num(&j, "train_loss", out->train_loss);
    json_num(&j, "test_loss", out->ev.loss);
    json_int(&j, "test_step", out->eval_step);
    json_int(&j, "skipped_steps", out->skipped);
    json_str(&j, "checkpoint", ck->saved_step >= 0 ? ck->path : NULL);
    if (ck->saved_step >= 0) json_int(&j, "checkpoint_step", ck->saved_step);
    json_u64(&j, "seed", o->seed);
    json_end(&j);
}

/* A stop signal ended the loop: the checkpoint, what was done, how to go on; 130 or 143. */
static int stopped(const train_opts *o, const train_session *s, const train_outcome *out,
                   checkpointer *ck, int argc, char **argv) {
    const char *sig = cli_signal_name(out->stopped_by);
    int done = mn_trainer_steps_done(s->tr), rc = ck->path ? save_checkpoint(ck) : 0;
    if (rc) return rc;
    char desc[MN_MAX_BLOCKS * 48], a[32], resume[4096];
    printf("mnemo train: stopped by %s after step %d of %d\n", sig, done, o->tc.steps);
    printf("  model       %s (%s parameters), %s %s, length %d\n",
           cli_model_desc(mn_model_get_config(s->model), desc, sizeof desc),
           fmt_si(a, sizeof a, (double)mn_model_param_count(s->model)),
           o->data_spec ? "data" : "task", o->data_spec ? o->data_spec : o->task_name, o->length);
    if (out->window)
        printf("  train loss  %.6g (mean of the last %d step%s)\n", out->train_loss, out->window,
               out->window == 1 ? "" : "s");
    if (out->eval_step)
        printf("  test loss   %.6g at step %d\n", out->ev.loss, out->eval_step);
    if (ck->path) {
        printf("  checkpoint  %s (step %d)\n", ck->path, done);
        printf("  resume      %s\n",
               cli_resume_command(resume, sizeof resume, "train", argc, argv, ck->path));
    } else {
        printf("  checkpoint  none: without --save FILE the steps done are not kept\n");
    }
    fflush(stdout);
    if (ck->path)
        return cli_fail_code(cli_signal_exit_code(out->stopped_by), "stopped by %s after step "
                             "%d of %d; the checkpoint %s continues it with --resume %s", sig,
                             done, o->tc.steps, ck->path, ck->path);
    return cli_fail_code(cli_signal_exit_code(out->stopped_by), "stopped by %s after step %d of "
                         "%d; nothing was saved (no --save FILE)", sig, done, o->tc.steps);
}

/* --resume FILE where FILE holds all the steps asked: a batch scheduler reruns the same
 * command after a requeue, and a finished run is a success that changes nothing (no step,
 * no --save, no --metrics line). One line, or one JSON object with --json. */
static int already_complete(const train_opts *o, const train_session *s, const char *path,
                            int json) {
    printf("mnemo train: %s already holds %d steps (--steps %d): the run was complete; nothing "
           "to do, the file is left as it was (a larger --steps goes on)\n", path, s->done,
           o->tc.steps);
    if (json) {
        json_obj j;
        json_begin(&j, stdout);
        json_str(&j, "command", "train");
        train_json_task(&j, o);
        json_model(&j, mn_model_get_config(s->model));
        json_int(&j, "length", o->length);
        json_int(&j, "steps", o->tc.steps);
        json_bool(&j, "already_complete", 1);
        json_str(&j, "resumed_from", path);
        json_int(&j, "steps_done", s->done);
        json_end(&j);
    }
    fflush(stdout);
    return CLI_EXIT_OK;
}

int cmd_train(int argc, char **argv) {
    train_opts o;
    train_opts_init(&o);
    train_cmd_opts c = {0};
    cli_opt opts[TRAIN_OPTS_MAX + TRAIN_CMD_OPTS];
    int n = train_opts_table(&o, opts, 1);
    n += train_cmd_table(&c, opts + n);

    if (cli_wants_help(argc, argv)) {
        usage(stdout, opts, n);
        return CLI_EXIT_OK;
    }
    int rc = cli_parse("train", argc, argv, opts, n);
    if (rc || (rc = train_opts_check(&o)) || (rc = train_cmd_check(&o, &c))) return rc;
    const char *save_path = c.save_path, *resume_path = c.resume_path;
    const int every = c.every, json = c.json;

    cli_json_arm(json);
    cli_signals_install();

    double t_start = cli_now();
    train_session s;
    train_outcome out;
    memset(&out, 0, sizeof out);
    out.ev.loss = out.train_loss = out.last_loss = NAN;
    checkpointer ck = {&o, &s, save_path, every, -1};
    rc = train_session_resume(&o, &s, resume_path);
    s.checkpoint = checkpoint_now;
    s.checkpoint_ctx = &ck;
    if (!rc && s.complete) {
        rc = already_complete(&o, &s, resume_path, json);
        train_session_close(&s);
        return rc;
    }
    if (!rc && resume_path)
        fprintf(stderr, "resumed %s at step %d of %d\n", resume_path, s.done, o.tc.steps);
    if (!rc) rc = train_session_run(&o, &s, checkpoint_hook, &ck, &out);
    if (!rc && out.stopped_by) {
        rc = stopped(&o, &s, &out, &ck, argc, argv);
    } else if (!rc && cli_stop_signal()) {
        fprintf(stderr, "mnemo: %s came after the last step: the run was complete, so it "
                "ends as usual\n", cli_signal_name(cli_stop_signal()));
    }
    if (!rc && save_path && cli_mpi_rank() == 0) {
        char loss_s[32];
        snprintf(loss_s, sizeof loss_s, "%.9g", out.ev.loss);
        rc = save_model(&o, &s, loss_s, save_path);
    }
    if (!rc) {
        summary(&o, &s, &out, &c, cli_now() - t_start, json);
        fflush(stdout);
    } else if (json) {
        failure_json(&o, &s, &out, &ck, rc);
    }
    train_session_close(&s);
    return rc;
}
