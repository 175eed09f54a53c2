/* Byte-level BPE training, the incremental algorithm (as in Hugging Face tokenizers'
 * BpeTrainer; Sennrich et al. 2016 recount every pair at every merge):
 *   1. pre-tokenize the text and count each distinct piece once (word -> frequency);
 *   2. count every adjacent pair of symbols over the distinct words, weighted by their
 *      frequencies, remembering which words hold each pair;
 *   3. take the pair of highest count (ties: the smallest left id, then right id) from a
 *      max-heap whose entries may be stale (a pair's count only falls, except for the
 *      pairs of the newest token, which are pushed once their counts are known); merge it
 *      in the words that hold it, adjusting the counts of the neighbouring pairs only.
 * A pair occurring twice in a row ("aaa") counts once per position, and a merge joins
 * occurrences left to right without overlap. Training stops at vocab_size tokens or when no
 * pair occurs at least twice. tools/bpe_ref.py does the same by recounting. */
#include "bpe.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>


/* Grows an array of elem-byte items to hold need, keeping its contents. */
static int grow(void *bufp, size_t *cap, size_t need, size_t elem) {
    void **buf = bufp;
    if (need <= *cap) return 1;
    size_t nc = *cap ? *cap : 16, bytes;
    while (nc < need) nc *= 2;
    if (!mn_mul_size(nc, elem, &bytes)) {
        mn_fail(MN_E_NOMEM, "BPE training: a table of %zu items does not fit in memory", nc);
        return 0;
    }
    void *nb = mn_alloc(bytes);
    if (!nb) return 0;
    if (*buf) memcpy(nb, *buf, *cap * elem);
    mn_release(*buf);
    *buf = nb;
    *cap = nc;
    return 1;
}

typedef struct { int64_t count; int32_t l, r; } heap_item;

typedef struct {
    /* distinct pieces: open-addressed by hash; bytes in `text` */
    unsigned char *text; size_t text_len, text_cap;
    size_t *w_off; uint32_t *w_len; int64_t *w_freq; uint64_t *w_hash;
    size_t n_words, w_cap;
    int32_t *wmap; size_t wmap_cap;          /* word index or -1 */
    /* symbols of every word, one after another (from w_off, shrinking by merges) */
    int32_t *syms; uint32_t *n_syms;
    /* pairs */
    uint64_t *p_key; int64_t *p_count; int32_t *p_head;
    size_t n_pairs, p_cap;
    int32_t *pmap; size_t pmap_cap;
    /* where lists: nodes of (word, next node) chained from p_head */
    int32_t *nodes; size_t n_nodes, node_cap;   /* [2 * n] */
    heap_item *heap; size_t heap_n, heap_cap;
    int32_t *stamp;                           /* [n_words] last merge that visited */
    int32_t *fresh; size_t n_fresh, fresh_cap;
} trainer;

static void trainer_free(trainer *tr) {
    mn_release(tr->text); mn_release(tr->w_off); mn_release(tr->w_len); mn_release(tr->w_freq);
    mn_release(tr->w_hash); mn_release(tr->wmap); mn_release(tr->syms); mn_release(tr->n_syms);
    mn_release(tr->p_key); mn_release(tr->p_count); mn_release(tr->p_head); mn_release(tr->pmap);
    mn_release(tr->nodes); mn_release(tr->heap); mn_release(tr->stamp); mn_release(tr->fresh);
}

static mn_status rehash_words(trainer *tr, size_t cap) {
    int32_t *m = mn_alloc(sizeof(int32_t) * cap);
    if (!m) return MN_E_NOMEM;
    memset(m, 0xff, sizeof(int32_t) * cap);
    for (size_t w = 0; w < tr->n_words; w++) {
        size_t i = tr->w_hash[w] & (cap - 1);
        while (m[i] >= 0) i = (i + 1) & (cap - 1);
        m[i] = (int32_t)w;
    }
    mn_release(tr->wmap);
    tr->wmap = m;
    tr->wmap_cap = cap;
    return MN_OK;
}

