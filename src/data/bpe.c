/* Byte-level BPE: the tokenizer's tables, encoding and decoding (Sennrich et al. 2016;
 * the byte-level variant of GPT-2, Radford et al. 2019). Training is in bpe_train.c, the
 * file in bpe_json.c, the pre-tokenizer in bpe_pretok.c.
 *
 * Encoding merges within each piece as Hugging Face's BPE does: repeatedly the adjacent
 * pair of lowest merge rank, the leftmost of equal ranks, one merge at a time. A heap of
 * (rank, position) over a linked list of symbols makes a piece of n bytes cost
 * O(n log n), so a hostile megabyte without a space costs no more than a sentence. */
#include "bpe.h"

#include <limits.h>
#include <string.h>


static inline uint64_t pair_key(int32_t l, int32_t r) {
    return ((uint64_t)(uint32_t)l << 32) | (uint32_t)r;
}

int32_t mn_bpe_rank(const mn_tokenizer *t, int32_t left, int32_t right) {
    uint64_t k = pair_key(left, right);
    size_t mask = t->pair_cap - 1;
    for (size_t i = mn_bpe_mix64(k) & mask;; i = (i + 1) & mask) {
        if (t->pair_rank[i] < 0) return -1;
        if (t->pair_keys[i] == k) return t->pair_rank[i];
    }
}

void mn_tokenizer_free(mn_tokenizer *t) {
    if (!t) return;
    mn_release(t->tok_off);
    mn_release(t->tok_bytes);
    mn_release(t->merges);
    mn_release(t->pair_keys);
    mn_release(t->pair_rank);
    mn_release(t->sym);
    mn_release(t->prev);
    mn_release(t->next);
    mn_release(t->heap);
    mn_release(t->cache);
    mn_release(t->cache_bytes);
    mn_release(t->cache_ids);
    mn_release(t);
}

int mn_tokenizer_vocab_size(const mn_tokenizer *t) { return t ? t->n_vocab : 0; }
int mn_tokenizer_merge_count(const mn_tokenizer *t) { return t ? t->n_merges : 0; }

static const char *show(char *buf, size_t cap, const unsigned char *b, size_t n) {
    return mn_escape_n(buf, cap, (const char *)b, n);
}

