/* Channels and select, after the shape of Go's runtime (chan.go,
 * select.go): a guard per channel, a ring buffer, and queues of parked
 * senders and receivers that the other side serves directly, copying
 * straight out of a parked sender's element or into a parked receiver's.
 *
 * Every parked operation is a chan_waiter with a claim word. The side that
 * completes it first CASes the claim from 0 to case+1, under the guard of
 * the channel it found the waiter on, then copies and wakes. A select
 * queues one waiter per case, all sharing one claim, so exactly one case
 * completes; the losers are skipped (and dropped) by whoever pops them. A
 * waiter woken by anything else (timeout, cancellation) takes the guards
 * again before it reads the claim, so a completion that raced with the
 * interruption is seen and wins: no element is lost or duplicated. */
#include <stdlib.h>
#include <string.h>

#include "../sched/alloc.h"
#include "sync.h"

struct weft_chan {
    weft__atomic(uint32_t) guard;
    int            closed;
    size_t         elem_size, cap;
    size_t         len, head;     /* buffered elements, index of the first */
    weft__waitq_t  sendq, recvq;
    unsigned char *buf;
};

typedef struct chan_waiter {
    weft__waiter_t        w;      /* first: queued on sendq or recvq */
    weft__atomic(int)    *claim;  /* 0: open; i + 1: case i completed */
    int                   idx;
    void                 *elem;   /* send: the source; recv: the target */
    int                   result; /* of the completed case: 0 or -EPIPE */
} chan_waiter_t;

static void lock(weft_chan_t *ch)
{
    weft__guard_lock(&ch->guard);
}

static void unlock(weft_chan_t *ch)
{
    weft__guard_unlock(&ch->guard);
}

weft_chan_t *weft_chan_new(size_t elem_size, size_t capacity)
{
    if (capacity && elem_size > SIZE_MAX / capacity)
        return NULL;
    weft_chan_t *ch = weft__calloc(1, sizeof *ch);
    if (!ch)
        return NULL;
    ch->elem_size = elem_size;
    ch->cap = capacity;
    if (elem_size && capacity) {
        ch->buf = weft__malloc(elem_size * capacity);
        if (!ch->buf) {
            weft__free(ch);
            return NULL;
        }
    }
    return ch;
}

void weft_chan_free(weft_chan_t *ch)
{
    if (!ch)
        return;
    weft__free(ch->buf);
    weft__free(ch);
}

static void copy(const weft_chan_t *ch, void *to, const void *from)
{
    if (ch->elem_size && to)
        memcpy(to, from, ch->elem_size);
}

static unsigned char *slot(const weft_chan_t *ch, size_t i)
{
    size_t at = ch->head + i;
    if (at >= ch->cap)
        at -= ch->cap;
    return ch->buf + at * ch->elem_size;
}

/* Under the guard: pop the first waiter of q that can still be claimed,
 * and claim it. Waiters claimed elsewhere (another case of their select)
 * are dropped from q on the way; their owner's cleanup tolerates that. */
static chan_waiter_t *claim_first(weft__waitq_t *q)
{
    weft__waiter_t *w;
    while ((w = weft__waitq_pop(q))) {
        chan_waiter_t *cw = (chan_waiter_t *)w;
        int open = 0;
        /* acq_rel: orders our copy after winning, and pairs with the
         * owner's acquire load of the claim in its cleanup. */
        if (weft__cas_acq_rel(cw->claim, &open, cw->idx + 1))
            return cw;
    }
    return NULL;
}

/* Under the guard (the owner cannot leave before we drop it): wake a
 * claimed waiter. If the owner was interrupted meanwhile the wake fails,
 * and its cleanup finds the claim. */
static void finish(chan_waiter_t *cw, int result)
{
    cw->result = result;
    weft__waiter_wake(&cw->w, 0);
}

/* Under the guard. 0, -EPIPE, or -EAGAIN when the send would wait. */
static int send_locked(weft_chan_t *ch, const void *elem)
{
    /* A full buffer never has receivers waiting, an empty one no senders
     * (a buffered element or a parked peer would have been matched). */
    WEFT__ASSERT(2, ch->len <= ch->cap);
    WEFT__ASSERT(2, ch->len == 0 || !ch->recvq.head);
    if (ch->closed)
        return -EPIPE;
    chan_waiter_t *r = claim_first(&ch->recvq);
    if (r) {
        copy(ch, r->elem, elem);
        finish(r, 0);
        return 0;
    }
    if (ch->len < ch->cap) {
        copy(ch, slot(ch, ch->len), elem);
        ch->len++;
        return 0;
    }
    return -EAGAIN;
}

