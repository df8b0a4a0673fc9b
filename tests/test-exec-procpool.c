/* weft-test: labels=unit;exec */
/* The process pool (weft_process_call): results both ways, parallelism,
 * crashes turned into errors, cancellation killing the worker, results
 * larger than a pipe buffer, and the pool switched off. */
#include <signal.h>
#include <stdatomic.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "t.h"

/* in: a NUL-terminated string; out: it reversed, and the worker's pid. */
static int reverse(const void *in, size_t n, void **out, size_t *out_len)
{
    char *r = malloc(n + sizeof(pid_t));
    if (!r)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++)
        r[i] = ((const char *)in)[n - 1 - i];
    pid_t me = getpid();
    memcpy(r + n, &me, sizeof me);
    *out = r;
    *out_len = n + sizeof me;
    return 7;
}

static int fails(const void *in, size_t n, void **out, size_t *out_len)
{
    return -EDOM;
}

static int crash(const void *in, size_t n, void **out, size_t *out_len)
{
    if (n && ((const char *)in)[0] == 'a')
        abort();
    volatile int *p = NULL;
    return *p;  /* SIGSEGV */
}

static int leave(const void *in, size_t n, void **out, size_t *out_len)
{
    _exit(3);
}

/* CPU for about `in` milliseconds of wall time. */
static int spin(const void *in, size_t n, void **out, size_t *out_len)
{
    uint64_t ms;
    memcpy(&ms, in, sizeof ms);
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    volatile uint64_t x = 0;
    do {
        for (int i = 0; i < 100000; i++)
            x += (uint64_t)i;
        clock_gettime(CLOCK_MONOTONIC, &b);
    } while (((int64_t)(b.tv_sec - a.tv_sec) * 1000000000 + (b.tv_nsec - a.tv_nsec)) / 1000000 <
             (int64_t)ms);
    return 0;
}

/* 10 MiB of a pattern. */
static int big(const void *in, size_t n, void **out, size_t *out_len)
{
    size_t len = 10u << 20;
    unsigned char *b = malloc(len);
    if (!b)
        return -ENOMEM;
    for (size_t i = 0; i < len; i++)
        b[i] = (unsigned char)(i ^ (i >> 9));
    *out = b;
    *out_len = len;
    return 0;
}

static pid_t call_reverse(const char *s)
{
    void *out;
    size_t len;
    CHECK_EQ(weft_process_call(reverse, s, strlen(s), &out, &len), 7);
    CHECK_EQ(len, strlen(s) + sizeof(pid_t));
    for (size_t i = 0; i < strlen(s); i++)
        CHECK_EQ(((char *)out)[i], s[strlen(s) - 1 - i]);
    pid_t pid;
    memcpy(&pid, (char *)out + strlen(s), sizeof pid);
    free(out);
    CHECK(pid != getpid());
    return pid;
}

static weft_config_t pool_cfg(int processes)
{
    weft_config_t c = { .workers = 2, .processes = processes };
    return c;
}

/* ---- results both ways; errors of fn; crashes --------------------------- */

static void *m_basic(void *arg)
{
    pid_t a = call_reverse("hello, world");
    pid_t b = call_reverse("x");
    CHECK_EQ(a, b);  /* one worker, reused */
    void *out = (void *)1;
    size_t len = 1;
    CHECK_EQ(weft_process_call(fails, NULL, 0, &out, &len), -EDOM);
    CHECK(out == NULL && len == 0);
    CHECK_EQ(weft_process_call(NULL, NULL, 0, &out, &len), -EINVAL);
    /* Crashes and exits are errors here, and the pool goes on. */
    CHECK_EQ(weft_process_call(crash, "s", 1, &out, &len), -ECHILD);
    CHECK_EQ(weft_process_call(crash, "a", 1, &out, &len), -ECHILD);
    CHECK_EQ(weft_process_call(leave, NULL, 0, &out, &len), -ECHILD);
    pid_t c = call_reverse("after");
    CHECK(c != a);  /* a new worker */
    return NULL;
}

