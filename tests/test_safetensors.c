/* safetensors: round trip, atomic writes, and every class of malformed file. */
#include "test.h"
#include "safetensors.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ------------------------------------------------------------------ helpers */


/* Number of entries in dir whose name contains `part` (all entries when NULL). */
static int count_entries(const char *dir, const char *part) {
    DIR *d = opendir(dir);
    int n = 0;
    if (!d) return -1;
    for (struct dirent *e; (e = readdir(d));)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") &&
            (!part || strstr(e->d_name, part)))
            n++;
    closedir(d);
    return n;
}

/* A file image: 8-byte little-endian header length, header text, then data bytes. */
static size_t image(unsigned char *out, const char *header, const void *data, size_t dlen) {
    uint64_t n = strlen(header);
    for (int i = 0; i < 8; i++) out[i] = (unsigned char)(n >> (8 * i));
    memcpy(out + 8, header, n);
    if (dlen) memcpy(out + 8 + n, data, dlen);
    return 8 + n + dlen;
}

/* Expects the bytes to be refused, both from a file and from memory, with MN_E_INPUT, a
 * message containing `part` (when given), no crash and no leak. */
static void expect_bad(const char *dir, const void *bytes, size_t len, const char *part,
                       int line) {
    char path[512];
    snprintf(path, sizeof path, "%s/bad.safetensors", dir);
    if (!mn_test_write_file(path, bytes, len)) {
        mn_test_fail(__FILE__, line, "cannot write %s", path);
        return;
    }
    size_t mem0 = mn_memory_in_use();
    for (int from_memory = 0; from_memory < 2; from_memory++) {
        mn_st_file *f = (mn_st_file *)1;
        mn_clear_error();
        mn_status s = from_memory ? mn_st_parse(bytes, len, &f) : mn_st_read(path, &f);
        const char *msg = mn_last_error();
        if (s != MN_E_INPUT || f != NULL || !msg[0] || (part && !strstr(msg, part)))
            mn_test_fail(__FILE__, line, "%s: status %d, message \"%s\" (wanted \"%s\")",
                         from_memory ? "mn_st_parse" : "mn_st_read", (int)s, msg,
                         part ? part : "");
        if (s == MN_OK) mn_st_free(f);
        if (!from_memory && s == MN_E_INPUT && !strstr(msg, "bad.safetensors"))
            mn_test_fail(__FILE__, line, "message does not name the file: %s", msg);
    }
    if (mn_memory_in_use() != mem0)
        mn_test_fail(__FILE__, line, "leaked %zu bytes", mn_memory_in_use() - mem0);
    unlink(path);
}
static unsigned char img_buf[4096], zeros[512];
#define BAD_HEADER(header, dlen, part) \
    expect_bad(dir, img_buf, image(img_buf, header, zeros, dlen), part, __LINE__)
#define BAD_BYTES(bytes, part) expect_bad(dir, bytes, sizeof(bytes) - 1, part, __LINE__)

#define T8(name, off) "\"" name "\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":" off "}"

/* ------------------------------------------------------------------- tests */

