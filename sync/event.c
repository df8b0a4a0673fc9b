/* Event, semaphore and wait group: a counter or a flag in the state word,
 * waiters behind the guard. */
#include <limits.h>

#include "sync.h"

WEFT__SYNC_LAYOUT(weft_event_t);
WEFT__SYNC_LAYOUT(weft_sem_t);
WEFT__SYNC_LAYOUT(weft_wg_t);

/* Wait on s until a waker's code arrives; `done` is checked under the
 * guard first. For the wait-until-a-state primitives (event, wait group),
 * which hand nothing over: an interrupted waiter simply leaves. */
static int wait_state(weft__sync_t *s, bool (*done)(weft__sync_t *), int kind)
{
    weft__guard_lock(&s->guard);
    if (done(s)) {
        weft__guard_unlock(&s->guard);
        return 0;
    }
    weft__sync_waiter_t x;
    int rc = weft__sync_wait(s, &x, WEFT__WAIT(kind), false);
    if (rc < 0)
        weft__guard_unlock(&s->guard);
    return rc < 0 ? rc : 0;
}

static void wake_all(weft__sync_t *s)
{
    while (weft__sync_wake_one(s, 0)) {
    }
}

/* ------------------------------------------------------------------------ */
/* Event: state 1 when set                                                   */
/* ------------------------------------------------------------------------ */

static bool event_set(weft__sync_t *e)
{
    /* acquire: pairs with weft_event_set's release, for what the setter
     * wrote before setting. */
    return weft__load_acquire(&e->state) != 0;
}

void weft_event_set(weft_event_t *ep)
{
    weft__sync_t *e = weft__sync(ep);
    weft__store_release(&e->state, 1);
    /* A waiter checks the flag under the guard before queueing, so it
     * either saw it set or is queued by the time we hold the guard. */
    weft__guard_lock(&e->guard);
    wake_all(e);
    weft__guard_unlock(&e->guard);
}

void weft_event_clear(weft_event_t *ep)
{
    weft__store_release(&weft__sync(ep)->state, 0);
}

int weft_event_is_set(const weft_event_t *ep)
{
    return event_set(weft__sync(ep));
}

int weft_event_wait(weft_event_t *ep)
{
    weft__sync_t *e = weft__sync(ep);
    if (event_set(e))
        return 0;
    return wait_state(e, event_set, WEFT__WAIT_EVENT);
}

/* ------------------------------------------------------------------------ */
/* Semaphore: state = units << 1 | WAITERS                                   */
/* ------------------------------------------------------------------------ */

enum { S_WAITERS = 1 };

/* A unit is free and nobody queues for it. While WAITERS is set the state
 * changes only under the guard; while it is clear, the fast paths CAS the
 * count without it. */
static bool sem_ready(uint32_t v)
{
    return !(v & S_WAITERS) && v >= 2;
}

static uint32_t sem_take_one(uint32_t v)
{
    return v - 2;
}

static bool sem_take(weft__sync_t *s)
{
    uint32_t v = weft__load_relaxed(&s->state);
    while (sem_ready(v))
        /* acquire: pairs with the release that gave the unit back. */
        if (weft__cas_acq_rel(&s->state, &v, sem_take_one(v)))
            return true;
    return false;
}

void weft_sem_init(weft_sem_t *sp, unsigned n)
{
    weft__sync_t *s = weft__sync(sp);
    if (n > WEFT_SEM_MAX)
        n = WEFT_SEM_MAX;
    weft__store_relaxed(&s->state, (uint32_t)n << 1);
    weft__store_relaxed(&s->guard, 0);
    s->q.head = s->q.tail = NULL;
}

int weft_sem_try_acquire(weft_sem_t *sp)
{
    return sem_take(weft__sync(sp)) ? 0 : -EAGAIN;
}

int weft_sem_acquire(weft_sem_t *sp)
{
    weft__sync_t *s = weft__sync(sp);
    if (sem_take(s))
        return 0;
    weft__guard_lock(&s->guard);
    if (weft__sync_take_or_flag(s, S_WAITERS, sem_ready, sem_take_one)) {
        weft__guard_unlock(&s->guard);
        return 0;
    }
    weft__sync_waiter_t x;
    int rc = weft__sync_wait(s, &x, WEFT__WAIT(WEFT__WAIT_SEM), false);
    if (rc >= 0)
        return 0;  /* WEFT__HANDED: the releaser gave us its unit */
    /* A releaser that found only waiters who gave up (us among them) has
     * cleared WAITERS already; then the fast paths own the state. */
    uint32_t v = weft__load_relaxed(&s->state);
    if ((v & S_WAITERS) && !s->q.head)
        weft__store_relaxed(&s->state, v & ~(uint32_t)S_WAITERS);
    weft__guard_unlock(&s->guard);
    return rc;
}

int weft_sem_release(weft_sem_t *sp)
{
    weft__sync_t *s = weft__sync(sp);
    uint32_t v;
    for (;;) {
        v = weft__load_relaxed(&s->state);
        while (!(v & S_WAITERS)) {
            if ((v >> 1) >= WEFT_SEM_MAX)
                return -EOVERFLOW;
            /* release: publishes to the acquirer that takes this unit. */
            if (weft__cas_acq_rel(&s->state, &v, v + 2))
                return 0;
        }
        weft__guard_lock(&s->guard);
        v = weft__load_relaxed(&s->state);
        if (v & S_WAITERS)
            break;
        /* The last waiter gave up meanwhile: back to the fast path. */
        weft__guard_unlock(&s->guard);
    }
    int rc = 0;
    if (weft__sync_wake_one(s, WEFT__HANDED)) {
        if (!s->q.head)
            v &= ~(uint32_t)S_WAITERS;
    } else {
        /* Every waiter gave up meanwhile: the unit goes back. */
        v &= ~(uint32_t)S_WAITERS;
        if ((v >> 1) >= WEFT_SEM_MAX)
            rc = -EOVERFLOW;
        else
            v += 2;
    }
    weft__store_release(&s->state, v);
    weft__guard_unlock(&s->guard);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Wait group: state = the counter (int32), changed only under the guard     */
/* ------------------------------------------------------------------------ */

static bool wg_zero(weft__sync_t *w)
{
    /* acquire: pairs with weft_wg_add's release, so a waiter sees what the
     * tasks wrote before their weft_wg_done. */
    return weft__load_acquire(&w->state) == 0;
}

int weft_wg_add(weft_wg_t *wp, int n)
{
    weft__sync_t *w = weft__sync(wp);
    weft__guard_lock(&w->guard);
    int64_t c = (int64_t)(int32_t)weft__load_relaxed(&w->state) + n;
    if (c < 0 || c > INT32_MAX) {
        weft__guard_unlock(&w->guard);
        return -EINVAL;
    }
    weft__store_release(&w->state, (uint32_t)(int32_t)c);
    if (c == 0)
        wake_all(w);
    weft__guard_unlock(&w->guard);
    return 0;
}

int weft_wg_done(weft_wg_t *w)
{
    return weft_wg_add(w, -1);
}

int weft_wg_wait(weft_wg_t *wp)
{
    weft__sync_t *w = weft__sync(wp);
    if (wg_zero(w))
        return 0;
    return wait_state(w, wg_zero, WEFT__WAIT_WG);
}
