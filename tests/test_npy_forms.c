/* .npy files as numpy writes and reads them beyond numpy.save's defaults: format 3.0,
 * big-endian data, Fortran order (tests/fixtures/npy, tools/gen_reader_fixtures.py), and
 * the header written in any form Python's literal syntax allows (numpy reads it with
 * ast.literal_eval); plus what numpy refuses, refused with a message that prints safely.
 * tools/check_npy_headers.py checks the same reader against numpy.load itself. */
#include "test.h"
#include "core.h"

#include <stdlib.h>
#include <string.h>

/* The fixtures' values, in C order: x[k] = float32((k - 11.5) / 3), i[k] = k*97531 - 1000003. */
static float fx(int k) { return (float)((k - 11.5) / 3.0); }
static int32_t fi(int k) { return k * 97531 - 1000003; }

/* A file image: magic, version major.0, header length (2 bytes in 1.0, else 4), header,
 * then n 4-byte elements. */
static size_t image(unsigned char *out, int major, const char *header, const void *data,
                    size_t n) {
    size_t hl = strlen(header), at = 8;
    memcpy(out, "\x93NUMPY", 6);
    out[6] = (unsigned char)major;
    out[7] = 0;
    for (int i = 0; i < (major == 1 ? 2 : 4); i++) out[at++] = (unsigned char)(hl >> (8 * i));
    memcpy(out + at, header, hl);
    if (n) memcpy(out + at + hl, data, n * 4);
    return at + hl + n * 4;
}

static unsigned char img[4096];

TEST(npy_numpy_layouts) {
    static const char *const names[] = {
        "f32_3x2x4_v3.npy", "f32_3x2x4_be.npy", "f32_3x2x4_fortran.npy",
        "f32_3x2x4_be_fortran.npy", "i32_3x2x4_v3.npy", "i32_3x2x4_be.npy",
        "i32_3x2x4_fortran.npy",
    };
    size_t mem0 = mn_memory_in_use();
    for (size_t c = 0; c < sizeof names / sizeof names[0]; c++) {
        char path[600];
        snprintf(path, sizeof path, "%s/npy/%s", mn_test_fixture_dir(), names[c]);
        int is_f32 = names[c][0] == 'f';
        for (int from_memory = 0; from_memory < 2; from_memory++) {
            mn_array a;
            if (from_memory) {
                long n = mn_test_read_file(path, img, sizeof img);
                REQUIRE(n > 0, "%s: cannot read", path);
                REQUIRE_OK(mn_array_parse(img, (size_t)n, names[c], &a));
            } else {
                REQUIRE_OK(mn_array_load(path, &a));
            }
            CHECK(a.dtype == (is_f32 ? MN_ARRAY_F32 : MN_ARRAY_I32) && a.ndim == 3 &&
                  a.shape[0] == 3 && a.shape[1] == 2 && a.shape[2] == 4 && a.count == 24,
                  "%s: dtype %d, shape [%lld, %lld, %lld]", names[c], (int)a.dtype,
                  (long long)a.shape[0], (long long)a.shape[1], (long long)a.shape[2]);
            int wrong = -1;
            for (int k = 0; k < 24 && a.count == 24 && wrong < 0; k++)
                if (is_f32 ? ((float *)a.data)[k] != fx(k) : ((int32_t *)a.data)[k] != fi(k))
                    wrong = k;
            CHECK(wrong < 0, "%s (%s): element %d is wrong", names[c],
                  from_memory ? "memory" : "file", wrong);
            CHECK(((uintptr_t)a.data & 63) == 0, "%s: data 64-byte aligned", names[c]);
            mn_array_free(&a);
        }
    }
    CHECK(mn_memory_in_use() == mem0, "leaked %zu bytes", mn_memory_in_use() - mem0);
}

