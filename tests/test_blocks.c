/* Block lists: the --blocks grammar, its canonical form, the checks that name a bad block,
 * and checkpoints of block models. */
#include "test.h"
#include "model.h"
#include "registry.h"
#include "cell.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

TEST(blocks_parse_and_format_round_trip) {
    mn_model_config c;
    mn_model_config_init(&c);
    c.hidden_size = 32;
    REQUIRE_OK(mn_blocks_parse("lstm:64,gru:bi,linear:7,rnn-relu", &c));
    CHECK(c.num_blocks == 4, "num_blocks %d", c.num_blocks);
    CHECK(!strcmp(c.blocks[0].kind, "lstm") && c.blocks[0].width == 64, "block 0");
    CHECK(c.blocks[1].bidirectional == 1 && c.blocks[1].width == 0, "block 1");
    char spec[256];
    mn_blocks_format(&c, spec, sizeof spec);
    CHECK(!strcmp(spec, "lstm:64,gru:32:bidirectional,linear:7,rnn-relu:32"), "format: %s", spec);
    mn_model_config d;
    mn_model_config_init(&d);
    d.hidden_size = 5;   /* widths are explicit in the canonical form */
    REQUIRE_OK(mn_blocks_parse(spec, &d));
    char again[256];
    mn_blocks_format(&d, again, sizeof again);
    CHECK(!strcmp(spec, again), "%s became %s", spec, again);
    /* a legacy config formats as its stack */
    mn_model_config_init(&c);
    c.cell = MN_GRU;
    c.num_layers = 2;
    c.hidden_size = 9;
    c.bidirectional = 1;
    mn_blocks_format(&c, spec, sizeof spec);
    CHECK(!strcmp(spec, "gru:9:bidirectional,gru:9:bidirectional"), "legacy: %s", spec);
    CHECK(mn_blocks_format(&c, NULL, 0) == (int)strlen(spec), "length without a buffer");
}

