/* Mutex, condition, event, semaphore, wait group and rwlock: behaviour,
 * fairness, interruption, and plain threads. Every case runs on 2 workers
 * unless it says otherwise. */
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "t.h"

#define RUN2(m) t_run(2, m, NULL)

/* ---- mutex ------------------------------------------------------------- */

enum { MX_TASKS = 8 };
static weft_mutex_t mx = WEFT_MUTEX_INIT;
static long mx_total;
static int mx_inside;

static void *mx_worker(void *arg)
{
    long n = (long)(intptr_t)arg;
    for (long i = 0; i < n; i++) {
        CHECK_EQ(weft_mutex_lock(&mx), 0);
        CHECK_EQ(mx_inside++, 0);
        long v = mx_total;
        if (i % 3 == 0)
            weft_yield();  /* a switch inside the critical section */
        mx_total = v + 1;
        mx_inside--;
        weft_mutex_unlock(&mx);
    }
    return NULL;
}

static void *m_mutex_exclusion(void *arg)
{
    long n = t_scale(20000);
    weft_task_t *t[MX_TASKS];
    for (int i = 0; i < MX_TASKS; i++)
        CHECK((t[i] = weft_spawn(mx_worker, (void *)(intptr_t)n)) != NULL);
    CHECK_EQ(weft_join_all(t, MX_TASKS, NULL), 0);
    CHECK_EQ(mx_total, MX_TASKS * n);
    return NULL;
}

static void mutex_exclusion(void)
{
    RUN2(m_mutex_exclusion);
}

static void *try_other(void *arg)
{
    return (void *)(intptr_t)weft_mutex_trylock(&mx);
}

static void *m_mutex_trylock(void *arg)
{
    CHECK_EQ(weft_mutex_trylock(&mx), 0);
    CHECK_EQ(weft_mutex_trylock(&mx), -EBUSY);
    void *r;
    CHECK_EQ(weft_join(weft_spawn(try_other, NULL), &r), 0);
    CHECK_EQ((intptr_t)r, -EBUSY);
    weft_mutex_unlock(&mx);
    CHECK_EQ(weft_join(weft_spawn(try_other, NULL), &r), 0);
    CHECK_EQ((intptr_t)r, 0);
    weft_mutex_unlock(&mx);  /* unlocking from another task is allowed */
    CHECK_EQ(weft_mutex_trylock(&mx), 0);
    weft_mutex_unlock(&mx);
    return NULL;
}

static void mutex_trylock(void)
{
    RUN2(m_mutex_trylock);
}

/* A hog relocks the mutex right after every unlock, yielding while it
 * holds it. Without the starvation hand-off the waiter, woken each time
 * only to find the lock taken again, would never get it on one worker. */
static atomic_int hog_stop;

static void *hog(void *arg)
{
    while (!atomic_load(&hog_stop)) {
        CHECK_EQ(weft_mutex_lock(&mx), 0);
        weft_yield();
        weft_mutex_unlock(&mx);
    }
    return NULL;
}

static void *m_mutex_no_starvation(void *arg)
{
    weft_task_t *h = weft_spawn(hog, NULL);
    weft_sleep(MS(5));
    uint64_t t0 = weft_now();
    CHECK_EQ(weft_mutex_lock(&mx), 0);
    uint64_t waited = weft_now() - t0;
    weft_mutex_unlock(&mx);
    atomic_store(&hog_stop, 1);
    CHECK_EQ(weft_join(h, NULL), 0);
    /* Hand-off after 1 ms of waiting; allow a noisy machine 100x that. */
    CHECK(waited < MS(100) * 10);
    return NULL;
}

static void mutex_no_starvation(void)
{
    t_run(1, m_mutex_no_starvation, NULL);
    atomic_store(&hog_stop, 0);
    RUN2(m_mutex_no_starvation);
}

/* ---- interruption: a waiter that gives up leaves the primitive usable --- */

static void *lock_and_hold(void *arg)
{
    int rc = weft_mutex_lock(&mx);
    if (rc == 0)
        weft_mutex_unlock(&mx);
    return (void *)(intptr_t)rc;
}

