/* Generation through the library as mnemo generate does it: a prompt fed through
 * mn_stream_step, then tokens drawn with mn_sample_logits and fed back. The learning
 * check (slow suite): an LSTM trained on "abcabc..." continues the pattern greedily. */
#include "test.h"

#include <stdio.h>
#include <string.h>

/* greedy continuation of prompt by n bytes into out (NUL-ended) */
static mn_status continue_text(mn_model *m, const char *prompt, int n, char *out) {
    mn_stream *s = NULL;
    float logits[256];
    mn_status st = mn_stream_create(m, 1, &s);
    for (size_t i = 0; !st && prompt[i]; i++) {
        int32_t id = (unsigned char)prompt[i];
        st = mn_stream_step(s, NULL, &id, logits);
    }
    uint64_t rng = 1;
    for (int k = 0; !st && k < n; k++) {
        int32_t id;
        st = mn_sample_logits(logits, 256, 0.0, 0, &rng, &id);
        if (!st) {
            out[k] = (char)id;
            st = mn_stream_step(s, NULL, &id, logits);
        }
    }
    out[st ? 0 : n] = 0;
    mn_stream_free(s);
    return st;
}

static mn_status train_on_text(const char *path, int steps, mn_model **out) {
    mn_data_options d;
    mn_data_options_init(&d);
    d.length = 12;
    mn_task *task = NULL;
    mn_trainer *tr = NULL;
    mn_model_config c;
    mn_train_config tc;
    mn_train_config_init(&tc);
    tc.steps = steps;
    tc.batch_size = 16;
    tc.lr = 1e-2f;
    char spec[512];
    snprintf(spec, sizeof spec, "text:%s", path);
    mn_status st = mn_task_from_data(spec, &d, 3, &task);
    if (st) return st;
    mn_model_config_init(&c);
    mn_task_configure_model(task, &c);
    c.cell = MN_LSTM;
    c.hidden_size = 32;
    *out = NULL;
    if (!(st = mn_model_create(&c, 3, out)) && !(st = mn_trainer_create(*out, task, &tc, &tr)))
        for (int i = 0; i < steps && !st; i++) {
            mn_step_stats ss;
            st = mn_trainer_step(tr, &ss);
        }
    mn_trainer_free(tr);
    mn_task_free(task);
    return st;
}

static int write_abc(char *path, size_t cap) {
    char dir[256], text[3001];
    if (!mn_test_tmpdir(dir, sizeof dir, "generate")) return 0;
    for (int i = 0; i < 3000; i++) text[i] = "abc"[i % 3];
    snprintf(path, cap, "%s/abc.txt", dir);
    return mn_test_write_file(path, text, 3000);
}

TEST(generate_stream_is_seeded_and_in_vocabulary) {
    char path[512], a[41], b[41];
    REQUIRE(write_abc(path, sizeof path), "cannot write the text");
    mn_model *m = NULL;
    REQUIRE_OK(train_on_text(path, 2, &m));
    /* sampled (temperature 1): the same state, the same bytes */
    for (int rep = 0; rep < 2; rep++) {
        mn_stream *s = NULL;
        float logits[256];
        REQUIRE_OK(mn_stream_create(m, 1, &s));
        int32_t id = 'a';
        uint64_t rng = 99;
        char *o = rep ? b : a;
        for (int k = 0; k < 40; k++) {
            REQUIRE_OK(mn_stream_step(s, NULL, &id, logits));
            REQUIRE_OK(mn_sample_logits(logits, 256, 1.0, 0, &rng, &id));
            CHECK(id >= 0 && id < 256, "drew %d", (int)id);
            o[k] = (char)id;
        }
        o[40] = 0;
        mn_stream_free(s);
    }
    CHECK(!memcmp(a, b, 40), "the same seed gave other text");
    mn_model_free(m);
}

SLOW_TEST(learn_lstm_generates_abc) {
    char path[512], out[31];
    REQUIRE(write_abc(path, sizeof path), "cannot write the text");
    mn_model *m = NULL;
    REQUIRE_OK(train_on_text(path, 300, &m));
    REQUIRE_OK(continue_text(m, "abcab", 30, out));
    printf("    LSTM on \"abcabc...\", 300 steps: \"abcab\" -> \"%s\"\n", out);
    char want[31];
    for (int i = 0; i < 30; i++) want[i] = "cab"[i % 3];
    want[30] = 0;
    CHECK(!strcmp(out, want), "greedy continuation \"%s\", want \"%s\"", out, want);
    REQUIRE_OK(continue_text(m, "bcabcabca", 12, out));
    CHECK(!strncmp(out, "bcabcabcabca", 12), "from \"bcabcabca\": \"%s\"", out);
    mn_model_free(m);
}
