/* SVG writer for the gradient-flow diagnosis (see plot_svg.h).
 *
 * The page is built in memory (mn_strbuf) from the top down with a running y cursor, then
 * written atomically. Layout constants are in pixels; text widths are estimated from the
 * character count, which is enough to keep labels apart without font metrics. Every number
 * that reaches the file goes through px() or fmt_num(), so no "nan" or "inf" can leak in. */
#include "mnemo.h"
#include "atomic_file.h"
#include "json.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    PAGE_W = 860,        /* page width; panels share the same plot box horizontally */
    LEFT = 84,           /* room for y tick labels and the rotated y label */
    RIGHT = 120,         /* room for the heatmap's colour bar and its labels */
    MAX_BUCKETS = 2000,  /* a line keeps at most 2 points per bucket: ≤ 4000 points */
    HEAT_COLS = 220,     /* heatmap cells across (about 3 px each) and down */
    HEAT_ROWS = 100,
    NLEV = 64,           /* colour levels of the heatmap */
    MAX_TICKS = 24
};
#define FONT 12                /* tick labels */
#define CLIP_DECADES 40.0      /* norms this far below the largest count as zero */
#define HALF_LIFE_MIN 1e-2     /* shorter half-lives share the first bin */
#define HALF_LIFE_CAP 1e12     /* what diagnostics report for a forget gate of 1 */

#define C_H "#1f77b4"          /* ‖∂L/∂h_t‖ */
#define C_C "#d95f02"          /* ‖∂L/∂c_t‖ */
#define C_REF "#555555"        /* threshold and markers */
#define C_ZERO "#000000"
#define C_NODATA "#c8c8c8"
/* Sub- and superscripts move with dy, not baseline-shift, which Firefox ignores; the
 * subscript's closing tspan moves the baseline back for the text after it. */
#define SUB_T "<tspan dy=\"3\" font-size=\"75%\">t</tspan><tspan dy=\"-3\">‖</tspan>"
#define SUPER(e) "<tspan dy=\"-5\" font-size=\"75%%\">" e "</tspan>"
#define NORM_H "‖∂L/∂h" SUB_T
#define NORM_C "‖∂L/∂c" SUB_T

typedef struct { double x, y, w, h; } box;   /* a plot area, in px */
typedef struct { double lo, hi; } range;     /* data shown along one side (log axes: log10) */
typedef struct { int n; double v[MAX_TICKS]; } ticks;

/* A log axis in whole decades. Values below `floor` (zeros, denormals, anything 40 decades
 * under the peak) would stretch the axis without telling anything, so they are drawn on
 * an extra level one tick below the lowest decade, labelled 0. */
typedef struct {
    int lo, hi, step;        /* decades shown and the decade step between ticks */
    double floor;
    int clipped, clipped_nonzero, bad;  /* counts: below floor, of those not 0, NaN/Inf */
} log_axis;

/* ------------------------------------------------------------------ numbers and text */

/* A coordinate for the file: finite and of bounded size whatever the input. */
static double px(double v) {
    if (!isfinite(v)) return 0;
    return v < -1e6 ? -1e6 : v > 1e6 ? 1e6 : v;
}

/* Tick label: integers and values from 100 to 1e6 plainly, others with 3 significant
 * digits and a short exponent. */
static void fmt_num(char *buf, size_t n, double v) {
    if (!isfinite(v)) { snprintf(buf, n, "?"); return; }
    double a = fabs(v);
    if (a < 1e6 && (v == floor(v) || a >= 100)) { snprintf(buf, n, "%.0f", v + 0.0); return; }
    char tmp[32];
    snprintf(tmp, sizeof tmp, "%.3g", v);
    char *e = strchr(tmp, 'e');
    if (!e) { snprintf(buf, n, "%s", tmp); return; }
    /* "1e+06" -> "1e6", "2.5e-05" -> "2.5e-5" */
    const char *d = e + 1;
    int neg = *d == '-';
    if (*d == '+' || *d == '-') d++;
    while (*d == '0' && d[1]) d++;
    snprintf(buf, n, "%.*se%s%s", (int)(e - tmp), tmp, neg ? "-" : "", d);
}

/* 10 with a superscript exponent; the minus sign is U+2212 so it reads as one. */
static void decade_label(char *buf, size_t n, int k) {
    snprintf(buf, n, "10" SUPER("%s%d"), k < 0 ? "−" : "", k < 0 ? -k : k);
}

/* Length of the UTF-8 character at p when it is one XML may carry (no overlong forms,
 * surrogates, U+FFFE/U+FFFF or code points past U+10FFFF); 0 otherwise. */
static int xml_char_len(const unsigned char *p) {
    unsigned c = p[0], cp;
    int len = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3
            : (c & 0xF8) == 0xF0 ? 4 : 0;
    if (len == 1) return c >= 0x20 || c == '\t' || c == '\n' ? 1 : 0;
    if (!len) return 0;
    cp = c & (0x7F >> len);
    for (int i = 1; i < len; i++) {
        if ((p[i] & 0xC0) != 0x80) return 0;
        cp = cp << 6 | (p[i] & 0x3Fu);
    }
    static const unsigned least[5] = { 0, 0, 0x80, 0x800, 0x10000 };
    if (cp < least[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF) ||
        cp == 0xFFFE || cp == 0xFFFF)
        return 0;
    return len;
}

/* Appends `s` escaped for XML text. Bytes that XML cannot carry (control characters,
 * invalid UTF-8) become '?', so a caller's odd title cannot break the document. */
static void xml_escape(mn_strbuf *sb, const char *s) {
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        int len = xml_char_len(p);
        if (*p == '&') mn_sb_printf(sb, "&amp;");
        else if (*p == '<') mn_sb_printf(sb, "&lt;");
        else if (*p == '>') mn_sb_printf(sb, "&gt;");
        else if (!len || *p == '\n') mn_sb_printf(sb, "?");
        else mn_sb_printf(sb, "%.*s", len, (const char *)p);
        p += len ? len : 1;
    }
}

