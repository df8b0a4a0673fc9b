/* Tasks, time and deadlines: the Runtime, Tasks and Time sections of the
 * API, one behaviour per case. Time bounds are loose on purpose (sanitizers,
 * a shared 2-core machine): they check behaviour (concurrent sleeps overlap,
 * a cancelled sleep ends early), never speed. */
#include <pthread.h>
#include <stdatomic.h>

#include "t.h"

/* ---- spawn / join ------------------------------------------------------ */

static void *twice(void *a)
{
    return (void *)((intptr_t)a * 2);
}

static void *m_spawn_join(void *arg)
{
    weft_task_t *t = weft_spawn(twice, (void *)21);
    CHECK(t != NULL);
    void *r = NULL;
    CHECK_EQ(weft_join(t, &r), 0);
    CHECK_EQ((intptr_t)r, 42);
    CHECK(weft_self() != NULL);
    CHECK(strcmp(weft_task_name(weft_self()), "main") == 0);
    CHECK_EQ(weft_join(weft_self(), NULL), -EINVAL);
    CHECK_EQ(weft_join(NULL, NULL), -EINVAL);
    weft_spawn_opts_t o = { .name = "named-one", .stack_size = 64 * 1024 };
    t = weft_spawn_ex(&o, twice, (void *)1);
    CHECK(t != NULL);
    CHECK(strcmp(weft_task_name(t), "named-one") == 0);
    CHECK_EQ(weft_join(t, &r), 0);
    CHECK_EQ((intptr_t)r, 2);
    return (void *)7;
}

static void spawn_join(void)
{
    CHECK_EQ((intptr_t)t_run(2, m_spawn_join, NULL), 7);
    /* weft_run is reusable after it returns. */
    CHECK_EQ((intptr_t)t_run(1, m_spawn_join, NULL), 7);
}

static void *m_nested_run(void *arg)
{
    weft_config_t c = { .workers = 1 };
    CHECK_EQ(weft_run(&c, twice, NULL, NULL), -EBUSY);
    return NULL;
}

static void run_errors(void)
{
    CHECK(weft_spawn(twice, NULL) == NULL);   /* no runtime */
    CHECK_EQ(weft_go(twice, NULL), -ESRCH);
    CHECK_EQ(weft_yield(), -EPERM);
    CHECK(weft_self() == NULL);
    CHECK_EQ(weft_run(NULL, NULL, NULL, NULL), -EINVAL);
    t_run(1, m_nested_run, NULL);
    weft_config_t bad = { .workers = -2 };
    CHECK_EQ(weft_run(&bad, twice, NULL, NULL), -EINVAL);
    setenv("WEFT_STACK_SIZE", "12q", 1);
    CHECK_EQ(weft_run(NULL, twice, NULL, NULL), -EINVAL);
    setenv("WEFT_STACK_SIZE", "64K", 1);
    CHECK_EQ(weft_run(&(weft_config_t){ .workers = 1 }, m_spawn_join, NULL, NULL), 0);
    unsetenv("WEFT_STACK_SIZE");
    CHECK(strlen(weft_strerror(-ECANCELED)) > 0);
    CHECK(strlen(weft_strerror(-ENOMEM)) > 0);
    CHECK(strlen(weft_strerror(12345)) > 0);
}

/* A plain thread (not a task) joins a task: it blocks the thread. */
static void *thread_joiner(void *t)
{
    void *r = NULL;
    CHECK_EQ(weft_join(t, &r), 0);
    return r;
}

static void *slow_twice(void *a)
{
    weft_sleep(MS(30));
    return (void *)((intptr_t)a * 2);
}

static void *m_thread_join(void *arg)
{
    weft_task_t *t = weft_spawn(slow_twice, (void *)50);
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, thread_joiner, t), 0);
    /* Keep the main task alive (and yielding) until the thread is done. */
    void *r = NULL;
    while (weft_sleep(MS(5)) == 0) {
        if (pthread_tryjoin_np(th, &r) == 0)
            break;
    }
    CHECK_EQ((intptr_t)r, 100);
    return NULL;
}

static void join_from_thread(void)
{
    t_run(2, m_thread_join, NULL);
}

/* ---- yield ------------------------------------------------------------- */

static char order[64];
static atomic_int order_n;

static void *yielder(void *a)
{
    for (int i = 0; i < 8; i++) {
        order[atomic_fetch_add(&order_n, 1)] = (char)(intptr_t)a;
        CHECK_EQ(weft_yield(), 0);
    }
    return NULL;
}

static void *m_yield_fair(void *arg)
{
    weft_task_t *a = weft_spawn(yielder, (void *)'a');
    weft_task_t *b = weft_spawn(yielder, (void *)'b');
    weft_join(a, NULL);
    weft_join(b, NULL);
    return NULL;
}

