/* npy:X.npy,Y.npy[,LENGTHS.npy] — arrays as numpy saves them, into mn_task_from_arrays.
 * X [N,T,I] float32 or [N,T] integer tokens; Y integer (classes) or float32 (regression),
 * [N] / [N,O] per sequence or [N,T] / [N,T,O] per step; LENGTHS [N]. Validation files, when
 * given, are appended after the training sequences and held out as they are. */
#include "data.h"
#include "npy.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    mn_array x, y, len;
    int has_len;
} npy_set;

static void set_free(npy_set *s) {
    mn_array_free(&s->x);
    mn_array_free(&s->y);
    mn_array_free(&s->len);
}

/* An integer array as int32 in place (int64 values must fit). */
static mn_status to_i32(mn_array *a, const char *path, const char *what) {
    char nb[MN_ESCAPE_CAP];
    if (a->dtype == MN_ARRAY_F32)
        return mn_fail(MN_E_INPUT, "\"%s\": %s must be integers (int32 or int64), got float32",
                       mn_data_name(nb, sizeof nb, path), what);
    if (a->dtype == MN_ARRAY_I32) return MN_OK;
    const int64_t *s = a->data;
    int32_t *d = a->data;
    for (size_t i = 0; i < a->count; i++) {
        if (s[i] < INT32_MIN || s[i] > INT32_MAX)
            return mn_fail(MN_E_INPUT, "\"%s\": %s element %zu is %lld, beyond 32 bits",
                           mn_data_name(nb, sizeof nb, path), what, i, (long long)s[i]);
        d[i] = (int32_t)s[i];   /* d[i] lies at or before s[i]: safe in place */
    }
    a->dtype = MN_ARRAY_I32;
    return MN_OK;
}

static mn_status load_set(char *const *p, int n, npy_set *s) {
    char nb[MN_ESCAPE_CAP];
    memset(s, 0, sizeof *s);
    mn_status st = mn_array_load(p[0], &s->x);
    if (!st) st = mn_array_load(p[1], &s->y);
    if (!st && n > 2) {
        s->has_len = 1;
        if (!(st = mn_array_load(p[2], &s->len))) st = to_i32(&s->len, p[2], "lengths");
    }
    if (st) return st;
    const mn_array *x = &s->x, *y = &s->y;
    if (x->ndim != 2 && x->ndim != 3)
        return mn_fail(MN_E_INPUT, "\"%s\": inputs X must be [N,T,I] float32 or [N,T] integer "
                       "tokens, got %d dimensions", mn_data_name(nb, sizeof nb, p[0]), x->ndim);
    if (x->ndim == 3 && x->dtype != MN_ARRAY_F32)
        return mn_fail(MN_E_INPUT, "\"%s\": inputs X [N,T,I] must be float32 (integer tokens "
                       "are [N,T])", mn_data_name(nb, sizeof nb, p[0]));
    if (x->ndim == 2 && (st = to_i32(&s->x, p[0], "tokens X [N,T]"))) return st;
    for (int d = 0; d < x->ndim; d++)
        if (x->shape[d] < 1 || x->shape[d] > INT_MAX)
            return mn_fail(MN_E_INPUT, "\"%s\": dimension %d of X is %lld; each must be in "
                           "[1, %d]", mn_data_name(nb, sizeof nb, p[0]), d,
                           (long long)x->shape[d], INT_MAX);
    if (y->ndim < 1 || y->ndim > 3 || y->shape[0] != x->shape[0])
        return mn_fail(MN_E_INPUT, "\"%s\": targets Y must be [N], [N,O], [N,T] or [N,T,O] "
                       "with N = %lld as in X, got %d dimensions of first size %lld",
                       mn_data_name(nb, sizeof nb, p[1]), (long long)x->shape[0], y->ndim,
                       y->ndim ? (long long)y->shape[0] : 0LL);
    if (y->dtype != MN_ARRAY_F32 && (st = to_i32(&s->y, p[1], "class labels Y"))) return st;
    if (s->has_len && (s->len.ndim != 1 || s->len.shape[0] != x->shape[0]))
        return mn_fail(MN_E_INPUT, "\"%s\": lengths must be [N] with N = %lld as in X",
                       mn_data_name(nb, sizeof nb, p[2]), (long long)x->shape[0]);
    return MN_OK;
}

