/* ListOps (Nangia & Bowman 2018), as generated for the Long Range Arena (Tay et al. 2021,
 * google-research/long-range-arena, lra_benchmarks/data/listops.py): evaluate a nested
 * prefix expression over the digits 0-9 and output its value (10 classes).
 *
 * The tree is LRA's generate_tree(1, max_depth 10, max_args 10): a node at depth d < 10 is
 * an operator with probability 0.25 (else a digit ~ U{0..9}; at depth 10 always a digit);
 * an operator takes 2..10 arguments (uniform) and is one of
 *   MIN, MAX, MED (the median, an integer: floor, as LRA's int(np.median(...)); of an even
 *   count, the mean of the two middle values), SM (the sum modulo 10).
 * Tokens keep the brackets: 0..9 the digits, 10 '[MIN', 11 '[MAX', 12 '[MED', 13 '[SM',
 * 14 ']', 15 padding (vocabulary 16); "[MAX 2 9 [MIN 4 7 ] 0 ]" is 8 tokens, value 9.
 *
 * Lengths. With --length L (L >= 4, the padded length T), a sequence has n tokens with
 * n in [max(4, L/4), L]: LRA draws trees until 500 < n < 2000, and L/4..L is that window
 * at L = 2000. Sequences vary in length within a batch (lengths[], padding after). As LRA's
 * window excludes a bare digit, the root is always an operator (which conditions the trees
 * on nothing the window keeps). Rejection is bounded: at most 128 trees per sequence, each
 * abandoned as soon as it passes L tokens; when none lands in the window, the longest tree
 * of at most L tokens is taken (it is shorter than L/4), and when none fits at all (L near
 * 4) a root operator over two digits. Trees of depth <= 10 rarely pass ~8000 tokens, so
 * from about --length 16000 on most sequences are such fallbacks, shorter than L/4.
 *
 * Output at the last real step, cross-entropy over the 10 values. The input-blind best is
 * the label prior, which depends on L through the window: setup estimates it from a sample
 * with a fixed seed, the baseline being its entropy. The sample is up to 1000 sequences and
 * about 1M generated tokens (some 20 ms: mnemo memory creates tasks at many lengths), which
 * is 1000 sequences up to L ~ 400, ~670 at L = 2000, and only ~15 past L ~ 16000 (where
 * the fallbacks rule anyway); baseline_desc says how many. */
#include "task.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define MAX_DEPTH 10
#define MAX_ARGS 10
#define OP_P 0.25         /* LRA: r > VALUE_P = 0.25 makes a digit */
#define ATTEMPTS 128
#define DIGITS 10
#define OP_MIN 10         /* MIN, MAX, MED, SM: 10..13 */
#define OPS 4
#define END 14
#define PAD 15
#define VOCAB 16
#define MIN_LENGTH 4      /* [OP a b ] */
#define BASELINE_SEQUENCES 1000
#define BASELINE_WORK 1000000   /* tokens generated while estimating the prior, at most */
#define BASELINE_SEED 0x4c52414c6f707321ull

typedef struct {
    mn_rng *rng;
    int32_t *out;         /* tokens[s * stride], or NULL to count and evaluate only */
    size_t stride;
    int n, cap;           /* tokens so far; past cap the tree is abandoned */
    int root_vals[MAX_ARGS], root_k;   /* the root's argument values */
} tree_gen;

static void emit(tree_gen *g, int32_t tok) {
    if (g->n < g->cap && g->out) g->out[(size_t)g->n * g->stride] = tok;
    g->n++;
}

static int apply(int op, int *v, int k) {
    int r = v[0];
    switch (op) {
    case 0: for (int i = 1; i < k; i++) r = v[i] < r ? v[i] : r; return r;
    case 1: for (int i = 1; i < k; i++) r = v[i] > r ? v[i] : r; return r;
    case 2:   /* insertion sort of at most 10 values, then the floor of the median */
        for (int i = 1; i < k; i++)
            for (int j = i; j > 0 && v[j - 1] > v[j]; j--) {
                int x = v[j]; v[j] = v[j - 1]; v[j - 1] = x;
            }
        return k % 2 ? v[k / 2] : (v[k / 2 - 1] + v[k / 2]) / 2;
    default: r = 0; for (int i = 0; i < k; i++) r += v[i]; return r % 10;
    }
}

/* One node at depth `depth` (the root at 1), emitted in prefix order; its value. Once
 * the tree passes cap tokens it is abandoned: no more draws, the value is meaningless. */
static int node(tree_gen *g, int depth, int force_op) {
    if (g->n > g->cap) return 0;
    int is_op = force_op || (depth < MAX_DEPTH && mn_rng_uniform(g->rng) <= OP_P);
    if (!is_op) {
        int v = (int)mn_rng_below(g->rng, DIGITS);
        emit(g, v);
        return v;
    }
    int slot = g->n, vals[MAX_ARGS];
    emit(g, OP_MIN);   /* the operator is drawn after its arguments, as LRA does */
    int k = 2 + (int)mn_rng_below(g->rng, MAX_ARGS - 1);
    for (int i = 0; i < k; i++) vals[i] = node(g, depth + 1, 0);
    emit(g, END);
    if (g->n > g->cap) return 0;
    if (depth == 1) {
        memcpy(g->root_vals, vals, sizeof vals);
        g->root_k = k;
    }
    int op = (int)mn_rng_below(g->rng, OPS);
    if (g->out) g->out[(size_t)slot * g->stride] = OP_MIN + op;
    return apply(op, vals, k);
}

