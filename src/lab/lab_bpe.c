/* bpe-distance: how far apart related positions lie in characters and in BPE tokens.
 * Related positions: each word and its next repetition (the start of one occurrence to the
 * start of the next), each opening bracket or quote and its closing one. A model that must
 * carry information between them carries it over that many steps, so the distance in
 * tokens is the length the long-range dependency has for the model (the seeds' example:
 * 100 characters are about 25 BPE tokens). Tokenizers of growing vocabulary are trained on
 * the text itself (mn_tokenizer_train); 256 is the bytes. */
#include "lab.h"
#include "data.h"

#include <math.h>
#include <string.h>

#define MAX_TEXT ((size_t)64 << 20)
#define GEN_BYTES 300000
#define GEN_WORDS 1200
#define MAX_DEPTH 256

static const int vocabs[] = {256, 512, 1024, 4096};
#define NVOCABS ((int)(sizeof vocabs / sizeof vocabs[0]))

static uint64_t next64(uint64_t *s) {   /* splitmix64 */
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static double unit(uint64_t *s) { return (double)(next64(s) >> 11) * 0x1p-53; }

/* Sentences of pseudo-words (syllables, Zipf-like frequencies: index ~ N·u³), with
 * parenthesized, bracketed and quoted runs of 2..9 words. */
static mn_status generate_text(uint64_t seed, unsigned char **out, size_t *len) {
    static const char *const cons = "bdfgklmnprstvz", *const vow = "aeiou";
    char words[GEN_WORDS][12];
    uint64_t s = seed ^ 0xB9E0D15Eull;
    for (int w = 0; w < GEN_WORDS; w++) {
        int syl = 1 + (int)(unit(&s) * 3), k = 0;
        for (int j = 0; j < syl; j++) {
            words[w][k++] = cons[next64(&s) % 14];
            words[w][k++] = vow[next64(&s) % 5];
        }
        if (unit(&s) < 0.3) words[w][k++] = cons[next64(&s) % 14];
        words[w][k] = 0;
    }
    unsigned char *t = mn_alloc(GEN_BYTES + 64);
    if (!t) return MN_E_NOMEM;
    size_t n = 0;
    int open = 0, left = 0;   /* the open bracket's closer, words before it closes */
    while (n < GEN_BYTES) {
        if (!open && unit(&s) < 0.06) {
            double u = unit(&s);
            open = u < 0.4 ? ')' : u < 0.7 ? ']' : '"';
            t[n++] = open == ')' ? '(' : open == ']' ? '[' : '"';
            left = 2 + (int)(unit(&s) * 8);
        }
        double u = unit(&s);
        const char *w = words[(int)(GEN_WORDS * u * u * u)];
        size_t wl = strlen(w);
        memcpy(t + n, w, wl);
        n += wl;
        if (open && --left == 0) {
            t[n++] = (unsigned char)open;
            open = 0;
        }
        t[n++] = unit(&s) < 0.08 ? '.' : ' ';
        if (t[n - 1] == '.') t[n++] = unit(&s) < 0.2 ? '\n' : ' ';
    }
    if (open) t[n++] = (unsigned char)open;
    *out = t;
    *len = n;
    return MN_OK;
}

typedef struct {
    uint32_t a, b;   /* byte offsets of the two related positions */
} pair;

static int is_word_byte(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80;
}

static uint64_t word_hash(const unsigned char *w, size_t n) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) h = (h ^ w[i]) * 0x100000001b3ull;
    return h;
}

/* The pairs of t: words (into p[0..*nw)) then brackets and quotes (p[*nw..*nw+*nb)).
 * p NULL: counts only. slot/cap: the word table (last start of each word), zeroed here. */
