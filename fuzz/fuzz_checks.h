/* What the fuzz harnesses check on every input, shared with the regression test
 * (tests/test_fuzz_regressions.c) so that a reproducer replays through exactly the same
 * code. Crashes, leaks and out-of-bounds reads are the sanitizers' to catch; these
 * functions check what they cannot see: the status is one the API promises, a failure
 * leaves a message and no output behind, a success hands out what the bytes say (every
 * tensor inside the data section, the sections tiling it, shapes and sizes consistent),
 * and the library's tracked memory returns to where it was.
 *
 * Each check returns NULL when the library behaved, or a sentence saying what did not;
 * *status gets the parser's status. Header-only (static inline) so the harnesses, built
 * with clang and libFuzzer, and the test runner, built with the normal compiler, both
 * include it. Needs -Iinclude -Isrc. */
#ifndef MN_FUZZ_CHECKS_H
#define MN_FUZZ_CHECKS_H

#include "mnemo.h"
#include "core.h"
#include "safetensors.h"
#include "checkpoint.h"
#include "bpe.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Reads of tensor and array bytes go here so the compiler cannot drop them. */
static volatile unsigned fuzz_sink_;

static inline void fuzz_touch(const void *p, size_t n) {
    const unsigned char *b = p;
    unsigned acc = 0;
    for (size_t i = 0; i < n; i++) acc = acc * 31u + b[i];
    fuzz_sink_ += acc;
}

/* A failed call must say why, in a message that fits the error buffer. */
static inline const char *fuzz_check_message(void) {
    const char *e = mn_last_error();
    if (!e || !e[0]) return "a call failed without setting mn_last_error()";
    if (strlen(e) >= 512) return "mn_last_error() is not terminated inside its buffer";
    return NULL;
}

/* ------------------------------------------------------------ checkpoint models */

/* A whole number from the metadata in [lo, hi]; 0 when absent or out of that range. */
static inline int fuzz_meta_int(const mn_st_file *f, const char *key, int lo, int hi,
                                int *out) {
    const char *v = mn_st_meta(f, key);
    if (!v || !*v) return 0;
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || *end || x < lo || x > hi) return 0;
    *out = (int)x;
    return 1;
}

/* Drives the checkpoint loader's validation (mn_model_read_params: the metadata's model
 * description, then every tensor's name, dtype and shape, then no unknown tensors) from
 * memory. The model it checks against is the one the metadata describes when that is
 * small (so the tensors can match and be copied); otherwise a tiny default model, which
 * still runs every check that rejects. Sizes are capped so a fuzzed "hidden 65536" costs
 * nothing. */
static inline const char *fuzz_check_model(const mn_st_file *f) {
    const char *fmt = mn_st_meta(f, "format");
    if (!fmt || strcmp(fmt, "mnemo")) return NULL;
    mn_model_config c;
    mn_model_config_init(&c);
    c.input_size = 2;
    c.hidden_size = 4;
    c.output_size = 1;
    mn_model_config want = c;
    const char *cell = mn_st_meta(f, "model.cell");
    const char *out = mn_st_meta(f, "model.output"), *loss = mn_st_meta(f, "model.loss");
    int bi = 0;
    int ok = cell && mn_cell_parse(cell, &want.cell) == MN_OK &&
             fuzz_meta_int(f, "model.input_size", 0, 64, &want.input_size) &&
             fuzz_meta_int(f, "model.vocab_size", 0, 64, &want.vocab_size) &&
             fuzz_meta_int(f, "model.embed_size", 0, 16, &want.embed_size) &&
             fuzz_meta_int(f, "model.hidden_size", 1, 16, &want.hidden_size) &&
             fuzz_meta_int(f, "model.num_layers", 1, 3, &want.num_layers) &&
             fuzz_meta_int(f, "model.bidirectional", 0, 1, &bi) &&
             fuzz_meta_int(f, "model.output_size", 1, 64, &want.output_size) && out && loss &&
             (!strcmp(out, "last") || !strcmp(out, "every")) &&
             (!strcmp(loss, "mse") || !strcmp(loss, "ce"));
    if (ok) {
        want.bidirectional = bi;
        want.output = !strcmp(out, "every") ? MN_OUTPUT_EVERY : MN_OUTPUT_LAST;
        want.loss = !strcmp(loss, "ce") ? MN_LOSS_CE : MN_LOSS_MSE;
        want.recurrent_init = MN_INIT_UNIFORM;   /* not compared; the cheapest to create */
        want.chrono_tmax = 0;
        c = want;
    }
    mn_model *m = NULL;
    if (mn_model_create(&c, 0, &m) != MN_OK) {
        mn_model_config_init(&c);
        c.input_size = 2;
        c.hidden_size = 4;
        c.output_size = 1;
        if (mn_model_create(&c, 0, &m) != MN_OK) return "cannot create the default model";
    }
    mn_clear_error();
    mn_status s = mn_model_read_params(m, f, "fuzz input");
    const char *why = NULL;
    if (s != MN_OK && s != MN_E_INPUT)
        why = "mn_model_read_params returned a status other than MN_OK or MN_E_INPUT";
    else if (s != MN_OK)
        why = fuzz_check_message();
    mn_model_free(m);
    return why;
}

