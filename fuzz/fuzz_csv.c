/* libFuzzer harness: the csv reader (mn_task_from_data "csv:FILE") on arbitrary bytes. The
 * reader takes a path, so each input is written to one scratch file first. The first byte
 * chooses the window (1..4) and horizon (1..2); the rest is the file. Checks: a refusal is
 * MN_E_INPUT or MN_E_ARG with a message naming the file, a success draws a training and an
 * evaluation batch of finite numbers, and every byte allocated is released. Built by
 * `make fuzz` (FUZZ_TARGETS=csv). */
#include "mnemo.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char path[64];

static void fail(const char *why, mn_status s) {
    fprintf(stderr, "fuzz_csv: %s (status %d: %s)\n", why, (int)s, mn_last_error());
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!path[0]) {
        snprintf(path, sizeof path, "/tmp/mnemo-fuzz-csv-XXXXXX");
        int fd = mkstemp(path);
        if (fd < 0) abort();
        close(fd);
    }
    if (size < 1) return 0;
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data + 1, 1, size - 1, f) != size - 1 || fclose(f)) abort();
    size_t mem0 = mn_memory_in_use();
    char spec[80];
    snprintf(spec, sizeof spec, "csv:%s", path);
    mn_data_options o;
    mn_data_options_init(&o);
    o.length = 1 + (data[0] & 3);
    o.horizon = 1 + ((data[0] >> 2) & 1);
    o.valid_fraction = (data[0] >> 3) & 1 ? 0.5 : 0.1;
    mn_task *t = NULL;
    mn_status s = mn_task_from_data(spec, &o, 1, &t);
    if (s) {
        if (t) fail("a refusal left a task", s);
        if (s != MN_E_INPUT && s != MN_E_ARG && s != MN_E_NOMEM) fail("unexpected status", s);
        if (s != MN_E_NOMEM && !strstr(mn_last_error(), "mnemo-fuzz-csv"))
            fail("the message does not name the file", s);
    } else {
        const mn_task_info *in = mn_task_get_info(t);
        const mn_batch *b;
        for (int pass = 0; pass < 2; pass++) {
            if (pass) mn_task_use_heldout(t);
            if ((s = mn_task_next(t, 3, &b))) fail("drawing a batch failed", s);
            size_t nx = (size_t)b->T * 3 * in->input_size;
            for (size_t i = 0; i < nx; i++)
                if (!isfinite(b->x[i])) fail("a non-finite input", s);
            for (int i = 0; i < 3 * in->output_size; i++)
                if (!isfinite(b->target[i])) fail("a non-finite target", s);
        }
        if (!(in->baseline_mse >= 0)) fail("a negative or NaN baseline", s);
        mn_task_free(t);
    }
    if (mn_memory_in_use() != mem0) fail("memory was not released", s);
    return 0;
}
