/* The byte-level BPE pre-tokenizer and GPT-2's byte <-> character table. The exact rule
 * is written out in bpe.h; tools/bpe_ref.py implements the same one, and the tests compare
 * the two on a corpus with non-ASCII text and invalid UTF-8. */
#include "bpe.h"

/* Non-ASCII code points of the class "space" and "other" (everything else from U+0080 up
 * is a letter): sorted, inclusive ranges. */
static const uint32_t space_ranges[][2] = {
    {0x85, 0x85},     {0xA0, 0xA0},     {0x1680, 0x1680}, {0x2000, 0x200A},
    {0x2028, 0x2029}, {0x202F, 0x202F}, {0x205F, 0x205F}, {0x3000, 0x3000},
};
static const uint32_t other_ranges[][2] = {
    {0x80, 0x9F},       {0xA1, 0xBF},     {0xD7, 0xD7},     {0xF7, 0xF7},
    {0x2010, 0x2027},   {0x2030, 0x205E}, {0x2060, 0x206F}, {0x20A0, 0x20CF},
    {0x2100, 0x2BFF},   {0x3001, 0x3003}, {0x3008, 0x3011}, {0xFE10, 0xFE1F},
    {0xFE30, 0xFE4F},   {0xFF01, 0xFF0F}, {0xFF1A, 0xFF20}, {0x1F000, 0x1FAFF},
};

static int in_ranges(uint32_t cp, const uint32_t (*r)[2], int n) {
    for (int i = 0; i < n && cp >= r[i][0]; i++)
        if (cp <= r[i][1]) return 1;
    return 0;
}

/* ASCII classes, filled on first use (a table beats a chain of comparisons per byte). */
static unsigned char ascii_class[128];
static int ascii_ready;

static void ascii_init(void) {
    for (int c = 0; c < 128; c++) {
        int k = MN_BPE_OTHER;
        if ((c >= 0x09 && c <= 0x0D) || c == 0x20) k = MN_BPE_SPACE;
        else if (c >= '0' && c <= '9') k = MN_BPE_DIGIT;
        else if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')) k = MN_BPE_LETTER;
        ascii_class[c] = (unsigned char)k;
    }
    ascii_ready = 1;   /* idempotent: concurrent first calls write the same bytes */
}

size_t mn_bpe_unit(const unsigned char *s, size_t n, int *cls) {
    if (!ascii_ready) ascii_init();
    if (s[0] < 0x80) {
        *cls = ascii_class[s[0]];
        return 1;
    }
    size_t u = mn_utf8_len(s, n);
    if (!u) {                 /* a byte that starts no well-formed sequence */
        *cls = MN_BPE_OTHER;
        return 1;
    }
    uint32_t cp = u == 2 ? ((s[0] & 0x1Fu) << 6) | (s[1] & 0x3Fu)
                : u == 3 ? ((s[0] & 0x0Fu) << 12) | ((s[1] & 0x3Fu) << 6) | (s[2] & 0x3Fu)
                         : ((s[0] & 0x07u) << 18) | ((s[1] & 0x3Fu) << 12) |
                               ((s[2] & 0x3Fu) << 6) | (s[3] & 0x3Fu);
    const int ns = (int)(sizeof space_ranges / sizeof space_ranges[0]);
    const int no = (int)(sizeof other_ranges / sizeof other_ranges[0]);
    if (in_ranges(cp, space_ranges, ns)) *cls = MN_BPE_SPACE;
    else if (in_ranges(cp, other_ranges, no)) *cls = MN_BPE_OTHER;
    else *cls = MN_BPE_LETTER;
    return u;
}

/* The end of the run of class cls that starts at s[0]. */
static size_t run_end(const unsigned char *s, size_t n, int cls) {
    size_t i = 0;
    while (i < n) {
        int c;
        size_t u = mn_bpe_unit(s + i, n - i, &c);
        if (c != cls) break;
        i += u;
    }
    return i;
}

size_t mn_bpe_piece(const unsigned char *s, size_t n) {
    int cls;
    size_t u = mn_bpe_unit(s, n, &cls);
    if (cls != MN_BPE_SPACE) return run_end(s, n, cls);
    if (s[0] == ' ' && n > 1) {   /* " word": one space leads the next run */
        int c2;
        mn_bpe_unit(s + 1, n - 1, &c2);
        if (c2 != MN_BPE_SPACE) return 1 + run_end(s + 1, n - 1, c2);
    }
    /* a run of spaces; its last unit goes to the next piece when it is 0x20 before a
     * non-space (the run is at least two units then, or the branch above took it) */
    size_t i = u, last = 0;
    while (i < n) {
        int c;
        size_t v = mn_bpe_unit(s + i, n - i, &c);
        if (c != MN_BPE_SPACE) return last > 0 && s[last] == ' ' && last + 1 == i ? last : i;
        last = i;
        i += v;
    }
    return i;
}

unsigned mn_bpe_byte_char(unsigned char b) {
    if ((b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE) return b;
    /* the others in byte order from U+0100: 0x00-0x20 (33), 0x7F-0xA0 (34), 0xAD */
    if (b <= 0x20) return 0x100u + b;
    if (b <= 0xA0) return 0x100u + 33 + (b - 0x7Fu);
    return 0x100u + 67;
}

int mn_bpe_char_byte(unsigned cp) {
    if ((cp >= 0x21 && cp <= 0x7E) || (cp >= 0xA1 && cp <= 0xAC) || (cp >= 0xAE && cp <= 0xFF))
        return (int)cp;
    if (cp < 0x100 || cp > 0x100 + 67) return -1;
    unsigned k = cp - 0x100;
    if (k <= 32) return (int)k;
    if (k <= 66) return (int)(0x7F + (k - 33));
    return 0xAD;
}
