/* A model's block list: the spec grammar (mnemo train --blocks), its canonical form (the
 * checkpoint's model.blocks) and the checks that make a list buildable. */
#include "blocks.h"
#include "registry.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OPTIONS "residual, bidirectional, pre, post, layernorm, rmsnorm, dropout=P, nobias " \
                "(recurrent), proj=P (lstm), heads=H, causal, rope (attention), max-len=N " \
                "(learned positions), kernel=K, dilation=D (convolutions), state=N, " \
                "init=lin|inv|real (state spaces), weight-norm (tcn)"

/* The longest reach (k−1)·d of one convolution: the zero padding before step 0 */
#define MAX_CONV_REACH (1 << 30)

static const char *const SSM_INITS[] = {"default", "lin", "inv", "real"};

/* The kinds with capability `cap`, as "conv, tcn", into buf. */
static const char *kinds_with(unsigned cap, char *buf, size_t cap_bytes) {
    size_t len = 0;
    buf[0] = 0;
    for (int i = 0; i < mn_layer_kind_count(); i++) {
        const mn_layer_kind *k = mn_layer_kind_at(i);
        if (!(k->caps & cap)) continue;
        int w = snprintf(buf + len, cap_bytes - len, "%s%s", len ? ", " : "", k->name);
        if (w < 0 || (size_t)w >= cap_bytes - len) break;
        len += (size_t)w;
    }
    return buf;
}

int mn_model_blocks(const mn_model_config *c, mn_block_config *out) {
    if (c->num_blocks > 0) {
        int n = c->num_blocks < MN_MAX_BLOCKS ? c->num_blocks : MN_MAX_BLOCKS;
        for (int k = 0; k < n; k++) {
            out[k] = c->blocks[k];
            if (out[k].width == 0) out[k].width = c->hidden_size;
        }
        return n;
    }
    int n = c->num_layers < MN_MAX_BLOCKS ? c->num_layers : MN_MAX_BLOCKS;
    for (int k = 0; k < n; k++) {
        memset(&out[k], 0, sizeof out[k]);
        snprintf(out[k].kind, sizeof out[k].kind, "%s", mn_cell_name(c->cell));
        out[k].width = c->hidden_size;
        out[k].bidirectional = c->bidirectional;
    }
    return n;
}

int mn_model_embed_width(const mn_model_config *c) {
    if (c->embed_size > 0) return c->embed_size;
    if (c->num_blocks > 0 && c->blocks[0].width > 0) {
        const mn_layer_kind *k = mn_layer_kind_find(c->blocks[0].kind);
        if (k && (k->caps & MN_KIND_WIDTH)) return c->blocks[0].width;
    }
    return c->hidden_size;
}

mn_status mn_model_config_uses(const mn_model_config *c, mn_model_uses *out) {
    memset(out, 0, sizeof *out);
    if (c->num_blocks < 0 || c->num_blocks > MN_MAX_BLOCKS)
        return mn_fail(MN_E_ARG, "blocks must be from 1 to %d, got %d", MN_MAX_BLOCKS,
                       c->num_blocks);
    mn_block_config b[MN_MAX_BLOCKS];
    int n = mn_model_blocks(c, b);
    for (int k = 0; k < n; k++) {
        const mn_layer_kind *kind = mn_layer_kind_find(b[k].kind);
        if (!kind)
            return mn_fail(MN_E_ARG, "block %d: unknown layer kind '%.*s'; choose one of: %s",
                           k, MN_KIND_NAME_MAX, b[k].kind, mn_layer_kind_names());
        out->blocks++;
        out->recurrent += !!(kind->caps & MN_KIND_RECURRENT);
        /* without biases there is no keep-gate bias to set */
        out->keep_gate += (kind->caps & MN_KIND_GATED) && !b[k].no_bias;
        out->forget_bias += (kind->caps & MN_KIND_FORGET_BIAS) && !b[k].no_bias;
        out->ssm_lr += !!(kind->caps & MN_KIND_SSM_GROUP);
        /* a plain stack's blocks all take hidden_size; a spec's only where it gave none */
        out->hidden_size += (kind->caps & MN_KIND_WIDTH) &&
                            (c->num_blocks == 0 || c->blocks[k].width == 0);
    }
    if (c->vocab_size > 0 && c->embed_size == 0 && n > 0 &&
        !(c->num_blocks > 0 && c->blocks[0].width > 0 &&
          (mn_layer_kind_find(c->blocks[0].kind)->caps & MN_KIND_WIDTH)))
        out->hidden_size++;   /* the embedding (see mn_model_embed_width) */
    return MN_OK;
}

