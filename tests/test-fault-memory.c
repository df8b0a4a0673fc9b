/* Fault injection: address space running out (RLIMIT_AS) while weft
 * spawns tasks, starts pool threads or starts itself. Every case runs in
 * a forked child, so the limit and whatever it breaks stay there, and the
 * child's exit status is the verdict. Under ASan and TSan the cases skip:
 * their shadow memory takes terabytes of address space, so RLIMIT_AS
 * cannot be set low enough to hit weft without hitting the sanitizer. */
/* weft-test: timeout=120 labels=unit;fault */
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "t.h"

#define MIB (1024u * 1024u)

/* Bytes of address space the process has mapped now (VmSize). */
static size_t vm_size(void)
{
    FILE *f = fopen("/proc/self/status", "re");
    if (!f)
        T_SKIP("no /proc/self/status: cannot tell how much address space is in use");
    char line[256];
    size_t kb = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmSize: %zu kB", &kb) == 1)
            break;
    fclose(f);
    CHECK(kb > 0);
    return kb * 1024;
}

static void limit_as(size_t bytes)
{
    struct rlimit rl;
    CHECK_EQ(getrlimit(RLIMIT_AS, &rl), 0);
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < bytes)
        bytes = rl.rlim_max;
    rl.rlim_cur = bytes;
    CHECK_EQ(setrlimit(RLIMIT_AS, &rl), 0);
}

/* Back to the hard limit (raising the soft limit needs no privilege). */
static void unlimit_as(void)
{
    struct rlimit rl;
    CHECK_EQ(getrlimit(RLIMIT_AS, &rl), 0);
    rl.rlim_cur = rl.rlim_max;
    CHECK_EQ(setrlimit(RLIMIT_AS, &rl), 0);
}

/* Limit the address space to what is mapped now plus headroom, and check
 * that the kernel enforces it (qemu-user accepts the call and ignores it). */
static void squeeze(size_t headroom)
{
    limit_as(vm_size() + headroom);
    void *p = mmap(NULL, headroom + 64 * MIB, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                   -1, 0);
    if (p != MAP_FAILED) {
        munmap(p, headroom + 64 * MIB);
        unlimit_as();
        T_SKIP("RLIMIT_AS is not enforced here (an emulator?)");
    }
}

/* Run fn in a forked child; its exit status is the case's verdict (77, a
 * skip, is passed on). */
static void skip_under_sanitizers(void)
{
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    T_SKIP("ASan/TSan map terabytes of shadow memory: RLIMIT_AS cannot be lowered "
           "enough to starve weft and not the sanitizer");
#endif
}

static void in_child(void (*fn)(void))
{
    skip_under_sanitizers();
    fflush(NULL);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        fn();
        fflush(NULL);
        _exit(0);
    }
    int st;
    CHECK_EQ(waitpid(pid, &st, 0), pid);
    if (WIFEXITED(st) && WEXITSTATUS(st) == 77)
        exit(77);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        fprintf(stderr, "the child %s %d\n", WIFEXITED(st) ? "exited with" : "died of signal",
                WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
        abort();
    }
}

/* ---- spawning with no address space left for stacks ------------------------ */

static weft_event_t gate = WEFT_EVENT_INIT;

static atomic_int released;

static void *parked(void *arg)
{
    weft_event_wait(&gate);
    atomic_fetch_add(&released, 1);
    return arg;
}

static atomic_int finished;
static weft_event_t go = WEFT_EVENT_INIT;

/* A task that yields, sleeps and waits for an event: the runtime runs. */
static void *busy(void *arg)
{
    for (int i = 0; i < 5; i++)
        CHECK_EQ(weft_yield(), 0);
    CHECK_EQ(weft_sleep(MS(1)), 0);
    CHECK_EQ(weft_event_wait(&go), 0);
    atomic_fetch_add(&finished, 1);
    return arg;
}

/* Spawn and finish n tasks (their stacks then wait in the pools and the
 * workers' caches), and warm up each worker's allocator. */
static void warm_up(int n)
{
    weft_task_t *ts[64];
    CHECK(n <= 64);
    for (int i = 0; i < n; i++)
        CHECK((ts[i] = weft_spawn(parked, NULL)) != NULL);
    weft_event_set(&gate);
    for (int i = 0; i < n; i++)
        CHECK_EQ(weft_join(ts[i], NULL), 0);
    weft_event_clear(&gate);
}

