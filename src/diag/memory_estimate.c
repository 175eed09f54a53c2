/* mnemo memory: the bytes a run of a model at (T, B) holds at its peak, and the longest T
 * (or largest B) that fits a budget.
 *
 * The estimate replays the allocations a run makes, in their order, on a ledger that
 * counts bytes the way mn_alloc does (a 64-byte header, rounded up to 64). A formula per
 * role would miss what decides the peak: the process-wide GEMM scratch grows by
 * allocating its new block before freeing the old one, so for a moment both are held, and
 * which growth comes last depends on the order of the GEMMs. The replay mirrors
 * model.c (reserve, mn_model_run), seq2seq.c (the encoder's buffers), recurrent.c and
 * bidirectional.c (reserve, forward, backward), gemm.c (mn_pack_b, mn_sgemm,
 * mn_sgemm_packed), optim.c, task.c (grow) and train.c; a change to their allocations must
 * be mirrored here (tests/test_memory.c and tests/test_seq2seq.c compare this estimate
 * with the measured peak). */
#include "blocks.h"
#include "cell.h"
#include "norm.h"
#include "gemm.h"
#include "model.h"
#include "optim.h"
#include "registry.h"
#include "stack.h"
#include "task.h"

#include <limits.h>
#include <string.h>

/* Limits of one run, as the library enforces them: mn_model_loss_items bounds T and B,
 * and the layers refuse more than INT_MAX rows in a pass (mn_layer_rows). */
#define MAX_T (1 << 24)
#define MAX_B (1 << 24)
#define MAX_ROWS ((size_t)INT_MAX)

/* gemm.c's blocking: KC columns of A per packed block, MC_PANELS·MR rows. */
#define GEMM_KC 256
#define GEMM_MC_PANELS 8

/* Private structs of other files, approximately: the recurrent and bidirectional layers
 * and the trainer add a few pointers and sizes to what the public headers show. */
#define RECURRENT_EXTRA 432
#define BIDIR_EXTRA 96
#define LINEAR_EXTRA 32
#define BLOCK_EXTRA 96
#define TRAINER_EXTRA 32
#define STACK_EXTRA 592     /* stack.c's struct mn_stack */

enum { R_PARAMS, R_GRADS, R_OPT, R_ACT, R_DATA, R_WORK, R_SCRATCH, NROLES };

typedef struct {
    size_t live, peak, held[NROLES];
    int overflow;              /* a size did not fit in size_t */
    int mr, nr, threads;       /* the GEMM kernel's tile and the threads it may use */
    size_t b_cap;              /* gemm.c's b_scratch: bytes requested by its last growth */
    int a_count;               /* gemm.c's a_scratch blocks allocated so far */
} ledger;

/* ------------------------------------------------------------ checked sizes */

static size_t mul(ledger *g, size_t a, size_t b) {
    size_t r;
    if (!mn_mul_size(a, b, &r)) { g->overflow = 1; return 0; }
    return r;
}

static size_t add(ledger *g, size_t a, size_t b) {
    if (a > SIZE_MAX - b) { g->overflow = 1; return 0; }
    return a + b;
}

static size_t mul3(ledger *g, size_t a, size_t b, size_t c) { return mul(g, mul(g, a, b), c); }

/* ----------------------------------------------------------------- ledger */

/* What mn_alloc takes from the system for a request: see core.c. */
static size_t block(ledger *g, size_t bytes) {
    return add(g, bytes, 64 + 63) & ~(size_t)63;
}

static void take(ledger *g, int role, size_t bytes) {
    size_t b = block(g, bytes);
    g->held[role] = add(g, g->held[role], b);
    g->live = add(g, g->live, b);
    if (g->live > g->peak) g->peak = g->live;
}

static void drop(ledger *g, int role, size_t bytes) {
    size_t b = block(g, bytes);
    g->held[role] -= b;
    g->live -= b;
}

