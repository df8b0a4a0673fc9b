/* weft's scheduler: workers, run queues, the spinning/parking protocol and
 * the park/wake state machine of tasks.
 *
 * ---- Glossary ---------------------------------------------------------------
 * task     a stackful coroutine (struct weft_task): a function, its stack,
 *          its saved registers. Runs on any worker; moves between them.
 * worker   an OS thread, one per allowed core, that runs tasks. It owns a
 *          run queue, a LIFO "next" slot, a timer heap, a poller and a
 *          stack cache.
 * runq     the worker's fixed ring of 256 runnable tasks (runq.h): the owner
 *          pushes at the tail and pops at the head, thieves take half.
 * next     one slot holding the task the worker woke or spawned last; run
 *          before the ring (message-passing latency), at most 3 times in a
 *          row (then it goes to the ring tail), never for a yielded task.
 * inject   the global injection queue (rt.lock): tasks made runnable off the
 *          workers, and the older half of a full ring. Checked before the
 *          own queue every 61st tick so nothing in it starves.
 * spinning a worker out of work that is looking for some (stealing). At most
 *          half the busy workers spin at once.
 * parked   a worker asleep in its poller, on the idle list (rt.idle).
 * poller   the worker's event loop (io/poller.h); it sleeps in it with the
 *          earliest timer of all workers as timeout, woken by an eventfd.
 *
 * ---- Rejected alternatives --------------------------------------------------
 * - Chase-Lev deques: resizing needs safe reclamation of old buffers and is
 *   where published C11 versions went wrong; a fixed ring with overflow to the
 *   injection queue (Go, Tokio) needs neither.
 * - One shared queue: simple, but every push/pop contends one line.
 * - Waking a worker per new task: a thundering herd; instead only one worker
 *   spins at a time per burst, and a worker that finds work wakes the next.
 *
 * ---- The wake-up protocol (no lost wake-up, no thundering herd) -----------
 * Its code is sched/idle.h, which the Relacy model (tests/model/) compiles
 * too; sched.c supplies the queues to re-check, the sleep and the wake.
 * Producer (made a task runnable: pushed to a ring, the next slot or inject):
 *     [publish the task]; fence(seq_cst);
 *     if nspinning == 0 && nidle > 0 && CAS(nspinning, 0 -> 1):
 *         pop an idle worker, mark it spinning, wake its poller.
 * Consumer (out of work, about to sleep):
 *     lock; join idle_list; nidle++; if spinning: nspinning--; unlock;
 *     fence(seq_cst);
 *     re-check every ring, next slot and inject; if any has work: leave the
 *     idle list and search again; else sleep in the poller.
 * The two fences make this Dekker's pattern: either the producer sees the
 * consumer idle (and wakes it, or sees someone spinning who will find the
 * work), or the consumer's re-check sees the task. A spinning worker that
 * finds work stops spinning, and if it was the last spinner it wakes another
 * (work tends to come in bursts; Go's resetspinning): a producer that saw it
 * spinning relied on it, and this hands the duty on. A worker counts itself
 * as a spinner with one CAS that checks the bound, so the bound is exact.
 *
 * ---- Parking a task ---------------------------------------------------------
 * t->pstate is one atomic word: phase (RUNNING, PARKING, PARKED, WOKEN), the
 * NOINTR flag and, once WOKEN, the wake code. A task announces PARKING before
 * it registers on a wait object, then switches to its worker, which moves it
 * PARKING -> PARKED *after* the task's registers are saved. A waker moves
 * PARKING or PARKED -> WOKEN with one CAS; only from PARKED does the waker
 * enqueue the task, from PARKING the worker does (its CAS fails). So a task
 * is never resumed before it is fully switched out, and exactly one wake
 * ends each park. Cancellation sets t->cancelled, then tries the same CAS
 * unless the park is NOINTR; the park re-checks t->cancelled after storing
 * PARKING (both seq_cst), so one of them sees the other.
 *
 * ---- Pollers and busy workers ----------------------------------------------
 * Each worker's poller also holds the fds first waited on there (io/fd.c).
 * A worker harvests its own poller without blocking every POLL_EVERY ticks
 * and whenever its queues run dry, the other workers' pollers before it
 * parks: a task hogging its worker in a CPU loop must not strand the
 * connections registered there. A parking worker also *watches* the poller
 * of every worker that is busy (not idle) at that moment (ops->watch: it
 * wakes when that poller has fd events and harvests them). A worker that
 * leaves a park and finds work while nobody watches it wakes one sleeper
 * (`unparked`, in found()), which parks again watching it. The watch set and
 * the watcher counts live under rt.lock, as do `idle` and the idle list, so
 * either the sleeper sees the worker busy, or the worker sees the sleeper
 * idle and not watching it.
 * A worker with work of its own never parks nor steals, so every
 * POLL_EVERY ticks it also looks for a worker whose published tick count
 * has not moved since its last look (stuck in one task), harvests that
 * worker's poller and steals from its queue.
 *
 * ---- Invariants -------------------------------------------------------------
 * 1. A task is in at most one place: a ring, a next slot, inject, or running.
 * 2. Only the worker running a task touches its stack, fiber and deadlines.
 * 3. A timer fires under its heap lock, and a task disarms its timer under
 *    that lock before it can park again: a stale timer never ends a later park.
 * 4. A waiter is woken under its wait object's lock and dequeues itself under
 *    it; likewise joiners under the task's lock.
 * 5. Lock order: wait object / task lock -> timer heap lock -> rt.lock, and
 *    a worker's all_lock -> rt.lock (shutdown cancels under all_lock).
 *    No lock is held across a switch.
 * 6. live counts tasks spawned and not finished; the main task waits for it
 *    to reach 1 (itself) during shutdown.
 */
