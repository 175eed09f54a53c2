/* The strict JSON reader and the string writer. */
#include "test.h"
#include "json.h"

#include <string.h>

static mn_json *parse(const char *text) {
    mn_json *j = NULL;
    if (mn_json_parse(text, strlen(text), &j) != MN_OK) return NULL;
    return j;
}

/* Expects text[0..len) to be rejected with MN_E_INPUT and a located message. */
static void reject(const char *text, size_t len, int line) {
    mn_json *j = (mn_json *)1;
    mn_clear_error();
    mn_status s = mn_json_parse(text, len, &j);
    if (s != MN_E_INPUT || j != NULL || !strstr(mn_last_error(), "line"))
        mn_test_fail(__FILE__, line, "accepted or wrong error for %.*s: status %d, \"%s\"",
                     (int)len, text, (int)s, mn_last_error());
    if (s == MN_OK) mn_json_free(j);
}
#define REJECT(text) reject(text, strlen(text), __LINE__)
#define REJECT_N(text) reject(text, sizeof(text) - 1, __LINE__)

TEST(json_valid_documents) {
    size_t mem0 = mn_memory_in_use();
    mn_json *j = parse(" {\"a\": [1, -2.5, 3e2, true, false, null, \"s\"],\n"
                       "  \"b\": {}, \"c\": [], \"d\": {\"e\": [[[]]]}} \r\n\t");
    REQUIRE(j, "valid document rejected: %s", mn_last_error());
    CHECK(j->type == MN_JSON_OBJECT && j->count == 4, "root object");
    const mn_json *a = mn_json_get(j, "a");
    REQUIRE(a && a->type == MN_JSON_ARRAY && a->count == 7, "a");
    CHECK(a->items[0].number_is_integer && a->items[0].integer_exact &&
          a->items[0].integer == 1, "1 is an exact integer");
    CHECK(!a->items[1].number_is_integer && a->items[1].number == -2.5, "-2.5");
    CHECK(!a->items[2].number_is_integer && a->items[2].number == 300.0, "3e2");
    CHECK(a->items[3].type == MN_JSON_BOOL && a->items[3].boolean == 1, "true");
    CHECK(a->items[4].type == MN_JSON_BOOL && a->items[4].boolean == 0, "false");
    CHECK(a->items[5].type == MN_JSON_NULL, "null");
    CHECK(a->items[6].type == MN_JSON_STRING && !strcmp(a->items[6].string, "s"), "s");
    CHECK(mn_json_get(j, "b")->type == MN_JSON_OBJECT, "b");
    CHECK(mn_json_get(j, "missing") == NULL, "absent key");
    CHECK(mn_json_get(a, "a") == NULL, "get on an array");
    mn_json_free(j);

    const char *scalars[] = { "0", "-0", "\"\"", "true", "[0.5e-3]", "1E+2", "[-1.0e0]" };
    for (size_t i = 0; i < sizeof scalars / sizeof *scalars; i++) {
        j = parse(scalars[i]);
        CHECK(j != NULL, "rejected %s: %s", scalars[i], mn_last_error());
        mn_json_free(j);
    }
    /* Only the first len bytes are read: no NUL terminator is needed. */
    mn_json *k = NULL;
    CHECK_OK(mn_json_parse("[7]garbage", 3, &k));
    CHECK(k && k->count == 1 && k->items[0].integer == 7, "prefix parse");
    mn_json_free(k);
    CHECK(mn_memory_in_use() == mem0, "leaked %zu bytes", mn_memory_in_use() - mem0);
}

TEST(json_integers) {
    mn_json *j = parse("[9223372036854775807, -9223372036854775808, 9223372036854775808,"
                       " -0, 12345678901234567890123, 1.0]");
    REQUIRE(j && j->count == 6, "parse: %s", mn_last_error());
    CHECK(j->items[0].integer_exact && j->items[0].integer == 9223372036854775807LL, "max");
    CHECK(j->items[1].integer_exact && j->items[1].integer == -9223372036854775807LL - 1,
          "min");
    CHECK(j->items[2].number_is_integer && !j->items[2].integer_exact, "2^63 does not fit");
    CHECK(j->items[3].integer_exact && j->items[3].integer == 0, "-0");
    CHECK(!j->items[4].integer_exact && j->items[4].number > 1.2e22, "huge integer");
    CHECK(!j->items[5].number_is_integer, "1.0 has a fraction");
    mn_json_free(j);
}

