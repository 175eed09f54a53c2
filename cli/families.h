/* The model families beyond the recurrent cells: `--model transformer | tcn | s4d | mamba`.
 * Each is a list of registered blocks like any other model; their options (heads, feed-
 * forward width, positions, causal attention, activation; convolution kernel; state size)
 * only write its spec. Shared by train, diagnose, memory, bench and predict. */
#ifndef MNEMO_CLI_FAMILIES_H
#define MNEMO_CLI_FAMILIES_H

#include "common.h"

typedef enum { FAMILY_NONE, FAMILY_TRANSFORMER, FAMILY_TCN, FAMILY_S4D, FAMILY_MAMBA } cli_family_kind;

typedef struct {
    cli_family_kind kind;             /* from --model, after the check */
    int heads, ff, causal;            /* transformer */
    const char *positions_name, *activation_name;
    int positions;                    /* index into the positions' names, after the check */
    int gelu;
    int kernel, weight_norm;          /* tcn */
    int state;                        /* s4d, mamba: state size N */
} cli_family;

#define FAMILY_OPTS 8
/* FAMILY_OPTS empty rows, for the end of an option array that family_opts_table fills
 * (families.c checks the count against FAMILY_OPTS at compile time) */
#define FAMILY_OPT_SLOTS {0}, {0}, {0}, {0}, {0}, {0}, {0}, {0}
void family_opts_init(cli_family *f);
/* Writes the options into opts[0..FAMILY_OPTS) and returns FAMILY_OPTS. */
int family_opts_table(cli_family *f, cli_opt *opts);
/* The family --model names (FAMILY_NONE for a recurrent cell), each option valid and given
 * only to the family that reads it (another would ignore it). 0, or 2 after printing. */
int family_opts_check(cli_family *f, const cli_opt *opts, int nopts, const char *model_name);
/* Whether a family reads a family option: 1 or 0; -1 when opt_name is no family option
 * (mnemo sweep gives each model only the family options it reads). */
int family_option_read(const char *opt_name, cli_family_kind kind);
/* "transformer, tcn, s4d, mamba" */
const char *family_names(void);
cli_family_kind family_of(const char *model_name);
/* A recurrent cell's name, or 2 after printing that the model is unknown, naming the
 * cells and the families. */
int family_parse_cell(const char *model_name, mn_cell_kind *cell);
/* "rnn, ..., gated, transformer, tcn, s4d, mamba", for help texts */
const char *family_model_list(void);
/* The block kinds and their options, for help texts. */
void family_blocks_help(FILE *f);

/* The blocks of a model of `layers` layers at width `width` (a transformer's d_model, a
 * TCN's channels, an S4D's or Mamba's model width):
 *   [linear:W]  when the input is input_size dense features (0 with tokens, or when the
 *               caller feeds W features itself); not for TCN, whose first block maps its
 *               input with a 1x1 convolution
 *   transformer: [sin-|learned-positions] (unless rope or none), then per layer
 *                attention:heads=H[:causal][:rope]:residual:NORM, ff[-gelu]:F:residual:NORM
 *   tcn:         tcn:W:kernel=K:dilation=2^l[:weight-norm] per layer (receptive field
 *                1+2(K-1)(2^L-1))
 *   s4d, mamba:  s4d:state=N:residual:NORM or mamba:state=N:residual:NORM per layer
 *   [layernorm]  with final_norm: a norm after the layers, as GPT-2 and ViT put after
 *                pre-norm layers (the un-normalized residual stream would reach the head
 *                otherwise)
 * NORM the norm place and kind. max_len sizes learned positions. 0, or 2 after printing. */
/* The most TCN layers: the last one's dilation 2^(L−1) is at most 2^24, the block limit. */
#define FAMILY_TCN_MAX_LAYERS 25

/* A TCN's layers when --layers is not given: the fewest (up to FAMILY_TCN_MAX_LAYERS)
 * whose receptive field 1 + 2(k−1)(2^L − 1) covers T steps. */
int family_tcn_layers(int kernel, int64_t T);

int family_spec(const cli_family *f, int layers, int width, int input_size, mn_norm_place norm,
                mn_norm_kind norm_kind, int max_len, int final_norm, char *spec, size_t cap);
/* An encoder-decoder for a sequence-to-sequence task (transformer only): the encoder as
 * family_spec writes it for token input (with its final norm), then the decoder: the same
 * positions, per layer attention:causal:residual:NORM, cross-attention:residual:NORM,
 * ff:residual:NORM (torch.nn.TransformerDecoderLayer), and the final norm. *encoder_blocks
 * gets the encoder's block count. 0, or 2 after printing (another family, --causal). */
int family_seq2seq_spec(const cli_family *f, int layers, int width, mn_norm_place norm,
                        mn_norm_kind norm_kind, int max_len, int final_norm, char *spec,
                        size_t cap, int *encoder_blocks);

#endif
