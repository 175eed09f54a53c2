/* Strict JSON (RFC 8259) reader and a growable string writer.
 *
 * The reader exists to parse untrusted safetensors headers, so it refuses rather than
 * guesses: no trailing commas, comments, NaN, leading zeros, BOM, trailing garbage,
 * control characters or invalid UTF-8 in strings, lone surrogates, or \u0000 (our strings
 * are NUL-terminated and an embedded NUL would silently truncate a name). Object keys must
 * be unique: RFC 8259 only says "SHOULD", but a header whose meaning depends on which
 * duplicate wins is not one we want to load. Nesting is capped at MN_JSON_MAX_DEPTH so the
 * recursive descent cannot exhaust the stack. Every allocation goes through mn_alloc. */
#include "json.h"

#include <limits.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const unsigned char *start, *p, *end;
} parser;

/* Records an error at the parser's position, as line and column a person can find. */
__attribute__((format(printf, 2, 3)))
static mn_status perr(const parser *ps, const char *fmt, ...) {
    int line = 1, col = 1;
    for (const unsigned char *q = ps->start; q < ps->p; q++) {
        if (*q == '\n') { line++; col = 1; } else col++;
    }
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return mn_fail(MN_E_INPUT, "invalid JSON at line %d, column %d: %s", line, col, what);
}

/* Describes the character at p for an error message: 'x' or byte 0xNN. */
static const char *describe(const parser *ps, char buf[16]) {
    if (ps->p >= ps->end) return "end of input";
    unsigned c = *ps->p;
    if (c >= 0x20 && c < 0x7f) snprintf(buf, 16, "'%c'", (char)c);
    else snprintf(buf, 16, "byte 0x%02x", c);
    return buf;
}

/* Grows an array to hold `need` elements of `elem` bytes (doubling, tracked memory). */
static int grow(void **buf, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return 1;
    size_t nc = *cap ? *cap * 2 : 4, bytes;
    while (nc < need) nc *= 2;
    if (!mn_mul_size(nc, elem, &bytes)) return 0;
    void *nb = mn_alloc(bytes);
    if (!nb) return 0;
    if (*buf) memcpy(nb, *buf, *cap * elem);
    mn_release(*buf);
    *buf = nb;
    *cap = nc;
    return 1;
}

static void free_value(mn_json *v) {
    for (int i = 0; i < v->count; i++) {
        if (v->items) free_value(&v->items[i]);
        if (v->keys) mn_release(v->keys[i]);
    }
    mn_release(v->items);
    mn_release(v->keys);
    mn_release(v->string);
    memset(v, 0, sizeof *v);
}

void mn_json_free(mn_json *j) {
    if (!j) return;
    free_value(j);
    mn_release(j);
}