static void yield_fairness(void)
{
    t_run(1, m_yield_fair, NULL);
    CHECK_EQ(atomic_load(&order_n), 16);
    order[16] = 0;
    /* On one worker two yielding tasks alternate (whoever starts). */
    for (int i = 1; i < 16; i++)
        if (order[i] == order[i - 1]) {
            fprintf(stderr, "order: %s\n", order);
            CHECK(!"two yielding tasks did not interleave");
        }
}

/* ---- sleep ------------------------------------------------------------- */

static void *sleeper(void *a)
{
    return (void *)(intptr_t)weft_sleep((uint64_t)(uintptr_t)a);
}

static void *m_sleep(void *arg)
{
    uint64_t t0 = weft_now();
    CHECK_EQ(weft_sleep(MS(50)), 0);
    uint64_t dt = weft_now() - t0;
    CHECK(dt >= MS(50));
    CHECK(dt < MS(1000));
    /* The three-sleepers example: concurrently, 3 x 200 ms take ~200 ms. */
    t0 = weft_now();
    weft_task_t *ts[3];
    for (int i = 0; i < 3; i++)
        ts[i] = weft_spawn(sleeper, (void *)(uintptr_t)MS(200));
    void *rs[3];
    CHECK_EQ(weft_join_all(ts, 3, rs), 0);
    dt = weft_now() - t0;
    for (int i = 0; i < 3; i++)
        CHECK_EQ((intptr_t)rs[i], 0);
    CHECK(dt >= MS(200));
    CHECK(dt < MS(550));
    CHECK_EQ(weft_sleep(0), 0);
    return NULL;
}

static void sleep_accuracy(void)
{
    t_run(1, m_sleep, NULL);
    t_run(2, m_sleep, NULL);
    uint64_t t0 = weft_now();
    CHECK_EQ(weft_sleep(MS(10)), 0);   /* outside a task: sleeps the thread */
    CHECK(weft_now() - t0 >= MS(10));
}

/* ---- cancellation ------------------------------------------------------ */

static void *yield_until_cancelled(void *a)
{
    int rc;
    long n = 0;
    while ((rc = weft_yield()) == 0)
        n++;
    CHECK_EQ(rc, -ECANCELED);
    /* Sticky: every later suspension point says so at once. */
    CHECK_EQ(weft_sleep(MS(1)), -ECANCELED);
    CHECK_EQ(weft_yield(), -ECANCELED);
    return (void *)(intptr_t)rc;
}

static void *joiner(void *t)
{
    void *r;
    return (void *)(intptr_t)weft_join(t, &r);
}

static void *m_cancel(void *arg)
{
    /* sleeping */
    uint64_t t0 = weft_now();
    weft_task_t *s = weft_spawn(sleeper, (void *)(uintptr_t)MS(10000));
    CHECK_EQ(weft_sleep(MS(20)), 0);
    CHECK_EQ(weft_cancel(s), 0);
    void *r;
    CHECK_EQ(weft_join(s, &r), 0);
    CHECK_EQ((intptr_t)r, -ECANCELED);
    CHECK(weft_now() - t0 < MS(5000));

    /* yielding */
    weft_task_t *y = weft_spawn(yield_until_cancelled, NULL);
    CHECK_EQ(weft_sleep(MS(5)), 0);
    weft_cancel(y);
    CHECK_EQ(weft_join(y, &r), 0);
    CHECK_EQ((intptr_t)r, -ECANCELED);

    /* joining: the joiner's cancellation leaves the target's handle valid */
    weft_task_t *target = weft_spawn(sleeper, (void *)(uintptr_t)MS(10000));
    weft_task_t *j = weft_spawn(joiner, target);
    CHECK_EQ(weft_sleep(MS(10)), 0);
    weft_cancel(j);
    CHECK_EQ(weft_join(j, &r), 0);
    CHECK_EQ((intptr_t)r, -ECANCELED);
    weft_cancel(target);
    CHECK_EQ(weft_join(target, &r), 0);
    CHECK_EQ((intptr_t)r, -ECANCELED);

    /* cancelled twice, and after it finished: no-ops */
    weft_task_t *d = weft_spawn(twice, (void *)3);
    CHECK_EQ(weft_sleep(MS(5)), 0);
    weft_cancel(d);
    weft_cancel(d);
    CHECK_EQ(weft_join(d, &r), 0);
    CHECK_EQ((intptr_t)r, 6);
    return NULL;
}

static void cancel_parked(void)
{
    t_run(2, m_cancel, NULL);
    t_run(1, m_cancel, NULL);
}

