/* A recurrent layer over whole sequences (RNN, LSTM, GRU or the gated residual cell; the
 * cell arithmetic lives in cell.c). Parameters follow PyTorch: weight_ih [G·H, I],
 * weight_hh [G·H, H], bias_ih and bias_hh [G·H], gate blocks stacked as in nn.RNN /
 * nn.LSTM / nn.GRU (the gated residual cell: [α, f]).
 *
 * forward:  GI[T·B, G·H] = X[T·B, I]·W_ihᵀ             one GEMM before the loop
 *           for t: REC[B, G·H] = h_{t-1}·W_hhᵀ         W_hh packed once per sequence
 *                  cell: gates, h_t (and c_t)           one fused pass per row
 * backward: for t = T-1..0: cell backward → DG_t; dh_{t-1} = direct + DGH_t·W_hh
 *           then dW_ih += DGᵀ·X, dW_hh += DGHᵀ·H_prev, dX += DG·W_ih   GEMMs over all steps
 *
 * Padding (t >= lengths[b]): the state is carried unchanged and the output is 0, as with
 * PyTorch's packed sequences, so the final state is the state at the last real step.
 *
 * Options (mn_recurrent_opts): without biases (PyTorch's bias=False) the cells read a
 * zero vector in their place, so the fused step is the same code; an LSTM with a
 * projection (proj_size P, Sak et al. 2014) has h_t = W_hr·m_t, m_t = o⊙tanh(c_t), with
 * weight_hr [P, H] and weight_hh [4H, P]: one more product per step (recurrent_proj.c).
 * An inference pass (l->inference) runs the same steps in chunks of INFERENCE_ROWS rows,
 * holding one chunk's gates and states, never the whole sequence's. */
#include "recurrent.h"
#include "init.h"
#include "registry.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

typedef mn_recurrent recurrent;
typedef mn_time_loop time_loop;
#define reserve mn_recurrent_reserve
#define forward_step mn_recurrent_forward_step
#define run_time_loop mn_recurrent_run_time_loop

/* An inference pass runs in chunks of this many rows (steps × sequences, at least one
 * step): the input projection of a chunk is still one large GEMM, and the layer holds a
 * chunk's gates and states instead of the whole sequence's. */
#define INFERENCE_ROWS 2048

int mn_recurrent_inference_steps(int T, int B) {
    return MN_MIN(T, MN_MAX(1, INFERENCE_ROWS / MN_MAX(B, 1)));
}

/* --------------------------------------------------------------- workspace */

/* What forward needs: gates, GRU's aux, states, the projection's input m (proj), one
 * step's product, the running gradients dh/dc (and dm; also used by step_vjp after a
 * forward) and a row for step_vjp's gate gradients. The [T,B,GH] gate gradients are
 * backward's own (reserve_grads), so a forward-only run never holds them. */
mn_status mn_recurrent_reserve(recurrent *s, int T, int B) {
    size_t rows = (size_t)T * B;
    if (rows <= s->cap_rows && (size_t)B <= s->cap_B && s->ws) return MN_OK;
    rows = MN_MAX(rows, s->cap_rows);
    size_t cb = MN_MAX((size_t)B, s->cap_B);
    size_t H = (size_t)s->H, GH = (size_t)s->GH, P = (size_t)s->P;
    size_t states = rows + cb;  /* (T+1)·B rows for any T·B <= rows, B <= cb */
    size_t floats = rows * GH                                  /* act */
                  + (s->kind == MN_GRU ? rows * H : 0)         /* aux */
                  + states * P                                 /* hs */
                  + (s->cell->has_cell ? states * H : 0)       /* cs */
                  + (s->proj ? rows * H + cb * H : 0)          /* ms, dm */
                  + cb * GH + cb * P + cb * H                  /* rec, dh, dc */
                  + 2 * GH;                                    /* vjp_dg */
    size_t bytes;
    if (!mn_mul_size(floats, sizeof(float), &bytes))
        return mn_fail(MN_E_NOMEM, "recurrent workspace for %zu rows overflows", rows);
    if (mn_reserve(&s->ws, &s->ws_bytes, bytes) != MN_OK) return MN_E_NOMEM;
    float *p = s->ws;
    s->act = p; p += rows * GH;
    s->aux = NULL;
    if (s->kind == MN_GRU) { s->aux = p; p += rows * H; }
    s->hs = p; p += states * P;
    s->cs = NULL;
    if (s->cell->has_cell) { s->cs = p; p += states * H; }
    s->ms = s->dm = NULL;
    if (s->proj) { s->ms = p; p += rows * H; s->dm = p; p += cb * H; }
    s->rec = p; p += cb * GH;
    s->dh = p; p += cb * P;
    s->dc = p; p += cb * H;
    s->vjp_dg = p;
    s->cap_rows = rows;
    s->cap_B = cb;
    return MN_OK;
}

