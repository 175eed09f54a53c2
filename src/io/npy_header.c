/* The .npy header: the text of a Python dict literal,
 *     {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
 * which numpy reads with ast.literal_eval (numpy/lib/format.py, _read_array_header).
 *
 * So the header may be any Python literal expression that evaluates to a dict with exactly
 * the keys descr, fortran_order and shape: keys in any order (a repeated key: the last one
 * wins), either quote, triple quotes, r/u prefixes, escapes, adjacent strings joined,
 * parentheses around any value, comments, newlines and backslash continuations, hex, octal,
 * binary and underscored integers, a unary sign, Python 2's 'L' suffix in format 1.0 and
 * 2.0 (numpy filters it out there), Latin-1 text in 1.0 and 2.0 and UTF-8 in 3.0. This
 * file evaluates that much of Python's literal grammar and nothing else: no names but
 * True, False and None, no calls, no operators but a sign on a number. It never executes
 * anything; nesting is capped as Python's parser caps it.
 *
 * The values are then checked as numpy checks them: descr a dtype string, fortran_order a
 * bool, shape a tuple of ints (not bools). mnemo reads the dtypes float32 and int32 in
 * either byte order: '<f4', '>f4', '=f4', '|f4', 'f4', 'f', 'float32', 'single' and the
 * same for 'i4' ('i', 'int32', 'intc'). numpy's dtype() also takes odd spellings such as
 * '1f4' or 'f 4' (a repeat count, inner blanks); those are refused with the dtype named. */
#include "npy.h"

#include <stdio.h>
#include <string.h>

#define MAX_DEPTH 200       /* Python refuses more nested brackets than this */
#define STR_CAP 40          /* longer strings are no key or dtype we know */

typedef enum { V_STR, V_BYTES, V_INT, V_FLOAT, V_BOOL, V_NONE, V_TUPLE, V_LIST, V_DICT,
               V_SET } vkind;

enum { DIM_OK, DIM_NEGATIVE, DIM_BIG, DIM_NOT_INT, DIM_BOOL };

typedef struct {
    vkind kind;
    int number;                /* a number literal, maybe in parentheses: a sign may apply */
    char s[STR_CAP];           /* V_STR, V_BYTES: decoded text, cut at STR_CAP - 1 bytes */
    size_t slen;
    int scut;
    uint64_t mag;              /* V_INT: magnitude (saturated), sign, > INT64_MAX */
    int neg, big;
    int b;                     /* V_BOOL */
    int n;                     /* V_TUPLE, V_LIST: element count */
    int64_t dims[MN_ARRAY_MAX_DIMS];
    unsigned char flag[MN_ARRAY_MAX_DIMS];
} value;

/* What the top-level dict holds: the last value given for each key. */
typedef struct {
    value v[3];
    int seen[3];
    char unknown[MN_ESCAPE_CAP];   /* the first other key, escaped; "" when none */
} fields;

static const char *const keys[3] = { "descr", "fortran_order", "shape" };

typedef struct {
    const char *label;
    const unsigned char *p, *end, *start;
    int major;                 /* 1, 2: Latin-1 text and Python 2's 'L'; 3: UTF-8 */
    int depth;
} cursor;

static mn_status syntax(const cursor *c, const char *expected) {
    char near[MN_ESCAPE_CAP];
    size_t left = (size_t)(c->end - c->p);
    if (left) mn_escape_n(near, sizeof near, (const char *)c->p, left < 24 ? left : 24);
    return mn_fail(MN_E_INPUT, "%s: header is not the dict that numpy.save writes: expected "
                   "%s at header byte %ld, found %s%s%s; save the array with numpy.save",
                   c->label, expected, (long)(c->p - c->start), left ? "\"" : "",
                   left ? near : "the end of the header", left ? "\"" : "");
}

static int ident_char(unsigned ch) {
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '_' || ch >= 0x80;
}

static int at(const cursor *c, size_t k, char ch) {
    return (size_t)(c->end - c->p) > k && c->p[k] == (unsigned char)ch;
}

/* Blanks, newlines, comments and backslash continuations: what Python's tokenizer skips
 * between tokens inside brackets. (A vertical tab is not among them.) */
