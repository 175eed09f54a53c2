/* mn_task_from_data: the fasta and idx readers on small files written here, valid and
 * malformed; every refusal names the file (and for FASTA the line and column). */
#include "test.h"
#include "mnemo.h"
#include "data.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void remove_all(const char *dir) {
    DIR *d = opendir(dir);
    struct dirent *e;
    char p[600];
    while (d && (e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            remove(p);
        }
    if (d) closedir(d);
    rmdir(dir);
}

static int has(const char *s) { return strstr(mn_last_error(), s) != NULL; }

static int put(const char *dir, const char *name, const char *text, char *path, size_t cap) {
    snprintf(path, cap, "%s/%s", dir, name);
    return mn_test_write_file(path, text, strlen(text));
}

static mn_status open_data(const char *spec, int T, double vf, const char *valid,
                           const char *labels, int permute, const char *state, uint64_t seed,
                           mn_task **t) {
    mn_data_options o;
    mn_data_options_init(&o);
    o.length = T;
    o.valid_fraction = vf;
    o.valid_spec = valid;
    o.labels = labels;
    o.permute = permute;
    o.state = state;
    return mn_task_from_data(spec, &o, seed, t);
}

/* ------------------------------------------------------------------- fasta */

TEST(data_fasta_stream_and_unigram_baseline) {
    char dir[256], a[300], v[300], spec[320], vspec[320];
    REQUIRE(mn_test_tmpdir(dir, sizeof dir, "fasta"), "mkdtemp failed");
    /* lower case, CRLF, a blank line and wrapped lines: tokens S A C G T S A A C C */
    REQUIRE(put(dir, "a.fa", ">x first\r\nac\r\nGT\r\n\r\n>y\nAA\n cc \n", a, sizeof a), "write");
    REQUIRE(put(dir, "v.fa", ">v\nACGN\n", v, sizeof v), "write");
    snprintf(spec, sizeof spec, "fasta:%s", a);
    snprintf(vspec, sizeof vspec, "fasta:%s", v);
    mn_task *t = NULL;
    REQUIRE_OK(open_data(spec, 2, -1, vspec, NULL, 0, NULL, 3, &t));
    const mn_task_info *in = mn_task_get_info(t);
    CHECK(in->vocab_size == 18 && in->output == MN_OUTPUT_EVERY && in->max_steps == 2,
          "a nucleotide stream: vocab %d", in->vocab_size);
    CHECK(in->data_state && !strcmp(in->data_state, "nucleotide"), "the alphabet is stated");
    /* labels of the training part: A C G T S A A C C: A 3, C 3, G, T, S 1 each of 9 */
    double H = -(2 * (3 / 9.0) * log(3 / 9.0) + 3 * (1 / 9.0) * log(1 / 9.0));
    CHECK(fabs(in->baseline_loss - H) < 1e-12, "unigram baseline %.15g, by hand %.15g",
          in->baseline_loss, H);
    /* evaluation: S A C G N scored, 4 of them bases */
    CHECK(fabs(in->tokens_per_char - 5 / 4.0) < 1e-12 && in->tokens_per_byte == 0,
          "tokens per base %g", in->tokens_per_char);
    CHECK(in->eval_sequences == 3, "eval windows %d", in->eval_sequences);
    mn_task_use_heldout(t);
    const mn_batch *b;
    REQUIRE_OK(mn_task_next(t, 1, &b));
    /* the window before the first evaluation token: C (of the last training record), then
     * the separator; labels: separator, A (ids: S 0, A 1, C 2, G 3, T 4, N 5) */
    CHECK(b->tokens[0] == 2 && b->tokens[1] == 0 && b->labels[0] == 0 && b->labels[1] == 1,
          "first evaluation window %d %d -> %d %d", b->tokens[0], b->tokens[1], b->labels[0],
          b->labels[1]);
    mn_task_free(t);

    /* a residue outside the alphabet the training files set */
    REQUIRE(put(dir, "w.fa", ">w\nACGT\nACEG\n", v, sizeof v), "write");
    snprintf(vspec, sizeof vspec, "fasta:%s", v);
    CHECK(open_data(spec, 2, -1, vspec, NULL, 0, NULL, 3, &t) == MN_E_INPUT && !t &&
          has("w.fa:3:3") && has("nucleotide"), "E in nucleotide validation data: %s",
          mn_last_error());
    /* the recorded alphabet is kept: a protein state reads the same file as protein */
    REQUIRE_OK(open_data(spec, 2, 0.3, NULL, NULL, 0, "protein", 3, &t));
    CHECK(mn_task_get_info(t)->vocab_size == 29, "protein vocabulary from the state");
    mn_task_free(t);
    remove_all(dir);
}

