/* The fd table: one entry per fd number, found by index without a lock, in
 * chunks that never move (so growing it never invalidates a pointer another
 * thread holds). Each entry has its own mutex guarding the registration, the
 * latched readiness and the two waiter lists.
 *
 * An fd is registered once, in the poller of the worker that first waits on
 * it, and stays there while tasks migrate: any worker may harvest any
 * poller (io/poller.h), and a wake puts the task on the harvesting worker's
 * queue, from where idle workers steal it. Events carry a tag (fd, gen);
 * `gen` changes when the fd is closed or its number reused, so an event
 * fetched before that is recognised as stale and dropped.
 *
 * Lock order: entry lock -> poller lock (poll backend) -> rt.lock (through
 * weft__wake). Nothing takes an entry lock while holding a poller lock. */
#include "io/fd.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "sched/alloc.h"
#include "sched/atomic.h"
#include "sched/park.h"
#include "sched/trace.h"

#define CHUNK_BITS 10
#define CHUNK      (1 << CHUNK_BITS)
#define NCHUNKS    1024               /* fds below 2^20, Linux's default nr_open */

typedef struct fdent {
    pthread_mutex_t lock;
    uint32_t        gen;     /* bumped when the fd is closed or reused      */
    uint32_t        epoch;   /* runtime whose poller holds the registration */
    weft__poller_t *poller;  /* where fd is registered; NULL: nowhere       */
    int             ready;   /* readiness seen while nobody waited (IO_*)   */
    weft__waitq_t   readers, writers;
} fdent_t;

/* Each slot is written once, by a CAS from NULL. acquire on load pairs with
 * the release of the CAS that published the initialised chunk. */
static weft__atomic(fdent_t *) chunks[NCHUNKS];
/* Bumped by every weft_run: registrations of an earlier run are void (its
 * pollers are gone). Written before the workers start, read by them. */
static weft__atomic(uint32_t) epoch;

static fdent_t *entry(int fd, int create)
{
    if (fd < 0 || fd >= NCHUNKS * CHUNK)
        return NULL;
    weft__atomic(fdent_t *) *slot = &chunks[fd >> CHUNK_BITS];
    fdent_t *c = weft__load_acquire(slot);
    if (!c) {
        if (!create)
            return NULL;
        c = weft__calloc(CHUNK, sizeof *c);
        if (!c)
            return NULL;
        for (int i = 0; i < CHUNK; i++)
            pthread_mutex_init(&c[i].lock, NULL);
        fdent_t *none = NULL;
        /* acq_rel: release publishes the mutexes; acquire, on failure,
         * pairs with the winner's release. */
        if (!weft__cas_acq_rel(slot, &none, c)) {
            for (int i = 0; i < CHUNK; i++)
                pthread_mutex_destroy(&c[i].lock);
            weft__free(c);
            c = none;
        }
    }
    return &c[fd & (CHUNK - 1)];
}

static uint64_t tag_of(int fd, const fdent_t *e)
{
    return (uint64_t)(uint32_t)fd | (uint64_t)e->gen << 32;
}

/* e->lock held: wake every waiter of q (waiting on fd) with code; true if
 * one took it. */
static bool wake_all_locked(int fd, weft__waitq_t *q, int code)
{
    bool took = false;
    weft__waiter_t *w;
    while ((w = weft__waitq_pop(q))) {
        /* Before the wake: after it, the task may run, end and be freed. */
        WEFT__TRACE(io_wake, fd, w->task, code);
        if (weft__waiter_wake(w, code))
            took = true;
    }
    return took;
}

void weft__io_ready(uint64_t tag, int events)
{
    int fd = (int)(uint32_t)tag;
    fdent_t *e = entry(fd, 0);
    if (!e)
        return;
    pthread_mutex_lock(&e->lock);
    if (e->gen == (uint32_t)(tag >> 32)) {
        /* A readiness nobody was waiting for is latched for the next
         * waiter: with edge triggering it will not be reported again. */
        if ((events & (WEFT__IO_IN | WEFT__IO_ERR)) && !wake_all_locked(fd, &e->readers, 0))
            e->ready |= WEFT__IO_IN;
        if ((events & (WEFT__IO_OUT | WEFT__IO_ERR)) && !wake_all_locked(fd, &e->writers, 0))
            e->ready |= WEFT__IO_OUT;
    }
    pthread_mutex_unlock(&e->lock);
}

/* e->lock held: drop the registration and wake the waiters with -EBADF. */
static void reset_locked(int fd, fdent_t *e)
{
    e->gen++;
    if (e->poller && e->epoch == weft__load_relaxed(&epoch)) {
        const weft__poller_ops_t *ops = weft__poller_ops();
        if (ops)
            ops->disarm(e->poller, fd);
    }
    e->poller = NULL;
    e->ready = 0;
    wake_all_locked(fd, &e->readers, -EBADF);
    wake_all_locked(fd, &e->writers, -EBADF);
}

