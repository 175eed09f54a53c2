/* Backpropagation through time as the calculus of a discrete dynamical system: forward
 * Euler on dh/dt = A h is the linear RNN h_t = (I + ΔA) h_{t-1}, whose gradient explodes
 * exactly when Δ passes the stability bound 2/|λ|; and the backward pass of every recurrent
 * cell is the adjoint (costate) recursion λ_t = J_{t+1}ᵀ λ_{t+1} + ∂ℓ_t/∂h_t over the step
 * Jacobians, which this file builds on its own, in double, from what the forward stored. */
#include "init.h"
#include "lab.h"
#include "cell.h"

#include <math.h>
#include <string.h>

/* ------------------------------------------------------------ euler
 *
 * A = Q·diag(λ_1..λ_H)·Qᵀ (Q random orthogonal) with real eigenvalues evenly spaced in
 * [-1, -0.1]: dh/dt = A h is stable, and forward Euler with step Δ gives
 * W = I + ΔA, eigenvalues μ_m = 1 + Δλ_m, spectral radius max |1 + Δλ_m|, which passes 1
 * exactly at Δ = 2/|λ_min| = 2 (the stiffest mode sets the bound). The recurrence runs
 * through mnemo's tanh RNN layer with W_hh = W, W_ih = 0, biases 0 and zero input: the
 * state stays at 0 where tanh' = 1, so the backward pass is exactly dh_{t-1} = Wᵀ dh_t.
 * For each Δ the loss at the last step points along each eigenvector q_m in turn (one
 * sequence each), and the measured growth is the largest ‖∂L/∂h_0‖ / ‖∂L/∂h_{T-1}‖: W is
 * symmetric, so that is ‖W^(T-1)‖ = ρ^(T-1). The threshold Δ* is found by bisection on
 * "the gradient grows" (ratio > 1), measured, never computed. */

#define EULER_LAMBDA_MIN (-1.0)
#define EULER_LAMBDA_MAX (-0.1)
#define EULER_MAX_HIDDEN 256
#define EULER_BISECTIONS 40
#define EULER_TOLERANCE 1e-3       /* Δ* against 2/|λ|, relative */
#define EULER_GROWTH_TOLERANCE 1e-4
static const double euler_sweep[] = {0.1, 0.5, 1, 1.5, 1.9, 1.99, 2.01, 2.1, 2.5, 3}; /* Δ|λ| */
#define EULER_N ((int)(sizeof euler_sweep / sizeof euler_sweep[0]))

typedef struct {
    int T, H;
    double *A, *lambda;   /* [H,H], [H] */
    float *Q;             /* [H,H] eigenvectors as columns */
    float *x, *dy;        /* [T,1,1] zeros, [T,1,H] */
    double *dh;           /* [T] */
    double scale;
    mn_lab_bare bl;
} euler_ctx;

/* The largest gradient ratio over T-1 steps at step Δ, over the eigen-directions. */
static mn_status euler_ratio(euler_ctx *e, double delta, double *ratio) {
    int H = e->H, T = e->T;
    float *W = mn_lab_bare_tensor(&e->bl, "weight_hh");
    for (int i = 0; i < H; i++)
        for (int j = 0; j < H; j++)
            W[(size_t)i * H + j] = (float)((i == j) + delta * e->A[(size_t)i * H + j]);
    *ratio = 0;
    for (int m = 0; m < H; m++) {
        float *last = e->dy + (size_t)(T - 1) * H;
        for (int i = 0; i < H; i++) last[i] = (float)(e->scale * e->Q[(size_t)i * H + m]);
        mn_status st = mn_lab_bare_pass(&e->bl, e->x, e->dy, T, 1, e->dh, NULL, NULL);
        if (st) return st;
        double r = e->dh[0] / e->dh[T - 1];
        *ratio = r > *ratio || r != r ? r : *ratio;
    }
    return MN_OK;
}

static double euler_radius(const euler_ctx *e, double delta) {
    double rho = 0;
    for (int m = 0; m < e->H; m++) rho = fmax(rho, fabs(1 + delta * e->lambda[m]));
    return rho;
}

/* NaN or inf (float32 overflow) counts as growth */
static int grows(double ratio) { return !(ratio <= 1); }

