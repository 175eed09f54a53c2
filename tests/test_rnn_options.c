/* PyTorch's recurrent options in mnemo (an LSTM's proj_size, bias=False) beyond what the
 * golden fixtures and gradient checks cover, and the recurrent layer's inference pass:
 *  - the pass in chunks (l->inference) gives the same outputs and final states as the
 *    training pass, holds less, and refuses a backward;
 *  - a projected LSTM's step_vjp chains to the ∂L/∂h_t that backward's probe measures;
 *  - the block options proj=P and nobias: parsing, the canonical form, refusals, PyTorch's
 *    names in a plain stack, what they change in mn_model_config_uses;
 *  - the memory estimates (model and bare stack) against the measured peak. */
#include "test.h"
#include "layer.h"
#include "layer_check.h"
#include "model.h"

#include <stdlib.h>
#include <string.h>

/* A layer and a copy with the same parameters, the copy running inference passes. */
typedef struct {
    mn_layer *train, *infer;
} pair;

static int pair_make(pair *p, mn_cell_kind cell, int I, int H, int bidir,
                     const mn_recurrent_opts *o, uint64_t seed) {
    p->train = mn_stack_layer_create_opts(cell, I, H, 0, bidir, o);
    p->infer = mn_stack_layer_create_opts(cell, I, H, 0, bidir, o);
    if (!p->train || !p->infer || !mn_check_alloc_params(p->train) ||
        !mn_check_alloc_params(p->infer))
        return 0;
    mn_rng r;
    mn_rng_seed(&r, seed);
    mn_check_randomize(p->train->params, p->train->param_count, &r, 0.6f);
    memcpy(p->infer->params, p->train->params, p->train->param_count * sizeof(float));
    p->infer->inference = 1;
    return 1;
}

static void pair_free(pair *p) {
    mn_check_free_layer(p->train);
    mn_check_free_layer(p->infer);
}

static int same(const float *a, const float *b, size_t n) { return !memcmp(a, b, n * sizeof *a); }

/* Outputs and final states of both passes, bit for bit: each row sees the same operations
 * (the chunked input product computes each row as the whole one does). B = 700 makes a
 * chunk 2 steps, so T = 7 runs 4 chunks, the last one short. Then a second pass carried
 * from the first one's state (streaming) agrees too. */
static void inference_matches(mn_cell_kind cell, int bidir, const mn_recurrent_opts *o,
                              int padded, const char *what) {
    enum { I = 3, H = 5, T = 7, B = 700 };
    pair p;
    REQUIRE(pair_make(&p, cell, I, H, bidir, o, 71), "%s: %s", what, mn_last_error());
    int O = p.train->out_size;
    size_t nx = (size_t)T * B * I, ny = (size_t)T * B * O;
    float *x = malloc(nx * sizeof *x), *y1 = malloc(ny * sizeof *y1), *y2 = malloc(ny * sizeof *y2);
    int32_t *len = malloc(B * sizeof *len);
    REQUIRE(x && y1 && y2 && len, "out of memory");
    mn_rng r;
    mn_rng_seed(&r, 5);
    mn_check_randomize(x, nx, &r, 1.0f);
    for (int b = 0; b < B; b++) len[b] = padded ? 1 + b % T : T;
    const int32_t *lengths = padded ? len : NULL;
    for (int pass = 0; pass < 2; pass++) {
        if (pass && bidir) break;   /* a bidirectional layer carries no state */
        for (int k = 0; k < 2; k++) {
            mn_layer *l = k ? p.infer : p.train;
            if (pass) CHECK_OK(l->ops->carry_state(l));
            else mn_layer_reset(l);
            CHECK_OK(l->ops->forward(l, x, k ? y2 : y1, T, B, lengths));
        }
        CHECK(same(y1, y2, ny), "%s%s: inference output differs", what, pass ? " (carried)" : "");
        mn_state_view v1[2], v2[2];
        int nd = mn_layer_state(p.train, v1);
        CHECK(mn_layer_state(p.infer, v2) == nd, "%s: state views", what);
        for (int d = 0; d < nd; d++) {
            CHECK(v1[d].H == v2[d].H && v1[d].Hc == v2[d].Hc && v1[d].H == (bidir ? O / 2 : O),
                  "%s: state widths %d/%d", what, v2[d].H, v2[d].Hc);
            CHECK(same(v1[d].hT, v2[d].hT, (size_t)B * v1[d].H), "%s: final h differs", what);
            CHECK(!v1[d].cT || same(v1[d].cT, v2[d].cT, (size_t)B * v1[d].Hc),
                  "%s: final c differs", what);
        }
    }
    CHECK(mn_layer_bytes(p.infer) < mn_layer_bytes(p.train),
          "%s: inference holds %zu bytes, training %zu", what, mn_layer_bytes(p.infer),
          mn_layer_bytes(p.train));
    mn_recurrent_view view;
    CHECK(!p.infer->ops->inspect(p.infer, &view), "%s: an inference pass offers a view", what);
    memset(x, 0, nx * sizeof *x);
    CHECK(p.infer->ops->backward(p.infer, y2, x, T, B, lengths) == MN_E_STATE &&
          strstr(mn_last_error(), "inference"), "%s: backward after inference: %s", what,
          mn_last_error());
    free(x);
    free(y1);
    free(y2);
    free(len);
    pair_free(&p);
}

