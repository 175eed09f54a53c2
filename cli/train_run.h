/* The training options and loop shared by `mnemo train` and `mnemo diagnose`: one option
 * table, one set of cross-checks, one loop with progress, metrics and evaluations. */
#ifndef MNEMO_CLI_TRAIN_RUN_H
#define MNEMO_CLI_TRAIN_RUN_H

#include "common.h"
#include "progress.h"
#include "transformer.h"

typedef struct {
    mn_train_config tc;
    mn_model_config mc;
    const char *task_name, *model_name, *metrics_path;
    const char *opt_name, *sched_name, *init_name;
    const char *blocks_spec, *norm_name, *norm_kind_name;   /* --blocks, --norm, --norm-kind */
    int length, bidir, chrono, no_chrono, eval_every, log_every, threads, residual;
    float dropout;
    int model_required, layers_given;
    mn_norm_place norm;
    mn_norm_kind norm_kind;
    uint64_t seed;
    mn_cell_kind cell;
    char threads_def[48];
    cli_transformer tf;              /* --model transformer and its options */
    int transformer;
    const cli_opt *table;            /* the parsed table, for the checks of given options */
    int ntable;
} train_opts;

#define TRAIN_OPTS_MAX 48

void train_opts_init(train_opts *o);
/* Writes the training options into opts[0..]; returns how many. model_required: 0 lets a
 * command make --model optional (diagnose --load). */
int train_opts_table(train_opts *o, cli_opt *opts, int model_required);
/* Cross-checks after parsing (names, contradictions); 0, or 2 after printing the error. */
int train_opts_check(train_opts *o);


/* The options only `mnemo train` has (saving, checkpoints, resume, JSON), kept here so
 * that everything parsing train's command line (the command, the fuzz harness) shares
 * one table and one set of checks. */
typedef struct {
    const char *save_path, *resume_path;
    int every, json;
} train_cmd_opts;

#define TRAIN_CMD_OPTS 4
int train_cmd_table(train_cmd_opts *c, cli_opt *opts);   /* writes 4 options, returns 4 */
/* --save writable and apart from --metrics; --checkpoint-every needs --save. 0 or 2. */
int train_cmd_check(const train_opts *o, const train_cmd_opts *c);

typedef struct {
    mn_task *task;
    const mn_task_info *info;
    mn_model *model;
    mn_trainer *tr;
    FILE *metrics;
    int done;              /* steps already taken (a resumed run starts after them) */
    /* SIGUSR1: writes a checkpoint and a line saying so into note; 0 or the exit code.
     * NULL: the command keeps none (the loop says so and goes on). Set after opening. */
    int (*checkpoint)(void *ctx, char *note, size_t cap);
    void *checkpoint_ctx;
} train_session;

/* Creates the task, the model (task sets input, output, loss; options the rest) and the
 * trainer. Returns 0 or the exit code after printing the error; close it either way. */
int train_session_open(train_opts *o, train_session *s);
void train_session_close(train_session *s);

typedef struct {
    double train_loss;     /* mean over the last logged window */
    int window;            /* steps in that window */
    mn_eval_stats ev;      /* last evaluation */
    double tokens_per_s, train_seconds;
    int skipped;
    double last_loss;      /* of the last step taken (NaN when none, or not finite) */
    int eval_step;         /* the step of ev (0: none yet) */
    int stopped_by;        /* the signal that stopped the loop before its last step, or 0 */
} train_outcome;

/* Called after every successful step (for recording); nonzero stops with that exit code. */
typedef int (*train_hook)(void *ctx, int step, const mn_step_stats *ss);

/* The loop: steps, progress on stderr, --metrics records, evaluations every eval_every
 * steps and at the end. Returns 0 or the exit code after printing the error. A stop
 * signal (signals.h) ends it after the current step with 0 and out->stopped_by set; once
 * the last step is taken the run is complete and ends as usual. */
int train_session_run(train_opts *o, train_session *s, train_hook hook, void *ctx,
                      train_outcome *out);

#endif