static mn_status reserve_grads(recurrent *s, int T, int B) {
    size_t rows = (size_t)T * B, GH = (size_t)s->GH, bytes;
    size_t floats = rows * GH * (s->cell->split_recurrent ? 2 : 1)   /* dg, dgh */
                  + (s->proj ? rows * (size_t)s->P : 0);             /* dhs */
    if (!mn_mul_size(floats, sizeof(float), &bytes))
        return mn_fail(MN_E_NOMEM, "recurrent gradients for %zu rows overflow", rows);
    if (mn_reserve(&s->gws, &s->gws_bytes, bytes) != MN_OK) return MN_E_NOMEM;
    s->dg = s->gws;
    s->dgh = s->cell->split_recurrent ? s->dg + rows * GH : s->dg;
    s->dhs = s->proj ? s->dgh + rows * GH : NULL;
    return MN_OK;
}

/* ------------------------------------------------------------- time loops */

/* The recurrence couples time steps, never sequences: row b of h_t needs only row b of
 * h_{t-1}. So when the batch is large enough, each thread takes a block of rows and runs
 * the whole time loop on them, its share of each step's product included, and the
 * threads meet once per sequence instead of twice per step. A smaller batch runs the loop
 * on one thread, and only a step's product large enough to pay for a fork is split by
 * columns. Either way row b sees the same operations, so results do not depend on it. */

#define omp_rows mn_recurrent_omp_rows

static int row_threads(int B) {
    return MN_MAX(1, MN_MIN(mn_gemm_threads(), B / MN_ROWS_PER_THREAD));
}

/* The rows [*b0, *b1) of thread `id` of `n`. */
static void my_rows(int B, int *b0, int *b1) {
    int id = 0, n = 1;
#ifdef _OPENMP
    id = omp_get_thread_num();
    n = omp_get_num_threads();
#endif
    *b0 = (int)((long)B * id / n);
    *b1 = (int)((long)B * (id + 1) / n);
}

/* Units [j0, j1) of row b at step t: the cell where the step is real; padding carries the
 * state and outputs zero. */
static void forward_row(const time_loop *k, const mn_cell_step *st, int t, int b, int j0,
                        int j1, float *yt) {
    recurrent *s = k->s;
    size_t o = (size_t)b * s->H + j0, n = (size_t)(j1 - j0) * sizeof(float);
    if (!k->lengths || k->t0 + t < k->lengths[b]) {
        s->cell->forward(st, b, j0, j1);
        memcpy(yt + o, st->h + o, n);
    } else {
        memcpy(st->h + o, st->h_prev + o, n);
        if (st->c) memcpy(st->c + o, st->c_prev + o, n);
        memset(yt + o, 0, n);
    }
}

/* What the cells of step t read and write. */
static mn_cell_step cell_state(const time_loop *k, int t) {
    recurrent *s = k->s;
    size_t BH = (size_t)k->B * s->H;
    float *hp = s->hs + (size_t)t * BH;
    return (mn_cell_step){.H = s->H, .b_ih = mn_recurrent_b_ih(s), .b_hh = mn_recurrent_b_hh(s),
                          .rec = s->rec, .act = s->act + (size_t)t * k->B * s->GH,
                          .aux = s->aux ? s->aux + (size_t)t * BH : NULL, .h_prev = hp,
                          .h = hp + BH, .c_prev = s->cs ? s->cs + (size_t)t * BH : NULL,
                          .c = s->cs ? s->cs + (size_t)(t + 1) * BH : NULL};
}

void mn_recurrent_forward_units(const time_loop *k, int t, int b0, int b1, int j0, int j1) {
    mn_cell_step st = cell_state(k, t);
    float *yt = k->y + (size_t)t * k->B * k->s->H;
    for (int b = b0; b < b1; b++) forward_row(k, &st, t, b, j0, j1, yt);
}

void mn_recurrent_forward_cells(const time_loop *k, int t, int b0, int b1, int split) {
    int H = k->s->H;
    if (!split || !omp_rows(b1 - b0, H)) {   /* no parallel construct at all: even a */
        mn_recurrent_forward_units(k, t, b0, b1, 0, H);   /* disabled one costs per step */
        return;
    }
    mn_cell_step st = cell_state(k, t);
    float *yt = k->y + (size_t)t * k->B * H;
    #pragma omp parallel for schedule(static)
    for (int b = b0; b < b1; b++) forward_row(k, &st, t, b, 0, H, yt);
}