static void basic_and_crashes(void)
{
    weft_config_t c = pool_cfg(1);
    CHECK_EQ(weft_run(&c, m_basic, NULL, NULL), 0);
}

/* ---- CPU-bound calls on N workers run in parallel ----------------------- */

static void *call_spin(void *arg)
{
    uint64_t ms = 300;
    void *out;
    size_t len;
    CHECK_EQ(weft_process_call(spin, &ms, sizeof ms, &out, &len), 0);
    free(out);
    return NULL;
}

static void *m_parallel(void *arg)
{
    /* A first call starts both workers' zygote path warm. */
    call_reverse("warm");
    uint64_t t0 = weft_now();
    weft_task_t *t[2] = { weft_spawn(call_spin, NULL), weft_spawn(call_spin, NULL) };
    CHECK_EQ(weft_join_all(t, 2, NULL), 0);
    uint64_t took = weft_now() - t0;
    /* In turn it would take 600 ms; two processes overlap. */
    CHECK(took < MS(550));
    return NULL;
}

static void parallel(void)
{
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    if (cores < 2)
        T_SKIP("needs 2 cores to show two worker processes running at once");
    weft_config_t c = pool_cfg(2);
    CHECK_EQ(weft_run(&c, m_parallel, NULL, NULL), 0);
}

/* ---- a cancelled or timed-out caller kills its worker ------------------- */

static void *call_long(void *arg)
{
    uint64_t ms = 5000;
    void *out;
    size_t len;
    return (void *)(intptr_t)weft_process_call(spin, &ms, sizeof ms, &out, &len);
}

static void *m_cancel(void *arg)
{
    pid_t before = call_reverse("before");
    uint64_t t0 = weft_now();
    weft_task_t *t = weft_spawn(call_long, NULL);
    weft_sleep(MS(50));
    weft_cancel(t);
    void *r;
    CHECK_EQ(weft_join(t, &r), 0);
    CHECK_EQ((intptr_t)r, -ECANCELED);
    CHECK(weft_now() - t0 < MS(2000));
    weft_deadline_push(MS(50));
    CHECK_EQ((intptr_t)call_long(NULL), -ETIMEDOUT);
    weft_deadline_pop();
    CHECK(weft_now() - t0 < MS(4000));
    /* The worker that ran them is gone; a new one serves. */
    pid_t after = call_reverse("after");
    CHECK(after != before);
    return NULL;
}

static void cancel_kills(void)
{
    weft_config_t c = pool_cfg(1);
    CHECK_EQ(weft_run(&c, m_cancel, NULL, NULL), 0);
}

/* ---- 10 MiB back ------------------------------------------------------- */

static void *m_big(void *arg)
{
    void *out;
    size_t len;
    CHECK_EQ(weft_process_call(big, NULL, 0, &out, &len), 0);
    CHECK_EQ(len, 10u << 20);
    const unsigned char *b = out;
    for (size_t i = 0; i < len; i++)
        if (b[i] != (unsigned char)(i ^ (i >> 9)))
            CHECK(!"byte mismatch");
    free(out);
    return NULL;
}

static void big_result(void)
{
    weft_config_t c = pool_cfg(1);
    CHECK_EQ(weft_run(&c, m_big, NULL, NULL), 0);
}

/* ---- no pool ------------------------------------------------------------ */

static void *m_off(void *arg)
{
    void *out;
    size_t len;
    CHECK_EQ(weft_process_call(reverse, "x", 1, &out, &len), -ENOTSUP);
    return NULL;
}

static void pool_off(void)
{
    t_run(1, m_off, NULL);
    setenv("WEFT_PROCESSES", "many", 1);
    weft_config_t c = { .workers = 1 };
    CHECK_EQ(weft_run(&c, m_off, NULL, NULL), -EINVAL);
    c.processes = -1;
    unsetenv("WEFT_PROCESSES");
    CHECK_EQ(weft_run(&c, m_off, NULL, NULL), -EINVAL);
}

T_MAIN(
    T_CASE(basic_and_crashes),
    T_CASE(parallel),
    T_CASE(cancel_kills),
    T_CASE(big_result),
    T_CASE(pool_off),
)
