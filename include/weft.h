/* weft — multi-core work-stealing runtime of stackful, migratable coroutines.
 *
 * The one public header. Conventions:
 *  - everything public is prefixed weft_ / WEFT_; types end in _t;
 *  - calls that can fail return int (or ssize_t): >= 0 on success, a negative
 *    errno on failure (-EINVAL, -ETIMEDOUT, -ECANCELED, ...); errno is never
 *    the channel; weft_strerror() names a code;
 *  - time is uint64_t nanoseconds; WEFT_FOREVER is UINT64_MAX;
 *  - every call that can suspend is a *suspension point*: it returns
 *    -ECANCELED once the calling task was cancelled and -ETIMEDOUT once the
 *    calling task's current deadline (weft_deadline_push) has passed. A
 *    wait that needs a timer (a timeout, a sleep, a deadline in force) may
 *    also return -ENOMEM when memory has run out and its worker's timer
 *    heap cannot grow.
 */
#ifndef WEFT_H
#define WEFT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(WEFT_STATIC)
#define WEFT_EXTERN
#elif defined(WEFT_BUILDING)
#define WEFT_EXTERN __attribute__((visibility("default")))
#else
#define WEFT_EXTERN
#endif

#define WEFT_VERSION_MAJOR 0
#define WEFT_VERSION_MINOR 1
#define WEFT_VERSION_PATCH 0

#define WEFT_FOREVER UINT64_MAX

/* ------------------------------------------------------------------------ */
/* Runtime                                                                   */
/* ------------------------------------------------------------------------ */

/* A zeroed field means "the default" (from the environment, else built in),
 * so `weft_config_t c = { .workers = 2 };` changes one thing only. */
typedef struct weft_config {
    int         workers;          /* 0: one per core allowed to the process   */
    size_t      stack_size;       /* 0: default; virtual size, RSS grows lazily */
    int         pin;              /* 0: default, 1: pin to cores, -1: never    */
    const char *poller;           /* NULL: default; "epoll", "poll", ...       */
    int         blocking_threads; /* 0: default cap of the blocking pool       */
    int         processes;        /* 0: default (WEFT_PROCESSES, else none);
                                     the process pool's worker processes    */
} weft_config_t;

/* Start the runtime, run main_fn(arg) as a task, and return once it has
 * returned: tasks still alive are then cancelled and awaited (as asyncio.run),
 * and *result (when result is not NULL) receives main_fn's return value.
 *
 * cfg may be NULL. Environment variables set the defaults and a field set in
 * cfg wins:
 *   WEFT_WORKERS=N         worker threads (1..1024); default: the cores of the
 *                          process's affinity mask, capped by a cgroup quota
 *   WEFT_STACK_SIZE=N[KMG] default task stack, virtual (16K..1G); default 256K
 *   WEFT_PIN=0|1           pin worker i to the i-th allowed core (hwloc)
 *   WEFT_POLLER=name       event-loop backend: "epoll" (Linux), "poll"
 *   WEFT_BLOCKING_THREADS=N cap of the blocking pool (1..65536); default 512
 *   WEFT_BLOCKING_KEEPALIVE_MS=N  an idle pool thread retires after N ms
 *                          (1..3600000); default 10000
 *   WEFT_BLOCKING_SHUTDOWN_MS=N   weft_run waits up to N ms for blocking
 *                          calls still running when the last task ended
 *                          (0..3600000); default 5000
 *   WEFT_PROCESSES=N       worker processes of the process pool (0..1024);
 *                          default 0: no pool (weft_process_call: -ENOTSUP)
 *   WEFT_STATS=0|1         print per-worker counters on stderr at exit
 *   WEFT_WATCHDOG_MS=N     report a task that holds its worker for N ms
 *                          without a suspension point (0..3600000, 0: off);
 *                          default 100
 *   WEFT_TRACE=path        write a Chrome trace-event JSON file of what each
 *                          worker did (task runs, parks, steals, I/O
 *                          wake-ups, blocking calls) to path when weft_run
 *                          returns; a path that cannot be opened is
 *                          weft_run's error (see docs/diagnostics.md)
 *   WEFT_TRACE_BUFFER=N[KMG] memory for the trace's events (1M..1G);
 *                          default 32M; later events are dropped, counted
 *   WEFT_DEBUG_SHUFFLE=N   testing: shuffle run and steal order with seed N
 *                          (0: off; see docs/scheduler.md)
 * A malformed value is -EINVAL with a one-line message on stderr naming the
 * variable. weft_run may be called again after it returns; it is -EBUSY while
 * another weft_run is in progress (or from inside a task).
 *
 * When every task is parked and nothing can wake one (no timer, no fd or
 * blocking call waited on, no waker declared with weft_waker_add), weft
 * prints a deadlock report naming each task and what it waits on, cancels
 * every task, and weft_run returns -EDEADLK once they have ended (tasks
 * that ignore the cancellation are abandoned: docs/diagnostics.md). */
