/* The process pool: run a function of this binary in a worker process,
 * bytes in and bytes out (asyncio's ProcessPoolExecutor), so CPU-bound or
 * crash-prone code runs on other cores and in its own address space.
 *
 * Forking a process with threads is unsafe (the child inherits locks that
 * threads which do not exist there were holding), so the workers come from
 * a *zygote*: a process forked by the first weft_run that wants a pool,
 * before any of weft's worker threads exists. It lives until this process
 * exits (it sees EOF on its socket then), and forks a worker process
 * whenever asked, handing back a socket to it (SCM_RIGHTS) and its pid.
 * A worker is a plain single-threaded process: it reads a request, calls
 * the function and writes the reply, until its socket closes. Function
 * pointers mean the same in every process: all are forks of one image.
 *
 * Frames on a worker socket (native byte order, it never leaves the host):
 *   request: fn (8 bytes) | length (8) | bytes
 *   reply:   result (8, an int) | length (8) | bytes
 * A worker that dies mid-call (a crash, abort, exit) closes its socket:
 * the call returns -ECHILD and the worker is replaced by the next call. A
 * call whose task is cancelled or times out kills its worker. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>
#ifdef __linux__
#include <linux/close_range.h>
#endif

#include "sched/alloc.h"
#include "sched/park.h"
#include "weft.h"

typedef struct pworker {
    struct pworker *next;
    int             fd;
    pid_t           pid;
} pworker_t;

static struct {
    int           zygote;     /* our socket to the zygote; -1: none */
    int           size;       /* workers allowed at once (this weft_run) */
    weft_mutex_t  lock;       /* zygote requests and the idle list */
    weft_sem_t    slots;      /* one unit per worker allowed */
    pworker_t    *idle;
} pool = { -1, 0, WEFT_MUTEX_INIT, WEFT_SEM_INIT(0), NULL };

/* ---- inside the worker and the zygote: plain blocking I/O ---------------- */

static int full_io(int fd, void *buf, size_t n, int writing)
{
    char *p = buf;
    while (n > 0) {
        ssize_t r = writing ? write(fd, p, n) : read(fd, p, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

static void worker_main(int fd)
{
    for (;;) {
        uint64_t hdr[2];
        if (full_io(fd, hdr, sizeof hdr, 0) < 0)
            _exit(0);  /* the pool closed us */
        size_t in_len = (size_t)hdr[1];
        void *in = malloc(in_len ? in_len : 1);
        if (!in || full_io(fd, in, in_len, 0) < 0)
            _exit(1);
        weft_proc_fn fn = (weft_proc_fn)(uintptr_t)hdr[0];
        void *out = NULL;
        size_t out_len = 0;
        int rc = fn(in, in_len, &out, &out_len);
        free(in);
        if (!out)
            out_len = 0;
        uint64_t reply[2] = { (uint64_t)(int64_t)rc, out_len };
        if (full_io(fd, reply, sizeof reply, 1) < 0 || full_io(fd, out, out_len, 1) < 0)
            _exit(1);
        free(out);
    }
}

/* Keep only fd open (besides 0, 1, 2): the zygote must not hold the
 * program's sockets and files open. */
static void close_all_but(int fd)
{
#if defined(__linux__) && defined(CLOSE_RANGE_UNSHARE)
    if (close_range(3, (unsigned)fd - 1, 0) == 0 && close_range((unsigned)fd + 1, ~0u, 0) == 0)
        return;
#endif
    long max = sysconf(_SC_OPEN_MAX);
    if (max < 0 || max > 1 << 20)
        max = 1 << 20;
    for (int i = 3; i < max; i++)
        if (i != fd)
            close(i);
}

static void zygote_main(int sock)
{
    close_all_but(sock);
    /* The workers are our children: let the kernel reap them. */
    signal(SIGCHLD, SIG_IGN);
    for (;;) {
        char c;
        ssize_t r = read(sock, &c, 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            _exit(0);  /* the program has gone */
        int sv[2];
        pid_t pid = -1;
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0) {
            pid = fork();
            if (pid == 0) {
                close(sock);
                close(sv[0]);
                signal(SIGCHLD, SIG_DFL);
                worker_main(sv[1]);
            }
            close(sv[1]);
        }
        /* Reply: the pid (-1 on failure) and, with it, the worker's socket. */
        int32_t p32 = (int32_t)pid;
        struct iovec iov = { &p32, sizeof p32 };
        union {
            struct cmsghdr h;
            char buf[CMSG_SPACE(sizeof(int))];
        } u;
        struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
        if (pid > 0) {
            m.msg_control = u.buf;
            m.msg_controllen = sizeof u.buf;
            struct cmsghdr *h = CMSG_FIRSTHDR(&m);
            h->cmsg_level = SOL_SOCKET;
            h->cmsg_type = SCM_RIGHTS;
            h->cmsg_len = CMSG_LEN(sizeof(int));
            memcpy(CMSG_DATA(h), &sv[0], sizeof(int));
        }
        while (sendmsg(sock, &m, 0) < 0 && errno == EINTR) {
        }
        if (pid > 0)
            close(sv[0]);
    }
}

/* ---- in the program ---------------------------------------------------- */

int weft__procpool_start(int processes)
{
    pool.size = processes;
    weft_sem_init(&pool.slots, (unsigned)processes);
    if (processes == 0 || pool.zygote >= 0)
        return 0;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
        return -weft__errno();
    pid_t pid = fork();
    if (pid < 0) {
        int e = weft__errno();
        close(sv[0]);
        close(sv[1]);
        return -e;
    }
    if (pid == 0) {
        close(sv[0]);
        zygote_main(sv[1]);
    }
    close(sv[1]);
    pool.zygote = sv[0];
    return 0;
}

void weft__procpool_stop(void)
{
    /* Idle workers exit when their socket closes. */
    pworker_t *w;
    while ((w = pool.idle)) {
        pool.idle = w->next;
        close(w->fd);
        weft__free(w);
    }
    pool.size = 0;
}

/* Ask the zygote for a new worker (pool.lock held). The exchange blocks
 * this thread for the moment a fork takes (about a millisecond), once per
 * worker the pool ever starts: simpler and safer than a wait that a
 * cancellation could cut between the request and its reply. */
static int new_worker(pworker_t **out)
{
    char c = 'w';
    ssize_t r;
    while ((r = send(pool.zygote, &c, 1, MSG_NOSIGNAL)) < 0 && weft__errno() == EINTR) {
    }
    if (r < 0)
        return -weft__errno();
    int32_t pid = -1;
    int fd = -1;
    struct iovec iov = { &pid, sizeof pid };
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(int))];
    } u;
    struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1,
                        .msg_control = u.buf, .msg_controllen = sizeof u.buf };
    while ((r = recvmsg(pool.zygote, &m, MSG_CMSG_CLOEXEC)) < 0 && weft__errno() == EINTR) {
    }
    if (r < 0)
        return -weft__errno();
    struct cmsghdr *h = CMSG_FIRSTHDR(&m);
    if (r > 0 && h && h->cmsg_type == SCM_RIGHTS)
        memcpy(&fd, CMSG_DATA(h), sizeof fd);
    if (r == 0 || pid <= 0 || fd < 0) {
        if (fd >= 0)
            close(fd);
        return -EAGAIN;
    }
    /* Our end is read and written by tasks: non-blocking. */
    if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0) {
        int e = weft__errno();
        close(fd);
        kill(pid, SIGKILL);
        return -e;
    }
    pworker_t *w = weft__calloc(1, sizeof *w);
    if (!w) {
        close(fd);
        kill(pid, SIGKILL);
        return -ENOMEM;
    }
    w->fd = fd;
    w->pid = pid;
    *out = w;
    return 0;
}

