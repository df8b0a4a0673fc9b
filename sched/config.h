/* Runtime settings: built-in defaults, WEFT_* environment variables, and the
 * weft_config_t fields a program sets (a set field wins). Read once per
 * weft_run, in one file (config.c). */
#ifndef WEFT_SCHED_CONFIG_H
#define WEFT_SCHED_CONFIG_H

#include <stddef.h>

#include "weft.h"

#define WEFT__STACK_DEFAULT   (256u * 1024u)
#define WEFT__STACK_MIN       (16u * 1024u)
#define WEFT__STACK_MAX       (1024u * 1024u * 1024u)
#define WEFT__WORKERS_MAX     1024
#define WEFT__BLOCKING_DEFAULT 512
#define WEFT__BLOCKING_MAX    65536
#define WEFT__KEEPALIVE_DEFAULT_MS 10000   /* Tokio's keep-alive */
#define WEFT__SHUTDOWN_DEFAULT_MS  5000
#define WEFT__MS_MAX          3600000      /* one hour */
#define WEFT__PROCESSES_MAX   1024
#define WEFT__WATCHDOG_DEFAULT_MS 100      /* asyncio debug mode's "slow" */
#define WEFT__TRACE_BUFFER_DEFAULT (32u << 20)  /* 1 Mi events of 32 bytes */
#define WEFT__TRACE_BUFFER_MIN     (1u << 20)
#define WEFT__TRACE_BUFFER_MAX     (1u << 30)

typedef struct weft__cfg {
    int         workers;          /* 0: decided by the topology (not yet known) */
    size_t      stack_size;       /* page-rounded */
    int         pin;              /* 1 pin, 0 not */
    const char *poller;           /* never NULL: a backend name */
    int         blocking_threads;
    int         blocking_keepalive_ms; /* an idle pool thread retires after */
    int         blocking_shutdown_ms;  /* weft_run waits this long for calls */
    int         processes;        /* process pool size; 0: no pool */
    long        shuffle;          /* WEFT_DEBUG_SHUFFLE seed; 0: off */
    int         stats;            /* WEFT_STATS */
    int         watchdog_ms;      /* WEFT_WATCHDOG_MS; 0: off */
    const char *trace;            /* WEFT_TRACE path (the environment's
                                     string: copied by weft_run); NULL: off */
    size_t      trace_buffer;     /* WEFT_TRACE_BUFFER: bytes of events */
} weft__cfg_t;

/* Resolve the settings from defaults, environment and *user (NULL allowed).
 * On a malformed environment value or field: -EINVAL, after printing one line
 * on stderr naming the variable (or field), its value and what is accepted. */
int weft__config_resolve(const weft_config_t *user, weft__cfg_t *out);

/* Parse a byte size with an optional K, M or G suffix (powers of 1024),
 * e.g. "256K". -EINVAL when malformed or outside [min, max]. */
int weft__parse_size(const char *s, size_t min, size_t max, size_t *out);

/* Print one line on stderr: `weft: <name>="<value>" <what>`, the value
 * quoted and escaped as in the messages of weft__config_resolve. For a
 * setting that parsed but failed when used (a file that cannot be opened). */
void weft__config_complain(const char *name, const char *value, const char *what);

#endif