static void skip_ws(cursor *c) {
    while (c->p < c->end) {
        unsigned ch = *c->p;
        if (ch == ' ' || ch == '\t' || ch == '\f' || ch == '\n' || ch == '\r') c->p++;
        else if (ch == '#')
            while (c->p < c->end && *c->p != '\n' && *c->p != '\r') c->p++;
        else if (ch == '\\' && (at(c, 1, '\n') || at(c, 1, '\r'))) {
            c->p += 2;
            if (c->p[-1] == '\r' && at(c, 0, '\n')) c->p++;
        } else
            break;
    }
}

/* ------------------------------------------------------------------ strings */

static void put(value *v, unsigned cp) {
    unsigned char b[4];
    size_t n;
    if (cp < 0x80) b[0] = (unsigned char)cp, n = 1;
    else if (cp < 0x800) b[0] = (unsigned char)(0xC0 | cp >> 6), b[1] = (unsigned char)(0x80 | (cp & 63)), n = 2;
    else if (cp < 0x10000)
        b[0] = (unsigned char)(0xE0 | cp >> 12), b[1] = (unsigned char)(0x80 | ((cp >> 6) & 63)),
        b[2] = (unsigned char)(0x80 | (cp & 63)), n = 3;
    else
        b[0] = (unsigned char)(0xF0 | cp >> 18), b[1] = (unsigned char)(0x80 | ((cp >> 12) & 63)),
        b[2] = (unsigned char)(0x80 | ((cp >> 6) & 63)), b[3] = (unsigned char)(0x80 | (cp & 63)), n = 4;
    if (v->slen + n >= STR_CAP) { v->scut = 1; return; }
    memcpy(v->s + v->slen, b, n);
    v->slen += n;
}

static void put_raw(value *v, unsigned char ch) {
    if (v->slen + 1 >= STR_CAP) { v->scut = 1; return; }
    v->s[v->slen++] = (char)ch;
}

static int hex_digit(unsigned ch) {
    return ch >= '0' && ch <= '9' ? (int)(ch - '0') : ch >= 'a' && ch <= 'f' ? (int)(ch - 'a' + 10)
         : ch >= 'A' && ch <= 'F' ? (int)(ch - 'A' + 10) : -1;
}

/* One escape sequence after a backslash (the cursor is on the character after it). */
static mn_status escape(cursor *c, value *v, int bytes) {
    unsigned ch = *c->p++;
    switch (ch) {
    case '\n': return MN_OK;                              /* a continuation line */
    case '\r': if (at(c, 0, '\n')) c->p++; return MN_OK;
    case '\\': case '\'': case '"': put(v, ch); return MN_OK;
    case 'a': put(v, 7); return MN_OK;
    case 'b': put(v, 8); return MN_OK;
    case 'f': put(v, 12); return MN_OK;
    case 'n': put(v, 10); return MN_OK;
    case 'r': put(v, 13); return MN_OK;
    case 't': put(v, 9); return MN_OK;
    case 'v': put(v, 11); return MN_OK;
    default: break;
    }
    if (ch >= '0' && ch <= '7') {
        unsigned x = ch - '0';
        for (int k = 0; k < 2 && c->p < c->end && *c->p >= '0' && *c->p <= '7'; k++)
            x = x * 8 + (unsigned)(*c->p++ - '0');
        put(v, bytes ? (x & 0xFF) : x);
        return MN_OK;
    }
    int digits = ch == 'x' ? 2 : !bytes && ch == 'u' ? 4 : !bytes && ch == 'U' ? 8 : 0;
    if (digits) {
        unsigned long x = 0;
        for (int k = 0; k < digits; k++) {
            int d = c->p < c->end ? hex_digit(*c->p) : -1;
            if (d < 0) return syntax(c, "hexadecimal digits in the escape");
            x = x * 16 + (unsigned long)d;
            c->p++;
        }
        if (x > 0x10FFFF) return syntax(c, "an escape up to \\U0010ffff");
        put(v, (unsigned)x);
        return MN_OK;
    }
    if (ch == 'N' && !bytes)
        return mn_fail(MN_E_INPUT, "%s: header uses a named escape \\N{...}, which mnemo does "
                       "not decode; save the array with numpy.save", c->label);
    put(v, '\\');                                          /* unknown: kept as written */
    put(v, ch);
    return MN_OK;
}

