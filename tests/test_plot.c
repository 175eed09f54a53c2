/* The SVG plot of a diagnosis: synthetic profiles, hard values, huge T, atomic writes.
 * Set MNEMO_PLOT_KEEP to a folder to keep the plots there (to render and look at them). */
#include "test.h"
#include "mnemo.h"
#include "core.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ------------------------------------------------------------------ helpers */

typedef struct { char dir[256]; int keep; } out_dir;

static int open_dir(out_dir *o) {
    const char *keep = getenv("MNEMO_PLOT_KEEP");
    if (keep && *keep) {
        snprintf(o->dir, sizeof o->dir, "%s", keep);
        o->keep = 1;
        return 1;
    }
    const char *base = getenv("TMPDIR");
    snprintf(o->dir, sizeof o->dir, "%s/mnemo-plot-XXXXXX", base && *base ? base : "/tmp");
    o->keep = 0;
    return mkdtemp(o->dir) != NULL;
}

static void plot_path(const out_dir *o, const char *name, char *path, size_t cap) {
    snprintf(path, cap, "%s/%s.svg", o->dir, name);
}

/* Removes the folder and the plots in it, unless they are to be kept. */
static void close_dir(const out_dir *o) {
    if (o->keep) return;
    DIR *dir = opendir(o->dir);
    char path[600];
    for (struct dirent *e; dir && (e = readdir(dir));) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        snprintf(path, sizeof path, "%s/%s", o->dir, e->d_name);
        unlink(path);
    }
    if (dir) closedir(dir);
    rmdir(o->dir);
}

/* Whole file, NUL-terminated (caller frees); NULL when unreadable. */
static char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (s && fread(s, 1, (size_t)n, f) != (size_t)n) { free(s); s = NULL; }
    fclose(f);
    if (s) { s[n] = 0; if (len) *len = (size_t)n; }
    return s;
}

static int count_of(const char *s, const char *part) {
    int n = 0;
    for (const char *p = strstr(s, part); p; p = strstr(p + 1, part)) n++;
    return n;
}

/* Numeric attributes may hold digits, signs, points, %, spaces and path commands only:
 * this catches "nan", "inf" and "-nan" wherever a number was printed. */
static int numeric_attr(const char *name, size_t len) {
    static const char *names[] = { "x", "y", "width", "height", "cx", "cy", "r", "d",
                                   "viewBox" };
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (strlen(names[i]) == len && !strncmp(names[i], name, len)) return 1;
    return 0;
}

/* Checks one tag's attributes from just after its name to its '>'; returns the end. */
static const char *check_attrs(const char *tag, const char *p, const char **why) {
    while (*p && *p != '>') {
        if (*p == '"') { *why = "stray quote"; return NULL; }
        if (*p != '=') { p++; continue; }
        const char *ne = p, *nb = p;
        while (nb > tag && nb[-1] != ' ' && nb[-1] != '\n') nb--;
        if (p[1] != '"') { *why = "unquoted attribute"; return NULL; }
        const char *v = p + 2, *ve = strchr(v, '"');
        if (!ve) { *why = "unterminated attribute"; return NULL; }
        for (const char *c = v; c < ve; c++) {
            if (*c == '<') { *why = "'<' inside an attribute"; return NULL; }
            if (numeric_attr(nb, (size_t)(ne - nb)) && !strchr("0123456789.-% MLHVZhvlz", *c)) {
                static char msg[96];
                snprintf(msg, sizeof msg, "non-numeric '%c' in %.*s=\"%.20s", *c,
                         (int)(ne - nb), nb, v);
                *why = msg;
                return NULL;
            }
        }
        p = ve + 1;
    }
    return p;
}

/* Well-formed enough: tags balance, attributes are quoted and their numbers are numbers,
 * '&' starts an entity. Returns NULL or what is wrong. */