/* ------------------------------------------------------------------ safetensors */

typedef struct { const unsigned char *p; size_t n; } fuzz_span_;

static inline int fuzz_cmp_span_(const void *a, const void *b) {
    const fuzz_span_ *x = a, *y = b;
    return x->p < y->p ? -1 : x->p > y->p;
}

/* mn_st_read_f32 on a tensor: floating-point dtypes read (an F64 beyond float's range may
 * be refused, with a message), others are refused; F32 and F64 read as a cast would. */
static inline const char *fuzz_check_f32_(const mn_st_tensor *t) {
    int fl = t->dtype == MN_ST_F32 || t->dtype == MN_ST_F16 || t->dtype == MN_ST_BF16 ||
             t->dtype == MN_ST_F64;
    if (!fl && t->numel > 0) {
        float one;
        mn_status s = mn_st_read_f32(t, &one, 1, "fuzz input");
        if (s != MN_E_INPUT) return "mn_st_read_f32 read a dtype that is not floating point";
        return fuzz_check_message();
    }
    if (!fl || !t->numel) return NULL;
    float *f = malloc(t->numel * sizeof *f);
    if (!f) return NULL;
    const char *why = NULL;
    mn_status s = mn_st_read_f32(t, f, t->numel, "fuzz input");
    if (s != MN_OK && !(s == MN_E_INPUT && t->dtype == MN_ST_F64))
        why = "mn_st_read_f32 refused an F32, F16 or BF16 tensor";
    else if (s != MN_OK)
        why = fuzz_check_message();
    for (size_t i = 0; !why && s == MN_OK && i < t->numel; i++) {
        const unsigned char *p = (const unsigned char *)t->data;
        float want;
        if (t->dtype == MN_ST_F32) memcpy(&want, p + 4 * i, 4);
        else if (t->dtype == MN_ST_F64) {
            double d;
            memcpy(&d, p + 8 * i, 8);
            want = (float)d;
        } else if (t->dtype == MN_ST_BF16) {
            uint32_t b = (uint32_t)(p[2 * i] | p[2 * i + 1] << 8) << 16;
            memcpy(&want, &b, 4);
        } else {
            unsigned h = p[2 * i] | p[2 * i + 1] << 8, e = (h >> 10) & 31, m = h & 1023;
            double v = e == 31 ? (m ? NAN : INFINITY) : e ? ldexp(1024 + m, (int)e - 25)
                                                         : ldexp(m, -24);
            want = (float)((h & 0x8000) ? -v : v);
        }
        if (memcmp(&want, &f[i], 4) && !(want != want && f[i] != f[i]))
            why = "mn_st_read_f32 gives another value than the dtype's definition";
    }
    free(f);
    return why;
}