/* Width of markup in px at `size`: tags skipped, an entity or a UTF-8 character counts as
 * one glyph of about 0.6 em (DejaVu/Helvetica digits and lower case). */
static double text_width(const char *m, int size) {
    int glyphs = 0;
    for (const unsigned char *p = (const unsigned char *)m; *p; p++) {
        if (*p == '<') { while (*p && *p != '>') p++; if (!*p) break; continue; }
        if (*p == '&') { while (*p && *p != ';') p++; if (!*p) break; }
        if ((*p & 0xC0) != 0x80) glyphs++;
    }
    return 0.6 * size * glyphs;
}

/* <text> holding markup built in this file (never a caller's string). */
static void text(mn_strbuf *sb, double x, double y, const char *anchor, int size,
                 const char *attrs, const char *markup) {
    mn_sb_printf(sb, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\" font-size=\"%d\"%s>%s"
                 "</text>\n", px(x), px(y), anchor, size, attrs ? attrs : "", markup);
}

/* ------------------------------------------------------------------ axes */

static double map_x(const box *b, range r, double v) {
    return b->x + (v - r.lo) / (r.hi - r.lo) * b->w;
}
static double map_y(const box *b, range r, double v) {
    return b->y + b->h - (v - r.lo) / (r.hi - r.lo) * b->h;
}

/* The 1-2-5 step that puts at most about max_n ticks on `span`. */
static double nice_step(double span, int max_n, int integer) {
    double raw = span > 0 ? span / max_n : 1;
    double p = pow(10, floor(log10(raw))), step = 10 * p;
    const double m[] = { 1, 2, 5 };
    for (int i = 2; i >= 0; i--)
        if (m[i] * p >= raw) step = m[i] * p;
    return integer && step < 1 ? 1 : step;
}

static void linear_ticks(range r, int max_n, int integer, ticks *t) {
    double st = nice_step(r.hi - r.lo, max_n, integer);
    double first = ceil(r.lo / st - 1e-9) * st;
    t->n = 0;
    for (int i = 0; i < MAX_TICKS; i++) {
        double v = first + i * st;
        if (v > r.hi + 1e-9 * st) break;
        t->v[t->n++] = fabs(v) < 1e-9 * st ? 0 : v;
    }
}

/* Decade step (1, 2, 5, 10, ...) so that lo..hi has at most max_n intervals. */
static int decade_step(int lo, int hi, int max_n) {
    const int steps[] = { 1, 2, 5, 10, 20, 50, 100, 200, 500 };
    for (int i = 0; i < 9; i++)
        if ((hi - lo) <= max_n * steps[i]) return steps[i];
    return 1000;
}

static int floor_to(int v, int k) { return (int)floor((double)v / k) * k; }
static int ceil_to(int v, int k) { return (int)ceil((double)v / k) * k; }

/* The frame, drawn after the data so the axis lines stay crisp on top of it. */
static void frame(mn_strbuf *sb, const box *b) {
    mn_sb_printf(sb, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" "
                 "stroke=\"#333\" stroke-width=\"1\"/>\n", b->x, b->y, b->w, b->h);
}

static void grid_and_tick_y(mn_strbuf *sb, const box *b, double y, const char *label,
                            int grid) {
    if (grid)
        mn_sb_printf(sb, "<path d=\"M%.1f %.1fH%.1f\" stroke=\"#e4e4e4\"/>",
                     b->x, px(y), b->x + b->w);
    mn_sb_printf(sb, "<path d=\"M%.1f %.1fh-5\" stroke=\"#333\"/>\n", b->x, px(y));
    text(sb, b->x - 8, y + 4, "end", FONT, NULL, label);
}

static void grid_and_tick_x(mn_strbuf *sb, const box *b, double x, const char *label,
                            int grid) {
    if (grid)
        mn_sb_printf(sb, "<path d=\"M%.1f %.1fV%.1f\" stroke=\"#e4e4e4\"/>",
                     px(x), b->y, b->y + b->h);
    mn_sb_printf(sb, "<path d=\"M%.1f %.1fv5\" stroke=\"#333\"/>\n", px(x), b->y + b->h);
    text(sb, x, b->y + b->h + 18, "middle", FONT, NULL, label);
}

static void axis_labels(mn_strbuf *sb, const box *b, const char *xl, const char *yl) {
    text(sb, b->x + b->w / 2, b->y + b->h + 38, "middle", 13, NULL, xl);
    double x = b->x - 62, y = b->y + b->h / 2;
    char attr[96];
    snprintf(attr, sizeof attr, " transform=\"rotate(-90 %.1f %.1f)\"", x, y);
    text(sb, x, y, "middle", 13, attr, yl);
}

/* Time steps 0..T-1 along a box whose x range is [-0.5, T-0.5] (cells centred on steps). */
static void time_axis(mn_strbuf *sb, const box *b, int T, int grid) {
    range rx = { -0.5, T - 0.5 };
    ticks t;
    linear_ticks((range){ 0, T - 1 }, 8, 1, &t);
    for (int i = 0; i < t.n; i++) {
        char buf[32];
        fmt_num(buf, sizeof buf, t.v[i]);
        grid_and_tick_x(sb, b, map_x(b, rx, t.v[i]), buf, grid);
    }
}

/* A label just above the box at x (a marker's name), kept clear of the y tick labels
 * on the left and inside the page on the right. */
static void marker_label(mn_strbuf *sb, const box *b, double x, const char *markup) {
    double half = text_width(markup, FONT) / 2 + 2;
    if (x - half < b->x) x = b->x + half;
    if (x + half > PAGE_W - 4) x = PAGE_W - 4 - half;
    text(sb, x, b->y - 8, "middle", FONT, " fill=\"" C_REF "\"", markup);
}

