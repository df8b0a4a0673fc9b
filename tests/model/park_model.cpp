/* Relacy model of the worker spinning/parking protocol (sched/idle.h),
 * compiled from the very header the library uses, together with the run
 * queue (sched/runq.h, shrunk to 4 slots): atomic.h maps weft's named
 * atomics, its mutex and its checked plain fields onto Relacy's under
 * WEFT_MODEL_RELACY.
 *
 * What is modelled around the header is sched.c's find_work, cut down to
 * the paths that move tasks between workers:
 *
 *   worker:  next slot, own ring, injection queue; if weft__idle_spin lets
 *            it, one round of stealing (rings, then next slots, then the
 *            injection queue); else weft__idle_park, whose re-check looks
 *            at every ring, next slot and the injection queue, and whose
 *            sleep waits for a wake token (a poller's eventfd: a wake sent
 *            before the sleep is kept). A task found goes through
 *            weft__idle_found, which may wake a sleeper.
 *   a task:  reads its payload (a data race if its publication did not
 *            reach the runner), then spawns its children into the running
 *            worker's next slot (the displaced one to its ring) with a
 *            wakep after each, as weft__ready does; a task that awaits
 *            another then blocks its worker until that one has run (a CPU
 *            loop or blocking call: only another worker can run it).
 *   submitter: a plain thread that injects tasks, each followed by wakep.
 *   stop:    the worker that runs the last task sets `stopping` and wakes
 *            every worker (weft__stop_all_workers).
 *
 * Checked in every schedule:
 *   - no lost wake-up: if a task stayed queued while every worker slept
 *     with nobody left to wake one, the run never stops, and Relacy reports
 *     the state where every thread is blocked or finished as a deadlock;
 *   - every task runs exactly once, its payload published to its runner;
 *   - spinners are bounded: right after a worker starts spinning, or a
 *     waker counts a sleeper as one, nspinning (read by an RMW, so the
 *     latest value) is at most half the workers, rounded up;
 *   - the counts agree with the workers at the end: nidle with the idle
 *     list, nspinning with the spinning flags; the idle list, the flags and
 *     the injection queue are plain (rl::var) fields, so a missing lock or
 *     missing hand-over is a data race.
 *
 * Usage: park-model [scenario|all] [iterations] [bound] (see main). Built
 * with WEFT_MODEL_WEAKEN_FENCE (the seq_cst fences of wakep and park made
 * acq_rel) the verdict is inverted: it exits 0 only when the checker
 * catches the weakened protocol (the CTest "model.park_weakened"). */
#define WEFT_MODEL_RELACY 1
#define WEFT__RUNQ_CAP 4u
#define WEFT_DEBUG 3

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "sched/runq.h"
#include "sched/idle.h"

/* sched/debug.h's assertions fail the schedule instead of aborting. */
void weft__assert_fail(const char *what, const char *file, int line)
{
    rl::ctx().fail_test(what, rl::test_result_user_assert_failed,
                        rl::debug_info("", file, (unsigned)line));
    for (;;) {
    }
}

namespace {

constexpr int kMaxWorkers = 3;
constexpr int kMaxTasks = 6;

struct task {
    rl::var<int> payload;
    int id;
    int children[2];  /* task ids spawned when it runs, -1: none */
    int await;        /* then blocks its worker until this one ran, -1 */
};

/* A worker's poller, as far as waking goes: a token that stays set. */
struct poller {
    rl::mutex m;
    rl::condition_variable cv;
    rl::var<int> token;
};

struct model;

/* The schedule being run (Relacy runs one at a time), for idle.h's wake
 * callback. */
model *current;

struct worker {
    weft__runq_t rq;
    weft__atomic(void *) next;
    weft__idle_node_t idle;
    poller p;
    int id;
    model *m;
};

/* The shape of a scenario: how many workers, which tasks the submitter
 * injects and which each task spawns. */
struct shape {
    int workers;
    int ntasks;
    int roots[2];          /* injected by the submitter, -1: none */
    int children[kMaxTasks][2];
    int await[kMaxTasks];  /* see task */
};

struct model {
    const shape *sh;
    rl::mutex lock;  /* rt.lock: the injection queue and the idle list */
    weft__idle_t ic;
    worker w[kMaxWorkers];
    /* injection queue (lock); its length is read without it (gq_len) */
    rl::var<int> gq[kMaxTasks];
    rl::var<int> gq_head, gq_n;
    weft__atomic(int) gq_len;
    weft__atomic(int) stopping;
    weft__atomic(int) done;
    task tasks[kMaxTasks];
    int runs[kMaxTasks];  /* ghost: times each task ran, read in after() */
    /* A task's wait for another (a thread-blocking call in a task: its
     * worker runs nothing else meanwhile). */
    rl::mutex ran_m;
    rl::condition_variable ran_cv;
    rl::var<int> ran[kMaxTasks];

