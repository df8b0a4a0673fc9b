/* Portable poll(2) poller; woken through a non-blocking self-pipe.
 *
 * poll(2) is level-triggered and stateless, so this backend keeps its own
 * interest list (fd, events, tag) under a mutex and emulates edge triggering
 * with one-shot interest: an event reported once is dropped from the list,
 * and the fd table arms it again before the next wait (ops.oneshot). Every
 * poll() builds a fresh pollfd array from the list — its own and those of
 * the pollers it watches — so the cost is linear in the registered fds:
 * this is the fallback, not the fast path. */
#include "io/poller.h"
#include "sched/alloc.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct interest {
    int      fd;
    short    events;  /* POLLIN | POLLOUT still wanted */
    uint64_t tag;
} interest_t;

struct weft__poller {
    int rfd, wfd;
    pthread_mutex_t lock;          /* everything below but the scratch */
    interest_t *ents;
    int n, cap;
    int *slot;                     /* fd -> index + 1 in ents, 0: none */
    int slot_cap;
    int sleeping;                  /* the owner is in (or entering) a blocking poll */
    uint64_t seq;                  /* blocking polls completed */
    weft__poller_t **watchers;     /* pollers watching us while they sleep */
    int nwatchers, wcap;
    /* owner only */
    weft__poller_t **watching;
    int nwatching, watching_cap;
    struct pollfd *pfd;
    weft__poller_t **src;
    int pfd_cap, src_cap;
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
    weft__poller_t *p = weft__calloc(1, sizeof *p);
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
    pthread_mutex_init(&p->lock, NULL);
    *out = p;
    return 0;
}

static void poll_destroy_(weft__poller_t *p)
{
    close(p->rfd);
    close(p->wfd);
    pthread_mutex_destroy(&p->lock);
    weft__free(p->ents);
    weft__free(p->slot);
    weft__free(p->watchers);
    weft__free(p->watching);
    weft__free(p->pfd);
    weft__free(p->src);
    weft__free(p);
}

static void poll_wake_(weft__poller_t *p)
{
    char c = 1;
    /* EAGAIN: the pipe is full, so a wake-up is pending anyway. */
    while (write(p->wfd, &c, 1) < 0 && errno == EINTR)
        ;
}

static int grow(void **arr, int *cap, int need, size_t elem)
{
    if (need <= *cap)
        return 0;
    int ncap = *cap ? *cap : 16;
    while (ncap < need)
        ncap *= 2;
    void *n = weft__realloc(*arr, elem * (size_t)ncap);
    if (!n)
        return -ENOMEM;
    *arr = n;
    *cap = ncap;
    return 0;
}

/* p->lock held: index of fd in ents, or -1. */
static int find_locked(weft__poller_t *p, int fd)
{
    return fd < p->slot_cap ? p->slot[fd] - 1 : -1;
}

/* p->lock held. */
static void remove_locked(weft__poller_t *p, int i)
{
    p->slot[p->ents[i].fd] = 0;
    p->n--;
    if (i != p->n) {
        p->ents[i] = p->ents[p->n];
        p->slot[p->ents[i].fd] = i + 1;
    }
}

static int poll_arm_(weft__poller_t *p, int fd, uint64_t tag, int events)
{
    if (fd < 0)
        return -EBADF;
    short ev = (short)(((events & WEFT__IO_IN) ? POLLIN : 0) |
                       ((events & WEFT__IO_OUT) ? POLLOUT : 0));
    pthread_mutex_lock(&p->lock);
    int i = find_locked(p, fd);
    if (i < 0) {
        if (fd >= p->slot_cap) {
            int old = p->slot_cap;
            if (grow((void **)&p->slot, &p->slot_cap, fd + 1, sizeof(int)) < 0) {
                pthread_mutex_unlock(&p->lock);
                return -ENOMEM;
            }
            memset(p->slot + old, 0, sizeof(int) * (size_t)(p->slot_cap - old));
        }
        if (grow((void **)&p->ents, &p->cap, p->n + 1, sizeof(interest_t)) < 0) {
            pthread_mutex_unlock(&p->lock);
            return -ENOMEM;
        }
        i = p->n++;
        p->ents[i] = (interest_t){ .fd = fd, .events = 0, .tag = tag };
        p->slot[fd] = i + 1;
    }
    p->ents[i].events |= ev;
    p->ents[i].tag = tag;
    /* Whoever sleeps on a pollfd array built before this arm must rebuild
     * it: the owner, and the workers watching us (a pipe write each). */
    if (p->sleeping)
        poll_wake_(p);
    for (int k = 0; k < p->nwatchers; k++)
        poll_wake_(p->watchers[k]);
    pthread_mutex_unlock(&p->lock);
    return 0;
}