static const char *xml_problem(const char *s) {
    const char *stack[64], *why = NULL;
    size_t stack_len[64];
    int depth = 0, roots = 0;
    for (const char *p = s; *p; p++) {
        if (*p == '&') {
            const char *e = p + 1;
            while ((*e >= 'a' && *e <= 'z') || (*e >= '0' && *e <= '9') || *e == '#') e++;
            if (*e != ';' || e == p + 1) return "bare '&'";
            continue;
        }
        if (*p != '<') continue;
        if (p[1] == '?') { p = strstr(p, "?>"); if (!p) return "open <?"; p++; continue; }
        int closing = p[1] == '/';
        const char *name = p + 1 + closing, *ne = name;
        while (*ne && !strchr(" \n/>", *ne)) ne++;
        if (ne == name) return "tag without a name";
        const char *end = check_attrs(p, ne, &why);
        if (!end) return why;
        if (!*end) return "tag not closed";
        if (closing) {
            if (!depth) return "closing tag without an opening one";
            depth--;
            if ((size_t)(ne - name) != stack_len[depth] ||
                strncmp(name, stack[depth], stack_len[depth]))
                return "closing tag does not match";
        } else if (end[-1] != '/') {
            if (depth == 64) return "nested too deep";
            if (!depth) roots++;
            stack[depth] = name;
            stack_len[depth++] = (size_t)(ne - name);
        }
        p = end;
    }
    return depth ? "unclosed tag" : roots != 1 ? "not exactly one root element" : NULL;
}

/* Writes the plot, then checks what every plot must be. Returns the text (caller frees). */
static char *plot_and_check(const char *path, const mn_plot_diagnosis *d, int line) {
    size_t mem0 = mn_memory_in_use(), len = 0;
    mn_status s = mn_plot_diagnosis_svg(path, d);
    if (s != MN_OK) {
        mn_test_fail(__FILE__, line, "plot failed (%d): %s", (int)s, mn_last_error());
        return NULL;
    }
    if (mn_memory_in_use() != mem0)
        mn_test_fail(__FILE__, line, "plot leaked %zu bytes", mn_memory_in_use() - mem0);
    char *svg = slurp(path, &len);
    if (!svg) { mn_test_fail(__FILE__, line, "cannot read %s back", path); return NULL; }
    const char *why = xml_problem(svg);
    if (strncmp(svg, "<?xml", 5) && strncmp(svg, "<svg", 4))
        mn_test_fail(__FILE__, line, "does not start like an SVG: %.20s", svg);
    if (why) mn_test_fail(__FILE__, line, "not well-formed: %s", why);
    if (count_of(svg, "<svg") != 1 || len < 7 || strcmp(svg + len - 7, "</svg>\n"))
        mn_test_fail(__FILE__, line, "one <svg> root, closed at the end");
    if (!strstr(svg, "time step t") || !strstr(svg, "gradient norm (log scale)"))
        mn_test_fail(__FILE__, line, "axis labels of the profile panel missing");
    return svg;
}

/* The profile of a linear recurrence with radius rho: rho^(T-1-t), oldest first. */
static void decay(double *v, int T, double rho, double scale) {
    for (int t = 0; t < T; t++) v[t] = scale * pow(rho, T - 1 - t);
}

/* Largest lag whose ratio to the last step stays at or above the threshold. */
static int horizon_of(const double *v, int T, double threshold) {
    int h = 0;
    for (int lag = 0; lag < T; lag++)
        if (v[T - 1 - lag] >= threshold * v[T - 1]) h = lag;
    return h;
}

/* ------------------------------------------------------------------ tests */

TEST(plot_rnn_vanishing_profile_with_heatmap) {
    enum { T = 200, S = 20 };
    static double h[T], heat[S * T];
    static int steps[S];
    decay(h, T, 0.9, 0.05);
    for (int s = 0; s < S; s++) {   /* the profile decays faster as training goes on */
        steps[s] = 50 * (s + 1);
        decay(heat + s * T, T, 0.97 - 0.004 * s, 0.05);
    }
    mn_plot_diagnosis d = { .title = "rnn, adding T=200: gradient flow", .T = T, .grad_h = h,
                            .snapshots = S, .snapshot_step = steps, .heat = heat,
                            .horizon = horizon_of(h, T, 1e-3), .threshold = 1e-3 };
    out_dir o;
    char path[300];
    REQUIRE(open_dir(&o), "mkdtemp failed");
    plot_path(&o, "rnn_vanishing", path, sizeof path);
    char *svg = plot_and_check(path, &d, __LINE__);
    REQUIRE(svg, "no plot");
    CHECK(strstr(svg, "horizon = 65 steps"), "horizon label (0.9^65 >= 1e-3 > 0.9^66)");
    CHECK(strstr(svg, "training step") && strstr(svg, "(log scale)"), "heatmap labels");
    CHECK(!strstr(svg, "half-life"), "no histogram for a plain RNN");
    CHECK(strstr(svg, "× 0.001"), "threshold in the legend");
    /* 0.05 · 0.9^199 ≈ 4e-11: eleven decades, ticked every second one from 10^-12 */
    CHECK(strstr(svg, "−12</tspan>") && strstr(svg, "−2</tspan>"), "decade labels");
    CHECK(!strstr(svg, "≈0") && !strstr(svg, "values exactly 0"), "nothing clipped");
    free(svg);
    close_dir(&o);
}