/* Fortran order and byte order on hand-made data: [2, 3] column-major is 0 3 1 4 2 5. */
TEST(npy_fortran_and_byte_order) {
    mn_array a;
    const float col[6] = { 0, 3, 1, 4, 2, 5 };
    size_t n = image(img, 1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }\n",
                     col, 6);
    REQUIRE_OK(mn_array_parse(img, n, "f.npy", &a));
    for (int k = 0; k < 6; k++) CHECK(((float *)a.data)[k] == (float)k, "C order [%d]", k);
    mn_array_free(&a);
    /* rank 4 with unit dimensions, big-endian int32: i[a,b,c,d] = 1000a + 100b + 10c + d */
    int64_t sh[4] = { 2, 1, 3, 2 };
    unsigned char be[12 * 4];
    for (int d = 0, e = 0; d < 2; d++)          /* column-major: first index fastest */
        for (int c = 0; c < 3; c++)
            for (int a0 = 0; a0 < 2; a0++, e++) {
                uint32_t v = (uint32_t)(1000 * a0 + 10 * c + d);
                for (int b = 0; b < 4; b++) be[4 * e + b] = (unsigned char)(v >> (24 - 8 * b));
            }
    n = image(img, 2, "{'descr': '>i4', 'fortran_order': True, 'shape': (2, 1, 3, 2)}", be, 12);
    REQUIRE_OK(mn_array_parse(img, n, "g.npy", &a));
    CHECK(a.dtype == MN_ARRAY_I32 && a.ndim == 4 && !memcmp(a.shape, sh, sizeof sh), "shape");
    for (int a0 = 0, k = 0; a0 < 2; a0++)
        for (int c = 0; c < 3; c++)
            for (int d = 0; d < 2; d++, k++)
                CHECK(((int32_t *)a.data)[k] == 1000 * a0 + 10 * c + d, "element %d = %d", k,
                      ((int32_t *)a.data)[k]);
    mn_array_free(&a);
    /* Fortran order of rank 1, of a scalar and with a zero dimension: nothing to move */
    const float one = 2.5f;
    n = image(img, 1, "{'descr': '>f4', 'fortran_order': True, 'shape': ()}", "\x40\x20\x00\x00", 1);
    REQUIRE_OK(mn_array_parse(img, n, "s.npy", &a));
    CHECK(a.ndim == 0 && a.count == 1 && ((float *)a.data)[0] == one, "big-endian scalar");
    mn_array_free(&a);
    n = image(img, 3, "{'descr': '<f4', 'fortran_order': True, 'shape': (3, 0, 2)}", NULL, 0);
    REQUIRE_OK(mn_array_parse(img, n, "z.npy", &a));
    CHECK(a.count == 0 && a.ndim == 3, "zero-size Fortran array");
    mn_array_free(&a);
}

/* Header text numpy.load accepts (checked with numpy 1.24 through ast.literal_eval), each
 * read as float32 [2, 3] holding 0..5 in C order. */
TEST(npy_header_forms) {
    static const struct { int major; const char *h; } ok[] = {
        { 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }" },
        { 3, "{'shape': (2, 3), 'descr': '<f4', 'fortran_order': False}" },
        { 1, "{'descr': '<i4', 'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)}" },
        { 1, "{'descr':'<f4', # numpy.save never writes this\n'fortran_order':False,'shape':(2,3)}" },
        { 1, "\n\n{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)}  # \xe9\n" },
        { 3, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)} # \xe6\x95\xb0\n" },
        { 1, "  {'descr': '<f4',\r\n 'fortran_order': False,\r 'shape': (2, 3)}" },
        { 1, "{'descr': '<f4', \\\n'fortran_order': False, 'shape': (2, 3)}" },
        { 1, "({'descr': ('<f4'), 'fortran_order': (False), 'shape': ((2), 3)})" },
        { 1, "{'des' \"cr\": '<' 'f4', r'fortran_order': False, u'shape': (2, 3)}" },
        { 1, "{'''descr''': \"\"\"<f4\"\"\", 'fortran_order': False, 'shape': (2, 3)}" },
        { 1, "{'descr': '\\x3cf\\64', 'fortran_order': False, 'sh\\u0061pe': (2, 3)}" },
        { 1, "{'descr': '<\\\nf4', 'fortran_order': False, 'shape': (2, 3)}" },
        { 1, "{'descr': 'f4', 'fortran_order': False, 'shape': (0x2, 0o3)}" },
        { 1, "{'descr': '=f', 'fortran_order': False, 'shape': (0b10, +3)}" },
        { 1, "{'descr': 'float32', 'fortran_order': False, 'shape': (2, 3)}" },
        { 2, "{'descr': '|f4', 'fortran_order': False, 'shape': (2L, 3 L)}" },
        { 3, "{\"descr\": \"single\", \"fortran_order\": False, \"shape\": (2, 3,)}\n" },
    };
    const float v[6] = { 0, 1, 2, 3, 4, 5 };
    for (size_t c = 0; c < sizeof ok / sizeof ok[0]; c++) {
        mn_array a;
        size_t n = image(img, ok[c].major, ok[c].h, v, 6);
        mn_status s = mn_array_parse(img, n, "h.npy", &a);
        CHECK(s == MN_OK, "header %zu (v%d): %s", c, ok[c].major, mn_last_error());
        if (s) continue;
        CHECK(a.dtype == MN_ARRAY_F32 && a.ndim == 2 && a.shape[0] == 2 && a.shape[1] == 3 &&
              !memcmp(a.data, v, sizeof v), "header %zu: read as [%lld, %lld]", c,
              (long long)a.shape[0], (long long)a.shape[1]);
        mn_array_free(&a);
    }
}

