/* Streaming a recurrent layer one step at a time (mn_layer_ops.step): the forward's own
 * step over T = 1, without what a whole-sequence forward pays per call. At a stream's
 * step 0 the weights are packed once (W_ihᵀ, W_hhᵀ and, with a projection, W_hrᵀ) and the
 * state zeroed; every later step is one product for the input, the time loop's step (one
 * product for the recurrence and the fused cell), and a copy of the state forward. Packing
 * per call, as a T = 1 forward does, would move 2·G·H·(I + P) floats for G·H·(I + P)
 * multiply-adds: ten times the step's own work at H = 128. The stream therefore reads the
 * weights as they were at its step 0 (mn_stream_reset reads them again). */
#include "recurrent.h"

#include <string.h>

mn_status mn_recurrent_stream_step(mn_layer *l, const float *x_t, float *y_t, int B, int t) {
    mn_recurrent *s = (mn_recurrent *)l;
    const int I = l->in_size, GH = s->GH, P = s->P, H = s->H;
    if (t == 0 || B != s->stream_B) {
        if (t != 0)
            return mn_fail(MN_E_STATE, "recurrent step %d with %d sequences, and the stream "
                           "started with %d; reset the stream to change the batch", t, B,
                           s->stream_B);
        s->stream_B = 0;
        if (mn_recurrent_reserve(s, 1, B) ||
            mn_pack_b(&s->wih_t, 1, I, GH, l->params + s->o_wih, I) ||
            mn_pack_b(&s->whh_t, 1, P, GH, l->params + s->o_whh, P) ||
            (s->proj && mn_pack_b(&s->whr_t, 1, H, P, l->params + s->o_whr, H)))
            return MN_E_NOMEM;
        memset(s->hs, 0, (size_t)B * P * sizeof(float));
        if (s->cs) memset(s->cs, 0, (size_t)B * H * sizeof(float));
        s->stream_B = B;
    } else {   /* the last step's state, at hs[1], becomes this one's initial state */
        memcpy(s->hs, s->hs + (size_t)B * P, (size_t)B * P * sizeof(float));
        if (s->cs) memcpy(s->cs, s->cs + (size_t)B * H, (size_t)B * H * sizeof(float));
    }
    mn_time_loop k = {.s = s, .T = 1, .B = B, .y = y_t};
    mn_recurrent_stream_compute(&k, x_t, t);
    /* what a forward of one step leaves: its state (state(), carry_state), no backward */
    s->carry = 0;
    s->chunked = 1;
    s->x = NULL;
    s->last_T = 1;
    s->last_B = B;
    return MN_OK;
}
