/* Concurrent HTTP client, as in the aiohttp client of docs/ORIGINS: fetch
 * every URL given at once, one task each, and print each one's status, size
 * and time, then the total. http:// only (no TLS); responses are parsed with
 * http_parser (Content-Length, chunked or until close).
 *
 *   fetch [--timeout SEC] URL...
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <http_parser.h>
#include <weft.h>

typedef struct job {
    const char *url;
    int         status;
    size_t      bytes;
    uint64_t    ns;
    int         err;      /* 0 or a negative errno */
    int         done;     /* response complete */
} job_t;

static uint64_t timeout_ns = 30ull * 1000000000u;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: fetch [--timeout SEC] URL...\n"
            "Fetch every http:// URL concurrently (one weft task each) and print\n"
            "each one's status, body size and time, then the total.\n"
            "  --timeout SEC  give up on a URL after SEC seconds (default 30)\n"
            "Exit status 0 when every URL answered 2xx.\n");
}

static int on_body(http_parser *p, const char *at, size_t n)
{
    (void)at;
    ((job_t *)p->data)->bytes += n;
    return 0;
}

static int on_complete(http_parser *p)
{
    ((job_t *)p->data)->done = 1;
    return 0;
}

static const http_parser_settings settings = {
    .on_body = on_body,
    .on_message_complete = on_complete,
};

static int get(job_t *j)
{
    struct http_parser_url u;
    http_parser_url_init(&u);
    if (http_parser_parse_url(j->url, strlen(j->url), 0, &u) != 0 ||
        !(u.field_set & (1 << UF_HOST)) || !(u.field_set & (1 << UF_SCHEMA)) ||
        u.field_data[UF_SCHEMA].len != 4 || strncmp(j->url + u.field_data[UF_SCHEMA].off, "http", 4))
        return -EINVAL;
    char host[256];
    size_t hl = u.field_data[UF_HOST].len;
    if (hl >= sizeof host)
        return -EINVAL;
    memcpy(host, j->url + u.field_data[UF_HOST].off, hl);
    host[hl] = 0;
    uint16_t port = (u.field_set & (1 << UF_PORT)) ? u.port : 80;
    const char *path = "/";
    size_t pl = 1;
    if (u.field_set & (1 << UF_PATH)) {
        path = j->url + u.field_data[UF_PATH].off;
        pl = strlen(path);  /* path, query and fragment as given */
    }
    int fd = weft_tcp_connect(host, port);
    if (fd < 0)
        return fd;
    char req[4096];
    int n = snprintf(req, sizeof req,
                     "GET %.*s HTTP/1.1\r\nHost: %s:%u\r\nUser-Agent: weft-fetch\r\n"
                     "Connection: close\r\n\r\n", (int)pl, path, host, (unsigned)port);
    int rc = 0;
    if (n >= (int)sizeof req) {
        rc = -EINVAL;
    } else if ((rc = (int)weft_write_all(fd, req, (size_t)n)) >= 0) {
        rc = 0;
        http_parser p;
        http_parser_init(&p, HTTP_RESPONSE);
        p.data = j;
        char buf[16384];
        while (!j->done) {
            ssize_t r = weft_read(fd, buf, sizeof buf);
            if (r < 0) {
                rc = (int)r;
                break;
            }
            http_parser_execute(&p, &settings, buf, (size_t)r);  /* r == 0: EOF */
            if (HTTP_PARSER_ERRNO(&p) != HPE_OK) {
                rc = -EPROTO;
                break;
            }
            if (r == 0) {
                if (!j->done)
                    rc = -ECONNRESET;  /* closed before the response ended */
                break;
            }
        }
        j->status = p.status_code;
    }
    weft_close(fd);
    return rc;
}

static void *fetch_one(void *arg)
{
    job_t *j = arg;
    uint64_t t0 = weft_now();
    weft_deadline_push(timeout_ns);
    j->err = get(j);
    weft_deadline_pop();
    j->ns = weft_now() - t0;
    return NULL;
}

typedef struct {
    job_t *jobs;
    int    n;
} all_t;

static void *main_task(void *arg)
{
    all_t *a = arg;
    weft_task_t **ts = calloc((size_t)a->n, sizeof *ts);
    if (!ts)
        return (void *)1;
    uint64_t t0 = weft_now();
    for (int i = 0; i < a->n; i++)
        ts[i] = weft_spawn(fetch_one, &a->jobs[i]);
    int bad = 0;
    size_t total = 0;
    for (int i = 0; i < a->n; i++) {
        job_t *j = &a->jobs[i];
        if (!ts[i]) {
            j->err = -ENOMEM;
        } else {
            weft_join(ts[i], NULL);
        }
        if (j->err < 0) {
            printf("error %-28s %8.1f ms  %s\n", weft_strerror(j->err), (double)j->ns / 1e6, j->url);
            bad = 1;
        } else {
            printf("%3d %10zu bytes %8.1f ms  %s\n", j->status, j->bytes, (double)j->ns / 1e6, j->url);
            bad |= j->status < 200 || j->status > 299;
            total += j->bytes;
        }
    }
    printf("total: %d URLs, %zu bytes in %.1f ms\n", a->n, total,
           (double)(weft_now() - t0) / 1e6);
    free(ts);
    return (void *)(intptr_t)bad;
}

int main(int argc, char **argv)
{
    int first = 1;
    for (; first < argc && argv[first][0] == '-'; first++) {
        if (!strcmp(argv[first], "-h") || !strcmp(argv[first], "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(argv[first], "--timeout") && first + 1 < argc) {
            char *end;
            double v = strtod(argv[++first], &end);
            if (*end || !(v > 0)) {
                fprintf(stderr, "fetch: bad timeout '%s'\n", argv[first]);
                return 2;
            }
            timeout_ns = (uint64_t)(v * 1e9);
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (first >= argc) {
        usage(stderr);
        return 2;
    }
    all_t a = { calloc((size_t)(argc - first), sizeof(job_t)), argc - first };
    if (!a.jobs)
        return 1;
    for (int i = 0; i < a.n; i++)
        a.jobs[i].url = argv[first + i];
    void *res = NULL;
    int rc = weft_run(NULL, main_task, &a, &res);
    free(a.jobs);
    if (rc < 0) {
        fprintf(stderr, "fetch: weft_run: %s\n", weft_strerror(rc));
        return 1;
    }
    return res ? 1 : 0;
}
