/* Trace hooks (WEFT_TRACE): what each worker and blocking-pool thread did,
 * written as Chrome trace-event JSON when weft_run returns. The recorder is
 * in trace.c; docs/diagnostics.md describes the file. This is the one
 * scheduler header besides park.h that io/ includes (for its I/O wake hook).
 */
#ifndef WEFT_SCHED_TRACE_H
#define WEFT_SCHED_TRACE_H

#include <stddef.h>
#include <stdint.h>

#include "atomic.h"
#include "weft.h"

/* Nonzero while a traced weft_run runs. Stored by weft_run before its first
 * worker starts and after the last one stopped; loaded relaxed by every hook
 * (a blocking-pool thread may outlive a run, so it is atomic). */
extern weft__atomic(int) weft__trace_on;

/* A hook: one predictable branch on a global flag when tracing is off (no
 * store, no clock read, no call); a call into trace.c when it is on. */
#define WEFT__TRACE(event, ...)                                                \
    do {                                                                       \
        if (__builtin_expect(weft__load_relaxed(&weft__trace_on), 0))          \
            weft__trace_##event(__VA_ARGS__);                                  \
    } while (0)

struct weft__worker;
struct weft__cfg;

/* Owner worker only (sched.c): a task runs from run_begin to run_end (on the
 * worker's own stack, around the switch into it); the worker sleeps in its
 * poller from park_begin to park_end; it stole `count` tasks from worker
 * `from`. */
void weft__trace_run_begin(struct weft__worker *w);
void weft__trace_run_end(struct weft__worker *w, weft_task_t *t);
void weft__trace_park_begin(struct weft__worker *w);
void weft__trace_park_end(struct weft__worker *w);
void weft__trace_steal(struct weft__worker *w, int from, unsigned count);
/* On t's own stack, the first time it runs: note its name. */
void weft__trace_task_start(weft_task_t *t);

/* Any thread, just before it wakes t (t must still be alive): t's timer
 * fired; t waited on fd, which is ready (code 0) or closed (-EBADF). */
void weft__trace_timer(weft_task_t *t);
void weft__trace_io_wake(int fd, weft_task_t *t, int code);

/* A blocking-pool thread (blocking.c) runs fn for task `caller` (NULL: the
 * call was abandoned, it will not run) from pool_begin to pool_end. */
void weft__trace_pool_begin(weft_task_t *caller);
void weft__trace_pool_end(void *(*fn)(void *));

/* weft_run: open cfg->trace (when set) and start recording for `workers`
 * workers, before the first worker thread exists; 0, or the open error after
 * one line on stderr naming WEFT_TRACE. */
int weft__trace_start(const struct weft__cfg *cfg, int workers);
/* weft_run, after the workers and the blocking pool stopped: write the file
 * and free the buffers. A no-op when tracing is off. */
void weft__trace_stop(void);

#endif
