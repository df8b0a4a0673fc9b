/* weft micro benchmarks (Google Benchmark, C++ over the C API).
 *
 * How a benchmark runs: the benchmark function calls weft_run(), and weft's
 * main task runs the `for (auto _ : state)` loop, so everything timed happens
 * inside the runtime. Hence, for every benchmark:
 *  - UseRealTime(): the thread that called weft_run only waits;
 *  - MeasureProcessCPUTime(): the main task may run on any worker, so a
 *    per-thread CPU clock would be read on two different threads; the CPU
 *    column is the whole process's (all workers, spinning included);
 *  - each iteration does a batch of operations, so the library's per
 *    iteration bookkeeping does not show, and a counter reports the time per
 *    operation directly (kIsRate | kInvert: seconds per op, printed as e.g.
 *    "41.3ns"; the JSON value is in seconds);
 *  - the result is checked and a mismatch ends the benchmark with
 *    SkipWithError, so no number is reported for a wrong computation.
 *
 * Nothing here needs sync primitives: coordination is by join, cancel and
 * atomics polled with weft_yield().
 */
#include <benchmark/benchmark.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <vector>

#include <dlfcn.h>
#include <malloc.h>
#include <sys/resource.h>
#include <unistd.h>

#include "bench.h"
#include "weft.h"

namespace {

using namespace weft_bench;

/* Minor page faults of the whole process so far: a fresh stack page costs
 * one (zeroing a page, and in a VM possibly a host fault as well). */
double minor_faults()
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return double(ru.ru_minflt);
}

void *int_to_ptr(intptr_t v)
{
    return reinterpret_cast<void *>(v);
}

intptr_t ptr_to_int(void *p)
{
    return reinterpret_cast<intptr_t>(p);
}

/* ------------------------------------------------------------------------ */
/* BM_yield_pingpong: the cost of a context switch                           */
/* ------------------------------------------------------------------------ */

/* A switch is one weft_yield() that hands the one worker to the other task:
 * task -> worker's scheduler loop -> other task. Two tasks (main and a
 * partner) on one worker, so they strictly alternate: every yield of main
 * is followed by exactly one yield of the partner, which is checked. */
constexpr int kSwitchBatch = 1000;  /* yields of main per iteration */

struct Pingpong {
    std::atomic<bool>     stop{ false };
    std::atomic<uint64_t> yields{ 0 };
    std::atomic<int>      bad_rc{ 0 };
};

void *pingpong_partner(void *p)
{
    auto *pp = static_cast<Pingpong *>(p);
    while (!pp->stop.load(std::memory_order_relaxed)) {
        int rc = weft_yield();
        if (rc != 0) {
            pp->bad_rc.store(rc, std::memory_order_relaxed);
            break;
        }
        pp->yields.fetch_add(1, std::memory_order_relaxed);
    }
    return nullptr;
}

void BM_yield_pingpong(benchmark::State &state)
{
    in_runtime(state, 1, [&state] {
        Pingpong pp;
        weft_task_t *t = weft_spawn(pingpong_partner, &pp);
        if (!t) {
            fail(state, "weft_spawn failed");
            return;
        }
        weft_yield();  /* let the partner reach its loop */
        uint64_t base = pp.yields.load(std::memory_order_relaxed);
        uint64_t mine = 0;
        int rc = 0;
        for (auto _ : state) {
            for (int i = 0; i < kSwitchBatch; i++)
                rc |= weft_yield();
            mine += kSwitchBatch;
        }
        uint64_t theirs = pp.yields.load(std::memory_order_relaxed) - base;
        pp.stop.store(true, std::memory_order_relaxed);
        weft_join(t, nullptr);
        if (rc != 0 || pp.bad_rc.load() != 0)
            fail(state, "weft_yield failed: %s",
                 weft_strerror(rc ? rc : pp.bad_rc.load()));
        else if (theirs != mine)
            fail(state, "one worker, two tasks: %llu yields of main but %llu "
                        "of the partner (they should alternate)",
                 (unsigned long long)mine, (unsigned long long)theirs);
        state.counters["ns_per_switch"] = per_op(double(mine + theirs));
    });
}
BENCHMARK(BM_yield_pingpong)->UseRealTime()->MeasureProcessCPUTime();

