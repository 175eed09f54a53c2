/* mnemo sweep: several models trained at several lengths on one task with one budget (the
 * same steps, batch, learning rate and width), then one table of test loss, baseline and
 * accuracy, and optionally JSON and an SVG plot of the test metric against length: the
 * comparison of remedies for long-range dependencies in one command. Each run is exactly
 * what `mnemo train` would do with the same options. */
#include "train_run.h"
#include "signals.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_MODELS 8
#define MAX_LENGTHS 16

typedef struct {
    const char *models_text, *lengths_text, *plot_path;
    int json;
    const char *models[MAX_MODELS];
    int nmodels, lengths[MAX_LENGTHS], nlengths;
    char models_buf[512];
} sweep_opts;

typedef struct {
    int done, rc;                 /* rc: the run's exit code (0: trained and evaluated) */
    long long params;
    double test_loss, baseline, accuracy, seconds, tokens_per_s;
    char error[200];
} sweep_run;

/* Options of train that a sweep sets itself, or that would mix the runs' outputs. */
static const char *const not_swept[] = {"--model", "--blocks", "--metrics", NULL};

static void usage(FILE *f, const cli_opt *opts, int n) {
    fprintf(f,
            "usage: mnemo sweep --task T --models M1,M2,... --lengths L1,L2,... [options]\n"
            "\n"
            "Train every model at every length with the same budget (--steps, --batch, --lr,\n"
            "--hidden, --layers, ...), each run exactly as 'mnemo train' would, then print one\n"
            "table: test loss, the task's baseline, their ratio and the test accuracy. --plot\n"
            "draws the accuracy (or, for a task without one, the ratio test loss / baseline)\n"
            "against length, one line per model. Options of one model family (--heads, --kernel,\n"
            "--state, ...) reach only the models of that family. A run that fails (a NaN that\n"
            "--max-faults gives up on, too little memory) is marked in the table and the sweep\n"
            "goes on; the exit code is then that run's. SIGINT/SIGTERM stop after the current\n"
            "step, with the table of the runs done.\n"
            "Tasks: %s. Models: %s.\n"
            "\n"
            "options:\n",
            mn_task_names(), family_model_list());
    cli_print_options(f, opts, n);
}

/* "a,b,c" into at most max items; empty items and too many are refused. */
static int split(const char *opt, const char *text, char *buf, size_t cap, const char **items,
                 int max, int *n) {
    if (strlen(text) >= cap) return cli_fail("%s is too long", opt);
    memcpy(buf, text, strlen(text) + 1);
    *n = 0;
    for (char *p = buf, *end;; p = end + 1) {
        end = strchr(p, ',');
        if (end) *end = 0;
        if (!*p) return cli_fail("%s \"%s\" has an empty item; separate names with single commas",
                                 opt, text);
        if (*n == max) return cli_fail("%s: at most %d items", opt, max);
        items[(*n)++] = p;
        if (!end) return 0;
    }
}

static int parse_lists(sweep_opts *w) {
    int rc = split("--models", w->models_text, w->models_buf, sizeof w->models_buf, w->models,
                   MAX_MODELS, &w->nmodels);
    if (rc) return rc;
    for (int i = 0; i < w->nmodels; i++)
        for (int k = 0; k < i; k++)
            if (!strcmp(w->models[i], w->models[k]))
                return cli_fail("--models names %s twice; give each model once", w->models[i]);
    char buf[256];
    const char *items[MAX_LENGTHS];
    int n;
    if ((rc = split("--lengths", w->lengths_text, buf, sizeof buf, items, MAX_LENGTHS, &n)))
        return rc;
    for (int i = 0; i < n; i++) {
        char *end;
        long v = strtol(items[i], &end, 10);
        if (*end || end == items[i] || v < 1 || v > CLI_MAX_LENGTH)
            return cli_fail("--lengths: \"%s\" is not a whole number in [1, %d]; e.g. --lengths "
                            "100,200,400", items[i], CLI_MAX_LENGTH);
        if (i && v <= w->lengths[i - 1])
            return cli_fail("--lengths must increase (%ld after %d); e.g. --lengths 100,200,400",
                            v, w->lengths[i - 1]);
        w->lengths[i] = (int)v;
    }
    w->nlengths = n;
    return 0;
}

