/* Drawing primitives of the diagnosis plot: numbers and text, axes, legend and titles
 * (declared in plot_svg.h; the panels and the page are in plot_*.c). */
#include "plot_svg.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* ------------------------------------------------------------------ numbers and text */

/* Tick label: integers and values from 100 to 1e6 plainly, others with 3 significant
 * digits and a short exponent. */
void mn_svg_num(char *buf, size_t n, double v) {
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
void mn_svg_decade_label(char *buf, size_t n, int k) {
    snprintf(buf, n, "10" MN_SVG_SUPER("%s%d"), k < 0 ? "−" : "", k < 0 ? -k : k);
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
void mn_svg_escape(mn_strbuf *sb, const char *s) {
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
double mn_svg_text_width(const char *m, int size) {
    int glyphs = 0;
    for (const unsigned char *p = (const unsigned char *)m; *p; p++) {
        if (*p == '<') { while (*p && *p != '>') p++; if (!*p) break; continue; }
        if (*p == '&') { while (*p && *p != ';') p++; if (!*p) break; }
        if ((*p & 0xC0) != 0x80) glyphs++;
    }
    return 0.6 * size * glyphs;
}

/* <text> holding markup built by the plot code (never a caller's string unescaped). */
void mn_svg_text(mn_strbuf *sb, double x, double y, const char *anchor, int size,
                 const char *attrs, const char *markup) {
    mn_sb_printf(sb, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\" font-size=\"%d\"%s>%s"
                 "</text>\n", mn_svg_px(x), mn_svg_px(y), anchor, size, attrs ? attrs : "",
                 markup);
}

/* ------------------------------------------------------------------ axes */

/* The 1-2-5 step that puts at most about max_n ticks on `span`. */
double mn_svg_nice_step(double span, int max_n, int integer) {
    double raw = span > 0 ? span / max_n : 1;
    double p = pow(10, floor(log10(raw))), step = 10 * p;
    const double m[] = { 1, 2, 5 };
    for (int i = 2; i >= 0; i--)
        if (m[i] * p >= raw) step = m[i] * p;
    return integer && step < 1 ? 1 : step;
}

void mn_svg_linear_ticks(mn_svg_range r, int max_n, int integer, mn_svg_ticks *t) {
    double st = mn_svg_nice_step(r.hi - r.lo, max_n, integer);
    double first = ceil(r.lo / st - 1e-9) * st;
    t->n = 0;
    for (int i = 0; i < MN_SVG_MAX_TICKS; i++) {
        double v = first + i * st;
        if (v > r.hi + 1e-9 * st) break;
        t->v[t->n++] = fabs(v) < 1e-9 * st ? 0 : v;
    }
}

/* Decade step (1, 2, 5, 10, ...) so that lo..hi has at most max_n intervals. */
int mn_svg_decade_step(int lo, int hi, int max_n) {
    const int steps[] = { 1, 2, 5, 10, 20, 50, 100, 200, 500 };
    for (int i = 0; i < 9; i++)
        if ((hi - lo) <= max_n * steps[i]) return steps[i];
    return 1000;
}

/* The frame, drawn after the data so the axis lines stay crisp on top of it. */
void mn_svg_frame(mn_strbuf *sb, const mn_svg_box *b) {
    mn_sb_printf(sb, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" "
                 "stroke=\"#333\" stroke-width=\"1\"/>\n", b->x, b->y, b->w, b->h);
}

void mn_svg_tick_y(mn_strbuf *sb, const mn_svg_box *b, double y, const char *label, int grid) {
    if (grid)
        mn_sb_printf(sb, "<path d=\"M%.1f %.1fH%.1f\" stroke=\"#e4e4e4\"/>",
                     b->x, mn_svg_px(y), b->x + b->w);
    mn_sb_printf(sb, "<path d=\"M%.1f %.1fh-5\" stroke=\"#333\"/>\n", b->x, mn_svg_px(y));
    mn_svg_text(sb, b->x - 8, y + 4, "end", MN_SVG_FONT, NULL, label);
}

void mn_svg_tick_x(mn_strbuf *sb, const mn_svg_box *b, double x, const char *label, int grid) {
    if (grid)
        mn_sb_printf(sb, "<path d=\"M%.1f %.1fV%.1f\" stroke=\"#e4e4e4\"/>",
                     mn_svg_px(x), b->y, b->y + b->h);
    mn_sb_printf(sb, "<path d=\"M%.1f %.1fv5\" stroke=\"#333\"/>\n", mn_svg_px(x), b->y + b->h);
    mn_svg_text(sb, x, b->y + b->h + 18, "middle", MN_SVG_FONT, NULL, label);
}

void mn_svg_axis_labels(mn_strbuf *sb, const mn_svg_box *b, const char *xl, const char *yl) {
    mn_svg_text(sb, b->x + b->w / 2, b->y + b->h + 38, "middle", 13, NULL, xl);
    double x = b->x - 62, y = b->y + b->h / 2;
    char attr[96];
    snprintf(attr, sizeof attr, " transform=\"rotate(-90 %.1f %.1f)\"", x, y);
    mn_svg_text(sb, x, y, "middle", 13, attr, yl);
}

/* Time steps 0..T-1 along a box whose x range is [-0.5, T-0.5] (cells centred on steps). */
void mn_svg_time_axis(mn_strbuf *sb, const mn_svg_box *b, int T, int grid) {
    mn_svg_range rx = { -0.5, T - 0.5 };
    mn_svg_ticks t;
    mn_svg_linear_ticks((mn_svg_range){ 0, T - 1 }, 8, 1, &t);
    for (int i = 0; i < t.n; i++) {
        char buf[32];
        mn_svg_num(buf, sizeof buf, t.v[i]);
        mn_svg_tick_x(sb, b, mn_svg_map_x(b, rx, t.v[i]), buf, grid);
    }
}

/* A label just above the box at x (a marker's name), kept clear of the y tick labels
 * on the left and inside the page on the right. */
static void marker_label(mn_strbuf *sb, const mn_svg_box *b, double x, const char *markup) {
    double half = mn_svg_text_width(markup, MN_SVG_FONT) / 2 + 2;
    if (x - half < b->x) x = b->x + half;
    if (x + half > MN_SVG_PAGE_W - 4) x = MN_SVG_PAGE_W - 4 - half;
    mn_svg_text(sb, x, b->y - 8, "middle", MN_SVG_FONT, " fill=\"" MN_SVG_C_REF "\"", markup);
}

void mn_svg_vertical_marker(mn_strbuf *sb, const mn_svg_box *b, double x, const char *markup) {
    mn_sb_printf(sb, "<path d=\"M%.1f %.1fV%.1f\" stroke=\"" MN_SVG_C_REF "\" "
                 "stroke-width=\"1.2\" stroke-dasharray=\"2 3\"/>\n", mn_svg_px(x), b->y,
                 b->y + b->h);
    marker_label(sb, b, x, markup);
}

/* ------------------------------------------------------------------ legend and titles */

/* Lays the keys out left to right from (x, y), wrapping within width w, so the legend sits
 * above the plot and never covers data. Returns the height used. */
double mn_svg_legend(mn_strbuf *sb, const mn_svg_key *k, int n, double x, double y, double w) {
    const double row = 18, sample = 26;
    double cx = x, cy = y + 12;
    for (int i = 0; i < n; i++) {
        int note = k[i].kind == MN_SVG_KEY_NOTE;
        double need = (note ? 0 : sample + 6) + mn_svg_text_width(k[i].label, MN_SVG_FONT);
        if (cx > x && cx + need > x + w) { cx = x; cy += row; }
        if (k[i].kind == MN_SVG_KEY_SWATCH)
            mn_sb_printf(sb, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"10\" "
                         "fill=\"%s\" stroke=\"#888\" stroke-width=\"0.5\"/>\n",
                         cx + 6, cy - 9, sample - 12, k[i].colour);
        else if (!note)
            mn_sb_printf(sb, "<path d=\"M%.1f %.1fh%.1f\" stroke=\"%s\" stroke-width=\"2\"%s/>\n",
                         cx, cy - 4, sample, k[i].colour,
                         k[i].kind == MN_SVG_KEY_DASH ? " stroke-dasharray=\"6 4\"" : "");
        double tx = cx + (note ? 0 : sample + 6);
        mn_svg_text(sb, tx, cy, "start", MN_SVG_FONT, note ? " fill=\"#555\"" : NULL, k[i].label);
        cx += need + 22;
    }
    return n ? cy - y + 8 : 0;
}

double mn_svg_panel_title(mn_strbuf *sb, double y, const char *markup) {
    mn_svg_text(sb, MN_SVG_LEFT, y + 16, "start", 14, " font-weight=\"bold\"", markup);
    return y + 26;
}

mn_svg_box mn_svg_plot_box(double y, double h) {
    return (mn_svg_box){ MN_SVG_LEFT, y, MN_SVG_PLOT_W, h };
}
