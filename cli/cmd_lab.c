/* mnemo lab NAME: run one experiment that checks the theory of long-range learning and
 * print its claim, the predicted and the measured value, and PASS, FAIL or N/A. */
#include "common.h"
#include "progress.h"
#include "signals.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* "radius length" -> "--radius, --length" */
static const char *dashed(char *buf, size_t n, const char *words) {
    size_t used = 0;
    buf[0] = 0;
    for (const char *p = words; *p && used + 1 < n;) {
        size_t len = strcspn(p, " ");
        int w = snprintf(buf + used, n - used, "%s--%.*s", used ? ", " : "", (int)len, p);
        if (w < 0) break;
        used += (size_t)w;
        p += len;
        while (*p == ' ') p++;
    }
    return buf;
}

static void usage(FILE *f, cli_opt *opts, int n, int only) {
    fprintf(f,
            "usage: mnemo lab NAME [options] [--json]\n"
            "\n"
            "Experiments that check the theory of long-range learning with measurements on\n"
            "mnemo's own layers, backward passes and trainer. Each prints the claim, the value\n"
            "the theory predicts, the measured value and PASS or FAIL; N/A when the claim\n"
            "cannot be checked at the given settings (for example a ratio beyond float32's\n"
            "range), with the reason. A FAIL is a measurement, not an error: the exit code is\n"
            "0 whenever the experiment ran (1: runtime failure, 2: bad usage). With --json the\n"
            "last stdout line is one JSON object with command, experiment, claim, theory,\n"
            "measured, pass (true/false), applies and the further measured figures.\n"
            "\n"
            "experiments (and the options each one reads):\n");
    for (int i = 0; i < mn_lab_count(); i++) {
        const char *name, *summary, *options;
        mn_lab_info(i, &name, &summary, &options);
        if (only >= 0 && i != only) continue;
        char buf[160];
        if (strlen(name) > 14)   /* a long name on its own line keeps the column */
            fprintf(f, "  %s\n  %-14s %s\n  %-14s (%s)\n", name, "", summary, "",
                    dashed(buf, sizeof buf, options));
        else
            fprintf(f, "  %-14s %s\n  %-14s (%s)\n", name, summary, "",
                    dashed(buf, sizeof buf, options));
    }
    fprintf(f, "\noptions (every experiment also takes --threads and --json):\n");
    cli_print_options(f, opts, n);
    fprintf(f, "\nexample:\n  mnemo lab vanishing --radius 0.9 --length 100 --json\n");
}

/* The experiment that reads option `name` (without dashes)? Options lists are words. */
static int reads_option(const char *options, const char *name) {
    size_t n = strlen(name);
    for (const char *p = options; (p = strstr(p, name)); p += n)
        if ((p == options || p[-1] == ' ') && (p[n] == ' ' || p[n] == 0)) return 1;
    return 0;
}

/* "0,1,2.5" -> values; one line and exit 2 on a mistake. */
static int parse_doubles(const char *opt, const char *s, double *out, int *n, double lo,
                         double hi) {
    *n = 0;
    for (const char *p = s;;) {
        char *end;
        errno = 0;
        double v = strtod(p, &end);
        int digit = (*p >= '0' && *p <= '9') || ((*p == '-' || *p == '+' || *p == '.') &&
                                                 p[1] >= '0' && p[1] <= '9');
        if (!digit || end == p || errno == ERANGE || !isfinite(v) || v < lo || v > hi ||
            (*end != ',' && *end != 0) || *n >= MN_LAB_MAX_LIST)
            return cli_fail("%s must be a comma-separated list of 1 to %d numbers from %g to "
                            "%g, got \"%s\"; for example %s 0,1,2,3,5", opt, MN_LAB_MAX_LIST,
                            lo, hi, s, opt);
        out[(*n)++] = v;
        if (!*end) return 0;
        p = end + 1;
    }
}

