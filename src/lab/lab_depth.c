/* Gradient flow through depth: a deep feed-forward stack of tanh layers with and without
 * an identity skip (residual).
 *
 * Without the skip, x_{l+1} = tanh(W_l x_l) and the backward step is
 * g_l = W_lᵀ (tanh'(z_l) ⊙ g_{l+1}). With W_l = ρ·Q_l (Q_l orthogonal) ‖W_lᵀ v‖ = ρ‖v‖
 * exactly, so each layer scales the gradient norm by ρ times a factor in
 * [min tanh'(z_l), 1]: through k layers the ratio lies in [ρ^k ∏ min tanh', ρ^k]. With
 * inputs small enough that tanh' rounds to 1 the bracket closes on ρ^k.
 *
 * With the skip, x_{l+1} = x_l + tanh(W_l x_l) and g_l = g_{l+1} + W_lᵀ (tanh' ⊙ g_{l+1}).
 * The identity path carries g_{l+1} through unchanged; in the linear regime
 * ‖(I + ρQᵀ)v‖² = (1 + ρ²)‖v‖² + 2ρ vᵀQv, whose cross term averages to 0 over a random
 * Q, so the norm typically grows by √(1 + ρ²) per layer instead of shrinking by ρ.
 *
 * Both stacks are the same mnemo linear layers (weight ρ·Q_l, bias 0; forward and backward
 * through mn_sgemm) with the same weights, input and loss direction: only the skip differs. */
#include "fastmath.h"
#include "init.h"
#include "lab.h"

#include <math.h>
#include <string.h>

#define STACK_BATCH 8          /* input vectors pushed through the stack together */
#define MAX_WEIGHTS (1 << 24)  /* depth·H² floats of one stack */
#define SMALL_INPUT 1e-3       /* largest activation norm of the small-input pass */
#define MIN_INPUT 1e-30        /* smallest input norm: float32 entries stay normal */
#define SKIP_FLOOR 0.95        /* "stays at about 1 or above": the skip criterion */
#define MIN_WIDTH 16           /* the skip's claim is about wide layers (see the note) */

/* ------------------------------------------------------------ the deep stack */

typedef struct {
    int D, H, B;
    mn_layer **lin;    /* [D] linear layers, W_l = ρ·Q_l, bias 0 */
    float *buf;        /* params [D·P], grads [D·P] */
    float *x;          /* [D+1, B, H] layer inputs x_l (x_D the output) */
    float *y;          /* [D, B, H] tanh(W_l x_l) */
    float *g, *gn;     /* [B, H] ∂L/∂x_{l+1} and ∂L/∂x_l */
} deep_stack;

static void stack_free(deep_stack *s) {
    for (int l = 0; s->lin && l < s->D; l++) mn_layer_destroy(s->lin[l]);
    mn_release(s->lin);
    mn_release(s->buf);
    mn_release(s->x);
    memset(s, 0, sizeof *s);
}

static mn_status stack_create(deep_stack *s, int D, int H, int B, double rho, mn_rng *rng) {
    memset(s, 0, sizeof *s);
    s->D = D;
    s->H = H;
    s->B = B;
    size_t P = (size_t)H * H + H, BH = (size_t)B * H;
    s->lin = mn_alloc_zero((size_t)D * sizeof *s->lin);
    s->buf = mn_alloc_zero(2 * D * P * sizeof(float));
    s->x = mn_alloc_zero(((size_t)(2 * D + 3) * BH) * sizeof(float));
    if (!s->lin || !s->buf || !s->x) goto nomem;
    s->y = s->x + (D + 1) * BH;
    s->g = s->y + D * BH;
    s->gn = s->g + BH;
    for (int l = 0; l < D; l++) {
        mn_layer *L = s->lin[l] = mn_linear_create(H, H);
        if (!L) goto nomem;
        L->params = s->buf + l * P;
        L->grads = s->buf + (D + l) * P;
        mn_status st = mn_init_orthogonal(mn_lab_layer_tensor(L, "weight"), H, H, (float)rho, rng);
        if (st) {
            stack_free(s);
            return st;
        }
    }
    return MN_OK;
nomem:
    stack_free(s);
    return MN_E_NOMEM;
}

static double mean_row_norm(const float *v, int B, int H) {
    double sum = 0;
    for (int b = 0; b < B; b++) {
        double ss = 0;
        for (int j = 0; j < H; j++) ss += (double)v[(size_t)b * H + j] * v[(size_t)b * H + j];
        sum += sqrt(ss);
    }
    return sum / B;
}