WEFT_EXTERN int weft_run(const weft_config_t *cfg, void *(*main_fn)(void *),
                         void *arg, void **result);

/* The message for a weft return code (a negative errno); never NULL. */
WEFT_EXTERN const char *weft_strerror(int err);

/* ------------------------------------------------------------------------ */
/* Tasks                                                                     */
/* ------------------------------------------------------------------------ */

typedef struct weft_task weft_task_t;

typedef struct weft_spawn_opts {
    size_t      stack_size;   /* 0: runtime default; rounded up to pages */
    const char *name;         /* shown in errors, stats and traces; copied */
} weft_spawn_opts_t;

/* The result of a task that was cancelled before its function ever ran. */
#define WEFT_CANCELED ((void *)-1)

/* Spawn fn(arg) as a joinable task; it may run on any worker and move between
 * workers at each suspension point. Returns NULL when memory or mappings run
 * out, or when called outside weft_run. The handle must be given to
 * weft_join, weft_wait_for or weft_detach exactly once. */
WEFT_EXTERN weft_task_t *weft_spawn(void *(*fn)(void *), void *arg);
WEFT_EXTERN weft_task_t *weft_spawn_ex(const weft_spawn_opts_t *o,
                                       void *(*fn)(void *), void *arg);
/* Spawn a detached task: 0, -ENOMEM, -EINVAL (fn NULL) or -ESRCH (no runtime). */
WEFT_EXTERN int weft_go(void *(*fn)(void *), void *arg);

/* Wait for t to finish and free its handle; *result (if result is not NULL)
 * is what its function returned, or WEFT_CANCELED if it was cancelled before
 * it ran. Returns -ECANCELED / -ETIMEDOUT only for the caller's own
 * cancellation or deadline, and the handle stays valid then. -EINVAL for a
 * NULL t or a task joining itself. From a thread that is not a weft task it
 * blocks that thread. */
WEFT_EXTERN int weft_join(weft_task_t *t, void **result);
/* Give up the handle: the task runs on and is freed when it finishes. */
WEFT_EXTERN void weft_detach(weft_task_t *t);
/* Cancel t: from now until t returns, every suspension point in t returns
 * -ECANCELED at once (a parked t is woken). A task cancelled before it first
 * ran never runs its function. Cancelling a finished task is a no-op.
 * Returns 0, or -EINVAL for NULL. Any thread may call it. */
WEFT_EXTERN int weft_cancel(weft_task_t *t);
/* The calling task, or NULL outside a task. */
WEFT_EXTERN weft_task_t *weft_self(void);
/* Let other ready tasks run; the caller goes to the back of its worker's
 * queue. 0, or -ECANCELED / -ETIMEDOUT; -EPERM outside a task. */
WEFT_EXTERN int weft_yield(void);
/* The task's name as given to weft_spawn_ex, else the symbol of the function
 * it runs ("handle_conn"), else "task-17" (its number); never NULL for a
 * live task. */
WEFT_EXTERN const char *weft_task_name(const weft_task_t *t);
/* Index (0..workers-1) of the worker running the caller, -1 outside a task.
 * It can change at every suspension point: tasks migrate. */
WEFT_EXTERN int weft_worker_id(void);
/* Number of workers of the running runtime, 0 when none runs. */
WEFT_EXTERN int weft_workers(void);

/* ------------------------------------------------------------------------ */
/* Time and deadlines                                                        */
/* ------------------------------------------------------------------------ */

/* Monotonic clock, nanoseconds. */
WEFT_EXTERN uint64_t weft_now(void);
/* Sleep at least ns. 0, -ECANCELED, -ETIMEDOUT (the caller's deadline came
 * first). Outside a task it sleeps the thread. */
WEFT_EXTERN int weft_sleep(uint64_t ns);
/* Scoped deadline: every suspension point until the matching pop returns
 * -ETIMEDOUT once timeout_ns from now has passed. Scopes nest and the nearest
 * deadline wins (an inner scope cannot extend an outer one). Outside a task
 * both calls do nothing; a pop without a push does nothing. */
WEFT_EXTERN void weft_deadline_push(uint64_t timeout_ns);
WEFT_EXTERN void weft_deadline_pop(void);
/* Join with a timeout (asyncio.wait_for). If t does not finish within
 * timeout_ns, or the caller is cancelled or its own deadline passes, t is
 * cancelled, waited for and freed, and the call returns -ETIMEDOUT (or
 * -ECANCELED for the caller's cancellation). On 0, t is freed as by weft_join. */
