/* weft-test: timeout=180 labels=io */
/* Echo servers under load: 10,000 concurrent connections from a separate
 * client process with every byte checked, and connections that keep
 * round-tripping while a task hogs one of two workers in a CPU loop. */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "t.h"

/* ---- 10k connections ------------------------------------------------- */

#define ROUNDS 3

static size_t msg_len(long id, int round)
{
    return 1 + (size_t)((id * 7 + round * 131) % 2000);
}

static unsigned char msg_byte(long id, int round, size_t j)
{
    return (unsigned char)((id + round * 3 + (long)j) & 0xff);
}

typedef struct {
    uint16_t port;
    long     n;
} echo_cfg_t;

static echo_cfg_t ecfg;

/* Client (child process): connect, ROUNDS checked round trips, then keep
 * the connection open (the fd is the result) until every client is done. */
static void *client(void *a)
{
    long id = (long)(intptr_t)a;
    int fd = weft_tcp_connect("127.0.0.1", ecfg.port);
    if (fd < 0) {
        fprintf(stderr, "client %ld: connect: %s\n", id, weft_strerror(fd));
        abort();
    }
    unsigned char out[2048], in[2048];
    for (int r = 0; r < ROUNDS; r++) {
        size_t n = msg_len(id, r);
        for (size_t j = 0; j < n; j++)
            out[j] = msg_byte(id, r, j);
        CHECK_EQ(weft_write_all(fd, out, n), n);
        size_t got = 0;
        while (got < n) {
            ssize_t k = weft_read(fd, in + got, n - got);
            CHECK(k > 0);
            got += (size_t)k;
        }
        CHECK(memcmp(in, out, n) == 0);
    }
    return (void *)(intptr_t)fd;
}

static void *client_main(void *arg)
{
    long n = ecfg.n;
    weft_task_t **ts = calloc((size_t)n, sizeof *ts);
    void **res = calloc((size_t)n, sizeof *res);
    CHECK(ts && res);
    for (long i = 0; i < n; i++) {
        ts[i] = weft_spawn(client, (void *)(intptr_t)i);
        CHECK(ts[i] != NULL);
    }
    CHECK_EQ(weft_join_all(ts, (size_t)n, res), 0);
    /* All n connections are open at once here; now let them go. */
    for (long i = 0; i < n; i++)
        CHECK_EQ(weft_close((int)(intptr_t)res[i]), 0);
    free(ts);
    free(res);
    return NULL;
}

typedef struct {
    int l;
    atomic_long accepted, live, peak, bytes;
} server_t;

static server_t srv;

static void *handler(void *a)
{
    int fd = (int)(intptr_t)a;
    long live = atomic_fetch_add(&srv.live, 1) + 1;
    long p = atomic_load(&srv.peak);
    while (live > p && !atomic_compare_exchange_weak(&srv.peak, &p, live))
        ;
    char buf[4096];
    ssize_t r;
    while ((r = weft_read(fd, buf, sizeof buf)) > 0) {
        CHECK_EQ(weft_write_all(fd, buf, (size_t)r), r);
        atomic_fetch_add(&srv.bytes, r);
    }
    CHECK_EQ(r, 0);
    weft_close(fd);
    atomic_fetch_sub(&srv.live, 1);
    return NULL;
}

static void *acceptor(void *a)
{
    for (;;) {
        int fd = weft_accept(srv.l, NULL, NULL);
        if (fd == -ECANCELED)
            return NULL;
        CHECK(fd >= 0);
        atomic_fetch_add(&srv.accepted, 1);
        CHECK_EQ(weft_go(handler, (void *)(intptr_t)fd), 0);
    }
}