mn_status mn_lab_euler(const mn_lab_options *o, mn_lab_result *r) {
    mn_lab_settings s;
    mn_status st = mn_lab_resolve(o, 1.0, &s);
    if (st) return st;
    int T = s.T, H = s.H;
    if (H > EULER_MAX_HIDDEN)
        return mn_fail(MN_E_ARG, "hidden size must be at most %d here (one pass per "
                       "eigenvector), got %d", EULER_MAX_HIDDEN, H);
    euler_ctx e = {.T = T, .H = H};
    double *dbuf = NULL;
    float *fbuf = NULL;
    if ((st = mn_lab_bare_create(&e.bl, MN_RNN_TANH, 1, H))) return st;
    if ((st = mn_lab_alloc_doubles(&dbuf, (size_t)H * H + H + T))) goto done;
    if (!(fbuf = mn_alloc_zero(((size_t)H * H + T + (size_t)T * H) * sizeof(float)))) {
        st = MN_E_NOMEM;
        goto done;
    }
    e.A = dbuf;
    e.lambda = e.A + (size_t)H * H;
    e.dh = e.lambda + H;
    e.Q = fbuf;
    e.x = e.Q + (size_t)H * H;
    e.dy = e.x + T;
    mn_rng rng;
    mn_rng_seed(&rng, s.seed);
    if ((st = mn_init_orthogonal(e.Q, H, H, 1.0f, &rng))) goto done;
    double span = EULER_LAMBDA_MAX - EULER_LAMBDA_MIN;
    for (int m = 0; m < H; m++)
        e.lambda[m] = EULER_LAMBDA_MIN + (H == 1 ? 0 : span * m / (H - 1));
    for (int i = 0; i < H; i++)
        for (int j = 0; j < H; j++) {
            double a = 0;
            for (int m = 0; m < H; m++)
                a += (double)e.Q[(size_t)i * H + m] * e.lambda[m] * e.Q[(size_t)j * H + m];
            e.A[(size_t)i * H + j] = a;
        }
    double lam = fabs(EULER_LAMBDA_MIN), bound = 2 / lam;
    /* the sweep's ratios span ρ^(T-1) for ρ from its smallest to its largest (ρ = 0, one
     * mode at Δ = 1/|λ|, gives an exact 0) */
    double lo_rho = 1, hi_rho = 1;
    for (int k = 0; k < EULER_N; k++) {
        double rho = euler_radius(&e, euler_sweep[k] / lam);
        if (rho > 0) lo_rho = fmin(lo_rho, rho);
        hi_rho = fmax(hi_rho, rho);
    }
    double lhi = (T - 1) * log10(hi_rho), llo = (T - 1) * log10(lo_rho);
    e.scale = mn_lab_centered_scale(lhi + llo);
    int applies = mn_lab_measurable(lhi) && mn_lab_measurable(llo) &&
                  mn_lab_measurable(lhi - llo);

    mn_lab_text(r->claim, sizeof r->claim, "forward Euler on dh/dt = A h with step D is the "
                "linear RNN h_t = (I + D A) h_(t-1); its gradient over T steps explodes exactly "
                "when the spectral radius of I + D A exceeds 1: D > 2/|lambda| for the stiffest "
                "real stable eigenvalue lambda");
    mn_lab_text(r->quantity, sizeof r->quantity, "explosion threshold D* (bisection on the "
                "measured gradient growth) vs 2/|lambda| = %g", bound);
    mn_lab_text(r->criterion, sizeof r->criterion, "D* within %g of 2/|lambda| (relative); at "
                "every D of the sweep the measured growth per step within %g of rho(I + D A)",
                EULER_TOLERANCE, EULER_GROWTH_TOLERANCE);
    mn_lab_say(r,
        "setup: A = Q diag(lambda) Q^T, Q random orthogonal, H %d eigenvalues evenly in\n"
        "       [%g, %g]; tanh RNN layer with W_hh = I + D A, W_ih = 0, zero input (state 0,\n"
        "       tanh' = 1: the backward pass is exactly W^T per step); T %d, the loss at the\n"
        "       last step along each eigenvector in turn; |dL/dh_t| from the layer's probe.\n"
        "       growth = the largest |dL/dh_0| / |dL/dh_%d| over the directions.\n",
        H, EULER_LAMBDA_MIN, EULER_LAMBDA_MAX, T, T - 1);
    mn_lab_say(r, "\n  %8s  %8s  %12s  %12s  %9s  %12s  %8s  %8s\n", "D|lambda|", "D",
               "rho(I+DA)", "growth/step", "rel. err", "ratio T-1", "theory", "measured");
    int agree = 1;
    double worst = 0;
    for (int k = 0; k < EULER_N; k++) {
        double d = euler_sweep[k] / lam, rho = euler_radius(&e, d), ratio;
        if ((st = euler_ratio(&e, d, &ratio))) goto done;
        double g = pow(ratio, 1.0 / (T - 1)), err = mn_lab_rel_err(g, rho);
        worst = err > worst || err != err ? err : worst;
        int gt = rho > 1, gm = grows(ratio);
        agree &= gt == gm;
        mn_lab_say(r, "  %8g  %8.4g  %12.6g  %12.6g  %9.2e  %12.6g  %8s  %8s\n", euler_sweep[k], d,
                   rho, g, err, ratio, gt ? "grows" : "decays", gm ? "grows" : "decays");
        mn_lab_putf(r, g, "growth_%g", euler_sweep[k]);
        mn_lab_putf(r, rho, "radius_%g", euler_sweep[k]);
    }
    /* bisection on the measured growth between Δ = 0 (W = I: ratio 1, no growth) and
     * 1.5 times the bound (ρ = 2) */
    double lo = 0, hi = 1.5 * bound, ratio;
    if ((st = euler_ratio(&e, hi, &ratio))) goto done;
    int bracket = grows(ratio);
    if ((st = euler_ratio(&e, lo, &ratio))) goto done;
    bracket &= !grows(ratio);
    for (int i = 0; i < EULER_BISECTIONS && bracket; i++) {
        double mid = 0.5 * (lo + hi);
        if ((st = euler_ratio(&e, mid, &ratio))) goto done;
        if (grows(ratio)) hi = mid;
        else lo = mid;
    }
    double dstar = 0.5 * (lo + hi);
    mn_lab_say(r,
        "\n  threshold: the gradient starts to grow at D* = %.9g (bisection, %d halvings of\n"
        "  [0, %g]); the stability bound 2/|lambda| = %g: relative difference %.2e. float32's\n"
        "  rounding of I + D A moves the eigenvalues by ~1e-7. Between 1/|lambda| and 2/|lambda|\n"
        "  the stiff mode flips sign every step (1 + D lambda < 0) and still decays.\n"
        "  largest relative error of the growth per step over the sweep: %.2e\n",
        dstar, EULER_BISECTIONS, 1.5 * bound, bound, mn_lab_rel_err(dstar, bound), worst);
    mn_lab_put(r, "threshold_measured", dstar);
    mn_lab_put(r, "threshold_theory", bound);
    mn_lab_put(r, "lambda_min", EULER_LAMBDA_MIN);
    mn_lab_put(r, "max_growth_rel_error", worst);
    mn_lab_put(r, "length", T);
    mn_lab_put(r, "hidden", H);
    if (!applies)
        mn_lab_text(r->note, sizeof r->note, "over %d steps the sweep's gradient ratios span "
                    "1e%.0f to 1e%.0f, beyond the ~1e+-%.0f that a float32 backward pass can "
                    "hold; lower --length", T - 1, llo, lhi, MN_LAB_RANGE_DECADES);
    mn_lab_verdict(r, bound, dstar, applies,
                   bracket && agree && worst <= EULER_GROWTH_TOLERANCE &&
                       mn_lab_rel_err(dstar, bound) <= EULER_TOLERANCE);
done:
    mn_release(dbuf);
    mn_release(fbuf);
    mn_lab_bare_free(&e.bl);
    return st;
}

