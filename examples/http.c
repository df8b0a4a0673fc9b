/* HTTP/1.1 keep-alive server mirroring the aiohttp app of docs/ORIGINS:
 *
 *   GET /              200 "Hello, World!" (text/plain)
 *   GET /api           200 {"name":"张三","age":25} (application/json)
 *   GET /static/NAME   200 the file NAME under the --static directory
 *   anything else      404; other methods 405; malformed requests 400;
 *                      headers over 8 KiB 431. Idle connections are closed
 *                      after --idle-timeout seconds.
 *
 * One task per connection, blocking-looking reads and writes; requests are
 * parsed with Node's http_parser (Debian libhttp-parser-dev). Static files
 * go out with weft_sendfile: from the page cache to the socket, no copy.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <http_parser.h>
#include <weft.h>

#define HEADER_MAX (8 * 1024)
#define URL_MAX    2048

static const char *host = "127.0.0.1";
static int port = 8080;
static const char *static_dir = NULL;
static char static_real[PATH_MAX];
static uint64_t idle_ns = 30ull * 1000000000u;
static int listener = -1;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: http [--host ADDR] [--port N] [--static DIR] [--idle-timeout SEC]\n"
            "HTTP/1.1 keep-alive server: GET / (Hello, World!), GET /api (JSON),\n"
            "GET /static/NAME (a file under DIR); 404 otherwise.\n"
            "  --host ADDR         address to listen on (default 127.0.0.1; \"*\": all)\n"
            "  --port N            port (default 8080; 0: any free port)\n"
            "  --static DIR        directory served under /static/ (default: none)\n"
            "  --idle-timeout SEC  close connections idle that long (default 30)\n"
            "Prints \"listening on ADDR:PORT\"; stops on SIGINT or SIGTERM.\n");
}

/* ---- one request ---------------------------------------------------------- */

typedef struct conn {
    int    fd;
    size_t header_bytes;
    int    too_big;
    int    done;         /* on_message_complete seen */
    char   url[URL_MAX];
    size_t url_len;
} conn_t;

static int on_message_begin(http_parser *p)
{
    conn_t *c = p->data;
    c->header_bytes = 0;
    c->url_len = 0;
    c->done = 0;
    return 0;
}

static int count(conn_t *c, size_t n)
{
    c->header_bytes += n;
    if (c->header_bytes > HEADER_MAX) {
        c->too_big = 1;
        return 1;  /* stop parsing: 431 */
    }
    return 0;
}

static int on_url(http_parser *p, const char *at, size_t n)
{
    conn_t *c = p->data;
    if (count(c, n))
        return 1;
    if (c->url_len + n >= URL_MAX) {
        c->too_big = 1;
        return 1;
    }
    memcpy(c->url + c->url_len, at, n);
    c->url_len += n;
    c->url[c->url_len] = 0;
    return 0;
}

static int on_header(http_parser *p, const char *at, size_t n)
{
    (void)at;
    return count(p->data, n + 4);  /* ": " and CRLF count too */
}

static int on_message_complete(http_parser *p)
{
    conn_t *c = p->data;
    c->done = 1;
    http_parser_pause(p, 1);  /* one request at a time (pipelining) */
    return 0;
}

static const http_parser_settings settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header,
    .on_header_value = on_header,
    .on_message_complete = on_message_complete,
};

/* ---- responses ------------------------------------------------------------ */

static const char *reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 431: return "Request Header Fields Too Large";
    default: return "Internal Server Error";
    }
}

static int respond(int fd, int status, const char *type, const void *body,
                   size_t len, int keep, int head)
{
    char h[512];
    int n = snprintf(h, sizeof h,
                     "HTTP/1.1 %d %s\r\n"
                     "Server: weft\r\n"
                     "Content-Type: %s\r\n"
                     "Content-Length: %zu\r\n"
                     "%s"
                     "Connection: %s\r\n\r\n",
                     status, reason(status), type, len,
                     status == 405 ? "Allow: GET, HEAD\r\n" : "",
                     keep ? "keep-alive" : "close");
    struct iovec iov[2] = { { h, (size_t)n }, { (void *)body, head ? 0 : len } };
    size_t total = (size_t)n + iov[1].iov_len;
    size_t sent = 0;
    while (sent < total) {
        ssize_t r = weft_writev(fd, iov, 2);
        if (r < 0)
            return (int)r;
        sent += (size_t)r;
        /* Advance the iovecs past what went out. */
        for (int i = 0; i < 2; i++) {
            size_t k = (size_t)r < iov[i].iov_len ? (size_t)r : iov[i].iov_len;
            iov[i].iov_base = (char *)iov[i].iov_base + k;
            iov[i].iov_len -= k;
            r -= (ssize_t)k;
        }
    }
    return 0;
}

