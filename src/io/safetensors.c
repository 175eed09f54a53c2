/* safetensors reader and atomic writer.
 *
 * The reader treats the file as hostile: it checks the header length, parses the header
 * with the strict JSON reader, checks every tensor's dtype (any of the format's), shape and
 * byte range, and checks that the byte ranges tile the data section exactly (no gaps, no
 * overlaps, nothing after the last tensor) before any pointer is handed out. That is what
 * the reference reader (huggingface/safetensors, Metadata::validate) checks; like it, this
 * one ignores fields of a tensor entry it does not know and takes "__metadata__": null for
 * no metadata. It is stricter in one way: a key given twice in the header is an error
 * (serde keeps the last one), since which tensor is meant cannot be told. Whether a tensor
 * has a dtype its user can read is the user's question (mn_st_read_f32), so a file whose
 * unused tensors are BOOL or F8 reads. Each error names the file and says what is wrong in
 * terms of the header's own fields; names from the file are escaped (mn_escape).
 *
 * Tensor bytes are little-endian in the file and handed out as they are, so this code
 * needs a little-endian host; that is checked at compile time where the compiler tells
 * the byte order, and at run time otherwise. */
#include "safetensors.h"
#include "atomic_file.h"
#include "json.h"

#include <errno.h>
#include <math.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(__BYTE_ORDER__) && defined(__ORDER_LITTLE_ENDIAN__) && \
    __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors.c hands out raw little-endian tensor bytes: it needs a little-endian host"
#endif

static int host_is_little_endian(void) {
    const uint32_t one = 1;
    unsigned char b;
    memcpy(&b, &one, 1);
    return b == 1;
}

static const struct { const char *name; int bits; } dtypes[MN_ST_NDTYPES] = {
    [MN_ST_F32] = { "F32", 32 }, [MN_ST_F64] = { "F64", 64 }, [MN_ST_I32] = { "I32", 32 },
    [MN_ST_I64] = { "I64", 64 }, [MN_ST_U8] = { "U8", 8 }, [MN_ST_BOOL] = { "BOOL", 8 },
    [MN_ST_I8] = { "I8", 8 }, [MN_ST_I16] = { "I16", 16 }, [MN_ST_U16] = { "U16", 16 },
    [MN_ST_U32] = { "U32", 32 }, [MN_ST_U64] = { "U64", 64 }, [MN_ST_F16] = { "F16", 16 },
    [MN_ST_BF16] = { "BF16", 16 }, [MN_ST_F8_E4M3] = { "F8_E4M3", 8 },
    [MN_ST_F8_E5M2] = { "F8_E5M2", 8 }, [MN_ST_F8_E8M0] = { "F8_E8M0", 8 },
    [MN_ST_F8_E4M3FNUZ] = { "F8_E4M3FNUZ", 8 }, [MN_ST_F8_E5M2FNUZ] = { "F8_E5M2FNUZ", 8 },
    [MN_ST_F6_E2M3] = { "F6_E2M3", 6 }, [MN_ST_F6_E3M2] = { "F6_E3M2", 6 },
    [MN_ST_F4] = { "F4", 4 }, [MN_ST_C64] = { "C64", 64 },
};
#define NDTYPES ((int)MN_ST_NDTYPES)

const char *mn_st_dtype_name(mn_st_dtype d) {
    return (unsigned)d < MN_ST_NDTYPES ? dtypes[d].name : "?";
}

int mn_st_dtype_bits(mn_st_dtype d) { return (unsigned)d < MN_ST_NDTYPES ? dtypes[d].bits : 0; }

struct mn_st_file {
    unsigned char *buf;        /* the whole file; tensor data points into it */
    size_t len;
    mn_json *header;           /* names and metadata strings point into it */
    mn_st_tensor *tensors;
    int count;
    const char **meta_keys, **meta_values;
    int meta_count;
};

