/* A bare recurrent stack run from a PyTorch nn.RNN / nn.LSTM / nn.GRU state dict
 * (`mnemo predict`): the same recurrent and bidirectional layers the models use, with
 * their parameters in one flat buffer filled from a safetensors file.
 *
 * Loading is strict: the file must hold exactly the tensors such a module has, under one
 * optional common prefix, with PyTorch's shapes; F16, BF16 and F64 weights are read as
 * float32 (mn_st_read_f32). When the file holds a different stack than the one asked for,
 * the message says what the file holds (read from the shapes of weight_hh_l0 and
 * weight_ih_l0) rather than only which tensor disagrees. Names from the file are escaped
 * in messages (mn_escape). */
#include "registry.h"
#include "safetensors.h"
#include "stack.h"

#include <stdio.h>
#include <string.h>

#define STACK_MAX_LAYERS 64
#define NAME_CAP 256

struct mn_stack {
    mn_stack_config cfg;
    int out_size;
    mn_layer *layers[STACK_MAX_LAYERS];
    float *params;
    size_t nparams;
    void *ws;                  /* two [T,B,out_size] buffers between layers */
    size_t ws_bytes;
    int64_t steps;             /* streaming: steps since the stream began (0: none) */
    int step_B;                /* the stream's batch */
};

/* The cells PyTorch has a module for (nn.RNN, nn.LSTM, nn.GRU), by gate count. */
static int gates_of(mn_cell_kind c) {
    mn_cell_info ci;
    return mn_cell_describe(c, &ci) == MN_OK ? ci.gates : 0;
}

static int torch_cell(mn_cell_kind c) {
    const mn_layer_kind *k = mn_layer_kind_of_cell(c);
    return k && (k->caps & MN_KIND_PYTORCH);
}

/* The first PyTorch cell with G gate blocks (a state dict cannot tell rnn from rnn-relu). */
static int cell_of_gates(int64_t G, mn_cell_kind *out) {
    for (int i = 0; gates_of((mn_cell_kind)i) > 0; i++)
        if (torch_cell((mn_cell_kind)i) && gates_of((mn_cell_kind)i) == G) {
            *out = (mn_cell_kind)i;
            return 1;
        }
    return 0;
}

/* proj_size belongs to the cells with a cell state (nn.LSTM): asked of the cell table. */
static int has_projection(mn_cell_kind c) {
    mn_cell_info ci;
    return mn_cell_describe(c, &ci) == MN_OK && ci.has_cell_state;
}

static const char *family(mn_cell_kind c) {
    mn_cell_info ci = {0};
    mn_cell_describe(c, &ci);
    return ci.family ? ci.family : "?";
}

/* "an LSTM", "a GRU", "an RNN": the article goes by the first letter's sound */
static const char *article(const char *family) {
    return strchr("AEFHILMNORSX", family[0]) ? "an" : "a";
}

void mn_stack_free(mn_stack *s) {
    if (!s) return;
    for (int k = 0; k < s->cfg.num_layers; k++) mn_layer_destroy(s->layers[k]);
    mn_release(s->params);
    mn_release(s->ws);
    mn_release(s);
}

const mn_stack_config *mn_stack_get_config(const mn_stack *s) { return &s->cfg; }
int mn_stack_output_size(const mn_stack *s) { return s->out_size; }

mn_status mn_stack_config_check(const mn_stack_config *c) {
    if (!c) return mn_fail(MN_E_ARG, "stack: no configuration given");
    if (!torch_cell(c->cell))
        return mn_fail(MN_E_ARG, "cell '%s' has no PyTorch module (nn.RNN with tanh or relu, "
                       "nn.LSTM, nn.GRU)", mn_cell_name(c->cell));
    if (c->input_size < 1 || c->input_size > (1 << 20))
        return mn_fail(MN_E_ARG, "input size must be from 1 to 2^20, got %d", c->input_size);
    if (c->hidden_size < 1 || c->hidden_size > 65536)
        return mn_fail(MN_E_ARG, "hidden size must be from 1 to 65536, got %d", c->hidden_size);
    if (c->num_layers < 1 || c->num_layers > STACK_MAX_LAYERS)
        return mn_fail(MN_E_ARG, "layers must be from 1 to %d, got %d", STACK_MAX_LAYERS,
                       c->num_layers);
    if (c->bidirectional != 0 && c->bidirectional != 1)
        return mn_fail(MN_E_ARG, "bidirectional must be 0 or 1");
    if (c->no_bias != 0 && c->no_bias != 1) return mn_fail(MN_E_ARG, "no_bias must be 0 or 1");
    if (c->proj_size && !has_projection(c->cell))
        return mn_fail(MN_E_ARG, "proj_size is an LSTM's (nn.LSTM(proj_size=...)); nn.%s has "
                       "none", family(c->cell));
    if (c->proj_size < 0 || (c->proj_size && c->proj_size >= c->hidden_size))
        return mn_fail(MN_E_ARG, "proj_size must be from 1 to hidden - 1 = %d, as PyTorch "
                       "requires (proj_size < hidden_size); got %d", c->hidden_size - 1,
                       c->proj_size);
    return MN_OK;
}

