/* The park/wake interface that sync/ and io/ build on. Nothing else of the
 * scheduler is theirs to touch.
 *
 * Parking a task on a wait object, with the object's own lock L:
 *
 *     lock(L);
 *     if (ready) { unlock(L); return 0; }
 *     weft__park_prepare(self, WEFT__WAIT(kind), obj); // wakes can land
 *     enqueue a weft__waiter for self on the object;
 *     unlock(L);
 *     int rc = weft__park(self, WEFT_FOREVER, 0);
 *     if (rc != 0) { lock(L); dequeue self if still queued; unlock(L); }
 *
 * A waker takes L, dequeues a waiter and calls weft__waiter_wake (under L):
 * it returns false when the waiter was already woken by a timeout or a
 * cancellation, and the waker then hands the resource to the next waiter.
 * Every park ends exactly once: woken (0 or the waker's code), -ETIMEDOUT
 * (deadline or `until`), or -ECANCELED. */
#ifndef WEFT_SCHED_PARK_H
#define WEFT_SCHED_PARK_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "weft.h"

/* Park flags. */
enum {
    WEFT__PARK_NOINTR = 4,  /* ignore cancellation and deadlines */
};

/* What a parked task waits on, given with the park flags as
 * WEFT__WAIT(kind) together with the object, for the deadlock report
 * (docs/diagnostics.md). The kinds from WEFT__WAIT_FD on are woken from
 * outside the tasks (the poller, a blocking-pool thread): while a task
 * waits on one of those, the runtime is not deadlocked. */
enum {
    WEFT__WAIT_NONE,
    WEFT__WAIT_SLEEP,      /* obj NULL                                  */
    WEFT__WAIT_JOIN,       /* obj: the task joined                      */
    WEFT__WAIT_JOIN_ANY,   /* obj: the first of the tasks               */
    WEFT__WAIT_SHUTDOWN,   /* the main task, for the others to end       */
    WEFT__WAIT_MUTEX,      /* obj: the weft_mutex_t                     */
    WEFT__WAIT_COND,
    WEFT__WAIT_EVENT,
    WEFT__WAIT_SEM,
    WEFT__WAIT_WG,
    WEFT__WAIT_RWLOCK_READ,
    WEFT__WAIT_RWLOCK_WRITE,
    WEFT__WAIT_FUTURE,
    WEFT__WAIT_SEND,       /* obj: the weft_chan_t                      */
    WEFT__WAIT_RECV,
    WEFT__WAIT_SELECT,     /* obj: the channel of the first case        */
    WEFT__WAIT_FD,         /* obj NULL; woken by a poller               */
    WEFT__WAIT_BLOCKING,   /* woken by a blocking-pool thread           */
};
#define WEFT__WAIT_SHIFT 8
#define WEFT__WAIT(kind) ((kind) << WEFT__WAIT_SHIFT)

/* The running task (NULL on a plain thread). Never cached across a switch:
 * see "Thread-locals" in docs/scheduler.md. */
weft_task_t *weft__current(void);

/* Any state the caller wants to check before sleeping: -ECANCELED when the
 * task is cancelled, -ETIMEDOUT when its deadline has passed, else 0. */
int weft__check_interrupt(weft_task_t *self);

/* Announce that self is about to park, on obj for the reason in flags
 * (WEFT__WAIT(kind), | WEFT__PARK_NOINTR); wakes may land from now on. */
void weft__park_prepare(weft_task_t *self, int flags, const void *obj);
/* Park self until woken, or until `until` (monotonic ns; WEFT_FOREVER:
 * none) with result until_code, or the task's deadline (-ETIMEDOUT) or
 * cancellation (-ECANCELED) unless prepared with WEFT__PARK_NOINTR. */
int weft__park(weft_task_t *self, uint64_t until, int until_code);
/* Any thread: end t's current park with `code` (0 or a negative errno).
 * false when it had already been ended (or t is not parked). */
bool weft__wake(weft_task_t *t, int code);

/* errno of the calling thread, looked up anew. Read errno through this in
 * any function that may have parked before (the task may have moved to
 * another worker, and compilers keep errno's address across calls). */
int weft__errno(void);

/* weft_blocking for callers that hand the call memory of its own: when
 * the caller gives up (or never starts the call), discard(arg, result) is
 * called once the call can no longer touch them (result NULL if fn never
 * ran), on whichever thread that is. Not called when the caller gets the
 * result. Plain threads run fn themselves, as with weft_blocking. */
int weft__blocking_ex(void *(*fn)(void *), void *arg, void **result,
                      void (*discard)(void *arg, void *result));

/* Any thread: a pseudo-random 32-bit number (cheap, not cryptographic). */
uint32_t weft__rand32(void);

/* A plain thread's way to wait: the fallback of every blocking call. */
typedef struct weft__thread_parker {
    pthread_mutex_t m;
    pthread_cond_t  c;
    int             woken;
    int             code;
} weft__thread_parker_t;

void weft__thread_parker_init(weft__thread_parker_t *p);
void weft__thread_parker_fini(weft__thread_parker_t *p);
/* Wait until woken or the monotonic `until`; returns the code or -ETIMEDOUT. */
int  weft__thread_parker_wait(weft__thread_parker_t *p, uint64_t until);

/* One waiter on a wait object: a task or a plain thread. */
typedef struct weft__waiter {
    struct weft__waiter   *next, *prev;
    weft_task_t           *task;    /* NULL: thread below */
    weft__thread_parker_t *thread;
    void                  *data;    /* free for the wait object */
    int                    queued;  /* on the object's list (under its lock) */
} weft__waiter_t;

/* Wake w's task or thread with code; false if it was already woken. */
bool weft__waiter_wake(weft__waiter_t *w, int code);

/* The three steps of a wait, for a task or a plain thread alike:
 *   prepare: make w the caller's waiter (a task announces its park with
 *            flags and obj as weft__park_prepare; a plain thread gets tp,
 *            initialised) before w becomes
 *            visible to wakers; copy w's task and thread into further
 *            waiters of the same wait (select, wait_any);
 *   sleep:   until woken (the waker's code) or `until` (-ETIMEDOUT), or a
 *            task's deadline or cancellation;
 *   done:    after the waiter is off every queue (no waker can reach tp
 *            any more): release a thread's parker. */
void weft__waiter_prepare(weft__waiter_t *w, weft__thread_parker_t *tp, int flags,
                          const void *obj);
int  weft__waiter_sleep(weft__waiter_t *w, uint64_t until);
void weft__waiter_done(weft__waiter_t *w);

/* Doubly linked waiter list helpers (caller holds the object's lock). */
typedef struct weft__waitq {
    weft__waiter_t *head, *tail;
} weft__waitq_t;

void weft__waitq_push(weft__waitq_t *q, weft__waiter_t *w);
void weft__waitq_push_front(weft__waitq_t *q, weft__waiter_t *w);
void weft__waitq_remove(weft__waitq_t *q, weft__waiter_t *w);
weft__waiter_t *weft__waitq_pop(weft__waitq_t *q);

#endif
