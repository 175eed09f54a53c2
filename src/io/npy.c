/* NumPy .npy arrays: reader and atomic writer.
 *
 * Layout: "\x93NUMPY", major, minor, the header length (2 bytes little-endian in format
 * 1.0, 4 bytes in 2.0), then the header: the text of a Python dict
 *   {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
 * padded with spaces and ended by '\n', then the raw array bytes in C order.
 *
 * The reader treats the file as hostile. It parses the header with its own small grammar
 * (the dict literal numpy writes, with any key order, either quote and optional trailing
 * commas; nothing Python could evaluate beyond that) instead of anything eval-like, caps
 * the header length, checks that the shape's product cannot overflow, and requires the
 * file to be exactly header + data long before it allocates or copies anything.
 * The data is little-endian ('<f4', '<i4', '<i8') and handed out as is, so the host must be
 * little-endian, as the safetensors reader requires. */
#include "atomic_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(__BYTE_ORDER__) && defined(__ORDER_LITTLE_ENDIAN__) && \
    __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "npy.c hands out raw little-endian array bytes: it needs a little-endian host"
#endif

/* numpy itself refuses headers over 10000 bytes unless told otherwise; a rank-8 header
 * needs a few hundred. 64 KiB admits every format-1.0 header and refuses absurd ones. */
#define NPY_MAX_HEADER 65536u
#define NPY_MAGIC "\x93NUMPY"
#define NPY_MAGIC_LEN 6
#define NPY_ALIGN 64            /* numpy pads the header so the data starts aligned */
#define NPY_GROWTH_DIGITS 21    /* numpy's spare room after the shape (growth axis) */

static const char *const dtype_descr[] = { [MN_ARRAY_F32] = "<f4", [MN_ARRAY_I32] = "<i4",
                                            [MN_ARRAY_I64] = "<i8" };
#define NDTYPES ((int)(sizeof dtype_descr / sizeof dtype_descr[0]))

static size_t dtype_size(mn_array_dtype d) { return d == MN_ARRAY_I64 ? 8 : 4; }

typedef struct {
    mn_array_dtype dtype;
    int ndim;
    int64_t shape[MN_ARRAY_MAX_DIMS];
    size_t count, nbytes;
    size_t data_offset;        /* magic + length field + header */
} npy_header;

void mn_array_free(mn_array *a) {
    if (!a) return;
    mn_release(a->data);
    memset(a, 0, sizeof *a);
}

/* ------------------------------------------------------------ header grammar */

typedef struct {
    const char *label;
    const char *p, *end, *start;
} cursor;

static void skip_ws(cursor *c) {
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
        c->p++;
}

/* Copies up to 24 bytes at the cursor for a message, printable ASCII only. */
static const char *near(const cursor *c, char *buf, size_t cap) {
    size_t n = 0;
    for (const char *q = c->p; q < c->end && n + 1 < cap && n < 24; q++)
        buf[n++] = (*q >= 32 && *q < 127) ? *q : '?';
    buf[n] = 0;
    return n ? buf : "the end of the header";
}

static mn_status syntax(const cursor *c, const char *expected) {
    char buf[32];
    return mn_fail(MN_E_INPUT, "%s: header is not the dict that numpy.save writes: expected "
                   "%s at header byte %ld, found \"%s\"; save the array with numpy.save",
                   c->label, expected, (long)(c->p - c->start), near(c, buf, sizeof buf));
}

static int accept(cursor *c, char ch) {
    skip_ws(c);
    if (c->p < c->end && *c->p == ch) { c->p++; return 1; }
    return 0;
}

/* A quoted string without escapes (numpy never writes any), copied into out. */
static mn_status string_lit(cursor *c, char *out, size_t cap, const char *what) {
    skip_ws(c);
    if (c->p >= c->end || (*c->p != '\'' && *c->p != '"')) return syntax(c, what);
    char q = *c->p;
    const char *s = ++c->p;
    while (c->p < c->end && *c->p != q && *c->p != '\\' && *c->p != '\n') c->p++;
    if (c->p >= c->end || *c->p != q) return syntax(c, "a closing quote");
    size_t n = (size_t)(c->p - s);
    c->p++;
    if (n >= cap) n = cap - 1;   /* longer than any name we know: compared as a prefix */
    for (size_t i = 0; i < n; i++) out[i] = (s[i] >= 32 && s[i] < 127) ? s[i] : '?';
    out[n] = 0;
    return MN_OK;
}