/* Asks for the input products of step t (act: rows [b0, b1), the gate columns of units
 * [u0, u1)) while the step before runs. A chunk's act (up to INFERENCE_ROWS·G·H floats,
 * 8 MB for an LSTM of 256 at 4 sequences) lives in L3, and a step's rows, in pieces
 * G·H floats apart, are not a pattern the hardware prefetcher follows from one step to
 * the next. Measured on 2 cores: LSTM 2×500×4×256 on 2 threads, best of 9, 45.7 → 40.1 ms. */
void mn_recurrent_prefetch_act(const recurrent *s, int t, int B, int b0, int b1, int u0,
                               int u1) {
    const float *a = s->act + (size_t)t * B * s->GH;
    for (int b = b0; b < b1; b++)
        for (int c0 = u0; c0 < s->GH; c0 += s->H)
            for (int j = c0; j < c0 + (u1 - u0); j += 16)   /* a 64-byte line a request */
                __builtin_prefetch(a + (size_t)b * s->GH + j, 1);
}

/* Rows [b0, b1) of step t; `mine` says the rows are this thread's share of the batch
 * (one-thread product), otherwise they are the whole batch (product may fork). */
void mn_recurrent_forward_step(const time_loop *k, int t, int b0, int b1, int mine) {
    recurrent *s = k->s;
    int H = s->H, GH = s->GH;
    float *hp = s->hs + (size_t)t * k->B * H, *rec = s->rec + (size_t)b0 * GH;
    if (t + 1 < k->T) mn_recurrent_prefetch_act(s, t + 1, k->B, b0, b1, 0, H);
    if (mine)
        mn_sgemm_packed_serial(0, b1 - b0, 1.0f, hp + (size_t)b0 * H, H, &s->whh_t, 0.0f, rec, GH);
    else
        mn_sgemm_packed(0, b1 - b0, 1.0f, hp + (size_t)b0 * H, H, &s->whh_t, 0.0f, rec, GH);
    mn_recurrent_forward_cells(k, t, b0, b1, !mine);
}

double mn_recurrent_row_norm(const float *v, int n) {
    double s = 0;
    for (int i = 0; i < n; i++) s += (double)v[i] * v[i];
    return sqrt(s);
}
#define row_norm mn_recurrent_row_norm

static void backward_row(const time_loop *k, const mn_cell_step *st, int t, int b,
                         double *pdh, double *pdc) {
    recurrent *s = k->s;
    int H = s->H, GH = s->GH;
    size_t o = (size_t)b * H;
    float *dh = s->dh + o;
    const float *dyt = k->dy + (size_t)t * k->B * H;
    /* (the probes read ∂L/∂h_t and ∂L/∂c_t, both complete once dy_t is added) */
    if (!k->lengths || t < k->lengths[b]) {
        for (int j = 0; j < H; j++) dh[j] += dyt[o + j];
        if (pdh) pdh[b] = row_norm(dh, H);
        if (pdc) pdc[b] = s->cell->dc_norm(st, b);
        s->cell->backward(st, b);
    } else { /* padding: the state was copied, so its gradient passes through */
        if (pdh) pdh[b] = row_norm(dh, H);
        if (pdc) pdc[b] = row_norm(s->dc + o, H);
        memset(st->dg + (size_t)b * GH, 0, (size_t)GH * sizeof(float));
        if (st->dgh != st->dg) memset(st->dgh + (size_t)b * GH, 0, (size_t)GH * sizeof(float));
    }
}

static void backward_step(const time_loop *k, int t, int b0, int b1, int mine) {
    recurrent *s = k->s;
    int H = s->H, GH = s->GH, B = k->B;
    size_t BH = (size_t)B * H, og = (size_t)t * B * GH;
    mn_cell_step st = {.H = H, .dh = s->dh, .dc = s->dc, .act = s->act + og,
                       .aux = s->aux ? s->aux + (size_t)t * BH : NULL,
                       .h_prev = s->hs + (size_t)t * BH,
                       .c_prev = s->cs ? s->cs + (size_t)t * BH : NULL,
                       .c = s->cs ? s->cs + (size_t)(t + 1) * BH : NULL,
                       .dg = s->dg + og, .dgh = s->dgh + og};
    double *pdh = k->pdh ? k->pdh + (size_t)t * B : NULL;
    double *pdc = k->pdc ? k->pdc + (size_t)t * B : NULL;
    if (!mine && omp_rows(b1 - b0, H)) {
        #pragma omp parallel for schedule(static)
        for (int b = b0; b < b1; b++) backward_row(k, &st, t, b, pdh, pdc);
    } else {
        for (int b = b0; b < b1; b++) backward_row(k, &st, t, b, pdh, pdc);
    }
    /* dh_{t-1} = direct part + DGH_t·W_hh */
    const float *dgh = st.dgh + (size_t)b0 * GH;
    float *dh = s->dh + (size_t)b0 * H;
    if (mine) mn_sgemm_packed_serial(0, b1 - b0, 1.0f, dgh, GH, &s->whh, 1.0f, dh, H);
    else mn_sgemm_packed(0, b1 - b0, 1.0f, dgh, GH, &s->whh, 1.0f, dh, H);
}