TEST(data_fasta_protein_detected) {
    char dir[256], a[300], spec[320];
    REQUIRE(mn_test_tmpdir(dir, sizeof dir, "fasta"), "mkdtemp failed");
    REQUIRE(put(dir, "p.fa", ">p1\nMKVLAAGIVG\nLLLAQ*\n>p2\nmkeeW-x\n", a, sizeof a), "write");
    snprintf(spec, sizeof spec, "fasta:%s", a);
    mn_task *t = NULL;
    REQUIRE_OK(open_data(spec, 4, 0.2, NULL, NULL, 0, NULL, 1, &t));
    const mn_task_info *in = mn_task_get_info(t);
    CHECK(in->vocab_size == 29 && !strcmp(in->data_state, "protein"), "protein: vocab %d",
          in->vocab_size);
    mn_task_free(t);
    remove_all(dir);
}

TEST(data_fasta_malformed_one_line_each) {
    char dir[256], a[300], l[300], spec[320];
    REQUIRE(mn_test_tmpdir(dir, sizeof dir, "fasta"), "mkdtemp failed");
    static const struct {
        const char *text, *want;
    } bad[] = {
        {"ACGT\n>x\nAC\n", "bad.fa:1: a sequence line before any header"},
        {">x\nAC1T\n", "bad.fa:2:3: byte 0x31 ('1')"},
        {">x\nAC\xC3\xA9T\n", "bad.fa:2:3: byte 0xc3"},
        {">x\n>y\nACGT\n", "bad.fa:1: the record has no sequence"},
        {">x\nACGT\n>y\n\n", "bad.fa:3: the record has no sequence"},
        {"\n\n", "holds no record"},
        {"", "is empty"},
    };
    mn_task *t = NULL;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        REQUIRE(put(dir, "bad.fa", bad[i].text, a, sizeof a), "write");
        snprintf(spec, sizeof spec, "fasta:%s", a);
        mn_status s = open_data(spec, 2, 0.5, NULL, NULL, 0, NULL, 1, &t);
        CHECK(s == MN_E_INPUT && !t && has(bad[i].want) && !strchr(mn_last_error(), '\n'),
              "case %zu: status %d, \"%s\"", i, (int)s, mn_last_error());
    }
    REQUIRE(put(dir, "ok.fa", ">x\nACGT\n>y\nAC\n>z\nGG\n", a, sizeof a), "write");
    REQUIRE(put(dir, "l.txt", "a\nb\n", l, sizeof l), "write");
    snprintf(spec, sizeof spec, "fasta:%s", a);
    CHECK(open_data(spec, 0, 0.4, NULL, l, 0, NULL, 1, &t) == MN_E_INPUT && !t &&
          has("l.txt") && has("2 labels") && has("3 records"), "label count: %s",
          mn_last_error());
    CHECK(open_data(spec, 0, 0.4, NULL, NULL, 0, NULL, 1, &t) == MN_E_ARG && !t,
          "a window length is needed without labels");
    remove_all(dir);
}

