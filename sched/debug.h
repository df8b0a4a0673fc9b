/* Tiered assertions (the mimalloc habit): WEFT_DEBUG (a CMake cache value,
 * 0 by default) picks how many are compiled in.
 *   1  cheap: O(1) checks of states and flags on paths that are not hot
 *   2  internal: O(1) checks on hot paths (switches, queues, parks)
 *   3  expensive: whole-structure checks (a heap's order after each change)
 * A failed assertion is a broken internal invariant: it prints where and
 * aborts (the one place weft aborts). The `debug` preset builds with 3 and
 * tests/run runs it. */
#ifndef WEFT_SCHED_DEBUG_H
#define WEFT_SCHED_DEBUG_H

#ifndef WEFT_DEBUG
#define WEFT_DEBUG 0
#endif

__attribute__((noreturn, cold)) void weft__assert_fail(const char *what, const char *file,
                                                       int line);

#define WEFT__ASSERT(level, cond)                                              \
    do {                                                                       \
        if (WEFT_DEBUG >= (level) && !(cond))                                  \
            weft__assert_fail(#cond, __FILE__, __LINE__);                      \
    } while (0)

#endif
