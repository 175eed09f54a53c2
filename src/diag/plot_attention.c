/* Panel 4 of the diagnosis plot: what the heads of one attention block look at. One
 * horizontal bar per head, as long as its mean attention distance Σ_j p_tj·|t − j| on an
 * axis of 0..T-1 steps, labelled with that distance and the head's entropy as a fraction
 * of the uniform entropy (0: every query looks at one step; 1: at all it sees alike). The
 * figures are checked by mn_plot_attention_check before anything is drawn. */
#include "plot_svg.h"

#include <math.h>
#include <stdio.h>

/* Rounding slack: p_tj is recomputed from float log-sum-exps, so a head looking at one step
 * can measure a hair below entropy 0, and one at the far end a hair past T-1 steps. */
#define ENTROPY_SLACK 1e-3     /* nats */
#define DISTANCE_SLACK 1e-3    /* × T steps */

mn_status mn_plot_attention_check(const mn_plot_diagnosis *d) {
    if (d->heads < 0)
        return mn_fail(MN_E_ARG, "plot: %d attention heads (0 hides the panel)", d->heads);
    if (d->heads == 0) return MN_OK;
    if (!d->head_distance || !d->head_entropy)
        return mn_fail(MN_E_ARG, "plot: %d attention heads need a distance and an entropy "
                       "array", d->heads);
    if (d->attention_block < 0)
        return mn_fail(MN_E_ARG, "plot: attention block %d must be 0 or more",
                       d->attention_block);
    if (!isfinite(d->uniform_entropy) || d->uniform_entropy < 0)
        return mn_fail(MN_E_ARG, "plot: uniform attention entropy %g nats must be a number "
                       ">= 0", d->uniform_entropy);
    double far = d->T - 1 + DISTANCE_SLACK * d->T;
    for (int h = 0; h < d->heads; h++) {
        double dist = d->head_distance[h], ent = d->head_entropy[h];
        if (!isfinite(dist) || dist < 0 || dist > far)
            return mn_fail(MN_E_ARG, "plot: head %d's attention distance %g is outside "
                           "0..%d steps", h, dist, d->T - 1);
        if (!isfinite(ent) || ent < -ENTROPY_SLACK)
            return mn_fail(MN_E_ARG, "plot: head %d's attention entropy %g nats must be a "
                           "number >= 0", h, ent);
    }
    return MN_OK;
}

/* Rows per head: roomy for a few heads, tighter for many so 64 stay about a page. Bars
 * are at least 13 px thick, so a label drawn inside one (in white) stays on blue. */
static double row_height(int heads) { return heads <= 8 ? 24 : heads <= 24 ? 18 : 16; }
static double bar_height(double row) { return fmax(0.6 * row, 13); }
static int label_size(double row) { return row < 18 ? MN_SVG_FONT - 1 : MN_SVG_FONT; }

/* "12.3 steps, entropy 0.45 of uniform" ("... entropy 0.12 nats" when every query sees a
 * single key and the fraction means nothing). */
static void head_label(const mn_plot_diagnosis *d, int h, char *buf, size_t n) {
    char dist[32];
    double ent = d->head_entropy[h] > 0 ? d->head_entropy[h] : 0;   /* rounding below 0 */
    mn_svg_num(dist, sizeof dist, d->head_distance[h]);
    const char *unit = d->head_distance[h] == 1 ? "step" : "steps";
    if (d->uniform_entropy > 0)
        snprintf(buf, n, "%s %s, entropy %.2f of uniform", dist, unit,
                 ent / d->uniform_entropy);
    else
        snprintf(buf, n, "%s %s, entropy %.2g nats", dist, unit, ent);
}

