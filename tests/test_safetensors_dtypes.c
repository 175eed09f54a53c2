/* safetensors beyond float32: every dtype of the format is validated and read, whether or
 * not mnemo uses it; F16, BF16 and F64 weights are read as float32 (exactly, exactly,
 * rounded); PyTorch state dicts saved with module.half(), .bfloat16(), .double() or
 * holding unused F16/BF16/BOOL tensors run in `mnemo predict`'s stack and give PyTorch's
 * output (tests/fixtures/predict, tools/gen_reader_fixtures.py). Also mn_escape, which
 * every reader message uses for names from files. */
#include "test.h"
#include "core.h"
#include "safetensors.h"

#include <float.h>
#include <stdlib.h>
#include <string.h>

/* A file image: 8-byte little-endian header length, header text, then data bytes. */
static size_t image(unsigned char *out, const char *header, const void *data, size_t dlen) {
    uint64_t n = strlen(header);
    for (int i = 0; i < 8; i++) out[i] = (unsigned char)(n >> (8 * i));
    memcpy(out + 8, header, n);
    if (dlen) memcpy(out + 8 + n, data, dlen);
    return 8 + n + dlen;
}

static unsigned char img[8192];

TEST(safetensors_every_dtype) {
    /* one tensor of 8 elements per dtype, laid end to end: 8 * bits / 8 = bits bytes */
    char header[4096];
    size_t n = (size_t)snprintf(header, sizeof header, "{\"__metadata__\":null");
    size_t at = 0;
    for (int d = 0; d < MN_ST_NDTYPES; d++) {
        int bits = mn_st_dtype_bits((mn_st_dtype)d);
        REQUIRE(bits > 0 && strcmp(mn_st_dtype_name((mn_st_dtype)d), "?"), "dtype %d", d);
        n += (size_t)snprintf(header + n, sizeof header - n, ",\"t%s\":{\"dtype\":\"%s\","
                              "\"shape\":[2,4],\"data_offsets\":[%zu,%zu],\"note\":\"x\"}",
                              mn_st_dtype_name((mn_st_dtype)d), mn_st_dtype_name((mn_st_dtype)d),
                              at, at + (size_t)bits);
        at += (size_t)bits;
    }
    snprintf(header + n, sizeof header - n, "}");
    unsigned char data[1024];
    for (size_t i = 0; i < at; i++) data[i] = (unsigned char)(i * 37 + 11);
    mn_st_file *f = NULL;
    REQUIRE_OK(mn_st_parse(img, image(img, header, data, at), &f));
    CHECK(mn_st_count(f) == MN_ST_NDTYPES && mn_st_meta_count(f) == 0, "%d tensors",
          mn_st_count(f));
    for (int d = 0; d < MN_ST_NDTYPES; d++) {
        char name[40];
        snprintf(name, sizeof name, "t%s", mn_st_dtype_name((mn_st_dtype)d));
        const mn_st_tensor *t = mn_st_find(f, name);
        CHECK(t && t->dtype == (mn_st_dtype)d && t->numel == 8 && t->ndim == 2 &&
              t->nbytes == (size_t)mn_st_dtype_bits((mn_st_dtype)d), "%s", name);
    }
    /* the whole-byte dtypes write and read back */
    int64_t shape[2] = { 2, 4 };
    mn_st_entry e[MN_ST_NDTYPES];
    int ne = 0;
    for (int d = 0; d < MN_ST_NDTYPES; d++) {
        const mn_st_tensor *t = mn_st_at(f, d);
        if (mn_st_dtype_bits(t->dtype) % 8 == 0)
            e[ne++] = (mn_st_entry){ t->name, t->dtype, 2, shape, t->data };
    }
    char dir[256], path[300];
    REQUIRE(mn_test_tmpdir(dir, sizeof dir, "st-dtypes"), "mkdtemp");
    snprintf(path, sizeof path, "%s/all.safetensors", dir);
    CHECK_OK(mn_st_write(path, e, ne, NULL));
    mn_st_file *g = NULL;
    CHECK_OK(mn_st_read(path, &g));
    for (int i = 0; g && i < ne; i++) {
        const mn_st_tensor *t = mn_st_find(g, e[i].name);
        CHECK(t && t->dtype == e[i].dtype && !memcmp(t->data, e[i].data, t->nbytes),
              "%s written and read back", e[i].name);
    }
    mn_st_free(g);
    mn_st_entry f4 = { "x", MN_ST_F4, 2, shape, data };
    CHECK(mn_st_write(path, &f4, 1, NULL) == MN_E_ARG, "F4 is not written");
    remove(path);
    remove(dir);
    mn_st_free(f);
}

