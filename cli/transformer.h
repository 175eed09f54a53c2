/* `--model transformer`: the options that shape a Transformer (heads, feed-forward width,
 * positions, causal attention, activation) and the block list they spell, shared by
 * train, diagnose, memory and bench. A Transformer is a list of registered blocks like any
 * other model; these options only write its spec. */
#ifndef MNEMO_CLI_TRANSFORMER_H
#define MNEMO_CLI_TRANSFORMER_H

#include "common.h"

typedef struct {
    int heads, ff, causal;
    const char *positions_name, *activation_name;
    int positions;   /* index into the positions' names, after the check */
    int gelu;
} cli_transformer;

#define TRANSFORMER_OPTS 5
void transformer_opts_init(cli_transformer *t);
/* Writes the options into opts[0..TRANSFORMER_OPTS) and returns TRANSFORMER_OPTS. */
int transformer_opts_table(cli_transformer *t, cli_opt *opts);
/* Names and values valid, and no Transformer option given to another model (it would be
 * ignored). 0, or 2 after printing the error. */
int transformer_opts_check(cli_transformer *t, const cli_opt *opts, int nopts, int transformer);
/* 1 when --model names a Transformer. */
int is_transformer(const char *model_name);

/* The blocks of a Transformer of `layers` layers at width d_model:
 *   [linear:D]               when the input is input_size dense features (0 with tokens)
 *   [sin-|learned-positions] absolute positions (max-len = max_len), unless rope or none
 *   (attention:heads=H[:causal][:rope]:residual:NORM, ff[-gelu]:F:residual:NORM) × layers
 *   [layernorm]              with final_norm: a norm after the layers, as GPT-2 and ViT put
 *                            after pre-norm layers (the un-normalized residual stream would
 *                            reach the head otherwise)
 * NORM the norm place and kind (pre, post, or none). Returns 0, or 2 after printing. */
int transformer_spec(const cli_transformer *t, int layers, int d_model, int input_size,
                     mn_norm_place norm, mn_norm_kind norm_kind, int max_len, int final_norm,
                     char *spec, size_t cap);

#endif