/* One literal: prefix, quotes, body. Returns whether it was bytes in *bytes. */
static mn_status string_one(cursor *c, value *v, int *bytes) {
    int raw = 0;
    *bytes = 0;
    while (*c->p != '\'' && *c->p != '"') {
        unsigned ch = *c->p++ | 0x20;
        if (ch == 'r') raw = 1;
        else if (ch == 'b') *bytes = 1;
    }
    unsigned char q = *c->p;
    int triple = at(c, 1, (char)q) && at(c, 2, (char)q);
    c->p += triple ? 3 : 1;
    for (;;) {
        if (c->p >= c->end) return syntax(c, "the string's closing quote");
        unsigned ch = *c->p;
        if (ch == q && (!triple || (at(c, 1, (char)q) && at(c, 2, (char)q)))) {
            c->p += triple ? 3 : 1;
            return MN_OK;
        }
        if (!triple && (ch == '\n' || ch == '\r')) return syntax(c, "the string's closing quote");
        if (*bytes && ch >= 0x80) return syntax(c, "ASCII characters in a bytes literal");
        c->p++;
        if (ch != '\\') { put_raw(v, (unsigned char)ch); continue; }
        if (c->p >= c->end) return syntax(c, "the string's closing quote");
        if (raw) {                  /* a raw string keeps the backslash and what follows */
            put_raw(v, '\\');
            put_raw(v, *c->p++);
            continue;
        }
        mn_status s = escape(c, v, *bytes);
        if (s) return s;
    }
}

/* A string prefix (r, u, b, br, rb in any case) followed by a quote? */
static size_t string_start(const cursor *c) {
    size_t k = 0;
    int r = 0, u = 0, b = 0;
    while (c->p + k < c->end && k < 3) {
        unsigned ch = c->p[k];
        if (ch == '\'' || ch == '"') return (u && (r || b)) ? 0 : k + 1;
        ch |= 0x20;
        if (ch == 'r' && !r) r = 1;
        else if (ch == 'u' && !u) u = 1;
        else if (ch == 'b' && !b) b = 1;
        else return 0;
        k++;
    }
    return 0;
}

/* Adjacent literals are one string, as in Python; str and bytes do not mix. */
static mn_status strings(cursor *c, value *v) {
    int first = 1, bytes;
    do {
        mn_status s = string_one(c, v, &bytes);
        if (s) return s;
        if (!first && (v->kind == V_BYTES) != bytes)
            return syntax(c, "no bytes literal next to a str literal");
        v->kind = bytes ? V_BYTES : V_STR;
        first = 0;
        skip_ws(c);
    } while (string_start(c));
    return MN_OK;
}

/* ------------------------------------------------------------------ numbers */

/* Digits of base `base`, single underscores between them; returns how many digits. */
static int digits(cursor *c, int base, value *v, int *bad) {
    int n = 0;
    for (;;) {
        if (at(c, 0, '_') && n) {
            int d = c->p + 1 < c->end ? hex_digit(c->p[1]) : -1;
            if (d < 0 || d >= base) { *bad = 1; return n; }
            c->p++;
        }
        int d = c->p < c->end ? hex_digit(*c->p) : -1;
        if (d < 0 || d >= base) return n;
        if (v) {
            if (v->mag > (UINT64_MAX - (unsigned)d) / (unsigned)base) v->big = 1;
            else v->mag = v->mag * (unsigned)base + (unsigned)d;
        }
        c->p++;
        n++;
    }
}