#include "sched.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "alloc.h"
#include "trace.h"

weft__rt_t weft__rt;

#define INJECT_EVERY 61     /* ticks between inject checks (Go's prime)   */
#define LIFO_MAX     3       /* next-slot runs in a row (Tokio's cap)       */
#define STEAL_ROUNDS 4
#define NEXT_GRACE_NS 3000  /* before stealing a next slot (Go's 3 us)    */
#define POLL_EVERY   61      /* ticks between harvests of the own poller    */

/* splitmix64: a bijective mixer, for seeds and for plain threads. */
static uint64_t splitmix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* Owner: the next number of w's xorshift64* generator. */
static uint32_t worker_rand(weft__worker_t *w)
{
    uint64_t x = w->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    w->rng = x;
    return (uint32_t)((x * 0x2545f4914f6cdd1dull) >> 32);
}

/* WEFT_DEBUG_SHUFFLE: true about once in `one_in` calls when the switch is
 * on, never when it is off (one predictable branch). Owner only. */
static int shuffle(weft__worker_t *w, uint32_t one_in)
{
    return weft__rt.cfg.shuffle != 0 && worker_rand(w) % one_in == 0;
}

static uint64_t now_ns(void)
{
    return weft_now();
}

/* ------------------------------------------------------------------------ */
/* Injection queue (rt.lock)                                                 */
/* ------------------------------------------------------------------------ */

/* The injection queue holds task pointers in chunks, not a list through
 * the tasks: moving half a ring there copies pointers, and taking tasks out
 * reads them in order, without touching the tasks (cold, in a burst of
 * spawns: in skynet a pop through a list was one cache miss per task, a
 * fifth of the run). Should no chunk be had, tasks queue through qnext on
 * a list behind the chunks (order among them is then not kept). */

/* rt.lock held: a chunk with room at the tail, or NULL. */
static weft__inj_chunk_t *inject_room_locked(void)
{
    weft__inj_chunk_t *c = weft__rt.gq_last;
    if (c && c->tail < WEFT__INJ_CHUNK)
        return c;
    c = weft__rt.gq_spare;
    if (c)
        weft__rt.gq_spare = NULL;
    else if (!(c = weft__malloc(sizeof *c)))
        return NULL;
    c->next = NULL;
    c->head = c->tail = 0;
    if (weft__rt.gq_last)
        weft__rt.gq_last->next = c;
    else
        weft__rt.gq_first = c;
    weft__rt.gq_last = c;
    return c;
}

/* rt.lock held: append ts[0..n). */
static void inject_push_locked(weft_task_t *const *ts, size_t n)
{
    weft__store_relaxed(&weft__rt.gq_len, weft__load_relaxed(&weft__rt.gq_len) + n);
    while (n > 0) {
        weft__inj_chunk_t *c = inject_room_locked();
        if (!c)
            break;
        size_t k = WEFT__INJ_CHUNK - c->tail;
        if (k > n)
            k = n;
        memcpy(&c->t[c->tail], ts, k * sizeof *ts);
        c->tail += (uint32_t)k;
        ts += k;
        n -= k;
    }
    for (; n > 0; n--, ts++) {  /* out of memory: the list */
        (*ts)->qnext = NULL;
        if (weft__rt.gq_tail)
            weft__rt.gq_tail->qnext = *ts;
        else
            weft__rt.gq_head = *ts;
        weft__rt.gq_tail = *ts;
    }
}

/* rt.lock held. */
static weft_task_t *inject_pop_locked(void)
{
    weft_task_t *t;
    weft__inj_chunk_t *c = weft__rt.gq_first;
    if (c) {  /* never empty: an emptied chunk leaves at once */
        t = c->t[c->head++];
        if (c->head == c->tail) {
            weft__rt.gq_first = c->next;
            if (!weft__rt.gq_first)
                weft__rt.gq_last = NULL;
            if (weft__rt.gq_spare)
                weft__free(c);
            else
                weft__rt.gq_spare = c;
        }
    } else if ((t = weft__rt.gq_head) != NULL) {
        weft__rt.gq_head = t->qnext;
        if (!weft__rt.gq_head)
            weft__rt.gq_tail = NULL;
    } else {
        return NULL;
    }
    weft__store_relaxed(&weft__rt.gq_len, weft__load_relaxed(&weft__rt.gq_len) - 1);
    return t;
}

/* weft_run's end: the queue is empty; free its chunks. */
static void inject_free(void)
{
    WEFT__ASSERT(1, !weft__rt.gq_first && !weft__rt.gq_head);
    weft__free(weft__rt.gq_spare);
    weft__rt.gq_spare = NULL;
}

static void wakep(void);

static void inject(weft_task_t *t)
{
    pthread_mutex_lock(&weft__rt.lock);
    inject_push_locked(&t, 1);
    pthread_mutex_unlock(&weft__rt.lock);
}

/* Take a fair share of inject: one to run, more into w's empty ring.
 * rt.lock held. */
static weft_task_t *inject_grab_locked(weft__worker_t *w)
{
    size_t len = weft__load_relaxed(&weft__rt.gq_len);
    if (len == 0)
        return NULL;
    size_t n = len / (size_t)weft__rt.nworkers + 1;
    if (n > len)
        n = len;
    if (n > WEFT__RUNQ_CAP / 2)
        n = WEFT__RUNQ_CAP / 2;
    weft_task_t *t = inject_pop_locked();
    for (size_t i = 1; i < n; i++) {
        weft_task_t *x = inject_pop_locked();
        if (!weft__runq_push(&w->rq, x)) {
            inject_push_locked(&x, 1);
            break;
        }
    }
    return t;
}

