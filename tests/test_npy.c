/* .npy arrays: round trips, numpy's own files read and reproduced byte for byte, atomic
 * writes, and every class of malformed file. */
#include "test.h"
#include "core.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ------------------------------------------------------------------ helpers */


static int count_entries(const char *dir) {
    DIR *d = opendir(dir);
    int n = 0;
    if (!d) return -1;
    for (struct dirent *e; (e = readdir(d));)
        n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    closedir(d);
    return n;
}

static void remove_all(const char *dir) {
    DIR *d = opendir(dir);
    char p[600];
    if (!d) return;
    for (struct dirent *e; (e = readdir(d));) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        if (remove(p)) rmdir(p);
    }
    closedir(d);
    rmdir(dir);
}

/* A file image: magic, version major.0, header length (2 bytes for 1.x, 4 otherwise),
 * the header text as given, then dlen zero bytes. */
static size_t image(unsigned char *out, int major, const char *header, size_t dlen) {
    size_t n = strlen(header), at = 8;
    memcpy(out, "\x93NUMPY", 6);
    out[6] = (unsigned char)major;
    out[7] = 0;
    int lb = major == 1 ? 2 : 4;
    for (int i = 0; i < lb; i++) out[at++] = (unsigned char)(n >> (8 * i));
    memcpy(out + at, header, n);
    memset(out + at + n, 0, dlen);
    return at + n + dlen;
}

/* Expects the bytes to be refused, from a file and from memory, with MN_E_INPUT, a
 * message containing `part` that names the file, a zeroed array and no leak. */
static void expect_bad(const char *dir, const void *bytes, size_t len, const char *part,
                       int line) {
    char path[512];
    snprintf(path, sizeof path, "%s/bad.npy", dir);
    if (!mn_test_write_file(path, bytes, len)) {
        mn_test_fail(__FILE__, line, "cannot write %s", path);
        return;
    }
    size_t mem0 = mn_memory_in_use();
    for (int from_memory = 0; from_memory < 2; from_memory++) {
        mn_array a;
        memset(&a, 0x55, sizeof a);
        mn_clear_error();
        mn_status s = from_memory ? mn_array_parse(bytes, len, "bad.npy", &a)
                                  : mn_array_load(path, &a);
        const char *msg = mn_last_error();
        if (s != MN_E_INPUT || a.data || a.count || !strstr(msg, part) ||
            !strstr(msg, "bad.npy"))
            mn_test_fail(__FILE__, line, "%s: status %d, message \"%s\" (wanted \"%s\" and "
                         "the file name)", from_memory ? "mn_array_parse" : "mn_array_load",
                         (int)s, msg, part);
        if (s == MN_OK) mn_array_free(&a);
    }
    if (mn_memory_in_use() != mem0)
        mn_test_fail(__FILE__, line, "leaked %zu bytes", mn_memory_in_use() - mem0);
    unlink(path);
}

static unsigned char img[70000];
#define BAD(major, header, dlen, part) \
    expect_bad(dir, img, image(img, major, header, dlen), part, __LINE__)
#define BAD_BYTES(bytes, part) expect_bad(dir, bytes, sizeof(bytes) - 1, part, __LINE__)
#define HDR(descr, fortran, shape) \
    "{'descr': '" descr "', 'fortran_order': " fortran ", 'shape': " shape ", }\n"

/* ------------------------------------------------------------------ tests */

TEST(npy_round_trip) {
    char dir[256], path[300];
    REQUIRE(mn_test_tmpdir(dir, sizeof dir, "npy"), "mkdtemp failed");
    snprintf(path, sizeof path, "%s/a.npy", dir);
    float f[24];
    int32_t i[5] = { INT32_MIN, -1, 0, 7, INT32_MAX };
    int64_t l[3] = { INT64_MIN, 5, INT64_MAX };   /* numpy's default integer */
    for (int k = 0; k < 24; k++) f[k] = (float)k * 0.37f - 3.0f;
    const struct { mn_array_dtype dt; int ndim; int64_t shape[8]; const void *data; } cases[] = {
        { MN_ARRAY_F32, 3, { 2, 3, 4 }, f }, { MN_ARRAY_I32, 1, { 5 }, i },
        { MN_ARRAY_F32, 0, { 0 }, f }, { MN_ARRAY_F32, 2, { 0, 7 }, NULL },
        { MN_ARRAY_I32, 8, { 1, 2, 1, 1, 2, 1, 1, 1 }, i },
        { MN_ARRAY_F32, 2, { 3, 0 }, NULL }, { MN_ARRAY_I64, 1, { 3 }, l },
    };
    size_t mem0 = mn_memory_in_use();
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        REQUIRE_OK(mn_array_save(path, cases[c].dt, cases[c].ndim, cases[c].shape,
                                 cases[c].data));
        CHECK(count_entries(dir) == 1, "case %zu: only the file is left in the folder", c);
        mn_array a;
        REQUIRE_OK(mn_array_load(path, &a));
        size_t n = 1;
        for (int d = 0; d < cases[c].ndim; d++) n *= (size_t)cases[c].shape[d];
        CHECK(a.dtype == cases[c].dt && a.ndim == cases[c].ndim && a.count == n,
              "case %zu: dtype %d rank %d count %zu", c, (int)a.dtype, a.ndim, a.count);
        CHECK(!memcmp(a.shape, cases[c].shape, (size_t)a.ndim * sizeof(int64_t)),
              "case %zu: shape", c);
        size_t size = cases[c].dt == MN_ARRAY_I64 ? 8 : 4;
        CHECK(a.data && (n == 0 || !memcmp(a.data, cases[c].data, n * size)), "case %zu: data", c);
        CHECK(((uintptr_t)a.data & 63) == 0, "case %zu: data is 64-byte aligned", c);
        mn_array_free(&a);
        CHECK(!a.data && !a.count, "free zeroes the array");
    }
    mn_array_free(NULL);
    CHECK(mn_memory_in_use() == mem0, "no leak");
    remove_all(dir);
}

