/* mn_stack (what `mnemo predict` runs) against PyTorch: the fixtures of
 * tools/gen_predict_fixtures.py hold plain nn.RNN / nn.LSTM / nn.GRU state dicts, inputs
 * and PyTorch's outputs (computed in float64, stored as float32). Also: the strict loader's
 * refusals, prefixed state dicts, and the probe. */
#include "test.h"
#include "safetensors.h"

#include <float.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The measure of tests/test_golden.c: |got - ref| / max(|ref|, 1e-2 * max|ref|), where
 * elements near 0 through cancellation are judged against 1% of the tensor's scale.
 * Forward outputs alone meet 1e-5 (PyTorch's own float32 path scores up to 5.3e-6 on
 * these fixtures); the gradients in test_golden.c need 1e-4. */
#define PREDICT_RTOL 1e-5
/* The fixtures of tools/gen_predict_fixtures_proj.py: lstm_nobias_l1 has an element of
 * 0.0032 next to a scale of 0.34, where mnemo's fast tanh misses by 4e-8 absolute, 1.2e-5 on
 * this measure (PyTorch's own float32 path: 2.6e-6). A wrong gate or a missing bias is
 * off by 1e-2 or more. */
#define PREDICT_RTOL_OPTS 2e-5
static double rtol = PREDICT_RTOL;

static const char *const fixtures[] = {
    "rnn_l1", "rnn_l2_bidir", "rnn-relu_l1", "rnn-relu_l2_bidir",
    "lstm_l1", "lstm_l2_bidir", "gru_l1", "gru_l2_bidir",
};
#define NFIX ((int)(sizeof fixtures / sizeof fixtures[0]))

static void fixture_path(char *buf, size_t cap, const char *name, const char *suffix) {
    snprintf(buf, cap, "%s/predict/%s%s", mn_test_fixture_dir(), name, suffix);
}

static double rel_error(const float *got, const float *ref, size_t n, size_t *at) {
    double scale = 0, worst = 0;
    *at = 0;
    for (size_t i = 0; i < n; i++) scale = fmax(scale, fabs(ref[i]));
    for (size_t i = 0; i < n; i++) {
        double denom = fmax(fmax(fabs(ref[i]), 1e-2 * scale), DBL_MIN);
        double err = fabs((double)got[i] - ref[i]) / denom;
        if (!(err <= worst)) { worst = err; *at = i; }   /* NaN becomes the worst */
        if (isnan(err)) break;
    }
    return worst;
}

static int meta_int(const mn_st_file *f, const char *key) {
    const char *v = mn_st_meta(f, key);
    return v ? atoi(v) : -1;
}

/* The configuration a fixture records in its metadata. */
static int fixture_config(const char *name, mn_stack_config *c) {
    char path[600];
    fixture_path(path, sizeof path, name, ".safetensors");
    mn_st_file *f;
    if (mn_st_read(path, &f)) return 0;
    int ok = mn_cell_parse(mn_st_meta(f, "mode"), &c->cell) == MN_OK;
    c->input_size = meta_int(f, "input");
    c->hidden_size = meta_int(f, "hidden");
    c->num_layers = meta_int(f, "layers");
    c->bidirectional = meta_int(f, "bidirectional");
    c->proj_size = mn_st_meta(f, "proj_size") ? meta_int(f, "proj_size") : 0;
    c->no_bias = mn_st_meta(f, "bias") && meta_int(f, "bias") == 0;
    mn_st_free(f);
    return ok;
}

static int report;   /* print each case's error (MNEMO_TEST_VERBOSE set, first pass) */

/* Runs the stack on the fixture's x (with lengths when given: _lengths.npy, int32, or
 * _lengths64.npy, int64) and compares with ref. */
