/* mnemo eval: evaluate a saved model on a task's held-out sequences. */
#include "common.h"
#include "progress.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void usage(FILE *f, cli_opt *opts, int n) {
    fprintf(f,
            "usage: mnemo eval --load FILE.safetensors [--task T --length N | --data KIND:PATH]\n"
            "                  [options]\n"
            "\n"
            "Evaluate a model saved by 'mnemo train --save' on a task's held-out sequences and\n"
            "compare its loss with the task's baseline. --task, --length and --seed default to\n"
            "the values the file records, so the same test set as during training is used; a\n"
            "model trained on --data records its files, split and window the same way.\n"
            "Tasks: %s.\n"
            "\n"
            "options:\n",
            mn_task_names());
    cli_print_options(f, opts, n);
    fprintf(f, "\n");
    cli_task_help(f);
}

static void describe(char *buf, size_t n, const mn_model_config *c) {
    int w;
    if (c->vocab_size > 0)
        w = snprintf(buf, n, "tokens of a vocabulary of %d", c->vocab_size);
    else
        w = snprintf(buf, n, "input width %d", c->input_size);
    if (w > 0 && (size_t)w < n)
        snprintf(buf + w, n - (size_t)w, ", output %d, %s %s", c->output_size,
                 c->loss == MN_LOSS_CE ? "cross-entropy" : "MSE",
                 c->output == MN_OUTPUT_EVERY ? "at every step" : "at the last step");
}