static inline const char *fuzz_walk_safetensors(const mn_st_file *f, const uint8_t *data,
                                                size_t len) {
    if (len < 8) return "a file shorter than 8 bytes parsed";
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | data[i];
    if (hlen > len - 8) return "a header longer than the file parsed";
    size_t data_len = len - 8 - (size_t)hlen;
    int n = mn_st_count(f);
    if (n < 0 || (size_t)n > hlen) return "mn_st_count is negative or larger than the header";
    if (mn_st_at(f, -1) || mn_st_at(f, n)) return "mn_st_at hands out an index out of range";
    fuzz_span_ *spans = malloc(((size_t)n + 1) * sizeof *spans);
    if (!spans) return NULL;
    const char *why = NULL;
    size_t total = 0, ns = 0;
    for (int i = 0; i < n && !why; i++) {
        const mn_st_tensor *t = mn_st_at(f, i);
        size_t numel = 1, nbytes;
        int zero = 0, over = 0;
        if (!t || !t->name) { why = "a tensor without a name"; break; }
        if (!strcmp(t->name, "__metadata__")) { why = "__metadata__ taken for a tensor"; break; }
        if (mn_st_find(f, t->name) != t) { why = "two tensors share a name"; break; }
        if ((unsigned)t->dtype >= MN_ST_NDTYPES || mn_st_dtype_bits(t->dtype) <= 0) {
            why = "a tensor with an unknown dtype";
            break;
        }
        if (t->ndim < 0 || t->ndim > MN_ST_MAX_DIMS) { why = "a tensor rank out of range"; break; }
        for (int d = 0; d < t->ndim; d++) {
            if (t->shape[d] < 0) { why = "a negative dimension"; break; }
            zero |= t->shape[d] == 0;
            if (!mn_mul_size(numel, (size_t)t->shape[d], &numel)) over = 1;
        }
        if (why) break;
        if (zero) numel = 0;
        else if (over) { why = "a shape whose product overflows was accepted"; break; }
        if (numel != t->numel) { why = "numel is not the product of the shape"; break; }
        size_t bits;
        if (!mn_mul_size(numel, (size_t)mn_st_dtype_bits(t->dtype), &bits) || bits % 8 ||
            (nbytes = bits / 8) != t->nbytes) {
            why = "nbytes is not numel times the dtype size (in whole bytes)";
            break;
        }
        if (nbytes > data_len - total) { why = "the tensors hold more bytes than the data section"; break; }
        total += nbytes;
        if (nbytes) {
            if (!t->data) { why = "a non-empty tensor without data"; break; }
            fuzz_touch(t->data, nbytes);   /* out of the buffer: ASan says so */
            if ((why = fuzz_check_f32_(t))) break;
            spans[ns].p = t->data;
            spans[ns].n = nbytes;
            ns++;
        }
    }
    if (!why && total != data_len) why = "the tensors do not cover the data section exactly";
    /* Sorted by address, the non-empty tensors must follow each other without overlap. */
    if (!why && ns > 1) {
        qsort(spans, ns, sizeof *spans, fuzz_cmp_span_);
        for (size_t i = 1; i < ns && !why; i++)
            if (spans[i].p != spans[i - 1].p + spans[i - 1].n)
                why = "tensor data ranges overlap or leave gaps";
    }
    free(spans);
    if (why) return why;

    int nm = mn_st_meta_count(f);
    if (nm < 0 || (size_t)nm > hlen) return "mn_st_meta_count is negative or too large";
    for (int i = 0; i < nm; i++) {
        const char *k = NULL, *v = NULL;
        mn_st_meta_at(f, i, &k, &v);
        if (!k || !v) return "a metadata entry without key or value";
        fuzz_touch(k, strlen(k));
        fuzz_touch(v, strlen(v));
        if (mn_st_meta(f, k) != v) return "mn_st_meta does not find a key's own value";
    }
    const char *k = "x", *v = "x";
    mn_st_meta_at(f, nm, &k, &v);
    if (k || v) return "mn_st_meta_at hands out an index out of range";
    return fuzz_check_model(f);
}