static void vertical_marker(mn_strbuf *sb, const box *b, double x, const char *markup) {
    mn_sb_printf(sb, "<path d=\"M%.1f %.1fV%.1f\" stroke=\"" C_REF "\" stroke-width=\"1.2\" "
                 "stroke-dasharray=\"2 3\"/>\n", px(x), b->y, b->y + b->h);
    marker_label(sb, b, x, markup);
}

/* ------------------------------------------------------------------ legend and titles */

typedef enum { KEY_LINE, KEY_DASH, KEY_SWATCH, KEY_NOTE } key_kind;
typedef struct { key_kind kind; const char *colour; char label[192]; } key;

/* Lays the keys out left to right from (x, y), wrapping within width w, so the legend sits
 * above the plot and never covers data. Returns the height used. */
static double legend(mn_strbuf *sb, const key *k, int n, double x, double y, double w) {
    const double row = 18, sample = 26;
    double cx = x, cy = y + 12;
    for (int i = 0; i < n; i++) {
        double need = (k[i].kind == KEY_NOTE ? 0 : sample + 6) + text_width(k[i].label, FONT);
        if (cx > x && cx + need > x + w) { cx = x; cy += row; }
        if (k[i].kind == KEY_SWATCH)
            mn_sb_printf(sb, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"10\" "
                         "fill=\"%s\" stroke=\"#888\" stroke-width=\"0.5\"/>\n",
                         cx + 6, cy - 9, sample - 12, k[i].colour);
        else if (k[i].kind != KEY_NOTE)
            mn_sb_printf(sb, "<path d=\"M%.1f %.1fh%.1f\" stroke=\"%s\" stroke-width=\"2\"%s/>\n",
                         cx, cy - 4, sample, k[i].colour,
                         k[i].kind == KEY_DASH ? " stroke-dasharray=\"6 4\"" : "");
        double tx = cx + (k[i].kind == KEY_NOTE ? 0 : sample + 6);
        text(sb, tx, cy, "start", FONT, k[i].kind == KEY_NOTE ? " fill=\"#555\"" : NULL,
             k[i].label);
        cx += need + 22;
    }
    return n ? cy - y + 8 : 0;
}

static double panel_title(mn_strbuf *sb, double y, const char *markup) {
    text(sb, LEFT, y + 16, "start", 14, " font-weight=\"bold\"", markup);
    return y + 26;
}

static box plot_box(double y, double h) {
    return (box){ LEFT, y, PAGE_W - LEFT - RIGHT, h };
}

/* ------------------------------------------------------------------ panel 1: profile */

static int usable(double v) { return isfinite(v) && v >= 0; }

/* Scans one series into the axis statistics; first call with floor = 0 to find the peak. */
static void scan_series(const double *v, int n, log_axis *a, double *peak, double *minpos) {
    if (!v) return;
    for (int i = 0; i < n; i++) {
        if (!usable(v[i])) { a->bad++; continue; }
        if (v[i] > *peak) *peak = v[i];
        if (a->floor > 0 && v[i] < a->floor) {
            a->clipped++;
            a->clipped_nonzero += v[i] != 0;
        } else if (a->floor > 0 && v[i] < *minpos) {
            *minpos = v[i];
        }
    }
}

/* Whole decades covering [minpos, peak], stepped to at most max_n intervals. */
static void make_log_axis(log_axis *a, double peak, double minpos, int max_n) {
    int lo = -1, hi = 0;
    if (peak > 0 && minpos <= peak) {
        lo = (int)floor(log10(minpos));
        hi = (int)ceil(log10(peak));
        if (hi == lo) { lo--; hi++; }   /* flat profile: centre it */
    }
    a->step = decade_step(lo, hi, a->clipped ? max_n - 1 : max_n);
    a->lo = floor_to(lo, a->step);
    a->hi = ceil_to(hi, a->step);
}

/* The zero level sits one tick below the lowest decade, a little above the frame so
 * that a line running along it stays visible. */
static double zero_level(const log_axis *a) { return a->lo - a->step; }

static range log_range(const log_axis *a) {
    return (range){ a->clipped ? zero_level(a) - 0.25 * a->step : a->lo, a->hi };
}

static double log_value(const log_axis *a, double v) {
    return v >= a->floor && v > 0 ? log10(v) : zero_level(a);
}

static void log_axis_ticks(mn_strbuf *sb, const box *b, const log_axis *a) {
    range r = log_range(a);
    char buf[96];
    for (int k = a->lo; k <= a->hi; k += a->step) {
        decade_label(buf, sizeof buf, k);
        grid_and_tick_y(sb, b, map_y(b, r, k), buf, 1);
    }
    if (a->clipped)
        grid_and_tick_y(sb, b, map_y(b, r, zero_level(a)), a->clipped_nonzero ? "≈0" : "0", 1);
}

/* Two slashes across the y axis between the zero level and the lowest decade: the scale
 * is not continuous there. Drawn after the frame so they cut it. */
static void axis_break(mn_strbuf *sb, const box *b, const log_axis *a) {
    if (!a->clipped) return;
    double y = map_y(b, log_range(a), a->lo - 0.5 * a->step);
    mn_sb_printf(sb, "<rect x=\"%.1f\" y=\"%.1f\" width=\"8\" height=\"5\" fill=\"#fff\"/>"
                 "<path d=\"M%.1f %.1fl8 -4M%.1f %.1fl8 -4\" stroke=\"#333\"/>\n",
                 b->x - 4, px(y - 2.5), b->x - 4, px(y + 0.5), b->x - 4, px(y + 4.5));
}

/* Draws v[0..n) against its index, decimated to at most MAX_BUCKETS buckets keeping each
 * bucket's min and max in their order, so spikes and dips survive. NaN/Inf break the line;
 * a point left alone between gaps still shows as a dot (round caps). */
