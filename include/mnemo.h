/* mnemo — learning long-range dependencies in sequences.
 *
 * This header is the whole public API. Handles are opaque; every function that can fail
 * returns an mn_status, and mn_last_error() says what went wrong in words a person can act
 * on. The library never exits and never prints; the CLI decides what to show.
 *
 * Data layout: sequences are time-major [T, B, D] float32, contiguous. A batch may carry
 * lengths[B]; positions at or past a sequence's length are padding. Tokens are int32 [T, B].
 */
#ifndef MNEMO_H
#define MNEMO_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MNEMO_VERSION "0.1.0"

typedef enum {
    MN_OK = 0,
    MN_E_ARG,      /* an impossible option or argument (caller's mistake) */
    MN_E_INPUT,    /* malformed or unreadable input file or data */
    MN_E_IO,       /* a write or system call failed */
    MN_E_NOMEM,    /* out of memory */
    MN_E_NUMERIC,  /* NaN or Inf appeared in training */
    MN_E_STATE     /* a call made in the wrong order */
} mn_status;

/* The message for the last failure on this thread ("" when none). */
const char *mn_last_error(void);
const char *mn_version(void);

/* Threads used by the library's parallel loops (default: all cores). */
void mn_set_threads(int n);
int mn_get_threads(void);

/* Bytes the library currently holds and the most it has held since the last reset. */
size_t mn_memory_in_use(void);
size_t mn_memory_peak(void);
void mn_memory_reset_peak(void);

/* ---------------------------------------------------------------- models */

typedef enum { MN_RNN_TANH, MN_RNN_RELU, MN_LSTM, MN_GRU } mn_cell_kind;
typedef enum { MN_INIT_UNIFORM, MN_INIT_ORTHOGONAL, MN_INIT_IDENTITY } mn_recurrent_init;
typedef enum { MN_OUTPUT_LAST, MN_OUTPUT_EVERY } mn_output_mode;
typedef enum { MN_LOSS_MSE, MN_LOSS_CE } mn_loss_kind;

typedef struct {
    mn_cell_kind cell;
    int input_size;          /* features per step for dense input; 0 with tokens */
    int vocab_size;          /* > 0: inputs are tokens read through an embedding */
    int embed_size;          /* embedding width (0: same as hidden_size) */
    int hidden_size;
    int num_layers;
    int bidirectional;       /* 0 or 1 */
    int output_size;         /* head width; number of classes for cross-entropy */
    mn_output_mode output;   /* head at the last real step, or at every step */
    mn_loss_kind loss;
    mn_recurrent_init recurrent_init; /* W_hh: U(±1/√H) (PyTorch), orthogonal, identity */
    float init_gain;         /* gain for orthogonal / identity recurrent init */
    float forget_bias;       /* LSTM forget-gate bias (b_ih + b_hh sum), default 1.0 */
    int chrono_tmax;         /* > 0: chrono init, b_f ~ log U[1, T_max-1], b_i = -b_f */
} mn_model_config;

typedef struct mn_model mn_model;

void mn_model_config_init(mn_model_config *cfg);   /* a 1-layer LSTM, hidden 128 */
mn_status mn_cell_parse(const char *name, mn_cell_kind *out); /* rnn, rnn-relu, lstm, gru */
const char *mn_cell_name(mn_cell_kind cell);

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
    int32_t *labels;        /* CE: [B] (last) or [T,B] (every); -1 ignores a position */
} mn_batch;

/* Forward pass on a whole batch from zero state. The model's output is
 * [B,O] (last) or [T,B,O] (every); logits for cross-entropy. */
mn_status mn_model_forward(mn_model *m, const mn_batch *b, const float **output);
/* Mean loss of the batch (padding and ignored labels excluded). */
mn_status mn_model_loss(mn_model *m, const mn_batch *b, double *loss);

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
} mn_task_info;

typedef struct mn_task mn_task;

const char *mn_task_names(void);  /* "adding, adding-1997, copy" */
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

/* ---------------------------------------------------------------- training */

typedef enum { MN_OPT_ADAM, MN_OPT_ADAMW, MN_OPT_SGD } mn_optimizer_kind;
typedef enum { MN_SCHED_CONSTANT, MN_SCHED_COSINE } mn_schedule_kind;

typedef struct {
    int steps;                /* optimizer steps (one batch each) */
    int batch_size;
    mn_optimizer_kind optimizer;
    float lr, beta1, beta2, eps, weight_decay, momentum;
    mn_schedule_kind schedule;
    int warmup_steps;         /* linear warmup before the schedule */
    float min_lr_ratio;       /* cosine floor as a fraction of lr */
    float clip_norm;          /* > 0: rescale gradients to this global norm */
    float clip_value;         /* > 0: clamp each gradient to ±clip_value */
    int tbptt;                /* > 0: truncated BPTT with chunks of this length */
    uint64_t seed;            /* training data stream; evaluation uses another stream */
    int eval_size;            /* held-out sequences per evaluation */
} mn_train_config;

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
    double accuracy;          /* -1 when the task has no accuracy */
    int sequences;
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
/* Evaluate any model on a task's held-out stream (eval command). */
mn_status mn_evaluate(mn_model *m, mn_task *task, int sequences, int batch_size,
                      mn_eval_stats *stats);

/* ------------------------------------------------------------------- bench */

typedef struct {
    mn_cell_kind cell;
    int T, B, input_size, hidden_size, num_layers, bidirectional;
    int train;                /* 1: forward + backward + Adam; 0: forward only */
    int warmup, iterations;
    uint64_t seed;
} mn_bench_config;

typedef struct {
    double ms_per_step, tokens_per_s, gflops;  /* gflops: useful FLOPs per second / 1e9 */
    double flops_per_step;
    size_t peak_bytes;        /* most library memory held during the run */
    size_t model_bytes;       /* params + grads + optimizer state + stored activations */
} mn_bench_result;

mn_status mn_bench_run(const mn_bench_config *cfg, mn_bench_result *res);

#ifdef __cplusplus
}
#endif
#endif