TEST(data_fasta_labels_classify_records) {
    char dir[256], a[300], l[300], spec[320];
    REQUIRE(mn_test_tmpdir(dir, sizeof dir, "fasta"), "mkdtemp failed");
    REQUIRE(put(dir, "a.fa", ">1\nACGT\n>2\nAC\n>3\nGGGTT\n>4\nT\n", a, sizeof a), "write");
    REQUIRE(put(dir, "l.txt", "virus\r\nhost\n\nvirus\nplasmid\n", l, sizeof l), "write");
    snprintf(spec, sizeof spec, "fasta:%s", a);
    mn_task *t = NULL;
    REQUIRE_OK(open_data(spec, 0, 0, NULL, l, 0, NULL, 1, &t));
    const mn_task_info *in = mn_task_get_info(t);
    CHECK(in->output == MN_OUTPUT_LAST && in->output_size == 3 && in->max_steps == 5 &&
          in->vocab_size == 18, "classes %d, T %d", in->output_size, in->max_steps);
    /* nothing held out: the evaluation set is every record, in order */
    mn_task_use_heldout(t);
    const mn_batch *b;
    REQUIRE_OK(mn_task_next(t, 4, &b));
    static const int32_t want_len[4] = {4, 2, 5, 1};
    int ok = 1;
    int seen[4] = {0};
    for (int i = 0; i < 4; i++) {
        int L = b->lengths[i], k = L == 4 ? 0 : L == 2 ? 1 : L == 5 ? 2 : 3;
        seen[k]++;
        ok &= b->labels[i] == (k == 0 || k == 2 ? 0 : k == 1 ? 1 : 2) && want_len[k] == L;
    }
    CHECK(ok && seen[0] == 1 && seen[1] == 1 && seen[2] == 1 && seen[3] == 1,
          "labels in order of first appearance, lengths kept");
    mn_task_free(t);
    /* whole numbers are the classes themselves */
    REQUIRE(put(dir, "n.txt", "0\n4\n0\n1\n", l, sizeof l), "write");
    REQUIRE_OK(open_data(spec, 0, 0.25, NULL, l, 0, NULL, 1, &t));
    CHECK(mn_task_get_info(t)->output_size == 5, "numeric labels: %d classes",
          mn_task_get_info(t)->output_size);
    mn_task_free(t);
    remove_all(dir);
}

/* ------------------------------------------------------------------- idx */

static size_t idx_bytes(unsigned char *p, int ndim, const uint32_t *dims, const unsigned char *body,
                        size_t n) {
    p[0] = p[1] = 0;
    p[2] = 8;
    p[3] = (unsigned char)ndim;
    for (int k = 0; k < ndim; k++)
        for (int j = 0; j < 4; j++) p[4 + 4 * k + j] = (unsigned char)(dims[k] >> (24 - 8 * j));
    memcpy(p + 4 + 4 * ndim, body, n);
    return 4 + 4 * (size_t)ndim + n;
}

/* N images of 2x3, pixel values n*6 + p; labels n % 3 */
static void write_pair(const char *dir, const char *tag, int N, char *ip, char *lp, size_t cap) {
    unsigned char buf[16 + 6 * 64], px[6 * 64], lb[64];
    for (int i = 0; i < N * 6; i++) px[i] = (unsigned char)i;
    for (int i = 0; i < N; i++) lb[i] = (unsigned char)(i % 3);
    uint32_t d[3] = {(uint32_t)N, 2, 3};
    snprintf(ip, cap, "%s/%s-images", dir, tag);
    snprintf(lp, cap, "%s/%s-labels", dir, tag);
    mn_test_write_file(ip, buf, idx_bytes(buf, 3, d, px, (size_t)N * 6));
    mn_test_write_file(lp, buf, idx_bytes(buf, 1, d, lb, (size_t)N));
}

