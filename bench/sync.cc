/* weft sync benchmarks: channel ping-pong and a contended mutex, the two
 * numbers set against Go's runtime (bench/peers/go/sync) in the same run.
 * The conventions of micro.cc apply: the timed loop runs inside weft's
 * main task, real time, process CPU time, a per-operation counter, and a
 * checked result. */
#include <benchmark/benchmark.h>

#include <cerrno>
#include <vector>

#include "bench.h"
#include "weft.h"

namespace {

using namespace weft_bench;

/* ------------------------------------------------------------------------ */
/* BM_chan_pingpong: one round trip over two unbuffered channels             */
/* ------------------------------------------------------------------------ */

/* Go's classic: main sends on ping, the partner receives and sends back on
 * pong. Unbuffered, a round trip is two rendezvous, so two park/wake pairs;
 * buffered (capacity 16, as the peers' channels), the sender does not wait
 * for the receiver, but a ping-pong never has a second message queued, so
 * each receive still parks. Arg: the number of workers (1: both tasks share
 * a worker; 2: they may not). */
constexpr int kRoundTrips = 1000;  /* per iteration */

struct Channels {
    weft_chan_t *ping, *pong;
};

void *pong_partner(void *arg)
{
    auto *c = static_cast<Channels *>(arg);
    long v;
    while (weft_chan_recv(c->ping, &v) == 0) {
        v++;
        if (weft_chan_send(c->pong, &v) != 0)
            break;
    }
    return nullptr;
}

void chan_pingpong(benchmark::State &state, size_t capacity)
{
    in_runtime(state, int(state.range(0)), [&state, capacity] {
        Channels c{ weft_chan_new(sizeof(long), capacity),
                    weft_chan_new(sizeof(long), capacity) };
        weft_task_t *t = c.ping && c.pong ? weft_spawn(pong_partner, &c) : nullptr;
        if (!t) {
            fail(state, "setup failed");
            weft_chan_free(c.ping);
            weft_chan_free(c.pong);
            return;
        }
        long v = 0, trips = 0;
        int rc = 0;
        for (auto _ : state) {
            for (int i = 0; i < kRoundTrips && rc == 0; i++) {
                long sent = v;
                rc = weft_chan_send(c.ping, &v);
                if (rc == 0)
                    rc = weft_chan_recv(c.pong, &v);
                if (rc == 0 && v != sent + 1)
                    rc = -EPROTO;
            }
            trips += kRoundTrips;
        }
        weft_chan_close(c.ping);
        weft_join(t, nullptr);
        weft_chan_free(c.ping);
        weft_chan_free(c.pong);
        if (rc != 0)
            fail(state, "ping-pong: %s", weft_strerror(rc));
        state.counters["ns_per_roundtrip"] = per_op(double(trips));
    });
}
void BM_chan_pingpong(benchmark::State &state)
{
    chan_pingpong(state, 0);
}
BENCHMARK(BM_chan_pingpong)
    ->ArgName("workers")
    ->Arg(1)
    ->Arg(2)
    ->UseRealTime()
    ->MeasureProcessCPUTime();

void BM_chan_pingpong_buffered(benchmark::State &state)
{
    chan_pingpong(state, 16);
}
BENCHMARK(BM_chan_pingpong_buffered)
    ->ArgName("workers")
    ->Arg(1)
    ->Arg(2)
    ->UseRealTime()
    ->MeasureProcessCPUTime();

/* ------------------------------------------------------------------------ */
/* BM_mutex_contended: tasks taking one mutex in a loop                      */
/* ------------------------------------------------------------------------ */

/* Args: workers, tasks. Each iteration, the tasks wait at a start event
 * (untimed), then each does kLocks lock/increment/unlock; the counter must
 * equal the total. Go's BenchmarkMutex shape: a trivial critical section,
 * so the lock itself is what is measured. With one worker tasks never
 * contend (none is preempted while holding the lock); the 2-worker case is
 * the contended one. */
constexpr long kLocks = 20000;  /* per task per iteration */

struct Shared {
    weft_mutex_t m = WEFT_MUTEX_INIT;
    weft_event_t start = WEFT_EVENT_INIT;
    long         count = 0;
};

void *locker(void *arg)
{
    auto *s = static_cast<Shared *>(arg);
    if (weft_event_wait(&s->start) != 0)
        return reinterpret_cast<void *>(intptr_t(1));
    for (long i = 0; i < kLocks; i++) {
        if (weft_mutex_lock(&s->m) != 0)
            return reinterpret_cast<void *>(intptr_t(1));
        s->count++;
        weft_mutex_unlock(&s->m);
    }
    return nullptr;
}

void BM_mutex_contended(benchmark::State &state)
{
    int workers = int(state.range(0));
    int tasks = int(state.range(1));
    in_runtime(state, workers, [&state, tasks] {
        Shared s;
        double ops = 0;
        std::vector<weft_task_t *> ts(size_t(tasks), nullptr);
        std::vector<void *> res(ts.size());
        for (auto _ : state) {
            state.PauseTiming();
            s.count = 0;
            weft_event_clear(&s.start);
            for (auto &t : ts)
                t = weft_spawn(locker, &s);
            weft_sleep(100000);  /* all parked at the start */
            state.ResumeTiming();
            weft_event_set(&s.start);
            int rc = weft_join_all(ts.data(), ts.size(), res.data());
            ops += double(tasks) * double(kLocks);
            bool bad = rc != 0 || s.count != tasks * kLocks;
            for (void *r : res)
                bad |= r != nullptr;
            if (bad) {
                fail(state, "join %d, count %ld of %ld", rc, s.count, tasks * kLocks);
                return;
            }
        }
        state.counters["ns_per_lock"] = per_op(ops);
    });
}
BENCHMARK(BM_mutex_contended)
    ->ArgNames({ "workers", "tasks" })
    ->Args({ 1, 4 })
    ->Args({ 2, 2 })
    ->Args({ 2, 4 })
    ->UseRealTime()
    ->MeasureProcessCPUTime();

} // namespace

BENCHMARK_MAIN();
