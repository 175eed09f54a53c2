/* The tokenizer file: Hugging Face tokenizers' tokenizer.json with a BPE model, the
 * ByteLevel pre-tokenizer and decoder. Tokens are written as GPT-2 writes them, each byte
 * as one character of bytes_to_unicode (bpe_pretok.c); merges as "left right" strings
 * (every version of tokenizers reads those; newer ones also write ["left", "right"] pairs,
 * which the reader takes too). The reader checks everything: every failure names the
 * file and the problem. */
#include "bpe.h"
#include "atomic_file.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* Appends token bytes as byte-level characters (UTF-8), without quotes or escapes. */
static void put_token(mn_strbuf *sb, const unsigned char *p, size_t n) {
    char buf[256];
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned cp = mn_bpe_byte_char(p[i]);
        if (cp < 0x80) {
            buf[k++] = (char)cp;
        } else {   /* every code point of the table is below U+0800: two bytes */
            buf[k++] = (char)(0xC0 | (cp >> 6));
            buf[k++] = (char)(0x80 | (cp & 0x3F));
        }
        if (k + 2 >= sizeof buf || i + 1 == n) {
            buf[k] = 0;
            mn_sb_printf(sb, "%s", buf);
            k = 0;
        }
    }
}

/* A JSON string of a token's characters (quote and backslash escaped). */
static void put_token_string(mn_strbuf *sb, const unsigned char *p, size_t n, const char *tail,
                             const unsigned char *p2, size_t n2) {
    mn_strbuf tmp = {0};
    put_token(&tmp, p, n);
    if (tail) {
        mn_sb_printf(&tmp, "%s", tail);
        put_token(&tmp, p2, n2);
    }
    if (tmp.failed) sb->failed = 1;
    else mn_sb_json_string(sb, tmp.data ? tmp.data : "");
    mn_sb_free(&tmp);
}

void mn_bpe_write_json(const mn_tokenizer *t, mn_strbuf *sb) {
    mn_sb_printf(sb, "{\n  \"version\": \"1.0\",\n  \"truncation\": null,\n  \"padding\": null,\n"
                 "  \"added_tokens\": [],\n  \"normalizer\": null,\n"
                 "  \"pre_tokenizer\": {\"type\": \"ByteLevel\", \"add_prefix_space\": false, "
                 "\"trim_offsets\": true, \"use_regex\": true},\n"
                 "  \"post_processor\": null,\n"
                 "  \"decoder\": {\"type\": \"ByteLevel\", \"add_prefix_space\": true, "
                 "\"trim_offsets\": true, \"use_regex\": true},\n"
                 "  \"model\": {\n    \"type\": \"BPE\",\n    \"dropout\": null,\n"
                 "    \"unk_token\": null,\n    \"continuing_subword_prefix\": null,\n"
                 "    \"end_of_word_suffix\": null,\n    \"fuse_unk\": false,\n"
                 "    \"byte_fallback\": false,\n    \"vocab\": {");
    for (int id = 0; id < t->n_vocab && !sb->failed; id++) {
        size_t n;
        const unsigned char *p = mn_bpe_token(t, id, &n);
        mn_sb_printf(sb, "%s\n      ", id ? "," : "");
        put_token_string(sb, p, n, NULL, NULL, 0);
        mn_sb_printf(sb, ": %d", id);
    }
    mn_sb_printf(sb, "\n    },\n    \"merges\": [");
    for (int k = 0; k < t->n_merges && !sb->failed; k++) {
        size_t nl, nr;
        const unsigned char *l = mn_bpe_token(t, t->merges[3 * k], &nl);
        const unsigned char *r = mn_bpe_token(t, t->merges[3 * k + 1], &nr);
        mn_sb_printf(sb, "%s\n      ", k ? "," : "");
        put_token_string(sb, l, nl, " ", r, nr);
    }
    mn_sb_printf(sb, "\n    ]\n  }\n}\n");
}

mn_status mn_tokenizer_save(const mn_tokenizer *t, const char *path) {
    if (!t || !path)
        return mn_fail(MN_E_ARG, "mn_tokenizer_save: the tokenizer and path must not be NULL");
    mn_strbuf sb = {0};
    mn_bpe_write_json(t, &sb);
    if (sb.failed) {
        mn_sb_free(&sb);
        return mn_fail(MN_E_NOMEM, "writing the tokenizer's JSON ran out of memory");
    }
    mn_piece piece = {sb.data, sb.len};
    mn_status st = mn_write_atomic(path, &piece, 1);
    mn_sb_free(&sb);
    return st;
}

/* ---------------------------------------------------------------- reading */