static double run_case(const char *name, const char *ref_suffix, int with_lengths) {
    char path[600];
    mn_stack_config c;
    mn_stack *s = NULL;
    mn_array x = {0}, ref = {0}, len = {0};
    float *y = NULL;
    int32_t len32[16];
    double err = INFINITY;
    if (!fixture_config(name, &c)) {
        mn_test_fail(__FILE__, __LINE__, "%s: fixture metadata: %s", name, mn_last_error());
        return err;
    }
    fixture_path(path, sizeof path, name, ".safetensors");
    mn_status st = mn_stack_load_torch(path, &c, &s);
    fixture_path(path, sizeof path, name, "_x.npy");
    if (!st) st = mn_array_load(path, &x);
    fixture_path(path, sizeof path, name, ref_suffix);
    if (!st) st = mn_array_load(path, &ref);
    fixture_path(path, sizeof path, name, with_lengths == 2 ? "_lengths64.npy" : "_lengths.npy");
    if (!st && with_lengths) st = mn_array_load(path, &len);
    if (st) {
        mn_test_fail(__FILE__, __LINE__, "%s: %s", name, mn_last_error());
        goto out;
    }
    int T = (int)x.shape[0], B = (int)x.shape[1], O = mn_stack_output_size(s);
    if (x.ndim != 3 || ref.ndim != 3 || ref.shape[0] != T || ref.shape[1] != B ||
        ref.shape[2] != O || (with_lengths && (len.count != (size_t)B || B > 16 ||
                                                 len.dtype != (with_lengths == 2
                                                               ? MN_ARRAY_I64 : MN_ARRAY_I32)))) {
        mn_test_fail(__FILE__, __LINE__, "%s: fixture shapes do not fit the stack", name);
        goto out;
    }
    for (int b = 0; with_lengths && b < B; b++)
        len32[b] = with_lengths == 2 ? (int32_t)((const int64_t *)len.data)[b]
                                     : ((const int32_t *)len.data)[b];
    y = malloc(ref.count * sizeof *y);
    if (!y) goto out;
    for (size_t i = 0; i < ref.count; i++) y[i] = NAN;   /* every element must be written */
    if (mn_stack_forward(s, x.data, T, B, with_lengths ? len32 : NULL, y)) {
        mn_test_fail(__FILE__, __LINE__, "%s: forward: %s", name, mn_last_error());
        goto out;
    }
    size_t at;
    err = rel_error(y, ref.data, ref.count, &at);
    if (!(err <= rtol))
        mn_test_fail(__FILE__, __LINE__, "%s%s: element %zu: got %.9g, PyTorch %.9g (relative "
                     "error %.3g > %g)", name, with_lengths ? " (padded)" : "", at,
                     (double)y[at], (double)((float *)ref.data)[at], err, rtol);
    if (report && getenv("MNEMO_TEST_VERBOSE"))
        printf("    %s%s: max relative error %.2e\n", name, with_lengths ? " padded" : "", err);
out:
    free(y);
    mn_array_free(&x);
    mn_array_free(&ref);
    mn_array_free(&len);
    mn_stack_free(s);
    return err;
}

TEST(predict_matches_pytorch) {
    size_t mem0 = 0;
    /* The GEMM keeps a scratch buffer for the life of the thread: count leaks from the
     * second pass on. */
    for (int pass = 0; pass < 2; pass++) {
        if (pass) mem0 = mn_memory_in_use();
        report = !pass;
        for (int i = 0; i < NFIX; i++) {
            run_case(fixtures[i], "_y.npy", 0);
            if (strstr(fixtures[i], "_l2_bidir")) run_case(fixtures[i], "_y_pad.npy", 1);
        }
    }
    CHECK(mn_memory_in_use() == mem0, "leaked %zu bytes", mn_memory_in_use() - mem0);
}

TEST(predict_probe) {
    for (int i = 0; i < NFIX; i++) {
        char path[600];
        mn_stack_config want, got;
        REQUIRE(fixture_config(fixtures[i], &want), "%s: metadata", fixtures[i]);
        fixture_path(path, sizeof path, fixtures[i], ".safetensors");
        REQUIRE_OK(mn_stack_probe_torch(path, &got));
        /* a plain state dict cannot tell rnn-relu from rnn */
        mn_cell_kind cell = want.cell == MN_RNN_RELU ? MN_RNN_TANH : want.cell;
        CHECK(got.cell == cell && got.input_size == want.input_size &&
              got.hidden_size == want.hidden_size && got.num_layers == want.num_layers &&
              got.bidirectional == want.bidirectional, "%s: probe gives %s L%d H%d I%d bi%d",
              fixtures[i], mn_cell_name(got.cell), got.num_layers, got.hidden_size,
              got.input_size, got.bidirectional);
    }
}

