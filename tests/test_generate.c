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

/* mn_task_from_data "text:" with a tokenizer: the tokenizer's vocabulary, ids that decode
 * to the text, tokens per character from the held-out part; other kinds refuse it */
TEST(text_data_with_tokenizer) {
    char dir[256], path[512], tpath[512], text[4000];
    REQUIRE(mn_test_tmpdir(dir, sizeof dir, "datatok"), "tmpdir");
    size_t n = 0;
    while (n + 20 < sizeof text) n += (size_t)snprintf(text + n, sizeof text - n, "%s ",
                                                       n % 3 ? "alpha beta" : "gamma");
    snprintf(path, sizeof path, "%s/t.txt", dir);
    snprintf(tpath, sizeof tpath, "%s/tok.json", dir);
    REQUIRE(mn_test_write_file(path, text, n), "write");
    mn_tokenizer *tok = NULL;
    const char *texts[1] = {text};
    REQUIRE_OK(mn_tokenizer_train(texts, &n, 1, 280, &tok));
    REQUIRE_OK(mn_tokenizer_save(tok, tpath));
    size_t want_eval = 0, split = n - (size_t)(0.1 * n + 0.5);
    REQUIRE_OK(mn_tokenizer_encode(tok, text + split, n - split, NULL, 0, &want_eval));
    mn_data_options d;
    mn_data_options_init(&d);
    d.length = 8;
    d.tokenizer = tpath;
    char spec[600];
    snprintf(spec, sizeof spec, "text:%s", path);
    mn_task *t = NULL;
    REQUIRE_OK(mn_task_from_data(spec, &d, 1, &t));
    const mn_task_info *in = mn_task_get_info(t);
    CHECK(in->vocab_size == mn_tokenizer_vocab_size(tok), "vocab %d", in->vocab_size);
    /* ASCII: characters are bytes; the eval part's ids over its bytes */
    CHECK(fabs(in->tokens_per_char - (double)want_eval / (double)(n - split)) < 1e-12,
          "tokens per char %g, want %zu/%zu", in->tokens_per_char, want_eval, n - split);
    CHECK(in->tokens_per_byte == in->tokens_per_char, "per byte %g", in->tokens_per_byte);
    CHECK(in->tokens_per_char < 0.6, "BPE tokens span characters: %g", in->tokens_per_char);
    const mn_batch *b = NULL;
    REQUIRE_OK(mn_task_next(t, 1, &b));
    int32_t ids[9];
    for (int s = 0; s < 8; s++) ids[s] = b->tokens[s];
    ids[8] = b->labels[7];
    char back[256];
    size_t nb = 0;
    REQUIRE_OK(mn_tokenizer_decode(tok, ids, 9, back, sizeof back, &nb));
    back[nb] = 0;
    CHECK(strstr(text, back) != NULL, "a window's ids decode to \"%s\", not in the text", back);
    for (int s = 0; s + 1 < 8; s++)
        CHECK(b->labels[s] == b->tokens[s + 1], "label %d is not the next token", s);
    mn_task_free(t);
    d.length = 0;
    CHECK(mn_task_from_data("npy:a.npy,b.npy", &d, 1, &t) == MN_E_ARG, "npy with a tokenizer");
    d.length = 8;
    d.tokenizer = path;   /* not a tokenizer.json */
    CHECK(mn_task_from_data(spec, &d, 1, &t) == MN_E_INPUT, "a text file as the tokenizer");
    mn_tokenizer_free(tok);
}
