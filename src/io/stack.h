/* The bare recurrent stack's internals shared with the memory estimate. */
#ifndef MN_STACK_H
#define MN_STACK_H

#include "core.h"

/* Whether mn_stack_load_torch would accept cfg (MN_E_ARG with the reason). */
mn_status mn_stack_config_check(const mn_stack_config *c);

#endif
