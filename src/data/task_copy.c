/* Copy memory (Arjovsky, Shah & Bengio 2016): read 10 symbols, wait T steps, then write
 * them back after a delimiter.
 *
 * Tokens: 0 blank, 1..8 symbols, 9 delimiter. A sequence has T + 20 steps:
 *   input : s1..s10, T-1 blanks, delimiter, 10 blanks
 *   labels: T+10 blanks,                      s1..s10
 * Cross-entropy at every step, averaged over all T + 20 steps. */
#include "task.h"

#include <limits.h>
#include <math.h>

#define SYMBOLS 10        /* symbols to remember */
#define ALPHABET 8        /* drawn uniformly from tokens 1..8 */
#define BLANK 0
#define DELIM 9
#define VOCAB 10

static mn_status copy_setup(mn_task *t, int T) {
    if (T < 1)
        return mn_fail(MN_E_ARG, "task copy: length (delay) must be at least 1, got %d", T);
    if (T > INT_MAX - 2 * SYMBOLS)
        return mn_fail(MN_E_ARG, "task copy: length %d is too large", T);
    mn_task_info *in = &t->info;
    in->max_steps = T + 2 * SYMBOLS;
    in->input_size = 0;
    in->vocab_size = VOCAB;
    in->output_size = VOCAB;
    in->output = MN_OUTPUT_EVERY;
    in->loss = MN_LOSS_CE;
    /* Input-blind best: blank with certainty for the first T+10 steps (loss 0), then
     * uniform over the 8 symbols (ln 8 each) for the 10 recall steps. */
    in->baseline_loss = SYMBOLS * log((double)ALPHABET) / (double)in->max_steps;
    in->baseline_desc = "blanks, then uniform over the 8 symbols (CE 10 ln 8 / (T+20))";
    in->accuracy_desc = "recalled symbols whose argmax is right";
    return MN_OK;
}

static void copy_generate(mn_task *t, int B) {
    const int steps = t->info.max_steps, recall = steps - SYMBOLS;
    int32_t *tok = t->tokens, *lab = t->labels;
    for (int b = 0; b < B; b++) {
        for (int s = 0; s < steps; s++) {
            tok[(size_t)s * B + b] = BLANK;
            lab[(size_t)s * B + b] = BLANK;
        }
        for (int i = 0; i < SYMBOLS; i++) {
            int32_t sym = 1 + (int32_t)mn_rng_below(&t->rng, ALPHABET);
            tok[(size_t)i * B + b] = sym;
            lab[(size_t)(recall + i) * B + b] = sym;
        }
        /* The delimiter is the last input before the recall steps. */
        tok[(size_t)(recall - 1) * B + b] = DELIM;
        t->lengths[b] = steps;
    }
}

/* out: [T+20, B, 10] logits. Only the 10 recall steps count: the blanks are free. */
static void copy_score(const mn_task *t, const mn_batch *b, const float *out,
                       double *correct, double *counted) {
    (void)t;
    const int B = b->B, recall = b->T - SYMBOLS;
    double c = 0;
    for (int s = recall; s < b->T; s++)
        for (int i = 0; i < B; i++) {
            const float *o = out + ((size_t)s * B + i) * VOCAB;
            int best = 0;   /* first maximum wins ties */
            for (int k = 1; k < VOCAB; k++)
                if (o[k] > o[best]) best = k;
            if (best == b->labels[(size_t)s * B + i]) c += 1;
        }
    *correct = c;
    *counted = (double)SYMBOLS * B;
}

const mn_task_kind mn_task_copy = {
    .name = "copy", .setup = copy_setup, .generate = copy_generate, .score = copy_score};
