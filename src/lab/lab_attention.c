/* mnemo lab: attention against recurrence.
 *   path-length:    the gradient that reaches the first step of a length-T sequence: ρ^(T−1)
 *                   through a recurrence, the attention weight α through one attention layer
 *                   (a path of length 1), whatever T is;
 *   attention-cost: time and memory of one attention layer as T doubles (time ~T², memory
 *                   ~T with the tiled kernel, ~T² for the plain one), beside an LSTM (~T). */
#include "attention.h"
#include "lab.h"

#include <math.h>
#include <string.h>
#include <time.h>

static const int default_lengths[] = {16, 64, 256, 1024};
#define N_DEFAULT ((int)(sizeof default_lengths / sizeof default_lengths[0]))

/* o's lengths, or the defaults; each checked against [lo, hi]. */
static mn_status lengths_of(const mn_lab_options *o, const int *def, int ndef, int lo, int hi,
                            int *out, int *n) {
    *n = o->n_lengths ? o->n_lengths : ndef;
    for (int i = 0; i < *n; i++) {
        out[i] = o->n_lengths ? o->lengths[i] : def[i];
        if (out[i] < lo || out[i] > hi)
            return mn_fail(MN_E_ARG, "lengths must be from %d to %d, got %d", lo, hi, out[i]);
    }
    return MN_OK;
}

/* A bare attention layer of width D with its own parameter and gradient buffers. */
static mn_status bare_attention(int D, int heads, int causal, mn_layer **l, float **buf) {
    *buf = NULL;
    if (!(*l = mn_attention_create(D, heads, causal, 0))) return MN_E_NOMEM;
    size_t n = (*l)->param_count;
    if (!(*buf = mn_alloc_zero(2 * n * sizeof(float)))) {
        mn_layer_destroy(*l);
        *l = NULL;
        return MN_E_NOMEM;
    }
    (*l)->params = *buf;
    (*l)->grads = *buf + n;
    return MN_OK;
}

/* ------------------------------------------------------------------ path-length */

#define SCORE 20.0   /* the last query's score for the marker key: α = e^20/(e^20 + T − 1) */

/* One causal attention layer (1 head, width D ≥ 4) set up so that the last query looks
 * at step 0: x_0 = e0 (a marker), x_t = e1 in between, x_{T−1} = e1 + e2 (the query).
 * W_q maps e2 to SCORE·√D·e3 and W_k maps e0 to e3, so the last row's scores are SCORE for
 * step 0 and 0 for every other step; W_v = W_o = I, biases 0. The loss is g·y_{T−1} with
 * |g| = 1, so |dL/dx_0| = α·|g| through the value path, plus the small softmax term
 * α·(1−α)-sized. Returns |dL/dx_0| / |dL/dy_{T−1}|. */
static mn_status attention_ratio(int D, int T, uint64_t seed, double *ratio) {
    mn_layer *l;
    float *buf, *x = NULL, *y = NULL, *dy = NULL, *dx = NULL;
    mn_status st = bare_attention(D, 1, 1, &l, &buf);
    if (st) return st;
    float *W_in = mn_lab_layer_tensor(l, "self_attn.in_proj_weight");
    float *W_out = mn_lab_layer_tensor(l, "self_attn.out_proj.weight");
    size_t n = (size_t)T * D;
    x = mn_alloc_zero(n * sizeof(float));
    y = mn_alloc_zero(n * sizeof(float));
    dy = mn_alloc_zero(n * sizeof(float));
    dx = mn_alloc_zero(n * sizeof(float));
    if (!x || !y || !dy || !dx || !W_in || !W_out) {
        st = MN_E_NOMEM;
        goto done;
    }
    /* in_proj rows: q [0, D), k [D, 2D), v [2D, 3D) */
    W_in[(size_t)3 * D + 2] = (float)(SCORE * sqrt((double)D));    /* q_3 = s·x_2 */
    W_in[(size_t)(D + 3) * D + 0] = 1.0f;                           /* k_3 = x_0 */
    for (int d = 0; d < D; d++) {
        W_in[(size_t)(2 * D + d) * D + d] = 1.0f;                   /* v = x */
        W_out[(size_t)d * D + d] = 1.0f;
    }
    x[0] = 1.0f;
    for (int t = 1; t < T; t++) x[(size_t)t * D + 1] = 1.0f;
    x[(size_t)(T - 1) * D + 2] = 1.0f;
    mn_rng rng;
    mn_rng_seed(&rng, seed);
    double g2 = 0;
    float *g = dy + (size_t)(T - 1) * D;
    for (int d = 0; d < D; d++) {
        g[d] = (float)mn_rng_normal(&rng);
        g2 += (double)g[d] * g[d];
    }
    for (int d = 0; d < D; d++) g[d] = (float)(g[d] / sqrt(g2));
    if ((st = l->ops->forward(l, x, y, T, 1, NULL)) ||
        (st = l->ops->backward(l, dy, dx, T, 1, NULL)))
        goto done;
    double s = 0;
    for (int d = 0; d < D; d++) s += (double)dx[d] * dx[d];
    *ratio = sqrt(s);
done:
    mn_release(x); mn_release(y); mn_release(dy); mn_release(dx);
    mn_release(buf);
    mn_layer_destroy(l);
    return st;
}

