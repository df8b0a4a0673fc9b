/* Diagnostics: the deadlock report and -EDEADLK, what is not a deadlock,
 * the hog watchdog, task names and the metrics snapshot.
 * weft-test: timeout=60 */
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <unistd.h>

#include "t.h"

static int count_of(const char *s, const char *what)
{
    int n = 0;
    for (const char *p = s; (p = strstr(p, what)) != NULL; p += strlen(what))
        n++;
    return n;
}

/* The line of s that contains `what` (a static copy), or "". */
static const char *line_with(const char *s, const char *what)
{
    static char line[512];
    const char *p = strstr(s, what);
    line[0] = 0;
    if (!p)
        return line;
    while (p > s && p[-1] != '\n')
        p--;
    size_t n = strcspn(p, "\n");
    if (n >= sizeof line)
        n = sizeof line - 1;
    memcpy(line, p, n);
    line[n] = 0;
    return line;
}

static int run(int workers, void *(*fn)(void *), void *arg)
{
    weft_config_t c = { .workers = workers };
    return weft_run(&c, fn, arg, NULL);
}

/* Functions that reports name are not static: where libdw is missing (the
 * aarch64 build) names come from dladdr, which sees exported symbols only
 * (this test is linked with ENABLE_EXPORTS). */

/* ---- a deadlock of two tasks on two channels --------------------------------- */

typedef struct pair {
    weft_chan_t *mine, *theirs;
    int          rc;  /* what the receive returned */
} pair_t;

/* Waits for a message the other side would send after its own receive:
 * neither ever sends. */
void *diag_receiver(void *arg)
{
    pair_t *p = arg;
    long v;
    p->rc = weft_chan_recv(p->mine, &v);
    if (p->rc == 0)
        weft_chan_send(p->theirs, &v);
    return NULL;
}

void *m_chan_deadlock(void *arg)
{
    pair_t *ps = arg;
    weft_task_t *a = weft_spawn_ex(&(weft_spawn_opts_t){ .name = "alice" }, diag_receiver, &ps[0]);
    weft_task_t *b = weft_spawn_ex(&(weft_spawn_opts_t){ .name = "bob" }, diag_receiver, &ps[1]);
    CHECK(a && b);
    /* The cancellation that ends the deadlock reaches main too (or alice
     * ended first: then the join has its result). The handles left are
     * freed with their tasks when the run ends. */
    int rc = weft_join(a, NULL);
    CHECK(rc == -ECANCELED || rc == 0);
    if (rc == -ECANCELED)
        weft_detach(a);
    weft_detach(b);
    return NULL;
}

static void chan_deadlock(void)
{
    for (int workers = 1; workers <= 2; workers++) {
        weft_chan_t *x = weft_chan_new(sizeof(long), 0), *y = weft_chan_new(sizeof(long), 0);
        pair_t ps[2] = { { x, y, 1 }, { y, x, 1 } };
        int saved = t_capture_begin();
        int rc = run(workers, m_chan_deadlock, ps);
        const char *out = t_capture_end(saved);
        CHECK_EQ(rc, -EDEADLK);
        CHECK_EQ(ps[0].rc, -ECANCELED);
        CHECK_EQ(ps[1].rc, -ECANCELED);
        CHECK(strstr(out, "weft: deadlock: 3 tasks are parked and nothing can wake them"));
        /* Each task by name, where it was spawned, and what it waits on. */
        char want[64];
        const char *l = line_with(out, "weft:   task 'alice'");
        snprintf(want, sizeof want, "waits for receive on channel %p", (void *)x);
        CHECK(strstr(l, want) && strstr(l, "m_chan_deadlock"));
        l = line_with(out, "weft:   task 'bob'");
        snprintf(want, sizeof want, "waits for receive on channel %p", (void *)y);
        CHECK(strstr(l, want) && strstr(l, "m_chan_deadlock"));
        CHECK(strstr(line_with(out, "weft:   task 'main'"), "waits for join of task 'alice'"));
        CHECK_EQ(count_of(out, "weft: deadlock:"), 2);  /* the headline and the action */
        weft_chan_free(x);
        weft_chan_free(y);
    }
}

/* ---- a lock-order deadlock, ended by the cancellation ------------------------- */

static weft_mutex_t ma = WEFT_MUTEX_INIT, mb = WEFT_MUTEX_INIT;
static weft_event_t both_hold = WEFT_EVENT_INIT;
static atomic_int holders, cancelled_locks;

