/* A bounded echo load client: C connections, each a weft task sending a
 * message and waiting for its echo, over and over for D seconds; prints the
 * round trips per second. Loopback use only (bench/io-compare).
 *
 *   weft-echo-load [--host H] [--port P] [-c CONNS] [-d SECONDS] [-s BYTES]
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <weft.h>

static const char *host = "127.0.0.1";
static int port = 7000, conns = 64, size = 64;
static double secs = 5;
static atomic_long total, failed;

static void *pinger(void *arg)
{
    (void)arg;
    int fd = weft_tcp_connect(host, (uint16_t)port);
    if (fd < 0) {
        atomic_fetch_add(&failed, 1);
        return NULL;
    }
    char out[65536], in[65536];
    memset(out, 'x', (size_t)size);
    uint64_t end = weft_now() + (uint64_t)(secs * 1e9);
    long n = 0;
    while (weft_now() < end) {
        if (weft_write_all(fd, out, (size_t)size) < 0)
            break;
        int got = 0;
        while (got < size) {
            ssize_t r = weft_read(fd, in + got, (size_t)(size - got));
            if (r <= 0)
                goto out;
            got += (int)r;
        }
        if (memcmp(in, out, (size_t)size) != 0)
            break;
        n++;
    }
out:
    atomic_fetch_add(&total, n);
    weft_close(fd);
    return NULL;
}

static void *main_task(void *arg)
{
    (void)arg;
    weft_task_t **ts = calloc((size_t)conns, sizeof *ts);
    uint64_t t0 = weft_now();
    for (int i = 0; i < conns; i++)
        ts[i] = weft_spawn(pinger, NULL);
    for (int i = 0; i < conns; i++)
        if (ts[i])
            weft_join(ts[i], NULL);
    double dt = (double)(weft_now() - t0) / 1e9;
    printf("%ld round trips in %.2f s: %.0f req/s (%d connections, %d bytes, %ld failed)\n",
           atomic_load(&total), dt, (double)atomic_load(&total) / dt, conns, size,
           atomic_load(&failed));
    free(ts);
    return NULL;
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            printf("usage: weft-echo-load [--host H] [--port P] [-c CONNS] [-d SECONDS] [-s BYTES]\n"
                   "Echo round trips per second over CONNS connections (default 64, 5 s, 64 B).\n");
            return 0;
        }
        if (!v)
            goto bad;
        if (!strcmp(a, "--host"))
            host = v;
        else if (!strcmp(a, "--port"))
            port = atoi(v);
        else if (!strcmp(a, "-c"))
            conns = atoi(v);
        else if (!strcmp(a, "-d"))
            secs = atof(v);
        else if (!strcmp(a, "-s"))
            size = atoi(v);
        else
            goto bad;
        i++;
    }
    if (port <= 0 || port > 65535 || conns <= 0 || conns > 100000 || !(secs > 0) ||
        secs > 600 || size <= 0 || size > 65536)
        goto bad;
    return weft_run(NULL, main_task, NULL, NULL) < 0 || atomic_load(&failed) ? 1 : 0;
bad:
    fprintf(stderr, "weft-echo-load: bad arguments (see --help)\n");
    return 2;
}
