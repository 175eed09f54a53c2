/* Byte-level BPE (Sennrich et al. 2016; GPT-2's byte-level variant, Radford et al. 2019):
 * the internals shared by bpe.c (training, encoding), bpe_pretok.c (the pre-tokenizer) and
 * bpe_json.c (tokenizer.json). The public API is mn_tokenizer_* in mnemo.h.
 *
 * Token ids: a tokenizer holds n_vocab distinct tokens, each a byte string; every one of
 * the 256 single bytes is a token. Merge k (its rank) joins the tokens left and right into
 * result. In a trained tokenizer every other token is the result of exactly one merge; a
 * loaded file may also hold tokens no merge makes (GPT-2's "<|endoftext|>") or that two
 * merges make ("ab" "c" and "a" "bc"). A trained tokenizer
 * numbers byte b as id b and merge k's result as 256 + k; a loaded file keeps the file's
 * ids (any dense numbering 0..n_vocab-1).
 *
 * The pre-tokenizer (bpe_pretok.c; tools/bpe_ref.py implements the same rule):
 * The text is read as units: a well-formed UTF-8 sequence (shortest form, no surrogates,
 * at most U+10FFFF) is one unit, a byte that starts none is a unit of its own. Each unit
 * has a class:
 *   space  ASCII 0x09-0x0D and 0x20; U+0085, U+00A0, U+1680, U+2000-U+200A, U+2028,
 *          U+2029, U+202F, U+205F, U+3000
 *   digit  ASCII 0-9
 *   letter ASCII A-Z a-z, and every code point >= U+0080 that is neither space nor other
 *          (so the letters, marks and digits of every other script count as letters)
 *   other  everything else: ASCII punctuation, symbols and control bytes; invalid UTF-8
 *          bytes; U+0080-U+009F, U+00A1-U+00BF, U+00D7, U+00F7, U+2010-U+2027,
 *          U+2030-U+205E, U+2060-U+206F, U+20A0-U+20CF, U+2100-U+2BFF, U+3001-U+3003,
 *          U+3008-U+3011, U+FE10-U+FE1F, U+FE30-U+FE4F, U+FF01-U+FF0F, U+FF1A-U+FF20,
 *          U+1F000-U+1FAFF
 * Pieces: a maximal run of units of one class, except that a single ASCII space 0x20
 * followed by a letter, digit or other unit starts the piece of that unit's run (" word",
 * " 42", " (("). A run of spaces followed by such a unit therefore leaves its last unit to
 * the next piece when that unit is 0x20 ("   x" -> "  ", " x"); a run of spaces at the end
 * of the text, or one ending in another space unit ("\n"), is a piece of its own. The
 * pieces concatenate to the text exactly: no byte is dropped, added or reordered. This is
 * GPT-2's regular expression without its contraction rule ('s, 't, ...), and with whole
 * runs of spaces kept together.
 */
#ifndef MN_BPE_H
#define MN_BPE_H

#include "core.h"

#include <string.h>
#include "json.h"

/* The longest byte string a token may have (bounds a hostile file's allocations). */
#define MN_BPE_MAX_TOKEN_BYTES (1 << 20)
/* At most this many tokens (2^24: far above the 50257 of GPT-2 or 128256 of Llama 3). */
#define MN_BPE_MAX_VOCAB (1 << 24)

enum { MN_BPE_SPACE, MN_BPE_DIGIT, MN_BPE_LETTER, MN_BPE_OTHER };

/* The unit at s[0..n) (n >= 1): its length in bytes and class. */
size_t mn_bpe_unit(const unsigned char *s, size_t n, int *cls);
/* The end of the piece that starts at s[0] (n >= 1): its length in bytes (>= 1). */
size_t mn_bpe_piece(const unsigned char *s, size_t n);

/* GPT-2's bytes_to_unicode: byte b is written as the code point mn_bpe_byte_char(b)
 * (printable ASCII and Latin-1 stand for themselves, the rest from U+0100 up), and
 * mn_bpe_char_byte inverts it (-1 for a code point outside the 256). */