TEST(safetensors_round_trip) {
    char dir[256], path[300];
    REQUIRE(mn_test_tmpdir(dir, sizeof dir, "st"), "mkdtemp failed");
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    float f32[6] = { 1.5f, -2, 3, 4, 5, 6.25f };
    double f64[4] = { 1e-300, -0.0, 3.5, 1e300 };
    int32_t i32[3] = { -1, 0, 2147483647 };
    int64_t i64[2] = { INT64_MIN, 42 };
    uint8_t u8[5] = { 0, 1, 127, 128, 255 };
    float scalar = 7;
    int64_t s23[] = { 2, 3 }, s4[] = { 4 }, s3[] = { 3 }, s21[] = { 2, 1 }, s5[] = { 5 },
            s03[] = { 0, 3 };
    mn_st_entry e[] = {
        { "rnn.weight_ih_l0", MN_ST_F32, 2, s23, f32 }, { "d", MN_ST_F64, 1, s4, f64 },
        { "i", MN_ST_I32, 1, s3, i32 }, { "l", MN_ST_I64, 2, s21, i64 },
        { "bytes", MN_ST_U8, 1, s5, u8 }, { "scalar", MN_ST_F32, 0, NULL, &scalar },
        { "empty", MN_ST_F32, 2, s03, NULL },
    };
    const int n = (int)(sizeof e / sizeof e[0]);
    const char *meta[] = { "mode", "lstm", "note", "quote \" and \xc3\xa9", NULL };
    size_t mem0 = mn_memory_in_use();
    REQUIRE_OK(mn_st_write(path, e, n, meta));
    CHECK(count_entries(dir, NULL) == 1, "only the file is left in the folder");

    unsigned char raw[4096];
    long len = mn_test_read_file(path, raw, sizeof raw);
    REQUIRE(len > 8, "file written");
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | raw[i];
    CHECK(hlen % 8 == 0, "header padded to a multiple of 8 (%llu)", (unsigned long long)hlen);
    CHECK(raw[8] == '{' && (raw[8 + hlen - 1] == ' ' || raw[8 + hlen - 1] == '}'),
          "header is JSON padded with spaces");

    for (int pass = 0; pass < 2; pass++) {
        mn_st_file *f = NULL;
        if (pass == 0) REQUIRE_OK(mn_st_read(path, &f));
        else REQUIRE_OK(mn_st_parse(raw, (size_t)len, &f));
        REQUIRE(mn_st_count(f) == n, "count %d", mn_st_count(f));
        for (int i = 0; i < n; i++) {
            const mn_st_tensor *t = mn_st_at(f, i);
            size_t esize = e[i].dtype == MN_ST_F64 || e[i].dtype == MN_ST_I64 ? 8
                         : e[i].dtype == MN_ST_U8 ? 1 : 4, numel = 1;
            CHECK(!strcmp(t->name, e[i].name), "order kept: %s vs %s", t->name, e[i].name);
            CHECK(t->dtype == e[i].dtype && t->ndim == e[i].ndim, "%s dtype/ndim", t->name);
            for (int k = 0; k < t->ndim; k++) {
                CHECK(t->shape[k] == e[i].shape[k], "%s shape", t->name);
                numel *= (size_t)e[i].shape[k];
            }
            CHECK(t->numel == numel && t->nbytes == numel * esize, "%s sizes", t->name);
            CHECK(!numel || !memcmp(t->data, e[i].data, t->nbytes), "%s bytes", t->name);
            CHECK(mn_st_find(f, e[i].name) == t, "find %s", e[i].name);
        }
        CHECK(mn_st_find(f, "nope") == NULL, "absent tensor");
        CHECK(mn_st_at(f, n) == NULL && mn_st_at(f, -1) == NULL, "index out of range");
        CHECK(mn_st_meta_count(f) == 2, "metadata count");
        const char *k = NULL, *v = NULL;
        mn_st_meta_at(f, 1, &k, &v);
        CHECK(k && v && !strcmp(k, "note") && !strcmp(v, meta[3]), "metadata pair");
        CHECK(mn_st_meta(f, "mode") && !strcmp(mn_st_meta(f, "mode"), "lstm"), "meta");
        CHECK(mn_st_meta(f, "absent") == NULL, "absent metadata");
        mn_st_free(f);
    }
    CHECK(mn_memory_in_use() == mem0, "leaked %zu bytes", mn_memory_in_use() - mem0);

    /* No tensors and no metadata is a valid (empty) file. */
    REQUIRE_OK(mn_st_write(path, NULL, 0, NULL));
    mn_st_file *f = NULL;
    CHECK_OK(mn_st_read(path, &f));
    CHECK(f && mn_st_count(f) == 0 && mn_st_meta_count(f) == 0, "empty file");
    mn_st_free(f);
    unlink(path);
    rmdir(dir);
}

