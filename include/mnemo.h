/* mnemo — learning long-range dependencies in sequences.
 *
 * This header is the whole public API. Handles are opaque; every function that can fail
 * returns an mn_status, and mn_last_error() says what went wrong in words a person can act
 * on. The library never exits and never prints; the CLI decides what to show.
 *
 * Data layout: sequences are time-major [T, B, D] float32, contiguous. A batch may carry
 * lengths[B]; positions at or past a sequence's length are padding. Tokens are int32 [T, B].
 *
 * Threads: each call uses mn_set_threads() OpenMP threads internally. Calls into the
 * library must not overlap: the GEMM keeps process-wide packing scratch, so call from one
 * thread at a time (a lock around calls is enough). While it computes, mnemo flushes
 * denormal floats to zero; the caller's floating-point mode is restored on return.
 */
#ifndef MNEMO_H
#define MNEMO_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Everything declared here is the library's interface; the build hides every other symbol
 * of libmnemo.so (-fvisibility=hidden). */
#if defined(__GNUC__)
#pragma GCC visibility push(default)
#endif

#define MNEMO_VERSION "0.1.0"

typedef enum {
    MN_OK = 0,
    MN_E_ARG,      /* an impossible option or argument (caller's mistake) */
    MN_E_INPUT,    /* malformed or unreadable input file or data */
    MN_E_IO,       /* a write or system call failed */
    MN_E_NOMEM,    /* out of memory */
    MN_E_NUMERIC,  /* NaN or Inf appeared in training */
    MN_E_STATE,    /* a call made in the wrong order */
    MN_E_STOPPED   /* the caller's stop flag was set (mn_trainer_set_stop): not a failure */
} mn_status;

/* The message for the last failure on this thread ("" when none). Text it quotes from a
 * file (a tensor name, metadata, a header) is escaped as mn_escape does. */
const char *mn_last_error(void);
/* s made safe to print in a message: printable ASCII and well-formed UTF-8 stay as they
 * are; control bytes, broken UTF-8, C1 controls and bidi overrides become \xNN per byte, a
 * backslash \\; the result fits in cap bytes (a cut ends in "..."). Returns buf. For a
 * program that echoes text read from files or a command line into its own messages. */
char *mn_escape(char *buf, size_t cap, const char *s);
const char *mn_version(void);

/* Threads used by the library's parallel loops (default: all cores). */
void mn_set_threads(int n);
int mn_get_threads(void);

/* The size in bytes of the public type named type_name ("mn_model_config", "mn_batch",
 * "mn_status", ...: every struct and enum typedef of this header) as this build lays it
 * out; 0 for a name it does not know (or NULL). For bindings that mirror the structs
 * without a compiler (Python's ctypes): a mirror of another size was written for another
 * version of this header, and reading or writing through it would corrupt memory. */
size_t mn_sizeof(const char *type_name);

/* Bytes the library currently holds and the most it has held since the last reset. */
size_t mn_memory_in_use(void);
size_t mn_memory_peak(void);
void mn_memory_reset_peak(void);

/* ---------------------------------------------------------------- models */

/* MN_GATED_RESIDUAL: h = α⊙h_prev + (1−α)⊙f, α = σ(W_iα·x + b_iα + W_hα·h_prev + b_hα),
 * f = tanh(W_if·x + b_if + W_hf·h_prev + b_hf); gate blocks [α, f] as PyTorch stacks them. */
typedef enum { MN_RNN_TANH, MN_RNN_RELU, MN_LSTM, MN_GRU, MN_GATED_RESIDUAL } mn_cell_kind;
typedef enum { MN_INIT_UNIFORM, MN_INIT_ORTHOGONAL, MN_INIT_IDENTITY } mn_recurrent_init;
typedef enum { MN_OUTPUT_LAST, MN_OUTPUT_EVERY } mn_output_mode;
typedef enum { MN_LOSS_MSE, MN_LOSS_CE } mn_loss_kind;

/* ------------------------------------------------------------------ blocks
 * A model is: input stage (dense features, or a token embedding) → blocks → linear head
 * → loss. A block is one registered layer kind f with its width, optionally wrapped as
 *   residual:   y = x + f(x)                      (an identity path through depth)
 *   pre-norm:   y = [x +] f(N(x))                 (N: LayerNorm or RMSNorm)
 *   post-norm:  y = N([x +] f(x))                 (the original Transformer's order)
 * and dropout on f's output while training (Srivastava et al. 2014, inverted scaling);
 * a tcn block drops inside instead, after each convolution's ReLU (Bai et al.'s
 * TemporalBlock), and not at its output. */
typedef enum { MN_NORM_NONE, MN_NORM_PRE, MN_NORM_POST } mn_norm_place;
/* Initializations of a diagonal state space's A (Gu, Gupta, Goel & Ré 2022), mode n < N/2:
 * S4D-Lin A_n = −1/2 + iπn, S4D-Inv A_n = −1/2 + i(N/π)(N/(2n+1) − 1), S4D-Real A_n = −(n+1) */
typedef enum { MN_SSM_INIT_DEFAULT, MN_SSM_INIT_LIN, MN_SSM_INIT_INV, MN_SSM_INIT_REAL } mn_ssm_init;
typedef enum { MN_NORM_LAYERNORM, MN_NORM_RMSNORM } mn_norm_kind;

#define MN_MAX_BLOCKS 64
#define MN_KIND_NAME_MAX 24

typedef struct {
    char kind[MN_KIND_NAME_MAX]; /* a registered layer kind (mn_layer_kind_names()) */
    int width;               /* the kind's width (hidden size of a recurrence, inner size of
                                a feed-forward); 0: the model's hidden_size */
    int bidirectional;       /* recurrent kinds: 1 runs both directions (output 2·width) */
    int residual;            /* 1: add the block's input to its output (widths must agree) */
    mn_norm_place norm;
    mn_norm_kind norm_kind;
    float dropout;           /* drop probability on f's output while training, in [0, 1)
                                (tcn: on each ReLU's output inside the block) */
    /* attention kinds (Vaswani et al. 2017, "Attention Is All You Need") */
    int heads;               /* heads; the block's input width d_model must divide by it.
                                0 means 1 */
    int causal;              /* 1: step t attends to steps <= t only (a decoder, a language
                                model); 0: to every real step of its sequence (an encoder) */
    int rope;                /* 1: rotary positions on queries and keys (Su et al. 2021,
                                RoFormer), rotating pairs (2i, 2i+1) of each head by
                                t·10000^(-2i/head_dim) */
    /* learned positions: the table's rows, the longest sequence it accepts; 0 means 4096 */
    int max_len;
    /* causal convolutions (conv, tcn; Bai, Kolter & Koltun 2018): output step t reads the
     * inputs t − (k−1−j)·d for the taps j < k, zeros before step 0, so one convolution sees
     * (k−1)·d + 1 steps (its receptive field) */
    int kernel;              /* taps k of each convolution; 0 means 2 (WaveNet's: with
                                dilations 1, 2, 4, ... every past step is reached once) */
    int dilation;            /* spacing d between taps; 0 means 1 */
    /* state spaces: s4d (Gu, Gupta, Goel & Ré 2022) and mamba (Gu & Dao 2023) */
    int state;               /* state size N per channel, even: s4d's N/2 complex conjugate
                                modes, mamba's N real states; 0 means the kind's default,
                                64 for s4d, 16 for mamba (the reference's d_state) */
    mn_ssm_init ssm_init;    /* the modes' initialization; 0 (default) means S4D-Lin for
                                s4d; mamba's A is real and takes S4D-Real only (its default) */
    /* recurrent kinds, as PyTorch's nn.RNN / nn.LSTM / nn.GRU options */
    int proj;                /* lstm: proj_size, from 1 to width - 1: h = W_hr·(o⊙tanh c) of
                                this width (weight_hr [proj, width], weight_hh [4·width,
                                proj]), so the block outputs proj (2·proj bidirectional);
                                0: none */
    int no_bias;             /* rnn, rnn-relu, lstm, gru, gated: 1 drops bias_ih and bias_hh
                                (bias=False) */
    int weight_norm;         /* tcn: 1 reparametrizes conv1's and conv2's weights as
                                w = g·v/‖v‖ per output channel (Salimans & Kingma 2016;
                                torch.nn.utils.weight_norm, dim 0: weight_g [out,1,1],
                                weight_v [out,in,k]), as Bai et al.'s TCN does */
} mn_block_config;

typedef struct {
    mn_cell_kind cell;       /* the recurrent cell when num_blocks is 0 */
    int input_size;          /* features per step for dense input; 0 with tokens */
    int vocab_size;          /* > 0: inputs are tokens read through an embedding */
    int embed_size;          /* embedding width (0: the first block's width, else hidden_size) */
    int hidden_size;
    int num_layers;
    int bidirectional;       /* 0 or 1 */
    int output_size;         /* head width; number of classes for cross-entropy */
    mn_output_mode output;   /* head at the last real step, or at every step */
    mn_loss_kind loss;
    /* Initialization of the recurrent blocks (mn_model_config_uses says which read what): */
    mn_recurrent_init recurrent_init; /* W_hh: U(±1/√H) (PyTorch), orthogonal, identity */
    float init_gain;         /* gain for orthogonal / identity recurrent init (unread with
                                uniform) */
    float forget_bias;       /* forget-gate bias (b_ih + b_hh sum) of LSTM's f and the gated
                                cell's α, default 1.0; unread when chrono init is on */
    int chrono_tmax;         /* > 1: chrono init of every keep gate (LSTM f, GRU z, gated α):
                                b ~ log U[1, T_max-1], and LSTM's b_i = -b_f */
    /* The blocks. num_blocks = 0 builds num_layers blocks of `cell` (bidirectional as set),
     * the plain stacked recurrence of PyTorch's nn.RNN / nn.LSTM / nn.GRU. */
    int num_blocks;
    mn_block_config blocks[MN_MAX_BLOCKS];
    /* Encoder–decoder (sequence to sequence, Vaswani et al. 2017): > 0 makes blocks
     * [0, encoder_blocks) an encoder, run on a batch's source (src_tokens), and the blocks
     * after them a decoder, run on its tokens, whose cross-attention blocks attend to the
     * encoder's top output (the "memory", of the decoder's width d_model). Tokens only
     * (vocab_size > 0, one embedding shared by both), output at every step; the decoder must
     * not read later steps (causal self-attention, no bidirectional block) and needs at
     * least one cross-attention block. Teacher forcing: tokens are the decoder's inputs
     * (a start token, then the target shifted right) and labels the target at every step.
     * Tensor names follow torch.nn.Transformer where the blocks are its layers
     * ("encoder.layers.{i}.self_attn.*", "decoder.layers.{i}.multihead_attn.*",
     * "decoder.layers.{i}.norm3.*", "encoder.norm.*"). 0: every other model. */
    int encoder_blocks;
} mn_model_config;

