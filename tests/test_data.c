/* mn_task_from_data: the readers (npy, text) on small files written here, valid and
 * malformed; every refusal names the file. */
#include "test.h"
#include "mnemo.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void remove_all(const char *dir) {
    DIR *d = opendir(dir);
    struct dirent *e;
    char p[600];
    while (d && (e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            remove(p);
        }
    if (d) closedir(d);
    rmdir(dir);
}

static int has(const char *s) { return strstr(mn_last_error(), s) != NULL; }

static mn_status text_task(const char *spec, int T, double vf, const char *valid, mn_task **t) {
    mn_data_options o;
    mn_data_options_init(&o);
    o.length = T;
    o.valid_fraction = vf;
    o.valid_spec = valid;
    return mn_task_from_data(spec, &o, 7, t);
}

/* ------------------------------------------------------------------- text */

TEST(data_text_windows_and_split) {
    char dir[256], path[300], spec[320];
    REQUIRE(mn_test_tmpdir(dir, sizeof dir, "data"), "mkdtemp failed");
    snprintf(path, sizeof path, "%s/a.txt", dir);
    /* 1000 bytes: ASCII with a 2-byte UTF-8 letter (é) and a stray invalid byte */
    unsigned char text[1000];
    for (int i = 0; i < 1000; i++) text[i] = (unsigned char)('a' + i % 7);
    for (int i = 950; i + 1 < 1000; i += 10) text[i] = 0xC3, text[i + 1] = 0xA9;
    text[990] = 0xFF;
    REQUIRE(mn_test_write_file(path, text, sizeof text), "write");
    snprintf(spec, sizeof spec, "text:%s", path);
    mn_task *t = NULL;
    REQUIRE_OK(text_task(spec, 16, 0.1, NULL, &t));
    const mn_task_info *in = mn_task_get_info(t);
    CHECK(in->vocab_size == 256 && in->output_size == 256 && in->loss == MN_LOSS_CE &&
          in->output == MN_OUTPUT_EVERY && in->max_steps == 16, "shape of a text task");
    /* evaluation: the last 100 bytes, windows of 16: ceil(100/16) = 7 */
    CHECK(in->eval_sequences == 7, "eval windows %d", in->eval_sequences);
    double chars = 0;
    for (int i = 900; i < 1000; i++) chars += (text[i] & 0xC0) != 0x80;
    CHECK(fabs(in->tokens_per_char - 100 / chars) < 1e-12 && in->tokens_per_byte == 1,
          "tokens per char %g, expected %g", in->tokens_per_char, 100 / chars);
    CHECK(in->data_spec && !strcmp(in->data_spec, spec), "the spec is kept");
    /* the baseline is the entropy of the training labels (bytes 1..899) */
    double cnt[256] = {0}, H = 0;
    for (int i = 1; i < 900; i++) cnt[text[i]] += 1;
    for (int v = 0; v < 256; v++)
        if (cnt[v] > 0) H -= cnt[v] / 899 * log(cnt[v] / 899);
    CHECK(fabs(in->baseline_loss - H) < 1e-9, "baseline %g vs %g", in->baseline_loss, H);

    /* training windows: labels are the next byte, inside the training part */
    const mn_batch *b;
    REQUIRE_OK(mn_task_next(t, 5, &b));
    for (int i = 0; i < 5; i++) {
        CHECK(b->lengths[i] == 16, "full windows");
        int found = -1;
        for (int s = 0; s + 16 < 900 && found < 0; s++) {
            int ok = 1;
            for (int k = 0; k < 16 && ok; k++)
                ok = b->tokens[k * 5 + i] == text[s + k] && b->labels[k * 5 + i] == text[s + k + 1];
            if (ok) found = s;
        }
        CHECK(found >= 0, "window %d is a slice of the training bytes with next-byte labels", i);
    }
    /* evaluation: every validation byte scored exactly once, in order */
    mn_task_use_heldout(t);
    REQUIRE_OK(mn_task_next(t, 7, &b));
    int pos = 900, lens = 0;
    for (int i = 0; i < 7; i++) {
        lens += b->lengths[i];
        for (int k = 0; k < b->lengths[i]; k++, pos++) {
            CHECK(b->labels[k * 7 + i] == text[pos], "eval label at byte %d", pos);
            CHECK(b->tokens[k * 7 + i] == text[pos - 1], "eval input at byte %d", pos);
        }
        for (int k = b->lengths[i]; k < 16; k++) CHECK(b->labels[k * 7 + i] == -1, "padding");
    }
    CHECK(lens == 100 && pos == 1000, "the evaluation covers %d bytes", lens);
    mn_task_free(t);

    /* the same seed draws the same windows (a resumed or MPI rank's stream) */
    mn_task *a = NULL, *c = NULL;
    REQUIRE_OK(text_task(spec, 8, 0.1, NULL, &a));
    REQUIRE_OK(text_task(spec, 8, 0.1, NULL, &c));
    const mn_batch *ba, *bc;
    REQUIRE_OK(mn_task_next(a, 4, &ba));
    REQUIRE_OK(mn_task_next(c, 4, &bc));
    CHECK(!memcmp(ba->tokens, bc->tokens, 32 * sizeof(int32_t)), "seeded windows repeat");
    mn_task_free(a);
    mn_task_free(c);

    /* separate validation file: evaluation is exactly that file */
    char vpath[300], vspec[320];
    snprintf(vpath, sizeof vpath, "%s/v.txt", dir);
    REQUIRE(mn_test_write_file(vpath, "hello", 5), "write");
    snprintf(vspec, sizeof vspec, "text:%s", vpath);
    REQUIRE_OK(text_task(spec, 16, -1, vspec, &t));
    CHECK(mn_task_get_info(t)->eval_sequences == 1, "one window of 5 bytes");
    mn_task_use_heldout(t);
    REQUIRE_OK(mn_task_next(t, 1, &b));
    CHECK(b->lengths[0] == 5 && b->labels[0] == 'h' && b->labels[4] == 'o' &&
          b->tokens[0] == text[999], "the validation file, predicted after the training bytes");
    mn_task_free(t);
    remove_all(dir);
}