/* ------------------------------------------------------------ adjoint
 *
 * The state s_t is h_t (RNN, GRU) or (h_t, c_t) (LSTM), the step s_t = F(s_{t-1}, x_t),
 * and the loss Σ_t ℓ_t(h_t) with ∂ℓ_t/∂h_t = dy_t random at every step. The costate
 * λ_t = ∂L/∂s_t (each part holding the others fixed) obeys
 *   λ_{T-1} = (dy_{T-1}, 0),   λ_{t-1} = J_tᵀ λ_t + (dy_{t-1}, 0),   J_t = ∂s_t/∂s_{t-1},
 * and ∂L/∂x_t = (∂s_t/∂x_t)ᵀ λ_t. J_t and ∂s_t/∂x_t are built here as dense matrices, in
 * double, from the gates and states the forward stored (inspect) and the weights; the
 * recursion runs here too. mnemo's backward gives ‖∂L/∂h_t‖ (and for LSTM ‖∂L/∂c_t‖ with
 * the path through h_t, = λ^c_t + λ^h_t⊙o_t(1 - tanh²c_t)) through its probes, and ∂L/∂x_t
 * in full. Two controls show the comparison can fail: the recursion with J_t in place of
 * J_tᵀ, and with no recurrence at all (λ_t = ∂ℓ_t/∂h_t). */

