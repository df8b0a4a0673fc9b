/* Fault injection: signals interrupting system calls. A handler installed
 * without SA_RESTART, and a thread that sends it to every other thread of
 * the process (workers, blocking-pool threads, plain threads) every few
 * hundred microseconds, so that blocking and non-blocking syscalls alike
 * return EINTR, while tasks read and write sockets and pipes, connect and
 * accept, sleep, call the blocking pool, read and write files, run
 * subprocesses and process-pool calls, and use channels, select, mutexes
 * and condition variables; a plain thread does weft I/O, sleeps and
 * channel receives too. Everything must complete with its normal result:
 * no -EINTR surfaces, no byte is lost. */
/* weft-test: timeout=180 labels=io;fault twin=nopidfd:WEFT_TEST_NO_PIDFD=1 */
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "t.h"

static atomic_long delivered;
static atomic_int stop_signals;

static void on_signal(int s)
{
    (void)s;
    atomic_fetch_add_explicit(&delivered, 1, memory_order_relaxed);
}

/* Send SIGUSR1 to every other thread of the process, over and over. */
static void *signaller(void *arg)
{
    (void)arg;
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &s, NULL);
    pid_t pid = getpid(), me = (pid_t)syscall(SYS_gettid);
    while (!atomic_load(&stop_signals)) {
        DIR *d = opendir("/proc/self/task");
        if (!d)
            break;
        struct dirent *e;
        while ((e = readdir(d))) {
            pid_t tid = (pid_t)atoi(e->d_name);
            if (tid > 0 && tid != me)
                syscall(SYS_tgkill, pid, tid, SIGUSR1);
        }
        closedir(d);
        struct timespec ts = { 0, 300 * 1000 };
        nanosleep(&ts, NULL);
    }
    return NULL;
}

static unsigned char pattern(size_t i)
{
    return (unsigned char)(i * 2654435761u >> 13);
}

/* ---- a socket stream and a pipe ---------------------------------------------- */

typedef struct pair {
    int    fd;
    size_t n;
} pair_t;

static void *stream_writer(void *arg)
{
    pair_t *p = arg;
    unsigned char buf[7919];
    size_t done = 0;
    while (done < p->n) {
        size_t k = p->n - done < sizeof buf ? p->n - done : sizeof buf;
        k = 1 + (done * 31) % k;  /* uneven pieces */
        for (size_t i = 0; i < k; i++)
            buf[i] = pattern(done + i);
        ssize_t w = weft_write(p->fd, buf, k);
        CHECK(w > 0);
        done += (size_t)w;
    }
    return NULL;
}

static void *stream_reader(void *arg)
{
    pair_t *p = arg;
    unsigned char buf[5003];
    size_t done = 0;
    while (done < p->n) {
        ssize_t r = weft_read(p->fd, buf, sizeof buf);
        CHECK(r > 0);
        for (ssize_t i = 0; i < r; i++)
            CHECK_EQ(buf[i], pattern(done + (size_t)i));
        done += (size_t)r;
    }
    return NULL;
}

static void *sockets(void *arg)
{
    int sv[2];
    CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
    pair_t w = { sv[0], (size_t)t_scale(8 << 20) }, r = { sv[1], w.n };
    weft_task_t *a = weft_spawn(stream_writer, &w), *b = weft_spawn(stream_reader, &r);
    CHECK_EQ(weft_join(a, NULL), 0);
    CHECK_EQ(weft_join(b, NULL), 0);
    weft_close(sv[0]);
    weft_close(sv[1]);
    return NULL;
}

