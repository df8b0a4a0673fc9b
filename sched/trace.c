/* The trace recorder (WEFT_TRACE): per-thread buffers of fixed-size records
 * filled by the hooks of trace.h, written as Chrome trace-event JSON (the
 * format Perfetto and chrome://tracing open) when weft_run returns.
 *
 * Cost. Off, a hook is one relaxed load of weft__trace_on and a branch
 * marked unlikely. On, a worker appends a 32-byte record to its own buffer:
 * no lock, no atomic, one clock_gettime(CLOCK_MONOTONIC) (the vDSO, the
 * clock of weft_now). Names are not looked up per event: a run span records
 * the task's id, the task's name is copied once, when it first runs (before
 * any span of it is recorded), and the writer joins the two at the end.
 *
 * Memory. Buffers grow in chunks taken from one budget (WEFT_TRACE_BUFFER,
 * 32 MiB by default, i.e. 1 Mi records) by an atomic add, once per chunk
 * (1024 records of a worker). A thread that gets no chunk drops what it
 * would record and counts it; the file reports the count. The earliest
 * events are kept: a trace shows how a run began, up to its budget.
 *
 * Threads. Worker i owns buffer i: written by worker i only, read by the
 * writer after the workers were joined. Blocking-pool threads, and any other
 * thread that trips a hook, are not workers and may outlive the weft_run
 * that traced them: each gets a buffer of its own (thread-local), registered
 * in tr.others under tr.lock the first time it records in a run, and
 * appended to under the buffer's own mutex, which only the writer takes too.
 * Such a thread records one span per blocking call, far from the
 * scheduler's hot path. Lock order: tr.lock -> a buffer's lock.
 */
#include "trace.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "alloc.h"
#include "sched.h"

weft__atomic(int) weft__trace_on;

enum { EV_RUN = 1, EV_NAME, EV_PARK, EV_STEAL, EV_TIMER, EV_IO, EV_POOL };

#define WORKER_CHUNK 1024 /* records per chunk of a worker's buffer */
#define OTHER_CHUNK  128  /* of another thread's: a few calls in a run */

/* One record. Two take a second one, in the same chunk: a task's name (the
 * name itself), and a blocking call (its caller's id). */
typedef union ev {
    struct {
        uint64_t ts;  /* monotonic ns: the start of a span */
        uint64_t dur; /* spans */
        uint64_t a;   /* task id; fn of a blocking call */
        uint32_t b;   /* steal: the victim; io: the fd */
        uint16_t c;   /* run: WEFT__POST_*; steal: the count */
        uint8_t kind; /* EV_* */
        uint8_t flag; /* io: the fd was closed (a -EBADF wake) */
    } e;
    char name[32];
} ev_t;
_Static_assert(sizeof(ev_t) == 32, "a record is 32 bytes (docs say so)");

typedef struct tbuf {
    ev_t **chunks;
    size_t nchunks, cap;
    unsigned used; /* records in the last chunk */
    unsigned chunk_len;
    int full; /* the budget ran out: drop from now on */
    uint64_t dropped, first_drop;
    uint64_t run_ts, park_ts; /* starts of the open spans (owner) */
    /* threads that are not workers (tr.others) */
    pthread_mutex_t lock;
    struct tbuf *next; /* tr.others, under tr.lock */
    unsigned gen;      /* the run it records for; 0: none */
    int tid;
    const char *kind; /* "blocking" (pool thread) or "thread" */
    int orphan;       /* its thread exited: the writer frees it */
} tbuf_t;

static struct {
    pthread_mutex_t lock; /* others, active, gen, nothers */
    pthread_once_t once;
    pthread_key_t key; /* a thread's own buffer, for its exit */
    int active;
    unsigned gen; /* of the traced run; never 0 */
    int fd;
    char *path;
    const char *poller;
    size_t bytes;
    uint64_t t0;
    int nworkers;
    tbuf_t *w; /* [nworkers] */
    tbuf_t *others;
    int nothers;   /* registered in this run */
    size_t budget; /* records */
    weft__atomic(size_t) budget_used;
} tr = { .lock = PTHREAD_MUTEX_INITIALIZER,
         .once = PTHREAD_ONCE_INIT,
         .fd = -1 };

