/* A line plot of metrics against one shared x (mnemo sweep --plot: test accuracy or loss
 * against sequence length, one line per model), on the drawing primitives of the
 * diagnosis plot (plot_draw.c). */
#include "plot_svg.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define MAX_SERIES 16

/* Tableau-like colours that stay apart in print and for the common colour blindnesses. */
static const char *const palette[] = {"#1f77b4", "#d95f02", "#1b9e77", "#7570b3",
                                      "#e7298a", "#66a61e", "#e6ab02", "#a6761d"};
#define NPALETTE (sizeof palette / sizeof palette[0])

static mn_status check(const char *path, const mn_plot_lines *p) {
    if (!path || !*path || !p) return mn_fail(MN_E_ARG, "plot: needs a file name and a plot");
    if (p->points < 1 || !p->x)
        return mn_fail(MN_E_ARG, "plot: needs at least one x position (points = %d)", p->points);
    if (p->series < 1 || p->series > MAX_SERIES || !p->y || !p->names)
        return mn_fail(MN_E_ARG, "plot: needs 1 to %d series with names and values (series = "
                       "%d)", MAX_SERIES, p->series);
    for (int i = 0; i < p->points; i++) {
        if (!isfinite(p->x[i]) || (p->log_x && p->x[i] <= 0))
            return mn_fail(MN_E_ARG, "plot: x[%d] = %g cannot be drawn on a %s axis", i, p->x[i],
                           p->log_x ? "log" : "linear");
        if (i && p->x[i] <= p->x[i - 1])
            return mn_fail(MN_E_ARG, "plot: x must increase (x[%d] = %g after %g)", i, p->x[i],
                           p->x[i - 1]);
    }
    for (int s = 0; s < p->series; s++)
        if (!p->names[s]) return mn_fail(MN_E_ARG, "plot: series %d has no name", s);
    if (!isfinite(p->y_min) || !isfinite(p->y_max) || p->y_min > p->y_max)
        return mn_fail(MN_E_ARG, "plot: the y range [%g, %g] is impossible", p->y_min, p->y_max);
    return MN_OK;
}

static double xval(const mn_plot_lines *p, int i) { return p->log_x ? log10(p->x[i]) : p->x[i]; }

/* The y range: the caller's, or the data's widened by a tenth so no point sits on the
 * frame; a flat or empty series gets a unit range around it. */
static mn_svg_range y_range(const mn_plot_lines *p) {
    if (p->y_max > p->y_min) return (mn_svg_range){p->y_min, p->y_max};
    double lo = HUGE_VAL, hi = -HUGE_VAL;
    for (size_t i = 0; i < (size_t)p->series * p->points; i++)
        if (isfinite(p->y[i])) {
            lo = fmin(lo, p->y[i]);
            hi = fmax(hi, p->y[i]);
        }
    if (lo > hi) return (mn_svg_range){0, 1};
    if (hi - lo < 1e-12 * fmax(1, fabs(hi))) return (mn_svg_range){lo - 0.5, hi + 0.5};
    double pad = 0.1 * (hi - lo);
    return (mn_svg_range){lo - pad, hi + pad};
}

/* One series: NaN leaves a gap; every point is marked, so a lone one still shows. */
static void draw_series(mn_strbuf *sb, const mn_svg_box *b, mn_svg_range rx, mn_svg_range ry,
                        const mn_plot_lines *p, int s, const char *colour) {
    const double *v = p->y + (size_t)s * p->points;
    int dashed = p->dashed && p->dashed[s], open = 0;
    mn_sb_printf(sb, "<path fill=\"none\" stroke=\"%s\" stroke-width=\"1.8\"%s d=\"", colour,
                 dashed ? " stroke-dasharray=\"6 4\"" : "");
    for (int i = 0; i < p->points; i++) {
        if (!isfinite(v[i])) { open = 0; continue; }
        mn_sb_printf(sb, "%s%.1f %.1f", open ? "L" : "M",
                     mn_svg_px(mn_svg_map_x(b, rx, xval(p, i))),
                     mn_svg_px(mn_svg_map_y(b, ry, v[i])));
        open = 1;
    }
    mn_sb_printf(sb, "\"/>\n");
    if (dashed) return;
    for (int i = 0; i < p->points; i++)
        if (isfinite(v[i]))
            mn_sb_printf(sb, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>",
                         mn_svg_px(mn_svg_map_x(b, rx, xval(p, i))),
                         mn_svg_px(mn_svg_map_y(b, ry, v[i])), colour);
    mn_sb_printf(sb, "\n");
}

