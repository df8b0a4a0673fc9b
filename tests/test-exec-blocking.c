/* The blocking pool (weft_blocking): overlap, the cap, interruption,
 * keep-alive, plain threads and shutdown. Time bounds are loose (a shared
 * 2-core machine, sanitizers): they tell overlapping calls from serial ones,
 * never measure speed. */
#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "t.h"

static atomic_int running, max_running, finished;

static void *nap(void *arg)
{
    int r = atomic_fetch_add(&running, 1) + 1;
    int m = atomic_load(&max_running);
    while (r > m && !atomic_compare_exchange_weak(&max_running, &m, r)) {
    }
    usleep((useconds_t)(intptr_t)arg * 1000);
    atomic_fetch_sub(&running, 1);
    atomic_fetch_add(&finished, 1);
    return (void *)((intptr_t)arg + 1);
}

static void *call_nap(void *arg)
{
    void *r = NULL;
    int rc = weft_blocking(nap, arg, &r);
    if (rc < 0)
        return (void *)(intptr_t)rc;
    CHECK_EQ((intptr_t)r, (intptr_t)arg + 1);
    return NULL;
}

/* Pool threads alive now: they are named "weft-blocking" (a count of all
 * threads would include the sanitizers' own). */
static int threads_now(void)
{
    DIR *d = opendir("/proc/self/task");
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char path[300], comm[32] = "";
        snprintf(path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
        FILE *f = fopen(path, "r");
        if (f) {
            n += fgets(comm, sizeof comm, f) && strcmp(comm, "weft-blocking\n") == 0;
            fclose(f);
        }
    }
    closedir(d);
    return n;
}

/* ---- eight 100 ms calls on one worker overlap; a ticker keeps going ---- */

static atomic_int stop_ticking;

static void *ticker(void *arg)
{
    long ticks = 0;
    while (!atomic_load(&stop_ticking)) {
        CHECK_EQ(weft_sleep(MS(5)), 0);
        ticks++;
    }
    return (void *)ticks;
}

static void *m_overlap(void *arg)
{
    enum { N = 8 };
    weft_task_t *tick = weft_spawn(ticker, NULL);
    weft_task_t *t[N];
    uint64_t t0 = weft_now();
    for (int i = 0; i < N; i++)
        t[i] = weft_spawn(call_nap, (void *)100);
    void *res[N];
    CHECK_EQ(weft_join_all(t, N, res), 0);
    uint64_t took = weft_now() - t0;
    for (int i = 0; i < N; i++)
        CHECK(res[i] == NULL);
    atomic_store(&stop_ticking, 1);
    void *ticks;
    CHECK_EQ(weft_join(tick, &ticks), 0);
    CHECK(took < MS(500));          /* serial would be 800 ms */
    CHECK((long)ticks >= 5);        /* the worker kept running tasks */
    CHECK_EQ(atomic_load(&max_running), N);
    return NULL;
}

static void overlap(void)
{
    t_run(1, m_overlap, NULL);
}

/* ---- the cap: a call beyond it waits ----------------------------------- */

static void *m_cap(void *arg)
{
    enum { N = 5 };
    weft_task_t *t[N];
    uint64_t t0 = weft_now();
    for (int i = 0; i < N; i++)
        t[i] = weft_spawn(call_nap, (void *)50);
    CHECK_EQ(weft_join_all(t, N, NULL), 0);
    CHECK_EQ(atomic_load(&max_running), 2);
    CHECK(weft_now() - t0 >= MS(150));  /* three waves of at most two */
    CHECK(threads_now() <= 2);
    return NULL;
}

static void cap(void)
{
    weft_config_t c = { .workers = 2, .blocking_threads = 2 };
    CHECK_EQ(weft_run(&c, m_cap, NULL, NULL), 0);
}

/* ---- a cancelled or timed-out caller returns at once -------------------- */

static void *call_with_deadline(void *arg)
{
    weft_deadline_push(MS(20));
    int rc = weft_blocking(nap, arg, NULL);
    weft_deadline_pop();
    return (void *)(intptr_t)rc;
}

static void *m_interrupted(void *arg)
{
    uint64_t t0 = weft_now();
    weft_task_t *t = weft_spawn(call_nap, (void *)300);
    weft_sleep(MS(20));
    weft_cancel(t);
    void *r;
    CHECK_EQ(weft_join(t, &r), 0);
    CHECK_EQ((intptr_t)r, -ECANCELED);
    CHECK(weft_now() - t0 < MS(250));       /* did not wait for the call */
    t = weft_spawn(call_with_deadline, (void *)300);
    CHECK_EQ(weft_join(t, &r), 0);
    CHECK_EQ((intptr_t)r, -ETIMEDOUT);
    CHECK(weft_now() - t0 < MS(280));
    CHECK_EQ(atomic_load(&finished), 0);
    /* Both calls run to completion on their threads all the same. */
    while (atomic_load(&finished) < 2)
        weft_sleep(MS(10));
    /* A cancelled task does not even start a call. */
    weft_cancel(weft_self());
    CHECK_EQ(weft_blocking(nap, (void *)1, NULL), -ECANCELED);
    return NULL;
}