WEFT_EXTERN int weft_wait_for(weft_task_t *t, uint64_t timeout_ns, void **result);
/* Wait until one of ts[0..n) has finished (asyncio FIRST_COMPLETED) and
 * return its index (the lowest when several are done); the handles stay
 * valid. -ETIMEDOUT after timeout_ns (WEFT_FOREVER: none), -EINVAL for n == 0
 * or a NULL handle, -ECANCELED. */
WEFT_EXTERN int weft_wait_any(weft_task_t *const *ts, size_t n,
                              uint64_t timeout_ns);
/* Join every task of ts[0..n) (asyncio.gather); results[i] (if results is
 * not NULL) receives each result. On an error of the caller (-ECANCELED,
 * -ETIMEDOUT), the tasks not yet joined are cancelled, joined and freed as
 * well, so no handle leaks; the error is returned. */
WEFT_EXTERN int weft_join_all(weft_task_t *const *ts, size_t n, void **results);

/* ------------------------------------------------------------------------ */
/* Executors                                                                 */
/* ------------------------------------------------------------------------ */

/* Run fn(arg) on the blocking thread pool and park only the calling task
 * until it returns (asyncio's run_in_executor, Tokio's spawn_blocking):
 * for code that blocks its thread, a disk read or a library without an
 * async API. *result (if result is not NULL) receives fn's return value.
 *
 * The pool grows on demand up to WEFT_BLOCKING_THREADS threads; calls
 * beyond that wait in FIFO order. 0, -EINVAL (fn NULL), -ENOMEM, -EAGAIN
 * (no pool thread could be started), or -ECANCELED / -ETIMEDOUT: the
 * caller was cancelled or its deadline passed. Then it returns at once,
 * and fn, if it had started, runs to completion on its thread, its result
 * discarded (if it had not started, it never runs): keep what fn uses
 * alive until it returns. A call that completed wins over a cancellation
 * that raced with it. From a thread that is not a task, fn runs on the
 * calling thread. */
WEFT_EXTERN int weft_blocking(void *(*fn)(void *), void *arg, void **result);

/* Subprocesses (asyncio.create_subprocess_exec, Go's os/exec). A program is
 * started with each of its stdin, stdout and stderr inherited, piped to us,
 * or sent to /dev/null. Piped ends are non-blocking fds read and written
 * with weft_read / weft_write (weft_process_fd); the child starts with an
 * empty signal mask and SIGPIPE at its default action. */
typedef struct weft_process weft_process_t;
enum { WEFT_STDIO_INHERIT = 0, WEFT_STDIO_PIPE = 1, WEFT_STDIO_NULL = 2 };
typedef struct weft_process_opts {
    const char *const *argv;   /* argv[0] is looked up in PATH; NULL-ended */
    const char *const *envp;   /* NULL: this process's environment */
    const char        *cwd;    /* NULL: this process's directory */
    int stdin_mode, stdout_mode, stderr_mode;  /* WEFT_STDIO_* */
} weft_process_opts_t;
/* Start the program: 0 and *out, or -EINVAL, -ENOENT (no such program),
 * -EACCES, -EMFILE, -ENOMEM, ... (the program never ran). */
WEFT_EXTERN int weft_process_spawn(const weft_process_opts_t *o, weft_process_t **out);
WEFT_EXTERN int weft_process_pid(const weft_process_t *p);
/* Our end of the child's stream which (0 stdin, 1 stdout, 2 stderr), or
 * -EBADF when it is not piped (or closed). The fd belongs to p. */
WEFT_EXTERN int weft_process_fd(const weft_process_t *p, int which);
/* Close our end of a pipe early (closing stdin sends the child EOF). */
WEFT_EXTERN int weft_process_close_fd(weft_process_t *p, int which);
/* Send signal sig (through a pidfd where there is one, so never to a
 * recycled pid). -ESRCH once it has been awaited. */
WEFT_EXTERN int weft_process_kill(weft_process_t *p, int sig);
/* Wait for the child to exit, parking the task (not the worker); *status
 * (if not NULL) gets waitpid's status (WIFEXITED, WEXITSTATUS, ...). When
 * the waiting task is cancelled or its deadline passes, the child is
 * killed (SIGKILL) and reaped, and -ECANCELED / -ETIMEDOUT is returned.
 * Waiting again after it returned 0 returns the same status. */
WEFT_EXTERN int weft_process_wait(weft_process_t *p, int *status);
/* Close the pipes and free p; a child not yet awaited is killed and reaped
 * first (no zombie is left). NULL does nothing. */
WEFT_EXTERN void weft_process_free(weft_process_t *p);