static mn_status add_piece(trainer *tr, const unsigned char *s, size_t n) {
    if (2 * (tr->n_words + 1) > tr->wmap_cap) {
        mn_status st = rehash_words(tr, tr->wmap_cap ? 2 * tr->wmap_cap : 1 << 12);
        if (st) return st;
    }
    uint64_t h = mn_bpe_hash(s, n);
    size_t mask = tr->wmap_cap - 1, i = h & mask;
    for (; tr->wmap[i] >= 0; i = (i + 1) & mask) {
        int32_t w = tr->wmap[i];
        if (tr->w_hash[w] == h && tr->w_len[w] == n && !memcmp(tr->text + tr->w_off[w], s, n)) {
            tr->w_freq[w]++;
            return MN_OK;
        }
    }
    if (tr->n_words >= INT32_MAX / 2 || n > UINT32_MAX)
        return mn_fail(MN_E_ARG, "BPE training: more than %d distinct pieces (or one of 4 GB)",
                       INT32_MAX / 2);
    if (!grow(&tr->text, &tr->text_cap, tr->text_len + n, 1)) return MN_E_NOMEM;
    size_t c = tr->w_cap;
    if (tr->n_words + 1 > c) {
        size_t c1 = c, c2 = c, c3 = c;
        if (!grow(&tr->w_off, &c, tr->n_words + 1, sizeof(size_t)) ||
            !grow(&tr->w_len, &c1, tr->n_words + 1, sizeof(uint32_t)) ||
            !grow(&tr->w_freq, &c2, tr->n_words + 1, sizeof(int64_t)) ||
            !grow(&tr->w_hash, &c3, tr->n_words + 1, sizeof(uint64_t)))
            return MN_E_NOMEM;
        tr->w_cap = c;
    }
    size_t w = tr->n_words++;
    memcpy(tr->text + tr->text_len, s, n);
    tr->w_off[w] = tr->text_len;
    tr->w_len[w] = (uint32_t)n;
    tr->w_freq[w] = 1;
    tr->w_hash[w] = h;
    tr->text_len += n;
    tr->wmap[i] = (int32_t)w;
    return MN_OK;
}

static mn_status count_text(trainer *tr, const unsigned char *s, size_t n) {
    for (size_t pos = 0; pos < n;) {
        size_t len = mn_bpe_piece(s + pos, n - pos);
        mn_status st = add_piece(tr, s + pos, len);
        if (st) return st;
        pos += len;
    }
    return MN_OK;
}

/* ---------------------------------------------------------------- pairs */

static int heap_before(const heap_item *a, const heap_item *b) {
    if (a->count != b->count) return a->count > b->count;
    if (a->l != b->l) return a->l < b->l;
    return a->r < b->r;
}

static mn_status heap_push(trainer *tr, int64_t count, int32_t l, int32_t r) {
    if (!grow(&tr->heap, &tr->heap_cap, tr->heap_n + 1, sizeof(heap_item))) return MN_E_NOMEM;
    heap_item v = {count, l, r};
    size_t i = tr->heap_n++;
    while (i > 0 && heap_before(&v, &tr->heap[(i - 1) / 2])) {
        tr->heap[i] = tr->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    tr->heap[i] = v;
    return MN_OK;
}

static heap_item heap_pop(trainer *tr) {
    heap_item top = tr->heap[0], v = tr->heap[--tr->heap_n];
    size_t i = 0, m = tr->heap_n;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= m) break;
        if (c + 1 < m && heap_before(&tr->heap[c + 1], &tr->heap[c])) c++;
        if (!heap_before(&tr->heap[c], &v)) break;
        tr->heap[i] = tr->heap[c];
        i = c;
    }
    if (m) tr->heap[i] = v;
    return top;
}

