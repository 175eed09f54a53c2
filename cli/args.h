/* Strict command-line option parsing for the mnemo CLI.
 *
 * Every command describes its options in a table of cli_opt. The parser accepts
 * "--name value" and "--name=value", rejects anything it does not know, and on any mistake
 * prints exactly one line "mnemo: <what was wrong>; <what to do>" to stderr and returns 2
 * (the usage exit code). Help text is generated from the same table, with the defaults read
 * from the variables the options write to.
 */
#ifndef MNEMO_CLI_ARGS_H
#define MNEMO_CLI_ARGS_H

#include "mnemo.h"
#include <stdint.h>
#include <stdio.h>

#define CLI_EXIT_OK 0
#define CLI_EXIT_RUNTIME 1
#define CLI_EXIT_USAGE 2

typedef enum {
    OPT_INT,    /* int*: whole number in [imin, imax] */
    OPT_U64,    /* uint64_t*: whole number in [0, 2^64-1] */
    OPT_FLOAT,  /* float*: finite number in [fmin, fmax] (fmin excluded when fmin_open) */
    OPT_STR,    /* const char**: any non-empty text */
    OPT_FLAG    /* int*: set to 1, takes no value */
} cli_opt_kind;

typedef struct {
    const char *name;       /* "--length" */
    cli_opt_kind kind;
    void *dst;
    const char *meta;       /* value placeholder in help: "N", "X", "FILE" */
    const char *help;       /* one line */
    const char *defdesc;    /* default as text; NULL: read from *dst ("" prints none) */
    const char *example;    /* a valid value, shown when the given one is wrong */
    long long imin, imax;
    double fmin, fmax;
    int fmin_open;          /* 1: the value must be strictly greater than fmin */
    int required;
    int given;              /* set by cli_parse */
} cli_opt;

/* Print "mnemo: <message>" as one line on stderr (newlines in the message become spaces).
 * Returns CLI_EXIT_USAGE. */
int cli_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Same, with a chosen exit code returned. */
int cli_fail_code(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Report a library failure: "mnemo: <context: >mn_last_error()". Returns the exit code for
 * the status: 2 for MN_E_ARG / MN_E_INPUT, 1 otherwise. context may be NULL. */
int cli_lib_fail(mn_status s, const char *context);
/* The text of the last line the functions above printed, without "mnemo: " ("" if none). */
const char *cli_last_error_line(void);
int cli_exit_code(mn_status s);

/* 1 when argv holds --help or -h (anywhere: help wins over every other mistake). */
int cli_wants_help(int argc, char **argv);

/* Parse argv[0..argc) (the words after the command name) into the table.
 * Returns 0, or CLI_EXIT_USAGE after printing the one-line error. */
int cli_parse(const char *command, int argc, char **argv, cli_opt *opts, int nopts);

/* Print the options of a command, with their defaults, to f. */
void cli_print_options(FILE *f, const cli_opt *opts, int nopts);

/* Look up an option by name (NULL when absent). */
cli_opt *cli_find(cli_opt *opts, int nopts, const char *name);

/* Map a name from a NULL-terminated list to its index; -1 when unknown. */
int cli_choice(const char *value, const char *const *names);
/* Join a NULL-terminated list as "a, b, c" into buf. */
const char *cli_join(char *buf, size_t n, const char *const *names);

#endif
