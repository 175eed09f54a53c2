/* Every option does what it says or is refused: cross-entropy labels (only -1 is ignored),
 * the schedule's length, floor and warmup (checked, recorded, kept on resume), the
 * training options recorded in a checkpoint, and, for every registered layer kind, that
 * mn_model_config_uses says exactly which init fields change its weights. */
#include "test.h"
#include "loss.h"
#include "model.h"
#include "optim.h"
#include "registry.h"

#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ labels */

/* A 2-input, 3-class model with the head at every step (or the last), T = 3, B = 2. */
static mn_status ce_model(mn_output_mode out, mn_model **m) {
    mn_model_config c;
    mn_model_config_init(&c);
    c.input_size = 2;
    c.hidden_size = 4;
    c.output_size = 3;
    c.loss = MN_LOSS_CE;
    c.output = out;
    return mn_model_create(&c, 7, m);
}

static mn_batch ce_batch(float *x, int32_t *lengths, int32_t *labels) {
    for (int i = 0; i < 3 * 2 * 2; i++) x[i] = 0.1f * (float)(i % 5) - 0.2f;
    lengths[0] = 3;
    lengths[1] = 2;
    return (mn_batch){.T = 3, .B = 2, .input_size = 2, .x = x, .lengths = lengths,
                      .output_size = 3, .labels = labels};
}

TEST(options_labels_only_minus_one_is_ignored) {
    mn_model *m;
    REQUIRE_OK(ce_model(MN_OUTPUT_EVERY, &m));
    float x[12];
    int32_t len[2];
    /* [T=3, B=2]: sequence 1 has 2 real steps, so labels[2][1] is padding */
    int32_t lab[6] = {0, 1, 2, -1, 1, 77};
    mn_batch b = ce_batch(x, len, lab);
    double with_ignored, without;
    CHECK_OK(mn_model_loss(m, &b, &with_ignored));
    /* -1 drops the position from the mean: the same as the mean over the others */
    lab[3] = 0;
    double l3;
    CHECK_OK(mn_model_loss(m, &b, &l3));
    CHECK(with_ignored != l3, "the ignored position counted (%g)", with_ignored);
    lab[3] = -1;

    static const int32_t wrong[] = {-4, -100, -2, 3, 1000};
    for (size_t i = 0; i < sizeof wrong / sizeof wrong[0]; i++) {
        lab[4] = wrong[i];   /* step 2 of sequence 0 */
        mn_status st = mn_model_loss(m, &b, &without);
        char want[32];
        snprintf(want, sizeof want, "label %d ", (int)wrong[i]);
        CHECK(st == MN_E_INPUT, "label %d accepted (status %d)", (int)wrong[i], (int)st);
        CHECK(strstr(mn_last_error(), want) && strstr(mn_last_error(), "step 2 of sequence 0") &&
              strstr(mn_last_error(), "-1"), "label %d: message does not name the value and "
              "position: %s", (int)wrong[i], mn_last_error());
        CHECK(mn_model_gradients(m, &b, NULL) == MN_E_INPUT, "gradients took label %d",
              (int)wrong[i]);
    }
    mn_model_free(m);

    /* one label per sequence: the position is the sequence */
    REQUIRE_OK(ce_model(MN_OUTPUT_LAST, &m));
    int32_t last[2] = {2, -4};
    b = ce_batch(x, len, last);
    CHECK(mn_model_loss(m, &b, &without) == MN_E_INPUT, "label -4 accepted at the last step");
    CHECK(strstr(mn_last_error(), "label -4 at sequence 1 "), "message: %s", mn_last_error());
    last[1] = -1;
    CHECK_OK(mn_model_loss(m, &b, &without));
    mn_model_free(m);

    /* the loss itself: -1 contributes nothing; anything else negative poisons the sum */
    const float z[6] = {0, 1, 2, 2, 1, 0};
    const int32_t ok[2] = {1, -1}, bad[2] = {1, -3};
    float d[6];
    CHECK(mn_ce_loss(z, ok, 2, 3, 1.0, d) == mn_ce_loss(z, ok, 1, 3, 1.0, NULL),
          "-1 changed the sum");
    CHECK(d[3] == 0 && d[4] == 0 && d[5] == 0, "-1 got a gradient");
    CHECK(isnan(mn_ce_loss(z, bad, 2, 3, 1.0, d)) && isnan(d[3]), "label -3 was ignored");
}

