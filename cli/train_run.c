/* Training options, their checks and the training session shared by `mnemo train`, `diagnose`
 * and `sweep`; the loop itself is train_loop.c. */
#include "train_run.h"
#include "ranks.h"
#include "signals.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const optimizer_names[] = {"adam", "adamw", "sgd", NULL};
static const char *const schedule_names[] = {"constant", "cosine", NULL};
static const char *const init_names[] = {"uniform", "orthogonal", "identity", NULL};

void train_opts_init(train_opts *o) {
    memset(o, 0, sizeof *o);
    mn_train_config_init(&o->tc);
    mn_model_config_init(&o->mc);
    /* The CLI contract fixes these two defaults; everything else is the library's. */
    o->mc.hidden_size = 128;
    o->mc.num_layers = 0;   /* 1 unless given: 0 tells train_opts_check it was not */
    o->opt_name = optimizer_names[o->tc.optimizer <= MN_OPT_SGD ? o->tc.optimizer : 0];
    o->sched_name = schedule_names[o->tc.schedule <= MN_SCHED_COSINE ? o->tc.schedule : 0];
    o->init_name = init_names[o->mc.recurrent_init <= MN_INIT_IDENTITY ? o->mc.recurrent_init : 0];
    o->seed = o->tc.seed;
    family_opts_init(&o->fam);
    snprintf(o->threads_def, sizeof o->threads_def, "all cores, %d here", mn_get_threads());
}

static const char *const norm_names[] = {"none", "pre", "post", NULL};
static const char *const norm_kind_names[] = {"layernorm", "rmsnorm", NULL};

