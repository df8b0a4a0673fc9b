/* weft-test: timeout=60 labels=io */
/* The I/O calls one behaviour at a time: pipes, Unix and TCP sockets (IPv4,
 * IPv6, names), UDP, half-close, refused and reset connections, deadlines,
 * cancellation, weft_close waking a reader, accept under EMFILE, plain
 * threads, bad input and signals. Every case runs under each poller (CTest
 * registers a `.poll` twin). Time bounds are loose: behaviour, not speed. */
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "t.h"

/* A connected TCP pair over 127.0.0.1: *srv is the accepted end. */
static void tcp_pair(int *cli, int *srv)
{
    int l = weft_tcp_listen("127.0.0.1", 0, 16);
    CHECK(l >= 0);
    int port = weft_local_port(l);
    CHECK(port > 0);
    *cli = weft_tcp_connect("127.0.0.1", (uint16_t)port);
    CHECK(*cli >= 0);
    *srv = weft_accept(l, NULL, NULL);
    CHECK(*srv >= 0);
    CHECK_EQ(weft_close(l), 0);
}

static void *sleep_then_write(void *a)
{
    int fd = (int)(intptr_t)a;
    weft_sleep(MS(30));
    CHECK_EQ(weft_write(fd, "hello", 5), 5);
    return NULL;
}

/* ---- pipes ------------------------------------------------------------- */

