/* Inverted dropout: y = x · m · 1/(1 − p), m ~ Bernoulli(1 − p) per element, in training;
 * y = x in inference. The mask is not stored: m_i is a hash of (seed, i), recomputed in
 * backward, so the layer holds no activations and the mask is the same on any thread
 * count and any split of the work. Dropped elements are multiplied by 0, not replaced by
 * 0, so a NaN stays NaN as in PyTorch (input * mask). */
#include "dropout.h"

#include <string.h>

typedef struct {
    mn_layer base;
    float p, scale;
    uint64_t threshold;        /* drop when the hash's top 32 bits are below it */
    int training;
    uint64_t seed;
    /* the mode of the last forward, which backward must follow even if set_mode ran
     * in between */
    int fwd_training;
    uint64_t fwd_seed;
} dropout;

#define DROPOUT_PARALLEL 65536

static uint64_t mix64(uint64_t z) {      /* splitmix64's finalizer */
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Counter-based: element i's bits depend on nothing but (seed, i). */
static inline uint32_t hash32(uint64_t key, size_t i) {
    return (uint32_t)(mix64(key ^ ((uint64_t)i * 0x9e3779b97f4a7c15ULL)) >> 32);
}

static uint64_t threshold_of(float p) { return (uint64_t)((double)p * 4294967296.0); }

int mn_dropout_keep(uint64_t seed, size_t i, float p) {
    return hash32(mix64(seed), i) >= threshold_of(p);
}

/* PyTorch: noise = bernoulli(1 − p) / (1 − p), the division in float32 */
static float scale_of(float p) { return 1.0f / (float)(1.0 - (double)p); }

/* y[i] += or = x[i] · (kept ? scale : 0) over n elements, element i kept when
 * hash32(key, i) >= thr */
static void apply_mask(uint64_t key, uint64_t thr, float scale, const float *x, float *y,
                       size_t n, int accumulate) {
    #pragma omp parallel for schedule(static) if (n > DROPOUT_PARALLEL)
    for (size_t i = 0; i < n; i++) {
        float m = hash32(key, i) >= thr ? scale : 0.0f;
        if (accumulate) y[i] += x[i] * m;
        else y[i] = x[i] * m;
    }
}

static void apply(const dropout *s, const float *x, float *y, size_t n, int accumulate) {
    apply_mask(mix64(s->fwd_seed), s->threshold, s->scale, x, y, n, accumulate);
}

void mn_dropout_mask(uint64_t seed, float p, float *x, size_t n) {
    apply_mask(mix64(seed), threshold_of(p), scale_of(p), x, x, n, 0);
}

static void dropout_init(mn_layer *l, mn_rng *rng, const mn_init_config *cfg) {
    (void)l; (void)rng; (void)cfg;
}

static mn_status dropout_forward(mn_layer *l, const float *x, float *y, int T, int B,
                                 const int32_t *lengths) {
    (void)lengths;
    dropout *s = (dropout *)l;
    size_t n = (size_t)T * B * (size_t)l->in_size;
    s->fwd_training = s->training;
    s->fwd_seed = s->seed;
    if (s->fwd_training) apply(s, x, y, n, 0);
    else if (y != x) memcpy(y, x, n * sizeof(float));
    return MN_OK;
}

static mn_status dropout_backward(mn_layer *l, const float *dy, float *dx, int T, int B,
                                  const int32_t *lengths) {
    (void)lengths;
    dropout *s = (dropout *)l;
    size_t n = (size_t)T * B * (size_t)l->in_size;
    if (!dx) return MN_OK;
    if (s->fwd_training) {
        apply(s, dy, dx, n, 1);
    } else {
        for (size_t i = 0; i < n; i++) dx[i] += dy[i];
    }
    return MN_OK;
}

static void dropout_set_mode(mn_layer *l, int training, uint64_t seed) {
    dropout *s = (dropout *)l;
    s->training = training != 0;
    s->seed = seed;
}

static void dropout_destroy(mn_layer *l) { mn_release(l); }

static const mn_layer_ops dropout_ops = {
    .kind = "dropout",
    .init = dropout_init,
    .forward = dropout_forward,
    .backward = dropout_backward,
    .destroy = dropout_destroy,
    .set_mode = dropout_set_mode,
    .step = mn_step_by_forward,
};

mn_layer *mn_dropout_create(int dim, float p) {
    if (dim < 1) {
        mn_fail(MN_E_ARG, "dropout width %d: it must be at least 1", dim);
        return NULL;
    }
    if (!(p >= 0.0f && p < 1.0f)) {
        mn_fail(MN_E_ARG, "dropout probability %g: it must be in [0, 1) (0 turns dropout "
                "off)", (double)p);
        return NULL;
    }
    dropout *s = mn_alloc_zero(sizeof *s);
    if (!s) return NULL;
    s->base.ops = &dropout_ops;
    s->base.in_size = s->base.out_size = dim;
    s->p = p;
    s->scale = scale_of(p);
    s->threshold = threshold_of(p);
    return &s->base;
}