static void series(mn_strbuf *sb, const box *b, const log_axis *a, const double *v, int n,
                   const char *colour) {
    range rx = { -0.5, n - 0.5 }, ry = log_range(a);
    int nb = MN_MIN(n, MAX_BUCKETS), pts = 0;
    mn_sb_printf(sb, "<path fill=\"none\" stroke=\"%s\" stroke-width=\"1.8\" "
                 "stroke-linejoin=\"round\" stroke-linecap=\"round\" d=\"", colour);
    for (int k = 0; k < nb; k++) {
        int i0 = (int)((long long)k * n / nb), i1 = (int)((long long)(k + 1) * n / nb);
        int lo = -1, hi = -1;
        for (int i = i0; i < i1; i++) {
            if (!usable(v[i])) continue;
            if (lo < 0 || v[i] < v[lo]) lo = i;
            if (hi < 0 || v[i] > v[hi]) hi = i;
        }
        if (lo < 0) {                       /* nothing drawable: a gap */
            if (pts == 1) mn_sb_printf(sb, "h0");
            pts = 0;
            continue;
        }
        int idx[2] = { MN_MIN(lo, hi), MN_MAX(lo, hi) };
        for (int j = 0; j < (idx[0] == idx[1] ? 1 : 2); j++) {
            double x = map_x(b, rx, idx[j]), y = map_y(b, ry, log_value(a, v[idx[j]]));
            mn_sb_printf(sb, "%s%.1f %.1f", pts ? "L" : "M", px(x), px(y));
            pts++;
        }
    }
    if (pts == 1) mn_sb_printf(sb, "h0");
    mn_sb_printf(sb, "\"/>\n");
    if (n > 60) return;
    /* Few points: mark each, so single steps and T = 1 are visible. */
    for (int i = 0; i < n; i++)
        if (usable(v[i]))
            mn_sb_printf(sb, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.6\" fill=\"%s\"/>",
                         px(map_x(b, rx, i)), px(map_y(b, ry, log_value(a, v[i]))), colour);
    mn_sb_printf(sb, "\n");
}

/* Last-step norm × threshold, or 0 when it cannot be drawn. */
static double threshold_level(const mn_plot_diagnosis *d) {
    double last = d->grad_h[d->T - 1], v = last * d->threshold;
    return d->threshold > 0 && usable(last) && isfinite(v) && v > 0 ? v : 0;
}

/* The threshold line is drawn (and keyed) only where the log axis can place it. */
static int threshold_shown(const log_axis *a, double thr) { return thr > 0 && thr >= a->floor; }

static int profile_keys(const mn_plot_diagnosis *d, const log_axis *a, double thr, key *k) {
    int n = 0;
    k[n++] = (key){ KEY_LINE, C_H, NORM_H };
    if (d->grad_c) k[n++] = (key){ KEY_LINE, C_C, NORM_C };
    if (threshold_shown(a, thr)) {
        k[n] = (key){ KEY_DASH, C_REF, "" };
        char t[32];
        fmt_num(t, sizeof t, d->threshold);
        snprintf(k[n++].label, sizeof k[0].label, "last-step %s × %s", NORM_H, t);
    }
    if (a->clipped) {
        k[n] = (key){ KEY_NOTE, NULL, "" };
        char f[32];
        fmt_num(f, sizeof f, a->floor);
        if (a->clipped_nonzero)
            snprintf(k[n++].label, sizeof k[0].label, "≈0: %d values below %s or 0",
                     a->clipped, f);
        else
            snprintf(k[n++].label, sizeof k[0].label, "0: %d values exactly 0", a->clipped);
    }
    if (a->bad) {
        k[n] = (key){ KEY_NOTE, NULL, "" };
        snprintf(k[n++].label, sizeof k[0].label, "gaps: %d NaN/Inf values", a->bad);
    }
    return n;
}

static void profile_axis(const mn_plot_diagnosis *d, double thr, log_axis *a) {
    double peak = 0, minpos = HUGE_VAL;
    memset(a, 0, sizeof *a);
    scan_series(d->grad_h, d->T, a, &peak, &minpos);
    scan_series(d->grad_c, d->T, a, &peak, &minpos);
    if (thr > peak) peak = thr;
    /* Second pass with the floor known: counts what falls below it and the smallest kept. */
    memset(a, 0, sizeof *a);
    a->floor = MN_MAX(peak * pow(10, -CLIP_DECADES), 1e-300);
    double unused = 0;
    scan_series(d->grad_h, d->T, a, &unused, &minpos);
    scan_series(d->grad_c, d->T, a, &unused, &minpos);
    if (thr >= a->floor && thr < minpos) minpos = thr;
    make_log_axis(a, peak, minpos, 8);
}

static double panel_profile(mn_strbuf *sb, const mn_plot_diagnosis *d, double y) {
    double thr = threshold_level(d);
    log_axis a;
    profile_axis(d, thr, &a);
    y = panel_title(sb, y, "Gradient flow back through time");
    key k[6];
    int nk = profile_keys(d, &a, thr, k);
    y += legend(sb, k, nk, LEFT, y, PAGE_W - LEFT - RIGHT);
    int show_h = d->horizon >= 0;
    box b = plot_box(y + (show_h ? 24 : 8), 240);
    log_axis_ticks(sb, &b, &a);
    time_axis(sb, &b, d->T, 1);
    range ry = log_range(&a);
    if (threshold_shown(&a, thr)) {
        double ty = map_y(&b, ry, log10(thr));
        mn_sb_printf(sb, "<path d=\"M%.1f %.1fH%.1f\" stroke=\"" C_REF "\" stroke-width=\"1.4\" "
                     "stroke-dasharray=\"6 4\"/>\n", b.x, px(ty), b.x + b.w);
    }
    if (show_h) {
        char m[64];
        snprintf(m, sizeof m, "horizon = %d step%s", d->horizon, d->horizon == 1 ? "" : "s");
        vertical_marker(sb, &b, map_x(&b, (range){ -0.5, d->T - 0.5 }, d->T - 1 - d->horizon), m);
    }
    if (d->grad_c) series(sb, &b, &a, d->grad_c, d->T, C_C);
    series(sb, &b, &a, d->grad_h, d->T, C_H);
    frame(sb, &b);
    axis_break(sb, &b, &a);
    axis_labels(sb, &b, "time step t (0 = oldest)",
                "gradient norm (log scale)");
    return b.y + b.h + 48;
}

