/* Byte-level BPE (src/data/bpe*.c) against the plain Python reference (tools/bpe_ref.py,
 * fixtures in tests/fixtures/bpe/): the pieces, the merges in order, the encodings; round
 * trips of random bytes; save -> load; malformed tokenizer.json files refused. */
#include "test.h"
#include "bpe.h"

#include <stdlib.h>
#include <string.h>

#define CORPUS_CAP (1 << 16)

static long read_fixture(const char *name, char *buf, size_t cap) {
    char path[1024];
    snprintf(path, sizeof path, "%s/bpe/%s", mn_test_fixture_dir(), name);
    return mn_test_read_file(path, buf, cap);
}

static size_t unhex(const char *s, size_t n, unsigned char *out) {
    size_t k = 0;
    for (size_t i = 0; i + 1 < n; i += 2) {
        unsigned v;
        char two[3] = {s[i], s[i + 1], 0};
        sscanf(two, "%2x", &v);
        out[k++] = (unsigned char)v;
    }
    return k;
}

static unsigned char corpus[CORPUS_CAP];
static char text[1 << 17];

/* The tokenizer trained on the fixture corpus with the reference's vocab size. */
static mn_tokenizer *train_fixture(long *corpus_len) {
    long n = read_fixture("corpus.bin", (char *)corpus, sizeof corpus);
    long m = read_fixture("merges.txt", text, sizeof text - 1);
    if (n <= 0 || m <= 0) return NULL;
    text[m] = 0;
    int vocab = 0;
    sscanf(text, "vocab_size %d", &vocab);
    const char *c = (const char *)corpus;
    size_t len = (size_t)n;
    mn_tokenizer *t = NULL;
    if (mn_tokenizer_train(&c, &len, 1, vocab, &t)) return NULL;
    *corpus_len = n;
    return t;
}

TEST(bpe_pieces_match_the_reference) {
    long n = read_fixture("corpus.bin", (char *)corpus, sizeof corpus);
    long m = read_fixture("pieces.txt", text, sizeof text - 1);
    REQUIRE(n > 0 && m > 0, "fixtures missing: run tools/bpe_ref.py");
    text[m] = 0;
    size_t pos = 0;
    int k = 0;
    unsigned char want[4096];
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n"), k++) {
        size_t wl = unhex(line, strlen(line), want);
        REQUIRE(pos < (size_t)n, "piece %d: the C pre-tokenizer ran out of text", k);
        size_t len = mn_bpe_piece(corpus + pos, (size_t)n - pos);
        REQUIRE(len == wl && !memcmp(corpus + pos, want, wl),
                "piece %d at byte %zu: C gives %zu bytes, the reference %zu (%s)", k, pos, len,
                wl, line);
        pos += len;
    }
    CHECK(pos == (size_t)n, "the reference's pieces end at %zu of %ld bytes", pos, n);
}

TEST(bpe_merges_match_the_reference_merge_for_merge) {
    long n;
    mn_tokenizer *t = train_fixture(&n);
    REQUIRE(t, "training on the fixture corpus failed: %s", mn_last_error());
    long m = read_fixture("merges.txt", text, sizeof text - 1);
    text[m] = 0;
    char *line = strtok(text, "\n");   /* vocab_size */
    int k = 0;
    for (line = strtok(NULL, "\n"); line; line = strtok(NULL, "\n"), k++) {
        int l, r;
        REQUIRE(sscanf(line, "%d %d", &l, &r) == 2, "merges.txt line %d", k + 2);
        REQUIRE(k < t->n_merges, "C stopped after %d merges; the reference has more", k);
        REQUIRE(t->merges[3 * k] == l && t->merges[3 * k + 1] == r &&
                t->merges[3 * k + 2] == 256 + k,
                "merge %d: C (%d, %d), reference (%d, %d)", k, t->merges[3 * k],
                t->merges[3 * k + 1], l, r);
    }
    CHECK(k == t->n_merges && k > 100, "C made %d merges, the reference %d", t->n_merges, k);
    CHECK(mn_tokenizer_vocab_size(t) == 256 + k, "vocab %d", mn_tokenizer_vocab_size(t));

    /* the same from a file */
    char dir[512], path[1024];
    REQUIRE(mn_test_tmpdir(dir, sizeof dir, "bpe_files"), "tmpdir");
    snprintf(path, sizeof path, "%s/corpus.bin", dir);
    REQUIRE(mn_test_write_file(path, corpus, (size_t)n), "write");
    const char *paths[] = {path};
    mn_tokenizer *tf = NULL;
    REQUIRE_OK(mn_tokenizer_train_files(paths, 1, t->n_vocab, &tf));
    CHECK(tf->n_merges == t->n_merges &&
          !memcmp(tf->merges, t->merges, sizeof(int32_t) * 3 * (size_t)t->n_merges),
          "training from the file gives other merges than from the buffer");
    mn_tokenizer_free(tf);
    mn_tokenizer_free(t);
}