/* Wait until w is not inside the blocking poll it was in at `seq`. */
static void wait_poll_done(weft__poller_t *w, uint64_t seq)
{
    for (;;) {
        pthread_mutex_lock(&w->lock);
        int busy = w->sleeping && w->seq == seq;
        pthread_mutex_unlock(&w->lock);
        if (!busy)
            return;
        sched_yield();
    }
}

static void poll_disarm_(weft__poller_t *p, int fd)
{
    /* A thread blocked in poll(2) holds a reference to every file in its
     * array: until it returns, close(fd) would not release the file (no
     * FIN, no EPIPE for the other end). So wake whoever sleeps on an array
     * that may hold fd (the owner, and the watchers listed now: a watcher
     * marks itself sleeping before it copies our fds), and wait for them to
     * leave poll(2). No lock is held while taking another: pollers watching
     * each other must not deadlock. */
    weft__poller_t *inl[16], **w = inl;
    uint64_t seq_inl[16], *seq = seq_inl;
    pthread_mutex_lock(&p->lock);
    int i = find_locked(p, fd);
    if (i >= 0)
        remove_locked(p, i);
    int n = p->nwatchers + 1;
    if (n > 16) {
        w = weft__malloc(sizeof *w * (size_t)n);
        seq = weft__malloc(sizeof *seq * (size_t)n);
        if (!w || !seq) {
            /* No memory: wake them at least; the close may lag. */
            for (int k = 0; k < p->nwatchers; k++)
                poll_wake_(p->watchers[k]);
            pthread_mutex_unlock(&p->lock);
            weft__free(w);
            weft__free(seq);
            return;
        }
    }
    int nw = 0;
    w[nw] = p;
    seq[nw++] = p->sleeping ? p->seq : UINT64_MAX;
    for (int k = 0; k < p->nwatchers; k++)
        w[nw++] = p->watchers[k];
    pthread_mutex_unlock(&p->lock);
    for (int k = 1; k < nw; k++) {
        pthread_mutex_lock(&w[k]->lock);
        seq[k] = w[k]->sleeping ? w[k]->seq : UINT64_MAX;
        pthread_mutex_unlock(&w[k]->lock);
    }
    for (int k = 0; k < nw; k++)
        if (seq[k] != UINT64_MAX)
            poll_wake_(w[k]);
    for (int k = 0; k < nw; k++)
        if (seq[k] != UINT64_MAX)
            wait_poll_done(w[k], seq[k]);
    if (w != inl) {
        weft__free(w);
        weft__free(seq);
    }
}

/* Append p's interests to pfd/src from index *at. p->lock held. */
static int collect_locked(weft__poller_t *p, struct pollfd **pfd, int *pcap,
                          weft__poller_t ***src, int *scap, int *at)
{
    for (int i = 0; i < p->n; i++) {
        if (!p->ents[i].events)
            continue;
        if (grow((void **)pfd, pcap, *at + 1, sizeof **pfd) < 0 ||
            grow((void **)src, scap, *at + 1, sizeof **src) < 0)
            return -ENOMEM;
        (*pfd)[*at] = (struct pollfd){ .fd = p->ents[i].fd, .events = p->ents[i].events };
        (*src)[*at] = p;
        (*at)++;
    }
    return 0;
}

/* Report one pollfd result of src's fd (any thread). */
static int dispatch(weft__poller_t *src, int fd, short rev)
{
    if (!rev)
        return 0;
    int bits = 0;
    short drop = 0;
    if (rev & (POLLIN | POLLPRI)) {
        bits |= WEFT__IO_IN;
        drop |= POLLIN;
    }
    if (rev & POLLOUT) {
        bits |= WEFT__IO_OUT;
        drop |= POLLOUT;
    }
    if (rev & (POLLERR | POLLHUP | POLLNVAL)) {
        bits |= WEFT__IO_ERR | WEFT__IO_IN | WEFT__IO_OUT;
        drop |= POLLIN | POLLOUT;
    }
    pthread_mutex_lock(&src->lock);
    int i = find_locked(src, fd);
    uint64_t tag = 0;
    int report = 0;
    if (i >= 0 && (src->ents[i].events & drop)) {
        /* One-shot: report what was still wanted, once. */
        src->ents[i].events &= (short)~drop;
        tag = src->ents[i].tag;
        report = 1;
        if (!src->ents[i].events)
            remove_locked(src, i);
    }
    pthread_mutex_unlock(&src->lock);
    if (report)
        weft__io_ready(tag, bits);
    return report;
}

