/* Per-time-step gradient norms, recorded on the model's own backward pass.
 *
 * The recurrent backward loop holds ∂L/∂h_t (and ∂L/∂c_t) for every step anyway; when a
 * layer's probe pointer is set it adds the batch-mean norm of that row block into
 * probe[t]. The recorder owns one [max_T] row per layer and role, and for each backward
 * chunk [t0, t0+k) points the probes at row + t0, so truncated BPTT lands at the right
 * absolute steps. Without a recorder the probes stay NULL and cost nothing. */
#include "model.h"

#include <math.h>
#include <string.h>

struct mn_grad_recorder {
    mn_model *m;
    int max_T, L;
    double *dh, *dc;   /* [L, max_T] sums over passes */
    double *dx;        /* [L+1, max_T]: ‖∂L/∂x_t‖ at block l's input (l = L: the top output) */
    int passes, t0, k; /* the chunk being recorded; k = 0 when it lies past max_T */
    float *dx0;        /* ∂L/∂(dense input), which a model without a recorder never forms */
    size_t dx0_cap;
};

mn_status mn_grad_recorder_attach(mn_model *m, int max_T, mn_grad_recorder **out) {
    *out = NULL;
    if (!m || max_T < 1)
        return mn_fail(MN_E_ARG, "a gradient recorder needs a model and max_T >= 1 (got %d)",
                       max_T);
    if (m->recorder)
        return mn_fail(MN_E_STATE, "this model already has a gradient recorder; detach it first");
    mn_grad_recorder *r = mn_alloc_zero(sizeof *r);
    if (!r) return MN_E_NOMEM;
    size_t n;
    if (!mn_mul_size((size_t)m->L * 3 + 1, (size_t)max_T, &n) ||
        !(r->dh = mn_alloc_zero(n * sizeof(double)))) {
        mn_release(r);
        return mn_fail(MN_E_NOMEM, "no memory for a gradient profile of %d steps", max_T);
    }
    r->dc = r->dh + (size_t)m->L * max_T;
    r->dx = r->dc + (size_t)m->L * max_T;
    r->m = m;
    r->max_T = max_T;
    r->L = m->L;
    m->recorder = r;
    *out = r;
    return MN_OK;
}

void mn_grad_recorder_detach(mn_grad_recorder *r) {
    if (!r) return;
    if (r->m && r->m->recorder == r) {
        mn_grad_recorder_unbind(r->m);
        r->m->recorder = NULL;
    }
    mn_release(r->dh);
    mn_release(r->dx0);
    mn_release(r);
}

void mn_grad_recorder_model_freed(mn_model *m) {
    if (m->recorder) m->recorder->m = NULL;
    m->recorder = NULL;
}

void mn_grad_recorder_clear(mn_grad_recorder *r) {
    memset(r->dh, 0, ((size_t)r->L * 3 + 1) * r->max_T * sizeof(double));
    r->passes = 0;
}

/* A chunk past max_T is not recorded (its rows do not exist); a pass counts once, at the
 * chunk that starts the sequence. */
void mn_grad_recorder_bind(mn_model *m, int t0, int k) {
    mn_grad_recorder *r = m->recorder;
    if (t0 == 0) r->passes++;
    int inside = t0 + k <= r->max_T;
    r->t0 = t0;
    r->k = inside ? k : 0;
    for (int l = 0; l < m->L; l++) {
        m->layers[l]->probe_dh = inside ? r->dh + (size_t)l * r->max_T + t0 : NULL;
        m->layers[l]->probe_dc = inside ? r->dc + (size_t)l * r->max_T + t0 : NULL;
    }
}

void mn_grad_recorder_bind_source(mn_model *m, int S) {
    mn_grad_recorder *r = m->recorder;
    int passes = r->passes;
    mn_grad_recorder_bind(m, 0, S);
    r->passes = passes;
}

void mn_grad_recorder_unbind(mn_model *m) {
    for (int l = 0; l < m->L; l++) {
        m->layers[l]->probe_dh = NULL;
        m->layers[l]->probe_dc = NULL;
    }
}

/* dx[T,B,D] is ∂L/∂(input of block l) for the chunk: add its batch-mean row norms. */
void mn_grad_recorder_block_input(mn_model *m, int l, const float *dx, int B, int D) {
    mn_grad_recorder *r = m->recorder;
    double *row = r->dx + (size_t)l * r->max_T + r->t0;
    for (int t = 0; t < r->k; t++) {
        double sum = 0;
        for (int b = 0; b < B; b++) {
            const float *v = dx + ((size_t)t * B + b) * D;
            double s2 = 0;
            for (int j = 0; j < D; j++) s2 += (double)v[j] * v[j];
            sum += sqrt(s2);
        }
        row[t] += sum / B;
    }
}

mn_status mn_grad_recorder_dense_input(mn_model *m, size_t floats, float **dx) {
    mn_grad_recorder *r = m->recorder;
    if (mn_reserve((void **)&r->dx0, &r->dx0_cap, floats * sizeof(float)) != MN_OK)
        return mn_fail(MN_E_NOMEM, "out of memory recording the input gradient");
    memset(r->dx0, 0, floats * sizeof(float));
    *dx = r->dx0;
    return MN_OK;
}

int mn_grad_recorder_input_profile(const mn_grad_recorder *r, int block, double *dx) {
    int ok = block >= 0 && block <= r->L && r->passes > 0;
    for (int t = 0; t < r->max_T; t++)
        dx[t] = ok ? r->dx[(size_t)block * r->max_T + t] / r->passes : 0.0;
    return ok ? r->passes : 0;
}

int mn_grad_recorder_profile(const mn_grad_recorder *r, int layer, double *dh, double *dc) {
    int ok = layer >= 0 && layer < r->L && r->passes > 0;
    for (int t = 0; t < r->max_T; t++) {
        size_t i = (size_t)(ok ? layer : 0) * r->max_T + t;
        if (dh) dh[t] = ok ? r->dh[i] / r->passes : 0.0;
        if (dc) dc[t] = ok ? r->dc[i] / r->passes : 0.0;
    }
    return ok ? r->passes : 0;
}

void mn_gradient_ratio(const double *norm, int T, double *ratio) {
    double last = T > 0 ? norm[T - 1] : 0.0;
    for (int lag = 0; lag < T; lag++)
        ratio[lag] = last > 0 && isfinite(last) ? norm[T - 1 - lag] / last : 0.0;
}

int mn_gradient_horizon(const double *norm, int T, double threshold) {
    if (T < 1) return 0;
    double last = norm[T - 1];
    if (!(last > 0) || !isfinite(last)) return 0;
    /* An exactly-zero lag is a hole the model's structure leaves (a dilated convolution's
     * taps skip steps), not a vanished gradient: it is stepped over, and the horizon ends
     * at the last lag at or above the threshold. Zeros up to the first step count as
     * reached only when no longer than the holes between reached lags (the same pattern);
     * a gradient that underflowed to 0 leaves no holes before it, so it is not. */
    int reached = 0, run = 0, longest = 0;
    for (int lag = 1; lag < T; lag++) {
        double r = norm[T - 1 - lag] / last;
        if (r >= threshold) {
            reached = lag;
            longest = run > longest ? run : longest;
            run = 0;
        } else if (r == 0) {
            run++;
        } else {
            return reached;
        }
    }
    return run > 0 && run <= longest ? T - 1 : reached;
}
