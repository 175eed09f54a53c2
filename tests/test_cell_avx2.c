/* cell_avx2.c's LSTM and GRU forward against their reference, cell.c's plain loops: within
 * an ulp-level tolerance on ordinary inputs, exactly at the ends (±Inf, NaN, saturated
 * gates), and the same bits whatever unit range [j0, j1) a thread is given. */
#include "test.h"
#include "cell.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum { B = 3 };

typedef struct {
    int G, H;
    float *act0, *rec, *b_ih, *b_hh, *h_prev, *c_prev;   /* inputs */
    float *act, *aux, *h, *c;                           /* outputs of one run */
} cell_case;

static float uniform(mn_rng *r, float a) { return mn_rng_uniform_range(r, -a, a); }

/* Pre-activations over [-12, 12] (both tanh branches, saturated gates), with the ends put
 * in: ±Inf and NaN in x·W_ih, sums near exp's clamps (±88), tiny values for tanh's
 * polynomial branch. */
static int make_case(cell_case *k, int G, int H, uint64_t seed) {
    size_t n = (size_t)B * G * H, m = (size_t)B * H;
    memset(k, 0, sizeof *k);
    k->G = G, k->H = H;
    float **bufs[] = {&k->act0, &k->rec, &k->act, &k->b_ih, &k->b_hh, &k->h_prev, &k->c_prev,
                      &k->aux, &k->h, &k->c};
    size_t lens[] = {n, n, n, (size_t)G * H, (size_t)G * H, m, m, m, m, m};
    for (int i = 0; i < 10; i++)
        if (!(*bufs[i] = calloc(lens[i], sizeof(float)))) return 0;
    mn_rng r;
    mn_rng_seed(&r, seed);
    for (size_t i = 0; i < n; i++) k->act0[i] = uniform(&r, 8), k->rec[i] = uniform(&r, 4);
    for (int i = 0; i < G * H; i++) k->b_ih[i] = uniform(&r, 0.5f), k->b_hh[i] = uniform(&r, 0.5f);
    for (size_t i = 0; i < m; i++) k->h_prev[i] = uniform(&r, 1), k->c_prev[i] = uniform(&r, 4);
    static const float ends[] = {INFINITY, -INFINITY, NAN, 95.0f, -95.0f, 88.5f, -88.5f,
                                 88.8f, -88.8f, 1e-3f, -3e-5f, 0.05f, -0.07f, 0.0f};
    for (size_t i = 0; i < n; i += 7) {
        float e = ends[(i / 7) % (sizeof ends / sizeof ends[0])];
        k->act0[i] = e;
        if (e == e && e > -1 && e < 1)                    /* keep it tiny after the sum */
            k->rec[i] = 0, k->b_ih[i % ((size_t)G * H)] = 0, k->b_hh[i % ((size_t)G * H)] = 0;
    }
    return 1;
}

static void free_case(cell_case *k) {
    float *bufs[] = {k->act0, k->rec, k->act, k->b_ih, k->b_hh, k->h_prev, k->c_prev,
                     k->aux, k->h, k->c};
    for (int i = 0; i < 10; i++) free(bufs[i]);
}

/* one forward step of every row over the unit ranges cut at `cuts` (ascending, ending at H) */
static void run(cell_case *k, mn_cell_kind kind, const int *cuts, int ncuts) {
    mn_cell_step s;
    memset(&s, 0, sizeof s);
    s.H = k->H, s.rec = k->rec, s.b_ih = k->b_ih, s.b_hh = k->b_hh, s.h_prev = k->h_prev;
    s.c_prev = k->c_prev, s.act = k->act, s.aux = k->aux, s.h = k->h, s.c = k->c;
    memcpy(k->act, k->act0, sizeof(float) * B * k->G * k->H);
    for (int b = 0; b < B; b++)
        for (int i = 0, j0 = 0; i < ncuts; j0 = cuts[i++])
            mn_cell_kernel_for(kind)->forward(&s, b, j0, cuts[i]);
}

