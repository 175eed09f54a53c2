/* NaN and ±Inf through every registered layer kind, as PyTorch propagates them (issue 15,
 * item 1). tools/gen_fixtures_nonfinite.py writes, per kind, PyTorch's outputs (its module,
 * or the generators' plain reference where it has none) for inputs holding one NaN, +Inf
 * or -Inf; each layer must give the same class (NaN, +Inf, -Inf, finite) at every output,
 * and the finite outputs close. A kind without a case here fails the test, so the table
 * stays complete as kinds are added. */
#include "test.h"
#include "layer_check.h"
#include "registry.h"
#include "safetensors.h"

#include <stdlib.h>
#include <string.h>

/* Which outputs a NaN input x[t0, b0, i0] reaches (the dependency pattern; the reach test
 * below checks it at sizes where the optimized kernels, thread splits and tiles run):
 * R_ELEM the element itself; R_ROW every feature of (t0, b0); R_WINDOW every feature of b0
 * at t0 + multiples of the dilation up to the kind's history (a causal convolution's taps); R_AFTER every feature of
 * b0 from t0 on; R_SEQ every feature of b0 at every step; R_CHANNEL feature i0 of b0 from t0
 * on, and before t0 too or not (an FFT spreads NaN over the whole sequence, in PyTorch as
 * here); R_BIDIR the forward direction's features from t0 on, the reverse's up to t0.
 * Nothing in another sequence, ever. */
enum { R_ELEM, R_ROW, R_WINDOW, R_AFTER, R_SEQ, R_CHANNEL, R_BIDIR };

/* The fixture of each case under tests/fixtures/nonfinite/ and its kind. `mask_only`: an
 * FFT (S4D's, PyTorch's) spreads a non-finite input over the whole sequence as NaN or Inf
 * by its own rounding of Inf − Inf, so only finite versus not is compared there. */
static const struct {
    const char *file, *kind;
    int mask_only, reach, causal, rope;
    int wgrad_free;        /* its weight gradients do not read x (learned positions: dW = dy) */
} CASES[] = {
    {"rnn", "rnn", 0, R_AFTER, 0, 0, 0},
    {"rnn-relu", "rnn-relu", 0, R_AFTER, 0, 0, 0},
    {"lstm", "lstm", 0, R_AFTER, 0, 0, 0},
    {"gru", "gru", 0, R_AFTER, 0, 0, 0},
    {"gated", "gated", 0, R_AFTER, 0, 0, 0},
    {"ln-lstm", "ln-lstm", 0, R_AFTER, 0, 0, 0},
    {"ln-gru", "ln-gru", 0, R_AFTER, 0, 0, 0},
    {"linear", "linear", 0, R_ROW, 0, 0, 0},
    {"ff", "ff", 0, R_ROW, 0, 0, 0},
    {"ff-gelu", "ff-gelu", 0, R_ROW, 0, 0, 0},
    {"layernorm", "layernorm", 0, R_ROW, 0, 0, 0},
    {"rmsnorm", "rmsnorm", 0, R_ROW, 0, 0, 0},
    {"attention", "attention", 0, R_SEQ, 0, 0, 0},
    {"attention_causal", "attention", 0, R_AFTER, 1, 0, 0},
    {"attention_causal_rope", "attention", 0, R_AFTER, 1, 1, 0},
    {"cross-attention", "cross-attention", 0, R_ROW, 0, 0, 0},
    {"sin-positions", "sin-positions", 0, R_ELEM, 0, 0, 0},
    {"learned-positions", "learned-positions", 0, R_ELEM, 0, 0, 1},
    {"conv", "conv", 0, R_WINDOW, 0, 0, 0},
    {"tcn", "tcn", 0, R_WINDOW, 0, 0, 0},
    {"s4d", "s4d", 1, R_CHANNEL, 0, 0, 0},
    {"mamba", "mamba", 0, R_AFTER, 0, 0, 0},
    {"glu", "glu", 0, R_ROW, 0, 0, 0},
    {"gelu", "gelu", 0, R_ELEM, 0, 0, 0},
};
#define NCASES ((int)(sizeof CASES / sizeof CASES[0]))

/* Finite values: |got − ref| <= TOL·max(|ref|, 1e-2·max|ref|) (fast exp and tanh in
 * float32 against float64). */
#define TOL 2e-3

static int meta_int(const mn_st_file *f, const char *key, int dflt) {
    const char *v = mn_st_meta(f, key);
    return v ? atoi(v) : dflt;
}

static const char *cls(float v) {
    return v != v ? "NaN" : v == INFINITY ? "+Inf" : v == -INFINITY ? "-Inf" : "finite";
}

