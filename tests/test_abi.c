/* mn_sizeof: the sizes bindings check their struct mirrors against (python/mnemo). */
#include "test.h"

#include <stdlib.h>
#include <string.h>

TEST(sizeof_reports_the_public_types_and_nothing_else) {
    CHECK(mn_sizeof("mn_model_config") == sizeof(mn_model_config), "mn_model_config");
    CHECK(mn_sizeof("mn_block_config") == sizeof(mn_block_config), "mn_block_config");
    CHECK(mn_sizeof("mn_batch") == sizeof(mn_batch), "mn_batch");
    CHECK(mn_sizeof("mn_arrays") == sizeof(mn_arrays), "mn_arrays");
    CHECK(mn_sizeof("mn_train_config") == sizeof(mn_train_config), "mn_train_config");
    CHECK(mn_sizeof("mn_verdict") == sizeof(mn_verdict), "mn_verdict");
    CHECK(mn_sizeof("mn_status") == sizeof(mn_status), "mn_status");
    CHECK(mn_sizeof("mn_model") == 0, "an opaque handle has no size to mirror");
    CHECK(mn_sizeof("mn_batc") == 0 && mn_sizeof("") == 0 && mn_sizeof(NULL) == 0,
          "unknown names give 0");
}

/* A type added to mnemo.h without its line in src/core/abi.c would leave a binding unable
 * to check its mirror: every "} mn_NAME;" that closes a typedef must be known. */
TEST(sizeof_knows_every_typedef_of_the_header) {
    char path[512];
    snprintf(path, sizeof path, "%s/../../include/mnemo.h", mn_test_fixture_dir());
    static char text[1 << 17];
    long n = mn_test_read_file(path, text, sizeof text - 1);
    REQUIRE(n > 0, "cannot read %s", path);
    text[n] = 0;
    int found = 0;
    for (char *p = text; (p = strstr(p, "} mn_")); p++) {
        char name[64];
        size_t k = 0;
        for (const char *q = p + 2; k + 1 < sizeof name && (*q == '_' || (*q >= 'a' && *q <= 'z')
                                                            || (*q >= '0' && *q <= '9'));
             q++)
            name[k++] = *q;
        name[k] = 0;
        if (p[2 + k] != ';') continue;
        found++;
        CHECK(mn_sizeof(name) > 0, "mn_sizeof(\"%s\") is 0: add it to src/core/abi.c", name);
    }
    CHECK(found >= 30, "only %d typedefs found in %s", found, path);
}
