/* The recurrence of a layer, measured two ways:
 *  - its weights: spectral radius and leading singular values of the W_hh block that
 *    feeds the new content (power and subspace iteration); with a projection (an LSTM's
 *    h = W_hr·m) the block times W_hr, the square map from m_{t-1} to that content;
 *  - its dynamics along real sequences: the product of the step Jacobians ∂s_t/∂s_{t-1}
 *    (s = h, or (h, c) for LSTM), whose leading singular values decide how much gradient
 *    survives T steps. The product is applied transposed, through the layer's own
 *    per-step VJP, to k orthonormal vectors re-orthonormalized after every step (the QR
 *    method for Lyapunov exponents), so it never under- or overflows. */
#include "model.h"

#include <float.h>
#include <math.h>
#include <string.h>

#define POWER_ITERS 400
#define SUBSPACE_ITERS 100

static void matvec(const float *W, int H, const double *x, double *y, int transpose) {
    for (int i = 0; i < H; i++) y[i] = 0;
    for (int i = 0; i < H; i++)
        for (int j = 0; j < H; j++) {
            double w = W[(size_t)i * H + j];
            if (transpose) y[j] += w * x[i];
            else y[i] += w * x[j];
        }
}

static double norm(const double *x, int n) {
    double s = 0;
    for (int i = 0; i < n; i++) s += x[i] * x[i];
    return sqrt(s);
}

/* ρ(W) = lim ‖Wᵏv‖^(1/k): the mean log growth per step over the second half of the
 * iterations, which converges even when the dominant eigenvalues are a complex pair. */
static double spectral_radius(const float *W, int H, mn_rng *rng, double *v, double *w) {
    for (int i = 0; i < H; i++) v[i] = mn_rng_normal(rng);
    double nv = norm(v, H), logsum = 0;
    int counted = 0;
    for (int it = 0; it < POWER_ITERS; it++) {
        for (int i = 0; i < H; i++) v[i] /= nv;
        matvec(W, H, v, w, 0);
        double nw = norm(w, H);
        if (!(nw > 0)) return 0.0;     /* nilpotent on this start: no growth at all */
        if (it >= POWER_ITERS / 2) {
            logsum += log(nw);
            counted++;
        }
        memcpy(v, w, (size_t)H * sizeof(double));
        nv = nw;
    }
    return exp(logsum / counted);
}

/* Modified Gram-Schmidt on k vectors of length n; returns the norms (R's diagonal) before
 * normalization. A vector that collapses is replaced by a fresh random orthogonal one. */
static void orthonormalize(double *Q, int k, int n, double *r, mn_rng *rng) {
    for (int i = 0; i < k; i++) {
        double *q = Q + (size_t)i * n;
        for (int tries = 0; tries < 3; tries++) {
            for (int j = 0; j < i; j++) {
                const double *p = Q + (size_t)j * n;
                double d = 0;
                for (int x = 0; x < n; x++) d += q[x] * p[x];
                for (int x = 0; x < n; x++) q[x] -= d * p[x];
            }
            double nq = norm(q, n);
            if (tries == 0) r[i] = nq;
            if (nq > 1e-300) {
                for (int x = 0; x < n; x++) q[x] /= nq;
                break;
            }
            for (int x = 0; x < n; x++) q[x] = mn_rng_normal(rng);
        }
    }
}

/* Leading singular values of W by subspace iteration on WᵀW. */
static void singular_values(const float *W, int H, int k, mn_rng *rng, double *Q, double *tmp,
                            double *out) {
    double r[MN_DIAG_SINGULAR];
    for (size_t i = 0; i < (size_t)k * H; i++) Q[i] = mn_rng_normal(rng);
    orthonormalize(Q, k, H, r, rng);
    for (int it = 0; it < SUBSPACE_ITERS; it++) {
        for (int i = 0; i < k; i++) {
            matvec(W, H, Q + (size_t)i * H, tmp, 0);
            matvec(W, H, tmp, Q + (size_t)i * H, 1);
        }
        orthonormalize(Q, k, H, r, rng);
    }
    for (int i = 0; i < k; i++) {
        matvec(W, H, Q + (size_t)i * H, tmp, 0);
        out[i] = norm(tmp, H);
    }
}

