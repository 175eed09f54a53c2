/* SVG plot of a gradient-flow diagnosis (mnemo diagnose --plot): internal, used by the CLI.
 *
 * Up to three panels stacked on one page, sharing the time axis:
 *   1. the final gradient norm per time step on a log axis (‖∂L/∂h_t‖, and ‖∂L/∂c_t‖ when
 *      given), with the threshold line (last-step norm × threshold) and the horizon marker;
 *   2. a heatmap of that profile at each snapshot taken during training (log10 colour);
 *   3. for gated cells, a histogram of the memory half-life per unit on a log axis.
 * Hard values are drawn, never fatal: NaN/Inf leave gaps (grey cells in the heatmap); zeros
 * and norms more than 40 decades below the largest are drawn on a separate "0" level and
 * counted in the legend; long profiles are decimated keeping each bucket's min and max. */
#ifndef MN_PLOT_SVG_H
#define MN_PLOT_SVG_H

#include "mnemo.h"

typedef struct {
    const char *title;            /* page title, e.g. "lstm, adding T=200"; NULL: none */
    int T;                        /* time steps, >= 1 */
    const double *grad_h;         /* [T] mean ‖∂L/∂h_t‖, oldest step first (final profile) */
    const double *grad_c;         /* [T] ‖∂L/∂c_t‖ for LSTM, or NULL */
    int snapshots;                /* rows of the heatmap (0: no heatmap) */
    const int *snapshot_step;     /* [snapshots] training step of each row, increasing;
                                     NULL: rows are numbered 0, 1, ... */
    const double *heat;           /* [snapshots × T] profile at each snapshot, row-major */
    int units;                    /* H; 0: no half-life histogram (plain RNN) */
    const double *half_life;      /* [units] memory half-life per unit, in steps */
    int horizon;                  /* effective gradient horizon in steps, 0..T-1 (-1: not shown) */
    double threshold;             /* horizon threshold, e.g. 1e-3 (0: no threshold line) */
} mn_plot_diagnosis;

/* Writes the SVG to `path` atomically (temporary file in the same folder, fsync, rename):
 * on failure `path` is untouched and nothing is left behind. Returns MN_OK, MN_E_ARG for
 * an impossible description, MN_E_IO when the file cannot be written, or MN_E_NOMEM;
 * mn_last_error() says which. */
mn_status mn_plot_diagnosis_svg(const char *path, const mn_plot_diagnosis *d);

#endif
