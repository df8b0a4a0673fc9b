/* Diagnostics: task names from symbols, the deadlock report, the hog
 * watchdog and the metrics snapshot (docs/diagnostics.md).
 *
 * None of it is on a hot path. Names are resolved when first asked for
 * (weft_task_name, a report, a trace), not at spawn; the deadlock check runs
 * only when the last worker is about to sleep with no timer armed; the
 * watchdog is a thread of its own that reads the tick counts the workers
 * publish anyway. */
#include "sched.h"

#include <dlfcn.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifdef WEFT_WITH_LIBDW
#include <elfutils/libdwfl.h>
#endif

#include "alloc.h"

/* ------------------------------------------------------------------------ */
/* Symbols                                                                   */
/* ------------------------------------------------------------------------ */

/* One lock for the symboliser and the lazy task names: both are rare. */
static pthread_mutex_t sym_lock = PTHREAD_MUTEX_INITIALIZER;

#ifdef WEFT_WITH_LIBDW
/* libdw reads .symtab and the line tables, so a program's static
 * functions have names without -rdynamic; dladdr sees exported symbols
 * only. The module list is taken once; a miss (a library dlopen'ed since)
 * takes it again. */
static Dwfl *dwfl;

static Dwfl *dwfl_open(void)
{
    static const Dwfl_Callbacks cb = {
        .find_elf = dwfl_linux_proc_find_elf,
        .find_debuginfo = dwfl_standard_find_debuginfo,
    };
    Dwfl *d = dwfl_begin(&cb);
    if (!d)
        return NULL;
    if (dwfl_linux_proc_report(d, getpid()) != 0 || dwfl_report_end(d, NULL, NULL) != 0) {
        dwfl_end(d);
        return NULL;
    }
    return d;
}

static Dwfl_Module *module_of(uintptr_t a)
{
    Dwfl_Module *m = dwfl ? dwfl_addrmodule(dwfl, a) : NULL;
    if (!m) {
        if (dwfl)
            dwfl_end(dwfl);
        dwfl = dwfl_open();
        m = dwfl ? dwfl_addrmodule(dwfl, a) : NULL;
    }
    return m;
}
#endif

/* sym_lock held: the name of the function containing addr into name, and
 * when `where` is not NULL its source position ("file.c:42", or the
 * module) into where. 0, or -ENOENT when nothing is known (then name holds
 * the address). */
static int symbolize(const void *addr, char *name, size_t n, char *where, size_t wn)
{
    uintptr_t a = (uintptr_t)addr;
    if (where && wn)
        where[0] = 0;
#ifdef WEFT_WITH_LIBDW
    Dwfl_Module *m = module_of(a);
    const char *s = m ? dwfl_module_addrname(m, a) : NULL;
    if (s) {
        snprintf(name, n, "%s", s);
        if (where && wn) {
            Dwfl_Line *l = dwfl_module_getsrc(m, a);
            int line = 0;
            const char *file = l ? dwfl_lineinfo(l, NULL, &line, NULL, NULL, NULL) : NULL;
            if (file) {
                const char *base = strrchr(file, '/');
                snprintf(where, wn, "%s:%d", base ? base + 1 : file, line);
            }
        }
        return 0;
    }
#endif
    Dl_info di;
    if (dladdr(addr, &di) && di.dli_sname) {
        snprintf(name, n, "%s", di.dli_sname);
        return 0;
    }
    if (dladdr(addr, &di) && di.dli_fname) {
        const char *base = strrchr(di.dli_fname, '/');
        snprintf(name, n, "%s+0x%" PRIxPTR, base ? base + 1 : di.dli_fname,
                 a - (uintptr_t)di.dli_fbase);
        return -ENOENT;
    }
    snprintf(name, n, "0x%" PRIxPTR, a);
    return -ENOENT;
}

/* sym_lock held: the name of a task running fn, from its symbol, else
 * "task-<id>". Names of functions are cached: a trace names many tasks
 * that run the same few. */