static int error_page(int fd, int status, int keep, int head)
{
    char body[64];
    int n = snprintf(body, sizeof body, "%d %s\n", status, reason(status));
    return respond(fd, status, "text/plain; charset=utf-8", body, (size_t)n, keep, head);
}

static const char *content_type(const char *name)
{
    const char *dot = strrchr(name, '.');
    if (!dot)
        return "application/octet-stream";
    static const char *const map[][2] = {
        { ".html", "text/html; charset=utf-8" }, { ".txt", "text/plain; charset=utf-8" },
        { ".css", "text/css" }, { ".js", "text/javascript" },
        { ".json", "application/json" }, { ".png", "image/png" },
        { ".jpg", "image/jpeg" }, { ".svg", "image/svg+xml" },
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (!strcmp(dot, map[i][0]))
            return map[i][1];
    return "application/octet-stream";
}

static int hexval(int c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
         : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Percent-decode src into dst (cap bytes); -1 on a bad escape or a NUL. */
static int url_decode(const char *src, size_t n, char *dst, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int ch = (unsigned char)src[i];
        if (ch == '%') {
            if (i + 2 >= n)
                return -1;
            int hi = hexval(src[i + 1]), lo = hexval(src[i + 2]);
            if (hi < 0 || lo < 0)
                return -1;
            ch = hi * 16 + lo;
            i += 2;
        }
        if (ch == 0 || o + 1 >= cap)
            return -1;
        dst[o++] = (char)ch;
    }
    dst[o] = 0;
    return 0;
}

/* The file NAME (decoded) under the static directory, or 404. Names with a
 * ".." segment or a leading '/' are refused outright, and the resolved path
 * (symlinks followed) must still lie under the directory. */
static int serve_static(conn_t *c, const char *name, size_t n, int keep, int head)
{
    char dec[URL_MAX], path[PATH_MAX * 2], real[PATH_MAX];
    if (!static_dir || n == 0 || url_decode(name, n, dec, sizeof dec) < 0 || dec[0] == '/')
        return error_page(c->fd, 404, keep, head);
    for (const char *s = dec; *s;) {
        const char *e = strchr(s, '/');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        if (len == 2 && s[0] == '.' && s[1] == '.')
            return error_page(c->fd, 404, keep, head);
        s += len + (e != NULL);
    }
    snprintf(path, sizeof path, "%s/%s", static_real, dec);
    size_t rl = strlen(static_real);
    if (!realpath(path, real) || strncmp(real, static_real, rl) != 0 || real[rl] != '/')
        return error_page(c->fd, 404, keep, head);
    int fd = open(real, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        if (fd >= 0)
            close(fd);
        return error_page(c->fd, 404, keep, head);
    }
    /* Headers, then the body straight from the page cache to the socket
     * (weft_sendfile parks while the socket is full). */
    size_t size = (size_t)st.st_size;
    int rc = respond(c->fd, 200, content_type(real), NULL, size, keep, 1);
    if (rc == 0 && !head) {
        off_t off = 0;
        ssize_t r = weft_sendfile(c->fd, fd, &off, size);
        if (r < 0)
            rc = (int)r;
        else if ((size_t)r != size)
            rc = -EIO;  /* the file shrank: the length we sent is wrong */
    }
    close(fd);
    return rc;
}

static int route(conn_t *c, http_parser *p, int keep)
{
    int head = p->method == HTTP_HEAD;
    if (p->method != HTTP_GET && !head)
        return error_page(c->fd, 405, keep, 0);
    size_t n = strcspn(c->url, "?#");
    if (n == 1 && c->url[0] == '/')
        return respond(c->fd, 200, "text/plain; charset=utf-8", "Hello, World!", 13, keep, head);
    if (n == 4 && !memcmp(c->url, "/api", 4)) {
        static const char json[] = "{\"name\":\"张三\",\"age\":25}";
        return respond(c->fd, 200, "application/json; charset=utf-8", json,
                       sizeof json - 1, keep, head);
    }
    if (n > 8 && !memcmp(c->url, "/static/", 8))
        return serve_static(c, c->url + 8, n - 8, keep, head);
    return error_page(c->fd, 404, keep, head);
}

/* An unknown method, as opposed to garbage: "TOKEN SP TARGET SP HTTP/1.x". */
static int looks_like_request_line(const char *b, size_t n)
{
    size_t i = 0;
    while (i < n && b[i] >= 'A' && b[i] <= 'Z')
        i++;
    if (i == 0 || i >= n || b[i] != ' ')
        return 0;
    const char *sp = memchr(b + i + 1, ' ', n - i - 1);
    return sp && (size_t)(b + n - sp) >= 9 && !memcmp(sp + 1, "HTTP/1.", 7);
}

/* ---- one connection --------------------------------------------------------- */

static void *serve(void *arg)
{
    conn_t *c = calloc(1, sizeof *c);
    char *buf = malloc(HEADER_MAX + 1024);
    if (!c || !buf)
        goto out;
    c->fd = (int)(intptr_t)arg;
    http_parser p;
    http_parser_init(&p, HTTP_REQUEST);
    p.data = c;
    size_t len = 0, off = 0;
    for (;;) {
        if (off == len) {
            /* Nothing left to parse: wait for more, at most idle_ns. */
            weft_deadline_push(idle_ns);
            ssize_t r = weft_read(c->fd, buf, HEADER_MAX + 1024);
            weft_deadline_pop();
            if (r <= 0)
                break;  /* closed, reset, idle timeout or shutdown */
            len = (size_t)r;
            off = 0;
        }
        size_t used = http_parser_execute(&p, &settings, buf + off, len - off);
        enum http_errno e = HTTP_PARSER_ERRNO(&p);
        if (e == HPE_PAUSED) {
            off += used;
            int keep = http_should_keep_alive(&p);
            if (route(c, &p, keep) < 0 || !keep)
                break;
            http_parser_pause(&p, 0);
            continue;
        }
        if (e != HPE_OK) {
            int status = c->too_big ? 431
                       : e == HPE_INVALID_METHOD && looks_like_request_line(buf, len) ? 405
                       : 400;
            error_page(c->fd, status, 0, 0);
            break;
        }
        off = len;
    }
out:
    if (c)
        weft_close(c->fd);
    else
        weft_close((int)(intptr_t)arg);
    free(c);
    free(buf);
    return NULL;
}

static void *accept_loop(void *arg)
{
    (void)arg;
    for (;;) {
        int fd = weft_accept(listener, NULL, NULL);
        if (fd == -ECANCELED)
            return NULL;
        if (fd == -EMFILE || fd == -ENFILE) {
            weft_sleep(10 * 1000000ull);
            continue;
        }
        if (fd < 0)
            continue;
        if (weft_go(serve, (void *)(intptr_t)fd) < 0)
            weft_close(fd);
    }
}

static void *main_task(void *arg)
{
    sigset_t *stop = arg;
    listener = weft_tcp_listen(host, (uint16_t)port, 0);
    if (listener < 0) {
        fprintf(stderr, "http: listen on %s:%d: %s\n", host, port, weft_strerror(listener));
        return (void *)1;
    }
    printf("listening on %s:%d\n", host, weft_local_port(listener));
    fflush(stdout);
    weft_task_t *acc = weft_spawn(accept_loop, NULL);
    int sig = weft_signal_wait(stop);
    fprintf(stderr, "http: %s, shutting down\n", sig > 0 ? strsignal(sig) : weft_strerror(sig));
    weft_cancel(acc);
    weft_join(acc, NULL);
    weft_close(listener);
    return NULL;
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        char *end;
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--host") && i + 1 < argc) {
            host = argv[++i];
        } else if (!strcmp(argv[i], "--port") && i + 1 < argc) {
            long v = strtol(argv[++i], &end, 10);
            if (*end || v < 0 || v > 65535) {
                fprintf(stderr, "http: bad port '%s'\n", argv[i]);
                return 2;
            }
            port = (int)v;
        } else if (!strcmp(argv[i], "--static") && i + 1 < argc) {
            static_dir = argv[++i];
            if (!realpath(static_dir, static_real)) {
                fprintf(stderr, "http: --static %s: %s\n", static_dir, strerror(errno));
                return 2;
            }
        } else if (!strcmp(argv[i], "--idle-timeout") && i + 1 < argc) {
            double v = strtod(argv[++i], &end);
            if (*end || !(v > 0) || v > 86400) {
                fprintf(stderr, "http: bad idle timeout '%s'\n", argv[i]);
                return 2;
            }
            idle_ns = (uint64_t)(v * 1e9);
        } else {
            usage(stderr);
            return 2;
        }
    }
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    void *res = NULL;
    int rc = weft_run(NULL, main_task, &stop, &res);
    if (rc < 0) {
        fprintf(stderr, "http: weft_run: %s\n", weft_strerror(rc));
        return 1;
    }
    return res ? 1 : 0;
}