TEST(safetensors_atomic_write) {
    char dir[256], path[300], blocker[400], missing[400];
    REQUIRE(mn_test_tmpdir(dir, sizeof dir, "st"), "mkdtemp failed");
    snprintf(path, sizeof path, "%s/ckpt.safetensors", dir);
    float a[2] = { 1, 2 }, b[2] = { 3, 4 };
    int64_t s2[] = { 2 };
    mn_st_entry ea = { "w", MN_ST_F32, 1, s2, a }, eb = { "w", MN_ST_F32, 1, s2, b };
    REQUIRE_OK(mn_st_write(path, &ea, 1, NULL));
    unsigned char before[512], after[512];
    long nbefore = mn_test_read_file(path, before, sizeof before);

    /* Overwriting works and leaves no temporary file. */
    REQUIRE_OK(mn_st_write(path, &eb, 1, NULL));
    CHECK(count_entries(dir, NULL) == 1 && count_entries(dir, ".tmp.") == 0, "no temp");
    REQUIRE_OK(mn_st_write(path, &ea, 1, NULL));

    /* Writing into a folder that does not exist fails cleanly. */
    snprintf(missing, sizeof missing, "%s/no/such/dir/x.safetensors", dir);
    mn_clear_error();
    CHECK(mn_st_write(missing, &ea, 1, NULL) == MN_E_IO && mn_last_error()[0], "missing dir");

    /* A failure to create the temporary file leaves the existing file untouched. */
    snprintf(blocker, sizeof blocker, "%s.tmp.%ld", path, (long)getpid());
    REQUIRE(mkdir(blocker, 0700) == 0, "mkdir blocker");
    mn_clear_error();
    CHECK(mn_st_write(path, &eb, 1, NULL) == MN_E_IO, "blocked temp file must fail");
    CHECK(strstr(mn_last_error(), "ckpt.safetensors") != NULL, "names the file: %s",
          mn_last_error());
    CHECK(mn_test_read_file(path, after, sizeof after) == nbefore &&
          !memcmp(before, after, (size_t)nbefore), "existing file untouched");
    rmdir(blocker);

    /* Bad arguments fail before anything is written. */
    mn_st_entry dup[2] = { ea, eb };
    CHECK(mn_st_write(path, dup, 2, NULL) == MN_E_ARG, "duplicate names refused");
    const char *odd_meta[] = { "key", NULL };
    CHECK(mn_st_write(path, &eb, 1, odd_meta) == MN_E_ARG, "metadata key without value");
    CHECK(mn_test_read_file(path, after, sizeof after) == nbefore &&
          !memcmp(before, after, (size_t)nbefore), "existing file untouched");

    /* Renaming onto a directory fails; the temporary file is removed. */
    mn_clear_error();
    CHECK(mn_st_write(dir, &ea, 1, NULL) == MN_E_IO && mn_last_error()[0], "onto a folder");
    char parent[300];
    snprintf(parent, sizeof parent, "%s", dir);
    char *slash = strrchr(parent, '/');
    if (slash) *slash = 0;
    const char *leaf = strrchr(dir, '/') ? strrchr(dir, '/') + 1 : dir;
    char tmpname[300];
    snprintf(tmpname, sizeof tmpname, "%s.tmp.", leaf);
    CHECK(count_entries(parent, tmpname) == 0, "temporary file removed after failure");
    CHECK(count_entries(dir, NULL) == 1, "folder contents untouched");
    unlink(path);
    rmdir(dir);
}

