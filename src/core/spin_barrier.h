/* A barrier for threads that meet thousands of times a second: a recurrent layer split
 * among cores by units meets once per time step, a few microseconds apart. OpenMP's
 * barrier costs ~260 ns on this project's 2-core machine and this one ~35 ns
 * (a sense-reversing counter; both measured by a loop of 200k barriers), so at batch 1
 * it decides whether a second core pays at all. Only for threads that run at once
 * (an OpenMP team): a waiter spins, then yields its core so an oversubscribed machine
 * still makes progress. */
#ifndef MN_SPIN_BARRIER_H
#define MN_SPIN_BARRIER_H

#include <stdatomic.h>

typedef struct {
    _Alignas(64) atomic_int arrived;   /* threads at the barrier in this phase */
    _Alignas(64) atomic_int phase;     /* flips when the last one arrives; waiters read it */
    int n;
} mn_spin_barrier;

/* For n threads; before any of them waits. */
void mn_spin_barrier_init(mn_spin_barrier *b, int n);
/* Returns once all n threads have called it; *phase is the caller's own, 0 at first.
 * What each thread wrote before it is visible to all after it. */
void mn_spin_barrier_wait(mn_spin_barrier *b, int *phase);

#endif
