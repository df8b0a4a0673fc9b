/* Helpers shared by the Google Benchmark executables of bench/. */
#ifndef WEFT_BENCH_BENCH_H
#define WEFT_BENCH_BENCH_H

#include <benchmark/benchmark.h>

#include <cstdarg>
#include <cstdio>

#include "weft.h"

namespace weft_bench {

/* SkipWithError with a printf-style message. */
__attribute__((format(printf, 2, 3))) inline void fail(benchmark::State &state,
                                                       const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    state.SkipWithError(msg);
}

/* Run body() as weft's main task on `workers` workers. A captureless lambda
 * is the trampoline: it converts to the C function pointer weft_run takes. */
template <class F> void in_runtime(benchmark::State &state, int workers, F body)
{
    weft_config_t cfg{};
    cfg.workers = workers;
    auto trampoline = [](void *p) -> void * {
        (*static_cast<F *>(p))();
        return nullptr;
    };
    int rc = weft_run(&cfg, trampoline, &body, nullptr);
    if (rc < 0)
        fail(state, "weft_run: %s", weft_strerror(rc));
}

/* "Seconds per op" counter: ops / elapsed, inverted. */
inline benchmark::Counter per_op(double ops)
{
    return benchmark::Counter(ops, benchmark::Counter::kIsRate |
                                       benchmark::Counter::kInvert);
}

} // namespace weft_bench

#endif
