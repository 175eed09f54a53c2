/* A few sequences on several cores: each time step split by units.
 *
 * With B < 2·MN_ROWS_PER_THREAD sequences there are too few rows to give each thread its
 * own (recurrent.c), yet one step still reads all of W_hh (and a stream's step W_ih too):
 * 512 KB at H = 128, bound by the speed of L2. So thread i of n takes the units
 * [u0, u1): the columns g·H + [u0, u1) of every gate block g of W_hhᵀ (whole panels of the
 * packed weights, which then stay in that core's own L2 from step to step) and the cells
 * of those units, and the threads meet once per step, when h_t is whole. Each element of
 * a product is the same chain of FMAs whatever columns a thread holds, and each unit the
 * same cell arithmetic, so the bits are those of one thread. */
#include "recurrent.h"
#include "spin_barrier.h"

#ifdef _OPENMP
#include <omp.h>
#endif

/* Multiply-adds per step from which a split pays, measured on 2 cores at batch 1 and 4
 * (bench/RESULTS.md, 2026-12-01 (night)): the whole-sequence loop meets at a spin barrier
 * (~35 ns), a stream's step pays a fork (~0.6 µs) on every call. */
#define LOOP_SPLIT_MACS 16384
#define STEP_SPLIT_MACS 65536

int mn_recurrent_unit_threads(const mn_recurrent *s, int T, int B, int input) {
    int nr = s->whh_t.nr, H = s->H, I = s->base.in_size;
    double macs = (double)s->GH * (H + (input ? I : 0)) * B;
    if (s->proj || nr <= 0 || H % nr || B >= 2 * MN_ROWS_PER_THREAD ||
        (input && s->wih_t.nr != nr) || (!input && T < 2) ||
        macs < (input ? STEP_SPLIT_MACS : LOOP_SPLIT_MACS))
        return 1;
    return MN_MAX(1, MN_MIN(mn_gemm_threads(), H / nr));
}

/* The calling thread's units: whole panels, split evenly over the team. */
static void my_units(const mn_recurrent *s, int *u0, int *u1) {
    int id = 0, n = 1;
#ifdef _OPENMP
    id = omp_get_thread_num();
    n = omp_get_num_threads();
#endif
    int nr = s->whh_t.nr, panels = s->H / nr;
    *u0 = panels * id / n * nr;
    *u1 = panels * (id + 1) / n * nr;
}

/* C[B, G·H]'s gate columns of units [u0, u1) = A[B, K]·W (packed, G·H columns). */
static void gate_columns(const mn_recurrent *s, const mn_packed *W, const float *A, int lda,
                         int B, int u0, int u1, float *C) {
    for (int c0 = u0; c0 < s->GH; c0 += s->H) {
        mn_packed v = mn_packed_columns(W, c0, u1 - u0);
        mn_sgemm_packed_serial(0, B, 1.0f, A, lda, &v, 0.0f, C + c0, s->GH);
    }
}

void mn_recurrent_forward_split(const mn_time_loop *k, int threads) {
    mn_recurrent *s = k->s;
    const int B = k->B, H = s->H;
    mn_spin_barrier bar;
    (void)threads;   /* read by OpenMP only */
    #pragma omp parallel num_threads(threads)
    {
        int u0, u1, phase = 0;
        #pragma omp single
        {
            int n = 1;
#ifdef _OPENMP
            n = omp_get_num_threads();   /* the team may be smaller than asked */
#endif
            mn_spin_barrier_init(&bar, n);
        }
        my_units(s, &u0, &u1);
        for (int t = 0; t < k->T; t++) {
            if (t + 1 < k->T) mn_recurrent_prefetch_act(s, t + 1, B, 0, B, u0, u1);
            gate_columns(s, &s->whh_t, s->hs + (size_t)t * B * H, H, B, u0, u1, s->rec);
            mn_recurrent_forward_units(k, t, 0, B, u0, u1);
            mn_spin_barrier_wait(&bar, &phase);   /* h_t whole before any reads it */
        }
    }
}

void mn_recurrent_step_split(const mn_time_loop *k, const float *x_t, int threads) {
    mn_recurrent *s = k->s;
    (void)threads;
    #pragma omp parallel num_threads(threads)
    {
        int u0, u1;
        my_units(s, &u0, &u1);
        gate_columns(s, &s->wih_t, x_t, s->base.in_size, k->B, u0, u1, s->act);
        gate_columns(s, &s->whh_t, s->hs, s->H, k->B, u0, u1, s->rec);
        mn_recurrent_forward_units(k, 0, 0, k->B, u0, u1);
    }
}
