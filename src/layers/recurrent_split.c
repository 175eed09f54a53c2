/* A few sequences on several cores: each time step split by units.
 *
 * With B < 2·MN_ROWS_PER_THREAD sequences there are too few rows to give each thread its
 * own (recurrent.c), yet one step still reads all of W_hh (and a stream's step W_ih too):
 * 512 KB at H = 128, bound by the speed of L2. So thread i of n takes the units
 * [u0, u1): the columns g·H + [u0, u1) of every gate block g of W_hhᵀ (whole panels of the
 * packed weights, which then stay in that core's own L2 from step to step) and the cells
 * of those units, and the threads meet once per step, when h_t is whole. Each element of
 * a product is the same chain of FMAs whatever columns a thread holds, and each unit the
 * same cell arithmetic, so the bits are those of one thread. Whether meeting every step
 * costs less than it saves depends on the machine, so that is timed (split_choice.c). */
#include "recurrent.h"
#include "spin_barrier.h"

#ifdef _OPENMP
#include <omp.h>
#endif

/* Multiply-adds per step below which a split is never tried: where it first paid on 2
 * cores of one Zen 3 chiplet at batch 1 and 4 (bench/RESULTS.md, 2026-12-01 (night)), the
 * whole-sequence loop meeting at a spin barrier (~35 ns), a stream's step paying a fork
 * (~0.6 µs) on every call. Above them, the choice times both ways. */
#define LOOP_SPLIT_MACS 16384
#define STEP_SPLIT_MACS 65536

