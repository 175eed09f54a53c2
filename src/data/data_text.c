/* text:FILE[,FILE...] — language modelling on bytes or BPE ids. The files (then the
 * validation files) are read into one byte buffer, sized once from their stat sizes; that
 * buffer is the task's stream (task_stream.c), so the corpus is held exactly once. Any bytes
 * are fine: UTF-8 only decides what counts as a character (a byte that is not 10xxxxxx).
 * With a tokenizer the two parts are encoded apart into one int32 buffer (at most one id
 * per byte), the bytes are released, and the ids are the stream. */
#include "data.h"

#include <math.h>
#include <string.h>

/* buf[0..len) (taken: released here) as BPE ids, the two parts encoded apart */
static mn_status encode_open(const mn_data_files *f, unsigned char *buf, size_t len,
                             size_t split, double chars, uint64_t seed, mn_task **out) {
    mn_tokenizer *tok = NULL;
    mn_status st = mn_tokenizer_load(f->tokenizer, &tok);
    int32_t *ids = st ? NULL : mn_alloc(len * sizeof *ids);
    if (!st && !ids) st = MN_E_NOMEM;
    size_t ntrain = 0, neval = 0;
    if (!st) st = mn_tokenizer_encode(tok, buf, split, ids, len, &ntrain);
    if (!st) st = mn_tokenizer_encode(tok, buf + split, len - split, ids + ntrain, len - ntrain,
                                      &neval);
    int vocab = tok ? mn_tokenizer_vocab_size(tok) : 0;
    mn_tokenizer_free(tok);
    mn_release(buf);
    if (st) {
        mn_release(ids);
        return st;
    }
    st = mn_task_stream_create("text", ids, NULL, ids, ntrain + neval, ntrain, vocab,
                               f->length, chars, seed, out);
    if (!st) (*out)->info.tokens_per_byte = (double)neval / (double)(len - split);
    return st;
}

static mn_status text_open(const mn_data_files *f, uint64_t seed, mn_task **out) {
    size_t total = 0, size, train_bytes = 0;
    mn_status st = MN_OK;
    for (int i = 0; i < f->n + f->nv && !st; i++) {
        st = mn_data_file_size(i < f->n ? f->paths[i] : f->vpaths[i - f->n], &size);
        total += size;
    }
    if (st) return st;
    if (f->length < 1)
        return mn_fail(MN_E_ARG, "text data needs a window length (the bytes of context per "
                       "training sequence), at least 1");
    unsigned char *buf = NULL;
    size_t len = 0, cap = 0;
    if (total && !(buf = mn_alloc(total))) return MN_E_NOMEM;
    cap = total;
    for (int i = 0; i < f->n + f->nv && !st; i++) {
        st = mn_data_append_file(i < f->n ? f->paths[i] : f->vpaths[i - f->n],
                                 "text (any bytes)", &buf, &len, &cap);
        if (i == f->n - 1) train_bytes = len;
    }
    if (st) {
        mn_release(buf);
        return st;
    }
    size_t split = f->nv ? train_bytes
                         : len - (size_t)floor(f->valid_fraction * (double)len + 0.5);
    double chars = 0;
    for (size_t i = split; i < len; i++) chars += (buf[i] & 0xC0) != 0x80;
    if (split < (size_t)f->length + 1 || split >= len || chars == 0) {
        char nb[MN_ESCAPE_CAP];
        mn_release(buf);
        if (split >= len)
            return mn_fail(MN_E_ARG, "data \"%s\": the validation fraction %g of %zu bytes "
                           "leaves none to evaluate on; give a larger fraction or validation "
                           "files", mn_data_name(nb, sizeof nb, f->spec), f->valid_fraction, len);
        if (split >= (size_t)f->length + 1)   /* bits per character would divide by 0 */
            return mn_fail(MN_E_INPUT, "data \"%s\": the held-out part (%zu byte%s) holds no "
                           "character, only UTF-8 continuation bytes; give more held-out text",
                           mn_data_name(nb, sizeof nb, f->spec), len - split,
                           len - split == 1 ? "" : "s");
        return mn_fail(MN_E_INPUT, "data \"%s\": %zu training bytes, too few for one window "
                       "of %d bytes and the byte after it; give more text or a shorter length",
                       mn_data_name(nb, sizeof nb, f->spec), split, f->length);
    }
    if (!f->tokenizer)
        return mn_task_stream_create("text", buf, buf, NULL, len, split, 256, f->length, chars,
                                     seed, out);
    return encode_open(f, buf, len, split, chars, seed, out);
}

const mn_data_kind mn_data_text = {"text", "text:FILE[,FILE...]", 1, 64, text_open};
