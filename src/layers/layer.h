/* A layer is an operator on a whole sequence:
 *   forward (x[T,B,in])  -> y[T,B,out], storing what backward needs;
 *   backward(dy[T,B,out]) -> dx[T,B,in] (accumulated, +=) and parameter gradients (+=).
 * The model, trainer, checkpoint and diagnostics code call layers only through this table,
 * so nothing outside a layer's own file switches on its kind. */
#ifndef MN_LAYER_H
#define MN_LAYER_H

#include "core.h"

#define MN_NAME_MAX 64
#define MN_MAX_DIMS 4

/* The optimizer's parameter groups (mn_param_spec.group): a tensor outside the default
 * group trains with its group's learning rate and weight decay (optim.c). */
enum {
    MN_GROUP_DEFAULT = 0,
    /* a state space's A and Δ (S4D's kernel.log_dt, log_A_real, A_imag): the train
     * config's ssm_lr and no weight decay, as the S4 repository trains them */
    MN_GROUP_SSM = 1,
    /* the learning rate of the rest and no weight decay: Mamba's A_log and D, which
     * mamba_simple.py marks _no_weight_decay (decay would pull A = −exp(A_log) towards −1
     * and the skip D towards 0, neither of which is a smaller model) */
    MN_GROUP_NO_DECAY = 2,
    MN_GROUP_COUNT
};

/* One named parameter tensor: a view into the model's flat buffers. */
typedef struct {
    char name[MN_NAME_MAX];     /* PyTorch state-dict name, without the module prefix */
    int ndim;
    int shape[MN_MAX_DIMS];
    size_t offset;              /* in floats, from the layer's first parameter */
    size_t size;                /* elements */
    int group;                  /* MN_GROUP_*: the optimizer's group (default 0) */
} mn_param_spec;

/* a bidirectional layer holds both directions' specs: 2 × 9 for a layer-normalized LSTM */
#define MN_MAX_SPECS 32

/* Initialization choices a layer may look at. */
typedef struct {
    mn_recurrent_init recurrent_init;
    float gain;
    float forget_bias;
    int chrono_tmax;
} mn_init_config;

/* Where a layer's recurrent state lives (NULL pointers for stateless layers); used by
 * diagnostics and tests. */
typedef struct mn_state_view {
    int B, H;             /* H: width of h */
    int Hc;               /* width of c: H, or the hidden size of an LSTM with a projection
                             (whose h is its projection's width) */
    float *h0, *c0;       /* initial state [B,H] ([B,Hc] for c) for the next forward */
    float *hT, *cT;       /* final state [B,H] ([B,Hc]) of the last forward */
} mn_state_view;

/* A recurrent layer's internals after its last forward, for diagnostics (a bidirectional
 * layer shows its forward direction). Valid until the next forward. */
typedef struct mn_recurrent_view {
    int gates, H, T, B;
    int P;                /* width of h (hs rows, W_hh's columns): H, or an LSTM's projection
                             size, whose h = W_hr·(o⊙tanh c) */
    int keep_gate, tanh_gate, candidate_block;  /* see mn_cell_kernel */
    unsigned sigmoid_gates;
    int state_size;       /* P, or P + H with a cell state */
    const float *act;     /* [T,B,gates·H] activated gates */
    const float *hs, *cs; /* [T+1,B,P] and [T+1,B,H] states; hs[0] the initial state; cs NULL
                             without c */
    const float *W_hh;    /* [gates·H, P] */
    const float *W_hr;    /* [P, H] with a projection, else NULL */
} mn_recurrent_view;

/* An attention layer's internals after its last forward, for diagnostics. Valid until the
 * next forward. */
typedef struct mn_attention_view {
    int T, B, H, dh, causal;
    const float *qkv;     /* [T,B,3·H·dh]: queries and keys (rotated when RoPE), values */
    const float *lse;     /* [B,H,T]: log-sum-exp of each query's scaled scores */
} mn_attention_view;

typedef struct mn_layer mn_layer;