/* --------------------------------------------------------------- schedules */

TEST(options_schedule_floor_length_and_pytorch) {
    mn_train_config c;
    mn_train_config_init(&c);
    c.lr = 0.5f;
    c.schedule = MN_SCHED_COSINE;
    c.steps = 11;
    c.min_lr_ratio = 0;
    /* CosineAnnealingLR(T_max = 10, eta_min = 0): lr·(1 + cos(π t / 10)) / 2 */
    for (int t = 0; t <= 10; t++) {
        double want = 0.5 * (1 + cos(3.14159265358979323846 * t / 10)) / 2;
        CHECK(fabs(mn_schedule_lr(&c, t) - want) < 1e-7, "step %d: %g, PyTorch %g", t,
              mn_schedule_lr(&c, t), want);
    }
    CHECK(mn_schedule_lr(&c, 10) < 1e-9, "min_lr_ratio 0 does not end at 0");
    /* a schedule shorter than the run: the floor after its end */
    c.min_lr_ratio = 0.2f;
    c.steps = 12;
    c.schedule_steps = 5;
    CHECK(fabs(mn_schedule_lr(&c, 4) - 0.1) < 1e-7, "schedule end: %g", mn_schedule_lr(&c, 4));
    for (int t = 5; t < 12; t++)
        CHECK(mn_schedule_lr(&c, t) == mn_schedule_lr(&c, 4), "step %d after the end: %g", t,
              mn_schedule_lr(&c, t));
    CHECK(mn_schedule_lr(&c, 2) > 0.1 && mn_schedule_lr(&c, 2) < 0.5, "midway %g",
          mn_schedule_lr(&c, 2));

    /* what cannot do what it says is refused */
    mn_train_config_init(&c);
    c.steps = 10;
    CHECK_OK(mn_schedule_check(&c));
    c.warmup_steps = 10;   /* the last step reaches lr */
    CHECK_OK(mn_schedule_check(&c));
    c.warmup_steps = 11;
    CHECK(mn_schedule_check(&c) == MN_E_ARG && strstr(mn_last_error(), "never reach"),
          "warmup past the run: %s", mn_last_error());
    c.schedule = MN_SCHED_COSINE;
    c.warmup_steps = 8;
    CHECK_OK(mn_schedule_check(&c));
    c.warmup_steps = 9;   /* one step after warmup: nothing to decay */
    CHECK(mn_schedule_check(&c) == MN_E_ARG && strstr(mn_last_error(), "at least 2"),
          "cosine without a decay: %s", mn_last_error());
    c.schedule_steps = 20;   /* the schedule, not the run, must hold the warmup */
    CHECK_OK(mn_schedule_check(&c));
    c.warmup_steps = 0;
    c.min_lr_ratio = 1.5f;
    CHECK(mn_schedule_check(&c) == MN_E_ARG, "min_lr_ratio 1.5 accepted");
    c.min_lr_ratio = -0.1f;
    CHECK(mn_schedule_check(&c) == MN_E_ARG, "min_lr_ratio -0.1 accepted");
}

/* A trainer on the adding task at T = 6 with a small LSTM. */
typedef struct {
    mn_task *task;
    mn_model *m;
    mn_trainer *tr;
} run;

static mn_status run_open(run *r, const mn_train_config *tc) {
    memset(r, 0, sizeof *r);
    mn_model_config c;
    mn_status st = mn_task_create("adding", 6, 3, &r->task);
    if (st) return st;
    mn_model_config_init(&c);
    mn_task_configure_model(r->task, &c);
    c.hidden_size = 5;
    if ((st = mn_model_create(&c, 3, &r->m))) return st;
    return mn_trainer_create(r->m, r->task, tc, &r->tr);
}

static void run_close(run *r) {
    mn_trainer_free(r->tr);
    mn_model_free(r->m);
    mn_task_free(r->task);
}

static mn_status run_steps(run *r, int n, double *lr) {
    for (int i = 0; i < n; i++) {
        mn_step_stats s;
        mn_status st = mn_trainer_step(r->tr, &s);
        if (st) return st;
        if (lr) lr[i] = s.lr;
    }
    return MN_OK;
}

