/* Runtime settings: built-in defaults, then WEFT_* environment variables, then
 * the weft_config_t fields the program set; every value validated here. */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The poller backends compiled in, the default first. Names are string
 * literals so that the resolved config never points into the caller's
 * memory (a weft_config_t may be a temporary). */
static const char *const pollers[] = {
#ifdef WEFT_HAVE_EPOLL
    "epoll",
#endif
#ifdef WEFT_HAVE_KQUEUE
    "kqueue",
#endif
    "poll",
};
#define NPOLLERS (sizeof pollers / sizeof pollers[0])

#define BOOL_EXPECTED "expected 0, 1, true, false, yes, no, on or off"

/* ---- diagnostics ----------------------------------------------------------- */

/* Append src to buf[*len..cap), escaping what would break the one-line promise
 * (control bytes, quotes) and eliding the middle of absurdly long values: the
 * message must stay one line whatever the environment holds. */
static void append_quoted(char *buf, size_t cap, size_t *len, const char *src)
{
    static const char hex[] = "0123456789abcdef";
    const size_t max_shown = 80;
    size_t n = *len, shown = 0;

    if (n + 1 < cap)
        buf[n++] = '"';
    for (const unsigned char *p = (const unsigned char *)src; *p; p++) {
        char esc[4];
        size_t k = 0;

        if (shown++ == max_shown) {
            esc[k++] = '.';
            esc[k++] = '.';
            esc[k++] = '.';
            for (size_t i = 0; i < k && n + 1 < cap; i++)
                buf[n++] = esc[i];
            break;
        }
        if (*p < 0x20 || *p == 0x7f) {
            esc[k++] = '\\';
            esc[k++] = 'x';
            esc[k++] = hex[*p >> 4];
            esc[k++] = hex[*p & 0xf];
        } else if (*p == '"' || *p == '\\') {
            esc[k++] = '\\';
            esc[k++] = (char)*p;
        } else {
            esc[k++] = (char)*p;
        }
        for (size_t i = 0; i < k && n + 1 < cap; i++)
            buf[n++] = esc[i];
    }
    if (n + 1 < cap)
        buf[n++] = '"';
    buf[n] = '\0';
    *len = n;
}

/* Print the one line for a bad value: "weft: <name>=<value> is not valid:
 * <expected>". `quoted` tells a raw string (environment, poller field) from a
 * number already formatted. Built in one buffer and written with one call, so
 * concurrent stderr output cannot split the line. */
static int reject(const char *name, const char *value, int quoted,
                  const char *expected)
{
    char line[512];
    size_t len = 0;
    int w = snprintf(line, sizeof line, "weft: %s=", name);

    len = w < 0 ? 0 : (size_t)w < sizeof line ? (size_t)w : sizeof line - 1;
    if (quoted) {
        append_quoted(line, sizeof line, &len, value);
    } else {
        w = snprintf(line + len, sizeof line - len, "%s", value);
        if (w > 0)
            len += (size_t)w < sizeof line - len ? (size_t)w : sizeof line - len - 1;
    }
    snprintf(line + len, sizeof line - len, " is not valid: %s\n", expected);
    fputs(line, stderr);
    return -EINVAL;
}

/* ---- scalar parsers ---------------------------------------------------------- */

/* A decimal integer in [min, max]: optional '-', then digits, nothing else.
 * strtol alone would accept leading blanks, '+' and trailing junk. */
static int parse_int(const char *s, long min, long max, long *out)
{
    const char *d = s[0] == '-' ? s + 1 : s;
    char *end;
    long v;

    if (*d < '0' || *d > '9')
        return -EINVAL;
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno == ERANGE || *end != '\0' || v < min || v > max)
        return -EINVAL;
    *out = v;
    return 0;
}

static int lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

