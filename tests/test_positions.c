/* Absolute positions (src/layers/positions.c): the sinusoidal table against PyTorch's
 * tutorial PositionalEncoding (tools/gen_fixtures_transformer.py), and learned positions'
 * table limit. Gradients: the registry loop in tests/test_gradcheck.c. */
#include "test.h"
#include "layer_check.h"
#include "registry.h"
#include "safetensors.h"

#include <stdlib.h>
#include <string.h>

static mn_layer *positions(const char *kind, int D, int max_len) {
    mn_block_config b = {.max_len = max_len};
    snprintf(b.kind, sizeof b.kind, "%s", kind);
    return mn_layer_kind_find(kind)->create(&b, D, 0);
}

TEST(positions_sinusoidal_match_pytorch_tutorial) {
    char path[512];
    snprintf(path, sizeof path, "%s/sin_positions.safetensors", mn_test_fixture_dir());
    mn_st_file *f;
    REQUIRE_OK(mn_st_read(path, &f));
    const mn_st_tensor *pe = mn_st_find(f, "pe");
    REQUIRE(pe && pe->ndim == 2, "fixture has no pe [T, D]");
    int T = (int)pe->shape[0], D = (int)pe->shape[1], B = 2;
    mn_layer *l = positions("sin-positions", D, 0);
    REQUIRE(l, "create: %s", mn_last_error());
    float *x = calloc((size_t)T * B * D, sizeof(float)), *y = malloc((size_t)T * B * D * 4);
    float *got = malloc((size_t)T * D * sizeof(float));
    /* a first, shorter pass: the table grows for the longer one */
    CHECK_OK(l->ops->forward(l, x, y, 7, B, NULL));
    CHECK_OK(l->ops->forward(l, x, y, T, B, NULL));
    for (int t = 0; t < T; t++) memcpy(got + (size_t)t * D, y + ((size_t)t * B + 1) * D, (size_t)D * 4);
    mn_check_against("sin_positions", "pe", got, pe, (size_t)T * D, 1e-5);
    mn_layer_destroy(l);
    mn_st_free(f);
    free(x); free(y); free(got);
}

TEST(positions_learned_refuse_longer_sequences_than_their_table) {
    mn_layer *l = positions("learned-positions", 3, 4);
    REQUIRE(l, "create: %s", mn_last_error());
    CHECK(l->param_count == 12, "table of %zu values, want 4 x 3", l->param_count);
    float x[5 * 3] = {0}, y[5 * 3];
    l->params = calloc(l->param_count, sizeof(float));
    l->grads = calloc(l->param_count, sizeof(float));
    CHECK(l->ops->forward(l, x, y, 5, 1, NULL) == MN_E_ARG, "5 steps through a 4-row table");
    CHECK(strstr(mn_last_error(), "max-len=5") != NULL, "message: %s", mn_last_error());
    CHECK_OK(l->ops->forward(l, x, y, 4, 1, NULL));
    free(l->params); free(l->grads);
    mn_layer_destroy(l);
}
