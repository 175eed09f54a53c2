/* mnemo memory: the bytes a run needs per role (mn_memory_estimate_run), and with a budget
 * the longest length and largest batch that fit and the batch × length trade-off. */
#include "common.h"
#include "families.h"

#include <stdint.h>
#include "progress.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const mode_names[] = {"train", "infer", NULL};

#define BUDGET_FORMS "write bytes (1000000) or a number with a unit (512MiB, 8GiB, 1.5GB; units " \
                     "B, kB, MB, GB, TB, KiB, MiB, GiB, TiB)"

/* What to estimate: the model, and the task that turns a --length into steps (or NULL). */
typedef struct {
    mn_model_config cfg;
    const char *task;
    int train;
    size_t budget;
} plan;

static void usage(FILE *f, cli_opt *opts, int n) {
    fprintf(f,
            "usage: mnemo memory (--model M | --blocks SPEC) (--input-size I | --task T) --batch B "
            "--length N [options]\n"
            "\n"
            "Bytes a training step (or a forward pass) needs, per role: parameters, gradients,\n"
            "optimizer state, stored activations, the batch, and workspace. The figures replay\n"
            "the library's own allocations, so they match the peak mnemo measures. With\n"
            "--budget: the longest --length at this batch and the largest batch at this length\n"
            "that fit, and for several batch sizes the longest length and the tokens per step.\n"
            "Tasks: %s. Models: %s.\n"
            "\n"
            "options:\n",
            mn_task_names(), family_model_list());
    cli_print_options(f, opts, n);
}

/* ------------------------------------------------------------------- budget */

/* "1000000", "512MiB", "8GiB", "1.5GB", "64 kB" -> bytes; -1 when it is not a size. */
static double parse_size(const char *s) {
    static const struct { const char *unit; double scale; } units[] = {
        {"", 1}, {"b", 1}, {"kb", 1e3}, {"mb", 1e6}, {"gb", 1e9}, {"tb", 1e12},
        {"kib", 1024.0}, {"mib", 1048576.0}, {"gib", 1073741824.0}, {"tib", 1099511627776.0},
    };
    size_t digits = strspn(s, "0123456789.");
    if (digits == 0 || digits > 40) return -1;
    char num[48];
    memcpy(num, s, digits);
    num[digits] = 0;
    char *end;
    double x = strtod(num, &end);
    if (*end || !isfinite(x)) return -1;
    const char *u = s + digits;
    while (*u == ' ') u++;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        size_t n = strlen(units[i].unit);
        if (strlen(u) != n) continue;
        int same = 1;
        for (size_t k = 0; k < n; k++)
            same &= (u[k] | 0x20) == units[i].unit[k];
        if (same) return floor(x * units[i].scale);
    }
    return -1;
}

static int parse_budget(const char *text, size_t *out) {
    double b = parse_size(text);
    if (b < 0) return cli_fail("--budget \"%s\" is not a size; %s", text, BUDGET_FORMS);
    if (b < 1) return cli_fail("--budget must be at least 1 byte, got \"%s\"; %s", text,
                               BUDGET_FORMS);
    if (b > 9.2e18 || b >= (double)SIZE_MAX)
        return cli_fail("--budget \"%s\" is larger than this machine can address; use at most "
                        "8EiB", text);
    *out = (size_t)b;
    return 0;
}

/* ------------------------------------------------------------------ lengths */

/* The steps of a run at --length len: the task's padded length, or len itself; 0 when the
 * task rejects the length. */
static int steps_of(const plan *p, int len) {
    if (!p->task) return len;
    mn_task *t;
    if (mn_task_create(p->task, len, 1, &t) != MN_OK) return 0;
    int steps = mn_task_get_info(t)->max_steps;
    mn_task_free(t);
    return steps;
}

static int fits(const plan *p, int len, int B) {
    mn_memory_estimate e;
    int steps = steps_of(p, len);
    return steps > 0 && mn_memory_estimate_run(&p->cfg, steps, B, p->train, &e) == MN_OK &&
           e.total <= p->budget;
}

/* The longest --length that fits at batch B (0: none). Without a task, the library's
 * search; with one, the same search over the task's lengths, which start where the task
 * accepts them and map to more steps (copy adds 20). */
