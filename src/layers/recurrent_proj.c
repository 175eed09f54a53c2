/* The steps of an LSTM with a projection (PyTorch's proj_size; Sak, Senior & Beaufays
 * 2014, "Long Short-Term Memory Recurrent Neural Network Architectures for Large Scale
 * Acoustic Modeling"): the cell computes m_t = o⊙tanh(c_t) [B,H], and the state that
 * recurs and comes out is h_t = m_t·W_hrᵀ [B,P], P < H. Kept apart from recurrent.c so
 * that a layer without a projection runs the same steps as before.
 *
 * forward step t:  REC = h_{t-1}·W_hhᵀ (W_hh [4H, P]); cell → c_t, m_t;  h_t = m_t·W_hrᵀ
 * backward step t: dh_t (running, [B,P]) += dy_t, kept as DH_t for dW_hr;
 *                  dm_t = dh_t·W_hr; cell backward (dm_t, dc_t) → DG_t, dc_{t-1};
 *                  dh_{t-1} = DG_t·W_hh (an LSTM's h_{t-1} reaches h_t only through W_hh)
 * after the loop:  dW_hr += DHᵀ·M (recurrent.c)
 * Padding: h and c carried, output 0, m_t = 0 and DH_t = 0, so a padded step adds nothing
 * to dW_hr and its gradient passes through to the step before. */
#include "recurrent.h"

#include <string.h>

/* m_t's rows [b0, b1): the cell where the step is real; padding carries c and zeroes m. */
static void cell_rows(const mn_time_loop *k, const mn_cell_step *st, int t, int b0, int b1) {
    const mn_recurrent *s = k->s;
    size_t H = (size_t)s->H;
    for (int b = b0; b < b1; b++) {
        if (!k->lengths || k->t0 + t < k->lengths[b]) {
            s->cell->forward(st, b, 0, st->H);
        } else {
            memcpy(st->c + b * H, st->c_prev + b * H, H * sizeof(float));
            memset(st->h + b * H, 0, H * sizeof(float));
        }
    }
}

/* h_t's rows after the projection: output where real; padding carries h_{t-1}. */
static void output_rows(const mn_time_loop *k, const float *hp, float *hn, float *yt, int t,
                        int b0, int b1) {
    size_t P = (size_t)k->s->P;
    for (int b = b0; b < b1; b++) {
        if (!k->lengths || k->t0 + t < k->lengths[b]) {
            memcpy(yt + b * P, hn + b * P, P * sizeof(float));
        } else {
            memcpy(hn + b * P, hp + b * P, P * sizeof(float));
            memset(yt + b * P, 0, P * sizeof(float));
        }
    }
}

void mn_recurrent_forward_step_proj(const mn_time_loop *k, int t, int b0, int b1, int mine) {
    mn_recurrent *s = k->s;
    int H = s->H, GH = s->GH, P = s->P, B = k->B, n = b1 - b0;
    size_t BH = (size_t)B * H, BP = (size_t)B * P;
    float *hp = s->hs + (size_t)t * BP, *hn = hp + BP, *mt = s->ms + (size_t)t * BH;
    float *rec = s->rec + (size_t)b0 * GH, *yt = k->y + (size_t)t * BP;
    if (mine)
        mn_sgemm_packed_serial(0, n, 1.0f, hp + (size_t)b0 * P, P, &s->whh_t, 0.0f, rec, GH);
    else
        mn_sgemm_packed(0, n, 1.0f, hp + (size_t)b0 * P, P, &s->whh_t, 0.0f, rec, GH);
    /* the LSTM cell reads no h_prev, and writes m_t where a plain one writes h_t */
    mn_cell_step st = {.H = H, .b_ih = mn_recurrent_b_ih(s), .b_hh = mn_recurrent_b_hh(s),
                       .rec = s->rec, .act = s->act + (size_t)t * B * GH, .h = mt,
                       .c_prev = s->cs + (size_t)t * BH, .c = s->cs + (size_t)(t + 1) * BH};
    if (!mine && mn_recurrent_omp_rows(n, H)) {
        #pragma omp parallel for schedule(static)
        for (int b = b0; b < b1; b++) cell_rows(k, &st, t, b, b + 1);
    } else {
        cell_rows(k, &st, t, b0, b1);
    }
    float *h = hn + (size_t)b0 * P;
    const float *m = mt + (size_t)b0 * H;
    if (mine) mn_sgemm_packed_serial(0, n, 1.0f, m, H, &s->whr_t, 0.0f, h, P);
    else mn_sgemm_packed(0, n, 1.0f, m, H, &s->whr_t, 0.0f, h, P);
    output_rows(k, hp, hn, yt, t, b0, b1);
}

/* dh_t's rows: dy_t added where real and kept as DH_t (0 at padding), the probe read. */
static void gradient_rows(const mn_time_loop *k, int t, int b0, int b1, double *pdh) {
    const mn_recurrent *s = k->s;
    size_t P = (size_t)s->P, og = (size_t)t * k->B * P;
    for (int b = b0; b < b1; b++) {
        float *dh = s->dh + b * P, *keep = s->dhs + og + b * P;
        const float *dy = k->dy + og + b * P;
        int real = !k->lengths || k->t0 + t < k->lengths[b];
        if (real)
            for (size_t j = 0; j < P; j++) dh[j] += dy[j];
        if (real) memcpy(keep, dh, P * sizeof(float));
        else memset(keep, 0, P * sizeof(float));
        if (pdh) pdh[b] = mn_recurrent_row_norm(dh, (int)P);
    }
}