/* tr.gen while a run is traced, 0 otherwise: what a thread that is not a
 * worker compares its buffer's gen with, without tr.lock. */
static weft__atomic(unsigned) gen_now;

/* Not a worker: this thread's buffer, and the start of its blocking call. */
static __thread tbuf_t *my_buf;
static __thread uint64_t pool_ts, pool_task;
static __thread unsigned pool_gen;

static uint64_t now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- recording --------------------------------------------------------- */

static void buf_init(tbuf_t *b, unsigned chunk_len)
{
    b->chunk_len = chunk_len;
    b->used = chunk_len; /* the first record takes a chunk */
    b->full = 0;
    b->dropped = b->first_drop = 0;
}

static void buf_free_chunks(tbuf_t *b)
{
    for (size_t i = 0; i < b->nchunks; i++)
        weft__free(b->chunks[i]);
    weft__free(b->chunks);
    b->chunks = NULL;
    b->nchunks = b->cap = 0;
}

/* The buffer's owner: a fresh chunk from the budget, or count a drop. */
static ev_t *reserve_slow(tbuf_t *b, unsigned n, uint64_t ts)
{
    if (!b->full) {
        size_t len = b->chunk_len;
        /* A pair that did not fit leaves one slot: mark it empty. */
        if (b->nchunks > 0 && b->used < b->chunk_len)
            b->chunks[b->nchunks - 1][b->used].e.kind = 0;
        /* relaxed: a counter, nothing is published through it. */
        if (weft__fetch_add_relaxed(&tr.budget_used, len) + len <= tr.budget) {
            if (b->nchunks == b->cap) {
                size_t cap = b->cap ? 2 * b->cap : 16;
                ev_t **c = weft__realloc(b->chunks, cap * sizeof *c);
                if (c) {
                    b->chunks = c;
                    b->cap = cap;
                }
            }
            ev_t *c =
                b->nchunks < b->cap ? weft__malloc(len * sizeof *c) : NULL;
            if (c) {
                b->chunks[b->nchunks++] = c;
                b->used = n;
                return c;
            }
        }
        b->full = 1;
    }
    if (b->dropped++ == 0)
        b->first_drop = ts;
    return NULL;
}

/* Room for n (1 or 2) consecutive records, or NULL (dropped). */
static inline ev_t *reserve(tbuf_t *b, unsigned n, uint64_t ts)
{
    if (__builtin_expect(b->used + n <= b->chunk_len, 1)) {
        ev_t *e = &b->chunks[b->nchunks - 1][b->used];
        b->used += n;
        return e;
    }
    return reserve_slow(b, n, ts);
}

static void put(tbuf_t *b, int kind, uint64_t ts, uint64_t dur, uint64_t a,
                uint32_t x, uint16_t c, uint8_t flag)
{
    ev_t *e = reserve(b, 1, ts);
    if (e)
        e->e = (__typeof__(e->e)){ .ts = ts,
                                   .dur = dur,
                                   .a = a,
                                   .b = x,
                                   .c = c,
                                   .kind = (uint8_t)kind,
                                   .flag = flag };
}

static void other_exit(void *p);

static void key_init(void)
{
    if (pthread_key_create(&tr.key, other_exit) != 0)
        tr.key = (pthread_key_t)-1;
}

/* A thread that is not a worker: its buffer for the traced run, locked;
 * NULL when no run is traced (or memory ran out). */
