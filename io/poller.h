/* Private interface of the event-loop backends (one file each: epoll, poll,
 * kqueue), after redis' ae_*.c. Each worker owns one poller and parks in it;
 * any thread may wake it. */
#ifndef WEFT_IO_POLLER_H
#define WEFT_IO_POLLER_H

#include <stdint.h>

typedef struct weft__poller weft__poller_t;

typedef struct weft__poller_ops {
    const char *name;
    /* Make a poller; 0 or a negative errno (-EMFILE, -ENOMEM, ...). */
    int  (*create)(weft__poller_t **out);
    void (*destroy)(weft__poller_t *p);
    /* Any thread: make the owner's current or next poll() return soon. */
    void (*wake)(weft__poller_t *p);
    /* Owner only: wait until woken or timeout_ns passed (UINT64_MAX: no
     * timeout, 0: do not block). Returns 1 when woken, 0 on timeout, or a
     * negative errno. Signals (EINTR) count as a timeout. */
    int  (*poll)(weft__poller_t *p, uint64_t timeout_ns);
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

#endif