typedef struct mn_model mn_model;

void mn_model_config_init(mn_model_config *cfg);   /* a 1-layer LSTM, hidden 128 */
mn_status mn_cell_parse(const char *name, mn_cell_kind *out); /* rnn, rnn-relu, lstm, gru */
const char *mn_cell_name(mn_cell_kind cell);

/* What a recurrent cell is, for programs that describe or choose one. */
typedef struct {
    const char *name;         /* as --model spells it: "lstm" */
    const char *family;       /* PyTorch's module, or a description: "LSTM" */
    int gates;                /* gate blocks G: weight_ih is [G·H, I] */
    int has_cell_state;       /* a c state beside h (LSTM) */
    const char *keep_gate;    /* the gate that keeps the old state ("forget gate" f, "update
                                 gate z"), where chrono init and memory half-lives apply (and
                                 forget_bias, for LSTM's f and the gated cell's α: see
                                 mn_model_config_uses); NULL for a cell without one */
    const char *candidate;    /* the W_hh block that feeds new content ("g block") */
} mn_cell_info;

/* MN_E_ARG for a value that names no cell. Cells are numbered from 0 with no gaps, so a
 * loop from 0 until MN_E_ARG lists them all. */
mn_status mn_cell_describe(mn_cell_kind cell, mn_cell_info *out);

/* The registered layer kinds a block may name, as "rnn, rnn-relu, lstm, gru, ...". */
const char *mn_layer_kind_names(void);
/* Fill cfg's blocks from a spec: blocks separated by ',', each KIND[:WIDTH][:OPTION...]
 * with options residual, bidirectional, pre or post (normalization place), layernorm or
 * rmsnorm, dropout=P, for recurrent kinds nobias and (lstm) proj=P, for attention heads=H,
 * causal, rope, for learned positions max-len=N, for convolutions kernel=K, dilation=D,
 * for state spaces state=N and init=lin|inv|real; e.g. "lstm:128,lstm:128:residual:pre" or "attention:heads=4:causal:residual". cfg's other fields are
 * kept. MN_E_ARG names the malformed part and what is allowed. */
mn_status mn_blocks_parse(const char *spec, mn_model_config *cfg);
/* The receptive field of cfg's blocks: how many input steps (step t itself included) the
 * output at step t can depend on, 1 + Σ (k−1)·d over causal convolutions (a TCN block has
 * two: 1 + 2(k−1)(2^L − 1) for L blocks with dilations 1, 2, 4, ...; Bai et al. 2018).
 * -1 when unbounded: a recurrence, attention or a state space reaches every earlier step. */
int64_t mn_model_receptive_field(const mn_model_config *cfg);
/* The blocks cfg builds (num_blocks = 0 included) as a spec mn_blocks_parse reads back;
 * the length written, or the length needed when cap is too small (like snprintf). */
int mn_blocks_format(const mn_model_config *cfg, char *buf, size_t cap);

/* Which of a config's fields its blocks read, from the registry of layer kinds, so that a
 * program can refuse an option that would change nothing. Counts of blocks (the token
 * embedding counts in hidden_size). MN_E_ARG for a block of an unknown kind. */
typedef struct {
    int blocks;
    int recurrent;      /* with a recurrence (state along time, a W_hh): recurrent_init,
                           init_gain (with orthogonal or identity) and truncated BPTT apply */
    int keep_gate;      /* with a keep gate (LSTM's f, GRU's z, the gated cell's α):
                           chrono_tmax applies */
    int forget_bias;    /* whose keep gate's bias is forget_bias (LSTM's f, the gated cell's
                           α; not GRU's z, which keeps PyTorch's uniform bias), unless chrono
                           init (chrono_tmax > 1) draws it */
    int hidden_size;    /* that take hidden_size as their width (a plain stack's blocks, a
                           spec's blocks written without a width, the embedding's default) */
    int ssm_lr;         /* with state-space parameters A and Δ (S4D): the train config's
                           ssm_lr applies, and weight decay skips them */
} mn_model_uses;

mn_status mn_model_config_uses(const mn_model_config *cfg, mn_model_uses *out);

mn_status mn_model_create(const mn_model_config *cfg, uint64_t seed, mn_model **out);
void mn_model_free(mn_model *m);
const mn_model_config *mn_model_get_config(const mn_model *m);
size_t mn_model_param_count(const mn_model *m);

/* Named parameter tensors in PyTorch state-dict order and layout
 * (e.g. "rnn.weight_ih_l0" with gates stacked i,f,g,o for LSTM and r,z,n for GRU). */
int mn_model_tensor_count(const mn_model *m);
mn_status mn_model_tensor(mn_model *m, int index, const char **name, int *ndim,
                          const int **shape, float **data, float **grad);
float *mn_model_params(mn_model *m);   /* the flat parameter buffer */
float *mn_model_grads(mn_model *m);    /* the flat gradient buffer, same layout */

/* Save as safetensors (atomic: temporary file, fsync, rename). extra_metadata may hold
 * further "key", "value" string pairs (NULL-terminated list) or be NULL. */
mn_status mn_model_save(const mn_model *m, const char *path, const char *const *extra_metadata);
/* Load a model written by mn_model_save; the file alone rebuilds it. */
mn_status mn_model_load(const char *path, mn_model **out);
/* Read a PyTorch state dict (safetensors) into m's parameters by name: every tensor of m
 * (but the head, unless with_head) must be in the file under one common prefix (empty, or
 * e.g. "encoder."), float32, of the same shape; a tensor under that prefix that m lacks is
 * refused too (it would mean another architecture). Tensors outside the prefix are ignored.
 * m's names are PyTorch's: a Transformer's are torch.nn.TransformerEncoder's
 * ("layers.{i}.self_attn.in_proj_weight", "layers.{i}.linear1.weight", "layers.{i}.norm1.weight",
 * "norm.weight" for a final norm). (A plain recurrent stack: mnemo predict reads it.)
 * MN_E_INPUT names the tensor that is missing or differs; m is then partly overwritten. */
mn_status mn_model_load_state_dict(mn_model *m, const char *path, int with_head);
/* Look up a metadata value of a loaded model's file (NULL when absent). */
const char *mn_model_metadata(const mn_model *m, const char *key);

/* ----------------------------------------------------------------- batches */

typedef struct {
    int T, B;               /* steps (padded length) and sequences */
    int input_size;         /* dense input width (0 with tokens) */
    float *x;               /* [T,B,input_size] or NULL */
    int32_t *tokens;        /* [T,B] or NULL */
    int32_t *lengths;       /* [B]; every value in [1, T] */
    int output_size;
    float *target;          /* MSE: [B,O] (last) or [T,B,O] (every) */
    int32_t *labels;        /* CE: [B] (last) or [T,B] (every): a class in [0, output_size),
                               or -1 to ignore the position (PyTorch's ignore_index); any
                               other value is MN_E_INPUT naming the sequence, step and value.
                               Labels at padding positions are not read */
    /* The source of an encoder–decoder model (encoder_blocks > 0); unread otherwise */
    int S;                  /* source steps (padded length) */
    int32_t *src_tokens;    /* [S,B] */
    int32_t *src_lengths;   /* [B]; every value in [1, S] */
} mn_batch;

/* Forward pass on a whole batch from zero state. The model's output is
 * [B,O] (last) or [T,B,O] (every); logits for cross-entropy. Only the inputs (x or tokens),
 * lengths and, for an encoder–decoder model, the source are read: output_size, target and
 * labels may be 0 and NULL. Valid until the next call on m. */
mn_status mn_model_forward(mn_model *m, const mn_batch *b, const float **output);
/* The top block's output [T,B,D] for a batch from zero state (D its width): the model's
 * features before its head, as an encoder's output in PyTorch. Only the inputs (x or
 * tokens) and lengths are read; rows past a sequence's length are computed but mean
 * nothing. Valid until the next call on m. */
mn_status mn_model_features(mn_model *m, const mn_batch *b, const float **features,
                            int *width);
/* Greedy decoding with an encoder–decoder model (encoder_blocks > 0): the encoder runs once
 * on b's source; then the decoder, starting from b's tokens at step 0 (the start token of
 * each sequence; the rest of b->tokens is not read), takes the argmax of the head at each
 * step t < max_steps as out_tokens[t,b] ([max_steps,B]) and its input at step t + 1 (first
 * maximum on ties). b's labels and lengths are not read. Each step recomputes the decoder
 * over the steps so far (O(max_steps²) rows in all). MN_E_STATE for a model without an
 * encoder. */
mn_status mn_model_generate(mn_model *m, const mn_batch *b, int max_steps, int32_t *out_tokens);

