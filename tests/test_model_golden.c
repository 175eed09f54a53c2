/* Whole models against PyTorch (fixtures by tools/gen_fixtures_model.py), and the
 * bidirectional summary: with output at the last step, a bidirectional last block is read
 * as its forward state at each sequence's last real step joined with its reverse state at
 * step 0, PyTorch's torch.cat([h_n[-2], h_n[-1]], 1). */
#include "test.h"
#include "layer_check.h"
#include "model.h"
#include "safetensors.h"

#include <stdlib.h>
#include <string.h>

static int meta(const mn_st_file *f, const char *key) {
    const char *v = mn_st_meta(f, key);
    return v ? atoi(v) : -1;
}

static void run_fixture(const char *name) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s.safetensors", mn_test_fixture_dir(), name);
    mn_st_file *f = NULL;
    REQUIRE_OK(mn_st_read(path, &f));
    int T = meta(f, "T"), B = meta(f, "B"), I = meta(f, "input"), O = meta(f, "output");
    mn_model_config c;
    mn_model_config_init(&c);
    mn_model *m = NULL;
    float *x = NULL, *target = NULL;
    int32_t *lengths = NULL;
    if (mn_cell_parse(mn_st_meta(f, "cell"), &c.cell) != MN_OK) {
        mn_test_fail(__FILE__, __LINE__, "%s: %s", name, mn_last_error());
        goto out;
    }
    c.input_size = I;
    c.hidden_size = meta(f, "hidden");
    c.num_layers = meta(f, "layers");
    c.bidirectional = 1;
    c.output_size = O;
    if (mn_model_create(&c, 1, &m) != MN_OK) {
        mn_test_fail(__FILE__, __LINE__, "%s: %s", name, mn_last_error());
        goto out;
    }
    for (int i = 0; i < mn_model_tensor_count(m); i++) {
        const char *tn;
        const int *shape;
        int ndim;
        float *data;
        mn_model_tensor(m, i, &tn, &ndim, &shape, &data, NULL);
        const mn_st_tensor *t = mn_st_find(f, tn);
        if (!t || t->numel != m->tensors[i].size) {
            mn_test_fail(__FILE__, __LINE__, "%s: tensor %s missing or of another size", name, tn);
            goto out;
        }
        memcpy(data, t->data, t->nbytes);
    }
    const mn_st_tensor *xt = mn_st_find(f, "x"), *lt = mn_st_find(f, "lengths"),
                       *tt = mn_st_find(f, "target");
    x = malloc(xt->nbytes);
    target = malloc(tt->nbytes);
    lengths = malloc(lt->nbytes);
    memcpy(x, xt->data, xt->nbytes);
    memcpy(target, tt->data, tt->nbytes);
    memcpy(lengths, lt->data, lt->nbytes);
    mn_batch b = {.T = T, .B = B, .input_size = I, .x = x, .lengths = lengths,
                  .output_size = O, .target = target};
    const float *y;
    CHECK_OK(mn_model_forward(m, &b, &y));
    /* relative error against max(|ref|, 1% of the tensor's scale), as test_golden.c */
    double e = mn_check_rel_error(y, mn_st_find(f, "y"), (size_t)B * O);
    CHECK(e <= 1e-4, "%s: output differs from PyTorch's cat(h_n[-2], h_n[-1]) head (relative "
          "error %.3g)", name, e);
    double loss;
    REQUIRE_OK(mn_model_gradients(m, &b, &loss));
    float ref_loss;
    memcpy(&ref_loss, mn_st_find(f, "loss")->data, sizeof ref_loss);
    CHECK(fabs(loss - ref_loss) <= 1e-5 * fmax(1.0, fabs(ref_loss)), "%s: loss %.9g, PyTorch %.9g",
          name, loss, (double)ref_loss);
    for (int i = 0; i < m->ntensors; i++) {
        char gname[160];
        snprintf(gname, sizeof gname, "grad.%s", m->tensors[i].name);
        const mn_st_tensor *g = mn_st_find(f, gname);
        if (!g) { mn_test_fail(__FILE__, __LINE__, "%s: no %s", name, gname); continue; }
        double ge = mn_check_rel_error(m->grads + m->tensors[i].offset, g, m->tensors[i].size);
        CHECK(ge <= 1e-4, "%s: %s relative error %.3g", name, gname, ge);
    }
out:
    free(x);
    free(target);
    free(lengths);
    mn_model_free(m);
    mn_st_free(f);
}

TEST(golden_bidirectional_summary_lstm) { run_fixture("bidir_summary_lstm"); }
TEST(golden_bidirectional_summary_gru) { run_fixture("bidir_summary_gru"); }

/* With the head reading only the reverse half, the output must still depend on the first
 * input: the reverse state at step 0 has read the whole sequence. (Read at the last step,
 * the reverse half has seen only the last input, and this output would not move.) */
TEST(bidirectional_summary_sees_the_first_input) {
    mn_model_config c;
    mn_model_config_init(&c);
    c.cell = MN_GRU;
    c.input_size = 2;
    c.hidden_size = 4;
    c.bidirectional = 1;
    mn_model *m;
    REQUIRE_OK(mn_model_create(&c, 3, &m));
    float *W = m->head->params;          /* head weight [1, 8]: zero the forward half */
    for (int j = 0; j < 4; j++) W[j] = 0;
    enum { T = 7, B = 2 };
    float x[T * B * 2], target[B] = {0, 0};
    int32_t lengths[B] = {T, 5};
    mn_rng r;
    mn_rng_seed(&r, 9);
    for (int i = 0; i < T * B * 2; i++) x[i] = mn_rng_uniform_range(&r, -1, 1);
    mn_batch b = {.T = T, .B = B, .input_size = 2, .x = x, .lengths = lengths,
                  .output_size = 1, .target = target};
    const float *y;
    float before[B];
    REQUIRE_OK(mn_model_forward(m, &b, &y));
    memcpy(before, y, sizeof before);
    for (int i = 0; i < B * 2; i++) x[i] += 0.5f;   /* step 0 of both sequences */
    REQUIRE_OK(mn_model_forward(m, &b, &y));
    for (int i = 0; i < B; i++)
        CHECK(fabs(y[i] - before[i]) > 1e-4, "sequence %d: changing step 0 left the output at "
              "%.7g", i, (double)y[i]);
    mn_model_free(m);
}