/* One run's options: the command line's, with this model and length, and the family
 * options of other families marked not given (so the model neither reads nor refuses
 * them). tab holds the copied option table. */
static int run_opts(const train_opts *base, const char *model, int length, cli_opt *tab,
                    train_opts *o) {
    *o = *base;
    o->model_name = model;
    o->length = length;
    memcpy(tab, base->table, sizeof *tab * (size_t)base->ntable);
    o->table = tab;
    cli_family_kind kind = family_of(model);
    for (int i = 0; i < base->ntable; i++) {
        if (family_option_read(tab[i].name, kind) == 0) tab[i].given = 0;
        if (!strcmp(tab[i].name, "--length")) tab[i].given = 1;   /* from --lengths */
    }
    return train_opts_check(o);
}

/* A family option that no model of the sweep reads would change nothing: refuse it. */
static int check_family_options(const train_opts *base, const sweep_opts *w) {
    for (int i = 0; i < base->ntable; i++) {
        const cli_opt *op = &base->table[i];
        if (!op->given || family_option_read(op->name, FAMILY_NONE) < 0) continue;
        int read = 0;
        for (int m = 0; m < w->nmodels; m++)
            read |= family_option_read(op->name, family_of(w->models[m])) == 1;
        if (!read)
            return cli_fail("%s shapes a model family that none of --models %s is; drop it",
                            op->name, w->models_text);
    }
    return 0;
}

static void one_run(train_opts *o, sweep_run *r) {
    train_session s;
    train_outcome out;
    memset(&out, 0, sizeof out);
    double t0 = cli_now();
    r->rc = train_session_open(o, &s);
    if (!r->rc) r->rc = train_session_run(o, &s, NULL, NULL, &out);
    r->done = 1;
    if (!r->rc && out.stopped_by) r->done = 0;   /* not a result: the table leaves it out */
    if (!r->rc && r->done) {
        r->params = (long long)mn_model_param_count(s.model);
        r->test_loss = out.ev.loss;
        r->baseline = s.info->baseline_loss;
        r->accuracy = s.info->has_accuracy ? out.ev.accuracy : NAN;
        r->tokens_per_s = out.tokens_per_s;
    } else if (r->rc) {
        snprintf(r->error, sizeof r->error, "%s", cli_last_error_line());
    }
    r->seconds = cli_now() - t0;
    train_session_close(&s);
}

/* "task adding" or "data text:FILE" */
static const char *what(const train_opts *o) {
    static char buf[300];
    snprintf(buf, sizeof buf, "%s %s", o->task_name ? "task" : "data",
             o->task_name ? o->task_name : o->data_spec ? o->data_spec : "?");
    return buf;
}

static double metric(const sweep_run *r, int accuracy) {
    if (!r->done || r->rc) return NAN;
    return accuracy ? r->accuracy : r->baseline > 0 ? r->test_loss / r->baseline : NAN;
}

static int write_plot(const sweep_opts *w, const train_opts *base, const sweep_run *runs,
                      int accuracy) {
    const int P = w->nlengths, S = w->nmodels + !accuracy;
    double x[MAX_LENGTHS], *y = malloc(sizeof *y * (size_t)S * (size_t)P);
    const char *names[MAX_MODELS + 1];
    int dashed[MAX_MODELS + 1] = {0};
    if (!y) return cli_fail_code(CLI_EXIT_RUNTIME, "out of memory for the plot");
    for (int i = 0; i < P; i++) x[i] = w->lengths[i];
    for (int m = 0; m < w->nmodels; m++) {
        names[m] = w->models[m];
        for (int i = 0; i < P; i++) y[m * P + i] = metric(&runs[m * P + i], accuracy);
    }
    if (!accuracy) {   /* the baseline is ratio 1 by definition */
        names[w->nmodels] = "baseline (input-blind)";
        dashed[w->nmodels] = 1;
        for (int i = 0; i < P; i++) y[w->nmodels * P + i] = 1;
    }
    char title[400];
    snprintf(title, sizeof title, "%s: %d steps per run, batch %d", what(base),
             base->tc.steps, base->tc.batch_size);
    mn_plot_lines p = {.title = title, .x_label = "sequence length T",
                       .y_label = accuracy ? "test accuracy" : "test loss / baseline",
                       .log_x = P > 1 && w->lengths[P - 1] >= 4 * w->lengths[0], .points = P,
                       .x = x, .series = S, .names = names, .y = y, .dashed = dashed,
                       .y_max = accuracy ? 1 : 0};
    mn_status st = mn_plot_lines_svg(w->plot_path, &p);
    free(y);
    return st ? cli_lib_fail(st, "writing --plot failed") : 0;
}