static size_t floats(ledger *g, size_t n) { return mul(g, n, sizeof(float)); }

/* ------------------------------------------------------------------- GEMM */

static void gemm_shape(ledger *g) {
    const char *k = mn_cpu_kernel();
    /* the tiles of gemm.c's kernel table */
    if (strcmp(k, "avx512") == 0) { g->mr = 8; g->nr = 32; }
    else if (strcmp(k, "avx2") == 0) { g->mr = 6; g->nr = 16; }
    else { g->mr = 4; g->nr = 8; }
    g->threads = MN_MIN(mn_get_threads(), MN_GEMM_MAX_THREADS);
    if (g->threads < 1) g->threads = 1;
}

static size_t ceil_div(size_t a, size_t b) { return (a + b - 1) / b; }

/* Bytes of op(B) [K,N] packed in panels of nr columns (mn_pack_b). */
static size_t packed_bytes(ledger *g, size_t K, size_t N) {
    return floats(g, mul3(g, ceil_div(N, (size_t)g->nr), (size_t)g->nr, K ? K : 1));
}

/* Each thread that computes part of a product keeps its own A scratch (one per OpenMP
 * thread number in gemm.c); `used` threads have touched it so far. */
static void sim_threads(ledger *g, size_t used) {
    size_t mc = (size_t)GEMM_MC_PANELS * g->mr;
    for (; (size_t)g->a_count < used; g->a_count++)
        take(g, R_SCRATCH, floats(g, mc * GEMM_KC));
}

/* mn_sgemm_packed: rows split in whole MR tiles, then panels, among the threads. */
static void sim_packed(ledger *g, size_t M, size_t N, size_t K) {
    if (!M || !N) return;
    double flops = 2.0 * (double)M * (double)N * (double)K;
    size_t threads = flops < MN_GEMM_PARALLEL_FLOPS ? 1 : (size_t)g->threads;
    size_t rsplit = MN_MIN(threads, ceil_div(M, (size_t)g->mr));
    size_t csplit = MN_MAX(1, MN_MIN(ceil_div(N, (size_t)g->nr), threads / rsplit));
    sim_threads(g, rsplit * csplit);
}

/* A recurrent time loop: with MN_ROWS_PER_THREAD rows per thread or more, each thread
 * multiplies its own rows (recurrent.c); otherwise one product per step for the batch. */
static void sim_step(ledger *g, size_t B, size_t N, size_t K) {
    size_t row_threads = MN_MIN((size_t)g->threads, B / MN_ROWS_PER_THREAD);
    if (row_threads > 1) sim_threads(g, row_threads);
    else sim_packed(g, B, N, K);
}

/* mn_sgemm: small products take the reference loop; the others pack op(B) into the shared
 * scratch, which grows by allocating the new block before freeing the old one. */
static void sim_sgemm(ledger *g, size_t M, size_t N, size_t K) {
    if (!M || !N) return;
    if (M < 4 && N * K < 4096) return;
    size_t need = packed_bytes(g, K, N);
    if (need > g->b_cap) {
        take(g, R_SCRATCH, need);
        if (g->b_cap) drop(g, R_SCRATCH, g->b_cap);
        g->b_cap = need;
    }
    sim_packed(g, M, N, K);
}

/* ------------------------------------------------------------------ layers */

/* One block as mn_model_create builds it: a recurrent kind (one or two directions, whose
 * time loop this file replays) or a kind that writes its own plan; optionally wrapped in
 * a residual/norm/dropout block. */
typedef struct {
    const mn_cell_kernel *cell;   /* NULL: the kind's plan */
    size_t in, H, GH, dirs, out, params;
    size_t P;                     /* width of h: H, or an LSTM's projection */
    int proj, no_bias;
    mn_memory_plan plan;          /* the kind's own, or for the norm of a wrapped block */
    int wrapped;
    mn_block_wrap wrap;
    mn_memory_plan wrap_fwd, wrap_bwd, norm;
} block_shape;

