/* WEFT_TRACE: a small run's trace is Chrome trace-event JSON whose spans
 * match the runtime's own counters (tests/trace-check.py checks it),
 * bench/trace-png draws it, and bad settings fail weft_run with one line.
 * weft-test: timeout=180 labels=io;diag */
#include <fcntl.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "t.h"

#include "sched/sched.h"

#define PYTHON "/usr/bin/python3"

extern char **environ;

/* ---- helpers ---------------------------------------------------------------
 */

static char trace_path[512];

/* A fresh file name for this case's trace, exported as WEFT_TRACE. */
static const char *trace_to(const char *tag)
{
    const char *dir = getenv("TMPDIR");
    snprintf(trace_path, sizeof trace_path, "%s/weft-trace-%d-%s.json",
             dir && *dir ? dir : "/tmp", (int)getpid(), tag);
    unlink(trace_path);
    CHECK_EQ(setenv("WEFT_TRACE", trace_path, 1), 0);
    return trace_path;
}

/* Run argv (inheriting stdout and stderr); its exit status, or -1. */
static int run_cmd(char *const argv[])
{
    pid_t pid;
    int st;
    fflush(stdout);
    fflush(stderr);
    if (posix_spawn(&pid, argv[0], NULL, NULL, argv, environ) != 0)
        return -1;
    CHECK_EQ(waitpid(pid, &st, 0), pid);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void need_python(void)
{
    if (access(PYTHON, X_OK) != 0)
        T_SKIP(PYTHON
               " is missing: the trace is checked with Python's json module "
               "(tests/run installs python3)");
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

/* ---- the workload -----------------------------------------------------------
 */

static int pipefd[2];
static weft_task_t *reader_task;

static void *sleeper(void *arg)
{
    for (int i = 0; i < 3; i++)
        CHECK_EQ(weft_sleep(MS(1)), 0);
    return NULL;
}

static void *yielder(void *arg)
{
    for (int i = 0; i < 200; i++)
        CHECK_EQ(weft_yield(), 0);
    return NULL;
}

/* CPU work in slices: keeps its worker busy, so the other one steals. */
static void *busy(void *arg)
{
    for (int i = 0; i < 10; i++) {
        uint64_t until = weft_now() + 100000;
        while (weft_now() < until) {
        }
        CHECK_EQ(weft_yield(), 0);
    }
    return NULL;
}

static void *reader(void *arg)
{
    char c;
    CHECK_EQ(weft_read(pipefd[0], &c, 1), 1);
    return NULL;
}

/* Writes once the reader is parked on the pipe, so its wake is an I/O
 * wake-up (the reader parks nowhere else). */
static void *writer(void *arg)
{
    while ((weft__load_acquire(&reader_task->pstate) & WEFT__PS_PHASE) !=
           WEFT__PS_PARKED)
        CHECK_EQ(weft_sleep(MS(1)), 0);
    CHECK_EQ(weft_write(pipefd[1], "x", 1), 1);
    return NULL;
}

static void *slow_call(void *arg)
{
    usleep(2000);
    return arg;
}

static void *blocker(void *arg)
{
    void *r = NULL;
    CHECK_EQ(weft_blocking(slow_call, (void *)(intptr_t)7, &r), 0);
    CHECK(r == (void *)(intptr_t)7);
    return NULL;
}

static weft_task_t *spawn_named(const char *name, void *(*fn)(void *),
                                void *arg)
{
    weft_spawn_opts_t o = { .name = name };
    weft_task_t *t = weft_spawn_ex(&o, fn, arg);
    CHECK(t != NULL);
    return t;
}

static void *workload(void *arg)
{
    weft_task_t *ts[16];
    int n = 0;
    CHECK_EQ(pipe2(pipefd, O_NONBLOCK | O_CLOEXEC), 0);
    ts[n++] = reader_task = spawn_named("reader", reader, NULL);
    ts[n++] = spawn_named("writer", writer, NULL);
    ts[n++] = spawn_named("blocker", blocker, NULL);
    for (int i = 0; i < 3; i++)
        ts[n++] = spawn_named("sleeper", sleeper, NULL);
    for (int i = 0; i < 4; i++)
        ts[n++] = spawn_named("yielder", yielder, NULL);
    for (int i = 0; i < 4; i++)
        ts[n++] = spawn_named("busy", busy, NULL);
    CHECK_EQ(weft_join_all(ts, (size_t)n, NULL), 0);
    CHECK_EQ(weft_close(pipefd[0]), 0);
    CHECK_EQ(weft_close(pipefd[1]), 0);
    return NULL;
}

/* Run tests/trace-check.py on path with the given options (NULL-terminated). */
static int trace_check(const char *path, ...)
{
    char *argv[32] = { PYTHON, WEFT_SOURCE_DIR "/tests/trace-check.py",
                       (char *)path, "--workers", "2" };
    int n = 5;
    va_list ap;
    va_start(ap, path);
    char *a;
    while ((a = va_arg(ap, char *)) != NULL && n < 31)
        argv[n++] = a;
    va_end(ap);
    argv[n] = NULL;
    return run_cmd(argv);
}

/* ---- cases ------------------------------------------------------------------
 */

/* Every kind of event, named spans, counts that match the counters. */
static void trace_small_run(void)
{
    need_python();
    const char *path = trace_to("small");
    t_run(2, workload, NULL);
    /* The trace is written after the counters were summed: compare. */
    weft__totals_t tot = weft__last_totals;
    char runs[32], parks[32], steals[32], timers[32];
    snprintf(runs, sizeof runs, "%llu", (unsigned long long)tot.tasks_run);
    snprintf(parks, sizeof parks, "%llu", (unsigned long long)tot.parks);
    snprintf(steals, sizeof steals, "%llu", (unsigned long long)tot.steals_in);
    snprintf(timers, sizeof timers, "%llu",
             (unsigned long long)tot.timers_fired);
    CHECK_EQ(trace_check(path, "--names",
                         "main,reader,writer,blocker,sleeper,yielder,busy",
                         "--instants", "io wake,timer", "--blocking", "1",
                         "--runs", runs, "--parks", parks, "--steals", steals,
                         "--timers", timers, (char *)NULL),
             0);
    unlink(path);
}

/* A second run writes its own trace: nothing of the first one leaks into
 * it, not even the blocking call the first left running on a pool thread
 * (weft_run stopped waiting for it), which ends during the second run. */
static void *long_call(void *arg)
{
    usleep(300000);
    return NULL;
}

static void *first_long(void *arg)
{
    /* Cancelled at shutdown: returns at once, the call runs on. */
    weft_blocking(long_call, NULL, NULL);
    return NULL;
}

static void *first(void *arg)
{
    weft_detach(spawn_named("first", first_long, NULL));
    CHECK_EQ(weft_sleep(MS(20)), 0); /* the call has begun */
    return NULL;
}

static void *second(void *arg)
{
    weft_task_t *t = spawn_named("second", blocker, NULL);
    CHECK_EQ(weft_join(t, NULL), 0);
    /* The first run's call ends meanwhile. */
    CHECK_EQ(weft_sleep(MS(400)), 0);
    return NULL;
}

static void trace_two_runs(void)
{
    need_python();
    const char *path = trace_to("two");
    CHECK_EQ(setenv("WEFT_BLOCKING_SHUTDOWN_MS", "0", 1), 0);
    int saved = t_capture_begin();
    t_run(2, first, NULL);
    const char *msg = t_capture_end(saved);
    CHECK(strstr(msg, "1 blocking call is still running") != NULL);
    CHECK_EQ(unsetenv("WEFT_BLOCKING_SHUTDOWN_MS"), 0);
    t_run(2, second, NULL);
    CHECK_EQ(trace_check(path, "--names", "second", "--absent", "first",
                         "--blocking", "1", (char *)NULL),
             0);
    unlink(path);
}

/* A small buffer fills: the trace stays valid and says what it dropped. */
static void *yield_a_lot(void *arg)
{
    for (int i = 0; i < 20000; i++)
        CHECK_EQ(weft_yield(), 0);
    return NULL;
}

static void *many_switches(void *arg)
{
    weft_task_t *a = spawn_named("a", yield_a_lot, NULL);
    weft_task_t *b = spawn_named("b", yield_a_lot, NULL);
    CHECK_EQ(weft_join(a, NULL), 0);
    CHECK_EQ(weft_join(b, NULL), 0);
    return NULL;
}

static void trace_buffer_full(void)
{
    need_python();
    const char *path = trace_to("full");
    /* 1 MiB: 32768 records, fewer than the 40000 switches below. */
    CHECK_EQ(setenv("WEFT_TRACE_BUFFER", "1M", 1), 0);
    int saved = t_capture_begin();
    t_run(2, many_switches, NULL);
    const char *msg = t_capture_end(saved);
    CHECK(strstr(msg, "weft: WEFT_TRACE: ") == msg);
    CHECK(strstr(msg, " events dropped: the trace buffer "
                      "(WEFT_TRACE_BUFFER=1048576) was full\n"));
    CHECK_EQ(count_lines(msg), 1);
    CHECK_EQ(
        trace_check(path, "--names", "main", "--dropped", "yes", (char *)NULL),
        0);
    unlink(path);
}

static atomic_int ran;

static void *mark_ran(void *arg)
{
    atomic_store(&ran, 1);
    return NULL;
}

/* A path that cannot be opened is weft_run's error, with one line naming
 * the variable; nothing runs. */
static void expect_open_error(const char *path, int err)
{
    CHECK_EQ(setenv("WEFT_TRACE", path, 1), 0);
    int saved = t_capture_begin();
    weft_config_t cfg = { .workers = 2 };
    int rc = weft_run(&cfg, mark_ran, NULL, NULL);
    const char *msg = t_capture_end(saved);
    char want[256];
    snprintf(want, sizeof want,
             "weft: WEFT_TRACE=\"%s\" cannot be opened: %s\n", path,
             strerror(err));
    if (rc != -err || strcmp(msg, want) != 0)
        fprintf(stderr, "rc=%d, stderr: %s", rc, msg);
    CHECK_EQ(rc, -err);
    CHECK(strcmp(msg, want) == 0);
    CHECK_EQ(atomic_load(&ran), 0);
}

static void trace_bad_path(void)
{
    expect_open_error("/nonexistent-weft-dir/trace.json", ENOENT);
    expect_open_error("/", EISDIR);
    /* An empty variable is unset: the run goes ahead, untraced. */
    CHECK_EQ(setenv("WEFT_TRACE", "", 1), 0);
    t_run(2, mark_ran, NULL);
    CHECK_EQ(atomic_load(&ran), 1);
}

static void trace_bad_buffer(void)
{
    static const char *const bad[] = {
        "12", "1023K", "2G", "1X", "-1M", " 1M"
    };
    trace_to("badbuf");
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK_EQ(setenv("WEFT_TRACE_BUFFER", bad[i], 1), 0);
        int saved = t_capture_begin();
        weft_config_t cfg = { .workers = 1 };
        int rc = weft_run(&cfg, mark_ran, NULL, NULL);
        const char *msg = t_capture_end(saved);
        char want[256];
        snprintf(want, sizeof want,
                 "weft: WEFT_TRACE_BUFFER=\"%s\" is not valid: expected "
                 "a size from 1M to 1G (bytes, or a number with a K, M or G "
                 "suffix)\n",
                 bad[i]);
        if (rc != -EINVAL || strcmp(msg, want) != 0)
            fprintf(stderr, "%s: rc=%d, stderr: %s", bad[i], rc, msg);
        CHECK_EQ(rc, -EINVAL);
        CHECK(strcmp(msg, want) == 0);
    }
    CHECK_EQ(atomic_load(&ran), 0);
    /* Rejected before the file is opened: none was made. */
    CHECK(access(trace_path, F_OK) != 0);
}

/* bench/trace-png draws the trace, and refuses what is not one. */
static void trace_png(void)
{
    need_python();
    char *probe[] = { PYTHON, "-c", "import matplotlib", NULL };
    if (run_cmd(probe) != 0)
        T_SKIP("Debian's python3-matplotlib is not installed (tests/run "
               "installs it)");
    const char *path = trace_to("png");
    t_run(2, workload, NULL);
    char png[600];
    snprintf(png, sizeof png, "%s.png", path);
    unlink(png);
    char *argv[] = { PYTHON,       WEFT_SOURCE_DIR "/bench/trace-png",
                     (char *)path, "-o",
                     png,          NULL };
    CHECK_EQ(run_cmd(argv), 0);
    int fd = open(png, O_RDONLY);
    CHECK(fd >= 0);
    unsigned char magic[8];
    CHECK_EQ(read(fd, magic, sizeof magic), 8);
    CHECK(memcmp(magic, "\x89PNG\r\n\x1a\n", 8) == 0);
    struct stat st;
    CHECK_EQ(fstat(fd, &st), 0);
    CHECK(st.st_size > 4096);
    close(fd);

    /* Not JSON, and JSON that is not a trace: exit status 1, no picture. */
    static const char *const bad[] = {
        "{\"traceEvents\": [", "{\"x\": 1}",
        "{\"traceEvents\":[{\"ph\":\"E\",\"tid\":0,\"ts\":1}]}"
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        FILE *f = fopen(path, "w");
        CHECK(f != NULL);
        fputs(bad[i], f);
        fclose(f);
        unlink(png);
        CHECK_EQ(run_cmd(argv), 1);
        CHECK(access(png, F_OK) != 0);
    }
    unlink(path);
}

/* The CMake glue finds the cases one T_CASE a line. */
// clang-format off
T_MAIN(
    T_CASE(trace_small_run),
    T_CASE(trace_two_runs),
    T_CASE(trace_buffer_full),
    T_CASE(trace_bad_path),
    T_CASE(trace_bad_buffer),
    T_CASE(trace_png))
// clang-format on
