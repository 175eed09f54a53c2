/* Convolutions and state spaces, measured on mnemo's own layers: how far a TCN stack sees
 * (receptive-field), what one S4D layer costs against an LSTM layer as sequences grow
 * (s4-cost), and S4D's two computations of one map, the FFT convolution and the
 * recurrence (s4-equivalence). The fourth of the issue, selectivity, is in lab_select.c. */
#include "lab.h"
#include "s4d.h"
#include "tcn.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A layer of a registered kind outside any model, with its own parameter and gradient
 * buffers (the lab's bare recurrent layers do the same for cells). */
static mn_layer *bare(mn_layer *l, float **buf) {
    *buf = NULL;
    if (!l) return NULL;
    if (!(*buf = mn_alloc_zero(2 * l->param_count * sizeof(float) + sizeof(float)))) {
        mn_layer_destroy(l);
        return NULL;
    }
    l->params = *buf;
    l->grads = *buf + l->param_count;
    return l;
}

/* ------------------------------------------------------------ receptive-field */

#define RF_MAX_DEPTH 10
#define RF_KERNELS 3

/* ∂y[T−1]/∂x[t] through L TCN blocks of kernel k, dilations 1, 2, ..., 2^(L−1), with
 * positive weights and inputs (every ReLU open, so every path inside the field carries
 * gradient): the first step with a non-zero gradient, and the steps inside the field
 * without one and outside it with one. */
static mn_status tcn_field(int k, int L, int C, int T, mn_rng *rng, int *first, int *holes,
                           int *leaks) {
    enum { B = 2, I = 2 };
    mn_layer *l[RF_MAX_DEPTH] = {0};
    float *buf[RF_MAX_DEPTH] = {0}, *h[RF_MAX_DEPTH + 1] = {0}, *g[RF_MAX_DEPTH + 1] = {0};
    mn_status st = MN_OK;
    for (int i = 0; i <= L && !st; i++) {
        size_t n = (size_t)T * B * (i == 0 ? I : C) * sizeof(float);
        if (!(h[i] = mn_alloc(n)) || !(g[i] = mn_alloc_zero(n))) st = MN_E_NOMEM;
    }
    for (int i = 0; i < L && !st; i++) {
        if (!(l[i] = bare(mn_tcn_create(i == 0 ? I : C, C, k, 1 << i, 0, 0.0f), &buf[i]))) {
            st = MN_E_NOMEM;
            break;
        }
        for (size_t p = 0; p < l[i]->param_count; p++)
            l[i]->params[p] = mn_rng_uniform_range(rng, 0.05f, 0.5f);
    }
    for (int i = 0; !st && i < T * B * I; i++) h[0][i] = mn_rng_uniform_range(rng, 0.1f, 1.0f);
    for (int i = 0; i < L && !st; i++) st = l[i]->ops->forward(l[i], h[i], h[i + 1], T, B, NULL);
    for (int c = 0; !st && c < C; c++) g[L][((size_t)(T - 1) * B + 1) * C + c] = 1.0f;
    for (int i = L - 1; i >= 0 && !st; i--)
        st = l[i]->ops->backward(l[i], g[i + 1], g[i], T, B, NULL);
    int64_t field = mn_tcn_receptive_field(k, L);
    *first = -1;
    *holes = *leaks = 0;
    for (int t = 0; t < T && !st; t++) {
        double n = 0;
        for (int i = 0; i < I; i++) n += fabs(g[0][((size_t)t * B + 1) * I + i]);
        for (int i = 0; i < I; i++) *leaks += g[0][((size_t)t * B) * I + i] != 0; /* sequence 0 */
        int inside = t >= T - field;
        if (n > 0 && *first < 0) *first = t;
        *holes += inside && n == 0;
        *leaks += !inside && n != 0;
    }
    for (int i = 0; i < L; i++) {
        mn_layer_destroy(l[i]);
        mn_release(buf[i]);
    }
    for (int i = 0; i <= L; i++) {
        mn_release(h[i]);
        mn_release(g[i]);
    }
    return st;
}

mn_status mn_lab_receptive_field(const mn_lab_options *o, mn_lab_result *r) {
    static const int kernels[RF_KERNELS] = {2, 3, 5};
    int D = o->depth ? o->depth : 4, C = o->hidden ? o->hidden : 8;
    if (D < 1 || D > RF_MAX_DEPTH)
        return mn_fail(MN_E_ARG, "--depth %d: this experiment stacks 1 to %d TCN blocks", D,
                       RF_MAX_DEPTH);
    if (C < 1 || C > 256)
        return mn_fail(MN_E_ARG, "--hidden %d: this experiment uses 1 to 256 channels", C);
    mn_rng rng;
    mn_rng_seed(&rng, o->seed);
    mn_lab_text(r->claim, sizeof r->claim, "a stack of L TCN blocks of kernel k with dilations "
                "1, 2, ..., 2^(L-1) sees exactly 1 + 2(k-1)(2^L - 1) steps: the last output's "
                "gradient is non-zero at every input inside that field and zero outside");
    mn_lab_text(r->quantity, sizeof r->quantity, "receptive field in steps, k = %d, L = %d",
                kernels[RF_KERNELS - 1], D);
    mn_lab_text(r->criterion, sizeof r->criterion, "for every k and L: the gradient starts "
                "exactly at the field's first step, with no zero inside and none outside");
    mn_lab_say(r,
        "setup: L TCN blocks (two causal convs each, ReLU, residual; %d channels), positive\n"
        "       weights and inputs so that every ReLU is open; the gradient of the last\n"
        "       output of one sequence with respect to every input step (T = field + 8);\n"
        "       'holes': steps inside the field with zero gradient; 'leaks': steps outside\n"
        "       it (or in the other sequence) with a non-zero one.\n\n", C);
    mn_lab_say(r, "  %3s  %3s  %12s  %12s  %7s  %6s  %6s\n", "k", "L", "formula", "measured",
               "growth", "holes", "leaks");
    int ok = 1;
    double theory = 0, measured = 0;
    mn_status st = MN_OK;
    for (int ki = 0; ki < RF_KERNELS && !st; ki++) {
        double prev = 0;
        for (int L = 1; L <= D && !st; L++) {
            int k = kernels[ki];
            int64_t field = mn_tcn_receptive_field(k, L);
            int T = (int)field + 8, first, holes, leaks;
            if ((st = tcn_field(k, L, C, T, &rng, &first, &holes, &leaks))) break;
            int got = first < 0 ? 0 : T - first;
            ok &= got == field && holes == 0 && leaks == 0;
            char growth[16] = "";
            if (prev > 1) snprintf(growth, sizeof growth, "%.3f", (got - 1) / (prev - 1));
            mn_lab_say(r, "  %3d  %3d  %12lld  %12d  %7s  %6d  %6d\n", k, L, (long long)field,
                       got, growth, holes, leaks);
            prev = got;
            mn_lab_putf(r, (double)got, "field_k%d_L%d", k, L);
            theory = (double)field;
            measured = got;
        }
    }
    if (st) return st;
    mn_lab_say(r, "\n  growth: (field(L) - 1) / (field(L-1) - 1), 2 + 1/(2^(L-1) - 1) by the "
               "formula:\n  the field doubles with every block, as its dilation does.\n");
    mn_lab_put(r, "depth", D);
    mn_lab_verdict(r, theory, measured, 1, ok);
    return MN_OK;
}

/* ------------------------------------------------------------ s4-cost */

static const int COST_LENGTHS[] = {1024, 2048, 4096, 8192, 16384, 32768, 65536};
#define COST_REPEATS 5

/* least-squares slope of log y over log x */
static double loglog_slope(const double *x, const double *y, int n) {
    double sx = 0, sy = 0, sxx = 0, sxy = 0;
    for (int i = 0; i < n; i++) {
        double a = log(x[i]), b = log(y[i]);
        sx += a; sy += b; sxx += a * a; sxy += a * b;
    }
    double d = n * sxx - sx * sx;
    return d > 0 ? (n * sxy - sx * sy) / d : NAN;
}

/* best of COST_REPEATS forward + backward passes over x [T,B,H] (dy = x) */
static mn_status time_pass(mn_layer *l, const float *x, float *y, float *dx, int T, int B,
                           double *secs) {
    *secs = INFINITY;
    for (int i = 0; i < COST_REPEATS; i++) {
        if (l->ops->reset_state) l->ops->reset_state(l);
        double t0 = mn_now();
        mn_status st = l->ops->forward(l, x, y, T, B, NULL);
        if (!st) st = l->ops->backward(l, x, dx, T, B, NULL);
        if (st) return st;
        double t = mn_now() - t0;
        if (t < *secs) *secs = t;
    }
    return MN_OK;
}

mn_status mn_lab_s4_cost(const mn_lab_options *o, mn_lab_result *r) {
    int n = o->n_lengths ? o->n_lengths : (int)(sizeof COST_LENGTHS / sizeof COST_LENGTHS[0]);
    int Ls[MN_LAB_MAX_LIST];
    if (n > MN_LAB_MAX_LIST)
        return mn_fail(MN_E_ARG, "s4-cost takes at most %d lengths", MN_LAB_MAX_LIST);
    memcpy(Ls, o->n_lengths ? o->lengths : COST_LENGTHS, (size_t)n * sizeof(int));
    qsort(Ls, (size_t)n, sizeof(int), mn_lab_cmp_int);
    int H = o->hidden ? o->hidden : 32, B = o->batch ? o->batch : 2, N = 64;
    if (n < 2) return mn_fail(MN_E_ARG, "s4-cost needs at least 2 lengths (--lengths)");
    int Tmax = 0;
    for (int i = 0; i < n; i++) Tmax = MN_MAX(Tmax, Ls[i]);
    if (H < 1 || H > 1024 || B < 1 || (double)Tmax * B * H > 64e6)
        return mn_fail(MN_E_ARG, "s4-cost: length x batch x hidden must stay within 64M floats "
                       "with hidden 1..1024 (got %d x %d x %d); lower --lengths, --batch or "
                       "--hidden", Tmax, B, H);
    mn_rng rng;
    mn_rng_seed(&rng, o->seed);
    size_t cells = (size_t)Tmax * B * H;
    float *x = mn_alloc(3 * cells * sizeof(float)), *s4buf = NULL;
    mn_lab_bare lstm = {0};
    mn_layer *s4 = NULL;
    mn_status st = MN_OK;
    double *ts = NULL;
    if (!x || (st = mn_lab_alloc_doubles(&ts, 3 * (size_t)n))) {
        mn_release(x);
        return st ? st : MN_E_NOMEM;
    }
    double *tl = ts + n, *lens = tl + n;
    float *y = x + cells, *dx = y + cells;
    for (size_t i = 0; i < cells; i++) x[i] = mn_rng_uniform_range(&rng, -1, 1);
    mn_init_config ic = {MN_INIT_UNIFORM, 1.0f, 1.0f, 0};
    if (!(s4 = bare(mn_s4d_create(H, N, MN_SSM_INIT_LIN), &s4buf)) ||
        (st = mn_lab_bare_create(&lstm, MN_LSTM, H, H)))
        st = st ? st : MN_E_NOMEM;
    if (!st) {
        s4->ops->init(s4, &rng, &ic);
        lstm.l->ops->init(lstm.l, &rng, &ic);
    }
    for (int i = 0; i < n && !st; i++) {
        if (o->stop && *o->stop) { st = mn_fail(MN_E_STOPPED, "s4-cost was asked to stop"); break; }
        lens[i] = Ls[i];
        if ((st = time_pass(s4, x, y, dx, Ls[i], B, &ts[i])) ||
            (st = time_pass(lstm.l, x, y, dx, Ls[i], B, &tl[i])))
            break;
        mn_lab_progress(o, "s4-cost: length %d: S4D %.2f ms, LSTM %.2f ms", Ls[i], 1e3 * ts[i],
                        1e3 * tl[i]);
    }
    if (!st) {
        /* the longer half of the lengths: below, fixed costs (threads starting, plans)
         * hide the growth */
        int h0 = n >= 4 ? n / 2 : 0, m = n - h0;
        double es = loglog_slope(lens + h0, ts + h0, m), el = loglog_slope(lens + h0, tl + h0, m);
        int cross = -1;                  /* first length from which S4D stays faster */
        for (int i = n - 1; i >= 0 && ts[i] < tl[i]; i--) cross = i;
        mn_lab_text(r->claim, sizeof r->claim, "one S4D layer (FFT convolution, O(L log L)) and "
                    "one LSTM layer (a step loop, O(L)) both cost about linearly in the length L; "
                    "S4D's steps run in parallel and the LSTM's in sequence, so S4D wins past "
                    "some length");
        mn_lab_text(r->quantity, sizeof r->quantity, "exponent p of time ~ L^p for S4D, fitted "
                    "over the longer half of the lengths (log-log least squares)");
        mn_lab_text(r->criterion, sizeof r->criterion, "both exponents within [0.8, 1.3] "
                    "(timings: a measurement of this machine, not a property of the code)");
        mn_lab_say(r,
            "setup: one S4D layer (state %d, S4D-Lin) and one LSTM layer, both %d wide, on\n"
            "       %d sequences; forward + backward, best of %d, %d thread%s.\n\n", N, H, B,
            COST_REPEATS, mn_threads(), mn_threads() == 1 ? "" : "s");
        mn_lab_say(r, "  %8s  %12s  %12s  %10s\n", "L", "S4D ms", "LSTM ms", "LSTM/S4D");
        for (int i = 0; i < n; i++) {
            mn_lab_say(r, "  %8d  %12.3f  %12.3f  %10.2f\n", Ls[i], 1e3 * ts[i], 1e3 * tl[i],
                       tl[i] / ts[i]);
            mn_lab_putf(r, 1e3 * ts[i], "s4d_ms_L%d", Ls[i]);
            mn_lab_putf(r, 1e3 * tl[i], "lstm_ms_L%d", Ls[i]);
        }
        mn_lab_say(r, "\n  exponent over L = %d..%d: S4D %.3f, LSTM %.3f\n", Ls[h0], Ls[n - 1], es,
                   el);
        if (cross == 0)
            mn_lab_say(r, "  crossover: S4D is faster at every length measured (from %d)\n", Ls[0]);
        else if (cross > 0)
            mn_lab_say(r, "  crossover: S4D is faster from L = %d on (slower at %d)\n",
                       Ls[cross], Ls[cross - 1]);
        else
            mn_lab_say(r, "  crossover: the LSTM is faster at the longest length measured "
                       "(%d)\n", Ls[n - 1]);
        mn_lab_put(r, "s4d_exponent", es);
        mn_lab_put(r, "lstm_exponent", el);
        mn_lab_put(r, "crossover_length", cross >= 0 ? Ls[cross] : -1);
        mn_lab_put(r, "speedup_at_longest", tl[n - 1] / ts[n - 1]);
        int agree = es >= 0.8 && es <= 1.3 && el >= 0.8 && el <= 1.3;
        mn_lab_verdict(r, 1.0, es, 1, agree);
    }
    mn_layer_destroy(s4);
    mn_release(s4buf);
    mn_lab_bare_free(&lstm);
    mn_release(ts);
    mn_release(x);
    return st;
}

/* ------------------------------------------------------------ s4-equivalence */

mn_status mn_lab_s4_equivalence(const mn_lab_options *o, mn_lab_result *r) {
    static const mn_ssm_init inits[] = {MN_SSM_INIT_LIN, MN_SSM_INIT_INV, MN_SSM_INIT_REAL};
    static const char *const names[] = {"S4D-Lin", "S4D-Inv", "S4D-Real"};
    int T = o->length ? o->length : 4096, H = o->hidden ? o->hidden : 32, B = 2, N = 64;
    if (T < 1 || T > MN_LAB_MAX_LENGTH || H < 1 || H > 1024 || (double)T * H > 4e6)
        return mn_fail(MN_E_ARG, "s4-equivalence: length 1..%d and hidden 1..1024 with length "
                       "x hidden at most 4M (got %d x %d)", MN_LAB_MAX_LENGTH, T, H);
    size_t cells = (size_t)T * B * H;
    float *x = mn_alloc((2 * cells + (size_t)B * H) * sizeof(float)), *buf = NULL;
    if (!x) return MN_E_NOMEM;
    float *y = x + cells, *ys = y + cells;
    mn_rng rng;
    mn_rng_seed(&rng, o->seed);
    for (size_t i = 0; i < cells; i++) x[i] = mn_rng_uniform_range(&rng, -1, 1);
    mn_init_config ic = {MN_INIT_UNIFORM, 1.0f, 1.0f, 0};
    mn_status st = MN_OK;
    double worst = 0, rel[3];
    for (int i = 0; i < 3 && !st; i++) {
        mn_layer *l = bare(mn_s4d_create(H, N, inits[i]), &buf);
        if (!l) { st = MN_E_NOMEM; break; }
        l->ops->init(l, &rng, &ic);
        st = l->ops->forward(l, x, y, T, B, NULL);
        double diff = 0, scale = 0;
        mn_s4d_stream_reset(l);
        for (int t = 0; t < T && !st; t++) {
            if ((st = mn_s4d_step(l, x + (size_t)t * B * H, ys, B))) break;
            for (int j = 0; j < B * H; j++) {
                double d = fabs((double)ys[j] - y[(size_t)t * B * H + j]);
                diff = d == d ? fmax(diff, d) : INFINITY;
                scale = fmax(scale, fabs((double)ys[j]));
            }
        }
        rel[i] = scale > 0 ? diff / scale : diff;
        worst = fmax(worst, rel[i]);
        mn_layer_destroy(l);
        mn_release(buf);
    }
    if (!st) {
        mn_lab_text(r->claim, sizeof r->claim, "S4D's convolution mode (kernel by the "
                    "Vandermonde sums, FFT) and its recurrent mode (x <- exp(dt A) x + u, "
                    "y = 2 Re C.B x + D u, one step at a time) compute the same outputs");
        mn_lab_text(r->quantity, sizeof r->quantity, "max |y_conv - y_rec| / max |y_rec| over "
                    "all steps, channels and the three inits");
        mn_lab_text(r->criterion, sizeof r->criterion, "at most 1e-5");
        mn_lab_say(r,
            "setup: one S4D layer of %d channels, state %d, on %d sequences of %d steps of\n"
            "       U(-1, 1) inputs; the forward pass (float FFTs) against %d calls of the\n"
            "       streaming step (state kept in double).\n\n", H, N, B, T, T);
        mn_lab_say(r, "  %-10s  %14s\n", "init", "max rel. diff");
        for (int i = 0; i < 3; i++) {
            mn_lab_say(r, "  %-10s  %14.3g\n", names[i], rel[i]);
            mn_lab_putf(r, rel[i], "max_rel_diff_%s", i == 0 ? "lin" : i == 1 ? "inv" : "real");
        }
        mn_lab_put(r, "length", T);
        mn_lab_verdict(r, 0.0, worst, 1, worst <= 1e-5);
    }
    mn_release(x);
    return st;
}