static int longest(const plan *p, int B) {
    int T = 0;
    if (!p->task)   /* -1: the library refused the search (its reason in mn_last_error) */
        return mn_memory_max_length(&p->cfg, B, p->train, p->budget, CLI_MAX_LENGTH, &T)
                   ? -1 : T;
    int lo = 1;
    while (lo < 64 && !steps_of(p, lo)) lo++;   /* the task's shortest length */
    int hi = CLI_MAX_LENGTH;
    if (fits(p, hi, B)) return hi;
    if (!fits(p, lo, B)) return 0;
    while (hi - lo > 1) {   /* lo fits, hi does not */
        int mid = lo + (hi - lo) / 2;
        if (fits(p, mid, B)) lo = mid;
        else hi = mid;
    }
    return lo;
}

/* ------------------------------------------------------------------- output */

static const char *grouped(char *buf, size_t n, unsigned long long v) {
    char raw[32];
    int len = snprintf(raw, sizeof raw, "%llu", v), j = 0;
    for (int i = 0; i < len && (size_t)j + 2 < n; i++) {
        if (i && (len - i) % 3 == 0) buf[j++] = ',';
        buf[j++] = raw[i];
    }
    buf[j] = 0;
    return buf;
}

static void row(const char *role, size_t bytes, const char *note) {
    char h[32], g[40];
    printf("  %-12s %10s %17s  %s\n", role, fmt_bytes(h, sizeof h, (double)bytes),
           grouped(g, sizeof g, bytes), note);
}

static void print_table(const plan *p, const mn_memory_estimate *e, int steps, int B) {
    char note[160], s[32], g[40];
    row("parameters", e->params, "weights and biases, one flat buffer");
    row("gradients", e->grads, p->train ? "same layout as the parameters"
                                        : "same layout (the model holds it for inference too)");
    row("optimizer", e->optimizer, p->train ? "Adam's two moments" : "none for inference");
    snprintf(note, sizeof note, "%s: %s rows (T·B) in every layer",
             p->train ? "stored for backward" : "layer outputs and workspaces (no backward buffers)",
             grouped(g, sizeof g, (unsigned long long)steps * (unsigned long long)B));
    row("activations", e->activations, note);
    row("batch", e->data, p->cfg.vocab_size > 0 ? "tokens, labels, lengths"
                                                : "inputs, targets, lengths");
    mn_model_uses u;
    int recurrent = mn_model_config_uses(&p->cfg, &u) == MN_OK && u.recurrent > 0;
    snprintf(note, sizeof note, "%sstructs, GEMM scratch %s (kept by the process)",
             recurrent ? "packed W_hh, " : "packed weights, ", fmt_bytes(s, sizeof s,
                                                                       (double)e->scratch));
    row("workspace", e->workspace, note);
    row("total", e->total, "peak of the run");
}

/* Batch sizes around B for the trade-off table: B/8 .. 8B. */
static int tradeoff_batches(int B, int *out) {
    int n = 0;
    for (int k = -3; k <= 3; k++) {
        long long b = k < 0 ? B >> -k : (long long)B << k;
        if (b < 1 || b > CLI_MAX_BATCH || (n && out[n - 1] == b)) continue;
        out[n++] = (int)b;
    }
    return n;
}

static void json_ints(json_obj *j, const char *key, const int *v, int n) {
    /* an array of integers in the one-line object (json_obj has no array writer) */
    fprintf(j->f, "%s\"%s\":[", j->n++ ? "," : "", key);
    for (int i = 0; i < n; i++) fprintf(j->f, "%s%d", i ? "," : "", v[i]);
    fputc(']', j->f);
}

/* ------------------------------------------------------------------ command */

typedef struct {
    const char *model, *mode, *budget, *task, *blocks;
    int length, batch, input, output, hidden, layers, bidir, threads, json;
    uint64_t seed;
    cli_family fam;   /* --model transformer|tcn|s4d|mamba and its options */
    int layers_given;
} options;

/* What the budget allows: the longest length, the largest batch, the trade-off rows. */
typedef struct {
    int max_length, max_batch, n, batch[8], length[8];
} fit;

/* The model config from the options, with the task's input and output when one is given;
 * *steps gets the steps of a sequence at --length. */