/* ------------------------------------------------------------------------ */
/* BM_spawn_join: spawn an empty task and join it, one at a time             */
/* ------------------------------------------------------------------------ */

constexpr int kSpawnBatch = 1000;

void *identity(void *arg)
{
    return arg;
}

void BM_spawn_join(benchmark::State &state)
{
    in_runtime(state, int(state.range(0)), [&state] {
        uint64_t ops = 0;
        for (auto _ : state) {
            for (intptr_t i = 1; i <= kSpawnBatch; i++) {
                weft_task_t *t = weft_spawn(identity, int_to_ptr(i));
                void *r = nullptr;
                int rc = t ? weft_join(t, &r) : -ENOMEM;
                if (rc != 0 || ptr_to_int(r) != i) {
                    fail(state, "spawn/join #%ld: rc %d, result %ld", long(i),
                         rc, long(ptr_to_int(r)));
                    return;
                }
            }
            ops += kSpawnBatch;
        }
        state.counters["ns_per_spawn_join"] = per_op(double(ops));
    });
}
BENCHMARK(BM_spawn_join)
    ->ArgName("workers")
    ->Arg(1)
    ->Arg(2)
    ->UseRealTime()
    ->MeasureProcessCPUTime();

/* ------------------------------------------------------------------------ */
/* BM_skynet: 1,000,000 leaves, every inner task spawns 10 and joins them    */
/* ------------------------------------------------------------------------ */

constexpr uint64_t kSkynetLeaves = 1000000;
constexpr uint64_t kSkynetSum = kSkynetLeaves * (kSkynetLeaves - 1) / 2;
constexpr uint64_t kSkynetTasks = 1111111;  /* 1 + 10 + ... + 10^6 */

std::atomic<int> skynet_errors;

struct SkyArg {
    uint64_t num, size;
};

void *skynet(void *p)
{
    const SkyArg *a = static_cast<const SkyArg *>(p);
    if (a->size == 1)
        return reinterpret_cast<void *>(uintptr_t(a->num));
    /* The children read their arguments from our stack: it lives until
     * we return, after the joins. */
    SkyArg kid[10];
    weft_task_t *t[10];
    uint64_t sub = a->size / 10;
    for (int i = 0; i < 10; i++) {
        kid[i] = SkyArg{ a->num + uint64_t(i) * sub, sub };
        t[i] = weft_spawn(skynet, &kid[i]);
    }
    uint64_t sum = 0;
    for (int i = 0; i < 10; i++) {
        void *r = nullptr;
        if (!t[i] || weft_join(t[i], &r) != 0)
            skynet_errors.fetch_add(1, std::memory_order_relaxed);
        sum += reinterpret_cast<uintptr_t>(r);
    }
    return reinterpret_cast<void *>(uintptr_t(sum));
}

void BM_skynet(benchmark::State &state)
{
    in_runtime(state, int(state.range(0)), [&state] {
        uint64_t runs = 0;
        double faults = minor_faults();
        for (auto _ : state) {
            skynet_errors.store(0);
            SkyArg root{ 0, kSkynetLeaves };
            weft_task_t *t = weft_spawn(skynet, &root);
            void *r = nullptr;
            int rc = t ? weft_join(t, &r) : -ENOMEM;
            uint64_t sum = reinterpret_cast<uintptr_t>(r);
            if (rc != 0 || sum != kSkynetSum || skynet_errors.load() != 0) {
                fail(state, "skynet: rc %d, sum %llu (want %llu), %d failed "
                            "spawns/joins",
                     rc, (unsigned long long)sum,
                     (unsigned long long)kSkynetSum, skynet_errors.load());
                return;
            }
            runs++;
        }
        double tasks = double(runs * kSkynetTasks);
        state.counters["ns_per_task"] = per_op(tasks);
        state.counters["faults_per_task"] = (minor_faults() - faults) / tasks;
    });
}
BENCHMARK(BM_skynet)
    ->ArgName("workers")
    ->Arg(1)
    ->Arg(2)
    ->Unit(benchmark::kMillisecond)
    ->Iterations(1)  /* bench/run repeats the run: a spread, not a mean */
    ->UseRealTime()
    ->MeasureProcessCPUTime();