/* Runs step(t) for t = 0..T-1 (or T-1..0), split by rows when the batch allows. */
void mn_recurrent_run_time_loop(const time_loop *k, int reverse,
                                void (*step)(const time_loop *, int, int, int, int)) {
    int T = k->T, B = k->B, threads = row_threads(B);
    if (threads > 1) {
        #pragma omp parallel num_threads(threads)
        {
            int b0, b1;
            my_rows(B, &b0, &b1);
            for (int i = 0; i < T; i++) step(k, reverse ? T - 1 - i : i, b0, b1, 1);
        }
    } else {
        for (int i = 0; i < T; i++) step(k, reverse ? T - 1 - i : i, 0, B, 0);
    }
}

/* ------------------------------------------------------------------ forward */

static mn_status recurrent_forward(mn_layer *l, const float *x, float *y, int T, int B,
                                   const int32_t *lengths) {
    recurrent *s = (recurrent *)l;
    int H = s->H, GH = s->GH, P = s->P, I = l->in_size;
    size_t BH = (size_t)B * H, BP = (size_t)B * P, rows;
    mn_status st = mn_layer_rows(l, T, B, &rows);
    if (st) return st;
    /* a carried state of another batch is a caller's mistake, never replaced by zeros */
    if (s->carry && s->state_B != B)
        return mn_fail(MN_E_STATE, "the carried recurrent state holds %d sequences but this "
                       "pass has %d; carry state only between chunks of one batch",
                       s->state_B, B);
    /* inference keeps one chunk of steps; training all of them, for backward */
    int chunk = l->inference ? mn_recurrent_inference_steps(T, B) : T;
    if (reserve(s, chunk, B) != MN_OK) return MN_E_NOMEM;
    const float *W_ih = l->params + s->o_wih, *W_hh = l->params + s->o_whh;
    if (mn_pack_b(&s->whh_t, 1, P, GH, W_hh, P) != MN_OK) return MN_E_NOMEM;
    if (s->proj && mn_pack_b(&s->whr_t, 1, H, P, l->params + s->o_whr, H) != MN_OK)
        return MN_E_NOMEM;

    /* initial state: carried from the previous chunk, or zero */
    int carry = s->carry;
    if (carry) memcpy(s->hs, s->h0, BP * sizeof(float));
    else memset(s->hs, 0, BP * sizeof(float));
    if (s->cs) {
        if (carry) memcpy(s->cs, s->c0, BH * sizeof(float));
        else memset(s->cs, 0, BH * sizeof(float));
    }

    void (*step)(const time_loop *, int, int, int, int) =
        s->proj ? mn_recurrent_forward_step_proj : forward_step;
    int n = 0;
    for (int t0 = 0; t0 < T; t0 += n) {
        if (t0 > 0) {   /* the next chunk starts from the last one's final state */
            memcpy(s->hs, s->hs + (size_t)n * BP, BP * sizeof(float));
            if (s->cs) memcpy(s->cs, s->cs + (size_t)n * BH, BH * sizeof(float));
        }
        n = MN_MIN(chunk, T - t0);
        /* GI = X·W_ihᵀ for all the chunk's rows at once */
        mn_sgemm(0, 1, n * B, GH, I, 1.0f, x + (size_t)t0 * B * I, I, W_ih, I, 0.0f, s->act, GH);
        time_loop k = {.s = s, .T = n, .B = B, .t0 = t0, .lengths = lengths,
                       .y = y + (size_t)t0 * BP};
        int units = s->proj ? 1 : mn_recurrent_unit_threads(s, n, B, 0);
        if (units > 1) mn_recurrent_forward_split(&k, units);
        else run_time_loop(&k, 0, step);
    }
    s->chunked = l->inference;
    s->x = l->inference ? NULL : x;
    s->last_T = n;   /* steps held: T, or the last chunk's */
    s->last_B = B;
    return MN_OK;
}

