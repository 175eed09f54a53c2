/* Derivative bounds of the nonlinearities, measured through the backward passes that use
 * them, and what they mean for products over depth. */
#include "fastmath.h"
#include "lab.h"

#include <math.h>
#include <string.h>

/* ------------------------------------------------------------ activations */

/* The derivative mnemo's backward pass uses for an activation, at N points x, measured
 * through a one-unit layer (T = 1, B = N, W_hh = 0) whose dx is exactly that derivative:
 *   tanh, ReLU: an RNN cell with W_ih = 1, biases 0: dx = act'(x);
 *   sigmoid: a GRU with only the update gate reading x and the candidate pinned at
 *   n = tanh(20) = 1, so h = 1 - z and, with dy = -1, dx = σ'(x). */
static mn_status layer_derivative(mn_cell_kind cell, const float *x, int N, float *d) {
    mn_lab_bare bl;
    mn_status st = mn_lab_bare_create(&bl, cell, 1, 1);
    if (st) return st;
    float *W_ih = mn_lab_bare_tensor(&bl, "weight_ih"), *b_ih = mn_lab_bare_tensor(&bl, "bias_ih");
    float sign = 1.0f;
    if (cell == MN_GRU) {
        W_ih[1] = 1.0f;     /* rows r, z, n: only z reads x */
        b_ih[2] = 20.0f;    /* n = tanh(20) rounds to 1 */
        sign = -1.0f;
    } else {
        W_ih[0] = 1.0f;
    }
    float *y = mn_alloc((size_t)N * sizeof(float)), *dy = mn_alloc((size_t)N * sizeof(float));
    if (!y || !dy) st = MN_E_NOMEM;
    for (int i = 0; !st && i < N; i++) dy[i] = sign;
    memset(d, 0, (size_t)N * sizeof(float));
    bl.l->ops->reset_state(bl.l);
    if (!st) st = bl.l->ops->forward(bl.l, x, y, 1, N, NULL);
    if (!st) st = bl.l->ops->backward(bl.l, dy, d, 1, N, NULL);
    mn_release(y);
    mn_release(dy);
    mn_lab_bare_free(&bl);
    return st;
}

static float relu_ref(float x) { return x > 0 ? x : 0; }

/* Largest slope of the forward function on the grid, by central differences in double. */
static double max_slope(float (*f)(float), const float *x, int N) {
    double best = 0;
    for (int i = 0; i < N; i++) {
        float a = x[i] - 1e-3f, b = x[i] + 1e-3f;
        double s = ((double)f(b) - (double)f(a)) / ((double)b - (double)a);
        if (s > best) best = s;
    }
    return best;
}

typedef struct {
    const char *name;
    mn_cell_kind cell;
    float (*forward)(float);
    double bound;
    double max, at, slope, typical;
} act_row;