/* How Y reads: per step or per sequence, and its width. */
static mn_status layout(const npy_set *s, const char *ypath, mn_output_mode *mode, int *O) {
    char nb[MN_ESCAPE_CAP];
    const mn_array *y = &s->y;
    const int64_t T = s->x.shape[1];
    const int cls = y->dtype != MN_ARRAY_F32;
    int64_t width = 1;
    if (cls && y->ndim == 3)
        return mn_fail(MN_E_INPUT, "\"%s\": class labels are [N] or [N,T], got 3 dimensions",
                       mn_data_name(nb, sizeof nb, ypath));
    if (y->ndim == 1) *mode = MN_OUTPUT_LAST;
    else if (y->ndim == 2 && (cls || y->shape[1] == T)) *mode = MN_OUTPUT_EVERY;
    else if (y->ndim == 2) *mode = MN_OUTPUT_LAST, width = y->shape[1];
    else if (y->shape[1] == T) *mode = MN_OUTPUT_EVERY, width = y->shape[2];
    else if (y->shape[1] == 1) *mode = MN_OUTPUT_LAST, width = y->shape[2];
    else
        return mn_fail(MN_E_INPUT, "\"%s\": targets [N,%lld,%lld] fit neither [N,T,O] (T = %lld "
                       "as in X) nor [N,1,O]", mn_data_name(nb, sizeof nb, ypath),
                       (long long)y->shape[1], (long long)y->shape[2], (long long)T);
    if (cls && y->ndim == 2 && y->shape[1] != T)
        return mn_fail(MN_E_INPUT, "\"%s\": per-step labels [N,T] need T = %lld as in X, got "
                       "%lld", mn_data_name(nb, sizeof nb, ypath), (long long)T,
                       (long long)y->shape[1]);
    if (width < 1 || width > 1 << 20)
        return mn_fail(MN_E_INPUT, "\"%s\": %lld outputs per target; give 1 to %d",
                       mn_data_name(nb, sizeof nb, ypath), (long long)width, 1 << 20);
    *O = (int)width;
    return MN_OK;
}

/* Concatenate b's sequences after a's (same T, I, dtypes, layout: checked by the caller). */
static mn_status append(mn_array *a, const mn_array *b) {
    size_t e = mn_npy_dtype_size(a->dtype), n = a->count + b->count, bytes;
    if (n < a->count || !mn_mul_size(n, e, &bytes)) return MN_E_NOMEM;
    unsigned char *p = mn_alloc(bytes ? bytes : 1);
    if (!p) return MN_E_NOMEM;
    memcpy(p, a->data, a->count * e);
    memcpy(p + a->count * e, b->data, b->count * e);
    mn_release(a->data);
    a->data = p;
    a->count = n;
    a->shape[0] += b->shape[0];
    return MN_OK;
}

static int same_rest(const mn_array *a, const mn_array *b) {
    if (a->ndim != b->ndim || a->dtype != b->dtype) return 0;
    for (int d = 1; d < a->ndim; d++)
        if (a->shape[d] != b->shape[d]) return 0;
    return 1;
}