static tbuf_t *other_lock(const char *kind)
{
    tbuf_t *b = my_buf;
    if (b) {
        pthread_mutex_lock(&b->lock);
        if (b->gen != 0 && b->gen == weft__load_relaxed(&gen_now))
            return b;
        pthread_mutex_unlock(&b->lock);
    }
    pthread_mutex_lock(&tr.lock);
    if (!tr.active) {
        pthread_mutex_unlock(&tr.lock);
        return NULL;
    }
    if (!b) {
        b = weft__calloc(1, sizeof *b);
        if (!b) {
            pthread_mutex_unlock(&tr.lock);
            return NULL;
        }
        pthread_mutex_init(&b->lock, NULL);
        b->next = tr.others;
        tr.others = b;
        my_buf = b;
        if (tr.key != (pthread_key_t)-1)
            pthread_setspecific(tr.key, b);
    }
    pthread_mutex_lock(&b->lock);
    if (b->gen != tr.gen) {
        buf_init(b, OTHER_CHUNK);
        b->gen = tr.gen;
        b->tid = tr.nworkers + tr.nothers++;
        b->kind = kind;
    }
    pthread_mutex_unlock(&tr.lock);
    return b;
}

/* tr.lock held: take b off tr.others and free it. */
static void other_free_locked(tbuf_t *b)
{
    tbuf_t **pp = &tr.others;
    while (*pp != b)
        pp = &(*pp)->next;
    *pp = b->next;
    buf_free_chunks(b);
    pthread_mutex_destroy(&b->lock);
    weft__free(b);
}

/* The thread of buffer p exits: free it, unless it holds events of the run
 * being traced (the writer frees it then). */
static void other_exit(void *p)
{
    tbuf_t *b = p;
    pthread_mutex_lock(&tr.lock);
    if (tr.active && b->gen == tr.gen)
        b->orphan = 1;
    else
        other_free_locked(b);
    pthread_mutex_unlock(&tr.lock);
}

/* The buffer of the calling thread, for one instant record; *locked tells
 * whether the caller must unlock it. */
static tbuf_t *self_buf(int *locked)
{
    weft__worker_t *w = weft__worker_self();
    *locked = 0;
    if (w && w->id < tr.nworkers)
        return &tr.w[w->id];
    tbuf_t *b = other_lock("thread");
    *locked = b != NULL;
    return b;
}

void weft__trace_run_begin(weft__worker_t *w)
{
    tr.w[w->id].run_ts = now();
}

void weft__trace_run_end(weft__worker_t *w, weft_task_t *t)
{
    tbuf_t *b = &tr.w[w->id];
    put(b, EV_RUN, b->run_ts, now() - b->run_ts, t->id, 0, (uint16_t)w->post,
        0);
}

void weft__trace_task_start(weft_task_t *t)
{
    /* On t's stack: t cannot move before it switches out. */
    weft__worker_t *w = weft__worker_self();
    if (!w)
        return;
    tbuf_t *b = &tr.w[w->id];
    ev_t *e = reserve(b, 2, b->run_ts);
    if (!e)
        return;
    e[0].e = (__typeof__(e->e)){ .ts = b->run_ts, .a = t->id, .kind = EV_NAME };
    /* A given name is copied; an unnamed task's function is kept, and its
     * symbol looked up when the file is written (names_build). */
    if (weft__load_acquire(&t->named)) {
        size_t n = strnlen(t->name, sizeof e[1].name - 1);
        memcpy(e[1].name, t->name, n);
        e[1].name[n] = '\0';
    } else {
        e[0].e.dur = (uint64_t)(uintptr_t)t->fn;
        e[1].name[0] = '\0';
    }
}

void weft__trace_park_begin(weft__worker_t *w)
{
    tr.w[w->id].park_ts = now();
}

void weft__trace_park_end(weft__worker_t *w)
{
    tbuf_t *b = &tr.w[w->id];
    put(b, EV_PARK, b->park_ts, now() - b->park_ts, 0, 0, 0, 0);
}

void weft__trace_steal(weft__worker_t *w, int from, unsigned count)
{
    put(&tr.w[w->id], EV_STEAL, now(), 0, 0, (uint32_t)from,
        (uint16_t)(count > UINT16_MAX ? UINT16_MAX : count), 0);
}

void weft__trace_timer(weft_task_t *t)
{
    int locked;
    tbuf_t *b = self_buf(&locked);
    if (!b)
        return;
    put(b, EV_TIMER, now(), 0, t->id, 0, 0, 0);
    if (locked)
        pthread_mutex_unlock(&b->lock);
}