/* A pipe, with readv and writev. */
static void *pipes(void *arg)
{
    int p[2];
    CHECK_EQ(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
    size_t n = (size_t)t_scale(4 << 20);
    pair_t r = { p[0], n };
    weft_task_t *b = weft_spawn(stream_reader, &r);
    unsigned char one[1000], two[3000];
    size_t done = 0;
    while (done < n) {
        for (size_t i = 0; i < sizeof one; i++)
            one[i] = pattern(done + i);
        for (size_t i = 0; i < sizeof two; i++)
            two[i] = pattern(done + sizeof one + i);
        size_t want = n - done < sizeof one + sizeof two ? n - done : sizeof one + sizeof two;
        struct iovec iov[2] = { { one, want < sizeof one ? want : sizeof one },
                                { two, want > sizeof one ? want - sizeof one : 0 } };
        ssize_t w = weft_writev(p[1], iov, 2);
        CHECK(w > 0);
        done += (size_t)w;
    }
    CHECK_EQ(weft_join(b, NULL), 0);
    weft_close(p[0]);
    weft_close(p[1]);
    return NULL;
}

/* ---- TCP: connect, accept, echo ------------------------------------------------ */

static void *echo_conn(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char buf[4096];
    ssize_t n;
    while ((n = weft_read(fd, buf, sizeof buf)) > 0)
        CHECK_EQ(weft_write_all(fd, buf, (size_t)n), n);
    CHECK_EQ(n, 0);
    weft_close(fd);
    return NULL;
}

static void *acceptor(void *arg)
{
    int l = (int)(intptr_t)arg;
    for (;;) {
        int fd = weft_accept(l, NULL, NULL);
        if (fd == -ECANCELED)
            return NULL;
        CHECK(fd >= 0);
        CHECK_EQ(weft_go(echo_conn, (void *)(intptr_t)fd), 0);
    }
}

static void *tcp_client(void *arg)
{
    int port = (int)(intptr_t)arg;
    int fd = weft_tcp_connect("127.0.0.1", (uint16_t)port);
    CHECK(fd >= 0);
    char out[2000], in[2000];
    for (int round = 0; round < 50; round++) {
        size_t n = 1 + (size_t)(round * 37) % sizeof out;
        for (size_t i = 0; i < n; i++)
            out[i] = (char)pattern(round + i);
        CHECK_EQ(weft_write_all(fd, out, n), (ssize_t)n);
        size_t got = 0;
        while (got < n) {
            ssize_t r = weft_read(fd, in + got, n - got);
            CHECK(r > 0);
            got += (size_t)r;
        }
        CHECK(memcmp(in, out, n) == 0);
    }
    weft_close(fd);
    return NULL;
}

static void *tcp(void *arg)
{
    int l = weft_tcp_listen("127.0.0.1", 0, 64);
    CHECK(l >= 0);
    int port = weft_local_port(l);
    weft_task_t *acc = weft_spawn(acceptor, (void *)(intptr_t)l);
    weft_task_t *c[20];
    for (int i = 0; i < 20; i++)
        CHECK((c[i] = weft_spawn(tcp_client, (void *)(intptr_t)port)) != NULL);
    for (int i = 0; i < 20; i++)
        CHECK_EQ(weft_join(c[i], NULL), 0);
    weft_cancel(acc);
    CHECK_EQ(weft_join(acc, NULL), 0);
    weft_close(l);
    return NULL;
}

/* ---- sleeps, timeouts, the blocking pool ---------------------------------------- */

static void *sleeps(void *arg)
{
    for (int i = 0; i < 200; i++) {
        uint64_t t0 = weft_now();
        CHECK_EQ(weft_sleep(MS(1)), 0);
        CHECK(weft_now() - t0 >= MS(1));
    }
    /* A deadline still ends a wait with -ETIMEDOUT, never -EINTR. */
    weft_chan_t *ch = weft_chan_new(sizeof(int), 0);
    for (int i = 0; i < 50; i++) {
        int v;
        weft_deadline_push(MS(2));
        CHECK_EQ(weft_chan_recv(ch, &v), -ETIMEDOUT);
        weft_deadline_pop();
        weft_select_case_t sc = { .chan = ch, .op = WEFT_RECV, .elem = &v };
        CHECK_EQ(weft_select(&sc, 1, MS(1)), -ETIMEDOUT);
    }
    weft_chan_free(ch);
    return NULL;
}

/* On a pool thread, which gets the signals too: the function retries its
 * own interrupted sleep, as any code on the pool must. */
static void *pool_fn(void *arg)
{
    struct timespec ts = { 0, 200 * 1000 };
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
    return (void *)((intptr_t)arg * 2);
}

static void *blocking(void *arg)
{
    for (intptr_t i = 0; i < 300; i++) {
        void *r = NULL;
        CHECK_EQ(weft_blocking(pool_fn, (void *)i, &r), 0);
        CHECK_EQ((intptr_t)r, 2 * i);
    }
    return NULL;
}

/* ---- files --------------------------------------------------------------------- */

static void *files(void *arg)
{
    char path[] = "/tmp/weft-eintr-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    size_t n = 256 * 1024;
    unsigned char *buf = malloc(n), *back = malloc(n);
    CHECK(buf && back);
    for (int round = 0; round < 20; round++) {
        for (size_t i = 0; i < n; i++)
            buf[i] = pattern(i + (size_t)round);
        CHECK_EQ(weft_pwrite(fd, buf, n, (off_t)round * 4096), (ssize_t)n);
        CHECK_EQ(weft_pread(fd, back, n, (off_t)round * 4096), (ssize_t)n);
        CHECK(memcmp(buf, back, n) == 0);
        CHECK_EQ(weft_file_write(path, buf, n), 0);
        void *data = NULL;
        size_t len = 0;
        CHECK_EQ(weft_file_read(path, &data, &len), 0);
        CHECK_EQ(len, n);
        CHECK(memcmp(data, buf, n) == 0);
        free(data);
    }
    free(buf);
    free(back);
    close(fd);
    unlink(path);
    return NULL;
}

/* Regular files through the socket path too: sendfile to a socket. */
static void *sendfile_task(void *arg)
{
    char path[] = "/tmp/weft-eintr-sf-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    unlink(path);
    size_t n = (size_t)t_scale(4 << 20);
    unsigned char *buf = malloc(n);
    for (size_t i = 0; i < n; i++)
        buf[i] = pattern(i);
    CHECK_EQ(weft_pwrite(fd, buf, n, 0), (ssize_t)n);
    free(buf);
    int sv[2];
    CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
    pair_t r = { sv[1], n };
    weft_task_t *b = weft_spawn(stream_reader, &r);
    off_t off = 0;
    CHECK_EQ(weft_sendfile(sv[0], fd, &off, n), (ssize_t)n);
    CHECK_EQ(off, (off_t)n);
    CHECK_EQ(weft_join(b, NULL), 0);
    weft_close(sv[0]);
    weft_close(sv[1]);
    close(fd);
    return NULL;
}

/* ---- subprocesses and the process pool ----------------------------------------- */

static void *feed_cat(void *arg)
{
    weft_process_t *p = arg;
    pair_t w = { weft_process_fd(p, 0), 512 * 1024 };
    stream_writer(&w);
    CHECK_EQ(weft_process_close_fd(p, 0), 0);
    return NULL;
}

static void *processes(void *arg)
{
    for (int round = 0; round < 4; round++) {
        const char *cat[] = { "cat", NULL };
        weft_process_opts_t o = { .argv = cat, .stdin_mode = WEFT_STDIO_PIPE,
                                  .stdout_mode = WEFT_STDIO_PIPE };
        weft_process_t *p = NULL;
        CHECK_EQ(weft_process_spawn(&o, &p), 0);
        weft_task_t *w = weft_spawn(feed_cat, p);
        pair_t r = { weft_process_fd(p, 1), 512 * 1024 };
        stream_reader(&r);
        char extra;
        CHECK_EQ(weft_read(r.fd, &extra, 1), 0);
        CHECK_EQ(weft_join(w, NULL), 0);
        int st = -1;
        CHECK_EQ(weft_process_wait(p, &st), 0);
        CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
        weft_process_free(p);

        /* A child that takes a while to exit: the wait is long enough to
         * be interrupted many times. */
        const char *sh[] = { "sh", "-c", "sleep 0.1; exit 3", NULL };
        weft_process_opts_t o2 = { .argv = sh };
        CHECK_EQ(weft_process_spawn(&o2, &p), 0);
        CHECK_EQ(weft_process_wait(p, &st), 0);
        CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 3);
        weft_process_free(p);
    }
    return NULL;
}

