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
#include "recurrent.h"
#include "model.h"
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
    int ok = len != NULL;
    for (int t = every ? T - 1 : 0; ok && t < T; t++) {
        int n = t + 1;
        for (int b = 0; b < B; b++) len[b] = n;
        /* no targets: a forward for predictions reads none */
        mn_batch bt = {.T = n, .B = B, .input_size = x ? c->input_size : 0, .x = (float *)x,
                       .tokens = (int32_t *)tok, .lengths = len};
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
    return ok;
}

/* mn_model_forward with targets or labels and without (NULL, output_size 0), even with
 * labels no class has: the same outputs, bit for bit. */
TEST(model_forward_reads_no_targets) {
    enum { T = 5, B = 2 };
    for (int every = 0; every <= 1; every++) {
        mn_model_config cfg;
        base_config(&cfg, every);
        cfg.loss = every ? MN_LOSS_MSE : MN_LOSS_CE;
        mn_model *m = NULL;
        REQUIRE_OK(mn_model_create(&cfg, 1, &m));
        perturb(m);
        float x[T * B * 4], tg[T * B * 3] = {0}, out[T * B * 3];
        int32_t len[B] = {T, 3}, lb[T * B] = {0};
        for (int i = 0; i < T * B * 4; i++) x[i] = urand();
        mn_batch full = {.T = T, .B = B, .input_size = 4, .x = x, .lengths = len,
                         .output_size = 3, .target = tg, .labels = lb};
        const float *y;
        size_t n = (size_t)(every ? T : 1) * B * 3;
        REQUIRE_OK(mn_model_forward(m, &full, &y));
        memcpy(out, y, n * sizeof(float));
        lb[0] = 999;   /* not read without targets */
        mn_batch bare = {.T = T, .B = B, .input_size = 4, .x = x, .lengths = len,
                         .labels = every ? NULL : lb};
        CHECK_OK(mn_model_forward(m, &bare, &y));
        CHECK(!memcmp(out, y, n * sizeof(float)), "output=%s: the outputs without targets "
              "differ", every ? "every" : "last");
        mn_model_free(m);
    }
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

/* Blocks of the brief's shapes: token inputs with each kind of positions, stacks of
 * several kinds, a TCN with growing dilations, an LSTM with a projection. */
TEST(stream_models) {
    mn_model_config cfg;
    mn_block_config *b = cfg.blocks;
    /* tokens, sin positions, causal attention with RoPE, feed-forward, GRU */
    base_config(&cfg, 1);
    cfg.input_size = 0;
    cfg.vocab_size = 7;
    cfg.hidden_size = 8;
    cfg.num_blocks = 4;
    snprintf(b[0].kind, sizeof b[0].kind, "sin-positions");
    snprintf(b[1].kind, sizeof b[1].kind, "attention");
    b[1].heads = 2, b[1].causal = 1, b[1].rope = 1, b[1].residual = 1, b[1].norm = MN_NORM_PRE;
    snprintf(b[2].kind, sizeof b[2].kind, "ff");
    b[2].width = 16, b[2].residual = 1, b[2].norm = MN_NORM_PRE;
    snprintf(b[3].kind, sizeof b[3].kind, "gru");
    expect_close(check_model(&cfg, 12, 3, "tokens, sin positions, rope attention"), 1e-5f,
                 "tokens, sin positions, rope attention");
    /* tokens, learned positions, two causal attention blocks, cross-entropy at the end */
    memset(b, 0, 4 * sizeof *b);
    cfg.num_blocks = 3;
    cfg.loss = MN_LOSS_CE;
    snprintf(b[0].kind, sizeof b[0].kind, "learned-positions");
    b[0].max_len = 12;
    for (int k = 1; k < 3; k++) {
        snprintf(b[k].kind, sizeof b[k].kind, "attention");
        b[k].heads = 4, b[k].causal = 1, b[k].residual = 1, b[k].norm = MN_NORM_POST;
    }
    expect_close(check_model(&cfg, 12, 2, "tokens, learned positions"), 1e-5f,
                 "tokens, learned positions");
    /* a stack of many kinds on dense input */
    base_config(&cfg, 1);
    cfg.hidden_size = 6;
    memset(b, 0, 8 * sizeof *b);
    const char *kinds[] = {"lstm", "conv", "s4d", "mamba", "ln-gru", "glu", "rmsnorm", "linear"};
    cfg.num_blocks = 8;
    for (int k = 0; k < 8; k++) snprintf(b[k].kind, sizeof b[k].kind, "%s", kinds[k]);
    b[1].kernel = 4, b[1].dilation = 2, b[2].state = 4, b[3].state = 2;
    expect_close(check_model(&cfg, 10, 2, "a stack of eight kinds"), 1e-5f,
                 "a stack of eight kinds");
    /* a TCN with dilations 1, 2, 4 */
    memset(b, 0, 8 * sizeof *b);
    cfg.num_blocks = 3;
    for (int k = 0; k < 3; k++) {
        snprintf(b[k].kind, sizeof b[k].kind, "tcn");
        b[k].kernel = 3, b[k].dilation = 1 << k;
    }
    expect_close(check_model(&cfg, 12, 2, "TCN, dilations 1, 2, 4"), 1e-5f,
                 "TCN, dilations 1, 2, 4");
    /* a plain two-layer LSTM with a projection, and without biases */
    memset(b, 0, 3 * sizeof *b);
    cfg.num_blocks = 2;
    for (int k = 0; k < 2; k++) {
        snprintf(b[k].kind, sizeof b[k].kind, "lstm");
        b[k].width = 7, b[k].proj = 3, b[k].no_bias = 1;
    }
    expect_close(check_model(&cfg, 9, 3, "LSTM with proj"), 1e-5f, "LSTM with proj");
    cfg.output = MN_OUTPUT_LAST;
    expect_close(check_model(&cfg, 9, 3, "LSTM with proj, output=last"), 1e-5f,
                 "LSTM with proj, output=last");
    /* on 2 threads a step of a few sequences is split by units between the threads
     * (recurrent_split.c): both products and the cells */
    base_config(&cfg, 1);
    cfg.input_size = cfg.hidden_size = 256;
    memset(b, 0, 3 * sizeof *b);
    cfg.num_blocks = 2;
    snprintf(b[0].kind, sizeof b[0].kind, "gru");
    snprintf(b[1].kind, sizeof b[1].kind, "lstm");
    mn_set_threads(2);
    mn_split_choice_policy = MN_SPLIT_ALWAYS;
    expect_close(check_model(&cfg, 6, 2, "GRU and LSTM 256, split steps"), 1e-5f,
                 "GRU and LSTM 256, split steps");
    /* split steps and steps on one thread in turn (the choice's test policy); step 0
     * always runs on one */
    mn_split_choice_policy = MN_SPLIT_ALTERNATE;
    expect_close(check_model(&cfg, 10, 2, "split steps taking turns with one thread"), 1e-5f,
                 "split steps taking turns with one thread");
    mn_split_choice_policy = MN_SPLIT_MEASURE;
    mn_set_threads(0);
}

/* The model's stream refuses what cannot stream, naming the block and kind; and a pass in
 * between, a wrong input or a failed step stop it until a reset. */
TEST(stream_refusals) {
    mn_model_config cfg;
    mn_model *m = NULL;
    mn_stream *s = NULL;
    struct { const char *kind; int bidir, causal; } bad[] = {
        {"lstm", 1, 0}, {"gru", 1, 0}, {"ln-lstm", 1, 0}, {"attention", 0, 0},
        {"cross-attention", 0, 0},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        base_config(&cfg, 1);
        cfg.num_blocks = 2;
        snprintf(cfg.blocks[0].kind, sizeof cfg.blocks[0].kind, "linear");
        snprintf(cfg.blocks[1].kind, sizeof cfg.blocks[1].kind, "%s", bad[i].kind);
        cfg.blocks[1].bidirectional = bad[i].bidir;
        cfg.blocks[1].residual = 1;
        cfg.blocks[1].norm = MN_NORM_PRE;
        cfg.blocks[1].width = 2;   /* bidirectional: 2·2 = 4 features, as the residual needs */
        if (!cfg.blocks[1].bidirectional) cfg.blocks[1].width = 0;
        REQUIRE_OK(mn_model_create(&cfg, 1, &m));
        mn_status st = mn_stream_create(m, 2, &s);
        CHECK(st == MN_E_ARG && !s && strstr(mn_last_error(), "block 1") &&
              strstr(mn_last_error(), bad[i].kind), "%s%s: %d, '%s'", bad[i].kind,
              bad[i].bidir ? " bidirectional" : "", (int)st, mn_last_error());
        mn_model_free(m);
    }
    /* every kind in REFUSE has no step op */
    for (int r = 0; r < NREFUSE; r++) {
        mn_block_config b;
        memset(&b, 0, sizeof b);
        snprintf(b.kind, sizeof b.kind, "%s", REFUSE[r]);
        b.width = 4;
        const mn_layer_kind *k = mn_layer_kind_find(REFUSE[r]);
        REQUIRE(k, "REFUSE names '%s', which is not registered", REFUSE[r]);
        mn_layer *l = k->create(&b, 4, 0);
        REQUIRE(l, "%s: %s", REFUSE[r], mn_last_error());
        float x[8] = {0}, y[8];
        CHECK(!l->ops->step && mn_layer_step(l, x, y, 2, 0) == MN_E_ARG, "%s steps", REFUSE[r]);
        mn_layer_destroy(l);
    }

    /* a dense model: wrong inputs, a forward in between, training mode */
    base_config(&cfg, 1);
    cfg.num_blocks = 1;
    snprintf(cfg.blocks[0].kind, sizeof cfg.blocks[0].kind, "lstm");
    REQUIRE_OK(mn_model_create(&cfg, 1, &m));
    CHECK(mn_stream_create(m, 0, &s) == MN_E_ARG && !s, "batch 0");
    REQUIRE_OK(mn_stream_create(m, 2, &s));
    float x[8] = {0.5f, -1, 2, 0, 1, 1, -1, 0.25f}, y[6], y0[6];
    int32_t tok[2] = {1, 2};
    CHECK(mn_stream_step(s, NULL, tok, y) == MN_E_ARG, "tokens to a dense model");
    CHECK(mn_stream_step(s, x, tok, y) == MN_E_ARG, "both inputs");
    REQUIRE_OK(mn_stream_step(s, x, NULL, y0));
    int32_t len[2] = {1, 1};
    float tg[6] = {0};
    mn_batch bt = {.T = 1, .B = 2, .input_size = 4, .x = x, .lengths = len, .output_size = 3,
                   .target = tg};
    REQUIRE_OK(mn_model_forward(m, &bt, NULL));
    CHECK(mn_stream_step(s, x, NULL, y) == MN_E_STATE && strstr(mn_last_error(), "reset"),
          "a step after a forward: '%s'", mn_last_error());
    mn_stream_reset(s);
    REQUIRE_OK(mn_stream_step(s, x, NULL, y));
    CHECK(!memcmp(y, y0, sizeof y), "step 0 after the reset differs from the first step 0");
    mn_model_set_training(m, 1, 3);
    CHECK(mn_stream_step(s, x, NULL, y) == MN_E_STATE, "a step in training mode");
    mn_model_set_training(m, 0, 0);
    CHECK_OK(mn_stream_step(s, x, NULL, y));
    CHECK(mn_stream_steps(s) == 2, "%lld steps", (long long)mn_stream_steps(s));
    /* two streams on one model: the second one's step stops the first */
    mn_stream *s2 = NULL;
    REQUIRE_OK(mn_stream_create(m, 1, &s2));
    CHECK_OK(mn_stream_step(s2, x, NULL, y));
    CHECK(mn_stream_step(s, x, NULL, y) == MN_E_STATE, "a step after another stream's");
    mn_stream_free(s2);
    mn_stream_free(s);
    mn_stream_free(NULL);
    mn_model_free(m);

    /* tokens outside the vocabulary; a learned table too short */
    base_config(&cfg, 0);
    cfg.input_size = 0;
    cfg.vocab_size = 5;
    cfg.num_blocks = 1;
    snprintf(cfg.blocks[0].kind, sizeof cfg.blocks[0].kind, "learned-positions");
    cfg.blocks[0].max_len = 2;
    REQUIRE_OK(mn_model_create(&cfg, 1, &m));
    REQUIRE_OK(mn_stream_create(m, 2, &s));
    int32_t out[2] = {1, 5};
    CHECK(mn_stream_step(s, NULL, out, y) == MN_E_INPUT && strstr(mn_last_error(), "token 5"),
          "token 5 of 5: '%s'", mn_last_error());
    CHECK_OK(mn_stream_step(s, NULL, tok, y));
    CHECK_OK(mn_stream_step(s, NULL, tok, y));
    CHECK(mn_stream_step(s, NULL, tok, y) == MN_E_ARG && strstr(mn_last_error(), "max-len"),
          "step 2 of a 2-row table: '%s'", mn_last_error());
    CHECK(mn_stream_step(s, NULL, tok, y) == MN_E_STATE, "a step after a failed one");
    mn_stream_reset(s);
    CHECK_OK(mn_stream_step(s, NULL, tok, y));
    mn_stream_free(s);
    mn_model_free(m);
}

/* mn_stack_step against mn_stack_forward and PyTorch's outputs of the predict fixtures,
 * and a two-layer stack written by mnemo (the buffers between layers). */
static void check_stack(const char *path, const float *x, const float *torch_y, int T, int B,
                        const char *label) {
    mn_stack_config c;
    mn_stack *s = NULL;
    if (mn_stack_probe_torch(path, &c) || mn_stack_load_torch(path, &c, &s)) {
        mn_test_fail(__FILE__, __LINE__, "%s: %s", label, mn_last_error());
        return;
    }
    int O = mn_stack_output_size(s), I = c.input_size;
    size_t n = (size_t)T * B * O;
    float *ref = malloc(n * sizeof *ref), *y = malloc((size_t)B * O * sizeof *y);
    if (!mn_stack_forward(s, x, T, B, NULL, ref)) {
        double scale = 1, worst = 0, wt = 0;
        for (size_t i = 0; i < n; i++) scale = fmax(scale, fabs(ref[i]));
        for (int round = 0; round < 2; round++) {
            for (int t = 0; t < T; t++) {
                if (mn_stack_step(s, x + (size_t)t * B * I, B, y)) {
                    mn_test_fail(__FILE__, __LINE__, "%s: step %d: %s", label, t, mn_last_error());
                    break;
                }
                for (int i = 0; i < B * O; i++) {
                    size_t at = (size_t)t * B * O + i;
                    double d = fabs((double)y[i] - ref[at]);
                    if (!(d <= worst)) worst = d;
                    if (torch_y && !(fabs((double)y[i] - torch_y[at]) <= wt))
                        wt = fabs((double)y[i] - torch_y[at]);
                }
            }
            mn_stack_stream_reset(s);
        }
        expect_close(worst / scale, 1e-5f, label);
        if (torch_y) expect_close(wt / scale, 1e-5f, label);
        if (B > 1) {   /* another batch needs a reset; a forward resets too */
            CHECK_OK(mn_stack_step(s, x, B, y));
            CHECK(mn_stack_step(s, x, 1, y) == MN_E_ARG, "%s: a batch change", label);
            mn_stack_stream_reset(s);
            CHECK_OK(mn_stack_step(s, x, 1, y));
        }
    } else {
        mn_test_fail(__FILE__, __LINE__, "%s: forward: %s", label, mn_last_error());
    }
    free(ref);
    free(y);
    mn_stack_free(s);
}

TEST(stream_stack) {
    const char *names[] = {"lstm_l1", "gru_l1", "rnn_l1", "lstm_proj_l1", "lstm_nobias_l1"};
    char path[600];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        mn_array x = {0}, ty = {0};
        snprintf(path, sizeof path, "%s/predict/%s_x.npy", mn_test_fixture_dir(), names[i]);
        mn_status st = mn_array_load(path, &x);
        snprintf(path, sizeof path, "%s/predict/%s_y.npy", mn_test_fixture_dir(), names[i]);
        if (!st) st = mn_array_load(path, &ty);
        snprintf(path, sizeof path, "%s/predict/%s.safetensors", mn_test_fixture_dir(), names[i]);
        if (st || x.ndim != 3 || ty.ndim != 3)
            mn_test_fail(__FILE__, __LINE__, "%s: %s", names[i], mn_last_error());
        else
            check_stack(path, x.data, ty.data, (int)x.shape[0], (int)x.shape[1], names[i]);
        mn_array_free(&x);
        mn_array_free(&ty);
    }
    /* bidirectional: refused */
    mn_stack_config c;
    mn_stack *s = NULL;
    snprintf(path, sizeof path, "%s/predict/lstm_l2_bidir.safetensors", mn_test_fixture_dir());
    REQUIRE_OK(mn_stack_probe_torch(path, &c));
    REQUIRE_OK(mn_stack_load_torch(path, &c, &s));
    float x[64] = {0}, y[256];
    CHECK(mn_stack_step(s, x, 1, y) == MN_E_ARG && strstr(mn_last_error(), "bidirectional"),
          "a bidirectional stack streams: '%s'", mn_last_error());
    mn_stack_free(s);
    /* three GRU layers saved by mnemo ("rnn." names), read as a stack */
    mn_model_config cfg;
    base_config(&cfg, 1);
    cfg.cell = MN_GRU;
    cfg.num_layers = 3;
    cfg.hidden_size = 5;
    mn_model *m = NULL;
    char dir[512];
    REQUIRE(mn_test_tmpdir(dir, sizeof dir, "stream_stack"), "no scratch folder");
    snprintf(path, sizeof path, "%s/gru3.safetensors", dir);
    REQUIRE_OK(mn_model_create(&cfg, 3, &m));
    perturb(m);
    REQUIRE_OK(mn_model_save(m, path, NULL));
    mn_model_free(m);
    float xs[10 * 2 * 4];
    for (size_t i = 0; i < sizeof xs / sizeof xs[0]; i++) xs[i] = urand();
    check_stack(path, xs, NULL, 10, 2, "three GRU layers");
    remove(path);
    remove(dir);
}
