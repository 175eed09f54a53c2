/* selectivity: Mamba's selection mechanism measured on a trained model (Gu & Dao 2023,
 * "Mamba: Linear-Time Sequence Modeling with Selective State Spaces", §3.5.2).
 *
 * In a state space h_t = exp(Δ·A)·h_{t−1} + Δ·B·u_t the step Δ is a gate: a large Δ
 * resets the state and takes the input in (focus), a small Δ keeps the state and lets the
 * input pass by (ignore). S4D's Δ is a parameter per channel, the same at every step, so
 * its kernel is fixed; Mamba computes Δ from the input at each step. On selective copy
 * (16 data tokens scattered among noise tokens, recalled in order after them) the useful
 * gate is "focus on data, ignore noise": the paper's argument is that a trained Mamba
 * learns exactly that, and that a time-invariant model cannot place the data without it.
 *
 * Measured here: a small Mamba stack and an S4D stack trained for the same steps on the
 * same data stream; on held-out sequences, each Mamba block's Δ (the forward's own, read
 * through mn_mamba_last_delta) per channel: its mean at the data positions of the scatter
 * region over its mean at the noise positions, before and after training; S4D's Δ =
 * exp(log_dt) (equal at every position by construction); and both models' recall accuracy.
 *
 * Why per channel: each channel has its own Δ, and trained channels select in both
 * directions. In a 3000-step run some raise Δ at data by up to 3× (they take the data in and
 * keep it through the noise) and others lower it by up to 7× (they reset on noise); the mean
 * over channels averages the two and is led by the few channels whose Δ grew largest (block
 * 0: mean ratio 0.87 while the channel ratios spread from 0.15 to 3.1; at init 0.95 to 1.06).
 * The claim is about the channels that focus, so the figure is the 90th percentile of the
 * channel ratios: a tenth of the channels raise Δ at data at least that much. */
#include "lab.h"
#include "mamba.h"
#include "model.h"
#include "task.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SEL_LENGTH 64          /* the scatter region (the task's --length) */
#define SEL_STEPS 3000         /* both models: about 90 s on one core (Mamba 60 s, S4D 30 s) */
#define SEL_BATCH 16
#define SEL_LR 1e-2f
#define SEL_LAYERS 2
#define SEL_STATE 16
#define SEL_EVAL 256           /* held-out sequences for the accuracies */
#define SEL_PROBE_BATCHES 4    /* held-out batches for Δ ... */
#define SEL_PROBE_B 32         /* ... of this many sequences */
#define SEL_PROBE_SEED 0x5e1ec7ull
#define SEL_RATIO 1.5          /* a channel's Δ at data / Δ at noise that counts as a rise */
#define SEL_PCT 0.9            /* the channel ratio's percentile that must reach it */
#define SEL_MAX_HIDDEN 256
#define SEL_MAX_LENGTH 4096
#define SEL_CHANCE (1.0 / 14)  /* uniform over the 14 data symbols */

/* Δ of one Mamba block over the probe batches: sums over channels and positions at data
 * and at noise tokens, and per channel (for the channels' ratios). */
typedef struct {
    double sum[2];       /* [0] data, [1] noise: Σ over positions of the channel mean */
    double count[2];
    double *chan;        /* [2][E]: Σ over positions per channel */
} delta_acc;

typedef struct {
    double data, noise, ratio;   /* means over channels and their ratio */
    double higher;               /* share of channels whose Δ is larger at data */
    double p10, p90;             /* percentiles over channels of Δ at data / Δ at noise */
} delta_stats;

static void delta_add(delta_acc *a, const float *dl, const int32_t *tok, int T, int L, int B,
                      int E) {
    for (int t = 0; t < L && t < T; t++)
        for (int b = 0; b < B; b++) {
            int c = tok[(size_t)t * B + b] == 0;   /* noise token 0 */
            const float *d = dl + ((size_t)t * B + b) * E;
            double s = 0;
            for (int e = 0; e < E; e++) {
                s += d[e];
                a->chan[(size_t)c * E + e] += d[e];
            }
            a->sum[c] += s / E;
            a->count[c] += 1;
        }
}

/* The q-th percentile of sorted v[0..n-1], linear between the nearest ranks. */
static double percentile(const double *v, int n, double q) {
    double at = q * (n - 1);
    int i = (int)at;
    return i + 1 < n ? v[i] + (at - i) * (v[i + 1] - v[i]) : v[n - 1];
}