static mn_status parse_descr(cursor *c, npy_header *h) {
    skip_ws(c);
    if (c->p < c->end && (*c->p == '[' || *c->p == '('))
        return mn_fail(MN_E_INPUT, "%s: has a structured dtype (record fields); mnemo reads "
                       "plain float32 '<f4', int32 '<i4' or int64 '<i8' arrays", c->label);
    char d[32];
    mn_status s = string_lit(c, d, sizeof d, "a quoted dtype such as '<f4'");
    if (s) return s;
    for (int i = 0; i < NDTYPES; i++)
        if (!strcmp(d, dtype_descr[i])) { h->dtype = (mn_array_dtype)i; return MN_OK; }
    if (!strcmp(d, ">f4") || !strcmp(d, ">i4") || !strcmp(d, ">i8"))
        return mn_fail(MN_E_INPUT, "%s: dtype '%s' is big-endian; mnemo reads little-endian "
                       "data: save arr.astype('<%s') instead", c->label, d, d + 1);
    return mn_fail(MN_E_INPUT, "%s: dtype '%s' is not supported; mnemo reads float32 '<f4', "
                   "int32 '<i4' and int64 '<i8': convert with arr.astype(numpy.float32)",
                   c->label, d);
}

static mn_status parse_fortran(cursor *c) {
    skip_ws(c);
    size_t left = (size_t)(c->end - c->p);
    if (left >= 5 && !memcmp(c->p, "False", 5)) { c->p += 5; return MN_OK; }
    if (left >= 4 && !memcmp(c->p, "True", 4))
        return mn_fail(MN_E_INPUT, "%s: array is in Fortran (column-major) order; mnemo reads "
                       "C order: save numpy.ascontiguousarray(arr)", c->label);
    return syntax(c, "True or False for 'fortran_order'");
}

/* One dimension: a decimal integer without sign or leading zeros, as repr() writes it. */
static mn_status parse_dim(cursor *c, int i, int64_t *out) {
    skip_ws(c);
    if (c->p < c->end && *c->p == '-')
        return mn_fail(MN_E_INPUT, "%s: shape dimension %d is negative; a shape lists sizes "
                       ">= 0", c->label, i);
    if (c->p >= c->end || *c->p < '0' || *c->p > '9')
        return syntax(c, "a non-negative integer dimension");
    const char *s = c->p;
    uint64_t v = 0;
    int big = 0;
    while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
        unsigned dgt = (unsigned)(*c->p++ - '0');
        if (v > ((uint64_t)INT64_MAX - dgt) / 10) big = 1;
        else v = v * 10 + dgt;
    }
    if (c->p < c->end && (*c->p == '.' || *c->p == 'e' || *c->p == 'E' || *c->p == 'x' ||
                          *c->p == 'L' || *c->p == '_' || *c->p == 'j'))
        return mn_fail(MN_E_INPUT, "%s: shape dimension %d is not a whole number", c->label, i);
    if (c->p - s > 1 && *s == '0') return syntax(c, "a dimension without leading zeros");
    if (big)
        return mn_fail(MN_E_INPUT, "%s: shape dimension %d exceeds 2^63-1", c->label, i);
    *out = (int64_t)v;
    return MN_OK;
}

/* A Python tuple of dimensions: (), (n,), (a, b) or (a, b,). */
static mn_status parse_shape(cursor *c, npy_header *h) {
    if (!accept(c, '(')) return syntax(c, "a shape tuple such as (2, 3)");
    int n = 0, comma = 0;
    mn_status s;
    while (!accept(c, ')')) {
        if (n && !comma) return syntax(c, "',' or ')' in the shape");
        if (n == MN_ARRAY_MAX_DIMS)
            return mn_fail(MN_E_INPUT, "%s: shape has more than %d dimensions; mnemo reads "
                           "arrays of rank 0 to %d", c->label, MN_ARRAY_MAX_DIMS,
                           MN_ARRAY_MAX_DIMS);
        if ((s = parse_dim(c, n, &h->shape[n]))) return s;
        n++;
        comma = accept(c, ',');
    }
    if (n == 1 && !comma) return syntax(c, "a one-dimensional shape written (n,)");
    h->ndim = n;
    return MN_OK;
}