static void *lock_with_deadline(void *arg)
{
    weft_deadline_push(MS(20));
    int rc = weft_mutex_lock(&mx);
    weft_deadline_pop();
    if (rc == 0)
        weft_mutex_unlock(&mx);
    return (void *)(intptr_t)rc;
}

static void *m_mutex_interrupted(void *arg)
{
    CHECK_EQ(weft_mutex_lock(&mx), 0);
    weft_task_t *a = weft_spawn(lock_and_hold, NULL);
    weft_task_t *b = weft_spawn(lock_and_hold, NULL);
    weft_task_t *d = weft_spawn(lock_with_deadline, NULL);
    weft_sleep(MS(10));  /* all three queue */
    CHECK_EQ(weft_cancel(a), 0);
    void *r;
    CHECK_EQ(weft_join(a, &r), 0);
    CHECK_EQ((intptr_t)r, -ECANCELED);
    CHECK_EQ(weft_join(d, &r), 0);
    CHECK_EQ((intptr_t)r, -ETIMEDOUT);
    /* b, queued behind the two that left, still gets the lock. */
    weft_mutex_unlock(&mx);
    CHECK_EQ(weft_join(b, &r), 0);
    CHECK_EQ((intptr_t)r, 0);
    CHECK_EQ(weft_mutex_trylock(&mx), 0);
    weft_mutex_unlock(&mx);
    return NULL;
}

static void mutex_interrupted(void)
{
    RUN2(m_mutex_interrupted);
}

/* A plain thread blocks on a mutex a task holds, and the other way round. */
static void *thread_locker(void *arg)
{
    CHECK(weft_self() == NULL);
    CHECK_EQ(weft_mutex_lock(&mx), 0);
    mx_total++;
    weft_mutex_unlock(&mx);
    return NULL;
}

static void *m_mutex_thread(void *arg)
{
    mx_total = 0;
    CHECK_EQ(weft_mutex_lock(&mx), 0);
    pthread_t th;
    CHECK_EQ(weft_waker_add(1), 0);  /* its unlock wakes us from outside */
    CHECK_EQ(pthread_create(&th, NULL, thread_locker, NULL), 0);
    weft_sleep(MS(20));
    CHECK_EQ(mx_total, 0);  /* the thread is blocked */
    weft_mutex_unlock(&mx);
    /* Join the thread without blocking the worker: wait on the count. */
    for (;;) {
        CHECK_EQ(weft_mutex_lock(&mx), 0);
        long v = mx_total;
        weft_mutex_unlock(&mx);
        if (v == 1)
            break;
        weft_sleep(MS(1));
    }
    pthread_join(th, NULL);
    CHECK_EQ(weft_waker_add(-1), 0);
    return NULL;
}

static void mutex_thread(void)
{
    RUN2(m_mutex_thread);
}

/* ---- condition: a bounded buffer --------------------------------------- */

enum { BB_CAP = 4, BB_PROD = 3, BB_CONS = 3 };
static struct {
    weft_mutex_t m;
    weft_cond_t  not_full, not_empty;
    long         buf[BB_CAP];
    int          head, len;
    long         sum, got;
} bb = { WEFT_MUTEX_INIT, WEFT_COND_INIT, WEFT_COND_INIT, { 0 }, 0, 0, 0, 0 };

static void *bb_producer(void *arg)
{
    long n = (long)(intptr_t)arg;
    for (long i = 1; i <= n; i++) {
        CHECK_EQ(weft_mutex_lock(&bb.m), 0);
        while (bb.len == BB_CAP)
            CHECK_EQ(weft_cond_wait(&bb.not_full, &bb.m), 0);
        bb.buf[(bb.head + bb.len++) % BB_CAP] = i;
        weft_cond_signal(&bb.not_empty);
        weft_mutex_unlock(&bb.m);
    }
    return NULL;
}

static void *bb_consumer(void *arg)
{
    long n = (long)(intptr_t)arg;
    for (long i = 0; i < n; i++) {
        CHECK_EQ(weft_mutex_lock(&bb.m), 0);
        while (bb.len == 0)
            CHECK_EQ(weft_cond_wait(&bb.not_empty, &bb.m), 0);
        bb.sum += bb.buf[bb.head];
        bb.head = (bb.head + 1) % BB_CAP;
        bb.len--;
        bb.got++;
        weft_cond_signal(&bb.not_full);
        weft_mutex_unlock(&bb.m);
    }
    return NULL;
}

