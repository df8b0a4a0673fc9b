// Boost.Context's and Boost.Fiber's side of bench/run (Debian
// libboost-context-dev, libboost-fiber-dev), behind the command line every
// peer of bench/run has:
//
//   boost-peer context|fiber list                 the workloads of that peer
//   boost-peer context|fiber bench NAME [-t SECS] run one; print
//                                                 {"name","value","unit","iterations"}
//
// Boost.Context: the bare switch (two boost::context::fiber resuming each
// other), the floor a scheduler's yield is compared with. Boost.Fiber: the
// scheduler on top of it; workers:1 is its default round_robin on this
// thread, workers:2 its work_stealing algorithm on this thread and one more
// (both threads run fibers; fibers migrate; an idle thread sleeps rather than
// spins, as weft's, Go's and Tokio's workers do: spinning made a cross-thread
// ping-pong 200 times slower on the shared 2-core machine). Fibers get Boost's default
// stack (fixedsize_stack, stack_traits::default_size()).
//
// No skynet: both of Boost.Fiber's schedulers run the tree breadth first
// (a new fiber goes to the back of the ready queue), so all million leaves
// are alive at once: 10 GB resident and 9 s a run even with 16 KiB stacks,
// more than bench/run can spend on a shared 2-core machine.
#include <boost/context/fiber.hpp>
#include <boost/fiber/all.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

namespace bf = boost::fibers;
namespace ctx = boost::context;
using clk = std::chrono::steady_clock;

[[noreturn]] void die(const char *what)
{
    std::fprintf(stderr, "boost-peer: %s\n", what);
    std::exit(1);
}

void check(bool ok, const char *what)
{
    if (!ok)
        die(what);
}

double seconds_since(clk::time_point t0)
{
    return std::chrono::duration<double>(clk::now() - t0).count();
}

// ---- Boost.Context: two contexts resume each other ------------------------

double context_switch(long n)
{
    bool stop = false;
    long theirs = 0;
    ctx::fiber f{ [&](ctx::fiber &&back) {
        while (!stop) {
            theirs++;
            back = std::move(back).resume();
        }
        return std::move(back);
    } };
    f = std::move(f).resume();  // enter it once: it is now waiting in its loop
    auto t0 = clk::now();
    for (long i = 0; i < n; i++)
        f = std::move(f).resume();
    double s = seconds_since(t0);
    stop = true;
    f = std::move(f).resume();
    check(theirs == n + 1, "context: the contexts did not alternate");
    return s;  // n iterations, 2n switches
}

// ---- Boost.Fiber ---------------------------------------------------------

// The threads beyond the first that run fibers for a workers:2 benchmark:
// each joins the work_stealing pool, then waits in a fiber wait (so its
// scheduler keeps running stolen fibers) until the benchmark is over.
struct Pool {
    std::vector<std::thread> threads;
    bf::mutex m;
    bf::condition_variable cv;
    bool done = false;

    explicit Pool(int workers)
    {
        if (workers == 1)
            return;  // round_robin on this thread, Boost.Fiber's default
        std::atomic<int> ready{ 0 };
        for (int i = 1; i < workers; i++)
            threads.emplace_back([this, workers, &ready] {
                bf::use_scheduling_algorithm<bf::algo::work_stealing>(workers, true);
                ready++;
                std::unique_lock<bf::mutex> lk(m);
                cv.wait(lk, [this] { return done; });
            });
        bf::use_scheduling_algorithm<bf::algo::work_stealing>(workers, true);
        while (ready.load() < workers - 1)
            std::this_thread::yield();
    }
    ~Pool()
    {
        {
            std::unique_lock<bf::mutex> lk(m);
            done = true;
        }
        cv.notify_all();
        for (auto &t : threads)
            t.join();
    }
};

double yield_pingpong(long n)
{
    std::atomic<bool> stop{ false };
    long theirs = 0;
    bf::fiber partner([&] {
        while (!stop.load(std::memory_order_relaxed)) {
            boost::this_fiber::yield();
            theirs++;
        }
    });
    boost::this_fiber::yield();
    long base = theirs;
    auto t0 = clk::now();
    for (long i = 0; i < n; i++)
        boost::this_fiber::yield();
    double s = seconds_since(t0);
    check(theirs - base == n, "fiber: the fibers did not alternate");
    stop = true;
    partner.join();
    return s;  // n iterations, 2n switches
}

double spawn_join(long n)
{
    auto t0 = clk::now();
    for (long i = 0; i < n; i++) {
        long r = -1;
        bf::fiber f([&r, i] { r = i; });
        f.join();
        check(r == i, "spawn_join: wrong result");
    }
    return seconds_since(t0);
}

constexpr long kFibSpawns = 121392;

// One half in a new fiber, the other computed inline, as weft's BM_fib.
long fib(long n)
{
    if (n < 2)
        return n;
    long a = 0;
    bf::fiber f([&a, n] { a = fib(n - 1); });
    long b = fib(n - 2);
    f.join();
    return a + b;
}

double fib_bench(long n)
{
    auto t0 = clk::now();
    for (long i = 0; i < n; i++)
        check(fib(25) == 75025, "fib: wrong result");
    return seconds_since(t0);
}