typedef struct {
    const char *kind;
    void (*init)(mn_layer *l, mn_rng *rng, const mn_init_config *cfg);
    /* lengths: [B], every value in [1, T], or NULL for all T. */
    mn_status (*forward)(mn_layer *l, const float *x, float *y, int T, int B,
                         const int32_t *lengths);
    /* Called after forward with the same T, B, lengths. dx may be NULL (input needs no
     * gradient); otherwise dx is accumulated. */
    mn_status (*backward)(mn_layer *l, const float *dy, float *dx, int T, int B,
                          const int32_t *lengths);
    /* Recurrent state: the next forward starts from zero ... (this and the two below may
     * be NULL for a stateless layer; call them through mn_layer_reset, _state, _bytes) */
    void (*reset_state)(mn_layer *l);
    /* ... or from the final state of the last forward, with no gradient path to it
     * (truncated BPTT, streaming inference). NULL for layers without state. */
    mn_status (*carry_state)(mn_layer *l);
    /* Where the recurrent state lives: fills one view per direction and returns how
     * many (0 for stateless layers, 2 for bidirectional: [0] forward, [1] reverse). */
    int (*state)(mn_layer *l, struct mn_state_view views[2]);
    /* Bytes the layer holds for activations at its current capacity. */
    size_t (*activation_bytes)(const mn_layer *l);
    void (*destroy)(mn_layer *l);
    /* Diagnostics (NULL for layers without a recurrence). inspect fills the view of the
     * last forward; returns 0 when there is none. */
    int (*inspect)(mn_layer *l, mn_recurrent_view *v);
    /* The transposed Jacobian of step t of sequence b, applied in place:
     * (u_h, u_c) = (∂/∂h_{t+1}, ∂/∂c_{t+1}) → (∂/∂h_t, ∂/∂c_t) along h_{t+1} = f(h_t, c_t)
     * of the last forward (hs indices; u_c NULL without c). Uses the backward workspace,
     * so call it between a forward and the next forward, never inside a training step. */
    void (*step_vjp)(mn_layer *l, int t, int b, float *u_h, float *u_c);
    /* Training or inference for the passes that follow, and the seed of this pass's noise
     * (dropout): the same seed gives the same masks on any thread count. NULL for layers
     * that behave the same in both modes. */
    void (*set_mode)(mn_layer *l, int training, uint64_t seed);
    /* Attention layers: fill the view of the last forward; 0 when there is none (NULL for
     * every other kind). */
    int (*attention)(mn_layer *l, mn_attention_view *v);
    /* Cross-attention: the memory mem [S,B,in] (an encoder's output; mem_lengths [B] its
     * real steps, or NULL for all S) that the next forward attends to; its backward adds
     * ∂L/∂mem into dmem [S,B,in] when dmem is non-NULL. Both must stay valid until that
     * backward. NULL for every other kind. */
    mn_status (*set_memory)(mn_layer *l, const float *mem, int S, int B,
                            const int32_t *mem_lengths, float *dmem);
    /* Streaming inference, one step: y_t[B,out] from x_t[B,in] and the layer's own
     * streaming state. t counts the steps since the stream began: t = 0 starts a new one
     * (the state is reset and B may change), and positional layers read t. Steps
     * t = 0..T-1 of one batch give the rows of a forward over those T steps (lengths NULL,
     * inference mode: dropout off). A forward in between may clobber the state of a
     * recurrent kind (the model's stream refuses to go on then). NULL: the kind cannot
     * stream (it reads later steps, or an encoder's memory); call it through
     * mn_layer_step. */
    mn_status (*step)(mn_layer *l, const float *x_t, float *y_t, int B, int t);
} mn_layer_ops;

struct mn_layer {
    const mn_layer_ops *ops;
    int in_size, out_size;
    size_t param_count;
    int nspecs;
    mn_param_spec specs[MN_MAX_SPECS];
    float *params, *grads;      /* this layer's slices of the model's flat buffers */
    /* Diagnostics: when non-NULL, recurrent backward adds the batch-mean of ‖∂L/∂h_t‖
     * for each step t into probe_dh[t] (length >= T); probe_dc likewise for LSTM cells. */
    double *probe_dh, *probe_dc;
    /* 1: no backward, step_vjp or inspect follows the forwards (inference), so a layer may
     * keep only what its output and final state need; such a backward is MN_E_STATE. Set
     * by the layer's owner (mn_stack, mn_model_set_inference); wrappers pass it on, and
     * kinds that keep nothing extra ignore it. */
    int inference;
};

/* What a layer allocates and multiplies in one pass, in order, for the memory estimate
 * (src/diag/memory_estimate.c replays it). A kind writes it with the same layout
 * functions its reserve uses, so the estimate cannot drift from the allocation. */
#define MN_PLAN_MAX 24
typedef struct {
    int n, overflow;
    struct {
        unsigned char backward;   /* 0: during forward; 1: during backward */
        unsigned char gemm;       /* 0: an allocation of `bytes`; 1: an mn_sgemm M×N×K */
        unsigned char dx;         /* a product only made when the input needs a gradient */
        size_t bytes, M, N, K;
    } ev[MN_PLAN_MAX];
} mn_memory_plan;
void mn_plan_alloc(mn_memory_plan *p, int backward, size_t bytes);
void mn_plan_gemm(mn_memory_plan *p, int backward, int dx, size_t M, size_t N, size_t K);

/* The T·B rows of a pass, refused (MN_E_ARG, with a message) when T or B is negative or
 * the rows are more than a GEMM takes (INT_MAX) or than size_t counts at the layer's
 * widths. Every layer checks its T, B with this before it touches memory. */
mn_status mn_layer_rows(const mn_layer *l, int T, int B, size_t *rows);

/* Adds a parameter spec and returns its offset (floats); _in puts it in an optimizer group
 * (MN_GROUP_*), the plain one in the default group. */