static void interrupted(void)
{
    t_run(2, m_interrupted, NULL);
    CHECK_EQ(atomic_load(&finished), 2);
}

/* A call cancelled while queued behind the cap never runs. */
static void *m_cancel_queued(void *arg)
{
    weft_task_t *a = weft_spawn(call_nap, (void *)100);
    weft_sleep(MS(10));
    weft_task_t *b = weft_spawn(call_nap, (void *)1);
    weft_sleep(MS(10));
    weft_cancel(b);
    void *r;
    CHECK_EQ(weft_join(b, &r), 0);
    CHECK_EQ((intptr_t)r, -ECANCELED);
    CHECK_EQ(weft_join(a, &r), 0);
    CHECK(r == NULL);
    weft_sleep(MS(20));  /* the thread has dropped b's job by now */
    CHECK_EQ(atomic_load(&finished), 1);
    return NULL;
}

static void cancel_queued(void)
{
    weft_config_t c = { .workers = 2, .blocking_threads = 1 };
    CHECK_EQ(weft_run(&c, m_cancel_queued, NULL, NULL), 0);
}

/* ---- keep-alive: idle pool threads retire ------------------------------ */

static void *m_keepalive(void *arg)
{
    int before = threads_now();
    CHECK(before >= 0);
    enum { N = 4 };
    weft_task_t *t[N];
    for (int i = 0; i < N; i++)
        t[i] = weft_spawn(call_nap, (void *)30);
    CHECK_EQ(weft_join_all(t, N, NULL), 0);
    CHECK_EQ(threads_now(), before + N);
    for (int i = 0; i < 200 && threads_now() > before; i++)
        weft_sleep(MS(10));
    CHECK_EQ(threads_now(), before);
    return NULL;
}

static void keepalive(void)
{
    setenv("WEFT_BLOCKING_KEEPALIVE_MS", "50", 1);
    t_run(2, m_keepalive, NULL);
}

/* ---- plain threads run the call themselves ------------------------------ */

static void *plain(void *arg)
{
    void *r = NULL;
    CHECK_EQ(weft_blocking(nap, (void *)1, &r), 0);
    CHECK_EQ((intptr_t)r, 2);
    CHECK_EQ(weft_blocking(NULL, NULL, NULL), -EINVAL);
    return NULL;
}

static void plain_thread(void)
{
    pthread_t th;
    int before = threads_now();
    CHECK_EQ(pthread_create(&th, NULL, plain, NULL), 0);
    pthread_join(th, NULL);
    CHECK_EQ(threads_now(), before);  /* no pool was started */
}

/* ---- shutdown waits for running calls, within its grace ---------------- */

static void *detach_call(void *arg)
{
    CHECK_EQ(weft_go(call_nap, arg), 0);
    weft_sleep(MS(20));  /* the call has started */
    return NULL;         /* main returns: shutdown cancels the caller */
}

static void shutdown_waits(void)
{
    t_run(2, detach_call, (void *)150);
    CHECK_EQ(atomic_load(&finished), 1);  /* weft_run waited for it */
    CHECK_EQ(atomic_load(&running), 0);
}

static void *ident(void *arg)
{
    return arg;
}

static void *m_simple(void *arg)
{
    void *r = NULL;
    CHECK_EQ(weft_blocking(ident, (void *)8, &r), 0);
    return r;
}

static void shutdown_grace(void)
{
    setenv("WEFT_BLOCKING_SHUTDOWN_MS", "30", 1);
    uint64_t t0 = weft_now();
    t_run(2, detach_call, (void *)1000);
    CHECK(weft_now() - t0 < MS(800));     /* did not wait the whole second */
    CHECK_EQ(atomic_load(&finished), 0);
    CHECK_EQ(atomic_load(&running), 1);   /* still on its thread */
    /* A second runtime works beside the straggler. */
    CHECK_EQ((intptr_t)t_run(1, m_simple, NULL), 8);
}

static void bad_env(void)
{
    setenv("WEFT_BLOCKING_KEEPALIVE_MS", "0", 1);
    weft_config_t c = { .workers = 1 };
    CHECK_EQ(weft_run(&c, m_keepalive, NULL, NULL), -EINVAL);
    setenv("WEFT_BLOCKING_KEEPALIVE_MS", "10", 1);
    setenv("WEFT_BLOCKING_SHUTDOWN_MS", "soon", 1);
    CHECK_EQ(weft_run(&c, m_keepalive, NULL, NULL), -EINVAL);
}

T_MAIN(
    T_CASE(overlap),
    T_CASE(cap),
    T_CASE(interrupted),
    T_CASE(cancel_queued),
    T_CASE(keepalive),
    T_CASE(plain_thread),
    T_CASE(shutdown_waits),
    T_CASE(shutdown_grace),
    T_CASE(bad_env),
)
