/* weft executor benchmarks: the round trip of a weft_blocking call (task
 * parks, a pool thread runs an empty function, the task is woken). The
 * conventions of micro.cc apply. */
#include <benchmark/benchmark.h>

#include "bench.h"
#include "weft.h"

namespace {

using namespace weft_bench;

constexpr int kCalls = 100;  /* per iteration */

void *identity(void *arg)
{
    return arg;
}

/* Arg: workers. One caller at a time, so each call finds an idle pool
 * thread: this is the hand-off cost (queue, condition-variable wake, task
 * wake), not the function's. */
void BM_blocking_roundtrip(benchmark::State &state)
{
    in_runtime(state, int(state.range(0)), [&state] {
        double calls = 0;
        for (auto _ : state) {
            for (int i = 0; i < kCalls; i++) {
                void *r = nullptr;
                int rc = weft_blocking(identity, &calls, &r);
                if (rc != 0 || r != &calls) {
                    fail(state, "weft_blocking: %s", weft_strerror(rc));
                    return;
                }
            }
            calls += kCalls;
        }
        state.counters["ns_per_call"] = per_op(calls);
    });
}
BENCHMARK(BM_blocking_roundtrip)
    ->ArgName("workers")
    ->Arg(1)
    ->Arg(2)
    ->UseRealTime()
    ->MeasureProcessCPUTime();

} // namespace

BENCHMARK_MAIN();
