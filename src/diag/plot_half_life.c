/* Panel 3 of the diagnosis plot: for gated cells, a histogram of the memory half-life
 * per unit on a log axis (half-decade bins), with the sequence length T marked. */
#include "plot_svg.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HALF_LIFE_MIN 1e-2     /* shorter half-lives share the first bin */
#define HALF_LIFE_CAP 1e12     /* what diagnostics report for a forget gate of 1 */

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

static int half_life_keys(const half_life_hist *h, mn_svg_key *k) {
    int n = 0;
    if (h->capped) {
        k[n] = (mn_svg_key){ MN_SVG_KEY_NOTE, NULL, "" };
        snprintf(k[n++].label, sizeof k[0].label,
                 "%d unit%s with gate ≈ 1, at the cap of 10" MN_SVG_SUPER("12")
                 /* raised to the end */,
                 h->capped, h->capped == 1 ? "" : "s");
    }
    if (h->below) {
        k[n] = (mn_svg_key){ MN_SVG_KEY_NOTE, NULL, "" };
        snprintf(k[n++].label, sizeof k[0].label, "%d below 0.01 steps, in the first bin",
                 h->below);
    }
    if (h->bad) {
        k[n] = (mn_svg_key){ MN_SVG_KEY_NOTE, NULL, "" };
        snprintf(k[n++].label, sizeof k[0].label, "%d not shown (NaN, Inf or ≤ 0)", h->bad);
    }
    return n;
}

/* Whole decades covering the occupied bins, with the sequence length T strictly inside so
 * its marker never sits on the frame. */
static mn_svg_range half_life_range(const half_life_hist *h, int T, int *step) {
    double lt = log10((double)T);
    int lo = (int)MN_MIN(floor(h->shown ? h->jmin / 2.0 : 0), ceil(lt) - 1);
    int hi = (int)MN_MAX(ceil(h->shown ? (h->jmax + 1) / 2.0 : 1), floor(lt) + 1);
    if (hi - lo < 2) { lo--; hi++; }   /* a few bins: some context on both sides */
    *step = mn_svg_decade_step(lo, hi, 8);
    return (mn_svg_range){ mn_svg_floor_to(lo, *step), mn_svg_ceil_to(hi, *step) };
}

static void half_life_bars(mn_strbuf *sb, const mn_svg_box *b, const half_life_hist *h,
                           mn_svg_range rx, mn_svg_range ry) {
    mn_sb_printf(sb, "<path fill=\"" MN_SVG_C_H "\" fill-opacity=\"0.85\" d=\"");
    for (int j = h->jmin; j <= h->jmax; j++) {
        int c = h->count[j - BIN_LO];
        if (!c) continue;
        double x0 = mn_svg_map_x(b, rx, j / 2.0) + 0.5;
        double x1 = mn_svg_map_x(b, rx, (j + 1) / 2.0) - 0.5;
        double y0 = mn_svg_map_y(b, ry, c), y1 = mn_svg_map_y(b, ry, 0);
        mn_sb_printf(sb, "M%.1f %.1fH%.1fV%.1fH%.1fZ", mn_svg_px(x0), mn_svg_px(y0),
                     mn_svg_px(x1), mn_svg_px(y1), mn_svg_px(x0));
    }
    mn_sb_printf(sb, "\"/>\n");
}

static void half_life_axes(mn_strbuf *sb, const mn_svg_box *b, mn_svg_range rx, int step,
                           mn_svg_range ry) {
    mn_svg_ticks t;
    mn_svg_linear_ticks(ry, 5, 1, &t);
    for (int i = 0; i < t.n; i++) {
        char buf[32];
        mn_svg_num(buf, sizeof buf, t.v[i]);
        mn_svg_tick_y(sb, b, mn_svg_map_y(b, ry, t.v[i]), buf, 1);
    }
    for (int k = (int)rx.lo; k <= (int)rx.hi; k += step) {
        char buf[96];
        mn_svg_decade_label(buf, sizeof buf, k);
        mn_svg_tick_x(sb, b, mn_svg_map_x(b, rx, k), buf, 1);
    }
    mn_svg_axis_labels(sb, b, "memory half-life ln 0.5 / ln f̄ (steps, log scale)", "units");
}

double mn_plot_panel_half_life(mn_strbuf *sb, const mn_plot_diagnosis *d, double y) {
    half_life_hist h;
    if (!half_life_bins(d, &h)) { sb->failed = 1; return y; }
    char title[192], med[32];
    mn_svg_num(med, sizeof med, h.median);
    if (h.shown)
        snprintf(title, sizeof title, "Memory half-life per unit (%d unit%s, median %s steps)",
                 d->units, d->units == 1 ? "" : "s", med);
    else
        snprintf(title, sizeof title, "Memory half-life per unit (%d unit%s)", d->units,
                 d->units == 1 ? "" : "s");
    y = mn_svg_panel_title(sb, y, title);
    mn_svg_key k[3];
    y += mn_svg_legend(sb, k, half_life_keys(&h, k), MN_SVG_LEFT, y, MN_SVG_PLOT_W);
    mn_svg_box b = mn_svg_plot_box(y + 24, 170);
    int step;
    mn_svg_range rx = half_life_range(&h, d->T, &step);
    mn_svg_range ry = { 0, 1 };
    if (h.maxc > 0) {   /* headroom above the tallest bar, up to a tick */
        double st = mn_svg_nice_step(h.maxc, 5, 1);
        ry.hi = ceil((h.maxc + 0.5) / st) * st;
    }
    half_life_axes(sb, &b, rx, step, ry);
    half_life_bars(sb, &b, &h, rx, ry);
    char m[48];
    snprintf(m, sizeof m, "T = %d step%s", d->T, d->T == 1 ? "" : "s");
    mn_svg_vertical_marker(sb, &b, mn_svg_map_x(&b, rx, log10((double)d->T)), m);
    mn_svg_frame(sb, &b);
    return b.y + b.h + 48;
}
