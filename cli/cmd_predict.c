/* mnemo predict: placeholder until its implementation lands. */
#include "common.h"

int cmd_predict(int argc, char **argv) {
    (void)argc;
    (void)argv;
    return cli_fail("'predict' is not available in mnemo %s yet; run 'mnemo --help'", mn_version());
}
