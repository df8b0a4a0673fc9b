/* Linux epoll(7) poller; woken through an eventfd.
 *
 * Two epoll sets per poller. `io` holds the fds, edge-triggered, registered
 * once. `main` holds the eventfd, `io` itself, and the `io` sets of the busy
 * workers this one watches while it sleeps (nested epoll: an epoll fd is
 * readable while its set has events). The owner sleeps in `main`; any thread
 * may harvest `io` without blocking. Keeping the eventfd out of `io` is what
 * lets another worker harvest (or watch) this poller without eating the
 * owner's wake-up, and without spinning on a wake-up meant for the owner. */
#include "io/poller.h"
#include "sched/alloc.h"
#include "sched/atomic.h"

#include <errno.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

struct weft__poller {
    int mainfd;
    int iofd;
    int evfd;
    /* fds registered in iofd: a hint that lets harvest skip the syscall
     * when there are none (compute-only programs pay nothing). relaxed: a
     * stale count only delays a harvest to the next one. */
    weft__atomic(int) nfds;
};

/* epoll_event.data of the two fixed members of `main`; a watched victim's
 * `io` set is tagged with its poller's address. */
#define TAG_WAKE ((void *)0)
#define TAG_SELF ((void *)1)

static int epoll_create_(weft__poller_t **out)
{
    weft__poller_t *p = weft__malloc(sizeof *p);
    if (!p)
        return -ENOMEM;
    p->mainfd = epoll_create1(EPOLL_CLOEXEC);
    p->iofd = epoll_create1(EPOLL_CLOEXEC);
    p->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    struct epoll_event wake = { .events = EPOLLIN, .data.ptr = TAG_WAKE };
    struct epoll_event self = { .events = EPOLLIN, .data.ptr = TAG_SELF };
    if (p->mainfd < 0 || p->iofd < 0 || p->evfd < 0 ||
        epoll_ctl(p->mainfd, EPOLL_CTL_ADD, p->evfd, &wake) < 0 ||
        epoll_ctl(p->mainfd, EPOLL_CTL_ADD, p->iofd, &self) < 0) {
        int e = errno;
        if (p->evfd >= 0)
            close(p->evfd);
        if (p->iofd >= 0)
            close(p->iofd);
        if (p->mainfd >= 0)
            close(p->mainfd);
        weft__free(p);
        return -e;
    }
    weft__store_relaxed(&p->nfds, 0);
    *out = p;
    return 0;
}

static void epoll_destroy_(weft__poller_t *p)
{
    close(p->evfd);
    close(p->iofd);
    close(p->mainfd);
    weft__free(p);
}

static void epoll_wake_(weft__poller_t *p)
{
    uint64_t one = 1;
    /* EAGAIN means the counter is already non-zero: a wake-up is pending. */
    while (write(p->evfd, &one, sizeof one) < 0 && errno == EINTR)
        ;
}

static int to_bits(uint32_t ev)
{
    int b = 0;
    if (ev & (EPOLLIN | EPOLLRDHUP))
        b |= WEFT__IO_IN;
    if (ev & EPOLLOUT)
        b |= WEFT__IO_OUT;
    if (ev & (EPOLLERR | EPOLLHUP))
        b |= WEFT__IO_ERR;
    return b;
}

static int epoll_harvest_(weft__poller_t *p)
{
    struct epoll_event evs[64];
    int total = 0, n;
    if (weft__load_relaxed(&p->nfds) == 0)
        return 0;
    do {
        n = epoll_wait(p->iofd, evs, 64, 0);
        for (int i = 0; i < n; i++)
            weft__io_ready(evs[i].data.u64, to_bits(evs[i].events));
        if (n > 0)
            total += n;
    } while (n == 64);
    return total;
}

static int epoll_poll_(weft__poller_t *p, uint64_t timeout_ns)
{
    struct epoll_event evs[8];
    int n;
#if defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 35)
    /* epoll_pwait2 takes a timespec: timers need better than 1 ms. */
    struct timespec ts = { (time_t)(timeout_ns / 1000000000u),
                           (long)(timeout_ns % 1000000000u) };
    n = epoll_pwait2(p->mainfd, evs, 8, timeout_ns == UINT64_MAX ? NULL : &ts, NULL);
    if (n < 0 && errno == ENOSYS)
#endif
    {
        int ms = timeout_ns == UINT64_MAX ? -1
               : timeout_ns >= (uint64_t)INT32_MAX * 1000000u ? INT32_MAX
               : (int)((timeout_ns + 999999u) / 1000000u);
        n = epoll_wait(p->mainfd, evs, 8, ms);
    }
    if (n < 0)
        return errno == EINTR ? 0 : -errno;
    int woken = 0;
    for (int i = 0; i < n; i++) {
        void *tag = evs[i].data.ptr;
        if (tag == TAG_WAKE) {
            uint64_t v;
            while (read(p->evfd, &v, sizeof v) < 0 && errno == EINTR)
                ;
            woken = 1;
        } else if (tag == TAG_SELF) {
            epoll_harvest_(p);
        } else {
            epoll_harvest_((weft__poller_t *)tag);
        }
    }
    return woken;
}

static void epoll_watch_(weft__poller_t *p, weft__poller_t *victim, int on)
{
    /* Level-triggered: while the victim's set has events we keep waking,
     * and each wake harvests them. */
    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = victim };
    epoll_ctl(p->mainfd, on ? EPOLL_CTL_ADD : EPOLL_CTL_DEL, victim->iofd, &ev);
}

static int epoll_arm_(weft__poller_t *p, int fd, uint64_t tag, int events)
{
    /* Both directions at once, edge-triggered: registered once per fd. */
    (void)events;
    struct epoll_event ev = {
        .events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
        .data.u64 = tag,
    };
    if (epoll_ctl(p->iofd, EPOLL_CTL_ADD, fd, &ev) == 0) {
        weft__fetch_add_relaxed(&p->nfds, 1);
        return 0;
    }
    if (errno == EEXIST && epoll_ctl(p->iofd, EPOLL_CTL_MOD, fd, &ev) == 0)
        return 0;
    return -errno;
}

static void epoll_disarm_(weft__poller_t *p, int fd)
{
    struct epoll_event ev = { 0 };
    if (epoll_ctl(p->iofd, EPOLL_CTL_DEL, fd, &ev) == 0)
        weft__fetch_sub_relaxed(&p->nfds, 1);
}

const weft__poller_ops_t weft__poller_epoll = {
    .name = "epoll",
    .oneshot = 0,
    .create = epoll_create_,
    .destroy = epoll_destroy_,
    .wake = epoll_wake_,
    .poll = epoll_poll_,
    .harvest = epoll_harvest_,
    .watch = epoll_watch_,
    .arm = epoll_arm_,
    .disarm = epoll_disarm_,
};
