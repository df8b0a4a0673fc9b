/* Linux epoll(7) poller; woken through an eventfd. */
#include "io/poller.h"
#include "sched/alloc.h"

#include <errno.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

struct weft__poller {
    int epfd;
    int evfd;
};

static int epoll_create_(weft__poller_t **out)
{
    weft__poller_t *p = weft__malloc(sizeof *p);
    if (!p)
        return -ENOMEM;
    p->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (p->epfd < 0) {
        int e = errno;
        weft__free(p);
        return -e;
    }
    p->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
    if (p->evfd < 0 || epoll_ctl(p->epfd, EPOLL_CTL_ADD, p->evfd, &ev) < 0) {
        int e = errno;
        if (p->evfd >= 0)
            close(p->evfd);
        close(p->epfd);
        weft__free(p);
        return -e;
    }
    *out = p;
    return 0;
}

static void epoll_destroy_(weft__poller_t *p)
{
    close(p->evfd);
    close(p->epfd);
    weft__free(p);
}

static void epoll_wake_(weft__poller_t *p)
{
    uint64_t one = 1;
    /* EAGAIN means the counter is already non-zero: a wake-up is pending. */
    while (write(p->evfd, &one, sizeof one) < 0 && errno == EINTR)
        ;
}

static int epoll_poll_(weft__poller_t *p, uint64_t timeout_ns)
{
    struct epoll_event evs[8];
    int n;
#if defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 35)
    /* epoll_pwait2 takes a timespec: timers need better than 1 ms. */
    struct timespec ts = { (time_t)(timeout_ns / 1000000000u),
                           (long)(timeout_ns % 1000000000u) };
    n = epoll_pwait2(p->epfd, evs, 8, timeout_ns == UINT64_MAX ? NULL : &ts, NULL);
    if (n < 0 && errno == ENOSYS)
#endif
    {
        int ms = timeout_ns == UINT64_MAX ? -1
               : timeout_ns >= (uint64_t)INT32_MAX * 1000000u ? INT32_MAX
               : (int)((timeout_ns + 999999u) / 1000000u);
        n = epoll_wait(p->epfd, evs, 8, ms);
    }
    if (n < 0)
        return errno == EINTR ? 0 : -errno;
    int woken = 0;
    for (int i = 0; i < n; i++) {
        if (evs[i].data.ptr == NULL) {
            uint64_t v;
            while (read(p->evfd, &v, sizeof v) < 0 && errno == EINTR)
                ;
            woken = 1;
        }
    }
    return woken;
}

const weft__poller_ops_t weft__poller_epoll = {
    "epoll", epoll_create_, epoll_destroy_, epoll_wake_, epoll_poll_,
};
