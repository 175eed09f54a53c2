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

/* A wait at the barrier this long means the thread waited for was not running (another
 * program had its core): steps are microseconds apart. When such waits are frequent (at
 * least SLOW_WAITS of them, and one in SLOW_SHARE steps or more) the team hands the rest
 * of the sequence to thread 0 alone, which on a loaded machine is faster than meeting a
 * descheduled thread every step (LSTM 1000×1×128 on 2 threads beside a 2-job build:
 * 138 ms split, 12 ms on one thread); a rare hiccup of an idle machine does not. Same
 * bits either way. The tests set it below 0 (every wait slow) to take that path. */
double mn_recurrent_slow_wait = 50e-6;
#define SLOW_WAITS 4
#define SLOW_SHARE 64

void mn_recurrent_forward_split(const mn_time_loop *k, int threads) {
    mn_recurrent *s = k->s;
    const int B = k->B, H = s->H;
    mn_spin_barrier bar;
    /* step t's vote is solo[t & 1]: a thread already at step t + 1 votes in the other
     * slot, so it cannot change what a slower thread reads after step t's barrier, and
     * step t + 2 reuses the slot only after every thread has passed step t + 1's */
    atomic_int solo[2];
    atomic_init(&solo[0], 0);
    atomic_init(&solo[1], 0);
    (void)threads;   /* read by OpenMP only */
    #pragma omp parallel num_threads(threads)
    {
        int u0, u1, phase = 0, slow = 0, alone = 0;
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
            if (alone) continue;
            /* voted before the barrier, read after it: every thread reads the same vote */
            if (slow >= SLOW_WAITS && slow * SLOW_SHARE >= t + 1)
                atomic_store_explicit(&solo[t & 1], 1, memory_order_relaxed);
            double t0 = mn_now();
            mn_spin_barrier_wait(&bar, &phase);   /* h_t whole before any reads it */
            slow += mn_now() - t0 >= mn_recurrent_slow_wait;
            if (atomic_load_explicit(&solo[t & 1], memory_order_relaxed)) {
                if (u0 != 0) break;
                alone = 1;
                u1 = H;
            }
        }
    }
}

/* A stream's steps fork every call, and a fork waits until every thread of the team has
 * run: on a loaded machine up to a scheduler's time slice (GRU 300×1×256 on 2 threads
 * beside a 2-job build: 7.8 ms a step against 40 µs on one). So the stream times its
 * split steps. One is slow past 1.5× the last one-thread step + 5 µs (before any,
 * mn_recurrent_slow_wait + 1 ns a multiply-add). Three slow ones close together send
 * the next SOLO_STEPS steps (of this stream or the layer's next) to one thread, and each
 * fallback in a row doubles that, to 64·SOLO_STEPS: a retry on a loaded machine costs
 * slow forks. The first two split steps after one-thread steps go untimed (they wake the
 * team and move the other thread's half of the weights). Step 0 runs on the thread that
 * just packed the weights: another would first pull its half of them from this core's
 * cache (a one-step stream on 2 threads took 2.2× as long). */
#define SOLO_STEPS 1000

static int stream_threads(mn_recurrent *s, int t, int B) {
    if (t == 0) return 1;
    if (s->split.solo > 0) {
        s->split.solo--;
        return 1;
    }
    return mn_recurrent_unit_threads(s, 1, B, 1);
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

/* Scores a split step of `secs` seconds (`macs` multiply-adds) and decides the next ones. */
static void record_split(mn_stream_split *r, double secs, double macs) {
    if (r->warm > 0) {
        r->warm--;
        return;
    }
    double limit = r->solo_s > 0 ? 1.5 * r->solo_s + 5e-6 : mn_recurrent_slow_wait + 1e-9 * macs;
    if (mn_recurrent_slow_wait < 0 || secs > limit) r->score += SLOW_SHARE;
    else if (r->score > 0) r->score--;
    if (r->score > 2 * SLOW_SHARE) {
        r->solo_len = MN_MIN(MN_MAX(2 * r->solo_len, SOLO_STEPS), 64 * SOLO_STEPS);
        r->solo = r->solo_len;
        r->score = r->run = 0;
    } else if (++r->run > 4 * SLOW_SHARE) {
        r->solo_len = 0;   /* the split has held: the next fallback is a short one again */
    }
}

void mn_recurrent_stream_compute(const mn_time_loop *k, const float *x_t, int t) {
    mn_recurrent *s = k->s;
    int threads = stream_threads(s, t, k->B);
    double t0 = mn_now();
    if (threads == 1) {
        mn_sgemm_packed(0, k->B, 1.0f, x_t, s->base.in_size, &s->wih_t, 0.0f, s->act, s->GH);
        mn_recurrent_run_time_loop(k, 0, s->proj ? mn_recurrent_forward_step_proj
                                                 : mn_recurrent_forward_step);
        s->split.solo_s = mn_now() - t0;
        s->split.warm = 2;
        return;
    }
    step_split(k, x_t, threads);
    record_split(&s->split, mn_now() - t0, (double)s->GH * (s->base.in_size + s->H) * k->B);
}
