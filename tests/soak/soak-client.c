/* The soak client: many connections to the echo or http example that open,
 * exchange random payloads whose every byte is checked, and close in the
 * ways real clients do (a clean close, a half-close, a reset with data in
 * flight, an idle wait, a request cut short). Run by tests/soak/soak.sh;
 * loopback only, bounded by --seconds.
 *
 *   weft-soak-client echo|http --port N [--seconds S] [--conns N] [--seed N]
 *   weft-soak-client make-static DIR     (the files the http mode asks for)
 *
 * Written with weft itself, so the library's client side (connect, resets,
 * cancellation of a reader) is soaked too. Exit status 0 only when every
 * connection went as expected; the first failure is printed with what was
 * expected and what came. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <weft.h>

#define MS(x) ((uint64_t)(x) * 1000000ull)

static const char *host = "127.0.0.1";
static int port;
static int conns = 64;
static double seconds = 10;
static uint64_t seed = 1;
static uint64_t end_at;

static atomic_long n_conns, n_exchanges, n_bytes, n_resets, n_idle, n_halfclose;
static atomic_long n_failures;
static atomic_int stop;

/* ---- random numbers and the payload streams ------------------------------ */

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* A number in [lo, hi]. */
static uint64_t between(uint64_t *s, uint64_t lo, uint64_t hi)
{
    return lo + splitmix(s) % (hi - lo + 1);
}

/* Sizes spread over five orders of magnitude: as many tiny writes as
 * large ones. */
static size_t log_size(uint64_t *s, size_t max)
{
    int bits = (int)between(s, 0, 63 - __builtin_clzll((unsigned long long)max));
    size_t lo = (size_t)1 << bits, hi = lo * 2 - 1;
    if (hi > max)
        hi = max;
    return (size_t)between(s, lo, hi);
}

/* A byte stream that the writer and the checker both generate from the same
 * seed: byte i of the stream is the same for both. */
typedef struct stream {
    uint64_t state;
    uint64_t word;
    int      left;  /* bytes of word not yet used */
} stream_t;

static void stream_init(stream_t *g, uint64_t s)
{
    g->state = s;
    g->left = 0;
}

static void stream_fill(stream_t *g, unsigned char *out, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (g->left == 0) {
            g->word = splitmix(&g->state);
            g->left = 8;
        }
        out[i] = (unsigned char)g->word;
        g->word >>= 8;
        g->left--;
    }
}

/* ---- failures -------------------------------------------------------------- */

static void fail(const char *what, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void fail(const char *what, const char *fmt, ...)
{
    if (atomic_fetch_add(&n_failures, 1) < 5) {
        va_list ap;
        va_start(ap, fmt);
        fprintf(stderr, "soak-client: FAIL (%s): ", what);
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
        va_end(ap);
    }
    atomic_store(&stop, 1);
}

static int running(void)
{
    return !atomic_load(&stop) && weft_now() < end_at;
}

static int connect_to_server(const char *what)
{
    for (int tries = 0;; tries++) {
        int fd = weft_tcp_connect(host, (uint16_t)port);
        if (fd >= 0) {
            atomic_fetch_add(&n_conns, 1);
            return fd;
        }
        /* Out of local ports for a moment (TIME_WAIT): try again shortly. */
        if (fd == -EADDRNOTAVAIL && tries < 50) {
            weft_sleep(MS(20));
            continue;
        }
        fail(what, "connect: %s", weft_strerror(fd));
        return -1;
    }
}

/* Close with a reset (SO_LINGER 0): what a crashing or impatient client
 * does; the server sees ECONNRESET on its next read or write. */
static void reset_close(int fd)
{
    struct linger lg = { 1, 0 };
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    weft_close(fd);
    atomic_fetch_add(&n_resets, 1);
}

/* Read exactly n bytes: n, or what the read returned (0 or -errno). */
static ssize_t read_full(int fd, void *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = weft_read(fd, (char *)buf + got, n - got);
        if (r <= 0)
            return r;
        got += (size_t)r;
    }
    return (ssize_t)n;
}

/* ---- echo ------------------------------------------------------------------ */

#define ECHO_MAX (256 * 1024)