static void print_table(const sweep_opts *w, const train_opts *base, const sweep_run *runs) {
    char a[32], b[32];
    printf("mnemo sweep: %s, %d steps per run (batch %d, %s, lr %g), seed %llu\n",
           what(base), base->tc.steps, base->tc.batch_size, base->opt_name,
           (double)base->tc.lr, (unsigned long long)base->seed);
    printf("  %-12s %7s %8s %10s %10s %8s %9s %9s\n", "model", "length", "params", "test loss",
           "baseline", "ratio", "accuracy", "time");
    for (int m = 0; m < w->nmodels; m++)
        for (int i = 0; i < w->nlengths; i++) {
            const sweep_run *r = &runs[m * w->nlengths + i];
            if (!r->done) continue;
            if (r->rc) {
                printf("  %-12s %7d   failed: %s\n", w->models[m], w->lengths[i], r->error);
                continue;
            }
            char acc[16] = "-";
            if (!isnan(r->accuracy)) snprintf(acc, sizeof acc, "%.1f%%", 100 * r->accuracy);
            printf("  %-12s %7d %8s %10.4g %10.4g %8.3g %9s %9s\n", w->models[m], w->lengths[i],
                   fmt_si(a, sizeof a, (double)r->params), r->test_loss, r->baseline,
                   r->baseline > 0 ? r->test_loss / r->baseline : NAN, acc,
                   fmt_duration(b, sizeof b, r->seconds));
        }
}

static void print_json(const sweep_opts *w, const train_opts *base, const sweep_run *runs,
                       double seconds, int rc) {
    json_obj j;
    if (rc) json_failure_begin(&j, "sweep", rc);
    else {
        json_begin(&j, stdout);
        json_str(&j, "command", "sweep");
    }
    json_str(&j, base->task_name ? "task" : "data", base->task_name ? base->task_name
                                                                     : base->data_spec);
    json_str_array(&j, "models", w->models, w->nmodels);
    double lengths[MAX_LENGTHS];
    for (int i = 0; i < w->nlengths; i++) lengths[i] = w->lengths[i];
    json_num_array(&j, "lengths", lengths, w->nlengths);
    json_int(&j, "steps", base->tc.steps);
    json_int(&j, "batch", base->tc.batch_size);
    json_str(&j, "optimizer", base->opt_name);
    json_num(&j, "lr", base->tc.lr);
    json_array_open(&j, "runs");
    int k = 0;
    for (int m = 0; m < w->nmodels; m++)
        for (int i = 0; i < w->nlengths; i++) {
            const sweep_run *r = &runs[m * w->nlengths + i];
            if (!r->done) continue;
            json_obj e = json_array_item(&j, k++);
            json_str(&e, "model", w->models[m]);
            json_int(&e, "length", w->lengths[i]);
            if (r->rc) {
                json_str(&e, "error", r->error);
                json_int(&e, "exit_code", r->rc);
            } else {
                json_int(&e, "params", r->params);
                json_num(&e, "test_loss", r->test_loss);
                json_num(&e, "baseline_loss", r->baseline);
                json_num(&e, "loss_ratio", r->baseline > 0 ? r->test_loss / r->baseline : NAN);
                if (!isnan(r->accuracy)) json_num(&e, "test_accuracy", r->accuracy);
                json_num(&e, "tokens_per_s", r->tokens_per_s);
            }
            json_num(&e, "seconds", r->seconds);
            json_close(&e);
        }
    json_array_close(&j);
    if (w->plot_path && !rc) json_str(&j, "plot", w->plot_path);
    json_num(&j, "seconds", seconds);
    json_int(&j, "threads", mn_get_threads());
    json_u64(&j, "seed", base->seed);
    json_end(&j);
}

