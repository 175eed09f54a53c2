/* libFuzzer harness: byte-level BPE on arbitrary bytes, as text (pre-tokenizer, training,
 * encode/decode round trip, the written tokenizer.json read back) or as a tokenizer.json
 * (mn_bpe_read_json). The checks are in fuzz_checks.h, shared with
 * tests/test_fuzz_regressions.c. Built by `make fuzz`. */
#include "fuzz_checks.h"

#include <stdio.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    mn_status s;
    const char *why = fuzz_check_bpe(data, size, &s);
    if (why) {
        fprintf(stderr, "fuzz_bpe: %s (status %d: %s)\n", why, (int)s, mn_last_error());
        abort();
    }
    mn_clear_error();   /* leave the thread's error state as it was found */
    return 0;
}
