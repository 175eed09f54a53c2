/* The newer recurrent cells beyond gradients and goldens (test_gradcheck.c,
 * test_golden.c): initialization of the gated residual cell and what it shows the
 * diagnostics. */
#include "test.h"
#include "layer.h"
#include "lncell.h"
#include "recurrent.h"

#include <stdlib.h>
#ifdef _OPENMP
#include <omp.h>
#endif
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
    mn_layer_reset(o.l);
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

/* ------------------------------------------- layer-normalized LSTM and GRU */

TEST(cells_lncell_names_and_init) {
    enum { H = 5, I = 3 };
    static const char *const lstm_names[] = {
        "weight_ih_l1_reverse", "weight_hh_l1_reverse", "bias_l1_reverse",
        "ln_ih_l1_reverse.weight", "ln_ih_l1_reverse.bias", "ln_hh_l1_reverse.weight",
        "ln_hh_l1_reverse.bias", "ln_c_l1_reverse.weight", "ln_c_l1_reverse.bias"};
    owned_layer o;
    REQUIRE(own(&o, mn_lncell_create(MN_LSTM, I, H, "_l1_reverse")), "create: %s",
            mn_last_error());
    REQUIRE(o.l->nspecs == 9, "ln-lstm has %d parameter tensors, want 9", o.l->nspecs);
    for (int i = 0; i < 9; i++)
        CHECK(!strcmp(o.l->specs[i].name, lstm_names[i]), "tensor %d is '%s', want '%s'", i,
              o.l->specs[i].name, lstm_names[i]);
    CHECK(o.l->param_count == (size_t)4 * H * (I + H + 5) + 2 * H, "ln-lstm has %zu parameters",
          o.l->param_count);
    mn_rng r;
    mn_rng_seed(&r, 2);
    mn_init_config ic = {MN_INIT_ORTHOGONAL, 1.0f, 2.5f, 0};
    o.l->ops->init(o.l, &r, &ic);
    const float *b = param(o.l, "bias_l1_reverse"), *g = param(o.l, "ln_c_l1_reverse.weight"),
                *be = param(o.l, "ln_hh_l1_reverse.bias");
    for (int j = 0; j < H; j++) {
        CHECK(b[H + j] == 2.5f, "forget bias of unit %d is %g", j, b[H + j]);
        CHECK(g[j] == 1.0f, "ln_c γ[%d] = %g, want 1", j, g[j]);
    }
    for (int j = 0; j < 4 * H; j++) CHECK(be[j] == 0.0f, "ln_hh β[%d] = %g, want 0", j, be[j]);
    disown(&o);

    REQUIRE(own(&o, mn_lncell_create(MN_GRU, I, H, "_l0")), "create: %s", mn_last_error());
    CHECK(o.l->nspecs == 7 && !strcmp(o.l->specs[6].name, "ln_hh_l0.bias"),
          "ln-gru tensors: %d, last '%s'", o.l->nspecs, o.l->specs[o.l->nspecs - 1].name);
    ic.chrono_tmax = 50;
    o.l->ops->init(o.l, &r, &ic);
    b = param(o.l, "bias_l0");
    for (int j = 0; j < H; j++)
        CHECK(b[H + j] >= 0.0f && b[H + j] <= logf(49.0f) + 1e-5f, "chrono z bias %g outside "
              "[0, log 49]", b[H + j]);
    disown(&o);

    CHECK(mn_lncell_create(MN_RNN_TANH, I, H, "_l0") == NULL, "an ln-rnn was created");
}

typedef struct {
    owned_layer o;
    float *x, *y, *w, *dx;
} run;

static int run_make(run *u, mn_cell_kind cell, int I, int H, int T, int B, uint64_t seed) {
    memset(u, 0, sizeof *u);
    if (!own(&u->o, mn_lncell_create(cell, I, H, "_l0"))) return 0;
    mn_rng r;
    mn_rng_seed(&r, seed);
    mn_init_config ic = {MN_INIT_UNIFORM, 1.0f, 1.0f, 0};
    u->o.l->ops->init(u->o.l, &r, &ic);
    for (size_t i = 0; i < u->o.l->param_count; i++)   /* γ, β away from 1, 0 too */
        u->o.params[i] += mn_rng_uniform_range(&r, -0.3f, 0.3f);
    size_t nx = (size_t)T * B * I, ny = (size_t)T * B * H;
    u->x = calloc(nx, sizeof(float));
    u->dx = calloc(nx, sizeof(float));
    u->y = calloc(ny, sizeof(float));
    u->w = calloc(ny, sizeof(float));
    if (!u->x || !u->dx || !u->y || !u->w) return 0;
    for (size_t i = 0; i < nx; i++) u->x[i] = mn_rng_uniform_range(&r, -1.0f, 1.0f);
    for (size_t i = 0; i < ny; i++) u->w[i] = mn_rng_uniform_range(&r, -1.0f, 1.0f);
    return 1;
}