/* The index of pair (l, r), created (count 0) when absent; -1 when out of memory. */
static int32_t pair_index(trainer *tr, int32_t l, int32_t r, int create) {
    uint64_t key = ((uint64_t)(uint32_t)l << 32) | (uint32_t)r;
    if (create && 2 * (tr->n_pairs + 1) > tr->pmap_cap) {
        size_t cap = tr->pmap_cap ? 2 * tr->pmap_cap : 1 << 14;
        int32_t *m = mn_alloc(sizeof(int32_t) * cap);
        if (!m) return -1;
        memset(m, 0xff, sizeof(int32_t) * cap);
        for (size_t p = 0; p < tr->n_pairs; p++) {
            size_t i = mn_bpe_mix64(tr->p_key[p]) & (cap - 1);
            while (m[i] >= 0) i = (i + 1) & (cap - 1);
            m[i] = (int32_t)p;
        }
        mn_release(tr->pmap);
        tr->pmap = m;
        tr->pmap_cap = cap;
    }
    size_t mask = tr->pmap_cap - 1, i = mn_bpe_mix64(key) & mask;
    for (; tr->pmap[i] >= 0; i = (i + 1) & mask)
        if (tr->p_key[tr->pmap[i]] == key) return tr->pmap[i];
    if (!create) return -1;
    if (tr->n_pairs + 1 > tr->p_cap) {
        size_t c = tr->p_cap, c1 = c, c2 = c;
        if (!grow(&tr->p_key, &c, tr->n_pairs + 1, sizeof(uint64_t)) ||
            !grow(&tr->p_count, &c1, tr->n_pairs + 1, sizeof(int64_t)) ||
            !grow(&tr->p_head, &c2, tr->n_pairs + 1, sizeof(int32_t)))
            return -1;
        tr->p_cap = c;
    }
    int32_t p = (int32_t)tr->n_pairs++;
    tr->p_key[p] = key;
    tr->p_count[p] = 0;
    tr->p_head[p] = -1;
    tr->pmap[i] = p;
    return p;
}

/* count(l, r) += delta; with delta > 0, word w joins the pair's where list. */
static mn_status add_pair(trainer *tr, int32_t l, int32_t r, int64_t delta, int32_t w) {
    size_t before = tr->n_pairs;
    int32_t p = pair_index(tr, l, r, delta > 0);
    if (p < 0) {
        if (delta > 0) return MN_E_NOMEM;
        return MN_OK;   /* unreachable: a decrement names a counted pair */
    }
    tr->p_count[p] += delta;
    if (delta > 0) {
        if (tr->n_pairs != before) {
            if (!grow(&tr->fresh, &tr->fresh_cap, tr->n_fresh + 1, sizeof(int32_t)))
                return MN_E_NOMEM;
            tr->fresh[tr->n_fresh++] = p;
        }
        int32_t h = tr->p_head[p];
        if (h < 0 || tr->nodes[2 * h] != w) {
            if (tr->n_nodes >= INT32_MAX / 2)
                return mn_fail(MN_E_NOMEM, "BPE training: more than %d pair occurrences",
                               INT32_MAX / 2);
            size_t cap = tr->node_cap;
            if (!grow(&tr->nodes, &cap, 2 * (tr->n_nodes + 1), sizeof(int32_t)))
                return MN_E_NOMEM;
            tr->node_cap = cap;
            tr->nodes[2 * tr->n_nodes] = w;
            tr->nodes[2 * tr->n_nodes + 1] = h;
            tr->p_head[p] = (int32_t)tr->n_nodes++;
        }
    }
    return MN_OK;
}

/* Merges (a, b) -> c in word w, adjusting the neighbouring pairs' counts. */
static mn_status merge_word(trainer *tr, int32_t w, int32_t a, int32_t b, int32_t c) {
    int32_t *s = tr->syms + tr->w_off[w];
    uint32_t len = tr->n_syms[w], j = 0;
    int64_t f = tr->w_freq[w];
    mn_status st = MN_OK;
    for (uint32_t i = 0; i < len && !st;) {
        if (i + 1 < len && s[i] == a && s[i + 1] == b) {
            if (j > 0) {
                st = add_pair(tr, s[j - 1], a, -f, w);
                if (!st) st = add_pair(tr, s[j - 1], c, f, w);
            }
            if (i + 2 < len && !st) {
                st = add_pair(tr, b, s[i + 2], -f, w);
                if (!st) st = add_pair(tr, c, s[i + 2], f, w);
            }
            s[j++] = c;
            i += 2;
        } else {
            s[j++] = s[i++];
        }
    }
    tr->n_syms[w] = j;
    return st;
}