unsigned mn_bpe_byte_char(unsigned char b);
int mn_bpe_char_byte(unsigned cp);

struct mn_tokenizer {
    int n_vocab;
    int n_merges;
    size_t *tok_off;          /* [n_vocab + 1] offsets into tok_bytes */
    unsigned char *tok_bytes; /* the tokens' bytes, one after another */
    int32_t byte_id[256];     /* the token of each single byte */
    int32_t *merges;          /* [n_merges, 3] left, right, result */
    /* open-addressed map (left << 32 | right) -> merge rank; cap a power of two */
    uint64_t *pair_keys;
    int32_t *pair_rank;       /* -1: empty slot */
    size_t pair_cap;
    /* encoding scratch, kept between calls */
    int32_t *sym;             /* [scratch_cap] symbols of the piece being merged */
    int32_t *prev, *next;
    int64_t *heap;            /* (rank << 32 | position) */
    size_t scratch_cap;
    /* piece -> ids cache for encoding (pieces up to MN_BPE_CACHE_PIECE bytes): it starts
     * small, doubles while it fills up to MN_BPE_CACHE_SLOTS, and is emptied when full
     * at that size, so its memory stays bounded (about 24 MB) */
    struct mn_bpe_cached *cache;  /* [cache_slots] */
    unsigned char *cache_bytes;   /* [32 * cache_slots] */
    int32_t *cache_ids;           /* [32 * cache_slots] */
    size_t cache_slots, cache_n, cache_bytes_used, cache_ids_used;
};
#define MN_BPE_CACHE_PIECE 64
#define MN_BPE_CACHE_SLOTS (1u << 17)
struct mn_bpe_cached { uint64_t hash; uint32_t bytes_off, len, ids_off, n_ids; };

/* Builds a tokenizer from its tokens and merges (it takes ownership of nothing: the
 * arrays are copied). Checks what every tokenizer must satisfy: ids dense, every single
 * byte present, merge results the concatenation of their parts, no merge repeated; the
 * message names the problem. `what` names the source in messages (a path). */
mn_status mn_bpe_build(const size_t *tok_off, const unsigned char *tok_bytes, int n_vocab,
                       const int32_t *merges, int n_merges, const char *what,
                       mn_tokenizer **out);
/* The bytes of token id (0 <= id < n_vocab). */
static inline const unsigned char *mn_bpe_token(const mn_tokenizer *t, int id, size_t *len) {
    *len = t->tok_off[id + 1] - t->tok_off[id];
    return t->tok_bytes + t->tok_off[id];
}
/* Merge rank of (left, right), or -1. */
int32_t mn_bpe_rank(const mn_tokenizer *t, int32_t left, int32_t right);

/* The tokenizer.json text of t (HF tokenizers' format), in sb. */
void mn_bpe_write_json(const mn_tokenizer *t, mn_strbuf *sb);
/* Parses a tokenizer.json text; `what` (a path) names it in messages. */
mn_status mn_bpe_read_json(const char *text, size_t len, const char *what, mn_tokenizer **out);

/* The hash tables' mixing (a 64-bit finalizer) and the hash of a byte string, shared by the
 * encoder's cache, training's piece map and the reader's vocabulary. */
static inline uint64_t mn_bpe_mix64(uint64_t x) {
    x ^= x >> 31;
    x *= 0x7fb5d329728ea185ULL;
    x ^= x >> 27;
    x *= 0x81dadef4bc2dd44dULL;
    x ^= x >> 33;
    return x;
}

static inline uint64_t mn_bpe_hash(const unsigned char *s, size_t n) {
    uint64_t h = 0x9E3779B97F4A7C15ULL ^ n, w;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        memcpy(&w, s + i, 8);
        h = mn_bpe_mix64(h ^ w);
    }
    w = 0;
    memcpy(&w, s + i, n - i);
    return mn_bpe_mix64(h ^ w);
}

#endif