TEST(plot_lstm_full_report) {
    enum { T = 200, S = 12, H = 64 };
    static double h[T], c[T], heat[S * T], hl[H];
    static int steps[S];
    decay(h, T, 0.985, 0.02);
    decay(c, T, 0.995, 0.03);
    for (int s = 0; s < S; s++) {
        steps[s] = 100 * s;
        decay(heat + s * T, T, 0.95 + 0.004 * s, 0.02);
    }
    for (int u = 0; u < H; u++) hl[u] = pow(10, -0.3 + 3.5 * u / (H - 1.0));
    hl[5] = 1e12;                     /* forget gate at 1: the cap */
    hl[6] = 1e12;
    mn_plot_diagnosis d = { .title = "lstm, adding T=200: gradient flow", .T = T, .grad_h = h,
                            .grad_c = c, .snapshots = S, .snapshot_step = steps, .heat = heat,
                            .units = H, .half_life = hl, .horizon = horizon_of(h, T, 1e-3),
                            .threshold = 1e-3 };
    out_dir o;
    char path[300];
    REQUIRE(open_dir(&o), "mkdtemp failed");
    plot_path(&o, "lstm_full", path, sizeof path);
    char *svg = plot_and_check(path, &d, __LINE__);
    REQUIRE(svg, "no plot");
    CHECK(strstr(svg, "∂L/∂c"), "cell-state series in the legend");
    CHECK(strstr(svg, "memory half-life") && strstr(svg, ">units</text>"), "histogram labels");
    CHECK(strstr(svg, "2 units with gate ≈ 1, at the cap"), "cap noted");
    CHECK(strstr(svg, "T = 200 steps"), "sequence length marked");
    CHECK(strstr(svg, "horizon = 199 steps"), "whole sequence above threshold");
    CHECK(strstr(svg, "(64 units, median "), "median in the title");
    free(svg);
    close_dir(&o);
}

TEST(plot_profile_only_and_single_step) {
    double one = 0.5;
    mn_plot_diagnosis d = { .T = 1, .grad_h = &one, .horizon = 0, .threshold = 1e-3 };
    out_dir o;
    char path[300];
    REQUIRE(open_dir(&o), "mkdtemp failed");
    plot_path(&o, "single_step", path, sizeof path);
    char *svg = plot_and_check(path, &d, __LINE__);
    REQUIRE(svg, "no plot");
    CHECK(strstr(svg, "horizon = 0 steps"), "horizon at the last step");
    CHECK(count_of(svg, "<circle") == 1, "the single point is marked");
    CHECK(!strstr(svg, "training step") && !strstr(svg, "half-life"), "one panel only");
    CHECK(!strstr(svg, "<title>"), "no title given");
    free(svg);

    /* All-equal values, no threshold, no horizon: a flat line on a centred decade range. */
    double flat[50];
    for (int t = 0; t < 50; t++) flat[t] = 1.0;
    mn_plot_diagnosis f = { .T = 50, .grad_h = flat, .horizon = -1, .threshold = 0 };
    plot_path(&o, "flat", path, sizeof path);
    svg = plot_and_check(path, &f, __LINE__);
    REQUIRE(svg, "no plot");
    CHECK(!strstr(svg, "horizon ="), "no horizon shown");
    CHECK(!strstr(svg, "stroke-dasharray=\"6 4\""), "no threshold line");
    CHECK(strstr(svg, "−1</tspan>") && strstr(svg, ">1</tspan>"), "decades around 1");
    free(svg);

    /* One step, one snapshot, one unit: every panel still has its axes. */
    double heat = 0.5, hl = 3;
    int step = 1000;
    mn_plot_diagnosis all = { .title = "T = 1", .T = 1, .grad_h = &one, .grad_c = &one,
                              .snapshots = 1, .snapshot_step = &step, .heat = &heat,
                              .units = 1, .half_life = &hl, .horizon = 0, .threshold = 1e-3 };
    plot_path(&o, "single_everything", path, sizeof path);
    svg = plot_and_check(path, &all, __LINE__);
    REQUIRE(svg, "no plot");
    CHECK(strstr(svg, ">1000</text>") && strstr(svg, "training step"), "the one row's step");
    CHECK(strstr(svg, "median 3 steps"), "the one unit's half-life");
    free(svg);
    close_dir(&o);
}