/* One sequence of n tokens in [lo, L] (or a fallback, above) into out (NULL: not written);
 * its value. *work counts the tokens generated, rejected trees included; root (when not
 * NULL) gets the root's argument values and their count. */
static int draw_sequence(mn_rng *rng, int L, int32_t *out, size_t stride, int *n,
                         size_t *work, int *root) {
    const int lo = L / 4 > MIN_LENGTH ? L / 4 : MIN_LENGTH;
    tree_gen g = {rng, out, stride, 0, L, {0}, 0};
    int v = -1;
    mn_rng best_state = *rng;
    int best_n = 0;
    for (int a = 0; a < ATTEMPTS; a++) {
        mn_rng before = *rng;
        g.n = 0;
        v = node(&g, 1, 1);
        *work += (size_t)(g.n < L ? g.n : L);
        if (g.n >= lo && g.n <= L) {
            *n = g.n;
            goto done;
        }
        if (g.n <= L && g.n > best_n) {
            best_n = g.n;
            best_state = before;
        }
    }
    if (best_n > 0) {   /* the longest tree that fit, drawn again from its start */
        mn_rng after = *rng;
        *rng = best_state;
        g.n = 0;
        v = node(&g, 1, 1);
        *work += (size_t)g.n;
        *rng = after;
        *n = g.n;
        goto done;
    }
    /* [OP a b ]: 4 <= L tokens */
    g.root_k = 2;
    g.root_vals[0] = (int)mn_rng_below(rng, DIGITS);
    g.root_vals[1] = (int)mn_rng_below(rng, DIGITS);
    int op = (int)mn_rng_below(rng, OPS), vals[2] = {g.root_vals[0], g.root_vals[1]};
    const int32_t toks[4] = {OP_MIN + op, vals[0], vals[1], END};
    for (int s = 0; out && s < 4; s++) out[(size_t)s * stride] = toks[s];
    *n = 4;
    v = apply(op, vals, 2);
done:
    if (root) {
        memcpy(root, g.root_vals, sizeof g.root_vals);
        root[MAX_ARGS] = g.root_k;
    }
    return v;
}

static mn_status listops_setup(mn_task *t, int L) {
    if (L < MIN_LENGTH)
        return mn_fail(MN_E_ARG, "task listops: length must be at least %d (the shortest "
                       "expression, [OP a b ]), got %d", MIN_LENGTH, L);
    mn_task_info *in = &t->info;
    in->max_steps = L;
    in->input_size = 0;
    in->vocab_size = VOCAB;
    in->output_size = DIGITS;
    in->output = MN_OUTPUT_LAST;
    in->loss = MN_LOSS_CE;
    /* The label prior from a fixed-seed sample: the same for every task seed, bounded in
     * time at any L (mnemo memory creates tasks at many lengths). The root's operator is
     * drawn independently of its arguments and of the length, so each sequence counts
     * 1/4 for the value of each of the 4 operators over its root's arguments: the same
     * expectation as its own label, with less variance from a small sample. */
    mn_rng rng;
    mn_rng_seed(&rng, BASELINE_SEED);
    double count[DIGITS] = {0}, total = 0;
    size_t work = 0;
    for (int i = 0; i < BASELINE_SEQUENCES && (i == 0 || work < BASELINE_WORK); i++) {
        int n, root[MAX_ARGS + 1], vals[MAX_ARGS];
        draw_sequence(&rng, L, NULL, 0, &n, &work, root);
        for (int op = 0; op < OPS; op++) {
            memcpy(vals, root, sizeof vals);
            count[apply(op, vals, root[MAX_ARGS])] += 1.0 / OPS;
        }
        total += 1;
    }
    double h = 0;
    int major = 0;
    for (int k = 0; k < DIGITS; k++) {
        if (count[k] > 0) h -= count[k] / total * log(count[k] / total);
        if (count[k] > count[major]) major = k;
    }
    in->baseline_loss = h;
    snprintf(t->desc, sizeof t->desc, "the label prior of %.0f seeded sequences (CE its "
             "entropy); majority class %d at %.1f%%", total, major, 100.0 * count[major] / total);
    in->baseline_desc = t->desc;
    in->accuracy_desc = "expressions whose value is the argmax";
    return MN_OK;
}

static void listops_generate(mn_task *t, int B) {
    const int L = t->info.max_steps;
    int32_t *tok = t->tokens;
    for (int b = 0; b < B; b++) {
        int n;
        size_t work = 0;
        t->labels[b] = draw_sequence(&t->rng, L, tok + b, (size_t)B, &n, &work, NULL);
        for (int s = n; s < L; s++) tok[(size_t)s * B + b] = PAD;
        t->lengths[b] = n;
    }
}

/* out: [B, 10] logits at each sequence's last real step. */
static void listops_score(const mn_task *t, const mn_batch *b, const float *out,
                          double *correct, double *counted) {
    (void)t;
    double c = 0;
    for (int i = 0; i < b->B; i++) {
        const float *o = out + (size_t)i * DIGITS;
        int best = 0;   /* first maximum wins ties */
        for (int k = 1; k < DIGITS; k++)
            if (o[k] > o[best]) best = k;
        c += best == b->labels[i];
    }
    *correct = c;
    *counted = b->B;
}

const mn_task_kind mn_task_listops = {.name = "listops",
                                      .setup = listops_setup,
                                      .generate = listops_generate,
                                      .score = listops_score};