static void *server_main(void *arg)
{
    pid_t child = *(pid_t *)arg;
    weft_task_t *acc = weft_spawn(acceptor, NULL);
    int status = -1;
    uint64_t t0 = weft_now();
    for (;;) {
        pid_t r = waitpid(child, &status, WNOHANG);
        if (r == child)
            break;
        CHECK(weft_now() - t0 < 150ull * 1000000000u);
        weft_sleep(MS(20));
    }
    /* The client is gone: its connections end, the handlers follow. */
    while (atomic_load(&srv.live) > 0 && weft_now() - t0 < 160ull * 1000000000u)
        weft_sleep(MS(5));
    weft_cancel(acc);
    CHECK_EQ(weft_join(acc, NULL), 0);
    return (void *)(intptr_t)status;
}

static void echo_10k(void)
{
    long n = t_scale(10000);
    struct rlimit rl;
    CHECK_EQ(getrlimit(RLIMIT_NOFILE, &rl), 0);
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < (rlim_t)n + 256) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0 ||
            (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < (rlim_t)n + 256)) {
            static char why[128];
            snprintf(why, sizeof why, "RLIMIT_NOFILE hard limit %llu is below %ld + 256",
                     (unsigned long long)rl.rlim_max, n);
            T_SKIP(why);
        }
    }
    srv.l = weft_tcp_listen("127.0.0.1", 0, 4096);  /* a plain call: no runtime yet */
    CHECK(srv.l >= 0);
    ecfg.port = (uint16_t)weft_local_port(srv.l);
    ecfg.n = n;
    fflush(NULL);
    pid_t child = fork();
    CHECK(child >= 0);
    if (child == 0) {
        close(srv.l);
        t_run(2, client_main, NULL);
        _exit(0);
    }
    int status = (int)(intptr_t)t_run(2, server_main, &child);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    long expect = 0;
    for (long i = 0; i < n; i++)
        for (int r = 0; r < ROUNDS; r++)
            expect += (long)msg_len(i, r);
    CHECK_EQ(atomic_load(&srv.accepted), n);
    CHECK_EQ(atomic_load(&srv.peak), n);  /* all of them at once */
    CHECK_EQ(atomic_load(&srv.bytes), expect);
    weft_close(srv.l);
}

/* ---- a CPU hog on one of two workers ------------------------------------- */

#define PAIRS 16

typedef struct {
    int fd;
    atomic_long rounds;
    atomic_ullong max_ns;
} pair_t;

static pair_t pairs[PAIRS];
static atomic_int stop;
static long during[PAIRS];
static int hog_worker = -1;

static void *echo_side(void *a)
{
    int fd = (int)(intptr_t)a;
    char buf[64];
    ssize_t r;
    while ((r = weft_read(fd, buf, sizeof buf)) > 0)
        CHECK_EQ(weft_write_all(fd, buf, (size_t)r), r);
    weft_close(fd);
    return NULL;
}

static void *ping_side(void *a)
{
    pair_t *p = a;
    char out[64], in[64];
    memset(out, 'p', sizeof out);
    while (!atomic_load(&stop)) {
        uint64_t t0 = weft_now();
        CHECK_EQ(weft_write_all(p->fd, out, sizeof out), sizeof out);
        size_t got = 0;
        while (got < sizeof in) {
            ssize_t k = weft_read(p->fd, in + got, sizeof in - got);
            CHECK(k > 0);
            got += (size_t)k;
        }
        uint64_t dt = weft_now() - t0;
        unsigned long long m = atomic_load(&p->max_ns);
        while (dt > m && !atomic_compare_exchange_weak(&p->max_ns, &m, dt))
            ;
        atomic_fetch_add(&p->rounds, 1);
    }
    weft_close(p->fd);
    return NULL;
}

static void *hog(void *a)
{
    long before[PAIRS];
    for (int i = 0; i < PAIRS; i++)
        before[i] = atomic_load(&pairs[i].rounds);
    hog_worker = weft_worker_id();
    /* Never reaches a suspension point: this worker is gone for 1.5 s. */
    uint64_t end = weft_now() + MS(1500);
    while (weft_now() < end)
        ;
    for (int i = 0; i < PAIRS; i++)
        during[i] = atomic_load(&pairs[i].rounds) - before[i];
    return NULL;
}

