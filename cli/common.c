/* Shared checks for the mnemo commands: see common.h. */
#include "common.h"
#include "ranks.h"
#include "progress.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* One entry per task of mn_task_names(), in its order (tests/cli_tasks_test.sh checks both
 * ways); the definitions themselves live in src/data/task_*.c. */
static const char *const task_help[] = {
    "adding",
    "x ~ U[0,1] with two marked values; output their sum at the\n"
    "end (MSE); N steps",
    "adding-1997",
    "Hochreiter & Schmidhuber 1997, Exp. 4: pairs (value,\n"
    "marker), lengths in [N, N + N/10], output 0.5 + (X1+X2)/4;\n"
    "accuracy |error| < 0.04",
    "copy",
    "copy memory (Arjovsky et al. 2016): 10 symbols, N blanks, a\n"
    "delimiter, write the symbols back; N + 20 steps",
    "reverse",
    "sequence to sequence: write N symbols back last first (an\n"
    "encoder-decoder)",
    "selective-copy",
    "Gu & Dao 2023 (Mamba) 4.1.1: 16 data tokens over 14 symbols\n"
    "at random positions among noise over N steps, then 16\n"
    "markers while they are written back in order; CE on the 16\n"
    "recall steps, baseline ln 14; N + 16 steps",
    "induction",
    "induction heads (Olsson et al. 2022; H3, Mamba 4.1.2): N\n"
    "random tokens over 16 symbols, a trigger in the first half\n"
    "followed by v, the trigger again at the last step: output v;\n"
    "baseline ln 16; eval --length may differ from training",
    "listops",
    "ListOps as in Long Range Arena (Tay et al. 2021): nested\n"
    "[MIN [MAX [MED [SM ... ] over digits, depth <= 10, 2-10\n"
    "arguments, brackets kept as tokens; output the value (10\n"
    "classes); N: the padded length, sequences of N/4 to N\n"
    "tokens; baseline: the entropy of the label prior, sampled at\n"
    "setup",
    "palindrome",
    "N symbols over {0, 1}, half palindromes, half one flipped\n"
    "symbol away from one; output palindrome or not; baseline ln\n"
    "2; suits --bidirectional",
};

void cli_task_help(FILE *f) {
    fprintf(f, "Tasks (N: --length):\n");
    for (size_t i = 0; i + 1 < sizeof task_help / sizeof task_help[0]; i += 2) {
        fprintf(f, "  %-15s ", task_help[i]);
        for (const char *p = task_help[i + 1]; *p; p++) {
            fputc(*p, f);
            if (*p == '\n') fprintf(f, "%18s", "");
        }
        fputc('\n', f);
    }
}

int cli_check_task(const char *name) {
    const char *list = mn_task_names();
    if (!list) list = "";
    size_t n = strlen(name);
    /* The list is "a, b, c": match a whole entry. */
    for (const char *p = list; *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == n && strncmp(p, name, n) == 0) return 0;
        if (!end) break;
        p = end + 1;
        while (*p == ' ') p++;
    }
    char shown[96];   /* the name may come from a file's metadata */
    return cli_fail("unknown task \"%s\"; choose one of %s", mn_escape(shown, sizeof shown, name),
                    list);
}

int cli_cell_has_projection(mn_cell_kind cell) {
    mn_cell_info ci;
    return mn_cell_describe(cell, &ci) == MN_OK && ci.has_cell_state;
}

const char *cli_cell_list(void) {
    static char buf[128];
    if (!buf[0]) {
        size_t used = 0;
        mn_cell_info ci;
        for (int i = 0; mn_cell_describe((mn_cell_kind)i, &ci) == MN_OK; i++) {
            int w = snprintf(buf + used, sizeof buf - used, "%s%s", i ? ", " : "", ci.name);
            if (w < 0 || (size_t)w >= sizeof buf - used) break;
            used += (size_t)w;
        }
    }
    return buf;
}

int cli_parse_cell(const char *name, mn_cell_kind *out) {
    if (mn_cell_parse(name, out) == MN_OK) return 0;
    return cli_fail("unknown model \"%s\"; choose one of %s", name, cli_cell_list());
}