TEST(data_idx_pixels_labels_and_permutation) {
    char dir[256], ip[300], lp[300], vi[300], vl[300], spec[640], vspec[640];
    REQUIRE(mn_test_tmpdir(dir, sizeof dir, "idx"), "mkdtemp failed");
    write_pair(dir, "train", 12, ip, lp, sizeof ip);
    write_pair(dir, "test", 4, vi, vl, sizeof vi);
    snprintf(spec, sizeof spec, "idx:%s,%s", ip, lp);
    snprintf(vspec, sizeof vspec, "idx:%s,%s", vi, vl);
    mn_task *t = NULL;
    REQUIRE_OK(open_data(spec, 0, -1, vspec, NULL, 0, NULL, 5, &t));
    const mn_task_info *in = mn_task_get_info(t);
    CHECK(in->max_steps == 6 && in->input_size == 1 && in->output_size == 3 &&
          in->output == MN_OUTPUT_LAST && in->eval_sequences == 4 && !in->data_state,
          "sequential pixels: T %d, classes %d", in->max_steps, in->output_size);
    mn_task_use_heldout(t);
    const mn_batch *b;
    REQUIRE_OK(mn_task_next(t, 4, &b));
    int ok = 1;
    for (int n = 0; n < 4; n++) {
        ok &= b->labels[n] == n % 3;
        for (int s = 0; s < 6; s++) ok &= b->x[s * 4 + n] == (float)(n * 6 + s) / 255.0f;
    }
    CHECK(ok, "the test images in order, pixel/255 row by row");
    mn_task_free(t);

    /* --permute: one permutation of the 6 pixels, recorded; a rebuild from the record with
     * another seed reads the same order */
    float first[2][24];
    for (int pass = 0; pass < 2; pass++) {
        REQUIRE_OK(open_data(spec, 0, -1, vspec, NULL, !pass, pass ? "permute=5" : NULL,
                             pass ? 99 : 5, &t));
        in = mn_task_get_info(t);
        CHECK(in->data_state && !strcmp(in->data_state, "permute=5"), "state %s",
              in->data_state ? in->data_state : "(none)");
        mn_task *c = NULL;   /* a clone keeps its own copy of the state */
        REQUIRE_OK(mn_task_clone(t, &c));
        mn_task_free(t);
        CHECK(!strcmp(mn_task_get_info(c)->data_state, "permute=5"), "the clone's state");
        mn_task_use_heldout(c);
        REQUIRE_OK(mn_task_next(c, 4, &b));
        memcpy(first[pass], b->x, sizeof first[pass]);
        mn_task_free(c);
    }
    int moved = 0, perm = 1;
    for (int n = 0; n < 4; n++) {
        int hit[6] = {0};
        for (int s = 0; s < 6; s++) {
            int p = (int)lroundf(first[0][s * 4 + n] * 255.0f) - n * 6;
            perm &= p >= 0 && p < 6 && !hit[p]++;
            moved += p != s;
        }
    }
    CHECK(perm && moved > 0, "the pixels are permuted (%d moved)", moved);
    CHECK(!memcmp(first[0], first[1], sizeof first[0]), "the recorded permutation is reused");
    CHECK(open_data(spec, 0, -1, vspec, NULL, 0, "permute=x", 5, &t) == MN_E_INPUT && !t,
          "a malformed record: %s", mn_last_error());
    remove_all(dir);
}

TEST(data_idx_malformed_one_line_each) {
    char dir[256], ip[300], lp[300], bp[300], spec[640];
    REQUIRE(mn_test_tmpdir(dir, sizeof dir, "idx"), "mkdtemp failed");
    write_pair(dir, "ok", 5, ip, lp, sizeof ip);
    unsigned char buf[128], px[64] = {0};
    uint32_t d3[3] = {5, 2, 3}, d2[2] = {5, 6}, d1[1] = {5};
    snprintf(bp, sizeof bp, "%s/bad", dir);
    mn_task *t = NULL;
    /* wrong magic, truncated, too long, label dims != 1, count mismatch, image dims != 3 */
    for (int c = 0; c < 6; c++) {
        size_t n = 0;
        const char *want = "";
        int lab = 0;
        switch (c) {
        case 0: n = idx_bytes(buf, 3, d3, px, 30); buf[2] = 9; want = "magic 0x00000903"; break;
        case 1: n = idx_bytes(buf, 3, d3, px, 29); want = "is truncated"; break;
        case 2: n = idx_bytes(buf, 3, d3, px, 31); want = "more bytes than its dimensions"; break;
        case 3: n = idx_bytes(buf, 2, d2, px, 30); lab = 1; want = "has 2 dimensions"; break;
        case 4: d1[0] = 4; n = idx_bytes(buf, 1, d1, px, 4); lab = 1;
                want = "5 images"; break;
        case 5: n = idx_bytes(buf, 2, d2, px, 30); want = "has 2 dimensions"; break;
        }
        REQUIRE(mn_test_write_file(bp, buf, n), "write");
        snprintf(spec, sizeof spec, "idx:%s,%s", lab ? ip : bp, lab ? bp : lp);
        mn_status s = open_data(spec, 0, 0.2, NULL, NULL, 0, NULL, 1, &t);
        CHECK(s == MN_E_INPUT && !t && has(want) && has("bad") && !strchr(mn_last_error(), '\n'),
              "case %d: status %d, \"%s\"", c, (int)s, mn_last_error());
    }
    remove_all(dir);
}

