/* The wait and wake steps every primitive of sync/ shares. */
#include "sync.h"

void weft__sync_enqueue(weft__sync_t *s, weft__sync_waiter_t *x, int flags,
                        bool front)
{
    weft_task_t *self = weft__current();
    x->w.task = self;
    x->w.thread = NULL;
    x->w.queued = 0;  /* a fresh waiter (a re-queued one is 0 already) */
    if (self) {
        weft__park_prepare(self, flags);
    } else {
        weft__thread_parker_init(&x->tp);
        x->w.thread = &x->tp;
    }
    if (front)
        weft__waitq_push_front(&s->q, &x->w);
    else
        weft__waitq_push(&s->q, &x->w);
}

int weft__sync_sleep(weft__sync_t *s, weft__sync_waiter_t *x, uint64_t until)
{
    int rc;
    if (x->w.task) {
        rc = weft__park(x->w.task, until, -ETIMEDOUT);
    } else {
        rc = weft__thread_parker_wait(&x->tp, until);
        weft__thread_parker_fini(&x->tp);
    }
    if (rc >= 0)
        return rc;
    /* Interrupted. A waker that dequeued x has failed to wake it and moved
     * on to the next waiter; otherwise x is still queued. */
    weft__guard_lock(&s->guard);
    weft__waitq_remove(&s->q, &x->w);
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
