/* mnemo predict --stream (see predict_stream.h). Inputs:
 *   a .npy file: float32 [T, I] (one sequence) or [T, B, I]; for a model of tokens int32
 *     [T] or [T, B];
 *   "-": raw frames on standard input, one sequence: I little-endian float32 values per
 *     frame (one little-endian int32 token for a model of tokens).
 * Output per frame: B·O values (sequence-major), as one text line of %.9g values or, with
 * --raw, as B·O little-endian float32. A partial frame at the end of the input is an
 * error (exit 2) after the complete frames' outputs. A NaN or Inf in a frame goes through
 * as through PyTorch (as predict's whole-sequence pass), with one warning on stderr. */
#include "predict_stream.h"
#include "args.h"
#include "common.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* One step of whatever is streamed: y [B,O] from x [B,I] (or tokens [B]). */
typedef mn_status (*step_fn)(void *ctx, const float *x, const int32_t *tok, int B, float *y);

typedef struct {
    const char *input;
    int I, O, tokens, raw;   /* tokens: frames are int32 tokens, one per sequence */
    int warned;              /* a NaN or Inf in the input was reported (once) */
    void *ctx;
    step_fn step;
    /* the model: its stream is made once B is known */
    mn_model *m;
    mn_stream *s;
} streamer;

static int little_endian(void) {
    const uint16_t one = 1;
    return *(const uint8_t *)&one == 1;
}

static void swap4(void *p, size_t n) {   /* 4-byte words to and from little-endian */
    uint8_t *b = p;
    for (size_t i = 0; !little_endian() && i < n; i++, b += 4) {
        uint8_t t0 = b[0], t1 = b[1];
        b[0] = b[3], b[1] = b[2], b[2] = t1, b[3] = t0;
    }
}

static int write_frame(const streamer *st, float *y, int B) {
    size_t n = (size_t)B * st->O;
    if (st->raw) {
        swap4(y, n);
        if (fwrite(y, sizeof(float), n, stdout) != n) goto fail;
    } else {
        for (size_t i = 0; i < n; i++)
            if (printf("%s%.9g", i ? " " : "", (double)y[i]) < 0) goto fail;
        if (putchar('\n') == EOF) goto fail;
    }
    if (fflush(stdout) == 0) return 0;
fail:
    return cli_fail_code(CLI_EXIT_RUNTIME, "--stream: writing the output failed (%s)",
                         strerror(errno));
}

/* frame t (from 0): its step, then its output */
static int step_frame(streamer *st, long long t, const float *x, const int32_t *tok, int B,
                      float *y) {
    if (x && !st->warned) st->warned = cli_warn_nonfinite("--input", x, 1, B, st->I, NULL, t);
    mn_status s = st->step(st->ctx, x, tok, B, y);
    return s ? cli_lib_fail(s, "--stream") : write_frame(st, y, B);
}

/* Raw frames from standard input, one sequence. */
static int from_stdin(streamer *st) {
    size_t bytes = st->tokens ? sizeof(int32_t) : (size_t)st->I * sizeof(float);
    void *frame = malloc(bytes);
    float *y = malloc((size_t)st->O * sizeof *y);
    int rc = 0;
    if (!frame || !y) rc = cli_fail_code(CLI_EXIT_RUNTIME, "out of memory");
    for (long long t = 0; !rc; t++) {
        size_t got = fread(frame, 1, bytes, stdin);
        if (got == 0 && feof(stdin)) break;   /* no frames in, none out, as any filter */
        if (got < bytes) {
            if (ferror(stdin))
                rc = cli_fail_code(CLI_EXIT_RUNTIME, "--input -: reading standard input "
                                   "failed (%s)", strerror(errno));
            else if (st->tokens)
                rc = cli_fail("--input -: the input ended %zu bytes into frame %lld (from 0), "
                              "after %lld whole frames; each frame is %zu bytes, one "
                              "little-endian int32 token", got, t, t, bytes);
            else
                rc = cli_fail("--input -: the input ended %zu bytes into frame %lld (from 0), "
                              "after %lld whole frames; each frame is %zu bytes, %d "
                              "little-endian float32 values, the model's input width", got, t,
                              t, bytes, st->I);
            break;
        }
        swap4(frame, bytes / 4);
        rc = step_frame(st, t, st->tokens ? NULL : frame, st->tokens ? frame : NULL, 1, y);
    }
    free(frame);
    free(y);
    return rc;
}

