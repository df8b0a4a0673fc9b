/* The echo load generator of bench/run: C connections to an echo server,
 * each with one message of S bytes outstanding at a time (send, wait for the
 * whole echo, check it, send the next), for D seconds after a warm-up; then
 * one JSON line with the round trips per second, the latency percentiles
 * and this client's own CPU time, so that a saturated client shows.
 *
 *   weft-echo-load [--host H] [--port P] [-c CONNS] [-d SECONDS] [-s BYTES]
 *                  [-w WARMUP_SECONDS]
 *
 * Plain epoll, one thread, level-triggered, no library: the client must cost
 * less than the servers it measures, and the same for all of them. One
 * clock read per round trip: the time the echo completed is the time the
 * next message leaves. Loopback use only (bench/run starts the servers).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Latency histogram: 100 ns buckets up to 100 ms, one overflow bucket. */
#define BUCKET_NS 100
#define BUCKETS   1000000

typedef struct conn {
    int      fd;
    int      got;      /* bytes of the current echo received */
    int      sent;     /* bytes of the current message written */
    uint64_t t_sent;   /* when the current message left (ns) */
} conn_t;

static const char *host = "127.0.0.1";
static int port = 7000, nconns = 64, size = 64;
static double secs = 5, warmup = 0.5;
static uint32_t hist[BUCKETS + 1];

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static double percentile_us(uint64_t total, double q)
{
    uint64_t want = (uint64_t)((double)total * q), seen = 0;
    if (want == 0)
        want = 1;
    for (int i = 0; i <= BUCKETS; i++) {
        seen += hist[i];
        if (seen >= want)
            return (double)(i + 1) * BUCKET_NS / 1000.0;  /* upper edge */
    }
    return 0;
}

