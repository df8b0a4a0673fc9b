/* weft-test: timeout=600 labels=stress */
/* Scale: a million tasks alive, skynet, fork-join with steals, stacks in
 * each guard mode, stack overflow reports, and spawn when memory runs out.
 * Sizes shrink with WEFT_TEST_SCALE under sanitizers and qemu. */
#include <signal.h>
#include <stdatomic.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sched/sched.h"
#include "t.h"

/* ThreadSanitizer counts every live fiber as a thread and dies past 8128. */
#if defined(__SANITIZE_THREAD__)
#define LIVE_MAX 4000
#else
#define LIVE_MAX 100000000
#endif

/* ---- skynet ------------------------------------------------------------ */

typedef struct {
    long num, size;
} sky_t;

static void *skynet(void *p)
{
    sky_t *a = p;
    if (a->size == 1)
        return (void *)(intptr_t)a->num;
    sky_t kids[10];
    weft_task_t *t[10];
    for (int i = 0; i < 10; i++) {
        kids[i].size = a->size / 10;
        kids[i].num = a->num + i * kids[i].size;
        t[i] = weft_spawn(skynet, &kids[i]);
        CHECK(t[i] != NULL);
    }
    void *r[10];
    CHECK_EQ(weft_join_all(t, 10, r), 0);
    long sum = 0;
    for (int i = 0; i < 10; i++)
        sum += (intptr_t)r[i];
    return (void *)(intptr_t)sum;
}

static void skynet_1m(void)
{
    long leaves = 1000000;
    while ((leaves > t_scale(1000000) || leaves > LIVE_MAX / 4) && leaves > 100)
        leaves /= 10;
    sky_t root = { 0, leaves };
    intptr_t r = (intptr_t)t_run(2, skynet, &root);
    CHECK_EQ(r, (long long)leaves * (leaves - 1) / 2);
    if (leaves == 1000000)
        CHECK_EQ(r, 499999500000LL);
}

/* ---- fork-join fib ----------------------------------------------------- */

static void *fib(void *p)
{
    long n = (intptr_t)p;
    if (n < 2)
        return (void *)(intptr_t)n;
    weft_task_t *t = weft_spawn(fib, (void *)(intptr_t)(n - 1));
    CHECK(t != NULL);
    long b = (intptr_t)fib((void *)(intptr_t)(n - 2));
    void *a;
    CHECK_EQ(weft_join(t, &a), 0);
    return (void *)(intptr_t)((intptr_t)a + b);
}

static void fib30_steals(void)
{
    long n = t_scale(100) == 100 ? 30 : LIVE_MAX < 10000 ? 15 : 20;
    intptr_t r = (intptr_t)t_run(2, fib, (void *)(intptr_t)n);
    CHECK_EQ(r, n == 30 ? 832040 : n == 20 ? 6765 : 610);
    fprintf(stderr, "fib(%ld): steals %llu, tasks run %llu\n", n,
            (unsigned long long)weft__last_totals.steals_in,
            (unsigned long long)weft__last_totals.tasks_run);
    CHECK(weft__last_totals.steals_in > 0);
    CHECK_EQ(weft__last_totals.steals_in, weft__last_totals.steals_out);
    CHECK(weft__last_totals.tasks_run >= weft__last_totals.spawned);
}

/* ---- a million tasks alive at once ------------------------------------- */

static atomic_long parked_now, cancelled_sleeps;

static void *park_cancel(void *a)
{
    atomic_fetch_add(&parked_now, 1);
    int rc = weft_sleep(MS(100000));
    if (rc == -ECANCELED)
        atomic_fetch_add(&cancelled_sleeps, 1);
    return a;
}

static void *m_million(void *arg)
{
    long n = (long)(intptr_t)arg;
    weft_task_t **ts = malloc(sizeof *ts * (size_t)n);
    CHECK(ts != NULL);
    for (long i = 0; i < n; i++) {
        ts[i] = weft_spawn(park_cancel, (void *)(intptr_t)i);
        if (!ts[i]) {
            fprintf(stderr, "spawn %ld failed\n", i);
            abort();
        }
    }
    while (atomic_load(&parked_now) < n)
        CHECK_EQ(weft_sleep(MS(1)), 0);
    long live = weft__load_relaxed(&weft__rt.live);
    fprintf(stderr, "%ld tasks alive at once\n", live);
    CHECK(live >= n + 1);
    for (long i = 0; i < n; i++)
        weft_cancel(ts[i]);
    long sum = 0;
    for (long i = 0; i < n; i++) {
        void *r;
        CHECK_EQ(weft_join(ts[i], &r), 0);
        sum += (intptr_t)r;
    }
    CHECK_EQ(sum, (long long)n * (n - 1) / 2);
    CHECK_EQ(atomic_load(&cancelled_sleeps), n);
    free(ts);
    return NULL;
}

static void million_alive(long n)
{
    if (n > LIVE_MAX)
        n = LIVE_MAX;
    atomic_store(&parked_now, 0);
    atomic_store(&cancelled_sleeps, 0);
    t_run(2, m_million, (void *)(intptr_t)n);
}

static void million_tasks_alive(void)
{
    million_alive(t_scale(1000000));
}

/* The pre-6.13 kernel path: mprotect'ed guards within a VMA budget, then
 * canaries; a million stacks must still fit under vm.max_map_count. */
static void million_tasks_mprotect_fallback(void)
{
    weft__stack_force_guard(WEFT__GUARD_MPROTECT);
    million_alive(t_scale(1000000));
}

