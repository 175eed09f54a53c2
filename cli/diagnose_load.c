/* mnemo diagnose --load (see diagnose_load.h). */
#include "diagnose_load.h"
#include "common.h"

#include <stdio.h>
#include <string.h>

/* With --load the file defines the model and nothing is trained: every option of the
 * model or of training would change nothing. What a loaded model's diagnosis reads: */
int diagnose_load_conflicts(cli_opt *opts, int n) {
    static const char *const reads[] = {"--task", "--length", "--seed", "--batch", "--threads",
                                        "--data", "--valid-data", "--valid-fraction", "--tokenizer",
                                        "--load", "--plot", "--threshold", "--sequences",
                                        "--batches", "--json", NULL};
    for (int i = 0; i < n; i++) {
        if (!opts[i].given) continue;
        int read = 0;
        for (int k = 0; reads[k] && !read; k++) read = !strcmp(opts[i].name, reads[k]);
        if (!read)
            return cli_fail("%s does not apply with --load: the file defines the model and "
                            "diagnose does not train it; drop %s", opts[i].name, opts[i].name);
    }
    return 0;
}

/* With --load and neither --task nor --data: the task and (unless given) the length the
 * file records, as eval takes them. 0, or 2 after printing the error. */
int diagnose_task_from_file(const char *path, train_opts *o, int length_given, char *task,
                            size_t cap) {
    mn_model *m = NULL;
    mn_status st = mn_model_load(path, &m);
    if (st) return cli_lib_fail(st, NULL);
    const char *t = mn_model_metadata(m, "task"), *data = mn_model_metadata(m, "data");
    long long L = cli_meta_number(mn_model_metadata(m, "length"), CLI_MAX_LENGTH);
    int rc = 0;
    if (!t)
        rc = cli_fail("\"%s\" records no task%s; pass --task T --length N or --data KIND:PATH",
                      path, data ? " (it was trained on --data)" : "");
    else if (!length_given && L < 1)
        rc = cli_fail("\"%s\" records task %s but no valid sequence length; pass --length N",
                      path, t);
    else {
        snprintf(task, cap, "%s", t);
        o->task_name = task;
        if (!length_given) o->length = (int)L;
    }
    mn_model_free(m);
    return rc;
}
