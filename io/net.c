/* The public I/O calls: sockets, reads and writes, TCP helpers, name
 * resolution off the workers, and signals. Each tries its syscall first and
 * parks (weft__fd_wait) only on EAGAIN. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/signalfd.h>
#endif

#include "io/fd.h"
#include "sched/atomic.h"
#include "sched/park.h"
#include "weft.h"

#ifndef MSG_NOSIGNAL
#define MSG_NOSIGNAL 0  /* macOS: SIGPIPE is ignored by weft_run instead */
#endif

static int again(int e)
{
    return e == EAGAIN || e == EWOULDBLOCK;
}

/* Run `expr` (a syscall returning -1 with errno) until it succeeds, fails
 * with something other than EINTR/EAGAIN, or the wait for `ev` fails. */
#define IO_RETRY(fd, ev, T, expr)                                              \
    for (;;) {                                                                 \
        T r_ = (expr);                                                         \
        if (r_ >= 0)                                                           \
            return r_;                                                         \
        int e_ = weft__errno(); /* may follow a wait: see park.h */            \
        if (e_ == EINTR)                                                       \
            continue;                                                          \
        if (!again(e_))                                                        \
            return -e_;                                                        \
        int w_ = weft__fd_wait((fd), (ev));                                    \
        if (w_ < 0)                                                            \
            return w_;                                                         \
    }

/* ------------------------------------------------------------------------ */
/* Sockets                                                                   */
/* ------------------------------------------------------------------------ */

#if defined(SOCK_NONBLOCK) && defined(SOCK_CLOEXEC)
#define HAVE_SOCK_FLAGS 1
#else
/* macOS: no SOCK_NONBLOCK, no accept4 (not exercised on Linux CI). */
#define HAVE_SOCK_FLAGS 0
#endif

/* A new socket fd: the flags the Linux calls set atomically, set by hand
 * where they do not exist. 0 or -errno (fd closed then). */
static int new_socket_fd(int fd)
{
#if !HAVE_SOCK_FLAGS
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 ||
        fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
        int e = weft__errno();
        close(fd);
        return -e;
    }
#endif
#ifdef SO_NOSIGPIPE
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof one);
#endif
    weft__fd_fresh(fd);
    return 0;
}

int weft_socket(int domain, int type, int protocol)
{
#if HAVE_SOCK_FLAGS
    int fd = socket(domain, type | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);
#else
    int fd = socket(domain, type, protocol);
#endif
    if (fd < 0)
        return -weft__errno();
    int rc = new_socket_fd(fd);
    return rc < 0 ? rc : fd;
}

static int accept_once(int fd, struct sockaddr *addr, socklen_t *len)
{
#if HAVE_SOCK_FLAGS
    return accept4(fd, addr, len, SOCK_NONBLOCK | SOCK_CLOEXEC);
#else
    return accept(fd, addr, len);
#endif
}

int weft_accept(int fd, struct sockaddr *addr, socklen_t *len)
{
    for (;;) {
        int c = accept_once(fd, addr, len);
        if (c >= 0) {
            int rc = new_socket_fd(c);
            return rc < 0 ? rc : c;
        }
        int e = weft__errno();
        /* A connection reset before we took it is not the listener's error. */
        if (e == EINTR || e == ECONNABORTED)
            continue;
        if (!again(e))
            return -e;
        int w = weft__fd_wait(fd, WEFT__IO_IN);
        if (w < 0)
            return w;
    }
}

/* Whether fd is writable or has an error now (no waiting). */
static int writable_now(int fd)
{
    struct pollfd p = { .fd = fd, .events = POLLOUT };
    return poll(&p, 1, 0) > 0;
}

int weft_connect(int fd, const struct sockaddr *addr, socklen_t len)
{
    int r = connect(fd, addr, len);
    if (r == 0)
        return 0;
    int e = weft__errno();
    if (again(e)) {
        /* A Unix-domain listener with a full backlog. Nothing reports when
         * it has room again (an unconnected Unix socket polls writable at
         * once), so retry after a growing sleep, which honours the task's
         * deadline and cancellation. */
        uint64_t pause = 1000000u;  /* 1 ms, doubling up to 64 ms */
        for (;;) {
            int w = weft_sleep(pause);
            if (w < 0)
                return w;
            if (pause < 64000000u)
                pause *= 2;
            if (connect(fd, addr, len) == 0)
                return 0;
            e = weft__errno();
            if (!again(e) && e != EINTR)
                return e == EISCONN ? 0 : -e;
        }
    }
    if (e != EINPROGRESS && e != EINTR)
        return -e;
    /* In progress: writable means done, and SO_ERROR says how it went. A
     * wake may be spurious (several waiters, an error on the other side),
     * so ask poll(2) before trusting SO_ERROR. */
    for (;;) {
        if (writable_now(fd))
            break;
        int w = weft__fd_wait(fd, WEFT__IO_OUT);
        if (w < 0)
            return w;
    }
    int err = 0;
    socklen_t l = sizeof err;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &l) < 0)
        return -weft__errno();
    return -err;
}