static void *m_pipe(void *arg)
{
    int p[2];
    CHECK_EQ(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
    weft_task_t *w = weft_spawn(sleep_then_write, (void *)(intptr_t)p[1]);
    char buf[16];
    uint64_t t0 = weft_now();
    CHECK_EQ(weft_read(p[0], buf, sizeof buf), 5);  /* parks until written */
    CHECK(weft_now() - t0 >= MS(20));
    CHECK(memcmp(buf, "hello", 5) == 0);
    CHECK_EQ(weft_join(w, NULL), 0);

    /* readv / writev */
    struct iovec out[2] = { { "ab", 2 }, { "cde", 3 } };
    CHECK_EQ(weft_writev(p[1], out, 2), 5);
    char x[2], y[8];
    struct iovec in[2] = { { x, 2 }, { y, sizeof y } };
    CHECK_EQ(weft_readv(p[0], in, 2), 5);
    CHECK(memcmp(x, "ab", 2) == 0 && memcmp(y, "cde", 3) == 0);

    /* A write to a pipe with no reader: -EPIPE, and the process lives. */
    CHECK_EQ(weft_close(p[0]), 0);
    CHECK_EQ(weft_write(p[1], "x", 1), -EPIPE);
    CHECK_EQ(weft_close(p[1]), 0);
    return NULL;
}

static void io_pipe(void)
{
    t_run(2, m_pipe, NULL);
}

/* ---- a bulk transfer that fills socket buffers both ways --------------- */

typedef struct {
    int    fd;
    size_t n;
    uint64_t sum;
} bulk_t;

static unsigned char pattern(size_t i)
{
    return (unsigned char)((i * 131u + (i >> 9)) & 0xff);
}

static void *bulk_writer(void *a)
{
    bulk_t *b = a;
    unsigned char buf[7000];
    size_t off = 0;
    while (off < b->n) {
        size_t k = b->n - off < sizeof buf ? b->n - off : sizeof buf;
        for (size_t i = 0; i < k; i++)
            buf[i] = pattern(off + i);
        CHECK_EQ(weft_write_all(b->fd, buf, k), k);
        off += k;
    }
    CHECK_EQ(shutdown(b->fd, SHUT_WR), 0);
    return NULL;
}

static void *bulk_reader(void *a)
{
    bulk_t *b = a;
    unsigned char buf[5000];
    size_t off = 0;
    for (;;) {
        ssize_t r = weft_read(b->fd, buf, sizeof buf);
        CHECK(r >= 0);
        if (r == 0)
            break;
        for (ssize_t i = 0; i < r; i++)
            CHECK_EQ(buf[i], pattern(off + (size_t)i));
        off += (size_t)r;
    }
    CHECK_EQ(off, b->n);
    return NULL;
}

static void bulk(int a, int b, size_t n)
{
    bulk_t w1 = { a, n, 0 }, r1 = { b, n, 0 }, w2 = { b, n, 0 }, r2 = { a, n, 0 };
    weft_task_t *ts[4] = { weft_spawn(bulk_writer, &w1), weft_spawn(bulk_reader, &r1),
                           weft_spawn(bulk_writer, &w2), weft_spawn(bulk_reader, &r2) };
    CHECK_EQ(weft_join_all(ts, 4, NULL), 0);
}

/* Connect to the Unix socket *a and wait for one byte from the acceptor's
 * side: the connected fd, or a negative errno. */
static void *unix_connector(void *a)
{
    const struct sockaddr_un *sa = a;
    int c = weft_socket(AF_UNIX, SOCK_STREAM, 0);
    CHECK(c >= 0);
    int rc = weft_connect(c, (const struct sockaddr *)sa, sizeof *sa);
    if (rc < 0) {
        weft_close(c);
        return (void *)(intptr_t)rc;
    }
    return (void *)(intptr_t)c;
}

static void *m_unix(void *arg)
{
    int sv[2];
    CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
    bulk(sv[0], sv[1], (size_t)t_scale(8 << 20));
    weft_close(sv[0]);
    weft_close(sv[1]);

    /* A named Unix socket through weft_socket / weft_connect / weft_accept. */
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    snprintf(sa.sun_path, sizeof sa.sun_path, "/tmp/weft-io-%d.sock", (int)getpid());
    unlink(sa.sun_path);
    int l = weft_socket(AF_UNIX, SOCK_STREAM, 0);
    CHECK(l >= 0);
    CHECK_EQ(bind(l, (struct sockaddr *)&sa, sizeof sa), 0);
    CHECK_EQ(listen(l, 1), 0);
    int c = weft_socket(AF_UNIX, SOCK_STREAM, 0);
    CHECK_EQ(weft_connect(c, (struct sockaddr *)&sa, sizeof sa), 0);
    int s = weft_accept(l, NULL, NULL);
    CHECK(s >= 0);
    bulk(c, s, (size_t)t_scale(1 << 20));
    weft_close(c);
    weft_close(s);

    /* A full backlog: connects wait (EAGAIN on a Unix socket) until the
     * listener accepts. */
    weft_task_t *ts[8];
    for (int i = 0; i < 8; i++)
        ts[i] = weft_spawn(unix_connector, &sa);
    weft_sleep(MS(50));
    int acc[8];
    for (int i = 0; i < 8; i++) {
        acc[i] = weft_accept(l, NULL, NULL);
        CHECK(acc[i] >= 0);
        CHECK_EQ(weft_write(acc[i], "!", 1), 1);
    }
    for (int i = 0; i < 8; i++) {
        void *r;
        CHECK_EQ(weft_join(ts[i], &r), 0);
        CHECK((intptr_t)r >= 0);
        char b;
        CHECK_EQ(weft_read((int)(intptr_t)r, &b, 1), 1);
        weft_close((int)(intptr_t)r);
    }
    for (int i = 0; i < 8; i++)
        weft_close(acc[i]);
    weft_close(l);
    unlink(sa.sun_path);
    return NULL;
}

static void io_unix(void)
{
    t_run(2, m_unix, NULL);
}

/* ---- TCP: IPv4, IPv6, names, half-close -------------------------------- */

static void *m_tcp(void *arg)
{
    int c, s;
    tcp_pair(&c, &s);
    bulk(c, s, (size_t)t_scale(8 << 20));
    weft_close(c);
    weft_close(s);

    /* Every address, dual-stack: reachable through 127.0.0.1. */
    int l = weft_tcp_listen(NULL, 0, 0);
    CHECK(l >= 0);
    int port = weft_local_port(l);
    c = weft_tcp_connect("127.0.0.1", (uint16_t)port);
    CHECK(c >= 0);
    s = weft_accept(l, NULL, NULL);
    CHECK(s >= 0);
    weft_close(c);
    weft_close(s);
    /* A name: resolved on a helper thread while this task parks. */
    c = weft_tcp_connect("localhost", (uint16_t)port);
    if (c == -ECONNREFUSED) {
        /* localhost resolved to an address the listener does not cover. */
    } else {
        CHECK(c >= 0);
        s = weft_accept(l, NULL, NULL);
        CHECK(s >= 0);
        weft_close(s);
        weft_close(c);
    }
    weft_close(l);

    /* IPv6 loopback, when the machine has it. */
    l = weft_tcp_listen("::1", 0, 4);
    if (l >= 0) {
        port = weft_local_port(l);
        c = weft_tcp_connect("::1", (uint16_t)port);
        CHECK(c >= 0);
        s = weft_accept(l, NULL, NULL);
        CHECK(s >= 0);
        CHECK_EQ(weft_write_all(c, "v6", 2), 2);
        char b[2];
        CHECK_EQ(weft_read(s, b, 2), 2);
        weft_close(c);
        weft_close(s);
        weft_close(l);
    } else {
        fprintf(stderr, "note: no IPv6 loopback here (%s)\n", weft_strerror(l));
    }
    return NULL;
}

static void io_tcp(void)
{
    t_run(2, m_tcp, NULL);
}

static void *half_close_server(void *a)
{
    int s = (int)(intptr_t)a;
    char buf[64];
    size_t got = 0;
    ssize_t r;
    while ((r = weft_read(s, buf + got, sizeof buf - got)) > 0)
        got += (size_t)r;
    CHECK_EQ(r, 0);  /* the client's shutdown(SHUT_WR) */
    CHECK_EQ(got, 4);
    CHECK_EQ(weft_write_all(s, "done", 4), 4);
    weft_close(s);
    return NULL;
}

static void *m_half_close(void *arg)
{
    int c, s;
    tcp_pair(&c, &s);
    weft_task_t *t = weft_spawn(half_close_server, (void *)(intptr_t)s);
    CHECK_EQ(weft_write_all(c, "ping", 4), 4);
    CHECK_EQ(shutdown(c, SHUT_WR), 0);
    char buf[8];
    size_t got = 0;
    ssize_t r;
    while ((r = weft_read(c, buf + got, sizeof buf - got)) > 0)
        got += (size_t)r;
    CHECK_EQ(r, 0);
    CHECK_EQ(got, 4);
    CHECK(memcmp(buf, "done", 4) == 0);
    CHECK_EQ(weft_join(t, NULL), 0);
    weft_close(c);
    return NULL;
}

static void io_half_close(void)
{
    t_run(2, m_half_close, NULL);
}

static void *m_refused(void *arg)
{
    int l = weft_tcp_listen("127.0.0.1", 0, 1);
    int port = weft_local_port(l);
    weft_close(l);  /* nobody listens there now */
    CHECK_EQ(weft_tcp_connect("127.0.0.1", (uint16_t)port), -ECONNREFUSED);
    int fd = weft_socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    CHECK_EQ(weft_connect(fd, (struct sockaddr *)&sa, sizeof sa), -ECONNREFUSED);
    weft_close(fd);
    return NULL;
}

static void io_refused(void)
{
    t_run(2, m_refused, NULL);
}

/* ---- one fd across two runs of weft_run ---------------------------------- */

static int shared_listener;

static void *delayed_connect(void *a)
{
    weft_sleep(MS(20));  /* the acceptor parks first: the fd gets registered */
    int c = weft_tcp_connect("127.0.0.1", (uint16_t)weft_local_port(shared_listener));
    CHECK(c >= 0);
    return (void *)(intptr_t)c;
}

static void *m_one_accept(void *arg)
{
    weft_task_t *t = weft_spawn(delayed_connect, NULL);
    int s = weft_accept(shared_listener, NULL, NULL);
    CHECK(s >= 0);
    void *c;
    CHECK_EQ(weft_join(t, &c), 0);
    weft_close(s);
    weft_close((int)(intptr_t)c);
    return NULL;
}

static void io_two_runs(void)
{
    /* Registered in the first run's poller, which is gone in the second:
     * the second run must register it again. */
    shared_listener = weft_tcp_listen("127.0.0.1", 0, 8);
    CHECK(shared_listener >= 0);
    t_run(2, m_one_accept, NULL);
    t_run(1, m_one_accept, NULL);
    t_run(2, m_one_accept, NULL);
    weft_close(shared_listener);
}

/* ---- peer reset while writing ------------------------------------------ */

static void *resetter(void *a)
{
    int s = (int)(intptr_t)a;
    char buf[4096];
    CHECK(weft_read(s, buf, sizeof buf) > 0);
    struct linger lg = { 1, 0 };  /* close with RST */
    CHECK_EQ(setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
    weft_close(s);
    return NULL;
}

static void *m_reset(void *arg)
{
    int c, s;
    tcp_pair(&c, &s);
    weft_task_t *t = weft_spawn(resetter, (void *)(intptr_t)s);
    static char chunk[65536];
    ssize_t r;
    long rounds = 0;
    while ((r = weft_write(c, chunk, sizeof chunk)) > 0)
        rounds++;
    CHECK(r == -EPIPE || r == -ECONNRESET);
    CHECK(rounds < 100000);
    CHECK_EQ(weft_join(t, NULL), 0);
    weft_close(c);
    return NULL;
}

static void io_peer_reset(void)
{
    t_run(2, m_reset, NULL);
}

/* ---- deadlines, cancellation, close ------------------------------------- */

static void *m_deadline(void *arg)
{
    int c, s;
    tcp_pair(&c, &s);
    char b[8];
    uint64_t t0 = weft_now();
    weft_deadline_push(MS(50));
    CHECK_EQ(weft_read(c, b, sizeof b), -ETIMEDOUT);
    weft_deadline_pop();
    CHECK(weft_now() - t0 >= MS(45));
    /* The connection still works after a timed-out read. */
    CHECK_EQ(weft_write_all(s, "ok", 2), 2);
    CHECK_EQ(weft_read(c, b, sizeof b), 2);
    /* Data already there: no park, so an expired deadline is not looked at. */
    CHECK_EQ(weft_write_all(s, "z", 1), 1);
    weft_sleep(MS(5));
    weft_deadline_push(0);
    CHECK_EQ(weft_read(c, b, sizeof b), 1);
    CHECK_EQ(weft_read(c, b, sizeof b), -ETIMEDOUT);
    weft_deadline_pop();
    weft_close(c);
    weft_close(s);
    return NULL;
}

static void io_read_deadline(void)
{
    t_run(2, m_deadline, NULL);
}

static void *blocked_reader(void *a)
{
    int fd = (int)(intptr_t)a;
    char b[8];
    return (void *)(intptr_t)weft_read(fd, b, sizeof b);
}

static void *m_cancel(void *arg)
{
    int c, s;
    tcp_pair(&c, &s);
    weft_task_t *t = weft_spawn(blocked_reader, (void *)(intptr_t)c);
    weft_sleep(MS(30));
    CHECK_EQ(weft_cancel(t), 0);
    void *r;
    CHECK_EQ(weft_join(t, &r), 0);
    CHECK_EQ((intptr_t)r, -ECANCELED);
    /* The fd is still usable by another task. */
    t = weft_spawn(blocked_reader, (void *)(intptr_t)c);
    weft_sleep(MS(10));
    CHECK_EQ(weft_write_all(s, "abc", 3), 3);
    CHECK_EQ(weft_join(t, &r), 0);
    CHECK_EQ((intptr_t)r, 3);
    weft_close(c);
    weft_close(s);
    return NULL;
}

static void io_cancel_read(void)
{
    t_run(2, m_cancel, NULL);
}

static void *m_close_wakes(void *arg)
{
    int c, s;
    tcp_pair(&c, &s);
    weft_task_t *t[3];
    for (int i = 0; i < 3; i++)
        t[i] = weft_spawn(blocked_reader, (void *)(intptr_t)c);
    weft_sleep(MS(30));
    CHECK_EQ(weft_close(c), 0);
    for (int i = 0; i < 3; i++) {
        void *r;
        CHECK_EQ(weft_join(t[i], &r), 0);
        CHECK_EQ((intptr_t)r, -EBADF);
    }
    weft_close(s);
    return NULL;
}

static void io_close_wakes_reader(void)
{
    t_run(2, m_close_wakes, NULL);
}

/* ---- accept under EMFILE ------------------------------------------------ */

typedef struct {
    int l;
    atomic_int emfile, served;
} acc_t;

static void *emfile_acceptor(void *a)
{
    acc_t *x = a;
    while (atomic_load(&x->served) < 2) {
        int s = weft_accept(x->l, NULL, NULL);
        if (s == -EMFILE || s == -ENFILE) {
            atomic_fetch_add(&x->emfile, 1);
            weft_sleep(MS(5));  /* wait for fds to come back */
            continue;
        }
        CHECK(s >= 0);
        char b[4];
        CHECK_EQ(weft_read(s, b, 4), 4);
        CHECK_EQ(weft_write_all(s, b, 4), 4);
        weft_close(s);
        atomic_fetch_add(&x->served, 1);
    }
    return NULL;
}

static void *m_emfile(void *arg)
{
    acc_t x = { .l = weft_tcp_listen("127.0.0.1", 0, 16) };
    CHECK(x.l >= 0);
    int port = weft_local_port(x.l);
    int c1 = weft_tcp_connect("127.0.0.1", (uint16_t)port);
    CHECK(c1 >= 0);
    /* Use up every fd: the acceptor's accept now fails with EMFILE. */
    static int hog[1024];
    int nhog = 0;
    while (nhog < 1024) {
        int d = dup(0);
        if (d < 0)
            break;
        hog[nhog++] = d;
    }
    CHECK(nhog < 1024);  /* the soft limit was lowered: we hit it */
    weft_task_t *t = weft_spawn(emfile_acceptor, &x);
    while (atomic_load(&x.emfile) == 0)
        weft_sleep(MS(1));
    for (int i = 0; i < nhog; i++)
        close(hog[i]);
    /* The server serves the waiting connection, and a new one. */
    CHECK_EQ(weft_write_all(c1, "one!", 4), 4);
    char b[4];
    CHECK_EQ(weft_read(c1, b, 4), 4);
    CHECK(memcmp(b, "one!", 4) == 0);
    int c2 = weft_tcp_connect("127.0.0.1", (uint16_t)port);
    CHECK(c2 >= 0);
    CHECK_EQ(weft_write_all(c2, "two!", 4), 4);
    CHECK_EQ(weft_read(c2, b, 4), 4);
    CHECK(memcmp(b, "two!", 4) == 0);
    CHECK_EQ(weft_join(t, NULL), 0);
    CHECK(atomic_load(&x.emfile) > 0);
    weft_close(c1);
    weft_close(c2);
    weft_close(x.l);
    return NULL;
}

static void io_accept_emfile(void)
{
    /* A low soft limit, so that "every fd" is a few hundred. */
    struct rlimit rl;
    CHECK_EQ(getrlimit(RLIMIT_NOFILE, &rl), 0);
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < 512)
        T_SKIP("RLIMIT_NOFILE hard limit below 512");
    rl.rlim_cur = 512;
    CHECK_EQ(setrlimit(RLIMIT_NOFILE, &rl), 0);
    t_run(2, m_emfile, NULL);
}

/* ---- UDP, weft_wait_fd --------------------------------------------------- */

static void *udp_sender(void *a)
{
    struct sockaddr_in *to = a;
    int fd = weft_socket(AF_INET, SOCK_DGRAM, 0);
    CHECK(fd >= 0);
    weft_sleep(MS(20));
    CHECK_EQ(weft_sendto(fd, "datagram", 8, 0, (struct sockaddr *)to, sizeof *to), 8);
    weft_close(fd);
    return NULL;
}

static void *m_udp(void *arg)
{
    int fd = weft_socket(AF_INET, SOCK_DGRAM, 0);
    CHECK(fd >= 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    CHECK_EQ(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    socklen_t l = sizeof sa;
    CHECK_EQ(getsockname(fd, (struct sockaddr *)&sa, &l), 0);
    weft_task_t *t = weft_spawn(udp_sender, &sa);
    char b[16];
    struct sockaddr_in from;
    socklen_t fl = sizeof from;
    CHECK_EQ(weft_recvfrom(fd, b, sizeof b, 0, (struct sockaddr *)&from, &fl), 8);
    CHECK(memcmp(b, "datagram", 8) == 0);
    CHECK_EQ(from.sin_addr.s_addr, htonl(INADDR_LOOPBACK));
    CHECK_EQ(weft_join(t, NULL), 0);
    weft_close(fd);
    return NULL;
}

static void io_udp(void)
{
    t_run(2, m_udp, NULL);
}

static void *m_wait_fd(void *arg)
{
    int c, s;
    tcp_pair(&c, &s);
    CHECK_EQ(weft_wait_fd(c, WEFT_WRITABLE), WEFT_WRITABLE);
    weft_task_t *w = weft_spawn(sleep_then_write, (void *)(intptr_t)s);
    uint64_t t0 = weft_now();
    CHECK_EQ(weft_wait_fd(c, WEFT_READABLE), WEFT_READABLE);
    CHECK(weft_now() - t0 >= MS(20));
    CHECK_EQ(weft_join(w, NULL), 0);
    CHECK(weft_wait_fd(c, WEFT_READABLE | WEFT_WRITABLE) == (WEFT_READABLE | WEFT_WRITABLE));
    weft_deadline_push(MS(20));
    CHECK_EQ(weft_wait_fd(s, WEFT_READABLE), -ETIMEDOUT);
    weft_deadline_pop();
    weft_close(c);
    weft_close(s);
    return NULL;
}

static void io_wait_fd(void)
{
    t_run(2, m_wait_fd, NULL);
}

/* ---- plain threads, bad input ------------------------------------------- */

static void *thread_reader(void *a)
{
    int fd = *(int *)a;
    char b[8];
    /* Not a task: blocks this thread in poll(2). */
    CHECK(weft_self() == NULL);
    return (void *)(intptr_t)weft_read(fd, b, sizeof b);
}

static void *m_thread(void *arg)
{
    int p[2];
    CHECK_EQ(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, thread_reader, &p[0]), 0);
    weft_sleep(MS(30));
    CHECK_EQ(weft_write(p[1], "thread", 6), 6);
    void *r;
    pthread_join(th, &r);
    CHECK_EQ((intptr_t)r, 6);
    weft_close(p[0]);
    weft_close(p[1]);
    return NULL;
}

static void io_plain_thread(void)
{
    t_run(2, m_thread, NULL);
    /* No runtime, SIGPIPE at its default (fatal) disposition: a write to a
     * socket whose peer is gone is -EPIPE, not the end of the process. */
    CHECK(signal(SIGPIPE, SIG_DFL) != SIG_ERR);
    int sv[2];
    CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    weft_close(sv[1]);
    CHECK_EQ(weft_write(sv[0], "x", 1), -EPIPE);
    struct iovec iov = { "y", 1 };
    CHECK_EQ(weft_writev(sv[0], &iov, 1), -EPIPE);
    weft_close(sv[0]);
    /* And with no runtime at all. */
    int c = -1, p[2];
    CHECK_EQ(pipe2(p, O_NONBLOCK), 0);
    CHECK_EQ(weft_write(p[1], "x", 1), 1);
    char b;
    CHECK_EQ(weft_read(p[0], &b, 1), 1);
    weft_close(p[0]);
    weft_close(p[1]);
    int l = weft_tcp_listen("127.0.0.1", 0, 4);
    CHECK(l >= 0);
    c = weft_tcp_connect("localhost", (uint16_t)weft_local_port(l));
    CHECK(c >= 0 || c == -ECONNREFUSED);
    if (c >= 0)
        weft_close(c);
    weft_close(l);
}

static void *m_bad(void *arg)
{
    char b[4];
    CHECK_EQ(weft_read(-1, b, 4), -EBADF);
    CHECK_EQ(weft_write(-1, b, 4), -EBADF);
    CHECK_EQ(weft_close(-1), -EBADF);
    CHECK_EQ(weft_wait_fd(-1, WEFT_READABLE), -EBADF);
    CHECK_EQ(weft_readv(0, NULL, -1), -EINVAL);
    CHECK_EQ(weft_writev(0, NULL, 1 << 20), -EINVAL);
    CHECK_EQ(weft_tcp_connect(NULL, 80), -EINVAL);
    CHECK_EQ(weft_tcp_connect("", 80), -EINVAL);
    CHECK_EQ(weft_socket(-7, SOCK_STREAM, 0), -EAFNOSUPPORT);
    CHECK_EQ(weft_accept(-1, NULL, NULL), -EBADF);
    CHECK_EQ(weft_signal_wait(NULL), -EINVAL);
    int fd = weft_socket(AF_INET, SOCK_STREAM, 0);
    CHECK_EQ(weft_wait_fd(fd, 0), -EINVAL);
    CHECK_EQ(weft_wait_fd(fd, 8), -EINVAL);
    CHECK(weft_accept(fd, NULL, NULL) < 0);  /* not listening */
    CHECK(weft_local_port(-1) < 0);
    weft_close(fd);
    int c, s;
    tcp_pair(&c, &s);
    CHECK_EQ(weft_write(c, (void *)8, 16), -EFAULT);
    weft_close(c);
    weft_close(s);
    /* A name that does not resolve: an error, whichever, never a hang. */
    weft_deadline_push(MS(3000));
    int r = weft_tcp_connect("no-such-host.invalid", 80);
    weft_deadline_pop();
    CHECK(r < 0);
    CHECK(weft_tcp_listen("999.1.1.1", 0, 1) < 0);
    return NULL;
}

static void io_bad_input(void)
{
    t_run(2, m_bad, NULL);
}

/* ---- signals ---------------------------------------------------------- */

static void *raiser(void *a)
{
    weft_sleep(MS(30));
    CHECK_EQ(kill(getpid(), SIGUSR1), 0);  /* to the process, not a thread */
    return NULL;
}

static void *m_signal(void *arg)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    weft_task_t *t = weft_spawn(raiser, NULL);
    CHECK_EQ(weft_signal_wait(&set), SIGUSR1);
    CHECK_EQ(weft_join(t, NULL), 0);
    /* Not blocked: refused rather than a silent never-return. */
    sigset_t other;
    sigemptyset(&other);
    sigaddset(&other, SIGUSR2);
    CHECK_EQ(weft_signal_wait(&other), -EINVAL);
    return NULL;
}

static void io_signal_wait(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    /* Blocked before weft_run: every worker inherits the mask. */
    CHECK_EQ(pthread_sigmask(SIG_BLOCK, &set, NULL), 0);
    t_run(2, m_signal, NULL);
}

T_MAIN(
    T_CASE(io_pipe),
    T_CASE(io_unix),
    T_CASE(io_tcp),
    T_CASE(io_half_close),
    T_CASE(io_refused),
    T_CASE(io_two_runs),
    T_CASE(io_peer_reset),
    T_CASE(io_read_deadline),
    T_CASE(io_cancel_read),
    T_CASE(io_close_wakes_reader),
    T_CASE(io_accept_emfile),
    T_CASE(io_udp),
    T_CASE(io_wait_fd),
    T_CASE(io_plain_thread),
    T_CASE(io_bad_input),
    T_CASE(io_signal_wait),
)