TEST(data_text_refusals_name_the_file) {
    char dir[256], path[300], spec[700];
    REQUIRE(mn_test_tmpdir(dir, sizeof dir, "data"), "mkdtemp failed");
    mn_task *t = NULL;
    snprintf(path, sizeof path, "%s/empty.txt", dir);
    REQUIRE(mn_test_write_file(path, "", 0), "write");
    snprintf(spec, sizeof spec, "text:%s", path);
    CHECK(text_task(spec, 4, 0.1, NULL, &t) == MN_E_INPUT && has("empty.txt") && has("empty"),
          "empty file: %s", mn_last_error());
    snprintf(spec, sizeof spec, "text:%s/missing.txt", dir);
    CHECK(text_task(spec, 4, 0.1, NULL, &t) == MN_E_INPUT && has("missing.txt"),
          "missing file: %s", mn_last_error());
    snprintf(path, sizeof path, "%s/short.txt", dir);
    REQUIRE(mn_test_write_file(path, "abcdefghij", 10), "write");
    snprintf(spec, sizeof spec, "text:%s", path);
    CHECK(text_task(spec, 20, 0.1, NULL, &t) == MN_E_INPUT && has("short.txt"),
          "too short for a window: %s", mn_last_error());
    CHECK(text_task(spec, 4, 0, NULL, &t) == MN_E_ARG, "nothing held out: %s", mn_last_error());
    /* the held-out tail, one byte, is a UTF-8 continuation byte: no character to count */
    snprintf(path, sizeof path, "%s/tail.txt", dir);
    REQUIRE(mn_test_write_file(path, "abcdefghi\xa7", 10), "write");
    snprintf(spec, sizeof spec, "text:%s", path);
    CHECK(text_task(spec, 4, 0.1, NULL, &t) == MN_E_INPUT && has("tail.txt") &&
          has("no character"), "held-out part without a character: %s", mn_last_error());
    snprintf(spec, sizeof spec, "text:%s", path);
    CHECK(text_task(spec, 0, 0.1, NULL, &t) == MN_E_ARG, "no window length");
    CHECK(text_task("csvx:a", 4, 0.1, NULL, &t) == MN_E_ARG && has("unknown kind"),
          "unknown kind: %s", mn_last_error());
    CHECK(text_task("text:", 4, 0.1, NULL, &t) == MN_E_ARG, "no file");
    CHECK(text_task("noколон", 4, 0.1, NULL, &t) == MN_E_ARG, "no kind");
    snprintf(spec, sizeof spec, "text:%s,,%s", path, path);
    CHECK(text_task(spec, 4, 0.1, NULL, &t) == MN_E_ARG && has("empty"), "empty list entry");
    snprintf(spec, sizeof spec, "text:%s", path);
    CHECK(text_task(spec, 4, 0.1, "npy:a,b", &t) == MN_E_ARG && has("another kind"),
          "validation of another kind: %s", mn_last_error());
    CHECK(t == NULL, "no task after a refusal");
    remove_all(dir);
}