TEST(bpe_encodings_match_the_reference) {
    long n;
    mn_tokenizer *t = train_fixture(&n);
    REQUIRE(t, "training failed: %s", mn_last_error());
    long m = read_fixture("encodings.txt", text, sizeof text - 1);
    REQUIRE(m > 0, "encodings.txt");
    text[m] = 0;
    static unsigned char in[8192];
    static int32_t ids[8192];
    int k = 0;
    for (char *line = text; *line; k++) {
        char *end = strchr(line, '\n'), *colon = strchr(line, ':');
        REQUIRE(end && colon && colon < end, "encodings.txt line %d", k + 1);
        *end = 0;
        size_t len = unhex(line, (size_t)(colon - line), in);
        size_t n_ids;
        REQUIRE_OK(mn_tokenizer_encode(t, in, len, ids, sizeof ids / sizeof ids[0], &n_ids));
        char *p = colon + 1;
        size_t j = 0;
        while (*p) {
            long v = strtol(p, &p, 10);
            CHECK(j < n_ids && ids[j] == v, "string %d, id %zu: C %d, reference %ld", k, j,
                  j < n_ids ? ids[j] : -1, v);
            j++;
        }
        CHECK(j == n_ids, "string %d: C gives %zu ids, the reference %zu", k, n_ids, j);
        size_t counted;
        CHECK_OK(mn_tokenizer_encode(t, in, len, NULL, 0, &counted));
        CHECK(counted == n_ids, "counting gives %zu, encoding %zu", counted, n_ids);
        /* again, now from the piece cache */
        static int32_t again[8192];
        size_t n_again;
        CHECK_OK(mn_tokenizer_encode(t, in, len, again, sizeof again / sizeof again[0],
                                     &n_again));
        CHECK(n_again == n_ids && !memcmp(again, ids, n_ids * sizeof(int32_t)),
              "string %d: the cached encoding differs", k);
        line = end + 1;
    }
    CHECK(k >= 10, "only %d encodings", k);
    mn_tokenizer_free(t);
}

/* Random bytes of a few kinds: uniform, a small alphabet that forms long pieces, and
 * pieces of UTF-8 and spaces. */
static size_t random_text(mn_rng *r, unsigned char *buf, size_t cap) {
    static const char *const parts[] = {" ", "  ", "\n", "the", " cat", "\xc3\xa9", "\xff",
                                        "\xe6\x97\xa5", "42", ",", "\xe3\x80\x80", "\xc2",
                                        "\xf0\x9f\x99\x82", "aa", "\t"};
    size_t n = mn_rng_below(r, (uint32_t)cap);
    int kind = (int)mn_rng_below(r, 3);
    for (size_t i = 0; i < n;) {
        if (kind == 0) buf[i++] = (unsigned char)mn_rng_below(r, 256);
        else if (kind == 1) buf[i++] = "ab a\xc3"[mn_rng_below(r, 5)];
        else {
            const char *p = parts[mn_rng_below(r, sizeof parts / sizeof parts[0])];
            for (; *p && i < n; p++) buf[i++] = (unsigned char)*p;
        }
    }
    return n;
}