/* Checks everything the server echoes against the stream, until EOF. */
typedef struct checker {
    int       fd;
    stream_t  g;
    size_t    got;
    int       err;       /* a failed read's -errno */
    int       mismatch;  /* a byte differed */
} checker_t;

static void *echo_checker(void *arg)
{
    checker_t *c = arg;
    unsigned char buf[16384], want[16384];
    for (;;) {
        ssize_t r = weft_read(c->fd, buf, sizeof buf);
        if (r == 0)
            return NULL;
        if (r < 0) {
            c->err = (int)r;
            return NULL;
        }
        stream_fill(&c->g, want, (size_t)r);
        if (memcmp(buf, want, (size_t)r) != 0) {
            c->mismatch = 1;
            return NULL;
        }
        c->got += (size_t)r;
    }
}

/* Write random-sized pieces of the stream while a checker task reads the
 * echo; then half-close and expect exactly what was written, then EOF. */
static void echo_stream(uint64_t *rng)
{
    int fd = connect_to_server("echo stream");
    if (fd < 0)
        return;
    uint64_t s = splitmix(rng);
    checker_t c = { .fd = fd };
    stream_init(&c.g, s);
    weft_task_t *t = weft_spawn(echo_checker, &c);
    if (!t) {
        fail("echo stream", "spawn failed");
        weft_close(fd);
        return;
    }
    stream_t g;
    stream_init(&g, s);
    unsigned char *out = malloc(ECHO_MAX);
    size_t sent = 0;
    int pieces = (int)between(rng, 1, 24);
    for (int i = 0; out && i < pieces && !atomic_load(&stop); i++) {
        size_t n = log_size(rng, ECHO_MAX);
        stream_fill(&g, out, n);
        ssize_t w = weft_write_all(fd, out, n);
        if (w != (ssize_t)n) {
            fail("echo stream", "write of %zu bytes: %s", n, weft_strerror((int)w));
            break;
        }
        sent += n;
    }
    if (!out)
        fail("echo stream", "out of memory");
    free(out);
    shutdown(fd, SHUT_WR);
    atomic_fetch_add(&n_halfclose, 1);
    /* Cancelled and awaited if the echo does not end in time (or our
     * deadline has passed): c is not used after this. */
    int j = weft_wait_for(t, MS(30000), NULL);
    if (j < 0)
        fail("echo stream", "the echo did not end: %s", weft_strerror(j));
    else if (c.mismatch)
        fail("echo stream", "echoed bytes differ from those sent near offset %zu", c.got);
    else if (c.err)
        fail("echo stream", "read after %zu of %zu bytes: %s", c.got, sent, weft_strerror(c.err));
    else if (c.got != sent)
        fail("echo stream", "EOF after %zu bytes, %zu were sent", c.got, sent);
    else {
        atomic_fetch_add(&n_exchanges, pieces);
        atomic_fetch_add(&n_bytes, (long)sent);
    }
    weft_close(fd);
}

/* Request-response rounds of small messages, then a plain close. With
 * idle_first, the connection first sits idle for a while. */
static void echo_pingpong(uint64_t *rng, int idle_first)
{
    int fd = connect_to_server("echo ping-pong");
    if (fd < 0)
        return;
    if (idle_first) {
        atomic_fetch_add(&n_idle, 1);
        weft_sleep(MS(between(rng, 50, 1000)));
    }
    stream_t g;
    stream_init(&g, splitmix(rng));
    unsigned char out[8192], in[8192];
    int rounds = idle_first ? 1 : (int)between(rng, 1, 50);
    for (int i = 0; i < rounds; i++) {
        size_t n = log_size(rng, sizeof out);
        stream_fill(&g, out, n);
        ssize_t w = weft_write_all(fd, out, n);
        if (w != (ssize_t)n) {
            fail("echo ping-pong", "write: %s", weft_strerror((int)w));
            break;
        }
        ssize_t r = read_full(fd, in, n);
        if (r != (ssize_t)n) {
            fail("echo ping-pong", "read %zu bytes: %s", n,
                 r == 0 ? "EOF" : weft_strerror((int)r));
            break;
        }
        if (memcmp(in, out, n) != 0) {
            fail("echo ping-pong", "echo of %zu bytes differs", n);
            break;
        }
        atomic_fetch_add(&n_exchanges, 1);
        atomic_fetch_add(&n_bytes, (long)n);
    }
    weft_close(fd);
}