static int twice(const void *in, size_t n, void **out, size_t *out_len)
{
    unsigned char *o = malloc(2 * n);
    if (!o)
        return -ENOMEM;
    memcpy(o, in, n);
    memcpy(o + n, in, n);
    *out = o;
    *out_len = 2 * n;
    return 5;
}

static void *procpool(void *arg)
{
    unsigned char in[100000];
    for (size_t i = 0; i < sizeof in; i++)
        in[i] = pattern(i);
    for (int i = 0; i < 20; i++) {
        void *out = NULL;
        size_t len = 0;
        CHECK_EQ(weft_process_call(twice, in, sizeof in, &out, &len), 5);
        CHECK_EQ(len, 2 * sizeof in);
        CHECK(memcmp(out, in, sizeof in) == 0 && memcmp((char *)out + sizeof in, in, sizeof in) == 0);
        free(out);
    }
    return NULL;
}

/* ---- channels, mutex and condition variable ------------------------------------- */

static void *ping(void *arg)
{
    weft_chan_t **ch = arg;
    for (int i = 0; i < 5000; i++) {
        int v = i, w = -1;
        CHECK_EQ(weft_chan_send(ch[0], &v), 0);
        CHECK_EQ(weft_chan_recv(ch[1], &w), 0);
        CHECK_EQ(w, i + 1);
    }
    return NULL;
}