static void fn_name_locked(void *(*fn)(void *), uint64_t id, char *b, size_t n)
{
    static struct {
        void *(*fn)(void *);
        int   found;
        char  name[WEFT__NAME_MAX];
    } cache[256];
    size_t k = ((uintptr_t)fn >> 4) * 0x9e3779b97f4a7c15ull >> 56;
    if (cache[k].fn != fn) {
        cache[k].found = symbolize((const void *)(uintptr_t)fn, cache[k].name,
                                   sizeof cache[k].name, NULL, 0) == 0;
        cache[k].fn = fn;
    }
    if (cache[k].found)
        snprintf(b, n, "%s", cache[k].name);
    else
        snprintf(b, n, "task-%" PRIu64, id);
}

void weft__fn_name(void *(*fn)(void *), uint64_t id, char *b, size_t n)
{
    pthread_mutex_lock(&sym_lock);
    fn_name_locked(fn, id, b, n);
    pthread_mutex_unlock(&sym_lock);
}

const char *weft_task_name(const weft_task_t *ct)
{
    if (!ct)
        return "(null)";
    weft_task_t *t = (weft_task_t *)ct;
    /* acquire: pairs with the release below, for the name's bytes. */
    if (weft__load_acquire(&t->named))
        return t->name;
    pthread_mutex_lock(&sym_lock);
    if (!weft__load_relaxed(&t->named)) {
        fn_name_locked(t->fn, t->id, t->name, sizeof t->name);
        weft__store_release(&t->named, 1);
    }
    pthread_mutex_unlock(&sym_lock);
    return t->name;
}

/* What a report says of a task, copied out of it (the copy needs no lock
 * to describe: symbol lookups can take milliseconds). */
typedef struct task_info {
    char        name[WEFT__NAME_MAX];  /* "": not named yet */
    void     *(*fn)(void *);
    uint64_t    id;
    const void *site;
} task_info_t;

static void task_info(weft_task_t *t, task_info_t *i)
{
    i->name[0] = 0;
    if (weft__load_acquire(&t->named))
        memcpy(i->name, t->name, sizeof i->name);
    i->fn = t->fn;
    i->id = t->id;
    i->site = t->spawn_site;
}

/* "'name' (#id, spawned at file.c:42 in fn)" into b. */
static void describe(const task_info_t *i, char *b, size_t n)
{
    char name[WEFT__NAME_MAX], fn[64] = "", where[96] = "";
    pthread_mutex_lock(&sym_lock);
    if (i->name[0])
        memcpy(name, i->name, sizeof name);
    else
        fn_name_locked(i->fn, i->id, name, sizeof name);
    if (i->site)  /* a return address: the call is the byte before */
        symbolize((const char *)i->site - 1, fn, sizeof fn, where, sizeof where);
    pthread_mutex_unlock(&sym_lock);
    if (!i->site)
        snprintf(b, n, "'%s' (#%" PRIu64 ")", name, i->id);
    else if (where[0])
        snprintf(b, n, "'%s' (#%" PRIu64 ", spawned at %s in %s)", name, i->id, where, fn);
    else
        snprintf(b, n, "'%s' (#%" PRIu64 ", spawned in %s)", name, i->id, fn);
}

static void describe_task(weft_task_t *t, char *b, size_t n)
{
    task_info_t i;
    task_info(t, &i);
    describe(&i, b, n);
}

/* ------------------------------------------------------------------------ */
/* Deadlock report                                                           */
/* ------------------------------------------------------------------------ */

/* Threads outside weft that may still wake a task (weft_waker_add). */
static weft__atomic(long) wakers;

int weft_waker_add(int n)
{
    long cur = weft__load_relaxed(&wakers);
    do {
        if (cur + n < 0)
            return -EINVAL;
    } while (!weft__cas_seq_cst(&wakers, &cur, cur + n));
    return 0;
}

long weft__wakers(void)
{
    return weft__load_seq_cst(&wakers);
}

static const char *wait_text(int kind)
{
    switch (kind) {
    case WEFT__WAIT_SLEEP:        return "the end of an endless sleep";
    case WEFT__WAIT_JOIN:         return "join of task";
    case WEFT__WAIT_JOIN_ANY:     return "any of several tasks, first";
    case WEFT__WAIT_SHUTDOWN:     return "the other tasks to end (main returned)";
    case WEFT__WAIT_MUTEX:        return "lock of mutex";
    case WEFT__WAIT_COND:         return "condition";
    case WEFT__WAIT_EVENT:        return "event";
    case WEFT__WAIT_SEM:          return "acquire of semaphore";
    case WEFT__WAIT_WG:           return "wait group";
    case WEFT__WAIT_RWLOCK_READ:  return "read lock of rwlock";
    case WEFT__WAIT_RWLOCK_WRITE: return "write lock of rwlock";
    case WEFT__WAIT_FUTURE:       return "future";
    case WEFT__WAIT_SEND:         return "send on channel";
    case WEFT__WAIT_RECV:         return "receive on channel";
    case WEFT__WAIT_SELECT:       return "select over channels, first";
    case WEFT__WAIT_FD:           return "fd readiness";
    case WEFT__WAIT_BLOCKING:     return "a blocking-pool call";
    default:                      return "nothing known";
    }
}