void mn_st_free(mn_st_file *f) {
    if (!f) return;
    mn_release(f->buf);
    mn_json_free(f->header);
    mn_release(f->tensors);
    mn_release(f->meta_keys);
    mn_release(f->meta_values);
    mn_release(f);
}

/* ------------------------------------------------------------------- reading */

/* "[4, 4]" for error messages. */
static const char *shape_str(const int64_t *shape, int ndim, char *buf, size_t cap) {
    size_t n = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < ndim && n < cap; i++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (n < cap) snprintf(buf + n, cap - n, "]");
    return buf;
}

/* A non-negative integer that the JSON text wrote exactly. */
static int get_uint(const mn_json *v, uint64_t *out) {
    if (!v || v->type != MN_JSON_NUMBER || !v->number_is_integer || !v->integer_exact ||
        v->integer < 0)
        return 0;
    *out = (uint64_t)v->integer;
    return 1;
}

typedef struct { uint64_t begin, end; int index; } range;

static int cmp_range(const void *a, const void *b) {
    const range *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return 0;
}

/* Checks one header entry and fills t (data pointer and range come later). */
static mn_status check_tensor(const char *label, const char *raw_name, const mn_json *e,
                              size_t data_len, mn_st_tensor *t, range *r) {
    char name[MN_ESCAPE_CAP];
    mn_escape(name, sizeof name, raw_name);
    if (e->type != MN_JSON_OBJECT)
        return mn_fail(MN_E_INPUT, "%s: tensor '%s' must be an object with dtype, shape and "
                       "data_offsets", label, name);
    /* other fields are ignored, as the reference reader ignores them */
    const mn_json *dt = mn_json_get(e, "dtype"), *sh = mn_json_get(e, "shape"),
                  *off = mn_json_get(e, "data_offsets");
    if (!dt || !sh || !off)
        return mn_fail(MN_E_INPUT, "%s: tensor '%s' lacks '%s'", label, name,
                       !dt ? "dtype" : !sh ? "shape" : "data_offsets");
    if (dt->type != MN_JSON_STRING)
        return mn_fail(MN_E_INPUT, "%s: tensor '%s' has a dtype that is not a string",
                       label, name);
    int d = 0;
    while (d < NDTYPES && strcmp(dt->string, dtypes[d].name)) d++;
    if (d == NDTYPES) {
        char dn[32];
        return mn_fail(MN_E_INPUT, "%s: tensor '%s' has dtype '%s', which is not a safetensors "
                       "dtype (BOOL, U8, I8, I16, U16, I32, U32, I64, U64, F16, BF16, F32, F64, "
                       "C64, F8_*, F6_*, F4)", label, name, mn_escape(dn, sizeof dn, dt->string));
    }
    t->dtype = (mn_st_dtype)d;
    if (sh->type != MN_JSON_ARRAY || sh->count > MN_ST_MAX_DIMS)
        return mn_fail(MN_E_INPUT, "%s: tensor '%s' needs a shape that is a list of at most "
                       "%d dimensions", label, name, MN_ST_MAX_DIMS);
    t->ndim = sh->count;
    size_t numel = 1, nbits;
    int overflow = 0;
    for (int i = 0; i < sh->count; i++) {
        uint64_t v;
        if (!get_uint(&sh->items[i], &v) || v > INT64_MAX)
            return mn_fail(MN_E_INPUT, "%s: tensor '%s' has shape entry %d that is not a "
                           "non-negative integer", label, name, i);
        t->shape[i] = (int64_t)v;
        if (v > SIZE_MAX || !mn_mul_size(numel, (size_t)v, &numel)) overflow = 1;
    }
    char sbuf[200];
    /* A zero dimension makes the product 0 even when other factors would overflow. */
    for (int i = 0; i < t->ndim; i++) if (t->shape[i] == 0) { overflow = 0; numel = 0; }
    if (overflow || !mn_mul_size(numel, (size_t)dtypes[d].bits, &nbits))
        return mn_fail(MN_E_INPUT, "%s: tensor '%s' has shape %s whose size overflows",
                       label, name, shape_str(t->shape, t->ndim, sbuf, sizeof sbuf));
    if (nbits % 8)   /* F4 and F6 elements must fill whole bytes */
        return mn_fail(MN_E_INPUT, "%s: tensor '%s' has %zu elements of the %d-bit dtype %s, "
                       "which do not fill whole bytes", label, name, numel, dtypes[d].bits,
                       dtypes[d].name);
    t->numel = numel;
    t->nbytes = nbits / 8;
    uint64_t b, en;
    if (off->type != MN_JSON_ARRAY || off->count != 2 || !get_uint(&off->items[0], &b) ||
        !get_uint(&off->items[1], &en))
        return mn_fail(MN_E_INPUT, "%s: tensor '%s' needs data_offsets [begin, end] of two "
                       "non-negative integers", label, name);
    if (b > en || en > data_len)
        return mn_fail(MN_E_INPUT, "%s: tensor '%s' has data_offsets [%llu, %llu] outside the "
                       "%zu-byte data section", label, name, (unsigned long long)b,
                       (unsigned long long)en, data_len);
    if (en - b != t->nbytes)
        return mn_fail(MN_E_INPUT, "%s: tensor '%s' has data_offsets [%llu, %llu] but dtype "
                       "%s and shape %s need %zu bytes", label, name, (unsigned long long)b,
                       (unsigned long long)en, dtypes[d].name,
                       shape_str(t->shape, t->ndim, sbuf, sizeof sbuf), t->nbytes);
    r->begin = b;
    r->end = en;
    return MN_OK;
}