/* Streaming inference: one time step in, one head output out, each layer's state kept
 * between calls (a device receiving a frame every few milliseconds). A stream belongs to
 * one model and one batch size B. Parameters changed in place between steps (through
 * mn_model_tensor's data) take effect at the next mn_stream_reset: recurrent layers pack
 * their weights once, at a stream's step 0, so a step costs only its products. Feeding steps t = 0..T-1 gives, at step t, the same values as mn_model_forward on
 * those T steps (every length T): for an output=every model its row t ([B,O] at t·B·O);
 * for an output=last model the head at every step, that is what mn_model_forward would
 * give if the sequences ended at step t. Equal to float rounding: the whole-sequence
 * forward multiplies in other groupings (GEMM tiles; S4D's FFT against the recurrence;
 * Mamba's chunked scan), within 1e-5 relative in the tests.
 * Every block must be causal: a bidirectional block, attention that is not causal,
 * cross-attention and encoder–decoder models (encoder_blocks > 0) are refused at
 * mn_stream_create (MN_E_ARG naming the block and its kind). Learned positions end at
 * their table's max_len steps (MN_E_ARG then). Attention keeps every step's keys and
 * values: step t costs O(t). */
typedef struct mn_stream mn_stream;
/* B in [1, 2^24]. MN_E_STATE when the model is in training mode (dropout on). */
mn_status mn_stream_create(mn_model *m, int B, mn_stream **out);
/* One step. x_t [B,input_size] for a model of dense features, tokens_t [B] (each in
 * [0, vocab_size), else MN_E_INPUT) for a model of tokens; the other one NULL (MN_E_ARG
 * otherwise). Writes y_t [B,output_size] (logits for cross-entropy). The model's layers
 * hold the state between steps, so another pass on the model in between (a forward, a
 * training step, another stream's step) makes the next step MN_E_STATE until
 * mn_stream_reset; so does a failed step. A NaN or Inf in x_t is not an error: it goes
 * through as through PyTorch (MN_OK, and the outputs that read it, now and through the
 * state later, NaN or Inf); check the input where that matters. */
mn_status mn_stream_step(mn_stream *s, const float *x_t, const int32_t *tokens_t, float *y_t);
/* The next step is step 0 of new sequences (zero state, empty caches). */
void mn_stream_reset(mn_stream *s);
/* Steps taken since the stream was created or reset. */
int64_t mn_stream_steps(const mn_stream *s);
void mn_stream_free(mn_stream *s);   /* the model stays; NULL is fine */

/* Draws one class from the logits[0..n) of a language model's head, for sampling text
 * (mnemo generate): softmax(logits / temperature) over the top_k largest logits (ties
 * among equal logits go to the smaller index; top_k 0: all n), drawn with one uniform
 * number from *rng, a 64-bit state the caller seeds and keeps (splitmix64; the same state
 * gives the same draw). temperature 0 is greedy: the first maximum, rng untouched. -Inf
 * logits are never drawn (masked). MN_E_ARG for n < 1, NULL pointers, a negative or NaN
 * temperature, top_k < 0 or > n; MN_E_INPUT for a NaN or +Inf logit, or every logit -Inf.
 * Source: the softmax-with-temperature and top-k sampling of Holtzman et al. 2020, "The
 * Curious Case of Neural Text Degeneration" (section 3), as in Hugging Face's
 * TemperatureLogitsWarper and TopKLogitsWarper. */
mn_status mn_sample_logits(const float *logits, int n, double temperature, int top_k,
                           uint64_t *rng, int32_t *out);
/* Mean loss of the batch (padding and ignored labels excluded). */
mn_status mn_model_loss(mn_model *m, const mn_batch *b, double *loss);
/* Full BPTT on a batch from zero state without an update: the gradients of the mean loss
 * overwrite mn_model_grads (a recorder, if attached, records the pass); loss may be NULL. */
mn_status mn_model_gradients(mn_model *m, const mn_batch *b, double *loss);

/* ------------------------------------------------------------------- tasks */

typedef struct {
    const char *name;
    int length;               /* the requested length T */
    int max_steps;            /* padded sequence length of a batch */
    int input_size;           /* dense input width, or 0 */
    int vocab_size;           /* token vocabulary, or 0 */
    int output_size;
    mn_output_mode output;
    mn_loss_kind loss;
    double baseline_loss;     /* the loss of the best input-blind guess */
    const char *baseline_desc;
    int has_accuracy;         /* task defines a correctness criterion */
    const char *accuracy_desc;
    /* 1: a sequence-to-sequence task: batches carry a source (S, src_tokens, src_lengths),
     * tokens are the decoder's inputs under teacher forcing (a start token, then the target
     * shifted right) and labels the target; accuracy counts whole sequences right under
     * greedy decoding (mn_model_generate). Its models have encoder_blocks > 0. */
    int seq2seq;
    int max_source_steps;     /* seq2seq: padded source length S of a batch */
    /* Sequences in the evaluation set of a task made from data (mn_task_from_arrays):
     * mn_evaluate reads at most these, each once, in order. 0: a generated task, whose
     * held-out stream never ends. */
    int eval_sequences;
    /* Text tasks (mn_task_from_data "text:"): tokens per character over the evaluation
     * set's scored positions, so bits per character = loss / ln 2 * tokens_per_char (per
     * byte: tokens_per_byte); characters are UTF-8 characters (bytes that are not
     * continuation bytes 10xxxxxx). 0 for every other task. */
    double tokens_per_char, tokens_per_byte;
    /* A task made by mn_task_from_data: the spec it was given ("text:a.txt"); NULL else. */
    const char *data_spec;
    /* Forecasting tasks (csv): the "repeat the last value" forecast's MSE and MAE over the
     * evaluation set in the data's own units (mn_eval_stats.mse, .mae are the model's);
     * 0 for other tasks. data_state: what the task learned from its training part and a
     * rebuild must be given back (mn_data_options.state) to reproduce it: csv's
     * normalization; NULL when nothing. */
    double baseline_mse, baseline_mae;
    const char *data_state;
} mn_task_info;

typedef struct mn_task mn_task;

const char *mn_task_names(void);  /* "adding, adding-1997, copy, ...": every task, joined */
mn_status mn_task_create(const char *name, int length, uint64_t seed, mn_task **out);
void mn_task_free(mn_task *t);
const mn_task_info *mn_task_get_info(const mn_task *t);
/* The next batch from the task's own random stream; the batch is owned by the task and
 * valid until the next call. */
mn_status mn_task_next(mn_task *t, int batch_size, const mn_batch **out);
/* Correct and counted items of a model output for this batch (task's own criterion). */
mn_status mn_task_score(const mn_task *t, const mn_batch *b, const float *output,
                        double *correct, double *counted);
/* Fill a model config with what the task needs (input, output, loss). */
void mn_task_configure_model(const mn_task *t, mn_model_config *cfg);

/* A task made from the caller's own arrays, for training and evaluating on real data.
 * Layouts are NumPy's row-major ones, sequence first ([N,T,I] as np.zeros((N, T, I))); the
 * task copies what it needs, so the arrays may be freed after the call.
 *   Inputs: dense x [N,T,I] (input_size I) or tokens [N,T] (vocab_size V, each in [0, V)).
 *   lengths [N]: each in [1, T]; steps past a length are padding, never read as input nor
 *   scored. NULL: every sequence has T steps.
 *   Targets: loss MN_LOSS_MSE reads target, [N,O] with output MN_OUTPUT_LAST (one target per
 *   sequence, scored at its last real step) or [N,T,O] with MN_OUTPUT_EVERY; MN_LOSS_CE reads
 *   labels, [N] or [N,T], each a class in [0, O) or -1 to ignore the position.
 *   heldout: this many sequences, chosen by the seed, form the evaluation set and are never
 *   trained on; 0 evaluates on the training sequences (then the evaluation measures fit,
 *   not generalization).
 * Training batches draw the training sequences without replacement, in a new seeded order
 * every epoch (PyTorch's DataLoader with shuffle=True); the position in that order is part of
 * a trainer checkpoint. The baseline (mn_task_info.baseline_loss) is the best input-blind
 * guess learned from the training sequences: their mean target for MSE, their class
 * frequencies for cross-entropy. Cross-entropy tasks report accuracy (argmax right).
 * Errors: MN_E_ARG for impossible sizes, NULL arrays or heldout >= N; MN_E_INPUT naming the
 * sequence, step and value for a NaN/Inf input or target, a token, label or length out of
 * range. Source: the layouts follow torch.utils.data's TensorDataset over
 * (x, target[, lengths]). */
typedef struct {
    const char *name;         /* shown as the task's name; NULL: "arrays" */
    int sequences;            /* N >= 1 */
    int steps;                /* T >= 1: the padded length */
    int input_size;           /* I: features per step with x; 0 with tokens */
    const float *x;           /* [N,T,I] or NULL */
    int vocab_size;           /* V > 0 with tokens; 0 with x */
    const int32_t *tokens;    /* [N,T] or NULL */
    const int32_t *lengths;   /* [N] or NULL */
    mn_loss_kind loss;
    mn_output_mode output;
    int output_size;          /* O: target width (MSE) or classes (CE) */
    const float *target;      /* MSE: [N,O] or [N,T,O] */
    const int32_t *labels;    /* CE: [N] or [N,T] */
    int heldout;              /* evaluation sequences taken out of the N; 0: none */
} mn_arrays;

void mn_arrays_init(mn_arrays *a);   /* zeroes every field: MSE at the last step */
mn_status mn_task_from_arrays(const mn_arrays *a, uint64_t seed, mn_task **out);