static mn_status check_block(const mn_block_config *b, int k, int in, int *out) {
    const mn_layer_kind *kind = mn_layer_kind_find(b->kind);
    if (!kind)
        return mn_fail(MN_E_ARG, "block %d: unknown layer kind '%.*s'; choose one of: %s", k,
                       MN_KIND_NAME_MAX, b->kind, mn_layer_kind_names());
    if ((kind->caps & MN_KIND_WIDTH) && (b->width < 1 || b->width > 65536))
        return mn_fail(MN_E_ARG, "block %d (%s): width must be from 1 to 65536, got %d", k,
                       kind->name, b->width);
    if (b->bidirectional != 0 && b->bidirectional != 1)
        return mn_fail(MN_E_ARG, "block %d: bidirectional must be 0 or 1", k);
    if (b->bidirectional && !(kind->caps & MN_KIND_BIDIRECTIONAL))
        return mn_fail(MN_E_ARG, "block %d: %s cannot run bidirectionally; only recurrent kinds "
                       "can", k, kind->name);
    if (b->residual != 0 && b->residual != 1)
        return mn_fail(MN_E_ARG, "block %d: residual must be 0 or 1", k);
    if ((unsigned)b->norm > MN_NORM_POST || (unsigned)b->norm_kind > MN_NORM_RMSNORM)
        return mn_fail(MN_E_ARG, "block %d: unknown normalization %d/%d", k, (int)b->norm,
                       (int)b->norm_kind);
    if (!(b->dropout >= 0 && b->dropout < 1))
        return mn_fail(MN_E_ARG, "block %d: dropout must be in [0, 1), got %g", k, b->dropout);
    if ((b->heads || b->causal || b->rope) && !(kind->caps & MN_KIND_ATTENTION))
        return mn_fail(MN_E_ARG, "block %d (%s): heads, causal and rope are options of attention",
                       k, kind->name);
    if (b->heads < 0 || b->heads > 4096 || (unsigned)b->causal > 1 || (unsigned)b->rope > 1)
        return mn_fail(MN_E_ARG, "block %d (%s): heads must be from 1 to 4096 (0 means 1), causal "
                       "and rope 0 or 1", k, kind->name);
    if (b->max_len && !(kind->caps & MN_KIND_MAX_LEN))
        return mn_fail(MN_E_ARG, "block %d (%s): max-len is an option of learned positions", k,
                       kind->name);
    if (b->max_len < 0 || b->max_len > 1 << 24)
        return mn_fail(MN_E_ARG, "block %d (%s): max-len must be from 1 to %d (0 means 4096)", k,
                       kind->name, 1 << 24);
    char owners[160];
    if ((b->kernel || b->dilation) && !(kind->caps & MN_KIND_CONV))
        return mn_fail(MN_E_ARG, "block %d (%s): kernel and dilation are options of the "
                       "convolutions (%s)", k, kind->name,
                       kinds_with(MN_KIND_CONV, owners, sizeof owners));
    if (b->kernel < 0 || b->kernel > 4096 || b->dilation < 0 || b->dilation > 1 << 24 ||
        (int64_t)(b->kernel > 1 ? b->kernel - 1 : 1) * (b->dilation > 0 ? b->dilation : 1) >
            MAX_CONV_REACH)
        return mn_fail(MN_E_ARG, "block %d (%s): kernel must be from 1 to 4096 and dilation from "
                       "1 to %d (0 means 2 and 1), with (kernel-1)*dilation at most %d; got "
                       "kernel %d, dilation %d", k, kind->name, 1 << 24, MAX_CONV_REACH,
                       b->kernel, b->dilation);
    if ((b->state || b->ssm_init) && !(kind->caps & MN_KIND_STATE))
        return mn_fail(MN_E_ARG, "block %d (%s): state and init are options of the state "
                       "spaces (%s)", k, kind->name,
                       kinds_with(MN_KIND_STATE, owners, sizeof owners));
    if (b->state < 0 || b->state > 4096 || b->state % 2 ||
        (unsigned)b->ssm_init > MN_SSM_INIT_REAL)
        return mn_fail(MN_E_ARG, "block %d (%s): state must be an even number from 2 to 4096 "
                       "(0 means the kind's default), got %d; init one of lin, inv, real", k,
                       kind->name, b->state);
    if ((unsigned)b->no_bias > 1)
        return mn_fail(MN_E_ARG, "block %d (%s): no_bias must be 0 or 1", k, kind->name);
    if (b->no_bias && !(kind->caps & MN_KIND_NO_BIAS))
        return mn_fail(MN_E_ARG, "block %d (%s): nobias is an option of the recurrent kinds "
                       "(%s)", k, kind->name, kinds_with(MN_KIND_NO_BIAS, owners, sizeof owners));
    if ((unsigned)b->weight_norm > 1)
        return mn_fail(MN_E_ARG, "block %d (%s): weight_norm must be 0 or 1", k, kind->name);
    if (b->weight_norm && !(kind->caps & MN_KIND_WEIGHT_NORM))
        return mn_fail(MN_E_ARG, "block %d (%s): weight-norm is an option of %s only", k,
                       kind->name, kinds_with(MN_KIND_WEIGHT_NORM, owners, sizeof owners));
    if (b->proj && !(kind->caps & MN_KIND_PROJECTION))
        return mn_fail(MN_E_ARG, "block %d (%s): proj (PyTorch's proj_size) is an option of %s "
                       "only", k, kind->name, kinds_with(MN_KIND_PROJECTION, owners,
                                                         sizeof owners));
    if (b->proj < 0 || (b->proj && b->proj >= b->width))
        return mn_fail(MN_E_ARG, "block %d (%s): proj must be from 1 to width - 1 = %d, as "
                       "PyTorch's proj_size must be smaller than hidden_size; got proj %d",
                       k, kind->name, b->width - 1, b->proj);
    if ((kind->caps & MN_KIND_ATTENTION) && in % (b->heads > 0 ? b->heads : 1))
        return mn_fail(MN_E_ARG, "block %d (%s): its input width d_model = %d does not divide into "
                       "%d heads; choose heads dividing %d", k, kind->name, in, b->heads, in);
    if (kind->check) {
        mn_status st = kind->check(b, in);
        if (st) return st;
    }
    *out = kind->out_width(b, in);
    if (b->residual && *out != in)
        return mn_fail(MN_E_ARG, "block %d (%s): a residual connection adds the block's input "
                       "(%d features) to its output (%d features); make the widths equal, e.g. "
                       "%s:%d%s, or drop residual", k, kind->name, in, *out, kind->name,
                       b->bidirectional ? in / 2 : in, b->bidirectional ? ":bidirectional" : "");
    return MN_OK;
}

