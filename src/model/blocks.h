/* A model's blocks (see mn_block_config in mnemo.h). */
#ifndef MN_BLOCKS_H
#define MN_BLOCKS_H

#include "core.h"

/* The blocks a config builds, widths resolved (0 → hidden_size); num_blocks = 0 gives
 * num_layers blocks of `cell`. Returns how many (<= MN_MAX_BLOCKS). */
int mn_model_blocks(const mn_model_config *c, mn_block_config *out);
/* The token embedding's width: embed_size, or else the first block's width when it has
 * one (a spec's width is what its author meant), or else hidden_size. */
int mn_model_embed_width(const mn_model_config *c);
/* Whether the blocks can be built on `in` input features (MN_E_ARG naming the block). */
mn_status mn_model_blocks_check(const mn_model_config *c, int in);

#endif