TEST(plot_hard_values) {
    enum { T = 120, S = 6, H = 10 };
    static double h[T], c[T], heat[S * T];
    decay(h, T, 0.8, 1.0);
    decay(c, T, 0.99, 1.0);
    for (int t = 0; t < 30; t++) h[t] = 0;          /* TBPTT: exactly zero past k steps */
    h[40] = 1e-310;                                /* denormal */
    h[50] = NAN;
    h[51] = INFINITY;
    h[52] = -1;
    c[60] = NAN;
    for (int i = 0; i < S * T; i++) heat[i] = h[i % T] * (1 + i / T);
    heat[3] = NAN;
    double hl[H] = { NAN, INFINITY, 0, -3, 1e-5, 5, 50, 1e12, 1e15, 2 };
    int steps[S] = { 0, 10, 10, 30, 40, 50 };      /* not increasing: rows get numbers */
    mn_plot_diagnosis d = { .title = "odd <values> & \"quotes\" \x01 \xff end", .T = T,
                            .grad_h = h, .grad_c = c, .snapshots = S, .snapshot_step = steps,
                            .heat = heat, .units = H, .half_life = hl, .horizon = 10,
                            .threshold = 1e-3 };
    out_dir o;
    char path[300];
    REQUIRE(open_dir(&o), "mkdtemp failed");
    plot_path(&o, "hard_values", path, sizeof path);
    char *svg = plot_and_check(path, &d, __LINE__);
    REQUIRE(svg, "no plot");
    CHECK(strstr(svg, "odd &lt;values&gt; &amp; \"quotes\" ? ? end"), "title escaped");
    CHECK(strstr(svg, "≈0: 31 values below"), "zeros and the denormal counted");
    CHECK(strstr(svg, "gaps: 4 NaN/Inf values"), "NaN/Inf/negative counted: %s",
          strstr(svg, "gaps") ? strstr(svg, "gaps") : "none");
    CHECK(strstr(svg, ">≈0</text>"), "the zero level on the axis");
    CHECK(strstr(svg, ">snapshot</text>"), "rows numbered when steps do not increase");
    CHECK(strstr(svg, "NaN/Inf (") && strstr(svg, "0 or below"), "heatmap swatches");
    CHECK(strstr(svg, "4 not shown (NaN, Inf or ≤ 0)"), "bad half-lives counted");
    CHECK(strstr(svg, "2 units with gate ≈ 1, at the cap"), "1e12 and beyond at the cap");
    CHECK(strstr(svg, "1 below 0.01 steps"), "tiny half-life noted");
    free(svg);

    /* Nothing usable at all still gives a plot. */
    for (int t = 0; t < T; t++) h[t] = t % 2 ? 0 : NAN;
    mn_plot_diagnosis z = { .T = T, .grad_h = h, .horizon = -1, .threshold = 1e-3 };
    plot_path(&o, "nothing_usable", path, sizeof path);
    svg = plot_and_check(path, &z, __LINE__);
    REQUIRE(svg, "no plot");
    CHECK(strstr(svg, "0: 60 values exactly 0") && strstr(svg, ">0</text>"), "all zero");
    free(svg);
    close_dir(&o);
}

/* Parses the points of the first path stroked in `colour`; returns how many, and the
 * smallest y (the highest point on the page). */
static int path_points(const char *svg, const char *colour, double *min_y) {
    char key[64];
    snprintf(key, sizeof key, "fill=\"none\" stroke=\"%s\"", colour);
    const char *p = strstr(svg, key);
    if (!p || !(p = strstr(p, " d=\""))) return 0;
    p += 4;
    int n = 0;
    *min_y = 1e9;
    while (*p == 'M' || *p == 'L') {
        double x, y;
        int used = 0;
        if (sscanf(p + 1, "%lf %lf%n", &x, &y, &used) != 2) break;
        if (y < *min_y) *min_y = y;
        n++;
        p += 1 + used;
    }
    return n;
}

