/* Private plumbing shared by the synchronisation primitives: the one
 * layout behind every public struct, its guard lock, and the wait helper
 * that parks a task (or blocks a plain thread) on a primitive's queue. */
#ifndef WEFT_SYNC_SYNC_H
#define WEFT_SYNC_SYNC_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../sched/atomic.h"
#include "../sched/debug.h"
#include "../sched/guard.h"
#include "../sched/park.h"
#include "weft.h"

/* weft_mutex_t, weft_cond_t, weft_event_t, weft_sem_t, weft_wg_t and
 * weft_rwlock_t all have this layout: a state word whose meaning is the
 * primitive's own (read lock-free on fast paths), a guard that serialises
 * the slow paths, and a FIFO of waiters. The public structs carry plain
 * fields so they can be statically initialised and included from C++. */
typedef struct weft__sync {
    weft__atomic(uint32_t) state;
    weft__atomic(uint32_t) guard;
    weft__waitq_t          q;
} weft__sync_t;

#define WEFT__SYNC_LAYOUT(T)                                                   \
    _Static_assert(sizeof(T) == sizeof(weft__sync_t) &&                        \
                       _Alignof(T) == _Alignof(weft__sync_t) &&                \
                       offsetof(T, guard_) == offsetof(weft__sync_t, guard) && \
                       offsetof(T, head_) == offsetof(weft__sync_t, q.head) && \
                       offsetof(T, tail_) == offsetof(weft__sync_t, q.tail),   \
                   #T " must mirror weft__sync_t")

static inline weft__sync_t *weft__sync(const void *p)
{
    return (weft__sync_t *)(uintptr_t)p;
}

/* Under the guard, on a slow path: either take the primitive, CASing the
 * state s to take(s) while ready(s) holds, and return true; or make sure
 * `waiters` is set in the state and return false, and the caller queues.
 * Under the guard no waker can pop a waiter between the two, and a fast
 * path that changes the state meanwhile makes the CAS fail and the loop
 * look again. */
static inline bool weft__sync_take_or_flag(weft__sync_t *x, uint32_t waiters,
                                           bool (*ready)(uint32_t),
                                           uint32_t (*take)(uint32_t))
{
    uint32_t s = weft__load_relaxed(&x->state);
    for (;;) {
        if (ready(s)) {
            /* acquire: pairs with the release that made it ready. */
            if (weft__cas_acq_rel(&x->state, &s, take(s)))
                return true;
        } else if ((s & waiters) || weft__cas_acq_rel(&x->state, &s, s | waiters)) {
            return false;
        }
    }
}

/* The code a waker passes when it hands the resource itself to the waiter
 * (the lock, a semaphore unit): the waiter owns it on waking. 0 means
 * "look again". */
#define WEFT__HANDED 1

/* A waiter on one primitive's queue. */
typedef struct weft__sync_waiter {
    weft__waiter_t        w;
    weft__thread_parker_t tp;     /* plain threads only */
    uint64_t              since;  /* when it first queued (mutex fairness) */
    int                   kind;   /* the primitive's own tag (rwlock: R/W) */
} weft__sync_waiter_t;

static inline weft__sync_waiter_t *weft__sync_waiter_of(weft__waiter_t *w)
{
    return (weft__sync_waiter_t *)w;  /* w is the first member */
}

/* Caller holds s->guard and has decided to wait: make x the caller's
 * waiter and queue it (at the front when `front`: a waiter that was woken
 * and lost the race keeps its turn). From here a wake can land. flags:
 * WEFT__PARK_NOINTR or 0. */
void weft__sync_enqueue(weft__sync_t *s, weft__sync_waiter_t *x, int flags,
                        bool front);

/* After weft__sync_enqueue and dropping the guard: sleep until woken or
 * `until` (monotonic ns, then -ETIMEDOUT). Returns the waker's code with
 * the guard NOT held, or a negative code (-ECANCELED, -ETIMEDOUT, -ENOMEM)
 * with x off the queue and the guard HELD, so the caller can pass on
 * whatever the wait would have had. */
int weft__sync_sleep(weft__sync_t *s, weft__sync_waiter_t *x, uint64_t until);

/* Both of the above, for the usual case. */
static inline int weft__sync_wait(weft__sync_t *s, weft__sync_waiter_t *x,
                                  int flags, bool front)
{
    weft__sync_enqueue(s, x, flags, front);
    weft__guard_unlock(&s->guard);
    return weft__sync_sleep(s, x, WEFT_FOREVER);
}

/* Under the guard: pop waiters until one can still be woken with code;
 * false when the queue ran out first. A woken waiter's memory may be gone
 * the moment it is woken (it lives on the waiter's stack): never touch a
 * waiter after waking it. */
bool weft__sync_wake_one(weft__sync_t *s, int code);

#endif