TEST(json_strings_and_escapes) {
    mn_json *j = parse("[\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\", \"\\u00e9\\u20AC\", "
                       "\"\\ud83d\\ude00\", \"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"]");
    REQUIRE(j, "parse: %s", mn_last_error());
    CHECK(!strcmp(j->items[0].string, "a\"b\\c/d\b\f\n\r\t"), "simple escapes");
    CHECK(!strcmp(j->items[1].string, "\xc3\xa9\xe2\x82\xac"), "\\u escapes to UTF-8");
    CHECK(!strcmp(j->items[2].string, "\xf0\x9f\x98\x80"), "surrogate pair");
    CHECK(!strcmp(j->items[3].string, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"), "raw UTF-8");
    mn_json_free(j);
}

TEST(json_rejects_malformed) {
    size_t mem0 = mn_memory_in_use();
    /* structure */
    REJECT(""); REJECT("   "); REJECT("{"); REJECT("["); REJECT("}"); REJECT("[1,]");
    REJECT("{\"a\":1,}"); REJECT("[,1]"); REJECT("[1 2]"); REJECT("{\"a\" 1}");
    REJECT("{\"a\":}"); REJECT("{a:1}"); REJECT("{1:1}"); REJECT("{'a':1}");
    REJECT("{} x"); REJECT("[1]]"); REJECT("1 2"); REJECT("/* c */ 1"); REJECT("[1] // c");
    REJECT("\xef\xbb\xbf{}");                               /* byte order mark */
    REJECT("{\"a\":1,\"a\":2}");                            /* duplicate key */
    /* literals and numbers */
    REJECT("tru"); REJECT("nul"); REJECT("True"); REJECT("NaN"); REJECT("Infinity");
    REJECT("-Infinity"); REJECT("01"); REJECT("-01"); REJECT("1."); REJECT(".5");
    REJECT("+1"); REJECT("-"); REJECT("1e"); REJECT("1e+"); REJECT("0x10"); REJECT("1e400");
    REJECT("-1e400");
    /* strings */
    REJECT("\"abc"); REJECT("\"abc\\"); REJECT("\"\\x\""); REJECT("\"\\'\"");
    REJECT("\"\\u12\""); REJECT("\"\\u12G4\""); REJECT("\"\\u0000\"");
    REJECT("\"\\ud800\""); REJECT("\"\\udc00\""); REJECT("\"\\ud800\\u0041\"");
    REJECT("\"\\ud800\\ud800\""); REJECT("\"a\tb\""); REJECT("\"a\nb\"");
    REJECT_N("\"a\0b\"");                                   /* raw NUL */
    REJECT_N("\0");
    REJECT("\"\xff\""); REJECT("\"\xc0\x80\"");             /* invalid, overlong NUL */
    REJECT("\"\xed\xa0\x80\"");                             /* encoded surrogate */
    REJECT("\"\xf4\x90\x80\x80\"");                         /* above U+10FFFF */
    REJECT("\"\xe2\x82\""); REJECT("\"\xc3\"");             /* cut sequences */
    CHECK(mn_memory_in_use() == mem0, "leaked %zu bytes", mn_memory_in_use() - mem0);
}

/* Builds n nested arrays, "[[[...]]]". */
static char *nest(int n, char *buf) {
    for (int i = 0; i < n; i++) buf[i] = '[';
    for (int i = 0; i < n; i++) buf[n + i] = ']';
    buf[2 * n] = 0;
    return buf;
}

TEST(json_depth_limit) {
    static char buf[2 * 100000 + 1];
    mn_json *j = parse(nest(MN_JSON_MAX_DEPTH, buf));
    CHECK(j != NULL, "%d levels must be accepted: %s", MN_JSON_MAX_DEPTH, mn_last_error());
    mn_json_free(j);
    REJECT(nest(MN_JSON_MAX_DEPTH + 1, buf));
    CHECK(strstr(mn_last_error(), "nesting") != NULL, "message: %s", mn_last_error());
    REJECT(nest(100000, buf));   /* would blow the stack without the limit */
    /* objects count too */
    char obj[8 * (MN_JSON_MAX_DEPTH + 1) + 8] = "";
    for (int i = 0; i <= MN_JSON_MAX_DEPTH; i++) strcat(obj, "{\"a\":");
    strcat(obj, "1");
    for (int i = 0; i <= MN_JSON_MAX_DEPTH; i++) strcat(obj, "}");
    REJECT(obj);
}

TEST(json_error_location) {
    mn_json *j = NULL;
    const char *text = "{\n  \"a\": 1,\n  \"b\": tru\n}";
    CHECK(mn_json_parse(text, strlen(text), &j) == MN_E_INPUT, "rejected");
    CHECK(strstr(mn_last_error(), "line 3") != NULL, "message says line 3: %s",
          mn_last_error());
}

TEST(json_strbuf_writer) {
    size_t mem0 = mn_memory_in_use();
    mn_strbuf sb = { 0 };
    for (int i = 0; i < 1000; i++) mn_sb_printf(&sb, "%d,", i);
    CHECK(!sb.failed && sb.len == strlen(sb.data), "length tracks the text");
    CHECK(!strncmp(sb.data, "0,1,2,", 6) && !strcmp(sb.data + sb.len - 4, "999,"), "text");
    mn_sb_free(&sb);
    CHECK(sb.data == NULL && sb.len == 0, "freed");

    /* Every control character, quotes, backslash and UTF-8 survive a round trip. */
    char s[64];
    int n = 0;
    for (int c = 1; c < 32; c++) s[n++] = (char)c;
    memcpy(s + n, "\"\\/x\xc3\xa9", 7);
    mn_sb_printf(&sb, "[");
    mn_sb_json_string(&sb, s);
    mn_sb_printf(&sb, ",");
    mn_sb_json_string(&sb, NULL);
    mn_sb_printf(&sb, "]");
    REQUIRE(!sb.failed, "writer failed");
    mn_json *j = NULL;
    CHECK_OK(mn_json_parse(sb.data, sb.len, &j));
    CHECK(j && j->count == 2 && j->items[0].type == MN_JSON_STRING &&
          !strcmp(j->items[0].string, s), "escaped string reads back: %s", sb.data);
    CHECK(j && j->items[1].type == MN_JSON_NULL, "NULL is written as null");
    mn_json_free(j);
    mn_sb_free(&sb);
    CHECK(mn_memory_in_use() == mem0, "leaked %zu bytes", mn_memory_in_use() - mem0);
}
