/* mnemo predict --load M without --stream (see predict_stream.h). */
#include "predict_stream.h"
#include "common.h"
#include "progress.h"

#include <stdint.h>
#include <stdlib.h>

/* --load M without --stream: a mnemo model file over the whole input at once, every
 * sequence from a zero state; its head's outputs [T, B, O] ([B, O] for an output=last
 * model; without the B axis when the input has none), what --stream gives frame by frame. */
int predict_model_whole(const char *load, const char *input, const char *output,
                        const char *lengths_path, int json) {
    mn_model *m = NULL;
    mn_array x = {0};
    int32_t *lengths = NULL;
    double t0 = cli_now();
    mn_status st = mn_model_load(load, &m);
    if (st) return cli_lib_fail(st, "--load");
    cli_warn_nonfinite_params(m, load);
    const mn_model_config *c = mn_model_get_config(m);
    int tokens = c->vocab_size > 0, rc = 0, feat = tokens ? 0 : 1;
    if (c->encoder_blocks > 0) {
        rc = cli_fail("--load \"%s\" is an encoder-decoder, which reads a source sequence "
                      "besides its input: use mnemo eval --load for it", load);
        goto done;
    }
    if ((st = mn_array_load(input, &x))) {
        rc = cli_lib_fail(st, "--input");
        goto done;
    }
    int batched = x.ndim == 2 + feat;
    if ((int)x.dtype != (tokens ? MN_ARRAY_I32 : MN_ARRAY_F32) ||
        (x.ndim != 1 + feat && !batched) || (!tokens && x.shape[x.ndim - 1] != c->input_size)) {
        rc = tokens ? cli_fail("--input \"%s\": the model reads tokens, so the input must be "
                               "int32 [T] or [T, B]", input)
                    : cli_fail("--input \"%s\": the input must be float32 [T, %d] or [T, B, "
                               "%d] (%d features per step)", input, c->input_size,
                               c->input_size, c->input_size);
        goto done;
    }
    int64_t T = x.shape[0], B = batched ? x.shape[1] : 1;
    if (T < 1 || B < 1 || T > CLI_MAX_LENGTH || B > (1 << 24) || T * B > INT32_MAX) {
        rc = cli_fail("--input \"%s\": %lld steps of %lld sequences; at least 1 and at most %d "
                      "steps, 2^24 sequences", input, (long long)T, (long long)B,
                      CLI_MAX_LENGTH);
        goto done;
    }
    if (!(lengths = malloc((size_t)B * sizeof *lengths))) {
        rc = cli_fail_code(CLI_EXIT_RUNTIME, "out of memory");
        goto done;
    }
    for (int64_t b = 0; b < B; b++) lengths[b] = (int32_t)T;
    if (lengths_path && (rc = cli_load_lengths(lengths_path, (int)T, (int)B, lengths)))
        goto done;
    if (!tokens) {
        char what[320];
        snprintf(what, sizeof what, "--input \"%s\"", input);
        cli_warn_nonfinite(what, (const float *)x.data, T, (int)B, c->input_size, lengths, 0);
    }
    mn_batch bt = {.T = (int)T, .B = (int)B, .input_size = tokens ? 0 : c->input_size,
                   .x = tokens ? NULL : x.data, .tokens = tokens ? x.data : NULL,
                   .lengths = lengths};
    const float *y;
    if ((st = mn_model_forward(m, &bt, &y))) {
        rc = cli_lib_fail(st, "forward pass");
        goto done;
    }
    int every = c->output == MN_OUTPUT_EVERY;
    int64_t shape[3] = {T, B, c->output_size}, *sh = every ? shape : shape + 1;
    int ndim = (every ? 3 : 2) - !batched;
    if (!batched) sh[every ? 1 : 0] = c->output_size;   /* drop the B axis (B = 1) */
    if ((st = mn_array_save(output, MN_ARRAY_F32, ndim, sh, y))) {
        rc = cli_lib_fail(st, "--output");
        goto done;
    }
    char xs[96], ys[96], dur[32];
    printf("mnemo predict: model %s (%zu parameters, output %s)\n", load,
           mn_model_param_count(m),
           every ? "at every step" : "at each sequence's last step");
    printf("  input   %s %s %s%s%s\n", input, tokens ? "int32" : "float32",
           cli_shape_str(xs, sizeof xs, x.shape, x.ndim), lengths_path ? ", lengths " : "",
           lengths_path ? lengths_path : "");
    printf("  output  %s float32 %s\n", output, cli_shape_str(ys, sizeof ys, sh, ndim));
    printf("  time    %s\n", fmt_duration(dur, sizeof dur, cli_now() - t0));
    if (json) {
        json_obj j;
        json_begin(&j, stdout);
        json_str(&j, "command", "predict");
        json_str(&j, "load", load);
        json_int(&j, "length", T);
        json_int(&j, "batch", B);
        json_int(&j, "output_size", c->output_size);
        json_bool(&j, "every", every);
        json_bool(&j, "lengths", lengths_path != NULL);
        json_end(&j);
    }
done:
    free(lengths);
    mn_array_free(&x);
    mn_model_free(m);
    return rc;
}
