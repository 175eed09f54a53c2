/* libFuzzer harness: the text reader (mn_task_from_data "text:FILE") on arbitrary bytes,
 * as bytes and through a BPE tokenizer. The reader takes paths, so each input is written to
 * scratch files first. The first byte chooses the window (1..8), the held-out share, whether
 * the rest is split into a training and a validation file (at a point the second byte picks)
 * and whether the text is encoded with a small tokenizer trained once, at start, on a fixed
 * text. Checks: a refusal is MN_E_INPUT or MN_E_ARG with a message naming the file; a
 * success draws a training and an evaluation batch whose tokens and labels lie in the
 * vocabulary, and reports finite, positive tokens per character and per byte; every byte
 * allocated is released. Built by `make fuzz` (FUZZ_TARGETS=text). */
#include "mnemo.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char train_path[64], valid_path[64], tok_path[64];
static int tok_vocab;   /* the tokenizer's vocabulary: 256 bytes and its merges */

static void fail(const char *why, mn_status s) {
    fprintf(stderr, "fuzz_text: %s (status %d: %s)\n", why, (int)s, mn_last_error());
    abort();
}

static void scratch(char *path, size_t cap) {
    snprintf(path, cap, "/tmp/mnemo-fuzz-text-XXXXXX");
    int fd = mkstemp(path);
    if (fd < 0) abort();
    close(fd);
}

static void write_file(const char *path, const uint8_t *d, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(d, 1, n, f) != n || fclose(f)) abort();
}

/* A byte-level tokenizer with a few merges, trained once on a text with letters, digits,
 * spaces and a multi-byte character, so encoded inputs mix merged and single-byte ids. */
static void make_tokenizer(void) {
    static const char text[] = "the cat sat on the mat; the hat, the bat. 1234 1234 "
                               "caf\xc3\xa9 caf\xc3\xa9 the the the\n";
    const char *texts[1] = {text};
    size_t lengths[1] = {sizeof text - 1};
    mn_tokenizer *tok = NULL;
    mn_status s = mn_tokenizer_train(texts, lengths, 1, 256 + 24, &tok);
    if (s) fail("training the tokenizer failed", s);
    scratch(tok_path, sizeof tok_path);
    if ((s = mn_tokenizer_save(tok, tok_path))) fail("saving the tokenizer failed", s);
    tok_vocab = mn_tokenizer_vocab_size(tok);
    if (tok_vocab <= 256) fail("the tokenizer learned no merge", s);
    mn_tokenizer_free(tok);
}

static void check_batch(const mn_task_info *in, const mn_batch *b, int B) {
    if (!b->tokens || b->T != in->max_steps) fail("a batch without tokens or of another length", 0);
    for (size_t i = 0; i < (size_t)b->T * B; i++) {
        if (b->tokens[i] < 0 || b->tokens[i] >= in->vocab_size) fail("a token out of range", 0);
        if (b->labels && (b->labels[i] < -1 || b->labels[i] >= in->output_size))
            fail("a label out of range", 0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!train_path[0]) {
        scratch(train_path, sizeof train_path);
        scratch(valid_path, sizeof valid_path);
        make_tokenizer();
    }
    if (size < 2) return 0;
    const uint8_t mode = data[0];
    const int two_files = (mode >> 4) & 1, with_tokenizer = (mode >> 5) & 1;
    data += 2;
    size -= 2;
    size_t cut = two_files ? (size_t)data[-1] * size / 255 : size;
    write_file(train_path, data, cut);
    if (two_files) write_file(valid_path, data + cut, size - cut);

    size_t mem0 = mn_memory_in_use();
    char spec[80], vspec[80];
    snprintf(spec, sizeof spec, "text:%s", train_path);
    snprintf(vspec, sizeof vspec, "text:%s", valid_path);
    mn_data_options o;
    mn_data_options_init(&o);
    o.length = 1 + (mode & 7);
    o.valid_fraction = (mode >> 3) & 1 ? 0.5 : -1;
    if (two_files) o.valid_spec = vspec;
    if (with_tokenizer) o.tokenizer = tok_path;
    mn_task *t = NULL;
    mn_status s = mn_task_from_data(spec, &o, 1, &t);
    if (s) {
        if (t) fail("a refusal left a task", s);
        if (s != MN_E_INPUT && s != MN_E_ARG && s != MN_E_NOMEM) fail("unexpected status", s);
        if (s != MN_E_NOMEM && !strstr(mn_last_error(), "mnemo-fuzz-text") &&
            !strstr(mn_last_error(), "length"))
            fail("the message names neither the file nor the length", s);
    } else {
        const mn_task_info *in = mn_task_get_info(t);
        if (in->vocab_size != (with_tokenizer ? tok_vocab : 256)) fail("the wrong vocabulary", s);
        if (!(in->tokens_per_char > 0 && isfinite(in->tokens_per_char)) ||
            !(in->tokens_per_byte > 0 && in->tokens_per_byte <= 1))
            fail("tokens per character or per byte out of range", s);
        if (!(in->baseline_loss >= 0 && isfinite(in->baseline_loss)))
            fail("a negative or non-finite baseline", s);
        const mn_batch *b;
        for (int pass = 0; pass < 2; pass++) {
            if (pass) mn_task_use_heldout(t);
            if ((s = mn_task_next(t, 3, &b))) fail("drawing a batch failed", s);
            check_batch(in, b, 3);
        }
        mn_task_free(t);
    }
    if (mn_memory_in_use() != mem0) fail("memory was not released", s);
    return 0;
}
