/* The cell kernels alone: ns per hidden unit of one forward step of the LSTM and GRU cells
 * (the gates' activations, c and h) at B = 4, H = 256, the best of 5 timed loops. The
 * per-step products are not included.
 *   make bench-cells [BENCH_ARGS=reps]
 * Each repetition first restores the pre-activations (forward overwrites them with the
 * gates), so the figure includes copying 4·H (GRU 3·H) floats a sequence. */
#include "cell.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static float uniform(float a) { return ((float)rand() / (float)RAND_MAX - 0.5f) * 2 * a; }

static double time_cell(mn_cell_kind kind, int G, int H, int B, int reps) {
    size_t n = (size_t)G * H * B;
    float *rec = malloc(n * 4), *act = malloc(n * 4), *act0 = malloc(n * 4);
    float *bias = calloc((size_t)G * H, 4), *cp = malloc((size_t)H * B * 4);
    float *hp = malloc((size_t)H * B * 4), *h = malloc((size_t)H * B * 4);
    float *c = malloc((size_t)H * B * 4), *aux = malloc((size_t)H * B * 4);
    for (size_t i = 0; i < n; i++) rec[i] = uniform(2), act0[i] = uniform(2);
    for (int i = 0; i < H * B; i++) cp[i] = uniform(0.5f), hp[i] = uniform(0.5f);
    mn_cell_step s;
    memset(&s, 0, sizeof s);
    s.H = H; s.rec = rec; s.b_ih = bias; s.b_hh = bias; s.h_prev = hp; s.c_prev = cp;
    s.act = act; s.aux = aux; s.h = h; s.c = c;
    const mn_cell_kernel *k = mn_cell_kernel_for(kind);
    double best = 1e30;
    for (int trial = 0; trial < 5; trial++) {
        double t0 = now();
        for (int r = 0; r < reps; r++) {
            memcpy(act, act0, n * 4);
            for (int b = 0; b < B; b++) k->forward(&s, b, 0, H);
        }
        double ns = (now() - t0) * 1e9 / ((double)reps * B * H);
        if (ns < best) best = ns;
    }
    free(rec); free(act); free(act0); free(bias); free(cp); free(hp); free(h); free(c);
    free(aux);
    return best;
}

int main(int argc, char **argv) {
    int reps = argc > 1 ? atoi(argv[1]) : 20000;
    if (reps < 1) {
        fprintf(stderr, "cell_time: reps must be >= 1\n");
        return 2;
    }
    printf("lstm_forward  %.2f ns per unit (B 4, H 256)\n", time_cell(MN_LSTM, 4, 256, 4, reps));
    printf("gru_forward   %.2f ns per unit (B 4, H 256)\n", time_cell(MN_GRU, 3, 256, 4, reps));
    return 0;
}