/* bits of a float, for comparisons that NaN and flush-to-zero cannot spoil */
static uint32_t fbits(float x) {
    uint32_t b;
    memcpy(&b, &x, 4);
    return b;
}

TEST(safetensors_read_f32) {
    /* F16: all 65536 patterns against the definition, (-1)^s 2^(e-15) (1 + m/1024) */
    static uint16_t h[65536];
    static float got[65536];
    for (int i = 0; i < 65536; i++) h[i] = (uint16_t)i;
    char header[256];
    snprintf(header, sizeof header, "{\"h\":{\"dtype\":\"F16\",\"shape\":[65536],"
             "\"data_offsets\":[0,131072]}}");
    static unsigned char big[8 + 256 + 131072];
    mn_st_file *f = NULL;
    REQUIRE_OK(mn_st_parse(big, image(big, header, h, sizeof h), &f));
    REQUIRE_OK(mn_st_read_f32(mn_st_find(f, "h"), got, 65536, "h.st"));
    int wrong = -1;
    for (int i = 0; i < 65536 && wrong < 0; i++) {
        int e = (i >> 10) & 31, m = i & 1023;
        double v = e == 31 ? (m ? NAN : INFINITY) : e ? ldexp(1024 + m, e - 25) : ldexp(m, -24);
        float want = (float)((i & 0x8000) ? -v : v);
        if (isnan(want) ? !isnan(got[i]) || signbit(got[i]) != signbit(want)
                        : fbits(got[i]) != fbits(want))
            wrong = i;
    }
    CHECK(wrong < 0, "F16 0x%04x reads as %a", wrong, wrong < 0 ? 0.0 : (double)got[wrong]);
    mn_st_free(f);

    /* BF16 is float's upper half; F64 rounds to nearest (ties to even), keeps NaN and
     * infinities, and refuses a finite value beyond float's range */
    const uint16_t bf[4] = { 0x3f80, 0xc0a0, 0x0001, 0x7fc1 };
    const double d[8] = { 1 + 0x1p-24 + 0x1p-30, 1 + 0x1p-24, -(1 + 0x1p-23 + 0x1p-24),
                          1e-50, -INFINITY, FLT_MAX, (double)FLT_MAX * (1 + 0x1p-25), NAN };
    unsigned char data[8 + 64];
    memcpy(data, bf, 8);
    memcpy(data + 8, d, 64);
    REQUIRE_OK(mn_st_parse(img, image(img, "{\"bf\":{\"dtype\":\"BF16\",\"shape\":[4],"
                                          "\"data_offsets\":[0,8]},\"d\":{\"dtype\":\"F64\","
                                          "\"shape\":[8],\"data_offsets\":[8,72]}}",
                                   data, sizeof data), &f));
    float o[8];
    REQUIRE_OK(mn_st_read_f32(mn_st_find(f, "bf"), o, 4, "b.st"));
    CHECK(o[0] == 1 && o[1] == -5 && fbits(o[2]) == 0x00010000u && fbits(o[3]) == 0x7fc10000u,
          "BF16: %g %g %a %08x", o[0], o[1], o[2], fbits(o[3]));
    REQUIRE_OK(mn_st_read_f32(mn_st_find(f, "d"), o, 8, "b.st"));
    CHECK(o[0] == 1 + 0x1p-23f && o[1] == 1 && o[2] == -(1 + 0x1p-22f) && o[3] == 0 &&
          o[4] == -INFINITY && o[5] == FLT_MAX && o[6] == FLT_MAX && isnan(o[7]),
          "F64 rounding: %a %a %a %a %a %a %a %a", o[0], o[1], o[2], o[3], o[4], o[5], o[6],
          o[7]);
    mn_st_free(f);
    const double huge[2] = { 1, 3.5e38 };
    unsigned char hd[20] = { 0 };
    memcpy(hd, huge, 16);
    REQUIRE_OK(mn_st_parse(img, image(img, "{\"rnn.w\\u001b[31m\":{\"dtype\":\"F64\","
                                          "\"shape\":[2],\"data_offsets\":[0,16]},\"i\":{"
                                          "\"dtype\":\"I32\",\"shape\":[1],\"data_offsets\":"
                                          "[16,20]}}", hd, 20), &f));
    CHECK(mn_st_read_f32(mn_st_find(f, "rnn.w\x1b[31m"), o, 2, "h.st") == MN_E_INPUT &&
          strstr(mn_last_error(), "h.st: tensor 'rnn.w\\x1b[31m' holds 3.5") &&
          strstr(mn_last_error(), "element 1") && !strchr(mn_last_error(), '\x1b'),
          "F64 beyond float: %s", mn_last_error());
    CHECK(mn_st_read_f32(mn_st_find(f, "i"), o, 1, "h.st") == MN_E_INPUT &&
          strstr(mn_last_error(), "tensor 'i' is not F32, F16, BF16 or F64 (it is I32)"),
          "I32: %s", mn_last_error());
    CHECK(mn_st_read_f32(mn_st_find(f, "i"), o, 2, "h.st") == MN_E_ARG, "more than it holds");
    mn_st_free(f);
}