/* Send up to 64 KiB (fits the socket buffers: no one blocks), check part of
 * the echo, then reset with the rest still in flight; or close without
 * reading anything (the kernel resets then too). */
static void echo_abort(uint64_t *rng, int read_some)
{
    int fd = connect_to_server("echo reset");
    if (fd < 0)
        return;
    stream_t g;
    stream_init(&g, splitmix(rng));
    size_t n = log_size(rng, 65536);
    unsigned char *out = malloc(n), *in = malloc(n);
    if (!out || !in) {
        fail("echo reset", "out of memory");
        goto out;
    }
    stream_fill(&g, out, n);
    ssize_t w = weft_write_all(fd, out, n);
    if (w != (ssize_t)n) {
        fail("echo reset", "write: %s", weft_strerror((int)w));
        goto out;
    }
    if (read_some) {
        size_t k = (size_t)between(rng, 1, n);
        ssize_t r = read_full(fd, in, k);
        if (r != (ssize_t)k || memcmp(in, out, k) != 0) {
            fail("echo reset", "first %zu bytes of the echo wrong (%zd)", k, r);
            goto out;
        }
        atomic_fetch_add(&n_bytes, (long)k);
        reset_close(fd);
    } else {
        weft_close(fd);  /* unread data: the kernel sends a reset */
        atomic_fetch_add(&n_resets, 1);
    }
    fd = -1;
    atomic_fetch_add(&n_exchanges, 1);
out:
    if (fd >= 0)
        weft_close(fd);
    free(out);
    free(in);
}

static void echo_conn(uint64_t *rng)
{
    int k = (int)between(rng, 0, 99);
    if (k < 50)
        echo_stream(rng);
    else if (k < 70)
        echo_pingpong(rng, 0);
    else if (k < 80)
        echo_pingpong(rng, 1);
    else if (k < 92)
        echo_abort(rng, 1);
    else
        echo_abort(rng, 0);
}

/* ---- http ------------------------------------------------------------------ */

/* The files of make-static: name fK, size, content from the stream of
 * seed K + 1. */
static const size_t static_sizes[] = { 0, 1, 777, 4096, 65537, 1048576 + 5 };
#define NSTATIC (sizeof static_sizes / sizeof static_sizes[0])

static uint64_t static_seed(size_t k)
{
    return 0x5741454bull * (k + 1);
}

static int make_static(const char *dir)
{
    for (size_t k = 0; k < NSTATIC; k++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/f%zu.bin", dir, k);
        FILE *f = fopen(path, "wb");
        if (!f) {
            perror(path);
            return 1;
        }
        stream_t g;
        stream_init(&g, static_seed(k));
        unsigned char buf[4096];
        for (size_t done = 0; done < static_sizes[k];) {
            size_t n = static_sizes[k] - done < sizeof buf ? static_sizes[k] - done : sizeof buf;
            stream_fill(&g, buf, n);
            if (fwrite(buf, 1, n, f) != n) {
                perror(path);
                fclose(f);
                return 1;
            }
            done += n;
        }
        if (fclose(f) != 0) {
            perror(path);
            return 1;
        }
    }
    return 0;
}

/* A buffered reader over one connection. */
typedef struct rd {
    int    fd;
    size_t len, off;
    char   buf[65536];
} rd_t;

/* Bytes until n are buffered (or fewer at EOF): 1, 0 at EOF, or -errno. */
static int rd_more(rd_t *r)
{
    if (r->off > 0) {
        memmove(r->buf, r->buf + r->off, r->len - r->off);
        r->len -= r->off;
        r->off = 0;
    }
    if (r->len == sizeof r->buf)
        return -ENOBUFS;
    ssize_t n = weft_read(r->fd, r->buf + r->len, sizeof r->buf - r->len);
    if (n <= 0)
        return (int)n;
    r->len += (size_t)n;
    return 1;
}

