/* The thread-locals of weft: which worker runs this thread, and errno.
 *
 * A task may resume on another worker after any switch. GCC and Clang may
 * keep the address of a __thread variable in a callee-saved register across
 * a call (GCC PR 26461, LLVM #98479), and a migrated task would then read the
 * old worker's slot. So the variable is only ever read through this
 * out-of-line function: the empty volatile asm with a memory clobber keeps
 * the compiler from deeming it pure and merging two calls across a switch. */
#include <errno.h>

#include "sched.h"

/* initial-exec: a direct %fs-relative load instead of a __tls_get_addr
 * call in the shared library (8% of a yield); the cost is 8 bytes of the
 * static TLS surplus when the library is dlopen'ed. */
static __thread weft__worker_t *self_worker __attribute__((tls_model("initial-exec")));

__attribute__((noinline)) weft__worker_t *weft__worker_self(void)
{
    __asm__ volatile("" ::: "memory");
    return self_worker;
}

__attribute__((noinline)) void weft__worker_set_self(weft__worker_t *w)
{
    __asm__ volatile("" ::: "memory");
    self_worker = w;
}

/* errno, looked up anew: __errno_location() is declared const, so a caller
 * that waited (and may have moved to another worker) could otherwise reuse
 * the address it computed before the wait and read the old thread's errno. */
__attribute__((noinline)) int weft__errno(void)
{
    __asm__ volatile("" ::: "memory");
    return errno;
}

#if defined(__SANITIZE_THREAD__)
_Atomic(int) weft__fence_word;
#endif