/* ------------------------------------------------ state dicts in other dtypes */

#define RTOL 1e-5   /* tests/test_predict.c's measure and bound */

static double rel_error(const float *got, const float *ref, size_t n) {
    double scale = 0, worst = 0;
    for (size_t i = 0; i < n; i++) scale = fmax(scale, fabs(ref[i]));
    for (size_t i = 0; i < n; i++) {
        double err = fabs((double)got[i] - ref[i]) / fmax(fmax(fabs(ref[i]), 1e-2 * scale), DBL_MIN);
        if (!(err <= worst)) worst = err;
    }
    return worst;
}

/* Runs the stack the fixture's metadata describes on its x; the error against its y. */
static double run_fixture(const char *name, const char *x_name) {
    char path[600];
    snprintf(path, sizeof path, "%s/predict/%s.safetensors", mn_test_fixture_dir(), name);
    mn_st_file *f = NULL;
    mn_stack_config c = {0};
    if (mn_st_read(path, &f)) {
        mn_test_fail(__FILE__, __LINE__, "%s: %s", name, mn_last_error());
        return INFINITY;
    }
    int ok = mn_cell_parse(mn_st_meta(f, "mode"), &c.cell) == MN_OK;
    c.input_size = atoi(mn_st_meta(f, "input"));
    c.hidden_size = atoi(mn_st_meta(f, "hidden"));
    c.num_layers = atoi(mn_st_meta(f, "layers"));
    c.bidirectional = atoi(mn_st_meta(f, "bidirectional"));
    mn_st_free(f);
    mn_stack *s = NULL;
    mn_array x = {0}, y = {0};
    double err = INFINITY;
    mn_status st = ok ? mn_stack_load_torch(path, &c, &s) : MN_E_INPUT;
    snprintf(path, sizeof path, "%s/predict/%s", mn_test_fixture_dir(), x_name);
    if (!st) st = mn_array_load(path, &x);
    snprintf(path, sizeof path, "%s/predict/%s_y.npy", mn_test_fixture_dir(), name);
    if (!st) st = mn_array_load(path, &y);
    float *out = NULL;
    if (!st && (out = malloc(y.count * sizeof *out)) &&
        !(st = mn_stack_forward(s, x.data, (int)x.shape[0], (int)x.shape[1], NULL, out)))
        err = rel_error(out, y.data, y.count);
    if (st) mn_test_fail(__FILE__, __LINE__, "%s: %s", name, mn_last_error());
    free(out);
    mn_array_free(&x);
    mn_array_free(&y);
    mn_stack_free(s);
    return err;
}