/* Process pool (asyncio's ProcessPoolExecutor): run fn in one of
 * WEFT_PROCESSES worker processes, bytes in, bytes out, parking only the
 * calling task. fn receives a copy of in[0..in_len) and may set *out to a
 * malloc'd buffer of *out_len bytes (the worker frees it); it returns 0 or
 * a negative errno. fn runs in a plain single-threaded process forked from
 * this program before weft_run started its threads: it may not use weft's
 * runtime of this process, and its writes to memory stay in the worker.
 *
 * Returns fn's return value, with *out (malloc'd; free it) and *out_len;
 * or -ENOTSUP (no pool: WEFT_PROCESSES is 0), -EINVAL, -ENOMEM, -EAGAIN (no
 * worker could be started), -ECHILD (the worker died during the call: a
 * crash, an abort or an exit; the next call gets a new one), or
 * -ECANCELED / -ETIMEDOUT (the caller's; its worker is killed). Calls beyond
 * the pool's size wait for a free worker. */
typedef int (*weft_proc_fn)(const void *in, size_t in_len, void **out, size_t *out_len);
WEFT_EXTERN int weft_process_call(weft_proc_fn fn, const void *in, size_t in_len,
                                  void **out, size_t *out_len);

/* ------------------------------------------------------------------------ */
/* Synchronisation                                                           */
/* ------------------------------------------------------------------------ */

/* Every primitive below parks the calling task, never its worker thread, and
 * is safe between tasks on different workers. Called from a thread that is
 * not a weft task (a blocking-pool thread, a foreign library's thread) the
 * same calls block that thread instead.
 *
 * Waits are suspension points: a wait that has to sleep returns -ECANCELED
 * when the task is cancelled and -ETIMEDOUT when its deadline
 * (weft_deadline_push) passes. A call that does not have to wait succeeds
 * without looking at either, and a wait that completed wins over a
 * cancellation that raced with it (nothing is lost: the next suspension point
 * reports the cancellation). A waiter that gives up leaves the primitive
 * consistent: the wake-up or the resource it would have had goes to the next
 * waiter.
 *
 * The structs are public only so they can be statically initialised and
 * embedded; their fields are private. None may be copied or moved while in
 * use. See docs/sync.md for each one next to its asyncio and Go equivalent. */

/* Mutex (asyncio.Lock, sync.Mutex). Not recursive; unlock by any task or
 * thread is allowed (as in Go). Barging keeps it fast under contention, and a
 * waiter that has waited more than 1 ms is handed the lock directly, so no
 * waiter starves. */
typedef struct weft_mutex {
    uint32_t state_, guard_;
    void    *head_, *tail_;
} weft_mutex_t;
#define WEFT_MUTEX_INIT { 0, 0, NULL, NULL }
/* 0, or -ECANCELED / -ETIMEDOUT (without the lock) if it had to wait. */
WEFT_EXTERN int  weft_mutex_lock(weft_mutex_t *m);
/* 0 with the lock, or -EBUSY. Never waits. */
WEFT_EXTERN int  weft_mutex_trylock(weft_mutex_t *m);
WEFT_EXTERN void weft_mutex_unlock(weft_mutex_t *m);

/* Condition variable (asyncio.Condition, sync.Cond). */
typedef struct weft_cond {
    uint32_t state_, guard_;
    void    *head_, *tail_;
} weft_cond_t;
#define WEFT_COND_INIT { 0, 0, NULL, NULL }
/* Unlock m, wait for a signal, lock m again. Returns with m locked, always:
 * 0 when signalled, -ECANCELED / -ETIMEDOUT when the wait was interrupted.
 * There are no spurious wake-ups, but a signalled waiter may find the
 * condition false again (another task got there first): wait in a loop. */
WEFT_EXTERN int  weft_cond_wait(weft_cond_t *c, weft_mutex_t *m);
/* Wake the longest waiter / every waiter; nothing when none waits. The
 * caller need not hold the mutex. */
WEFT_EXTERN void weft_cond_signal(weft_cond_t *c);
WEFT_EXTERN void weft_cond_broadcast(weft_cond_t *c);

/* Event (asyncio.Event): a flag that tasks wait to see set. */
typedef struct weft_event {
    uint32_t state_, guard_;
    void    *head_, *tail_;
} weft_event_t;
#define WEFT_EVENT_INIT { 0, 0, NULL, NULL }
/* Set the flag and wake every waiter; it stays set until cleared. */
WEFT_EXTERN void weft_event_set(weft_event_t *e);
WEFT_EXTERN void weft_event_clear(weft_event_t *e);
/* 1 when set, else 0. */
WEFT_EXTERN int  weft_event_is_set(const weft_event_t *e);
/* 0 once the flag is (or has been, since the call began) set. */
WEFT_EXTERN int  weft_event_wait(weft_event_t *e);