/* ------------------------------------------------------------- building */

/* The layers of cfg, each viewing its slice of one zeroed parameter buffer, for inference
 * only (no gradient buffer, no activations kept for backward). */
static mn_status build(const mn_stack_config *c, mn_stack **out) {
    mn_stack *s = mn_alloc_zero(sizeof *s);
    if (!s) return MN_E_NOMEM;
    s->cfg = *c;
    int H = c->hidden_size, dirs = c->bidirectional ? 2 : 1;
    int P = c->proj_size > 0 ? c->proj_size : H;
    mn_recurrent_opts o = {.proj = c->proj_size, .no_bias = c->no_bias};
    s->out_size = dirs * P;
    for (int k = 0, in = c->input_size; k < c->num_layers; k++, in = dirs * P) {
        mn_layer *l = mn_stack_layer_create_opts(c->cell, in, H, k, c->bidirectional, &o);
        if (!l) { mn_stack_free(s); return MN_E_NOMEM; }
        l->inference = 1;
        s->layers[k] = l;
        s->nparams += l->param_count;
    }
    size_t bytes;
    if (!mn_mul_size(s->nparams, sizeof(float), &bytes) || !(s->params = mn_alloc_zero(bytes))) {
        mn_stack_free(s);
        return MN_E_NOMEM;
    }
    size_t off = 0;
    for (int k = 0; k < c->num_layers; k++) {
        mn_layer *l = s->layers[k];
        l->params = s->params + off;
        /* Forward only: there is no gradient buffer and backward is never called, but the
         * bidirectional wrapper offsets this pointer, so it must point into real memory. */
        l->grads = l->params;
        off += l->param_count;
    }
    *out = s;
    return MN_OK;
}

/* -------------------------------------------------------- reading the file */

static const mn_st_tensor *find(const mn_st_file *f, const char *prefix, const char *name) {
    char full[NAME_CAP + 64];   /* prefix + the longest name, "weight_ih_l63_reverse" */
    snprintf(full, sizeof full, "%s%s", prefix, name);
    return mn_st_find(f, full);
}

/* The prefix of the stack's names: the part before "weight_ih_l0", empty or ending in '.'
 * ("rnn." in mnemo checkpoints, "lstm." in a larger module's state dict). */
static mn_status find_prefix(const char *path, const mn_st_file *f, char *prefix, size_t cap) {
    static const char key[] = "weight_ih_l0";
    const size_t klen = sizeof key - 1;
    int found = 0;
    for (int i = 0; i < mn_st_count(f); i++) {
        const char *n = mn_st_at(f, i)->name;
        size_t len = strlen(n);
        if (len < klen || strcmp(n + len - klen, key)) continue;
        size_t plen = len - klen;
        if (plen && n[plen - 1] != '.') continue;
        if (plen >= cap) continue;
        if (found) {
            char a[MN_ESCAPE_CAP], b[MN_ESCAPE_CAP];
            return mn_fail(MN_E_INPUT, "%s: holds more than one recurrent stack ('%s' and "
                           "'%sweight_ih_l0'); save the state dict of one nn.RNN, nn.LSTM or "
                           "nn.GRU module", path, mn_escape(a, sizeof a, n),
                           mn_escape(b, sizeof b, prefix));
        }
        memcpy(prefix, n, plen);
        prefix[plen] = 0;
        found = 1;
    }
    if (found) return MN_OK;
    const mn_st_tensor *t = mn_st_at(f, 0);
    char held[MN_ESCAPE_CAP];
    return mn_fail(MN_E_INPUT, "%s: has no tensor 'weight_ih_l0' (nor 'PREFIX.weight_ih_l0'), so "
                   "it is not the state dict of an nn.RNN, nn.LSTM or nn.GRU%s%s%s", path,
                   t ? " (it holds '" : "", t ? mn_escape(held, sizeof held, t->name) : "",
                   t ? "', ...)" : "");
}