static weft_task_t *inject_grab(weft__worker_t *w)
{
    if (weft__load_relaxed(&weft__rt.gq_len) == 0)
        return NULL;
    pthread_mutex_lock(&weft__rt.lock);
    weft_task_t *t = inject_grab_locked(w);
    pthread_mutex_unlock(&weft__rt.lock);
    return t;
}

/* ------------------------------------------------------------------------ */
/* Local queues                                                              */
/* ------------------------------------------------------------------------ */

/* Owner only: append t to w's ring; a full ring sends its older half and t
 * to the injection queue. */
static void local_push(weft__worker_t *w, weft_task_t *t)
{
    void *batch[WEFT__RUNQ_CAP / 2];
    for (;;) {
        if (weft__runq_push(&w->rq, t))
            return;
        unsigned n = weft__runq_grab_half(&w->rq, batch);
        if (n == 0)
            continue;  /* thieves made room meanwhile */
        weft_task_t *ts[WEFT__RUNQ_CAP / 2 + 1];
        for (unsigned i = 0; i < n; i++)
            ts[i] = batch[i];
        ts[n] = t;
        pthread_mutex_lock(&weft__rt.lock);
        inject_push_locked(ts, n + 1);
        pthread_mutex_unlock(&weft__rt.lock);
        weft__stat_inc(&w->st.overflows);
        return;
    }
}

/* Owner only: make t the next task, displacing the previous one to the
 * ring's tail. */
static void next_push(weft__worker_t *w, weft_task_t *t)
{
    weft_task_t *old = weft__xchg_acq_rel(&w->next, t);
    if (old)
        local_push(w, old);
}

void weft__ready(weft_task_t *t)
{
    weft__worker_t *w = weft__worker_self();
    if (w)
        next_push(w, t);
    else
        inject(t);
    wakep();
}

/* ------------------------------------------------------------------------ */
/* Spinning and parking workers                                              */
/* ------------------------------------------------------------------------ */

/* The worker of an idle-list node. */
static weft__worker_t *idle_worker(weft__idle_node_t *n)
{
    return (weft__worker_t *)((char *)n - offsetof(weft__worker_t, idle));
}

/* Any thread (idle.h's wake): wake a worker that was taken off the idle
 * list to spin. */
static void wake_idle(weft__idle_node_t *n)
{
    weft__rt.pops->wake(idle_worker(n)->poller);
}

/* Any thread, after publishing a runnable task: wake a sleeper if nobody
 * spins (the protocol is sched/idle.h's, checked by tests/model/). */
static void wakep(void)
{
    weft__idle_wakep(&weft__rt.idle);
}

/* Owner, after a park: w is about to run a task. If no sleeper watches
 * w's poller, wake one so that it parks again watching it (see "Pollers and
 * busy workers"). */
static void after_unpark(weft__worker_t *w)
{
    weft__worker_t *kick = NULL;
    pthread_mutex_lock(&weft__rt.lock);
    w->unparked = 0;
    if (w->watchers == 0 && weft__idle_first_locked(&weft__rt.idle))
        kick = idle_worker(weft__idle_first_locked(&weft__rt.idle));
    pthread_mutex_unlock(&weft__rt.lock);
    if (kick)
        weft__rt.pops->wake(kick->poller);
}

/* Owner: stop spinning because we found work; the last spinner wakes a
 * sleeper to look for more. */
static weft_task_t *found(weft__worker_t *w, weft_task_t *t)
{
    weft__idle_found(&weft__rt.idle, &w->idle);
    if (w->unparked)
        after_unpark(w);
    return t;
}

static int work_visible(void)
{
    if (weft__load_relaxed(&weft__rt.gq_len) > 0)
        return 1;
    for (int i = 0; i < weft__rt.nworkers; i++) {
        weft__worker_t *v = weft__rt.w[i];
        if (weft__runq_len(&v->rq) > 0 || weft__load_acquire(&v->next) != NULL)
            return 1;
    }
    return 0;
}

static uint64_t earliest_timer(void)
{
    uint64_t m = UINT64_MAX;
    for (int i = 0; i < weft__rt.nworkers; i++) {
        uint64_t x = weft__load_relaxed(&weft__rt.w[i]->timers.next);
        if (x < m)
            m = x;
    }
    return m;
}

/* Fire v's due timers from worker w (the woken tasks land on w). */
static int fire_due(weft__worker_t *w, weft__worker_t *v, uint64_t now)
{
    if (weft__load_relaxed(&v->timers.next) > now)
        return 0;
    int n = weft__timers_fire(&v->timers, now);
    weft__fetch_add_relaxed(&w->st.timers_fired, (uint64_t)n);
    return n;
}

/* Fire the due timers of every worker (a busy worker's too: a task hogging
 * it must not delay the sleepers registered there). */
static int fire_timers(weft__worker_t *w, uint64_t now)
{
    int n = 0;
    for (int k = 0; k < weft__rt.nworkers; k++)
        n += fire_due(w, weft__rt.w[(w->id + k) % weft__rt.nworkers], now);
    return n;
}

/* Owner: harvest the other workers' pollers without blocking (their tasks
 * wake onto w). Returns the number of events. */
static int harvest_others(weft__worker_t *w)
{
    int n = 0;
    for (int k = 1; k < weft__rt.nworkers; k++)
        n += weft__rt.pops->harvest(weft__rt.w[(w->id + k) % weft__rt.nworkers]->poller);
    return n;
}

/* Owner: harvest the poller of, and steal from, a worker that ran no
 * scheduler tick since w's last look (POLL_EVERY of w's ticks ago): it is
 * stuck in one task, and the connections registered there and the tasks in
 * its queue would otherwise wait for it. */