int train_opts_table(train_opts *o, cli_opt *opts, int model_required) {
    o->model_required = model_required;
    const cli_opt t[] = {
        {"--task", OPT_STR, &o->task_name, "T", "task to learn", "required, or --data", "adding",
         0, 0, 0, 0, 0, 0, 0},
        {"--length", OPT_INT, &o->length, "N", "sequence length T: how far back the answer lies "
         "(text data: the window of bytes, of tokens with --tokenizer)", "required with --task or --data text:", "100", 1,
         CLI_MAX_LENGTH, 0, 0, 0, 0, 0},
        {"--data", OPT_STR, &o->data_spec, "KIND:PATH",
         "train on files instead of --task: npy:X.npy,Y.npy[,LENGTHS.npy], text:FILE[,FILE...], "
         "csv:FILE, fasta:FILE[,FILE...] or idx:IMAGES,LABELS",
         "", "text:corpus.txt", 0, 0, 0, 0, 0, 0, 0},
        {"--valid-data", OPT_STR, &o->valid_data, "KIND:PATH",
         "evaluate on these files (the same kind as --data) instead of a held-out fraction", "",
         "text:valid.txt", 0, 0, 0, 0, 0, 0, 0},
        {"--valid-fraction", OPT_FLOAT, &o->valid_fraction, "F",
         "share of --data held out for evaluation (npy: seeded sequences; text: the last bytes)",
         "0.1", "0.2", 0, 0, 0, 0.99f, 0, 0, 0},
        {"--columns", OPT_STR, &o->columns, "A,B",
         "csv data: the columns to forecast, by header name or 1-based index",
         "every numeric column", "2,3", 0, 0, 0, 0, 0, 0, 0},
        {"--horizon", OPT_INT, &o->horizon, "K",
         "csv data: forecast K steps after each window", "1", "5", 1, CLI_MAX_LENGTH, 0, 0, 0,
         0, 0},
        {"--labels", OPT_STR, &o->labels, "FILE",
         "fasta data: one label per record, in record order (the data's records, then the "
         "validation data's), one per line: classify the records instead of modelling them",
         "", "labels.txt", 0, 0, 0, 0, 0, 0, 0},
        {"--permute", OPT_FLAG, &o->permute, NULL,
         "idx data: read the pixels in one fixed permutation drawn from --seed (psMNIST)", NULL,
         NULL, 0, 0, 0, 0, 0, 0, 0},
        {"--tokenizer", OPT_STR, &o->tokenizer, "FILE",
         "text data: encode it with this BPE tokenizer.json (mnemo tokenize train); --length "
         "counts tokens", "bytes", "tok.json", 0, 0, 0, 0, 0, 0, 0},
        {"--model", OPT_STR, &o->model_name, "M",
         "recurrent cell (rnn, rnn-relu, lstm, gru, gated) or transformer, tcn, s4d, mamba",
         model_required ? "required, or --blocks" : NULL, "lstm", 0, 0, 0, 0, 0, 0, 0},
        {"--blocks", OPT_STR, &o->blocks_spec, "SPEC",
         "a mixed stack instead of --model/--layers: blocks KIND[:WIDTH][:OPTION...] joined "
         "by ',', options residual, bidirectional, pre, post, layernorm, rmsnorm, dropout=P, "
         "nobias, proj=P",
         NULL, "lstm:64,lstm:64:residual", 0, 0, 0, 0, 0, 0, 0},
        {"--residual", OPT_FLAG, &o->residual, NULL,
         "identity skip around every block but the first: y = x + f(x)", NULL, NULL, 0, 0, 0, 0,
         0, 0, 0},
        {"--norm", OPT_STR, &o->norm_name, "P",
         "normalize blocks: pre (f(N(x)), every block but the first), post (N(x + f(x)), "
         "every block) or none", NULL, "pre", 0, 0,
         0, 0, 0, 0, 0},
        {"--norm-kind", OPT_STR, &o->norm_kind_name, "K", "layernorm or rmsnorm", NULL,
         "rmsnorm", 0, 0, 0, 0, 0, 0, 0},
        {"--dropout", OPT_FLOAT, &o->dropout, "P",
         "drop each block's output with probability P while training (tcn: each convolution's "
         "ReLU output, inside the block)", NULL, "0.1", 0, 0, 0,
         0.999f, 0, 0, 0},
        {"--hidden", OPT_INT, &o->mc.hidden_size, "H",
         "hidden units per layer and direction (d_model; a TCN's channels)",
         NULL, "128", 1, CLI_MAX_HIDDEN, 0, 0, 0, 0, 0},
        {"--layers", OPT_INT, &o->mc.num_layers, "L", "stacked layers (of a family: its layers)", "1", "2", 1,
         CLI_MAX_LAYERS, 0, 0, 0, 0, 0},
        {"--bidirectional", OPT_FLAG, &o->bidir, NULL, "run each layer in both directions", NULL,
         NULL, 0, 0, 0, 0, 0, 0, 0},
        {"--proj-size", OPT_INT, &o->proj, "P",
         "lstm: project each layer's h to P < H features, h = W_hr (o * tanh c), as "
         "nn.LSTM(proj_size=P)", NULL, "32", 1, CLI_MAX_HIDDEN, 0, 0, 0, 0, 0},
        {"--no-bias", OPT_FLAG, &o->no_bias, NULL,
         "recurrent layers without biases, as PyTorch's bias=False", NULL, NULL, 0, 0, 0, 0, 0,
         0, 0},
        {"--batch", OPT_INT, &o->tc.batch_size, "B", "sequences per training step", NULL, "32",
         1, CLI_MAX_BATCH, 0, 0, 0, 0, 0},
        {"--steps", OPT_INT, &o->tc.steps, "S", "optimizer steps (one batch each)", NULL, "2000",
         1, CLI_MAX_STEPS, 0, 0, 0, 0, 0},
        {"--lr", OPT_FLOAT, &o->tc.lr, "X", "learning rate", NULL, "1e-3", 0, 0, 0, 100, 1, 0, 0},
        {"--optimizer", OPT_STR, &o->opt_name, "NAME", "adam, adamw or sgd", NULL, "adam", 0, 0,
         0, 0, 0, 0, 0},
        {"--ssm-lr", OPT_FLOAT, &o->tc.ssm_lr, "X",
         "learning rate of state-space A and delta (s4d), which take no weight decay",
         "min(lr, 1e-3)", "1e-3", 0, 0, 0, 100, 1, 0, 0},
        {"--weight-decay", OPT_FLOAT, &o->tc.weight_decay, "X",
         "weight decay: adam adds X*w to the gradient (L2, as torch.optim.Adam), adamw "
         "shrinks w by lr*X apart from it (decoupled, as torch.optim.AdamW), sgd adds X*w to "
         "the gradient (L2, as torch.optim.SGD)", "0; 0.01 with adamw, as torch.optim.AdamW",
         "0.01", 0, 0, 0, FLT_MAX, 0, 0, 0},
        {"--momentum", OPT_FLOAT, &o->tc.momentum, "X", "momentum of --optimizer sgd", NULL,
         "0.9", 0, 0, 0, 1, 0, 0, 0},
        {"--schedule", OPT_STR, &o->sched_name, "NAME",
         "learning-rate schedule: constant, or cosine from --lr down to --lr times "
         "--min-lr-ratio at the schedule's last step", NULL, "cosine", 0, 0, 0, 0, 0, 0, 0},
        {"--schedule-steps", OPT_INT, &o->tc.schedule_steps, "N",
         "length of the cosine schedule (a longer run stays at its floor after it; a resumed "
         "run keeps its checkpoint's)", "--steps", "2000", 2, CLI_MAX_STEPS, 0, 0, 0, 0, 0},
        {"--min-lr-ratio", OPT_FLOAT, &o->tc.min_lr_ratio, "R",
         "the cosine schedule's final learning rate as a fraction of --lr (PyTorch's "
         "CosineAnnealingLR ends at 0: give 0)", NULL, "0", 0, 0, 0, 1, 0, 0, 0},
        {"--warmup", OPT_INT, &o->tc.warmup_steps, "N",
         "linear warmup: step k of N uses lr*k/N; at most the schedule's length, and a cosine "
         "needs 2 steps after it", NULL, "100",
         0, CLI_MAX_STEPS, 0, 0, 0, 0, 0},
        {"--clip", OPT_FLOAT, &o->tc.clip_norm, "C", "clip the global gradient norm to C (0: off)",
         NULL, "1", 0, 0, 0, FLT_MAX, 0, 0, 0},
        {"--clip-value", OPT_FLOAT, &o->tc.clip_value, "C", "clamp each gradient to +-C (0: off)",
         NULL, "0.5", 0, 0, 0, FLT_MAX, 0, 0, 0},
        {"--tbptt", OPT_INT, &o->tc.tbptt, "K",
         "truncated BPTT chunk length, below the sequence length (0: full BPTT)", NULL, "50", 0,
         CLI_MAX_LENGTH, 0, 0, 0, 0, 0},
        {"--init", OPT_STR, &o->init_name, "NAME",
         "recurrent weights W_hh: uniform U(+-1/sqrt(H)) as PyTorch, orthogonal, identity",
         NULL, "orthogonal", 0, 0, 0, 0, 0, 0, 0},
        {"--init-gain", OPT_FLOAT, &o->mc.init_gain, "G",
         "gain of --init orthogonal or identity", NULL, "1", 0, 0, 0, FLT_MAX, 1, 0, 0},
        {"--forget-bias", OPT_FLOAT, &o->mc.forget_bias, "F",
         "forget-gate bias of lstm, ln-lstm and gated blocks; giving it turns chrono init off",
         "1 with --no-chrono", "1", 0, 0, -FLT_MAX, FLT_MAX, 0, 0, 0},
        {"--chrono", OPT_FLAG, &o->chrono, NULL,
         "chrono init of the keep-gate biases, T_max = length: the default for every block "
         "with a keep gate (lstm, gru, gated, ln-lstm, ln-gru)", NULL, NULL,
         0, 0, 0, 0, 0, 0, 0},
        {"--no-chrono", OPT_FLAG, &o->no_chrono, NULL,
         "PyTorch's uniform gate biases (LSTM's f: --forget-bias) instead of chrono init", NULL,
         NULL, 0, 0, 0, 0, 0, 0, 0},
        {"--eval-every", OPT_INT, &o->eval_every, "N", "evaluate every N steps and at the end",
         "steps/10", "200", 1, CLI_MAX_STEPS, 0, 0, 0, 0, 0},
        {"--eval-size", OPT_INT, &o->tc.eval_size, "N", "held-out sequences per evaluation",
         NULL, "1000", 1, CLI_MAX_EVAL, 0, 0, 0, 0, 0},
        {"--log-every", OPT_INT, &o->log_every, "N", "progress/metrics line every N steps",
         "about 20 lines", "100", 1, CLI_MAX_STEPS, 0, 0, 0, 0, 0},
        {"--seed", OPT_U64, &o->seed, "S", "seed of the task, the init and the data stream", NULL,
         "1", 0, 0, 0, 0, 0, 0, 0},
        {"--threads", OPT_INT, &o->threads, "N", "threads", o->threads_def, "2", 1,
         CLI_MAX_THREADS, 0, 0, 0, 0, 0},
        {"--max-faults", OPT_INT, &o->tc.max_bad_steps, "K",
         "stop after K steps in a row with a NaN/Inf loss or gradient", NULL, "5", 1, 1000000, 0,
         0, 0, 0, 0},
        {"--metrics", OPT_STR, &o->metrics_path, "FILE",
         "append one JSON line per logged step and evaluation", "", "run.jsonl", 0, 0, 0, 0, 0,
         0, 0},
    };
    _Static_assert(sizeof t / sizeof t[0] + FAMILY_OPTS <= TRAIN_OPTS_MAX,
                   "TRAIN_OPTS_MAX must hold the training options and the families'");
    int n = (int)(sizeof t / sizeof t[0]);
    memcpy(opts, t, sizeof t);
    n += family_opts_table(&o->fam, opts + n);
    o->table = opts;
    o->ntable = n;
    return n;
}