/* The byte ranges, sorted by begin, must cover [0, data_len) exactly. */
static mn_status check_tiling(const char *label, mn_st_file *f, range *r, size_t data_len) {
    qsort(r, (size_t)f->count, sizeof *r, cmp_range);
    uint64_t at = 0;
    for (int i = 0; i < f->count; i++) {
        char name[MN_ESCAPE_CAP], other[MN_ESCAPE_CAP];
        mn_escape(name, sizeof name, f->tensors[r[i].index].name);
        if (r[i].begin > at)
            return mn_fail(MN_E_INPUT, "%s: %llu unused bytes before tensor '%s' (data "
                           "offset %llu): the tensors must cover the data section with no "
                           "gaps", label, (unsigned long long)(r[i].begin - at), name,
                           (unsigned long long)r[i].begin);
        if (r[i].begin < at)
            return mn_fail(MN_E_INPUT, "%s: tensor '%s' (data_offsets [%llu, %llu]) overlaps "
                           "tensor '%s'", label, name, (unsigned long long)r[i].begin,
                           (unsigned long long)r[i].end,
                           mn_escape(other, sizeof other, f->tensors[r[i - 1].index].name));
        at = r[i].end;
    }
    if (at != data_len)
        return mn_fail(MN_E_INPUT, "%s: %llu bytes after the last tensor's data; the data "
                       "section must end exactly at the end of the file (truncated header "
                       "or trailing garbage?)", label, (unsigned long long)(data_len - at));
    return MN_OK;
}

static mn_status check_metadata(const char *label, mn_st_file *f, const mn_json *m) {
    if (m->type == MN_JSON_NULL) return MN_OK;   /* the reference reads null as none */
    if (m->type != MN_JSON_OBJECT)
        return mn_fail(MN_E_INPUT, "%s: __metadata__ must be an object of strings", label);
    f->meta_count = m->count;
    size_t bytes = (size_t)(m->count ? m->count : 1) * sizeof(char *);
    if (!(f->meta_keys = mn_alloc(bytes)) || !(f->meta_values = mn_alloc(bytes)))
        return MN_E_NOMEM;
    for (int i = 0; i < m->count; i++) {
        char key[MN_ESCAPE_CAP];
        if (m->items[i].type != MN_JSON_STRING)
            return mn_fail(MN_E_INPUT, "%s: __metadata__ value of '%s' is not a string "
                           "(safetensors metadata maps strings to strings)", label,
                           mn_escape(key, sizeof key, m->keys[i]));
        f->meta_keys[i] = m->keys[i];
        f->meta_values[i] = m->items[i].string;
    }
    return MN_OK;
}