/* ------------------------------------------------------------------- npy */

static mn_status npy_task(const char *spec, double vf, const char *valid, mn_task **t) {
    mn_data_options o;
    mn_data_options_init(&o);
    o.valid_fraction = vf;
    o.valid_spec = valid;
    return mn_task_from_data(spec, &o, 3, t);
}

TEST(data_npy_layouts) {
    char dir[256], x[300], y[300], l[300], spec[1000];
    REQUIRE(mn_test_tmpdir(dir, sizeof dir, "data"), "mkdtemp failed");
    snprintf(x, sizeof x, "%s/x.npy", dir);
    snprintf(y, sizeof y, "%s/y.npy", dir);
    snprintf(l, sizeof l, "%s/l.npy", dir);
    enum { N = 10, T = 4, I = 3 };
    float xs[N * T * I], ys[N * T];
    int32_t cls[N];
    int64_t lens[N];
    for (int i = 0; i < N * T * I; i++) xs[i] = (float)i / 7;
    for (int i = 0; i < N * T; i++) ys[i] = (float)i;
    for (int i = 0; i < N; i++) cls[i] = i % 3, lens[i] = 1 + i % T;
    REQUIRE_OK(mn_array_save(x, MN_ARRAY_F32, 3, (int64_t[]){N, T, I}, xs));
    REQUIRE_OK(mn_array_save(y, MN_ARRAY_I32, 1, (int64_t[]){N}, cls));
    REQUIRE_OK(mn_array_save(l, MN_ARRAY_I64, 1, (int64_t[]){N}, lens));
    snprintf(spec, sizeof spec, "npy:%s,%s,%s", x, y, l);
    mn_task *t = NULL;
    REQUIRE_OK(npy_task(spec, 0.2, NULL, &t));
    const mn_task_info *in = mn_task_get_info(t);
    CHECK(in->input_size == I && in->max_steps == T && in->loss == MN_LOSS_CE &&
          in->output_size == 3 && in->output == MN_OUTPUT_LAST && in->eval_sequences == 2,
          "classification per sequence: I %d T %d O %d eval %d", in->input_size, in->max_steps,
          in->output_size, in->eval_sequences);
    const mn_batch *b;
    REQUIRE_OK(mn_task_next(t, 3, &b));
    for (int i = 0; i < 3; i++) {
        int n = (int)(b->x[i * I] * 7 + 0.5f) / (T * I);   /* which sequence this column is */
        CHECK(b->labels[i] == cls[n] && b->lengths[i] == lens[n], "sequence %d's label, length", n);
    }
    mn_task_free(t);

    /* float Y [N,T]: regression at every step */
    REQUIRE_OK(mn_array_save(y, MN_ARRAY_F32, 2, (int64_t[]){N, T}, ys));
    snprintf(spec, sizeof spec, "npy:%s,%s", x, y);
    REQUIRE_OK(npy_task(spec, -1, NULL, &t));
    in = mn_task_get_info(t);
    CHECK(in->loss == MN_LOSS_MSE && in->output == MN_OUTPUT_EVERY && in->output_size == 1 &&
          in->eval_sequences == 1, "regression per step (10%% of 10 held out)");
    mn_task_free(t);
    /* float Y [N,O] with O != T: one target per sequence */
    REQUIRE_OK(mn_array_save(y, MN_ARRAY_F32, 2, (int64_t[]){N, 2}, ys));
    REQUIRE_OK(npy_task(spec, 0, NULL, &t));
    in = mn_task_get_info(t);
    CHECK(in->output == MN_OUTPUT_LAST && in->output_size == 2 && in->eval_sequences == N,
          "regression per sequence, evaluated on the training set");
    mn_task_free(t);

    /* integer tokens [N,T] with per-step classes, and validation files appended */
    int32_t tok[N * T], lab[N * T];
    for (int i = 0; i < N * T; i++) tok[i] = i % 5, lab[i] = (i + 1) % 5;
    char vx[300], vy[300], vspec[700];
    snprintf(vx, sizeof vx, "%s/vx.npy", dir);
    snprintf(vy, sizeof vy, "%s/vy.npy", dir);
    REQUIRE_OK(mn_array_save(x, MN_ARRAY_I32, 2, (int64_t[]){N, T}, tok));
    REQUIRE_OK(mn_array_save(y, MN_ARRAY_I32, 2, (int64_t[]){N, T}, lab));
    REQUIRE_OK(mn_array_save(vx, MN_ARRAY_I32, 2, (int64_t[]){2, T}, tok));
    REQUIRE_OK(mn_array_save(vy, MN_ARRAY_I32, 2, (int64_t[]){2, T}, lab));
    snprintf(vspec, sizeof vspec, "npy:%s,%s", vx, vy);
    REQUIRE_OK(npy_task(spec, -1, vspec, &t));
    in = mn_task_get_info(t);
    CHECK(in->vocab_size == 5 && in->output_size == 5 && in->output == MN_OUTPUT_EVERY &&
          in->eval_sequences == 2, "tokens, per-step labels, 2 validation sequences");
    mn_task_use_heldout(t);
    REQUIRE_OK(mn_task_next(t, 2, &b));
    CHECK(b->tokens[0] == tok[0] && b->tokens[1] == tok[T] && b->labels[1] == lab[T],
          "the validation sequences in order");
    mn_task_free(t);
    remove_all(dir);
}