TEST(safetensors_rejects_malformed) {
    char dir[256];
    REQUIRE(mn_test_tmpdir(dir, sizeof dir, "st"), "mkdtemp failed");
    /* sizes and header length */
    BAD_BYTES("", "too short");
    BAD_BYTES("\x10\x00\x00", "too short");
    BAD_BYTES("\x00\x00\x00\x00\x00\x00\x00\x80{}", "exceeds");        /* 2^63 */
    BAD_BYTES("\xff\xff\xff\xff\xff\xff\xff\xff{}", "exceeds");
    BAD_BYTES("\x40\x00\x00\x00\x00\x00\x00\x00{\"a\":{\"dtype\"", "past the end");
    BAD_BYTES("\x00\x00\x00\x00\x00\x00\x00\x00", "invalid JSON"); /* empty header */
    /* header JSON */
    BAD_HEADER("{abc}", 0, "invalid JSON");
    BAD_HEADER("{\"a\":1,}", 0, "invalid JSON");
    BAD_HEADER("{}  x", 0, "invalid JSON");
    BAD_HEADER("[1,2]", 0, "must be a JSON object");
    BAD_HEADER("\"str\"", 0, "must be a JSON object");
    /* tensor entries */
    BAD_HEADER("{\"a\":[1]}", 0, "must be an object");
    BAD_HEADER("{\"a\":{\"dtype\":\"Q7\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4,
               "dtype 'Q7', which is not a safetensors dtype");
    BAD_HEADER("{\"a\":{\"dtype\":\"f32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
               "dtype 'f32'");
    BAD_HEADER("{\"a\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8,
               "dtype BF16 and shape [2] need 4 bytes");
    BAD_HEADER("{\"a\":{\"dtype\":\"F4\",\"shape\":[3],\"data_offsets\":[0,2]}}", 2,
               "do not fill whole bytes");
    BAD_HEADER("{\"a\":{\"dtype\":\"F6_E2M3\",\"shape\":[2],\"data_offsets\":[0,2]}}",
               2, "do not fill whole bytes");
    BAD_HEADER("{\"a\":{\"dtype\":3,\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "dtype");
    BAD_HEADER("{\"a\":{\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "lacks 'dtype'");
    BAD_HEADER("{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,8]}}", 8, "lacks 'shape'");
    BAD_HEADER("{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8, "lacks 'data_offsets'");
    BAD_HEADER("{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8,
               "shape entry 0");
    BAD_HEADER("{\"a\":{\"dtype\":\"F32\",\"shape\":[2.0],\"data_offsets\":[0,8]}}", 8,
               "shape entry 0");
    BAD_HEADER("{\"a\":{\"dtype\":\"F32\",\"shape\":2,\"data_offsets\":[0,8]}}", 8, "shape");
    BAD_HEADER("{\"a\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1,1],"
               "\"data_offsets\":[0,1]}}", 1, "at most 8");
    BAD_HEADER("{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,16],"
               "\"data_offsets\":[0,8]}}", 8, "overflows");
    BAD_HEADER("{\"a\":{\"dtype\":\"F64\",\"shape\":[2305843009213693952],"
               "\"data_offsets\":[0,8]}}", 8, "overflows");          /* 2^61 * 8 */
    BAD_HEADER("{\"a\":{\"dtype\":\"F32\",\"shape\":[99999999999999999999],"
               "\"data_offsets\":[0,8]}}", 8, "shape entry 0");
    /* offsets */
    BAD_HEADER("{" T8("a", "[-4,4]") "}", 8, "data_offsets");
    BAD_HEADER("{" T8("a", "[0,8,16]") "}", 8, "data_offsets");
    BAD_HEADER("{" T8("a", "[0.0,8]") "}", 8, "data_offsets");
    BAD_HEADER("{" T8("a", "\"0,8\"") "}", 8, "data_offsets");
    BAD_HEADER("{" T8("a", "[0,18446744073709551616]") "}", 8, "data_offsets");
    BAD_HEADER("{" T8("a", "[0,64]") "}", 16, "outside the 16-byte data section");
    BAD_HEADER("{" T8("a", "[8,0]") "}", 8, "outside");
    BAD_HEADER("{\"rnn.weight_ih_l0\":{\"dtype\":\"F32\",\"shape\":[4,4],"
               "\"data_offsets\":[0,12]}}", 12,
               "tensor 'rnn.weight_ih_l0' has data_offsets [0, 12] but dtype F32 and "
               "shape [4, 4] need 64 bytes");
    BAD_HEADER("{" T8("a", "[0,8]") "," T8("b", "[4,12]") "}", 12, "overlaps");
    BAD_HEADER("{" T8("a", "[0,8]") "," T8("b", "[0,8]") "}", 8, "overlaps");
    BAD_HEADER("{" T8("a", "[0,8]") "," T8("b", "[12,20]") "}", 20, "gaps");
    BAD_HEADER("{" T8("a", "[4,12]") "}", 12, "gaps");
    BAD_HEADER("{" T8("a", "[0,8]") "}", 12, "after the last tensor");  /* trailing bytes */
    BAD_HEADER("{}", 4, "after the last tensor");
    /* names and metadata */
    BAD_HEADER("{" T8("a", "[0,8]") "," T8("a", "[8,16]") "}", 16, "duplicate key");
    BAD_HEADER("{\"a\\u0000b\":{}}", 0, "invalid JSON");
    BAD_HEADER("{\"__metadata__\":{\"k\":1}}", 0, "not a string");
    BAD_HEADER("{\"__metadata__\":{\"k\":\"v\",\"n\":null}}", 0, "not a string");
    BAD_HEADER("{\"__metadata__\":[\"k\",\"v\"]}", 0, "__metadata__");
    BAD_HEADER("{\"__metadata__\":\"v\"}", 0, "__metadata__");

    /* paths that are not files */
    mn_st_file *f = (mn_st_file *)1;
    mn_clear_error();
    CHECK(mn_st_read(dir, &f) == MN_E_INPUT && f == NULL, "directory refused");
    CHECK(strstr(mn_last_error(), "directory") != NULL, "message: %s", mn_last_error());
    char path[400];
    snprintf(path, sizeof path, "%s/does-not-exist.safetensors", dir);
    mn_clear_error();
    CHECK(mn_st_read(path, &f) == MN_E_INPUT && f == NULL, "missing file refused");
    CHECK(strstr(mn_last_error(), "does-not-exist.safetensors") != NULL, "message: %s",
          mn_last_error());
    CHECK(count_entries(dir, NULL) == 0, "test files cleaned up");
    rmdir(dir);
}

TEST(safetensors_accepts_edge_cases) {
    /* A zero-size tensor may sit anywhere a tensor boundary is; JSON whitespace and
     * a header padded with spaces are fine; __metadata__ may be empty. */
    static unsigned char img[1024];
    float data[2] = { 1, 2 };
    const char *header = " {\"__metadata__\":{},\n \"z\":{\"dtype\":\"F32\",\"shape\":[0,5],"
                         "\"data_offsets\":[8,8]}, " T8("a", "[0,8]") "}      ";
    size_t len = image(img, header, data, sizeof data);
    mn_st_file *f = NULL;
    REQUIRE_OK(mn_st_parse(img, len, &f));
    CHECK(mn_st_count(f) == 2 && mn_st_meta_count(f) == 0, "two tensors");
    const mn_st_tensor *a = mn_st_find(f, "a");
    CHECK(a && !memcmp(a->data, data, 8), "data of a");
    CHECK(mn_st_find(f, "z") && mn_st_find(f, "z")->numel == 0, "empty tensor");
    mn_st_free(f);
}

TEST(safetensors_reads_fixtures) {
    const char *dir = mn_test_fixture_dir();
    DIR *d = opendir(dir);
    REQUIRE(d, "cannot open fixture folder %s (run from the repository root)", dir);
    int files = 0;
    for (struct dirent *e; (e = readdir(d));) {
        size_t n = strlen(e->d_name);
        if (n < 12 || strcmp(e->d_name + n - 12, ".safetensors")) continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        mn_st_file *f = NULL;
        CHECK_OK(mn_st_read(path, &f));
        if (!f) continue;
        /* every fixture reads; the recurrent layer fixtures also hold the layout below */
        const char *gen = mn_st_meta(f, "generator");
        if (!gen || strcmp(gen, "tools/gen_fixtures.py")) {
            mn_st_free(f);
            continue;
        }
        files++;
        const mn_st_tensor *x = mn_st_find(f, "x"), *y = mn_st_find(f, "y"),
                           *len = mn_st_find(f, "lengths");
        CHECK(x && x->dtype == MN_ST_F32 && x->ndim == 3, "%s: x [T,B,I] F32", e->d_name);
        CHECK(y && y->dtype == MN_ST_F32 && y->ndim == 3, "%s: y [T,B,D*H] F32", e->d_name);
        CHECK(len && len->dtype == MN_ST_I32 && len->ndim == 1, "%s: lengths I32",
              e->d_name);
        CHECK(mn_st_meta(f, "mode") != NULL, "%s: metadata has mode", e->d_name);
        mn_st_free(f);
    }
    closedir(d);
    CHECK(files >= 8, "expected the 8 golden fixtures in %s, found %d", dir, files);
}