/* Under the guard. 0, -EPIPE (closed and drained), or -EAGAIN. */
static int recv_locked(weft_chan_t *ch, void *elem)
{
    WEFT__ASSERT(2, ch->len <= ch->cap);
    WEFT__ASSERT(2, ch->len == ch->cap || !ch->sendq.head || ch->cap == 0);
    if (ch->len > 0) {
        copy(ch, elem, slot(ch, 0));
        ch->head = ch->head + 1 == ch->cap ? 0 : ch->head + 1;
        ch->len--;
        /* A parked sender's element takes the freed place at the tail. */
        chan_waiter_t *s = claim_first(&ch->sendq);
        if (s) {
            copy(ch, slot(ch, ch->len), s->elem);
            ch->len++;
            finish(s, 0);
        }
        return 0;
    }
    chan_waiter_t *s = claim_first(&ch->sendq);
    if (s) {
        copy(ch, elem, s->elem);
        finish(s, 0);
        return 0;
    }
    return ch->closed ? -EPIPE : -EAGAIN;
}

static int op_locked(weft_chan_t *ch, int op, void *elem)
{
    return op == WEFT_SEND ? send_locked(ch, elem) : recv_locked(ch, elem);
}

static weft__waitq_t *queue_of(weft_chan_t *ch, int op)
{
    return op == WEFT_SEND ? &ch->sendq : &ch->recvq;
}

/* Make cw a waiter of the caller's wait `me` (see weft__waiter_prepare). */
static void waiter_init(chan_waiter_t *cw, const weft__waiter_t *me,
                        weft__atomic(int) *claim, int idx, void *elem)
{
    memset(&cw->w, 0, sizeof cw->w);
    cw->w.task = me->task;
    cw->w.thread = me->thread;
    cw->claim = claim;
    cw->idx = idx;
    cw->elem = elem;
    cw->result = 0;
}

static int chan_op(weft_chan_t *ch, int op, void *elem, bool block)
{
    if (!ch)
        return -EINVAL;
    lock(ch);
    int rc = op_locked(ch, op, elem);
    if (rc != -EAGAIN || !block) {
        unlock(ch);
        return rc;
    }
    weft__thread_parker_t tp;
    weft__waiter_t me;
    weft__atomic(int) claim = 0;
    chan_waiter_t cw;
    weft__waiter_prepare(&me, &tp,
                         WEFT__WAIT(op == WEFT_SEND ? WEFT__WAIT_SEND : WEFT__WAIT_RECV), ch);
    waiter_init(&cw, &me, &claim, 0, elem);
    weft__waitq_push(queue_of(ch, op), &cw.w);
    unlock(ch);

    rc = weft__waiter_sleep(&me, WEFT_FOREVER);
    if (rc != 0) {
        lock(ch);
        weft__waitq_remove(queue_of(ch, op), &cw.w);
        unlock(ch);
    }
    weft__waiter_done(&me);  /* off the queue: popped by a claimer, or removed */
    if (rc == 0)
        return cw.result;  /* claimed and woken: the wake's acquire has it */
    /* acquire: pairs with claim_first's CAS, for the copied element. */
    if (weft__load_acquire(&claim))
        return cw.result;
    return rc;
}

int weft_chan_send(weft_chan_t *ch, const void *elem)
{
    return chan_op(ch, WEFT_SEND, (void *)(uintptr_t)elem, true);
}

int weft_chan_recv(weft_chan_t *ch, void *elem)
{
    return chan_op(ch, WEFT_RECV, elem, true);
}

int weft_chan_try_send(weft_chan_t *ch, const void *elem)
{
    return chan_op(ch, WEFT_SEND, (void *)(uintptr_t)elem, false);
}

int weft_chan_try_recv(weft_chan_t *ch, void *elem)
{
    return chan_op(ch, WEFT_RECV, elem, false);
}

void weft_chan_close(weft_chan_t *ch)
{
    if (!ch)
        return;
    lock(ch);
    if (!ch->closed) {
        ch->closed = 1;
        /* Receivers wait only on an empty buffer: nothing left to drain. */
        chan_waiter_t *cw;
        while ((cw = claim_first(&ch->recvq)))
            finish(cw, -EPIPE);
        while ((cw = claim_first(&ch->sendq)))
            finish(cw, -EPIPE);
    }
    unlock(ch);
}

size_t weft_chan_len(const weft_chan_t *cch)
{
    weft_chan_t *ch = (weft_chan_t *)(uintptr_t)cch;
    if (!ch)
        return 0;
    lock(ch);
    size_t n = ch->len;
    unlock(ch);
    return n;
}

size_t weft_chan_cap(const weft_chan_t *ch)
{
    return ch ? ch->cap : 0;
}