TEST(data_npy_refusals_name_the_file) {
    char dir[256], x[300], y[300], spec[700];
    REQUIRE(mn_test_tmpdir(dir, sizeof dir, "data"), "mkdtemp failed");
    snprintf(x, sizeof x, "%s/inputs.npy", dir);
    snprintf(y, sizeof y, "%s/targets.npy", dir);
    float xs[2 * 3 * 1] = {0, 1, 2, 3, 4, 5};
    int32_t ys[3] = {0, 1, 0};
    REQUIRE_OK(mn_array_save(x, MN_ARRAY_F32, 3, (int64_t[]){2, 3, 1}, xs));
    REQUIRE_OK(mn_array_save(y, MN_ARRAY_I32, 1, (int64_t[]){3}, ys));
    snprintf(spec, sizeof spec, "npy:%s,%s", x, y);
    mn_task *t = NULL;
    CHECK(npy_task(spec, 0, NULL, &t) == MN_E_INPUT && has("targets.npy"),
          "N mismatch: %s", mn_last_error());
    /* NaN in X */
    xs[4] = NAN;
    REQUIRE_OK(mn_array_save(x, MN_ARRAY_F32, 3, (int64_t[]){2, 3, 1}, xs));
    REQUIRE_OK(mn_array_save(y, MN_ARRAY_I32, 1, (int64_t[]){2}, ys));
    CHECK(npy_task(spec, 0, NULL, &t) == MN_E_INPUT && has("inputs.npy") && has("nan"),
          "NaN input: %s", mn_last_error());
    /* wrong magic, truncated, empty */
    unsigned char buf[512];
    long n = mn_test_read_file(y, buf, sizeof buf);
    REQUIRE(n > 20, "read back");
    buf[0] = 'X';
    REQUIRE(mn_test_write_file(y, buf, (size_t)n), "write");
    CHECK(npy_task(spec, 0, NULL, &t) == MN_E_INPUT && has("targets.npy"), "magic: %s",
          mn_last_error());
    buf[0] = 0x93;
    REQUIRE(mn_test_write_file(y, buf, (size_t)n - 3), "write");
    CHECK(npy_task(spec, 0, NULL, &t) == MN_E_INPUT && has("targets.npy"), "truncated: %s",
          mn_last_error());
    REQUIRE(mn_test_write_file(y, buf, 0), "write");
    CHECK(npy_task(spec, 0, NULL, &t) == MN_E_INPUT && has("targets.npy"), "empty: %s",
          mn_last_error());
    snprintf(spec, sizeof spec, "npy:%s", x);
    CHECK(npy_task(spec, 0, NULL, &t) == MN_E_ARG && has("npy:X.npy,Y.npy"), "one file: %s",
          mn_last_error());
    CHECK(t == NULL, "no task after a refusal");
    remove_all(dir);
}