/* ----------------------------------------------------- refusals, prefixes */

/* Loads with cfg, expects MN_E_INPUT and `part` in the message. */
static void expect_refused(const char *path, const mn_stack_config *cfg, const char *part,
                           int line) {
    mn_stack *s = (mn_stack *)1;
    size_t mem0 = mn_memory_in_use();
    mn_status st = mn_stack_load_torch(path, cfg, &s);
    const char *msg = mn_last_error();
    if (st != MN_E_INPUT || s != NULL || !strstr(msg, part))
        mn_test_fail(__FILE__, line, "status %d, message \"%s\" (wanted \"%s\")", (int)st, msg,
                     part);
    if (st == MN_OK) mn_stack_free(s);
    if (mn_memory_in_use() != mem0)
        mn_test_fail(__FILE__, line, "leaked %zu bytes", mn_memory_in_use() - mem0);
}
#define REFUSED(path, cfg, part) expect_refused(path, cfg, part, __LINE__)

/* nn.LSTM(proj_size=3) and bias=False modules (tools/gen_predict_fixtures_proj.py), with
 * int64 lengths: read, probed and run as PyTorch runs them. */
static const char *const fixtures_opts[] = {
    "lstm_proj_l1", "lstm_proj_l2_bidir", "lstm_nobias_l1", "gru_nobias_l2_bidir",
};

TEST(predict_proj_and_nobias_match_pytorch) {
    rtol = PREDICT_RTOL_OPTS;
    for (size_t i = 0; i < sizeof fixtures_opts / sizeof fixtures_opts[0]; i++) {
        const char *name = fixtures_opts[i];
        run_case(name, "_y.npy", 0);
        if (strstr(name, "_l2_bidir")) run_case(name, "_y_pad.npy", 2);
        char path[600];
        mn_stack_config want, got;
        REQUIRE(fixture_config(name, &want), "%s: metadata", name);
        fixture_path(path, sizeof path, name, ".safetensors");
        REQUIRE_OK(mn_stack_probe_torch(path, &got));
        CHECK(got.cell == want.cell && got.hidden_size == want.hidden_size &&
              got.proj_size == want.proj_size && got.no_bias == want.no_bias &&
              got.input_size == want.input_size && got.num_layers == want.num_layers &&
              got.bidirectional == want.bidirectional, "%s: probe gives %s H%d P%d nobias %d "
              "I%d L%d bi%d", name, mn_cell_name(got.cell), got.hidden_size, got.proj_size,
              got.no_bias, got.input_size, got.num_layers, got.bidirectional);
    }
    rtol = PREDICT_RTOL;
    /* the report's module, nn.LSTM(4, 5, proj_size=3): other options are refused by name */
    char path[600];
    mn_stack_config c, w;
    REQUIRE(fixture_config("lstm_proj_l1", &c), "metadata");
    fixture_path(path, sizeof path, "lstm_proj_l1", ".safetensors");
    w = c; w.proj_size = 0;
    REFUSED(path, &w, "has proj_size 3 (weight_hr_l0 is [3, 5]), not 0");
    w = c; w.proj_size = 2;
    REFUSED(path, &w, "has proj_size 3 (weight_hr_l0 is [3, 5]), not 2");
    w = c; w.hidden_size = 4; w.proj_size = 3;
    REFUSED(path, &w, "has hidden size 5 (weight_hr_l0 is [3, 5]), not 4");
    w = c; w.no_bias = 1;
    REFUSED(path, &w, "has biases (bias_ih_l0 is present)");
    w = c; w.cell = MN_GRU; w.proj_size = 0;
    REFUSED(path, &w, "holds an LSTM (weight_hh_l0 is [20, 3]: 4 gate blocks of a projected");
    fixture_path(path, sizeof path, "lstm_nobias_l1", ".safetensors");
    REQUIRE(fixture_config("lstm_nobias_l1", &c), "metadata");
    w = c; w.no_bias = 0;
    REFUSED(path, &w, "has no biases, as a module made with bias=False");
    w = c; w.proj_size = 2;
    REFUSED(path, &w, "has no projection (no weight_hr_l0), not proj_size 2");
    /* options PyTorch itself refuses */
    mn_stack *s = NULL;
    w = c; w.proj_size = 5;
    CHECK(mn_stack_load_torch(path, &w, &s) == MN_E_ARG && strstr(mn_last_error(), "proj_size"),
          "proj_size = hidden: %s", mn_last_error());
    w = c; w.cell = MN_GRU; w.proj_size = 2;
    CHECK(mn_stack_load_torch(path, &w, &s) == MN_E_ARG && strstr(mn_last_error(), "LSTM"),
          "proj_size on a GRU: %s", mn_last_error());
}