/* ratios: scratch for E channel ratios */
static delta_stats delta_finish(const delta_acc *a, int E, double *ratios) {
    delta_stats s;
    s.data = a->count[0] > 0 ? a->sum[0] / a->count[0] : NAN;
    s.noise = a->count[1] > 0 ? a->sum[1] / a->count[1] : NAN;
    s.ratio = s.data / s.noise;
    int higher = 0;
    for (int e = 0; e < E; e++) {
        ratios[e] = (a->chan[e] / a->count[0]) / (a->chan[(size_t)E + e] / a->count[1]);
        higher += ratios[e] > 1;
    }
    s.higher = (double)higher / E;
    qsort(ratios, (size_t)E, sizeof *ratios, mn_lab_cmp_double);
    s.p10 = percentile(ratios, E, 1 - SEL_PCT);
    s.p90 = percentile(ratios, E, SEL_PCT);
    for (int e = 0; e < E; e++)
        if (!isfinite(ratios[e])) s.p10 = s.p90 = NAN;   /* sorted order is then undefined */
    return s;
}

/* Every Mamba block's Δ statistics on the same held-out batches (the probe task is
 * created anew from its seed, so every call sees the same sequences). */
static mn_status measure_delta(mn_model *m, int L, int H, uint64_t seed, delta_stats *out) {
    mn_task *probe = NULL;
    /* per block [2][E] sums, then E ratios of scratch */
    double *chan = mn_alloc_zero(((size_t)SEL_LAYERS * 2 + 1) * 2 * H * sizeof(double));
    if (!chan) return MN_E_NOMEM;
    delta_acc acc[SEL_LAYERS];
    for (int k = 0; k < SEL_LAYERS; k++) {
        memset(&acc[k], 0, sizeof acc[k]);
        acc[k].chan = chan + (size_t)k * 2 * 2 * H;
    }
    mn_status st = mn_task_create("selective-copy", L, seed ^ SEL_PROBE_SEED, &probe);
    for (int i = 0; i < SEL_PROBE_BATCHES && !st; i++) {
        const mn_batch *b;
        if ((st = mn_task_next(probe, SEL_PROBE_B, &b)) || (st = mn_model_forward(m, b, NULL)))
            break;
        for (int k = 0, n = 0; k < m->L && n < SEL_LAYERS && !st; k++) {
            int T, B, E;
            const float *dl = mn_mamba_last_delta(m->layers[k], &T, &B, &E);
            if (!dl) continue;
            if (T != b->T || B != b->B || E != 2 * H)
                st = mn_fail(MN_E_STATE, "selectivity: block %d's delta is [%d,%d,%d], not "
                             "the batch's [%d,%d,%d]", k, T, B, E, b->T, b->B, 2 * H);
            else
                delta_add(&acc[n++], dl, b->tokens, T, L, B, E);
        }
    }
    for (int k = 0; k < SEL_LAYERS && !st; k++)
        out[k] = delta_finish(&acc[k], 2 * H, chan + (size_t)SEL_LAYERS * 2 * 2 * H);
    mn_task_free(probe);
    mn_release(chan);
    return st;
}

/* One trained model: accuracy and, for Mamba, Δ per block before and after training;
 * for S4D the mean over channels of Δ = exp(log_dt) per block. */
typedef struct {
    double accuracy, loss, seconds;
    size_t params;
    delta_stats init[SEL_LAYERS], trained[SEL_LAYERS];
    double s4d_delta[SEL_LAYERS];
} sel_run;

static double s4d_mean_delta(mn_layer *l, int H) {
    const float *log_dt = mn_lab_layer_tensor(l, "kernel.log_dt");
    if (!log_dt) return NAN;
    double s = 0;
    for (int h = 0; h < H; h++) s += exp((double)log_dt[h]);
    return s / H;
}