TEST(bpe_round_trips_random_bytes) {
    long n;
    mn_tokenizer *t = train_fixture(&n);
    REQUIRE(t, "training failed: %s", mn_last_error());
    static unsigned char in[4096], out[4096];
    static int32_t ids[4096];
    for (uint64_t seed = 1; seed <= 400; seed++) {
        mn_rng r;
        mn_rng_seed(&r, seed);
        size_t len = random_text(&r, in, sizeof in), n_ids, nb, pieces = 0;
        REQUIRE_OK(mn_tokenizer_encode(t, in, len, ids, sizeof ids / sizeof ids[0], &n_ids));
        REQUIRE(n_ids <= len, "seed %llu: %zu ids for %zu bytes", (unsigned long long)seed,
                n_ids, len);
        REQUIRE_OK(mn_tokenizer_decode(t, ids, n_ids, out, sizeof out, &nb));
        REQUIRE(nb == len && !memcmp(in, out, len), "seed %llu: %zu bytes decode to %zu",
                (unsigned long long)seed, len, nb);
        for (size_t pos = 0; pos < len; pieces++) pos += mn_bpe_piece(in + pos, len - pos);
        CHECK(pieces <= n_ids || len == 0, "fewer ids than pieces");
    }
    /* one long piece: the heap keeps it fast, and it still round-trips */
    size_t big = 1 << 20;
    unsigned char *a = malloc(big), *back = malloc(big);
    int32_t *bid = malloc(sizeof(int32_t) * big);
    REQUIRE(a && back && bid, "malloc");
    memset(a, 'a', big);
    size_t n_ids, nb;
    CHECK_OK(mn_tokenizer_encode(t, a, big, bid, big, &n_ids));
    CHECK_OK(mn_tokenizer_decode(t, bid, n_ids, back, big, &nb));
    CHECK(nb == big && !memcmp(a, back, big), "a megabyte of 'a' does not round-trip");
    free(a); free(back); free(bid);
    /* more distinct pieces than the piece cache holds at its largest: it grows, then
     * empties and refills, and the ids stay those of the first pass */
    size_t cap = 200000 * 16;
    char *many = malloc(cap);
    int32_t *e1 = malloc(sizeof(int32_t) * cap), *e2 = malloc(sizeof(int32_t) * cap);
    REQUIRE(many && e1 && e2, "malloc");
    size_t len = 0, n1, n2;
    for (int i = 0; i < 200000; i++) len += (size_t)sprintf(many + len, " w%xq", (unsigned)i * 2654435761u);
    CHECK_OK(mn_tokenizer_encode(t, many, len, e1, cap, &n1));
    CHECK_OK(mn_tokenizer_encode(t, many, len, e2, cap, &n2));
    CHECK(n1 == n2 && !memcmp(e1, e2, n1 * sizeof(int32_t)), "a second pass gives other ids");
    CHECK(t->cache_slots == MN_BPE_CACHE_SLOTS, "the cache should have grown to its largest "
          "(%zu slots)", t->cache_slots);
    CHECK_OK(mn_tokenizer_decode(t, e1, n1, many, cap, &nb));
    CHECK(nb == len, "%zu bytes decode to %zu", len, nb);
    free(many); free(e1); free(e2);
    mn_tokenizer_free(t);
}