/* ------------------------------------------------------------------ panel 2: heatmap */

/* viridis sampled at nine points: even in lightness, so it reads in grey print too. */
static void viridis(double t, char out[8]) {
    static const unsigned char c[9][3] = {
        { 68, 1, 84 }, { 71, 44, 122 }, { 59, 81, 139 }, { 44, 113, 142 }, { 33, 144, 141 },
        { 39, 173, 129 }, { 92, 200, 99 }, { 170, 220, 50 }, { 253, 231, 37 } };
    double f = (t < 0 ? 0 : t > 1 ? 1 : t) * 8;
    int i = f >= 8 ? 7 : (int)f;
    double u = f - i;
    int rgb[3];
    for (int k = 0; k < 3; k++) rgb[k] = (int)lround(c[i][k] + u * (c[i + 1][k] - c[i][k]));
    snprintf(out, 8, "#%02x%02x%02x", rgb[0], rgb[1], rgb[2]);
}

typedef struct {
    double floor, lo, hi;   /* values below floor are "zero"; colours span [lo, hi] in log10 */
    int clipped, bad;       /* raw values below the floor, and NaN/Inf ones */
} colour_scale;

/* The floor (40 decades under the peak) and what falls below it or is unusable. */
static void heat_counts(const mn_plot_diagnosis *d, colour_scale *cs) {
    size_t n = (size_t)d->snapshots * (size_t)d->T;
    double peak = 0;
    for (size_t i = 0; i < n; i++)
        if (usable(d->heat[i]) && d->heat[i] > peak) peak = d->heat[i];
    memset(cs, 0, sizeof *cs);
    cs->floor = MN_MAX(peak * pow(10, -CLIP_DECADES), 1e-300);
    for (size_t i = 0; i < n; i++) {
        if (!usable(d->heat[i])) cs->bad++;
        else if (d->heat[i] < cs->floor) cs->clipped++;
    }
}

/* Value of the block rows [r0,r1) × steps [c0,c1): the mean log10 of its values above the
 * floor (a geometric mean, as the colour is logarithmic); -Inf when every usable value is
 * below the floor (drawn as zero); NaN when none is usable (no data). */
static double cell_value(const mn_plot_diagnosis *d, double floor, int r0, int r1, int c0,
                         int c1) {
    double sum = 0;
    int n = 0, low = 0;
    for (int r = r0; r < r1; r++)
        for (int c = c0; c < c1; c++) {
            double v = d->heat[(size_t)r * (size_t)d->T + (size_t)c];
            if (!usable(v)) continue;
            if (v < floor) { low++; continue; }
            sum += log10(v);
            n++;
        }
    return n ? sum / n : low ? -HUGE_VAL : NAN;
}

/* Colours span the cells as drawn (block means when T or the snapshots are decimated), at
 * least one decade wide so the bar always carries a labelled tick. */
static void cell_range(const double *cell, size_t n, colour_scale *cs) {
    double lo = HUGE_VAL, hi = -HUGE_VAL;
    for (size_t i = 0; i < n; i++)
        if (isfinite(cell[i])) {
            lo = MN_MIN(lo, cell[i]);
            hi = MN_MAX(hi, cell[i]);
        }
    if (lo > hi) { lo = -1; hi = 0; }
    if (hi - lo < 1) {
        double mid = (lo + hi) / 2;
        lo = mid - 0.5;
        hi = mid + 0.5;
    }
    cs->lo = lo;
    cs->hi = hi;
}

/* Colour level of a cell value: 0..NLEV-1, or -2 for zero and -1 for no data. */
static int level_of(const colour_scale *cs, double v) {
    if (isnan(v)) return -1;
    if (!isfinite(v)) return -2;
    int l = (int)floor((v - cs->lo) / (cs->hi - cs->lo) * NLEV);
    return l < 0 ? 0 : l >= NLEV ? NLEV - 1 : l;
}

/* Training-step edges of each snapshot's band, halfway to its neighbours. Rows are
 * numbered instead when steps are missing or not increasing. Returns 1 for steps. */
static int row_edges(const mn_plot_diagnosis *d, double *e) {
    int S = d->snapshots, steps = d->snapshot_step != NULL;
    for (int s = 1; steps && s < S; s++)
        if (d->snapshot_step[s] <= d->snapshot_step[s - 1]) steps = 0;
#define ROW_AT(s) (steps ? (double)d->snapshot_step[s] : (double)(s))
    if (S == 1) {
        e[0] = ROW_AT(0) - 0.5;
        e[1] = ROW_AT(0) + 0.5;
        return steps;
    }
    for (int s = 1; s < S; s++) e[s] = (ROW_AT(s - 1) + ROW_AT(s)) / 2;
    e[0] = ROW_AT(0) - (e[1] - ROW_AT(0));
    e[S] = ROW_AT(S - 1) + (ROW_AT(S - 1) - e[S - 1]);
#undef ROW_AT
    return steps;
}

typedef struct { int nr, nc; double *cell, *edge; } heat_grid;

static void level_colour(int l, char out[8]) {
    if (l == -2) snprintf(out, 8, C_ZERO);
    else if (l == -1) snprintf(out, 8, C_NODATA);
    else viridis((l + 0.5) / NLEV, out);
}

/* One <path> per colour level, each cell a closed rectangle and runs of equal cells along
 * a row merged: a 200 × 50 heatmap stays around 100 kB, with no seams between cells. */
