/* NumPy .npy arrays: reader and atomic writer.
 *
 * Layout: "\x93NUMPY", major, minor, the header length (2 bytes little-endian in format
 * 1.0, 4 bytes in 2.0 and 3.0), then the header: the text of a Python dict
 *   {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
 * padded with spaces and ended by '\n' (Latin-1 in 1.0 and 2.0, UTF-8 in 3.0), then the
 * raw array bytes.
 *
 * The reader treats the file as hostile. It evaluates the header with its own small
 * grammar of Python literals (npy_header.c) instead of anything eval-like, caps the header
 * length, checks that the shape's product cannot overflow, and requires the file to be
 * exactly header + data long before it allocates or copies anything. It reads what
 * numpy.load reads for float32 and int32: either byte order, C or Fortran order; what it
 * hands out is always native (little-endian) and C order, so big-endian data is swapped
 * and Fortran-order data transposed on the way in (the latter needs a second buffer of the
 * array's size while it reads). The host must be little-endian, as the safetensors reader
 * requires. */
#include "atomic_file.h"
#include "npy.h"

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

/* numpy itself refuses headers over 10000 characters unless told otherwise; a rank-8
 * header needs a few hundred. 64 KiB admits every format-1.0 header and refuses absurd
 * ones in any format. */
#define NPY_MAX_HEADER 65536u
#define NPY_MAGIC "\x93NUMPY"
#define NPY_MAGIC_LEN 6
#define NPY_ALIGN 64            /* numpy pads the header so the data starts aligned */
#define NPY_GROWTH_DIGITS 21    /* numpy's spare room after the shape (growth axis) */

static const char *const dtype_descr[] = { [MN_ARRAY_F32] = "<f4", [MN_ARRAY_I32] = "<i4",
                                            [MN_ARRAY_I64] = "<i8" };
#define NDTYPES ((int)(sizeof dtype_descr / sizeof dtype_descr[0]))

size_t mn_npy_dtype_size(mn_array_dtype d) { return d == MN_ARRAY_I64 ? 8 : 4; }

typedef mn_npy_header npy_header;

void mn_array_free(mn_array *a) {
    if (!a) return;
    mn_release(a->data);
    memset(a, 0, sizeof *a);
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
    if (major < 1 || major > 3 || minor != 0)
        return mn_fail(MN_E_INPUT, "%s: .npy format version %d.%d is not supported (mnemo "
                       "reads 1.0, 2.0 and 3.0, all that numpy writes)", label, major, minor);
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
    mn_status s = mn_npy_parse_header(label, (const char *)buf + pre, (size_t)hlen, major, h);
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

/* Does the data need to be reordered (not only byte-swapped)? A Fortran-order array of
 * rank 0 or 1 lies as a C-order one. */
static int transposed(const npy_header *h) { return h->fortran && h->ndim > 1 && h->count; }

/* Copies the array from src, as the file lays it out, to dst in C order and native byte
 * order. src and dst may be the same buffer unless the data is transposed. */
static void swap_bytes(unsigned char *e, size_t size) {
    for (size_t i = 0; i < size / 2; i++) {
        unsigned char t = e[i];
        e[i] = e[size - 1 - i], e[size - 1 - i] = t;
    }
}

static void to_native(const npy_header *h, const unsigned char *src, unsigned char *dst) {
    const int swap = h->big_endian;
    const size_t size = mn_npy_dtype_size(h->dtype);
    if (!transposed(h)) {
        if (dst != src) memcpy(dst, src, h->nbytes);
        for (size_t i = 0; swap && i < h->nbytes; i += size) swap_bytes(dst + i, size);
        return;
    }
    /* Column-major: element (i0, ..., in-1) sits at i0 + d0*(i1 + d1*(i2 + ...)). Walk dst
     * in C order, keeping the source offset in step with the index. */
    size_t idx[MN_ARRAY_MAX_DIMS] = {0}, stride[MN_ARRAY_MAX_DIMS], off = 0;
    int n = h->ndim;
    stride[0] = 1;
    for (int k = 1; k < n; k++) stride[k] = stride[k - 1] * (size_t)h->shape[k - 1];
    for (size_t e = 0; e < h->count; e++) {
        unsigned char *d = dst + e * size;
        memcpy(d, src + off * size, size);
        if (swap) swap_bytes(d, size);
        for (int k = n - 1; k >= 0; k--) {
            off += stride[k];
            if (++idx[k] < (size_t)h->shape[k]) break;
            off -= stride[k] * (size_t)h->shape[k];
            idx[k] = 0;
        }
    }
}

static mn_status fill(mn_array *out, const npy_header *h, const void *data) {
    void *p = mn_alloc(h->nbytes ? h->nbytes : 1);
    if (!p) return MN_E_NOMEM;
    if (data && h->nbytes) to_native(h, data, p);
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
        /* transposed data is read aside first; anything else is fixed up in place */
        unsigned char *raw = transposed(&h) ? mn_alloc(h.nbytes) : out->data;
        if (!raw)
            s = MN_E_NOMEM;
        else if (fseeko(fp, (off_t)h.data_offset, SEEK_SET))
            s = mn_fail(MN_E_IO, "%s: cannot seek: %s", path, strerror(errno));
        else if (fread(raw, 1, h.nbytes, fp) != h.nbytes)
            s = read_error(path, fp);
        else
            to_native(&h, raw, out->data);
        if (raw != out->data) mn_release(raw);
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
    if ((overflow && !zero) || !mn_mul_size(count, mn_npy_dtype_size(dtype), &bytes))
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