#define ADJ_INPUT 4
#define ADJ_SEQS 2
#define ADJ_MAX_HIDDEN 256
#define ADJ_DEFAULT_LENGTH 20
#define ADJ_DEFAULT_HIDDEN 8
#define ADJ_TOLERANCE 1e-4

typedef struct {
    double dh_err, dc_err, dx_err;         /* largest relative differences */
    double ctrl_transposed, ctrl_local;    /* dx differences of the two controls */
    double lam0, probe0;                   /* batch-mean ‖λ^h_0‖ and the probe at step 0 */
} adj_cell;

/* J [S,S] = ∂s_t/∂s_{t-1} and Jx [S,I] = ∂s_t/∂x_t of sequence b, row-major. */
static void step_jacobian(mn_cell_kind cell, const mn_recurrent_view *v, const float *W_ih,
                          const float *b_hh, int I, int t, int b, double *J, double *Jx) {
    int H = v->H, S = v->state_size, G = v->gates, B = v->B;
    const float *W = v->W_hh, *a = v->act + ((size_t)t * B + b) * G * H;
    const float *hp = v->hs + ((size_t)t * B + b) * H;
    memset(J, 0, (size_t)S * S * sizeof(double));
    memset(Jx, 0, (size_t)S * I * sizeof(double));
    for (int r = 0; r < H; r++) {
        if (cell == MN_RNN_TANH) {
            double d = 1 - (double)a[r] * a[r];
            for (int c = 0; c < H; c++) J[(size_t)r * S + c] = d * W[(size_t)r * H + c];
            for (int k = 0; k < I; k++) Jx[(size_t)r * I + k] = d * W_ih[(size_t)r * I + k];
        } else if (cell == MN_LSTM) {
            double i = a[r], f = a[H + r], g = a[2 * H + r], o = a[3 * H + r];
            double cp = v->cs[((size_t)t * B + b) * H + r];
            double tc = tanh((double)v->cs[((size_t)(t + 1) * B + b) * H + r]);
            double ci = g * i * (1 - i), cf = cp * f * (1 - f), cg = i * (1 - g * g);
            double ho = tc * o * (1 - o), hc = o * (1 - tc * tc);
            for (int c = 0; c < H; c++) {
                double dc = ci * W[(size_t)r * H + c] + cf * W[(size_t)(H + r) * H + c] +
                            cg * W[(size_t)(2 * H + r) * H + c];
                J[(size_t)(H + r) * S + c] = dc;
                J[(size_t)r * S + c] = ho * W[(size_t)(3 * H + r) * H + c] + hc * dc;
            }
            J[(size_t)(H + r) * S + H + r] = f;
            J[(size_t)r * S + H + r] = hc * f;
            for (int k = 0; k < I; k++) {
                double dc = ci * W_ih[(size_t)r * I + k] + cf * W_ih[(size_t)(H + r) * I + k] +
                            cg * W_ih[(size_t)(2 * H + r) * I + k];
                Jx[(size_t)(H + r) * I + k] = dc;
                Jx[(size_t)r * I + k] = ho * W_ih[(size_t)(3 * H + r) * I + k] + hc * dc;
            }
        } else { /* GRU: n = tanh(x_n + r⊙hn), hn = W_hn h_{t-1} + b_hn, h = (1-z)n + z h_{t-1} */
            double rg = a[r], z = a[H + r], n = a[2 * H + r], hn = b_hh[2 * H + r];
            for (int c = 0; c < H; c++) hn += (double)W[(size_t)(2 * H + r) * H + c] * hp[c];
            double cz = (hp[r] - n) * z * (1 - z), dn = (1 - z) * (1 - n * n);
            double cr = hn * rg * (1 - rg);
            for (int c = 0; c < H; c++)
                J[(size_t)r * S + c] = cz * W[(size_t)(H + r) * H + c] +
                                       dn * (rg * W[(size_t)(2 * H + r) * H + c] +
                                             cr * W[(size_t)r * H + c]);
            J[(size_t)r * S + r] += z;
            for (int k = 0; k < I; k++)
                Jx[(size_t)r * I + k] = cz * W_ih[(size_t)(H + r) * I + k] +
                                        dn * (W_ih[(size_t)(2 * H + r) * I + k] +
                                              cr * W_ih[(size_t)r * I + k]);
        }
    }
}