/* The plain stack of --model, --layers, --hidden and its layer options as blocks (for
 * options only blocks carry: --proj-size, --no-bias, --residual, --norm, --dropout). 0, or
 * 2 after printing. */
static int plain_spec(const train_opts *o, char *spec, size_t cap) {
    size_t n = 0;
    char opts[48] = "";
    if (o->proj) snprintf(opts, sizeof opts, ":proj=%d", o->proj);
    if (o->no_bias) snprintf(opts + strlen(opts), sizeof opts - strlen(opts), ":nobias");
    for (int k = 0; k < o->mc.num_layers && n < cap; k++)
        n += (size_t)snprintf(spec + n, cap - n, "%s%s:%d%s%s", k ? "," : "",
                              mn_cell_name(o->cell), o->mc.hidden_size,
                              o->bidir ? ":bidirectional" : "", opts);
    return n < cap ? 0 : cli_fail("the model's block list is too long; use fewer --layers");
}

int train_data_check(train_opts *o) {
    int vf = train_opt_given(o, "--valid-fraction"), vd = train_opt_given(o, "--valid-data");
    if (o->data_spec && o->task_name)
        return cli_fail("--data and --task both name what to learn; give one of them");
    if (!o->data_spec && !vf && !vd &&
        (train_opt_given(o, "--columns") || train_opt_given(o, "--horizon")))
        return cli_fail("%s applies to csv data, and no --data is given; add --data csv:FILE "
                        "or drop it", train_opt_given(o, "--columns") ? "--columns" : "--horizon");
    if (!o->data_spec && (train_opt_given(o, "--labels") || train_opt_given(o, "--permute")))
        return cli_fail("%s applies to %s data, and no --data is given; add --data %s or drop it",
                        o->labels ? "--labels" : "--permute", o->labels ? "fasta" : "idx",
                        o->labels ? "fasta:FILE" : "idx:IMAGES,LABELS");
    if (!o->data_spec && (vf || vd))
        return cli_fail("%s splits the files of --data, and none are given; add --data "
                        "KIND:PATH or drop %s", vf ? "--valid-fraction" : "--valid-data",
                        vf ? "--valid-fraction" : "--valid-data");
    if (vf && vd)
        return cli_fail("--valid-data gives the evaluation files, so nothing is held out of "
                        "--data; drop --valid-fraction");
    if (!o->data_spec && o->tokenizer)
        return cli_fail("--tokenizer encodes text data, and no --data is given; add --data "
                        "text:FILE or drop --tokenizer");
    if (!o->data_spec) {
        if (!o->task_name)
            return cli_fail("give what to learn: --task T --length N (tasks: %s), or --data "
                            "KIND:PATH", mn_task_names());
        if (!train_opt_given(o, "--length"))
            return cli_fail("--task %s needs --length N; for example --length 100", o->task_name);
        return cli_check_task(o->task_name);
    }
    int npy = !strncmp(o->data_spec, "npy:", 4), text = !strncmp(o->data_spec, "text:", 5);
    int csv = !strncmp(o->data_spec, "csv:", 4), fasta = !strncmp(o->data_spec, "fasta:", 6);
    int idx = !strncmp(o->data_spec, "idx:", 4);
    if (o->labels && !fasta)
        return cli_fail("--labels applies to fasta data, and --data is not fasta:; drop --labels");
    if (o->permute && !idx)
        return cli_fail("--permute applies to idx data, and --data is not idx:; drop --permute");
    if (fasta && !o->labels && !train_opt_given(o, "--length"))
        return cli_fail("fasta data needs --length N, the residues of context per training "
                        "window (or --labels FILE to classify whole records); for example "
                        "--length 200");
    if (fasta && o->labels && train_opt_given(o, "--length"))
        return cli_fail("fasta data with --labels classifies whole records (padded to the "
                        "longest); drop --length");
    if (idx && train_opt_given(o, "--length"))
        return cli_fail("idx data reads every pixel of an image (rows x cols steps); drop "
                        "--length");
    const char *csv_only = train_opt_given(o, "--columns") ? "--columns"
                           : train_opt_given(o, "--horizon") ? "--horizon" : NULL;
    if (csv_only && !csv)
        return cli_fail("%s applies to csv data, and --data is not csv:; drop %s", csv_only,
                        csv_only);
    if (o->tokenizer && !text)
        return cli_fail("--tokenizer encodes text data, and --data is not text:; drop "
                        "--tokenizer");
    if (csv && !train_opt_given(o, "--length"))
        return cli_fail("csv data needs --length N, the rows before each forecast; for "
                        "example --length 50");
    if (npy && train_opt_given(o, "--length"))
        return cli_fail("npy data keeps the length of its arrays (X's T); drop --length");
    if (text && !train_opt_given(o, "--length"))
        return cli_fail("text data needs --length N, the bytes of context per training window; "
                        "for example --length 100");
    return 0;
}