TEST(plot_long_profile_is_decimated) {
    enum { T = 100000, S = 30, H = 256 };
    double *h = malloc(T * sizeof *h), *heat = malloc((size_t)S * T * sizeof *heat);
    double hl[H];
    REQUIRE(h && heat, "malloc");
    for (int t = 0; t < T; t++) h[t] = 1e-2 * (1 + 0.5 * sin(t * 0.01));
    h[54321] = 1e3;                                /* one spike must survive */
    for (int i = 0; i < S * T; i++) heat[i] = h[i % T];
    for (int u = 0; u < H; u++) hl[u] = 1 + u * 37.0;
    mn_plot_diagnosis d = { .title = "gru, T=100000", .T = T, .grad_h = h, .snapshots = S,
                            .heat = heat, .units = H, .half_life = hl, .horizon = 1234,
                            .threshold = 1e-3 };
    out_dir o;
    char path[300];
    size_t len = 0;
    REQUIRE(open_dir(&o), "mkdtemp failed");
    plot_path(&o, "long_profile", path, sizeof path);
    char *svg = plot_and_check(path, &d, __LINE__);
    if (svg) len = strlen(svg);
    REQUIRE(svg, "no plot");
    double min_y = 0;
    int n = path_points(svg, "#1f77b4", &min_y);
    CHECK(n > 1000 && n <= 4000, "decimated to %d points", n);
    const char *frame = strstr(svg, "fill=\"none\" stroke=\"#333\"");
    double top = -1;
    /* the frame rect of panel 1 reads <rect x=".." y="TOP" ...> */
    while (frame && frame > svg && strncmp(frame, "<rect", 5)) frame--;
    if (frame) sscanf(frame, "<rect x=\"%*f\" y=\"%lf\"", &top);
    CHECK(fabs(min_y - top) < 0.06, "spike drawn at the top of the plot (%g vs %g)", min_y, top);
    CHECK(len < 400000, "file of %zu bytes", len);
    CHECK(strstr(svg, ">snapshot</text>"), "rows numbered without steps");
    free(svg);
    free(h);
    free(heat);
    close_dir(&o);
}

TEST(plot_refuses_bad_input_and_writes_atomically) {
    double h[4] = { 1, 2, 3, 4 };
    out_dir o;
    char path[300], missing[400];
    REQUIRE(open_dir(&o), "mkdtemp failed");
    plot_path(&o, "atomic", path, sizeof path);
    unlink(path);
    mn_plot_diagnosis ok = { .T = 4, .grad_h = h, .horizon = -1, .threshold = 1e-3 };
    mn_plot_diagnosis bad[] = { ok, ok, ok, ok, ok, ok, ok };
    bad[0].T = 0;
    bad[1].grad_h = NULL;
    bad[2].horizon = 4;
    bad[3].threshold = NAN;
    bad[4].snapshots = 2;           /* without heat */
    bad[5].units = 3;               /* without half-lives */
    bad[6].threshold = -1;
    for (int i = 0; i < 7; i++) {
        mn_clear_error();
        CHECK(mn_plot_diagnosis_svg(path, &bad[i]) == MN_E_ARG && mn_last_error()[0],
              "bad description %d accepted", i);
    }
    CHECK(mn_plot_diagnosis_svg(NULL, &ok) == MN_E_ARG, "no path");
    CHECK(mn_plot_diagnosis_svg(path, NULL) == MN_E_ARG, "no diagnosis");
    CHECK(access(path, F_OK) != 0, "nothing written for bad input");

    /* A folder that does not exist: MN_E_IO, named in the message, nothing created. */
    snprintf(missing, sizeof missing, "%s/no/such/plot.svg", o.dir);
    mn_clear_error();
    CHECK(mn_plot_diagnosis_svg(missing, &ok) == MN_E_IO, "missing folder");
    CHECK(strstr(mn_last_error(), "plot.svg") != NULL, "message names the file: %s",
          mn_last_error());

    /* Renaming onto a folder fails after the temporary file exists: it must be removed. */
    char sub[400];
    snprintf(sub, sizeof sub, "%s/folder.svg", o.dir);
    REQUIRE(mkdir(sub, 0700) == 0, "mkdir");
    CHECK(mn_plot_diagnosis_svg(sub, &ok) == MN_E_IO, "rename onto a folder must fail");
    DIR *dir = opendir(o.dir);
    int entries = 0, temps = 0;
    for (struct dirent *e; dir && (e = readdir(dir));) {
        if (e->d_name[0] == '.') continue;
        entries++;
        temps += strstr(e->d_name, ".tmp.") != NULL;
    }
    if (dir) closedir(dir);
    CHECK(temps == 0, "temporary file left behind");
    rmdir(sub);

    /* Overwriting an existing plot works and leaves only the plot. */
    CHECK_OK(mn_plot_diagnosis_svg(path, &ok));
    CHECK_OK(mn_plot_diagnosis_svg(path, &ok));
    char *svg = slurp(path, NULL);
    CHECK(svg && !xml_problem(svg), "rewritten plot is well-formed");
    free(svg);
    close_dir(&o);
}

