/* The bare C peer of bench/run: one thread, one epoll loop, no library. The
 * floor a runtime's I/O path is measured against: what it costs to serve
 * the same sockets with nothing but the syscalls.
 *
 *   epoll-server echo PORT    echo every byte back
 *   epoll-server http PORT    answer every request (up to its blank line)
 *                             with 200 "Hello, World!", keep-alive
 *
 * Prints "listening on 127.0.0.1:PORT" and serves until killed. Level-
 * triggered epoll; a write that does not go out whole keeps the rest and
 * waits for EPOLLOUT, and the connection reads nothing more until it is
 * out (so a client that does not read cannot grow the buffer). Requests
 * are found by their "\r\n\r\n": the load is GETs without bodies (wrk). */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUF 16384

static const char RESPONSE[] = "HTTP/1.1 200 OK\r\n"
                               "Server: epoll\r\n"
                               "Content-Type: text/plain; charset=utf-8\r\n"
                               "Content-Length: 13\r\n"
                               "Connection: keep-alive\r\n\r\n"
                               "Hello, World!";

typedef struct conn {
    int    fd;
    size_t in_len;            /* http: bytes of an unfinished request */
    size_t out_off, out_len;  /* bytes waiting for EPOLLOUT */
    char   in[BUF];
    char   out[BUF];
} conn_t;

static int http_mode;
static int ep;

static void drop(conn_t *c)
{
    close(c->fd);  /* closing removes it from the epoll set */
    free(c);
}

/* Send out[out_off..out_len); 1 when all went, 0 when it would block. */
static int flush(conn_t *c)
{
    while (c->out_off < c->out_len) {
        ssize_t w = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
        if (w < 0)
            return errno == EAGAIN ? 0 : -1;
        c->out_off += (size_t)w;
    }
    c->out_off = c->out_len = 0;
    return 1;
}

static void want(conn_t *c, uint32_t events)
{
    struct epoll_event ev = { .events = events, .data.ptr = c };
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Queue n bytes for c (they fit: at most one read's worth is pending). */
static void queue(conn_t *c, const char *p, size_t n)
{
    memcpy(c->out + c->out_len, p, n);
    c->out_len += n;
}

static void on_readable(conn_t *c)
{
    char buf[BUF];
    ssize_t r = recv(c->fd, http_mode ? c->in + c->in_len : buf,
                     http_mode ? BUF - c->in_len : BUF, 0);
    if (r < 0 && errno == EAGAIN)
        return;
    if (r <= 0) {
        drop(c);
        return;
    }
    if (!http_mode) {
        queue(c, buf, (size_t)r);
    } else {
        c->in_len += (size_t)r;
        size_t start = 0;
        char *end;
        while ((end = memmem(c->in + start, c->in_len - start, "\r\n\r\n", 4))) {
            if (c->out_len + sizeof RESPONSE - 1 > BUF)
                break;  /* pipelined past our buffer: answer the rest later */
            queue(c, RESPONSE, sizeof RESPONSE - 1);
            start = (size_t)(end - c->in) + 4;
        }
        memmove(c->in, c->in + start, c->in_len - start);
        c->in_len -= start;
        if (c->in_len == BUF) {  /* a request bigger than the buffer */
            drop(c);
            return;
        }
    }
    int f = flush(c);
    if (f < 0)
        drop(c);
    else if (f == 0)
        want(c, EPOLLOUT);
}

int main(int argc, char **argv)
{
    if (argc != 3 || (strcmp(argv[1], "echo") && strcmp(argv[1], "http"))) {
        fprintf(stderr, "usage: epoll-server echo|http PORT\n");
        return 2;
    }
    http_mode = !strcmp(argv[1], "http");
    signal(SIGPIPE, SIG_IGN);
    int l = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[2])),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t alen = sizeof a;
    if (bind(l, (struct sockaddr *)&a, sizeof a) || listen(l, 1024) ||
        getsockname(l, (struct sockaddr *)&a, &alen)) {
        perror("epoll-server: listen");
        return 1;
    }
    ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event lev = { .events = EPOLLIN, .data.ptr = NULL };
    epoll_ctl(ep, EPOLL_CTL_ADD, l, &lev);
    printf("listening on 127.0.0.1:%d\n", ntohs(a.sin_port));
    fflush(stdout);
    struct epoll_event evs[256];
    for (;;) {
        int n = epoll_wait(ep, evs, 256, -1);
        for (int i = 0; i < n; i++) {
            conn_t *c = evs[i].data.ptr;
            if (!c) {
                int fd;
                while ((fd = accept4(l, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
                    conn_t *nc = malloc(sizeof *nc);
                    if (!nc) {
                        close(fd);
                        continue;
                    }
                    nc->fd = fd;
                    nc->in_len = nc->out_off = nc->out_len = 0;
                    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = nc };
                    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
                }
                continue;
            }
            if (evs[i].events & EPOLLOUT) {
                int f = flush(c);
                if (f < 0)
                    drop(c);
                else if (f > 0)
                    want(c, EPOLLIN);
                continue;
            }
            on_readable(c);
        }
    }
}