static int is_matrix(const mn_st_tensor *t) {
    return t && t->ndim == 2 && t->shape[0] > 0 && t->shape[1] > 0 &&
           t->shape[0] <= INT32_MAX && t->shape[1] <= INT32_MAX;
}

/* Reads the stack's shape from weight_hh_l0 ([G·H, H], or [G·H, P] with a projection),
 * weight_ih_l0 ([G·H, I]), weight_hr_l0 ([P, H], only with a projection), the layers
 * present, bias_ih_l0 and the _reverse names. */
static mn_status infer(const char *path, const mn_st_file *f, const char *prefix,
                       mn_stack_config *c) {
    char pfx[MN_ESCAPE_CAP];   /* the prefix comes from the file */
    mn_escape(pfx, sizeof pfx, prefix);
    const mn_st_tensor *hh = find(f, prefix, "weight_hh_l0"), *ih = find(f, prefix, "weight_ih_l0");
    const mn_st_tensor *hr = find(f, prefix, "weight_hr_l0");
    memset(c, 0, sizeof *c);
    if (hr) {
        /* nn.LSTM(proj_size=P): h is P wide, so W_hh is [4H, P] and W_hr [P, H] */
        if (!is_matrix(hr) || hr->shape[0] >= hr->shape[1] || !is_matrix(hh) ||
            hh->shape[1] != hr->shape[0] || hh->shape[0] != 4 * hr->shape[1] ||
            !is_matrix(ih) || ih->shape[0] != hh->shape[0])
            return mn_fail(MN_E_INPUT, "%s: %sweight_hr_l0 means an LSTM with proj_size, whose "
                           "weight_hr_l0 is [P, H] with P < H, weight_hh_l0 [4*H, P] and "
                           "weight_ih_l0 [4*H, I]; these tensors are missing or have other "
                           "shapes", path, pfx);
        c->cell = MN_LSTM;
        c->hidden_size = (int)hr->shape[1];
        c->proj_size = (int)hr->shape[0];
    } else {
        if (!is_matrix(hh) || hh->shape[0] % hh->shape[1] || !is_matrix(ih) ||
            ih->shape[0] != hh->shape[0])
            return mn_fail(MN_E_INPUT, "%s: %sweight_hh_l0 and %sweight_ih_l0 are missing or do "
                           "not have the shapes [G*H, H] and [G*H, I] of an RNN, LSTM or GRU "
                           "(an LSTM with proj_size would also hold %sweight_hr_l0)", path,
                           pfx, pfx, pfx);
        int64_t G = hh->shape[0] / hh->shape[1];
        if (!cell_of_gates(G, &c->cell))
            return mn_fail(MN_E_INPUT, "%s: %sweight_hh_l0 is [%lld, %lld]: %lld gate blocks, "
                           "which is no RNN (1), GRU (3) or LSTM (4)", path, pfx,
                           (long long)hh->shape[0], (long long)hh->shape[1], (long long)G);
        c->hidden_size = (int)hh->shape[1];
    }
    int64_t G = gates_of(c->cell);
    const char *fmt = mn_st_meta(f, "format"), *cell = mn_st_meta(f, "model.cell");
    mn_cell_kind named;
    if (fmt && !strcmp(fmt, "mnemo") && cell && mn_cell_parse(cell, &named) == MN_OK &&
        gates_of(named) == G)
        c->cell = named;   /* a mnemo checkpoint tells rnn from rnn-relu */
    c->input_size = (int)ih->shape[1];
    char name[48];
    for (c->num_layers = 1; c->num_layers < STACK_MAX_LAYERS; c->num_layers++) {
        snprintf(name, sizeof name, "weight_ih_l%d", c->num_layers);
        if (!find(f, prefix, name)) break;
    }
    c->bidirectional = find(f, prefix, "weight_ih_l0_reverse") != NULL;
    c->no_bias = !find(f, prefix, "bias_ih_l0") && !find(f, prefix, "bias_hh_l0");
    return MN_OK;
}

/* Says how the file's stack differs from the one asked for, if it does in a way the
 * shapes of the first layer and the tensor names show. */
