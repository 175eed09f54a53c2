/* Panel 2 of the diagnosis plot: the gradient profile at each snapshot taken during
 * training, as a heatmap (rows: snapshots, columns: time steps, log10 colour) with its
 * colour bar. Zeros are black and NaN/Inf grey, both counted in the legend. */
#include "plot_svg.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

enum {
    HEAT_COLS = 220,     /* heatmap cells across (about 3 px each) and down */
    HEAT_ROWS = 100,
    NLEV = 64            /* colour levels of the heatmap */
};

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
        if (mn_svg_usable(d->heat[i]) && d->heat[i] > peak) peak = d->heat[i];
    memset(cs, 0, sizeof *cs);
    cs->floor = MN_MAX(peak * pow(10, -MN_SVG_CLIP_DECADES), 1e-300);
    for (size_t i = 0; i < n; i++) {
        if (!mn_svg_usable(d->heat[i])) cs->bad++;
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
            if (!mn_svg_usable(v)) continue;
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
    if (l == -2) snprintf(out, 8, MN_SVG_C_ZERO);
    else if (l == -1) snprintf(out, 8, MN_SVG_C_NODATA);
    else viridis((l + 0.5) / NLEV, out);
}

/* One <path> per colour level, each cell a closed rectangle and runs of equal cells along
 * a row merged: a 200 × 50 heatmap stays around 100 kB, with no seams between cells. */
static void heat_cells(mn_strbuf *sb, const mn_svg_box *b, const mn_plot_diagnosis *d,
                       const heat_grid *g, const colour_scale *cs) {
    mn_svg_range rx = { -0.5, d->T - 0.5 }, ry = { g->edge[0], g->edge[d->snapshots] };
    mn_sb_printf(sb, "<g shape-rendering=\"crispEdges\">\n");
    for (int l = -2; l < NLEV; l++) {
        int open = 0;
        for (int r = 0; r < g->nr; r++) {
            int s0 = (int)((long long)r * d->snapshots / g->nr);
            int s1 = (int)((long long)(r + 1) * d->snapshots / g->nr);
            double top = mn_svg_map_y(b, ry, g->edge[s1]), bot = mn_svg_map_y(b, ry, g->edge[s0]);
            for (int c = 0; c < g->nc; c++) {
                const double *row = g->cell + (size_t)r * (size_t)g->nc;
                if (level_of(cs, row[c]) != l) continue;
                int c1 = c;
                while (c1 + 1 < g->nc && level_of(cs, row[c1 + 1]) == l) c1++;
                double x0 = mn_svg_map_x(b, rx, (long long)c * d->T / g->nc - 0.5);
                double x1 = mn_svg_map_x(b, rx, (long long)(c1 + 1) * d->T / g->nc - 0.5);
                if (!open) {
                    char col[8];
                    level_colour(l, col);
                    mn_sb_printf(sb, "<path fill=\"%s\" d=\"", col);
                    open = 1;
                }
                mn_sb_printf(sb, "M%.1f %.1fH%.1fV%.1fH%.1fZ", mn_svg_px(x0), mn_svg_px(top),
                             mn_svg_px(x1), mn_svg_px(bot), mn_svg_px(x0));
                c = c1;
            }
        }
        if (open) mn_sb_printf(sb, "\"/>\n");
    }
    mn_sb_printf(sb, "</g>\n");
}

/* The colour bar right of the heatmap, in the same levels as the cells, ticked at decades. */
static void colour_bar(mn_strbuf *sb, const mn_svg_box *b, const colour_scale *cs) {
    mn_svg_box cb = { b->x + b->w + 16, b->y, 14, b->h };
    mn_svg_range r = { cs->lo, cs->hi };
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
    mn_svg_frame(sb, &cb);
    int lo = (int)ceil(cs->lo - 1e-9), hi = (int)floor(cs->hi + 1e-9);
    int st = mn_svg_decade_step(lo, hi, 6);
    for (int k = mn_svg_ceil_to(lo, st); k <= hi; k += st) {
        char buf[96];
        mn_svg_decade_label(buf, sizeof buf, k);
        double y = mn_svg_map_y(&cb, r, k);
        mn_sb_printf(sb, "<path d=\"M%.1f %.1fh4\" stroke=\"#333\"/>", cb.x + cb.w, mn_svg_px(y));
        mn_svg_text(sb, cb.x + cb.w + 7, y + 4, "start", MN_SVG_FONT, NULL, buf);
    }
    double x = MN_SVG_PAGE_W - 14, y = cb.y + cb.h / 2;
    char attr[96];
    snprintf(attr, sizeof attr, " transform=\"rotate(-90 %.1f %.1f)\"", x, y);
    mn_svg_text(sb, x, y, "middle", 13, attr, MN_SVG_NORM_H " (log scale)");
}

static int heat_keys(const colour_scale *cs, mn_svg_key *k) {
    int n = 0;
    if (cs->clipped) {
        k[n] = (mn_svg_key){ MN_SVG_KEY_SWATCH, MN_SVG_C_ZERO, "" };
        char f[32];
        mn_svg_num(f, sizeof f, cs->floor);
        snprintf(k[n++].label, sizeof k[0].label, "0 or below %s (%d values)", f, cs->clipped);
    }
    if (cs->bad) {
        k[n] = (mn_svg_key){ MN_SVG_KEY_SWATCH, MN_SVG_C_NODATA, "" };
        snprintf(k[n++].label, sizeof k[0].label, "NaN/Inf (%d values)", cs->bad);
    }
    return n;
}

static void heat_axes(mn_strbuf *sb, const mn_svg_box *b, const mn_plot_diagnosis *d,
                      const heat_grid *g, int by_step) {
    mn_svg_range ry = { g->edge[0], g->edge[d->snapshots] };
    mn_svg_ticks t;
    mn_svg_linear_ticks(ry, 6, 1, &t);
    for (int i = 0; i < t.n; i++) {
        char buf[32];
        mn_svg_num(buf, sizeof buf, t.v[i]);
        mn_svg_tick_y(sb, b, mn_svg_map_y(b, ry, t.v[i]), buf, 0);  /* no lines over cells */
    }
    mn_svg_time_axis(sb, b, d->T, 0);
    mn_svg_axis_labels(sb, b, "time step t (0 = oldest)", by_step ? "training step" : "snapshot");
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

double mn_plot_panel_heatmap(mn_strbuf *sb, const mn_plot_diagnosis *d, double y) {
    colour_scale cs;
    heat_grid g = { 0, 0, NULL, NULL };
    if (!heat_grid_fill(d, &g, &cs)) {
        sb->failed = 1;   /* mn_alloc has set the error; the caller checks `failed` */
        mn_release(g.cell);
        mn_release(g.edge);
        return y;
    }
    int by_step = row_edges(d, g.edge);
    y = mn_svg_panel_title(sb, y, "Gradient norm " MN_SVG_NORM_H " per time step during training");
    mn_svg_key k[2];
    y += mn_svg_legend(sb, k, heat_keys(&cs, k), MN_SVG_LEFT, y, MN_SVG_PLOT_W);
    mn_svg_box b = mn_svg_plot_box(y + 8, 200);
    heat_cells(sb, &b, d, &g, &cs);
    heat_axes(sb, &b, d, &g, by_step);
    mn_svg_frame(sb, &b);
    colour_bar(sb, &b, &cs);
    mn_release(g.cell);
    mn_release(g.edge);
    return b.y + b.h + 48;
}