/* ----------------------------------------------------------------- backward */

/* The probes' per-row values are kept per step and summed in row order afterwards, so
 * the profile does not depend on how rows were split among threads. */
static void add_probe(double *probe, const double *rows, int T, int B) {
    for (int t = 0; t < T; t++) {
        double sum = 0;
        for (int b = 0; b < B; b++) sum += rows[(size_t)t * B + b];
        probe[t] += sum / B;
    }
}

static mn_status recurrent_backward(mn_layer *l, const float *dy, float *dx, int T, int B,
                                    const int32_t *lengths) {
    recurrent *s = (recurrent *)l;
    int H = s->H, GH = s->GH, P = s->P, I = l->in_size;
    if (s->chunked)
        return mn_fail(MN_E_STATE, "recurrent backward called after an inference forward, which "
                       "keeps nothing for it; run the forward with inference off");
    if (T != s->last_T || B != s->last_B)
        return mn_fail(MN_E_STATE, "recurrent backward called with T=%d B=%d after a forward "
                       "with T=%d B=%d", T, B, s->last_T, s->last_B);
    const float *W_hh = l->params + s->o_whh;
    if (mn_pack_b(&s->whh, 0, GH, P, W_hh, P) != MN_OK) return MN_E_NOMEM;
    if (s->proj && mn_pack_b(&s->whr, 0, P, H, l->params + s->o_whr, H) != MN_OK)
        return MN_E_NOMEM;
    if (reserve_grads(s, T, B) != MN_OK) return MN_E_NOMEM;

    time_loop k = {.s = s, .T = T, .B = B, .lengths = lengths, .dy = dy};
    int want_dc = l->probe_dc && s->cs && s->cell->dc_norm;
    if (l->probe_dh || want_dc) {
        size_t n = (size_t)T * B;
        if (mn_reserve((void **)&s->probe_rows, &s->probe_cap, 2 * n * sizeof(double)) != MN_OK)
            return MN_E_NOMEM;
        k.pdh = l->probe_dh ? s->probe_rows : NULL;
        k.pdc = want_dc ? s->probe_rows + n : NULL;
    }

    /* no gradient reaches the final state: the loss reads only the outputs */
    memset(s->dh, 0, (size_t)B * P * sizeof(float));
    if (s->cs) memset(s->dc, 0, (size_t)B * H * sizeof(float));
    run_time_loop(&k, 1, s->proj ? mn_recurrent_backward_step_proj : backward_step);
    if (k.pdh) add_probe(l->probe_dh, k.pdh, T, B);
    if (k.pdc) add_probe(l->probe_dc, k.pdc, T, B);

    int rows = (int)((size_t)T * B);   /* forward checked it with mn_layer_rows */
    float *g = l->grads;
    mn_sgemm(1, 0, GH, I, rows, 1.0f, s->dg, GH, s->x, I, 1.0f, g + s->o_wih, I);
    mn_sgemm(1, 0, GH, P, rows, 1.0f, s->dgh, GH, s->hs, P, 1.0f, g + s->o_whh, P);
    if (s->proj)   /* dW_hr += Σ_t ∂L/∂h_tᵀ·m_t */
        mn_sgemm(1, 0, P, H, rows, 1.0f, s->dhs, P, s->ms, H, 1.0f, g + s->o_whr, H);
    if (s->bias) {
        mn_column_sums(s->dg, (size_t)rows, GH, g + s->o_bih);
        mn_column_sums(s->dgh, (size_t)rows, GH, g + s->o_bhh);
    }
    if (dx)
        mn_sgemm(0, 0, rows, I, GH, 1.0f, s->dg, GH, l->params + s->o_wih, I, 1.0f, dx, I);
    return MN_OK;
}

/* -------------------------------------------------------------------- state */

static void recurrent_reset(mn_layer *l) { ((recurrent *)l)->carry = 0; }

static mn_status recurrent_carry(mn_layer *l) {
    recurrent *s = (recurrent *)l;
    if (!s->last_B) return MN_OK;
    mn_status st = mn_recurrence_carry(s->hs, s->cs, s->last_T, s->last_B, s->P, s->H, &s->h0,
                                       &s->c0, &s->state_cap);
    if (st) return st;
    s->state_B = s->last_B;
    s->carry = 1;
    return MN_OK;
}

