/* idx:IMAGES,LABELS — IDX files (the MNIST layout: magic 0x00000803, images [N,rows,cols]
 * of unsigned bytes; 0x00000801, labels [N]; dimensions big-endian u32), plain or gzip
 * (told by the magic bytes 1f 8b, not the name; read through zlib when this build has it).
 * Sequential pixel-by-pixel classification: T = rows·cols steps of one input (pixel/255),
 * the label at the last step. With permute the pixels are read in one fixed permutation
 * drawn from the seed (psMNIST); the permutation's seed is the task's data_state
 * ("permute=SEED"), so a rebuild from a checkpoint reads the same order.
 *
 * The pixels are read in blocks of 1 MiB and turned into floats at once, into the one
 * array mn_task_from_arrays copies (then freed): no whole byte copy of the file is held. */
#include "data.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef MN_WITH_ZLIB
#include <zlib.h>
#endif

int mn_data_pretend_no_zlib;

int mn_data_zlib_available(void) {
#ifdef MN_WITH_ZLIB
    return !mn_data_pretend_no_zlib;
#else
    return 0;
#endif
}

typedef struct {
    const char *path;
    FILE *fp;
#ifdef MN_WITH_ZLIB
    gzFile gz;
#endif
    int gzip;
    size_t size;     /* plain files: the size stat gave */
} idx_in;

static void in_close(idx_in *r) {
    if (r->fp) fclose(r->fp);
#ifdef MN_WITH_ZLIB
    if (r->gz) gzclose(r->gz);
#endif
}

static mn_status in_open(idx_in *r, const char *path) {
    char nb[MN_ESCAPE_CAP];
    memset(r, 0, sizeof *r);
    r->path = path;
    mn_status st = mn_data_file_size(path, &r->size);
    if (st) return st;
    if (!(r->fp = fopen(path, "rb")))
        return mn_fail(MN_E_INPUT, "cannot open \"%s\": %s", mn_data_name(nb, sizeof nb, path),
                       strerror(errno));
    unsigned char m[2] = {0, 0};
    size_t got = fread(m, 1, 2, r->fp);
    if (got == 2 && m[0] == 0x1f && m[1] == 0x8b) {
        r->gzip = 1;
        fclose(r->fp);
        r->fp = NULL;
        if (!mn_data_zlib_available())
            return mn_fail(MN_E_INPUT, "\"%s\" is gzip-compressed and this mnemo was built "
                           "without zlib: gunzip it, or install zlib1g-dev and rebuild",
                           mn_data_name(nb, sizeof nb, path));
#ifdef MN_WITH_ZLIB
        if (!(r->gz = gzopen(path, "rb")))
            return mn_fail(MN_E_INPUT, "cannot open \"%s\": %s",
                           mn_data_name(nb, sizeof nb, path), strerror(errno));
        gzbuffer(r->gz, 1u << 17);
#endif
        return MN_OK;
    }
    rewind(r->fp);
    return MN_OK;
}

/* Up to n bytes; fewer only at the end of the data. -1 after a read or gzip error. */
static long in_read(idx_in *r, void *buf, size_t n) {
#ifdef MN_WITH_ZLIB
    if (r->gz) {
        int got = gzread(r->gz, buf, (unsigned)n);
        int err = 0;
        gzerror(r->gz, &err);
        return got < 0 || (err != Z_OK && err != Z_BUF_ERROR) ? -1 : got;
    }
#endif
    size_t got = fread(buf, 1, n, r->fp);
    return ferror(r->fp) ? -1 : (long)got;
}

static mn_status read_fail(idx_in *r, const char *what, size_t want, size_t got) {
    char nb[MN_ESCAPE_CAP];
    return mn_fail(MN_E_INPUT, "\"%s\" is truncated%s: the header and %s take %zu bytes, "
                   "and it ends after %zu; give the whole file", mn_data_name(nb, sizeof nb, r->path),
                   r->gzip ? " (or its gzip data is damaged)" : "", what, want, got);
}