/* mn_st_parse on the bytes, then the walk above and the checkpoint validation. */
static inline const char *fuzz_check_safetensors(const uint8_t *data, size_t len,
                                                 mn_status *status) {
    size_t mem0 = mn_memory_in_use();
    mn_clear_error();
    mn_st_file *f = (mn_st_file *)&mem0;   /* must come back NULL on failure */
    mn_status s = mn_st_parse(data, len, &f);
    const char *why = NULL;
    *status = s;
    if (s != MN_OK) {
        if (f) why = "mn_st_parse failed but left a file handle";
        else if (s != MN_E_INPUT) why = "mn_st_parse returned a status other than MN_E_INPUT";
        else why = fuzz_check_message();
    } else if (!f) {
        why = "mn_st_parse succeeded without a file handle";
    } else {
        why = fuzz_walk_safetensors(f, data, len);
        mn_st_free(f);
    }
    if (!why && mn_memory_in_use() != mem0) why = "library memory in use changed (a leak)";
    return why;
}

/* -------------------------------------------------------------------------- npy */

/* Does the array hold src's elements, byte-swapped when swap, read in column-major order
 * when fortran? Computed by division from each C-order index, apart from the reader's
 * own incremental walk. */
static inline int fuzz_npy_matches_(const mn_array *a, const uint8_t *src, int swap,
                                    int fortran) {
    for (size_t e = 0; e < a->count; e++) {
        size_t rem = e, off = 0, stride = 1, idx[MN_ARRAY_MAX_DIMS];
        for (int k = a->ndim - 1; k >= 0; k--) {
            idx[k] = rem % (size_t)a->shape[k];
            rem /= (size_t)a->shape[k];
        }
        for (int k = 0; k < a->ndim; k++) {
            off += idx[k] * stride;
            stride *= (size_t)a->shape[k];
        }
        const size_t size = a->dtype == MN_ARRAY_I64 ? 8 : 4;
        const uint8_t *p = src + size * (fortran ? off : e);
        uint8_t want[8];
        for (size_t j = 0; j < size; j++) want[j] = swap ? p[size - 1 - j] : p[j];
        if (memcmp((const uint8_t *)a->data + size * e, want, size)) return 0;
    }
    return 1;
}

static inline int fuzz_has_(const uint8_t *p, size_t n, const char *word) {
    size_t w = strlen(word);
    for (size_t i = 0; i + w <= n; i++)
        if (!memcmp(p + i, word, w)) return 1;
    return 0;
}

static inline const char *fuzz_check_npy(const uint8_t *data, size_t len, mn_status *status) {
    static const char label[] = "fuzz input";
    size_t mem0 = mn_memory_in_use();
    mn_clear_error();
    mn_array a;
    memset(&a, 0x5a, sizeof a);   /* must be zeroed on failure */
    mn_status s = mn_array_parse(data, len, label, &a);
    const char *why = NULL;
    *status = s;
    if (s != MN_OK) {
        if (a.data || a.count || a.ndim) why = "mn_array_parse failed but left an array";
        else if (s != MN_E_INPUT) why = "mn_array_parse returned a status other than MN_E_INPUT";
        else if ((why = fuzz_check_message()) == NULL && !strstr(mn_last_error(), label))
            why = "the error message does not name the input";
    } else {
        size_t count = 1, bytes;
        int zero = 0, over = 0;
        if ((unsigned)a.dtype > MN_ARRAY_I64) why = "an array with an unknown dtype";
        else if (a.ndim < 0 || a.ndim > MN_ARRAY_MAX_DIMS) why = "an array rank out of range";
        for (int d = 0; !why && d < a.ndim; d++) {
            if (a.shape[d] < 0) why = "a negative dimension";
            zero |= a.shape[d] == 0;
            if (!mn_mul_size(count, (size_t)a.shape[d], &count)) over = 1;
        }
        if (!why && zero) count = 0;
        else if (!why && over) why = "a shape whose product overflows was accepted";
        if (!why && count != a.count) why = "count is not the product of the shape";
        if (!why && (!a.data || ((uintptr_t)a.data & 63)))
            why = "the data is missing or not 64-byte aligned";
        size_t size = a.dtype == MN_ARRAY_I64 ? 8 : 4;
        if (!why && (!mn_mul_size(count, size, &bytes) || bytes > len))
            why = "the array holds more bytes than the input";
        /* The data is the input's last count·size bytes, copied, byte-swapped when the header
         * has a '>' ('>f4'), transposed when it has True (fortran_order); reading it all
         * is the touch. */
        if (!why) {
            const uint8_t *tail = data + len - bytes;
            int may_swap = fuzz_has_(data, len - bytes, ">");
            int may_transpose = fuzz_has_(data, len - bytes, "True");
            int same = 0;
            for (int sw = 0; sw <= may_swap && !same; sw++)
                for (int tr = 0; tr <= may_transpose && !same; tr++)
                    same = fuzz_npy_matches_(&a, tail, sw, tr);
            if (!same)
                why = "the array data is not the input's trailing bytes (as they are, swapped "
                      "for a '>' dtype or transposed for fortran_order True)";
        }
        if (!why) fuzz_touch(a.data, bytes);
        mn_array_free(&a);
        if (!why && (a.data || a.count)) why = "mn_array_free left the array set";
    }
    if (!why && mn_memory_in_use() != mem0) why = "library memory in use changed (a leak)";
    return why;
}

