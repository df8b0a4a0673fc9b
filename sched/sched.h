/* Scheduler internals shared by the files of sched/ (never by sync/ or io/,
 * which see park.h only). The design essay is at the top of sched.c. */
#ifndef WEFT_SCHED_SCHED_H
#define WEFT_SCHED_SCHED_H

#include <pthread.h>
#include <signal.h>
#include <stdint.h>

#include "atomic.h"
#include "debug.h"
#include "guard.h"
#include "config.h"
#include "ctx.h"
#include "idle.h"
#include "io/poller.h"
#include "park.h"
#include "runq.h"
#include "stack.h"
#include "timer.h"
#include "topology.h"
#include "weft.h"

/* ---- task park state (one atomic word, see sched.c "Parking") --------- */
enum {
    WEFT__PS_RUNNING = 0,  /* running or runnable                        */
    WEFT__PS_PARKING = 1,  /* announced a park, still on its own stack    */
    WEFT__PS_PARKED  = 2,  /* switched out, waiting for a wake            */
    WEFT__PS_WOKEN   = 3,  /* a wake claimed this park; code above        */
    WEFT__PS_PHASE   = 3,  /* mask of the phase bits                      */
    /* bit 2 (value 4) is WEFT__PARK_NOINTR (park.h)                      */
    WEFT__PS_CODE_SHIFT = 8,
};

#define WEFT__NAME_MAX 32

struct weft_task {
    weft__fiber_t        fiber;
    weft__stack_t       *stack;
    void              *(*fn)(void *);
    void                *arg;
    void                *result;
    weft__atomic(int)    pstate;     /* WEFT__PS_* | flags | code << 8     */
    weft__atomic(int)    cancelled;
    weft__atomic(int)    refs;       /* handle + running                   */
    weft__atomic(int)    done;
    int                  canary;     /* stack guarded by a canary only     */
    uint64_t             id;
    weft__timer_t        timer;      /* sleep / deadline of the current park */
    /* scoped deadlines (weft_deadline_push), owned by the task itself */
    uint64_t            *dl;
    int                  dl_n, dl_cap, dl_lost;
    uint64_t             dl_inline[4];
    /* joiners and wait_any callers, under lock (a guard.h lock) */
    weft__atomic(uint32_t) lock;
    weft__waitq_t        joiners;
    /* links */
    weft_task_t         *qnext;      /* injection queue without memory     */
    weft_task_t         *all_prev, *all_next; /* home worker's list        */
    int                  home;
    /* What the task waits on while parked (park.h WEFT__WAIT_*), for the
     * deadlock report; written by the task itself. */
    int                  wait_kind;
    const void          *wait_obj;
    const void          *spawn_site;  /* return address in the spawner  */
    /* Set once name holds the name: at spawn when given one, else when
     * first asked for (diag.c, from the function's symbol). */
    weft__atomic(int)    named;
    char                 name[WEFT__NAME_MAX];
};

/* What the task asked its worker to do once it has switched out. */
enum { WEFT__POST_NONE, WEFT__POST_YIELD, WEFT__POST_PARK, WEFT__POST_EXIT };

typedef struct weft__stats {
    weft__atomic(uint64_t) tasks_run;    /* switches into a task           */
    weft__atomic(uint64_t) spawned;
    weft__atomic(uint64_t) steals_in;    /* tasks this worker stole        */
    weft__atomic(uint64_t) steals_out;   /* tasks stolen from this worker  */
    weft__atomic(uint64_t) parks;        /* times the worker slept         */
    weft__atomic(uint64_t) timers_fired;
    weft__atomic(uint64_t) overflows;    /* half-ring moves to injection q */
    weft__atomic(uint64_t) polls;        /* event-loop polls and harvests  */
} weft__stats_t;

typedef struct weft__worker {
    weft__runq_t           rq;           /* first: cache-line aligned      */
    weft__atomic(weft_task_t *) next;    /* LIFO slot, stealable by xchg   */
    int                    id;
    pthread_t              thread;
    weft__fiber_t          sched_fiber;  /* the worker thread's own stack  */
    /* The running task: written by the owner, read by the watchdog. */
    weft__atomic(weft_task_t *) cur;
    int                    post;         /* WEFT__POST_* for the scheduler */
    int                    lifo_runs;    /* consecutive next-slot runs     */
    uint32_t               tick;
    weft__idle_node_t      idle;         /* spinning/idle state (idle.h) */
    weft__atomic(uint64_t) park_until;   /* poll deadline while parked     */
    weft__poller_t        *poller;
    /* I/O of busy workers (sched.c "Pollers"), all under rt.lock: the
     * workers whose pollers this one watches while it sleeps, how many
     * sleepers watch this one's poller, and whether it has just left a
     * park (then it may have to wake a sleeper to watch it). */
    int                   *watching;
    int                    nwatching;
    int                    watchers;
    int                    unparked;
    /* Stuck workers (sched.c "Pollers and busy workers"): ticks published
     * for the others to see, and the owner's view of theirs. */
    weft__atomic(uint32_t) ticks;
    uint32_t              *seen_ticks;
    weft__timerheap_t      timers;
    weft__stack_cache_t    stacks;
    int                   *victims;      /* nearest first                  */
    weft__atomic(uint32_t) all_lock;     /* guard.h lock of `all`          */
    weft_task_t           *all;          /* tasks homed here (live/zombie) */
    void                  *altstack;
    size_t                 altstack_size;
    weft__stats_t          st;
    uint64_t               rng;          /* weft__rand32 state (owner)     */
    /* Tasks that parked here on a wait woken from outside the tasks
     * (WEFT__WAIT_FD and after), minus those that ended such a park here:
     * the sum over the workers counts them. Owner only. */
    weft__atomic(long)     ext_parks;
} weft__worker_t;