int train_task_create(train_opts *o, uint64_t seed, mn_task **out) {
    mn_status st;
    if (o->data_spec) {
        mn_data_options d;
        mn_data_options_init(&d);
        d.length = o->length;
        d.valid_spec = o->valid_data;
        if (train_opt_given(o, "--valid-fraction")) d.valid_fraction = o->valid_fraction;
        d.columns = o->columns;
        d.horizon = o->horizon;
        d.labels = o->labels;
        d.permute = o->permute;
        d.tokenizer = o->tokenizer;
        st = mn_task_from_data(o->data_spec, &d, seed, out);
        if (!st) o->length = mn_task_get_info(*out)->max_steps;
    } else {
        st = mn_task_create(o->task_name, o->length, seed, out);
    }
    return st ? cli_lib_fail(st, NULL) : 0;
}

void train_json_task(json_obj *j, const train_opts *o) {
    if (!o->data_spec) {
        json_str(j, "task", o->task_name);
        return;
    }
    json_str(j, "data", o->data_spec);
    if (o->valid_data) json_str(j, "valid_data", o->valid_data);
    if (o->tokenizer) json_str(j, "tokenizer", o->tokenizer);
}

int train_opts_check(train_opts *o) {
    char list[128];
    mn_optimizer_kind optk;
    int drc = train_data_check(o);
    if (drc) return drc;
    o->layers_given = o->mc.num_layers != 0;
    if (!o->layers_given) o->mc.num_layers = 1;
    if (o->model_required && !o->model_name && !o->blocks_spec)
        return cli_fail("give the model: --model rnn|rnn-relu|lstm|gru, or --blocks SPEC "
                        "(e.g. --blocks lstm:64,lstm:64:residual)");
    if (o->blocks_spec && (o->model_name || o->bidir || o->layers_given))
        return cli_fail("--blocks describes the whole stack; drop --model, --layers and "
                        "--bidirectional (write KIND:WIDTH:bidirectional in the spec)");
    if (o->blocks_spec) {
        mn_model_config probe = o->mc;
        if (mn_blocks_parse(o->blocks_spec, &probe) != MN_OK)
            return cli_fail("%s", mn_last_error());
    }
    o->forget_bias_given = train_opt_given(o, "--forget-bias");
    int norm = o->norm_name ? cli_choice(o->norm_name, norm_names) : 0;
    if (norm < 0)
        return cli_fail("unknown --norm \"%s\"; choose one of %s", o->norm_name,
                        cli_join(list, sizeof list, norm_names));
    int norm_kind = o->norm_kind_name ? cli_choice(o->norm_kind_name, norm_kind_names) : 0;
    if (norm_kind < 0)
        return cli_fail("unknown --norm-kind \"%s\"; choose one of %s", o->norm_kind_name,
                        cli_join(list, sizeof list, norm_kind_names));
    cli_family_kind fk = family_of(o->model_name);
    if (o->norm_kind_name && norm == 0 && (fk == FAMILY_NONE || fk == FAMILY_TCN))
        return cli_fail("--norm-kind chooses the normalization of --norm pre|post; give --norm "
                        "pre or --norm post too");
    o->norm = (mn_norm_place)norm;
    o->norm_kind = (mn_norm_kind)norm_kind;
    if (family_opts_check(&o->fam, o->table, o->ntable, o->model_name)) return CLI_EXIT_USAGE;
    if (o->fam.kind) {
        if (o->bidir)
            return cli_fail("--bidirectional runs a recurrence both ways; %s", o->fam.kind ==
                            FAMILY_TRANSFORMER ? "a Transformer attends both ways unless "
                            "--causal: drop --bidirectional" : "this model is causal: drop "
                            "--bidirectional");
        if (o->residual)
            return cli_fail("--model %s builds residual blocks already; drop --residual",
                            o->model_name);
        if (o->fam.kind == FAMILY_TCN && o->norm_name)
            return cli_fail("a TCN block normalizes nothing (Bai et al. 2018 use none); drop "
                            "--norm");
        if (!o->norm_name && o->fam.kind != FAMILY_TCN) o->norm = MN_NORM_PRE;
    } else if (o->model_name && family_parse_cell(o->model_name, &o->cell)) {
        return CLI_EXIT_USAGE;
    }
    if (train_opt_given(o, "--proj-size") || o->no_bias) {
        const char *opt = train_opt_given(o, "--proj-size") ? "--proj-size" : "--no-bias";
        if (o->blocks_spec)
            return cli_fail("%s shapes the layers of --model; with --blocks write it on each "
                            "block (%s), e.g. lstm:128:%s", opt, o->no_bias && !o->proj ?
                            "nobias" : "proj=P", o->no_bias && !o->proj ? "nobias" : "proj=64");
        if (o->fam.kind || !o->model_name)
            return cli_fail("%s is an option of PyTorch's recurrent modules; --model %s has "
                            "none: drop it", opt, o->model_name ? o->model_name : "(none)");
        if (o->proj && !cli_cell_has_projection(o->cell))
            return cli_fail("--proj-size is an LSTM's (nn.LSTM(proj_size=P)), and --model %s has "
                            "no projection: use --model lstm or drop --proj-size", o->model_name);
        if (o->proj && o->proj >= o->mc.hidden_size)
            return cli_fail("--proj-size %d must be below --hidden %d, as PyTorch requires "
                            "(proj_size < hidden_size)", o->proj, o->mc.hidden_size);
        if (o->no_bias && (o->chrono || o->forget_bias_given))
            return cli_fail("--no-bias builds layers without biases, and %s sets biases; drop "
                            "one of them", o->chrono ? "--chrono" : "--forget-bias");
    }
    if (mn_optimizer_parse(o->opt_name, &optk) != MN_OK)
        return cli_fail("unknown optimizer \"%s\"; choose one of %s", o->opt_name,
                        cli_join(list, sizeof list, optimizer_names));
    if (train_opt_given(o, "--momentum") && optk != MN_OPT_SGD)
        return cli_fail("--momentum is SGD's, and --optimizer %s keeps moving averages of its "
                        "own (betas %g, %g); drop --momentum or use --optimizer sgd",
                        o->opt_name, (double)o->tc.beta1, (double)o->tc.beta2);
    /* torch.optim.AdamW's default: without it AdamW is Adam */
    if (optk == MN_OPT_ADAMW && !train_opt_given(o, "--weight-decay")) o->tc.weight_decay = 0.01f;
    if (o->chrono && o->no_chrono)
        return cli_fail("--chrono and --no-chrono contradict each other; give one of them");
    if (o->chrono && o->forget_bias_given)
        return cli_fail("--chrono draws the forget-gate biases, and --forget-bias %g sets them; "
                        "give one of them", (double)o->mc.forget_bias);
    int sched = cli_choice(o->sched_name, schedule_names);
    if (sched < 0)
        return cli_fail("unknown schedule \"%s\"; choose one of %s", o->sched_name,
                        cli_join(list, sizeof list, schedule_names));
    if (sched != MN_SCHED_COSINE) {
        static const char *const cosine_only[] = {"--min-lr-ratio", "--schedule-steps", NULL};
        for (int i = 0; cosine_only[i]; i++)
            if (train_opt_given(o, cosine_only[i]))
                return cli_fail("%s shapes the cosine schedule, and the schedule is %s; add "
                                "--schedule cosine or drop %s", cosine_only[i], o->sched_name,
                                cosine_only[i]);
        if (o->tc.warmup_steps == 1)
            return cli_fail("a warmup of 1 step starts at the full learning rate, so under the "
                            "constant schedule it changes nothing; give --warmup 2 or more, or "
                            "drop it");
    }
    int init = cli_choice(o->init_name, init_names);
    if (init < 0)
        return cli_fail("unknown init \"%s\"; choose one of %s", o->init_name,
                        cli_join(list, sizeof list, init_names));
    if (train_opt_given(o, "--init-gain") && init == MN_INIT_UNIFORM)
        return cli_fail("--init-gain scales --init orthogonal or identity, and the recurrent "
                        "init is uniform (PyTorch's U(+-1/sqrt(H)), which has no gain); add "
                        "--init orthogonal or --init identity, or drop --init-gain");
    if (o->model_name || o->blocks_spec) {
        mn_model_config probe = o->mc;
        probe.cell = o->cell;
        probe.bidirectional = o->bidir;
        if (o->blocks_spec && mn_blocks_parse(o->blocks_spec, &probe) != MN_OK)
            return cli_fail("%s", mn_last_error());
        char plain[MN_MAX_BLOCKS * 48];
        if (!o->blocks_spec && !o->fam.kind && (o->proj || o->no_bias)) {
            if (plain_spec(o, plain, sizeof plain)) return CLI_EXIT_USAGE;
            if (mn_blocks_parse(plain, &probe) != MN_OK) return cli_fail("%s", mn_last_error());
        }
        char spec[MN_MAX_BLOCKS * 64];
        if (o->fam.kind) {
            if (family_spec(&o->fam, probe.num_layers, probe.hidden_size, 0, o->norm,
                            o->norm_kind, 4096, 0, spec, sizeof spec))
                return CLI_EXIT_USAGE;
            if (mn_blocks_parse(spec, &probe) != MN_OK) return cli_fail("%s", mn_last_error());
        }
        if (train_check_init(o, &probe)) return CLI_EXIT_USAGE;
    }
    if (o->metrics_path && cli_check_writable("--metrics", o->metrics_path)) return CLI_EXIT_USAGE;
    o->tc.optimizer = optk;
    o->tc.schedule = (mn_schedule_kind)sched;
    o->mc.recurrent_init = (mn_recurrent_init)init;
    o->tc.seed = o->seed;
    if (!o->eval_every) o->eval_every = o->tc.steps / 10 > 0 ? o->tc.steps / 10 : 1;
    if (!o->log_every) o->log_every = (o->tc.steps + 19) / 20;
    cli_set_threads(o->threads);
    return 0;
}