/* The library's own replay of a run's allocations: the CLI keeps no formula of its own,
 * which would drift from what the library does. */
double cli_estimate_bytes(const mn_model_config *cfg, int T, int B, int train) {
    mn_memory_estimate e;
    if (mn_memory_estimate_run(cfg, T, B, train, &e) != MN_OK) return -1;
    return (double)e.total;
}

int cli_check_memory(const char *what, double bytes, const char *advice) {
    /* a refused estimate carries the library's reason (an impossible block, or a run too
     * large to describe) and its remedy: neither the context nor the memory advice fits */
    if (bytes < 0) return cli_fail("%s", mn_last_error());
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    if (pages <= 0 || page <= 0) return 0;   /* unknown: let the library try */
    double have = (double)pages * (double)page;
    if (bytes <= have) return 0;
    char need_s[32], have_s[32];
    return cli_fail("%s needs at least %s of memory, more than the %s this machine has; %s",
                    what, fmt_bytes(need_s, sizeof need_s, bytes),
                    fmt_bytes(have_s, sizeof have_s, have), advice);
}

int cli_warn_nonfinite(const char *what, const float *x, long long T, int B, int I,
                       const int32_t *lengths, long long t0) {
    for (long long t = 0; t < T; t++)
        for (int b = 0; b < B; b++) {
            if (lengths && t >= lengths[b]) continue;
            const float *row = x + ((size_t)t * B + (size_t)b) * I;
            for (int i = 0; i < I; i++)
                if (!isfinite(row[i])) {
                    fprintf(stderr, "warning: %s: step %lld of sequence %d holds %s at feature "
                            "%d; it goes through as through PyTorch, so the outputs that read "
                            "it are NaN or Inf\n", what, t0 + t, b, isnan(row[i]) ? "NaN"
                            : row[i] > 0 ? "+Inf" : "-Inf", i);
                    return 1;
                }
        }
    return 0;
}

long long cli_meta_number(const char *s, long long max) {
    if (!s || *s < '0' || *s > '9') return -1;
    char *end;
    errno = 0;
    unsigned long long x = strtoull(s, &end, 10);
    if (*end || errno || x > (unsigned long long)max) return -1;
    return (long long)x;
}

int cli_warn_nonfinite_params(mn_model *m, const char *path) {
    for (int k = 0; k < mn_model_tensor_count(m); k++) {
        const char *name;
        int ndim;
        const int *shape;
        float *data, *grad;
        if (mn_model_tensor(m, k, &name, &ndim, &shape, &data, &grad) != MN_OK) continue;
        size_t n = 1;
        for (int d = 0; d < ndim; d++) n *= (size_t)shape[d];
        for (size_t i = 0; i < n; i++)
            if (!isfinite(data[i])) {
                fprintf(stderr, "warning: \"%s\": tensor %s holds %s at element %zu (saved from "
                        "a run that diverged, or damaged): outputs that read it are NaN or Inf\n",
                        path, name, isnan(data[i]) ? "NaN" : "Inf", i);
                return 1;
            }
    }
    return 0;
}

int cli_check_writable(const char *opt, const char *path) {
    char dir[4096];
    struct stat sb;
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
        return cli_fail("%s needs a file name, got the folder \"%s\"; for example %s %s/%s",
                        opt, path, opt, path, strstr(opt, "metrics") ? "metrics.jsonl"
                                                                     : "model.safetensors");
    const char *slash = strrchr(path, '/');
    if (slash == path) {
        snprintf(dir, sizeof dir, "/");
    } else if (slash) {
        size_t len = (size_t)(slash - path);
        if (len >= sizeof dir) len = sizeof dir - 1;
        memcpy(dir, path, len);
        dir[len] = 0;
    } else {
        snprintf(dir, sizeof dir, ".");
    }
    if (access(dir, W_OK | X_OK) == 0) return 0;
    return cli_fail("cannot write %s file \"%s\": folder \"%s\": %s; choose a path in a "
                    "folder that exists and is writable", opt, path, dir, strerror(errno));
}

/* 0: all cores, or under mpirun this rank's share of them. More threads than processors
 * run, but slowly: threads that meet every time step wait for one that has no core
 * (LSTM 1000×1×128: --threads 4 on 2 cores 8 ms, --threads 2 5 ms), so say so. */
