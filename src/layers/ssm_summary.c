/* From the per-step log-decays ln|z| of a state space's modes to the figures of
 * mn_ssm_stats: decays, half-lives ln 0.5 / ln|z|, and each channel's slowest mode. Shared
 * by S4D (decays from its parameters) and Mamba (decays at each channel's median Δ). */
#include "registry.h"

#include <math.h>
#include <stdlib.h>

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double mn_median(double *v, size_t n) {
    qsort(v, n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static double half_life_of(double log_decay) {    /* ln 0.5 / ln|z| */
    if (!(log_decay < 0)) return log_decay == log_decay ? MN_HALF_LIFE_MAX : log_decay;
    double h = -0.69314718055994531 / log_decay;
    return h < MN_HALF_LIFE_MAX ? h : MN_HALF_LIFE_MAX;
}

mn_status mn_ssm_summarize(const double *ln_decay, int channels, int modes, mn_ssm_stats *out,
                           double *per_channel) {
    size_t n = (size_t)channels * modes;
    double *v = mn_alloc((2 * n + (size_t)channels) * sizeof(double));
    if (!v) return MN_E_NOMEM;
    double *decay = v, *half = v + n, *chan = half + n;
    out->has_decay = 1;
    out->channels = channels;
    out->modes = modes;
    for (int h = 0; h < channels; h++) {
        double longest = 0;
        for (int m = 0; m < modes; m++) {
            size_t i = (size_t)h * modes + m;
            decay[i] = exp(ln_decay[i]);
            half[i] = half_life_of(ln_decay[i]);
            longest = m ? fmax(longest, half[i]) : half[i];
        }
        chan[h] = longest;
        if (per_channel) per_channel[h] = longest;
    }
    out->decay_median = mn_median(decay, n);
    out->decay_min = decay[0];
    out->decay_max = decay[n - 1];
    out->half_life_median = mn_median(half, n);
    out->half_life_min = half[0];
    out->half_life_max = half[n - 1];
    out->channel_half_life_median = mn_median(chan, (size_t)channels);
    out->channel_half_life_min = chan[0];
    out->channel_half_life_max = chan[channels - 1];
    mn_release(v);
    return MN_OK;
}
