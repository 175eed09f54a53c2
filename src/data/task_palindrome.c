/* Palindrome recognition: is the sequence the same read backwards? The answer at the end
 * needs every symbol of the first half matched against its mirror in the second, the
 * longest dependency being the first symbol against the last.
 *
 * Tokens: 0, 1 (a binary alphabet, as in the formal-language palindrome {w w^R}). With
 * --length L (L >= 2, the whole sequence), each sequence is a palindrome or not with
 * probability 1/2 each:
 *   palindrome: the first ceil(L/2) symbols ~ U{0,1}, mirrored onto the rest;
 *   not:        such a palindrome with one mirrored pair (i, L-1-i), i ~ U[0, L/2), broken
 *               by flipping one of its two symbols (which one: a fair coin).
 * A non-palindrome thus differs from a palindrome in a single symbol, so the whole sequence
 * must be checked; a random sequence would almost never be one. Output at the last step:
 * class 1 palindrome, 0 not; cross-entropy; the input-blind best is CE ln 2. A
 * bidirectional last block suits it: its reverse state at step 0 has read the whole
 * sequence backwards, beside the forward state at the last step. */
#include "task.h"

#include <math.h>

#define ALPHABET 2
#define CLASSES 2

static mn_status palindrome_setup(mn_task *t, int L) {
    if (L < 2)
        return mn_fail(MN_E_ARG, "task palindrome: length must be at least 2 (a sequence of "
                       "one symbol is always a palindrome), got %d", L);
    mn_task_info *in = &t->info;
    in->max_steps = L;
    in->input_size = 0;
    in->vocab_size = ALPHABET;
    in->output_size = CLASSES;
    in->output = MN_OUTPUT_LAST;
    in->loss = MN_LOSS_CE;
    in->baseline_loss = log(2.0);
    in->baseline_desc = "1/2 each, half the sequences being palindromes (CE ln 2)";
    in->accuracy_desc = "sequences classified right (palindrome or not)";
    return MN_OK;
}

static void palindrome_generate(mn_task *t, int B) {
    const int L = t->info.max_steps;
    int32_t *tok = t->tokens;
    for (int b = 0; b < B; b++) {
        int32_t pal = (int32_t)mn_rng_below(&t->rng, 2);
        for (int s = 0; s < (L + 1) / 2; s++) {
            int32_t v = (int32_t)mn_rng_below(&t->rng, ALPHABET);
            tok[(size_t)s * B + b] = v;
            tok[(size_t)(L - 1 - s) * B + b] = v;
        }
        if (!pal) {
            int i = (int)mn_rng_below(&t->rng, (uint32_t)(L / 2));
            int s = mn_rng_below(&t->rng, 2) ? L - 1 - i : i;
            int32_t *p = &tok[(size_t)s * B + b];
            *p = (*p + 1 + (int32_t)mn_rng_below(&t->rng, ALPHABET - 1)) % ALPHABET;
        }
        t->labels[b] = pal;
        t->lengths[b] = L;
    }
}

/* out: [B, 2] logits at the last step. */
static void palindrome_score(const mn_task *t, const mn_batch *b, const float *out,
                             double *correct, double *counted) {
    (void)t;
    double c = 0;
    for (int i = 0; i < b->B; i++) {
        const float *o = out + (size_t)i * CLASSES;
        c += (o[1] > o[0] ? 1 : 0) == b->labels[i];   /* first maximum wins ties: class 0 */
    }
    *correct = c;
    *counted = b->B;
}

const mn_task_kind mn_task_palindrome = {.name = "palindrome",
                                         .setup = palindrome_setup,
                                         .generate = palindrome_generate,
                                         .score = palindrome_score};