    void init(const shape *s)
    {
        sh = s;
        current = this;
        weft__idle_init(&ic, &lock, s->workers, wake_idle);
        for (int i = 0; i < s->workers; i++) {
            weft__runq_init(&w[i].rq);
            weft__store_relaxed(&w[i].next, (void *)nullptr);
            weft__idle_node_init(&w[i].idle);
            w[i].p.token($) = 0;
            w[i].id = i;
            w[i].m = this;
        }
        gq_head($) = 0;
        gq_n($) = 0;
        weft__store_relaxed(&gq_len, 0);
        weft__store_relaxed(&stopping, 0);
        weft__store_relaxed(&done, 0);
        for (int i = 0; i < s->ntasks; i++) {
            tasks[i].id = i;
            tasks[i].children[0] = s->children[i][0];
            tasks[i].children[1] = s->children[i][1];
            tasks[i].await = s->await[i];
            ran[i]($) = 0;
            runs[i] = 0;
        }
    }

    /* ---- the poller's wake-up descriptor ---- */

    void wake(worker *v)
    {
        v->p.m.lock($);
        v->p.token($) = 1;
        v->p.cv.notify_one($);
        v->p.m.unlock($);
    }

    void sleep(worker *me)
    {
        me->p.m.lock($);
        while (!me->p.token($))
            me->p.cv.wait(me->p.m, $);
        me->p.token($) = 0;
        me->p.m.unlock($);
    }

    worker *of(weft__idle_node_t *n)
    {
        for (int i = 0; i < sh->workers; i++)
            if (&w[i].idle == n)
                return &w[i];
        RL_ASSERT(!"not a worker's node");
        return nullptr;
    }

    /* The bound weft__idle_spin and weft__idle_wakep keep. The RMW reads
     * the latest count (a load could return an older one). */
    void check_spinners()
    {
        int bound = (sh->workers + 1) / 2;
        int s = ic.nspinning($).fetch_add(0, rl::mo_relaxed);
        RL_ASSERT(s >= 0 && s <= bound);
    }

    /* sched.c's wake_idle: a waker took n off the idle list to spin. */
    static void wake_idle(weft__idle_node_t *n)
    {
        current->check_spinners();
        current->wake(current->of(n));
    }

    /* sched.c's wakep. */
    void wakep()
    {
        weft__idle_wakep(&ic);
    }

    /* ---- queues (sched.c's inject, local_push, next_push) ---- */

    void inject(int id)
    {
        lock.lock($);
        int n = gq_n($);
        RL_ASSERT(n < kMaxTasks);
        gq[(gq_head($) + n) % kMaxTasks]($) = id;
        gq_n($) = n + 1;
        weft__store_relaxed(&gq_len, n + 1);
        lock.unlock($);
    }

    task *inject_grab()
    {
        if (weft__load_relaxed(&gq_len) == 0)
            return nullptr;
        task *t = nullptr;
        lock.lock($);
        int n = gq_n($);
        if (n > 0) {
            int h = gq_head($);
            t = &tasks[gq[h]($)];
            gq_head($) = (h + 1) % kMaxTasks;
            gq_n($) = n - 1;
            weft__store_relaxed(&gq_len, n - 1);
        }
        lock.unlock($);
        return t;
    }

    /* The scenarios never fill a ring (the overflow to the injection
     * queue is model.runq's). */
    void local_push(worker *me, task *t)
    {
        bool pushed = weft__runq_push(&me->rq, t);
        RL_ASSERT(pushed);
    }

    void next_push(worker *me, task *t)
    {
        void *old = weft__xchg_acq_rel(&me->next, (void *)t);
        if (old)
            local_push(me, static_cast<task *>(old));
    }