typedef struct {
    const mn_model_config *c;
    size_t T, B, rows, D, O, in0;
    int L, E, train;             /* E: encoder blocks (their source has T steps too) */
    block_shape blk[MN_MAX_BLOCKS];
} shape;

/* Features entering block l (l = L: the head's input). */
static size_t layer_in(const shape *s, int l) { return l == s->L ? s->D : s->blk[l].in; }

/* recurrent.c reserve(): gates, aux (GRU), states with the initial row, the projection's
 * input and its gradient row (proj), one step's product, the running gradients and
 * step_vjp's row. */
static size_t recurrent_ws(ledger *g, const shape *s, const block_shape *k) {
    size_t H = k->H, GH = k->GH, P = k->P, rows = s->rows, B = s->B;
    size_t states = add(g, rows, B);
    size_t n = mul(g, rows, GH);
    if (k->cell->split_recurrent) n = add(g, n, mul(g, rows, H));  /* GRU: aux with dgh */
    n = add(g, n, mul(g, states, P));
    if (k->cell->has_cell) n = add(g, n, mul(g, states, H));
    if (k->proj) n = add(g, n, mul(g, add(g, rows, B), H));
    n = add(g, n, add(g, mul(g, B, GH), add(g, mul(g, B, P), mul(g, B, H))));
    n = add(g, n, mul(g, 2, GH));
    return floats(g, n);
}

/* recurrent.c reserve_grads(): the gate gradients (and ∂L/∂h_t with a projection), taken
 * when backward starts. */
static size_t recurrent_grads_ws(ledger *g, const shape *s, const block_shape *k) {
    size_t n = mul3(g, s->rows, k->GH, k->cell->split_recurrent ? 2 : 1);
    if (k->proj) n = add(g, n, mul(g, s->rows, k->P));
    return floats(g, n);
}

static void recurrent_forward(ledger *g, const shape *s, const block_shape *k) {
    take(g, R_ACT, recurrent_ws(g, s, k));
    take(g, R_WORK, packed_bytes(g, k->P, k->GH));      /* W_hhᵀ, packed once */
    if (k->proj) take(g, R_WORK, packed_bytes(g, k->H, k->P));   /* W_hrᵀ */
    sim_sgemm(g, s->rows, k->GH, k->in);                  /* X·W_ihᵀ */
    sim_step(g, s->B, k->GH, k->P);                       /* h_{t-1}·W_hhᵀ per step */
    if (k->proj) sim_step(g, s->B, k->P, k->H);           /* m_t·W_hrᵀ per step */
}

static void recurrent_backward(ledger *g, const shape *s, const block_shape *k, int dx) {
    take(g, R_WORK, packed_bytes(g, k->GH, k->P));      /* W_hh, packed once */
    if (k->proj) take(g, R_WORK, packed_bytes(g, k->P, k->H));   /* W_hr */
    take(g, R_ACT, recurrent_grads_ws(g, s, k));          /* dg (and dgh, dhs) */
    if (k->proj) sim_step(g, s->B, k->H, k->P);           /* dh_t·W_hr per step */
    sim_step(g, s->B, k->P, k->GH);                       /* DGH_t·W_hh per step */
    sim_sgemm(g, k->GH, k->in, s->rows);                  /* dW_ih */
    sim_sgemm(g, k->GH, k->P, s->rows);                   /* dW_hh */
    if (k->proj) sim_sgemm(g, k->P, k->H, s->rows);       /* dW_hr */
    if (dx) sim_sgemm(g, s->rows, k->in, k->GH);          /* dX */
}

/* The events of a plan for one direction of the pass. */
static void replay(ledger *g, const mn_memory_plan *p, int backward, int dx) {
    if (p->overflow) g->overflow = 1;
    for (int i = 0; i < p->n; i++) {
        if (p->ev[i].backward != backward || (p->ev[i].dx && !dx)) continue;
        if (p->ev[i].gemm) sim_sgemm(g, p->ev[i].M, p->ev[i].N, p->ev[i].K);
        else take(g, R_ACT, p->ev[i].bytes);
    }
}

