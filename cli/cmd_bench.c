/* mnemo bench: time a recurrent stack at one shape (training step or inference). */
#include "common.h"
#include "progress.h"
#include "families.h"

#include <math.h>
#include <string.h>

static const char *const mode_names[] = {"train", "infer", "stream", NULL};

static void usage(FILE *f, cli_opt *opts, int n) {
    fprintf(f,
            "usage: mnemo bench --model M --length T --batch B --input-size I --hidden H "
            "[options]\n"
            "\n"
            "Time a recurrent stack on random data: a training step (forward, backward, Adam)\n"
            "or a forward pass. Reports ms per step, tokens/s, useful GFLOP/s and memory.\n"
            "Models: %s.\n"
            "\n"
            "options:\n",
            family_model_list());
    cli_print_options(f, opts, n);
}

int cmd_bench(int argc, char **argv) {
    mn_train_config tc;
    mn_train_config_init(&tc);
    const char *model_name = NULL, *mode_name = "train", *blocks = NULL;
    int length = 0, batch = 0, input = 0, hidden = 0, layers = 1, bidir = 0;
    int iterations = 20, warmup = 3, threads = 0, json = 0;
    uint64_t seed = tc.seed;
    const char *norm_name = NULL;
    cli_family fam;
    family_opts_init(&fam);
    char threads_def[48];
    snprintf(threads_def, sizeof threads_def, "all cores, %d here", mn_get_threads());

    cli_opt opts[] = {
        {"--model", OPT_STR, &model_name, "M",
         "recurrent cell (rnn, rnn-relu, lstm, gru, gated) or transformer, tcn, s4d, mamba",
         "required, or --blocks", "lstm", 0, 0, 0, 0, 0, 0, 0},
        {"--blocks", OPT_STR, &blocks, "SPEC", "a block stack, as mnemo train --blocks", "",
         "lstm:256,ff:1024:residual:pre", 0, 0, 0, 0, 0, 0, 0},
        {"--length", OPT_INT, &length, "T", "sequence length", NULL, "100", 1, CLI_MAX_LENGTH, 0,
         0, 0, 1, 0},
        {"--batch", OPT_INT, &batch, "B", "sequences per step", NULL, "32", 1, CLI_MAX_BATCH, 0,
         0, 0, 1, 0},
        {"--input-size", OPT_INT, &input, "I", "input features per step",
         "required; a family's is --hidden", "32", 1, CLI_MAX_INPUT, 0, 0, 0, 0, 0},
        {"--hidden", OPT_INT, &hidden, "H", "hidden units per layer and direction",
         "required with --model", "128", 1, CLI_MAX_HIDDEN, 0, 0, 0, 0, 0},
        {"--layers", OPT_INT, &layers, "L", "stacked layers",
         "1; tcn: the fewest whose receptive field covers --length, as train", "2", 1, CLI_MAX_LAYERS, 0, 0,
         0, 0, 0},
        {"--bidirectional", OPT_FLAG, &bidir, NULL, "run each layer in both directions", NULL,
         NULL, 0, 0, 0, 0, 0, 0, 0},
        {"--mode", OPT_STR, &mode_name, "MODE", "train (forward+backward+Adam), infer (a whole-sequence forward) or stream (T steps through the streaming API, mn_stream_step)", NULL,
         "infer", 0, 0, 0, 0, 0, 0, 0},
        {"--iterations", OPT_INT, &iterations, "N", "timed steps", NULL, "20", 1, 1000000, 0, 0,
         0, 0, 0},
        {"--warmup", OPT_INT, &warmup, "N", "untimed steps first", NULL, "3", 0, 1000000, 0, 0,
         0, 0, 0},
        {"--threads", OPT_INT, &threads, "N", "threads", threads_def, "2", 1, CLI_MAX_THREADS, 0,
         0, 0, 0, 0},
        {"--seed", OPT_U64, &seed, "S", "seed of the weights and data", NULL, "1", 0, 0, 0, 0, 0,
         0, 0},
        {"--json", OPT_FLAG, &json, NULL, "end stdout with one JSON summary line", NULL, NULL, 0,
         0, 0, 0, 0, 0, 0},
        {"--norm", OPT_STR, &norm_name, "P", "transformer, s4d, mamba: pre (with a final norm) or post",
         "pre, as train", "post", 0, 0, 0, 0, 0, 0, 0},
        FAMILY_OPT_SLOTS,                     /* the families' options */
    };
    const int nopts = (int)(sizeof opts / sizeof opts[0]);
    family_opts_table(&fam, opts + nopts - FAMILY_OPTS);

    if (cli_wants_help(argc, argv)) {
        usage(stdout, opts, nopts);
        return CLI_EXIT_OK;
    }
    int rc = cli_parse("bench", argc, argv, opts, nopts);
    if (rc) return rc;

    mn_cell_kind cell = 0;   /* unused with --blocks */
    char list[64];
    if (!model_name == !blocks)
        return cli_fail("give the model as --model M or --blocks SPEC, %s",
                        blocks ? "not both" : "neither was given");
    if (blocks && (cli_find(opts, nopts, "--layers")->given || bidir))
        return cli_fail("--blocks describes the whole stack; drop --layers and --bidirectional");
    if (family_opts_check(&fam, opts, nopts, model_name)) return CLI_EXIT_USAGE;
    int family = fam.kind != FAMILY_NONE;
    if (norm_name && (!family || fam.kind == FAMILY_TCN))
        return cli_fail("--norm places the norms of a transformer, s4d or mamba model; write "
                        "other norms in --blocks");
    if (norm_name && strcmp(norm_name, "pre") && strcmp(norm_name, "post"))
        return cli_fail("unknown --norm \"%s\"; choose pre or post", norm_name);
    if (model_name && !family && family_parse_cell(model_name, &cell)) return CLI_EXIT_USAGE;
    char spec[MN_MAX_BLOCKS * 64];
    if (family) {
        /* the layers alone on [T, B, width], as nn.TransformerEncoderLayer runs */
        if (bidir) return cli_fail("--bidirectional is a recurrent stack's; drop it");
        if (!hidden) return cli_fail("'bench' needs --hidden (the model width) with --model %s",
                                     model_name);
        if (cli_find(opts, nopts, "--input-size")->given && input != hidden)
            return cli_fail("--model %s reads --hidden %d features per step; give --input-size "
                            "%d or drop it", model_name, hidden, hidden);
        input = hidden;
        /* a TCN's layers as mnemo train picks them: enough to cover --length */
        if (fam.kind == FAMILY_TCN && !cli_find(opts, nopts, "--layers")->given)
            layers = family_tcn_layers(fam.kernel, length);
        /* the norms mnemo train builds: pre-norm with a final norm unless --norm post */
        mn_norm_place place = fam.kind == FAMILY_TCN ? MN_NORM_NONE
                            : norm_name && !strcmp(norm_name, "post") ? MN_NORM_POST
                            : MN_NORM_PRE;
        if (family_spec(&fam, layers, hidden, 0, place, MN_NORM_LAYERNORM, length,
                        place == MN_NORM_PRE, spec, sizeof spec))
            return CLI_EXIT_USAGE;
        blocks = spec;
    }
    if (model_name && !hidden) return cli_fail("'bench' needs --hidden H with --model");
    if (!family && !cli_find(opts, nopts, "--input-size")->given)
        return cli_fail("'bench' needs --input-size I: the features per step");
    if (!hidden) hidden = 1;   /* --blocks: every width is in the spec */
    int mode = cli_choice(mode_name, mode_names);
    if (mode < 0)
        return cli_fail("unknown --mode \"%s\"; choose one of %s", mode_name,
                        cli_join(list, sizeof list, mode_names));
    mn_model_config mc;   /* the model mn_bench_run builds */
    mn_model_config_init(&mc);
    mc.cell = cell;
    mc.input_size = input;
    mc.hidden_size = hidden;
    mc.num_layers = layers;
    mc.bidirectional = bidir;
    mc.output = MN_OUTPUT_EVERY;
    mc.output_size = 1;
    if (blocks && mn_blocks_parse(blocks, &mc)) return cli_fail("%s", mn_last_error());
    double need = cli_estimate_bytes(&mc, length, batch, mode == 0);
    if (cli_check_memory("this benchmark", need,
                         "lower --batch, --hidden, --layers or --length"))
        return CLI_EXIT_USAGE;
    cli_json_arm(json);
    cli_set_threads(threads);

    mn_bench_config bc;
    memset(&bc, 0, sizeof bc);
    bc.cell = cell;
    bc.T = length;
    bc.B = batch;
    bc.input_size = input;
    bc.hidden_size = hidden;
    bc.num_layers = layers;
    bc.bidirectional = bidir;
    bc.train = mode == 0;
    bc.stream = mode == 2;
    bc.warmup = warmup;
    bc.iterations = iterations;
    bc.seed = seed;
    bc.blocks = blocks;

    mn_bench_result res;
    memset(&res, 0, sizeof res);
    mn_status st = mn_bench_run(&bc, &res);
    if (st) return cli_lib_fail(st, "benchmark failed");

    int nthreads = mn_get_threads();
    double ratio = res.model_bytes ? (double)res.peak_bytes / (double)res.model_bytes : NAN;
    char a[32], b[32], c[32];
    char desc[MN_MAX_BLOCKS * 48];
    printf("mnemo bench: %s, %s, T %d, B %d, input %d, %d thread%s, %s kernels\n",
           cli_model_desc(&mc, desc, sizeof desc), mode_names[mode], length, batch, input,
           nthreads, nthreads > 1 ? "s" : "", mn_cpu_kernel());
    printf("  time        %.4g ms per step (%d timed, %d warmup)\n", res.ms_per_step, iterations,
           warmup);
    printf("  throughput  %s tokens/s\n", fmt_si(a, sizeof a, res.tokens_per_s));
    printf("  compute     %.4g GFLOP/s (%s FLOP per step)\n", res.gflops,
           fmt_si(b, sizeof b, res.flops_per_step));
    printf("  memory      peak %s; model %s (params, grads, optimizer state, activations); "
           "peak/model %.3g\n",
           fmt_bytes(a, sizeof a, (double)res.peak_bytes),
           fmt_bytes(c, sizeof c, (double)res.model_bytes), ratio);
    if (json) {
        json_obj j;
        json_begin(&j, stdout);
        json_str(&j, "command", "bench");
        json_model(&j, &mc);
        json_int(&j, "length", length);
        json_int(&j, "batch", batch);
        json_int(&j, "input_size", input);
        json_str(&j, "mode", mode_names[mode]);
        json_int(&j, "threads", nthreads);
        json_str(&j, "kernel", mn_cpu_kernel());
        json_int(&j, "iterations", iterations);
        json_num(&j, "ms_per_step", res.ms_per_step);
        json_num(&j, "tokens_per_s", res.tokens_per_s);
        json_num(&j, "gflops", res.gflops);
        json_num(&j, "flops_per_step", res.flops_per_step);
        json_u64(&j, "peak_bytes", (uint64_t)res.peak_bytes);
        json_u64(&j, "model_bytes", (uint64_t)res.model_bytes);
        json_num(&j, "peak_to_model", ratio);
        json_u64(&j, "seed", seed);
        json_end(&j);
    }
    fflush(stdout);
    return CLI_EXIT_OK;
}
