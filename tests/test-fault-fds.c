/* Fault injection: the process out of file descriptors (EMFILE). Every
 * call that needs a new fd fails with -EMFILE at once (it does not wait
 * and does not leak what it had opened), the listener stays usable,
 * connections the kernel queued meanwhile are all accepted once fds are
 * free again, and a child whose pidfd could not be opened is still
 * awaited. */
/* weft-test: timeout=120 labels=io;fault */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "t.h"

#define NOFILE 256

/* A low soft limit, so that "every fd" is a few hundred. */
static void lower_nofile(void)
{
    struct rlimit rl;
    CHECK_EQ(getrlimit(RLIMIT_NOFILE, &rl), 0);
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < NOFILE)
        T_SKIP("RLIMIT_NOFILE hard limit below 256");
    rl.rlim_cur = NOFILE;
    CHECK_EQ(setrlimit(RLIMIT_NOFILE, &rl), 0);
}

/* Open fds, counted without opening one (a full table has none to spare). */
static int count_fds(void)
{
    int n = 0;
    for (int fd = 0; fd < NOFILE; fd++)
        n += fcntl(fd, F_GETFD) != -1;
    return n;
}

static int hogs[NOFILE], nhogs;

/* Take every free fd but `spare`. */
static void fill_fds(int spare)
{
    int src = open("/dev/null", O_RDONLY | O_CLOEXEC);
    CHECK(src >= 0);
    hogs[nhogs++] = src;
    for (;;) {
        int d = fcntl(src, F_DUPFD_CLOEXEC, 0);
        if (d < 0) {
            CHECK_EQ(t_errno(), EMFILE);
            break;
        }
        CHECK(nhogs < NOFILE);
        hogs[nhogs++] = d;
    }
    for (int i = 0; i < spare; i++)
        close(hogs[--nhogs]);
}

static void free_fds(void)
{
    while (nhogs > 0)
        close(hogs[--nhogs]);
}

/* ---- every call that needs an fd ------------------------------------------ */

#define QUEUED 16

static void *accept_one(void *arg)
{
    return (void *)(intptr_t)weft_accept((int)(intptr_t)arg, NULL, NULL);
}

