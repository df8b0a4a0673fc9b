/* The blocking pool: plain threads that run synchronous code for tasks
 * (weft_blocking), so a call that blocks its thread (a disk read, a
 * library without an async API, getaddrinfo) parks only its task.
 *
 * The pool grows on demand up to cfg.blocking_threads, an idle thread
 * retires after cfg.blocking_keepalive_ms, and calls beyond the cap wait
 * in a FIFO queue. It is one static object that outlives every weft_run,
 * so a thread still running a call that weft_run stopped waiting for
 * never touches freed memory.
 *
 * A call is a heap job shared by the calling task and a pool thread, with
 * a guard deciding who is last: the thread completes it and wakes the
 * task under the guard; a task that was cancelled or timed out marks it
 * ABANDONED under the same guard and leaves, and the thread then frees it
 * (without running it, when it had not started). */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <time.h>

#include "../sync/sync.h"
#include "alloc.h"
#include "sched.h"
#include "trace.h"

enum { JOB_QUEUED, JOB_RUNNING, JOB_DONE, JOB_ABANDONED };

typedef struct job {
    struct job            *next;
    void                *(*fn)(void *);
    void                  *arg;
    void                  *result;
    weft__atomic(uint32_t) guard;
    int                    state;   /* under guard */
    weft_task_t           *task;    /* the caller, parked */
    void                 (*discard)(void *arg, void *result);  /* or NULL */
} job_t;

static struct {
    pthread_once_t  once;
    pthread_mutex_t lock;
    pthread_cond_t  work;    /* a job was queued, or stop */
    pthread_cond_t  quiet;   /* a thread went idle or exited */
    job_t          *head, *tail;
    int             threads, idle, busy, queued;
    uint64_t        keepalive_ns;
    unsigned        generation;  /* bumped when weft_run retires the idle */
} pool = { .once = PTHREAD_ONCE_INIT, .lock = PTHREAD_MUTEX_INITIALIZER };

static void pool_init(void)
{
    pthread_condattr_t a;
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    pthread_cond_init(&pool.work, &a);
    pthread_cond_init(&pool.quiet, &a);
    pthread_condattr_destroy(&a);
}

static struct timespec abs_time(uint64_t ns)
{
    uint64_t t = weft_now() + ns;
    return (struct timespec){ (time_t)(t / 1000000000u), (long)(t % 1000000000u) };
}

/* A pool thread: run jobs; retire after keepalive_ns idle, or when
 * weft_run retires the idle ones (a new generation). */
static void *pool_main(void *unused)
{
    (void)unused;
#if defined(__linux__)
    pthread_setname_np(pthread_self(), "weft-blocking");
#endif
    pthread_mutex_lock(&pool.lock);
    unsigned gen = pool.generation;
    for (;;) {
        int timed_out = 0;
        while (!pool.head && !timed_out && gen == pool.generation) {
            pool.idle++;
            struct timespec until = abs_time(pool.keepalive_ns);
            timed_out = pthread_cond_timedwait(&pool.work, &pool.lock, &until) == ETIMEDOUT;
            pool.idle--;
        }
        if (!pool.head)
            break;
        job_t *j = pool.head;
        pool.queued--;
        pool.head = j->next;
        if (!pool.head)
            pool.tail = NULL;
        pool.busy++;
        pthread_mutex_unlock(&pool.lock);

        weft__guard_lock(&j->guard);
        WEFT__ASSERT(1, j->state == JOB_QUEUED || j->state == JOB_ABANDONED);
        int run = j->state == JOB_QUEUED;
        if (run)
            j->state = JOB_RUNNING;
        WEFT__TRACE(pool_begin, run ? j->task : NULL);  /* j->task is alive */
        weft__guard_unlock(&j->guard);
        if (run) {
            void *r = j->fn(j->arg);
            WEFT__TRACE(pool_end, j->fn);
            weft__guard_lock(&j->guard);
            j->result = r;
            run = j->state == JOB_RUNNING;  /* 0: abandoned meanwhile */
            if (run) {
                j->state = JOB_DONE;
                /* Under the guard: the caller cannot leave before we are
                 * done with j (and its park cannot be a later one). */
                weft__wake(j->task, 0);
            }
            weft__guard_unlock(&j->guard);
        }
        if (!run) {
            /* Abandoned: its arg and result are ours to let go. */
            if (j->discard)
                j->discard(j->arg, j->result);  /* result NULL: never ran */
            weft__free(j);
        }

        pthread_mutex_lock(&pool.lock);
        pool.busy--;
        pthread_cond_broadcast(&pool.quiet);
    }
    pool.threads--;
    pthread_cond_broadcast(&pool.quiet);
    pthread_mutex_unlock(&pool.lock);
    return NULL;
}