/* The product of the shape and its size in bytes, both checked. */
static mn_status shape_size(const char *label, npy_header *h) {
    size_t count = 1;
    int overflow = 0, zero = 0;
    for (int i = 0; i < h->ndim; i++) {
        zero |= h->shape[i] == 0;
        if ((uint64_t)h->shape[i] > SIZE_MAX || !mn_mul_size(count, (size_t)h->shape[i], &count))
            overflow = 1;
    }
    if (zero) count = 0;   /* a zero dimension makes the product 0 whatever the others */
    if ((overflow && !zero) || !mn_mul_size(count, dtype_size(h->dtype), &h->nbytes))
        return mn_fail(MN_E_INPUT, "%s: the shape's element count overflows; the header is "
                       "corrupt", label);
    h->count = count;
    return MN_OK;
}

static mn_status parse_dict(const char *label, const char *text, size_t len, npy_header *h) {
    cursor c = { label, text, text + len, text };
    int seen[3] = { 0, 0, 0 };
    static const char *const keys[3] = { "descr", "fortran_order", "shape" };
    mn_status s;
    if (!accept(&c, '{')) return syntax(&c, "'{'");
    while (!accept(&c, '}')) {
        char key[40];
        if ((s = string_lit(&c, key, sizeof key, "a quoted key or '}'"))) return s;
        int k = 0;
        while (k < 3 && strcmp(key, keys[k])) k++;
        if (k == 3)
            return mn_fail(MN_E_INPUT, "%s: header has unknown key '%s' (a .npy header holds "
                           "only descr, fortran_order and shape)", label, key);
        if (seen[k]++) return mn_fail(MN_E_INPUT, "%s: header repeats key '%s'", label, key);
        if (!accept(&c, ':')) return syntax(&c, "':' after the key");
        s = k == 0 ? parse_descr(&c, h) : k == 1 ? parse_fortran(&c) : parse_shape(&c, h);
        if (s) return s;
        if (!accept(&c, ',')) {
            if (accept(&c, '}')) break;
            return syntax(&c, "',' or '}'");
        }
    }
    skip_ws(&c);
    if (c.p != c.end) return syntax(&c, "only spaces and a newline after the dict");
    for (int k = 0; k < 3; k++)
        if (!seen[k])
            return mn_fail(MN_E_INPUT, "%s: header lacks '%s'", label, keys[k]);
    return shape_size(label, h);
}

/* ----------------------------------------------------------- file prefix */

/* Checks magic, version and header length and parses the header. buf holds the file's
 * first avail bytes (all of them, or at least 12 + NPY_MAX_HEADER); file_size is the
 * whole file's. */
static mn_status parse_prefix(const char *label, const unsigned char *buf, size_t avail,
                              uint64_t file_size, npy_header *h) {
    memset(h, 0, sizeof *h);
    if (file_size == 0)
        return mn_fail(MN_E_INPUT, "%s: is empty (0 bytes), not a .npy file", label);
    if (avail < NPY_MAGIC_LEN || memcmp(buf, NPY_MAGIC, NPY_MAGIC_LEN)) {
        if (avail < NPY_MAGIC_LEN && !memcmp(buf, NPY_MAGIC, avail))
            return mn_fail(MN_E_INPUT, "%s: only %zu bytes, truncated inside the .npy magic",
                           label, avail);
        return mn_fail(MN_E_INPUT, "%s: not a .npy file (it does not start with \\x93NUMPY); "
                       "save the array with numpy.save", label);
    }
    if (avail < 8)
        return mn_fail(MN_E_INPUT, "%s: truncated after the magic (%zu bytes)", label, avail);
    int major = buf[6], minor = buf[7];
    if ((major != 1 && major != 2) || minor != 0)
        return mn_fail(MN_E_INPUT, "%s: .npy format version %d.%d is not supported (mnemo "
                       "reads 1.0 and 2.0; numpy.save writes 1.0)", label, major, minor);
    size_t lenbytes = major == 1 ? 2 : 4, pre = 8 + lenbytes;
    if (avail < pre)
        return mn_fail(MN_E_INPUT, "%s: truncated inside the header length (%zu bytes)", label,
                       avail);
    uint64_t hlen = 0;
    for (size_t i = lenbytes; i-- > 0;) hlen = (hlen << 8) | buf[8 + i];
    if (hlen > NPY_MAX_HEADER)
        return mn_fail(MN_E_INPUT, "%s: header length %llu exceeds the %u-byte limit (corrupt "
                       "file?)", label, (unsigned long long)hlen, NPY_MAX_HEADER);
    if (hlen > file_size - pre)
        return mn_fail(MN_E_INPUT, "%s: header length %llu runs past the end of the %llu-byte "
                       "file (truncated?)", label, (unsigned long long)hlen,
                       (unsigned long long)file_size);
    if (avail < pre + hlen)   /* the caller read too little: a bug, not the file's fault */
        return mn_fail(MN_E_STATE, "%s: header not fully read", label);
    mn_status s = parse_dict(label, (const char *)buf + pre, (size_t)hlen, h);
    if (s) return s;
    h->data_offset = pre + (size_t)hlen;
    uint64_t want = (uint64_t)h->data_offset + h->nbytes;
    if (want < h->nbytes || file_size != want)
        return mn_fail(MN_E_INPUT, "%s: is %llu bytes but its header and shape need %llu "
                       "(%s)", label, (unsigned long long)file_size,
                       (unsigned long long)want, file_size < want ? "truncated" :
                       "trailing bytes after the array data");
    return MN_OK;
}