static void report_task(weft_task_t *t)
{
    char who[256], obj[256] = "";
    describe_task(t, who, sizeof who);
    int kind = t->wait_kind;
    if ((kind == WEFT__WAIT_JOIN || kind == WEFT__WAIT_JOIN_ANY) && t->wait_obj)
        describe_task((weft_task_t *)(uintptr_t)t->wait_obj, obj, sizeof obj);
    else if (t->wait_obj)
        snprintf(obj, sizeof obj, "%p", t->wait_obj);
    fprintf(stderr, "weft:   task %s: waits for %s%s%s\n", who, wait_text(kind),
            obj[0] ? " " : "", obj);
}

/* Calls f on every task not yet finished, the main task first; all the
 * all_locks held (no task can be freed meanwhile). */
static int for_each_live(void (*f)(weft_task_t *))
{
    int n = 0;
    for (int i = 0; i < weft__rt.nworkers; i++)
        weft__guard_lock(&weft__rt.w[i]->all_lock);
    weft_task_t *m = weft__rt.main_task;
    if (m && !weft__load_acquire(&m->done)) {
        n++;
        if (f)
            f(m);
    }
    for (int i = 0; i < weft__rt.nworkers; i++)
        for (weft_task_t *t = weft__rt.w[i]->all; t; t = t->all_next)
            if (t != m && !weft__load_acquire(&t->done)) {
                n++;
                if (f)
                    f(t);
            }
    for (int i = weft__rt.nworkers - 1; i >= 0; i--)
        weft__guard_unlock(&weft__rt.w[i]->all_lock);
    return n;
}

static void cancel_task(weft_task_t *t)
{
    weft_cancel(t);
}

int weft__deadlock_stage(void)
{
    return weft__load_seq_cst(&weft__rt.deadlock);
}

void weft__deadlock(int stage)
{
    int next = stage == 0 ? 1 : 3;
    if (stage != 0 && stage != 2)
        return;
    if (!weft__cas_seq_cst(&weft__rt.deadlock, &stage, next))
        return;  /* another worker got here first */
    int n = for_each_live(NULL);
    if (next == 1) {
        fprintf(stderr, "weft: deadlock: %d task%s parked and nothing can wake %s\n", n,
                n == 1 ? " is" : "s are", n == 1 ? "it" : "them");
        for_each_live(report_task);
        fprintf(stderr, "weft: deadlock: cancelling every task; weft_run returns -EDEADLK\n");
        for_each_live(cancel_task);
        /* seq_cst: a worker that reads 2 also sees the cancellations'
         * wake-ups (the tasks they queued). */
        weft__store_seq_cst(&weft__rt.deadlock, 2);
    } else {
        fprintf(stderr,
                "weft: deadlock: %d task%s still parked after the cancellation, in waits "
                "that cannot be cancelled; abandoned (their memory stays allocated):\n",
                n, n == 1 ? " is" : "s are");
        for_each_live(report_task);
        weft__stop_all_workers();
    }
}

/* ------------------------------------------------------------------------ */
/* Hog watchdog                                                              */
/* ------------------------------------------------------------------------ */

