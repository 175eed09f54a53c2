/* Shared checks for the mnemo commands: see common.h. */
#include "common.h"
#include "progress.h"

#include <errno.h>
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
        const mn_cell_kind kinds[] = {MN_RNN_TANH, MN_RNN_RELU, MN_LSTM, MN_GRU};
        size_t used = 0;
        for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
            const char *s = mn_cell_name(kinds[i]);
            int w = snprintf(buf + used, sizeof buf - used, "%s%s", i ? ", " : "",
                             s ? s : "?");
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

double cli_estimate_bytes(mn_cell_kind cell, double T, double B, double I, double H,
                          double L, int bidirectional, double O, int every_step, int train) {
    double gates = cell == MN_LSTM ? 4 : cell == MN_GRU ? 3 : 1;
    double dirs = bidirectional ? 2 : 1;
    /* Parameters, and for training their gradients and two optimizer moments. */
    double params = dirs * gates * H * (I + H + 2) +
                    (L - 1) * dirs * gates * H * (dirs * H + H + 2) + O * (dirs * H + 1);
    double bytes = 4.0 * params * (train ? 4 : 1);
    /* Sequence-level layers keep, for every step of every sequence, the gate
     * pre-activations and states their backward needs and the gradients of both, and the
     * model keeps each layer's input and output with their gradients (the library reserves
     * this workspace for evaluation as well). A lower bound: */
    double per_row = L * dirs * (2 * gates * H + H) + 2 * (I + L * dirs * H) +
                     (every_step ? 2 * O : 0);
    bytes += 4.0 * T * B * per_row;
    return bytes;
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
