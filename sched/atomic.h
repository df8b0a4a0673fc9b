/* Named atomics: every memory order in weft is spelled out in the name of the
 * operation, so a review can grep for "relaxed" or "seq_cst" (the mimalloc
 * habit). Thin wrappers over C11 <stdatomic.h>. */
#ifndef WEFT_SCHED_ATOMIC_H
#define WEFT_SCHED_ATOMIC_H

#if defined(WEFT_MODEL_RELACY)
/* The model checker's build (tests/model/): the same named operations on
 * Relacy's atomics, mutex and checked variables, so the algorithms in header
 * form (runq.h, idle.h) are checked from the very source the library
 * compiles. C++ only. */
#include <relacy/relacy.hpp>

#define weft__atomic(T)             rl::atomic<T>
#define weft__load_relaxed(p)       (*(p))($).load(rl::mo_relaxed)
#define weft__load_acquire(p)       (*(p))($).load(rl::mo_acquire)
#define weft__load_seq_cst(p)       (*(p))($).load(rl::mo_seq_cst)
#define weft__store_relaxed(p, v)   (*(p))($).store((v), rl::mo_relaxed)
#ifdef WEFT_MODEL_WEAKEN_RELEASE    /* the check that the checker checks */
#define weft__store_release(p, v)   (*(p))($).store((v), rl::mo_relaxed)
#else
#define weft__store_release(p, v)   (*(p))($).store((v), rl::mo_release)
#endif
#define weft__store_seq_cst(p, v)   (*(p))($).store((v), rl::mo_seq_cst)
#define weft__xchg_acq_rel(p, v)    (*(p))($).exchange((v), rl::mo_acq_rel)
#define weft__fetch_add_relaxed(p, v) (*(p))($).fetch_add((v), rl::mo_relaxed)
#define weft__fetch_add_acq_rel(p, v) (*(p))($).fetch_add((v), rl::mo_acq_rel)
#define weft__fetch_add_seq_cst(p, v) (*(p))($).fetch_add((v), rl::mo_seq_cst)
#define weft__fetch_sub_acq_rel(p, v) (*(p))($).fetch_sub((v), rl::mo_acq_rel)
#define weft__fetch_sub_seq_cst(p, v) (*(p))($).fetch_sub((v), rl::mo_seq_cst)
#define weft__fetch_or_seq_cst(p, v)  (*(p))($).fetch_or((v), rl::mo_seq_cst)
#define weft__cas_acq_rel(p, exp, des)                                         \
    (*(p))($).compare_exchange_strong(*(exp), (des), rl::mo_acq_rel, rl::mo_acquire)
#define weft__cas_seq_cst(p, exp, des)                                         \
    (*(p))($).compare_exchange_strong(*(exp), (des), rl::mo_seq_cst, rl::mo_seq_cst)
#ifdef WEFT_MODEL_WEAKEN_FENCE      /* the park model's check of itself */
#define weft__fence_seq_cst()       rl::atomic_thread_fence(rl::mo_acq_rel, $)
#else
#define weft__fence_seq_cst()       rl::atomic_thread_fence(rl::mo_seq_cst, $)
#endif
#define weft__stat_inc(p) weft__store_relaxed((p), weft__load_relaxed(p) + 1)
static inline void weft__cpu_relax(void)
{
    rl::yield(1, $);
}

/* Plain data shared under a lock or handed over by one: Relacy checks every
 * access for a data race. */
#define weft__var(T)                rl::var<T>
#define weft__v(x)                  (x)($)
typedef rl::mutex weft__mutex_t;
#define weft__mutex_lock(m)         (m)->lock($)
#define weft__mutex_unlock(m)       (m)->unlock($)

#else /* C11 */

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define weft__atomic(T) _Atomic(T)

#define weft__load_relaxed(p)       atomic_load_explicit((p), memory_order_relaxed)
#define weft__load_acquire(p)       atomic_load_explicit((p), memory_order_acquire)
#define weft__load_seq_cst(p)       atomic_load_explicit((p), memory_order_seq_cst)
#define weft__store_relaxed(p, v)   atomic_store_explicit((p), (v), memory_order_relaxed)
#define weft__store_release(p, v)   atomic_store_explicit((p), (v), memory_order_release)
#define weft__store_seq_cst(p, v)   atomic_store_explicit((p), (v), memory_order_seq_cst)
#define weft__xchg_acq_rel(p, v)    atomic_exchange_explicit((p), (v), memory_order_acq_rel)
#define weft__fetch_add_relaxed(p, v) atomic_fetch_add_explicit((p), (v), memory_order_relaxed)
#define weft__fetch_add_acq_rel(p, v) atomic_fetch_add_explicit((p), (v), memory_order_acq_rel)
#define weft__fetch_add_seq_cst(p, v) atomic_fetch_add_explicit((p), (v), memory_order_seq_cst)
#define weft__fetch_sub_relaxed(p, v) atomic_fetch_sub_explicit((p), (v), memory_order_relaxed)
#define weft__fetch_sub_acq_rel(p, v) atomic_fetch_sub_explicit((p), (v), memory_order_acq_rel)
#define weft__fetch_sub_seq_cst(p, v) atomic_fetch_sub_explicit((p), (v), memory_order_seq_cst)
#define weft__fetch_or_seq_cst(p, v)  atomic_fetch_or_explicit((p), (v), memory_order_seq_cst)
#define weft__cas_acq_rel(p, exp, des)                                         \
    atomic_compare_exchange_strong_explicit((p), (exp), (des),                 \
                                            memory_order_acq_rel,              \
                                            memory_order_acquire)
#define weft__cas_seq_cst(p, exp, des)                                         \
    atomic_compare_exchange_strong_explicit((p), (exp), (des),                 \
                                            memory_order_seq_cst,              \
                                            memory_order_seq_cst)
#if defined(__SANITIZE_THREAD__)
/* TSan does not model fences. Both sides of every Dekker pair in weft use
 * this macro, so a seq_cst RMW on one shared word gives the same guarantee
 * (the RMWs are totally ordered and synchronize) in a form TSan checks. */
extern _Atomic(int) weft__fence_word;
#define weft__fence_seq_cst()                                                  \
    ((void)atomic_fetch_add_explicit(&weft__fence_word, 0, memory_order_seq_cst))
#else
#define weft__fence_seq_cst()       atomic_thread_fence(memory_order_seq_cst)
#endif

/* Relaxed statistics counter, written by one thread, read by any. */
#define weft__stat_inc(p) weft__store_relaxed((p), weft__load_relaxed(p) + 1)

/* Plain data shared under a lock or handed over by one (the model build
 * checks each access for a data race; here it is the data itself), and the
 * mutex that guards it. */
#define weft__var(T)                T
#define weft__v(x)                  (x)
typedef pthread_mutex_t weft__mutex_t;
#define weft__mutex_lock(m)         pthread_mutex_lock(m)
#define weft__mutex_unlock(m)       pthread_mutex_unlock(m)

static inline void weft__cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __asm__ volatile("pause");
#elif defined(__aarch64__)
    __asm__ volatile("yield");
#endif
}

#endif /* C11 */
#endif
