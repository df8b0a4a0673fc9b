/* The public task API: weft_run, spawn/join/cancel, time and deadlines,
 * wait_for / wait_any / join_all; and the waiter lists behind joins. */
#include "sched.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "trace.h"

/* ------------------------------------------------------------------------ */
/* Time                                                                      */
/* ------------------------------------------------------------------------ */

uint64_t weft_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void weft__assert_fail(const char *what, const char *file, int line)
{
    fprintf(stderr, "weft: internal assertion failed: %s (%s:%d)\n", what, file, line);
    abort();
}

static uint64_t add_sat(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

/* ------------------------------------------------------------------------ */
/* Waiters                                                                   */
/* ------------------------------------------------------------------------ */

void weft__thread_parker_init(weft__thread_parker_t *p)
{
    pthread_condattr_t a;
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    pthread_cond_init(&p->c, &a);
    pthread_condattr_destroy(&a);
    pthread_mutex_init(&p->m, NULL);
    p->woken = 0;
    p->code = 0;
}

void weft__thread_parker_fini(weft__thread_parker_t *p)
{
    pthread_cond_destroy(&p->c);
    pthread_mutex_destroy(&p->m);
}

int weft__thread_parker_wait(weft__thread_parker_t *p, uint64_t until)
{
    struct timespec ts = { (time_t)(until / 1000000000u), (long)(until % 1000000000u) };
    pthread_mutex_lock(&p->m);
    while (!p->woken) {
        if (until == WEFT_FOREVER) {
            pthread_cond_wait(&p->c, &p->m);
        } else if (pthread_cond_timedwait(&p->c, &p->m, &ts) == ETIMEDOUT && !p->woken) {
            p->woken = 1;
            p->code = -ETIMEDOUT;
        }
    }
    int code = p->code;
    pthread_mutex_unlock(&p->m);
    return code;
}

bool weft__waiter_wake(weft__waiter_t *w, int code)
{
    if (w->task)
        return weft__wake(w->task, code);
    weft__thread_parker_t *p = w->thread;
    pthread_mutex_lock(&p->m);
    bool first = !p->woken;
    if (first) {
        p->woken = 1;
        p->code = code;
        pthread_cond_signal(&p->c);
    }
    pthread_mutex_unlock(&p->m);
    return first;
}

void weft__waiter_prepare(weft__waiter_t *w, weft__thread_parker_t *tp, int flags,
                          const void *obj)
{
    w->task = weft__current();
    w->thread = NULL;
    if (w->task) {
        weft__park_prepare(w->task, flags, obj);
    } else {
        weft__thread_parker_init(tp);
        w->thread = tp;
    }
}

int weft__waiter_sleep(weft__waiter_t *w, uint64_t until)
{
    if (w->task)
        return weft__park(w->task, until, -ETIMEDOUT);
    return weft__thread_parker_wait(w->thread, until);
}

void weft__waiter_done(weft__waiter_t *w)
{
    if (w->thread)
        weft__thread_parker_fini(w->thread);
}

void weft__waitq_push(weft__waitq_t *q, weft__waiter_t *w)
{
    WEFT__ASSERT(1, !w->queued);
    w->next = NULL;
    w->prev = q->tail;
    if (q->tail)
        q->tail->next = w;
    else
        q->head = w;
    q->tail = w;
    w->queued = 1;
}

void weft__waitq_push_front(weft__waitq_t *q, weft__waiter_t *w)
{
    WEFT__ASSERT(1, !w->queued);
    w->prev = NULL;
    w->next = q->head;
    if (q->head)
        q->head->prev = w;
    else
        q->tail = w;
    q->head = w;
    w->queued = 1;
}

void weft__waitq_remove(weft__waitq_t *q, weft__waiter_t *w)
{
    if (!w->queued)
        return;
    WEFT__ASSERT(2, w->prev ? w->prev->next == w : q->head == w);
    WEFT__ASSERT(2, w->next ? w->next->prev == w : q->tail == w);
    if (w->prev)
        w->prev->next = w->next;
    else
        q->head = w->next;
    if (w->next)
        w->next->prev = w->prev;
    else
        q->tail = w->prev;
    w->next = w->prev = NULL;
    w->queued = 0;
}

weft__waiter_t *weft__waitq_pop(weft__waitq_t *q)
{
    weft__waiter_t *w = q->head;
    if (w)
        weft__waitq_remove(q, w);
    return w;
}

/* ------------------------------------------------------------------------ */
/* Task lifetime                                                             */
/* ------------------------------------------------------------------------ */

/* A given name is copied now; otherwise weft_task_name makes one from the
 * function's symbol when first asked (diag.c): spawning stays cheap. */
static void name_task(weft_task_t *t, const char *name)
{
    if (name && *name) {
        size_t n = strlen(name);
        if (n >= WEFT__NAME_MAX)
            n = WEFT__NAME_MAX - 1;
        memcpy(t->name, name, n);
        t->name[n] = 0;
        weft__store_relaxed(&t->named, 1);  /* published with the task */
    }
}

weft_task_t *weft__task_new(const weft_spawn_opts_t *o, void *(*fn)(void *),
                            void *arg, int refs, const void *site)
{
    size_t ss = o && o->stack_size ? o->stack_size : weft__rt.cfg.stack_size;
    if (ss < WEFT__STACK_MIN)
        ss = WEFT__STACK_MIN;
    if (ss > WEFT__STACK_MAX)
        return NULL;
    weft_task_t *t = weft__malloc(sizeof *t);
    if (!t)
        return NULL;
    memset(t, 0, sizeof *t);
    weft__worker_t *w = weft__worker_self();
    t->stack = weft__stack_get(w ? &w->stacks : NULL, ss);
    if (!t->stack) {
        weft__free(t);
        return NULL;
    }
    t->canary = t->stack->guard == WEFT__GUARD_CANARY;
    t->fn = fn;
    t->arg = arg;
    t->spawn_site = site;
    t->id = weft__fetch_add_relaxed(&weft__rt.next_id, 1);
    weft__store_relaxed(&t->refs, refs);
    weft__timer_init(&t->timer, t);
    t->dl = t->dl_inline;
    t->dl_cap = (int)(sizeof t->dl_inline / sizeof t->dl_inline[0]);
    name_task(t, o ? o->name : NULL);
    weft__fiber_init(&t->fiber, t->stack->lo, t->stack->size);
    t->fiber.sp = NULL;  /* its first frame is made when it first runs */
    /* Tasks spawned during shutdown start cancelled: they never run. */
    if (weft__load_seq_cst(&weft__rt.shutting_down))
        weft__store_seq_cst(&t->cancelled, 1);
    t->home = w ? w->id : 0;
    weft__worker_t *h = weft__rt.w ? weft__rt.w[t->home] : NULL;
    if (h) {
        weft__guard_lock(&h->all_lock);
        t->all_next = h->all;
        if (h->all)
            h->all->all_prev = t;
        h->all = t;
        weft__guard_unlock(&h->all_lock);
    }
    weft__fetch_add_seq_cst(&weft__rt.live, 1);
    if (w)
        weft__stat_inc(&w->st.spawned);
    return t;
}

/* The struct's own memory, once it is on no list. */
static void task_struct_free(weft_task_t *t)
{
    if (t->dl != t->dl_inline)
        weft__free(t->dl);
    weft__free(t);
}

static void task_free(weft_task_t *t)
{
    weft__worker_t *h = weft__rt.w ? weft__rt.w[t->home] : NULL;
    if (h) {
        weft__guard_lock(&h->all_lock);
        if (t->all_prev)
            t->all_prev->all_next = t->all_next;
        else
            h->all = t->all_next;
        if (t->all_next)
            t->all_next->all_prev = t->all_prev;
        weft__guard_unlock(&h->all_lock);
    }
    task_struct_free(t);
}

void weft__task_release(weft_task_t *t)
{
    if (weft__fetch_sub_acq_rel(&t->refs, 1) == 1)
        task_free(t);
}

/* On the worker's own stack, after t switched out for the last time. */
void weft__task_finish(weft__worker_t *w, weft_task_t *t)
{
    weft__fiber_fini(&t->fiber);
    weft__stack_put(&w->stacks, t->stack);
    t->stack = NULL;
    weft__guard_lock(&t->lock);
    weft__store_release(&t->done, 1);
    weft__waiter_t *x;
    while ((x = weft__waitq_pop(&t->joiners)))
        weft__waiter_wake(x, 0);
    weft__guard_unlock(&t->lock);
    /* seq_cst: Dekker with the shutdown waiter (store waiter; load live). */
    if (weft__fetch_sub_seq_cst(&weft__rt.live, 1) == 2 &&
        weft__load_seq_cst(&weft__rt.shutting_down)) {
        weft_task_t *m = weft__load_seq_cst(&weft__rt.shutdown_waiter);
        if (m && m != t)
            weft__wake(m, 0);
    }
    weft__task_release(t);
}

static void cancel_all_but(weft_task_t *self)
{
    for (int i = 0; i < weft__rt.nworkers; i++) {
        weft__worker_t *h = weft__rt.w[i];
        weft__guard_lock(&h->all_lock);
        for (weft_task_t *t = h->all; t; t = t->all_next)
            if (t != self && !weft__load_acquire(&t->done))
                weft_cancel(t);
        weft__guard_unlock(&h->all_lock);
    }
}

/* The main task returned: cancel the others and wait for them (asyncio.run
 * does the same), then stop the workers. Runs on the main task's stack. */
void weft__shutdown_from_main(weft_task_t *self)
{
    weft__store_seq_cst(&weft__rt.shutting_down, 1);
    weft__store_seq_cst(&weft__rt.shutdown_waiter, self);
    while (weft__load_seq_cst(&weft__rt.live) > 1) {
        cancel_all_but(self);
        weft__park_prepare(self, WEFT__PARK_NOINTR | WEFT__WAIT(WEFT__WAIT_SHUTDOWN), NULL);
        if (weft__load_seq_cst(&weft__rt.live) <= 1)
            weft__wake(self, 0);
        weft__park(self, WEFT_FOREVER, 0);
    }
    weft__stop_all_workers();
}

/* Tasks a deadlock left parked for good (diag.c): wait objects of the
 * program may still point at them and into their stacks, so they are kept,
 * reachable from here, for the life of the process. */
static weft_task_t *abandoned;

static void abandon(weft_task_t *t)
{
    t->all_next = abandoned;
    abandoned = t;
}

int weft__tasks_free_all(void)
{
    /* Handles never joined or detached: their tasks have finished (all
     * tasks are awaited at shutdown); only the structs remain. Unless a
     * deadlock stopped the workers. */
    int kept = 0;
    for (int i = 0; i < weft__rt.nworkers; i++) {
        weft__worker_t *h = weft__rt.w[i];
        while (h->all) {
            weft_task_t *t = h->all;
            h->all = t->all_next;
            if (weft__load_acquire(&t->done)) {
                task_struct_free(t);
            } else {
                abandon(t);
                kept++;
            }
        }
    }
    return kept;
}

/* ------------------------------------------------------------------------ */
/* weft_run                                                                  */
/* ------------------------------------------------------------------------ */

static weft__atomic(int) run_busy;

int weft_run(const weft_config_t *cfg, void *(*main_fn)(void *), void *arg,
             void **result)
{
    if (!main_fn)
        return -EINVAL;
    int zero = 0;
    if (!weft__cas_seq_cst(&run_busy, &zero, 1))
        return -EBUSY;
    weft__cfg_t c;
    int kept = 0;  /* tasks a deadlock abandoned */
    int rc = weft__config_resolve(cfg, &c);
    if (rc < 0)
        goto out;
    if (c.shuffle)  /* so a failing run's log names its seed */
        fprintf(stderr, "weft: WEFT_DEBUG_SHUFFLE=%ld: shuffled run and steal order\n", c.shuffle);
    const weft__poller_ops_t *pops = weft__poller_find(c.poller);
    if (!pops) {
        fprintf(stderr, "weft: poller \"%s\" is not built in\n", c.poller);
        rc = -EINVAL;
        goto out;
    }

    memset(&weft__rt, 0, sizeof weft__rt);
    weft__rt.cfg = c;
    weft__rt.pops = pops;
    weft__rt.topo = weft__topo_open();
    weft__rt.nworkers = c.workers > 0 ? c.workers : weft__topo_default_workers(weft__rt.topo);
    weft__rt.cfg.workers = weft__rt.nworkers;
    pthread_mutex_init(&weft__rt.lock, NULL);
    weft__store_relaxed(&weft__rt.next_id, 1);
    if ((rc = weft__trace_start(&weft__rt.cfg, weft__rt.nworkers)) < 0)
        goto teardown;

    /* The main task is made before the workers exist (rt.w is NULL): it is
     * homed on worker 0 once they do. */
    weft_task_t *m = weft__task_new(&(weft_spawn_opts_t){ .name = "main" }, main_fn, arg, 2,
                                    __builtin_return_address(0));
    if (!m) {
        rc = -ENOMEM;
        goto teardown;
    }
    weft__rt.main_task = m;
    /* Before the first worker thread: the zygote is forked from here. */
    rc = weft__procpool_start(c.processes);
    if (rc == 0 && (rc = weft__sched_start(m)) < 0)
        weft__procpool_stop();
    if (rc < 0) {
        weft__fiber_fini(&m->fiber);
        weft__stack_put(NULL, m->stack);
        task_struct_free(m);
        goto teardown;
    }
    if (result)
        *result = m->result;
    kept = weft__tasks_free_all();
    if (weft__load_acquire(&m->done)) {
        task_struct_free(m);  /* on no list: made before the workers */
    } else {
        abandon(m);
        kept++;
    }
    if (weft__load_relaxed(&weft__rt.deadlock))
        rc = -EDEADLK;
    weft__sched_wait_and_stop();
    weft__procpool_stop();
    weft__blocking_shutdown(weft__rt.cfg.blocking_shutdown_ms);
teardown:
    weft__trace_stop();  /* after the pool: its last calls are in the file */
    if (!kept)  /* else the abandoned tasks' stacks stay mapped */
        weft__stacks_release_all();
    weft__topo_close(weft__rt.topo);
    pthread_mutex_destroy(&weft__rt.lock);
    memset(&weft__rt, 0, sizeof weft__rt);
out:
    weft__store_seq_cst(&run_busy, 0);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Tasks                                                                     */
/* ------------------------------------------------------------------------ */

static int runtime_up(void)
{
    return weft__rt.w != NULL && !weft__load_acquire(&weft__rt.stopping);
}

static weft_task_t *spawn(const weft_spawn_opts_t *o, void *(*fn)(void *), void *arg,
                          const void *site)
{
    if (!fn || !runtime_up())
        return NULL;
    weft_task_t *t = weft__task_new(o, fn, arg, 2, site);
    if (t)
        weft__ready(t);  /* the LIFO slot, as Go does */
    return t;
}

weft_task_t *weft_spawn_ex(const weft_spawn_opts_t *o, void *(*fn)(void *), void *arg)
{
    return spawn(o, fn, arg, __builtin_return_address(0));
}

weft_task_t *weft_spawn(void *(*fn)(void *), void *arg)
{
    return spawn(NULL, fn, arg, __builtin_return_address(0));
}

int weft_go(void *(*fn)(void *), void *arg)
{
    if (!fn)
        return -EINVAL;
    if (!runtime_up())
        return -ESRCH;
    weft_task_t *t = weft__task_new(NULL, fn, arg, 1, __builtin_return_address(0));
    if (!t)
        return -ENOMEM;
    weft__ready(t);  /* the LIFO slot, as Go does */
    return 0;
}

void weft_detach(weft_task_t *t)
{
    if (t)
        weft__task_release(t);
}

int weft_cancel(weft_task_t *t)
{
    if (!t)
        return -EINVAL;
    /* seq_cst: Dekker with weft__park (store PARKING; load cancelled). */
    weft__store_seq_cst(&t->cancelled, 1);
    weft__wake_interrupt(t, -ECANCELED);
    return 0;
}

weft_task_t *weft_self(void)
{
    return weft__current();
}

int weft_worker_id(void)
{
    weft__worker_t *w = weft__worker_self();
    return w && weft__load_relaxed(&w->cur) ? w->id : -1;
}

int weft_workers(void)
{
    return weft__rt.w ? weft__rt.nworkers : 0;
}

int weft_yield(void)
{
    weft_task_t *self = weft__current();
    if (!self)
        return -EPERM;
    int rc = weft__check_interrupt(self);
    if (rc < 0)
        return rc;
    weft__switch_to_scheduler(self, WEFT__POST_YIELD);
    return 0;
}

int weft_sleep(uint64_t ns)
{
    weft_task_t *self = weft__current();
    if (!self) {
        struct timespec ts = { (time_t)(ns / 1000000000u), (long)(ns % 1000000000u) };
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
            ;
        return 0;
    }
    if (ns == 0)
        return weft_yield();
    weft__park_prepare(self, WEFT__WAIT(WEFT__WAIT_SLEEP), NULL);
    return weft__park(self, add_sat(weft_now(), ns), 0);
}

/* ------------------------------------------------------------------------ */
/* Deadlines                                                                 */
/* ------------------------------------------------------------------------ */

void weft_deadline_push(uint64_t timeout_ns)
{
    weft_task_t *t = weft__current();
    if (!t)
        return;
    uint64_t d = add_sat(weft_now(), timeout_ns);
    if (t->dl_n > 0 && t->dl[t->dl_n - 1] < d)
        d = t->dl[t->dl_n - 1];  /* an inner scope cannot extend an outer one */
    if (t->dl_n == t->dl_cap) {
        int cap = t->dl_cap * 2;
        uint64_t *n = t->dl == t->dl_inline ? weft__malloc(sizeof *n * (size_t)cap)
                                            : weft__realloc(t->dl, sizeof *n * (size_t)cap);
        if (!n) {
            /* No room: this scope shares the enclosing deadline; the pop
             * still matches. Losing the tightening beats aborting. */
            t->dl_lost++;
            return;
        }
        if (t->dl == t->dl_inline)
            memcpy(n, t->dl_inline, sizeof t->dl_inline);
        t->dl = n;
        t->dl_cap = cap;
    }
    t->dl[t->dl_n++] = d;
}

void weft_deadline_pop(void)
{
    weft_task_t *t = weft__current();
    if (!t)
        return;
    if (t->dl_lost > 0)
        t->dl_lost--;
    else if (t->dl_n > 0)
        t->dl_n--;
}

/* ------------------------------------------------------------------------ */
/* Joining                                                                   */
/* ------------------------------------------------------------------------ */

/* Wait until one of ts[0..n) is done or the wait ends otherwise; returns the
 * index of a done task, or a negative code. flags: WEFT__PARK_NOINTR. */
static int wait_done(weft_task_t *const *ts, size_t n, uint64_t until, int flags)
{
    for (size_t i = 0; i < n; i++)
        if (weft__load_acquire(&ts[i]->done))
            return (int)i;
    weft__thread_parker_t tp;
    weft__waiter_t me, one, *ws = &one;
    if (n > 1) {
        ws = weft__calloc(n, sizeof *ws);
        if (!ws)
            return -ENOMEM;
    }
    weft__waiter_prepare(&me, &tp,
                         flags | WEFT__WAIT(n == 1 ? WEFT__WAIT_JOIN : WEFT__WAIT_JOIN_ANY), ts[0]);
    size_t reg = 0;
    int ready = -1;
    for (; reg < n; reg++) {
        weft__waiter_t *x = &ws[reg];
        memset(x, 0, sizeof *x);
        x->task = me.task;
        x->thread = me.thread;
        weft__guard_lock(&ts[reg]->lock);
        if (weft__load_acquire(&ts[reg]->done))
            ready = (int)reg;
        else
            weft__waitq_push(&ts[reg]->joiners, x);
        weft__guard_unlock(&ts[reg]->lock);
        if (ready >= 0)
            break;
    }
    if (ready >= 0)
        weft__waiter_wake(&me, 0);  /* end our own wait before it starts */
    int rc = weft__waiter_sleep(&me, until);
    /* One task, woken with 0: only its finish wakes joiners so, and it
     * popped our waiter first. Otherwise some may still be queued. */
    if (n == 1 && rc == 0)
        reg = 0;
    for (size_t i = 0; i < reg; i++) {
        weft__guard_lock(&ts[i]->lock);
        weft__waitq_remove(&ts[i]->joiners, &ws[i]);
        weft__guard_unlock(&ts[i]->lock);
    }
    weft__waiter_done(&me);
    if (ws != &one)
        weft__free(ws);
    /* Whatever ended the wait, a finished task wins (lowest index). */
    for (size_t i = 0; i < n; i++)
        if (weft__load_acquire(&ts[i]->done))
            return (int)i;
    return rc < 0 ? rc : -EAGAIN;
}

static int join_until(weft_task_t *t, void **result, uint64_t until, int flags)
{
    int rc;
    do
        rc = wait_done(&t, 1, until, flags);
    while (rc == -EAGAIN);  /* woken without t done: cannot happen, be safe */
    if (rc < 0)
        return rc;
    if (result)
        *result = t->result;
    weft__task_release(t);
    return 0;
}

int weft_join(weft_task_t *t, void **result)
{
    if (!t || t == weft__current())
        return -EINVAL;
    return join_until(t, result, WEFT_FOREVER, 0);
}

/* Cancel t and wait for it whatever happens to the caller; frees t. */
static void cancel_and_reap(weft_task_t *t)
{
    weft_cancel(t);
    join_until(t, NULL, WEFT_FOREVER, WEFT__PARK_NOINTR);
}

int weft_wait_for(weft_task_t *t, uint64_t timeout_ns, void **result)
{
    if (!t || t == weft__current())
        return -EINVAL;
    int rc = join_until(t, result, add_sat(weft_now(), timeout_ns), 0);
    if (rc < 0)
        cancel_and_reap(t);
    return rc;
}

int weft_wait_any(weft_task_t *const *ts, size_t n, uint64_t timeout_ns)
{
    if (!ts || n == 0 || n > INT32_MAX)
        return -EINVAL;
    weft_task_t *self = weft__current();
    for (size_t i = 0; i < n; i++)
        if (!ts[i] || ts[i] == self)
            return -EINVAL;
    uint64_t until = timeout_ns == WEFT_FOREVER ? WEFT_FOREVER : add_sat(weft_now(), timeout_ns);
    int rc;
    do
        rc = wait_done(ts, n, until, 0);
    while (rc == -EAGAIN);
    return rc;
}

int weft_join_all(weft_task_t *const *ts, size_t n, void **results)
{
    if (n > 0 && !ts)
        return -EINVAL;
    weft_task_t *self = weft__current();
    for (size_t i = 0; i < n; i++)
        if (!ts[i] || ts[i] == self)
            return -EINVAL;
    for (size_t i = 0; i < n; i++) {
        int rc = join_until(ts[i], results ? &results[i] : NULL, WEFT_FOREVER, 0);
        if (rc < 0) {
            /* gather was interrupted: no handle may leak. */
            for (size_t j = i; j < n; j++)
                weft_cancel(ts[j]);
            for (size_t j = i; j < n; j++)
                cancel_and_reap(ts[j]);
            return rc;
        }
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Errors                                                                    */
/* ------------------------------------------------------------------------ */

const char *weft_strerror(int err)
{
    switch (err) {
    case 0:          return "success";
    case -ECANCELED: return "task cancelled";
    case -ETIMEDOUT: return "deadline passed";
    case -EBUSY:     return "runtime already running";
    case -ESRCH:     return "no runtime running";
    case -EDEADLK:   return "deadlock: every task parked, nothing can wake one";
    case -EPERM:     return "not called from a weft task";
    default:
        break;
    }
    if (err < 0 && err > -4096) {
        /* strerror's table is static and read-only in glibc and musl. */
        return strerror(-err);
    }
    return "unknown weft error";
}