/* The runtime's stacks are 128 MiB (virtual), one per slab, and the limit
 * leaves 100 MiB: no new stack can be mapped, while the allocator still
 * has room for the small things (a task's struct, a timer heap), so what
 * runs out is stacks, not malloc. */
#define BIG_STACK (128 * MIB)
#define HEADROOM  (100 * MIB)
#define WARM      16

static void *m_spawn(void *arg)
{
    warm_up(WARM);
    squeeze(HEADROOM);
    weft_task_t *ts[64];
    int n = 0;
    while (n < 64 && (ts[n] = weft_spawn(parked, (void *)(intptr_t)(n + 1))) != NULL)
        n++;
    /* The stacks in this worker's cache and the pools, then NULL. Those
     * the warm-up's tasks left in the other worker's cache (when it stole
     * them) are out of reach until that worker frees a stack. */
    CHECK(n >= 1 && n <= WARM);
    CHECK_EQ(weft_go(parked, NULL), -ENOMEM);
    weft_spawn_opts_t small = { .stack_size = 64 * 1024 };
    weft_spawn_opts_t huge = { .stack_size = 2 * HEADROOM };
    CHECK(weft_spawn_ex(&huge, parked, NULL) == NULL);

    /* The runtime still works: the parked tasks finish and are joined.
     * This task spins meanwhile, so it keeps its worker and the other
     * worker steals and finishes the others: their stacks are freed there,
     * and must still serve spawns here. */
    int home = weft_worker_id();
    atomic_store(&released, 0);
    weft_event_set(&gate);
    while (atomic_load(&released) < n) {
    }
    /* And until they have ended (a task is done a moment after its
     * function returned): then the joins below never wait. */
    for (weft_stats_t g; weft_stats(&g, NULL, 0) > 0 && g.live_tasks > 1;) {
    }
    CHECK_EQ(weft_worker_id(), home);
    for (int i = 0; i < n; i++) {
        void *r;
        CHECK_EQ(weft_join(ts[i], &r), 0);  /* done: no wait, same worker */
        CHECK_EQ((intptr_t)r, i + 1);
    }
    CHECK_EQ(weft_worker_id(), home);
    /* As many tasks as before can be spawned again under the limit, from
     * this worker, and they run (yields, timers, events, joins). */
    for (int i = 0; i < n; i++)
        CHECK((ts[i] = weft_spawn(busy, NULL)) != NULL);
    weft_event_set(&go);
    for (int i = 0; i < n; i++)
        CHECK_EQ(weft_join(ts[i], NULL), 0);
    CHECK_EQ(atomic_load(&finished), n);
    /* A small stack fits in the headroom: its own pool maps a slab. */
    weft_task_t *t = weft_spawn_ex(&small, busy, NULL);
    CHECK(t != NULL);
    CHECK_EQ(weft_join(t, NULL), 0);

    /* With the limit gone, new slabs are mapped again. */
    unlimit_as();
    for (int i = 0; i < 64; i++)
        CHECK((ts[i] = weft_spawn(busy, NULL)) != NULL);
    for (int i = 0; i < 64; i++)
        CHECK_EQ(weft_join(ts[i], NULL), 0);
    t = weft_spawn_ex(&huge, busy, NULL);
    CHECK(t != NULL);
    CHECK_EQ(weft_join(t, NULL), 0);
    return (void *)(intptr_t)n;
}

static void spawn_child(void)
{
    weft_config_t cfg = { .workers = 2, .stack_size = BIG_STACK };
    void *n = NULL;
    CHECK_EQ(weft_run(&cfg, m_spawn, NULL, &n), 0);
    fprintf(stderr, "%d tasks spawned under the limit\n", (int)(intptr_t)n);
}

/* weft_spawn returns NULL and weft_go -ENOMEM when no stack can be mapped;
 * the runtime goes on, and the stacks of finished tasks serve new spawns
 * on any worker. */
static void fault_spawn_no_address_space(void)
{
    in_child(spawn_child);
}

/* ---- the blocking pool with no thread startable ---------------------------- */

static void *answer(void *arg)
{
    return (void *)(intptr_t)42;
}