/* ASCII-only, so the locale cannot change what a setting means. */
static int same_word(const char *a, const char *b)
{
    while (*a && lower((unsigned char)*a) == lower((unsigned char)*b)) {
        a++;
        b++;
    }
    return *a == '\0' && *b == '\0';
}

static int parse_bool(const char *s, int *out)
{
    static const char *const yes[] = { "1", "true", "yes", "on" };
    static const char *const no[] = { "0", "false", "no", "off" };

    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        if (same_word(s, yes[i])) {
            *out = 1;
            return 0;
        }
        if (same_word(s, no[i])) {
            *out = 0;
            return 0;
        }
    }
    return -EINVAL;
}

/* Exact, case-sensitive match, as the names appear in docs and presets. */
static const char *find_poller(const char *s)
{
    for (size_t i = 0; i < NPOLLERS; i++)
        if (strcmp(s, pollers[i]) == 0)
            return pollers[i];
    return NULL;
}

static void pollers_expected(char *buf, size_t cap)
{
    size_t len = 0;

    buf[0] = '\0';
    for (size_t i = 0; i < NPOLLERS && len < cap; i++) {
        const char *sep = i > 0 ? (i + 1 == NPOLLERS ? " or " : ", ")
                          : NPOLLERS > 1 ? "expected one of " : "expected ";
        int w = snprintf(buf + len, cap - len, "%s\"%s\"", sep, pollers[i]);
        if (w < 0)
            break;
        len += (size_t)w;
    }
}

int weft__parse_size(const char *s, size_t min, size_t max, size_t *out)
{
    size_t v = 0, mult = 1;
    const char *p = s;

    if (s == NULL || *p < '0' || *p > '9')
        return -EINVAL;
    for (; *p >= '0' && *p <= '9'; p++) {
        size_t digit = (size_t)(*p - '0');
        if (v > (SIZE_MAX - digit) / 10)
            return -EINVAL;
        v = v * 10 + digit;
    }
    switch (*p) {
    case '\0':
        break;
    case 'K': case 'k':
        mult = (size_t)1 << 10;
        p++;
        break;
    case 'M': case 'm':
        mult = (size_t)1 << 20;
        p++;
        break;
    case 'G': case 'g':
        mult = (size_t)1 << 30;
        p++;
        break;
    default:
        return -EINVAL;
    }
    if (*p != '\0' || v > SIZE_MAX / mult)
        return -EINVAL;
    v *= mult;
    if (v < min || v > max)
        return -EINVAL;
    *out = v;
    return 0;
}

/* ---- resolution -------------------------------------------------------------- */

/* An empty variable counts as unset, so `WEFT_PIN= prog` restores the default
 * the way shells and env files commonly "unset" things. */
static const char *env(const char *name)
{
    const char *v = getenv(name);
    return v != NULL && v[0] != '\0' ? v : NULL;
}

static size_t page_round(size_t n)
{
    long pg = sysconf(_SC_PAGESIZE);
    size_t page = pg > 0 ? (size_t)pg : 4096;

    /* n <= WEFT__STACK_MAX (1 GiB, itself page-aligned), so no overflow. */
    return (n + page - 1) / page * page;
}

#define STR_(x) #x
#define STR(x) STR_(x)
#define WORKERS_EXPECTED "expected an integer from 1 to " STR(WEFT__WORKERS_MAX)
#define BLOCKING_EXPECTED "expected an integer from 1 to " STR(WEFT__BLOCKING_MAX)
#define KEEPALIVE_EXPECTED "expected milliseconds from 1 to " STR(WEFT__MS_MAX)
#define SHUTDOWN_EXPECTED "expected milliseconds from 0 to " STR(WEFT__MS_MAX)
#define PROCESSES_EXPECTED "expected an integer from 0 to " STR(WEFT__PROCESSES_MAX)
#define TRACE_BUFFER_EXPECTED "expected a size from 1M to 1G (bytes, or a " \
                              "number with a K, M or G suffix)"