TEST(options_cosine_resume_with_other_steps) {
    char dir[256], path[320];
    REQUIRE(mn_test_tmpdir(dir, sizeof dir, "options"), "no temporary folder");
    snprintf(path, sizeof path, "%s/five.safetensors", dir);
    mn_train_config tc;
    mn_train_config_init(&tc);
    tc.steps = 5;
    tc.batch_size = 4;
    tc.eval_size = 4;
    tc.lr = 0.02f;
    tc.schedule = MN_SCHED_COSINE;
    run a, b, whole;
    REQUIRE_OK(run_open(&a, &tc));
    REQUIRE_OK(run_steps(&a, 5, NULL));
    REQUIRE_OK(mn_trainer_save(a.tr, path, NULL));
    run_close(&a);

    /* --steps 12 alone would stretch the schedule: refused, with both ways on */
    tc.steps = 12;
    REQUIRE_OK(run_open(&b, &tc));
    CHECK(mn_trainer_resume(b.tr, path) == MN_E_ARG, "a cosine run resumed under another length");
    CHECK(strstr(mn_last_error(), "over 5 steps") && strstr(mn_last_error(), "--schedule-steps 5")
          && strstr(mn_last_error(), "new run"), "message: %s", mn_last_error());
    CHECK(mn_trainer_steps_done(b.tr) == 0, "the refused resume changed the trainer");
    run_close(&b);

    /* keeping the schedule: its floor after step 5, and the bits of a run never stopped */
    tc.schedule_steps = 5;
    double lr[7];
    REQUIRE_OK(run_open(&b, &tc));
    REQUIRE_OK(mn_trainer_resume(b.tr, path));
    REQUIRE_OK(run_steps(&b, 7, lr));
    for (int i = 0; i < 7; i++)
        CHECK(fabs(lr[i] - 0.002) < 1e-9, "step %d after the schedule's end: lr %g, want the "
              "floor 0.002", 6 + i, lr[i]);
    REQUIRE_OK(run_open(&whole, &tc));
    REQUIRE_OK(run_steps(&whole, 12, NULL));
    CHECK(memcmp(b.m->params, whole.m->params, b.m->nparams * sizeof(float)) == 0,
          "5 steps, save, resume, 7 steps differ from 12 steps under the same schedule");
    run_close(&b);
    run_close(&whole);

    /* a constant schedule has no length to keep: more steps resume as before */
    snprintf(path, sizeof path, "%s/constant.safetensors", dir);
    mn_train_config_init(&tc);
    tc.steps = 3;
    tc.batch_size = 4;
    tc.eval_size = 4;
    REQUIRE_OK(run_open(&a, &tc));
    REQUIRE_OK(run_steps(&a, 3, NULL));
    REQUIRE_OK(mn_trainer_save(a.tr, path, NULL));
    run_close(&a);
    tc.steps = 9;
    REQUIRE_OK(run_open(&b, &tc));
    CHECK_OK(mn_trainer_resume(b.tr, path));
    run_close(&b);
}