void *lock_ab(void *arg)
{
    weft_mutex_t *first = arg ? &ma : &mb, *second = arg ? &mb : &ma;
    CHECK_EQ(weft_mutex_lock(first), 0);
    if (atomic_fetch_add(&holders, 1) == 1)
        weft_event_set(&both_hold);
    CHECK_EQ(weft_event_wait(&both_hold), 0);
    int rc = weft_mutex_lock(second);  /* the other task holds it */
    CHECK_EQ(rc, -ECANCELED);
    atomic_fetch_add(&cancelled_locks, 1);
    weft_mutex_unlock(first);
    return NULL;
}

void *m_mutex_deadlock(void *arg)
{
    weft_task_t *a = weft_spawn(lock_ab, (void *)1);
    weft_task_t *b = weft_spawn(lock_ab, NULL);
    weft_task_t *both[2] = { a, b };
    /* Cancelled with them (or one of them ended first): the run then
     * waits for them to end. */
    int rc = weft_wait_any(both, 2, WEFT_FOREVER);
    CHECK(rc == -ECANCELED || rc == 0 || rc == 1);
    weft_detach(a);
    weft_detach(b);
    return NULL;
}

static void mutex_deadlock(void)
{
    int saved = t_capture_begin();
    int rc = run(2, m_mutex_deadlock, NULL);
    const char *out = t_capture_end(saved);
    CHECK_EQ(rc, -EDEADLK);
    CHECK_EQ(atomic_load(&cancelled_locks), 2);
    /* Unnamed tasks go by their function's symbol. */
    char want[64];
    snprintf(want, sizeof want, "waits for lock of mutex %p", (void *)&ma);
    CHECK(strstr(out, want));
    snprintf(want, sizeof want, "waits for lock of mutex %p", (void *)&mb);
    CHECK(strstr(out, want));
    CHECK_EQ(count_of(out, "weft:   task 'lock_ab' (#"), 2);
    CHECK(strstr(line_with(out, "weft:   task 'main'"), "waits for any of several tasks, first 'lock_ab'"));
}

/* ---- a deadlock the cancellation cannot end: the tasks are abandoned ----------- */

static weft_mutex_t mx = WEFT_MUTEX_INIT;
static weft_cond_t cv = WEFT_COND_INIT;
static int waiting, signalled;

/* Waits on the condition; woken, it must take mx back, which cannot be
 * cancelled (the caller owns mx again when cond_wait returns). */
void *cond_waiter(void *arg)
{
    CHECK_EQ(weft_mutex_lock(&mx), 0);
    waiting = 1;
    while (!signalled)
        weft_cond_wait(&cv, &mx);
    weft_mutex_unlock(&mx);
    return NULL;
}

/* Signals with mx held, then waits for the waiter: the waiter needs mx. */
static void *forgetful(void *arg)
{
    CHECK_EQ(weft_mutex_lock(&mx), 0);
    signalled = 1;
    weft_cond_signal(&cv);
    weft_join(arg, NULL);  /* cancelled: returns, with mx still held */
    return NULL;
}

static void *m_abandon(void *arg)
{
    weft_task_t *w = weft_spawn(cond_waiter, NULL);
    for (int queued = 0; !queued; weft_sleep(MS(1))) {
        /* Once we hold mx and see `waiting`, the waiter is on cv. */
        CHECK_EQ(weft_mutex_lock(&mx), 0);
        queued = waiting;
        weft_mutex_unlock(&mx);
    }
    weft_task_t *f = weft_spawn(forgetful, w);
    weft_join(f, NULL);
    return NULL;
}

static void *m_after(void *arg)
{
    *(int *)arg = 1;
    return NULL;
}

static void abandoned(void)
{
    int saved = t_capture_begin();
    int rc = run(2, m_abandon, NULL);
    const char *out = t_capture_end(saved);
    CHECK_EQ(rc, -EDEADLK);
    CHECK(strstr(line_with(out, "weft:   task 'cond_waiter'"), "waits for lock of mutex"));
    CHECK(strstr(out, "still parked after the cancellation"));
    /* The runtime is usable again. */
    int ran = 0;
    CHECK_EQ(run(2, m_after, &ran), 0);
    CHECK_EQ(ran, 1);
}

/* ---- not deadlocks ------------------------------------------------------------- */

static void *sleeper_sends(void *arg)
{
    weft_sleep(MS(100));
    long v = 7;
    CHECK_EQ(weft_chan_send(arg, &v), 0);
    return NULL;
}

static void *blocking_sleep(void *arg)
{
    usleep(100 * 1000);
    return arg;
}