/* The kind's own layer: a recurrent layer, the bidirectional wrapper around two, or a
 * planned kind. */
static void inner_forward(ledger *g, const shape *s, const block_shape *k) {
    if (!k->cell) {
        replay(g, &k->plan, 0, 1);
        return;
    }
    if (k->dirs == 2)   /* reversed input and its gradient, one direction's output twice */
        take(g, R_ACT, floats(g, mul(g, s->rows, add(g, mul(g, 2, k->in), mul(g, 2, k->P)))));
    for (size_t d = 0; d < k->dirs; d++) recurrent_forward(g, s, k);
}

static void inner_backward(ledger *g, const shape *s, const block_shape *k, int dx) {
    if (!k->cell) {
        replay(g, &k->plan, 1, dx);
        return;
    }
    for (size_t d = 0; d < k->dirs; d++) recurrent_backward(g, s, k, dx);
}

/* A block in the order block.c runs it: the wrapper's workspace, a pre-norm, the layer,
 * a post-norm; backward: the wrapper's gradients, then the layer (which, under a
 * pre-norm, always forms the gradient of its input for the norm's parameters). */
static void layer_forward(ledger *g, const shape *s, int l) {
    const block_shape *k = &s->blk[l];
    if (k->wrapped) replay(g, &k->wrap_fwd, 0, 1);
    if (k->wrapped && k->wrap.norm == MN_BLOCK_NORM_PRE) replay(g, &k->norm, 0, 1);
    inner_forward(g, s, k);
    if (k->wrapped && k->wrap.norm == MN_BLOCK_NORM_POST) replay(g, &k->norm, 0, 1);
}

static void layer_backward(ledger *g, const shape *s, int l, int dx) {
    const block_shape *k = &s->blk[l];
    if (k->wrapped) replay(g, &k->wrap_bwd, 1, 1);
    inner_backward(g, s, k, dx || (k->wrapped && k->wrap.norm == MN_BLOCK_NORM_PRE));
}

/* ------------------------------------------------------------------- model */

/* model.c reserve(): every layer's input and output, the head's rows, labels, mask and
 * lengths; with `grads`, reserve_grads(): the gradients of the float buffers. */
static size_t model_ws(ledger *g, const shape *s, size_t head_rows, int grads) {
    size_t n = 0;
    /* acts[0]: tokens only; a seq2seq model's decoder from acts[E] */
    for (int k = s->c->vocab_size > 0 ? s->E : 1; k <= s->L; k++)
        n = add(g, n, mul(g, s->rows, layer_in(s, k)));
    n = add(g, n, add(g, mul(g, s->B, s->D), mul(g, head_rows, s->O)));
    if (grads) return floats(g, n);
    size_t bytes = add(g, floats(g, n), mul(g, s->rows, sizeof(uint8_t) + sizeof(int32_t)));
    return add(g, bytes, add(g, mul(g, s->B, sizeof(int32_t)), 64));
}

/* seq2seq.c reserve_source(): the encoder's inputs and its output (the memory), for a
 * source as long as the target; its gradients are as large. */
static size_t source_ws(ledger *g, const shape *s) {
    size_t n = 0;
    for (int k = 0; k <= s->E; k++)
        n = add(g, n, mul(g, s->rows, k == s->E ? s->blk[s->E - 1].out : s->blk[k].in));
    return floats(g, n);
}