TEST(safetensors_half_precision_predict) {
    static const char *const names[] = { "lstm_half", "lstm_bf16_l2_bidir", "gru_f64",
                                         "lstm_mixed" };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char x[64];
        snprintf(x, sizeof x, "%s_x.npy", names[i]);
        double e = run_fixture(names[i], x);
        CHECK(e <= RTOL, "%s: relative error %.3g against PyTorch (bound %g)", names[i], e, RTOL);
    }
    /* lstm_l1's input stored big-endian in Fortran order is the same input */
    double e = run_fixture("lstm_l1", "lstm_l1_x_be_fortran.npy");
    CHECK(e <= RTOL, "lstm_l1 on a big-endian Fortran-order x: relative error %.3g", e);
    /* the mixed file's unused tensors keep their dtypes; the probe looks past them */
    char path[600];
    snprintf(path, sizeof path, "%s/predict/lstm_mixed.safetensors", mn_test_fixture_dir());
    mn_st_file *f = NULL;
    REQUIRE_OK(mn_st_read(path, &f));
    CHECK(mn_st_find(f, "head.weight")->dtype == MN_ST_F16 &&
          mn_st_find(f, "head.bias")->dtype == MN_ST_BF16 &&
          mn_st_find(f, "mask")->dtype == MN_ST_BOOL, "lstm_mixed holds F16, BF16, BOOL");
    mn_st_free(f);
    mn_stack_config got;
    CHECK_OK(mn_stack_probe_torch(path, &got));
    CHECK(got.cell == MN_LSTM && got.hidden_size == 4 && got.input_size == 5 &&
          got.num_layers == 1 && !got.bidirectional, "probe of lstm_mixed");
}

/* ------------------------------------------------------------- mn_escape */

TEST(escape_file_text) {
    char b[MN_ESCAPE_CAP];
    CHECK(!strcmp(mn_escape(b, sizeof b, "rnn.weight_ih_l0"), "rnn.weight_ih_l0"), "%s", b);
    CHECK(!strcmp(mn_escape(b, sizeof b, "\xe5\xb1\x82.w"), "\xe5\xb1\x82.w"), "UTF-8 kept: %s", b);
    CHECK(!strcmp(mn_escape(b, sizeof b, "a\x1b[2J\n\x7f\\"), "a\\x1b[2J\\x0a\\x7f\\\\"),
          "controls: %s", b);
    CHECK(!strcmp(mn_escape(b, sizeof b, "\xc0\xaf\xed\xa0\x80\xff"),
                  "\\xc0\\xaf\\xed\\xa0\\x80\\xff"), "broken UTF-8: %s", b);
    CHECK(!strcmp(mn_escape(b, sizeof b, "x\xe2\x80\xaey\xc2\x9b"), "x\\xe2\\x80\\xaey\\xc2\\x9b"),
          "bidi override and C1 CSI: %s", b);
    CHECK(!strcmp(mn_escape_n(b, sizeof b, "a\0b", 3), "a\\x00b"), "NUL: %s", b);
    char longer[400];
    memset(longer, 'n', sizeof longer - 1);
    longer[sizeof longer - 1] = 0;
    mn_escape(b, sizeof b, longer);
    CHECK(strlen(b) == sizeof b - 1 && !strcmp(b + strlen(b) - 3, "..."), "cut: %zu", strlen(b));
    memset(longer, '\x01', sizeof longer - 1);
    mn_escape(b, sizeof b, longer);
    CHECK(strlen(b) < sizeof b && !strcmp(b + strlen(b) - 3, "...") && !strchr(b, 1),
          "cut between escapes: %s", b);
    memset(b, 'z', 8);
    mn_escape(b, 4, "abcdef");
    CHECK(!strcmp(b, "...") || strlen(b) < 4, "tiny buffer: %s", b);
    mn_escape(b, sizeof b, NULL);
    CHECK(!b[0], "NULL is empty");
    /* exactly fitting text is not cut */
    memset(longer, 'k', sizeof b - 1);
    longer[sizeof b - 1] = 0;
    CHECK(!strcmp(mn_escape(b, sizeof b, longer), longer), "fits exactly");
}