static void run_free(run *u) {
    disown(&u->o);
    free(u->x);
    free(u->y);
    free(u->w);
    free(u->dx);
}

static double rel_err(double got, double want, double scale) {
    return fabs(got - want) / fmax(fabs(want), 1e-3 * scale + 1e-30);
}

/* A batch large enough for the row-parallel loops gives each sequence what it gets when
 * run alone (outputs, final state, input gradients, summed parameter gradients). */
static void batched_equals_alone(mn_cell_kind cell) {
    enum { I = 5, H = 64, T = 6, B = 40 };
    int32_t lengths[B];
    for (int b = 0; b < B; b++) lengths[b] = 1 + (b * 7) % T;
    run all, one;
    REQUIRE(run_make(&all, cell, I, H, T, B, 3), "setup: %s", mn_last_error());
    mn_layer *l = all.o.l;
    mn_layer_reset(l);
    REQUIRE_OK(l->ops->forward(l, all.x, all.y, T, B, lengths));
    REQUIRE_OK(l->ops->backward(l, all.w, all.dx, T, B, lengths));
    mn_state_view v[2];
    REQUIRE(mn_layer_state(l, v) == 1 && v[0].hT, "no state view");

    float *gsum = calloc(l->param_count, sizeof(float));
    REQUIRE(run_make(&one, cell, I, H, T, 1, 3) && gsum, "setup: %s", mn_last_error());
    memcpy(one.o.params, all.o.params, l->param_count * sizeof(float));
    double worst_y = 0, worst_h = 0, worst_dx = 0, worst_g = 0;
    for (int b = 0; b < B; b++) {
        for (int t = 0; t < T; t++) {
            memcpy(one.x + (size_t)t * I, all.x + ((size_t)t * B + b) * I, I * sizeof(float));
            memcpy(one.w + (size_t)t * H, all.w + ((size_t)t * B + b) * H, H * sizeof(float));
        }
        memset(one.dx, 0, (size_t)T * I * sizeof(float));
        memset(one.o.grads, 0, l->param_count * sizeof(float));
        mn_layer *k = one.o.l;
        mn_layer_reset(k);
        REQUIRE_OK(k->ops->forward(k, one.x, one.y, T, 1, &lengths[b]));
        REQUIRE_OK(k->ops->backward(k, one.w, one.dx, T, 1, &lengths[b]));
        mn_state_view w1[2];
        mn_layer_state(k, w1);
        for (int t = 0; t < T; t++) {
            for (int j = 0; j < H; j++)
                worst_y = fmax(worst_y, rel_err(all.y[((size_t)t * B + b) * H + j],
                                                one.y[(size_t)t * H + j], 1));
            for (int i = 0; i < I; i++)
                worst_dx = fmax(worst_dx, rel_err(all.dx[((size_t)t * B + b) * I + i],
                                                  one.dx[(size_t)t * I + i], 1));
        }
        for (int j = 0; j < H; j++)
            worst_h = fmax(worst_h, rel_err(v[0].hT[(size_t)b * H + j], w1[0].hT[j], 1));
        for (size_t i = 0; i < l->param_count; i++) gsum[i] += one.o.grads[i];
    }
    double scale = 0;
    for (size_t i = 0; i < l->param_count; i++) scale = fmax(scale, fabs(gsum[i]));
    for (size_t i = 0; i < l->param_count; i++)
        worst_g = fmax(worst_g, rel_err(all.o.grads[i], gsum[i], scale));
    CHECK(worst_y < 1e-4 && worst_h < 1e-4, "outputs differ from one-at-a-time: y %g, h_T %g",
          worst_y, worst_h);
    CHECK(worst_dx < 1e-3 && worst_g < 1e-3, "gradients differ from one-at-a-time: dx %g, "
          "params %g", worst_dx, worst_g);
    free(gsum);
    run_free(&one);
    run_free(&all);
}

TEST(cells_ln_lstm_batched_equals_alone) { batched_equals_alone(MN_LSTM); }
TEST(cells_ln_gru_batched_equals_alone) { batched_equals_alone(MN_GRU); }