/* Every malformed spec is MN_E_ARG with a message that quotes the bad part. */
TEST(blocks_parse_names_the_bad_part) {
    static const struct { const char *spec, *quoted; } bad[] = {
        {"", "empty"},
        {"lstm,,gru", "block 1 is empty"},
        {"lstm,", "block 1 is empty"},
        {"lstm::64", "empty part"},
        {"foo:3", "'foo'"},
        {"lstm:abc", "'abc'"},
        {"lstm:0", "'0'"},
        {"lstm:99999999", "'99999999'"},
        {"lstm:64:dropout=1.5", "'1.5'"},
        {"lstm:64:dropout=x", "'x'"},
        {"lstm:64:sideways", "'sideways'"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        mn_model_config c;
        mn_model_config_init(&c);
        mn_status st = mn_blocks_parse(bad[i].spec, &c);
        CHECK(st == MN_E_ARG, "'%s' was accepted", bad[i].spec);
        CHECK(strstr(mn_last_error(), bad[i].quoted) != NULL, "'%s': message '%s' does not "
              "name '%s'", bad[i].spec, mn_last_error(), bad[i].quoted);
        CHECK(c.num_blocks == 0, "'%s': a failed parse changed the config", bad[i].spec);
    }
}

TEST(blocks_check_refuses_impossible_blocks) {
    mn_model_config c;
    mn_model_config_init(&c);
    REQUIRE_OK(mn_blocks_parse("linear:4:bidirectional", &c));
    mn_model *m = NULL;
    CHECK(mn_model_create(&c, 1, &m) == MN_E_ARG && !m, "a bidirectional linear block was built");
    CHECK(strstr(mn_last_error(), "linear cannot run bidirectionally") != NULL, "%s",
          mn_last_error());
}

/* A plain recurrent stack written as blocks keeps PyTorch's names; a mixed one names its
 * tensors by block. */
TEST(blocks_tensor_names) {
    mn_model_config c;
    mn_model_config_init(&c);
    REQUIRE_OK(mn_blocks_parse("lstm:8,lstm:8", &c));
    mn_model *m;
    REQUIRE_OK(mn_model_create(&c, 1, &m));
    const char *name;
    mn_model_tensor(m, 4, &name, NULL, NULL, NULL, NULL);
    CHECK(!strcmp(name, "rnn.weight_ih_l1"), "plain stack: tensor 4 is %s", name);
    mn_model_free(m);
    REQUIRE_OK(mn_blocks_parse("lstm:8,gru:8", &c));
    REQUIRE_OK(mn_model_create(&c, 1, &m));
    mn_model_tensor(m, 4, &name, NULL, NULL, NULL, NULL);
    CHECK(!strcmp(name, "blocks.1.weight_ih_l0"), "mixed: tensor 4 is %s", name);
    mn_model_free(m);
}

/* The file alone rebuilds a block model, with the same outputs. */
TEST(blocks_checkpoint_round_trip) {
    char dir[256], path[300];
    REQUIRE(mn_test_tmpdir(dir, sizeof dir, "blocks"), "no temporary folder");
    snprintf(path, sizeof path, "%s/m.safetensors", dir);
    mn_model_config c;
    mn_model_config_init(&c);
    c.input_size = 3;
    c.output_size = 2;
    REQUIRE_OK(mn_blocks_parse("gru:6:bidirectional,linear:5,lstm:4", &c));
    mn_model *m, *back = NULL;
    REQUIRE_OK(mn_model_create(&c, 7, &m));
    REQUIRE_OK(mn_model_save(m, path, NULL));
    REQUIRE_OK(mn_model_load(path, &back));
    enum { T = 4, B = 2 };
    float x[T * B * 3], target[B * 2] = {0};
    int32_t lengths[B] = {4, 3};
    for (int i = 0; i < T * B * 3; i++) x[i] = (float)(i % 7) / 7.0f - 0.4f;
    mn_batch b = {.T = T, .B = B, .input_size = 3, .x = x, .lengths = lengths,
                  .output_size = 2, .target = target};
    const float *y1, *y2;
    float keep[B * 2];
    REQUIRE_OK(mn_model_forward(m, &b, &y1));
    memcpy(keep, y1, sizeof keep);
    REQUIRE_OK(mn_model_forward(back, &b, &y2));
    CHECK(!memcmp(keep, y2, sizeof keep), "the loaded model computes another output");
    CHECK(mn_model_get_config(back)->num_blocks == 3, "loaded %d blocks",
          mn_model_get_config(back)->num_blocks);
    mn_model_free(m);
    mn_model_free(back);
    unlink(path);
    rmdir(dir);
}

/* The registry is complete: every kind has what a block needs, a unique name, and is
 * found by it. */
TEST(registry_every_kind_is_complete) {
    REQUIRE(mn_layer_kind_count() > 0, "no kinds");
    for (int i = 0; i < mn_layer_kind_count(); i++) {
        const mn_layer_kind *k = mn_layer_kind_at(i);
        CHECK(k->name && k->summary && k->create && k->out_width && k->macs_per_row,
              "kind %d (%s) lacks a field", i, k->name ? k->name : "?");
        CHECK(mn_layer_kind_find(k->name) == k, "%s is not found by its name", k->name);
        CHECK(strstr(mn_layer_kind_names(), k->name) != NULL, "%s not listed", k->name);
        CHECK(k->cell < 0 || (k->caps & MN_KIND_RECURRENT), "%s: a cell kind without "
              "MN_KIND_RECURRENT", k->name);
        CHECK(k->cell >= 0 || k->plan, "%s: neither a cell the memory estimate replays nor a "
              "plan of its own", k->name);
    }
    CHECK(mn_layer_kind_find("no-such-kind") == NULL, "found a kind that does not exist");
    /* every cell kernel is reachable: it has a kind, a name and a description */
    int cells = 0;
    for (int c = 0; mn_cell_kernel_for((mn_cell_kind)c); c++, cells++) {
        mn_cell_info ci;
        CHECK(mn_layer_kind_of_cell((mn_cell_kind)c) != NULL, "cell %d has no registered kind", c);
        CHECK(mn_cell_describe((mn_cell_kind)c, &ci) == MN_OK && ci.gates > 0, "cell %d", c);
    }
    CHECK(cells >= 5, "only %d cells", cells);
}

/* The recorder's profile at block 0's input is ‖∂L/∂x_t‖ of the model's own input:
 * checked against central differences of the loss in x, for a mixed block model. */
TEST(recorder_block_input_profile_matches_finite_differences) {
    enum { T = 4, B = 2, I = 2 };
    mn_model_config c;
    mn_model_config_init(&c);
    c.input_size = I;
    c.output = MN_OUTPUT_EVERY;
    REQUIRE_OK(mn_blocks_parse("gru:3,linear:4", &c));
    mn_model *m;
    REQUIRE_OK(mn_model_create(&c, 2, &m));
    float x[T * B * I], target[T * B];
    int32_t lengths[B] = {T, T};
    mn_rng r;
    mn_rng_seed(&r, 4);
    for (int i = 0; i < T * B * I; i++) x[i] = mn_rng_uniform_range(&r, -1, 1);
    for (int i = 0; i < T * B; i++) target[i] = mn_rng_uniform_range(&r, -1, 1);
    mn_batch b = {.T = T, .B = B, .input_size = I, .x = x, .lengths = lengths,
                  .output_size = 1, .target = target};
    mn_grad_recorder *rec;
    REQUIRE_OK(mn_grad_recorder_attach(m, T, &rec));
    double loss, prof[T], top[T];
    REQUIRE_OK(mn_model_gradients(m, &b, &loss));
    CHECK(mn_grad_recorder_input_profile(rec, 0, prof) == 1, "one pass recorded");
    CHECK(mn_grad_recorder_input_profile(rec, 2, top) == 1, "top profile");
    CHECK(mn_grad_recorder_input_profile(rec, 3, top) == 0, "block 3 does not exist");
    mn_grad_recorder_input_profile(rec, 2, top);
    mn_grad_recorder_detach(rec);
    const float eps = 1e-3f;
    for (int t = 0; t < T; t++) {
        double mean = 0;
        for (int s = 0; s < B; s++) {
            double n2 = 0;
            for (int j = 0; j < I; j++) {
                float *v = &x[((size_t)t * B + s) * I + j], keep = *v;
                double lp, lm;
                *v = keep + eps; mn_model_loss(m, &b, &lp);
                *v = keep - eps; mn_model_loss(m, &b, &lm);
                *v = keep;
                double g = (lp - lm) / (2 * eps);
                n2 += g * g;
            }
            mean += sqrt(n2) / B;
        }
        CHECK(fabs(prof[t] - mean) <= 2e-2 * mean + 1e-4, "step %d: recorded %.6g, numeric %.6g",
              t, prof[t], mean);
        CHECK(top[t] > 0, "step %d: no gradient recorded at the top", t);
    }
    mn_model_free(m);
}

/* One trainer step's loss for a block spec, on a fixed adding batch stream. */
static double step_loss(const char *spec, int threads, double *inference_loss) {
    mn_set_threads(threads);
    mn_task *task;
    mn_model *m;
    mn_trainer *tr;
    mn_model_config c;
    mn_model_config_init(&c);
    mn_train_config tc;
    mn_train_config_init(&tc);
    tc.batch_size = 16;
    tc.steps = 1;
    if (mn_task_create("adding", 12, 3, &task)) return NAN;
    mn_task_configure_model(task, &c);
    c.hidden_size = 16;
    if (mn_blocks_parse(spec, &c) || mn_model_create(&c, 5, &m)) { mn_task_free(task); return NAN; }
    mn_trainer_create(m, task, &tc, &tr);
    /* the batch the step will see, from an identical stream */
    mn_task *same;
    const mn_batch *b;
    mn_task_create("adding", 12, 3, &same);
    mn_task_next(same, 16, &b);
    mn_model_loss(m, b, inference_loss);
    mn_step_stats ss;
    mn_status st = mn_trainer_step(tr, &ss);
    mn_trainer_free(tr);
    mn_model_free(m);
    mn_task_free(task);
    mn_task_free(same);
    return st ? NAN : ss.loss;
}

/* Dropout acts in training steps only, the same on any thread count. */
TEST(blocks_dropout_trains_and_evaluates) {
    int keep = mn_get_threads();
    double inf0, inf1, inf2;
    double plain = step_loss("gru:16,linear:16,gru:8", 1, &inf0);
    double drop1 = step_loss("gru:16,linear:16:dropout=0.5,gru:8", 1, &inf1);
    double drop2 = step_loss("gru:16,linear:16:dropout=0.5,gru:8", 2, &inf2);
    mn_set_threads(keep);
    CHECK(isfinite(plain) && plain == inf0, "without dropout the step sees the inference loss "
          "(%.9g vs %.9g)", plain, inf0);
    CHECK(isfinite(drop1) && fabs(drop1 - inf1) > 1e-6, "with dropout the training loss %.9g "
          "equals the inference loss %.9g: dropout is not on in training", drop1, inf1);
    CHECK(drop1 == drop2, "dropout differs between 1 and 2 threads: %.9g vs %.9g", drop1, drop2);
}

/* bench times any block model and counts its FLOPs from the kinds: a linear block of
 * 64 outputs on 32 inputs does 2·32·64 per row forward, three times that in training. */
TEST(bench_counts_block_flops_from_the_registry) {
    mn_bench_config bc;
    memset(&bc, 0, sizeof bc);
    bc.T = 5;
    bc.B = 4;
    bc.input_size = 32;
    bc.hidden_size = 16;
    bc.blocks = "linear:64,lstm:16";
    bc.iterations = 1;
    bc.seed = 1;
    mn_bench_result res;
    REQUIRE_OK(mn_bench_run(&bc, &res));
    double want = 20.0 * (2.0 * 32 * 64 + 2.0 * 4 * 16 * (64 + 16));
    CHECK(fabs(res.flops_per_step - want) < 1e-6 * want, "forward FLOPs %.0f, want %.0f",
          res.flops_per_step, want);
    bc.train = 1;
    REQUIRE_OK(mn_bench_run(&bc, &res));
    CHECK(fabs(res.flops_per_step - 3 * want) < 1e-6 * want, "training FLOPs %.0f, want %.0f",
          res.flops_per_step, 3 * want);
}

/* A pass of more rows than int indexes is refused before anything is allocated or read. */
TEST(model_refuses_passes_past_int_rows) {
    mn_model_config c;
    mn_model_config_init(&c);
    c.hidden_size = 4;
    mn_model *m;
    REQUIRE_OK(mn_model_create(&c, 1, &m));
    float x[1] = {0}, target[1] = {0};
    int32_t len[1] = {1};
    mn_batch b = {.T = 65536, .B = 65536, .input_size = 1, .x = x, .lengths = len,
                  .output_size = 1, .target = target};
    double sum;
    size_t before = mn_memory_in_use();
    CHECK(mn_model_run(m, &b, 0, 65536, 0, 0, 1.0, &sum) == MN_E_ARG, "accepted 2^32 rows");
    CHECK(strstr(mn_last_error(), "4294967296 rows") != NULL, "message: %s", mn_last_error());
    CHECK(mn_memory_in_use() == before, "memory was taken before the refusal");
    mn_model_free(m);
}

/* Wrapping the last error in context (as loading does) keeps the whole reason. */
TEST(errors_can_wrap_the_last_error) {
    mn_fail(MN_E_ARG, "block 1 (lstm): widths differ");
    mn_fail(MN_E_INPUT, "f.safetensors: impossible model: %s", mn_last_error());
    CHECK(!strcmp(mn_last_error(), "f.safetensors: impossible model: block 1 (lstm): widths "
          "differ"), "got '%s'", mn_last_error());
}

/* A block model on tokens embeds them at its first block's width, not the unused
 * hidden_size; an explicit embed_size still wins. */
TEST(blocks_embedding_width_follows_the_first_block) {
    mn_model_config c;
    mn_model_config_init(&c);
    c.vocab_size = 10;
    c.hidden_size = 128;
    c.output_size = 10;
    c.loss = MN_LOSS_CE;
    REQUIRE_OK(mn_blocks_parse("gru:32,linear:16", &c));
    mn_model *m;
    REQUIRE_OK(mn_model_create(&c, 1, &m));
    const int *shape;
    const char *name;
    mn_model_tensor(m, 0, &name, NULL, &shape, NULL, NULL);
    CHECK(!strcmp(name, "embedding.weight") && shape[1] == 32, "%s is [%d, %d]", name, shape[0],
          shape[1]);
    mn_model_free(m);
    c.embed_size = 7;
    REQUIRE_OK(mn_model_create(&c, 1, &m));
    mn_model_tensor(m, 0, &name, NULL, &shape, NULL, NULL);
    CHECK(shape[1] == 7, "explicit embed_size: [%d, %d]", shape[0], shape[1]);
    mn_model_free(m);
}
