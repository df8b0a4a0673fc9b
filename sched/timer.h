/* Per-worker timer heap: a binary min-heap of intrusive timers with their
 * heap index stored in the timer, so insert and cancel are O(log n). A heap
 * belongs to a worker but is locked: a timer is cancelled by whoever wakes
 * its task first, and idle workers fire the due timers of busy ones. */
#ifndef WEFT_SCHED_TIMER_H
#define WEFT_SCHED_TIMER_H

#include <pthread.h>
#include <stdint.h>

#include "atomic.h"

typedef struct weft__timerheap weft__timerheap_t;

typedef struct weft__timer {
    uint64_t           when;   /* monotonic ns                        */
    int                idx;    /* heap slot; -1 while not armed       */
    int                code;   /* for the fire callback                */
    weft__timerheap_t *heap;   /* where it is armed (under heap->lock) */
    void              *data;
} weft__timer_t;

typedef void weft__timer_fire_fn(weft__timer_t *t);

struct weft__timerheap {
    pthread_mutex_t        lock;
    weft__timer_t        **a;
    int                    n, cap;
    weft__atomic(uint64_t) next;  /* a[0]->when, UINT64_MAX when empty;
                                     read without the lock as a hint */
    weft__timer_fire_fn   *fire;
};

void weft__timerheap_init(weft__timerheap_t *h, weft__timer_fire_fn *fire);
void weft__timerheap_fini(weft__timerheap_t *h);

static inline void weft__timer_init(weft__timer_t *t, void *data)
{
    t->idx = -1;
    t->heap = 0;
    t->data = data;
}

/* Arm t (not armed) in h; 0, or -ENOMEM when the heap cannot grow.
 * *became_first is set when t is now h's earliest timer. Any thread. */
int weft__timer_add(weft__timerheap_t *h, weft__timer_t *t, uint64_t when,
                    int code, int *became_first);
/* Disarm t if armed; returns 1 if it was armed, 0 if it had fired or was
 * never armed. After it returns, t's fire callback is not running. Any
 * thread. */
int weft__timer_del(weft__timer_t *t);
/* Fire every timer of h due at `now`, calling h->fire with h->lock held
 * (so a fire never races weft__timer_del). Returns how many fired. */
int weft__timers_fire(weft__timerheap_t *h, uint64_t now);

#endif
