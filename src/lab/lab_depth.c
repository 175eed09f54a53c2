/* Gradient flow through depth: a deep feed-forward stack of tanh layers with and without
 * an identity skip (residual), and deep stacks of normalized residual blocks with the
 * norm before or after the branch (prenorm).
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
 * through mn_sgemm) with the same weights, input and loss direction: only the skip differs.
 *
 * prenorm: L blocks of the Transformer feed-forward f (H -> 4H -> H, ReLU, PyTorch's
 * init), pre-norm x_{l+1} = x_l + f(LN(x_l)) or post-norm x_{l+1} = LN(x_l + f(x_l)),
 * mean field over random weights (see the comment above mn_lab_prenorm). */
#include "block.h"
#include "fastmath.h"
#include "feedforward.h"
#include "init.h"
#include "lab.h"
#include "norm.h"

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

/* ------------------------------------------------------------ prenorm
 *
 * Mean field over the random weights. f at PyTorch's init (every weight and bias
 * U(±1/√fan_in)) applied to a normalized row u (‖u‖² = H): the hidden pre-activation has
 * variance (H + 1)/(3H), ReLU keeps half of its second moment, and the output has the
 * per-unit variance v = (2H + 5)/(36H): 1/18 from the weights, O(1/H) from the biases.
 * The Jacobian's gain on a random direction, j = ‖J_f‖²_F / H, is 1/18: j = v up to the
 * biases.
 *
 * Pre-norm: the stream grows by v per block, σ_l² = rms(x_l)² = 1 + l·v from an input of
 * rms 1, and the backward step is g_l = g_{l+1} + J_LNᵀ J_fᵀ g_{l+1} with J_LN = P/σ_l (P
 * projects off the row mean and the normalized row). The cross term averages to 0, so
 * E‖g_l‖² = ‖g_{l+1}‖² (1 + j/σ_l²), and with j = v the product telescopes:
 * ‖g_l‖ / ‖g_L‖ = σ_L/σ_l = √((1 + L·v) / (1 + l·v)) >= 1. No norm sits on the identity
 * path, so nothing makes the gradient vanish; it grows as the stream grew.
 *
 * Post-norm: x_l is a LayerNorm output (rms 1) and z = x_l + f(x_l) has σ_z² = 1 + v; the
 * step g_l = (I + J_f)ᵀ P g_{l+1} / σ_z has E‖g_l‖² = ‖P g_{l+1}‖² (1 + j)/(1 + v), so
 * each LN's 1/σ_z cancels the gain of I + J_f. The top LN projects the random loss
 * direction off 2 of its H directions (√(1 - 2/H)); below, the gradient is already nearly
 * orthogonal to both (a bias-free ReLU branch is 1-homogeneous: zᵀ P g = 0), so the ratio
 * stays at √(1 - 2/H) through every block: flat, neither growing nor vanishing.
 *
 * Both are averages over the weights, and one stack deviates by O(1/H) per block (the
 * cross terms), so the experiment pools the squared norms of NORM_DRAWS independent
 * stacks (a fresh draw of every weight, input and loss direction). */

#define NORM_DRAWS 64         /* independent stacks pooled: the mean field */
#define NORM_BATCH 8          /* rows per stack */
#define NORM_EPS 1e-5f        /* LayerNorm's eps, PyTorch's default */
#define FF_MULT 4             /* the feed-forward's hidden width, in multiples of H */
#define PRE_TOLERANCE 0.10    /* pre-norm vs √((1 + Lv)/(1 + lv)), relative, every block */
#define POST_TOLERANCE 0.25   /* post-norm vs √(1 - 2/H), relative, every block */
#define NORM_MIN_WIDTH 16     /* the mean field leaves out O(1/H) per block ... */
#define NORM_DEPTH_PER_WIDTH 4   /* ... which add up over L blocks: L <= 4H */

typedef struct {
    int D, H, B;
    mn_layer **blk;    /* [D] residual blocks around a feed-forward */
    mn_layer *final;   /* a LayerNorm on x_D: what a pre-LN model adds at its top */
    float *buf;        /* params [D·P + F], grads [D·P + F] */
    float *x, *g;      /* [D+1, B, H] block inputs x_l (x_D the output) and ∂L/∂x_l */
    float *y, *dx;     /* [B, H] the final LN's output and its ∂L/∂x_D */
} norm_stack;

typedef struct {
    double *gg, *xx;   /* [D+1] Σ‖∂L/∂x_l‖² and Σ‖x_l‖² over stacks and rows */
    double final;      /* Σ‖∂L/∂x_D‖² through the final LN */
} norm_sums;