#define STACK_EXPECTED "expected a size from 16K to 1G (bytes, or a number " \
                       "with a K, M or G suffix)"

/* Called by weft_run on the thread that calls it, before any worker exists;
 * not thread-safe against a concurrent setenv (getenv never is). */
int weft__config_resolve(const weft_config_t *user, weft__cfg_t *out)
{
    weft__cfg_t c = {
        .workers = 0,
        .stack_size = WEFT__STACK_DEFAULT,
        .pin = 0,
        .poller = pollers[0],
        .blocking_threads = WEFT__BLOCKING_DEFAULT,
        .blocking_keepalive_ms = WEFT__KEEPALIVE_DEFAULT_MS,
        .blocking_shutdown_ms = WEFT__SHUTDOWN_DEFAULT_MS,
        .stats = 0,
        .watchdog_ms = WEFT__WATCHDOG_DEFAULT_MS,
        .trace_buffer = WEFT__TRACE_BUFFER_DEFAULT,
    };
    char expected[128];
    char num[32];
    const char *s;
    long l;

    _Static_assert(WEFT__STACK_MIN == 16u * 1024u && WEFT__STACK_MAX == 1u << 30,
                   "STACK_EXPECTED spells the stack limits out");

    /* Environment: the defaults an operator sets without rebuilding. */
    if ((s = env("WEFT_WORKERS")) != NULL) {
        if (parse_int(s, 1, WEFT__WORKERS_MAX, &l) < 0)
            return reject("WEFT_WORKERS", s, 1, WORKERS_EXPECTED);
        c.workers = (int)l;
    }
    if ((s = env("WEFT_STACK_SIZE")) != NULL) {
        if (weft__parse_size(s, WEFT__STACK_MIN, WEFT__STACK_MAX, &c.stack_size) < 0)
            return reject("WEFT_STACK_SIZE", s, 1, STACK_EXPECTED);
    }
    if ((s = env("WEFT_PIN")) != NULL) {
        if (parse_bool(s, &c.pin) < 0)
            return reject("WEFT_PIN", s, 1, BOOL_EXPECTED);
    }
    if ((s = env("WEFT_POLLER")) != NULL) {
        if ((c.poller = find_poller(s)) == NULL) {
            pollers_expected(expected, sizeof expected);
            return reject("WEFT_POLLER", s, 1, expected);
        }
    }
    if ((s = env("WEFT_BLOCKING_THREADS")) != NULL) {
        if (parse_int(s, 1, WEFT__BLOCKING_MAX, &l) < 0)
            return reject("WEFT_BLOCKING_THREADS", s, 1, BLOCKING_EXPECTED);
        c.blocking_threads = (int)l;
    }
    if ((s = env("WEFT_BLOCKING_KEEPALIVE_MS")) != NULL) {
        if (parse_int(s, 1, WEFT__MS_MAX, &l) < 0)
            return reject("WEFT_BLOCKING_KEEPALIVE_MS", s, 1, KEEPALIVE_EXPECTED);
        c.blocking_keepalive_ms = (int)l;
    }
    if ((s = env("WEFT_BLOCKING_SHUTDOWN_MS")) != NULL) {
        if (parse_int(s, 0, WEFT__MS_MAX, &l) < 0)
            return reject("WEFT_BLOCKING_SHUTDOWN_MS", s, 1, SHUTDOWN_EXPECTED);
        c.blocking_shutdown_ms = (int)l;
    }
    if ((s = env("WEFT_PROCESSES")) != NULL) {
        if (parse_int(s, 0, WEFT__PROCESSES_MAX, &l) < 0)
            return reject("WEFT_PROCESSES", s, 1, PROCESSES_EXPECTED);
        c.processes = (int)l;
    }
    if ((s = env("WEFT_DEBUG_SHUFFLE")) != NULL) {
        if (parse_int(s, 0, LONG_MAX, &l) < 0)
            return reject("WEFT_DEBUG_SHUFFLE", s, 1, "expected a seed, a decimal integer >= 0 (0: off)");
        c.shuffle = l;
    }
    if ((s = env("WEFT_STATS")) != NULL) {
        if (parse_bool(s, &c.stats) < 0)
            return reject("WEFT_STATS", s, 1, BOOL_EXPECTED);
    }
    if ((s = env("WEFT_WATCHDOG_MS")) != NULL) {
        if (parse_int(s, 0, WEFT__MS_MAX, &l) < 0)
            return reject("WEFT_WATCHDOG_MS", s, 1,
                          "expected milliseconds from 0 (off) to " STR(WEFT__MS_MAX));
        c.watchdog_ms = (int)l;
    }
    /* Any path: whether it can be written shows when weft_run opens it. */
    c.trace = env("WEFT_TRACE");
    if ((s = env("WEFT_TRACE_BUFFER")) != NULL) {
        if (weft__parse_size(s, WEFT__TRACE_BUFFER_MIN, WEFT__TRACE_BUFFER_MAX,
                             &c.trace_buffer) < 0)
            return reject("WEFT_TRACE_BUFFER", s, 1, TRACE_BUFFER_EXPECTED);
    }

    /* Fields the program set: they win, since the program knows best what it
     * needs (a test that wants exactly 2 workers, say). */
    if (user != NULL) {
        if (user->workers != 0) {
            if (user->workers < 0 || user->workers > WEFT__WORKERS_MAX) {
                snprintf(num, sizeof num, "%d", user->workers);
                return reject("weft_config_t.workers", num, 0, WORKERS_EXPECTED);
            }
            c.workers = user->workers;
        }
        if (user->stack_size != 0) {
            if (user->stack_size < WEFT__STACK_MIN ||
                user->stack_size > WEFT__STACK_MAX) {
                snprintf(num, sizeof num, "%zu", user->stack_size);
                return reject("weft_config_t.stack_size", num, 0,
                              "expected 0 (the default) or a size from 16K to 1G");
            }
            c.stack_size = user->stack_size;
        }
        if (user->pin != 0) {
            if (user->pin != 1 && user->pin != -1) {
                snprintf(num, sizeof num, "%d", user->pin);
                return reject("weft_config_t.pin", num, 0,
                              "expected 0 (the default), 1 (pin) or -1 (never pin)");
            }
            c.pin = user->pin == 1;
        }
        if (user->poller != NULL) {
            if ((c.poller = find_poller(user->poller)) == NULL) {
                pollers_expected(expected, sizeof expected);
                return reject("weft_config_t.poller", user->poller, 1, expected);
            }
        }
        if (user->blocking_threads != 0) {
            if (user->blocking_threads < 0 ||
                user->blocking_threads > WEFT__BLOCKING_MAX) {
                snprintf(num, sizeof num, "%d", user->blocking_threads);
                return reject("weft_config_t.blocking_threads", num, 0,
                              BLOCKING_EXPECTED);
            }
            c.blocking_threads = user->blocking_threads;
        }
        if (user->processes != 0) {
            if (user->processes < 0 || user->processes > WEFT__PROCESSES_MAX) {
                snprintf(num, sizeof num, "%d", user->processes);
                return reject("weft_config_t.processes", num, 0, PROCESSES_EXPECTED);
            }
            c.processes = user->processes;
        }
    }

    c.stack_size = page_round(c.stack_size);
    *out = c;
    return 0;
}

void weft__config_complain(const char *name, const char *value, const char *what)
{
    char line[512];
    size_t len = 0;
    int w = snprintf(line, sizeof line, "weft: %s=", name);

    len = w < 0 ? 0 : (size_t)w < sizeof line ? (size_t)w : sizeof line - 1;
    append_quoted(line, sizeof line, &len, value);
    snprintf(line + len, sizeof line - len, " %s\n", what);
    fputs(line, stderr);
}