/* ------------------------------------------------------------------------ */
/* BM_fib: fork-join fib(25), one half spawned and one computed inline       */
/* ------------------------------------------------------------------------ */

constexpr intptr_t kFibN = 25;
constexpr intptr_t kFibResult = 75025;

constexpr uint64_t fib_spawns(int n)
{
    /* fib(n) spawns one task per call with n >= 2: fib(n + 1) - 1. */
    uint64_t a = 0, b = 1;
    for (int i = 0; i < n + 1; i++) {
        uint64_t c = a + b;
        a = b;
        b = c;
    }
    return a - 1;
}
static_assert(fib_spawns(25) == 121392, "fib(26) - 1");

std::atomic<int> fib_errors;

void *fib(void *p)
{
    intptr_t n = ptr_to_int(p);
    if (n < 2)
        return p;
    weft_task_t *t = weft_spawn(fib, int_to_ptr(n - 1));
    intptr_t b = ptr_to_int(fib(int_to_ptr(n - 2)));
    void *a = nullptr;
    if (!t || weft_join(t, &a) != 0)
        fib_errors.fetch_add(1, std::memory_order_relaxed);
    return int_to_ptr(ptr_to_int(a) + b);
}

void BM_fib(benchmark::State &state)
{
    in_runtime(state, int(state.range(0)), [&state] {
        uint64_t runs = 0;
        double faults = minor_faults();
        for (auto _ : state) {
            fib_errors.store(0);
            intptr_t r = ptr_to_int(fib(int_to_ptr(kFibN)));
            if (r != kFibResult || fib_errors.load() != 0) {
                fail(state, "fib(%ld) = %ld (want %ld), %d failed spawns/joins",
                     long(kFibN), long(r), long(kFibResult), fib_errors.load());
                return;
            }
            runs++;
        }
        double spawns = double(runs * fib_spawns(kFibN));
        state.counters["ns_per_spawn"] = per_op(spawns);
        state.counters["faults_per_spawn"] = (minor_faults() - faults) / spawns;
    });
}
BENCHMARK(BM_fib)
    ->ArgName("workers")
    ->Arg(1)
    ->Arg(2)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->MeasureProcessCPUTime();

/* ------------------------------------------------------------------------ */
/* BM_sleep_cancel: a sleeping task is cancelled by another                  */
/* ------------------------------------------------------------------------ */

/* One op: spawn a task that sleeps an hour (timer insert, park), cancel it
 * (wake, timer removal), join it; a batch of them is asleep at once, so the
 * timer heap holds kSleepBatch timers. The sleep must end in -ECANCELED.
 * It includes a spawn and a join: compare with BM_spawn_join. */
constexpr int kSleepBatch = 100;
constexpr uint64_t kHour = 3600ull * 1000000000ull;

void *sleeper(void *p)
{
    static_cast<std::atomic<int> *>(p)->fetch_add(1);
    return int_to_ptr(weft_sleep(kHour));
}

void BM_sleep_cancel(benchmark::State &state)
{
    in_runtime(state, int(state.range(0)), [&state] {
        weft_task_t *t[kSleepBatch];
        std::atomic<int> asleep;
        uint64_t ops = 0;
        for (auto _ : state) {
            asleep.store(0);
            for (int i = 0; i < kSleepBatch; i++) {
                t[i] = weft_spawn(sleeper, &asleep);
                if (!t[i]) {
                    fail(state, "weft_spawn failed");
                    return;  /* weft_run cancels and reaps the others */
                }
            }
            while (asleep.load() < kSleepBatch)
                weft_yield();
            for (int i = 0; i < kSleepBatch; i++)
                weft_cancel(t[i]);
            for (int i = 0; i < kSleepBatch; i++) {
                void *r = nullptr;
                int rc = weft_join(t[i], &r);
                if (rc != 0 || ptr_to_int(r) != -ECANCELED) {
                    fail(state, "sleeper %d: join rc %d, sleep returned %ld "
                                "(want -ECANCELED)",
                         i, rc, long(ptr_to_int(r)));
                    return;
                }
            }
            ops += kSleepBatch;
        }
        state.counters["ns_per_op"] = per_op(double(ops));
    });
}
BENCHMARK(BM_sleep_cancel)
    ->ArgName("workers")
    ->Arg(1)
    ->Arg(2)
    ->UseRealTime()
    ->MeasureProcessCPUTime();

