/* The model's internals, shared by the trainer, checkpoints, bench and diagnostics. */
#ifndef MN_MODEL_H
#define MN_MODEL_H

#include "block.h"
#include "layer.h"

#define MN_MAX_LAYERS 64
#define MN_MAX_TENSORS (MN_MAX_LAYERS * 24 + 8)   /* a bidirectional ln-lstm block with its norm has 20 */

typedef struct {
    char name[MN_NAME_MAX + 32];
    int ndim;
    int shape[MN_MAX_DIMS];
    size_t offset, size;      /* in floats, in the flat buffers */
    int group;                /* the optimizer's group (mn_param_spec.group) */
} mn_tensor_view;

struct mn_model {
    mn_model_config cfg;
    mn_layer *embed;                     /* token input stage, or NULL for dense input */
    mn_layer *layers[MN_MAX_LAYERS];     /* one per block */
    int L;
    mn_block_config blocks[MN_MAX_BLOCKS]; /* as built: widths resolved */
    int summary_split;                   /* > 0: the head reads [0, split) of the top output
                                            at the last real step and the rest at step 0
                                            (a bidirectional last block) */
    uint64_t seed;                       /* of the initialization; noise seeds derive from it */
    int training;                        /* dropout on (mn_model_set_training) */
    uint64_t noise_seed;
    uint64_t passes;                     /* passes over the layers so far: a stream (stream.c)
                                            knows whether another pass replaced its state */
    mn_layer *head;
    size_t nparams;
    float *params, *grads;
    int ntensors;
    mn_tensor_view tensors[MN_MAX_TENSORS];

    /* activations, sized for cap_rows = T·B rows and cap_B sequences */
    size_t cap_rows, cap_B;
    void *ws;
    size_t ws_bytes;
    void *gws;          /* the gradients of ws's buffers, only once a backward has run */
    size_t gws_bytes;
    float *acts[MN_MAX_LAYERS + 1];      /* acts[k]: input of layer k; acts[L]: top output */
    float *dacts[MN_MAX_LAYERS + 1];
    float *head_in, *dhead_in;           /* [B,D] last-step rows (output-last models) */
    float *head_out, *dhead_out;
    uint8_t *mask;
    int32_t *labels, *lengths;           /* this chunk's labels (-1 = not counted), lengths */
    int last_rows;                       /* head rows of the last run */

    struct mn_grad_recorder *recorder;   /* per-step gradient norms (diagnostics), or NULL */

    /* An encoder–decoder (cfg.encoder_blocks = E > 0): layers [0, E) run on the source,
     * [E, L) on the decoder's tokens; acts[E] holds the embedded tokens and acts[0..E) are
     * unused. The encoder's buffers, sized for scap_rows = S·B rows: src[k] the input of
     * encoder layer k (src[0] the embedded source), src[E] its top output, the memory that
     * the decoder's cross-attention reads; dsrc their gradients (once a backward has run). */
    int E;
    void *sws, *sgws;
    size_t sws_bytes, sgws_bytes, scap_rows;
    float *src[MN_MAX_LAYERS + 1], *dsrc[MN_MAX_LAYERS + 1];
    int S;                               /* source steps of the last encoder pass */
    const int32_t *src_lengths;          /* of the last encoder pass (the caller's batch) */

    /* metadata of the file a model was loaded from: "k", "v", ..., NULL */
    char **meta;
    int nmeta;
};

/* The layer of one block reading `in` features: the kind's layer, wrapped when the block
 * adds a residual path, a normalization or dropout at its output (mn_block_wrap_of says
 * which, and returns 0 when none; a kind that drops inside itself, MN_KIND_DROPOUT, gets
 * no dropout there). NULL with the error set on failure. */
mn_layer *mn_model_block_layer(const mn_block_config *b, int in, int index);
int mn_block_wrap_of(const mn_block_config *b, mn_block_wrap *w);

