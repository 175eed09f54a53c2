/* libFuzzer harness: the CLI option parser on the real option table of `mnemo train`.
 *
 * The input is split into argv words at every NUL byte or newline (a final empty word is
 * dropped), the words after "mnemo train". The harness builds the table as cmd_train does
 * (train_opts_table plus the four options cmd_train adds; cmd_train.c itself is not
 * linked because it runs the command), then does what cmd_train does before it starts
 * work: --help, cli_parse, train_opts_check and the checks of --save. Nothing is trained
 * and no file is written (the checks only stat and access paths).
 *
 * It checks that the parser returns 0 or 2, and that after a 0 every option holds a value
 * inside the bounds its table entry promises. The replay of the corpus through the real
 * binary is tests/cli_fuzz_regressions_test.sh, which splits words the same way.
 *
 * `make fuzz` runs it with -close_fd_mask=2, since every rejected line prints one error
 * line; a broken promise is reported on a copy of stderr taken at start-up. */
#include "args.h"
#include "common.h"
#include "train_run.h"
#include "core.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_WORDS 256

static int report_fd = 2;
static FILE *devnull;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    int fd = dup(2);
    if (fd >= 0) report_fd = fd;
    devnull = fopen("/dev/null", "w");
    return 0;
}

static void broken(const char *what, const cli_opt *o) {
    dprintf(report_fd, "fuzz_args: %s%s%s\n", what, o ? ": " : "", o ? o->name : "");
    abort();
}

/* After a successful parse, every given option holds what its table entry allows. */
static void check_values(const cli_opt *opts, int n) {
    for (int i = 0; i < n; i++) {
        const cli_opt *o = &opts[i];
        if (!o->given) continue;
        switch (o->kind) {
        case OPT_INT: {
            int v = *(const int *)o->dst;
            if (v < o->imin || v > o->imax) broken("an int option out of its range", o);
            break;
        }
        case OPT_FLOAT: {
            double v = *(const float *)o->dst;
            if (!isfinite(v)) broken("a float option that is not finite", o);
            if (o->fmin_open ? !(v > o->fmin) : !(v >= o->fmin))
                broken("a float option below its minimum", o);
            if (!(v <= o->fmax)) broken("a float option above its maximum", o);
            break;
        }
        case OPT_STR: {
            const char *s = *(const char *const *)o->dst;
            if (!s || !*s) broken("a text option given an empty value", o);
            break;
        }
        case OPT_FLAG:
            if (*(const int *)o->dst != 1) broken("a flag given but not set", o);
            break;
        case OPT_U64:
            break;
        }
    }
    for (int i = 0; i < n; i++)
        if (opts[i].required && !opts[i].given) broken("a required option is missing", &opts[i]);
}

/* What cmd_train does with its arguments before it starts a session. */
static int parse_train(int argc, char **argv) {
    train_opts o;
    train_opts_init(&o);
    train_cmd_opts c = {0};
    cli_opt opts[TRAIN_OPTS_MAX + TRAIN_CMD_OPTS];
    int n = train_opts_table(&o, opts, 1);
    if (n < 1 || n > TRAIN_OPTS_MAX) broken("train_opts_table returned a bad count", NULL);
    n += train_cmd_table(&c, opts + n);
    if (cli_wants_help(argc, argv)) {
        if (devnull) cli_print_options(devnull, opts, n);
        return 0;
    }
    int rc = cli_parse("train", argc, argv, opts, n);
    if (rc != 0 && rc != CLI_EXIT_USAGE) broken("cli_parse returned neither 0 nor 2", NULL);
    if (rc) return rc;
    check_values(opts, n);
    rc = train_opts_check(&o);
    if (rc != 0 && rc != CLI_EXIT_USAGE) broken("train_opts_check returned neither 0 nor 2", NULL);
    if (rc) return rc;
    rc = train_cmd_check(&o, &c);
    if (rc != 0 && rc != CLI_EXIT_USAGE) broken("train_cmd_check returned neither 0 nor 2", NULL);
    if (rc) return rc;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 4096) return 0;   /* command lines are short; keep the search there */
    char *text = malloc(size + 1);
    char *words[MAX_WORDS + 1];
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = 0;
    int argc = 0;
    size_t start = 0;
    for (size_t i = 0; i <= size && argc < MAX_WORDS; i++) {
        if (i < size && text[i] != '\n' && text[i] != 0) continue;
        if (i == size && start == size) break;   /* no empty word after a final separator */
        text[i] = 0;
        words[argc++] = text + start;
        start = i + 1;
    }
    words[argc] = NULL;
    mn_clear_error();
    parse_train(argc, words);
    mn_clear_error();   /* leave the thread's error state as it was found */
    free(text);
    return 0;
}
