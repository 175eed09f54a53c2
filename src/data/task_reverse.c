/* Reverse a sequence (a sequence-to-sequence task, as in Sutskever, Vinyals & Le 2014's
 * reversal and the Transformer's translation setting): read n symbols, write them back
 * last first.
 *
 * Tokens: 0..7 the symbols, 8 the decoder's start token (BOS); the model predicts one of
 * the 8 symbols at each of the n target steps. A batch of n = --length steps:
 *   source (src_tokens): s_1 .. s_n
 *   tokens (the decoder's inputs under teacher forcing): BOS, s_n, ..., s_2
 *   labels (the target):                                  s_n, s_{n-1}, ..., s_1
 * Every answer lies in the source, n - 1 - 2t steps from the mirrored position: the decoder
 * must find step n - 1 - t of the source at output step t. Cross-entropy at every step;
 * the input-blind guess is uniform over the 8 symbols (ln 8 per step). */
#include "task.h"

#include <math.h>

#define ALPHABET 8        /* symbols 0..7 */
#define BOS 8
#define VOCAB 9

static mn_status reverse_setup(mn_task *t, int n) {
    if (n < 1 || n > (1 << 24))
        return mn_fail(MN_E_ARG, "task reverse: length must be from 1 to %d symbols, got %d",
                       1 << 24, n);
    mn_task_info *in = &t->info;
    in->max_steps = n;
    in->max_source_steps = n;
    in->seq2seq = 1;
    in->input_size = 0;
    in->vocab_size = VOCAB;
    in->output_size = ALPHABET;
    in->output = MN_OUTPUT_EVERY;
    in->loss = MN_LOSS_CE;
    in->baseline_loss = log((double)ALPHABET);
    in->baseline_desc = "uniform over the 8 symbols at every step (CE ln 8)";
    in->accuracy_desc = "sequences reversed entirely right under greedy decoding";
    return MN_OK;
}

static void reverse_generate(mn_task *t, int B) {
    const int n = t->info.max_steps;
    int32_t *src = t->src_tokens, *tok = t->tokens, *lab = t->labels;
    for (int b = 0; b < B; b++) {
        for (int s = 0; s < n; s++) src[(size_t)s * B + b] = (int32_t)mn_rng_below(&t->rng, ALPHABET);
        for (int s = 0; s < n; s++) {
            lab[(size_t)s * B + b] = src[(size_t)(n - 1 - s) * B + b];
            tok[(size_t)s * B + b] = s == 0 ? BOS : lab[(size_t)(s - 1) * B + b];
        }
        t->lengths[b] = n;
        t->src_lengths[b] = n;
    }
}

/* out: [n, B, 8] teacher-forced logits: the target symbols whose argmax is right. */
static void reverse_score(const mn_task *t, const mn_batch *b, const float *out,
                          double *correct, double *counted) {
    (void)t;
    double c = 0, k = 0;
    for (int s = 0; s < b->T; s++)
        for (int i = 0; i < b->B; i++) {
            if (s >= b->lengths[i]) continue;
            const float *o = out + ((size_t)s * b->B + i) * ALPHABET;
            int best = 0;   /* first maximum wins ties */
            for (int j = 1; j < ALPHABET; j++)
                if (o[j] > o[best]) best = j;
            c += best == b->labels[(size_t)s * b->B + i];
            k += 1;
        }
    *correct = c;
    *counted = k;
}

/* tokens: [n, B] greedily decoded: sequences with every step right. */
static void reverse_score_generated(const mn_task *t, const mn_batch *b, const int32_t *tokens,
                                    double *correct, double *counted) {
    (void)t;
    double c = 0;
    for (int i = 0; i < b->B; i++) {
        int right = 1;
        for (int s = 0; s < b->lengths[i] && right; s++)
            right = tokens[(size_t)s * b->B + i] == b->labels[(size_t)s * b->B + i];
        c += right;
    }
    *correct = c;
    *counted = b->B;
}

const mn_task_kind mn_task_reverse = {.name = "reverse",
                                      .setup = reverse_setup,
                                      .generate = reverse_generate,
                                      .score = reverse_score,
                                      .score_generated = reverse_score_generated};