/* Every reader message that quotes the file escapes it: tensor names (safetensors
 * validation, the state-dict loaders, mnemo checkpoints) and metadata values. */
TEST(safetensors_messages_escape_file_text) {
    char dir[256], path[300];
    REQUIRE(mn_test_tmpdir(dir, sizeof dir, "st-escape"), "mkdtemp");
    snprintf(path, sizeof path, "%s/e.safetensors", dir);
    const float v[4] = { 0 };
    int64_t one[1] = { 1 };
    static const char *const evil = "w\x1b]0;x\x07\x1b[2J\xc2\x9b\x7f";
    static const char *const shown = "w\\x1b]0;x\\x07\\x1b[2J\\xc2\\x9b\\x7f";
    struct { const char *what; mn_st_entry e[2]; int n; const char *const *meta; } cases[] = {
        { "overlap", { { evil, MN_ST_F32, 1, one, v }, { "b", MN_ST_F32, 1, one, v } }, 2, NULL },
        { "checkpoint metadata", { { "rnn.weight_ih_l0", MN_ST_F32, 1, one, v } }, 1,
          (const char *const[]){ "format", "mnemo", "model.cell", "lstm", "model.input_size",
                                 evil, NULL } },
        { "checkpoint choice", { { "rnn.weight_ih_l0", MN_ST_F32, 1, one, v } }, 1,
          (const char *const[]){ "format", "mnemo", "model.cell", "rnn", "model.input_size",
                                 "1", "model.vocab_size", "0", "model.embed_size", "0",
                                 "model.hidden_size", "1", "model.num_layers", "1",
                                 "model.bidirectional", "0", "model.output_size", "1",
                                 "model.output", evil, "model.loss", "mse", NULL } },
        { "state dict", { { evil, MN_ST_F32, 1, one, v } }, 1, NULL },
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        REQUIRE_OK(mn_st_write(path, cases[c].e, cases[c].n, cases[c].meta));
        mn_status s;
        if (c == 0) {
            /* the writer lays tensors end to end: make both start at 0 by hand */
            unsigned char buf[1024];
            long n = mn_test_read_file(path, buf, sizeof buf);
            unsigned char *p = NULL;
            for (long i = 0; i + 5 <= n && !p; i++)
                if (!memcmp(buf + i, "[4,8]", 5)) p = buf + i;
            REQUIRE(p, "offsets of b");
            memcpy(p, "[0,4]", 5);
            s = mn_st_parse(buf, (size_t)n - 4, &(mn_st_file *){ NULL });
            CHECK(s == MN_E_INPUT, "overlap refused");
        } else if (c < 3) {
            mn_model *m = NULL;
            s = mn_model_load(path, &m);
            mn_model_free(m);
        } else {
            mn_stack_config cfg = {.cell = MN_LSTM, .input_size = 1, .hidden_size = 1, .num_layers = 1};
            mn_stack *st = NULL;
            s = mn_stack_load_torch(path, &cfg, &st);
            mn_stack_free(st);
        }
        const char *m = mn_last_error();
        int raw = 0;
        for (const unsigned char *q = (const unsigned char *)m; *q; q++)
            raw |= *q < 0x20 || *q == 0x7f || *q >= 0x80;
        CHECK(s == MN_E_INPUT && strstr(m, shown) && !raw, "%s: status %d, \"%s\"",
              cases[c].what, (int)s, m);
    }
    remove(path);
    remove(dir);
}