/* ------------------------------------------------------------ byte-level BPE */

/* A tokenizer must encode every byte string to ids in its vocabulary, no more ids than
 * bytes, the same ids when only counting, and decode them to the same bytes; and its
 * tokenizer.json must read back to the same tokens and merges. */
static inline const char *fuzz_bpe_roundtrip_(mn_tokenizer *t, const uint8_t *s, size_t n,
                                              int with_file) {
    const char *why = NULL;
    int32_t *ids = malloc(sizeof(int32_t) * (n ? n : 1));
    uint8_t *back = malloc(n ? n : 1);
    size_t k = 0, k2 = 0, nb = 0;
    if (!ids || !back) why = NULL;   /* the harness's own memory: nothing to check */
    else if (mn_tokenizer_encode(t, s, n, ids, n, &k)) why = "encoding failed";
    else if (k > n) why = "more ids than bytes";
    else if (mn_tokenizer_encode(t, s, n, NULL, 0, &k2) || k2 != k)
        why = "counting the ids gives another number than encoding";
    for (size_t i = 0; !why && ids && i < k; i++)
        if (ids[i] < 0 || ids[i] >= t->n_vocab) why = "an id outside the vocabulary";
    if (!why && ids && back && (mn_tokenizer_decode(t, ids, k, back, n, &nb) || nb != n ||
                                (n && memcmp(back, s, n))))
        why = "decode(encode(bytes)) is not the bytes";
    if (!why && ids && back && with_file) {   /* the file form reads back the same */
        mn_strbuf sb = {0};
        mn_bpe_write_json(t, &sb);
        mn_tokenizer *u = NULL;
        if (sb.failed) why = "writing the tokenizer.json failed";
        else if (mn_bpe_read_json(sb.data, sb.len, "written", &u))
            why = "the tokenizer.json it writes does not read back";
        else if (u->n_vocab != t->n_vocab || u->n_merges != t->n_merges ||
                 memcmp(u->merges, t->merges, sizeof(int32_t) * 3 * (size_t)t->n_merges) ||
                 memcmp(u->tok_off, t->tok_off, sizeof(size_t) * ((size_t)t->n_vocab + 1)) ||
                 memcmp(u->tok_bytes, t->tok_bytes, t->tok_off[t->n_vocab]))
            why = "the tokenizer read back from its file differs";
        mn_tokenizer_free(u);
        mn_sb_free(&sb);
    }
    free(ids);
    free(back);
    return why;
}

/* data[0] chooses: even, the rest is text, encoded by a tokenizer trained on a fixed text
 * and by one trained on the text itself (vocab 256 + data[0] / 2), whose pieces must tile
 * it; odd, the rest is a tokenizer.json, which mn_bpe_read_json accepts (then it must
 * round-trip) or refuses with MN_E_INPUT and a message naming the input. */
