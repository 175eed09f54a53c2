/* mnemo predict: run a PyTorch nn.RNN / nn.LSTM / nn.GRU state dict on a .npy array.
 *
 * Every check that can fail on the user's files runs before the output is written, and
 * the output is written atomically, so a failed run leaves no output file behind and
 * never replaces an existing one. */
#include "common.h"
#include "progress.h"
#include "families.h"
#include "predict_stream.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void usage(FILE *f, cli_opt *opts, int n) {
    fprintf(f,
            "usage: mnemo predict --model M --layers L --hidden H --input-size I [--bidirectional]\n"
            "                     [--proj-size P] [--no-bias] [--lengths L.npy]\n"
            "                     --weights W.safetensors --input X.npy --output Y.npy [options]\n"
            "       mnemo predict --model transformer --layers L --hidden D --heads H --ff F\n"
            "                     [--norm-first] [--activation relu|gelu] [--causal]\n"
            "                     --weights W.safetensors --input X.npy --output Y.npy [options]\n"
            "\n"
            "Run a recurrent stack whose weights are a PyTorch nn.RNN / nn.LSTM / nn.GRU state\n"
            "dict (weight_ih_l0, weight_hh_l0, bias_ih_l0, bias_hh_l0, ..._reverse; an optional\n"
            "common prefix such as 'rnn.' is accepted, so mnemo checkpoints work too) on a\n"
            "float32 array X of shape [T, B, I] (time-major, as PyTorch's default), and write\n"
            "its output [T, B, H] (bidirectional: [T, B, 2H]) to Y. Every sequence starts\n"
            "from a zero state. rnn is nn.RNN with tanh, rnn-relu with nonlinearity='relu'.\n"
            "An nn.LSTM(proj_size=P) (weight_hr_l0 [P, H]) outputs [T, B, P] ([T, B, 2P]), and\n"
            "a module made with bias=False has no bias tensors: both are read from the file\n"
            "unless --proj-size or --no-bias says what to expect. --lengths L.npy (int32 or\n"
            "int64 [B]) runs a padded batch: each sequence stops at its length and the rows\n"
            "past it are 0, as pack_padded_sequence and pad_packed_sequence give. The pass\n"
            "keeps no activations for training: its memory is the input, the output, two\n"
            "[T, B, out] buffers between layers and a chunk of steps per layer.\n"
            "Models: rnn, rnn-relu, lstm, gru (PyTorch's recurrent modules) and transformer;\n"
            "--load M runs a mnemo model file (train --save, or a checkpoint) of any kind and\n"
            "writes its head's outputs: [T, B, O] (output=last: [B, O]; logits for a\n"
            "classifier) from float32 [T, B, I] or tokens int32 [T, B]; with --stream, of\n"
            "causal blocks, one frame a step.\n"
            "\n"
            "--model transformer runs a torch.nn.TransformerEncoder state dict (layers.{i}.\n"
            "self_attn.in_proj_weight, ..., layers.{i}.linear1.weight, layers.{i}.norm1.weight;\n"
            "an optional final norm.weight) in eval mode on X [T, B, D] and writes [T, B, D];\n"
            "--lengths L.npy masks the keys past each sequence's length, as\n"
            "src_key_padding_mask does, and writes 0 in the rows past it. mnemo's own\n"
            "Transformer checkpoints load the same way.\n"
            "\n"
            "--stream runs the model one step at a time, each sequence's state kept between\n"
            "steps, and writes one output frame to standard output per input frame, flushed\n"
            "at once, so a pipeline sees it while the input is still coming: --input X.npy\n"
            "(float32 [T, I] or [T, B, I]) or --input - (raw frames on standard input: I\n"
            "little-endian float32 values each, one sequence). A frame is the B x O outputs\n"
            "of a step, one text line (or B x O float32 with --raw); no --output. It runs a\n"
            "unidirectional recurrent stack (the options above), or with --load M a mnemo\n"
            "model file (train --save, or a checkpoint) of causal blocks, whose head it\n"
            "writes: O = the model's outputs, logits for a classifier (tokens: --input int32\n"
            "[T] or [T, B], or raw int32 frames, one token each). An output=last model's head\n"
            "at each step is what it would say if the sequence ended there. A partial frame\n"
            "at the end of the input exits with 2, after the complete frames' outputs.\n"
            "\n"
            "options:\n");
    cli_print_options(f, opts, n);
}

