/* mnemo generate: text from a language model trained on text data (bytes or BPE ids). The
 * prompt is encoded and fed one token per mn_stream_step, then each sampled token
 * (mn_sample_logits) is printed as it comes and fed back. Every causal family streams:
 * recurrent cells, causal Transformers (their key/value cache), TCN, S4D and Mamba. */
#include "common.h"
#include "progress.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_PROMPT ((size_t)1 << 26)

static void usage(FILE *f, cli_opt *opts, int n) {
    fprintf(f,
            "usage: mnemo generate --load FILE [--prompt TEXT | --prompt-file F] [--tokens N]\n"
            "                      [--temperature X] [--top-k K] [--seed S] [--json]\n"
            "\n"
            "Samples text from a language model trained on text data (mnemo train --data\n"
            "text:FILE, on bytes or with --tokenizer on BPE tokens). The prompt is encoded\n"
            "(with the tokenizer the model was trained with, found by the path and content\n"
            "hash its file records) and fed through the model one token at a time; then N\n"
            "tokens are drawn, each from softmax(logits / temperature) over the K most likely\n"
            "(temperature 0: the most likely, greedy), printed as it comes and fed back. An\n"
            "empty prompt starts from a newline. The same seed gives the same text. A byte\n"
            "model may print part of a UTF-8 character at a time. Every block must be causal\n"
            "(recurrent cells, causal Transformers, TCN, S4D, Mamba).\n"
            "With --json the last stdout line is one JSON object: the continuation (as UTF-8,\n"
            "each byte that starts no valid character as U+FFFD), the tokens, the speed.\n"
            "\n"
            "options:\n");
    cli_print_options(f, opts, n);
    fprintf(f, "\nexample:\n"
               "  mnemo train --data text:corpus.txt --length 100 --model lstm --save lm.st\n"
               "  mnemo generate --load lm.st --prompt 'The ' --tokens 200 --temperature 0.8\n");
}

/* the whole of a prompt file (binary-safe); prints the error */
static int read_prompt(const char *path, char **out, size_t *len) {
    struct stat sb;
    if (stat(path, &sb) != 0 || S_ISDIR(sb.st_mode))
        return cli_fail("cannot read --prompt-file \"%s\": %s", path,
                        S_ISDIR(sb.st_mode) ? "it is a folder" : strerror(errno));
    FILE *f = fopen(path, "rb");
    if (!f) return cli_fail("cannot read --prompt-file \"%s\": %s", path, strerror(errno));
    size_t cap = sb.st_size > 0 ? (size_t)sb.st_size + 1 : 4096, n = 0;
    char *buf = cap <= MAX_PROMPT ? malloc(cap) : NULL;
    while (buf) {
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (n < cap) break;
        char *b2 = cap >= MAX_PROMPT ? NULL : realloc(buf, 2 * cap);
        if (!b2) {
            free(buf);
            buf = NULL;
        } else {
            buf = b2;
            cap *= 2;
        }
    }
    int err = ferror(f);
    fclose(f);
    if (!buf) return cli_fail("--prompt-file \"%s\" is larger than %zu MB; give a shorter prompt",
                              path, MAX_PROMPT >> 20);
    if (err) {
        free(buf);
        return cli_fail("reading --prompt-file \"%s\" failed", path);
    }
    *out = buf;
    *len = n;
    return 0;
}

typedef struct {
    mn_model *model;
    mn_tokenizer *tok;
    mn_stream *stream;
    float *logits;
    int32_t *ids;
    char *prompt_buf, *text;
    size_t text_len, text_cap;
} gen_state;

static void gen_free(gen_state *g) {
    mn_stream_free(g->stream);
    mn_model_free(g->model);
    mn_tokenizer_free(g->tok);
    free(g->logits);
    free(g->ids);
    free(g->prompt_buf);
    free(g->text);
}