size_t mn_layer_add_param(mn_layer *l, const char *name, int ndim, const int *shape);
size_t mn_layer_add_param_in(mn_layer *l, int group, const char *name, int ndim,
                             const int *shape);

/* Constructors. Each returns NULL and sets the error on failure. */
mn_layer *mn_linear_create(int in, int out);                     /* weight [out,in], bias [out] */
/* The token embedding is the model's input stage, not a stack layer: its input is int32. */
mn_layer *mn_embedding_create(int vocab, int dim);              /* weight [vocab,dim] */
void mn_embedding_forward(mn_layer *l, const int32_t *tokens, float *y, size_t n);
void mn_embedding_backward(mn_layer *l, const int32_t *tokens, const float *dy, size_t n);
/* A recurrent layer: suffix is appended to parameter names ("_l0", "_l1_reverse").
 * With at least MN_ROWS_PER_THREAD batch rows per thread, each thread runs the whole time
 * loop on its own rows (recurrent.c; the memory estimate follows the same rule). */
#define MN_ROWS_PER_THREAD 4
mn_layer *mn_recurrent_create(mn_cell_kind cell, int in, int hidden, const char *suffix);
/* The steps of one chunk of a recurrent layer's inference pass over T steps of B
 * sequences (the memory estimate replays the same chunks). */
int mn_recurrent_inference_steps(int T, int B);
/* What a recurrent layer may have beyond PyTorch's defaults (zeroed: none). */
typedef struct {
    int proj;       /* > 0, LSTM only, below hidden: h = W_hr·(o⊙tanh c) of this width, with
                       weight_hr [proj, hidden] and weight_hh [4·hidden, proj] (nn.LSTM's
                       proj_size) */
    int no_bias;    /* 1: no bias_ih, bias_hh (bias=False) */
} mn_recurrent_opts;
/* NULL opts: none. NULL with the error set for a projection on another cell, or one not
 * below hidden. */
mn_layer *mn_recurrent_create_opts(mn_cell_kind cell, int in, int hidden,
                                   const mn_recurrent_opts *opts, const char *suffix);
/* Bidirectional wrapper: runs fwd on each sequence and bwd on it reversed within its
 * own length, output [T,B,2H] = concat(fwd, bwd). Takes ownership of both. */
mn_layer *mn_bidirectional_create(mn_layer *fwd, mn_layer *bwd);
/* The wrapper's own allocation for the memory estimate (its directions plan their own). */
void mn_bidirectional_plan(int in, int hidden, size_t rows, mn_memory_plan *p);
/* Layer k of a stack, with PyTorch's parameter names: a recurrent layer ("_l{k}"), or with
 * `bidirectional` the pair ("_l{k}", "_l{k}_reverse") in the wrapper. NULL on failure. */
mn_layer *mn_stack_layer_create(mn_cell_kind cell, int in, int hidden, int k, int bidirectional);
mn_layer *mn_stack_layer_create_opts(mn_cell_kind cell, int in, int hidden, int k,
                                     int bidirectional, const mn_recurrent_opts *opts);


/* Reverse each sequence within its own length: out[t,b] = in[len_b-1-t, b] for t < len_b;
 * padding rows are copied unchanged. in and out must not overlap. */
void mn_reverse_sequences(const float *in, float *out, int T, int B, int D,
                          const int32_t *lengths);

void mn_layer_destroy(mn_layer *l);

/* What every recurrent layer does with its states hs [T+1,B,H] and cs [T+1,B,Hc] (hs[0]
 * the initial state; cs NULL without a cell state) of the last forward over T steps of B
 * sequences: copy the final ones into the carried initial state *h0, *c0 (grown in one
 * buffer of *cap bytes; MN_E_NOMEM reported, never replaced by zeros), and describe them. */
mn_status mn_recurrence_carry(const float *hs, const float *cs, int T, int B, int H, int Hc,
                              float **h0, float **c0, size_t *cap);
int mn_recurrence_view(const float *hs, const float *cs, int T, int B, int H, int Hc,
                       mn_state_view v[2]);
/* The optional ops, with what a stateless layer means: nothing to reset, no state views,
 * no activations held. */
void mn_layer_reset(mn_layer *l);
int mn_layer_state(mn_layer *l, mn_state_view v[2]);
size_t mn_layer_bytes(const mn_layer *l);
/* The step op (MN_E_ARG naming the kind when it has none; B and t checked). */
mn_status mn_layer_step(mn_layer *l, const float *x_t, float *y_t, int B, int t);
/* Step ops for the kinds that need nothing of their own: a position-wise layer's step is
 * its forward over one step; a recurrent layer's is its forward over one step from the
 * state its last step ended in (carry_state), from zero at t = 0. */
mn_status mn_step_by_forward(mn_layer *l, const float *x_t, float *y_t, int B, int t);
mn_status mn_step_by_carry(mn_layer *l, const float *x_t, float *y_t, int B, int t);

#endif