static void *m_cond_bounded_buffer(void *arg)
{
    long n = t_scale(20000);
    weft_task_t *t[BB_PROD + BB_CONS];
    for (int i = 0; i < BB_PROD; i++)
        t[i] = weft_spawn(bb_producer, (void *)(intptr_t)n);
    for (int i = 0; i < BB_CONS; i++)
        t[BB_PROD + i] = weft_spawn(bb_consumer, (void *)(intptr_t)n);
    CHECK_EQ(weft_join_all(t, BB_PROD + BB_CONS, NULL), 0);
    CHECK_EQ(bb.got, BB_PROD * n);
    CHECK_EQ(bb.sum, BB_PROD * (n * (n + 1) / 2));
    CHECK_EQ(bb.len, 0);
    return NULL;
}

static void cond_bounded_buffer(void)
{
    RUN2(m_cond_bounded_buffer);
}

static weft_cond_t cv = WEFT_COND_INIT;
static int cv_flag;

static void *cv_waiter(void *arg)
{
    CHECK_EQ(weft_mutex_lock(&mx), 0);
    int rc = 0;
    while (!cv_flag && rc == 0)
        rc = weft_cond_wait(&cv, &mx);
    /* The mutex is held again whatever the outcome. */
    CHECK_EQ(weft_mutex_trylock(&mx), -EBUSY);
    weft_mutex_unlock(&mx);
    return (void *)(intptr_t)rc;
}

static void *m_cond_broadcast_and_cancel(void *arg)
{
    enum { N = 5 };
    weft_task_t *t[N];
    for (int i = 0; i < N; i++)
        t[i] = weft_spawn(cv_waiter, NULL);
    weft_sleep(MS(10));
    /* One waiter cancelled: it returns -ECANCELED holding the mutex. */
    CHECK_EQ(weft_cancel(t[0]), 0);
    void *r;
    CHECK_EQ(weft_join(t[0], &r), 0);
    CHECK_EQ((intptr_t)r, -ECANCELED);
    /* A signal with the mutex held by us: nobody runs until we unlock. */
    CHECK_EQ(weft_mutex_lock(&mx), 0);
    cv_flag = 1;
    weft_cond_broadcast(&cv);
    weft_mutex_unlock(&mx);
    for (int i = 1; i < N; i++) {
        CHECK_EQ(weft_join(t[i], &r), 0);
        CHECK_EQ((intptr_t)r, 0);
    }
    /* Signal and broadcast with nobody waiting do nothing. */
    weft_cond_signal(&cv);
    weft_cond_broadcast(&cv);
    return NULL;
}

static void cond_broadcast_and_cancel(void)
{
    RUN2(m_cond_broadcast_and_cancel);
}

/* ---- event ------------------------------------------------------------- */

static weft_event_t ev = WEFT_EVENT_INIT;
static atomic_int ev_woken;

static void *ev_waiter(void *arg)
{
    int rc = weft_event_wait(&ev);
    if (rc == 0)
        atomic_fetch_add(&ev_woken, 1);
    return (void *)(intptr_t)rc;
}

static void *m_event(void *arg)
{
    enum { N = 10 };
    weft_task_t *t[N];
    CHECK_EQ(weft_event_is_set(&ev), 0);
    for (int i = 0; i < N; i++)
        t[i] = weft_spawn(ev_waiter, NULL);
    weft_sleep(MS(10));
    CHECK_EQ(atomic_load(&ev_woken), 0);
    weft_event_set(&ev);
    CHECK_EQ(weft_join_all(t, N, NULL), 0);
    CHECK_EQ(atomic_load(&ev_woken), N);
    /* It stays set: a later wait returns at once. */
    CHECK_EQ(weft_event_is_set(&ev), 1);
    CHECK_EQ(weft_event_wait(&ev), 0);
    weft_event_clear(&ev);
    CHECK_EQ(weft_event_is_set(&ev), 0);
    /* Cleared: a wait blocks until its deadline. */
    weft_deadline_push(MS(10));
    CHECK_EQ(weft_event_wait(&ev), -ETIMEDOUT);
    weft_deadline_pop();
    weft_task_t *c = weft_spawn(ev_waiter, NULL);
    weft_sleep(MS(5));
    weft_cancel(c);
    void *r;
    CHECK_EQ(weft_join(c, &r), 0);
    CHECK_EQ((intptr_t)r, -ECANCELED);
    return NULL;
}

