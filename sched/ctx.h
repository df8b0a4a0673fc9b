/* Context switch between stacks (one assembly file per architecture) and the
 * sanitizer/valgrind annotations every switch needs. */
#ifndef WEFT_SCHED_CTX_H
#define WEFT_SCHED_CTX_H

#include <stddef.h>

/* Save the callee-saved registers and FP control state of the caller on its
 * own stack, store that stack pointer in *save_sp, load load_sp and restore
 * the state saved there; "returns" in the context that saved load_sp.
 * Implemented in ctx_<arch>.S. */
void weft__ctx_switch(void **save_sp, void *load_sp);

/* Build the first frame on a fresh stack whose highest address is top, so
 * that the first weft__ctx_switch to the returned stack pointer calls
 * entry(data) on that stack. entry must never return: the trampoline traps. */
void *weft__ctx_make(void *top, void (*entry)(void *), void *data);

/* ---- sanitizer and valgrind annotations -------------------------------- */

#if defined(__SANITIZE_ADDRESS__)
#define WEFT_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define WEFT_ASAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define WEFT_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define WEFT_TSAN 1
#endif
#endif

/* Per-context bookkeeping for the tools that must know which stack is live. */
typedef struct weft__fiber {
    void       *sp;          /* saved stack pointer while switched out      */
    void       *stack_lo;    /* lowest usable address                        */
    size_t      stack_size;
#ifdef WEFT_ASAN
    void       *asan_fake;   /* ASan fake-stack handle while switched out   */
#endif
#ifdef WEFT_TSAN
    void       *tsan_fiber;
#endif
    int         is_thread;   /* the thread's own stack, not a task stack     */
    unsigned    vg_id;       /* valgrind stack id, 0 when not registered      */
} weft__fiber_t;

/* Set up / tear down a fiber for a task stack (stack_lo NULL: the calling
 * thread's own stack). */
void weft__fiber_init(weft__fiber_t *f, void *stack_lo, size_t size);
void weft__fiber_fini(weft__fiber_t *f);

/* Switch from the running fiber `from` to `to`. `from_dying` tells the tools
 * that from's stack is about to be released and will never be resumed. */
void weft__fiber_switch(weft__fiber_t *from, weft__fiber_t *to, int from_dying);

/* To be called first thing on a fresh fiber's stack (its entry function). */
void weft__fiber_started(weft__fiber_t *self);

#endif