static void skip_ws(parser *ps) {
    while (ps->p < ps->end &&
           (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
        ps->p++;
}

static mn_status parse_value(parser *ps, mn_json *v, int depth);

/* ------------------------------------------------------------------- strings */

static int hex4(const unsigned char *p, unsigned *out) {
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned c = p[i], d;
        if (c >= '0' && c <= '9') d = c - '0';
        else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
        else return 0;
        v = v * 16 + d;
    }
    *out = v;
    return 1;
}

static size_t put_utf8(unsigned char *o, unsigned cp) {
    if (cp < 0x80) { o[0] = (unsigned char)cp; return 1; }
    if (cp < 0x800) {
        o[0] = (unsigned char)(0xC0 | (cp >> 6));
        o[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (unsigned char)(0xE0 | (cp >> 12));
        o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (unsigned char)(0xF0 | (cp >> 18));
    o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Length of the valid UTF-8 sequence at p (shortest form, no surrogates, <= U+10FFFF),
 * or 0 when it is not one. */
static size_t utf8_len(const unsigned char *p, const unsigned char *end) {
    unsigned c = p[0];
    size_t n;
    unsigned lo = 0x80, hi = 0xBF;   /* allowed range of the second byte */
    if (c >= 0xC2 && c <= 0xDF) n = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0) lo = 0xA0;       /* overlong */
        if (c == 0xED) hi = 0x9F;       /* UTF-16 surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0) lo = 0x90;       /* overlong */
        if (c == 0xF4) hi = 0x8F;       /* above U+10FFFF */
    } else return 0;
    if ((size_t)(end - p) < n) return 0;
    if (p[1] < lo || p[1] > hi) return 0;
    for (size_t i = 2; i < n; i++)
        if ((p[i] & 0xC0) != 0x80) return 0;
    return n;
}

/* ps->p is at the opening quote. The decoded text is never longer than the raw text
 * (every escape shrinks or keeps its size), so one allocation of the raw length is enough. */
static mn_status parse_string(parser *ps, char **out) {
    const unsigned char *q = ps->p + 1;
    while (q < ps->end && *q != '"') {
        if (*q == '\\' && ps->end - q < 2) { q = ps->end; break; }
        q += (*q == '\\') ? 2 : 1;
    }
    if (q >= ps->end) return perr(ps, "unterminated string (no closing '\"')");
    size_t raw = (size_t)(q - ps->p - 1);
    unsigned char *o = mn_alloc(raw + 1), *w = o;
    if (!o) return MN_E_NOMEM;
    ps->p++;
    while (*ps->p != '"') {
        unsigned c = *ps->p;
        if (c < 0x20) {
            mn_release(o);
            return perr(ps, "control character U+%04X in a string must be written as an "
                        "escape", c);
        }
        if (c >= 0x80) {
            size_t n = utf8_len(ps->p, q);
            if (!n) { mn_release(o); return perr(ps, "string is not valid UTF-8"); }
            memcpy(w, ps->p, n);
            w += n;
            ps->p += n;
            continue;
        }
        if (c != '\\') { *w++ = (unsigned char)c; ps->p++; continue; }
        unsigned e = ps->p[1];   /* exists: the scan above stopped at a real quote */
        static const char names[] = "\"\\/bfnrt", values[] = "\"\\/\b\f\n\r\t";
        const char *simple = e ? strchr(names, (int)e) : NULL;
        if (simple) {
            *w++ = (unsigned char)values[simple - names];
            ps->p += 2;
            continue;
        }
        if (e != 'u') {
            mn_release(o);
            char b[16];
            parser at = { ps->start, ps->p + 1, ps->end };
            return perr(ps, "invalid escape '\\' followed by %s (allowed: \\\" \\\\ \\/ "
                        "\\b \\f \\n \\r \\t \\uXXXX)", describe(&at, b));
        }
        unsigned cp, lo;
        if (q - ps->p < 6 || !hex4(ps->p + 2, &cp)) {
            mn_release(o);
            return perr(ps, "\\u must be followed by four hex digits");
        }
        if (cp == 0) {
            mn_release(o);
            return perr(ps, "\\u0000 (NUL) is not allowed in strings");
        }
        if (cp >= 0xDC00 && cp <= 0xDFFF) {
            mn_release(o);
            return perr(ps, "lone low surrogate \\u%04X in string", cp);
        }
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (q - ps->p < 12 || ps->p[6] != '\\' || ps->p[7] != 'u' ||
                !hex4(ps->p + 8, &lo) || lo < 0xDC00 || lo > 0xDFFF) {
                mn_release(o);
                return perr(ps, "high surrogate \\u%04X is not followed by a low surrogate",
                            cp);
            }
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            ps->p += 6;
        }
        ps->p += 6;
        w += put_utf8(w, cp);
    }
    ps->p++;
    *w = 0;
    *out = (char *)o;
    return MN_OK;
}

/* ------------------------------------------------------------------- numbers */

static int is_digit(const parser *ps) {
    return ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9';
}

static mn_status parse_number(parser *ps, mn_json *v) {
    const unsigned char *s = ps->p;
    int neg = 0, integral = 1;
    if (*ps->p == '-') { neg = 1; ps->p++; }
    if (!is_digit(ps)) return perr(ps, "expected a digit after '-'");
    if (*ps->p == '0') {
        ps->p++;
        if (is_digit(ps)) return perr(ps, "numbers must not have leading zeros");
    } else {
        while (is_digit(ps)) ps->p++;
    }
    const unsigned char *int_end = ps->p;
    if (ps->p < ps->end && *ps->p == '.') {
        integral = 0;
        ps->p++;
        if (!is_digit(ps)) return perr(ps, "expected a digit after the decimal point");
        while (is_digit(ps)) ps->p++;
    }
    if (ps->p < ps->end && (*ps->p == 'e' || *ps->p == 'E')) {
        integral = 0;
        ps->p++;
        if (ps->p < ps->end && (*ps->p == '+' || *ps->p == '-')) ps->p++;
        if (!is_digit(ps)) return perr(ps, "expected a digit in the exponent");
        while (is_digit(ps)) ps->p++;
    }
    v->type = MN_JSON_NUMBER;
    v->number_is_integer = integral;
    if (integral) {
        /* Exact integer: accumulate the magnitude, allowing -2^63 but not +2^63. */
        unsigned long long mag = 0, limit = neg ? (unsigned long long)LLONG_MAX + 1
                                                : (unsigned long long)LLONG_MAX;
        int fits = 1;
        for (const unsigned char *d = s + neg; d < int_end && fits; d++) {
            unsigned dig = *d - '0';
            if (mag > (limit - dig) / 10) fits = 0;
            else mag = mag * 10 + dig;
        }
        v->integer_exact = fits;
        if (fits) v->integer = neg ? (mag == 0 ? 0 : -(long long)(mag - 1) - 1)
                                   : (long long)mag;
    }
    /* strtod needs a NUL-terminated copy, and follows the locale's decimal point, so the
     * copy uses it in place of '.' (the host program may have called setlocale). */
    size_t n = (size_t)(ps->p - s);
    char small[64], *buf = small;
    if (n >= sizeof small && !(buf = mn_alloc(n + 1))) return MN_E_NOMEM;
    memcpy(buf, s, n);
    buf[n] = 0;
    const char *dp = localeconv()->decimal_point;
    char *dot = strchr(buf, '.');
    if (dot && dp && dp[0] && !dp[1]) *dot = dp[0];
    v->number = strtod(buf, NULL);
    if (buf != small) mn_release(buf);
    if (!isfinite(v->number)) {
        ps->p = s;
        return perr(ps, "number %.*s is too large for a double", (int)MN_MIN(n, 40),
                    (const char *)s);
    }
    return MN_OK;
}

/* ------------------------------------------------------------ arrays, objects */

static int cmp_key(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Rejects duplicate keys: sort a copy of the key pointers and compare neighbours. */
static mn_status check_unique(parser *ps, const mn_json *v) {
    if (v->count < 2) return MN_OK;
    char **k = mn_alloc((size_t)v->count * sizeof *k);
    if (!k) return MN_E_NOMEM;
    memcpy(k, v->keys, (size_t)v->count * sizeof *k);
    qsort(k, (size_t)v->count, sizeof *k, cmp_key);
    mn_status s = MN_OK;
    char shown[MN_ESCAPE_CAP];   /* a key may hold any character (\u0001): escape it */
    for (int i = 1; i < v->count && s == MN_OK; i++)
        if (!strcmp(k[i - 1], k[i]))
            s = perr(ps, "duplicate key \"%s\" in the object that ends here",
                     mn_escape(shown, sizeof shown, k[i]));
    mn_release(k);
    return s;
}

/* Parses an array (object when is_obj) whose opening bracket is at ps->p. */
static mn_status parse_container(parser *ps, mn_json *v, int depth, int is_obj) {
    char close = is_obj ? '}' : ']';
    if (depth > MN_JSON_MAX_DEPTH)
        return perr(ps, "nesting deeper than %d levels", MN_JSON_MAX_DEPTH);
    v->type = is_obj ? MN_JSON_OBJECT : MN_JSON_ARRAY;
    ps->p++;
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == close) { ps->p++; return MN_OK; }
    size_t cap = 0, kcap = 0;
    char b[16];
    for (;;) {
        skip_ws(ps);
        if (v->count == INT_MAX) return perr(ps, "too many items");
        if (!grow((void **)&v->items, &cap, (size_t)v->count + 1, sizeof *v->items))
            return MN_E_NOMEM;
        if (is_obj) {
            if (!grow((void **)&v->keys, &kcap, (size_t)v->count + 1, sizeof *v->keys))
                return MN_E_NOMEM;
            if (ps->p >= ps->end || *ps->p != '"')
                return perr(ps, "expected a string key, found %s%s", describe(ps, b),
                            ps->p < ps->end && *ps->p == '}' ? " (trailing comma?)" : "");
            char *key = NULL;
            mn_status s = parse_string(ps, &key);
            if (s) return s;
            skip_ws(ps);
            if (ps->p >= ps->end || *ps->p != ':') {
                mn_release(key);
                return perr(ps, "expected ':' after key, found %s", describe(ps, b));
            }
            ps->p++;
            v->keys[v->count] = key;
        }
        /* Count the slot before parsing so a failure inside it is freed with the parent. */
        memset(&v->items[v->count], 0, sizeof *v->items);
        v->count++;
        skip_ws(ps);
        if (!is_obj && ps->p < ps->end && *ps->p == ']')
            return perr(ps, "expected a value, found ']' (trailing comma?)");
        mn_status s = parse_value(ps, &v->items[v->count - 1], depth);
        if (s) return s;
        skip_ws(ps);
        if (ps->p < ps->end && *ps->p == ',') { ps->p++; continue; }
        if (ps->p < ps->end && *ps->p == close) { ps->p++; break; }
        return perr(ps, "expected ',' or '%c', found %s", close, describe(ps, b));
    }
    return is_obj ? check_unique(ps, v) : MN_OK;
}

static mn_status parse_literal(parser *ps, const char *word) {
    size_t n = strlen(word);
    if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n))
        return perr(ps, "unknown literal (expected %s)", word);
    ps->p += n;
    return MN_OK;
}

