/* The wait and wake steps every primitive of sync/ shares. */
#include "sync.h"

void weft__sync_enqueue(weft__sync_t *s, weft__sync_waiter_t *x, int flags,
                        bool front)
{
    weft__waiter_prepare(&x->w, &x->tp, flags, s);
    x->w.queued = 0;  /* a fresh waiter (a re-queued one is 0 already) */
    if (front)
        weft__waitq_push_front(&s->q, &x->w);
    else
        weft__waitq_push(&s->q, &x->w);
}

int weft__sync_sleep(weft__sync_t *s, weft__sync_waiter_t *x, uint64_t until)
{
    int rc = weft__waiter_sleep(&x->w, until);
    if (rc < 0) {
        /* Interrupted. A waker that dequeued x has failed to wake it and
         * moved on to the next waiter; otherwise x is still queued. */
        weft__guard_lock(&s->guard);
        weft__waitq_remove(&s->q, &x->w);
    }
    /* Woken: the waker popped x first. Either way no waker can reach it. */
    weft__waiter_done(&x->w);
    return rc;
}

bool weft__sync_wake_one(weft__sync_t *s, int code)
{
    weft__waiter_t *w;
    while ((w = weft__waitq_pop(&s->q)))
        if (weft__waiter_wake(w, code))
            return true;
    return false;
}
