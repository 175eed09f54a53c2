/* mnemo diagnose: placeholder until its implementation lands. */
#include "common.h"

int cmd_diagnose(int argc, char **argv) {
    (void)argc;
    (void)argv;
    return cli_fail("'diagnose' is not available in mnemo %s yet; run 'mnemo --help'", mn_version());
}