typedef struct want {
    int         status;
    int         head;        /* a HEAD request: no body */
    int         close;       /* we asked for Connection: close */
    const char *body;        /* expected body, or NULL: a static file */
    size_t      body_len;
    size_t      file;        /* static file index when body is NULL */
} want_t;

/* Read one response and check it against w. 0, or -1 after fail(). */
static int read_response(rd_t *r, const want_t *w, const char *what)
{
    char *end;
    for (;;) {
        end = r->len > r->off ? memmem(r->buf + r->off, r->len - r->off, "\r\n\r\n", 4) : NULL;
        if (end)
            break;
        int m = rd_more(r);
        if (m <= 0) {
            fail(what, "response headers: %s", m == 0 ? "EOF" : weft_strerror(m));
            return -1;
        }
    }
    char *h = r->buf + r->off;
    size_t hlen = (size_t)(end - h) + 4;
    int status = 0;
    if (sscanf(h, "HTTP/1.1 %d ", &status) != 1 || status != w->status) {
        fail(what, "status %d, want %d", status, w->status);
        return -1;
    }
    long long clen = -1;
    int closing = 0;
    for (char *line = h; line < end;) {
        char *eol = memmem(line, (size_t)(end + 2 - line), "\r\n", 2);
        if (!eol)
            break;
        if (!strncasecmp(line, "Content-Length:", 15))
            clen = strtoll(line + 15, NULL, 10);
        if (!strncasecmp(line, "Connection: close", 17))
            closing = 1;
        line = eol + 2;
    }
    size_t want_len = w->body ? w->body_len : static_sizes[w->file];
    if (clen != (long long)want_len) {
        fail(what, "Content-Length %lld, want %zu", clen, want_len);
        return -1;
    }
    if (closing != w->close) {
        fail(what, "Connection: close %s", closing ? "unasked" : "missing");
        return -1;
    }
    r->off += hlen;
    if (w->head)
        return 0;
    stream_t g;  /* a static file's bytes (unused for a fixed body) */
    stream_init(&g, w->body ? 0 : static_seed(w->file));
    size_t done = 0;
    unsigned char exp[4096];
    while (done < want_len) {
        if (r->off == r->len) {
            int m = rd_more(r);
            if (m <= 0) {
                fail(what, "body after %zu of %zu bytes: %s", done, want_len,
                     m == 0 ? "EOF" : weft_strerror(m));
                return -1;
            }
        }
        size_t n = r->len - r->off;
        if (n > want_len - done)
            n = want_len - done;
        if (n > sizeof exp)
            n = sizeof exp;
        if (w->body)
            memcpy(exp, w->body + done, n);
        else
            stream_fill(&g, exp, n);
        if (memcmp(r->buf + r->off, exp, n) != 0) {
            fail(what, "body differs near offset %zu of %zu", done, want_len);
            return -1;
        }
        r->off += n;
        done += n;
    }
    atomic_fetch_add(&n_bytes, (long)want_len);
    return 0;
}

static const char hello[] = "Hello, World!";
static const char api[] = "{\"name\":\"张三\",\"age\":25}";
static const char not_found[] = "404 Not Found\n";

/* Append a random request to req (at *len) and describe its answer. */
static void pick_request(uint64_t *rng, char *req, size_t *len, size_t cap, want_t *w,
                         int ask_close)
{
    int k = (int)between(rng, 0, 99);
    const char *method = "GET";
    char path[64];
    memset(w, 0, sizeof *w);
    w->status = 200;
    if (k < 30) {
        strcpy(path, "/");
        w->body = hello;
        w->body_len = sizeof hello - 1;
    } else if (k < 50) {
        strcpy(path, "/api?x=1");
        w->body = api;
        w->body_len = sizeof api - 1;
    } else if (k < 85) {
        w->file = (size_t)between(rng, 0, NSTATIC - 1);
        snprintf(path, sizeof path, "/static/f%zu.bin", w->file);
    } else if (k < 95) {
        strcpy(path, "/nope");
        w->status = 404;
        w->body = not_found;
        w->body_len = sizeof not_found - 1;
    } else {
        method = "HEAD";
        w->head = 1;
        if (k & 1) {
            strcpy(path, "/");
            w->body = hello;
            w->body_len = sizeof hello - 1;
        } else {
            w->file = NSTATIC - 1;
            snprintf(path, sizeof path, "/static/f%zu.bin", w->file);
        }
    }
    w->close = ask_close;
    *len += (size_t)snprintf(req + *len, cap - *len,
                             "%s %s HTTP/1.1\r\nHost: soak\r\nUser-Agent: weft-soak\r\n%s\r\n",
                             method, path, ask_close ? "Connection: close\r\n" : "");
}