/* -------------------------------------------------------------------- csv */

static mn_status csv_task(const char *spec, int T, int h, const char *cols, const char *state,
                          mn_task **t) {
    mn_data_options o;
    mn_data_options_init(&o);
    o.length = T;
    o.horizon = h;
    o.columns = cols;
    o.state = state;
    return mn_task_from_data(spec, &o, 11, t);
}

TEST(data_csv_forecast_windows) {
    char dir[256], path[300], spec[320];
    REQUIRE(mn_test_tmpdir(dir, sizeof dir, "data"), "mkdtemp failed");
    snprintf(path, sizeof path, "%s/s.csv", dir);
    /* header, a text column, CRLF, a blank line; a = i, b = i*i % 17 */
    char text[8000];
    size_t n = (size_t)snprintf(text, sizeof text, "day,a,b\r\n");
    for (int i = 0; i < 100; i++) {
        n += (size_t)snprintf(text + n, sizeof text - n, "d%d,%d,%d\r\n", i, i, i * i % 17);
        if (i == 50) n += (size_t)snprintf(text + n, sizeof text - n, "\r\n");
    }
    REQUIRE(mn_test_write_file(path, text, n), "write");
    snprintf(spec, sizeof spec, "csv:%s", path);
    mn_task *t = NULL;
    REQUIRE_OK(csv_task(spec, 5, 2, NULL, NULL, &t));
    const mn_task_info *in = mn_task_get_info(t);
    CHECK(in->input_size == 2 && in->output_size == 2 && in->loss == MN_LOSS_MSE &&
          in->output == MN_OUTPUT_LAST && in->eval_sequences == 10,
          "two numeric columns, 10 evaluation rows: I %d eval %d", in->input_size,
          in->eval_sequences);
    /* repeat-last on the evaluation rows 90..99 of column a: error 2 (horizon 2) */
    double se = 0, ae = 0;
    for (int r = 90; r < 100; r++) {
        double e0 = 2, e1 = r * r % 17 - (r - 2) * (r - 2) % 17;
        se += e0 * e0 + e1 * e1;
        ae += fabs(e0) + fabs(e1);
    }
    CHECK(fabs(in->baseline_mse - se / 20) < 1e-6 && fabs(in->baseline_mae - ae / 20) < 1e-6,
          "naive forecast MSE %g (want %g), MAE %g (want %g)", in->baseline_mse, se / 20,
          in->baseline_mae, ae / 20);
    /* normalization of the training rows 0..89: column a has mean 44.5 */
    double m = 0, sd = 0;
    REQUIRE(in->data_state && sscanf(in->data_state, "%lf:%lf", &m, &sd) == 2, "state");
    CHECK(fabs(m - 44.5) < 1e-9 && fabs(sd - sqrt((90.0 * 90 - 1) / 12)) < 1e-9,
          "mean %g std %g", m, sd);
    /* an evaluation window: inputs rows r-6..r-2, target row r = 90 */
    const mn_batch *b;
    mn_task_use_heldout(t);
    REQUIRE_OK(mn_task_next(t, 1, &b));
    CHECK(fabs(b->target[0] * sd + m - 90) < 1e-4 && fabs(b->x[4 * 2] * sd + m - 88) < 1e-4 &&
          fabs(b->x[0] * sd + m - 84) < 1e-4, "window of rows 84..88 forecasts row 90");
    /* training targets lie in rows 6..89 */
    mn_task *u = NULL;
    CHECK(csv_task(spec, 5, 2, "a", in->data_state, &u) == MN_E_INPUT && has("pairs"),
          "the state of 2 columns for 1: %s", mn_last_error());
    REQUIRE_OK(csv_task(spec, 5, 2, "2", "44.5:26", &u));
    CHECK(!strcmp(mn_task_get_info(u)->data_state, "44.5:26"), "a given normalization is kept");
    REQUIRE_OK(mn_task_next(u, 64, &b));
    for (int i = 0; i < 64; i++) {
        double r = b->target[i] * 26 + 44.5;
        CHECK(r >= 6 - 1e-3 && r <= 89 + 1e-3, "training target row %g", r);
    }
    mn_task_free(u);
    mn_task_free(t);
    remove_all(dir);
}