/* Runs steps [t0, t0+k) of a batch. carry: start from the state the previous call ended
 * in (truncated BPTT) instead of zero. With backward, parameter gradients of
 * (loss sum · inv_norm) are accumulated into m->grads. *loss_sum gets the chunk's
 * un-normalized loss sum. */
mn_status mn_model_run(mn_model *m, const mn_batch *b, int t0, int k, int carry,
                       int backward, double inv_norm, double *loss_sum);
/* Layers [l0, l1) forward over k steps of B sequences: layer l0 reads x, layer l writes
 * acts[l + 1] and later layers read it; each gets its mode and noise seed (from t0), is
 * reset or carries its state, and a decoder's cross-attention gets the encoder's memory
 * (with its gradient buffer when backward follows). */
mn_status mn_model_forward_layers(mn_model *m, int l0, int l1, const float *x, float **acts,
                                  int k, int B, const int32_t *lengths, int t0, int carry,
                                  int backward);
/* The model's own buffers sized for T steps of B sequences (they only grow). */
mn_status mn_model_reserve(mn_model *m, int T, int B);
/* A seq2seq model's decoder, forward only, over b's first k steps, on the memory of the
 * last mn_model_encode: acts[L] holds its top output. */
mn_status mn_model_decode(mn_model *m, const mn_batch *b, int k);
/* The encoder over b's source (seq2seq models), leaving the memory in m->src[m->E]; with
 * grads, also the buffers of its gradients. */
mn_status mn_model_encode(mn_model *m, const mn_batch *b, int grads);
/* The encoder's backward from ∂L/∂memory (m->dsrc[m->E]) down to the source embedding. */
mn_status mn_model_encode_backward(mn_model *m, const mn_batch *b);
/* The seq2seq checks of a batch: its source is there and fits the model. */
mn_status mn_model_check_source(const mn_model *m, const mn_batch *b);
/* Items the loss averages over (for inv_norm), after checking the batch fits the model. */
mn_status mn_model_loss_items(const mn_model *m, const mn_batch *b, double *items);

/* Whether mn_model_create would accept the configuration (MN_E_ARG with the reason). */
mn_status mn_model_config_check(const mn_model_config *c);
/* The first block whose kind needs whole sequences in one pass (MN_KIND_WHOLE_SEQUENCE:
 * positions, attention), which chunked passes (truncated BPTT) would cut; NULL if none. */
const char *mn_model_whole_sequence_kind(const mn_model *m);
/* Point the recurrent layers' gradient probes at the recorder's rows for steps
 * [t0, t0+k) of the current backward, and detach them afterwards (grad_recorder.c). */
void mn_grad_recorder_bind(mn_model *m, int t0, int k);
void mn_grad_recorder_unbind(mn_model *m);
/* The encoder's backward over a seq2seq model's S source steps, recorded at its blocks'
 * inputs like a chunk from step 0 (not another pass). */
void mn_grad_recorder_bind_source(mn_model *m, int S);
/* Adds the batch-mean ‖∂L/∂x_t‖ of dx[k,B,D], the gradient at block l's input (l = L: the
 * top output), to the recorder's rows for the bound chunk. */
void mn_grad_recorder_block_input(mn_model *m, int l, const float *dx, int B, int D);
/* A zeroed scratch of `floats` for the dense input's gradient, held by the recorder. */
mn_status mn_grad_recorder_dense_input(mn_model *m, size_t floats, float **dx);
/* A model freed before its recorder leaves the recorder detached, not dangling. */
void mn_grad_recorder_model_freed(mn_model *m);
/* Forward pass over b, then the view of recurrent layer `layer` (gate_stats.c). */
mn_status mn_diag_forward_view(mn_model *m, const mn_batch *b, int layer, mn_recurrent_view *v);
/* Training mode (dropout on) for the passes that follow, with their noise seed; the
 * trainer sets it around each step with a seed derived from the step, so a resumed run
 * draws the same masks. */
void mn_model_set_training(mn_model *m, int training, uint64_t noise_seed);
/* Bytes of stored activations at the current capacity (all layers and the model's own). */
size_t mn_model_activation_bytes(const mn_model *m);

#endif
