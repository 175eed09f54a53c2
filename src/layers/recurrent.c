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
 * PyTorch's packed sequences, so the final state is the state at the last real step. */
#include "cell.h"
#include "gemm.h"
#include "init.h"
#include "registry.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

typedef struct {
    mn_layer base;
    const mn_cell_kernel *cell;
    mn_cell_kind kind;
    int H, GH;
    size_t o_wih, o_whh, o_bih, o_bhh;

    /* workspace, sized for cap_rows = T·B rows */
    size_t cap_rows, cap_B;
    void *ws;
    size_t ws_bytes;
    float *act;      /* [T,B,GH] input projection, then activated gates (in place) */
    float *aux;      /* [T,B,H]  GRU's W_hn·h + b_hn */
    float *hs, *cs;  /* [T+1,B,H] states; hs[0] is the initial state */
    float *dg, *dgh; /* [T,B,GH] pre-activation gradients (dgh == dg except GRU) */
    float *rec;      /* [B,GH] recurrent product of one step */
    float *dh, *dc;  /* [B,H] running gradients */
    float *vjp_dg;   /* [2,GH] one row's gate gradients for step_vjp */
    void *gws;       /* backward's own: dg (and dgh) */
    size_t gws_bytes;
    const float *x;  /* input of the last forward (owned by the caller) */

    /* initial state for the next forward, [B,H], valid when carry is set */
    float *h0, *c0;
    size_t state_cap;
    int carry, state_B, last_T, last_B;

    mn_packed whh_t, whh;  /* W_hhᵀ for forward, W_hh for backward */

    double *probe_rows;    /* [2][T,B] per-row probe values, only while a recorder is on */
    size_t probe_cap;
} recurrent;

/* --------------------------------------------------------------- workspace */

/* What forward needs: gates, GRU's aux, states, one step's product, the running
 * gradients dh/dc (also used by step_vjp after a forward) and a row for step_vjp's gate
 * gradients. The [T,B,GH] gate gradients are backward's own (reserve_grads), so a
 * forward-only run never holds them. */
static mn_status reserve(recurrent *s, int T, int B) {
    size_t rows = (size_t)T * B;
    if (rows <= s->cap_rows && (size_t)B <= s->cap_B && s->ws) return MN_OK;
    rows = MN_MAX(rows, s->cap_rows);
    size_t cb = MN_MAX((size_t)B, s->cap_B);
    size_t H = (size_t)s->H, GH = (size_t)s->GH;
    size_t states = (rows + cb) * H;  /* (T+1)·B rows for any T·B <= rows, B <= cb */
    size_t floats = rows * GH                                  /* act */
                  + (s->kind == MN_GRU ? rows * H : 0)         /* aux */
                  + states * (s->cell->has_cell ? 2 : 1)       /* hs, cs */
                  + cb * GH + 2 * cb * H                       /* rec, dh, dc */
                  + 2 * GH;                                    /* vjp_dg */
    size_t bytes;
    if (!mn_mul_size(floats, sizeof(float), &bytes))
        return mn_fail(MN_E_NOMEM, "recurrent workspace for %zu rows overflows", rows);
    if (mn_reserve(&s->ws, &s->ws_bytes, bytes) != MN_OK) return MN_E_NOMEM;
    float *p = s->ws;
    s->act = p; p += rows * GH;
    s->aux = NULL;
    if (s->kind == MN_GRU) { s->aux = p; p += rows * H; }
    s->hs = p; p += states;
    s->cs = NULL;
    if (s->cell->has_cell) { s->cs = p; p += states; }
    s->rec = p; p += cb * GH;
    s->dh = p; p += cb * H;
    s->dc = p; p += cb * H;
    s->vjp_dg = p;
    s->cap_rows = rows;
    s->cap_B = cb;
    return MN_OK;
}

static mn_status reserve_grads(recurrent *s, int T, int B) {
    size_t rows = (size_t)T * B, GH = (size_t)s->GH, bytes;
    size_t floats = rows * GH * (s->cell->split_recurrent ? 2 : 1);   /* dg, dgh */
    if (!mn_mul_size(floats, sizeof(float), &bytes))
        return mn_fail(MN_E_NOMEM, "recurrent gradients for %zu rows overflow", rows);
    if (mn_reserve(&s->gws, &s->gws_bytes, bytes) != MN_OK) return MN_E_NOMEM;
    s->dg = s->gws;
    s->dgh = s->cell->split_recurrent ? s->dg + rows * GH : s->dg;
    return MN_OK;
}

/* ------------------------------------------------------------- time loops */