/* A float copy of a fixture tensor of n elements (the file's data need not be aligned). */
static float *tensor_copy(const char *file, const mn_st_file *f, const char *name, size_t n) {
    const mn_st_tensor *t = mn_st_find(f, name);
    if (!t || t->dtype != MN_ST_F32 || t->numel != n) {
        mn_test_fail(__FILE__, __LINE__, "%s: %s absent, not F32 or not %zu elements", file,
                     name, n);
        return NULL;
    }
    float *v = malloc(n * sizeof *v + 1);
    if (v) memcpy(v, t->data, n * sizeof *v);
    return v;
}

/* Compares got with the fixture's ref: the class of every element, the finite values.
 * Returns the NaN count of got. */
static int compare(const char *file, const char *what, const float *got, const float *ref,
                   size_t n, int mask_only) {
    double scale = 0;
    int nans = 0, bad = 0;
    for (size_t i = 0; i < n; i++)
        if (isfinite(ref[i])) scale = fmax(scale, fabs(ref[i]));
    for (size_t i = 0; i < n; i++) {
        nans += isnan(got[i]);
        int same = mask_only ? !isfinite(got[i]) == !isfinite(ref[i])
                             : !strcmp(cls(got[i]), cls(ref[i]));
        if (!same) {
            if (bad++ < 4)
                mn_test_fail(__FILE__, __LINE__, "%s %s: element %zu is %s (%g), PyTorch %s "
                             "(%g)", file, what, i, cls(got[i]), (double)got[i], cls(ref[i]),
                             (double)ref[i]);
            continue;
        }
        if (isfinite(ref[i])) {
            double den = fmax(fabs(ref[i]), 1e-2 * scale);
            double err = den > 0 ? fabs((double)got[i] - ref[i]) / den : fabs(got[i]);
            if (!(err <= TOL) && bad++ < 4)
                mn_test_fail(__FILE__, __LINE__, "%s %s: element %zu is %.7g, PyTorch %.7g "
                             "(relative error %.3g)", file, what, i, (double)got[i],
                             (double)ref[i], err);
        }
    }
    if (bad > 4)
        mn_test_fail(__FILE__, __LINE__, "%s %s: %d elements differ in all", file, what, bad);
    return nans;
}