static mn_status compare(const char *path, const mn_st_file *f, const char *prefix,
                         const mn_stack_config *want) {
    char pfx[MN_ESCAPE_CAP];   /* the prefix comes from the file */
    mn_escape(pfx, sizeof pfx, prefix);
    mn_stack_config has;
    mn_status s = infer(path, f, prefix, &has);
    if (s) return s;
    const mn_st_tensor *hh = find(f, prefix, "weight_hh_l0"), *ih = find(f, prefix, "weight_ih_l0");
    long long h0 = hh->shape[0], h1 = hh->shape[1], i0 = ih->shape[0], i1 = ih->shape[1];
    int G = gates_of(has.cell);
    const char *fmt = mn_st_meta(f, "format");
    int mnemo_file = fmt && !strcmp(fmt, "mnemo");
    if (G != gates_of(want->cell) || (mnemo_file && has.cell != want->cell))
        return mn_fail(MN_E_INPUT, "%s: holds %s %s (%sweight_hh_l0 is [%lld, %lld]: %d gate "
                       "block%s%s%s%s), not %s", path, article(family(has.cell)),
                       family(has.cell), pfx, h0, h1, G,
                       G > 1 ? "s" : "", has.proj_size ? " of a projected LSTM" : "",
                       mnemo_file ? ", metadata model.cell " : "",
                       mnemo_file ? mn_cell_name(has.cell) : "", mn_cell_name(want->cell));
    if (has.hidden_size != want->hidden_size)
        return mn_fail(MN_E_INPUT, "%s: has hidden size %d (%s%s is [%lld, %lld]), not %d",
                       path, has.hidden_size, pfx, has.proj_size ? "weight_hr_l0"
                       : "weight_hh_l0", has.proj_size ? (long long)has.proj_size : h0,
                       has.proj_size ? (long long)has.hidden_size : h1, want->hidden_size);
    if (has.proj_size && has.proj_size != want->proj_size)
        return mn_fail(MN_E_INPUT, "%s: has proj_size %d (%sweight_hr_l0 is [%d, %d]), not %d",
                       path, has.proj_size, pfx, has.proj_size, has.hidden_size,
                       want->proj_size);
    if (has.proj_size != want->proj_size)
        return mn_fail(MN_E_INPUT, "%s: has no projection (no %sweight_hr_l0), not proj_size %d",
                       path, pfx, want->proj_size);
    if (has.input_size != want->input_size)
        return mn_fail(MN_E_INPUT, "%s: has input size %d (%sweight_ih_l0 is [%lld, %lld]), "
                       "not %d", path, has.input_size, pfx, i0, i1, want->input_size);
    if (has.num_layers < want->num_layers)
        return mn_fail(MN_E_INPUT, "%s: has %d layer%s (no %sweight_ih_l%d), not %d", path,
                       has.num_layers, has.num_layers > 1 ? "s" : "", pfx, has.num_layers,
                       want->num_layers);
    if (has.num_layers > want->num_layers)
        return mn_fail(MN_E_INPUT, "%s: has %s%d layers (it holds %sweight_ih_l%d), not %d",
                       path, has.num_layers == STACK_MAX_LAYERS ? "at least " : "",
                       has.num_layers, pfx, want->num_layers, want->num_layers);
    if (has.bidirectional != want->bidirectional)
        return mn_fail(MN_E_INPUT, "%s: is %s (%sweight_ih_l0_reverse is %s), not %s", path,
                       has.bidirectional ? "bidirectional" : "unidirectional", pfx,
                       has.bidirectional ? "present" : "absent",
                       want->bidirectional ? "bidirectional" : "unidirectional");
    if (has.no_bias != want->no_bias)
        return mn_fail(MN_E_INPUT, "%s: %s (%sbias_ih_l0 is %s), not %s", path, has.no_bias
                       ? "has no biases, as a module made with bias=False" : "has biases",
                       pfx, has.no_bias ? "absent" : "present", want->no_bias
                       ? "a module without them (bias=False)" : "a module with them");
    return MN_OK;
}

static void shape_text(char *buf, size_t cap, const int64_t *shape, int ndim) {
    size_t n = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < ndim && n < cap; i++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (n < cap) snprintf(buf + n, cap - n, "]");
}