TEST(predict_wrong_options) {
    char path[600];
    mn_stack_config c, w;
    REQUIRE(fixture_config("lstm_l2_bidir", &c), "metadata");
    fixture_path(path, sizeof path, "lstm_l2_bidir", ".safetensors");
    w = c; w.hidden_size = 5;
    REFUSED(path, &w, "has hidden size 4 (weight_hh_l0 is [16, 4]), not 5");
    w = c; w.input_size = 3;
    REFUSED(path, &w, "has input size 5 (weight_ih_l0 is [16, 5]), not 3");
    w = c; w.num_layers = 3;
    REFUSED(path, &w, "has 2 layers (no weight_ih_l2), not 3");
    w = c; w.num_layers = 1;
    REFUSED(path, &w, "has 2 layers (it holds weight_ih_l1), not 1");
    w = c; w.bidirectional = 0;
    REFUSED(path, &w, "is bidirectional");
    w = c; w.cell = MN_GRU;
    REFUSED(path, &w, "holds an LSTM");
    fixture_path(path, sizeof path, "gru_l1", ".safetensors");
    REQUIRE(fixture_config("gru_l1", &c), "metadata");
    w = c; w.bidirectional = 1;
    REFUSED(path, &w, "is unidirectional");
    w = c; w.cell = MN_RNN_TANH;
    REFUSED(path, &w, "holds a GRU");
    /* not a state dict at all: a golden fixture holds x, y and gradients besides */
    snprintf(path, sizeof path, "%s/lstm_l1.safetensors", mn_test_fixture_dir());
    w.cell = MN_LSTM; w.num_layers = 1; w.bidirectional = 0; w.hidden_size = 3;
    w.input_size = 4;
    REFUSED(path, &w, "more than one recurrent stack");   /* weight_ih_l0, grad.weight_ih_l0 */
    fixture_path(path, sizeof path, "lstm_l1", "_x.npy");
    REFUSED(path, &w, "header length");
    fixture_path(path, sizeof path, "", "");
    REFUSED(path, &w, "directory");
    w.hidden_size = 0;
    CHECK(mn_stack_load_torch(path, &w, &(mn_stack *){NULL}) == MN_E_ARG, "hidden 0");
}

/* A copy of a fixture's tensors, edited: every name gets `prefix`, `drop` is left out,
 * `add` is added as an F32 [2] tensor, `as_i32` keeps its bytes and shape but is typed
 * I32, and the 2-D `transpose` gets its shape swapped. */
typedef struct {
    const char *prefix, *drop, *add, *as_i32, *transpose;
} edit;

static int write_edited(const char *src, const char *dst, const edit *e) {
    mn_st_file *f;
    if (mn_st_read(src, &f)) return 0;
    int n = mn_st_count(f), k = 0;
    mn_st_entry *en = calloc((size_t)n + 1, sizeof *en);
    char (*names)[128] = calloc((size_t)n + 1, sizeof *names);
    int64_t (*shapes)[8] = calloc((size_t)n + 1, sizeof *shapes);
    static const float two[2] = { 1, 2 };
    static const int64_t two_shape[1] = { 2 };
    int ok = en && names && shapes;
    for (int i = 0; ok && i < n; i++) {
        const mn_st_tensor *t = mn_st_at(f, i);
        if (e->drop && !strcmp(t->name, e->drop)) continue;
        snprintf(names[k], sizeof names[k], "%s%s", e->prefix ? e->prefix : "", t->name);
        memcpy(shapes[k], t->shape, sizeof shapes[k]);
        en[k] = (mn_st_entry){ names[k], t->dtype, t->ndim, shapes[k], t->data };
        if (e->as_i32 && !strcmp(t->name, e->as_i32)) en[k].dtype = MN_ST_I32;
        if (e->transpose && !strcmp(t->name, e->transpose)) {
            shapes[k][0] = t->shape[1];
            shapes[k][1] = t->shape[0];
        }
        k++;
    }
    if (ok && e->add) en[k++] = (mn_st_entry){ e->add, MN_ST_F32, 1, two_shape, two };
    ok = ok && mn_st_write(dst, en, k, (const char *[]){ "format", "test", NULL }) == MN_OK;
    free(en);
    free(names);
    free(shapes);
    mn_st_free(f);
    return ok;
}

