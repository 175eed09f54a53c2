/* The gradient check and the golden comparison shared by the layer tests (layer_check.h). */
#include "test.h"
#include "layer_check.h"

#include <float.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------ finite differences */

typedef struct {
    mn_layer *l;
    int T, B;
    const int32_t *lengths;
    int keep_state;            /* a carried state: no reset between forwards */
    float *x, *y, *w, *dx;
} harness;

void mn_check_randomize(float *v, size_t n, mn_rng *r, float scale) {
    for (size_t i = 0; i < n; i++) v[i] = mn_rng_uniform_range(r, -scale, scale);
}

int mn_check_close(double a, double n) {
    return fabs(a - n) <= 2e-2 * fmax(fabs(a), fabs(n)) + 2e-3;
}

static double loss_of(harness *h) {
    if (!h->keep_state) mn_layer_reset(h->l);
    h->l->ops->forward(h->l, h->x, h->y, h->T, h->B, h->lengths);
    double s = 0;
    for (size_t i = 0; i < (size_t)h->T * h->B * h->l->out_size; i++)
        s += (double)h->y[i] * h->w[i];
    return s;
}

static const char *param_name(const mn_layer *l, size_t i) {
    for (int s = 0; s < l->nspecs; s++)
        if (i >= l->specs[s].offset && i < l->specs[s].offset + l->specs[s].size)
            return l->specs[s].name;
    return "?";
}

void mn_check_layer_grads(const char *what, mn_layer *l, int T, int B, const int32_t *lengths,
                          int flags, uint64_t seed, float eps) {
    mn_rng r;
    mn_rng_seed(&r, seed);
    size_t nx = (size_t)T * B * l->in_size, ny = (size_t)T * B * l->out_size;
    /* + 1: a layer without parameters still gets two distinct buffers */
    float *params = calloc(l->param_count + 1, 4), *grads = calloc(l->param_count + 1, 4);
    harness h = {l, T, B, lengths, 0, calloc(nx, 4), calloc(ny, 4), calloc(ny, 4), calloc(nx, 4)};
    l->params = params;
    l->grads = grads;
    mn_init_config ic = {MN_INIT_UNIFORM, 1.0f, 1.0f, 0};
    l->ops->init(l, &r, &ic);
    for (size_t i = 0; i < l->param_count; i++) {
        float u = mn_rng_uniform_range(&r, -0.6f, 0.6f);
        if (flags & MN_CHECK_NEAR_INIT) params[i] += u;
        else params[i] = u;
    }
    mn_check_randomize(h.x, nx, &r, 1.0f);
    mn_check_randomize(h.w, ny, &r, 1.0f);
    if (flags & MN_CHECK_TRAINING) {
        if (l->ops->set_mode) l->ops->set_mode(l, 1, seed * 7919 + 1);
        else mn_test_fail(__FILE__, __LINE__, "%s: no set_mode", what);
    }
    if (flags & MN_CHECK_CARRY) {
        loss_of(&h);               /* first chunk: its final state becomes the next h0 */
        if (l->ops->carry_state(l) != MN_OK) {
            mn_test_fail(__FILE__, __LINE__, "%s: carry_state failed: %s", what, mn_last_error());
            goto done;
        }
        h.keep_state = 1;
        mn_check_randomize(h.x, nx, &r, 1.0f);
    }
    loss_of(&h);
    if (l->ops->backward(l, h.w, h.dx, T, B, lengths) != MN_OK) {
        mn_test_fail(__FILE__, __LINE__, "%s: backward failed: %s", what, mn_last_error());
        goto done;
    }
    int bad = 0;
    for (size_t i = 0; i < l->param_count && bad < 5; i++) {
        float keep = params[i];
        params[i] = keep + eps; double lp = loss_of(&h);
        params[i] = keep - eps; double lm = loss_of(&h);
        params[i] = keep;
        double num = (lp - lm) / (2 * eps);
        if (!mn_check_close(grads[i], num)) {
            mn_test_fail(__FILE__, __LINE__, "%s: d/d%s[%zu]: analytic %.6g, numeric %.6g",
                         what, param_name(l, i), i, grads[i], num);
            bad++;
        }
    }
    for (size_t i = 0; i < nx && bad < 5; i++) {
        float keep = h.x[i];
        h.x[i] = keep + eps; double lp = loss_of(&h);
        h.x[i] = keep - eps; double lm = loss_of(&h);
        h.x[i] = keep;
        double num = (lp - lm) / (2 * eps);
        if (!mn_check_close(h.dx[i], num)) {
            mn_test_fail(__FILE__, __LINE__, "%s: d/dx[%zu]: analytic %.6g, numeric %.6g",
                         what, i, h.dx[i], num);
            bad++;
        }
    }
done:
    l->params = l->grads = NULL;
    free(params); free(grads); free(h.x); free(h.y); free(h.w); free(h.dx);
}