static mn_status parse_value(parser *ps, mn_json *v, int depth) {
    char b[16];
    skip_ws(ps);
    if (ps->p >= ps->end) return perr(ps, "unexpected end of input, expected a value");
    switch (*ps->p) {
    case '{': return parse_container(ps, v, depth + 1, 1);
    case '[': return parse_container(ps, v, depth + 1, 0);
    case '"': v->type = MN_JSON_STRING; return parse_string(ps, &v->string);
    case 't': v->type = MN_JSON_BOOL; v->boolean = 1; return parse_literal(ps, "true");
    case 'f': v->type = MN_JSON_BOOL; return parse_literal(ps, "false");
    case 'n': v->type = MN_JSON_NULL; return parse_literal(ps, "null");
    default:
        if (*ps->p == '-' || (*ps->p >= '0' && *ps->p <= '9')) return parse_number(ps, v);
        return perr(ps, "expected a value, found %s", describe(ps, b));
    }
}

mn_status mn_json_parse(const char *text, size_t len, mn_json **out) {
    *out = NULL;
    if (!text && len) return mn_fail(MN_E_ARG, "mn_json_parse: text is NULL");
    const unsigned char *s = (const unsigned char *)(text ? text : "");
    parser ps = { s, s, s + len };
    mn_json *root = mn_alloc_zero(sizeof *root);
    if (!root) return MN_E_NOMEM;
    mn_status st = parse_value(&ps, root, 0);
    if (st == MN_OK) {
        skip_ws(&ps);
        char b[16];
        if (ps.p < ps.end) st = perr(&ps, "unexpected %s after the end of the JSON value",
                                     describe(&ps, b));
    }
    if (st) { mn_json_free(root); return st; }
    *out = root;
    return MN_OK;
}