/* Keep-alive: batches of 1-4 pipelined requests, each response checked in
 * order. The end: a plain close, "Connection: close" on the last request
 * (then the server's EOF is expected), or a half-close after the last
 * batch (responses still all come, then EOF). */
static void http_keepalive(uint64_t *rng)
{
    int fd = connect_to_server("http keep-alive");
    if (fd < 0)
        return;
    rd_t *r = malloc(sizeof *r);
    if (!r) {
        fail("http keep-alive", "out of memory");
        weft_close(fd);
        return;
    }
    r->fd = fd;
    r->len = r->off = 0;
    int ending = (int)between(rng, 0, 2);  /* 0 close, 1 Connection: close, 2 half-close */
    int batches = (int)between(rng, 1, 10);
    for (int b = 0; b < batches && !atomic_load(&stop); b++) {
        int last = b == batches - 1;
        int n = (int)between(rng, 1, 4);
        char req[1024];
        size_t len = 0;
        want_t w[4];
        for (int i = 0; i < n; i++)
            pick_request(rng, req, &len, sizeof req, &w[i], last && i == n - 1 && ending == 1);
        if (weft_write_all(fd, req, len) != (ssize_t)len) {
            fail("http keep-alive", "write of a request failed");
            goto out;
        }
        if (last && ending == 2) {
            shutdown(fd, SHUT_WR);
            atomic_fetch_add(&n_halfclose, 1);
        }
        for (int i = 0; i < n; i++) {
            if (read_response(r, &w[i], "http keep-alive") < 0)
                goto out;
            atomic_fetch_add(&n_exchanges, 1);
        }
    }
    if (ending != 0 && !atomic_load(&stop)) {
        /* The server closes now: nothing more may come. */
        int m = r->off < r->len ? 1 : rd_more(r);
        if (m != 0)
            fail("http keep-alive", "no EOF after the last response (%s)",
                 m > 0 ? "more bytes" : weft_strerror(m));
    }
out:
    weft_close(fd);
    free(r);
}

/* Ask for the 1 MiB file and reset after a part of it: the server's
 * sendfile fails with EPIPE/ECONNRESET and must let go of the file. */
static void http_reset_midway(uint64_t *rng)
{
    int fd = connect_to_server("http reset");
    if (fd < 0)
        return;
    char req[256];
    int len = snprintf(req, sizeof req, "GET /static/f%zu.bin HTTP/1.1\r\nHost: soak\r\n\r\n",
                       NSTATIC - 1);
    if (weft_write_all(fd, req, (size_t)len) != len) {
        fail("http reset", "write failed");
        weft_close(fd);
        return;
    }
    char buf[16384];
    size_t want = (size_t)between(rng, 1, 200000), got = 0;
    while (got < want) {
        ssize_t r = weft_read(fd, buf, sizeof buf < want - got ? sizeof buf : want - got);
        if (r <= 0) {
            fail("http reset", "read: %s", r == 0 ? "EOF" : weft_strerror((int)r));
            weft_close(fd);
            return;
        }
        got += (size_t)r;
    }
    atomic_fetch_add(&n_exchanges, 1);
    reset_close(fd);
}

/* A request cut short, then a close or a reset: the server must drop it. */
static void http_partial(uint64_t *rng)
{
    int fd = connect_to_server("http partial");
    if (fd < 0)
        return;
    static const char req[] = "GET /static/f1.bin HTTP/1.1\r\nHost: soak\r\n";
    size_t n = (size_t)between(rng, 1, sizeof req - 1);
    if (weft_write_all(fd, req, n) != (ssize_t)n)
        fail("http partial", "write failed");
    if (between(rng, 0, 1))
        reset_close(fd);
    else
        weft_close(fd);
}

