/* libFuzzer harness: the idx reader (mn_task_from_data "idx:...") on arbitrary bytes,
 * written to scratch files first (the reader takes paths). The checks, and how the first
 * byte chooses the options, are in fuzz_checks.h (fuzz_check_idx), shared with
 * tests/test_fuzz_regressions.c. Built by `make fuzz` (FUZZ_TARGETS=idx). */
#include "fuzz_checks.h"

#include <stdio.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    mn_status s;
    const char *why = fuzz_check_idx(data, size, &s);
    if (why) {
        fprintf(stderr, "fuzz_idx: %s (status %d: %s)\n", why, (int)s, mn_last_error());
        abort();
    }
    mn_clear_error();
    return 0;
}