template <class Chan> double chan_pingpong(long n, Chan &ping, Chan &pong)
{
    bf::fiber partner([&] {
        long v;
        while (ping.pop(v) == bf::channel_op_status::success)
            if (pong.push(v + 1) != bf::channel_op_status::success)
                break;
    });
    long v = 0;
    auto t0 = clk::now();
    for (long i = 0; i < n; i++) {
        long sent = v;
        check(ping.push(v) == bf::channel_op_status::success, "push");
        check(pong.pop(v) == bf::channel_op_status::success && v == sent + 1, "pop");
    }
    double s = seconds_since(t0);
    ping.close();
    partner.join();
    return s;
}

double unbuffered_pingpong(long n)
{
    bf::unbuffered_channel<long> ping, pong;
    return chan_pingpong(n, ping, pong);
}

double buffered_pingpong(long n)
{
    // Capacity 16 (Boost's buffered_channel holds capacity - 1): as Go's
    // and Tokio's, and a ping-pong never has more than one message queued.
    bf::buffered_channel<long> ping(16), pong(16);
    return chan_pingpong(n, ping, pong);
}

// n lock/increment/unlock of a boost::fibers::mutex over `tasks` fibers
// released together; returns seconds for n locks.
double mutex_contended(long n, int tasks)
{
    bf::mutex m;
    bf::mutex start_m;
    bf::condition_variable start_cv;
    bool go = false;
    long count = 0, per = n / tasks + 1;
    std::atomic<int> waiting{ 0 };
    std::vector<bf::fiber> fs;
    for (int k = 0; k < tasks; k++)
        fs.emplace_back([&] {
            {
                std::unique_lock<bf::mutex> lk(start_m);
                waiting++;
                start_cv.wait(lk, [&] { return go; });
            }
            for (long i = 0; i < per; i++) {
                std::lock_guard<bf::mutex> g(m);
                count++;
            }
        });
    while (waiting.load() < tasks)
        boost::this_fiber::yield();
    boost::this_fiber::sleep_for(std::chrono::milliseconds(1));
    auto t0 = clk::now();
    {
        std::unique_lock<bf::mutex> lk(start_m);
        go = true;
    }
    start_cv.notify_all();
    for (auto &f : fs)
        f.join();
    double s = seconds_since(t0);
    check(count == per * tasks, "mutex: wrong count");
    return s * double(n) / double(per * tasks);
}

struct Workload {
    const char *name;
    int workers;
    double per_iter;  // operations per iteration
    std::function<double(long)> run;
};

std::vector<Workload> workloads(const std::string &peer)
{
    if (peer == "context")
        return { { "yield_pingpong", 1, 2, context_switch } };
    std::vector<Workload> w{ { "yield_pingpong", 1, 2, yield_pingpong } };
    for (int k : { 1, 2 }) {
        auto wn = [k](const char *base) {
            return strdup((std::string(base) + "/workers:" + std::to_string(k)).c_str());
        };
        w.push_back({ wn("spawn_join"), k, 1, spawn_join });
        w.push_back({ wn("fib"), k, double(kFibSpawns), fib_bench });
        w.push_back({ wn("chan_pingpong"), k, 1, unbuffered_pingpong });
        w.push_back({ wn("chan_pingpong_buffered"), k, 1, buffered_pingpong });
    }
    w.push_back({ "mutex_contended/workers:1/tasks:4", 1, 1, [](long n) { return mutex_contended(n, 4); } });
    w.push_back({ "mutex_contended/workers:2/tasks:2", 2, 1, [](long n) { return mutex_contended(n, 2); } });
    w.push_back({ "mutex_contended/workers:2/tasks:4", 2, 1, [](long n) { return mutex_contended(n, 4); } });
    return w;
}

}  // namespace

int main(int argc, char **argv)
{
    if (argc < 3 || (strcmp(argv[1], "context") && strcmp(argv[1], "fiber"))) {
        std::fprintf(stderr, "usage: boost-peer context|fiber list | bench NAME [-t SECONDS]\n");
        return 2;
    }
    auto ws = workloads(argv[1]);
    if (!strcmp(argv[2], "list")) {
        for (auto &w : ws)
            std::printf("%s\n", w.name);
        return 0;
    }
    if (strcmp(argv[2], "bench") || argc < 4) {
        std::fprintf(stderr, "boost-peer: bad arguments\n");
        return 2;
    }
    double target = argc >= 6 && !strcmp(argv[4], "-t") ? std::atof(argv[5]) : 0.2;
    for (auto &w : ws) {
        if (strcmp(w.name, argv[3]) != 0)
            continue;
        Pool pool(w.workers);
        long n = 1;
        double s;
        for (;;) {
            s = w.run(n);
            if (s >= target || n >= 1000000000L)
                break;
            double grow = target * 1.4 / (s > 1e-9 ? s : 1e-9);
            n = long(double(n) * (grow < 2 ? 2 : grow > 100 ? 100 : grow));
        }
        std::printf("{\"name\":\"%s\",\"value\":%.3f,\"unit\":\"ns\",\"iterations\":%ld}\n",
                    w.name, s * 1e9 / double(n) / w.per_iter, n);
        return 0;
    }
    std::fprintf(stderr, "boost-peer: no workload \"%s\"\n", argv[3]);
    return 2;
}