/* Legend labels are markup: a caller's name is escaped into it, cut to fit. */
static void key_label(mn_svg_key *k, const char *name) {
    mn_strbuf esc = {0};
    mn_svg_escape(&esc, name);
    snprintf(k->label, sizeof k->label, "%s", esc.data && !esc.failed ? esc.data : "?");
    mn_sb_free(&esc);
}

static double draw(mn_strbuf *sb, const mn_plot_lines *p) {
    double y = mn_svg_page_title(sb, p->title);
    mn_svg_key keys[MAX_SERIES];
    for (int s = 0; s < p->series; s++) {
        int dashed = p->dashed && p->dashed[s];
        keys[s].kind = dashed ? MN_SVG_KEY_DASH : MN_SVG_KEY_LINE;
        keys[s].colour = dashed ? MN_SVG_C_REF : palette[s % NPALETTE];
        key_label(&keys[s], p->names[s]);
    }
    y += mn_svg_legend(sb, keys, p->series, MN_SVG_LEFT, y + 4, MN_SVG_PLOT_W) + 8;
    mn_svg_box b = mn_svg_plot_box(y, 280);
    /* Half a step of room either side, so the first and last points are not on the frame. */
    double x0 = xval(p, 0), x1 = xval(p, p->points - 1);
    double pad = p->points > 1 ? 0.05 * (x1 - x0) : 0.5;
    mn_svg_range rx = {x0 - pad, x1 + pad}, ry = y_range(p);
    char buf[64];
    for (int i = 0; i < p->points; i++) {   /* a tick at every x: the lengths swept */
        mn_svg_num(buf, sizeof buf, p->x[i]);
        mn_svg_tick_x(sb, &b, mn_svg_map_x(&b, rx, xval(p, i)), buf, 1);
    }
    mn_svg_ticks t;
    mn_svg_linear_ticks(ry, 6, 0, &t);
    for (int i = 0; i < t.n; i++) {
        mn_svg_num(buf, sizeof buf, t.v[i]);
        mn_svg_tick_y(sb, &b, mn_svg_map_y(&b, ry, t.v[i]), buf, 1);
    }
    for (int s = 0; s < p->series; s++)
        draw_series(sb, &b, rx, ry, p, s, keys[s].colour);
    mn_svg_frame(sb, &b);
    mn_strbuf xl = {0}, yl = {0};
    mn_svg_escape(&xl, p->x_label ? p->x_label : "");
    mn_svg_escape(&yl, p->y_label ? p->y_label : "");
    if (xl.failed || yl.failed) sb->failed = 1;
    else mn_svg_axis_labels(sb, &b, xl.data ? xl.data : "", yl.data ? yl.data : "");
    mn_sb_free(&xl);
    mn_sb_free(&yl);
    return b.y + b.h + 48;
}

mn_status mn_plot_lines_svg(const char *path, const mn_plot_lines *p) {
    mn_status s = check(path, p);
    if (s) return s;
    mn_strbuf body = {0};
    double y = draw(&body, p);
    if (body.failed || !body.data) {
        mn_sb_free(&body);
        return mn_fail(MN_E_NOMEM, "plot: out of memory while drawing %s", path);
    }
    s = mn_svg_write_page(path, &body, (int)ceil(y) + 4);
    mn_sb_free(&body);
    return s;
}