TEST(options_checkpoint_records_what_shaped_the_run) {
    char dir[256], path[320];
    REQUIRE(mn_test_tmpdir(dir, sizeof dir, "options"), "no temporary folder");
    snprintf(path, sizeof path, "%s/rec.safetensors", dir);
    static const struct {
        mn_optimizer_kind opt;
        mn_schedule_kind sched;
    } cases[] = {{MN_OPT_ADAM, MN_SCHED_CONSTANT}, {MN_OPT_ADAMW, MN_SCHED_COSINE},
                 {MN_OPT_SGD, MN_SCHED_COSINE}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mn_train_config tc;
        mn_train_config_init(&tc);
        tc.steps = 4;
        tc.batch_size = 2;
        tc.optimizer = cases[i].opt;
        tc.schedule = cases[i].sched;
        tc.weight_decay = 0.25f;
        tc.warmup_steps = 1;
        tc.min_lr_ratio = 0.05f;
        run r;
        REQUIRE_OK(run_open(&r, &tc));
        REQUIRE_OK(run_steps(&r, 2, NULL));
        REQUIRE_OK(mn_trainer_save(r.tr, path, NULL));
        run_close(&r);
        mn_model *m;
        REQUIRE_OK(mn_model_load(path, &m));
        const char *(*meta)(const mn_model *, const char *) = mn_model_metadata;
        int adam = cases[i].opt != MN_OPT_SGD, cosine = cases[i].sched == MN_SCHED_COSINE;
        static const char *const opt_names[] = {"adam", "adamw", "sgd"};
        CHECK(meta(m, "train.optimizer") && !strcmp(meta(m, "train.optimizer"), opt_names[i]),
              "optimizer %s", meta(m, "train.optimizer"));
        CHECK(meta(m, "train.weight_decay") && atof(meta(m, "train.weight_decay")) == 0.25,
              "weight decay %s", meta(m, "train.weight_decay"));
#define HAS(key) (meta(m, key) != NULL)
        CHECK(HAS("train.betas") == adam && HAS("train.eps") == adam &&
              HAS("train.momentum") == !adam, "case %zu: betas %s, eps %s, momentum %s", i,
              meta(m, "train.betas"), meta(m, "train.eps"), meta(m, "train.momentum"));
        CHECK(HAS("train.schedule_steps") == cosine && HAS("train.min_lr_ratio") == cosine,
              "case %zu: schedule_steps %s, min_lr_ratio %s", i, meta(m, "train.schedule_steps"),
              meta(m, "train.min_lr_ratio"));
#undef HAS
        if (cosine)
            CHECK(atoi(meta(m, "train.schedule_steps")) == 4 &&
                  (float)atof(meta(m, "train.min_lr_ratio")) == 0.05f, "schedule %s, floor %s",
                  meta(m, "train.schedule_steps"), meta(m, "train.min_lr_ratio"));
        CHECK(meta(m, "train.warmup") && atoi(meta(m, "train.warmup")) == 1 &&
              meta(m, "train.clip_norm") && meta(m, "train.clip_value") && meta(m, "train.tbptt")
              && meta(m, "train.lr") && meta(m, "train.schedule"), "case %zu: missing keys", i);
        mn_model_free(m);
    }
}

/* --------------------------------------------------- init fields, every kind */

/* Two models of the same spec and seed that differ in one init field: do the weights? */
static int init_changes(const mn_model_config *a, const mn_model_config *b, int *same_size) {
    mn_model *ma = NULL, *mb = NULL;
    int differ = -1;
    if (mn_model_create(a, 5, &ma) == MN_OK && mn_model_create(b, 5, &mb) == MN_OK) {
        *same_size = ma->nparams == mb->nparams;
        differ = !*same_size || memcmp(ma->params, mb->params, ma->nparams * sizeof(float)) != 0;
    }
    mn_model_free(ma);
    mn_model_free(mb);
    return differ;
}

