/* Replays the fuzzers' seed corpora (fuzz/corpus/<harness>/) and every crash reproducer
 * kept in tests/fuzz_regressions/<harness>/ through the same checks the libFuzzer
 * harnesses run (fuzz/fuzz_checks.h), with the normal compiler and, under `make
 * sanitize`, the sanitizers. A seed named ok-* must parse, one named bad-* must be refused
 * with MN_E_INPUT; any other file (a reproducer) may do either but must keep every
 * promise the checks test. The file readers (mn_st_read, mn_array_load) must agree with
 * the in-memory parsers on every file. The args corpus is replayed through the mnemo
 * binary by tests/cli_fuzz_regressions_test.sh. Paths are relative to the repository
 * root, where the runner runs. */
#include "test.h"
#include "../fuzz/fuzz_checks.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>

#define CORPUS_DIR "fuzz/corpus"
#define REGRESSION_DIR "tests/fuzz_regressions"

typedef const char *(*check_fn)(const uint8_t *data, size_t len, mn_status *status);
typedef void (*file_fn)(const char *path, const char *name, mn_status parsed);

typedef struct { int files, ok, bad; } replay_counts;

static unsigned char *read_all(const char *path, size_t *len) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return NULL;
    size_t cap = 4096, n = 0;
    unsigned char *buf = malloc(cap);
    while (buf) {
        n += fread(buf + n, 1, cap - n, fp);
        if (n < cap) break;
        unsigned char *more = realloc(buf, cap * 2);
        if (!more) { free(buf); buf = NULL; break; }
        buf = more;
        cap *= 2;
    }
    int err = ferror(fp);
    fclose(fp);
    if (err) { free(buf); return NULL; }
    *len = n;
    return buf;
}

/* Runs every file in dir through check (and the reader check `more`); a folder that
 * does not exist counts as empty. */
static void replay_dir(const char *dir, check_fn check, file_fn more, replay_counts *c) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        size_t len = 0;
        unsigned char *data = read_all(path, &len);
        if (!data) { mn_test_fail(__FILE__, __LINE__, "%s: cannot read", path); continue; }
        mn_status s;
        const char *why = check(data, len, &s);
        free(data);
        c->files++;
        CHECK(why == NULL, "%s: %s (status %d: %s)", path, why ? why : "", (int)s,
              mn_last_error());
        if (!strncmp(e->d_name, "ok-", 3)) {
            c->ok++;
            CHECK(s == MN_OK, "%s: a valid seed was refused: %s", path, mn_last_error());
        } else if (!strncmp(e->d_name, "bad-", 4)) {
            c->bad++;
            CHECK(s == MN_E_INPUT, "%s: a malformed seed gave status %d, not MN_E_INPUT", path,
                  (int)s);
        }
        if (more) more(path, e->d_name, s);
    }
    closedir(d);
}

static void replay(const char *harness, check_fn check, file_fn more, replay_counts *seeds,
                   replay_counts *repro) {
    char dir[256];
    snprintf(dir, sizeof dir, "%s/%s", CORPUS_DIR, harness);
    replay_dir(dir, check, more, seeds);
    snprintf(dir, sizeof dir, "%s/%s", REGRESSION_DIR, harness);
    replay_dir(dir, check, more, repro);
}

/* mn_st_read on the file agrees with mn_st_parse; mnemo checkpoints load as models. */
static void safetensors_file(const char *path, const char *name, mn_status parsed) {
    mn_st_file *f = NULL;
    mn_status s = mn_st_read(path, &f);
    CHECK(s == parsed, "%s: mn_st_read gives %d but mn_st_parse %d (%s)", path, (int)s,
          (int)parsed, mn_last_error());
    mn_st_free(f);
    if (!strncmp(name, "ok-mnemo-", 9) && strstr(name, "checkpoint")) {
        mn_model *m = NULL;
        CHECK_OK(mn_model_load(path, &m));
        CHECK(!m || mn_model_param_count(m) > 0, "%s: loaded a model without parameters", path);
        mn_model_free(m);
    }
}

/* mn_array_load on the file agrees with mn_array_parse. */
static void npy_file(const char *path, const char *name, mn_status parsed) {
    (void)name;
    mn_array a;
    mn_status s = mn_array_load(path, &a);
    CHECK(s == parsed, "%s: mn_array_load gives %d but mn_array_parse %d (%s)", path, (int)s,
          (int)parsed, mn_last_error());
    if (!s) CHECK(a.data && (a.dtype == MN_ARRAY_F32 || a.dtype == MN_ARRAY_I32 || a.dtype == MN_ARRAY_I64),
                  "%s: loaded array without data", path);
    mn_array_free(&a);
}