/* A piece of the injection queue (sched.c): task pointers t[head..tail). */
#define WEFT__INJ_CHUNK 254
typedef struct weft__inj_chunk {
    struct weft__inj_chunk *next;
    uint32_t                head, tail;
    weft_task_t            *t[WEFT__INJ_CHUNK];
} weft__inj_chunk_t;

typedef struct weft__rt {
    weft__cfg_t               cfg;
    int                       nworkers;
    weft__worker_t          **w;
    const weft__poller_ops_t *pops;
    weft__topo_t             *topo;
    /* injection queue and idle list */
    pthread_mutex_t           lock;
    weft__inj_chunk_t        *gq_first, *gq_last, *gq_spare;
    weft_task_t              *gq_head, *gq_tail;  /* when no chunk could be had */
    weft__atomic(size_t)      gq_len;
    weft__idle_t              idle;      /* idle list (lock) and counters  */
    /* lifetime */
    weft__atomic(int)         stopping;
    weft__atomic(int)         shutting_down;
    weft__atomic(long)        live;      /* tasks not yet finished         */
    weft__atomic(weft_task_t *) shutdown_waiter;
    weft__atomic(uint64_t)    next_id;
    weft_task_t              *main_task;
    /* Deadlock (diag.c): 0 none; 1 reported, every task cancelled; 2 the
     * cancellation did not end it: the workers stop. */
    weft__atomic(int)         deadlock;
} weft__rt_t;

extern weft__rt_t weft__rt;

/* weft_run, after the last task: retire the blocking pool's idle threads
 * and wait up to grace_ms for the calls still running (blocking.c). */
void weft__blocking_shutdown(int grace_ms);

/* The blocking pool's threads now: alive, running a call, idle; and the
 * calls waiting for a thread (blocking.c). */
void weft__blocking_stats(int *threads, int *busy, int *idle, int *queued);

/* weft_run, before any worker thread exists: fork the process pool's
 * zygote if `processes` > 0 and there is none yet; after the last task:
 * retire the idle worker processes (io/procpool.c). */
int  weft__procpool_start(int processes);
void weft__procpool_stop(void);

/* The worker running the calling thread, or NULL: a non-inlined accessor
 * (tls.c) so no compiler caches the thread-local's address across a
 * switch. */
weft__worker_t *weft__worker_self(void);
void weft__worker_set_self(weft__worker_t *w);

/* sched.c */
int  weft__sched_start(weft_task_t *main_task);
void weft__sched_wait_and_stop(void);
void weft__ready(weft_task_t *t);          /* any thread: t is runnable   */
/* Like weft__wake, for a cancellation: leaves a NOINTR park alone. */
bool weft__wake_interrupt(weft_task_t *t, int code);
void weft__switch_to_scheduler(weft_task_t *self, int post);
void weft__task_entry(void *p);
void weft__stop_all_workers(void);

/* task.c; site: the spawner's return address, for reports (or NULL) */
weft_task_t *weft__task_new(const weft_spawn_opts_t *o, void *(*fn)(void *),
                            void *arg, int refs, const void *site);
void weft__task_finish(weft__worker_t *w, weft_task_t *t);
void weft__task_release(weft_task_t *t);
/* Frees the structs of the finished tasks; keeps (and counts) those a
 * deadlock abandoned. */
int  weft__tasks_free_all(void);
void weft__shutdown_from_main(weft_task_t *self);

/* diag.c: deadlocks. Every worker is idle, no timer armed, no task waits
 * on an fd or a blocking call and no outside waker is declared: the worker
 * that saw it (having read the stage first) calls weft__deadlock(stage),
 * which reports and cancels every task (stage 0), or, when that did not
 * end it (stage 2), abandons the tasks and stops the workers. */
int  weft__deadlock_stage(void);
void weft__deadlock(int stage);
long weft__wakers(void);            /* weft_waker_add's count */
/* The name an unnamed task running fn gets (its symbol, else "task-<id>"),
 * into b; symbols are looked up once per function. Any thread. */
void weft__fn_name(void *(*fn)(void *), uint64_t id, char *b, size_t n);
/* diag.c: the hog watchdog thread (cfg.watchdog_ms > 0), started after the
 * workers exist and stopped before they are freed. */
void weft__watchdog_start(void);
void weft__watchdog_stop(void);
/* diag.c: WEFT_STATS's table on stderr (workers stopped, not yet freed). */
void weft__print_stats(void);

/* Totals of the last finished weft_run (tests, WEFT_STATS). */
typedef struct weft__totals {
    uint64_t tasks_run, spawned, steals_in, steals_out, parks, timers_fired;
} weft__totals_t;
extern weft__totals_t weft__last_totals;

#endif