static int make_plan(plan *p, const options *o, mn_cell_kind cell, int *steps) {
    mn_model_config_init(&p->cfg);
    p->cfg.cell = cell;
    p->cfg.hidden_size = o->hidden;
    p->cfg.num_layers = o->layers;
    p->cfg.bidirectional = o->bidir;
    if (o->blocks && mn_blocks_parse(o->blocks, &p->cfg)) return cli_fail("%s", mn_last_error());
    int seq2seq = 0, source = 0;
    if (!p->task) {   /* like mnemo bench: a head of `output` values at every step */
        p->cfg.input_size = o->input;
        p->cfg.output_size = o->output;
        p->cfg.output = MN_OUTPUT_EVERY;
        *steps = o->length;
    } else {
        mn_task *t;
        mn_status st = mn_task_create(p->task, o->length, 1, &t);
        if (st) return cli_lib_fail(st, NULL);
        mn_task_configure_model(t, &p->cfg);
        const mn_task_info *info = mn_task_get_info(t);
        *steps = info->max_steps;
        seq2seq = info->seq2seq;
        source = info->max_source_steps;
        mn_task_free(t);
    }
    if (seq2seq && !o->fam.kind)
        return cli_fail("--task %s maps a source sequence to a target sequence, which takes an "
                        "encoder-decoder: use --model transformer", p->task);
    if (!o->fam.kind) return 0;
    int layers = o->layers;
    if (o->fam.kind == FAMILY_TCN && !o->layers_given) {
        /* as train does: as many layers as the sequences need */
        layers = family_tcn_layers(o->fam.kernel, *steps);
    }
    /* the blocks mnemo train builds for the family (its default norms) */
    mn_norm_place place = o->fam.kind == FAMILY_TCN ? MN_NORM_NONE : MN_NORM_PRE;
    char spec[MN_MAX_BLOCKS * 64];
    int E = 0;
    if (seq2seq ? family_seq2seq_spec(&o->fam, layers, o->hidden, place, MN_NORM_LAYERNORM,
                                      *steps > source ? *steps : source, place == MN_NORM_PRE,
                                      spec, sizeof spec, &E)
                : family_spec(&o->fam, layers, o->hidden, p->cfg.input_size, place,
                              MN_NORM_LAYERNORM, *steps, place == MN_NORM_PRE, spec, sizeof spec))
        return CLI_EXIT_USAGE;
    if (mn_blocks_parse(spec, &p->cfg)) return cli_fail("%s", mn_last_error());
    p->cfg.encoder_blocks = E;
    return 0;
}

/* Checks the options cli_parse cannot: choices, exclusive options, the budget. */
static int check_options(cli_opt *opts, int nopts, options *o, plan *p,
                         mn_cell_kind *cell) {
    char list[64];
    if (!o->model == !o->blocks)
        return cli_fail("give the model as --model M or --blocks SPEC, %s",
                        o->blocks ? "not both" : "neither was given");
    if (o->blocks && (cli_find(opts, nopts, "--layers")->given || o->bidir))
        return cli_fail("--blocks describes the whole stack; drop --layers and --bidirectional");
    if (family_opts_check(&o->fam, opts, nopts, o->model)) return CLI_EXIT_USAGE;
    if (o->fam.kind && o->bidir)
        return cli_fail("--bidirectional runs a recurrence both ways; --model %s has none: drop it",
                        o->model);
    if (o->model && !o->fam.kind && family_parse_cell(o->model, cell)) return CLI_EXIT_USAGE;
    int mode = cli_choice(o->mode, mode_names);
    if (mode < 0)
        return cli_fail("unknown --mode \"%s\"; choose one of %s", o->mode,
                        cli_join(list, sizeof list, mode_names));
    p->train = mode == 0;
    if (!o->task == !cli_find(opts, nopts, "--input-size")->given)
        return cli_fail("give either --input-size I (dense input) or --task T (its input and "
                        "output sizes), %s", o->task ? "not both" : "neither was given");
    if (o->task && cli_find(opts, nopts, "--output-size")->given)
        return cli_fail("--output-size comes from the task with --task %s; drop --output-size",
                        o->task);
    if (o->task && cli_check_task(o->task)) return CLI_EXIT_USAGE;
    if (o->budget && parse_budget(o->budget, &p->budget)) return CLI_EXIT_USAGE;
    return 0;
}