/* Two chunks with the state carried give the same outputs as one pass over both. */
static void chunks_equal_whole(mn_cell_kind cell) {
    enum { I = 3, H = 4, T = 6, B = 2, T1 = 2 };
    run u;
    REQUIRE(run_make(&u, cell, I, H, T, B, 9), "setup: %s", mn_last_error());
    mn_layer *l = u.o.l;
    float y2[T * B * H];
    mn_layer_reset(l);
    REQUIRE_OK(l->ops->forward(l, u.x, u.y, T, B, NULL));
    mn_layer_reset(l);
    REQUIRE_OK(l->ops->forward(l, u.x, y2, T1, B, NULL));
    REQUIRE_OK(l->ops->carry_state(l));
    REQUIRE_OK(l->ops->forward(l, u.x + T1 * B * I, y2 + T1 * B * H, T - T1, B, NULL));
    double worst = 0;
    for (int i = 0; i < T * B * H; i++) worst = fmax(worst, fabs(y2[i] - u.y[i]));
    CHECK(worst < 1e-6, "carried chunks differ from the whole sequence by %g", worst);
    mn_layer_reset(l);
    REQUIRE_OK(l->ops->forward(l, u.x + T1 * B * I, y2, T - T1, B, NULL));
    worst = 0;
    for (int i = 0; i < (T - T1) * B * H; i++) worst = fmax(worst, fabs(y2[i] - u.y[T1 * B * H + i]));
    CHECK(worst > 1e-4, "reset_state did not reset: a fresh chunk matches the carried one");
    run_free(&u);
}

TEST(cells_ln_lstm_carry_state) { chunks_equal_whole(MN_LSTM); }
TEST(cells_ln_gru_carry_state) { chunks_equal_whole(MN_GRU); }

/* probe_dh holds the batch mean of ‖∂L/∂h_t‖; step_vjp, chained backward from the last
 * step, gives every ∂L/∂h_t of a sequence: the two must agree (padding: 0, since nothing
 * after a sequence's end reads its state). */
static void probe_matches_step_vjp(mn_cell_kind cell) {
    enum { I = 3, H = 4, T = 5, B = 3 };
    static const int32_t lengths[B] = {5, 2, 4};
    run u;
    REQUIRE(run_make(&u, cell, I, H, T, B, 17), "setup: %s", mn_last_error());
    mn_layer *l = u.o.l;
    double probe[T] = {0}, probe_c[T] = {0}, want[T] = {0};
    l->probe_dh = probe;
    l->probe_dc = probe_c;
    mn_layer_reset(l);
    REQUIRE_OK(l->ops->forward(l, u.x, u.y, T, B, lengths));
    REQUIRE_OK(l->ops->backward(l, u.w, u.dx, T, B, lengths));
    for (int b = 0; b < B; b++) {
        float gh[H], gc[H] = {0};
        for (int t = lengths[b] - 1; t >= 0; t--) {
            for (int j = 0; j < H; j++)      /* ∂L/∂h_t: dy_t + what step t+1 passes back */
                gh[j] = (t == lengths[b] - 1 ? 0.0f : gh[j]) + u.w[((size_t)t * B + b) * H + j];
            double n = 0;
            for (int j = 0; j < H; j++) n += (double)gh[j] * gh[j];
            want[t] += sqrt(n) / B;
            if (t > 0) l->ops->step_vjp(l, t, b, gh, cell == MN_LSTM ? gc : NULL);
        }
    }
    for (int t = 0; t < T; t++)
        CHECK(fabs(probe[t] - want[t]) <= 1e-5 * fmax(1.0, want[t]),
              "step %d: probe_dh %.7g, from step_vjp %.7g", t, probe[t], want[t]);
    for (int t = 0; t < T; t++)
        CHECK(cell == MN_LSTM ? probe_c[t] > 0 : probe_c[t] == 0,
              "step %d: probe_dc %g", t, probe_c[t]);
    l->probe_dh = l->probe_dc = NULL;
    mn_recurrent_view v;
    REQUIRE(l->ops->inspect(l, &v), "no view");
    CHECK(v.keep_gate == 1 && v.tanh_gate == 2 && v.gates == (cell == MN_LSTM ? 4 : 3) &&
          v.state_size == (cell == MN_LSTM ? 2 * H : H) && (v.cs != NULL) == (cell == MN_LSTM),
          "view: gates %d keep %d tanh %d state %d", v.gates, v.keep_gate, v.tanh_gate,
          v.state_size);
    CHECK(mn_layer_bytes(l) > (size_t)T * B * H * sizeof(float),
          "activation_bytes %zu", mn_layer_bytes(l));
    run_free(&u);
}

TEST(cells_ln_lstm_probe_and_step_vjp) { probe_matches_step_vjp(MN_LSTM); }
TEST(cells_ln_gru_probe_and_step_vjp) { probe_matches_step_vjp(MN_GRU); }

static int processors(void) {
#ifdef _OPENMP
    return omp_get_num_procs();
#else
    return 1;
#endif
}

/* A few sequences on 2 threads split each step by units (recurrent_split.c): each thread
 * its gate columns of W_hh and its units' cells. The outputs and final state must be the
 * bits of one thread. Widths are whole panels of every kernel (multiples of 32) and above
 * the split's threshold; the lengths put padding inside the loop; B = 1 and 3. */