/* Byte-level characters (UTF-8 text) to bytes; -1 at a character outside the table. */
static long decode_chars(const char *s, unsigned char *out, size_t cap) {
    const unsigned char *p = (const unsigned char *)s;
    size_t k = 0;
    while (*p) {
        size_t u = mn_utf8_len(p, 4);
        unsigned cp;
        if (u == 1) cp = p[0];
        else if (u == 2) cp = ((p[0] & 0x1Fu) << 6) | (p[1] & 0x3Fu);
        else return -1;   /* the table has nothing above U+07FF (the parser checked UTF-8) */
        int b = mn_bpe_char_byte(cp);
        if (b < 0 || k >= cap) return -1;
        out[k++] = (unsigned char)b;
        p += u;
    }
    return (long)k;
}

typedef struct {
    const char *what;
    int n;
    size_t *off;
    unsigned char *bytes;
    int32_t *map;   /* open-addressed token bytes -> id; -1 empty */
    size_t map_cap;
} vocab_t;

static int32_t vocab_find(const vocab_t *v, const unsigned char *s, size_t n) {
    size_t mask = v->map_cap - 1;
    for (size_t i = mn_bpe_hash(s, n) & mask; v->map[i] >= 0; i = (i + 1) & mask) {
        int32_t id = v->map[i];
        if (v->off[id + 1] - v->off[id] == n && !memcmp(v->bytes + v->off[id], s, n)) return id;
    }
    return -1;
}

/* The type of a pre-tokenizer or decoder: 1 when it is (or a Sequence holds) ByteLevel. */
static int is_byte_level(const mn_json *j, const char *list_key) {
    const mn_json *type = mn_json_get(j, "type");
    if (!type || type->type != MN_JSON_STRING) return 0;
    if (!strcmp(type->string, "ByteLevel")) return 1;
    const mn_json *seq = mn_json_get(j, list_key);
    if (strcmp(type->string, "Sequence") || !seq || seq->type != MN_JSON_ARRAY) return 0;
    for (int i = 0; i < seq->count; i++)
        if (seq->items[i].type == MN_JSON_OBJECT && is_byte_level(&seq->items[i], list_key))
            return 1;
    return 0;
}

static mn_status check_parts(const mn_json *root, const mn_json *model, const char *what) {
    static const struct { const char *key, *list; } parts[] = {
        {"pre_tokenizer", "pretokenizers"}, {"decoder", "decoders"}};
    for (int i = 0; i < 2; i++) {
        const mn_json *p = mn_json_get(root, parts[i].key);
        if (!p || p->type == MN_JSON_NULL) continue;
        if (p->type != MN_JSON_OBJECT || !is_byte_level(p, parts[i].list))
            return mn_fail(MN_E_INPUT, "%s: its %s is not ByteLevel; mnemo reads byte-level "
                           "BPE tokenizers (GPT-2's kind) only", what, parts[i].key);
    }
    const mn_json *type = mn_json_get(model, "type");
    if (type && (type->type != MN_JSON_STRING || strcmp(type->string, "BPE")))
        return mn_fail(MN_E_INPUT, "%s: \"model\" has a \"type\" other than \"BPE\"; mnemo reads "
                       "byte-level BPE tokenizers only", what);
    static const char *const affix[] = {"continuing_subword_prefix", "end_of_word_suffix"};
    for (int i = 0; i < 2; i++) {
        const mn_json *a = mn_json_get(model, affix[i]);
        if (a && a->type != MN_JSON_NULL && (a->type != MN_JSON_STRING || a->string[0]))
            return mn_fail(MN_E_INPUT, "%s: the model sets %s, which byte-level BPE does not "
                           "use; mnemo cannot encode as that file means", what, affix[i]);
    }
    const mn_json *d = mn_json_get(model, "dropout");
    if (d && d->type != MN_JSON_NULL && (d->type != MN_JSON_NUMBER || d->number != 0))
        return mn_fail(MN_E_INPUT, "%s: the model sets a BPE dropout; mnemo encodes "
                       "deterministically, set \"dropout\" to null", what);
    return MN_OK;
}