/* Connect and say nothing: the server's idle timeout (1 s, set by
 * soak.sh) must close the connection. */
static void http_idle(void)
{
    int fd = connect_to_server("http idle");
    if (fd < 0)
        return;
    atomic_fetch_add(&n_idle, 1);
    char b;
    weft_deadline_push(MS(10000));
    ssize_t r = weft_read(fd, &b, 1);
    weft_deadline_pop();
    if (r != 0)
        fail("http idle", "idle connection: %s instead of EOF",
             r > 0 ? "data" : weft_strerror((int)r));
    weft_close(fd);
}

static void http_conn(uint64_t *rng)
{
    int k = (int)between(rng, 0, 99);
    if (k < 75)
        http_keepalive(rng);
    else if (k < 85)
        http_reset_midway(rng);
    else if (k < 95)
        http_partial(rng);
    else
        http_idle();
}

/* ---- driver ------------------------------------------------------------- */

static int mode_http;

static void *conn_loop(void *arg)
{
    uint64_t rng = seed * 0x100000001b3ull + (uint64_t)(uintptr_t)arg;
    while (running()) {
        /* A server that stops answering fails the run (-ETIMEDOUT in the
         * message) instead of hanging it. */
        weft_deadline_push(MS(30000));
        if (mode_http)
            http_conn(&rng);
        else
            echo_conn(&rng);
        weft_deadline_pop();
    }
    return NULL;
}

static void *main_task(void *arg)
{
    (void)arg;
    uint64_t t0 = weft_now();
    end_at = t0 + (uint64_t)(seconds * 1e9);
    weft_task_t **ts = calloc((size_t)conns, sizeof *ts);
    if (!ts)
        return (void *)1;
    for (int i = 0; i < conns; i++) {
        ts[i] = weft_spawn(conn_loop, (void *)(uintptr_t)i);
        if (!ts[i])
            fail("spawn", "task %d", i);
    }
    for (int i = 0; i < conns; i++)
        if (ts[i])
            weft_join(ts[i], NULL);
    free(ts);
    double dt = (double)(weft_now() - t0) / 1e9;
    printf("soak-client: %s: %.1f s, %ld connections, %ld %s, %ld bytes verified, "
           "%ld resets, %ld half-closes, %ld idle, %ld failures\n",
           mode_http ? "http" : "echo", dt, atomic_load(&n_conns), atomic_load(&n_exchanges),
           mode_http ? "responses" : "exchanges", atomic_load(&n_bytes),
           atomic_load(&n_resets), atomic_load(&n_halfclose), atomic_load(&n_idle),
           atomic_load(&n_failures));
    return NULL;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: weft-soak-client echo|http --port N [--host H] [--seconds S]"
               " [--conns N] [--seed N]\n"
               "       weft-soak-client make-static DIR\n");
}

int main(int argc, char **argv)
{
    if (argc >= 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
        usage(stdout);
        return 0;
    }
    if (argc == 3 && !strcmp(argv[1], "make-static"))
        return make_static(argv[2]);
    if (argc < 2 || (strcmp(argv[1], "echo") && strcmp(argv[1], "http"))) {
        usage(stderr);
        return 2;
    }
    mode_http = !strcmp(argv[1], "http");
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) {
            usage(stderr);
            return 2;
        }
        i++;
        if (!strcmp(a, "--port"))
            port = atoi(v);
        else if (!strcmp(a, "--host"))
            host = v;
        else if (!strcmp(a, "--seconds"))
            seconds = atof(v);
        else if (!strcmp(a, "--conns"))
            conns = atoi(v);
        else if (!strcmp(a, "--seed"))
            seed = strtoull(v, NULL, 10);
        else {
            usage(stderr);
            return 2;
        }
    }
    if (port <= 0 || port > 65535 || conns <= 0 || !(seconds > 0)) {
        usage(stderr);
        return 2;
    }
    void *res = NULL;
    int rc = weft_run(NULL, main_task, NULL, &res);
    if (rc < 0) {
        fprintf(stderr, "soak-client: weft_run: %s\n", weft_strerror(rc));
        return 1;
    }
    return res || atomic_load(&n_failures) ? 1 : 0;
}