mn_status mn_bpe_build(const size_t *tok_off, const unsigned char *tok_bytes, int n_vocab,
                       const int32_t *merges, int n_merges, const char *what,
                       mn_tokenizer **out) {
    *out = NULL;
    if (n_vocab < 256 || n_vocab > MN_BPE_MAX_VOCAB)
        return mn_fail(MN_E_INPUT, "%s: a byte-level tokenizer has 256 to %d tokens, this one "
                       "has %d", what, MN_BPE_MAX_VOCAB, n_vocab);
    /* two merges may make the same token ("ab" "c" and "a" "bc"), so merges are not
     * bounded by the vocabulary; the pair table's int32 ranks are */
    if (n_merges < 0 || n_merges > INT32_MAX / 4)
        return mn_fail(MN_E_INPUT, "%s: %d merges; at most %d", what, n_merges, INT32_MAX / 4);
    mn_tokenizer *t = mn_alloc_zero(sizeof *t);
    if (!t) return MN_E_NOMEM;
    size_t total = tok_off[n_vocab];
    t->n_vocab = n_vocab;
    t->n_merges = n_merges;
    t->tok_off = mn_alloc(sizeof(size_t) * ((size_t)n_vocab + 1));
    t->tok_bytes = mn_alloc(total ? total : 1);
    t->merges = mn_alloc(sizeof(int32_t) * 3 * ((size_t)n_merges + 1));
    t->pair_cap = 16;
    while (t->pair_cap < 2 * (size_t)n_merges + 2) t->pair_cap *= 2;
    t->pair_keys = mn_alloc(sizeof(uint64_t) * t->pair_cap);
    t->pair_rank = mn_alloc(sizeof(int32_t) * t->pair_cap);
    mn_status st = MN_E_NOMEM;
    char nb[MN_ESCAPE_CAP], nb2[MN_ESCAPE_CAP];
    if (!t->tok_off || !t->tok_bytes || !t->merges || !t->pair_keys || !t->pair_rank) goto fail;
    memcpy(t->tok_off, tok_off, sizeof(size_t) * ((size_t)n_vocab + 1));
    if (total) memcpy(t->tok_bytes, tok_bytes, total);
    if (n_merges) memcpy(t->merges, merges, sizeof(int32_t) * 3 * (size_t)n_merges);
    memset(t->pair_rank, 0xff, sizeof(int32_t) * t->pair_cap);
    for (int b = 0; b < 256; b++) t->byte_id[b] = -1;

    st = MN_E_INPUT;
    for (int id = 0; id < n_vocab; id++) {
        size_t len;
        const unsigned char *p = mn_bpe_token(t, id, &len);
        if (len == 0 || len > MN_BPE_MAX_TOKEN_BYTES) {
            mn_fail(st, "%s: token %d has %zu bytes; a token has 1 to %d", what, id, len,
                    MN_BPE_MAX_TOKEN_BYTES);
            goto fail;
        }
        if (len == 1) {
            if (t->byte_id[p[0]] >= 0) {
                mn_fail(st, "%s: tokens %d and %d are both the byte 0x%02x", what,
                        t->byte_id[p[0]], id, p[0]);
                goto fail;
            }
            t->byte_id[p[0]] = id;
        }
    }
    for (int b = 0; b < 256; b++)
        if (t->byte_id[b] < 0) {
            mn_fail(st, "%s: no token for the byte 0x%02x; a byte-level tokenizer needs all "
                    "256 single bytes so that every text can be encoded", what, b);
            goto fail;
        }
    for (int k = 0; k < n_merges; k++) {
        int32_t l = t->merges[3 * k], r = t->merges[3 * k + 1], res = t->merges[3 * k + 2];
        if (l < 0 || l >= n_vocab || r < 0 || r >= n_vocab || res < 0 || res >= n_vocab) {
            mn_fail(st, "%s: merge %d names a token outside 0..%d", what, k, n_vocab - 1);
            goto fail;
        }
        size_t ll, rl, xl;
        const unsigned char *lp = mn_bpe_token(t, l, &ll), *rp = mn_bpe_token(t, r, &rl);
        const unsigned char *xp = mn_bpe_token(t, res, &xl);
        if (xl != ll + rl || memcmp(xp, lp, ll) || memcmp(xp + ll, rp, rl)) {
            mn_fail(st, "%s: merge %d joins \"%s\" and \"%s\" but its result, token %d, is "
                    "\"%s\"", what, k, show(nb, sizeof nb, lp, ll), show(nb2, sizeof nb2, rp, rl),
                    res, show((char[MN_ESCAPE_CAP]){0}, MN_ESCAPE_CAP, xp, xl));
            goto fail;
        }
        uint64_t key = pair_key(l, r);
        size_t mask = t->pair_cap - 1, i = mn_bpe_mix64(key) & mask;
        while (t->pair_rank[i] >= 0 && t->pair_keys[i] != key) i = (i + 1) & mask;
        if (t->pair_rank[i] >= 0) {
            mn_fail(st, "%s: merge %d repeats merge %d (\"%s\" \"%s\")", what, k,
                    t->pair_rank[i], show(nb, sizeof nb, lp, ll), show(nb2, sizeof nb2, rp, rl));
            goto fail;
        }
        t->pair_keys[i] = key;
        t->pair_rank[i] = k;
    }
    *out = t;
    return MN_OK;
fail:
    mn_tokenizer_free(t);
    return st;
}

/* ---------------------------------------------------------------- encoding */

static void heap_push(int64_t *h, size_t *n, int64_t v) {
    size_t i = (*n)++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (h[p] <= v) break;
        h[i] = h[p];
        i = p;
    }
    h[i] = v;
}

static int64_t heap_pop(int64_t *h, size_t *n) {
    int64_t top = h[0], v = h[--*n];
    size_t i = 0, m = *n;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= m) break;
        if (c + 1 < m && h[c + 1] < h[c]) c++;
        if (h[c] >= v) break;
        h[i] = h[c];
        i = c;
    }
    if (m) h[i] = v;
    return top;
}

static void push_pair(mn_tokenizer *t, size_t *hn, int32_t pos) {
    int32_t nx = t->next[pos];
    if (nx < 0) return;
    int32_t r = mn_bpe_rank(t, t->sym[pos], t->sym[nx]);
    if (r >= 0) heap_push(t->heap, hn, ((int64_t)r << 32) | pos);
}