static void worker_drop(pworker_t *w, int kill_it)
{
    if (kill_it)
        kill(w->pid, SIGKILL);
    weft_close(w->fd);
    weft__free(w);
}

/* One call on worker w: 0 with the reply, -ECHILD when the worker died, or
 * the wait's -ECANCELED / -ETIMEDOUT. */
static int exchange(pworker_t *w, weft_proc_fn fn, const void *in, size_t in_len,
                    int64_t *rc, void **out, size_t *out_len)
{
    uint64_t hdr[2] = { (uint64_t)(uintptr_t)fn, in_len };
    ssize_t r = weft_write_all(w->fd, hdr, sizeof hdr);
    if (r >= 0 && in_len)
        r = weft_write_all(w->fd, in, in_len);
    if (r < 0)
        return r == -EPIPE || r == -ECONNRESET ? -ECHILD : (int)r;
    uint64_t reply[2];
    size_t got = 0;
    while (got < sizeof reply) {
        r = weft_read(w->fd, (char *)reply + got, sizeof reply - got);
        if (r <= 0)
            return r == 0 || r == -ECONNRESET ? -ECHILD : (int)r;
        got += (size_t)r;
    }
    *rc = (int64_t)reply[0];
    size_t n = (size_t)reply[1];
    if (n == 0)
        return 0;
    char *buf = malloc(n);
    if (!buf)
        return -ENOMEM;
    for (got = 0; got < n; got += (size_t)r) {
        r = weft_read(w->fd, buf + got, n - got);
        if (r <= 0) {
            free(buf);
            return r == 0 || r == -ECONNRESET ? -ECHILD : (int)r;
        }
    }
    *out = buf;
    *out_len = n;
    return 0;
}

int weft_process_call(weft_proc_fn fn, const void *in, size_t in_len, void **out,
                      size_t *out_len)
{
    if (!fn || (in_len && !in) || !out || !out_len)
        return -EINVAL;
    *out = NULL;
    *out_len = 0;
    if (pool.zygote < 0 || pool.size == 0)
        return -ENOTSUP;
    int rc = weft_sem_acquire(&pool.slots);
    if (rc < 0)
        return rc;
    pworker_t *w = NULL;
    if ((rc = weft_mutex_lock(&pool.lock)) < 0) {
        weft_sem_release(&pool.slots);
        return rc;
    }
    if ((w = pool.idle))
        pool.idle = w->next;
    else
        rc = new_worker(&w);
    weft_mutex_unlock(&pool.lock);
    if (rc == 0) {
        int64_t result = 0;
        rc = exchange(w, fn, in, in_len, &result, out, out_len);
        if (rc == 0 && weft_mutex_lock(&pool.lock) == 0) {
            w->next = pool.idle;
            pool.idle = w;
            weft_mutex_unlock(&pool.lock);
            rc = (int)result;
        } else if (rc == 0) {
            /* Cancelled while putting it back: the call is done, the
             * worker goes (it would be replaced on demand). */
            worker_drop(w, 1);
            rc = (int)result;
        } else {
            /* Died, or we gave up on it mid-call: it must not live on. */
            worker_drop(w, 1);
        }
    }
    weft_sem_release(&pool.slots);
    return rc;
}