static mn_status number(cursor *c, value *v) {
    int bad = 0;
    v->kind = V_INT;
    v->number = 1;
    if (at(c, 0, '0') && c->p + 1 < c->end && strchr("xXoObB", c->p[1]) && c->p[1]) {
        int base = (c->p[1] | 0x20) == 'x' ? 16 : (c->p[1] | 0x20) == 'o' ? 8 : 2;
        c->p += 2;
        if (at(c, 0, '_')) c->p++;
        if (!digits(c, base, v, &bad) || bad) return syntax(c, "digits of the number");
    } else {
        const unsigned char *s = c->p;
        int n = digits(c, 10, v, &bad);
        if (bad) return syntax(c, "a digit after '_'");
        int fl = 0;
        if (at(c, 0, '.')) {
            c->p++;
            fl = 1;
            if (c->p < c->end && *c->p >= '0' && *c->p <= '9' && (digits(c, 10, NULL, &bad), bad))
                return syntax(c, "a digit after '_'");
        }
        if (c->p < c->end && (*c->p | 0x20) == 'e' && (n || fl)) {
            const unsigned char *e = c->p++;
            if (at(c, 0, '+') || at(c, 0, '-')) c->p++;
            if (!digits(c, 10, NULL, &bad) || bad) { c->p = e; return syntax(c, "an exponent"); }
            fl = 1;
        }
        if (c->p < c->end && (*c->p | 0x20) == 'j') c->p++, fl = 1;
        if (fl) v->kind = V_FLOAT;
        else if (*s == '0')
            for (const unsigned char *q = s; q < c->p; q++)
                if (*q != '0' && *q != '_') {
                    c->p = s;
                    return syntax(c, "a dimension without leading zeros");
                }
    }
    if (c->major < 3) {   /* numpy drops Python 2's long suffix: 6L */
        const unsigned char *q = c->p;
        while (q < c->end && (*q == ' ' || *q == '\t' || *q == '\f' ||
               (*q == '\\' && q + 1 < c->end && (q[1] == '\n' || q[1] == '\r')))) {
            if (*q == '\\') q += (q[1] == '\r' && q + 2 < c->end && q[2] == '\n') ? 3 : 2;
            else q++;
        }
        if (q < c->end && *q == 'L' && (q + 1 == c->end || !ident_char(q[1]))) c->p = q + 1;
    }
    if (c->p < c->end && ident_char(*c->p)) return syntax(c, "a number");
    return MN_OK;
}

/* ------------------------------------------------------------------- values */

static mn_status parse_value(cursor *c, value *v, fields *top);

static void add_element(value *t, const value *e) {
    if (t->n < MN_ARRAY_MAX_DIMS) {
        int i = t->n;
        t->dims[i] = 0;
        t->flag[i] = e->kind == V_BOOL ? DIM_BOOL : e->kind != V_INT ? DIM_NOT_INT
                   : e->big || e->mag > (uint64_t)INT64_MAX ? DIM_BIG
                   : e->neg && e->mag ? DIM_NEGATIVE : DIM_OK;
        if (t->flag[i] == DIM_OK) t->dims[i] = (int64_t)e->mag;
    }
    t->n++;
}

/* The elements of a tuple or list after its first, up to the closing bracket. */
static mn_status sequence(cursor *c, value *v, char close) {
    value e;
    mn_status s;
    for (;;) {
        skip_ws(c);
        if (at(c, 0, close)) { c->p++; return MN_OK; }
        if ((s = parse_value(c, &e, NULL))) return s;
        add_element(v, &e);
        skip_ws(c);
        if (at(c, 0, ',')) { c->p++; continue; }
        if (at(c, 0, close)) { c->p++; return MN_OK; }
        return syntax(c, close == ')' ? "',' or ')' in the tuple" : close == ']' ?
                      "',' or ']' in the list" : "',' or '}' in the set");
    }
}

static mn_status paren(cursor *c, value *v, fields *top) {
    skip_ws(c);
    if (at(c, 0, ')')) { c->p++; v->kind = V_TUPLE; return MN_OK; }
    value first;
    mn_status s = parse_value(c, &first, top);
    if (s) return s;
    skip_ws(c);
    if (at(c, 0, ')')) { c->p++; *v = first; return MN_OK; }   /* (x) is x */
    if (!at(c, 0, ',')) return syntax(c, "',' or ')'");
    c->p++;
    v->kind = V_TUPLE;
    add_element(v, &first);
    return sequence(c, v, ')');
}