/* Merges one piece s[0..n) into ids; returns how many. Scratch must hold n. */
static size_t encode_piece(mn_tokenizer *t, const unsigned char *s, size_t n, int32_t *ids) {
    if (n == 1) {
        ids[0] = t->byte_id[s[0]];
        return 1;
    }
    for (size_t i = 0; i < n; i++) {
        t->sym[i] = t->byte_id[s[i]];
        t->prev[i] = (int32_t)i - 1;
        t->next[i] = i + 1 < n ? (int32_t)i + 1 : -1;
    }
    size_t hn = 0;
    if (t->n_merges)
        for (size_t i = 0; i + 1 < n; i++) push_pair(t, &hn, (int32_t)i);
    while (hn) {
        int64_t top = heap_pop(t->heap, &hn);
        int32_t pos = (int32_t)(top & 0xffffffff), rank = (int32_t)(top >> 32);
        int32_t nx = t->next[pos];
        /* stale: the symbol was merged away, or its right neighbour changed */
        if (t->sym[pos] < 0 || nx < 0 || mn_bpe_rank(t, t->sym[pos], t->sym[nx]) != rank)
            continue;
        t->sym[pos] = t->merges[3 * rank + 2];
        t->sym[nx] = -1;
        t->next[pos] = t->next[nx];
        if (t->next[nx] >= 0) t->prev[t->next[nx]] = pos;
        if (t->prev[pos] >= 0) push_pair(t, &hn, t->prev[pos]);
        push_pair(t, &hn, pos);
    }
    size_t k = 0;
    for (int32_t i = 0; i >= 0; i = t->next[i]) ids[k++] = t->sym[i];
    return k;
}

static mn_status grow_scratch(mn_tokenizer *t, size_t n) {
    if (n <= t->scratch_cap) return MN_OK;
    size_t cap = t->scratch_cap ? t->scratch_cap : 256;
    while (cap < n) cap *= 2;
    int32_t *sym = mn_alloc(sizeof(int32_t) * cap), *pv = mn_alloc(sizeof(int32_t) * cap);
    int32_t *nx = mn_alloc(sizeof(int32_t) * cap);
    int64_t *h = mn_alloc(sizeof(int64_t) * 2 * cap);   /* each merge pushes at most 2 */
    if (!sym || !pv || !nx || !h) {
        mn_release(sym); mn_release(pv); mn_release(nx); mn_release(h);
        return MN_E_NOMEM;
    }
    mn_release(t->sym); mn_release(t->prev); mn_release(t->next); mn_release(t->heap);
    t->sym = sym; t->prev = pv; t->next = nx; t->heap = h;
    t->scratch_cap = cap;
    return MN_OK;
}

/* Makes the cache hold `slots` slots (and 32 bytes and ids per slot), keeping what it
 * holds; 0 when memory is short (the caller then goes on without the cache). */
static int cache_resize(mn_tokenizer *t, size_t slots) {
    struct mn_bpe_cached *c = mn_alloc_zero(sizeof *c * slots);
    unsigned char *cb = mn_alloc(32 * slots);
    int32_t *ci = mn_alloc(sizeof(int32_t) * 32 * slots);
    if (!c || !cb || !ci) {
        mn_release(c); mn_release(cb); mn_release(ci);
        mn_clear_error();
        return 0;
    }
    for (size_t j = 0; j < t->cache_slots; j++) {
        if (!t->cache[j].len) continue;
        size_t i = t->cache[j].hash & (slots - 1);
        while (c[i].len) i = (i + 1) & (slots - 1);
        c[i] = t->cache[j];
    }
    if (t->cache_bytes_used) memcpy(cb, t->cache_bytes, t->cache_bytes_used);
    if (t->cache_ids_used) memcpy(ci, t->cache_ids, sizeof(int32_t) * t->cache_ids_used);
    mn_release(t->cache); mn_release(t->cache_bytes); mn_release(t->cache_ids);
    t->cache = c;
    t->cache_bytes = cb;
    t->cache_ids = ci;
    t->cache_slots = slots;
    return 1;
}

