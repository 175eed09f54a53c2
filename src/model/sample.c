/* mn_sample_logits: one draw from softmax(logits / T) over the k largest logits. The k
 * largest are found by selection on a copy (expected O(n)), not by a sort: a vocabulary of
 * tens of thousands of tokens is sampled once per generated token. */
#include "core.h"

#include <math.h>
#include <string.h>

static uint64_t splitmix64(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* the k-th largest (1-based) of a[0..n), a reordered: Hoare's quickselect */
static float kth_largest(float *a, int n, int k, uint64_t seed) {
    int lo = 0, hi = n - 1, want = k - 1;
    while (lo < hi) {
        /* a fixed, seeded pivot choice keeps the result (a value, not an order) exact */
        float pivot = a[lo + (int)(splitmix64(&seed) % (uint64_t)(hi - lo + 1))];
        int i = lo, j = hi;
        while (i <= j) {
            while (a[i] > pivot) i++;
            while (a[j] < pivot) j--;
            if (i <= j) {
                float t = a[i];
                a[i++] = a[j];
                a[j--] = t;
            }
        }
        if (want <= j) hi = j;
        else if (want >= i) lo = i;
        else return a[want];
    }
    return a[want];
}

mn_status mn_sample_logits(const float *logits, int n, double temperature, int top_k,
                           uint64_t *rng, int32_t *out) {
    if (!logits || !rng || !out || n < 1)
        return mn_fail(MN_E_ARG, "mn_sample_logits: needs logits, n >= 1 (got %d), rng and out", n);
    if (!(temperature >= 0) || isinf(temperature))
        return mn_fail(MN_E_ARG, "the sampling temperature must be a finite number >= 0 "
                       "(0: greedy), got %g", temperature);
    if (top_k < 0 || top_k > n)
        return mn_fail(MN_E_ARG, "top-k must be in [1, %d] (the vocabulary), or 0 for all; "
                       "got %d", n, top_k);
    int best = 0;
    for (int i = 0; i < n; i++) {
        if (isnan(logits[i]) || (isinf(logits[i]) && logits[i] > 0))
            return mn_fail(MN_E_INPUT, "logit %d is %g; the model's output is not finite", i,
                           (double)logits[i]);
        if (logits[i] > logits[best]) best = i;
    }
    const double m = logits[best];
    if (isinf(m)) return mn_fail(MN_E_INPUT, "every logit is -inf: nothing can be drawn");
    if (temperature == 0) {
        *out = best;
        return MN_OK;
    }
    /* the k largest: every logit above the k-th largest value v, then the first indices
     * equal to v until k are taken */
    int k = top_k ? top_k : n;
    float v = -INFINITY;
    int equal_left = n;
    if (k < n) {
        float *tmp = mn_alloc((size_t)n * sizeof *tmp);
        if (!tmp) return MN_E_NOMEM;
        memcpy(tmp, logits, (size_t)n * sizeof *tmp);
        v = kth_largest(tmp, n, k, (uint64_t)n * 0x2545F4914F6CDD1Dull);
        mn_release(tmp);
        int above = 0;
        for (int i = 0; i < n; i++) above += logits[i] > v;
        equal_left = k - above;
    }
    double sum = 0;
    int left = equal_left;
    for (int i = 0; i < n; i++) {
        float l = logits[i];
        if (l < v || (l == v && left-- <= 0) || isinf(l)) continue;
        sum += exp((l - m) / temperature);
    }
    double u = (double)(splitmix64(rng) >> 11) * 0x1p-53 * sum, c = 0;
    int last = best;
    left = equal_left;
    for (int i = 0; i < n; i++) {
        float l = logits[i];
        if (l < v || (l == v && left-- <= 0) || isinf(l)) continue;
        double w = exp((l - m) / temperature);
        if (w <= 0) continue;
        c += w;
        last = i;
        if (u < c) {
            *out = i;
            return MN_OK;
        }
    }
    *out = last;   /* rounding left u at the very top of the sum */
    return MN_OK;
}