static mn_status fit(trainer *tr, int vocab_size, mn_tokenizer **out) {
    mn_status st = MN_E_NOMEM;
    int max_merges = vocab_size - 256, n_merges = 0;
    int32_t *merges = mn_alloc(sizeof(int32_t) * 3 * ((size_t)max_merges + 1));
    size_t *tok_off = mn_alloc(sizeof(size_t) * ((size_t)vocab_size + 1));
    unsigned char *tok_bytes = NULL;
    size_t tb_len = 256, tb_cap = 0;
    if (!merges || !tok_off || !grow(&tok_bytes, &tb_cap, 256, 1)) goto done;
    for (int b = 0; b < 256; b++) {
        tok_off[b] = (size_t)b;
        tok_bytes[b] = (unsigned char)b;
    }
    tok_off[256] = 256;

    /* words as symbols, and the first pair counts */
    tr->syms = mn_alloc(sizeof(int32_t) * (tr->text_len ? tr->text_len : 1));
    tr->n_syms = mn_alloc(sizeof(uint32_t) * (tr->n_words ? tr->n_words : 1));
    tr->stamp = mn_alloc_zero(sizeof(int32_t) * (tr->n_words ? tr->n_words : 1));
    if (!tr->syms || !tr->n_syms || !tr->stamp) goto done;
    for (size_t i = 0; i < tr->text_len; i++) tr->syms[i] = tr->text[i];
    for (size_t w = 0; w < tr->n_words; w++) {
        const int32_t *s = tr->syms + tr->w_off[w];
        tr->n_syms[w] = tr->w_len[w];
        for (uint32_t i = 0; i + 1 < tr->w_len[w]; i++)
            if ((st = add_pair(tr, s[i], s[i + 1], tr->w_freq[w], (int32_t)w))) goto done;
    }
    for (size_t p = 0; p < tr->n_pairs; p++)
        if (tr->p_count[p] >= 2 &&
            (st = heap_push(tr, tr->p_count[p], (int32_t)(tr->p_key[p] >> 32),
                            (int32_t)(uint32_t)tr->p_key[p])))
            goto done;

    while (n_merges < max_merges && tr->heap_n) {
        heap_item top = heap_pop(tr);
        int32_t p = pair_index(tr, top.l, top.r, 0);
        int64_t now = tr->p_count[p];
        if (now != top.count) {            /* stale: counts only fall, so push it back */
            if (now >= 2 && (st = heap_push(tr, now, top.l, top.r))) goto done;
            continue;
        }
        int32_t a = top.l, b = top.r, c = 256 + n_merges;
        size_t la = tok_off[a + 1] - tok_off[a], lb = tok_off[b + 1] - tok_off[b];
        if (la + lb > MN_BPE_MAX_TOKEN_BYTES) {   /* a token too long to keep: skip the pair */
            tr->p_count[p] = 0;
            continue;
        }
        if (!grow(&tok_bytes, &tb_cap, tb_len + la + lb, 1)) { st = MN_E_NOMEM; goto done; }
        memcpy(tok_bytes + tb_len, tok_bytes + tok_off[a], la);
        memcpy(tok_bytes + tb_len + la, tok_bytes + tok_off[b], lb);
        tb_len += la + lb;
        tok_off[c + 1] = tb_len;
        merges[3 * n_merges] = a;
        merges[3 * n_merges + 1] = b;
        merges[3 * n_merges + 2] = c;
        n_merges++;

        tr->n_fresh = 0;
        for (int32_t nd = tr->p_head[p]; nd >= 0; nd = tr->nodes[2 * nd + 1]) {
            int32_t w = tr->nodes[2 * nd];
            if (tr->stamp[w] == n_merges) continue;
            tr->stamp[w] = n_merges;
            if ((st = merge_word(tr, w, a, b, c))) goto done;
        }
        tr->p_count[p] = 0;
        tr->p_head[p] = -1;
        for (size_t i = 0; i < tr->n_fresh; i++) {
            int32_t q = tr->fresh[i];
            if (tr->p_count[q] >= 2 &&
                (st = heap_push(tr, tr->p_count[q], (int32_t)(tr->p_key[q] >> 32),
                                (int32_t)(uint32_t)tr->p_key[q])))
                goto done;
        }
    }
    st = mn_bpe_build(tok_off, tok_bytes, 256 + n_merges, merges, n_merges, "BPE training",
                      out);
done:
    mn_release(merges);
    mn_release(tok_off);
    mn_release(tok_bytes);
    return st;
}