    /* ---- find_work ---- */

    task *steal_work(worker *me)
    {
        for (int k = 1; k < sh->workers; k++) {
            worker *v = &w[(me->id + k) % sh->workers];
            unsigned got = 0;
            if (void *x = weft__runq_steal(&v->rq, &me->rq, &got))
                return static_cast<task *>(x);
        }
        for (int k = 1; k < sh->workers; k++) {
            worker *v = &w[(me->id + k) % sh->workers];
            if (weft__load_acquire(&v->next))
                if (void *x = weft__xchg_acq_rel(&v->next, (void *)nullptr))
                    return static_cast<task *>(x);
        }
        return inject_grab();
    }

    int work_visible()
    {
        if (weft__load_relaxed(&gq_len) > 0)
            return 1;
        for (int i = 0; i < sh->workers; i++)
            if (weft__runq_len(&w[i].rq) > 0 ||
                weft__load_acquire(&w[i].next) != nullptr)
                return 1;
        return 0;
    }

    static void park_joined(void *) {}
    static int park_busy(void *arg)
    {
        worker *me = static_cast<worker *>(arg);
        return me->m->work_visible() || weft__load_relaxed(&me->m->stopping);
    }
    static void park_sleep(void *arg)
    {
        worker *me = static_cast<worker *>(arg);
        me->m->sleep(me);
    }
    static void park_left(void *) {}

    task *find_work(worker *me)
    {
        static const weft__idle_park_ops_t ops = { park_joined, park_busy,
                                                   park_sleep, park_left };
        for (;;) {
            if (weft__load_acquire(&stopping))
                return nullptr;
            task *t = nullptr;
            if (weft__load_relaxed(&me->next))
                t = static_cast<task *>(
                    weft__xchg_acq_rel(&me->next, (void *)nullptr));
            if (!t)
                t = static_cast<task *>(weft__runq_pop(&me->rq));
            if (!t)
                t = inject_grab();
            if (!t) {
                int was = weft__idle_spinning(&me->idle);
                if (weft__idle_spin(&ic, &me->idle)) {
                    if (!was)
                        check_spinners();
                    if (sh->workers > 1)
                        t = steal_work(me);
                }
            }
            if (t) {
                weft__idle_found(&ic, &me->idle);
                return t;
            }
            weft__idle_park(&ic, &me->idle, &ops, me);
            /* find_work loops without sleeping when work is visible that
             * this worker may not steal (spinners are bounded): the OS
             * would preempt it, the model's schedulers need a yield. */
            weft__cpu_relax();
        }
    }

    void run(worker *me, task *t)
    {
        RL_ASSERT(t->payload($) == t->id + 100);
        runs[t->id]++;
        for (int c : t->children) {
            if (c < 0)
                continue;
            tasks[c].payload($) = c + 100;
            next_push(me, &tasks[c]);
            wakep();
        }
        ran_m.lock($);
        ran[t->id]($) = 1;
        ran_cv.notify_all($);
        if (t->await >= 0)
            while (!ran[t->await]($))
                ran_cv.wait(ran_m, $);
        ran_m.unlock($);
        if (weft__fetch_add_acq_rel(&done, 1) + 1 == sh->ntasks) {
            weft__store_release(&stopping, 1);
            for (int i = 0; i < sh->workers; i++)
                wake(&w[i]);
        }
    }

    void worker_main(int id)
    {
        worker *me = &w[id];
        while (task *t = find_work(me))
            run(me, t);
    }

    void submitter_main()
    {
        for (int r : sh->roots) {
            if (r < 0)
                continue;
            tasks[r].payload($) = r + 100;
            inject(r);
            wakep();
        }
    }