TEST(cells_unit_split_same_bits_as_one_thread) {
    static const struct { mn_cell_kind cell; int H; } cases[] = {
        {MN_LSTM, 192}, {MN_GRU, 224}, {MN_RNN_TANH, 384}, {MN_GATED_RESIDUAL, 288},
        {MN_LSTM, 64}};
    enum { I = 5, T = 12 };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
        for (int B = 1; B <= 3; B += 2) {
            int H = cases[c].H;
            int32_t lengths[3] = {B > 1 ? T : 9, 7, 10};
            float *x = malloc(sizeof(float) * T * B * I), *y[3];
            mn_rng r;
            mn_rng_seed(&r, 3);
            for (int i = 0; i < T * B * I; i++) x[i] = mn_rng_uniform_range(&r, -1, 1);
            owned_layer o;
            REQUIRE(own(&o, mn_recurrent_create(cases[c].cell, I, H, "_l0")), "create: %s",
                    mn_last_error());
            mn_init_config ic = {MN_INIT_UNIFORM, 1.0f, 1.0f, 0};
            o.l->ops->init(o.l, &r, &ic);
            mn_state_view v[2];
            float *hT[3];
            /* pass 2: 2 threads, every step split; pass 3: split steps and runs on thread
             * 0 alone, in turn (the choice's test policy) */
            for (int pass = 1; pass <= 3; pass++) {
                int threads = pass == 1 ? 1 : 2;
                mn_set_threads(threads);
                mn_split_choice_policy = pass == 3 ? MN_SPLIT_ALTERNATE : MN_SPLIT_ALWAYS;
                y[pass - 1] = malloc(sizeof(float) * T * B * H);
                REQUIRE_OK(o.l->ops->forward(o.l, x, y[pass - 1], T, B, lengths));
                REQUIRE(mn_recurrent_unit_threads((mn_recurrent *)o.l, T, B, 0) == threads ||
                            processors() < threads,
                        "%s H=%d B=%d on %d threads: the step is not split",
                        mn_cell_name(cases[c].cell), H, B, threads);
                REQUIRE(o.l->ops->state(o.l, v) == 1, "no state view");
                hT[pass - 1] = malloc(sizeof(float) * B * H);
                memcpy(hT[pass - 1], v[0].hT, sizeof(float) * B * H);
            }
            for (int p = 1; p < 3; p++)
                CHECK(memcmp(y[0], y[p], sizeof(float) * T * B * H) == 0 &&
                          memcmp(hT[0], hT[p], sizeof(float) * B * H) == 0,
                      "%s H=%d B=%d: 2 threads%s differ from 1", mn_cell_name(cases[c].cell),
                      H, B, p == 2 ? " (taking turns with one)" : "");
            for (int i = 0; i < 3; i++) { free(y[i]); free(hT[i]); }
            free(x);
            disown(&o);
        }
    mn_set_threads(0);
    mn_split_choice_policy = MN_SPLIT_MEASURE;
}

/* The same under the timed choice itself (split_choice.c), long enough for its probes and
 * a run: which steps split depends on this machine's clock, the bits must not. Three
 * passes in a row on one layer, so later ones start mid-run or mid-probe. */
TEST(cells_timed_split_same_bits_as_one_thread) {
    enum { I = 3, H = 64, T = 300, B = 1 };
    float *x = malloc(sizeof(float) * T * B * I), *y1 = malloc(sizeof(float) * T * B * H),
          *y2 = malloc(sizeof(float) * T * B * H);
    REQUIRE(x && y1 && y2, "out of memory");
    mn_rng r;
    mn_rng_seed(&r, 5);
    for (int i = 0; i < T * B * I; i++) x[i] = mn_rng_uniform_range(&r, -1, 1);
    owned_layer o;
    REQUIRE(own(&o, mn_recurrent_create(MN_LSTM, I, H, "_l0")), "create: %s", mn_last_error());
    mn_init_config ic = {MN_INIT_UNIFORM, 1.0f, 1.0f, 0};
    o.l->ops->init(o.l, &r, &ic);
    mn_set_threads(1);
    REQUIRE_OK(o.l->ops->forward(o.l, x, y1, T, B, NULL));
    mn_set_threads(2);
    for (int pass = 0; pass < 3; pass++) {
        memset(y2, 0, sizeof(float) * T * B * H);
        REQUIRE_OK(o.l->ops->forward(o.l, x, y2, T, B, NULL));
        CHECK(!memcmp(y1, y2, sizeof(float) * T * B * H), "pass %d on 2 threads differs", pass);
    }
    mn_set_threads(0);
    free(x);
    free(y1);
    free(y2);
    disown(&o);
}