static weft_task_t *steal_stuck(weft__worker_t *w)
{
    for (int k = 1; k < weft__rt.nworkers; k++) {
        weft__worker_t *v = weft__rt.w[(w->id + k) % weft__rt.nworkers];
        /* relaxed: a stale count only moves a steal earlier or later; the
         * steal itself synchronises through the ring (runq.h). */
        uint32_t t = weft__load_relaxed(&v->ticks);
        uint32_t seen = w->seen_ticks[v->id];
        w->seen_ticks[v->id] = t;
        if (t != seen)
            continue;
        /* Its owner does not harvest its poller now: we do. */
        weft__rt.pops->harvest(v->poller);
        /* runq_steal needs an empty ring to steal into, and ours may not
         * be: steal into a scratch ring, then queue the rest as ours. */
        weft__runq_t tmp;
        weft__runq_init(&tmp);
        unsigned got = 0;
        weft_task_t *x = weft__runq_steal(&v->rq, &tmp, &got);
        weft_task_t *y;
        while ((y = weft__runq_pop(&tmp)))
            local_push(w, y);
        if (!x && weft__load_acquire(&v->next)) {
            x = weft__xchg_acq_rel(&v->next, NULL);
            got = x != NULL;
        }
        if (x) {
            WEFT__TRACE(steal, w, v->id, got);
            weft__fetch_add_relaxed(&w->st.steals_in, got);
            weft__fetch_add_relaxed(&v->st.steals_out, got);
            return x;
        }
    }
    return NULL;
}

/* Every worker idle, no work queued, no timer armed, and nothing outside
 * the tasks that can wake one: no task in a park woken from outside (an
 * fd, a blocking-pool call; counted by the workers in ext_parks) and no
 * declared outside waker. Then no task can ever run again: a deadlock,
 * unless the runtime is stopping (docs/diagnostics.md, "Deadlocks"). */
static int stalled(void)
{
    if (weft__idle_count(&weft__rt.idle) != weft__rt.nworkers || weft__wakers() > 0)
        return 0;
    /* Under rt.lock: every worker joined the idle list under it, after its
     * last change of ext_parks, its queues and its timers. */
    pthread_mutex_lock(&weft__rt.lock);
    int idle = weft__idle_count(&weft__rt.idle) == weft__rt.nworkers;
    long ext = 0;
    for (int i = 0; i < weft__rt.nworkers; i++)
        ext += weft__load_relaxed(&weft__rt.w[i]->ext_parks);
    pthread_mutex_unlock(&weft__rt.lock);
    return idle && ext == 0 && earliest_timer() == UINT64_MAX && !work_visible() &&
           !weft__load_acquire(&weft__rt.stopping);
}

/* Owner, about to sleep: 1 when the runtime is deadlocked and this worker
 * dealt with it (then it looks for work again: the cancelled tasks). The
 * stage is read before the check, so a deadlock is escalated only by a
 * check that began after its cancellation was complete. */
static int deadlocked(void)
{
    if (earliest_timer() != UINT64_MAX)
        return 0;
    int stage = weft__deadlock_stage();
    if (!stalled())
        return 0;
    weft__deadlock(stage);
    return 1;
}

/* rt.lock held, w just joined the idle list: watch the pollers of the
 * busy workers while we sleep. */
static void park_joined(void *arg)
{
    weft__worker_t *w = arg;
    w->nwatching = 0;
    for (int i = 0; i < weft__rt.nworkers; i++) {
        weft__worker_t *v = weft__rt.w[i];
        if (v != w && !weft__idle_is_idle_locked(&v->idle)) {
            w->watching[w->nwatching++] = i;
            v->watchers++;
        }
    }
    w->unparked = 1;
}

/* After the fence: anything to do but sleep? Trimming stacks counts as
 * doing something: look again after it; so does dealing with a deadlock. */
static int park_busy(void *arg)
{
    (void)arg;
    return work_visible() || weft__load_relaxed(&weft__rt.stopping) ||
           weft__stack_trim() != 0 || deadlocked();
}

/* Sleep in the poller until the earliest timer of all workers, woken
 * early by a waker or by fd events on the watched pollers. */
static void park_sleep(void *arg)
{
    weft__worker_t *w = arg;
    uint64_t until = earliest_timer();
    uint64_t now = now_ns();
    weft__store_relaxed(&w->park_until, until);
    weft__stat_inc(&w->st.parks);
    weft__stat_inc(&w->st.polls);
    /* nwatching and watching[] are written by the owner only. */
    for (int k = 0; k < w->nwatching; k++)
        weft__rt.pops->watch(w->poller, weft__rt.w[w->watching[k]]->poller, 1);
    WEFT__TRACE(park_begin, w);
    weft__rt.pops->poll(w->poller, until == UINT64_MAX ? UINT64_MAX
                                   : until > now ? until - now : 0);
    WEFT__TRACE(park_end, w);
    for (int k = 0; k < w->nwatching; k++)
        weft__rt.pops->watch(w->poller, weft__rt.w[w->watching[k]]->poller, 0);
    weft__store_relaxed(&w->park_until, UINT64_MAX);
}

/* rt.lock held, w off the idle list. */
static void park_left(void *arg)
{
    weft__worker_t *w = arg;
    for (int k = 0; k < w->nwatching; k++)
        weft__rt.w[w->watching[k]]->watchers--;
    w->nwatching = 0;
}

static const weft__idle_park_ops_t park_ops = {
    .joined = park_joined,
    .busy = park_busy,
    .sleep = park_sleep,
    .left = park_left,
};

/* Sleep in the poller unless work shows up. Returns with w not idle; a
 * waker that took w off the idle list made it a spinner. */
static void park_worker(weft__worker_t *w)
{
    weft__idle_park(&weft__rt.idle, &w->idle, &park_ops, w);
}

