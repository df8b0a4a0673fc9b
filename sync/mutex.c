/* Mutex and condition variable.
 *
 * The mutex follows Go's sync.Mutex in spirit: the state word holds LOCKED
 * and WAITERS; lock and unlock are one CAS each while nobody waits. An
 * unlock that finds waiters normally releases the lock and wakes the first
 * waiter to compete for it (a running task may barge in first, which keeps
 * the lock hot under contention); a woken waiter that loses goes back to
 * the front of the queue. Once the first waiter has waited STARVE_NS, the
 * unlocker hands the lock over directly instead (LOCKED never drops), so no
 * waiter waits forever. */
#include "sync.h"

WEFT__SYNC_LAYOUT(weft_mutex_t);
WEFT__SYNC_LAYOUT(weft_cond_t);

enum { M_LOCKED = 1, M_WAITERS = 2 };

#define STARVE_NS 1000000u

static bool m_free(uint32_t s)
{
    return !(s & M_LOCKED);
}

static uint32_t m_take(uint32_t s)
{
    return s | M_LOCKED;
}

/* Any thread: take the lock if it is free, waiters or not. */
static bool try_take(weft__sync_t *m)
{
    uint32_t s = weft__load_relaxed(&m->state);
    while (m_free(s))
        /* acquire: pairs with the release of the unlock that freed it. */
        if (weft__cas_acq_rel(&m->state, &s, m_take(s)))
            return true;
    return false;
}

/* Under the guard: set or clear WAITERS. LOCKED may flip meanwhile (a
 * barging try_take), hence the CAS. */
static void set_waiters(weft__sync_t *m, bool on)
{
    uint32_t s = weft__load_relaxed(&m->state);
    for (;;) {
        uint32_t want = on ? s | M_WAITERS : s & ~(uint32_t)M_WAITERS;
        if (want == s || weft__cas_acq_rel(&m->state, &s, want))
            return;
    }
}

static int lock_slow(weft__sync_t *m, int flags)
{
    /* Another worker may be about to unlock: a short spin is cheaper than a
     * park and a wake. Pointless with one worker. */
    if (weft_workers() != 1) {
        for (int i = 0; i < 4; i++) {
            for (int k = 0; k < 30; k++)
                weft__cpu_relax();
            if (try_take(m))
                return 0;
        }
    }
    weft__sync_waiter_t x;
    x.since = 0;
    bool front = false;
    for (;;) {
        weft__guard_lock(&m->guard);
        if (weft__sync_take_or_flag(m, M_WAITERS, m_free, m_take)) {
            weft__guard_unlock(&m->guard);
            return 0;
        }
        if (!x.since)
            x.since = weft_now();
        int rc = weft__sync_wait(m, &x, flags | WEFT__WAIT(WEFT__WAIT_MUTEX), front);
        if (rc == WEFT__HANDED)
            return 0;
        if (rc == 0) {
            front = true;  /* woken to compete: keep our turn if we lose */
            continue;
        }
        if (!m->q.head)
            set_waiters(m, false);
        weft__guard_unlock(&m->guard);
        return rc;
    }
}

int weft_mutex_lock(weft_mutex_t *mp)
{
    weft__sync_t *m = weft__sync(mp);
    uint32_t s = 0;
    /* acquire: pairs with the unlocking release. */
    if (weft__cas_acq_rel(&m->state, &s, M_LOCKED))
        return 0;
    return lock_slow(m, 0);
}

/* Wait for the mutex again after a condition wait; never interrupted. */
static void mutex_relock(weft_mutex_t *mp)
{
    weft__sync_t *m = weft__sync(mp);
    if (!try_take(m))
        (void)lock_slow(m, WEFT__PARK_NOINTR);  /* cannot fail: no until */
}

int weft_mutex_trylock(weft_mutex_t *mp)
{
    return try_take(weft__sync(mp)) ? 0 : -EBUSY;
}

static void unlock_slow(weft__sync_t *m)
{
    /* Not locked: an unlock without a lock (a bug of the caller's). */
    WEFT__ASSERT(1, weft__load_relaxed(&m->state) & M_LOCKED);
    weft__guard_lock(&m->guard);
    bool owned = true;  /* LOCKED is still ours to give away */
    for (;;) {
        weft__waiter_t *w = weft__waitq_pop(&m->q);
        bool more = m->q.head != NULL;
        if (!w) {
            if (owned)
                weft__store_release(&m->state, 0);
            else
                set_waiters(m, false);
            break;
        }
        if (owned && weft_now() - weft__sync_waiter_of(w)->since >= STARVE_NS) {
            /* Hand-off: LOCKED stays set, so nobody can barge in. The
             * waker's CAS on the waiter's park word (release) publishes the
             * critical section to it. While we own the lock nobody else
             * writes the state: lockers CAS only a free lock, and WAITERS
             * changes only under the guard we hold. */
            weft__store_relaxed(&m->state, M_LOCKED | (more ? M_WAITERS : 0));
            if (weft__waiter_wake(w, WEFT__HANDED))
                break;
            continue;  /* it gave up meanwhile: the next one */
        }
        if (owned) {
            /* release: publishes the critical section to the next taker. */
            weft__store_release(&m->state, more ? M_WAITERS : 0);
            owned = false;
        } else {
            set_waiters(m, more);
        }
        /* The lock is free now; a waiter must be awake to take it, or the
         * queue may sleep with the lock free. */
        if (weft__waiter_wake(w, 0))
            break;
    }
    weft__guard_unlock(&m->guard);
}

void weft_mutex_unlock(weft_mutex_t *mp)
{
    weft__sync_t *m = weft__sync(mp);
    uint32_t s = M_LOCKED;
    /* release: publishes the critical section to the next locker. */
    if (weft__cas_acq_rel(&m->state, &s, 0))
        return;
    unlock_slow(m);
}

/* ------------------------------------------------------------------------ */
/* Condition variable                                                        */
/* ------------------------------------------------------------------------ */

int weft_cond_wait(weft_cond_t *cp, weft_mutex_t *m)
{
    weft__sync_t *c = weft__sync(cp);
    weft__sync_waiter_t x;
    weft__guard_lock(&c->guard);
    weft__sync_enqueue(c, &x, WEFT__WAIT(WEFT__WAIT_COND), false);
    weft__guard_unlock(&c->guard);
    /* Queued before the unlock: a signal sent after it finds us. */
    weft_mutex_unlock(m);
    int rc = weft__sync_sleep(c, &x, WEFT_FOREVER);
    if (rc < 0)
        weft__guard_unlock(&c->guard);
    mutex_relock(m);
    return rc < 0 ? rc : 0;
}

void weft_cond_signal(weft_cond_t *cp)
{
    weft__sync_t *c = weft__sync(cp);
    weft__guard_lock(&c->guard);
    weft__sync_wake_one(c, 0);
    weft__guard_unlock(&c->guard);
}

void weft_cond_broadcast(weft_cond_t *cp)
{
    weft__sync_t *c = weft__sync(cp);
    weft__guard_lock(&c->guard);
    while (weft__sync_wake_one(c, 0)) {
    }
    weft__guard_unlock(&c->guard);
}