void cli_set_threads(int threads) {
    long procs = sysconf(_SC_NPROCESSORS_ONLN);
    if (threads > 0 && procs > 0 && threads > procs)
        fprintf(stderr, "mnemo: note: --threads %d is more than this machine's %ld "
                "processors; the threads past them wait on each other and slow the run "
                "(--threads 0 uses every processor)\n", threads, procs);
    mn_set_threads(threads > 0 ? threads : cli_mpi_default_threads());
}

void cli_json_text_metrics(json_obj *j, const mn_eval_stats *ev, const mn_task_info *info) {
    if (ev->mse >= 0) {
        json_num(j, "test_mse", ev->mse);
        json_num(j, "test_mae", ev->mae);
        json_num(j, "baseline_mse", info->baseline_mse);
        json_num(j, "baseline_mae", info->baseline_mae);
    }
    int fasta = info->data_spec && !strncmp(info->data_spec, "fasta:", 6);
    if (fasta && info->data_state) json_str(j, "alphabet", info->data_state);
    if (!(info->tokens_per_char > 0)) return;
    if (fasta) {   /* a character is a residue */
        json_num(j, "bits_per_base", ev->loss / log(2.0) * info->tokens_per_char);
        json_num(j, "perplexity", exp(ev->loss));
        json_num(j, "baseline_bits_per_base",
                 info->baseline_loss / log(2.0) * info->tokens_per_char);
        return;
    }
    json_num(j, "bits_per_char", ev->loss / log(2.0) * info->tokens_per_char);
    if (info->tokens_per_byte > 0)
        json_num(j, "bits_per_byte", ev->loss / log(2.0) * info->tokens_per_byte);
    json_num(j, "perplexity", exp(ev->loss));
    json_num(j, "baseline_bits_per_char", info->baseline_loss / log(2.0) * info->tokens_per_char);
}

void cli_print_test_result(const mn_eval_stats *ev, int sequences, const mn_task_info *info,
                           int show_accuracy) {
    double ratio = info->baseline_loss > 0 ? ev->loss / info->baseline_loss : NAN;
    printf("  test loss   %.6g on %d held-out sequences\n", ev->loss, sequences);
    printf("  baseline    %.6g (%s)\n", info->baseline_loss,
           info->baseline_desc ? info->baseline_desc : "best input-blind guess");
    if (ratio < 1)
        printf("  ratio       %.4g (test loss / baseline: %.3gx better than the baseline)\n",
               ratio, 1 / ratio);
    else
        printf("  ratio       %.4g (test loss / baseline: no better than the baseline)\n", ratio);
    if (show_accuracy)
        printf("  accuracy    %.2f%% (%s)\n", 100.0 * ev->accuracy,
               info->accuracy_desc ? info->accuracy_desc : "task criterion");
    if (ev->mse >= 0)
        printf("  forecast    MSE %.6g, MAE %.6g in the data's units (repeat the last value: MSE "
               "%.6g, MAE %.6g)\n", ev->mse, ev->mae, info->baseline_mse, info->baseline_mae);
    int fasta = info->data_spec && !strncmp(info->data_spec, "fasta:", 6);
    if (fasta && info->data_state)
        printf("  alphabet    %s (detected from the training files)\n", info->data_state);
    if (fasta && info->tokens_per_char > 0) {
        printf("  bits/base   %.4g (baseline %.4g, the unigram model; perplexity %.4g per "
               "token, the record separators included)\n",
               ev->loss / log(2.0) * info->tokens_per_char,
               info->baseline_loss / log(2.0) * info->tokens_per_char, exp(ev->loss));
    } else if (info->tokens_per_char > 0) {
        double bpc = ev->loss / log(2.0) * info->tokens_per_char;
        printf("  bits/char   %.4g (baseline %.4g; per byte %.4g; perplexity %.4g per token)\n",
               bpc, info->baseline_loss / log(2.0) * info->tokens_per_char,
               info->tokens_per_byte > 0 ? ev->loss / log(2.0) * info->tokens_per_byte : NAN,
               exp(ev->loss));
    }
    if (show_accuracy && ev->token_accuracy >= 0)
        printf("  tokens      %.2f%% (target tokens right under teacher forcing)\n",
               100.0 * ev->token_accuracy);
}