/* What numpy.load refuses (checked the same way), refused here with MN_E_INPUT and one
 * message naming the file; text from the file appears escaped. */
TEST(npy_header_refusals) {
    static const struct { int major; const char *h, *part; } bad[] = {
        { 3, "{'descr': '<f4', 'fortran_order': False, 'shape': (2L, 3)}", "a number" },
        { 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2LL, 3)}", "a number" },
        { 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2l, 3)}", "a number" },
        { 1, "\n {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)}", "unexpected indent" },
        { 1, "{'descr': '<f4',\v'fortran_order': False, 'shape': (2, 3)}", "\\x0b" },
        { 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (0_2, 3)}", "leading zeros" },
        { 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2__0, 3)}", "'_'" },
        { 1, "{'descr': b'<f4', 'fortran_order': False, 'shape': (2, 3)}", "bytes literal" },
        { 1, "{'descr': f'<f4', 'fortran_order': False, 'shape': (2, 3)}", "a Python literal" },
        { 1, "{'descr': '\\N{LESS-THAN SIGN}f4', 'fortran_order': False, 'shape': (2, 3)}",
          "named escape" },
        { 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (- -2, 3)}", "after the sign" },
        { 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 0 + 3)}", "',' or ')'" },
        { 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)};", "only spaces" },
        { 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)},", "only spaces" },
        { 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3),,}", "a value" },
        { 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)} \\\n", "backslash" },
        { 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)", "',' or '}'" },
        { 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), '\x1b[2J': 1}",
          "unknown key '\\x1b[2J'" },
        { 1, "{'descr': '<f4\x1b]0;owned\x07', 'fortran_order': False, 'shape': (2, 3)}",
          "dtype '<f4\\x1b]0;owned\\x07' is not supported" },
        { 3, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)} # \xc0\xaf",
          "UTF-8" },
        { 3, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)} # \xed\xa0\x80",
          "UTF-8" },
        { 1, "{'descr': '\xe9', 'fortran_order': False, 'shape': (2, 3)}", "dtype '\\xe9'" },
    };
    const float v[6] = { 0 };
    for (size_t c = 0; c < sizeof bad / sizeof bad[0]; c++) {
        mn_array a;
        memset(&a, 0x55, sizeof a);
        size_t n = image(img, bad[c].major, bad[c].h, v, 6);
        mn_status s = mn_array_parse(img, n, "r.npy", &a);
        const char *m = mn_last_error();
        int raw = 0;   /* a control byte or a byte >= 0x80 printed as it is */
        for (const unsigned char *q = (const unsigned char *)m; *q; q++)
            raw |= *q < 0x20 || *q >= 0x7f;
        CHECK(s == MN_E_INPUT && !a.data && strstr(m, bad[c].part) && strstr(m, "r.npy") && !raw,
              "header %zu: status %d, message \"%s\" (wanted \"%s\", printable)", c, (int)s, m,
              bad[c].part);
        if (s == MN_OK) mn_array_free(&a);
    }
    /* a NUL byte, and nesting deeper than Python's parser takes */
    static const char nul[] = "{'descr': '<f4',\0'fortran_order': False, 'shape': (2, 3)}";
    char h[600];
    memcpy(h, nul, sizeof nul);
    size_t hl = sizeof nul - 1, n = 0;
    memcpy(img, "\x93NUMPY\x01\x00", 8);
    img[8] = (unsigned char)hl;
    img[9] = 0;
    memcpy(img + 10, h, hl);
    memcpy(img + 10 + hl, v, sizeof v);
    mn_array a;
    CHECK(mn_array_parse(img, 10 + hl + sizeof v, "nul.npy", &a) == MN_E_INPUT &&
          strstr(mn_last_error(), "NUL"), "NUL byte: %s", mn_last_error());
    n = (size_t)snprintf(h, sizeof h, "{'descr': '<f4', 'fortran_order': False, 'shape': ");
    for (int i = 0; i < 201; i++) h[n++] = '(';
    h[n++] = '2';
    for (int i = 0; i < 201; i++) h[n++] = ')';
    snprintf(h + n, sizeof h - n, "}");
    n = image(img, 1, h, v, 2);
    CHECK(mn_array_parse(img, n, "deep.npy", &a) == MN_E_INPUT &&
          strstr(mn_last_error(), "deep"), "nesting: %s", mn_last_error());
}