/* y = Mᵀ u (transpose) or M u, M [rows, cols] */
static void apply(const double *M, int rows, int cols, const double *u, double *y, int transpose) {
    for (int i = 0; i < (transpose ? cols : rows); i++) y[i] = 0;
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < cols; j++) {
            if (transpose) y[j] += M[(size_t)i * cols + j] * u[i];
            else y[i] += M[(size_t)i * cols + j] * u[j];
        }
}

static double vnorm(const double *v, int n) {
    double s = 0;
    for (int i = 0; i < n; i++) s += v[i] * v[i];
    return sqrt(s);
}

/* ‖dx - ref‖ / ‖ref‖ with dx in float */
static double dx_error(const float *dx, const double *ref, int n) {
    double d = 0, s = 0;
    for (int i = 0; i < n; i++) {
        d += ((double)dx[i] - ref[i]) * ((double)dx[i] - ref[i]);
        s += ref[i] * ref[i];
    }
    return s > 0 ? sqrt(d / s) : d > 0 ? INFINITY : 0;
}

static void worse(double *w, double e) { *w = e > *w || e != e ? e : *w; }

static mn_status adjoint_cell(mn_cell_kind cell, const mn_lab_settings *s, adj_cell *res) {
    int T = s->T, H = s->H, B = ADJ_SEQS, I = ADJ_INPUT;
    memset(res, 0, sizeof *res);
    mn_lab_bare bl;
    mn_status st = mn_lab_bare_create(&bl, cell, I, H);
    if (st) return st;
    mn_rng rng;
    mn_rng_seed(&rng, s->seed);
    mn_init_config ic = {MN_INIT_UNIFORM, 1.0f, 0.0f, 0};
    bl.l->ops->init(bl.l, &rng, &ic);
    const int has_c = mn_cell_kernel_for(cell)->has_cell;   /* a c state beside h */
    int S = has_c ? 2 * H : H;
    size_t nx = (size_t)T * B * I, ny = (size_t)T * B * H;
    float *fb = mn_alloc((2 * nx + ny) * sizeof(float));
    double *db = NULL;
    if (!fb || (st = mn_lab_alloc_doubles(&db, (size_t)S * S + (size_t)S * I + 4 * (size_t)S +
                                                   3 * (size_t)I + 4 * (size_t)T))) {
        st = st ? st : MN_E_NOMEM;
        goto done;
    }
    float *x = fb, *dx = x + nx, *dy = dx + nx;
    double *J = db, *Jx = J + (size_t)S * S, *lam = Jx + (size_t)S * I, *lt = lam + S,
           *tmp = lt + S, *ll = tmp + S, *xr = ll + S, *xt = xr + I,
           *xl = xt + I, *probe_dh = xl + I, *probe_dc = probe_dh + T, *nh = probe_dc + T,
           *nc = nh + T;
    for (size_t i = 0; i < nx; i++) x[i] = mn_rng_uniform_range(&rng, -1.0f, 1.0f);
    for (size_t i = 0; i < ny; i++) dy[i] = (float)mn_rng_normal(&rng);
    if ((st = mn_lab_bare_pass(&bl, x, dy, T, B, probe_dh, has_c ? probe_dc : NULL,
                               dx)))
        goto done;
    mn_recurrent_view v;
    if (!bl.l->ops->inspect(bl.l, &v)) {
        st = mn_fail(MN_E_STATE, "adjoint: the layer shows no state after its forward");
        goto done;
    }
    const float *W_ih = mn_lab_bare_tensor(&bl, "weight_ih");
    const float *b_hh = mn_lab_bare_tensor(&bl, "bias_hh");
    for (int b = 0; b < B; b++) {
        /* λ (the adjoint), lt (J_t in place of J_tᵀ), ll (no recurrence) */
        for (int i = 0; i < S; i++) lam[i] = lt[i] = ll[i] = 0;
        for (int i = 0; i < H; i++) lam[i] = lt[i] = dy[((size_t)(T - 1) * B + b) * H + i];
        for (int t = T - 1; t >= 0; t--) {
            const float *dyt = dy + ((size_t)t * B + b) * H;
            for (int i = 0; i < S; i++) ll[i] = i < H ? dyt[i] : 0;
            nh[t] += vnorm(lam, H) / B;
            if (has_c) {   /* what the probe reads (LSTM): λ^c + λ^h⊙o(1 - tanh²c) */
                const float *o = v.act + ((size_t)t * B + b) * 4 * H + 3 * H;
                const float *c = v.cs + ((size_t)(t + 1) * B + b) * H;
                for (int i = 0; i < H; i++) {
                    double tc = tanh((double)c[i]);
                    tmp[i] = lam[H + i] + lam[i] * o[i] * (1 - tc * tc);
                }
                nc[t] += vnorm(tmp, H) / B;
            }
            step_jacobian(cell, &v, W_ih, b_hh, I, t, b, J, Jx);
            apply(Jx, S, I, lam, xr, 1);
            apply(Jx, S, I, lt, xt, 1);
            apply(Jx, S, I, ll, xl, 1);
            const float *dxt = dx + ((size_t)t * B + b) * I;
            worse(&res->dx_err, dx_error(dxt, xr, I));
            worse(&res->ctrl_transposed, dx_error(dxt, xt, I));
            worse(&res->ctrl_local, dx_error(dxt, xl, I));
            if (t == 0) break;
            const float *dyp = dy + ((size_t)(t - 1) * B + b) * H;
            apply(J, S, S, lam, tmp, 1);
            for (int i = 0; i < S; i++) lam[i] = tmp[i] + (i < H ? dyp[i] : 0);
            apply(J, S, S, lt, tmp, 0);
            for (int i = 0; i < S; i++) lt[i] = tmp[i] + (i < H ? dyp[i] : 0);
        }
    }
    for (int t = 0; t < T; t++) {
        worse(&res->dh_err, mn_lab_rel_err(probe_dh[t], nh[t]));
        if (has_c) worse(&res->dc_err, mn_lab_rel_err(probe_dc[t], nc[t]));
    }
    res->lam0 = nh[0];
    res->probe0 = probe_dh[0];
done:
    mn_release(fb);
    mn_release(db);
    mn_lab_bare_free(&bl);
    return st;
}