static void norm_stack_free(norm_stack *s) {
    for (int l = 0; s->blk && l < s->D; l++) mn_layer_destroy(s->blk[l]);
    mn_layer_destroy(s->final);
    mn_release(s->blk);
    mn_release(s->buf);
    mn_release(s->x);
    memset(s, 0, sizeof *s);
}

static mn_status norm_stack_create(norm_stack *s, int D, int H, mn_block_norm_place place) {
    memset(s, 0, sizeof *s);
    s->D = D;
    s->H = H;
    s->B = NORM_BATCH;
    size_t BH = (size_t)s->B * H;
    mn_block_wrap w = {1, place, MN_BLOCK_LAYERNORM, 0.0f, NORM_EPS};
    s->blk = mn_alloc_zero((size_t)D * sizeof *s->blk);
    s->x = mn_alloc_zero((2 * (size_t)(D + 1) + 2) * BH * sizeof(float));
    if (!s->blk || !s->x) goto nomem;
    s->g = s->x + (D + 1) * BH;
    s->y = s->g + (D + 1) * BH;
    s->dx = s->y + BH;
    for (int l = 0; l < D; l++)
        if (!(s->blk[l] = mn_block_create(mn_feedforward_create(H, FF_MULT * H, MN_ACT_RELU), &w)))
            goto nomem;
    if (!(s->final = mn_layernorm_create(H, NORM_EPS))) goto nomem;
    size_t P = s->blk[0]->param_count, F = s->final->param_count, n = (size_t)D * P + F;
    if (!(s->buf = mn_alloc_zero(2 * n * sizeof(float)))) goto nomem;
    for (int l = 0; l < D; l++) {
        s->blk[l]->params = s->buf + l * P;
        s->blk[l]->grads = s->buf + n + l * P;
    }
    s->final->params = s->buf + D * P;
    s->final->grads = s->buf + n + D * P;
    return MN_OK;
nomem:
    norm_stack_free(s);
    return MN_E_NOMEM;
}

static double sum_squares(const float *v, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)v[i] * v[i];
    return s;
}

/* One stack: fresh weights (PyTorch's init), rows of rms 1 in, a random loss direction
 * of norm 1 per row at x_D; forward, backward, and the squared norms added to sum. */
static mn_status norm_draw(norm_stack *s, mn_rng *rng, norm_sums *sum) {
    int D = s->D, H = s->H, B = s->B;
    size_t BH = (size_t)B * H;
    mn_init_config ic = {MN_INIT_UNIFORM, 1.0f, 0.0f, 0};
    for (int l = 0; l < D; l++) s->blk[l]->ops->init(s->blk[l], rng, &ic);
    s->final->ops->init(s->final, rng, &ic);
    random_rows(s->x, B, H, sqrt((double)H), rng);
    float *top = s->g + D * BH;
    random_rows(top, B, H, 1.0, rng);
    mn_status st = MN_OK;
    for (int l = 0; l < D && !st; l++)
        st = s->blk[l]->ops->forward(s->blk[l], s->x + l * BH, s->x + (l + 1) * BH, 1, B, NULL);
    memset(s->g, 0, D * BH * sizeof(float));   /* backward accumulates into dx */
    for (int l = D - 1; l >= 0 && !st; l--)
        st = s->blk[l]->ops->backward(s->blk[l], s->g + (l + 1) * BH, s->g + l * BH, 1, B, NULL);
    /* the same loss direction at the output of a final LN on x_D */
    if (!st) st = s->final->ops->forward(s->final, s->x + D * BH, s->y, 1, B, NULL);
    memset(s->dx, 0, BH * sizeof(float));
    if (!st) st = s->final->ops->backward(s->final, top, s->dx, 1, B, NULL);
    for (int l = 0; l <= D && !st; l++) {
        sum->gg[l] += sum_squares(s->g + l * BH, BH);
        sum->xx[l] += sum_squares(s->x + l * BH, BH);
    }
    sum->final += sum_squares(s->dx, BH);
    return st;
}

/* Block inputs shown, from the top down: every one up to 32 blocks, else x_(L-k) for the
 * k of table_depths, and x_0. ls: room for 34. */
static int table_blocks(int D, int *ls) {
    int n = 0;
    if (D <= 32) {
        for (int l = D; l >= 0; l--) ls[n++] = l;
        return n;
    }
    int ks[32], m = table_depths(D, ks);
    ls[n++] = D;
    for (int i = 0; i < m; i++) ls[n++] = D - ks[i];
    return n;
}

static double ff_variance(int H) { return (2.0 * H + 5) / (36.0 * H); }

static double pre_theory(int D, int l, double v) { return sqrt((1 + D * v) / (1 + l * v)); }

