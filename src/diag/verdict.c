/* The verdict: is the gradient vanishing, exploding or healthy over the span the task
 * needs, is the model under- or over-fitting, and what to try next. Every verdict carries
 * the numbers it was drawn from. */
#include "core.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *mn_flow_name(mn_flow_verdict v) {
    return v == MN_FLOW_VANISHING ? "vanishing" : v == MN_FLOW_EXPLODING ? "exploding" : "healthy";
}

const char *mn_fit_name(mn_fit_verdict v) {
    return v == MN_FIT_UNDER ? "underfitting" : v == MN_FIT_OVER ? "overfitting" : "good";
}

static void add(char *buf, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void add(char *buf, size_t n, const char *fmt, ...) {
    size_t used = strlen(buf);
    if (used + 1 >= n) return;
    if (used) {
        buf[used++] = ' ';
        buf[used] = '\0';
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + used, n - used, fmt, ap);
    va_end(ap);
}

static void flow_advice(const mn_verdict_input *in, mn_verdict *out) {
    char *a = out->advice;
    size_t n = sizeof out->advice;
    mn_cell_info cell = {0};
    mn_cell_describe(in->cell, &cell);
    int gated = cell.keep_gate != NULL;
    if (out->flow == MN_FLOW_VANISHING && in->attention_blocks > 0) {
        if (in->entropy_ratio < 0.1)
            add(a, n, "The heads have collapsed onto single nearby steps (entropy %.2g of "
                "uniform attention's), so the steps the task needs get no weight: train "
                "longer or with a lower --lr, or give the model more heads (--heads).",
                in->entropy_ratio);
        else if (in->entropy_ratio > 0.9)
            add(a, n, "Attention is diffuse (entropy %.2g of uniform attention's): it spreads "
                "its weight instead of selecting the steps that matter; train longer, or give "
                "queries and keys positions to work with (--positions rope or learned).",
                in->entropy_ratio);
        else
            add(a, n, "Attention reaches every step in one hop, yet the weight it gives the "
                "steps the task needs is small: train longer, or add layers or heads.");
        return;
    }
    if (out->flow == MN_FLOW_VANISHING && in->no_recurrence) {
        add(a, n, "No block carries state through time: a step reaches the output only "
            "within the convolutions' receptive field. Widen it (--layers, --kernel), or use "
            "a recurrence, a state space or attention.");
        return;
    }
    if (out->flow == MN_FLOW_VANISHING && in->state_space) {
        add(a, n, "A state space keeps a step only as long as its modes' decay allows (the "
            "memory line gives their half-lives): train longer, or, for S4D, let A and delta "
            "move faster (--ssm-lr).");
        return;
    }
    if (out->flow == MN_FLOW_VANISHING) {
        if (in->tbptt > 0 && in->tbptt < in->span)
            add(a, n, "Truncated BPTT cuts the gradient after %d steps but the task needs %d: "
                "use --tbptt 0 or a window of at least %d.", in->tbptt, in->span, in->span);
        if (!gated)
            add(a, n, "Use a gated cell (--model lstm or gru): its additive state path keeps "
                "the gradient alive over many steps.");
        if (!gated && in->recurrent_init != MN_INIT_ORTHOGONAL && cell.name &&
            !strcmp(cell.name, "rnn"))
            add(a, n, "Or start from orthogonal recurrent weights (--init orthogonal), whose "
                "singular values are all 1.");
        if (gated && !in->chrono)
            add(a, n, "Initialize the gate biases for long memory (--chrono, or a larger "
                "--forget-bias).");
        add(a, n, "A shorter path through time, such as attention, avoids the long product "
            "altogether.");
    } else if (out->flow == MN_FLOW_EXPLODING) {
        if (!(in->clip_norm > 0))
            add(a, n, "Clip the global gradient norm (--clip 1).");
        add(a, n, "Lower the learning rate (--lr), or start from orthogonal weights with a gain "
            "at most 1 (--init orthogonal --init-gain 1).");
    }
}

static void fit_advice(mn_verdict *out) {
    char *a = out->advice;
    size_t n = sizeof out->advice;
    if (out->fit == MN_FIT_UNDER && out->flow == MN_FLOW_HEALTHY)
        add(a, n, "The gradient reaches back far enough: train longer (--steps), or give the "
            "model more capacity (--hidden) or a tuned --lr.");
    else if (out->fit == MN_FIT_OVER)
        add(a, n, "Validation loss is well above training loss: use more training sequences "
            "or weight decay (--optimizer adamw --weight-decay 0.01).");
}

mn_status mn_diagnose_verdict(const mn_verdict_input *in, mn_verdict *out) {
    memset(out, 0, sizeof *out);
    if (!in || !in->grad_norm || in->T < 1)
        return mn_fail(MN_E_ARG, "a verdict needs a gradient profile of at least one step");
    int T = in->T, span = in->span > 0 && in->span < T ? in->span : T - 1;
    double thr = in->threshold > 0 ? in->threshold : 1e-3;
    const double *g = in->grad_norm;
    double last = g[T - 1], peak = 0;
    int finite = 1;
    for (int t = 0; t < T; t++) {
        if (!isfinite(g[t])) finite = 0;
        else if (last > 0 && g[t] / last > peak) peak = g[t] / last;
    }
    out->horizon = mn_gradient_horizon(g, T, thr);
    double oldest = last > 0 ? g[T - 1 - span] / last : 0;

    if (!finite || peak > 1.0 / thr) {
        out->flow = MN_FLOW_EXPLODING;
        if (finite)
            snprintf(out->flow_reason, sizeof out->flow_reason,
                     "the gradient grows %.3g-fold going back in time (above %.3g)", peak,
                     1.0 / thr);
        else
            snprintf(out->flow_reason, sizeof out->flow_reason,
                     "the gradient norm is not finite at some step");
    } else if (out->horizon < span) {
        out->flow = MN_FLOW_VANISHING;
        snprintf(out->flow_reason, sizeof out->flow_reason,
                 "the gradient falls below %.3g of the last step's after %d steps, but the task "
                 "needs %d; %d steps back it is %.3g of it",
                 thr, out->horizon, span, span, oldest);
    } else {
        out->flow = MN_FLOW_HEALTHY;
        snprintf(out->flow_reason, sizeof out->flow_reason,
                 "the gradient stays within [%.3g, %.3g] of the last step's over the %d steps the "
                 "task needs (%d steps back: %.3g)", thr, 1.0 / thr, span, span, oldest);
    }
    if (in->attention_blocks > 0 && out->flow != MN_FLOW_EXPLODING) {
        /* attention's path to any step is one hop: what the profile shows is where the
         * heads look, not a product of steps */
        size_t len = strlen(out->flow_reason);
        snprintf(out->flow_reason + len, sizeof out->flow_reason - len,
                 "; attention joins every step to the output in one hop (heads' entropy %.2g "
                 "of uniform: %s)", in->entropy_ratio, in->entropy_ratio < 0.1 ? "collapsed"
                 : in->entropy_ratio > 0.9 ? "diffuse" : "selective");
    }

    double base = in->baseline_loss, tr = in->train_loss, va = in->val_loss;
    if (base > 0 && tr >= 0.5 * base) {
        out->fit = MN_FIT_UNDER;
        snprintf(out->fit_reason, sizeof out->fit_reason,
                 "training loss %.4g is %.2g of the input-blind baseline %.4g: the model has "
                 "not learned the dependency", tr, tr / base, base);
    } else if (va > 1.5 * tr && va - tr > 0.05 * base) {
        out->fit = MN_FIT_OVER;
        snprintf(out->fit_reason, sizeof out->fit_reason,
                 "validation loss %.4g is %.2gx the training loss %.4g", va, va / tr, tr);
    } else {
        out->fit = MN_FIT_GOOD;
        snprintf(out->fit_reason, sizeof out->fit_reason,
                 "training loss %.4g and validation loss %.4g, %.2g and %.2g of the baseline",
                 tr, va, base > 0 ? tr / base : NAN, base > 0 ? va / base : NAN);
    }
    flow_advice(in, out);
    fit_advice(out);
    if (!out->advice[0]) add(out->advice, sizeof out->advice, "Nothing to fix.");
    return MN_OK;
}