static void *pong(void *arg)
{
    weft_chan_t **ch = arg;
    for (int i = 0; i < 5000; i++) {
        int v = -1;
        CHECK_EQ(weft_chan_recv(ch[0], &v), 0);
        v++;
        CHECK_EQ(weft_chan_send(ch[1], &v), 0);
    }
    return NULL;
}

static weft_mutex_t mu = WEFT_MUTEX_INIT;
static weft_cond_t cv = WEFT_COND_INIT;
static int queue_len, consumed;  /* under mu */

static void *producer(void *arg)
{
    for (int i = 0; i < 2000; i++) {
        CHECK_EQ(weft_mutex_lock(&mu), 0);
        queue_len++;
        weft_cond_signal(&cv);
        weft_mutex_unlock(&mu);
        if (i % 16 == 0)
            CHECK_EQ(weft_yield(), 0);
    }
    return NULL;
}

static void *consumer(void *arg)
{
    for (int i = 0; i < 2000; i++) {
        CHECK_EQ(weft_mutex_lock(&mu), 0);
        while (queue_len == 0)
            CHECK_EQ(weft_cond_wait(&cv, &mu), 0);
        queue_len--;
        consumed++;
        weft_mutex_unlock(&mu);
    }
    return NULL;
}

static void *sync_ops(void *arg)
{
    weft_chan_t *ch[2] = { weft_chan_new(sizeof(int), 0), weft_chan_new(sizeof(int), 1) };
    weft_task_t *t[4] = { weft_spawn(ping, ch), weft_spawn(pong, ch), weft_spawn(producer, NULL),
                          weft_spawn(consumer, NULL) };
    for (int i = 0; i < 4; i++)
        CHECK_EQ(weft_join(t[i], NULL), 0);
    CHECK_EQ(weft_mutex_lock(&mu), 0);
    CHECK_EQ(consumed, 2000);
    consumed = 0;
    weft_mutex_unlock(&mu);
    weft_chan_free(ch[0]);
    weft_chan_free(ch[1]);
    return NULL;
}