static int recurrent_state(mn_layer *l, mn_state_view v[2]) {
    recurrent *s = (recurrent *)l;
    return mn_recurrence_view(s->hs, s->cs, s->last_T, s->last_B, s->P, s->H, v);
}

static size_t recurrent_bytes(const mn_layer *l) {
    const recurrent *s = (const recurrent *)l;
    return s->ws_bytes + s->gws_bytes + s->whh.cap + s->whh_t.cap + s->whr.cap + s->whr_t.cap + s->wih_t.cap +
           s->state_cap + s->probe_cap;
}

static void recurrent_destroy(mn_layer *l) {
    recurrent *s = (recurrent *)l;
    mn_release(s->ws);
    mn_release(s->gws);
    mn_release(s->h0);
    mn_release(s->probe_rows);
    mn_release(s->zero_bias);
    mn_packed_free(&s->whh_t);
    mn_packed_free(&s->whh);
    mn_packed_free(&s->whr_t);
    mn_packed_free(&s->whr);
    mn_packed_free(&s->wih_t);
    mn_release(s);
}

/* --------------------------------------------------------------------- init */

static void recurrent_init(mn_layer *l, mn_rng *rng, const mn_init_config *cfg) {
    recurrent *s = (recurrent *)l;
    int H = s->H, P = s->P, G = s->cell->gates;
    float *p = l->params;
    /* PyTorch's default for every tensor (W_hr included): U(±1/√H) */
    mn_init_uniform(p, l->param_count, 1.0f / sqrtf((float)H), rng);
    float gain = cfg->gain > 0 ? cfg->gain : 1.0f;
    for (int g = 0; g < G; g++) {
        float *block = p + s->o_whh + (size_t)g * H * P;   /* [H, P] */
        if (cfg->recurrent_init == MN_INIT_ORTHOGONAL) {
            mn_init_orthogonal(block, H, P, gain, rng);
        } else if (cfg->recurrent_init == MN_INIT_IDENTITY && P == H) {
            mn_init_identity(block, H, gain);
        } else if (cfg->recurrent_init == MN_INIT_IDENTITY) {
            /* with a projection: gain on the diagonal of the [H, P] block */
            memset(block, 0, (size_t)H * P * sizeof(float));
            for (int j = 0; j < P; j++) block[(size_t)j * P + j] = gain;
        }
    }
    if (!s->bias) return;   /* the rest sets biases */
    float *b_ih = p + s->o_bih, *b_hh = p + s->o_bhh;
    if (cfg->recurrent_init == MN_INIT_IDENTITY) { /* IRNN: zero biases (Le et al. 2015) */
        memset(b_ih, 0, (size_t)s->GH * sizeof(float));
        memset(b_hh, 0, (size_t)s->GH * sizeof(float));
    }
    /* LSTM's f and the gated residual cell's α both keep the old state; forget_bias sets
     * the sum b_ih + b_hh they see, so the whole bias goes into b_ih */
    int forget = s->kind == MN_LSTM ? 1 : s->kind == MN_GATED_RESIDUAL ? 0 : -1;
    if (forget >= 0) {
        for (int j = 0; j < H; j++) {
            b_ih[forget * H + j] = cfg->forget_bias;
            b_hh[forget * H + j] = 0.0f;
        }
    }
    if (cfg->chrono_tmax > 1) {
        /* chrono init (Tallec & Ollivier 2018): b_f ~ log U[1, T_max-1], b_i = -b_f;
         * the keeping gate is the cell's keep_gate: f (LSTM), z (GRU), α (gated) */
        int keep = s->cell->keep_gate;
        if (keep >= 0) {
            for (int j = 0; j < H; j++) {
                float bf = logf(mn_rng_uniform_range(rng, 1.0f, (float)(cfg->chrono_tmax - 1)));
                b_ih[keep * H + j] = bf;
                b_hh[keep * H + j] = 0.0f;
                if (s->kind == MN_LSTM) { b_ih[j] = -bf; b_hh[j] = 0.0f; }
            }
        }
    }
}

/* ------------------------------------------------------------- diagnostics */

/* An inference pass keeps only its last chunk: nothing to inspect. */
static int recurrent_inspect(mn_layer *l, mn_recurrent_view *v) {
    recurrent *s = (recurrent *)l;
    if (!s->last_T || s->chunked) return 0;
    const mn_cell_kernel *k = s->cell;
    *v = (mn_recurrent_view){
        .gates = k->gates, .H = s->H, .P = s->P, .T = s->last_T, .B = s->last_B,
        .keep_gate = k->keep_gate, .tanh_gate = k->tanh_gate,
        .candidate_block = k->candidate_block, .sigmoid_gates = k->sigmoid_gates,
        .state_size = k->has_cell ? s->P + s->H : s->P,
        .act = s->act, .hs = s->hs, .cs = s->cs, .W_hh = l->params + s->o_whh,
        .W_hr = s->proj ? l->params + s->o_whr : NULL,
    };
    return 1;
}