static mn_status train_one(int mamba, int L, int H, int steps, uint64_t seed,
                           const volatile sig_atomic_t *stop, sel_run *out) {
    mn_task *task = NULL;
    mn_model *m = NULL;
    mn_trainer *tr = NULL;
    mn_model_config mc;
    mn_train_config tc;
    char spec[512];
    size_t n = 0;
    /* pre-norm residual blocks and a final norm, as 'mnemo train --model mamba|s4d --norm
     * pre' builds them; S4D's block (the S4 repository's) adds GELU and a linear map,
     * here a GELU feed-forward of Mamba's inner width 2H */
    for (int k = 0; k < SEL_LAYERS; k++) {
        if (mamba)
            n += (size_t)snprintf(spec + n, sizeof spec - n, "%smamba:state=%d:residual:pre",
                                  k ? "," : "", SEL_STATE);
        else
            n += (size_t)snprintf(spec + n, sizeof spec - n, "%ss4d:state=%d:residual:pre,"
                                  "ff-gelu:%d:residual:pre", k ? "," : "", SEL_STATE, 2 * H);
    }
    snprintf(spec + n, sizeof spec - n, ",layernorm");
    memset(out, 0, sizeof *out);
    out->accuracy = out->loss = NAN;
    mn_status st = mn_task_create("selective-copy", L, seed, &task);
    if (st) return st;
    mn_model_config_init(&mc);
    mn_task_configure_model(task, &mc);
    mc.hidden_size = H;
    if ((st = mn_blocks_parse(spec, &mc)) || (st = mn_model_create(&mc, seed, &m))) goto done;
    out->params = mn_model_param_count(m);
    if (mamba && (st = measure_delta(m, L, H, seed, out->init))) goto done;
    mn_lab_train_setup(&tc, steps, SEL_BATCH, seed, SEL_EVAL);
    tc.lr = SEL_LR;
    if ((st = mn_trainer_create(m, task, &tc, &tr))) goto done;
    mn_trainer_set_stop(tr, stop);
    double t0 = mn_now();
    for (int i = 0; i < steps && !st; i++) {
        mn_step_stats ss;
        st = mn_trainer_step(tr, &ss);
    }
    out->seconds = mn_now() - t0;
    if (st == MN_E_NUMERIC) st = MN_OK;   /* diverged: the accuracy says so */
    mn_eval_stats ev;
    if (st || (st = mn_trainer_evaluate(tr, &ev))) goto done;
    out->accuracy = ev.accuracy;
    out->loss = ev.loss;
    if (mamba) {
        st = measure_delta(m, L, H, seed, out->trained);
    } else {
        for (int k = 0, j = 0; k < m->L && j < SEL_LAYERS; k++)
            if (!strcmp(m->blocks[k].kind, "s4d"))
                out->s4d_delta[j++] = s4d_mean_delta(m->layers[k], H);
    }
done:
    mn_trainer_free(tr);
    mn_model_free(m);
    mn_task_free(task);
    return st;
}