int train_cmd_table(train_cmd_opts *c, cli_opt *opts) {
    const cli_opt t[TRAIN_CMD_OPTS] = {
        {"--save", OPT_STR, &c->save_path, "FILE", "save the trained model (safetensors)", "",
         "model.safetensors", 0, 0, 0, 0, 0, 0, 0},
        {"--checkpoint-every", OPT_INT, &c->every, "N",
         "also save the whole training state to --save every N steps (N below --steps)", "",
         "500", 1, CLI_MAX_STEPS, 0, 0, 0, 0, 0},
        {"--resume", OPT_STR, &c->resume_path, "FILE",
         "continue a run from its checkpoint (same options; --steps is the total, a cosine "
         "schedule keeps its length: see --schedule-steps)", "",
         "model.safetensors", 0, 0, 0, 0, 0, 0, 0},
        {"--json", OPT_FLAG, &c->json, NULL, "end stdout with one JSON summary line", NULL, NULL,
         0, 0, 0, 0, 0, 0, 0},
    };
    memcpy(opts, t, sizeof t);
    return TRAIN_CMD_OPTS;
}

int train_cmd_check(const train_opts *o, const train_cmd_opts *c) {
    if (c->save_path && cli_check_writable("--save", c->save_path)) return CLI_EXIT_USAGE;
    if (c->save_path && o->metrics_path && !strcmp(c->save_path, o->metrics_path))
        return cli_fail("--save and --metrics name the same file \"%s\"; give them different "
                        "paths", c->save_path);
    if (c->every && !c->save_path)
        return cli_fail("--checkpoint-every needs --save FILE: the checkpoints are written there");
    if (c->every >= o->tc.steps)
        return cli_fail("--checkpoint-every %d writes no checkpoint before the run's last step "
                        "(%d), where --save writes the model anyway; give N below %d, or drop "
                        "--checkpoint-every", c->every, o->tc.steps, o->tc.steps);
    return 0;
}