/* A gzip file through zlib when the build has it; the refusal's line in every build. */
TEST(data_idx_gzip_or_refusal) {
    char dir[256], ip[300], lp[300], gp[300], spec[640];
    REQUIRE(mn_test_tmpdir(dir, sizeof dir, "idx"), "mkdtemp failed");
    write_pair(dir, "ok", 5, ip, lp, sizeof ip);
    snprintf(gp, sizeof gp, "%s/images.bin", dir);   /* told by its bytes, not its name */
    /* a gzip member holding the images, stored (deflate block type 0), made by hand so the
     * test needs no zlib: header, one stored block, crc32 and size */
    unsigned char raw[64], gz[128];
    uint32_t d[3] = {5, 2, 3};
    unsigned char px[30];
    for (int i = 0; i < 30; i++) px[i] = (unsigned char)i;
    size_t n = idx_bytes(raw, 3, d, px, 30), k = 0;
    static const unsigned char head[10] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3};
    memcpy(gz, head, 10);
    k = 10;
    gz[k++] = 1;   /* BFINAL, stored */
    gz[k++] = (unsigned char)n, gz[k++] = 0, gz[k++] = (unsigned char)~n, gz[k++] = 0xff;
    memcpy(gz + k, raw, n);
    k += n;
    uint32_t crc = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        crc ^= raw[i];
        for (int b = 0; b < 8; b++) crc = crc & 1 ? (crc >> 1) ^ 0xEDB88320u : crc >> 1;
    }
    crc = ~crc;
    for (int b = 0; b < 4; b++) gz[k++] = (unsigned char)(crc >> (8 * b));
    for (int b = 0; b < 4; b++) gz[k++] = (unsigned char)(n >> (8 * b));
    REQUIRE(mn_test_write_file(gp, gz, k), "write");
    snprintf(spec, sizeof spec, "idx:%s,%s", gp, lp);
    mn_task *t = NULL;
    if (mn_data_zlib_available()) {
        REQUIRE_OK(open_data(spec, 0, 0.2, NULL, NULL, 0, NULL, 1, &t));
        CHECK(mn_task_get_info(t)->max_steps == 6, "the gzip images read");
        mn_task_free(t);
        /* cut short: refused as truncated */
        REQUIRE(mn_test_write_file(gp, gz, k - 20), "write");
        CHECK(open_data(spec, 0, 0.2, NULL, NULL, 0, NULL, 1, &t) == MN_E_INPUT && !t &&
              has("truncated"), "a cut gzip file: %s", mn_last_error());
        REQUIRE(mn_test_write_file(gp, gz, k), "write");
    }
    int was = mn_data_pretend_no_zlib;
    mn_data_pretend_no_zlib = 1;
    mn_status s = open_data(spec, 0, 0.2, NULL, NULL, 0, NULL, 1, &t);
    mn_data_pretend_no_zlib = was;
    CHECK(s == MN_E_INPUT && !t && has("images.bin\" is gzip-compressed and this mnemo was "
          "built without zlib: gunzip it, or install zlib1g-dev and rebuild"),
          "the refusal without zlib: %s", mn_last_error());
    remove_all(dir);
}