static int do_poll(struct pollfd *pfd, int n, uint64_t timeout_ns)
{
#if defined(__linux__) || defined(__FreeBSD__) || defined(__OpenBSD__) || defined(__NetBSD__)
    struct timespec ts = { (time_t)(timeout_ns / 1000000000u),
                           (long)(timeout_ns % 1000000000u) };
    return ppoll(pfd, (nfds_t)n, timeout_ns == UINT64_MAX ? NULL : &ts, NULL);
#else
    int ms = timeout_ns == UINT64_MAX ? -1
           : timeout_ns >= (uint64_t)INT32_MAX * 1000000u ? INT32_MAX
           : (int)((timeout_ns + 999999u) / 1000000u);
    return poll(pfd, (nfds_t)n, ms);
#endif
}

static int poll_poll_(weft__poller_t *p, uint64_t timeout_ns)
{
    int at = 1;
    if (grow((void **)&p->pfd, &p->pfd_cap, 1, sizeof *p->pfd) < 0 ||
        grow((void **)&p->src, &p->src_cap, 1, sizeof *p->src) < 0)
        return -ENOMEM;
    p->pfd[0] = (struct pollfd){ .fd = p->rfd, .events = POLLIN };
    p->src[0] = NULL;
    int rc = 0;
    /* Sleeping from before the victims' fds are collected: a disarm of one
     * of them that does not see us sleeping happens before our collect. */
    pthread_mutex_lock(&p->lock);
    p->sleeping = timeout_ns != 0;
    pthread_mutex_unlock(&p->lock);
    for (int k = 0; k < p->nwatching && rc == 0; k++) {
        weft__poller_t *v = p->watching[k];
        pthread_mutex_lock(&v->lock);
        rc = collect_locked(v, &p->pfd, &p->pfd_cap, &p->src, &p->src_cap, &at);
        pthread_mutex_unlock(&v->lock);
    }
    pthread_mutex_lock(&p->lock);
    if (rc == 0)
        rc = collect_locked(p, &p->pfd, &p->pfd_cap, &p->src, &p->src_cap, &at);
    pthread_mutex_unlock(&p->lock);
    if (rc < 0)
        timeout_ns = 0;  /* out of memory: do not sleep on a partial set */
    int n = do_poll(p->pfd, at, timeout_ns);
    int e = errno;
    pthread_mutex_lock(&p->lock);
    p->sleeping = 0;
    p->seq++;
    pthread_mutex_unlock(&p->lock);
    if (n < 0)
        return e == EINTR ? 0 : -e;
    int woken = 0;
    if (p->pfd[0].revents) {
        char buf[64];
        while (read(p->rfd, buf, sizeof buf) > 0)
            ;
        woken = 1;
    }
    for (int i = 1; i < at && n > 0; i++)
        dispatch(p->src[i], p->pfd[i].fd, p->pfd[i].revents);
    return woken;
}

static int poll_harvest_(weft__poller_t *p)
{
    pthread_mutex_lock(&p->lock);
    if (p->n == 0) {
        pthread_mutex_unlock(&p->lock);
        return 0;
    }
    struct pollfd *pfd = NULL;
    weft__poller_t **src = NULL;
    int pcap = 0, scap = 0, at = 0;
    int rc = collect_locked(p, &pfd, &pcap, &src, &scap, &at);
    pthread_mutex_unlock(&p->lock);
    int got = 0;
    if (rc == 0 && at > 0 && do_poll(pfd, at, 0) > 0)
        for (int i = 0; i < at; i++)
            got += dispatch(p, pfd[i].fd, pfd[i].revents);
    weft__free(pfd);
    weft__free(src);
    return got;
}

static void poll_watch_(weft__poller_t *p, weft__poller_t *victim, int on)
{
    if (on) {
        if (grow((void **)&p->watching, &p->watching_cap, p->nwatching + 1,
                 sizeof *p->watching) < 0)
            return;  /* watched by polling later instead */
        pthread_mutex_lock(&victim->lock);
        if (grow((void **)&victim->watchers, &victim->wcap, victim->nwatchers + 1,
                 sizeof *victim->watchers) == 0) {
            victim->watchers[victim->nwatchers++] = p;
            p->watching[p->nwatching++] = victim;
        }
        pthread_mutex_unlock(&victim->lock);
        return;
    }
    pthread_mutex_lock(&victim->lock);
    for (int k = 0; k < victim->nwatchers; k++) {
        if (victim->watchers[k] == p) {
            victim->watchers[k] = victim->watchers[--victim->nwatchers];
            break;
        }
    }
    pthread_mutex_unlock(&victim->lock);
    for (int k = 0; k < p->nwatching; k++) {
        if (p->watching[k] == victim) {
            p->watching[k] = p->watching[--p->nwatching];
            break;
        }
    }
}

const weft__poller_ops_t weft__poller_poll = {
    .name = "poll",
    .oneshot = 1,
    .create = poll_create_,
    .destroy = poll_destroy_,
    .wake = poll_wake_,
    .poll = poll_poll_,
    .harvest = poll_harvest_,
    .watch = poll_watch_,
    .arm = poll_arm_,
    .disarm = poll_disarm_,
};
