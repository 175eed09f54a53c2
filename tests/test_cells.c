/* The newer recurrent cells beyond gradients and goldens (test_gradcheck.c,
 * test_golden.c): initialization of the gated residual cell and what it shows the
 * diagnostics. */
#include "test.h"
#include "layer.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    mn_layer *l;
    float *params, *grads;
} owned_layer;

static int own(owned_layer *o, mn_layer *l) {
    o->l = l;
    o->params = l ? calloc(l->param_count, sizeof(float)) : NULL;
    o->grads = l ? calloc(l->param_count, sizeof(float)) : NULL;
    if (!o->params || !o->grads) return 0;
    l->params = o->params;
    l->grads = o->grads;
    return 1;
}

static void disown(owned_layer *o) {
    mn_layer_destroy(o->l);
    free(o->params);
    free(o->grads);
}

static float *param(mn_layer *l, const char *name) {
    for (int i = 0; i < l->nspecs; i++)
        if (!strcmp(l->specs[i].name, name)) return l->params + l->specs[i].offset;
    return NULL;
}

TEST(cells_gated_init_forget_bias_and_chrono) {
    enum { H = 6 };
    owned_layer o;
    REQUIRE(own(&o, mn_recurrent_create(MN_GATED_RESIDUAL, 3, H, "_l0")), "create: %s",
            mn_last_error());
    mn_rng r;
    mn_rng_seed(&r, 4);
    mn_init_config ic = {MN_INIT_UNIFORM, 1.0f, 2.5f, 0};
    o.l->ops->init(o.l, &r, &ic);
    float *bih = param(o.l, "bias_ih_l0"), *bhh = param(o.l, "bias_hh_l0");
    REQUIRE(bih && bhh, "bias tensors missing");
    float bound = 1.0f / sqrtf((float)H);
    for (int j = 0; j < H; j++) {
        CHECK(bih[j] + bhh[j] == 2.5f, "α bias of unit %d is %g, want 2.5", j, bih[j] + bhh[j]);
        CHECK(fabsf(bih[H + j]) <= bound && fabsf(bhh[H + j]) <= bound,
              "f bias of unit %d outside U(±1/√H)", j);
    }

    ic.chrono_tmax = 100;
    o.l->ops->init(o.l, &r, &ic);
    float first = bih[0];
    int differ = 0;
    for (int j = 0; j < H; j++) {
        float ba = bih[j] + bhh[j];
        CHECK(ba >= 0.0f && ba <= logf(99.0f) + 1e-5f, "chrono α bias %g outside [0, log 99]", ba);
        CHECK(fabsf(bih[H + j]) <= bound, "chrono changed f's bias of unit %d to %g", j,
              bih[H + j]);
        differ |= bih[j] != first;
    }
    CHECK(differ, "chrono α biases are all equal: not drawn per unit");
    disown(&o);
}

/* inspect shows α as the keeping gate and f as the tanh candidate, and the stored gates
 * reproduce h_t = α⊙h_{t-1} + (1-α)⊙f. */
TEST(cells_gated_inspect_view) {
    enum { T = 4, B = 2, I = 3, H = 5 };
    owned_layer o;
    REQUIRE(own(&o, mn_recurrent_create(MN_GATED_RESIDUAL, I, H, "_l0")), "create: %s",
            mn_last_error());
    mn_rng r;
    mn_rng_seed(&r, 7);
    mn_init_config ic = {MN_INIT_UNIFORM, 1.0f, 1.0f, 0};
    o.l->ops->init(o.l, &r, &ic);
    float x[T * B * I], y[T * B * H];
    for (int i = 0; i < T * B * I; i++) x[i] = mn_rng_uniform_range(&r, -1.0f, 1.0f);
    o.l->ops->reset_state(o.l);
    REQUIRE_OK(o.l->ops->forward(o.l, x, y, T, B, NULL));
    mn_recurrent_view v;
    REQUIRE(o.l->ops->inspect && o.l->ops->inspect(o.l, &v), "no recurrent view");
    CHECK(v.gates == 2 && v.keep_gate == 0 && v.tanh_gate == 1 && v.candidate_block == 1 &&
          v.sigmoid_gates == 1u && v.state_size == H && !v.cs,
          "view: gates %d keep %d tanh %d candidate %d sigmoid %#x state %d",
          v.gates, v.keep_gate, v.tanh_gate, v.candidate_block, v.sigmoid_gates, v.state_size);
    double worst = 0;
    for (int t = 0; t < T; t++)
        for (int b = 0; b < B; b++)
            for (int j = 0; j < H; j++) {
                const float *a = v.act + ((size_t)t * B + b) * 2 * H;
                float hp = v.hs[((size_t)t * B + b) * H + j];
                float want = a[j] * hp + (1.0f - a[j]) * a[H + j];
                worst = fmax(worst, fabs(want - y[((size_t)t * B + b) * H + j]));
                CHECK(a[j] > 0.0f && a[j] < 1.0f, "α = %g outside (0, 1)", a[j]);
            }
    CHECK(worst < 1e-6, "h_t differs from α⊙h_prev + (1-α)⊙f by %g", worst);
    disown(&o);
}