/* The cell's backward is the VJP of one step except for the W_hh product, so run it on
 * row b (every row pointer shifted to it, as row 0) and add dgh·W_hh by hand. The gate
 * gradients go to a one-row scratch: a forward-only run holds no [T,B,GH] ones. */
static void recurrent_step_vjp(mn_layer *l, int t, int b, float *u_h, float *u_c) {
    recurrent *s = (recurrent *)l;
    if (s->proj) {
        mn_recurrent_step_vjp_proj(s, t, b, u_h, u_c);
        return;
    }
    int H = s->H, GH = s->GH;
    size_t BH = (size_t)s->last_B * H, o = (size_t)b * H;
    size_t og = (size_t)t * s->last_B * GH + (size_t)b * GH;
    float *dh = s->dh + o, *dc = s->dc + o;
    memcpy(dh, u_h, (size_t)H * sizeof(float));
    if (s->cs) memcpy(dc, u_c, (size_t)H * sizeof(float));
    mn_cell_step st = {
        .H = H, .dh = dh, .dc = dc, .act = s->act + og,
        .aux = s->aux ? s->aux + (size_t)t * BH + o : NULL,
        .h_prev = s->hs + (size_t)t * BH + o,
        .c_prev = s->cs ? s->cs + (size_t)t * BH + o : NULL,
        .c = s->cs ? s->cs + (size_t)(t + 1) * BH + o : NULL,
        .dg = s->vjp_dg, .dgh = s->cell->split_recurrent ? s->vjp_dg + GH : s->vjp_dg,
    };
    s->cell->backward(&st, 0);
    const float *dgh = st.dgh, *W = l->params + s->o_whh;
    for (int j = 0; j < H; j++) u_h[j] = dh[j];
    for (int g = 0; g < GH; g++) {           /* u_h += dghᵀ·W_hh, W_hh is [GH, H] */
        float d = dgh[g];
        if (d == 0.0f) continue;
        const float *w = W + (size_t)g * H;
        for (int j = 0; j < H; j++) u_h[j] += d * w[j];
    }
    if (s->cs) memcpy(u_c, dc, (size_t)H * sizeof(float));
}

static const mn_layer_ops recurrent_ops = {
    .kind = "recurrent",
    .init = recurrent_init,
    .forward = recurrent_forward,
    .backward = recurrent_backward,
    .reset_state = recurrent_reset,
    .carry_state = recurrent_carry,
    .state = recurrent_state,
    .activation_bytes = recurrent_bytes,
    .destroy = recurrent_destroy,
    .inspect = recurrent_inspect,
    .step_vjp = recurrent_step_vjp,
    .step = mn_recurrent_stream_step,
};

mn_layer *mn_recurrent_create_opts(mn_cell_kind cell, int in, int hidden,
                                   const mn_recurrent_opts *opts, const char *suffix) {
    const mn_cell_kernel *k = mn_cell_kernel_for(cell);
    if (!k) {
        mn_fail(MN_E_ARG, "unknown cell kind %d", (int)cell);
        return NULL;
    }
    mn_recurrent_opts o = opts ? *opts : (mn_recurrent_opts){0};
    if (o.proj && cell != MN_LSTM) {
        mn_fail(MN_E_ARG, "a projection (proj_size %d) is an LSTM's; %s has none", o.proj,
                k->name);
        return NULL;
    }
    if (o.proj < 0 || o.proj >= hidden) {
        mn_fail(MN_E_ARG, "proj_size must be from 1 to hidden - 1 = %d (PyTorch: \"proj_size "
                "has to be smaller than hidden_size\"), got %d", hidden - 1, o.proj);
        return NULL;
    }
    recurrent *s = mn_alloc_zero(sizeof *s);
    if (!s) return NULL;
    s->base.ops = &recurrent_ops;
    s->base.in_size = in;
    s->cell = k;
    s->kind = cell;
    s->H = hidden;
    s->GH = k->gates * hidden;
    s->proj = o.proj > 0;
    s->P = s->proj ? o.proj : hidden;
    s->bias = !o.no_bias;
    s->base.out_size = s->P;
    if (!s->bias && !(s->zero_bias = mn_alloc_zero((size_t)s->GH * sizeof(float)))) {
        mn_release(s);
        return NULL;
    }
    /* PyTorch's order: weight_ih, weight_hh, bias_ih, bias_hh, weight_hr */
    char name[MN_NAME_MAX];
    snprintf(name, sizeof name, "weight_ih%s", suffix);
    s->o_wih = mn_layer_add_param(&s->base, name, 2, (int[]){s->GH, in});
    snprintf(name, sizeof name, "weight_hh%s", suffix);
    s->o_whh = mn_layer_add_param(&s->base, name, 2, (int[]){s->GH, s->P});
    if (s->bias) {
        snprintf(name, sizeof name, "bias_ih%s", suffix);
        s->o_bih = mn_layer_add_param(&s->base, name, 1, (int[]){s->GH});
        snprintf(name, sizeof name, "bias_hh%s", suffix);
        s->o_bhh = mn_layer_add_param(&s->base, name, 1, (int[]){s->GH});
    }
    if (s->proj) {
        snprintf(name, sizeof name, "weight_hr%s", suffix);
        s->o_whr = mn_layer_add_param(&s->base, name, 2, (int[]){s->P, hidden});
    }
    return &s->base;
}