/* The header: magic 00 00 08 ndim, then ndim big-endian u32 sizes. */
static mn_status read_header(idx_in *r, int ndim, const char *kind, uint32_t *dims) {
    char nb[MN_ESCAPE_CAP];
    unsigned char h[16];
    size_t need = 4 + 4 * (size_t)ndim;
    long got = in_read(r, h, 4);
    if (got < 0) return read_fail(r, "its dimensions", 4, 0);
    if (got < 4)
        return mn_fail(MN_E_INPUT, "\"%s\" holds %ld byte%s, too few for an IDX header; give "
                       "an IDX file of %s", mn_data_name(nb, sizeof nb, r->path), got,
                       got == 1 ? "" : "s", kind);
    uint32_t magic = (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
    if (h[0] || h[1] || h[2] != 8)
        return mn_fail(MN_E_INPUT, "\"%s\": magic 0x%08" PRIx32 " is not that of an IDX file "
                       "of unsigned bytes (0x000008NN); give %s (magic 0x%08x)",
                       mn_data_name(nb, sizeof nb, r->path), magic, kind, 0x800 + ndim);
    if (h[3] != ndim)
        return mn_fail(MN_E_INPUT, "\"%s\" has %d dimension%s (magic 0x%08" PRIx32 "); give %s "
                       "with %d (magic 0x%08x)", mn_data_name(nb, sizeof nb, r->path), h[3],
                       h[3] == 1 ? "" : "s", magic, kind, ndim, 0x800 + ndim);
    got = in_read(r, h + 4, need - 4);
    if (got < (long)(need - 4)) return read_fail(r, "its dimensions", need, 4 + (got > 0 ? got : 0));
    for (int k = 0; k < ndim; k++) {
        const unsigned char *p = h + 4 + 4 * k;
        dims[k] = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
    }
    return MN_OK;
}

/* After `body` bytes of data: nothing may follow. */
static mn_status check_end(idx_in *r, size_t header, size_t body) {
    char nb[MN_ESCAPE_CAP];
    unsigned char extra;
    if (!r->gzip ? r->size > header + body : in_read(r, &extra, 1) > 0)
        return mn_fail(MN_E_INPUT, "\"%s\" holds more bytes than its dimensions say (%zu after "
                       "the %zu-byte header); give a whole IDX file and nothing after it",
                       mn_data_name(nb, sizeof nb, r->path), body, header);
    return MN_OK;
}

/* The permutation of T pixels drawn from seed: step s reads pixel perm[s]. */
static void draw_permutation(uint64_t seed, int32_t *perm, int T) {
    mn_rng g;
    mn_rng_seed(&g, seed ^ 0x50534D4E495354ull);   /* "PSMNIST" */
    for (int s = 0; s < T; s++) perm[s] = s;
    for (int s = T - 1; s > 0; s--) {
        int j = (int)mn_rng_below(&g, (uint32_t)s + 1);
        int32_t v = perm[s];
        perm[s] = perm[j];
        perm[j] = v;
    }
}

/* One pair of files appended: pixels into x (grown), labels into y. */
static mn_status read_pair(const char *ipath, const char *lpath, int permute, uint64_t pseed,
                           int32_t **perm_block, int *T, float **x, int32_t **y, size_t *n) {
    char nb[MN_ESCAPE_CAP], nb2[MN_ESCAPE_CAP];
    idx_in im, lb;
    uint32_t d[3] = {0, 0, 0}, ld[1] = {0};
    mn_status st = in_open(&im, ipath);
    if (!st) st = read_header(&im, 3, "images [N,rows,cols] of unsigned bytes", d);
    if (st) {
        in_close(&im);
        return st;
    }
    st = in_open(&lb, lpath);
    if (!st) st = read_header(&lb, 1, "labels [N] of unsigned bytes", ld);
    size_t rc = (size_t)d[1] * d[2], N = d[0], body = 0;
    if (!st && (rc == 0 || rc > (size_t)INT32_MAX / 2))
        st = mn_fail(MN_E_INPUT, "\"%s\": images of %" PRIu32 "x%" PRIu32 " pixels; give images "
                     "of at least one pixel", mn_data_name(nb, sizeof nb, ipath), d[1], d[2]);
    if (!st && *T && (size_t)*T != rc)
        st = mn_fail(MN_E_INPUT, "\"%s\": images of %zu pixels, and the first file's have %d; "
                     "give images of one size", mn_data_name(nb, sizeof nb, ipath), rc, *T);
    if (!st && ld[0] != d[0])
        st = mn_fail(MN_E_INPUT, "\"%s\" holds %" PRIu32 " images and \"%s\" %" PRIu32
                     " labels; give one label per image", mn_data_name(nb, sizeof nb, ipath),
                     d[0], mn_data_name(nb2, sizeof nb2, lpath), ld[0]);
    if (!st && (N == 0 || *n + N > (size_t)INT32_MAX))
        st = mn_fail(MN_E_INPUT, "\"%s\" holds %zu images; give 1 to %d in all",
                     mn_data_name(nb, sizeof nb, ipath), N, INT32_MAX);
    if (!st && !mn_mul_size(N, rc, &body))
        st = mn_fail(MN_E_INPUT, "\"%s\": the dimensions overflow", mn_data_name(nb, sizeof nb, ipath));
    /* a plain file's size is known: a truncated one is refused before anything is read */
    if (!st && !im.gzip && im.size < 16 + body) st = read_fail(&im, "pixels", 16 + body, im.size);
    if (!st && !lb.gzip && lb.size < 8 + N) st = read_fail(&lb, "labels", 8 + N, lb.size);
    /* deflate packs at most about 1032 bytes into one: a gzip file far smaller than its
     * dimensions say is cut short (refused before anything is allocated for it) */
    if (!st && im.gzip && im.size < (16 + body) / 1100) st = read_fail(&im, "pixels", 16 + body, im.size);
    if (!st && lb.gzip && lb.size < (8 + N) / 1100) st = read_fail(&lb, "labels", 8 + N, lb.size);
    if (!st && permute && !*perm_block) {   /* the first images' size draws the permutation */
        if (!(*perm_block = mn_alloc(rc * 2 * sizeof **perm_block))) st = MN_E_NOMEM;
        else {
            int32_t *perm = *perm_block, *inv = perm + rc;
            draw_permutation(pseed, perm, (int)rc);
            for (size_t s = 0; s < rc; s++) inv[perm[s]] = (int32_t)s;
        }
    }
    const int32_t *step_of = *perm_block ? *perm_block + rc : NULL;   /* pixel p at step_of[p] */
    if (!st) {
        *T = (int)rc;
        size_t bytes;
        float *nx = NULL;
        int32_t *ny = NULL;
        if (!mn_mul_size(*n + N, rc * sizeof(float), &bytes) || !(nx = mn_alloc(bytes)) ||
            !(ny = mn_alloc((*n + N) * sizeof *ny))) {
            mn_release(nx);
            st = mn_fail(MN_E_NOMEM, "no memory for %zu images of %zu pixels as floats",
                         *n + N, rc);
        } else {
            if (*n) memcpy(nx, *x, *n * rc * sizeof *nx), memcpy(ny, *y, *n * sizeof *ny);
            mn_release(*x);
            mn_release(*y);
            *x = nx;
            *y = ny;
        }
    }
    unsigned char *blk = st ? NULL : mn_alloc(1u << 20);
    if (!st && !blk) st = MN_E_NOMEM;
    float *xs = st ? NULL : *x + *n * rc;
    for (size_t done = 0; !st && done < body;) {
        size_t want = body - done < (1u << 20) ? body - done : 1u << 20;
        long got = in_read(&im, blk, want);
        if (got < (long)want) {
            st = read_fail(&im, "pixels", 16 + body, 16 + done + (got > 0 ? (size_t)got : 0));
            break;
        }
        for (size_t k = 0; k < want; k++) {
            size_t off = done + k, img = off / rc, p = off % rc;
            xs[img * rc + (size_t)(step_of ? step_of[p] : (int32_t)p)] = blk[k] / 255.0f;
        }
        done += want;
    }
    if (!st) st = check_end(&im, 16, body);
    for (size_t done = 0; !st && done < N;) {
        size_t want = N - done < (1u << 20) ? N - done : 1u << 20;
        long got = in_read(&lb, blk, want);
        if (got < (long)want) {
            st = read_fail(&lb, "labels", 8 + N, 8 + done + (got > 0 ? (size_t)got : 0));
            break;
        }
        for (size_t k = 0; k < want; k++) (*y)[*n + done + k] = blk[k];
        done += want;
    }
    if (!st) st = check_end(&lb, 8, N);
    if (!st) *n += N;
    mn_release(blk);
    in_close(&im);
    in_close(&lb);
    return st;
}

static mn_status idx_open(const mn_data_files *f, uint64_t seed, mn_task **out) {
    char nb[MN_ESCAPE_CAP];
    if (f->nv && f->nv != 2)
        return mn_fail(MN_E_ARG, "the validation data names %d files; give idx:IMAGES,LABELS",
                       f->nv);
    int permute = f->permute;
    uint64_t pseed = seed;
    if (f->state) {
        char *end;
        errno = 0;
        if (strncmp(f->state, "permute=", 8) || !f->state[8] || f->state[8] == '-' ||
            (pseed = strtoull(f->state + 8, &end, 10), *end) || errno)
            return mn_fail(MN_E_INPUT, "the recorded pixel order \"%s\" is not permute=SEED",
                           mn_escape(nb, sizeof nb, f->state));
        permute = 1;
    }
    int T = 0;
    int32_t *perm_block = NULL;
    float *x = NULL;
    int32_t *y = NULL;
    size_t n = 0, n_train = 0;
    mn_status st = MN_OK;
    for (int pair = 0; pair < 1 + (f->nv > 0) && !st; pair++) {
        const char *ip = pair ? f->vpaths[0] : f->paths[0], *lp = pair ? f->vpaths[1] : f->paths[1];
        if (!st) st = read_pair(ip, lp, permute, pseed, &perm_block, &T, &x, &y, &n);
        if (!pair) n_train = n;
    }
    mn_release(perm_block);
    if (!st) {
        int32_t top = 1;
        for (size_t i = 0; i < n; i++) top = y[i] > top ? y[i] : top;
        mn_arrays a;
        mn_arrays_init(&a);
        a.name = permute ? "psmnist" : "smnist";
        a.sequences = (int)n;
        a.steps = T;
        a.input_size = 1;
        a.x = x;
        a.loss = MN_LOSS_CE;
        a.output = MN_OUTPUT_LAST;
        a.output_size = top + 1;
        a.labels = y;
        if (f->nv) a.heldout = (int)(n - n_train);
        else {
            double h = floor(f->valid_fraction * (double)n + 0.5);
            if (f->valid_fraction > 0 && h < 1) h = 1;
            if (h >= (double)n)
                st = mn_fail(MN_E_INPUT, "\"%s\" holds %zu image%s: too few to hold out %g of "
                             "them and train on the rest; give more, a validation pair, or a "
                             "validation fraction of 0", mn_data_name(nb, sizeof nb,
                             f->paths[0]), n, n == 1 ? "" : "s", f->valid_fraction);
            a.heldout = (int)h;
        }
        if (!st) st = mn_task_from_arrays_split(&a, seed, f->nv > 0, out);
    }
    mn_release(x);   /* the task holds its own copy */
    mn_release(y);
    if (!st && permute) {
        mn_task *t = *out;
        snprintf(t->desc, sizeof t->desc, "permute=%" PRIu64, pseed);
        t->info.data_state = t->desc;
    }
    return st;
}

const mn_data_kind mn_data_idx = {"idx", "idx:IMAGES,LABELS", 2, 2, idx_open};
