/* Spinning and idle workers: which worker looks for work, which sleeps, and
 * who wakes whom, so that a runnable task never waits while every worker
 * sleeps (no lost wake-up) and a new task wakes one sleeper, not all (no
 * thundering herd). The design is in sched.c's essay ("The wake-up
 * protocol"), the argument in docs/scheduler.md.
 *
 *   nspinning  workers counted as spinners (looking for work to steal),
 *              plus a waker between winning its CAS and popping a sleeper;
 *              a worker starts spinning only while fewer than half of the
 *              workers that are not idle spin, so never more than half of
 *              all workers, rounded up (weft__idle_spin, weft__idle_wakep);
 *   nidle      workers on the idle list;
 *   list       the idle workers, newest first, under *lock;
 *   a node's idle and spinning flags: written by its owner, or under *lock
 *              by a waker while the owner is on the idle list (the owner
 *              takes *lock before it reads them again).
 *
 * The counters are changed only by seq_cst read-modify-writes, so each has
 * one order of changes that the fences of wakep and park are placed
 * against. The lock is the caller's (rt.lock, which guards the injection
 * queue too): the counters are read without it.
 *
 * Written once, here, against sched/atomic.h only (like runq.h), so that the
 * model checker (tests/model/park_model.cpp, Relacy) includes this very
 * header with the atomics, the lock and the plain fields mapped onto its
 * own checked types. */
#ifndef WEFT_SCHED_IDLE_H
#define WEFT_SCHED_IDLE_H

#include <stddef.h>

#include "atomic.h"
#include "debug.h"

/* One per worker. */
typedef struct weft__idle_node {
    weft__var(struct weft__idle_node *) next;  /* idle list link (*lock) */
    weft__var(int) idle;                       /* on the idle list       */
    weft__var(int) spinning;                   /* counted in nspinning   */
} weft__idle_node_t;

typedef struct weft__idle {
    weft__mutex_t *lock;
    /* Wake n's worker, which a waker has just taken off the idle list (its
     * poller's wake-up: kept if the worker is not asleep yet). */
    void (*wake)(weft__idle_node_t *n);
    weft__var(weft__idle_node_t *) list;
    weft__atomic(int) nidle;
    weft__atomic(int) nspinning;
    int nworkers;
} weft__idle_t;

/* What parking needs from the caller; each gets the `arg` given to
 * weft__idle_park. */
typedef struct weft__idle_park_ops {
    /* *lock held, the node has just joined the idle list. */
    void (*joined)(void *arg);
    /* After the fence: whether there is a reason not to sleep (work in any
     * queue, the runtime stopping). Must look at every queue a task can be
     * published to before a wakep. */
    int (*busy)(void *arg);
    /* Sleep until woken. A wake sent before the sleep starts must end it
     * (a poller's wake-up descriptor stays readable). It may end early. */
    void (*sleep)(void *arg);
    /* *lock held, the node is off the idle list. */
    void (*left)(void *arg);
} weft__idle_park_ops_t;

/* Before any worker runs. */
static inline void weft__idle_init(weft__idle_t *ic, weft__mutex_t *lock,
                                   int nworkers,
                                   void (*wake)(weft__idle_node_t *n))
{
    ic->lock = lock;
    ic->wake = wake;
    weft__v(ic->list) = NULL;
    weft__store_relaxed(&ic->nidle, 0);
    weft__store_relaxed(&ic->nspinning, 0);
    ic->nworkers = nworkers;
}

static inline void weft__idle_node_init(weft__idle_node_t *n)
{
    weft__v(n->next) = NULL;
    weft__v(n->idle) = 0;
    weft__v(n->spinning) = 0;
}

/* Owner: whether n counts as a spinner (after a park, a waker may have
 * made it one). */
static inline int weft__idle_spinning(weft__idle_node_t *n)
{
    return weft__v(n->spinning);
}

/* *lock held: whether n is on the idle list. */
static inline int weft__idle_is_idle_locked(weft__idle_node_t *n)
{
    return weft__v(n->idle);
}

/* *lock held: the most recent sleeper, or NULL. */
static inline weft__idle_node_t *weft__idle_first_locked(weft__idle_t *ic)
{
    return weft__v(ic->list);
}

/* Any thread: the number of idle workers, a snapshot. */
static inline int weft__idle_count(weft__idle_t *ic)
{
    return weft__load_relaxed(&ic->nidle);
}

/* The slow half of weft__idle_wakep: nobody spins and someone sleeps. */
static inline void weft__idle_wake_one(weft__idle_t *ic)
{
    int zero = 0;
    /* seq_cst: one spinner at a time is started by a producer; losing
     * means someone else just started spinning and will find the task. */
    if (!weft__cas_seq_cst(&ic->nspinning, &zero, 1))
        return;
    weft__mutex_lock(ic->lock);
    weft__idle_node_t *v = weft__v(ic->list);
    if (v) {
        weft__v(ic->list) = weft__v(v->next);
        weft__v(v->idle) = 0;
        weft__v(v->spinning) = 1;  /* counted by our CAS */
        weft__fetch_sub_seq_cst(&ic->nidle, 1);
    } else {
        /* Give the count back under the lock: a worker joining the idle
         * list after us must see nspinning == 0, or be seen by its
         * re-check (it takes the lock after us, then fences). */
        weft__fetch_sub_seq_cst(&ic->nspinning, 1);
    }
    weft__mutex_unlock(ic->lock);
    if (v)
        ic->wake(v);
}