/* A task read from files: spec is "KIND:PATH[,PATH...]", one of the kinds below. The
 * held-out split is deterministic: given by separate files (valid_spec, same kind), or the
 * seeded / last valid_fraction of the data. Files are read in blocks and held once in
 * memory; anything malformed is MN_E_INPUT with one message naming the file, the line or
 * byte, and what was expected; empty files are refused. Impossible options are MN_E_ARG.
 *
 *   npy:X.npy,Y.npy[,LENGTHS.npy] — X [N,T,I] float32 (dense inputs) or [N,T] int32/int64
 *     tokens (vocabulary: the largest token + 1, at least 2); Y int32/int64 is
 *     classification (cross-entropy; classes: the largest label + 1, -1 ignores a
 *     position), float32 regression (MSE). Y [N] or [N,O]: one target per sequence at its
 *     last real step; Y [N,T] or [N,T,O]: a target at every step (a float Y [N,T] whose
 *     second dimension equals X's T is read per step; write [N,1,O] for one O-wide target
 *     per sequence then). LENGTHS [N] int32/int64 in [1, T]. Goes through
 *     mn_task_from_arrays (its checks and baseline); the held-out sequences are a seeded
 *     valid_fraction of the N, or with valid_spec "npy:Xv,Yv[,Lv]" those sequences (the
 *     same T, I, dtypes and target layout), appended as the evaluation set. length unused.
 *   text:FILE[,FILE...] — language modelling on bytes (vocabulary 256): the files'
 *     bytes concatenated, any bytes at all (UTF-8 or not). Training draws windows of
 *     `length` bytes at seeded random offsets in the training part; the label at every
 *     step is the next byte. The evaluation set is the last valid_fraction of the bytes
 *     (or valid_spec "text:V[,V...]"), cut into consecutive windows of `length` bytes, each
 *     scored once. Baseline: the unigram model of the training bytes (their entropy, in
 *     nats). tokens_per_char / tokens_per_byte are set (see mn_task_info).
 *     With opt->tokenizer the training part and the evaluation part are each encoded with
 *     that BPE tokenizer (apart, so no token straddles the split) and the stream is their
 *     ids: vocabulary the tokenizer's, windows of `length` tokens, the unigram baseline
 *     over the training ids; tokens_per_char and tokens_per_byte count the evaluation
 *     part's ids against its characters and bytes.
 *   csv:FILE — a numeric time series, one row per step, cells separated by commas. A
 *     first row with a cell that is not a number is a header. columns chooses the series
 *     (names from the header or 1-based indices; default: every column whose first data
 *     cell is a number); every chosen cell must be a finite number (empty, NaN, Inf and
 *     text are refused with file:line:column), every row must have the first row's count
 *     of cells. The task forecasts the chosen columns `horizon` steps after a window of
 *     `length` rows (MSE at the last step, on columns normalized by the mean and standard
 *     deviation of the training rows, or by opt->state); training windows are drawn at
 *     seeded offsets among those whose target lies in the first 1 − valid_fraction of the
 *     rows, evaluation windows are every window whose target lies in the rest, in order
 *     (valid_spec: the rows of that file instead, after the training rows). baseline_loss
 *     is the "repeat the last value" forecast's MSE (normalized); mse and mae of
 *     mn_eval_stats and baseline_mse, baseline_mae are in the data's own units. The
 *     normalization is data_state, "mean:std" per column joined by ','.
 *   fasta:FILE[,FILE...] — nucleotide or protein FASTA: '>' headers, sequence lines of any
 *     width in either case, blank lines, CRLF; letters (IUPAC codes), '*', '-'. The
 *     alphabet, detected on the training files (nucleotide: only A C G T N U R Y K M S W B
 *     D H V -; else protein: every letter, '*', '-'), is data_state ("nucleotide" or
 *     "protein"). Without labels: language modelling over the residues as with text, a
 *     separator token (0) before each record; tokens_per_char is tokens per residue, so
 *     bits per character is bits per base. With labels (a file, one label per record, the
 *     data's records then the validation files'; whole numbers 0..65535 are the classes,
 *     other labels classes in order of first appearance): each record classified at its
 *     last residue (tokens padded to the longest record); length unused. Refused, with
 *     file:line[:column]: a sequence line before any header, a byte that is no residue (or
 *     outside the training files' alphabet in validation files), an empty record, a label
 *     count other than the record count.
 *   idx:IMAGES,LABELS — IDX files (MNIST: images [N,rows,cols] magic 0x00000803, labels
 *     [N] 0x00000801, unsigned bytes, big-endian dimensions), plain or gzip (by the magic
 *     bytes; needs a build with zlib). Sequential classification: rows·cols steps of one
 *     input, pixel/255, the label at the last step; classes: the largest label + 1. permute
 *     reads the pixels in a fixed permutation drawn from the seed (psMNIST), data_state
 *     "permute=SEED". valid_spec "idx:IMAGES,LABELS": the test pair. length unused.
 * Source: the layouts follow torch.utils.data.TensorDataset (npy) and the character-level
 * language-modelling protocol of Karpathy's char-rnn / the enwik8 evaluations (text:
 * bits per character on a held-out tail). */
typedef struct {
    int length;               /* window length T (text, csv); unused by npy */
    double valid_fraction;    /* held-out share in [0, 1); < 0: the default 0.1 */
    const char *valid_spec;   /* separate evaluation data of the same kind, or NULL */
    const char *columns;      /* csv: "a,b" or "1,3" (names or 1-based); NULL: every numeric */
    int horizon;              /* csv: forecast this many steps ahead; 0: 1 */
    const char *state;        /* a task's data_state to reuse (csv: normalization), or NULL */
    const char *labels;       /* fasta: a label file (one label per record): classification */
    int permute;              /* idx: 1 reads the pixels in a fixed permutation (psMNIST) */
    /* text: a tokenizer.json (mn_tokenizer_load) that encodes the text into BPE ids: the
     * vocabulary is the tokenizer's, windows are `length` tokens. NULL: bytes. */
    const char *tokenizer;
} mn_data_options;

void mn_data_options_init(mn_data_options *o);   /* length 0, valid_fraction -1, no files */
/* "npy, text, csv": the kinds mn_task_from_data reads. */
const char *mn_data_kinds(void);
mn_status mn_task_from_data(const char *spec, const mn_data_options *opt, uint64_t seed,
                            mn_task **out);
/* From now on mn_task_next hands out a data task's evaluation set, in order from its
 * first sequence (cycling); a generated task is left as it is (its stream never repeats). */
void mn_task_use_heldout(mn_task *t);

/* ---------------------------------------------------------------- training */

typedef enum { MN_OPT_ADAM, MN_OPT_ADAMW, MN_OPT_SGD } mn_optimizer_kind;
typedef enum { MN_SCHED_CONSTANT, MN_SCHED_COSINE } mn_schedule_kind;

/* The optimizers follow PyTorch (torch.optim) step for step:
 *   adam:  Adam(lr, betas=(beta1, beta2), eps, weight_decay): weight decay is L2 added to
 *          the gradient (g += weight_decay·w) before the moments, so Adam's scaling
 *          divides it too;
 *   adamw: AdamW(...): decoupled decay, w -= lr·weight_decay·w, then Adam without it;
 *   sgd:   SGD(lr, momentum, weight_decay): L2 added to the gradient (g += weight_decay·w)
 *          before the momentum buffer (buf = g on the first step); beta1, beta2, eps unused.
 *   Adam and AdamW do not read momentum.
 * The learning rate at step s (0-based), with W = warmup_steps and S the schedule's length
 * (schedule_steps, or steps when 0):
 *   s < W:                   lr·(s+1)/W (linear warmup; the last warmup step reaches lr);
 *   constant:                lr;
 *   cosine, W <= s < S:      lr_min + (lr − lr_min)·(1 + cos(π·(s−W)/(S−1−W)))/2 with
 *                            lr_min = lr·min_lr_ratio: lr at step W, lr_min at step S−1,
 *                            PyTorch's CosineAnnealingLR(T_max = S−1−W, eta_min = lr_min),
 *                            which ends at 0 by default (min_lr_ratio = 0);
 *   cosine, s >= S:          lr_min (a run longer than its schedule stays at the floor).
 * mn_trainer_create refuses a warmup longer than the schedule (lr would never be reached)
 * and a cosine schedule with fewer than 2 steps after its warmup (nothing to decay). */
typedef struct {
    int steps;                /* optimizer steps (one batch each) */
    int batch_size;
    mn_optimizer_kind optimizer;
    float lr, beta1, beta2, eps, weight_decay, momentum;
    /* The learning rate of the state-space parameters A and Δ (S4D's kernel.log_dt,
     * kernel.log_A_real, kernel.A_imag): 0 (the default) means min(lr, 1e-3), what the S4
     * repository's example gives them (lr=min(0.001, args.lr)); > 0 sets it (ssm_lr = lr
     * trains them like every other weight). They never get weight decay. The schedule
     * scales it as it scales lr (warmup, cosine: their lr at step s is
     * mn_schedule_lr(s)·ssm_lr/lr). Unread by models without such parameters
     * (mn_model_uses.ssm_lr). */
    float ssm_lr;
    mn_schedule_kind schedule;
    int warmup_steps;         /* linear warmup before the schedule */
    float min_lr_ratio;       /* cosine floor as a fraction of lr, in [0, 1] (default 0.1) */
    int schedule_steps;       /* the schedule's length S; 0: steps. A checkpoint records it,
                                 and resuming a cosine run needs the same S */
    float clip_norm;          /* > 0: rescale gradients to this global norm */
    float clip_value;         /* > 0: clamp each gradient to ±clip_value */
    int tbptt;                /* > 0: truncated BPTT with chunks of this length */
    uint64_t seed;            /* training data stream; evaluation uses another stream */
    int eval_size;            /* held-out sequences per evaluation */
    int max_bad_steps;        /* stop after this many NaN/Inf steps in a row (default 5) */
} mn_train_config;
/* The learning rate state-space A and Δ train with: cfg->ssm_lr, or min(lr, 1e-3) when
 * that is 0 (see mn_train_config.ssm_lr). */
float mn_ssm_lr(const mn_train_config *cfg);

typedef struct {
    int step;                 /* steps done */
    double loss;              /* mean training loss of this step's batch */
    double grad_norm;         /* global gradient norm before clipping */
    double lr;                /* learning rate used */
    double tokens;            /* non-padding tokens in the batch */
    int skipped;              /* 1 when a NaN/Inf made the step be skipped */
} mn_step_stats;

