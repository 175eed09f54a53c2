/* mnemo memory: placeholder until its implementation lands. */
#include "common.h"

int cmd_memory(int argc, char **argv) {
    (void)argc;
    (void)argv;
    return cli_fail("'memory' is not available in mnemo %s yet; run 'mnemo --help'", mn_version());
}