void weft__trace_io_wake(int fd, weft_task_t *t, int code)
{
    int locked;
    tbuf_t *b = self_buf(&locked);
    if (!b)
        return;
    put(b, EV_IO, now(), 0, t ? t->id : 0, (uint32_t)fd, 0, code != 0);
    if (locked)
        pthread_mutex_unlock(&b->lock);
}

void weft__trace_pool_begin(weft_task_t *caller)
{
    /* The caller cannot leave meanwhile (blocking.c holds the job's guard
     * with the job still queued), so its id is read here. */
    pool_gen = caller ? weft__load_relaxed(&gen_now) : 0;
    pool_task = caller ? caller->id : 0;
    pool_ts = now();
}

void weft__trace_pool_end(void *(*fn)(void *))
{
    unsigned g = pool_gen;
    pool_gen = 0;
    /* Begun in no traced run, or in an earlier one than now. */
    if (g == 0 || g != weft__load_relaxed(&gen_now))
        return;
    uint64_t t1 = now();
    tbuf_t *b = other_lock("blocking");
    if (!b)
        return;
    /* The run may have ended meanwhile (b->gen is the next one's). */
    ev_t *e = b->gen == g ? reserve(b, 2, pool_ts) : NULL;
    if (e) {
        e[0].e = (__typeof__(e->e)){ .ts = pool_ts,
                                     .dur = t1 - pool_ts,
                                     .a = (uint64_t)(uintptr_t)fn,
                                     .kind = EV_POOL };
        e[1].e = (__typeof__(e->e)){ .a = pool_task };
    }
    pthread_mutex_unlock(&b->lock);
}

/* ---- start ------------------------------------------------------------- */

int weft__trace_start(const weft__cfg_t *cfg, int workers)
{
    if (!cfg->trace)
        return 0;
    pthread_once(&tr.once, key_init);
    int fd = open(cfg->trace, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0) {
        int e = errno;
        char what[160];
        snprintf(what, sizeof what, "cannot be opened: %s", strerror(e));
        weft__config_complain("WEFT_TRACE", cfg->trace, what);
        return -e;
    }
    tbuf_t *w = weft__calloc((size_t)workers, sizeof *w);
    char *path = strdup(cfg->trace);
    if (!w || !path) {
        weft__free(w);
        free(path);
        close(fd);
        return -ENOMEM;
    }
    for (int i = 0; i < workers; i++)
        buf_init(&w[i], WORKER_CHUNK);
    pthread_mutex_lock(&tr.lock);
    tr.fd = fd;
    tr.path = path;
    tr.poller = cfg->poller;
    tr.bytes = cfg->trace_buffer;
    tr.budget = cfg->trace_buffer / sizeof(ev_t);
    weft__store_relaxed(&tr.budget_used, 0);
    tr.nworkers = workers;
    tr.w = w;
    tr.nothers = 0;
    if (++tr.gen == 0)
        tr.gen = 1;
    tr.active = 1;
    tr.t0 = now();
    weft__store_relaxed(&gen_now, tr.gen);
    pthread_mutex_unlock(&tr.lock);
    /* Relaxed: the worker threads, created after this, see it through
     * pthread_create; blocking-pool threads go through tr.lock. */
    weft__store_relaxed(&weft__trace_on, 1);
    return 0;
}

