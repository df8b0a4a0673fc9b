/* BSD/macOS kqueue(2) poller; woken through an EVFILT_USER event.
 * Compiled on those systems only: Linux CI does not exercise this file. */
#include "io/poller.h"
#include "sched/alloc.h"

#include <errno.h>
#include <stdint.h>
#include <sys/event.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

struct weft__poller {
    int kq;
};

enum { WAKE_IDENT = 1 };

static int kq_create_(weft__poller_t **out)
{
    weft__poller_t *p = weft__malloc(sizeof *p);
    if (!p)
        return -ENOMEM;
    p->kq = kqueue();
    if (p->kq < 0) {
        int e = errno;
        weft__free(p);
        return -e;
    }
    struct kevent ev;
    EV_SET(&ev, WAKE_IDENT, EVFILT_USER, EV_ADD | EV_CLEAR, 0, 0, NULL);
    if (kevent(p->kq, &ev, 1, NULL, 0, NULL) < 0) {
        int e = errno;
        close(p->kq);
        weft__free(p);
        return -e;
    }
    *out = p;
    return 0;
}

static void kq_destroy_(weft__poller_t *p)
{
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

static int kq_poll_(weft__poller_t *p, uint64_t timeout_ns)
{
    struct kevent evs[8];
    struct timespec ts = { (time_t)(timeout_ns / 1000000000u),
                           (long)(timeout_ns % 1000000000u) };
    int n = kevent(p->kq, NULL, 0, evs, 8, timeout_ns == UINT64_MAX ? NULL : &ts);
    if (n < 0)
        return errno == EINTR ? 0 : -errno;
    for (int i = 0; i < n; i++)
        if (evs[i].filter == EVFILT_USER)
            return 1;
    return 0;
}

const weft__poller_ops_t weft__poller_kqueue = {
    "kqueue", kq_create_, kq_destroy_, kq_wake_, kq_poll_,
};