/* ------------------------------------------------------------------ reference bytes */

/* A small diagnosis touching every panel and the hard paths (escaped title, zeros, NaN,
 * a non-finite heat cell, capped and bad half-lives). Its SVG must stay byte for byte
 * tests/fixtures/plot_reference.svg, written by the plot code before it was split into
 * files: refactoring the drawing must not change what existing inputs draw. After an
 * intended change of the drawing, regenerate with
 *   MNEMO_PLOT_KEEP=DIR build/test_runner plot_reference_bytes
 * and copy DIR/reference.svg over the fixture (and look at it first). */
TEST(plot_reference_bytes) {
    enum { T = 12, S = 3, H = 5 };
    double h[T], c[T], heat[S * T];
    decay(h, T, 0.5, 0.2);
    decay(c, T, 0.9, 0.3);
    h[1] = 0;
    c[2] = NAN;
    for (int i = 0; i < S * T; i++) heat[i] = h[i % T] * (1 + 0.5 * (i / T));
    heat[T + 4] = INFINITY;
    int steps[S] = { 100, 200, 300 };
    double hl[H] = { 0.5, 7, 40, 1e12, NAN };
    mn_plot_diagnosis d = { .title = "lstm <ref> & \"T=12\"", .T = T, .grad_h = h,
                            .grad_c = c, .snapshots = S, .snapshot_step = steps,
                            .heat = heat, .units = H, .half_life = hl,
                            .horizon = horizon_of(h, T, 1e-3), .threshold = 1e-3 };
    out_dir o;
    char path[300], ref_path[600];
    REQUIRE(open_dir(&o), "mkdtemp failed");
    plot_path(&o, "reference", path, sizeof path);
    char *svg = plot_and_check(path, &d, __LINE__);
    snprintf(ref_path, sizeof ref_path, "%s/plot_reference.svg", mn_test_fixture_dir());
    size_t ref_len = 0;
    char *ref = slurp(ref_path, &ref_len);
    if (svg && ref) {
        size_t len = strlen(svg), i = 0;
        while (i < len && i < ref_len && svg[i] == ref[i]) i++;
        size_t from = i > 40 ? i - 40 : 0;
        CHECK(i == len && i == ref_len,
              "differs from %s at byte %zu of %zu (reference %zu bytes):\n"
              "  now: %.80s\n  ref: %.80s", ref_path, i, len, ref_len, svg + from, ref + from);
    }
    CHECK(ref, "cannot read %s", ref_path);
    free(ref);
    free(svg);
    close_dir(&o);
}

/* ------------------------------------------------------------------ attention panel */

/* Bars of the attention panel: the closed rectangles of the first filled path after its
 * title; -1 when the panel or its path is missing. */
static int attention_bars(const char *svg) {
    const char *p = strstr(svg, "Attention per head");
    if (!p || !(p = strstr(p, "fill-opacity=\"0.85\" d=\""))) return -1;
    int n = 0;
    for (p += strlen("fill-opacity=\"0.85\" d=\""); *p && *p != '"'; p++) n += *p == 'Z';
    return n;
}