float *mn_check_alloc_params(mn_layer *l) {
    l->params = calloc(l->param_count, 4);
    l->grads = calloc(l->param_count, 4);
    return l->params;
}

void mn_check_free_layer(mn_layer *l) {
    if (!l) return;
    float *p = l->params, *g = l->grads;
    mn_layer_destroy(l);
    free(p);
    free(g);
}

/* ------------------------------------------------------------ golden files */

/* The worst error and where (at), and the tensor's scale; ref_t already checked. */
static double worst_error(const float *got, const mn_st_tensor *ref_t, size_t n, size_t *at,
                          double *scale_out) {
    *at = 0;
    if (scale_out) *scale_out = 0;
    /* a copy: the file's data need not be aligned (+ 1: n = 0 is no allocation failure) */
    float *ref = malloc(n * sizeof *ref + 1);
    if (!ref) return INFINITY;
    memcpy(ref, ref_t->data, n * sizeof *ref);
    double scale = 0, worst = 0;
    for (size_t i = 0; i < n; i++) scale = fmax(scale, fabs(ref[i]));
    for (size_t i = 0; i < n; i++) {
        double denom = fmax(fmax(fabs(ref[i]), 1e-2 * scale), DBL_MIN);
        double err = fabs((double)got[i] - ref[i]) / denom;
        if (!(err <= worst)) { worst = err; *at = i; }   /* NaN becomes the worst */
        if (isnan(err)) break;
    }
    if (scale_out) *scale_out = scale;
    free(ref);
    return worst;
}

static int usable(const mn_st_tensor *ref, size_t n) {
    return ref && ref->dtype == MN_ST_F32 && ref->numel == n;
}

double mn_check_rel_error(const float *got, const mn_st_tensor *ref, size_t n) {
    size_t at;
    return usable(ref, n) ? worst_error(got, ref, n, &at, NULL) : INFINITY;
}

int mn_check_against(const char *fixture, const char *what, const float *got,
                     const mn_st_tensor *ref, size_t n, double tol) {
    if (!usable(ref, n)) {
        if (!ref) mn_test_fail(__FILE__, __LINE__, "%s: %s is absent from the fixture", fixture,
                               what);
        else mn_test_fail(__FILE__, __LINE__, "%s: %s has %zu elements%s in the fixture, the "
                          "layer gives %zu F32", fixture, what, ref->numel,
                          ref->dtype == MN_ST_F32 ? "" : " (not F32)", n);
        return 0;
    }
    size_t at;
    double scale;
    double worst = worst_error(got, ref, n, &at, &scale);
    int ok = worst <= tol;
    if (!ok) {
        float r;
        memcpy(&r, (const float *)ref->data + at, sizeof r);
        mn_test_fail(__FILE__, __LINE__, "%s: %s element %zu: got %.9g, PyTorch %.9g "
                     "(relative error %.3g > %g; tensor scale %.3g)", fixture, what, at,
                     (double)got[at], (double)r, worst, tol, scale);
    }
    if (getenv("MNEMO_GOLDEN_VERBOSE"))
        printf("    %s %s: worst relative error %.3g\n", fixture, what, worst);
    return ok;
}

int mn_check_load_params(const char *fixture, const mn_st_file *f, mn_layer *l) {
    for (int i = 0; i < l->nspecs; i++) {
        const mn_param_spec *sp = &l->specs[i];
        const mn_st_tensor *t = mn_st_find(f, sp->name);
        int same = t && t->dtype == MN_ST_F32 && t->ndim == sp->ndim && t->numel == sp->size;
        for (int k = 0; same && k < sp->ndim; k++) same = t->shape[k] == sp->shape[k];
        if (!same) {
            mn_test_fail(__FILE__, __LINE__, "%s: parameter '%s' is absent from the fixture "
                         "or has a different dtype or shape", fixture, sp->name);
            return -1;
        }
        memcpy(l->params + sp->offset, t->data, sp->size * sizeof(float));
    }
    return l->nspecs;
}
