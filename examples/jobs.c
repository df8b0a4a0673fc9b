/* jobs: a coroutine, a blocking call on a thread and a CPU-bound call in a
 * process, side by side (the asyncio run_in_executor example of the
 * documents weft grew from): all three finish in the time of the slowest.
 *
 *   jobs [--seconds S]     each job takes about S seconds (default 1)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <weft.h>

static double seconds = 1.0;

static double now(void)
{
    return (double)weft_now() / 1e9;
}

/* 1. A coroutine: waits (as for I/O) without holding a thread. */
static void *coroutine(void *arg)
{
    weft_sleep((uint64_t)(seconds * 1e9));
    return NULL;
}

/* 2. Synchronous code that blocks its thread: on the blocking pool. */
static void *blocking_io(void *arg)
{
    usleep((useconds_t)(seconds * 1e6));  /* a read from a slow disk, say */
    return NULL;
}

static void *blocking(void *arg)
{
    return (void *)(intptr_t)weft_blocking(blocking_io, NULL, NULL);
}

/* 3. CPU-bound code: in a worker process (count primes for `seconds`). */
static int count_primes(const void *in, size_t n, void **out, size_t *out_len)
{
    double until;
    memcpy(&until, in, sizeof until);
    long found = 0;
    for (long k = 2;; k++) {
        int prime = 1;
        for (long d = 2; d * d <= k; d++)
            if (k % d == 0) {
                prime = 0;
                break;
            }
        found += prime;
        if ((k & 1023) == 0 && now() >= until)
            break;
    }
    long *r = malloc(sizeof *r);
    if (!r)
        return -ENOMEM;
    *r = found;
    *out = r;
    *out_len = sizeof *r;
    return 0;
}

static void *cpu(void *arg)
{
    double until = now() + seconds;
    void *out = NULL;
    size_t len = 0;
    int rc = weft_process_call(count_primes, &until, sizeof until, &out, &len);
    if (rc == 0 && len == sizeof(long))
        printf("  (the process found %ld primes)\n", *(long *)out);
    free(out);
    return (void *)(intptr_t)rc;
}

static void *main_task(void *arg)
{
    void *(*jobs[3])(void *) = { coroutine, blocking, cpu };
    const char *names[3] = { "coroutine (weft_sleep)", "thread (weft_blocking)",
                             "process (weft_process_call)" };
    weft_task_t *t[3];
    double t0 = now();
    for (int i = 0; i < 3; i++)
        t[i] = weft_spawn(jobs[i], NULL);
    int failed = 0;
    for (int i = 0; i < 3; i++) {
        void *r = NULL;
        int rc = weft_join(t[i], &r);
        if (rc == 0)
            rc = (int)(intptr_t)r;
        printf("%-28s done at %.2f s%s%s\n", names[i], now() - t0, rc ? ": " : "",
               rc ? weft_strerror(rc) : "");
        failed |= rc != 0;
    }
    printf("all three in %.2f s (one after another: about %.2f s)\n", now() - t0,
           3 * seconds);
    return (void *)(intptr_t)failed;
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: %s [--seconds S]\n"
                   "Runs a coroutine, a blocking call on a thread and a CPU-bound\n"
                   "call in a worker process side by side, each taking about S\n"
                   "seconds (default 1), and prints when each finished.\n",
                   argv[0]);
            return 0;
        }
        if (!strcmp(argv[i], "--seconds") && i + 1 < argc) {
            seconds = strtod(argv[++i], NULL);
            if (seconds <= 0 || seconds > 3600) {
                fprintf(stderr, "%s: --seconds wants a number from 0 to 3600\n", argv[0]);
                return 2;
            }
        } else {
            fprintf(stderr, "%s: unknown argument '%s' (try --help)\n", argv[0], argv[i]);
            return 2;
        }
    }
    /* One worker process for the CPU-bound job, unless WEFT_PROCESSES says. */
    weft_config_t cfg = { .processes = getenv("WEFT_PROCESSES") ? 0 : 1 };
    void *failed = NULL;
    int rc = weft_run(&cfg, main_task, NULL, &failed);
    if (rc < 0) {
        fprintf(stderr, "%s: %s\n", argv[0], weft_strerror(rc));
        return 1;
    }
    return failed ? 1 : 0;
}
