/* Text read from files, made safe to print.
 *
 * Every message that quotes a file's own text (a tensor name, a metadata value, a piece of
 * a .npy header) goes through mn_escape: a name holding ESC [2J or a bidi override would
 * otherwise act on the terminal that shows the message, and one of 10 MB would push the
 * rest of the message out of the error buffer. Printable ASCII and well-formed UTF-8 pass
 * as they are, so "层.weight" reads as itself; everything else becomes \xNN, one per byte. */
#include "core.h"

#include <string.h>

size_t mn_utf8_len(const unsigned char *p, size_t avail) {
    if (!avail) return 0;
    unsigned c = p[0];
    if (c < 0x80) return 1;
    size_t n;
    unsigned lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) n = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0) lo = 0xA0;            /* overlong */
        if (c == 0xED) hi = 0x9F;            /* UTF-16 surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0) lo = 0x90;            /* overlong */
        if (c == 0xF4) hi = 0x8F;            /* past U+10FFFF */
    } else
        return 0;
    if (avail < n || p[1] < lo || p[1] > hi) return 0;
    for (size_t i = 2; i < n; i++)
        if (p[i] < 0x80 || p[i] > 0xBF) return 0;
    return n;
}

/* Code points that are valid but act on a terminal or reorder the text around them:
 * C1 controls (U+0080..U+009F, ESC's 8-bit twins), the bidi marks, embeddings, overrides
 * and isolates (U+061C, U+200E/F, U+202A..U+202E, U+2066..U+2069) and the line and
 * paragraph separators (U+2028/9). */
static int unsafe_code_point(const unsigned char *p, size_t n) {
    unsigned cp = n == 2 ? ((p[0] & 0x1Fu) << 6) | (p[1] & 0x3Fu)
                : n == 3 ? ((p[0] & 0x0Fu) << 12) | ((p[1] & 0x3Fu) << 6) | (p[2] & 0x3Fu)
                         : 0x10000u;
    return (cp >= 0x80 && cp <= 0x9F) || cp == 0x61C || cp == 0x200E || cp == 0x200F ||
           (cp >= 0x2028 && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069);
}

/* The escaped form of the character at p[0..avail): written to piece (16 bytes), its
 * length returned; *used gets how many input bytes it stands for. */
static size_t piece_at(const unsigned char *p, size_t avail, char *piece, size_t *used) {
    static const char hex[] = "0123456789abcdef";
    size_t u = mn_utf8_len(p, avail), pn = 0;
    if (u == 1 && p[0] >= 0x20 && p[0] < 0x7F) {
        if (p[0] == '\\') piece[pn++] = '\\';
        piece[pn++] = (char)p[0];
        *used = 1;
    } else if (u > 1 && !unsafe_code_point(p, u)) {
        memcpy(piece, p, u);
        pn = *used = u;
    } else {
        /* a control byte, a byte of broken UTF-8, or every byte of an unsafe code point */
        *used = u ? u : 1;
        for (size_t k = 0; k < *used; k++) {
            piece[pn++] = '\\';
            piece[pn++] = 'x';
            piece[pn++] = hex[p[k] >> 4];
            piece[pn++] = hex[p[k] & 15];
        }
    }
    return pn;
}

char *mn_escape_n(char *buf, size_t cap, const char *s, size_t len) {
    static const char more[] = "...";
    if (!buf || !cap) return buf;
    buf[0] = 0;
    if (!s) return buf;
    const unsigned char *p = (const unsigned char *)s;
    char piece[16];
    size_t used, total = 0;
    /* Does all of it fit? If not, keep room for "..." so that the cut is visible. */
    for (size_t i = 0; i < len && total < cap; i += used)
        total += piece_at(p + i, len - i, piece, &used);
    size_t room = total < cap ? cap - 1 : cap > sizeof more ? cap - sizeof more : 0;
    size_t o = 0;
    for (size_t i = 0; i < len; i += used) {
        size_t pn = piece_at(p + i, len - i, piece, &used);
        if (o + pn > room) {
            if (o + sizeof more <= cap) {
                memcpy(buf + o, more, sizeof more - 1);
                o += sizeof more - 1;
            }
            break;
        }
        memcpy(buf + o, piece, pn);
        o += pn;
    }
    buf[o] = 0;
    return buf;
}

char *mn_escape(char *buf, size_t cap, const char *s) {
    return mn_escape_n(buf, cap, s, s ? strlen(s) : 0);
}