mn_status mn_lab_activations(const mn_lab_options *o, mn_lab_result *r) {
    mn_lab_settings s;
    mn_status st = mn_lab_resolve(o, 1.0, &s);
    if (st) return st;
    const int N = 20001, NS = 100000, D = s.T;   /* grid [-10, 10] step 1e-3; N(0,1) samples */
    float *x = mn_alloc((size_t)(N + NS) * 2 * sizeof(float));
    if (!x) return MN_E_NOMEM;
    float *d = x + N, *g = d + N, *dg = g + NS;
    for (int i = 0; i < N; i++) x[i] = (float)(-10.0 + i * 1e-3);
    mn_rng rng;
    mn_rng_seed(&rng, s.seed);
    for (int i = 0; i < NS; i++) g[i] = (float)mn_rng_normal(&rng);
    act_row rows[] = {{"sigmoid", MN_GRU, mn_fast_sigmoid, 0.25, 0, 0, 0, 0},
                      {"tanh", MN_RNN_TANH, mn_fast_tanhf, 1.0, 0, 0, 0, 0},
                      {"relu", MN_RNN_RELU, relu_ref, 1.0, 0, 0, 0, 0}};
    int ok = 1, relu_exact = 1;
    double relu_active = 0;
    for (int k = 0; k < 3 && !st; k++) {
        act_row *a = &rows[k];
        if ((st = layer_derivative(a->cell, x, N, d)) ||
            (st = layer_derivative(a->cell, g, NS, dg)))
            break;
        for (int i = 0; i < N; i++)
            if (d[i] > a->max) { a->max = d[i]; a->at = x[i]; }
        a->slope = max_slope(a->forward, x, N);
        double lsum = 0;
        int zeros = 0;
        for (int i = 0; i < NS; i++) {
            if (dg[i] > 0) lsum += log(dg[i]);
            else zeros++;
        }
        a->typical = zeros ? 0.0 : exp(D * lsum / NS);
        if (a->cell == MN_RNN_RELU) {
            for (int i = 0; i < N; i++)
                if (x[i] > 0 ? d[i] != 1.0f : d[i] != 0.0f) relu_exact = 0;
            relu_active = 1.0 - (double)zeros / NS;
            ok &= relu_exact;
        } else {
            ok &= a->max <= a->bound * (1 + 1e-6) && a->max >= a->bound * (1 - 1e-3) &&
                  mn_lab_rel_err(a->slope, a->bound) <= 1e-3;
        }
    }
    if (!st) {
        mn_lab_text(r->claim, sizeof r->claim, "sigmoid' <= 1/4, tanh' <= 1 and ReLU' = 1 for "
                    "x > 0, so a product over depth D of sigmoid derivatives is at most 0.25^D");
        mn_lab_text(r->quantity, sizeof r->quantity, "max over x of sigmoid'(x) (backward of the "
                    "GRU update gate)");
        mn_lab_text(r->criterion, sizeof r->criterion, "each max within 0.1%% of its bound and not "
                    "above it; ReLU' exactly 1 for x > 0 and 0 for x < 0");
        mn_lab_say(r,
            "setup: the derivative each backward pass uses, measured through a one-unit layer\n"
            "       on 20001 points x in [-10, 10] (tanh, ReLU: an RNN cell with W_ih = 1;\n"
            "       sigmoid: a GRU whose update gate alone reads x); 'slope' is the central\n"
            "       difference of the forward function (src/fastmath.h); 'typical' the\n"
            "       product of D = %d derivatives at x ~ N(0, 1) (geometric mean ^ D).\n", D);
        mn_lab_say(r, "\n  %-8s  %6s  %12s  %6s  %12s  %12s  %12s\n", "", "bound", "max f'", "at x",
                   "max slope", "bound^D", "typical^D");
        for (int k = 0; k < 3; k++) {
            act_row *a = &rows[k];
            mn_lab_say(r, "  %-8s  %6g  %12.8f  %6.3f  %12.8f  %12.4g  %12.4g\n", a->name, a->bound,
                       a->max, a->at, a->slope, pow(a->bound, D), a->typical);
            mn_lab_putf(r, a->max, "%s_max_derivative", a->name);
            mn_lab_putf(r, pow(a->bound, D), "%s_bound_product", a->name);
            mn_lab_putf(r, a->typical, "%s_typical_product", a->name);
        }
        mn_lab_say(r,
            "\n  ReLU' is %s 1 for every x > 0 and 0 for x < 0; at x ~ N(0,1) a unit is active\n"
            "  with probability %.3f, so a path through D = %d steps keeps the factor 1 only\n"
            "  if it stays active throughout (chance 2^-D = %.3g for independent signs).\n",
            relu_exact ? "exactly" : "NOT exactly", relu_active, D, pow(0.5, D));
        mn_lab_put(r, "depth", D);
        mn_lab_verdict(r, 0.25, rows[0].max, 1, ok);
    }
    mn_release(x);
    return st;
}
