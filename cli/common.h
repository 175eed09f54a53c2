/* Pieces shared by the mnemo commands: checks of names, memory and paths that print the
 * CLI's one-line errors, and the command entry points. */
#ifndef MNEMO_CLI_COMMON_H
#define MNEMO_CLI_COMMON_H

#include "args.h"
#include "mnemo.h"

/* Bounds every command applies (documented in --help through the error messages). */
#define CLI_MAX_LENGTH 1000000
#define CLI_MAX_HIDDEN 65536
#define CLI_MAX_LAYERS 64
#define CLI_MAX_BATCH 65536
#define CLI_MAX_INPUT 65536
#define CLI_MAX_THREADS 4096
#define CLI_MAX_STEPS 1000000000
#define CLI_MAX_EVAL 100000000

int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_diagnose(int argc, char **argv);
int cmd_memory(int argc, char **argv);
int cmd_lab(int argc, char **argv);
int cmd_predict(int argc, char **argv);
int cmd_sweep(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_generate(int argc, char **argv);

/* The result lines `train` and `eval` share: test loss, the task's baseline, their ratio
 * and (when show_accuracy) the task's accuracy. */
void cli_print_test_result(const mn_eval_stats *ev, int sequences, const mn_task_info *info,
                           int show_accuracy);

/* 0 when name is one of mn_task_names(); otherwise prints the error, returns 2. */
int cli_check_task(const char *name);
/* The help section on tasks: each one's definition, its source and what --length means. */
void cli_task_help(FILE *f);
/* mn_cell_parse with the CLI's error line; 0 or 2. */
int cli_parse_cell(const char *name, mn_cell_kind *out);
/* Lists for messages and help. */
const char *cli_cell_list(void);   /* "rnn, rnn-relu, lstm, gru" */
/* Whether a cell can take PyTorch's proj_size (the cells with a cell state: h = W_hr·h'),
 * asked of the library's cell descriptions rather than of a cell name. */
int cli_cell_has_projection(mn_cell_kind cell);

/* The peak bytes of a run of the model cfg at T steps and B sequences, as the library
 * estimates it (mn_memory_estimate_run; train: a training step with Adam, else a forward
 * pass); -1 when the library refuses the shape, with its reason in mn_last_error(). */
double cli_estimate_bytes(const mn_model_config *cfg, int T, int B, int train);
/* The check: prints an error and returns 2 when bytes is more than the machine has, or
 * when bytes < 0 (the library's reason, from cli_estimate_bytes). */
int cli_check_memory(const char *what, double bytes, const char *advice);

/* 0 when the values x[t, b, i] (T steps of B sequences of I features; with lengths, only
 * the steps t < lengths[b]) are finite; else 1 after a warning on stderr naming `what`, the
 * first such value's step (counted from t0), sequence and feature. predict lets a NaN or
 * Inf through as PyTorch does (issue 15); the warning says where the NaN outputs come from. */
int cli_warn_nonfinite(const char *what, const float *x, long long T, int B, int I,
                       const int32_t *lengths, long long t0);

/* A whole non-negative number at most max stored as metadata text; -1 when absent or not
 * one. */
long long cli_meta_number(const char *s, long long max);

/* 0 when every parameter of a loaded model is finite; else 1 after a warning on stderr
 * naming the file, the first such tensor and element (a file saved from a run that
 * diverged, or damaged): its outputs will be NaN or Inf. */
int cli_warn_nonfinite_params(mn_model *m, const char *path);

/* 0 when a file can be created at path (its folder exists and is writable); else prints
 * "mnemo: cannot write <opt> file ..." and returns 2. */
int cli_check_writable(const char *opt, const char *path);

/* The FNV-1a 64-bit hash of a file's bytes as 16 hex digits (what a checkpoint records of
 * its tokenizer, data.tokenizer_hash). 0, or 2 after printing the error. */
int cli_file_hash(const char *path, char hex[17]);
/* The tokenizer a loaded model was trained with: given (--tokenizer) or the path the file
 * records (data.tokenizer), whose content must hash to the recorded data.tokenizer_hash.
 * *path NULL when the model was trained on bytes (then given is refused). 0 or 2. */
int cli_model_tokenizer(mn_model *m, const char *load, const char *given, const char **path);

/* Apply --threads (0: all cores). */
void cli_set_threads(int threads);

/* "[5, 3, 4]" into buf; returns buf. */
const char *cli_shape_str(char *buf, size_t cap, const int64_t *shape, int ndim);
/* --lengths PATH: int32 or int64 [B], each in [1, T], into lengths[B]. 0, or 2 after
 * printing. */
int cli_load_lengths(const char *path, int T, int B, int32_t *lengths);

#endif