/* Files written by numpy: read with the right contents, and written back identically. */
TEST(npy_numpy_files) {
    char dir[256], path[600], ref[600];
    unsigned char want[512], got[512];
    REQUIRE(mn_test_tmpdir(dir, sizeof dir, "npy"), "mkdtemp failed");
    const struct { const char *name; mn_array_dtype dt; int ndim; int64_t shape[8]; } cases[] = {
        { "f32_2x3.npy", MN_ARRAY_F32, 2, { 2, 3 } },
        { "f32_2x3_v2.npy", MN_ARRAY_F32, 2, { 2, 3 } },
        { "i32_5.npy", MN_ARRAY_I32, 1, { 5 } },
        { "f32_scalar.npy", MN_ARRAY_F32, 0, { 0 } },
        { "i32_0x4.npy", MN_ARRAY_I32, 2, { 0, 4 } },
        { "f32_rank8.npy", MN_ARRAY_F32, 8, { 2, 1, 2, 1, 1, 3, 1, 1 } },
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        snprintf(ref, sizeof ref, "%s/npy/%s", mn_test_fixture_dir(), cases[c].name);
        mn_array a;
        REQUIRE_OK(mn_array_load(ref, &a));
        CHECK(a.dtype == cases[c].dt && a.ndim == cases[c].ndim &&
              !memcmp(a.shape, cases[c].shape, (size_t)a.ndim * sizeof(int64_t)),
              "%s: dtype %d, rank %d", cases[c].name, (int)a.dtype, a.ndim);
        const float *f = a.data;
        const int32_t *i = a.data;
        if (!strcmp(cases[c].name, "f32_2x3.npy") || !strcmp(cases[c].name, "f32_2x3_v2.npy"))
            for (int k = 0; k < 6; k++) CHECK(f[k] == k - 2.5f, "%s[%d] = %g", cases[c].name, k, f[k]);
        if (!strcmp(cases[c].name, "i32_5.npy"))
            CHECK(i[0] == INT32_MIN && i[1] == -1 && i[2] == 0 && i[3] == 7 && i[4] == INT32_MAX,
                  "i32_5 values");
        if (!strcmp(cases[c].name, "f32_scalar.npy")) CHECK(a.count == 1 && f[0] == 1.5f, "scalar");
        if (!strcmp(cases[c].name, "f32_rank8.npy"))
            for (int k = 0; k < 12; k++) CHECK(f[k] == (float)k, "rank8[%d]", k);
        /* Format 1.0 files: mnemo's writer lays the header out as numpy.save does. */
        if (!strstr(cases[c].name, "_v2")) {
            snprintf(path, sizeof path, "%s/%s", dir, cases[c].name);
            CHECK_OK(mn_array_save(path, a.dtype, a.ndim, a.shape, a.data));
            long nw = mn_test_read_file(ref, want, sizeof want), ng = mn_test_read_file(path, got, sizeof got);
            CHECK(nw > 0 && nw == ng && !memcmp(want, got, (size_t)nw),
                  "%s: mnemo writes %ld bytes, numpy %ld, or they differ", cases[c].name, ng, nw);
        }
        mn_array_free(&a);
    }
    remove_all(dir);
}