TEST(rnn_options_inference_pass_matches_training_pass) {
    mn_recurrent_opts none = {0}, proj = {.proj = 2}, nobias = {.no_bias = 1};
    for (int cell = MN_RNN_TANH; cell <= MN_GATED_RESIDUAL; cell++) {
        char what[64];
        snprintf(what, sizeof what, "%s", mn_cell_name((mn_cell_kind)cell));
        inference_matches((mn_cell_kind)cell, 0, &none, 1, what);
        snprintf(what, sizeof what, "%s nobias bidirectional", mn_cell_name((mn_cell_kind)cell));
        inference_matches((mn_cell_kind)cell, 1, &nobias, 1, what);
    }
    inference_matches(MN_LSTM, 0, &proj, 0, "lstm proj");
    inference_matches(MN_LSTM, 0, &proj, 1, "lstm proj padded");
    inference_matches(MN_LSTM, 1, &proj, 1, "lstm proj bidirectional padded");
}

/* A long sequence in inference holds a chunk of steps, the training pass all of them. */
TEST(rnn_options_inference_pass_holds_a_chunk) {
    enum { I = 4, H = 16, T = 3000, B = 2 };
    pair p;
    REQUIRE(pair_make(&p, MN_LSTM, I, H, 0, NULL, 3), "%s", mn_last_error());
    size_t nx = (size_t)T * B * I, ny = (size_t)T * B * H;
    float *x = calloc(nx, sizeof *x), *y = malloc(ny * sizeof *y);
    REQUIRE(x && y, "out of memory");
    mn_layer_reset(p.infer);
    mn_layer_reset(p.train);
    CHECK_OK(p.infer->ops->forward(p.infer, x, y, T, B, NULL));
    CHECK_OK(p.train->ops->forward(p.train, x, y, T, B, NULL));
    /* 1024 steps of the chunk: act [4H] + h, c [H] per row; the training pass: 3000 */
    size_t chunk = (size_t)mn_recurrent_inference_steps(T, B) * B;
    CHECK(chunk == 2048, "chunk rows %zu", chunk);
    CHECK(mn_layer_bytes(p.infer) < (chunk + 64) * 6 * H * sizeof(float) + 65536,
          "inference holds %zu bytes", mn_layer_bytes(p.infer));
    CHECK(mn_layer_bytes(p.train) > (size_t)T * B * 6 * H * sizeof(float),
          "training holds %zu bytes", mn_layer_bytes(p.train));
    free(x);
    free(y);
    pair_free(&p);
}

/* probe_dh (backward's batch mean of ‖∂L/∂h_t‖) against step_vjp chained from the last
 * real step, with a projection: h is P wide and the state (h, c) P + H. */