/* Counting semaphore (asyncio.Semaphore, a buffered chan struct{} in Go).
 * A release with waiters hands the unit to the longest waiter (FIFO). At most
 * WEFT_SEM_MAX units. */
typedef struct weft_sem {
    uint32_t state_, guard_;
    void    *head_, *tail_;
} weft_sem_t;
#define WEFT_SEM_MAX 0x7fffffffu
#define WEFT_SEM_INIT(n) { (uint32_t)(n) << 1, 0, NULL, NULL }
/* n above WEFT_SEM_MAX is clamped to it. */
WEFT_EXTERN void weft_sem_init(weft_sem_t *s, unsigned n);
WEFT_EXTERN int  weft_sem_acquire(weft_sem_t *s);
/* 0 with a unit, or -EAGAIN. Never waits. */
WEFT_EXTERN int  weft_sem_try_acquire(weft_sem_t *s);
/* Return a unit; -EOVERFLOW (and nothing changes) at WEFT_SEM_MAX. */
WEFT_EXTERN int  weft_sem_release(weft_sem_t *s);

/* Wait group (sync.WaitGroup; asyncio.gather over tasks you did not spawn). */
typedef struct weft_wg {
    int32_t  count_;
    uint32_t guard_;
    void    *head_, *tail_;
} weft_wg_t;
#define WEFT_WG_INIT { 0, 0, NULL, NULL }
/* Add n (may be negative) to the counter; at zero every waiter wakes.
 * -EINVAL, and the counter is unchanged, if it would go below zero (Go
 * panics there) or overflow. */
WEFT_EXTERN int  weft_wg_add(weft_wg_t *w, int n);
/* weft_wg_add(w, -1). */
WEFT_EXTERN int  weft_wg_done(weft_wg_t *w);
/* 0 once the counter is (or has been, since the call began) zero. */
WEFT_EXTERN int  weft_wg_wait(weft_wg_t *w);

/* Reader-writer lock (sync.RWMutex). Fair: waiters are served in arrival
 * order, a batch of consecutive readers at a time, so neither side starves;
 * a reader arriving while a writer waits queues behind it. */
typedef struct weft_rwlock {
    uint32_t state_, guard_;
    void    *head_, *tail_;
} weft_rwlock_t;
#define WEFT_RWLOCK_INIT { 0, 0, NULL, NULL }
WEFT_EXTERN int  weft_rwlock_rdlock(weft_rwlock_t *l);
WEFT_EXTERN int  weft_rwlock_wrlock(weft_rwlock_t *l);
/* 0 or -EBUSY. Never wait. */
WEFT_EXTERN int  weft_rwlock_tryrdlock(weft_rwlock_t *l);
WEFT_EXTERN int  weft_rwlock_trywrlock(weft_rwlock_t *l);
/* Release a read or a write hold (the lock knows which it is). */
WEFT_EXTERN void weft_rwlock_unlock(weft_rwlock_t *l);

/* Channels (Go's chan; asyncio.Queue). Elements are copied in and out by
 * value, elem_size bytes each (0 is allowed: a channel of signals). */
typedef struct weft_chan weft_chan_t;
/* capacity 0: unbuffered, every send waits for its receiver (rendezvous).
 * NULL when out of memory or elem_size * capacity overflows. */
WEFT_EXTERN weft_chan_t *weft_chan_new(size_t elem_size, size_t capacity);
/* 0, or -EPIPE when the channel is (or becomes, while waiting) closed. */
WEFT_EXTERN int  weft_chan_send(weft_chan_t *ch, const void *elem);
/* 0; -EPIPE once the channel is closed and its buffer drained. */
WEFT_EXTERN int  weft_chan_recv(weft_chan_t *ch, void *elem);
/* As above, but -EAGAIN instead of waiting. */
WEFT_EXTERN int  weft_chan_try_send(weft_chan_t *ch, const void *elem);
WEFT_EXTERN int  weft_chan_try_recv(weft_chan_t *ch, void *elem);
/* Close: waiting senders and receivers wake with -EPIPE; receivers first
 * drain what is buffered. Closing twice does nothing. */
WEFT_EXTERN void weft_chan_close(weft_chan_t *ch);
/* Elements buffered now, and the capacity. */
WEFT_EXTERN size_t weft_chan_len(const weft_chan_t *ch);
WEFT_EXTERN size_t weft_chan_cap(const weft_chan_t *ch);
/* Free a channel no task uses or waits on any more. NULL does nothing. */
WEFT_EXTERN void weft_chan_free(weft_chan_t *ch);

enum { WEFT_SEND = 1, WEFT_RECV = 2 };
/* One case of weft_select. chan NULL: the case is never ready (Go's nil
 * channel). result: set for the chosen case, 0 or -EPIPE (closed). */