TEST(plot_attention_panel_one_bar_per_head) {
    enum { T = 50, HEADS = 4 };
    static double g[T];
    decay(g, T, 0.97, 0.01);
    double u = 3.2;   /* nats */
    double dist[HEADS] = { 12.3, 0, 49, 1 };
    double ent[HEADS] = { 0.45 * u, -1e-6 /* rounding below 0 */, u, 0.2 * u };
    mn_plot_diagnosis d = { .title = "transformer, hidden 16: adding T=50", .T = T,
                            .grad_h = g, .horizon = horizon_of(g, T, 1e-3), .threshold = 1e-3,
                            .heads = HEADS, .head_distance = dist, .head_entropy = ent,
                            .uniform_entropy = u, .attention_block = 3 };
    out_dir o;
    char path[300];
    REQUIRE(open_dir(&o), "mkdtemp failed");
    plot_path(&o, "attention", path, sizeof path);
    char *svg = plot_and_check(path, &d, __LINE__);
    REQUIRE(svg, "no plot");
    CHECK(strstr(svg, ">Attention per head (block 3)</text>"), "panel title");
    CHECK(attention_bars(svg) == HEADS, "%d bars for %d heads", attention_bars(svg), HEADS);
    CHECK(strstr(svg, ">12.3 steps, entropy 0.45 of uniform</text>"), "head 0's label");
    CHECK(strstr(svg, ">0 steps, entropy 0.00 of uniform</text>"), "head 1: own step, 0");
    /* the longest bar reaches the frame's end: its label goes inside, in white */
    CHECK(strstr(svg, "fill=\"#fff\">49 steps, entropy 1.00 of uniform</text>"), "head 2");
    CHECK(strstr(svg, ">1 step, entropy 0.20 of uniform</text>"), "head 3, one step");
    CHECK(strstr(svg, ">H0</text>") && strstr(svg, ">H3</text>") && !strstr(svg, ">H4</text>"),
          "one tick label per head");
    CHECK(strstr(svg, "uniform 3.2 nats"), "uniform entropy in the legend");
    CHECK(strstr(svg, "mean attention distance"), "x axis label");
    CHECK(!strstr(svg, "half-life") && !strstr(svg, "training step"), "no other panels");
    free(svg);

    /* Many heads: one bar each, still a plot of a sane height; uniform entropy 0 (every
     * query saw one key) gives the entropy in nats instead of a fraction. */
    enum { MANY = 64 };
    double md[MANY], me[MANY];
    for (int h = 0; h < MANY; h++) { md[h] = h * (T - 1) / (MANY - 1.0); me[h] = 0; }
    d.heads = MANY;
    d.head_distance = md;
    d.head_entropy = me;
    d.uniform_entropy = 0;
    d.attention_block = 0;
    plot_path(&o, "attention_many", path, sizeof path);
    svg = plot_and_check(path, &d, __LINE__);
    REQUIRE(svg, "no plot");
    CHECK(attention_bars(svg) == MANY, "%d bars for %d heads", attention_bars(svg), MANY);
    CHECK(strstr(svg, ">H63</text>") && strstr(svg, "entropy 0 nats</text>"), "labels");
    int height = 0;
    const char *h = strstr(svg, "height=\"");
    if (h) sscanf(h, "height=\"%d\"", &height);
    CHECK(height > 900 && height < 1700, "page height %d px for 64 heads", height);
    free(svg);
    close_dir(&o);
}

TEST(plot_attention_panel_absent_without_heads) {
    enum { T = 30 };
    double g[T], dist[2] = { 3, 4 }, ent[2] = { 1, 2 };
    decay(g, T, 0.9, 1);
    mn_plot_diagnosis d = { .T = T, .grad_h = g, .horizon = -1, .threshold = 1e-3,
                            .heads = 0, .head_distance = dist, .head_entropy = ent,
                            .uniform_entropy = 2.5, .attention_block = 1 };
    out_dir o;
    char path[300];
    REQUIRE(open_dir(&o), "mkdtemp failed");
    plot_path(&o, "no_attention", path, sizeof path);
    char *with_arrays = plot_and_check(path, &d, __LINE__);
    REQUIRE(with_arrays, "no plot");
    CHECK(!strstr(with_arrays, "Attention per head") && !strstr(with_arrays, ">H0</text>"),
          "no attention panel with heads = 0");
    /* heads = 0 draws the same page whatever the other attention fields hold */
    mn_plot_diagnosis bare = { .T = T, .grad_h = g, .horizon = -1, .threshold = 1e-3 };
    char *without = plot_and_check(path, &bare, __LINE__);
    CHECK(without && !strcmp(with_arrays, without), "heads = 0 changes nothing");
    free(with_arrays);
    free(without);
    close_dir(&o);
}