int cmd_eval(int argc, char **argv) {
    mn_train_config tc;
    mn_train_config_init(&tc);
    const char *load = NULL, *task_name = NULL, *data_spec = NULL, *valid_data = NULL;
    float valid_fraction = -1;
    const char *columns = NULL, *labels = NULL, *tokenizer = NULL;
    int horizon = 0;
    char data_show[512];
    /* The batch mn_trainer_evaluate uses during training, for the same speed. */
    int length = 0, eval_size = tc.eval_size, threads = 0, json = 0;
    int batch = tc.batch_size > 128 ? tc.batch_size : 128;
    uint64_t seed = tc.seed;
    char threads_def[48], seed_def[64];
    snprintf(threads_def, sizeof threads_def, "all cores, %d here", mn_get_threads());
    snprintf(seed_def, sizeof seed_def, "the file's seed, else %llu", (unsigned long long)seed);

    cli_opt opts[] = {
        {"--load", OPT_STR, &load, "FILE", "model saved by mnemo train --save", NULL,
         "model.safetensors", 0, 0, 0, 0, 0, 1, 0},
        {"--task", OPT_STR, &task_name, "T", "task to evaluate on", "the file's task", "adding",
         0, 0, 0, 0, 0, 0, 0},
        {"--length", OPT_INT, &length, "N", "sequence length T", "the file's length", "100", 1,
         CLI_MAX_LENGTH, 0, 0, 0, 0, 0},
        {"--data", OPT_STR, &data_spec, "KIND:PATH", "evaluate on files instead of a task "
         "(npy:X.npy,Y.npy[,LENGTHS.npy], text:FILE[,FILE...], csv:FILE, fasta:FILE[,FILE...] "
         "or idx:IMAGES,LABELS)", "the file's data",
         "text:corpus.txt", 0, 0, 0, 0, 0, 0, 0},
        {"--valid-data", OPT_STR, &valid_data, "KIND:PATH",
         "the evaluation files of --data (instead of its held-out part)", "the file's",
         "text:valid.txt", 0, 0, 0, 0, 0, 0, 0},
        {"--valid-fraction", OPT_FLOAT, &valid_fraction, "F",
         "share of --data held out (the evaluation set)", "the file's, else 0.1", "0.2", 0, 0,
         0, 0.99f, 0, 0, 0},
        {"--columns", OPT_STR, &columns, "A,B", "csv data: the columns forecast",
         "the file's", "2,3", 0, 0, 0, 0, 0, 0, 0},
        {"--horizon", OPT_INT, &horizon, "K", "csv data: steps ahead", "the file's", "5", 1,
         CLI_MAX_LENGTH, 0, 0, 0, 0, 0},
        {"--labels", OPT_STR, &labels, "FILE", "fasta data: one label per record",
         "the file's", "labels.txt", 0, 0, 0, 0, 0, 0, 0},
        {"--tokenizer", OPT_STR, &tokenizer, "FILE", "text data: the BPE tokenizer.json the "
         "model was trained with (checked against the hash the file records)", "the file's",
         "tok.json", 0, 0, 0, 0, 0, 0, 0},
        {"--eval-size", OPT_INT, &eval_size, "N", "held-out sequences", NULL, "1000", 1,
         CLI_MAX_EVAL, 0, 0, 0, 0, 0},
        {"--batch", OPT_INT, &batch, "B", "sequences per forward pass", NULL, "32", 1,
         CLI_MAX_BATCH, 0, 0, 0, 0, 0},
        {"--seed", OPT_U64, &seed, "S", "seed of the task's held-out stream", seed_def, "1", 0,
         0, 0, 0, 0, 0, 0},
        {"--threads", OPT_INT, &threads, "N", "threads", threads_def, "2", 1, CLI_MAX_THREADS, 0,
         0, 0, 0, 0},
        {"--json", OPT_FLAG, &json, NULL, "end stdout with one JSON summary line", NULL, NULL, 0,
         0, 0, 0, 0, 0, 0},
    };
    const int nopts = (int)(sizeof opts / sizeof opts[0]);

    if (cli_wants_help(argc, argv)) {
        usage(stdout, opts, nopts);
        return CLI_EXIT_OK;
    }
    int rc = cli_parse("eval", argc, argv, opts, nopts);
    if (rc) return rc;
    if (task_name && data_spec)
        return cli_fail("--data and --task both name what to evaluate on; give one of them");
    if (task_name && cli_check_task(task_name)) return CLI_EXIT_USAGE;
    if (data_spec && !strncmp(data_spec, "npy:", 4) && cli_find(opts, nopts, "--length")->given)
        return cli_fail("npy data keeps the length of its arrays (X's T); drop --length");
    if (valid_data && cli_find(opts, nopts, "--valid-fraction")->given)
        return cli_fail("--valid-data gives the evaluation files, so nothing is held out of "
                        "--data; drop --valid-fraction");

    struct stat sb;
    if (stat(load, &sb) != 0 || access(load, R_OK) != 0)
        return cli_fail("cannot read --load file \"%s\": %s; give the path of a model saved "
                        "with 'mnemo train --save'", load, strerror(errno));
    if (S_ISDIR(sb.st_mode))
        return cli_fail("--load needs a file, got the folder \"%s\"; give the path of a model "
                        "saved with 'mnemo train --save'", load);
    cli_json_arm(json);
    cli_set_threads(threads);

    double t_start = cli_now();
    mn_model *model = NULL;
    mn_task *task = NULL;
    mn_status st = mn_model_load(load, &model);
    if (st) {
        char ctx[512];
        snprintf(ctx, sizeof ctx, "cannot load \"%s\"", load);
        return cli_lib_fail(st, ctx);
    }
    cli_warn_nonfinite_params(model, load);

    /* Defaults from the file's metadata. */
    const char *file_task = mn_model_metadata(model, "task");
    const char *file_data = mn_model_metadata(model, "data");
    if (!task_name && !data_spec && file_data) {
        data_spec = file_data;
        if (!valid_data && !cli_find(opts, nopts, "--valid-fraction")->given) {
            valid_data = mn_model_metadata(model, "data.valid");
            const char *vf = mn_model_metadata(model, "data.valid_fraction");
            char *end;
            if (vf && !valid_data) {
                double x = strtod(vf, &end);
                if (*end || !(x >= 0 && x < 1)) {
                    char nb[96];
                    rc = cli_fail("\"%s\" records the validation fraction \"%s\", not a "
                                  "number in [0, 1); pass --valid-fraction", load,
                                  mn_escape(nb, sizeof nb, vf));
                    goto done;
                }
                valid_fraction = (float)x;
            }
        }
    }
    /* csv: the columns, horizon and training normalization the model was trained with */
    if (data_spec && file_data) {
        long long hz = cli_meta_number(mn_model_metadata(model, "data.horizon"), CLI_MAX_LENGTH);
        if (!columns) columns = mn_model_metadata(model, "data.columns");
        if (!labels) labels = mn_model_metadata(model, "data.labels");
        if (!horizon && hz > 0) horizon = (int)hz;
    }
    if ((columns || horizon) && data_spec && strncmp(data_spec, "csv:", 4)) {
        rc = cli_fail("%s applies to csv data, and the data is not csv:; drop it",
                      columns ? "--columns" : "--horizon");
        goto done;
    }
    {
        const char *tok = NULL;
        if ((rc = cli_model_tokenizer(model, load, tokenizer, &tok))) goto done;
        tokenizer = tok;
    }
    if (tokenizer && !(data_spec && !strncmp(data_spec, "text:", 5))) {
        rc = cli_fail("the model in \"%s\" reads BPE tokens of text data; evaluate it on "
                      "--data text:FILE", load);
        goto done;
    }
    if (!task_name && !data_spec) {
        if (!file_task) {
            rc = cli_fail("\"%s\" does not record its task; pass --task (one of %s)", load,
                          mn_task_names());
            goto done;
        }
        task_name = file_task;
        if (cli_check_task(task_name)) {
            rc = CLI_EXIT_USAGE;
            goto done;
        }
    }
    if (labels && data_spec && strncmp(data_spec, "fasta:", 6)) {
        rc = cli_fail("--labels applies to fasta data, and the data is not fasta:; drop it");
        goto done;
    }
    /* npy, idx and labelled fasta records keep their own length */
    if (!length && !(data_spec && (!strncmp(data_spec, "npy:", 4) ||
                                   !strncmp(data_spec, "idx:", 4) ||
                                   (labels && !strncmp(data_spec, "fasta:", 6))))) {
        long long l = cli_meta_number(mn_model_metadata(model, "length"), CLI_MAX_LENGTH);
        if (l < 1) {
            rc = cli_fail("\"%s\" does not record its sequence length; pass --length N", load);
            goto done;
        }
        length = (int)l;
    }
    if (!cli_find(opts, nopts, "--seed")->given) {
        const char *s = mn_model_metadata(model, "seed");
        if (s && *s >= '0' && *s <= '9') {
            char *end;
            errno = 0;
            unsigned long long x = strtoull(s, &end, 10);
            if (!*end && !errno) seed = (uint64_t)x;
        }
    }

    if (data_spec) {
        mn_data_options d;
        mn_data_options_init(&d);
        d.length = length;
        d.valid_spec = valid_data;
        d.valid_fraction = valid_fraction;
        d.columns = columns;
        d.horizon = horizon;
        d.labels = labels;
        d.state = file_data ? mn_model_metadata(model, "data.state") : NULL;
        d.tokenizer = tokenizer;
        st = mn_task_from_data(data_spec, &d, seed, &task);
        if (!st) {
            length = mn_task_get_info(task)->max_steps;
            /* the spec may come from the file: shown escaped, as file text always is */
            task_name = mn_escape(data_show, sizeof data_show, data_spec);
        }
    } else {
        st = mn_task_create(task_name, length, seed, &task);
    }
    if (st) {
        rc = cli_lib_fail(st, NULL);
        goto done;
    }
    const mn_task_info *info = mn_task_get_info(task);
    const mn_model_config *mc = mn_model_get_config(model);
    {
        mn_model_config need = *mc;
        mn_task_configure_model(task, &need);
        if (need.input_size != mc->input_size || need.vocab_size != mc->vocab_size ||
            need.output_size != mc->output_size || need.loss != mc->loss ||
            need.output != mc->output) {
            char have_s[160], need_s[160];
            describe(have_s, sizeof have_s, mc);
            describe(need_s, sizeof need_s, &need);
            if (file_task && strcmp(file_task, task_name))
                rc = cli_fail("the model in \"%s\" does not fit task %s (model: %s; task: %s); "
                              "it was trained on task %s, pass --task %s",
                              load, task_name, have_s, need_s, file_task, file_task);
            else
                rc = cli_fail("the model in \"%s\" does not fit task %s at length %d (model: "
                              "%s; task: %s); evaluate it on the task it was trained for",
                              load, task_name, length, have_s, need_s);
            goto done;
        }
    }
    {
        /* mn_evaluate runs forward passes over batches of at most min(batch, eval_size) */
        int b = batch < eval_size ? batch : eval_size;
        double need = cli_estimate_bytes(mc, info->max_steps, b, 0);
        if (cli_check_memory("evaluation", need, "lower --batch or --length")) {
            rc = CLI_EXIT_USAGE;
            goto done;
        }
    }

    {
        /* as train warns: a bounded field shorter than the sequences (a TCN, convolutions) */
        int64_t field = mn_model_receptive_field(mc);
        if (field > 0 && field < info->max_steps)
            fprintf(stderr, "warning: the output at step t sees only steps t-%lld..t (the "
                    "model's receptive field), and the task's answer may lie %d steps back\n",
                    (long long)field - 1, info->max_steps - 1);
    }
    mn_eval_stats ev = {NAN, -1, 0, -1, -1, -1};
    double t0 = cli_now();
    st = mn_evaluate(model, task, eval_size, batch, &ev);
    double eval_secs = cli_now() - t0;
    if (st) {
        rc = cli_lib_fail(st, "evaluation failed");
        goto done;
    }

    {
        const int has_acc = info->has_accuracy && ev.accuracy >= 0;
        const int seqs = ev.sequences > 0 ? ev.sequences : eval_size;
        double seconds = cli_now() - t_start;
        double ratio = info->baseline_loss > 0 ? ev.loss / info->baseline_loss : NAN;
        /* Tokens: every step of every sequence (an upper bound with variable lengths). */
        double tps = eval_secs > 0 ? (double)seqs * info->max_steps / eval_secs : NAN;
        int nthreads = mn_get_threads();
        char a[32], b[32];
        char desc[MN_MAX_BLOCKS * 48];
        printf("mnemo eval: %s from %s, %s %s, length %d\n",
               cli_model_desc(mc, desc, sizeof desc), load, data_spec ? "data" : "task",
               task_name, length);
        cli_print_test_result(&ev, seqs, info, has_acc);
        printf("  speed       %s tokens/s on %d thread%s\n", fmt_si(a, sizeof a, tps), nthreads,
               nthreads > 1 ? "s" : "");
        printf("  time        %s\n", fmt_duration(b, sizeof b, seconds));
        if (json) {
            json_obj j;
            json_begin(&j, stdout);
            json_str(&j, "command", "eval");
            json_str(&j, "file", load);
            json_str(&j, data_spec ? "data" : "task", task_name);
            if (data_spec && valid_data) json_str(&j, "valid_data", valid_data);
            if (tokenizer) json_str(&j, "tokenizer", tokenizer);
            json_model(&j, mc);
            json_int(&j, "length", length);
            json_num(&j, "test_loss", ev.loss);
            json_num(&j, "baseline_loss", info->baseline_loss);
            json_num(&j, "loss_ratio", ratio);
            if (has_acc) json_num(&j, "test_accuracy", ev.accuracy);
            if (ev.token_accuracy >= 0) json_num(&j, "test_token_accuracy", ev.token_accuracy);
            cli_json_text_metrics(&j, &ev, info);
            json_int(&j, "eval_size", seqs);
            json_num(&j, "tokens_per_s", tps);
            json_num(&j, "seconds", seconds);
            json_int(&j, "threads", nthreads);
            json_u64(&j, "seed", seed);
            json_end(&j);
        }
        fflush(stdout);
    }
    rc = CLI_EXIT_OK;

done:
    if (task) mn_task_free(task);
    if (model) mn_model_free(model);
    return rc;
}