const mn_json *mn_json_get(const mn_json *obj, const char *key) {
    if (!obj || obj->type != MN_JSON_OBJECT || !key) return NULL;
    for (int i = 0; i < obj->count; i++)
        if (!strcmp(obj->keys[i], key)) return &obj->items[i];
    return NULL;
}

/* ------------------------------------------------------------------ strbuf */

/* Makes room for `extra` more bytes plus the terminating NUL. */
static int sb_room(mn_strbuf *sb, size_t extra) {
    if (sb->failed) return 0;
    if (extra > SIZE_MAX / 4 - sb->len) {
        sb->failed = 1;
        mn_fail(MN_E_NOMEM, "string too long");
        return 0;
    }
    size_t need = sb->len + extra + 1;
    if (need <= sb->cap) return 1;
    size_t nc = sb->cap ? sb->cap : 64;
    while (nc < need) nc *= 2;
    char *nd = mn_alloc(nc);
    if (!nd) { sb->failed = 1; return 0; }
    if (sb->data) memcpy(nd, sb->data, sb->len + 1);
    else nd[0] = 0;
    mn_release(sb->data);
    sb->data = nd;
    sb->cap = nc;
    return 1;
}

void mn_sb_printf(mn_strbuf *sb, const char *fmt, ...) {
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 && !sb->failed) {
        sb->failed = 1;
        mn_fail(MN_E_ARG, "cannot format text with \"%s\"", fmt);
    }
    if (n >= 0 && sb_room(sb, (size_t)n)) {
        vsnprintf(sb->data + sb->len, (size_t)n + 1, fmt, ap2);
        sb->len += (size_t)n;
    }
    va_end(ap2);
}

void mn_sb_json_string(mn_strbuf *sb, const char *s) {
    if (!s) { mn_sb_printf(sb, "null"); return; }
    /* Worst case every byte becomes \u00XX: 6 bytes, plus the quotes. */
    size_t n = strlen(s);
    if (n > SIZE_MAX / 8 || !sb_room(sb, 6 * n + 2)) {
        if (!sb->failed) { sb->failed = 1; mn_fail(MN_E_NOMEM, "string too long"); }
        return;
    }
    char *w = sb->data + sb->len;
    *w++ = '"';
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        unsigned c = *p;
        const char *esc = NULL;
        switch (c) {
        case '"': esc = "\\\""; break;
        case '\\': esc = "\\\\"; break;
        case '\b': esc = "\\b"; break;
        case '\f': esc = "\\f"; break;
        case '\n': esc = "\\n"; break;
        case '\r': esc = "\\r"; break;
        case '\t': esc = "\\t"; break;
        default: break;
        }
        if (esc) { memcpy(w, esc, 2); w += 2; }
        else if (c < 0x20) { snprintf(w, 7, "\\u%04x", c); w += 6; }
        else *w++ = (char)c;
    }
    *w++ = '"';
    *w = 0;
    sb->len = (size_t)(w - sb->data);
}

void mn_sb_free(mn_strbuf *sb) {
    mn_release(sb->data);
    memset(sb, 0, sizeof *sb);
}