static mn_status fill(mn_array *out, const npy_header *h, const void *data) {
    void *p = mn_alloc(h->nbytes ? h->nbytes : 1);
    if (!p) return MN_E_NOMEM;
    if (data && h->nbytes) memcpy(p, data, h->nbytes);
    out->dtype = h->dtype;
    out->ndim = h->ndim;
    memcpy(out->shape, h->shape, sizeof out->shape);
    out->count = h->count;
    out->data = p;
    return MN_OK;
}

mn_status mn_array_parse(const void *bytes, size_t len, const char *label, mn_array *out) {
    if (!out) return mn_fail(MN_E_ARG, "mn_array_parse: out is NULL");
    memset(out, 0, sizeof *out);
    if (!bytes && len) return mn_fail(MN_E_ARG, "mn_array_parse: bytes is NULL");
    if (!label) label = ".npy data";
    npy_header h;
    mn_status s = parse_prefix(label, bytes, len, len, &h);
    if (s) return s;
    return fill(out, &h, (const unsigned char *)bytes + h.data_offset);
}

/* ----------------------------------------------------------------- reading */

/* Opens path for reading, refusing what is not a regular file; sets *size. */
static mn_status open_regular(const char *path, FILE **fp, uint64_t *size) {
    struct stat st;
    /* stat first, so that a directory or a FIFO is refused before open could block. */
    if (stat(path, &st))
        return mn_fail(errno == ENOENT || errno == ENOTDIR ? MN_E_INPUT : MN_E_IO,
                       "%s: cannot open: %s", path, strerror(errno));
    if (S_ISDIR(st.st_mode))
        return mn_fail(MN_E_INPUT, "%s: is a directory, not a .npy file", path);
    if (!S_ISREG(st.st_mode))
        return mn_fail(MN_E_INPUT, "%s: is not a regular file", path);
    if (!(*fp = fopen(path, "rb")))
        return mn_fail(MN_E_IO, "%s: cannot open: %s", path, strerror(errno));
    if (fstat(fileno(*fp), &st) || !S_ISREG(st.st_mode) || st.st_size < 0) {
        fclose(*fp);
        return mn_fail(MN_E_IO, "%s: is not a readable regular file", path);
    }
    *size = (uint64_t)st.st_size;
    return MN_OK;
}

static mn_status read_error(const char *path, FILE *fp) {
    int err = ferror(fp) ? errno : 0;
    if (err) return mn_fail(MN_E_IO, "%s: read failed: %s", path, strerror(err));
    return mn_fail(MN_E_INPUT, "%s: file changed size while being read", path);
}

mn_status mn_array_load(const char *path, mn_array *out) {
    if (!out) return mn_fail(MN_E_ARG, "mn_array_load: out is NULL");
    memset(out, 0, sizeof *out);
    if (!path || !*path) return mn_fail(MN_E_ARG, "mn_array_load: no path given");
    FILE *fp = NULL;
    uint64_t size = 0;
    mn_status s = open_regular(path, &fp, &size);
    if (s) return s;
    /* Read the prefix first, so a huge file with a bad header costs nothing. */
    static const size_t cap = 12 + NPY_MAX_HEADER;
    size_t want = size < cap ? (size_t)size : cap;
    unsigned char *pre = mn_alloc(want ? want : 1);
    npy_header h;
    if (!pre) s = MN_E_NOMEM;
    else if (fread(pre, 1, want, fp) != want) s = read_error(path, fp);
    else s = parse_prefix(path, pre, want, size, &h);
    mn_release(pre);
    if (!s) s = fill(out, &h, NULL);
    if (!s && h.nbytes) {
        if (fseeko(fp, (off_t)h.data_offset, SEEK_SET))
            s = mn_fail(MN_E_IO, "%s: cannot seek: %s", path, strerror(errno));
        else if (fread(out->data, 1, h.nbytes, fp) != h.nbytes)
            s = read_error(path, fp);
    }
    if (!s && fgetc(fp) != EOF) s = read_error(path, fp);
    fclose(fp);
    if (s) mn_array_free(out);
    return s;
}