ssize_t weft_read(int fd, void *buf, size_t n)
{
    IO_RETRY(fd, WEFT__IO_IN, ssize_t, read(fd, buf, n));
}

/* send(2) with MSG_NOSIGNAL on a socket, write(2) on anything else. */
static ssize_t write_once(int fd, const void *buf, size_t n)
{
    ssize_t r = send(fd, buf, n, MSG_NOSIGNAL);
    if (r < 0 && weft__errno() == ENOTSOCK)
        r = write(fd, buf, n);
    return r;
}

ssize_t weft_write(int fd, const void *buf, size_t n)
{
    IO_RETRY(fd, WEFT__IO_OUT, ssize_t, write_once(fd, buf, n));
}

ssize_t weft_write_all(int fd, const void *buf, size_t n)
{
    if (n > SSIZE_MAX)
        return -EINVAL;
    const char *p = buf;
    size_t done = 0;
    while (done < n) {
        ssize_t r = weft_write(fd, p + done, n - done);
        if (r < 0)
            return r;
        done += (size_t)r;
    }
    return (ssize_t)done;
}

ssize_t weft_readv(int fd, const struct iovec *iov, int n)
{
    if (n < 0 || n > IOV_MAX)
        return -EINVAL;
    IO_RETRY(fd, WEFT__IO_IN, ssize_t, readv(fd, iov, n));
}

static ssize_t writev_once(int fd, const struct iovec *iov, int n)
{
    struct msghdr m = { .msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)n };
    ssize_t r = sendmsg(fd, &m, MSG_NOSIGNAL);
    if (r < 0 && weft__errno() == ENOTSOCK)
        r = writev(fd, iov, n);
    return r;
}

ssize_t weft_writev(int fd, const struct iovec *iov, int n)
{
    if (n < 0 || n > IOV_MAX)
        return -EINVAL;
    IO_RETRY(fd, WEFT__IO_OUT, ssize_t, writev_once(fd, iov, n));
}

ssize_t weft_recvfrom(int fd, void *buf, size_t n, int flags, struct sockaddr *a,
                      socklen_t *l)
{
    IO_RETRY(fd, WEFT__IO_IN, ssize_t, recvfrom(fd, buf, n, flags | MSG_DONTWAIT, a, l));
}

ssize_t weft_sendto(int fd, const void *buf, size_t n, int flags,
                    const struct sockaddr *a, socklen_t l)
{
    IO_RETRY(fd, WEFT__IO_OUT, ssize_t,
             sendto(fd, buf, n, flags | MSG_NOSIGNAL | MSG_DONTWAIT, a, l));
}

int weft_wait_fd(int fd, int events)
{
    if (fd < 0)
        return -EBADF;
    if (events == 0 || (events & ~(WEFT_READABLE | WEFT_WRITABLE)))
        return -EINVAL;
    short want = (short)(((events & WEFT_READABLE) ? POLLIN : 0) |
                         ((events & WEFT_WRITABLE) ? POLLOUT : 0));
    int ev = ((events & WEFT_READABLE) ? WEFT__IO_IN : 0) |
             ((events & WEFT_WRITABLE) ? WEFT__IO_OUT : 0);
    for (;;) {
        /* The "syscall first" of this call: is it ready now? */
        struct pollfd p = { .fd = fd, .events = want };
        int n = poll(&p, 1, 0);
        if (n < 0 && weft__errno() != EINTR)
            return -weft__errno();
        if (n > 0) {
            if (p.revents & POLLNVAL)
                return -EBADF;
            int got = 0;
            if (p.revents & (POLLIN | POLLHUP | POLLERR))
                got |= events & WEFT_READABLE;
            if (p.revents & (POLLOUT | POLLHUP | POLLERR))
                got |= events & WEFT_WRITABLE;
            if (got)
                return got;
        }
        int w = weft__fd_wait(fd, ev);
        if (w < 0)
            return w;
    }
}