/* A .npy file: every frame of it. */
static int from_file(streamer *st) {
    mn_array a = {0};
    mn_status s = mn_array_load(st->input, &a);
    if (s) return cli_lib_fail(s, "--input");
    int rc = 0, want = st->tokens ? MN_ARRAY_I32 : MN_ARRAY_F32;
    int frame_dims = st->tokens ? 0 : 1;   /* the feature axis */
    int64_t T = a.ndim > 0 ? a.shape[0] : 0;
    int64_t B = a.ndim == 2 + frame_dims ? a.shape[1] : 1;
    if ((int)a.dtype != want || (a.ndim != 1 + frame_dims && a.ndim != 2 + frame_dims) ||
        (!st->tokens && a.shape[a.ndim - 1] != st->I))
        rc = st->tokens
             ? cli_fail("--input \"%s\": the model reads tokens, so the input must be int32 "
                        "[T] or [T, B]", st->input)
             : cli_fail("--input \"%s\": the input must be float32 [T, %d] or [T, B, %d] "
                        "(%d features per step)", st->input, st->I, st->I, st->I);
    else if (T < 1 || B < 1 || B > (1 << 24) || T * B > INT32_MAX)
        rc = cli_fail("--input \"%s\": %lld steps of %lld sequences; --stream needs at least "
                      "one step and at most 2^24 sequences", st->input, (long long)T,
                      (long long)B);
    float *y = rc ? NULL : malloc((size_t)B * st->O * sizeof *y);
    if (!rc && !y) rc = cli_fail_code(CLI_EXIT_RUNTIME, "out of memory");
    size_t frame = (size_t)B * (st->tokens ? 1 : st->I);
    for (int64_t t = 0; t < T && !rc; t++)
        rc = step_frame(st, t, st->tokens ? NULL : (const float *)a.data + t * frame,
                        st->tokens ? (const int32_t *)a.data + t * frame : NULL, (int)B, y);
    free(y);
    mn_array_free(&a);
    return rc;
}

static int run_stream(streamer *st) {
    return strcmp(st->input, "-") ? from_file(st) : from_stdin(st);
}

/* ------------------------------------------------------------ the two sources */

static mn_status stack_step(void *ctx, const float *x, const int32_t *tok, int B, float *y) {
    (void)tok;
    return mn_stack_step(ctx, x, B, y);
}

int predict_stream_stack(mn_stack *s, const char *input, int raw) {
    streamer st = {.input = input, .I = mn_stack_get_config(s)->input_size,
                   .O = mn_stack_output_size(s), .raw = raw, .ctx = s, .step = stack_step};
    if (mn_stack_get_config(s)->bidirectional)
        return cli_fail("--stream: a bidirectional module reads each sequence from its end, "
                        "which a stream has not seen yet; stream a unidirectional one");
    return run_stream(&st);
}

static mn_status model_step(void *ctx, const float *x, const int32_t *tok, int B, float *y) {
    streamer *st = ctx;
    mn_status s;
    if (!st->s && (s = mn_stream_create(st->m, B, &st->s))) return s;
    return mn_stream_step(st->s, x, tok, y);
}

int predict_stream_model(const char *path, const char *input, int raw) {
    mn_model *m = NULL;
    mn_status s = mn_model_load(path, &m);
    if (s) return cli_lib_fail(s, "--load");
    cli_warn_nonfinite_params(m, path);
    const mn_model_config *c = mn_model_get_config(m);
    streamer st = {.input = input, .I = c->input_size, .O = c->output_size,
                   .tokens = c->vocab_size > 0, .raw = raw, .m = m, .step = model_step};
    st.ctx = &st;
    /* refused before any input is read: a model that cannot stream */
    mn_stream *probe = NULL;
    int rc = (s = mn_stream_create(m, 1, &probe)) ? cli_lib_fail(s, "--load") : 0;
    mn_stream_free(probe);
    if (!rc) rc = run_stream(&st);
    mn_stream_free(st.s);
    mn_model_free(m);
    return rc;
}