typedef struct weft_select_case {
    weft_chan_t *chan;
    int          op;      /* WEFT_SEND or WEFT_RECV */
    void        *elem;    /* WEFT_SEND: the value; WEFT_RECV: where it goes */
    int          result;
} weft_select_case_t;
/* Go's select: wait until one of the cases can proceed, perform it and
 * return its index. When several are ready one is chosen uniformly at
 * random. A closed channel makes its cases ready (result -EPIPE).
 * timeout_ns: WEFT_FOREVER waits without limit, 0 only polls. Returns
 * -ETIMEDOUT when the timeout passes, -EINVAL for a bad op or cases NULL with
 * n > 0, -ENOMEM, or -ECANCELED / -ETIMEDOUT as any wait. */
WEFT_EXTERN int weft_select(weft_select_case_t *cases, size_t n, uint64_t timeout_ns);

/* Future (asyncio.Future, a promise): a result that is set once, by anyone,
 * and waited for by any number of tasks and threads. A future is either
 * pending or done; done with a value (weft_future_set) or with an error
 * (weft_future_fail; weft_future_cancel is a fail with -ECANCELED).
 * Reference counted: weft_future_new returns one reference, and whoever
 * calls into a future must hold one for the length of the call. */
typedef struct weft_future weft_future_t;
typedef void (*weft_future_cb)(weft_future_t *f, void *arg);
/* NULL when out of memory. */
WEFT_EXTERN weft_future_t *weft_future_new(void);
WEFT_EXTERN weft_future_t *weft_future_retain(weft_future_t *f);
/* Drop one reference; the last frees the future (and its pending callbacks,
 * unrun). NULL does nothing. */
WEFT_EXTERN void weft_future_release(weft_future_t *f);
/* Make f done. 0, or -EALREADY when it was done already (nothing changes).
 * Waiters wake, then the done-callbacks run in this call, in the order they
 * were added. fail: err must be a negative errno (-EINVAL otherwise). */
WEFT_EXTERN int  weft_future_set(weft_future_t *f, void *value);
WEFT_EXTERN int  weft_future_fail(weft_future_t *f, int err);
WEFT_EXTERN int  weft_future_cancel(weft_future_t *f);
/* 1 when done, else 0. */
WEFT_EXTERN int  weft_future_done(const weft_future_t *f);
/* The outcome without waiting: 0 (and *value) when set, the error when
 * failed, -EAGAIN while pending. value may be NULL. */
WEFT_EXTERN int  weft_future_result(const weft_future_t *f, void **value);
/* Wait until done, then as weft_future_result; or -ECANCELED / -ETIMEDOUT
 * of the waiting task itself (the future is untouched). */
WEFT_EXTERN int  weft_future_wait(weft_future_t *f, void **value);
/* Call cb(f, arg) once f is done: at once in this call when it already is,
 * else in the call that makes it done. 0, -ENOMEM, or -EINVAL (cb NULL).
 * The future holds no
 * reference for the callback; keep one until it has run. */
WEFT_EXTERN int  weft_future_on_done(weft_future_t *f, weft_future_cb cb, void *arg);

/* ------------------------------------------------------------------------ */
/* I/O                                                                       */
/* ------------------------------------------------------------------------ */

/* System headers with C linkage of their own; here so that the I/O section
 * stays in one place. <sys/select.h> defines sigset_t even in strict ISO C
 * mode (-std=c11), where <signal.h> alone does not. */
#include <signal.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

/* File descriptors stay plain ints. Every call below tries its syscall first
 * and parks the calling task only when the syscall says EAGAIN; it resumes
 * when the fd's poller reports readiness, possibly on another worker. A
 * parked call returns -ECANCELED once the task is cancelled and -ETIMEDOUT
 * once its deadline (weft_deadline_push) passes; a call that did not need
 * to park does not look at either.
 *
 * The fds must be non-blocking (weft_socket, weft_accept and the weft_tcp_*
 * helpers make them so; O_NONBLOCK for pipes and others): on a blocking fd
 * the syscall blocks the whole worker. Close an fd that tasks may wait on
 * with weft_close, not close(2): it wakes them with -EBADF and drops the
 * fd's registration before the number can be reused.
 *
 * SIGPIPE: writes to sockets use MSG_NOSIGNAL, and weft_run sets SIGPIPE to
 * SIG_IGN while it runs if it was SIG_DFL (so writes to pipes fail with
 * -EPIPE too); the disposition is put back when weft_run returns.
 *
 * Called from a plain thread (not a weft task), these calls block that
 * thread in poll(2) on the one fd, without deadlines; weft_close from
 * another thread does not wake such a thread.
 *
 * Errors are negative errno values; bad arguments give -EBADF, -EINVAL or
 * -EFAULT from the kernel, never an abort. */