int mn_recurrent_unit_threads(const mn_recurrent *s, int T, int B, int input) {
    int nr = s->whh_t.nr, H = s->H, I = s->base.in_size;
    double macs = (double)s->GH * (H + (input ? I : 0)) * B;
    if (s->proj || nr <= 0 || H % nr || B >= 2 * MN_ROWS_PER_THREAD ||
        (input && s->wih_t.nr != nr) || (!input && T < 2) ||
        macs < (input ? STEP_SPLIT_MACS : LOOP_SPLIT_MACS))
        return 1;
    int threads = MN_MIN(mn_gemm_threads(), H / nr);
#ifdef _OPENMP
    /* threads that meet every few microseconds must each have a core: one waiting for a
     * thread that is not running waits out a time slice (--threads 4 on 2 cores took
     * 4.5 s for what 1 thread does in 6.7 ms) */
    threads = MN_MIN(threads, mn_processors());
#endif
    return MN_MAX(1, threads);
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

/* Steps [t0, t0 + n) on the calling thread alone, each timed for the choice. */
static void solo_steps(const mn_time_loop *k, int t0, int n, mn_split_choice *c) {
    for (int t = t0; t < t0 + n; t++) {
        double start = mn_now();
        mn_recurrent_forward_step(k, t, 0, k->B, 1);
        mn_split_choice_record(c, MN_STEP_SOLO, mn_now() - start);
    }
}

/* Split steps from t0 on, until the pass ends or the choice asks for one thread; then
 * *mode and *n hold that request and the step it starts at is returned. The threads meet
 * at a spin barrier after each step. Thread 0 asks the choice about the next step before
 * it, and posts the answer for every thread to read after; the step's own time ends at
 * that barrier, so the choice learns it one step late. Runs on one thread happen outside,
 * where the other threads sleep rather than spin. */
static int split_steps(const mn_time_loop *k, int t0, int threads, mn_split_choice *c,
                       int *mode, int *n) {
    mn_recurrent *s = k->s;
    const int B = k->B, T = k->T;
    mn_spin_barrier bar;
    /* go[t & 1]: step t splits too. Thread 0 writes step t + 2's slot only after every
     * thread has passed the barrier after step t + 1, so after each has read step t's */
    atomic_int go[2];
    int end = T;
    (void)threads;   /* read by OpenMP only */
    double start = 0;   /* thread 0: when the current step began */
    #pragma omp parallel num_threads(threads)
    {
        int u0, u1, phase = 0, id = 0;
#ifdef _OPENMP
        id = omp_get_thread_num();
#endif
        #pragma omp single
        {
            int nt = 1;
#ifdef _OPENMP
            nt = omp_get_num_threads();   /* the team may be smaller than asked */
#endif
            mn_spin_barrier_init(&bar, nt);
        }
        my_units(s, &u0, &u1);
        /* after the single's barrier: every thread is awake, so the first step's time
         * holds no fork or wake-up (a pool thread asleep after a one-thread run) */
        if (id == 0) start = mn_now();
        for (int t = t0; t < T;) {
            if (t + 1 < T) mn_recurrent_prefetch_act(s, t + 1, B, 0, B, u0, u1);
            gate_columns(s, &s->whh_t, s->hs + (size_t)t * B * s->H, s->H, B, u0, u1, s->rec);
            mn_recurrent_forward_units(k, t, 0, B, u0, u1);
            if (++t == T) break;
            if (id == 0) {
                *mode = mn_split_choice_next(c, T - t, n);
                atomic_store_explicit(&go[t & 1], *mode == MN_STEP_SPLIT, memory_order_relaxed);
            }
            mn_spin_barrier_wait(&bar, &phase);   /* h_t whole before any reads it */
            if (id == 0) {
                double now = mn_now();
                mn_split_choice_record(c, MN_STEP_SPLIT, now - start);
                start = now;
            }
            if (!atomic_load_explicit(&go[t & 1], memory_order_relaxed)) {
                if (id == 0) end = t;
                break;
            }
        }
    }
    return end;
}

void mn_recurrent_forward_split(const mn_time_loop *k, int threads) {
    mn_split_choice *c = &k->s->loop_choice;
    if (c->B != k->B) mn_split_choice_reset(c, k->B);
    int n, mode = mn_split_choice_next(c, k->T, &n);
    for (int t = 0; t < k->T;) {
        if (mode == MN_STEP_SPLIT) {
            t = split_steps(k, t, threads, c, &mode, &n);
        } else {
            solo_steps(k, t, n, c);
            if ((t += n) < k->T) mode = mn_split_choice_next(c, k->T - t, &n);
        }
    }
}

static void step_split(const mn_time_loop *k, const float *x_t, int threads) {
    mn_recurrent *s = k->s;
    (void)threads;   /* read by OpenMP only */
    #pragma omp parallel num_threads(threads)
    {
        int u0, u1;
        my_units(s, &u0, &u1);
        gate_columns(s, &s->wih_t, x_t, s->base.in_size, k->B, u0, u1, s->act);
        gate_columns(s, &s->whh_t, s->hs, s->H, k->B, u0, u1, s->rec);
        mn_recurrent_forward_units(k, 0, 0, k->B, u0, u1);
    }
}

/* Step 0 runs on the thread that just packed the weights, untimed: another would first
 * pull its half of them from this core's cache (a one-step stream on 2 threads took 2.2×
 * as long). */
void mn_recurrent_stream_compute(const mn_time_loop *k, const float *x_t, int t) {
    mn_recurrent *s = k->s;
    mn_split_choice *c = &s->stream_choice;
    int threads = t == 0 ? 1 : mn_recurrent_unit_threads(s, 1, k->B, 1);
    int n, mode = MN_STEP_SOLO;
    if (threads > 1) {
        if (c->B != k->B) mn_split_choice_reset(c, k->B);
        mode = mn_split_choice_next(c, 1, &n);
    }
    double t0 = mn_now();
    if (mode == MN_STEP_SOLO) {
        mn_sgemm_packed(0, k->B, 1.0f, x_t, s->base.in_size, &s->wih_t, 0.0f, s->act, s->GH);
        mn_recurrent_run_time_loop(k, 0, s->proj ? mn_recurrent_forward_step_proj
                                                 : mn_recurrent_forward_step);
    } else {
        step_split(k, x_t, threads);
    }
    if (threads > 1) mn_split_choice_record(c, mode, mn_now() - t0);
}