TEST(bpe_save_load_keeps_merges_and_encodings) {
    long n;
    mn_tokenizer *t = train_fixture(&n);
    REQUIRE(t, "training failed: %s", mn_last_error());
    char dir[512], path[1024], path2[1024];
    REQUIRE(mn_test_tmpdir(dir, sizeof dir, "bpe_save"), "tmpdir");
    snprintf(path, sizeof path, "%s/tok.json", dir);
    snprintf(path2, sizeof path2, "%s/tok2.json", dir);
    REQUIRE_OK(mn_tokenizer_save(t, path));
    mn_tokenizer *u = NULL;
    REQUIRE_OK(mn_tokenizer_load(path, &u));
    CHECK(u->n_vocab == t->n_vocab && u->n_merges == t->n_merges &&
          !memcmp(u->merges, t->merges, sizeof(int32_t) * 3 * (size_t)t->n_merges),
          "merges differ after save -> load");
    for (int id = 0; id < t->n_vocab; id++) {
        size_t a, b;
        const unsigned char *pa = mn_bpe_token(t, id, &a), *pb = mn_bpe_token(u, id, &b);
        CHECK(a == b && !memcmp(pa, pb, a), "token %d differs", id);
    }
    static int32_t i1[8192], i2[8192];
    size_t n1, n2;
    CHECK_OK(mn_tokenizer_encode(t, corpus, (size_t)n, i1, 8192, &n1));
    CHECK_OK(mn_tokenizer_encode(u, corpus, (size_t)n, i2, 8192, &n2));
    CHECK(n1 == n2 && !memcmp(i1, i2, n1 * sizeof(int32_t)), "encodings differ after load");
    CHECK(n1 < (size_t)n / 2, "the corpus should compress: %zu ids for %ld bytes", n1, n);
    /* writing the loaded tokenizer gives the same file */
    REQUIRE_OK(mn_tokenizer_save(u, path2));
    static char f1[1 << 17], f2[1 << 17];
    long l1 = mn_test_read_file(path, f1, sizeof f1), l2 = mn_test_read_file(path2, f2, sizeof f2);
    CHECK(l1 > 0 && l1 == l2 && !memcmp(f1, f2, (size_t)l1), "save(load(save(t))) differs");
    mn_tokenizer_free(u);
    mn_tokenizer_free(t);
}

TEST(bpe_refuses_bad_arguments) {
    mn_tokenizer *t = NULL;
    const char *s = "abc";
    size_t n = 3;
    CHECK(mn_tokenizer_train(&s, &n, 1, 255, &t) == MN_E_ARG && !t, "vocab 255 accepted");
    CHECK(strstr(mn_last_error(), "256"), "message: %s", mn_last_error());
    REQUIRE_OK(mn_tokenizer_train(&s, &n, 1, 1000, &t));
    CHECK(t->n_vocab == 256, "no pair occurs twice in \"abc\": no merges, got %d", t->n_vocab);
    int32_t ids[3] = {97, 300, 98};
    char out[8];
    size_t nb;
    CHECK(mn_tokenizer_decode(t, ids, 3, out, sizeof out, &nb) == MN_E_ARG, "id 300 decoded");
    CHECK(mn_tokenizer_decode(t, ids, 1, out, 0, &nb) == MN_E_ARG && nb == 1, "cap 0 accepted");
    size_t k;
    CHECK(mn_tokenizer_encode(t, "abc", 3, ids, 2, &k) == MN_E_ARG, "cap < n accepted");
    const char *missing[] = {"no/such/file.txt"};
    mn_tokenizer *u = NULL;
    CHECK(mn_tokenizer_train_files(missing, 1, 300, &u) == MN_E_INPUT && !u, "missing file");
    CHECK(mn_tokenizer_load("no/such/tok.json", &u) == MN_E_INPUT && !u, "missing file");
    mn_tokenizer_free(t);
}

/* ---------------------------------------------------------------- malformed files */

/* Appends the byte-level text of bytes s to sb. */
static void bl(mn_strbuf *sb, const char *s) {
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        unsigned cp = mn_bpe_byte_char(*p);
        if (cp < 0x80) mn_sb_printf(sb, "%s", cp == '"' ? "\\\"" : cp == '\\' ? "\\\\"
                                    : (char[2]){(char)cp, 0});
        else mn_sb_printf(sb, "%c%c", (char)(0xC0 | (cp >> 6)), (char)(0x80 | (cp & 0x3F)));
    }
}

/* A tokenizer.json of the 256 bytes plus "ab" (256) and "abc" (257), with merges
 * "a b", "ab c"; the edit hooks change one thing. */
typedef struct {
    const char *type, *pre, *merge0, *merge1, *extra_vocab;
    int id_of_a, skip_byte;
} spec;