/* Take v's next slot, but only if v leaves it there for NEXT_GRACE_NS.
 * The slot is usually filled by the task v runs just before that task
 * blocks (a channel or mutex hand-off): v is about to run it, warm in its
 * cache, and stealing it would bounce the pair between cores (Go's
 * runqgrab waits the same way). */
static weft_task_t *steal_next(weft__worker_t *v)
{
    uint64_t until = now_ns() + NEXT_GRACE_NS;
    do {
        for (int i = 0; i < 32; i++)
            weft__cpu_relax();
        if (!weft__load_relaxed(&v->next))
            return NULL;
    } while (now_ns() < until);
    return weft__xchg_acq_rel(&v->next, NULL);
}

static weft_task_t *steal_work(weft__worker_t *w)
{
    int n = weft__rt.nworkers;
    /* Shuffled: start the victim list at a random place. */
    int k0 = weft__rt.cfg.shuffle ? (int)(worker_rand(w) % (uint32_t)(n - 1)) : 0;
    for (int round = 0; round < STEAL_ROUNDS; round++) {
        /* Victims nearest first in the hwloc tree (topology.c). */
        for (int i = 0; i < n - 1; i++) {
            int k = i + k0 < n - 1 ? i + k0 : i + k0 - (n - 1);
            weft__worker_t *v = weft__rt.w[w->victims[k]];
            unsigned got = 0;
            weft_task_t *t = weft__runq_steal(&v->rq, &w->rq, &got);
            if (!t && round == STEAL_ROUNDS - 1 && weft__load_acquire(&v->next)) {
                /* The victim's ring is empty but its next slot is not. */
                t = steal_next(v);
                got = t != NULL;
            }
            if (t) {
                WEFT__TRACE(steal, w, v->id, got);
                weft__fetch_add_relaxed(&w->st.steals_in, got);
                weft__fetch_add_relaxed(&v->st.steals_out, got);
                return t;
            }
        }
        weft_task_t *t = inject_grab(w);
        if (t)
            return t;
    }
    return NULL;
}

/* Owner: the next task to run, or NULL when the runtime stops. */
static weft_task_t *find_work(weft__worker_t *w)
{
    for (;;) {
        if (weft__load_acquire(&weft__rt.stopping))
            return NULL;
        weft_task_t *t;
        w->tick++;
        weft__store_relaxed(&w->ticks, w->tick);
        if (w->tick % INJECT_EVERY == 0 && (t = inject_grab(w)))
            return found(w, t);
        /* Due timers first, even when the queues are busy: sleepers must
         * not wait for yielders. Costs a clock read only with timers armed. */
        if (weft__load_relaxed(&w->timers.next) != UINT64_MAX)
            fire_due(w, w, now_ns());
        /* fd readiness, even when the queues are busy (Go's netpoll in
         * findrunnable): connections must not wait for CPU-bound tasks,
         * nor for a busy worker whose own poller always has events. The
         * other workers' pollers too: their owners may be stuck in a CPU
         * loop. */
        if (w->tick % POLL_EVERY == 0) {
            weft__rt.pops->harvest(w->poller);
            weft__stat_inc(&w->st.polls);
            if (weft__rt.nworkers > 1 && (t = steal_stuck(w)))
                return found(w, t);
        }

        t = weft__load_relaxed(&w->next) ? weft__xchg_acq_rel(&w->next, NULL) : NULL;
        if (t) {
            /* Shuffled: now and then the slot's task queues like any. */
            if (++w->lifo_runs <= LIFO_MAX && !shuffle(w, 4))
                return found(w, t);
            /* The slot ran LIFO_MAX times in a row: a ping-pong pair must
             * not starve the ring, so it queues like everyone else. */
            local_push(w, t);
        }
        w->lifo_runs = 0;
        if ((t = weft__runq_pop(&w->rq))) {
            /* Shuffled: now and then the head goes to the back. */
            if (shuffle(w, 4)) {
                local_push(w, t);
                t = weft__runq_pop(&w->rq);
            }
            return found(w, t);
        }
        if ((t = inject_grab(w)))
            return found(w, t);
        if (fire_timers(w, now_ns()))
            continue;
        weft__stat_inc(&w->st.polls);
        if (weft__rt.pops->harvest(w->poller) > 0)
            continue;

        /* Out of local work: spin (steal) if few others are spinning. */
        if (weft__idle_spin(&weft__rt.idle, &w->idle) &&
            weft__rt.nworkers > 1 && (t = steal_work(w)))
            return found(w, t);
        /* A busy victim's poller: its owner may be stuck in a CPU loop. */
        if (weft__rt.nworkers > 1 && harvest_others(w) > 0)
            continue;
        park_worker(w);
    }
}

/* ------------------------------------------------------------------------ */
/* Running a task, and what happens when it switches out                     */
/* ------------------------------------------------------------------------ */

void weft__switch_to_scheduler(weft_task_t *self, int post)
{
    weft__worker_t *w = weft__worker_self();
    w->post = post;
    weft__fiber_switch(&self->fiber, &w->sched_fiber, post == WEFT__POST_EXIT);
}

static void report_smashed(weft_task_t *t)
{
    fprintf(stderr, "weft: task '%s' overflowed its %zu KiB stack\n", weft_task_name(t),
            t->stack->size / 1024);
    abort();
}

