/* Reader-writer lock: state = readers << 2 | WAITERS | WRITER.
 *
 * Fast paths (one CAS) run only while nobody waits. Once someone waits,
 * every arrival queues behind them in FIFO order and every release goes
 * through the guard, where grant() hands the lock to the head of the
 * queue: one writer, or the run of consecutive readers at the head. A
 * reader arriving behind a waiting writer therefore waits for it (writers
 * do not starve), and the readers queued behind that writer all enter
 * together when it leaves (readers do not starve either). */
#include "sync.h"

WEFT__SYNC_LAYOUT(weft_rwlock_t);

enum { RW_WRITER = 1, RW_WAITERS = 2, RW_READER = 4 };
enum { KIND_READ, KIND_WRITE };

/* Under the guard: give the lock to the head of the queue for as long as
 * it fits. While WAITERS is set nobody else writes the state; once it is
 * clear (the queue is empty) the fast paths own it and we must not store. */
static void grant(weft__sync_t *l)
{
    uint32_t s = weft__load_relaxed(&l->state);
    if (!(s & RW_WAITERS))
        return;
    for (;;) {
        weft__waiter_t *w = l->q.head;
        if (!w) {
            s &= ~(uint32_t)RW_WAITERS;
            break;
        }
        int kind = weft__sync_waiter_of(w)->kind;
        if (kind == KIND_WRITE ? (s & ~(uint32_t)RW_WAITERS) != 0 : (s & RW_WRITER))
            break;
        weft__waitq_pop(&l->q);
        uint32_t with = kind == KIND_WRITE ? s | RW_WRITER : s + RW_READER;
        /* release: the waiter's wake (acq_rel CAS) carries the state. */
        weft__store_release(&l->state, with);
        if (weft__waiter_wake(w, WEFT__HANDED))
            s = with;
        else
            weft__store_relaxed(&l->state, s);  /* it gave up meanwhile */
        if (kind == KIND_WRITE && s & RW_WRITER)
            break;
    }
    weft__store_release(&l->state, s);
}

/* A reader enters while no writer holds and nobody waits; a writer only
 * when the lock is entirely free. */
static bool rd_ready(uint32_t s)
{
    return !(s & (RW_WRITER | RW_WAITERS));
}

static uint32_t rd_take(uint32_t s)
{
    return s + RW_READER;
}

static bool wr_ready(uint32_t s)
{
    return s == 0;
}

static uint32_t wr_take(uint32_t s)
{
    return s | RW_WRITER;
}

int weft_rwlock_tryrdlock(weft_rwlock_t *lp)
{
    weft__sync_t *l = weft__sync(lp);
    uint32_t s = weft__load_relaxed(&l->state);
    while (rd_ready(s))
        /* acquire: pairs with the writer's releasing unlock. */
        if (weft__cas_acq_rel(&l->state, &s, rd_take(s)))
            return 0;
    return -EBUSY;
}

int weft_rwlock_trywrlock(weft_rwlock_t *lp)
{
    uint32_t s = 0;
    return weft__cas_acq_rel(&weft__sync(lp)->state, &s, RW_WRITER) ? 0 : -EBUSY;
}

static int lock_slow(weft__sync_t *l, int kind)
{
    weft__guard_lock(&l->guard);
    bool took = kind == KIND_WRITE
                    ? weft__sync_take_or_flag(l, RW_WAITERS, wr_ready, wr_take)
                    : weft__sync_take_or_flag(l, RW_WAITERS, rd_ready, rd_take);
    if (took) {
        weft__guard_unlock(&l->guard);
        return 0;
    }
    weft__sync_waiter_t x;
    x.kind = kind;
    int rc = weft__sync_wait(l, &x,
                             WEFT__WAIT(kind == KIND_WRITE ? WEFT__WAIT_RWLOCK_WRITE
                                                           : WEFT__WAIT_RWLOCK_READ),
                             false);
    if (rc >= 0)
        return 0;  /* WEFT__HANDED */
    /* We may have been the writer at the head that held back readers. */
    grant(l);
    weft__guard_unlock(&l->guard);
    return rc;
}

int weft_rwlock_rdlock(weft_rwlock_t *l)
{
    return weft_rwlock_tryrdlock(l) == 0 ? 0 : lock_slow(weft__sync(l), KIND_READ);
}

int weft_rwlock_wrlock(weft_rwlock_t *l)
{
    return weft_rwlock_trywrlock(l) == 0 ? 0 : lock_slow(weft__sync(l), KIND_WRITE);
}

void weft_rwlock_unlock(weft_rwlock_t *lp)
{
    weft__sync_t *l = weft__sync(lp);
    for (;;) {
        uint32_t s = weft__load_relaxed(&l->state);
        while (!(s & RW_WAITERS)) {
            uint32_t to = (s & RW_WRITER) ? s & ~(uint32_t)RW_WRITER : s - RW_READER;
            /* release: publishes the critical section to the next holder. */
            if (weft__cas_acq_rel(&l->state, &s, to))
                return;
        }
        weft__guard_lock(&l->guard);
        s = weft__load_relaxed(&l->state);
        if (s & RW_WAITERS) {
            s = (s & RW_WRITER) ? s & ~(uint32_t)RW_WRITER : s - RW_READER;
            weft__store_release(&l->state, s);
            grant(l);
            weft__guard_unlock(&l->guard);
            return;
        }
        /* The last waiter gave up meanwhile: back to the fast path. */
        weft__guard_unlock(&l->guard);
    }
}
