/* Model checkpoints as safetensors: the tensors under PyTorch state-dict names, and the
 * model description in __metadata__ so that the file alone rebuilds the model. */
#include "checkpoint.h"
#include "blocks.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *output_names[] = {"last", "every"};
static const char *loss_names[] = {"mse", "ce"};
static const char *init_names[] = {"uniform", "orthogonal", "identity"};

mn_status mn_model_save(const mn_model *m, const char *path, const char *const *extra) {
    return mn_model_save_with(m, path, extra, NULL, 0);
}

mn_status mn_model_save_with(const mn_model *m, const char *path, const char *const *extra,
                             const mn_st_entry *more, int nmore) {
    const mn_model_config *c = &m->cfg;
    char num[11][32];
    snprintf(num[0], 32, "%d", c->input_size);
    snprintf(num[1], 32, "%d", c->vocab_size);
    snprintf(num[2], 32, "%d", c->embed_size);
    snprintf(num[3], 32, "%d", c->hidden_size);
    snprintf(num[4], 32, "%d", c->num_layers);
    snprintf(num[5], 32, "%d", c->bidirectional);
    snprintf(num[6], 32, "%d", c->output_size);
    mn_float_text(num[7], 32, c->forget_bias);
    snprintf(num[8], 32, "%d", c->chrono_tmax);
    mn_float_text(num[9], 32, c->init_gain);
    snprintf(num[10], 32, "%d", c->encoder_blocks);
    /* the init fields a block read, and only those: a value that changed nothing is no
     * record of the run */
    mn_model_uses u;
    if (mn_model_config_uses(c, &u) != MN_OK) memset(&u, 0, sizeof u);
    const int chrono = u.keep_gate > 0 && c->chrono_tmax > 1;
    const char *meta[2 * 48 + 1];
    int n = 0;
#define KV(k, v) (meta[n++] = (k), meta[n++] = (v))
    KV("format", "mnemo");
    KV("mnemo_version", MNEMO_VERSION);
    char blocks[MN_MAX_BLOCKS * 96];
    if (c->num_blocks > 0) {
        mn_blocks_format(c, blocks, sizeof blocks);
        KV("model.blocks", blocks);
    }
    KV("model.cell", mn_cell_name(c->cell));
    KV("model.input_size", num[0]);
    KV("model.vocab_size", num[1]);
    KV("model.embed_size", num[2]);
    KV("model.hidden_size", num[3]);
    KV("model.num_layers", num[4]);
    KV("model.bidirectional", num[5]);
    KV("model.output_size", num[6]);
    KV("model.output", output_names[c->output]);
    KV("model.loss", loss_names[c->loss]);
    if (u.recurrent) KV("model.recurrent_init", init_names[c->recurrent_init]);
    if (u.recurrent && c->recurrent_init != MN_INIT_UNIFORM) KV("model.init_gain", num[9]);
    if (u.forget_bias && !chrono) KV("model.forget_bias", num[7]);
    if (chrono) KV("model.chrono_tmax", num[8]);
    if (c->encoder_blocks > 0) KV("model.encoder_blocks", num[10]);   /* seq2seq models only */
#undef KV
    for (int i = 0; extra && extra[i] && extra[i + 1]; i += 2) {
        if (n + 2 > 2 * 48)   /* never drop what the caller asked to record */
            return mn_fail(MN_E_ARG, "%s: more metadata than a model file holds (at most %d "
                           "extra key/value pairs)", path, (2 * 48 - 30) / 2);
        meta[n++] = extra[i];
        meta[n++] = extra[i + 1];
    }
    meta[n] = NULL;

    mn_st_entry e[MN_MAX_TENSORS + 4];
    int64_t shapes[MN_MAX_TENSORS][MN_MAX_DIMS];
    for (int i = 0; i < m->ntensors; i++) {
        const mn_tensor_view *t = &m->tensors[i];
        for (int d = 0; d < t->ndim; d++) shapes[i][d] = t->shape[d];
        e[i] = (mn_st_entry){t->name, MN_ST_F32, t->ndim, shapes[i], m->params + t->offset};
    }
    int ne = m->ntensors;
    for (int i = 0; i < nmore && i < 4; i++) e[ne++] = more[i];
    return mn_st_write(path, e, ne, meta);
}

/* Reads a whole number in [lo, hi] from metadata; the file is untrusted. */
static mn_status meta_int(const mn_st_file *f, const char *path, const char *key, int lo,
                          int hi, int *out) {
    const char *v = mn_st_meta(f, key);
    if (!v) return mn_fail(MN_E_INPUT, "%s: metadata has no '%s'; was it written by mnemo?", path, key);
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    char shown[MN_ESCAPE_CAP];
    if (errno || end == v || *end || x < lo || x > hi)
        return mn_fail(MN_E_INPUT, "%s: metadata '%s' = \"%s\" is not a whole number in [%d, %d]",
                       path, key, mn_escape(shown, sizeof shown, v), lo, hi);
    *out = (int)x;
    return MN_OK;
}