/* The task sets input, output and loss; the options set the rest. */
static int configure_model(train_opts *o, const mn_task *task, const mn_task_info *info) {
    mn_model_config user = o->mc, *mc = &o->mc;
    mn_task_configure_model(task, mc);
    mc->cell = o->cell;
    mc->hidden_size = user.hidden_size;
    mc->num_layers = user.num_layers;
    mc->bidirectional = o->bidir;
    mc->recurrent_init = user.recurrent_init;
    mc->init_gain = user.init_gain;
    mc->forget_bias = user.forget_bias;
    /* Chrono init is the default for gated cells: measured on the adding problem it lets
     * an LSTM leave the 1/6 plateau at T=200 within the default 2000 steps, where
     * PyTorch's default biases had not left it after 3000. */
    /* Blocks without a keep gate do not read chrono_tmax (nor record it); an explicit
     * --forget-bias makes the default step aside, since chrono would draw over it. */
    mc->chrono_tmax = o->chrono || (!o->no_chrono && !o->forget_bias_given) ? info->max_steps
                                                                            : user.chrono_tmax;
    if (o->fam.kind == FAMILY_TCN && !o->layers_given) {
        /* as many layers as the task's length needs: the receptive field doubles with each */
        mc->num_layers = family_tcn_layers(o->fam.kernel, info->max_steps);
    }
    if (info->seq2seq && (o->fam.kind != FAMILY_TRANSFORMER || o->blocks_spec))
        return cli_fail("task %s maps a source sequence to a target sequence, which takes an "
                        "encoder-decoder (an encoder over the source, a decoder with "
                        "cross-attention to it); %s: use --model transformer [--layers L "
                        "--hidden D --heads H]", info->name, o->blocks_spec ? "--blocks builds "
                        "one stack" : o->fam.kind ? "this family has none here" : "a recurrent "
                        "model has none here");
    if (o->fam.kind) {
        char spec[MN_MAX_BLOCKS * 64];
        int E = 0;
        if (info->seq2seq ? family_seq2seq_spec(&o->fam, mc->num_layers, mc->hidden_size,
                                                o->norm, o->norm_kind,
                                                info->max_steps > info->max_source_steps
                                                    ? info->max_steps : info->max_source_steps,
                                                o->norm == MN_NORM_PRE, spec, sizeof spec, &E)
                          : family_spec(&o->fam, mc->num_layers, mc->hidden_size,
                                        mc->input_size, o->norm, o->norm_kind, info->max_steps,
                                        o->norm == MN_NORM_PRE, spec, sizeof spec))
            return CLI_EXIT_USAGE;
        if (mn_blocks_parse(spec, mc) != MN_OK) return cli_fail("%s", mn_last_error());
        mc->encoder_blocks = E;
        for (int k = 0; k < mc->num_blocks; k++)
            if (o->dropout > 0 && mc->blocks[k].dropout == 0) mc->blocks[k].dropout = o->dropout;
        /* said once the run is sure to start (train_session_open), not before a refusal */
        int64_t field = mn_model_receptive_field(mc);
        size_t n = 0;
        o->notes[0] = 0;
        if (o->fam.kind == FAMILY_TCN)
            n += (size_t)snprintf(o->notes, sizeof o->notes, "tcn: %d layer%s of kernel %d, "
                                  "dilations 1 to %d: receptive field %lld steps; the task's "
                                  "sequences have %d%s\n", mc->num_layers,
                                  mc->num_layers > 1 ? "s" : "", o->fam.kernel,
                                  1 << (mc->num_layers - 1), (long long)field, info->max_steps,
                                  o->layers_given ? "" : " (--layers chosen to cover them)");
        if (field > 0 && field < info->max_steps && n < sizeof o->notes)
            snprintf(o->notes + n, sizeof o->notes - n, "warning: the output at step t sees "
                     "only steps t-%lld..t, and the task's answer may lie %d steps back: add "
                     "--layers or a larger --kernel\n", (long long)field - 1,
                     info->max_steps - 1);
        return 0;
    }
    /* Blocks: the spec, or the plain stack spelled as blocks when a block option is set;
     * the model-wide options then apply to every block. */
    if (!o->blocks_spec && !o->residual && o->norm == MN_NORM_NONE && o->dropout == 0 &&
        !o->proj && !o->no_bias)
        return 0;
    char spec[MN_MAX_BLOCKS * 48];
    const char *use = o->blocks_spec;
    if (!use) {
        if (plain_spec(o, spec, sizeof spec)) return CLI_EXIT_USAGE;
        use = spec;
    }
    if (mn_blocks_parse(use, mc) != MN_OK) return cli_fail("%s", mn_last_error());
    int residual_set = 0, norm_set = 0, dropout_set = 0;
    for (int k = 0; k < mc->num_blocks; k++) {
        mn_block_config *b = &mc->blocks[k];
        if (o->residual && k > 0 && !b->residual) b->residual = 1, residual_set++;
        /* pre-norm leaves the first block's input, the raw data, as it is: normalizing a
         * few input features (the adding task has 2) would erase what they say */
        if (o->norm != MN_NORM_NONE && b->norm == MN_NORM_NONE && !(o->norm == MN_NORM_PRE && k == 0)) {
            b->norm = o->norm;
            b->norm_kind = o->norm_kind;
            norm_set++;
        }
        if (o->dropout > 0 && b->dropout == 0) b->dropout = o->dropout, dropout_set++;
    }
    if ((o->residual || o->norm == MN_NORM_PRE) && mc->num_blocks < 2)
        return cli_fail("%s every block but the first, and this model has one block; add "
                        "--layers 2 or more, or write :%s in --blocks",
                        o->residual ? "--residual skips around" : "--norm pre normalizes the "
                        "input of", o->residual ? "residual" : "pre");
    /* a model-wide option must reach a block the spec left without its own */
    if ((o->residual && !residual_set) || (o->norm != MN_NORM_NONE && !norm_set) ||
        (o->dropout > 0 && !dropout_set))
        return cli_fail("%s: every block of --blocks \"%s\" it would apply to already sets its "
                        "own; drop %s", o->residual && !residual_set ? "--residual"
                        : o->norm != MN_NORM_NONE && !norm_set ? "--norm" : "--dropout",
                        use, o->residual && !residual_set ? "--residual"
                        : o->norm != MN_NORM_NONE && !norm_set ? "--norm" : "--dropout");
    return 0;
}