/* mn_model_create, the trainer with its optimizer, and the task's batch buffers. */
static void setup(ledger *g, const shape *s) {
    const mn_model_config *c = s->c;
    size_t np = 0;
    if (c->vocab_size > 0) {
        np = mul(g, (size_t)c->vocab_size, s->in0);
        take(g, R_WORK, sizeof(mn_layer));
    }
    take(g, R_WORK, sizeof(mn_model));
    for (int l = 0; l < s->L; l++) {
        const block_shape *k = &s->blk[l];
        np = add(g, np, k->params);
        if (k->wrapped)   /* the wrapper, its norm and its dropout */
            take(g, R_WORK, 3 * (sizeof(mn_layer) + LINEAR_EXTRA) + BLOCK_EXTRA);
        if (!k->cell) {
            take(g, R_WORK, sizeof(mn_layer) + LINEAR_EXTRA);
            continue;
        }
        for (size_t d = 0; d < k->dirs; d++) {
            take(g, R_WORK, sizeof(mn_layer) + RECURRENT_EXTRA);
            if (k->no_bias) take(g, R_WORK, floats(g, k->GH));   /* the zeros read as biases */
        }
        if (k->dirs == 2) take(g, R_WORK, sizeof(mn_layer) + BIDIR_EXTRA);
    }
    np = add(g, np, mul(g, s->O, add(g, s->D, 1)));
    take(g, R_WORK, sizeof(mn_layer) + LINEAR_EXTRA);
    size_t pbytes = floats(g, np);
    take(g, R_PARAMS, pbytes);
    take(g, R_GRADS, pbytes);   /* mn_model_create always allocates the gradients */
    take(g, R_WORK, sizeof(mn_task));
    if (s->train) {             /* Adam: two moments; the trainer's held-out task */
        take(g, R_OPT, pbytes);
        take(g, R_OPT, pbytes);
        take(g, R_WORK, sizeof(mn_train_config) + sizeof(mn_optimizer) + TRAINER_EXTRA);
        take(g, R_WORK, sizeof(mn_task));
    }
    /* task.c grow(): inputs or tokens, targets or labels, lengths */
    size_t out_steps = c->output == MN_OUTPUT_EVERY ? s->T : 1;
    if (c->vocab_size > 0) take(g, R_DATA, mul(g, s->rows, sizeof(int32_t)));
    else take(g, R_DATA, floats(g, mul(g, s->rows, s->in0)));
    if (c->loss == MN_LOSS_MSE) take(g, R_DATA, floats(g, mul3(g, out_steps, s->B, s->O)));
    else take(g, R_DATA, mul3(g, out_steps, s->B, sizeof(int32_t)));
    take(g, R_DATA, mul(g, s->B, sizeof(int32_t)));
    if (s->E > 0) {   /* the source's tokens and lengths */
        take(g, R_DATA, mul(g, s->rows, sizeof(int32_t)));
        take(g, R_DATA, mul(g, s->B, sizeof(int32_t)));
    }
}

/* mn_model_run over the whole sequence: forward, head, and with training the backward. */
static void run(ledger *g, const shape *s) {
    size_t head_rows = s->c->output == MN_OUTPUT_LAST ? s->B : s->rows;
    take(g, R_ACT, model_ws(g, s, head_rows, 0));
    if (s->train) take(g, R_ACT, model_ws(g, s, head_rows, 1));
    if (s->E > 0) take(g, R_ACT, source_ws(g, s));
    if (s->E > 0 && s->train) take(g, R_ACT, source_ws(g, s));
    for (int l = 0; l < s->L; l++) layer_forward(g, s, l);   /* the encoder's first */
    sim_sgemm(g, head_rows, s->O, s->D);                  /* head */
    if (!s->train) return;
    sim_sgemm(g, s->O, s->D, head_rows);                  /* head dW */
    sim_sgemm(g, head_rows, s->D, s->O);                  /* head dx */
    for (int l = s->L - 1; l >= s->E; l--)                /* the decoder, then the encoder */
        layer_backward(g, s, l, l > 0 || s->c->vocab_size > 0);
    for (int l = s->E - 1; l >= 0; l--) layer_backward(g, s, l, 1);
}