static void attention_axes(mn_strbuf *sb, const mn_svg_box *b, const mn_plot_diagnosis *d,
                           mn_svg_range rx, double row) {
    mn_svg_ticks t;
    mn_svg_linear_ticks(rx, 8, 1, &t);
    for (int i = 0; i < t.n; i++) {
        char buf[32];
        mn_svg_num(buf, sizeof buf, t.v[i]);
        mn_svg_tick_x(sb, b, mn_svg_map_x(b, rx, t.v[i]), buf, 1);
    }
    for (int h = 0; h < d->heads; h++) {
        char buf[32];
        snprintf(buf, sizeof buf, "H%d", h);
        mn_svg_tick_y(sb, b, b->y + (h + 0.5) * row, buf, 0);
    }
    mn_svg_axis_labels(sb, b, "mean attention distance Σ p·|t − j| (steps)", "head");
}

/* The bars in one path (at least 1 px wide, so a head looking at its own step still
 * shows), then each label right of its bar, or inside it in white where it would run
 * past the frame. */
static void attention_bars(mn_strbuf *sb, const mn_svg_box *b, const mn_plot_diagnosis *d,
                           mn_svg_range rx, double row) {
    double x0 = b->x;
    mn_sb_printf(sb, "<path fill=\"" MN_SVG_C_H "\" fill-opacity=\"0.85\" d=\"");
    for (int h = 0; h < d->heads; h++) {
        double v = d->head_distance[h] < rx.hi ? d->head_distance[h] : rx.hi;
        double x1 = fmax(mn_svg_map_x(b, rx, v), x0 + 1);
        double mid = b->y + (h + 0.5) * row, half = bar_height(row) / 2;
        double y0 = mid - half, y1 = mid + half;
        mn_sb_printf(sb, "M%.1f %.1fH%.1fV%.1fH%.1fZ", x0, mn_svg_px(y0), mn_svg_px(x1),
                     mn_svg_px(y1), x0);
    }
    mn_sb_printf(sb, "\"/>\n");
    for (int h = 0; h < d->heads; h++) {
        char label[96];
        head_label(d, h, label, sizeof label);
        double v = d->head_distance[h] < rx.hi ? d->head_distance[h] : rx.hi;
        int size = label_size(row);
        double x = fmax(mn_svg_map_x(b, rx, v), x0 + 1), y = b->y + (h + 0.5) * row + 4;
        if (x + 6 + mn_svg_text_width(label, size) <= b->x + b->w - 4)
            mn_svg_text(sb, x + 6, y, "start", size, NULL, label);
        else
            mn_svg_text(sb, x - 6, y, "end", size, " fill=\"#fff\"", label);
    }
}

static int attention_keys(const mn_plot_diagnosis *d, mn_svg_key *k) {
    k[0] = (mn_svg_key){ MN_SVG_KEY_NOTE, NULL, "" };
    if (d->uniform_entropy > 0)
        snprintf(k[0].label, sizeof k[0].label, "entropy as a fraction of the uniform %.3g "
                 "nats: 0 looks at one step, 1 at all alike", d->uniform_entropy);
    else
        snprintf(k[0].label, sizeof k[0].label,
                 "every query sees a single step: entropy in nats, no fraction of uniform");
    return 1;
}

double mn_plot_panel_attention(mn_strbuf *sb, const mn_plot_diagnosis *d, double y) {
    char title[96];
    snprintf(title, sizeof title, "Attention per head (block %d)", d->attention_block);
    y = mn_svg_panel_title(sb, y, title);
    mn_svg_key k[1];
    y += mn_svg_legend(sb, k, attention_keys(d, k), MN_SVG_LEFT, y, MN_SVG_PLOT_W);
    double row = row_height(d->heads);
    mn_svg_box b = mn_svg_plot_box(y + 8, row * d->heads);
    mn_svg_range rx = { 0, d->T > 1 ? d->T - 1 : 1 };
    attention_axes(sb, &b, d, rx, row);
    attention_bars(sb, &b, d, rx, row);
    mn_svg_frame(sb, &b);
    return b.y + b.h + 48;
}