static mn_status meta_choice(const mn_st_file *f, const char *path, const char *key,
                             const char *const *names, int count, int *out) {
    const char *v = mn_st_meta(f, key);
    if (!v) return mn_fail(MN_E_INPUT, "%s: metadata has no '%s'; was it written by mnemo?", path, key);
    for (int i = 0; i < count; i++)
        if (strcmp(v, names[i]) == 0) { *out = i; return MN_OK; }
    char shown[MN_ESCAPE_CAP];
    return mn_fail(MN_E_INPUT, "%s: metadata '%s' has an unknown value \"%s\"", path, key,
                   mn_escape(shown, sizeof shown, v));
}

static mn_status config_from_file(const mn_st_file *f, const char *path, mn_model_config *c) {
    mn_model_config_init(c);
    const char *fmt = mn_st_meta(f, "format");
    if (!fmt || strcmp(fmt, "mnemo") != 0)
        return mn_fail(MN_E_INPUT, "%s: not a mnemo checkpoint (no __metadata__ format=mnemo); "
                       "plain PyTorch state dicts are read by `mnemo predict`", path);
    const char *cell = mn_st_meta(f, "model.cell"), *blocks = mn_st_meta(f, "model.blocks");
    if (blocks && mn_blocks_parse(blocks, c) != MN_OK) {
        char why[400];   /* the parser quotes the file's text: escape it */
        return mn_fail(MN_E_INPUT, "%s: metadata 'model.blocks' is malformed: %s", path,
                       mn_escape(why, sizeof why, mn_last_error()));
    }
    if (!blocks && (!cell || mn_cell_parse(cell, &c->cell) != MN_OK))
        return mn_fail(MN_E_INPUT, "%s: metadata 'model.cell' is missing or unknown", path);
    int out = 0, loss = 0, init = 0, bi = 0;
    mn_status st;
    if ((st = meta_int(f, path, "model.input_size", 0, 1 << 20, &c->input_size)) ||
        (st = meta_int(f, path, "model.vocab_size", 0, 1 << 24, &c->vocab_size)) ||
        (st = meta_int(f, path, "model.embed_size", 0, 65536, &c->embed_size)) ||
        (st = meta_int(f, path, "model.hidden_size", 1, 65536, &c->hidden_size)) ||
        (st = meta_int(f, path, "model.num_layers", 1, MN_MAX_LAYERS, &c->num_layers)) ||
        (st = meta_int(f, path, "model.bidirectional", 0, 1, &bi)) ||
        (st = meta_int(f, path, "model.output_size", 1, 1 << 20, &c->output_size)) ||
        (st = meta_choice(f, path, "model.output", output_names, 2, &out)) ||
        (st = meta_choice(f, path, "model.loss", loss_names, 2, &loss)))
        return st;
    c->bidirectional = bi;
    c->output = (mn_output_mode)out;
    c->loss = (mn_loss_kind)loss;
    /* optional (files of other models lack them), but never wrong: an unknown value is an
     * error */
    if (mn_st_meta(f, "model.encoder_blocks") &&
        (st = meta_int(f, path, "model.encoder_blocks", 1, MN_MAX_BLOCKS - 1, &c->encoder_blocks)))
        return st;
    if (mn_st_meta(f, "model.recurrent_init")) {
        if ((st = meta_choice(f, path, "model.recurrent_init", init_names, 3, &init))) return st;
        c->recurrent_init = (mn_recurrent_init)init;
    }
    return MN_OK;
}

static char *copy_string(const char *s) {
    size_t n = strlen(s) + 1;
    char *p = mn_alloc(n);
    if (p) memcpy(p, s, n);
    return p;
}

/* Tensors a training checkpoint adds beside the model's (see train_checkpoint.c). */
static int is_trainer_tensor(const char *name) { return !strncmp(name, "optimizer.", 10); }