int weft_close(int fd)
{
    if (fd < 0)
        return -EBADF;
    weft__fd_forget(fd);
    if (close(fd) < 0 && weft__errno() != EINTR)  /* EINTR: Linux closed it anyway */
        return -weft__errno();
    return 0;
}

int weft_local_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t l = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &l) < 0)
        return -weft__errno();
    if (ss.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return -EAFNOSUPPORT;
}

/* ------------------------------------------------------------------------ */
/* Name resolution                                                           */
/* ------------------------------------------------------------------------ */

static int gai_errno(int g)
{
    switch (g) {
    case 0: return 0;
    case EAI_NONAME:
#ifdef EAI_NODATA
    case EAI_NODATA:
#endif
        return -ENOENT;
    case EAI_AGAIN: return -EAGAIN;
    case EAI_MEMORY: return -ENOMEM;
    case EAI_FAMILY: return -EAFNOSUPPORT;
    case EAI_SYSTEM: return weft__errno() ? -weft__errno() : -EIO;
    default: return -EINVAL;
    }
}

/* A resolution handed to a helper thread: shared by it and the waiting
 * task, freed by whichever lets go last. */
/* A lookup on the blocking pool: its own copy of what it needs, and its
 * result, both freed by lookup_discard if the caller gives up. */
typedef struct lookup {
    struct addrinfo  hints;
    struct addrinfo *res;
    int              rc;
    char             port[8];
    char             host[];
} lookup_t;

static void *lookup_run(void *arg)
{
    lookup_t *l = arg;
    l->rc = gai_errno(getaddrinfo(l->host, l->port, &l->hints, &l->res));
    return l;
}

static void lookup_discard(void *arg, void *result)
{
    (void)result;  /* the lookup itself */
    lookup_t *l = arg;
    if (l->res)
        freeaddrinfo(l->res);
    free(l);
}

/* Resolve host:port. Numeric addresses are parsed in place; names go to
 * getaddrinfo on the blocking pool when called from a task (the task parks
 * meanwhile, so its worker runs other tasks), directly on a plain thread. */
static int resolve(const char *host, uint16_t port, int passive, struct addrinfo **out)
{
    char ports[8];
    snprintf(ports, sizeof ports, "%u", (unsigned)port);
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : AI_ADDRCONFIG);
    struct addrinfo h = hints;
    h.ai_flags |= AI_NUMERICHOST;
    int g = getaddrinfo(host, ports, &h, out);
    if (g == 0)
        return 0;
    if (g != EAI_NONAME)
        return gai_errno(g);

    /* A name: getaddrinfo may take seconds, so it runs on the blocking
     * pool while the task parks (a plain thread runs it itself). */
    size_t hl = strlen(host);
    lookup_t *l = calloc(1, sizeof *l + hl + 1);
    if (!l)
        return -ENOMEM;
    l->hints = hints;
    memcpy(l->port, ports, sizeof ports);
    memcpy(l->host, host, hl + 1);
    void *r;
    int rc = weft__blocking_ex(lookup_run, l, &r, lookup_discard);
    if (rc < 0)
        return rc;  /* the pool frees l */
    rc = l->rc;
    *out = l->res;
    l->res = NULL;
    lookup_discard(l, NULL);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* TCP helpers                                                               */
/* ------------------------------------------------------------------------ */

static int listen_on(const struct addrinfo *ai, int backlog)
{
    int fd = weft_socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
    if (fd < 0)
        return fd;
    int one = 1, zero = 0;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (ai->ai_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, backlog) < 0) {
        int e = weft__errno();
        weft_close(fd);
        return -e;
    }
    return fd;
}

int weft_tcp_listen(const char *host, uint16_t port, int backlog)
{
    if (backlog <= 0)
        backlog = SOMAXCONN;
    if (host && (!*host || strcmp(host, "*") == 0))
        host = NULL;
    struct addrinfo *res = NULL;
    int rc;
    if (!host) {
        /* Every address: IPv6 dual-stack when the system has IPv6. */
        rc = resolve("::", port, 1, &res);
        if (rc == 0) {
            rc = listen_on(res, backlog);
            freeaddrinfo(res);
            if (rc >= 0)
                return rc;
        }
        host = "0.0.0.0";
    }
    rc = resolve(host, port, 1, &res);
    if (rc < 0)
        return rc;
    int fd = -EADDRNOTAVAIL;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        fd = listen_on(ai, backlog);
        if (fd >= 0)
            break;
    }
    freeaddrinfo(res);
    return fd;
}