/* An encoder–decoder: blocks [0, E) encode the source, [E, n) decode; the decoder reads
 * the tokens (width in0) anew, must not see later steps of its own sequence (teacher
 * forcing would show it the answer) and reads the memory, the encoder's top output
 * (width mem), through at least one cross-attention block of the same width. */
static mn_status check_seq2seq(const mn_model_config *c, const mn_block_config *b, int n,
                               int k, int in, int mem) {
    const mn_layer_kind *kind = mn_layer_kind_find(b[k].kind);
    int E = c->encoder_blocks;
    if (k < E && (kind->caps & MN_KIND_MEMORY))
        return mn_fail(MN_E_ARG, "block %d (%s) is an encoder block (the first %d), and only a "
                       "decoder block can attend to the encoder's output", k, kind->name, E);
    if (k < E) return MN_OK;
    if (b[k].bidirectional || ((kind->caps & MN_KIND_ATTENTION) &&
                               !(kind->caps & MN_KIND_MEMORY) && !b[k].causal))
        return mn_fail(MN_E_ARG, "decoder block %d (%s) reads later steps of the decoder's "
                       "input, which under teacher forcing hold the answer; make it causal "
                       "(attention:causal) or one-directional", k, kind->name);
    if ((kind->caps & MN_KIND_MEMORY) && in != mem)
        return mn_fail(MN_E_ARG, "decoder block %d (%s) of width %d attends to the encoder's "
                       "output of width %d; give both the same width", k, kind->name, in, mem);
    int reads = 0;
    for (int j = E; j < n; j++) reads |= !!(mn_layer_kind_find(b[j].kind)->caps & MN_KIND_MEMORY);
    if (!reads)
        return mn_fail(MN_E_ARG, "the decoder (blocks %d to %d) has no cross-attention block, so "
                       "it never reads the encoder's output; add cross-attention", E, n - 1);
    return MN_OK;
}