static void *blocker_sends(void *arg)
{
    CHECK_EQ(weft_blocking(blocking_sleep, NULL, NULL), 0);
    long v = 8;
    CHECK_EQ(weft_chan_send(arg, &v), 0);
    return NULL;
}

static void *thread_writes(void *arg)
{
    usleep(100 * 1000);
    CHECK_EQ(write(*(int *)arg, "x", 1), 1);
    return NULL;
}

static void *m_not_deadlocks(void *arg)
{
    weft_chan_t *ch = weft_chan_new(sizeof(long), 0);
    long v;
    /* A pending timer. */
    weft_task_t *t = weft_spawn(sleeper_sends, ch);
    CHECK_EQ(weft_chan_recv(ch, &v), 0);
    CHECK_EQ(v, 7);
    CHECK_EQ(weft_join(t, NULL), 0);
    /* A blocking-pool call in flight. */
    t = weft_spawn(blocker_sends, ch);
    CHECK_EQ(weft_chan_recv(ch, &v), 0);
    CHECK_EQ(v, 8);
    CHECK_EQ(weft_join(t, NULL), 0);
    /* A parked reader on an open socket, written to by a thread that was
     * never declared: the socket is what can wake it. */
    int sv[2];
    CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, thread_writes, &sv[1]), 0);
    char b;
    CHECK_EQ(weft_read(sv[0], &b, 1), 1);
    pthread_join(th, NULL);
    weft_close(sv[0]);
    weft_close(sv[1]);
    weft_chan_free(ch);
    return NULL;
}

static void not_deadlocks(void)
{
    for (int workers = 1; workers <= 2; workers++) {
        int saved = t_capture_begin();
        int rc = run(workers, m_not_deadlocks, NULL);
        const char *out = t_capture_end(saved);
        CHECK_EQ(rc, 0);
        CHECK(strstr(out, "deadlock") == NULL);
    }
}

/* ---- a declared outside waker --------------------------------------------------- */

static void *thread_sends(void *arg)
{
    usleep(100 * 1000);
    long v = 9;
    CHECK_EQ(weft_chan_send(arg, &v), 0);
    return NULL;
}

static void *m_waker(void *arg)
{
    weft_chan_t *ch = weft_chan_new(sizeof(long), 0);
    pthread_t th;
    CHECK_EQ(weft_waker_add(1), 0);
    CHECK_EQ(pthread_create(&th, NULL, thread_sends, ch), 0);
    long v;
    CHECK_EQ(weft_chan_recv(ch, &v), 0);
    CHECK_EQ(v, 9);
    pthread_join(th, NULL);
    CHECK_EQ(weft_waker_add(-1), 0);
    weft_chan_free(ch);
    return NULL;
}

static void waker(void)
{
    CHECK_EQ(weft_waker_add(-1), -EINVAL);  /* never below zero */
    CHECK_EQ(weft_waker_add(0), 0);
    int saved = t_capture_begin();
    int rc = run(2, m_waker, NULL);
    const char *out = t_capture_end(saved);
    CHECK_EQ(rc, 0);
    CHECK(strstr(out, "deadlock") == NULL);
}

/* ---- the hog watchdog ------------------------------------------------------------- */

static void *spin_300ms(void *arg)
{
    uint64_t end = weft_now() + MS(300);
    volatile unsigned long x = 0;
    while (weft_now() < end)
        x++;
    return NULL;
}

static void *yield_300ms(void *arg)
{
    uint64_t end = weft_now() + MS(300);
    while (weft_now() < end)
        weft_yield();
    return NULL;
}

void *m_hog(void *arg)
{
    weft_task_t *t = weft_spawn_ex(&(weft_spawn_opts_t){ .name = "hog" },
                                   arg ? yield_300ms : spin_300ms, NULL);
    CHECK_EQ(weft_join(t, NULL), 0);
    return NULL;
}

static void watchdog(void)
{
    setenv("WEFT_WATCHDOG_MS", "50", 1);
    int saved = t_capture_begin();
    CHECK_EQ(run(2, m_hog, NULL), 0);
    const char *out = t_capture_end(saved);
    CHECK_EQ(count_of(out, "weft: watchdog:"), 1);  /* once per episode */
    const char *l = line_with(out, "weft: watchdog: task 'hog' (#2, spawned ");
    CHECK(strstr(l, "m_hog") && strstr(l, "has held worker"));
    CHECK(strstr(l, "without a suspension point (WEFT_WATCHDOG_MS=50)"));

    /* A task that yields is not a hog, however long it runs. */
    saved = t_capture_begin();
    CHECK_EQ(run(2, m_hog, (void *)1), 0);
    out = t_capture_end(saved);
    CHECK(strstr(out, "watchdog") == NULL);

    /* Off. */
    setenv("WEFT_WATCHDOG_MS", "0", 1);
    saved = t_capture_begin();
    CHECK_EQ(run(2, m_hog, NULL), 0);
    out = t_capture_end(saved);
    CHECK(strstr(out, "watchdog") == NULL);

    setenv("WEFT_WATCHDOG_MS", "soon", 1);
    saved = t_capture_begin();
    CHECK_EQ(run(2, m_hog, NULL), -EINVAL);
    out = t_capture_end(saved);
    CHECK(strstr(out, "WEFT_WATCHDOG_MS"));
}

