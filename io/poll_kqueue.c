/* BSD/macOS kqueue(2) poller; woken through an EVFILT_USER event.
 * Compiled on those systems only: Linux CI does not exercise this file.
 *
 * The same shape as the epoll backend: an `io` kqueue holds the fds
 * (EVFILT_READ and EVFILT_WRITE with EV_CLEAR: edge-triggered, registered
 * once); a `main` kqueue holds the wake-up event, `io` itself and, while the
 * owner sleeps, the `io` kqueues of the busy workers it watches (a kqueue fd
 * is readable while it has pending events). */
#include "io/poller.h"
#include "sched/alloc.h"
#include "sched/atomic.h"

#include <errno.h>
#include <stdint.h>
#include <sys/event.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

struct weft__poller {
    int kq;    /* main */
    int kqio;  /* fds */
    weft__atomic(int) nfds;  /* registered fds: lets harvest skip (hint) */
};

enum { WAKE_IDENT = 1 };
#define TAG_SELF ((void *)1)

static int kq_create_(weft__poller_t **out)
{
    weft__poller_t *p = weft__malloc(sizeof *p);
    if (!p)
        return -ENOMEM;
    p->kq = kqueue();
    p->kqio = kqueue();
    struct kevent ev[2];
    EV_SET(&ev[0], WAKE_IDENT, EVFILT_USER, EV_ADD | EV_CLEAR, 0, 0, NULL);
    EV_SET(&ev[1], p->kqio, EVFILT_READ, EV_ADD, 0, 0, TAG_SELF);
    if (p->kq < 0 || p->kqio < 0 || kevent(p->kq, ev, 2, NULL, 0, NULL) < 0) {
        int e = errno;
        if (p->kq >= 0)
            close(p->kq);
        if (p->kqio >= 0)
            close(p->kqio);
        weft__free(p);
        return -e;
    }
    weft__store_relaxed(&p->nfds, 0);
    *out = p;
    return 0;
}

static void kq_destroy_(weft__poller_t *p)
{
    close(p->kqio);
    close(p->kq);
    weft__free(p);
}

static void kq_wake_(weft__poller_t *p)
{
    struct kevent ev;
    EV_SET(&ev, WAKE_IDENT, EVFILT_USER, 0, NOTE_TRIGGER, 0, NULL);
    while (kevent(p->kq, &ev, 1, NULL, 0, NULL) < 0 && errno == EINTR)
        ;
}

static int kq_harvest_(weft__poller_t *p)
{
    struct kevent evs[64];
    struct timespec zero = { 0, 0 };
    int total = 0, n;
    if (weft__load_relaxed(&p->nfds) == 0)
        return 0;
    do {
        n = kevent(p->kqio, NULL, 0, evs, 64, &zero);
        for (int i = 0; i < n; i++) {
            int bits = evs[i].filter == EVFILT_READ ? WEFT__IO_IN : WEFT__IO_OUT;
            if (evs[i].flags & (EV_EOF | EV_ERROR))
                bits |= WEFT__IO_ERR;
            weft__io_ready((uint64_t)(uintptr_t)evs[i].udata, bits);
        }
        if (n > 0)
            total += n;
    } while (n == 64);
    return total;
}

static int kq_poll_(weft__poller_t *p, uint64_t timeout_ns)
{
    struct kevent evs[8];
    struct timespec ts = { (time_t)(timeout_ns / 1000000000u),
                           (long)(timeout_ns % 1000000000u) };
    int n = kevent(p->kq, NULL, 0, evs, 8, timeout_ns == UINT64_MAX ? NULL : &ts);
    if (n < 0)
        return errno == EINTR ? 0 : -errno;
    int woken = 0;
    for (int i = 0; i < n; i++) {
        if (evs[i].filter == EVFILT_USER)
            woken = 1;
        else if (evs[i].udata == TAG_SELF)
            kq_harvest_(p);
        else
            kq_harvest_((weft__poller_t *)evs[i].udata);
    }
    return woken;
}

static void kq_watch_(weft__poller_t *p, weft__poller_t *victim, int on)
{
    struct kevent ev;
    EV_SET(&ev, victim->kqio, EVFILT_READ, on ? EV_ADD : EV_DELETE, 0, 0, victim);
    kevent(p->kq, &ev, 1, NULL, 0, NULL);
}

static int kq_arm_(weft__poller_t *p, int fd, uint64_t tag, int events)
{
    (void)events;
    struct kevent ev[2];
    EV_SET(&ev[0], fd, EVFILT_READ, EV_ADD | EV_CLEAR, 0, 0, (void *)(uintptr_t)tag);
    EV_SET(&ev[1], fd, EVFILT_WRITE, EV_ADD | EV_CLEAR, 0, 0, (void *)(uintptr_t)tag);
    if (kevent(p->kqio, ev, 2, NULL, 0, NULL) < 0)
        return -errno;
    weft__fetch_add_relaxed(&p->nfds, 1);
    return 0;
}

static void kq_disarm_(weft__poller_t *p, int fd)
{
    struct kevent ev[2];
    EV_SET(&ev[0], fd, EVFILT_READ, EV_DELETE, 0, 0, NULL);
    EV_SET(&ev[1], fd, EVFILT_WRITE, EV_DELETE, 0, 0, NULL);
    if (kevent(p->kqio, ev, 2, NULL, 0, NULL) == 0)
        weft__fetch_sub_relaxed(&p->nfds, 1);
}

const weft__poller_ops_t weft__poller_kqueue = {
    .name = "kqueue",
    .oneshot = 0,
    .create = kq_create_,
    .destroy = kq_destroy_,
    .wake = kq_wake_,
    .poll = kq_poll_,
    .harvest = kq_harvest_,
    .watch = kq_watch_,
    .arm = kq_arm_,
    .disarm = kq_disarm_,
};