/* Rows of v [B,H] set to random directions of norm `norm`. */
static void random_rows(float *v, int B, int H, double norm, mn_rng *rng) {
    for (int b = 0; b < B; b++) {
        float *r = v + (size_t)b * H;
        double ss = 0;
        for (int j = 0; j < H; j++) {
            r[j] = (float)mn_rng_normal(rng);
            ss += (double)r[j] * r[j];
        }
        for (int j = 0; j < H; j++) r[j] = (float)(r[j] * norm / sqrt(ss));
    }
}

/* Forward from x_0 = s->x[0..B·H) with or without the skip, then backward from
 * ∂L/∂x_D = top [B,H]. norm[l] (l = 0..D) receives the batch-mean ‖∂L/∂x_l‖ and
 * dmin[l] (l < D; may be NULL) the smallest tanh'(z_l) over the layer's units. */
static mn_status stack_profile(deep_stack *s, int skip, const float *top, double *norm,
                               double *dmin) {
    int D = s->D, H = s->H, B = s->B;
    size_t BH = (size_t)B * H;
    mn_status st = MN_OK;
    for (int l = 0; l < D && !st; l++) {
        float *x = s->x + l * BH, *y = s->y + l * BH, *next = s->x + (l + 1) * BH;
        st = s->lin[l]->ops->forward(s->lin[l], x, y, 1, B, NULL);   /* y = W_l x_l */
        for (size_t i = 0; i < BH; i++) {
            y[i] = mn_fast_tanhf(y[i]);
            next[i] = skip ? x[i] + y[i] : y[i];
        }
    }
    memcpy(s->g, top, BH * sizeof(float));
    norm[D] = mean_row_norm(s->g, B, H);
    for (int l = D - 1; l >= 0 && !st; l--) {
        const float *y = s->y + l * BH;
        double lo = 1;
        /* gn = g through the skip (or 0), then g becomes dz = g ⊙ tanh'(z) in place */
        if (skip) memcpy(s->gn, s->g, BH * sizeof(float));
        else memset(s->gn, 0, BH * sizeof(float));
        for (size_t i = 0; i < BH; i++) {
            double d = 1.0 - (double)y[i] * y[i];
            lo = d < lo ? d : lo;
            s->g[i] = (float)(s->g[i] * d);
        }
        if (dmin) dmin[l] = lo;
        st = s->lin[l]->ops->backward(s->lin[l], s->g, s->gn, 1, B, NULL);   /* gn += dz·W_l */
        norm[l] = mean_row_norm(s->gn, B, H);
        float *t = s->g;
        s->g = s->gn;
        s->gn = t;
    }
    return st;
}

/* ------------------------------------------------------------ residual */

/* Depths shown: 1, 2, 3, 4, 6, 8, 12, 16, 24, ... below D, and D itself; ks: room for 32. */
static int table_depths(int D, int *ks) {
    int n = 0;
    ks[n++] = 1;
    for (int p = 2; p < D; p *= 2) {
        ks[n++] = p;
        if (p + p / 2 < D) ks[n++] = p + p / 2;
    }
    if (ks[n - 1] != D) ks[n++] = D;
    return n;
}

typedef struct {
    double *plain, *skip, *dmin;   /* [D+1] norms, [D] smallest tanh' */
} depth_profiles;

/* Both stacks from one random input with per-row norm `in_norm`; the loss direction is
 * random with norm `scale_plain` / `scale_skip` (see mn_lab_centered_scale). */
static mn_status run_both(deep_stack *s, double in_norm, double scale_plain, double scale_skip,
                          mn_rng *rng, depth_profiles *p) {
    size_t BH = (size_t)s->B * s->H;
    float *dir = mn_alloc(3 * BH * sizeof(float));
    if (!dir) return MN_E_NOMEM;
    float *x0 = dir + BH, *top = x0 + BH;
    random_rows(x0, s->B, s->H, in_norm, rng);
    random_rows(dir, s->B, s->H, 1.0, rng);
    mn_status st = MN_OK;
    for (int skip = 0; skip < 2 && !st; skip++) {
        double k = skip ? scale_skip : scale_plain;
        memcpy(s->x, x0, BH * sizeof(float));
        for (size_t i = 0; i < BH; i++) top[i] = (float)(dir[i] * k);
        st = stack_profile(s, skip, top, skip ? p->skip : p->plain, skip ? NULL : p->dmin);
    }
    mn_release(dir);
    return st;
}

static double ratio_k(const double *norm, int D, int k) {
    return norm[D] > 0 ? norm[D - k] / norm[D] : 0.0;
}