static void heat_cells(mn_strbuf *sb, const box *b, const mn_plot_diagnosis *d,
                       const heat_grid *g, const colour_scale *cs) {
    range rx = { -0.5, d->T - 0.5 }, ry = { g->edge[0], g->edge[d->snapshots] };
    mn_sb_printf(sb, "<g shape-rendering=\"crispEdges\">\n");
    for (int l = -2; l < NLEV; l++) {
        int open = 0;
        for (int r = 0; r < g->nr; r++) {
            int s0 = (int)((long long)r * d->snapshots / g->nr);
            int s1 = (int)((long long)(r + 1) * d->snapshots / g->nr);
            double top = map_y(b, ry, g->edge[s1]), bot = map_y(b, ry, g->edge[s0]);
            for (int c = 0; c < g->nc; c++) {
                const double *row = g->cell + (size_t)r * (size_t)g->nc;
                if (level_of(cs, row[c]) != l) continue;
                int c1 = c;
                while (c1 + 1 < g->nc && level_of(cs, row[c1 + 1]) == l) c1++;
                double x0 = map_x(b, rx, (long long)c * d->T / g->nc - 0.5);
                double x1 = map_x(b, rx, (long long)(c1 + 1) * d->T / g->nc - 0.5);
                if (!open) {
                    char col[8];
                    level_colour(l, col);
                    mn_sb_printf(sb, "<path fill=\"%s\" d=\"", col);
                    open = 1;
                }
                mn_sb_printf(sb, "M%.1f %.1fH%.1fV%.1fH%.1fZ", px(x0), px(top), px(x1),
                             px(bot), px(x0));
                c = c1;
            }
        }
        if (open) mn_sb_printf(sb, "\"/>\n");
    }
    mn_sb_printf(sb, "</g>\n");
}

/* The colour bar right of the heatmap, in the same levels as the cells, ticked at decades. */
static void colour_bar(mn_strbuf *sb, const box *b, const colour_scale *cs) {
    box cb = { b->x + b->w + 16, b->y, 14, b->h };
    range r = { cs->lo, cs->hi };
    mn_sb_printf(sb, "<g shape-rendering=\"crispEdges\">");
    for (int l = 0; l < NLEV; l++) {
        char col[8];
        level_colour(l, col);
        double y1 = cb.y + cb.h * (1 - (double)l / NLEV);
        double y0 = cb.y + cb.h * (1 - (l + 1.0) / NLEV);
        /* 0.6 px into the level below, or crisp edges leave hairline seams */
        mn_sb_printf(sb, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
                     "fill=\"%s\"/>", cb.x, y0, cb.w, y1 - y0 + (l ? 0.6 : 0), col);
    }
    mn_sb_printf(sb, "</g>\n");
    frame(sb, &cb);
    int lo = (int)ceil(cs->lo - 1e-9), hi = (int)floor(cs->hi + 1e-9);
    int st = decade_step(lo, hi, 6);
    for (int k = ceil_to(lo, st); k <= hi; k += st) {
        char buf[96];
        decade_label(buf, sizeof buf, k);
        double y = map_y(&cb, r, k);
        mn_sb_printf(sb, "<path d=\"M%.1f %.1fh4\" stroke=\"#333\"/>", cb.x + cb.w, px(y));
        text(sb, cb.x + cb.w + 7, y + 4, "start", FONT, NULL, buf);
    }
    double x = PAGE_W - 14, y = cb.y + cb.h / 2;
    char attr[96];
    snprintf(attr, sizeof attr, " transform=\"rotate(-90 %.1f %.1f)\"", x, y);
    text(sb, x, y, "middle", 13, attr, NORM_H " (log scale)");
}

static int heat_keys(const colour_scale *cs, key *k) {
    int n = 0;
    if (cs->clipped) {
        k[n] = (key){ KEY_SWATCH, C_ZERO, "" };
        char f[32];
        fmt_num(f, sizeof f, cs->floor);
        snprintf(k[n++].label, sizeof k[0].label, "0 or below %s (%d values)", f, cs->clipped);
    }
    if (cs->bad) {
        k[n] = (key){ KEY_SWATCH, C_NODATA, "" };
        snprintf(k[n++].label, sizeof k[0].label, "NaN/Inf (%d values)", cs->bad);
    }
    return n;
}

static void heat_axes(mn_strbuf *sb, const box *b, const mn_plot_diagnosis *d,
                      const heat_grid *g, int by_step) {
    range ry = { g->edge[0], g->edge[d->snapshots] };
    ticks t;
    linear_ticks(ry, 6, 1, &t);
    for (int i = 0; i < t.n; i++) {
        char buf[32];
        fmt_num(buf, sizeof buf, t.v[i]);
        grid_and_tick_y(sb, b, map_y(b, ry, t.v[i]), buf, 0);  /* no lines over cells */
    }
    time_axis(sb, b, d->T, 0);
    axis_labels(sb, b, "time step t (0 = oldest)", by_step ? "training step" : "snapshot");
}

/* Block means of the heat array, at most HEAT_ROWS × HEAT_COLS; 0 when out of memory. */
static int heat_grid_fill(const mn_plot_diagnosis *d, heat_grid *g, colour_scale *cs) {
    g->nr = MN_MIN(d->snapshots, HEAT_ROWS);
    g->nc = MN_MIN(d->T, HEAT_COLS);
    g->cell = mn_alloc((size_t)g->nr * (size_t)g->nc * sizeof *g->cell);
    g->edge = mn_alloc(((size_t)d->snapshots + 1) * sizeof *g->edge);
    if (!g->cell || !g->edge) return 0;
    heat_counts(d, cs);
    for (int r = 0; r < g->nr; r++) {
        int r0 = (int)((long long)r * d->snapshots / g->nr);
        int r1 = (int)((long long)(r + 1) * d->snapshots / g->nr);
        for (int c = 0; c < g->nc; c++)
            g->cell[(size_t)r * (size_t)g->nc + (size_t)c] = cell_value(d, cs->floor, r0, r1,
                (int)((long long)c * d->T / g->nc), (int)((long long)(c + 1) * d->T / g->nc));
    }
    cell_range(g->cell, (size_t)g->nr * (size_t)g->nc, cs);
    return 1;
}