TEST(rnn_options_proj_step_vjp_matches_probe) {
    enum { I = 3, H = 5, P = 2, T = 5, B = 3 };
    static const int32_t lengths[B] = {5, 2, 4};
    mn_recurrent_opts o = {.proj = P};
    mn_layer *l = mn_recurrent_create_opts(MN_LSTM, I, H, &o, "_l0");
    REQUIRE(l && mn_check_alloc_params(l), "%s", mn_last_error());
    mn_rng r;
    mn_rng_seed(&r, 23);
    mn_check_randomize(l->params, l->param_count, &r, 0.6f);
    float x[T * B * I], y[T * B * P], w[T * B * P], dx[T * B * I];
    mn_check_randomize(x, T * B * I, &r, 1.0f);
    mn_check_randomize(w, T * B * P, &r, 1.0f);
    double probe[T] = {0}, probe_c[T] = {0}, want[T] = {0};
    l->probe_dh = probe;
    l->probe_dc = probe_c;
    mn_layer_reset(l);
    REQUIRE_OK(l->ops->forward(l, x, y, T, B, lengths));
    REQUIRE_OK(l->ops->backward(l, w, dx, T, B, lengths));
    for (int b = 0; b < B; b++) {
        float gh[P], gc[H] = {0};
        for (int t = lengths[b] - 1; t >= 0; t--) {
            for (int j = 0; j < P; j++)
                gh[j] = (t == lengths[b] - 1 ? 0.0f : gh[j]) + w[((size_t)t * B + b) * P + j];
            double n = 0;
            for (int j = 0; j < P; j++) n += (double)gh[j] * gh[j];
            want[t] += sqrt(n) / B;
            if (t > 0) l->ops->step_vjp(l, t, b, gh, gc);
        }
    }
    for (int t = 0; t < T; t++)
        CHECK(fabs(probe[t] - want[t]) <= 1e-5 * fmax(1.0, want[t]),
              "step %d: probe_dh %.7g, from step_vjp %.7g", t, probe[t], want[t]);
    for (int t = 0; t < T; t++) CHECK(probe_c[t] > 0, "step %d: probe_dc %g", t, probe_c[t]);
    l->probe_dh = l->probe_dc = NULL;
    mn_recurrent_view v;
    REQUIRE(l->ops->inspect(l, &v), "no view");
    CHECK(v.H == H && v.P == P && v.state_size == P + H && v.W_hr && v.gates == 4,
          "view: H %d P %d state %d", v.H, v.P, v.state_size);
    mn_check_free_layer(l);
}

/* --------------------------------------------------------------- the blocks */

static void expect_refused(const char *spec, const char *part, int line) {
    mn_model_config c;
    mn_model_config_init(&c);
    c.input_size = 3;
    mn_model *m = NULL;
    mn_status st = mn_blocks_parse(spec, &c);
    if (st == MN_OK) st = mn_model_create(&c, 1, &m);
    mn_model_free(m);
    if (st != MN_E_ARG || !strstr(mn_last_error(), part))
        mn_test_fail(__FILE__, line, "'%s': status %d, message \"%s\" (wanted \"%s\")", spec,
                     (int)st, mn_last_error(), part);
}
#define REFUSED(spec, part) expect_refused(spec, part, __LINE__)