int weft_tcp_connect(const char *host, uint16_t port)
{
    if (!host || !*host)
        return -EINVAL;
    struct addrinfo *res = NULL;
    int rc = resolve(host, port, 0, &res);
    if (rc < 0)
        return rc;
    int fd = -EADDRNOTAVAIL;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        fd = weft_socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        if (fd < 0)
            continue;
        rc = weft_connect(fd, ai->ai_addr, ai->ai_addrlen);
        if (rc == 0)
            break;
        weft_close(fd);
        fd = rc;
        if (rc == -ECANCELED || rc == -ETIMEDOUT)
            break;  /* the caller's own end: do not try the next address */
    }
    freeaddrinfo(res);
    return fd;
}

/* ------------------------------------------------------------------------ */
/* Signals                                                                   */
/* ------------------------------------------------------------------------ */

#ifdef __linux__

int weft_signal_wait(const sigset_t *set)
{
    if (!set)
        return -EINVAL;
    /* signalfd sees only blocked signals; the caller must have blocked set
     * in every thread (workers inherit weft_run's caller's mask). */
    sigset_t cur;
    pthread_sigmask(SIG_BLOCK, NULL, &cur);
    int any = 0;
    for (int s = 1; s < NSIG; s++) {
        if (sigismember(set, s) == 1) {
            any = 1;
            if (sigismember(&cur, s) != 1)
                return -EINVAL;
        }
    }
    if (!any)
        return -EINVAL;
    int fd = signalfd(-1, set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (fd < 0)
        return -weft__errno();
    weft__fd_fresh(fd);
    struct signalfd_siginfo si;
    ssize_t r = weft_read(fd, &si, sizeof si);
    weft_close(fd);
    if (r < 0)
        return (int)r;
    if (r != (ssize_t)sizeof si)
        return -EIO;
    return (int)si.ssi_signo;
}

#else /* self-pipe: not exercised on Linux CI */

static int sig_pipe[2] = { -1, -1 };
static pthread_mutex_t sig_lock = PTHREAD_MUTEX_INITIALIZER;
static sigset_t sig_hooked;

static void on_signal(int s)
{
    int saved = errno;
    unsigned char b = (unsigned char)s;
    ssize_t r = write(sig_pipe[1], &b, 1);
    (void)r;
    errno = saved;
}

static int hook_signals(const sigset_t *set)
{
    pthread_mutex_lock(&sig_lock);
    if (sig_pipe[0] < 0) {
        if (pipe(sig_pipe) < 0) {
            int e = errno;
            pthread_mutex_unlock(&sig_lock);
            return -e;
        }
        for (int i = 0; i < 2; i++) {
            fcntl(sig_pipe[i], F_SETFL, fcntl(sig_pipe[i], F_GETFL) | O_NONBLOCK);
            fcntl(sig_pipe[i], F_SETFD, FD_CLOEXEC);
        }
        sigemptyset(&sig_hooked);
    }
    for (int s = 1; s < NSIG && s < 256; s++) {
        if (sigismember(set, s) == 1 && sigismember(&sig_hooked, s) != 1) {
            struct sigaction sa;
            memset(&sa, 0, sizeof sa);
            sa.sa_handler = on_signal;
            sa.sa_flags = SA_RESTART;
            sigemptyset(&sa.sa_mask);
            sigaction(s, &sa, NULL);
            sigaddset(&sig_hooked, s);
        }
    }
    pthread_mutex_unlock(&sig_lock);
    return 0;
}

int weft_signal_wait(const sigset_t *set)
{
    if (!set)
        return -EINVAL;
    int rc = hook_signals(set);
    if (rc < 0)
        return rc;
    /* The handlers run on whichever thread: unblock the set here. */
    pthread_sigmask(SIG_UNBLOCK, set, NULL);
    for (;;) {
        unsigned char b;
        ssize_t r = weft_read(sig_pipe[0], &b, 1);
        if (r < 0)
            return (int)r;
        if (r == 1 && sigismember(set, b) == 1)
            return b;
    }
}

#endif