static void event(void)
{
    RUN2(m_event);
}

/* ---- semaphore --------------------------------------------------------- */

static weft_sem_t sem = WEFT_SEM_INIT(2);
static atomic_int sem_active, sem_max;

static void *sem_user(void *arg)
{
    for (int i = 0; i < 5; i++) {
        CHECK_EQ(weft_sem_acquire(&sem), 0);
        int a = atomic_fetch_add(&sem_active, 1) + 1;
        int m = atomic_load(&sem_max);
        while (a > m && !atomic_compare_exchange_weak(&sem_max, &m, a)) {
        }
        weft_sleep(MS(1));
        atomic_fetch_sub(&sem_active, 1);
        CHECK_EQ(weft_sem_release(&sem), 0);
    }
    return NULL;
}

/* The asyncio.Semaphore(2) example: ten tasks, never more than two in. */
static void *m_sem_two(void *arg)
{
    enum { N = 10 };
    weft_task_t *t[N];
    for (int i = 0; i < N; i++)
        t[i] = weft_spawn(sem_user, NULL);
    CHECK_EQ(weft_join_all(t, N, NULL), 0);
    CHECK_EQ(atomic_load(&sem_max), 2);
    /* Both units are back. */
    CHECK_EQ(weft_sem_try_acquire(&sem), 0);
    CHECK_EQ(weft_sem_try_acquire(&sem), 0);
    CHECK_EQ(weft_sem_try_acquire(&sem), -EAGAIN);
    CHECK_EQ(weft_sem_release(&sem), 0);
    CHECK_EQ(weft_sem_release(&sem), 0);
    return NULL;
}

static void sem_two(void)
{
    RUN2(m_sem_two);
}

static void *sem_take(void *arg)
{
    return (void *)(intptr_t)weft_sem_acquire(arg);
}

static void *m_sem_interrupted(void *arg)
{
    weft_sem_t s;
    weft_sem_init(&s, 0);
    weft_task_t *a = weft_spawn(sem_take, &s);
    weft_task_t *b = weft_spawn(sem_take, &s);
    weft_sleep(MS(10));
    weft_cancel(a);
    void *r;
    CHECK_EQ(weft_join(a, &r), 0);
    CHECK_EQ((intptr_t)r, -ECANCELED);
    /* The one unit goes to b, not to the waiter that left. */
    CHECK_EQ(weft_sem_release(&s), 0);
    CHECK_EQ(weft_join(b, &r), 0);
    CHECK_EQ((intptr_t)r, 0);
    CHECK_EQ(weft_sem_try_acquire(&s), -EAGAIN);
    weft_deadline_push(MS(10));
    CHECK_EQ(weft_sem_acquire(&s), -ETIMEDOUT);
    weft_deadline_pop();
    /* A release with nobody waiting is kept. */
    CHECK_EQ(weft_sem_release(&s), 0);
    CHECK_EQ(weft_sem_acquire(&s), 0);
    /* The ceiling. */
    weft_sem_init(&s, WEFT_SEM_MAX);
    CHECK_EQ(weft_sem_release(&s), -EOVERFLOW);
    CHECK_EQ(weft_sem_try_acquire(&s), 0);
    CHECK_EQ(weft_sem_release(&s), 0);
    return NULL;
}

static void sem_interrupted(void)
{
    RUN2(m_sem_interrupted);
}

/* A plain thread hands units to tasks (a blocking-pool thread feeding
 * work back). */
static atomic_int sem_thread_done;
static weft_event_t sem_go = WEFT_EVENT_INIT;

