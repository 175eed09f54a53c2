/* Induction heads (Olsson et al. 2022, "In-context learning and induction heads"), in the
 * synthetic form of H3 (Fu et al. 2023, section 3.1) and Mamba (Gu & Dao 2023, section
 * 4.1.2, vocabulary 16): after "... S v ... S" output v, where S is a special trigger token
 * that appears exactly twice.
 *
 * Tokens: 0..15 the content symbols, 16 the trigger S (vocabulary 17). With --length L
 * (L >= 3, the whole sequence):
 *   the trigger at a position p drawn uniformly from the first half [0, L/2), the answer
 *   v ~ U{0..15} at p + 1, the trigger again at the last step L - 1, and content symbols
 *   drawn uniformly everywhere else (never the trigger).
 * Output at the last step only: the label is v (16 classes), cross-entropy. The input-blind
 * best is uniform over the 16 symbols: CE ln 16. The rule does not depend on L, so a model
 * trained at one length can be evaluated at another (mnemo eval --load F --length N). */
#include "task.h"

#include <math.h>

#define SYMBOLS 16        /* content symbols 0..15, the answer's classes */
#define TRIGGER 16
#define VOCAB 17

static mn_status induction_setup(mn_task *t, int L) {
    if (L < 3)
        return mn_fail(MN_E_ARG, "task induction: length must be at least 3 (trigger, answer, "
                       "trigger), got %d", L);
    mn_task_info *in = &t->info;
    in->max_steps = L;
    in->input_size = 0;
    in->vocab_size = VOCAB;
    in->output_size = SYMBOLS;
    in->output = MN_OUTPUT_LAST;
    in->loss = MN_LOSS_CE;
    in->baseline_loss = log((double)SYMBOLS);
    in->baseline_desc = "uniform over the 16 symbols (CE ln 16)";
    in->accuracy_desc = "sequences whose argmax at the last step is the token after the first "
                        "trigger";
    return MN_OK;
}

static void induction_generate(mn_task *t, int B) {
    const int L = t->info.max_steps;
    /* p + 1 <= L/2 <= L - 2 for L >= 3 (at L = 3: p = 0, v at 1, trigger at 2) */
    const int half = L / 2;
    int32_t *tok = t->tokens;
    for (int b = 0; b < B; b++) {
        for (int s = 0; s < L; s++)
            tok[(size_t)s * B + b] = (int32_t)mn_rng_below(&t->rng, SYMBOLS);
        int p = (int)mn_rng_below(&t->rng, (uint32_t)half);
        int32_t v = tok[(size_t)(p + 1) * B + b];   /* already uniform over the symbols */
        tok[(size_t)p * B + b] = TRIGGER;
        tok[(size_t)(L - 1) * B + b] = TRIGGER;
        t->labels[b] = v;
        t->lengths[b] = L;
    }
}

/* out: [B, 16] logits at the last step. */
static void induction_score(const mn_task *t, const mn_batch *b, const float *out,
                            double *correct, double *counted) {
    (void)t;
    double c = 0;
    for (int i = 0; i < b->B; i++) {
        const float *o = out + (size_t)i * SYMBOLS;
        int best = 0;   /* first maximum wins ties */
        for (int k = 1; k < SYMBOLS; k++)
            if (o[k] > o[best]) best = k;
        c += best == b->labels[i];
    }
    *correct = c;
    *counted = b->B;
}

const mn_task_kind mn_task_induction = {.name = "induction",
                                        .setup = induction_setup,
                                        .generate = induction_generate,
                                        .score = induction_score};
