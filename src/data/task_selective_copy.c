/* Selective copying (Gu & Dao 2023, "Mamba", section 4.1.1 and Appendix E.1): remember 16
 * data tokens scattered at random positions among noise tokens, then write them out in
 * order while 16 marker tokens are read. Unlike copy, the positions vary from sequence to
 * sequence, so a fixed delay (a convolution, a time-invariant state space) cannot solve it.
 *
 * The generator is that of the paper's code base (state-spaces/s4, copying.py,
 * torch_copying_data with variable=True, A = 16 tokens, M = 16 tokens to memorize):
 *   tokens 0 noise, 1..14 data symbols, 15 marker (vocabulary 16, special tokens included).
 * With --length L (L >= 16: the region the data tokens are scattered over, S4's L + M):
 *   steps 0..L-1   : 16 data tokens d_1..d_16 ~ U{1..14} at 16 distinct positions drawn
 *                    uniformly (kept in increasing order), noise (0) elsewhere
 *   steps L..L+15  : markers (15); the label at step L + j is d_{j+1}
 * Labels are -1 (ignored) at steps 0..L-1: the loss is the cross-entropy over the 16
 * recall steps only. The input-blind best is uniform over the 14 symbols: CE ln 14. */
#include "task.h"

#include <limits.h>
#include <math.h>

#define DATA 16           /* data tokens to copy (the paper's 16) */
#define NOISE 0
#define SYMBOLS 14        /* data symbols 1..14 */
#define MARKER 15
#define VOCAB 16

static mn_status selective_setup(mn_task *t, int L) {
    if (L < DATA)
        return mn_fail(MN_E_ARG, "task selective-copy: length must be at least %d (the "
                       "region holding the %d data tokens), got %d", DATA, DATA, L);
    if (L > INT_MAX - DATA)
        return mn_fail(MN_E_ARG, "task selective-copy: length %d is too large", L);
    mn_task_info *in = &t->info;
    in->max_steps = L + DATA;
    in->input_size = 0;
    in->vocab_size = VOCAB;
    in->output_size = VOCAB;
    in->output = MN_OUTPUT_EVERY;
    in->loss = MN_LOSS_CE;
    in->baseline_loss = log((double)SYMBOLS);
    in->baseline_desc = "uniform over the 14 data symbols at the 16 recall steps (CE ln 14)";
    in->accuracy_desc = "recalled data tokens whose argmax is right";
    return MN_OK;
}

static void selective_generate(mn_task *t, int B) {
    const int L = t->info.length, steps = t->info.max_steps;
    int32_t *tok = t->tokens, *lab = t->labels;
    for (int b = 0; b < B; b++) {
        /* Selection sampling (Knuth's algorithm S): position s is taken with probability
         * (still needed) / (still left), which gives 16 distinct positions, each set of
         * them equally likely, already in order. */
        int taken = 0;
        for (int s = 0; s < L; s++) {
            int32_t v = NOISE;
            if ((int)mn_rng_below(&t->rng, (uint32_t)(L - s)) < DATA - taken) {
                v = 1 + (int32_t)mn_rng_below(&t->rng, SYMBOLS);
                lab[(size_t)(L + taken) * B + b] = v;
                taken++;
            }
            tok[(size_t)s * B + b] = v;
            lab[(size_t)s * B + b] = -1;
        }
        for (int s = L; s < steps; s++) tok[(size_t)s * B + b] = MARKER;
        t->lengths[b] = steps;
    }
}

/* out: [L+16, B, 16] logits: the 16 recall steps count, the rest is free. */
static void selective_score(const mn_task *t, const mn_batch *b, const float *out,
                            double *correct, double *counted) {
    (void)t;
    const int B = b->B;
    double c = 0;
    for (int s = b->T - DATA; s < b->T; s++)
        for (int i = 0; i < B; i++) {
            const float *o = out + ((size_t)s * B + i) * VOCAB;
            int best = 0;   /* first maximum wins ties */
            for (int k = 1; k < VOCAB; k++)
                if (o[k] > o[best]) best = k;
            c += best == b->labels[(size_t)s * B + i];
        }
    *correct = c;
    *counted = (double)DATA * B;
}

const mn_task_kind mn_task_selective_copy = {.name = "selective-copy",
                                             .setup = selective_setup,
                                             .generate = selective_generate,
                                             .score = selective_score};