/* The cell's backward on dm_t where real; padding passes dh and dc through unchanged. */
static void cell_back_rows(const mn_time_loop *k, const mn_cell_step *st, int t, int b0,
                           int b1, double *pdc) {
    const mn_recurrent *s = k->s;
    size_t H = (size_t)s->H, P = (size_t)s->P, GH = (size_t)s->GH;
    for (int b = b0; b < b1; b++) {
        if (!k->lengths || k->t0 + t < k->lengths[b]) {
            if (pdc) pdc[b] = s->cell->dc_norm(st, b);
            s->cell->backward(st, b);
            memset(s->dh + b * P, 0, P * sizeof(float));   /* no path but W_hh's */
        } else {
            if (pdc) pdc[b] = mn_recurrent_row_norm(s->dc + b * H, (int)H);
            memset(st->dg + b * GH, 0, GH * sizeof(float));
        }
    }
}

void mn_recurrent_backward_step_proj(const mn_time_loop *k, int t, int b0, int b1, int mine) {
    mn_recurrent *s = k->s;
    int H = s->H, GH = s->GH, P = s->P, B = k->B, n = b1 - b0;
    size_t BH = (size_t)B * H, og = (size_t)t * B * GH;
    double *pdh = k->pdh ? k->pdh + (size_t)t * B : NULL;
    double *pdc = k->pdc ? k->pdc + (size_t)t * B : NULL;
    gradient_rows(k, t, b0, b1, pdh);
    /* dm_t = dh_t·W_hr (W_hr [P, H]) */
    float *dm = s->dm + (size_t)b0 * H;
    const float *dh = s->dh + (size_t)b0 * P;
    if (mine) mn_sgemm_packed_serial(0, n, 1.0f, dh, P, &s->whr, 0.0f, dm, H);
    else mn_sgemm_packed(0, n, 1.0f, dh, P, &s->whr, 0.0f, dm, H);
    mn_cell_step st = {.H = H, .dh = s->dm, .dc = s->dc, .act = s->act + og,
                       .c_prev = s->cs + (size_t)t * BH, .c = s->cs + (size_t)(t + 1) * BH,
                       .dg = s->dg + og, .dgh = s->dgh + og};
    if (!mine && mn_recurrent_omp_rows(n, H)) {
        #pragma omp parallel for schedule(static)
        for (int b = b0; b < b1; b++) cell_back_rows(k, &st, t, b, b + 1, pdc);
    } else {
        cell_back_rows(k, &st, t, b0, b1, pdc);
    }
    /* dh_{t-1} += DG_t·W_hh (W_hh [4H, P]); padded rows add 0 */
    const float *dg = st.dgh + (size_t)b0 * GH;
    float *dhp = s->dh + (size_t)b0 * P;
    if (mine) mn_sgemm_packed_serial(0, n, 1.0f, dg, GH, &s->whh, 1.0f, dhp, P);
    else mn_sgemm_packed(0, n, 1.0f, dg, GH, &s->whh, 1.0f, dhp, P);
}

/* (u_h [P], u_c [H]) = (∂/∂h_{t+1}, ∂/∂c_{t+1}) → (∂/∂h_t, ∂/∂c_t) for row b: through
 * W_hr to m, the cell's step on a one-row scratch, then back through W_hh. */
void mn_recurrent_step_vjp_proj(mn_recurrent *s, int t, int b, float *u_h, float *u_c) {
    int H = s->H, GH = s->GH, P = s->P;
    size_t BH = (size_t)s->last_B * H, o = (size_t)b * H;
    size_t og = (size_t)t * s->last_B * GH + (size_t)b * GH;
    const float *W_hr = s->base.params + s->o_whr, *W_hh = s->base.params + s->o_whh;
    float *dm = s->dm + o, *dc = s->dc + o;
    for (int j = 0; j < H; j++) dm[j] = 0.0f;
    for (int p = 0; p < P; p++) {            /* dm = u_hᵀ·W_hr */
        float d = u_h[p];
        const float *w = W_hr + (size_t)p * H;
        for (int j = 0; j < H; j++) dm[j] += d * w[j];
    }
    memcpy(dc, u_c, (size_t)H * sizeof(float));
    mn_cell_step st = {.H = H, .dh = dm, .dc = dc, .act = s->act + og,
                       .c_prev = s->cs + (size_t)t * BH + o,
                       .c = s->cs + (size_t)(t + 1) * BH + o, .dg = s->vjp_dg, .dgh = s->vjp_dg};
    s->cell->backward(&st, 0);
    for (int p = 0; p < P; p++) u_h[p] = 0.0f;
    for (int g = 0; g < GH; g++) {           /* u_h = dgᵀ·W_hh, W_hh is [GH, P] */
        float d = s->vjp_dg[g];
        const float *w = W_hh + (size_t)g * P;
        for (int p = 0; p < P; p++) u_h[p] += d * w[p];
    }
    memcpy(u_c, dc, (size_t)H * sizeof(float));
}
