/* The training options and loop shared by `mnemo train` and `mnemo diagnose`: one option
 * table, one set of cross-checks, one loop with progress, metrics and evaluations. */
#ifndef MNEMO_CLI_TRAIN_RUN_H
#define MNEMO_CLI_TRAIN_RUN_H

#include "common.h"
#include "progress.h"
#include "families.h"

typedef struct {
    mn_train_config tc;
    mn_model_config mc;
    const char *task_name, *model_name, *metrics_path;
    const char *data_spec, *valid_data;   /* --data KIND:PATH, --valid-data KIND:PATH */
    float valid_fraction;                 /* --valid-fraction (-1: the library's default) */
    const char *columns;                  /* --columns (csv) */
    int horizon;                          /* --horizon (csv) */
    const char *labels;                   /* --labels (fasta) */
    int permute;                          /* --permute (idx) */
    const char *tokenizer;                /* --tokenizer (text data as BPE ids) */
    const char *opt_name, *sched_name, *init_name;
    const char *blocks_spec, *norm_name, *norm_kind_name;   /* --blocks, --norm, --norm-kind */
    int length, bidir, chrono, no_chrono, eval_every, log_every, threads, residual;
    int proj, no_bias;               /* --proj-size (an LSTM's proj_size), --no-bias */
    float dropout;
    int model_required, layers_given;
    mn_norm_place norm;
    mn_norm_kind norm_kind;
    uint64_t seed;
    mn_cell_kind cell;
    char threads_def[48];
    cli_family fam;                  /* --model transformer|tcn|s4d|mamba and its options */

    /* The option table train_opts_table filled (the caller's, which cli_parse marks
     * given): the checks refuse options that would change nothing, so they ask whether an
     * option was given, not whether it holds its default. */
    const cli_opt *table;
    int ntable;
    int forget_bias_given;  /* --forget-bias: chrono init, the default, steps aside */
    char notes[512];        /* what the model's options chose (a TCN's layers and field) */
} train_opts;

#define TRAIN_OPTS_MAX 60

void train_opts_init(train_opts *o);
/* The task of the options: --data (seed: the split's and the stream's) or --task at
 * --length. Sets o->length to a data task's window. 0, or the exit code after printing. */
int train_task_create(train_opts *o, uint64_t seed, mn_task **out);
/* The checks of --task/--length/--data/--valid-* alone (train_opts_check runs them; eval
 * shares the rule). 0 or 2 after printing. */
int train_data_check(train_opts *o);
/* "task": name, or "data": spec (and "valid_data"), as the JSON summaries say it. */
void train_json_task(json_obj *j, const train_opts *o);
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
    int complete;          /* resumed from a checkpoint that holds all the steps asked */
    /* SIGUSR1: writes a checkpoint and a line saying so into note; 0 or the exit code.
     * NULL: the command keeps none (the loop says so and goes on). Set after opening. */
    int (*checkpoint)(void *ctx, char *note, size_t cap);
    void *checkpoint_ctx;
    mn_comm comm;          /* under mpirun: the ranks the trainer splits batches over */
} train_session;

/* Creates the task, the model (task sets input, output, loss; options the rest) and the
 * trainer, attached to the ranks under mpirun (rank 0 alone opens --metrics). Returns 0 or
 * the exit code after printing the error; close it either way. */
int train_session_open(train_opts *o, train_session *s);
/* The same, then the trainer's state from the checkpoint resume_path (NULL: none), checked
 * against the options. When it already holds o->tc.steps steps or more, sets complete and
 * returns 0 before printing the model's notes or opening the --metrics file. */
int train_session_resume(train_opts *o, train_session *s, const char *resume_path);
void train_session_close(train_session *s);

typedef struct {
    double last_lr;        /* the learning rate of the last step */
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

/* ------------------------------------------ what shapes the run (train_record.c) */

/* 1 when the option `name` was given on the command line. */
int train_opt_given(const train_opts *o, const char *name);
/* The checks of train_opts_check that ask the registry: init options a block of the
 * model must read (--init, --init-gain, --chrono, --no-chrono, --forget-bias). probe is
 * the model's config before the task fills it in. 0 or 2 after printing the error. */
int train_check_init(const train_opts *o, const mn_model_config *probe);
/* Once the task has configured the model: --hidden some block must read, --tbptt shorter
 * than the sequences of a model with a recurrence. 0 or 2. */
int train_check_model(const train_opts *o, const mn_model_config *mc, const mn_task_info *info);
/* One stderr line when the schedule's length is not the run's (a cosine that ends before
 * the run, or a run that stops before its schedule's end); nothing otherwise. */
void train_schedule_note(const train_opts *o, int done);
/* The settings that shaped the run, read from the options and the model as built:
 * optimizer and its settings, schedule, clipping, truncation, init. As summary lines on
 * stdout, and as keys of the summary's JSON object. */
void train_record_print(const train_opts *o, const train_session *s, const train_outcome *out);
void train_record_json(json_obj *j, const train_opts *o, const train_session *s,
                       const train_outcome *out);

#endif
