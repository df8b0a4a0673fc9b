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

int weft_rwlock_tryrdlock(weft_rwlock_t *lp)
{
    weft__sync_t *l = weft__sync(lp);
    uint32_t s = weft__load_relaxed(&l->state);
    while (!(s & (RW_WRITER | RW_WAITERS)))
        /* acquire: pairs with the writer's releasing unlock. */
        if (weft__cas_acq_rel(&l->state, &s, s + RW_READER))
            return 0;
    return -EBUSY;
}

int weft_rwlock_trywrlock(weft_rwlock_t *lp)
{
    uint32_t s = 0;
    return weft__cas_acq_rel(&weft__sync(lp)->state, &s, RW_WRITER) ? 0 : -EBUSY;
}

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

static int lock_slow(weft__sync_t *l, int kind)
{
    uint32_t busy = kind == KIND_WRITE ? ~(uint32_t)0 : RW_WRITER | RW_WAITERS;
    uint32_t take = kind == KIND_WRITE ? RW_WRITER : RW_READER;
    weft__guard_lock(&l->guard);
    uint32_t s = weft__load_relaxed(&l->state);
    for (;;) {
        if (!(s & busy)) {
            if (weft__cas_acq_rel(&l->state, &s, s + take)) {
                weft__guard_unlock(&l->guard);
                return 0;
            }
        } else if ((s & RW_WAITERS) ||
                   weft__cas_acq_rel(&l->state, &s, s | RW_WAITERS)) {
            break;
        }
    }
    weft__sync_waiter_t x;
    x.kind = kind;
    int rc = weft__sync_wait(l, &x, 0, false);
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