/* ----------------------------------------------------------------- writing */

/* The header exactly as numpy.save (numpy >= 1.23, format 1.0) lays it out: the dict with
 * sorted keys, room for the growth axis, spaces up to a 64-byte boundary, then '\n'.
 * Returns the total length of magic + length + header in buf. */
static size_t build_header(char *buf, size_t cap, mn_array_dtype dtype, int ndim,
                           const int64_t *shape) {
    char text[512];
    size_t n = (size_t)snprintf(text, sizeof text,
                                "{'descr': '%s', 'fortran_order': False, 'shape': (",
                                dtype_descr[dtype]);
    for (int i = 0; i < ndim; i++)
        n += (size_t)snprintf(text + n, sizeof text - n, "%s%lld", i ? ", " : "",
                              (long long)shape[i]);
    n += (size_t)snprintf(text + n, sizeof text - n, "%s), }", ndim == 1 ? "," : "");
    if (ndim > 0) {
        int digits = snprintf(NULL, 0, "%lld", (long long)shape[0]);
        for (int i = digits; i < NPY_GROWTH_DIGITS; i++) text[n++] = ' ';
    }
    size_t hlen = n + 1;                                  /* + '\n' */
    size_t pad = NPY_ALIGN - (NPY_MAGIC_LEN + 4 + hlen) % NPY_ALIGN;
    size_t total = 10 + hlen + pad;
    if (total > cap) return 0;
    memcpy(buf, NPY_MAGIC, NPY_MAGIC_LEN);
    buf[6] = 1;
    buf[7] = 0;
    buf[8] = (char)((hlen + pad) & 0xff);
    buf[9] = (char)((hlen + pad) >> 8);
    memcpy(buf + 10, text, n);
    memset(buf + 10 + n, ' ', pad);
    buf[total - 1] = '\n';
    return total;
}

mn_status mn_array_save(const char *path, mn_array_dtype dtype, int ndim, const int64_t *shape,
                        const void *data) {
    if (!path || !*path) return mn_fail(MN_E_ARG, "mn_array_save: no path given");
    if ((unsigned)dtype >= (unsigned)NDTYPES)
        return mn_fail(MN_E_ARG, "mn_array_save: unknown dtype %d", (int)dtype);
    if (ndim < 0 || ndim > MN_ARRAY_MAX_DIMS || (ndim && !shape))
        return mn_fail(MN_E_ARG, "mn_array_save: rank must be 0 to %d with a shape",
                       MN_ARRAY_MAX_DIMS);
    size_t count = 1, bytes;
    int zero = 0, overflow = 0;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0)
            return mn_fail(MN_E_ARG, "mn_array_save: dimension %d is negative", i);
        zero |= shape[i] == 0;
        if ((uint64_t)shape[i] > SIZE_MAX || !mn_mul_size(count, (size_t)shape[i], &count))
            overflow = 1;
    }
    if (zero) count = 0;
    if ((overflow && !zero) || !mn_mul_size(count, dtype_size(dtype), &bytes))
        return mn_fail(MN_E_ARG, "mn_array_save: the shape's element count overflows");
    if (bytes && !data) return mn_fail(MN_E_ARG, "mn_array_save: no data");
    /* A rank-8 header with 19-digit dimensions is under 400 bytes, so format 1.0 (header
     * up to 65535 bytes) always suffices and 2.0 is never needed for writing. */
    char head[640];
    size_t hlen = build_header(head, sizeof head, dtype, ndim, shape);
    if (!hlen) return mn_fail(MN_E_ARG, "mn_array_save: header does not fit");
    mn_piece pieces[2] = {{head, hlen}, {data, bytes}};
    return mn_write_atomic(path, pieces, 2);
}