TEST(data_csv_refusals_name_file_line_column) {
    char dir[256], path[300], spec[320];
    REQUIRE(mn_test_tmpdir(dir, sizeof dir, "data"), "mkdtemp failed");
    snprintf(path, sizeof path, "%s/bad.csv", dir);
    snprintf(spec, sizeof spec, "csv:%s", path);
    const struct { const char *text, *want; } cases[] = {
        {"1,2\n3,4\n5\n", "bad.csv:3: 1 cell"},
        {"1,2\n3,nan\n", "bad.csv:2:2: expected a finite number, got NaN"},
        {"1,2\n3,\n", "bad.csv:2:2: expected a finite number, got an empty cell"},
        {"1,2\n3,4x\n", "bad.csv:2:2: expected a finite number"},
        {"1,2\ninf,4\n", "bad.csv:2:1: expected a finite number, got an infinity"},
        {"a,b\n", "has a header and no rows"},
        {"", "is empty"},
        {"\n\n", "only blank lines"},
    };
    mn_task *t = NULL;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        REQUIRE(mn_test_write_file(path, cases[i].text, strlen(cases[i].text)), "write");
        CHECK(csv_task(spec, 1, 1, NULL, NULL, &t) == MN_E_INPUT && has(cases[i].want),
              "case %zu: %s", i, mn_last_error());
    }
    REQUIRE(mn_test_write_file(path, "a,b\n1,2\n3,4\n", 12), "write");
    CHECK(csv_task(spec, 1, 1, "c", NULL, &t) == MN_E_ARG && has("no column"), "unknown column");
    CHECK(csv_task(spec, 1, 1, "3", NULL, &t) == MN_E_ARG, "index past the columns");
    CHECK(csv_task(spec, 1, 1, NULL, "1:0,2:1", &t) == MN_E_INPUT, "a zero std in the state");
    CHECK(csv_task(spec, 5, 1, NULL, NULL, &t) == MN_E_INPUT && has("rows"), "too few rows: %s",
          mn_last_error());
    CHECK(t == NULL, "no task after a refusal");
    remove_all(dir);
}