static double pooled_ratio(const double *gg, int D, int l) {
    return gg[D] > 0 ? sqrt(gg[l] / gg[D]) : 0.0;
}

mn_status mn_lab_prenorm(const mn_lab_options *o, mn_lab_result *r) {
    mn_lab_settings s;
    mn_status st = mn_lab_resolve(o, 1.0, &s);
    if (st) return st;
    int D = s.depth, H = s.H, S = NORM_DRAWS;
    double per_block = (double)FF_MULT * 2 * H * H + (FF_MULT + 3) * H;
    if (D * per_block > MAX_WEIGHTS)
        return mn_fail(MN_E_ARG, "depth x 8 hidden^2 is %.0f weights, above the %d the lab "
                       "keeps in memory; lower --depth or --hidden", D * per_block, MAX_WEIGHTS);
    double *buf;
    if ((st = mn_lab_alloc_doubles(&buf, 4 * (size_t)(D + 1)))) return st;
    norm_sums sum[2] = {{buf, buf + (D + 1), 0}, {buf + 2 * (D + 1), buf + 3 * (D + 1), 0}};
    norm_stack ns = {0};
    for (int p = 0; p < 2 && !st; p++) {
        /* the same seed for both: the same weights, inputs and loss directions */
        mn_rng rng;
        mn_rng_seed(&rng, s.seed);
        if ((st = norm_stack_create(&ns, D, H, p ? MN_BLOCK_NORM_POST : MN_BLOCK_NORM_PRE)))
            break;
        for (int d = 0; d < S && !st; d++) st = norm_draw(&ns, &rng, &sum[p]);
        norm_stack_free(&ns);
    }
    if (st) goto done;
    const norm_sums *pre = &sum[0], *post = &sum[1];
    double v = ff_variance(H), post_th = sqrt(1.0 - 2.0 / H), rows = (double)S * NORM_BATCH * H;

    mn_lab_text(r->claim, sizeof r->claim, "at initialization a pre-norm stack x + f(LN(x)) "
                "carries the gradient on an identity path no norm touches: it reaches block "
                "l's input scaled by rms(x_L)/rms(x_l) >= 1, never vanishing; post-norm "
                "LN(x + f(x)) keeps it flat, each LN's 1/sigma cancelling the gain of x + f(x)");
    mn_lab_text(r->quantity, sizeof r->quantity, "pre-norm |dL/dx_0| / |dL/dx_%d| vs "
                "sqrt(1 + L*v), v = Var f = %.4g (%d stacks pooled)", D, v, S);
    mn_lab_text(r->criterion, sizeof r->criterion, "pre-norm within %g%% of "
                "sqrt((1+Lv)/(1+lv)), post-norm within %g%% of sqrt(1-2/H), every block l "
                "(H >= %d, L <= %dH)", 100 * PRE_TOLERANCE, 100 * POST_TOLERANCE,
                NORM_MIN_WIDTH, NORM_DEPTH_PER_WIDTH);
    mn_lab_say(r,
        "setup: %d residual blocks of mnemo's feed-forward f (%d -> %d -> %d, ReLU, PyTorch's\n"
        "       init), LayerNorm (eps 1e-5) before f (pre-norm: x + f(LN(x))) or after the\n"
        "       sum (post-norm: LN(x + f(x))); %d stacks of independent weights, %d input\n"
        "       rows of rms 1 each, a random loss direction of norm 1 per row at x_%d; the\n"
        "       same draws for both. Ratios pool the squared norms over stacks and rows.\n"
        "theory (mean field): Var f = v = (2H+5)/(36H) = %.6g and f's Jacobian gain\n"
        "       j = 1/18 ~ v. Pre-norm: rms(x_l)^2 = 1 + l*v, each block multiplies\n"
        "       |g|^2 by 1 + j/rms(x_l)^2, which telescopes to sqrt((1+Lv)/(1+lv)).\n"
        "       Post-norm: each LN divides by sqrt(1+v), I + f' multiplies by sqrt(1+j);\n"
        "       the top LN projects off 2 of H directions: sqrt(1-2/H) = %.6g, flat.\n",
        D, H, FF_MULT * H, H, S, NORM_BATCH, D, v, post_th);
    int ls[40], n = table_blocks(D, ls);
    mn_lab_say(r, "\n  %6s  %10s  %10s  %12s  %12s  %10s  %12s\n", "block", "rms(x_l)",
               "sqrt(1+lv)", "pre theory", "pre-norm", "rel. error", "post-norm");
    for (int i = 0; i < n; i++) {
        int l = ls[i];
        double th = pre_theory(D, l, v), m = pooled_ratio(pre->gg, D, l);
        double q = pooled_ratio(post->gg, D, l), rms = sqrt(pre->xx[l] / rows);
        mn_lab_say(r, "  %6d  %10.6g  %10.6g  %12.6g  %12.6g  %10.2e  %12.6g\n", l, rms,
                   sqrt(1 + l * v), th, m, mn_lab_rel_err(m, th), q);
        mn_lab_putf(r, m, "pre_ratio_block_%d", l);
        mn_lab_putf(r, q, "post_ratio_block_%d", l);
    }
    double pre_err = 0, post_err = 0, pre_min = INFINITY, post_min = INFINITY, post_max = 0;
    int finite = 1;
    for (int l = 0; l < D; l++) {
        double m = pooled_ratio(pre->gg, D, l), q = pooled_ratio(post->gg, D, l);
        double e = mn_lab_rel_err(m, pre_theory(D, l, v)), f = mn_lab_rel_err(q, post_th);
        pre_err = e > pre_err || e != e ? e : pre_err;
        post_err = f > post_err || f != f ? f : post_err;
        pre_min = fmin(pre_min, m);
        post_min = fmin(post_min, q);
        post_max = fmax(post_max, q);
        finite &= isfinite(m) && isfinite(q);
    }
    double m = pooled_ratio(pre->gg, D, 0), th = pre_theory(D, 0, v);
    double mq = pooled_ratio(post->gg, D, 0), rms_top = sqrt(pre->xx[D] / rows);
    mn_lab_say(r, "\n  over blocks l = 0..%d: largest relative error pre-norm %.2e, post-norm "
                  "%.2e;\n  pre-norm never below %.6g; post-norm within [%.6g, %.6g] "
                  "(theory %.6g);\n  rms(x_%d) %.6g (theory sqrt(1 + L*v) = %.6g)\n",
               D - 1, pre_err, post_err, pre_min, post_min, post_max, post_th, D, rms_top,
               sqrt(1 + D * v));
    /* with the final LN, the loss gradient enters x_D divided by rms(x_D) (Xiong et al.
     * 2020's 1/sqrt(L)), and the bottom gets sqrt(1-2/H) back: what post-norm's gets */
    double fin = pre->gg[D] > 0 ? sqrt(pre->final / pre->gg[D]) : 0.0;
    mn_lab_say(r, "\n  information: with the final LayerNorm a pre-LN model puts on x_%d, the "
                  "loss gradient\n  reaches x_%d scaled by %.6g (about sqrt(1-2/H)/rms(x_%d) = "
                  "%.6g) and x_0 by %.6g;\n  post-norm's x_0 gets %.6g: about the same at the "
                  "bottom, 1/rms(x_L) less at the top\n",
               D, D, fin, D, post_th / rms_top, fin * m, mq);
    mn_lab_put(r, "depth", D);
    mn_lab_put(r, "hidden", H);
    mn_lab_put(r, "ff_hidden", FF_MULT * H);
    mn_lab_put(r, "stacks", S);
    mn_lab_put(r, "batch", NORM_BATCH);
    mn_lab_put(r, "branch_variance", v);
    mn_lab_put(r, "pre_ratio", m);
    mn_lab_put(r, "pre_theory", th);
    mn_lab_put(r, "pre_max_rel_error", pre_err);
    mn_lab_put(r, "pre_min_ratio", pre_min);
    mn_lab_put(r, "post_ratio", mq);
    mn_lab_put(r, "post_theory", post_th);
    mn_lab_put(r, "post_max_rel_error", post_err);
    mn_lab_put(r, "post_min_ratio", post_min);
    mn_lab_put(r, "post_max_ratio", post_max);
    mn_lab_put(r, "rms_top", rms_top);
    mn_lab_put(r, "rms_top_theory", sqrt(1 + D * v));
    mn_lab_put(r, "final_norm_top_ratio", fin);
    mn_lab_put(r, "final_norm_top_theory", post_th / rms_top);
    mn_lab_put(r, "pre_tolerance", PRE_TOLERANCE);
    mn_lab_put(r, "post_tolerance", POST_TOLERANCE);
    int applies = H >= NORM_MIN_WIDTH && D <= NORM_DEPTH_PER_WIDTH * H;
    if (!applies)
        mn_lab_text(r->note, sizeof r->note, "the mean field leaves out terms of order 1/H per "
                    "block (the LayerNorm's projections, the cross terms of one draw), which "
                    "add up over %d blocks of width %d: use --hidden >= %d and --depth <= %d "
                    "x hidden", D, H, NORM_MIN_WIDTH, NORM_DEPTH_PER_WIDTH);
    mn_lab_verdict(r, th, m, applies,
                   finite && pre_err <= PRE_TOLERANCE && post_err <= POST_TOLERANCE);
done:
    mn_release(buf);
    return st;
}
