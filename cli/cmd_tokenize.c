/* mnemo tokenize train|encode|decode: a byte-level BPE tokenizer (mn_tokenizer_*). */
#include "common.h"
#include "progress.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_FILES 4096

static void usage(FILE *f, cli_opt *opts, int n) {
    fprintf(f,
            "usage: mnemo tokenize train --vocab N -o TOKENIZER.json FILE...\n"
            "       mnemo tokenize encode --tokenizer TOKENIZER.json [--npy IDS.npy] [FILE|-]\n"
            "       mnemo tokenize decode --tokenizer TOKENIZER.json [FILE|-]\n"
            "\n"
            "A byte-level BPE tokenizer (GPT-2's kind): every byte string, UTF-8 or not,\n"
            "encodes to ids and decodes back to the same bytes. The file is Hugging Face's\n"
            "tokenizer.json (BPE model, ByteLevel pre-tokenizer and decoder); encode and decode\n"
            "also read such files written by the tokenizers library.\n"
            "\n"
            "train   learns merges from the FILEs until the vocabulary has N tokens (256 single\n"
            "        bytes plus one per merge; fewer when no pair of tokens occurs twice), writes\n"
            "        the tokenizer to -o and prints bytes and characters per token on the\n"
            "        training text (characters: bytes that do not continue a UTF-8 sequence).\n"
            "encode  reads FILE (or standard input: - or none) as one text and prints its ids\n"
            "        on one line, separated by spaces; --npy also writes them as an int32 .npy.\n"
            "        The figures (bytes and characters per token) go to stderr.\n"
            "decode  reads ids separated by any white space and writes their bytes to stdout.\n"
            "\n"
            "With --json the last stdout line is one JSON object with the figures.\n"
            "\n"
            "options:\n");
    cli_print_options(f, opts, n);
    fprintf(f, "\nexample:\n"
               "  mnemo tokenize train --vocab 4096 -o tok.json corpus.txt\n"
               "  echo 'hello world' | mnemo tokenize encode --tokenizer tok.json |\n"
               "      mnemo tokenize decode --tokenizer tok.json\n");
}