mn_status mn_lab_adjoint(const mn_lab_options *o, mn_lab_result *r) {
    mn_lab_options d = *o;
    if (!d.length) d.length = ADJ_DEFAULT_LENGTH;
    if (!d.hidden) d.hidden = ADJ_DEFAULT_HIDDEN;
    mn_lab_settings s;
    mn_status st = mn_lab_resolve(&d, 1.0, &s);
    if (st) return st;
    if (s.H > ADJ_MAX_HIDDEN)
        return mn_fail(MN_E_ARG, "hidden size must be at most %d here (the step Jacobians "
                       "are dense), got %d", ADJ_MAX_HIDDEN, s.H);
    static const struct { mn_cell_kind cell; const char *name, *state; } cells[] = {
        {MN_RNN_TANH, "rnn", "h"}, {MN_LSTM, "lstm", "(h, c)"}, {MN_GRU, "gru", "h"}};
    mn_lab_text(r->claim, sizeof r->claim, "mnemo's backward pass is the adjoint (costate) "
                "recursion lambda_t = J_(t+1)^T lambda_(t+1) + dl_t/dh_t over the step "
                "Jacobians, to float precision, for RNN, LSTM and GRU");
    mn_lab_text(r->quantity, sizeof r->quantity, "largest relative difference between mnemo's "
                "|dL/dh_t|, |dL/dc_t|, dL/dx_t and the adjoint's, over the three cells");
    mn_lab_text(r->criterion, sizeof r->criterion, "every difference within %g (applies where "
                "the control without recurrence differs by more)", ADJ_TOLERANCE);
    mn_lab_say(r,
        "setup: one layer of each cell, H %d, T %d, %d inputs U(-1,1), %d sequences,\n"
        "       PyTorch's init; the loss gradient dl_t/dh_t random N(0,1) at every step.\n"
        "       adjoint: step Jacobians J_t = ds_t/ds_(t-1) and ds_t/dx_t built in double\n"
        "       from the stored gates, states and weights; lambda run backwards from\n"
        "       lambda_(T-1) = dl/dh_(T-1). mnemo: its backward's |dL/dh_t| (and |dL/dc_t|)\n"
        "       probes and dL/dx_t.\n",
        s.H, s.T, ADJ_INPUT, ADJ_SEQS);
    mn_lab_say(r, "\n  %-5s  %-6s  %12s  %12s  %9s  %9s  %9s  %11s  %11s\n", "cell", "state",
               "|lambda_0|", "mnemo dh_0", "dh err", "dc err", "dx err", "J for J^T",
               "no recur.");
    double worst = 0, ctrl = INFINITY, ctrl_t = INFINITY;
    for (int k = 0; k < 3; k++) {
        adj_cell c;
        if ((st = adjoint_cell(cells[k].cell, &s, &c))) return st;
        worse(&worst, c.dh_err);
        worse(&worst, c.dc_err);
        worse(&worst, c.dx_err);
        ctrl = fmin(ctrl, c.ctrl_local);
        ctrl_t = fmin(ctrl_t, c.ctrl_transposed);
        const int has_c = mn_cell_kernel_for(cells[k].cell)->has_cell;
        if (has_c)
            mn_lab_say(r, "  %-5s  %-6s  %12.6g  %12.6g  %9.2e  %9.2e  %9.2e  %11.3g  %11.3g\n",
                       cells[k].name, cells[k].state, c.lam0, c.probe0, c.dh_err, c.dc_err,
                       c.dx_err, c.ctrl_transposed, c.ctrl_local);
        else
            mn_lab_say(r, "  %-5s  %-6s  %12.6g  %12.6g  %9.2e  %9s  %9.2e  %11.3g  %11.3g\n",
                       cells[k].name, cells[k].state, c.lam0, c.probe0, c.dh_err, "-", c.dx_err,
                       c.ctrl_transposed, c.ctrl_local);
        mn_lab_putf(r, c.dh_err, "%s_dh_error", cells[k].name);
        mn_lab_putf(r, c.dx_err, "%s_dx_error", cells[k].name);
        if (has_c) mn_lab_putf(r, c.dc_err, "%s_dc_error", cells[k].name);
        mn_lab_putf(r, c.ctrl_transposed, "%s_control_transposed", cells[k].name);
        mn_lab_putf(r, c.ctrl_local, "%s_control_no_recurrence", cells[k].name);
    }
    mn_lab_say(r,
        "\n  dh, dc err: largest over steps of |mnemo's probe / the adjoint's mean norm - 1|;\n"
        "  dx err: largest over steps and sequences of |dx - dx_adjoint| / |dx_adjoint|.\n"
        "  controls: the same dx error for the recursion with J_t in place of J_t^T (smallest\n"
        "  %.3g; with H = 1 the two agree) and with no recurrence, lambda_t = dl_t/dh_t\n"
        "  (smallest %.3g): what the comparison tells apart.\n", ctrl_t, ctrl);
    mn_lab_put(r, "length", s.T);
    mn_lab_put(r, "hidden", s.H);
    mn_lab_put(r, "max_rel_error", worst);
    mn_lab_put(r, "min_control_error", ctrl);
    mn_lab_put(r, "min_control_transposed_error", ctrl_t);
    int applies = ctrl > 10 * ADJ_TOLERANCE;
    if (!applies)
        mn_lab_text(r->note, sizeof r->note, "the recurrence changes dL/dx by only %.2g here (the "
                    "control without it), too little for the comparison to tell the adjoint "
                    "from no recurrence at %g", ctrl, ADJ_TOLERANCE);
    mn_lab_verdict(r, 0.0, worst, applies, worst <= ADJ_TOLERANCE);
    return MN_OK;
}
