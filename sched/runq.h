/* Per-worker run queue: a fixed ring of WEFT__RUNQ_CAP task pointers with
 * 64-bit indices, owned by one worker and stolen from by the others (the
 * design of Go's runq and Tokio's local queue, chosen over a Chase-Lev deque
 * because a fixed ring needs no resize and no reclamation of old buffers).
 *
 *   head  advanced by CAS, by the owner (pop) and by thieves (steal);
 *   tail  written by the owner only (push), read by thieves;
 *   slots atomic, written by the owner at tail, read by anyone in
 *         [head, tail): a thief may read a slot the owner is rewriting after
 *         a wrap, but its CAS on head then fails and it discards what it read.
 *
 * Invariants: 0 <= tail - head <= CAP; a slot in [head, tail) is never
 * rewritten; an item leaves the ring exactly once (the CAS on head that
 * covers it succeeds exactly once).
 *
 * The algorithm is written once, here, against sched/atomic.h only, so that
 * the model checker (tests/model/runq_model.cpp, Relacy) includes this very
 * header with atomic.h mapped onto its own types. */
#ifndef WEFT_SCHED_RUNQ_H
#define WEFT_SCHED_RUNQ_H

#include <stddef.h>
#include <stdint.h>

#include "atomic.h"

#ifndef WEFT__RUNQ_CAP  /* the model checker shrinks it */
#define WEFT__RUNQ_CAP 256u
#endif

typedef struct weft__runq {
    weft__atomic(uint64_t) head;
    char pad0[64 - sizeof(uint64_t)];
    weft__atomic(uint64_t) tail;
    char pad1[64 - sizeof(uint64_t)];
    weft__atomic(void *) slot[WEFT__RUNQ_CAP];
} weft__runq_t;

static inline void weft__runq_init(weft__runq_t *q)
{
    weft__store_relaxed(&q->head, 0);
    weft__store_relaxed(&q->tail, 0);
    for (unsigned i = 0; i < WEFT__RUNQ_CAP; i++)
        weft__store_relaxed(&q->slot[i], NULL);
}

/* Any thread; a snapshot that may be stale by the time it returns. */
static inline uint64_t weft__runq_len(weft__runq_t *q)
{
    uint64_t h = weft__load_acquire(&q->head);
    uint64_t t = weft__load_acquire(&q->tail);
    return t > h ? t - h : 0;
}

/* Owner only. Push x at the tail; false when the ring is full. */
static inline int weft__runq_push(weft__runq_t *q, void *x)
{
    /* acquire: pairs with a thief's CAS on head, so the thief has finished
     * reading the slots it took before we reuse them. */
    uint64_t h = weft__load_acquire(&q->head);
    uint64_t t = weft__load_relaxed(&q->tail);
    if (t - h >= WEFT__RUNQ_CAP)
        return 0;
    weft__store_relaxed(&q->slot[t % WEFT__RUNQ_CAP], x);
    /* release: publishes the slot to the thieves' acquire load of tail. */
    weft__store_release(&q->tail, t + 1);
    return 1;
}

/* Owner only, on a full ring: take the older half out of the ring, into
 * batch[] (room for WEFT__RUNQ_CAP / 2), so the caller can move it to the
 * injection queue. Returns how many were taken; 0 when thieves made room
 * meanwhile (then push again). */
static inline unsigned weft__runq_grab_half(weft__runq_t *q, void **batch)
{
    uint64_t h = weft__load_acquire(&q->head);
    uint64_t t = weft__load_relaxed(&q->tail);
    if (t - h < WEFT__RUNQ_CAP)
        return 0;
    unsigned n = WEFT__RUNQ_CAP / 2;
    for (unsigned i = 0; i < n; i++)
        batch[i] = weft__load_relaxed(&q->slot[(h + i) % WEFT__RUNQ_CAP]);
    if (!weft__cas_acq_rel(&q->head, &h, h + n))
        return 0;
    return n;
}

/* Owner only. Pop from the head (FIFO); NULL when empty. */
static inline void *weft__runq_pop(weft__runq_t *q)
{
    uint64_t h = weft__load_acquire(&q->head);
    for (;;) {
        uint64_t t = weft__load_relaxed(&q->tail);
        if (h == t)
            return NULL;
        void *x = weft__load_relaxed(&q->slot[h % WEFT__RUNQ_CAP]);
        /* acq_rel: orders our slot read before the head moves on (the owner
         * itself rewrites the slot later, but thieves compete for it). */
        if (weft__cas_acq_rel(&q->head, &h, h + 1))
            return x;
        /* h now holds the current head: retry. */
    }
}

/* A thief (the owner of `into`, which must be empty) steals half of
 * victim's items, rounded up: one is returned, the rest are published in
 * `into`. NULL when the victim had nothing. *stolen counts all taken. */
static inline void *weft__runq_steal(weft__runq_t *victim, weft__runq_t *into,
                                     unsigned *stolen)
{
    uint64_t it = weft__load_relaxed(&into->tail);
    uint64_t n;
    for (;;) {
        /* acquire on both: tail publishes the slots (owner's release);
         * head orders our slot reads after earlier steals' CAS. */
        uint64_t h = weft__load_acquire(&victim->head);
        uint64_t t = weft__load_acquire(&victim->tail);
        if (t <= h)
            return NULL;
        n = t - h;
        if (n > WEFT__RUNQ_CAP)  /* h was stale against a newer t: reload */
            continue;
        n -= n / 2;
        for (uint64_t i = 0; i < n; i++) {
            void *x = weft__load_relaxed(&victim->slot[(h + i) % WEFT__RUNQ_CAP]);
            weft__store_relaxed(&into->slot[(it + i) % WEFT__RUNQ_CAP], x);
        }
        /* acq_rel: the release half tells the victim's next push (acquire
         * load of head) that we are done reading these slots. */
        if (weft__cas_acq_rel(&victim->head, &h, h + n))
            break;
    }
    *stolen = (unsigned)n;
    n--;
    void *x = weft__load_relaxed(&into->slot[(it + n) % WEFT__RUNQ_CAP]);
    if (n)
        weft__store_release(&into->tail, it + n);
    return x;
}

#endif