typedef struct {
    double loss;
    double accuracy;          /* -1 when the task has no accuracy; seq2seq: the fraction of
                                 sequences greedy decoding gets entirely right */
    int sequences;
    double token_accuracy;    /* seq2seq: the fraction of target tokens whose argmax is right
                                 under teacher forcing; -1 for other tasks */
    double mse, mae;          /* forecasting (csv): in the data's own units; -1 otherwise */
} mn_eval_stats;

typedef struct mn_trainer mn_trainer;

void mn_train_config_init(mn_train_config *cfg);
mn_status mn_optimizer_parse(const char *name, mn_optimizer_kind *out);
mn_status mn_trainer_create(mn_model *m, mn_task *task, const mn_train_config *cfg,
                            mn_trainer **out);
void mn_trainer_free(mn_trainer *tr);
mn_status mn_trainer_step(mn_trainer *tr, mn_step_stats *stats);
/* Evaluate on eval_size held-out sequences (same sequences at every call). */
mn_status mn_trainer_evaluate(mn_trainer *tr, mn_eval_stats *stats);
/* Training checkpoints: the model (so mn_model_load reads them too) plus what the trainer
 * needs to continue exactly: Adam moments, the step, the NaN streak and the data stream's
 * position. The options that shape the run are recorded readably as "train.*" metadata
 * (train.optimizer, train.lr, train.ssm_lr (the value used; only for a model with
 * state-space parameters), train.betas and train.eps or train.momentum, train.weight_decay,
 * train.schedule, train.schedule_steps and train.min_lr_ratio for cosine, train.warmup,
 * train.clip_norm, train.clip_value, train.tbptt, train.batch, train.seed), each only where
 * the optimizer or schedule reads it. Atomic like mn_model_save. */
mn_status mn_trainer_save(const mn_trainer *tr, const char *path,
                          const char *const *extra_metadata);
/* Restore a checkpoint into a trainer created for the same model, task and training
 * options (steps may differ: it is the total). A cosine schedule's length may not: a run
 * resumed with more steps than its checkpoint's schedule needs schedule_steps set to that
 * length (the learning rate then stays at the floor past its end); MN_E_ARG says so.
 * Continuing then gives the same bits as a run that was never interrupted (with the same
 * steps and schedule_steps), on the same thread count. */
mn_status mn_trainer_resume(mn_trainer *tr, const char *path);
int mn_trainer_steps_done(const mn_trainer *tr);
/* A stop request, for programs that embed the trainer and want Ctrl-C or a scheduler's
 * SIGTERM to end a run cleanly. The library never installs signal handlers: the program
 * owns the flag and sets it to nonzero, for example from its own handler (a store to a
 * volatile sig_atomic_t is async-signal-safe). mn_trainer_step reads *flag once, when it
 * starts: nonzero makes it return MN_E_STOPPED at once, without taking a step or changing
 * anything, so the trainer can then be saved (mn_trainer_save) and resumed with the same
 * bits as a run never stopped. A step already running when the flag is set runs to its
 * end. The trainer never writes the flag: clear it to go on. NULL (the default) removes it.
 * Thread safety: the flag may be set at any time from a signal handler, or from another
 * thread on platforms where sig_atomic_t is a plain aligned int (all that mnemo supports);
 * the trainer itself must still be called from one thread at a time. */
void mn_trainer_set_stop(mn_trainer *tr, const volatile sig_atomic_t *flag);
/* Evaluate any model on a task's held-out stream (eval command). */
mn_status mn_evaluate(mn_model *m, mn_task *task, int sequences, int batch_size,
                      mn_eval_stats *stats);

/* ------------------------------------------------------- data parallelism
 * A communicator joins `size` processes (ranks), each holding the same model, task and
 * trainer (same options, same seed, or the same checkpoint resumed), into one training
 * run. mnemo needs only element-wise sums over all ranks, in place, with the same result
 * on every rank (MPI_Allreduce with MPI_SUM gives that), so this header needs no MPI and
 * any transport can stand behind it. Each function returns MN_OK or another status
 * (mnemo then reports that the sum failed); every rank calls it in the same order, with
 * the same n (a collective).
 *
 * With a communicator of size N attached, mn_trainer_step is collective: every rank draws
 * the whole global batch (batch_size, which N must divide) from its task, identical on
 * every rank, runs forward and backward on its contiguous 1/N of the sequences (rank r:
 * sequences r·B/N .. (r+1)·B/N − 1), and the ranks sum their gradients in one call on the
 * flat gradient buffer and their losses in one more; then every rank applies the same
 * clipping and update. The result equals the single-process step up to the order of the
 * floating-point sums (see the README). Dropout draws its masks per rank. A failure or a
 * stop request (mn_trainer_set_stop) on any rank ends that step on every rank: the failing
 * rank returns its own error, the others MN_E_STATE naming it; a stop, seen on any rank,
 * returns MN_E_STOPPED everywhere with nothing changed. The first step after attaching (or
 * resuming) checks that the ranks agree on the model size, parameters, step and batch,
 * and fails with MN_E_ARG on every rank when they do not. mn_trainer_evaluate is
 * collective too: each rank evaluates its share of every held-out batch, the sums are
 * reduced, and every rank gets the same figures; it first checks that the parameters are
 * still identical on every rank (MN_E_STATE when they drifted apart). mn_trainer_save may
 * be called on one rank alone (the state is the same on all); mn_trainer_resume must be
 * called on every rank with the same file. */
typedef struct {
    int rank, size;           /* 0 <= rank < size */
    mn_status (*allreduce_sum_f32)(void *ctx, float *buf, size_t n);
    mn_status (*allreduce_sum_f64)(void *ctx, double *buf, size_t n);
    void (*release)(void *ctx);   /* mn_comm_release calls it; NULL: the caller owns ctx */
    void *ctx;
} mn_comm;

/* Attach a communicator (copied; its ctx must outlive the trainer or the next call) or,
 * with NULL or size 1, detach it and train alone again. MN_E_ARG when the fields are
 * impossible or the batch does not divide by size. Call it between steps, on every rank. */
mn_status mn_trainer_set_comm(mn_trainer *tr, const mn_comm *comm);
/* A communicator over an MPI communicator: mpi_comm points to the caller's MPI_Comm (for
 * example &MPI_COMM_WORLD), which is duplicated (MPI_Comm_dup, a collective), so mnemo's
 * sums never mix with the program's own messages; MPI must be initialized. Free it with
 * mn_comm_release before MPI_Finalize. A library built without MPI (make without MPI=1)
 * returns MN_E_ARG saying so. */
mn_status mn_comm_from_mpi(const void *mpi_comm, mn_comm *out);
/* Free what mn_comm_from_mpi made (calls comm->release) and zero *comm. */
void mn_comm_release(mn_comm *comm);

/* ------------------------------------------------------------------- bench */

typedef struct {
    mn_cell_kind cell;
    int T, B, input_size, hidden_size, num_layers, bidirectional;
    int train;                /* 1: forward + backward + Adam; 0: forward only */
    int warmup, iterations;
    uint64_t seed;
    const char *blocks;       /* a block spec (mn_blocks_parse) instead of cell/num_layers/
                                 bidirectional, or NULL */
    int stream;               /* 1 (with train 0): T steps through the streaming API
                                 (mn_stream_step), from a reset, per timed iteration */
} mn_bench_config;

typedef struct {
    double ms_per_step, tokens_per_s, gflops;  /* gflops: useful FLOPs per second / 1e9 */
    double flops_per_step;
    size_t peak_bytes;        /* most library memory held during the run */
    size_t model_bytes;       /* params + grads + optimizer state + stored activations */
} mn_bench_result;

mn_status mn_bench_run(const mn_bench_config *cfg, mn_bench_result *res);
/* The CPU kernel chosen for this machine: "avx512", "avx2" or "portable". */
const char *mn_cpu_kernel(void);

/* ------------------------------------------------------------- diagnostics
 * How the training signal travels back through time, measured on the model's own passes. */

#define MN_DIAG_SINGULAR 4   /* leading singular values reported */

typedef struct mn_grad_recorder mn_grad_recorder;

/* Record, during every backward pass of m from now on (training or evaluation), the
 * batch-mean ‖∂L/∂h_t‖ of each recurrent layer for steps t < max_T, and ‖∂L/∂c_t‖ for
 * LSTM layers. With truncated BPTT, t counts from the start of the sequence. Bidirectional
 * layers record their forward direction. A model without a recorder computes nothing
 * extra. One recorder per model; detach before freeing the model. */
mn_status mn_grad_recorder_attach(mn_model *m, int max_T, mn_grad_recorder **out);
void mn_grad_recorder_detach(mn_grad_recorder *r);
/* Mean profile over the backward passes recorded since the last clear, oldest step first:
 * dh[t] and dc[t] for t < max_T (dc may be NULL; it stays 0 for cells without c).
 * Returns the number of passes averaged (0: nothing recorded, arrays set to 0). */
int mn_grad_recorder_profile(const mn_grad_recorder *r, int layer, double *dh, double *dc);
void mn_grad_recorder_clear(mn_grad_recorder *r);
/* For any model, whatever its blocks: the mean over recorded passes of the batch-mean
 * ‖∂L/∂x_t‖ at the input of block `block` (0 .. L-1; L: the last block's output, where the
 * head's gradient enters), t < max_T, into dx[max_T]. How the signal shrinks or grows
 * through depth is the profile across blocks; through time, along t. Returns the passes
 * averaged (0: nothing recorded or no such block; dx set to 0). */
int mn_grad_recorder_input_profile(const mn_grad_recorder *r, int block, double *dx);

/* Ratio of the gradient norm lag steps before the last step to the last step's norm:
 * ratio[lag] = norm[T-1-lag] / norm[T-1], lag = 0..T-1 (all 0 when norm[T-1] is 0). */
void mn_gradient_ratio(const double *norm, int T, double *ratio);
/* The effective gradient horizon: the largest lag L such that ratio[lag] >= threshold for
 * every lag <= L (T-1 when the ratio never drops below it). A lag whose ratio is exactly 0
 * is a hole of the model's structure (a dilated convolution reaches every d-th step), not
 * a vanished gradient, and is stepped over; zeros up to the first step count as reached
 * when no longer than the holes between reached lags (the same pattern). */