mn_status mn_lab_selectivity(const mn_lab_options *o, mn_lab_result *r) {
    int L = o->length ? o->length : SEL_LENGTH, H = o->hidden ? o->hidden : 32;
    int steps = o->steps ? o->steps : SEL_STEPS;
    if (L < 16 || L > SEL_MAX_LENGTH)
        return mn_fail(MN_E_ARG, "selectivity: --length is the region the 16 data tokens are "
                       "scattered over, from 16 to %d; got %d", SEL_MAX_LENGTH, L);
    if (H < 1 || H > SEL_MAX_HIDDEN)
        return mn_fail(MN_E_ARG, "selectivity: --hidden must be from 1 to %d, got %d",
                       SEL_MAX_HIDDEN, H);
    if (steps < 1) return mn_fail(MN_E_ARG, "selectivity: --steps must be >= 1, got %d", steps);
    sel_run mb, s4;
    double t0 = mn_now();
    mn_status st = train_one(1, L, H, steps, o->seed, o->stop, &mb);
    if (st) return st;
    mn_lab_progress(o, "selectivity: mamba trained, %d steps, %.1f s, accuracy %.1f%%", steps,
                    mb.seconds, 100 * mb.accuracy);
    if ((st = train_one(0, L, H, steps, o->seed, o->stop, &s4))) return st;
    mn_lab_progress(o, "selectivity: s4d trained, %d steps, %.1f s, accuracy %.1f%%", steps,
                    s4.seconds, 100 * s4.accuracy);
    double total = mn_now() - t0;

    mn_lab_text(r->claim, sizeof r->claim, "Mamba's input-dependent step delta acts as a "
                "gate (Gu & Dao 2023, sec. 3.5.2): trained on selective copy, in the channels that "
                "focus it rises at data tokens and falls on noise, and it recalls the data; "
                "S4D's delta is a parameter, the same at every token, and recalls less");
    /* one short line: the field holds 127 characters */
    mn_lab_text(r->quantity, sizeof r->quantity, "a Mamba channel's delta at data / at noise "
                "tokens, held out: %.0fth percentile, largest block", 100 * SEL_PCT);
    mn_lab_text(r->criterion, sizeof r->criterion, "ratio > %.2f and Mamba's recall accuracy "
                "above S4D's", SEL_RATIO);
    mn_lab_say(r,
        "setup: selective copy, 16 data tokens (1..14) among noise (0) over %d steps, then 16\n"
        "       markers recalling them; %d blocks of width %d, state %d, pre-norm, residual:\n"
        "       Mamba (%zu parameters) and S4D + GELU feed-forward %d (%zu parameters), each\n"
        "       trained %d steps of %d sequences (Adam, lr %g, clip 1) on the same stream.\n"
        "       delta: per channel, its mean over the data positions of the scatter region\n"
        "       and over its noise positions, in %d held-out sequences (markers not counted);\n"
        "       'mean' columns average the channels first; 'ch. rise' is the share of\n"
        "       channels whose delta is larger at data; p10 and p90 are percentiles over the\n"
        "       channels of their own data / noise ratio ('p90 init': before training).\n\n",
        L, SEL_LAYERS, H, SEL_STATE, mb.params, 2 * H, s4.params, steps, SEL_BATCH,
        (double)SEL_LR, SEL_PROBE_BATCHES * SEL_PROBE_B);
    mn_lab_say(r, "  %-6s %5s  %10s  %10s  %10s  %8s  %6s  %6s  %8s\n", "model", "block",
               "mean data", "mean noise", "mean ratio", "ch. rise", "p10", "p90", "p90 init");
    for (int k = 0; k < SEL_LAYERS; k++) {
        const delta_stats *d = &mb.trained[k];
        mn_lab_say(r, "  %-6s %5d  %10.4g  %10.4g  %10.3f  %7.0f%%  %6.3f  %6.3f  %8.3f\n",
                   "mamba", k, d->data, d->noise, d->ratio, 100 * d->higher, d->p10, d->p90,
                   mb.init[k].p90);
        mn_lab_putf(r, d->data, "mamba_b%d_delta_data", k);
        mn_lab_putf(r, d->noise, "mamba_b%d_delta_noise", k);
        mn_lab_putf(r, d->ratio, "mamba_b%d_ratio", k);
        mn_lab_putf(r, d->higher, "mamba_b%d_channels_rising", k);
        mn_lab_putf(r, d->p10, "mamba_b%d_channel_p10", k);
        mn_lab_putf(r, d->p90, "mamba_b%d_channel_p90", k);
        mn_lab_putf(r, mb.init[k].ratio, "mamba_b%d_ratio_init", k);
        mn_lab_putf(r, mb.init[k].p10, "mamba_b%d_channel_p10_init", k);
        mn_lab_putf(r, mb.init[k].p90, "mamba_b%d_channel_p90_init", k);
    }
    for (int k = 0; k < SEL_LAYERS; k++) {
        mn_lab_say(r, "  %-6s %5d  %10.4g  %10.4g  %10.3f  %8s  %6.3f  %6.3f  %8.3f\n", "s4d", k,
                   s4.s4d_delta[k], s4.s4d_delta[k], 1.0, "-", 1.0, 1.0, 1.0);
        mn_lab_putf(r, s4.s4d_delta[k], "s4d_b%d_delta", k);
    }
    mn_lab_say(r, "\n  A trained Mamba's channels select in both directions: some raise delta at\n"
               "  data (take it in, keep it through the noise: p90), others lower it (reset on\n"
               "  noise: p10), so the mean over channels can hide the selection. S4D's delta =\n"
               "  exp(log_dt) is one number per channel, the same at every token by\n"
               "  construction (ratio 1 exactly).\n\n");
    mn_lab_say(r, "  recall accuracy on %d held-out sequences (chance %.1f%%):\n", SEL_EVAL,
               100 * SEL_CHANCE);
    mn_lab_say(r, "    mamba  %6.1f%%  (test loss %.3f, %.1f s training)\n", 100 * mb.accuracy,
               mb.loss, mb.seconds);
    mn_lab_say(r, "    s4d    %6.1f%%  (test loss %.3f, %.1f s training)\n", 100 * s4.accuracy,
               s4.loss, s4.seconds);
    mn_lab_say(r, "  whole experiment: %.1f s on %d thread%s\n", total, mn_threads(),
               mn_threads() == 1 ? "" : "s");
    mn_lab_put(r, "mamba_accuracy", mb.accuracy);
    mn_lab_put(r, "s4d_accuracy", s4.accuracy);
    mn_lab_put(r, "mamba_test_loss", mb.loss);
    mn_lab_put(r, "s4d_test_loss", s4.loss);
    mn_lab_put(r, "length", L);
    mn_lab_put(r, "steps", steps);
    mn_lab_put(r, "seconds", total);
    /* the block that selects is not known beforehand: the largest (NaN if any is) */
    double ratio = -INFINITY;
    int finite = 1;
    for (int k = 0; k < SEL_LAYERS; k++) {
        finite &= isfinite(mb.trained[k].p90);
        ratio = fmax(ratio, mb.trained[k].p90);
    }
    if (!finite) ratio = NAN;
    int agree = ratio > SEL_RATIO && mb.accuracy > s4.accuracy;
    mn_lab_say(r, "  criterion: channel p90 %.3f > %.2f: %s; Mamba's recall above S4D's: %s\n",
               ratio, SEL_RATIO, ratio > SEL_RATIO ? "yes" : "no",
               mb.accuracy > s4.accuracy ? "yes" : "no");
    if (steps < SEL_STEPS)
        mn_lab_say(r, "  (%d steps, fewer than the default %d that both models need to learn the "
                   "task)\n", steps, SEL_STEPS);
    mn_lab_verdict(r, SEL_RATIO, ratio, 1, agree);
    if (!finite) {
        r->applies = r->pass = 0;
        mn_lab_text(r->note, sizeof r->note, "a block's delta ratio is not finite (no data or no "
                    "noise position, or a diverged model)");
    }
    return MN_OK;
}
