/* Shared checks for the mnemo commands: see common.h. */
#include "common.h"
#include "progress.h"

#include <errno.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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
    return cli_fail("unknown task \"%s\"; choose one of %s", name, list);
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

/* The formula the library estimate replaced, kept for shapes too large for it to describe
 * (T·B beyond what one pass indexes): doubles cannot overflow, and such runs are refused. */
static double rough_bytes(double gates, double T, double B, double I, double H, double L,
                          double dirs, double O, int every_step, int train) {
    double params = dirs * gates * H * (I + H + 2) +
                    (L - 1) * dirs * gates * H * (dirs * H + H + 2) + O * (dirs * H + 1);
    double per_row = L * dirs * (2 * gates * H + H) + 2 * (I + L * dirs * H) +
                     (every_step ? 2 * O : 0);
    return 4.0 * params * (train ? 4 : 1) + 4.0 * T * B * per_row;
}

static int fits_int(double x) { return x >= 1 && x <= 2147483647.0; }

double cli_estimate_bytes(mn_cell_kind cell, double T, double B, double I, double H,
                          double L, int bidirectional, double O, int every_step, int train) {
    mn_model_config c;
    mn_model_config_init(&c);
    c.cell = cell;
    c.input_size = (int)I;
    c.hidden_size = (int)H;
    c.num_layers = (int)L;
    c.bidirectional = bidirectional != 0;
    c.output_size = O >= 1 ? (int)O : 1;
    c.output = every_step ? MN_OUTPUT_EVERY : MN_OUTPUT_LAST;
    mn_memory_estimate e;
    if (fits_int(T) && fits_int(B) && fits_int(I) && fits_int(H) && fits_int(L) &&
        fits_int(c.output_size) &&
        mn_memory_estimate_run(&c, (int)T, (int)B, train, &e) == MN_OK)
        /* The batch is left out: for token models callers pass the embedding width as I,
         * while their batch holds one token per step, so the figure stays a lower bound. */
        return (double)(e.total - e.data);
    double gates = cell == MN_LSTM ? 4 : cell == MN_GRU ? 3 : 1;
    return rough_bytes(gates, T, B, I, H, L, bidirectional ? 2 : 1, O, every_step, train);
}

int cli_check_memory(const char *what, double bytes, const char *advice) {
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    if (pages <= 0 || page <= 0) return 0;   /* unknown: let the library try */
    double have = (double)pages * (double)page;
    if (bytes <= have) return 0;
    char need_s[32], have_s[32];
    return cli_fail("%s needs at least %s of memory, more than the %s this machine has; %s",
                    what, fmt_bytes(need_s, sizeof need_s, bytes),
                    fmt_bytes(have_s, sizeof have_s, have), advice);
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

void cli_set_threads(int threads) { mn_set_threads(threads > 0 ? threads : 0); }

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
}