void weft__fd_forget(int fd)
{
    fdent_t *e = entry(fd, 0);
    if (!e)
        return;
    pthread_mutex_lock(&e->lock);
    reset_locked(fd, e);
    pthread_mutex_unlock(&e->lock);
}

void weft__fd_fresh(int fd)
{
    weft__fd_forget(fd);
}

/* A plain thread waits in poll(2) on the one fd. */
static int thread_wait(int fd, int events)
{
    struct pollfd p = { .fd = fd,
                        .events = (short)(((events & WEFT__IO_IN) ? POLLIN : 0) |
                                          ((events & WEFT__IO_OUT) ? POLLOUT : 0)) };
    for (;;) {
        int n = poll(&p, 1, -1);
        if (n > 0)
            return (p.revents & POLLNVAL) ? -EBADF : 0;
        if (n < 0 && errno != EINTR)
            return -errno;
    }
}

int weft__fd_wait(int fd, int events)
{
    weft_task_t *self = weft__current();
    if (!self)
        return thread_wait(fd, events);
    if (fd < 0)
        return -EBADF;
    int rc = weft__check_interrupt(self);
    if (rc < 0)
        return rc;
    fdent_t *e = entry(fd, 1);
    if (!e)
        return fd >= NCHUNKS * CHUNK ? -EBADF : -ENOMEM;
    const weft__poller_ops_t *ops = weft__poller_ops();
    events &= WEFT__IO_IN | WEFT__IO_OUT;

    pthread_mutex_lock(&e->lock);
    if (e->ready & events) {
        /* Readiness came between the caller's EAGAIN and now. */
        e->ready &= ~events;
        pthread_mutex_unlock(&e->lock);
        return 0;
    }
    uint32_t ep = weft__load_relaxed(&epoch);
    if (!e->poller || e->epoch != ep) {
        e->poller = weft__poller_self();
        e->epoch = ep;
        e->ready = 0;
        rc = ops->arm(e->poller, fd, tag_of(fd, e), events);
    } else if (ops->oneshot) {
        rc = ops->arm(e->poller, fd, tag_of(fd, e), events);
    }
    if (rc < 0) {
        e->poller = NULL;
        pthread_mutex_unlock(&e->lock);
        /* epoll refuses regular files: they never block, retry at once. */
        return rc == -EPERM ? 0 : rc;
    }
    weft__waiter_t rw = { .task = self }, ww = { .task = self };
    weft__park_prepare(self, WEFT__WAIT(WEFT__WAIT_FD), NULL);
    if (events & WEFT__IO_IN)
        weft__waitq_push(&e->readers, &rw);
    if (events & WEFT__IO_OUT)
        weft__waitq_push(&e->writers, &ww);
    pthread_mutex_unlock(&e->lock);

    rc = weft__park(self, WEFT_FOREVER, 0);

    /* A wake pops the waiter it wakes; the other direction's waiter, or a
     * waiter whose park ended by time or cancellation, is still queued. */
    if (rc != 0 || events == (WEFT__IO_IN | WEFT__IO_OUT)) {
        pthread_mutex_lock(&e->lock);
        weft__waitq_remove(&e->readers, &rw);
        weft__waitq_remove(&e->writers, &ww);
        pthread_mutex_unlock(&e->lock);
    }
    return rc;
}

/* ---- runtime start / stop -------------------------------------------------- */

static struct sigaction old_sigpipe;
static int sigpipe_changed;

void weft__io_runtime_start(void)
{
    weft__fetch_add_relaxed(&epoch, 1);
    /* A write to a pipe whose reader is gone must be an -EPIPE, not the end
     * of the process (sockets use MSG_NOSIGNAL anyway). Only a default
     * disposition is changed, and it is put back when weft_run returns. */
    struct sigaction cur;
    if (sigaction(SIGPIPE, NULL, &cur) == 0 && cur.sa_handler == SIG_DFL &&
        !(cur.sa_flags & SA_SIGINFO)) {
        struct sigaction ign;
        memset(&ign, 0, sizeof ign);
        ign.sa_handler = SIG_IGN;
        sigemptyset(&ign.sa_mask);
        if (sigaction(SIGPIPE, &ign, &old_sigpipe) == 0)
            sigpipe_changed = 1;
    }
}

void weft__io_runtime_stop(void)
{
    if (sigpipe_changed) {
        sigaction(SIGPIPE, &old_sigpipe, NULL);
        sigpipe_changed = 0;
    }
}