static inline const char *fuzz_check_bpe(const uint8_t *data, size_t len, mn_status *status) {
    static const char label[] = "fuzz input";
    static const char fixed[] = "the cat sat on the mat; the cat ate the rat. caf\xc3\xa9 "
                                "caf\xc3\xa9 \xe6\x97\xa5\xe6\x97\xa5 42 42 \xff\xff  x  x";
    size_t mem0 = mn_memory_in_use();
    mn_clear_error();
    *status = MN_OK;
    if (len == 0) return NULL;
    const uint8_t *s = data + 1;
    size_t n = len - 1;
    const char *why = NULL;
    mn_tokenizer *t = NULL;
    if (!(data[0] & 1)) {
        for (size_t pos = 0; pos < n && !why;) {
            size_t p = mn_bpe_piece(s + pos, n - pos);
            if (p < 1 || p > n - pos) why = "a piece outside the text";
            pos += p ? p : 1;
        }
        const char *fx = fixed;
        size_t fl = sizeof fixed - 1;
        if (!why && mn_tokenizer_train(&fx, &fl, 1, 300, &t)) why = "training on a fixed text failed";
        if (!why) why = fuzz_bpe_roundtrip_(t, s, n, 0);   /* its file is always the same */
        mn_tokenizer_free(t);
        t = NULL;
        const char *txt = (const char *)s;
        if (!why && mn_tokenizer_train(&txt, &n, 1, 256 + data[0] / 2, &t))
            why = "training on the input failed";
        if (!why && t->n_merges > data[0] / 2) why = "training made more merges than asked";
        if (!why) why = fuzz_bpe_roundtrip_(t, s, n, 1);
        if (!why) why = fuzz_bpe_roundtrip_(t, (const uint8_t *)fixed, sizeof fixed - 1, 0);
    } else {
        mn_status st = mn_bpe_read_json((const char *)s, n, label, &t);
        *status = st;
        if (st != MN_OK) {
            if (t) why = "mn_bpe_read_json failed but handed out a tokenizer";
            else if (st != MN_E_INPUT) why = "mn_bpe_read_json returned a status other than MN_E_INPUT";
            else if ((why = fuzz_check_message()) == NULL && !strstr(mn_last_error(), label))
                why = "the error message does not name the input";
        } else {
            why = fuzz_bpe_roundtrip_(t, (const uint8_t *)fixed, sizeof fixed - 1, 1);
        }
    }
    mn_tokenizer_free(t);
    if (!why && mn_memory_in_use() != mem0) why = "library memory in use changed (a leak)";
    return why;
}

/* ------------------------------------------------------- readers that take paths */

/* A scratch folder made once per process ($TMPDIR or /tmp), for the readers that read
 * files (fasta:, idx:); the inputs are written there, named so messages can be checked. */
static inline const char *fuzz_scratch_(void) {
    static char dir[200];
    if (!dir[0]) {
        const char *base = getenv("TMPDIR");
        snprintf(dir, sizeof dir, "%s/mnemo-fuzz-XXXXXX", base && *base ? base : "/tmp");
        if (!mkdtemp(dir)) abort();
    }
    return dir;
}

static inline int fuzz_put_(const char *path, const void *p, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    int ok = fwrite(p, 1, n, f) == n;
    return fclose(f) == 0 && ok;
}

/* Training and evaluation batches of a data task: tokens in the vocabulary, inputs
 * finite, labels classes (or -1), lengths in [1, T]. */
static inline const char *fuzz_task_batches_(mn_task *t) {
    const mn_task_info *in = mn_task_get_info(t);
    if (!(in->baseline_loss >= 0) || !isfinite(in->baseline_loss)) return "a baseline NaN or < 0";
    for (int pass = 0; pass < 2; pass++) {
        const mn_batch *b;
        if (pass) mn_task_use_heldout(t);
        if (mn_task_next(t, 3, &b)) return "drawing a batch failed";
        int every = in->output == MN_OUTPUT_EVERY;
        for (int i = 0; i < 3; i++)
            if (b->lengths[i] < 1 || b->lengths[i] > b->T) return "a length outside [1, T]";
        for (size_t k = 0; k < (size_t)b->T * 3; k++) {
            if (b->tokens && (b->tokens[k] < 0 || b->tokens[k] >= in->vocab_size))
                return "a token outside the vocabulary";
            if (b->x && !(b->x[k] >= 0 && b->x[k] <= 1)) return "a pixel outside [0, 1]";
            if ((every || k < 3) && b->labels &&
                (b->labels[k] < -1 || b->labels[k] >= in->output_size))
                return "a label outside the classes";
        }
    }
    return NULL;
}