TEST(npy_save_refuses) {
    char dir[256], path[600];
    REQUIRE(mn_test_tmpdir(dir, sizeof dir, "npy"), "mkdtemp failed");
    float v[2] = { 1, 2 };
    int64_t s[2] = { 2, 1 }, neg[1] = { -1 }, huge[2] = { INT64_MAX, 4 };
    snprintf(path, sizeof path, "%s/no/such/folder/a.npy", dir);
    CHECK(mn_array_save(path, MN_ARRAY_F32, 2, s, v) == MN_E_IO, "missing folder is an I/O error");
    CHECK(strstr(mn_last_error(), "a.npy") != NULL, "message names the file: %s", mn_last_error());
    CHECK(mn_array_save(dir, MN_ARRAY_F32, 2, s, v) != MN_OK, "a folder is no file name");
    struct stat sb;
    CHECK(stat(dir, &sb) == 0 && S_ISDIR(sb.st_mode), "the folder is still there");
    snprintf(path, sizeof path, "%s/a.npy", dir);
    CHECK(mn_array_save(path, MN_ARRAY_F32, 1, neg, v) == MN_E_ARG, "negative dimension");
    CHECK(mn_array_save(path, MN_ARRAY_F32, 2, huge, v) == MN_E_ARG, "overflowing shape");
    CHECK(mn_array_save(path, MN_ARRAY_F32, 9, s, v) == MN_E_ARG, "rank 9");
    CHECK(mn_array_save(path, MN_ARRAY_F32, 2, s, NULL) == MN_E_ARG, "no data");
    CHECK(mn_array_save(path, (mn_array_dtype)7, 2, s, v) == MN_E_ARG, "unknown dtype");
    CHECK(count_entries(dir) == 0, "failed saves leave nothing behind");
    /* a refused save leaves an existing file as it was */
    REQUIRE_OK(mn_array_save(path, MN_ARRAY_F32, 2, s, v));
    unsigned char before[256], after[256];
    long nb = mn_test_read_file(path, before, sizeof before);
    CHECK(mn_array_save(path, MN_ARRAY_F32, 2, huge, v) != MN_OK, "refused");
    long na = mn_test_read_file(path, after, sizeof after);
    CHECK(nb > 0 && nb == na && !memcmp(before, after, (size_t)nb), "file untouched");
    remove_all(dir);
}

