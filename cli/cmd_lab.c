/* mnemo lab: placeholder until its implementation lands. */
#include "common.h"

int cmd_lab(int argc, char **argv) {
    (void)argc;
    (void)argv;
    return cli_fail("'lab' is not available in mnemo %s yet; run 'mnemo --help'", mn_version());
}