static void record(fields *top, const value *key, const value *val) {
    for (int k = 0; k < 3; k++)
        if (key->kind == V_STR && !key->scut && key->slen == strlen(keys[k]) &&
            !memcmp(key->s, keys[k], key->slen)) {
            top->v[k] = *val;
            top->seen[k] = 1;
            return;
        }
    if (top->unknown[0]) return;
    if (key->kind == V_STR || key->kind == V_BYTES) {
        char e[MN_ESCAPE_CAP - 8];
        mn_escape_n(e, sizeof e, key->s, key->slen);
        snprintf(top->unknown, sizeof top->unknown, "%s'%s%s'", key->kind == V_BYTES ? "b" : "",
                 e, key->scut ? "..." : "");
    } else
        snprintf(top->unknown, sizeof top->unknown, "(a key that is not a string)");
}

/* {} is a dict, {a: b, ...} a dict, {a, ...} a set; only the header's own dict (top) keeps
 * its entries. */
static mn_status brace(cursor *c, value *v, fields *top) {
    value key, val;
    mn_status s;
    v->kind = V_DICT;
    skip_ws(c);
    if (at(c, 0, '}')) { c->p++; return MN_OK; }
    if ((s = parse_value(c, &key, NULL))) return s;
    skip_ws(c);
    if (!at(c, 0, ':')) {   /* a set display */
        v->kind = V_SET;
        if (at(c, 0, '}')) { c->p++; return MN_OK; }
        if (!at(c, 0, ',')) return syntax(c, "':', ',' or '}'");
        c->p++;
        return sequence(c, v, '}');
    }
    for (;;) {
        c->p++;   /* the ':' */
        if ((s = parse_value(c, &val, NULL))) return s;
        if (top) record(top, &key, &val);
        skip_ws(c);
        if (at(c, 0, '}')) { c->p++; return MN_OK; }
        if (!at(c, 0, ',')) return syntax(c, "',' or '}'");
        c->p++;
        skip_ws(c);
        if (at(c, 0, '}')) { c->p++; return MN_OK; }
        if ((s = parse_value(c, &key, NULL))) return s;
        skip_ws(c);
        if (!at(c, 0, ':')) return syntax(c, "':' after the key");
    }
}

static mn_status parse_value(cursor *c, value *v, fields *top) {
    memset(v, 0, sizeof *v);
    skip_ws(c);
    if (c->p >= c->end) return syntax(c, "a value");
    if (++c->depth > MAX_DEPTH)
        return mn_fail(MN_E_INPUT, "%s: header nests brackets or signs more than %d deep",
                       c->label, MAX_DEPTH);
    mn_status s = MN_OK;
    unsigned ch = *c->p;
    size_t q;
    if (ch == '{') c->p++, s = brace(c, v, top);
    else if (ch == '(') c->p++, s = paren(c, v, top);
    else if (ch == '[') {
        c->p++;
        v->kind = V_LIST;
        skip_ws(c);
        if (at(c, 0, ']')) c->p++;
        else {
            value e;
            if (!(s = parse_value(c, &e, NULL))) {
                add_element(v, &e);
                skip_ws(c);
                if (at(c, 0, ',')) c->p++, s = sequence(c, v, ']');
                else if (at(c, 0, ']')) c->p++;
                else s = syntax(c, "',' or ']' in the list");
            }
        }
    } else if (ch == '+' || ch == '-') {
        c->p++;
        if (!(s = parse_value(c, v, NULL)) && !(v->number && (v->kind == V_INT ||
                                                              v->kind == V_FLOAT)))
            s = syntax(c, "a number after the sign");
        if (!s && ch == '-') v->neg = !v->neg;
        v->number = 0;   /* - -3 and -(-3) are not literals */
    } else if ((ch >= '0' && ch <= '9') || (ch == '.' && c->p + 1 < c->end &&
                                           c->p[1] >= '0' && c->p[1] <= '9'))
        s = number(c, v);
    else if ((q = string_start(c)))
        s = strings(c, v);
    else if (ident_char(ch)) {
        const unsigned char *w = c->p;
        while (c->p < c->end && ident_char(*c->p)) c->p++;
        size_t n = (size_t)(c->p - w);
        if (n == 4 && !memcmp(w, "True", 4)) v->kind = V_BOOL, v->b = 1;
        else if (n == 5 && !memcmp(w, "False", 5)) v->kind = V_BOOL;
        else if (n == 4 && !memcmp(w, "None", 4)) v->kind = V_NONE;
        else { c->p = w; s = syntax(c, "a Python literal"); }
    } else
        s = syntax(c, "a value");
    c->depth--;
    return s;
}