/* Runs one fixture; returns the NaN count of its "nan" case's output (-1 on failure). */
static int run_case(int c) {
    const char *file = CASES[c].file;
    char path[1024];
    snprintf(path, sizeof path, "%s/nonfinite/%s.safetensors", mn_test_fixture_dir(), file);
    mn_st_file *f = NULL;
    if (mn_st_read(path, &f) != MN_OK) {
        mn_test_fail(__FILE__, __LINE__, "%s: %s", file, mn_last_error());
        return -1;
    }
    int nan_count = -1;
    const mn_layer_kind *k = mn_layer_kind_find(CASES[c].kind);
    const char *fk = mn_st_meta(f, "kind");
    int T = meta_int(f, "T", 0), B = meta_int(f, "B", 0), I = meta_int(f, "in", 0),
        S = meta_int(f, "S", 0);
    mn_block_config b = {.width = meta_int(f, "width", 0), .heads = meta_int(f, "heads", 0),
                         .causal = meta_int(f, "causal", 0), .rope = meta_int(f, "rope", 0),
                         .kernel = meta_int(f, "kernel", 0),
                         .dilation = meta_int(f, "dilation", 0),
                         .state = meta_int(f, "state", 0), .max_len = meta_int(f, "max_len", 0)};
    mn_layer *l = NULL;
    float *x = NULL, *y = NULL, *dy = NULL, *dx = NULL, *mem = NULL, *dmem = NULL, *ref = NULL;
    if (!k || !fk || strcmp(fk, CASES[c].kind) || T < 1 || B < 1 || I < 1) {
        mn_test_fail(__FILE__, __LINE__, "%s: kind '%s' (file: '%s') or T, B, in unusable",
                     file, CASES[c].kind, fk ? fk : "");
        goto out;
    }
    snprintf(b.kind, sizeof b.kind, "%s", k->name);
    if (!(l = k->create(&b, I, 0))) {
        mn_test_fail(__FILE__, __LINE__, "%s: create: %s", file, mn_last_error());
        goto out;
    }
    mn_check_alloc_params(l);
    int loaded = mn_check_load_params(file, f, l), fixture_params = 0;
    if (loaded < 0) goto out;
    for (int i = 0; i < mn_st_count(f); i++) {
        const char *nm = mn_st_at(f, i)->name;
        fixture_params += strcmp(nm, "x") && strcmp(nm, "y") && strcmp(nm, "memory") &&
                          strncmp(nm, "x.", 2) && strncmp(nm, "y.", 2) && strncmp(nm, "memory.", 7);
    }
    CHECK(loaded == fixture_params, "%s: the layer takes %d parameter tensors, the fixture has %d",
          file, loaded, fixture_params);
    size_t nx = (size_t)T * B * I, ny = (size_t)T * B * l->out_size, nm = (size_t)S * B * I;
    y = malloc(ny * 4);
    dy = malloc(ny * 4);
    dx = calloc(nx, 4);
    if (!y || !dy || !dx) goto out;
    for (size_t i = 0; i < ny; i++) dy[i] = 1.0f / (float)(1 + i % 7);
    if (l->ops->set_memory && !(S > 0 && (dmem = calloc(nm, 4)))) {
        mn_test_fail(__FILE__, __LINE__, "%s: a kind with a memory and no memory in the fixture",
                     file);
        goto out;
    }
    /* the finite input first (name ""), then each case the file lists */
    char cases[256], *names[16] = {""};
    int ncases = 1;
    snprintf(cases, sizeof cases, "%s", mn_st_meta(f, "cases") ? mn_st_meta(f, "cases") : "");
    for (char *p = cases; *p && ncases < 16; ) {
        names[ncases++] = p;
        char *comma = strchr(p, ',');
        if (!comma) break;
        *comma = 0;
        p = comma + 1;
    }
    CHECK(ncases >= 4, "%s: %d cases; expected NaN, +Inf and -Inf at least", file, ncases - 1);
    for (int ci = 0; ci < ncases; ci++) {
        const char *name = names[ci];
        char xn[64], mn[64], yn[64];
        int finite = !*name;                         /* the first pass: the finite input */
        snprintf(xn, sizeof xn, finite ? "x" : "x.%s", name);
        snprintf(mn, sizeof mn, finite ? "memory" : "memory.%s", name);
        snprintf(yn, sizeof yn, finite ? "y" : "y.%s", name);
        const char *what = finite ? "finite input" : name;
        int on_memory = !strncmp(name, "mem_", 4);
        if (!(x = tensor_copy(file, f, on_memory ? "x" : xn, nx))) goto out;
        if (dmem && !(mem = tensor_copy(file, f, on_memory ? mn : "memory", nm))) goto out;
        if (!(ref = tensor_copy(file, f, yn, ny))) goto out;
        mn_layer_reset(l);
        if (dmem) CHECK_OK(l->ops->set_memory(l, mem, S, B, NULL, dmem));
        for (size_t i = 0; i < ny; i++) y[i] = 12345.0f;
        if (l->ops->forward(l, x, y, T, B, NULL) != MN_OK) {
            mn_test_fail(__FILE__, __LINE__, "%s %s: forward: %s", file, what, mn_last_error());
            goto out;
        }
        int nans = compare(file, what, y, ref, ny, CASES[c].mask_only);
        if (!strcmp(name, "nan")) nan_count = nans;
        /* backward through the non-finite values: no fault (the sanitizer build checks the
         * arithmetic), and a NaN input reaches the weight gradients, as in PyTorch (every
         * dy is non-zero: some weight's gradient sums a product with the NaN) */
        memset(dx, 0, nx * 4);
        memset(l->grads, 0, l->param_count * 4);
        CHECK_OK(l->ops->backward(l, dy, dx, T, B, NULL));
        if (!strcmp(name, "nan") && l->param_count && !CASES[c].wgrad_free) {
            size_t nan_grads = 0;
            for (size_t i = 0; i < l->param_count; i++) nan_grads += isnan(l->grads[i]);
            CHECK(nan_grads > 0, "%s: a NaN input left every weight gradient finite", file);
        }
        free(x); free(mem); free(ref);
        x = mem = ref = NULL;
    }
out:
    mn_check_free_layer(l);
    free(x); free(y); free(dy); free(dx); free(mem); free(dmem); free(ref);
    mn_st_free(f);
    return nan_count;
}

TEST(nonfinite_every_registered_kind_as_pytorch) {
    for (int i = 0; i < mn_layer_kind_count(); i++) {
        const char *name = mn_layer_kind_at(i)->name;
        int has = 0;
        for (int c = 0; c < NCASES; c++) has |= !strcmp(CASES[c].kind, name);
        CHECK(has, "kind '%s' has no NaN/Inf case in tests/test_nonfinite.c: add its fixture "
              "to tools/gen_fixtures_nonfinite.py and a line to CASES", name);
    }
    for (int c = 0; c < NCASES; c++) run_case(c);
}

/* The issue's case: nn.RNN(4, 6, nonlinearity="relu") on [5,3,4] with one NaN at step 1
 * gives 24 NaN outputs (6 units × 4 steps of that sequence); mnemo gave none. */