mn_status mn_lab_path_length(const mn_lab_options *o, mn_lab_result *r) {
    mn_lab_settings s;
    mn_status st = mn_lab_resolve(o, 0.9, &s);
    int Ts[MN_LAB_MAX_LIST], n;
    if (st || (st = lengths_of(o, default_lengths, N_DEFAULT, 2, MN_LAB_MAX_LENGTH, Ts, &n)))
        return st;
    if (s.H < 4) return mn_fail(MN_E_ARG, "path-length needs --hidden of at least 4, got %d", s.H);
    mn_lab_text(r->claim, sizeof r->claim, "attention joins any two steps by a path of length "
                "1: the gradient reaching step 0 from step T-1 is the attention weight alpha, "
                "whatever T, where a recurrence scales it by rho^(T-1)");
    mn_lab_text(r->quantity, sizeof r->quantity, "|dL/dx_0| / |dL/dy_T-1| through one attention "
                "layer vs alpha, at T = %d", Ts[n - 1]);
    mn_lab_text(r->criterion, sizeof r->criterion, "within %g%% of alpha at every T, and the "
                "RNN's within %g%% of rho^(T-1)", 100 * MN_LAB_RATIO_TOLERANCE,
                100 * MN_LAB_RATIO_TOLERANCE);
    mn_lab_say(r,
        "setup: one causal attention layer (1 head, width %d): the last query scores %g for\n"
        "       a marker at step 0 and 0 for every other step (alpha = e^%g/(e^%g + T-1)),\n"
        "       values and output the identity; the loss is g.y_T-1 with |g| = 1. Against a\n"
        "       linear-regime tanh RNN with W_hh = %g*Q (as in `vanishing`), H %d.\n\n",
        s.H, SCORE, SCORE, SCORE, s.radius, s.H);
    mn_lab_say(r, "  %8s  %14s  %14s  %14s  %14s\n", "T", "attention", "alpha", "RNN",
               "rho^(T-1)");
    int agree = 1, applies = 1;
    double last = NAN, last_alpha = NAN;
    for (int i = 0; i < n && !st; i++) {
        int T = Ts[i];
        double a = 0, alpha = exp(SCORE) / (exp(SCORE) + (T - 1)), rnn = NAN;
        double log10_th = (T - 1) * log10(s.radius);
        if ((st = attention_ratio(s.H, T, s.seed + (uint64_t)i, &a))) break;
        int measurable = mn_lab_measurable(log10_th);
        if (measurable && (double)T * s.H <= (1 << 21)) {
            double *dh;
            if ((st = mn_lab_alloc_doubles(&dh, (size_t)T))) break;
            st = mn_lab_linear_rnn_profile(s.H, T, s.radius, MN_LAB_W_ORTHOGONAL, s.seed,
                                           mn_lab_centered_scale(log10_th), dh);
            if (!st) rnn = mn_lab_ratio_at(dh, T, T - 1);
            mn_release(dh);
            if (st) break;
            agree &= mn_lab_rel_err(rnn, pow(s.radius, T - 1)) <= MN_LAB_RATIO_TOLERANCE;
        }
        agree &= mn_lab_rel_err(a, alpha) <= MN_LAB_RATIO_TOLERANCE;
        mn_lab_say(r, "  %8d  %14.6g  %14.6g  %14.6g  %14.6g\n", T, a, alpha, rnn,
                   pow(s.radius, T - 1));
        mn_lab_putf(r, a, "attention_ratio_T%d", T);
        mn_lab_putf(r, rnn, "rnn_ratio_T%d", T);
        last = a;
        last_alpha = alpha;
    }
    if (st) return st;
    mn_lab_say(r, "\n  (RNN column: nan where rho^(T-1) lies outside float32's range or T*H is\n"
               "  above what the lab holds.) The attention ratio stays at alpha, near 1, while\n"
               "  the recurrence's falls geometrically with T.\n");
    mn_lab_put(r, "radius", s.radius);
    mn_lab_put(r, "hidden", s.H);
    mn_lab_verdict(r, last_alpha, last, applies, agree);
    return MN_OK;
}

