/* SVG drawing shared by the panels of the diagnosis plot (mn_plot_diagnosis_svg).
 *
 * The page is built in memory (mn_strbuf) from the top down with a running y cursor, then
 * written atomically (plot_svg.c). Each panel has its own file and one entry point,
 *   double mn_plot_panel_X(mn_strbuf *sb, const mn_plot_diagnosis *d, double y),
 * which draws below y and returns the y under it; on running out of memory it sets
 * sb->failed and the page is not written. Layout constants are in pixels; text widths are
 * estimated from the character count, which is enough to keep labels apart without font
 * metrics. Every number that reaches the file goes through mn_svg_px() or mn_svg_num(), so
 * no "nan" or "inf" can leak in. */
#ifndef MN_PLOT_SVG_H
#define MN_PLOT_SVG_H

#include "mnemo.h"
#include "json.h"   /* mn_strbuf */

#include <math.h>
#include <stddef.h>

enum {
    MN_SVG_PAGE_W = 860,   /* page width; panels share the same plot box horizontally */
    MN_SVG_LEFT = 84,      /* room for y tick labels and the rotated y label */
    MN_SVG_RIGHT = 120,    /* room for the heatmap's colour bar and its labels */
    MN_SVG_PLOT_W = MN_SVG_PAGE_W - MN_SVG_LEFT - MN_SVG_RIGHT,   /* plot boxes and legends */
    MN_SVG_MAX_TICKS = 24
};
#define MN_SVG_FONT 12               /* tick labels */
#define MN_SVG_CLIP_DECADES 40.0     /* norms this far below the largest count as zero */

#define MN_SVG_C_H "#1f77b4"         /* ‖∂L/∂h_t‖ */
#define MN_SVG_C_C "#d95f02"         /* ‖∂L/∂c_t‖ */
#define MN_SVG_C_REF "#555555"       /* threshold and markers */
#define MN_SVG_C_ZERO "#000000"
#define MN_SVG_C_NODATA "#c8c8c8"
/* Sub- and superscripts move with dy, not baseline-shift, which Firefox ignores; the
 * subscript's closing tspan moves the baseline back for the text after it. */
#define MN_SVG_SUB_T "<tspan dy=\"3\" font-size=\"75%\">t</tspan><tspan dy=\"-3\">‖</tspan>"
#define MN_SVG_SUPER(e) "<tspan dy=\"-5\" font-size=\"75%%\">" e "</tspan>"
#define MN_SVG_NORM_H "‖∂L/∂h" MN_SVG_SUB_T
#define MN_SVG_NORM_C "‖∂L/∂c" MN_SVG_SUB_T

typedef struct { double x, y, w, h; } mn_svg_box;   /* a plot area, in px */
typedef struct { double lo, hi; } mn_svg_range;     /* data along one side (log axes: log10) */
typedef struct { int n; double v[MN_SVG_MAX_TICKS]; } mn_svg_ticks;

/* A legend entry: a line, a dashed line, a colour swatch, or grey text alone. */
typedef enum { MN_SVG_KEY_LINE, MN_SVG_KEY_DASH, MN_SVG_KEY_SWATCH, MN_SVG_KEY_NOTE }
    mn_svg_key_kind;
typedef struct { mn_svg_key_kind kind; const char *colour; char label[192]; } mn_svg_key;

/* ------------------------------------------------------------------ numbers and text */

/* A coordinate for the file: finite and of bounded size whatever the input. */
static inline double mn_svg_px(double v) {
    if (!isfinite(v)) return 0;
    return v < -1e6 ? -1e6 : v > 1e6 ? 1e6 : v;
}

/* A value that can be drawn on a norm axis: finite and not negative. */
static inline int mn_svg_usable(double v) { return isfinite(v) && v >= 0; }

/* Tick label: integers and values from 100 to 1e6 plainly, others with 3 significant
 * digits and a short exponent ("?" for NaN/Inf). */
void mn_svg_num(char *buf, size_t n, double v);
/* 10 with a superscript exponent (markup). */
void mn_svg_decade_label(char *buf, size_t n, int k);
/* Appends `s` escaped for XML text; bytes XML cannot carry become '?'. Use it for every
 * string that comes from a caller. */