/* 1 when both paths exist and are the same file. */
static int same_file(const char *a, const char *b) {
    struct stat sa, sb;
    return !stat(a, &sa) && !stat(b, &sb) && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/* A failed load, with the options that would fit the file when it holds a stack. */
static int weights_fail(mn_status st, const char *path) {
    char msg[700], proj[32] = "";
    snprintf(msg, sizeof msg, "%s", mn_last_error());
    mn_stack_config f;
    if (st != MN_E_INPUT || mn_stack_probe_torch(path, &f) != MN_OK)
        return cli_fail_code(cli_exit_code(st), "--weights: %s", msg);
    if (f.proj_size) snprintf(proj, sizeof proj, " --proj-size %d", f.proj_size);
    return cli_fail("--weights: %s; the file fits --model %s --layers %d --hidden %d "
                    "--input-size %d%s%s%s", msg, mn_cell_name(f.cell), f.num_layers,
                    f.hidden_size, f.input_size, f.bidirectional ? " --bidirectional" : "", proj,
                    f.no_bias ? " --no-bias" : "");
}

/* The input must be float32 [T, B, I] with I = --input-size. */
static int check_input(const mn_array *x, const char *path, int I) {
    char s[200];
    cli_shape_str(s, sizeof s, x->shape, x->ndim);
    if (x->dtype != MN_ARRAY_F32)
        return cli_fail("--input \"%s\" holds int32 values; predict reads float32: save "
                        "x.astype(numpy.float32)", path);
    if (x->ndim != 3)
        return cli_fail("--input \"%s\" has shape %s (rank %d); predict reads rank 3 [T, B, I] "
                        "(steps, sequences, features; add axes with x[:, None, :] or "
                        "x[:, :, None])", path, s, x->ndim);
    if (x->shape[2] != I)
        return cli_fail("--input \"%s\" has shape %s: %lld features per step, but --input-size "
                        "is %d", path, s, (long long)x->shape[2], I);
    if (x->shape[0] < 1 || x->shape[1] < 1)
        return cli_fail("--input \"%s\" has shape %s, which holds no sequence step; give at "
                        "least one step of one sequence", path, s);
    if (x->shape[0] > CLI_MAX_LENGTH || (double)x->shape[0] * (double)x->shape[1] > 2147483647.0)
        return cli_fail("--input \"%s\" has shape %s; at most %d steps and 2^31-1 steps x "
                        "sequences per run: split it along B", path, s, CLI_MAX_LENGTH);
    return 0;
}

typedef struct {
    const char *model, *weights, *input, *output, *lengths, *load;
    int layers, hidden, input_size, bidir, threads, json;
    int stream, raw;              /* --stream: frame by frame to stdout (--raw: float32) */
    int proj, no_bias;            /* recurrent: proj_size, bias=False (else from the file) */
    int proj_given, no_bias_given;
    int norm_first;               /* transformer: norm_first=True */
    cli_family fam;
    uint64_t seed;
} options;

/* "12.3 MB" of what the library held at its peak during the run. */
static const char *peak_text(char *buf, size_t cap) {
    return fmt_bytes(buf, cap, (double)mn_memory_peak());
}

/* The summary on stdout, and with --json one JSON line after it. */
static void report(const options *o, const mn_stack_config *c, const mn_array *x,
                   const int64_t *yshape, int padded, double secs, double tps) {
    char si[32], dur[32], xs[96], ys[96], mem[32], proj[32] = "";
    int nthreads = mn_get_threads();
    if (c->proj_size) snprintf(proj, sizeof proj, ", proj %d", c->proj_size);
    printf("mnemo predict: %s, %d layer%s, hidden %d%s%s%s, weights %s\n", mn_cell_name(c->cell),
           o->layers, o->layers > 1 ? "s" : "", o->hidden, proj, c->no_bias ? ", no bias" : "",
           o->bidir ? ", bidirectional" : "", o->weights);
    printf("  input   %s float32 %s%s%s\n", o->input, cli_shape_str(xs, sizeof xs, x->shape, 3),
           padded ? ", lengths " : "", padded ? o->lengths : "");
    printf("  output  %s float32 %s\n", o->output, cli_shape_str(ys, sizeof ys, yshape, 3));
    printf("  speed   %s steps/s (T x B) on %d thread%s\n", fmt_si(si, sizeof si, tps),
           nthreads, nthreads > 1 ? "s" : "");
    printf("  memory  %s at the peak (inference: no activations kept)\n",
           peak_text(mem, sizeof mem));
    printf("  time    %s\n", fmt_duration(dur, sizeof dur, secs));
    if (!o->json) return;
    json_obj j;
    json_begin(&j, stdout);
    json_str(&j, "command", "predict");
    json_str(&j, "model", mn_cell_name(c->cell));
    json_int(&j, "layers", o->layers);
    json_int(&j, "hidden", o->hidden);
    json_int(&j, "proj_size", c->proj_size);
    json_bool(&j, "bias", !c->no_bias);
    json_int(&j, "input_size", o->input_size);
    json_bool(&j, "bidirectional", o->bidir);
    json_int(&j, "length", yshape[0]);
    json_int(&j, "batch", yshape[1]);
    json_int(&j, "output_size", yshape[2]);
    json_bool(&j, "lengths", padded);
    json_str(&j, "output", o->output);
    json_num(&j, "tokens_per_s", tps);
    json_num(&j, "seconds", secs);
    json_num(&j, "peak_bytes", (double)mn_memory_peak());
    json_int(&j, "threads", nthreads);
    json_end(&j);
}

/* --model transformer: the encoder's blocks as a model without input stage, its tensors
 * read by name; the output is the top block's, before the (unused) head. Prints nothing:
 * *bad is 1 for an impossible option (already printed), else the status says. */
static mn_status load_transformer(const options *o, int final_norm, mn_model **out, int *bad) {
    mn_model_config mc;
    mn_model_config_init(&mc);
    mc.input_size = mc.hidden_size = o->hidden;
    mc.output_size = 1;
    mc.output = MN_OUTPUT_EVERY;
    mc.loss = MN_LOSS_MSE;
    cli_family tf = o->fam;
    tf.positions = 3;   /* none: nn.TransformerEncoder adds no positions */
    char spec[MN_MAX_BLOCKS * 64];
    *out = NULL;
    if ((*bad = family_spec(&tf, o->layers, o->hidden, 0,
                                 o->norm_first ? MN_NORM_PRE : MN_NORM_POST, MN_NORM_LAYERNORM,
                                 0, final_norm, spec, sizeof spec)))
        return MN_E_ARG;
    mn_status st;
    if ((st = mn_blocks_parse(spec, &mc)) || (st = mn_model_create(&mc, 1, out))) return st;
    if ((st = mn_model_load_state_dict(*out, o->weights, 0))) {
        mn_model_free(*out);
        *out = NULL;
    }
    return st;
}

/* The layers of a block list as text, without the input stage (a linear map, positions)
 * that an encoder does not have. */
static void layers_text(const mn_model_config *c, char *buf, size_t cap) {
    mn_model_config only = *c;
    only.num_blocks = 0;
    only.encoder_blocks = 0;
    for (int k = 0; k < c->num_blocks; k++) {
        const char *kind = c->blocks[k].kind;
        if (!strcmp(kind, "linear") || strstr(kind, "positions")) continue;
        only.blocks[only.num_blocks] = c->blocks[k];
        only.blocks[only.num_blocks++].dropout = 0;   /* nothing at inference */
    }
    if (only.num_blocks == 0 || mn_blocks_format(&only, buf, cap) < 0) buf[0] = 0;
}

/* A mnemo checkpoint says which layers it holds (model.blocks): the options must build the
 * same ones, or the output would be another model's (heads, causal, rope, activation and
 * norm placement change nothing in the tensors' shapes). 0, or 2 after printing. */
static int check_mnemo_layers(const options *o, const mn_model *built) {
    mn_model *file = NULL;
    if (mn_model_load(o->weights, &file) != MN_OK) return 0;   /* a PyTorch state dict */
    char want[MN_MAX_BLOCKS * 96], have[MN_MAX_BLOCKS * 96];
    const mn_model_config *fc = mn_model_get_config(file);
    int rc = 0;
    if (fc->encoder_blocks > 0)
        rc = cli_fail("--weights \"%s\" is an encoder-decoder; predict runs encoders "
                      "(torch.nn.TransformerEncoder): use mnemo eval --load for it", o->weights);
    layers_text(fc, have, sizeof have);
    layers_text(mn_model_get_config(built), want, sizeof want);
    if (!rc && strcmp(have, want))
        rc = cli_fail("--weights \"%s\" holds the layers %s, and these options build %s: give "
                      "the options it was trained with (--heads, --ff, --activation, --causal, "
                      "--norm-first)%s", o->weights, have, want,
                      strstr(have, "rope") ? "; its rotary positions (rope) have no predict "
                      "option: run it with mnemo eval --load" : "");
    mn_model_free(file);
    return rc;
}

static int run_transformer(const options *o) {
    mn_model *m = NULL;
    mn_array x = {0};
    float *y = NULL;
    int32_t *lengths = NULL;
    double t0 = cli_now();
    /* a final norm (nn.TransformerEncoder(norm=...)) is there when the file has it: try
     * without, and with it when the file holds more than the layers */
    int rc = 0, bad = 0;
    mn_status st = load_transformer(o, 0, &m, &bad);
    if (bad) return CLI_EXIT_USAGE;
    if (st == MN_E_INPUT) {
        char first[600];
        snprintf(first, sizeof first, "%s", mn_last_error());
        if ((st = load_transformer(o, 1, &m, &bad)) == MN_E_INPUT)
            return cli_fail("--weights: %s", first);
    }
    if (st) return cli_lib_fail(st, "--weights");
    if ((rc = check_mnemo_layers(o, m))) goto done;
    if ((st = mn_array_load(o->input, &x))) {
        rc = cli_lib_fail(st, "--input");
        goto done;
    }
    if ((rc = check_input(&x, o->input, o->hidden))) goto done;
    int T = (int)x.shape[0], B = (int)x.shape[1], D = o->hidden;
    if (!(lengths = malloc((size_t)B * sizeof *lengths))) {
        rc = cli_fail_code(CLI_EXIT_RUNTIME, "out of memory");
        goto done;
    }
    for (int b = 0; b < B; b++) lengths[b] = T;
    if (o->lengths && (rc = cli_load_lengths(o->lengths, T, B, lengths))) goto done;
    char what[320];
    snprintf(what, sizeof what, "--input \"%s\"", o->input);
    cli_warn_nonfinite(what, (const float *)x.data, T, B, D, lengths, 0);
    double need = cli_estimate_bytes(mn_model_get_config(m), T, B, 0);
    if (need >= 0) need += 4.0 * T * B * D;
    if (cli_check_memory("this prediction", need, "split the input along its batch axis B")) {
        rc = CLI_EXIT_USAGE;
        goto done;
    }
    mn_batch b = {.T = T, .B = B, .input_size = D, .x = x.data, .lengths = lengths,
                  .output_size = 1};
    const float *feat;
    double t1 = cli_now();
    if ((st = mn_model_features(m, &b, &feat, NULL))) {
        rc = cli_lib_fail(st, "forward pass");
        goto done;
    }
    double fwd = cli_now() - t1;
    /* rows past a sequence's length are 0, as PyTorch's encoder returns them in eval (its
     * nested-tensor path) and as pad_packed_sequence does for the recurrent models */
    if (!(y = malloc((size_t)T * B * D * sizeof *y))) {
        rc = cli_fail_code(CLI_EXIT_RUNTIME, "out of memory for the [%d, %d, %d] output; split "
                           "the input along its batch axis B", T, B, D);
        goto done;
    }
    for (int t = 0; t < T; t++)
        for (int b = 0; b < B; b++) {
            size_t r = ((size_t)t * B + b) * D;
            if (t < lengths[b]) memcpy(y + r, feat + r, (size_t)D * sizeof *y);
            else memset(y + r, 0, (size_t)D * sizeof *y);
        }
    int64_t shape[3] = {T, B, D};
    if ((st = mn_array_save(o->output, MN_ARRAY_F32, 3, shape, y))) {
        rc = cli_lib_fail(st, "--output");
        goto done;
    }
    char si[32], dur[32], xs[96];
    double secs = cli_now() - t0, tps = fwd > 0 ? (double)T * B / fwd : 0;
    printf("mnemo predict: transformer, %d layer%s, d_model %d, %d heads, ff %d, %s, %s%s, "
           "weights %s\n", o->layers, o->layers > 1 ? "s" : "", D, o->fam.heads,
           o->fam.ff > 0 ? o->fam.ff : 4 * D, o->norm_first ? "pre-norm" : "post-norm",
           o->fam.gelu ? "gelu" : "relu", o->fam.causal ? ", causal" : "", o->weights);
    printf("  input   %s float32 %s\n", o->input, cli_shape_str(xs, sizeof xs, x.shape, 3));
    printf("  output  %s float32 %s\n", o->output, cli_shape_str(xs, sizeof xs, shape, 3));
    printf("  speed   %s steps/s (T x B) on %d thread%s\n", fmt_si(si, sizeof si, tps),
           mn_get_threads(), mn_get_threads() > 1 ? "s" : "");
    printf("  time    %s\n", fmt_duration(dur, sizeof dur, secs));
    if (o->json) {
        json_obj j;
        json_begin(&j, stdout);
        json_str(&j, "command", "predict");
        json_str(&j, "model", "transformer");
        json_int(&j, "layers", o->layers);
        json_int(&j, "d_model", D);
        json_int(&j, "heads", o->fam.heads);
        json_int(&j, "ff", o->fam.ff > 0 ? o->fam.ff : 4 * D);
        json_bool(&j, "norm_first", o->norm_first);
        json_bool(&j, "causal", o->fam.causal);
        json_int(&j, "length", T);
        json_int(&j, "batch", B);
        json_str(&j, "output", o->output);
        json_num(&j, "tokens_per_s", tps);
        json_num(&j, "seconds", secs);
        json_int(&j, "threads", mn_get_threads());
        json_end(&j);
    }
done:
    free(y);
    free(lengths);
    mn_array_free(&x);
    mn_model_free(m);
    return rc;
}

static int run(const options *o, mn_cell_kind cell) {
    mn_stack_config cfg = {.cell = cell, .input_size = o->input_size, .hidden_size = o->hidden,
                           .num_layers = o->layers, .bidirectional = o->bidir,
                           .proj_size = o->proj, .no_bias = o->no_bias};
    /* proj_size and bias=False show in the tensors: read them unless given */
    mn_stack_config found;
    if ((!o->proj_given || !o->no_bias_given) &&
        mn_stack_probe_torch(o->weights, &found) == MN_OK) {
        if (!o->proj_given && cli_cell_has_projection(cell) && found.proj_size < o->hidden)
            cfg.proj_size = found.proj_size;
        if (!o->no_bias_given) cfg.no_bias = found.no_bias;
    }
    mn_stack *stack = NULL;
    mn_array x = {0};
    float *y = NULL;
    int32_t *lengths = NULL;
    int rc = CLI_EXIT_OK;
    double t0 = cli_now();
    mn_status st = mn_stack_load_torch(o->weights, &cfg, &stack);
    if (st) return weights_fail(st, o->weights);
    if (o->stream) {
        rc = predict_stream_stack(stack, o->input, o->raw);
        goto done;
    }
    if ((st = mn_array_load(o->input, &x))) {
        rc = cli_lib_fail(st, "--input");
        goto done;
    }
    if ((rc = check_input(&x, o->input, o->input_size))) goto done;
    int T = (int)x.shape[0], B = (int)x.shape[1], O = mn_stack_output_size(stack);
    if (o->lengths) {
        if (!(lengths = malloc((size_t)B * sizeof *lengths))) {
            rc = cli_fail_code(CLI_EXIT_RUNTIME, "out of memory");
            goto done;
        }
        if ((rc = cli_load_lengths(o->lengths, T, B, lengths))) goto done;
    }
    char what[320];
    snprintf(what, sizeof what, "--input \"%s\"", o->input);
    cli_warn_nonfinite(what, (const float *)x.data, T, B, o->input_size, lengths, 0);
    /* the stack's inference pass (its estimate counts x), plus the [T,B,O] output */
    mn_memory_estimate e;
    double need = mn_memory_estimate_stack(&cfg, T, B, &e) == MN_OK ? (double)e.total : -1;
    if (need >= 0) need += 4.0 * T * B * O;
    if (cli_check_memory("this prediction", need, "split the input along its batch axis B")) {
        rc = CLI_EXIT_USAGE;
        goto done;
    }
    if (!(y = malloc((size_t)T * B * O * sizeof *y))) {
        rc = cli_fail_code(CLI_EXIT_RUNTIME, "out of memory for the [%d, %d, %d] output; split "
                           "the input along its batch axis B", T, B, O);
        goto done;
    }
    double t1 = cli_now();
    if ((st = mn_stack_forward(stack, x.data, T, B, lengths, y))) {
        rc = cli_lib_fail(st, "forward pass");
        goto done;
    }
    double fwd = cli_now() - t1;
    int64_t shape[3] = {T, B, O};
    if ((st = mn_array_save(o->output, MN_ARRAY_F32, 3, shape, y))) {
        rc = cli_lib_fail(st, "--output");
        goto done;
    }
    report(o, &cfg, &x, shape, lengths != NULL, cli_now() - t0,
           fwd > 0 ? (double)T * B / fwd : 0);
done:
    free(y);
    free(lengths);
    mn_array_free(&x);
    mn_stack_free(stack);
    return rc;
}

/* The options --stream, --raw and --load take or exclude. 0, or 2 after printing. */
static int check_stream_options(const options *o, cli_opt *opts, int n) {
    static const char *const not_streamed[] = {"--output", "--lengths", "--json"};
    if (o->load) {
        static const char *const stack_only[] = {
            "--model", "--weights", "--layers", "--hidden", "--input-size", "--bidirectional",
            "--proj-size", "--no-bias", "--heads", "--ff", "--activation", "--causal",
            "--norm-first"};
        for (size_t i = 0; i < sizeof stack_only / sizeof stack_only[0]; i++)
            if (cli_find(opts, n, stack_only[i])->given)
                return cli_fail("--load reads the whole model from its file; drop %s",
                                stack_only[i]);
    }
    if (!o->stream) {
        if (o->raw)
            return cli_fail("--raw goes with --stream (one step at a time); add --stream");
        return 0;
    }
    for (size_t i = 0; i < sizeof not_streamed / sizeof not_streamed[0]; i++)
        if (cli_find(opts, n, not_streamed[i])->given)
            return cli_fail("--stream writes one frame of outputs per input frame to "
                            "standard output, %s; drop %s", i == 0 ? "not to a file"
                            : i == 1 ? "running every sequence to its end" : "not as JSON",
                            not_streamed[i]);
    return 0;
}

/* --output: a file, writable, and none of the files read. 0, or 2 after printing. */
static int check_output(const options *o) {
    struct stat sb;
    const char *model = o->load ? o->load : o->weights;
    if (!stat(o->output, &sb) && S_ISDIR(sb.st_mode))
        return cli_fail("--output needs a file name, got the folder \"%s\"; for example "
                        "--output %s/y.npy", o->output, o->output);
    if (cli_check_writable("--output", o->output)) return CLI_EXIT_USAGE;
    if (same_file(o->output, model) || same_file(o->output, o->input))
        return cli_fail("--output \"%s\" is the %s file; write the output to a new file",
                        o->output, same_file(o->output, model) ? (o->load ? "--load" : "--weights")
                        : "--input");
    if (o->lengths && same_file(o->output, o->lengths))
        return cli_fail("--output \"%s\" is the --lengths file; write the output to a new file",
                        o->output);
    return 0;
}

int cmd_predict(int argc, char **argv) {
    options o = {0};
    o.layers = 1;
    family_opts_init(&o.fam);
    char threads_def[48];
    snprintf(threads_def, sizeof threads_def, "all cores, %d here", mn_get_threads());
    cli_opt opts[] = {
        {"--model", OPT_STR, &o.model, "M", "rnn, rnn-relu, lstm, gru, or transformer", NULL,
         "lstm", 0, 0, 0, 0, 0, 1, 0},
        {"--layers", OPT_INT, &o.layers, "L", "stacked layers (num_layers)", NULL, "2", 1,
         CLI_MAX_LAYERS, 0, 0, 0, 0, 0},
        {"--hidden", OPT_INT, &o.hidden, "H", "hidden units per layer and direction", NULL,
         "128", 1, CLI_MAX_HIDDEN, 0, 0, 0, 1, 0},
        {"--input-size", OPT_INT, &o.input_size, "I",
         "input features per step (a transformer's is --hidden)", "required for recurrent models",
         "32", 1, CLI_MAX_INPUT, 0, 0, 0, 0, 0},
        {"--bidirectional", OPT_FLAG, &o.bidir, NULL, "the module is bidirectional", NULL, NULL,
         0, 0, 0, 0, 0, 0, 0},
        {"--weights", OPT_STR, &o.weights, "FILE", "the state dict (safetensors)", NULL,
         "lstm.safetensors", 0, 0, 0, 0, 0, 1, 0},
        {"--input", OPT_STR, &o.input, "FILE", "float32 .npy array [T, B, I]", NULL, "x.npy", 0,
         0, 0, 0, 0, 1, 0},
        {"--output", OPT_STR, &o.output, "FILE", ".npy file to write [T, B, dirs*H]", NULL,
         "y.npy", 0, 0, 0, 0, 0, 1, 0},
        {"--threads", OPT_INT, &o.threads, "N", "threads", threads_def, "2", 1, CLI_MAX_THREADS,
         0, 0, 0, 0, 0},
        {"--seed", OPT_U64, &o.seed, "S", "accepted for uniformity; predict is deterministic",
         "", "1", 0, 0, 0, 0, 0, 0, 0},
        {"--json", OPT_FLAG, &o.json, NULL, "end stdout with one JSON summary line", NULL, NULL,
         0, 0, 0, 0, 0, 0, 0},
        {"--norm-first", OPT_FLAG, &o.norm_first, NULL,
         "transformer: the layers were built with norm_first=True (pre-norm)", NULL, NULL, 0, 0,
         0, 0, 0, 0, 0},
        {"--lengths", OPT_STR, &o.lengths, "FILE",
         "int32 or int64 .npy [B]: a padded batch, each sequence run to its length and 0 past "
         "it (a transformer masks the keys past it)", "", "len.npy", 0, 0, 0, 0, 0, 0, 0},
        {"--proj-size", OPT_INT, &o.proj, "P",
         "lstm: nn.LSTM's proj_size (weight_hr_l0 [P, H]), below --hidden", "read from the file",
         "64", 1, CLI_MAX_HIDDEN, 0, 0, 0, 0, 0},
        {"--no-bias", OPT_FLAG, &o.no_bias, NULL,
         "the module was made with bias=False (no bias_ih, bias_hh)", "read from the file", NULL,
         0, 0, 0, 0, 0, 0, 0},
        {"--heads", OPT_INT, &o.fam.heads, "H", "transformer: nhead", NULL, "4", 1, 4096, 0, 0,
         0, 0, 0},
        {"--ff", OPT_INT, &o.fam.ff, "F", "transformer: dim_feedforward", "4 x hidden", "2048", 1,
         65536, 0, 0, 0, 0, 0},
        {"--activation", OPT_STR, &o.fam.activation_name, "A", "transformer: relu or gelu", NULL,
         "gelu", 0, 0, 0, 0, 0, 0, 0},
        {"--causal", OPT_FLAG, &o.fam.causal, NULL,
         "transformer: a causal mask (step t sees steps <= t)", NULL, NULL, 0, 0, 0, 0, 0, 0, 0},
        {"--stream", OPT_FLAG, &o.stream, NULL,
         "one step at a time: an output frame on stdout per input frame (--input - reads raw "
         "float32 frames from stdin)", NULL, NULL, 0, 0, 0, 0, 0, 0, 0},
        {"--raw", OPT_FLAG, &o.raw, NULL, "--stream: write float32 frames, not text lines",
         NULL, NULL, 0, 0, 0, 0, 0, 0, 0},
        {"--load", OPT_STR, &o.load, "FILE",
         "a mnemo model file to run instead of --model and --weights (its head's outputs)", "",
         "model.safetensors", 0, 0, 0, 0, 0, 0, 0},
    };
    const int nopts = (int)(sizeof opts / sizeof opts[0]);
    if (cli_wants_help(argc, argv)) {
        usage(stdout, opts, nopts);
        return CLI_EXIT_OK;
    }
    /* --stream writes to stdout, and --load names the model: what they replace is not
     * required with them */
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--stream")) cli_find(opts, nopts, "--output")->required = 0;
        if (!strcmp(argv[i], "--load") || !strncmp(argv[i], "--load=", 7)) {
            cli_find(opts, nopts, "--model")->required = 0;
            cli_find(opts, nopts, "--hidden")->required = 0;
            cli_find(opts, nopts, "--weights")->required = 0;
        }
    }
    int rc = cli_parse("predict", argc, argv, opts, nopts);
    if (rc) return rc;
    if ((rc = check_stream_options(&o, opts, nopts))) return rc;
    if (o.load && o.stream) {
        cli_set_threads(o.threads);
        return predict_stream_model(o.load, o.input, o.raw);
    }
    if (o.load) {
        if ((rc = check_output(&o))) return rc;
        cli_json_arm(o.json);
        cli_set_threads(o.threads);
        return predict_model_whole(o.load, o.input, o.output, o.lengths, o.json);
    }
    mn_cell_kind cell = (mn_cell_kind)0;   /* read below, for the recurrent models */
    if (family_opts_check(&o.fam, opts, nopts, o.model)) return CLI_EXIT_USAGE;
    int transformer = o.fam.kind == FAMILY_TRANSFORMER;
    if (o.fam.kind && !transformer)
        return cli_fail("predict runs PyTorch's recurrent modules and its TransformerEncoder; "
                        "--model %s has no PyTorch module to read", o.model);
    if (!transformer && cli_parse_cell(o.model, &cell)) return CLI_EXIT_USAGE;
    for (int i = 0; i < nopts && !transformer; i++)
        if (opts[i].given && !strcmp(opts[i].name, "--norm-first"))
            return cli_fail("%s applies to --model transformer; drop it", opts[i].name);
    o.proj_given = cli_find(opts, nopts, "--proj-size")->given;
    o.no_bias_given = cli_find(opts, nopts, "--no-bias")->given;
    if (transformer && (o.proj_given || o.no_bias_given))
        return cli_fail("%s is an option of PyTorch's recurrent modules; --model transformer "
                        "has none: drop it", o.proj_given ? "--proj-size" : "--no-bias");
    mn_cell_info ci;
    if (o.proj_given && !cli_cell_has_projection(cell) && mn_cell_describe(cell, &ci) == MN_OK)
        return cli_fail("--proj-size is an LSTM's (nn.LSTM(proj_size=P)); nn.%s has no "
                        "projection: drop it or use --model lstm", ci.family);
    if (o.proj_given && o.proj >= o.hidden)
        return cli_fail("--proj-size %d must be below --hidden %d, as PyTorch requires "
                        "(proj_size < hidden_size)", o.proj, o.hidden);
    if (!transformer && !cli_find(opts, nopts, "--input-size")->given)
        return cli_fail("--input-size I is required: the features per step of the input");
    if (transformer && cli_find(opts, nopts, "--input-size")->given && o.input_size != o.hidden)
        return cli_fail("a Transformer reads --hidden %d features per step; drop --input-size "
                        "%d", o.hidden, o.input_size);
    if (transformer && o.bidir)
        return cli_fail("--bidirectional is a recurrent stack's; a Transformer attends both ways "
                        "unless --causal: drop it");
    if (o.stream) {
        if (transformer)
            return cli_fail("--stream runs recurrent stacks and mnemo model files; for a "
                            "Transformer, train it with causal attention and stream its file "
                            "with --load");
        if (o.bidir)
            return cli_fail("--stream: a bidirectional module reads each sequence from its "
                            "end, which a stream has not seen yet; stream a unidirectional one");
        cli_set_threads(o.threads);
        return run(&o, cell);
    }
    if ((rc = check_output(&o))) return rc;
    cli_json_arm(o.json);
    cli_set_threads(o.threads);
    return transformer ? run_transformer(&o) : run(&o, cell);
}