static long make_json(const spec *sp, char *out, size_t cap) {
    mn_strbuf sb = {0};
    mn_sb_printf(&sb, "{\"pre_tokenizer\": %s, \"model\": {\"type\": \"%s\", \"vocab\": {",
                 sp->pre ? sp->pre : "{\"type\": \"ByteLevel\"}", sp->type ? sp->type : "BPE");
    for (int b = 0; b < 256; b++) {
        if (b == sp->skip_byte) continue;
        char one[2] = {(char)b, 0};
        mn_sb_printf(&sb, "\"");
        if (b == 0) mn_sb_printf(&sb, "\xc4\x80");   /* byte 0 is U+0100 */
        else bl(&sb, one);
        mn_sb_printf(&sb, "\": %d, ", b == 'a' && sp->id_of_a ? sp->id_of_a : b);
    }
    if (sp->skip_byte >= 0) mn_sb_printf(&sb, "\"xyz\": %d, ", sp->skip_byte);
    mn_sb_printf(&sb, "\"ab\": 256, \"abc\": 257%s}, \"merges\": [%s, %s]}}",
                 sp->extra_vocab ? sp->extra_vocab : "", sp->merge0 ? sp->merge0 : "\"a b\"",
                 sp->merge1 ? sp->merge1 : "\"ab c\"");
    long n = sb.failed || sb.len >= cap ? -1 : (long)sb.len;
    if (n > 0) memcpy(out, sb.data, sb.len);
    mn_sb_free(&sb);
    return n;
}