mn_status mn_model_read_params(mn_model *m, const mn_st_file *f, const char *path) {
    mn_model_config c;
    mn_status st = config_from_file(f, path, &c);
    if (st) return st;
    const mn_model_config *h = &m->cfg;
    char has[MN_MAX_BLOCKS * 96], want[MN_MAX_BLOCKS * 96];
    mn_blocks_format(&c, has, sizeof has);
    mn_blocks_format(h, want, sizeof want);
    if (strcmp(has, want) || c.input_size != h->input_size || c.vocab_size != h->vocab_size ||
        c.output_size != h->output_size || c.output != h->output || c.loss != h->loss ||
        mn_model_embed_width(&c) != mn_model_embed_width(h))
        return mn_fail(MN_E_INPUT, "%s holds the blocks %s, which are not the model of these "
                       "options (%s); use the options the checkpoint was written with", path,
                       has, want);
    if (c.encoder_blocks != h->encoder_blocks)
        return mn_fail(MN_E_INPUT, "%s holds a model whose first %d blocks are its encoder, and "
                       "this model's first %d; use the options the checkpoint was written with",
                       path, c.encoder_blocks, h->encoder_blocks);
    /* every tensor the model has, with its exact shape, and nothing else */
    for (int i = 0; i < m->ntensors; i++) {
        const mn_tensor_view *t = &m->tensors[i];
        const mn_st_tensor *s = mn_st_find(f, t->name);
        if (!s) return mn_fail(MN_E_INPUT, "%s: tensor '%s' is missing", path, t->name);
        int same = s->dtype == MN_ST_F32 && s->ndim == t->ndim;
        for (int d = 0; same && d < t->ndim; d++) same = s->shape[d] == t->shape[d];
        if (!same) {
            char want[64] = "", *p = want;
            for (int d = 0; d < t->ndim; d++)
                p += snprintf(p, sizeof want - (size_t)(p - want), d ? ", %d" : "%d", t->shape[d]);
            return mn_fail(MN_E_INPUT, "%s: tensor '%s' must be F32 of shape [%s] for this "
                           "model", path, t->name, want);
        }
        memcpy(m->params + t->offset, s->data, t->size * sizeof(float));
    }
    if (mn_st_count(f) != m->ntensors) {
        for (int i = 0; i < mn_st_count(f); i++) {
            const char *name = mn_st_at(f, i)->name;
            int known = is_trainer_tensor(name);
            for (int j = 0; j < m->ntensors && !known; j++) known = !strcmp(name, m->tensors[j].name);
            char shown[MN_ESCAPE_CAP];
            if (!known)
                return mn_fail(MN_E_INPUT, "%s: unexpected tensor '%s' for a %s model", path,
                               mn_escape(shown, sizeof shown, name), has);
        }
    }
    return MN_OK;
}

/* The metadata is untrusted: a few hundred bytes could describe a model of gigabytes, and
 * building it would take that memory and time before the missing tensors are noticed. So
 * the tensors a file holds must be about as large as the model its metadata describes. */
static mn_status check_size_claim(const mn_st_file *f, const char *path,
                                  const mn_model_config *c) {
    mn_memory_estimate e;
    if (mn_memory_estimate_run(c, 1, 1, 0, &e) != MN_OK)
        return mn_fail(MN_E_INPUT, "%s: the metadata describes an impossible model: %s", path,
                       mn_last_error());
    size_t held = 0;
    for (int i = 0; i < mn_st_count(f); i++) {
        const mn_st_tensor *t = mn_st_at(f, i);
        if (!is_trainer_tensor(t->name)) held += t->nbytes;
    }
    char spec[256];
    mn_blocks_format(c, spec, sizeof spec);
    if (held + 4096 < e.params)
        return mn_fail(MN_E_INPUT, "%s: the metadata describes a %s model with %zu bytes of "
                       "parameters, but the file holds only %zu bytes of tensors; it is "
                       "truncated or its metadata is wrong", path, spec,
                       e.params, held);
    return MN_OK;
}

mn_status mn_model_load(const char *path, mn_model **out) {
    *out = NULL;
    mn_st_file *f;
    mn_model *m = NULL;
    mn_model_config c;
    mn_status st = mn_st_read(path, &f);
    if (st) return st;
    if ((st = config_from_file(f, path, &c))) goto done;
    if ((st = check_size_claim(f, path, &c))) goto done;
    if ((st = mn_model_create(&c, 0, &m))) {
        st = mn_fail(MN_E_INPUT, "%s: the metadata describes an impossible model: %s", path,
                     mn_last_error());
        goto done;
    }
    if ((st = mn_model_read_params(m, f, path))) goto done;
    int nm = mn_st_meta_count(f);
    if (nm > 0 && !(m->meta = mn_alloc_zero((size_t)nm * 2 * sizeof(char *)))) {
        st = MN_E_NOMEM;
        goto done;
    }
    for (int i = 0; i < nm; i++) {
        const char *k, *v;
        mn_st_meta_at(f, i, &k, &v);
        m->meta[2 * i] = copy_string(k);
        m->meta[2 * i + 1] = copy_string(v);
        m->nmeta = i + 1;
        if (!m->meta[2 * i] || !m->meta[2 * i + 1]) { st = MN_E_NOMEM; goto done; }
    }
done:
    mn_st_free(f);
    if (st) mn_model_free(m);
    else *out = m;
    return st;
}