static void *m_cancel_before_run(void *arg)
{
    /* One worker: the spawned task cannot run before we park. */
    weft_task_t *t = weft_spawn(twice, (void *)1);
    weft_cancel(t);
    void *r = NULL;
    CHECK_EQ(weft_join(t, &r), 0);
    CHECK(r == WEFT_CANCELED);
    return NULL;
}

static void cancel_before_run(void)
{
    t_run(1, m_cancel_before_run, NULL);
}

/* ---- deadlines --------------------------------------------------------- */

static void *m_deadlines(void *arg)
{
    uint64_t t0 = weft_now();
    weft_deadline_push(MS(300));
    weft_deadline_push(MS(30));
    CHECK_EQ(weft_sleep(MS(5000)), -ETIMEDOUT);
    uint64_t dt = weft_now() - t0;
    CHECK(dt >= MS(30) && dt < MS(290));
    CHECK_EQ(weft_yield(), -ETIMEDOUT);  /* every suspension point */
    weft_deadline_pop();
    CHECK_EQ(weft_sleep(MS(5000)), -ETIMEDOUT);
    dt = weft_now() - t0;
    CHECK(dt >= MS(300) && dt < MS(3000));
    weft_deadline_pop();
    CHECK_EQ(weft_sleep(MS(1)), 0);

    /* An inner scope cannot extend an outer one. */
    t0 = weft_now();
    weft_deadline_push(MS(30));
    weft_deadline_push(MS(10000));
    CHECK_EQ(weft_sleep(MS(5000)), -ETIMEDOUT);
    CHECK(weft_now() - t0 < MS(3000));
    weft_deadline_pop();
    weft_deadline_pop();

    /* A sleep shorter than the deadline succeeds. */
    weft_deadline_push(MS(1000));
    CHECK_EQ(weft_sleep(MS(5)), 0);
    weft_deadline_pop();

    /* Deep nesting beyond the inline slots. */
    for (int i = 0; i < 40; i++)
        weft_deadline_push(MS(10000) - (uint64_t)i);
    CHECK_EQ(weft_sleep(MS(1)), 0);
    for (int i = 0; i < 40; i++)
        weft_deadline_pop();
    weft_deadline_pop();  /* a pop without a push does nothing */
    CHECK_EQ(weft_sleep(MS(1)), 0);

    /* The deadline interrupts a join too. */
    weft_task_t *t = weft_spawn(sleeper, (void *)(uintptr_t)MS(10000));
    weft_deadline_push(MS(20));
    CHECK_EQ(weft_join(t, NULL), -ETIMEDOUT);
    weft_deadline_pop();
    weft_cancel(t);
    CHECK_EQ(weft_join(t, NULL), 0);
    return NULL;
}

static void deadline_nesting(void)
{
    t_run(2, m_deadlines, NULL);
    weft_deadline_push(MS(1));  /* outside a task: no effect, no crash */
    weft_deadline_pop();
}

/* ---- wait_for, wait_any, join_all -------------------------------------- */

static atomic_int saw_cancel;

static void *long_sleeper(void *a)
{
    int rc = weft_sleep(MS(10000));
    if (rc == -ECANCELED)
        atomic_fetch_add(&saw_cancel, 1);
    return (void *)(intptr_t)rc;
}

static void *m_wait_for(void *arg)
{
    void *r = NULL;
    weft_task_t *t = weft_spawn(twice, (void *)4);
    CHECK_EQ(weft_wait_for(t, MS(5000), &r), 0);
    CHECK_EQ((intptr_t)r, 8);

    uint64_t t0 = weft_now();
    t = weft_spawn(long_sleeper, NULL);
    CHECK_EQ(weft_wait_for(t, MS(30), &r), -ETIMEDOUT);
    CHECK(weft_now() - t0 < MS(5000));
    /* The target was cancelled, waited for and freed. */
    CHECK_EQ(atomic_load(&saw_cancel), 1);
    return NULL;
}

static void wait_for(void)
{
    t_run(2, m_wait_for, NULL);
}

static void *m_wait_any(void *arg)
{
    weft_task_t *ts[3] = {
        weft_spawn(sleeper, (void *)(uintptr_t)MS(3000)),
        weft_spawn(sleeper, (void *)(uintptr_t)MS(20)),
        weft_spawn(sleeper, (void *)(uintptr_t)MS(2000)),
    };
    CHECK_EQ(weft_wait_any(ts, 3, WEFT_FOREVER), 1);
    CHECK_EQ(weft_wait_any(ts, 3, 0), 1);  /* still done, handles valid */
    CHECK_EQ(weft_wait_any(ts, 1, MS(10)), -ETIMEDOUT);
    CHECK_EQ(weft_wait_any(ts, 0, 0), -EINVAL);
    for (int i = 0; i < 3; i++) {
        weft_cancel(ts[i]);
        CHECK_EQ(weft_join(ts[i], NULL), 0);
    }
    return NULL;
}

