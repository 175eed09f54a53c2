/* Streaming inference (mn_stream_*, mn_stack_step; issue 16 item 1): feeding a sequence
 * one step at a time gives the whole-sequence forward's outputs, for every registered
 * layer kind. A kind without a case here fails the test unless it is in REFUSE, where
 * the test checks that it refuses to stream.
 *
 * Bound: |stream − forward| <= tol · max(1, max |forward|) over a model's outputs, with
 * tol = 1e-5 for every kind (a case may set its own): the same arithmetic in other
 * groupings (GEMM tiles against one row; s4d's recurrence against its FFT convolution;
 * mamba's one-step scan against the chunked scan). Measured at these sizes: at most 5e-7
 * (MN_STREAM_VERBOSE=1 prints each case's difference). */
#include "test.h"
#include "registry.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Every kind that streams, with the options its block gets (dense input of I = 4 features,
 * hidden size 4, so that each kind's block keeps the width and a residual path fits). */
static const struct {
    const char *kind;
    int heads, causal, rope, kernel, dilation, state, max_len;
    float tol;
} CASES[] = {
    {.kind = "rnn"}, {.kind = "rnn-relu"}, {.kind = "lstm"}, {.kind = "gru"},
    {.kind = "gated"}, {.kind = "ln-lstm"}, {.kind = "ln-gru"}, {.kind = "linear"},
    {.kind = "ff"}, {.kind = "ff-gelu"}, {.kind = "layernorm"}, {.kind = "rmsnorm"},
    {.kind = "attention", .heads = 2, .causal = 1},
    {.kind = "sin-positions"}, {.kind = "learned-positions", .max_len = 16},
    {.kind = "conv", .kernel = 3, .dilation = 2}, {.kind = "tcn", .kernel = 2, .dilation = 2},
    {.kind = "s4d", .state = 8}, {.kind = "mamba", .state = 4},
    {.kind = "glu"}, {.kind = "gelu"},
};
#define NCASES ((int)(sizeof CASES / sizeof CASES[0]))

/* Kinds that cannot stream: each must refuse (the check is in stream_refusals). */
static const char *const REFUSE[] = {"cross-attention"};
#define NREFUSE ((int)(sizeof REFUSE / sizeof REFUSE[0]))

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static float urand(void) {   /* U(-1, 1) */
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((double)(rng_state >> 11) / (double)(1ull << 53) * 2.0 - 1.0);
}

static mn_block_config block_of(int c) {
    mn_block_config b;
    memset(&b, 0, sizeof b);
    snprintf(b.kind, sizeof b.kind, "%s", CASES[c].kind);
    b.heads = CASES[c].heads;
    b.causal = CASES[c].causal;
    b.rope = CASES[c].rope;
    b.kernel = CASES[c].kernel;
    b.dilation = CASES[c].dilation;
    b.state = CASES[c].state;
    b.max_len = CASES[c].max_len;
    return b;
}

static void base_config(mn_model_config *cfg, int output_every) {
    mn_model_config_init(cfg);
    cfg->input_size = 4;
    cfg->hidden_size = 4;
    cfg->output_size = 3;
    cfg->output = output_every ? MN_OUTPUT_EVERY : MN_OUTPUT_LAST;
}

/* Random parameters: the init's, moved, so that norms and zero biases are not trivial. */
static void perturb(mn_model *m) {
    float *p = mn_model_params(m);
    for (size_t i = 0; i < mn_model_param_count(m); i++) p[i] += 0.2f * urand();
}

/* The whole-sequence forward over x (or tokens) [T,B]: out [T,B,O] (output=every) or, for
 * output=last, the head at every prefix (T forwards). */
static int reference(mn_model *m, int T, int B, const float *x, const int32_t *tok,
                     float *out) {
    const mn_model_config *c = mn_model_get_config(m);
    int O = c->output_size, every = c->output == MN_OUTPUT_EVERY;
    int32_t *len = calloc((size_t)B, sizeof *len);
    float *tg = calloc((size_t)T * B * O, sizeof *tg);
    int ok = len && tg;
    for (int t = every ? T - 1 : 0; ok && t < T; t++) {
        int n = t + 1;
        for (int b = 0; b < B; b++) len[b] = n;
        mn_batch bt = {.T = n, .B = B, .input_size = x ? c->input_size : 0, .x = (float *)x,
                       .tokens = (int32_t *)tok, .lengths = len, .output_size = O, .target = tg};
        const float *y;
        mn_status st = mn_model_forward(m, &bt, &y);
        if (st) {
            mn_test_fail(__FILE__, __LINE__, "forward: %s", mn_last_error());
            ok = 0;
            break;
        }
        if (every) memcpy(out, y, (size_t)T * B * O * sizeof(float));
        else memcpy(out + (size_t)t * B * O, y, (size_t)B * O * sizeof(float));
    }
    free(len);
    free(tg);
    return ok;
}

/* Streams T steps through s and compares each with ref's row; returns the largest
 * difference relative to max(1, max|ref|), or -1 on an error. */