/* ------------------------------------------------------------- the header */

/* What comes before the dict. literal_eval strips blanks from the start of the first
 * line; after that Python is at the start of a statement, where blank and comment lines
 * may come but the line of the first token must not be indented (a form feed sets the
 * column back to 0, as in Python's tokenizer). */
static mn_status leading(cursor *c) {
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t')) c->p++;
    for (;;) {
        const unsigned char *line = c->p;
        int col = 0;
        while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\f'))
            col = *c->p++ == '\f' ? 0 : col + 1;
        if (c->p < c->end && *c->p == '#')
            while (c->p < c->end && *c->p != '\n' && *c->p != '\r') c->p++;
        int cont = c->p < c->end && *c->p == '\\' && (at(c, 1, '\n') || at(c, 1, '\r'));
        if (cont) c->p++;
        if (c->p < c->end && (*c->p == '\n' || *c->p == '\r')) {
            if (*c->p++ == '\r' && at(c, 0, '\n')) c->p++;
            continue;
        }
        if (line != c->start && col > 0 && c->p < c->end) {
            c->p = line;
            return syntax(c, "the dict at the start of its line (Python: unexpected indent)");
        }
        return MN_OK;
    }
}

static mn_status check_descr(const char *label, const value *v, mn_npy_header *h) {
    if (v->kind == V_LIST || v->kind == V_TUPLE)
        return mn_fail(MN_E_INPUT, "%s: has a structured dtype (%s); mnemo reads plain float32 "
                       "'<f4', int32 '<i4' or int64 '<i8' arrays", label,
                       v->kind == V_LIST ? "record fields" : "a subarray");
    if (v->kind != V_STR && v->kind != V_BYTES)
        return mn_fail(MN_E_INPUT, "%s: 'descr' is not a dtype string such as '<f4'", label);
    char d[MN_ESCAPE_CAP - 8];
    mn_escape_n(d, sizeof d, v->s, v->slen);
    if (v->kind == V_BYTES)
        return mn_fail(MN_E_INPUT, "%s: 'descr' is the bytes literal b'%s', which numpy does "
                       "not read as a dtype; save the array with numpy.save", label, d);
    static const struct { const char *name; int prefix; mn_array_dtype dtype; } names[] = {
        { "f4", 1, MN_ARRAY_F32 }, { "f", 1, MN_ARRAY_F32 }, { "float32", 0, MN_ARRAY_F32 },
        { "single", 0, MN_ARRAY_F32 }, { "i4", 1, MN_ARRAY_I32 }, { "i", 1, MN_ARRAY_I32 },
        { "int32", 0, MN_ARRAY_I32 }, { "intc", 0, MN_ARRAY_I32 }, { "i8", 1, MN_ARRAY_I64 },
        { "l", 1, MN_ARRAY_I64 }, { "q", 1, MN_ARRAY_I64 }, { "int64", 0, MN_ARRAY_I64 },
    };
    const char *s = v->s;
    size_t n = v->slen;
    char order = n && strchr("<>=|", s[0]) ? s[0] : 0;
    if (order) s++, n--;
    for (size_t k = 0; !v->scut && k < sizeof names / sizeof names[0]; k++)
        if ((names[k].prefix || !order) && n == strlen(names[k].name) &&
            !memcmp(s, names[k].name, n)) {
            h->dtype = names[k].dtype;
            h->big_endian = order == '>';
            return MN_OK;
        }
    return mn_fail(MN_E_INPUT, "%s: dtype '%s%s' is not supported; mnemo reads float32 ('<f4', "
                   "'>f4'), int32 ('<i4', '>i4') and int64 ('<i8', '>i8'): convert with "
                   "arr.astype(numpy.float32)",
                   label, d, v->scut ? "..." : "");
}