TEST(nonfinite_rnn_relu_issue_case_24_nan) {
    int c = 0;
    while (c < NCASES && strcmp(CASES[c].file, "rnn-relu")) c++;
    REQUIRE(c < NCASES, "no rnn-relu case");
    int nans = run_case(c);
    CHECK(nans == 24, "%d NaN outputs; PyTorch gives 24", nans);
}

/* ------------------------------------------------------------ reach at larger sizes
 * The fixtures are small; here each kind runs at T = 70, B = 10, 16 features (past the
 * attention tiles, across S4D's channel and sequence pairs and Mamba's channel groups,
 * with rows split over threads), its parameters from its own init, and a NaN input must
 * reach exactly the outputs of its dependency pattern, forward and after a second forward
 * from a clean input (no NaN left behind in a workspace). */
static int expect_nan(int reach, int64_t hist, int dil, int O, int t, int b, int i, int t0, int b0, int i0) {
    if (b != b0) return 0;
    switch (reach) {
    case R_ELEM: return t == t0 && i == i0;
    case R_ROW: return t == t0;
    case R_WINDOW: return t >= t0 && t <= t0 + hist && (t - t0) % dil == 0;
    case R_AFTER: return t >= t0;
    case R_SEQ: return 1;
    case R_BIDIR: return i < O / 2 ? t >= t0 : t <= t0;
    default: return i == i0 && t >= t0 ? 1 : i == i0 ? -1 : 0;   /* -1: either */
    }
}

TEST(nonfinite_nan_reach_at_kernel_sizes) {
    enum { T = 70, B = 10, D = 16, S = 9, T0 = 33, B0 = 7, I0 = 5 };
    for (int v = 0; v < 2 * NCASES; v++) {
        int c = v / 2, bidir = v % 2;
        const mn_layer_kind *k = mn_layer_kind_find(CASES[c].kind);
        REQUIRE(k, "kind %s not registered", CASES[c].kind);
        if (bidir && !(k->caps & MN_KIND_BIDIRECTIONAL)) continue;
        int reach = bidir ? R_BIDIR : CASES[c].reach;
        mn_block_config b = {.width = D, .heads = 4, .causal = CASES[c].causal,
                             .rope = CASES[c].rope, .kernel = 3, .dilation = 2, .state = 8,
                             .max_len = 128, .bidirectional = bidir};
        snprintf(b.kind, sizeof b.kind, "%s", k->name);
        mn_layer *l = k->create(&b, D, 0);
        REQUIRE(l, "%s: create: %s", CASES[c].file, mn_last_error());
        int O = l->out_size;
        mn_check_alloc_params(l);
        mn_rng r;
        mn_rng_seed(&r, 700 + (uint64_t)c);
        mn_init_config ic = {MN_INIT_UNIFORM, 1.0f, 1.0f, 0};
        l->ops->init(l, &r, &ic);
        size_t n = (size_t)T * B * D;
        float *x = malloc(n * 4), *y = malloc(n / D * O * 4), *mem = malloc((size_t)S * B * D * 4);
        REQUIRE(x && y && mem, "out of memory");
        mn_check_randomize(x, n, &r, 1.0f);
        mn_check_randomize(mem, (size_t)S * B * D, &r, 1.0f);
        int64_t hist = mn_kind_history(k, &b);
        for (int pass = 0; pass < 2; pass++) {
            x[((size_t)T0 * B + B0) * D + I0] = pass ? 0.5f : NAN;
            mn_layer_reset(l);
            if (l->ops->set_memory) CHECK_OK(l->ops->set_memory(l, mem, S, B, NULL, NULL));
            if (l->ops->forward(l, x, y, T, B, NULL) != MN_OK) {
                mn_test_fail(__FILE__, __LINE__, "%s: forward: %s", CASES[c].file,
                             mn_last_error());
                break;
            }
            int bad = 0;
            for (int t = 0; t < T; t++)
                for (int bb = 0; bb < B; bb++)
                    for (int i = 0; i < O; i++) {
                        float yv = y[((size_t)t * B + bb) * O + i];
                        int want = pass ? 0 : expect_nan(reach, hist, b.dilation, O, t, bb, i, T0, B0, I0);
                        if (want >= 0 && (want ? !isnan(yv) : !isfinite(yv)) && bad++ < 3)
                            mn_test_fail(__FILE__, __LINE__, "%s%s%s: y[t=%d, b=%d, %d] = %g, "
                                         "expected %s", CASES[c].file, bidir ? " bidirectional" : "",
                                         pass ? " (after the NaN input)" : "", t, bb, i,
                                         (double)yv, want ? "NaN" : "finite");
                    }
        }
        free(x); free(y); free(mem);
        mn_check_free_layer(l);
    }
}