static int parse_ints(const char *opt, const char *s, int *out, int *n, int lo, int hi) {
    *n = 0;
    for (const char *p = s;;) {
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (*p < '0' || *p > '9' || errno == ERANGE || v < lo || v > hi ||
            (*end != ',' && *end != 0) || *n >= MN_LAB_MAX_LIST)
            return cli_fail("%s must be a comma-separated list of 1 to %d whole numbers from "
                            "%d to %d, got \"%s\"; for example %s 25,50,100", opt,
                            MN_LAB_MAX_LIST, lo, hi, s, opt);
        out[(*n)++] = (int)v;
        if (!*end) return 0;
        p = end + 1;
    }
}

static void on_progress(void *ctx, const char *line) {
    progress_line((progress *)ctx, line);
}

/* A number, or what a non-finite one means here (float32 overflow or 0/0). */
static void print_value(const char *label, double v) {
    if (isfinite(v)) printf("%-10s %.6g\n", label, v);
    else printf("%-10s not finite (%s)\n", label, isnan(v) ? "0/0 or inf/inf" : "overflow");
}

static void print_result(const mn_lab_result *r) {
    const char *word = r->pass ? "PASS" : r->applies ? "FAIL" : "N/A";
    printf("\n");
    printf("claim      %s\n", r->claim);
    printf("quantity   %s\n", r->quantity);
    print_value("theory", r->theory);
    print_value("measured", r->measured);
    printf("criterion  %s\n", r->criterion);
    if (!r->applies)
        printf("result     N/A: the claim cannot be checked here: %s\n", r->note);
    else
        printf("result     %s\n", word);
}

/* Fixed keys first; the experiment's figures after, skipping any name already used. */
static void print_json(const mn_lab_result *r, uint64_t seed, int threads) {
    static const char *const fixed[] = {"command", "experiment", "claim", "quantity", "theory",
                                        "measured", "criterion", "applies", "pass", "result",
                                        "note", "seed", "threads", NULL};
    json_obj j;
    json_begin(&j, stdout);
    json_str(&j, "command", "lab");
    json_str(&j, "experiment", r->experiment);
    json_str(&j, "claim", r->claim);
    json_str(&j, "quantity", r->quantity);
    json_num(&j, "theory", r->theory);
    json_num(&j, "measured", r->measured);
    json_str(&j, "criterion", r->criterion);
    json_bool(&j, "applies", r->applies);
    json_bool(&j, "pass", r->pass);
    json_str(&j, "result", r->pass ? "PASS" : r->applies ? "FAIL" : "N/A");
    if (r->note[0]) json_str(&j, "note", r->note);
    json_u64(&j, "seed", seed);
    json_int(&j, "threads", threads);
    for (int i = 0; i < r->n_numbers; i++) {
        const char *name = r->numbers[i].name;
        int taken = cli_choice(name, fixed) >= 0;
        for (int k = 0; k < i && !taken; k++) taken = !strcmp(name, r->numbers[k].name);
        if (!taken) json_num(&j, name, r->numbers[i].value);
    }
    json_end(&j);
}