mn_status mn_model_blocks_check(const mn_model_config *c, int in) {
    if (c->num_blocks < 0 || c->num_blocks > MN_MAX_BLOCKS)
        return mn_fail(MN_E_ARG, "blocks must be from 1 to %d, got %d", MN_MAX_BLOCKS,
                       c->num_blocks);
    mn_block_config b[MN_MAX_BLOCKS];
    int n = mn_model_blocks(c, b), in0 = in, mem = 0, E = c->encoder_blocks;
    if (E < 0 || (E > 0 && E >= n))
        return mn_fail(MN_E_ARG, "encoder blocks must be from 0 to %d (the blocks less one for "
                       "the decoder), got %d", n - 1, E);
    if (E > 0 && (c->num_blocks == 0 || c->vocab_size < 1 || c->output != MN_OUTPUT_EVERY))
        return mn_fail(MN_E_ARG, "an encoder–decoder reads tokens through blocks and outputs at "
                       "every step: give it blocks, a vocabulary and output every");
    for (int k = 0; k < n; k++) {
        if (k == E && k > 0) {
            mem = in;
            in = in0;
        }
        int bin = in;
        mn_status st = check_block(&b[k], k, in, &in);
        if (st || (E > 0 && (st = check_seq2seq(c, b, n, k, bin, mem)))) return st;
    }
    return MN_OK;
}

/* ------------------------------------------------------------------ the spec */

static int parse_int(const char *s, size_t len, int *out) {
    char buf[16];
    if (len == 0 || len >= sizeof buf) return 0;
    memcpy(buf, s, len);
    buf[len] = 0;
    for (size_t i = 0; i < len; i++)
        if (buf[i] < '0' || buf[i] > '9') return 0;
    long v = strtol(buf, NULL, 10);
    if (v > 1 << 30) return 0;
    *out = (int)v;
    return 1;
}

static int is(const char *s, size_t len, const char *word) {
    return strlen(word) == len && memcmp(s, word, len) == 0;
}

