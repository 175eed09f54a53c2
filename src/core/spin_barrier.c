#include "spin_barrier.h"

#include <sched.h>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define cpu_relax() _mm_pause()
#else
#define cpu_relax() ((void)0)
#endif

/* Pauses before a waiter starts yielding its core: ~50-150 µs on a current x86 core,
 * many times a step worth splitting, so by then the thread it waits for is not running
 * (another program has its core), and spinning on would only take the core from it. */
#define SPINS_BEFORE_YIELD (1L << 12)

void mn_spin_barrier_init(mn_spin_barrier *b, int n) {
    atomic_init(&b->arrived, 0);
    atomic_init(&b->phase, 0);
    b->n = n;
}

void mn_spin_barrier_wait(mn_spin_barrier *b, int *phase) {
    int next = *phase ^ 1;
    *phase = next;
    if (atomic_fetch_add_explicit(&b->arrived, 1, memory_order_acq_rel) == b->n - 1) {
        /* the reset comes before the release, so no thread enters the next phase early */
        atomic_store_explicit(&b->arrived, 0, memory_order_relaxed);
        atomic_store_explicit(&b->phase, next, memory_order_release);
        return;
    }
    for (long spins = 0; atomic_load_explicit(&b->phase, memory_order_acquire) != next; spins++) {
        if (spins < SPINS_BEFORE_YIELD) cpu_relax();
        else sched_yield();
    }
}