/* A training step holds the rows of one chunk (--tbptt steps, or the whole sequence) of a
 * batch; mn_trainer_evaluate runs whole sequences forward in batches of at most
 * min(batch, eval size). The run needs at least the larger of the two. */
static int check_memory(const train_opts *o, const mn_task_info *info) {
    const mn_train_config *tc = &o->tc;
    int T = info->max_steps, k = tc->tbptt > 0 && tc->tbptt < T ? tc->tbptt : T;
    int evalB = tc->batch_size < tc->eval_size ? tc->batch_size : tc->eval_size;
    double step = cli_estimate_bytes(&o->mc, k, tc->batch_size, 1);
    double eval = step < 0 ? -1 : cli_estimate_bytes(&o->mc, T, evalB, 0);
    double need = step < 0 || eval < 0 ? -1 : step > eval ? step : eval;
    return cli_check_memory("training", need,
                            "lower --batch, --eval-size, --hidden, --layers or --length");
}

int train_session_open(train_opts *o, train_session *s) {
    return train_session_resume(o, s, NULL);
}

int train_session_resume(train_opts *o, train_session *s, const char *resume_path) {
    memset(s, 0, sizeof *s);
    int ranks = cli_mpi_size();
    if (ranks > 1 && o->tc.batch_size % ranks)
        return cli_fail("--batch %d does not split evenly over the %d ranks mpirun started; give "
                        "a multiple of %d (--batch is the global batch: each rank trains on "
                        "--batch/%d sequences of it)", o->tc.batch_size, ranks, ranks, ranks);
    int trc = train_task_create(o, o->seed, &s->task);
    if (trc) return trc;
    mn_status st;
    s->info = mn_task_get_info(s->task);
    if (configure_model(o, s->task, s->info)) return CLI_EXIT_USAGE;
    if (train_check_model(o, &o->mc, s->info)) return CLI_EXIT_USAGE;
    if (check_memory(o, s->info)) return CLI_EXIT_USAGE;
    if ((st = mn_model_create(&o->mc, o->seed, &s->model))) return cli_lib_fail(st, NULL);
    if ((st = mn_trainer_create(s->model, s->task, &o->tc, &s->tr))) return cli_lib_fail(st, NULL);
    int rc = cli_mpi_attach(s->tr, &s->comm);
    if (rc) return rc;
    if (resume_path) {
        if ((st = mn_trainer_resume(s->tr, resume_path))) return cli_lib_fail(st, NULL);
        s->done = mn_trainer_steps_done(s->tr);
        /* a finished run: the caller says so and ends; nothing is printed or opened here
         * (a requeued job reruns its command, and its files must stay as they are) */
        if ((s->complete = s->done >= o->tc.steps)) return 0;
    }
    fputs(o->notes, stderr);
    if (o->metrics_path && cli_mpi_rank() == 0 && !(s->metrics = fopen(o->metrics_path, "a")))
        return cli_fail("cannot open --metrics file \"%s\": %s; choose a writable path",
                        o->metrics_path, strerror(errno));
    return 0;
}

void train_session_close(train_session *s) {
    if (s->metrics) fclose(s->metrics);
    if (s->tr) mn_trainer_free(s->tr);
    if (s->model) mn_model_free(s->model);
    if (s->task) mn_task_free(s->task);
    cli_mpi_detach(&s->comm);
    memset(s, 0, sizeof *s);
}