int mn_gradient_horizon(const double *norm, int T, double threshold);

typedef struct {
    int units;                /* H */
    int has_gates;            /* 0 for plain RNNs: only the tanh saturation applies */
    double keep_mean;         /* mean over units of the mean forget gate (GRU: update gate z) */
    double half_life_min, half_life_median, half_life_mean, half_life_max; /* steps */
    double saturated_gates;   /* fraction of sigmoid gate values < 0.05 or > 0.95 */
    double saturated_tanh;    /* fraction of tanh values with |v| > 0.95 (RNN h, LSTM g, GRU n) */
} mn_gate_stats;

/* Memory half-life of a unit whose mean forget (keep) gate is f: ln 0.5 / ln f steps
 * (f <= 0 gives 0; f >= 1 gives MN_HALF_LIFE_MAX). */
#define MN_HALF_LIFE_MAX 1e12
double mn_half_life(double f);

/* Runs the model forward on b and measures the gates of recurrent layer `layer` over the
 * batch's real (non-padding) positions. keep_per_unit and half_life_per_unit: arrays of
 * H values, or NULL. Bidirectional layers report their forward direction. */
mn_status mn_gate_stats_measure(mn_model *m, const mn_batch *b, int layer, mn_gate_stats *out,
                                double *keep_per_unit, double *half_life_per_unit);

typedef struct {
    int state_size;           /* H, or 2H for LSTM (h and c) */
    int steps;                /* Jacobians multiplied per sequence */
    int sequences;
    double spectral_radius;   /* of W_hh (gated cells: the candidate block, g or n) */
    double singular[MN_DIAG_SINGULAR];          /* leading singular values of that block */
    double jacobian_log10_singular[MN_DIAG_SINGULAR]; /* log10 of the leading singular values
                                 of ∂s_T/∂s_0, the product of step Jacobians along each real
                                 sequence (mean over sequences) */
    double lyapunov;          /* largest Lyapunov exponent: mean ln growth per step */
} mn_recurrence_stats;

/* Runs the model forward on b and measures recurrent layer `layer`: its W_hh, and the
 * product of the step Jacobians ∂s_t/∂s_{t-1} along the batch's sequences (at most
 * max_sequences of them; 0: all). */
mn_status mn_recurrence_measure(mn_model *m, const mn_batch *b, int layer, int max_sequences,
                                mn_recurrence_stats *out);

/* How far back a convolution or state-space block remembers (src/diag/ssm_stats.c).
 * State spaces (S4D): each mode n of channel h decays by |z| = |exp(Δ_h·A_hn)| =
 * exp(−Δ_h·exp(log_A_real_hn)) per step, so its memory half-life is ln 0.5 / ln|z| steps
 * (MN_HALF_LIFE_MAX when |z| rounds to 1); a channel remembers as long as its slowest
 * mode. Mamba's Δ depends on the input: the decays are taken at each channel's median Δ
 * over the batch's real positions (A = −exp(A_log): |z| = exp(−Δ_e·exp(A_log_en))), Δ's
 * range and median over all of them. Convolutions (conv, TCN): the receptive field, the steps an output at t reads
 * (t − field + 1 .. t); a TCN block of kernel k and dilation d reaches 1 + 2(k−1)d. */
#define MN_FIELD_UNBOUNDED (-1)
typedef struct mn_ssm_stats {
    char kind[MN_KIND_NAME_MAX]; /* the block's layer kind */
    int has_decay;            /* 1 when the decay and half-life fields below are measured */
    int input_dependent;      /* 1 when the decays depend on the input (Mamba's Δ): then
                                 measured over the batch's real positions */
    int channels, modes;      /* S4D: H channels of N/2 modes each; Mamba: E = 2·D channels
                                 of N states each */
    double dt_min, dt_max;    /* Δ over channels (for input-dependent kinds: over positions) */
    double dt_median;         /* S4D: over channels; Mamba: over channels and positions */
    int64_t positions;        /* input-dependent kinds: the real positions measured */
    double decay_min, decay_median, decay_max;             /* |z| per step, over all modes */
    double half_life_min, half_life_median, half_life_max; /* steps, over all modes */
    double channel_half_life_min, channel_half_life_median, channel_half_life_max;
                              /* steps, over channels, each channel's slowest mode */
    int64_t receptive_field;  /* steps this block reads back: its own field (1 for kinds
                                 that read only step t), or MN_FIELD_UNBOUNDED (recurrent,
                                 attention, state-space kinds: every past step) */
    int64_t receptive_field_total; /* through the model's blocks 0..block: 1 + Σ (field − 1),
                                 or MN_FIELD_UNBOUNDED when one of them is unbounded; an
                                 output at step t depends on no input before t − total + 1,
                                 so a task whose answer needs step 0 at the last step T − 1
                                 needs total >= T */
} mn_ssm_stats;

/* Measures block `block` (0 .. blocks − 1) of m. Every block gets its receptive fields;
 * state-space blocks (S4D) also their decays and half-lives (has_decay = 1), the others
 * has_decay = 0. b: a batch for kinds whose decays depend on the input (Mamba), else it
 * may be NULL. half_life_per_channel: the channels' half-lives (channels values), or NULL.
 * MN_E_ARG for a block that does not exist. */
mn_status mn_ssm_stats_measure(mn_model *m, const mn_batch *b, int block, mn_ssm_stats *out,
                               double *half_life_per_channel);

typedef enum { MN_FLOW_HEALTHY, MN_FLOW_VANISHING, MN_FLOW_EXPLODING } mn_flow_verdict;
typedef enum { MN_FIT_GOOD, MN_FIT_UNDER, MN_FIT_OVER } mn_fit_verdict;

typedef struct {
    const double *grad_norm;  /* [T] mean ‖∂L/∂h_t‖ of the first layer, oldest first */
    int T;
    int span;                 /* steps back the task needs (e.g. T-1 for adding) */
    double threshold;         /* horizon threshold (0: 1e-3) */
    int tbptt;                /* chunk length used in training, 0 for full BPTT */
    double train_loss, val_loss, baseline_loss;
    mn_cell_kind cell;
    mn_recurrent_init recurrent_init;
    int chrono;               /* chrono init was used */
    double clip_norm;
    /* 1 when no block reaches every earlier step (no recurrence, state space or attention:
     * a bounded receptive field, mn_model_receptive_field > 0); the cell advice is moot */
    int no_recurrence;
    /* Attention: how many blocks attend, and their heads' mean entropy over the uniform
     * one (mn_attention_stats): near 0 collapsed on single steps, near 1 diffuse */
    int attention_blocks;
    double entropy_ratio;
    /* 1 when the memory through time is a state space's (S4D, Mamba) and no block has a
     * recurrent cell: the advice is about the modes' decay, not cells or gates */
    int state_space;
} mn_verdict_input;

typedef struct {
    mn_flow_verdict flow;
    mn_fit_verdict fit;
    int horizon;
    char flow_reason[400];    /* the measured numbers behind the flow verdict */
    char fit_reason[256];
    char advice[768];         /* what to try next, one sentence per suggestion */
} mn_verdict;

/* What the heads of one attention block look at, measured on a batch (mnemo diagnose):
 * per head, averaged over every real query of every sequence,
 *   distance: Σ_j p_tj·|t − j|, how many steps back (or ahead) its attention reaches;
 *   entropy:  −Σ_j p_tj·ln p_tj in nats, 0 when a query looks at one step, and
 *             uniform_entropy = the mean ln(keys a query sees) when it looks at all alike.
 * The probabilities are recomputed from the block's kept queries, keys and log-sum-exps;
 * the cost is O(T²·d_model) per sequence. */
#define MN_DIAG_MAX_HEADS 64
typedef struct {
    int heads;                           /* measured: min(heads, MN_DIAG_MAX_HEADS) */
    double distance[MN_DIAG_MAX_HEADS];  /* steps */
    double entropy[MN_DIAG_MAX_HEADS];   /* nats */
    double uniform_entropy;              /* nats */
    int queries;                         /* real queries averaged over */
} mn_attention_stats;
/* MN_E_STATE when block `block` has no attention; MN_E_ARG for a block out of range. */
mn_status mn_attention_measure(mn_model *m, const mn_batch *b, int block,
                               mn_attention_stats *out);

const char *mn_flow_name(mn_flow_verdict v);  /* "healthy", "vanishing", "exploding" */
const char *mn_fit_name(mn_fit_verdict v);    /* "good", "underfitting", "overfitting" */
mn_status mn_diagnose_verdict(const mn_verdict_input *in, mn_verdict *out);

/* ------------------------------------------------------------ memory (mnemo memory)
 * What a run of a model at T steps and B sequences holds at its peak, in bytes as the
 * library allocates them (mn_memory_peak counts the same): one training step (forward,
 * backward, Adam) or one forward pass, with one batch of the model's input and targets,
 * in a process whose GEMM scratch starts empty, with the current thread count. An
 * encoder–decoder (encoder_blocks > 0) is counted with a source as long as its target: T
 * steps each. */
typedef struct {
    size_t params;        /* the flat parameter buffer */
    size_t grads;         /* the gradient buffer (the model allocates it for inference too) */
    size_t optimizer;     /* Adam's two moments; 0 for inference */
    size_t activations;   /* every layer's workspace and the model's own, for T·B rows */
    size_t data;          /* one batch: inputs or tokens, targets or labels, lengths */
    size_t workspace;     /* packed W_hh, GEMM scratch, model and layer structs */
    size_t scratch;       /* the part of workspace in process-wide GEMM scratch (with the
                             moment a growing buffer holds old and new); it stays allocated
                             after the run and later runs reuse it */
    size_t total;         /* the peak: params + grads + optimizer + activations + data +
                             workspace */
} mn_memory_estimate;