int cmd_sweep(int argc, char **argv) {
    train_opts base;
    train_opts_init(&base);
    sweep_opts w;
    memset(&w, 0, sizeof w);
    cli_opt opts[TRAIN_OPTS_MAX + 4];
    int n = train_opts_table(&base, opts, 0), kept = 0;
    for (int i = 0; i < n; i++) {   /* train's options, less those the sweep sets */
        int drop = 0;
        for (int k = 0; not_swept[k]; k++) drop |= !strcmp(opts[i].name, not_swept[k]);
        if (!drop) opts[kept++] = opts[i];
    }
    const cli_opt own[] = {
        {"--models", OPT_STR, &w.models_text, "M1,M2", "models to compare, each as --model "
         "takes it", "required", "rnn,lstm,transformer", 0, 0, 0, 0, 0, 1, 0},
        {"--lengths", OPT_STR, &w.lengths_text, "L1,L2", "sequence lengths, increasing",
         "required", "100,200,400", 0, 0, 0, 0, 0, 1, 0},
        {"--plot", OPT_STR, &w.plot_path, "FILE.svg", "plot the test metric against length",
         "", "sweep.svg", 0, 0, 0, 0, 0, 0, 0},
        {"--json", OPT_FLAG, &w.json, NULL, "end stdout with one JSON object of every run", NULL,
         NULL, 0, 0, 0, 0, 0, 0, 0},
    };
    memcpy(opts + kept, own, sizeof own);
    n = kept + (int)(sizeof own / sizeof own[0]);
    base.table = opts;
    base.ntable = n;
    if (cli_wants_help(argc, argv)) {
        usage(stdout, opts, n);
        return CLI_EXIT_OK;
    }
    int rc = cli_parse("sweep", argc, argv, opts, n);
    if (rc || (rc = parse_lists(&w)) || (rc = check_family_options(&base, &w))) return rc;
    if (cli_find(opts, n, "--length")->given)
        return cli_fail("a sweep trains at every length of --lengths; drop --length");
    if (w.plot_path && (rc = cli_check_writable("--plot", w.plot_path))) return rc;
    /* Every model's options are checked before the first run trains anything. */
    cli_opt tab[TRAIN_OPTS_MAX + 4];
    train_opts o;
    for (int m = 0; m < w.nmodels; m++)
        if ((rc = run_opts(&base, w.models[m], w.lengths[0], tab, &o))) return rc;
    /* the summary's optimizer and learning rate, as the runs use them */
    if ((rc = run_opts(&base, w.models[0], w.lengths[0], tab, &o))) return rc;
    base.opt_name = o.opt_name;
    cli_json_arm(w.json);
    cli_signals_install();

    const int total = w.nmodels * w.nlengths;
    sweep_run *runs = calloc((size_t)total, sizeof *runs);
    if (!runs) return cli_fail_code(CLI_EXIT_RUNTIME, "out of memory for the sweep");
    double t0 = cli_now();
    int first_rc = 0, accuracy = -1;
    for (int k = 0; k < total && !cli_stop_signal(); k++) {
        int m = k / w.nlengths, i = k % w.nlengths;
        fprintf(stderr, "sweep %d/%d: %s at length %d\n", k + 1, total, w.models[m],
                w.lengths[i]);
        sweep_run *r = &runs[k];
        if ((r->rc = run_opts(&base, w.models[m], w.lengths[i], tab, &o))) {
            r->done = 1;
            snprintf(r->error, sizeof r->error, "%s", cli_last_error_line());
        } else {
            one_run(&o, r);
        }
        if (r->rc && !first_rc) first_rc = r->rc;
        if (!r->rc && r->done && accuracy < 0) accuracy = !isnan(r->accuracy);
    }
    print_table(&w, &base, runs);
    int stop = cli_stop_signal();
    if (stop) {
        printf("  stopped by %s: the runs above are the ones that finished\n",
               cli_signal_name(stop));
        if (!first_rc)
            first_rc = cli_fail_code(cli_signal_exit_code(stop), "stopped by %s; the table "
                                     "holds the runs that finished", cli_signal_name(stop));
    }
    if (w.plot_path && accuracy >= 0) {
        rc = write_plot(&w, &base, runs, accuracy);
        if (!rc) printf("  plot        %s\n", w.plot_path);
        if (rc && !first_rc) first_rc = rc;
    }
    fflush(stdout);
    if (w.json) print_json(&w, &base, runs, cli_now() - t0, first_rc);
    free(runs);
    return first_rc;
}
