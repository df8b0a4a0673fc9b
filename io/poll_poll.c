/* Portable poll(2) poller; woken through a non-blocking self-pipe. */
#include "io/poller.h"
#include "sched/alloc.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

struct weft__poller {
    int rfd, wfd;
};

static int set_flags(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
        return -errno;
    if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
        return -errno;
    return 0;
}

static int poll_create_(weft__poller_t **out)
{
    weft__poller_t *p = weft__malloc(sizeof *p);
    if (!p)
        return -ENOMEM;
    int fds[2];
    if (pipe(fds) < 0) {
        int e = errno;
        weft__free(p);
        return -e;
    }
    int rc = set_flags(fds[0]);
    if (rc == 0)
        rc = set_flags(fds[1]);
    if (rc < 0) {
        close(fds[0]);
        close(fds[1]);
        weft__free(p);
        return rc;
    }
    p->rfd = fds[0];
    p->wfd = fds[1];
    *out = p;
    return 0;
}

static void poll_destroy_(weft__poller_t *p)
{
    close(p->rfd);
    close(p->wfd);
    weft__free(p);
}

static void poll_wake_(weft__poller_t *p)
{
    char c = 1;
    /* EAGAIN: the pipe is full, so a wake-up is pending anyway. */
    while (write(p->wfd, &c, 1) < 0 && errno == EINTR)
        ;
}

static int poll_poll_(weft__poller_t *p, uint64_t timeout_ns)
{
    struct pollfd pfd = { .fd = p->rfd, .events = POLLIN };
    int n;
#if defined(__linux__) || defined(__FreeBSD__) || defined(__OpenBSD__) || defined(__NetBSD__)
    struct timespec ts = { (time_t)(timeout_ns / 1000000000u),
                           (long)(timeout_ns % 1000000000u) };
    n = ppoll(&pfd, 1, timeout_ns == UINT64_MAX ? NULL : &ts, NULL);
#else
    int ms = timeout_ns == UINT64_MAX ? -1
           : timeout_ns >= (uint64_t)INT32_MAX * 1000000u ? INT32_MAX
           : (int)((timeout_ns + 999999u) / 1000000u);
    n = poll(&pfd, 1, ms);
#endif
    if (n < 0)
        return errno == EINTR ? 0 : -errno;
    if (n == 0)
        return 0;
    char buf[64];
    while (read(p->rfd, buf, sizeof buf) > 0)
        ;
    return 1;
}

const weft__poller_ops_t weft__poller_poll = {
    "poll", poll_create_, poll_destroy_, poll_wake_, poll_poll_,
};