/* ------------------------------------------------------------------ attention-cost */

/* CPU time of the whole process (all threads): steadier than wall-clock time on a shared
 * machine, and what the exponents are about (work, not waiting) */
static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Least-squares slope of log y against log x. */
static double loglog_slope(const double *x, const double *y, int n) {
    double sx = 0, sy = 0, sxx = 0, sxy = 0;
    for (int i = 0; i < n; i++) {
        double a = log(x[i]), b = log(y[i]);
        sx += a; sy += b; sxx += a * a; sxy += a * b;
    }
    return (n * sxy - sx * sy) / (n * sxx - sx * sx);
}

/* Best of `reps` forward+backward passes of l over x [T,1,D] (seconds), and the bytes the
 * layer allocated for them (its activations and the peak of what it reserved). */
static mn_status time_layer(mn_layer *l, int T, int D, int reps, double *secs, double *bytes) {
    size_t n = (size_t)T * D;
    float *x = mn_alloc_zero(n * sizeof(float)), *y = mn_alloc_zero(n * sizeof(float));
    float *g = mn_alloc_zero(n * sizeof(float)), *dx = mn_alloc_zero(n * sizeof(float));
    mn_status st = x && y && g && dx ? MN_OK : MN_E_NOMEM;
    mn_rng rng;
    mn_rng_seed(&rng, 7);
    for (size_t i = 0; !st && i < n; i++) {
        x[i] = (float)mn_rng_normal(&rng);
        g[i] = (float)mn_rng_normal(&rng);
    }
    size_t base = mn_memory_in_use();
    mn_memory_reset_peak();
    *secs = INFINITY;
    for (int k = 0; k < reps && !st; k++) {
        double t0 = now();
        if ((st = l->ops->forward(l, x, y, T, 1, NULL)) ||
            (st = l->ops->backward(l, g, dx, T, 1, NULL)))
            break;
        double t = now() - t0;
        if (t < *secs) *secs = t;
    }
    *bytes = (double)(mn_memory_peak() - base);
    mn_release(x); mn_release(y); mn_release(g); mn_release(dx);
    return st;
}

/* The plain kernel's forward over q = k = v = x [T,1,D]: the bytes it allocates (its T×T
 * scores). */
static mn_status reference_bytes(int T, int D, double *bytes) {
    size_t n = (size_t)T * D;
    float *x = mn_alloc_zero(n * sizeof(float)), *o = mn_alloc_zero(n * sizeof(float));
    if (!x || !o) {
        mn_release(x); mn_release(o);
        return MN_E_NOMEM;
    }
    mn_attention_dims a = {.T = T, .B = 1, .H = 1, .dh = D, .causal = 0, .lengths = NULL};
    size_t base = mn_memory_in_use();
    mn_memory_reset_peak();
    mn_status st = mn_attention_forward_ref(&a, x, x, x, D, o, D, NULL);
    *bytes = (double)(mn_memory_peak() - base);
    mn_release(x); mn_release(o);
    return st;
}

static const int cost_lengths[] = {512, 1024, 2048, 4096};
#define N_COST ((int)(sizeof cost_lengths / sizeof cost_lengths[0]))
#define COST_WIDTH 64