/* FNV-1a, 64 bits, of the file's bytes; -1 with errno set when it cannot be read */
static int hash_file(const char *path, char hex[17]) {
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    uint64_t h = 0xcbf29ce484222325ull;
    unsigned char buf[1 << 14];
    size_t got;
    while ((got = fread(buf, 1, sizeof buf, f)) > 0)
        for (size_t i = 0; i < got; i++) h = (h ^ buf[i]) * 0x100000001b3ull;
    int err = ferror(f);
    fclose(f);
    if (err) {
        errno = EIO;
        return -1;
    }
    snprintf(hex, 17, "%016llx", (unsigned long long)h);
    return 0;
}

int cli_file_hash(const char *path, char hex[17]) {
    if (hash_file(path, hex))
        return cli_fail("cannot read tokenizer \"%s\": %s", path, strerror(errno));
    return 0;
}

int cli_model_tokenizer(mn_model *m, const char *load, const char *given, const char **path) {
    const char *rec = mn_model_metadata(m, "data.tokenizer");
    const char *rec_hash = mn_model_metadata(m, "data.tokenizer_hash");
    char nb[256], rb[256], hb[64];
    *path = NULL;
    if (!rec) {
        if (given)
            return cli_fail("the model in \"%s\" was trained without a tokenizer (on bytes); "
                            "drop --tokenizer", load);
        return 0;
    }
    const char *use = given ? given : rec;
    char hex[17];
    if (hash_file(use, hex)) {
        if (given) return cli_fail("cannot read tokenizer \"%s\": %s", use, strerror(errno));
        return cli_fail("cannot read the tokenizer \"%s\" that \"%s\" was trained with: %s; "
                        "give its path with --tokenizer FILE", mn_escape(nb, sizeof nb, rec),
                        load, strerror(errno));
    }
    if (rec_hash && strcmp(rec_hash, hex))
        return cli_fail("tokenizer \"%s\" (content hash %s) is not the one \"%s\" was trained "
                        "with (\"%s\", hash %s); give that tokenizer with --tokenizer FILE",
                        mn_escape(nb, sizeof nb, use), hex, load,
                        mn_escape(rb, sizeof rb, rec), mn_escape(hb, sizeof hb, rec_hash));
    *path = use;
    return 0;
}

/* "[5, 3, 4]" */
const char *cli_shape_str(char *buf, size_t cap, const int64_t *shape, int ndim) {
    size_t n = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < ndim && n < cap; i++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (n < cap) snprintf(buf + n, cap - n, "]");
    return buf;
}

/* --lengths: int32 or int64 [B], each in [1, T], into lengths (B of them, already T).
 * 0, or 2 after printing. */
int cli_load_lengths(const char *path, int T, int B, int32_t *lengths) {
    mn_array len = {0};
    mn_status st = mn_array_load(path, &len);
    if (st) return cli_lib_fail(st, "--lengths");
    int rc = 0;
    if ((len.dtype != MN_ARRAY_I32 && len.dtype != MN_ARRAY_I64) || len.ndim != 1 ||
        len.shape[0] != B) {
        char s[200];
        rc = cli_fail("--lengths \"%s\" holds %s %s; it must be int32 or int64 [%d] (one "
                      "length per sequence of --input): save numpy.asarray(lengths)", path,
                      len.dtype == MN_ARRAY_F32 ? "float32" : len.dtype == MN_ARRAY_I32 ?
                      "int32" : "int64", cli_shape_str(s, sizeof s, len.shape, len.ndim), B);
    }
    for (int b = 0; b < B && !rc; b++) {
        int64_t v = len.dtype == MN_ARRAY_I64 ? ((const int64_t *)len.data)[b]
                                              : ((const int32_t *)len.data)[b];
        if (v < 1 || v > T)
            rc = cli_fail("--lengths: sequence %d has length %lld; each must be from 1 to the "
                          "input's %d steps", b, (long long)v, T);
        else lengths[b] = (int32_t)v;
    }
    mn_array_free(&len);
    return rc;
}