static mn_status read_vocab(const mn_json *vj, vocab_t *v) {
    const char *what = v->what;
    char nb[MN_ESCAPE_CAP];
    if (!vj || vj->type != MN_JSON_OBJECT)
        return mn_fail(MN_E_INPUT, "%s: \"model\" has no \"vocab\" object", what);
    int n = vj->count;
    if (n < 256 || n > MN_BPE_MAX_VOCAB)
        return mn_fail(MN_E_INPUT, "%s: the vocab has %d tokens; a byte-level tokenizer has "
                       "256 to %d", what, n, MN_BPE_MAX_VOCAB);
    v->n = n;
    size_t total = 0;
    for (int i = 0; i < n; i++) total += strlen(vj->keys[i]);   /* >= the bytes */
    int32_t *seen = mn_alloc(sizeof(int32_t) * (size_t)n);
    const char **key_of = mn_alloc(sizeof(char *) * (size_t)n);
    v->off = mn_alloc(sizeof(size_t) * ((size_t)n + 1));
    v->bytes = mn_alloc(total + 1);
    v->map_cap = 16;
    while (v->map_cap < 2 * (size_t)n) v->map_cap *= 2;
    v->map = mn_alloc(sizeof(int32_t) * v->map_cap);
    mn_status st = MN_E_NOMEM;
    if (!seen || !key_of || !v->off || !v->bytes || !v->map) goto done;
    memset(seen, 0xff, sizeof(int32_t) * (size_t)n);
    memset(v->map, 0xff, sizeof(int32_t) * v->map_cap);
    st = MN_E_INPUT;
    for (int i = 0; i < n; i++) {
        const mn_json *id = &vj->items[i];
        const char *key = mn_escape(nb, sizeof nb, vj->keys[i]);
        if (id->type != MN_JSON_NUMBER || !id->number_is_integer || !id->integer_exact) {
            mn_fail(st, "%s: vocab token \"%s\" has an id that is not a whole number", what, key);
            goto done;
        }
        if (id->integer < 0 || id->integer >= n) {
            mn_fail(st, "%s: vocab token \"%s\" has id %lld; the ids of %d tokens must be "
                    "0..%d, each once (not dense)", what, key, id->integer, n, n - 1);
            goto done;
        }
        int k = (int)id->integer;
        if (seen[k] >= 0) {
            mn_fail(st, "%s: vocab tokens \"%s\" and \"%s\" both have id %d", what,
                    mn_escape((char[MN_ESCAPE_CAP]){0}, MN_ESCAPE_CAP, vj->keys[seen[k]]), key,
                    k);
            goto done;
        }
        seen[k] = i;
    }
    /* token bytes in id order */
    size_t pos = 0;
    for (int k = 0; k < n; k++) {
        const char *s = vj->keys[seen[k]];
        long len = decode_chars(s, v->bytes + pos, total - pos);
        if (len <= 0) {
            mn_fail(st, "%s: vocab token \"%s\" (id %d) %s", what, mn_escape(nb, sizeof nb, s),
                    k, len == 0 ? "is empty" : "holds a character that stands for no byte in "
                    "the byte-level alphabet (GPT-2's bytes_to_unicode)");
            goto done;
        }
        v->off[k] = pos;
        pos += (size_t)len;
    }
    v->off[n] = pos;
    for (int k = 0; k < n; k++) {   /* distinct keys give distinct bytes: a bijection */
        size_t mask = v->map_cap - 1, i = mn_bpe_hash(v->bytes + v->off[k],
                                                     v->off[k + 1] - v->off[k]) & mask;
        while (v->map[i] >= 0) i = (i + 1) & mask;
        v->map[i] = k;
    }
    st = MN_OK;
done:
    mn_release(seen);
    mn_release(key_of);
    return st;
}

/* The two token strings of merge k (a "left right" string or a ["left", "right"] pair). */
static mn_status merge_parts(const mn_json *m, int k, const char *what, char **l, char **r,
                             char **tmp) {
    *tmp = NULL;
    if (m->type == MN_JSON_ARRAY) {
        if (m->count != 2 || m->items[0].type != MN_JSON_STRING ||
            m->items[1].type != MN_JSON_STRING)
            return mn_fail(MN_E_INPUT, "%s: merge %d is an array but not of two strings", what, k);
        *l = m->items[0].string;
        *r = m->items[1].string;
        return MN_OK;
    }
    if (m->type != MN_JSON_STRING)
        return mn_fail(MN_E_INPUT, "%s: merge %d is neither a \"left right\" string nor a pair "
                       "of strings", what, k);
    const char *sp = strchr(m->string, ' ');
    char nb[MN_ESCAPE_CAP];
    if (!sp || sp == m->string || !sp[1] || strchr(sp + 1, ' '))
        return mn_fail(MN_E_INPUT, "%s: merge %d, \"%s\", is not two tokens separated by one "
                       "space", what, k, mn_escape(nb, sizeof nb, m->string));
    size_t n = strlen(m->string);
    *tmp = mn_alloc(n + 1);
    if (!*tmp) return MN_E_NOMEM;
    memcpy(*tmp, m->string, n + 1);
    (*tmp)[sp - m->string] = 0;
    *l = *tmp;
    *r = *tmp + (sp - m->string) + 1;
    return MN_OK;
}