static void *m_hog(void *arg)
{
    weft_task_t *ts[2 * PAIRS];
    int l = weft_tcp_listen("127.0.0.1", 0, 64);
    CHECK(l >= 0);
    uint16_t port = (uint16_t)weft_local_port(l);
    for (int i = 0; i < PAIRS; i++) {
        int c = weft_tcp_connect("127.0.0.1", port);
        int s = weft_accept(l, NULL, NULL);
        CHECK(c >= 0 && s >= 0);
        pairs[i].fd = c;
        ts[2 * i] = weft_spawn(echo_side, (void *)(intptr_t)s);
        ts[2 * i + 1] = weft_spawn(ping_side, &pairs[i]);
    }
    weft_close(l);
    weft_sleep(MS(100));  /* every pair registered somewhere and running */
    weft_task_t *h = weft_spawn(hog, NULL);
    CHECK_EQ(weft_join(h, NULL), 0);
    atomic_store(&stop, 1);
    CHECK_EQ(weft_join_all(ts, 2 * PAIRS, NULL), 0);
    unsigned long long worst = 0;
    for (int i = 0; i < PAIRS; i++) {
        /* Each pair kept going while the hog held its worker. */
        if (during[i] < 3)
            fprintf(stderr, "pair %d: %ld round trips during the hog\n", i, during[i]);
        CHECK(during[i] >= 3);
        unsigned long long m = atomic_load(&pairs[i].max_ns);
        if (m > worst)
            worst = m;
    }
    fprintf(stderr, "hog on worker %d; worst round trip %.1f ms\n", hog_worker,
            (double)worst / 1e6);
    CHECK(worst < MS(1000));  /* far below the hog's 1.5 s */
    return NULL;
}

static void io_cpu_hog(void)
{
    t_run(2, m_hog, NULL);
}

/* ---- one worker kept busy by a yielding task ----------------------------- */

/* The run queue is never empty while `yielder` runs, so only the periodic
 * harvest (every 61 ticks) brings the connection's readiness in. */
static atomic_long yield_rounds;

static void *yielder(void *a)
{
    uint64_t end = weft_now() + MS(500);
    long before = atomic_load(&pairs[0].rounds);
    while (weft_now() < end)
        CHECK_EQ(weft_yield(), 0);
    atomic_store(&yield_rounds, atomic_load(&pairs[0].rounds) - before);
    return NULL;
}

static void *m_yield_busy(void *arg)
{
    int l = weft_tcp_listen("127.0.0.1", 0, 4);
    CHECK(l >= 0);
    int c = weft_tcp_connect("127.0.0.1", (uint16_t)weft_local_port(l));
    int s = weft_accept(l, NULL, NULL);
    CHECK(c >= 0 && s >= 0);
    weft_close(l);
    pairs[0].fd = c;
    weft_task_t *e = weft_spawn(echo_side, (void *)(intptr_t)s);
    weft_task_t *p = weft_spawn(ping_side, &pairs[0]);
    weft_sleep(MS(50));
    weft_task_t *y = weft_spawn(yielder, NULL);
    CHECK_EQ(weft_join(y, NULL), 0);
    atomic_store(&stop, 1);
    CHECK_EQ(weft_join(p, NULL), 0);
    CHECK_EQ(weft_join(e, NULL), 0);
    fprintf(stderr, "%ld round trips beside the yielding task\n", atomic_load(&yield_rounds));
    CHECK(atomic_load(&yield_rounds) >= 10);
    return NULL;
}

static void io_yield_busy(void)
{
    t_run(1, m_yield_busy, NULL);
}

T_MAIN(
    T_CASE(echo_10k),
    T_CASE(io_cpu_hog),
    T_CASE(io_yield_busy),
)