static void *m_blocking(void *arg)
{
    warm_up(64);
    char path[] = "/tmp/weft-fault-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    unlink(path);
    CHECK_EQ(write(fd, "abc", 3), 3);
    /* No room for a thread's stack (8 MiB by default): the pool cannot
     * start its first thread. */
    squeeze(2 * MIB);
    void *r = NULL;
    CHECK_EQ(weft_blocking(answer, NULL, &r), -EAGAIN);
    char b[3];
    CHECK_EQ(weft_pread(fd, b, 3, 0), -EAGAIN);
    unlimit_as();
    CHECK_EQ(weft_blocking(answer, NULL, &r), 0);
    CHECK_EQ((intptr_t)r, 42);
    CHECK_EQ(weft_pread(fd, b, 3, 0), 3);
    CHECK(memcmp(b, "abc", 3) == 0);
    close(fd);
    return NULL;
}

static void blocking_child(void)
{
    t_run(2, m_blocking, NULL);
}

/* weft_blocking (and the file calls on it) return -EAGAIN when no pool
 * thread can be started, and work once one can. */
static void fault_blocking_no_thread(void)
{
    in_child(blocking_child);
}

/* ---- weft_run itself ---------------------------------------------------------- */

static void *m_small(void *arg)
{
    /* Whatever the limit leaves: spawn what we can, all must finish. */
    weft_task_t *ts[8];
    int n = 0;
    for (int i = 0; i < 8; i++)
        if ((ts[n] = weft_spawn(answer, NULL)) != NULL)
            n++;
    for (int i = 0; i < n; i++) {
        void *r;
        CHECK_EQ(weft_join(ts[i], &r), 0);
        CHECK_EQ((intptr_t)r, 42);
    }
    return (void *)(intptr_t)(100 + n);
}

static const size_t headrooms_mib[] = { 0, 1, 4, 16, 32, 64, 72, 80, 88, 96, 104, 112,
                                        120, 128, 136, 144, 160, 256, 1024 };
#define NHEAD (sizeof headrooms_mib / sizeof headrooms_mib[0])
static size_t headroom;

/* Exit status: 0 ran, 1 -ENOMEM, 2 -EAGAIN; anything else fails. */
static void run_child(void)
{
    squeeze(headroom);
    weft_config_t cfg = { .workers = 2 };
    void *res = NULL;
    int rc = weft_run(&cfg, m_small, NULL, &res);
    if (rc == 0) {
        CHECK((intptr_t)res >= 100 && (intptr_t)res <= 108);
        _exit(0);
    }
    if (rc == -ENOMEM || rc == -EAGAIN) {
        /* Nothing is left behind that stops a second weft_run. */
        unlimit_as();
        CHECK_EQ(weft_run(&cfg, m_small, NULL, &res), 0);
        CHECK_EQ((intptr_t)res, 108);
        _exit(rc == -ENOMEM ? 1 : 2);
    }
    fprintf(stderr, "weft_run under a %zu MiB headroom: %s\n", headroom / MIB, weft_strerror(rc));
    _exit(3);
}

/* weft_run under a range of limits, from none to plenty: it runs, or
 * returns -ENOMEM / -EAGAIN, never crashes or hangs; after a failure a
 * second weft_run with the limit lifted works. */
static void fault_run_no_address_space(void)
{
    skip_under_sanitizers();
    int outcomes[4] = { 0 };
    for (size_t i = 0; i < NHEAD; i++) {
        headroom = headrooms_mib[i] * MIB;
        fflush(NULL);
        pid_t pid = fork();
        CHECK(pid >= 0);
        if (pid == 0)
            run_child();
        int st;
        CHECK_EQ(waitpid(pid, &st, 0), pid);
        if (WIFEXITED(st) && WEXITSTATUS(st) == 77)
            exit(77);
        if (!WIFEXITED(st) || WEXITSTATUS(st) > 2) {
            fprintf(stderr, "headroom %zu MiB: the child %s %d\n", headrooms_mib[i],
                    WIFEXITED(st) ? "exited with" : "died of signal",
                    WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
            abort();
        }
        outcomes[WEXITSTATUS(st)]++;
        fprintf(stderr, "headroom %4zu MiB: %s\n", headrooms_mib[i],
                (const char *[]){ "ran", "-ENOMEM", "-EAGAIN" }[WEXITSTATUS(st)]);
    }
    /* The range straddles the boundary: some runs failed, some ran. */
    CHECK(outcomes[0] > 0);
    CHECK(outcomes[1] + outcomes[2] > 0);
}

T_MAIN(
    T_CASE(fault_spawn_no_address_space),
    T_CASE(fault_blocking_no_thread),
    T_CASE(fault_run_no_address_space),
)