static mn_status check_vocab(int vocab_size) {
    if (vocab_size < 256 || vocab_size > MN_BPE_MAX_VOCAB)
        return mn_fail(MN_E_ARG, "vocab_size %d: a byte-level tokenizer has 256 single-byte "
                       "tokens plus one per merge, so 256 to %d", vocab_size, MN_BPE_MAX_VOCAB);
    return MN_OK;
}

mn_status mn_tokenizer_train(const char *const *texts, const size_t *lengths, int n_texts,
                             int vocab_size, mn_tokenizer **out) {
    if (out) *out = NULL;
    if (!out || n_texts < 0 || (n_texts > 0 && (!texts || !lengths)))
        return mn_fail(MN_E_ARG, "mn_tokenizer_train: out, and texts and lengths for "
                       "n_texts > 0, must not be NULL");
    mn_status st = check_vocab(vocab_size);
    if (st) return st;
    trainer tr;
    memset(&tr, 0, sizeof tr);
    for (int i = 0; i < n_texts && !st; i++) {
        if (lengths[i] && !texts[i]) st = mn_fail(MN_E_ARG, "mn_tokenizer_train: text %d is NULL", i);
        else st = count_text(&tr, (const unsigned char *)texts[i], lengths[i]);
    }
    if (!st) st = fit(&tr, vocab_size, out);
    trainer_free(&tr);
    return st;
}

mn_status mn_tokenizer_train_files(const char *const *paths, int n_paths, int vocab_size,
                                   mn_tokenizer **out) {
    if (out) *out = NULL;
    if (!out || n_paths < 0 || (n_paths > 0 && !paths))
        return mn_fail(MN_E_ARG, "mn_tokenizer_train_files: out, and paths for n_paths > 0, "
                       "must not be NULL");
    mn_status st = check_vocab(vocab_size);
    if (st) return st;
    trainer tr;
    memset(&tr, 0, sizeof tr);
    /* read in blocks; a piece may straddle two blocks, so the last piece of a block
     * (and the unit after it, which decides where it ends) waits for the next one */
    const size_t block = (size_t)1 << 24;
    unsigned char *buf = mn_alloc(block + 64);
    if (!buf) st = MN_E_NOMEM;
    for (int i = 0; i < n_paths && !st; i++) {
        char nb[MN_ESCAPE_CAP];
        FILE *f = paths[i] ? fopen(paths[i], "rb") : NULL;
        if (!f) {
            st = mn_fail(MN_E_INPUT, "cannot read \"%s\": %s", paths[i] ?
                         mn_escape(nb, sizeof nb, paths[i]) : "(null)", strerror(errno));
            break;
        }
        size_t have = 0;
        for (;;) {
            size_t got = fread(buf + have, 1, block + 64 - have, f);
            int eof = got < block + 64 - have;
            if (ferror(f)) {
                st = mn_fail(MN_E_INPUT, "reading \"%s\" failed: %s",
                             mn_escape(nb, sizeof nb, paths[i]), strerror(errno));
                break;
            }
            have += got;
            size_t pos = 0;
            while (pos < have) {
                size_t len = mn_bpe_piece(buf + pos, have - pos);
                /* a piece that reaches the end of the buffer, or ends within 8 bytes of it
                 * (its end was decided by a unit that may be cut), waits for more text */
                if (!eof && pos + len + 8 > have) break;
                if ((st = add_piece(&tr, buf + pos, len))) break;
                pos += len;
            }
            if (st || eof) break;
            if (pos == 0) {   /* one piece longer than the buffer: no place to break it */
                st = mn_fail(MN_E_INPUT, "\"%s\": a run of %zu bytes without a break between "
                             "pieces; training reads pieces of at most %zu bytes",
                             mn_escape(nb, sizeof nb, paths[i]), have, block);
                break;
            }
            memmove(buf, buf + pos, have - pos);
            have -= pos;
        }
        fclose(f);
    }
    mn_release(buf);
    if (!st) st = fit(&tr, vocab_size, out);
    trainer_free(&tr);
    return st;
}