static double panel_heatmap(mn_strbuf *sb, const mn_plot_diagnosis *d, double y) {
    colour_scale cs;
    heat_grid g = { 0, 0, NULL, NULL };
    if (!heat_grid_fill(d, &g, &cs)) {
        sb->failed = 1;   /* mn_alloc has set the error; the caller checks `failed` */
        mn_release(g.cell);
        mn_release(g.edge);
        return y;
    }
    int by_step = row_edges(d, g.edge);
    y = panel_title(sb, y, "Gradient norm " NORM_H " per time step during training");
    key k[2];
    y += legend(sb, k, heat_keys(&cs, k), LEFT, y, PAGE_W - LEFT - RIGHT);
    box b = plot_box(y + 8, 200);
    heat_cells(sb, &b, d, &g, &cs);
    heat_axes(sb, &b, d, &g, by_step);
    frame(sb, &b);
    colour_bar(sb, &b, &cs);
    mn_release(g.cell);
    mn_release(g.edge);
    return b.y + b.h + 48;
}

/* ------------------------------------------------------------------ panel 3: half-lives */

enum { BIN_LO = -4, BIN_HI = 24, NBINS = BIN_HI - BIN_LO + 1 };  /* half-decades 1e-2..1e12 */

typedef struct {
    int count[NBINS], jmin, jmax, maxc;
    int shown, bad, below, capped;
    double median;
} half_life_hist;

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Bins per half-decade; shorter than HALF_LIFE_MIN or longer than the cap share the end
 * bins. The median is over the units shown. Returns 0 when out of memory. */
static int half_life_bins(const mn_plot_diagnosis *d, half_life_hist *h) {
    memset(h, 0, sizeof *h);
    double *v = mn_alloc((size_t)d->units * sizeof *v);
    if (!v) return 0;
    h->jmin = BIN_HI;
    h->jmax = BIN_LO;
    for (int i = 0; i < d->units; i++) {
        double x = d->half_life[i];
        if (!isfinite(x) || x <= 0) { h->bad++; continue; }
        v[h->shown++] = x;
        if (x < HALF_LIFE_MIN) { h->below++; x = HALF_LIFE_MIN; }
        if (x >= HALF_LIFE_CAP) { h->capped++; x = HALF_LIFE_CAP; }
        int j = (int)floor(2 * log10(x) + 1e-9);
        j = j < BIN_LO ? BIN_LO : j > BIN_HI ? BIN_HI : j;
        if (++h->count[j - BIN_LO] > h->maxc) h->maxc = h->count[j - BIN_LO];
        h->jmin = MN_MIN(h->jmin, j);
        h->jmax = MN_MAX(h->jmax, j);
    }
    if (h->shown) {
        qsort(v, (size_t)h->shown, sizeof *v, cmp_double);
        h->median = h->shown % 2 ? v[h->shown / 2]
                  : (v[h->shown / 2 - 1] + v[h->shown / 2]) / 2;
    }
    mn_release(v);
    return 1;
}

static int half_life_keys(const half_life_hist *h, key *k) {
    int n = 0;
    if (h->capped) {
        k[n] = (key){ KEY_NOTE, NULL, "" };
        snprintf(k[n++].label, sizeof k[0].label,
                 "%d unit%s with gate ≈ 1, at the cap of 10" SUPER("12") /* raised to the end */,
                 h->capped, h->capped == 1 ? "" : "s");
    }
    if (h->below) {
        k[n] = (key){ KEY_NOTE, NULL, "" };
        snprintf(k[n++].label, sizeof k[0].label, "%d below 0.01 steps, in the first bin",
                 h->below);
    }
    if (h->bad) {
        k[n] = (key){ KEY_NOTE, NULL, "" };
        snprintf(k[n++].label, sizeof k[0].label, "%d not shown (NaN, Inf or ≤ 0)", h->bad);
    }
    return n;
}

/* Whole decades covering the occupied bins, with the sequence length T strictly inside so
 * its marker never sits on the frame. */
static range half_life_range(const half_life_hist *h, int T, int *step) {
    double lt = log10((double)T);
    int lo = (int)MN_MIN(floor(h->shown ? h->jmin / 2.0 : 0), ceil(lt) - 1);
    int hi = (int)MN_MAX(ceil(h->shown ? (h->jmax + 1) / 2.0 : 1), floor(lt) + 1);
    if (hi - lo < 2) { lo--; hi++; }   /* a few bins: some context on both sides */
    *step = decade_step(lo, hi, 8);
    return (range){ floor_to(lo, *step), ceil_to(hi, *step) };
}

static void half_life_bars(mn_strbuf *sb, const box *b, const half_life_hist *h, range rx,
                           range ry) {
    mn_sb_printf(sb, "<path fill=\"" C_H "\" fill-opacity=\"0.85\" d=\"");
    for (int j = h->jmin; j <= h->jmax; j++) {
        int c = h->count[j - BIN_LO];
        if (!c) continue;
        double x0 = map_x(b, rx, j / 2.0) + 0.5, x1 = map_x(b, rx, (j + 1) / 2.0) - 0.5;
        double y0 = map_y(b, ry, c), y1 = map_y(b, ry, 0);
        mn_sb_printf(sb, "M%.1f %.1fH%.1fV%.1fH%.1fZ", px(x0), px(y0), px(x1), px(y1), px(x0));
    }
    mn_sb_printf(sb, "\"/>\n");
}