TEST(rnn_options_blocks) {
    mn_model_config c;
    mn_model_config_init(&c);
    c.input_size = 3;
    REQUIRE_OK(mn_blocks_parse("lstm:8:nobias:proj=4:bidirectional,gru:6:nobias", &c));
    CHECK(c.blocks[0].proj == 4 && c.blocks[0].no_bias && c.blocks[1].no_bias &&
          !c.blocks[1].proj, "parsed options");
    char text[256];
    mn_blocks_format(&c, text, sizeof text);
    CHECK(!strcmp(text, "lstm:8:bidirectional:proj=4:nobias,gru:6:nobias"), "format: %s", text);
    mn_model *m = NULL;
    REQUIRE_OK(mn_model_create(&c, 1, &m));
    CHECK(m->layers[0]->out_size == 8 && m->layers[1]->in_size == 8, "widths %d -> %d",
          m->layers[0]->out_size, m->layers[1]->in_size);
    mn_model_free(m);

    /* a plain stack keeps nn.LSTM's names: rnn.weight_hr_l1_reverse, no biases */
    mn_model_config_init(&c);
    c.input_size = 3;
    REQUIRE_OK(mn_blocks_parse("lstm:6:proj=2:nobias:bidirectional,"
                               "lstm:6:proj=2:nobias:bidirectional", &c));
    REQUIRE_OK(mn_model_create(&c, 1, &m));
    int hr = 0, bias = 0;
    for (int i = 0; i < mn_model_tensor_count(m); i++) {
        const char *name;
        int nd;
        const int *shape;
        REQUIRE_OK(mn_model_tensor(m, i, &name, &nd, &shape, NULL, NULL));
        if (!strncmp(name, "rnn.weight_hr_l", 15))
            hr += nd == 2 && shape[0] == 2 && shape[1] == 6;
        if (!strncmp(name, "rnn.weight_hh_l1_reverse", 24))
            CHECK(shape[0] == 24 && shape[1] == 2, "weight_hh_l1_reverse [%d, %d]", shape[0],
                  shape[1]);
        if (!strncmp(name, "rnn.weight_ih_l1", 16))
            CHECK(shape[1] == 4, "layer 1 reads 2P = 4 features, got %d", shape[1]);
        bias += strstr(name, "rnn.bias") != NULL;
    }
    CHECK(hr == 4 && bias == 0, "%d weight_hr tensors [2, 6], %d biases", hr, bias);
    mn_model_free(m);

    /* without biases there is no keep-gate bias: chrono and forget_bias read nothing */
    mn_model_uses u;
    REQUIRE_OK(mn_blocks_parse("lstm:8:nobias,gru:8,gated:8:nobias", &c));
    REQUIRE_OK(mn_model_config_uses(&c, &u));
    CHECK(u.keep_gate == 1 && u.forget_bias == 0 && u.recurrent == 3, "uses: keep %d forget %d",
          u.keep_gate, u.forget_bias);

    REFUSED("gru:8:proj=4", "only lstm");
    REFUSED("lstm:8:proj=8", "proj must be from 1 to width - 1 = 7");
    REFUSED("lstm:8:proj=0", "needs a whole number");
    REFUSED("lstm:8:proj=2:proj=2", "gives proj twice");
    REFUSED("linear:8:nobias", "only rnn, rnn-relu, lstm, gru, gated do");
    REFUSED("ln-lstm:8:nobias", "takes no nobias");
    REFUSED("attention:proj=2", "takes no proj");
}

/* ------------------------------------------------------- memory estimates */

/* One training step (or one evaluated batch) of the adding task with the blocks of spec,
 * measured as tests/test_memory.c does: the second of two runs, against the estimate less
 * its scratch. */
static void model_memory(const char *spec, int train) {
    enum { LEN = 40, B = 8 };
    mn_model_config c;
    mn_model_config_init(&c);
    REQUIRE_OK(mn_blocks_parse(spec, &c));
    size_t peak = 0;
    int steps = 0;
    for (int pass = 0; pass < 2; pass++) {
        mn_memory_reset_peak();
        size_t base = mn_memory_in_use();
        mn_task *t = NULL;
        mn_model *m = NULL;
        mn_trainer *tr = NULL;
        mn_status st = mn_task_create("adding", LEN, 3, &t);
        if (!st) {
            mn_task_configure_model(t, &c);
            steps = mn_task_get_info(t)->max_steps;
            st = mn_model_create(&c, 5, &m);
        }
        if (!st && train) {
            mn_train_config tc;
            mn_train_config_init(&tc);
            tc.batch_size = B;
            mn_step_stats s;
            if (!(st = mn_trainer_create(m, t, &tc, &tr))) st = mn_trainer_step(tr, &s);
        } else if (!st) {
            mn_eval_stats ev;
            st = mn_evaluate(m, t, B, B, &ev);
        }
        peak = st ? 0 : mn_memory_peak() - base;
        CHECK(!st, "%s: %s", spec, mn_last_error());
        mn_trainer_free(tr);
        mn_model_free(m);
        mn_task_free(t);
    }
    mn_memory_estimate e;
    REQUIRE_OK(mn_memory_estimate_run(&c, steps, B, train, &e));
    size_t est = e.total - e.scratch;
    double err = ((double)est - (double)peak) / (double)peak;
    printf("    %-44s %s estimate %8zu measured %8zu error %+.2f%%\n", spec,
           train ? "train" : "infer", est, peak, 100 * err);
    CHECK(peak > 0 && fabs(err) <= 0.10, "%s: estimate %zu, measured %zu", spec, est, peak);
}