void mn_svg_escape(mn_strbuf *sb, const char *s);
/* Estimated width of markup in px at font size `size`. */
double mn_svg_text_width(const char *markup, int size);
/* <text> holding markup built by the plot code (never a caller's string unescaped). */
void mn_svg_text(mn_strbuf *sb, double x, double y, const char *anchor, int size,
                 const char *attrs, const char *markup);

/* ------------------------------------------------------------------ axes */

static inline double mn_svg_map_x(const mn_svg_box *b, mn_svg_range r, double v) {
    return b->x + (v - r.lo) / (r.hi - r.lo) * b->w;
}
static inline double mn_svg_map_y(const mn_svg_box *b, mn_svg_range r, double v) {
    return b->y + b->h - (v - r.lo) / (r.hi - r.lo) * b->h;
}
static inline int mn_svg_floor_to(int v, int k) { return (int)floor((double)v / k) * k; }
static inline int mn_svg_ceil_to(int v, int k) { return (int)ceil((double)v / k) * k; }

/* The 1-2-5 step that puts at most about max_n ticks on `span` (at least 1 if integer). */
double mn_svg_nice_step(double span, int max_n, int integer);
void mn_svg_linear_ticks(mn_svg_range r, int max_n, int integer, mn_svg_ticks *t);
/* Decade step (1, 2, 5, 10, ...) so that lo..hi has at most max_n intervals. */
int mn_svg_decade_step(int lo, int hi, int max_n);
/* The frame, drawn after the data so the axis lines stay crisp on top of it. */
void mn_svg_frame(mn_strbuf *sb, const mn_svg_box *b);
/* A tick with its label on the left (y) or bottom (x) side, and a light grid line. */
void mn_svg_tick_y(mn_strbuf *sb, const mn_svg_box *b, double y, const char *label, int grid);
void mn_svg_tick_x(mn_strbuf *sb, const mn_svg_box *b, double x, const char *label, int grid);
/* The x label under the box and the rotated y label left of it. */
void mn_svg_axis_labels(mn_strbuf *sb, const mn_svg_box *b, const char *xl, const char *yl);
/* Time steps 0..T-1 along a box whose x range is [-0.5, T-0.5] (cells centred on steps). */
void mn_svg_time_axis(mn_strbuf *sb, const mn_svg_box *b, int T, int grid);
/* A dotted vertical line at x with its label above the box. */
void mn_svg_vertical_marker(mn_strbuf *sb, const mn_svg_box *b, double x, const char *markup);

/* ------------------------------------------------------------------ legend and titles */

/* Lays the keys out left to right from (x, y), wrapping within width w, so the legend sits
 * above the plot and never covers data. Returns the height used. */
double mn_svg_legend(mn_strbuf *sb, const mn_svg_key *k, int n, double x, double y, double w);
/* A panel's bold title at y; returns the y under it. */
double mn_svg_panel_title(mn_strbuf *sb, double y, const char *markup);
/* The plot area of a panel: the page width less the margins, from y down h px. */
mn_svg_box mn_svg_plot_box(double y, double h);

/* ------------------------------------------------------------------ pages */

/* The document title, the white background and the page title (shrunk to fit the width);
 * returns the y under it. */
double mn_svg_page_title(mn_strbuf *sb, const char *title);
/* The XML prolog and <svg> element around the drawn body, written atomically so a reader
 * never sees half a plot. */
mn_status mn_svg_write_page(const char *path, const mn_strbuf *body, int height);

/* ------------------------------------------------------------------ panels */

double mn_plot_panel_profile(mn_strbuf *sb, const mn_plot_diagnosis *d, double y);
double mn_plot_panel_heatmap(mn_strbuf *sb, const mn_plot_diagnosis *d, double y);
double mn_plot_panel_half_life(mn_strbuf *sb, const mn_plot_diagnosis *d, double y);
double mn_plot_panel_attention(mn_strbuf *sb, const mn_plot_diagnosis *d, double y);
/* MN_E_ARG (with the error set) for impossible attention figures; MN_OK otherwise. */
mn_status mn_plot_attention_check(const mn_plot_diagnosis *d);

#endif