TEST(bpe_reads_tokenizer_json_and_refuses_malformed_files) {
    static char buf[1 << 15];
    mn_tokenizer *t = NULL;
    spec ok = {NULL, NULL, NULL, NULL, NULL, 0, -1};
    long n = make_json(&ok, buf, sizeof buf);
    REQUIRE(n > 0, "make_json");
    REQUIRE_OK(mn_bpe_read_json(buf, (size_t)n, "ok.json", &t));
    int32_t ids[4];
    size_t k;
    REQUIRE_OK(mn_tokenizer_encode(t, "abc", 3, ids, 4, &k));
    CHECK(k == 1 && ids[0] == 257, "\"abc\" should be one token, 257; got %zu ids", k);
    mn_tokenizer_free(t);
    /* merges as ["a", "b"] pairs, as newer tokenizers write them */
    spec pairs = ok;
    pairs.merge0 = "[\"a\", \"b\"]";
    pairs.merge1 = "[\"ab\", \"c\"]";
    n = make_json(&pairs, buf, sizeof buf);
    REQUIRE_OK(mn_bpe_read_json(buf, (size_t)n, "pairs.json", &t));
    CHECK(t->n_merges == 2 && t->merges[3] == 256 && t->merges[5] == 257, "pair merges");
    mn_tokenizer_free(t);

    static const struct {
        spec sp;
        const char *raw, *needle;
    } bad[] = {
        {{0}, "{\"model\": ", "invalid JSON"},
        {{0}, "{\"version\": \"1.0\"}", "no \"model\""},
        {{"WordPiece", NULL, NULL, NULL, NULL, 0, -1}, NULL, "other than \"BPE\""},
        {{NULL, "{\"type\": \"Whitespace\"}", NULL, NULL, NULL, 0, -1}, NULL, "not ByteLevel"},
        {{NULL, NULL, NULL, NULL, NULL, 98, -1}, NULL, "both have id 98"},
        {{NULL, NULL, NULL, NULL, NULL, 300, -1}, NULL, "not dense"},
        {{NULL, NULL, NULL, NULL, ", \"a b\": 258", 0, -1}, NULL, "stands for no byte"},
        {{NULL, NULL, "\"xy z\"", NULL, NULL, 0, -1}, NULL, "not a token"},
        {{NULL, NULL, "\"a z\"", NULL, NULL, 0, -1}, NULL, "not in the vocab"},
        {{NULL, NULL, "\"a  b\"", NULL, NULL, 0, -1}, NULL, "separated by one space"},
        {{NULL, NULL, "\"ab\"", NULL, NULL, 0, -1}, NULL, "separated by one space"},
        {{NULL, NULL, NULL, "\"a b\"", NULL, 0, -1}, NULL, "repeats merge 0"},
        {{NULL, NULL, "17", NULL, NULL, 0, -1}, NULL, "neither"},
        {{NULL, NULL, NULL, NULL, NULL, 0, 7}, NULL, "no token for the byte 0x07"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (bad[i].raw) {
            n = (long)strlen(bad[i].raw);
            memcpy(buf, bad[i].raw, (size_t)n);
        } else {
            n = make_json(&bad[i].sp, buf, sizeof buf);
        }
        t = NULL;
        mn_status s = mn_bpe_read_json(buf, (size_t)n, "bad.json", &t);
        CHECK(s == MN_E_INPUT && !t, "case %zu accepted (status %d)", i, (int)s);
        CHECK(strstr(mn_last_error(), bad[i].needle) && strstr(mn_last_error(), "bad.json"),
              "case %zu: message \"%s\" lacks \"%s\"", i, mn_last_error(), bad[i].needle);
        mn_tokenizer_free(t);
    }
}

/* Out of memory at every allocation of training, loading and encoding: the call fails
 * with MN_E_NOMEM (or, for the encoder's optional cache, goes on without it), hands out
 * nothing, and leaves no memory behind. */
TEST(bpe_out_of_memory_at_every_allocation) {
    long n = read_fixture("corpus.bin", (char *)corpus, sizeof corpus);
    REQUIRE(n > 0, "corpus");
    const char *c = (const char *)corpus;
    size_t len = (size_t)n;
    mn_tokenizer *good = NULL;
    REQUIRE_OK(mn_tokenizer_train(&c, &len, 1, 400, &good));
    char dir[512], path[1024];
    REQUIRE(mn_test_tmpdir(dir, sizeof dir, "bpe_oom"), "tmpdir");
    snprintf(path, sizeof path, "%s/tok.json", dir);
    REQUIRE_OK(mn_tokenizer_save(good, path));
    static int32_t want[8192], got[8192];
    size_t n_want, n_got;
    REQUIRE_OK(mn_tokenizer_encode(good, corpus, len, want, 8192, &n_want));
    int done[3] = {0, 0, 0};
    for (long k = 0; k < 20000 && !(done[0] && done[1] && done[2]); k++) {
        for (int what = 0; what < 3; what++) {
            if (done[what]) continue;
            size_t mem0 = mn_memory_in_use();
            mn_tokenizer *t = NULL;
            mn_status s;
            mn_test_fail_allocs_after(k);
            if (what == 0) s = mn_tokenizer_train(&c, &len, 1, 400, &t);
            else if (what == 1) s = mn_tokenizer_load(path, &t);
            else {
                s = MN_OK;
                mn_test_fail_allocs_after(-1);
                REQUIRE_OK(mn_tokenizer_load(path, &t));
                mem0 = mn_memory_in_use();
                mn_test_fail_allocs_after(k);
                mn_status e = mn_tokenizer_encode(t, corpus, len, got, 8192, &n_got);
                mn_test_fail_allocs_after(-1);
                CHECK(e == MN_OK || e == MN_E_NOMEM, "encode, allocation %ld: status %d", k,
                      (int)e);
                if (e == MN_OK) {
                    CHECK(n_got == n_want && !memcmp(got, want, n_want * sizeof(int32_t)),
                          "encode with allocation %ld failing gives other ids", k);
                    done[2] = t->cache != NULL;   /* every cache allocation got through */
                }
                mn_tokenizer_free(t);
                continue;
            }
            mn_test_fail_allocs_after(-1);
            if (s == MN_OK) {
                CHECK(t && t->n_merges == good->n_merges &&
                      !memcmp(t->merges, good->merges, sizeof(int32_t) * 3 * (size_t)good->n_merges),
                      "what %d: a success with allocation %ld failing differs", what, k);
                mn_tokenizer_free(t);
                done[what] = 1;
                continue;
            }
            CHECK(s == MN_E_NOMEM && !t, "what %d, allocation %ld: status %d (%s)", what, k,
                  (int)s, mn_last_error());
            CHECK(mn_memory_in_use() == mem0, "what %d, allocation %ld failing leaks %zu bytes",
                  what, k, mn_memory_in_use() - mem0);
        }
    }
    CHECK(done[0] && done[1] && done[2], "the calls never got through (%d %d %d)", done[0],
          done[1], done[2]);
    mn_tokenizer_free(good);
}