static inline const char *fuzz_data_(const char *spec, const mn_data_options *o,
                                     mn_status *status) {
    mn_task *t = NULL;
    mn_status s = mn_task_from_data(spec, o, 1, &t);
    *status = s;
    if (s) {
        if (t) return "a refusal left a task";
        if (s != MN_E_INPUT && s != MN_E_ARG && s != MN_E_NOMEM) return "an unexpected status";
        const char *why = fuzz_check_message();
        if (!why && s != MN_E_NOMEM && !strstr(mn_last_error(), "mnemo-fuzz-"))
            why = "the message does not name the file";
        return why;
    }
    const char *why = fuzz_task_batches_(t);
    mn_task_free(t);
    return why;
}

/* fasta: the first byte picks the window (1..4), the validation fraction and, bit 0,
 * classification: then the rest up to its first NUL is the FASTA file, the bytes after it
 * the label file. */
static inline const char *fuzz_check_fasta(const uint8_t *data, size_t len, mn_status *status) {
    size_t mem0 = mn_memory_in_use();
    mn_clear_error();
    *status = MN_OK;
    if (len == 0) return NULL;
    char fa[260], lb[260], spec[280];
    snprintf(fa, sizeof fa, "%s/in.fa", fuzz_scratch_());
    snprintf(lb, sizeof lb, "%s/labels.txt", fuzz_scratch_());
    const uint8_t *s = data + 1;
    size_t n = len - 1, m = n;
    int labels = data[0] & 1;
    if (labels) {
        const uint8_t *z = memchr(s, 0, n);
        m = z ? (size_t)(z - s) : n;
        if (!fuzz_put_(lb, s + m + (m < n), n - m - (m < n))) abort();
    }
    if (!fuzz_put_(fa, s, m)) abort();
    snprintf(spec, sizeof spec, "fasta:%s", fa);
    mn_data_options o;
    mn_data_options_init(&o);
    o.length = labels ? 0 : 1 + ((data[0] >> 1) & 3);
    o.valid_fraction = (data[0] >> 3) & 1 ? 0.5 : 0.1;
    o.labels = labels ? lb : NULL;
    const char *why = fuzz_data_(spec, &o, status);
    if (!why && mn_memory_in_use() != mem0) why = "library memory in use changed (a leak)";
    return why;
}

/* idx: the first byte's bit 0 picks which file the rest is (labels, else images; the
 * other one is a valid file for 3 images of 2x2), bit 1 --permute, bit 2 the validation
 * fraction. Gzip inputs go through zlib when the build has it. */
static inline const char *fuzz_check_idx(const uint8_t *data, size_t len, mn_status *status) {
    static const uint8_t images[] = {0, 0, 8, 3, 0, 0, 0, 3, 0, 0, 0, 2, 0, 0, 0, 2,
                                     0, 9, 99, 255, 1, 2, 3, 4, 128, 64, 32, 16};
    static const uint8_t labels[] = {0, 0, 8, 1, 0, 0, 0, 3, 1, 0, 7};
    size_t mem0 = mn_memory_in_use();
    mn_clear_error();
    *status = MN_OK;
    if (len == 0) return NULL;
    char ip[260], lp[260], spec[540];
    snprintf(ip, sizeof ip, "%s/images", fuzz_scratch_());
    snprintf(lp, sizeof lp, "%s/labels", fuzz_scratch_());
    int fuzz_labels = data[0] & 1;
    if (!fuzz_put_(ip, fuzz_labels ? images : data + 1, fuzz_labels ? sizeof images : len - 1) ||
        !fuzz_put_(lp, fuzz_labels ? data + 1 : labels, fuzz_labels ? len - 1 : sizeof labels))
        abort();
    snprintf(spec, sizeof spec, "idx:%s,%s", ip, lp);
    mn_data_options o;
    mn_data_options_init(&o);
    o.permute = (data[0] >> 1) & 1;
    o.valid_fraction = (data[0] >> 2) & 1 ? 0.5 : 0.2;
    const char *why = fuzz_data_(spec, &o, status);
    if (!why && mn_memory_in_use() != mem0) why = "library memory in use changed (a leak)";
    return why;
}

#endif