/* Any thread, after publishing a runnable task: wake an idle worker, now
 * counted as a spinner (it looks for work once awake), unless someone
 * already spins or nobody sleeps. */
static inline void weft__idle_wakep(weft__idle_t *ic)
{
    /* seq_cst: orders the caller's publication before our reads of the
     * counters; pairs with the fence in weft__idle_park (Dekker's pattern:
     * either we see the sleeper's counts, or its re-check sees the task). */
    weft__fence_seq_cst();
    /* relaxed: placed by the fence. */
    if (weft__load_relaxed(&ic->nspinning) != 0 ||
        weft__load_relaxed(&ic->nidle) == 0)
        return;
    weft__idle_wake_one(ic);
}

/* Owner, out of work of its own: whether n may look for work in the other
 * workers' queues (it then spins until weft__idle_found or _park). Only
 * while fewer than half of the workers that are not idle spin. */
static inline int weft__idle_spin(weft__idle_t *ic, weft__idle_node_t *n)
{
    if (weft__v(n->spinning))
        return 1;
    /* relaxed: the counts only ration CPU here. The CAS makes the bound
     * exact: a check, then an add, would let two workers pass at once. */
    int s = weft__load_relaxed(&ic->nspinning);
    for (;;) {
        int busy = ic->nworkers - weft__load_relaxed(&ic->nidle);
        if (2 * s >= busy)
            return 0;
        /* seq_cst: like every change of nspinning (see the top). */
        if (weft__cas_seq_cst(&ic->nspinning, &s, s + 1))
            break;
        /* s now holds the current count: check again. */
    }
    weft__v(n->spinning) = 1;
    return 1;
}

/* The rare half of weft__idle_found, out of line so that the common half
 * (not spinning) stays small in the scheduler's loop. */
static __attribute__((noinline, unused)) void
weft__idle_stop_spinning(weft__idle_t *ic, weft__idle_node_t *n)
{
    weft__v(n->spinning) = 0;
    /* seq_cst: a producer that saw us counted relies on us; after this,
     * the wakep below (its fence) takes over that duty. */
    int was = weft__fetch_sub_seq_cst(&ic->nspinning, 1);
    WEFT__ASSERT(1, was > 0);
    if (was == 1)
        weft__idle_wakep(ic);
}

/* Owner, n found a task to run: n stops spinning. The last spinner wakes
 * an idle worker (see weft__idle_wakep): a producer that saw it spinning
 * relied on it, and work comes in bursts, the rest of this one may be
 * queued already (Go's resetspinning). */
static inline void weft__idle_found(weft__idle_t *ic, weft__idle_node_t *n)
{
    if (weft__v(n->spinning))
        weft__idle_stop_spinning(ic, n);
}

/* Owner, out of work and not allowed to spin or done spinning: join the
 * idle list, re-check for work, sleep unless there is some, leave the idle
 * list (unless a waker already took n off it, making it a spinner). */
static inline void weft__idle_park(weft__idle_t *ic, weft__idle_node_t *n,
                                   const weft__idle_park_ops_t *ops, void *arg)
{
    weft__mutex_lock(ic->lock);
    weft__v(n->idle) = 1;
    weft__v(n->next) = weft__v(ic->list);
    weft__v(ic->list) = n;
    weft__fetch_add_seq_cst(&ic->nidle, 1);
    if (weft__v(n->spinning)) {
        weft__v(n->spinning) = 0;
        int was = weft__fetch_sub_seq_cst(&ic->nspinning, 1);
        WEFT__ASSERT(1, was > 0);
    }
    ops->joined(arg);
    weft__mutex_unlock(ic->lock);

    /* seq_cst: pairs with the fence in weft__idle_wakep. Of the two, if
     * the producer's comes first, the re-check below sees its task; if
     * ours does, the producer's reads see our counts changed above. */
    weft__fence_seq_cst();
    if (!ops->busy(arg))
        ops->sleep(arg);

    weft__mutex_lock(ic->lock);
    if (weft__v(n->idle)) {
        weft__idle_node_t *p = weft__v(ic->list);
        if (p == n) {
            weft__v(ic->list) = weft__v(n->next);
        } else {
            while (weft__v(p->next) != n)
                p = weft__v(p->next);
            weft__v(p->next) = weft__v(n->next);
        }
        weft__v(n->idle) = 0;
        int was = weft__fetch_sub_seq_cst(&ic->nidle, 1);
        WEFT__ASSERT(1, was > 0);
    }
    ops->left(arg);
    weft__mutex_unlock(ic->lock);
}

#endif