/* ---- writing ----------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at p (1..4), or 0. */
static int utf8_len(const unsigned char *p)
{
    unsigned c = p[0];
    int n;
    uint32_t cp;

    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    for (int i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (p[i] & 0x3f);
    }
    if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
        (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    return n;
}

/* s as a JSON string. Names are the program's bytes, maybe cut in the
 * middle of a character: what is not UTF-8 becomes U+FFFD, so that the file
 * stays JSON. */
static void put_str(FILE *f, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    putc('"', f);
    while (*p) {
        if (*p == '"' || *p == '\\') {
            putc('\\', f);
            putc(*p++, f);
        } else if (*p < 0x20 || *p == 0x7f) {
            fprintf(f, "\\u%04x", *p++);
        } else {
            int n = utf8_len(p);
            if (n == 0) {
                fputs("\\ufffd", f);
                p++;
            } else {
                fwrite(p, 1, (size_t)n, f);
                p += n;
            }
        }
    }
    putc('"', f);
}

/* Microseconds (the format's unit) with the nanoseconds kept. */
static void put_us(FILE *f, const char *key, uint64_t ns)
{
    fprintf(f, ",\"%s\":%" PRIu64 ".%03u", key, ns / 1000,
            (unsigned)(ns % 1000));
}

/* Task id -> name, from the name records of the workers' buffers. */
typedef struct name_ent {
    uint64_t id;
    const char *name;
} name_ent_t;

static struct {
    name_ent_t *v;
    size_t mask;
} names;

static size_t name_slot(uint64_t id)
{
    return (size_t)((id * 0x9e3779b97f4a7c15ull) >> 20) & names.mask;
}

/* Records of b, one at a time, with the second record of a pair. */
typedef struct cursor {
    tbuf_t *b;
    size_t chunk, i;
} cursor_t;

static const ev_t *next_ev(cursor_t *c, const ev_t **extra)
{
    tbuf_t *b = c->b;
    while (c->chunk < b->nchunks) {
        size_t n = c->chunk + 1 == b->nchunks ? b->used : b->chunk_len;
        if (c->i >= n) {
            c->chunk++;
            c->i = 0;
            continue;
        }
        const ev_t *e = &b->chunks[c->chunk][c->i++];
        *extra = NULL;
        if (e->e.kind == 0)
            continue;
        if (e->e.kind == EV_NAME || e->e.kind == EV_POOL) {
            WEFT__ASSERT(1, c->i < n); /* pairs share a chunk */
            *extra = &b->chunks[c->chunk][c->i++];
        }
        return e;
    }
    return NULL;
}

static void names_build(void)
{
    size_t count = 0, cap = 16;
    const ev_t *e, *x;
    for (int w = 0; w < tr.nworkers; w++)
        for (cursor_t c = { &tr.w[w], 0, 0 }; (e = next_ev(&c, &x));)
            count += e->e.kind == EV_NAME;
    while (cap < 2 * count)
        cap *= 2;
    names.v = weft__calloc(cap, sizeof *names.v);
    names.mask = cap - 1;
    if (!names.v)
        return; /* spans are named by id then */
    for (int w = 0; w < tr.nworkers; w++) {
        for (cursor_t c = { &tr.w[w], 0, 0 }; (e = next_ev(&c, &x));) {
            if (!x || e->e.kind != EV_NAME)
                continue;
            size_t k = name_slot(e->e.a);
            while (names.v[k].id != 0 && names.v[k].id != e->e.a)
                k = (k + 1) & names.mask;
            names.v[k].id = e->e.a;
            if (!x->name[0])  /* unnamed: by the function's symbol */
                weft__fn_name((void *(*)(void *))(uintptr_t)e->e.dur, e->e.a,
                              ((ev_t *)(uintptr_t)x)->name, sizeof x->name);
            names.v[k].name = x->name;
        }
    }
}

static const char *name_of(uint64_t id, char *buf, size_t cap)
{
    if (names.v) {
        for (size_t k = name_slot(id); names.v[k].id != 0;
             k = (k + 1) & names.mask)
            if (names.v[k].id == id)
                return names.v[k].name;
    }
    /* Its name was dropped (the buffer was full when it first ran). */
    snprintf(buf, cap, "task-%" PRIu64, id);
    return buf;
}

/* The symbol of a blocking call's function when the dynamic symbol table
 * has it (dladdr), else NULL. Looked up here, once per record written. */
static const char *fn_symbol(uint64_t fn)
{
    Dl_info info;
    if (fn && dladdr((void *)(uintptr_t)fn, &info) && info.dli_sname &&
        info.dli_saddr == (void *)(uintptr_t)fn)
        return info.dli_sname;
    return NULL;
}

static void head(FILE *f, const char *ph, const char *name, int pid, int tid,
                 uint64_t ts)
{
    fprintf(f, ",\n{\"ph\":\"%s\",\"pid\":%d,\"tid\":%d,\"name\":", ph, pid,
            tid);
    put_str(f, name);
    put_us(f, "ts", ts);
}

static void write_buf(FILE *f, tbuf_t *b, int pid, int tid)
{
    static const char *const ends[] = {
        [WEFT__POST_NONE] = "none",
        [WEFT__POST_YIELD] = "yield",
        [WEFT__POST_PARK] = "park",
        [WEFT__POST_EXIT] = "exit",
    };
    const ev_t *e, *x;
    char buf[32];
    uint64_t last_fn = 0;
    const char *last_sym = NULL;

    for (cursor_t c = { b, 0, 0 }; (e = next_ev(&c, &x));) {
        if (e->e.ts < tr.t0)
            continue; /* a blocking call begun before this run */
        uint64_t ts = e->e.ts - tr.t0;
        switch (e->e.kind) {
        case EV_RUN:
            head(f, "X", name_of(e->e.a, buf, sizeof buf), pid, tid, ts);
            put_us(f, "dur", e->e.dur);
            fprintf(f,
                    ",\"cat\":\"task\",\"args\":{\"task\":%" PRIu64
                    ",\"end\":\"%s\"}}",
                    e->e.a, e->e.c < 4 ? ends[e->e.c] : "?");
            break;
        case EV_PARK:
            head(f, "X", "park", pid, tid, ts);
            put_us(f, "dur", e->e.dur);
            fputs(",\"cat\":\"worker\"}", f);
            break;
        case EV_STEAL:
            head(f, "i", "steal", pid, tid, ts);
            fprintf(f,
                    ",\"s\":\"t\",\"cat\":\"worker\",\"args\":{\"from\":%u,"
                    "\"count\":%u}}",
                    e->e.b, (unsigned)e->e.c);
            break;
        case EV_TIMER:
            head(f, "i", "timer", pid, tid, ts);
            fprintf(f,
                    ",\"s\":\"t\",\"cat\":\"timer\",\"args\":{\"task\":%" PRIu64
                    "}}",
                    e->e.a);
            break;
        case EV_IO:
            head(f, "i", e->e.flag ? "io closed" : "io wake", pid, tid, ts);
            fprintf(f,
                    ",\"s\":\"t\",\"cat\":\"io\",\"args\":{\"fd\":%u,\"task\":"
                    "%" PRIu64 "}}",
                    e->e.b, e->e.a);
            break;
        case EV_POOL:
            if (e->e.a != last_fn) {
                last_fn = e->e.a;
                last_sym = fn_symbol(e->e.a);
            }
            head(f, "X", last_sym ? last_sym : "blocking call", pid, tid, ts);
            put_us(f, "dur", e->e.dur);
            fprintf(f,
                    ",\"cat\":\"blocking\",\"args\":{\"task\":%" PRIu64
                    ",\"fn\":\"0x%" PRIx64 "\"}}",
                    x ? x->e.a : 0, e->e.a);
            break;
        default:
            break;
        }
    }
    if (b->dropped) {
        head(f, "i", "trace buffer full", pid, tid,
             b->first_drop > tr.t0 ? b->first_drop - tr.t0 : 0);
        fprintf(f,
                ",\"s\":\"t\",\"cat\":\"trace\",\"args\":{\"dropped\":%" PRIu64
                "}}",
                b->dropped);
    }
}

static void thread_meta(FILE *f, int pid, int tid, const char *kind, int index)
{
    fprintf(f,
            ",\n{\"ph\":\"M\",\"pid\":%d,\"tid\":%d,\"name\":\"thread_name\","
            "\"args\":{\"name\":\"%s %d\"}}",
            pid, tid, kind, index);
    fprintf(
        f,
        ",\n{\"ph\":\"M\",\"pid\":%d,\"tid\":%d,\"name\":\"thread_sort_index\","
        "\"args\":{\"sort_index\":%d}}",
        pid, tid, tid);
}

/* tr.lock held, and the lock of every buffer in tr.others of this run. */
static int write_trace(FILE *f, uint64_t *dropped)
{
    int pid = (int)getpid();
    const char *prog = "weft";
#ifdef __GLIBC__
    prog = program_invocation_short_name;
#endif
    *dropped = 0;
    names_build();
    fprintf(f,
            "{\"displayTimeUnit\":\"ns\",\"traceEvents\":[\n"
            "{\"ph\":\"M\",\"pid\":%d,\"tid\":0,\"name\":\"process_name\","
            "\"args\":{\"name\":",
            pid);
    put_str(f, prog);
    fputs("}}", f);
    for (int i = 0; i < tr.nworkers; i++) {
        thread_meta(f, pid, i, "worker", i);
        write_buf(f, &tr.w[i], pid, i);
        *dropped += tr.w[i].dropped;
    }
    for (tbuf_t *b = tr.others; b; b = b->next) {
        if (b->gen != tr.gen)
            continue;
        thread_meta(f, pid, b->tid, b->kind, b->tid - tr.nworkers);
        write_buf(f, b, pid, b->tid);
        *dropped += b->dropped;
    }
    fprintf(f,
            "\n],\n\"otherData\":{\"weft_version\":\"%d.%d.%d\",\"workers\":%d,"
            "\"poller\":",
            WEFT_VERSION_MAJOR, WEFT_VERSION_MINOR, WEFT_VERSION_PATCH,
            tr.nworkers);
    put_str(f, tr.poller ? tr.poller : "");
    fprintf(f,
            ",\"clock\":\"CLOCK_MONOTONIC\",\"buffer_bytes\":%zu,\"record_"
            "bytes\":%zu,"
            "\"dropped_events\":%" PRIu64 "}}\n",
            tr.bytes, sizeof(ev_t), *dropped);
    weft__free(names.v);
    names.v = NULL;
    return ferror(f) ? -EIO : 0;
}

void weft__trace_stop(void)
{
    pthread_mutex_lock(&tr.lock);
    if (!tr.active) {
        pthread_mutex_unlock(&tr.lock);
        return;
    }
    /* From here no hook records: workers are gone, and the other threads
     * find gen_now 0 and tr.active 0 (or wait on a buffer lock below). */
    weft__store_relaxed(&weft__trace_on, 0);
    weft__store_relaxed(&gen_now, 0);
    tr.active = 0;
    for (tbuf_t *b = tr.others; b; b = b->next)
        pthread_mutex_lock(&b->lock);

    uint64_t dropped = 0;
    int rc = 0, err = 0;
    FILE *f = fdopen(tr.fd, "w");
    if (!f) {
        err = errno;
        close(tr.fd);
    } else {
        static char iobuf[1 << 16];
        setvbuf(f, iobuf, _IOFBF, sizeof iobuf);
        rc = write_trace(f, &dropped);
        if (rc < 0)
            err = errno ? errno : EIO;
        if (fclose(f) != 0 && !err)
            err = errno;
    }
    tr.fd = -1;
    if (err) {
        char what[160];
        snprintf(what, sizeof what, "could not be written: %s", strerror(err));
        weft__config_complain("WEFT_TRACE", tr.path, what);
    } else if (dropped) {
        fprintf(stderr,
                "weft: WEFT_TRACE: %" PRIu64 " events dropped: the trace "
                "buffer (WEFT_TRACE_BUFFER=%zu) was full\n",
                dropped, tr.bytes);
    }

    for (int i = 0; i < tr.nworkers; i++)
        buf_free_chunks(&tr.w[i]);
    weft__free(tr.w);
    tr.w = NULL;
    tr.nworkers = 0;
    free(tr.path);
    tr.path = NULL;
    tbuf_t *next;
    for (tbuf_t *b = tr.others; b; b = next) {
        next = b->next;
        buf_free_chunks(b);
        b->gen = 0;
        pthread_mutex_unlock(&b->lock);
        if (b->orphan)
            other_free_locked(b);
    }
    pthread_mutex_unlock(&tr.lock);
}