static void run_task(weft__worker_t *w, weft_task_t *t)
{
    weft__store_relaxed(&w->cur, t);
    w->post = WEFT__POST_NONE;
    weft__stat_inc(&w->st.tasks_run);
    WEFT__TRACE(run_begin, w);
    /* A task's first frame is written just before its first switch: the
     * switch then reads it from the store buffer or the cache, where a
     * frame written at spawn (long before, in a burst of spawns) is a
     * cache miss in the switch. */
    if (!t->fiber.sp)
        t->fiber.sp = weft__ctx_make((char *)t->fiber.stack_lo + t->fiber.stack_size,
                                     weft__task_entry, t);
    weft__fiber_switch(&w->sched_fiber, &t->fiber, 0);
    weft__store_relaxed(&w->cur, NULL);
    WEFT__TRACE(run_end, w, t);
    /* t->canary avoids a cold load of t->stack on every switch. */
    if (t->canary && weft__stack_smashed(t->stack))
        report_smashed(t);
    switch (w->post) {
    case WEFT__POST_YIELD:
        local_push(w, t);   /* the back of the queue, never the next slot */
        wakep();
        break;
    case WEFT__POST_PARK: {
        int s = weft__load_relaxed(&t->pstate);
        /* acq_rel: release publishes the saved context to the waker that
         * will enqueue us; acquire pairs with a waker that got here first. */
        if ((s & WEFT__PS_PHASE) != WEFT__PS_PARKING ||
            !weft__cas_acq_rel(&t->pstate, &s, (s & ~WEFT__PS_PHASE) | WEFT__PS_PARKED)) {
            /* Woken while still parking: it is ours to run again. */
            next_push(w, t);
        }
        break;
    }
    case WEFT__POST_EXIT:
        weft__task_finish(w, t);
        break;
    default:
        abort();  /* a task switched out without saying why */
    }
}

void weft__task_entry(void *p)
{
    weft_task_t *t = p;
    weft__fiber_started(&t->fiber);
    WEFT__TRACE(task_start, t);
    if (weft__load_seq_cst(&t->cancelled))
        t->result = WEFT_CANCELED;
    else
        t->result = t->fn(t->arg);
    if (t == weft__rt.main_task)
        weft__shutdown_from_main(t);
    weft__switch_to_scheduler(t, WEFT__POST_EXIT);
    abort();  /* an exited task was resumed */
}

/* ------------------------------------------------------------------------ */
/* Park / wake                                                               */
/* ------------------------------------------------------------------------ */

weft_task_t *weft__current(void)
{
    weft__worker_t *w = weft__worker_self();
    return w ? weft__load_relaxed(&w->cur) : NULL;
}

static uint64_t task_deadline(const weft_task_t *t)
{
    return t->dl_n > 0 ? t->dl[t->dl_n - 1] : WEFT_FOREVER;
}

int weft__check_interrupt(weft_task_t *self)
{
    if (weft__load_relaxed(&self->cancelled))
        return -ECANCELED;
    uint64_t d = task_deadline(self);
    if (d != WEFT_FOREVER && now_ns() >= d)
        return -ETIMEDOUT;
    return 0;
}

void weft__park_prepare(weft_task_t *self, int flags, const void *obj)
{
    int kind = flags >> WEFT__WAIT_SHIFT;
    self->wait_kind = kind;
    self->wait_obj = obj;
    if (kind >= WEFT__WAIT_FD) {
        weft__worker_t *w = weft__worker_self();
        weft__store_relaxed(&w->ext_parks, weft__load_relaxed(&w->ext_parks) + 1);
    }
    /* seq_cst: Dekker with weft_cancel (store cancelled; CAS pstate). */
    weft__store_seq_cst(&self->pstate, WEFT__PS_PARKING | (flags & WEFT__PARK_NOINTR));
}

static int decode(int s)
{
    return s >> WEFT__PS_CODE_SHIFT;
}

static bool wake(weft_task_t *t, int code, int interrupt);

/* End our own park before sleeping; a waker may have been first. */
static void self_wake(weft_task_t *self, int code)
{
    wake(self, code, 0);
}

static int is_woken(weft_task_t *self)
{
    return (weft__load_acquire(&self->pstate) & WEFT__PS_PHASE) == WEFT__PS_WOKEN;
}

static void timer_fire(weft__timer_t *tm)
{
    WEFT__TRACE(timer, (weft_task_t *)tm->data);
    weft__wake((weft_task_t *)tm->data, tm->code);
}

/* Wake idle workers sleeping past a timer that is now the earliest. */
static void kick_sleepers(uint64_t when)
{
    if (weft__idle_count(&weft__rt.idle) == 0)
        return;
    for (int i = 0; i < weft__rt.nworkers; i++) {
        weft__worker_t *v = weft__rt.w[i];
        if (weft__load_relaxed(&v->park_until) > when) {
            weft__rt.pops->wake(v->poller);
            return;
        }
    }
}

int weft__park(weft_task_t *self, uint64_t until, int until_code)
{
    int s = weft__load_relaxed(&self->pstate);
    /* Announced by weft__park_prepare, or already ended by a waker. */
    WEFT__ASSERT(1, (s & WEFT__PS_PHASE) == WEFT__PS_PARKING ||
                        (s & WEFT__PS_PHASE) == WEFT__PS_WOKEN);
    WEFT__ASSERT(1, self == weft__current());
    /* Shuffled: a spurious yield at a suspension point. The task stays
     * PARKING meanwhile: a wake that lands now ends the park below. */
    if (weft__rt.cfg.shuffle && shuffle(weft__worker_self(), 8))
        weft__switch_to_scheduler(self, WEFT__POST_YIELD);
    if (!(s & WEFT__PARK_NOINTR)) {
        uint64_t d = task_deadline(self);
        if (d <= until) {
            until = d;
            until_code = -ETIMEDOUT;
        }
        /* seq_cst: the other half of weft_cancel's Dekker pair. */
        if (weft__load_seq_cst(&self->cancelled))
            self_wake(self, -ECANCELED);
    }
    int armed = 0;
    if (until != WEFT_FOREVER && !is_woken(self)) {
        if (now_ns() >= until) {
            self_wake(self, until_code);
        } else {
            weft__worker_t *w = weft__worker_self();
            int first = 0;
            if (weft__timer_add(&w->timers, &self->timer, until, until_code, &first) < 0)
                self_wake(self, -ENOMEM);
            else
                armed = 1;
            if (first)
                kick_sleepers(until);
        }
    }
    if (!is_woken(self))
        weft__switch_to_scheduler(self, WEFT__POST_PARK);
    /* acquire: pairs with the waker's CAS, for whatever it handed over. */
    s = weft__load_acquire(&self->pstate);
    if (armed)
        weft__timer_del(&self->timer);
    if (self->wait_kind >= WEFT__WAIT_FD) {
        weft__worker_t *w = weft__worker_self();  /* maybe not the same */
        weft__store_relaxed(&w->ext_parks, weft__load_relaxed(&w->ext_parks) - 1);
    }
    self->wait_kind = WEFT__WAIT_NONE;
    weft__store_relaxed(&self->pstate, WEFT__PS_RUNNING);
    return decode(s);
}