static mn_status npy_open(const mn_data_files *f, uint64_t seed, mn_task **out) {
    char nb[MN_ESCAPE_CAP], nb2[MN_ESCAPE_CAP];
    npy_set s, v;
    memset(&v, 0, sizeof v);
    mn_status st = load_set(f->paths, f->n, &s);
    mn_output_mode mode = MN_OUTPUT_LAST;
    int O = 1;
    int64_t nval = 0;
    if (!st) st = layout(&s, f->paths[1], &mode, &O);
    if (!st && f->nv) {
        if (f->nv != f->n)
            st = mn_fail(MN_E_ARG, "the validation data names %d files and the data %d; give "
                         "the same files (X, Y%s)", f->nv, f->n, f->n > 2 ? ", lengths" : "");
        if (!st) st = load_set(f->vpaths, f->nv, &v);
        for (int k = 0; !st && k < 3; k++) {
            const mn_array *a = k == 0 ? &s.x : k == 1 ? &s.y : &s.len;
            const mn_array *b = k == 0 ? &v.x : k == 1 ? &v.y : &v.len;
            if (k == 2 && !s.has_len) break;
            if (!same_rest(a, b))
                st = mn_fail(MN_E_INPUT, "\"%s\" does not match \"%s\": the validation "
                             "arrays need the training arrays' dtype and every dimension but "
                             "the first", mn_data_name(nb, sizeof nb, f->vpaths[k]),
                             mn_data_name(nb2, sizeof nb2, f->paths[k]));
        }
        nval = v.x.shape[0];
        if (!st && ((st = append(&s.x, &v.x)) || (st = append(&s.y, &v.y)) ||
                    (s.has_len && (st = append(&s.len, &v.len)))))
            st = mn_fail(MN_E_NOMEM, "no memory to join the training and validation arrays");
    }
    if (!st && s.x.shape[0] > INT_MAX)
        st = mn_fail(MN_E_INPUT, "\"%s\": %lld sequences; at most %d", mn_data_name(nb, sizeof nb,
                     f->paths[0]), (long long)s.x.shape[0], INT_MAX);
    if (!st) {
        mn_arrays a;
        mn_arrays_init(&a);
        a.name = "npy";
        a.sequences = (int)s.x.shape[0];
        a.steps = (int)s.x.shape[1];
        if (s.x.ndim == 3) {
            a.x = s.x.data;
            a.input_size = (int)s.x.shape[2];
        } else {
            /* the vocabulary the tokens use (at least 2, so a constant stream still trains) */
            int32_t top = 1;
            const int32_t *tk = s.x.data;
            for (size_t i = 0; i < s.x.count; i++) top = tk[i] > top ? tk[i] : top;
            a.tokens = tk;
            a.vocab_size = top == INT32_MAX ? INT32_MAX : top + 1;
        }
        a.lengths = s.has_len ? s.len.data : NULL;
        a.output = mode;
        if (s.y.dtype == MN_ARRAY_F32) {
            a.loss = MN_LOSS_MSE;
            a.target = s.y.data;
            a.output_size = O;
        } else {
            int32_t top = 1;
            const int32_t *lb = s.y.data;
            for (size_t i = 0; i < s.y.count; i++) top = lb[i] > top ? lb[i] : top;
            a.loss = MN_LOSS_CE;
            a.labels = lb;
            a.output_size = top == INT32_MAX ? INT32_MAX : top + 1;
        }
        if (f->nv) a.heldout = (int)nval;
        else {
            double h = floor(f->valid_fraction * a.sequences + 0.5);
            if (f->valid_fraction > 0 && h < 1) h = 1;
            if (h >= a.sequences)
                st = mn_fail(MN_E_INPUT, "\"%s\" holds %d sequence%s: too few to hold out "
                             "%g of them and train on the rest; give more, a validation file, "
                             "or a validation fraction of 0", mn_data_name(nb, sizeof nb,
                             f->paths[0]), a.sequences, a.sequences == 1 ? "" : "s",
                             f->valid_fraction);
            a.heldout = (int)h;
        }
        if (!st && (st = mn_task_from_arrays_split(&a, seed, f->nv > 0, out)) == MN_E_INPUT) {
            char msg[512];
            snprintf(msg, sizeof msg, "%s", mn_last_error());
            st = mn_fail(st, "\"%s\": %s", mn_data_name(nb, sizeof nb, f->spec), msg);
        }
    }
    set_free(&s);
    set_free(&v);
    return st;
}

const mn_data_kind mn_data_npy = {"npy", "npy:X.npy,Y.npy[,LENGTHS.npy]", 2, 3, npy_open};
