/* Task stacks: mmap'd in slabs, each stack under a guard region, pooled per
 * size and cached per worker. See docs/scheduler.md ("Stacks") for why slabs:
 * one mapping per guarded stack cannot reach a million stacks under the
 * default vm.max_map_count of 65530. */
#ifndef WEFT_SCHED_STACK_H
#define WEFT_SCHED_STACK_H

#include <stddef.h>

#include "atomic.h"

/* How a stack's overflow is caught. */
enum {
    WEFT__GUARD_MADV,     /* MADV_GUARD_INSTALL (Linux 6.13+): no extra VMA */
    WEFT__GUARD_MPROTECT, /* PROT_NONE page: two extra VMAs, so budgeted   */
    WEFT__GUARD_CANARY,   /* past the budget: the lowest 256 bytes hold a
                             pattern checked at every switch-out and in the
                             fault handler; a frame that jumps over them
                             without writing them is missed */
};

#define WEFT__STACK_GUARD (16u * 1024u)  /* guard region below each stack */
#define WEFT__STACK_CACHE 64             /* stacks a worker keeps at hand */

typedef struct weft__stack_pool weft__stack_pool_t;

typedef struct weft__stack {
    void                *lo;     /* lowest usable address (guard below it) */
    size_t               size;   /* usable bytes                           */
    weft__stack_pool_t  *pool;
    struct weft__stack  *next;   /* free-list link                         */
    int                  guard;  /* WEFT__GUARD_*                          */
} weft__stack_t;

/* A worker's private cache of default-size stacks; owner worker only. */
typedef struct weft__stack_cache {
    weft__stack_t *s[WEFT__STACK_CACHE];
    weft__atomic(int) n;   /* read by weft_stats from any thread */
    size_t         size;   /* the runtime's default stack size */
} weft__stack_cache_t;

/* Any thread. A stack of `size` usable bytes (page-rounded), from the cache
 * when it holds that size. NULL when memory or mappings run out. */
weft__stack_t *weft__stack_get(weft__stack_cache_t *c, size_t size);
/* Any thread (c NULL) or c's owner. */
void weft__stack_put(weft__stack_cache_t *c, weft__stack_t *s);
/* Any thread, best when idle: give the pages of pooled stacks beyond a
 * resident reserve back to the kernel (the mappings stay for reuse), a
 * bounded batch per call. Returns how many were released. */
int weft__stack_trim(void);
/* Move a cache's stacks back to their pools (owner, at worker exit). */
void weft__stack_cache_drain(weft__stack_cache_t *c);
/* Unmap every pool (when no stack is in use: end of weft_run). */
void weft__stacks_release_all(void);

/* Did a canary-guarded stack overflow? (always 0 for page guards) */
int weft__stack_smashed(const weft__stack_t *s);
/* Is addr inside s's guard region? (async-signal-safe) */
int weft__stack_guard_hit(const weft__stack_t *s, const void *addr);

/* Tests: force new slabs to use at most this guard kind (-1: automatic). */
void weft__stack_force_guard(int kind);
/* Stacks currently held by all per-size pools' free lists (for stats). */
size_t weft__stack_pooled(void);

#endif