/* Copies the tensor for each parameter spec of layer l, checking dtype and shape. */
static mn_status load_layer(const char *path, const mn_st_file *f, const char *prefix,
                            mn_layer *l) {
    char pfx[MN_ESCAPE_CAP];   /* the prefix comes from the file */
    mn_escape(pfx, sizeof pfx, prefix);
    for (int i = 0; i < l->nspecs; i++) {
        const mn_param_spec *sp = &l->specs[i];
        const mn_st_tensor *t = find(f, prefix, sp->name);
        if (!t)
            return mn_fail(MN_E_INPUT, "%s: tensor '%s%s' is missing%s", path, pfx, sp->name,
                           !strncmp(sp->name, "bias", 4) ? " (the biases of one layer are there "
                           "and another's are not: PyTorch's bias=False drops every layer's)"
                           : "");
        int same = t->ndim == sp->ndim;
        for (int d = 0; same && d < sp->ndim; d++) same = t->shape[d] == sp->shape[d];
        char has[96], want[96];
        int64_t ws[MN_MAX_DIMS];
        for (int d = 0; d < sp->ndim; d++) ws[d] = sp->shape[d];
        shape_text(has, sizeof has, t->shape, t->ndim);
        shape_text(want, sizeof want, ws, sp->ndim);
        if (!same)
            return mn_fail(MN_E_INPUT, "%s: tensor '%s%s' has shape %s; this stack needs %s",
                           path, pfx, sp->name, has, want);
        mn_status st = mn_st_read_f32(t, l->params + sp->offset, sp->size, path);
        if (st) return st;
    }
    return MN_OK;
}

/* Every tensor under the prefix must be one the stack took. Tensors outside it belong to
 * other parts of a larger module (a mnemo checkpoint's head, say) and are ignored. */
static mn_status check_extra(const char *path, const mn_st_file *f, const char *prefix,
                             const mn_stack *s) {
    size_t plen = strlen(prefix);
    for (int i = 0; i < mn_st_count(f); i++) {
        const char *n = mn_st_at(f, i)->name;
        if (strncmp(n, prefix, plen)) continue;
        int known = 0;
        for (int k = 0; k < s->cfg.num_layers && !known; k++)
            for (int j = 0; j < s->layers[k]->nspecs && !known; j++)
                known = !strcmp(n + plen, s->layers[k]->specs[j].name);
        if (known) continue;
        char shown[MN_ESCAPE_CAP];
        mn_escape(shown, sizeof shown, n);
        if (strstr(n + plen, "weight_hr_l"))
            return mn_fail(MN_E_INPUT, "%s: tensor '%s' is a projection (proj_size) that layer 0 "
                           "does not have; every layer of an nn.LSTM(proj_size=P) has one",
                           path, shown);
        return mn_fail(MN_E_INPUT, "%s: unexpected tensor '%s': an nn.%s state dict holds only "
                       "weight_ih_l*, weight_hh_l*, bias_ih_l* and bias_hh_l*%s%s", path, shown,
                       family(s->cfg.cell), has_projection(s->cfg.cell) ? " (weight_hr_l* with "
                       "proj_size)" : "",
                       plen ? "" : " (tensors of other modules need a prefix such as 'rnn.')");
    }
    return MN_OK;
}

mn_status mn_stack_probe_torch(const char *path, mn_stack_config *found) {
    if (!found) return mn_fail(MN_E_ARG, "mn_stack_probe_torch: found is NULL");
    mn_st_file *f;
    mn_status s = mn_st_read(path, &f);
    if (s) return s;
    char prefix[NAME_CAP];
    if (!(s = find_prefix(path, f, prefix, sizeof prefix))) s = infer(path, f, prefix, found);
    mn_st_free(f);
    return s;
}

mn_status mn_stack_load_torch(const char *path, const mn_stack_config *cfg, mn_stack **out) {
    if (!out) return mn_fail(MN_E_ARG, "mn_stack_load_torch: out is NULL");
    *out = NULL;
    mn_status s = mn_stack_config_check(cfg);
    if (s) return s;
    mn_st_file *f;
    if ((s = mn_st_read(path, &f))) return s;
    mn_stack *st = NULL;
    char prefix[NAME_CAP];
    if (!(s = find_prefix(path, f, prefix, sizeof prefix)) &&
        !(s = compare(path, f, prefix, cfg)) && !(s = build(cfg, &st))) {
        for (int k = 0; k < cfg->num_layers && !s; k++)
            s = load_layer(path, f, prefix, st->layers[k]);
        if (!s) s = check_extra(path, f, prefix, st);
    }
    mn_st_free(f);
    if (s) mn_stack_free(st);
    else *out = st;
    return s;
}