/* Σ log of R's diagonal over the steps of one sequence: log singular values of the
 * product of its step Jacobians. */
static void jacobian_logs(mn_layer *l, const mn_recurrent_view *v, int s, int len, int k,
                          mn_rng *rng, double *Q, float *u, double *logs) {
    int S = v->state_size, P = v->P;
    double r[MN_DIAG_SINGULAR];
    for (size_t i = 0; i < (size_t)k * S; i++) Q[i] = mn_rng_normal(rng);
    orthonormalize(Q, k, S, r, rng);
    for (int i = 0; i < k; i++) logs[i] = 0;
    for (int t = len - 1; t >= 0; t--) {
        for (int i = 0; i < k; i++) {
            double *q = Q + (size_t)i * S;
            for (int x = 0; x < S; x++) u[x] = (float)q[x];
            l->ops->step_vjp(l, t, s, u, S > P ? u + P : NULL);
            for (int x = 0; x < S; x++) q[x] = u[x];
        }
        orthonormalize(Q, k, S, r, rng);
        for (int i = 0; i < k; i++) logs[i] += log(r[i] > 1e-300 ? r[i] : 1e-300);
    }
}

mn_status mn_recurrence_measure(mn_model *m, const mn_batch *b, int layer, int max_sequences,
                                mn_recurrence_stats *out) {
    memset(out, 0, sizeof *out);
    mn_recurrent_view v;
    mn_status st = mn_diag_forward_view(m, b, layer, &v);
    if (st) return st;
    mn_layer *l = m->layers[layer];
    int H = v.H, P = v.P, S = v.state_size;
    int k = MN_MIN(MN_DIAG_SINGULAR, H), kj = MN_MIN(MN_DIAG_SINGULAR, S);
    size_t n = (size_t)4 * S + (size_t)MN_DIAG_SINGULAR * S;   /* v, w, tmp + Q */
    double *work = mn_alloc(n * sizeof(double));
    float *u = mn_alloc((size_t)S * sizeof(float) + (v.W_hr ? (size_t)H * H * sizeof(float) : 0));
    if (!work || !u) {
        mn_release(work);
        mn_release(u);
        return MN_E_NOMEM;
    }
    double *pv = work, *pw = pv + S, *tmp = pw + S, *Q = tmp + 2 * (size_t)S;
    mn_rng rng;
    mn_rng_seed(&rng, 0x6a6163u);

    const float *blk = v.W_hh + (size_t)v.candidate_block * H * P;
    if (v.W_hr) {   /* [H, P]·[P, H]: the candidate's map from m_{t-1} */
        float *sq = u + S;
        for (int i = 0; i < H; i++)
            for (int j = 0; j < H; j++) {
                double sum = 0;
                for (int p = 0; p < P; p++)
                    sum += (double)blk[(size_t)i * P + p] * v.W_hr[(size_t)p * H + j];
                sq[(size_t)i * H + j] = (float)sum;
            }
        blk = sq;
    }
    out->state_size = S;
    out->spectral_radius = spectral_radius(blk, H, &rng, pv, pw);
    singular_values(blk, H, k, &rng, Q, tmp, out->singular);

    int nseq = max_sequences > 0 ? MN_MIN(max_sequences, v.B) : v.B;
    double sum_logs[MN_DIAG_SINGULAR] = {0}, logs[MN_DIAG_SINGULAR], lyap = 0, steps = 0;
    for (int s = 0; s < nseq; s++) {
        int len = b->lengths ? b->lengths[s] : v.T;
        jacobian_logs(l, &v, s, len, kj, &rng, Q, u, logs);
        for (int i = 0; i < kj; i++) sum_logs[i] += logs[i];
        lyap += logs[0] / len;
        steps += len;
    }
    for (int i = 0; i < kj; i++) out->jacobian_log10_singular[i] = sum_logs[i] / nseq / log(10.0);
    out->lyapunov = lyap / nseq;
    out->steps = (int)lrint(steps / nseq);
    out->sequences = nseq;
    mn_release(work);
    mn_release(u);
    return MN_OK;
}