/* ------------------------------------------------------------------------ */
/* BM_idle_memory: resident bytes per parked task                            */
/* ------------------------------------------------------------------------ */

/* Each iteration is a whole weft_run: spawn kIdleTasks tasks that park
 * forever (weft_sleep(WEFT_FOREVER) arms no timer), wait until all have
 * started, read the RSS growth, then cancel and join them. The time is that
 * of the whole run (spawn, park, cancel, join of all).
 *
 * Every iteration must start cold, or it would count only what the previous
 * one did not leave resident: weft unmaps its stack pools when weft_run
 * returns, and release_heap() hands the freed task structs back (without it
 * the second run measures ~330 bytes per task less). */
constexpr int kIdleTasks = 100000;

/* Give freed heap memory back to the kernel: mimalloc's (weft's allocator
 * when built WEFT_WITH_MIMALLOC), looked up at run time since weft links it
 * privately, and glibc's. */
void release_heap()
{
    using collect_fn = void (*)(bool);
    static collect_fn mi_collect =
        reinterpret_cast<collect_fn>(dlsym(RTLD_DEFAULT, "mi_collect"));
    if (mi_collect)
        mi_collect(true);
#ifdef __GLIBC__
    malloc_trim(0);
#endif
}

long rss_bytes()
{
    long size = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "re");
    if (!f)
        return -1;
    int n = fscanf(f, "%ld %ld", &size, &resident);
    fclose(f);
    return n == 2 ? resident * sysconf(_SC_PAGESIZE) : -1;
}

void *parker(void *p)
{
    static_cast<std::atomic<int> *>(p)->fetch_add(1);
    return int_to_ptr(weft_sleep(WEFT_FOREVER));
}

void BM_idle_memory(benchmark::State &state)
{
    std::vector<weft_task_t *> t(kIdleTasks);  /* touched before any RSS read */
    double bytes_per_task = 0;
    for (auto _ : state) {
        long grown = -1;
        release_heap();
        in_runtime(state, 2, [&] {
            std::atomic<int> started{ 0 };
            long before = rss_bytes();
            for (int i = 0; i < kIdleTasks; i++) {
                t[i] = weft_spawn(parker, &started);
                if (!t[i]) {
                    fail(state, "weft_spawn #%d failed", i);
                    return;  /* weft_run cancels and reaps the others */
                }
            }
            while (started.load() < kIdleTasks)
                weft_yield();
            long after = rss_bytes();
            if (before < 0 || after < 0) {
                fail(state, "cannot read /proc/self/statm");
                return;
            }
            grown = after - before;
            for (int i = 0; i < kIdleTasks; i++)
                weft_cancel(t[i]);
            for (int i = 0; i < kIdleTasks; i++) {
                void *r = nullptr;
                int rc = weft_join(t[i], &r);
                if (rc != 0 || ptr_to_int(r) != -ECANCELED) {
                    fail(state, "parked task %d: join rc %d, sleep returned "
                                "%ld (want -ECANCELED)",
                         i, rc, long(ptr_to_int(r)));
                    return;
                }
            }
        });
        if (state.error_occurred())
            break;
        bytes_per_task += double(grown) / kIdleTasks;
    }
    state.counters["bytes_per_task"] =
        benchmark::Counter(bytes_per_task, benchmark::Counter::kAvgIterations,
                           benchmark::Counter::kIs1024);
    state.counters["tasks"] = kIdleTasks;
}
BENCHMARK(BM_idle_memory)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->MeasureProcessCPUTime();

}  // namespace

BENCHMARK_MAIN();
