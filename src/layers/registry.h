/* The registry of layer kinds: every kind a block may name, each described once by the
 * file that implements it. Model, checkpoint, bench, memory estimate and CLI look kinds
 * up here and never switch on one.
 *
 * Adding a kind: its file under src/layers/ defines `const mn_layer_kind mn_kind_NAME`,
 * and one KIND(NAME) line in kinds.def registers it. */
#ifndef MN_REGISTRY_H
#define MN_REGISTRY_H

#include "layer.h"

/* What a kind can do, beyond forward and backward. */
enum {
    MN_KIND_RECURRENT = 1u << 0,     /* state carried along time: reset, carry (TBPTT) */
    MN_KIND_BIDIRECTIONAL = 1u << 1, /* may run in both directions */
    MN_KIND_GATED = 1u << 2,         /* has a keep gate: chrono init applies */
    MN_KIND_WIDTH = 1u << 3,         /* reads the block's width (else the width is ignored) */
    MN_KIND_PYTORCH = 1u << 4,       /* the same layer as PyTorch's nn.RNN, nn.LSTM or nn.GRU */
    MN_KIND_ATTENTION = 1u << 5,     /* reads heads, causal and rope; non-causal reads the future */
    MN_KIND_MAX_LEN = 1u << 6,       /* reads max_len (a table of positions) */
    MN_KIND_WHOLE_SEQUENCE = 1u << 7, /* needs every step from 0 in one pass (absolute
                                         positions, attention): truncated BPTT refuses it */
    MN_KIND_FORGET_BIAS = 1u << 8,   /* its keep gate's bias is the config's forget_bias (unless
                                         chrono init draws it): LSTM's f, the gated cell's α;
                                         GRU's z keeps PyTorch's uniform bias */
    MN_KIND_CONV = 1u << 9,          /* reads kernel and dilation (causal convolutions) */
    MN_KIND_STATE = 1u << 10,        /* reads state and ssm_init (diagonal state spaces) */
    MN_KIND_SSM_GROUP = 1u << 11,    /* has parameters in the optimizer's SSM group
                                        (mn_param_spec.group = MN_GROUP_SSM): ssm_lr applies */
    MN_KIND_MEMORY = 1u << 12,       /* attends to an encoder's output, given by its layer's
                                         set_memory op (cross-attention): a decoder's block */
    MN_KIND_NO_BIAS = 1u << 13,      /* may drop its biases (nobias: PyTorch's bias=False) */
    MN_KIND_PROJECTION = 1u << 14,   /* reads proj (an LSTM's proj_size) */
    MN_KIND_WEIGHT_NORM = 1u << 15,  /* reads weight_norm (a TCN's weight normalization) */
    MN_KIND_DROPOUT = 1u << 16,      /* applies the block's dropout=P inside itself (a TCN:
                                        after each convolution's ReLU); the block wrapper
                                        then adds none at the output */
};

typedef struct mn_layer_kind {
    const char *name;          /* as --blocks and --model spell it */
    const char *summary;       /* one line for help texts */
    unsigned caps;             /* MN_KIND_* */
    int cell;                  /* recurrent kinds: their mn_cell_kind; -1 otherwise */
    const char *family;        /* recurrent kinds: see mn_cell_info */
    const char *keep_gate, *candidate;
    /* Output features of the block reading `in` features (b->width already resolved). */
    int (*out_width)(const mn_block_config *b, int in);
    /* The layer of a block; `index` numbers its parameters as PyTorch numbers layers
     * ("_l{index}"). NULL with the error set on failure. */
    mn_layer *(*create)(const mn_block_config *b, int in, int index);
    /* The layer's allocations and products for a pass over T steps of B sequences, for
     * the memory estimate; NULL for the recurrent cell kinds, whose time loop the estimate
     * replays itself. Sizes that overflow set p->overflow. */
    void (*plan)(const mn_block_config *b, int in, size_t T, size_t B, mn_memory_plan *p);
    /* Multiply-adds of one forward, per sequence row and time step (bench's FLOP count). */
    double (*macs_per_row)(const mn_block_config *b, int in);
    /* Steps before t that the output at t reads ((k−1)·d for a causal convolution). NULL:
     * none for a position-wise kind, unbounded for one with a recurrence, attention or a
     * state (MN_KIND_RECURRENT, MN_KIND_ATTENTION, MN_KIND_STATE); see mn_kind_history. */
    int64_t (*history)(const mn_block_config *b);
    /* Options the kind cannot take at this input width, refused before anything is built
     * (MN_E_ARG with the reason); NULL when the generic block checks suffice. */
    mn_status (*check)(const mn_block_config *b, int in);
    /* Attention: multiply-adds per (query, key) pair of a sequence (QKᵀ and PV: 2·d_model),
     * over T² pairs, T(T+1)/2 when causal; NULL for kinds without pairs. */
    double (*macs_per_pair)(const mn_block_config *b, int in);
    /* The memory measures of a state-space kind (mn_ssm_stats_measure; NULL: none) of
     * block `block` of m: l is its layer (maybe a block wrapper, whose parameters start with
     * the kind's, in spec order), cfg its config. Fills has_decay and the decay and
     * half-life fields of out (the caller set the rest) and, when per_channel is not NULL,
     * each channel's longest half-life. A kind whose decays depend on the input (Mamba's
     * Δ) runs the model forward on b (mn_model_forward) and reports the distribution over
     * b's real positions, with input_dependent = 1; b is NULL when the caller has no data,
     * and such a kind then returns MN_E_ARG saying it needs a batch. */
    mn_status (*ssm_stats)(mn_model *m, int block, mn_layer *l, const mn_block_config *cfg,
                           const mn_batch *b, mn_ssm_stats *out, double *per_channel);
} mn_layer_kind;

#define KIND(name) extern const mn_layer_kind mn_kind_##name;
#include "kinds.def"
#undef KIND

/* The decay and half-life fields of out (and has_decay, channels, modes) from the per-step
 * log-decays ln|z| [channels × modes] of a state space's modes; per_channel (or NULL) gets
 * each channel's slowest mode's half-life (ssm_summary.c). */
mn_status mn_ssm_summarize(const double *ln_decay, int channels, int modes, mn_ssm_stats *out,
                           double *per_channel);
/* The median of v[n], sorting v in place. */
double mn_median(double *v, size_t n);

int mn_layer_kind_count(void);
/* The steps before t that block b's output at t reads; -1 when unbounded. */
int64_t mn_kind_history(const mn_layer_kind *k, const mn_block_config *b);
const mn_layer_kind *mn_layer_kind_at(int i);
/* NULL when no kind has that name (the block checks name the choices in their error). */
const mn_layer_kind *mn_layer_kind_find(const char *name);
/* The kind of a recurrent cell. */
const mn_layer_kind *mn_layer_kind_of_cell(mn_cell_kind cell);

#endif