mn_status mn_lab_attention_cost(const mn_lab_options *o, mn_lab_result *r) {
    int Ts[MN_LAB_MAX_LIST], n;
    int D = o->hidden ? o->hidden : COST_WIDTH;
    mn_status st = lengths_of(o, cost_lengths, N_COST, 16, 16384, Ts, &n);
    if (st) return st;
    if (n < 2) return mn_fail(MN_E_ARG, "attention-cost needs at least 2 lengths to fit slopes");
    if (D < 1 || D > 1024) return mn_fail(MN_E_ARG, "hidden must be from 1 to 1024, got %d", D);
    mn_lab_text(r->claim, sizeof r->claim, "attention costs time quadratic in T (every pair of "
                "steps) and, tiled with an online softmax, memory linear in T; a recurrence "
                "costs time linear in T");
    mn_lab_text(r->quantity, sizeof r->quantity, "log-log slope of attention's forward+backward "
                "time against T (theory 2)");
    mn_lab_text(r->criterion, sizeof r->criterion, "slopes: time 1.6-2.4, tiled memory 0.8-1.2, "
                "plain memory 1.6-2.4, LSTM time 0.7-1.3");
    double T_d[MN_LAB_MAX_LIST], t_attn[MN_LAB_MAX_LIST], m_attn[MN_LAB_MAX_LIST];
    double m_ref[MN_LAB_MAX_LIST], t_lstm[MN_LAB_MAX_LIST];
    mn_layer *l = NULL;
    float *buf = NULL;
    mn_lab_bare lstm = {0};
    if ((st = mn_lab_bare_create(&lstm, MN_LSTM, D, D))) goto done;
    mn_rng rng;
    mn_rng_seed(&rng, o->seed);
    for (size_t i = 0; i < lstm.l->param_count; i++)
        lstm.l->params[i] = 0.1f * (float)mn_rng_normal(&rng);
    mn_lab_say(r, "setup: one bidirectional attention layer (1 head, width %d) and one LSTM "
               "layer (H %d),\n       B = 1, forward + backward, best of 5 in CPU time; memory: what the "
               "layer allocates in a pass.\n\n", D, D);
    mn_lab_say(r, "  %7s  %13s  %13s  %15s  %13s\n", "T", "attention ms", "tiled MiB",
               "plain fwd MiB", "LSTM ms");
    for (int i = 0; i < n; i++) {
        double b_lstm;
        T_d[i] = Ts[i];
        /* a fresh layer per length, so its workspace is sized for this T alone */
        mn_release(buf);
        mn_layer_destroy(l);
        if ((st = bare_attention(D, 1, 0, &l, &buf))) {
            l = NULL;
            goto done;
        }
        mn_rng_seed(&rng, o->seed);
        for (size_t j = 0; j < l->param_count; j++) l->params[j] = 0.1f * (float)mn_rng_normal(&rng);
        if ((st = time_layer(l, Ts[i], D, 5, &t_attn[i], &m_attn[i])) ||
            (st = reference_bytes(Ts[i], D, &m_ref[i])) ||
            (st = time_layer(lstm.l, Ts[i], D, 5, &t_lstm[i], &b_lstm)))
            goto done;
        mn_lab_say(r, "  %7d  %13.3f  %13.3f  %15.3f  %13.3f\n", Ts[i], 1e3 * t_attn[i],
                   m_attn[i] / 1048576.0, m_ref[i] / 1048576.0, 1e3 * t_lstm[i]);
        mn_lab_progress(o, "attention-cost: T %d done", Ts[i]);
    }
    double s_time = loglog_slope(T_d, t_attn, n), s_mem = loglog_slope(T_d, m_attn, n);
    double s_ref = loglog_slope(T_d, m_ref, n), s_lstm = loglog_slope(T_d, t_lstm, n);
    mn_lab_say(r, "\n  slopes of log cost against log T: attention time %.3f (theory 2), tiled "
               "memory %.3f (1),\n  plain kernel memory %.3f (2), LSTM time %.3f (1)\n", s_time,
               s_mem, s_ref, s_lstm);
    mn_lab_say(r, "  (times are measurements on a possibly shared machine: rerun if a slope is "
               "off by noise)\n");
    mn_lab_put(r, "time_slope", s_time);
    mn_lab_put(r, "memory_slope", s_mem);
    mn_lab_put(r, "reference_memory_slope", s_ref);
    mn_lab_put(r, "lstm_time_slope", s_lstm);
    mn_lab_verdict(r, 2.0, s_time, 1,
                   s_time >= 1.6 && s_time <= 2.4 && s_mem >= 0.8 && s_mem <= 1.2 &&
                   s_ref >= 1.6 && s_ref <= 2.4 && s_lstm >= 0.7 && s_lstm <= 1.3);
done:
    mn_release(buf);
    mn_layer_destroy(l);
    mn_lab_bare_free(&lstm);
    return st;
}