static void print_header(const options *o, const plan *p, int steps) {
    char desc[MN_MAX_BLOCKS * 48];
    printf("mnemo memory: %s, ", cli_model_desc(&p->cfg, desc, sizeof desc));
    if (o->task) printf("task %s (%d steps at --length %d)", o->task, steps, o->length);
    else printf("input %d, output %d per step", o->input, o->output);
    printf("; %s, length %d, batch %d\n", p->train ? "training step with Adam" : "inference",
           o->length, o->batch);
}

/* A refused search is an error, never "none fits". */
static mn_status search_budget(const plan *p, const options *o, int steps, fit *f) {
    mn_status st;
    if ((f->max_length = longest(p, o->batch)) < 0) return MN_E_ARG;
    if ((st = mn_memory_max_batch(&p->cfg, steps, p->train, p->budget, CLI_MAX_BATCH,
                                  &f->max_batch)))
        return st;
    f->n = tradeoff_batches(o->batch, f->batch);
    for (int i = 0; i < f->n; i++)
        if ((f->length[i] = longest(p, f->batch[i])) < 0) return MN_E_ARG;
    return MN_OK;
}

static void print_budget(const plan *p, const options *o, const fit *f) {
    char h[32], g[40], a[40], b[40];
    printf("budget %s (%s bytes):\n", fmt_bytes(h, sizeof h, (double)p->budget),
           grouped(g, sizeof g, p->budget));
    if (o->fam.kind == FAMILY_TCN && !o->layers_given)
        printf("  (every line for the %d TCN layers that --length %d takes; train gives longer "
               "sequences more layers, so fix them with --layers to compare lengths)\n",
               p->cfg.num_blocks, o->length);
    if (f->max_length)
        printf("  longest length at batch %d: %d%s\n", o->batch, f->max_length,
               f->max_length == CLI_MAX_LENGTH ? " (the largest --length mnemo takes)" : "");
    else
        printf("  longest length at batch %d: none fits, not even the shortest\n", o->batch);
    if (f->max_batch)
        printf("  largest batch at length %d: %d%s\n", o->length, f->max_batch,
               f->max_batch == CLI_MAX_BATCH ? " (the largest --batch mnemo takes)" : "");
    else
        printf("  largest batch at length %d: none fits, not even 1\n", o->length);
    printf("  batch x length trade-off:\n  %8s %14s %16s\n", "batch", "longest length",
           "tokens B·T");
    for (int i = 0; i < f->n; i++) {
        int T = f->length[i];
        printf("  %8d %14s %16s\n", f->batch[i], T ? grouped(a, sizeof a, T) : "-",
               T ? grouped(b, sizeof b, (unsigned long long)T * f->batch[i]) : "-");
    }
}

static void print_json(const options *o, const plan *p, int steps,
                       const mn_memory_estimate *e, const fit *f) {
    json_obj j;
    json_begin(&j, stdout);
    json_str(&j, "command", "memory");
    json_model(&j, &p->cfg);
    if (o->task) json_str(&j, "task", o->task);
    else json_int(&j, "input_size", o->input);
    json_str(&j, "mode", p->train ? "train" : "infer");
    json_int(&j, "length", o->length);
    json_int(&j, "steps", steps);
    json_int(&j, "batch", o->batch);
    json_u64(&j, "params_bytes", e->params);
    json_u64(&j, "grads_bytes", e->grads);
    json_u64(&j, "optimizer_bytes", e->optimizer);
    json_u64(&j, "activation_bytes", e->activations);
    json_u64(&j, "data_bytes", e->data);
    json_u64(&j, "workspace_bytes", e->workspace);
    json_u64(&j, "scratch_bytes", e->scratch);
    json_u64(&j, "total_bytes", e->total);
    json_int(&j, "threads", mn_get_threads());
    if (o->budget) {
        json_u64(&j, "budget_bytes", p->budget);
        json_int(&j, "max_length", f->max_length);
        json_int(&j, "max_batch", f->max_batch);
        json_ints(&j, "tradeoff_batch", f->batch, f->n);
        json_ints(&j, "tradeoff_length", f->length, f->n);
    }
    json_end(&j);
}