/* Under pool.lock: queue j; start a thread when none is idle and the cap
 * allows. -EAGAIN when no thread exists and none can be started. */
static int submit_locked(job_t *j)
{
    if (pool.idle == 0 && pool.threads < weft__rt.cfg.blocking_threads) {
        pthread_attr_t a;
        pthread_t th;
        pthread_attr_init(&a);
        pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
        /* Pool threads run foreign code: give them a normal stack. */
        int rc = pthread_create(&th, &a, pool_main, NULL);
        pthread_attr_destroy(&a);
        if (rc == 0)
            pool.threads++;
        else if (pool.threads == 0)
            return -EAGAIN;
    }
    pool.keepalive_ns = (uint64_t)weft__rt.cfg.blocking_keepalive_ms * 1000000u;
    if (pool.tail)
        pool.tail->next = j;
    else
        pool.head = j;
    pool.tail = j;
    pool.queued++;
    pthread_cond_signal(&pool.work);
    return 0;
}

void weft__blocking_stats(int *threads, int *busy, int *idle, int *queued)
{
    pthread_once(&pool.once, pool_init);
    pthread_mutex_lock(&pool.lock);
    *threads = pool.threads;
    *busy = pool.busy;
    *idle = pool.idle;
    *queued = pool.queued;
    pthread_mutex_unlock(&pool.lock);
}

int weft_blocking(void *(*fn)(void *), void *arg, void **result)
{
    return weft__blocking_ex(fn, arg, result, NULL);
}

int weft__blocking_ex(void *(*fn)(void *), void *arg, void **result,
                      void (*discard)(void *arg, void *result))
{
    if (!fn)
        return -EINVAL;
    weft_task_t *self = weft__current();
    if (!self) {
        /* A plain thread may block: it runs the call itself. */
        void *r = fn(arg);
        if (result)
            *result = r;
        return 0;
    }
    int rc = weft__check_interrupt(self);
    job_t *j = rc < 0 ? NULL : weft__calloc(1, sizeof *j);
    if (!j) {
        if (discard)
            discard(arg, NULL);
        return rc < 0 ? rc : -ENOMEM;
    }
    j->fn = fn;
    j->arg = arg;
    j->discard = discard;
    j->task = self;
    j->state = JOB_QUEUED;
    pthread_once(&pool.once, pool_init);

    weft__park_prepare(self, WEFT__WAIT(WEFT__WAIT_BLOCKING), j);
    pthread_mutex_lock(&pool.lock);
    rc = submit_locked(j);
    pthread_mutex_unlock(&pool.lock);
    if (rc < 0) {
        weft__wake(self, 0);  /* end the prepared park */
        weft__park(self, WEFT_FOREVER, 0);
        weft__free(j);
        if (discard)
            discard(arg, NULL);
        return rc;
    }
    rc = weft__park(self, WEFT_FOREVER, 0);

    weft__guard_lock(&j->guard);
    if (j->state == JOB_DONE) {
        /* Done, whatever woke us: the call's result wins. */
        weft__guard_unlock(&j->guard);
        if (result)
            *result = j->result;
        weft__free(j);
        return 0;
    }
    j->state = JOB_ABANDONED;  /* the pool thread frees it */
    weft__guard_unlock(&j->guard);
    return rc < 0 ? rc : -ECANCELED;
}

void weft__blocking_shutdown(int grace_ms)
{
    pthread_once(&pool.once, pool_init);
    pthread_mutex_lock(&pool.lock);
    /* Retire the idle threads now, not after their keep-alive. */
    pool.generation++;
    pthread_cond_broadcast(&pool.work);
    struct timespec until = abs_time((uint64_t)grace_ms * 1000000u);
    while (pool.threads > 0 &&
           pthread_cond_timedwait(&pool.quiet, &pool.lock, &until) != ETIMEDOUT) {
    }
    int left = pool.busy;
    pthread_mutex_unlock(&pool.lock);
    if (left > 0)
        fprintf(stderr,
                "weft: %d blocking call%s still running after %d ms "
                "(WEFT_BLOCKING_SHUTDOWN_MS); weft_run returns without %s\n",
                left, left == 1 ? " is" : "s are", grace_ms, left == 1 ? "it" : "them");
}