/* ---- names ------------------------------------------------------------------------- */

/* Copies its name out: the task's own copy goes with it. */
void *diag_named_after_me(void *arg)
{
    snprintf(arg, 32, "%s", weft_task_name(weft_self()));
    return arg;
}

void *m_names(void *arg)
{
    char name[32];
    weft_task_t *t = weft_spawn(diag_named_after_me, name);
    void *r;
    CHECK_EQ(weft_join(t, &r), 0);
    CHECK(strcmp(r, "diag_named_after_me") == 0);
    t = weft_spawn_ex(&(weft_spawn_opts_t){ .name = "given" }, diag_named_after_me, name);
    CHECK_EQ(weft_join(t, &r), 0);
    CHECK(strcmp(r, "given") == 0);
    CHECK(strcmp(weft_task_name(weft_self()), "main") == 0);
    return NULL;
}

static void names(void)
{
    CHECK_EQ(run(2, m_names, NULL), 0);
}

/* ---- metrics ------------------------------------------------------------------------ */

static void *leaf(void *arg)
{
    for (int i = 0; i < 10; i++)
        weft_yield();
    return NULL;
}

static void *m_stats(void *arg)
{
    enum { N = 2000 };
    static weft_task_t *ts[N];
    for (int i = 0; i < N; i++)
        CHECK((ts[i] = weft_spawn(leaf, NULL)) != NULL);
    weft_stats_t g;
    weft_worker_stats_t w[4];
    CHECK_EQ(weft_stats(NULL, NULL, 0), -EINVAL);
    CHECK_EQ(weft_stats(&g, NULL, 1), -EINVAL);
    CHECK_EQ(weft_stats(&g, w, 4), 2);
    CHECK_EQ(g.workers, 2);
    CHECK(g.live_tasks >= 1 && g.live_tasks <= N + 1);
    CHECK(w[0].running || w[1].running);  /* we run */
    CHECK_EQ(weft_join_all(ts, N, NULL), 0);
    uint64_t run = 0, spawned = 0;
    CHECK_EQ(weft_stats(&g, w, 2), 2);
    for (int i = 0; i < 2; i++) {
        run += w[i].tasks_run;
        spawned += w[i].spawned;
    }
    CHECK_EQ(spawned, N);
    CHECK(run >= spawned * 11);  /* each leaf ran 11 times */
    return NULL;
}

static void stats(void)
{
    CHECK_EQ(weft_stats(&(weft_stats_t){ 0 }, NULL, 0), -ESRCH);
    setenv("WEFT_STATS", "1", 1);
    int saved = t_capture_begin();
    CHECK_EQ(run(2, m_stats, NULL), 0);
    const char *out = t_capture_end(saved);
    /* The table at exit: a header, one row per worker, the pool line. */
    CHECK(strstr(out, "weft: stats: 2 workers"));
    unsigned long long run_[2], sp[2], in[2], outs[2];
    int rows = 0;
    for (const char *l = strstr(out, "\nweft: "); l; l = strstr(l + 1, "\nweft: ")) {
        int id;
        if (sscanf(l, "\nweft: %d %llu %llu %llu %llu", &id, &run_[rows], &sp[rows], &in[rows],
                   &outs[rows]) == 5 && rows < 2)
            rows++;
    }
    CHECK_EQ(rows, 2);
    CHECK_EQ(in[0] + in[1], outs[0] + outs[1]);
    CHECK(run_[0] + run_[1] >= sp[0] + sp[1]);
    CHECK(strstr(out, "weft: blocking pool:"));
}

T_MAIN(
    T_CASE(chan_deadlock),
    T_CASE(mutex_deadlock),
    T_CASE(abandoned),
    T_CASE(not_deadlocks),
    T_CASE(waker),
    T_CASE(watchdog),
    T_CASE(names),
    T_CASE(stats)
)