TEST(plot_attention_refuses_impossible_figures) {
    enum { T = 10 };
    double g[T], dist[2] = { 2, 3 }, ent[2] = { 0.5, 1 };
    decay(g, T, 0.9, 1);
    out_dir o;
    char path[300];
    REQUIRE(open_dir(&o), "mkdtemp failed");
    plot_path(&o, "attention_bad", path, sizeof path);
    unlink(path);
    mn_plot_diagnosis ok = { .T = T, .grad_h = g, .horizon = -1, .threshold = 1e-3,
                             .heads = 2, .head_distance = dist, .head_entropy = ent,
                             .uniform_entropy = 2.0, .attention_block = 0 };
    static const double bad_dist[][2] = { { -1, 3 }, { 2, NAN }, { INFINITY, 3 }, { 2, 9.5 } };
    static const double bad_ent[][2] = { { -0.5, 1 }, { 0.5, NAN }, { INFINITY, 1 } };
    enum { NB = 6 + 4 + 3 };
    mn_plot_diagnosis bad[NB];
    for (int i = 0; i < NB; i++) bad[i] = ok;
    bad[0].heads = -1;
    bad[1].head_distance = NULL;
    bad[2].head_entropy = NULL;
    bad[3].uniform_entropy = NAN;
    bad[4].uniform_entropy = -1;
    bad[5].attention_block = -1;
    for (int i = 0; i < 4; i++) bad[6 + i].head_distance = bad_dist[i];
    for (int i = 0; i < 3; i++) bad[10 + i].head_entropy = bad_ent[i];
    for (int i = 0; i < NB; i++) {
        mn_clear_error();
        CHECK(mn_plot_diagnosis_svg(path, &bad[i]) == MN_E_ARG && mn_last_error()[0],
              "impossible attention figures %d accepted", i);
    }
    CHECK(access(path, F_OK) != 0, "nothing written for impossible figures");
    /* the edges that are possible: distance T-1, entropy 0 and a hair below, uniform 0 */
    double edge_dist[2] = { 0, T - 1 }, edge_ent[2] = { 0, -1e-9 };
    mn_plot_diagnosis edge = ok;
    edge.head_distance = edge_dist;
    edge.head_entropy = edge_ent;
    edge.uniform_entropy = 0;
    CHECK_OK(mn_plot_diagnosis_svg(path, &edge));
    CHECK_OK(mn_plot_diagnosis_svg(path, &ok));
    close_dir(&o);
}

/* ------------------------------------------------------------------ line plot (sweep) */

TEST(plot_lines_marks_every_finite_point_and_escapes_names) {
    out_dir o;
    char path[300];
    REQUIRE(open_dir(&o), "mkdtemp failed");
    plot_path(&o, "lines", path, sizeof path);
    const double x[3] = {100, 200, 400};
    /* lstm complete, rnn with a gap (a failed run), a dashed baseline */
    const double y[9] = {0.9, 0.8, 0.6, 0.7, NAN, 0.5, 0.5, 0.5, 0.5};
    const char *names[3] = {"lstm", "rnn <tanh> & co", "baseline"};
    const int dashed[3] = {0, 0, 1};
    mn_plot_lines p = {.title = "adding: accuracy", .x_label = "length T",
                       .y_label = "test accuracy", .log_x = 1, .points = 3, .x = x,
                       .series = 3, .names = names, .y = y, .dashed = dashed, .y_max = 1};
    CHECK_OK(mn_plot_lines_svg(path, &p));
    char *svg = slurp(path, NULL);
    REQUIRE(svg != NULL, "plot not written");
    CHECK(!xml_problem(svg), "well-formed: %s", xml_problem(svg));
    CHECK(count_of(svg, "<circle") == 5, "5 finite points of solid series marked, got %d",
          count_of(svg, "<circle"));
    CHECK(strstr(svg, "rnn &lt;tanh&gt; &amp; co") != NULL, "the name is escaped");
    CHECK(count_of(svg, "stroke-dasharray") >= 2, "baseline dashed in the plot and the key");
    /* the gap: the rnn path restarts with M after the NaN */
    const char *rnn = strstr(svg, "stroke=\"#d95f02\" stroke-width=\"1.8\" d=\"M");
    REQUIRE(rnn != NULL, "rnn series drawn");
    const char *end = strchr(rnn + 40, '"');
    int moves = 0;
    for (const char *q = rnn + 40; q < end; q++) moves += *q == 'M';
    CHECK(moves == 1 && strchr(rnn + 40, 'L') > end, "a lone point after the gap starts a new "
          "subpath and is not joined to the first");
    free(svg);

    /* impossible descriptions are refused, and nothing is written */
    unlink(path);
    mn_plot_lines bad[5] = {p, p, p, p, p};
    const double down[3] = {100, 50, 400}, zero[3] = {0, 1, 2};
    bad[0].points = 0;
    bad[1].x = down;
    bad[2].x = zero;            /* log axis at 0 */
    bad[3].series = 17;
    bad[4].y_min = 2;           /* above y_max */
    for (int i = 0; i < 5; i++) {
        mn_clear_error();
        CHECK(mn_plot_lines_svg(path, &bad[i]) == MN_E_ARG && mn_last_error()[0],
              "bad line plot %d accepted", i);
    }
    CHECK(access(path, F_OK) != 0, "nothing written for bad input");
    close_dir(&o);
}