static void *sem_thread(void *arg)
{
    for (int i = 0; i < 100; i++) {
        CHECK_EQ(weft_sem_release(arg), 0);
        if (i % 10 == 0)
            usleep(100);
    }
    /* Once the task has all 100, take one back, blocking until the task
     * releases it. */
    CHECK_EQ(weft_event_wait(&sem_go), 0);
    CHECK_EQ(weft_sem_acquire(arg), 0);
    atomic_store(&sem_thread_done, 1);
    return NULL;
}

static void *m_sem_thread(void *arg)
{
    weft_sem_t s = WEFT_SEM_INIT(0);
    pthread_t th;
    CHECK_EQ(weft_waker_add(1), 0);  /* the thread wakes us from outside */
    CHECK_EQ(pthread_create(&th, NULL, sem_thread, &s), 0);
    for (int i = 0; i < 100; i++)
        CHECK_EQ(weft_sem_acquire(&s), 0);
    weft_event_set(&sem_go);
    weft_sleep(MS(5));
    CHECK_EQ(atomic_load(&sem_thread_done), 0);  /* blocked in acquire */
    CHECK_EQ(weft_sem_release(&s), 0);
    /* pthread_join would block the worker: wait for the flag first. */
    while (!atomic_load(&sem_thread_done))
        weft_sleep(MS(1));
    pthread_join(th, NULL);
    CHECK_EQ(weft_waker_add(-1), 0);
    CHECK_EQ(weft_sem_try_acquire(&s), -EAGAIN);
    return NULL;
}

static void sem_thread_case(void)
{
    RUN2(m_sem_thread);
}

/* ---- wait group -------------------------------------------------------- */

static weft_wg_t wg = WEFT_WG_INIT;
static atomic_int wg_done_count;

static void *wg_member(void *arg)
{
    weft_sleep(MS(1) * (uint64_t)(intptr_t)arg);
    atomic_fetch_add(&wg_done_count, 1);
    CHECK_EQ(weft_wg_done(&wg), 0);
    return NULL;
}

static void *m_waitgroup(void *arg)
{
    enum { N = 20 };
    CHECK_EQ(weft_wg_wait(&wg), 0);  /* zero: returns at once */
    CHECK_EQ(weft_wg_add(&wg, N), 0);
    for (int i = 0; i < N; i++)
        CHECK_EQ(weft_go(wg_member, (void *)(intptr_t)(i % 5)), 0);
    CHECK_EQ(weft_wg_wait(&wg), 0);
    CHECK_EQ(atomic_load(&wg_done_count), N);
    /* Below zero is refused and changes nothing. */
    CHECK_EQ(weft_wg_done(&wg), -EINVAL);
    CHECK_EQ(weft_wg_add(&wg, 1), 0);
    CHECK_EQ(weft_wg_add(&wg, -2), -EINVAL);
    weft_deadline_push(MS(10));
    CHECK_EQ(weft_wg_wait(&wg), -ETIMEDOUT);
    weft_deadline_pop();
    CHECK_EQ(weft_wg_done(&wg), 0);
    CHECK_EQ(weft_wg_wait(&wg), 0);
    /* Reusable. */
    atomic_store(&wg_done_count, 0);
    CHECK_EQ(weft_wg_add(&wg, 3), 0);
    for (int i = 0; i < 3; i++)
        CHECK_EQ(weft_go(wg_member, (void *)0), 0);
    CHECK_EQ(weft_wg_wait(&wg), 0);
    CHECK_EQ(atomic_load(&wg_done_count), 3);
    return NULL;
}

static void waitgroup(void)
{
    RUN2(m_waitgroup);
}

/* ---- rwlock ------------------------------------------------------------ */

static weft_rwlock_t rw = WEFT_RWLOCK_INIT;
static atomic_int rw_readers, rw_writers;
static long rw_value;

static void *rw_reader(void *arg)
{
    long n = (long)(intptr_t)arg;
    for (long i = 0; i < n; i++) {
        CHECK_EQ(weft_rwlock_rdlock(&rw), 0);
        atomic_fetch_add(&rw_readers, 1);
        CHECK_EQ(atomic_load(&rw_writers), 0);
        long v = rw_value;
        weft_yield();
        CHECK_EQ(rw_value, v);  /* no writer got in */
        atomic_fetch_sub(&rw_readers, 1);
        weft_rwlock_unlock(&rw);
    }
    return NULL;
}

