/* lab bpe-distance: distances counted by hand on a small text (characters, not bytes), and
 * the generated text's verdict. */
#include "test.h"

#include <string.h>

static double figure(const mn_lab_result *r, const char *name) {
    for (int i = 0; i < r->n_numbers; i++)
        if (!strcmp(r->numbers[i].name, name)) return r->numbers[i].value;
    return NAN;
}

TEST(lab_bpe_distance_by_hand) {
    char dir[256], path[512];
    REQUIRE(mn_test_tmpdir(dir, sizeof dir, "labbpe"), "tmpdir");
    snprintf(path, sizeof path, "%s/t.txt", dir);
    /* bytes: aa@0 bb@3 aa@6 (@9 x@10 )@11 bb@13 é@16 é@19; in characters the second é is
     * at 18 (the first é is one character) */
    const char *text = "aa bb aa (x) bb \xC3\xA9 \xC3\xA9";
    REQUIRE(mn_test_write_file(path, text, strlen(text)), "write");
    mn_lab_options o;
    mn_lab_options_init(&o);
    o.text = path;
    static mn_lab_result r;
    REQUIRE_OK(mn_lab_run("bpe-distance", &o, &r));
    /* words: aa 0->6 (6), bb 3->13 (10), é 16->18 in characters (2; 3 bytes) */
    CHECK(figure(&r, "pairs_words") == 3, "word pairs %g", figure(&r, "pairs_words"));
    CHECK(fabs(figure(&r, "word_chars") - 6.0) < 1e-12, "word distance %g chars, want 6",
          figure(&r, "word_chars"));
    CHECK(figure(&r, "pairs_brackets") == 1 && figure(&r, "bracket_chars") == 2,
          "brackets: %g pairs, %g chars", figure(&r, "pairs_brackets"),
          figure(&r, "bracket_chars"));
    /* bytes as tokens: é's distance is 3 bytes */
    CHECK(fabs(figure(&r, "word_tokens_256") - 19.0 / 3) < 1e-9, "byte distance %g, want 19/3",
          figure(&r, "word_tokens_256"));
    CHECK(figure(&r, "chars_per_token_256") < 1, "bytes per char above 1 with é");
}

TEST(lab_bpe_distance_generated_passes) {
    mn_lab_options o;
    mn_lab_options_init(&o);
    static mn_lab_result r;
    REQUIRE_OK(mn_lab_run("bpe-distance", &o, &r));
    CHECK(r.applies && r.pass, "bpe-distance: %s", r.report);
    CHECK(figure(&r, "chars_per_token_1024") > 2, "1024 tokens: %g chars per token",
          figure(&r, "chars_per_token_1024"));
    CHECK(figure(&r, "all_tokens_4096") < figure(&r, "all_tokens_512") &&
          figure(&r, "all_tokens_512") < figure(&r, "all_tokens_256"), "not shrinking");
    CHECK(fabs(figure(&r, "all_tokens_256") - figure(&r, "all_chars")) < 1e-9,
          "an ASCII text: bytes are characters");
    o.text = "no/such/file.txt";
    CHECK(mn_lab_run("bpe-distance", &o, &r) == MN_E_INPUT, "a missing text");
}