TEST(predict_strict_keys) {
    char src[600], dst[600], dir[300];
    const char *base = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/mnemo-predict-XXXXXX", base && *base ? base : "/tmp");
    REQUIRE(mkdtemp(dir), "mkdtemp");
    snprintf(dst, sizeof dst, "%s/w.safetensors", dir);
    fixture_path(src, sizeof src, "gru_l2_bidir", ".safetensors");
    mn_stack_config c;
    REQUIRE(fixture_config("gru_l2_bidir", &c), "metadata");

    REQUIRE(write_edited(src, dst, &(edit){ .drop = "bias_hh_l1_reverse" }), "write");
    REFUSED(dst, &c, "tensor 'bias_hh_l1_reverse' is missing");
    REQUIRE(write_edited(src, dst, &(edit){ .add = "weight_ih_l0_extra" }), "write");
    REFUSED(dst, &c, "unexpected tensor 'weight_ih_l0_extra'");
    REQUIRE(write_edited(src, dst, &(edit){ .add = "fc.weight" }), "write");
    REFUSED(dst, &c, "unexpected tensor 'fc.weight'");
    REQUIRE(write_edited(src, dst, &(edit){ .add = "weight_hr_l0" }), "write");
    REFUSED(dst, &c, "proj_size");
    REQUIRE(write_edited(src, dst, &(edit){ .as_i32 = "bias_ih_l1" }), "write");
    REFUSED(dst, &c, "tensor 'bias_ih_l1' is not F32");
    REQUIRE(write_edited(src, dst, &(edit){ .transpose = "weight_hh_l1" }), "write");
    REFUSED(dst, &c, "'weight_hh_l1' has shape [4, 12]; this stack needs [12, 4]");
    REQUIRE(write_edited(src, dst, &(edit){ .prefix = "enc.", .add = "weight_ih_l0" }), "write");
    REFUSED(dst, &c, "more than one recurrent stack");
    REQUIRE(write_edited(src, dst, &(edit){ .drop = "weight_ih_l0" }), "write");
    REFUSED(dst, &c, "no tensor 'weight_ih_l0'");

    /* With a prefix, tensors outside it (a mnemo checkpoint's head, say) are ignored, and
     * the result is the unprefixed file's, bit for bit. */
    REQUIRE(write_edited(src, dst, &(edit){ .prefix = "rnn.", .add = "head.weight" }), "write");
    mn_stack *a = NULL, *b = NULL;
    mn_array x = {0};
    char xp[600];
    fixture_path(xp, sizeof xp, "gru_l2_bidir", "_x.npy");
    REQUIRE_OK(mn_array_load(xp, &x));
    CHECK_OK(mn_stack_load_torch(src, &c, &a));
    CHECK_OK(mn_stack_load_torch(dst, &c, &b));
    if (a && b) {
        int T = (int)x.shape[0], B = (int)x.shape[1];
        size_t n = (size_t)T * B * mn_stack_output_size(a);
        float *ya = calloc(n, sizeof *ya), *yb = calloc(n, sizeof *yb);
        CHECK_OK(mn_stack_forward(a, x.data, T, B, NULL, ya));
        CHECK_OK(mn_stack_forward(b, x.data, T, B, NULL, yb));
        CHECK(!memcmp(ya, yb, n * sizeof *ya), "prefixed state dict gives the same output");
        int32_t bad_len[3] = { 1, 0, 2 };
        CHECK(mn_stack_forward(a, x.data, T, B, bad_len, ya) == MN_E_INPUT, "length 0");
        free(ya);
        free(yb);
    }
    mn_stack_free(a);
    mn_stack_free(b);
    mn_array_free(&x);
    unlink(dst);
    rmdir(dir);
}