static void find_pairs(const unsigned char *t, size_t n, pair *p, size_t *nw, size_t *nb,
                       uint32_t *slot, uint32_t *slen, size_t cap) {
    size_t w = 0, b = 0;
    if (slot) memset(slot, 0xFF, cap * sizeof *slot);
    for (size_t i = 0; i < n;) {
        if (!is_word_byte(t[i])) {
            i++;
            continue;
        }
        size_t j = i;
        while (j < n && is_word_byte(t[j])) j++;
        uint64_t h = word_hash(t + i, j - i);
        for (size_t k = h & (cap - 1);; k = (k + 1) & (cap - 1)) {
            if (slot[k] == UINT32_MAX) {
                slot[k] = (uint32_t)i;
                slen[k] = (uint32_t)(j - i);
                break;
            }
            if (slen[k] == j - i && !memcmp(t + slot[k], t + i, j - i)) {
                if (p) p[w] = (pair){slot[k], (uint32_t)i};
                w++;
                slot[k] = (uint32_t)i;
                break;
            }
        }
        i = j;
    }
    unsigned char stack_c[MAX_DEPTH];
    uint32_t stack_at[MAX_DEPTH];
    int depth = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = t[i];
        unsigned char want = c == ')' ? '(' : c == ']' ? '[' : c == '}' ? '{' : c == '"' ? '"' : 0;
        if (want && depth > 0 && stack_c[depth - 1] == want) {
            depth--;
            if (p) p[w + b] = (pair){stack_at[depth], (uint32_t)i};
            b++;
        } else if ((c == '(' || c == '[' || c == '{' || c == '"') && depth < MAX_DEPTH) {
            stack_c[depth] = c;
            stack_at[depth++] = (uint32_t)i;
        }
    }
    *nw = w;
    *nb = b;
}

/* mean of pos[p.b] - pos[p.a] over pairs */
static double mean_distance(const pair *p, size_t n, const uint32_t *pos) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)pos[p[i].b] - (double)pos[p[i].a];
    return n ? s / (double)n : NAN;
}

