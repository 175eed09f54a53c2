/* A checkpoint's metadata is untrusted: a tiny file that claims a huge model must be refused
 * before the model is built (found by fuzzing: 295 bytes made the loader take 6 GB). */
#include "test.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

TEST(checkpoint_refuses_a_size_claim_the_file_cannot_back) {
    const char *hdr = "{\"__metadata__\":{\"format\":\"mnemo\",\"model.cell\":\"lstm\","
                      "\"model.input_size\":\"1\",\"model.vocab_size\":\"0\","
                      "\"model.embed_size\":\"0\",\"model.hidden_size\":\"8192\","
                      "\"model.num_layers\":\"2\",\"model.bidirectional\":\"0\","
                      "\"model.output_size\":\"1\",\"model.output\":\"last\","
                      "\"model.loss\":\"mse\"}}";
    char path[] = "/tmp/mnemo-claim-XXXXXX";
    int fd = mkstemp(path);
    REQUIRE(fd >= 0, "temporary file");
    uint64_t n = strlen(hdr);
    unsigned char len[8];
    for (int i = 0; i < 8; i++) len[i] = (unsigned char)(n >> (8 * i));
    int ok = write(fd, len, 8) == 8 && write(fd, hdr, n) == (ssize_t)n;
    close(fd);
    REQUIRE(ok, "writing the file");
    mn_memory_reset_peak();
    size_t before = mn_memory_in_use();
    mn_model *m = NULL;
    mn_status st = mn_model_load(path, &m);
    unlink(path);
    CHECK(st == MN_E_INPUT && !m, "status %d: %s", (int)st, mn_last_error());
    CHECK(strstr(mn_last_error(), "holds only") != NULL, "the reason: %s", mn_last_error());
    CHECK(mn_memory_peak() - before < (1u << 20), "refused before allocating: peak %zu bytes",
          mn_memory_peak() - before);
    mn_model_free(m);
}
