/* Settings from WEFT_* variables and weft_config_t, size parsing, and the
 * topology queries (default workers, pinning, steal order). */
#include <sched.h>
#include <unistd.h>

#include "t.h"

#include "sched/config.h"
#include "sched/topology.h"

static const char *const vars[] = {
    "WEFT_WORKERS", "WEFT_STACK_SIZE", "WEFT_PIN",
    "WEFT_POLLER", "WEFT_BLOCKING_THREADS", "WEFT_STATS",
};

/* Each case starts from no WEFT_* setting, whatever the caller exported. */
static void clear_env(void)
{
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        unsetenv(vars[i]);
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

/* Resolve with *user and expect -EINVAL with one stderr line that starts with
 * "weft: <name>=", leaving *out as it was. */
static void expect_rejected(const weft_config_t *user, const char *name)
{
    weft__cfg_t out, before;
    char prefix[96];
    const char *msg;
    int saved, rc;

    memset(&out, 0xa5, sizeof out);
    before = out;
    saved = t_capture_begin();
    rc = weft__config_resolve(user, &out);
    msg = t_capture_end(saved);
    if (rc != -EINVAL || count_lines(msg) != 1)
        fprintf(stderr, "%s: rc=%d, stderr: %s\n", name, rc, msg);
    CHECK_EQ(rc, -EINVAL);
    CHECK_EQ(count_lines(msg), 1);
    CHECK(msg[strlen(msg) - 1] == '\n');
    snprintf(prefix, sizeof prefix, "weft: %s=", name);
    CHECK(strncmp(msg, prefix, strlen(prefix)) == 0);
    CHECK(strstr(msg, " is not valid: ") != NULL);
    CHECK(memcmp(&out, &before, sizeof out) == 0);
}

static void expect_env_rejected(const char *var, const char *value)
{
    clear_env();
    CHECK(setenv(var, value, 1) == 0);
    expect_rejected(NULL, var);
    unsetenv(var);
}

static void expect_env_ok(const char *var, const char *value, weft__cfg_t *out)
{
    clear_env();
    CHECK(setenv(var, value, 1) == 0);
    CHECK_EQ(weft__config_resolve(NULL, out), 0);
    unsetenv(var);
}

static size_t page(void)
{
    long pg = sysconf(_SC_PAGESIZE);
    return pg > 0 ? (size_t)pg : 4096;
}

/* ---- weft__parse_size ---------------------------------------------------- */

static void parse_size_accepts(void)
{
    static const struct { const char *s; size_t v; } ok[] = {
        { "0", 0 },           { "1", 1 },
        { "4096", 4096 },     { "64K", 64u << 10 },
        { "64k", 64u << 10 }, { "1M", 1u << 20 },
        { "3m", 3u << 20 },   { "1G", 1u << 30 },
        { "2g", 2ull << 30 }, { "007K", 7u << 10 },
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        size_t v = 12345;
        CHECK_EQ(weft__parse_size(ok[i].s, 0, SIZE_MAX, &v), 0);
        CHECK_EQ(v, ok[i].v);
    }
    /* The bounds are inclusive. */
    size_t v = 0;
    CHECK_EQ(weft__parse_size("16K", 16u << 10, 1u << 30, &v), 0);
    CHECK_EQ(v, 16u << 10);
    CHECK_EQ(weft__parse_size("1G", 16u << 10, 1u << 30, &v), 0);
    CHECK_EQ(v, 1u << 30);
}

static void parse_size_rejects(void)
{
    static const char *const bad[] = {
        "", "12x", "-1", "+1", " 5", "5 ", "K", "1KB", "1KK", "1.5M",
        "0x10", "99999999999999999999", "99999999999999999999K",
        "18446744073709551615K", "17179869184G",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        size_t v = 777;
        if (weft__parse_size(bad[i], 0, SIZE_MAX, &v) != -EINVAL)
            fprintf(stderr, "accepted \"%s\"\n", bad[i]);
        CHECK_EQ(weft__parse_size(bad[i], 0, SIZE_MAX, &v), -EINVAL);
        CHECK_EQ(v, 777); /* untouched */
    }
    size_t v = 777;
    CHECK_EQ(weft__parse_size(NULL, 0, SIZE_MAX, &v), -EINVAL);
    CHECK_EQ(weft__parse_size("15K", 16u << 10, 1u << 30, &v), -EINVAL);
    CHECK_EQ(weft__parse_size("1025M", 16u << 10, 1u << 30, &v), -EINVAL);
    CHECK_EQ(weft__parse_size("0", 1, 10, &v), -EINVAL);
    CHECK_EQ(v, 777);
}

/* ---- defaults and the environment -------------------------------------- */

static void defaults_without_env(void)
{
    weft__cfg_t c;

    clear_env();
    CHECK_EQ(weft__config_resolve(NULL, &c), 0);
    CHECK_EQ(c.workers, 0);
    CHECK_EQ(c.stack_size, WEFT__STACK_DEFAULT);
    CHECK_EQ(c.pin, 0);
    CHECK(c.poller != NULL);
#ifdef __linux__
    CHECK(strcmp(c.poller, "epoll") == 0);
#endif
    CHECK_EQ(c.blocking_threads, WEFT__BLOCKING_DEFAULT);
    CHECK_EQ(c.stats, 0);

    weft_config_t zero = { 0 };
    weft__cfg_t z;
    CHECK_EQ(weft__config_resolve(&zero, &z), 0);
    CHECK(memcmp(&c, &z, sizeof c) == 0);
}

static void env_good_values(void)
{
    weft__cfg_t c;

    expect_env_ok("WEFT_WORKERS", "1", &c);
    CHECK_EQ(c.workers, 1);
    expect_env_ok("WEFT_WORKERS", "1024", &c);
    CHECK_EQ(c.workers, 1024);
    expect_env_ok("WEFT_STACK_SIZE", "64K", &c);
    CHECK_EQ(c.stack_size, 64u << 10);
    expect_env_ok("WEFT_STACK_SIZE", "1g", &c);
    CHECK_EQ(c.stack_size, 1u << 30);
    expect_env_ok("WEFT_PIN", "1", &c);
    CHECK_EQ(c.pin, 1);
    expect_env_ok("WEFT_PIN", "TRUE", &c);
    CHECK_EQ(c.pin, 1);
    expect_env_ok("WEFT_PIN", "On", &c);
    CHECK_EQ(c.pin, 1);
    expect_env_ok("WEFT_PIN", "no", &c);
    CHECK_EQ(c.pin, 0);
    expect_env_ok("WEFT_POLLER", "poll", &c);
    CHECK(strcmp(c.poller, "poll") == 0);
    expect_env_ok("WEFT_BLOCKING_THREADS", "65536", &c);
    CHECK_EQ(c.blocking_threads, 65536);
    expect_env_ok("WEFT_STATS", "yes", &c);
    CHECK_EQ(c.stats, 1);
    expect_env_ok("WEFT_STATS", "off", &c);
    CHECK_EQ(c.stats, 0);
}

static void env_empty_is_unset(void)
{
    weft__cfg_t c;

    clear_env();
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        CHECK(setenv(vars[i], "", 1) == 0);
    CHECK_EQ(weft__config_resolve(NULL, &c), 0);
    CHECK_EQ(c.workers, 0);
    CHECK_EQ(c.stack_size, WEFT__STACK_DEFAULT);
    CHECK_EQ(c.blocking_threads, WEFT__BLOCKING_DEFAULT);
    clear_env();
}

static void env_bad_workers(void)
{
    static const char *const bad[] = {
        "abc", "0", "-3", "1025", "+4", " 4", "4 ", "4x", "0x10", "2.0",
        "99999999999999999999", "-99999999999999999999",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_env_rejected("WEFT_WORKERS", bad[i]);

    /* The message quotes the value and says what is accepted. */
    int saved;
    weft__cfg_t c;
    clear_env();
    setenv("WEFT_WORKERS", "abc", 1);
    saved = t_capture_begin();
    CHECK_EQ(weft__config_resolve(NULL, &c), -EINVAL);
    CHECK(strcmp(t_capture_end(saved),
                 "weft: WEFT_WORKERS=\"abc\" is not valid: "
                 "expected an integer from 1 to 1024\n") == 0);
}

static void env_bad_stack_size(void)
{
    static const char *const bad[] = {
        "abc", "15K", "2G", "0", "-64K", "64KB", "64 K", "1T",
        "99999999999999999999K",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_env_rejected("WEFT_STACK_SIZE", bad[i]);
}

static void env_bad_pin(void)
{
    static const char *const bad[] = { "2", "-1", "maybe", "y", "01", " 1" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_env_rejected("WEFT_PIN", bad[i]);
}

static void env_bad_poller(void)
{
    static const char *const bad[] = { "select", "EPOLL", "poll ", "io_uring" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_env_rejected("WEFT_POLLER", bad[i]);
#ifdef __linux__
    expect_env_rejected("WEFT_POLLER", "kqueue"); /* not built on Linux */
#endif
}

static void env_bad_blocking_threads(void)
{
    static const char *const bad[] = { "0", "-1", "65537", "many", "8k" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_env_rejected("WEFT_BLOCKING_THREADS", bad[i]);
}

static void env_bad_stats(void)
{
    static const char *const bad[] = { "2", "verbose", "truee" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_env_rejected("WEFT_STATS", bad[i]);
}

/* A value with a newline must not break the one-line promise. */
static void env_bad_value_stays_one_line(void)
{
    expect_env_rejected("WEFT_WORKERS", "4\nweft: forged line");
    char big[4096];
    memset(big, '7', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    expect_env_rejected("WEFT_WORKERS", big);
}

/* ---- weft_config_t fields ---------------------------------------------- */

static void cfg_wins_over_env(void)
{
    weft__cfg_t c;

    clear_env();
    setenv("WEFT_WORKERS", "3", 1);
    setenv("WEFT_STACK_SIZE", "1M", 1);
    setenv("WEFT_PIN", "1", 1);
    setenv("WEFT_POLLER", "poll", 1);
    setenv("WEFT_BLOCKING_THREADS", "7", 1);

    /* Unset fields leave the environment's values. */
    weft_config_t none = { 0 };
    CHECK_EQ(weft__config_resolve(&none, &c), 0);
    CHECK_EQ(c.workers, 3);
    CHECK_EQ(c.stack_size, 1u << 20);
    CHECK_EQ(c.pin, 1);
    CHECK(strcmp(c.poller, "poll") == 0);
    CHECK_EQ(c.blocking_threads, 7);

    char name[] = "poll"; /* the resolved name must not point here */
    weft_config_t u = {
        .workers = 5, .stack_size = 128u << 10, .pin = -1,
        .poller = name, .blocking_threads = 9,
    };
    CHECK_EQ(weft__config_resolve(&u, &c), 0);
    CHECK_EQ(c.workers, 5);
    CHECK_EQ(c.stack_size, 128u << 10);
    CHECK_EQ(c.pin, 0);
    CHECK(strcmp(c.poller, u.poller) == 0);
    CHECK(c.poller != u.poller);
    CHECK_EQ(c.blocking_threads, 9);

    /* pin = 1 wins over WEFT_PIN=0. */
    setenv("WEFT_PIN", "0", 1);
    weft_config_t p = { .pin = 1 };
    CHECK_EQ(weft__config_resolve(&p, &c), 0);
    CHECK_EQ(c.pin, 1);

    /* A bad environment value is reported even when a field overrides it:
     * the operator's typo should not hide. */
    setenv("WEFT_WORKERS", "lots", 1);
    weft_config_t w = { .workers = 2 };
    expect_rejected(&w, "WEFT_WORKERS");
    clear_env();
}

static void cfg_bad_fields(void)
{
    clear_env();
    weft_config_t c;

    c = (weft_config_t){ .workers = -3 };
    expect_rejected(&c, "weft_config_t.workers");
    c = (weft_config_t){ .workers = 1025 };
    expect_rejected(&c, "weft_config_t.workers");
    c = (weft_config_t){ .stack_size = 1024 };
    expect_rejected(&c, "weft_config_t.stack_size");
    c = (weft_config_t){ .stack_size = (2u << 30) };
    expect_rejected(&c, "weft_config_t.stack_size");
    c = (weft_config_t){ .pin = 2 };
    expect_rejected(&c, "weft_config_t.pin");
    c = (weft_config_t){ .pin = -2 };
    expect_rejected(&c, "weft_config_t.pin");
    c = (weft_config_t){ .poller = "select" };
    expect_rejected(&c, "weft_config_t.poller");
    c = (weft_config_t){ .poller = "" };
    expect_rejected(&c, "weft_config_t.poller");
    c = (weft_config_t){ .blocking_threads = -1 };
    expect_rejected(&c, "weft_config_t.blocking_threads");
    c = (weft_config_t){ .blocking_threads = 65537 };
    expect_rejected(&c, "weft_config_t.blocking_threads");

    int saved;
    weft__cfg_t out;
    c = (weft_config_t){ .workers = -3 };
    saved = t_capture_begin();
    CHECK_EQ(weft__config_resolve(&c, &out), -EINVAL);
    CHECK(strcmp(t_capture_end(saved),
                 "weft: weft_config_t.workers=-3 is not valid: "
                 "expected an integer from 1 to 1024\n") == 0);
}

static void stack_rounded_to_page(void)
{
    weft__cfg_t c;
    size_t pg = page();

    clear_env();
    weft_config_t u = { .stack_size = (16u << 10) + 1 };
    CHECK_EQ(weft__config_resolve(&u, &c), 0);
    CHECK_EQ(c.stack_size % pg, 0);
    CHECK(c.stack_size >= (16u << 10) + 1);
    CHECK(c.stack_size < (16u << 10) + 1 + pg);

    expect_env_ok("WEFT_STACK_SIZE", "70000", &c);
    CHECK_EQ(c.stack_size % pg, 0);
    CHECK(c.stack_size >= 70000 && c.stack_size < 70000 + pg);
}

/* ---- topology ------------------------------------------------------------ */

static int affinity_cpus(void)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CHECK_EQ(sched_getaffinity(0, sizeof set, &set), 0);
    return CPU_COUNT(&set);
}

static void topo_default_workers(void)
{
    int ncpu = affinity_cpus();
    weft__topo_t *t = weft__topo_open();
    CHECK(t != NULL);

    int n = weft__topo_default_workers(t);
    CHECK(n >= 1);
    CHECK(n <= ncpu);
    n = weft__topo_default_workers(NULL);
    CHECK(n >= 1);
    CHECK(n <= ncpu);
    weft__topo_close(t);
    weft__topo_close(NULL);
}

/* order[0..n-2] must hold every worker but self exactly once. */
static void check_permutation(const int *order, int self, int n)
{
    int seen[8] = { 0 };
    for (int i = 0; i < n - 1; i++) {
        CHECK(order[i] >= 0 && order[i] < n);
        CHECK(order[i] != self);
        CHECK_EQ(seen[order[i]], 0);
        seen[order[i]] = 1;
    }
}

static void topo_victim_order_permutation(void)
{
    weft__topo_t *t = weft__topo_open();
    CHECK(t != NULL);

    for (int n = 1; n <= 8; n++) {
        for (int self = 0; self < n; self++) {
            int order[8 + 1];
            for (int i = 0; i < 9; i++)
                order[i] = -7;
            weft__topo_victim_order(t, self, n, order);
            check_permutation(order, self, n);
            CHECK_EQ(order[n - 1], -7); /* nothing written past n-2 */

            /* Without a topology: plain index order after self. */
            weft__topo_victim_order(NULL, self, n, order);
            for (int k = 1; k < n; k++)
                CHECK_EQ(order[k - 1], (self + k) % n);
        }
    }
    weft__topo_close(t);
}

static void topo_pin_binds_one_cpu(void)
{
    weft__topo_t *t = weft__topo_open();
    CHECK(t != NULL);

    int rc = weft__topo_pin(t, 0);
    if (rc == -ENOTSUP || rc == -ENOSYS) {
        printf("skip: pinning is not supported here (%s)\n", strerror(-rc));
    } else {
        CHECK_EQ(rc, 0);
        CHECK_EQ(affinity_cpus(), 1);
    }
    weft__topo_close(t);
}

/* ---- through weft_run ---------------------------------------------------- */

static int main_ran;

static void *never_runs(void *arg)
{
    main_ran = 1;
    return arg;
}

static void run_rejects_bad_env(void)
{
    int saved;

    clear_env();
    setenv("WEFT_WORKERS", "abc", 1);
    saved = t_capture_begin();
    int rc = weft_run(NULL, never_runs, NULL, NULL);
    const char *msg = t_capture_end(saved);
    CHECK_EQ(rc, -EINVAL);
    CHECK_EQ(main_ran, 0);
    CHECK(strstr(msg, "WEFT_WORKERS") != NULL);
}

T_MAIN(
    T_CASE(parse_size_accepts),
    T_CASE(parse_size_rejects),
    T_CASE(defaults_without_env),
    T_CASE(env_good_values),
    T_CASE(env_empty_is_unset),
    T_CASE(env_bad_workers),
    T_CASE(env_bad_stack_size),
    T_CASE(env_bad_pin),
    T_CASE(env_bad_poller),
    T_CASE(env_bad_blocking_threads),
    T_CASE(env_bad_stats),
    T_CASE(env_bad_value_stays_one_line),
    T_CASE(cfg_wins_over_env),
    T_CASE(cfg_bad_fields),
    T_CASE(stack_rounded_to_page),
    T_CASE(topo_default_workers),
    T_CASE(topo_victim_order_permutation),
    T_CASE(topo_pin_binds_one_cpu),
    T_CASE(run_rejects_bad_env)
)