/* the bytes of one token: written to stdout at once, kept for the JSON */
static int emit(gen_state *g, int32_t id, int keep) {
    unsigned char one[1];
    char piece[4096];
    size_t nb = 0;
    const void *bytes = one;
    if (g->tok) {
        mn_status st = mn_tokenizer_decode(g->tok, &id, 1, piece, sizeof piece, &nb);
        if (st) return cli_lib_fail(st, "decoding a generated token");
        bytes = piece;
    } else {
        one[0] = (unsigned char)id;
        nb = 1;
    }
    fwrite(bytes, 1, nb, stdout);
    fflush(stdout);
    if (!keep) return 0;
    if (g->text_len + nb + 1 > g->text_cap) {
        size_t cap = (g->text_len + nb + 1) * 2;
        char *t = realloc(g->text, cap);
        if (!t) return cli_fail_code(CLI_EXIT_RUNTIME, "out of memory keeping the text");
        g->text = t;
        g->text_cap = cap;
    }
    memcpy(g->text + g->text_len, bytes, nb);
    g->text_len += nb;
    g->text[g->text_len] = 0;
    return 0;
}

/* The length of the valid UTF-8 character at s[0..n) (1-4), or 0: not one (a stray or
 * truncated byte, an overlong form, a surrogate, above U+10FFFF, NUL). */
static int utf8_char(const unsigned char *s, size_t n) {
    unsigned c = s[0];
    if (c >= 0x01 && c < 0x80) return 1;
    int len = c >= 0xC2 && c <= 0xDF ? 2 : (c & 0xF0) == 0xE0 ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
    if (!len || (size_t)len > n) return 0;
    for (int i = 1; i < len; i++)
        if ((s[i] & 0xC0) != 0x80) return 0;
    if (c == 0xE0 && s[1] < 0xA0) return 0;    /* overlong */
    if (c == 0xED && s[1] >= 0xA0) return 0;   /* surrogates */
    if (c == 0xF0 && s[1] < 0x90) return 0;    /* overlong */
    if (c == 0xF4 && s[1] >= 0x90) return 0;   /* above U+10FFFF */
    return len;
}

/* text as valid UTF-8 for JSON: each byte that starts no valid character becomes U+FFFD */
static char *utf8_clean(const char *text, size_t n) {
    char *out = malloc(3 * n + 1), *o = out;
    if (!out) return NULL;
    const unsigned char *s = (const unsigned char *)text;
    for (size_t i = 0; i < n;) {
        int len = utf8_char(s + i, n - i);
        if (len) {
            memcpy(o, s + i, (size_t)len);
            o += len;
            i += (size_t)len;
        } else {
            memcpy(o, "\xEF\xBF\xBD", 3);
            o += 3;
            i++;
        }
    }
    *o = 0;
    return out;
}