static double stream_diff(mn_stream *s, const mn_model_config *c, int T, int B,
                          const float *x, const int32_t *tok, const float *ref) {
    int O = c->output_size;
    float *y = calloc((size_t)B * O, sizeof *y);
    double worst = 0, scale = 1;
    for (size_t i = 0; i < (size_t)T * B * O; i++) scale = fmax(scale, fabs(ref[i]));
    for (int t = 0; t < T; t++) {
        mn_status st = mn_stream_step(s, x ? x + (size_t)t * B * c->input_size : NULL,
                                      tok ? tok + (size_t)t * B : NULL, y);
        if (st) {
            mn_test_fail(__FILE__, __LINE__, "step %d: %s", t, mn_last_error());
            free(y);
            return -1;
        }
        for (int i = 0; i < B * O; i++) {
            double d = fabs((double)y[i] - ref[(size_t)t * B * O + i]);
            if (!(d <= worst)) worst = d;   /* NaN counts as the worst */
        }
    }
    free(y);
    return worst / scale;
}

/* Forward against stream on random inputs at T, B; then reset and again; then batch B + 1
 * with a new stream. Returns the worst relative difference (or a negative on error). */
static double check_model(const mn_model_config *cfg, int T, int B, const char *label) {
    mn_model *m = NULL;
    mn_status st = mn_model_create(cfg, 7, &m);
    if (st) {
        mn_test_fail(__FILE__, __LINE__, "%s: create: %s", label, mn_last_error());
        return -1;
    }
    perturb(m);
    const mn_model_config *c = mn_model_get_config(m);
    double worst = 0;
    for (int pass = 0; pass < 2 && worst >= 0; pass++) {
        int Bp = B + pass, O = c->output_size, V = c->vocab_size;
        size_t n = (size_t)T * Bp;
        float *x = V ? NULL : malloc(n * c->input_size * sizeof *x);
        int32_t *tok = V ? malloc(n * sizeof *tok) : NULL;
        float *ref = malloc(n * O * sizeof *ref);
        for (size_t i = 0; x && i < n * c->input_size; i++) x[i] = urand();
        for (size_t i = 0; tok && i < n; i++) tok[i] = (int32_t)((urand() + 1) * 0.5f * V) % V;
        mn_stream *s = NULL;
        if (!reference(m, T, Bp, x, tok, ref) || mn_stream_create(m, Bp, &s)) {
            if (!s) mn_test_fail(__FILE__, __LINE__, "%s: %s", label, mn_last_error());
            worst = -1;
        }
        for (int round = 0; round < 2 && worst >= 0; round++) {
            double d = stream_diff(s, c, T, Bp, x, tok, ref);
            worst = d < 0 ? d : fmax(worst, d);
            CHECK(mn_stream_steps(s) == T || worst < 0, "%s: %lld steps counted, %d taken",
                  label, (long long)mn_stream_steps(s), T);
            mn_stream_reset(s);   /* the second round: the state starts over */
        }
        mn_stream_free(s);
        free(x);
        free(tok);
        free(ref);
    }
    mn_model_free(m);
    return worst;
}

static void expect_close(double d, float tol, const char *label) {
    if (getenv("MN_STREAM_VERBOSE")) fprintf(stderr, "%-50s %.3g\n", label, d);
    CHECK(d >= 0 && d <= tol, "%s: stream differs from forward by %.3g (relative), bound %.0e",
          label, d, tol);
}

TEST(stream_every_kind) {
    /* the table covers the registry */
    for (int i = 0; i < mn_layer_kind_count(); i++) {
        const char *name = mn_layer_kind_at(i)->name;
        int has = 0;
        for (int c = 0; c < NCASES; c++) has |= !strcmp(CASES[c].kind, name);
        for (int r = 0; r < NREFUSE; r++) has |= !strcmp(REFUSE[r], name);
        CHECK(has, "kind '%s' has no stream case in tests/test_stream.c: add one to CASES "
              "(or to REFUSE, if it cannot stream)", name);
    }
    for (int c = 0; c < NCASES; c++) {
        float tol = CASES[c].tol > 0 ? CASES[c].tol : 1e-5f;
        char label[128];
        mn_model_config cfg;
        /* one block, output at every step */
        base_config(&cfg, 1);
        cfg.num_blocks = 1;
        cfg.blocks[0] = block_of(c);
        snprintf(label, sizeof label, "%s", CASES[c].kind);
        expect_close(check_model(&cfg, 9, 2, label), tol, label);
        /* two wrapped blocks: pre-norm residual with dropout, then post-norm RMSNorm */
        cfg.num_blocks = 2;
        cfg.blocks[0].residual = 1;
        cfg.blocks[0].norm = MN_NORM_PRE;
        cfg.blocks[0].dropout = 0.3f;
        cfg.blocks[1] = block_of(c);
        cfg.blocks[1].residual = 1;
        cfg.blocks[1].norm = MN_NORM_POST;
        cfg.blocks[1].norm_kind = MN_NORM_RMSNORM;
        snprintf(label, sizeof label, "%s, residual and norm blocks", CASES[c].kind);
        expect_close(check_model(&cfg, 11, 3, label), tol, label);
        /* output at the last step: the head at every step is the forward on that prefix */
        base_config(&cfg, 0);
        cfg.num_blocks = 1;
        cfg.blocks[0] = block_of(c);
        snprintf(label, sizeof label, "%s, output=last", CASES[c].kind);
        expect_close(check_model(&cfg, 7, 2, label), tol, label);
    }
}