mn_status mn_lab_bpe_distance(const mn_lab_options *o, mn_lab_result *r) {
    unsigned char *t = NULL;
    size_t n = 0, cap = 0;
    mn_status st = MN_OK;
    if (o->text) {
        size_t size;
        if ((st = mn_data_file_size(o->text, &size))) return st;
        if (size > MAX_TEXT)
            return mn_fail(MN_E_ARG, "bpe-distance measures on at most %zu MB of text; \"%s\" "
                           "holds %zu bytes: give a part of it", MAX_TEXT >> 20, o->text, size);
        if ((st = mn_data_append_file(o->text, "text", &t, &n, &cap))) return st;
    } else if ((st = generate_text(o->seed, &t, &n))) {
        return st;
    }
    size_t words = 0;   /* upper bound on distinct words: the table's size */
    for (size_t i = 0; i < n; i++) words += is_word_byte(t[i]) && (i == 0 || !is_word_byte(t[i - 1]));
    size_t tcap = 16;
    while (tcap < 2 * words + 16) tcap *= 2;
    uint32_t *slot = mn_alloc(tcap * sizeof *slot), *slen = mn_alloc(tcap * sizeof *slen);
    uint32_t *chr = mn_alloc((n + 1) * sizeof *chr), *tok = mn_alloc((n + 1) * sizeof *tok);
    int32_t *ids = mn_alloc((n + 1) * sizeof *ids);
    pair *p = NULL;
    size_t nw = 0, nb = 0;
    if (!slot || !slen || !chr || !tok || !ids) st = MN_E_NOMEM;
    if (!st) {
        find_pairs(t, n, NULL, &nw, &nb, slot, slen, tcap);
        if (!(p = mn_alloc((nw + nb + 1) * sizeof *p))) st = MN_E_NOMEM;
    }
    if (!st) find_pairs(t, n, p, &nw, &nb, slot, slen, tcap);
    if (!st && nw + nb == 0)
        st = mn_fail(MN_E_INPUT, "the text has no repeated word and no bracket or quote pair: "
                     "nothing to measure; give a longer text");
    double chars = 0;
    for (size_t i = 0; !st && i < n; i++) {
        chr[i] = (uint32_t)chars;
        chars += (t[i] & 0xC0) != 0x80;
    }
    double word_chars = 0, br_chars = 0, all_chars = 0;
    double tok_all[NVOCABS];
    if (!st) {
        word_chars = mean_distance(p, nw, chr);
        br_chars = mean_distance(p + nw, nb, chr);
        all_chars = mean_distance(p, nw + nb, chr);
        mn_lab_text(r->claim, sizeof r->claim, "byte-pair encoding shortens the distance in "
                    "tokens between related positions (a word and its next repetition, an "
                    "opening bracket or quote and its closing one) as the vocabulary grows; the "
                    "distance in characters stays");
        mn_lab_text(r->quantity, sizeof r->quantity, "mean distance in tokens over %zu pairs: "
                    "bytes (vocabulary 256) and at vocabulary %d", nw + nb, vocabs[NVOCABS - 1]);
        mn_lab_text(r->criterion, sizeof r->criterion, "the token distance never grows with "
                    "the vocabulary and ends below the bytes'");
        mn_lab_say(r, "  text        %s, %zu bytes, %.0f characters\n",
                   o->text ? o->text : "generated (repeated pseudo-words, brackets, quotes)",
                   n, chars);
        mn_lab_say(r, "  pairs       %zu word repetitions (mean %.1f characters apart), %zu "
                   "brackets and quotes (%.1f)\n", nw, word_chars, nb, br_chars);
        mn_lab_say(r, "  tokenizers  trained on the text itself (mnemo tokenize train)\n\n");
        mn_lab_say(r, "  %6s  %9s  %11s  %12s  %12s  %12s\n", "vocab", "tokens", "chars/token",
                   "word dist", "bracket dist", "all pairs");
        mn_lab_put(r, "pairs_words", (double)nw);
        mn_lab_put(r, "pairs_brackets", (double)nb);
        mn_lab_put(r, "word_chars", word_chars);
        mn_lab_put(r, "bracket_chars", br_chars);
        mn_lab_put(r, "all_chars", all_chars);
    }
    int ok = 1;
    for (int v = 0; !st && v < NVOCABS; v++) {
        size_t nids = n;
        int got = 256;
        if (vocabs[v] == 256) {
            for (size_t i = 0; i <= n; i++) tok[i] = (uint32_t)i;
        } else {
            mn_tokenizer *tz = NULL;
            const char *texts[1] = {(const char *)t};
            mn_lab_progress(o, "bpe-distance: training a tokenizer of %d tokens", vocabs[v]);
            if ((st = mn_tokenizer_train(texts, &n, 1, vocabs[v], &tz))) break;
            got = mn_tokenizer_vocab_size(tz);
            st = mn_tokenizer_encode(tz, t, n, ids, n + 1, &nids);
            /* tok[b]: the index of the token holding byte b */
            size_t at = 0;
            for (size_t k = 0; !st && k < nids; k++) {
                size_t nbytes = 0;
                st = mn_tokenizer_decode(tz, &ids[k], 1, NULL, 0, &nbytes);
                for (size_t e = 0; !st && e < nbytes && at < n; e++) tok[at++] = (uint32_t)k;
            }
            tok[n] = (uint32_t)nids;
            mn_tokenizer_free(tz);
            if (st) break;
        }
        double dw = mean_distance(p, nw, tok), db = mean_distance(p + nw, nb, tok);
        tok_all[v] = mean_distance(p, nw + nb, tok);
        mn_lab_say(r, "  %6d  %9zu  %11.3f  %12.2f  %12.2f  %12.2f\n", got, nids,
                   chars / (double)nids, dw, db, tok_all[v]);
        mn_lab_putf(r, (double)got, "vocab_%d", vocabs[v]);
        mn_lab_putf(r, chars / (double)nids, "chars_per_token_%d", vocabs[v]);
        mn_lab_putf(r, dw, "word_tokens_%d", vocabs[v]);
        mn_lab_putf(r, db, "bracket_tokens_%d", vocabs[v]);
        mn_lab_putf(r, tok_all[v], "all_tokens_%d", vocabs[v]);
        if (v > 0 && !(tok_all[v] <= tok_all[v - 1])) ok = 0;
    }
    if (!st) {
        ok = ok && tok_all[NVOCABS - 1] < tok_all[0];
        mn_lab_say(r, "\n  at vocabulary %d, related positions %.1f characters apart are %.1f "
                   "tokens apart (%.2f characters per token of distance)\n", vocabs[NVOCABS - 1],
                   all_chars, tok_all[NVOCABS - 1], all_chars / tok_all[NVOCABS - 1]);
        mn_lab_verdict(r, tok_all[0], tok_all[NVOCABS - 1], 1, ok);
    }
    mn_release(t);
    mn_release(slot);
    mn_release(slen);
    mn_release(chr);
    mn_release(tok);
    mn_release(ids);
    mn_release(p);
    return st;
}
