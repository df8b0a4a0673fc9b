/* Futures: set once, wait from tasks and threads, fail and cancel,
 * done-callbacks, reference counting. */
#include <pthread.h>
#include <stdatomic.h>

#include "t.h"

static void *waiter(void *arg)
{
    void *v = NULL;
    int rc = weft_future_wait(arg, &v);
    return rc == 0 ? v : (void *)(intptr_t)rc;
}

static void *m_set_and_wait(void *arg)
{
    weft_future_t *f = weft_future_new();
    CHECK(f != NULL);
    CHECK_EQ(weft_future_done(f), 0);
    CHECK_EQ(weft_future_result(f, NULL), -EAGAIN);
    enum { N = 8 };
    weft_task_t *t[N];
    for (int i = 0; i < N; i++)
        t[i] = weft_spawn(waiter, f);
    weft_sleep(MS(5));
    CHECK_EQ(weft_future_set(f, (void *)42), 0);
    CHECK_EQ(weft_future_set(f, (void *)43), -EALREADY);  /* set once */
    CHECK_EQ(weft_future_fail(f, -EIO), -EALREADY);
    void *res[N];
    CHECK_EQ(weft_join_all(t, N, res), 0);
    for (int i = 0; i < N; i++)
        CHECK_EQ((intptr_t)res[i], 42);
    void *v = NULL;
    CHECK_EQ(weft_future_result(f, &v), 0);
    CHECK_EQ((intptr_t)v, 42);
    CHECK_EQ(weft_future_wait(f, &v), 0);  /* done: returns at once */
    weft_future_release(f);
    return NULL;
}

static void set_and_wait(void)
{
    t_run(2, m_set_and_wait, NULL);
}

static void *m_fail_and_cancel(void *arg)
{
    weft_future_t *f = weft_future_new();
    weft_task_t *t = weft_spawn(waiter, f);
    weft_sleep(MS(2));
    CHECK_EQ(weft_future_fail(f, 5), -EINVAL);  /* not a negative errno */
    CHECK_EQ(weft_future_fail(f, -EIO), 0);
    void *r;
    CHECK_EQ(weft_join(t, &r), 0);
    CHECK_EQ((intptr_t)r, -EIO);
    CHECK_EQ(weft_future_result(f, NULL), -EIO);
    weft_future_release(f);

    f = weft_future_new();
    CHECK_EQ(weft_future_cancel(f), 0);
    CHECK_EQ(weft_future_wait(f, NULL), -ECANCELED);
    CHECK_EQ(weft_future_done(f), 1);
    weft_future_release(f);

    /* The waiting task's own deadline and cancellation leave f alone. */
    f = weft_future_new();
    weft_deadline_push(MS(5));
    CHECK_EQ(weft_future_wait(f, NULL), -ETIMEDOUT);
    weft_deadline_pop();
    t = weft_spawn(waiter, f);
    weft_sleep(MS(2));
    weft_cancel(t);
    CHECK_EQ(weft_join(t, &r), 0);
    CHECK_EQ((intptr_t)r, -ECANCELED);
    CHECK_EQ(weft_future_done(f), 0);
    CHECK_EQ(weft_future_set(f, (void *)1), 0);
    weft_future_release(f);
    return NULL;
}

static void fail_and_cancel(void)
{
    t_run(2, m_fail_and_cancel, NULL);
}

static int order[4], norder;

static void record(weft_future_t *f, void *arg)
{
    void *v = NULL;
    CHECK_EQ(weft_future_result(f, &v), 0);  /* already done when called */
    CHECK_EQ((intptr_t)v, 9);
    order[norder++] = (int)(intptr_t)arg;
}

static void *m_callbacks(void *arg)
{
    weft_future_t *f = weft_future_new();
    CHECK_EQ(weft_future_on_done(f, record, (void *)1), 0);
    CHECK_EQ(weft_future_on_done(f, record, (void *)2), 0);
    CHECK_EQ(weft_future_on_done(f, NULL, NULL), -EINVAL);
    CHECK_EQ(norder, 0);
    CHECK_EQ(weft_future_set(f, (void *)9), 0);
    CHECK_EQ(norder, 2);  /* ran in set, in the order added */
    CHECK_EQ(order[0], 1);
    CHECK_EQ(order[1], 2);
    CHECK_EQ(weft_future_on_done(f, record, (void *)3), 0);  /* done: at once */
    CHECK_EQ(norder, 3);
    CHECK_EQ(order[2], 3);
    weft_future_release(f);

    /* Callbacks never run are freed with the future (ASan checks). */
    f = weft_future_new();
    CHECK_EQ(weft_future_on_done(f, record, (void *)4), 0);
    weft_future_release(f);
    CHECK_EQ(norder, 3);
    return NULL;
}

static void callbacks(void)
{
    t_run(1, m_callbacks, NULL);
}

/* A plain thread completes a future a task waits on, and a plain thread
 * waits on one a task completes; references shared between them. */
static void *thread_setter(void *arg)
{
    weft_future_t *f = arg;
    CHECK_EQ(weft_future_set(f, (void *)77), 0);
    weft_future_release(f);
    return NULL;
}

static void *thread_waiter(void *arg)
{
    weft_future_t *f = arg;
    void *v = NULL;
    CHECK_EQ(weft_future_wait(f, &v), 0);
    weft_future_release(f);
    return v;
}

static void *m_threads(void *arg)
{
    weft_future_t *f = weft_future_new();
    pthread_t th;
    CHECK_EQ(weft_waker_add(1), 0);  /* the setter wakes us from outside */
    CHECK_EQ(pthread_create(&th, NULL, thread_setter, weft_future_retain(f)), 0);
    void *v = NULL;
    CHECK_EQ(weft_future_wait(f, &v), 0);
    CHECK_EQ((intptr_t)v, 77);
    weft_future_release(f);
    pthread_join(th, NULL);
    CHECK_EQ(weft_waker_add(-1), 0);

    f = weft_future_new();
    CHECK_EQ(pthread_create(&th, NULL, thread_waiter, weft_future_retain(f)), 0);
    weft_sleep(MS(5));
    CHECK_EQ(weft_future_set(f, (void *)78), 0);
    weft_future_release(f);
    void *tv = NULL;
    pthread_join(th, &tv);  /* it is woken already */
    CHECK_EQ((intptr_t)tv, 78);
    return NULL;
}

static void threads(void)
{
    t_run(2, m_threads, NULL);
}

T_MAIN(
    T_CASE(set_and_wait),
    T_CASE(fail_and_cancel),
    T_CASE(callbacks),
    T_CASE(threads),
)