static mn_status parse_header(const char *label, mn_st_file *f) {
    if (!host_is_little_endian())
        return mn_fail(MN_E_STATE, "%s: safetensors data is little-endian and this host is "
                       "not; mnemo supports little-endian hosts only", label);
    if (f->len < 8)
        return mn_fail(MN_E_INPUT, "%s: only %zu bytes, too short for a safetensors file "
                       "(needs at least the 8-byte header length)", label, f->len);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = (n << 8) | f->buf[i];
    if (n > MN_ST_MAX_HEADER)
        return mn_fail(MN_E_INPUT, "%s: header length %llu exceeds the %u-byte limit (not a "
                       "safetensors file?)", label, (unsigned long long)n, MN_ST_MAX_HEADER);
    if (n > f->len - 8)
        return mn_fail(MN_E_INPUT, "%s: header length %llu runs past the end of the %zu-byte "
                       "file (truncated?)", label, (unsigned long long)n, f->len);
    if (mn_json_parse((const char *)f->buf + 8, (size_t)n, &f->header)) {
        char why[400];
        snprintf(why, sizeof why, "%s", mn_last_error());
        return mn_fail(MN_E_INPUT, "%s: header: %s", label, why);
    }
    const mn_json *h = f->header;
    if (h->type != MN_JSON_OBJECT)
        return mn_fail(MN_E_INPUT, "%s: header must be a JSON object of tensors", label);
    size_t data_len = f->len - 8 - (size_t)n;
    const unsigned char *data = f->buf + 8 + n;
    size_t cap = (size_t)(h->count ? h->count : 1);
    range *r = mn_alloc(cap * sizeof *r);
    f->tensors = mn_alloc_zero(cap * sizeof *f->tensors);
    if (!r || !f->tensors) { mn_release(r); return MN_E_NOMEM; }
    mn_status s = MN_OK;
    for (int i = 0; i < h->count && s == MN_OK; i++) {
        if (!strcmp(h->keys[i], "__metadata__")) {
            s = check_metadata(label, f, &h->items[i]);
            continue;
        }
        mn_st_tensor *t = &f->tensors[f->count];
        t->name = h->keys[i];
        s = check_tensor(label, t->name, &h->items[i], data_len, t, &r[f->count]);
        if (s == MN_OK) {
            t->data = data + r[f->count].begin;
            r[f->count].index = f->count;
            f->count++;
        }
    }
    if (s == MN_OK) s = check_tiling(label, f, r, data_len);
    mn_release(r);
    return s;
}

/* Takes ownership of buf (released on failure too). */
static mn_status parse_owned(const char *label, unsigned char *buf, size_t len,
                             mn_st_file **out) {
    mn_st_file *f = mn_alloc_zero(sizeof *f);
    if (!f) { mn_release(buf); return MN_E_NOMEM; }
    f->buf = buf;
    f->len = len;
    mn_status s = parse_header(label, f);
    if (s) { mn_st_free(f); return s; }
    *out = f;
    return MN_OK;
}

mn_status mn_st_parse(const void *bytes, size_t len, mn_st_file **out) {
    *out = NULL;
    if (!bytes && len) return mn_fail(MN_E_ARG, "mn_st_parse: bytes is NULL");
    unsigned char *buf = mn_alloc(len ? len : 1);
    if (!buf) return MN_E_NOMEM;
    if (len) memcpy(buf, bytes, len);
    return parse_owned("safetensors data", buf, len, out);
}