static struct {
    pthread_t       thread;
    pthread_mutex_t lock;
    pthread_cond_t  cond;
    int             running, stop;
    /* per worker: the tick count last seen, since when, reported yet */
    uint32_t       *last;
    uint64_t       *since;
    uint8_t        *told;
} dog = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void report_hog(weft__worker_t *w, uint32_t ticks, uint64_t ns)
{
    task_info_t info;
    int found = 0;
    for (int i = 0; i < weft__rt.nworkers; i++)
        weft__guard_lock(&weft__rt.w[i]->all_lock);
    /* With every all_lock held no task can be freed; a task still current
     * on w at the same tick is the one that held it all along. The locks
     * are held only to copy it: other workers spawn and free meanwhile. */
    weft_task_t *t = weft__load_relaxed(&w->cur);
    if (t && weft__load_relaxed(&w->ticks) == ticks) {
        task_info(t, &info);
        found = 1;
    }
    for (int i = weft__rt.nworkers - 1; i >= 0; i--)
        weft__guard_unlock(&weft__rt.w[i]->all_lock);
    char who[256];
    if (found) {
        describe(&info, who, sizeof who);
        fprintf(stderr,
                "weft: watchdog: task %s has held worker %d for %" PRIu64
                " ms without a suspension point (WEFT_WATCHDOG_MS=%d)\n",
                who, w->id, ns / 1000000u, weft__rt.cfg.watchdog_ms);
    }
}

static void *watchdog_main(void *unused)
{
    (void)unused;
#if defined(__linux__)
    pthread_setname_np(pthread_self(), "weft-watchdog");
#endif
    int n = weft__rt.nworkers;
    uint64_t limit = (uint64_t)weft__rt.cfg.watchdog_ms * 1000000u;
    /* Sample 4 times per limit: a hog is reported between 1x and 1.25x. */
    uint64_t period = limit / 4;
    uint32_t *last = dog.last;
    uint64_t *since = dog.since;
    uint8_t *told = dog.told;
    uint64_t now = weft_now();
    for (int i = 0; i < n; i++) {
        last[i] = weft__load_relaxed(&weft__rt.w[i]->ticks);
        since[i] = now;
    }
    pthread_mutex_lock(&dog.lock);
    while (!dog.stop) {
        uint64_t t = weft_now() + period;
        struct timespec ts = { (time_t)(t / 1000000000u), (long)(t % 1000000000u) };
        pthread_cond_timedwait(&dog.cond, &dog.lock, &ts);
        if (dog.stop)
            break;
        pthread_mutex_unlock(&dog.lock);
        now = weft_now();
        for (int i = 0; i < n; i++) {
            weft__worker_t *w = weft__rt.w[i];
            /* A worker ticks each time it looks for a task; one that has
             * not ticked for `limit` is idle or stuck in one task. */
            uint32_t k = weft__load_relaxed(&w->ticks);
            if (k != last[i]) {
                last[i] = k;
                since[i] = now;
                told[i] = 0;
            } else if (!told[i] && now - since[i] >= limit &&
                       weft__load_relaxed(&w->cur) != NULL) {
                told[i] = 1;  /* once per episode */
                report_hog(w, k, now - since[i]);
            }
        }
        pthread_mutex_lock(&dog.lock);
    }
    pthread_mutex_unlock(&dog.lock);
    return NULL;
}

static void dog_free(void)
{
    weft__free(dog.last);
    weft__free(dog.since);
    weft__free(dog.told);
    dog.last = NULL;
    dog.since = NULL;
    dog.told = NULL;
}

void weft__watchdog_start(void)
{
    if (weft__rt.cfg.watchdog_ms <= 0)
        return;
    /* Allocated here, not by the thread: a thread's first allocation may
     * map memory for it, at a moment nobody chose (a test squeezing the
     * address space saw it). */
    size_t n = (size_t)weft__rt.nworkers;
    dog.last = weft__calloc(n, sizeof *dog.last);
    dog.since = weft__calloc(n, sizeof *dog.since);
    dog.told = weft__calloc(n, 1);
    if (!dog.last || !dog.since || !dog.told) {
        dog_free();
        fprintf(stderr, "weft: watchdog: out of memory; no hog reports\n");
        return;
    }
    pthread_condattr_t a;
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    pthread_cond_init(&dog.cond, &a);
    pthread_condattr_destroy(&a);
    dog.stop = 0;
    /* Without the thread there is no report; the runtime runs on. */
    dog.running = pthread_create(&dog.thread, NULL, watchdog_main, NULL) == 0;
    if (!dog.running) {
        fprintf(stderr, "weft: watchdog: cannot start its thread; no hog reports\n");
        pthread_cond_destroy(&dog.cond);
        dog_free();
    }
}