/* The recurrence couples time steps, never sequences: row b of h_t needs only row b of
 * h_{t-1}. So when the batch is large enough, each thread takes a block of rows and runs
 * the whole time loop on them, its share of each step's product included, and the
 * threads meet once per sequence instead of twice per step. A smaller batch runs the loop
 * on one thread, and only a step's product large enough to pay for a fork is split by
 * columns. Either way row b sees the same operations, so results do not depend on it. */

static int omp_rows(int B, int H) { return (size_t)B * H >= 8192; }

static int row_threads(int B) {
#ifdef _OPENMP
    int threads = MN_MIN(omp_get_max_threads(), MN_GEMM_MAX_THREADS);
    return MN_MAX(1, MN_MIN(threads, B / MN_ROWS_PER_THREAD));
#else
    (void)B;
    return 1;
#endif
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

typedef struct {
    recurrent *s;
    int T, B;
    const int32_t *lengths;
    float *y;          /* forward output [T,B,H] */
    const float *dy;   /* backward input [T,B,H] */
    double *pdh, *pdc; /* per-row probe values [T,B], or NULL */
} time_loop;

static void forward_row(const time_loop *k, const mn_cell_step *st, int t, int b, float *yt) {
    recurrent *s = k->s;
    int H = s->H;
    size_t o = (size_t)b * H;
    if (!k->lengths || t < k->lengths[b]) {
        s->cell->forward(st, b);
        memcpy(yt + o, st->h + o, (size_t)H * sizeof(float));
    } else { /* padding: carry the state, output zero */
        memcpy(st->h + o, st->h_prev + o, (size_t)H * sizeof(float));
        if (st->c) memcpy(st->c + o, st->c_prev + o, (size_t)H * sizeof(float));
        memset(yt + o, 0, (size_t)H * sizeof(float));
    }
}

/* Rows [b0, b1) of step t; `mine` says the rows are this thread's share of the batch
 * (one-thread product), otherwise they are the whole batch (product may fork). */
static void forward_step(const time_loop *k, int t, int b0, int b1, int mine) {
    recurrent *s = k->s;
    mn_layer *l = &s->base;
    int H = s->H, GH = s->GH, B = k->B;
    size_t BH = (size_t)B * H;
    float *hp = s->hs + (size_t)t * BH, *hn = hp + BH;
    float *rec = s->rec + (size_t)b0 * GH, *yt = k->y + (size_t)t * BH;
    if (mine)
        mn_sgemm_packed_serial(0, b1 - b0, 1.0f, hp + (size_t)b0 * H, H, &s->whh_t, 0.0f, rec, GH);
    else
        mn_sgemm_packed(0, b1 - b0, 1.0f, hp + (size_t)b0 * H, H, &s->whh_t, 0.0f, rec, GH);
    mn_cell_step st = {.H = H, .b_ih = l->params + s->o_bih, .b_hh = l->params + s->o_bhh,
                       .rec = s->rec, .act = s->act + (size_t)t * B * GH,
                       .aux = s->aux ? s->aux + (size_t)t * BH : NULL, .h_prev = hp, .h = hn,
                       .c_prev = s->cs ? s->cs + (size_t)t * BH : NULL,
                       .c = s->cs ? s->cs + (size_t)(t + 1) * BH : NULL};
    if (!mine && omp_rows(b1 - b0, H)) {
        #pragma omp parallel for schedule(static)
        for (int b = b0; b < b1; b++) forward_row(k, &st, t, b, yt);
    } else { /* no parallel construct at all: even a disabled one costs per step */
        for (int b = b0; b < b1; b++) forward_row(k, &st, t, b, yt);
    }
}

static double row_norm(const float *v, int n) {
    double s = 0;
    for (int i = 0; i < n; i++) s += (double)v[i] * v[i];
    return sqrt(s);
}

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
static void run_time_loop(const time_loop *k, int reverse,
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
    int H = s->H, GH = s->GH, I = l->in_size;
    size_t BH = (size_t)B * H, rows;
    mn_status st = mn_layer_rows(l, T, B, &rows);
    if (st) return st;
    /* a carried state of another batch is a caller's mistake, never replaced by zeros */
    if (s->carry && s->state_B != B)
        return mn_fail(MN_E_STATE, "the carried recurrent state holds %d sequences but this "
                       "pass has %d; carry state only between chunks of one batch",
                       s->state_B, B);
    if (reserve(s, T, B) != MN_OK) return MN_E_NOMEM;
    const float *W_ih = l->params + s->o_wih, *W_hh = l->params + s->o_whh;
    if (mn_pack_b(&s->whh_t, 1, H, GH, W_hh, H) != MN_OK) return MN_E_NOMEM;

    /* initial state: carried from the previous chunk, or zero */
    int carry = s->carry;
    if (carry) memcpy(s->hs, s->h0, BH * sizeof(float));
    else memset(s->hs, 0, BH * sizeof(float));
    if (s->cs) {
        if (carry) memcpy(s->cs, s->c0, BH * sizeof(float));
        else memset(s->cs, 0, BH * sizeof(float));
    }

    /* GI = X·W_ihᵀ for all T·B rows at once */
    mn_sgemm(0, 1, (int)rows, GH, I, 1.0f, x, I, W_ih, I, 0.0f, s->act, GH);

    time_loop k = {.s = s, .T = T, .B = B, .lengths = lengths, .y = y};
    run_time_loop(&k, 0, forward_step);
    s->x = x;
    s->last_T = T;
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
    int H = s->H, GH = s->GH, I = l->in_size;
    size_t BH = (size_t)B * H;
    if (T != s->last_T || B != s->last_B)
        return mn_fail(MN_E_STATE, "recurrent backward called with T=%d B=%d after a forward "
                       "with T=%d B=%d", T, B, s->last_T, s->last_B);
    const float *W_hh = l->params + s->o_whh;
    if (mn_pack_b(&s->whh, 0, GH, H, W_hh, H) != MN_OK) return MN_E_NOMEM;
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
    memset(s->dh, 0, BH * sizeof(float));
    if (s->cs) memset(s->dc, 0, BH * sizeof(float));
    run_time_loop(&k, 1, backward_step);
    if (k.pdh) add_probe(l->probe_dh, k.pdh, T, B);
    if (k.pdc) add_probe(l->probe_dc, k.pdc, T, B);

    int rows = (int)((size_t)T * B);   /* forward checked it with mn_layer_rows */
    float *g = l->grads;
    mn_sgemm(1, 0, GH, I, rows, 1.0f, s->dg, GH, s->x, I, 1.0f, g + s->o_wih, I);
    mn_sgemm(1, 0, GH, H, rows, 1.0f, s->dgh, GH, s->hs, H, 1.0f, g + s->o_whh, H);
    mn_column_sums(s->dg, (size_t)rows, GH, g + s->o_bih);
    mn_column_sums(s->dgh, (size_t)rows, GH, g + s->o_bhh);
    if (dx)
        mn_sgemm(0, 0, rows, I, GH, 1.0f, s->dg, GH, l->params + s->o_wih, I, 1.0f, dx, I);
    return MN_OK;
}

/* -------------------------------------------------------------------- state */

static void recurrent_reset(mn_layer *l) { ((recurrent *)l)->carry = 0; }

static mn_status recurrent_carry(mn_layer *l) {
    recurrent *s = (recurrent *)l;
    if (!s->last_B) return MN_OK;
    mn_status st = mn_recurrence_carry(s->hs, s->cs, s->last_T, s->last_B, s->H, &s->h0,
                                       &s->c0, &s->state_cap);
    if (st) return st;
    s->state_B = s->last_B;
    s->carry = 1;
    return MN_OK;
}

static int recurrent_state(mn_layer *l, mn_state_view v[2]) {
    recurrent *s = (recurrent *)l;
    return mn_recurrence_view(s->hs, s->cs, s->last_T, s->last_B, s->H, v);
}

static size_t recurrent_bytes(const mn_layer *l) {
    const recurrent *s = (const recurrent *)l;
    return s->ws_bytes + s->gws_bytes + s->whh.cap + s->whh_t.cap + s->state_cap +
           s->probe_cap;
}

static void recurrent_destroy(mn_layer *l) {
    recurrent *s = (recurrent *)l;
    mn_release(s->ws);
    mn_release(s->gws);
    mn_release(s->h0);
    mn_release(s->probe_rows);
    mn_packed_free(&s->whh_t);
    mn_packed_free(&s->whh);
    mn_release(s);
}

/* --------------------------------------------------------------------- init */

static void recurrent_init(mn_layer *l, mn_rng *rng, const mn_init_config *cfg) {
    recurrent *s = (recurrent *)l;
    int H = s->H, G = s->cell->gates;
    float *p = l->params;
    /* PyTorch's default for every tensor: U(±1/√H) */
    mn_init_uniform(p, l->param_count, 1.0f / sqrtf((float)H), rng);
    float gain = cfg->gain > 0 ? cfg->gain : 1.0f;
    for (int g = 0; g < G; g++) {
        float *block = p + s->o_whh + (size_t)g * H * H;
        if (cfg->recurrent_init == MN_INIT_ORTHOGONAL)
            mn_init_orthogonal(block, H, H, gain, rng);
        else if (cfg->recurrent_init == MN_INIT_IDENTITY)
            mn_init_identity(block, H, gain);
    }
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

static int recurrent_inspect(mn_layer *l, mn_recurrent_view *v) {
    recurrent *s = (recurrent *)l;
    if (!s->last_T) return 0;
    const mn_cell_kernel *k = s->cell;
    *v = (mn_recurrent_view){
        .gates = k->gates, .H = s->H, .T = s->last_T, .B = s->last_B,
        .keep_gate = k->keep_gate, .tanh_gate = k->tanh_gate,
        .candidate_block = k->candidate_block, .sigmoid_gates = k->sigmoid_gates,
        .state_size = k->has_cell ? 2 * s->H : s->H,
        .act = s->act, .hs = s->hs, .cs = s->cs, .W_hh = l->params + s->o_whh,
    };
    return 1;
}

/* The cell's backward is the VJP of one step except for the W_hh product, so run it on
 * row b (every row pointer shifted to it, as row 0) and add dgh·W_hh by hand. The gate
 * gradients go to a one-row scratch: a forward-only run holds no [T,B,GH] ones. */
static void recurrent_step_vjp(mn_layer *l, int t, int b, float *u_h, float *u_c) {
    recurrent *s = (recurrent *)l;
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
};

mn_layer *mn_recurrent_create(mn_cell_kind cell, int in, int hidden, const char *suffix) {
    const mn_cell_kernel *k = mn_cell_kernel_for(cell);
    if (!k) {
        mn_fail(MN_E_ARG, "unknown cell kind %d", (int)cell);
        return NULL;
    }
    recurrent *s = mn_alloc_zero(sizeof *s);
    if (!s) return NULL;
    s->base.ops = &recurrent_ops;
    s->base.in_size = in;
    s->base.out_size = hidden;
    s->cell = k;
    s->kind = cell;
    s->H = hidden;
    s->GH = k->gates * hidden;
    char name[MN_NAME_MAX];
    snprintf(name, sizeof name, "weight_ih%s", suffix);
    s->o_wih = mn_layer_add_param(&s->base, name, 2, (int[]){s->GH, in});
    snprintf(name, sizeof name, "weight_hh%s", suffix);
    s->o_whh = mn_layer_add_param(&s->base, name, 2, (int[]){s->GH, hidden});
    snprintf(name, sizeof name, "bias_ih%s", suffix);
    s->o_bih = mn_layer_add_param(&s->base, name, 1, (int[]){s->GH});
    snprintf(name, sizeof name, "bias_hh%s", suffix);
    s->o_bhh = mn_layer_add_param(&s->base, name, 1, (int[]){s->GH});
    return &s->base;
}

/* ------------------------------------------------------------ registered kinds */

static int recurrent_out_width(const mn_block_config *b, int in) {
    (void)in;
    return b->width * (b->bidirectional ? 2 : 1);
}

static mn_layer *recurrent_block(mn_cell_kind cell, const mn_block_config *b, int in, int index) {
    return mn_stack_layer_create(cell, in, b->width, index, b->bidirectional);
}

static double recurrent_macs(mn_cell_kind cell, const mn_block_config *b, int in) {
    double gh = (double)mn_cell_kernel_for(cell)->gates * b->width;
    return gh * (in + b->width) * (b->bidirectional ? 2 : 1);
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
        .caps = MN_KIND_RECURRENT | MN_KIND_BIDIRECTIONAL | MN_KIND_WIDTH | (caps_),         \
        .out_width = recurrent_out_width, .create = create_##id, .macs_per_row = macs_##id,  \
    };

RECURRENT_KIND(rnn, MN_RNN_TANH, "rnn", MN_KIND_PYTORCH, "Elman RNN, h = tanh(W_ih x + W_hh h + b)", "RNN",
               NULL, "h block")
RECURRENT_KIND(rnn_relu, MN_RNN_RELU, "rnn-relu", MN_KIND_PYTORCH, "Elman RNN with ReLU", "RNN", NULL,
               "h block")
RECURRENT_KIND(lstm, MN_LSTM, "lstm", MN_KIND_GATED | MN_KIND_FORGET_BIAS | MN_KIND_PYTORCH, "LSTM (gates i, f, g, o as nn.LSTM)",
               "LSTM", "forget gate", "g block")
RECURRENT_KIND(gru, MN_GRU, "gru", MN_KIND_GATED | MN_KIND_PYTORCH, "GRU (gates r, z, n as nn.GRU)", "GRU",
               "update gate z", "n block")
RECURRENT_KIND(gated, MN_GATED_RESIDUAL, "gated", MN_KIND_GATED | MN_KIND_FORGET_BIAS,
               "gated residual recurrence, h = a*h + (1-a)*tanh(W_ih x + W_hh h + b)",
               "gated residual RNN", "residual gate a", "f block")