static void *rw_writer(void *arg)
{
    long n = (long)(intptr_t)arg;
    for (long i = 0; i < n; i++) {
        CHECK_EQ(weft_rwlock_wrlock(&rw), 0);
        CHECK_EQ(atomic_fetch_add(&rw_writers, 1), 0);
        CHECK_EQ(atomic_load(&rw_readers), 0);
        long v = rw_value;
        weft_yield();
        rw_value = v + 1;
        atomic_fetch_sub(&rw_writers, 1);
        weft_rwlock_unlock(&rw);
    }
    return NULL;
}

static void *m_rwlock(void *arg)
{
    enum { R = 6, W = 2 };
    long n = t_scale(5000);
    weft_task_t *t[R + W];
    for (int i = 0; i < R; i++)
        t[i] = weft_spawn(rw_reader, (void *)(intptr_t)n);
    for (int i = 0; i < W; i++)
        t[R + i] = weft_spawn(rw_writer, (void *)(intptr_t)n);
    CHECK_EQ(weft_join_all(t, R + W, NULL), 0);
    CHECK_EQ(rw_value, W * n);
    CHECK_EQ(weft_rwlock_trywrlock(&rw), 0);
    CHECK_EQ(weft_rwlock_tryrdlock(&rw), -EBUSY);
    weft_rwlock_unlock(&rw);
    CHECK_EQ(weft_rwlock_tryrdlock(&rw), 0);
    CHECK_EQ(weft_rwlock_tryrdlock(&rw), 0);
    CHECK_EQ(weft_rwlock_trywrlock(&rw), -EBUSY);
    weft_rwlock_unlock(&rw);
    weft_rwlock_unlock(&rw);
    return NULL;
}

static void rwlock(void)
{
    RUN2(m_rwlock);
}

static void *rd_once(void *arg)
{
    int rc = weft_rwlock_rdlock(&rw);
    if (rc == 0)
        weft_rwlock_unlock(&rw);
    return (void *)(intptr_t)rc;
}

static void *wr_once(void *arg)
{
    int rc = weft_rwlock_wrlock(&rw);
    if (rc == 0)
        weft_rwlock_unlock(&rw);
    return (void *)(intptr_t)rc;
}

/* A writer waiting behind a reader holds back later readers (no writer
 * starvation); when that writer gives up, the readers behind it enter at
 * once even though the first reader still holds the lock. */
static void *m_rwlock_writer_cancelled(void *arg)
{
    CHECK_EQ(weft_rwlock_rdlock(&rw), 0);
    weft_task_t *w = weft_spawn(wr_once, NULL);
    weft_sleep(MS(10));
    weft_task_t *r = weft_spawn(rd_once, NULL);
    weft_sleep(MS(10));
    CHECK_EQ(weft_wait_any(&r, 1, 0), -ETIMEDOUT);  /* queued behind w */
    weft_cancel(w);
    void *res;
    CHECK_EQ(weft_join(w, &res), 0);
    CHECK_EQ((intptr_t)res, -ECANCELED);
    CHECK_EQ(weft_join(r, &res), 0);  /* entered beside our read hold */
    CHECK_EQ((intptr_t)res, 0);
    weft_rwlock_unlock(&rw);
    CHECK_EQ(weft_rwlock_trywrlock(&rw), 0);
    weft_rwlock_unlock(&rw);
    return NULL;
}

static void rwlock_writer_cancelled(void)
{
    RUN2(m_rwlock_writer_cancelled);
}

T_MAIN(
    T_CASE(mutex_exclusion),
    T_CASE(mutex_trylock),
    T_CASE(mutex_no_starvation),
    T_CASE(mutex_interrupted),
    T_CASE(mutex_thread),
    T_CASE(cond_bounded_buffer),
    T_CASE(cond_broadcast_and_cancel),
    T_CASE(event),
    T_CASE(sem_two),
    T_CASE(sem_interrupted),
    T_CASE(sem_thread_case),
    T_CASE(waitgroup),
    T_CASE(rwlock),
    T_CASE(rwlock_writer_cancelled),
)
