/* Panel 1 of the diagnosis plot: the final gradient norm per time step on a log axis
 * (‖∂L/∂h_t‖, and ‖∂L/∂c_t‖ when given), with the threshold line and the horizon marker. */
#include "plot_svg.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

enum { MAX_BUCKETS = 2000 };   /* a line keeps at most 2 points per bucket: ≤ 4000 points */

/* A log axis in whole decades. Values below `floor` (zeros, denormals, anything 40 decades
 * under the peak) would stretch the axis without telling anything, so they are drawn on
 * an extra level one tick below the lowest decade, labelled 0. */
typedef struct {
    int lo, hi, step;        /* decades shown and the decade step between ticks */
    double floor;
    int clipped, clipped_nonzero, bad;  /* counts: below floor, of those not 0, NaN/Inf */
} log_axis;

/* Scans one series into the axis statistics; first call with floor = 0 to find the peak. */
static void scan_series(const double *v, int n, log_axis *a, double *peak, double *minpos) {
    if (!v) return;
    for (int i = 0; i < n; i++) {
        if (!mn_svg_usable(v[i])) { a->bad++; continue; }
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
    a->step = mn_svg_decade_step(lo, hi, a->clipped ? max_n - 1 : max_n);
    a->lo = mn_svg_floor_to(lo, a->step);
    a->hi = mn_svg_ceil_to(hi, a->step);
}

/* The zero level sits one tick below the lowest decade, a little above the frame so
 * that a line running along it stays visible. */
static double zero_level(const log_axis *a) { return a->lo - a->step; }

static mn_svg_range log_range(const log_axis *a) {
    return (mn_svg_range){ a->clipped ? zero_level(a) - 0.25 * a->step : a->lo, a->hi };
}

static double log_value(const log_axis *a, double v) {
    return v >= a->floor && v > 0 ? log10(v) : zero_level(a);
}

static void log_axis_ticks(mn_strbuf *sb, const mn_svg_box *b, const log_axis *a) {
    mn_svg_range r = log_range(a);
    char buf[96];
    for (int k = a->lo; k <= a->hi; k += a->step) {
        mn_svg_decade_label(buf, sizeof buf, k);
        mn_svg_tick_y(sb, b, mn_svg_map_y(b, r, k), buf, 1);
    }
    if (a->clipped)
        mn_svg_tick_y(sb, b, mn_svg_map_y(b, r, zero_level(a)), a->clipped_nonzero ? "≈0" : "0",
                      1);
}

/* Two slashes across the y axis between the zero level and the lowest decade: the scale
 * is not continuous there. Drawn after the frame so they cut it. */
static void axis_break(mn_strbuf *sb, const mn_svg_box *b, const log_axis *a) {
    if (!a->clipped) return;
    double y = mn_svg_map_y(b, log_range(a), a->lo - 0.5 * a->step);
    mn_sb_printf(sb, "<rect x=\"%.1f\" y=\"%.1f\" width=\"8\" height=\"5\" fill=\"#fff\"/>"
                 "<path d=\"M%.1f %.1fl8 -4M%.1f %.1fl8 -4\" stroke=\"#333\"/>\n",
                 b->x - 4, mn_svg_px(y - 2.5), b->x - 4, mn_svg_px(y + 0.5), b->x - 4,
                 mn_svg_px(y + 4.5));
}

/* Draws v[0..n) against its index, decimated to at most MAX_BUCKETS buckets keeping each
 * bucket's min and max in their order, so spikes and dips survive. NaN/Inf break the line;
 * a point left alone between gaps still shows as a dot (round caps). */
static void series(mn_strbuf *sb, const mn_svg_box *b, const log_axis *a, const double *v, int n,
                   const char *colour) {
    mn_svg_range rx = { -0.5, n - 0.5 }, ry = log_range(a);
    int nb = MN_MIN(n, MAX_BUCKETS), pts = 0;
    mn_sb_printf(sb, "<path fill=\"none\" stroke=\"%s\" stroke-width=\"1.8\" "
                 "stroke-linejoin=\"round\" stroke-linecap=\"round\" d=\"", colour);
    for (int k = 0; k < nb; k++) {
        int i0 = (int)((long long)k * n / nb), i1 = (int)((long long)(k + 1) * n / nb);
        int lo = -1, hi = -1;
        for (int i = i0; i < i1; i++) {
            if (!mn_svg_usable(v[i])) continue;
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
            double x = mn_svg_map_x(b, rx, idx[j]);
            double y = mn_svg_map_y(b, ry, log_value(a, v[idx[j]]));
            mn_sb_printf(sb, "%s%.1f %.1f", pts ? "L" : "M", mn_svg_px(x), mn_svg_px(y));
            pts++;
        }
    }
    if (pts == 1) mn_sb_printf(sb, "h0");
    mn_sb_printf(sb, "\"/>\n");
    if (n > 60) return;
    /* Few points: mark each, so single steps and T = 1 are visible. */
    for (int i = 0; i < n; i++)
        if (mn_svg_usable(v[i]))
            mn_sb_printf(sb, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.6\" fill=\"%s\"/>",
                         mn_svg_px(mn_svg_map_x(b, rx, i)),
                         mn_svg_px(mn_svg_map_y(b, ry, log_value(a, v[i]))), colour);
    mn_sb_printf(sb, "\n");
}

/* Last-step norm × threshold, or 0 when it cannot be drawn. */
static double threshold_level(const mn_plot_diagnosis *d) {
    double last = d->grad_h[d->T - 1], v = last * d->threshold;
    return d->threshold > 0 && mn_svg_usable(last) && isfinite(v) && v > 0 ? v : 0;
}

/* The threshold line is drawn (and keyed) only where the log axis can place it. */
static int threshold_shown(const log_axis *a, double thr) { return thr > 0 && thr >= a->floor; }

static int profile_keys(const mn_plot_diagnosis *d, const log_axis *a, double thr, mn_svg_key *k) {
    int n = 0;
    k[n++] = (mn_svg_key){ MN_SVG_KEY_LINE, MN_SVG_C_H, MN_SVG_NORM_H };
    if (d->grad_c) k[n++] = (mn_svg_key){ MN_SVG_KEY_LINE, MN_SVG_C_C, MN_SVG_NORM_C };
    if (threshold_shown(a, thr)) {
        k[n] = (mn_svg_key){ MN_SVG_KEY_DASH, MN_SVG_C_REF, "" };
        char t[32];
        mn_svg_num(t, sizeof t, d->threshold);
        snprintf(k[n++].label, sizeof k[0].label, "last-step %s × %s", MN_SVG_NORM_H, t);
    }
    if (a->clipped) {
        k[n] = (mn_svg_key){ MN_SVG_KEY_NOTE, NULL, "" };
        char f[32];
        mn_svg_num(f, sizeof f, a->floor);
        if (a->clipped_nonzero)
            snprintf(k[n++].label, sizeof k[0].label, "≈0: %d values below %s or 0",
                     a->clipped, f);
        else
            snprintf(k[n++].label, sizeof k[0].label, "0: %d values exactly 0", a->clipped);
    }
    if (a->bad) {
        k[n] = (mn_svg_key){ MN_SVG_KEY_NOTE, NULL, "" };
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
    a->floor = MN_MAX(peak * pow(10, -MN_SVG_CLIP_DECADES), 1e-300);
    double unused = 0;
    scan_series(d->grad_h, d->T, a, &unused, &minpos);
    scan_series(d->grad_c, d->T, a, &unused, &minpos);
    if (thr >= a->floor && thr < minpos) minpos = thr;
    make_log_axis(a, peak, minpos, 8);
}

double mn_plot_panel_profile(mn_strbuf *sb, const mn_plot_diagnosis *d, double y) {
    double thr = threshold_level(d);
    log_axis a;
    profile_axis(d, thr, &a);
    y = mn_svg_panel_title(sb, y, "Gradient flow back through time");
    mn_svg_key k[6];
    int nk = profile_keys(d, &a, thr, k);
    y += mn_svg_legend(sb, k, nk, MN_SVG_LEFT, y, MN_SVG_PLOT_W);
    int show_h = d->horizon >= 0;
    mn_svg_box b = mn_svg_plot_box(y + (show_h ? 24 : 8), 240);
    log_axis_ticks(sb, &b, &a);
    mn_svg_time_axis(sb, &b, d->T, 1);
    mn_svg_range ry = log_range(&a);
    if (threshold_shown(&a, thr)) {
        double ty = mn_svg_map_y(&b, ry, log10(thr));
        mn_sb_printf(sb, "<path d=\"M%.1f %.1fH%.1f\" stroke=\"" MN_SVG_C_REF "\" "
                     "stroke-width=\"1.4\" stroke-dasharray=\"6 4\"/>\n", b.x, mn_svg_px(ty),
                     b.x + b.w);
    }
    if (show_h) {
        char m[64];
        snprintf(m, sizeof m, "horizon = %d step%s", d->horizon, d->horizon == 1 ? "" : "s");
        mn_svg_range rx = { -0.5, d->T - 0.5 };
        mn_svg_vertical_marker(sb, &b, mn_svg_map_x(&b, rx, d->T - 1 - d->horizon), m);
    }
    if (d->grad_c) series(sb, &b, &a, d->grad_c, d->T, MN_SVG_C_C);
    series(sb, &b, &a, d->grad_h, d->T, MN_SVG_C_H);
    mn_svg_frame(sb, &b);
    axis_break(sb, &b, &a);
    mn_svg_axis_labels(sb, &b, "time step t (0 = oldest)", "gradient norm (log scale)");
    return b.y + b.h + 48;
}