mn_status mn_st_read(const char *path, mn_st_file **out) {
    *out = NULL;
    if (!path || !*path) return mn_fail(MN_E_ARG, "mn_st_read: no path given");
    /* stat first so a directory or FIFO is refused before open could block on it. */
    struct stat st;
    if (stat(path, &st))
        return mn_fail(MN_E_INPUT, "%s: cannot open: %s", path, strerror(errno));
    if (S_ISDIR(st.st_mode))
        return mn_fail(MN_E_INPUT, "%s: is a directory, not a safetensors file", path);
    if (!S_ISREG(st.st_mode))
        return mn_fail(MN_E_INPUT, "%s: is not a regular file", path);
    FILE *fp = fopen(path, "rb");
    if (!fp) return mn_fail(MN_E_INPUT, "%s: cannot open: %s", path, strerror(errno));
    if (fstat(fileno(fp), &st) || !S_ISREG(st.st_mode) || st.st_size < 0 ||
        (uintmax_t)st.st_size > SIZE_MAX - 64) {
        fclose(fp);
        return mn_fail(MN_E_INPUT, "%s: is not a readable regular file", path);
    }
    size_t len = (size_t)st.st_size;
    unsigned char *buf = mn_alloc(len ? len : 1);
    if (!buf) { fclose(fp); return MN_E_NOMEM; }
    size_t got = fread(buf, 1, len, fp);
    int err = ferror(fp) ? errno : 0, more = fgetc(fp) != EOF;
    fclose(fp);
    if (got != len || more) {
        mn_release(buf);
        if (err) return mn_fail(MN_E_INPUT, "%s: read failed: %s", path, strerror(err));
        return mn_fail(MN_E_INPUT, "%s: file changed size while being read", path);
    }
    return parse_owned(path, buf, len, out);
}

int mn_st_count(const mn_st_file *f) { return f ? f->count : 0; }

const mn_st_tensor *mn_st_at(const mn_st_file *f, int i) {
    return f && i >= 0 && i < f->count ? &f->tensors[i] : NULL;
}

const mn_st_tensor *mn_st_find(const mn_st_file *f, const char *name) {
    for (int i = 0; f && name && i < f->count; i++)
        if (!strcmp(f->tensors[i].name, name)) return &f->tensors[i];
    return NULL;
}

const char *mn_st_meta(const mn_st_file *f, const char *key) {
    for (int i = 0; f && key && i < f->meta_count; i++)
        if (!strcmp(f->meta_keys[i], key)) return f->meta_values[i];
    return NULL;
}

int mn_st_meta_count(const mn_st_file *f) { return f ? f->meta_count : 0; }

void mn_st_meta_at(const mn_st_file *f, int i, const char **key, const char **value) {
    int ok = f && i >= 0 && i < f->meta_count;
    if (key) *key = ok ? f->meta_keys[i] : NULL;
    if (value) *value = ok ? f->meta_values[i] : NULL;
}

/* ---------------------------------------------------------------- float32 view */

/* IEEE half to float: every half is a float exactly (subnormal halves are normal floats). */
static float half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, exp = (h >> 10) & 0x1Fu, mant = h & 0x3FFu;
    uint32_t bits;
    float f;
    if (exp == 0x1F) bits = sign | 0x7F800000u | (mant << 13);      /* infinities, NaN */
    else if (exp) bits = sign | ((exp + 112u) << 23) | (mant << 13);
    else {
        f = (float)mant * 0x1p-24f;                                  /* 0 and subnormals */
        memcpy(&bits, &f, 4);
        bits |= sign;
    }
    memcpy(&f, &bits, 4);
    return f;
}

