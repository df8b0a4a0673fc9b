/* libFuzzer target: the WEFT_* environment and weft_config_t parser
 * (sched/config.c). The input is split at newlines into the values of the
 * variables below, in order (a line "-" leaves that variable unset); the
 * bytes after the last variable fill a weft_config_t. Whatever the input,
 * weft__config_resolve must return 0 with every setting in range, or
 * -EINVAL; and weft__parse_size must agree with its own bounds. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sched/config.h"

static const char *const vars[] = {
    "WEFT_WORKERS", "WEFT_STACK_SIZE", "WEFT_PIN", "WEFT_POLLER",
    "WEFT_BLOCKING_THREADS", "WEFT_BLOCKING_KEEPALIVE_MS",
    "WEFT_BLOCKING_SHUTDOWN_MS", "WEFT_STATS",
};
enum { NVARS = sizeof vars / sizeof vars[0] };

/* The rejection messages go to stderr: keep them out of the fuzzer's log. */
static int quiet_stderr(void)
{
    int saved = dup(2);
    int null = open("/dev/null", O_WRONLY);
    if (null >= 0) {
        dup2(null, 2);
        close(null);
    }
    return saved;
}

static void restore_stderr(int saved)
{
    if (saved >= 0) {
        dup2(saved, 2);
        close(saved);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t at = 0;
    for (int v = 0; v < NVARS; v++) {
        size_t end = at;
        while (end < size && data[end] != '\n')
            end++;
        size_t n = end - at;
        /* putenv with one static buffer per variable: setenv would leak a
         * copy per run (glibc keeps the old values). */
        static char bufs[NVARS][64 + 4096];
        size_t name = strlen(vars[v]) + 1;
        if (n > sizeof bufs[v] - name - 1)
            n = sizeof bufs[v] - name - 1;
        memcpy(bufs[v], vars[v], name - 1);
        bufs[v][name - 1] = '=';
        char *val = bufs[v] + name;
        memcpy(val, data + at, n);
        val[n] = '\0';
        if (strcmp(val, "-") == 0 || memchr(val, '\0', n))
            unsetenv(vars[v]);
        else
            putenv(bufs[v]);
        if (v == 1) {
            /* The size parser on its own, on the same bytes. */
            size_t out = 0;
            if (weft__parse_size(val, WEFT__STACK_MIN, WEFT__STACK_MAX, &out) == 0)
                if (out < WEFT__STACK_MIN || out > WEFT__STACK_MAX)
                    abort();
        }
        at = end < size ? end + 1 : end;
    }

    weft_config_t user;
    memset(&user, 0, sizeof user);
    size_t rest = size - at;
    if (rest > 0) {
        int32_t ints[4] = { 0, 0, 0, 0 };
        memcpy(ints, data + at, rest < sizeof ints ? rest : sizeof ints);
        user.workers = ints[0];
        user.stack_size = (size_t)(uint32_t)ints[1] << (ints[3] & 15);
        user.pin = ints[2] % 3;
        user.blocking_threads = ints[3] >> 4;
    }

    weft__cfg_t c;
    int saved = quiet_stderr();
    int rc = weft__config_resolve(rest > 0 ? &user : NULL, &c);
    restore_stderr(saved);
    if (rc == 0) {
        if (c.workers < 0 || c.workers > WEFT__WORKERS_MAX)
            abort();
        if (c.stack_size < WEFT__STACK_MIN || c.stack_size > WEFT__STACK_MAX + 4096)
            abort();
        if (c.pin != 0 && c.pin != 1)
            abort();
        if (!c.poller)
            abort();
        if (c.blocking_threads < 1 || c.blocking_threads > WEFT__BLOCKING_MAX)
            abort();
        if (c.blocking_keepalive_ms < 1 || c.blocking_keepalive_ms > WEFT__MS_MAX)
            abort();
        if (c.blocking_shutdown_ms < 0 || c.blocking_shutdown_ms > WEFT__MS_MAX)
            abort();
    } else if (rc != -EINVAL) {
        abort();
    }
    return 0;
}