int cmd_generate(int argc, char **argv) {
    const char *load = NULL, *prompt = NULL, *prompt_file = NULL, *tokenizer = NULL;
    int tokens = 100, top_k = 0, threads = 0, json = 0, echo = 0;
    float temperature = 1.0f;
    uint64_t seed = 1;
    char threads_def[48];
    snprintf(threads_def, sizeof threads_def, "all cores, %d here", mn_get_threads());
    cli_opt opts[] = {
        {"--load", OPT_STR, &load, "FILE", "language model saved by mnemo train --save (text "
         "data)", NULL, "lm.safetensors", 0, 0, 0, 0, 0, 1, 0},
        {"--prompt", OPT_STR, &prompt, "TEXT", "text to continue", "a newline", "'Once upon'",
         0, 0, 0, 0, 0, 0, 0},
        {"--prompt-file", OPT_STR, &prompt_file, "F", "continue the text of this file", "",
         "prompt.txt", 0, 0, 0, 0, 0, 0, 0},
        {"--tokens", OPT_INT, &tokens, "N", "tokens to generate", NULL, "200", 1, 100000000, 0,
         0, 0, 0, 0},
        {"--temperature", OPT_FLOAT, &temperature, "X", "softmax temperature: below 1 sharper, "
         "above 1 flatter, 0 greedy (the most likely token)", NULL, "0.8", 0, 0, 0, 1e6, 0, 0,
         0},
        {"--top-k", OPT_INT, &top_k, "K", "draw among the K most likely tokens only",
         "every token", "40", 1, 1 << 24, 0, 0, 0, 0, 0},
        {"--seed", OPT_U64, &seed, "S", "seed of the draws (same seed, same text)", NULL, "7",
         0, 0, 0, 0, 0, 0, 0},
        {"--tokenizer", OPT_STR, &tokenizer, "FILE", "the BPE tokenizer.json the model was "
         "trained with (checked against the hash the file records)", "the file's", "tok.json",
         0, 0, 0, 0, 0, 0, 0},
        {"--echo", OPT_FLAG, &echo, NULL, "print the prompt before the continuation", NULL,
         NULL, 0, 0, 0, 0, 0, 0, 0},
        {"--threads", OPT_INT, &threads, "N", "threads", threads_def, "2", 1, CLI_MAX_THREADS,
         0, 0, 0, 0, 0},
        {"--json", OPT_FLAG, &json, NULL, "end stdout with one JSON summary line", NULL, NULL,
         0, 0, 0, 0, 0, 0, 0},
    };
    const int nopts = (int)(sizeof opts / sizeof opts[0]);
    if (cli_wants_help(argc, argv)) {
        usage(stdout, opts, nopts);
        return CLI_EXIT_OK;
    }
    int rc = cli_parse("generate", argc, argv, opts, nopts);
    if (rc) return rc;
    if (prompt && prompt_file)
        return cli_fail("--prompt and --prompt-file both give the prompt; give one of them");
    if (cli_find(opts, nopts, "--temperature")->given && temperature < 0)
        return cli_fail("--temperature must be >= 0 (0: greedy), got %g", (double)temperature);
    struct stat sb;
    if (stat(load, &sb) != 0 || S_ISDIR(sb.st_mode))
        return cli_fail("cannot read --load file \"%s\": %s; give the path of a model saved "
                        "with 'mnemo train --save'", load,
                        S_ISDIR(sb.st_mode) ? "it is a folder" : strerror(errno));
    cli_json_arm(json);
    cli_set_threads(threads);

    gen_state g = {0};
    size_t plen = 0;
    if (prompt_file) {
        if ((rc = read_prompt(prompt_file, &g.prompt_buf, &plen))) return rc;
        prompt = g.prompt_buf;
    } else if (prompt) {
        plen = strlen(prompt);
    }
    mn_status st = mn_model_load(load, &g.model);
    if (st) {
        char ctx[512];
        snprintf(ctx, sizeof ctx, "cannot load \"%s\"", load);
        rc = cli_lib_fail(st, ctx);
        goto done;
    }
    cli_warn_nonfinite_params(g.model, load);
    const mn_model_config *mc = mn_model_get_config(g.model);
    const char *data = mn_model_metadata(g.model, "data");
    if (!data || strncmp(data, "text:", 5) || mc->vocab_size < 2 || mc->loss != MN_LOSS_CE ||
        mc->output != MN_OUTPUT_EVERY || mc->output_size != mc->vocab_size) {
        const char *task = mn_model_metadata(g.model, "task");
        char nb[256];
        rc = cli_fail("the model in \"%s\" is not a language model of text (it was trained "
                      "on %s %s); generate samples from models trained with --data text:FILE",
                      load, data ? "data" : "task",
                      mn_escape(nb, sizeof nb, data ? data : task ? task : "(not recorded)"));
        goto done;
    }
    const char *tok_path = NULL;
    if ((rc = cli_model_tokenizer(g.model, load, tokenizer, &tok_path))) goto done;
    if (tok_path) {
        if ((st = mn_tokenizer_load(tok_path, &g.tok))) {
            rc = cli_lib_fail(st, NULL);
            goto done;
        }
        if (mn_tokenizer_vocab_size(g.tok) != mc->vocab_size) {
            rc = cli_fail("tokenizer \"%s\" has %d tokens, the model %d; give the tokenizer "
                          "it was trained with", tok_path, mn_tokenizer_vocab_size(g.tok),
                          mc->vocab_size);
            goto done;
        }
    } else if (mc->vocab_size != 256) {
        rc = cli_fail("the model in \"%s\" reads %d tokens and records no tokenizer; give it "
                      "with --tokenizer FILE", load, mc->vocab_size);
        goto done;
    }
    if (top_k > mc->vocab_size) {
        rc = cli_fail("--top-k %d is more than the model's vocabulary of %d tokens; give at "
                      "most %d", top_k, mc->vocab_size, mc->vocab_size);
        goto done;
    }
    /* an empty prompt starts from a newline: the context a text starts after */
    const char *ptext = plen ? prompt : "\n";
    size_t pbytes = plen ? plen : 1, nids = 0;
    if (!(g.ids = malloc(pbytes * sizeof *g.ids)) ||
        !(g.logits = malloc((size_t)mc->output_size * sizeof *g.logits))) {
        rc = cli_fail_code(CLI_EXIT_RUNTIME, "out of memory for the prompt");
        goto done;
    }
    if (g.tok) {
        if ((st = mn_tokenizer_encode(g.tok, ptext, pbytes, g.ids, pbytes, &nids))) {
            rc = cli_lib_fail(st, "encoding the prompt");
            goto done;
        }
    } else {
        for (size_t i = 0; i < pbytes; i++) g.ids[i] = (unsigned char)ptext[i];
        nids = pbytes;
    }
    if ((st = mn_stream_create(g.model, 1, &g.stream))) {
        rc = cli_lib_fail(st, NULL);
        goto done;
    }
    if (echo && plen) {
        fwrite(prompt, 1, plen, stdout);
        fflush(stdout);
    }
    double t0 = cli_now();
    for (size_t i = 0; i < nids; i++)
        if ((st = mn_stream_step(g.stream, NULL, &g.ids[i], g.logits))) {
            rc = cli_lib_fail(st, "feeding the prompt");
            goto done;
        }
    double t1 = cli_now();
    uint64_t rng = seed;
    int made = 0;
    for (; made < tokens; made++) {
        int32_t next;
        if ((st = mn_sample_logits(g.logits, mc->output_size, temperature, top_k, &rng, &next))) {
            rc = cli_lib_fail(st, "sampling");
            goto done;
        }
        if ((rc = emit(&g, next, json))) goto done;
        if (made + 1 < tokens && (st = mn_stream_step(g.stream, NULL, &next, g.logits))) {
            rc = cli_lib_fail(st, "generating");
            goto done;
        }
    }
    double t2 = cli_now();
    if (json) {
        if (!g.text_len || g.text[g.text_len - 1] != '\n') putchar('\n');
        json_obj j;
        json_begin(&j, stdout);
        json_str(&j, "command", "generate");
        json_str(&j, "file", load);
        if (tok_path) json_str(&j, "tokenizer", tok_path);
        json_int(&j, "vocab_size", mc->vocab_size);
        json_int(&j, "prompt_tokens", (long long)nids);
        json_int(&j, "tokens", made);
        json_num(&j, "temperature", temperature);
        if (top_k) json_int(&j, "top_k", top_k);
        json_u64(&j, "seed", seed);
        char *clean = utf8_clean(g.text ? g.text : "", g.text_len);
        json_str(&j, "text", clean ? clean : "");
        free(clean);
        json_int(&j, "text_bytes", (long long)g.text_len);
        json_num(&j, "prompt_seconds", t1 - t0);
        json_num(&j, "tokens_per_s", t2 > t1 ? made / (t2 - t1) : NAN);
        json_end(&j);
    } else if (made && isatty(STDOUT_FILENO)) {
        putchar('\n');   /* the shell's prompt after the text, not on its last line */
    }
done:
    gen_free(&g);
    return rc;
}
