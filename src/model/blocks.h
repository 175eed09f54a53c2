/* A model's blocks (see mn_block_config in mnemo.h). */
#ifndef MN_BLOCKS_H
#define MN_BLOCKS_H

#include "core.h"

/* The blocks a config builds, widths resolved (0 → hidden_size); num_blocks = 0 gives
 * num_layers blocks of `cell`. Returns how many (<= MN_MAX_BLOCKS). */
int mn_model_blocks(const mn_model_config *c, mn_block_config *out);
/* Whether the blocks can be built on `in` input features (MN_E_ARG naming the block). */
mn_status mn_model_blocks_check(const mn_model_config *c, int in);

#endif