static int connect_one(const struct addrinfo *ai)
{
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Write what is left of c's message; 1 when all of it is out. */
static int push(conn_t *c, const char *out)
{
    while (c->sent < size) {
        ssize_t w = send(c->fd, out + c->sent, (size_t)(size - c->sent), MSG_NOSIGNAL);
        if (w < 0)
            return errno == EAGAIN ? 0 : -1;
        c->sent += (int)w;
    }
    return 1;
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            printf("usage: weft-echo-load [--host H] [--port P] [-c CONNS] [-d SECONDS] "
                   "[-s BYTES] [-w WARMUP]\n"
                   "Echo round trips per second over CONNS connections (default 64, 5 s,\n"
                   "64 B, 0.5 s warm-up), one message outstanding per connection; prints\n"
                   "one JSON line: req_per_s, p50_us, p99_us, client_cpu (cores used).\n");
            return 0;
        }
        if (!v)
            goto bad;
        if (!strcmp(a, "--host"))
            host = v;
        else if (!strcmp(a, "--port"))
            port = atoi(v);
        else if (!strcmp(a, "-c"))
            nconns = atoi(v);
        else if (!strcmp(a, "-d"))
            secs = atof(v);
        else if (!strcmp(a, "-s"))
            size = atoi(v);
        else if (!strcmp(a, "-w"))
            warmup = atof(v);
        else
            goto bad;
        i++;
    }
    if (port <= 0 || port > 65535 || nconns <= 0 || nconns > 60000 || !(secs > 0) ||
        secs > 600 || size <= 0 || size > 65536 || warmup < 0 || warmup > 60)
        goto bad;

    char portstr[16];
    snprintf(portstr, sizeof portstr, "%d", port);
    struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai;
    int rc = getaddrinfo(host, portstr, &hints, &ai);
    if (rc != 0) {
        fprintf(stderr, "weft-echo-load: %s: %s\n", host, gai_strerror(rc));
        return 1;
    }
    conn_t *conns = calloc((size_t)nconns, sizeof *conns);
    char *out = malloc((size_t)size), *in = malloc((size_t)size);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (!conns || !out || !in || ep < 0) {
        perror("weft-echo-load");
        return 1;
    }
    for (int i = 0; i < size; i++)
        out[i] = (char)('a' + i % 26);
    for (int i = 0; i < nconns; i++) {
        conn_t *c = &conns[i];
        c->fd = connect_one(ai);
        if (c->fd < 0) {
            fprintf(stderr, "weft-echo-load: connect %s:%d: %s\n", host, port, strerror(errno));
            return 1;
        }
        struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
        epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
    }
    freeaddrinfo(ai);
    /* The sockets block until now (connect); from here on they do not. */
    for (int i = 0; i < nconns; i++)
        fcntl(conns[i].fd, F_SETFL, fcntl(conns[i].fd, F_GETFL) | O_NONBLOCK);

    uint64_t t0 = now_ns();
    uint64_t t_start = t0 + (uint64_t)(warmup * 1e9);
    uint64_t t_end = t_start + (uint64_t)(secs * 1e9);
    for (int i = 0; i < nconns; i++) {
        conns[i].t_sent = t0;
        if (push(&conns[i], out) < 0) {
            perror("weft-echo-load: send");
            return 1;
        }
    }
    uint64_t count = 0, errors = 0;
    double cpu0 = 0;
    int measuring = 0;
    struct epoll_event evs[256];
    for (;;) {
        int n = epoll_wait(ep, evs, 256, 1000);
        if (n < 0 && errno != EINTR) {
            perror("weft-echo-load: epoll_wait");
            return 1;
        }
        uint64_t t = now_ns();
        if (!measuring && t >= t_start) {
            measuring = 1;
            t_start = t;
            t_end = t + (uint64_t)(secs * 1e9);
            cpu0 = cpu_seconds();
        }
        if (t >= t_end)
            break;
        for (int k = 0; k < n; k++) {
            conn_t *c = evs[k].data.ptr;
            if (evs[k].events & EPOLLOUT) {
                int p = push(c, out);
                if (p < 0)
                    goto broken;
                if (p > 0) {
                    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
                    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
                }
            }
            if (!(evs[k].events & (EPOLLIN | EPOLLERR | EPOLLHUP)))
                continue;
            ssize_t r = recv(c->fd, in + c->got, (size_t)(size - c->got), 0);
            if (r < 0 && errno == EAGAIN)
                continue;
            if (r <= 0)
                goto broken;
            c->got += (int)r;
            if (c->got < size)
                continue;
            if (memcmp(in, out, (size_t)size) != 0) {
                fprintf(stderr, "weft-echo-load: the echo differs from the message\n");
                return 1;
            }
            if (measuring) {
                uint64_t b = (t - c->t_sent) / BUCKET_NS;
                hist[b < BUCKETS ? b : BUCKETS]++;
                count++;
            }
            c->got = 0;
            c->sent = 0;
            c->t_sent = t;
            int p = push(c, out);
            if (p < 0)
                goto broken;
            if (p == 0) {
                struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT, .data.ptr = c };
                epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
            }
            continue;
        broken:
            errors++;
            epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
            close(c->fd);
            c->fd = -1;
            if (errors == (uint64_t)nconns) {
                fprintf(stderr, "weft-echo-load: every connection failed\n");
                return 1;
            }
        }
    }
    double wall = (double)(now_ns() - t_start) / 1e9;
    double cpu = cpu_seconds() - cpu0;
    printf("{\"req_per_s\": %.1f, \"p50_us\": %.1f, \"p99_us\": %.1f, \"client_cpu\": %.3f, "
           "\"requests\": %llu, \"seconds\": %.3f, \"conns\": %d, \"bytes\": %d, "
           "\"errors\": %llu}\n",
           (double)count / wall, percentile_us(count, 0.50), percentile_us(count, 0.99),
           cpu / wall, (unsigned long long)count, wall, nconns, size,
           (unsigned long long)errors);
    return errors || count == 0 ? 1 : 0;
bad:
    fprintf(stderr, "weft-echo-load: bad arguments (see --help)\n");
    return 2;
}