/* The whole of a file (or of stdin for "-") in a malloc'ed buffer; prints the error. */
static int read_all(const char *path, unsigned char **out, size_t *len) {
    *out = NULL;
    *len = 0;
    int is_stdin = !strcmp(path, "-");
    struct stat sb;
    if (!is_stdin && stat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
        return cli_fail("\"%s\" is a folder; give a file", path);
    FILE *f = is_stdin ? stdin : fopen(path, "rb");
    if (!f) return cli_fail("cannot read \"%s\": %s", path, strerror(errno));
    size_t cap = 1 << 16, n = 0;
    unsigned char *buf = malloc(cap);
    while (buf) {
        if (n == cap) {
            unsigned char *b2 = cap > ((size_t)1 << 40) ? NULL : realloc(buf, 2 * cap);
            if (!b2) { free(buf); buf = NULL; break; }
            buf = b2;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) break;
    }
    int err = ferror(f);
    if (!is_stdin) fclose(f);
    if (!buf) return cli_fail_code(CLI_EXIT_RUNTIME, "reading \"%s\": out of memory", path);
    if (err) {
        free(buf);
        return cli_fail("reading \"%s\" failed", is_stdin ? "standard input" : path);
    }
    *out = buf;
    *len = n;
    return 0;
}

static size_t count_chars(const unsigned char *s, size_t n) {
    size_t c = 0;
    for (size_t i = 0; i < n; i++) c += (s[i] & 0xC0) != 0x80;
    return c;
}

static mn_tokenizer *load_tokenizer(const char *path, int *rc) {
    mn_tokenizer *t = NULL;
    mn_status st = mn_tokenizer_load(path, &t);
    if (st) *rc = cli_lib_fail(st, NULL);
    return t;
}

static int do_train(const char *output, int vocab, char **files, int nfiles, int json) {
    if (nfiles == 0)
        return cli_fail("tokenize train needs the text FILEs to learn from; for example "
                        "mnemo tokenize train --vocab 4096 -o tok.json corpus.txt");
    if (!output)
        return cli_fail("tokenize train needs -o FILE, where to write the tokenizer; for "
                        "example -o tok.json");
    for (int i = 0; i < nfiles; i++) {
        struct stat sb;
        if (!strcmp(files[i], "-"))
            return cli_fail("tokenize train reads files, not standard input; save the text "
                            "to a file first");
        if (stat(files[i], &sb) != 0)
            return cli_fail("cannot read \"%s\": %s", files[i], strerror(errno));
        if (S_ISDIR(sb.st_mode)) return cli_fail("\"%s\" is a folder; give a file", files[i]);
    }
    if (cli_check_writable("-o", output)) return CLI_EXIT_USAGE;
    cli_json_arm(json);
    double t0 = cli_now();
    mn_tokenizer *t = NULL;
    mn_status st = mn_tokenizer_train_files((const char *const *)files, nfiles, vocab, &t);
    if (st) return cli_lib_fail(st, "training failed");
    double train_s = cli_now() - t0;
    if ((st = mn_tokenizer_save(t, output))) {
        mn_tokenizer_free(t);
        return cli_lib_fail(st, NULL);
    }
    /* the figures on the training text */
    size_t bytes = 0, chars = 0, tokens = 0;
    for (int i = 0; i < nfiles; i++) {
        unsigned char *buf;
        size_t n, k;
        int rc = read_all(files[i], &buf, &n);
        if (rc) { mn_tokenizer_free(t); return rc; }
        st = mn_tokenizer_encode(t, buf, n, NULL, 0, &k);
        bytes += n;
        chars += count_chars(buf, n);
        tokens += k;
        free(buf);
        if (st) { mn_tokenizer_free(t); return cli_lib_fail(st, NULL); }
    }
    double secs = cli_now() - t0, mbps = train_s > 0 ? bytes / 1e6 / train_s : 0;
    double bpt = tokens ? (double)bytes / tokens : 0, cpt = tokens ? (double)chars / tokens : 0;
    char a[32];
    printf("mnemo tokenize train: %d tokens (%d merges) from %d file%s, %zu bytes\n",
           mn_tokenizer_vocab_size(t), mn_tokenizer_merge_count(t), nfiles,
           nfiles > 1 ? "s" : "", bytes);
    printf("  training    %s, %.1f MB/s\n", fmt_duration(a, sizeof a, train_s), mbps);
    printf("  on its text %.3f bytes per token, %.3f characters per token (%zu tokens)\n", bpt,
           cpt, tokens);
    printf("  wrote       %s\n", output);
    if (json) {
        json_obj j;
        json_begin(&j, stdout);
        json_str(&j, "command", "tokenize");
        json_str(&j, "action", "train");
        json_str(&j, "file", output);
        json_int(&j, "vocab_size", mn_tokenizer_vocab_size(t));
        json_int(&j, "merges", mn_tokenizer_merge_count(t));
        json_int(&j, "bytes", (long long)bytes);
        json_int(&j, "characters", (long long)chars);
        json_int(&j, "tokens", (long long)tokens);
        json_num(&j, "bytes_per_token", bpt);
        json_num(&j, "chars_per_token", cpt);
        json_num(&j, "train_seconds", train_s);
        json_num(&j, "mb_per_s", mbps);
        json_num(&j, "seconds", secs);
        json_end(&j);
    }
    mn_tokenizer_free(t);
    return CLI_EXIT_OK;
}

static int do_encode(const char *tok_path, const char *npy, const char *in, int json) {
    if (npy && cli_check_writable("--npy", npy)) return CLI_EXIT_USAGE;
    cli_json_arm(json);
    int rc = 0;
    mn_tokenizer *t = load_tokenizer(tok_path, &rc);
    if (!t) return rc;
    unsigned char *buf;
    size_t n, k = 0;
    if ((rc = read_all(in, &buf, &n))) { mn_tokenizer_free(t); return rc; }
    double t0 = cli_now();
    int32_t *ids = malloc(sizeof(int32_t) * (n ? n : 1));
    mn_status st = ids ? mn_tokenizer_encode(t, buf, n, ids, n, &k) : MN_E_NOMEM;
    double secs = cli_now() - t0;
    if (!ids) rc = cli_fail_code(CLI_EXIT_RUNTIME, "out of memory for %zu ids", n);
    else if (st) rc = cli_lib_fail(st, NULL);
    if (!rc && npy) {
        int64_t shape[1] = {(int64_t)k};
        if ((st = mn_array_save(npy, MN_ARRAY_I32, 1, shape, ids))) rc = cli_lib_fail(st, NULL);
    }
    if (!rc) {
        for (size_t i = 0; i < k; i++) printf(i ? " %d" : "%d", (int)ids[i]);
        printf("\n");
        size_t chars = count_chars(buf, n);
        double bpt = k ? (double)n / k : 0, cpt = k ? (double)chars / k : 0;
        fprintf(stderr, "mnemo tokenize encode: %zu bytes, %zu characters -> %zu tokens; "
                "%.3f bytes per token, %.3f characters per token\n", n, chars, k, bpt, cpt);
        if (json) {
            json_obj j;
            json_begin(&j, stdout);
            json_str(&j, "command", "tokenize");
            json_str(&j, "action", "encode");
            json_str(&j, "tokenizer", tok_path);
            json_int(&j, "bytes", (long long)n);
            json_int(&j, "characters", (long long)chars);
            json_int(&j, "tokens", (long long)k);
            json_num(&j, "bytes_per_token", bpt);
            json_num(&j, "chars_per_token", cpt);
            json_num(&j, "seconds", secs);
            json_end(&j);
        }
    }
    free(ids);
    free(buf);
    mn_tokenizer_free(t);
    return rc;
}

static int do_decode(const char *tok_path, const char *in, int json) {
    cli_json_arm(json);
    int rc = 0;
    mn_tokenizer *t = load_tokenizer(tok_path, &rc);
    if (!t) return rc;
    unsigned char *buf;
    size_t n, k = 0, nb = 0;
    if ((rc = read_all(in, &buf, &n))) { mn_tokenizer_free(t); return rc; }
    int32_t *ids = malloc(sizeof(int32_t) * (n / 2 + 1));
    unsigned char *out = NULL;
    if (!ids) rc = cli_fail_code(CLI_EXIT_RUNTIME, "out of memory");
    for (size_t i = 0; !rc && i < n;) {
        while (i < n && (buf[i] == ' ' || (buf[i] >= '\t' && buf[i] <= '\r'))) i++;
        if (i == n) break;
        size_t j = i;
        long long v = 0;
        while (j < n && buf[j] >= '0' && buf[j] <= '9' && v <= INT32_MAX) v = v * 10 + (buf[j++] - '0');
        if (j == i || v > INT32_MAX ||
            (j < n && !(buf[j] == ' ' || (buf[j] >= '\t' && buf[j] <= '\r')))) {
            size_t e = j;
            while (e < n && e - i < 24 && buf[e] > ' ') e++;
            rc = cli_fail("decode: word %zu, \"%.*s\", is not a token id (a whole number from "
                          "0 to %d); give ids separated by spaces, as encode prints them",
                          k + 1, (int)(e > i ? e - i : 1), (const char *)buf + i,
                          mn_tokenizer_vocab_size(t) - 1);
            break;
        }
        ids[k++] = (int32_t)v;
        i = j;
    }
    if (!rc) {
        mn_status st = mn_tokenizer_decode(t, ids, k, NULL, 0, &nb);
        if (!st) {
            out = malloc(nb ? nb : 1);
            st = out ? mn_tokenizer_decode(t, ids, k, out, nb, &nb) : MN_E_NOMEM;
        }
        if (st) rc = cli_lib_fail(st, "decode");
    }
    if (!rc) {
        fwrite(out, 1, nb, stdout);
        if (json) {
            if (nb && out[nb - 1] != '\n') printf("\n");   /* the JSON on a line of its own */
            json_obj j;
            json_begin(&j, stdout);
            json_str(&j, "command", "tokenize");
            json_str(&j, "action", "decode");
            json_str(&j, "tokenizer", tok_path);
            json_int(&j, "tokens", (long long)k);
            json_int(&j, "bytes", (long long)nb);
            json_end(&j);
        }
    }
    free(out);
    free(ids);
    free(buf);
    mn_tokenizer_free(t);
    return rc;
}

int cmd_tokenize(int argc, char **argv) {
    const char *output = NULL, *tok_path = NULL, *npy = NULL;
    int vocab = 0, json = 0, threads = 0;
    uint64_t seed = 1;
    char threads_def[48];
    snprintf(threads_def, sizeof threads_def, "all cores, %d here", mn_get_threads());
    cli_opt opts[] = {
        {"--vocab", OPT_INT, &vocab, "N", "train: tokens in the vocabulary (256 + merges)",
         "", "4096", 256, 1 << 24, 0, 0, 0, 0, 0},
        {"--output", OPT_STR, &output, "FILE", "train: where to write the tokenizer (also -o)",
         "", "tok.json", 0, 0, 0, 0, 0, 0, 0},
        {"--tokenizer", OPT_STR, &tok_path, "FILE", "encode, decode: the tokenizer.json to use",
         "", "tok.json", 0, 0, 0, 0, 0, 0, 0},
        {"--npy", OPT_STR, &npy, "FILE", "encode: also write the ids as a 1-D int32 .npy", "",
         "ids.npy", 0, 0, 0, 0, 0, 0, 0},
        {"--threads", OPT_INT, &threads, "N", "threads (the tokenizer runs on one)", threads_def,
         "2", 1, CLI_MAX_THREADS, 0, 0, 0, 0, 0},
        {"--seed", OPT_U64, &seed, "S", "accepted for uniformity; tokenizing draws nothing",
         NULL, "1", 0, 0, 0, 0, 0, 0, 0},
        {"--json", OPT_FLAG, &json, NULL, "end stdout with one JSON summary line", NULL, NULL,
         0, 0, 0, 0, 0, 0, 0},
    };
    const int nopts = (int)(sizeof opts / sizeof opts[0]);
    if (cli_wants_help(argc, argv)) {
        usage(stdout, opts, nopts);
        return CLI_EXIT_OK;
    }
    static const char *const actions[] = {"train", "encode", "decode", NULL};
    char list[64];
    cli_join(list, sizeof list, actions);
    if (argc < 1 || argv[0][0] == '-')
        return cli_fail("tokenize needs an action first (%s); for example mnemo tokenize "
                        "train --vocab 4096 -o tok.json corpus.txt", list);
    int action = cli_choice(argv[0], actions);
    if (action < 0)
        return cli_fail("unknown tokenize action \"%s\"; the actions are %s", argv[0], list);

    /* split the words into options (for cli_parse) and FILEs; -o is --output */
    char **optv = malloc(sizeof(char *) * (size_t)argc), **files = malloc(sizeof(char *) * (size_t)argc);
    if (!optv || !files) {
        free(optv);
        free(files);
        return cli_fail_code(CLI_EXIT_RUNTIME, "out of memory");
    }
    static char long_output[] = "--output";
    int nopt = 0, nfiles = 0;
    for (int i = 1; i < argc; i++) {
        char *a = argv[i];
        if (!strcmp(a, "-o")) a = long_output;
        if (a[0] == '-' && a[1]) {
            optv[nopt++] = a;
            cli_opt *o = strncmp(a, "--", 2) || strchr(a, '=') ? NULL : cli_find(opts, nopts, a);
            if (o && o->kind != OPT_FLAG && i + 1 < argc) optv[nopt++] = argv[++i];
        } else {
            files[nfiles++] = a;
        }
    }
    char cmdname[32];
    snprintf(cmdname, sizeof cmdname, "tokenize %s", actions[action]);
    int rc = cli_parse(cmdname, nopt, optv, opts, nopts);
    /* each option belongs to some actions */
    static const char *const owner[] = {"train", "train", "encode decode", "encode", NULL};
    for (int i = 0; !rc && i < 4; i++)
        if (opts[i].given && !strstr(owner[i], actions[action]))
            rc = cli_fail("%s is an option of 'tokenize %s', not of 'tokenize %s'",
                          opts[i].name, owner[i], actions[action]);
    if (!rc && action == 0 && !opts[0].given)
        rc = cli_fail("tokenize train needs --vocab N, the number of tokens to learn (256 "
                      "single bytes plus the merges); for example --vocab 4096");
    if (!rc && action > 0 && !tok_path)
        rc = cli_fail("tokenize %s needs --tokenizer FILE, a tokenizer.json from 'mnemo "
                      "tokenize train'", actions[action]);
    if (!rc && action > 0 && nfiles > 1)
        rc = cli_fail("tokenize %s reads one FILE (or - for standard input), got %d",
                      actions[action], nfiles);
    if (!rc && nfiles > MAX_FILES)
        rc = cli_fail("tokenize train takes at most %d files, got %d", MAX_FILES, nfiles);
    if (!rc) {
        cli_set_threads(threads);
        const char *in = nfiles ? files[0] : "-";
        if (action == 0) rc = do_train(output, vocab, files, nfiles, json);
        else if (action == 1) rc = do_encode(tok_path, npy, in, json);
        else rc = do_decode(tok_path, in, json);
    }
    free(optv);
    free(files);
    return rc;
}
