/* SVG writer for the gradient-flow diagnosis: checks the description, stacks the panels
 * (plot_profile.c, plot_heatmap.c, plot_half_life.c, plot_attention.c; primitives in
 * plot_draw.c, shared declarations in plot_svg.h) under the page title, and writes the
 * page atomically. */
#include "plot_svg.h"
#include "atomic_file.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

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
    return mn_plot_attention_check(d);
}

/* The document title (first, where viewers look for it), the white background, and the
 * page title, shrunk to fit the width when the caller's text is long. */
double mn_svg_page_title(mn_strbuf *sb, const char *title) {
    mn_strbuf esc = { 0 };
    if (title && *title) mn_svg_escape(&esc, title);
    if (esc.failed) { sb->failed = 1; mn_sb_free(&esc); return 0; }
    if (esc.len) mn_sb_printf(sb, "<title>%s</title>\n", esc.data);
    mn_sb_printf(sb, "<rect width=\"100%%\" height=\"100%%\" fill=\"#fff\"/>\n");
    double y = 4;
    if (esc.len) {
        double w = mn_svg_text_width(esc.data, 17);
        int size = w > MN_SVG_PAGE_W - 20 ? MN_MAX(9, (int)(17 * (MN_SVG_PAGE_W - 20) / w)) : 17;
        mn_svg_text(sb, MN_SVG_PAGE_W / 2.0, 26, "middle", size, " font-weight=\"bold\"", esc.data);
        y = 36;
    }
    mn_sb_free(&esc);
    return y;
}

/* The page: the XML prolog and <svg> element around the drawn body, written atomically so
 * a reader never sees half a plot. */
mn_status mn_svg_write_page(const char *path, const mn_strbuf *body, int height) {
    char head[512];
    int hn = snprintf(head, sizeof head,
                      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
                      "viewBox=\"0 0 %d %d\" font-family=\"DejaVu Sans, Helvetica, Arial, "
                      "sans-serif\">\n", MN_SVG_PAGE_W, height, MN_SVG_PAGE_W, height);
    static const char tail[] = "</svg>\n";
    mn_piece pieces[3] = {{head, (size_t)hn}, {body->data, body->len}, {tail, sizeof tail - 1}};
    return mn_write_atomic(path, pieces, 3);
}

mn_status mn_plot_diagnosis_svg(const char *path, const mn_plot_diagnosis *d) {
    mn_status s = check(path, d);
    if (s) return s;
    mn_strbuf body = { 0 };
    double y = mn_svg_page_title(&body, d->title);
    y = mn_plot_panel_profile(&body, d, y);
    if (d->snapshots > 0) y = mn_plot_panel_heatmap(&body, d, y);
    if (d->units > 0) y = mn_plot_panel_half_life(&body, d, y);
    if (d->heads > 0) y = mn_plot_panel_attention(&body, d, y);
    if (body.failed || !body.data) {
        mn_sb_free(&body);
        return mn_fail(MN_E_NOMEM, "plot: out of memory while drawing %s", path);
    }
    s = mn_svg_write_page(path, &body, (int)ceil(y) + 4);
    mn_sb_free(&body);
    return s;
}
