/* First frames for fresh stacks, and the annotations that tell ASan, TSan and
 * valgrind which stack is live after each switch. */
#include "ctx.h"

#include <pthread.h>
#include <stdint.h>
#include <string.h>

#ifdef WEFT_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif
#ifdef WEFT_TSAN
#include <sanitizer/tsan_interface.h>
#endif
#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define WEFT_VALGRIND 1
#endif
#endif

void weft__ctx_trampoline(void);

#if defined(__x86_64__)
enum { FRAME = 64, OFF_CW = 0, OFF_MXCSR = 4, OFF_R13 = 24, OFF_R12 = 32,
       OFF_RBP = 48, OFF_RET = 56 };

void *weft__ctx_make(void *top, void (*entry)(void *), void *data)
{
    /* The trampoline must start with rsp 16-byte aligned (see ctx_x86_64.S):
     * rsp after ret is sp + FRAME, so sp itself is 16-byte aligned. */
    uintptr_t t = ((uintptr_t)top & ~(uintptr_t)15) - 16;
    unsigned char *sp = (unsigned char *)(t - FRAME);
    memset(sp, 0, FRAME + 16);
    uint16_t cw = 0x037f;     /* x87 default: extended precision, round-near */
    uint32_t mxcsr = 0x1f80;  /* SSE default: all exceptions masked, round-near */
    memcpy(sp + OFF_CW, &cw, sizeof cw);
    memcpy(sp + OFF_MXCSR, &mxcsr, sizeof mxcsr);
    void *tramp = (void *)weft__ctx_trampoline;
    memcpy(sp + OFF_R12, &entry, sizeof entry);
    memcpy(sp + OFF_R13, &data, sizeof data);
    memcpy(sp + OFF_RET, &tramp, sizeof tramp);
    return sp;
}
#elif defined(__aarch64__)
enum { FRAME = 176, OFF_X19 = 0, OFF_X20 = 8, OFF_X29 = 80, OFF_X30 = 88,
       OFF_FPCR = 160 };

void *weft__ctx_make(void *top, void (*entry)(void *), void *data)
{
    uintptr_t t = ((uintptr_t)top & ~(uintptr_t)15) - 16;
    unsigned char *sp = (unsigned char *)(t - FRAME);
    memset(sp, 0, FRAME + 16);  /* fpcr 0: round-to-nearest, no flush */
    void *tramp = (void *)weft__ctx_trampoline;
    memcpy(sp + OFF_X19, &entry, sizeof entry);
    memcpy(sp + OFF_X20, &data, sizeof data);
    memcpy(sp + OFF_X30, &tramp, sizeof tramp);
    return sp;
}
#else
#error "weft: no context switch for this architecture (see sched/ctx_*.S)"
#endif

void weft__fiber_init(weft__fiber_t *f, void *stack_lo, size_t size)
{
    memset(f, 0, sizeof *f);
    f->is_thread = stack_lo == NULL;
    f->stack_lo = stack_lo;
    f->stack_size = size;
    if (f->is_thread) {
        /* The calling thread's own stack: ASan wants its bounds when a task
         * switches back to it. */
        pthread_attr_t a;
        if (pthread_getattr_np(pthread_self(), &a) == 0) {
            pthread_attr_getstack(&a, &f->stack_lo, &f->stack_size);
            pthread_attr_destroy(&a);
        }
    }
#ifdef WEFT_ASAN
    /* A pooled stack still carries the poison of frames a dead task never
     * returned from. */
    if (!f->is_thread)
        __asan_unpoison_memory_region(stack_lo, size);
#endif
#ifdef WEFT_TSAN
    f->tsan_fiber = f->is_thread ? __tsan_get_current_fiber() : __tsan_create_fiber(0);
#endif
#ifdef WEFT_VALGRIND
    if (!f->is_thread)
        f->vg_id = VALGRIND_STACK_REGISTER(stack_lo, (char *)stack_lo + size);
#endif
}

void weft__fiber_fini(weft__fiber_t *f)
{
#ifdef WEFT_TSAN
    if (!f->is_thread && f->tsan_fiber)
        __tsan_destroy_fiber(f->tsan_fiber);
    f->tsan_fiber = NULL;
#endif
#ifdef WEFT_VALGRIND
    if (f->vg_id)
        VALGRIND_STACK_DEREGISTER(f->vg_id);
    f->vg_id = 0;
#endif
    (void)f;
}

void weft__fiber_switch(weft__fiber_t *from, weft__fiber_t *to, int from_dying)
{
#ifdef WEFT_ASAN
    __sanitizer_start_switch_fiber(from_dying ? NULL : &from->asan_fake,
                                   to->stack_lo, to->stack_size);
#else
    (void)from_dying;
#endif
#ifdef WEFT_TSAN
    __tsan_switch_to_fiber(to->tsan_fiber, 0);
#endif
    weft__ctx_switch(&from->sp, to->sp);
    /* Resumed as `from`, possibly on another thread. */
#ifdef WEFT_ASAN
    const void *lo;
    size_t size;
    __sanitizer_finish_switch_fiber(from->asan_fake, &lo, &size);
#endif
}

void weft__fiber_started(weft__fiber_t *self)
{
#ifdef WEFT_ASAN
    const void *lo;
    size_t size;
    __sanitizer_finish_switch_fiber(NULL, &lo, &size);
#endif
    (void)self;
}