/* ---- stack overflow reports -------------------------------------------- */

static volatile char sink;

#pragma GCC diagnostic ignored "-Winfinite-recursion"
__attribute__((noinline)) static void recurse(int depth)
{
    volatile char pad[512];
    pad[0] = (char)depth;
    sink = pad[0];
    recurse(depth + 1);
    sink = pad[511];
}

static void *overflow_task(void *a)
{
    recurse(0);
    return NULL;
}

/* Overflow by a few KiB only, then reach a suspension point: without a
 * guard page the canary check at the switch is what must catch it. */
__attribute__((noinline)) static void use_stack(int kib)
{
    char pad[1024];
    memset(pad, kib, sizeof pad);  /* writes its whole frame */
    __asm__ volatile("" : : "r"(pad) : "memory");
    if (kib > 1)
        use_stack(kib - 1);
    sink = pad[kib];
}

static void *bounded_overflow_task(void *a)
{
    use_stack(70);  /* ~70 KiB on a 64 KiB stack */
    weft_yield();
    return NULL;
}

static void *m_overflow(void *arg)
{
    weft_spawn_opts_t o = { .name = "conn-17", .stack_size = 64 * 1024 };
    weft_task_t *t = weft_spawn_ex(&o, arg ? bounded_overflow_task : overflow_task, NULL);
    weft_join(t, NULL);
    return NULL;
}

/* Run a case of this binary in a child; return its stderr and status. */
static int run_child(const char *self_case, char *out, size_t cap)
{
    t_need_reexec();
    int pfd[2];
    CHECK_EQ(pipe(pfd), 0);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        dup2(pfd[1], 2);
        close(pfd[0]);
        execl("/proc/self/exe", "child", self_case, (char *)NULL);
        _exit(127);
    }
    close(pfd[1]);
    size_t n = 0;
    ssize_t r;
    while (n + 1 < cap && (r = read(pfd[0], out + n, cap - 1 - n)) > 0)
        n += (size_t)r;
    out[n] = 0;
    close(pfd[0]);
    int st;
    CHECK_EQ(waitpid(pid, &st, 0), pid);
    return st;
}

static void child_overflow(void)
{
    t_run(1, m_overflow, NULL);
}

static void child_overflow_canary(void)
{
    weft__stack_force_guard(WEFT__GUARD_CANARY);
    t_run(1, m_overflow, (void *)1);
}

static void check_overflow_report(const char *child_case)
{
    static char out[1 << 16];
    int st = run_child(child_case, out, sizeof out);
    if (!strstr(out, "weft: task 'conn-17' overflowed its 64 KiB stack")) {
        fprintf(stderr, "child stderr:\n%s\n", out);
        CHECK(!"no overflow report naming the task");
    }
    CHECK(WIFSIGNALED(st));
    CHECK_EQ(WTERMSIG(st), SIGABRT);
}

static void stack_overflow_report(void)
{
#if defined(__SANITIZE_ADDRESS__)
    T_SKIP("ASan owns SIGSEGV and reports a guard-page hit itself");
#endif
    check_overflow_report("child_overflow");
}

static void stack_overflow_canary_report(void)
{
    check_overflow_report("child_overflow_canary");
}

/* ---- out of memory ----------------------------------------------------- */

static void *idle_forever(void *a)
{
    weft_sleep(MS(100000));
    return NULL;
}

static void *m_enomem(void *arg)
{
    enum { MAX = 200000 };
    static weft_task_t *ts[MAX];
    long n = 0;
    while (n < MAX && (ts[n] = weft_spawn(idle_forever, NULL)))
        n++;
    fprintf(stderr, "spawned %ld tasks before running out\n", n);
    CHECK(n < MAX);                       /* it did run out ...        */
    CHECK_EQ(weft_go(idle_forever, NULL) == 0 ? 0 : -ENOMEM, -ENOMEM);
    for (long i = 0; i < n; i++)
        weft_cancel(ts[i]);
    for (long i = 0; i < n; i++)
        CHECK_EQ(weft_join(ts[i], NULL), 0);
    weft_task_t *t = weft_spawn(idle_forever, NULL);  /* ... and recovers */
    CHECK(t != NULL);
    weft_cancel(t);
    CHECK_EQ(weft_join(t, NULL), 0);
    return NULL;
}

static void child_enomem(void)
{
    /* 2 GiB of address space: about 30 slabs of 64 MiB, ~7,500 stacks. */
    struct rlimit rl = { 2ull << 30, 2ull << 30 };
    CHECK_EQ(setrlimit(RLIMIT_AS, &rl), 0);
    t_run(1, m_enomem, NULL);
    printf("ok\n");
}

static void spawn_enomem(void)
{
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    T_SKIP("sanitizer shadow memory needs terabytes of address space");
#endif
    static char out[1 << 16];
    int st = run_child("child_enomem", out, sizeof out);
    fprintf(stderr, "%s", out);
    CHECK(WIFEXITED(st));
    CHECK_EQ(WEXITSTATUS(st), 0);
}

T_MAIN(
    T_CASE(skynet_1m),
    T_CASE(fib30_steals),
    T_CASE(million_tasks_alive),
    T_CASE(million_tasks_mprotect_fallback),
    T_CASE(stack_overflow_report),
    T_CASE(stack_overflow_canary_report),
    T_CASE(spawn_enomem),
    { "child_overflow", child_overflow },
    { "child_overflow_canary", child_overflow_canary },
    { "child_enomem", child_enomem },
)