/* The blocks of c as mn_model_create builds them: each block's layer is created (its
 * structs only, no workspace) to read its exact parameter count; recurrent kinds are
 * replayed here, every other kind and the block wrapper by the plans their layout
 * functions write. */
static mn_status block_shapes(const mn_model_config *c, shape *s) {
    mn_block_config b[MN_MAX_BLOCKS];
    s->L = mn_model_blocks(c, b);
    s->E = c->encoder_blocks;
    size_t in = s->in0;
    for (int l = 0; l < s->L; l++) {
        const mn_layer_kind *kind = mn_layer_kind_find(b[l].kind);
        block_shape *k = &s->blk[l];
        if (l == s->E && l > 0) in = s->in0;   /* the decoder reads the tokens anew */
        memset(k, 0, sizeof *k);
        k->in = in;
        k->out = (size_t)kind->out_width(&b[l], (int)in);
        mn_layer *layer = mn_model_block_layer(&b[l], (int)in, 0);
        if (!layer) return MN_E_NOMEM;
        k->params = layer->param_count;
        mn_layer_destroy(layer);
        if (kind->cell >= 0) {
            k->cell = mn_cell_kernel_for((mn_cell_kind)kind->cell);
            k->H = (size_t)b[l].width;
            k->GH = (size_t)k->cell->gates * k->H;
            k->proj = b[l].proj > 0;
            k->P = k->proj ? (size_t)b[l].proj : k->H;
            k->no_bias = b[l].no_bias;
            k->dirs = b[l].bidirectional ? 2 : 1;
        } else {
            kind->plan(&b[l], (int)in, s->T, s->B, &k->plan);
        }
        if ((k->wrapped = mn_block_wrap_of(&b[l], &k->wrap))) {
            mn_block_plan(&k->wrap, (int)in, (int)k->out, s->rows, 0, &k->wrap_fwd);
            mn_block_plan(&k->wrap, (int)in, (int)k->out, s->rows, 1, &k->wrap_bwd);
            if (k->wrap.norm != MN_BLOCK_NORM_NONE) mn_norm_plan(s->rows, &k->norm);
        }
        in = k->out;
    }
    s->D = in;
    return MN_OK;
}

/* ----------------------------------------------------------------- checks */

/* The estimate describes the models mn_model_create builds, so it refuses the same
 * configurations with the same reasons. */
static mn_status check_config(const mn_model_config *c) {
    if (!c) return mn_fail(MN_E_ARG, "memory estimate: the model config is NULL");
    return mn_model_config_check(c);
}

static mn_status check_run(int T, int B) {
    if (T < 1 || T > MAX_T)
        return mn_fail(MN_E_ARG, "length must be from 1 to %d steps, got %d", MAX_T, T);
    if (B < 1 || B > MAX_B)
        return mn_fail(MN_E_ARG, "batch must be from 1 to %d sequences, got %d", MAX_B, B);
    if ((size_t)T * (size_t)B > MAX_ROWS)
        return mn_fail(MN_E_ARG, "length %d times batch %d is %zu rows, more than the %d a "
                       "pass can hold; use a smaller length or batch", T, B,
                       (size_t)T * (size_t)B, INT_MAX);
    return MN_OK;
}

/* ------------------------------------------------------------------ public */