/* interrupt: a cancellation, which does not end a NOINTR park. */
static bool wake(weft_task_t *t, int code, int interrupt)
{
    int s = weft__load_acquire(&t->pstate);
    for (;;) {
        int phase = s & WEFT__PS_PHASE;
        if (phase != WEFT__PS_PARKING && phase != WEFT__PS_PARKED)
            return false;
        if (interrupt && (s & WEFT__PARK_NOINTR))
            return false;
        int woken = WEFT__PS_WOKEN | (int)((unsigned)code << WEFT__PS_CODE_SHIFT);
        if (weft__cas_acq_rel(&t->pstate, &s, woken)) {
            if (phase == WEFT__PS_PARKED)
                weft__ready(t);
            return true;
        }
    }
}

bool weft__wake(weft_task_t *t, int code)
{
    return wake(t, code, 0);
}

bool weft__wake_interrupt(weft_task_t *t, int code)
{
    return wake(t, code, 1);
}

/* ------------------------------------------------------------------------ */
/* Stack overflow report (SIGSEGV on an alternate stack)                     */
/* ------------------------------------------------------------------------ */

static struct sigaction old_segv, old_bus;
static int handlers_installed;

static size_t fmt_str(char *b, size_t at, size_t cap, const char *s)
{
    while (*s && at < cap)
        b[at++] = *s++;
    return at;
}

static size_t fmt_uint(char *b, size_t at, size_t cap, size_t v)
{
    char d[24];
    int n = 0;
    do {
        d[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n && at < cap)
        b[at++] = d[--n];
    return at;
}

static void on_fault(int sig, siginfo_t *si, void *uc)
{
    weft__worker_t *w = weft__worker_self();
    weft_task_t *t = w ? weft__load_relaxed(&w->cur) : NULL;
    /* A fault in the guard, or anywhere once a canary-guarded stack lost
     * its canary (no guard page then: the overflow ran on until it hit
     * something unmapped). */
    if (t && (weft__stack_guard_hit(t->stack, si->si_addr) ||
              weft__stack_smashed(t->stack))) {
        char b[160];
        size_t n = 0;
        /* No symbol lookup in a signal handler: an unnamed task is
         * reported by its number. */
        n = fmt_str(b, n, sizeof b, "weft: task ");
        if (weft__load_acquire(&t->named)) {
            n = fmt_str(b, n, sizeof b, "'");
            n = fmt_str(b, n, sizeof b, t->name);
            n = fmt_str(b, n, sizeof b, "'");
        } else {
            n = fmt_str(b, n, sizeof b, "#");
            n = fmt_uint(b, n, sizeof b, (size_t)t->id);
        }
        n = fmt_str(b, n, sizeof b, " overflowed its ");
        n = fmt_uint(b, n, sizeof b, t->stack->size / 1024);
        n = fmt_str(b, n, sizeof b, " KiB stack\n");
        ssize_t r = write(2, b, n);
        (void)r;
        signal(SIGABRT, SIG_DFL);
        abort();
    }
    /* Not ours: put the previous handler back and let the fault recur. */
    sigaction(SIGSEGV, &old_segv, NULL);
    sigaction(SIGBUS, &old_bus, NULL);
    (void)sig;
    (void)uc;
}

static void install_fault_handlers(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, &old_segv);
    sigaction(SIGBUS, &sa, &old_bus);
    handlers_installed = 1;
}

static void remove_fault_handlers(void)
{
    if (!handlers_installed)
        return;
    sigaction(SIGSEGV, &old_segv, NULL);
    sigaction(SIGBUS, &old_bus, NULL);
    handlers_installed = 0;
}

/* ------------------------------------------------------------------------ */
/* Workers: start, loop, stop                                                */
/* ------------------------------------------------------------------------ */

static void *worker_main(void *arg)
{
    weft__worker_t *w = arg;
    weft__worker_set_self(w);
    if (w->altstack) {
        stack_t ss = { .ss_sp = w->altstack, .ss_size = w->altstack_size };
        sigaltstack(&ss, NULL);
    }
    if (weft__rt.cfg.pin)
        weft__topo_pin(weft__rt.topo, w->id);
    weft__fiber_init(&w->sched_fiber, NULL, 0);
    weft_task_t *t;
    while ((t = find_work(w)))
        run_task(w, t);
    weft__fiber_fini(&w->sched_fiber);
    if (w->altstack) {
        stack_t ss = { .ss_flags = SS_DISABLE };
        sigaltstack(&ss, NULL);
    }
    weft__worker_set_self(NULL);
    return NULL;
}

static void worker_free(weft__worker_t *w)
{
    if (!w)
        return;
    weft__stack_cache_drain(&w->stacks);
    if (w->poller)
        weft__rt.pops->destroy(w->poller);
    weft__timerheap_fini(&w->timers);
    if (w->altstack)
        munmap(w->altstack, w->altstack_size);
    weft__free(w->victims);
    weft__free(w->watching);
    weft__free(w->seen_ticks);
    free(w);
}