TEST(fuzz_regressions_safetensors) {
    replay_counts seeds = { 0, 0, 0 }, repro = { 0, 0, 0 };
    replay("safetensors", fuzz_check_safetensors, safetensors_file, &seeds, &repro);
    /* The seeds must be there: an empty replay would pass without testing anything. */
    CHECK(seeds.files >= 20 && seeds.ok >= 5 && seeds.bad >= 10,
          "found %d seeds (%d ok-, %d bad-) in %s/safetensors; run from the repository root",
          seeds.files, seeds.ok, seeds.bad, CORPUS_DIR);
    mn_clear_error();
}

TEST(fuzz_regressions_npy) {
    replay_counts seeds = { 0, 0, 0 }, repro = { 0, 0, 0 };
    replay("npy", fuzz_check_npy, npy_file, &seeds, &repro);
    CHECK(seeds.files >= 20 && seeds.ok >= 5 && seeds.bad >= 10,
          "found %d seeds (%d ok-, %d bad-) in %s/npy; run from the repository root",
          seeds.files, seeds.ok, seeds.bad, CORPUS_DIR);
    mn_clear_error();
}

TEST(fuzz_regressions_bpe) {
    replay_counts seeds = { 0, 0, 0 }, repro = { 0, 0, 0 };
    replay("bpe", fuzz_check_bpe, NULL, &seeds, &repro);
    CHECK(seeds.files >= 15 && seeds.ok >= 6 && seeds.bad >= 10,
          "found %d seeds (%d ok-, %d bad-) in %s/bpe; run from the repository root",
          seeds.files, seeds.ok, seeds.bad, CORPUS_DIR);
    mn_clear_error();
}

TEST(fuzz_regressions_fasta) {
    replay_counts seeds = { 0, 0, 0 }, repro = { 0, 0, 0 };
    replay("fasta", fuzz_check_fasta, NULL, &seeds, &repro);
    CHECK(seeds.files >= 8 && seeds.ok >= 3 && seeds.bad >= 4,
          "found %d seeds (%d ok-, %d bad-) in %s/fasta; run from the repository root",
          seeds.files, seeds.ok, seeds.bad, CORPUS_DIR);
    mn_clear_error();
}

TEST(fuzz_regressions_idx) {
    replay_counts seeds = { 0, 0, 0 }, repro = { 0, 0, 0 };
    replay("idx", fuzz_check_idx, NULL, &seeds, &repro);
    CHECK(seeds.files >= 8 && seeds.ok >= 3 && seeds.bad >= 4,
          "found %d seeds (%d ok-, %d bad-) in %s/idx; run from the repository root",
          seeds.files, seeds.ok, seeds.bad, CORPUS_DIR);
    mn_clear_error();
}

/* The checks themselves must be able to fail: a walk over a file that breaks the
 * promises (built by hand here, not by the parser) is reported. */
TEST(fuzz_checks_can_fail) {
    static const unsigned char npy_ok[] =
        "\x93NUMPY\x01\x00\x37\x00{'descr': '<f4', 'fortran_order': False, 'shape': (), }"
        "\x00\x00\x80\x3f";
    mn_status s;
    size_t len = sizeof npy_ok - 1;
    CHECK(fuzz_check_npy(npy_ok, len, &s) == NULL && s == MN_OK, "valid scalar .npy: %d %s",
          (int)s, mn_last_error());
    CHECK(fuzz_check_npy(npy_ok, len - 1, &s) == NULL && s == MN_E_INPUT,
          "truncated .npy must be refused: %d", (int)s);
    CHECK(fuzz_check_safetensors((const uint8_t *)"\x02\0\0\0\0\0\0\0{}", 10, &s) == NULL &&
          s == MN_OK, "empty safetensors header: %d %s", (int)s, mn_last_error());
    CHECK(fuzz_check_safetensors((const uint8_t *)"\x03\0\0\0\0\0\0\0{}", 10, &s) == NULL &&
          s == MN_E_INPUT, "header past the end must be refused: %d", (int)s);
    /* A failure that leaves no message is what the checks exist to catch. */
    mn_clear_error();
    CHECK(fuzz_check_message() != NULL, "an empty error message passed the check");
}
