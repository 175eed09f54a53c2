/* libFuzzer harness: the .npy reader on arbitrary bytes (mn_array_parse), touching every
 * element of what it returns. The checks are in fuzz_checks.h, shared with
 * tests/test_fuzz_regressions.c. Built by `make fuzz`. */
#include "fuzz_checks.h"

#include <stdio.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    mn_status s;
    const char *why = fuzz_check_npy(data, size, &s);
    if (why) {
        fprintf(stderr, "fuzz_npy: %s (status %d: %s)\n", why, (int)s, mn_last_error());
        abort();
    }
    mn_clear_error();   /* leave the thread's error state as it was found */
    return 0;
}