#define WEFT_READABLE 1
#define WEFT_WRITABLE 2

/* socket(2) with SOCK_NONBLOCK | SOCK_CLOEXEC added: the fd, or -errno. */
WEFT_EXTERN int weft_socket(int domain, int type, int protocol);
/* Accept a connection on listening socket fd, waiting for one if needed.
 * The new fd is non-blocking and close-on-exec. -EMFILE/-ENFILE when out of
 * fds: the pending connection stays queued and a later call can take it.
 * Connections reset before they were accepted are skipped. */
WEFT_EXTERN int weft_accept(int fd, struct sockaddr *addr, socklen_t *len);
/* Connect fd (from weft_socket) to addr, waiting for the handshake: 0, or
 * -ECONNREFUSED, -ETIMEDOUT (the kernel's or the task's deadline), ...
 * A Unix-domain listener with a full backlog is retried after a sleep of
 * 1 ms doubling up to 64 ms until it takes the connection. After
 * -ECANCELED or -ETIMEDOUT the socket's state is unknown: close it. */
WEFT_EXTERN int weft_connect(int fd, const struct sockaddr *addr, socklen_t len);
/* read(2): the bytes read (0 at end of file or after the peer's shutdown),
 * waiting until at least one byte or the end is there. */
WEFT_EXTERN ssize_t weft_read(int fd, void *buf, size_t n);
/* write(2) (send(2) with MSG_NOSIGNAL on sockets): the bytes written, at
 * least one; may be fewer than n. -EPIPE or -ECONNRESET when the peer has
 * gone. */
WEFT_EXTERN ssize_t weft_write(int fd, const void *buf, size_t n);
/* Write all n bytes, waiting as often as needed: n, or a negative errno (some
 * bytes may have been written before the error). */
WEFT_EXTERN ssize_t weft_write_all(int fd, const void *buf, size_t n);
/* readv(2) / writev(2) (sendmsg with MSG_NOSIGNAL on sockets), like
 * weft_read / weft_write. -EINVAL for n < 0 or n > IOV_MAX. */
WEFT_EXTERN ssize_t weft_readv(int fd, const struct iovec *iov, int n);
WEFT_EXTERN ssize_t weft_writev(int fd, const struct iovec *iov, int n);
/* recvfrom(2) / sendto(2) for datagram and stream sockets; MSG_DONTWAIT
 * (and MSG_NOSIGNAL for sendto) are added to flags. */
WEFT_EXTERN ssize_t weft_recvfrom(int fd, void *buf, size_t n, int flags,
                                  struct sockaddr *a, socklen_t *l);
WEFT_EXTERN ssize_t weft_sendto(int fd, const void *buf, size_t n, int flags,
                                const struct sockaddr *a, socklen_t l);
/* Wait until fd is readable and/or writable (events: WEFT_READABLE |
 * WEFT_WRITABLE); returns the subset of events that is ready (an error or
 * hang-up counts as both). -EINVAL for other bits or none, -EBADF. */
WEFT_EXTERN int weft_wait_fd(int fd, int events);
/* Close fd: tasks parked on it wake with -EBADF, then close(2). 0 or -errno. */
WEFT_EXTERN int weft_close(int fd);
/* A TCP socket bound to host:port and listening (backlog <= 0: SOMAXCONN),
 * with SO_REUSEADDR. host NULL, "" or "*": every address (IPv6 dual-stack
 * where available, else IPv4); otherwise a numeric IPv4/IPv6 address or a
 * name (resolved as in weft_tcp_connect). Port 0 picks a free port: see
 * weft_local_port. The fd, or -errno (-ENOENT: unknown host name). */
WEFT_EXTERN int weft_tcp_listen(const char *host, uint16_t port, int backlog);
/* The local port of socket fd (after weft_tcp_listen(.., 0, ..)), or -errno. */
WEFT_EXTERN int weft_local_port(int fd);
/* A TCP connection to host:port, trying each address of host in turn: the
 * connected, non-blocking fd, or the last address's error (-ECONNREFUSED,
 * -ENOENT for an unknown name, ...). A numeric host is used as is; a name
 * is resolved with getaddrinfo on the blocking pool while the calling task
 * parks, so the worker keeps running other tasks; the task's deadline and
 * cancellation interrupt the wait (the lookup then finishes on its own). */
WEFT_EXTERN int weft_tcp_connect(const char *host, uint16_t port);
/* Wait for one of the signals in set and return its number. On Linux it
 * reads a signalfd, which sees only blocked signals: block set in the thread
 * that calls weft_run, before calling it (the workers inherit its mask), or
 * the signal's default action runs instead; -EINVAL when set is empty or
 * not blocked in the calling thread. Elsewhere a handler writes to a
 * self-pipe (not exercised by Linux CI). */