/* Any thread: a pseudo-random number. Workers step their own xorshift64*
 * state (owner only, no sharing); plain threads mix a shared counter. */
uint32_t weft__rand32(void)
{
    static weft__atomic(uint64_t) plain;
    weft__worker_t *w = weft__worker_self();
    if (!w)
        return (uint32_t)(splitmix64(weft__fetch_add_relaxed(&plain, 1)) >> 32);
    return worker_rand(w);
}

static weft__worker_t *worker_new(int id)
{
    weft__worker_t *w = NULL;
    /* 64-byte alignment keeps the ring's head and tail on their own lines. */
    if (posix_memalign((void **)&w, 64, sizeof *w) != 0)
        return NULL;
    memset(w, 0, sizeof *w);
    w->id = id;
    w->rng = splitmix64((uint64_t)weft__rt.cfg.shuffle * 1024 + (uint64_t)id + 1);
    weft__runq_init(&w->rq);
    weft__idle_node_init(&w->idle);
    weft__store_relaxed(&w->next, NULL);
    weft__store_relaxed(&w->park_until, UINT64_MAX);
    weft__timerheap_init(&w->timers, timer_fire);
    w->stacks.size = weft__rt.cfg.stack_size;
    w->victims = weft__malloc(sizeof(int) * (size_t)(weft__rt.nworkers > 1 ? weft__rt.nworkers : 1));
    w->altstack_size = 64 * 1024;
    w->altstack = mmap(NULL, w->altstack_size, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (w->altstack == MAP_FAILED)
        w->altstack = NULL;
    w->watching = weft__malloc(sizeof(int) * (size_t)weft__rt.nworkers);
    w->seen_ticks = weft__calloc((size_t)weft__rt.nworkers, sizeof(uint32_t));
    if (!w->victims || !w->watching || !w->seen_ticks ||
        weft__rt.pops->create(&w->poller) < 0) {
        worker_free(w);
        return NULL;
    }
    weft__topo_victim_order(weft__rt.topo, id, weft__rt.nworkers, w->victims);
    return w;
}

int weft__sched_start(weft_task_t *main_task)
{
    /* main_task was made by the caller with weft__rt already set up for
     * spawning (cfg, counters); here come the workers. */
    int n = weft__rt.nworkers;
    weft__idle_init(&weft__rt.idle, &weft__rt.lock, n, wake_idle);
    weft__rt.w = weft__calloc((size_t)n, sizeof *weft__rt.w);
    if (!weft__rt.w)
        return -ENOMEM;
    for (int i = 0; i < n; i++) {
        weft__rt.w[i] = worker_new(i);
        if (!weft__rt.w[i]) {
            for (int j = 0; j < i; j++)
                worker_free(weft__rt.w[j]);
            weft__free(weft__rt.w);
            weft__rt.w = NULL;
            return -ENOMEM;
        }
    }
    install_fault_handlers();
    weft__io_runtime_start();
    inject(main_task);
    int rc = 0;
    int started = 0;
    for (; started < n; started++) {
        int e = pthread_create(&weft__rt.w[started]->thread, NULL, worker_main,
                               weft__rt.w[started]);
        if (e) {
            rc = -e;
            break;
        }
    }
    if (rc < 0 && started == 0) {
        /* Nothing runs: undo. The main task was never started. */
        remove_fault_handlers();
        weft__io_runtime_stop();
        for (int j = 0; j < n; j++)
            worker_free(weft__rt.w[j]);
        weft__free(weft__rt.w);
        weft__rt.w = NULL;
        return rc;
    }
    weft__watchdog_start();
    /* With fewer threads than workers, the started ones still run every
     * queue (they steal from the others' rings and inject). */
    for (int i = 0; i < started; i++)
        pthread_join(weft__rt.w[i]->thread, NULL);
    weft__watchdog_stop();
    return 0;
}

void weft__stop_all_workers(void)
{
    weft__store_release(&weft__rt.stopping, 1);
    for (int i = 0; i < weft__rt.nworkers; i++)
        weft__rt.pops->wake(weft__rt.w[i]->poller);
}

void weft__sched_wait_and_stop(void)
{
    weft__totals_t tot = { 0 };
    for (int i = 0; i < weft__rt.nworkers; i++) {
        weft__stats_t *s = &weft__rt.w[i]->st;
        tot.tasks_run += weft__load_relaxed(&s->tasks_run);
        tot.spawned += weft__load_relaxed(&s->spawned);
        tot.steals_in += weft__load_relaxed(&s->steals_in);
        tot.steals_out += weft__load_relaxed(&s->steals_out);
        tot.parks += weft__load_relaxed(&s->parks);
        tot.timers_fired += weft__load_relaxed(&s->timers_fired);
    }
    weft__last_totals = tot;
    if (weft__rt.cfg.stats)
        weft__print_stats();
    remove_fault_handlers();
    weft__io_runtime_stop();
    for (int i = 0; i < weft__rt.nworkers; i++)
        worker_free(weft__rt.w[i]);
    weft__free(weft__rt.w);
    weft__rt.w = NULL;
    inject_free();
}

/* io/poller.h: the caller's worker's poller, NULL on a plain thread. */
weft__poller_t *weft__poller_self(void)
{
    weft__worker_t *w = weft__worker_self();
    return w ? w->poller : NULL;
}

/* io/poller.h: the backend of the running runtime (NULL when none runs). */
const weft__poller_ops_t *weft__poller_ops(void)
{
    return weft__rt.pops;
}

weft__totals_t weft__last_totals;