mn_status mn_st_read_f32(const mn_st_tensor *t, float *dst, size_t count, const char *label) {
    char name[MN_ESCAPE_CAP];
    if (!t || (count && !dst)) return mn_fail(MN_E_ARG, "mn_st_read_f32: NULL argument");
    if (count > t->numel)
        return mn_fail(MN_E_ARG, "mn_st_read_f32: %zu elements asked of a tensor of %zu",
                       count, t->numel);
    const unsigned char *p = t->data;
    switch (t->dtype) {
    case MN_ST_F32:
        if (count) memcpy(dst, p, count * 4);
        return MN_OK;
    case MN_ST_F16:
    case MN_ST_BF16:
        for (size_t i = 0; i < count; i++) {
            uint16_t h;
            memcpy(&h, p + 2 * i, 2);
            if (t->dtype == MN_ST_F16) dst[i] = half_to_float(h);
            else {
                uint32_t bits = (uint32_t)h << 16;   /* bfloat16 is float's upper half */
                memcpy(&dst[i], &bits, 4);
            }
        }
        return MN_OK;
    case MN_ST_F64:
        for (size_t i = 0; i < count; i++) {
            double d;
            memcpy(&d, p + 8 * i, 8);
            float f = (float)d;   /* to nearest; NaN and infinities stay what they are */
            if (isinf(f) && !isinf(d))
                return mn_fail(MN_E_INPUT, "%s: tensor '%s' holds %.17g at element %zu, beyond "
                               "float32's range (about 3.4e38); mnemo computes in float32",
                               label, mn_escape(name, sizeof name, t->name), d, i);
            dst[i] = f;
        }
        return MN_OK;
    default:
        return mn_fail(MN_E_INPUT, "%s: tensor '%s' is not F32, F16, BF16 or F64 (it is %s); "
                       "save the module in floating point (module.float())", label,
                       mn_escape(name, sizeof name, t->name), mn_st_dtype_name(t->dtype));
    }
}

/* ------------------------------------------------------------------- writing */

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Checks the caller's entries and builds the padded header; sizes[i] gets each tensor's
 * byte count. */