mn_status mn_memory_estimate_run(const mn_model_config *cfg, int T, int B, int train,
                                 mn_memory_estimate *out) {
    if (!out) return mn_fail(MN_E_ARG, "memory estimate: out is NULL");
    memset(out, 0, sizeof *out);
    mn_status st = check_config(cfg);
    if (st || (st = check_run(T, B))) return st;
    mn_model_config c = *cfg;   /* what mn_model_create makes of it */
    if (c.vocab_size > 0 && c.embed_size == 0) c.embed_size = mn_model_embed_width(&c);
    shape s = {.c = &c, .T = (size_t)T, .B = (size_t)B, .rows = (size_t)T * (size_t)B,
               .O = (size_t)c.output_size, .train = train != 0};
    s.in0 = (size_t)(c.vocab_size > 0 ? c.embed_size : c.input_size);
    if ((st = block_shapes(&c, &s))) return st;

    ledger g;
    memset(&g, 0, sizeof g);
    gemm_shape(&g);
    setup(&g, &s);
    run(&g, &s);
    if (g.overflow)
        return mn_fail(MN_E_ARG, "the memory for length %d and batch %d does not fit in a %zu-bit "
                       "size; use a smaller length, batch or model", T, B,
                       sizeof(size_t) * CHAR_BIT);
    out->params = g.held[R_PARAMS];
    out->grads = g.held[R_GRADS];
    out->optimizer = g.held[R_OPT];
    out->activations = g.held[R_ACT];
    out->data = g.held[R_DATA];
    /* Everything but the scratch is still held at the end, so the rest of the peak is
     * what the scratch buffers added at the worst moment. */
    size_t other = 0;
    for (int r = 0; r < NROLES; r++)
        if (r != R_SCRATCH) other += g.held[r];
    out->scratch = g.peak - other;
    out->workspace = g.held[R_WORK] + out->scratch;
    out->total = g.peak;
    return MN_OK;
}

/* mn_stack_load_torch and mn_stack_forward (stack.c): the stack's structs and parameters
 * (no gradients), the input x, the buffers between layers, and each layer's inference
 * pass, which recurrent.c runs in chunks of mn_recurrent_inference_steps steps: one
 * chunk's workspace and input product, W_hh (and W_hr) packed once per layer. */
mn_status mn_memory_estimate_stack(const mn_stack_config *cfg, int T, int B,
                                   mn_memory_estimate *out) {
    if (!out) return mn_fail(MN_E_ARG, "memory estimate: out is NULL");
    memset(out, 0, sizeof *out);
    if (!cfg) return mn_fail(MN_E_ARG, "memory estimate: the stack config is NULL");
    mn_status st = mn_stack_config_check(cfg);
    if (st || (st = check_run(T, B))) return st;
    ledger g;
    memset(&g, 0, sizeof g);
    gemm_shape(&g);
    size_t dirs = cfg->bidirectional ? 2 : 1, H = (size_t)cfg->hidden_size;
    size_t P = cfg->proj_size > 0 ? (size_t)cfg->proj_size : H, O = dirs * P;
    size_t rows = (size_t)T * (size_t)B, chunk = (size_t)mn_recurrent_inference_steps(T, B);
    shape s = {.T = chunk, .B = (size_t)B, .rows = chunk * (size_t)B};
    const mn_cell_kernel *cell = mn_cell_kernel_for(cfg->cell);
    mn_recurrent_opts o = {.proj = cfg->proj_size, .no_bias = cfg->no_bias};
    take(&g, R_WORK, STACK_EXTRA);
    size_t np = 0;
    for (int k = 0; k < cfg->num_layers; k++) {
        mn_layer *l = mn_stack_layer_create_opts(cfg->cell, k ? (int)O : cfg->input_size,
                                                 (int)H, k, cfg->bidirectional, &o);
        if (!l) return MN_E_NOMEM;
        np = add(&g, np, l->param_count);
        mn_layer_destroy(l);
        for (size_t d = 0; d < dirs; d++) {
            take(&g, R_WORK, sizeof(mn_layer) + RECURRENT_EXTRA);
            if (cfg->no_bias) take(&g, R_WORK, floats(&g, (size_t)cell->gates * H));
        }
        if (dirs == 2) take(&g, R_WORK, sizeof(mn_layer) + BIDIR_EXTRA);
    }
    take(&g, R_PARAMS, floats(&g, np));
    take(&g, R_DATA, floats(&g, mul(&g, rows, (size_t)cfg->input_size)));
    if (cfg->num_layers > 1)   /* layer k writes one of two buffers; the last writes y */
        take(&g, R_ACT, floats(&g, mul3(&g, rows, O, cfg->num_layers > 2 ? 2 : 1)));
    for (int k = 0; k < cfg->num_layers; k++) {
        block_shape blk = {.cell = cell, .in = k ? O : (size_t)cfg->input_size, .H = H,
                           .GH = (size_t)cell->gates * H, .P = P, .proj = cfg->proj_size > 0,
                           .dirs = dirs};
        if (dirs == 2)   /* the wrapper's reversed input and one direction's output twice */
            take(&g, R_ACT, floats(&g, mul(&g, rows, add(&g, blk.in, mul(&g, 2, P)))));
        for (size_t d = 0; d < dirs; d++) recurrent_forward(&g, &s, &blk);
    }
    if (g.overflow)
        return mn_fail(MN_E_ARG, "the memory for length %d and batch %d does not fit in a %zu-bit "
                       "size; use a smaller length or batch", T, B, sizeof(size_t) * CHAR_BIT);
    out->params = g.held[R_PARAMS];
    out->activations = g.held[R_ACT];
    out->data = g.held[R_DATA];
    size_t other = 0;
    for (int r = 0; r < NROLES; r++)
        if (r != R_SCRATCH) other += g.held[r];
    out->scratch = g.peak - other;
    out->workspace = g.held[R_WORK] + out->scratch;
    out->total = g.peak;
    return MN_OK;
}

