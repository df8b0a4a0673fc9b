/* Minimal test harness: one executable per file, one case per process.
 * `test-foo case_name` runs one case; without an argument it lists them.
 * The CMake glue registers every T_CASE(name) line as a CTest test. */
#ifndef WEFT_TESTS_T_H
#define WEFT_TESTS_T_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "weft.h"

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__,   \
                    #cond);                                                    \
            abort();                                                           \
        }                                                                      \
    } while (0)

#define CHECK_EQ(a, b)                                                         \
    do {                                                                       \
        long long a_ = (long long)(a), b_ = (long long)(b);                    \
        if (a_ != b_) {                                                        \
            fprintf(stderr, "%s:%d: CHECK failed: %s == %s (%lld != %lld)\n",  \
                    __FILE__, __LINE__, #a, #b, a_, b_);                       \
            abort();                                                           \
        }                                                                      \
    } while (0)

/* What weft printed on stderr between the two calls (its reports and
 * messages go there), captured through a temporary file:
 *     int saved = t_capture_begin(); ...; const char *out = t_capture_end(saved);
 * The text stays valid until the next t_capture_end. */
__attribute__((unused)) static int t_capture_begin(void)
{
    FILE *f = tmpfile();
    CHECK(f != NULL);
    fflush(stderr);
    int saved = dup(2);
    CHECK(saved >= 0);
    CHECK(dup2(fileno(f), 2) == 2);
    fclose(f); /* fd 2 keeps the file open */
    return saved;
}

__attribute__((unused)) static const char *t_capture_end(int saved)
{
    static char *text;
    fflush(stderr);
    off_t n = lseek(2, 0, SEEK_END);
    CHECK(n >= 0 && lseek(2, 0, SEEK_SET) == 0);
    char *t = realloc(text, (size_t)n + 1);
    CHECK(t != NULL);
    text = t;
    CHECK(read(2, text, (size_t)n) == (ssize_t)n);
    text[n] = '\0';
    CHECK(dup2(saved, 2) == 2);
    close(saved);
    if (n > 0)  /* for the test's log */
        fprintf(stderr, "---- captured stderr:\n%s----\n", text);
    return text;
}

#define MS(x) ((uint64_t)(x) * 1000000ull)

/* Skip the running case with a reason: CTest shows it as skipped (exit
 * status 77), never as passed. */
#define T_SKIP(reason)                                                         \
    do {                                                                       \
        fprintf(stderr, "SKIPPED: %s\n", reason);                              \
        exit(77);                                                              \
    } while (0)

/* Cases that re-execute this binary cannot run under qemu-user (no binfmt
 * handler for the guest binary): the CMake glue says so when
 * cross-compiling. */
static inline void t_need_reexec(void)
{
    if (getenv("WEFT_TEST_NO_REEXEC"))
        T_SKIP("re-executing the test binary is not possible under an emulator");
}

/* n scaled by WEFT_TEST_SCALE percent (sanitizer and qemu builds shrink the
 * stress sizes), never below 1. */
static inline long t_scale(long n)
{
    const char *s = getenv("WEFT_TEST_SCALE");
    long pct = s ? strtol(s, NULL, 10) : 100;
    if (pct <= 0 || pct > 100)
        pct = 100;
    long r = n * pct / 100;
    return r < 1 ? 1 : r;
}

/* errno, looked up anew: a test function that waited may be running on
 * another worker, and the compiler may reuse errno's address from before
 * the wait (see "Thread-locals and migration" in docs/scheduler.md). */
__attribute__((noinline, unused)) static int t_errno(void)
{
    __asm__ volatile("" ::: "memory");
    return errno;
}

typedef struct t_case {
    const char *name;
    void (*fn)(void);
} t_case;

#define T_CASE(f) { #f, f }

static inline int t_main(const t_case *cases, size_t n, int argc, char **argv)
{
    if (argc < 2) {
        for (size_t i = 0; i < n; i++)
            printf("%s\n", cases[i].name);
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        if (strcmp(cases[i].name, argv[1]) == 0) {
            cases[i].fn();
            return 0;
        }
    }
    fprintf(stderr, "no test case '%s'\n", argv[1]);
    return 2;
}

#define T_MAIN(...)                                                            \
    int main(int argc, char **argv)                                            \
    {                                                                          \
        static const t_case cases[] = { __VA_ARGS__ };                         \
        return t_main(cases, sizeof cases / sizeof cases[0], argc, argv);      \
    }

/* Run fn(arg) as weft's main task with the given worker count; checks that
 * weft_run succeeded and returns the task's result. */
static inline void *t_run(int workers, void *(*fn)(void *), void *arg)
{
    weft_config_t cfg = { .workers = workers };
    void *res = NULL;
    int rc = weft_run(&cfg, fn, arg, &res);
    if (rc != 0) {
        fprintf(stderr, "weft_run: %s\n", weft_strerror(rc));
        abort();
    }
    return res;
}

#endif