static mn_status build_header(const mn_st_entry *e, int n, const char *const *meta,
                              size_t *sizes, mn_strbuf *sb) {
    const char **names = mn_alloc((size_t)(n ? n : 1) * sizeof *names);
    if (!names) return MN_E_NOMEM;
    mn_status s = MN_OK;
    for (int i = 0; i < n && s == MN_OK; i++) {
        size_t numel = 1;
        names[i] = e[i].name;
        if (!e[i].name || !e[i].name[0] || !strcmp(e[i].name, "__metadata__"))
            s = mn_fail(MN_E_ARG, "safetensors write: tensor %d has no usable name", i);
        else if ((int)e[i].dtype < 0 || (int)e[i].dtype >= NDTYPES || e[i].ndim < 0 ||
                 e[i].ndim > MN_ST_MAX_DIMS || (e[i].ndim && !e[i].shape))
            s = mn_fail(MN_E_ARG, "safetensors write: tensor '%s' has a bad dtype or shape",
                        e[i].name);
        for (int k = 0; s == MN_OK && k < e[i].ndim; k++)
            if (e[i].shape[k] < 0 || (uint64_t)e[i].shape[k] > SIZE_MAX ||
                !mn_mul_size(numel, (size_t)e[i].shape[k], &numel))
                s = mn_fail(MN_E_ARG, "safetensors write: tensor '%s' has a negative or too "
                            "large shape", e[i].name);
        if (s == MN_OK && dtypes[e[i].dtype].bits % 8)
            s = mn_fail(MN_E_ARG, "safetensors write: tensor '%s' has the sub-byte dtype %s, "
                        "which mnemo does not write", e[i].name, dtypes[e[i].dtype].name);
        if (s == MN_OK && !mn_mul_size(numel, (size_t)dtypes[e[i].dtype].bits / 8, &sizes[i]))
            s = mn_fail(MN_E_ARG, "safetensors write: tensor '%s' is too large", e[i].name);
        if (s == MN_OK && sizes[i] && !e[i].data)
            s = mn_fail(MN_E_ARG, "safetensors write: tensor '%s' has no data", e[i].name);
    }
    if (s == MN_OK && n > 1) {
        qsort(names, (size_t)n, sizeof *names, cmp_str);
        for (int i = 1; i < n && s == MN_OK; i++)
            if (!strcmp(names[i - 1], names[i]))
                s = mn_fail(MN_E_ARG, "safetensors write: tensor name '%s' is used twice",
                            names[i]);
    }
    mn_release(names);
    if (s) return s;

    /* __metadata__ first, then tensors in the given order, as the reference writer does. */
    mn_sb_printf(sb, "{");
    if (meta && meta[0]) {
        mn_sb_printf(sb, "\"__metadata__\":{");
        for (int i = 0; meta[i]; i += 2) {
            if (!meta[i + 1])
                return mn_fail(MN_E_ARG, "safetensors write: metadata key '%s' has no value",
                               meta[i]);
            mn_sb_printf(sb, "%s", i ? "," : "");
            mn_sb_json_string(sb, meta[i]);
            mn_sb_printf(sb, ":");
            mn_sb_json_string(sb, meta[i + 1]);
        }
        mn_sb_printf(sb, "}%s", n ? "," : "");
    }
    size_t at = 0;
    for (int i = 0; i < n; i++) {
        mn_sb_json_string(sb, e[i].name);
        mn_sb_printf(sb, ":{\"dtype\":\"%s\",\"shape\":[", dtypes[e[i].dtype].name);
        for (int k = 0; k < e[i].ndim; k++)
            mn_sb_printf(sb, "%s%lld", k ? "," : "", (long long)e[i].shape[k]);
        mn_sb_printf(sb, "],\"data_offsets\":[%zu,%zu]}%s", at, at + sizes[i],
                     i + 1 < n ? "," : "");
        at += sizes[i];
    }
    mn_sb_printf(sb, "}");
    /* Pad with spaces so the data section starts 8-byte aligned in the file. */
    while (!sb->failed && sb->len % 8) mn_sb_printf(sb, " ");
    if (sb->failed) return MN_E_NOMEM;
    if (sb->len > MN_ST_MAX_HEADER)
        return mn_fail(MN_E_ARG, "safetensors write: header of %zu bytes exceeds the %u-byte "
                       "limit readers accept", sb->len, MN_ST_MAX_HEADER);
    return MN_OK;
}

mn_status mn_st_write(const char *path, const mn_st_entry *entries, int n,
                      const char *const *meta) {
    if (!host_is_little_endian())
        return mn_fail(MN_E_STATE, "%s: safetensors data is little-endian and this host is "
                       "not; mnemo supports little-endian hosts only", path ? path : "");
    if (!path || !*path || n < 0 || (n && !entries))
        return mn_fail(MN_E_ARG, "mn_st_write: needs a path and a list of tensors");
    size_t *sizes = mn_alloc((size_t)(n ? n : 1) * sizeof *sizes);
    if (!sizes) return MN_E_NOMEM;
    mn_strbuf sb = { 0 };
    mn_status s = build_header(entries, n, meta, sizes, &sb);
    if (s) { mn_release(sizes); mn_sb_free(&sb); return s; }

    /* the length, the header, then each tensor's bytes */
    mn_piece *pieces = mn_alloc((size_t)(n + 2) * sizeof *pieces);
    if (!pieces) { mn_release(sizes); mn_sb_free(&sb); return MN_E_NOMEM; }
    unsigned char len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (unsigned char)((uint64_t)sb.len >> (8 * i));
    pieces[0] = (mn_piece){len8, 8};
    pieces[1] = (mn_piece){sb.data, sb.len};
    for (int i = 0; i < n; i++) pieces[i + 2] = (mn_piece){entries[i].data, sizes[i]};
    s = mn_write_atomic(path, pieces, n + 2);
    mn_release(pieces);
    mn_release(sizes);
    mn_sb_free(&sb);
    return s;
}