/* train: 1 for a training step with Adam, 0 for inference. MN_E_ARG for an invalid
 * config, T or B outside [1, 2^24], T·B beyond what one pass can index, or sizes that
 * overflow size_t. */
mn_status mn_memory_estimate_run(const mn_model_config *cfg, int T, int B, int train,
                                 mn_memory_estimate *out);
/* The longest T in [1, max_T] whose run fits in budget bytes at batch B (or the largest B in
 * [1, max_B] at length T); 0 when even 1 does not fit. The answer fits and the next value
 * does not (unless it is the maximum). */
mn_status mn_memory_max_length(const mn_model_config *cfg, int B, int train, size_t budget,
                               int max_T, int *T_out);
mn_status mn_memory_max_batch(const mn_model_config *cfg, int T, int train, size_t budget,
                              int max_B, int *B_out);
/* ------------------------------------------------------------ end memory */

/* ------------------------------------------------------------ lab (mnemo lab)
 * Experiments that check the theory of long-range learning against measurements made on
 * mnemo's own layers, backward passes and trainer. Each states a claim, the value the
 * theory predicts and the value measured, and whether they agree. A setting where the claim
 * cannot be checked (a ratio below float32's range, say) is reported with applies = 0 and
 * a note saying why, never hidden. */

#define MN_LAB_MAX_LIST 16       /* values in a list option */
#define MN_LAB_MAX_NUMBERS 160   /* named numbers in a result */

typedef struct {
    double radius;      /* ρ of W = ρ·Q; 0: the experiment's own (0.9, 1.1, 1; residual 0.8) */
    int length;         /* T; 0: 100 */
    int hidden;         /* H; 0: 32 */
    int tbptt;          /* chunk length k of the tbptt experiment; 0: 10 */
    double forget;      /* forget gate f of lstm-highway and forget-product, in (0, 1); 0:
                         * 0.99; gated-residual: sigmoid of the keep gate's bias */
    double clip;        /* global-norm clipping threshold of exploding; 0: 1 */
    double cut;         /* forget-product: the one small forget value among the held f, in
                         * (0, 1); 0: 0.1 */
    int n_forget_bias;  /* forget-bias: how many values in forget_bias (0: 0, 1, 2, 3, 5) */
    double forget_bias[MN_LAB_MAX_LIST];
    int n_lengths;      /* adding-sweep: how many lengths (0: 25, 50, 100, 200, 400) */
    int lengths[MN_LAB_MAX_LIST];
    int steps;          /* training experiments: optimizer steps per run (sample-complexity:
                         * the budget); 0: the experiment's default */
    int batch;          /* training experiments (and adam-vanishing's one batch): sequences
                         * per step; 0: the experiment's default */
    int depth;          /* residual, prenorm: layers (blocks) L of the deep stack; 0: 24 */
    /* sample-complexity, small-data, layernorm-saturation (training experiments): */
    int seeds;          /* runs per setting, on seeds seed, seed+1, ...; 0: the experiment's
                         * own (sample-complexity 3, small-data 8) */
    double target;      /* sample-complexity: test MSE that counts as reached; 0: 0.05 */
    int train_size;     /* small-data: fixed training sequences, cycled; 0: 256 */
    double scale;       /* layernorm-saturation: factor on the task's inputs; 0: 100 */
    uint64_t seed;      /* weights and data */
    /* Called after each part of a long experiment (adding-sweep: each training run) with
     * one line saying what finished; NULL for none. The library itself never prints. */
    void (*progress)(void *ctx, const char *line);
    void *progress_ctx;
    /* A stop flag as in mn_trainer_set_stop, read by the experiments that train
     * (adding-sweep, sample-complexity, small-data, layernorm-saturation): nonzero ends
     * the run after the current step with MN_E_STOPPED; NULL for none. */
    const volatile sig_atomic_t *stop;
    /* bpe-distance: the text to measure on (any bytes; at most 64 MB); NULL: a generated
     * text of repeated words with brackets and quotes, from seed */
    const char *text;
} mn_lab_options;

typedef struct {
    char name[48];
    double value;
} mn_lab_number;

typedef struct {
    char experiment[32];
    char claim[320];          /* one sentence */
    char quantity[128];       /* what theory and measured are */
    double theory, measured;
    char criterion[128];      /* how they must agree for PASS */
    int applies;              /* 0: the claim cannot be checked here; note says why */
    int pass;                 /* 1: they agree (never with applies = 0) */
    char note[320];
    char report[16384];       /* readable multi-line text: settings and tables */
    int n_numbers;            /* further measured figures, for JSON */
    mn_lab_number numbers[MN_LAB_MAX_NUMBERS];
} mn_lab_result;

/* The experiments, in order, as "vanishing, exploding, ...". */
const char *mn_lab_names(void);
int mn_lab_count(void);
/* Name, one-line summary and the options experiment i reads (0 <= i < mn_lab_count()),
 * the options as the CLI spells them without the dashes: "radius length hidden seed". */
mn_status mn_lab_info(int i, const char **name, const char **summary, const char **options);
void mn_lab_options_init(mn_lab_options *o);   /* every field "use the default", seed 1 */
/* Run one experiment. A FAIL is a measurement, not an error: the status is MN_OK and
 * r->pass is 0. Errors are bad options (MN_E_ARG) or running out of memory; MN_E_STOPPED
 * when o->stop was set (r then holds no verdict). */
mn_status mn_lab_run(const char *name, const mn_lab_options *o, mn_lab_result *r);
/* ------------------------------------------------------------ end lab */

/* ------------------------------------------------------------ plots
 * SVG plot of a gradient-flow diagnosis (mnemo diagnose --plot).
 *
 * Up to four panels stacked on one page:
 *   1. the final gradient norm per time step on a log axis (‖∂L/∂h_t‖, and ‖∂L/∂c_t‖ when
 *      given), with the threshold line (last-step norm × threshold) and the horizon marker;
 *   2. a heatmap of that profile at each snapshot taken during training (log10 colour),
 *      on the same time axis;
 *   3. for gated cells, a histogram of the memory half-life per unit on a log axis;
 *   4. for an attention block, one bar per head of its mean attention distance (steps, on
 *      an axis 0..T-1), each labelled with its entropy as a fraction of the uniform one.
 * Hard values of the gradient norms and half-lives are drawn, never fatal: NaN/Inf leave
 * gaps (grey cells in the heatmap); zeros and norms more than 40 decades below the largest
 * are drawn on a separate "0" level and counted in the legend; long profiles are decimated
 * keeping each bucket's min and max. The attention figures, averages that cannot be NaN or
 * out of range when measured, are checked instead (see the fields). */
typedef struct {
    const char *title;            /* page title, e.g. "lstm, adding T=200"; NULL: none */
    int T;                        /* time steps, >= 1 */
    const double *grad_h;         /* [T] mean ‖∂L/∂h_t‖, oldest step first (final profile) */
    const double *grad_c;         /* [T] ‖∂L/∂c_t‖ for LSTM, or NULL */
    int snapshots;                /* rows of the heatmap (0: no heatmap) */
    const int *snapshot_step;     /* [snapshots] training step of each row, increasing;
                                     NULL: rows are numbered 0, 1, ... */
    const double *heat;           /* [snapshots × T] profile at each snapshot, row-major */
    int units;                    /* H; 0: no half-life histogram (plain RNN) */
    const double *half_life;      /* [units] memory half-life per unit, in steps */
    int horizon;                  /* effective gradient horizon in steps, 0..T-1 (-1: not shown) */
    double threshold;             /* horizon threshold, e.g. 1e-3 (0: no threshold line) */
    /* One attention block's heads, as mn_attention_measure gives them (panel 4). Refused
     * (MN_E_ARG) when heads > 0 and: an array is NULL, a distance is NaN/Inf, negative or
     * past T-1 (beyond 1e-3·T of rounding), an entropy is NaN/Inf or negative (beyond
     * -1e-3 nats), the uniform entropy is NaN/Inf or negative, or the block is negative. */
    int heads;                    /* heads drawn; 0: no attention panel */
    const double *head_distance;  /* [heads] mean attention distance Σ_j p_tj·|t − j|, steps */
    const double *head_entropy;   /* [heads] mean entropy −Σ_j p_tj·ln p_tj, nats */
    double uniform_entropy;       /* nats: mean ln(keys a query sees), attention spread
                                     evenly; 0 (every query sees one key): no fraction shown */
    int attention_block;          /* the block measured (panel title), >= 0 */
} mn_plot_diagnosis;

/* Writes the SVG to `path` atomically (temporary file in the same folder, fsync, rename):
 * on failure `path` is untouched and nothing is left behind. Returns MN_OK, MN_E_ARG for
 * an impossible description, MN_E_IO when the file cannot be written, or MN_E_NOMEM;
 * mn_last_error() says which. */
mn_status mn_plot_diagnosis_svg(const char *path, const mn_plot_diagnosis *d);

/* A line plot of metrics against one shared x (mnemo sweep --plot: a test metric against
 * the sequence length, one line per model, the task's baseline dashed). Every x gets a
 * tick; NaN values leave gaps. Written atomically like mn_plot_diagnosis_svg; MN_E_ARG for
 * an impossible description (no series or points, more than 16 series, x not increasing,
 * x <= 0 on a log axis, a NULL name), MN_E_IO, MN_E_NOMEM. */
typedef struct {
    const char *title;            /* page title; NULL: none */
    const char *x_label, *y_label;
    int log_x;                    /* 1: x on a log10 axis (lengths that double) */
    int points;                   /* P >= 1 x positions, shared by every series */
    const double *x;              /* [P], increasing (and > 0 with log_x) */
    int series;                   /* S in [1, 16] */
    const char *const *names;     /* [S] legend names */
    const double *y;              /* [S×P] row-major: series s at x[i] is y[s·P + i] */
    const int *dashed;            /* [S] 1: a reference drawn dashed in grey; NULL: none */
    double y_min, y_max;          /* a fixed y range (accuracy: 0, 1); both 0: the data's */
} mn_plot_lines;
mn_status mn_plot_lines_svg(const char *path, const mn_plot_lines *p);