TEST(options_init_uses_is_what_init_does) {
    char dir[256], path[320];
    REQUIRE(mn_test_tmpdir(dir, sizeof dir, "options"), "no temporary folder");
    snprintf(path, sizeof path, "%s/init.safetensors", dir);
    for (int i = 0; i < mn_layer_kind_count(); i++) {
        const mn_layer_kind *k = mn_layer_kind_at(i);
        for (int with_width = 0; with_width <= !!(k->caps & MN_KIND_WIDTH); with_width++) {
            mn_model_config c;
            mn_model_config_init(&c);
            c.input_size = 6;   /* = the width, so kinds that keep their input's fit */
            c.hidden_size = 6;
            char spec[64];
            snprintf(spec, sizeof spec, with_width ? "%s:6" : "%s", k->name);
            REQUIRE_OK(mn_blocks_parse(spec, &c));
            mn_model_uses u;
            REQUIRE_OK(mn_model_config_uses(&c, &u));
            CHECK(u.blocks == 1 && u.recurrent == !!(k->caps & MN_KIND_RECURRENT) &&
                  u.keep_gate == !!(k->caps & MN_KIND_GATED) &&
                  u.forget_bias == !!(k->caps & MN_KIND_FORGET_BIAS),
                  "%s: uses %d %d %d %d", spec, u.blocks, u.recurrent, u.keep_gate, u.forget_bias);
            mn_model_config a = c, b = c;
            int same = 1, d;
            b.forget_bias = 4;
            d = init_changes(&a, &b, &same);
            CHECK(d == (u.forget_bias > 0), "%s: forget_bias %s the weights, uses says %d", spec,
                  d ? "changes" : "leaves", u.forget_bias);
            a.chrono_tmax = b.chrono_tmax = 50;   /* chrono draws the keep gate: forget_bias unread */
            d = init_changes(&a, &b, &same);
            CHECK(d == 0, "%s: forget_bias changed the weights under chrono init", spec);
            a = c, b = c;
            b.chrono_tmax = 50;
            d = init_changes(&a, &b, &same);
            CHECK(d == (u.keep_gate > 0), "%s: chrono %s the weights, uses says %d", spec,
                  d ? "changes" : "leaves", u.keep_gate);
            b = c;
            b.recurrent_init = MN_INIT_ORTHOGONAL;
            d = init_changes(&a, &b, &same);
            CHECK(d == (u.recurrent > 0), "%s: orthogonal init %s the weights, uses says %d", spec,
                  d ? "changes" : "leaves", u.recurrent);
            a = b;
            b.init_gain = 2;
            d = init_changes(&a, &b, &same);
            CHECK(d == (u.recurrent > 0), "%s: init_gain %s the weights, uses says %d", spec,
                  d ? "changes" : "leaves", u.recurrent);
            a = c, b = c;
            a.init_gain = 2;   /* uniform init reads no gain */
            CHECK(init_changes(&a, &b, &same) == 0, "%s: init_gain changed a uniform init", spec);
            b.hidden_size = 5;
            b.input_size = 5;
            a.input_size = 5;
            d = init_changes(&a, &b, &same);
            CHECK((d == 1 && !same) == (u.hidden_size > 0), "%s: hidden_size %s the model, uses "
                  "says %d", spec, !same ? "resizes" : "leaves", u.hidden_size);

            /* the file records the init fields that were read, and no others */
            mn_model *m;
            c.chrono_tmax = 0;
            c.recurrent_init = MN_INIT_IDENTITY;
            REQUIRE_OK(mn_model_create(&c, 1, &m));
            REQUIRE_OK(mn_model_save(m, path, NULL));
            mn_model_free(m);
            REQUIRE_OK(mn_model_load(path, &m));
            CHECK(!mn_model_metadata(m, "model.forget_bias") == !u.forget_bias &&
                  !mn_model_metadata(m, "model.chrono_tmax") &&
                  !mn_model_metadata(m, "model.recurrent_init") == !u.recurrent &&
                  !mn_model_metadata(m, "model.init_gain") == !u.recurrent,
                  "%s without chrono: forget_bias %s, chrono_tmax %s, init %s, gain %s", spec,
                  mn_model_metadata(m, "model.forget_bias"),
                  mn_model_metadata(m, "model.chrono_tmax"),
                  mn_model_metadata(m, "model.recurrent_init"),
                  mn_model_metadata(m, "model.init_gain"));
            mn_model_free(m);
            c.chrono_tmax = 20;
            c.recurrent_init = MN_INIT_UNIFORM;
            REQUIRE_OK(mn_model_create(&c, 1, &m));
            REQUIRE_OK(mn_model_save(m, path, NULL));
            mn_model_free(m);
            REQUIRE_OK(mn_model_load(path, &m));
            CHECK(!mn_model_metadata(m, "model.forget_bias") &&
                  !mn_model_metadata(m, "model.chrono_tmax") == !u.keep_gate &&
                  !mn_model_metadata(m, "model.init_gain"),
                  "%s with chrono: forget_bias %s, chrono_tmax %s, gain %s", spec,
                  mn_model_metadata(m, "model.forget_bias"),
                  mn_model_metadata(m, "model.chrono_tmax"),
                  mn_model_metadata(m, "model.init_gain"));
            mn_model_free(m);
        }
    }
    /* a mixed stack counts each kind */
    mn_model_config c;
    mn_model_config_init(&c);
    REQUIRE_OK(mn_blocks_parse("rnn:4,gru:4,ff:8,lstm", &c));
    mn_model_uses u;
    REQUIRE_OK(mn_model_config_uses(&c, &u));
    CHECK(u.blocks == 4 && u.recurrent == 3 && u.keep_gate == 2 && u.forget_bias == 1 &&
          u.hidden_size == 1, "mixed: %d %d %d %d %d", u.blocks, u.recurrent, u.keep_gate,
          u.forget_bias, u.hidden_size);
    c.vocab_size = 10;   /* the embedding takes the first block's width */
    REQUIRE_OK(mn_model_config_uses(&c, &u));
    CHECK(u.hidden_size == 1, "embedding after rnn:4 read hidden_size");
    REQUIRE_OK(mn_blocks_parse("layernorm,lstm", &c));
    REQUIRE_OK(mn_model_config_uses(&c, &u));
    CHECK(u.hidden_size == 2, "embedding before a widthless kind: hidden %d", u.hidden_size);
}