static mn_status check_shape(const char *label, const value *v, mn_npy_header *h) {
    if (v->kind == V_INT)
        return mn_fail(MN_E_INPUT, "%s: 'shape' is a number, not a shape tuple: a "
                       "one-dimensional shape is written (n,)", label);
    if (v->kind != V_TUPLE)
        return mn_fail(MN_E_INPUT, "%s: 'shape' is not a shape tuple such as (2, 3)", label);
    if (v->n > MN_ARRAY_MAX_DIMS)
        return mn_fail(MN_E_INPUT, "%s: shape has more than %d dimensions; mnemo reads arrays "
                       "of rank 0 to %d", label, MN_ARRAY_MAX_DIMS, MN_ARRAY_MAX_DIMS);
    for (int i = 0; i < v->n; i++) {
        switch (v->flag[i]) {
        case DIM_NEGATIVE:
            return mn_fail(MN_E_INPUT, "%s: shape dimension %d is negative; a shape lists "
                           "sizes >= 0", label, i);
        case DIM_BIG:
            return mn_fail(MN_E_INPUT, "%s: shape dimension %d exceeds 2^63-1", label, i);
        case DIM_BOOL:
            return mn_fail(MN_E_INPUT, "%s: shape dimension %d is True or False, not a whole "
                           "number", label, i);
        case DIM_NOT_INT:
            return mn_fail(MN_E_INPUT, "%s: shape dimension %d is not a whole number", label, i);
        default: break;
        }
        h->shape[i] = v->dims[i];
    }
    h->ndim = v->n;
    /* the product and its size in bytes, both checked; a zero dimension makes it 0
     * whatever the others are, as numpy allows */
    size_t count = 1;
    int overflow = 0, zero = 0;
    for (int i = 0; i < h->ndim; i++) {
        zero |= h->shape[i] == 0;
        if ((uint64_t)h->shape[i] > SIZE_MAX || !mn_mul_size(count, (size_t)h->shape[i], &count))
            overflow = 1;
    }
    if (zero) count = 0;
    if ((overflow && !zero) || !mn_mul_size(count, mn_npy_dtype_size(h->dtype), &h->nbytes))
        return mn_fail(MN_E_INPUT, "%s: the shape's element count overflows; the header is "
                       "corrupt", label);
    h->count = count;
    return MN_OK;
}

mn_status mn_npy_parse_header(const char *label, const char *text, size_t len, int major,
                              mn_npy_header *h) {
    cursor c = { label, (const unsigned char *)text, (const unsigned char *)text + len,
                 (const unsigned char *)text, major, 0 };
    /* Python refuses source with NUL bytes; format 3.0 is UTF-8, 1.0 and 2.0 Latin-1 */
    for (size_t i = 0; i < len;) {
        size_t u = major >= 3 ? mn_utf8_len(c.p + i, len - i) : 1;
        if (!u || !c.p[i]) {
            c.p += i;
            return syntax(&c, u ? "no NUL byte" : "UTF-8 text (format 3.0 headers are UTF-8)");
        }
        i += u;
    }
    fields all, *top = &all;
    memset(top, 0, sizeof *top);
    mn_status s = leading(&c);
    if (s) return s;
    value v;
    if ((s = parse_value(&c, &v, top))) return s;
    skip_ws(&c);
    if (c.p != c.end) return syntax(&c, "only spaces, comments and newlines after the dict");
    if (c.p - c.start >= 2 && (c.p[-1] == '\n' || c.p[-1] == '\r') && c.p[-2] == '\\')
        return syntax(&c, "a line after the backslash that ends the header");
    if (v.kind != V_DICT)
        return mn_fail(MN_E_INPUT, "%s: header is not a dict such as {'descr': '<f4', "
                       "'fortran_order': False, 'shape': (2, 3)}; save the array with "
                       "numpy.save", label);
    if (top->unknown[0])
        return mn_fail(MN_E_INPUT, "%s: header has unknown key %s (a .npy header holds only "
                       "descr, fortran_order and shape)", label, top->unknown);
    for (int k = 0; k < 3; k++)
        if (!top->seen[k]) return mn_fail(MN_E_INPUT, "%s: header lacks '%s'", label, keys[k]);
    if ((s = check_descr(label, &top->v[0], h))) return s;
    if (top->v[1].kind != V_BOOL)
        return mn_fail(MN_E_INPUT, "%s: 'fortran_order' must be True or False", label);
    h->fortran = top->v[1].b;
    return check_shape(label, &top->v[2], h);
}