int cmd_memory(int argc, char **argv) {
    options o = {.mode = "train", .output = 1, .hidden = 128, .layers = 1, .seed = 1};
    family_opts_init(&o.fam);
    char threads_def[48];
    snprintf(threads_def, sizeof threads_def, "all cores, %d here", mn_get_threads());
    cli_opt opts[] = {
        {"--model", OPT_STR, &o.model, "M",
         "recurrent cell (rnn, rnn-relu, lstm, gru, gated) or transformer, tcn, s4d, mamba",
         "required, or --blocks", "lstm", 0, 0, 0, 0, 0, 0, 0},
        {"--blocks", OPT_STR, &o.blocks, "SPEC", "a block stack, as mnemo train --blocks", "",
         "lstm:64,ff:128:residual:pre", 0, 0, 0, 0, 0, 0, 0},
        {"--task", OPT_STR, &o.task, "T", "take input and output sizes from this task", "",
         "adding", 0, 0, 0, 0, 0, 0, 0},
        {"--input-size", OPT_INT, &o.input, "I", "input features per step (without --task)", "",
         "32", 1, CLI_MAX_INPUT, 0, 0, 0, 0, 0},
        {"--output-size", OPT_INT, &o.output, "O", "outputs per step (without --task)", NULL,
         "1", 1, CLI_MAX_INPUT, 0, 0, 0, 0, 0},
        {"--length", OPT_INT, &o.length, "N", "sequence length (a task's --length)", NULL, "200",
         1, CLI_MAX_LENGTH, 0, 0, 0, 1, 0},
        {"--batch", OPT_INT, &o.batch, "B", "sequences per step", NULL, "32", 1, CLI_MAX_BATCH,
         0, 0, 0, 1, 0},
        {"--hidden", OPT_INT, &o.hidden, "H", "hidden units per layer and direction", NULL,
         "128", 1, CLI_MAX_HIDDEN, 0, 0, 0, 0, 0},
        {"--layers", OPT_INT, &o.layers, "L", "stacked layers", NULL, "2", 1, CLI_MAX_LAYERS, 0,
         0, 0, 0, 0},
        {"--bidirectional", OPT_FLAG, &o.bidir, NULL, "run each layer in both directions", NULL,
         NULL, 0, 0, 0, 0, 0, 0, 0},
        {"--mode", OPT_STR, &o.mode, "MODE", "train (forward, backward, Adam) or infer", NULL,
         "infer", 0, 0, 0, 0, 0, 0, 0},
        {"--budget", OPT_STR, &o.budget, "SIZE", "memory to fit: 1000000, 512MiB, 8GiB, 1.5GB",
         "", "8GiB", 0, 0, 0, 0, 0, 0, 0},
        {"--threads", OPT_INT, &o.threads, "N", "threads (each keeps a GEMM scratch block)",
         threads_def, "2", 1, CLI_MAX_THREADS, 0, 0, 0, 0, 0},
        {"--seed", OPT_U64, &o.seed, "S", "accepted for uniformity; the estimate draws nothing",
         NULL, "1", 0, 0, 0, 0, 0, 0, 0},
        {"--json", OPT_FLAG, &o.json, NULL, "end stdout with one JSON summary line", NULL, NULL,
         0, 0, 0, 0, 0, 0, 0},
        FAMILY_OPT_SLOTS,                     /* the families' options */
    };
    const int nopts = (int)(sizeof opts / sizeof opts[0]);
    family_opts_table(&o.fam, opts + nopts - FAMILY_OPTS);
    if (cli_wants_help(argc, argv)) {
        usage(stdout, opts, nopts);
        return CLI_EXIT_OK;
    }
    plan p = {0};
    mn_cell_kind cell = 0;   /* unused with --blocks */
    int steps = 0, rc = cli_parse("memory", argc, argv, opts, nopts);
    if (rc || (rc = check_options(opts, nopts, &o, &p, &cell))) return rc;
    p.task = o.task;
    o.layers_given = cli_find(opts, nopts, "--layers")->given;
    cli_json_arm(o.json);
    cli_set_threads(o.threads);
    if ((rc = make_plan(&p, &o, cell, &steps))) return rc;
    mn_memory_estimate e;
    mn_status st = mn_memory_estimate_run(&p.cfg, steps, o.batch, p.train, &e);
    if (st) return cli_lib_fail(st, NULL);

    fit f = {0};
    print_header(&o, &p, steps);
    print_table(&p, &e, steps, o.batch);
    if (o.budget) {
        if ((st = search_budget(&p, &o, steps, &f))) return cli_lib_fail(st, "--budget");
        print_budget(&p, &o, &f);
    }
    if (o.json) print_json(&o, &p, steps, &e, &f);
    fflush(stdout);
    return CLI_EXIT_OK;
}