/* fast against reference: NaN where NaN, identical where the reference is ±Inf, 0 or ±1
 * (the ends the fast path must keep exactly), else within `rel` of the reference, or of 1
 * with `floor` (c and h: f⊙c_prev + i⊙g may cancel, and FMA rounds it once; GRU's n; these
 * get 4e-6, the gates 1e-6) */
static int close_to(float fast, float ref, float rel, float floor) {
    if (ref != ref) return fast != fast;
    if (isinf(ref) || ref == 0 || ref == 1 || ref == -1) return fast == ref;
    return fabsf(fast - ref) <= rel * fmaxf(floor, fabsf(ref));
}

static void compare(const char *what, const char *cell, int H, const float *fast,
                    const float *ref, size_t n, float floor) {
    for (size_t i = 0; i < n; i++)
        if (!close_to(fast[i], ref[i], floor ? 4e-6f : 1e-6f, floor)) {
            mn_test_fail(__FILE__, __LINE__, "%s H=%d %s[%zu]: avx2 %.9g, plain loop %.9g", cell,
                         H, what, i, fast[i], ref[i]);
            return;
        }
}

TEST(cells_avx2_forward_matches_plain_loop) {
    static const int widths[] = {1, 5, 8, 13, 16, 37, 64, 100, 256};
    static const struct { mn_cell_kind kind; int G; } cells[] = {{MN_LSTM, 4}, {MN_GRU, 3}};
    mn_cell_step probe;
    memset(&probe, 0, sizeof probe);
    mn_cell_use_portable(0);
    if (mn_lstm_forward_avx2(&probe, 0, 0, 0)) {
        fprintf(stderr, "note: no AVX2 and FMA here; the cells run the plain loops only\n");
        return;
    }
    for (size_t c = 0; c < sizeof cells / sizeof cells[0]; c++)
        for (size_t w = 0; w < sizeof widths / sizeof widths[0]; w++) {
            int H = widths[w], G = cells[c].G;
            const char *name = mn_cell_name(cells[c].kind);
            size_t n = (size_t)B * G * H, m = (size_t)B * H;
            cell_case ref, fast;
            REQUIRE(make_case(&ref, G, H, 11 + w) && make_case(&fast, G, H, 11 + w), "oom");
            int whole[] = {H};
            mn_cell_use_portable(1);
            run(&ref, cells[c].kind, whole, 1);
            mn_cell_use_portable(0);
            run(&fast, cells[c].kind, whole, 1);
            /* each gate within 1e-6 of itself (an exp and a division apart), but GRU's n:
             * tanh(a_n + b_in + r⊙aux) carries r's ulp times |aux| (up to ~5) */
            for (int b = 0; b < B; b++)
                for (int g = 0; g < G; g++) {
                    size_t at = ((size_t)b * G + g) * H;
                    int gru_n = cells[c].kind == MN_GRU && g == 2;
                    compare(gru_n ? "gate n" : "gates", name, H, fast.act + at, ref.act + at,
                            (size_t)H, gru_n ? 1 : 0);
                }
            compare("h", name, H, fast.h, ref.h, m, 1);
            if (cells[c].kind == MN_LSTM) compare("c", name, H, fast.c, ref.c, m, 1);
            else compare("aux", name, H, fast.aux, ref.aux, m, 1);
            /* a thread's range starting and ending off the vector grid: the same bits */
            cell_case cut;
            REQUIRE(make_case(&cut, G, H, 11 + w), "oom");
            int cuts[] = {H / 3, H / 3 + 1, H};
            run(&cut, cells[c].kind, cuts, 3);
            CHECK(!memcmp(cut.act, fast.act, n * sizeof(float)) &&
                      !memcmp(cut.h, fast.h, m * sizeof(float)) &&
                      !memcmp(cut.c, fast.c, m * sizeof(float)) &&
                      !memcmp(cut.aux, fast.aux, m * sizeof(float)),
                  "%s H=%d: units run in ranges [0,%d) [%d,%d) [%d,%d) differ from one range",
                  name, H, cuts[0], cuts[0], cuts[1], cuts[1], H);
            free_case(&ref), free_case(&fast), free_case(&cut);
        }
}