/* log10 of the no-skip bracket's lower end through the top k layers: ρ^k ∏ min tanh'. */
static double log10_low(const depth_profiles *p, int D, int k, double rho) {
    double s = k * log10(rho);
    for (int l = D - k; l < D; l++) s += p->dmin[l] > 0 ? log10(p->dmin[l]) : -INFINITY;
    return s;
}

mn_status mn_lab_residual(const mn_lab_options *o, mn_lab_result *r) {
    mn_lab_settings s;
    mn_status st = mn_lab_resolve(o, 0.8, &s);
    if (st) return st;
    int D = s.depth, H = s.H, B = STACK_BATCH;
    double rho = s.radius;
    if ((double)D * H * H > MAX_WEIGHTS)
        return mn_fail(MN_E_ARG, "depth x hidden^2 is %.0f weights, above the %d the lab keeps "
                       "in memory; lower --depth or --hidden", (double)D * H * H, MAX_WEIGHTS);
    double *buf;
    if ((st = mn_lab_alloc_doubles(&buf, 6 * (size_t)(D + 1)))) return st;
    depth_profiles small = {buf, buf + (D + 1), buf + 2 * (D + 1)};
    depth_profiles big = {buf + 3 * (D + 1), buf + 4 * (D + 1), buf + 5 * (D + 1)};
    deep_stack ds = {0};
    mn_rng rng;
    mn_rng_seed(&rng, s.seed);
    /* what theory predicts through all D layers, in decades: no skip ρ^D; with the skip the
     * typical (1 + ρ²)^(D/2) of the linear regime */
    double l_plain = D * log10(rho), l_skip = 0.5 * D * log10(1 + rho * rho);
    /* the small-input pass keeps the activations at about SMALL_INPUT or below: the no-skip
     * stack scales x by about ρ per layer, the skip stack by about √(1 + ρ²) */
    double grow = fmax(fmax(l_plain, l_skip), 0.0);
    double in_small = SMALL_INPUT * pow(10.0, -grow);
    int small_ok = in_small >= MIN_INPUT;
    in_small = fmax(in_small, MIN_INPUT);
    double sp = mn_lab_centered_scale(l_plain), ss = mn_lab_centered_scale(l_skip);
    if ((st = stack_create(&ds, D, H, B, rho, &rng))) goto done;
    if ((st = run_both(&ds, in_small, sp, ss, &rng, &small))) goto done;
    /* the same weights at inputs of norm √H (entries ~ 1): tanh saturates (information) */
    if ((st = run_both(&ds, sqrt((double)H), sp, ss, &rng, &big))) goto done;

    mn_lab_text(r->claim, sizeof r->claim, "through L layers x_{l+1} = tanh(W_l x_l) with "
                "W_l = rho*Q_l the gradient is scaled by rho^L times a product of tanh' <= 1, "
                "so it vanishes for rho < 1; with an identity skip x_{l+1} = x_l + "
                "tanh(W_l x_l) it stays at about 1 or above");
    mn_lab_text(r->quantity, sizeof r->quantity, "|dL/dx_0| / |dL/dx_%d| without the skip vs "
                "rho^%d, rho = %g", D, D, rho);
    mn_lab_text(r->criterion, sizeof r->criterion, "no skip within %g%% of rho^k for every "
                "k = 1..%d; with the skip >= %g for every k (H >= %d)",
                100 * MN_LAB_RATIO_TOLERANCE, D, SKIP_FLOOR, MIN_WIDTH);
    mn_lab_say(r,
        "setup: %d mnemo linear layers %d -> %d, W_l = %g * Q_l (Q_l random orthogonal from\n"
        "       mn_init_orthogonal), bias 0, each followed by tanh; the same weights, input\n"
        "       and loss direction with and without the skip. %d random inputs of norm\n"
        "       %.3g keep the activations at about 1e-3 or below, where tanh' = 1 to ~1e-6,\n"
        "       so theory is rho^k; the loss gradient is a random direction at x_%d.\n"
        "       Ratio through the top k layers: |dL/dx_(%d-k)| / |dL/dx_%d| (batch means).\n",
        D, H, H, rho, B, in_small, D, D, D);
    int ks[32], n = table_depths(D, ks);
    mn_lab_say(r, "\n  %6s  %12s  %12s  %10s  %12s  %15s\n", "layers", "theory rho^k",
               "no skip", "rel. error", "with skip", "(1+rho^2)^(k/2)");
    for (int i = 0; i < n; i++) {
        int k = ks[i];
        double th = pow(rho, k), m = ratio_k(small.plain, D, k), q = ratio_k(small.skip, D, k);
        mn_lab_say(r, "  %6d  %12.6g  %12.6g  %10.2e  %12.6g  %15.6g\n", k, th, m,
                   mn_lab_rel_err(m, th), q, pow(1 + rho * rho, 0.5 * k));
        mn_lab_putf(r, m, "ratio_depth_%d", k);
        mn_lab_putf(r, q, "skip_ratio_depth_%d", k);
    }
    double worst = 0, skip_min = INFINITY, dmin = 1;
    int finite = 1;
    for (int k = 1; k <= D; k++) {
        double m = ratio_k(small.plain, D, k), q = ratio_k(small.skip, D, k);
        double e = mn_lab_rel_err(m, pow(rho, k));
        worst = e > worst || e != e ? e : worst;
        skip_min = q < skip_min || q != q ? q : skip_min;
        finite &= isfinite(m) && isfinite(q);
        dmin = fmin(dmin, small.dmin[k - 1]);
    }
    double m = ratio_k(small.plain, D, D), th = pow(rho, D);
    mn_lab_say(r, "\n  over k = 1..%d: largest relative error without the skip %.2e; smallest "
                  "ratio with the\n  skip %.6g; smallest tanh' in the no-skip stack %.9g. "
                  "(1+rho^2)^(k/2) is the skip's\n  root-mean-square ratio over random Q_l "
                  "in the linear regime (information).\n",
               D, worst, skip_min, dmin);
    double bm = ratio_k(big.plain, D, D), bq = ratio_k(big.skip, D, D), bmin = INFINITY;
    for (int k = 1; k <= D; k++) bmin = fmin(bmin, ratio_k(big.skip, D, k));
    double lo = pow(10.0, log10_low(&big, D, D, rho));
    int inside = bm <= th * (1 + 1e-4) && bm >= lo * (1 - 1e-4);
    mn_lab_say(r, "\n  information: inputs of norm %.3g (entries ~ 1, tanh saturates): without "
                  "the skip %.6g,\n  %s [rho^L * prod of min tanh', rho^L] = [%.3g, %.6g]; "
                  "with the skip %.6g\n  (smallest over k: %.6g)\n",
               sqrt((double)H), bm, inside ? "inside" : "OUTSIDE", lo, th, bq, bmin);
    mn_lab_put(r, "depth", D);
    mn_lab_put(r, "radius", rho);
    mn_lab_put(r, "hidden", H);
    mn_lab_put(r, "batch", B);
    mn_lab_put(r, "input_norm", in_small);
    mn_lab_put(r, "max_rel_error", worst);
    mn_lab_put(r, "skip_ratio", ratio_k(small.skip, D, D));
    mn_lab_put(r, "skip_min_ratio", skip_min);
    mn_lab_put(r, "skip_floor", SKIP_FLOOR);
    mn_lab_put(r, "skip_typical_theory", pow(1 + rho * rho, 0.5 * D));
    mn_lab_put(r, "min_tanh_derivative", dmin);
    mn_lab_put(r, "saturated_ratio", bm);
    mn_lab_put(r, "saturated_bracket_low", lo);
    mn_lab_put(r, "saturated_in_bracket", inside);
    mn_lab_put(r, "saturated_skip_ratio", bq);
    mn_lab_put(r, "saturated_skip_min_ratio", bmin);
    int applies = 0;
    if (!mn_lab_measurable(l_plain) || !mn_lab_measurable(l_skip))
        mn_lab_text(r->note, sizeof r->note, "rho^L = 1e%.0f or (1+rho^2)^(L/2) = 1e%.0f lies "
                    "outside the ~1e+-%.0f that a float32 backward pass can hold; measured what "
                    "float32 gives", l_plain, l_skip, MN_LAB_RANGE_DECADES);
    else if (!small_ok)
        mn_lab_text(r->note, sizeof r->note, "the activations grow by ~1e%.0f through %d layers, "
                    "so no float32 input is small enough to keep tanh' at 1 throughout; lower "
                    "--radius or --depth", grow, D);
    else if (H < MIN_WIDTH)
        mn_lab_text(r->note, sizeof r->note, "the skip's cross term 2 rho v'Q_l v averages out "
                    "only in wide layers (a random orthogonal Q has trace ~1, so it is ~2 rho/H "
                    "per layer; at H = 1, Q = -1 cuts the gradient to 1 - rho): use --hidden "
                    ">= %d", MIN_WIDTH);
    else
        applies = 1;
    mn_lab_verdict(r, th, m, applies,
                   finite && worst <= MN_LAB_RATIO_TOLERANCE && skip_min >= SKIP_FLOOR);
done:
    stack_free(&ds);
    mn_release(buf);
    return st;
}