    void check_after()
    {
        for (int i = 0; i < sh->ntasks; i++)
            RL_ASSERT(runs[i] == 1);
        int idle = 0, listed = 0, spinning = 0;
        for (int i = 0; i < sh->workers; i++) {
            idle += w[i].idle.idle($);
            spinning += w[i].idle.spinning($);
        }
        for (weft__idle_node_t *n = ic.list($); n; n = n->next($))
            listed++;
        RL_ASSERT(idle == listed);
        RL_ASSERT(weft__load_relaxed(&ic.nidle) == idle);
        RL_ASSERT(weft__load_relaxed(&ic.nspinning) == spinning);
    }
};

/* Two workers; a plain thread injects two tasks while both go idle (the
 * injection queue's lock orders this one on its own). */
const shape kInject = { 2, 2, { 0, 1 }, { { -1, -1 }, { -1, -1 } },
                        { -1, -1 } };

/* Two workers; the injected task 0 spawns 1 into its worker's next slot
 * and blocks that worker until 1 has run: the other worker must be awake
 * or be woken for it. The window where it goes idle as 1 is published is
 * ordered by the two fences alone. */
const shape kHog = { 2, 2, { 0, -1 }, { { 1, -1 }, { -1, -1 } }, { 1, -1 } };

/* Three workers (at most two spinners). Task 0 spawns 1 (displaced to the
 * ring) and 2 (in the next slot), and waits for 2; so does 1. A spinner
 * that steals 1 is then stuck too, and if it was the last spinner, only
 * its wakep in weft__idle_found wakes the third worker for 2 (a producer
 * that saw it spinning relied on it). The submitter injects 3 as well. */
const shape kThree = { 3, 4, { 0, 3 },
                       { { 1, 2 }, { -1, -1 }, { -1, -1 }, { -1, -1 } },
                       { 2, 2, -1, -1 } };

template <const shape *S, int Threads>
struct scenario : rl::test_suite<scenario<S, Threads>, Threads> {
    model m;

    void before()
    {
        m.init(S);
    }

    void thread(unsigned id)
    {
        if ((int)id < S->workers)
            m.worker_main((int)id);
        else
            m.submitter_main();
    }

    void after()
    {
        m.check_after();
    }
};

/* Either `iterations` random schedules (bound 0) or every schedule with
 * at most `bound` preemptions (Relacy's context-bound search, which also
 * enumerates the values each load may read). */
template <class T> bool check(const char *name, int iterations, int bound)
{
    rl::test_params p;
    p.iteration_count = iterations;
    p.search_type = rl::random_scheduler_type;
    if (bound > 0) {
        p.search_type = rl::fair_context_bound_scheduler_type;
        p.context_bound = (unsigned)bound;
    }
    p.execution_depth_limit = 20000;
    p.output_history = false;
    if (bound > 0)
        std::printf("model %s: every schedule with at most %d preemptions\n",
                    name, bound);
    else
        std::printf("model %s: %d random schedules\n", name, iterations);
    std::fflush(stdout);
    return rl::simulate<T>(p);
}

struct entry {
    const char *name;
    bool (*run)(const char *, int, int);
    bool small;  /* three threads: the bounded search is affordable */
};

/* The fence-only scenario first: the weakened build stops at its catch. */
const entry kScenarios[] = {
    { "hog", check<scenario<&kHog, 3>>, true },
    { "three", check<scenario<&kThree, 4>>, false },
    { "inject", check<scenario<&kInject, 3>>, true },
};

} // namespace

/* park-model [scenario|all] [iterations] [bound]: each scenario runs
 * `iterations` random schedules; the three-thread ones then also every
 * schedule with at most `bound` preemptions (0: no such search). */
int main(int argc, char **argv)
{
    const char *only = argc > 1 && std::strcmp(argv[1], "all") ? argv[1] : nullptr;
    int iterations = argc > 2 ? std::atoi(argv[2]) : 200000;
    if (iterations <= 0)
        iterations = 200000;
    int bound = argc > 3 ? std::atoi(argv[3]) : 0;
    bool ok = true;
    for (const entry &e : kScenarios) {
        if (only && std::strcmp(only, e.name))
            continue;
        ok &= e.run(e.name, iterations, 0);
        if (ok && bound > 0 && e.small)
            ok &= e.run(e.name, 0, bound);
#ifdef WEFT_MODEL_WEAKEN_FENCE
        if (!ok)
            break;
#endif
    }
#ifdef WEFT_MODEL_WEAKEN_FENCE
    /* Inverted: this build must be caught. */
    std::printf(ok ? "model: the weakened parking protocol was NOT caught\n"
                   : "model: the weakened parking protocol was caught, as it must be\n");
    return ok ? 1 : 0;
#else
    return ok ? 0 : 1;
#endif
}