static void *m_calls(void *arg)
{
    const sigset_t *usr2 = arg;
    int base = count_fds();
    int l = weft_tcp_listen("127.0.0.1", 0, 64);
    CHECK(l >= 0);
    int port = weft_local_port(l);
    /* Connections the kernel completes and queues while we are out of
     * fds: each says which it is. */
    int c[QUEUED];
    for (int i = 0; i < QUEUED; i++) {
        c[i] = weft_tcp_connect("127.0.0.1", (uint16_t)port);
        CHECK(c[i] >= 0);
        CHECK_EQ(weft_write_all(c[i], &i, sizeof i), (ssize_t)sizeof i);
    }
    /* An acceptor already parked in weft_accept when the fds run out. */
    int l2 = weft_tcp_listen("127.0.0.1", 0, 4);
    CHECK(l2 >= 0);
    int port2 = weft_local_port(l2);
    weft_task_t *parked = weft_spawn(accept_one, (void *)(intptr_t)l2);
    CHECK(parked != NULL);
    CHECK_EQ(weft_sleep(MS(20)), 0);

    fill_fds(1);
    /* The last fd makes a connection to l2: the parked acceptor wakes, its
     * accept fails, and it reports it rather than waiting on. */
    int c2 = weft_tcp_connect("127.0.0.1", (uint16_t)port2);
    CHECK(c2 >= 0);
    void *r;
    CHECK_EQ(weft_wait_for(parked, MS(10000), &r), 0);
    CHECK_EQ((intptr_t)r, -EMFILE);

    /* Each fails at once: under a deadline, a call that waited would end
     * with -ETIMEDOUT instead. */
    weft_deadline_push(MS(10000));
    CHECK_EQ(weft_accept(l, NULL, NULL), -EMFILE);
    CHECK_EQ(weft_accept(l, NULL, NULL), -EMFILE);  /* and again: nothing lost */
    CHECK_EQ(weft_socket(AF_INET, SOCK_STREAM, 0), -EMFILE);
    CHECK_EQ(weft_tcp_connect("127.0.0.1", (uint16_t)port), -EMFILE);
    CHECK_EQ(weft_tcp_listen("127.0.0.1", 0, 4), -EMFILE);
    void *data = NULL;
    size_t len = 0;
    CHECK_EQ(weft_file_read("/proc/self/status", &data, &len), -EMFILE);
    CHECK(data == NULL);
    CHECK_EQ(weft_signal_wait(usr2), -EMFILE);
    const char *const argv[] = { "true", NULL };
    weft_process_opts_t po = { .argv = argv, .stdout_mode = WEFT_STDIO_PIPE };
    weft_process_t *p = NULL;
    CHECK_EQ(weft_process_spawn(&po, &p), -EMFILE);
    /* A child that needs no fd starts (glibc's posix_spawn opens none;
     * musl's opens a pipe); its pidfd cannot be opened, so it is awaited
     * with waitpid on the blocking pool. */
    po.stdout_mode = WEFT_STDIO_INHERIT;
    int rc = weft_process_spawn(&po, &p);
    int st = -1;
#ifdef __GLIBC__
    CHECK_EQ(rc, 0);
#endif
    CHECK(rc == 0 || rc == -EMFILE);
    if (rc == 0) {
        CHECK_EQ(weft_process_wait(p, &st), 0);
        CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
        weft_process_free(p);
    }
    weft_deadline_pop();

    /* Nothing was left open by the failures: the table is as full as we
     * left it. */
    CHECK_EQ(fcntl(0, F_DUPFD_CLOEXEC, 0), -1);
    CHECK_EQ(t_errno(), EMFILE);

    free_fds();
    /* Every connection the kernel queued meanwhile is there, in order. */
    int seen[QUEUED] = { 0 };
    int s[QUEUED];
    for (int i = 0; i < QUEUED; i++) {
        s[i] = weft_accept(l, NULL, NULL);
        CHECK(s[i] >= 0);
        int k = -1;
        CHECK_EQ(weft_read(s[i], &k, sizeof k), (ssize_t)sizeof k);
        CHECK(k >= 0 && k < QUEUED && !seen[k]);
        seen[k] = 1;
    }
    int s2 = weft_accept(l2, NULL, NULL);
    CHECK(s2 >= 0);
    /* The listener takes new connections as before. */
    int c3 = weft_tcp_connect("127.0.0.1", (uint16_t)port);
    CHECK(c3 >= 0);
    int s3 = weft_accept(l, NULL, NULL);
    CHECK(s3 >= 0);
    CHECK_EQ(weft_write_all(s3, "ok", 2), 2);
    char b[2];
    CHECK_EQ(weft_read(c3, b, 2), 2);
    CHECK(memcmp(b, "ok", 2) == 0);
    /* And the other calls work again. */
    CHECK_EQ(weft_file_read("/proc/self/status", &data, &len), 0);
    CHECK(len > 0);
    free(data);
    po.stdout_mode = WEFT_STDIO_PIPE;
    CHECK_EQ(weft_process_spawn(&po, &p), 0);
    CHECK_EQ(weft_process_wait(p, &st), 0);
    weft_process_free(p);

    for (int i = 0; i < QUEUED; i++) {
        weft_close(c[i]);
        weft_close(s[i]);
    }
    weft_close(c2);
    weft_close(s2);
    weft_close(c3);
    weft_close(s3);
    weft_close(l);
    weft_close(l2);
    CHECK_EQ(count_fds(), base);
    return NULL;
}

/* Out of fds, every call that needs one returns -EMFILE at once, leaks
 * nothing, and loses no queued connection. */
static void fault_emfile_calls(void)
{
    lower_nofile();
    /* weft_signal_wait needs the signal blocked (the workers inherit it). */
    static sigset_t usr2;
    sigemptyset(&usr2);
    sigaddset(&usr2, SIGUSR2);
    CHECK_EQ(pthread_sigmask(SIG_BLOCK, &usr2, NULL), 0);
    t_run(2, m_calls, &usr2);
}

/* ---- weft_run itself -------------------------------------------------------- */

static void *m_hello(void *arg)
{
    return (void *)(intptr_t)7;
}

/* weft_run with no fd to spare for its pollers fails with an error, leaves
 * nothing open, and runs once fds are back. */
static void fault_emfile_run(void)
{
    lower_nofile();
    int base = count_fds();
    fill_fds(0);
    weft_config_t cfg = { .workers = 2 };
    void *res = NULL;
    int rc = weft_run(&cfg, m_hello, NULL, &res);
    fprintf(stderr, "weft_run with no free fd: %s\n", weft_strerror(rc));
    CHECK(rc < 0);
    free_fds();
    CHECK_EQ(count_fds(), base);
    /* Room for one worker's poller only (epoll: three fds, poll: two). */
    fill_fds(3);
    rc = weft_run(&cfg, m_hello, NULL, &res);
    fprintf(stderr, "weft_run with 3 free fds: %s\n", weft_strerror(rc));
    CHECK(rc < 0);
    free_fds();
    CHECK_EQ(count_fds(), base);
    CHECK_EQ(weft_run(&cfg, m_hello, NULL, &res), 0);
    CHECK_EQ((intptr_t)res, 7);
}

T_MAIN(
    T_CASE(fault_emfile_calls),
    T_CASE(fault_emfile_run),
)