WEFT_EXTERN int weft_signal_wait(const sigset_t *set);

/* Files. A regular file is always "ready" to a poller, yet reading it can
 * wait for the disk: these run on the blocking pool (weft_blocking) and
 * park only the calling task. A caller that is cancelled or times out
 * returns at once (-ECANCELED / -ETIMEDOUT) and its buffer is not touched
 * afterwards (the pool thread works on a copy); the operation itself may
 * still complete on the file. */
/* pread(2) / pwrite(2): bytes read (0 at the end) or written, or -errno.
 * weft_pwrite writes all n bytes unless an error stops it (then the count
 * so far, or the error when nothing was written). */
WEFT_EXTERN ssize_t weft_pread(int fd, void *buf, size_t n, off_t offset);
WEFT_EXTERN ssize_t weft_pwrite(int fd, const void *buf, size_t n, off_t offset);
/* The whole file at path: 0 with *data (malloc'd; free it) and *len, or
 * -errno (-ENOENT, -EACCES, -EISDIR, ...). */
WEFT_EXTERN int weft_file_read(const char *path, void **data, size_t *len);
/* Create or truncate path (mode 0666 & ~umask) and write len bytes: 0 or
 * -errno (-ENOSPC, ...; a close that fails counts). */
WEFT_EXTERN int weft_file_write(const char *path, const void *data, size_t len);
/* Send count bytes of file in_fd from *offset to socket out_fd (sendfile
 * on Linux: no copy through user space), waiting while the socket is full;
 * *offset advances. The bytes sent (fewer only when the file ends first or
 * after an error), or -errno when nothing was sent. The file side reads
 * the page cache on the calling worker (as nginx does without aio). */
WEFT_EXTERN ssize_t weft_sendfile(int out_fd, int in_fd, off_t *offset, size_t count);

/* ------------------------------------------------------------------------ */
/* Diagnostics (docs/diagnostics.md)                                         */
/* ------------------------------------------------------------------------ */

/* Declare n threads outside weft that may still wake a task (send on a
 * channel, set an event, unlock a mutex, complete a future) while every
 * task is parked; a negative n retires them. While any are declared weft
 * reports no deadlock: it cannot see such threads coming. 0, or -EINVAL
 * when the count would drop below 0 (it is left unchanged). Any thread, at
 * any time; the count outlives weft_run. */
WEFT_EXTERN int weft_waker_add(int n);

/* One worker's counters, totals since weft_run began unless noted. */
typedef struct weft_worker_stats {
    uint64_t tasks_run;     /* switches into a task                        */
    uint64_t spawned;       /* tasks spawned by tasks running here          */
    uint64_t steals_in;     /* tasks it stole from other workers            */
    uint64_t steals_out;    /* tasks other workers stole from it            */
    uint64_t parks;         /* times it slept for want of work              */
    uint64_t polls;         /* times it polled its event loop               */
    uint64_t timers_fired;
    uint64_t overflows;     /* times its full queue moved half to the global one */
    uint32_t queue_depth;   /* now: tasks in its queue                      */
    uint32_t stacks_cached; /* now: free stacks in its cache                */
    int      running;       /* now: 1 while it runs a task                  */
} weft_worker_stats_t;

/* The runtime's state now. */
typedef struct weft_stats {
    int      workers;
    int      idle_workers;     /* asleep for want of work                   */
    uint64_t live_tasks;       /* spawned and not finished, main included   */
    uint64_t injected;         /* tasks in the global queue                 */
    int      blocking_threads; /* blocking-pool threads alive               */
    int      blocking_busy;    /* ... running a call                        */
    int      blocking_idle;    /* ... waiting for one                       */
    int      blocking_queued;  /* calls waiting for a thread                */
    size_t   stacks_cached;    /* free stacks in the workers' caches        */
    size_t   stacks_pooled;    /* free stacks in the shared pools           */
} weft_stats_t;

/* A snapshot of the running runtime into *s, and of the first n workers into
 * per_worker[0..n) (NULL when n is 0). Returns the number of workers (more
 * than n: the others were left out), -ESRCH when no runtime runs, -EINVAL
 * for a NULL s or per_worker. Nothing is stopped to take it: each counter
 * is exact, the whole is a picture taken over a few microseconds. From a
 * task, or from a thread while weft_run surely runs. WEFT_STATS=1 prints
 * the same at exit. */
WEFT_EXTERN int weft_stats(weft_stats_t *s, weft_worker_stats_t *per_worker, int n);

#ifdef __cplusplus
}
#endif
#endif /* WEFT_H */