/* Encodes one piece through the cache: a hit copies its ids, a miss merges and stores. */
static size_t encode_cached(mn_tokenizer *t, const unsigned char *s, size_t n, int32_t *ids) {
    if (n > MN_BPE_CACHE_PIECE || n == 1) return encode_piece(t, s, n, ids);
    if (!t->cache && !cache_resize(t, 1024)) return encode_piece(t, s, n, ids);
    uint64_t h = mn_bpe_hash(s, n);
    size_t mask = t->cache_slots - 1, i = h & mask;
    for (; t->cache[i].len; i = (i + 1) & mask) {
        const struct mn_bpe_cached *c = &t->cache[i];
        if (c->hash == h && c->len == n && !memcmp(t->cache_bytes + c->bytes_off, s, n)) {
            memcpy(ids, t->cache_ids + c->ids_off, sizeof(int32_t) * c->n_ids);
            return c->n_ids;
        }
    }
    size_t k = encode_piece(t, s, n, ids);
    if (2 * (t->cache_n + 1) > t->cache_slots || t->cache_bytes_used + n > 32 * t->cache_slots ||
        t->cache_ids_used + k > 32 * t->cache_slots) {
        if (t->cache_slots >= MN_BPE_CACHE_SLOTS || !cache_resize(t, 2 * t->cache_slots)) {
            /* full at its largest (or no memory to grow): start again */
            memset(t->cache, 0, sizeof(struct mn_bpe_cached) * t->cache_slots);
            t->cache_n = t->cache_bytes_used = t->cache_ids_used = 0;
        }
        mask = t->cache_slots - 1;
        for (i = h & mask; t->cache[i].len; i = (i + 1) & mask) {}
    }
    struct mn_bpe_cached *c = &t->cache[i];
    c->hash = h;
    c->len = (uint32_t)n;
    c->bytes_off = (uint32_t)t->cache_bytes_used;
    c->ids_off = (uint32_t)t->cache_ids_used;
    c->n_ids = (uint32_t)k;
    memcpy(t->cache_bytes + t->cache_bytes_used, s, n);
    memcpy(t->cache_ids + t->cache_ids_used, ids, sizeof(int32_t) * k);
    t->cache_bytes_used += n;
    t->cache_ids_used += k;
    t->cache_n++;
    return k;
}

mn_status mn_tokenizer_encode(mn_tokenizer *t, const void *bytes, size_t n, int32_t *ids,
                              size_t cap, size_t *n_ids) {
    if (n_ids) *n_ids = 0;
    if (!t || !n_ids || (n && !bytes))
        return mn_fail(MN_E_ARG, "mn_tokenizer_encode: the tokenizer, n_ids and (for n > 0) "
                       "bytes must not be NULL");
    if (ids && cap < n)
        return mn_fail(MN_E_ARG, "mn_tokenizer_encode: %zu bytes may need up to %zu ids, and "
                       "cap is %zu; pass cap >= n (or ids = NULL to count)", n, n, cap);
    const unsigned char *s = bytes;
    size_t pos = 0, k = 0;
    while (pos < n) {
        size_t len = mn_bpe_piece(s + pos, n - pos);
        if (len > (size_t)INT32_MAX / 2)
            return mn_fail(MN_E_ARG, "mn_tokenizer_encode: a piece of %zu bytes without a "
                           "break; pieces are limited to %d bytes", len, INT32_MAX / 2);
        mn_status st = grow_scratch(t, len);
        if (st) return st;
        /* counting only: the final walk of encode_piece reads next[] alone, so prev[]
         * can take the piece's ids */
        k += encode_cached(t, s + pos, len, ids ? ids + k : t->prev);
        pos += len;
    }
    *n_ids = k;
    return MN_OK;
}

mn_status mn_tokenizer_decode(const mn_tokenizer *t, const int32_t *ids, size_t n, void *out,
                              size_t cap, size_t *n_bytes) {
    if (n_bytes) *n_bytes = 0;
    if (!t || !n_bytes || (n && !ids))
        return mn_fail(MN_E_ARG, "mn_tokenizer_decode: the tokenizer, n_bytes and (for n > 0) "
                       "ids must not be NULL");
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= t->n_vocab)
            return mn_fail(MN_E_ARG, "mn_tokenizer_decode: id %ld at position %zu is outside "
                           "the vocabulary 0..%d", (long)ids[i], i, t->n_vocab - 1);
        total += t->tok_off[ids[i] + 1] - t->tok_off[ids[i]];
    }
    *n_bytes = total;
    if (!out) return MN_OK;
    if (cap < total)
        return mn_fail(MN_E_ARG, "mn_tokenizer_decode: the ids decode to %zu bytes and cap is "
                       "%zu (pass out = NULL to learn the size)", total, cap);
    unsigned char *o = out;
    for (size_t i = 0; i < n; i++) {
        size_t len;
        const unsigned char *p = mn_bpe_token(t, ids[i], &len);
        memcpy(o, p, len);
        o += len;
    }
    return MN_OK;
}