/* One block: KIND[:WIDTH][:OPTION...], the text [s, s+len). */
static mn_status parse_block(const char *s, size_t len, int k, mn_block_config *b) {
    memset(b, 0, sizeof *b);
    const char *end = s + len, *p = s;
    const mn_layer_kind *kind = NULL;
    /* each option once: a second residual, place, norm kind or dropout would silently
     * override the first */
    int seen_res = 0, seen_bi = 0, seen_place = 0, seen_norm = 0, seen_drop = 0;
    int seen_heads = 0, seen_causal = 0, seen_rope = 0, seen_max = 0;
    int seen_kernel = 0, seen_dilation = 0, seen_state = 0, seen_init = 0;
    int seen_proj = 0, seen_nobias = 0, seen_wn = 0;
    char owners[160];
#define ONCE(flag, what)                                                                     \
    do {                                                                                     \
        if (flag++)                                                                          \
            return mn_fail(MN_E_ARG, "--blocks: block %d ('%.*s') gives %s twice; give it "   \
                           "once", k, (int)len, s, what);                                    \
    } while (0)
    for (int field = 0; p <= end; field++) {
        const char *q = memchr(p, ':', (size_t)(end - p));
        if (!q) q = end;
        size_t n = (size_t)(q - p);
        if (n == 0)
            return mn_fail(MN_E_ARG, "--blocks: block %d ('%.*s') has an empty part; write "
                           "KIND[:WIDTH][:OPTION...] such as lstm:128:residual", k, (int)len, s);
        if (field == 0) {
            if (n >= MN_KIND_NAME_MAX) n = MN_KIND_NAME_MAX - 1;
            memcpy(b->kind, p, n);
            b->kind[n] = 0;
            if (!(kind = mn_layer_kind_find(b->kind)))
                return mn_fail(MN_E_ARG, "--blocks: block %d ('%.*s'): unknown layer kind '%.*s'; "
                               "choose one of: %s", k, (int)len, s, (int)(q - p), p,
                               mn_layer_kind_names());
        } else if (field == 1 && p[0] >= '0' && p[0] <= '9') {
            if (!(kind->caps & MN_KIND_WIDTH))
                return mn_fail(MN_E_ARG, "--blocks: block %d ('%.*s'): %s takes no width (its "
                               "output keeps its input's); drop ':%.*s'", k, (int)len, s,
                               kind->name, (int)n, p);
            if (!parse_int(p, n, &b->width) || b->width < 1 || b->width > 65536)
                return mn_fail(MN_E_ARG, "--blocks: block %d ('%.*s'): width '%.*s' must be a "
                               "whole number from 1 to 65536", k, (int)len, s, (int)n, p);
        } else if (is(p, n, "residual")) {
            ONCE(seen_res, "residual");
            b->residual = 1;
        } else if (is(p, n, "bidirectional") || is(p, n, "bi")) {
            ONCE(seen_bi, "bidirectional");
            b->bidirectional = 1;
        } else if (is(p, n, "pre") || is(p, n, "post")) {
            ONCE(seen_place, "the normalization's place (pre or post)");
            b->norm = p[1] == 'r' ? MN_NORM_PRE : MN_NORM_POST;
        } else if (is(p, n, "layernorm") || is(p, n, "rmsnorm")) {
            ONCE(seen_norm, "the normalization (layernorm or rmsnorm)");
            b->norm_kind = p[0] == 'l' ? MN_NORM_LAYERNORM : MN_NORM_RMSNORM;
            if (b->norm == MN_NORM_NONE) b->norm = MN_NORM_PRE;
        } else if (n > 8 && memcmp(p, "dropout=", 8) == 0) {
            ONCE(seen_drop, "dropout");
            char buf[32], *e;
            size_t m = n - 8 < sizeof buf - 1 ? n - 8 : sizeof buf - 1;
            memcpy(buf, p + 8, m);
            buf[m] = 0;
            errno = 0;
            double v = strtod(buf, &e);
            if (errno || *e || !(v >= 0 && v < 1))
                return mn_fail(MN_E_ARG, "--blocks: block %d ('%.*s'): dropout '%s' must be a "
                               "number in [0, 1)", k, (int)len, s, buf);
            b->dropout = (float)v;
        } else if ((n > 6 && memcmp(p, "heads=", 6) == 0) ||
                   (n > 8 && memcmp(p, "max-len=", 8) == 0)) {
            int heads = p[0] == 'h', skip = heads ? 6 : 8;
            unsigned need = heads ? MN_KIND_ATTENTION : MN_KIND_MAX_LEN;
            ONCE((*(heads ? &seen_heads : &seen_max)), heads ? "heads" : "max-len");
            if (!(kind->caps & need))
                return mn_fail(MN_E_ARG, "--blocks: block %d ('%.*s'): %s takes no %s; only %s "
                               "does", k, (int)len, s, kind->name, heads ? "heads" : "max-len",
                               heads ? "attention" : "learned-positions");
            int *v = heads ? &b->heads : &b->max_len;
            if (!parse_int(p + skip, n - (size_t)skip, v) || *v < 1 || *v > (heads ? 4096 : 1 << 24))
                return mn_fail(MN_E_ARG, "--blocks: block %d ('%.*s'): '%.*s' needs a whole number "
                               "from 1 to %d", k, (int)len, s, (int)n, p, heads ? 4096 : 1 << 24);
        } else if ((n > 7 && memcmp(p, "kernel=", 7) == 0) ||
                   (n > 9 && memcmp(p, "dilation=", 9) == 0) ||
                   (n > 6 && memcmp(p, "state=", 6) == 0)) {
            /* kernel=K, dilation=D (convolutions), state=N (state spaces) */
            int which = p[0] == 'k' ? 0 : p[0] == 'd' ? 1 : 2;
            static const char *const names[] = {"kernel", "dilation", "state"};
            static const int skip[] = {7, 9, 6}, hi[] = {4096, 1 << 24, 4096};
            unsigned need = which < 2 ? MN_KIND_CONV : MN_KIND_STATE;
            int *seen[] = {&seen_kernel, &seen_dilation, &seen_state};
            int *v[] = {&b->kernel, &b->dilation, &b->state};
            ONCE((*seen[which]), names[which]);
            if (!(kind->caps & need))
                return mn_fail(MN_E_ARG, "--blocks: block %d ('%.*s'): %s takes no %s; only %s "
                               "do", k, (int)len, s, kind->name, names[which],
                               kinds_with(need, owners, sizeof owners));
            if (!parse_int(p + skip[which], n - (size_t)skip[which], v[which]) || *v[which] < 1 ||
                *v[which] > hi[which] || (which == 2 && *v[which] % 2))
                return mn_fail(MN_E_ARG, "--blocks: block %d ('%.*s'): '%.*s' needs a%s whole "
                               "number from %d to %d", k, (int)len, s, (int)n, p,
                               which == 2 ? "n even" : "", which == 2 ? 2 : 1, hi[which]);
        } else if (n > 5 && memcmp(p, "init=", 5) == 0) {
            ONCE(seen_init, "init");
            if (!(kind->caps & MN_KIND_STATE))
                return mn_fail(MN_E_ARG, "--blocks: block %d ('%.*s'): %s takes no init; only %s "
                               "do", k, (int)len, s, kind->name,
                               kinds_with(MN_KIND_STATE, owners, sizeof owners));
            b->ssm_init = MN_SSM_INIT_DEFAULT;
            for (int i = MN_SSM_INIT_LIN; i <= MN_SSM_INIT_REAL; i++)
                if (is(p + 5, n - 5, SSM_INITS[i])) b->ssm_init = (mn_ssm_init)i;
            if (b->ssm_init == MN_SSM_INIT_DEFAULT)
                return mn_fail(MN_E_ARG, "--blocks: block %d ('%.*s'): '%.*s': init is one of "
                               "lin (S4D-Lin), inv (S4D-Inv), real (S4D-Real)", k, (int)len, s,
                               (int)n, p);
        } else if (is(p, n, "nobias")) {
            ONCE(seen_nobias, "nobias");
            if (!(kind->caps & MN_KIND_NO_BIAS))
                return mn_fail(MN_E_ARG, "--blocks: block %d ('%.*s'): %s takes no nobias; only "
                               "%s do", k, (int)len, s, kind->name,
                               kinds_with(MN_KIND_NO_BIAS, owners, sizeof owners));
            b->no_bias = 1;
        } else if (is(p, n, "weight-norm")) {
            ONCE(seen_wn, "weight-norm");
            if (!(kind->caps & MN_KIND_WEIGHT_NORM))
                return mn_fail(MN_E_ARG, "--blocks: block %d ('%.*s'): %s takes no weight-norm; "
                               "only %s does", k, (int)len, s, kind->name,
                               kinds_with(MN_KIND_WEIGHT_NORM, owners, sizeof owners));
            b->weight_norm = 1;
        } else if (n > 5 && memcmp(p, "proj=", 5) == 0) {
            ONCE(seen_proj, "proj");
            if (!(kind->caps & MN_KIND_PROJECTION))
                return mn_fail(MN_E_ARG, "--blocks: block %d ('%.*s'): %s takes no proj "
                               "(PyTorch's proj_size is an LSTM's); only %s does", k, (int)len,
                               s, kind->name, kinds_with(MN_KIND_PROJECTION, owners,
                                                         sizeof owners));
            if (!parse_int(p + 5, n - 5, &b->proj) || b->proj < 1 || b->proj > 65535)
                return mn_fail(MN_E_ARG, "--blocks: block %d ('%.*s'): '%.*s' needs a whole "
                               "number from 1 to the block's width - 1", k, (int)len, s,
                               (int)n, p);
        } else if (is(p, n, "causal") || is(p, n, "rope")) {
            int causal = p[0] == 'c';
            ONCE((*(causal ? &seen_causal : &seen_rope)), causal ? "causal" : "rope");
            if (!(kind->caps & MN_KIND_ATTENTION))
                return mn_fail(MN_E_ARG, "--blocks: block %d ('%.*s'): %s is an option of "
                               "attention, not of %s", k, (int)len, s, causal ? "causal" : "rope",
                               kind->name);
            *(causal ? &b->causal : &b->rope) = 1;
        } else {
            return mn_fail(MN_E_ARG, "--blocks: block %d ('%.*s'): '%.*s' is not a width or an "
                           "option; options are " OPTIONS, k, (int)len, s, (int)n, p);
        }
        p = q + 1;
    }
#undef ONCE
    return MN_OK;
}