/* 1 when a run at (T, B) fits the budget; a run too large to describe does not. */
static int fits(const mn_model_config *c, int T, int B, int train, size_t budget) {
    mn_memory_estimate e;
    return mn_memory_estimate_run(c, T, B, train, &e) == MN_OK && e.total <= budget;
}

/* The largest n in [1, hi] with fits(n), or 0. Keeps lo fitting and hi+1 not, so the
 * answer fits and the next value does not even where the estimate is not monotone. */
static int search(const mn_model_config *c, int fixed, int over_T, int train, size_t budget,
                  int hi) {
#define FITS(n) fits(c, over_T ? (n) : fixed, over_T ? fixed : (n), train, budget)
    if (FITS(hi)) return hi;
    if (!FITS(1)) return 0;
    int lo = 1;            /* fits */
    while (hi - lo > 1) {  /* hi does not fit */
        int mid = lo + (hi - lo) / 2;
        if (FITS(mid)) lo = mid;
        else hi = mid;
    }
    return lo;
#undef FITS
}

static mn_status search_args(const mn_model_config *c, int fixed, int over_T, int max,
                             int *out) {
    if (!out) return mn_fail(MN_E_ARG, "memory search: out is NULL");
    *out = 0;
    mn_status st = check_config(c);
    if (st) return st;
    if (max < 1)
        return mn_fail(MN_E_ARG, "the largest %s to try must be at least 1, got %d",
                       over_T ? "length" : "batch", max);
    return over_T ? check_run(1, fixed) : check_run(fixed, 1);
}

mn_status mn_memory_max_length(const mn_model_config *cfg, int B, int train, size_t budget,
                               int max_T, int *T_out) {
    mn_status st = search_args(cfg, B, 1, max_T, T_out);
    if (st) return st;
    *T_out = search(cfg, B, 1, train, budget, MN_MIN(max_T, MAX_T));
    mn_clear_error();   /* sizes tried past the limits are answers, not failures */
    return MN_OK;
}

mn_status mn_memory_max_batch(const mn_model_config *cfg, int T, int train, size_t budget,
                              int max_B, int *B_out) {
    mn_status st = search_args(cfg, T, 0, max_B, B_out);
    if (st) return st;
    *B_out = search(cfg, T, 0, train, budget, MN_MIN(max_B, MAX_B));
    mn_clear_error();
    return MN_OK;
}