/* ------------------------------------------------------------------------ */
/* Select                                                                    */
/* ------------------------------------------------------------------------ */

static int cmp_chan(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t)*(weft_chan_t *const *)a;
    uintptr_t y = (uintptr_t)*(weft_chan_t *const *)b;
    return x < y ? -1 : x > y;
}

/* Lock each distinct channel once, in address order: two selects over the
 * same channels never lock them in opposite orders. */
static void lock_all(weft_chan_t **order, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (i == 0 || order[i] != order[i - 1])
            lock(order[i]);
}

static void unlock_all(weft_chan_t **order, size_t n)
{
    for (size_t i = n; i-- > 0;)
        if (i == 0 || order[i] != order[i - 1])
            unlock(order[i]);
}

enum { SELECT_STACK_CASES = 8 };

int weft_select(weft_select_case_t *cases, size_t n, uint64_t timeout_ns)
{
    if (n > 0 && !cases)
        return -EINVAL;
    if (n > (size_t)INT32_MAX - 1)
        return -EINVAL;
    for (size_t i = 0; i < n; i++)
        if (cases[i].op != WEFT_SEND && cases[i].op != WEFT_RECV)
            return -EINVAL;
    uint64_t now = weft_now();
    uint64_t until = timeout_ns > WEFT_FOREVER - now ? WEFT_FOREVER : now + timeout_ns;

    /* Scratch: the poll order, the lock order and one waiter per case. */
    size_t             poll_s[SELECT_STACK_CASES];
    weft_chan_t       *lock_s[SELECT_STACK_CASES];
    chan_waiter_t      ws_s[SELECT_STACK_CASES];
    size_t            *poll = poll_s;
    weft_chan_t      **order = lock_s;
    chan_waiter_t     *ws = ws_s;
    void              *heap = NULL;
    if (n > SELECT_STACK_CASES) {
        heap = weft__malloc(n * (sizeof *poll + sizeof *order + sizeof *ws));
        if (!heap)
            return -ENOMEM;
        ws = heap;
        poll = (size_t *)(ws + n);
        order = (weft_chan_t **)(poll + n);
    }

    /* A uniformly random permutation (Fisher-Yates): among ready cases the
     * first found in this order wins, so each is equally likely. */
    for (size_t i = 0; i < n; i++) {
        size_t j = (size_t)((uint64_t)weft__rand32() * (i + 1) >> 32);
        poll[i] = poll[j];
        poll[j] = i;
    }
    size_t nlock = 0;
    for (size_t i = 0; i < n; i++)
        if (cases[i].chan)
            order[nlock++] = cases[i].chan;
    qsort(order, nlock, sizeof *order, cmp_chan);

    int rc;
    lock_all(order, nlock);
    for (size_t k = 0; k < n; k++) {
        weft_select_case_t *c = &cases[poll[k]];
        if (!c->chan)
            continue;
        rc = op_locked(c->chan, c->op, c->elem);
        if (rc != -EAGAIN) {
            c->result = rc;
            rc = (int)poll[k];
            unlock_all(order, nlock);
            goto out;
        }
    }
    if (timeout_ns == 0) {
        unlock_all(order, nlock);
        rc = -ETIMEDOUT;
        goto out;
    }

    /* Nothing ready: queue on every channel, all sharing one claim. */
    weft__thread_parker_t tp;
    weft__waiter_t me;
    weft__atomic(int) claim = 0;
    weft__waiter_prepare(&me, &tp, WEFT__WAIT(WEFT__WAIT_SELECT), order[0]);
    for (size_t i = 0; i < n; i++) {
        waiter_init(&ws[i], &me, &claim, (int)i, cases[i].elem);
        if (cases[i].chan)
            weft__waitq_push(queue_of(cases[i].chan, cases[i].op), &ws[i].w);
    }
    unlock_all(order, nlock);

    rc = weft__waiter_sleep(&me, until);

    /* Whatever woke us, leave every other queue; only then may a thread's
     * parker go (a claimer holding one of these guards may still wake it). */
    lock_all(order, nlock);
    for (size_t i = 0; i < n; i++)
        if (cases[i].chan)
            weft__waitq_remove(queue_of(cases[i].chan, cases[i].op), &ws[i].w);
    unlock_all(order, nlock);
    weft__waiter_done(&me);
    /* acquire: pairs with claim_first's CAS, for a received element. */
    int won = weft__load_acquire(&claim);
    if (won) {
        cases[won - 1].result = ws[won - 1].result;
        rc = won - 1;
    } else if (rc >= 0) {
        rc = -EAGAIN;  /* woken without a claim: cannot happen */
    }
out:
    weft__free(heap);
    return rc;
}
