/* The guard lock of weft's short critical sections: the sync primitives'
 * slow paths, a task's joiner list, a worker's task list. */
#ifndef WEFT_SCHED_GUARD_H
#define WEFT_SCHED_GUARD_H

#include <sched.h>
#include <stdint.h>

#include "atomic.h"

/* The guard is a test-and-test-and-set lock: one atomic exchange to take,
 * a plain release store to drop (a pthread mutex costs an atomic on both,
 * and its init and destroy). It is held only for a few pointer updates and
 * never across a park, so its holder is always running (on some thread);
 * after a short spin we yield the CPU in case the OS preempted that
 * thread. */
static inline void weft__guard_lock(weft__atomic(uint32_t) *g)
{
    /* acquire (acq_rel): pairs with weft__guard_unlock's release. */
    while (weft__xchg_acq_rel(g, 1)) {
        for (unsigned i = 0; weft__load_relaxed(g); i++) {
            if (i < 64)
                weft__cpu_relax();
            else
                sched_yield();
        }
    }
}

static inline void weft__guard_unlock(weft__atomic(uint32_t) *g)
{
    weft__store_release(g, 0);
}

#endif
