/* Output helpers for the mnemo CLI: wall-clock time, human number formats, the progress
 * line on stderr, and one-object-per-line JSON (summaries and the metrics file). */
#ifndef MNEMO_CLI_PROGRESS_H
#define MNEMO_CLI_PROGRESS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "mnemo.h"

double cli_now(void);   /* monotonic seconds */

/* "1m32s", "45.2s", "2h03m" */
const char *fmt_duration(char *buf, size_t n, double seconds);
/* "950", "12.3k", "4.56M", "1.2G" */
const char *fmt_si(char *buf, size_t n, double x);
/* "1.5 MiB" etc. */
const char *fmt_bytes(char *buf, size_t n, double bytes);

/* Progress on a stream: redrawn in place with '\r' on a terminal, one line per call
 * otherwise. Permanent lines (evaluations, warnings) clear the in-place line first. */
typedef struct {
    FILE *f;
    int tty;
    int drawn;          /* characters of the in-place line now on screen */
    double last_draw;   /* cli_now() of the last redraw */
} progress;

void progress_init(progress *p, FILE *f);
/* Show the current status line (tty: in place; otherwise as its own line). */
void progress_show(progress *p, const char *line);
/* Print a permanent line. */
void progress_line(progress *p, const char *line);
/* Finish: leave the last in-place line on screen and end it with a newline. */
void progress_end(progress *p);

/* One JSON object written on one line. Non-finite numbers are written as null. */
typedef struct {
    FILE *f;
    int n;
} json_obj;

void json_begin(json_obj *j, FILE *f);
/* The model as one line: "lstm, hidden 64, 2 layers, bidirectional" for a plain stack,
 * "blocks SPEC" for a block model; and as JSON fields ("model", with "blocks" for a block
 * model, "hidden", "layers", "bidirectional"). */
const char *cli_model_desc(const mn_model_config *mc, char *buf, size_t cap);
void json_model(json_obj *j, const mn_model_config *mc);
/* Text tasks (tokens_per_char > 0): bits_per_char, bits_per_byte, perplexity and
 * baseline_bits_per_char (common.c); nothing for other tasks. */
void cli_json_text_metrics(json_obj *j, const mn_eval_stats *ev, const mn_task_info *info);
void json_str(json_obj *j, const char *key, const char *value);   /* NULL value -> null */
void json_num(json_obj *j, const char *key, double value);        /* %.6g */
void json_int(json_obj *j, const char *key, long long value);
void json_u64(json_obj *j, const char *key, uint64_t value);
void json_bool(json_obj *j, const char *key, int value);
void json_null(json_obj *j, const char *key);
void json_num_array(json_obj *j, const char *key, const double *v, int n);
/* A nested object: "key":{ ... }; fill the returned object, then json_close it. */
json_obj json_child(json_obj *j, const char *key);
void json_close(json_obj *child);
/* An array of objects: "key":[{...},{...}]: json_array_open, then for each element
 * json_array_item (fill it, json_close it), then json_array_close. */
void json_array_open(json_obj *j, const char *key);
json_obj json_array_item(json_obj *j, int index);
void json_array_close(json_obj *j);
void json_str_array(json_obj *j, const char *key, const char *const *v, int n);
void json_end(json_obj *j);   /* "}\n" and flush */

/* --json on every outcome. A command calls cli_json_arm(json) once its command line is
 * accepted; from then on a failure ends stdout with one JSON object too: the command's own
 * (json_failure_begin, then its figures, then json_end), or else, printed by main,
 * {"command", "error", "exit_code"}. "error" is the line printed last on stderr. */
void cli_json_arm(int on);
int cli_json_armed(void);
/* Starts {"command":..., "error":..., "exit_code":...} and disarms main's generic one. */
void json_failure_begin(json_obj *j, const char *command, int exit_code);

#endif