mn_layer *mn_recurrent_create(mn_cell_kind cell, int in, int hidden, const char *suffix) {
    return mn_recurrent_create_opts(cell, in, hidden, NULL, suffix);
}

/* ------------------------------------------------------------ registered kinds */

static int recurrent_out_width(const mn_block_config *b, int in) {
    (void)in;
    return (b->proj > 0 ? b->proj : b->width) * (b->bidirectional ? 2 : 1);
}

static mn_layer *recurrent_block(mn_cell_kind cell, const mn_block_config *b, int in, int index) {
    mn_recurrent_opts o = {.proj = b->proj, .no_bias = b->no_bias};
    return mn_stack_layer_create_opts(cell, in, b->width, index, b->bidirectional, &o);
}

static double recurrent_macs(mn_cell_kind cell, const mn_block_config *b, int in) {
    double gh = (double)mn_cell_kernel_for(cell)->gates * b->width;
    double p = b->proj > 0 ? b->proj : b->width;
    return (gh * (in + p) + (b->proj > 0 ? p * b->width : 0)) * (b->bidirectional ? 2 : 1);
}

#define RECURRENT_KIND(id, cell_, label, caps_, text, family_, keep_, candidate_)                                         \
    static mn_layer *create_##id(const mn_block_config *b, int in, int index) {             \
        return recurrent_block(cell_, b, in, index);                                          \
    }                                                                                        \
    static double macs_##id(const mn_block_config *b, int in) {                             \
        return recurrent_macs(cell_, b, in);                                                  \
    }                                                                                        \
    const mn_layer_kind mn_kind_##id = {                                                     \
        .name = label, .summary = text, .cell = cell_, .family = family_,                     \
        .keep_gate = keep_, .candidate = candidate_,                                         \
        .caps = MN_KIND_RECURRENT | MN_KIND_BIDIRECTIONAL | MN_KIND_WIDTH | MN_KIND_NO_BIAS | \
                (caps_),                                                                     \
        .out_width = recurrent_out_width, .create = create_##id, .macs_per_row = macs_##id,  \
    };

RECURRENT_KIND(rnn, MN_RNN_TANH, "rnn", MN_KIND_PYTORCH, "Elman RNN, h = tanh(W_ih x + W_hh h + b)", "RNN",
               NULL, "h block")
RECURRENT_KIND(rnn_relu, MN_RNN_RELU, "rnn-relu", MN_KIND_PYTORCH, "Elman RNN with ReLU", "RNN", NULL,
               "h block")
RECURRENT_KIND(lstm, MN_LSTM, "lstm",
               MN_KIND_GATED | MN_KIND_FORGET_BIAS | MN_KIND_PYTORCH | MN_KIND_PROJECTION,
               "LSTM (gates i, f, g, o as nn.LSTM)", "LSTM", "forget gate", "g block")
RECURRENT_KIND(gru, MN_GRU, "gru", MN_KIND_GATED | MN_KIND_PYTORCH, "GRU (gates r, z, n as nn.GRU)", "GRU",
               "update gate z", "n block")
RECURRENT_KIND(gated, MN_GATED_RESIDUAL, "gated", MN_KIND_GATED | MN_KIND_FORGET_BIAS,
               "gated residual recurrence, h = a*h + (1-a)*tanh(W_ih x + W_hh h + b)",
               "gated residual RNN", "residual gate a", "f block")
