/* A PyTorch state dict read into a model by tensor name (mn_model_load_state_dict). The
 * model's names are PyTorch's own (nn.LSTM's "weight_ih_l0", nn.TransformerEncoder's
 * "layers.0.self_attn.in_proj_weight"), so a module's state_dict() saved with safetensors
 * loads as it is, under any common prefix ("encoder." when it was part of a larger module).
 * Weights saved in half precision or float64 are read as float32 (mn_st_read_f32); tensors
 * outside the prefix are not looked at, whatever their dtype. */
#include "model.h"
#include "safetensors.h"

#include <stdio.h>
#include <string.h>

/* The prefix under which the file holds the model's first tensor: empty, or ending in '.'. */
static mn_status find_prefix(const char *path, const mn_st_file *f, const char *first,
                             char *prefix, size_t cap) {
    size_t flen = strlen(first);
    int found = 0;
    for (int i = 0; i < mn_st_count(f); i++) {
        const char *n = mn_st_at(f, i)->name;
        size_t len = strlen(n);
        if (len < flen || strcmp(n + len - flen, first)) continue;
        size_t plen = len - flen;
        if ((plen && n[plen - 1] != '.') || plen >= cap) continue;
        if (found) {
            char a[MN_ESCAPE_CAP], b[MN_ESCAPE_CAP];
            return mn_fail(MN_E_INPUT, "%s: holds '%s' under two prefixes ('%s' and '%s'); save "
                           "the state dict of the one module to run", path, first,
                           mn_escape(a, sizeof a, prefix), mn_escape(b, sizeof b, n));
        }
        memcpy(prefix, n, plen);
        prefix[plen] = 0;
        found = 1;
    }
    if (found) return MN_OK;
    const mn_st_tensor *t = mn_st_at(f, 0);
    char held[MN_ESCAPE_CAP];
    return mn_fail(MN_E_INPUT, "%s: has no tensor '%s' (nor 'PREFIX.%s'), so it is not the "
                   "state dict of this model%s%s%s", path, first, first,
                   t ? " (it holds '" : "", t ? mn_escape(held, sizeof held, t->name) : "",
                   t ? "', ...)" : "");
}

static void shape_text(char *buf, size_t cap, const int64_t *shape, int ndim) {
    size_t n = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < ndim && n < cap; i++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (n < cap) snprintf(buf + n, cap - n, "]");
}

static int wanted(const mn_model *m, int i, int with_head) {
    return with_head || strncmp(m->tensors[i].name, "head.", 5) != 0;
}

static mn_status load(mn_model *m, const char *path, const mn_st_file *f, int with_head) {
    int first = 0;
    while (first < m->ntensors && !wanted(m, first, with_head)) first++;
    if (first == m->ntensors) return MN_OK;
    char prefix[256], full[384], has[96], want[96], shown[MN_ESCAPE_CAP];
    mn_status st = find_prefix(path, f, m->tensors[first].name, prefix, sizeof prefix);
    if (st) return st;
    for (int i = 0; i < m->ntensors; i++) {
        const mn_tensor_view *v = &m->tensors[i];
        if (!wanted(m, i, with_head)) continue;
        snprintf(full, sizeof full, "%s%s", prefix, v->name);
        const mn_st_tensor *t = mn_st_find(f, full);
        mn_escape(shown, sizeof shown, full);
        if (!t)
            return mn_fail(MN_E_INPUT, "%s: tensor '%s' is missing; the model asked for has it "
                           "(fewer layers, another norm placement or no bias in the file?)",
                           path, shown);
        int64_t ws[MN_MAX_DIMS];
        int same = t->ndim == v->ndim;
        for (int d = 0; d < v->ndim; d++) {
            ws[d] = v->shape[d];
            same = same && t->shape[d] == v->shape[d];
        }
        shape_text(has, sizeof has, t->shape, t->ndim);
        shape_text(want, sizeof want, ws, v->ndim);
        if (!same)
            return mn_fail(MN_E_INPUT, "%s: tensor '%s' has shape %s; this model needs %s", path,
                           shown, has, want);
        /* F16, BF16 and F64 weights (module.half(), .bfloat16(), .double()) are converted */
        if ((st = mn_st_read_f32(t, m->params + v->offset, v->size, path))) return st;
    }
    /* a tensor under the prefix that the model lacks means another architecture (more
     * layers, a final norm): running without it would compute something else silently */
    size_t plen = strlen(prefix);
    /* a mnemo checkpoint holds its input stage, head and optimizer state beside the layers
     * ("embedding.", "blocks.k.", "head.", "optimizer."): only more layers or a final norm
     * would mean another encoder */
    const char *fmt = mn_st_meta(f, "format");
    int mnemo_file = fmt && !strcmp(fmt, "mnemo");
    for (int j = 0; j < mn_st_count(f); j++) {
        const char *n = mn_st_at(f, j)->name;
        if (strncmp(n, prefix, plen)) continue;
        if (mnemo_file && strncmp(n + plen, "layers.", 7) && strncmp(n + plen, "norm.", 5))
            continue;
        int known = 0;
        for (int i = 0; i < m->ntensors && !known; i++)
            known = wanted(m, i, with_head) && !strcmp(n + plen, m->tensors[i].name);
        if (!known && (with_head || strncmp(n + plen, "head.", 5)))
            return mn_fail(MN_E_INPUT, "%s: tensor '%s' is not part of the model asked for "
                           "(more layers or another structure in the file?)", path,
                           mn_escape(shown, sizeof shown, n));
    }
    return MN_OK;
}

mn_status mn_model_load_state_dict(mn_model *m, const char *path, int with_head) {
    if (!m || !path) return mn_fail(MN_E_ARG, "mn_model_load_state_dict: model or path is NULL");
    mn_st_file *f;
    mn_status st = mn_st_read(path, &f);
    if (st) return st;
    st = load(m, path, f, with_head);
    mn_st_free(f);
    return st;
}