mn_status mn_bpe_read_json(const char *text, size_t len, const char *what, mn_tokenizer **out) {
    *out = NULL;
    mn_json *root = NULL;
    vocab_t v = {what, 0, NULL, NULL, NULL, 0};
    int32_t *merges = NULL;
    unsigned char *buf = NULL;
    mn_status st = mn_json_parse(text, len, &root);
    if (st) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", mn_last_error());
        return mn_fail(st, "%s: %s", what, msg);
    }
    const mn_json *model = root->type == MN_JSON_OBJECT ? mn_json_get(root, "model") : NULL;
    if (!model || model->type != MN_JSON_OBJECT) {
        st = mn_fail(MN_E_INPUT, "%s: no \"model\" object; a tokenizer.json file holds "
                     "{\"model\": {\"type\": \"BPE\", \"vocab\": ..., \"merges\": ...}}", what);
        goto done;
    }
    if ((st = check_parts(root, model, what))) goto done;
    if ((st = read_vocab(mn_json_get(model, "vocab"), &v))) goto done;
    const mn_json *mj = mn_json_get(model, "merges");
    if (!mj || mj->type != MN_JSON_ARRAY) {
        st = mn_fail(MN_E_INPUT, "%s: \"model\" has no \"merges\" array", what);
        goto done;
    }
    int nm = mj->count;
    size_t longest = 0;
    for (int k = 0; k < v.n; k++) longest = MN_MAX(longest, v.off[k + 1] - v.off[k]);
    merges = mn_alloc(sizeof(int32_t) * 3 * ((size_t)nm + 1));
    buf = mn_alloc(2 * longest + 2);
    if (!merges || !buf) { st = MN_E_NOMEM; goto done; }
    for (int k = 0; k < nm; k++) {
        char *ls = NULL, *rs = NULL, *tmp = NULL;
        if ((st = merge_parts(&mj->items[k], k, what, &ls, &rs, &tmp))) goto done;
        long nl = decode_chars(ls, buf, longest), nr = decode_chars(rs, buf + nl + 1, longest);
        int32_t l = nl > 0 ? vocab_find(&v, buf, (size_t)nl) : -1;
        int32_t r = nl > 0 && nr > 0 ? vocab_find(&v, buf + nl + 1, (size_t)nr) : -1;
        char nb[MN_ESCAPE_CAP];
        if (l < 0 || r < 0) {
            st = mn_fail(MN_E_INPUT, "%s: merge %d names \"%s\", which is not a token of the "
                         "vocab", what, k, mn_escape(nb, sizeof nb, l < 0 ? ls : rs));
            mn_release(tmp);
            goto done;
        }
        memmove(buf + nl, buf + nl + 1, (size_t)nr);
        int32_t res = vocab_find(&v, buf, (size_t)(nl + nr));
        if (res < 0) {
            st = mn_fail(MN_E_INPUT, "%s: merge %d (\"%s\" \"%s\") makes a token that is not "
                         "in the vocab", what, k, mn_escape(nb, sizeof nb, ls),
                         mn_escape((char[MN_ESCAPE_CAP]){0}, MN_ESCAPE_CAP, rs));
            mn_release(tmp);
            goto done;
        }
        mn_release(tmp);
        merges[3 * k] = l;
        merges[3 * k + 1] = r;
        merges[3 * k + 2] = res;
    }
    st = mn_bpe_build(v.off, v.bytes, v.n, merges, nm, what, out);
done:
    mn_release(v.off);
    mn_release(v.bytes);
    mn_release(v.map);
    mn_release(merges);
    mn_release(buf);
    mn_json_free(root);
    return st;
}

mn_status mn_tokenizer_load(const char *path, mn_tokenizer **out) {
    if (out) *out = NULL;
    if (!path || !out)
        return mn_fail(MN_E_ARG, "mn_tokenizer_load: path and out must not be NULL");
    char nb[MN_ESCAPE_CAP];
    mn_escape(nb, sizeof nb, path);
    FILE *f = fopen(path, "rb");
    if (!f) return mn_fail(MN_E_INPUT, "cannot read \"%s\": %s", nb, strerror(errno));
    size_t cap = 0, len = 0;
    char *text = NULL;
    mn_status st = MN_OK;
    for (;;) {
        if (len + 65536 > cap) {
            size_t nc = cap ? 2 * cap : 1 << 20;
            if (nc > ((size_t)1 << 31)) {
                st = mn_fail(MN_E_INPUT, "%s: larger than 2 GB; not a tokenizer file", nb);
                break;
            }
            char *t2 = mn_alloc(nc);
            if (!t2) { st = MN_E_NOMEM; break; }
            if (len) memcpy(t2, text, len);
            mn_release(text);
            text = t2;
            cap = nc;
        }
        size_t got = fread(text + len, 1, cap - len, f);
        len += got;
        if (ferror(f)) { st = mn_fail(MN_E_INPUT, "reading \"%s\" failed: %s", nb, strerror(errno)); break; }
        if (got == 0 || feof(f)) break;
    }
    fclose(f);
    if (!st) st = mn_bpe_read_json(text, len, nb, out);
    mn_release(text);
    return st;
}