/* ------------------------------------------------------------------ running */

mn_status mn_stack_forward(mn_stack *s, const float *x, int T, int B, const int32_t *lengths,
                           float *y) {
    if (!s || !x || !y) return mn_fail(MN_E_ARG, "mn_stack_forward: NULL argument");
    if (T < 1 || B < 1)
        return mn_fail(MN_E_ARG, "mn_stack_forward: T=%d, B=%d; both must be at least 1", T, B);
    for (int b = 0; lengths && b < B; b++)
        if (lengths[b] < 1 || lengths[b] > T)
            return mn_fail(MN_E_INPUT, "sequence %d has length %d; lengths must be in [1, %d]",
                           b, lengths[b], T);
    /* the layers index rows with int */
    if ((size_t)T * (size_t)B > INT32_MAX)
        return mn_fail(MN_E_ARG, "a batch of %d steps x %d sequences is too large; split it",
                       T, B);
    int L = s->cfg.num_layers;
    size_t rows = (size_t)T * B, floats, bytes;
    float *buf[2] = { NULL, NULL };
    if (L > 1) {   /* layer k writes buf[k % 2]; the last layer writes y */
        if (!mn_mul_size(rows, (size_t)s->out_size * (L > 2 ? 2 : 1), &floats) ||
            !mn_mul_size(floats, sizeof(float), &bytes))
            return mn_fail(MN_E_NOMEM, "a batch of %d x %d rows is too large", T, B);
        if (mn_reserve(&s->ws, &s->ws_bytes, bytes)) return MN_E_NOMEM;
        buf[0] = s->ws;
        buf[1] = L > 2 ? buf[0] + rows * (size_t)s->out_size : NULL;
    }
    s->steps = 0;   /* the forward replaces the state a stream kept */
    for (int k = 0; k < L; k++) {
        mn_layer *l = s->layers[k];
        mn_layer_reset(l);
        const float *in = k ? buf[(k - 1) % 2] : x;
        float *o = k == L - 1 ? y : buf[k % 2];
        unsigned fp = mn_fp_enter();
        mn_status st = l->ops->forward(l, in, o, T, B, lengths);
        mn_fp_leave(fp);
        if (st) return st;
    }
    return MN_OK;
}

/* ------------------------------------------------------------ streaming */

void mn_stack_stream_reset(mn_stack *s) {
    if (s) s->steps = 0;
}

mn_status mn_stack_step(mn_stack *s, const float *x_t, int B, float *y_t) {
    if (!s || !x_t || !y_t) return mn_fail(MN_E_ARG, "mn_stack_step: NULL argument");
    if (s->cfg.bidirectional)
        return mn_fail(MN_E_ARG, "a bidirectional stack cannot stream: its reverse direction "
                       "starts from the end of the sequence, which has not come yet");
    if (B < 1 || (size_t)B * (size_t)MN_MAX(s->out_size, s->cfg.input_size) > INT32_MAX)
        return mn_fail(MN_E_ARG, "mn_stack_step: batch %d; it must be from 1 to %d", B,
                       INT32_MAX / MN_MAX(s->out_size, s->cfg.input_size));
    if (s->steps > 0 && B != s->step_B)
        return mn_fail(MN_E_ARG, "mn_stack_step: a batch of %d in a stream of %d sequences; "
                       "reset the stream (mn_stack_stream_reset) to change the batch", B,
                       s->step_B);
    if (s->steps == INT32_MAX) return mn_fail(MN_E_ARG, "mn_stack_step: the stream is at %d steps, "
                                            "the most one can take; reset it", INT32_MAX);
    int L = s->cfg.num_layers, t = (int)s->steps;
    size_t row = (size_t)B * s->out_size;
    if (L > 1 && mn_reserve(&s->ws, &s->ws_bytes, 2 * row * sizeof(float))) return MN_E_NOMEM;
    float *buf[2] = { s->ws, (float *)s->ws + row };
    mn_status st = MN_OK;
    unsigned fp = mn_fp_enter();
    for (int k = 0; k < L && !st; k++) {
        const float *in = k ? buf[(k - 1) % 2] : x_t;
        st = mn_layer_step(s->layers[k], in, k == L - 1 ? y_t : buf[k % 2], B, t);
    }
    mn_fp_leave(fp);
    /* a failed step leaves the layers' state unknown: the next one starts over */
    s->steps = st ? 0 : s->steps + 1;
    s->step_B = B;
    return st;
}