mn_status mn_blocks_parse(const char *spec, mn_model_config *cfg) {
    if (!spec || !*spec)
        return mn_fail(MN_E_ARG, "--blocks: the spec is empty; write blocks separated by ',', "
                       "each KIND[:WIDTH][:OPTION...], e.g. lstm:128,lstm:128:residual");
    mn_block_config blocks[MN_MAX_BLOCKS];
    int n = 0;
    for (const char *p = spec;; n++) {
        const char *q = strchr(p, ',');
        size_t len = q ? (size_t)(q - p) : strlen(p);
        if (n == MN_MAX_BLOCKS)
            return mn_fail(MN_E_ARG, "--blocks: more than %d blocks", MN_MAX_BLOCKS);
        if (len == 0)
            return mn_fail(MN_E_ARG, "--blocks: block %d is empty (two commas, or a comma at "
                           "the start or end of '%s')", n, spec);
        mn_status st = parse_block(p, len, n, &blocks[n]);
        if (st) return st;
        if (!q) { n++; break; }
        p = q + 1;
    }
    memcpy(cfg->blocks, blocks, (size_t)n * sizeof blocks[0]);
    cfg->num_blocks = n;
    return MN_OK;
}

int mn_blocks_format(const mn_model_config *cfg, char *buf, size_t cap) {
    mn_block_config b[MN_MAX_BLOCKS];
    int n = mn_model_blocks(cfg, b);
    size_t len = 0;
    char tmp[256];
    for (int k = 0; k < n; k++) {
        const mn_layer_kind *kind = mn_layer_kind_find(b[k].kind);
        int w = 0;
        w += snprintf(tmp + w, sizeof tmp - (size_t)w, "%s%.*s", k ? "," : "",
                      MN_KIND_NAME_MAX, b[k].kind);
        if (!kind || (kind->caps & MN_KIND_WIDTH))
            w += snprintf(tmp + w, sizeof tmp - (size_t)w, ":%d", b[k].width);
        if (b[k].bidirectional) w += snprintf(tmp + w, sizeof tmp - (size_t)w, ":bidirectional");
        if (b[k].proj > 0) w += snprintf(tmp + w, sizeof tmp - (size_t)w, ":proj=%d", b[k].proj);
        if (b[k].no_bias) w += snprintf(tmp + w, sizeof tmp - (size_t)w, ":nobias");
        if (b[k].weight_norm) w += snprintf(tmp + w, sizeof tmp - (size_t)w, ":weight-norm");
        if (b[k].residual) w += snprintf(tmp + w, sizeof tmp - (size_t)w, ":residual");
        if (b[k].norm != MN_NORM_NONE)
            w += snprintf(tmp + w, sizeof tmp - (size_t)w, ":%s:%s",
                          b[k].norm == MN_NORM_PRE ? "pre" : "post",
                          b[k].norm_kind == MN_NORM_RMSNORM ? "rmsnorm" : "layernorm");
        if (b[k].dropout > 0) {
            /* the shortest text that reads back as the same float: 0.1, not 0.100000001 */
            char num[32];
            for (int digits = 1; digits <= 9; digits++) {
                snprintf(num, sizeof num, "%.*g", digits, b[k].dropout);
                if ((float)strtod(num, NULL) == b[k].dropout) break;
            }
            w += snprintf(tmp + w, sizeof tmp - (size_t)w, ":dropout=%s", num);
        }
        if (b[k].heads > 1) w += snprintf(tmp + w, sizeof tmp - (size_t)w, ":heads=%d", b[k].heads);
        if (b[k].causal) w += snprintf(tmp + w, sizeof tmp - (size_t)w, ":causal");
        if (b[k].rope) w += snprintf(tmp + w, sizeof tmp - (size_t)w, ":rope");
        if (b[k].max_len > 0)
            w += snprintf(tmp + w, sizeof tmp - (size_t)w, ":max-len=%d", b[k].max_len);
        if (b[k].kernel > 0) w += snprintf(tmp + w, sizeof tmp - (size_t)w, ":kernel=%d", b[k].kernel);
        if (b[k].dilation > 0)
            w += snprintf(tmp + w, sizeof tmp - (size_t)w, ":dilation=%d", b[k].dilation);
        if (b[k].state > 0) w += snprintf(tmp + w, sizeof tmp - (size_t)w, ":state=%d", b[k].state);
        if (b[k].ssm_init > MN_SSM_INIT_DEFAULT && b[k].ssm_init <= MN_SSM_INIT_REAL)
            w += snprintf(tmp + w, sizeof tmp - (size_t)w, ":init=%s", SSM_INITS[b[k].ssm_init]);
        if (buf && len + (size_t)w < cap) memcpy(buf + len, tmp, (size_t)w + 1);
        len += (size_t)w;
    }
    if (buf && cap && len >= cap) buf[cap - 1] = 0;   /* truncated, still terminated */
    if (buf && cap && n == 0) buf[0] = 0;
    return (int)len;
}

int64_t mn_model_receptive_field(const mn_model_config *cfg) {
    mn_block_config b[MN_MAX_BLOCKS];
    int n = mn_model_blocks(cfg, b);
    int64_t field = 1;
    for (int k = 0; k < n; k++) {
        const mn_layer_kind *kind = mn_layer_kind_find(b[k].kind);
        int64_t h = kind ? mn_kind_history(kind, &b[k]) : -1;
        if (h < 0 || field > INT64_MAX - h) return -1;
        field += h;
    }
    return field;
}