static void wait_any(void)
{
    t_run(2, m_wait_any, NULL);
}

static void *m_join_all(void *arg)
{
    enum { N = 100 };
    weft_task_t *ts[N];
    void *rs[N];
    for (int i = 0; i < N; i++)
        ts[i] = weft_spawn(twice, (void *)(intptr_t)i);
    CHECK_EQ(weft_join_all(ts, N, rs), 0);
    for (int i = 0; i < N; i++)
        CHECK_EQ((intptr_t)rs[i], 2 * i);

    /* Interrupted by the caller's deadline: the rest are cancelled and
     * reaped, none leaks (ASan would tell). */
    atomic_store(&saw_cancel, 0);
    ts[0] = weft_spawn(twice, (void *)1);
    for (int i = 1; i < 10; i++)
        ts[i] = weft_spawn(long_sleeper, NULL);
    weft_deadline_push(MS(30));
    CHECK_EQ(weft_join_all(ts, 10, rs), -ETIMEDOUT);
    weft_deadline_pop();
    CHECK_EQ(atomic_load(&saw_cancel), 9);
    CHECK_EQ(weft_join_all(ts, 0, NULL), 0);
    return NULL;
}

static void join_all(void)
{
    t_run(2, m_join_all, NULL);
}

/* ---- shutdown ---------------------------------------------------------- */

static atomic_int leftovers_cancelled, late_spawn_ran;

static void *late(void *a)
{
    atomic_fetch_add(&late_spawn_ran, 1);
    return NULL;
}

static void *leftover(void *a)
{
    int rc = weft_sleep(MS(100000));
    if (rc == -ECANCELED)
        atomic_fetch_add(&leftovers_cancelled, 1);
    /* Spawning while the runtime shuts down: the task never runs. */
    weft_task_t *t = weft_spawn(late, NULL);
    if (t)
        weft_detach(t);
    return NULL;
}

static void *m_leftovers(void *arg)
{
    for (int i = 0; i < 50; i++)
        CHECK_EQ(weft_go(leftover, NULL), 0);
    weft_task_t *never_joined = weft_spawn(leftover, NULL);
    CHECK(never_joined != NULL);
    CHECK_EQ(weft_sleep(MS(10)), 0);
    return (void *)5;  /* returns with 51 tasks still parked */
}

static void shutdown_cancels_leftovers(void)
{
    CHECK_EQ((intptr_t)t_run(2, m_leftovers, NULL), 5);
    CHECK_EQ(atomic_load(&leftovers_cancelled), 51);
    CHECK_EQ(atomic_load(&late_spawn_ran), 0);
}

/* ---- migration and thread-locals --------------------------------------- */

static __thread int tls_probe;

/* The safe pattern: read per-thread state through a function that is not
 * inlined, after the switch, never through an address taken before it. */
__attribute__((noinline)) static int *tls_addr(void)
{
    __asm__ volatile("" ::: "memory");
    return &tls_probe;
}

static atomic_int migrations;

static void *migrator(void *a)
{
    /* Bounded: eight yielders on one worker's ring and an idle second
     * worker that steals half of them make a move all but certain long
     * before this runs out. */
    for (long i = 0; i < 200000 && atomic_load(&migrations) < 5; i++) {
        int w0 = weft_worker_id();
        int *p0 = tls_addr();
        CHECK_EQ(weft_yield(), 0);
        int w1 = weft_worker_id();
        int *p1 = tls_addr();
        CHECK(w0 >= 0 && w0 < weft_workers());
        if (w0 != w1) {
            /* Moved to another thread: its thread-local is elsewhere. */
            CHECK(p0 != p1);
            atomic_fetch_add(&migrations, 1);
        } else {
            CHECK(p0 == p1);
        }
    }
    return NULL;
}

static void *m_migrate(void *arg)
{
    weft_task_t *ms[8];
    for (int i = 0; i < 8; i++)
        ms[i] = weft_spawn(migrator, NULL);
    CHECK_EQ(weft_join_all(ms, 8, NULL), 0);
    return NULL;
}

static void migration_tls(void)
{
    t_run(2, m_migrate, NULL);
    CHECK(atomic_load(&migrations) >= 1);
}

T_MAIN(
    T_CASE(spawn_join),
    T_CASE(run_errors),
    T_CASE(join_from_thread),
    T_CASE(yield_fairness),
    T_CASE(sleep_accuracy),
    T_CASE(cancel_parked),
    T_CASE(cancel_before_run),
    T_CASE(deadline_nesting),
    T_CASE(wait_for),
    T_CASE(wait_any),
    T_CASE(join_all),
    T_CASE(shutdown_cancels_leftovers),
    T_CASE(migration_tls),
)
