/* Private interface of the event-loop backends (one file each: epoll, poll,
 * kqueue), after redis' ae_*.c. Each worker owns one poller and parks in it;
 * any thread may wake it. A poller also delivers fd readiness: it calls
 * weft__io_ready() (io/fd.c) for every event, from whichever thread polled.
 *
 * Registrations are edge-triggered: after arm(fd), the poller reports each
 * new readiness of fd once. The poll(2) backend cannot do that, so it arms
 * one-shot (ops->oneshot): the fd table re-arms before every wait. */
#ifndef WEFT_IO_POLLER_H
#define WEFT_IO_POLLER_H

#include <stdint.h>

typedef struct weft__poller weft__poller_t;

/* Readiness bits passed to arm() and weft__io_ready(). */
enum {
    WEFT__IO_IN  = 1,   /* readable, or a connection to accept            */
    WEFT__IO_OUT = 2,   /* writable, or a connect() completed             */
    WEFT__IO_ERR = 4,   /* error or hang-up: wakes readers and writers    */
};

typedef struct weft__poller_ops {
    const char *name;
    /* 1: a registration reports one readiness then needs arm() again
     * (poll); 0: arm() once per fd, edge-triggered (epoll, kqueue). */
    int oneshot;
    /* Make a poller; 0 or a negative errno (-EMFILE, -ENOMEM, ...). */
    int  (*create)(weft__poller_t **out);
    void (*destroy)(weft__poller_t *p);
    /* Any thread: make the owner's current or next poll() return soon. */
    void (*wake)(weft__poller_t *p);
    /* Owner only: wait until woken, until an fd event, or until timeout_ns
     * passed (UINT64_MAX: no timeout, 0: do not block); fd events of p and
     * of the pollers it watches are dispatched to weft__io_ready. Returns 1
     * when woken, 0 otherwise, or a negative errno. Signals (EINTR) count as
     * a timeout. */
    int  (*poll)(weft__poller_t *p, uint64_t timeout_ns);
    /* Any thread: dispatch p's pending fd events without blocking and
     * without consuming p's wake-up. Returns the number of events. */
    int  (*harvest)(weft__poller_t *p);
    /* Owner of p only: while p sleeps in poll(), also wake for (and
     * dispatch) the fd events of victim (on = 1), or stop (on = 0). */
    void (*watch)(weft__poller_t *p, weft__poller_t *victim, int on);
    /* Any thread: report events (WEFT__IO_IN|OUT) of fd with `tag` (handed
     * back to weft__io_ready) from now on. 0 or a negative errno (-EBADF,
     * -EPERM for a regular file, -ENOMEM). */
    int  (*arm)(weft__poller_t *p, int fd, uint64_t tag, int events);
    /* Any thread: forget fd (before it is closed). */
    void (*disarm)(weft__poller_t *p, int fd);
} weft__poller_ops_t;

extern const weft__poller_ops_t weft__poller_poll;
#ifdef WEFT_HAVE_EPOLL
extern const weft__poller_ops_t weft__poller_epoll;
#endif
#ifdef WEFT_HAVE_KQUEUE
extern const weft__poller_ops_t weft__poller_kqueue;
#endif

/* The backend called name, or NULL when this build has none by that name. */
const weft__poller_ops_t *weft__poller_find(const char *name);

/* ---- between io/ and sched/ --------------------------------------------- */

/* io/fd.c: called by a backend for each event; `tag` is what arm() got. */
void weft__io_ready(uint64_t tag, int events);
/* io/fd.c: called by weft_run before the workers start, and after they
 * stopped (registrations of the last run are forgotten; SIGPIPE). */
void weft__io_runtime_start(void);
void weft__io_runtime_stop(void);

/* sched/sched.c: the poller of the worker running the caller (NULL on a
 * plain thread), and the backend of the running runtime. */
weft__poller_t *weft__poller_self(void);
const weft__poller_ops_t *weft__poller_ops(void);

#endif