/* ---- a plain thread using weft's calls --------------------------------------------- */

typedef struct plain {
    int          rfd;
    size_t       n;
    weft_chan_t *ch;
} plain_t;

static void *plain_thread(void *arg)
{
    plain_t *p = arg;
    pair_t r = { p->rfd, p->n };
    stream_reader(&r);  /* weft_read: poll(2) on this thread */
    for (int i = 0; i < 50; i++) {
        uint64_t t0 = weft_now();
        CHECK_EQ(weft_sleep(MS(1)), 0);  /* nanosleep, resumed after signals */
        CHECK(weft_now() - t0 >= MS(1));
    }
    for (int i = 0; i < 500; i++) {
        int v = -1;
        CHECK_EQ(weft_chan_recv(p->ch, &v), 0);  /* a thread parker */
        CHECK_EQ(v, i);
    }
    return NULL;
}

static void *join_thread(void *arg)
{
    CHECK_EQ(pthread_join(*(pthread_t *)arg, NULL), 0);
    return NULL;
}

static void *plain(void *arg)
{
    int fds[2];
    CHECK_EQ(pipe2(fds, O_NONBLOCK | O_CLOEXEC), 0);
    /* Buffered for all 500: this task never waits for the plain thread
     * (a wait nothing in weft could see an end to), while the thread
     * waits in its receive until the sleep below is over. */
    plain_t p = { fds[0], (size_t)t_scale(2 << 20), weft_chan_new(sizeof(int), 500) };
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, plain_thread, &p), 0);
    pair_t w = { fds[1], p.n };
    stream_writer(&w);
    CHECK_EQ(weft_sleep(MS(100)), 0);
    for (int i = 0; i < 500; i++)
        CHECK_EQ(weft_chan_send(p.ch, &i), 0);
    /* Joined from a task through the blocking pool: pthread_join blocks. */
    CHECK_EQ(weft_blocking(join_thread, &th, NULL), 0);
    weft_chan_free(p.ch);
    weft_close(fds[0]);
    weft_close(fds[1]);
    return NULL;
}

/* ---- the case ------------------------------------------------------------------------ */

static void *m_eintr(void *arg)
{
    void *(*const parts[])(void *) = { sockets, pipes, tcp, sleeps, blocking, files,
                                       sendfile_task, processes, procpool, sync_ops, plain };
    enum { N = sizeof parts / sizeof parts[0] };
    for (int round = 0; round < 3; round++) {
        weft_task_t *t[N];
        for (int i = 0; i < N; i++)
            CHECK((t[i] = weft_spawn(parts[i], NULL)) != NULL);
        for (int i = 0; i < N; i++)
            CHECK_EQ(weft_join(t[i], NULL), 0);
    }
    return NULL;
}

/* Every call completes with its normal result while every thread is
 * interrupted by a signal thousands of times a second. */
static void fault_eintr_everywhere(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = 0;  /* no SA_RESTART: interrupted syscalls return EINTR */
    sigemptyset(&sa.sa_mask);
    CHECK_EQ(sigaction(SIGUSR1, &sa, NULL), 0);
    pthread_t sig;
    CHECK_EQ(pthread_create(&sig, NULL, signaller, NULL), 0);
    weft_config_t cfg = { .workers = 2, .processes = 1 };
    void *res = NULL;
    int rc = weft_run(&cfg, m_eintr, NULL, &res);
    atomic_store(&stop_signals, 1);
    CHECK_EQ(pthread_join(sig, NULL), 0);
    CHECK_EQ(rc, 0);
    long n = atomic_load(&delivered);
    fprintf(stderr, "%ld signals delivered\n", n);
    CHECK(n >= 100);  /* the calls above were interrupted, not left alone */
}

T_MAIN(
    T_CASE(fault_eintr_everywhere),
)