void weft__watchdog_stop(void)
{
    if (!dog.running)
        return;
    pthread_mutex_lock(&dog.lock);
    dog.stop = 1;
    pthread_cond_signal(&dog.cond);
    pthread_mutex_unlock(&dog.lock);
    pthread_join(dog.thread, NULL);
    pthread_cond_destroy(&dog.cond);
    dog_free();
    dog.running = 0;
}

/* ------------------------------------------------------------------------ */
/* Metrics                                                                   */
/* ------------------------------------------------------------------------ */

static void worker_stats(weft__worker_t *w, weft_worker_stats_t *o)
{
    weft__stats_t *s = &w->st;
    o->tasks_run = weft__load_relaxed(&s->tasks_run);
    o->spawned = weft__load_relaxed(&s->spawned);
    o->steals_in = weft__load_relaxed(&s->steals_in);
    o->steals_out = weft__load_relaxed(&s->steals_out);
    o->parks = weft__load_relaxed(&s->parks);
    o->polls = weft__load_relaxed(&s->polls);
    o->timers_fired = weft__load_relaxed(&s->timers_fired);
    o->overflows = weft__load_relaxed(&s->overflows);
    o->queue_depth = (uint32_t)weft__runq_len(&w->rq) +
                     (weft__load_relaxed(&w->next) != NULL);
    o->stacks_cached = (uint32_t)weft__load_relaxed(&w->stacks.n);
    o->running = weft__load_relaxed(&w->cur) != NULL;
}

static void global_stats(weft_stats_t *s)
{
    memset(s, 0, sizeof *s);
    s->workers = weft__rt.nworkers;
    s->live_tasks = (uint64_t)weft__load_relaxed(&weft__rt.live);
    s->injected = weft__load_relaxed(&weft__rt.gq_len);
    s->idle_workers = weft__idle_count(&weft__rt.idle);
    weft__blocking_stats(&s->blocking_threads, &s->blocking_busy, &s->blocking_idle,
                         &s->blocking_queued);
    s->stacks_pooled = weft__stack_pooled();
    for (int i = 0; i < weft__rt.nworkers; i++)
        s->stacks_cached += (size_t)weft__load_relaxed(&weft__rt.w[i]->stacks.n);
}

/* A task's call: the runtime is up for as long as any task runs. From a
 * plain thread the program must not let weft_run return meanwhile (the
 * same rule as for weft_cancel on a task handle). */
int weft_stats(weft_stats_t *s, weft_worker_stats_t *per_worker, int n)
{
    if (!s || n < 0 || (n > 0 && !per_worker))
        return -EINVAL;
    if (!weft__rt.w)
        return -ESRCH;
    global_stats(s);
    for (int i = 0; i < n && i < weft__rt.nworkers; i++)
        worker_stats(weft__rt.w[i], &per_worker[i]);
    return weft__rt.nworkers;
}

void weft__print_stats(void)
{
    weft_stats_t g;
    global_stats(&g);
    fprintf(stderr, "weft: stats: %d workers, poller %s, stack %zu KiB\n",
            weft__rt.nworkers, weft__rt.pops->name, weft__rt.cfg.stack_size / 1024);
    fprintf(stderr, "weft: %6s %11s %11s %10s %10s %9s %10s %9s %9s %6s\n", "worker",
            "tasks_run", "spawned", "steals_in", "steals_out", "parks", "polls",
            "timers", "overflows", "stacks");
    for (int i = 0; i < weft__rt.nworkers; i++) {
        weft_worker_stats_t o;
        worker_stats(weft__rt.w[i], &o);
        fprintf(stderr,
                "weft: %6d %11" PRIu64 " %11" PRIu64 " %10" PRIu64 " %10" PRIu64 " %9" PRIu64
                " %10" PRIu64 " %9" PRIu64 " %9" PRIu64 " %6u\n",
                i, o.tasks_run, o.spawned, o.steals_in, o.steals_out, o.parks, o.polls,
                o.timers_fired, o.overflows, o.stacks_cached);
    }
    fprintf(stderr,
            "weft: blocking pool: %d threads (%d busy, %d idle), %d calls queued; "
            "stacks: %zu cached, %zu pooled\n",
            g.blocking_threads, g.blocking_busy, g.blocking_idle, g.blocking_queued,
            g.stacks_cached, g.stacks_pooled);
}