int cmd_lab(int argc, char **argv) {
    mn_lab_options lo;
    mn_lab_options_init(&lo);
    float radius = 0, forget = 0, clip = 0, cut = 0, target = 0, scale = 0;
    const char *forget_bias = NULL, *lengths = NULL;
    int threads = 0, json = 0;
    uint64_t seed = lo.seed;
    char threads_def[48];
    snprintf(threads_def, sizeof threads_def, "all cores, %d here", mn_get_threads());

    cli_opt opts[] = {
        {"--radius", OPT_FLOAT, &radius, "R", "rho: W = rho*Q (W_hh; residual: each W_l), Q "
         "random orthogonal", "0.9 vanishing, lstm-highway; 1.1 exploding; 1 orthogonal; 0.8 "
         "residual", "0.9", 0, 0, 0, 100, 1, 0, 0},
        {"--length", OPT_INT, &lo.length, "T", "steps T (activations: depth D)",
         "100; adjoint 20; small-data 50; selectivity 64", "100", 2, 100000, 0, 0, 0, 0, 0},
        {"--hidden", OPT_INT, &lo.hidden, "H", "hidden units", "32; adjoint 8", "32", 1, 4096, 0,
         0, 0, 0, 0},
        {"--forget", OPT_FLOAT, &forget, "F", "forget gate value f (gated-residual: sigmoid of "
         "the keep gate's bias), between 0 and 1", "0.99",
         "0.99", 0, 0, 0, 1, 1, 0, 0},
        {"--cut", OPT_FLOAT, &cut, "F", "forget-product: the one small forget value among the "
         "held f, between 0 and 1", "0.1", "0.1", 0, 0, 0, 1, 1, 0, 0},
        {"--clip", OPT_FLOAT, &clip, "C", "global-norm clipping threshold", "1", "1", 0, 0, 0,
         FLT_MAX, 1, 0, 0},
        {"--tbptt", OPT_INT, &lo.tbptt, "K", "truncated BPTT chunk length", "10", "10", 1,
         100000, 0, 0, 0, 0, 0},
        {"--forget-bias", OPT_STR, &forget_bias, "LIST", "forget biases b_f, comma-separated",
         "0,1,2,3,5", "0,1,2,3,5", 0, 0, 0, 0, 0, 0, 0},
        {"--lengths", OPT_STR, &lengths, "LIST", "sequence lengths, comma-separated",
         "25,50,100,200,400 adding-sweep; 10,20,30,40 sample-complexity", "25,50,100", 0, 0,
         0, 0, 0, 0, 0},
        {"--steps", OPT_INT, &lo.steps, "S", "training steps per run (sample-complexity: "
         "the budget)", "2000 adding-sweep; 10000 sample-complexity; 1000 small-data; 200 "
         "layernorm-saturation; 3000 selectivity", "2000", 1,
         CLI_MAX_STEPS, 0, 0, 0, 0, 0},
        {"--batch", OPT_INT, &lo.batch, "B", "sequences per training step", "32", "32", 1,
         CLI_MAX_BATCH, 0, 0, 0, 0, 0},
        {"--depth", OPT_INT, &lo.depth, "L", "layers L of the residual and prenorm stacks; "
         "receptive-field: TCN blocks, 1 to 10", "24; receptive-field 4", "24", 1, 10000, 0, 0,
         0, 0, 0},
        /* the training experiments of lab_learning.c and lab_samples.c */
        {"--seeds", OPT_INT, &lo.seeds, "N", "runs per setting, on seeds S, S+1, ...",
         "3 sample-complexity, 8 small-data", "5", 1, 100, 0, 0, 0, 0, 0},
        {"--target", OPT_FLOAT, &target, "L", "test MSE that counts as reached", "0.05",
         "0.05", 0, 0, 0, 1e3, 1, 0, 0},
        {"--train-size", OPT_INT, &lo.train_size, "N", "fixed training sequences, cycled "
         "every epoch (a multiple of --batch)", "256", "256", 1, 1 << 20, 0, 0, 0, 0, 0},
        {"--scale", OPT_FLOAT, &scale, "X", "factor on the task's inputs", "100", "100", 0, 0, 0,
         1e6, 1, 0, 0},
        {"--text", OPT_STR, &lo.text, "FILE", "bpe-distance: the text to measure on (at most "
         "64 MB)", "a generated text", "corpus.txt", 0, 0, 0, 0, 0, 0, 0},
        {"--seed", OPT_U64, &seed, "S", "seed of the weights and data", NULL, "1", 0, 0, 0, 0,
         0, 0, 0},
        {"--threads", OPT_INT, &threads, "N", "threads", threads_def, "2", 1, CLI_MAX_THREADS,
         0, 0, 0, 0, 0},
        {"--json", OPT_FLAG, &json, NULL, "end stdout with one JSON summary line", NULL, NULL,
         0, 0, 0, 0, 0, 0, 0},
    };
    const int nopts = (int)(sizeof opts / sizeof opts[0]);

    /* the experiment named first, if it is one */
    int which = -1;
    const char *name = argc > 0 ? argv[0] : NULL;
    for (int i = 0; name && i < mn_lab_count(); i++) {
        const char *n;
        mn_lab_info(i, &n, NULL, NULL);
        if (!strcmp(n, name)) which = i;
    }
    if (cli_wants_help(argc, argv)) {
        usage(stdout, opts, nopts, which);
        return CLI_EXIT_OK;
    }
    if (!name || name[0] == '-')
        return cli_fail("'lab' needs an experiment name first; choose one of %s (see 'mnemo "
                        "lab --help')", mn_lab_names());
    if (which < 0)
        return cli_fail("unknown experiment \"%s\"; choose one of %s", name, mn_lab_names());
    int rc = cli_parse("lab", argc - 1, argv + 1, opts, nopts);
    if (rc) return rc;

    const char *reads;
    mn_lab_info(which, NULL, NULL, &reads);
    for (int i = 0; i < nopts; i++) {
        const char *o = opts[i].name + 2;
        if (opts[i].given && strcmp(o, "threads") && strcmp(o, "json") && !reads_option(reads, o))
        {
            char buf[160];
            return cli_fail("%s does not apply to 'lab %s', which reads %s; drop %s",
                            opts[i].name, name, dashed(buf, sizeof buf, reads), opts[i].name);
        }
    }
    if (forget >= 1.0f)
        return cli_fail("--forget must be greater than 0 and less than 1, got %g; for example "
                        "--forget 0.99", (double)forget);
    if (cut >= 1.0f)
        return cli_fail("--cut must be greater than 0 and less than 1, got %g; for example "
                        "--cut 0.1", (double)cut);
    if (forget_bias && parse_doubles("--forget-bias", forget_bias, lo.forget_bias,
                                     &lo.n_forget_bias, -50, 50))
        return CLI_EXIT_USAGE;
    if (lengths && parse_ints("--lengths", lengths, lo.lengths, &lo.n_lengths, 2, 100000))
        return CLI_EXIT_USAGE;
    lo.radius = radius;
    lo.forget = forget;
    lo.clip = clip;
    lo.cut = cut;
    lo.target = target;
    lo.scale = scale;
    lo.seed = seed;
    cli_json_arm(json);
    /* the experiments that train (they read --steps) stop after the current step; the
     * others are short and keep the default: a signal ends them at once */
    if (reads_option(reads, "steps")) {
        cli_signals_install();
        lo.stop = cli_stop_flag();
    }
    cli_set_threads(threads);

    progress pg;
    progress_init(&pg, stderr);
    lo.progress = on_progress;
    lo.progress_ctx = &pg;

    mn_lab_result *r = malloc(sizeof *r);
    if (!r) return cli_fail_code(CLI_EXIT_RUNTIME, "out of memory for the lab result");
    mn_status st = mn_lab_run(name, &lo, r);
    if (st == MN_E_STOPPED) {
        int sig = cli_stop_signal();
        rc = cli_fail_code(cli_signal_exit_code(sig), "lab %s: stopped by %s after the current "
                           "training step; the runs that finished are listed above, and no "
                           "verdict was reached", name, cli_signal_name(sig));
        if (json) {
            json_obj j;
            json_failure_begin(&j, "lab", rc);
            json_str(&j, "interrupted", cli_signal_name(sig));
            json_str(&j, "experiment", name);
            json_end(&j);
        }
        free(r);
        return rc;
    }
    if (st) {
        rc = cli_lib_fail(st, name);
        free(r);
        return rc;
    }
    printf("mnemo lab %s\n\n%s", r->experiment, r->report);
    print_result(r);
    if (json) print_json(r, seed, mn_get_threads());
    fflush(stdout);
    free(r);
    return CLI_EXIT_OK;
}