/* ------------------------------------------------------------ end plots */

/* ------------------------------------------------------------ arrays (.npy)
 * <npy API: owned by the npy/predict work; keep declarations between these markers> */

/* NumPy .npy arrays of float32, int32 or int64 (numpy's default integer, as lengths often
 * come), rank 0..8, handed out in native (little-endian) byte order and C order. The reader
 * accepts what numpy.load accepts for these dtypes: format versions 1.0, 2.0 and 3.0, either
 * byte order ('<f4', '>f4', '<i8', ...; big-endian data is swapped), C or Fortran order
 * (Fortran-order data is transposed), and any header dict Python's literal syntax allows.
 * It checks everything before use (magic, version, header length, the header, dtype, shape,
 * and that the file is exactly header + data long); anything else is MN_E_INPUT with a
 * message naming the file and the problem. */
#define MN_ARRAY_MAX_DIMS 8

typedef enum { MN_ARRAY_F32, MN_ARRAY_I32, MN_ARRAY_I64 } mn_array_dtype;

typedef struct {
    mn_array_dtype dtype;
    int ndim;
    int64_t shape[MN_ARRAY_MAX_DIMS];
    size_t count;             /* product of the shape (1 for rank 0) */
    void *data;               /* count elements, 64-byte aligned; free with mn_array_free */
} mn_array;

mn_status mn_array_load(const char *path, mn_array *out);
/* The same checks on a file image in memory (label names it in messages; may be NULL). */
mn_status mn_array_parse(const void *bytes, size_t len, const char *label, mn_array *out);
/* Writes format 1.0 (2.0 only if the header needs it), the header laid out as numpy.save
 * does. Atomic: a temporary file in the same folder, fsync, rename; on failure no file is
 * left and an existing file at path is untouched. */
mn_status mn_array_save(const char *path, mn_array_dtype dtype, int ndim,
                        const int64_t *shape, const void *data);
void mn_array_free(mn_array *a);   /* releases data; a zeroed or freed array is fine */

/* A bare recurrent stack (no input stage, no head) run from a PyTorch nn.RNN / nn.LSTM /
 * nn.GRU state dict, as `mnemo predict` does. */
typedef struct {
    mn_cell_kind cell;
    int input_size;           /* I */
    int hidden_size;          /* H */
    int num_layers;           /* 1..64 */
    int bidirectional;        /* 0 or 1: output width 2H (2P with a projection) */
    int proj_size;            /* LSTM only: P in [1, H), h = W_hr·(o⊙tanh c) is P wide (and
                                 the output, and the next layer's input); 0: none */
    int no_bias;              /* 1: the module has no biases (bias=False) */
} mn_stack_config;

typedef struct mn_stack mn_stack;

/* Loads a safetensors file holding weight_ih_l{k}, weight_hh_l{k}, bias_ih_l{k},
 * bias_hh_l{k} (none with no_bias), weight_hr_l{k} (with proj_size) and ..._reverse with
 * bidirectional, for k < num_layers, all F32 with PyTorch's shapes. The names may share one prefix ending in '.', such as "rnn." in mnemo
 * checkpoints or "lstm." in a larger module's state dict: tensors outside that prefix
 * belong to other modules and are ignored; any other tensor under it is an error, as is a
 * missing tensor or a shape that does not fit cfg (the message says what the file holds). */
mn_status mn_stack_load_torch(const char *path, const mn_stack_config *cfg, mn_stack **out);
/* What stack a state dict holds, read from its tensor shapes (proj_size from weight_hr_l0,
 * no_bias from the absence of bias_ih_l0) and, for mnemo checkpoints, the cell named in the
 * metadata (a plain state dict cannot tell rnn from rnn-relu, so it reports rnn).
 * MN_E_INPUT when the file holds no recurrent stack. */
mn_status mn_stack_probe_torch(const char *path, mn_stack_config *found);
void mn_stack_free(mn_stack *s);
const mn_stack_config *mn_stack_get_config(const mn_stack *s);
int mn_stack_output_size(const mn_stack *s);   /* H (or P), twice that when bidirectional */
/* y[T,B,output_size] from x[T,B,I], every sequence from a zero state. lengths: [B] with
 * values in [1, T] (positions past a length are padding: output 0, state carried, and
 * the reverse direction runs within each length, as with packed sequences), or NULL.
 * Inference only: the layers keep no activations for a backward pass, and run the time
 * loop in chunks of steps, so besides x and y a pass holds about two [T,B,output_size]
 * buffers between layers (one with two layers, none with one) and one chunk's gates. */
mn_status mn_stack_forward(mn_stack *s, const float *x, int T, int B, const int32_t *lengths,
                           float *y);
/* Streaming through a stack (unidirectional only; MN_E_ARG for a bidirectional one):
 * y_t[B,output_size] from x_t[B,I], each layer's state carried from the previous step.
 * The first step after loading, after mn_stack_stream_reset or after an mn_stack_forward
 * (which replaces the state) starts new sequences of B; B stays until then (MN_E_ARG).
 * Steps t = 0..T-1 give mn_stack_forward's rows t (lengths NULL) to float rounding. A
 * failed step ends the stream: the next step starts new sequences. */
mn_status mn_stack_step(mn_stack *s, const float *x_t, int B, float *y_t);
void mn_stack_stream_reset(mn_stack *s);
/* What loading such a stack and one mn_stack_forward over T steps of B sequences hold at
 * their peak, counted as mn_memory_estimate_run counts a model's (grads and optimizer 0;
 * data: the input x; the output y, the caller's, is not counted). MN_E_ARG as
 * mn_stack_load_torch refuses cfg, or for T, B as mn_memory_estimate_run. */
mn_status mn_memory_estimate_stack(const mn_stack_config *cfg, int T, int B,
                                   mn_memory_estimate *out);
/* ------------------------------------------------------------ end arrays */

/* ------------------------------------------------------------- tokenizer */

/* A byte-level BPE tokenizer (byte-pair encoding, Sennrich et al. 2016, "Neural Machine
 * Translation of Rare Words with Subword Units"; in GPT-2's byte-level form, Radford et al.
 * 2019, "Language Models are Unsupervised Multitask Learners"). Every byte string, UTF-8
 * or not, encodes to ids and decodes back to exactly the same bytes.
 *
 * Text is first cut into pieces (runs of letters, of digits, of spaces, of other
 * characters; a single space leads the word after it, as in GPT-2; the exact rule, with
 * the classes of non-ASCII characters, is in src/data/bpe.h), then each piece is merged
 * from its bytes. Ids: a trained tokenizer numbers byte b as id b and the token of merge k
 * as 256 + k; a loaded file keeps its own ids. */
typedef struct mn_tokenizer mn_tokenizer;

/* Trains on n_texts buffers texts[i][0..lengths[i]) (any bytes), or on the files paths[i]
 * (read in 16 MB blocks), until the vocabulary has vocab_size tokens (256 to 2^24) or no
 * pair of adjacent tokens occurs at least twice in the text (then fewer). Each step merges
 * the pair that occurs most often, counted over the pieces (a pair repeated in a row, as
 * in "aaa", counts at each position); ties go to the pair of smaller ids (left, then
 * right). MN_E_ARG for a vocab_size out of range; MN_E_INPUT for an unreadable file, or
 * one with a single piece (a run without a break) longer than the 16 MB block. Memory:
 * about the distinct pieces' bytes times 20, plus one block. */
mn_status mn_tokenizer_train(const char *const *texts, const size_t *lengths, int n_texts,
                             int vocab_size, mn_tokenizer **out);
mn_status mn_tokenizer_train_files(const char *const *paths, int n_paths, int vocab_size,
                                   mn_tokenizer **out);
/* Reads a Hugging Face tokenizer.json with a BPE model and the ByteLevel pre-tokenizer
 * (GPT-2's, RoBERTa's, or one mn_tokenizer_save wrote): merges as "a b" strings or
 * ["a", "b"] pairs. MN_E_INPUT, naming the file and the problem, for anything else: not
 * JSON, another model or pre-tokenizer, ids not 0..n-1 each once, a token that is not
 * byte-level text, a missing single byte, a merge of unknown tokens or whose result is not
 * in the vocab, a repeated merge. Added tokens are not treated specially (they encode as
 * text). Encoding follows mnemo's pre-tokenizer, which differs from GPT-2's regular
 * expression in its contraction rule and in runs of spaces: ids of a loaded GPT-2 file
 * then match its own encoder's for most text, but not all. */
mn_status mn_tokenizer_load(const char *path, mn_tokenizer **out);
/* Writes tokenizer.json (Hugging Face's format, read by tokenizers.Tokenizer.from_file)
 * atomically: path holds the old file or the whole new one. MN_E_IO when writing fails. */
mn_status mn_tokenizer_save(const mn_tokenizer *tok, const char *path);
/* ids[0..*n_ids) from bytes[0..n): at most n ids, so cap >= n always suffices (MN_E_ARG
 * when cap < n); with ids NULL only counts them. Keeps scratch in tok: not for two threads
 * at once. */
mn_status mn_tokenizer_encode(mn_tokenizer *tok, const void *bytes, size_t n, int32_t *ids,
                              size_t cap, size_t *n_ids);
/* The bytes of ids[0..n) into out[0..*n_bytes); with out NULL only sets *n_bytes.
 * MN_E_ARG for an id outside 0..vocab_size-1, or when cap < the bytes needed. */
mn_status mn_tokenizer_decode(const mn_tokenizer *tok, const int32_t *ids, size_t n, void *out,
                              size_t cap, size_t *n_bytes);
int mn_tokenizer_vocab_size(const mn_tokenizer *tok);
int mn_tokenizer_merge_count(const mn_tokenizer *tok);
void mn_tokenizer_free(mn_tokenizer *tok);

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif

#ifdef __cplusplus
}
#endif
#endif
