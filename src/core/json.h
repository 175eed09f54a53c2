/* A small strict JSON reader (for safetensors headers and metadata) and a string builder
 * for writing JSON. The reader rejects anything outside RFC 8259 and nests at most
 * MN_JSON_MAX_DEPTH levels, so a hostile header cannot exhaust the stack. */
#ifndef MN_JSON_H
#define MN_JSON_H

#include "core.h"

#define MN_JSON_MAX_DEPTH 64

typedef enum { MN_JSON_NULL, MN_JSON_BOOL, MN_JSON_NUMBER, MN_JSON_STRING,
               MN_JSON_ARRAY, MN_JSON_OBJECT } mn_json_type;

typedef struct mn_json mn_json;
struct mn_json {
    mn_json_type type;
    int boolean;
    double number;
    int number_is_integer;   /* the text had no fraction or exponent */
    long long integer;       /* exact value when number_is_integer and it fits */
    int integer_exact;       /* 1 when `integer` holds the exact value of the text */
    char *string;            /* NUL-terminated; strings with embedded NUL are rejected */
    int count;               /* array items or object members */
    mn_json *items;          /* [count] values */
    char **keys;             /* [count] keys for objects */
};

/* Parses exactly one JSON value (surrounded by optional whitespace) from text[0..len).
 * Strings must be valid UTF-8; object keys must be unique. On failure returns MN_E_INPUT
 * with a message giving the line, column and what was expected. */
mn_status mn_json_parse(const char *text, size_t len, mn_json **out);
void mn_json_free(mn_json *j);
const mn_json *mn_json_get(const mn_json *obj, const char *key); /* NULL if absent */

/* Growable string for writing. Errors are sticky: check `failed` once at the end. */
typedef struct { char *data; size_t len, cap; int failed; } mn_strbuf;
void mn_sb_printf(mn_strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void mn_sb_json_string(mn_strbuf *sb, const char *s);  /* quoted and escaped; NULL -> null */
void mn_sb_free(mn_strbuf *sb);

#endif