static void half_life_axes(mn_strbuf *sb, const box *b, range rx, int step, range ry) {
    ticks t;
    linear_ticks(ry, 5, 1, &t);
    for (int i = 0; i < t.n; i++) {
        char buf[32];
        fmt_num(buf, sizeof buf, t.v[i]);
        grid_and_tick_y(sb, b, map_y(b, ry, t.v[i]), buf, 1);
    }
    for (int k = (int)rx.lo; k <= (int)rx.hi; k += step) {
        char buf[96];
        decade_label(buf, sizeof buf, k);
        grid_and_tick_x(sb, b, map_x(b, rx, k), buf, 1);
    }
    axis_labels(sb, b, "memory half-life ln 0.5 / ln f̄ (steps, log scale)", "units");
}

static double panel_half_life(mn_strbuf *sb, const mn_plot_diagnosis *d, double y) {
    half_life_hist h;
    if (!half_life_bins(d, &h)) { sb->failed = 1; return y; }
    char title[192], med[32];
    fmt_num(med, sizeof med, h.median);
    if (h.shown)
        snprintf(title, sizeof title, "Memory half-life per unit (%d unit%s, median %s steps)",
                 d->units, d->units == 1 ? "" : "s", med);
    else
        snprintf(title, sizeof title, "Memory half-life per unit (%d unit%s)", d->units,
                 d->units == 1 ? "" : "s");
    y = panel_title(sb, y, title);
    key k[3];
    y += legend(sb, k, half_life_keys(&h, k), LEFT, y, PAGE_W - LEFT - RIGHT);
    box b = plot_box(y + 24, 170);
    int step;
    range rx = half_life_range(&h, d->T, &step);
    range ry = { 0, 1 };
    if (h.maxc > 0) {   /* headroom above the tallest bar, up to a tick */
        double st = nice_step(h.maxc, 5, 1);
        ry.hi = ceil((h.maxc + 0.5) / st) * st;
    }
    half_life_axes(sb, &b, rx, step, ry);
    half_life_bars(sb, &b, &h, rx, ry);
    char m[48];
    snprintf(m, sizeof m, "T = %d step%s", d->T, d->T == 1 ? "" : "s");
    vertical_marker(sb, &b, map_x(&b, rx, log10((double)d->T)), m);
    frame(sb, &b);
    return b.y + b.h + 48;
}

/* ------------------------------------------------------------------ page and file */

static mn_status check(const char *path, const mn_plot_diagnosis *d) {
    if (!path || !*path || !d)
        return mn_fail(MN_E_ARG, "plot: needs a file name and a diagnosis");
    if (d->T < 1 || !d->grad_h)
        return mn_fail(MN_E_ARG, "plot: needs a gradient profile of at least one step "
                       "(T = %d)", d->T);
    if (d->snapshots < 0 || (d->snapshots > 0 && !d->heat))
        return mn_fail(MN_E_ARG, "plot: %d snapshots need a heat array of snapshots × T",
                       d->snapshots);
    size_t cells;
    if (!mn_mul_size((size_t)d->snapshots, (size_t)d->T, &cells))
        return mn_fail(MN_E_ARG, "plot: %d snapshots × %d steps is too large",
                       d->snapshots, d->T);
    if (d->units < 0 || (d->units > 0 && !d->half_life))
        return mn_fail(MN_E_ARG, "plot: %d units need a half-life array", d->units);
    if (d->horizon < -1 || d->horizon > d->T - 1)
        return mn_fail(MN_E_ARG, "plot: horizon %d is outside 0..%d steps (-1 hides it)",
                       d->horizon, d->T - 1);
    if (!isfinite(d->threshold) || d->threshold < 0)
        return mn_fail(MN_E_ARG, "plot: threshold %g must be a positive number (0 hides it)",
                       d->threshold);
    return MN_OK;
}

/* The document title (first, where viewers look for it), the white background, and the
 * page title, shrunk to fit the width when the caller's text is long. */
static double page_title(mn_strbuf *sb, const char *title) {
    mn_strbuf esc = { 0 };
    if (title && *title) xml_escape(&esc, title);
    if (esc.failed) { sb->failed = 1; mn_sb_free(&esc); return 0; }
    if (esc.len) mn_sb_printf(sb, "<title>%s</title>\n", esc.data);
    mn_sb_printf(sb, "<rect width=\"100%%\" height=\"100%%\" fill=\"#fff\"/>\n");
    double y = 4;
    if (esc.len) {
        double w = text_width(esc.data, 17);
        int size = w > PAGE_W - 20 ? MN_MAX(9, (int)(17 * (PAGE_W - 20) / w)) : 17;
        text(sb, PAGE_W / 2.0, 26, "middle", size, " font-weight=\"bold\"", esc.data);
        y = 36;
    }
    mn_sb_free(&esc);
    return y;
}

/* The page: the XML prolog and <svg> element around the drawn body, written atomically so
 * a reader never sees half a plot. */
static mn_status write_page(const char *path, const mn_strbuf *body, int height) {
    char head[512];
    int hn = snprintf(head, sizeof head,
                      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
                      "viewBox=\"0 0 %d %d\" font-family=\"DejaVu Sans, Helvetica, Arial, "
                      "sans-serif\">\n", PAGE_W, height, PAGE_W, height);
    static const char tail[] = "</svg>\n";
    mn_piece pieces[3] = {{head, (size_t)hn}, {body->data, body->len}, {tail, sizeof tail - 1}};
    return mn_write_atomic(path, pieces, 3);
}

mn_status mn_plot_diagnosis_svg(const char *path, const mn_plot_diagnosis *d) {
    mn_status s = check(path, d);
    if (s) return s;
    mn_strbuf body = { 0 };
    double y = page_title(&body, d->title);
    y = panel_profile(&body, d, y);
    if (d->snapshots > 0) y = panel_heatmap(&body, d, y);
    if (d->units > 0) y = panel_half_life(&body, d, y);
    if (body.failed || !body.data) {
        mn_sb_free(&body);
        return mn_fail(MN_E_NOMEM, "plot: out of memory while drawing %s", path);
    }
    s = write_page(path, &body, (int)ceil(y) + 4);
    mn_sb_free(&body);
    return s;
}
