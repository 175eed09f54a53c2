/* libFuzzer harness: the safetensors reader on arbitrary bytes (mn_st_parse), a walk over
 * every tensor and metadata entry it hands out, and the checkpoint loader's validation
 * (mn_model_read_params) for files that call themselves mnemo checkpoints. The checks are
 * in fuzz_checks.h, shared with tests/test_fuzz_regressions.c. Built by `make fuzz`. */
#include "fuzz_checks.h"

#include <stdio.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    mn_status s;
    const char *why = fuzz_check_safetensors(data, size, &s);
    if (why) {
        fprintf(stderr, "fuzz_safetensors: %s (status %d: %s)\n", why, (int)s,
                mn_last_error());
        abort();
    }
    mn_clear_error();   /* leave the thread's error state as it was found */
    return 0;
}