TEST(npy_malformed) {
    char dir[256];
    REQUIRE(mn_test_tmpdir(dir, sizeof dir, "npy"), "mkdtemp failed");
    const char *ok = HDR("<f4", "False", "(2, 3)");

    /* the prefix */
    BAD_BYTES("", "empty");
    BAD_BYTES("\x93NUM", "truncated");
    BAD_BYTES("\x93NUMPZ\x01\x00\x10\x00", "not a .npy file");
    BAD_BYTES("PK\x03\x04 a zip file, say an .npz", "not a .npy file");
    BAD_BYTES("\x93NUMPY", "truncated after the magic");
    BAD_BYTES("\x93NUMPY\x01\x00\x10", "truncated inside the header length");
    BAD_BYTES("\x93NUMPY\x04\x00\x10\x00\x00\x00", "version 4.0");
    BAD_BYTES("\x93NUMPY\x03\x00\x10\x00\x00\x00", "runs past the end");
    BAD_BYTES("\x93NUMPY\x01\x01\x10\x00", "version 1.1");
    BAD_BYTES("\x93NUMPY\x00\x00\x10\x00", "version 0.0");
    BAD_BYTES("\x93NUMPY\x01\x00\x40\x00{'descr'", "runs past the end");
    BAD_BYTES("\x93NUMPY\x02\x00\xff\xff\xff\xff{", "exceeds");
    BAD_BYTES("\x93NUMPY\x02\x00\x01\x00\x01\x00{", "exceeds");

    /* the header's form */
    BAD(1, "[1, 2, 3]\n", 0, "header is not a dict");
    BAD(1, "", 0, "expected a value");
    BAD(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), ", 24, "expected");
    BAD(1, "{'descr': '<f4' 'fortran_order': False, 'shape': (2,)}\n", 8, "',' or '}'");
    BAD(1, "{'descr' '<f4', 'fortran_order': False, 'shape': (2,)}\n", 8, "',' or '}' in the set");
    BAD(1, "{descr: '<f4', 'fortran_order': False, 'shape': (2,)}\n", 8, "a Python literal");
    BAD(1, "{'descr': '<f4, 'fortran_order': False, 'shape': (2,)}\n", 8, "',' or '}'");
    BAD(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), } x\n", 24,
        "only spaces");
    BAD(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), 'x': 1}\n", 24,
        "unknown key 'x'");
    BAD(1, "{'descr': '<f4', 'fortran_order': False}\n", 0, "lacks 'shape'");
    BAD(1, "{'fortran_order': False, 'shape': ()}\n", 4, "lacks 'descr'");
    BAD(1, "{'descr': '<f4', 'fortran_order': 0, 'shape': ()}\n", 4, "True or False");
    BAD(1, "{'descr': '<f4', 'fortran_order': False, 'shape': [2, 3]}\n", 24, "shape tuple");
    BAD(1, "{'descr': '<f4', 'fortran_order': None, 'shape': ()}\n", 4, "True or False");
    BAD(1, "{'descr': '<f4', 'fortran_order': False, 'shape': 6}\n", 24, "shape tuple");

    /* dtype and order */
    BAD(1, HDR("<f8", "False", "(2, 3)"), 48, "dtype '<f8' is not supported");
    BAD(1, HDR("<i2", "False", "(2, 3)"), 12, "dtype '<i2' is not supported");
    BAD(1, HDR("|u1", "False", "(2, 3)"), 6, "dtype '|u1' is not supported");
    BAD(1, HDR(">f8", "False", "(2, 3)"), 48, "dtype '>f8' is not supported");
    BAD(1, HDR("<u4", "False", "(2, 3)"), 24, "dtype '<u4' is not supported");
    BAD(1, "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }\n", 8,
        "structured dtype");
    BAD(1, "{'descr': ('<f4', (2,)), 'fortran_order': False, 'shape': (2,), }\n", 16,
        "structured dtype");

    /* the shape */
    BAD(1, HDR("<f4", "False", "(-1, 3)"), 0, "dimension 0 is negative");
    BAD(1, HDR("<f4", "False", "(2, -3)"), 0, "dimension 1 is negative");
    BAD(1, HDR("<f4", "False", "(2.5, 3)"), 24, "not a whole number");
    BAD(1, HDR("<f4", "False", "(2, 3e0)"), 24, "not a whole number");
    BAD(1, HDR("<f4", "False", "(02, 3)"), 24, "leading zeros");
    BAD(1, HDR("<f4", "False", "(2, , 3)"), 24, "expected a value");
    BAD(1, HDR("<f4", "False", "(6)"), 24, "(n,)");
    BAD(1, HDR("<f4", "False", "(True, 6)"), 24, "dimension 0 is True or False");
    BAD(1, HDR("<f4", "False", "(2 3)"), 24, "',' or ')'");
    BAD(1, HDR("<f4", "False", "(1, 1, 1, 1, 1, 1, 1, 1, 1)"), 4, "more than 8 dimensions");
    BAD(1, HDR("<f4", "False", "(4294967296, 4294967296)"), 0, "overflows");
    BAD(1, HDR("<f4", "False", "(4611686018427387904,)"), 0, "overflows");
    BAD(1, HDR("<f4", "False", "(9223372036854775808,)"), 0, "exceeds 2^63-1");
    BAD(1, HDR("<f4", "False", "(99999999999999999999999, 0)"), 0, "exceeds 2^63-1");

    /* the size */
    BAD(1, ok, 23, "truncated");
    BAD(1, ok, 0, "truncated");
    BAD(1, ok, 25, "trailing bytes");
    BAD(2, ok, 23, "truncated");

    /* a folder, and a file that is not there */
    char sub[300];
    snprintf(sub, sizeof sub, "%s/bad.npy", dir);
    REQUIRE(mkdir(sub, 0700) == 0, "mkdir");
    mn_array a;
    CHECK(mn_array_load(sub, &a) == MN_E_INPUT && strstr(mn_last_error(), "directory"),
          "a directory: %s", mn_last_error());
    rmdir(sub);
    CHECK(mn_array_load(sub, &a) == MN_E_INPUT && strstr(mn_last_error(), "bad.npy"),
          "a missing file: %s", mn_last_error());

    /* and what must still parse: both format versions, either quotes, any key order,
     * no trailing comma, tabs and newlines inside the dict, a zero dimension next to a
     * huge one (product 0, as numpy allows) */
    const char *good[] = {
        HDR("<f4", "False", "(2, 3)"),
        "{\"shape\": (2, 3), \"fortran_order\": False, \"descr\": \"<f4\"}\n",
        "{'descr':'<f4','fortran_order':False,'shape':(2,3,)}",
        "{\t'descr': '<f4',\n 'fortran_order': False,\r\n 'shape': ( 6 , ) }    \n",
    };
    for (size_t g = 0; g < sizeof good / sizeof good[0]; g++)
        for (int major = 1; major <= 2; major++) {
            size_t n = image(img, major, good[g], 24);
            CHECK_OK(mn_array_parse(img, n, "good.npy", &a));
            CHECK(a.count == 6 && a.dtype == MN_ARRAY_F32, "good header %zu v%d", g, major);
            mn_array_free(&a);
        }
    size_t n = image(img, 1, HDR("<i4", "False", "(9223372036854775807, 0)"), 0);
    CHECK_OK(mn_array_parse(img, n, "empty.npy", &a));
    CHECK(a.count == 0 && a.ndim == 2 && a.dtype == MN_ARRAY_I32, "zero-size array");
    mn_array_free(&a);
    remove_all(dir);
}