TEST(rnn_options_model_memory_estimate) {
    model_memory("lstm:48:proj=16,lstm:48:proj=16", 0);
    model_memory("lstm:48:proj=16,lstm:48:proj=16", 1);
    model_memory("lstm:32:proj=8:nobias:bidirectional,gru:32:nobias", 1);
    model_memory("rnn:64:nobias,rnn-relu:64:nobias", 1);
}

/* mn_stack_forward's inference pass against mn_memory_estimate_stack, from a state dict
 * saved by a model of the same plain stack (its "rnn." prefix; the head is ignored). */
static void stack_memory(mn_cell_kind cell, int L, int bidir, int proj, int no_bias, int T,
                         int B) {
    enum { I = 6, H = 32 };
    char dir[256], path[300], spec[256];
    REQUIRE(mn_test_tmpdir(dir, sizeof dir, "stackmem"), "mkdtemp");
    snprintf(path, sizeof path, "%s/w.safetensors", dir);
    size_t n = 0;
    for (int k = 0; k < L; k++)
        n += (size_t)snprintf(spec + n, sizeof spec - n, "%s%s:%d%s%s%s", k ? "," : "",
                              mn_cell_name(cell), H, bidir ? ":bidirectional" : "",
                              proj ? ":proj=8" : "", no_bias ? ":nobias" : "");
    mn_model_config c;
    mn_model_config_init(&c);
    c.input_size = I;
    REQUIRE_OK(mn_blocks_parse(spec, &c));
    mn_model *m = NULL;
    REQUIRE_OK(mn_model_create(&c, 1, &m));
    REQUIRE_OK(mn_model_save(m, path, NULL));
    mn_model_free(m);
    mn_stack_config sc = {cell, I, H, L, bidir, proj ? 8 : 0, no_bias};
    int O = (bidir ? 2 : 1) * (proj ? 8 : H);
    float *y = malloc((size_t)T * B * O * sizeof *y);
    REQUIRE(y, "out of memory");
    size_t peak = 0;
    for (int pass = 0; pass < 2; pass++) {
        mn_stack *s = NULL;
        REQUIRE_OK(mn_stack_load_torch(path, &sc, &s));
        mn_stack_free(s);
        mn_memory_reset_peak();
        size_t base = mn_memory_in_use();
        float *x = mn_alloc_zero((size_t)T * B * I * sizeof *x);   /* counted as the CLI's */
        mn_status st = mn_stack_load_torch(path, &sc, &s);
        /* the load reads the file whole and frees it: count from the stack on */
        mn_memory_reset_peak();
        if (!st) st = mn_stack_forward(s, x, T, B, NULL, y);
        peak = st ? 0 : mn_memory_peak() - base;
        CHECK(!st, "%s: %s", spec, mn_last_error());
        mn_stack_free(s);
        mn_release(x);
    }
    mn_memory_estimate e;
    REQUIRE_OK(mn_memory_estimate_stack(&sc, T, B, &e));
    size_t est = e.total - e.scratch;
    double err = ((double)est - (double)peak) / (double)peak;
    printf("    stack %-36s T %4d B %3d estimate %8zu measured %8zu error %+.2f%%\n", spec, T, B,
           est, peak, 100 * err);
    CHECK(fabs(err) <= 0.10, "%s: estimate %zu, measured %zu", spec, est, peak);
    CHECK(e.grads == 0 && e.optimizer == 0 && e.total == e.params + e.activations + e.data +
          e.workspace, "%s: the parts", spec);
    free(y);
    remove(path);
    remove(dir);
}

TEST(rnn_options_stack_memory_estimate) {
    stack_memory(MN_LSTM, 1, 0, 0, 0, 600, 16);
    stack_memory(MN_LSTM, 3, 0, 1, 0, 300, 8);
    stack_memory(MN_GRU, 2, 1, 0, 1, 200, 24);
    stack_memory(MN_RNN_TANH, 2, 0, 0, 1, 50, 300);
}
